//! The reference weather workload generator (being built).
