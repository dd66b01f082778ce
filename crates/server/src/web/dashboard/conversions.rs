//! The Conversions view: a site's goals and their conversions, where the conversions of
//! one goal come from, whether private visits convert better than public ones, goal
//! management (owners) and the "How did you hear about us?" survey.
//!
//! - `GET /sites/{domain}/conversions`, `GET /share/{link}/conversions` (shared link,
//!   read-only): the period state of the Sharing tab (`period`, `date`, `from`/`to`,
//!   `lang`; filters and comparison do not apply), plus `goal` (a goal's id, name or
//!   value; default: the first goal) and `by` (`visit:channel_group`, `visit:channel`,
//!   `visit:evidence`, `visit:share_channel`, `visit:link`, `visit:generation`, `share`,
//!   `cascade`), chosen with a plain GET form;
//! - `POST /sites/{domain}/conversions` — `action=add` (`kind`, `value`, `name`) or
//!   `action=delete` (`id`): owners only, CSRF checked; a redirect back on success, the
//!   page with the problem (400) otherwise.
//!
//! The numbers are those of `GET /api/v1/stats/conversions` (the same typed
//! `api::conversions::ConversionReport`, built by `conversion_report`) and
//! `GET /api/v1/stats/surveys` (`api::surveys::report_for`'s `SurveyReport`) for the
//! same period, so page and API agree. Goals are
//! checked by `api::conversions::parse_goal`, as in the API. Same access rules as the
//! Sharing tab; no script (the delete confirmation is an `app.js` enhancement), no
//! inline style.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lucarne_core::conversions::minor_digits;
use lucarne_core::stats::Property;
use lucarne_core::survey::{SurveyReport, SurveyRules};
use lucarne_core::ChannelGroup;
use maud::{html, Markup};
use tracing::info;

use super::i18n::Lang;
use super::shares::scroll_area;
use super::{
    accept_language, encode_segment, internal, page_bare, page_with, shared_access, site_access,
    value_label, Access, Kind, Session, View, WebError,
};
use crate::api::conversions::{
    conversion_report, parse_goal, Amount, By, ConversionReport as Report, Side, Uplift,
};
use crate::api::stats::Resolved;
use crate::api::surveys::report_for;
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::auth::{csrf_field, owner_access, redirect, verify_csrf, Client};
use lucarne_store::meta::Role;

/// The breakdowns offered by the "by" selector, in this order.
const BYS: [&str; 8] = [
    "visit:channel_group",
    "visit:channel",
    "visit:evidence",
    "visit:share_channel",
    "visit:link",
    "visit:generation",
    "share",
    "cascade",
];
const DEFAULT_BY: &str = "visit:channel_group";
/// Free-text answers listed, at most.
const FREE_TEXT_ROWS: usize = 20;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/sites/{domain}/conversions", get(site_page).post(submit))
        .route("/share/{link}/conversions", get(shared_page))
}

// ---------------------------------------------------------------------------------------
// The report: `api::conversions::ConversionReport`, the very values the API answers.

// ---------------------------------------------------------------------------------------
// Request state

/// What every rendering of the page needs.
struct Ctx<'a> {
    state: &'a Arc<AppState>,
    /// `None` through a shared link.
    session: Option<&'a Session>,
    access: &'a Access,
    lang: Lang,
    /// The period state (filters and comparison dropped).
    view: View,
    /// The `goal` parameter, if any.
    goal: Option<String>,
    /// The `by` parameter (`visit:channel_group` when absent).
    by: String,
    /// `/sites/DOMAIN` or `/share/LINK`.
    base: String,
    /// `scheme://host` of this server for the survey snippet; `None` through a shared link.
    origin: Option<String>,
}

impl<'a> Ctx<'a> {
    fn new(
        state: &'a Arc<AppState>,
        session: Option<&'a Session>,
        access: &'a Access,
        base: String,
        query: Option<&str>,
        lang: Lang,
        origin: Option<String>,
    ) -> Self {
        let mut goal = None;
        let mut by = DEFAULT_BY.to_string();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let v = v.trim();
            match &*k {
                "goal" if !v.is_empty() => goal = Some(v.to_string()),
                "by" if !v.is_empty() => by = v.to_string(),
                _ => {}
            }
        }
        Ctx {
            state,
            session,
            access,
            lang,
            view: View {
                filters: Vec::new(),
                compare: false,
                ..View::from_query(query)
            },
            goal,
            by,
            base,
            origin,
        }
    }

    fn owner(&self) -> bool {
        self.session.is_some() && !self.access.shared && self.access.role == Role::Owner
    }

    fn path(&self) -> String {
        format!("{}/conversions", self.base)
    }

    /// The query string of `view` with this page's goal and breakdown.
    fn query(&self, view: &View, goal: Option<&str>) -> String {
        let mut s = url::form_urlencoded::Serializer::new(view.query_string());
        if let Some(g) = goal {
            s.append_pair("goal", g);
        }
        if self.by != DEFAULT_BY {
            s.append_pair("by", &self.by);
        }
        s.finish()
    }

    fn href_with(&self, view: &View, goal: Option<&str>) -> String {
        match self.query(view, goal) {
            q if q.is_empty() => self.path(),
            q => format!("{}?{q}", self.path()),
        }
    }

    /// This page in another period or language.
    fn href(&self, view: &View) -> String {
        self.href_with(view, self.goal.as_deref())
    }

    /// Where to come back after a form, with a flash flag (`added`, `deleted`).
    fn back(&self, flag: &str, keep_goal: bool) -> String {
        let goal = if keep_goal {
            self.goal.as_deref()
        } else {
            None
        };
        let mut s = url::form_urlencoded::Serializer::new(self.query(&self.view, goal));
        s.append_pair(flag, "1");
        format!("{}?{}", self.path(), s.finish())
    }

    fn page(&self, body: Markup) -> Markup {
        let title = format!(
            "{} · {}",
            self.lang.auth("tab_conversions"),
            self.access.site.domain
        );
        match self.session {
            Some(s) => page_with(s, &title, self.lang.code(), body),
            None => page_bare(&title, self.lang.code(), body),
        }
    }
}

/// `scheme://host` as the settings page writes it in its snippet.
fn origin(client: &Client, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("YOUR-LUCARNE-HOST");
    let scheme = if client.tls { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// The goal form's fields, parsed by hand: anything odd is a problem shown in the form.
#[derive(Debug, Default, Clone)]
struct GoalForm {
    csrf: String,
    action: String,
    kind: String,
    value: String,
    name: String,
    id: String,
}

impl GoalForm {
    fn parse(body: &[u8]) -> GoalForm {
        let mut f = GoalForm::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            let v = v.into_owned();
            match &*k {
                "csrf" => f.csrf = v,
                "action" => f.action = v,
                "kind" => f.kind = v,
                "value" => f.value = v,
                "name" => f.name = v,
                "id" => f.id = v,
                _ => {}
            }
        }
        f
    }
}

/// What the page shows besides the reports: a flash, or the add form with its problem.
#[derive(Default)]
struct Notice {
    flash: Option<&'static str>,
    problem: Option<(GoalForm, String)>,
}

// ---------------------------------------------------------------------------------------
// Handlers

async fn site_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    client: Client,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    let base = format!("/sites/{}", encode_segment(&access.site.domain));
    let ctx = Ctx::new(
        &state,
        Some(&session),
        &access,
        base,
        query.as_deref(),
        lang,
        Some(origin(&client, &headers)),
    );
    let mut notice = Notice::default();
    for (k, v) in url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match (&*k, &*v) {
            ("added", "1") => notice.flash = Some(lang.t("cv_added")),
            ("deleted", "1") => notice.flash = Some(lang.t("cv_deleted")),
            _ => {}
        }
    }
    render(&ctx, notice).await
}

async fn shared_page(
    State(state): State<Arc<AppState>>,
    Path(link): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    let access = shared_access(&state, &link).await?;
    let base = format!("/share/{}", encode_segment(&link));
    let view = View::from_query(query.as_deref());
    // The Sharing tab's rule: `?lang=`, then the browser's (no user through a link).
    let lang = Lang::choose(view.lang.as_deref(), None, accept_language(&headers));
    let ctx = Ctx::new(&state, None, &access, base, query.as_deref(), lang, None);
    render(&ctx, Notice::default()).await
}

#[allow(clippy::too_many_arguments)]
async fn submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    client: Client,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let access = owner_access(&state, &session, &domain).await?;
    let f = GoalForm::parse(&body);
    verify_csrf(&session, &f.csrf)?;
    let base = format!("/sites/{}", encode_segment(&access.site.domain));
    let ctx = Ctx::new(
        &state,
        Some(&session),
        &access,
        base,
        query.as_deref(),
        lang,
        Some(origin(&client, &headers)),
    );
    let site_id = access.site.id;
    match f.action.as_str() {
        "add" => {
            let problem = match goal_kind(lang, &f) {
                Err(p) => p,
                Ok(kind) => match state.meta.create_goal(site_id, &kind, &f.name).await? {
                    Some(g) => {
                        info!(
                            message = "Goal created from the dashboard.",
                            site_id,
                            goal_id = g.id,
                            user_id = session.user.id
                        );
                        return Ok(redirect(&ctx.back("added", true)));
                    }
                    None => lang.t("cv_e_exists").to_string(),
                },
            };
            let notice = Notice {
                flash: None,
                problem: Some((f, problem)),
            };
            Ok((StatusCode::BAD_REQUEST, render(&ctx, notice).await?).into_response())
        }
        "delete" => {
            let id = crate::web::auth::row_id(&f.id)?;
            if !state.meta.delete_goal(site_id, id).await? {
                return Err(WebError::NotFound);
            }
            info!(
                message = "Goal deleted from the dashboard.",
                site_id,
                goal_id = id,
                user_id = session.user.id
            );
            Ok(redirect(&ctx.back("deleted", false)))
        }
        _ => Err(WebError::BadRequest(lang.auth("unknown_action").into())),
    }
}

/// The goal of the add form, checked by `parse_goal` (as the API checks it), or the
/// problem in the user's language.
fn goal_kind(lang: Lang, f: &GoalForm) -> Result<lucarne_core::conversions::GoalKind, String> {
    let kind = f.kind.trim();
    parse_goal(kind, &f.value).map_err(|_| {
        match kind {
            "event" => lang.t("cv_e_event"),
            "page" => lang.t("cv_e_page"),
            _ => lang.t("cv_e_kind"),
        }
        .to_string()
    })
}

/// A report error as an HTML error page.
fn report_error(lang: Lang, e: ApiError) -> WebError {
    if e.reason == "unknown_goal" {
        WebError::BadRequest(lang.t("cv_e_no_goal").into())
    } else if e.status.is_client_error() {
        WebError::BadRequest(e.message)
    } else {
        internal("conversions page", e.message)
    }
}

async fn render(ctx: &Ctx<'_>, notice: Notice) -> Result<Markup, WebError> {
    let state = ctx.state;
    let lang = ctx.lang;
    let site = &ctx.access.site;
    let r = ctx.view.resolve(site.clone(), "visitors")?;
    let by = By::parse(Some(&ctx.by))
        .map_err(|_| WebError::BadRequest(lang.t("cv_e_by").to_string()))?;
    let q = r.query(r.from, r.to);
    let (conv, survey) = tokio::join!(
        conversion_report(state, site, q.clone(), ctx.goal.as_deref(), &by),
        report_for(state, q)
    );
    let rep = conv.map_err(|e| report_error(lang, e))?;
    let survey = survey.map_err(|e| report_error(lang, e))?;
    let links: HashMap<i64, String> = if by == By::Property(Property::Link) {
        state
            .meta
            .links(site.id)
            .await?
            .into_iter()
            .map(|l| (l.id, l.slug))
            .collect()
    } else {
        HashMap::new()
    };
    let survey_on = state.site_options(site.id).await?.survey_enabled;
    let body = html! {
        (header(ctx, &r))
        @if let Some(f) = notice.flash {
            p.flash role="status" { (f) }
        }
        (goals_section(ctx, &rep))
        @if !rep.goals.is_empty() {
            (breakdown_section(ctx, &rep, &by, &links))
            @if let Some(u) = &rep.uplift {
                (uplift_section(ctx, u))
            }
        }
        (manage_section(ctx, &rep, notice.problem.as_ref()))
        (survey_section(ctx, &survey, survey_on))
        footer class="dash-foot" {
            p { (lang.t("cv_explained")) }
        }
    };
    Ok(ctx.page(body))
}

// ---------------------------------------------------------------------------------------
// Rendering

/// The page head: site, range, languages, tabs and the period picker.
fn header(ctx: &Ctx<'_>, r: &Resolved) -> Markup {
    let mut keep: Vec<(&str, &str)> = Vec::new();
    if let Some(g) = &ctx.goal {
        keep.push(("goal", g));
    }
    if ctx.by != DEFAULT_BY {
        keep.push(("by", &ctx.by));
    }
    super::tab_head(
        ctx.lang,
        ctx.access,
        &ctx.view,
        (r.from, r.to),
        &|v: &View| ctx.href(v),
        &ctx.path(),
        super::site_tabs(
            ctx.lang,
            ctx.access,
            &ctx.base,
            &ctx.view,
            super::Tab::Conversions,
            &ctx.view.href(&ctx.path()),
        ),
        &keep,
    )
}

/// A goal's value (a path, an event name) with a line-break opportunity before each `/`
/// after the first, so a long path wraps between its segments instead of mid-word.
fn breakable(value: &str) -> Markup {
    html! {
        @for (i, part) in value.split('/').enumerate() {
            @if i > 1 { wbr; }
            @if i > 0 { "/" }
            (part)
        }
    }
}

/// `12.50` / `12,50` with the currency's number of decimals, then the code.
fn money(lang: Lang, x: f64, currency: &str) -> String {
    let digits = minor_digits(currency).min(4);
    let scale = 10u64.pow(digits);
    let units = (x.abs() * scale as f64).round() as u64;
    let sign = if x < 0.0 && units > 0 { "-" } else { "" };
    let whole = lang.int(units / scale);
    let n = if digits == 0 {
        format!("{sign}{whole}")
    } else {
        let sep = match lang {
            Lang::En => '.',
            Lang::Fr => ',',
        };
        format!(
            "{sign}{whole}{sep}{:0w$}",
            units % scale,
            w = digits as usize
        )
    };
    format!("{n}\u{a0}{currency}")
}

fn colon(lang: Lang) -> &'static str {
    match lang {
        Lang::En => ":",
        Lang::Fr => "\u{a0}:",
    }
}

/// `+12.5%` / `−3,0 %`.
fn signed_pct(lang: Lang, x: f64) -> String {
    let sign = if x >= 0.05 {
        "+"
    } else if x <= -0.05 {
        "\u{2212}"
    } else {
        ""
    };
    format!("{sign}{}", lang.pct1(x.abs()))
}

/// `3.1% – 12.0%`.
fn pct_interval(lang: Lang, i: [f64; 2]) -> String {
    format!("{} \u{2013} {}", lang.pct1(i[0]), lang.pct1(i[1]))
}

fn kind_label(lang: Lang, kind: &str) -> &'static str {
    match kind {
        "page" => lang.t("cv_kind_page"),
        _ => lang.t("cv_kind_event"),
    }
}

fn by_label(lang: Lang, by: &str) -> String {
    match lang.t(&format!("cv_by_{by}")) {
        "?" => by.to_string(),
        t => t.to_string(),
    }
}

/// The total in the site's currency, then the amounts per currency when there is more
/// than the site's, and the currencies left unconverted.
fn revenue_cell(lang: Lang, m: &Amount, currency: &str) -> Markup {
    let others = m.by_currency.keys().any(|c| c != currency);
    html! {
        span class="amount" { (money(lang, m.total, currency)) }
        @if others {
            span class="sub by-currency" {
                (lang.t("cv_by_currency")) " "
                @for (i, (c, a)) in m.by_currency.iter().enumerate() {
                    @if i > 0 { ", " }
                    (money(lang, *a, c))
                }
            }
        }
        @if !m.unconverted.is_empty() {
            span class="sub unconverted" {
                (lang.t("cv_unconverted")) " " (m.unconverted.join(", "))
            }
        }
    }
}

fn goals_section(ctx: &Ctx<'_>, rep: &Report) -> Markup {
    let lang = ctx.lang;
    let cur = rep.currency.as_str();
    let selected = rep.goal.as_ref().map(|g| g.id);
    html! {
        section class="share-box" id="goals" {
            h2 { (lang.t("cv_goals_h2")) }
            @if rep.goals.is_empty() {
                p class="empty" { (lang.t("cv_no_goals")) }
            } @else {
                (scroll_area(lang, lang.t("cv_goals_h2"), true, html! {
                    table class="share-table cv-table goals-table" {
                        caption { (lang.t("cv_goals_caption")) }
                        thead { tr {
                            th scope="col" { (lang.t("cv_goal")) }
                            th scope="col" { (lang.t("cv_kind")) }
                            th scope="col" class="num" { (lang.t("visits")) }
                            th scope="col" class="num" { (lang.t("cv_converting")) }
                            th scope="col" class="num" { (lang.t("cv_conversions")) }
                            th scope="col" class="num" { (lang.t("cv_rate")) }
                            th scope="col" class="num" { (lang.t("cv_revenue").replace("{cur}", cur)) }
                        } }
                        tbody {
                            @for g in &rep.goals {
                                @let c = &g.counts;
                                tr id={ "goal-" (g.id) } data-goal=(g.id)
                                    class=[(selected == Some(g.id)).then_some("selected")] {
                                    th scope="row" {
                                        a href=(ctx.href_with(&ctx.view, Some(&g.id.to_string())))
                                            aria-current=[(selected == Some(g.id)).then_some("true")] { (g.name) }
                                        @if g.name != g.value {
                                            " " code { (breakable(&g.value)) }
                                        }
                                    }
                                    td { (kind_label(lang, g.kind)) }
                                    td class="num" data-col="visits" { (lang.int(c.visits)) }
                                    td class="num" data-col="converting" { (lang.int(c.converting_visits)) }
                                    td class="num" data-col="conversions" { (lang.int(c.conversions)) }
                                    td class="num" data-col="rate" { (lang.pct1(c.conversion_rate)) }
                                    td class="num" data-col="revenue" { (revenue_cell(lang, &c.revenue, cur)) }
                                }
                            }
                        }
                    }
                }))
            }
        }
    }
}

/// A breakdown value as people read it: a channel group's, channel's or evidence's name,
/// a short link's slug, a cascade's first visit.
fn row_label(ctx: &Ctx<'_>, by: &By, value: &str, links: &HashMap<i64, String>) -> String {
    let lang = ctx.lang;
    if value.is_empty() {
        return lang.t("none").to_string();
    }
    let kind = match by {
        By::Property(Property::ChannelGroup) => Some(Kind::Group),
        By::Property(Property::Channel) => Some(Kind::Channel),
        By::Property(Property::Evidence) => Some(Kind::Evidence),
        By::Property(Property::Device) => Some(Kind::Device),
        _ => None,
    };
    if let Some(k) = kind {
        return value_label(ctx.state, lang, k, value);
    }
    match by {
        By::Property(Property::VisitShareChannel) => match lang.t(&format!("sc_{value}")) {
            "?" => value.to_string(),
            t => t.to_string(),
        },
        By::Property(Property::Link) => {
            match value.parse::<i64>().ok().and_then(|id| links.get(&id)) {
                Some(slug) => format!("/l/{slug}"),
                None => format!("#{value}"),
            }
        }
        By::Cascade => match value.split_once(" \u{b7} ") {
            Some((root, "(before the period)")) => {
                format!("{root} \u{b7} {}", lang.t("cv_before_period"))
            }
            _ => value.to_string(),
        },
        _ => value.to_string(),
    }
}

fn breakdown_section(ctx: &Ctx<'_>, rep: &Report, by: &By, links: &HashMap<i64, String>) -> Markup {
    let lang = ctx.lang;
    let cur = rep.currency.as_str();
    let by_name = by.name();
    let by_text = by_label(lang, &by_name);
    let goal_name = rep
        .goal
        .as_ref()
        .map(|g| g.name.as_str())
        .unwrap_or_default();
    let selected = rep.goal.as_ref().map(|g| g.id);
    let period_q = ctx.view.query_string();
    html! {
        section class="share-box" id="breakdown" {
            h2 { (lang.t("cv_breakdown_h2")) }
            form class="link-form breakdown-form" method="get" action=(ctx.path()) {
                @for (k, v) in url::form_urlencoded::parse(period_q.as_bytes()) {
                    input type="hidden" name=(k) value=(v);
                }
                label { (lang.t("cv_goal"))
                    select name="goal" {
                        @for g in &rep.goals {
                            option value=(g.id) selected[selected == Some(g.id)] { (g.name) }
                        }
                    }
                }
                label { (lang.t("cv_by"))
                    select name="by" {
                        @for b in BYS {
                            option value=(b) selected[b == by_name] { (by_label(lang, b)) }
                        }
                        @if !BYS.contains(&by_name.as_str()) {
                            option value=(by_name) selected { (by_name) }
                        }
                    }
                }
                div class="form-end" { button type="submit" { (lang.t("cv_show")) } }
            }
            @if rep.rows.is_empty() {
                p class="empty" { (lang.t("no_data")) }
            } @else {
                (scroll_area(lang, lang.t("cv_breakdown_h2"), true, html! {
                    table class="share-table cv-table breakdown-table" {
                        caption {
                            (lang.t("cv_breakdown_caption").replace("{goal}", goal_name).replace("{by}", &by_text.to_lowercase()))
                        }
                        thead { tr {
                            th scope="col" { (by_text) }
                            th scope="col" class="num" { (lang.t("visits")) }
                            th scope="col" class="num" { (lang.t("cv_converting")) }
                            th scope="col" class="num" { (lang.t("cv_conversions")) }
                            th scope="col" class="num" { (lang.t("cv_rate")) }
                            th scope="col" class="num" { (lang.t("cv_revenue").replace("{cur}", cur)) }
                            th scope="col" class="num" { (lang.t("cv_per_visit").replace("{cur}", cur)) }
                        } }
                        tbody {
                            @for row in &rep.rows {
                                @let c = &row.counts;
                                tr data-value=(row.value) {
                                    th scope="row" { (row_label(ctx, by, &row.value, links)) }
                                    td class="num" data-col="visits" { (lang.int(c.visits)) }
                                    td class="num" data-col="converting" { (lang.int(c.converting_visits)) }
                                    td class="num" data-col="conversions" { (lang.int(c.conversions)) }
                                    td class="num" data-col="rate" { (lang.pct1(c.conversion_rate)) }
                                    td class="num" data-col="revenue" { (revenue_cell(lang, &c.revenue, cur)) }
                                    td class="num" data-col="per-visit" { (money(lang, c.revenue.per_visit, cur)) }
                                }
                            }
                        }
                    }
                }))
            }
        }
    }
}

fn uplift_section(ctx: &Ctx<'_>, u: &Uplift) -> Markup {
    let lang = ctx.lang;
    let method = match lang {
        Lang::En => u.method,
        Lang::Fr => lang.t("cv_uplift_method"),
    };
    let side = |id: &str, key: &str, s: &Side| {
        html! {
            tr id=(id) {
                th scope="row" { (lang.t(key)) }
                td class="num" data-col="visits" { (lang.int(s.visits)) }
                td class="num" data-col="converting" { (lang.int(s.converting_visits)) }
                td class="num" data-col="rate" { (lang.pct1(s.conversion_rate)) }
                td class="num" data-col="interval" { (pct_interval(lang, s.interval)) }
            }
        }
    };
    html! {
        section class="share-box" id="uplift" {
            h2 { (lang.t("cv_uplift_h2")) }
            (scroll_area(lang, lang.t("cv_uplift_h2"), true, html! {
                table class="share-table cv-table uplift-table" {
                    caption { (lang.t("cv_uplift_caption")) }
                    thead { tr {
                        th scope="col" { (lang.t("cv_visits_from")) }
                        th scope="col" class="num" { (lang.t("visits")) }
                        th scope="col" class="num" { (lang.t("cv_converting")) }
                        th scope="col" class="num" { (lang.t("cv_rate")) }
                        th scope="col" class="num" { (lang.t("cv_interval")) }
                    } }
                    tbody {
                        (side("uplift-private", "cv_private", &u.private))
                        (side("uplift-public", "cv_public", &u.public))
                    }
                }
            }))
            dl class="uplift-facts" {
                dt { (lang.t("cv_difference")) }
                dd id="uplift-difference" {
                    strong { (lang.change_pts_fine(u.difference_points)) }
                    " (" (lang.t("cv_interval")) (colon(lang)) " "
                    (lang.change_pts_fine(u.difference_interval[0])) " " (lang.t("cv_to")) " "
                    (lang.change_pts_fine(u.difference_interval[1])) ")"
                }
                dt { (lang.t("cv_relative")) }
                dd id="uplift-relative" {
                    @match u.relative_uplift_percent {
                        Some(r) => strong { (signed_pct(lang, r)) },
                        None => "\u{2014}",
                    }
                }
            }
            p class=(if u.significant { "verdict significant" } else { "verdict not-significant" }) id="uplift-verdict" {
                strong {
                    (if u.significant { lang.t("cv_significant") } else { lang.t("cv_not_significant") })
                }
            }
            p class="note" id="uplift-method" { (lang.t("cv_method")) " " (method) }
        }
    }
}

fn manage_section(ctx: &Ctx<'_>, rep: &Report, problem: Option<&(GoalForm, String)>) -> Markup {
    let lang = ctx.lang;
    let owner = ctx.owner();
    let action = ctx.href(&ctx.view);
    let blank = GoalForm {
        kind: "event".into(),
        ..GoalForm::default()
    };
    let (form, problem) = match problem {
        Some((f, p)) => (f, Some(p.as_str())),
        None => (&blank, None),
    };
    html! {
        section class="share-box" id="goal-admin" {
            h2 { (lang.t("cv_manage_h2")) }
            @if !owner {
                p class="note" { (lang.t("cv_viewer_note")) }
            }
            @if !rep.goals.is_empty() {
                (scroll_area(lang, lang.t("cv_manage_h2"), true, html! {
                    table class="share-table cv-table goal-list" {
                        caption class="visually-hidden" { (lang.t("cv_manage_h2")) }
                        thead { tr {
                            th scope="col" { (lang.t("cv_name")) }
                            th scope="col" { (lang.t("cv_kind")) }
                            th scope="col" { (lang.t("cv_match")) }
                            @if owner {
                                th scope="col" { span class="visually-hidden" { (lang.t("cv_delete")) } }
                            }
                        } }
                        tbody {
                            @for g in &rep.goals {
                                tr data-goal=(g.id) {
                                    th scope="row" { (g.name) }
                                    td { (kind_label(lang, g.kind)) }
                                    td { code { (breakable(&g.value)) } }
                                    @if owner {
                                        @if let Some(s) = ctx.session {
                                            td {
                                                (super::delete_button(s, &action, g.id, lang.t("cv_confirm_delete"), &format!("{} {}", lang.t("cv_delete_goal"), g.name), lang.t("cv_delete")))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }))
            }
            @if owner {
                @if let Some(s) = ctx.session {
                    h3 { (lang.t("cv_add_h3")) }
                    @if let Some(p) = problem {
                        p class="error" role="alert" id="goal-problem" { (p) }
                    }
                    form class="link-form goal-form" method="post" action=(action) {
                        (csrf_field(s))
                        input type="hidden" name="action" value="add";
                        label { (lang.t("cv_f_kind"))
                            select name="kind" {
                                option value="event" selected[form.kind.trim() != "page"] { (lang.t("cv_kind_event")) }
                                option value="page" selected[form.kind.trim() == "page"] { (lang.t("cv_kind_page")) }
                            }
                        }
                        label { (lang.t("cv_f_value"))
                            input type="text" name="value" value=(form.value) required maxlength="2000"; }
                        label { (lang.t("cv_f_name"))
                            input type="text" name="name" value=(form.name) maxlength="120"; }
                        div class="form-end" { button type="submit" { (lang.t("cv_add_btn")) } }
                    }
                }
            }
        }
    }
}

fn group_label(lang: Lang, g: ChannelGroup) -> &'static str {
    lang.t(&format!("group_{}", g.as_str()))
}

/// A reported answer: its option's label in the page's language, else as sent.
fn answer_label(lang: Lang, id: &str) -> String {
    match SurveyRules::builtin().option(id) {
        Some(o) => o.label(lang.code()).to_string(),
        None => id.to_string(),
    }
}

/// Groups where visits from private messages land unseen.
fn hides_dark(g: ChannelGroup) -> bool {
    matches!(g, ChannelGroup::Direct | ChannelGroup::EstimatedDark)
}

fn survey_section(ctx: &Ctx<'_>, s: &SurveyReport, enabled: bool) -> Markup {
    let lang = ctx.lang;
    // Measured groups present in the matrix, in the usual group order.
    let groups: Vec<ChannelGroup> = ChannelGroup::ALL
        .into_iter()
        .filter(|g| s.matrix.iter().any(|c| c.measured == *g))
        .collect();
    let cell = |reported: &str, g: ChannelGroup| -> u64 {
        s.matrix
            .iter()
            .filter(|c| c.reported == reported && c.measured == g)
            .map(|c| c.count)
            .sum()
    };
    let interval = |lo: f64, hi: f64| {
        lang.t("sv_interval")
            .replace("{lo}", &lang.pct1(lo * 100.0))
            .replace("{hi}", &lang.pct1(hi * 100.0))
    };
    html! {
        section class="share-box" id="survey" {
            h2 { (lang.t("sv_h2")) }
            @if !enabled {
                p class="note" { (lang.t("sv_off")) }
            }
            div class="stats survey-stats" {
                div class="stat" id="stat-sv_respondents" data-value=(s.respondents) {
                    h3 { (lang.t("sv_respondents")) }
                    span class="value" { (lang.int(s.respondents)) }
                }
                @if let Some(e) = &s.estimate {
                    div class="stat" id="stat-sv_estimate" data-value=(format!("{:.4}", e.share)) {
                        h3 { (lang.t("sv_estimate")) }
                        span class="value" { (lang.pct1(e.share * 100.0)) }
                        p class="sub" { (interval(e.low, e.high)) }
                    }
                    div class="stat" id="stat-sv_measured" data-value=(format!("{:.4}", e.measured_share)) {
                        h3 { (lang.t("sv_measured")) }
                        span class="value" { (lang.pct1(e.measured_share * 100.0)) }
                        p class="sub" { (lang.t("sv_of_visits")) }
                    }
                }
            }
            @match &s.estimate {
                Some(e) => {
                    p class="note" id="survey-method" {
                        (lang.t("cv_method")) " "
                        @match lang {
                            Lang::En => (e.method),
                            Lang::Fr => (if e.method.contains("pooled") { lang.t("sv_method_pooled") } else { lang.t("sv_method") }),
                        }
                    }
                },
                None => p class="empty" { (lang.t("sv_no_estimate")) },
            }
            @if s.respondents == 0 {
                p class="empty" { (lang.t("sv_none")) }
            } @else {
                h3 { (lang.t("sv_matrix_h3")) }
                (scroll_area(lang, lang.t("sv_matrix_h3"), true, html! {
                    table class="share-table cv-table survey-matrix" {
                        caption { (lang.t("sv_matrix_caption")) }
                        thead { tr {
                            th scope="col" { (lang.t("sv_reported")) }
                            @for g in &groups {
                                th scope="col" class="num" { (group_label(lang, *g)) }
                            }
                            th scope="col" class="num" { (lang.t("sv_total")) }
                        } }
                        tbody {
                            @for (reported, n) in &s.by_reported {
                                tr data-reported=(reported) {
                                    th scope="row" { (answer_label(lang, reported)) }
                                    @for g in &groups {
                                        td class="num" data-measured=(g.as_str()) { (lang.int(cell(reported, *g))) }
                                    }
                                    td class="num" data-measured="total" { (lang.int(*n)) }
                                }
                            }
                        }
                    }
                }))
            }
            @if !s.strata.is_empty() {
                h3 { (lang.t("sv_groups_h3")) }
                (scroll_area(lang, lang.t("sv_groups_h3"), true, html! {
                    table class="share-table cv-table survey-groups" {
                        caption { (lang.t("sv_groups_caption")) }
                        thead { tr {
                            th scope="col" { (lang.t("sv_measured_group")) }
                            th scope="col" class="num" { (lang.t("visits")) }
                            th scope="col" class="num" { (lang.t("sv_respondents")) }
                            th scope="col" class="num" { (lang.t("sv_say_private")) }
                            th scope="col" class="num" { (lang.t("cv_interval")) }
                        } }
                        tbody {
                            @for st in &s.strata {
                                tr data-measured=(st.measured.as_str())
                                    class=[hides_dark(st.measured).then_some("hides-dark")] {
                                    th scope="row" {
                                        (group_label(lang, st.measured))
                                        @if hides_dark(st.measured) {
                                            " " span class="tag" { "(" (lang.t("sv_hides")) ")" }
                                        }
                                    }
                                    td class="num" data-col="visits" { (lang.int(st.visits)) }
                                    td class="num" data-col="respondents" { (lang.int(st.respondents)) }
                                    @if st.respondents == 0 {
                                        td class="num" data-col="private" { "\u{2014}" }
                                        td class="num" data-col="interval" { "\u{2014}" }
                                    } @else {
                                        td class="num" data-col="private" { (lang.pct1(st.share * 100.0)) }
                                        td class="num" data-col="interval" {
                                            (lang.pct1(st.low * 100.0)) " \u{2013} " (lang.pct1(st.high * 100.0))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }))
            }
            @if !s.free_texts.is_empty() {
                h3 { (lang.t("sv_free_h3")) }
                (scroll_area(lang, lang.t("sv_free_h3"), false, html! {
                    table class="share-table cv-table survey-texts" {
                        caption { (lang.t("sv_free_caption")) }
                        thead { tr {
                            th scope="col" { (lang.t("sv_text")) }
                            th scope="col" { (lang.t("sv_read_as")) }
                            th scope="col" class="num" { (lang.t("sv_respondents")) }
                        } }
                        tbody {
                            @for (text, mapped, n) in s.free_texts.iter().take(FREE_TEXT_ROWS) {
                                tr {
                                    th scope="row" class="page" { (text) }
                                    td {
                                        @match mapped {
                                            Some(id) => (answer_label(lang, id)),
                                            None => (lang.t("sv_unmapped")),
                                        }
                                    }
                                    td class="num" { (lang.int(*n)) }
                                }
                            }
                        }
                    }
                }))
            }
            @if let Some(origin) = &ctx.origin {
                h3 { (lang.t("sv_embed_h3")) }
                p { (lang.t("sv_embed_intro")) }
                pre class="survey-snippet" { code {
                    (format!(
                        "<script defer data-domain=\"{d}\" src=\"{origin}/js/survey.js\"></script>\n<div data-lucarne-survey></div>",
                        d = ctx.access.site.domain
                    ))
                } }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goal_values_break_between_path_segments() {
        assert_eq!(
            breakable("/newsletter/thanks").into_string(),
            "/newsletter<wbr>/thanks"
        );
        assert_eq!(breakable("purchase").into_string(), "purchase");
        assert_eq!(
            breakable("/a/<b>/").into_string(),
            "/a<wbr>/&lt;b&gt;<wbr>/"
        );
    }

    #[test]
    fn amounts_follow_the_currency_and_language() {
        assert_eq!(money(Lang::En, 1234.5, "EUR"), "1,234.50\u{a0}EUR");
        assert_eq!(money(Lang::Fr, 1234.5, "EUR"), "1\u{a0}234,50\u{a0}EUR");
        assert_eq!(money(Lang::En, 1500.0, "JPY"), "1,500\u{a0}JPY");
        assert_eq!(money(Lang::En, 1.234, "KWD"), "1.234\u{a0}KWD");
        assert_eq!(money(Lang::En, -2.5, "USD"), "-2.50\u{a0}USD");
        assert_eq!(signed_pct(Lang::En, 100.0), "+100.0%");
        assert_eq!(signed_pct(Lang::Fr, -12.34), "\u{2212}12,3\u{a0}%");
    }

    #[test]
    fn every_label_of_the_view_exists() {
        let keys = [
            "cv_goals_h2",
            "cv_goals_caption",
            "cv_goal",
            "cv_kind",
            "cv_kind_event",
            "cv_kind_page",
            "cv_converting",
            "cv_conversions",
            "cv_rate",
            "cv_revenue",
            "cv_per_visit",
            "cv_by_currency",
            "cv_unconverted",
            "cv_no_goals",
            "cv_breakdown_h2",
            "cv_breakdown_caption",
            "cv_by",
            "cv_show",
            "cv_before_period",
            "cv_uplift_h2",
            "cv_uplift_caption",
            "cv_private",
            "cv_public",
            "cv_visits_from",
            "cv_interval",
            "cv_difference",
            "cv_relative",
            "cv_to",
            "cv_significant",
            "cv_not_significant",
            "cv_method",
            "cv_uplift_method",
            "cv_manage_h2",
            "cv_viewer_note",
            "cv_match",
            "cv_name",
            "cv_f_kind",
            "cv_f_value",
            "cv_f_name",
            "cv_add_h3",
            "cv_add_btn",
            "cv_delete",
            "cv_delete_goal",
            "cv_confirm_delete",
            "cv_added",
            "cv_deleted",
            "cv_e_kind",
            "cv_e_event",
            "cv_e_page",
            "cv_e_exists",
            "cv_e_no_goal",
            "cv_e_by",
            "cv_explained",
            "sv_h2",
            "sv_respondents",
            "sv_estimate",
            "sv_measured",
            "sv_interval",
            "sv_of_visits",
            "sv_no_estimate",
            "sv_none",
            "sv_matrix_h3",
            "sv_matrix_caption",
            "sv_reported",
            "sv_total",
            "sv_groups_h3",
            "sv_groups_caption",
            "sv_measured_group",
            "sv_say_private",
            "sv_hides",
            "sv_free_h3",
            "sv_free_caption",
            "sv_text",
            "sv_read_as",
            "sv_unmapped",
            "sv_method",
            "sv_method_pooled",
            "sv_embed_h3",
            "sv_embed_intro",
            "sv_off",
        ]
        .into_iter()
        .map(String::from)
        .chain(BYS.iter().map(|b| format!("cv_by_{b}")))
        .chain(
            ChannelGroup::ALL
                .iter()
                .map(|g| format!("group_{}", g.as_str())),
        );
        for key in keys {
            for lang in [Lang::En, Lang::Fr] {
                assert_ne!(lang.t(&key), "?", "{key}");
            }
        }
        assert_eq!(Lang::Fr.auth("tab_conversions"), "Conversions");
        assert_eq!(Lang::Fr.t("cv_goals_h2"), "Objectifs et conversions");
    }

    #[test]
    fn the_uplift_method_translation_follows_core() {
        // The English label is the sentence the API sends; the French one translates it.
        assert_eq!(
            Lang::En.t("cv_uplift_method"),
            lucarne_core::conversions::UPLIFT_METHOD
        );
    }

    #[test]
    fn breakdowns_offered_are_accepted_by_the_api() {
        for b in BYS {
            assert_eq!(
                By::parse(Some(b)).map(|x| x.name()).ok().as_deref(),
                Some(b)
            );
        }
    }
}
