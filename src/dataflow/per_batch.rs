//! The per-batch work of a worker, before anything is exchanged: raw batch → bronze rows → parse →
//! quality rules → quarantine rows, silver candidates (with their dedup keys) and pre-aggregated
//! per-(rule, window) counts. Pure functions over one batch; no state, no I/O.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Int32Array, Int64Array, RecordBatch,
    StringArray, TimestampMicrosecondArray, UInt32Array,
};
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use arrow::compute::{filter_record_batch, take};
use arrow::datatypes::{DataType, SchemaRef, TimestampMicrosecondType};

use crate::event::{convert, EventSchema};
use crate::quality::{single_error_column, EvalContext, RuleSet};
use crate::sink::tables::{
    bronze_schema, quarantine_schema_for, silver_schema_for, ts_type, SilverKeyColumns, SilverRoles,
};
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

pub use crate::event::{dedup_key, dedup_key_of_integer, DedupKey};

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
    /// The event the bodies carry, and the schemas it gives silver and quarantine.
    pub event: Arc<EventSchema>,
    silver: SchemaRef,
    quarantine: SchemaRef,
    roles: SilverRoles,
}

impl ProcessContext {
    /// The processing settings of `event`'s pipeline.
    pub fn new(
        rules: Arc<RuleSet>,
        eval: EvalContext,
        window_ms: i64,
        event: Arc<EventSchema>,
    ) -> ProcessContext {
        ProcessContext {
            rules,
            eval,
            window_ms,
            silver: silver_schema_for(&event),
            quarantine: quarantine_schema_for(&event),
            roles: SilverRoles::of(&event),
            event,
        }
    }

    /// Which silver columns are the event id and time.
    pub fn roles(&self) -> &SilverRoles {
        &self.roles
    }
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
    let parsed = ctx
        .event
        .parse(bodies.iter().map(|b| b.unwrap_or_default()));

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
        let converted = convert::to_silver(&ctx.event, batch)?;
        // The event time is silver's time column (converted once), or the enqueued time.
        let event_time = match ctx.event.time() {
            Some(t) => converted.columns[t]
                .as_primitive::<TimestampMicrosecondType>()
                .clone(),
            None => enqueued_times(&bronze_all, &parsed.rows)?,
        };

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

        // Route: error rows → quarantine, the rest → silver candidates (see `route`).
        let (to_quarantine, to_silver, unconverted) = route(
            &eval.has_error,
            &converted.failures,
            &parsed.rows,
            (quarantine_from, silver_from, quality_from),
            &mut quality,
        );
        if let Some(rows) = picked_rows(
            batch.columns(),
            Some(&eval.errors),
            &to_quarantine,
            &parsed.rows,
            &bronze_rows,
            &ctx.quarantine,
            &eval.warnings,
            true,
        )? {
            quarantine_parts.push(rows);
        }
        if let Some(rows) = unconverted_rows(
            &unconverted,
            batch,
            &eval.warnings,
            &parsed.rows,
            quarantine_from,
            &bronze_rows,
            ctx,
        )? {
            quarantine_parts.push(rows);
        }
        silver = picked_rows(
            &converted.columns,
            None,
            &to_silver,
            &parsed.rows,
            &bronze_rows,
            &ctx.silver,
            &eval.warnings,
            false,
        )?;
        if let Some(sb) = &silver {
            candidates = candidates_of(sb, &ctx.roles)?;
        }
    }

    let quarantine = match quarantine_parts.len() {
        0 => None,
        1 => quarantine_parts.pop(),
        _ => Some(arrow::compute::concat_batches(
            &ctx.quarantine,
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
    let schema = ctx.quarantine.clone();
    let mut cols: Vec<ArrayRef> = vec![bronze.bodies(&rows)?];
    for f in schema.fields().iter().skip(1).take(ctx.event.columns()) {
        cols.push(arrow::array::new_null_array(f.data_type(), k));
    }
    cols.push(single_error_column(&messages, &ctx.eval));
    cols.push(arrow::array::new_null_array(
        &crate::quality::dqx_result_type(),
        k,
    ));
    cols.extend(bronze.lineage(&rows)?);
    Ok(Some(RecordBatch::try_new(schema, cols)?))
}

/// Where each parsed row goes: to quarantine for a rule error, to silver, or to quarantine because
/// its text did not convert to silver's type (with the reason; counted as a `parse` failure).
/// `bodies[i]` is row `i`'s body index; rows before `from` (quarantine, silver, quality) were
/// committed there before.
fn route<'m>(
    has_error: &BooleanArray,
    unconverted_rows: &'m [(usize, String)],
    bodies: &[u32],
    from: (usize, usize, usize),
    quality: &mut HashMap<QualityKey, (i64, i64)>,
) -> (BooleanArray, BooleanArray, Vec<Option<&'m str>>) {
    let (quarantine_from, silver_from, quality_from) = from;
    let mut unconverted = vec![None; bodies.len()];
    for (row, message) in unconverted_rows {
        if !has_error.value(*row) {
            unconverted[*row] = Some(message.as_str());
            if bodies[*row] as usize >= quality_from {
                quality.entry((0, None)).or_default().1 += 1;
            }
        }
    }
    let to_quarantine: BooleanArray = (0..bodies.len())
        .map(|i| Some(has_error.value(i) && bodies[i] as usize >= quarantine_from))
        .collect();
    let to_silver: BooleanArray = (0..bodies.len())
        .map(|i| {
            Some(
                !has_error.value(i)
                    && unconverted[i].is_none()
                    && bodies[i] as usize >= silver_from,
            )
        })
        .collect();
    (to_quarantine, to_silver, unconverted)
}

/// The rows `mask` picks: with `with_body`, the body first; then `columns`, `errors` (when
/// given), `warnings` and the lineage columns.
#[allow(clippy::too_many_arguments)]
fn picked_rows(
    columns: &[ArrayRef],
    errors: Option<&ArrayRef>,
    mask: &BooleanArray,
    bodies: &[u32],
    bronze: &BronzeRows,
    schema: &SchemaRef,
    warnings: &ArrayRef,
    with_body: bool,
) -> anyhow::Result<Option<RecordBatch>> {
    if mask.true_count() == 0 {
        return Ok(None);
    }
    let idx: Vec<u32> = (0..mask.len())
        .filter(|&i| mask.value(i))
        .map(|i| bodies[i])
        .collect();
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(columns.len() + 7);
    if with_body {
        cols.push(bronze.bodies(&idx)?);
    }
    for c in columns.iter().chain(errors).chain([warnings]) {
        cols.push(arrow::compute::filter(c.as_ref(), mask)?);
    }
    cols.extend(bronze.lineage(&idx)?);
    Ok(Some(RecordBatch::try_new(schema.clone(), cols)?))
}

/// The quarantine rows of parsed rows that passed the rules but whose text did not convert to
/// silver's type (`unconverted[i]`: row `i`'s reason), from body `from` on.
fn unconverted_rows(
    unconverted: &[Option<&str>],
    parsed: &RecordBatch,
    warnings: &ArrayRef,
    bodies: &[u32],
    from: usize,
    bronze: &BronzeRows,
    ctx: &ProcessContext,
) -> anyhow::Result<Option<RecordBatch>> {
    let mask: BooleanArray = unconverted
        .iter()
        .zip(bodies)
        .map(|(u, &b)| Some(u.is_some() && b as usize >= from))
        .collect();
    if mask.true_count() == 0 {
        return Ok(None);
    }
    let picked: Vec<usize> = (0..mask.len()).filter(|&i| mask.value(i)).collect();
    let idx: Vec<u32> = picked.iter().map(|&i| bodies[i]).collect();
    let messages: Vec<&str> = picked.iter().filter_map(|&i| unconverted[i]).collect();
    let mut cols: Vec<ArrayRef> = vec![bronze.bodies(&idx)?];
    for c in parsed.columns() {
        cols.push(arrow::compute::filter(c.as_ref(), &mask)?);
    }
    cols.push(single_error_column(&messages, &ctx.eval));
    cols.push(arrow::compute::filter(warnings.as_ref(), &mask)?);
    cols.extend(bronze.lineage(&idx)?);
    Ok(Some(RecordBatch::try_new(ctx.quarantine.clone(), cols)?))
}

/// The enqueued times of the bronze rows `rows`: the event time of events that declare none.
fn enqueued_times(bronze: &RecordBatch, rows: &[u32]) -> anyhow::Result<TimestampMicrosecondArray> {
    let taken = take(
        bronze.column(4).as_ref(),
        &UInt32Array::from(rows.to_vec()),
        None,
    )?;
    Ok(taken.as_primitive::<TimestampMicrosecondType>().clone())
}

/// The dedup candidate of each silver row (`None`: it has no event id, or the event declares
/// none).
fn candidates_of(
    silver: &RecordBatch,
    roles: &SilverRoles,
) -> anyhow::Result<Vec<Option<Candidate>>> {
    let cols = SilverKeyColumns::of(silver, roles).map_err(|e| anyhow::anyhow!(e))?;
    Ok((0..silver.num_rows())
        .map(|i| {
            cols.key(i).map(|key| Candidate {
                key,
                sequence_number: cols.sequence_number.value(i),
                event_time_ms: cols.event_time_ms(i),
            })
        })
        .collect())
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
    // The other windows' rows (late or early events), counted per window and rule in a dense
    // table and added to `out` once per window and rule, not looked up per row and rule.
    let mut others: HashMap<Option<i64>, usize> = HashMap::new();
    let mut counts: Vec<(i64, i64)> = Vec::new();
    let rules = fired.len();
    for i in 0..rows {
        if !counted[i] || windows[i] == main {
            continue;
        }
        let next = others.len();
        let w = *others.entry(windows[i]).or_insert(next);
        if w == next {
            counts.resize((next + 1) * rules, (0, 0));
        }
        let row = &mut counts[w * rules..(w + 1) * rules];
        for (r, f) in fired.iter().enumerate() {
            if evaluated[r].as_ref().is_none_or(|m| m.value(i)) {
                row[r].0 += 1;
                row[r].1 += i64::from(f.value(i));
            }
        }
    }
    for (window, w) in others {
        for (r, &(e, x)) in counts[w * rules..(w + 1) * rules].iter().enumerate() {
            if e > 0 {
                let slot = out.entry((r as u32 + 1, window)).or_default();
                slot.0 += e;
                slot.1 += x;
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

/// Filters `batch` with a boolean mask.
pub fn filter_rows(batch: &RecordBatch, mask: &BooleanArray) -> anyhow::Result<RecordBatch> {
    Ok(filter_record_batch(batch, mask)?)
}

/// The `DataType` of silver's event_time (for users composing their own stages).
pub fn event_time_type() -> DataType {
    ts_type()
}
