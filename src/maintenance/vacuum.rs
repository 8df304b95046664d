//! Vacuum: deletes the data files that are no longer part of a table (removed by the pipeline's
//! rewrites of the quality table and the views, or by compaction, or written by an epoch that
//! never committed) longer ago than a retention, through delta-rs' vacuum in its full mode: a
//! file the log still names as removed is deleted once its removal is older than the retention,
//! a file the log no longer names (its tombstone expired from the checkpoints after an hour,
//! `sink::delta::TOMBSTONE_RETENTION`) once the file itself is. Files of the current version are
//! never touched. Then the log's entries older than the log retention (the retention unless
//! set shorter) go too (commits and checkpoints before the newest checkpoint that is itself
//! older, delta-rs' `cleanup_expired_logs_for`): a table committed four times a second otherwise
//! keeps every commit file (Delta's own `logRetentionDuration` is 30 days: ten million files a
//! table), and every commit lists the log directory (delta-rs updates its snapshot by listing
//! from its version; on a local disk or Azure that reads every entry): at 1,500 files a table the
//! soak's commits took 35-40 ms each. Versions older than the log retention are no longer
//! readable. A retention under [`MIN_RETENTION`]
//! is refused unless forced: a reader of an older version, or a pipeline that has not yet
//! committed a file it wrote, may still need them.

use std::time::Duration;

use deltalake::checkpoints::cleanup_expired_logs_for;
use deltalake::operations::vacuum::VacuumMode;
use deltalake::DeltaTable;
use futures::{StreamExt, TryStreamExt};

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
    /// Log entries older than this are deleted (`None`: [`VacuumOptions::retention`]). A run's
    /// own vacuum keeps an hour at most ([`crate::sink::delta::DEFAULT_TOMBSTONE_RETENTION`]:
    /// a version older than its tombstones is not guaranteed readable anyway).
    pub log_retention: Option<Duration>,
}

impl Default for VacuumOptions {
    fn default() -> Self {
        VacuumOptions {
            retention: Duration::from_secs(7 * 86_400),
            dry_run: false,
            force: false,
            log_retention: None,
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
    /// The log entries (commit and checkpoint files) deleted; none in a dry run.
    pub log_entries: usize,
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
    let log_retention = opts
        .log_retention
        .unwrap_or(opts.retention)
        .min(opts.retention);
    let cutoff =
        chrono::Utc::now() - chrono::Duration::from_std(log_retention).unwrap_or(retention);
    let (metrics, log_entries) = storage::runtime().block_on(async {
        let mut table = DeltaTable::new(out.log_store(name)?);
        table.load().await.map_err(err)?;
        // delta-rs plans (its dry run), medallion deletes: a vacuum that commits VACUUM START
        // and END fails whenever a concurrent commit removes a file with dataChange (the view
        // and quality tables do every epoch), so during a run it never got through. The plan
        // stays right under concurrent commits: they remove only files of the planned
        // version (not in the plan) and add only new ones (younger than the retention).
        let (table, mut metrics) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .with_mode(VacuumMode::Full)
            .with_dry_run(true)
            .await
            .map_err(err)?;
        if opts.dry_run {
            return Ok::<_, MaintenanceError>((metrics, 0));
        }
        let store = table.log_store().object_store(None);
        let planned = futures::stream::iter(
            metrics
                .files_deleted
                .iter()
                .map(|f| Ok(object_store::path::Path::from(f.as_str())))
                .collect::<Vec<_>>(),
        )
        .boxed();
        metrics.files_deleted = store
            .delete_stream(planned)
            .map(|r| match r {
                Ok(path) => Ok(path.to_string()),
                Err(object_store::Error::NotFound { path, .. }) => Ok(path),
                Err(e) => Err(e),
            })
            .try_collect::<Vec<_>>()
            .await
            .map_err(|e| err(e.into()))?;
        let version = table.version().unwrap_or(0) as u64;
        let log_entries = cleanup_expired_logs_for(
            version,
            table.log_store().as_ref(),
            cutoff.timestamp_millis(),
            None,
        )
        .await
        .map_err(err)?;
        Ok((metrics, log_entries))
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
        log_entries,
    })
}
