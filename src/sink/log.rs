//! The Delta log: writing a commit straight to it, loading a table at a version, and its upkeep
//! (how often the committer checkpoints a table, how long tombstones and log entries are kept —
//! the table properties medallion sets — and deleting expired entries).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use deltalake::kernel::transaction::{CommitData, TransactionError};
use deltalake::kernel::{Action, Add};
use deltalake::logstore::{CommitOrBytes, LogStore};
use deltalake::protocol::DeltaOperation;
use deltalake::{DeltaResult, DeltaTable};

use super::parquet::DataFile;
use crate::storage;

/// The `commitInfo` field that records the partitions' watermarks with every commit: an object
/// of partition (as text) to its newest silver event time (RFC 3339, milliseconds, UTC).
pub const WATERMARKS_FIELD: &str = "medallionWatermarks";

/// The fewest commits between two checkpoints of a table (Delta's own default interval).
pub const CHECKPOINT_MIN_COMMITS: u64 = 10;

/// How long after its last checkpoint a table is checkpointed again (once it has
/// [`CHECKPOINT_MIN_COMMITS`] commits since), unless the log since grows first (see
/// [`CHECKPOINT_LOG_BYTES`], [`CHECKPOINT_MAX_COMMITS`]). A checkpoint loads the table and
/// rewrites its whole file list: at 100 events/s (a commit per table a second) one every ten
/// commits was ~30% of the run's CPU. Five minutes: a table committed every second is then
/// checkpointed every [`CHECKPOINT_MAX_COMMITS`] commits (delta-rs's own default interval), a
/// slower one every five minutes; at 100 events/s that cost 0.35% of a core less than one a
/// minute (2.3% against 2.7% over two minutes). `run --checkpoint-interval` sets it; 0
/// checkpoints every [`CHECKPOINT_MIN_COMMITS`] commits.
pub const DEFAULT_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(300);

/// A checkpoint is due sooner once the commits since the last hold this many bytes: a reader
/// opening the table replays at most about this much JSON after the checkpoint (tables rewritten
/// in place commit an add and a remove per rewritten group, so their commits are the large ones).
pub const CHECKPOINT_LOG_BYTES: u64 = 4 << 20;

/// ... or once this many commits came since the last checkpoint (what a reader opens at most).
/// Replaying 50 commits instead of 10 no longer costs the checkpoint's memory: the 4M-event
/// generator run peaked at 231 MB with 50 and 233 MB with 10 (delta-rs 1.1; with an older
/// delta-rs each commit's JSON decoder reserved ~2.8 MB at once).
pub const CHECKPOINT_MAX_COMMITS: u64 = 100;

/// What the committer knows of a table's log since its last checkpoint, and whether the next
/// checkpoint is due: by time and by the log's size, not by a count of commits alone.
#[derive(Debug, Clone)]
pub(super) struct CheckpointDue {
    commits: u64,
    bytes: u64,
    since: Instant,
    /// Commits counted as if made before the first checkpoint (see [`CheckpointDue::stagger`]).
    head_start: u64,
}

impl CheckpointDue {
    /// `commits` (of unknown size) since the last checkpoint, which is taken to be at `since`.
    pub(super) fn new(commits: u64, since: Instant) -> Self {
        CheckpointDue {
            commits,
            bytes: 0,
            since,
            head_start: 0,
        }
    }

    /// A commit of `bytes` was written.
    pub(super) fn committed(&mut self, bytes: u64) {
        self.commits += 1;
        self.bytes += bytes;
    }

    /// Whether to checkpoint now, with checkpoints every `interval` (0: by commits alone).
    pub(super) fn is_due(&self, interval: Duration, now: Instant) -> bool {
        let commits = self.commits + self.head_start;
        commits >= CHECKPOINT_MIN_COMMITS
            && (now.saturating_duration_since(self.since) >= interval
                || self.bytes >= CHECKPOINT_LOG_BYTES
                || commits >= CHECKPOINT_MAX_COMMITS)
    }

    /// A checkpoint was written at `now`.
    pub(super) fn checkpointed(&mut self, now: Instant) {
        *self = CheckpointDue::new(0, now);
    }

    /// Until the next checkpoint, counts the last as `by` older than `now` and `commits` more
    /// commits as made since (tables opened together then reach their interval, or their count,
    /// in different epochs: when all seven checkpointed in the same epoch, its commit set the
    /// latency's tail).
    pub(super) fn stagger(&mut self, now: Instant, by: Duration, commits: u64) {
        self.since = now.checked_sub(by).unwrap_or(now);
        self.head_start = commits;
    }
}

/// The version of the table's last checkpoint, from its `_delta_log/_last_checkpoint` hint
/// (`None` when there is none or it cannot be read: then every commit counts as since).
pub(super) async fn last_checkpoint_version(log_store: &dyn LogStore) -> Option<u64> {
    let path = object_store::path::Path::from("_delta_log/_last_checkpoint");
    let store = log_store.object_store(None);
    let bytes = object_store::ObjectStoreExt::get(&store, &path)
        .await
        .ok()?
        .bytes()
        .await
        .ok()?;
    let hint: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    hint.get("version")?.as_u64()
}

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
/// conditional put; the caller then commits through delta-rs, which checks for conflicts. Returns
/// the commit's size in bytes when it was written.
pub(super) async fn write_version(
    log_store: &dyn LogStore,
    version: u64,
    actions: Vec<Action>,
    operation: DeltaOperation,
    app_metadata: HashMap<String, serde_json::Value>,
) -> DeltaResult<Result<u64, Vec<Action>>> {
    if log_store.name() != "DefaultLogStore" {
        return Ok(Err(actions));
    }
    let data = CommitData::new(actions, operation, app_metadata, Vec::new());
    let bytes = data.get_bytes()?;
    let size = bytes.len() as u64;
    let written = log_store
        .write_commit_entry(
            version,
            CommitOrBytes::LogBytes(bytes),
            uuid::Uuid::new_v4(),
        )
        .await;
    match written {
        Ok(()) => Ok(Ok(size)),
        Err(TransactionError::VersionAlreadyExists(_)) => {
            let mut actions = data.actions;
            actions.retain(|a| !matches!(a, Action::CommitInfo(_)));
            Ok(Err(actions))
        }
        Err(e) => Err(e.into()),
    }
}

/// The `commitInfo` fields recording `watermarks` (none while no partition has one).
pub(super) fn watermarks_metadata(
    watermarks: &BTreeMap<u32, i64>,
) -> std::collections::HashMap<String, serde_json::Value> {
    let mut fields = std::collections::HashMap::new();
    if !watermarks.is_empty() {
        let marks: serde_json::Map<String, serde_json::Value> = watermarks
            .iter()
            .filter_map(|(p, &ms)| Some((p.to_string(), super::stats::timestamp_text(ms)?.into())))
            .collect();
        fields.insert(WATERMARKS_FIELD.to_string(), marks.into());
    }
    fields
}

/// The Delta `add` action of a written file, with its statistics.
pub(super) fn add_action(file: DataFile) -> Add {
    Add {
        path: file.path,
        partition_values: Default::default(),
        size: file.size as i64,
        modification_time: file.modification_time,
        data_change: true,
        stats: Some(file.stats),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
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
        let mut tables = DeltaTables::open_with(out, &catalog, &[0], true, retention)
            .unwrap()
            .with_checkpoint_interval(Duration::ZERO);
        let bronze = TableKind::Bronze.id();
        let commit = |tables: &mut DeltaTables, seq: i64| {
            let positions = BTreeMap::from([(0u32, seq)]);
            tables
                .commit(bronze, seq as u64, vec![], vec![], &positions)
                .unwrap()
        };
        // Commits 1-10 (checkpoints by count: one at the 10th commit after the table's
        // creation, and a first cleanup that finds nothing expired), then, past the
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
    fn a_checkpoint_is_due_by_time_or_by_the_log_since_never_before_ten_commits() {
        let t0 = Instant::now();
        let minute = Duration::from_secs(60);
        let mut due = CheckpointDue::new(0, t0);
        for _ in 0..CHECKPOINT_MIN_COMMITS - 1 {
            due.committed(1000);
        }
        assert!(!due.is_due(Duration::ZERO, t0 + 2 * minute), "9 commits");
        due.committed(1000);
        assert!(
            due.is_due(Duration::ZERO, t0),
            "by count alone when the interval is 0"
        );
        assert!(
            !due.is_due(minute, t0 + minute / 2),
            "10 small commits within the interval"
        );
        assert!(due.is_due(minute, t0 + minute), "the interval has passed");
        while due.commits < CHECKPOINT_MAX_COMMITS - 1 {
            due.committed(1000);
        }
        assert!(!due.is_due(minute, t0));
        due.committed(1000);
        assert!(due.is_due(minute, t0), "{CHECKPOINT_MAX_COMMITS} commits");
        due.checkpointed(t0);
        for _ in 0..CHECKPOINT_MIN_COMMITS {
            due.committed(CHECKPOINT_LOG_BYTES / CHECKPOINT_MIN_COMMITS + 1);
        }
        assert!(
            due.is_due(minute, t0),
            "the commits since hold {CHECKPOINT_LOG_BYTES} bytes"
        );
        due.checkpointed(t0 + minute);
        assert!(!due.is_due(minute, t0 + 3 * minute), "no commit since");
        due.stagger(t0, minute / 2, CHECKPOINT_MAX_COMMITS - 5);
        for _ in 0..4 {
            due.committed(1000);
        }
        assert!(!due.is_due(minute, t0), "a head start of 95 and 4 commits");
        assert!(
            due.is_due(minute, t0 + minute / 2),
            "the interval, less the stagger"
        );
        due.committed(1000);
        assert!(due.is_due(minute, t0), "a head start of 95 and 5 commits");
        due.checkpointed(t0);
        due.committed(1000);
        assert!(
            !due.is_due(Duration::ZERO, t0),
            "the head start ends at a checkpoint"
        );
    }

    #[test]
    fn the_commits_since_the_last_checkpoint_are_counted_from_the_log_on_opening() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::default();
        let bronze = TableKind::Bronze.id();
        let mut tables = DeltaTables::open(dir.path(), &catalog, &[0], true)
            .unwrap()
            .with_checkpoint_interval(Duration::ZERO);
        for seq in 1..=13 {
            let positions = BTreeMap::from([(0u32, seq)]);
            tables
                .commit(bronze, seq as u64, vec![], vec![], &positions)
                .unwrap();
        }
        // A checkpoint at version 10; 3 commits since, then 7 more after reopening make 10.
        let mut tables = DeltaTables::open(dir.path(), &catalog, &[0], false)
            .unwrap()
            .with_checkpoint_interval(Duration::ZERO);
        assert_eq!(tables.table(bronze).checkpoint.commits, 3);
        for seq in 14..=20 {
            let positions = BTreeMap::from([(0u32, seq)]);
            tables
                .commit(bronze, seq as u64, vec![], vec![], &positions)
                .unwrap();
        }
        let hint = std::fs::read_to_string(dir.path().join("bronze/_delta_log/_last_checkpoint"));
        let hint: serde_json::Value = serde_json::from_str(&hint.unwrap()).unwrap();
        assert_eq!(hint["version"], 20);
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
