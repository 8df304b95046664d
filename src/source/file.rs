//! The `file:PATH` source: a JSON-lines file (one message body per line, as gen_events.py and
//! [`crate::workload::write_jsonl`] write it) spread over P partitions by partition key.
//!
//! Bodies: each line without its terminating `\n` (a `\r` before it is kept: bodies are bytes
//! exactly as stored); a last line without `\n` is a body too; an empty line is an (empty) body,
//! which fails parsing downstream and lands in quarantine — nothing disappears. A trailing `\n`
//! at the end of the file does not start another body.
//!
//! Partitioning: the key of a line is its `station_id` string, found by the cheap byte scan
//! [`crate::workload::station_key`]; a line without one (unparseable, missing, null, empty) goes
//! to `partition_for_key(None, P, line number)` (round robin by 0-based line number).
//!
//! Within a partition: sequence number = position in the partition (0, 1, 2, ...); offset = byte
//! offset of the line in the file; enqueued time = a base plus the 0-based line number in ms. The
//! base defaults to the file's modification time (ms since the epoch; 0 if unknown) and can be
//! pinned with [`FileSource::with_enqueued_base_ms`] for reproducible runs.
//!
//! Cost: [`FileSource::open_path`] reads the file once, sequentially, and keeps an index shared
//! by all its readers: the start offset of every line (8 bytes/line) and, per partition, its line
//! numbers (4 bytes/line): 12 bytes per line, 240 MB for the 20M-line file; no body is kept.
//! Readers then read their own lines with positioned reads (`pread`); lines of a partition that
//! lie close together (gap ≤ 4 KiB, as with few partitions) are fetched with one read, scattered
//! ones with one read each, so reading never costs more than a few KiB beyond the bytes used.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    partition_for_key, PartitionId, PartitionReader, PartitionedSource, RawBatch, SequenceNumber,
    SourceError,
};
use crate::workload::station_key;

/// Lines of one partition closer than this are read together.
const COALESCE_GAP: u64 = 4 << 10;
/// Longest span read at once (a longer single line is still read whole).
const MAX_SPAN: u64 = 4 << 20;

/// The line index of a file, built once and shared by the readers.
#[derive(Debug)]
struct FileIndex {
    /// Start offset of line `l`, and at `lines` the end of the file (plus one when the last line
    /// has no `\n`), so that line `l` is `starts[l] .. starts[l + 1] - 1`.
    starts: Vec<u64>,
    /// Line numbers of each partition, in file order.
    parts: Vec<Vec<u32>>,
}

impl FileIndex {
    #[inline]
    fn body_range(&self, line: u32) -> (u64, u64) {
        let l = line as usize;
        (self.starts[l], self.starts[l + 1] - 1)
    }
}

/// A JSON-lines file as a partitioned, bounded source.
#[derive(Debug, Clone)]
pub struct FileSource {
    path: PathBuf,
    file: Arc<File>,
    index: Arc<FileIndex>,
    enqueued_base_ms: i64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SourceError + '_ {
    move |source| SourceError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl FileSource {
    /// Source for a spec `file:PATH`.
    pub fn from_spec(spec: &str, partitions: u32) -> Result<Self, SourceError> {
        match spec.strip_prefix("file:") {
            Some(p) if !p.is_empty() => FileSource::open_path(p, partitions),
            _ => Err(SourceError::UnknownSource(spec.to_string())),
        }
    }

    /// Opens `path` over `partitions` partitions (≥ 1), reading it once to build the line index.
    pub fn open_path(path: impl AsRef<Path>, partitions: u32) -> Result<Self, SourceError> {
        let path = path.as_ref().to_path_buf();
        if partitions == 0 {
            return Err(SourceError::Invalid(
                "a source needs at least one partition".into(),
            ));
        }
        let file = File::open(&path).map_err(io_err(&path))?;
        let meta = file.metadata().map_err(io_err(&path))?;
        if meta.is_dir() {
            return Err(SourceError::Io {
                path: path.display().to_string(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "is a directory"),
            });
        }
        let enqueued_base_ms = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
        let index = build_index(&file, &path, partitions)?;
        Ok(FileSource {
            path,
            file: Arc::new(file),
            index: Arc::new(index),
            enqueued_base_ms,
        })
    }

    /// Pins the enqueued time of line `l` to `base_ms + l`.
    pub fn with_enqueued_base_ms(mut self, base_ms: i64) -> Self {
        self.enqueued_base_ms = base_ms;
        self
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of lines (bodies) in the file.
    pub fn lines(&self) -> u64 {
        (self.index.starts.len() - 1) as u64
    }

    /// Number of bodies in `partition` (0 for a partition that does not exist).
    pub fn partition_len(&self, partition: PartitionId) -> u64 {
        self.index
            .parts
            .get(partition.0 as usize)
            .map_or(0, |v| v.len() as u64)
    }
}

/// One sequential pass over the file: line starts and each line's partition.
fn build_index(file: &File, path: &Path, partitions: u32) -> Result<FileIndex, SourceError> {
    let mut parts: Vec<Vec<u32>> = vec![Vec::new(); partitions as usize];
    let mut starts: Vec<u64> = Vec::new();
    let mut reader = BufReader::with_capacity(4 << 20, file);
    let mut carry: Vec<u8> = Vec::new();
    let mut carry_start = 0u64;
    let mut pos = 0u64; // file offset of the reader's buffer start
    let mut line_no: u64 = 0;

    let mut finish = |start: u64, body: &[u8], line_no: &mut u64| -> Result<(), SourceError> {
        let n = u32::try_from(*line_no).map_err(|_| {
            SourceError::Invalid(format!(
                "{} has more than {} lines",
                path.display(),
                u32::MAX
            ))
        })?;
        let key = station_key(body);
        let p = partition_for_key(key.as_deref().map(str::as_bytes), partitions, *line_no);
        parts[p.0 as usize].push(n);
        starts.push(start);
        *line_no += 1;
        Ok(())
    };

    loop {
        let buf = reader.fill_buf().map_err(io_err(path))?;
        if buf.is_empty() {
            break;
        }
        let len = buf.len();
        let mut at = 0usize;
        if !carry.is_empty() {
            match buf.iter().position(|&b| b == b'\n') {
                Some(k) => {
                    carry.extend_from_slice(&buf[..k]);
                    finish(carry_start, &carry, &mut line_no)?;
                    carry.clear();
                    at = k + 1;
                }
                None => {
                    carry.extend_from_slice(buf);
                    reader.consume(len);
                    pos += len as u64;
                    continue;
                }
            }
        }
        while let Some(k) = buf[at..].iter().position(|&b| b == b'\n') {
            finish(pos + at as u64, &buf[at..at + k], &mut line_no)?;
            at += k + 1;
        }
        if at < len {
            // an incomplete line: keep it until its end shows up
            carry_start = pos + at as u64;
            carry.extend_from_slice(&buf[at..]);
        }
        reader.consume(len);
        pos += len as u64;
    }
    let end = if carry.is_empty() {
        pos
    } else {
        finish(carry_start, &carry, &mut line_no)?;
        pos + 1 // the last line has no '\n': pretend it has one
    };
    starts.push(end);
    Ok(FileIndex { starts, parts })
}

impl PartitionedSource for FileSource {
    fn len_hint(&self) -> Option<u64> {
        Some(self.lines())
    }

    fn partitions(&self) -> Vec<PartitionId> {
        (0..self.index.parts.len() as u32)
            .map(PartitionId)
            .collect()
    }

    fn open(
        &self,
        partition: PartitionId,
        start: SequenceNumber,
    ) -> Result<Box<dyn PartitionReader>, SourceError> {
        let n = self.index.parts.len() as u32;
        let Some(lines) = self.index.parts.get(partition.0 as usize) else {
            return Err(SourceError::NoSuchPartition(partition.0, n));
        };
        if start.0 < 0 || start.0 as u64 > lines.len() as u64 {
            return Err(SourceError::Invalid(format!(
                "start position {} is outside partition {} of {} ({} events)",
                start.0,
                partition,
                self.path.display(),
                lines.len()
            )));
        }
        Ok(Box::new(FileReader {
            path: self.path.clone(),
            file: Arc::clone(&self.file),
            index: Arc::clone(&self.index),
            partition,
            next: start.0 as usize,
            base_ms: self.enqueued_base_ms,
            buf: Vec::new(),
        }))
    }
}

struct FileReader {
    path: PathBuf,
    file: Arc<File>,
    index: Arc<FileIndex>,
    partition: PartitionId,
    /// Position in this partition's line list of the next message.
    next: usize,
    base_ms: i64,
    buf: Vec<u8>,
}

#[cfg(unix)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    let mut done = 0;
    while done < buf.len() {
        let n = file.seek_read(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        done += n;
    }
    Ok(())
}

impl PartitionReader for FileReader {
    fn partition(&self) -> PartitionId {
        self.partition
    }

    fn next_batch(&mut self, max: usize) -> Result<Option<RawBatch>, SourceError> {
        let index = &*self.index;
        let lines = &index.parts[self.partition.0 as usize];
        if self.next >= lines.len() {
            return Ok(None);
        }
        let end = lines.len().min(self.next.saturating_add(max));
        let mut batch = RawBatch::new(self.partition);
        let bytes: u64 = lines[self.next..end]
            .iter()
            .map(|&l| {
                let (s, e) = index.body_range(l);
                e - s
            })
            .sum();
        batch.reserve(end - self.next, usize::try_from(bytes).unwrap_or(0));
        let mut k = self.next;
        while k < end {
            // a run of nearby lines read with one pread
            let (run_start, mut run_end) = index.body_range(lines[k]);
            let mut m = k + 1;
            while m < end {
                let (s, e) = index.body_range(lines[m]);
                if s.saturating_sub(run_end) > COALESCE_GAP || e - run_start > MAX_SPAN {
                    break;
                }
                run_end = e;
                m += 1;
            }
            let span = usize::try_from(run_end - run_start).map_err(|_| {
                SourceError::Invalid(format!("line too long in {}", self.path.display()))
            })?;
            self.buf.resize(span, 0);
            read_exact_at(&self.file, &mut self.buf, run_start).map_err(io_err(&self.path))?;
            for (q, &line) in lines.iter().enumerate().take(m).skip(k) {
                let (s, e) = index.body_range(line);
                let body = &self.buf[(s - run_start) as usize..(e - run_start) as usize];
                let key = station_key(body).map(|k| k.into_owned());
                batch.push(
                    q as i64,
                    s as i64,
                    self.base_ms.saturating_add(i64::from(line)),
                    key,
                    body,
                );
            }
            k = m;
        }
        self.next = end;
        Ok(Some(batch))
    }

    fn position(&self) -> SequenceNumber {
        SequenceNumber(self.next as i64)
    }
}
