//! The Sharing view: share metrics, shares by button and by page, the generation
//! histogram and the 3 largest cascades drawn as trees (`?cascades=N` draws more: a
//! "more" link says how many are left), with a drill-down per token.
//!
//! - `GET /sites/{domain}/shares`, `GET /share/{token}/shares` (shared link);
//! - `GET /sites/{domain}/cascades/{token}`, `GET /share/{link}/cascades/{token}`: the
//!   subtree under one share or visit token (400 for a malformed token, 404 when no
//!   visit of the period arrived through it).
//!
//! Same access rules and URL state as the overview (`period`, `date`, `from`/`to`,
//! `lang`; filters and comparison do not apply to the share graph and are dropped). The
//! numbers come from the same functions as `GET /api/v1/stats/shares` and
//! `/cascades[/{token}]` (`api::shares::graph`, `subtree_of`, `core::cascade`), so page
//! and API agree for the same period. Trees are SVG drawn from `cascade::layout`: edges,
//! then visits, then edge labels on top; a page colours its 7 most frequent share
//! channels and greys the others (8 colours at most), and its legend draws each sample
//! with the classes of the edges it stands for. Tables and trees wider than a phone
//! scroll inside labelled regions (`scroll_area`). No script, no inline style.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Utc};
use lucarne_core::cascade::{self, Cascade, PageShares, ShareMetrics, ADDRESS_BAR};
use lucarne_core::token::{is_private_share, is_public_share, Token};
use lucarne_store::ShareGraph;
use maud::{html, Markup};

use super::i18n::Lang;
use super::{
    accept_language, encode_segment, page_bare, page_with, shared_access, site_access, Access,
    Session, View, WebError,
};
use crate::api::shares::{graph, subtree_of};
use crate::api::stats::Resolved;
use crate::error::ApiError;
use crate::state::AppState;

/// Cascades drawn on the Sharing page at first (the largest), and how many more each
/// "more" link adds, up to `MAX_CASCADES` (`?cascades=N`).
pub const TOP_CASCADES: usize = 3;
const MORE_CASCADES: usize = 10;
pub const MAX_CASCADES: usize = 100;
/// Visits drawn per tree on the Sharing page, and listed on a drill-down.
const TREE_NODES: usize = 200;
const DRILL_NODES: usize = 1000;
/// Rows of the per-page table.
const PAGE_ROWS: usize = 25;
/// Widest drawing (CSS px) that fits a phone's screen without scrolling sideways.
const PHONE_WIDTH: f64 = 340.0;
/// Bars of the generation histogram (the last one gathers the deeper generations).
const GEN_BARS: usize = 30;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/sites/{domain}/shares", get(site_shares))
        .route("/share/{link}/shares", get(shared_shares))
        .route("/sites/{domain}/cascades/{token}", get(site_cascade))
        .route("/share/{link}/cascades/{token}", get(shared_cascade))
}

// ---------------------------------------------------------------------------------------
// Handlers

async fn site_shares(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    let base = format!("/sites/{}", encode_segment(&access.site.domain));
    let req = Req::new(&access, &base, query.as_deref(), accept_language(&headers));
    sharing_page(&state, Some(&session), &req).await
}

async fn shared_shares(
    State(state): State<Arc<AppState>>,
    Path(link): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    let access = shared_access(&state, &link).await?;
    let base = format!("/share/{}", encode_segment(&link));
    let req = Req::new(&access, &base, query.as_deref(), accept_language(&headers));
    sharing_page(&state, None, &req).await
}

async fn site_cascade(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((domain, token)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    let base = format!("/sites/{}", encode_segment(&access.site.domain));
    let req = Req::new(&access, &base, query.as_deref(), accept_language(&headers));
    cascade_page(&state, Some(&session), &req, &token).await
}

async fn shared_cascade(
    State(state): State<Arc<AppState>>,
    Path((link, token)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    let access = shared_access(&state, &link).await?;
    let base = format!("/share/{}", encode_segment(&link));
    let req = Req::new(&access, &base, query.as_deref(), accept_language(&headers));
    cascade_page(&state, None, &req, &token).await
}

/// What every page of this view needs from the request.
struct Req<'a> {
    access: &'a Access,
    /// `/sites/DOMAIN` or `/share/LINK`.
    base: &'a str,
    view: View,
    lang: Lang,
    /// Cascades drawn as trees (`?cascades=N`, `TOP_CASCADES` to `MAX_CASCADES`).
    cascades: usize,
}

impl<'a> Req<'a> {
    fn new(
        access: &'a Access,
        base: &'a str,
        query: Option<&str>,
        accept_language: Option<&str>,
    ) -> Self {
        let view = sharing_view(query);
        // The overview's rule: `?lang=`, then the user's setting, then the browser's.
        let lang = Lang::choose(
            view.lang.as_deref(),
            access.user.as_ref().and_then(|u| u.locale.as_deref()),
            accept_language,
        );
        Req {
            access,
            base,
            view,
            lang,
            cascades: cascades_param(query),
        }
    }

    fn resolve(&self) -> Result<Resolved, WebError> {
        self.view.resolve(self.access.site.clone(), "visits")
    }

    fn shares_path(&self) -> String {
        format!("{}/shares", self.base)
    }

    /// The Sharing page in `view` drawing `n` cascades (the default count: no parameter).
    fn shares_href(&self, view: &View, n: usize) -> String {
        let href = view.href(&self.shares_path());
        if n == TOP_CASCADES {
            href
        } else {
            let sep = if href.contains('?') { '&' } else { '?' };
            format!("{href}{sep}cascades={n}")
        }
    }

    fn cascade_path(&self, token: &str) -> String {
        format!("{}/cascades/{}", self.base, encode_segment(token))
    }

    /// Link to the drill-down of a token, in the same period and language.
    fn cascade_href(&self, bits: u64) -> Option<String> {
        let t = Token::from_bits(bits)?.to_string();
        Some(self.view.href(&self.cascade_path(&t)))
    }

    fn page(&self, session: Option<&Session>, title: &str, body: Markup) -> Markup {
        let title = format!("{title} · {}", self.access.site.domain);
        match session {
            Some(s) => page_with(s, &title, self.lang.code(), body),
            None => page_bare(&title, self.lang.code(), body),
        }
    }
}

/// `?cascades=N`: how many cascades to draw (a missing or malformed count: the default).
fn cascades_param(query: Option<&str>) -> usize {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "cascades")
        .find_map(|(_, v)| v.parse::<usize>().ok())
        .map_or(TOP_CASCADES, |n| n.clamp(TOP_CASCADES, MAX_CASCADES))
}

/// The overview's URL state without what does not apply to the share graph.
fn sharing_view(query: Option<&str>) -> View {
    View {
        filters: Vec::new(),
        compare: false,
        ..View::from_query(query)
    }
}

/// A stats-API error as an HTML error page.
fn web_error(e: ApiError, lang: Lang) -> WebError {
    match e.status {
        StatusCode::BAD_REQUEST => WebError::BadRequest(lang.t("bad_token").to_string()),
        StatusCode::NOT_FOUND => WebError::NotFound,
        _ => WebError::Internal,
    }
}

async fn sharing_page(
    state: &Arc<AppState>,
    session: Option<&Session>,
    req: &Req<'_>,
) -> Result<Markup, WebError> {
    let r = req.resolve()?;
    let g = graph(state, &r).await.map_err(|e| web_error(e, req.lang))?;
    let report = Report::new(&g);
    let shown = &report.cascades[..report.cascades.len().min(req.cascades)];
    let ctx = Ctx {
        state,
        req,
        tz: r.tz.0,
        palette: Palette::of(
            shown,
            TREE_NODES,
            report.channels.iter().map(|(c, _)| c.as_str()),
        ),
    };
    let body = html! {
        (header(&ctx, &r, &req.view.href(&req.shares_path()), |v| req.shares_href(v, req.cascades)))
        (sharing_body(&ctx, &report))
    };
    Ok(req.page(session, req.lang.t("sharing"), body))
}

async fn cascade_page(
    state: &Arc<AppState>,
    session: Option<&Session>,
    req: &Req<'_>,
    token: &str,
) -> Result<Markup, WebError> {
    let r = req.resolve()?;
    let c = subtree_of(state, &r, token)
        .await
        .map_err(|e| web_error(e, req.lang))?;
    let ctx = Ctx {
        state,
        req,
        tz: r.tz.0,
        palette: Palette::of(std::slice::from_ref(&c), DRILL_NODES, []),
    };
    let here = req.cascade_path(token);
    let body = html! {
        (header(&ctx, &r, &req.view.href(&req.shares_path()), |v| v.href(&here)))
        (cascade_body(&ctx, &c))
    };
    Ok(req.page(session, req.lang.t("cascade_from"), body))
}

// ---------------------------------------------------------------------------------------
// The report

/// Everything the Sharing page shows (the same computations as `report_json`).
struct Report {
    metrics: ShareMetrics,
    /// Share and copy events per share channel, most first.
    channels: Vec<(String, u64)>,
    pages: Vec<PageShares>,
    /// All cascades, largest first.
    cascades: Vec<Cascade>,
}

impl Report {
    fn new(g: &ShareGraph) -> Report {
        let metrics = cascade::metrics(&g.edges, &g.shares);
        let mut by_channel: BTreeMap<&str, u64> = BTreeMap::new();
        for s in &g.shares {
            *by_channel.entry(s.share_channel.as_str()).or_default() += 1;
        }
        let mut channels: Vec<(String, u64)> = by_channel
            .into_iter()
            .map(|(c, n)| (c.to_string(), n))
            .collect();
        channels.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let pages = cascade::share_ratio(&g.shares, &g.edges, &g.public_visits_without_token);
        let cascades = cascade::build(&g.edges, &g.visits);
        Report {
            metrics,
            channels,
            pages,
            cascades,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rendering

struct Ctx<'a> {
    state: &'a AppState,
    req: &'a Req<'a>,
    tz: chrono_tz::Tz,
    palette: Palette,
}

impl Ctx<'_> {
    fn lang(&self) -> Lang {
        self.req.lang
    }

    /// `Nov 3, 2026 14:05` in the site's time zone.
    fn when(&self, t: DateTime<Utc>) -> String {
        let l = t.with_timezone(&self.tz);
        format!("{} {}", self.lang().date(l.date_naive()), l.format("%H:%M"))
    }

    /// A visit channel's display name (`whatsapp` → WhatsApp, `copied-link` → Copied link).
    fn channel_name(&self, channel: &str) -> String {
        if channel.is_empty() {
            return self.lang().t("none").to_string();
        }
        match self.state.rules.channel_info(channel) {
            Some(info) => info.name.clone(),
            None => match self.lang().t(&format!("ch_{channel}")) {
                "?" => channel.to_string(),
                t => t.to_string(),
            },
        }
    }

    /// A share channel's display name (a button, the address bar, copied text).
    fn share_channel_name(&self, sc: &str) -> String {
        if sc.is_empty() {
            return self.lang().t("none").to_string();
        }
        match self.lang().t(&format!("sc_{sc}")) {
            "?" => sc.to_string(),
            t => t.to_string(),
        }
    }

    /// A share channel's name on a tree edge: `WhatsApp`, `address bar`…
    fn short_name(&self, sc: &str) -> String {
        match self.lang().t(&format!("scs_{sc}")) {
            "?" => self.share_channel_name(sc),
            t => t.to_string(),
        }
    }

    /// How a token travelled: `Button: WhatsApp`, `Address bar (copied address)`…
    fn travelled(&self, sc: &str) -> String {
        let name = self.share_channel_name(sc);
        if sc != "copied-text" && is_button(sc) {
            format!("{}{} {name}", self.lang().t("button"), colon(self.lang()))
        } else {
            name
        }
    }
}

fn colon(lang: Lang) -> &'static str {
    match lang {
        Lang::En => ":",
        Lang::Fr => "\u{a0}:",
    }
}

fn share_visits_word(lang: Lang, n: u64) -> &'static str {
    // French counts 0 and 1 as singular.
    let singular = n == 1 || (n == 0 && lang == Lang::Fr);
    lang.t(if singular {
        "share_visit_1"
    } else {
        "share_visits_n"
    })
}

fn is_button(sc: &str) -> bool {
    is_private_share(sc) || is_public_share(sc)
}

/// Channels with a colour of their own on a page; the others share `ch-other`. With the
/// grey of `ch-other`, at most 8 colours (Okabe–Ito, `app.css`).
pub const COLOURS: usize = 7;

/// How a token travelled, as a dash pattern (`app.css`): solid for a private button,
/// dashed for a public one, dotted for an address-bar token or copied text.
fn kind_class(sc: &str) -> &'static str {
    if sc == ADDRESS_BAR || sc == "copied-text" {
        "k-bar"
    } else if is_public_share(sc) {
        "k-public"
    } else {
        "k-private"
    }
}

/// The colours of one page: its `COLOURS` most frequent share channels get `ch-1`…
/// `ch-7` in that order, any other channel `ch-other`.
struct Palette {
    ranked: Vec<String>,
}

impl Palette {
    /// From the share channel of each drawn edge: the most frequent first; ties, then
    /// the colours left, in the order of `more` (e.g. the share-button table's, most
    /// shares first), then by name.
    fn new<'a>(
        edges: impl IntoIterator<Item = &'a str>,
        more: impl IntoIterator<Item = &'a str>,
    ) -> Palette {
        let mut by_channel: BTreeMap<&str, u64> = BTreeMap::new();
        for sc in edges {
            *by_channel.entry(sc).or_default() += 1;
        }
        let more: Vec<&str> = more.into_iter().collect();
        for sc in &more {
            by_channel.entry(sc).or_default();
        }
        let place = |sc: &str| more.iter().position(|m| *m == sc).unwrap_or(more.len());
        let mut ranked: Vec<(&str, u64)> = by_channel.into_iter().collect();
        ranked.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(place(a.0).cmp(&place(b.0)))
                .then(a.0.cmp(b.0))
        });
        let ranked = ranked
            .into_iter()
            .take(COLOURS)
            .map(|(c, _)| c.to_string())
            .collect();
        Palette { ranked }
    }

    /// The share channels of the visits drawn in `cascades` (`max` per tree, weighted by
    /// edges), then `more` (e.g. the share-button table's channels).
    fn of<'a>(
        cascades: &'a [Cascade],
        max: usize,
        more: impl IntoIterator<Item = &'a str>,
    ) -> Palette {
        Palette::new(
            cascades
                .iter()
                .flat_map(|c| drawn(c, max).iter().skip(1))
                .map(|n| n.share_channel.as_str()),
            more,
        )
    }

    /// `ch-3` or `ch-other`.
    fn colour(&self, sc: &str) -> String {
        match self.ranked.iter().position(|c| c == sc) {
            Some(i) => format!("ch-{}", i + 1),
            None => "ch-other".to_string(),
        }
    }

    /// `ch-1 k-private`: colour by channel, dash pattern by kind.
    fn classes(&self, sc: &str) -> String {
        format!("{} {}", self.colour(sc), kind_class(sc))
    }
}

/// The first `max` visits of a cascade: those its tree draws.
fn drawn(c: &Cascade, max: usize) -> &[lucarne_core::cascade::Node] {
    &c.nodes[..c.nodes.len().min(max)]
}

/// A short line drawn like a tree edge of these classes (the legend's samples).
fn line_sample(classes: &str) -> Markup {
    html! {
        svg class="line-sample" width="28" height="10" viewBox="0 0 28 10" aria-hidden="true" {
            line class={ "edge " (classes) } x1="1" y1="5" x2="27" y2="5" {}
        }
    }
}

/// A table or a drawing that may be wider than a phone: a labelled, focusable scroll area
/// (`role="region"`), announced by a visible hint on narrow screens when `wide`.
pub fn scroll_area(lang: Lang, label: &str, wide: bool, content: Markup) -> Markup {
    html! {
        @if wide {
            p class="scroll-hint" aria-hidden="true" { (lang.t("scroll_hint")) }
        }
        div class="table-wrap" role="region" tabindex="0" aria-label=(label) { (content) }
    }
}

/// Fewest public shares, and public share-visits, a page's estimate of uncounted private
/// shares rests on before it is shown (one share would be scaled into dozens).
pub const MIN_ESTIMATE_BASIS: u64 = 5;

fn or_dash(x: Option<f64>, f: impl Fn(f64) -> String) -> String {
    x.map(f).unwrap_or_else(|| "\u{2014}".to_string())
}

fn raw(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// The page head: site, range, languages, tabs and the period picker. `tab` is the
/// Sharing tab's link; `to` rebuilds the current page's address for another view state.
fn header(ctx: &Ctx<'_>, r: &Resolved, tab: &str, to: impl Fn(&View) -> String) -> Markup {
    let req = ctx.req;
    super::tab_head(
        req.lang,
        req.access,
        &req.view,
        (r.from, r.to),
        &to,
        &to(&View::from_query(None)),
        super::site_tabs(
            req.lang,
            req.access,
            req.base,
            &req.view,
            super::Tab::Sharing,
            tab,
        ),
        &[],
    )
}

fn tile(lang: Lang, key: &str, shown: String, raw: String) -> Markup {
    html! {
        div class="stat" id={ "stat-" (key) } data-value=(raw) {
            h2 { (lang.t(key)) }
            span class="value" { (shown) }
        }
    }
}

fn sharing_body(ctx: &Ctx<'_>, rep: &Report) -> Markup {
    let lang = ctx.lang();
    let m = &rep.metrics;
    let total_shares: u64 = rep.channels.iter().map(|(_, n)| *n).sum();
    let top_channel = rep.channels.first().map_or(1, |(_, n)| *n).max(1);
    let shown = &rep.cascades[..rep.cascades.len().min(ctx.req.cascades)];
    html! {
        section class="stats share-stats" {
            (tile(lang, "shares", lang.int(m.shares), m.shares.to_string()))
            (tile(lang, "share_visits", lang.int(m.share_visits), m.share_visits.to_string()))
            (tile(lang, "visits_per_share", or_dash(m.visits_per_share, |x| lang.dec2(x)), raw(m.visits_per_share)))
            (tile(lang, "reshare_rate", or_dash(m.reshare_rate, |x| lang.pct1(x * 100.0)), raw(m.reshare_rate)))
            (tile(lang, "k_factor", or_dash(m.k_factor, |x| lang.dec2(x)), raw(m.k_factor)))
            (tile(lang, "max_depth", lang.int(u64::from(m.max_depth)), m.max_depth.to_string()))
            (tile(lang, "max_breadth", lang.int(m.max_breadth), m.max_breadth.to_string()))
            (tile(lang, "cascades", lang.int(m.cascades), m.cascades.to_string()))
        }
        div class="share-grid" {
            section class="share-box" id="share-channels" {
                h2 { (lang.t("by_share_channel")) }
                @if rep.channels.is_empty() {
                    p class="empty" { (lang.t("no_data")) }
                } @else {
                    (scroll_area(lang, lang.t("by_share_channel"), false, html! {
                        table class="share-table" {
                            thead { tr {
                                th scope="col" { (lang.t("channel")) }
                                th scope="col" class="num" { (lang.t("shares")) }
                                th scope="col" class="num" { (lang.t("pct_of_shares")) }
                                th scope="col" class="meter-col" { span class="visually-hidden" { (lang.t("pct_of_shares")) } }
                            } }
                            tbody {
                                @for (sc, n) in &rep.channels {
                                    tr data-channel=(sc) {
                                        td { span class={ "swatch chs " (ctx.palette.colour(sc)) } {} (ctx.share_channel_name(sc)) }
                                        td class="num" { (lang.int(*n)) }
                                        td class="num" { (lang.pct1(*n as f64 * 100.0 / total_shares.max(1) as f64)) }
                                        td class="meter-col" {
                                            span class="meter" aria-hidden="true" {
                                                span class={ "bar w" ((n * 20).div_ceil(top_channel)) " " (ctx.palette.colour(sc)) } {}
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }))
                    @if m.shares > total_shares {
                        p class="note" id="shares-not-by-button" {
                            (lang.t("shares_not_by_button")
                                .replace("{total}", &lang.int(m.shares))
                                .replace("{table}", &lang.int(total_shares))
                                .replace("{other}", &lang.int(m.shares - total_shares)))
                        }
                    }
                }
            }
            section class="share-box" id="share-generations" {
                h2 { (lang.t("generations")) }
                @if m.generations.is_empty() {
                    p class="empty" { (lang.t("no_data")) }
                } @else {
                    (generation_chart(lang, &m.generations))
                }
            }
        }
        section class="share-box" id="share-pages" {
            h2 { (lang.t("by_page_shares")) }
            @if rep.pages.is_empty() {
                p class="empty" { (lang.t("no_data")) }
            } @else {
                (scroll_area(lang, lang.t("by_page_shares"), true, html! {
                    table class="share-table" {
                        thead { tr {
                            th scope="col" { (lang.t("page")) }
                            th scope="col" class="num" { (lang.t("private_shares")) }
                            th scope="col" class="num" { (lang.t("public_shares")) }
                            th scope="col" class="num" { (lang.t("pp_ratio")) }
                            th scope="col" class="num" { (lang.t("public_share_visits")) }
                            th scope="col" class="num" { (lang.t("public_no_token")) }
                            th scope="col" class="num" { (lang.t("est_uncounted")) }
                        } }
                        tbody {
                            @for p in rep.pages.iter().take(PAGE_ROWS) {
                                tr {
                                    td class="page" { (p.page) }
                                    td class="num" { (lang.int(p.private)) }
                                    td class="num" { (lang.int(p.public)) }
                                    td class="num" { (or_dash(p.ratio, |x| lang.dec2(x))) }
                                    td class="num" { (lang.int(p.public_share_visits)) }
                                    td class="num" { (lang.int(p.public_visits_without_token)) }
                                    @if p.public < MIN_ESTIMATE_BASIS || p.public_share_visits < MIN_ESTIMATE_BASIS {
                                        td class="num est" title=(lang.t("not_enough")) { "\u{2014}" }
                                    } @else {
                                        td class="num est" { (or_dash(p.estimated_uncounted_private, |x| lang.dec1(x))) }
                                    }
                                }
                            }
                        }
                    }
                }))
                p class="note" { (lang.t("est_explained")) }
            }
        }
        section class="share-box" id="share-cascades" {
            h2 { (lang.t("largest_cascades")) }
            @if shown.is_empty() {
                p class="empty" { (lang.t("no_cascades")) }
            } @else {
                (legend(ctx, shown, TREE_NODES))
                ol class="cascades" {
                    @for (i, c) in shown.iter().enumerate() {
                        li {
                            figure class="cascade" id={ "cascade-" (i + 1) } {
                                figcaption { (caption(ctx, c, true)) }
                                (tree(ctx, c, TREE_NODES))
                            }
                        }
                    }
                }
                (more_cascades(ctx, shown.len(), rep.cascades.len()))
            }
        }
        footer class="dash-foot" {
            p { (lang.t("sharing_explained")) }
        }
    }
}

/// Under the trees: how many cascades are not drawn, with a link that draws more (the
/// same page and view state, `?cascades=N`, at the first new tree), or back to the
/// largest ones when they are all drawn.
fn more_cascades(ctx: &Ctx<'_>, shown: usize, total: usize) -> Markup {
    let lang = ctx.lang();
    let req = ctx.req;
    let hidden = total.saturating_sub(shown);
    let next = (shown + MORE_CASCADES).min(total).min(MAX_CASCADES);
    html! {
        @if hidden > 0 {
            p class="more-cascades" {
                @if hidden == 1 {
                    (lang.t("cascades_hidden_1"))
                } @else {
                    (lang.t("cascades_hidden").replace("{n}", &lang.int(hidden as u64)))
                }
                @if next > shown {
                    " "
                    a id="more-cascades" href={ (req.shares_href(&req.view, next)) "#cascade-" (shown + 1) } {
                        (lang.t("cascades_more").replace("{n}", &lang.int((next - shown) as u64)))
                    }
                }
            }
        }
        @if shown > TOP_CASCADES {
            p class="more-cascades" {
                a id="fewer-cascades" href={ (req.shares_href(&req.view, TOP_CASCADES)) "#share-cascades" } {
                    (lang.t("cascades_fewer").replace("{n}", &lang.int(TOP_CASCADES as u64)))
                }
            }
        }
    }
}

/// One cascade's summary: landing page (a link to its drill-down when `link`), size,
/// depth, breadth and when it started.
fn caption(ctx: &Ctx<'_>, c: &Cascade, link: bool) -> Markup {
    let lang = ctx.lang();
    let tokens = link_tokens(c);
    let href = tokens.first().and_then(|&t| ctx.req.cascade_href(t));
    let page = if c.page.is_empty() {
        lang.t("none").to_string()
    } else {
        c.page.clone()
    };
    html! {
        @match (&href, link) {
            (Some(h), true) => a class="cascade-page" href=(h) { (page) },
            _ => strong class="cascade-page" { (page) },
        }
        span class="facts" {
            " · " (lang.int(c.size as u64)) " " (share_visits_word(lang, c.size as u64))
            " · " (lang.t("depth")) " " (lang.int(u64::from(c.depth)))
            " · " (lang.t("breadth")) " " (lang.int(c.breadth as u64))
            " · " (ctx.when(c.first_ts))
        }
        @if let (Some(h), true) = (&href, link) {
            " " a class="details" href=(h) { (lang.t("details")) }
        }
    }
}

/// The share channels of the visits drawn in `cascades` (`max` per tree), as a legend:
/// one sample per coloured channel, drawn with the classes of its tree edges, then the
/// other channels in one entry (grey, one sample per dash pattern among them).
fn legend(ctx: &Ctx<'_>, cascades: &[Cascade], max: usize) -> Markup {
    let mut seen: Vec<&str> = Vec::new();
    for c in cascades {
        for n in drawn(c, max).iter().skip(1) {
            if !seen.contains(&n.share_channel.as_str()) {
                seen.push(n.share_channel.as_str());
            }
        }
    }
    let palette = &ctx.palette;
    let coloured: Vec<&str> = palette
        .ranked
        .iter()
        .map(String::as_str)
        .filter(|c| seen.contains(c))
        .collect();
    let mut others: Vec<&str> = seen
        .iter()
        .copied()
        .filter(|c| !coloured.contains(c))
        .collect();
    others.sort_unstable();
    let mut other_kinds: Vec<&str> = others.iter().map(|c| kind_class(c)).collect();
    other_kinds.sort_unstable();
    other_kinds.dedup();
    let lang = ctx.lang();
    html! {
        p class="legend-title" { (lang.t("how_travelled")) (colon(lang)) " " (lang.t("line_kinds")) }
        ul class="share-legend" {
            @for sc in &coloured {
                li data-channel=(sc) { (line_sample(&palette.classes(sc))) (ctx.travelled(sc)) }
            }
            @if !others.is_empty() {
                li data-channel="other" {
                    @for k in &other_kinds {
                        (line_sample(&format!("ch-other {k}")))
                    }
                    (lang.t("other_channels")) " ("
                    @for (i, sc) in others.iter().enumerate() {
                        @if i > 0 { ", " }
                        (ctx.share_channel_name(sc))
                    }
                    ")"
                }
            }
        }
    }
}

/// The token each node links to, in node order; index 0 (the root) is the cascade's own
/// link. A node links to its own visit token when a child arrived through it (its whole
/// subtree), else to the token it arrived with (its branch). The root without either
/// links to the token of its first child (the cascade). 0: no link.
fn link_tokens(c: &Cascade) -> Vec<u64> {
    let n = c.nodes.len();
    let mut own = vec![0u64; n];
    for node in c.nodes.iter().skip(1) {
        if let Some(p) = node.parent.filter(|&p| p < n) {
            if node.share_channel == ADDRESS_BAR && node.parent_token != 0 && own[p] == 0 {
                own[p] = node.parent_token;
            }
        }
    }
    let first_child = c
        .nodes
        .iter()
        .find(|x| x.parent == Some(0))
        .map_or(0, |x| x.parent_token);
    c.nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            if own[i] != 0 {
                own[i]
            } else if i == 0 && first_child != 0 {
                first_child
            } else {
                node.parent_token
            }
        })
        .collect()
}

/// A cascade as an SVG tree: the root on the left, each generation a column further
/// right (`cascade::layout` scaled), edges coloured by how the token travelled, one
/// `<circle class="node…">` per visit with a tooltip and a link to its drill-down.
/// At most `max` visits (the first ones in breadth-first order, which form a tree).
fn tree(ctx: &Ctx<'_>, c: &Cascade, max: usize) -> Markup {
    let lang = ctx.lang();
    let total = c.nodes.len();
    let truncated;
    let c = if total > max {
        truncated = Cascade {
            nodes: c.nodes[..max].to_vec(),
            ..c.clone()
        };
        &truncated
    } else {
        c
    };
    let n = c.nodes.len();
    let pts = cascade::layout(c);
    let tokens = link_tokens(c);
    let mut has_child = vec![false; n];
    for node in &c.nodes {
        if let Some(p) = node.parent.filter(|&p| p < n) {
            has_child[p] = true;
        }
    }
    let leaves = has_child.iter().filter(|h| !**h).count().max(1);
    let deepest = c.nodes.iter().map(|x| x.depth).max().unwrap_or(0).max(1) as f64;

    // Columns and rows shrink for deep or wide trees; edge labels only where they fit.
    const PAD: f64 = 14.0;
    let col = if deepest > 12.0 {
        (1800.0 / deepest).max(24.0)
    } else {
        150.0
    };
    let row = if leaves > 60 {
        (1500.0 / leaves as f64).max(6.0)
    } else {
        26.0
    };
    let radius = (row / 3.0).clamp(2.0, 6.0);
    let labels = n <= 60 && col >= 100.0;
    let w = PAD * 2.0 + col * deepest;
    let h = PAD * 2.0 + row * (leaves - 1) as f64;
    let at = |i: usize| -> (f64, f64) {
        let (x, y) = pts.get(i).copied().unwrap_or((0.0, 0.5));
        (
            PAD + f64::from(x) * col * deepest,
            PAD + f64::from(y) * (h - 2.0 * PAD),
        )
    };
    let f = |v: f64| format!("{v:.1}");
    let edges = || {
        c.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, node)| Some((node, at(node.parent.filter(|&p| p < i)?), at(i))))
    };
    let body = html! {
            svg class="tree" viewBox={ "0 0 " (f(w)) " " (f(h)) } width=(f(w)) height=(f(h))
                role="img" aria-label=(lang.t("tree_title")) {
                // Edges first, then the visits, then the labels on top of both.
                g class="edges" {
                    @for (node, (x1, y1), (x2, y2)) in edges() {
                        @let xm = (x1 + x2) / 2.0;
                        path class={ "edge " (ctx.palette.classes(&node.share_channel)) }
                            d={ "M" (f(x1)) " " (f(y1)) " C" (f(xm)) " " (f(y1)) " " (f(xm)) " " (f(y2)) " " (f(x2)) " " (f(y2)) } {
                            title { (ctx.travelled(&node.share_channel)) }
                        }
                    }
                }
                g class="nodes" {
                    @for i in 0..n {
                        @let (x, y) = at(i);
                        @let tip = node_tip(ctx, c, i);
                        @let circle = html! {
                            circle class=(if i == 0 { "node root" } else { "node" }) cx=(f(x)) cy=(f(y)) r=(f(radius)) {
                                title { (tip) }
                            }
                        };
                        @match tokens.get(i).and_then(|&t| ctx.req.cascade_href(t)) {
                            Some(href) => a href=(href) { (circle) },
                            None => (circle),
                        }
                    }
                }
                @if labels {
                    g class="labels" aria-hidden="true" {
                        @for (node, _, (x2, y2)) in edges() {
                            // Just above the edge's end: siblings are a row apart.
                            text class="elabel" x=(f(x2 - radius - 4.0)) y=(f(y2 - 5.0)) text-anchor="end" {
                                (ctx.short_name(&node.share_channel))
                            }
                        }
                    }
                }
            }
    };
    html! {
        (scroll_area(lang, lang.t("tree_scroll"), w > PHONE_WIDTH, body))
        @if total > n {
            p class="note" { (truncated_note(lang, n, total)) }
        }
    }
}

fn truncated_note(lang: Lang, shown: usize, total: usize) -> String {
    lang.t("truncated")
        .replace("{n}", &lang.int(shown as u64))
        .replace("{total}", &lang.int(total as u64))
}

/// A node's tooltip: generation and time, page, channel and how the token travelled.
fn node_tip(ctx: &Ctx<'_>, c: &Cascade, i: usize) -> String {
    let lang = ctx.lang();
    let Some(node) = c.nodes.get(i) else {
        return String::new();
    };
    let mut s = format!(
        "{} {}{} {}",
        lang.t("generation"),
        node.generation,
        if i == 0 {
            format!(" ({})", lang.t("root"))
        } else {
            String::new()
        },
        ctx.when(node.ts)
    );
    s.push('\n');
    s.push_str(if node.page.is_empty() {
        lang.t("none")
    } else {
        &node.page
    });
    s.push('\n');
    s.push_str(&ctx.channel_name(&node.channel));
    if !node.share_channel.is_empty() {
        s.push_str(" \u{2190} ");
        s.push_str(&ctx.travelled(&node.share_channel));
    }
    s
}

/// Share-visits per generation as SVG bars, one `<title>` tooltip per bar.
fn generation_chart(lang: Lang, generations: &[(u16, u64)]) -> Markup {
    // At most GEN_BARS bars: the last one gathers the deeper generations.
    let mut bars: Vec<(String, u64)> = Vec::new();
    for (i, (g, n)) in generations.iter().enumerate() {
        if i + 1 < GEN_BARS || generations.len() <= GEN_BARS {
            bars.push((g.to_string(), *n));
        } else if i + 1 == GEN_BARS {
            bars.push((format!("\u{2265}{g}"), *n));
        } else if let Some(last) = bars.last_mut() {
            last.1 = last.1.saturating_add(*n);
        }
    }
    let top = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    const H: f64 = 170.0;
    const TOP: f64 = 18.0;
    const BOTTOM: f64 = 22.0;
    const STEP: f64 = 44.0;
    let w = (STEP * bars.len() as f64).max(STEP * 4.0) + 8.0;
    let plot = H - TOP - BOTTOM;
    let f = |v: f64| format!("{v:.1}");
    let body = html! {
            svg class="gen-chart" viewBox={ "0 0 " (f(w)) " " (f(H)) } width=(f(w)) height=(f(H))
                role="img" aria-label=(lang.t("gen_chart")) {
                line class="axis" x1="4" x2=(f(w - 4.0)) y1=(f(H - BOTTOM)) y2=(f(H - BOTTOM)) {}
                @for (i, (label, n)) in bars.iter().enumerate() {
                    @let bh = (*n as f64 / top * plot).max(1.0);
                    @let x = 4.0 + STEP * i as f64;
                    g class="gen" {
                        title { (lang.t("generation")) " " (label) (colon(lang)) " " (lang.int(*n)) " " (share_visits_word(lang, *n)) }
                        rect class="gbar" x=(f(x + 8.0)) y=(f(H - BOTTOM - bh)) width=(f(STEP - 16.0)) height=(f(bh)) {}
                        text class="count" x=(f(x + STEP / 2.0)) y=(f(H - BOTTOM - bh - 4.0)) text-anchor="middle" { (lang.int(*n)) }
                        text class="glabel" x=(f(x + STEP / 2.0)) y=(f(H - 6.0)) text-anchor="middle" { (label) }
                    }
                }
            }
    };
    scroll_area(lang, lang.t("generations"), w > PHONE_WIDTH, body)
}

fn cascade_body(ctx: &Ctx<'_>, c: &Cascade) -> Markup {
    let lang = ctx.lang();
    let tokens = link_tokens(c);
    let shown = c.nodes.len().min(DRILL_NODES);
    html! {
        p class="back" { a href=(ctx.req.view.href(&ctx.req.shares_path())) { "\u{2190} " (lang.t("back_sharing")) } }
        section class="share-box" id="cascade" {
            h2 { (lang.t("cascade_from")) " " (ctx.when(c.first_ts)) }
            figure class="cascade" {
                figcaption { (caption(ctx, c, false)) }
                (legend(ctx, std::slice::from_ref(c), DRILL_NODES))
                (tree(ctx, c, DRILL_NODES))
            }
        }
        section class="share-box" id="cascade-nodes" {
            h2 { (lang.t("visits")) }
            (scroll_area(lang, lang.t("visits"), true, html! {
                table class="share-table nodes-table" {
                    thead { tr {
                        th scope="col" class="num" { (lang.t("generation")) }
                        th scope="col" { (lang.t("time")) }
                        th scope="col" { (lang.t("page")) }
                        th scope="col" { (lang.t("channel")) }
                        th scope="col" { (lang.t("how_travelled")) }
                    } }
                    tbody {
                        @for (i, node) in c.nodes.iter().take(shown).enumerate() {
                            tr class=[(i == 0).then_some("root")] {
                                td class="num" {
                                    @match tokens.get(i).and_then(|&t| ctx.req.cascade_href(t)) {
                                        Some(h) => a href=(h) { (node.generation) },
                                        None => (node.generation),
                                    }
                                }
                                td { (ctx.when(node.ts)) }
                                td class="page" { (node.page) }
                                td { (ctx.channel_name(&node.channel)) }
                                td {
                                    @if node.share_channel.is_empty() {
                                        (lang.t("none"))
                                    } @else {
                                        (line_sample(&ctx.palette.classes(&node.share_channel)))
                                        (ctx.travelled(&node.share_channel))
                                    }
                                }
                            }
                        }
                    }
                }
            }))
            @if shown < c.nodes.len() {
                p class="note" { (truncated_note(lang, shown, c.nodes.len())) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use lucarne_core::cascade::Node;

    fn node(session: u64, parent: Option<usize>, depth: u32, token: u64, sc: &str) -> Node {
        Node {
            session,
            parent,
            generation: depth as u16,
            depth,
            ts: Utc
                .timestamp_opt(1_700_000_000 + session as i64, 0)
                .unwrap(),
            page: "/a".into(),
            channel: "whatsapp".into(),
            share_channel: sc.into(),
            parent_token: token,
        }
    }

    fn cascade(nodes: Vec<Node>) -> Cascade {
        Cascade {
            root: nodes[0].session,
            page: "/a".into(),
            root_visit: None,
            size: nodes.len() - 1,
            depth: nodes.iter().map(|n| n.depth).max().unwrap_or(0),
            breadth: 1,
            first_ts: nodes[0].ts,
            last_ts: nodes[0].ts,
            nodes,
        }
    }

    #[test]
    fn nodes_link_to_their_own_token_or_the_one_they_came_with() {
        // Root 1 shares 100 (WhatsApp) → 2; 2's address bar (200) → 3; 3 → nothing.
        let c = cascade(vec![
            node(1, None, 0, 0, ""),
            node(2, Some(0), 1, 100, "whatsapp"),
            node(3, Some(1), 2, 200, "address-bar"),
        ]);
        assert_eq!(link_tokens(&c), vec![100, 200, 200]);
    }

    #[test]
    fn seven_channels_get_a_colour_the_others_are_grey() {
        // whatsapp ×3, x ×2, address-bar ×2, then one each; the table adds telegram.
        let drawn = [
            "whatsapp",
            "x",
            "whatsapp",
            "address-bar",
            "sms",
            "email",
            "whatsapp",
            "x",
            "address-bar",
            "copy",
            "signal",
            "linkedin",
            "facebook",
            "\"><x",
        ];
        let p = Palette::new(drawn, ["telegram", "linkedin", "whatsapp"]);
        assert_eq!(p.ranked.len(), COLOURS);
        assert_eq!(p.classes("whatsapp"), "ch-1 k-private");
        assert_eq!(p.classes("address-bar"), "ch-2 k-bar");
        assert_eq!(p.classes("x"), "ch-3 k-public");
        // Ties: the table's order first (linkedin), then names ("\"><x", copy, email).
        assert_eq!(p.classes("linkedin"), "ch-4 k-public");
        assert_eq!(p.colour("\"><x"), "ch-5");
        assert_eq!(p.colour("email"), "ch-7");
        assert_eq!(p.classes("facebook"), "ch-other k-public");
        assert_eq!(p.classes("telegram"), "ch-other k-private");
        // Few channels: the table's fill the colours left, in its order.
        let p = Palette::new(["sms"], ["telegram", "sms", "email"]);
        assert_eq!(p.ranked, ["sms", "telegram", "email"]);
        assert_eq!(p.classes("copied-text"), "ch-other k-bar");
    }

    #[test]
    fn the_cascade_count_comes_from_the_query() {
        assert_eq!(cascades_param(None), TOP_CASCADES);
        assert_eq!(cascades_param(Some("period=day&cascades=13")), 13);
        assert_eq!(cascades_param(Some("cascades=1")), TOP_CASCADES);
        assert_eq!(cascades_param(Some("cascades=100000")), MAX_CASCADES);
        assert_eq!(cascades_param(Some("cascades=all")), TOP_CASCADES);
    }

    #[test]
    fn every_label_of_the_view_exists() {
        for key in [
            "sharing",
            "shares",
            "share_visits",
            "visits_per_share",
            "reshare_rate",
            "k_factor",
            "max_depth",
            "max_breadth",
            "cascades",
            "by_share_channel",
            "channel",
            "pct_of_shares",
            "by_page_shares",
            "page",
            "private_shares",
            "public_shares",
            "pp_ratio",
            "public_share_visits",
            "public_no_token",
            "est_uncounted",
            "est_explained",
            "generations",
            "generation",
            "gen_chart",
            "largest_cascades",
            "depth",
            "breadth",
            "share_visits_n",
            "share_visit_1",
            "details",
            "no_cascades",
            "tree_title",
            "cascade_from",
            "root",
            "time",
            "how_travelled",
            "button",
            "back_sharing",
            "bad_token",
            "truncated",
            "sharing_explained",
            "scroll_hint",
            "tree_scroll",
            "cascades_hidden",
            "cascades_hidden_1",
            "cascades_more",
            "cascades_fewer",
            "line_kinds",
            "other_channels",
        ]
        .into_iter()
        .map(String::from)
        .chain(
            lucarne_core::rules::ShareButtons::builtin()
                .all()
                .iter()
                .map(|b| b.id.as_str())
                .chain([ADDRESS_BAR, "copied-text"])
                .map(|c| format!("sc_{c}")),
        )
        .chain(["scs_address-bar".to_string(), "scs_copied-text".to_string()])
        {
            for lang in [Lang::En, Lang::Fr] {
                assert_ne!(lang.t(&key), "?", "{key}");
            }
        }
        assert_eq!(Lang::Fr.auth("tab_sharing"), "Partages");
    }
}
