//! Persistence: the events store (DuckDB by default) and the metadata store.
//!
//! Invariant: SQL lives here and only here; shapes (queries, aggregates, rows) come from
//! `lucarne_core`, so every back end answers the same questions the same way.

mod bytes;
pub mod click;
pub mod columns;
pub mod duck;
pub mod events;
pub mod meta;
mod report;
mod rollups;
pub mod spool;

pub use events::{
    CommitTicket, ConversionGroup, ConversionRow, Dim, EventStore, GoalCounts, Refused, ShareGraph,
    StoreError, SurveyAnswerRow, VisitKey,
};
pub use report::sort_breakdown;
