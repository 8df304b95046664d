//! DQX's `compare_datasets`: the input compared row by row with a reference dataset. Rows are
//! matched by key (`columns` with `ref_columns`, by position); several rows of one key are paired
//! as DQX pairs them (the n-th of each side in the order of their compared values; with a filter,
//! equal rows first); a row is reported with the columns whose values differ, when it has no
//! partner (`row_extra`), and, with `check_missing_records`, each reference row without one is
//! reported too (`row_missing`). Compiled with DQX 0.17's validation, name and message (the JSON
//! of `{row_missing, row_extra, changed}`); evaluated by `medallion check --input` against a
//! `--ref` dataset.

use std::collections::HashMap;

use super::aggregates::Value;
use super::checks::Check;
use super::dataset_args::{
    bool_arg, err, ref_source, string_list, tolerance, within_tolerance, GroupKey, RefSource,
};
use super::error::CheckError;
use super::functions::normalize;

/// A compiled `compare_datasets`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareDatasets {
    pub columns: Vec<String>,
    pub ref_columns: Vec<String>,
    pub reference: RefSource,
    pub check_missing_records: bool,
    pub exclude_columns: Vec<String>,
    pub null_safe_row_matching: bool,
    pub null_safe_column_value_matching: bool,
    pub abs_tolerance: f64,
    pub rel_tolerance: f64,
    pub raise_on_duplicate_keys: bool,
}

/// Compiles `compare_datasets`: the check and its generated name.
pub fn compile(check: &Check) -> Result<(CompareDatasets, String), CheckError> {
    let reference = ref_source(check)?;
    let columns = string_list(check, "columns", true)?;
    let ref_columns = string_list(check, "ref_columns", true)?;
    if columns.len() != ref_columns.len() {
        return Err(err(
            check,
            "ref_columns",
            format!(
                "'columns' has {} entries but 'ref_columns' has {}. Both must have the same \
                 length to allow comparison.",
                columns.len(),
                ref_columns.len()
            ),
        ));
    }
    let name = normalize(&format!(
        "datasets_diff_pk_{}_ref_{}",
        columns.join("_"),
        ref_columns.join("_")
    ));
    Ok((
        CompareDatasets {
            columns,
            ref_columns,
            reference,
            check_missing_records: bool_arg(check, "check_missing_records", false)?,
            exclude_columns: string_list(check, "exclude_columns", false)?,
            null_safe_row_matching: bool_arg(check, "null_safe_row_matching", true)?,
            null_safe_column_value_matching: bool_arg(
                check,
                "null_safe_column_value_matching",
                true,
            )?,
            abs_tolerance: tolerance(check, "abs_tolerance")?,
            rel_tolerance: tolerance(check, "rel_tolerance")?,
            raise_on_duplicate_keys: bool_arg(check, "raise_on_duplicate_keys", false)?,
        },
        name,
    ))
}

/// One side of the comparison, a value per row: its key, its compared values (one per compared
/// column) and, for the input, whether the filter selects it.
pub struct Side {
    pub keys: Vec<GroupKey>,
    pub values: Vec<Vec<Option<Value>>>,
    pub scope: Vec<bool>,
}

/// A compared column: its name, whether it is numeric on both sides (ordered by value, and
/// compared within the tolerances when numeric in the input).
pub struct Compared {
    pub name: String,
    pub numeric_both: bool,
    pub numeric_input: bool,
}

/// What the comparison reports: per input row its message (or none), and the reference rows no
/// input row pairs with (with `check_missing_records`) with theirs.
pub struct Report {
    pub rows: Vec<Option<String>>,
    pub missing: Vec<(usize, String)>,
}

fn number(v: &Value) -> Option<f64> {
    matches!(v, Value::Int(_) | Value::Float(_))
        .then(|| v.as_f64())
        .flatten()
}

/// Spark's null-safe equality of two values (numbers compared as numbers).
fn same(a: &Option<Value>, b: &Option<Value>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => match (number(x), number(y)) {
            (Some(p), Some(q)) => p == q,
            _ => x.render() == y.render(),
        },
        _ => false,
    }
}

/// DQX's pairing order of two rows' compared values: numeric columns by value, the others as
/// text, nulls first.
fn value_order(a: &[Option<Value>], b: &[Option<Value>], cols: &[Compared]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (k, c) in cols.iter().enumerate() {
        let o = match (&a[k], &b[k]) {
            (None, None) => Ordering::Equal,
            (None, Some(_)) => Ordering::Less,
            (Some(_), None) => Ordering::Greater,
            (Some(x), Some(y)) if c.numeric_both => {
                let (p, q) = (number(x).unwrap_or(f64::NAN), number(y).unwrap_or(f64::NAN));
                p.total_cmp(&q)
            }
            (Some(x), Some(y)) => x.render().as_bytes().cmp(y.render().as_bytes()),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

impl CompareDatasets {
    /// Whether two keys match (nulls match nulls only with `null_safe_row_matching`).
    fn keys_match(&self, a: &GroupKey, b: &GroupKey) -> bool {
        a == b && (self.null_safe_row_matching || a.iter().all(Option::is_some))
    }

    /// Pairs the input's rows with the reference's and reports the differences. `filtered`: the
    /// check has a filter (DQX's exact-value pairing).
    pub fn compare(&self, src: &Side, refd: &Side, cols: &[Compared], filtered: bool) -> Report {
        let partner = if self.raise_on_duplicate_keys {
            self.pair_unique(src, refd)
        } else if filtered {
            self.pair_exact_first(src, refd, cols)
        } else {
            self.pair_in_order(src, refd, cols)
        };
        let mut paired = vec![false; refd.keys.len()];
        for r in partner.iter().flatten() {
            paired[*r] = true;
        }
        let none = vec![None; cols.len()];
        let rows = (0..src.keys.len())
            .map(|i| {
                let theirs = partner[i].map_or(&none, |r| &refd.values[r]);
                let changed = self.changed(&src.values[i], theirs, cols);
                let extra = partner[i].is_none();
                (src.scope[i] && (extra || !changed.is_empty()))
                    .then(|| message(false, extra, &changed))
            })
            .collect();
        let missing = if self.check_missing_records {
            (0..refd.keys.len())
                .filter(|&r| !paired[r])
                .map(|r| {
                    let changed = self.changed(&none, &refd.values[r], cols);
                    (r, message(true, false, &changed))
                })
                .collect()
        } else {
            Vec::new()
        };
        Report { rows, missing }
    }

    /// The compared columns whose values differ: (column, input value, reference value).
    fn changed<'v>(
        &self,
        mine: &'v [Option<Value>],
        theirs: &'v [Option<Value>],
        cols: &'v [Compared],
    ) -> Vec<(&'v str, &'v Option<Value>, &'v Option<Value>)> {
        let tolerant = self.abs_tolerance > 0.0 || self.rel_tolerance > 0.0;
        let null_safe = self.null_safe_column_value_matching;
        cols.iter()
            .enumerate()
            .filter(|(k, c)| {
                let (a, b) = (&mine[*k], &theirs[*k]);
                if tolerant && c.numeric_input {
                    let within = || match (a.as_ref().and_then(number), b.as_ref().and_then(number))
                    {
                        (Some(x), Some(y)) => {
                            within_tolerance(x, y, self.abs_tolerance, self.rel_tolerance)
                        }
                        _ => false,
                    };
                    let either_null = a.is_none() || b.is_none();
                    let matches = if null_safe {
                        (a.is_none() && b.is_none()) || (!either_null && within())
                    } else {
                        either_null || within()
                    };
                    return !matches;
                }
                if null_safe {
                    !same(a, b)
                } else {
                    a.is_some() && b.is_some() && !same(a, b)
                }
            })
            .map(|(k, c)| (c.name.as_str(), &mine[k], &theirs[k]))
            .collect()
    }

    /// Unique keys (`raise_on_duplicate_keys`): each input row with the reference row of its key.
    fn pair_unique(&self, src: &Side, refd: &Side) -> Vec<Option<usize>> {
        let index: HashMap<&GroupKey, usize> = refd
            .keys
            .iter()
            .enumerate()
            .filter(|(_, k)| self.null_safe_row_matching || k.iter().all(Option::is_some))
            .map(|(r, k)| (k, r))
            .collect();
        src.keys
            .iter()
            .map(|k| {
                index
                    .get(k)
                    .copied()
                    .filter(|&r| self.keys_match(k, &refd.keys[r]))
            })
            .collect()
    }

    /// No filter: per key, the n-th input row (in the order of its compared values) with the
    /// n-th reference row.
    fn pair_in_order(&self, src: &Side, refd: &Side, cols: &[Compared]) -> Vec<Option<usize>> {
        let ranks = |side: &Side| -> Vec<usize> {
            let mut by_key: HashMap<&GroupKey, Vec<usize>> = HashMap::new();
            for (i, k) in side.keys.iter().enumerate() {
                by_key.entry(k).or_default().push(i);
            }
            let mut rank = vec![0; side.keys.len()];
            for rows in by_key.values_mut() {
                rows.sort_by(|&a, &b| value_order(&side.values[a], &side.values[b], cols));
                for (n, &i) in rows.iter().enumerate() {
                    rank[i] = n;
                }
            }
            rank
        };
        let (mine, theirs) = (ranks(src), ranks(refd));
        let index: HashMap<(&GroupKey, usize), usize> = (0..refd.keys.len())
            .map(|r| ((&refd.keys[r], theirs[r]), r))
            .collect();
        (0..src.keys.len())
            .map(|i| {
                let r = *index.get(&(&src.keys[i], mine[i]))?;
                self.keys_match(&src.keys[i], &refd.keys[r]).then_some(r)
            })
            .collect()
    }

    /// With a filter: selected input rows first take reference rows with the same key and equal
    /// compared values; the rest pair by position per key (selected rows first), a row outside
    /// the filter only for a key no selected row has.
    fn pair_exact_first(&self, src: &Side, refd: &Side, cols: &[Compared]) -> Vec<Option<usize>> {
        let countable = |k: &GroupKey| self.null_safe_row_matching || k.iter().all(Option::is_some);
        let value_key = |side: &Side, i: usize| -> (GroupKey, Vec<String>) {
            let vals = side.values[i]
                .iter()
                .map(|v| match v {
                    None => "n".to_string(),
                    Some(v) => match number(v) {
                        Some(x) if x == 0.0 => "f0".to_string(),
                        Some(x) => format!("f{x:?}"),
                        None => format!("s{}", v.render()),
                    },
                })
                .collect();
            (side.keys[i].clone(), vals)
        };
        let src_vk: Vec<_> = (0..src.keys.len()).map(|i| value_key(src, i)).collect();
        let ref_vk: Vec<_> = (0..refd.keys.len()).map(|r| value_key(refd, r)).collect();
        let mut src_counts: HashMap<&(GroupKey, Vec<String>), usize> = HashMap::new();
        for i in (0..src.keys.len()).filter(|&i| src.scope[i] && countable(&src.keys[i])) {
            *src_counts.entry(&src_vk[i]).or_default() += 1;
        }
        let mut ref_counts: HashMap<&(GroupKey, Vec<String>), usize> = HashMap::new();
        for r in (0..refd.keys.len()).filter(|&r| countable(&refd.keys[r])) {
            *ref_counts.entry(&ref_vk[r]).or_default() += 1;
        }
        let opposite_src = |i: usize| {
            if countable(&src.keys[i]) {
                ref_counts.get(&src_vk[i]).copied().unwrap_or(0)
            } else {
                0
            }
        };
        let opposite_ref = |r: usize| {
            if countable(&refd.keys[r]) {
                src_counts.get(&ref_vk[r]).copied().unwrap_or(0)
            } else {
                0
            }
        };
        // Exact ranks: per (key, values), selected rows first (input order within).
        let exact_rank = |side: &Side, vk: &[(GroupKey, Vec<String>)], by_scope: bool| {
            let mut groups: HashMap<&(GroupKey, Vec<String>), Vec<usize>> = HashMap::new();
            for (i, k) in vk.iter().enumerate() {
                groups.entry(k).or_default().push(i);
            }
            let mut rank = vec![0; vk.len()];
            for rows in groups.values_mut() {
                if by_scope {
                    rows.sort_by_key(|&i| !side.scope[i]);
                }
                for (n, &i) in rows.iter().enumerate() {
                    rank[i] = n + 1;
                }
            }
            rank
        };
        let src_exact_rank = exact_rank(src, &src_vk, true);
        let ref_exact_rank = exact_rank(refd, &ref_vk, false);
        let src_exact: Vec<bool> = (0..src.keys.len())
            .map(|i| src.scope[i] && src_exact_rank[i] <= opposite_src(i))
            .collect();
        let ref_exact: Vec<bool> = (0..refd.keys.len())
            .map(|r| ref_exact_rank[r] <= opposite_ref(r))
            .collect();
        // Residual ranks: per (key, exact), selected rows first, then by compared values.
        let residual_rank = |side: &Side, exact: &[bool]| {
            let mut groups: HashMap<(&GroupKey, bool), Vec<usize>> = HashMap::new();
            for (i, k) in side.keys.iter().enumerate() {
                groups.entry((k, exact[i])).or_default().push(i);
            }
            let mut rank = vec![0; side.keys.len()];
            for rows in groups.values_mut() {
                rows.sort_by(|&a, &b| {
                    side.scope[b]
                        .cmp(&side.scope[a])
                        .then_with(|| value_order(&side.values[a], &side.values[b], cols))
                });
                for (n, &i) in rows.iter().enumerate() {
                    rank[i] = n + 1;
                }
            }
            rank
        };
        let src_res = residual_rank(src, &src_exact);
        let ref_res = residual_rank(refd, &ref_exact);
        let rn = |exact: bool, e: usize, res: usize| if exact { e } else { res };
        // A key has a selected input row: rows outside the filter pair only for keys without.
        let mut key_in_scope: HashMap<&GroupKey, bool> = HashMap::new();
        for (i, k) in src.keys.iter().enumerate() {
            *key_in_scope.entry(k).or_default() |= src.scope[i];
        }
        let mut index: HashMap<(&GroupKey, bool, usize), Vec<usize>> = HashMap::new();
        for r in 0..refd.keys.len() {
            let n = rn(ref_exact[r], ref_exact_rank[r], ref_res[r]);
            index
                .entry((&refd.keys[r], ref_exact[r], n))
                .or_default()
                .push(r);
        }
        (0..src.keys.len())
            .map(|i| {
                if !src.scope[i] && key_in_scope[&src.keys[i]] {
                    return None;
                }
                let n = rn(src_exact[i], src_exact_rank[i], src_res[i]);
                let candidates = index.get(&(&src.keys[i], src_exact[i], n))?;
                candidates.iter().copied().find(|&r| {
                    self.keys_match(&src.keys[i], &refd.keys[r])
                        && (!src_exact[i] || src_vk[i].1 == ref_vk[r].1)
                })
            })
            .collect()
    }
}

/// DQX's message: `to_json` of the struct (the changed columns in the input's order, null
/// values left out, as Spark's `to_json` writes them).
fn message(
    missing: bool,
    extra: bool,
    changed: &[(&str, &Option<Value>, &Option<Value>)],
) -> String {
    let text = |s: &str| serde_json::Value::String(s.to_string()).to_string();
    let diffs: Vec<String> = changed
        .iter()
        .map(|(name, mine, theirs)| {
            let sides: Vec<String> = [("df", mine), ("ref", theirs)]
                .iter()
                .filter_map(|(side, v)| {
                    v.as_ref()
                        .map(|v| format!("\"{side}\":{}", text(&v.render())))
                })
                .collect();
            format!("{}:{{{}}}", text(name), sides.join(","))
        })
        .collect();
    format!(
        "{{\"row_missing\":{missing},\"row_extra\":{extra},\"changed\":{{{}}}}}",
        diffs.join(",")
    )
}
