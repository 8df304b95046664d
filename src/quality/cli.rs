//! The `check` command as a library function: validate a DQX check list, or try it on sample
//! rows (JSON lines, types inferred or declared with `--schema`) and print every row back with `_errors` / `_warnings`,
//! plus a per-rule summary on stderr.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int64Array, ListBuilder, StringArray,
    StringBuilder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::apply::Evaluation;
use super::checks::Criticality;
use super::dataset_eval::{self, DatasetEvaluation};
use super::dataset_rules::DatasetCheck;
use super::expr::datetime::format_rfc3339;
use super::{EvalContext, LoadOptions, QualityError, RuleSet};

/// Arguments of `medallion check`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct CheckArgs {
    /// The DQX check list (YAML or JSON).
    #[arg(long, value_name = "FILE")]
    pub checks: PathBuf,
    /// Evaluation time ("now") as RFC 3339, e.g. 2026-11-26T12:00:00Z (default: the clock).
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Rows to check: one JSON object per line; the column types are inferred (see --schema).
    #[arg(long, value_name = "ROWS.jsonl")]
    pub input: Option<PathBuf>,
    /// Types of --input columns JSON cannot carry, as a Spark DDL field list, e.g.
    /// "ts TIMESTAMP, day DATE": text is read as Spark casts it (a value that does not convert
    /// is an error naming its line); the other columns are inferred.
    #[arg(long, value_name = "DDL", requires = "input")]
    pub schema: Option<String>,
    /// Only load and validate the checks: exit 0 when valid, 2 with the errors otherwise.
    #[arg(long)]
    pub validate: bool,
    /// Treat checks whose column or filter is not in the input as errors instead of skipping them.
    #[arg(long)]
    pub strict: bool,
    /// A reference dataset for `foreign_key`, `aggr_matches_dataset` and `compare_datasets`
    /// checks (`ref_df_name: NAME` or `ref_table: NAME`): JSON lines as for --input. Repeatable.
    #[arg(long = "ref", value_name = "NAME=ROWS.jsonl")]
    pub refs: Vec<String>,
}

/// Exit code: checks valid (and, with `--input`, evaluated).
pub const EXIT_OK: i32 = 0;
/// Exit code: the check list is invalid.
pub const EXIT_INVALID: i32 = 2;

/// Runs `medallion check` with stdout/stderr; returns the exit code.
pub fn run_check_command(args: &CheckArgs) -> anyhow::Result<i32> {
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = stderr.lock();
    let code = run_check_command_to(args, &mut out, &mut err)?;
    out.flush()?;
    Ok(code)
}

/// [`run_check_command`] writing to the given streams.
pub fn run_check_command_to(
    args: &CheckArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    let now: DateTime<Utc> = match &args.now {
        Some(s) => DateTime::parse_from_rfc3339(s)
            .with_context(|| format!("--now '{s}' is not an RFC 3339 time"))?
            .with_timezone(&Utc),
        None => Utc::now(),
    };
    let text = std::fs::read_to_string(&args.checks)
        .with_context(|| format!("cannot read {}", args.checks.display()))?;

    let Some(input) = &args.input else {
        // --validate (or nothing to run the checks on): load and report.
        let opts = LoadOptions {
            strict: args.strict,
            schema: None,
        };
        return match RuleSet::from_yaml_str(&text, &opts) {
            Ok(rules) => {
                writeln!(
                    out,
                    "{}: {} check(s), {} rule(s), valid",
                    args.checks.display(),
                    rules.checks().len(),
                    rules.rules().len()
                )?;
                for r in rules.rules() {
                    writeln!(
                        out,
                        "  {} [{}] {}({})",
                        r.name(),
                        r.criticality(),
                        r.function(),
                        r.columns().map(|c| c.join(", ")).unwrap_or_default()
                    )?;
                }
                Ok(EXIT_OK)
            }
            Err(e) => report_load_error(&args.checks, e, err),
        };
    };

    let rows = read_rows(input)?;
    let mut batch = rows_to_batch(&rows)?;
    if let Some(ddl) = &args.schema {
        batch = declare_types(batch, ddl, input)?;
    }
    let opts = LoadOptions {
        strict: args.strict,
        schema: Some(batch.schema()),
    };
    let rules = match RuleSet::from_yaml_str(&text, &opts) {
        Ok(r) => r,
        Err(e) => return report_load_error(&args.checks, e, err),
    };
    if args.validate {
        writeln!(
            out,
            "{}: {} check(s), {} rule(s), valid for {}",
            args.checks.display(),
            rules.checks().len(),
            rules.rules().len(),
            input.display()
        )?;
        return Ok(EXIT_OK);
    }
    let ctx = EvalContext {
        now,
        run_time: now,
        run_id: uuid::Uuid::new_v4().to_string(),
    };
    let ev = rules.evaluate(&batch, &ctx)?;
    let mut refs = std::collections::HashMap::new();
    for spec in &args.refs {
        let (name, path) = spec
            .split_once('=')
            .with_context(|| format!("--ref '{spec}' is not NAME=ROWS.jsonl"))?;
        let rows = read_rows(std::path::Path::new(path))?;
        refs.insert(name.to_string(), rows_to_batch(&rows)?);
    }
    let ds = dataset_eval::evaluate(
        rules.dataset_checks(),
        &batch,
        &refs,
        now.timestamp_micros(),
    )?;
    let (mut with_errors, mut with_warnings) = (0, 0);
    for (i, row) in rows.iter().enumerate() {
        let cell = |crit: Criticality, col: &ArrayRef| {
            merge_entries(&rules, &ev, &ds, &ctx, i, crit, results_to_json(col, i))
        };
        let errors = cell(Criticality::Error, &ev.errors);
        let warnings = cell(Criticality::Warn, &ev.warnings);
        with_errors += usize::from(!errors.is_null());
        with_warnings += usize::from(!warnings.is_null());
        writeln!(out, "{}", echo_row(row, errors, warnings))?;
    }
    write_missing(out, &rules, &ds, &ctx)?;
    writeln!(
        err,
        "{} row(s), {with_errors} with errors, {with_warnings} with warnings{}",
        rows.len(),
        if ds.missing.is_empty() {
            String::new()
        } else {
            format!("; {} missing record(s) after them", ds.missing.len())
        }
    )?;
    let w = rules
        .rules()
        .iter()
        .map(|r| r.name().len())
        .max()
        .unwrap_or(4)
        .max(4);
    writeln!(
        err,
        "{:<w$}  {:<5}  {:>9}  {:>7}",
        "rule", "crit", "evaluated", "failed"
    )?;
    for (i, r) in rules.rules().iter().enumerate() {
        write!(
            err,
            "{:<w$}  {:<5}  {:>9}  {:>7}",
            r.name(),
            r.criticality().as_str(),
            ev.evaluated_count[i],
            ev.failed_count[i]
        )?;
        if let Some(reason) = &ev.skipped[i] {
            write!(err, "  skipped: {reason}")?;
        }
        writeln!(err)?;
    }
    for (k, c) in rules.dataset_checks().iter().enumerate() {
        writeln!(
            err,
            "{:<w$}  {:<5}  {:>9}  {:>7}",
            c.name,
            c.criticality.as_str(),
            ds.evaluated[k],
            ds.failed[k]
        )?;
    }
    Ok(EXIT_OK)
}

/// Row `row`'s `crit` entries: the row-level ones (`row_level`, in rule order) and the dataset
/// checks' marks, merged in check order as DQX lists them; null when there are none.
fn merge_entries(
    rules: &RuleSet,
    ev: &Evaluation,
    ds: &DatasetEvaluation,
    ctx: &EvalContext,
    row: usize,
    crit: Criticality,
    row_level: Value,
) -> Value {
    let dataset: Vec<(usize, Value)> = ds.marks[row]
        .iter()
        .filter_map(|(k, message)| {
            let c = &rules.dataset_checks()[*k];
            (c.criticality == crit).then(|| {
                (
                    c.index,
                    dataset_entry(rules, ds, c, message.as_deref(), ctx),
                )
            })
        })
        .collect();
    if dataset.is_empty() {
        return row_level;
    }
    let indices = rules
        .rules()
        .iter()
        .enumerate()
        .filter(|(k, r)| {
            r.criticality() == crit && (ev.skipped[*k].is_some() || ev.fired[*k].value(row))
        })
        .map(|(_, r)| r.check_index());
    let mut all: Vec<(usize, Value)> = match row_level {
        Value::Array(entries) => indices.zip(entries).collect(),
        _ => Vec::new(),
    };
    all.extend(dataset);
    all.sort_by_key(|(index, _)| *index);
    Value::Array(all.into_iter().map(|(_, e)| e).collect())
}

/// A dataset check's result entry, shaped as [`results_to_json`] shapes row-level ones.
fn dataset_entry(
    rules: &RuleSet,
    ds: &DatasetEvaluation,
    c: &DatasetCheck,
    message: Option<&str>,
    ctx: &EvalContext,
) -> Value {
    let meta: Map<String, Value> = rules.checks()[c.index]
        .user_metadata
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    // A check with neither `column` nor `columns` (sql_query) has null columns, as in DQX.
    let columns = c.columns(&ds.input_columns);
    serde_json::json!({
        "name": c.name,
        "message": message,
        "columns": (!columns.is_empty()).then_some(columns),
        "filter": c.check_filter,
        "function": c.function,
        "run_time": format_rfc3339(ctx.run_time.timestamp_micros()),
        "run_id": ctx.run_id,
        "user_metadata": meta,
        "skipped": null,
    })
}

fn report_load_error(
    path: &std::path::Path,
    e: QualityError,
    err: &mut dyn Write,
) -> anyhow::Result<i32> {
    writeln!(err, "{}: {e}", path.display())?;
    Ok(EXIT_INVALID)
}

/// One input row: its text as read and its parsed object.
struct Row {
    text: String,
    obj: Map<String, Value>,
}

fn read_rows(path: &std::path::Path) -> anyhow::Result<Vec<Row>> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut rows = Vec::new();
    for (no, line) in BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("cannot read {}", path.display()))?;
        let text = line.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => rows.push(Row {
                text: text.to_string(),
                obj,
            }),
            Ok(_) => bail!("{}:{}: not a JSON object", path.display(), no + 1),
            Err(e) => bail!("{}:{}: invalid JSON: {e}", path.display(), no + 1),
        }
    }
    Ok(rows)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Null,
    Bool,
    Int,
    Float,
    Str,
    /// JSON arrays: a list of strings (items that are not strings as JSON text).
    Array,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Null => Kind::Null,
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_i64() => Kind::Int,
        Value::Number(_) => Kind::Float,
        Value::Array(_) => Kind::Array,
        _ => Kind::Str,
    }
}

fn merge(a: Kind, b: Kind) -> Kind {
    match (a, b) {
        (Kind::Null, x) | (x, Kind::Null) => x,
        (x, y) if x == y => x,
        (Kind::Int, Kind::Float) | (Kind::Float, Kind::Int) => Kind::Float,
        _ => Kind::Str,
    }
}

fn infer_schema(rows: &[Row]) -> (SchemaRef, Vec<Kind>) {
    let mut names: Vec<String> = Vec::new();
    let mut kinds: Vec<Kind> = Vec::new();
    for r in rows {
        for (k, v) in &r.obj {
            let kind = kind_of(v);
            match names.iter().position(|n| n == k) {
                Some(i) => kinds[i] = merge(kinds[i], kind),
                None => {
                    names.push(k.clone());
                    kinds.push(kind);
                }
            }
        }
    }
    let fields: Vec<Field> = names
        .iter()
        .zip(&kinds)
        .map(|(n, k)| {
            let t = match k {
                Kind::Bool => DataType::Boolean,
                Kind::Int => DataType::Int64,
                Kind::Float => DataType::Float64,
                Kind::Null | Kind::Str => DataType::Utf8,
                Kind::Array => DataType::new_list(DataType::Utf8, true),
            };
            Field::new(n, t, true)
        })
        .collect();
    (Arc::new(Schema::new(fields)), kinds)
}

fn rows_to_batch(rows: &[Row]) -> anyhow::Result<RecordBatch> {
    let (schema, kinds) = infer_schema(rows);
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(kinds.len());
    for (f, k) in schema.fields().iter().zip(&kinds) {
        let vals = rows
            .iter()
            .map(|r| r.obj.get(f.name()).filter(|v| !v.is_null()));
        let col: ArrayRef = match k {
            Kind::Bool => Arc::new(BooleanArray::from_iter(
                vals.map(|v| v.and_then(Value::as_bool)),
            )),
            Kind::Int => Arc::new(Int64Array::from_iter(
                vals.map(|v| v.and_then(Value::as_i64)),
            )),
            Kind::Float => Arc::new(Float64Array::from_iter(
                vals.map(|v| v.and_then(Value::as_f64)),
            )),
            Kind::Null | Kind::Str => Arc::new(StringArray::from_iter(vals.map(|v| v.map(text)))),
            Kind::Array => {
                let mut lists = ListBuilder::new(StringBuilder::new());
                for v in vals {
                    if let Some(Value::Array(items)) = v {
                        for item in items {
                            lists
                                .values()
                                .append_option((!item.is_null()).then(|| text(item)));
                        }
                        lists.append(true);
                    } else {
                        lists.append_null();
                    }
                }
                Arc::new(lists.finish())
            }
        };
        cols.push(col);
    }
    let opts = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(schema, cols, &opts)?)
}

/// The batch with the columns `ddl` declares cast to their types as Spark casts text (a value
/// that does not convert is an error naming its line); a declared column no row has is added,
/// all null.
fn declare_types(
    batch: RecordBatch,
    ddl: &str,
    path: &std::path::Path,
) -> anyhow::Result<RecordBatch> {
    use super::expr::json_schema::{JsonSchema, JsonType};
    let declared = JsonSchema::parse(ddl).map_err(|e| anyhow::anyhow!("--schema '{ddl}': {e}"))?;
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut cols = batch.columns().to_vec();
    for f in &declared.fields {
        let to = match &f.ty {
            JsonType::String => DataType::Utf8,
            JsonType::Int(_) => DataType::Int64,
            JsonType::Double | JsonType::Float => DataType::Float64,
            JsonType::Boolean => DataType::Boolean,
            JsonType::Date => DataType::Date32,
            JsonType::Timestamp => super::expr::eval::cast::ts_type(),
            other => bail!(
                "--schema: column '{}' has type {other}; --schema declares string, integer, \
                 double, boolean, date and timestamp columns",
                f.name
            ),
        };
        let pos = fields.iter().position(|x| x.name() == &f.name);
        let Some(pos) = pos else {
            fields.push(Field::new(&f.name, to.clone(), true));
            cols.push(arrow::array::new_null_array(&to, batch.num_rows()));
            continue;
        };
        let from = &cols[pos];
        let temporal = matches!(f.ty, JsonType::Date | JsonType::Timestamp);
        if temporal && !matches!(from.data_type(), DataType::Utf8 | DataType::Null) {
            bail!(
                "--schema: column '{}' is declared {} but its values are {} (give dates and \
                 timestamps as text, e.g. \"2026-11-26 12:00:00\")",
                f.name,
                f.ty,
                from.data_type()
            );
        }
        let cast = super::expr::eval::cast::cast_to(from, &to)
            .map_err(|e| anyhow::anyhow!("--schema: column '{}': {e}", f.name))?;
        if let Some(i) = (0..cast.len()).find(|&i| cast.is_null(i) && !from.is_null(i)) {
            bail!(
                "{}: row {}: column '{}': '{}' is not a {} value",
                path.display(),
                i + 1,
                f.name,
                super::expr::render::cell(from.as_ref(), i).unwrap_or_default(),
                f.ty
            );
        }
        fields[pos] = Field::new(&f.name, to, true);
        cols[pos] = cast;
    }
    let opts =
        arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        cols,
        &opts,
    )?)
}

/// The reference rows `compare_datasets` found missing from the input, one line each after
/// the input rows: the row's key and the check's entry.
fn write_missing(
    out: &mut dyn Write,
    rules: &RuleSet,
    ds: &DatasetEvaluation,
    ctx: &EvalContext,
) -> anyhow::Result<()> {
    for m in &ds.missing {
        let c = &rules.dataset_checks()[m.check];
        let entry = Value::Array(vec![dataset_entry(rules, ds, c, Some(&m.message), ctx)]);
        let mut obj: Map<String, Value> = m
            .key
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map_or(Value::Null, json_value)))
            .collect();
        let (errors, warnings) = match c.criticality {
            Criticality::Error => (entry, Value::Null),
            Criticality::Warn => (Value::Null, entry),
        };
        obj.insert("_errors".into(), errors);
        obj.insert("_warnings".into(), warnings);
        writeln!(out, "{}", Value::Object(obj))?;
    }
    Ok(())
}

/// An aggregate-style value as JSON.
fn json_value(v: &super::aggregates::Value) -> Value {
    use super::aggregates::Value as V;
    match v {
        V::Int(i) => Value::from(*i),
        V::Float(x) => serde_json::Number::from_f64(*x).map_or(Value::Null, Value::Number),
        V::Bool(b) => Value::Bool(*b),
        V::Str(s) => Value::String(s.clone()),
    }
}

/// A JSON value as a string column holds it: a string as it is, anything else as JSON text.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn echo_row(row: &Row, errors: Value, warnings: Value) -> String {
    let clash = row.obj.contains_key("_errors") || row.obj.contains_key("_warnings");
    if !clash && row.text.ends_with('}') {
        let body = &row.text[..row.text.len() - 1];
        let sep = if row.obj.is_empty() { "" } else { "," };
        return format!(
            "{}{sep}\"_errors\":{},\"_warnings\":{}}}",
            body.trim_end(),
            errors,
            warnings
        );
    }
    let mut obj = row.obj.clone();
    obj.insert("_errors".into(), errors);
    obj.insert("_warnings".into(), warnings);
    Value::Object(obj).to_string()
}

/// Row `row` of an `_errors` / `_warnings` column as JSON: an array of objects, or null.
pub fn results_to_json(col: &ArrayRef, row: usize) -> Value {
    if col.is_null(row) {
        return Value::Null;
    }
    let Some(list) = col.as_list_opt::<i32>() else {
        return Value::Null;
    };
    let entries = list.value(row);
    let s = entries.as_struct();
    let string = |name: &str, j: usize| -> Value {
        match s.column_by_name(name) {
            Some(c) if !c.is_null(j) => c
                .as_string_opt::<i32>()
                .map(|a| Value::String(a.value(j).to_string()))
                .unwrap_or(Value::Null),
            _ => Value::Null,
        }
    };
    let mut out = Vec::with_capacity(s.len());
    for j in 0..s.len() {
        let mut o = Map::new();
        o.insert("name".into(), string("name", j));
        o.insert("message".into(), string("message", j));
        let columns = match s.column_by_name("columns") {
            Some(c) if !c.is_null(j) => {
                let l = c.as_list::<i32>().value(j);
                let l = l.as_string::<i32>();
                Value::Array(
                    l.iter()
                        .map(|x| {
                            x.map(|x| Value::String(x.to_string()))
                                .unwrap_or(Value::Null)
                        })
                        .collect(),
                )
            }
            _ => Value::Null,
        };
        o.insert("columns".into(), columns);
        o.insert("filter".into(), string("filter", j));
        o.insert("function".into(), string("function", j));
        let run_time = match s.column_by_name("run_time") {
            Some(c) if !c.is_null(j) => Value::String(format_rfc3339(
                c.as_primitive::<TimestampMicrosecondType>().value(j),
            )),
            _ => Value::Null,
        };
        o.insert("run_time".into(), run_time);
        o.insert("run_id".into(), string("run_id", j));
        let meta = match s.column_by_name("user_metadata") {
            Some(c) if !c.is_null(j) => {
                let m = c.as_map();
                let kv = m.value(j);
                let keys = kv.column(0).as_string::<i32>();
                let vals = kv.column(1).as_string::<i32>();
                let mut mo = Map::new();
                for k in 0..kv.len() {
                    let v = if vals.is_null(k) {
                        Value::Null
                    } else {
                        Value::String(vals.value(k).to_string())
                    };
                    mo.insert(keys.value(k).to_string(), v);
                }
                Value::Object(mo)
            }
            _ => Value::Null,
        };
        o.insert("user_metadata".into(), meta);
        let skipped = match s.column_by_name("skipped") {
            Some(c) if !c.is_null(j) => Value::Bool(c.as_boolean().value(j)),
            _ => Value::Null,
        };
        o.insert("skipped".into(), skipped);
        out.push(Value::Object(o));
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_inference() {
        let rows: Vec<Row> = [r#"{"a":1,"b":"x","c":null}"#, r#"{"a":2.5,"b":3,"d":true}"#]
            .iter()
            .map(|t| Row {
                text: t.to_string(),
                obj: serde_json::from_str(t).unwrap(),
            })
            .collect();
        let b = rows_to_batch(&rows).unwrap();
        let s = b.schema();
        assert_eq!(s.field(0).data_type(), &DataType::Float64);
        assert_eq!(s.field(1).data_type(), &DataType::Utf8);
        assert_eq!(s.field(2).data_type(), &DataType::Utf8);
        assert_eq!(s.field(3).data_type(), &DataType::Boolean);
        assert_eq!(b.column(1).as_string::<i32>().value(1), "3");
    }

    #[test]
    fn echo_keeps_the_row_text() {
        let row = Row {
            text: r#"{"b": 1, "a": 2}"#.into(),
            obj: serde_json::from_str(r#"{"b": 1, "a": 2}"#).unwrap(),
        };
        assert_eq!(
            echo_row(&row, Value::Null, Value::Null),
            r#"{"b": 1, "a": 2,"_errors":null,"_warnings":null}"#
        );
        let empty = Row {
            text: "{}".into(),
            obj: Map::new(),
        };
        assert_eq!(
            echo_row(&empty, Value::Null, Value::Null),
            r#"{"_errors":null,"_warnings":null}"#
        );
    }
}
