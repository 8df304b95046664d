//! Where a restart may start replaying the deduplication state: per partition, an *anchor*, a
//! committed position such that every silver row up to it has been forgotten, with the
//! partition's clock there. The committer keeps them ([`DedupAnchors`]) and records them with
//! every silver commit (the `medallionDedup` field of its `commitInfo`); a restart then reads
//! only the silver rows after each partition's anchor, starting the partition's clock from the
//! anchor's, and gets exactly the state a replay of the whole table gives (see
//! [`super::RestoredDedup::of_rows_after`]).
//!
//! Why it is exact: the clock only moves forward, so every row up to the anchor was stamped at
//! most the anchor's *bound* (its clock, or an ingest time given while the partition had no
//! clock yet); the anchor is taken only once the bound's bucket is before the partition's first
//! kept bucket, and the clock a restart replays to can only be later, so a full replay drops
//! those rows' keys too, and the rows after the anchor are stamped alike in both replays.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use super::Horizon;

/// A committed position of a partition with the partition's clock after it (ms; `i64::MIN`
/// while the partition has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub position: i64,
    pub clock_ms: i64,
}

/// What one epoch's silver rows (those with an `event_id`) tell of one partition's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochStamps {
    /// The newest event time among them (ms).
    pub newest_ms: Option<i64>,
    /// The newest ingest time among those without an event time (ms): what they are stamped
    /// with while the partition has no clock yet.
    pub untimed_ingest_ms: Option<i64>,
}

impl EpochStamps {
    /// Adds one row.
    pub fn add(&mut self, event_time_ms: Option<i64>, ingest_ms: i64) {
        match event_time_ms {
            Some(t) => self.newest_ms = Some(self.newest_ms.map_or(t, |n| n.max(t))),
            None => {
                self.untimed_ingest_ms = Some(
                    self.untimed_ingest_ms
                        .map_or(ingest_ms, |n| n.max(ingest_ms)),
                )
            }
        }
    }

    /// Adds another worker's stamps of the same epoch and partition.
    pub fn merge(&mut self, other: &EpochStamps) {
        let max = |a: Option<i64>, b: Option<i64>| a.max(b);
        self.newest_ms = max(self.newest_ms, other.newest_ms);
        self.untimed_ingest_ms = max(self.untimed_ingest_ms, other.untimed_ingest_ms);
    }
}

/// One partition's clock and its candidate anchors.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Partition {
    clock_ms: i64,
    /// The newest stamp given while the partition had no clock (an ingest time; `i64::MIN`:
    /// none).
    pre_clock_ms: i64,
    /// Committed positions not yet forgotten, oldest first, each with the greatest stamp of the
    /// rows up to it; at most one per bucket of that stamp (a later one replaces it).
    pending: VecDeque<(Anchor, i64)>,
    anchor: Option<Anchor>,
}

/// The committer's deduplication anchors (see the module docs).
#[derive(Debug, Clone)]
pub struct DedupAnchors {
    horizon: Horizon,
    partitions: BTreeMap<u32, Partition>,
}

/// The anchors as recorded in a commit: per partition its anchor (if any) and the newest stamp
/// given while it had no clock (if any).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedAnchors {
    #[serde(default)]
    pub anchors: BTreeMap<u32, Anchor>,
    #[serde(default, rename = "preClock")]
    pub pre_clock_ms: BTreeMap<u32, i64>,
}

impl DedupAnchors {
    /// No partition has committed anything yet.
    pub fn new(horizon_ms: i64) -> Self {
        DedupAnchors {
            horizon: Horizon::new(horizon_ms),
            partitions: BTreeMap::new(),
        }
    }

    /// After a restart: the anchors read from the last commit that recorded them, the clocks
    /// the restore replayed, and the committed positions.
    pub fn restored(
        horizon_ms: i64,
        recorded: &RecordedAnchors,
        clocks: &[(u32, i64)],
        positions: &BTreeMap<u32, i64>,
    ) -> Self {
        let mut anchors = DedupAnchors::new(horizon_ms);
        let clocks: BTreeMap<u32, i64> = clocks.iter().copied().collect();
        for (&p, &position) in positions {
            let part = anchors.partition(p);
            part.clock_ms = clocks.get(&p).copied().unwrap_or(i64::MIN);
            part.pre_clock_ms = recorded.pre_clock_ms.get(&p).copied().unwrap_or(i64::MIN);
            part.anchor = recorded.anchors.get(&p).copied();
            let bound = part.clock_ms.max(part.pre_clock_ms);
            part.pending.push_back((
                Anchor {
                    position,
                    clock_ms: part.clock_ms,
                },
                bound,
            ));
        }
        anchors
    }

    fn partition(&mut self, p: u32) -> &mut Partition {
        self.partitions.entry(p).or_insert(Partition {
            clock_ms: i64::MIN,
            pre_clock_ms: i64::MIN,
            pending: VecDeque::new(),
            anchor: None,
        })
    }

    /// One committed epoch: its silver rows' stamps per partition and the positions committed
    /// with it.
    pub fn advance(&mut self, stamps: &BTreeMap<u32, EpochStamps>, positions: &BTreeMap<u32, i64>) {
        for (&p, s) in stamps {
            let part = self.partition(p);
            if part.clock_ms == i64::MIN {
                // Rows of this epoch may have been stamped with their ingest time.
                part.pre_clock_ms = part
                    .pre_clock_ms
                    .max(s.untimed_ingest_ms.unwrap_or(i64::MIN));
            }
            part.clock_ms = part.clock_ms.max(s.newest_ms.unwrap_or(i64::MIN));
        }
        let horizon = self.horizon;
        for (&p, &position) in positions {
            let part = self.partition(p);
            let bound = part.clock_ms.max(part.pre_clock_ms);
            let mark = (
                Anchor {
                    position,
                    clock_ms: part.clock_ms,
                },
                bound,
            );
            match part.pending.back_mut() {
                Some(last) if last.0.position >= position => {}
                Some(last) if horizon.bucket(last.1) == horizon.bucket(bound) => *last = mark,
                _ => part.pending.push_back(mark),
            }
            let first_kept = horizon.first_kept(part.clock_ms);
            while part.pending.front().is_some_and(|(_, bound)| {
                part.clock_ms != i64::MIN && horizon.bucket(*bound) < first_kept
            }) {
                part.anchor = part.pending.pop_front().map(|(a, _)| a);
            }
        }
    }

    /// What the next silver commit records.
    pub fn recorded(&self) -> RecordedAnchors {
        RecordedAnchors {
            anchors: self
                .partitions
                .iter()
                .filter_map(|(&p, part)| Some((p, part.anchor?)))
                .collect(),
            pre_clock_ms: self
                .partitions
                .iter()
                .filter(|(_, part)| part.pre_clock_ms != i64::MIN)
                .map(|(&p, part)| (p, part.pre_clock_ms))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataflow::operators::dedup::RestoredDedup;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Silver rows as the restore sees them: (partition, sequence number, key, event time,
    /// ingest time).
    type Row = (u32, i64, u128, Option<i64>, i64);

    /// The restore from anchors equals the replay of every row, for random partitions (late and
    /// untimed rows, ingest times ahead of or behind event time), random commit cuts and
    /// horizons, wherever the restore happens: the property `pipeline::restore` relies on.
    #[test]
    fn the_state_restored_after_the_anchors_is_the_state_of_all_rows() {
        for seed in 0..300u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let horizon_ms = rng.random_range(8_000..=600_000i64);
            let partitions = rng.random_range(1..=4u32);
            let t0 = 1_790_000_000_000i64;
            let ingest_skew = rng.random_range(-3_600_000..=3_600_000i64);
            let mut rows: Vec<Vec<Row>> = Vec::new();
            let mut key = 0u128;
            for p in 0..partitions {
                let n = rng.random_range(0..400);
                let mut t = t0 + rng.random_range(0..60_000);
                let untimed_start = rng.random_range(0..5);
                let mut part = Vec::new();
                for seq in 0..n {
                    t += rng.random_range(0..5_000);
                    let event_time = if seq < untimed_start || rng.random_bool(0.05) {
                        None
                    } else if rng.random_bool(0.1) {
                        Some(t - rng.random_range(0..3 * horizon_ms)) // late
                    } else {
                        Some(t)
                    };
                    key += 1;
                    part.push((p, seq as i64, key, event_time, t + ingest_skew));
                }
                rows.push(part);
            }
            // Commit cuts: after each commit, each partition's rows so far.
            let commits = rng.random_range(1..30);
            let mut anchors = DedupAnchors::new(horizon_ms);
            let mut done = vec![0usize; partitions as usize];
            let mut restore_at = rng.random_range(0..=commits);
            for c in 0..commits {
                let mut stamps: BTreeMap<u32, EpochStamps> = BTreeMap::new();
                let mut positions = BTreeMap::new();
                for (p, part) in rows.iter().enumerate() {
                    let end = if c + 1 == commits {
                        part.len()
                    } else {
                        (done[p] + rng.random_range(0..40)).min(part.len())
                    };
                    for r in &part[done[p]..end] {
                        stamps.entry(p as u32).or_default().add(r.3, r.4);
                    }
                    if end > 0 {
                        positions.insert(p as u32, end as i64 - 1);
                    }
                    done[p] = end;
                }
                anchors.advance(&stamps, &positions);
                if c + 1 == restore_at || c + 1 == commits {
                    restore_at = usize::MAX;
                    let committed: Vec<Row> = rows
                        .iter()
                        .enumerate()
                        .flat_map(|(p, part)| part[..done[p]].to_vec())
                        .collect();
                    let recorded = anchors.recorded();
                    let after: Vec<Row> = committed
                        .iter()
                        .copied()
                        .filter(|r| recorded.anchors.get(&r.0).is_none_or(|a| r.1 > a.position))
                        .collect();
                    let full = RestoredDedup::of_rows(horizon_ms, committed.clone());
                    let bounded =
                        RestoredDedup::of_rows_after(horizon_ms, &recorded.anchors, after.clone());
                    let sorted = |mut d: RestoredDedup| {
                        d.keys.sort_by_key(|k| (k.partition, k.key));
                        d.clocks.sort();
                        d
                    };
                    assert_eq!(
                        sorted(bounded),
                        sorted(full),
                        "seed {seed}, commit {c}: restored from {} of {} rows",
                        after.len(),
                        committed.len()
                    );
                }
            }
        }
    }

    /// The anchors skip rows in long histories (else the property above holds vacuously).
    #[test]
    fn anchors_skip_most_of_a_long_history() {
        let minute = 60_000;
        let mut a = DedupAnchors::new(10 * minute);
        for c in 0..1_000i64 {
            a.advance(&stamps(c * minute), &BTreeMap::from([(0, c * 100)]));
        }
        let anchor = a.recorded().anchors[&0];
        assert!(anchor.position >= 98_000, "{anchor:?}");
        assert!(a.partitions[&0].pending.len() <= 12);
    }

    const H: i64 = 8 * 60_000; // buckets of a minute

    fn stamps(newest: i64) -> BTreeMap<u32, EpochStamps> {
        BTreeMap::from([(
            0,
            EpochStamps {
                newest_ms: Some(newest),
                untimed_ingest_ms: None,
            },
        )])
    }

    #[test]
    fn an_anchor_is_taken_once_the_horizon_has_passed_it() {
        let mut a = DedupAnchors::new(H);
        let minute = 60_000;
        a.advance(&stamps(10 * minute), &BTreeMap::from([(0, 100)]));
        assert_eq!(a.recorded().anchors.get(&0), None);
        // A horizon and a bucket later the first commit is forgotten.
        a.advance(&stamps(19 * minute), &BTreeMap::from([(0, 200)]));
        assert_eq!(
            a.recorded().anchors[&0],
            Anchor {
                position: 100,
                clock_ms: 10 * minute
            }
        );
        // Commits in the same bucket of their bound keep one candidate, the latest.
        a.advance(&stamps(19 * minute + 10), &BTreeMap::from([(0, 250)]));
        a.advance(&stamps(40 * minute), &BTreeMap::from([(0, 300)]));
        assert_eq!(
            a.recorded().anchors[&0],
            Anchor {
                position: 250,
                clock_ms: 19 * minute + 10
            }
        );
    }

    #[test]
    fn ingest_stamps_before_the_first_event_time_hold_the_anchor_back() {
        let mut a = DedupAnchors::new(H);
        let minute = 60_000;
        let untimed = BTreeMap::from([(
            0,
            EpochStamps {
                newest_ms: None,
                untimed_ingest_ms: Some(1_000 * minute),
            },
        )]);
        a.advance(&untimed, &BTreeMap::from([(0, 10)]));
        a.advance(&stamps(10 * minute), &BTreeMap::from([(0, 20)]));
        a.advance(&stamps(100 * minute), &BTreeMap::from([(0, 30)]));
        // The ingest stamps (minute 1000) are not forgotten at minute 100.
        assert_eq!(a.recorded().anchors.get(&0), None);
        assert_eq!(a.recorded().pre_clock_ms[&0], 1_000 * minute);
        a.advance(&stamps(1_020 * minute), &BTreeMap::from([(0, 40)]));
        assert_eq!(a.recorded().anchors[&0].position, 30);
    }
}
