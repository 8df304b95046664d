//! DQX's time-series dataset checks — `is_data_fresh_per_time_window`,
//! `has_no_gaps_per_time_window`, `has_no_aggr_outliers` — compiled from their arguments (with
//! DQX 0.17's validation, names and messages) and evaluated over one whole input as DQX
//! evaluates a DataFrame (`medallion check --input`, with `--schema` for the timestamp column).
//! "Now" is the evaluation's `--now` where DQX uses `current_timestamp()`.
//!
//! Windows are DQX's: fixed `window_minutes` tumbling windows aligned to the epoch (Spark's
//! `window`), and `date_trunc` grains (`minute` … `month`, weeks from Monday) in UTC.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, TimestampMicrosecondType};

use super::aggregates::{aggregate, python_float, AggrType, Value};
use super::checks::{ArgValue, Check};
use super::dataset_args::{
    aggr_column_name, aggr_type_of, bool_arg, column_arg, err, int_arg, percentile_of,
    positive_int, star_aggregate, str_arg, string_list, window_minutes,
};
use super::error::CheckError;
use super::expr::datetime::{civil_from_days, days_from_civil, format_timestamp};
use super::expr::render::java_double;
use super::functions::normalize;

const US_PER_MINUTE: i64 = 60_000_000;
const US_PER_DAY: i64 = 86_400_000_000;

/// A time-series check.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeWindowCheck {
    /// Every `window_minutes` window holds at least `min_records` rows (that pass the filter,
    /// are not after now and, with `lookback_windows`, not before `lookback_windows` windows
    /// ago); the rows of a window with fewer are marked.
    Fresh {
        column: String,
        window_minutes: i64,
        min_records: i64,
        lookback_windows: Option<i64>,
    },
    /// No empty window between two present ones (per `group_by` group); the rows of the last
    /// window before a gap are marked (`trailing_gap`: also before now's window).
    Gaps {
        column: String,
        window_minutes: i64,
        group_by: Vec<String>,
        trailing_gap: bool,
    },
    /// The latest `interval` grain's `aggr(column)` within `sigma` population standard
    /// deviations of the `lookback` grains before it (per `group_by` group, once `warmup`
    /// grains exist); every row of a group that is not is marked.
    AggrOutliers {
        column: String,
        time_column: String,
        aggr: AggrType,
        percentile: Option<f64>,
        sigma: f64,
        /// `sigma` as DQX prints it (Python's `str`).
        sigma_text: String,
        lookback: i64,
        warmup: i64,
        interval: Grain,
        group_by: Vec<String>,
    },
}

/// `date_trunc` units of `has_no_aggr_outliers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

impl Grain {
    /// The start of the grain holding `us` (UTC).
    fn trunc(self, us: i64) -> i64 {
        let day = us.div_euclid(US_PER_DAY);
        match self {
            Grain::Minute => us - us.rem_euclid(US_PER_MINUTE),
            Grain::Hour => us - us.rem_euclid(60 * US_PER_MINUTE),
            Grain::Day => day * US_PER_DAY,
            // 1970-01-01 was a Thursday: Monday is 3 days before day 0.
            Grain::Week => (day - (day + 3).rem_euclid(7)) * US_PER_DAY,
            Grain::Month => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1) * US_PER_DAY
            }
        }
    }
}

/// Compiles one of the module's functions: the check and its generated name.
pub fn compile(check: &Check) -> Result<(TimeWindowCheck, String), CheckError> {
    match check.function.as_str() {
        "is_data_fresh_per_time_window" => compile_fresh(check),
        "has_no_gaps_per_time_window" => {
            let column = column_arg(check)?;
            let window_minutes = window_minutes(check)?;
            let name = format!("{}_has_no_gaps_per_time_window", normalize(&column));
            let kind = TimeWindowCheck::Gaps {
                column,
                window_minutes,
                group_by: string_list(check, "group_by", false)?,
                trailing_gap: bool_arg(check, "trailing_gap", false)?,
            };
            Ok((kind, name))
        }
        _ => compile_outliers(check),
    }
}

fn compile_fresh(check: &Check) -> Result<(TimeWindowCheck, String), CheckError> {
    let column = column_arg(check)?;
    let lookback_windows = positive_int(
        check,
        "lookback_windows",
        false,
        "lookback_windows must be a positive integer if provided",
    )?;
    let min_records = positive_int(
        check,
        "min_records_per_window",
        true,
        "min_records_per_window must be a positive integer",
    )?
    .unwrap_or(1);
    let window_minutes = window_minutes(check)?;
    let name = format!("{}_is_data_fresh_per_time_window", normalize(&column));
    Ok((
        TimeWindowCheck::Fresh {
            column,
            window_minutes,
            min_records,
            lookback_windows,
        },
        name,
    ))
}

fn compile_outliers(check: &Check) -> Result<(TimeWindowCheck, String), CheckError> {
    let (sigma, sigma_text) = match check.arg("sigma") {
        None | Some(ArgValue::Null) => (3.0, "3.0".to_string()),
        Some(ArgValue::Int(i)) => (*i as f64, i.to_string()),
        Some(ArgValue::Float(x)) => (*x, python_float(*x)),
        Some(other) => {
            return Err(err(
                check,
                "sigma",
                format!("'sigma' must be a number, found {}", other.kind()),
            ))
        }
    };
    if sigma <= 0.0 || sigma.is_nan() {
        return Err(err(
            check,
            "sigma",
            format!("'sigma' must be a positive number, got {sigma_text}"),
        ));
    }
    let lookback = int_arg(check, "lookback_num_intervals", 14)?;
    if lookback < 2 {
        return Err(err(
            check,
            "lookback_num_intervals",
            format!("'lookback_num_intervals' must be >= 2, got {lookback}"),
        ));
    }
    let warmup = int_arg(check, "warmup_num_intervals", 7)?;
    if warmup < 1 || warmup > lookback {
        return Err(err(
            check,
            "warmup_num_intervals",
            format!(
                "'warmup_num_intervals' must satisfy 1 <= warmup_num_intervals <= \
                 lookback_num_intervals ({lookback}), got {warmup}"
            ),
        ));
    }
    let interval = match str_arg(check, "time_interval")?.unwrap_or("day") {
        "minute" => Grain::Minute,
        "hour" => Grain::Hour,
        "day" => Grain::Day,
        "week" => Grain::Week,
        "month" => Grain::Month,
        other => {
            return Err(err(
                check,
                "time_interval",
                format!(
                    "'time_interval' must be one of ['day', 'hour', 'minute', 'month', 'week'], \
                     got '{other}'"
                ),
            ))
        }
    };
    let column = column_arg(check)?;
    let aggr = match check.arg("aggr_type") {
        None | Some(ArgValue::Null) => AggrType::Avg,
        _ => aggr_type_of(check)?,
    };
    star_aggregate(check, &column, aggr)?;
    let percentile = percentile_of(check, aggr)?.map(|(p, _)| p);
    let time_column = match str_arg(check, "time_column")? {
        Some(t) if !t.trim().is_empty() => t.trim().to_string(),
        _ => {
            return Err(err(
                check,
                "time_column",
                "missing required argument 'time_column'",
            ))
        }
    };
    let group_by = string_list(check, "group_by", false)?;
    // DQX puts the grouping after "outlier" here (before the suffix elsewhere).
    let grouped = if group_by.is_empty() {
        String::new()
    } else {
        format!("_group_by_{}", group_by.join("_"))
    };
    let name = format!(
        "{}_{}_outlier{grouped}",
        aggr_column_name(&column),
        aggr.as_str()
    );
    Ok((
        TimeWindowCheck::AggrOutliers {
            column,
            time_column,
            aggr,
            percentile,
            sigma,
            sigma_text,
            lookback,
            warmup,
            interval,
            group_by,
        },
        name.trim_start_matches('_').to_string(),
    ))
}

impl TimeWindowCheck {
    /// The checked column (DQX's `columns` of the result).
    pub fn column(&self) -> &str {
        match self {
            TimeWindowCheck::Fresh { column, .. }
            | TimeWindowCheck::Gaps { column, .. }
            | TimeWindowCheck::AggrOutliers { column, .. } => column,
        }
    }
}

/// A date or timestamp column as microseconds since the epoch (a date at its midnight, UTC);
/// `None` for another type.
pub fn micros(a: &ArrayRef) -> Option<Vec<Option<i64>>> {
    match a.data_type() {
        DataType::Timestamp(..) => {
            let t = a.as_primitive::<TimestampMicrosecondType>();
            Some(t.iter().collect())
        }
        DataType::Date32 => {
            let d = a.as_primitive::<arrow::datatypes::Date32Type>();
            Some(d.iter().map(|v| v.map(|d| d as i64 * US_PER_DAY)).collect())
        }
        DataType::Null => Some(vec![None; a.len()]),
        _ => None,
    }
}

/// The start of the `minutes`-minute window holding `us` (Spark's `window`, aligned to the
/// epoch).
fn window_start(us: i64, minutes: i64) -> i64 {
    us - us.rem_euclid(minutes * US_PER_MINUTE)
}

/// `is_data_fresh_per_time_window`: rows (selected, not after `now`, within the lookback)
/// whose window holds fewer than `min_records` such rows; `dates`: the column holds dates.
pub fn fresh_marks(
    check: &TimeWindowCheck,
    ts: &[Option<i64>],
    dates: bool,
    selected: &[bool],
    now_us: i64,
) -> Vec<(usize, String)> {
    let TimeWindowCheck::Fresh {
        window_minutes,
        min_records,
        lookback_windows,
        ..
    } = check
    else {
        return Vec::new();
    };
    // DQX's cutoff: from_unixtime(unix_timestamp(now) - lookback minutes), text in whole
    // seconds, which Spark compares with a date column as a date (its day).
    let cutoff = lookback_windows.map(|l| {
        let us = (now_us.div_euclid(1_000_000) - l * window_minutes * 60) * 1_000_000;
        if dates {
            us - us.rem_euclid(US_PER_DAY)
        } else {
            us
        }
    });
    let counted: Vec<bool> = (0..ts.len())
        .map(|i| selected[i] && ts[i].is_some_and(|t| t <= now_us && cutoff.is_none_or(|c| t >= c)))
        .collect();
    let mut counts: std::collections::HashMap<i64, i64> = Default::default();
    for (i, t) in ts.iter().enumerate() {
        if let (true, Some(t)) = (counted[i], t) {
            *counts.entry(window_start(*t, *window_minutes)).or_default() += 1;
        }
    }
    (0..ts.len())
        .filter(|&i| counted[i])
        .filter_map(|i| {
            let start = window_start(ts[i]?, *window_minutes);
            let n = counts[&start];
            (n < *min_records).then(|| {
                (
                    i,
                    format!(
                        "Data arrival completeness check failed: only {n} records found in \
                         {window_minutes}-minute interval starting at {} and ending at {}, \
                         expected at least {min_records} records",
                        format_timestamp(start),
                        format_timestamp(start + window_minutes * US_PER_MINUTE)
                    ),
                )
            })
        })
        .collect()
}

/// `has_no_gaps_per_time_window`: selected rows of the last present window (per group) before
/// an empty one; `keys` are the rows' group keys. Gaps are found over all rows.
pub fn gap_marks(
    check: &TimeWindowCheck,
    ts: &[Option<i64>],
    keys: &[Vec<Option<String>>],
    selected: &[bool],
    now_us: i64,
) -> Vec<(usize, String)> {
    let TimeWindowCheck::Gaps {
        window_minutes,
        trailing_gap,
        ..
    } = check
    else {
        return Vec::new();
    };
    let width = window_minutes * US_PER_MINUTE;
    let mut windows: std::collections::HashMap<&Vec<Option<String>>, Vec<i64>> = Default::default();
    for (i, t) in ts.iter().enumerate() {
        if let Some(t) = t {
            windows
                .entry(&keys[i])
                .or_default()
                .push(window_start(*t, *window_minutes));
        }
    }
    let anchor = window_start(now_us, *window_minutes);
    // Per (group, window start): the next present window (or now's), and whether it is now's.
    let mut gaps: std::collections::HashMap<(&Vec<Option<String>>, i64), (i64, bool)> =
        Default::default();
    for (key, starts) in &mut windows {
        starts.sort_unstable();
        starts.dedup();
        for (k, &start) in starts.iter().enumerate() {
            let next = match starts.get(k + 1) {
                Some(&n) => (n, false),
                None if *trailing_gap => (anchor, true),
                None => continue,
            };
            if next.0 - start > width {
                gaps.insert((*key, start), next);
            }
        }
    }
    (0..ts.len())
        .filter(|&i| selected[i])
        .filter_map(|i| {
            let start = window_start(ts[i]?, *window_minutes);
            let &(next, trailing) = gaps.get(&(&keys[i], start))?;
            let phrase = if trailing {
                " and the current time; the current window starts at "
            } else {
                " and the next present window starting at "
            };
            Some((
                i,
                format!(
                    "Gap in time series: no data between the window starting at {}{phrase}{}",
                    format_timestamp(start),
                    format_timestamp(next)
                ),
            ))
        })
        .collect()
}

/// `has_no_aggr_outliers`: `values` are the rows' aggregate inputs (null where the filter
/// does not hold), `ts` their times, `keys` their groups; every selected row of a group whose
/// latest grain is an outlier is marked.
pub fn aggr_outlier_marks(
    check: &TimeWindowCheck,
    values: &[Option<Value>],
    ts: &[Option<i64>],
    keys: &[Vec<Option<String>>],
    selected: &[bool],
) -> Vec<(usize, String)> {
    let TimeWindowCheck::AggrOutliers {
        column,
        aggr,
        percentile,
        sigma,
        sigma_text,
        lookback,
        warmup,
        interval,
        ..
    } = check
    else {
        return Vec::new();
    };
    // Per group, per grain (a null time is a grain of its own, ordered last), the inputs.
    type Grains = std::collections::BTreeMap<std::cmp::Reverse<Option<i64>>, Vec<Value>>;
    let mut groups: std::collections::HashMap<&Vec<Option<String>>, Grains> = Default::default();
    for i in 0..values.len() {
        let grain = ts[i].map(|t| interval.trunc(t));
        // Descending, nulls last: Reverse(Some) sorts before Reverse(None).
        let inputs = groups
            .entry(&keys[i])
            .or_default()
            .entry(std::cmp::Reverse(grain))
            .or_default();
        if let Some(v) = &values[i] {
            inputs.push(v.clone());
        }
    }
    let mut failing: std::collections::HashMap<&Vec<Option<String>>, String> = Default::default();
    for (key, grains) in &groups {
        let metrics: Vec<Option<Value>> = grains
            .iter()
            .map(|(_, vs)| aggregate(*aggr, vs, *percentile))
            .collect();
        let Some(current) = metrics[0].clone() else {
            continue;
        };
        let hist = &metrics[1..metrics.len().min(*lookback as usize + 1)];
        if (hist.len() as i64) < *warmup {
            continue;
        }
        let known: Vec<Value> = hist.iter().flatten().cloned().collect();
        let (Some(mu), Some(sd)) = (
            aggregate(AggrType::Avg, &known, None).and_then(|v| v.as_f64()),
            aggregate(AggrType::StddevPop, &known, None).and_then(|v| v.as_f64()),
        ) else {
            continue;
        };
        let Some(cur) = current.as_f64() else {
            continue;
        };
        let delta = (cur - mu).abs();
        if sd == 0.0 || !(delta > sigma * sd) {
            continue;
        }
        failing.insert(
            *key,
            format!(
                "{}({column}): current={}, baseline={}, stddev={}, delta={} exceeds {sigma_text} \
                 x stddev (lookback={lookback} intervals)",
                aggr.as_str(),
                current.render(),
                java_double(mu),
                java_double(sd),
                java_double(delta)
            ),
        );
    }
    (0..values.len())
        .filter(|&i| selected[i])
        .filter_map(|i| failing.get(&keys[i]).map(|m| (i, m.clone())))
        .collect()
}
