//! Views declared in a pipeline file rather than coded: [`latest`] (one row per key: the row with
//! the greatest event time) and [`aggregate`] (per group and tumbling event-time window: count,
//! sum, min, max, avg, count_distinct of chosen columns), over any declared event.
//!
//! Owns the declarations ([`ViewDecl`], as a pipeline file writes them), their checks against the
//! silver schema ([`ViewDecl::problems`]), and their translation into [`CustomView`]s
//! ([`build`]), which the run maintains and writes like any library user's view. Both kinds read
//! their state back from their own tables, so a restart does not read silver again and closed
//! windows leave memory (see [`super::View::group_closes_at`]).

use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef};
use serde::{Deserialize, Serialize};

use super::{custom_view, CustomView, ViewKind};
use crate::sink::tables::SilverRoles;

pub mod aggregate;
pub mod latest;

/// An aggregate function of an `aggregate` view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggFn {
    /// Rows (without `column`) or rows where `column` is not null.
    Count,
    Sum,
    Min,
    Max,
    Avg,
    /// Distinct non-null values of `column`.
    CountDistinct,
}

impl AggFn {
    pub fn name(self) -> &'static str {
        match self {
            AggFn::Count => "count",
            AggFn::Sum => "sum",
            AggFn::Min => "min",
            AggFn::Max => "max",
            AggFn::Avg => "avg",
            AggFn::CountDistinct => "count_distinct",
        }
    }
}

/// One aggregate of an `aggregate` view: `{fn: avg, column: temp, as: avg_temp}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggDecl {
    #[serde(rename = "fn")]
    pub function: AggFn,
    /// The silver column aggregated (`count` without one counts rows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The output column's name (default `FN_COLUMN`, or `count`).
    #[serde(rename = "as", default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

impl AggDecl {
    /// The output column's name.
    pub fn output_name(&self) -> String {
        match (&self.alias, &self.column) {
            (Some(a), _) => a.clone(),
            (None, Some(c)) => format!("{}_{c}", self.function.name()),
            (None, None) => self.function.name().to_string(),
        }
    }
}

/// A view as a pipeline file declares it (`views:` entries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ViewDecl {
    /// One row per key: the silver row with the greatest event time (ties: the later in its
    /// partition, then the greater partition).
    Latest {
        name: String,
        /// Key columns (default: the event's key).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<Vec<String>>,
        /// Columns kept besides the key (default: every event column).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        columns: Option<Vec<String>>,
    },
    /// Per group and tumbling event-time window: the aggregates.
    Aggregate {
        name: String,
        /// Group columns (may be empty: one group per window).
        #[serde(default)]
        group_by: Vec<String>,
        /// Window length, e.g. `5m`, `1h`, `1d`.
        window: String,
        aggregates: Vec<AggDecl>,
    },
    /// The weather pipeline's built-in views.
    StationLatest {
        name: String,
    },
    StationHourly {
        name: String,
    },
    QualityByWindow {
        name: String,
    },
}

impl ViewDecl {
    /// The view's table name.
    pub fn name(&self) -> &str {
        match self {
            ViewDecl::Latest { name, .. }
            | ViewDecl::Aggregate { name, .. }
            | ViewDecl::StationLatest { name }
            | ViewDecl::StationHourly { name }
            | ViewDecl::QualityByWindow { name } => name,
        }
    }

    /// The built-in view this declares, if it is one.
    pub fn builtin(&self) -> Option<ViewKind> {
        match self {
            ViewDecl::StationLatest { .. } => Some(ViewKind::StationLatest),
            ViewDecl::StationHourly { .. } => Some(ViewKind::StationHourly),
            ViewDecl::QualityByWindow { .. } => Some(ViewKind::QualityByWindow),
            _ => None,
        }
    }

    /// Every problem of this declaration against silver's schema, each as (key, message), the
    /// key relative to the view (`aggregates[1].column`).
    pub fn problems(&self, silver: &SchemaRef, roles: &SilverRoles) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let name = self.name();
        let valid_name = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            out.push((
                "name".into(),
                format!("'{name}' is not a table name (letters, digits, '_' and '-')"),
            ));
        }
        if let Some(kind) = self.builtin() {
            if kind.name() != name {
                out.push((
                    "name".into(),
                    format!("the built-in view {} keeps its name", kind.name()),
                ));
            }
        }
        let column = |key: String, col: &str, out: &mut Vec<(String, String)>| {
            if silver.field_with_name(col).is_err() {
                out.push((key, format!("silver has no column '{col}'")));
            }
        };
        match self {
            ViewDecl::Latest { key, columns, .. } => {
                match key {
                    Some(k) if k.is_empty() => {
                        out.push(("key".into(), "a latest view needs a key column".into()))
                    }
                    Some(k) => {
                        for (i, c) in k.iter().enumerate() {
                            column(format!("key[{i}]"), c, &mut out);
                        }
                    }
                    None if roles.key.is_none() => out.push((
                        "key".into(),
                        "the event declares no key: name the view's key columns".into(),
                    )),
                    None => {}
                }
                for (i, c) in columns.iter().flatten().enumerate() {
                    column(format!("columns[{i}]"), c, &mut out);
                }
            }
            ViewDecl::Aggregate {
                group_by,
                window,
                aggregates,
                ..
            } => {
                for (i, c) in group_by.iter().enumerate() {
                    column(format!("group_by[{i}]"), c, &mut out);
                }
                if let Err(e) = window_ms(window) {
                    out.push(("window".into(), e));
                }
                if aggregates.is_empty() {
                    out.push(("aggregates".into(), "list at least one aggregate".into()));
                }
                for (i, a) in aggregates.iter().enumerate() {
                    out.extend(
                        aggregate_problems(a, silver)
                            .into_iter()
                            .map(|(k, m)| (format!("aggregates[{i}]{k}"), m)),
                    );
                }
                let mut names: Vec<String> = group_by.clone();
                names.extend(["window_start".into(), "window_end".into()]);
                for (i, a) in aggregates.iter().enumerate() {
                    let n = a.output_name();
                    if names.contains(&n) {
                        out.push((
                            format!("aggregates[{i}]"),
                            format!("two output columns are named '{n}' (set `as`)"),
                        ));
                    }
                    names.push(n);
                }
            }
            _ => {}
        }
        out
    }
}

/// The problems of one aggregate (keys relative to it: `.column`).
fn aggregate_problems(a: &AggDecl, silver: &SchemaRef) -> Vec<(String, String)> {
    let f = a.function.name();
    let Some(col) = &a.column else {
        return if a.function == AggFn::Count {
            Vec::new()
        } else {
            vec![(".column".into(), format!("{f} needs a column"))]
        };
    };
    let Ok(field) = silver.field_with_name(col) else {
        return vec![(".column".into(), format!("silver has no column '{col}'"))];
    };
    let numeric = matches!(field.data_type(), DataType::Int64 | DataType::Float64);
    let ordered = numeric
        || matches!(
            field.data_type(),
            DataType::Utf8 | DataType::Timestamp(_, _) | DataType::Date32 | DataType::Boolean
        );
    match a.function {
        AggFn::Sum | AggFn::Avg if !numeric => vec![(
            ".column".into(),
            format!(
                "{f} needs an integer or float column; '{col}' is {}",
                field.data_type()
            ),
        )],
        AggFn::Min | AggFn::Max if !ordered => vec![(
            ".column".into(),
            format!("{f} cannot order '{col}' ({})", field.data_type()),
        )],
        _ => Vec::new(),
    }
}

/// A window length (`30s`, `5m`, `1h`, `1d`) in ms: at least a second, whole seconds, dividing a
/// day or a multiple of it.
pub fn window_ms(text: &str) -> Result<i64, String> {
    let d = humantime::parse_duration(text)
        .map_err(|e| format!("'{text}' is not a duration like 5m or 1h: {e}"))?;
    let ms = i64::try_from(d.as_millis()).map_err(|_| format!("'{text}' is too long"))?;
    const DAY: i64 = 86_400_000;
    if ms < 1000 || ms % 1000 != 0 {
        return Err(format!(
            "'{text}': a window is a whole number of seconds, at least 1s"
        ));
    }
    if DAY % ms != 0 && ms % DAY != 0 {
        return Err(format!(
            "'{text}': a window divides a day or is whole days (windows align with UTC days)"
        ));
    }
    Ok(ms)
}

/// The [`CustomView`]s of the declared `latest` and `aggregate` views (built-in kinds are the
/// caller's), over silver's `silver` schema. `Err` names the first problem.
pub fn build(
    decls: &[ViewDecl],
    silver: &SchemaRef,
    roles: &SilverRoles,
) -> Result<Vec<Arc<dyn CustomView>>, String> {
    let mut out = Vec::new();
    for d in decls {
        if let Some((key, message)) = d.problems(silver, roles).into_iter().next() {
            return Err(format!("view {}: {key}: {message}", d.name()));
        }
        match d {
            ViewDecl::Latest { name, key, columns } => {
                let key = key
                    .clone()
                    .unwrap_or_else(|| roles.key.iter().cloned().collect());
                let view = latest::LatestView::new(name, &key, columns.as_deref(), silver, roles)?;
                out.push(custom_view(view));
            }
            ViewDecl::Aggregate {
                name,
                group_by,
                window,
                aggregates,
            } => {
                let view = aggregate::AggregateView::new(
                    name,
                    group_by,
                    window_ms(window)?,
                    aggregates,
                    silver,
                    roles,
                )?;
                out.push(custom_view(view));
            }
            _ => {}
        }
    }
    Ok(out)
}

/// A hash of bytes that is the same in every process (FNV-1a): spreads keys over file groups.
pub(crate) fn stable_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(0x100000001b3);
    }
    h
}

#[cfg(test)]
mod tests;
