//! Table maintenance that keeps streaming tables readable: [`compact`] merges the many small
//! files a streaming run writes (one per table per epoch, per worker at high rates) into large
//! ones, committed as a Delta rewrite (`dataChange: false`) that a running pipeline's commits
//! retry around; [`vacuum`] deletes the files that were removed from a table's log longer ago
//! than a retention. Both work on any [`Output`](crate::storage::Output), local or remote;
//! `cli` holds the `medallion optimize` and `medallion vacuum` commands.

use thiserror::Error;

pub mod auto;
pub mod cli;
pub mod compact;
pub mod vacuum;

pub use auto::Compactor;
pub use compact::{compact_table, compact_tables, CompactOptions, CompactReport};
pub use vacuum::{vacuum_table, VacuumOptions, VacuumReport, MIN_RETENTION};

/// Errors of table maintenance.
#[derive(Debug, Error)]
pub enum MaintenanceError {
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    #[error("{table}: {source}")]
    Delta {
        table: String,
        #[source]
        source: deltalake::DeltaTableError,
    },
    /// Options that are refused (e.g. a retention below the minimum without `force`).
    #[error("{0}")]
    Refused(String),
    /// The output location holds no tables to work on.
    #[error("{0} holds no Delta tables")]
    NoTables(String),
}

pub use crate::sink::tables::is_append_only;

/// Parses a size such as `128MB`, `1GiB`, `512k` or a plain number of bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 128MB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "'{s}': unknown unit '{other}' (use B, KB, MB, GB, KiB, MiB, GiB)"
            ))
        }
    };
    let bytes = n * mult as f64;
    if !(bytes.is_finite() && bytes >= 1.0) {
        return Err(format!("'{s}' is not a positive size"));
    }
    Ok(bytes as u64)
}

/// Parses a duration such as `7d`, `1h`, `10m 30s` (humantime's format).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("'{s}' is not a duration (e.g. 7d, 1h, 10m): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("128MB").unwrap(), 128_000_000);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("12 parsecs")
            .unwrap_err()
            .contains("unknown unit"));
        assert!(parse_size("0").is_err());
        assert_eq!(parse_duration("7d").unwrap().as_secs(), 7 * 86_400);
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn only_growing_tables_are_compacted() {
        assert!(is_append_only("bronze") && is_append_only("station_latest_changes"));
        assert!(!is_append_only("quality") && !is_append_only("station_latest"));
    }
}
