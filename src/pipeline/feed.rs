//! Driving one worker: open the partitions it owns, read them batch by batch into the dataflow's
//! input under the epoch policy, keep at most two epochs in flight, and stop early when the run
//! has failed.

use std::collections::BTreeMap;
use std::time::Duration;

use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::dataflow::Failure;
use crate::epoch::{EpochClock, EpochPolicy, Time};
use crate::source::{worker_for, PartitionReader, PartitionedSource, RawBatch, SequenceNumber};
use crate::{Error, Result};

/// Opens the partitions of `source` that worker `index` of `peers` reads, each at its start
/// position (`starts`; the source's initial position where absent).
pub fn open_readers(
    source: &dyn PartitionedSource,
    index: usize,
    peers: usize,
    starts: &BTreeMap<u32, i64>,
) -> Result<Vec<Box<dyn PartitionReader>>> {
    let mut readers = Vec::new();
    for p in source.partitions() {
        if worker_for(p, peers) == index {
            let start = starts
                .get(&p.0)
                .map(|s| SequenceNumber(*s))
                .unwrap_or_else(|| source.initial_position());
            readers.push(source.open(p, start)?);
        }
    }
    Ok(readers)
}

/// How a worker reads: the epoch policy, the largest batch, and the run's failure flag.
#[derive(Debug, Clone)]
pub struct FeedOptions {
    pub epoch: EpochPolicy,
    pub batch_size: usize,
    /// Set when the committer refused an epoch: stop reading.
    pub failure: Failure,
}

impl FeedOptions {
    pub fn new(epoch: EpochPolicy, batch_size: usize) -> Self {
        FeedOptions {
            epoch,
            batch_size,
            failure: Failure::default(),
        }
    }
}

/// Drives one worker: reads its partitions batch by batch into `input`, moves to the next epoch
/// as the policy says, steps the dataflow, and keeps at most two epochs in flight behind `probe`.
/// Returns once every partition is exhausted (or the run has failed) and the dataflow has
/// finished. A partition that fails to read stops being read; the worker still finishes the
/// dataflow (so that what was read is committed and the other workers are not left waiting),
/// then returns the error.
pub fn feed_partitions(
    worker: &mut timely::worker::Worker,
    mut input: InputHandleVec<Time, RawBatch>,
    probe: &ProbeHandle<Time>,
    mut readers: Vec<Box<dyn PartitionReader>>,
    options: &FeedOptions,
) -> Result<()> {
    let mut clock = EpochClock::new(options.epoch);
    input.advance_to(clock.epoch());
    let mut live = vec![true; readers.len()];
    let mut failure: Option<Error> = None;
    while live.iter().any(|l| *l) && !options.failure.is_set() {
        let mut read_any = false;
        for (i, reader) in readers.iter_mut().enumerate() {
            if !live[i] {
                continue;
            }
            match reader.next_batch(clock.room(options.batch_size)) {
                Ok(Some(batch)) if !batch.is_empty() => {
                    read_any = true;
                    clock.read(batch.len());
                    input.send(batch);
                }
                Ok(Some(_)) => {}
                Ok(None) => live[i] = false,
                Err(e) => {
                    live[i] = false;
                    let partition = reader.partition().0;
                    tracing::error!(partition, error = %e, "reading a partition failed; it is no longer read");
                    failure.get_or_insert(Error::Read {
                        partition,
                        source: e,
                    });
                }
            }
            // After every read, so that a batch never spans two epochs.
            if let Some(epoch) = clock.tick() {
                input.advance_to(epoch);
            }
        }
        if read_any {
            worker.step();
        } else {
            // Nothing to read yet (a paced or idle source): wait a little instead of spinning.
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
        // Back-pressure: stay at most two epochs ahead of what is committed (parking, not
        // spinning, so that the other workers get the cores).
        while probe.less_than(&clock.epoch().saturating_sub(2)) {
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
    }
    input.close();
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(1)));
    }
    failure.map_or(Ok(()), Err)
}
