//! When a worker's input moves on to the next epoch.

use std::time::{Duration, Instant};

use super::Time;

/// When a worker's input moves on to the next epoch (each epoch ends in one Delta commit per
/// table once every worker has finished it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochPolicy {
    /// Every so many milliseconds of wall-clock time. Latency is bounded by the clock; how many
    /// events an epoch holds depends on the machine's speed.
    Millis(u64),
    /// After every so many events a worker has read. The same input makes the same epochs on any
    /// machine, loaded or idle (tests use it); an idle source makes no new epochs.
    Events(u64),
    /// Every `ms` milliseconds, or sooner once a worker has read `max_events` events in the
    /// epoch (the default: 250 ms, 131,072 events). The cap bounds what an epoch holds in memory
    /// however fast the machine reads; latency stays bounded by the clock.
    MillisOrEvents { ms: u64, max_events: u64 },
}

/// The default epoch: at most this many events per worker.
pub const DEFAULT_MAX_EPOCH_EVENTS: u64 = 131_072;

/// The default latency budget (`run --max-latency`): an event is committed about this long after
/// it was read, at most.
pub const DEFAULT_MAX_LATENCY: Duration = Duration::from_millis(500);

impl EpochPolicy {
    /// Epochs for a latency budget: each ends half the budget after it began (the other half is
    /// left to process and commit it), or sooner once a worker has read `max_events` in it. Every
    /// epoch costs the same fixed work (a commit per table, a file per worker and table), so the
    /// budget, not a fixed tick, sets how often it is paid: a 1 s budget pays it twice a second
    /// at any rate, the default 500 ms four times.
    pub fn for_latency(max_latency: Duration, max_events: u64) -> EpochPolicy {
        let ms = (max_latency.as_millis() as u64 / 2).max(1);
        if max_events == 0 {
            EpochPolicy::Millis(ms)
        } else {
            EpochPolicy::MillisOrEvents { ms, max_events }
        }
    }
}

impl Default for EpochPolicy {
    /// [`EpochPolicy::for_latency`] of [`DEFAULT_MAX_LATENCY`] and [`DEFAULT_MAX_EPOCH_EVENTS`]:
    /// 250 ms epochs of at most 131,072 events per worker. A 1 s budget (500 ms epochs) costs
    /// less CPU at low rates but holds twice the events per epoch at high ones (the 20M-event
    /// history run's peak RSS: 329-335 MB against 295 MB).
    fn default() -> Self {
        EpochPolicy::for_latency(DEFAULT_MAX_LATENCY, DEFAULT_MAX_EPOCH_EVENTS)
    }
}

impl std::fmt::Display for EpochPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EpochPolicy::Millis(ms) => write!(f, "every {ms} ms"),
            EpochPolicy::Events(n) => write!(f, "every {n} events per worker"),
            EpochPolicy::MillisOrEvents { ms, max_events } => {
                write!(f, "every {ms} ms or {max_events} events per worker")
            }
        }
    }
}

/// One worker's epoch under an [`EpochPolicy`]: the input's current epoch, moved on as the
/// policy says.
#[derive(Debug)]
pub struct EpochClock {
    policy: EpochPolicy,
    begin: Instant,
    epoch: Time,
    events_in_epoch: u64,
    /// Epochs cut by the event cap before the clock's boundary.
    early: u64,
}

impl EpochClock {
    /// Starts at epoch 1 (epoch 0 carries restored state).
    pub fn new(policy: EpochPolicy) -> Self {
        let policy = match policy {
            EpochPolicy::Millis(ms) => EpochPolicy::Millis(ms.max(1)),
            EpochPolicy::Events(n) => EpochPolicy::Events(n.max(1)),
            EpochPolicy::MillisOrEvents { ms, max_events } => EpochPolicy::MillisOrEvents {
                ms: ms.max(1),
                max_events: max_events.max(1),
            },
        };
        EpochClock {
            policy,
            begin: Instant::now(),
            epoch: 1,
            events_in_epoch: 0,
            early: 0,
        }
    }

    /// The current epoch.
    pub fn epoch(&self) -> Time {
        self.epoch
    }

    /// How many events the next read may take: `batch_size`, or under an event count no more
    /// than the current epoch has room for (so that a batch never spans two epochs).
    pub fn room(&self, batch_size: usize) -> usize {
        let batch_size = batch_size.max(1);
        match self.policy {
            EpochPolicy::Millis(_) => batch_size,
            EpochPolicy::Events(n) | EpochPolicy::MillisOrEvents { max_events: n, .. } => {
                batch_size.min(n.saturating_sub(self.events_in_epoch).max(1) as usize)
            }
        }
    }

    /// How long until the clock ends the current epoch (`None` under an event count).
    pub fn until_boundary(&self) -> Option<Duration> {
        let (ms, early) = match self.policy {
            EpochPolicy::Events(_) => return None,
            EpochPolicy::Millis(ms) => (ms, 0),
            EpochPolicy::MillisOrEvents { ms, .. } => (ms, self.early),
        };
        // The epoch ends when 1 + early + elapsed / ms exceeds it.
        let ends_ms = (self.epoch - early).saturating_mul(ms);
        let elapsed = self.begin.elapsed().as_millis() as u64;
        Some(Duration::from_millis(ends_ms.saturating_sub(elapsed)))
    }

    /// Records `events` read into the current epoch.
    pub fn read(&mut self, events: usize) {
        self.events_in_epoch += events as u64;
    }

    /// Moves to the next epoch when the policy says so; returns the new epoch if it moved.
    pub fn tick(&mut self) -> Option<Time> {
        let next = match self.policy {
            EpochPolicy::Millis(ms) => 1 + self.begin.elapsed().as_millis() as u64 / ms,
            EpochPolicy::Events(n) if self.events_in_epoch >= n => self.epoch + 1,
            EpochPolicy::Events(_) => self.epoch,
            EpochPolicy::MillisOrEvents { max_events, .. }
                if self.events_in_epoch >= max_events =>
            {
                // Cut early; the clock's later boundaries shift by the epochs cut early.
                self.early += 1;
                self.epoch + 1
            }
            EpochPolicy::MillisOrEvents { ms, .. } => {
                (1 + self.early + self.begin.elapsed().as_millis() as u64 / ms).max(self.epoch)
            }
        };
        if next > self.epoch {
            self.epoch = next;
            self.events_in_epoch = 0;
            Some(next)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five reads of up to 64 events: (epoch, events) of each.
    fn five_reads(clock: &mut EpochClock) -> Vec<(Time, usize)> {
        (0..5)
            .map(|_| {
                let n = clock.room(64);
                clock.read(n);
                let read = (clock.epoch(), n);
                clock.tick();
                read
            })
            .collect()
    }

    #[test]
    fn events_policy_cuts_epochs_at_exact_counts() {
        let mut clock = EpochClock::new(EpochPolicy::Events(100));
        let epochs = five_reads(&mut clock);
        assert_eq!(epochs, vec![(1, 64), (1, 36), (2, 64), (2, 36), (3, 64)]);
    }

    #[test]
    fn the_event_cap_cuts_clock_epochs_early() {
        let mut clock = EpochClock::new(EpochPolicy::MillisOrEvents {
            ms: 60_000,
            max_events: 100,
        });
        let epochs = five_reads(&mut clock);
        assert_eq!(epochs, vec![(1, 64), (1, 36), (2, 64), (2, 36), (3, 64)]);
        // Under the cap, only the clock moves it on.
        assert_eq!(clock.tick(), None);
    }

    #[test]
    fn a_latency_budget_makes_epochs_of_half_of_it() {
        assert_eq!(
            EpochPolicy::default(),
            EpochPolicy::MillisOrEvents {
                ms: 250,
                max_events: DEFAULT_MAX_EPOCH_EVENTS
            }
        );
        assert_eq!(
            EpochPolicy::for_latency(Duration::from_secs(10), 0),
            EpochPolicy::Millis(5000)
        );
        let clock = EpochClock::new(EpochPolicy::for_latency(Duration::from_secs(120), 10));
        let left = clock.until_boundary().unwrap();
        assert!(
            left <= Duration::from_secs(60) && left > Duration::from_secs(50),
            "{left:?}"
        );
        assert_eq!(
            EpochClock::new(EpochPolicy::Events(5)).until_boundary(),
            None
        );
    }

    #[test]
    fn millis_policy_never_limits_a_batch() {
        let mut clock = EpochClock::new(EpochPolicy::Millis(60_000));
        assert_eq!(clock.room(16384), 16384);
        clock.read(1_000_000);
        assert_eq!(clock.tick(), None);
        assert_eq!(clock.epoch(), 1);
    }
}
