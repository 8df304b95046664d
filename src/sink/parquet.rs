//! Writing Parquet files into a table (a local directory or an object store's prefix, see
//! [`TableStore`]), each described as a [`DataFile`] (which the committer turns into a Delta `add`
//! action), and reading them back.

use std::fs::File;
use std::io::Write;

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::SinkError;
use crate::storage::upload::Upload;
use crate::storage::{Place, TableStore};

/// A data file written under a table's directory, not yet committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataFile {
    /// The file's name under the table's directory.
    pub path: String,
    pub size: u64,
    /// When it was written (ms since the Unix epoch).
    pub modification_time: i64,
    pub rows: u64,
    /// Its Delta statistics (JSON), from the Parquet footer: see [`super::stats`].
    pub stats: String,
}

/// Writes `batches` (same schema) as one Parquet file of `table` and returns it, or `None` when
/// the batches hold no rows.
pub fn write_file(
    table: &TableStore,
    batches: &[RecordBatch],
) -> Result<Option<DataFile>, SinkError> {
    write_named(
        table,
        format!("part-{}.snappy.parquet", uuid::Uuid::new_v4()),
        batches,
        true,
    )
}

/// Writes `batches` as one file of `table` named for its file group `group` (see
/// [`group_of_file`]): a table rewritten per group reads its groups back from such names. No
/// dictionaries: a group is rewritten whenever an epoch changes it (every epoch, for a view
/// whose keys all change), its keys are unique in it, and dictionary encoding was ~1/4 of the
/// views' CPU at 5,000 events/s.
pub fn write_group_file(
    table: &TableStore,
    group: u64,
    batches: &[RecordBatch],
) -> Result<Option<DataFile>, SinkError> {
    let name = format!("part-g{group:016x}-{}.snappy.parquet", uuid::Uuid::new_v4());
    write_named(table, name, batches, false)
}

/// The file group a file written by [`write_group_file`] holds (`None` for other files).
pub fn group_of_file(path: &str) -> Option<u64> {
    let name = path.rsplit('/').next()?;
    let hex = name.strip_prefix("part-g")?.get(..16)?;
    u64::from_str_radix(hex, 16).ok()
}

fn write_named(
    table: &TableStore,
    name: String,
    batches: &[RecordBatch],
    dictionaries: bool,
) -> Result<Option<DataFile>, SinkError> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let mut file = EpochFile::create_named(table, first.schema(), name, dictionaries)?;
    for b in batches {
        file.write(b)?;
    }
    file.finish()
}

/// Where a file's bytes go: a local file, or an upload to an object store.
enum Target {
    Local(File),
    Remote(Upload),
}

impl Write for Target {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Target::Local(f) => f.write(buf),
            Target::Remote(u) => u.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Target::Local(f) => f.flush(),
            Target::Remote(u) => u.flush(),
        }
    }
}

/// A Parquet file being written for one table and one epoch: batches are encoded as they
/// arrive (memory stays at about one row group, plus one upload part for a remote table), and
/// [`EpochFile::finish`] closes the file and returns it as a [`DataFile`]. A remote file becomes
/// visible only when finished.
pub struct EpochFile {
    writer: ArrowWriter<Target>,
    schema: arrow::datatypes::SchemaRef,
    table: TableStore,
    name: String,
    rows: usize,
}

impl EpochFile {
    /// Starts a new file `part-<uuid>.snappy.parquet` in `table`.
    pub fn create(
        table: &TableStore,
        schema: arrow::datatypes::SchemaRef,
    ) -> Result<EpochFile, SinkError> {
        let name = format!("part-{}.snappy.parquet", uuid::Uuid::new_v4());
        EpochFile::create_named(table, schema, name, true)
    }

    /// `dictionaries`: whether columns other than [`UNIQUE_COLUMNS`] and [`UNREPEATED_COLUMNS`]
    /// may be dictionary-encoded.
    fn create_named(
        table: &TableStore,
        schema: arrow::datatypes::SchemaRef,
        name: String,
        dictionaries: bool,
    ) -> Result<EpochFile, SinkError> {
        let display = table.display_file(&name);
        let target = match table.place() {
            Place::Local(dir) => Target::Local(File::create(dir.join(&name)).map_err(
                |source| SinkError::Io {
                    path: display.clone(),
                    source,
                },
            )?),
            Place::Remote(store) => {
                Target::Remote(Upload::new(store.clone(), &name, display.clone()))
            }
        };
        let props = writer_properties(&schema, dictionaries);
        let writer =
            ArrowWriter::try_new(target, schema.clone(), Some(props)).map_err(|source| {
                SinkError::Parquet {
                    path: display,
                    source,
                }
            })?;
        Ok(EpochFile {
            writer,
            schema,
            table: table.clone(),
            name,
            rows: 0,
        })
    }

    /// Encodes one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        crate::fault::reached(crate::fault::Point::ParquetWrite).map_err(|source| {
            SinkError::Io {
                path: self.table.display_file(&self.name),
                source,
            }
        })?;
        self.rows += batch.num_rows();
        self.writer
            .write(batch)
            .map_err(|source| SinkError::Parquet {
                path: self.table.display_file(&self.name),
                source,
            })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The schema the file is written with.
    pub fn schema(&self) -> &arrow::datatypes::SchemaRef {
        &self.schema
    }

    /// Closes the file; returns it, or `None` (and deletes it) when it has no rows.
    pub fn finish(mut self) -> Result<Option<DataFile>, SinkError> {
        let display = self.table.display_file(&self.name);
        self.writer.flush().map_err(|source| SinkError::Parquet {
            path: display.clone(),
            source,
        })?;
        let stats = super::stats::file_stats(
            &self.schema,
            self.writer.flushed_row_groups(),
            self.rows as u64,
        );
        let target = self
            .writer
            .into_inner()
            .map_err(|source| SinkError::Parquet {
                path: display.clone(),
                source,
            })?;
        let size = match target {
            Target::Local(file) => {
                if self.rows == 0 {
                    drop(file);
                    let _ = self.table.delete(&self.name);
                    return Ok(None);
                }
                file.metadata()
                    .map_err(|source| SinkError::Io {
                        path: display,
                        source,
                    })?
                    .len()
            }
            Target::Remote(upload) => {
                if self.rows == 0 {
                    upload.abort();
                    return Ok(None);
                }
                upload.finish()?
            }
        };
        Ok(Some(DataFile {
            path: self.name,
            size,
            modification_time: chrono::Utc::now().timestamp_millis(),
            rows: self.rows as u64,
            stats,
        }))
    }
}

/// Columns whose values are (nearly) all distinct: a dictionary never pays, and min/max
/// statistics over raw bodies or ids help no reader.
const UNIQUE_COLUMNS: &[&str] = &["body", "event_id", "offset"];

/// Columns whose values rarely repeat (positions and times): no dictionary, which only costs
/// hashing every value before Parquet falls back to plain encoding; their min/max statistics
/// are kept (readers prune by them).
const UNREPEATED_COLUMNS: &[&str] = &["sequence_number", "enqueued_time", "event_time"];

/// Row groups of at most this many rows: a writer holds its current row group encoded in
/// memory, and every worker has a file open per table and epoch in flight.
pub const ROW_GROUP_ROWS: usize = 32 * 1024;

/// Row groups of tables with raw bodies (bronze, quarantine: ~330 bytes a row) hold at most this
/// many rows (~5 MB of bodies).
pub const BODY_ROW_GROUP_ROWS: usize = 16 * 1024;

fn writer_properties(schema: &arrow::datatypes::Schema, dictionaries: bool) -> WriterProperties {
    let rows = if schema.field_with_name("body").is_ok() {
        BODY_ROW_GROUP_ROWS
    } else {
        ROW_GROUP_ROWS
    };
    let mut b = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_dictionary_enabled(dictionaries)
        .set_max_row_group_row_count(Some(rows));
    for name in UNIQUE_COLUMNS {
        let col = ColumnPath::from(*name);
        b = b
            .set_column_dictionary_enabled(col.clone(), false)
            .set_column_statistics_enabled(col, EnabledStatistics::None);
    }
    for name in UNREPEATED_COLUMNS {
        b = b.set_column_dictionary_enabled(ColumnPath::from(*name), false);
    }
    b.build()
}

/// Reads every row of the Parquet files `files` (names under `table`).
pub fn read_files(table: &TableStore, files: &[String]) -> Result<Vec<RecordBatch>, SinkError> {
    read_columns(table, files, None)
}

/// Reads the Parquet file `file` of `table` batch by batch, handing each to `each` before the
/// next is decoded: memory holds the file's bytes and one batch, never its rows at once
/// (compaction merges 128 MB of bronze this way; decoded at once it was ~0.5 GB).
pub fn for_each_batch<E: From<SinkError>>(
    table: &TableStore,
    file: &str,
    mut each: impl FnMut(RecordBatch) -> Result<(), E>,
) -> Result<(), E> {
    let bytes = table.read(file).map_err(SinkError::from)?;
    let parquet_err = |source| SinkError::Parquet {
        path: table.display_file(file),
        source,
    };
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
        .and_then(|b| b.with_batch_size(16 * 1024).build())
        .map_err(parquet_err)?;
    for b in reader {
        let b = b.map_err(|e| parquet_err(e.into()))?;
        each(b)?;
    }
    Ok(())
}

/// Reads `files` of `table`, only the top-level columns named in `columns` (all when `None`;
/// a named column a file lacks is left out of its batches).
pub fn read_columns(
    table: &TableStore,
    files: &[String],
    columns: Option<&[&str]>,
) -> Result<Vec<RecordBatch>, SinkError> {
    let mut out = Vec::new();
    for f in files {
        let bytes = table.read(f)?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(bytes)
            .and_then(|b| {
                let b = b.with_batch_size(64 * 1024);
                match columns {
                    None => b.build(),
                    Some(names) => {
                        let wanted: Vec<usize> = b
                            .schema()
                            .fields()
                            .iter()
                            .enumerate()
                            .filter(|(_, field)| names.contains(&field.name().as_str()))
                            .map(|(i, _)| i)
                            .collect();
                        let mask =
                            parquet::arrow::ProjectionMask::roots(b.parquet_schema(), wanted);
                        b.with_projection(mask).build()
                    }
                }
            })
            .map_err(|source| SinkError::Parquet {
                path: table.display_file(f),
                source,
            })?;
        for b in reader {
            out.push(b?);
        }
    }
    Ok(out)
}
