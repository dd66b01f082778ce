//! Prometheus metrics (`GET /metrics`). No label ever carries an IP, a path or a visitor.

use lucarne_core::token::TokenStatus;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    /// `DropReason::as_str`: a closed set.
    pub reason: &'static str,
}

/// A reason an event is dropped, as its label (`ingest::pipeline::DropReason` implements
/// it there, so metrics imports nothing from the modules that count into it).
pub trait DropLabel {
    fn label(self) -> &'static str;
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TokenLabels {
    /// `TokenStatus::as_str` of arrival tokens, or `refused` for a second claim to a
    /// token already minted.
    pub status: &'static str,
}

pub struct Metrics {
    registry: Registry,
    pub accepted: Counter,
    pub dropped: Family<DropLabels, Counter>,
    pub queue_depth: Gauge,
    pub commit_wait: Histogram,
    pub sessions: Gauge,
    pub tokens: Family<TokenLabels, Counter>,
    pub link_requests: Family<KindLabels, Counter>,
    pub link_events_dropped: Counter,
    pub conversions: Family<ResultLabels, Counter>,
    /// With several nodes: shared-visit lookups and claims asked for, by kind.
    pub shared_visit_requests: Family<KindLabels, Counter>,
    /// … and the statements that answered them (batches), by kind.
    pub shared_visit_statements: Family<KindLabels, Counter>,
    /// HTTP connections open now, and those closed by a limit (`net::ConnLimits`).
    pub connections_open: Gauge,
    pub connections_closed: Family<CloseLabels, Counter>,
    /// Login attempts by outcome: `ok`, `wrong` (password checked), `limited`, `busy`.
    pub logins: Family<ResultLabels, Counter>,
    /// Arriving tokens memory did not know, by how they were decided.
    pub token_lookups: Family<ResultLabels, Counter>,
    /// Reloads of the short-link snapshot from the metadata store.
    pub link_reloads: Counter,
    /// Bytes the live-visit table holds, and the shards it forgot whole when full.
    pub visit_bytes: Gauge,
    pub visit_evictions: Gauge,
    /// UTC days rolled up by the rollup task, and builds that failed.
    pub rollup_days: Counter,
    pub rollup_errors: Counter,
    /// Notifications (e-mails and webhook calls) by channel and result: `sent`, `retry`
    /// (failed, tried again later), `failed` (given up); and alerts raised by kind.
    pub deliveries: Family<DeliveryLabels, Counter>,
    pub alerts: Family<KindLabels, Counter>,
    /// Preview-card checks of a page by outcome (`ok`, `warning`, `broken`), and the
    /// problems they found by code.
    pub card_checks: Family<ResultLabels, Counter>,
    pub card_problems: Family<KindLabels, Counter>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// `email` or `webhook`.
    pub channel: &'static str,
    /// `sent`, `retry` or `failed`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// `accepted`, `duplicate`, or the error reason of `POST /api/v1/conversions`.
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseLabels {
    /// `header_timeout`, `idle_timeout`, `body_timeout`, `shutdown`.
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// Link requests: `click`, `scan`, `preview`, `bot`, `head`, `missing`, `disabled`,
    /// `expired`, `limit`. Shared visits: `find`, `claim`.
    pub kind: &'static str,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lucarne");
        let accepted = Counter::default();
        let dropped = Family::<DropLabels, Counter>::default();
        let queue_depth = Gauge::default();
        let commit_wait = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        let sessions = Gauge::default();
        registry.register(
            "events_accepted",
            "Events acknowledged (committed)",
            accepted.clone(),
        );
        registry.register(
            "events_dropped",
            "Events refused, by reason",
            dropped.clone(),
        );
        registry.register(
            "ingest_queue_depth",
            "Submissions waiting for the writer",
            queue_depth.clone(),
        );
        registry.register(
            "commit_wait_seconds",
            "Time from enqueue to durable commit",
            commit_wait.clone(),
        );
        registry.register(
            "active_sessions",
            "Visits seen in the last 30 minutes",
            sessions.clone(),
        );
        let tokens = Family::<TokenLabels, Counter>::default();
        registry.register(
            "tokens",
            "Share tokens seen on arriving visits, by what became of them",
            tokens.clone(),
        );
        let link_requests = Family::<KindLabels, Counter>::default();
        registry.register(
            "link_requests",
            "Requests to short links, by what they were",
            link_requests.clone(),
        );
        let link_events_dropped = Counter::default();
        registry.register(
            "link_events_dropped",
            "Click, scan and preview events not stored because the store was saturated",
            link_events_dropped.clone(),
        );
        let conversions = Family::<ResultLabels, Counter>::default();
        registry.register(
            "server_conversions",
            "Server-side conversions (POST /api/v1/conversions), by result",
            conversions.clone(),
        );
        let shared_visit_requests = Family::<KindLabels, Counter>::default();
        registry.register(
            "shared_visit_requests",
            "Shared-visit lookups and claims asked of the metadata store (several nodes)",
            shared_visit_requests.clone(),
        );
        let shared_visit_statements = Family::<KindLabels, Counter>::default();
        registry.register(
            "shared_visit_statements",
            "Statements that answered them, each for a batch of requests",
            shared_visit_statements.clone(),
        );
        let logins = Family::<ResultLabels, Counter>::default();
        registry.register(
            "login_attempts",
            "Login attempts by outcome (ok, wrong: password checked; limited, busy: refused before any check)",
            logins.clone(),
        );
        let connections_open = Gauge::default();
        registry.register(
            "connections_open",
            "HTTP connections open now",
            connections_open.clone(),
        );
        let connections_closed = Family::<CloseLabels, Counter>::default();
        registry.register(
            "connections_closed",
            "HTTP connections closed by a limit (header, idle or body timeout, shutdown), by reason",
            connections_closed.clone(),
        );
        let token_lookups = Family::<ResultLabels, Counter>::default();
        registry.register(
            "token_lookups",
            "Arriving tokens not in memory: filtered (never minted, no read), known_miss, read (from the store), over_budget (unknown without a read)",
            token_lookups.clone(),
        );
        let visit_bytes = Gauge::default();
        registry.register(
            "visit_table_bytes",
            "Bytes held by the live-visit table (bounded by the cache memory setting)",
            visit_bytes.clone(),
        );
        let visit_evictions = Gauge::default();
        registry.register(
            "visit_table_evictions",
            "Shards of live visits forgotten whole because the table was full, since start",
            visit_evictions.clone(),
        );
        let link_reloads = Counter::default();
        registry.register(
            "link_reloads",
            "Reloads of every short link from the metadata store (edits, other nodes)",
            link_reloads.clone(),
        );
        let rollup_days = Counter::default();
        registry.register(
            "rollup_days",
            "UTC days of a site rolled up for reports (closed days with new, late or deleted rows)",
            rollup_days.clone(),
        );
        let rollup_errors = Counter::default();
        registry.register(
            "rollup_errors",
            "Rollup builds that failed (the day is read from raw events until one succeeds)",
            rollup_errors.clone(),
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "notify_deliveries",
            "E-mails and webhook calls by channel and result (sent, retry: failed and tried again later, failed: given up)",
            deliveries.clone(),
        );
        let alerts = Family::<KindLabels, Counter>::default();
        registry.register(
            "notify_alerts",
            "Alerts raised, by kind (spike, viral)",
            alerts.clone(),
        );
        let card_checks = Family::<ResultLabels, Counter>::default();
        registry.register(
            "card_checks",
            "Preview-card checks of a page, by outcome (ok, warning, broken)",
            card_checks.clone(),
        );
        let card_problems = Family::<KindLabels, Counter>::default();
        registry.register(
            "card_problems",
            "Problems preview-card checks found, by code (no_og_image, image_too_large …)",
            card_problems.clone(),
        );
        Metrics {
            card_checks,
            card_problems,
            deliveries,
            alerts,
            rollup_days,
            rollup_errors,
            link_reloads,
            visit_bytes,
            visit_evictions,
            token_lookups,
            connections_open,
            connections_closed,
            logins,
            shared_visit_requests,
            shared_visit_statements,
            conversions,
            link_requests,
            link_events_dropped,
            tokens,
            registry,
            accepted,
            dropped,
            queue_depth,
            commit_wait,
            sessions,
        }
    }

    pub fn drop(&self, reason: impl DropLabel) {
        self.dropped
            .get_or_create(&DropLabels {
                reason: reason.label(),
            })
            .inc();
    }

    /// A delivery's outcome.
    pub fn delivery(&self, channel: &'static str, result: &'static str) {
        self.deliveries
            .get_or_create(&DeliveryLabels { channel, result })
            .inc();
    }

    /// An arriving visit's token status (visits without a token are not counted).
    pub fn token(&self, status: TokenStatus) {
        if status != TokenStatus::None {
            self.tokens
                .get_or_create(&TokenLabels {
                    status: status.as_str(),
                })
                .inc();
        }
    }

    pub fn link_request(&self, kind: &'static str) {
        self.link_requests.get_or_create(&KindLabels { kind }).inc();
    }

    /// A server-side conversion's result (`accepted`, `duplicate` or an error reason).
    pub fn conversion(&self, result: &'static str) {
        self.conversions
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// How an arriving token unknown to memory was decided.
    pub fn token_lookup(&self, result: &'static str) {
        self.token_lookups
            .get_or_create(&ResultLabels { result })
            .inc();
    }

    /// A login attempt's outcome.
    pub fn login(&self, result: &'static str) {
        self.logins.get_or_create(&ResultLabels { result }).inc();
    }

    /// A second claim to an already minted token was refused.
    pub fn token_refused(&self) {
        self.tokens
            .get_or_create(&TokenLabels { status: "refused" })
            .inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
