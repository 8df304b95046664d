//! Views: derived tables kept current incrementally with differential, and written to Delta so
//! that after every commit a view's table equals the view's current state (changed rows are
//! replaced or removed, never appended), with an optional change feed.
//!
//! A view is two small traits:
//! - [`View`]: its key and row types, its *part* (what its input contributes to a key: a
//!   differential [`Semigroup`], so that the parts of one key add up to the key's aggregate in any
//!   order), the row an aggregate makes, its Arrow schema, how rows become a `RecordBatch`, and
//!   how its rows are spread over files (a *file group*: only the groups an epoch changed are
//!   rewritten);
//! - [`SilverView`] (views over silver rows): the parts a silver batch contributes.
//!
//! [`Maintain::maintain`] turns a stream of silver batches into the view as a differential
//! collection whose differences are the parts: one update per changed key and worker per epoch
//! (each epoch's parts pre-aggregated), late and out-of-order rows just adding to old keys; the
//! view at any time is that collection accumulated. [`WriteView::write_view`] accumulates it per
//! file group on the worker that writes the group and rewrites the groups an epoch changed. The
//! state is one aggregate per key, held once (an earlier shape kept each key's part, its
//! differential `reduce` input and output arrangements and the writer's row: four copies and
//! about 1.1 KB per `station_hourly` key).
//! [`station::StationLatest`], [`station::StationHourly`] and [`quality::QualityByWindow`] are the
//! built-in views; `examples/custom_view.rs` defines a new one.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use differential_dataflow::difference::Semigroup;
use differential_dataflow::{AsCollection, ExchangeData, VecCollection};
use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::StreamVec;

use crate::epoch::{epoch_of, EpochBuckets, Time, Vecs};
use crate::sink::{EpochReport, TableId, TableSpec};
use crate::storage::TableStore;

pub mod dataset_checks;
pub mod declared;
pub mod exact_sum;
pub mod quality;
pub mod station;
mod writer;

pub use exact_sum::{sum_present, ExactSum};
pub use writer::{ViewSink, ViewStart, WriteView};

pub use crate::sink::tables::{window_file_group, WINDOW_FILE_GROUP_MS};

/// A derived table: one row per key, made from the key's aggregate (the sum of its parts).
pub trait View: Send + Sync + 'static {
    type Key: ExchangeData + std::hash::Hash;
    type Row: ExchangeData;
    /// What the view's input contributes to one key. Parts add up with
    /// [`Semigroup::plus_equals`], which must be associative and commutative (rows arrive late,
    /// out of order and on any worker).
    type Part: ExchangeData + Semigroup;
    /// The table's name (its directory under `--out`).
    fn name(&self) -> &str;
    /// The table's Arrow schema (key columns, then row columns).
    fn schema(&self) -> SchemaRef;
    /// The file a key's row is stored in: an epoch rewrites only the groups it changed.
    fn file_group(&self, _key: &Self::Key) -> u64 {
        0
    }
    /// The event time (ms) at which the file group `group` closes: only late rows change it after
    /// that. Once its writer's watermark (the newest close it has seen among the groups it writes)
    /// is more than the lateness past it, the group leaves memory and is read back from its file
    /// if a late row reaches it. `None` (the default): the group stays in memory (use it for groups
    /// bounded by the number of keys, not by time).
    fn group_closes_at(&self, _group: u64) -> Option<i64> {
        None
    }
    /// The keys and aggregates (as parts) of committed rows of this view's table (a batch of
    /// [`View::schema`]), exactly as they were when written: `View::row` of each must give the row
    /// back, and later parts must add to it as to the original. A view that implements it restarts
    /// from its own table (reading only the groups a new epoch changes) and lets groups leave
    /// memory; `None` (the default): it is recomputed from its input at every restart and keeps
    /// every group in memory.
    fn parts_of_rows(&self, _rows: &RecordBatch) -> Option<Vec<(Self::Key, Self::Part)>> {
        None
    }
    /// A key's row from the sum of all its parts; `None`: the key has no row.
    fn row(&self, key: &Self::Key, total: &Self::Part) -> Option<Self::Row>;
    /// The rows as a batch of [`View::schema`].
    fn to_batch(&self, rows: &[(&Self::Key, &Self::Row)]) -> RecordBatch;
}

/// A view over silver rows.
pub trait SilverView: View {
    /// The parts of one silver batch (pre-aggregate within the batch: one part per key per batch
    /// keeps the work proportional to keys, not rows).
    fn parts(&self, silver: &RecordBatch, out: &mut Vec<(Self::Key, Self::Part)>);
    /// The parts of one epoch's batches: by default each batch's [`SilverView::parts`], added up
    /// per key. Override it when a part is cheaper to make once per epoch than once per batch.
    fn epoch_parts(&self, silver: &[RecordBatch], out: &mut Vec<(Self::Key, Self::Part)>) {
        let mut parts = Vec::new();
        silver.iter().for_each(|b| self.parts(b, &mut parts));
        if silver.len() <= 1 {
            return out.append(&mut parts);
        }
        let mut summed: ahash::AHashMap<Self::Key, Self::Part> = ahash::AHashMap::new();
        for (key, part) in parts {
            match summed.entry(key) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(part);
                }
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    e.get_mut().plus_equals(&part)
                }
            }
        }
        out.extend(summed);
    }
}

/// Maintains a [`SilverView`] over a stream of silver batches.
pub trait Maintain<'s> {
    /// The view as a differential collection of keys whose differences are the parts: the view
    /// at a time is the collection accumulated to it (a key's row is [`View::row`] of its
    /// accumulated part). `restored` are silver rows committed before a restart (fed at time 0
    /// on this worker).
    fn maintain<V: SilverView>(
        self,
        view: Arc<V>,
        restored: Vec<RecordBatch>,
    ) -> VecCollection<'s, Time, V::Key, V::Part>;
}

impl<'s> Maintain<'s> for StreamVec<'s, Time, RecordBatch> {
    fn maintain<V: SilverView>(
        self,
        view: Arc<V>,
        restored: Vec<RecordBatch>,
    ) -> VecCollection<'s, Time, V::Key, V::Part> {
        let name = view.name().to_string();
        self.unary_frontier::<Vecs<(V::Key, Time, V::Part)>, _, _, _>(
            Pipeline,
            &format!("{name} parts"),
            move |cap, _info| {
                let mut restore = Some((cap, restored));
                let mut parts = Vec::new();
                let mut pending: EpochBuckets<RecordBatch> = EpochBuckets::new();
                move |(input, frontier), output| {
                    let port = output.output_index();
                    if let Some((cap, restored)) = restore.take() {
                        view.epoch_parts(&restored, &mut parts);
                        output
                            .session(&cap)
                            .give_iterator(parts.drain(..).map(|(key, part)| (key, 0, part)));
                    }
                    // An epoch's batches wait for the epoch to complete: its parts are made and
                    // added up once, one update per changed key.
                    input.for_each(|cap, data| {
                        let t = epoch_of(&cap);
                        pending.absorb(&cap, port, data, |_| t);
                    });
                    for (t, cap, batches) in pending.take_done(frontier) {
                        view.epoch_parts(&batches, &mut parts);
                        output
                            .session(&cap)
                            .give_iterator(parts.drain(..).map(|(key, part)| (key, t, part)));
                    }
                }
            },
        )
        .as_collection()
    }
}

/// A view as `run` takes it from a library user (object-safe): its table and how to build it on
/// the silver stream. Make one from any [`SilverView`] with [`custom_view`].
pub trait CustomView: Send + Sync + 'static {
    /// The view's table (name and schema).
    fn table(&self) -> TableSpec;
    /// Whether the view reads its aggregates back from its own table ([`View::parts_of_rows`]):
    /// it then restarts from its table and lets closed groups leave memory.
    fn restores_from_table(&self) -> bool {
        false
    }
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
    fn restores_from_table(&self) -> bool {
        restores_from_table(self.0.as_ref())
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

/// Whether `view` reads its aggregates back from its own table ([`View::parts_of_rows`]).
pub fn restores_from_table<V: View>(view: &V) -> bool {
    view.parts_of_rows(&RecordBatch::new_empty(view.schema()))
        .is_some()
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

/// Picked rows in Arrow's row format: the rows `picks` ((batch, row)) of `columns` (each batch's
/// columns, all of `converter`'s types), encoded in pick order.
pub(crate) fn encode_picked(
    converter: &arrow::row::RowConverter,
    columns: &[Vec<arrow::array::ArrayRef>],
    picks: &[(usize, usize)],
) -> arrow::row::Rows {
    let width = columns.first().map_or(0, Vec::len);
    let taken: Vec<arrow::array::ArrayRef> = (0..width)
        .map(|c| {
            let arrays: Vec<&dyn arrow::array::Array> =
                columns.iter().map(|b| b[c].as_ref()).collect();
            arrow::compute::interleave(&arrays, picks).expect("indices in range")
        })
        .collect();
    converter
        .convert_columns(&taken)
        .expect("the columns have the converter's types")
}

/// Rows in Arrow's row format (each encoded by `converter`) back as a batch of `schema`.
pub(crate) fn decode_rows<'a>(
    converter: &arrow::row::RowConverter,
    schema: &SchemaRef,
    rows: impl Iterator<Item = &'a [u8]>,
) -> RecordBatch {
    let parser = converter.parser();
    let columns = converter
        .convert_rows(rows.map(|r| parser.parse(r)))
        .expect("rows were encoded by this converter");
    RecordBatch::try_new(schema.clone(), columns).expect("decoded rows match the schema")
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

/// The least of the values present (`None` when neither is); the greatest is `a.max(b)`.
pub fn least_present(a: Option<OrdF64>, b: Option<OrdF64>) -> Option<OrdF64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) | (None, x) => x,
    }
}

/// A total order on `f64` (by `total_cmp`), so that floats can be differential data.
#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
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
