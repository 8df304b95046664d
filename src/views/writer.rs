//! Writing a view's table: the updates of the view's collection (keys with parts as differences),
//! bucketed by epoch and added to each key's aggregate on the worker that writes the key's file
//! group; every group an epoch changed is rewritten as one new Parquet file that replaces the
//! group's old file in the same commit. Optionally the epoch's changed rows are appended to the
//! view's change feed (`_change_type` insert/update/delete, `_epoch`).
//!
//! A view may be written every few epochs (`ViewSink::every`, `run --view-every`): its writers
//! keep the groups changed since the last write and rewrite them together at every epoch that is
//! a multiple of it (and when the input ends); in the epochs between they report
//! [`EpochReport::Deferred`] and the committer leaves the table as it was, so its positions say
//! which silver rows it holds. All writers of a view decide alike (by the epoch's number), so a
//! commit never mixes groups of different epochs. A restart replays the silver rows after the
//! view's positions into it ([`ViewStart::Replay`]).
//!
//! State is bounded by event time: a file holds one group (its name says which, see
//! `sink::parquet::write_group_file`), so a group need not stay in memory. After each epoch a
//! writer lets go of the groups the epoch did not change that its watermark (the newest
//! [`View::group_closes_at`] among the groups it has seen) has passed by more than the lateness; a
//! late row for such a group reads the
//! group back from its file, adds to it and rewrites it in the same epoch, so the table still
//! equals the recomputation after every commit. A restart starts the same way, from the view's
//! own files ([`ViewStart::FromTable`]): nothing is read or rewritten until an epoch changes a
//! group.

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
use crate::sink::delta::CommittedFile;
use crate::sink::parquet::{group_of_file, read_files, write_file, write_group_file};
use crate::sink::{EpochReport, Rows};
use crate::telemetry::ViewGroupsMoved;

/// How a view's writer starts.
#[derive(Debug, Clone)]
pub struct ViewSink {
    pub table: ViewTable,
    pub start: ViewStart,
    /// How far (event time, ms) its writer's watermark may pass a group's close before the
    /// group leaves memory (see [`View::group_closes_at`]).
    pub lateness_ms: i64,
    /// Written at the epochs that are multiples of this (1: every epoch), and when the input ends.
    pub every: u64,
}

/// What a view's writer starts from.
#[derive(Debug, Clone, Default)]
pub enum ViewStart {
    /// Nothing committed yet.
    #[default]
    Empty,
    /// The view's own committed files, one per file group (named for it): a group is read back
    /// when an epoch first changes it; nothing is rewritten at the start.
    FromTable(Vec<CommittedFile>),
    /// As [`ViewStart::FromTable`], for a table that lags silver (it was last written a few
    /// epochs before the run stopped): the silver rows after `after` (each partition's position
    /// in the view's table) are fed at epoch 0, and the groups they change are written with the
    /// view's next write.
    Replay {
        files: Vec<CommittedFile>,
        after: std::collections::BTreeMap<u32, i64>,
    },
    /// The view is recomputed from its input (fed at epoch 0): every group is rewritten at
    /// epoch 1 and these files (the table's before this run) are removed. For tables from before
    /// files were named by group, views that cannot read their rows back, and a view whose table
    /// lags its input after a crash between two tables' commits.
    Recompute(Vec<String>),
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

/// The worker (of `peers`) that writes file group `group`.
fn owner(group: u64, peers: usize) -> u64 {
    group.hashed() % peers as u64
}

/// A view writer's state: the aggregates of the file groups it holds in memory, and the current
/// file of every group it writes (held or not).
struct ViewFiles<V: View> {
    view: Arc<V>,
    sink: ViewSink,
    worker: u32,
    /// Files of an earlier run, removed by the first rewrite (recomputed views).
    orphans: Vec<String>,
    /// The aggregate of every key of the groups in memory.
    held: BTreeMap<u64, BTreeMap<V::Key, V::Part>>,
    /// Rows of each group with rows: as last written or restored.
    row_counts: BTreeMap<u64, u64>,
    /// The current file of each group this writer owns.
    files: BTreeMap<u64, String>,
    /// Whether groups can be read back from their files ([`View::parts_of_rows`]).
    restorable: bool,
    /// The newest group close this writer has seen (event time, ms).
    watermark: Option<i64>,
    /// This epoch's groups read back from their files, and the keys they changed.
    reloaded: (u64, u64),
    /// Groups changed since the last write.
    dirty: BTreeSet<u64>,
    /// With a change feed: each key changed since the last write, and its row before.
    before: BTreeMap<V::Key, Option<V::Row>>,
    /// Groups held, as last reported to the metrics.
    held_reported: u64,
}

impl<V: View> ViewFiles<V>
where
    V::Key: Ord,
{
    fn new(view: Arc<V>, sink: ViewSink, worker: u32, peers: usize) -> Self {
        let restorable = super::restores_from_table(view.as_ref());
        let mut state = ViewFiles {
            view,
            orphans: Vec::new(),
            sink,
            worker,
            held: BTreeMap::new(),
            row_counts: BTreeMap::new(),
            files: BTreeMap::new(),
            restorable,
            watermark: None,
            reloaded: (0, 0),
            dirty: BTreeSet::new(),
            before: BTreeMap::new(),
            held_reported: 0,
        };
        match state.sink.start.clone() {
            ViewStart::Empty => {}
            ViewStart::Recompute(orphans) => state.orphans = orphans,
            ViewStart::FromTable(committed)
            | ViewStart::Replay {
                files: committed, ..
            } => {
                for f in committed {
                    let Some(group) = group_of_file(&f.path) else {
                        continue;
                    };
                    if owner(group, peers) == worker as u64 {
                        state.row_counts.insert(group, f.records().unwrap_or(0));
                        state.files.insert(group, f.path);
                    }
                }
            }
        }
        state
    }

    /// Reads group `group` back from its file.
    fn load(&self, group: u64) -> Result<BTreeMap<V::Key, V::Part>, String> {
        let Some(path) = self.files.get(&group) else {
            return Ok(BTreeMap::new());
        };
        let batches = read_files(&self.sink.table.root, std::slice::from_ref(path))
            .map_err(|e| e.to_string())?;
        let mut totals = BTreeMap::new();
        for b in &batches {
            let parts = self
                .view
                .parts_of_rows(b)
                .ok_or_else(|| format!("{} cannot read its rows back", self.view.name()))?;
            for (key, part) in parts {
                match totals.entry(key) {
                    Entry::Occupied(mut total) => {
                        let total: &mut V::Part = total.get_mut();
                        total.plus_equals(&part)
                    }
                    Entry::Vacant(slot) => {
                        slot.insert(part);
                    }
                }
            }
        }
        totals.retain(|_, t| !t.is_zero());
        Ok(totals)
    }

    /// Adds an epoch's parts to their keys' aggregates (reading back the groups not in memory);
    /// the changed groups join [`ViewFiles::dirty`] (and, with a change feed, each changed key's
    /// row before joins [`ViewFiles::before`]). Returns the epoch's changed groups.
    fn apply(&mut self, updates: Vec<Update<V::Key, V::Part>>) -> Result<BTreeSet<u64>, String> {
        let feed_on = self.sink.table.change_feed.is_some();
        let view = self.view.clone();
        let mut changed_groups = BTreeSet::new();
        self.reloaded = (0, 0);
        let mut read_back = BTreeSet::new();
        let mut late_keys = BTreeSet::new();
        for (key, _time, part) in updates {
            let group = view.file_group(&key);
            changed_groups.insert(group);
            if !self.held.contains_key(&group) {
                let totals = self.load(group)?;
                if self.files.contains_key(&group) {
                    read_back.insert(group);
                }
                self.held.insert(group, totals);
            }
            if read_back.contains(&group) {
                late_keys.insert(key.clone());
            }
            let totals = self.held.get_mut(&group).expect("held above");
            if feed_on && !self.before.contains_key(&key) {
                let before = totals.get(&key).and_then(|t| view.row(&key, t));
                self.before.insert(key.clone(), before);
            }
            // A key whose total adds up to zero has no row: it leaves (only the keys an epoch
            // changes can, so the group's other keys are not looked at).
            match totals.entry(key) {
                Entry::Occupied(mut total) => {
                    total.get_mut().plus_equals(&part);
                    if total.get().is_zero() {
                        total.remove();
                    }
                }
                Entry::Vacant(slot) => {
                    if !part.is_zero() {
                        slot.insert(part);
                    }
                }
            }
        }
        self.reloaded = (read_back.len() as u64, late_keys.len() as u64);
        for group in &changed_groups {
            if let Some(close) = view.group_closes_at(*group) {
                self.watermark = Some(self.watermark.map_or(close, |w| w.max(close)));
            }
        }
        self.dirty.extend(changed_groups.iter().copied());
        Ok(changed_groups)
    }

    /// Whether the writer writes at epoch `t`: at the multiples of `every`, when the input has
    /// ended (`last`), when it has nothing to hold back, and when it rewrites every group.
    fn writes_at(&self, t: Time, last: bool) -> bool {
        self.dirty.is_empty() || last || t % self.sink.every.max(1) == 0 || self.rewrites_all(t)
    }

    /// Whether epoch `t`'s write rewrites every group held: when old files must go (a
    /// recomputed view, at its epoch 1, removes the table's files in the same commit).
    fn rewrites_all(&self, t: Time) -> bool {
        !self.orphans.is_empty() || (t == 1 && matches!(self.sink.start, ViewStart::Recompute(_)))
    }

    /// Rewrites the groups changed since the last write (every group held, when old files must
    /// go); the table's report.
    fn rewrite(&mut self, t: Time) -> EpochReport {
        let mut changed_groups = std::mem::take(&mut self.dirty);
        if self.rewrites_all(t) {
            changed_groups.extend(self.held.keys().copied());
        }
        let mut adds = Vec::new();
        let mut removes = std::mem::take(&mut self.orphans);
        for group in changed_groups {
            if let Some(old) = self.files.remove(&group) {
                removes.push(old);
            }
            self.row_counts.remove(&group);
            let Some(totals) = self.held.get(&group) else {
                continue;
            };
            let rows: Vec<(&V::Key, V::Row)> = totals
                .iter()
                .filter_map(|(k, t)| self.view.row(k, t).map(|r| (k, r)))
                .collect();
            if rows.is_empty() {
                if totals.is_empty() {
                    self.held.remove(&group);
                }
                continue;
            }
            self.row_counts.insert(group, rows.len() as u64);
            let list: Vec<(&V::Key, &V::Row)> = rows.iter().map(|(k, r)| (*k, r)).collect();
            let batch = self.view.to_batch(&list);
            match write_group_file(&self.sink.table.root, group, &[batch]) {
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

    /// Lets the groups its watermark has passed by more than the lateness leave memory, unless
    /// the epoch just changed them (`changed`: a group still taking rows stays, however far
    /// ahead an odd future-dated row has pushed the watermark): those whose file holds every key
    /// they have (they are read back from it when a late row comes). Returns how many left.
    fn evict(&mut self, changed: &BTreeSet<u64>) -> usize {
        let (Some(watermark), true) = (self.watermark, self.restorable) else {
            return 0;
        };
        let lateness = self.sink.lateness_ms;
        let view = &*self.view;
        let (files, row_counts, dirty) = (&self.files, &self.row_counts, &self.dirty);
        let before = self.held.len();
        self.held.retain(|group, totals| {
            let closed = view
                .group_closes_at(*group)
                .is_some_and(|close| close.saturating_add(lateness) < watermark);
            let on_file = files.contains_key(group)
                && row_counts.get(group).copied() == Some(totals.len() as u64);
            !(closed && on_file && !changed.contains(group) && !dirty.contains(group))
        });
        before - self.held.len()
    }

    /// Counts the rows of every group (after the restored state is applied).
    fn count_rows(&mut self) {
        let view = &*self.view;
        self.row_counts = self
            .held
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

    /// The change-feed file of the rows changed since the last write, if the view has a feed
    /// and rows changed.
    fn feed(&mut self, t: Time) -> Option<EpochReport> {
        let (feed_id, feed_root) = self.sink.table.change_feed.as_ref()?;
        let view = &*self.view;
        let feed: BTreeMap<V::Key, (Option<V::Row>, Option<V::Row>)> =
            std::mem::take(&mut self.before)
                .into_iter()
                .map(|(key, before)| {
                    let held = self.held.get(&view.file_group(&key));
                    let after = held
                        .and_then(|h| h.get(&key))
                        .and_then(|t| view.row(&key, t));
                    (key, (before, after))
                })
                .collect();
        let batch = feed_batch(self.view.as_ref(), &feed, t)?;
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
        let peers = self.inner.scope().peers();
        let route = view.clone();
        let name = format!("Write {}", view.name());
        self.inner.unary_frontier::<Vecs<EpochReport>, _, _, _>(
            Exchange::new(move |u: &Update<K, P>| owner(route.file_group(&u.0), peers)),
            &name,
            move |cap, _info| {
                // A restarted writer reports at epoch 1 even if no update reaches it: what its
                // part of the table holds (rewritten whole, when recomputed).
                let restarted = !matches!(sink.start, ViewStart::Empty);
                let mut start = restarted.then(|| cap.delayed(&1));
                drop(cap);
                let mut pending: EpochBuckets<Update<K, P>> = EpochBuckets::new();
                let mut state = ViewFiles::new(view, sink, worker, peers);
                move |(input, frontier), output| {
                    let port = output.output_index();
                    if let Some(cap) = start.take() {
                        pending.hold(cap);
                    }
                    input.for_each(|cap, data| pending.absorb(&cap, port, data, |u| u.1));
                    // One epoch at a time: an epoch left with changes held back holds the next
                    // one, which may already be done (each epoch is seen, so that every writer
                    // of the view decides alike at each).
                    while let Some((t, cap, updates)) = pending.take_first_done(frontier) {
                        let name = state.view.name().to_string();
                        let changed_groups = match state.apply(updates) {
                            Ok(changed) => changed,
                            Err(e) => {
                                output.session(&cap).give(EpochReport::failed(t, &name, e));
                                continue;
                            }
                        };
                        if t == 0 {
                            if !matches!(state.sink.start, ViewStart::Replay { .. }) {
                                // Restored state: the table already holds it.
                                state.count_rows();
                                state.dirty.clear();
                                state.before.clear();
                            }
                            continue;
                        }
                        let mut session = output.session(&cap);
                        if state.writes_at(t, frontier.is_empty()) {
                            session.give(state.rewrite(t));
                            if let Some(report) = state.feed(t) {
                                session.give(report);
                            }
                        } else {
                            let table = &state.sink.table;
                            let feed = table.change_feed.as_ref().map(|(id, _)| *id);
                            for table in std::iter::once(table.id).chain(feed) {
                                session.give(EpochReport::Deferred { epoch: t, table });
                            }
                            drop(session);
                            pending.hold(cap.delayed(&(t + 1)));
                        }
                        let was_held = state.held_reported;
                        let evicted = state.evict(&changed_groups);
                        state.held_reported = state.held.len() as u64;
                        ViewGroupsMoved {
                            table: &name,
                            reloaded: state.reloaded.0,
                            updates: state.reloaded.1,
                            evicted: evicted as u64,
                            held: state.held_reported,
                            was_held,
                        }
                        .emit();
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
