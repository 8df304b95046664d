//! Hand-picked cases of the owner's decisions and the readers' clocks.

use super::*;
use rand::{Rng, SeedableRng};

const T: i64 = 1_800_000_000_000;

/// A delivery whose partition's clock is `clock` right after it.
fn at(key: DedupKey, partition: u32, seq: i64, clock: i64, h: i64) -> Delivery {
    let horizon = Horizon::new(h);
    Delivery {
        key: [key as u64, (key >> 64) as u64],
        partition,
        first_kept: horizon.first_kept(clock),
        sequence_number: seq,
        bucket: horizon.bucket(clock),
        restored: false,
    }
}

fn restored(key: DedupKey, partition: u32, clock: i64, h: i64) -> Delivery {
    Delivery {
        sequence_number: -1,
        restored: true,
        ..at(key, partition, -1, clock, h)
    }
}

#[test]
fn first_delivery_wins_within_and_across_epochs() {
    let h = 3_600_000;
    let mut o = Owner::new();
    // Epoch 1: key 7 from partitions 2 (seq 5) and 1 (seq 9), arriving out of order.
    let e1 = vec![at(7, 2, 5, T, h), at(8, 2, 6, T, h), at(7, 1, 9, T, h)];
    let mut w = o.decide(e1);
    w.sort();
    assert_eq!(w, vec![(1, 9), (2, 6)]);
    // Epoch 2: key 7 again loses; key 9 wins once.
    let e2 = vec![at(7, 0, 1, T, h), at(9, 0, 2, T, h)];
    assert_eq!(o.decide(e2), vec![(0, 2)]);
    // A restored key never wins and makes later deliveries lose.
    let mut r = Owner::new();
    assert!(r.decide(vec![restored(7, 0, T, h)]).is_empty());
    assert!(r.decide(vec![at(7, 0, 1, T, h)]).is_empty());
}

#[test]
fn keys_behind_their_partition_s_horizon_are_forgotten() {
    let h = 8_000_000; // buckets of 1,000 s
    let mut o = Owner::new();
    assert_eq!(o.decide(vec![at(1, 0, 1, T, h)]), vec![(0, 1)]);
    // The partition's clock moves just the horizon: key 1 is known.
    assert_eq!(o.decide(vec![at(2, 0, 2, T + h, h)]).len(), 1);
    assert!(o.decide(vec![at(1, 0, 3, T + h, h)]).is_empty());
    // Two buckets past the horizon of the copy at T + h: key 1 is forgotten (and evicted).
    o.decide(vec![at(3, 0, 4, T + 2 * h + 2_000_000, h)]);
    assert!(!o.keys.contains(1));
    assert_eq!(
        o.decide(vec![at(1, 0, 5, T + 2 * h + 2_000_000, h)]),
        vec![(0, 5)]
    );
}

#[test]
fn a_late_event_duplicated_at_once_is_caught_however_late_it_is() {
    // The clock is a day ahead of the late event's own time: what counts is the clock.
    let h = 7_200_000;
    let horizon = Horizon::new(h);
    let day = 86_400_000;
    let mut progress = PartitionProgress::default();
    let cands = [
        Candidate {
            key: 1,
            sequence_number: 0,
            event_time_ms: Some(T + day),
        },
        Candidate {
            key: 2,
            sequence_number: 1,
            event_time_ms: Some(T),
        },
        Candidate {
            key: 2,
            sequence_number: 2,
            event_time_ms: Some(T),
        },
    ];
    let deliveries: Vec<Delivery> = progress.deliver(&horizon, 0, &cands, 0).collect();
    assert!(deliveries
        .iter()
        .all(|d| d.bucket == horizon.bucket(T + day)));
    assert_eq!(Owner::new().decide(deliveries), vec![(0, 0), (0, 1)]);
}

#[test]
fn a_partition_far_ahead_does_not_evict_the_keys_a_slower_one_still_needs() {
    let h = 8_000_000;
    let mut o = Owner::new();
    // Partition 0 delivers key 1 at T; partition 1 is already a day ahead.
    assert_eq!(o.decide(vec![at(1, 0, 1, T, h)]), vec![(0, 1)]);
    let day = 86_400_000;
    assert_eq!(o.decide(vec![at(2, 1, 1, T + day, h)]), vec![(1, 1)]);
    // Partition 0's duplicate of key 1 (its clock has not moved a horizon) still loses.
    assert!(o.decide(vec![at(1, 0, 2, T + 1_000, h)]).is_empty());
    assert!(o.keys.contains(1));
    // Once partition 0 moves on too, the bucket goes.
    o.decide(vec![at(3, 0, 3, T + day, h)]);
    assert!(!o.keys.contains(1));
}

#[test]
fn restored_keys_leave_once_their_partition_has_passed_them() {
    let h = 8_000_000;
    let mut o = Owner::new();
    // Different buckets: a bucket leaves once every partition that delivered into it passed it.
    o.decide(vec![restored(5, 3, T, h), restored(6, 4, T + 4_000_000, h)]);
    o.decide(vec![at(7, 3, 2, T + 2 * h, h)]);
    // Partition 3 moved on; partition 4 (where key 6 was delivered) did not.
    assert!(!o.keys.contains(5));
    assert!(o.keys.contains(6));
}

#[test]
fn restored_state_replays_each_partition_s_clock_in_its_order() {
    let h = 8_000_000;
    // Partition 0: seq 2 is late (T - 2h) after seq 1 at T; partition 1 has no event times.
    let rows = vec![
        (0, 2, 20, Some(T - 2 * h), 0),
        (0, 1, 10, Some(T), 0),
        (0, 0, 5, Some(T - 3 * h), 0),
        (1, 0, 30, None, T),
    ];
    let r = RestoredDedup::of_rows(h, rows);
    let mut clocks = r.clocks.clone();
    clocks.sort();
    assert_eq!(clocks, vec![(0, T)]);
    let mut keys = r.keys.clone();
    keys.sort_by_key(|k| k.key);
    // Key 5 (delivered when the clock was T - 3h) is forgotten; the late key 20 is stamped T.
    assert_eq!(
        keys,
        vec![
            RestoredKey {
                key: 10,
                partition: 0,
                clock_ms: T
            },
            RestoredKey {
                key: 20,
                partition: 0,
                clock_ms: T
            },
            RestoredKey {
                key: 30,
                partition: 1,
                clock_ms: T
            },
        ]
    );
}

/// The winners of deliveries split into epochs at `cuts`, with the partitions interleaved
/// in a shuffled order within each epoch.
fn winners_when_cut(partitions: &[Vec<Candidate>], cuts: &[usize], seed: u64) -> Vec<(u32, i64)> {
    let h = 3_600_000;
    let horizon = Horizon::new(h);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut progress = PartitionProgress::default();
    let mut owner = Owner::new();
    let mut next = vec![0usize; partitions.len()];
    let mut winners = Vec::new();
    for &cut in cuts.iter().chain([&usize::MAX]) {
        let mut epoch = Vec::new();
        for (p, cands) in partitions.iter().enumerate() {
            // Each partition reads a different share of its events per epoch.
            let share = cut.saturating_mul(p + 1) / partitions.len();
            let end = cands.len().min(share.max(next[p]));
            epoch.extend(progress.deliver(&horizon, p as u32, &cands[next[p]..end], 0));
            next[p] = end;
        }
        let n = epoch.len();
        for i in 0..n {
            epoch.swap(i, rng.random_range(i..n.max(1)));
        }
        winners.extend(owner.decide(epoch));
    }
    winners.sort();
    winners
}

#[test]
fn winners_do_not_depend_on_where_epochs_end_or_how_far_partitions_are_apart() {
    // Four partitions of 3,000 events over 30 h of event time (horizon 1 h), each event
    // duplicated now and then up to 40 events later, some late by up to 50 min, and a few
    // without an event time.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let partitions: Vec<Vec<Candidate>> = (0..4u32)
        .map(|p| {
            let mut cands: Vec<Candidate> = Vec::new();
            for i in 0..3_000i64 {
                let key = (u128::from(p) << 64) | i as u128;
                let late = if rng.random_range(0..10) == 0 {
                    rng.random_range(0..3_000_000)
                } else {
                    0
                };
                let time = (rng.random_range(0..50) != 0).then_some(T + i * 36_000 - late);
                cands.push(Candidate {
                    key,
                    sequence_number: 0,
                    event_time_ms: time,
                });
                if i > 40 && rng.random_range(0..20) == 0 {
                    let earlier = cands[cands.len() - rng.random_range(1..40)];
                    cands.push(earlier);
                }
            }
            for (s, c) in cands.iter_mut().enumerate() {
                c.sequence_number = s as i64;
            }
            cands
        })
        .collect();
    let whole = winners_when_cut(&partitions, &[], 1);
    let total: usize = partitions.iter().map(Vec::len).sum();
    assert!(
        whole.len() >= 4 * 3_000 && whole.len() < total,
        "{} of {total}",
        whole.len()
    );
    for seed in 0..6u64 {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut cuts: Vec<usize> = (0..rng.random_range(1..40))
            .map(|_| rng.random_range(0..3_200))
            .collect();
        cuts.sort();
        assert_eq!(
            winners_when_cut(&partitions, &cuts, seed),
            whole,
            "cuts {cuts:?}"
        );
    }
}
