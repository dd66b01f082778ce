//! `Spooled<B>`: an events back end behind the spool, as one [`EventStore`].
//!
//! Every back end stores events the same way: `submit` goes to the spool (acknowledged
//! once `fdatasync`ed), the spool's loader writes into the back end's [`Sink`], and each
//! report first flushes the loader so it sees every acknowledged event. That part is
//! written here once; a back end only answers the queries ([`Backend`]).

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lucarne_core::conversions::GoalKind;
use lucarne_core::event::EventRow;
use lucarne_core::funnel::FunnelStep;
use lucarne_core::stats::{Aggregates, Bucket, Property, ReportQuery};
use lucarne_core::token::TokenNode;

use super::{Sink, Spool};
use crate::events::{
    CommitTicket, ConversionGroup, ConversionRow, EventStore, FunnelGroup, FunnelRow, Refused,
    ShareGraph, StoreError, SurveyAnswerRow, VisitKey,
};

/// The read side of an events back end: the queries of [`EventStore`] over what is
/// loaded. [`Spooled`] flushes the spool before each (read-your-writes) and before a
/// deletion (so pending rows do not survive it), except [`Backend::find_token`], which
/// reads only what is loaded (the server remembers recent tokens itself).
pub trait Backend: Send + Sync + 'static {
    fn aggregate(&self, q: &ReportQuery) -> Result<Aggregates, StoreError>;

    fn timeseries(
        &self,
        q: &ReportQuery,
        buckets: &[Bucket],
    ) -> Result<Vec<Aggregates>, StoreError>;

    fn breakdown(
        &self,
        q: &ReportQuery,
        property: &Property,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(String, Aggregates)>, StoreError>;

    fn breakdown_dims(
        &self,
        q: &ReportQuery,
        dims: &[crate::Dim],
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(Vec<String>, Aggregates)>, StoreError>;

    fn first_event(
        &self,
        site_id: u32,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError>;

    fn find_token(&self, token: u64) -> Result<Option<TokenNode>, StoreError>;

    fn share_graph(&self, q: &ReportQuery) -> Result<ShareGraph, StoreError>;

    fn conversions(
        &self,
        q: &ReportQuery,
        goals: &[GoalKind],
        group: &ConversionGroup,
    ) -> Result<Vec<ConversionRow>, StoreError>;

    fn funnel(
        &self,
        q: &ReportQuery,
        steps: &[FunnelStep],
        group: FunnelGroup,
    ) -> Result<Vec<FunnelRow>, StoreError>;

    fn goal_events(
        &self,
        q: &ReportQuery,
        goals: &[GoalKind],
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError>;

    fn find_visit(&self, site_id: u32, key: VisitKey) -> Result<Option<EventRow>, StoreError>;

    fn survey_answers(&self, q: &ReportQuery) -> Result<Vec<SurveyAnswerRow>, StoreError>;

    fn engagement(
        &self,
        q: &ReportQuery,
        by_page: bool,
    ) -> Result<Vec<(String, Aggregates)>, StoreError>;

    /// See [`EventStore::for_each_token`]; `Ok(false)` when this back end cannot list.
    fn for_each_token(&self, f: &mut dyn FnMut(u64)) -> Result<bool, StoreError> {
        let _ = f;
        Ok(false)
    }

    fn delete_site_events(
        &self,
        site_id: u32,
        before: Option<DateTime<Utc>>,
    ) -> Result<u64, StoreError>;

    /// See [`EventStore::maintain_rollups`].
    fn maintain_rollups(
        &self,
        sites: &[(u32, chrono_tz::Tz)],
        max_days: usize,
    ) -> Result<usize, StoreError> {
        let _ = (sites, max_days);
        Ok(0)
    }

    /// See [`EventStore::export_site_csv`] (called once the spool is flushed).
    fn export_site_csv(&self, site_id: u32, to: &std::path::Path) -> Result<u64, StoreError> {
        let _ = (site_id, to);
        Err(StoreError::Backend(
            "this events back end is a server: export with its own client".into(),
        ))
    }

    /// See [`EventStore::backup_to`] (called once the spool is flushed).
    fn backup_to(&self, to: &std::path::Path) -> Result<u64, StoreError> {
        let _ = to;
        Err(StoreError::Backend(
            "this events back end is a server: back it up with its own tools".into(),
        ))
    }
}

/// A back end with the spool in front: the [`EventStore`] every back end is.
pub struct Spooled<B> {
    /// Declared first: dropped (its threads and the sink stopped) before the back end,
    /// whose database the sink may share.
    spool: Spool,
    backend: B,
}

impl<B: Backend> Spooled<B> {
    /// Open the spool in `dir` in front of `backend`: replay into `sink` what it does not
    /// hold yet, then start the writer and the loader (see [`Spool::open_with_interval`]).
    pub fn start<S: Sink>(
        dir: &Path,
        backend: B,
        sink: S,
        queue_capacity: usize,
        load_interval: Duration,
    ) -> Result<Self, StoreError> {
        let spool = Spool::open_with_interval(dir, sink, queue_capacity, load_interval)?;
        Ok(Spooled { spool, backend })
    }

    /// Load everything acknowledged so far into the back end.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.spool.flush()
    }

    /// Run `f` on the back end once every acknowledged row is loaded (read-your-writes).
    pub fn read<T>(&self, f: impl FnOnce(&B) -> Result<T, StoreError>) -> Result<T, StoreError> {
        self.spool.flush()?;
        f(&self.backend)
    }

    /// The back end, for what needs no flush (its path, its URL).
    pub fn backend(&self) -> &B {
        &self.backend
    }
}

impl<B: Backend> EventStore for Spooled<B> {
    fn submit(&self, rows: Vec<EventRow>) -> Result<CommitTicket, Refused> {
        self.spool.submit(rows)
    }

    fn aggregate(&self, q: &ReportQuery) -> Result<Aggregates, StoreError> {
        self.read(|b| b.aggregate(q))
    }

    fn timeseries(
        &self,
        q: &ReportQuery,
        buckets: &[Bucket],
    ) -> Result<Vec<Aggregates>, StoreError> {
        self.read(|b| b.timeseries(q, buckets))
    }

    fn breakdown(
        &self,
        q: &ReportQuery,
        property: &Property,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        self.read(|b| b.breakdown(q, property, limit, offset))
    }

    fn breakdown_dims(
        &self,
        q: &ReportQuery,
        dims: &[crate::Dim],
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(Vec<String>, Aggregates)>, StoreError> {
        self.read(|b| b.breakdown_dims(q, dims, limit, offset))
    }

    fn first_event(
        &self,
        site_id: u32,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StoreError> {
        self.read(|b| b.first_event(site_id))
    }

    fn find_token(&self, token: u64) -> Result<Option<TokenNode>, StoreError> {
        if token == 0 {
            return Ok(None);
        }
        self.backend.find_token(token)
    }

    fn share_graph(&self, q: &ReportQuery) -> Result<ShareGraph, StoreError> {
        self.read(|b| b.share_graph(q))
    }

    fn conversions(
        &self,
        q: &ReportQuery,
        goals: &[GoalKind],
        group: &ConversionGroup,
    ) -> Result<Vec<ConversionRow>, StoreError> {
        self.read(|b| b.conversions(q, goals, group))
    }

    fn funnel(
        &self,
        q: &ReportQuery,
        steps: &[FunnelStep],
        group: FunnelGroup,
    ) -> Result<Vec<FunnelRow>, StoreError> {
        self.read(|b| b.funnel(q, steps, group))
    }

    fn goal_events(
        &self,
        q: &ReportQuery,
        goals: &[GoalKind],
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        self.read(|b| b.goal_events(q, goals, limit))
    }

    fn find_visit(&self, site_id: u32, key: VisitKey) -> Result<Option<EventRow>, StoreError> {
        self.read(|b| b.find_visit(site_id, key))
    }

    fn survey_answers(&self, q: &ReportQuery) -> Result<Vec<SurveyAnswerRow>, StoreError> {
        self.read(|b| b.survey_answers(q))
    }

    fn engagement(
        &self,
        q: &ReportQuery,
        by_page: bool,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        self.read(|b| b.engagement(q, by_page))
    }

    fn for_each_token(&self, f: &mut dyn FnMut(u64)) -> Result<bool, StoreError> {
        self.read(|b| b.for_each_token(f))
    }

    fn set_backlog_bytes(&self, bytes: usize) {
        self.spool.set_backlog_bytes(bytes);
    }

    fn healthy(&self) -> bool {
        self.spool.healthy()
    }

    fn problem(&self) -> Option<String> {
        self.spool.problem()
    }

    fn queue_len(&self) -> usize {
        self.spool.queue_len()
    }

    fn shutdown(&self) {
        self.spool.shutdown();
    }

    fn delete_site_events(
        &self,
        site_id: u32,
        before: Option<DateTime<Utc>>,
    ) -> Result<u64, StoreError> {
        // Pending rows must be in the tables before deleting, or they would survive.
        self.read(|b| b.delete_site_events(site_id, before))
    }

    fn maintain_rollups(
        &self,
        sites: &[(u32, chrono_tz::Tz)],
        max_days: usize,
    ) -> Result<usize, StoreError> {
        // Loaded rows have marked their days: flush, so none is missed.
        self.read(|b| b.maintain_rollups(sites, max_days))
    }

    fn export_site_csv(&self, site_id: u32, to: &std::path::Path) -> Result<u64, StoreError> {
        // Every acknowledged event into the tables first: the file holds them all.
        self.read(|b| b.export_site_csv(site_id, to))
    }

    fn backup_to(&self, to: &std::path::Path) -> Result<u64, StoreError> {
        // Every acknowledged event into the tables first: the copy holds them all.
        self.read(|b| b.backup_to(to))
    }
}

impl<B> Drop for Spooled<B> {
    fn drop(&mut self) {
        self.spool.shutdown();
    }
}
