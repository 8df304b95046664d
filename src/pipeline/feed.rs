//! Driving one worker: open the partitions it owns, read them batch by batch into the dataflow's
//! input under the epoch policy, gather small reads into larger batches, read at most one epoch
//! ahead of what is committed, and stop early when the run has failed or was asked to stop (the
//! request reaching every worker of every process through a small control dataflow, which also
//! carries the ends of epochs under a latency budget: every worker ends an epoch when one does).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use timely::dataflow::channels::pact::Pipeline;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::vec::Broadcast;
use timely::dataflow::{InputHandleVec, ProbeHandle};

use crate::dataflow::Failure;
use crate::epoch::{EpochClock, EpochPolicy, Time, Vecs};
use crate::pipeline::Stop;
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

/// How a worker reads: the epoch policy, the largest batch, how long a small read may wait for
/// more, the run's failure flag and its stop request.
#[derive(Debug, Clone)]
pub struct FeedOptions {
    pub epoch: EpochPolicy,
    pub batch_size: usize,
    /// How long a partition's reads smaller than a batch are gathered before they go into the
    /// dataflow once they hold [`LINGER_MIN_EVENTS`] (a full batch or the end of an epoch sends
    /// them at once). Every batch has a fixed cost (rules, Parquet pages, counts), so a source
    /// read a few events at a time (a paced or slow stream) would otherwise spend most of its
    /// time on it; below the minimum a batch waits for the epoch's end, which its events wait for
    /// anyway. Zero sends every read at once.
    pub linger: Duration,
    /// Set when the committer refused an epoch: stop reading.
    pub failure: Failure,
    /// Requested to end the run cleanly: stop reading, finish and commit what was read.
    pub stop: Stop,
}

/// How many epochs a worker reads ahead of the oldest epoch not yet committed: with 1, the next
/// epoch is read while the last is finished and committed. Every epoch in flight holds its silver
/// candidates (they wait for deduplication), open Parquet row groups and view inputs: a second
/// epoch ahead cost ~60 MB more on the standard file and gained no throughput.
pub const EPOCHS_AHEAD: u64 = 1;

/// The shortest and longest a worker with nothing (or only a trickle) to read parks before
/// polling its partitions again: it starts at the shortest after every read of at least
/// [`LINGER_MIN_EVENTS`] and doubles while less comes, so the first event after a quiet spell
/// waits at most the longest (never past the epoch's end). A paced source read in every loop
/// (5,000 events/s: a few events a read) kept the workers awake ~1,000 times a second; at 100
/// events/s a longest park of 32 ms instead of 100 cost ~20% more CPU in wake-ups, and the
/// trickle's events wait for their epoch's end (under the default budget, 1 s) anyway.
const MIN_IDLE_PARK: Duration = Duration::from_millis(1);
const MAX_IDLE_PARK: Duration = Duration::from_millis(100);

/// The default [`FeedOptions::linger`].
pub const DEFAULT_LINGER: Duration = Duration::from_millis(20);

/// A partition's gathered reads go into the dataflow before the epoch ends (after the linger)
/// only once they hold this many events (or the whole batch size, if smaller). At 5,000
/// events/s over 8 partitions, sending every 20 ms made batches of ~12 events and cost ~30% of
/// a core in per-batch work. A batch of 1,024 events still cost ~18% more per event than one
/// of 16,384 (mostly glibc's allocator: every batch's columns, filters and Parquet levels are
/// fresh buffers too large for its thread caches); at 4,096, 100,000 events/s cost 13–17% less
/// CPU than at 1,024 and its p99 latency rose by 20–40 ms, as a partition sends every ~330 ms
/// instead of ~80 (an epoch's work is still not all left to its end).
pub const LINGER_MIN_EVENTS: usize = 4096;

impl FeedOptions {
    pub fn new(epoch: EpochPolicy, batch_size: usize) -> Self {
        FeedOptions {
            epoch,
            batch_size,
            linger: DEFAULT_LINGER,
            failure: Failure::default(),
            stop: Stop::default(),
        }
    }
}

/// Reads of one partition not yet sent, in order (concatenated once, when sent: see
/// [`RawBatch::concat`]), how many events they hold, and when the first was read.
struct Gathered {
    reads: Vec<RawBatch>,
    events: usize,
    since: Instant,
}

/// A worker's input with each partition's small reads gathered into larger batches.
struct GatheringInput {
    input: InputHandleVec<Time, RawBatch>,
    /// A batch went into the dataflow since the worker last stepped.
    sent: bool,
    gathered: Vec<Option<Gathered>>,
    batch_size: usize,
    linger: Duration,
}

impl GatheringInput {
    /// How many events the next read of partition reader `i` may take: what its gathered reads
    /// leave of a batch.
    fn room(&self, i: usize) -> usize {
        let gathered = self.gathered[i].as_ref().map_or(0, |g| g.events);
        self.batch_size.saturating_sub(gathered).max(1)
    }

    /// Adds a read of partition reader `i` (at most [`GatheringInput::room`] events): sent when
    /// it fills a batch (or lingering is off), else kept with the partition's earlier reads.
    fn add(&mut self, i: usize, mut batch: RawBatch) {
        if batch.available_ms == 0 {
            let now = chrono::Utc::now().timestamp_millis();
            batch.available_ms = now;
            batch.last_available_ms = now;
        }
        let slot = &mut self.gathered[i];
        match slot {
            Some(g) => {
                g.events += batch.len();
                g.reads.push(batch);
            }
            None if batch.len() >= self.batch_size || self.linger.is_zero() => {
                return self.send(batch);
            }
            None => {
                *slot = Some(Gathered {
                    events: batch.len(),
                    reads: vec![batch],
                    since: Instant::now(),
                })
            }
        }
        if slot.as_ref().is_some_and(|g| g.events >= self.batch_size) {
            self.send_gathered(i);
        }
    }

    fn send(&mut self, batch: RawBatch) {
        self.sent = true;
        self.input.send(batch);
        // Hand the batch to the dataflow now rather than let the input handle gather a
        // container's worth of them (~55 batches: a whole epoch's bodies held back).
        self.input.flush();
    }

    /// Whether a batch went into the dataflow since the last call.
    fn take_sent(&mut self) -> bool {
        std::mem::take(&mut self.sent)
    }

    fn send_gathered(&mut self, i: usize) {
        if let Some(g) = self.gathered[i].take() {
            self.send(RawBatch::concat(g.reads));
        }
    }

    /// Whether a partial batch large enough to go before the epoch's end waits for its linger.
    fn lingering(&self) -> bool {
        let enough = LINGER_MIN_EVENTS.min(self.batch_size);
        self.gathered
            .iter()
            .any(|g| g.as_ref().is_some_and(|g| g.events >= enough))
    }

    /// Sends what holds enough events and has waited for `linger` or longer.
    fn send_lingering(&mut self) {
        let now = Instant::now();
        let enough = LINGER_MIN_EVENTS.min(self.batch_size);
        for i in 0..self.gathered.len() {
            if self.gathered[i]
                .as_ref()
                .is_some_and(|g| g.events >= enough && now.duration_since(g.since) >= self.linger)
            {
                self.send_gathered(i);
            }
        }
    }

    /// Sends everything gathered (before the epoch moves on, so that a batch never spans two).
    fn send_all(&mut self) {
        for i in 0..self.gathered.len() {
            self.send_gathered(i);
        }
    }

    fn advance_to(&mut self, epoch: Time) {
        self.send_all();
        self.input.advance_to(epoch);
    }
}

/// Drives one worker: reads its partitions batch by batch into `input`, moves to the next epoch
/// as the policy says, steps the dataflow, and reads at most [`EPOCHS_AHEAD`] epochs ahead of
/// what `probe` says is committed.
/// Returns once every partition is exhausted (or the run has failed, or was asked to stop) and
/// the dataflow has finished. A stop or a failure seen by any worker is broadcast to every
/// worker of every process (a dataflow of its own, built here: every worker calls this once),
/// so that a cluster stops as one. A partition that fails to read stops being read; the worker
/// still finishes the dataflow (so that what was read is committed and the other workers are not
/// left waiting), then returns the error.
pub fn feed_partitions(
    worker: &mut timely::worker::Worker,
    input: InputHandleVec<Time, RawBatch>,
    probe: &ProbeHandle<Time>,
    mut readers: Vec<Box<dyn PartitionReader>>,
    options: &FeedOptions,
) -> Result<()> {
    let mut clock = EpochClock::new(options.epoch);
    let mut input = GatheringInput {
        input,
        sent: false,
        gathered: (0..readers.len()).map(|_| None).collect(),
        batch_size: options.batch_size.max(1),
        linger: options.linger,
    };
    input.input.advance_to(clock.epoch());
    let mut control = Control::new(worker, &options.stop);
    let shared = options.epoch.shared_boundaries();
    let mut live = vec![true; readers.len()];
    let mut idle_park = MIN_IDLE_PARK;
    let mut failure: Option<Error> = None;
    loop {
        control.announce(options);
        if !live.iter().any(|l| *l) || options.failure.is_set() || options.stop.is_requested() {
            break;
        }
        let mut read_events = 0;
        for (i, reader) in readers.iter_mut().enumerate() {
            if !live[i] {
                continue;
            }
            match reader.next_batch(clock.room(input.room(i))) {
                Ok(Some(batch)) if !batch.is_empty() => {
                    read_events += batch.len();
                    clock.read(batch.len());
                    input.add(i, batch);
                    if input.take_sent() {
                        // Process the batch before reading the next partition's: one raw
                        // batch in memory at a time rather than one per partition (standard
                        // file: 418-440 -> 365-380 MB peak RSS, same throughput).
                        worker.step();
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => {
                    live[i] = false;
                    input.send_gathered(i);
                }
                Err(e) => {
                    live[i] = false;
                    input.send_gathered(i);
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
                if shared {
                    control.ended(epoch - 1);
                }
            } else if let Some(epoch) = clock.follow(control.ended.get()) {
                input.advance_to(epoch);
            }
        }
        input.send_lingering();
        if read_events >= LINGER_MIN_EVENTS.min(input.batch_size) {
            idle_park = MIN_IDLE_PARK;
            worker.step();
        } else {
            // Nothing to read yet, or only a trickle (a paced or idle source): wait instead of
            // spinning, longer the longer only a little comes (an idle run costs a few wake-ups
            // a second, not a thousand; a paced one reads every ~100 ms what came meanwhile,
            // which waits for its epoch's end anyway), never past the end of the epoch or a
            // lingering batch's send.
            let mut park = idle_park;
            if let Some(left) = clock.until_boundary() {
                park = park.min(left.max(MIN_IDLE_PARK));
            }
            if input.lingering() {
                park = MIN_IDLE_PARK;
            }
            worker.step_or_park(Some(park));
            idle_park = (idle_park * 2).min(MAX_IDLE_PARK);
        }
        // Back-pressure: read epoch e only once e - EPOCHS_AHEAD and everything before it is
        // committed (parking, not spinning, so that the other workers get the cores).
        while probe.less_than(&clock.epoch().saturating_sub(EPOCHS_AHEAD)) {
            worker.step_or_park(Some(Duration::from_millis(1)));
        }
        clock.observe_commits(|e| !probe.less_equal(&e));
        if let Some(epoch) = clock.follow(control.ended.get()) {
            input.advance_to(epoch);
        }
    }
    input.send_all();
    drop(input);
    drop(control);
    while !probe.done() {
        worker.step_or_park(Some(Duration::from_millis(1)));
    }
    failure.map_or(Ok(()), Err)
}

/// What the control dataflow carries: a stop request, or the end of an epoch.
const STOP: u64 = u64::MAX;

/// The control dataflow, across every worker of every process: a worker that sees a stop
/// request or a failure sends [`STOP`], which every worker turns into a stop request of its own
/// process; under shared epoch boundaries ([`EpochPolicy::shared_boundaries`]) a worker that
/// ends an epoch sends its number, and every worker ends it too.
struct Control {
    input: InputHandleVec<u64, u64>,
    announced: bool,
    /// The newest epoch another worker (or this one) has said it ended.
    ended: Rc<Cell<Time>>,
}

impl Control {
    fn new(worker: &mut timely::worker::Worker, stop: &Stop) -> Self {
        let mut input = InputHandleVec::<u64, u64>::new();
        let stop = stop.clone();
        let ended: Rc<Cell<Time>> = Rc::default();
        let seen = ended.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            input
                .to_stream(scope)
                .broadcast()
                .unary::<Vecs<()>, _, _, _>(Pipeline, "Control", move |_, _| {
                    move |input, _output| {
                        input.for_each(|_, data| {
                            for &message in data.iter() {
                                match message {
                                    STOP => stop.request(),
                                    epoch => seen.set(seen.get().max(epoch)),
                                }
                            }
                        });
                    }
                });
        });
        Control {
            input,
            announced: false,
            ended,
        }
    }

    /// Tells every worker once this process stops (asked to, or failed).
    fn announce(&mut self, options: &FeedOptions) {
        if !self.announced && (options.stop.is_requested() || options.failure.is_set()) {
            self.announced = true;
            self.input.send(STOP);
            self.input.flush();
        }
    }

    /// Tells every worker that this one ended epoch `epoch`.
    fn ended(&mut self, epoch: Time) {
        self.input.send(epoch);
        self.input.flush();
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use timely::dataflow::channels::pact::Pipeline;
    use timely::dataflow::operators::generic::Operator;
    use timely::dataflow::operators::Probe;

    use super::*;
    use crate::epoch::{epoch_of, Vecs};
    use crate::source::PartitionId;

    /// What arrived in one batch: (epoch, partition, sequence numbers, bodies).
    type Arrived = (Time, u32, Vec<i64>, Vec<Vec<u8>>);

    /// Reads `total` events of one partition, `per_read` at a time (a slow stream).
    struct Trickle {
        partition: PartitionId,
        next: i64,
        total: i64,
        per_read: usize,
        /// How long each read takes.
        delay: Duration,
    }

    impl PartitionReader for Trickle {
        fn partition(&self) -> PartitionId {
            self.partition
        }
        fn next_batch(
            &mut self,
            max: usize,
        ) -> std::result::Result<Option<RawBatch>, crate::source::SourceError> {
            if self.next >= self.total {
                return Ok(None);
            }
            std::thread::sleep(self.delay);
            let mut batch = RawBatch::new(self.partition);
            let n = (self.per_read.min(max) as i64).min(self.total - self.next);
            for s in self.next..self.next + n {
                let body = format!("{{\"n\":{s}}}");
                batch.push(s, s * 10, s, Some(&format!("k{s}")), body.as_bytes());
            }
            self.next += n;
            Ok(Some(batch))
        }
        fn position(&self) -> SequenceNumber {
            SequenceNumber(self.next)
        }
    }

    /// A dataflow that only records what arrives at `worker`'s input: (epoch, partition,
    /// sequence numbers, bodies) per batch.
    fn recording(
        worker: &mut timely::worker::Worker,
    ) -> (
        InputHandleVec<Time, RawBatch>,
        ProbeHandle<Time>,
        Rc<RefCell<Vec<Arrived>>>,
    ) {
        let mut input = InputHandleVec::<Time, RawBatch>::new();
        let probe = ProbeHandle::new();
        let arrived: Rc<RefCell<Vec<Arrived>>> = Rc::default();
        let sink = arrived.clone();
        worker.dataflow::<Time, _, _>(|scope| {
            input
                .to_stream(scope)
                .unary::<Vecs<()>, _, _, _>(Pipeline, "Record", move |_, _| {
                    move |input, _output| {
                        input.for_each(|cap, data| {
                            for b in data.drain(..) {
                                let bodies = (0..b.len()).map(|i| b.body(i).to_vec()).collect();
                                sink.borrow_mut().push((
                                    epoch_of(&cap),
                                    b.partition,
                                    b.sequence_numbers,
                                    bodies,
                                ));
                            }
                        });
                    }
                })
                .probe_with(&probe);
        });
        (input, probe, arrived)
    }

    /// Feeds two trickling partitions through [`recording`].
    fn feed(options: FeedOptions, per_read: usize, total: i64) -> Vec<Arrived> {
        timely::execute_directly(move |worker| {
            let (input, probe, arrived) = recording(worker);
            let readers: Vec<Box<dyn PartitionReader>> = (0..2)
                .map(|p| {
                    Box::new(Trickle {
                        partition: PartitionId(p),
                        next: 0,
                        total,
                        per_read,
                        delay: Duration::ZERO,
                    }) as Box<dyn PartitionReader>
                })
                .collect();
            feed_partitions(worker, input, &probe, readers, &options).unwrap();
            arrived.take()
        })
    }

    /// Every event arrives once, in order per partition, with its own body; no batch is empty.
    fn check_complete(batches: &[Arrived], total: i64) {
        for p in 0..2u32 {
            let mut seqs: Vec<i64> = Vec::new();
            for (_, _, s, bodies) in batches.iter().filter(|b| b.1 == p) {
                assert!(!s.is_empty());
                for (seq, body) in s.iter().zip(bodies) {
                    assert_eq!(body, format!("{{\"n\":{seq}}}").as_bytes());
                }
                seqs.extend(s);
            }
            assert_eq!(seqs, (0..total).collect::<Vec<_>>(), "partition {p}");
        }
    }

    #[test]
    fn small_reads_are_gathered_into_batches_within_their_epoch() {
        // Reads of 3 events, batches of up to 50, epochs of 120 events per worker; a linger far
        // longer than the test, so only a full batch, an epoch's end or a partition's end sends.
        let mut options = FeedOptions::new(EpochPolicy::Events(120), 50);
        options.linger = Duration::from_secs(3600);
        let batches = feed(options, 3, 1000);
        check_complete(&batches, 1000);
        // Both partitions together make 2000 events: epochs 0..=16 of 120 events each.
        let mut per_epoch = BTreeMap::new();
        for (t, _, s, _) in &batches {
            *per_epoch.entry(*t).or_insert(0) += s.len();
            assert!(s.len() <= 50, "a batch holds at most batch_size events");
        }
        assert!(per_epoch.values().all(|&n| n <= 120), "{per_epoch:?}");
        assert_eq!(per_epoch.values().sum::<usize>(), 2000);
        // Gathered: far fewer batches than the 668 reads.
        assert!(batches.len() < 100, "{} batches", batches.len());
        assert!(batches.iter().filter(|b| b.2.len() == 50).count() > 20);
    }

    #[test]
    fn without_lingering_every_read_is_its_own_batch() {
        let mut options = FeedOptions::new(EpochPolicy::Events(120), 50);
        options.linger = Duration::ZERO;
        let batches = feed(options, 3, 100);
        check_complete(&batches, 100);
        assert!(batches.iter().all(|b| b.2.len() <= 3));
        assert_eq!(batches.len(), 2 * 34);
    }

    #[test]
    fn under_a_latency_budget_every_worker_ends_an_epoch_when_one_does() {
        // Two workers, one partition each: worker 0 reads 1,000 events at once and ends an
        // epoch every 50 (the cap); worker 1 reads one event every 2 ms and never reaches the
        // cap. The budget (an hour) never ends an epoch: worker 1 moves on only because worker 0
        // tells it, so its events fall in many epochs, not all in the first.
        let arrived = timely::execute(timely::Config::process(2), |worker| {
            let index = worker.index();
            let (input, probe, arrived) = recording(worker);
            let (total, per_read, delay) = match index {
                0 => (1000, 10, Duration::ZERO),
                _ => (100, 1, Duration::from_millis(2)),
            };
            let reader = Box::new(Trickle {
                partition: PartitionId(index as u32),
                next: 0,
                total,
                per_read,
                delay,
            }) as Box<dyn PartitionReader>;
            let options =
                FeedOptions::new(EpochPolicy::for_latency(Duration::from_secs(3600), 50), 10);
            feed_partitions(worker, input, &probe, vec![reader], &options).unwrap();
            arrived
                .take()
                .into_iter()
                .map(|(t, _, seqs, _)| (t, seqs.len()))
                .collect::<Vec<_>>()
        })
        .unwrap()
        .join()
        .into_iter()
        .map(|r| r.unwrap())
        .collect::<Vec<_>>();
        let per_epoch = |w: usize| {
            let mut m = BTreeMap::new();
            for &(t, n) in &arrived[w] {
                *m.entry(t).or_insert(0) += n;
            }
            m
        };
        let (fast, slow) = (per_epoch(0), per_epoch(1));
        assert_eq!(fast.values().sum::<usize>(), 1000);
        assert!(fast.values().all(|&n| n <= 50), "{fast:?}");
        assert_eq!(slow.values().sum::<usize>(), 100);
        assert!(slow.len() >= 3, "the slow worker followed: {slow:?}");
    }
}
