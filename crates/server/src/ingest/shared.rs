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
use lucarne_store::meta::LiveVisit;
use serde_json::{json, Value};

use super::pipeline::{visitor_ids, Sender};
use super::sessions::{VisitFields, SESSION_TIMEOUT_MINUTES};
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
    if !state.sessions.is_shared() {
        return;
    }
    let now = sender.at;
    let (id_now, id_prev) = visitor_ids(site_id, sender);
    if state.sessions.is_live(site_id, id_now, id_prev, now) {
        return;
    }
    let ids: Vec<u64> = std::iter::once(id_now).chain(id_prev).collect();
    match state.meta.live_visit(site_id, &ids, live_since(now)).await {
        Ok(Some(v)) => match decode(&v.fields) {
            Some(fields) => {
                state
                    .sessions
                    .adopt(site_id, v.visitor_id, v.session_id, v.last_seen, fields)
            }
            None => tracing::warn!(message = "Shared visit with unreadable fields."),
        },
        Ok(None) => {}
        Err(e) => tracing::warn!(message = "Shared visits unavailable.", error = %e),
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
    if !state.sessions.is_shared() || !row.entry {
        return;
    }
    let mine = LiveVisit {
        visitor_id: row.visitor_id,
        session_id: row.session_id,
        last_seen: row.ts,
        fields: encode(&fields_of(row)),
    };
    let won = match state
        .meta
        .claim_visit(row.site_id, &mine, live_since(row.ts))
        .await
    {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(message = "Shared visits unavailable.", error = %e);
            return;
        }
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
                    chrono::Duration::from_std(crate::web::auth::LOGIN_WINDOW).unwrap_or_default();
                if let Err(e) = state.meta.purge_login_failures(Utc::now() - window).await {
                    tracing::warn!(message = "Could not purge failed logins.", error = %e);
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
