//! Import an access log: link previews (and, optionally, people's pageviews) from the
//! lines of an nginx or Apache *combined* log, through the same store as live ingest.
//!
//! Each line is parsed and judged by `core::access_log` (`parse_line`, `decide`):
//! - a preview fetcher's `GET`/`HEAD` of a page with a 2xx/3xx status becomes a
//!   `preview` event (`props.app`, the requested path, the line's time, no token);
//! - with pageviews on, a person's `GET` of a page with a 2xx status becomes a pageview
//!   through the ingest pipeline's steps (`pipeline::IMPORT_PAGEVIEW`: spam referrer,
//!   arrival token from memory), then the visit and classification of live ingest;
//! - everything else is counted by reason.
//!
//! Visitor ids use daily salts derived from a random key drawn for this import and never
//! stored (the historical-salt approach of `ingest::offline`): ids rotate daily as live
//! ones do, and nobody can recompute them from the log afterwards. The client address is
//! used for that hash (and a country, with a GeoIP database) and goes no further.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;

use axum::http::HeaderMap;
use chrono::{DateTime, NaiveDate, Utc};
use lucarne_core::access_log::{decide, parse_line, Decision, LogLine};
use lucarne_core::event::EventRow;
use lucarne_core::url_clean::clean_url;
use lucarne_core::visitor::{visitor_id, Salt};
use lucarne_store::meta::Site;
use lucarne_store::CommitTicket;

use super::{preview_row, Fetch};
use crate::ingest::offline::historical_salt;
use crate::ingest::pipeline::{self, host_allowed, Ctx, DropReason, Hit, MAX_URL};
use crate::ingest::{submit_retrying, wait_committed};
use crate::state::AppState;

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub lines: u64,
    pub previews: u64,
    pub pageviews: u64,
    pub previews_by_app: BTreeMap<String, u64>,
    /// Well-formed lines that recorded nothing, by reason (`bot`, `human`, `asset`, …).
    pub skipped: BTreeMap<&'static str, u64>,
    /// Lines that are not log lines of the combined format, by reason.
    pub malformed: BTreeMap<&'static str, u64>,
}

impl ImportReport {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum::<u64>() + self.malformed.values().sum::<u64>()
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Also record people's pageviews.
    pub pageviews: bool,
    /// Rows per store submission.
    pub batch: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            pageviews: false,
            batch: 5_000,
        }
    }
}

/// Submissions waiting for their commit at most, so reading overlaps committing.
const IN_FLIGHT: usize = 4;
/// Forget idle visits (by log time) this often.
const SWEEP_EVERY: u64 = 50_000;

/// An import in progress: feed it lines, then [`LogImport::finish`].
pub struct LogImport<'a> {
    state: &'a AppState,
    site: Site,
    options: ImportOptions,
    key: [u8; 32],
    salts: Option<(NaiveDate, Salt, Option<Salt>)>,
    latest: Option<DateTime<Utc>>,
    rows: Vec<EventRow>,
    inflight: VecDeque<CommitTicket>,
    report: ImportReport,
    no_headers: HeaderMap,
}

impl<'a> LogImport<'a> {
    pub fn new(state: &'a AppState, site: Site, options: ImportOptions) -> Self {
        LogImport {
            state,
            site,
            options: ImportOptions {
                batch: options.batch.max(1),
                ..options
            },
            key: rand::random(),
            salts: None,
            latest: None,
            rows: Vec::new(),
            inflight: VecDeque::new(),
            report: ImportReport::default(),
            no_headers: HeaderMap::new(),
        }
    }

    /// The counts so far.
    pub fn report(&self) -> &ImportReport {
        &self.report
    }

    /// One line of the log. Errors only when the store fails.
    pub async fn line(&mut self, text: &str) -> Result<(), DropReason> {
        self.report.lines += 1;
        match parse_line(text) {
            Ok(line) => self.record(line).await,
            Err(e) => *self.report.malformed.entry(e.as_str()).or_default() += 1,
        }
        if self.report.lines.is_multiple_of(SWEEP_EVERY) {
            if let Some(t) = self.latest {
                self.state.sessions.sweep(t);
            }
        }
        if self.rows.len() >= self.options.batch {
            self.submit().await?;
        }
        Ok(())
    }

    /// Store what is left and wait until everything is committed.
    pub async fn finish(mut self) -> Result<ImportReport, DropReason> {
        if !self.rows.is_empty() {
            self.submit().await?;
        }
        while let Some(t) = self.inflight.pop_front() {
            wait_committed(t).await?;
        }
        Ok(self.report)
    }

    fn skip(&mut self, reason: &'static str) {
        *self.report.skipped.entry(reason).or_default() += 1;
    }

    fn salts(&mut self, day: NaiveDate) -> (Salt, Option<Salt>) {
        match self.salts {
            Some((d, now, prev)) if d == day => (now, prev),
            _ => {
                let now = historical_salt(&self.key, day);
                let prev = day.pred_opt().map(|d| historical_salt(&self.key, d));
                self.salts = Some((day, now, prev));
                (now, prev)
            }
        }
    }

    async fn record(&mut self, line: LogLine) {
        let user_agent: String = line.user_agent.chars().take(1000).collect();
        let facts = self.state.ua_facts(&user_agent);
        let decision = decide(
            &line,
            facts.request.preview.as_deref(),
            facts.bot,
            self.options.pageviews,
        );
        let app = match decision {
            Decision::Skip(s) => return self.skip(s.as_str()),
            Decision::Preview(app) => Some(app),
            Decision::Pageview => None,
        };
        let Some(raw) = line.request.as_ref().and_then(|r| r.url(&self.site.domain)) else {
            return self.skip("no_path");
        };
        if raw.len() > MAX_URL {
            return self.skip("url_too_long");
        }
        let Ok(page) = clean_url(&raw) else {
            return self.skip("bad_url");
        };
        if !host_allowed(&self.site, &page.host) {
            return self.skip("foreign_host");
        }
        let Ok(ip) = line.client.parse::<IpAddr>() else {
            return self.skip("client_not_ip");
        };
        self.latest = Some(self.latest.map_or(line.time, |t| t.max(line.time)));
        let salts = self.salts(line.time.date_naive());
        let country = self.state.country(ip, &self.no_headers);
        let row = match app {
            Some(app) => {
                let fetch = Fetch {
                    app: &app,
                    at: line.time,
                    visitor_id: visitor_id(&salts.0, self.site.id, &ip.to_string(), &user_agent),
                    user_agent: &user_agent,
                    country,
                };
                let row = preview_row(self.state, &self.site, &page, fetch);
                self.report.previews += 1;
                *self.report.previews_by_app.entry(app).or_default() += 1;
                row
            }
            None => {
                if line.referrer.as_ref().is_some_and(|r| r.len() > MAX_URL) {
                    return self.skip("referrer_too_long");
                }
                let mut hit = Hit {
                    referrer: line.referrer.clone(),
                    ..Hit::new("pageview".to_string(), page, self.site.domain.clone())
                };
                let mut ctx = Ctx::new(self.state, &user_agent);
                ctx.site = Some(Cow::Borrowed(&self.site));
                let steps = pipeline::run_steps(pipeline::IMPORT_PAGEVIEW, &mut ctx, &mut hit);
                if let Err(reason) = steps.await {
                    return self.skip(reason.as_str());
                }
                let sender = pipeline::Sender {
                    ip,
                    user_agent: &user_agent,
                    country,
                    at: line.time,
                    salts,
                };
                self.report.pageviews += 1;
                pipeline::build_row(self.state, &self.site, hit, sender).await
            }
        };
        self.rows.push(row);
    }

    async fn submit(&mut self) -> Result<(), DropReason> {
        let rows = std::mem::take(&mut self.rows);
        self.inflight
            .push_back(submit_retrying(self.state, rows).await?);
        if self.inflight.len() >= IN_FLIGHT {
            if let Some(t) = self.inflight.pop_front() {
                wait_committed(t).await?;
            }
        }
        Ok(())
    }
}
