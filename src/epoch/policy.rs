//! When a worker's input moves on to the next epoch.

use std::collections::VecDeque;
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
    /// epoch. The cap bounds what an epoch holds in memory
    /// however fast the machine reads; latency stays bounded by the clock.
    MillisOrEvents { ms: u64, max_events: u64 },
    /// A latency budget (the default: 1 s, 32,768 events): an epoch begins with the first
    /// event any worker reads into it and ends once that event has waited the budget less what
    /// recent epochs took from their end to their commit (never less than half the budget), or
    /// sooner once a worker has read `max_events` in it. The worker that ends an epoch tells
    /// every other (of every process), so all end it together; while nothing arrives no epoch
    /// ends, so an idle source costs no commits. At a low rate epochs last nearly the whole
    /// budget (the fixed cost of an epoch is paid as rarely as the budget allows); at a high
    /// rate, half of it.
    Latency { budget_ms: u64, max_events: u64 },
}

/// The default epoch: at most this many events per worker.
pub const DEFAULT_MAX_EPOCH_EVENTS: u64 = 32_768;

/// The default latency budget (`run --max-latency`): an event is committed about this long after
/// it was read, at most.
pub const DEFAULT_MAX_LATENCY: Duration = Duration::from_secs(1);

impl EpochPolicy {
    /// Epochs for a latency budget ([`EpochPolicy::Latency`]; `max_events` 0: no cap). Every
    /// epoch costs the same fixed work (a commit per table, a file per table), so the
    /// budget, not a fixed tick, sets how often it is paid.
    pub fn for_latency(max_latency: Duration, max_events: u64) -> EpochPolicy {
        EpochPolicy::Latency {
            budget_ms: (max_latency.as_millis() as u64).max(2),
            max_events: if max_events == 0 {
                u64::MAX
            } else {
                max_events
            },
        }
    }

    /// Whether the workers end each epoch together, told by whichever ends it first
    /// ([`EpochClock::follow`]), rather than each by its own clock or count.
    pub fn shared_boundaries(&self) -> bool {
        matches!(self, EpochPolicy::Latency { .. })
    }
}

impl Default for EpochPolicy {
    /// [`EpochPolicy::for_latency`] of [`DEFAULT_MAX_LATENCY`] and [`DEFAULT_MAX_EPOCH_EVENTS`]:
    /// epochs of 500 to ~990 ms and at most 32,768 events per worker. The cap, not the budget,
    /// bounds an epoch at full speed (the standard file's peak RSS is the same with 500 ms).
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
            EpochPolicy::Latency {
                budget_ms,
                max_events: u64::MAX,
            } => write!(f, "committed within {budget_ms} ms"),
            EpochPolicy::Latency {
                budget_ms,
                max_events,
            } => write!(
                f,
                "committed within {budget_ms} ms, at most {max_events} events per worker"
            ),
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
    /// Under a latency budget: when the first event of the current epoch was read here.
    first_read: Option<Instant>,
    /// Under a latency budget: the epochs ended here (and when), not yet seen committed.
    ended: VecDeque<(Time, Instant)>,
    /// Under a latency budget: how long the last [`RECENT_EPOCHS`] epochs took from their end to
    /// their commit.
    recent_delays: VecDeque<Duration>,
}

/// How many of the latest epochs' end-to-commit delays the latency budget's epochs account for
/// (their longest).
pub const RECENT_EPOCHS: usize = 16;

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
            EpochPolicy::Latency {
                budget_ms,
                max_events,
            } => EpochPolicy::Latency {
                budget_ms: budget_ms.max(2),
                max_events: max_events.max(1),
            },
        };
        EpochClock {
            policy,
            begin: Instant::now(),
            epoch: 1,
            events_in_epoch: 0,
            early: 0,
            first_read: None,
            ended: VecDeque::new(),
            recent_delays: VecDeque::new(),
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
            EpochPolicy::Events(n)
            | EpochPolicy::MillisOrEvents { max_events: n, .. }
            | EpochPolicy::Latency { max_events: n, .. } => {
                batch_size.min(n.saturating_sub(self.events_in_epoch).max(1) as usize)
            }
        }
    }

    /// How long until the clock ends the current epoch (`None` under an event count, and under
    /// a latency budget while nothing was read in it here).
    pub fn until_boundary(&self) -> Option<Duration> {
        let (ms, early) = match self.policy {
            EpochPolicy::Events(_) => return None,
            EpochPolicy::Latency { .. } => {
                let length = self.epoch_length()?;
                return Some(length.saturating_sub(self.first_read?.elapsed()));
            }
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
        if events > 0 && self.first_read.is_none() {
            self.first_read = Some(Instant::now());
        }
    }

    /// Under a latency budget, how long an epoch lasts from its first event: the budget less the
    /// longest of the recent end-to-commit delays (with a quarter and 5 ms to spare), at least
    /// half the budget (half until a delay has been seen). `None` under other policies.
    pub fn epoch_length(&self) -> Option<Duration> {
        let EpochPolicy::Latency { budget_ms, .. } = self.policy else {
            return None;
        };
        let budget = Duration::from_millis(budget_ms);
        let half = budget / 2;
        let length = match self.recent_delays.iter().max() {
            Some(&delay) => budget.saturating_sub(delay + delay / 4 + Duration::from_millis(5)),
            None => half,
        };
        Some(length.max(half))
    }

    /// Under a latency budget, records which of the epochs ended here are now committed
    /// (`committed(e)`: whether epoch `e` is), keeping the delay from each one's end to the
    /// first time it was seen committed.
    pub fn observe_commits(&mut self, committed: impl Fn(Time) -> bool) {
        while let Some(&(epoch, ended)) = self.ended.front() {
            if !committed(epoch) {
                break;
            }
            self.ended.pop_front();
            if self.recent_delays.len() == RECENT_EPOCHS {
                self.recent_delays.pop_front();
            }
            self.recent_delays.push_back(ended.elapsed());
        }
    }

    /// Under shared boundaries ([`EpochPolicy::shared_boundaries`]): moves past `ended`, an
    /// epoch another worker has ended; returns the new epoch if this one moved.
    pub fn follow(&mut self, ended: Time) -> Option<Time> {
        if !self.policy.shared_boundaries() || ended < self.epoch {
            return None;
        }
        self.move_to(ended + 1);
        Some(self.epoch)
    }

    fn move_to(&mut self, next: Time) {
        if self.policy.shared_boundaries() {
            let now = Instant::now();
            for e in self.epoch..next {
                self.ended.push_back((e, now));
            }
            self.first_read = None;
        }
        self.epoch = next;
        self.events_in_epoch = 0;
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
            EpochPolicy::Latency { max_events, .. } if self.events_in_epoch >= max_events => {
                self.epoch + 1
            }
            EpochPolicy::Latency { .. } => match (self.first_read, self.epoch_length()) {
                (Some(first), Some(length)) if first.elapsed() >= length => self.epoch + 1,
                _ => self.epoch,
            },
        };
        if next > self.epoch {
            self.move_to(next);
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
    fn a_latency_budget_starts_with_half_of_it_and_waits_for_an_event() {
        assert_eq!(
            EpochPolicy::default(),
            EpochPolicy::Latency {
                budget_ms: 1_000,
                max_events: DEFAULT_MAX_EPOCH_EVENTS
            }
        );
        assert_eq!(
            EpochPolicy::for_latency(Duration::from_secs(10), 0),
            EpochPolicy::Latency {
                budget_ms: 10_000,
                max_events: u64::MAX
            }
        );
        let mut clock = EpochClock::new(EpochPolicy::for_latency(Duration::from_secs(120), 10));
        // Nothing read: no boundary, the epoch stays.
        assert_eq!(clock.until_boundary(), None);
        assert_eq!(clock.tick(), None);
        clock.read(1);
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
    fn a_latency_budget_lengthens_epochs_by_what_commits_leave() {
        let mut clock = EpochClock::new(EpochPolicy::for_latency(Duration::from_secs(100), 0));
        assert_eq!(clock.epoch_length(), Some(Duration::from_secs(50)));
        // Epoch 1 ends (here, told by another worker) and is committed at once.
        clock.read(3);
        assert_eq!(clock.follow(1), Some(2));
        assert_eq!(clock.follow(1), None, "already past it");
        clock.observe_commits(|e| e <= 1);
        let length = clock.epoch_length().unwrap();
        assert!(
            length > Duration::from_secs(99) && length < Duration::from_secs(100),
            "{length:?}"
        );
        // Not yet committed: nothing new is learned.
        clock.read(1);
        assert_eq!(clock.follow(4), Some(5));
        clock.observe_commits(|e| e <= 1);
        assert_eq!(clock.ended.len(), 3);
        // A long delay shortens epochs, never below half the budget.
        clock.recent_delays.push_back(Duration::from_secs(80));
        assert_eq!(clock.epoch_length(), Some(Duration::from_secs(50)));
        // Other policies do not follow.
        assert_eq!(EpochClock::new(EpochPolicy::Events(5)).follow(3), None);
        assert_eq!(EpochClock::new(EpochPolicy::Millis(5)).epoch_length(), None);
    }

    #[test]
    fn a_latency_budget_caps_events_and_keeps_few_delays() {
        let mut clock = EpochClock::new(EpochPolicy::for_latency(Duration::from_secs(100), 100));
        let epochs = five_reads(&mut clock);
        assert_eq!(epochs, vec![(1, 64), (1, 36), (2, 64), (2, 36), (3, 64)]);
        for _ in 0..3 * RECENT_EPOCHS {
            clock.read(100);
            clock.tick().unwrap();
        }
        clock.observe_commits(|_| true);
        assert!(clock.ended.is_empty());
        assert_eq!(clock.recent_delays.len(), RECENT_EPOCHS);
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
