//! The `WriteTable` operator: each epoch's rows of one table go to Parquet files, encoded as they
//! arrive and reported to the committer once the epoch is done. A worker whose part of an epoch
//! stays under [`GATHER_ROWS`] rows (a low rate) hands its rows to the epoch's gathering worker
//! instead of writing a file of its own, so that such an epoch makes one file per table rather
//! than one per worker (at 100 events/s creating files was ~12% of the CPU, and every file pays
//! its Parquet writer's setup and footer). Across processes the rows travel as Arrow IPC.

use arrow::array::RecordBatch;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use timely::dataflow::channels::pact::{Exchange, Pipeline};
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::epoch::{EpochBuckets, Time, Vecs};
use crate::sink::parquet::EpochFile;
use crate::sink::{EpochReport, Rows, SinkError, TableId};
use crate::storage::TableStore;

/// A worker's part of an epoch with fewer rows than this goes to the epoch's gathering worker;
/// from this many on, the worker writes a file of its own (what an epoch holds at high rates, so
/// that the encoding stays spread over the workers). Bronze rows are ~330 bytes of body each.
pub const GATHER_ROWS: usize = 8192;

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

/// A worker's part of an epoch: its rows while they are few, else its own file.
enum Held {
    Rows(Vec<RecordBatch>),
    File(EpochOutput),
}

impl Held {
    fn add(&mut self, store: &TableStore, rows: RecordBatch) {
        match self {
            Held::Rows(held) => {
                held.push(rows);
                if held.iter().map(RecordBatch::num_rows).sum::<usize>() >= GATHER_ROWS {
                    let mut file = EpochOutput::Empty;
                    for rows in held.drain(..) {
                        file.write(store, &rows);
                    }
                    *self = Held::File(file);
                }
            }
            Held::File(file) => file.write(store, &rows),
        }
    }
}

/// What the first stage sends the second: a worker's own file's report (to itself), or a small
/// part's rows (to the epoch's gathering worker).
#[derive(Clone, Serialize, Deserialize)]
enum Part {
    Report(u64, EpochReport),
    Rows(u64, IpcRows),
}

impl Part {
    fn to(&self) -> u64 {
        match self {
            Part::Report(to, _) | Part::Rows(to, _) => *to,
        }
    }
}

/// A batch of rows that serializes as an Arrow IPC stream (only between processes: timely hands
/// data to a worker of the same process as it is).
#[derive(Clone)]
struct IpcRows(RecordBatch);

impl Serialize for IpcRows {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let mut bytes = Vec::new();
        let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut bytes, &self.0.schema())
            .map_err(S::Error::custom)?;
        w.write(&self.0).map_err(S::Error::custom)?;
        w.finish().map_err(S::Error::custom)?;
        drop(w);
        bytes.serialize(s)
    }
}

impl<'de> Deserialize<'de> for IpcRows {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let bytes = Vec::<u8>::deserialize(d)?;
        let mut reader =
            arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
                .map_err(D::Error::custom)?;
        match reader.next() {
            Some(batch) => Ok(IpcRows(batch.map_err(D::Error::custom)?)),
            None => Err(D::Error::custom("an IPC stream without a batch")),
        }
    }
}

/// Writes a stream of rows of one table.
pub trait WriteTable<'s> {
    /// Writes each epoch's rows into `store` (the table's directory or object-store prefix) as
    /// Parquet files (one per worker whose part holds at least [`GATHER_ROWS`] rows, and one for
    /// the smaller parts together) and reports them for table `table`; a write that fails is
    /// reported as a failure of the epoch.
    fn write_table(self, table: TableId, store: TableStore) -> StreamVec<'s, Time, EpochReport>;
}

impl<'s> WriteTable<'s> for StreamVec<'s, Time, RecordBatch> {
    fn write_table(self, table: TableId, store: TableStore) -> StreamVec<'s, Time, EpochReport> {
        let stage = store.name().to_string();
        let worker = self.scope().index() as u32;
        let peers = self.scope().peers().max(1) as u64;
        let (own_store, own_stage) = (store.clone(), stage.clone());
        let parts = self.unary_frontier::<Vecs<Part>, _, _, _>(
            Pipeline,
            &format!("Write {stage}"),
            move |_cap, _info| {
                let mut pending: EpochBuckets<Held> = EpochBuckets::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| {
                        let held = pending.state(&cap, port, || Held::Rows(Vec::new()));
                        for rows in data.drain(..).filter(|r| r.num_rows() > 0) {
                            held.add(&own_store, rows);
                        }
                    });
                    for (epoch, cap, held) in pending.take_done(frontier) {
                        let mut session = output.session(&cap);
                        for part in held {
                            match part {
                                Held::Rows(rows) => {
                                    let to = epoch % peers;
                                    session.give_iterator(
                                        rows.into_iter().map(|r| Part::Rows(to, IpcRows(r))),
                                    );
                                }
                                Held::File(file) => {
                                    if let Some(report) =
                                        file.finish(epoch, table, &own_stage, worker)
                                    {
                                        session.give(Part::Report(worker as u64, report));
                                    }
                                }
                            }
                        }
                    }
                }
            },
        );
        parts.unary_frontier::<Vecs<EpochReport>, _, _, _>(
            Exchange::new(Part::to),
            &format!("Gather {stage}"),
            move |_cap, _info| {
                let mut pending: EpochBuckets<EpochOutput> = EpochBuckets::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    input.for_each(|cap, data| {
                        let file = pending.state(&cap, port, || EpochOutput::Empty);
                        for part in data.drain(..) {
                            match part {
                                Part::Report(_, report) => {
                                    output.session(&cap).give(report);
                                }
                                Part::Rows(_, rows) => file.write(&store, &rows.0),
                            }
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
            },
        )
    }
}
