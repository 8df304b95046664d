//! The `file:PATH` source (being built).
