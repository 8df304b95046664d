//! The Delta side of the sinks: creating the tables, reading each partition's committed position
//! back from the `txn` actions, committing an epoch's files (and removals) with those positions,
//! checkpointing the log, and reading a table's current rows back (for restarts, `inspect` and
//! tests). Only the committer calls [`DeltaTables::commit`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use arrow::record_batch::RecordBatch;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::kernel::{Action, Add, Remove, StructType, Transaction};
use deltalake::protocol::{DeltaOperation, OutputMode};
use deltalake::DeltaTable;

use super::parquet::DataFile;
use super::tables::{Catalog, TableId, TableKind, TableSpec};
use super::SinkError;

/// Create a Delta checkpoint after this many commits to a table.
pub const CHECKPOINT_EVERY: u64 = 50;

/// One open table and what the committer knows of it.
pub struct TableState {
    /// The table's name (its directory under `--out`) and schema.
    pub spec: TableSpec,
    pub root: PathBuf,
    pub table: DeltaTable,
    /// Committed position (last sequence number) of each partition.
    pub positions: BTreeMap<u32, i64>,
    commits_since_checkpoint: u64,
}

/// The output tables under one `--out` directory, as the run's [`Catalog`] lists them, with a
/// runtime to drive delta-rs. A table is addressed by its [`TableId`].
pub struct DeltaTables {
    rt: tokio::runtime::Runtime,
    catalog: Catalog,
    tables: Vec<TableState>,
}

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

fn table_url(root: &Path) -> Result<url::Url, SinkError> {
    let abs = std::path::absolute(root).map_err(|source| SinkError::Io {
        path: root.display().to_string(),
        source,
    })?;
    url::Url::from_directory_path(&abs).map_err(|_| SinkError::Invalid {
        table: root.display().to_string(),
        message: "not a valid directory path".into(),
    })
}

/// A current-thread runtime for delta-rs' async API.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

async fn open_or_create(
    root: &Path,
    spec: &TableSpec,
    create: bool,
) -> Result<DeltaTable, SinkError> {
    let name = spec.name.as_str();
    std::fs::create_dir_all(root).map_err(|source| SinkError::Io {
        path: root.display().to_string(),
        source,
    })?;
    let url = table_url(root)?;
    let table = DeltaTable::try_from_url(url)
        .await
        .map_err(delta_err(name))?;
    if table.version().is_some() {
        return Ok(table);
    }
    if !create {
        return Err(SinkError::Invalid {
            table: name.into(),
            message: "the table does not exist (yet)".into(),
        });
    }
    let schema: StructType =
        spec.schema
            .as_ref()
            .try_into_kernel()
            .map_err(|e| SinkError::Invalid {
                table: name.into(),
                message: format!("schema cannot be expressed in Delta: {e}"),
            })?;
    table
        .create()
        .with_table_name(name)
        .with_columns(schema.fields().cloned())
        .await
        .map_err(delta_err(name))
}

impl DeltaTables {
    /// Opens the tables of `catalog` under `out` (creating missing ones if `create`; in a
    /// cluster only process 0 creates them), and reads the committed position of each of
    /// `partitions` in each.
    pub fn open(
        out: &Path,
        catalog: &Catalog,
        partitions: &[u32],
        create: bool,
    ) -> Result<DeltaTables, SinkError> {
        let rt = runtime();
        let mut tables = Vec::new();
        for (_, spec) in catalog.iter() {
            let spec = spec.clone();
            let name = spec.name.clone();
            let root = out.join(&name);
            let table = rt.block_on(open_or_create(&root, &spec, create))?;
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
            tables.push(TableState {
                spec,
                root,
                table,
                positions,
                commits_since_checkpoint: 0,
            });
        }
        Ok(DeltaTables {
            rt,
            catalog: catalog.clone(),
            tables,
        })
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
        self.table(id).table.version().unwrap_or(0) as u64
    }

    /// Committed positions of table `id`, per partition.
    pub fn positions(&self, id: impl Into<TableId>) -> &BTreeMap<u32, i64> {
        &self.table(id).positions
    }

    /// Paths of the current data files of table `id`.
    pub fn active_files(&self, id: impl Into<TableId>) -> Result<Vec<PathBuf>, SinkError> {
        let t = self.table(id);
        active_files(&t.table, &t.spec.name)
    }

    /// Commits `adds` and `removes` to table `id` as one Delta version for `epoch`, with
    /// `positions` as `txn` actions. Returns the new version. Creates a checkpoint every
    /// [`CHECKPOINT_EVERY`] commits.
    pub fn commit(
        &mut self,
        id: impl Into<TableId>,
        epoch: u64,
        adds: Vec<DataFile>,
        removes: Vec<String>,
        positions: &BTreeMap<u32, i64>,
    ) -> Result<u64, SinkError> {
        let state = &mut self.tables[id.into().index()];
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
            return Ok(state.table.version().unwrap_or(0));
        }
        let operation = DeltaOperation::StreamingUpdate {
            output_mode: OutputMode::Append,
            query_id: "medallion".to_string(),
            epoch_id: epoch as i64,
        };
        let log_store = state.table.log_store();
        let version = self.rt.block_on(async {
            let snapshot = state.table.snapshot().map_err(delta_err(kind))?;
            let finalized = CommitBuilder::default()
                .with_actions(actions)
                .build(Some(snapshot), log_store, operation)
                .await
                .map_err(delta_err(kind))?;
            let version = finalized.version();
            state.table.state = Some(finalized.snapshot());
            Ok::<_, SinkError>(version)
        })?;
        for (&p, &seq) in positions {
            let e = state.positions.entry(p).or_insert(seq);
            *e = (*e).max(seq);
        }
        state.commits_since_checkpoint += 1;
        if state.commits_since_checkpoint >= CHECKPOINT_EVERY {
            state.commits_since_checkpoint = 0;
            self.rt
                .block_on(deltalake::checkpoints::create_checkpoint(
                    &state.table,
                    None,
                ))
                .map_err(delta_err(kind))?;
        }
        Ok(version)
    }
}

/// The Delta `add` action of a written file (with `numRecords` statistics).
fn add_action(file: DataFile) -> Add {
    Add {
        path: file.path,
        partition_values: Default::default(),
        size: file.size as i64,
        modification_time: file.modification_time,
        data_change: true,
        stats: Some(format!("{{\"numRecords\":{}}}", file.rows)),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
}

/// Paths of a table's current data files.
pub fn active_files(table: &DeltaTable, kind: &str) -> Result<Vec<PathBuf>, SinkError> {
    let uris: Vec<String> = table.get_file_uris().map_err(delta_err(kind))?.collect();
    uris.into_iter()
        .map(|u| {
            url::Url::parse(&u)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .or_else(|| Some(PathBuf::from(&u)))
                .ok_or_else(|| SinkError::Invalid {
                    table: kind.into(),
                    message: format!("bad file uri {u}"),
                })
        })
        .collect()
}

/// A table as read back: its version and all current rows.
pub struct TableContents {
    pub version: u64,
    pub batches: Vec<RecordBatch>,
}

impl TableContents {
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }
}

/// Reads the current contents of the table `kind` under `out`.
pub fn read_table(out: &Path, kind: TableKind) -> Result<TableContents, SinkError> {
    read_named_table(out, kind.name())
}

/// Reads the current contents of the table `name` (its directory under `out`).
pub fn read_named_table(out: &Path, name: &str) -> Result<TableContents, SinkError> {
    let kind = name;
    let rt = runtime();
    let root = out.join(name);
    let url = table_url(&root)?;
    let table = rt
        .block_on(deltalake::open_table(url))
        .map_err(delta_err(kind))?;
    let files = active_files(&table, kind)?;
    let batches = super::parquet::read_files(&files)?;
    Ok(TableContents {
        version: table.version().unwrap_or(0),
        batches,
    })
}
