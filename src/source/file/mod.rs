//! The `file:PATH` source: a JSON-lines file (one message body per line, as gen_events.py and
//! [`crate::workload::write_jsonl`] write it) spread over P partitions by partition key.
//!
//! Bodies: each line without its terminating `\n` (a `\r` before it is kept: bodies are bytes
//! exactly as stored); a last line without `\n` is a body too; an empty line is an (empty) body,
//! which fails parsing downstream and lands in quarantine — nothing disappears. A trailing `\n`
//! at the end of the file does not start another body.
//!
//! Partitioning: the key of a line is its `station_id` string, found by the cheap byte scan
//! [`crate::workload::station_key`], or the value of a declared event's key field
//! ([`KeyScan`]); a line without one (unparseable, missing, null, empty) goes to
//! `partition_for_key(None, P, line number)` (round robin by 0-based line number).
//!
//! Within a partition: sequence number = position in the partition (0, 1, 2, ...); offset = byte
//! offset of the line in the file; enqueued time = a base plus the 0-based line number in ms. The
//! base defaults to the file's modification time (ms since the epoch; 0 if unknown) and can be
//! pinned with [`FileSource::with_enqueued_base_ms`] for reproducible runs.
//!
//! Cost: [`FileSource::open_path`] reads the file once, sequentially, and keeps an index shared
//! by all its readers: each line's length and each partition's line numbers as differences
//! ([`lines`]: 3 bytes per line, 60 MB for the 20M-line file); no body is kept.
//! Readers then read their own lines with positioned reads (`pread`); lines of a partition that
//! lie close together (gap ≤ 4 KiB) are fetched with one read, scattered ones with one read each.
//! A read of nearby lines also copies the other partitions' lines between them, so with P
//! partitions interleaved each byte is copied from the page cache about P times (with 8
//! partitions, ~6% of the CPU of a run on the standard file). A memory map would copy each byte
//! once and was measured 5% faster, but its pages count in the process's resident set (1 GB
//! peak on the standard file), so reads stay positioned.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{
    partition_for_key, PartitionId, PartitionReader, PartitionedSource, RawBatch, SequenceNumber,
    SourceError,
};
pub use crate::workload::KeyScan;

mod lines;

use lines::{LineCursor, LineTable, PartitionLines};

/// Lines of one partition closer than this are read together.
const COALESCE_GAP: u64 = 4 << 10;
/// Longest span read at once (a longer single line is still read whole).
const MAX_SPAN: u64 = 4 << 20;

/// The line index of a file, built once and shared by the readers.
#[derive(Debug)]
struct FileIndex {
    /// Where each line starts and ends.
    table: LineTable,
    /// The lines of each partition, in file order.
    parts: Vec<PartitionLines>,
}

/// A JSON-lines file as a partitioned, bounded source.
#[derive(Debug, Clone)]
pub struct FileSource {
    key: Arc<KeyScan>,
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
        FileSource::open_keyed(path, partitions, KeyScan::Station)
    }

    /// Opens `path` over `partitions` partitions, keying lines by `key`.
    pub fn open_keyed(
        path: impl AsRef<Path>,
        partitions: u32,
        key: KeyScan,
    ) -> Result<Self, SourceError> {
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
        let index = build_index(&file, &path, partitions, &key)?;
        Ok(FileSource {
            key: Arc::new(key),
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
        self.index.table.len() as u64
    }

    /// Number of bodies in `partition` (0 for a partition that does not exist).
    pub fn partition_len(&self, partition: PartitionId) -> u64 {
        self.index
            .parts
            .get(partition.0 as usize)
            .map_or(0, |p| p.len() as u64)
    }
}

/// The index is built by up to this many threads, each over its own part of the file.
const INDEX_THREADS: usize = 8;
/// No thread indexes less than this (small files are indexed by one).
const MIN_INDEX_CHUNK: u64 = 8 << 20;
/// A line without a `station_id` in [`ChunkLines::partition`]: its partition follows from its
/// line number, known only once the chunks before it are counted.
const BY_LINE_NUMBER: u32 = u32::MAX;

/// The lines of one part of the file.
#[derive(Default)]
struct ChunkLines {
    /// Start offset of each line.
    starts: Vec<u64>,
    /// Each line's partition, or [`BY_LINE_NUMBER`].
    partition: Vec<u32>,
    /// The part ends in a line without `\n` (only the file's last part can).
    unterminated: bool,
}

/// Line starts and each line's partition: the file is cut at line starts into parts indexed in
/// parallel (by pread, each its own buffer), then the parts are joined in order.
fn build_index(
    file: &File,
    path: &Path,
    partitions: u32,
    key: &KeyScan,
) -> Result<FileIndex, SourceError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(INDEX_THREADS);
    build_index_in(file, path, partitions, key, threads, MIN_INDEX_CHUNK)
}

fn build_index_in(
    file: &File,
    path: &Path,
    partitions: u32,
    key: &KeyScan,
    threads: usize,
    min_chunk: u64,
) -> Result<FileIndex, SourceError> {
    let len = file.metadata().map_err(io_err(path))?.len();
    let chunk = (len / threads.max(1) as u64).max(min_chunk).max(1);
    let bounds = chunk_bounds(file, path, len, chunk)?;
    let chunks: Vec<Result<ChunkLines, SourceError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (begin, end) = (w[0], w[1]);
                scope.spawn(move || index_chunk(file, path, (begin, end), partitions, key))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .expect("indexing a part of the file does not panic")
            })
            .collect()
    });
    let chunks = chunks.into_iter().collect::<Result<Vec<_>, _>>()?;
    let lines: usize = chunks.iter().map(|c| c.starts.len()).sum();
    if u32::try_from(lines).is_err() {
        return Err(SourceError::Invalid(format!(
            "{} has more than {} lines",
            path.display(),
            u32::MAX
        )));
    }
    let mut table = LineTable::with_capacity(lines);
    let mut parts: Vec<PartitionLines> =
        (0..partitions).map(|_| PartitionLines::default()).collect();
    let mut unterminated = false;
    let mut previous: Option<u64> = None;
    for chunk in chunks {
        for (start, p) in chunk.starts.into_iter().zip(chunk.partition) {
            if let Some(previous) = previous {
                table.push(start - previous);
            }
            previous = Some(start);
            let line_no = table.len();
            let p = if p == BY_LINE_NUMBER {
                partition_for_key(None, partitions, line_no as u64).0
            } else {
                p
            };
            parts[p as usize].push(line_no as u32);
        }
        unterminated = chunk.unterminated;
    }
    // The last line ends where the file does (as if it had a '\n').
    if let Some(previous) = previous {
        table.push(if unterminated { len + 1 } else { len } - previous);
    }
    table.shrink_to_fit();
    for p in &mut parts {
        p.shrink_to_fit();
    }
    tracing::debug!(
        file = %path.display(),
        lines = table.len(),
        bytes = table.bytes() + parts.iter().map(PartitionLines::bytes).sum::<usize>(),
        "file index built"
    );
    Ok(FileIndex { table, parts })
}

/// Where the parts of a file of `len` bytes begin, about `chunk` bytes apart, each at a line
/// start; the last entry is `len`.
fn chunk_bounds(file: &File, path: &Path, len: u64, chunk: u64) -> Result<Vec<u64>, SourceError> {
    let mut bounds = vec![0u64];
    let mut window = vec![0u8; 64 << 10];
    let mut nominal = chunk;
    while nominal < len {
        // The first line start at or after `nominal`: just past the first '\n' at or after
        // `nominal - 1`.
        let mut at = nominal - 1;
        let boundary = loop {
            if at >= len {
                break len;
            }
            let n = window.len().min((len - at) as usize);
            read_exact_at(file, &mut window[..n], at).map_err(io_err(path))?;
            match memchr::memchr(b'\n', &window[..n]) {
                Some(k) => break at + k as u64 + 1,
                None => at += n as u64,
            }
        };
        if boundary >= len {
            break;
        }
        // `boundary` ≥ `nominal` > the previous bound: bounds ascend.
        bounds.push(boundary);
        nominal = boundary + chunk;
    }
    bounds.push(len);
    Ok(bounds)
}

/// Indexes the lines that start in `begin..end` (both line starts, or `end` the file's end).
fn index_chunk(
    file: &File,
    path: &Path,
    (begin, end): (u64, u64),
    partitions: u32,
    scan: &KeyScan,
) -> Result<ChunkLines, SourceError> {
    let mut out = ChunkLines::default();
    let mut line = |start: u64, body: &[u8]| {
        let key = scan.key(body);
        out.starts.push(start);
        out.partition.push(match key {
            Some(k) => partition_for_key(Some(k.as_bytes()), partitions, 0).0,
            None => BY_LINE_NUMBER,
        });
    };
    let mut buf = vec![0u8; (4 << 20).min((end - begin) as usize)];
    let mut carry: Vec<u8> = Vec::new();
    let mut carry_start = begin;
    let mut pos = begin;
    while pos < end {
        let n = buf.len().min((end - pos) as usize);
        read_exact_at(file, &mut buf[..n], pos).map_err(io_err(path))?;
        let block = &buf[..n];
        let mut at = 0usize;
        if !carry.is_empty() {
            match memchr::memchr(b'\n', block) {
                Some(k) => {
                    carry.extend_from_slice(&block[..k]);
                    line(carry_start, &carry);
                    carry.clear();
                    at = k + 1;
                }
                None => {
                    carry.extend_from_slice(block);
                    pos += n as u64;
                    continue;
                }
            }
        }
        let base = at;
        for k in memchr::memchr_iter(b'\n', &block[base..]) {
            let k = base + k;
            line(pos + at as u64, &block[at..k]);
            at = k + 1;
        }
        if at < n {
            // an incomplete line: keep it until its end shows up
            carry_start = pos + at as u64;
            carry.extend_from_slice(&block[at..]);
        }
        pos += n as u64;
    }
    if !carry.is_empty() {
        line(carry_start, &carry);
        out.unterminated = true;
    }
    Ok(out)
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
            key: Arc::clone(&self.key),
            path: self.path.clone(),
            file: Arc::clone(&self.file),
            index: Arc::clone(&self.index),
            partition,
            cursor: LineCursor::at(start.0 as usize),
            base_ms: self.enqueued_base_ms,
            buf: Vec::new(),
            lines: Vec::new(),
        }))
    }
}

struct FileReader {
    key: Arc<KeyScan>,
    path: PathBuf,
    file: Arc<File>,
    index: Arc<FileIndex>,
    partition: PartitionId,
    /// The partition's next line.
    cursor: LineCursor,
    base_ms: i64,
    buf: Vec<u8>,
    /// The lines of the batch being read: (line number, body start, body end).
    lines: Vec<(u32, u64, u64)>,
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
        let part = &index.parts[self.partition.0 as usize];
        let first = self.cursor.position();
        if first >= part.len() {
            return Ok(None);
        }
        // Where to read again from if this batch fails.
        let before = self.cursor.clone();
        let lines = &mut self.lines;
        lines.clear();
        while lines.len() < max.max(1) {
            match self.cursor.next(part, &index.table) {
                Some(line) => lines.push(line),
                None => break,
            }
        }
        let mut batch = RawBatch::new(self.partition);
        let bytes: u64 = lines.iter().map(|&(_, s, e)| e - s).sum();
        batch.reserve(lines.len(), usize::try_from(bytes).unwrap_or(0));
        let mut k = 0;
        while k < lines.len() {
            // a run of nearby lines read with one pread
            let (_, run_start, mut run_end) = lines[k];
            let mut m = k + 1;
            while m < lines.len() {
                let (_, s, e) = lines[m];
                if s.saturating_sub(run_end) > COALESCE_GAP || e - run_start > MAX_SPAN {
                    break;
                }
                run_end = e;
                m += 1;
            }
            let read = usize::try_from(run_end - run_start)
                .map_err(|_| {
                    SourceError::Invalid(format!("line too long in {}", self.path.display()))
                })
                .and_then(|span| {
                    // The buffer only grows: shrinking it to each run's span and growing it back
                    // zero-filled the difference at every read (2.5% of a file run's work).
                    if self.buf.len() < span {
                        self.buf.resize(span, 0);
                    }
                    read_exact_at(&self.file, &mut self.buf[..span], run_start)
                        .map_err(io_err(&self.path))
                });
            if let Err(e) = read {
                self.cursor = before;
                return Err(e);
            }
            for (q, &(line, s, e)) in lines.iter().enumerate().take(m).skip(k) {
                let body = &self.buf[(s - run_start) as usize..(e - run_start) as usize];
                let key = self.key.key(body);
                batch.push(
                    (first + q) as i64,
                    s as i64,
                    self.base_ms.saturating_add(i64::from(line)),
                    key.as_deref(),
                    body,
                );
            }
            k = m;
        }
        Ok(Some(batch))
    }

    fn position(&self) -> SequenceNumber {
        SequenceNumber(self.cursor.position() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines of every odd kind: empty, `\r`, keyless, unparseable, long, and a last line
    /// without `\n`.
    fn odd_file(dir: &Path, terminated: bool) -> PathBuf {
        let mut text = String::new();
        for i in 0..3_000 {
            match i % 7 {
                0 => text.push('\n'),
                1 => text.push_str(&format!("{{\"station_id\":\"ST{i}\"}}\r\n")),
                2 => text.push_str("not json\n"),
                3 => text.push_str(&format!("{{\"station_id\":\"{}\"}}\n", "x".repeat(i))),
                4 => text.push_str("{\"event_id\":\"no key\"}\n"),
                _ => text.push_str(&format!("{{\"station_id\":\"S{}\",\"n\":{i}}}\n", i % 13)),
            }
        }
        text.push_str("{\"station_id\":\"LAST\"}");
        if terminated {
            text.push('\n');
        }
        let path = dir.join(format!("odd-{terminated}.jsonl"));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_index_is_the_same_however_the_file_is_cut() {
        let dir = tempfile::tempdir().unwrap();
        for terminated in [true, false] {
            let path = odd_file(dir.path(), terminated);
            let file = File::open(&path).unwrap();
            let whole = build_index_in(&file, &path, 5, &KeyScan::Station, 1, u64::MAX).unwrap();
            assert_eq!(whole.table.len(), 3_001);
            let len = std::fs::metadata(&path).unwrap().len();
            assert_eq!(whole.table.end(), len + u64::from(!terminated));
            for (threads, min_chunk) in [(2, 1), (8, 1), (3, 1000), (64, 17), (7, 5_000_000)] {
                let cut =
                    build_index_in(&file, &path, 5, &KeyScan::Station, threads, min_chunk).unwrap();
                assert_eq!(cut.table, whole.table, "{threads} threads, {min_chunk}");
                assert_eq!(cut.parts, whole.parts, "{threads} threads, {min_chunk}");
            }
        }
        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "").unwrap();
        let index = build_index_in(
            &File::open(&empty).unwrap(),
            &empty,
            3,
            &KeyScan::Station,
            4,
            1,
        )
        .unwrap();
        assert_eq!((index.table.len(), index.table.end()), (0, 0));
        assert!(index.parts.iter().all(PartitionLines::is_empty));
    }
}
