//! `compare_datasets` ([`crate::quality::compare`]) on one input: the compared columns chosen
//! (in both datasets, not keys, not excluded, not maps), both sides' keys and values read, and
//! the comparison's report turned into marks and missing rows.

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;

use super::{group_key, value, DatasetEvalError, OneCheck};
use crate::quality::compare::{CompareDatasets, Compared, Side};

fn numeric(t: &DataType) -> bool {
    t.is_numeric()
}

impl OneCheck<'_, '_, '_> {
    /// The input rows the comparison reports; the reference rows it finds missing go to
    /// `self.missing`.
    pub(super) fn compare_marks(
        &mut self,
        c: &CompareDatasets,
        selected: &[bool],
    ) -> Result<Vec<(usize, String)>, DatasetEvalError> {
        let name = c.reference.name();
        let reference = self.reference(name)?;
        let ref_schema = reference.schema();
        let mut cols = Vec::new();
        let mut mine: Vec<ArrayRef> = Vec::new();
        let mut theirs: Vec<ArrayRef> = Vec::new();
        for (field, array) in self
            .batch
            .schema()
            .fields()
            .iter()
            .zip(self.batch.columns())
        {
            let n = field.name();
            let Ok(other) = ref_schema.field_with_name(n) else {
                continue;
            };
            let skip = c.columns.contains(n)
                || c.exclude_columns.contains(n)
                || matches!(field.data_type(), DataType::Map(..))
                || matches!(other.data_type(), DataType::Map(..));
            if skip {
                continue;
            }
            cols.push(Compared {
                name: n.clone(),
                numeric_both: numeric(field.data_type()) && numeric(other.data_type()),
                numeric_input: numeric(field.data_type()),
            });
            mine.push(array.clone());
            theirs.push(
                reference
                    .column_by_name(n)
                    .expect("the field exists")
                    .clone(),
            );
        }
        let values = |arrays: &[ArrayRef], rows: usize| -> Vec<Vec<_>> {
            (0..rows)
                .map(|i| arrays.iter().map(|a| value(a.as_ref(), i)).collect())
                .collect()
        };
        let src = Side {
            keys: self.group_keys(&c.columns)?,
            values: values(&mine, self.batch.num_rows()),
            scope: selected.to_vec(),
        };
        let ref_keys: Vec<ArrayRef> = c
            .ref_columns
            .iter()
            .map(|k| self.eval_ref(reference, name, k))
            .collect::<Result<_, _>>()?;
        let refd = Side {
            keys: (0..reference.num_rows())
                .map(|r| group_key(&ref_keys, r, false))
                .collect(),
            values: values(&theirs, reference.num_rows()),
            scope: vec![true; reference.num_rows()],
        };
        if c.raise_on_duplicate_keys {
            self.refuse_duplicate_keys(c, &src, &refd)?;
        }
        let report = c.compare(&src, &refd, &cols, self.check.filter.is_some());
        for (r, message) in report.missing {
            let key = c
                .columns
                .iter()
                .zip(&ref_keys)
                .map(|(n, a)| (n.clone(), value(a.as_ref(), r)))
                .collect();
            self.missing.push((key, message));
        }
        Ok(report
            .rows
            .into_iter()
            .enumerate()
            .filter_map(|(i, m)| m.map(|m| (i, m)))
            .collect())
    }

    /// `raise_on_duplicate_keys`: DQX's error when a key repeats among the selected input rows
    /// or the reference rows (rows with a null key part left out unless nulls match).
    fn refuse_duplicate_keys(
        &self,
        c: &CompareDatasets,
        src: &Side,
        refd: &Side,
    ) -> Result<(), DatasetEvalError> {
        for (label, side, cols) in [
            ("source", src, &c.columns),
            ("reference", refd, &c.ref_columns),
        ] {
            let mut seen = std::collections::HashSet::new();
            let keys = side.keys.iter().zip(&side.scope).filter(|(k, s)| {
                **s && (c.null_safe_row_matching || k.iter().all(Option::is_some))
            });
            for (k, _) in keys {
                if !seen.insert(k) {
                    return Err(self.fail(format!(
                        "The {label} dataset contains duplicate matching keys for columns: {}.",
                        cols.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}
