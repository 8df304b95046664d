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

use super::tables::TableKind;
use super::SinkError;

/// Create a Delta checkpoint after this many commits to a table.
pub const CHECKPOINT_EVERY: u64 = 50;

/// One open table and what the committer knows of it.
pub struct TableState {
    pub kind: TableKind,
    pub root: PathBuf,
    pub table: DeltaTable,
    /// Committed position (last sequence number) of each partition.
    pub positions: BTreeMap<u32, i64>,
    commits_since_checkpoint: u64,
}

/// The four output tables under one `--out` directory, with a runtime to drive delta-rs.
pub struct DeltaTables {
    rt: tokio::runtime::Runtime,
    tables: Vec<TableState>,
}

/// The `txn` app id recording `partition`'s position in `table`.
pub fn app_id(table: TableKind, partition: u32) -> String {
    format!("{}/{}", table.name(), partition)
}

fn delta_err(table: TableKind) -> impl Fn(deltalake::DeltaTableError) -> SinkError {
    move |source| SinkError::Delta {
        table: table.name().to_string(),
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
    kind: TableKind,
    create: bool,
) -> Result<DeltaTable, SinkError> {
    std::fs::create_dir_all(root).map_err(|source| SinkError::Io {
        path: root.display().to_string(),
        source,
    })?;
    let url = table_url(root)?;
    let table = DeltaTable::try_from_url(url)
        .await
        .map_err(delta_err(kind))?;
    if table.version().is_some() {
        return Ok(table);
    }
    if !create {
        return Err(SinkError::Invalid {
            table: kind.name().into(),
            message: "the table does not exist (yet)".into(),
        });
    }
    let schema: StructType =
        kind.schema()
            .as_ref()
            .try_into_kernel()
            .map_err(|e| SinkError::Invalid {
                table: kind.name().into(),
                message: format!("schema cannot be expressed in Delta: {e}"),
            })?;
    table
        .create()
        .with_table_name(kind.name())
        .with_columns(schema.fields().cloned())
        .await
        .map_err(delta_err(kind))
}

impl DeltaTables {
    /// Opens the four tables under `out` (creating missing ones if `create`; in a cluster only
    /// process 0 creates them), and reads the committed position of each of `partitions` in each.
    pub fn open(out: &Path, partitions: &[u32], create: bool) -> Result<DeltaTables, SinkError> {
        let rt = runtime();
        let mut tables = Vec::new();
        for kind in TableKind::ALL {
            let root = out.join(kind.name());
            let table = rt.block_on(open_or_create(&root, kind, create))?;
            let mut positions = BTreeMap::new();
            for &p in partitions {
                let v = rt.block_on(async {
                    let snapshot = table.snapshot().map_err(delta_err(kind))?;
                    snapshot
                        .transaction_version(table.log_store().as_ref(), app_id(kind, p))
                        .await
                        .map_err(delta_err(kind))
                })?;
                if let Some(v) = v {
                    positions.insert(p, v);
                }
            }
            tables.push(TableState {
                kind,
                root,
                table,
                positions,
                commits_since_checkpoint: 0,
            });
        }
        Ok(DeltaTables { rt, tables })
    }

    pub fn table(&self, kind: TableKind) -> &TableState {
        &self.tables[kind as usize]
    }

    /// Committed positions of `kind`, per partition.
    pub fn positions(&self, kind: TableKind) -> &BTreeMap<u32, i64> {
        &self.tables[kind as usize].positions
    }

    /// Paths of the table's current data files.
    pub fn active_files(&self, kind: TableKind) -> Result<Vec<PathBuf>, SinkError> {
        active_files(&self.tables[kind as usize].table, kind)
    }

    /// Commits `adds` and `removes` to `kind` as one Delta version for `epoch`, with `positions`
    /// as `txn` actions. Returns the new version. Creates a checkpoint every
    /// [`CHECKPOINT_EVERY`] commits.
    pub fn commit(
        &mut self,
        kind: TableKind,
        epoch: u64,
        adds: Vec<Add>,
        removes: Vec<String>,
        positions: &BTreeMap<u32, i64>,
    ) -> Result<u64, SinkError> {
        let state = &mut self.tables[kind as usize];
        let now = chrono::Utc::now().timestamp_millis();
        let mut actions: Vec<Action> = adds.into_iter().map(Action::Add).collect();
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

/// Paths of a table's current data files.
pub fn active_files(table: &DeltaTable, kind: TableKind) -> Result<Vec<PathBuf>, SinkError> {
    let uris: Vec<String> = table.get_file_uris().map_err(delta_err(kind))?.collect();
    uris.into_iter()
        .map(|u| {
            url::Url::parse(&u)
                .ok()
                .and_then(|u| u.to_file_path().ok())
                .or_else(|| Some(PathBuf::from(&u)))
                .ok_or_else(|| SinkError::Invalid {
                    table: kind.name().into(),
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
    let rt = runtime();
    let root = out.join(kind.name());
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
