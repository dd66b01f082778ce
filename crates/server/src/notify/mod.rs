//! Telling owners when it happens (issue 23): e-mail digests, alerts ("going viral in
//! private", traffic spikes) and webhooks, all off the ingest path.
//!
//! One task per node ([`spawn`]) runs a [`round`] every minute: for each site with a
//! subscription or a webhook it evaluates the alerts (`alerts`), makes the digests that
//! are due (`digest`) and the conversion calls of webhooks (`conversions`), each as rows
//! of the metadata store's outbox (`deliveries`, unique per `dedupe` key, so several
//! nodes, a restart or a retry never send one twice); then it sends what is due
//! (`outbox`), retrying failures with back-off. The reports are the stats API's own
//! store queries, so an e-mail's numbers are the API's.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lucarne_store::meta::{Site, SubKind, Subscription, Webhook};

use crate::error::ApiError;
use crate::state::AppState;

pub mod alerts;
pub mod conversions;
pub mod digest;
pub mod message;
pub mod outbox;

/// How often a node runs a round.
pub const EVERY: Duration = Duration::from_secs(60);

/// What one round did (the tests read it; the logs show it).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Round {
    /// Alerts raised.
    pub alerts: usize,
    /// Digests put in the outbox.
    pub digests: usize,
    /// Conversion calls put in the outbox.
    pub conversions: usize,
    pub sent: usize,
    /// Failed, to be tried again.
    pub retried: usize,
    /// Failed for good.
    pub failed: usize,
}

/// Everything a site's round needs, read once.
pub struct SiteCtx {
    pub site: Site,
    pub subscriptions: Vec<Subscription>,
    pub webhooks: Vec<Webhook>,
    pub options: alerts::AlertOptions,
}

impl SiteCtx {
    pub fn subscribers(&self, kind: SubKind) -> impl Iterator<Item = &Subscription> {
        self.subscriptions.iter().filter(move |s| s.kind == kind)
    }

    pub fn hooks(&self, event: &'static str) -> impl Iterator<Item = &Webhook> {
        self.webhooks.iter().filter(move |w| w.wants(event))
    }
}

/// Run rounds every `every` ([`EVERY`] unless `--notify-interval` says otherwise) until
/// the process stops.
pub fn spawn(state: Arc<AppState>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let started = std::time::Instant::now();
            let result = round(&state, Utc::now()).await;
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match result {
                Ok(r) if r != Round::default() => tracing::info!(
                    message = "Notifications round.",
                    alerts = r.alerts,
                    digests = r.digests,
                    conversions = r.conversions,
                    sent = r.sent,
                    retried = r.retried,
                    failed = r.failed,
                    elapsed_ms
                ),
                Ok(_) => {
                    tracing::debug!(message = "Notifications round: nothing to do.", elapsed_ms)
                }
                Err(e) => {
                    tracing::warn!(message = "Notifications round failed; trying again next round.", error = %e)
                }
            }
        }
    })
}

/// One round at `now`: evaluate, enqueue, send.
pub async fn round(state: &Arc<AppState>, now: DateTime<Utc>) -> Result<Round, ApiError> {
    let mut r = Round::default();
    let ids = state.meta.notified_sites().await?;
    if !ids.is_empty() {
        for site in state.meta.sites().await? {
            if !ids.contains(&site.id) {
                continue;
            }
            let ctx = SiteCtx {
                subscriptions: state.meta.site_subscriptions(site.id).await?,
                webhooks: state.meta.webhooks(site.id).await?,
                options: alerts::AlertOptions::parse(
                    &state.site_options(site.id).await?.alert_options,
                ),
                site,
            };
            // One site's failure (a store that cannot answer) does not stop the others.
            let site_id = ctx.site.id;
            match alerts::evaluate(state, &ctx, now).await {
                Ok(n) => r.alerts += n,
                Err(e) => tracing::warn!(message = "Alerts not evaluated.", site_id, error = %e),
            }
            match digest::enqueue_due(state, &ctx, now).await {
                Ok(n) => r.digests += n,
                Err(e) => tracing::warn!(message = "Digests not made.", site_id, error = %e),
            }
            match conversions::enqueue(state, &ctx, now).await {
                Ok(n) => r.conversions += n,
                Err(e) => {
                    tracing::warn!(message = "Conversion calls not made.", site_id, error = %e)
                }
            }
        }
    }
    let sent = outbox::send_due(state, now).await?;
    r.sent = sent.sent;
    r.retried = sent.retried;
    r.failed = sent.failed;
    Ok(r)
}

/// A channel's display name (`whatsapp` → `WhatsApp`), or the id when the rules have none.
pub fn channel_name(state: &AppState, channel: &str) -> String {
    state
        .rules
        .channel_info(channel)
        .map_or_else(|| channel.to_string(), |i| i.name.clone())
}

/// The address pages and unsubscribe links are built on (`--public-url`, or the one an
/// administrator saved; `http://localhost:8000` as a last resort, said in the README).
pub fn public_base(state: &AppState) -> String {
    state
        .public_url()
        .unwrap_or_else(|| "http://localhost:8000".to_string())
        .trim_end_matches('/')
        .to_string()
}
