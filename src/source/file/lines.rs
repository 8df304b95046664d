//! The file index's compact line tables: where every line starts ([`LineTable`], 2 bytes per
//! line) and which lines each partition holds ([`PartitionLines`], 1 byte per line), read in
//! order by a [`LineCursor`]. 3 bytes per line in all (the 6M-event file: 18 MB, where a start
//! offset and a line number of 4 bytes each took 48 MB).
//!
//! Both store differences to the previous entry in a small integer, with the rare large ones
//! (a line of 64 KiB or more; a partition's next line 255 or more lines on) in a sorted side
//! list, and the absolute value of every [`ANCHOR`]th entry, so that any entry is found by
//! adding at most `ANCHOR - 1` differences to an anchor, and the next one in order by adding a
//! few.

/// Every this many entries, the absolute value is kept.
pub const ANCHOR: usize = 1024;

/// The steps of a [`LineTable`] of this size or more are kept in its side list.
const LONG_STEP: u16 = u16::MAX;
/// The line-number differences of a [`PartitionLines`] of this size or more are kept aside.
const LONG_DELTA: u8 = u8::MAX;

/// Where each line of a file starts: line `l` is `start(l) .. start(l) + step(l)` (its bytes and
/// its `\n`; the last line without one as if it had it).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LineTable {
    /// `start(l + 1) - start(l)`, or [`LONG_STEP`] when that is in `long`.
    steps: Vec<u16>,
    /// (line, step) of every step of [`LONG_STEP`] or more, by line.
    long: Vec<(u32, u64)>,
    /// `start(k * ANCHOR)`.
    anchors: Vec<u64>,
    /// Where the next line pushed starts.
    end: u64,
}

impl LineTable {
    pub fn with_capacity(lines: usize) -> Self {
        LineTable {
            steps: Vec::with_capacity(lines),
            ..LineTable::default()
        }
    }

    /// Appends a line that starts at [`LineTable::end`] and takes `step` bytes.
    pub fn push(&mut self, step: u64) {
        let l = self.steps.len();
        if l % ANCHOR == 0 {
            self.anchors.push(self.end);
        }
        if step >= u64::from(LONG_STEP) {
            self.steps.push(LONG_STEP);
            self.long.push((l as u32, step));
        } else {
            self.steps.push(step as u16);
        }
        self.end += step;
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Where the line after the last one would start.
    #[cfg(test)]
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Bytes from line `l`'s start to the next line's.
    #[inline]
    pub fn step(&self, l: u32) -> u64 {
        match self.steps[l as usize] {
            LONG_STEP => {
                let at = self
                    .long
                    .binary_search_by_key(&l, |&(line, _)| line)
                    .expect("every long step is listed");
                self.long[at].1
            }
            s => u64::from(s),
        }
    }

    /// Where line `l` starts (`l` may be [`LineTable::len`]: the end).
    pub fn start(&self, l: u32) -> u64 {
        if l as usize == self.steps.len() {
            return self.end;
        }
        let a = l as usize / ANCHOR;
        let mut at = self.anchors[a];
        for i in (a * ANCHOR) as u32..l {
            at += self.step(i);
        }
        at
    }

    /// Bytes taken by the index.
    pub fn bytes(&self) -> usize {
        self.steps.capacity() * 2 + self.long.capacity() * 16 + self.anchors.capacity() * 8
    }

    pub fn shrink_to_fit(&mut self) {
        self.steps.shrink_to_fit();
        self.long.shrink_to_fit();
        self.anchors.shrink_to_fit();
    }
}

/// The line numbers of one partition, ascending.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PartitionLines {
    /// Each entry's line minus the previous entry's (unused at anchors), or [`LONG_DELTA`] when
    /// that is in `long`.
    deltas: Vec<u8>,
    /// (entry, difference) of every difference of [`LONG_DELTA`] or more, by entry.
    long: Vec<(u32, u32)>,
    /// The line of entry `k * ANCHOR`.
    anchors: Vec<u32>,
    last: u32,
}

impl PartitionLines {
    /// Appends `line` (greater than the last one).
    pub fn push(&mut self, line: u32) {
        let k = self.deltas.len();
        if k % ANCHOR == 0 {
            self.anchors.push(line);
            self.deltas.push(0);
        } else {
            let delta = line - self.last;
            if delta >= u32::from(LONG_DELTA) {
                self.deltas.push(LONG_DELTA);
                self.long.push((k as u32, delta));
            } else {
                self.deltas.push(delta as u8);
            }
        }
        self.last = line;
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.deltas.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty()
    }

    /// The line of entry `k` given the line of entry `k - 1` (`None`: not known).
    #[inline]
    fn line_after(&self, k: usize, previous: Option<u32>) -> u32 {
        if k % ANCHOR == 0 {
            return self.anchors[k / ANCHOR];
        }
        let Some(previous) = previous else {
            return self.line(k);
        };
        previous
            + match self.deltas[k] {
                LONG_DELTA => {
                    let at = self
                        .long
                        .binary_search_by_key(&(k as u32), |&(entry, _)| entry)
                        .expect("every long difference is listed");
                    self.long[at].1
                }
                d => u32::from(d),
            }
    }

    /// The line of entry `k`.
    pub fn line(&self, k: usize) -> u32 {
        let a = k / ANCHOR;
        let mut line = self.anchors[a];
        for i in a * ANCHOR + 1..=k {
            line = self.line_after(i, Some(line));
        }
        line
    }

    /// Bytes taken by the index.
    pub fn bytes(&self) -> usize {
        self.deltas.capacity() + self.long.capacity() * 8 + self.anchors.capacity() * 4
    }

    pub fn shrink_to_fit(&mut self) {
        self.deltas.shrink_to_fit();
        self.long.shrink_to_fit();
        self.anchors.shrink_to_fit();
    }
}

/// Reads one partition's lines in order from entry `next` on: (line number, start, end of the
/// body), each found from the previous one by adding a few differences.
#[derive(Debug, Clone)]
pub struct LineCursor {
    next: usize,
    /// The line and start of entry `next - 1`, once one was read.
    previous: Option<(u32, u64)>,
}

impl LineCursor {
    /// A cursor at entry `next`.
    pub fn at(next: usize) -> Self {
        LineCursor {
            next,
            previous: None,
        }
    }

    /// The entry the next call reads.
    pub fn position(&self) -> usize {
        self.next
    }

    /// The next line of `part`: (line number, body start, body end: the start of its `\n`).
    pub fn next(&mut self, part: &PartitionLines, table: &LineTable) -> Option<(u32, u64, u64)> {
        if self.next >= part.len() {
            return None;
        }
        let line = part.line_after(self.next, self.previous.map(|(l, _)| l));
        let start = match self.previous {
            // Nearby: add the steps in between (a line of each other partition, typically).
            Some((l, s)) if (line - l) as usize <= ANCHOR / 4 => {
                (l..line).map(|i| table.step(i)).sum::<u64>() + s
            }
            _ => table.start(line),
        };
        self.previous = Some((line, start));
        self.next += 1;
        Some((line, start, start + table.step(line) - 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn line_starts_come_back_however_long_the_lines_and_past_4_gib() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut table = LineTable::default();
        let mut starts = vec![0u64];
        for i in 0..10_000 {
            let step = match i % 500 {
                0 => 5 << 30,                 // a 5 GiB "line": offsets pass 4 GiB
                1 => u64::from(u16::MAX),     // exactly the first long step
                2 => u64::from(u16::MAX) - 1, // the longest short one
                3 => 1,                       // an empty line
                _ => rng.random_range(1..2_000),
            };
            table.push(step);
            starts.push(starts.last().unwrap() + step);
        }
        assert_eq!(table.len(), 10_000);
        assert_eq!(table.end(), *starts.last().unwrap());
        for (l, &s) in starts.iter().enumerate() {
            assert_eq!(table.start(l as u32), s, "line {l}");
        }
        for l in 0..10_000u32 {
            assert_eq!(table.step(l), starts[l as usize + 1] - starts[l as usize]);
        }
    }

    #[test]
    fn a_cursor_reads_a_partition_s_lines_in_order_from_any_entry() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        let mut table = LineTable::default();
        let mut starts = vec![0u64];
        let mut part = PartitionLines::default();
        let mut lines = Vec::new();
        let mut line = 0u32;
        for i in 0..20_000u32 {
            // mostly a few lines apart, sometimes hundreds or thousands (a long difference)
            line += match i % 97 {
                0 => rng.random_range(255..3_000),
                1 => 254,
                2 => 255,
                _ => rng.random_range(1..12),
            };
            lines.push(line);
            part.push(line);
        }
        for _ in 0..=line {
            let step = if rng.random_range(0..1000) == 0 {
                70_000
            } else {
                rng.random_range(1..900)
            };
            table.push(step);
            starts.push(starts.last().unwrap() + step);
        }
        assert_eq!(part.len(), lines.len());
        for (k, &l) in lines.iter().enumerate() {
            assert_eq!(part.line(k), l, "entry {k}");
        }
        for from in [0usize, 1, 1023, 1024, 1025, 5_000, 19_999, 20_000] {
            let mut cursor = LineCursor::at(from);
            let mut k = from;
            while let Some((l, s, e)) = cursor.next(&part, &table) {
                assert_eq!(l, lines[k], "entry {k} from {from}");
                assert_eq!((s, e), (starts[l as usize], starts[l as usize + 1] - 1));
                k += 1;
            }
            assert_eq!((k, cursor.position()), (lines.len(), lines.len()));
        }
    }
}
