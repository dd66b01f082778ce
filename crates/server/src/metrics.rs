//! Prometheus metrics (`GET /metrics`). No label ever carries an IP, a path or a visitor.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::ingest::pipeline::DropReason;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DropLabels {
    pub reason: ReasonLabel,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ReasonLabel {
    body_too_large,
    malformed_json,
    missing_field,
    url_too_long,
    referrer_too_long,
    not_http_url,
    bad_url,
    too_many_props,
    bad_revenue,
    name_too_long,
    bot,
    spam_referrer,
    unknown_site,
    hostname_not_allowed,
    queue_full,
    store_unavailable,
    do_not_track,
}

impl From<DropReason> for ReasonLabel {
    fn from(r: DropReason) -> Self {
        use DropReason as D;
        match r {
            D::BodyTooLarge => ReasonLabel::body_too_large,
            D::MalformedJson => ReasonLabel::malformed_json,
            D::MissingField => ReasonLabel::missing_field,
            D::UrlTooLong => ReasonLabel::url_too_long,
            D::ReferrerTooLong => ReasonLabel::referrer_too_long,
            D::NotHttpUrl => ReasonLabel::not_http_url,
            D::BadUrl => ReasonLabel::bad_url,
            D::TooManyProps => ReasonLabel::too_many_props,
            D::BadRevenue => ReasonLabel::bad_revenue,
            D::NameTooLong => ReasonLabel::name_too_long,
            D::Bot => ReasonLabel::bot,
            D::SpamReferrer => ReasonLabel::spam_referrer,
            D::UnknownSite => ReasonLabel::unknown_site,
            D::HostnameNotAllowed => ReasonLabel::hostname_not_allowed,
            D::QueueFull => ReasonLabel::queue_full,
            D::StoreUnavailable => ReasonLabel::store_unavailable,
            D::DoNotTrack => ReasonLabel::do_not_track,
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub accepted: Counter,
    pub dropped: Family<DropLabels, Counter>,
    pub queue_depth: Gauge,
    pub commit_wait: Histogram,
    pub sessions: Gauge,
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
        Metrics {
            registry,
            accepted,
            dropped,
            queue_depth,
            commit_wait,
            sessions,
        }
    }

    pub fn drop(&self, reason: DropReason) {
        self.dropped
            .get_or_create(&DropLabels {
                reason: reason.into(),
            })
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
