//! JSON APIs: stats, health, metrics.

pub mod conversions;
pub mod imported;
pub mod links;
pub mod query;
pub mod shares;
pub mod stats;
pub mod surveys;
pub mod v2;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::state::AppState;

/// `GET /api/health`: 200 when the server can accept and store events.
pub async fn health(State(state): State<Arc<AppState>>) -> Response {
    match state.events.problem() {
        None => (StatusCode::OK, Json(serde_json::json!({ "status": "ok" }))).into_response(),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "unavailable", "reason": reason })),
        )
            .into_response(),
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<Arc<AppState>>) -> Response {
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
