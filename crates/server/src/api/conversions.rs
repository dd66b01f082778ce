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
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::stats::{authorized, blocking, require_key, StatsParams};
use crate::api::links::{deleted, parse_body, site_for, Need, SiteParam};
use crate::error::{ApiError, Path, Query};
use crate::ingest::pipeline::{self, DropReason};
use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/goals", get(list_goals).post(create_goal))
        .route("/api/v1/goals/{id}", delete(delete_goal))
        .route("/api/v1/conversions", post(server_conversion))
        .route("/api/v1/stats/conversions", get(report))
}

/// A goal as the API names it.
#[derive(Debug, Clone, Serialize)]
pub struct GoalRef {
    pub id: i64,
    pub name: String,
    /// `event` or `page`.
    pub kind: &'static str,
    /// The event name or the page path.
    pub value: String,
}

impl GoalRef {
    pub fn of(g: &Goal) -> GoalRef {
        GoalRef {
            id: g.id,
            name: g.name.clone(),
            kind: g.kind.kind_str(),
            value: g.kind.value().to_string(),
        }
    }
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
        "goals": goals.iter().map(GoalRef::of).collect::<Vec<_>>()
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
            Ok((StatusCode::CREATED, Json(GoalRef::of(&g))).into_response())
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
    deleted(gone, "goal", "unknown_goal", site.id, id)
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
    // The visit's identity and visit-level fields; the event's own are this conversion's.
    let row = EventRow {
        site_id: visit.site_id,
        ts: Utc::now(),
        name: name.to_string(),
        visitor_id: visit.visitor_id,
        session_id: visit.session_id,
        hostname: visit.hostname,
        pathname: visit.pathname,
        props,
        revenue,
        server_side: true,
        visit: visit.visit,
        ..Default::default()
    };
    let credited = json!({
        "visit": format!("{:016x}", row.session_id),
        "channel": row.visit.channel,
        "channel_group": row.visit.channel_group.as_str(),
        "evidence": row.visit.evidence.as_str(),
        "generation": row.visit.generation,
        "share_channel": row.visit.visit_share_channel,
        "link_id": row.visit.link_id,
        "landing_page": row.visit.entry_page,
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

    fn amount(&self, revenue: &Revenue, visits: u64) -> Amount {
        let c = revenue.in_currency(&self.currency, &self.rates);
        let by_currency: BTreeMap<String, f64> = revenue
            .by_currency
            .iter()
            .map(|(cur, minor)| (cur.clone(), conv::major_amount(*minor, cur)))
            .collect();
        Amount {
            total: c.total,
            currency: self.currency.clone(),
            unconverted: c.unconverted,
            by_currency,
            per_visit: if visits == 0 {
                0.0
            } else {
                (c.total / visits as f64 * 100.0).round() / 100.0
            },
        }
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

/// One goal's numbers in a group.
fn counts(money: &Money, visits: u64, c: &lucarne_store::GoalCounts) -> Counts {
    Counts {
        visits,
        converting_visits: c.converting_visits,
        conversions: c.conversions,
        conversion_rate: percent(c.converting_visits, visits),
        revenue: money.amount(&revenue_of(c), visits),
    }
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
pub fn uplift(rows: &[ConversionRow], goal: usize) -> Uplift {
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
    Uplift {
        private: Side {
            visits: u.private_visits,
            converting_visits: u.private_converting,
            conversion_rate: pct(u.private_rate),
            interval: [pct(u.private_interval.0), pct(u.private_interval.1)],
        },
        public: Side {
            visits: u.public_visits,
            converting_visits: u.public_converting,
            conversion_rate: pct(u.public_rate),
            interval: [pct(u.public_interval.0), pct(u.public_interval.1)],
        },
        difference_points: pct(u.difference),
        difference_interval: [pct(u.difference_low), pct(u.difference_high)],
        relative_uplift_percent: u.relative.map(|r| (r * 1000.0).round() / 10.0),
        significant: u.significant,
        private_groups: ["private-message", "email"],
        public_groups: ["public-social"],
        method: u.method,
    }
}

// ---------------------------------------------------------------------------------------
// The conversion report: `GET /api/v1/stats/conversions` answers it as JSON, the
// dashboard's Conversions tab renders the same values.

/// Revenue in the site's currency.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Amount {
    /// In the site's currency, major units.
    pub total: f64,
    pub currency: String,
    /// Currencies without an exchange rate, left out of `total`.
    pub unconverted: Vec<String>,
    /// Major units per currency.
    pub by_currency: BTreeMap<String, f64>,
    pub per_visit: f64,
}

/// One goal's numbers in a group of visits.
#[derive(Debug, Clone, Serialize)]
pub struct Counts {
    pub visits: u64,
    pub converting_visits: u64,
    pub conversions: u64,
    /// Percent (12.5 = 12.5 %).
    pub conversion_rate: f64,
    pub revenue: Amount,
}

/// A goal and its totals over the period.
#[derive(Debug, Clone, Serialize)]
pub struct GoalLine {
    pub id: i64,
    pub name: String,
    pub kind: &'static str,
    pub value: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// One group of the breakdown (a channel, a share token, a cascade …).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub value: String,
    #[serde(flatten)]
    pub counts: Counts,
}

/// Private or public visits in the uplift.
#[derive(Debug, Clone, Serialize)]
pub struct Side {
    pub visits: u64,
    pub converting_visits: u64,
    /// Percent, and its 95 % interval in percent.
    pub conversion_rate: f64,
    pub interval: [f64; 2],
}

/// Private-versus-public conversion rates of the selected goal.
#[derive(Debug, Clone, Serialize)]
pub struct Uplift {
    pub private: Side,
    pub public: Side,
    /// Percentage points, and its 95 % interval.
    pub difference_points: f64,
    pub difference_interval: [f64; 2],
    pub relative_uplift_percent: Option<f64>,
    pub significant: bool,
    pub private_groups: [&'static str; 2],
    pub public_groups: [&'static str; 1],
    pub method: &'static str,
}

/// Everything the conversion report shows.
#[derive(Debug, Clone, Serialize)]
pub struct ConversionReport {
    pub currency: String,
    pub goals: Vec<GoalLine>,
    /// The selected goal (none when the site has no goal).
    pub goal: Option<GoalRef>,
    /// The breakdown's name (`visit:channel_group`, `share`, `cascade` …).
    pub by: String,
    /// At most 100, by converting visits, then visits, then value.
    pub rows: Vec<Row>,
    pub uplift: Option<Uplift>,
}

/// Everything the conversion report shows (the stats API answers it; the dashboard
/// renders it).
pub async fn conversion_report(
    state: &Arc<AppState>,
    site: &Site,
    q: ReportQuery,
    goal: Option<&str>,
    by: &By,
) -> Result<ConversionReport, ApiError> {
    if q.filters.iter().any(|f| f.property.is_event_level()) {
        return Err(ApiError::bad_request(
            "bad_query",
            "conversion reports take visit filters only (visit:…)",
        ));
    }
    let goals = state.meta.goals(site.id).await?;
    let money = Money::of(state, site).await?;
    if goals.is_empty() {
        return Ok(ConversionReport {
            currency: money.currency,
            goals: Vec::new(),
            goal: None,
            by: by.name(),
            rows: Vec::new(),
            uplift: None,
        });
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
    let goal_lines: Vec<GoalLine> = goals
        .iter()
        .enumerate()
        .map(|(i, g)| GoalLine {
            id: g.id,
            name: g.name.clone(),
            kind: g.kind.kind_str(),
            value: g.kind.value().to_string(),
            counts: counts(
                &money,
                total.visits,
                &total.goals.get(i).cloned().unwrap_or_default(),
            ),
        })
        .collect();
    let rows = match by {
        By::Cascade => cascade_rows(state, &q, rows).await?,
        _ => rows,
    };
    let mut lines: Vec<Row> = rows
        .iter()
        .filter(|r| !(matches!(by, By::Share | By::Cascade) && r.group.is_empty()))
        .filter_map(|r| {
            let c = r.goals.first()?;
            let label = match by {
                By::Share => Token::from_bits(r.group.parse().unwrap_or(0))
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                _ => r.group.clone(),
            };
            Some(Row {
                value: label,
                counts: counts(&money, r.visits, c),
            })
        })
        .collect();
    // Ties broken by the value, so every back end lists rows in the same order.
    lines.sort_by(|a, b| {
        let key = |r: &Row| (r.counts.converting_visits, r.counts.visits);
        key(b).cmp(&key(a)).then_with(|| a.value.cmp(&b.value))
    });
    lines.truncate(100);
    Ok(ConversionReport {
        currency: money.currency,
        goals: goal_lines,
        goal: goals.get(selected).map(GoalRef::of),
        by: by.name(),
        rows: lines,
        uplift: Some(uplift(&groups, selected)),
    })
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
) -> Result<Json<ConversionReport>, ApiError> {
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
        conversion_report(&state, &r.site, q, p.goal.as_deref(), &by).await?,
    ))
}
