//! The per-station views over silver: [`StationLatest`] (each station's newest reading, all silver
//! columns) and [`StationHourly`] (per station and UTC hour: readings, temperature min/max/avg,
//! precipitation total, maximum wind speed). Both take late and out-of-order rows: a late reading
//! corrects its hour, and an old reading never replaces a newer one.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, SchemaRef, TimestampMicrosecondType,
};
use arrow::row::{RowConverter, SortField};
use serde::{Deserialize, Serialize};

use differential_dataflow::difference::{IsZero, Semigroup};

use super::exact_sum::add_term;
use super::{least_present, sum_present, ExactSum, OrdF64, SilverView, View};
use crate::sink::tables::{silver_schema, ts_type};

/// How many keys an epoch's part map is made for: one per row (at low rates nearly every row is
/// its station's only one), up to 16K (a large epoch holds many rows per station). Growing the
/// map from empty rehashed every entry several times an epoch.
fn epoch_keys(silver: &[RecordBatch]) -> usize {
    silver
        .iter()
        .map(RecordBatch::num_rows)
        .sum::<usize>()
        .min(1 << 14)
}

/// Number of files the station views spread their rows over (by station hash): `station_latest`
/// in all, `station_hourly` per hour. Several, so that the workers share the writing.
pub const STATION_FILE_GROUPS: u64 = 4;

/// The first weather silver column (with its type) that `event` lacks: the station views read
/// them by name.
pub fn weather_column_missing(event: &crate::event::EventSchema) -> Option<String> {
    let have = event.silver_fields();
    crate::event::EventSchema::weather()
        .silver_fields()
        .iter()
        .find(|f| {
            !have
                .iter()
                .any(|h| h.name() == f.name() && h.data_type() == f.data_type())
        })
        .map(|f| format!("'{}' ({})", f.name(), f.data_type()))
}

/// One microsecond-hour.
pub const HOUR_US: i64 = 3_600_000_000;

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> &'a arrow::array::StringArray {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("silver has a {name} column"))
        .as_string::<i32>()
}

fn times<'a>(batch: &'a RecordBatch, name: &str) -> &'a TimestampMicrosecondArray {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("silver has a {name} column"))
        .as_primitive::<TimestampMicrosecondType>()
}

fn floats<'a>(batch: &'a RecordBatch, name: &str) -> &'a Float64Array {
    batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("silver has a {name} column"))
        .as_primitive::<Float64Type>()
}

/// A station's newest silver row: ordered by (`event_time`, `event_id`), then the whole silver row
/// in Arrow's row format. The id and the row are one shared allocation: making a row costs one,
/// and differential's many copies of it none.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatestRow {
    pub event_time: Option<i64>,
    /// `event_id`'s bytes, then the row's.
    bytes: Shared<[u8]>,
    /// Length of the `event_id` in `bytes`; `None`: the row has none.
    id_len: Option<u32>,
}

impl LatestRow {
    /// The row of `event_time`, `event_id` and `row` (put together in `scratch` first, then copied
    /// into the shared allocation at once; collecting the bytes into it one by one cost more).
    pub fn new(
        event_time: Option<i64>,
        event_id: Option<&str>,
        row: &[u8],
        scratch: &mut Vec<u8>,
    ) -> Self {
        scratch.clear();
        scratch.extend_from_slice(event_id.unwrap_or_default().as_bytes());
        scratch.extend_from_slice(row);
        LatestRow {
            event_time,
            bytes: Shared(Arc::from(&scratch[..])),
            id_len: event_id.map(|id| u32::try_from(id.len()).expect("an id under 4 GiB")),
        }
    }

    /// The `event_id`'s bytes (compared as bytes, which orders them as strings).
    fn id(&self) -> Option<&[u8]> {
        self.id_len.map(|n| &self.bytes[..n as usize])
    }

    /// The silver row in Arrow's row format.
    pub fn row(&self) -> &[u8] {
        &self.bytes[self.id_len.unwrap_or(0) as usize..]
    }

    fn order_key(&self) -> (Option<i64>, Option<&[u8]>, &[u8]) {
        (self.event_time, self.id(), self.row())
    }
}

impl PartialEq for LatestRow {
    fn eq(&self, other: &Self) -> bool {
        self.order_key() == other.order_key()
    }
}

impl Eq for LatestRow {}

impl PartialOrd for LatestRow {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for LatestRow {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.order_key().cmp(&other.order_key())
    }
}

impl std::hash::Hash for LatestRow {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.order_key().hash(state);
    }
}

/// An immutable shared value that compares, hashes and (de)serialises as its contents.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shared<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T: ?Sized> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized + Serialize> Serialize for Shared<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (*self.0).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Shared<str> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| Shared(Arc::from(s)))
    }
}

impl<'de> Deserialize<'de> for Shared<[u8]> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<u8>::deserialize(d).map(|v| Shared(Arc::from(v)))
    }
}

/// A station id as a view key: an id of up to 15 bytes is kept inline (no allocation; compared
/// as one 128-bit integer), a longer one is shared. The order is total and consistent (inline ids
/// first), which is all differential needs; tables are written in any order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StationKey {
    /// The id's bytes, zero-padded, with its length in the last byte.
    Inline([u8; 16]),
    Long(Shared<str>),
}

impl StationKey {
    pub fn new(id: &str) -> Self {
        let n = id.len();
        if n <= 15 {
            let mut bytes = [0u8; 16];
            bytes[..n].copy_from_slice(id.as_bytes());
            bytes[15] = n as u8;
            StationKey::Inline(bytes)
        } else {
            StationKey::Long(Shared(Arc::from(id)))
        }
    }

    /// The station's group of `n` (by a hash that is the same in every process).
    pub fn group(&self, n: u64) -> u64 {
        use differential_dataflow::hashable::Hashable;
        self.as_str().hashed() % n
    }

    pub fn as_str(&self) -> &str {
        match self {
            StationKey::Inline(bytes) => {
                std::str::from_utf8(&bytes[..bytes[15] as usize]).expect("made from a str")
            }
            StationKey::Long(s) => s,
        }
    }
}

impl Ord for StationKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (self, other) {
            (StationKey::Inline(a), StationKey::Inline(b)) => {
                u128::from_be_bytes(*a).cmp(&u128::from_be_bytes(*b))
            }
            (StationKey::Inline(_), StationKey::Long(_)) => Ordering::Less,
            (StationKey::Long(_), StationKey::Inline(_)) => Ordering::Greater,
            (StationKey::Long(a), StationKey::Long(b)) => a.cmp(b),
        }
    }
}

impl PartialOrd for StationKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for StationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for StationKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_str().serialize(s)
    }
}

impl<'de> Deserialize<'de> for StationKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| StationKey::new(&s))
    }
}

/// `station_latest`: per `station_id`, the silver row with the greatest (`event_time`,
/// `event_id`), with all silver columns.
pub struct StationLatest {
    converter: RowConverter,
    schema: SchemaRef,
}

impl Default for StationLatest {
    fn default() -> Self {
        let schema = silver_schema();
        let fields = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        StationLatest {
            converter: RowConverter::new(fields).expect("silver columns have a row format"),
            schema,
        }
    }
}

impl View for StationLatest {
    type Key = StationKey;
    type Row = LatestRow;
    /// The newest row among the parts.
    type Part = LatestRow;
    fn name(&self) -> &str {
        "station_latest"
    }
    fn row(&self, _key: &StationKey, newest: &LatestRow) -> Option<LatestRow> {
        Some(newest.clone())
    }
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn file_group(&self, key: &StationKey) -> u64 {
        key.group(STATION_FILE_GROUPS)
    }
    /// Each row of the table is a station's newest silver row, as it is.
    fn parts_of_rows(&self, rows: &RecordBatch) -> Option<Vec<(StationKey, LatestRow)>> {
        let columns: Vec<ArrayRef> = self
            .schema
            .fields()
            .iter()
            .map(|f| rows.column_by_name(f.name()).cloned())
            .collect::<Option<_>>()?;
        let encoded = self.converter.convert_columns(&columns).ok()?;
        let mut scratch = Vec::new();
        let (stations, ids, event_times) = (
            strings(rows, "station_id"),
            strings(rows, "event_id"),
            times(rows, "event_time"),
        );
        Some(
            (0..rows.num_rows())
                .filter(|&i| !stations.is_null(i))
                .map(|i| {
                    (
                        StationKey::new(stations.value(i)),
                        LatestRow::new(
                            (!event_times.is_null(i)).then(|| event_times.value(i)),
                            (!ids.is_null(i)).then(|| ids.value(i)),
                            encoded.row(i).as_ref(),
                            &mut scratch,
                        ),
                    )
                })
                .collect(),
        )
    }
    fn to_batch(&self, rows: &[(&StationKey, &LatestRow)]) -> RecordBatch {
        super::decode_rows(
            &self.converter,
            &self.schema,
            rows.iter().map(|(_, r)| r.row()),
        )
    }
}

impl SilverView for StationLatest {
    fn parts(&self, silver: &RecordBatch, out: &mut Vec<(StationKey, LatestRow)>) {
        self.epoch_parts(std::slice::from_ref(silver), out)
    }
    /// Finds each station's newest row over all the batches first, and encodes only those.
    fn epoch_parts(&self, silver: &[RecordBatch], out: &mut Vec<(StationKey, LatestRow)>) {
        let columns: Vec<_> = silver
            .iter()
            .map(|b| {
                (
                    strings(b, "station_id"),
                    strings(b, "event_id"),
                    times(b, "event_time"),
                )
            })
            .collect();
        let key_of = |(b, i): (usize, usize)| {
            let (_, ids, event_times) = columns[b];
            (
                (!event_times.is_null(i)).then(|| event_times.value(i)),
                (!ids.is_null(i)).then(|| ids.value(i)),
            )
        };
        let mut best: ahash::AHashMap<&str, (usize, usize)> =
            ahash::AHashMap::with_capacity(epoch_keys(silver));
        for (b, (stations, _, _)) in columns.iter().enumerate() {
            for i in 0..stations.len() {
                if stations.is_null(i) {
                    continue;
                }
                best.entry(stations.value(i))
                    .and_modify(|w| {
                        if key_of((b, i)) > key_of(*w) {
                            *w = (b, i);
                        }
                    })
                    .or_insert((b, i));
            }
        }
        if best.is_empty() {
            return;
        }
        let winners: Vec<(usize, usize)> = best.values().copied().collect();
        let batches: Vec<Vec<ArrayRef>> = silver.iter().map(|b| b.columns().to_vec()).collect();
        let encoded = super::encode_picked(&self.converter, &batches, &winners);
        let mut scratch = Vec::new();
        for (n, (&station, &w)) in best.iter().enumerate() {
            let (event_time, event_id) = key_of(w);
            out.push((
                StationKey::new(station),
                LatestRow::new(event_time, event_id, encoded.row(n).as_ref(), &mut scratch),
            ));
        }
    }
}

/// Rows add up to the newest of them (by event time, then `event_id`).
impl IsZero for LatestRow {
    fn is_zero(&self) -> bool {
        false
    }
}

impl Semigroup for LatestRow {
    fn plus_equals(&mut self, other: &LatestRow) {
        if *other > *self {
            *self = other.clone();
        }
    }
}

/// Aggregates of one station-hour (also the part one batch contributes).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HourlyAggregate {
    pub readings: i64,
    pub temp_count: i64,
    /// Exact, so that averages do not depend on where epochs end.
    pub temp_sum: Option<ExactSum>,
    pub temp_min: Option<OrdF64>,
    pub temp_max: Option<OrdF64>,
    pub precip_total: Option<ExactSum>,
    pub wind_max: Option<OrdF64>,
}

impl HourlyAggregate {
    /// Adds one reading (temperature, precipitation, wind speed; each may be missing).
    pub fn add_reading(&mut self, temp: Option<f64>, precip: Option<f64>, wind: Option<f64>) {
        self.readings += 1;
        if let Some(t) = temp {
            self.temp_count += 1;
            self.temp_sum = add_term(self.temp_sum, t);
            self.temp_min = least_present(self.temp_min, Some(OrdF64(t)));
            self.temp_max = self.temp_max.max(Some(OrdF64(t)));
        }
        if let Some(p) = precip {
            self.precip_total = add_term(self.precip_total, p);
        }
        if let Some(w) = wind {
            self.wind_max = self.wind_max.max(Some(OrdF64(w)));
        }
    }

    /// Average temperature (of readings that have one).
    pub fn temp_avg(&self) -> Option<f64> {
        (self.temp_count > 0)
            .then(|| self.temp_sum.map_or(0.0, |s| s.value()) / self.temp_count as f64)
    }
}

/// Aggregates add up (counts and sums add, minima and maxima are kept); the empty aggregate is
/// zero.
impl IsZero for HourlyAggregate {
    fn is_zero(&self) -> bool {
        *self == HourlyAggregate::default()
    }
}

impl Semigroup for HourlyAggregate {
    fn plus_equals(&mut self, other: &HourlyAggregate) {
        self.readings += other.readings;
        self.temp_count += other.temp_count;
        self.temp_sum = sum_present(self.temp_sum, other.temp_sum);
        self.temp_min = least_present(self.temp_min, other.temp_min);
        self.temp_max = self.temp_max.max(other.temp_max);
        self.precip_total = sum_present(self.precip_total, other.precip_total);
        self.wind_max = self.wind_max.max(other.wind_max);
    }
}

/// The UTC hour start (µs) of a timestamp in µs.
pub fn hour_of(ts_us: i64) -> i64 {
    ts_us.div_euclid(HOUR_US) * HOUR_US
}

/// `station_hourly`: per `station_id` and `hour` (UTC hour start): `readings`, `temp_min`,
/// `temp_max`, `temp_avg`, `precip_total`, `wind_max`, and what continues the aggregate exactly
/// after a restart: `temp_count` (readings with a temperature) and the exact sums `_temp_sum`,
/// `_precip_sum` ([`ExactSum::to_bytes`]). [`STATION_FILE_GROUPS`] files per hour.
#[derive(Default)]
pub struct StationHourly;

/// The `station_hourly` schema.
pub fn station_hourly_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("station_id", DataType::Utf8, false),
        Field::new("hour", ts_type(), false),
        Field::new("readings", DataType::Int64, false),
        Field::new("temp_min", DataType::Float64, true),
        Field::new("temp_max", DataType::Float64, true),
        Field::new("temp_avg", DataType::Float64, true),
        Field::new("precip_total", DataType::Float64, true),
        Field::new("wind_max", DataType::Float64, true),
        Field::new("temp_count", DataType::Int64, true),
        Field::new("_temp_sum", DataType::Binary, true),
        Field::new("_precip_sum", DataType::Binary, true),
    ]))
}

impl View for StationHourly {
    type Key = (StationKey, i64);
    type Row = HourlyAggregate;
    type Part = HourlyAggregate;
    fn name(&self) -> &str {
        "station_hourly"
    }
    fn row(&self, _key: &(StationKey, i64), total: &HourlyAggregate) -> Option<HourlyAggregate> {
        (total.readings > 0).then(|| total.clone())
    }
    fn schema(&self) -> SchemaRef {
        station_hourly_schema()
    }
    fn file_group(&self, key: &(StationKey, i64)) -> u64 {
        (key.1.div_euclid(HOUR_US) as u64)
            .wrapping_mul(STATION_FILE_GROUPS)
            .wrapping_add(key.0.group(STATION_FILE_GROUPS))
    }
    /// A group's hour closes at the hour's end.
    fn group_closes_at(&self, group: u64) -> Option<i64> {
        let hour = (group as i64).div_euclid(STATION_FILE_GROUPS as i64);
        Some((hour + 1).saturating_mul(HOUR_US / 1000))
    }
    fn parts_of_rows(
        &self,
        rows: &RecordBatch,
    ) -> Option<Vec<((StationKey, i64), HourlyAggregate)>> {
        let int = |name| rows.column_by_name(name)?.as_primitive_opt::<Int64Type>();
        let float = |name| rows.column_by_name(name)?.as_primitive_opt::<Float64Type>();
        let binary = |name| rows.column_by_name(name)?.as_binary_opt::<i32>();
        let (stations, hours) = (
            rows.column_by_name("station_id")?.as_string_opt::<i32>()?,
            rows.column_by_name("hour")?
                .as_primitive_opt::<TimestampMicrosecondType>()?,
        );
        let (readings, temp_count) = (int("readings")?, int("temp_count")?);
        let (temp_min, temp_max, wind_max) =
            (float("temp_min")?, float("temp_max")?, float("wind_max")?);
        let (temp_sum, precip_sum): (&BinaryArray, &BinaryArray) =
            (binary("_temp_sum")?, binary("_precip_sum")?);
        let ord = |a: &Float64Array, i: usize| (!a.is_null(i)).then(|| OrdF64(a.value(i)));
        let sum = |a: &BinaryArray, i: usize| {
            if a.is_null(i) {
                Some(None)
            } else {
                ExactSum::from_bytes(a.value(i)).map(Some)
            }
        };
        let mut out = Vec::with_capacity(rows.num_rows());
        for i in 0..rows.num_rows() {
            if temp_count.is_null(i) {
                return None; // a row from before the exact state was stored
            }
            out.push((
                (StationKey::new(stations.value(i)), hours.value(i)),
                HourlyAggregate {
                    readings: readings.value(i),
                    temp_count: temp_count.value(i),
                    temp_sum: sum(temp_sum, i)?,
                    temp_min: ord(temp_min, i),
                    temp_max: ord(temp_max, i),
                    precip_total: sum(precip_sum, i)?,
                    wind_max: ord(wind_max, i),
                },
            ));
        }
        Some(out)
    }
    fn to_batch(&self, rows: &[(&(StationKey, i64), &HourlyAggregate)]) -> RecordBatch {
        let f = |g: &dyn Fn(&HourlyAggregate) -> Option<f64>| -> ArrayRef {
            Arc::new(Float64Array::from_iter(rows.iter().map(|(_, r)| g(r))))
        };
        RecordBatch::try_new(
            station_hourly_schema(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    rows.iter().map(|(k, _)| k.0.as_str()),
                )),
                Arc::new(
                    TimestampMicrosecondArray::from_iter_values(rows.iter().map(|(k, _)| k.1))
                        .with_timezone("UTC"),
                ),
                Arc::new(Int64Array::from_iter_values(
                    rows.iter().map(|(_, r)| r.readings),
                )),
                f(&|r| r.temp_min.map(|x| x.0)),
                f(&|r| r.temp_max.map(|x| x.0)),
                f(&|r| r.temp_avg()),
                f(&|r| r.precip_total.map(|x| x.value())),
                f(&|r| r.wind_max.map(|x| x.0)),
                Arc::new(Int64Array::from_iter(
                    rows.iter().map(|(_, r)| Some(r.temp_count)),
                )),
                Arc::new(BinaryArray::from_iter(
                    rows.iter().map(|(_, r)| r.temp_sum.map(|s| s.to_bytes())),
                )),
                Arc::new(BinaryArray::from_iter(
                    rows.iter()
                        .map(|(_, r)| r.precip_total.map(|s| s.to_bytes())),
                )),
            ],
        )
        .expect("station_hourly rows match the schema")
    }
}

impl SilverView for StationHourly {
    fn parts(&self, silver: &RecordBatch, out: &mut Vec<((StationKey, i64), HourlyAggregate)>) {
        self.epoch_parts(std::slice::from_ref(silver), out)
    }
    /// One aggregate per station-hour over all the batches.
    fn epoch_parts(
        &self,
        silver: &[RecordBatch],
        out: &mut Vec<((StationKey, i64), HourlyAggregate)>,
    ) {
        let value = |a: &Float64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
        let mut groups: ahash::AHashMap<(&str, i64), HourlyAggregate> =
            ahash::AHashMap::with_capacity(epoch_keys(silver));
        for batch in silver {
            let stations = strings(batch, "station_id");
            let event_times = times(batch, "event_time");
            let temp = floats(batch, "temperature_c");
            let precip = floats(batch, "precip_mm");
            let wind = floats(batch, "wind_speed_ms");
            for i in 0..batch.num_rows() {
                if stations.is_null(i) || event_times.is_null(i) {
                    continue;
                }
                groups
                    .entry((stations.value(i), hour_of(event_times.value(i))))
                    .or_default()
                    .add_reading(value(temp, i), value(precip, i), value(wind, i));
            }
        }
        out.extend(
            groups
                .into_iter()
                .map(|((s, h), agg)| ((StationKey::new(s), h), agg)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::LatestRow;
    use rand::{Rng, SeedableRng};

    /// One allocation for id and row orders, compares and hashes exactly as the triple did.
    #[test]
    fn a_latest_row_orders_as_its_time_id_and_row() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(26);
        let pick = |rng: &mut rand_chacha::ChaCha8Rng| {
            let text = |rng: &mut rand_chacha::ChaCha8Rng, n| -> Vec<u8> {
                (0..rng.random_range(0..n))
                    .map(|_| rng.random_range(b'a'..=b'c'))
                    .collect()
            };
            let time = rng.random_bool(0.8).then(|| rng.random_range(-2..3));
            let id = rng
                .random_bool(0.8)
                .then(|| String::from_utf8(text(rng, 4)).unwrap());
            let row = text(rng, 4);
            (time, id, row)
        };
        let hash = |r: &LatestRow| {
            use std::hash::{BuildHasher, RandomState};
            thread_local!(static STATE: RandomState = RandomState::new());
            STATE.with(|s| s.hash_one(r))
        };
        for _ in 0..20_000 {
            let (a, b) = (pick(&mut rng), pick(&mut rng));
            let scratch = &mut Vec::new();
            let (ra, rb) = (
                LatestRow::new(a.0, a.1.as_deref(), &a.2, scratch),
                LatestRow::new(b.0, b.1.as_deref(), &b.2, scratch),
            );
            assert_eq!(ra.cmp(&rb), a.cmp(&b), "{a:?} against {b:?}");
            assert_eq!(ra == rb, a == b);
            assert_eq!(ra.row(), &a.2[..]);
            if a == b {
                assert_eq!(hash(&ra), hash(&rb));
            }
        }
    }
}
