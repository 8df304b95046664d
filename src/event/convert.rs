//! Parsed columns → silver columns: RFC 3339 timestamps and dates, which the checks see as the
//! text sent, become typed values; every other column is silver's as it is. A value whose text
//! does not convert is reported with its row, so that the row goes to quarantine (named and
//! explained) instead of reaching silver with a null.

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::error::ArrowError;

use super::{EventSchema, FieldType};

/// The event columns of silver for every row of a parsed batch.
pub struct SilverColumns {
    /// One per event column ([`EventSchema::silver_fields`]), as long as the parsed batch.
    pub columns: Vec<ArrayRef>,
    /// Rows whose text did not convert, each with the first such field's message, ascending.
    pub failures: Vec<(usize, String)>,
}

/// Converts a parsed batch's columns to silver's types.
pub fn to_silver(schema: &EventSchema, parsed: &RecordBatch) -> Result<SilverColumns, ArrowError> {
    let mut columns = Vec::with_capacity(parsed.num_columns());
    let mut failures: Vec<(usize, String)> = Vec::new();
    for (i, col) in parsed.columns().iter().enumerate() {
        let Some(field) = schema.fields().get(i).filter(|f| f.converted_in_silver()) else {
            columns.push(col.clone());
            continue;
        };
        let converted = cast(col, &field.silver_type())?;
        if converted.null_count() > col.null_count() {
            let text = col.as_string::<i32>();
            let what = match field.ty {
                FieldType::Date => "a date (YYYY-MM-DD)",
                _ => "an RFC 3339 timestamp",
            };
            for row in 0..col.len() {
                if converted.is_null(row) && !col.is_null(row) {
                    failures.push((
                        row,
                        format!("field {}: {:?} is not {what}", field.name, text.value(row)),
                    ));
                }
            }
        }
        columns.push(converted);
    }
    // One message per row: the first field's (fields were visited in order).
    failures.sort_by_key(|(row, _)| *row);
    failures.dedup_by_key(|(row, _)| *row);
    Ok(SilverColumns { columns, failures })
}
