//! Conversions as they arrive, for webhooks that want them: one call per conversion (an
//! event matching one of the site's goals; an event matching two goals is two
//! conversions), with the goal, the page, the revenue and the visit's channel, landing
//! page and share generation.
//!
//! Each round reads the conversions stored since the last round (the cursor
//! `conversions`, a UTC time; the first round starts at that moment, nothing older is
//! sent) up to a few seconds ago (an event being committed now is in the next round), at
//! most [`PER_ROUND`] a round: a burst is sent over the next rounds, oldest first. The
//! outbox's `dedupe` key is the conversion itself (site, webhook, goal, time, visit), so
//! a round read again (a restart, a second node) sends nothing twice. The store is read,
//! never the ingest path.

use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use lucarne_core::conversions::{major_amount, GoalKind};
use lucarne_core::event::EventRow;
use lucarne_core::stats::ReportQuery;
use lucarne_store::meta::{Channel, Goal, NewDelivery, Site};
use serde_json::json;

use super::SiteCtx;
use crate::api::stats::blocking;
use crate::error::ApiError;
use crate::state::AppState;

/// How far behind now a round reads (events acknowledged later than this are rare: the
/// loader commits within 250 ms).
const SETTLE: Duration = Duration::seconds(5);
/// The longest window one round reads (after a long stop, older conversions are skipped,
/// not sent in a flood).
const MAX_WINDOW: Duration = Duration::hours(1);
/// Conversion events read in one round at most (per site); the rest wait for the next.
pub const PER_ROUND: usize = 200;
const CURSOR: &str = "conversions";

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Put the conversion calls of a site's round in the outbox; how many.
pub async fn enqueue(
    state: &Arc<AppState>,
    ctx: &SiteCtx,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let hooks: Vec<_> = ctx.hooks("conversions").collect();
    if hooks.is_empty() {
        return Ok(0);
    }
    let site = &ctx.site;
    let to = now - SETTLE;
    let from = match state.meta.notify_cursor(site.id, CURSOR).await? {
        Some(c) => c
            .parse::<DateTime<Utc>>()
            .unwrap_or(to)
            .max(to - MAX_WINDOW),
        None => to,
    };
    let goals = state.meta.goals(site.id).await?;
    if from >= to || goals.is_empty() {
        state
            .meta
            .set_notify_cursor(site.id, CURSOR, &ts(to.max(from)))
            .await?;
        return Ok(0);
    }
    let q = ReportQuery {
        site_id: site.id,
        from,
        to,
        filters: Vec::new(),
        conditions: Vec::new(),
        with_sessions: false,
        with_shares: false,
    };
    let kinds: Vec<GoalKind> = goals.iter().map(|g| g.kind.clone()).collect();
    let events = blocking(state, move |s| s.events.goal_events(&q, &kinds, PER_ROUND)).await?;
    // A full page: the next round starts at the last one's time (the outbox drops the
    // ones already queued), or just after it when the whole page shared one instant.
    let next = match events.last() {
        Some(last) if events.len() >= PER_ROUND => {
            if last.ts > from {
                last.ts
            } else {
                last.ts + Duration::microseconds(1)
            }
        }
        _ => to,
    };
    let mut n = 0;
    for e in &events {
        for g in goals
            .iter()
            .filter(|g| g.kind.matches(&e.name, &e.pathname))
        {
            let body = payload(state, site, g, e, now);
            for h in &hooks {
                let dedupe = format!(
                    "conversion:{}:{}:{}:{}:{:x}",
                    site.id,
                    h.id,
                    g.id,
                    e.ts.timestamp_micros(),
                    e.session_id
                );
                if state
                    .meta
                    .enqueue_delivery(&NewDelivery {
                        site_id: site.id,
                        channel: Channel::Webhook,
                        target: &h.id.to_string(),
                        kind: "conversion",
                        dedupe: &dedupe,
                        payload: &body,
                        not_before: now,
                    })
                    .await?
                {
                    n += 1;
                }
            }
        }
    }
    state
        .meta
        .set_notify_cursor(site.id, CURSOR, &ts(next))
        .await?;
    Ok(n)
}

/// One conversion's webhook body.
fn payload(state: &AppState, site: &Site, g: &Goal, e: &EventRow, now: DateTime<Utc>) -> String {
    let v = &e.visit;
    let channel_name = super::channel_name(state, &v.channel);
    let revenue = e.revenue.as_ref().map(|r| {
        json!({
            "amount": major_amount(r.amount_minor, &r.currency),
            "currency": r.currency,
        })
    });
    let mut text = format!(
        "{}: {} on {} from {channel_name}",
        site.domain, g.name, e.pathname
    );
    if let Some(r) = &e.revenue {
        text.push_str(&format!(
            " ({} {})",
            major_amount(r.amount_minor, &r.currency),
            r.currency
        ));
    }
    json!({
        "type": "conversion",
        "site": site.domain,
        "created_at": now.to_rfc3339(),
        "data": {
            "goal": {"id": g.id, "name": g.name, "kind": g.kind.kind_str(), "value": g.kind.value()},
            "time": ts(e.ts),
            "event": e.name,
            "page": e.pathname,
            "revenue": revenue,
            "visit": {
                "entry_page": v.entry_page,
                "channel": v.channel,
                "channel_name": channel_name,
                "channel_group": v.channel_group.as_str(),
                "evidence": v.evidence.as_str(),
                "generation": v.generation,
                "country": v.country,
                "device": v.device,
            },
        },
        // Slack and Discord show these as they are.
        "text": text,
        "content": text,
    })
    .to_string()
}
