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
    CommitTicket, ConversionGroup, ConversionRow, Dim, EventStore, FunnelGroup, FunnelRow,
    GoalCounts, Refused, ShareGraph, StoreError, SurveyAnswerRow, VisitKey,
};
pub use report::sort_breakdown;

/// The refusal to open a store written by a newer Lucarne: its schema is past what this
/// binary knows, and going on could misread or damage it.
pub(crate) fn newer_schema(what: &str, found: i64, known: i64) -> String {
    format!(
        "{what} was written by a newer Lucarne (schema version {found}; this binary knows up \
         to {known}): run that version or a later one, or restore a backup taken before the \
         upgrade"
    )
}
