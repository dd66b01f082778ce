//! Goals and conversions:
//! - `GET|POST /api/v1/goals`, `DELETE /api/v1/goals/{id}`: a site's goals;
//! - `POST /api/v1/conversions`: a conversion the site's server reports with the token it
//!   kept from the landing URL, credited to that visit however late it comes;
//! - `GET /api/v1/stats/conversions`: conversions, conversion rate and revenue by channel
//!   group, channel, evidence, share channel, link, generation, share or cascade, and the
//!   private-versus-public uplift with its interval.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::Utc;
use lucarne_core::conversions::{self as conv, ExchangeRates, GoalKind, Revenue};
use lucarne_core::event::EventRow;
use lucarne_core::stats::{Property, ReportQuery};
use lucarne_core::token::{NodeKind, Token};
use lucarne_core::ChannelGroup;
use lucarne_store::meta::{Goal, KeyScope, Site};
use lucarne_store::{ConversionGroup, ConversionRow, VisitKey};
use serde::Deserialize;
use serde_json::{json, Value};

use super::stats::{authorized, blocking, require_key, StatsParams};
use crate::error::{ApiError, Path, Query};
use crate::ingest::pipeline::{self, DropReason};
use crate::links::api::{parse_body, site_for, Need};
use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/goals", get(list_goals).post(create_goal))
        .route("/api/v1/goals/{id}", delete(delete_goal))
        .route("/api/v1/conversions", post(server_conversion))
        .route("/api/v1/stats/conversions", get(report))
}

pub fn goal_json(g: &Goal) -> Value {
    json!({
        "id": g.id,
        "name": g.name,
        "kind": g.kind.kind_str(),
        "value": g.kind.value(),
    })
}

#[derive(Deserialize)]
struct SiteParam {
    site_id: Option<String>,
}

async fn list_goals(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<SiteParam>,
) -> Result<Json<Value>, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let site = site_for(&state, &scope, p.site_id.as_deref(), Need::Read).await?;
    let goals = state.meta.goals(site.id).await?;
    Ok(Json(json!({
        "goals": goals.iter().map(goal_json).collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
struct GoalBody {
    site_id: Option<String>,
    /// `event` or `page`; Plausible's `goal_type` is accepted too.
    kind: Option<String>,
    goal_type: Option<String>,
    /// The event name or path pattern; Plausible's `event_name` / `page_path` too.
    value: Option<String>,
    event_name: Option<String>,
    page_path: Option<String>,
    name: Option<String>,
}

/// Check a goal from its kind and value (the dashboard's form shares it).
pub fn parse_goal(kind: &str, value: &str) -> Result<GoalKind, ApiError> {
    GoalKind::parse(kind, value).map_err(|m| ApiError::bad_request("bad_goal", m))
}

async fn create_goal(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let b: GoalBody = parse_body(&body)?;
    let site = site_for(&state, &scope, b.site_id.as_deref(), Need::Write).await?;
    let kind = b.kind.or(b.goal_type).unwrap_or_else(|| {
        if b.page_path.is_some() {
            "page"
        } else {
            "event"
        }
        .into()
    });
    let value = b.value.or(b.event_name).or(b.page_path).unwrap_or_default();
    let goal = parse_goal(&kind, &value)?;
    let created = state
        .meta
        .create_goal(site.id, &goal, b.name.as_deref().unwrap_or(""))
        .await?;
    match created {
        Some(g) => {
            tracing::info!(message = "Goal created.", site_id = site.id, goal_id = g.id);
            Ok((StatusCode::CREATED, Json(goal_json(&g))).into_response())
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "goal_exists",
            "the site has this goal already",
        )),
    }
}

async fn delete_goal(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(p): Query<SiteParam>,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let site = site_for(&state, &scope, p.site_id.as_deref(), Need::Write).await?;
    let gone = state.meta.delete_goal(site.id, id).await?;
    if gone {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found("unknown_goal", format!("no goal {id}")))
    }
}

#[derive(Deserialize)]
struct ConversionBody {
    site_id: Option<String>,
    /// The token kept from the landing URL (`lc`).
    token: Option<String>,
    /// The event name (a goal's event name), e.g. `purchase`.
    name: Option<String>,
    revenue: Option<Value>,
    props: Option<Value>,
    /// The site's own id for this conversion (an order id): sent twice, counted once.
    id: Option<String>,
}

fn conversion_error(state: &AppState, result: &'static str, e: ApiError) -> ApiError {
    state.metrics.conversion(result);
    e
}

/// The visit a token credits: its own visit for a visit token, the first visit that
/// arrived with it for a share, copy or link token.
async fn credited_visit(
    state: &Arc<AppState>,
    site: &Site,
    token: u64,
) -> Result<Option<EventRow>, ApiError> {
    let Some(node) = state.tokens.resolve(&state.events, token).await else {
        return Ok(None);
    };
    if node.site_id != site.id {
        return Ok(None);
    }
    let key = match node.kind {
        NodeKind::Visit => VisitKey::Session(node.session_id),
        NodeKind::Share | NodeKind::Copy | NodeKind::Link => VisitKey::ArrivedWith(token),
    };
    let site_id = site.id;
    blocking(state, move |s| s.events.find_visit(site_id, key)).await
}

async fn server_conversion(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let scope: KeyScope = require_key(&state, &headers).await?;
    let b: ConversionBody =
        parse_body(&body).map_err(|e| conversion_error(&state, "bad_json", e))?;
    let site = site_for(&state, &scope, b.site_id.as_deref(), Need::Write).await?;
    let bad = |reason: &'static str, msg: &str| {
        conversion_error(&state, reason, ApiError::bad_request(reason, msg))
    };
    let name = b.name.as_deref().map(str::trim).unwrap_or_default();
    if name.is_empty()
        || name.chars().count() > pipeline::MAX_NAME
        || name.chars().any(char::is_control)
        || name == "pageview"
    {
        return Err(bad(
            "bad_name",
            "`name` must be an event name of 1 to 120 characters, not `pageview`",
        ));
    }
    if [
        lucarne_core::links::CLICK_EVENT,
        lucarne_core::links::SCAN_EVENT,
        lucarne_core::links::PREVIEW_EVENT,
        pipeline::SURVEY_EVENT,
        "share",
        "copy",
    ]
    .contains(&name)
    {
        return Err(bad(
            "bad_name",
            "this event name is recorded by Lucarne itself",
        ));
    }
    let token = b
        .token
        .as_deref()
        .and_then(|t| Token::parse(t.trim()))
        .ok_or_else(|| {
            bad(
                "bad_token",
                "`token` must be the 11-character `lc` token of the landing URL",
            )
        })?;
    let revenue = pipeline::parse_revenue(b.revenue).map_err(|r| {
        bad(
            r.as_str(),
            "`revenue` must be {\"amount\": number, \"currency\": \"ISO 4217 code\"}",
        )
    })?;
    let props = pipeline::parse_props(b.props).map_err(|_: DropReason| {
        bad(
            "too_many_props",
            "`props` must be a flat object of at most 30 string, number or boolean values",
        )
    })?;
    let order_id = b.id.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if order_id.is_some_and(|i| i.len() > 200) {
        return Err(bad("bad_id", "`id` is longer than 200 characters"));
    }

    let Some(visit) = credited_visit(&state, &site, token.bits()).await? else {
        return Err(conversion_error(
            &state,
            "unknown_token",
            ApiError::not_found(
                "unknown_token",
                "no visit of this site arrived with or minted this token",
            ),
        ));
    };
    if let Some(id) = order_id {
        let fresh = state.meta.claim_conversion_id(site.id, id).await?;
        if !fresh {
            state.metrics.conversion("duplicate");
            return Ok((
                StatusCode::OK,
                Json(json!({ "ok": true, "duplicate": true })),
            )
                .into_response());
        }
    }
    let row = EventRow {
        ts: Utc::now(),
        name: name.to_string(),
        entry: false,
        props,
        revenue,
        token: 0,
        share_channel: String::new(),
        server_side: true,
        ..visit
    };
    let credited = json!({
        "visit": format!("{:016x}", row.session_id),
        "channel": row.channel,
        "channel_group": row.channel_group.as_str(),
        "evidence": row.evidence.as_str(),
        "generation": row.generation,
        "share_channel": row.visit_share_channel,
        "link_id": row.link_id,
        "landing_page": row.entry_page,
    });
    if let Err(reason) = crate::ingest::enqueue(&state, vec![row]).await {
        if let Some(id) = order_id {
            if let Err(e) = state.meta.release_conversion_id(site.id, id).await {
                tracing::warn!(message = "Could not release a conversion id.", error = %e);
            }
        }
        state.metrics.conversion(reason.as_str());
        return Err(reason.into_error());
    }
    state.metrics.conversion("accepted");
    tracing::info!(message = "Server-side conversion.", site_id = site.id);
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "ok": true, "duplicate": false, "credited": credited })),
    )
        .into_response())
}

/// What `by` may name: a visit-level property, `share` or `cascade`.
#[derive(Debug, Clone, PartialEq)]
pub enum By {
    Property(Property),
    Share,
    Cascade,
}

impl By {
    pub fn parse(s: Option<&str>) -> Result<By, ApiError> {
        match s.map(str::trim).unwrap_or("visit:channel_group") {
            "share" => Ok(By::Share),
            "cascade" => Ok(By::Cascade),
            other => {
                let p = Property::parse(other).ok().filter(|p| !p.is_event_level());
                p.map(By::Property).ok_or_else(|| {
                    ApiError::bad_request(
                        "bad_query",
                        format!(
                            "`by` must be a visit property (visit:channel_group, visit:channel, \
                             visit:evidence, visit:share_channel, visit:link, visit:generation, …), \
                             `share` or `cascade`, not `{other}`"
                        ),
                    )
                })
            }
        }
    }

    pub fn name(&self) -> String {
        match self {
            By::Property(p) => p.name(),
            By::Share => "share".into(),
            By::Cascade => "cascade".into(),
        }
    }
}

#[derive(Deserialize)]
pub struct ConversionParams {
    pub site_id: Option<String>,
    pub period: Option<String>,
    pub date: Option<String>,
    pub filters: Option<String>,
    /// A goal's id or name; default: the first goal.
    pub goal: Option<String>,
    pub by: Option<String>,
}

/// A site's money settings.
pub struct Money {
    pub currency: String,
    pub rates: ExchangeRates,
}

impl Money {
    pub async fn of(state: &AppState, site: &Site) -> Result<Money, ApiError> {
        let o = state.site_options(site.id).await?;
        Ok(Money {
            rates: ExchangeRates::parse(&o.exchange_rates).unwrap_or_default(),
            currency: o.currency,
        })
    }

    fn json(&self, revenue: &Revenue, visits: u64) -> Value {
        let c = revenue.in_currency(&self.currency, &self.rates);
        let by_currency: BTreeMap<&str, f64> = revenue
            .by_currency
            .iter()
            .map(|(cur, minor)| (cur.as_str(), conv::major_amount(*minor, cur)))
            .collect();
        json!({
            "total": c.total,
            "currency": self.currency,
            "unconverted": c.unconverted,
            "by_currency": by_currency,
            "per_visit": if visits == 0 { 0.0 } else { (c.total / visits as f64 * 100.0).round() / 100.0 },
        })
    }
}

fn percent(k: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        (k as f64 / n as f64 * 10_000.0).round() / 100.0
    }
}

fn revenue_of(r: &lucarne_store::GoalCounts) -> Revenue {
    let mut rev = Revenue::default();
    for (c, minor) in &r.revenue {
        rev.add(c, *minor);
    }
    rev
}

/// One goal's numbers in a group, as JSON.
fn counts_json(money: &Money, visits: u64, c: &lucarne_store::GoalCounts) -> Value {
    json!({
        "visits": visits,
        "converting_visits": c.converting_visits,
        "conversions": c.conversions,
        "conversion_rate": percent(c.converting_visits, visits),
        "revenue": money.json(&revenue_of(c), visits),
    })
}

/// Rows added up by `key`, in first-seen order.
fn merge_by(
    rows: &[ConversionRow],
    goals: usize,
    key: impl Fn(&ConversionRow) -> String,
) -> Vec<ConversionRow> {
    let mut out: Vec<ConversionRow> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for r in rows {
        let k = key(r);
        let i = *index.entry(k.clone()).or_insert_with(|| {
            out.push(ConversionRow {
                group: k,
                channel_group: String::new(),
                visits: 0,
                goals: vec![lucarne_store::GoalCounts::default(); goals],
            });
            out.len() - 1
        });
        add_row(&mut out[i], r);
    }
    out
}

fn add_row(dst: &mut ConversionRow, src: &ConversionRow) {
    dst.visits += src.visits;
    for (d, s) in dst.goals.iter_mut().zip(&src.goals) {
        d.converting_visits += s.converting_visits;
        d.conversions += s.conversions;
        d.revenue.extend(s.revenue.iter().cloned());
    }
}

/// All groups added up.
fn sum_rows(rows: &[ConversionRow], goals: usize) -> ConversionRow {
    let mut t = ConversionRow {
        goals: vec![lucarne_store::GoalCounts::default(); goals],
        ..ConversionRow::default()
    };
    for r in rows {
        add_row(&mut t, r);
    }
    t
}

/// The private-versus-public comparison from rows grouped by channel group.
pub fn uplift_json(rows: &[ConversionRow], goal: usize) -> Value {
    let (mut pv, mut pk, mut qv, mut qk) = (0, 0, 0, 0);
    for r in rows {
        let Some(c) = r.goals.get(goal) else { continue };
        match ChannelGroup::parse(&r.group) {
            Some(g) if conv::is_private_group(g) => {
                pv += r.visits;
                pk += c.converting_visits;
            }
            Some(ChannelGroup::PublicSocial) => {
                qv += r.visits;
                qk += c.converting_visits;
            }
            _ => {}
        }
    }
    let u = conv::uplift(pk, pv, qk, qv);
    let pct = |x: f64| (x * 10_000.0).round() / 100.0;
    json!({
        "private": { "visits": u.private_visits, "converting_visits": u.private_converting,
                     "conversion_rate": pct(u.private_rate),
                     "interval": [pct(u.private_interval.0), pct(u.private_interval.1)] },
        "public": { "visits": u.public_visits, "converting_visits": u.public_converting,
                    "conversion_rate": pct(u.public_rate),
                    "interval": [pct(u.public_interval.0), pct(u.public_interval.1)] },
        "difference_points": pct(u.difference),
        "difference_interval": [pct(u.difference_low), pct(u.difference_high)],
        "relative_uplift_percent": u.relative.map(|r| (r * 1000.0).round() / 10.0),
        "significant": u.significant,
        "private_groups": ["private-message", "email"],
        "public_groups": ["public-social"],
        "method": u.method,
    })
}

/// Everything the conversion report shows (the stats API answers it; the dashboard
/// renders it).
pub async fn report_json(
    state: &Arc<AppState>,
    site: &Site,
    q: ReportQuery,
    goal: Option<&str>,
    by: &By,
) -> Result<Value, ApiError> {
    if q.filters.iter().any(|f| f.property.is_event_level()) {
        return Err(ApiError::bad_request(
            "bad_query",
            "conversion reports take visit filters only (visit:…)",
        ));
    }
    let goals = state.meta.goals(site.id).await?;
    let money = Money::of(state, site).await?;
    if goals.is_empty() {
        return Ok(json!({
            "currency": money.currency, "goals": [], "goal": null, "by": by.name(),
            "rows": [], "uplift": null,
        }));
    }
    let selected = match goal {
        None => 0,
        Some(g) => goals
            .iter()
            .position(|x| x.id.to_string() == g || x.name == g || x.kind.value() == g)
            .ok_or_else(|| ApiError::not_found("unknown_goal", format!("no goal `{g}`")))?,
    };
    let kinds: Vec<GoalKind> = goals.iter().map(|g| g.kind.clone()).collect();
    let group = match by {
        By::Property(p) => ConversionGroup::Property(p.clone()),
        By::Share => ConversionGroup::Share,
        By::Cascade => ConversionGroup::ShareVisit,
    };
    // Every goal by (asked group, channel group) in one call: merged by group for the
    // rows, by channel group for the uplift, and all together for the totals (a visit
    // belongs to one group).
    let q1 = q.clone();
    let split = blocking(state, move |s| s.events.conversions(&q1, &kinds, &group)).await?;
    let rows = merge_by(&split, goals.len(), |r| r.group.clone());
    let groups = merge_by(&split, goals.len(), |r| r.channel_group.clone());
    let total = sum_rows(&rows, goals.len());
    let rows: Vec<ConversionRow> = rows
        .into_iter()
        .map(|r| ConversionRow {
            goals: r.goals.get(selected).cloned().into_iter().collect(),
            ..r
        })
        .collect();
    let goals_json: Vec<Value> = goals
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let mut v = goal_json(g);
            let c = total.goals.get(i).cloned().unwrap_or_default();
            if let (Value::Object(m), Value::Object(n)) =
                (&mut v, counts_json(&money, total.visits, &c))
            {
                m.extend(n);
            }
            v
        })
        .collect();
    let rows = match by {
        By::Cascade => cascade_rows(state, &q, rows).await?,
        _ => rows,
    };
    let mut rows_json: Vec<(u64, u64, Value)> = rows
        .iter()
        .filter(|r| !(matches!(by, By::Share | By::Cascade) && r.group.is_empty()))
        .filter_map(|r| {
            let c = r.goals.first()?;
            let mut v = counts_json(&money, r.visits, c);
            let label = match by {
                By::Share => Token::from_bits(r.group.parse().unwrap_or(0))
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                _ => r.group.clone(),
            };
            if let Value::Object(m) = &mut v {
                m.insert("value".into(), json!(label));
            }
            Some((c.converting_visits, r.visits, v))
        })
        .collect();
    // Ties broken by the value, so every back end lists rows in the same order.
    rows_json.sort_by(|a, b| {
        b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then_with(|| {
            a.2["value"]
                .as_str()
                .unwrap_or_default()
                .cmp(b.2["value"].as_str().unwrap_or_default())
        })
    });
    let rows_json: Vec<Value> = rows_json.into_iter().take(100).map(|r| r.2).collect();
    Ok(json!({
        "currency": money.currency,
        "goals": goals_json,
        "goal": goal_json(&goals[selected]),
        "by": by.name(),
        "rows": rows_json,
        "uplift": uplift_json(&groups, selected),
    }))
}

/// Conversions of share-visits credited to their cascade's root visit (walking the
/// period's share graph up; a root whose own arrival lies before the period stands for
/// its cascade). The group label is the root visit, `hex session · landing page`.
async fn cascade_rows(
    state: &Arc<AppState>,
    q: &ReportQuery,
    rows: Vec<ConversionRow>,
) -> Result<Vec<ConversionRow>, ApiError> {
    let q = ReportQuery {
        filters: Vec::new(),
        ..q.clone()
    };
    let graph = blocking(state, move |s| s.events.share_graph(&q)).await?;
    let parent: HashMap<u64, u64> = graph
        .edges
        .iter()
        .map(|e| (e.session, e.parent_session))
        .collect();
    let page: HashMap<u64, &str> = graph
        .visits
        .iter()
        .map(|v| (v.session, v.entry_page.as_str()))
        .collect();
    let mut by_root: BTreeMap<u64, ConversionRow> = BTreeMap::new();
    for r in rows {
        let Ok(session) = r.group.parse::<u64>() else {
            continue;
        };
        let root = conv::cascade_root(session, &parent, 10_000);
        let entry = by_root.entry(root).or_insert_with(|| ConversionRow {
            group: format!(
                "{root:016x} · {}",
                page.get(&root).copied().unwrap_or("(before the period)")
            ),
            goals: vec![lucarne_store::GoalCounts::default()],
            ..ConversionRow::default()
        });
        add_row(entry, &r);
    }
    Ok(by_root.into_values().collect())
}

async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<ConversionParams>,
) -> Result<Json<Value>, ApiError> {
    let stats = StatsParams {
        site_id: p.site_id,
        period: p.period,
        date: p.date,
        filters: p.filters,
        ..StatsParams::default()
    };
    let r = authorized(&state, &headers, &stats).await?;
    let by = By::parse(p.by.as_deref())?;
    let q = r.query(r.from, r.to);
    Ok(Json(
        report_json(&state, &r.site, q, p.goal.as_deref(), &by).await?,
    ))
}
