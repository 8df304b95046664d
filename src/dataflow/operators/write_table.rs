//! The `WriteTable` operator: each epoch's rows of one table go to one Parquet file, encoded as
//! they arrive and reported to the committer once the epoch is done.

use arrow::array::RecordBatch;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::epoch::{EpochBuckets, Time, Vecs};
use crate::sink::parquet::EpochFile;
use crate::sink::{EpochReport, Rows, SinkError, TableId};
use crate::storage::TableStore;

/// A table's file of one epoch: not started, being written, or failed.
enum EpochOutput {
    Empty,
    Writing(EpochFile),
    Failed(SinkError),
}

impl EpochOutput {
    fn write(&mut self, store: &TableStore, rows: &RecordBatch) {
        if let EpochOutput::Empty = self {
            *self = match EpochFile::create(store, rows.schema()) {
                Ok(file) => EpochOutput::Writing(file),
                Err(e) => EpochOutput::Failed(e),
            };
        }
        if let EpochOutput::Writing(file) = self {
            if let Err(e) = file.write(rows) {
                *self = EpochOutput::Failed(e);
            }
        }
    }

    /// The epoch's report: the file written, nothing (no rows), or the failure.
    fn finish(self, epoch: Time, table: TableId, stage: &str, worker: u32) -> Option<EpochReport> {
        let result = match self {
            EpochOutput::Empty => return None,
            EpochOutput::Failed(e) => Err(e),
            EpochOutput::Writing(file) => file.finish(),
        };
        match result {
            Ok(None) => None,
            Ok(Some(file)) => Some(EpochReport::Files {
                epoch,
                table,
                worker,
                rows: Rows::Appended(file.rows),
                adds: vec![file],
                removes: Vec::new(),
            }),
            Err(e) => Some(EpochReport::failed(epoch, stage, e)),
        }
    }
}

/// Writes a stream of rows of one table.
pub trait WriteTable<'s> {
    /// Writes each epoch's rows into `store` (the table's directory or object-store prefix) as
    /// one Parquet file and reports it for table `table`; a write that fails is reported as a
    /// failure of the epoch.
    fn write_table(self, table: TableId, store: TableStore) -> StreamVec<'s, Time, EpochReport>;
}

impl<'s> WriteTable<'s> for StreamVec<'s, Time, RecordBatch> {
    fn write_table(self, table: TableId, store: TableStore) -> StreamVec<'s, Time, EpochReport> {
        let stage = store.name().to_string();
        let worker = self.scope().index() as u32;
        let name = format!("Write {stage}");
        self.unary_frontier::<Vecs<EpochReport>, _, _, _>(Pipeline, &name, move |_cap, _info| {
            let mut pending: EpochBuckets<EpochOutput> = EpochBuckets::new();
            move |(input, frontier), output| {
                let port = output.output_index();
                input.for_each(|cap, data| {
                    let bucket = pending.bucket(&cap, port);
                    if bucket.is_empty() {
                        bucket.push(EpochOutput::Empty);
                    }
                    for rows in data.drain(..).filter(|r| r.num_rows() > 0) {
                        bucket[0].write(&store, &rows);
                    }
                });
                for (epoch, cap, outputs) in pending.take_done(frontier) {
                    for out in outputs {
                        if let Some(report) = out.finish(epoch, table, &stage, worker) {
                            output.session(&cap).give(report);
                        }
                    }
                }
            }
        })
    }
}
