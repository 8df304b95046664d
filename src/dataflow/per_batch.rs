//! The per-batch work of a worker, before anything is exchanged: raw batch → bronze rows → parse →
//! quality rules → quarantine rows, silver candidates (with their dedup keys) and pre-aggregated
//! per-(rule, window) counts. Pure functions over one batch; no state, no I/O.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::{cast, filter_record_batch, take};
use arrow::datatypes::{DataType, TimestampMicrosecondType};

use crate::parse::{parse_bodies, FIELDS};
use crate::quality::{single_error_column, EvalContext, RuleSet};
use crate::sink::tables::{bronze_schema, quarantine_schema, silver_schema, ts_type};
use crate::source::RawBatch;

/// Hashed with ahash, not SipHash: the window counts take one entry per row.
type HashMap<K, V> = ahash::AHashMap<K, V>;

/// Resume positions that a batch must respect: rows at or below a table's committed position
/// for the batch's partition were already committed there and are dropped for that table.
#[derive(Debug, Clone, Copy, Default)]
pub struct SkipBelow {
    pub bronze: i64,
    pub silver: i64,
    pub quarantine: i64,
    pub quality: i64,
}

impl SkipBelow {
    /// Nothing committed yet: keep everything.
    pub const NONE: SkipBelow = SkipBelow {
        bronze: -1,
        silver: -1,
        quarantine: -1,
        quality: -1,
    };
}

/// A key identifying an event for deduplication: the UUID of `event_id` as a number, or a
/// 128-bit hash of any other `event_id` text.
pub type DedupKey = u128;

/// One silver candidate's identity for deduplication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub key: DedupKey,
    pub sequence_number: i64,
    /// Event time in ms (`None` when the event has none): drives state retirement.
    pub event_time_ms: Option<i64>,
}

/// Counts for one (rule, window): rule 0 is `parse`, rule `i + 1` is the rule set's rule `i`;
/// the window is the start of the event-time window in ms, `None` for events without a valid
/// event time.
pub type QualityKey = (u32, Option<i64>);

/// Everything one raw batch produced.
#[derive(Debug, Clone)]
pub struct Processed {
    pub partition: u32,
    pub first_seq: i64,
    pub last_seq: i64,
    pub events: usize,
    pub body_bytes: usize,
    pub ingest_ms: i64,
    /// When the batch's oldest and newest events became available ([`RawBatch::available_ms`];
    /// the processing time where unknown): end-to-end latency counts from them.
    pub available_ms: (i64, i64),
    pub bronze: Option<RecordBatch>,
    pub quarantine: Option<RecordBatch>,
    /// Silver candidates (before deduplication), with `candidates[i]` describing row `i`
    /// (rows without an `event_id` are not deduplicated and have no candidate entry: `None`).
    pub silver: Option<RecordBatch>,
    pub candidates: Vec<Option<Candidate>>,
    /// (rule, window) → (evaluated, failed), for this batch.
    pub quality: Vec<(QualityKey, (i64, i64))>,
    /// Why the batch could not be processed (then it carries no rows): the epoch is refused.
    pub error: Option<String>,
}

impl Processed {
    /// A batch of `partition` that could not be processed, and why.
    pub fn failed(partition: u32, error: String) -> Processed {
        Processed {
            partition,
            first_seq: -1,
            last_seq: -1,
            events: 0,
            body_bytes: 0,
            ingest_ms: 0,
            available_ms: (0, 0),
            bronze: None,
            quarantine: None,
            silver: None,
            candidates: Vec::new(),
            quality: Vec::new(),
            error: Some(error),
        }
    }
}

/// Settings of the processing stage.
#[derive(Clone)]
pub struct ProcessContext {
    pub rules: Arc<RuleSet>,
    pub eval: EvalContext,
    pub window_ms: i64,
}

/// When `raw`'s oldest and newest events became available, at most `ingest_ms` (when it is
/// processed, which stands in where the source and the feed left it unset).
fn available_span(raw: &RawBatch, ingest_ms: i64) -> (i64, i64) {
    match (raw.available_ms, raw.last_available_ms) {
        (0, _) => (ingest_ms, ingest_ms),
        (first, last) => {
            let first = first.min(ingest_ms);
            (first, last.clamp(first, ingest_ms))
        }
    }
}

/// Processes one raw batch. `skip` gives the committed positions for the batch's partition.
pub fn process_batch(
    raw: RawBatch,
    ctx: &ProcessContext,
    skip: SkipBelow,
    ingest_ms: i64,
) -> anyhow::Result<Processed> {
    let n = raw.len();
    let seqs = &raw.sequence_numbers;
    let first_seq = seqs.first().copied().unwrap_or(-1);
    let last_seq = seqs.last().copied().unwrap_or(-1);
    // Sequence numbers within a batch are contiguous and ascending: "below" is a prefix.
    let keep_from = |pos: i64| -> usize { seqs.partition_point(|&s| s <= pos) };
    let bronze_from = keep_from(skip.bronze);
    let quality_from = keep_from(skip.quality);
    let silver_from = keep_from(skip.silver);
    let quarantine_from = keep_from(skip.quarantine);
    let body_bytes = raw.body_bytes();
    let partition = raw.partition;
    let available_ms = available_span(&raw, ingest_ms);

    let bronze_all = bronze_batch(raw, ingest_ms)?;
    let bronze = Some(bronze_all.slice(bronze_from, n - bronze_from)).filter(|b| b.num_rows() > 0);
    let bodies = bronze_all.column(0).as_binary::<i32>();
    let parsed = parse_bodies(bodies.iter().map(|b| b.unwrap_or_default()));

    let mut quality: HashMap<QualityKey, (i64, i64)> = HashMap::new();
    let counted_failures = parsed
        .failures
        .iter()
        .filter(|f| f.index as usize >= quality_from)
        .count() as i64;
    if n > quality_from {
        quality.insert((0, None), ((n - quality_from) as i64, counted_failures));
    }

    let bronze_rows = BronzeRows(&bronze_all);
    let mut quarantine_parts: Vec<RecordBatch> = Vec::new();
    // Parse failures → quarantine with the parse error as the only `_errors` entry.
    if let Some(rows) = parse_failures(&parsed, quarantine_from, &bronze_rows, ctx)? {
        quarantine_parts.push(rows);
    }

    let mut silver = None;
    let mut candidates = Vec::new();
    let rows = parsed.batch.num_rows();
    if rows > 0 {
        let batch = &parsed.batch;
        let eval = ctx.rules.evaluate(batch, &ctx.eval)?;
        let event_time = cast(
            batch
                .column_by_name("event_time")
                .expect("event_time column"),
            &ts_type(),
        )?;
        let event_time = event_time
            .as_primitive::<TimestampMicrosecondType>()
            .clone();

        // Pre-aggregated counts per (rule, window): one update per rule and window per batch.
        let counted: Vec<bool> = parsed
            .rows
            .iter()
            .map(|&r| r as usize >= quality_from)
            .collect();
        count_rules(
            &eval.fired,
            &eval.evaluated,
            &event_time,
            &counted,
            ctx.window_ms,
            &mut quality,
        );

        // Route: error rows → quarantine, the rest → silver candidates.
        let has_error = &eval.has_error;
        let to_quarantine: BooleanArray = (0..rows)
            .map(|i| Some(has_error.value(i) && parsed.rows[i] as usize >= quarantine_from))
            .collect();
        let to_silver: BooleanArray = (0..rows)
            .map(|i| Some(!has_error.value(i) && parsed.rows[i] as usize >= silver_from))
            .collect();

        if to_quarantine.true_count() > 0 {
            let idx: Vec<u32> = (0..rows)
                .filter(|&i| to_quarantine.value(i))
                .map(|i| parsed.rows[i])
                .collect();
            let mut cols: Vec<ArrayRef> = vec![bronze_rows.bodies(&idx)?];
            for c in batch.columns() {
                cols.push(arrow::compute::filter(c.as_ref(), &to_quarantine)?);
            }
            cols.push(arrow::compute::filter(
                eval.errors.as_ref(),
                &to_quarantine,
            )?);
            cols.push(arrow::compute::filter(
                eval.warnings.as_ref(),
                &to_quarantine,
            )?);
            cols.extend(bronze_rows.lineage(&idx)?);
            quarantine_parts.push(RecordBatch::try_new(quarantine_schema(), cols)?);
        }
        if to_silver.true_count() > 0 {
            let idx: Vec<u32> = (0..rows)
                .filter(|&i| to_silver.value(i))
                .map(|i| parsed.rows[i])
                .collect();
            let mut cols: Vec<ArrayRef> = Vec::with_capacity(FIELDS.len() + 5);
            for (c, (name, _)) in batch.columns().iter().zip(FIELDS.iter()) {
                if *name == "event_time" {
                    cols.push(arrow::compute::filter(&event_time, &to_silver)?);
                } else {
                    cols.push(arrow::compute::filter(c.as_ref(), &to_silver)?);
                }
            }
            cols.push(arrow::compute::filter(eval.warnings.as_ref(), &to_silver)?);
            cols.extend(bronze_rows.lineage(&idx)?);
            let sb = RecordBatch::try_new(silver_schema(), cols)?;
            candidates = candidates_of(&sb);
            silver = Some(sb);
        }
    }

    let quarantine = match quarantine_parts.len() {
        0 => None,
        1 => quarantine_parts.pop(),
        _ => Some(arrow::compute::concat_batches(
            &quarantine_schema(),
            &quarantine_parts,
        )?),
    };
    let mut quality: Vec<_> = quality.into_iter().collect();
    quality.sort_unstable_by_key(|(k, _)| *k);
    Ok(Processed {
        partition,
        first_seq,
        last_seq,
        events: n,
        body_bytes,
        ingest_ms,
        available_ms,
        bronze,
        quarantine,
        silver,
        candidates,
        quality,
        error: None,
    })
}

/// The bronze rows of a batch, from which quarantine and silver rows take their bodies and
/// lineage columns.
struct BronzeRows<'a>(&'a RecordBatch);

impl BronzeRows<'_> {
    /// The lineage columns (partition, sequence number, enqueued and ingest time) of `rows`.
    fn lineage(&self, rows: &[u32]) -> anyhow::Result<Vec<ArrayRef>> {
        let idx = UInt32Array::from(rows.to_vec());
        Ok(vec![
            take(self.0.column(1).as_ref(), &idx, None)?,
            take(self.0.column(2).as_ref(), &idx, None)?,
            take(self.0.column(4).as_ref(), &idx, None)?,
            take(self.0.column(6).as_ref(), &idx, None)?,
        ])
    }

    /// The bodies of `rows`.
    fn bodies(&self, rows: &[u32]) -> anyhow::Result<ArrayRef> {
        Ok(take(
            self.0.column(0).as_ref(),
            &UInt32Array::from(rows.to_vec()),
            None,
        )?)
    }
}

/// The quarantine rows of the bodies that did not parse (from row `from` on), each with the
/// parse error as its only `_errors` entry.
fn parse_failures(
    parsed: &crate::parse::ParsedBatch,
    from: usize,
    bronze: &BronzeRows,
    ctx: &ProcessContext,
) -> anyhow::Result<Option<RecordBatch>> {
    let failures: Vec<_> = parsed
        .failures
        .iter()
        .filter(|f| f.index as usize >= from)
        .collect();
    if failures.is_empty() {
        return Ok(None);
    }
    let rows: Vec<u32> = failures.iter().map(|f| f.index).collect();
    let messages: Vec<&str> = failures.iter().map(|f| f.message.as_str()).collect();
    let k = rows.len();
    let schema = quarantine_schema();
    let mut cols: Vec<ArrayRef> = vec![bronze.bodies(&rows)?];
    for f in FIELDS.iter() {
        let dt = schema.field_with_name(f.0)?.data_type().clone();
        cols.push(arrow::array::new_null_array(&dt, k));
    }
    cols.push(single_error_column(&messages, &ctx.eval));
    cols.push(arrow::array::new_null_array(
        &crate::quality::dqx_result_type(),
        k,
    ));
    cols.extend(bronze.lineage(&rows)?);
    Ok(Some(RecordBatch::try_new(schema, cols)?))
}

/// The dedup candidate of each silver row (`None`: no `event_id`).
fn candidates_of(silver: &RecordBatch) -> Vec<Option<Candidate>> {
    let ids = silver.column(0).as_string::<i32>();
    let times = silver.column(2).as_primitive::<TimestampMicrosecondType>();
    let seq_col = silver
        .column(FIELDS.len() + 2)
        .as_primitive::<arrow::datatypes::Int64Type>();
    (0..silver.num_rows())
        .map(|i| {
            (!ids.is_null(i)).then(|| Candidate {
                key: dedup_key(ids.value(i)),
                sequence_number: seq_col.value(i),
                event_time_ms: (!times.is_null(i)).then(|| times.value(i) / 1000),
            })
        })
        .collect()
}

/// Adds each rule's evaluated / failed counts per event-time window to `out`. The rows of the
/// most common window are counted with bitmap operations; the few others (late events) row by row.
fn count_rules(
    fired: &[BooleanArray],
    evaluated: &[Option<BooleanArray>],
    event_time: &TimestampMicrosecondArray,
    counted: &[bool],
    window_ms: i64,
    out: &mut HashMap<QualityKey, (i64, i64)>,
) {
    let rows = counted.len();
    let window_of = |i: usize| -> Option<i64> {
        (!event_time.is_null(i))
            .then(|| (event_time.value(i) / 1000).div_euclid(window_ms) * window_ms)
    };
    let windows: Vec<Option<i64>> = (0..rows).map(window_of).collect();
    let mut freq: HashMap<Option<i64>, usize> = HashMap::new();
    for (w, c) in windows.iter().zip(counted) {
        if *c {
            *freq.entry(*w).or_default() += 1;
        }
    }
    let Some((&main, _)) = freq
        .iter()
        .max_by_key(|(w, n)| (**n, std::cmp::Reverse(**w)))
    else {
        return;
    };
    let in_main: BooleanArray = (0..rows)
        .map(|i| Some(counted[i] && windows[i] == main))
        .collect();
    for (r, f) in fired.iter().enumerate() {
        let key = (r as u32 + 1, main);
        let ev_mask = match &evaluated[r] {
            Some(m) => arrow::compute::and(m, &in_main).expect("same length"),
            None => in_main.clone(),
        };
        let e = ev_mask.true_count() as i64;
        let x = arrow::compute::and(f, &ev_mask)
            .expect("same length")
            .true_count() as i64;
        if e > 0 || x > 0 {
            let slot = out.entry(key).or_default();
            slot.0 += e;
            slot.1 += x;
        }
    }
    for i in 0..rows {
        if !counted[i] || windows[i] == main {
            continue;
        }
        for (r, f) in fired.iter().enumerate() {
            let ev = evaluated[r].as_ref().is_none_or(|m| m.value(i));
            if ev {
                let slot = out.entry((r as u32 + 1, windows[i])).or_default();
                slot.0 += 1;
                slot.1 += f.value(i) as i64;
            }
        }
    }
}

/// Builds the bronze rows of a raw batch (all of them; the caller slices off committed ones).
pub fn bronze_batch(raw: RawBatch, ingest_ms: i64) -> anyhow::Result<RecordBatch> {
    let n = raw.len();
    let offsets: Vec<i32> = raw
        .body_offsets
        .iter()
        .map(|&o| i32::try_from(o))
        .collect::<Result<_, _>>()?;
    let body = BinaryArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(offsets)),
        Buffer::from_vec(raw.bodies),
        None,
    )?;
    let ts = |v: &[i64]| -> ArrayRef {
        Arc::new(
            TimestampMicrosecondArray::from(v.iter().map(|ms| ms * 1000).collect::<Vec<_>>())
                .with_timezone("UTC"),
        )
    };
    let ingest = vec![ingest_ms; n];
    let partition_keys = raw
        .partition_keys
        .into_array()
        .ok_or_else(|| anyhow::anyhow!("the batch's partition keys exceed 2 GiB"))?;
    let cols: Vec<ArrayRef> = vec![
        Arc::new(body),
        Arc::new(Int32Array::from(vec![raw.partition as i32; n])),
        Arc::new(Int64Array::from(raw.sequence_numbers)),
        Arc::new(offset_strings(&raw.offsets)),
        ts(&raw.enqueued_time_ms),
        Arc::new(partition_keys),
        ts(&ingest),
    ];
    Ok(RecordBatch::try_new(bronze_schema(), cols)?)
}

/// Offsets as decimal strings (the `offset` column is a string, as Event Hubs offsets are),
/// written straight into one buffer.
fn offset_strings(offsets: &[i64]) -> StringArray {
    use std::fmt::Write;
    let mut b = arrow::array::StringBuilder::with_capacity(offsets.len(), offsets.len() * 10);
    for o in offsets {
        write!(b, "{o}").expect("writing to memory does not fail");
        b.append_value("");
    }
    b.finish()
}

/// The dedup key of an `event_id`: its UUID value when it is one, else a 128-bit FNV-1a hash of
/// the text (a collision with another id is as unlikely as a UUID collision).
pub fn dedup_key(event_id: &str) -> DedupKey {
    if let Some(u) = parse_uuid(event_id.as_bytes()) {
        return u;
    }
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in event_id.as_bytes() {
        h ^= *b as u128;
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    h
}

fn parse_uuid(s: &[u8]) -> Option<u128> {
    if s.len() != 36 || s[8] != b'-' || s[13] != b'-' || s[18] != b'-' || s[23] != b'-' {
        return None;
    }
    let mut v: u128 = 0;
    for (i, &c) in s.iter().enumerate() {
        if matches!(i, 8 | 13 | 18 | 23) {
            continue;
        }
        let d = (c as char).to_digit(16)? as u128;
        v = (v << 4) | d;
    }
    Some(v)
}

/// Filters `batch` with a boolean mask.
pub fn filter_rows(batch: &RecordBatch, mask: &BooleanArray) -> anyhow::Result<RecordBatch> {
    Ok(filter_record_batch(batch, mask)?)
}

/// The `DataType` of silver's event_time (for users composing their own stages).
pub fn event_time_type() -> DataType {
    ts_type()
}
