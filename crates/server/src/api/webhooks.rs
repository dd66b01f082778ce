//! Webhooks through the API (issue 23), as on the Notifications page:
//! - `GET /api/v1/webhooks?site_id=…`: the site's webhooks, without their secrets;
//! - `POST /api/v1/webhooks` `{"site_id", "url", "events": ["alerts", "conversions"]}`:
//!   add one; the answer holds its secret, the only time it is shown;
//! - `DELETE /api/v1/webhooks/{id}?site_id=…`;
//! - `POST /api/v1/webhooks/{id}/test?site_id=…`: queue a signed `test` call, sent by the
//!   next notification round (within a minute) like any other.
//!
//! Owners' keys write; read keys list.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::Utc;
use lucarne_store::meta::{Channel, NewDelivery, Webhook};
use serde::Deserialize;
use serde_json::{json, Value};

use super::stats::require_key;
use crate::api::links::{deleted, parse_body, site_for, Need, SiteParam};
use crate::error::{ApiError, Path, Query};
use crate::state::AppState;

/// Most webhooks a site has.
pub const MAX_WEBHOOKS: usize = 10;
/// What a webhook can receive.
pub const EVENTS: [&str; 2] = ["alerts", "conversions"];

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/webhooks", get(list).post(create))
        .route("/api/v1/webhooks/{id}", delete(remove))
        .route("/api/v1/webhooks/{id}/test", post(test))
}

fn public(w: &Webhook) -> Value {
    json!({"id": w.id, "url": w.url, "events": w.events})
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<SiteParam>,
) -> Result<Json<Value>, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let site = site_for(&state, &scope, p.site_id.as_deref(), Need::Read).await?;
    let hooks = state.meta.webhooks(site.id).await?;
    Ok(Json(
        json!({"webhooks": hooks.iter().map(public).collect::<Vec<_>>()}),
    ))
}

#[derive(Deserialize)]
struct CreateBody {
    site_id: Option<String>,
    url: Option<String>,
    events: Option<Vec<String>>,
}

async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let b: CreateBody = parse_body(&body)?;
    let site = site_for(&state, &scope, b.site_id.as_deref(), Need::Write).await?;
    let url = lucarne_core::links::check_target(
        b.url.as_deref().unwrap_or("").trim(),
        state.allow_private_targets,
    )
    .map_err(|e| ApiError::bad_request("bad_url", e.to_string()))?;
    let events: Vec<&str> = EVENTS
        .into_iter()
        .filter(|e| b.events.as_ref().is_some_and(|v| v.iter().any(|x| x == e)))
        .collect();
    let unknown = b
        .events
        .iter()
        .flatten()
        .any(|e| !EVENTS.contains(&e.as_str()));
    if events.is_empty() || unknown {
        return Err(ApiError::bad_request(
            "bad_events",
            "`events` is a list of `alerts` and/or `conversions`",
        ));
    }
    if state.meta.webhooks(site.id).await?.len() >= MAX_WEBHOOKS {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_webhooks",
            format!("a site has at most {MAX_WEBHOOKS} webhooks"),
        ));
    }
    let w = state
        .meta
        .create_webhook(site.id, url.as_str(), &events)
        .await?;
    tracing::info!(
        message = "Webhook added.",
        site_id = site.id,
        webhook_id = w.id
    );
    let mut v = public(&w);
    v["secret"] = json!(w.secret);
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

async fn remove(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(p): Query<SiteParam>,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let site = site_for(&state, &scope, p.site_id.as_deref(), Need::Write).await?;
    let gone = state.meta.delete_webhook(site.id, id).await?;
    deleted(gone, "webhook", "unknown_webhook", site.id, id)
}

async fn test(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(p): Query<SiteParam>,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let site = site_for(&state, &scope, p.site_id.as_deref(), Need::Write).await?;
    let hook = state
        .meta
        .webhook(id)
        .await?
        .filter(|w| w.site_id == site.id)
        .ok_or_else(|| ApiError::not_found("unknown_webhook", format!("no webhook {id}")))?;
    let now = Utc::now();
    let text = format!("{}: a test call from Lucarne", site.domain);
    let body = json!({
        "type": "test",
        "site": site.domain,
        "created_at": now.to_rfc3339(),
        "data": {},
        "text": text,
        "content": text,
    })
    .to_string();
    state
        .meta
        .enqueue_delivery(&NewDelivery {
            site_id: site.id,
            channel: Channel::Webhook,
            target: &hook.id.to_string(),
            kind: "test",
            dedupe: &format!("test:{}:{}", hook.id, now.timestamp_micros()),
            payload: &body,
            not_before: now,
        })
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"queued": true, "webhook": hook.id})),
    )
        .into_response())
}
