//! The time-series checks ([`crate::quality::time_windows`]) on one input: their columns
//! evaluated, times read as microseconds, groups keyed, then the module's marking.

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;

use super::{group_key, star_values, typed_values, DatasetEvalError, OneCheck};
use crate::quality::aggregates::{AggrType, Value};
use crate::quality::expr::eval::cast::{cast_to, ts_type};
use crate::quality::schema_compare::type_of;
use crate::quality::time_windows::{self as tw, TimeWindowCheck};

impl OneCheck<'_, '_, '_> {
    /// The rows a time-series check marks, with DQX's message.
    pub(super) fn time_window_marks(
        &mut self,
        c: &TimeWindowCheck,
        selected: &[bool],
        scope: &[bool],
    ) -> Result<Vec<(usize, String)>, DatasetEvalError> {
        Ok(match c {
            TimeWindowCheck::Fresh { column, .. } => {
                let dates = self.eval(column)?.data_type() == &DataType::Date32;
                let ts = self.times(column, true)?;
                tw::fresh_marks(c, &ts, dates, selected, self.now_us)
            }
            TimeWindowCheck::Gaps {
                column, group_by, ..
            } => {
                let ts = self.times(column, true)?;
                let keys = self.group_keys(group_by)?;
                tw::gap_marks(c, &ts, &keys, selected, self.now_us)
            }
            TimeWindowCheck::AggrOutliers {
                column,
                time_column,
                aggr,
                group_by,
                ..
            } => {
                let ts = self.times(time_column, false)?;
                let keys = self.group_keys(group_by)?;
                let values = self.aggr_inputs(column, *aggr, selected)?;
                tw::aggr_outlier_marks(c, &values, &ts, &keys, scope)
            }
        })
    }

    /// A date or timestamp column as microseconds (`text`: text read as Spark casts it).
    fn times(&mut self, column: &str, text: bool) -> Result<Vec<Option<i64>>, DatasetEvalError> {
        let mut a = self.eval(column)?;
        if text && a.data_type() == &DataType::Utf8 {
            a = cast_to(&a, &ts_type()).map_err(|e| self.fail(e.to_string()))?;
        }
        tw::micros(&a).ok_or_else(|| {
            self.fail(format!(
                "Column '{column}' must be of date or timestamp type for time-series bucketing, \
                 but got type '{}' instead.",
                type_of(a.data_type())
            ))
        })
    }

    /// Each row's group key over `columns`.
    pub(super) fn group_keys(
        &mut self,
        columns: &[String],
    ) -> Result<Vec<Vec<Option<String>>>, DatasetEvalError> {
        let cols: Vec<ArrayRef> = columns
            .iter()
            .map(|c| self.eval(c))
            .collect::<Result<_, _>>()?;
        Ok((0..self.batch.num_rows())
            .map(|i| group_key(&cols, i, false))
            .collect())
    }

    /// Each row's input to `aggr(column)`, null where the check's filter does not hold (DQX's
    /// `CASE WHEN filter THEN column END`).
    pub(super) fn aggr_inputs(
        &mut self,
        column: &str,
        aggr: AggrType,
        selected: &[bool],
    ) -> Result<Vec<Option<Value>>, DatasetEvalError> {
        let values = if column == "*" {
            star_values(self.batch, aggr)
        } else {
            let a = self.eval(column)?;
            typed_values(&a, aggr).map_err(|m| self.fail(m))?
        };
        Ok(values
            .into_iter()
            .zip(selected)
            .map(|(v, s)| v.filter(|_| *s))
            .collect())
    }
}
