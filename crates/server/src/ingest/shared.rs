//! Visits shared between Lucarne nodes through the metadata store (ARCHITECTURE.md,
//! "Scale-out"). Off for a single node; on when several nodes share one metadata store.
//!
//! Each node keeps its live-visit table (`sessions`) in memory, and that table is the
//! only user of this module (`Sessions::visit`, `Sessions::claim_survey`): a visit this
//! node does not know (or thinks expired) is looked up in the shared table and adopted;
//! a visit an event opens is claimed there atomically — if another node claimed one
//! first, the event joins that visit instead (same visit id, same visit-level fields, not
//! an entry). Last-seen times go back to the shared table every second ([`spawn_sync`]).

use std::sync::Arc;
use std::time::Duration;

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use lucarne_core::event::EventRow;
use lucarne_store::columns::{self, Cell, Kind};
use lucarne_store::meta::{LiveVisit, MetaStore};
use serde_json::{json, Map, Value};
use tokio::sync::{mpsc, oneshot};

use prometheus_client::metrics::counter::Counter;

use super::sessions::{VisitFields, SESSION_TIMEOUT_MINUTES};
use crate::metrics::{KindLabels, Metrics};
use crate::state::AppState;

pub(super) fn live_since(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::minutes(SESSION_TIMEOUT_MINUTES)
}

/// The visit-level fields as the shared table stores them: a JSON object with one member
/// per visit column (`lucarne_store::columns`, `Scope::Visit`), named as the column;
/// 64-bit numbers as decimal strings (JSON readers may hold numbers as doubles).
pub fn encode(f: &VisitFields) -> String {
    let row = EventRow {
        visit: f.clone(),
        ..Default::default()
    };
    let mut out = Map::new();
    for c in columns::visit_columns() {
        let v = match (c.get)(&row) {
            Cell::Bool(b) => json!(b),
            Cell::U8(n) => json!(n),
            Cell::U16(n) => json!(n),
            Cell::U32(n) => json!(n),
            Cell::U64(n) => json!(n.to_string()),
            Cell::Ts(t) => json!(t.timestamp_micros().to_string()),
            Cell::Text(s) => json!(s),
            // No visit field is of these kinds.
            Cell::Props(_) | Cell::Revenue(_) => continue,
        };
        out.insert(c.name.to_string(), v);
    }
    Value::Object(out).to_string()
}

/// The fields back from [`encode`]'s text; `None` if it is not that (a member missing
/// or of another type).
pub fn decode(text: &str) -> Option<VisitFields> {
    let v: Value = serde_json::from_str(text).ok()?;
    let mut row = EventRow::default();
    for c in columns::visit_columns() {
        let m = v.get(c.name)?;
        let number = || m.as_u64().or_else(|| m.as_str()?.parse().ok());
        let cell = match c.kind {
            Kind::Bool => Cell::Bool(m.as_bool()?),
            Kind::U8 => Cell::U8(u8::try_from(number()?).ok()?),
            Kind::U16 => Cell::U16(u16::try_from(number()?).ok()?),
            Kind::U32 => Cell::U32(u32::try_from(number()?).ok()?),
            Kind::U64 => Cell::U64(number()?),
            Kind::Ts => Cell::Ts(DateTime::from_timestamp_micros(m.as_str()?.parse().ok()?)?),
            Kind::Text => Cell::Text(Cow::Owned(m.as_str()?.to_string())),
            Kind::Props | Kind::Revenue => continue,
        };
        (c.set)(&mut row, cell);
    }
    Some(row.visit)
}

/// Most lookups or claims sent to the metadata store in one statement.
const MAX_BATCH: usize = 256;

type Reply<T> = oneshot::Sender<Option<T>>;

struct Find {
    site_id: u32,
    ids: Vec<u64>,
    since: DateTime<Utc>,
    reply: Reply<Option<LiveVisit>>,
}

struct Claim {
    site_id: u32,
    visit: LiveVisit,
    reply: Reply<LiveVisit>,
}

/// Gathers the shared-visit lookups and claims of concurrent events, so the metadata
/// store sees one statement per batch instead of one round trip per event: each kind
/// has one worker that takes every request waiting (up to [`MAX_BATCH`]), answers them
/// all from one query, and starts again. Under light load a batch is one request and
/// costs what a direct query would.
pub struct Broker {
    finds: mpsc::UnboundedSender<Find>,
    claims: mpsc::UnboundedSender<Claim>,
    /// For survey claims (one statement each: rare).
    meta: MetaStore,
}

impl Broker {
    /// Start the two workers (on the current tokio runtime); they stop when the broker
    /// is dropped.
    pub fn spawn(meta: MetaStore, metrics: &Metrics) -> Self {
        let (finds, find_rx) = mpsc::unbounded_channel();
        let (claims, claim_rx) = mpsc::unbounded_channel();
        let counters = |kind| Counters {
            requests: metrics
                .shared_visit_requests
                .get_or_create(&KindLabels { kind })
                .clone(),
            statements: metrics
                .shared_visit_statements
                .get_or_create(&KindLabels { kind })
                .clone(),
        };
        tokio::spawn(run_finds(meta.clone(), find_rx, counters("find")));
        tokio::spawn(run_claims(meta.clone(), claim_rx, counters("claim")));
        Broker {
            finds,
            claims,
            meta,
        }
    }

    /// Claim the visit's survey answer for the cluster: `false` if another answer was
    /// claimed first. When the metadata store does not answer, the answer is let through
    /// (the survey report keeps each visit's first answer anyway).
    pub async fn claim_survey(&self, site_id: u32, session_id: u64, at: DateTime<Utc>) -> bool {
        match self.meta.claim_survey(site_id, session_id, at).await {
            Ok(first) => first,
            Err(e) => {
                tracing::warn!(message = "Shared survey answers unavailable.", error = %e);
                true
            }
        }
    }

    /// Undo [`Broker::claim_survey`] (the answer was not stored).
    pub async fn release_survey(&self, site_id: u32, session_id: u64) {
        if let Err(e) = self.meta.release_survey(site_id, session_id).await {
            tracing::warn!(message = "Could not release a shared survey claim.", error = %e);
        }
    }

    /// The visitor's live visit under the first of `ids` that has one; `None` when the
    /// shared table could not be read (the event then goes on with what this node knows).
    pub async fn find(
        &self,
        site_id: u32,
        ids: Vec<u64>,
        since: DateTime<Utc>,
    ) -> Option<Option<LiveVisit>> {
        let (reply, answer) = oneshot::channel();
        self.finds
            .send(Find {
                site_id,
                ids,
                since,
                reply,
            })
            .ok()?;
        answer.await.ok().flatten()
    }

    /// The visit that wins the visitor's claim (`MetaStore::claim_visits`); `None` when
    /// the shared table could not be written.
    pub async fn claim(&self, site_id: u32, visit: LiveVisit) -> Option<LiveVisit> {
        let (reply, answer) = oneshot::channel();
        self.claims
            .send(Claim {
                site_id,
                visit,
                reply,
            })
            .ok()?;
        answer.await.ok().flatten()
    }
}

/// A worker's share of the metrics: requests answered, statements sent.
struct Counters {
    requests: Counter,
    statements: Counter,
}

impl Counters {
    fn batch(&self, n: usize) {
        self.requests.inc_by(n as u64);
        self.statements.inc();
    }
}

/// Longest a batch may wait for the metadata store: past it, the batch is answered
/// "unavailable" (its events go on with what this node knows) rather than stalling every
/// lookup or claim behind it.
const BATCH_DEADLINE: Duration = Duration::from_secs(2);

async fn bounded<T>(
    f: impl std::future::Future<Output = Result<T, lucarne_store::meta::MetaError>>,
) -> Result<T, String> {
    match tokio::time::timeout(BATCH_DEADLINE, f).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {BATCH_DEADLINE:?}")),
    }
}

async fn run_finds(meta: MetaStore, mut rx: mpsc::UnboundedReceiver<Find>, counters: Counters) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        counters.batch(jobs.len());
        let Some(since) = jobs.iter().map(|j| j.since).min() else {
            continue;
        };
        let keys: Vec<(u32, u64)> = jobs
            .iter()
            .flat_map(|j| j.ids.iter().map(move |&id| (j.site_id, id)))
            .collect();
        match bounded(meta.live_visits(&keys, since)).await {
            Ok(found) => {
                for j in jobs.drain(..) {
                    let mine = j.ids.iter().find_map(|id| {
                        found
                            .iter()
                            .find(|(site, v)| {
                                *site == j.site_id && v.visitor_id == *id && v.last_seen >= j.since
                            })
                            .map(|(_, v)| v.clone())
                    });
                    let _ = j.reply.send(Some(mine));
                }
            }
            Err(e) => {
                tracing::warn!(message = "Shared visits unavailable.", error = %e, batch = jobs.len());
                for j in jobs.drain(..) {
                    let _ = j.reply.send(None);
                }
            }
        }
    }
}

async fn run_claims(meta: MetaStore, mut rx: mpsc::UnboundedReceiver<Claim>, counters: Counters) {
    let mut jobs = Vec::with_capacity(MAX_BATCH);
    let timeout = chrono::Duration::minutes(SESSION_TIMEOUT_MINUTES);
    while rx.recv_many(&mut jobs, MAX_BATCH).await > 0 {
        counters.batch(jobs.len());
        let claims: Vec<(u32, LiveVisit)> =
            jobs.iter().map(|j| (j.site_id, j.visit.clone())).collect();
        // A claim batch can lose a deadlock against another node's write-back (which
        // PostgreSQL resolves by aborting one side): try it again before giving up.
        let mut result = bounded(meta.claim_visits(&claims, timeout)).await;
        for _ in 0..2 {
            if result.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            result = bounded(meta.claim_visits(&claims, timeout)).await;
        }
        match result {
            Ok(won) => {
                for (j, w) in jobs.drain(..).zip(won) {
                    let _ = j.reply.send(Some(w));
                }
            }
            Err(e) => {
                tracing::warn!(message = "Shared visits unavailable.", error = %e, batch = jobs.len());
                for j in jobs.drain(..) {
                    let _ = j.reply.send(None);
                }
            }
        }
    }
}

/// Write this node's visit touches back every second, and forget visits idle for two
/// timeouts every minute.
pub fn spawn_sync(state: Arc<AppState>) -> Option<tokio::task::JoinHandle<()>> {
    if !state.sessions.is_shared() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut n = 0u64;
        loop {
            tick.tick().await;
            let touched = state.sessions.drain_touched();
            if let Err(e) = state.meta.touch_visits(&touched).await {
                tracing::warn!(message = "Could not write shared visits back; retrying.", error = %e);
                state.sessions.requeue_touched(touched);
            }
            n += 1;
            if n.is_multiple_of(60) {
                let before = Utc::now() - chrono::Duration::minutes(2 * SESSION_TIMEOUT_MINUTES);
                if let Err(e) = state.meta.purge_visits(before).await {
                    tracing::warn!(message = "Could not purge shared visits.", error = %e);
                }
                let window =
                    chrono::Duration::from_std(crate::limits::LOGIN_WINDOW).unwrap_or_default();
                if let Err(e) = state.meta.purge_login_failures(Utc::now() - window).await {
                    tracing::warn!(message = "Could not purge failed logins.", error = %e);
                }
                let day_ago = Utc::now() - chrono::Duration::days(1);
                if let Err(e) = state.meta.purge_survey_claims(day_ago).await {
                    tracing::warn!(message = "Could not purge survey claims.", error = %e);
                }
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucarne_core::token::TokenStatus;
    use lucarne_core::{ChannelGroup, Evidence};

    #[test]
    fn fields_survive_the_shared_table() {
        let f = VisitFields {
            entry_page: "/a".into(),
            referrer: "r".into(),
            source: "WhatsApp".into(),
            utm_source: "s".into(),
            utm_medium: "m".into(),
            utm_campaign: "c".into(),
            utm_term: "t".into(),
            utm_content: "x".into(),
            click_id: "fbclid".into(),
            channel: "whatsapp".into(),
            channel_group: ChannelGroup::PrivateMessage,
            evidence: Evidence::ShareToken,
            device: "mobile".into(),
            browser: "Chrome".into(),
            os: "Android".into(),
            country: "FR".into(),
            screen_width: 390,
            parent_token: u64::MAX,
            parent_session: 1 << 63,
            generation: 3,
            visit_share_channel: "address-bar".into(),
            token_status: TokenStatus::Linked,
            link_id: 7,
        };
        let back = decode(&encode(&f)).expect("decodes");
        assert_eq!(back, f);
        assert!(decode("{}").is_none());
        assert!(decode("not json").is_none());
    }

    #[test]
    fn the_shared_format_is_unchanged() {
        // What the release before `columns` wrote (nodes of two releases share visits
        // during a rolling upgrade).
        let earlier = r#"{"entry_page":"/a","referrer":"r","source":"WhatsApp","utm_source":"s","utm_medium":"m","utm_campaign":"c","utm_term":"t","utm_content":"x","click_id":"fbclid","channel":"whatsapp","channel_group":"private-message","evidence":"share-token","device":"mobile","browser":"Chrome","os":"Android","country":"FR","screen_width":390,"parent_token":"18446744073709551615","parent_session":"9223372036854775808","generation":3,"visit_share_channel":"address-bar","token_status":"linked","link_id":"7"}"#;
        let f = decode(earlier).expect("an earlier release's visit decodes");
        assert_eq!(f.parent_token, u64::MAX);
        assert_eq!(f.link_id, 7);
        assert_eq!(f.screen_width, 390);
        let now: Value = serde_json::from_str(&encode(&f)).expect("json");
        let then: Value = serde_json::from_str(earlier).expect("json");
        assert_eq!(now, then);
    }
}
