//! The Delta log: writing a commit straight to it, loading a table at a version, and its upkeep
//! (how often the committer checkpoints a table, how long tombstones and log entries are kept —
//! the table properties medallion sets — and deleting expired entries).

use std::collections::HashMap;
use std::time::Duration;

use deltalake::kernel::transaction::{CommitData, TransactionError};
use deltalake::kernel::Action;
use deltalake::logstore::{CommitOrBytes, LogStore};
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaResult, DeltaTable};

use crate::storage;

/// Create a Delta checkpoint after this many commits to a table. Writing one replays the commits
/// since the last: delta-rs reads those JSON files at once, each with a decoder that reserves
/// ~2.8 MB for the log's schema, so 50 commits cost ~140 MB for a moment (the 6M-event file's
/// peak RSS: 422 MB with 50, 374 MB with 10).
pub const CHECKPOINT_EVERY: u64 = 10;

/// How often (at most; or once per log retention if that is shorter) the committer deletes a
/// table's expired log entries, after a checkpoint: listing the log reads every entry, so it is
/// done once a minute rather than at every commit (delta-rs' default after each commit).
pub const LOG_CLEANUP_EVERY: Duration = Duration::from_secs(60);

/// Delta's table property: how long a removed file stays a tombstone in the log (and in every
/// checkpoint) before readers may no longer count on it.
pub const DELETED_FILE_RETENTION: &str = "delta.deletedFileRetentionDuration";

/// [`DELETED_FILE_RETENTION`] of medallion's tables. Every table removes files all the time (the
/// tables rewritten in place at every write, the append-only ones at each compaction), and with
/// Delta's default of a week each checkpoint carried a week of tombstones, so every checkpoint,
/// snapshot reload and commit grew with the run's age (the soak's RSS grew 7% an hour). Our
/// vacuum still keeps a removed file until the file is `--retention` old (full mode: by the
/// file's age once its tombstone has expired); a tool whose vacuum relies on tombstones alone
/// (Spark's default retention is this property) may delete files that readers of versions older
/// than an hour need. A value already set on a table is never changed: set another with any
/// Delta tool (e.g. `deltalake`'s `alter.set_table_properties`).
pub const TOMBSTONE_RETENTION: &str = "interval 1 hours";

/// [`TOMBSTONE_RETENTION`] as a duration. A run whose vacuum keeps files for less
/// (`run --vacuum-retention 10m --vacuum-force`) gives the tables it creates that shorter
/// retention instead: a tombstone is of no use once its file is gone.
pub const DEFAULT_TOMBSTONE_RETENTION: Duration = Duration::from_secs(3600);

/// Delta's table property: how long the log keeps commits and checkpoints (versions older are
/// no longer readable).
pub const LOG_RETENTION: &str = "delta.logRetentionDuration";

/// The table properties medallion sets on the tables it creates, with tombstones and log
/// entries kept for `tombstones`. Delta's default log retention is 30 days: a table committed
/// four times a second would keep ten million commit files, and listing them (which every
/// snapshot update and log cleanup does on a local disk or Azure) would grow without bound.
pub(super) fn table_properties(tombstones: Duration) -> [(&'static str, String); 2] {
    let value = if tombstones == DEFAULT_TOMBSTONE_RETENTION {
        TOMBSTONE_RETENTION.to_string()
    } else {
        format!("interval {} seconds", tombstones.as_secs().max(1))
    };
    [
        (DELETED_FILE_RETENTION, value.clone()),
        (LOG_RETENTION, value),
    ]
}

/// Writes `actions` as `version` of a table (with a `commitInfo` of `operation` and
/// `app_metadata`) straight to its log: one conditional put of the commit file, as delta-rs' own
/// commit does on a store that has them, without the snapshot update that follows it there
/// (which replays the new commit and rebuilds the table's file list: ~15% of a run's CPU at 100
/// events/s). The committer knows the version it writes; it loads the table only to checkpoint
/// it. Returns the actions back (without the `commitInfo`) when the write did not happen: the
/// version exists (another writer, e.g. a compaction, committed since) or the log store has no
/// conditional put; the caller then commits through delta-rs, which checks for conflicts.
pub(super) async fn write_version(
    log_store: &dyn LogStore,
    version: u64,
    actions: Vec<Action>,
    operation: DeltaOperation,
    app_metadata: HashMap<String, serde_json::Value>,
) -> DeltaResult<Result<(), Vec<Action>>> {
    if log_store.name() != "DefaultLogStore" {
        return Ok(Err(actions));
    }
    let data = CommitData::new(actions, operation, app_metadata, Vec::new());
    let bytes = data.get_bytes()?;
    let written = log_store
        .write_commit_entry(
            version,
            CommitOrBytes::LogBytes(bytes),
            uuid::Uuid::new_v4(),
        )
        .await;
    match written {
        Ok(()) => Ok(Ok(())),
        Err(TransactionError::VersionAlreadyExists(_)) => {
            let mut actions = data.actions;
            actions.retain(|a| !matches!(a, Action::CommitInfo(_)));
            Ok(Err(actions))
        }
        Err(e) => Err(e.into()),
    }
}

/// The table of `log_store` loaded at `version` (from its last checkpoint at or below it and the
/// commits since: one compact file list).
pub(super) async fn load_at(
    log_store: deltalake::logstore::LogStoreRef,
    version: u64,
) -> Result<DeltaTable, deltalake::DeltaTableError> {
    let mut table = DeltaTable::new(log_store);
    table.load_version(version).await?;
    Ok(table)
}

/// Deletes table `name`'s log entries (commits and checkpoints) older than `retention` that come
/// before a checkpoint at or below `version` (delta-rs' `cleanup_expired_logs_for`). A failure
/// is logged, not returned: the commit stands, and the next cleanup tries again.
pub(super) fn clean_log(name: &str, table: &DeltaTable, version: u64, retention: Duration) {
    let cutoff = chrono::Utc::now().timestamp_millis() - retention.as_millis() as i64;
    let log_store = table.log_store();
    let cleaned = storage::runtime().block_on(deltalake::checkpoints::cleanup_expired_logs_for(
        version as _,
        log_store.as_ref(),
        cutoff,
        None,
    ));
    match cleaned {
        Ok(n) if n > 0 => {
            tracing::debug!(table = %name, deleted = n, "expired log entries deleted")
        }
        Ok(_) => {}
        Err(e) => {
            tracing::warn!(table = %name, error = %e, "deleting expired log entries failed; the next checkpoint tries again")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::sink::{Catalog, DeltaTables, TableKind};
    use crate::storage::Output;

    fn log_versions(dir: &std::path::Path) -> Vec<u64> {
        let mut v: Vec<u64> = std::fs::read_dir(dir.join("bronze/_delta_log"))
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().into_string().unwrap();
                name.strip_suffix(".json")?.parse().ok()
            })
            .collect();
        v.sort_unstable();
        v
    }

    #[test]
    fn the_committer_deletes_log_entries_older_than_the_retention_after_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let out = Output::from(dir.path());
        let catalog = Catalog::default();
        let retention = Duration::from_secs(1);
        let mut tables = DeltaTables::open_with(out, &catalog, &[0], true, retention).unwrap();
        let bronze = TableKind::Bronze.id();
        let commit = |tables: &mut DeltaTables, seq: i64| {
            let positions = BTreeMap::from([(0u32, seq)]);
            tables
                .commit(bronze, seq as u64, vec![], vec![], &positions)
                .unwrap()
        };
        // Commits 1-10 (the first table's checkpoint counter starts at 0: a checkpoint at its
        // 10th commit, and a first cleanup that finds nothing expired), then, past the
        // retention, commits 11-20: the checkpoint at 20 deletes the entries before the
        // checkpoint at 10, which are older than the retention.
        for seq in 1..=10 {
            commit(&mut tables, seq);
        }
        assert_eq!(log_versions(dir.path()), (0..=10).collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(1100));
        for seq in 11..=20 {
            commit(&mut tables, seq);
        }
        assert_eq!(
            log_versions(dir.path()),
            (10..=20).collect::<Vec<_>>(),
            "entries before the checkpoint and older than the retention are gone"
        );
        // The table still opens at its newest version with its positions.
        let reopened = DeltaTables::open(dir.path(), &catalog, &[0], false).unwrap();
        assert_eq!(reopened.version(bronze), 20);
        assert_eq!(reopened.positions(bronze).get(&0), Some(&20));
        // The properties say so for other tools.
        let config = reopened
            .table(bronze)
            .table
            .snapshot()
            .unwrap()
            .metadata()
            .configuration()
            .clone();
        assert_eq!(
            config.get(LOG_RETENTION).map(String::as_str),
            Some("interval 1 seconds")
        );
    }

    #[test]
    fn a_commit_after_another_writers_goes_through_delta_rs_conflict_check() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::default();
        let bronze = TableKind::Bronze.id();
        let mut ours = DeltaTables::open(dir.path(), &catalog, &[0], true).unwrap();
        let mut other = DeltaTables::open(dir.path(), &catalog, &[1], false).unwrap();
        let at = |p: u32, seq: i64| BTreeMap::from([(p, seq)]);
        assert_eq!(
            ours.commit(bronze, 1, vec![], vec![], &at(0, 1)).unwrap(),
            1
        );
        // Written straight to the log: the other handle's next version is taken.
        assert_eq!(
            other.commit(bronze, 1, vec![], vec![], &at(1, 5)).unwrap(),
            1 + 1
        );
        // Ours finds version 2 taken and commits 3 through delta-rs (which checks version 2).
        assert_eq!(
            ours.commit(bronze, 2, vec![], vec![], &at(0, 2)).unwrap(),
            3
        );
        assert_eq!(ours.version(bronze), 3);
        assert_eq!(
            ours.commit(bronze, 3, vec![], vec![], &at(0, 3)).unwrap(),
            4
        );
        let reopened = DeltaTables::open(dir.path(), &catalog, &[0, 1], false).unwrap();
        assert_eq!(reopened.version(bronze), 4);
        assert_eq!(
            reopened.positions(bronze),
            &BTreeMap::from([(0, 3), (1, 5)])
        );
    }
}
