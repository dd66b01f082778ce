//! JSON APIs: stats, health, metrics.

pub mod annotations;
pub mod conversions;
pub mod funnels;
pub mod imported;
pub mod links;
pub mod query;
pub mod shares;
pub mod stats;
pub mod surveys;
pub mod v2;
pub mod webhooks;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::state::AppState;

/// `GET /api/health`: liveness. 200 as long as the process answers HTTP; a supervisor
/// restarts the server when it does not. Whether it can take events is readiness
/// ([`ready`]): restarting would not bring back a full disk or a stopped database.
pub async fn health() -> Response {
    (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))).into_response()
}

/// `GET /api/ready`: readiness. 200 when the events store takes events, the metadata store
/// answers and the data directory has its minimum of free space; otherwise 503 with the
/// first failing check as `reason`. Every check is listed under `checks`.
pub async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let mut reasons = Vec::new();
    let events = match state.events.problem() {
        None => "ok".to_string(),
        Some(p) => {
            reasons.push(p.clone());
            p
        }
    };
    let meta =
        match tokio::time::timeout(std::time::Duration::from_secs(2), state.meta.ping()).await {
            Ok(Ok(())) => "ok".to_string(),
            Ok(Err(e)) => {
                let p = format!("the metadata store does not answer: {e}");
                reasons.push(p.clone());
                p
            }
            Err(_) => {
                let p = "the metadata store did not answer within 2 s".to_string();
                reasons.push(p.clone());
                p
            }
        };
    let disk = match &state.data_dir {
        None => serde_json::json!("not checked"),
        Some(dir) => match free_bytes(dir) {
            Ok(free) => {
                if free < state.min_free_disk_bytes {
                    reasons.push(format!(
                        "{} MiB free in the data directory, below the minimum of {} MiB",
                        free >> 20,
                        state.min_free_disk_bytes >> 20
                    ));
                }
                serde_json::json!({
                    "free_bytes": free,
                    "min_free_bytes": state.min_free_disk_bytes,
                })
            }
            Err(e) => {
                let p = format!("cannot read the free space of the data directory: {e}");
                reasons.push(p.clone());
                serde_json::json!(p)
            }
        },
    };
    let checks = serde_json::json!({ "events": events, "meta": meta, "disk": disk });
    match reasons.first() {
        None => (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready", "checks": checks })),
        )
            .into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            Json(serde_json::json!({
                "status": "not_ready",
                "reason": reason,
                "checks": checks,
            })),
        )
            .into_response(),
    }
}

/// Bytes available to this (unprivileged) process on the filesystem holding `path`.
pub fn free_bytes(path: &std::path::Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call; `st` is a plain C
    // struct statvfs fills in, read only when it returns 0.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

/// `GET /metrics` on the main listener: [`metrics_page`], unless the metrics have an
/// address of their own (`--metrics-listen`): then 404 here.
pub async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if state.metrics_access.separate_listener {
        return crate::error::ApiError::not_found("not_found", "no such route").into_response();
    }
    metrics_page(State(state), headers).await
}

/// `GET /metrics`: Prometheus text format. With a metrics token configured, only for
/// `Authorization: Bearer <token>` (401 otherwise, compared in constant time).
pub async fn metrics_page(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.metrics_access.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !crate::limits::constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                Json(serde_json::json!({
                    "error": "unauthorized",
                    "message": "/metrics needs Authorization: Bearer <the metrics token>",
                })),
            )
                .into_response();
        }
    }
    state
        .metrics
        .queue_depth
        .set(state.events.queue_len() as i64);
    state.metrics.visit_bytes.set(state.sessions.bytes() as i64);
    state
        .metrics
        .visit_evictions
        .set(state.sessions.evictions() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}
