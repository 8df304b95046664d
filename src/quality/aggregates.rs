//! DQX's aggregate types (`aggr_type` of the `is_aggr_*` checks): their names, the wording DQX
//! shows in messages, and their value over one group's values as Spark computes it (sums in row
//! order, Spark's streaming central moments for the deviations, Spark's interpolating
//! `percentile`), for evaluating dataset checks over a whole input (`medallion check`).

use super::expr::render::java_double;

/// An aggregate type, with DQX 0.17's curated names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggrType {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    CountDistinct,
    ApproxCountDistinct,
    CountIf,
    Stddev,
    StddevPop,
    StddevSamp,
    Variance,
    VarPop,
    VarSamp,
    Median,
    Mode,
    Skewness,
    Kurtosis,
    Percentile,
    ApproxPercentile,
}

/// Every type with its name and DQX's display name.
const TYPES: [(AggrType, &str, &str); 20] = [
    (AggrType::Count, "count", "Count"),
    (AggrType::Sum, "sum", "Sum"),
    (AggrType::Avg, "avg", "Average"),
    (AggrType::Min, "min", "Min"),
    (AggrType::Max, "max", "Max"),
    (AggrType::CountDistinct, "count_distinct", "Distinct count"),
    (
        AggrType::ApproxCountDistinct,
        "approx_count_distinct",
        "Approximate distinct count",
    ),
    (AggrType::CountIf, "count_if", "Conditional count"),
    (AggrType::Stddev, "stddev", "Standard deviation"),
    (
        AggrType::StddevPop,
        "stddev_pop",
        "Population standard deviation",
    ),
    (
        AggrType::StddevSamp,
        "stddev_samp",
        "Sample standard deviation",
    ),
    (AggrType::Variance, "variance", "Variance"),
    (AggrType::VarPop, "var_pop", "Population variance"),
    (AggrType::VarSamp, "var_samp", "Sample variance"),
    (AggrType::Median, "median", "Median"),
    (AggrType::Mode, "mode", "Mode"),
    (AggrType::Skewness, "skewness", "Skewness"),
    (AggrType::Kurtosis, "kurtosis", "Kurtosis"),
    (AggrType::Percentile, "percentile", "Percentile"),
    (
        AggrType::ApproxPercentile,
        "approx_percentile",
        "Approximate percentile",
    ),
];

impl AggrType {
    /// The type named `name` (DQX's spelling).
    pub fn from_name(name: &str) -> Option<AggrType> {
        TYPES.iter().find(|t| t.1 == name).map(|t| t.0)
    }
    /// The names, for error messages.
    pub fn names() -> impl Iterator<Item = &'static str> {
        TYPES.iter().map(|t| t.1)
    }
    pub fn as_str(self) -> &'static str {
        TYPES.iter().find(|t| t.0 == self).map_or("", |t| t.1)
    }
    /// DQX's display name in messages (`Average value 2.5 in column …`).
    pub fn display(self) -> &'static str {
        TYPES.iter().find(|t| t.0 == self).map_or("", |t| t.2)
    }
    /// Whether the type takes `aggr_params: {percentile: p}` (and needs it).
    pub fn takes_percentile(self) -> bool {
        matches!(self, AggrType::Percentile | AggrType::ApproxPercentile)
    }
    /// Whether the stream-wide evaluation (the `dataset_checks` view) maintains this type.
    pub fn is_streamed(self) -> bool {
        matches!(
            self,
            AggrType::Count
                | AggrType::Sum
                | AggrType::Avg
                | AggrType::Min
                | AggrType::Max
                | AggrType::CountDistinct
        )
    }
    /// Whether the type needs numbers (anything else takes any column).
    pub fn needs_number(self) -> bool {
        !matches!(
            self,
            AggrType::Count
                | AggrType::CountDistinct
                | AggrType::ApproxCountDistinct
                | AggrType::Min
                | AggrType::Max
                | AggrType::Mode
                | AggrType::CountIf
        )
    }
}

/// A value being aggregated or an aggregate's result, in Spark's types.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
}

impl Value {
    /// Spark's `cast(value as string)`.
    pub fn render(&self) -> String {
        match self {
            Value::Int(i) => i.to_string(),
            Value::Float(x) => java_double(*x),
            Value::Bool(b) => b.to_string(),
            Value::Str(s) => s.clone(),
        }
    }
    /// The value as a double (for comparing with a limit); text that is not a number has none.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(x) => Some(*x),
            Value::Bool(_) => None,
            Value::Str(s) => s.trim().parse().ok(),
        }
    }
    /// A key under which Spark's grouping treats values as equal (`-0.0` is `0.0`).
    pub fn group_key(&self) -> String {
        match self {
            Value::Float(x) if *x == 0.0 => "f0.0".into(),
            Value::Float(x) => format!("f{}", java_double(*x)),
            Value::Int(i) => format!("i{i}"),
            Value::Bool(b) => format!("b{b}"),
            Value::Str(s) => format!("s{s}"),
        }
    }
}

/// Spark's ordering of values of one type (NaN above every double).
fn order(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        (Value::Float(x), Value::Float(y)) => match (x.is_nan(), y.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            // -0.0 and 0.0 are equal, as in Spark's ordering.
            _ => x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal),
        },
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Str(x), Value::Str(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => std::cmp::Ordering::Equal,
    }
}

fn float(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Spark's `CentralMomentAgg` buffer, updated a value at a time.
#[derive(Default)]
struct Moments {
    n: f64,
    avg: f64,
    m2: f64,
    m3: f64,
    m4: f64,
}

impl Moments {
    fn update(&mut self, x: f64) {
        let new_n = self.n + 1.0;
        let delta = x - self.avg;
        let delta_n = delta / new_n;
        let new_avg = self.avg + delta_n;
        let new_m2 = self.m2 + delta * (delta - delta_n);
        let delta2 = delta * delta;
        let delta_n2 = delta_n * delta_n;
        let new_m3 = self.m3 - 3.0 * delta_n * new_m2 + delta * (delta2 - delta_n2);
        let new_m4 = self.m4 - 4.0 * delta_n * new_m3 - 6.0 * delta_n2 * new_m2
            + delta * (delta * delta2 - delta_n * delta_n2);
        *self = Moments {
            n: new_n,
            avg: new_avg,
            m2: new_m2,
            m3: new_m3,
            m4: new_m4,
        };
    }
}

/// Spark's `percentile(values, p)`: the value at position `(n - 1) · p` of the sorted values,
/// interpolated linearly between neighbours (as Spark 4 computes it: `lo + (pos - ⌊pos⌋) ·
/// (hi - lo)`, which differs from `(⌈pos⌉ - pos) · lo + (pos - ⌊pos⌋) · hi` in the last bits).
fn percentile(sorted: &[Value], p: f64) -> Option<Value> {
    if sorted.is_empty() {
        return None;
    }
    let position = (sorted.len() as f64 - 1.0) * p;
    let (lower, higher) = (position.floor(), position.ceil());
    let lo = float(&sorted[lower as usize]);
    let hi = float(&sorted[(higher as usize).min(sorted.len() - 1)]);
    Some(Value::Float(if lower == higher || lo == hi {
        lo
    } else {
        lo + (position - lower) * (hi - lo)
    }))
}

/// The aggregate of `values` (a group's non-null values in row order; for `count(*)` one value
/// a row), or `None` where Spark's result is null.
pub fn aggregate(aggr: AggrType, values: &[Value], percentile_p: Option<f64>) -> Option<Value> {
    let n = values.len();
    let sorted = || {
        let mut s = values.to_vec();
        s.sort_by(order);
        s
    };
    let distinct = || {
        let mut keys: Vec<String> = values.iter().map(Value::group_key).collect();
        keys.sort();
        keys.dedup();
        keys.len() as i64
    };
    let moments = || {
        let mut m = Moments::default();
        values.iter().for_each(|v| m.update(float(v)));
        m
    };
    match aggr {
        AggrType::Count => Some(Value::Int(n as i64)),
        AggrType::CountDistinct | AggrType::ApproxCountDistinct => Some(Value::Int(distinct())),
        AggrType::CountIf => Some(Value::Int(
            values.iter().filter(|v| **v == Value::Bool(true)).count() as i64,
        )),
        _ if n == 0 => None,
        AggrType::Sum => Some(if values.iter().all(|v| matches!(v, Value::Int(_))) {
            Value::Int(values.iter().fold(0i64, |s, v| match v {
                Value::Int(i) => s.wrapping_add(*i),
                _ => s,
            }))
        } else {
            Value::Float(values.iter().fold(0.0, |s, v| s + float(v)))
        }),
        AggrType::Avg => Some(Value::Float(
            values.iter().fold(0.0, |s, v| s + float(v)) / n as f64,
        )),
        AggrType::Min => values.iter().min_by(|a, b| order(a, b)).cloned(),
        AggrType::Max => values.iter().rev().max_by(|a, b| order(a, b)).cloned(),
        AggrType::Mode => {
            // The most frequent value; of equally frequent ones the least (mode(x, true)).
            let s = sorted();
            let mut best: Option<(&Value, usize)> = None;
            let mut i = 0;
            while i < s.len() {
                let j = (i..s.len())
                    .find(|&j| order(&s[j], &s[i]) != std::cmp::Ordering::Equal)
                    .unwrap_or(s.len());
                if best.is_none_or(|(_, c)| j - i > c) {
                    best = Some((&s[i], j - i));
                }
                i = j;
            }
            best.map(|(v, _)| v.clone())
        }
        AggrType::Median => percentile(&sorted(), 0.5),
        AggrType::Percentile => percentile(&sorted(), percentile_p.unwrap_or(0.5)),
        AggrType::ApproxPercentile => {
            // The exact answer of Spark's summary: the value of rank ⌈p · n⌉. The summary
            // holds doubles, so an integer comes back through a double (2^53 + 1 → 2^53).
            let s = sorted();
            let p = percentile_p.unwrap_or(0.5);
            let rank = (p * n as f64).ceil() as usize;
            Some(match &s[rank.clamp(1, n) - 1] {
                Value::Int(i) => Value::Int(*i as f64 as i64),
                v => v.clone(),
            })
        }
        AggrType::Stddev | AggrType::StddevSamp | AggrType::Variance | AggrType::VarSamp => {
            let m = moments();
            (m.n > 1.0).then(|| {
                let var = m.m2 / (m.n - 1.0);
                Value::Float(if matches!(aggr, AggrType::Variance | AggrType::VarSamp) {
                    var
                } else {
                    var.sqrt()
                })
            })
        }
        AggrType::StddevPop => Some(Value::Float((moments().m2 / n as f64).sqrt())),
        AggrType::VarPop => Some(Value::Float(moments().m2 / n as f64)),
        AggrType::Skewness => {
            let m = moments();
            (m.m2 != 0.0).then(|| Value::Float(m.n.sqrt() * m.m3 / (m.m2 * m.m2 * m.m2).sqrt()))
        }
        AggrType::Kurtosis => {
            let m = moments();
            (m.m2 != 0.0).then(|| Value::Float(m.n * m.m4 / (m.m2 * m.m2) - 3.0))
        }
    }
}

/// The sum of `xs` through Shewchuk's exact partials, as Python's `math.fsum` computes it (its
/// careful rounding of a half-way last step is not reproduced).
pub fn fsum(xs: impl IntoIterator<Item = f64>) -> f64 {
    let mut partials: Vec<f64> = Vec::new();
    for mut x in xs {
        let mut kept = 0;
        for i in 0..partials.len() {
            let mut y = partials[i];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        partials.truncate(kept);
        partials.push(x);
    }
    partials.iter().rev().fold(0.0, |acc, p| acc + p)
}

/// Python's `str(x)` of a float: the shortest repr, with `.0` on integral values and an
/// exponent below 1e-4 (`1e-05`).
pub fn python_float(x: f64) -> String {
    if x != 0.0 && x.abs() < 1e-4 {
        let e = format!("{x:e}");
        if let Some((m, exp)) = e.split_once('e') {
            let exp: i32 = exp.parse().unwrap_or(0);
            return format!("{m}e-{:02}", exp.abs());
        }
    }
    let s = format!("{x}");
    if s.contains(['.', 'e', 'E', 'i', 'N']) {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(xs: &[f64]) -> Vec<Value> {
        xs.iter().map(|x| Value::Float(*x)).collect()
    }

    #[test]
    fn aggregates_as_spark_computes_them() {
        let v = floats(&[1.5, 2.0, 3.25, 1.0, 0.1]);
        assert_eq!(
            aggregate(AggrType::Avg, &v, None),
            Some(Value::Float(1.5699999999999998))
        );
        assert_eq!(
            aggregate(AggrType::Stddev, &v, None),
            Some(Value::Float(1.1723907198540937))
        );
        assert_eq!(
            aggregate(AggrType::Median, &v, None),
            Some(Value::Float(1.5))
        );
        assert_eq!(
            aggregate(AggrType::Percentile, &floats(&[1.0, 2.0]), Some(0.25)),
            Some(Value::Float(1.25))
        );
        assert_eq!(aggregate(AggrType::Stddev, &floats(&[1.0]), None), None);
        assert_eq!(aggregate(AggrType::Sum, &[], None), None);
        assert_eq!(aggregate(AggrType::Count, &[], None), Some(Value::Int(0)));
        let ints = vec![Value::Int(2), Value::Int(1), Value::Int(2)];
        assert_eq!(aggregate(AggrType::Sum, &ints, None), Some(Value::Int(5)));
        assert_eq!(aggregate(AggrType::Mode, &ints, None), Some(Value::Int(2)));
        assert_eq!(
            aggregate(AggrType::CountDistinct, &ints, None),
            Some(Value::Int(2))
        );
        assert_eq!(
            aggregate(
                AggrType::ApproxPercentile,
                &[Value::Int(9_007_199_254_740_993), Value::Int(1)],
                Some(0.9)
            ),
            Some(Value::Int(9_007_199_254_740_992))
        );
        assert_eq!(AggrType::from_name("stddev_pop"), Some(AggrType::StddevPop));
        assert_eq!(AggrType::Avg.display(), "Average");
    }
}
