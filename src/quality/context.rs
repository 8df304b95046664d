//! [`EvalContext`], the injectable clock and run identity of an evaluation: what
//! `current_timestamp()` returns, and the `run_time` / `run_id` written into result entries.

use chrono::{DateTime, Utc};

/// The injectable clock and run identity of an evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalContext {
    /// "Now" for `current_timestamp()`, `is_not_in_future`, … (pin it for reproducible runs).
    pub now: DateTime<Utc>,
    /// The `run_time` written into result entries.
    pub run_time: DateTime<Utc>,
    /// The `run_id` written into result entries.
    pub run_id: String,
}

impl EvalContext {
    /// A context with `now` and `run_time` both pinned to `now` and an empty run id.
    pub fn fixed(now: DateTime<Utc>) -> Self {
        EvalContext {
            now,
            run_time: now,
            run_id: String::new(),
        }
    }
}
