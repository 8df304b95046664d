//! The reference-workload generator source (being built).
