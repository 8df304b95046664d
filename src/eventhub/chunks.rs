//! What an Event Hubs partition reader has received and not yet handed out: chunks of events
//! (each a [`RawBatch`] the receiving task built, see [`crate::eventhub::pump`]), taken out in
//! batches of at most a given size. A batch that is exactly the first chunk is that chunk, moved;
//! any other is one exactly sized copy of the events it takes (never grown by doubling).
//!
//! Sequence numbers handed out follow on from each other: the first event may be later than the
//! reader's start (the partition's retention began after it), every later one must be the next.
//! At a gap the events before it are handed out, the rest are dropped, and the gap is reported.

use std::collections::VecDeque;

use crate::source::{PartitionId, RawBatch};

/// Chunks received and not yet handed out in full.
#[derive(Debug)]
pub(crate) struct ChunkQueue {
    partition: PartitionId,
    chunks: VecDeque<RawBatch>,
    /// Events of the first chunk already handed out.
    taken: usize,
    /// Events queued and not yet handed out.
    queued: usize,
    /// The sequence number the next event handed out must have.
    next_seq: i64,
    /// Whether any event was handed out (before that, the first may skip ahead).
    returned_any: bool,
}

/// A sequence number that does not follow on from the one handed out before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Gap {
    pub(crate) expected: i64,
    pub(crate) found: i64,
}

impl std::fmt::Display for Gap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "sequence number {} where {} was expected",
            self.found, self.expected
        )
    }
}

impl ChunkQueue {
    /// An empty queue of `partition`, whose next event is `next_seq` (or later, for the first).
    pub(crate) fn new(partition: PartitionId, next_seq: i64) -> Self {
        ChunkQueue {
            partition,
            chunks: VecDeque::new(),
            taken: 0,
            queued: 0,
            next_seq,
            returned_any: false,
        }
    }

    /// Adds the chunk received after the ones queued.
    pub(crate) fn push(&mut self, chunk: RawBatch) {
        self.queued += chunk.len();
        self.chunks.push_back(chunk);
    }

    /// Events queued and not yet handed out.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// The sequence number after the last one handed out (the start, before any).
    pub(crate) fn next_seq(&self) -> i64 {
        self.next_seq
    }

    /// Hands out up to `max` queued events as one batch (empty when none are queued), and the
    /// gap that stopped it short, if one did (the queue is then empty).
    pub(crate) fn take(&mut self, max: usize) -> (RawBatch, Option<Gap>) {
        let (n, bytes, gap) = self.count(max);
        let whole_first = self.taken == 0 && self.chunks.front().is_some_and(|c| c.len() == n);
        let batch = if whole_first {
            self.chunks.pop_front().unwrap_or_default()
        } else {
            self.copy_out(n, bytes)
        };
        self.queued -= n;
        if gap.is_some() {
            self.chunks.clear();
            self.taken = 0;
            self.queued = 0;
        }
        (batch, gap)
    }

    /// How many events (and body bytes) the next batch takes: up to `max`, stopping at a gap.
    /// Advances the expected sequence number past them.
    fn count(&mut self, max: usize) -> (usize, usize, Option<Gap>) {
        let (mut n, mut bytes) = (0, 0);
        for (k, chunk) in self.chunks.iter().enumerate() {
            let from = if k == 0 { self.taken } else { 0 };
            let mut to = from;
            let mut gap = None;
            for &seq in &chunk.sequence_numbers[from..] {
                if n == max {
                    break;
                }
                if seq != self.next_seq && !(seq > self.next_seq && !self.returned_any) {
                    gap = Some(Gap {
                        expected: self.next_seq,
                        found: seq,
                    });
                    break;
                }
                self.next_seq = seq + 1;
                self.returned_any = true;
                n += 1;
                to += 1;
            }
            bytes += chunk.body_offsets[to] - chunk.body_offsets[from];
            if gap.is_some() || n == max {
                return (n, bytes, gap);
            }
        }
        (n, bytes, None)
    }

    /// Copies the next `n` events (`bytes` of bodies) into one batch, dropping the chunks
    /// they empty.
    fn copy_out(&mut self, n: usize, bytes: usize) -> RawBatch {
        let mut batch = RawBatch::new(self.partition);
        batch.reserve(n, bytes);
        let mut left = n;
        while left > 0 {
            let Some(chunk) = self.chunks.front() else {
                break;
            };
            let to = chunk.len().min(self.taken + left);
            batch.extend_from(chunk, self.taken..to);
            left -= to - self.taken;
            if to == chunk.len() {
                self.chunks.pop_front();
                self.taken = 0;
            } else {
                self.taken = to;
            }
        }
        batch
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn chunk(seqs: std::ops::Range<i64>) -> RawBatch {
        let mut b = RawBatch::new(PartitionId(5));
        for s in seqs {
            let key = (s % 3 != 0).then(|| format!("ST-{s}"));
            b.push(
                s,
                s * 7,
                s * 11,
                key.as_deref(),
                format!("{{\"n\":{s}}}").as_bytes(),
            );
        }
        b
    }

    /// Against a plain model (the events pushed one by one into one batch): chunks of random
    /// sizes pushed between takes of random sizes, the first event at the start or later,
    /// sometimes a gap. The batches handed out, in order, are exactly the events before the gap,
    /// none larger than asked, and the gap is reported once, naming what was expected.
    #[test]
    fn batches_taken_out_are_the_chunks_events_in_order_up_to_a_gap() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026_12_08);
        for _ in 0..500 {
            let start = rng.random_range(0..5i64);
            let mut next = start + rng.random_range(0..3i64);
            let mut q = ChunkQueue::new(PartitionId(5), start);
            let mut sent = RawBatch::new(PartitionId(5));
            // Where a gap was made: how many events were sent before it, and the number skipped.
            let mut gap_made: Option<(usize, i64)> = None;
            let mut out = RawBatch::new(PartitionId(5));
            let mut reported: Option<Gap> = None;
            let mut take = |q: &mut ChunkQueue, max: usize, reported: &mut Option<Gap>| {
                let before = q.queued();
                let (batch, gap) = q.take(max);
                assert!(batch.len() <= max && batch.len() <= before);
                assert_eq!(batch.partition, 5);
                assert_eq!(batch.body_offsets.len(), batch.len() + 1);
                out.extend_from(&batch, 0..batch.len());
                if let Some(g) = gap {
                    assert!(reported.is_none(), "a gap is reported once");
                    assert_eq!(q.queued(), 0);
                    *reported = Some(g);
                }
            };
            // Once a gap is reported the reader receives nothing more.
            for _ in 0..rng.random_range(0..12) {
                if reported.is_some() {
                    break;
                }
                if gap_made.is_none() && !sent.is_empty() && rng.random_bool(0.1) {
                    gap_made = Some((sent.len(), next));
                    next += rng.random_range(1..4);
                }
                let len = rng.random_range(0..40);
                let c = chunk(next..next + len);
                next += len;
                sent.extend_from(&c, 0..c.len());
                q.push(c);
                for _ in 0..rng.random_range(0..3) {
                    take(&mut q, rng.random_range(1..50), &mut reported);
                }
            }
            while q.queued() > 0 {
                take(&mut q, rng.random_range(1..50), &mut reported);
            }
            drop(take);
            let upto = match gap_made {
                Some((before, expected)) if before < sent.len() => {
                    let g = reported.take().expect("the gap is reported");
                    assert_eq!(g.expected, expected);
                    assert_eq!(g.found, sent.sequence_numbers[before]);
                    before
                }
                _ => {
                    assert!(reported.is_none(), "no gap to report: {reported:?}");
                    sent.len()
                }
            };
            let mut model = RawBatch::new(PartitionId(5));
            model.extend_from(&sent, 0..upto);
            assert_eq!(out.sequence_numbers, model.sequence_numbers);
            assert_eq!(
                (&out.bodies, &out.body_offsets),
                (&model.bodies, &model.body_offsets)
            );
            assert_eq!(out.partition_keys, model.partition_keys);
            assert_eq!(
                (&out.offsets, &out.enqueued_time_ms),
                (&model.offsets, &model.enqueued_time_ms)
            );
            let expected_next = model.sequence_numbers.last().map_or(start, |s| s + 1);
            assert_eq!(q.next_seq(), expected_next);
        }
    }
}
