//! Plausible's Stats API v2: `POST /api/v2/query`, its request schema, its answer
//! (`results` of `{metrics, dimensions}`, `meta`, the normalised `query`) and its 400s
//! (`{"error": "#/metrics/1: Invalid metric \"baa\""}`), plus Lucarne's own dimensions
//! and metrics (`visit:channel_group`, `dark_share`, …). The request becomes a
//! `core::query::Query` and runs through the executor v1 uses (`api::query`).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, Utc};
use lucarne_core::query::{Dimension, Direction, OrderKey, Query, MAX_ROWS};
use lucarne_core::stats::chrono_tz_shim::Tz as _;
use lucarne_core::stats::{Condition, Filter, Interval, Match, Metric, Property};
use serde_json::{json, Map, Value as Json_};

use super::query::{execute, Options};
use super::stats::{site_tz, value_json, SiteTz};
use crate::error::ApiError;
use crate::state::AppState;

/// The largest request body (a query with many filters is a few kilobytes).
pub const MAX_BODY: usize = 64 * 1024;
/// How deep `and`/`or`/`not` may nest, and how many filters one query may hold.
const MAX_DEPTH: usize = 8;
const MAX_FILTERS: usize = 100;
/// Behavioural filters (`has_done`, `has_not_done`: a subquery each) in one query.
const MAX_BEHAVIOURAL: usize = 5;
/// Dimensions of one query (each multiplies the rows a breakdown may hold).
const MAX_DIMENSIONS: usize = 6;
/// Alternatives in one filter, and the length of each.
const MAX_CLAUSES: usize = 50;
const MAX_CLAUSE_LEN: usize = 2000;

const MISSING_KEY: &str =
    "Missing API key. Please use a valid Plausible API key as a Bearer Token.";
const INVALID_KEY: &str = "Invalid API key or site ID. Please make sure you're using a valid \
                           API key with access to the site you've requested.";
const MISSING_SITE: &str =
    "Missing site ID. Please provide the required site_id parameter with your request.";

/// Plausible's dimensions Lucarne does not record (a clear 400 rather than "unknown").
const NOT_RECORDED: [&str; 11] = [
    "visit:region",
    "visit:city",
    "visit:country_name",
    "visit:region_name",
    "visit:city_name",
    "visit:browser_version",
    "visit:os_version",
    "visit:exit_page",
    "visit:entry_page_hostname",
    "visit:exit_page_hostname",
    "segment",
];

/// Plausible's metrics Lucarne answers elsewhere (revenue:
/// `GET /api/v1/stats/conversions`).
const NOT_HERE: [&str; 2] = ["total_revenue", "average_revenue"];

fn invalid(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid_query", msg)
}

fn unauthorized(msg: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", msg)
}

/// JSON as Elixir's `inspect` writes it, which Plausible's messages quote.
fn inspect(v: &Json_) -> String {
    match v {
        Json_::Null => "nil".into(),
        Json_::Bool(b) => b.to_string(),
        Json_::Number(n) => n.to_string(),
        Json_::String(s) => format!("{s:?}"),
        Json_::Array(a) => format!("[{}]", a.iter().map(inspect).collect::<Vec<_>>().join(", ")),
        Json_::Object(o) => format!(
            "%{{{}}}",
            o.iter()
                .map(|(k, v)| format!("{k:?} => {}", inspect(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The JSON schema's name of a value's type.
fn type_name(v: &Json_) -> &'static str {
    match v {
        Json_::Null => "Null",
        Json_::Bool(_) => "Boolean",
        Json_::Number(n) if n.is_i64() || n.is_u64() => "Integer",
        Json_::Number(_) => "Number",
        Json_::String(_) => "String",
        Json_::Array(_) => "Array",
        Json_::Object(_) => "Object",
    }
}

fn mismatch(path: &str, expected: &str, v: &Json_) -> ApiError {
    invalid(format!(
        "{path}: Type mismatch. Expected {expected} but got {}.",
        type_name(v)
    ))
}

/// What `include` asks for.
#[derive(Debug, Default, Clone, Copy)]
struct Include {
    imports: bool,
    time_labels: bool,
    total_rows: bool,
}

/// `POST /api/v2/query`.
pub async fn query(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Json_>, ApiError> {
    // As Plausible: the key, then the site, then the query.
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| unauthorized(MISSING_KEY))?;
    let scope = state
        .meta
        .api_key_sites(key)
        .await?
        .ok_or_else(|| unauthorized(INVALID_KEY))?;
    // A body past MAX_BODY is refused here (413) before it is read whole.
    let body = body
        .map_err(|e| ApiError::new(e.status(), "bad_body", format!("Invalid request body: {e}")))?;
    let req: Json_ = serde_json::from_slice(&body)
        .map_err(|e| invalid(format!("Invalid JSON in the request body: {e}")))?;
    let Json_::Object(req) = req else {
        return Err(mismatch("#", "Object", &req));
    };
    let domain = match req.get("site_id") {
        Some(Json_::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(Json_::String(_)) | None | Some(Json_::Null) => {
            return Err(invalid(MISSING_SITE));
        }
        Some(other) => return Err(mismatch("#/site_id", "String", other)),
    };
    let site = state
        .site(&lucarne_core::url_clean::normalise_host(&domain))
        .await?
        .filter(|s| scope.allows(s.id))
        .ok_or_else(|| unauthorized(INVALID_KEY))?;
    let tz = site_tz(&site);
    // "all" starts with the site's first day, native or imported.
    let first = if req.get("date_range") == Some(&json!("all")) {
        let id = site.id;
        let native = super::stats::blocking(&state, move |s| s.events.first_event(id)).await?;
        let imported = state
            .meta
            .imported_span(site.id)
            .await?
            .map(|(d, _)| lucarne_core::stats::local_midnight(&tz, d));
        native.into_iter().chain(imported).min()
    } else {
        None
    };
    let parsed = parse(&req, &tz, Utc::now(), first)?;
    let answer = execute(
        &state,
        site.id,
        &tz,
        &parsed.query,
        Options {
            count_rows: parsed.include.total_rows,
            imports: parsed.include.imports,
        },
    )
    .await?;
    let results: Vec<Json_> = answer
        .rows
        .iter()
        .map(|row| {
            let metrics: Vec<Json_> = parsed
                .query
                .metrics
                .iter()
                .map(|m| value_json(row.value(*m)))
                .collect();
            json!({ "metrics": metrics, "dimensions": row.dimensions })
        })
        .collect();
    let mut meta = Map::new();
    match answer.imports {
        None => {}
        Some(Ok(())) => {
            meta.insert("imports_included".into(), json!(true));
        }
        Some(Err(skip)) => {
            meta.insert("imports_included".into(), json!(false));
            meta.insert("imports_skip_reason".into(), json!(skip.reason()));
            if let Some(w) = skip.warning() {
                meta.insert("imports_warning".into(), json!(w));
            }
        }
    }
    if parsed.include.time_labels {
        meta.insert("time_labels".into(), json!(answer.time_labels));
    }
    if parsed.include.total_rows {
        meta.insert("total_rows".into(), json!(answer.total_rows));
    }
    Ok(Json(json!({
        "results": results,
        "meta": meta,
        "query": echo(&site.domain, &parsed),
    })))
}

/// A parsed request: the query, and what the answer echoes.
#[derive(Debug)]
struct Parsed {
    query: Query,
    include: Include,
    /// The filters as sent.
    filters: Json_,
    /// `[from, to]` in the site's zone, as Plausible echoes them.
    range: (DateTime<chrono_tz::Tz>, DateTime<chrono_tz::Tz>),
}

/// The request (already known to be an object with a `site_id`) as a query; `now` and
/// the site's first event (for `"all"`) fix the relative date ranges.
fn parse(
    req: &Map<String, Json_>,
    tz: &SiteTz,
    now: DateTime<Utc>,
    first_event: Option<DateTime<Utc>>,
) -> Result<Parsed, ApiError> {
    const KEYS: [&str; 8] = [
        "site_id",
        "metrics",
        "date_range",
        "dimensions",
        "filters",
        "order_by",
        "include",
        "pagination",
    ];
    if let Some(k) = req.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(invalid(format!(
            "#/{k}: Schema does not allow additional properties."
        )));
    }
    let missing: Vec<&str> = ["metrics", "date_range"]
        .into_iter()
        .filter(|k| req.get(*k).is_none())
        .collect();
    match missing.as_slice() {
        [] => {}
        [one] => {
            return Err(invalid(format!(
                "#: Required property {one} was not present."
            )))
        }
        many => {
            return Err(invalid(format!(
                "#: Required properties {} were not present.",
                many.join(", ")
            )))
        }
    }
    let metrics = metrics(&req["metrics"])?;
    let (from, to, instants) = date_range(&req["date_range"], tz, now, first_event)?;
    let (utc_from, utc_to) =
        instants.unwrap_or_else(|| lucarne_core::stats::utc_range(tz, from, to));
    let null = Json_::Null;
    let dimensions = dimensions(req.get("dimensions").unwrap_or(&null), utc_to - utc_from)?;
    let raw_filters = req.get("filters").cloned().unwrap_or(json!([]));
    let (filters, conditions) = filters(&raw_filters)?;
    let order_by = order_by(req.get("order_by").unwrap_or(&null), &metrics, &dimensions)?;
    let include = include(req.get("include").unwrap_or(&null))?;
    let (limit, offset) = pagination(req.get("pagination").unwrap_or(&null))?;
    let query = Query {
        metrics,
        from,
        to,
        instants,
        dimensions,
        filters,
        conditions,
        order_by,
        limit,
        offset,
    };
    if query.metrics.contains(&Metric::ViewsPerVisit) {
        if !query.dimensions.is_empty() {
            return Err(invalid(
                "Metric `views_per_visit` cannot be queried with `dimensions`.",
            ));
        }
        if query.all_filters().any(|f| f.property == Property::Page) {
            return Err(invalid(
                "Metric `views_per_visit` cannot be queried with a filter on `event:page`.",
            ));
        }
    }
    if include.time_labels
        && !query
            .dimensions
            .iter()
            .any(|d| matches!(d, Dimension::Time(_)))
    {
        return Err(invalid(
            "Invalid include.time_labels: requires a time dimension.",
        ));
    }
    query.check().map_err(|e| invalid(e.0))?;
    let site_zone = tz.0;
    let last = instants
        .map(|(_, t)| t - Duration::seconds(1))
        .unwrap_or(utc_to - Duration::seconds(1));
    Ok(Parsed {
        query,
        include,
        filters: raw_filters,
        range: (
            utc_from.with_timezone(&site_zone),
            last.with_timezone(&site_zone),
        ),
    })
}

fn metrics(v: &Json_) -> Result<Vec<Metric>, ApiError> {
    let Json_::Array(items) = v else {
        return Err(mismatch("#/metrics", "Array", v));
    };
    if items.is_empty() {
        return Err(invalid(
            "#/metrics: Expected a minimum of 1 items but got 0.",
        ));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = item.as_str().unwrap_or_default();
        let m = Metric::parse(name).map_err(|_| {
            let why = if NOT_HERE.contains(&name) {
                " (Lucarne reports revenue at GET /api/v1/stats/conversions)"
            } else {
                ""
            };
            invalid(format!(
                "#/metrics/{i}: Invalid metric {}{why}",
                inspect(item)
            ))
        })?;
        if out.contains(&m) {
            return Err(invalid(
                "#/metrics: Expected items to be unique but they were not.",
            ));
        }
        out.push(m);
    }
    Ok(out)
}

/// Today in the site's zone.
fn today(tz: &SiteTz, now: DateTime<Utc>) -> NaiveDate {
    tz.local_date(now)
}

/// `"day"`, `"24h"`, `"Nd"` (the N days before today), `"month"`, `"Nmo"` (the N
/// months before this one), `"year"`, `"all"`, or a pair of dates or of datetimes with
/// an offset: local days, and instants when given by time.
fn date_range(
    v: &Json_,
    tz: &SiteTz,
    now: DateTime<Utc>,
    first_event: Option<DateTime<Utc>>,
) -> Result<Range, ApiError> {
    let (a, b, i) = any_date_range(v, tz, now, first_event)?;
    let ok =
        |d: NaiveDate| (super::stats::MIN_REPORT_DATE..=super::stats::MAX_REPORT_DATE).contains(&d);
    if !ok(a) || !ok(b) || (b - a).num_days() > 3660 {
        return Err(invalid(
            "Invalid date_range: dates must be between 1970-01-01 and 9999-12-31, \
             at most ten years apart.",
        ));
    }
    Ok((a, b, i))
}

/// Local days, and the instants `[from, to)` of a range given by time.
type Range = (NaiveDate, NaiveDate, Option<(DateTime<Utc>, DateTime<Utc>)>);

/// [`date_range`] before its bounds are checked.
fn any_date_range(
    v: &Json_,
    tz: &SiteTz,
    now: DateTime<Utc>,
    first_event: Option<DateTime<Utc>>,
) -> Result<Range, ApiError> {
    let bad = || invalid(format!("#/date_range: Invalid date range {}", inspect(v)));
    let today = today(tz, now);
    let dates = |a: Option<NaiveDate>, b: Option<NaiveDate>| match (a, b) {
        (Some(a), Some(b)) => Ok((a, b, None)),
        _ => Err(bad()),
    };
    match v {
        Json_::String(s) => {
            let s = s.as_str();
            let month_start = today.with_day(1).unwrap_or(today);
            match s {
                "day" => Ok((today, today, None)),
                "24h" => {
                    let from = now - Duration::hours(24);
                    Ok((
                        tz.local_date(from),
                        today,
                        Some((from, now + Duration::seconds(1))),
                    ))
                }
                "month" => dates(
                    Some(month_start),
                    month_start
                        .checked_add_months(Months::new(1))
                        .and_then(|d| d.pred_opt()),
                ),
                "year" => dates(
                    NaiveDate::from_ymd_opt(today.year(), 1, 1),
                    NaiveDate::from_ymd_opt(today.year(), 12, 31),
                ),
                "all" => {
                    let first = first_event.map(|t| tz.local_date(t)).unwrap_or(today);
                    Ok((first.min(today), today, None))
                }
                _ => {
                    if let Some(n) = s.strip_suffix("mo").and_then(|n| n.parse::<u32>().ok()) {
                        if !(1..=100).contains(&n) || s.starts_with('+') {
                            return Err(invalid(format!("Invalid date_range {}", inspect(v))));
                        }
                        return dates(
                            month_start.checked_sub_months(Months::new(n)),
                            month_start.pred_opt(),
                        );
                    }
                    if let Some(n) = s.strip_suffix('d').and_then(|n| n.parse::<u64>().ok()) {
                        if !(1..=5000).contains(&n) || s.starts_with('+') {
                            return Err(invalid(format!("Invalid date_range {}", inspect(v))));
                        }
                        return dates(today.checked_sub_days(Days::new(n)), today.pred_opt());
                    }
                    Err(bad())
                }
            }
        }
        Json_::Array(pair) => {
            let [Json_::String(a), Json_::String(b)] = pair.as_slice() else {
                return Err(bad());
            };
            let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
            if let (Some(a), Some(b)) = (day(a), day(b)) {
                if b < a {
                    return Err(bad());
                }
                return Ok((a, b, None));
            }
            let (Some(_), Some(_)) = (a.get(..10).and_then(day), b.get(..10).and_then(day)) else {
                return Err(bad());
            };
            let (Ok(x), Ok(y)) = (
                DateTime::parse_from_rfc3339(a),
                DateTime::parse_from_rfc3339(b),
            ) else {
                if a.len() <= 10 || b.len() <= 10 {
                    // A date with a datetime.
                    return Err(bad());
                }
                return Err(invalid(format!("Invalid date_range '{}'.", inspect(v))));
            };
            // To the second, as Plausible's ranges are.
            let second = |t: DateTime<Utc>| DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t);
            let (x, y) = (second(x.with_timezone(&Utc)), second(y.with_timezone(&Utc)));
            if y < x {
                return Err(bad());
            }
            Ok((
                tz.local_date(x),
                tz.local_date(y),
                Some((x, y + Duration::seconds(1))),
            ))
        }
        _ => Err(bad()),
    }
}

/// `time` as Plausible resolves it from the range's length.
fn auto_interval(len: Duration) -> Interval {
    if len <= Duration::hours(48) {
        Interval::Hour
    } else if len <= Duration::days(40) {
        Interval::Date
    } else if len <= Duration::weeks(52) {
        Interval::Week
    } else {
        Interval::Month
    }
}

fn dimension(name: &str, len: Duration) -> Option<Dimension> {
    if name == "time" {
        return Some(Dimension::Time(auto_interval(len)));
    }
    if let Some(i) = name.strip_prefix("time:") {
        return Interval::from_v2(i).map(Dimension::Time);
    }
    if name == "visit:screen" {
        return Some(Dimension::Property(Property::Device));
    }
    Property::parse(name).ok().map(Dimension::Property)
}

fn not_recorded(name: &str) -> &'static str {
    if NOT_RECORDED.contains(&name) {
        " (Lucarne does not record it)"
    } else {
        ""
    }
}

fn dimensions(v: &Json_, len: Duration) -> Result<Vec<Dimension>, ApiError> {
    let items = match v {
        Json_::Null => return Ok(Vec::new()),
        Json_::Array(a) => a,
        other => return Err(mismatch("#/dimensions", "Array", other)),
    };
    if items.len() > MAX_DIMENSIONS {
        return Err(invalid(format!(
            "#/dimensions: Expected a maximum of {MAX_DIMENSIONS} items but got {}.",
            items.len()
        )));
    }
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let name = item.as_str().unwrap_or_default();
        let d = dimension(name, len).ok_or_else(|| {
            invalid(format!(
                "#/dimensions/{i}: Invalid dimension {}{}",
                inspect(item),
                not_recorded(name)
            ))
        })?;
        if out.contains(&d) || items[..i].contains(item) {
            return Err(invalid(
                "#/dimensions: Expected items to be unique but they were not.",
            ));
        }
        out.push(d);
    }
    Ok(out)
}

/// The top-level filters: single filters apart from `and`/`or`/`not` trees.
fn filters(v: &Json_) -> Result<(Vec<Filter>, Vec<Condition>), ApiError> {
    let items = match v {
        Json_::Null => return Ok((Vec::new(), Vec::new())),
        Json_::Array(a) => a,
        other => return Err(mismatch("#/filters", "Array", other)),
    };
    let mut count = 0usize;
    let (mut flat, mut trees) = (Vec::new(), Vec::new());
    let behavioural = items
        .iter()
        .filter(|i| {
            matches!(
                i.get(0).and_then(Json_::as_str),
                Some("has_done" | "has_not_done")
            )
        })
        .count();
    if behavioural > MAX_BEHAVIOURAL {
        return Err(invalid(format!(
            "Invalid filters. A query may hold at most {MAX_BEHAVIOURAL} behavioral filters."
        )));
    }
    for (i, item) in items.iter().enumerate() {
        let c = condition(item, 0, false, &mut count).map_err(|e| match e {
            FilterError::Shape => {
                invalid(format!("#/filters/{i}: Invalid filter {}", inspect(item)))
            }
            FilterError::Message(m) => invalid(m),
        })?;
        match c {
            Condition::Filter(f) => flat.push(f),
            other => trees.push(other),
        }
    }
    Ok((flat, trees))
}

enum FilterError {
    /// Not a filter of the schema: "Invalid filter …" naming the top-level entry.
    Shape,
    /// A filter of the schema that cannot be run, with the reason.
    Message(String),
}

fn condition(
    v: &Json_,
    depth: usize,
    in_behaviour: bool,
    count: &mut usize,
) -> Result<Condition, FilterError> {
    let Json_::Array(parts) = v else {
        return Err(FilterError::Shape);
    };
    if depth > MAX_DEPTH {
        return Err(FilterError::Message(format!(
            "Invalid filters. Filters may nest at most {MAX_DEPTH} levels deep."
        )));
    }
    let op = parts
        .first()
        .and_then(Json_::as_str)
        .ok_or(FilterError::Shape)?;
    match (op, &parts[1..]) {
        ("and" | "or", [Json_::Array(children)]) if !children.is_empty() => {
            let cs = children
                .iter()
                .map(|c| condition(c, depth + 1, in_behaviour, count))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if op == "and" {
                Condition::And(cs)
            } else {
                Condition::Or(cs)
            })
        }
        ("not", [inner]) => Ok(Condition::Not(Box::new(condition(
            inner,
            depth + 1,
            in_behaviour,
            count,
        )?))),
        ("has_done" | "has_not_done", [inner]) => {
            if in_behaviour || depth > 0 {
                return Err(FilterError::Message(
                    "Invalid filters. Behavioral filters (has_done, has_not_done) cannot be \
                     nested."
                        .into(),
                ));
            }
            let c = condition(inner, depth + 1, true, count)?;
            if c.leaves()
                .iter()
                .any(|f| !f.property.name().starts_with("event:"))
            {
                return Err(FilterError::Message(
                    "Invalid filters. Behavioral filters (has_done, has_not_done) can only be \
                     used with event dimension filters."
                        .into(),
                ));
            }
            Ok(if op == "has_done" {
                Condition::HasDone(Box::new(c))
            } else {
                Condition::HasNotDone(Box::new(c))
            })
        }
        (op, [dim, clauses, rest @ ..]) if rest.len() <= 1 => {
            *count += 1;
            if *count > MAX_FILTERS {
                return Err(FilterError::Message(format!(
                    "Invalid filters. A query may hold at most {MAX_FILTERS} filters."
                )));
            }
            leaf(op, dim, clauses, rest.first()).map(Condition::Filter)
        }
        _ => Err(FilterError::Shape),
    }
}

fn leaf(
    op: &str,
    dim: &Json_,
    clauses: &Json_,
    modifiers: Option<&Json_>,
) -> Result<Filter, FilterError> {
    let (how, negated) = match op {
        "is" => (Match::Is, false),
        "is_not" => (Match::Is, true),
        "contains" => (Match::Contains, false),
        "contains_not" => (Match::Contains, true),
        "matches" => (Match::Regex, false),
        "matches_not" => (Match::Regex, true),
        _ => return Err(FilterError::Shape),
    };
    let name = dim.as_str().ok_or(FilterError::Shape)?;
    let property = match name {
        "visit:screen" => Property::Device,
        n => Property::parse(n).map_err(|_| {
            if NOT_RECORDED.contains(&n) {
                FilterError::Message(format!("Invalid filters. Lucarne does not record `{n}`."))
            } else {
                FilterError::Shape
            }
        })?,
    };
    // As Plausible: goals are filtered with `is` or `contains` only.
    if property == Property::Goal && (negated || !matches!(how, Match::Is | Match::Contains)) {
        return Err(FilterError::Shape);
    }
    let Json_::Array(items) = clauses else {
        return Err(FilterError::Shape);
    };
    let values: Vec<String> = items
        .iter()
        .map(|c| c.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or(FilterError::Shape)?;
    if values.is_empty()
        || values.len() > MAX_CLAUSES
        || values.iter().any(|v| v.len() > MAX_CLAUSE_LEN)
    {
        return Err(FilterError::Shape);
    }
    let ignore_case = match modifiers {
        None => false,
        Some(Json_::Object(m)) if how != Match::Regex => {
            if m.keys().any(|k| k != "case_sensitive") {
                return Err(FilterError::Shape);
            }
            match m.get("case_sensitive") {
                None => false,
                Some(Json_::Bool(b)) => !b,
                Some(_) => return Err(FilterError::Shape),
            }
        }
        Some(_) => return Err(FilterError::Shape),
    };
    if property == Property::Country
        && how == Match::Is
        && values
            .iter()
            .any(|v| v.len() != 2 || !v.chars().all(|c| c.is_ascii_alphabetic()))
    {
        return Err(FilterError::Message(
            "Invalid visit:country filter, visit:country needs to be a valid 2-letter country \
             code."
                .into(),
        ));
    }
    if how == Match::Regex {
        if let Some(v) = values.iter().find(|v| !lucarne_core::stats::valid_regex(v)) {
            return Err(FilterError::Message(format!(
                "Invalid filters. {} is not a valid regular expression.",
                inspect(&json!(v))
            )));
        }
    }
    Ok(Filter {
        property,
        negated,
        values,
        how,
        ignore_case,
    })
}

fn order_by(
    v: &Json_,
    metrics: &[Metric],
    dims: &[Dimension],
) -> Result<Vec<(OrderKey, Direction)>, ApiError> {
    let items = match v {
        Json_::Null => return Ok(Vec::new()),
        Json_::Array(a) => a,
        other => return Err(mismatch("#/order_by", "Array", other)),
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some([Json_::String(name), dir]) = item.as_array().map(Vec::as_slice) else {
            return Err(invalid(format!(
                "#/order_by/{i}: Invalid order_by entry {}",
                inspect(item)
            )));
        };
        let dir = match dir.as_str() {
            Some("asc") => Direction::Asc,
            Some("desc") => Direction::Desc,
            _ => {
                return Err(invalid(format!(
                    "#/order_by/{i}/1: Invalid value in order_by {}",
                    inspect(dir)
                )))
            }
        };
        let dir_name = if dir == Direction::Asc { "asc" } else { "desc" };
        let as_metric = Metric::parse(name).ok();
        let as_dim = dimension(name, Duration::zero());
        let key = match (as_metric, &as_dim) {
            (Some(m), _) if metrics.contains(&m) => OrderKey::Metric(m),
            (_, Some(d)) => match dims
                .iter()
                .position(|x| x == d || (matches!(x, Dimension::Time(_)) && name == "time"))
            {
                Some(p) => OrderKey::Dimension(p),
                None => {
                    return Err(invalid(format!(
                        "Invalid order_by entry '{{{name:?}, :{dir_name}}}'. Entry is not a \
                         queried metric or dimension."
                    )))
                }
            },
            (Some(m), None) => {
                return Err(invalid(format!(
                    "Invalid order_by entry '{{:{}, :{dir_name}}}'. Entry is not a queried \
                     metric or dimension.",
                    m.as_str()
                )))
            }
            (None, None) => {
                return Err(invalid(format!(
                    "#/order_by/{i}/0: Invalid value in order_by {name:?}"
                )))
            }
        };
        out.push((key, dir));
    }
    Ok(out)
}

fn include(v: &Json_) -> Result<Include, ApiError> {
    let m = match v {
        Json_::Null => return Ok(Include::default()),
        Json_::Object(m) => m,
        other => return Err(mismatch("#/include", "Object", other)),
    };
    let mut out = Include::default();
    for (k, v) in m {
        let slot = match k.as_str() {
            "imports" => &mut out.imports,
            "time_labels" => &mut out.time_labels,
            "total_rows" => &mut out.total_rows,
            _ => {
                return Err(invalid(format!(
                    "#/include/{k}: Schema does not allow additional properties."
                )))
            }
        };
        *slot = v
            .as_bool()
            .ok_or_else(|| mismatch(&format!("#/include/{k}"), "Boolean", v))?;
    }
    Ok(out)
}

fn pagination(v: &Json_) -> Result<(usize, usize), ApiError> {
    let m = match v {
        Json_::Null => return Ok((MAX_ROWS, 0)),
        Json_::Object(m) => m,
        other => return Err(mismatch("#/pagination", "Object", other)),
    };
    if let Some(k) = m.keys().find(|k| *k != "limit" && *k != "offset") {
        return Err(invalid(format!(
            "#/pagination/{k}: Schema does not allow additional properties."
        )));
    }
    let int = |k: &str| -> Result<Option<i64>, ApiError> {
        match m.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| mismatch(&format!("#/pagination/{k}"), "Integer", v)),
        }
    };
    let limit = int("limit")?.unwrap_or(MAX_ROWS as i64);
    let offset = int("offset")?.unwrap_or(0);
    if limit < 1 {
        return Err(invalid("#/pagination/limit: Expected the value to be >= 1"));
    }
    if limit > MAX_ROWS as i64 {
        return Err(invalid(format!(
            "#/pagination/limit: Expected the value to be <= {MAX_ROWS}"
        )));
    }
    if offset < 0 {
        return Err(invalid(
            "#/pagination/offset: Expected the value to be >= 0",
        ));
    }
    // Beyond the rows a query can hold, every page is empty.
    let offset = usize::try_from(offset).unwrap_or(usize::MAX).min(1 << 40);
    Ok((limit as usize, offset))
}

/// The query as run: the site, the metrics, the range in the site's zone, the filters
/// as sent, the dimensions (`time` resolved), the order, what was included (only what
/// is true), the page.
fn echo(domain: &str, p: &Parsed) -> Json_ {
    let q = &p.query;
    let dim_names: Vec<String> = q.dimensions.iter().map(Dimension::name).collect();
    let order: Vec<Json_> = q
        .order()
        .iter()
        .map(|(k, d)| {
            let name = match k {
                OrderKey::Metric(m) => m.as_str().to_string(),
                OrderKey::Dimension(i) => dim_names.get(*i).cloned().unwrap_or_default(),
            };
            json!([name, if *d == Direction::Asc { "asc" } else { "desc" }])
        })
        .collect();
    let mut include = Map::new();
    for (k, on) in [
        ("imports", p.include.imports),
        ("time_labels", p.include.time_labels),
        ("total_rows", p.include.total_rows),
    ] {
        if on {
            include.insert(k.into(), json!(true));
        }
    }
    let fmt = "%Y-%m-%dT%H:%M:%S%:z";
    json!({
        "site_id": domain,
        "metrics": q.metrics.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        "date_range": [p.range.0.format(fmt).to_string(), p.range.1.format(fmt).to_string()],
        "filters": p.filters,
        "dimensions": dim_names,
        "order_by": order,
        "include": include,
        "pagination": { "limit": q.limit, "offset": q.offset },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc_tz() -> SiteTz {
        SiteTz(chrono_tz::UTC)
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    /// Plausible's own examples (its tests: now 2021-05-05 12:30 UTC).
    #[test]
    fn relative_ranges_are_plausibles() {
        let now = at("2021-05-05T12:30:00Z");
        let r = |s: &str| {
            let (a, b, _) = date_range(&json!(s), &utc_tz(), now, None).expect(s);
            (a, b)
        };
        assert_eq!(r("7d"), (d("2021-04-28"), d("2021-05-04")));
        assert_eq!(r("10d"), (d("2021-04-25"), d("2021-05-04")));
        assert_eq!(r("30d"), (d("2021-04-05"), d("2021-05-04")));
        assert_eq!(r("month"), (d("2021-05-01"), d("2021-05-31")));
        assert_eq!(r("3mo"), (d("2021-02-01"), d("2021-04-30")));
        assert_eq!(r("6mo"), (d("2020-11-01"), d("2021-04-30")));
        assert_eq!(r("12mo"), (d("2020-05-01"), d("2021-04-30")));
        assert_eq!(r("year"), (d("2021-01-01"), d("2021-12-31")));
        assert_eq!(r("day"), (d("2021-05-05"), d("2021-05-05")));
        let bad = |v: Json_| {
            date_range(&v, &utc_tz(), now, None)
                .expect_err("bad range")
                .message
        };
        assert_eq!(
            bad(json!("bad_period")),
            "#/date_range: Invalid date range \"bad_period\""
        );
        assert_eq!(
            bad(json!("-1d")),
            "#/date_range: Invalid date range \"-1d\""
        );
        assert_eq!(
            bad(json!(["21415-00", "eee"])),
            "#/date_range: Invalid date range [\"21415-00\", \"eee\"]"
        );
        assert_eq!(
            bad(json!(["2021-02-03T00:00:00Z", "2021-02-04"])),
            "#/date_range: Invalid date range [\"2021-02-03T00:00:00Z\", \"2021-02-04\"]"
        );
        assert_eq!(
            bad(json!(["2021-02-03T00:00:00", "2021-02-03T23:59:59"])),
            "Invalid date_range '[\"2021-02-03T00:00:00\", \"2021-02-03T23:59:59\"]'."
        );
        assert_eq!(
            bad(json!("999999999mo")),
            "Invalid date_range \"999999999mo\""
        );
    }

    #[test]
    fn a_datetime_range_keeps_its_instants() {
        let (a, b, i) = date_range(
            &json!(["2024-01-01T12:00:00+02:00", "2024-01-01T15:59:59+02:00"]),
            &utc_tz(),
            at("2024-06-01T00:00:00Z"),
            None,
        )
        .expect("range");
        assert_eq!((a, b), (d("2024-01-01"), d("2024-01-01")));
        assert_eq!(
            i,
            Some((at("2024-01-01T10:00:00Z"), at("2024-01-01T14:00:00Z")))
        );
    }

    #[test]
    fn elixir_inspect() {
        assert_eq!(
            inspect(&json!(["is", "event:device", ["foo"]])),
            "[\"is\", \"event:device\", [\"foo\"]]"
        );
        assert_eq!(
            inspect(&json!({"case_sensitive": false})),
            "%{\"case_sensitive\" => false}"
        );
    }

    #[test]
    fn filters_parse_into_filters_and_conditions() {
        let (flat, trees) = filters(&json!([
            ["contains", "event:page", ["/docs", "/pricing"]],
            ["or", [["not", ["is", "visit:utm_campaign", ["Referral"]]],
                    ["is", "visit:country", ["EE", "US"]]]],
            ["contains", "event:page", ["blog"], {"case_sensitive": false}]
        ]))
        .expect("filters");
        assert_eq!(flat.len(), 2);
        assert_eq!(flat[0].how, Match::Contains);
        assert!(flat[1].ignore_case);
        assert_eq!(trees.len(), 1);
        let msg = |v: Json_| filters(&v).expect_err("bad filter").message;
        assert_eq!(
            msg(json!([["is", "event:device", ["foo"]]])),
            "#/filters/0: Invalid filter [\"is\", \"event:device\", [\"foo\"]]"
        );
        assert_eq!(
            msg(json!([["exists?", "event:name", ["foo"]]])),
            "#/filters/0: Invalid filter [\"exists?\", \"event:name\", [\"foo\"]]"
        );
        assert_eq!(
            msg(json!([["matches", "event:page", ["a"], {"case_sensitive": false}]])),
            "#/filters/0: Invalid filter [\"matches\", \"event:page\", [\"a\"], %{\"case_sensitive\" => false}]"
        );
        assert_eq!(
            msg(json!([["is", "visit:country", ["Estonia"]]])),
            "Invalid visit:country filter, visit:country needs to be a valid 2-letter country code."
        );
        assert!(
            msg(json!([["matches", "event:page", ["(unclosed"]]])).contains("regular expression")
        );
        assert_eq!(
            msg(json!([["not", ["has_done", ["is", "event:page", ["/"]]]]])),
            "Invalid filters. Behavioral filters (has_done, has_not_done) cannot be nested."
        );
        assert_eq!(
            msg(json!([["has_done", ["is", "visit:source", ["x"]]]])),
            "Invalid filters. Behavioral filters (has_done, has_not_done) can only be used with event dimension filters."
        );
        assert_eq!(
            msg(json!("x")),
            "#/filters: Type mismatch. Expected Array but got String."
        );
        // Deep nesting is refused, not recursed into without end.
        let mut deep = json!(["is", "event:page", ["/"]]);
        for _ in 0..50 {
            deep = json!(["not", deep]);
        }
        assert!(msg(json!([deep])).contains("nest"));
    }
}
