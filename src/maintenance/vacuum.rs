//! Vacuum: deletes the data files that are no longer part of a table (removed by the pipeline's
//! rewrites of the quality table and the views, or by compaction, or written by an epoch that
//! never committed) longer ago than a retention, through delta-rs' vacuum in its full mode: a
//! file the log still names as removed is deleted once its removal is older than the retention,
//! a file the log no longer names (its tombstone expired from the checkpoints after an hour,
//! `sink::delta::TOMBSTONE_RETENTION`) once the file itself is. Files of the current version and the log are never touched. A retention under
//! [`MIN_RETENTION`] is refused unless forced: a reader of an older version, or a pipeline that
//! has not yet committed a file it wrote, may still need them.

use std::time::Duration;

use deltalake::operations::vacuum::VacuumMode;
use deltalake::DeltaTable;

use super::MaintenanceError;
use crate::storage::{self, Output};

/// The shortest retention accepted without `force`.
pub const MIN_RETENTION: Duration = Duration::from_secs(3600);

/// What vacuum deletes.
#[derive(Debug, Clone)]
pub struct VacuumOptions {
    /// Files removed from the log at least this long ago are deleted.
    pub retention: Duration,
    /// List what would be deleted, delete nothing.
    pub dry_run: bool,
    /// Accept a retention under [`MIN_RETENTION`].
    pub force: bool,
}

impl Default for VacuumOptions {
    fn default() -> Self {
        VacuumOptions {
            retention: Duration::from_secs(7 * 86_400),
            dry_run: false,
            force: false,
        }
    }
}

/// What vacuum did to one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacuumReport {
    pub table: String,
    pub dry_run: bool,
    /// The files deleted (or, in a dry run, to be deleted), relative to the table.
    pub files: Vec<String>,
}

/// Vacuums the table `name` at `out` (see the module docs).
pub fn vacuum_table(
    out: &Output,
    name: &str,
    opts: &VacuumOptions,
) -> Result<VacuumReport, MaintenanceError> {
    if opts.retention < MIN_RETENTION && !opts.force {
        return Err(MaintenanceError::Refused(format!(
            "a retention of {} is under the minimum of {}: files that readers or a running pipeline may still need would be deleted (pass --force to do it anyway)",
            humantime::format_duration(opts.retention),
            humantime::format_duration(MIN_RETENTION)
        )));
    }
    let shown = out.table_display(name);
    let err = |source| MaintenanceError::Delta {
        table: shown.clone(),
        source,
    };
    let retention = chrono::Duration::from_std(opts.retention).map_err(|_| {
        MaintenanceError::Refused(format!("retention {:?} is too long", opts.retention))
    })?;
    let (_, metrics) = storage::runtime().block_on(async {
        let mut table = DeltaTable::new(out.log_store(name)?);
        table.load().await.map_err(err)?;
        table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .with_dry_run(opts.dry_run)
            .await
            .map_err(err)
    })?;
    let root = out.table_url(name);
    let mut files: Vec<String> = metrics
        .files_deleted
        .into_iter()
        .map(|f| {
            // delta-rs reports paths relative to the table, or full URLs for some stores.
            f.strip_prefix(root.as_str())
                .map(str::to_string)
                .unwrap_or(f)
        })
        .collect();
    files.sort();
    Ok(VacuumReport {
        table: name.to_string(),
        dry_run: opts.dry_run,
        files,
    })
}
