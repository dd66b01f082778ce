//! `/api/v1/links`: create, list, edit, disable and delete short links, one link per
//! channel for a campaign, QR codes, and each link's report. Bearer key, scoped like the
//! stats API.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::SecondsFormat;
use lucarne_core::links::{
    generated_slug, CLICK_EVENT, GENERATED_SLUG_LEN, PREVIEW_EVENT, SCAN_EVENT,
};
use lucarne_core::stats::{buckets, Interval, Property};
use lucarne_core::url_clean::normalise_host;
use lucarne_store::meta::{KeyScope, Link, LinkInput, MetaError, Site};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::api::stats::{blocking, require_key, resolve_site, StatsParams};
use crate::error::{ApiError, Path, Query};
use crate::links::input::{build_input, LinkBody};
use crate::links::qr::{self, QrOptions};
use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/links", get(list).post(create))
        .route("/api/v1/links/campaign", axum::routing::post(campaign))
        .route("/api/v1/links/{id}", get(show).patch(edit).delete(remove))
        .route("/api/v1/links/{id}/qr.svg", get(qr_svg))
        .route("/api/v1/links/{id}/qr.png", get(qr_png))
        .route("/api/v1/links/{id}/stats", get(stats))
}

/// Where this Lucarne is reached from outside: `--public-url` or the one an
/// administrator saved in the UI, else the request's host.
pub fn public_base(state: &AppState, headers: &HeaderMap) -> String {
    if let Some(u) = state.public_url() {
        return u.trim_end_matches('/').to_string();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// Whether short links made at `base` can only be opened from this machine or network
/// (a loopback or private address, or a name without a dot): printed QR codes and links
/// pasted into chats would then lead nowhere for everyone else.
pub fn private_base(base: &str) -> bool {
    url::Url::parse(base)
        .ok()
        .and_then(|u| u.host().map(|h| lucarne_core::links::is_private_host(&h)))
        .unwrap_or(false)
}

/// What to tell whoever made a link at a private `base` (API and dashboard).
pub const PRIVATE_BASE_WARNING: &str = "short links and QR codes use an address only this \
     machine or network can open; set the public address visitors use on the account page \
     (/settings/account, an administrator) or start Lucarne with --public-url \
     (LUCARNE_PUBLIC_URL)";

/// The host names Lucarne itself answers on: the public URL's, and the request's.
pub fn own_hosts(state: &AppState, headers: &HeaderMap) -> Vec<String> {
    let host_of = |h: &str| normalise_host(h.split(':').next().unwrap_or(h));
    let mut hosts: Vec<String> = state.public_host().into_iter().collect();
    if let Some(h) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) {
        hosts.push(host_of(h));
    }
    hosts
}

/// A custom short domain can never be Lucarne's own address: a link there would answer
/// every path of the dashboard's origin that no route takes.
fn refuse_own_host(state: &AppState, headers: &HeaderMap, domain: &str) -> Result<(), ApiError> {
    if !domain.is_empty() && own_hosts(state, headers).iter().any(|h| h == domain) {
        return Err(ApiError::forbidden(
            "domain_taken",
            format!("`{domain}` is this Lucarne server's own address, not a short domain"),
        ));
    }
    Ok(())
}

pub fn short_url(base: &str, l: &Link) -> String {
    if l.domain.is_empty() {
        format!("{base}/l/{}", l.slug)
    } else {
        format!("https://{}/{}", l.domain, l.slug)
    }
}

pub fn link_json(state: &AppState, base: &str, site: &str, l: &Link) -> Value {
    let uses = state.links.by_id(l.id).map_or(l.clicks, |e| e.uses());
    json!({
        "id": l.id,
        "site_id": site,
        "slug": l.slug,
        "domain": l.domain,
        "short_url": short_url(base, l),
        "qr_url": format!("{}?qr=1", short_url(base, l)),
        "target": l.target,
        "channel": l.channel,
        "utm": {
            "source": l.utm_source, "medium": l.utm_medium, "campaign": l.utm_campaign,
            "term": l.utm_term, "content": l.utm_content,
        },
        "redirect": l.redirect,
        "expires_at": l.expires_at.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)),
        "max_clicks": l.max_clicks,
        "disabled": l.disabled,
        "clicks": uses,
        "created_at": l.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
    })
}

/// What a request does to a site: read it, or change its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    Read,
    Write,
}

/// The key's right to `site`: a site it may not read is the same 404 as an unknown one
/// (no site's existence leaks to other users' keys); a site it reads but may not change
/// is 403.
pub(crate) fn check_scope(scope: &KeyScope, site: &Site, need: Need) -> Result<(), ApiError> {
    if !scope.allows(site.id) {
        return Err(ApiError::not_found(
            "unknown_site",
            format!("no site `{}`", site.domain),
        ));
    }
    if need == Need::Write && !scope.can_write(site.id) {
        return Err(ApiError::forbidden(
            "read_only_key",
            format!(
                "this key reads `{}` but cannot change it: only an owner's key can",
                site.domain
            ),
        ));
    }
    Ok(())
}

/// The site named by `site_id`, if the key may read it (else the same 404 as unknown),
/// and change it when `need` is [`Need::Write`] (else 403).
pub(crate) async fn site_for(
    state: &AppState,
    scope: &KeyScope,
    site_id: Option<&str>,
    need: Need,
) -> Result<Site, ApiError> {
    let domain = site_id
        .map(normalise_host)
        .filter(|d| !d.is_empty())
        .ok_or_else(|| ApiError::bad_request("missing_site", "`site_id` is required"))?;
    let site = state
        .meta
        .site_by_domain(&domain)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_site", format!("no site `{domain}`")))?;
    check_scope(scope, &site, need)?;
    Ok(site)
}

/// The link `id` and its site, if the key may read that site (and change it for
/// [`Need::Write`]); another site's link is the same 404 as an unknown one.
async fn link_for(
    state: &AppState,
    scope: &KeyScope,
    id: i64,
    need: Need,
) -> Result<(Link, Site), ApiError> {
    let not_found = || ApiError::not_found("unknown_link", format!("no link {id}"));
    let link = state
        .meta
        .link_by_id(id)
        .await?
        .filter(|l| scope.allows(l.site_id))
        .ok_or_else(not_found)?;
    let site = state
        .meta
        .sites()
        .await?
        .into_iter()
        .find(|s| s.id == link.site_id)
        .ok_or_else(not_found)?;
    check_scope(scope, &site, need)?;
    Ok((link, site))
}

/// Create a link with a generated slug when none is given (retrying on the rare clash).
/// A new link's starting point: on the site's default short domain, if it has one.
pub async fn new_link_base(state: &AppState, site_id: u32) -> Result<LinkInput, MetaError> {
    let o = state.site_options(site_id).await?;
    Ok(LinkInput {
        domain: o.short_domain,
        ..LinkInput::default()
    })
}

pub async fn create_link(
    state: &AppState,
    site: &Site,
    input: LinkInput,
) -> Result<Link, ApiError> {
    let generate = input.slug.is_empty();
    for _ in 0..5 {
        let mut i = input.clone();
        if generate {
            i.slug = generated_slug(&rand::random::<[u8; GENERATED_SLUG_LEN]>());
        }
        match state.meta.create_link(site.id, &i).await {
            Ok(l) => {
                reload(state).await;
                tracing::info!(message = "Link created.", site_id = site.id, link_id = l.id);
                return Ok(l);
            }
            Err(MetaError::SlugTaken(_)) if generate => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        "slug_taken",
        "could not find a free slug; give one",
    ))
}

async fn reload(state: &AppState) {
    if let Err(e) = state.links.reload(state).await {
        tracing::warn!(message = "Could not reload links.", error = %e);
    }
}

/// `?site_id=…`, the site a request about one of its rows names.
#[derive(Deserialize)]
pub struct SiteParam {
    pub(crate) site_id: Option<String>,
}

/// The answer of `DELETE …/{id}?site_id=…` for one of a site's rows (`what`: `goal`,
/// `annotation`, `funnel`, `webhook`): 204 when `gone`, else 404 `reason`.
pub(crate) fn deleted(
    gone: bool,
    what: &'static str,
    reason: &'static str,
    site_id: u32,
    id: i64,
) -> Result<Response, ApiError> {
    if gone {
        tracing::info!(message = "Deleted through the API.", what, site_id, id);
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::not_found(reason, format!("no {what} {id}")))
    }
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<SiteParam>,
) -> Result<Json<Value>, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let site = site_for(&state, &scope, p.site_id.as_deref(), Need::Read).await?;
    let base = public_base(&state, &headers);
    let links = state.meta.links(site.id).await?;
    let results: Vec<Value> = links
        .iter()
        .map(|l| link_json(&state, &base, &site.domain, l))
        .collect();
    Ok(Json(json!({ "results": results })))
}

pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request("bad_json", format!("request body: {e}")))
}

async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let b: LinkBody = parse_body(&body)?;
    let site = site_for(&state, &scope, b.site_id.as_deref(), Need::Write).await?;
    let input = build_input(
        &state.rules,
        state.allow_private_targets,
        new_link_base(&state, site.id).await?,
        &b,
    )?;
    refuse_own_host(&state, &headers, &input.domain)?;
    let l = create_link(&state, &site, input).await?;
    let base = public_base(&state, &headers);
    let mut body = link_json(&state, &base, &site.domain, &l);
    if l.domain.is_empty() && private_base(&base) {
        body["warning"] = json!(PRIVATE_BASE_WARNING);
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CampaignBody {
    site_id: Option<String>,
    url: String,
    campaign: String,
    channels: Vec<String>,
    /// Slugs become `PREFIX-CHANNEL` when given.
    slug_prefix: Option<String>,
}

/// One campaign, one link per channel, in one step.
async fn campaign(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let b: CampaignBody = parse_body(&body)?;
    let site = site_for(&state, &scope, b.site_id.as_deref(), Need::Write).await?;
    if b.channels.is_empty() || b.channels.len() > 20 {
        return Err(ApiError::bad_request(
            "bad_channels",
            "give 1 to 20 channels",
        ));
    }
    // Validate everything before creating anything.
    let mut inputs = Vec::new();
    let start = new_link_base(&state, site.id).await?;
    for c in &b.channels {
        let body = LinkBody {
            url: Some(b.url.clone()),
            channel: Some(c.clone()),
            campaign: Some(b.campaign.clone()),
            slug: b.slug_prefix.as_ref().map(|p| format!("{p}-{c}")),
            ..LinkBody::default()
        };
        inputs.push(build_input(
            &state.rules,
            state.allow_private_targets,
            start.clone(),
            &body,
        )?);
    }
    let base = public_base(&state, &headers);
    let mut results = Vec::new();
    for i in inputs {
        let l = create_link(&state, &site, i).await?;
        results.push(link_json(&state, &base, &site.domain, &l));
    }
    Ok((StatusCode::CREATED, Json(json!({ "results": results }))).into_response())
}

async fn show(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let (l, site) = link_for(&state, &scope, id, Need::Read).await?;
    let base = public_base(&state, &headers);
    Ok(Json(link_json(&state, &base, &site.domain, &l)))
}

async fn edit(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let (l, site) = link_for(&state, &scope, id, Need::Write).await?;
    let b: LinkBody = parse_body(&body)?;
    if b.site_id.is_some() {
        return Err(ApiError::bad_request(
            "bad_field",
            "a link cannot move to another site",
        ));
    }
    let input = build_input(&state.rules, state.allow_private_targets, l.input(), &b)?;
    refuse_own_host(&state, &headers, &input.domain)?;
    let updated = state
        .meta
        .update_link(site.id, id, &input)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_link", format!("no link {id}")))?;
    reload(&state).await;
    tracing::info!(message = "Link edited.", link_id = id);
    let base = public_base(&state, &headers);
    Ok(Json(link_json(&state, &base, &site.domain, &updated)))
}

async fn remove(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let (_, site) = link_for(&state, &scope, id, Need::Write).await?;
    state.meta.delete_link(site.id, id).await?;
    reload(&state).await;
    tracing::info!(message = "Link deleted.", link_id = id);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct QrParams {
    size: Option<u32>,
    margin: Option<u32>,
    ec: Option<String>,
}

async fn qr_data(
    state: &AppState,
    headers: &HeaderMap,
    id: i64,
    p: &QrParams,
) -> Result<(String, QrOptions, String), ApiError> {
    let scope = require_key(state, headers).await?;
    let (l, _) = link_for(state, &scope, id, Need::Read).await?;
    let o = QrOptions::parse(p.size, p.margin, p.ec.as_deref()).ok_or_else(|| {
        ApiError::bad_request("bad_qr", "size 64–2048, margin 0–16, ec one of L, M, Q, H")
    })?;
    let base = public_base(state, headers);
    Ok((format!("{}?qr=1", short_url(&base, &l)), o, l.slug))
}

/// A QR image as an HTTP response named `name.ext`: inline, or as a download.
pub fn qr_response(img: qr::Image, name: &str, download: bool) -> Response {
    let disposition = format!(
        "{}; filename=\"{name}.{}\"",
        if download { "attachment" } else { "inline" },
        img.ext
    );
    (
        [
            (header::CONTENT_TYPE, img.mime.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "private, no-cache".to_string()),
        ],
        img.bytes,
    )
        .into_response()
}

async fn qr_image(
    state: &AppState,
    headers: &HeaderMap,
    id: i64,
    p: &QrParams,
    png: bool,
) -> Result<Response, ApiError> {
    let (data, o, slug) = qr_data(state, headers, id, p).await?;
    let img = qr::render(data, o, png)
        .await
        .map_err(|e| ApiError::bad_request("bad_qr", e))?;
    Ok(qr_response(img, &slug, false))
}

async fn qr_svg(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(p): Query<QrParams>,
) -> Result<Response, ApiError> {
    qr_image(&state, &headers, id, &p, false).await
}

async fn qr_png(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(p): Query<QrParams>,
) -> Result<Response, ApiError> {
    qr_image(&state, &headers, id, &p, true).await
}

/// A link's report: clicks, unique clickers, QR scans, previews by app, landing visits
/// and their onward shares, where clicks came from, and clicks per day.
async fn stats(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(p): Query<StatsParams>,
) -> Result<Json<LinkStats>, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let (l, site) = link_for(&state, &scope, id, Need::Read).await?;
    let report = link_report(
        &state,
        site.clone(),
        id,
        p.period.as_deref(),
        p.date.as_deref(),
    )
    .await?;
    Ok(Json(LinkStats {
        link: link_json(&state, &public_base(&state, &headers), &site.domain, &l),
        report,
    }))
}

/// `GET /api/v1/links/{id}/stats`: the link itself and its report, side by side.
#[derive(Debug, Serialize)]
pub struct LinkStats {
    pub link: Value,
    #[serde(flatten)]
    pub report: LinkReport,
}

/// Clicks of one value of a breakdown (a channel, a country …).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClickCount {
    pub value: String,
    pub clicks: u64,
}

/// Preview fetches by the app the link was pasted into.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PreviewCount {
    pub app: String,
    pub previews: u64,
}

/// Clicks of one day (`YYYY-MM-DD`, in the site's time zone).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DayClicks {
    pub date: String,
    pub clicks: u64,
}

/// The numbers of one link over a period: the API answers them as JSON, the dashboard's
/// link report renders the same values.
#[derive(Debug, Clone, Serialize)]
pub struct LinkReport {
    pub clicks: u64,
    pub unique_clickers: u64,
    pub scans: u64,
    pub previews: Vec<PreviewCount>,
    pub landing_visits: u64,
    pub onward_shares: u64,
    pub by_channel: Vec<ClickCount>,
    pub by_country: Vec<ClickCount>,
    pub by_device: Vec<ClickCount>,
    pub by_referrer: Vec<ClickCount>,
    pub timeseries: Vec<DayClicks>,
}

impl LinkReport {
    /// The headline numbers, with the names the API gives them.
    pub fn totals(&self) -> [(&'static str, u64); 5] {
        [
            ("clicks", self.clicks),
            ("unique_clickers", self.unique_clickers),
            ("scans", self.scans),
            ("landing_visits", self.landing_visits),
            ("onward_shares", self.onward_shares),
        ]
    }
}

/// The numbers of one link over a period.
pub async fn link_report(
    state: &Arc<AppState>,
    site: Site,
    id: i64,
    period: Option<&str>,
    date: Option<&str>,
) -> Result<LinkReport, ApiError> {
    let base = |f: String| resolve_site(site.clone(), period, date, Some("visitors"), Some(&f));
    let clicks = base(format!("event:name=={CLICK_EVENT};event:link=={id}"))?;
    let scans = base(format!("event:name=={SCAN_EVENT};event:link=={id}"))?;
    let previews = base(format!("event:name=={PREVIEW_EVENT};event:link=={id}"))?;
    let landing = base(format!("visit:link=={id}"))?;
    let qc = clicks.query(clicks.from, clicks.to);
    let qs = scans.query(scans.from, scans.to);
    let qp = previews.query(previews.from, previews.to);
    let mut ql = landing.query(landing.from, landing.to);
    ql.with_shares = true;
    let b = buckets(&clicks.tz, clicks.from, clicks.to, Interval::Date);
    let (c, sc, la, apps, by, series) = blocking(state, move |s| {
        let e = &s.events;
        let c = e.aggregate(&qc)?;
        let sc = e.aggregate(&qs)?;
        let la = e.aggregate(&ql)?;
        let apps = e.breakdown(&qp, &Property::Prop("app".into()), 50, 0)?;
        let top = |prop: Property| e.breakdown(&qc, &prop, 20, 0);
        let by = [
            top(Property::Channel)?,
            top(Property::Country)?,
            top(Property::Device)?,
            top(Property::Referrer)?,
        ];
        let per_day = e.timeseries(&qc, &b)?;
        let series: Vec<DayClicks> = b
            .iter()
            .zip(per_day)
            .map(|(bucket, a)| DayClicks {
                date: bucket.label.clone(),
                clicks: a.events,
            })
            .collect();
        Ok((c, sc, la, apps, by, series))
    })
    .await?;
    let [by_channel, by_country, by_device, by_referrer] = by.map(|rows| {
        rows.into_iter()
            .map(|(value, a)| ClickCount {
                value,
                clicks: a.events,
            })
            .collect::<Vec<_>>()
    });
    Ok(LinkReport {
        clicks: c.events,
        unique_clickers: c.visitors,
        scans: sc.events,
        previews: apps
            .into_iter()
            .map(|(app, a)| PreviewCount {
                app,
                previews: a.events,
            })
            .collect(),
        landing_visits: la.visits,
        onward_shares: la.shares(),
        by_channel,
        by_country,
        by_device,
        by_referrer,
        timeseries: series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_bases_are_those_only_this_network_can_open() {
        for base in [
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
            "http://192.168.1.20",
            "http://10.0.0.5:3000",
            "http://lucarne",
            "http://stats.local",
        ] {
            assert!(private_base(base), "{base}");
        }
        for base in [
            "https://stats.example.com",
            "http://93.184.216.34",
            "not a url",
        ] {
            assert!(!private_base(base), "{base}");
        }
    }
}
