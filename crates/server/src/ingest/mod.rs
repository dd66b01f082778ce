//! `POST /api/event`.

pub mod offline;
pub mod payload;
pub mod pipeline;
pub mod refusals;
pub mod sessions;
pub mod shared;
pub mod tokens;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use lucarne_store::StoreError;

use crate::state::AppState;
use pipeline::DropReason;

pub async fn event(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match run(&state, peer, &headers, body).await {
        Ok(()) => {
            state.metrics.accepted.inc();
            (
                StatusCode::ACCEPTED,
                [(header::CONTENT_TYPE, "application/json")],
                r#"{"ok":true}"#,
            )
                .into_response()
        }
        Err(reason) => {
            state.metrics.drop(reason);
            tracing::debug!(message = "Event dropped.", reason = reason.as_str());
            reason.into_error().into_response()
        }
    }
}

async fn run(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    body: Body,
) -> Result<(), DropReason> {
    let bytes = to_bytes(body, pipeline::MAX_BODY).await.map_err(|e| {
        if crate::net::is_body_timeout(&e) {
            DropReason::BodyTimeout
        } else {
            DropReason::BodyTooLarge
        }
    })?;
    let payload: payload::Payload =
        serde_json::from_slice(&bytes).map_err(|_| DropReason::MalformedJson)?;
    let mut hit = pipeline::validate(payload)?;
    // At most 1,000 characters, borrowed (no copy on the hot path).
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map_or("", |ua| pipeline::clip(ua, 1000));
    let ip = state.client_ip(peer.ip(), headers);
    let mut ctx = pipeline::Ctx::new(state, user_agent);
    ctx.ip = Some(ip);
    ctx.headers = Some(headers);
    if let Err(reason) = pipeline::run_steps(pipeline::LIVE, &mut ctx, &mut hit).await {
        // Remembered for the site's settings page (why no first event yet). Cheap checks
        // (bots, rate limits) run before the site is looked up: it is looked up now,
        // through the same cache, which also holds unknown domains.
        let site_id = match &ctx.site {
            Some(site) => Some(site.id),
            None if !matches!(
                reason,
                DropReason::UnknownSite | DropReason::MetaUnavailable
            ) =>
            {
                let domain = lucarne_core::url_clean::normalise_host(&hit.domain);
                state.site(&domain).await.ok().flatten().map(|s| s.id)
            }
            None => None,
        };
        if let Some(id) = site_id {
            state.refusals.note(id, reason, Utc::now());
        }
        return Err(reason);
    }
    let site = ctx.site.take().ok_or(DropReason::UnknownSite)?;
    let country = state.country(ip, headers);
    // One clock reading for the row's time and its salt: two readings either side of a
    // UTC midnight would store a row of one day under the next day's visitor id.
    let now = Utc::now();
    let sender = pipeline::Sender {
        ip,
        user_agent,
        country,
        at: now,
        salts: state.current_salts(now).await,
    };
    // An engagement belongs to the visit that viewed the page: it opens none.
    if hit.name == lucarne_core::event::ENGAGEMENT_EVENT {
        let ids = pipeline::visitor_ids(site.id, &sender);
        if !state.sessions.live(site.id, ids, sender.at).await {
            return Err(DropReason::EngagementWithoutVisit);
        }
    }
    let row = pipeline::build_row(state, &site, hit, sender).await;
    let survey = row.name == pipeline::SURVEY_EVENT;
    let visit = (row.site_id, row.visitor_id, row.session_id);
    if survey
        && !state
            .sessions
            .claim_survey(visit.0, visit.1, visit.2, row.ts)
            .await
    {
        return Err(DropReason::DuplicateSurvey);
    }
    let minted = row.token;
    let stored = enqueue(state, vec![row]).await;
    if stored.is_err() && minted != 0 {
        // Not stored: nobody may link to it.
        state.tokens.remove(minted);
    }
    if stored.is_err() && survey {
        // Not stored: the visit may answer again (the client's retry).
        state
            .sessions
            .release_survey(visit.0, visit.1, visit.2)
            .await;
    }
    stored
}

/// Hand rows to the store and wait until they are committed.
pub async fn enqueue(
    state: &AppState,
    rows: Vec<lucarne_core::event::EventRow>,
) -> Result<(), DropReason> {
    let started = Instant::now();
    let ticket = state.events.submit(rows).map_err(|e| match e.error {
        StoreError::QueueFull => DropReason::QueueFull,
        _ => DropReason::StoreUnavailable,
    })?;
    state
        .metrics
        .queue_depth
        .set(state.events.queue_len() as i64);
    match ticket.await {
        Ok(Ok(())) => {
            state
                .metrics
                .commit_wait
                .observe(started.elapsed().as_secs_f64());
            Ok(())
        }
        Ok(Err(StoreError::Disk(_))) => Err(DropReason::SpoolWriteFailed),
        _ => Err(DropReason::StoreUnavailable),
    }
}

/// Submit for a bulk writer (demo, generate, log import): a full writer queue is
/// backpressure here, not an error, so the refused rows are offered again shortly.
pub(crate) async fn submit_retrying(
    state: &AppState,
    mut rows: Vec<lucarne_core::event::EventRow>,
) -> Result<lucarne_store::CommitTicket, DropReason> {
    loop {
        match state.events.submit(rows) {
            Ok(t) => return Ok(t),
            Err(refused) if matches!(refused.error, StoreError::QueueFull) => {
                rows = refused.rows;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Err(_) => return Err(DropReason::StoreUnavailable),
        }
    }
}

/// Wait for a bulk writer's batch to commit.
pub(crate) async fn wait_committed(t: lucarne_store::CommitTicket) -> Result<(), DropReason> {
    match t.await {
        Ok(Ok(())) => Ok(()),
        _ => Err(DropReason::StoreUnavailable),
    }
}
