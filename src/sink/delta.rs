//! The Delta side of the sinks: creating the tables, reading each partition's committed position
//! back from the `txn` actions, committing an epoch's files (and removals) with those positions,
//! checkpointing the log, and reading a table's current rows back (for restarts, `inspect` and
//! tests). Only the committer calls [`DeltaTables::commit`]. The tables live wherever the run's
//! [`Output`] points: a local directory or an object store, through delta-rs' log stores.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties};
use deltalake::kernel::{Action, Remove, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode};
use deltalake::DeltaTable;

use super::parquet::DataFile;
use super::tables::{Catalog, TableId, TableKind, TableSpec};
use super::SinkError;
use crate::storage::{self, Output, TableStore};

use super::log::{
    add_action, clean_log, last_checkpoint_version, load_at, table_properties, watermarks_metadata,
    write_version, CheckpointDue,
};
pub use super::log::{
    CHECKPOINT_LOG_BYTES, CHECKPOINT_MAX_COMMITS, CHECKPOINT_MIN_COMMITS,
    DEFAULT_CHECKPOINT_INTERVAL, DEFAULT_TOMBSTONE_RETENTION, DELETED_FILE_RETENTION,
    LOG_CLEANUP_EVERY, LOG_RETENTION, TOMBSTONE_RETENTION, WATERMARKS_FIELD,
};

/// One open table and what the committer knows of it.
pub struct TableState {
    /// The table's name (its directory under `--out`) and schema.
    pub spec: TableSpec,
    /// Where its data files are.
    pub store: TableStore,
    /// The table as loaded at opening and at checkpoints (see `version`); read it through
    /// `DeltaTables::current`, which loads it again when it is older.
    pub(super) table: DeltaTable,
    /// Committed position (last sequence number) of each partition.
    pub positions: BTreeMap<u32, i64>,
    /// The table's newest version as this committer wrote it (`table` is loaded at opening and
    /// at checkpoints only, so it may be older).
    version: u64,
    pub(super) checkpoint: CheckpointDue,
    /// When the log's expired entries were last deleted (`None`: not yet in this run).
    log_cleaned: Option<Instant>,
}

/// The output tables under one `--out` location, as the run's [`Catalog`] lists them. A table is
/// addressed by its [`TableId`]. delta-rs runs on the shared storage runtime.
pub struct DeltaTables {
    out: Output,
    catalog: Catalog,
    tables: Vec<TableState>,
    /// Each partition's watermark: the newest event time (ms) of its silver rows so far.
    watermarks: BTreeMap<u32, i64>,
    /// Deduplication's anchors, recorded with every silver commit ([`DEDUP_FIELD`]).
    dedup_anchors: Option<serde_json::Value>,
    /// How long log entries are kept (the tombstone retention of the tables this run creates).
    log_retention: Duration,
    /// See [`DEFAULT_CHECKPOINT_INTERVAL`].
    checkpoint_interval: Duration,
}

/// The `commitInfo` field of silver's commits that records deduplication's anchors: where a
/// restart may start reading silver (see `dataflow::operators::dedup::anchors`).
pub const DEDUP_FIELD: &str = "medallionDedup";

/// The `txn` app id recording `partition`'s position in `table`.
pub fn app_id(table: &str, partition: u32) -> String {
    format!("{table}/{partition}")
}

fn delta_err(table: &str) -> impl Fn(deltalake::DeltaTableError) -> SinkError + '_ {
    move |source| SinkError::Delta {
        table: table.to_string(),
        source,
    }
}

/// Opens the table `spec` at `out` if it exists (`None` if not). Refuses a location that holds
/// something else: files but no Delta log, or a table of another schema.
/// Columns are matched by name. With `evolve`, a table that lacks some nullable columns of the
/// wanted schema (an older medallion's, or a pipeline whose event declares a new field) gets them
/// added, by a Delta metadata change (older rows read them as null); a column of the table that is
/// not wanted, or wanted with another type, is refused, naming it.
async fn open_existing(
    out: &Output,
    spec: &TableSpec,
    evolve: bool,
    tombstones: Duration,
) -> Result<Option<DeltaTable>, SinkError> {
    let name = spec.name.as_str();
    let shown = out.table_display(name);
    let invalid = |message: String| SinkError::Invalid {
        table: shown.clone(),
        message,
    };
    if let Some(dir) = out.local_dir() {
        let root = dir.join(name);
        if root.exists() && !root.is_dir() {
            return Err(invalid("is a file, not a table directory".into()));
        }
        if !root.exists() {
            return Ok(None);
        }
    }
    let log_store = out.log_store(name)?;
    let mut table = DeltaTable::new(log_store.clone());
    match table.load().await {
        Ok(()) => {}
        Err(deltalake::DeltaTableError::NotATable(_)) => {
            let mut listing = log_store.object_store(None).list(None);
            return match futures::StreamExt::next(&mut listing).await {
                None => Ok(None),
                Some(Ok(meta)) => Err(invalid(format!(
                    "holds files but no Delta table (e.g. {}); medallion writes only into its own tables",
                    meta.location
                ))),
                Some(Err(e)) => Err(storage::StorageError::Store {
                    location: shown,
                    source: e,
                }
                .into()),
            };
        }
        Err(e) => return Err(delta_err(&shown)(e)),
    }
    let existing = table.snapshot().map_err(delta_err(&shown))?.schema();
    let wanted = kernel_schema(spec)?;
    let fields = |s: &StructType| -> Vec<String> {
        s.fields()
            .map(|f| {
                format!(
                    "{}: {:?}{}",
                    f.name(),
                    f.data_type(),
                    if f.is_nullable() { "" } else { " not null" }
                )
            })
            .collect()
    };
    let (have, want) = (fields(existing.as_ref()), fields(&wanted));
    // Columns are matched by name: a declared field may be added (nullable) anywhere; one the
    // table holds may be neither removed nor retyped.
    let name_of = |f: &String| f.split(':').next().unwrap_or_default().to_string();
    let dropped: Vec<String> = have
        .iter()
        .filter(|h| !want.contains(h))
        .map(|h| match want.iter().find(|w| name_of(w) == name_of(h)) {
            Some(w) => format!("'{}' is {} in the table and {} now", name_of(h), h, w),
            None => format!(
                "'{}' ({h}) is in the table and no longer declared",
                name_of(h)
            ),
        })
        .collect();
    if !dropped.is_empty() {
        return Err(invalid(format!(
            "holds a table of another schema: {}; removing or retyping a column is refused \
             (write to another --out)",
            dropped.join("; ")
        )));
    }
    let added: Vec<_> = wanted
        .fields()
        .filter(|f| !have.iter().any(|h| name_of(h) == *f.name()))
        .cloned()
        .collect();
    if let Some(f) = added.iter().find(|f| !f.is_nullable()) {
        return Err(invalid(format!(
            "lacks the column '{}', which cannot be added: it is not nullable",
            f.name()
        )));
    }
    if !added.is_empty() {
        if !evolve {
            return Err(invalid(format!(
                "lacks the columns {} (process 0 adds them)",
                added
                    .iter()
                    .map(|f| f.name().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let names: Vec<String> = added.iter().map(|f| f.name().to_string()).collect();
        let table = table
            .add_columns()
            .with_fields(added)
            .await
            .map_err(delta_err(&shown))?;
        tracing::info!(
            table = shown.as_str(),
            "added the columns {} (older rows read them as null)",
            names.join(", ")
        );
        return set_missing_properties(table, &shown, tombstones)
            .await
            .map(Some);
    }
    if evolve {
        return set_missing_properties(table, &shown, tombstones)
            .await
            .map(Some);
    }
    Ok(Some(table))
}

/// Sets those of [`table_properties`] the table has no value for (a table an older medallion
/// created), by one Delta metadata change.
async fn set_missing_properties(
    table: DeltaTable,
    shown: &str,
    tombstones: Duration,
) -> Result<DeltaTable, SinkError> {
    let configuration = table
        .snapshot()
        .map_err(delta_err(shown))?
        .metadata()
        .configuration()
        .clone();
    let missing: std::collections::HashMap<String, String> = table_properties(tombstones)
        .into_iter()
        .filter(|(key, _)| !configuration.contains_key(*key))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if missing.is_empty() {
        return Ok(table);
    }
    table
        .set_tbl_properties()
        .with_properties(missing)
        .await
        .map_err(delta_err(shown))
}

fn kernel_schema(spec: &TableSpec) -> Result<StructType, SinkError> {
    spec.schema
        .as_ref()
        .try_into_kernel()
        .map_err(|e| SinkError::Invalid {
            table: spec.name.clone(),
            message: format!("schema cannot be expressed in Delta: {e}"),
        })
}

/// Creates the table `spec` at `out`.
async fn create(
    out: &Output,
    spec: &TableSpec,
    tombstones: Duration,
) -> Result<DeltaTable, SinkError> {
    let name = spec.name.as_str();
    let shown = out.table_display(name);
    if let Some(dir) = out.local_dir() {
        let root = dir.join(name);
        std::fs::create_dir_all(&root).map_err(|source| SinkError::Io {
            path: shown.clone(),
            source,
        })?;
    }
    let schema = kernel_schema(spec)?;
    DeltaTable::new(out.log_store(name)?)
        .create()
        .with_table_name(name)
        .with_columns(schema.fields().cloned())
        .with_configuration(table_properties(tombstones).map(|(k, v)| (k, Some(v))))
        .await
        .map_err(delta_err(&shown))
}

impl DeltaTables {
    /// Opens the tables of `catalog` at `out` (creating missing ones if `create`; in a
    /// cluster only process 0 creates them), and reads the committed position of each of
    /// `partitions` in each. Every table is checked before any is created, so a location that
    /// holds something else gets nothing written.
    pub fn open(
        out: impl Into<Output>,
        catalog: &Catalog,
        partitions: &[u32],
        create: bool,
    ) -> Result<DeltaTables, SinkError> {
        Self::open_with(
            out,
            catalog,
            partitions,
            create,
            DEFAULT_TOMBSTONE_RETENTION,
        )
    }

    /// [`DeltaTables::open`], with tombstones kept for `tombstones` in the tables it creates (or
    /// has to give [`DELETED_FILE_RETENTION`]).
    pub fn open_with(
        out: impl Into<Output>,
        catalog: &Catalog,
        partitions: &[u32],
        create: bool,
        tombstones: Duration,
    ) -> Result<DeltaTables, SinkError> {
        let out = out.into();
        let rt = storage::runtime();
        let mut found = Vec::new();
        for (_, spec) in catalog.iter() {
            found.push(rt.block_on(open_existing(&out, spec, create, tombstones))?);
        }
        let mut tables = Vec::new();
        for ((_, spec), table) in catalog.iter().zip(found) {
            let spec = spec.clone();
            let name = spec.name.clone();
            let table = match table {
                Some(t) => t,
                None if create => rt.block_on(self::create(&out, &spec, tombstones))?,
                None => {
                    return Err(SinkError::Invalid {
                        table: out.table_display(&name),
                        message: "the table does not exist (yet)".into(),
                    })
                }
            };
            let mut positions = BTreeMap::new();
            for &p in partitions {
                let v = rt.block_on(async {
                    let snapshot = table.snapshot().map_err(delta_err(&name))?;
                    snapshot
                        .transaction_version(table.log_store().as_ref(), app_id(&name, p))
                        .await
                        .map_err(delta_err(&name))
                })?;
                if let Some(v) = v {
                    positions.insert(p, v);
                }
            }
            let version = table.version().unwrap_or(0);
            let checkpointed = rt.block_on(last_checkpoint_version(table.log_store().as_ref()));
            let since = checkpointed.map_or(version, |c| version.saturating_sub(c));
            tables.push(TableState {
                store: out.table(&name)?,
                spec,
                version,
                table,
                positions,
                checkpoint: CheckpointDue::new(since, Instant::now()),
                log_cleaned: None,
            });
        }
        Ok(DeltaTables {
            out,
            catalog: catalog.clone(),
            tables,
            watermarks: BTreeMap::new(),
            dedup_anchors: None,
            log_retention: tombstones,
            checkpoint_interval: Duration::ZERO,
        }
        .with_checkpoint_interval(DEFAULT_CHECKPOINT_INTERVAL))
    }

    /// Checkpoints every `interval` (see [`DEFAULT_CHECKPOINT_INTERVAL`]; 0: every
    /// [`CHECKPOINT_MIN_COMMITS`] commits). The tables' next checkpoints are spread over it and
    /// over the commits that make one due without it.
    pub fn with_checkpoint_interval(mut self, interval: Duration) -> Self {
        self.checkpoint_interval = interval;
        let (now, n) = (Instant::now(), self.tables.len().max(1) as u32);
        let most = match interval.is_zero() {
            true => CHECKPOINT_MIN_COMMITS,
            false => CHECKPOINT_MAX_COMMITS,
        };
        for (i, state) in self.tables.iter_mut().enumerate() {
            let i = i as u32;
            let (by, commits) = (interval * i / n, most * i as u64 / n as u64);
            state.checkpoint.stagger(now, by, commits);
        }
        self
    }

    /// Where the tables are.
    pub fn output(&self) -> &Output {
        &self.out
    }

    /// The table `id` (a [`TableKind`] for the core tables).
    pub fn table(&self, id: impl Into<TableId>) -> &TableState {
        &self.tables[id.into().index()]
    }

    /// The tables, with their ids.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Number of tables.
    pub fn len(&self) -> usize {
        self.tables.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// The committed Delta version of table `id` (0 before its first commit).
    pub fn version(&self, id: impl Into<TableId>) -> u64 {
        self.table(id).version
    }

    /// Table `id` at the version this committer last wrote: as loaded, or loaded again when it
    /// has committed since (see [`TableState::table`]).
    fn current(&self, id: TableId) -> Result<std::borrow::Cow<'_, DeltaTable>, SinkError> {
        let t = self.table(id);
        if t.table.version() == Some(t.version) {
            return Ok(std::borrow::Cow::Borrowed(&t.table));
        }
        let fresh = storage::runtime()
            .block_on(load_at(t.table.log_store(), t.version))
            .map_err(delta_err(&t.spec.name))?;
        Ok(std::borrow::Cow::Owned(fresh))
    }

    /// Committed positions of table `id`, per partition.
    pub fn positions(&self, id: impl Into<TableId>) -> &BTreeMap<u32, i64> {
        &self.table(id).positions
    }

    /// The current data files of table `id` (paths relative to the table).
    pub fn active_files(&self, id: impl Into<TableId>) -> Result<Vec<String>, SinkError> {
        let id = id.into();
        active_files(self.current(id)?.as_ref(), &self.table(id).spec.name)
    }

    /// Moves each partition's watermark up to `marks` (newest event times in ms); never back.
    pub fn advance_watermarks(&mut self, marks: &BTreeMap<u32, i64>) {
        for (&p, &t) in marks {
            let e = self.watermarks.entry(p).or_insert(t);
            *e = (*e).max(t);
        }
    }

    /// Deduplication's anchors (any serialisable value), as the next silver commit records them.
    pub fn record_dedup_anchors(&mut self, anchors: &impl serde::Serialize) {
        self.dedup_anchors = serde_json::to_value(anchors).ok();
    }

    /// The `commitInfo` fields of the newest of table `id`'s last `look_back` commits that has
    /// `field` (`None`: none of them has).
    pub fn recent_commit_field(
        &self,
        id: impl Into<TableId>,
        field: &str,
        look_back: usize,
    ) -> Result<Option<serde_json::Value>, SinkError> {
        let id = id.into();
        let t = self.table(id);
        if t.version == 0 {
            return Ok(None);
        }
        let table = self.current(id)?;
        let infos: Vec<_> = storage::runtime().block_on(async {
            futures::TryStreamExt::try_collect::<Vec<_>>(table.history(Some(look_back)))
                .await
                .map_err(delta_err(&t.spec.name))
        })?;
        Ok(infos
            .into_iter()
            .find_map(|mut info| info.info.remove(field)))
    }

    /// Each partition's watermark (ms), as the next commit records it.
    pub fn watermarks(&self) -> &BTreeMap<u32, i64> {
        &self.watermarks
    }

    /// The current data files of table `id` with their statistics (the `stats` JSON of their
    /// `add` actions, when they have one).
    pub fn active_files_with_stats(
        &self,
        id: impl Into<TableId>,
    ) -> Result<Vec<CommittedFile>, SinkError> {
        let id = id.into();
        let table = self.current(id)?;
        let state = table
            .snapshot()
            .map_err(delta_err(&self.table(id).spec.name))?;
        Ok(state
            .log_data()
            .into_iter()
            .map(|add| CommittedFile {
                path: add.object_store_path().to_string(),
                stats: add.stats(),
            })
            .collect())
    }

    /// Commits `adds` and `removes` to table `id` as one Delta version for `epoch`, with
    /// `positions` as `txn` actions. Returns the new version. Creates a checkpoint when one is
    /// due (see [`DEFAULT_CHECKPOINT_INTERVAL`]).
    pub fn commit(
        &mut self,
        id: impl Into<TableId>,
        epoch: u64,
        adds: Vec<DataFile>,
        removes: Vec<String>,
        positions: &BTreeMap<u32, i64>,
    ) -> Result<u64, SinkError> {
        let id = id.into();
        let mut app_metadata = watermarks_metadata(&self.watermarks);
        if let (Some(anchors), true) = (&self.dedup_anchors, id == TableKind::Silver.id()) {
            app_metadata.insert(DEDUP_FIELD.to_string(), anchors.clone());
        }
        let log_retention = self.log_retention;
        let checkpoint_interval = self.checkpoint_interval;
        let state = &mut self.tables[id.index()];
        crate::fault::reached(crate::fault::Point::Commit).map_err(|source| SinkError::Io {
            path: self.out.table_display(&state.spec.name),
            source,
        })?;
        let name = state.spec.name.clone();
        let kind = name.as_str();
        let now = chrono::Utc::now().timestamp_millis();
        let mut actions: Vec<Action> = adds
            .into_iter()
            .map(|f| Action::Add(add_action(f)))
            .collect();
        actions.extend(removes.into_iter().map(|path| {
            Action::Remove(Remove {
                path,
                data_change: true,
                deletion_timestamp: Some(now),
                ..Default::default()
            })
        }));
        let mut changed = false;
        for (&p, &seq) in positions {
            if state.positions.get(&p).is_some_and(|&old| old >= seq) {
                continue;
            }
            changed = true;
            actions.push(Action::Txn(Transaction {
                app_id: app_id(kind, p),
                version: seq,
                last_updated: Some(now),
            }));
        }
        if actions.is_empty() || (!changed && actions.iter().all(|a| matches!(a, Action::Txn(_)))) {
            return Ok(state.version);
        }
        let operation = DeltaOperation::StreamingUpdate {
            output_mode: OutputMode::Append,
            query_id: "medallion".to_string(),
            epoch_id: epoch as i64,
        };
        let log_store = state.table.log_store();
        let (version, bytes) = storage::runtime().block_on(async {
            let next = state.version + 1;
            let written = write_version(
                log_store.as_ref(),
                next,
                actions,
                operation.clone(),
                app_metadata.clone(),
            )
            .await
            .map_err(delta_err(kind))?;
            let actions = match written {
                Ok(bytes) => return Ok((next, bytes)),
                Err(actions) => actions,
            };
            // Another writer committed since (or the store cannot put conditionally): commit
            // through delta-rs from the version this committer last wrote, so that it checks the
            // commits since for conflicts.
            if state.table.version() != Some(state.version) {
                state
                    .table
                    .load_version(state.version)
                    .await
                    .map_err(delta_err(kind))?;
            }
            let snapshot = state.table.snapshot().map_err(delta_err(kind))?;
            // No post-commit hook: checkpoints are made below, and delta-rs' log cleanup after
            // every commit would list (and stat) the whole log each time.
            let properties = CommitProperties::default()
                .with_create_checkpoint(false)
                .with_cleanup_expired_logs(Some(false));
            let finalized = CommitBuilder::from(properties)
                .with_actions(actions)
                .with_app_metadata(app_metadata)
                .build(Some(snapshot), log_store.clone(), operation)
                .await
                .map_err(delta_err(kind))?;
            let version = finalized.version();
            state.table.state = Some(finalized.snapshot());
            Ok::<_, SinkError>((version, 0))
        })?;
        state.version = version;
        for (&p, &seq) in positions {
            let e = state.positions.entry(p).or_insert(seq);
            *e = (*e).max(seq);
        }
        state.checkpoint.committed(bytes);
        if state.checkpoint.is_due(checkpoint_interval, Instant::now()) {
            state.checkpoint.checkpointed(Instant::now());
            let _ = crate::fault::reached(crate::fault::Point::Checkpoint);
            let _ = crate::fault::reached(crate::fault::Point::DuringCheckpoint);
            // The table is loaded at the version written (from the last checkpoint and the
            // commits since: one compact file list, not a snapshot carried forward commit by
            // commit, which kept every commit's actions as a batch of its own) and checkpointed.
            let fresh = storage::runtime()
                .block_on(async {
                    let fresh = load_at(log_store, version).await?;
                    deltalake::checkpoints::create_checkpoint(&fresh, None).await?;
                    Ok::<_, deltalake::DeltaTableError>(fresh)
                })
                .map_err(delta_err(kind))?;
            let _ = crate::fault::reached(crate::fault::Point::AfterCheckpoint);
            state.table = fresh;
            let every = LOG_CLEANUP_EVERY.min(log_retention);
            if state.log_cleaned.is_none_or(|at| at.elapsed() >= every) {
                state.log_cleaned = Some(Instant::now());
                clean_log(&state.spec.name, &state.table, version, log_retention);
            }
        }
        Ok(version)
    }
}

/// A committed data file: its path relative to the table and its `stats` JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommittedFile {
    pub path: String,
    pub stats: Option<String>,
}

impl CommittedFile {
    /// Its statistics, parsed (`None` when it has none, or they are not JSON).
    pub fn stats_json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.stats.as_deref()?).ok()
    }

    /// Its row count (`numRecords`), when its statistics have one.
    pub fn records(&self) -> Option<u64> {
        self.stats_json()?["numRecords"].as_u64()
    }
}

/// A table's current data files (paths relative to the table).
pub fn active_files(table: &DeltaTable, kind: &str) -> Result<Vec<String>, SinkError> {
    let state = table.snapshot().map_err(delta_err(kind))?;
    Ok(state
        .log_data()
        .into_iter()
        .map(|add| add.object_store_path().to_string())
        .collect())
}

/// A table as read back: its version and all current rows.
pub struct TableContents {
    pub version: u64,
    /// Number of data files.
    pub files: usize,
    pub batches: Vec<RecordBatch>,
}

impl TableContents {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// Reads the current contents of the table `kind` at `out`.
pub fn read_table(out: impl Into<Output>, kind: TableKind) -> Result<TableContents, SinkError> {
    read_named_table(out, kind.name())
}

/// Reads the current contents of the table `name` (its directory under `out`).
pub fn read_named_table(out: impl Into<Output>, name: &str) -> Result<TableContents, SinkError> {
    let out = out.into();
    let shown = out.table_display(name);
    let table = storage::runtime().block_on(async {
        let mut t = DeltaTable::new(out.log_store(name)?);
        t.load().await.map_err(delta_err(&shown))?;
        Ok::<_, SinkError>(t)
    })?;
    let files = active_files(&table, name)?;
    let batches = super::parquet::read_files(&out.table(name)?, &files)?;
    Ok(TableContents {
        version: table.version().unwrap_or(0),
        files: files.len(),
        batches,
    })
}
