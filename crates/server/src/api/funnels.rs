//! Funnels (ARCHITECTURE.md, "Telling owners when it happens"):
//! - `GET|POST /api/v1/funnels`, `DELETE /api/v1/funnels/{id}`: a site's saved funnels
//!   (owners write; viewers and read keys read);
//! - `GET /api/v1/stats/funnel`: how far the period's visits went through a saved funnel
//!   (`funnel=<id or name>`) or inline steps (`steps=page:/pricing|event:signup`), in
//!   all and, with `by=channel_group|channel`, per group.
//!
//! A step counts for a visit when it happens at or after the time the visit reached the
//! previous step (`core::funnel`); the rates and drop-offs are `core::funnel::
//! step_numbers`. The dashboard's Funnels tab renders the same [`FunnelReport`].

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use lucarne_core::funnel::{step_numbers, Funnel, FunnelStep};
use lucarne_core::stats::ReportQuery;
use lucarne_store::meta::{SavedFunnel, Site};
use lucarne_store::{FunnelGroup, FunnelRow};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::stats::{authorized, blocking, require_key, StatsParams};
use crate::api::links::{deleted, parse_body, site_for, Need, SiteParam};
use crate::error::{ApiError, Path, Query};
use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/funnels", get(list).post(create))
        .route("/api/v1/funnels/{id}", delete(remove))
        .route("/api/v1/stats/funnel", get(report))
}

/// A step as the API writes it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StepRef {
    /// `page` or `event`.
    pub kind: String,
    /// The path pattern or the event name.
    pub value: String,
}

impl StepRef {
    fn of(s: &FunnelStep) -> StepRef {
        StepRef {
            kind: s.kind_str().into(),
            value: s.value().into(),
        }
    }
}

/// A saved funnel as the API names it.
#[derive(Debug, Clone, Serialize)]
pub struct FunnelRef {
    pub id: i64,
    pub name: String,
    pub steps: Vec<StepRef>,
    /// The same steps in the inline syntax of `steps=`.
    pub inline: String,
}

impl FunnelRef {
    pub fn of(f: &SavedFunnel) -> FunnelRef {
        FunnelRef {
            id: f.id,
            name: f.name.clone(),
            steps: f.funnel.steps().iter().map(StepRef::of).collect(),
            inline: f.funnel.inline(),
        }
    }
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<SiteParam>,
) -> Result<Json<Value>, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let site = site_for(&state, &scope, p.site_id.as_deref(), Need::Read).await?;
    let funnels = state.meta.funnels(site.id).await?;
    Ok(Json(json!({
        "funnels": funnels.iter().map(FunnelRef::of).collect::<Vec<_>>()
    })))
}

/// `steps` of a new funnel: a list of `{kind, value}` or the inline string.
#[derive(Deserialize)]
#[serde(untagged)]
enum StepsBody {
    List(Vec<StepRef>),
    Inline(String),
}

#[derive(Deserialize)]
struct FunnelBody {
    site_id: Option<String>,
    name: Option<String>,
    steps: Option<StepsBody>,
}

/// Check a funnel's steps from the API's or the form's (kind, value) pairs.
pub fn parse_steps<'a>(
    pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> Result<Funnel, ApiError> {
    Ok(Funnel::from_pairs(pairs)?)
}

/// Save a funnel (the dashboard's form shares it): 201, 409 `funnel_exists`, or 400.
pub async fn save(
    state: &AppState,
    site: &Site,
    name: &str,
    funnel: &Funnel,
) -> Result<SavedFunnel, ApiError> {
    let name = lucarne_core::funnel::check_name(name)?;
    match state.meta.create_funnel(site.id, &name, funnel).await? {
        Some(f) => {
            tracing::info!(
                message = "Funnel saved.",
                site_id = site.id,
                funnel_id = f.id
            );
            Ok(f)
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "funnel_exists",
            "the site has a funnel of this name already",
        )),
    }
}

async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let b: FunnelBody = parse_body(&body)?;
    let site = site_for(&state, &scope, b.site_id.as_deref(), Need::Write).await?;
    let funnel = match &b.steps {
        None => {
            return Err(ApiError::bad_request(
                "funnel_step_count",
                "`steps` is required: a list of {\"kind\": \"page\"|\"event\", \"value\": …}",
            ))
        }
        Some(StepsBody::List(l)) => {
            parse_steps(l.iter().map(|s| (s.kind.as_str(), s.value.as_str())))?
        }
        Some(StepsBody::Inline(s)) => Funnel::parse_inline(s)?,
    };
    let saved = save(&state, &site, b.name.as_deref().unwrap_or(""), &funnel).await?;
    Ok((StatusCode::CREATED, Json(FunnelRef::of(&saved))).into_response())
}

async fn remove(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(p): Query<SiteParam>,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let site = site_for(&state, &scope, p.site_id.as_deref(), Need::Write).await?;
    let gone = state.meta.delete_funnel(site.id, id).await?;
    deleted(gone, "funnel", "unknown_funnel", site.id, id)
}

// ---------------------------------------------------------------------------------------
// The report: `GET /api/v1/stats/funnel` answers it as JSON, the dashboard's Funnels tab
// renders the same values.

/// How the report breaks visits down (`by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunnelBy {
    None,
    ChannelGroup,
    Channel,
}

impl FunnelBy {
    /// `channel_group`, `channel` (or their `visit:` names); absent or empty: none.
    pub fn parse(s: Option<&str>) -> Result<FunnelBy, ApiError> {
        match s.map(str::trim).unwrap_or("") {
            "" => Ok(FunnelBy::None),
            "channel_group" | "visit:channel_group" => Ok(FunnelBy::ChannelGroup),
            "channel" | "visit:channel" => Ok(FunnelBy::Channel),
            other => Err(ApiError::bad_request(
                "bad_query",
                format!("`by` is `channel_group` or `channel`, not `{other}`"),
            )),
        }
    }

    pub fn name(self) -> Option<&'static str> {
        match self {
            FunnelBy::None => None,
            FunnelBy::ChannelGroup => Some("channel_group"),
            FunnelBy::Channel => Some("channel"),
        }
    }

    fn group(self) -> FunnelGroup {
        match self {
            FunnelBy::None => FunnelGroup::Total,
            FunnelBy::ChannelGroup => FunnelGroup::ChannelGroup,
            FunnelBy::Channel => FunnelGroup::Channel,
        }
    }
}

/// One step's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct StepLine {
    /// What the step is: the path pattern or the event name.
    pub name: String,
    pub kind: &'static str,
    /// Visits that reached this step in order.
    pub visits: u64,
    /// Percent of the visits that entered step 1 (12.5 = 12.5 %).
    pub conversion_rate: f64,
    /// Visits of the previous step that did not reach this one (0 for step 1).
    pub dropped: u64,
    /// `dropped` in percent of the previous step's visits.
    pub drop_off_rate: f64,
}

/// One group of the breakdown.
#[derive(Debug, Clone, Serialize)]
pub struct GroupLine {
    /// The channel group or channel.
    pub value: String,
    /// Visits that entered step 1.
    pub entered: u64,
    /// Visits that reached the last step.
    pub completed: u64,
    /// `completed` in percent of `entered`.
    pub conversion_rate: f64,
    pub steps: Vec<StepLine>,
}

/// Everything the funnel report shows.
#[derive(Debug, Clone, Serialize)]
pub struct FunnelReport {
    /// The saved funnel, when one was asked for.
    pub funnel: Option<FunnelRef>,
    /// The steps in the inline syntax.
    pub inline: String,
    /// The whole period.
    pub steps: Vec<StepLine>,
    /// `channel_group`, `channel`, or none.
    pub by: Option<&'static str>,
    /// Per group (empty without `by`), by visits entering, most first, then by value.
    pub groups: Vec<GroupLine>,
}

fn percent(x: f64) -> f64 {
    (x * 10_000.0).round() / 100.0
}

fn step_lines(funnel: &Funnel, reached: &[u64]) -> Vec<StepLine> {
    funnel
        .steps()
        .iter()
        .zip(step_numbers(reached))
        .map(|(s, n)| StepLine {
            name: s.value().to_string(),
            kind: s.kind_str(),
            visits: n.visits,
            conversion_rate: percent(n.conversion_rate),
            dropped: n.dropped,
            drop_off_rate: percent(n.drop_off_rate),
        })
        .collect()
}

/// The funnel asked for: a saved one (`funnel`, its id or name) or inline `steps`.
pub async fn chosen_funnel(
    state: &AppState,
    site: &Site,
    funnel: Option<&str>,
    steps: Option<&str>,
) -> Result<(Option<SavedFunnel>, Funnel), ApiError> {
    let funnel = funnel.map(str::trim).filter(|s| !s.is_empty());
    let steps = steps.map(str::trim).filter(|s| !s.is_empty());
    match (funnel, steps) {
        (Some(_), Some(_)) | (None, None) => Err(ApiError::bad_request(
            "funnel_missing",
            "give either `funnel` (a saved funnel's id or name) or `steps` \
             (`page:/path|event:name`, 2 to 8 steps)",
        )),
        (None, Some(s)) => Ok((None, Funnel::parse_inline(s)?)),
        (Some(f), None) => {
            let by_id = match f.parse::<i64>() {
                Ok(id) => state.meta.funnel(site.id, id).await?,
                Err(_) => None,
            };
            let saved = match by_id {
                Some(s) => Some(s),
                None => state.meta.funnel_named(site.id, f).await?,
            };
            let saved = saved
                .ok_or_else(|| ApiError::not_found("unknown_funnel", format!("no funnel `{f}`")))?;
            let funnel = saved.funnel.clone();
            Ok((Some(saved), funnel))
        }
    }
}

/// The report of `funnel` over `q` (visit filters only), broken down by `by`.
pub async fn funnel_report(
    state: &Arc<AppState>,
    q: ReportQuery,
    saved: Option<&SavedFunnel>,
    funnel: &Funnel,
    by: FunnelBy,
) -> Result<FunnelReport, ApiError> {
    if q.all_filters().any(|f| f.property.is_event_level()) {
        return Err(ApiError::bad_request(
            "bad_query",
            "funnel reports take visit filters only (visit:…): steps look at every event",
        ));
    }
    let steps = funnel.steps().to_vec();
    let group = by.group();
    let started = std::time::Instant::now();
    let rows: Vec<FunnelRow> = blocking(state, move |s| s.events.funnel(&q, &steps, group)).await?;
    tracing::debug!(
        message = "Funnel report.",
        steps = funnel.steps().len(),
        groups = rows.len(),
        elapsed_ms = started.elapsed().as_millis() as u64
    );
    // Each visit is in one group: the total is their sum.
    let mut total = vec![0u64; funnel.steps().len()];
    for r in &rows {
        for (t, n) in total.iter_mut().zip(&r.reached) {
            *t += n;
        }
    }
    let groups = match by {
        FunnelBy::None => Vec::new(),
        _ => rows
            .iter()
            .map(|r| {
                let entered = r.reached.first().copied().unwrap_or(0);
                let completed = r.reached.last().copied().unwrap_or(0);
                GroupLine {
                    value: r.group.clone(),
                    entered,
                    completed,
                    conversion_rate: percent(if entered == 0 {
                        0.0
                    } else {
                        completed as f64 / entered as f64
                    }),
                    steps: step_lines(funnel, &r.reached),
                }
            })
            .collect(),
    };
    Ok(FunnelReport {
        funnel: saved.map(FunnelRef::of),
        inline: funnel.inline(),
        steps: step_lines(funnel, &total),
        by: by.name(),
        groups,
    })
}

#[derive(Deserialize)]
struct FunnelParams {
    site_id: Option<String>,
    period: Option<String>,
    date: Option<String>,
    filters: Option<String>,
    funnel: Option<String>,
    steps: Option<String>,
    by: Option<String>,
}

async fn report(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<FunnelParams>,
) -> Result<Json<FunnelReport>, ApiError> {
    let stats = StatsParams {
        site_id: p.site_id,
        period: p.period,
        date: p.date,
        filters: p.filters,
        ..StatsParams::default()
    };
    let r = authorized(&state, &headers, &stats).await?;
    let by = FunnelBy::parse(p.by.as_deref())?;
    let (saved, funnel) =
        chosen_funnel(&state, &r.site, p.funnel.as_deref(), p.steps.as_deref()).await?;
    let q = r.query(r.from, r.to);
    Ok(Json(
        funnel_report(&state, q, saved.as_ref(), &funnel, by).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_names_parse_and_bad_ones_are_400() {
        assert_eq!(FunnelBy::parse(None).ok(), Some(FunnelBy::None));
        assert_eq!(
            FunnelBy::parse(Some("visit:channel")).ok(),
            Some(FunnelBy::Channel)
        );
        assert_eq!(
            FunnelBy::parse(Some("channel_group")).ok(),
            Some(FunnelBy::ChannelGroup)
        );
        let e = FunnelBy::parse(Some("country")).err().map(|e| e.reason);
        assert_eq!(e, Some("bad_query"));
    }

    #[test]
    fn step_lines_carry_rates_in_percent() {
        let f = Funnel::parse_inline("page:/a|page:/b/*|event:buy").unwrap_or_else(|e| {
            panic!("{e}");
        });
        let l = step_lines(&f, &[8, 6, 2]);
        assert_eq!(l[1].name, "/b/*");
        assert_eq!(l[2].kind, "event");
        assert_eq!((l[1].visits, l[1].dropped), (6, 2));
        assert_eq!((l[1].conversion_rate, l[1].drop_off_rate), (75.0, 25.0));
        assert_eq!((l[2].conversion_rate, l[2].drop_off_rate), (25.0, 66.67));
    }
}
