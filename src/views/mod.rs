//! Views: derived tables kept current incrementally with differential, and written to Delta so
//! that after every commit a view's table equals the view's current state (changed rows are
//! replaced or removed, never appended), with an optional change feed.
//!
//! A view is two small traits:
//! - [`View`]: its key and row types, its Arrow schema, how rows become a `RecordBatch`, and how
//!   its rows are spread over files (a *file group*: only the groups an epoch changed are
//!   rewritten);
//! - [`SilverView`] (views over silver rows): what silver rows contribute per key (a *part*,
//!   pre-aggregated over an epoch's batches: [`SilverView::epoch_parts`]) and how a key's parts
//!   combine into its row.
//!
//! [`Maintain::maintain`] turns a stream of silver batches into the differential collection of a
//! view's rows (`reduce` over the parts, so late and out-of-order rows just add parts to old
//! keys), and [`WriteView::write_view`] writes the changes of that collection to the view's table.
//! [`station::StationLatest`], [`station::StationHourly`] and [`quality::QualityByWindow`] are the
//! built-in views; `examples/custom_view.rs` defines a new one.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::epoch::{epoch_of, EpochBuckets, Time, Vecs};
use crate::sink::{EpochReport, TableId, TableSpec};
use crate::storage::TableStore;

pub mod dataset_checks;
pub mod quality;
pub mod station;
mod writer;

pub use writer::{ViewSink, WriteView};

/// Windowed views keep the rows of one UTC day of windows in one file: a stream touches few days
/// per epoch (now, plus the odd late or future-dated event), so an epoch rewrites few files.
pub const WINDOW_FILE_GROUP_MS: i64 = 86_400_000;

/// A derived table: one row per key.
pub trait View: Send + Sync + 'static {
    type Key: ExchangeData + std::hash::Hash;
    type Row: ExchangeData;
    /// The table's name (its directory under `--out`).
    fn name(&self) -> &str;
    /// The table's Arrow schema (key columns, then row columns).
    fn schema(&self) -> SchemaRef;
    /// The file a key's row is stored in: an epoch rewrites only the groups it changed.
    fn file_group(&self, _key: &Self::Key) -> u64 {
        0
    }
    /// The rows as a batch of [`View::schema`].
    fn to_batch(&self, rows: &[(&Self::Key, &Self::Row)]) -> RecordBatch;
}

/// A view over silver rows.
pub trait SilverView: View {
    /// What one silver batch contributes to one key (pre-aggregate within the batch: one part per
    /// key per batch keeps differential's work proportional to keys, not rows).
    type Part: ExchangeData;
    /// The parts of one silver batch.
    fn parts(&self, silver: &RecordBatch, out: &mut Vec<(Self::Key, Self::Part)>);
    /// The parts of one epoch's batches: by default each batch's [`SilverView::parts`], merged
    /// per key when the view merges parts. Override it when a part is cheaper to make once per
    /// epoch than once per batch.
    fn epoch_parts(&self, silver: &[RecordBatch], out: &mut Vec<(Self::Key, Self::Part)>) {
        let mut parts = Vec::new();
        silver.iter().for_each(|b| self.parts(b, &mut parts));
        if silver.len() <= 1 || !parts.first().is_some_and(|(_, p)| merges(self, p)) {
            return out.append(&mut parts);
        }
        let mut merged: ahash::AHashMap<Self::Key, Self::Part> = ahash::AHashMap::new();
        for (key, part) in parts {
            match merged.entry(key) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(part);
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    self.merge_into(e.get_mut(), part)
                }
            }
        }
        out.extend(merged);
    }
    /// A key's row from all its parts (each with its multiplicity); `None`: no row.
    fn combine(&self, key: &Self::Key, parts: &[(&Self::Part, isize)]) -> Option<Self::Row>;
    /// Two parts of one key as one (an associative merge), if the view can merge parts. Then
    /// each worker keeps one part per key and replaces it (retracting the old one) once per
    /// epoch, instead of adding a part per batch: `reduce` sees at most one part per key and
    /// worker, however long the stream. `None` (the default): every batch's part is kept.
    fn merge(&self, _acc: &Self::Part, _part: &Self::Part) -> Option<Self::Part> {
        None
    }
    /// [`SilverView::merge`] in place (override it to save the clone of the merged part).
    fn merge_into(&self, acc: &mut Self::Part, part: Self::Part) {
        *acc = self.merge(acc, &part).expect("the view merges parts");
    }
}

/// Maintains a [`SilverView`] over a stream of silver batches.
pub trait Maintain<'s> {
    /// The view's rows as a differential collection. `restored` are silver rows committed before
    /// a restart (fed at time 0 on this worker).
    fn maintain<V: SilverView>(
        self,
        view: Arc<V>,
        restored: Vec<RecordBatch>,
    ) -> VecCollection<'s, Time, (V::Key, V::Row)>;
}

impl<'s> Maintain<'s> for StreamVec<'s, Time, RecordBatch> {
    fn maintain<V: SilverView>(
        self,
        view: Arc<V>,
        restored: Vec<RecordBatch>,
    ) -> VecCollection<'s, Time, (V::Key, V::Row)> {
        let parts_of = view.clone();
        let name = view.name().to_string();
        self.unary_frontier::<Vecs<((V::Key, V::Part), Time, isize)>, _, _, _>(
            Pipeline,
            &format!("{name} parts"),
            move |cap, _info| {
                let mut restore = Some((cap, restored));
                let mut parts = Vec::new();
                let mut local = LocalParts::<V>::default();
                let mut pending: EpochBuckets<RecordBatch> = EpochBuckets::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    if let Some((cap, restored)) = restore.take() {
                        let mut session = output.session(&cap);
                        parts_of.epoch_parts(&restored, &mut parts);
                        for (key, part) in parts.drain(..) {
                            local.apply(&*parts_of, key, part, |u, d| session.give((u, 0, d)));
                        }
                    }
                    // An epoch's batches wait for the epoch to complete: its parts are made (and
                    // merged) once, and differential sees one update pair per changed key.
                    input.for_each(|cap, data| {
                        let t = epoch_of(&cap);
                        pending.absorb(&cap, port, data, |_| t);
                    });
                    for (t, cap, batches) in pending.take_done(frontier) {
                        parts_of.epoch_parts(&batches, &mut parts);
                        let mut session = output.session(&cap);
                        for (key, part) in parts.drain(..) {
                            local.apply(&*parts_of, key, part, |u, d| session.give((u, t, d)));
                        }
                    }
                }
            },
        )
        .as_collection()
        .reduce_named(&name, move |key, parts, out| {
            if let Some(row) = view.combine(key, parts) {
                out.push((row, 1));
            }
        })
    }
}

/// A view as `run` takes it from a library user (object-safe): its table and how to build it on
/// the silver stream. Make one from any [`SilverView`] with [`custom_view`].
pub trait CustomView: Send + Sync + 'static {
    /// The view's table (name and schema).
    fn table(&self) -> TableSpec;
    /// Maintains the view over `silver` and writes it to its table.
    fn build<'s>(
        &self,
        silver: StreamVec<'s, Time, RecordBatch>,
        restored: Vec<RecordBatch>,
        sink: ViewSink,
    ) -> StreamVec<'s, Time, EpochReport>;
}

struct SilverViewPlugin<V>(Arc<V>);

impl<V: SilverView> CustomView for SilverViewPlugin<V> {
    fn table(&self) -> TableSpec {
        TableSpec {
            name: self.0.name().to_string(),
            schema: self.0.schema(),
        }
    }
    fn build<'s>(
        &self,
        silver: StreamVec<'s, Time, RecordBatch>,
        restored: Vec<RecordBatch>,
        sink: ViewSink,
    ) -> StreamVec<'s, Time, EpochReport> {
        silver
            .maintain(self.0.clone(), restored)
            .write_view(self.0.clone(), sink)
    }
}

/// Wraps a [`SilverView`] for `RunConfig::custom_views` (`crate::pipeline`).
pub fn custom_view<V: SilverView>(view: V) -> Arc<dyn CustomView> {
    Arc::new(SilverViewPlugin(Arc::new(view)))
}

/// Views a library user adds to a run (see `examples/custom_view.rs`).
#[derive(Clone, Default)]
pub struct CustomViews(pub Vec<Arc<dyn CustomView>>);

impl std::fmt::Debug for CustomViews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|v| v.table().name))
            .finish()
    }
}

/// Whether `view` merges parts (asked of one of its parts).
fn merges<V: SilverView + ?Sized>(view: &V, part: &V::Part) -> bool {
    view.merge(part, part).is_some()
}

/// A worker's part per key in differential, for views whose parts merge
/// ([`SilverView::merge`]): a changed key's part is replaced (the old one retracted), so that
/// `reduce` sees at most one part per key and worker, however long the stream.
struct LocalParts<V: SilverView> {
    /// The part of each key that differential holds (the merge of all its emitted parts).
    emitted: ahash::AHashMap<V::Key, V::Part>,
    mergeable: Option<bool>,
}

impl<V: SilverView> Default for LocalParts<V> {
    fn default() -> Self {
        LocalParts {
            emitted: ahash::AHashMap::new(),
            mergeable: None,
        }
    }
}

impl<V: SilverView> LocalParts<V> {
    /// Merges `part` into `key`'s part in differential; emits the updates (datum, diff). Views
    /// whose parts do not merge get `part` added as it is.
    fn apply(
        &mut self,
        view: &V,
        key: V::Key,
        part: V::Part,
        mut emit: impl FnMut((V::Key, V::Part), isize),
    ) {
        let mergeable = *self.mergeable.get_or_insert_with(|| merges(view, &part));
        if !mergeable {
            return emit((key, part), 1);
        }
        match self.emitted.get_mut(&key) {
            None => {
                self.emitted.insert(key.clone(), part.clone());
                emit((key, part), 1);
            }
            Some(acc) => {
                let old = acc.clone();
                view.merge_into(acc, part);
                if *acc != old {
                    emit((key.clone(), old), -1);
                    emit((key, acc.clone()), 1);
                }
            }
        }
    }
}

/// The built-in views, as `--views` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ViewKind {
    StationLatest,
    StationHourly,
    QualityByWindow,
}

impl ViewKind {
    pub const ALL: [ViewKind; 3] = [
        ViewKind::StationLatest,
        ViewKind::StationHourly,
        ViewKind::QualityByWindow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ViewKind::StationLatest => "station_latest",
            ViewKind::StationHourly => "station_hourly",
            ViewKind::QualityByWindow => "quality_by_window",
        }
    }
}

impl std::str::FromStr for ViewKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ViewKind::ALL
            .into_iter()
            .find(|v| v.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown view '{s}': expected one of {}",
                    ViewKind::ALL.map(|v| v.name()).join(", ")
                )
            })
    }
}

/// A `--views` list (see [`parse_view_list`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ViewList(pub Vec<ViewKind>);

impl std::str::FromStr for ViewList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        parse_view_list(s).map(ViewList)
    }
}

/// Parses a `--views` list: comma-separated names, `all`, or `none`.
pub fn parse_view_list(s: &str) -> Result<Vec<ViewKind>, String> {
    match s.trim() {
        "all" => Ok(ViewKind::ALL.to_vec()),
        "none" | "" => Ok(Vec::new()),
        list => {
            let mut out = Vec::new();
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let v: ViewKind = name.parse()?;
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(out)
        }
    }
}

/// The change-feed table of a view: the view's columns plus `_change_type` and `_epoch`.
pub fn change_feed_schema(view_schema: &SchemaRef) -> SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    let mut fields: Vec<Field> = view_schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("_change_type", DataType::Utf8, false));
    fields.push(Field::new("_epoch", DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

/// The name of a view's change-feed table.
pub fn change_feed_name(view: &str) -> String {
    format!("{view}_changes")
}

/// Where a view's table lives: its id and store, and those of its change feed if it has one.
#[derive(Debug, Clone)]
pub struct ViewTable {
    pub id: TableId,
    pub root: TableStore,
    pub change_feed: Option<(TableId, TableStore)>,
}

/// A total order on `f64` (by `total_cmp`), so that floats can be differential data.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct OrdF64(pub f64);

impl PartialEq for OrdF64 {
    fn eq(&self, other: &Self) -> bool {
        self.0.total_cmp(&other.0).is_eq()
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl std::hash::Hash for OrdF64 {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state)
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}
