//! Writing Parquet files into a table directory, each described as a [`DataFile`] (which the
//! committer turns into a Delta `add` action), and reading them back.

use std::fs::File;
use std::path::Path;

use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use super::SinkError;

/// A data file written under a table's directory, not yet committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataFile {
    /// The file's name under the table's directory.
    pub path: String,
    pub size: u64,
    /// When it was written (ms since the Unix epoch).
    pub modification_time: i64,
    pub rows: u64,
}

/// Writes `batches` (same schema) as one Parquet file under `table_root` and returns it, or
/// `None` when the batches hold no rows.
pub fn write_file(
    table_root: &Path,
    batches: &[RecordBatch],
) -> Result<Option<DataFile>, SinkError> {
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
/// returns it as a [`DataFile`].
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

    /// Closes the file; returns it, or `None` (and deletes it) when it has no rows.
    pub fn finish(self) -> Result<Option<DataFile>, SinkError> {
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
        Ok(Some(DataFile {
            path: self.name,
            size: meta.len(),
            modification_time: chrono::Utc::now().timestamp_millis(),
            rows: self.rows as u64,
        }))
    }
}

fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(128 * 1024))
        .build()
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
