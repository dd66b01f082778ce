//! The events-store boundary.

use lucarne_core::cascade::{EdgeRow, ShareRow, VisitRow};
use lucarne_core::event::EventRow;
use lucarne_core::stats::{Aggregates, Bucket, Property, ReportQuery};
use lucarne_core::token::TokenNode;

/// The share graph of a period, as `core::cascade` needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShareGraph {
    /// Visits that arrived through a linked token.
    pub edges: Vec<EdgeRow>,
    /// The entry rows of the edges' parents (roots included), looked up to 30 days
    /// before the period.
    pub visits: Vec<VisitRow>,
    /// `share` and `copy` events.
    pub shares: Vec<ShareRow>,
    /// Per landing page: public-social visits that carried no linked token.
    pub public_visits_without_token: Vec<(String, u64)>,
}

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

    /// The event that minted `token` (`core::token`), if the store holds it. Reads only
    /// what is loaded; the server remembers recent tokens itself.
    fn find_token(&self, token: u64) -> Result<Option<TokenNode>, StoreError>;

    /// The share graph of `q`'s site and period (filters are not applied).
    fn share_graph(&self, q: &ReportQuery) -> Result<ShareGraph, StoreError>;

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
