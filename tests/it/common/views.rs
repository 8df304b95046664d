//! From-scratch recomputation of the views over a set of silver rows, reading a table as of each
//! commit (by replaying its Delta log), and comparing view tables with recomputations.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow::util::display::{ArrayFormatter, FormatOptions};

/// One commit of a table: its version, the epoch it committed (`None`: table creation), and the
/// data files active after it.
#[derive(Debug, Clone)]
pub struct Commit {
    pub version: u64,
    pub epoch: Option<u64>,
    pub files: BTreeSet<String>,
}

/// Replays `<root>/_delta_log/*.json` (every commit, oldest first).
pub fn commits(root: &Path) -> Vec<Commit> {
    let mut logs: Vec<(u64, PathBuf)> = std::fs::read_dir(root.join("_delta_log"))
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let v = name.strip_suffix(".json")?.parse::<u64>().ok()?;
            Some((v, e.path()))
        })
        .collect();
    logs.sort();
    let mut active = BTreeSet::new();
    let mut out = Vec::new();
    for (version, path) in logs {
        let mut epoch = None;
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let action: serde_json::Value = serde_json::from_str(line).unwrap();
            if let Some(p) = action.pointer("/add/path").and_then(|p| p.as_str()) {
                active.insert(p.to_string());
            }
            if let Some(p) = action.pointer("/remove/path").and_then(|p| p.as_str()) {
                active.remove(p);
            }
            if let Some(e) = action.pointer("/commitInfo/operationParameters/epochId") {
                epoch = e
                    .as_u64()
                    .or_else(|| e.as_str().and_then(|s| s.parse().ok()));
            }
        }
        out.push(Commit {
            version,
            epoch,
            files: active.clone(),
        });
    }
    out
}

/// The rows of `files` (paths relative to `root`).
pub fn read(root: &Path, files: &BTreeSet<String>) -> Vec<RecordBatch> {
    let files: Vec<String> = files.iter().cloned().collect();
    let table = medallion::storage::TableStore::local(root.to_path_buf());
    medallion::sink::parquet::read_files(&table, &files).expect("data files read")
}

/// The table as of the last commit of an epoch `<= epoch`.
pub fn as_of(root: &Path, log: &[Commit], epoch: u64) -> Vec<RecordBatch> {
    let files = log
        .iter()
        .rfind(|c| c.epoch.is_some_and(|e| e <= epoch))
        .map(|c| c.files.clone())
        .unwrap_or_default();
    read(root, &files)
}

fn cell(a: &dyn Array, i: usize) -> String {
    let opts = FormatOptions::default().with_null("∅");
    ArrayFormatter::try_new(a, &opts)
        .unwrap()
        .value(i)
        .to_string()
}

fn strs(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(name).unwrap().as_string::<i32>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i).to_string()))
        .collect()
}

fn ts(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let a = b
        .column_by_name(name)
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect()
}

fn floats(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let a = b
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| a.value(i)))
        .collect()
}

fn ints(b: &RecordBatch, name: &str) -> Vec<i64> {
    let a = b.column_by_name(name).unwrap().as_primitive::<Int64Type>();
    (0..a.len()).map(|i| a.value(i)).collect()
}

/// Every row as its cells, rendered.
fn rendered(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for b in batches {
        for i in 0..b.num_rows() {
            out.push(b.columns().iter().map(|c| cell(c.as_ref(), i)).collect());
        }
    }
    out
}

/// `station_latest` recomputed: station → the whole silver row with the greatest
/// (event_time, event_id), rendered.
pub fn expected_latest(silver: &[RecordBatch]) -> BTreeMap<String, Vec<String>> {
    let mut best: BTreeMap<String, ((Option<i64>, Option<String>), Vec<String>)> = BTreeMap::new();
    for b in silver {
        let (st, id, t) = (
            strs(b, "station_id"),
            strs(b, "event_id"),
            ts(b, "event_time"),
        );
        let rows = rendered(std::slice::from_ref(b));
        for i in 0..b.num_rows() {
            let Some(s) = st[i].clone() else { continue };
            let key = (t[i], id[i].clone());
            match best.get(&s) {
                Some((k, _)) if *k >= key => {}
                _ => {
                    best.insert(s, (key, rows[i].clone()));
                }
            }
        }
    }
    best.into_iter().map(|(s, (_, row))| (s, row)).collect()
}

/// The `station_latest` table: station → row, rendered (each station once).
pub fn table_latest(view: &[RecordBatch]) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for b in view {
        let st = strs(b, "station_id");
        for (i, row) in rendered(std::slice::from_ref(b)).into_iter().enumerate() {
            let s = st[i].clone().expect("station_id");
            assert!(
                out.insert(s.clone(), row).is_none(),
                "station {s} twice in station_latest"
            );
        }
    }
    out
}

/// A station-hour: readings, temp min, max, avg, precip total, wind max.
pub type Hourly = (
    i64,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

/// `station_hourly` recomputed from silver rows (nulls ignored, as SQL aggregates do).
pub fn expected_hourly(silver: &[RecordBatch]) -> BTreeMap<(String, i64), Hourly> {
    const HOUR: i64 = 3_600_000_000;
    let mut acc: BTreeMap<(String, i64), Vec<(Option<f64>, Option<f64>, Option<f64>)>> =
        BTreeMap::new();
    for b in silver {
        let (st, t) = (strs(b, "station_id"), ts(b, "event_time"));
        let (temp, precip, wind) = (
            floats(b, "temperature_c"),
            floats(b, "precip_mm"),
            floats(b, "wind_speed_ms"),
        );
        for i in 0..b.num_rows() {
            let (Some(s), Some(t)) = (st[i].clone(), t[i]) else {
                continue;
            };
            acc.entry((s, t.div_euclid(HOUR) * HOUR))
                .or_default()
                .push((temp[i], precip[i], wind[i]));
        }
    }
    acc.into_iter()
        .map(|(k, v)| {
            let temps: Vec<f64> = v.iter().filter_map(|r| r.0).collect();
            let precips: Vec<f64> = v.iter().filter_map(|r| r.1).collect();
            let winds: Vec<f64> = v.iter().filter_map(|r| r.2).collect();
            let min = temps.iter().copied().reduce(f64::min);
            let max = temps.iter().copied().reduce(f64::max);
            let avg = (!temps.is_empty()).then(|| temps.iter().sum::<f64>() / temps.len() as f64);
            let precip = (!precips.is_empty()).then(|| precips.iter().sum::<f64>());
            let wind = winds.iter().copied().reduce(f64::max);
            (k, (v.len() as i64, min, max, avg, precip, wind))
        })
        .collect()
}

/// The `station_hourly` table.
pub fn table_hourly(view: &[RecordBatch]) -> BTreeMap<(String, i64), Hourly> {
    let mut out = BTreeMap::new();
    for b in view {
        let (st, h, n) = (strs(b, "station_id"), ts(b, "hour"), ints(b, "readings"));
        let cols: Vec<Vec<Option<f64>>> = [
            "temp_min",
            "temp_max",
            "temp_avg",
            "precip_total",
            "wind_max",
        ]
        .iter()
        .map(|c| floats(b, c))
        .collect();
        for i in 0..b.num_rows() {
            let key = (st[i].clone().unwrap(), h[i].unwrap());
            let row = (
                n[i], cols[0][i], cols[1][i], cols[2][i], cols[3][i], cols[4][i],
            );
            assert!(
                out.insert(key.clone(), row).is_none(),
                "{key:?} twice in station_hourly"
            );
        }
    }
    out
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0),
        _ => false,
    }
}

/// Asserts two `station_hourly` states are equal (floats up to summation order).
pub fn assert_hourly_eq(
    got: &BTreeMap<(String, i64), Hourly>,
    want: &BTreeMap<(String, i64), Hourly>,
    context: &str,
) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{context}: station_hourly keys"
    );
    for (k, g) in got {
        let w = &want[k];
        assert!(
            g.0 == w.0
                && close(g.1, w.1)
                && close(g.2, w.2)
                && close(g.3, w.3)
                && close(g.4, w.4)
                && close(g.5, w.5),
            "{context}: station_hourly {k:?}: table {g:?}, recomputed {w:?}"
        );
    }
}

/// (rule, window start) → (evaluated, failed), from the `quality` table or `quality_by_window`.
pub fn quality_counts(batches: &[RecordBatch]) -> BTreeMap<(String, Option<i64>), (i64, i64)> {
    let mut out = BTreeMap::new();
    for b in batches {
        let (r, w) = (strs(b, "rule"), ts(b, "window_start"));
        let (e, f) = (ints(b, "evaluated"), ints(b, "failed"));
        for i in 0..b.num_rows() {
            out.insert((r[i].clone().unwrap(), w[i]), (e[i], f[i]));
        }
    }
    out
}

/// Dataset checks the view tests add to the reference checks.
pub const DATASET_CHECKS_YAML: &str = r#"
- criticality: error
  check:
    function: is_unique
    arguments:
      columns: [station_id, event_time]
- criticality: warn
  name: one_reading_per_station_window
  check:
    function: is_aggr_not_greater_than
    arguments: {column: "*", aggr_type: count, group_by: [station_id], limit: 1}
- criticality: warn
  check:
    function: is_aggr_not_less_than
    arguments: {column: temperature_c, aggr_type: avg, limit: 0}
- criticality: warn
  check:
    function: is_aggr_equal
    arguments: {column: condition, aggr_type: count_distinct, limit: 3}
- criticality: error
  check:
    function: is_aggr_not_equal
    arguments: {column: wind_speed_ms, aggr_type: max, group_by: [condition], limit: 0}
"#;

/// One `dataset_checks` row: (check, group, window start µs) → (metric, limit, passed, message).
pub type DatasetRows =
    BTreeMap<(String, Option<String>, Option<i64>), (Option<f64>, f64, bool, Option<String>)>;

/// The `dataset_checks` table.
pub fn table_dataset(batches: &[RecordBatch]) -> DatasetRows {
    let mut out = BTreeMap::new();
    for b in batches {
        let (c, g, w) = (strs(b, "check"), strs(b, "group"), ts(b, "window_start"));
        let (m, l) = (floats(b, "metric"), floats(b, "limit"));
        let p = b.column_by_name("passed").unwrap().as_boolean();
        let msg = strs(b, "message");
        for i in 0..b.num_rows() {
            let key = (c[i].clone().unwrap(), g[i].clone(), w[i]);
            let row = (m[i], l[i].unwrap(), p.value(i), msg[i].clone());
            assert!(
                out.insert(key.clone(), row).is_none(),
                "{key:?} twice in dataset_checks"
            );
        }
    }
    out
}

fn display(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let a = b.column_by_name(name).unwrap();
    let f = ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default()).unwrap();
    (0..a.len())
        .map(|i| (!a.is_null(i)).then(|| f.value(i).to_string()))
        .collect()
}

/// The silver fields the dataset checks read: station, event_time as text, window start (µs),
/// temperature, wind speed, condition.
type SilverFields = (
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<f64>,
    Option<f64>,
    Option<String>,
);

/// [`DATASET_CHECKS_YAML`] recomputed from silver rows with `window_ms` windows.
pub fn expected_dataset(silver: &[RecordBatch], window_ms: i64) -> DatasetRows {
    type Groups = BTreeMap<(Option<String>, Option<i64>), Vec<usize>>;
    let mut rows: Vec<SilverFields> = Vec::new();
    for b in silver {
        let (st, et, t) = (
            display(b, "station_id"),
            display(b, "event_time"),
            ts(b, "event_time"),
        );
        let (temp, wind, cond) = (
            floats(b, "temperature_c"),
            floats(b, "wind_speed_ms"),
            strs(b, "condition"),
        );
        for i in 0..b.num_rows() {
            let w = t[i].map(|t| (t / 1000).div_euclid(window_ms) * window_ms * 1000);
            rows.push((
                st[i].clone(),
                et[i].clone(),
                w,
                temp[i],
                wind[i],
                cond[i].clone(),
            ));
        }
    }
    let mut out = DatasetRows::new();
    // is_unique(station_id, event_time): rows with a null in either are distinct.
    let mut seen: BTreeMap<(String, String), i64> = BTreeMap::new();
    for r in &rows {
        if let (Some(s), Some(e)) = (&r.0, &r.1) {
            *seen.entry((s.clone(), e.clone())).or_default() += 1;
        }
    }
    for ((s, e), n) in seen.into_iter().filter(|(_, n)| *n > 1) {
        out.insert(
            ("struct_station_id_event_time_is_not_unique".into(), Some(format!("station_id={s}, event_time={e}")), None),
            (Some(n as f64), 1.0, false, Some(format!("Value '{{{s}, {e}}}' in column 'struct(station_id, event_time)' is not unique, found {n} duplicates"))),
        );
    }
    let group = |key: &dyn Fn(&SilverFields) -> Option<String>| {
        let mut g: Groups = BTreeMap::new();
        for (i, r) in rows.iter().enumerate() {
            g.entry((key(r), r.2)).or_default().push(i);
        }
        g
    };
    for ((s, w), idx) in group(&|r| r.0.clone()) {
        let n = idx.len() as f64;
        let passed = n <= 1.0;
        out.insert(
            ("one_reading_per_station_window".into(), Some(format!("station_id={}", s.as_deref().unwrap_or("null"))), w),
            (Some(n), 1.0, passed, (!passed).then(|| format!("Count value {n} in column '*' per group of columns 'station_id' is greater than limit: 1"))),
        );
    }
    for ((_, w), idx) in group(&|_| None) {
        let temps: Vec<f64> = idx.iter().filter_map(|&i| rows[i].3).collect();
        let avg = (!temps.is_empty()).then(|| temps.iter().sum::<f64>() / temps.len() as f64);
        let passed = avg.is_none_or(|a| a >= 0.0);
        out.insert(
            ("temperature_c_avg_less_than_limit".into(), None, w),
            (avg, 0.0, passed, None),
        );
        let distinct: std::collections::BTreeSet<&String> =
            idx.iter().filter_map(|&i| rows[i].5.as_ref()).collect();
        let d = distinct.len() as f64;
        out.insert(
            (
                "condition_count_distinct_not_equal_to_limit".into(),
                None,
                w,
            ),
            (
                Some(d),
                3.0,
                d == 3.0,
                (d != 3.0).then(|| {
                    format!(
                        "Distinct count value {d} in column 'condition' is not equal to limit: 3"
                    )
                }),
            ),
        );
    }
    for ((c, w), idx) in group(&|r| r.5.clone()) {
        let max = idx.iter().filter_map(|&i| rows[i].4).reduce(f64::max);
        let passed = max.is_none_or(|m| m != 0.0);
        out.insert(
            (
                "wind_speed_ms_max_group_by_condition_equal_to_limit".into(),
                Some(format!("condition={}", c.as_deref().unwrap_or("null"))),
                w,
            ),
            (max, 0.0, passed, None),
        );
    }
    out
}

/// Asserts two `dataset_checks` states are equal: metrics up to summation order; messages
/// compared where the recomputation gives one.
pub fn assert_dataset_eq(got: &DatasetRows, want: &DatasetRows, context: &str) {
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{context}: dataset_checks keys"
    );
    for (k, g) in got {
        let w = &want[k];
        assert!(
            close(g.0, w.0) && g.1 == w.1 && g.2 == w.2,
            "{context}: {k:?}: table {g:?}, recomputed {w:?}"
        );
        assert_eq!(
            g.3.is_some(),
            !g.2,
            "{context}: {k:?}: a message exactly when failed"
        );
        if let Some(m) = &w.3 {
            assert_eq!(g.3.as_ref(), Some(m), "{context}: {k:?} message");
        }
    }
}
