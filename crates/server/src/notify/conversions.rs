//! Conversions as they arrive, for webhooks that want them: each round reads the goals'
//! conversions stored since the last round (the cursor `conversions`, a UTC time; the
//! first round starts at that moment, nothing older is sent) up to a few seconds ago (an
//! event being committed now is in the next round), and calls each webhook once per goal
//! that converted: how many, the revenue, by channel. The store is read, never the
//! ingest path.

use std::sync::Arc;

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use lucarne_core::stats::ReportQuery;
use lucarne_store::meta::{Channel, NewDelivery};
use serde_json::json;

use super::SiteCtx;
use crate::api::conversions::{conversion_report, By};
use crate::error::ApiError;
use crate::state::AppState;

/// How far behind now a round reads (events acknowledged later than this are rare: the
/// loader commits within 250 ms).
const SETTLE: Duration = Duration::seconds(5);
/// The longest window one round reads (after a long stop, older conversions are skipped,
/// not sent in a flood).
const MAX_WINDOW: Duration = Duration::hours(1);
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
        None => {
            state
                .meta
                .set_notify_cursor(site.id, CURSOR, &ts(to))
                .await?;
            return Ok(0);
        }
    };
    if from >= to {
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
    let by = By::parse(Some("visit:channel"))?;
    let totals = conversion_report(state, site, q.clone(), None, &by).await?;
    let mut n = 0;
    for g in totals.goals.iter().filter(|g| g.counts.conversions > 0) {
        let id = g.id.to_string();
        let report = conversion_report(state, site, q.clone(), Some(&id), &by).await?;
        let by_channel: Vec<_> = report
            .rows
            .iter()
            .filter(|r| r.counts.conversions > 0)
            .map(|r| {
                let name = super::channel_name(state, &r.value);
                json!({"channel": r.value, "name": name, "conversions": r.counts.conversions})
            })
            .collect();
        let text = format!(
            "{}: {} × {} ({})",
            site.domain,
            g.counts.conversions,
            g.name,
            by_channel
                .iter()
                .map(|c| format!(
                    "{} {}",
                    c["name"].as_str().unwrap_or_default(),
                    c["conversions"]
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let body = json!({
            "type": "conversion",
            "site": site.domain,
            "created_at": now.to_rfc3339(),
            "data": {
                "goal": {"id": g.id, "name": g.name, "kind": g.kind, "value": g.value},
                "conversions": g.counts.conversions,
                "converting_visits": g.counts.converting_visits,
                "revenue": g.counts.revenue,
                "currency": totals.currency,
                "by_channel": by_channel,
                "from": ts(from),
                "to": ts(to),
            },
            "text": text,
            "content": text,
        })
        .to_string();
        for h in &hooks {
            if state
                .meta
                .enqueue_delivery(&NewDelivery {
                    site_id: site.id,
                    channel: Channel::Webhook,
                    target: &h.id.to_string(),
                    kind: "conversion",
                    dedupe: &format!("conversion:{}:{}:{}:{}", site.id, h.id, g.id, ts(from)),
                    payload: &body,
                    not_before: now,
                })
                .await?
            {
                n += 1;
            }
        }
    }
    state
        .meta
        .set_notify_cursor(site.id, CURSOR, &ts(to))
        .await?;
    Ok(n)
}
