//! The events-store boundary.

use lucarne_core::event::EventRow;
use lucarne_core::stats::{Aggregates, Bucket, Property, ReportQuery};

#[derive(Debug, thiserror::Error, Clone)]
pub enum StoreError {
    /// The writer queue is full: the caller should answer 503 and let the client retry.
    #[error("events queue is full")]
    QueueFull,
    /// The writer has stopped (shutdown in progress or a fatal error).
    #[error("events writer is not running")]
    Closed,
    #[error("events store: {0}")]
    Backend(String),
}

impl StoreError {
    pub fn backend(e: impl std::fmt::Display) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// Resolves once the submitted rows are committed (or failed to commit).
pub type CommitTicket = tokio::sync::oneshot::Receiver<Result<(), StoreError>>;

/// What every events back end provides. Report methods block: call them from a blocking
/// thread (`spawn_blocking`).
pub trait EventStore: Send + Sync + 'static {
    /// Queue rows for the next group commit. Never blocks; `QueueFull` is backpressure.
    fn submit(&self, rows: Vec<EventRow>) -> Result<CommitTicket, StoreError>;

    fn aggregate(&self, q: &ReportQuery) -> Result<Aggregates, StoreError>;

    /// One `Aggregates` per bucket, in bucket order.
    fn timeseries(
        &self,
        q: &ReportQuery,
        buckets: &[Bucket],
    ) -> Result<Vec<Aggregates>, StoreError>;

    /// Rows of (property value, aggregates), ordered by visitors then pageviews, descending.
    fn breakdown(
        &self,
        q: &ReportQuery,
        property: &Property,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(String, Aggregates)>, StoreError>;

    /// Can the store accept and commit events right now?
    fn healthy(&self) -> bool;

    /// Number of submissions waiting for the writer.
    fn queue_len(&self) -> usize;

    /// Stop accepting, commit everything queued, checkpoint. Idempotent.
    fn shutdown(&self);

    /// Remove a site's events older than `before` (retention) or all of them.
    fn delete_site_events(
        &self,
        site_id: u32,
        before: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<u64, StoreError>;
}
