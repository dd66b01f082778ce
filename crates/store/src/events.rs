//! The events-store boundary.

use lucarne_core::cascade::{EdgeRow, ShareRow, VisitRow};
use lucarne_core::conversions::GoalKind;
use lucarne_core::event::EventRow;
use lucarne_core::funnel::FunnelStep;
use lucarne_core::stats::{Aggregates, Bucket, Property, ReportQuery};
use lucarne_core::token::TokenNode;

pub use crate::report::Dim;

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

/// Visit-level numbers per group key: (visits, bounces, duration in seconds), as the
/// back ends' session queries return them.
pub(crate) type SessionTotals = std::collections::HashMap<String, (u64, u64, f64)>;

/// Put the visit-level numbers into the event-level rows of the same group key (every
/// back end composes its reports this way).
pub(crate) fn merge_sessions(rows: &mut [(String, Aggregates)], sessions: &SessionTotals) {
    for (k, a) in rows.iter_mut() {
        if let Some((n, b, d)) = sessions.get(k) {
            a.session_visits = *n;
            a.bounces = *b;
            a.duration_secs = *d;
        }
    }
}

/// How a conversion report groups visits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConversionGroup {
    /// One row for the whole period.
    Total,
    /// By a visit-level property (channel, evidence, `visit:link`, generation, …).
    Property(Property),
    /// By the share a visit arrived through (its parent token; '' for visits without one).
    Share,
    /// By visit, for visits that arrived through a share ('' for the others): the server
    /// walks each up to its cascade root.
    ShareVisit,
}

/// One goal's numbers in a group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GoalCounts {
    /// Distinct visits with at least one conversion.
    pub converting_visits: u64,
    /// Matching events (a visit may convert twice).
    pub conversions: u64,
    /// Revenue of the matching events: (ISO currency, minor units).
    pub revenue: Vec<(String, i64)>,
}

/// A group's visits and, per asked goal (same order), its conversions; each group is
/// split by channel group too (for the private/public uplift, in the same scans).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConversionRow {
    pub group: String,
    pub channel_group: String,
    pub visits: u64,
    pub goals: Vec<GoalCounts>,
}

/// How a funnel report groups its visits (by a field of the visit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunnelGroup {
    /// One row for the whole period (key '').
    Total,
    /// By the visit's channel group (`private-message`, `search`, …).
    ChannelGroup,
    /// By the visit's channel (`whatsapp`, `google`, …).
    Channel,
}

/// A group's funnel: `reached[k]` is the number of visits that reached step k+1 in
/// order (`reached[0]` entered the funnel), one entry per step.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FunnelRow {
    pub group: String,
    pub reached: Vec<u64>,
}

/// Which visit a server-side conversion credits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisitKey {
    /// The visit itself (its visit token's node).
    Session(u64),
    /// The first visit that arrived with this token (a share, copy or link token).
    ArrivedWith(u64),
}

/// A survey answer (the first of its visit) with the visit's measured classification.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyAnswerRow {
    pub answer: String,
    pub text: String,
    pub channel: String,
    pub channel_group: lucarne_core::ChannelGroup,
    pub evidence: lucarne_core::Evidence,
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
    /// The spool could not write the events to disk (full, or an I/O error): refused,
    /// not stored; the client retries.
    #[error("spool write failed: {0}")]
    Disk(String),
}

impl StoreError {
    pub fn backend(e: impl std::fmt::Display) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// Rows [`EventStore::submit`] did not take, handed back with the reason, so a caller
/// that retries (after `QueueFull`) needs no copy of every batch it offers.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Refused {
    pub error: StoreError,
    pub rows: Vec<EventRow>,
}

impl From<Refused> for StoreError {
    fn from(r: Refused) -> Self {
        r.error
    }
}

/// Resolves once the submitted rows are committed (or failed to commit).
pub type CommitTicket = tokio::sync::oneshot::Receiver<Result<(), StoreError>>;

/// What every events back end provides. Report methods block: call them from a blocking
/// thread (`spawn_blocking`).
pub trait EventStore: Send + Sync + 'static {
    /// Queue rows for the next group commit. Never blocks; `QueueFull` is backpressure.
    /// Refused rows come back in the error.
    fn submit(&self, rows: Vec<EventRow>) -> Result<CommitTicket, Refused>;

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

    /// A breakdown by several dimensions at once (v2's `dimensions`), read from raw
    /// events; [`EventStore::breakdown_by`] is what callers use.
    fn breakdown_dims(
        &self,
        q: &ReportQuery,
        dims: &[Dim],
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(Vec<String>, Aggregates)>, StoreError>;

    /// A breakdown by any number of dimensions, each row's values in `dims` order (a
    /// time dimension's value is its bucket's index; a time dimension alone gives its
    /// non-empty buckets in time order). None or one dimension is answered
    /// by [`EventStore::aggregate`], [`EventStore::timeseries`] (a visit counts in the
    /// bucket it began in) or [`EventStore::breakdown`], so it reads rollups where they
    /// can answer; more are [`EventStore::breakdown_dims`].
    fn breakdown_by(
        &self,
        q: &ReportQuery,
        dims: &[Dim],
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(Vec<String>, Aggregates)>, StoreError> {
        match dims {
            [] => Ok(vec![(Vec::new(), self.aggregate(q)?)]),
            [Dim::Property(p)] => Ok(self
                .breakdown(q, p, limit, offset)?
                .into_iter()
                .map(|(k, a)| (vec![k], a))
                .collect()),
            [Dim::Time(buckets)] => {
                // In time order, the buckets with something in them.
                Ok(self
                    .timeseries(q, buckets)?
                    .into_iter()
                    .enumerate()
                    .filter(|(_, a)| a.events > 0 || a.visits > 0)
                    .skip(offset)
                    .take(limit)
                    .map(|(i, a)| (vec![i.to_string()], a))
                    .collect())
            }
            dims => self.breakdown_dims(q, dims, limit, offset),
        }
    }

    /// When the site's first event happened (v2's `date_range: "all"` starts that day).
    fn first_event(
        &self,
        site_id: u32,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError>;

    /// The event that minted `token` (`core::token`), if the store holds it. Reads only
    /// what is loaded; the server remembers recent tokens itself.
    fn find_token(&self, token: u64) -> Result<Option<TokenNode>, StoreError>;

    /// The share graph of `q`'s site and period (filters are not applied).
    fn share_graph(&self, q: &ReportQuery) -> Result<ShareGraph, StoreError>;

    /// Visits and goal conversions of `q`'s site and period (visit-level filters apply),
    /// grouped by `group` and channel group. Groups without visits or conversions are
    /// absent.
    fn conversions(
        &self,
        q: &ReportQuery,
        goals: &[GoalKind],
        group: &ConversionGroup,
    ) -> Result<Vec<ConversionRow>, StoreError>;

    /// How far each visit of `q`'s site and period went through `steps`, in order
    /// (`core::funnel::furthest_step` is the reference), counted per `group`; rows where
    /// `q`'s filters hold are the ones looked at. Groups are ordered by the visits that
    /// entered, most first, then by key; [`FunnelGroup::Total`] always gives one row.
    fn funnel(
        &self,
        q: &ReportQuery,
        steps: &[FunnelStep],
        group: FunnelGroup,
    ) -> Result<Vec<FunnelRow>, StoreError>;

    /// The events of `q`'s site and period (its filters apply) that match any of
    /// `goals`, oldest first (then by visit), at most `limit`: each conversion as it
    /// happened, with its visit's fields (what a conversion webhook sends). Which goals a
    /// row matched is `GoalKind::matches`.
    fn goal_events(
        &self,
        q: &ReportQuery,
        goals: &[GoalKind],
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError>;

    /// The entry row of a visit (what a server-side conversion copies), if loaded.
    fn find_visit(&self, site_id: u32, key: VisitKey) -> Result<Option<EventRow>, StoreError>;

    /// The first `survey` answer of each visit in `q`'s site and period.
    fn survey_answers(&self, q: &ReportQuery) -> Result<Vec<SurveyAnswerRow>, StoreError>;

    /// Scroll depth and time on page from the engagement events of `q` (its filters
    /// apply), per page (`by_page`) or in all (key ''): only the `engaged_*` and
    /// `scroll_*` fields of each row are set.
    fn engagement(
        &self,
        q: &ReportQuery,
        by_page: bool,
    ) -> Result<Vec<(String, Aggregates)>, StoreError>;

    /// Call `f` with every minted token the store holds (the `token` of every row that
    /// has one). `Ok(false)` when this back end cannot list them.
    fn for_each_token(&self, f: &mut dyn FnMut(u64)) -> Result<bool, StoreError> {
        let _ = f;
        Ok(false)
    }

    /// Bound the loader's backlog in memory to about `bytes` (back ends with a spool).
    fn set_backlog_bytes(&self, bytes: usize) {
        let _ = bytes;
    }

    /// Can the store accept and commit events right now?
    fn healthy(&self) -> bool;

    /// Why it cannot, if it cannot (for `/api/health` and readiness).
    fn problem(&self) -> Option<String> {
        (!self.healthy()).then(|| "the events store is not accepting events".to_string())
    }

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

    /// Bring the rollups of `sites` (each with its time zone) up to date, at most
    /// `max_days` UTC days this call; the days built. Back ends without rollups build none.
    fn maintain_rollups(
        &self,
        sites: &[(u32, chrono_tz::Tz)],
        max_days: usize,
    ) -> Result<usize, StoreError> {
        let _ = (sites, max_days);
        Ok(0)
    }

    /// Every event of `site_id` (site and short-link events, every stored column, oldest
    /// first) as CSV with a header line, into a new file at `to`; the rows written.
    /// Back ends that are servers (ClickHouse) refuse: they have clients of their own.
    fn export_site_csv(&self, site_id: u32, to: &std::path::Path) -> Result<u64, StoreError>;

    /// A consistent copy of the store, as a new database file at `to`, taken while it
    /// keeps taking events: every event acknowledged before the call is in it. The events
    /// copied. Back ends that are servers (ClickHouse) refuse: they have backups of their
    /// own.
    fn backup_to(&self, to: &std::path::Path) -> Result<u64, StoreError>;
}

/// Below this many distinct visitors in a report, every back end counts them exactly
/// (DuckDB recounts its estimate; ClickHouse's `uniq` is exact up to 65,536); from it on,
/// visitor counts are estimates (about ±2 %).
pub const EXACT_VISITORS_BELOW: u64 = 50_000;

/// Separator between property keys (and values) in the `prop_keys` / `prop_values`
/// columns, the same on every back end.
pub const PROP_SEP: char = '\u{1f}';

/// An event's properties as the two stored columns: keys, then values, each joined by
/// [`PROP_SEP`] (a separator inside a key or value becomes a space).
pub(crate) fn join_props(props: &[(String, String)]) -> (String, String) {
    let clean = |s: &str| s.replace(PROP_SEP, " ");
    let keys: Vec<String> = props.iter().map(|(k, _)| clean(k)).collect();
    let vals: Vec<String> = props.iter().map(|(_, v)| clean(v)).collect();
    let sep = PROP_SEP.to_string();
    (keys.join(&sep), vals.join(&sep))
}

/// The two stored columns back as (key, value) pairs (the inverse of [`join_props`]).
pub(crate) fn split_props(keys: &str, values: &str) -> Vec<(String, String)> {
    if keys.is_empty() {
        return Vec::new();
    }
    keys.split(PROP_SEP)
        .map(str::to_string)
        .zip(values.split(PROP_SEP).map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn props_join_into_two_columns() {
        let props = vec![
            ("plan".to_string(), "pro".to_string()),
            ("odd\u{1f}key".to_string(), "a\u{1f}b".to_string()),
        ];
        assert_eq!(
            join_props(&props),
            ("plan\u{1f}odd key".to_string(), "pro\u{1f}a b".to_string())
        );
        assert_eq!(join_props(&[]), (String::new(), String::new()));
        let (k, v) = join_props(&props);
        assert_eq!(
            split_props(&k, &v),
            vec![
                ("plan".to_string(), "pro".to_string()),
                ("odd key".to_string(), "a b".to_string())
            ]
        );
        assert!(split_props("", "").is_empty());
    }
}
