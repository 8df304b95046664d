//! Writing a view's table: the changes of the view's collection, bucketed by epoch, applied to the
//! current rows; every file group an epoch changed is rewritten as one new Parquet file that
//! replaces the group's old file in the same commit. Optionally the epoch's changes are appended to
//! the view's change feed (`_change_type` insert/update/delete, `_epoch`).

use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use differential_dataflow::hashable::Hashable;
use differential_dataflow::VecCollection;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use super::{change_feed_schema, View, ViewTable};
use crate::dataflow::operators::{EpochBuckets, Vecs};
use crate::dataflow::Time;
use crate::sink::parquet::write_file;
use crate::sink::FilesWritten;

/// How a view's writer starts.
#[derive(Debug, Clone)]
pub struct ViewSink {
    pub table: ViewTable,
    /// The table's files before this run (removed by the first rewrite; give them to one worker).
    pub restored_files: Vec<String>,
    /// Rewrite every group at epoch 1 (after a restart: the restored state is recomputed from
    /// committed silver, and the table may lag it).
    pub rewrite_at_start: bool,
}

type Change<K, R> = ((K, R), Time, isize);

/// Writes a view's collection to its Delta table.
pub trait WriteView<'s, K, R> {
    fn write_view<V: View<Key = K, Row = R>>(
        self,
        view: Arc<V>,
        sink: ViewSink,
    ) -> StreamVec<'s, Time, FilesWritten>;
}

impl<'s, K, R> WriteView<'s, K, R> for VecCollection<'s, Time, (K, R)>
where
    K: differential_dataflow::ExchangeData + Hash,
    R: differential_dataflow::ExchangeData,
{
    fn write_view<V: View<Key = K, Row = R>>(
        self,
        view: Arc<V>,
        sink: ViewSink,
    ) -> StreamVec<'s, Time, FilesWritten> {
        let worker = self.inner.scope().index() as u32;
        let route = view.clone();
        let name = format!("Write {}", view.name());
        self.inner.unary_frontier::<Vecs<FilesWritten>, _, _, _>(
            Exchange::new(move |c: &Change<K, R>| route.file_group(&(c.0).0).hashed()),
            &name,
            move |cap, _info| {
                let mut start = sink.rewrite_at_start.then(|| cap.delayed(&1));
                drop(cap);
                let mut orphans = sink.restored_files.clone();
                let mut pending: EpochBuckets<Change<K, R>> = EpochBuckets::new();
                let mut rows: BTreeMap<u64, BTreeMap<K, R>> = BTreeMap::new();
                let mut files: BTreeMap<u64, String> = BTreeMap::new();
                let table = sink.table.clone();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    if let Some(cap) = start.take() {
                        pending.hold(cap);
                    }
                    input.for_each(|cap, data| pending.absorb(&cap, port, data, |c| c.1));
                    for (t, cap, mut changes) in pending.take_done(frontier) {
                        // Retractions first: a changed key's old row goes before its new one.
                        changes.sort_by_key(|c| c.2 > 0);
                        let mut changed_groups = BTreeSet::new();
                        let mut feed: BTreeMap<K, (Option<R>, Option<R>)> = BTreeMap::new();
                        for ((key, row), _time, diff) in changes {
                            let group = view.file_group(&key);
                            changed_groups.insert(group);
                            let slot = rows.entry(group).or_default();
                            if diff < 0 {
                                if slot.get(&key) == Some(&row) {
                                    slot.remove(&key);
                                }
                                if table.change_feed.is_some() {
                                    feed.entry(key).or_default().0.get_or_insert(row);
                                }
                            } else {
                                if table.change_feed.is_some() {
                                    feed.entry(key.clone()).or_default().1 = Some(row.clone());
                                }
                                slot.insert(key, row);
                            }
                        }
                        if t == 0 {
                            continue; // restored state: the table already holds it
                        }
                        if !orphans.is_empty() || (t == 1 && sink.rewrite_at_start) {
                            changed_groups.extend(rows.keys().copied());
                        }
                        let mut adds = Vec::new();
                        let mut removes = std::mem::take(&mut orphans);
                        for group in changed_groups {
                            if let Some(old) = files.remove(&group) {
                                removes.push(old);
                            }
                            let Some(group_rows) = rows.get(&group) else {
                                continue;
                            };
                            if group_rows.is_empty() {
                                rows.remove(&group);
                                continue;
                            }
                            let list: Vec<(&K, &R)> = group_rows.iter().collect();
                            let batch = view.to_batch(&list);
                            if let Some(add) = write_file(&table.root, &[batch])
                                .unwrap_or_else(|e| panic!("view {}: {e}", view.name()))
                            {
                                files.insert(group, add.path.clone());
                                adds.push(serde_json::to_string(&add).expect("add serialises"));
                            }
                        }
                        let held: u64 = rows.values().map(|g| g.len() as u64).sum();
                        let mut session = output.session(&cap);
                        session.give(FilesWritten {
                            table: table.index,
                            epoch: t,
                            adds,
                            removes,
                            rows: held,
                            snapshot: true,
                            worker,
                            ..Default::default()
                        });
                        if let Some((feed_index, feed_root)) = &table.change_feed {
                            if let Some(batch) = feed_batch(view.as_ref(), &feed, t) {
                                let n = batch.num_rows() as u64;
                                let add = write_file(feed_root, &[batch])
                                    .unwrap_or_else(|e| panic!("view {}: {e}", view.name()));
                                session.give(FilesWritten {
                                    table: *feed_index,
                                    epoch: t,
                                    adds: add
                                        .map(|a| serde_json::to_string(&a).expect("add serialises"))
                                        .into_iter()
                                        .collect(),
                                    rows: n,
                                    worker,
                                    ..Default::default()
                                });
                            }
                        }
                    }
                }
            },
        )
    }
}

/// The change-feed rows of one epoch: per changed key, `insert` (new key), `update` (new row of an
/// existing key) or `delete` (the removed row).
fn feed_batch<V: View>(
    view: &V,
    feed: &BTreeMap<V::Key, (Option<V::Row>, Option<V::Row>)>,
    epoch: Time,
) -> Option<RecordBatch> {
    let mut list = Vec::new();
    let mut kinds = Vec::new();
    for (key, (old, new)) in feed {
        match (old, new) {
            (None, Some(n)) => {
                list.push((key, n));
                kinds.push("insert");
            }
            (Some(o), Some(n)) if o != n => {
                list.push((key, n));
                kinds.push("update");
            }
            (Some(o), None) => {
                list.push((key, o));
                kinds.push("delete");
            }
            _ => {}
        }
    }
    if list.is_empty() {
        return None;
    }
    let batch = view.to_batch(&list);
    let mut columns = batch.columns().to_vec();
    columns.push(Arc::new(StringArray::from(kinds)));
    columns.push(Arc::new(Int64Array::from(vec![epoch as i64; list.len()])));
    Some(
        RecordBatch::try_new(change_feed_schema(&view.schema()), columns)
            .expect("change feed rows match their schema"),
    )
}
