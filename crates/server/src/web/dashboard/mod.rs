//! The site overview and its CSV exports.
//!
//! - `GET /sites/{domain}` — the overview for a logged-in user with access to the site;
//!   `GET /share/{token}` — the same page, read-only, through a shared link.
//! - `GET /sites/{domain}/export/{panel}.csv`, `GET /share/{token}/export/{panel}.csv`.
//! - `GET /sites/{domain}/shares`, `GET /sites/{domain}/cascades/{token}` (and the same
//!   under `/share/{token}`) — the Sharing view and its cascade drill-down (`shares`).
//! - `GET /sites/{domain}/links[/{id}[/qr.svg|qr.png]]` and their POST forms — tracked
//!   short links: list, create, campaign, report, edit, QR codes (`links`).
//! - `GET /sites/{domain}/conversions` (and `/share/{token}/conversions`) and its POST
//!   form — goals, conversions, the private/public uplift and the survey (`conversions`).
//! - `GET /sites/{domain}/funnels` (and `/share/{token}/funnels`) and its POST form —
//!   saved funnels, their steps' drop-off and the breakdown by channel (`funnels`).
//! - `GET /static/app.css`, `GET /static/app.js` (compiled in).
//!
//! The whole view state lives in the query string (shareable, back button works):
//! `period` (day, 7d, 30d, month, 6mo, 12mo, custom), `date` (reference day), `from` and
//! `to` (custom range), `compare=1`, `lang` (en, fr) and one `f=property==value` per
//! filter. Numbers come from the same resolution as the stats API
//! (`api::stats::resolve_site`), so the two agree for the same range.

pub mod cards;
pub mod charts;
pub mod conversions;
pub mod csv;
pub mod funnels;
pub mod i18n;
pub mod links;
pub mod notes;
pub mod shares;

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use lucarne_core::classify::DIRECT_SOURCE;
use lucarne_core::stats::{
    buckets, Aggregates, Bucket, Filter, Interval, Metric, Period, Property, Value,
};
use lucarne_core::ChannelGroup;
use lucarne_store::meta::Site;
use maud::{html, Markup};
use tower_http::compression::CompressionLayer;

pub use super::auth::{shared_access, site_access, Access, Session, WebError};
pub use super::layout::{page_bare, page_with};
use i18n::Lang;

use crate::api::query::Row as QueryRow;
use crate::api::stats::{resolve_site, Resolved};
use crate::state::AppState;
use lucarne_core::query::{Dimension, Query as CoreQuery, MAX_ROWS};

pub const APP_CSS: &str = include_str!("../../../../../web/static/app.css");
pub const APP_JS: &str = include_str!("../../../../../web/static/app.js");

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/sites/{domain}", get(site_overview).post(notes::submit))
        .route("/share/{token}", get(shared_overview))
        .route("/sites/{domain}/export/{file}", get(site_export))
        .route("/sites/{domain}/realtime", get(site_realtime))
        .route("/share/{token}/realtime", get(shared_realtime))
        .route("/share/{token}/export/{file}", get(shared_export))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .merge(shares::routes())
        .merge(links::routes())
        .merge(conversions::routes())
        .merge(funnels::routes())
        .merge(cards::routes())
        // HTML, CSS, JS and CSV compress 5-10x; gzip only (every browser has it).
        .layer(CompressionLayer::new().gzip(true))
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        APP_CSS,
    )
        .into_response()
}

async fn js() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        APP_JS,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------
// Panels

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Group,
    Channel,
    Evidence,
    Device,
    Plain,
}

#[derive(Debug, Clone, Copy)]
pub struct Panel {
    /// In export URLs: `/export/{slug}.csv`.
    pub slug: &'static str,
    /// The stats property (`visit:channel`, …).
    pub property: &'static str,
    label: &'static str,
    kind: Kind,
}

pub const PANELS: [Panel; 12] = [
    Panel {
        slug: "channel-groups",
        property: "visit:channel_group",
        label: "panel_channel_groups",
        kind: Kind::Group,
    },
    Panel {
        slug: "channels",
        property: "visit:channel",
        label: "panel_channels",
        kind: Kind::Channel,
    },
    Panel {
        slug: "evidence",
        property: "visit:evidence",
        label: "panel_evidence",
        kind: Kind::Evidence,
    },
    Panel {
        slug: "sources",
        property: "visit:source",
        label: "panel_sources",
        kind: Kind::Plain,
    },
    Panel {
        slug: "pages",
        property: "event:page",
        label: "panel_pages",
        kind: Kind::Plain,
    },
    Panel {
        slug: "entry-pages",
        property: "visit:entry_page",
        label: "panel_entry_pages",
        kind: Kind::Plain,
    },
    Panel {
        slug: "utm-source",
        property: "visit:utm_source",
        label: "panel_utm_source",
        kind: Kind::Plain,
    },
    Panel {
        slug: "utm-medium",
        property: "visit:utm_medium",
        label: "panel_utm_medium",
        kind: Kind::Plain,
    },
    Panel {
        slug: "utm-campaign",
        property: "visit:utm_campaign",
        label: "panel_utm_campaign",
        kind: Kind::Plain,
    },
    Panel {
        slug: "devices",
        property: "visit:device",
        label: "panel_devices",
        kind: Kind::Device,
    },
    Panel {
        slug: "browsers",
        property: "visit:browser",
        label: "panel_browsers",
        kind: Kind::Plain,
    },
    Panel {
        slug: "countries",
        property: "visit:country",
        label: "panel_countries",
        kind: Kind::Plain,
    },
];

pub fn panel(slug: &str) -> Option<&'static Panel> {
    PANELS.iter().find(|p| p.slug == slug)
}

/// Rows shown per panel (exports have up to `EXPORT_ROWS`).
const PANEL_ROWS: usize = 10;
const EXPORT_ROWS: usize = 1000;
const MAX_FILTERS: usize = 10;

// ---------------------------------------------------------------------------------------
// The view state (the query string)

const PERIODS: [&str; 7] = ["day", "7d", "30d", "month", "6mo", "12mo", "custom"];

/// An owner's button deleting one row of a list (a goal, a funnel): a CSRF-checked
/// `action=delete&id=…` form to `action`, confirmed by `app.js` with `confirm`, and named
/// for screen readers by `aria`.
pub fn delete_button(
    session: &Session,
    action: &str,
    id: i64,
    confirm: &str,
    aria: &str,
    label: &str,
) -> Markup {
    html! {
        form class="inline" method="post" action=(action) data-confirm=(confirm) {
            (crate::web::auth::csrf_field(session))
            input type="hidden" name="action" value="delete";
            input type="hidden" name="id" value=(id);
            button class="danger" type="submit" aria-label=(aria) { (label) }
        }
    }
}

/// The dashboard's tabs, in the order of the tab bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Overview,
    Sharing,
    Links,
    Conversions,
    Funnels,
    Cards,
}

impl Tab {
    const ALL: [Tab; 6] = [
        Tab::Overview,
        Tab::Sharing,
        Tab::Links,
        Tab::Conversions,
        Tab::Funnels,
        Tab::Cards,
    ];

    /// Its path under the site's base.
    fn path(self) -> &'static str {
        match self {
            Tab::Overview => "",
            Tab::Sharing => "/shares",
            Tab::Links => "/links",
            Tab::Conversions => "/conversions",
            Tab::Funnels => "/funnels",
            Tab::Cards => "/cards",
        }
    }

    fn label(self, lang: Lang) -> &'static str {
        match self {
            Tab::Overview => lang.auth("tab_dashboard"),
            Tab::Sharing => lang.t("sharing"),
            Tab::Links => lang.auth("tab_links"),
            Tab::Conversions => lang.auth("tab_conversions"),
            Tab::Funnels => lang.auth("tab_funnels"),
            Tab::Cards => lang.auth("tab_cards"),
        }
    }

    /// Not shown through a shared link (they are members' tools).
    fn members_only(self) -> bool {
        matches!(self, Tab::Links | Tab::Cards)
    }
}

/// The tab bar of every dashboard page: the report tabs (`current` links to
/// `current_href`, the page as it is; the others keep the period and language, not the
/// filters or the comparison), then the owner's settings pages, or a viewer's own
/// notifications (nothing of the kind through a shared link).
pub fn site_tabs(
    lang: Lang,
    access: &Access,
    base: &str,
    view: &View,
    current: Tab,
    current_href: &str,
) -> Markup {
    let plain = View {
        filters: Vec::new(),
        compare: false,
        ..view.clone()
    };
    let owner = !access.shared && access.role == lucarne_store::meta::Role::Owner;
    html! {
        nav class="site-tabs dash-tabs" {
            @for tab in Tab::ALL.into_iter().filter(|t| !(access.shared && t.members_only())) {
                @if tab == current {
                    a href=(current_href) aria-current="page" { (tab.label(lang)) }
                } @else {
                    a href=(plain.href(&format!("{base}{}", tab.path()))) { (tab.label(lang)) }
                }
            }
            @if owner {
                @for (path, key) in [("settings", "settings"), ("members", "members"), ("shared-links", "shared_links"), ("notifications", "notifications")] {
                    a href={ (base) "/" (path) } { (lang.auth(key)) }
                }
            } @else if !access.shared {
                // Viewers choose their own e-mails too.
                a href={ (base) "/notifications" } { (lang.auth("notifications")) }
            }
        }
    }
}

/// The head a report tab shares (Conversions, Funnels, Cards, Sharing): the site, the range, the
/// language links, the tab bar and the periods with the custom-range form. `href` makes a
/// link to this tab for a view, `path` is the tab's own path (the form's action), and
/// `keep` are the tab's own parameters the form carries on (`goal`, `funnel`, `by`).
#[allow(clippy::too_many_arguments)]
pub fn tab_head(
    lang: Lang,
    access: &Access,
    view: &View,
    (from, to): (NaiveDate, NaiveDate),
    href: &dyn Fn(&View) -> String,
    path: &str,
    tabs: Markup,
    keep: &[(&str, &str)],
) -> Markup {
    html! {
        header class="dash-head" {
            div {
                h1 { (access.site.domain) }
                p class="range" { (lang.range(from, to)) }
                @if access.shared {
                    p class="shared-note" { (lang.t("shared_view")) }
                }
            }
            nav class="langs" aria-label=(lang.t("language")) {
                @for l in [Lang::En, Lang::Fr] {
                    a href=(href(&view.with_lang(l))) hreflang=(l.code()) lang=(l.code())
                        aria-current=[(l == lang).then_some("true")] { (l.code().to_uppercase()) }
                }
            }
        }
        (tabs)
        nav class="periods" aria-label=(lang.t("date_range")) {
            @for p in PERIODS.iter().filter(|p| **p != "custom") {
                a href=(href(&view.with_period(p))) data-period=(p)
                    aria-current=[(view.period == *p).then_some("page")] { (lang.t(&format!("period_{p}"))) }
            }
            form class="custom" method="get" action=(path) {
                input type="hidden" name="period" value="custom";
                label { (lang.t("from")) " " input type="date" name="from" value=(from.to_string()) required; }
                label { (lang.t("to")) " " input type="date" name="to" value=(to.to_string()) required; }
                @if let Some(l) = &view.lang { input type="hidden" name="lang" value=(l); }
                @for (name, value) in keep { input type="hidden" name=(name) value=(value); }
                button type="submit" aria-current=[(view.period == "custom").then_some("page")] { (lang.t("apply")) }
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct View {
    pub period: String,
    /// Reference day for the non-custom periods (`YYYY-MM-DD`; today when absent).
    pub date: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub compare: bool,
    /// Only when the URL says so (otherwise the user's or browser's language).
    pub lang: Option<String>,
    /// `(property, value)` pairs, at most one per property.
    pub filters: Vec<(String, String)>,
    /// Leave imported history out (`imported=0`; it is in by default).
    pub no_imports: bool,
}

impl View {
    pub fn from_query(q: Option<&str>) -> View {
        let mut v = View {
            period: "30d".into(),
            ..View::default()
        };
        let Some(q) = q else { return v };
        for (k, val) in url::form_urlencoded::parse(q.as_bytes()) {
            let val = val.into_owned();
            match &*k {
                "period" if PERIODS.contains(&val.as_str()) => v.period = val,
                "date" if !val.is_empty() => v.date = Some(val),
                "from" if !val.is_empty() => v.from = Some(val),
                "to" if !val.is_empty() => v.to = Some(val),
                "compare" => v.compare = val == "1",
                "imported" => v.no_imports = val == "0",
                "lang" if Lang::parse(&val).is_some() => v.lang = Some(val),
                "f" => {
                    if let Some((p, value)) = val.split_once("==") {
                        if Property::parse(p).is_ok() && v.filters.len() < MAX_FILTERS {
                            v.filters.retain(|(q, _)| q != p);
                            v.filters.push((p.to_string(), value.to_string()));
                        }
                    }
                }
                _ => {}
            }
        }
        v
    }

    pub fn query_string(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        if self.period != "30d" {
            s.append_pair("period", &self.period);
        }
        if self.period == "custom" {
            if let Some(f) = &self.from {
                s.append_pair("from", f);
            }
            if let Some(t) = &self.to {
                s.append_pair("to", t);
            }
        } else if let Some(d) = &self.date {
            s.append_pair("date", d);
        }
        if self.compare {
            s.append_pair("compare", "1");
        }
        if let Some(l) = &self.lang {
            s.append_pair("lang", l);
        }
        if self.no_imports {
            s.append_pair("imported", "0");
        }
        for (p, v) in &self.filters {
            s.append_pair("f", &format!("{p}=={v}"));
        }
        s.finish()
    }

    pub fn href(&self, base: &str) -> String {
        let q = self.query_string();
        if q.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{q}")
        }
    }

    pub fn with_filter(&self, property: &str, value: &str) -> View {
        let mut v = self.clone();
        v.filters.retain(|(p, _)| p != property);
        v.filters.push((property.to_string(), value.to_string()));
        v
    }

    pub fn without_filter(&self, property: &str) -> View {
        let mut v = self.clone();
        v.filters.retain(|(p, _)| p != property);
        v
    }

    fn with_period(&self, period: &str) -> View {
        View {
            period: period.to_string(),
            date: None,
            from: None,
            to: None,
            ..self.clone()
        }
    }

    fn with_compare(&self, on: bool) -> View {
        View {
            compare: on,
            ..self.clone()
        }
    }

    fn with_imports(&self, on: bool) -> View {
        View {
            no_imports: !on,
            ..self.clone()
        }
    }

    fn with_lang(&self, lang: Lang) -> View {
        View {
            lang: Some(lang.code().into()),
            ..self.clone()
        }
    }

    /// The range and filters, resolved exactly as the stats API resolves them.
    fn resolve(&self, site: Site, metrics: &str) -> Result<Resolved, WebError> {
        let custom;
        let date = if self.period == "custom" {
            match (&self.from, &self.to) {
                (Some(f), Some(t)) => {
                    custom = format!("{f},{t}");
                    Some(custom.as_str())
                }
                _ => {
                    return Err(WebError::BadRequest(
                        "a custom range needs `from` and `to` (YYYY-MM-DD)".into(),
                    ))
                }
            }
        } else {
            self.date.as_deref()
        };
        let mut r = resolve_site(site, Some(&self.period), date, Some(metrics), None)
            .map_err(|e| WebError::BadRequest(e.message))?;
        r.filters = self
            .filters
            .iter()
            .filter_map(|(p, v)| {
                Property::parse(p)
                    .ok()
                    .map(|property| Filter::is(property, vec![v.clone()]))
            })
            .collect();
        Ok(r)
    }
}

// ---------------------------------------------------------------------------------------
// Reports

/// Everything the overview shows.
pub struct Overview {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub interval: Interval,
    pub now: Aggregates,
    /// The previous period of the same length (shown beside each figure with "compare").
    pub prev: Option<Aggregates>,
    /// The previous period, always: the headline's change.
    pub before: Aggregates,
    pub series: Vec<(Bucket, Aggregates)>,
    pub panels: Vec<Vec<(String, Aggregates)>>,
    /// The private-message channels with the most visits (the headline's apps).
    pub apps: Vec<(String, Aggregates)>,
    /// Landing pages ranked by dark arrivals (identified + estimated), at most
    /// [`PANEL_ROWS`], those with none left out.
    pub travels: Vec<(String, Aggregates)>,
    /// For those pages: (share-button shares, link previews fetched by apps) in the period.
    pub travel_signals: HashMap<String, (u64, u64)>,
    /// The `Direct / None` source by channel group: what Lucarne knows of it.
    pub direct_split: Vec<(String, Aggregates)>,
    /// The survey's calibrated dark-social estimate, when there are answers.
    pub survey: Option<lucarne_core::survey::DarkEstimate>,
    /// The site's imported history: the days of this range it was counted for (None:
    /// none in range, or left out), and whether the site has any.
    pub imported: Option<(NaiveDate, NaiveDate)>,
    pub has_imports: bool,
    /// The site's annotations on the range's days.
    pub notes: Vec<lucarne_store::meta::Annotation>,
}

/// Fewest visits a dark-social share is shown for (the headline, the Sharing figures);
/// below it the dashboard says "not enough data" rather than a percentage of a handful.
pub const MIN_SHARE_VISITS: u64 = 30;
/// Fewest visits a row's dark share is shown for (page panels, "travels privately").
pub const MIN_ROW_VISITS: u64 = 10;
/// Landing pages read to rank by dark arrivals (the store orders by visitors).
const TRAVEL_CANDIDATES: usize = 500;

const OVERVIEW_METRICS: &str = "visitors,visits,pageviews,bounce_rate,visit_duration,dark_share";

fn internal(what: &str, e: impl std::fmt::Display) -> WebError {
    tracing::error!(message = "Dashboard query failed.", what, error = %e);
    WebError::Internal
}

type Job<T> = tokio::task::JoinHandle<Result<T, lucarne_store::StoreError>>;

fn spawn<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> Result<T, lucarne_store::StoreError> + Send + 'static,
) -> Job<T> {
    let st = state.clone();
    tokio::task::spawn_blocking(move || f(&st))
}

async fn join<T>(job: Job<T>, what: &str) -> Result<T, WebError> {
    job.await
        .map_err(|e| internal(what, e))?
        .map_err(|e| internal(what, e))
}

/// Run every query of the overview (concurrently, on the blocking pool).
pub async fn gather(state: &Arc<AppState>, site: Site, view: &View) -> Result<Overview, WebError> {
    let site_id = site.id;
    let r = view.resolve(site, OVERVIEW_METRICS)?;
    let interval = Interval::default_for(r.period);
    let q = r.query(r.from, r.to);
    let plain = lucarne_core::stats::ReportQuery {
        conditions: Vec::new(),
        with_sessions: false,
        with_shares: false,
        ..q.clone()
    };
    let b = buckets(&r.tz, r.from, r.to, interval);
    let now = {
        let q = q.clone();
        spawn(state, move |s| s.events.aggregate(&q))
    };
    let before = {
        let (pf, pt) = Period::previous(r.from, r.to);
        let q = r.query(pf, pt);
        spawn(state, move |s| s.events.aggregate(&q))
    };
    let property = |name: &str| Property::parse(name).map_err(|e| internal("property", e));
    let apps = {
        let mut q = plain.clone();
        q.filters.push(Filter::is(
            property("visit:channel_group")?,
            vec![ChannelGroup::PrivateMessage.as_str().to_string()],
        ));
        let prop = property("visit:channel")?;
        spawn(state, move |s| s.events.breakdown(&q, &prop, 3, 0))
    };
    let travels = {
        let q = plain.clone();
        let prop = property("visit:entry_page")?;
        spawn(state, move |s| {
            s.events.breakdown(&q, &prop, TRAVEL_CANDIDATES, 0)
        })
    };
    let direct_split = {
        let mut q = plain.clone();
        q.filters.push(Filter::is(
            property("visit:source")?,
            vec![DIRECT_SOURCE.to_string()],
        ));
        let prop = property("visit:channel_group")?;
        spawn(state, move |s| s.events.breakdown(&q, &prop, 20, 0))
    };
    // The survey's report costs two queries; a site whose survey is off has none to show.
    let survey_on = match state.site_options(site_id).await {
        Ok(o) => o.survey_enabled,
        Err(e) => {
            tracing::warn!(message = "Site settings unavailable; the headline goes without the survey.", error = %e);
            false
        }
    };
    let survey = survey_on.then(|| crate::api::surveys::report_for(state, q.clone()));
    let series = {
        let q = plain.clone();
        let b = b.clone();
        spawn(state, move |s| s.events.timeseries(&q, &b))
    };
    // Scroll depth and time on page of the Pages panel (engagement events).
    let engagement = {
        let q = plain.clone();
        spawn(state, move |s| s.events.engagement(&q, true))
    };
    // Imported history, counted for the days before the site's first own event.
    let imports = crate::api::imported::context(state, site_id, &r.tz)
        .await
        .map_err(|e| internal("imports", e.message))?;
    let imported_days = imports
        .filter(|_| !view.no_imports)
        .and_then(|c| c.days(r.from, r.to));
    // With imported rows to add, every value is read, so that the panel's top rows are
    // the top of both together.
    let panel_limit = if imported_days.is_some() {
        crate::api::query::MAX_SORTED_ROWS
    } else {
        PANEL_ROWS
    };
    let mut panels = Vec::with_capacity(PANELS.len());
    for p in PANELS.iter() {
        let q = plain.clone();
        let prop = Property::parse(p.property).map_err(|e| internal("panel property", e))?;
        panels.push(spawn(state, move |s| {
            s.events.breakdown(&q, &prop, panel_limit, 0)
        }));
    }
    let now = join(now, "aggregate").await?;
    let before = join(before, "aggregate (previous period)").await?;
    let prev = view.compare.then_some(before);
    let apps = join(apps, "private apps").await?;
    let mut travels = join(travels, "landing pages").await?;
    travels.retain(|(_, a)| dark_visits(a) > 0);
    travels.sort_by(|(pa, a), (pb, b)| dark_visits(b).cmp(&dark_visits(a)).then(pa.cmp(pb)));
    travels.truncate(PANEL_ROWS);
    let travel_signals = {
        let pages: Vec<String> = travels.iter().map(|(p, _)| p.clone()).collect();
        let q = plain.clone();
        join(
            spawn(state, move |s| {
                travel_signals(s.events.as_ref(), &q, &pages)
            }),
            "shares and previews of landing pages",
        )
        .await?
    };
    let direct_split = join(direct_split, "direct split").await?;
    let survey = match survey {
        None => None,
        Some(report) => match report.await {
            Ok(report) => report.estimate,
            Err(e) => {
                // The headline stands without the survey's estimate.
                tracing::warn!(message = "Survey estimate unavailable.", error = ?e);
                None
            }
        },
    };
    let rows = join(series, "timeseries").await?;
    let mut panel_rows = Vec::with_capacity(panels.len());
    for j in panels {
        panel_rows.push(join(j, "breakdown").await?);
    }
    let engagement: std::collections::HashMap<String, Aggregates> =
        join(engagement, "engagement").await?.into_iter().collect();
    for (p, rows) in PANELS.iter().zip(panel_rows.iter_mut()) {
        if p.property == "event:page" {
            for (page, a) in rows.iter_mut() {
                if let Some(e) = engagement.get(page) {
                    crate::api::stats::add_engagement(a, e);
                }
            }
        }
    }
    let mut now = now;
    let mut prev = prev;
    let mut before = before;
    let mut rows = rows;
    let mut imported_days = imported_days;
    if let (Some(ctx), false) = (imports, view.no_imports) {
        let m = Imported {
            state,
            ctx,
            site_id,
            r: &r,
        };
        let (n, merged) = m.totals(r.from, r.to, now).await?;
        now = n;
        if !merged {
            // The view's filters are not what imported rows can answer: say nothing.
            imported_days = None;
        }
        let (pf, pt) = Period::previous(r.from, r.to);
        before = m.totals(pf, pt, before).await?.0;
        prev = view.compare.then_some(before);
        rows = m.series(interval, &b, rows).await?;
        for (p, panel) in PANELS.iter().zip(panel_rows.iter_mut()) {
            m.panel(p.property, panel).await?;
        }
    }
    let notes = state
        .meta
        .annotations(site_id, Some(r.from), Some(r.to))
        .await?;
    Ok(Overview {
        notes,
        imported: imported_days,
        has_imports: imports.is_some(),
        from: r.from,
        to: r.to,
        interval,
        now,
        prev,
        before,
        series: b.into_iter().zip(rows).collect(),
        panels: panel_rows,
        apps,
        travels,
        travel_signals,
        direct_split,
        survey,
    })
}

/// Imported history added to the overview's numbers, as the stats API adds it
/// (`api::imported`): totals, the chart, and each panel one imported table can answer.
struct Imported<'a> {
    state: &'a Arc<AppState>,
    ctx: crate::api::imported::Context,
    site_id: u32,
    r: &'a Resolved,
}

impl Imported<'_> {
    fn query(&self, from: NaiveDate, to: NaiveDate, dims: Vec<Dimension>) -> CoreQuery {
        CoreQuery {
            metrics: self.r.metrics.clone(),
            from,
            to,
            instants: None,
            dimensions: dims,
            filters: self.r.filters.clone(),
            conditions: Vec::new(),
            order_by: Vec::new(),
            limit: MAX_ROWS,
            offset: 0,
        }
    }

    /// Add imported rows; did any table answer?
    async fn merge(
        &self,
        q: &CoreQuery,
        buckets: Option<&[Bucket]>,
        rows: &mut Vec<QueryRow>,
    ) -> Result<bool, WebError> {
        let merged = crate::api::imported::merge_with(
            self.state,
            &self.ctx,
            self.site_id,
            &self.r.tz,
            q,
            buckets,
            rows,
        )
        .await
        .map_err(|e| internal("imported rows", e.message))?;
        Ok(merged.is_ok())
    }

    /// The totals with imported rows added, and whether they were (a filter no
    /// imported table answers leaves them out).
    async fn totals(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        a: Aggregates,
    ) -> Result<(Aggregates, bool), WebError> {
        let mut rows = vec![QueryRow {
            dimensions: Vec::new(),
            aggregates: a,
        }];
        let merged = self
            .merge(&self.query(from, to, Vec::new()), None, &mut rows)
            .await?;
        let a = rows.into_iter().next().map(|r| r.aggregates).unwrap_or(a);
        Ok((a, merged))
    }

    async fn series(
        &self,
        interval: Interval,
        b: &[Bucket],
        native: Vec<Aggregates>,
    ) -> Result<Vec<Aggregates>, WebError> {
        if interval == Interval::Hour {
            return Ok(native);
        }
        let mut rows: Vec<QueryRow> = b
            .iter()
            .zip(native)
            .map(|(b, a)| QueryRow {
                dimensions: vec![b.label.clone()],
                aggregates: a,
            })
            .collect();
        let q = self.query(self.r.from, self.r.to, vec![Dimension::Time(interval)]);
        let _ = self.merge(&q, Some(b), &mut rows).await?;
        let by_label: HashMap<String, Aggregates> = rows
            .into_iter()
            .filter_map(|r| Some((r.dimensions.into_iter().next()?, r.aggregates)))
            .collect();
        Ok(b.iter()
            .map(|b| by_label.get(&b.label).copied().unwrap_or_default())
            .collect())
    }

    async fn panel(
        &self,
        property: &str,
        panel: &mut Vec<(String, Aggregates)>,
    ) -> Result<(), WebError> {
        let Ok(p) = Property::parse(property) else {
            return Ok(());
        };
        let mut rows: Vec<QueryRow> = panel
            .drain(..)
            .map(|(k, a)| QueryRow {
                dimensions: vec![k],
                aggregates: a,
            })
            .collect();
        let q = self.query(self.r.from, self.r.to, vec![Dimension::Property(p)]);
        let _ = self.merge(&q, None, &mut rows).await?;
        let mut merged: Vec<(String, Aggregates)> = rows
            .into_iter()
            .filter_map(|r| Some((r.dimensions.into_iter().next()?, r.aggregates)))
            .collect();
        lucarne_store::sort_breakdown(&mut merged);
        merged.truncate(PANEL_ROWS);
        *panel = merged;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Handlers

fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
}

fn encode_segment(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn site_overview(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    let base = format!("/sites/{}", encode_segment(&access.site.domain));
    overview_page(
        &state,
        Some(&session),
        &access,
        &base,
        query.as_deref(),
        accept_language(&headers),
    )
    .await
}

async fn shared_overview(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    let access = shared_access(&state, &token).await?;
    let base = format!("/share/{}", encode_segment(&token));
    overview_page(
        &state,
        None,
        &access,
        &base,
        query.as_deref(),
        accept_language(&headers),
    )
    .await
}

/// The current visitors figure, for the dashboard's script to refresh.
async fn site_realtime(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path(domain): Path<String>,
) -> Result<Response, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    realtime(&state, &access).await
}

async fn shared_realtime(
    State(state): State<Arc<AppState>>,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let access = shared_access(&state, &token).await?;
    realtime(&state, &access).await
}

async fn realtime(state: &Arc<AppState>, access: &Access) -> Result<Response, WebError> {
    let n = crate::api::stats::current_visitors(state, access.site.id, chrono::Utc::now())
        .await
        .map_err(|e| internal("current visitors", e))?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(serde_json::json!({ "visitors": n })),
    )
        .into_response())
}

async fn site_export(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((domain, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    export(&state, &access, &file, query.as_deref()).await
}

async fn shared_export(
    State(state): State<Arc<AppState>>,
    Path((token, file)): Path<(String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    let access = shared_access(&state, &token).await?;
    export(&state, &access, &file, query.as_deref()).await
}

/// One panel as CSV: every row (up to 1,000), same range and filters as the page.
pub async fn export(
    state: &Arc<AppState>,
    access: &Access,
    file: &str,
    query: Option<&str>,
) -> Result<Response, WebError> {
    let p = file
        .strip_suffix(".csv")
        .and_then(panel)
        .ok_or(WebError::NotFound)?;
    let view = View::from_query(query);
    let r = view.resolve(access.site.clone(), "visitors,visits,pageviews,dark_share")?;
    let prop = Property::parse(p.property).map_err(|e| internal("panel property", e))?;
    let q = r.query(r.from, r.to);
    let key = prop.result_key();
    let rows = join(
        spawn(state, move |s| {
            s.events.breakdown(&q, &prop, EXPORT_ROWS, 0)
        }),
        "export",
    )
    .await?;
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|(v, a)| {
            let (i, e) = dark_parts(a);
            vec![
                v.clone(),
                a.visitors.to_string(),
                a.visits.to_string(),
                a.pageviews.to_string(),
                format!("{i:.1}"),
                format!("{e:.1}"),
            ]
        })
        .collect();
    let text = csv::write(
        &[
            &key,
            "visitors",
            "visits",
            "pageviews",
            "dark_share_identified",
            "dark_share_estimated",
        ],
        &rows,
    );
    let safe_domain: String = access
        .site
        .domain
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .collect();
    let filename = format!(
        "attachment; filename=\"{safe_domain}-{}-{}-{}.csv\"",
        p.slug, r.from, r.to
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, filename),
            (header::CACHE_CONTROL, "private, no-store".to_string()),
        ],
        text,
    )
        .into_response())
}

/// Visits that were dark social: identified (private messages, e-mail) and estimated.
fn dark_visits(a: &Aggregates) -> u64 {
    a.visits_identified_dark + a.visits_estimated_dark
}

/// The dark-social share of `a`'s visits in percent, one decimal: the sum of its two
/// parts as the stats API gives it (`dark_share`).
fn dark_total(a: &Aggregates) -> f64 {
    let (ident, est) = dark_parts(a);
    ((ident + est) * 10.0).round() / 10.0
}

fn dark_parts(a: &Aggregates) -> (f64, f64) {
    match a.value(Metric::DarkShare) {
        Value::DarkShare {
            identified,
            estimated,
        } => (identified, estimated),
        _ => (0.0, 0.0),
    }
}

/// The overview page (also what the benchmark times).
pub async fn overview_page(
    state: &Arc<AppState>,
    session: Option<&Session>,
    access: &Access,
    base: &str,
    query: Option<&str>,
    accept_language: Option<&str>,
) -> Result<Markup, WebError> {
    let view = View::from_query(query);
    let lang = Lang::choose(
        view.lang.as_deref(),
        access.user.as_ref().and_then(|u| u.locale.as_deref()),
        accept_language,
    );
    let (o, current) = tokio::join!(
        gather(state, access.site.clone(), &view),
        crate::api::stats::current_visitors(state, access.site.id, chrono::Utc::now())
    );
    let o = o?;
    // The page stands without it (a dash) if the store cannot say.
    let current = current
        .inspect_err(|e| tracing::warn!(message = "Current visitors unavailable.", error = %e))
        .ok();
    let title = access.site.domain.clone();
    // Owners add and delete notes on their own pages (never through a shared link).
    let csrf = session
        .filter(|_| access.role == crate::web::auth::Role::Owner && !access.shared)
        .map(|s| s.csrf.as_str());
    let body = render(state, access, base, &view, lang, &o, current, csrf);
    Ok(match session {
        Some(s) => page_with(s, &title, lang.code(), body),
        None => page_bare(&title, lang.code(), body),
    })
}

// ---------------------------------------------------------------------------------------
// Rendering

fn change_pct(lang: Lang, now: u64, before: u64) -> (String, &'static str) {
    let x = if before == 0 {
        if now == 0 {
            0.0
        } else {
            100.0
        }
    } else {
        (now as f64 - before as f64) / before as f64 * 100.0
    };
    (lang.change_pct(x), direction(x.round()))
}

fn direction(x: f64) -> &'static str {
    if x > 0.0 {
        "change up"
    } else if x < 0.0 {
        "change down"
    } else {
        "change flat"
    }
}

fn value_label(state: &AppState, lang: Lang, kind: Kind, value: &str) -> String {
    if value.is_empty() {
        return lang.t("none").to_string();
    }
    let key = match kind {
        Kind::Group => format!("group_{value}"),
        Kind::Evidence => format!("ev_{value}"),
        Kind::Device => format!("dev_{value}"),
        Kind::Channel => match state.rules.channel_info(value) {
            Some(info) => return info.name.clone(),
            None => format!("ch_{value}"),
        },
        Kind::Plain => return value.to_string(),
    };
    match lang.t(&key) {
        "?" => value.to_string(),
        t => t.to_string(),
    }
}

fn filter_label(state: &AppState, lang: Lang, property: &str, value: &str) -> (String, String) {
    match PANELS.iter().find(|p| p.property == property) {
        Some(p) => (
            lang.t(p.label).to_string(),
            value_label(state, lang, p.kind, value),
        ),
        None => (property.to_string(), value.to_string()),
    }
}

/// The overview's markup; `current`: the visitors of the last 5 minutes, if known;
/// `csrf`: an owner's session token (the notes' forms).
#[allow(clippy::too_many_arguments)]
fn render(
    state: &AppState,
    access: &Access,
    base: &str,
    view: &View,
    lang: Lang,
    o: &Overview,
    current: Option<u64>,
    csrf: Option<&str>,
) -> Markup {
    let now = &o.now;
    let prev = o.prev.as_ref();
    let bounce = |a: &Aggregates| match a.value(Metric::BounceRate) {
        Value::Percent(p) => p,
        _ => 0,
    };
    let duration = |a: &Aggregates| match a.value(Metric::VisitDuration) {
        Value::Count(s) => s,
        _ => 0,
    };
    let (ident, est) = dark_parts(now);
    // The same threshold as the headline's: no share of a handful of visits.
    let enough_for_share = now.visits >= MIN_SHARE_VISITS;
    let chart_title = match o.interval {
        Interval::Hour => lang.t("chart_hour"),
        Interval::Date | Interval::Week => lang.t("chart"),
        Interval::Month => lang.t("chart_month"),
    };
    let labels: Vec<&str> = o.series.iter().map(|(b, _)| b.label.as_str()).collect();
    let points: Vec<charts::Point<'_>> = o
        .series
        .iter()
        .zip(notes::per_bucket(&labels, &o.notes))
        .map(|((b, a), notes)| charts::Point {
            label: &b.label,
            a,
            when: charts::When::of(b.start, b.end, chrono::Utc::now()),
            notes,
        })
        .collect();
    let export_query = view.query_string();
    let here = if export_query.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{export_query}")
    };
    html! {
        header class="dash-head" {
            div {
                h1 { (access.site.domain) }
                p class="range" { (lang.range(o.from, o.to)) }
                p class="current" data-realtime=(format!("{base}/realtime")) title=(lang.t("current_title")) {
                    span class="dot" aria-hidden="true" {}
                    span class="n" { (current.map_or_else(|| "–".to_string(), |n| lang.int(n))) }
                    " " (lang.t("current_visitors"))
                }
                @if access.shared {
                    p class="shared-note" { (lang.t("shared_view")) }
                }
            }
            nav class="langs" aria-label=(lang.t("language")) {
                @for l in [Lang::En, Lang::Fr] {
                    a href=(view.with_lang(l).href(base)) hreflang=(l.code()) lang=(l.code())
                        aria-current=[(l == lang).then_some("true")] { (l.code().to_uppercase()) }
                }
            }
        }
        (site_tabs(lang, access, base, view, Tab::Overview, &view.href(base)))
        nav class="periods" aria-label=(lang.t("date_range")) {
            @for p in PERIODS.iter().filter(|p| **p != "custom") {
                a href=(view.with_period(p).href(base)) data-period=(p)
                    aria-current=[(view.period == *p).then_some("page")] { (lang.t(&format!("period_{p}"))) }
            }
            form class="custom" method="get" action=(base) {
                input type="hidden" name="period" value="custom";
                label { (lang.t("from")) " " input type="date" name="from" value=(o.from.to_string()) required; }
                label { (lang.t("to")) " " input type="date" name="to" value=(o.to.to_string()) required; }
                @if view.compare { input type="hidden" name="compare" value="1"; }
                @if view.no_imports { input type="hidden" name="imported" value="0"; }
                @if let Some(l) = &view.lang { input type="hidden" name="lang" value=(l); }
                @for (p, v) in &view.filters {
                    input type="hidden" name="f" value={ (p) "==" (v) };
                }
                button type="submit" aria-current=[(view.period == "custom").then_some("page")] { (lang.t("apply")) }
            }
            @if view.compare {
                a class="compare on" href=(view.with_compare(false).href(base)) { (lang.t("compare_off")) }
            } @else {
                a class="compare" href=(view.with_compare(true).href(base)) { (lang.t("compare")) }
            }
        }
        @if !view.filters.is_empty() {
            ul class="chips" aria-label=(lang.t("filters")) {
                @for (p, v) in &view.filters {
                    @let (name, value) = filter_label(state, lang, p, v);
                    li class="chip" data-property=(p) {
                        span { (name) ": " strong { (value) } }
                        a class="remove" href=(view.without_filter(p).href(base))
                            title=(lang.t("remove_filter")) aria-label={ (lang.t("remove_filter")) " " (name) } { "×" }
                    }
                }
                @if view.filters.len() > 1 {
                    li { a class="clear" href=(View { filters: Vec::new(), ..view.clone() }.href(base)) { (lang.t("clear_filters")) } }
                }
            }
        }
        @if let Some((a, b)) = o.imported {
            p class="imported" {
                (lang.t("imported_in")) " " (lang.date(a)) " " (lang.t("imported_to")) " " (lang.date(b)) " "
                (lang.t("imported_note")) ". "
                a href=(view.with_imports(false).href(base)) { (lang.t("imported_leave_out")) }
            }
        } @else if o.has_imports && view.no_imports {
            p class="imported" {
                (lang.t("imported_out")) " "
                a href=(view.with_imports(true).href(base)) { (lang.t("imported_include")) }
            }
        }
        (headline(state, lang, base, view, o))
        section class="stats" {
            (stat(lang, "visitors", lang.int(now.visitors), now.visitors, prev.map(|p| change_pct(lang, now.visitors, p.visitors))))
            (stat(lang, "visits", lang.int(now.visits), now.visits, prev.map(|p| change_pct(lang, now.visits, p.visits))))
            (stat(lang, "pageviews", lang.int(now.pageviews), now.pageviews, prev.map(|p| change_pct(lang, now.pageviews, p.pageviews))))
            (stat(lang, "bounce_rate", if now.visits == 0 { "–".to_string() } else { lang.pct0(bounce(now)) }, bounce(now), prev.map(|p| {
                let d = bounce(now) as f64 - bounce(p) as f64;
                (lang.change_pts(d), direction(d))
            })))
            (stat(lang, "visit_duration", if now.visits == 0 { "–".to_string() } else { lang.duration(duration(now)) }, duration(now), prev.map(|p| change_pct(lang, duration(now), duration(p)))))
            div class="stat dark" id="stat-dark_share" {
                h2 { (lang.t("dark_share")) }
                div class="dark-parts" {
                    div class="part ident" id="stat-dark_identified" {
                        span class="value" { (if enough_for_share { lang.pct1(ident) } else { "–".to_string() }) }
                        span class="sub" { span class="swatch s-ident" {} (lang.t("identified")) }
                        @if let Some(p) = prev {
                            @let d = ident - dark_parts(p).0;
                            span class=(direction(d)) title=(lang.t("vs_previous")) { (lang.change_pts(d)) }
                        }
                    }
                    div class="part est" id="stat-dark_estimated" {
                        span class="value" { (if enough_for_share { lang.pct1(est) } else { "–".to_string() }) }
                        span class="sub" { span class="swatch s-est" {} (lang.t("estimated")) }
                        @if let Some(p) = prev {
                            @let d = est - dark_parts(p).1;
                            span class=(direction(d)) title=(lang.t("vs_previous")) { (lang.change_pts(d)) }
                        }
                    }
                }
                p class="sub" { (if enough_for_share { lang.t("of_visits") } else { lang.t("not_enough") }) }
            }
        }
        figure class="chart-box" {
            (charts::chart(lang, &points, o.interval, chart_title))
            figcaption {
                span class="legend" { span class="swatch s-ident" {} (lang.t("identified")) }
                span class="legend" { span class="swatch s-est" {} (lang.t("estimated")) }
                span class="legend" { span class="swatch s-other" {} (lang.t("other_visits")) }
                span class="legend" { span class="swatch line" {} (lang.t("visitors")) }
                @if !o.notes.is_empty() { span class="legend" { span class="swatch note" {} (lang.t("notes")) } }
            }
        }
        (notes::markup(lang, &o.notes, csrf, &here))
        (travels_markup(lang, base, view, &o.travels, &o.travel_signals))
        section class="panels" {
            @for i in 0..PANELS.len() {
                (panel_markup(state, lang, base, view, &export_query, i, o))
            }
        }
        footer class="dash-foot" {
            p { (lang.t("dark_explained")) }
            @if now.visitors >= lucarne_store::events::EXACT_VISITORS_BELOW {
                p { (lang.t("approx")) }
            }
            p { (lang.t("hl_thresholds").replace("{min}", &MIN_SHARE_VISITS.to_string()).replace("{row}", &MIN_ROW_VISITS.to_string())) }
        }
    }
}

fn stat(
    lang: Lang,
    key: &str,
    shown: String,
    raw: u64,
    change: Option<(String, &'static str)>,
) -> Markup {
    html! {
        div class="stat" id={ "stat-" (key) } data-value=(raw) {
            h2 { (lang.t(key)) }
            span class="value" { (shown) }
            @if let Some((c, class)) = change {
                span class=(class) title=(lang.t("vs_previous")) { (c) }
            }
        }
    }
}

fn panel_markup(
    state: &AppState,
    lang: Lang,
    base: &str,
    view: &View,
    export_query: &str,
    i: usize,
    o: &Overview,
) -> Markup {
    let p = &PANELS[i];
    let rows: &[(String, Aggregates)] = o.panels.get(i).map_or(&[], Vec::as_slice);
    let direct_split = &o.direct_split;
    // Page panels show each page's dark share beside its visitors; the Pages panel its
    // scroll depth and time on page too, once the site sends engagement events.
    let dark_column = matches!(p.property, "event:page" | "visit:entry_page");
    let eng_column = p.property == "event:page" && rows.iter().any(|(_, a)| a.engaged_visitors > 0);
    let top = rows
        .iter()
        .map(|(_, a)| a.visitors)
        .max()
        .unwrap_or(0)
        .max(1);
    let export = if export_query.is_empty() {
        format!("{base}/export/{}.csv", p.slug)
    } else {
        format!("{base}/export/{}.csv?{export_query}", p.slug)
    };
    html! {
        section class="panel" id={ "panel-" (p.slug) } {
            header {
                h2 { (lang.t(p.label)) }
                a class="export" href=(export) download title=(lang.t("export_title")) { (lang.t("export_csv")) }
            }
            @if rows.is_empty() {
                p class="empty" { (lang.t("no_data")) }
            } @else {
                div class="cols" aria-hidden="true" {
                    span {}
                    @if dark_column { span class="dark-h" { (lang.t("dark_col")) } }
                    @if eng_column {
                        span class="eng-h" title=(lang.t("scroll_title")) { (lang.t("scroll_col")) }
                        span class="eng-h" title=(lang.t("time_title")) { (lang.t("time_col")) }
                    }
                    span { (lang.t("visitors")) }
                }
                ol {
                    @for (value, a) in rows {
                        @let width = (a.visitors * 20).div_ceil(top);
                        li {
                            a class="row" href=(view.with_filter(p.property, value).href(base)) data-value=(value) {
                                span class={ "bar w" (width) } {}
                                span class="name" { (value_label(state, lang, p.kind, value)) }
                                @if dark_column { (row_dark_share(lang, a)) }
                                @if eng_column { (row_engagement(lang, a)) }
                                span class="num" { (lang.int(a.visitors)) }
                            }
                            @if p.property == "visit:source" && value == DIRECT_SOURCE && !direct_split.is_empty() {
                                ul class="split" aria-label=(lang.t("direct_split")) {
                                    @for (group, g) in direct_split {
                                        li {
                                            a class="row sub" data-group=(group)
                                                href=(view.with_filter(p.property, value).with_filter("visit:channel_group", group).href(base)) {
                                                span class="name" { (direct_label(lang, group)) }
                                                span class="num" { (lang.int(g.visitors)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A page's scroll depth and time on page, or dashes without engagement events.
fn row_engagement(lang: Lang, a: &Aggregates) -> Markup {
    use lucarne_core::stats::{Metric, Value};
    let scroll = match a.value(Metric::ScrollDepth) {
        Value::Percent(p) => lang.pct0(p),
        _ => "–".to_string(),
    };
    let time = match a.value(Metric::TimeOnPage) {
        Value::Count(s) => lang.duration(s),
        _ => "–".to_string(),
    };
    html! {
        span class="num eng scroll" { (scroll) }
        span class="num eng time" { (time) }
    }
}

/// A row's dark share (identified + estimated, of its visits), or a dash with "not
/// enough data" below [`MIN_ROW_VISITS`].
fn row_dark_share(lang: Lang, a: &Aggregates) -> Markup {
    let total = dark_total(a);
    html! {
        @if a.visits < MIN_ROW_VISITS {
            span class="num dark" title=(lang.t("not_enough")) { "–" }
        } @else {
            span class="num dark" data-dark=(format!("{total:.1}")) { (lang.pct1(total)) }
        }
    }
}

/// What a `Direct / None` visit of this channel group was.
fn direct_label(lang: Lang, group: &str) -> String {
    match group {
        "estimated-dark" => lang.t("direct_deep").to_string(),
        "direct" => lang.t("direct_home").to_string(),
        g => lang.t(&format!("group_{g}")).to_string(),
    }
}

/// The headline: the dark-social share (identified + estimated, each said in a line),
/// the top private apps, the change against the previous period, and the survey's
/// calibrated estimate beside it when there is one, saying whether the two agree.
fn headline(state: &AppState, lang: Lang, base: &str, view: &View, o: &Overview) -> Markup {
    let now = &o.now;
    let (ident, est) = dark_parts(now);
    let total = dark_total(now);
    let enough = now.visits >= MIN_SHARE_VISITS;
    let pct = lang.pct1(total);
    html! {
        section class="headline" id="headline" data-value=[enough.then(|| format!("{total:.1}"))] {
            @if !enough {
                p class="big" {
                    (lang.t("hl_not_enough").replace("{n}", &lang.int(now.visits)).replace("{min}", &lang.int(MIN_SHARE_VISITS)))
                }
            } @else {
                p class="big" { (maud::PreEscaped(lang.t("hl_title").replace("{pct}", &format!("<strong>{}</strong>", maud::html!((pct)).into_string())))) }
                ul class="hl-parts" {
                    li id="hl-identified" { span class="swatch s-ident" {} (lang.t("hl_ident").replace("{pct}", &lang.pct1(ident))) }
                    li id="hl-estimated" { span class="swatch s-est" {} (lang.t("hl_est").replace("{pct}", &lang.pct1(est))) }
                }
                @if o.before.visits >= MIN_SHARE_VISITS {
                    @let d = total - dark_total(&o.before);
                    p class={ "hl-change " (direction(d)) } id="hl-change" { (lang.t("hl_change").replace("{pts}", &lang.change_pts(d))) }
                } @else {
                    p class="hl-change" id="hl-change" { (lang.t("hl_no_change")) }
                }
                @if let Some(e) = o.survey.as_ref().filter(|e| e.respondents > 0) {
                    @let key = if total / 100.0 < e.low { "hl_survey_higher" } else if total / 100.0 > e.high { "hl_survey_lower" } else { "hl_survey_agree" };
                    p class="hl-survey" id="hl-survey" data-agree=(key == "hl_survey_agree") {
                        (lang.t(key)
                            .replace("{est}", &lang.pct1(e.share * 100.0))
                            .replace("{lo}", &lang.pct1(e.low * 100.0))
                            .replace("{hi}", &lang.pct1(e.high * 100.0))
                            .replace("{pct}", &pct)
                            .replace("{n}", &lang.int(e.respondents)))
                    }
                }
            }
            div class="hl-apps" id="hl-apps" {
                h2 { (lang.t("hl_apps")) }
                @if o.apps.is_empty() {
                    p class="empty" { (lang.t("hl_no_apps")) }
                } @else {
                    ol {
                        @for (channel, a) in &o.apps {
                            li {
                                a href=(view.with_filter("visit:channel", channel).href(base)) data-value=(channel) {
                                    span class="name" { (value_label(state, lang, Kind::Channel, channel)) }
                                    " "
                                    @if enough {
                                        span class="num" { (lang.pct1(share_of(a.visits, now.visits))) }
                                    } @else {
                                        // Below the threshold a share would be noise: the count, said as such.
                                        span class="num count" { (lang.visits_n(a.visits)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `part` of `whole`, in percent with one decimal (0 for an empty whole).
fn share_of(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (part as f64 / whole as f64 * 1000.0).round() / 10.0
    }
}

/// Pages that travel privately: landing pages ranked by dark arrivals, with their
/// private (identified) and estimated arrivals and their dark share.
/// Share-button shares and app link previews of `pages` in `q`'s range: two breakdowns by
/// `event:page`, exact pages only (a `*` in a path is a wildcard to the filter).
fn travel_signals(
    events: &dyn lucarne_store::EventStore,
    q: &lucarne_core::stats::ReportQuery,
    pages: &[String],
) -> Result<HashMap<String, (u64, u64)>, lucarne_store::StoreError> {
    let mut out: HashMap<String, (u64, u64)> = pages.iter().map(|p| (p.clone(), (0, 0))).collect();
    if pages.is_empty() {
        return Ok(out);
    }
    let eq = |property: Property, values: Vec<String>| Filter::is(property, values);
    let count = |filters: Vec<Filter>| {
        let q = lucarne_core::stats::ReportQuery {
            filters,
            ..q.clone()
        };
        events.breakdown(&q, &Property::Page, pages.len() * 2, 0)
    };
    let page_filter = eq(Property::Page, pages.to_vec());
    for (page, a) in count(vec![
        eq(
            Property::Name,
            vec![lucarne_core::token::SHARE_EVENT.to_string()],
        ),
        page_filter.clone(),
    ])? {
        if let Some(e) = out.get_mut(&page) {
            e.0 = a.events;
        }
    }
    for (page, a) in count(vec![
        eq(
            Property::Name,
            vec![lucarne_core::links::PREVIEW_EVENT.to_string()],
        ),
        eq(Property::EventLink, vec![String::new()]),
        page_filter,
    ])? {
        if let Some(e) = out.get_mut(&page) {
            e.1 = a.events;
        }
    }
    Ok(out)
}

fn travels_markup(
    lang: Lang,
    base: &str,
    view: &View,
    rows: &[(String, Aggregates)],
    signals: &HashMap<String, (u64, u64)>,
) -> Markup {
    html! {
        section class="panel travels" id="panel-travels" {
            header { h2 { (lang.t("travels_h2")) } }
            p class="sub" { (lang.t("travels_sub")) }
            @if rows.is_empty() {
                p class="empty" { (lang.t("travels_none")) }
            } @else {
                div class="table-wrap" role="region" tabindex="0" aria-label=(lang.t("travels_h2")) {
                    table class="share-table travels-table" {
                        thead { tr {
                            th scope="col" { (lang.t("travels_page")) }
                            th scope="col" class="num" { (lang.t("identified")) }
                            th scope="col" class="num" { (lang.t("estimated")) }
                            th scope="col" class="num" { (lang.t("dark_col")) }
                            th scope="col" class="num" title=(lang.t("travels_shares_title")) { (lang.t("travels_shares")) }
                            th scope="col" class="num" title=(lang.t("travels_previews_title")) { (lang.t("travels_previews")) }
                        } }
                        tbody {
                            @for (page, a) in rows {
                                tr data-value=(page) {
                                    td class="page" { a href=(view.with_filter("visit:entry_page", page).href(base)) { (page) } }
                                    td class="num" { (lang.int(a.visits_identified_dark)) }
                                    td class="num" { (lang.int(a.visits_estimated_dark)) }
                                    td class="num" { (row_dark_share(lang, a)) }
                                    @let (shares, previews) = signals.get(page).copied().unwrap_or_default();
                                    td class="num" data-shares=(shares) { (lang.int(shares)) }
                                    td class="num" data-previews=(previews) { (lang.int(previews)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tab bar everywhere: the six report tabs for members in one order, the current
    /// one marked and as it is (filters too), the others without filters; owners get the
    /// settings pages, viewers their notifications, a shared link neither (nor Links or
    /// Cards).
    #[test]
    fn one_tab_bar_for_every_tab_and_role() {
        use lucarne_store::meta::{Role, Site};
        let access = |role: Role, shared: bool| Access {
            site: Site {
                id: 1,
                domain: "example.com".into(),
                timezone: "UTC".into(),
                allowed_hostnames: Vec::new(),
            },
            role,
            user: None,
            shared,
        };
        let view = View::from_query(Some("period=7d&lang=fr&f=visit:channel%3D%3Dwhatsapp"));
        let links = |a: &Access, current: Tab| {
            let html =
                site_tabs(Lang::Fr, a, "/sites/example.com", &view, current, "/here").into_string();
            html.split("href=\"")
                .skip(1)
                .filter_map(|p| p.split('"').next().map(str::to_string))
                .collect::<Vec<_>>()
        };
        let owner = access(Role::Owner, false);
        for current in Tab::ALL {
            let got = links(&owner, current);
            assert_eq!(got.len(), 10, "{current:?}: {got:?}");
            for (i, tab) in Tab::ALL.into_iter().enumerate() {
                if tab == current {
                    assert_eq!(got[i], "/here");
                } else {
                    assert_eq!(
                        got[i],
                        format!("/sites/example.com{}?period=7d&amp;lang=fr", tab.path()),
                        "{current:?} → {tab:?}"
                    );
                }
            }
            assert_eq!(got[9], "/sites/example.com/notifications");
        }
        let viewer = links(&access(Role::Viewer, false), Tab::Funnels);
        assert_eq!(viewer.len(), 7, "{viewer:?}");
        assert_eq!(viewer[6], "/sites/example.com/notifications");
        let shared = links(&access(Role::Viewer, true), Tab::Sharing);
        assert_eq!(shared.len(), 4, "{shared:?}");
        assert!(shared
            .iter()
            .all(|h| !h.contains("/links") && !h.contains("/cards")));
    }

    #[test]
    fn view_round_trips_through_the_url() {
        let v = View::from_query(Some(
            "period=custom&from=2026-01-01&to=2026-01-31&compare=1&lang=fr&f=visit:channel%3D%3Dwhatsapp&f=event:page%3D%3D%2Fa%3Bb%7Cc",
        ));
        assert_eq!(v.period, "custom");
        assert!(v.compare);
        assert_eq!(v.filters.len(), 2);
        assert_eq!(v.filters[1], ("event:page".into(), "/a;b|c".into()));
        assert_eq!(View::from_query(Some(&v.query_string())), v);
        let w = v.without_filter("visit:channel");
        assert_eq!(w.filters.len(), 1);
        assert_eq!(View::from_query(None).href("/x"), "/x");
    }

    #[test]
    fn bad_input_is_ignored() {
        let v = View::from_query(Some(
            "period=forever&f=nope==1&f=visit:os&lang=de&compare=yes",
        ));
        assert_eq!(v, View::from_query(None));
    }

    #[test]
    fn panels_have_valid_properties() {
        for p in PANELS {
            assert!(Property::parse(p.property).is_ok(), "{}", p.slug);
            assert!(panel(p.slug).is_some());
        }
    }
}
