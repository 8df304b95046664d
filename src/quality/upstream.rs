//! DQX's `aggr_matches_dataset`: an aggregate of the checked rows (over all of them, or per
//! `group_by` group) equal to the same aggregate of a reference dataset (per `ref_group_by`
//! group, matched null-safely by position), within optional tolerances. Compiled with DQX
//! 0.17's validation, name and message; evaluated by `medallion check --input` with the
//! reference given by `--ref NAME=ROWS.jsonl` (named by `ref_df_name`, or by `ref_table`).

use std::collections::HashMap;

use super::aggregates::{AggrType, Value};
use super::checks::{ArgValue, Check};
use super::dataset_args::{
    aggr_check_name, aggr_type_of, err, percentile_of, ref_source, star_aggregate, str_arg,
    string_list, tolerance, within_tolerance,
};
use super::error::CheckError;

pub use super::dataset_args::{GroupKey, RefSource};

/// A compiled `aggr_matches_dataset`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggrMatches {
    pub column: String,
    pub reference: RefSource,
    pub ref_column: String,
    pub aggr: AggrType,
    /// `aggr_params: {percentile: p}`: p, and the parameters as DQX prints them.
    pub percentile: Option<(f64, String)>,
    pub group_by: Vec<String>,
    pub ref_group_by: Vec<String>,
    /// `ref_row_filter`: the reference rows aggregated.
    pub ref_filter: Option<String>,
    pub abs_tolerance: f64,
    pub rel_tolerance: f64,
}

/// Compiles `aggr_matches_dataset`: the check and its generated name.
pub fn compile(check: &Check) -> Result<(AggrMatches, String), CheckError> {
    let reference = ref_source(check)?;
    let group_by = string_list(check, "group_by", false)?;
    let given_ref_group_by = string_list(check, "ref_group_by", false)?;
    if !given_ref_group_by.is_empty() && group_by.is_empty() {
        return Err(err(
            check,
            "ref_group_by",
            "'ref_group_by' was provided without 'group_by'. Please provide 'group_by' for the \
             checked DataFrame as well.",
        ));
    }
    let ref_group_by = if check.arg("ref_group_by").is_none() {
        group_by.clone()
    } else {
        given_ref_group_by
    };
    if ref_group_by.len() != group_by.len() {
        return Err(err(
            check,
            "ref_group_by",
            format!(
                "'group_by' has {} entries but 'ref_group_by' has {}. Both must have the same \
                 length to allow comparison.",
                group_by.len(),
                ref_group_by.len()
            ),
        ));
    }
    let column = match check.arg("column") {
        Some(ArgValue::Str(s)) if !s.trim().is_empty() => s.trim().to_string(),
        _ => return Err(err(check, "column", "missing required argument 'column'")),
    };
    let ref_column = str_arg(check, "ref_column")?
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| column.clone());
    let aggr = aggr_type_of(check)?;
    star_aggregate(check, &column, aggr)?;
    if ref_column == "*" && !matches!(aggr, AggrType::Count | AggrType::CountDistinct) {
        return Err(err(
            check,
            "ref_column",
            format!(
                "Column '*' is only supported with 'count' or 'count_distinct' (got '{}'). Use \
                 an explicit column for other aggregates.",
                aggr.as_str()
            ),
        ));
    }
    let name = aggr_check_name(&column, aggr, &group_by, "not_equal_to_upstream_limit");
    let ref_filter = str_arg(check, "ref_row_filter")?
        .filter(|f| !f.trim().is_empty())
        .map(str::to_string);
    if let Some(f) = &ref_filter {
        super::expr::parse(f).map_err(|e| err(check, "ref_row_filter", e.to_string()))?;
    }
    Ok((
        AggrMatches {
            column,
            reference,
            ref_column,
            aggr,
            percentile: percentile_of(check, aggr)?,
            group_by,
            ref_group_by,
            ref_filter,
            abs_tolerance: tolerance(check, "abs_tolerance")?,
            rel_tolerance: tolerance(check, "rel_tolerance")?,
        },
        name,
    ))
}

impl AggrMatches {
    /// Whether the checked `metric` and the reference's differ (DQX's null-safe comparison:
    /// two nulls match, one null does not).
    fn differs(&self, metric: Option<&Value>, reference: Option<&Value>) -> bool {
        let (m, r) = match (metric, reference) {
            (None, None) => return false,
            (Some(m), Some(r)) => (m, r),
            _ => return true,
        };
        let number = |v: &Value| matches!(v, Value::Int(_) | Value::Float(_));
        if number(m) && number(r) {
            let (a, b) = (
                m.as_f64().unwrap_or(f64::NAN),
                r.as_f64().unwrap_or(f64::NAN),
            );
            let tolerant = self.abs_tolerance > 0.0 || self.rel_tolerance > 0.0;
            let equal = if tolerant {
                within_tolerance(a, b, self.abs_tolerance, self.rel_tolerance)
            } else {
                a == b
            };
            return !equal;
        }
        m.render() != r.render()
    }

    /// DQX's message for a differing group.
    fn message(&self, metric: Option<&Value>, reference: Option<&Value>) -> String {
        let params = self
            .percentile
            .as_ref()
            .map(|(_, shown)| format!(" ({shown})"))
            .unwrap_or_default();
        let per_group = if self.group_by.is_empty() {
            String::new()
        } else {
            format!(" per group of columns '{}'", self.group_by.join(", "))
        };
        // concat_ws skips a null metric or limit.
        let shown = |v: Option<&Value>| v.map(Value::render).unwrap_or_default();
        format!(
            "{}{params} value {} in column '{}'{per_group} is not equal to {} column '{}' \
             limit: {}",
            self.aggr.display(),
            shown(metric),
            self.column,
            self.reference.label(),
            self.ref_column,
            shown(reference)
        )
    }

    /// The selected rows of groups whose aggregate differs from the reference's. `values` are
    /// the checked rows' aggregate inputs (null where not selected), `keys` their groups;
    /// `ref_values` / `ref_keys` the reference rows' (null where `ref_row_filter` fails).
    pub fn marks(
        &self,
        values: &[Option<Value>],
        keys: &[GroupKey],
        selected: &[bool],
        ref_values: &[Option<Value>],
        ref_keys: &[GroupKey],
    ) -> Vec<(usize, String)> {
        let p = self.percentile.as_ref().map(|(p, _)| *p);
        let metrics = |values: &[Option<Value>], keys: &[GroupKey]| {
            let mut inputs: HashMap<GroupKey, Vec<Value>> = HashMap::new();
            for (v, k) in values.iter().zip(keys) {
                let group = inputs.entry(k.clone()).or_default();
                if let Some(v) = v {
                    group.push(v.clone());
                }
            }
            inputs
                .into_iter()
                .map(|(k, vs)| {
                    let m = super::aggregates::aggregate(self.aggr, &vs, p);
                    (k, m)
                })
                .collect::<HashMap<_, _>>()
        };
        let mine = metrics(values, keys);
        let mut theirs = metrics(ref_values, ref_keys);
        if self.group_by.is_empty() && theirs.is_empty() {
            // A global aggregate over no reference rows still has a value (count 0, sum null).
            theirs.insert(Vec::new(), super::aggregates::aggregate(self.aggr, &[], p));
        }
        (0..values.len())
            .filter(|&i| selected[i])
            .filter_map(|i| {
                let metric = mine.get(&keys[i]).and_then(Option::as_ref);
                let reference = theirs.get(&keys[i]).and_then(Option::as_ref);
                self.differs(metric, reference)
                    .then(|| (i, self.message(metric, reference)))
            })
            .collect()
    }
}
