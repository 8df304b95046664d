//! Writing Parquet files into a table directory and describing them as Delta `add` actions.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use arrow::record_batch::RecordBatch;
use deltalake::kernel::Add;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::SinkError;

/// Writes `batches` (same schema) as one Parquet file under `table_root` and returns its `add`
/// action (with `numRecords` statistics), or `None` when the batches hold no rows.
pub fn write_file(table_root: &Path, batches: &[RecordBatch]) -> Result<Option<Add>, SinkError> {
    let Some(first) = batches.first() else {
        return Ok(None);
    };
    let mut file = EpochFile::create(table_root, first.schema())?;
    for b in batches {
        file.write(b)?;
    }
    file.finish()
}

/// A Parquet file being written for one table and one epoch: batches are encoded as they
/// arrive (memory stays at about one row group), and [`EpochFile::finish`] closes the file and
/// returns its `add` action.
pub struct EpochFile {
    writer: ArrowWriter<File>,
    name: String,
    path: std::path::PathBuf,
    rows: usize,
}

impl EpochFile {
    /// Starts a new file `part-<uuid>.snappy.parquet` under `table_root`.
    pub fn create(
        table_root: &Path,
        schema: arrow::datatypes::SchemaRef,
    ) -> Result<EpochFile, SinkError> {
        let name = format!("part-{}.snappy.parquet", uuid::Uuid::new_v4());
        let path = table_root.join(&name);
        let display = path.display().to_string();
        let file = File::create(&path).map_err(|source| SinkError::Io {
            path: display.clone(),
            source,
        })?;
        let writer =
            ArrowWriter::try_new(file, schema, Some(writer_properties())).map_err(|source| {
                SinkError::Parquet {
                    path: display,
                    source,
                }
            })?;
        Ok(EpochFile {
            writer,
            name,
            path,
            rows: 0,
        })
    }

    /// Encodes one batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), SinkError> {
        self.rows += batch.num_rows();
        self.writer
            .write(batch)
            .map_err(|source| SinkError::Parquet {
                path: self.path.display().to_string(),
                source,
            })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Closes the file; returns its `add` action, or `None` (and deletes it) when it has no rows.
    pub fn finish(self) -> Result<Option<Add>, SinkError> {
        let display = self.path.display().to_string();
        self.writer.close().map_err(|source| SinkError::Parquet {
            path: display.clone(),
            source,
        })?;
        if self.rows == 0 {
            let _ = std::fs::remove_file(&self.path);
            return Ok(None);
        }
        let meta = std::fs::metadata(&self.path).map_err(|source| SinkError::Io {
            path: display,
            source,
        })?;
        Ok(Some(add_action(self.name, meta.len(), self.rows)))
    }
}

fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build()
}

fn add_action(name: String, size: u64, rows: usize) -> Add {
    Add {
        path: name,
        partition_values: HashMap::new(),
        size: size as i64,
        modification_time: chrono::Utc::now().timestamp_millis(),
        data_change: true,
        stats: Some(format!("{{\"numRecords\":{rows}}}")),
        tags: None,
        deletion_vector: None,
        base_row_id: None,
        default_row_commit_version: None,
        clustering_provider: None,
    }
}

/// Reads every row of the Parquet files at `paths`.
pub fn read_files(paths: &[std::path::PathBuf]) -> Result<Vec<RecordBatch>, SinkError> {
    let mut out = Vec::new();
    for p in paths {
        let display = p.display().to_string();
        let file = File::open(p).map_err(|source| SinkError::Io {
            path: display.clone(),
            source,
        })?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(64 * 1024).build())
            .map_err(|source| SinkError::Parquet {
                path: display.clone(),
                source,
            })?;
        for b in reader {
            out.push(b?);
        }
    }
    Ok(out)
}
