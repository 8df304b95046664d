//! The `TableRows` operator: selects the bronze or quarantine rows of processed batches.

use std::sync::Arc;

use arrow::array::RecordBatch;
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::dataflow::per_batch::Processed;
use crate::epoch::{Time, Vecs};

/// The rows of one table that a processed batch carries as they are (no exchange, no state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowsOf {
    Bronze,
    Quarantine,
}

/// Selects one table's rows from processed batches.
pub trait TableRows<'s> {
    /// The bronze or quarantine rows of each processed batch.
    fn table_rows(self, table: RowsOf) -> StreamVec<'s, Time, RecordBatch>;
}

impl<'s> TableRows<'s> for StreamVec<'s, Time, Arc<Processed>> {
    fn table_rows(self, table: RowsOf) -> StreamVec<'s, Time, RecordBatch> {
        let name = format!("{table:?} rows");
        self.unary::<Vecs<RecordBatch>, _, _, _>(Pipeline, &name, move |_cap, _info| {
            move |input, output| {
                input.for_each(|cap, data| {
                    let mut session = output.session(&cap);
                    for p in data.drain(..) {
                        let rows = match table {
                            RowsOf::Bronze => p.bronze.as_ref(),
                            RowsOf::Quarantine => p.quarantine.as_ref(),
                        };
                        if let Some(rows) = rows {
                            session.give(rows.clone());
                        }
                    }
                });
            }
        })
    }
}
