//! Data held back per epoch until the frontier passes it.

use std::collections::BTreeMap;

use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::{Capability, InputCapability};
use timely::progress::frontier::MutableAntichain;

use super::Time;

/// The container builder of the pipeline's operators: messages are `Vec`s of batches.
pub type Vecs<D> = CapacityContainerBuilder<Vec<D>>;

/// Data held back per epoch until the frontier passes it, each bucket with a capability for its
/// epoch (differential's updates may carry times later than their message's).
pub struct EpochBuckets<D> {
    pending: BTreeMap<Time, (Capability<Time>, Vec<D>)>,
}

impl<D> Default for EpochBuckets<D> {
    fn default() -> Self {
        Self::new()
    }
}

impl<D> EpochBuckets<D> {
    pub fn new() -> Self {
        EpochBuckets {
            pending: BTreeMap::new(),
        }
    }

    /// Holds `cap` as the bucket of its epoch (so that the epoch is reported even if no data
    /// arrives for it).
    pub fn hold(&mut self, cap: Capability<Time>) {
        let t = *cap.time();
        self.pending.entry(t).or_insert_with(|| (cap, Vec::new()));
    }

    /// The bucket of the message's epoch (created with a capability for `port`), for data that
    /// all belongs to the message's own epoch.
    pub fn bucket(&mut self, cap: &InputCapability<Time>, port: usize) -> &mut Vec<D> {
        let t = epoch_of(cap);
        &mut self
            .pending
            .entry(t)
            .or_insert_with(|| (cap.delayed(&t, port), Vec::new()))
            .1
    }

    /// The one datum of the message's epoch: for operators that keep a state per epoch (a file
    /// being written, what the epoch has seen), made by `init` with the epoch's first message.
    pub fn state(
        &mut self,
        cap: &InputCapability<Time>,
        port: usize,
        init: impl FnOnce() -> D,
    ) -> &mut D {
        let bucket = self.bucket(cap, port);
        if bucket.is_empty() {
            bucket.push(init());
        }
        &mut bucket[0]
    }

    /// Files each datum of a message under its own time (`time_of`).
    pub fn absorb(
        &mut self,
        cap: &InputCapability<Time>,
        port: usize,
        data: &mut Vec<D>,
        time_of: impl Fn(&D) -> Time,
    ) {
        for d in data.drain(..) {
            let time = time_of(&d);
            self.pending
                .entry(time)
                .or_insert_with(|| (cap.delayed(&time, port), Vec::new()))
                .1
                .push(d);
        }
    }

    /// Removes and returns, in epoch order, every bucket the frontier has passed.
    pub fn take_done(
        &mut self,
        frontier: &MutableAntichain<Time>,
    ) -> Vec<(Time, Capability<Time>, Vec<D>)> {
        self.take_done_by(|t| !frontier.less_equal(t))
    }

    /// Removes and returns the earliest bucket the frontier has passed, if any (for operators
    /// that may hold the next epoch while handling one).
    pub fn take_first_done(
        &mut self,
        frontier: &MutableAntichain<Time>,
    ) -> Option<(Time, Capability<Time>, Vec<D>)> {
        let (&t, _) = self.pending.first_key_value()?;
        if frontier.less_equal(&t) {
            return None;
        }
        self.pending.remove(&t).map(|(cap, data)| (t, cap, data))
    }

    /// Removes and returns, in epoch order, every bucket for which `done` holds (for operators
    /// with several inputs, whose frontiers must all have passed).
    pub fn take_done_by(
        &mut self,
        done: impl Fn(&Time) -> bool,
    ) -> Vec<(Time, Capability<Time>, Vec<D>)> {
        let done: Vec<Time> = self.pending.keys().copied().filter(|t| done(t)).collect();
        done.into_iter()
            .filter_map(|t| self.pending.remove(&t).map(|(cap, data)| (t, cap, data)))
            .collect()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The epoch of a received message (every message of the pipeline is sent under a capability).
pub fn epoch_of(cap: &InputCapability<Time>) -> Time {
    cap.least()
        .copied()
        .expect("pipeline messages carry a time")
}
