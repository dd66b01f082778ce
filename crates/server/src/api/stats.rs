//! The stats API, following Plausible's Stats API v1 conventions:
//! `GET /api/v1/stats/{aggregate,timeseries,breakdown}` with `site_id`, `period`, `date`,
//! `metrics`, `filters`, `property`, `interval`, `limit`, `page`, `compare`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use lucarne_core::query::{Dimension, Direction, OrderKey, Query as CoreQuery};
use lucarne_core::stats::{
    chrono_tz_shim, utc_range, Aggregates, Filter, Interval, Metric, Period, Property, ReportQuery,
    Value,
};
use lucarne_store::meta::{KeyScope, Site};
use serde::Deserialize;
use serde_json::{json, Map};

use super::imported::Skip;
use crate::error::{ApiError, Query};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct StatsParams {
    pub site_id: Option<String>,
    pub period: Option<String>,
    pub date: Option<String>,
    pub metrics: Option<String>,
    pub filters: Option<String>,
    pub property: Option<String>,
    pub interval: Option<String>,
    pub limit: Option<usize>,
    pub page: Option<usize>,
    pub compare: Option<String>,
    /// Add imported history (`true`), as Plausible's v1 does.
    pub with_imported: Option<bool>,
    /// A page path (cascade reports).
    pub path: Option<String>,
}

/// A site's IANA zone as the core's time-zone abstraction.
pub struct SiteTz(pub chrono_tz::Tz);

impl chrono_tz_shim::Tz for SiteTz {
    fn to_utc(&self, local: NaiveDateTime) -> chrono::DateTime<Utc> {
        match self.0.from_local_datetime(&local) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(a, _) => a.with_timezone(&Utc),
            // A gap (spring forward): the first valid instant after it.
            chrono::LocalResult::None => {
                let later = local + chrono::Duration::hours(1);
                self.0
                    .from_local_datetime(&later)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .unwrap_or_else(|| local.and_utc())
            }
        }
    }
    fn local_date(&self, at: chrono::DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.0).date_naive()
    }
}

pub fn site_tz(site: &Site) -> SiteTz {
    SiteTz(site.timezone.parse().unwrap_or(chrono_tz::UTC))
}

/// The sites a Bearer key may read: every site for instance keys made with the CLI, the
/// owner's sites (at request time) for keys made in the dashboard.
pub async fn require_key(state: &AppState, headers: &HeaderMap) -> Result<KeyScope, ApiError> {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    match state.meta.api_key_sites(key).await {
        Ok(Some(scope)) => Ok(scope),
        Ok(None) => Err(ApiError::unauthorized()),
        Err(e) => Err(e.into()),
    }
}

/// The request's key, the site and period it asks for, and the check that the key may
/// read that site: the common start of every stats endpoint.
pub(crate) async fn authorized(
    state: &AppState,
    headers: &HeaderMap,
    p: &StatsParams,
) -> Result<Resolved, ApiError> {
    let scope = require_key(state, headers).await?;
    // The scope is checked before any other parameter is read: a key that may not read
    // the site gets the same answer as for a site that does not exist, whatever else the
    // request says (a bad period must not tell the two apart).
    let site = site_of(state, p).await?;
    in_scope(&scope, &site)?;
    resolve_params(site, p)
}

/// A key that may not read this site gets the same answer as for a site that does not
/// exist: no site's existence leaks to other users' keys.
fn in_scope(scope: &KeyScope, site: &Site) -> Result<(), ApiError> {
    if scope.allows(site.id) {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "unknown_site",
            format!("no site `{}`", site.domain),
        ))
    }
}

/// Everything a stats request resolves to before it reaches the store.
pub struct Resolved {
    pub site: Site,
    pub tz: SiteTz,
    pub period: Period,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub metrics: Vec<Metric>,
    pub filters: Vec<Filter>,
}

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("bad_query", e.to_string())
}

pub async fn resolve(state: &AppState, p: &StatsParams) -> Result<Resolved, ApiError> {
    let site = site_of(state, p).await?;
    resolve_params(site, p)
}

/// The site named by `site_id` (404 when there is none).
async fn site_of(state: &AppState, p: &StatsParams) -> Result<Site, ApiError> {
    let domain = p
        .site_id
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("bad_query", "`site_id` is required"))?;
    state
        .site(&lucarne_core::url_clean::normalise_host(domain))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_site", format!("no site `{domain}`")))
}

/// The period, metrics and filters of a request on a known site.
fn resolve_params(site: Site, p: &StatsParams) -> Result<Resolved, ApiError> {
    resolve_site(
        site,
        p.period.as_deref(),
        p.date.as_deref(),
        p.metrics.as_deref(),
        p.filters.as_deref(),
    )
}

/// The first and last dates a report may name.
pub const MIN_REPORT_DATE: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => NaiveDate::MIN,
};
pub const MAX_REPORT_DATE: NaiveDate = match NaiveDate::from_ymd_opt(9999, 12, 31) {
    Some(d) => d,
    None => NaiveDate::MAX,
};

/// The part of [`resolve`] after the site is known: the dashboard (which has already
/// checked access to the site) shares it, so both compute the same date range from the
/// same parameters.
pub fn resolve_site(
    site: Site,
    period: Option<&str>,
    date: Option<&str>,
    metrics: Option<&str>,
    filters: Option<&str>,
) -> Result<Resolved, ApiError> {
    let tz = site_tz(&site);
    let period = Period::parse(period.unwrap_or("30d"), date).map_err(bad)?;
    let today = match (&period, date) {
        (Period::Custom(..), _) | (_, None) => chrono_tz_shim::Tz::local_date(&tz, Utc::now()),
        (_, Some(d)) => {
            NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| bad(format!("bad date `{d}`")))?
        }
    };
    // Reports cover the years analytics can hold; outside them a date is refused before
    // any calendar arithmetic is done with it (chrono's range ends at ±262,143).
    let in_range = |d: NaiveDate| (MIN_REPORT_DATE..=MAX_REPORT_DATE).contains(&d);
    let custom_ok = match period {
        Period::Custom(a, b) => in_range(a) && in_range(b),
        _ => true,
    };
    if !in_range(today) || !custom_ok {
        return Err(ApiError::bad_request(
            "bad_date",
            "dates must be between 1970-01-01 and 9999-12-31",
        ));
    }
    let (from, to) = period.try_dates(today).map_err(bad)?;
    if (to - from).num_days() > 3660 {
        return Err(ApiError::bad_request(
            "bad_query",
            "the date range is longer than ten years",
        ));
    }
    let metrics = Metric::parse_list(metrics.unwrap_or("visitors")).map_err(bad)?;
    let filters = Filter::parse_list(filters.unwrap_or("")).map_err(bad)?;
    Ok(Resolved {
        site,
        tz,
        period,
        from,
        to,
        metrics,
        filters,
    })
}

impl Resolved {
    /// The shared query model for these dates, grouped by `dimensions`: checked as every
    /// API's queries are (a 400 with the reason).
    pub fn to_query(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        dimensions: Vec<Dimension>,
        limit: usize,
        offset: usize,
    ) -> Result<CoreQuery, ApiError> {
        let q = CoreQuery {
            metrics: self.metrics.clone(),
            from,
            to,
            instants: None,
            dimensions,
            filters: self.filters.clone(),
            conditions: Vec::new(),
            order_by: Vec::new(),
            limit,
            offset,
        };
        q.check().map_err(bad)?;
        Ok(q)
    }

    pub fn query(&self, from: NaiveDate, to: NaiveDate) -> ReportQuery {
        let (f, t) = utc_range(&self.tz, from, to);
        ReportQuery {
            site_id: self.site.id,
            from: f,
            to: t,
            filters: self.filters.clone(),
            conditions: Vec::new(),
            with_sessions: self.metrics.iter().any(|m| m.needs_sessions()),
            with_shares: self.metrics.iter().any(|m| m.needs_shares()),
        }
    }
}

/// `limit` and the row offset of `page`, bounded by `core::stats::paging`: a page out of
/// range is a 400, never an overflow or a store error.
pub fn paging(limit: Option<usize>, page: Option<usize>) -> Result<(usize, usize), ApiError> {
    lucarne_core::stats::paging(limit.map(|n| n as u64), page.map(|n| n as u64)).map_err(bad)
}

/// Run a blocking store call off the async runtime.
pub async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> Result<T, lucarne_store::StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || f(&st))
        .await
        .map_err(|e| ApiError::internal("report task", e))?
        .map_err(|e| ApiError::internal("report query", e))
}

/// A metric's value in an answer (`dark_share` as its two parts' sum).
pub(crate) fn value_json(v: Value) -> serde_json::Value {
    match v {
        Value::Count(n) | Value::Percent(n) => json!(n),
        Value::Float(x) => json!(x),
        Value::DarkShare {
            identified,
            estimated,
        } => json!(((identified + estimated) * 10.0).round() / 10.0),
        Value::None => serde_json::Value::Null,
    }
}

/// One result row: `{key: label, metric: value, …}`.
fn result_row(key: &str, label: &str, a: &Aggregates, metrics: &[Metric]) -> serde_json::Value {
    let mut m = Map::new();
    m.insert(key.into(), json!(label));
    row_metrics(a, metrics, &mut m);
    serde_json::Value::Object(m)
}

/// Metric values of one row, flattened (`dark_share` adds its two parts alongside).
pub fn row_metrics(a: &Aggregates, metrics: &[Metric], out: &mut Map<String, serde_json::Value>) {
    for m in metrics {
        let v = a.value(*m);
        out.insert(m.as_str().into(), value_json(v));
        if let Value::DarkShare {
            identified,
            estimated,
        } = v
        {
            out.insert("dark_share_identified".into(), json!(identified));
            out.insert("dark_share_estimated".into(), json!(estimated));
        }
    }
}

fn change(now: Value, before: Value) -> serde_json::Value {
    let (a, b) = match (now, before) {
        (Value::Count(a), Value::Count(b)) | (Value::Percent(a), Value::Percent(b)) => {
            (a as f64, b as f64)
        }
        (Value::Float(a), Value::Float(b)) => (a, b),
        (
            Value::DarkShare {
                identified: i1,
                estimated: e1,
            },
            Value::DarkShare {
                identified: i2,
                estimated: e2,
            },
        ) => return json!(((i1 + e1 - i2 - e2) * 10.0).round() / 10.0),
        _ => return serde_json::Value::Null,
    };
    if matches!(now, Value::Percent(_)) {
        return json!(a - b);
    }
    if b == 0.0 {
        return if a == 0.0 { json!(0) } else { json!(100) };
    }
    json!(((a - b) / b * 100.0).round())
}

fn meta(metrics: &[Metric]) -> serde_json::Value {
    let approx: Vec<&str> = metrics
        .iter()
        .filter(|m| m.is_estimate())
        .map(|m| m.as_str())
        .collect();
    json!({ "approximate": approx })
}

pub async fn aggregate(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = authorized(&state, &headers, &p).await?;
    let q = r.to_query(r.from, r.to, Vec::new(), 1, 0)?;
    let options = v1_options(&p);
    let (now, skipped) = totals(&state, &r, &q, options).await?;
    let prev = if p.compare.as_deref() == Some("previous_period") {
        let (pf, pt) = Period::try_previous(r.from, r.to).map_err(bad)?;
        let q = r.to_query(pf, pt, Vec::new(), 1, 0)?;
        Some(totals(&state, &r, &q, options).await?.0)
    } else {
        None
    };
    let mut results = Map::new();
    for m in &r.metrics {
        let v = now.value(*m);
        let mut entry = Map::new();
        entry.insert("value".into(), value_json(v));
        if let Value::DarkShare {
            identified,
            estimated,
        } = v
        {
            entry.insert("identified".into(), json!(identified));
            entry.insert("estimated".into(), json!(estimated));
        }
        if let Some(prev) = &prev {
            entry.insert("change".into(), change(v, prev.value(*m)));
        }
        results.insert(m.as_str().into(), serde_json::Value::Object(entry));
    }
    Ok(Json(v1_answer(
        json!({ "results": results, "meta": meta(&r.metrics) }),
        skipped,
    )))
}

/// v1's options: imported history with `with_imported=true`.
fn v1_options(p: &StatsParams) -> super::query::Options {
    super::query::Options {
        count_rows: false,
        imports: p.with_imported == Some(true),
    }
}

/// A v1 answer with Plausible's top-level `warning` when imported history was asked for
/// and could not be included.
fn v1_answer(mut body: serde_json::Value, imports: Option<Result<(), Skip>>) -> serde_json::Value {
    if let Some(Err(skip)) = imports {
        if let (Some(w), Some(o)) = (skip.warning(), body.as_object_mut()) {
            o.insert("warning".into(), json!(w));
        }
    }
    body
}

/// Plausible's current visitors: those with an event in the last 5 minutes; no period
/// or filter applies.
pub const REALTIME_MINUTES: i64 = 5;

/// The visitors of `site_id` in the [`REALTIME_MINUTES`] before `now`.
pub async fn current_visitors(
    state: &Arc<AppState>,
    site_id: u32,
    now: chrono::DateTime<Utc>,
) -> Result<u64, lucarne_store::StoreError> {
    let q = ReportQuery {
        site_id,
        from: now - chrono::Duration::minutes(REALTIME_MINUTES),
        to: now + chrono::Duration::seconds(1),
        filters: Vec::new(),
        conditions: Vec::new(),
        with_sessions: false,
        with_shares: false,
    };
    let st = state.clone();
    tokio::task::spawn_blocking(move || st.events.aggregate(&q))
        .await
        .map_err(|e| lucarne_store::StoreError::Backend(format!("realtime task: {e}")))?
        .map(|a| a.visitors)
}

/// `GET /api/v1/stats/realtime/visitors`: Plausible's answer, a bare number.
pub async fn realtime_visitors(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Result<Json<u64>, ApiError> {
    let r = authorized(&state, &headers, &p).await?;
    let n = current_visitors(&state, r.site.id, Utc::now())
        .await
        .map_err(|e| ApiError::internal("realtime query", e))?;
    Ok(Json(n))
}

/// The totals of a query without dimensions, and what became of imported history.
async fn totals(
    state: &Arc<AppState>,
    r: &Resolved,
    q: &CoreQuery,
    options: super::query::Options,
) -> Result<(Aggregates, Option<Result<(), Skip>>), ApiError> {
    let answer = super::query::execute(state, r.site.id, &r.tz, q, options).await?;
    let a = answer
        .rows
        .into_iter()
        .next()
        .map(|row| row.aggregates)
        .unwrap_or_default();
    Ok((a, answer.imports))
}

/// Copy the engagement fields of `e` into `a`.
pub fn add_engagement(a: &mut Aggregates, e: &Aggregates) {
    a.engaged_visitors = e.engaged_visitors;
    a.engaged_ms = e.engaged_ms;
    a.scroll_visitors = e.scroll_visitors;
    a.scroll_sum = e.scroll_sum;
}

pub async fn timeseries(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = authorized(&state, &headers, &p).await?;
    let interval = match p.interval.as_deref() {
        Some(i) => Interval::parse(i).map_err(bad)?,
        None => Interval::default_for(r.period),
    };
    if interval == Interval::Hour && (r.to - r.from).num_days() > 31 {
        return Err(ApiError::bad_request(
            "bad_query",
            "hourly intervals cover at most 31 days",
        ));
    }
    let q = r.to_query(
        r.from,
        r.to,
        vec![Dimension::Time(interval)],
        lucarne_core::query::MAX_ROWS,
        0,
    )?;
    let answer = super::query::execute(&state, r.site.id, &r.tz, &q, v1_options(&p)).await?;
    // v1 lists every bucket, empty ones included.
    let found: std::collections::HashMap<&str, &Aggregates> = answer
        .rows
        .iter()
        .filter_map(|row| Some((row.dimensions.first()?.as_str(), &row.aggregates)))
        .collect();
    let empty = Aggregates::default();
    let results: Vec<serde_json::Value> = answer
        .time_labels
        .iter()
        .flatten()
        .map(|label| {
            let a = found.get(label.as_str()).copied().unwrap_or(&empty);
            result_row("date", label, a, &r.metrics)
        })
        .collect();
    Ok(Json(v1_answer(
        json!({ "results": results, "meta": meta(&r.metrics) }),
        answer.imports,
    )))
}

pub async fn breakdown(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let r = authorized(&state, &headers, &p).await?;
    let property = Property::parse(
        p.property
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("bad_query", "`property` is required"))?,
    )
    .map_err(bad)?;
    let (limit, offset) = paging(p.limit, p.page)?;
    let mut q = r.to_query(
        r.from,
        r.to,
        vec![Dimension::Property(property.clone())],
        limit,
        offset,
    )?;
    // v1's order: visitors first, whatever the metrics.
    q.order_by = vec![(OrderKey::Metric(Metric::Visitors), Direction::Desc)];
    let answer = super::query::execute(&state, r.site.id, &r.tz, &q, v1_options(&p)).await?;
    let key = property.result_key();
    let results: Vec<serde_json::Value> = answer
        .rows
        .iter()
        .map(|row| {
            let value = row.dimensions.first().map(String::as_str).unwrap_or("");
            result_row(&key, value, &row.aggregates, &r.metrics)
        })
        .collect();
    Ok(Json(v1_answer(
        json!({ "results": results, "meta": meta(&r.metrics) }),
        answer.imports,
    )))
}
