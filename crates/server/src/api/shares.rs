//! Share reports: `GET /api/v1/stats/shares` (share metrics, shares by channel and page,
//! private/public ratio and the uncounted-private estimate) and
//! `GET /api/v1/stats/cascades[/{token}]` (largest cascades, drill-down from a token).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, SecondsFormat, Utc};
use lucarne_core::cascade::{self, Cascade, Start};
use lucarne_core::token::{NodeKind, Token};
use lucarne_store::ShareGraph;
use serde_json::{json, Value};

use super::stats::{authorized, blocking, Resolved, StatsParams};
use crate::error::{ApiError, Path, Query};
use crate::state::AppState;

/// The share graph of the request's period.
pub async fn graph(state: &Arc<AppState>, r: &Resolved) -> Result<ShareGraph, ApiError> {
    let q = r.query(r.from, r.to);
    blocking(state, move |s| s.events.share_graph(&q)).await
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn token_text(bits: u64) -> String {
    Token::from_bits(bits)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Everything the share report shows, as JSON (also used by the dashboard's tests).
pub fn report_json(g: &ShareGraph) -> Value {
    let m = cascade::metrics(&g.edges, &g.shares);
    let mut by_channel: BTreeMap<&str, u64> = BTreeMap::new();
    for s in &g.shares {
        *by_channel.entry(s.share_channel.as_str()).or_default() += 1;
    }
    let mut channels: Vec<(&str, u64)> = by_channel.into_iter().collect();
    channels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let pages: Vec<Value> = cascade::share_ratio(
        &g.shares,
        &g.edges,
        &g.public_visits_without_token,
    )
    .into_iter()
    .map(|p| {
        json!({
            "page": p.page,
            "private": p.private,
            "public": p.public,
            "private_public_ratio": p.ratio,
            "public_share_visits": p.public_share_visits,
            "public_visits_without_token": p.public_visits_without_token,
            "estimated_public_shares_outside_widget": p.estimated_public_shares_outside_widget,
            "estimated_uncounted_private_shares": p.estimated_uncounted_private,
        })
    })
    .collect();
    json!({
        "metrics": {
            "shares": m.shares,
            "share_visits": m.share_visits,
            "visits_per_share": m.visits_per_share,
            "reshare_rate": m.reshare_rate,
            "k_factor": m.k_factor,
            "max_depth": m.max_depth,
            "mean_depth": m.mean_depth,
            "max_breadth": m.max_breadth,
            "cascades": m.cascades,
        },
        "generations": m.generations.iter()
            .map(|(g, n)| json!({ "generation": g, "visits": n }))
            .collect::<Vec<_>>(),
        "by_channel": channels.iter()
            .map(|(c, n)| json!({ "share_channel": c, "shares": n }))
            .collect::<Vec<_>>(),
        "by_page": pages,
    })
}

/// Visits listed per cascade in `/cascades` (the largest trees hold thousands; the
/// drill-down gives a whole subtree).
pub const LIST_NODES: usize = 1_000;
/// Visits listed in a drill-down at most.
pub const DRILL_NODES: usize = 20_000;

/// A cascade as JSON: its first `max_nodes` nodes in breadth-first order (root first, so
/// every listed node's parent is listed), each with its parent's index and a layout point
/// in [0, 1]² for drawing; `nodes_total` and `truncated` say what was left out.
pub fn cascade_json(c: &Cascade, max_nodes: usize) -> Value {
    let points = cascade::layout(c);
    let nodes: Vec<Value> = c
        .nodes
        .iter()
        .zip(points)
        .take(max_nodes)
        .map(|(n, (x, y))| {
            json!({
                "visit": format!("{:016x}", n.session),
                "parent": n.parent,
                "generation": n.generation,
                "depth": n.depth,
                "ts": ts(n.ts),
                "page": n.page,
                "channel": n.channel,
                "share_channel": n.share_channel,
                "token": token_text(n.parent_token),
                "x": x,
                "y": y,
            })
        })
        .collect();
    json!({
        "root": format!("{:016x}", c.root),
        "page": c.page,
        "size": c.size,
        "depth": c.depth,
        "breadth": c.breadth,
        "first_ts": ts(c.first_ts),
        "last_ts": ts(c.last_ts),
        "nodes_total": c.nodes.len(),
        "truncated": c.nodes.len() > max_nodes,
        "nodes": nodes,
    })
}

pub async fn shares(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Result<Json<Value>, ApiError> {
    let r = authorized(&state, &headers, &p).await?;
    let g = graph(&state, &r).await?;
    Ok(Json(report_json(&g)))
}

/// The largest cascades of the period, optionally of one page (`page=/path`).
pub async fn cascades(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Result<Json<Value>, ApiError> {
    let r = authorized(&state, &headers, &p).await?;
    let limit = p.limit.unwrap_or(10).clamp(1, 100);
    let g = graph(&state, &r).await?;
    let all = cascade::build(&g.edges, &g.visits);
    let results: Vec<Value> = all
        .iter()
        .filter(|c| p.path.as_deref().is_none_or(|page| c.page == page))
        .take(limit)
        .map(|c| cascade_json(c, LIST_NODES))
        .collect();
    Ok(Json(json!({ "results": results })))
}

/// Drill-down: the subtree under a token. A visit token gives that visit's whole
/// subtree; a share or copy token gives the visits that arrived through it and theirs.
pub async fn cascade_of_token(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(token): Path<String>,
    Query(p): Query<StatsParams>,
) -> Result<Json<Value>, ApiError> {
    let r = authorized(&state, &headers, &p).await?;
    let c = subtree_of(&state, &r, &token).await?;
    Ok(Json(cascade_json(&c, DRILL_NODES)))
}

/// The subtree under `token` in `r`'s period, or a 400/404 JSON error.
pub async fn subtree_of(
    state: &Arc<AppState>,
    r: &Resolved,
    token: &str,
) -> Result<Cascade, ApiError> {
    let t = Token::parse(token).ok_or_else(|| {
        ApiError::bad_request("bad_token", "not a token: 11 URL-safe base64 characters")
    })?;
    let bits = t.bits();
    let not_found = || {
        ApiError::not_found(
            "unknown_token",
            "no visit arrived through this token in the period",
        )
    };
    let node = state
        .tokens
        .resolve(&state.events, bits)
        .await
        .filter(|n| n.site_id == r.site.id)
        .ok_or_else(not_found)?;
    let g = graph(state, r).await?;
    let start = match node.kind {
        NodeKind::Visit => Start::Session(node.session_id),
        NodeKind::Share | NodeKind::Copy | NodeKind::Link => Start::Token(bits),
    };
    cascade::subtree(&g.edges, &g.visits, start).ok_or_else(not_found)
}
