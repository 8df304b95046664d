//! `aggr_matches_dataset` ([`crate::quality::upstream`]) on one input: the checked side's
//! aggregate inputs and groups, and the reference's, evaluated on its `--ref` rows.

use arrow::array::{Array, ArrayRef, AsArray};

use super::{group_key, star_values, typed_values, DatasetEvalError, OneCheck};
use crate::quality::upstream::AggrMatches;

impl OneCheck<'_, '_, '_> {
    /// The selected rows of groups whose aggregate differs from the reference's.
    pub(super) fn upstream_marks(
        &mut self,
        c: &AggrMatches,
        selected: &[bool],
        scope: &[bool],
    ) -> Result<Vec<(usize, String)>, DatasetEvalError> {
        let name = c.reference.name();
        let reference = self.reference(name)?;
        let values = self.aggr_inputs(&c.column, c.aggr, selected)?;
        let keys = self.group_keys(&c.group_by)?;
        let on_ref = |text: &str| self.eval_ref(reference, name, text);
        let ref_selected: Vec<bool> = match &c.ref_filter {
            None => vec![true; reference.num_rows()],
            Some(f) => {
                let a = on_ref(f)?;
                let b = a
                    .as_boolean_opt()
                    .ok_or_else(|| self.fail(format!("ref_row_filter '{f}' is not a condition")))?;
                (0..b.len()).map(|i| b.is_valid(i) && b.value(i)).collect()
            }
        };
        let ref_cols: Vec<ArrayRef> = c
            .ref_group_by
            .iter()
            .map(|g| on_ref(g))
            .collect::<Result<_, _>>()?;
        let ref_values = if c.ref_column == "*" {
            star_values(reference, c.aggr)
        } else {
            let a = on_ref(&c.ref_column)?;
            typed_values(&a, c.aggr)
                .map_err(|m| self.fail(format!("in reference '{name}': {m}")))?
        };
        // DataFrame.filter: the rows it drops are not grouped at all.
        let kept: Vec<usize> = (0..reference.num_rows())
            .filter(|&i| ref_selected[i])
            .collect();
        let ref_keys: Vec<_> = kept
            .iter()
            .map(|&i| group_key(&ref_cols, i, false))
            .collect();
        let ref_values: Vec<_> = kept.iter().map(|&i| ref_values[i].clone()).collect();
        Ok(c.marks(&values, &keys, scope, &ref_values, &ref_keys))
    }
}
