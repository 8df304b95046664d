//! JSON bodies to typed Arrow columns (being built).
