//! Synthetic traffic: a seeded, realistic private/public mix of raw hits, used by tests,
//! the demo and the benchmarks.
//!
//! IMPLEMENTATION OWNED BY THE SYNTHETIC-TRAFFIC WORK ITEM — see ARCHITECTURE.md.
