//! Writing a view's table: the updates of the view's collection (keys with parts as differences),
//! bucketed by epoch and added to each key's aggregate on the worker that writes the key's file
//! group; every group an epoch changed is rewritten as one new Parquet file that replaces the
//! group's old file in the same commit. Optionally the epoch's changed rows are appended to the
//! view's change feed (`_change_type` insert/update/delete, `_epoch`).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use differential_dataflow::difference::{IsZero, Semigroup};
use differential_dataflow::hashable::Hashable;
use differential_dataflow::VecCollection;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use super::{change_feed_schema, View, ViewTable};
use crate::epoch::{EpochBuckets, Time, Vecs};
use crate::sink::parquet::write_file;
use crate::sink::{EpochReport, Rows};

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

/// One update of a view's collection: a key and a part, at an epoch.
type Update<K, P> = (K, Time, P);

/// Writes a view's collection to its Delta table.
pub trait WriteView<'s, K, P> {
    fn write_view<V: View<Key = K, Part = P>>(
        self,
        view: Arc<V>,
        sink: ViewSink,
    ) -> StreamVec<'s, Time, EpochReport>;
}

/// A view writer's state: the aggregate of every key of the file groups it owns, and each
/// group's current file.
struct ViewFiles<V: View> {
    view: Arc<V>,
    sink: ViewSink,
    worker: u32,
    /// Committed files of an earlier run, removed by the first rewrite.
    orphans: Vec<String>,
    totals: BTreeMap<u64, BTreeMap<V::Key, V::Part>>,
    /// Rows of each group (keys whose aggregate makes a row), as last written or restored.
    row_counts: BTreeMap<u64, u64>,
    files: BTreeMap<u64, String>,
}

impl<V: View> ViewFiles<V>
where
    V::Key: Ord,
{
    /// Adds an epoch's parts to their keys' aggregates; returns the changed groups and, when the
    /// view has a change feed, each changed key's row before and after.
    #[allow(clippy::type_complexity)]
    fn apply(
        &mut self,
        updates: Vec<Update<V::Key, V::Part>>,
    ) -> (
        BTreeSet<u64>,
        BTreeMap<V::Key, (Option<V::Row>, Option<V::Row>)>,
    ) {
        let feed_on = self.sink.table.change_feed.is_some();
        let view = &*self.view;
        let mut changed_groups = BTreeSet::new();
        let mut feed: BTreeMap<V::Key, (Option<V::Row>, Option<V::Row>)> = BTreeMap::new();
        for (key, _time, part) in updates {
            let group = view.file_group(&key);
            changed_groups.insert(group);
            let totals = self.totals.entry(group).or_default();
            if feed_on && !feed.contains_key(&key) {
                let before = totals.get(&key).and_then(|t| view.row(&key, t));
                feed.insert(key.clone(), (before, None));
            }
            match totals.entry(key) {
                Entry::Occupied(mut total) => total.get_mut().plus_equals(&part),
                Entry::Vacant(slot) => {
                    slot.insert(part);
                }
            }
        }
        for (key, (_, after)) in feed.iter_mut() {
            let group = view.file_group(key);
            *after = self.totals[&group].get(key).and_then(|t| view.row(key, t));
        }
        for group in &changed_groups {
            if let Some(totals) = self.totals.get_mut(group) {
                totals.retain(|_, t| !t.is_zero());
            }
        }
        (changed_groups, feed)
    }

    /// Rewrites the changed groups (every group when old files must go); the table's report.
    fn rewrite(&mut self, t: Time, mut changed_groups: BTreeSet<u64>) -> EpochReport {
        if !self.orphans.is_empty() || (t == 1 && self.sink.rewrite_at_start) {
            changed_groups.extend(self.totals.keys().copied());
        }
        let mut adds = Vec::new();
        let mut removes = std::mem::take(&mut self.orphans);
        for group in changed_groups {
            if let Some(old) = self.files.remove(&group) {
                removes.push(old);
            }
            self.row_counts.remove(&group);
            let Some(totals) = self.totals.get(&group) else {
                continue;
            };
            let rows: Vec<(&V::Key, V::Row)> = totals
                .iter()
                .filter_map(|(k, t)| self.view.row(k, t).map(|r| (k, r)))
                .collect();
            if rows.is_empty() {
                if totals.is_empty() {
                    self.totals.remove(&group);
                }
                continue;
            }
            self.row_counts.insert(group, rows.len() as u64);
            let list: Vec<(&V::Key, &V::Row)> = rows.iter().map(|(k, r)| (*k, r)).collect();
            let batch = self.view.to_batch(&list);
            match write_file(&self.sink.table.root, &[batch]) {
                Ok(Some(add)) => {
                    self.files.insert(group, add.path.clone());
                    adds.push(add);
                }
                Ok(None) => {}
                Err(e) => return EpochReport::failed(t, self.view.name(), e),
            }
        }
        let held: u64 = self.row_counts.values().sum();
        EpochReport::Files {
            epoch: t,
            table: self.sink.table.id,
            worker: self.worker,
            adds,
            removes,
            rows: Rows::Holds(held),
        }
    }

    /// Counts the rows of every group (after the restored state is applied).
    fn count_rows(&mut self) {
        let view = &*self.view;
        self.row_counts = self
            .totals
            .iter()
            .map(|(&g, totals)| {
                let n = totals
                    .iter()
                    .filter(|(k, t)| view.row(k, t).is_some())
                    .count();
                (g, n as u64)
            })
            .collect();
    }

    /// The epoch's change-feed file, if the view has a feed and the epoch changed rows.
    fn feed(
        &self,
        t: Time,
        feed: &BTreeMap<V::Key, (Option<V::Row>, Option<V::Row>)>,
    ) -> Option<EpochReport> {
        let (feed_id, feed_root) = self.sink.table.change_feed.as_ref()?;
        let batch = feed_batch(self.view.as_ref(), feed, t)?;
        let stage = super::change_feed_name(self.view.name());
        Some(match write_file(feed_root, &[batch]) {
            Ok(add) => EpochReport::Files {
                epoch: t,
                table: *feed_id,
                worker: self.worker,
                rows: Rows::Appended(add.as_ref().map_or(0, |a| a.rows)),
                adds: add.into_iter().collect(),
                removes: Vec::new(),
            },
            Err(e) => EpochReport::failed(t, &stage, e),
        })
    }
}

impl<'s, K, P> WriteView<'s, K, P> for VecCollection<'s, Time, K, P>
where
    K: differential_dataflow::ExchangeData + Hash,
    P: differential_dataflow::ExchangeData + Semigroup,
{
    fn write_view<V: View<Key = K, Part = P>>(
        self,
        view: Arc<V>,
        sink: ViewSink,
    ) -> StreamVec<'s, Time, EpochReport> {
        let worker = self.inner.scope().index() as u32;
        let route = view.clone();
        let name = format!("Write {}", view.name());
        self.inner.unary_frontier::<Vecs<EpochReport>, _, _, _>(
            Exchange::new(move |u: &Update<K, P>| route.file_group(&u.0).hashed()),
            &name,
            move |cap, _info| {
                let mut start = sink.rewrite_at_start.then(|| cap.delayed(&1));
                drop(cap);
                let mut pending: EpochBuckets<Update<K, P>> = EpochBuckets::new();
                let mut state = ViewFiles {
                    view,
                    orphans: sink.restored_files.clone(),
                    sink,
                    worker,
                    totals: BTreeMap::new(),
                    row_counts: BTreeMap::new(),
                    files: BTreeMap::new(),
                };
                move |(input, frontier), output| {
                    let port = output.output_index();
                    if let Some(cap) = start.take() {
                        pending.hold(cap);
                    }
                    input.for_each(|cap, data| pending.absorb(&cap, port, data, |u| u.1));
                    for (t, cap, updates) in pending.take_done(frontier) {
                        let (changed_groups, feed) = state.apply(updates);
                        if t == 0 {
                            state.count_rows();
                            continue; // restored state: the table already holds it
                        }
                        let mut session = output.session(&cap);
                        session.give(state.rewrite(t, changed_groups));
                        if let Some(report) = state.feed(t, &feed) {
                            session.give(report);
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
