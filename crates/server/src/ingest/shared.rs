//! Visits shared between Lucarne nodes through the metadata store (ARCHITECTURE.md,
//! "Scale-out"). Off for a single node; on when several nodes share one metadata store.
//!
//! Each node keeps its live-visit table (`sessions`) in memory. Before an event is
//! turned into a row, a visit this node does not know (or thinks expired) is looked up
//! in the shared table and adopted; after, a visit the event opened is claimed there
//! atomically — if another node claimed one first, the event joins that visit instead
//! (same visit id, same visit-level fields, not an entry). Last-seen times go back to
//! the shared table every second ([`spawn_sync`]).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lucarne_core::event::EventRow;
use lucarne_core::token::TokenStatus;
use lucarne_core::{ChannelGroup, Evidence};
use lucarne_store::meta::{LiveVisit, MetaStore};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use prometheus_client::metrics::counter::Counter;

use super::pipeline::{visitor_ids, Sender};
use super::sessions::{VisitFields, SESSION_TIMEOUT_MINUTES};
use crate::metrics::{KindLabels, Metrics};
use crate::state::AppState;

fn live_since(now: DateTime<Utc>) -> DateTime<Utc> {
    now - chrono::Duration::minutes(SESSION_TIMEOUT_MINUTES)
}

/// The visit-level fields as the shared table stores them (JSON text).
pub fn encode(f: &VisitFields) -> String {
    json!({
        "entry_page": f.entry_page, "referrer": f.referrer, "source": f.source,
        "utm_source": f.utm_source, "utm_medium": f.utm_medium,
        "utm_campaign": f.utm_campaign, "utm_term": f.utm_term,
        "utm_content": f.utm_content, "click_id": f.click_id, "channel": f.channel,
        "channel_group": f.channel_group.as_str(), "evidence": f.evidence.as_str(),
        "device": f.device, "browser": f.browser, "os": f.os, "country": f.country,
        "screen_width": f.screen_width, "parent_token": f.parent_token.to_string(),
        "parent_session": f.parent_session.to_string(), "generation": f.generation,
        "visit_share_channel": f.visit_share_channel,
        "token_status": f.token_status.as_str(), "link_id": f.link_id.to_string(),
    })
    .to_string()
}

/// The fields back from [`encode`]'s text; `None` if it is not that.
pub fn decode(text: &str) -> Option<VisitFields> {
    let v: Value = serde_json::from_str(text).ok()?;
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let n = |k: &str| s(k).and_then(|x| x.parse::<u64>().ok());
    Some(VisitFields {
        entry_page: s("entry_page")?,
        referrer: s("referrer")?,
        source: s("source")?,
        utm_source: s("utm_source")?,
        utm_medium: s("utm_medium")?,
        utm_campaign: s("utm_campaign")?,
        utm_term: s("utm_term")?,
        utm_content: s("utm_content")?,
        click_id: s("click_id")?,
        channel: s("channel")?,
        channel_group: ChannelGroup::parse(&s("channel_group")?)?,
        evidence: Evidence::parse(&s("evidence")?)?,
        device: s("device")?,
        browser: s("browser")?,
        os: s("os")?,
        country: s("country")?,
        screen_width: u16::try_from(v.get("screen_width")?.as_u64()?).ok()?,
        parent_token: n("parent_token")?,
        parent_session: n("parent_session")?,
        generation: u16::try_from(v.get("generation")?.as_u64()?).ok()?,
        visit_share_channel: s("visit_share_channel")?,
        token_status: TokenStatus::parse(&s("token_status")?),
        link_id: n("link_id")?,
    })
}

/// Step before the row is built: adopt the visitor's live visit from the shared table
/// when this node does not know it.
pub async fn before(state: &AppState, site_id: u32, sender: &Sender<'_>) {
    let Some(broker) = &state.visit_broker else {
        return;
    };
    let now = sender.at;
    let (id_now, id_prev) = visitor_ids(site_id, sender);
    if state.sessions.is_live(site_id, id_now, id_prev, now) {
        return;
    }
    let ids: Vec<u64> = std::iter::once(id_now).chain(id_prev).collect();
    let Some(found) = broker.find(site_id, ids, live_since(now)).await else {
        return;
    };
    if let Some(v) = found {
        match decode(&v.fields) {
            Some(fields) => {
                state
                    .sessions
                    .adopt(site_id, v.visitor_id, v.session_id, v.last_seen, fields)
            }
            None => tracing::warn!(message = "Shared visit with unreadable fields."),
        }
    }
}

/// The visit-level fields a row carries.
pub fn fields_of(row: &EventRow) -> VisitFields {
    VisitFields {
        entry_page: row.entry_page.clone(),
        referrer: row.referrer.clone(),
        source: row.source.clone(),
        utm_source: row.utm_source.clone(),
        utm_medium: row.utm_medium.clone(),
        utm_campaign: row.utm_campaign.clone(),
        utm_term: row.utm_term.clone(),
        utm_content: row.utm_content.clone(),
        click_id: row.click_id.clone(),
        channel: row.channel.clone(),
        channel_group: row.channel_group,
        evidence: row.evidence,
        device: row.device.clone(),
        browser: row.browser.clone(),
        os: row.os.clone(),
        country: row.country.clone(),
        screen_width: row.screen_width,
        parent_token: row.parent_token,
        parent_session: row.parent_session,
        generation: row.generation,
        visit_share_channel: row.visit_share_channel.clone(),
        token_status: row.token_status,
        link_id: row.link_id,
    }
}

/// Step after the row is built: a visit this event opened is claimed in the shared
/// table; if another node's visit won, the row joins it.
pub async fn after(state: &AppState, row: &mut EventRow) {
    let Some(broker) = &state.visit_broker else {
        return;
    };
    if !row.entry {
        return;
    }
    let mine = LiveVisit {
        visitor_id: row.visitor_id,
        session_id: row.session_id,
        last_seen: row.ts,
        fields: encode(&fields_of(row)),
    };
    let Some(won) = broker.claim(row.site_id, mine.clone()).await else {
        return;
    };
    if won.session_id == mine.session_id {
        return;
    }
    let Some(theirs) = decode(&won.fields) else {
        tracing::warn!(message = "Shared visit with unreadable fields.");
        return;
    };
    state.sessions.adopt(
        row.site_id,
        row.visitor_id,
        won.session_id,
        row.ts.max(won.last_seen),
        theirs.clone(),
    );
    join_visit(row, won.session_id, &theirs);
    // The token this event minted belongs to the visit it joined.
    if row.token != 0 {
        if let Some(mut node) = state.tokens.get(row.token) {
            node.session_id = won.session_id;
            node.generation = theirs.generation;
            state.tokens.remove(row.token);
            state.tokens.insert_new(row.token, &node);
        }
    }
}

/// One survey answer per visit: `false` if the row's visit has answered already. A
/// single node knows from its in-memory visit; nodes sharing a metadata store also claim
/// the answer there, so a second answer sent through another node is refused too.
pub async fn claim_survey(state: &AppState, row: &EventRow) -> bool {
    if !state
        .sessions
        .claim_survey(row.site_id, row.visitor_id, row.session_id)
    {
        return false;
    }
    if state.visit_broker.is_none() {
        return true;
    }
    match state
        .meta
        .claim_survey(row.site_id, row.session_id, row.ts)
        .await
    {
        Ok(first) => first,
        Err(e) => {
            // The report keeps each visit's first answer anyway.
            tracing::warn!(message = "Shared survey answers unavailable.", error = %e);
            true
        }
    }
}

/// Undo [`claim_survey`] for a visit (site, visitor, visit) whose answer was not stored.
pub async fn release_survey(state: &AppState, (site_id, visitor_id, session_id): (u32, u64, u64)) {
    state
        .sessions
        .release_survey(site_id, visitor_id, session_id);
    if state.visit_broker.is_some() {
        if let Err(e) = state.meta.release_survey(site_id, session_id).await {
            tracing::warn!(message = "Could not release a shared survey claim.", error = %e);
        }
    }
}

/// Make `row` an event of the visit `session_id` with those visit-level fields.
pub fn join_visit(row: &mut EventRow, session_id: u64, f: &VisitFields) {
    row.session_id = session_id;
    row.entry = false;
    row.entry_page = f.entry_page.clone();
    row.referrer = f.referrer.clone();
    row.source = f.source.clone();
    row.utm_source = f.utm_source.clone();
    row.utm_medium = f.utm_medium.clone();
    row.utm_campaign = f.utm_campaign.clone();
    row.utm_term = f.utm_term.clone();
    row.utm_content = f.utm_content.clone();
    row.click_id = f.click_id.clone();
    row.channel = f.channel.clone();
    row.channel_group = f.channel_group;
    row.evidence = f.evidence;
    row.device = f.device.clone();
    row.browser = f.browser.clone();
    row.os = f.os.clone();
    row.country = f.country.clone();
    row.screen_width = f.screen_width;
    row.parent_token = f.parent_token;
    row.parent_session = f.parent_session;
    row.generation = f.generation;
    row.visit_share_channel = f.visit_share_channel.clone();
    row.token_status = f.token_status;
    row.link_id = f.link_id;
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
        tokio::spawn(run_claims(meta, claim_rx, counters("claim")));
        Broker { finds, claims }
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
        assert_eq!(format!("{back:?}"), format!("{f:?}"));
        assert!(decode("{}").is_none());
        assert!(decode("not json").is_none());
    }
}
