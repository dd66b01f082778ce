//! The Funnels view: a site's saved funnels, the chosen one as a bar per step with its
//! drop-off, the same steps per channel group or channel ("do WhatsApp arrivals finish
//! checkout more than search arrivals?"), and funnel management for owners.
//!
//! - `GET /sites/{domain}/funnels`, `GET /share/{link}/funnels` (shared link, read-only):
//!   the period state of the Conversions tab (`period`, `date`, `from`/`to`, `lang`;
//!   filters and comparison do not apply), plus `funnel` (a saved funnel's id or name;
//!   default: the first) and `by` (`channel_group`, the default, or `channel`);
//! - `POST /sites/{domain}/funnels` — `action=add` (`name`, `kind1`/`value1` …
//!   `kind8`/`value8`, blank values skipped) or `action=delete` (`id`): owners only,
//!   CSRF checked; a redirect back on success, the page with the problem (400) otherwise.
//!
//! The numbers are those of `GET /api/v1/stats/funnel` (the same typed
//! `api::funnels::FunnelReport`, built by `funnel_report`); steps are checked by
//! `api::funnels::parse_steps` and saved by `api::funnels::save`, as in the API. Bars are
//! the `meter` spans of the other tabs (width classes, no inline style, no script).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lucarne_core::funnel::{FunnelError, MAX_STEPS};
use maud::{html, Markup};
use tracing::info;

use super::i18n::Lang;
use super::shares::scroll_area;
use super::{
    accept_language, encode_segment, internal, page_bare, page_with, shared_access, site_access,
    value_label, Access, Kind, Session, View, WebError,
};
use crate::api::funnels::{
    chosen_funnel, funnel_report, parse_steps, save, FunnelBy, FunnelRef, FunnelReport,
};
use crate::api::stats::Resolved;
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::auth::{csrf_field, owner_access, redirect, verify_csrf};
use lucarne_store::meta::Role;

/// The breakdowns offered, in this order (the first is the default).
const BYS: [&str; 2] = ["channel_group", "channel"];

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/sites/{domain}/funnels", get(site_page).post(submit))
        .route("/share/{link}/funnels", get(shared_page))
}

// ---------------------------------------------------------------------------------------
// Request state

struct Ctx<'a> {
    state: &'a Arc<AppState>,
    /// `None` through a shared link.
    session: Option<&'a Session>,
    access: &'a Access,
    lang: Lang,
    /// The period state (filters and comparison dropped).
    view: View,
    /// The `funnel` parameter, if any.
    funnel: Option<String>,
    /// The `by` parameter (`channel_group` when absent).
    by: String,
    /// `/sites/DOMAIN` or `/share/LINK`.
    base: String,
}

impl<'a> Ctx<'a> {
    fn new(
        state: &'a Arc<AppState>,
        session: Option<&'a Session>,
        access: &'a Access,
        base: String,
        query: Option<&str>,
        lang: Lang,
    ) -> Self {
        let mut funnel = None;
        let mut by = BYS[0].to_string();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let v = v.trim();
            match &*k {
                "funnel" if !v.is_empty() => funnel = Some(v.to_string()),
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
            funnel,
            by,
            base,
        }
    }

    fn owner(&self) -> bool {
        self.session.is_some() && !self.access.shared && self.access.role == Role::Owner
    }

    fn path(&self) -> String {
        format!("{}/funnels", self.base)
    }

    fn query(&self, view: &View, funnel: Option<&str>) -> String {
        let mut s = url::form_urlencoded::Serializer::new(view.query_string());
        if let Some(f) = funnel {
            s.append_pair("funnel", f);
        }
        if self.by != BYS[0] {
            s.append_pair("by", &self.by);
        }
        s.finish()
    }

    fn href_with(&self, view: &View, funnel: Option<&str>) -> String {
        match self.query(view, funnel) {
            q if q.is_empty() => self.path(),
            q => format!("{}?{q}", self.path()),
        }
    }

    fn href(&self, view: &View) -> String {
        self.href_with(view, self.funnel.as_deref())
    }

    /// Where to come back after a form, with a flash flag (`added`, `deleted`).
    fn back(&self, flag: &str, funnel: Option<&str>) -> String {
        let mut s = url::form_urlencoded::Serializer::new(self.query(&self.view, funnel));
        s.append_pair(flag, "1");
        format!("{}?{}", self.path(), s.finish())
    }

    fn page(&self, body: Markup) -> Markup {
        let title = format!(
            "{} · {}",
            self.lang.auth("tab_funnels"),
            self.access.site.domain
        );
        match self.session {
            Some(s) => page_with(s, &title, self.lang.code(), body),
            None => page_bare(&title, self.lang.code(), body),
        }
    }
}

/// The add form's fields, parsed by hand: anything odd is a problem shown in the form.
#[derive(Debug, Default, Clone)]
struct FunnelForm {
    csrf: String,
    action: String,
    name: String,
    id: String,
    /// (kind, value) of each of the form's step rows.
    steps: [(String, String); MAX_STEPS],
}

impl FunnelForm {
    fn parse(body: &[u8]) -> FunnelForm {
        let mut f = FunnelForm::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            let v = v.into_owned();
            let row = |prefix: &str| {
                k.strip_prefix(prefix)
                    .and_then(|n| n.parse::<usize>().ok())
                    .filter(|n| (1..=MAX_STEPS).contains(n))
                    .map(|n| n - 1)
            };
            match &*k {
                "csrf" => f.csrf = v,
                "action" => f.action = v,
                "name" => f.name = v,
                "id" => f.id = v,
                _ => {
                    if let Some(i) = row("kind") {
                        f.steps[i].0 = v;
                    } else if let Some(i) = row("value") {
                        f.steps[i].1 = v;
                    }
                }
            }
        }
        f
    }

    /// The rows with a value, as (kind, value) pairs.
    fn filled(&self) -> Vec<(&str, &str)> {
        self.steps
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }
}

#[derive(Default)]
struct Notice {
    flash: Option<&'static str>,
    problem: Option<(FunnelForm, String)>,
}

// ---------------------------------------------------------------------------------------
// Handlers

async fn site_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
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
    );
    let mut notice = Notice::default();
    for (k, v) in url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match (&*k, &*v) {
            ("added", "1") => notice.flash = Some(lang.t("fn_added")),
            ("deleted", "1") => notice.flash = Some(lang.t("fn_deleted")),
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
    let lang = Lang::choose(view.lang.as_deref(), None, accept_language(&headers));
    let ctx = Ctx::new(&state, None, &access, base, query.as_deref(), lang);
    render(&ctx, Notice::default()).await
}

async fn submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, WebError> {
    let access = owner_access(&state, &session, &domain).await?;
    let f = FunnelForm::parse(&body);
    verify_csrf(&session, &f.csrf)?;
    let base = format!("/sites/{}", encode_segment(&access.site.domain));
    let ctx = Ctx::new(
        &state,
        Some(&session),
        &access,
        base,
        query.as_deref(),
        lang,
    );
    let site_id = access.site.id;
    match f.action.as_str() {
        "add" => {
            let saved = match parse_steps(f.filled()) {
                Ok(funnel) => save(&state, &access.site, &f.name, &funnel).await,
                Err(e) => Err(e),
            };
            let problem = match saved {
                Ok(saved) => {
                    info!(
                        message = "Funnel created from the dashboard.",
                        site_id,
                        funnel_id = saved.id,
                        user_id = session.user.id
                    );
                    return Ok(redirect(&ctx.back("added", Some(&saved.id.to_string()))));
                }
                Err(e) => form_problem(lang, &f, e)?,
            };
            let notice = Notice {
                flash: None,
                problem: Some((f, problem)),
            };
            Ok((StatusCode::BAD_REQUEST, render(&ctx, notice).await?).into_response())
        }
        "delete" => {
            let id =
                f.id.trim()
                    .parse::<i64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(WebError::NotFound)?;
            if !state.meta.delete_funnel(site_id, id).await? {
                return Err(WebError::NotFound);
            }
            info!(
                message = "Funnel deleted from the dashboard.",
                site_id,
                funnel_id = id,
                user_id = session.user.id
            );
            Ok(redirect(&ctx.back("deleted", None)))
        }
        _ => Err(WebError::BadRequest(lang.auth("unknown_action").into())),
    }
}

/// The add form's problem in the user's language (a refused funnel), or the error page
/// (the store could not answer).
fn form_problem(lang: Lang, f: &FunnelForm, e: ApiError) -> Result<String, WebError> {
    if !e.status.is_client_error() {
        return Err(internal("funnels page", e.message));
    }
    // The API's message is English; the page says it in the user's language.
    let text = match e.reason {
        "funnel_exists" => lang.t("fn_e_exists").to_string(),
        "funnel_bad_name" => lang.t("fn_e_name").to_string(),
        "funnel_step_count" => lang.t("fn_e_count").to_string(),
        "funnel_bad_step" => lang
            .t("fn_e_step")
            .replace("{n}", &step_problem(f).to_string()),
        _ => e.message,
    };
    Ok(text)
}

/// The number (from 1, counting the filled rows) of the first step that is refused.
fn step_problem(f: &FunnelForm) -> usize {
    match lucarne_core::funnel::Funnel::from_pairs(f.filled()) {
        Err(FunnelError::Step { index, .. }) => index,
        _ => 1,
    }
}

fn report_error(lang: Lang, e: ApiError) -> WebError {
    if e.reason == "unknown_funnel" {
        WebError::BadRequest(lang.t("fn_e_no_funnel").into())
    } else if e.status.is_client_error() {
        WebError::BadRequest(e.message)
    } else {
        internal("funnels page", e.message)
    }
}

async fn render(ctx: &Ctx<'_>, notice: Notice) -> Result<Markup, WebError> {
    let state = ctx.state;
    let lang = ctx.lang;
    let site = &ctx.access.site;
    let r = ctx.view.resolve(site.clone(), "visitors")?;
    let by = FunnelBy::parse(Some(&ctx.by))
        .ok()
        .filter(|b| *b != FunnelBy::None)
        .ok_or_else(|| WebError::BadRequest(lang.t("fn_e_by").to_string()))?;
    let saved = state.meta.funnels(site.id).await?;
    let list: Vec<FunnelRef> = saved.iter().map(FunnelRef::of).collect();
    let chosen = match (&ctx.funnel, saved.first()) {
        (Some(f), _) => Some(f.clone()),
        (None, Some(first)) => Some(first.id.to_string()),
        (None, None) => None,
    };
    let report = match chosen {
        None => None,
        Some(f) => {
            let (saved, funnel) = chosen_funnel(state, site, Some(&f), None)
                .await
                .map_err(|e| report_error(lang, e))?;
            let q = r.query(r.from, r.to);
            Some(
                funnel_report(state, q, saved.as_ref(), &funnel, by)
                    .await
                    .map_err(|e| report_error(lang, e))?,
            )
        }
    };
    let body = html! {
        (header(ctx, &r))
        @if let Some(f) = notice.flash {
            p.flash role="status" { (f) }
        }
        (list_section(ctx, &list, report.as_ref()))
        @if let Some(rep) = &report {
            (steps_section(ctx, rep))
            (breakdown_section(ctx, rep))
        }
        (manage_section(ctx, &list, notice.problem.as_ref()))
        footer class="dash-foot" {
            p { (lang.t("fn_explained")) }
        }
    };
    Ok(ctx.page(body))
}

// ---------------------------------------------------------------------------------------
// Rendering

fn header(ctx: &Ctx<'_>, r: &Resolved) -> Markup {
    let mut keep: Vec<(&str, &str)> = Vec::new();
    if let Some(f) = &ctx.funnel {
        keep.push(("funnel", f));
    }
    if ctx.by != BYS[0] {
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
            super::Tab::Funnels,
            &ctx.view.href(&ctx.path()),
        ),
        &keep,
    )
}

fn kind_label(lang: Lang, kind: &str) -> &'static str {
    match kind {
        "page" => lang.t("fn_kind_page"),
        _ => lang.t("fn_kind_event"),
    }
}

/// A step as people read it: `Page /checkout/*`, `Event purchase`.
fn step_label(lang: Lang, kind: &str, value: &str) -> Markup {
    html! {
        span class="step-kind" { (kind_label(lang, kind)) } " " code { (value) }
    }
}

/// A bar's width class, 0 to 20 (5 % each), of `n` against `top`.
fn width(n: u64, top: u64) -> u64 {
    if top == 0 {
        0
    } else {
        (n.min(top) * 20).div_ceil(top)
    }
}

fn list_section(ctx: &Ctx<'_>, list: &[FunnelRef], rep: Option<&FunnelReport>) -> Markup {
    let lang = ctx.lang;
    let selected = rep.and_then(|r| r.funnel.as_ref()).map(|f| f.id);
    html! {
        section class="share-box" id="funnels" {
            h2 { (lang.t("fn_h2")) }
            @if list.is_empty() {
                p class="empty" { (lang.t("fn_none")) }
            } @else {
                ul class="funnel-list" {
                    @for f in list {
                        li data-funnel=(f.id) {
                            a href=(ctx.href_with(&ctx.view, Some(&f.id.to_string())))
                                aria-current=[(selected == Some(f.id)).then_some("true")] { (f.name) }
                            " "
                            span class="sub" {
                                @for (i, s) in f.steps.iter().enumerate() {
                                    @if i > 0 { " \u{2192} " }
                                    (step_label(lang, &s.kind, &s.value))
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn steps_section(ctx: &Ctx<'_>, rep: &FunnelReport) -> Markup {
    let lang = ctx.lang;
    let name = rep
        .funnel
        .as_ref()
        .map(|f| f.name.as_str())
        .unwrap_or_default();
    let top = rep.steps.first().map(|s| s.visits).unwrap_or(0);
    html! {
        section class="share-box" id="funnel-steps" {
            h2 { (lang.t("fn_steps_h2").replace("{name}", name)) }
            @if top == 0 {
                p class="empty" { (lang.t("fn_no_visits")) }
            }
            (scroll_area(lang, lang.t("fn_steps_h2").replace("{name}", name).as_str(), true, html! {
                table class="share-table cv-table funnel-table" {
                    caption { (lang.t("fn_steps_caption")) }
                    thead { tr {
                        th scope="col" { (lang.t("fn_step")) }
                        th scope="col" class="num" { (lang.t("visits")) }
                        th scope="col" class="meter-col" { span class="visually-hidden" { (lang.t("fn_bar")) } }
                        th scope="col" class="num" { (lang.t("fn_of_first")) }
                        th scope="col" class="num" { (lang.t("fn_dropped")) }
                        th scope="col" class="num" { (lang.t("fn_drop_rate")) }
                    } }
                    tbody {
                        @for (i, s) in rep.steps.iter().enumerate() {
                            tr data-step=(i + 1) {
                                th scope="row" { (i + 1) ". " (step_label(lang, s.kind, &s.name)) }
                                td class="num" data-col="visits" { (lang.int(s.visits)) }
                                td class="meter-col" {
                                    span class="meter" aria-hidden="true" {
                                        span class={ "bar w" (width(s.visits, top)) } {}
                                    }
                                }
                                td class="num" data-col="rate" { (lang.pct1(s.conversion_rate)) }
                                td class="num" data-col="dropped" {
                                    @if i == 0 { "\u{2013}" } @else { (lang.int(s.dropped)) }
                                }
                                td class="num" data-col="drop-rate" {
                                    @if i == 0 { "\u{2013}" } @else { (lang.pct1(s.drop_off_rate)) }
                                }
                            }
                        }
                    }
                }
            }))
        }
    }
}

fn by_label(lang: Lang, by: &str) -> &'static str {
    match by {
        "channel" => lang.t("fn_by_channel"),
        _ => lang.t("fn_by_channel_group"),
    }
}

fn breakdown_section(ctx: &Ctx<'_>, rep: &FunnelReport) -> Markup {
    let lang = ctx.lang;
    let by = rep.by.unwrap_or(BYS[0]);
    let kind = if by == "channel" {
        Kind::Channel
    } else {
        Kind::Group
    };
    let period_q = ctx.view.query_string();
    let last = rep.steps.len();
    html! {
        section class="share-box" id="funnel-breakdown" {
            h2 { (lang.t("fn_breakdown_h2")) }
            form class="link-form breakdown-form" method="get" action=(ctx.path()) {
                @for (k, v) in url::form_urlencoded::parse(period_q.as_bytes()) {
                    input type="hidden" name=(k) value=(v);
                }
                @if let Some(f) = &rep.funnel {
                    input type="hidden" name="funnel" value=(f.id);
                }
                label { (lang.t("fn_by"))
                    select name="by" {
                        @for b in BYS {
                            option value=(b) selected[b == by] { (by_label(lang, b)) }
                        }
                    }
                }
                div class="form-end" { button type="submit" { (lang.t("fn_show")) } }
            }
            @if rep.groups.is_empty() {
                p class="empty" { (lang.t("no_data")) }
            } @else {
                (scroll_area(lang, lang.t("fn_breakdown_h2"), true, html! {
                    table class="share-table cv-table funnel-breakdown" {
                        caption { (lang.t("fn_breakdown_caption").replace("{by}", &by_label(lang, by).to_lowercase())) }
                        thead { tr {
                            th scope="col" { (by_label(lang, by)) }
                            @for (i, s) in rep.steps.iter().enumerate() {
                                th scope="col" class="num" title=(s.name) { (lang.t("fn_step")) " " (i + 1) }
                            }
                            th scope="col" class="num" { (lang.t("fn_completion")) }
                            th scope="col" class="meter-col" { span class="visually-hidden" { (lang.t("fn_bar")) } }
                        } }
                        tbody {
                            @for g in &rep.groups {
                                tr data-value=(g.value) {
                                    th scope="row" { (value_label(ctx.state, lang, kind, &g.value)) }
                                    @for (i, s) in g.steps.iter().enumerate() {
                                        td class="num" data-col={ "step-" (i + 1) } {
                                            (lang.int(s.visits))
                                            @if i > 0 {
                                                span class="sub" { (lang.pct1(s.conversion_rate)) }
                                            }
                                        }
                                    }
                                    td class="num" data-col="completion" { (lang.pct1(g.conversion_rate)) }
                                    td class="meter-col" {
                                        span class="meter" aria-hidden="true" {
                                            span class={ "bar w" (width(g.completed, g.entered)) } {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }))
                p class="note" { (lang.t("fn_completion_note").replace("{n}", &last.to_string())) }
            }
        }
    }
}

fn manage_section(
    ctx: &Ctx<'_>,
    list: &[FunnelRef],
    problem: Option<&(FunnelForm, String)>,
) -> Markup {
    let lang = ctx.lang;
    let owner = ctx.owner();
    let action = ctx.href(&ctx.view);
    let blank = FunnelForm::default();
    let (form, problem) = match problem {
        Some((f, p)) => (f, Some(p.as_str())),
        None => (&blank, None),
    };
    html! {
        section class="share-box" id="funnel-admin" {
            h2 { (lang.t("fn_manage_h2")) }
            @if !owner {
                p class="note" { (lang.t("fn_viewer_note")) }
            }
            @if owner && !list.is_empty() {
                @if let Some(s) = ctx.session {
                    ul class="funnel-list" {
                        @for f in list {
                            li data-funnel=(f.id) {
                                (f.name) " "
                                (super::delete_button(s, &action, f.id, lang.t("fn_confirm_delete"), &format!("{} {}", lang.t("fn_delete_funnel"), f.name), lang.t("fn_delete")))
                            }
                        }
                    }
                }
            }
            @if owner {
                @if let Some(s) = ctx.session {
                    h3 { (lang.t("fn_add_h3")) }
                    @if let Some(p) = problem {
                        p class="error" role="alert" id="funnel-problem" { (p) }
                    }
                    form class="link-form funnel-form" method="post" action=(action) {
                        (csrf_field(s))
                        input type="hidden" name="action" value="add";
                        label { (lang.t("fn_f_name"))
                            input type="text" name="name" value=(form.name) required maxlength="120"; }
                        p class="note" { (lang.t("fn_f_steps")) }
                        @for (i, (kind, value)) in form.steps.iter().enumerate() {
                            fieldset class="funnel-step" {
                                legend { (lang.t("fn_step")) " " (i + 1) }
                                label { (lang.t("fn_f_kind"))
                                    select name={ "kind" (i + 1) } {
                                        option value="page" selected[kind.trim() != "event"] { (lang.t("fn_kind_page")) }
                                        option value="event" selected[kind.trim() == "event"] { (lang.t("fn_kind_event")) }
                                    }
                                }
                                label { (lang.t("fn_f_value"))
                                    input type="text" name={ "value" (i + 1) } value=(value) maxlength="2000"
                                        required[i < 2]; }
                            }
                        }
                        div class="form-end" { button type="submit" { (lang.t("fn_add_btn")) } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucarne_core::funnel::StepError;

    #[test]
    fn the_form_reads_its_step_rows_and_skips_blank_ones() {
        let f = FunnelForm::parse(
            b"csrf=x&action=add&name=Checkout&kind1=page&value1=%2Fpricing&kind2=event&value2=\
              &kind3=event&value3=purchase&kind9=page&value9=%2Fnine&value0=%2Fzero",
        );
        assert_eq!(f.name, "Checkout");
        assert_eq!(
            f.filled(),
            vec![("page", "/pricing"), ("event", "purchase")]
        );
        assert!(parse_steps(f.filled()).is_ok());
        let bad = FunnelForm::parse(b"kind1=page&value1=pricing&kind2=page&value2=%2Fb");
        assert_eq!(step_problem(&bad), 1);
        assert!(matches!(
            lucarne_core::funnel::Funnel::from_pairs(bad.filled()),
            Err(FunnelError::Step {
                error: StepError::BadPath,
                ..
            })
        ));
    }

    #[test]
    fn bars_are_width_classes() {
        assert_eq!(width(0, 0), 0);
        assert_eq!(width(10, 10), 20);
        assert_eq!(width(5, 10), 10);
        assert_eq!(width(1, 1000), 1);
        assert_eq!(width(20, 10), 20);
    }

    #[test]
    fn every_label_of_the_view_exists() {
        let keys = [
            "fn_h2",
            "fn_none",
            "fn_kind_page",
            "fn_kind_event",
            "fn_steps_h2",
            "fn_steps_caption",
            "fn_no_visits",
            "fn_step",
            "fn_bar",
            "fn_of_first",
            "fn_dropped",
            "fn_drop_rate",
            "fn_breakdown_h2",
            "fn_breakdown_caption",
            "fn_by",
            "fn_by_channel",
            "fn_by_channel_group",
            "fn_show",
            "fn_completion",
            "fn_completion_note",
            "fn_manage_h2",
            "fn_viewer_note",
            "fn_confirm_delete",
            "fn_delete",
            "fn_delete_funnel",
            "fn_add_h3",
            "fn_f_name",
            "fn_f_steps",
            "fn_f_kind",
            "fn_f_value",
            "fn_add_btn",
            "fn_added",
            "fn_deleted",
            "fn_e_exists",
            "fn_e_name",
            "fn_e_count",
            "fn_e_step",
            "fn_e_no_funnel",
            "fn_e_by",
            "fn_explained",
        ];
        for key in keys {
            for lang in [Lang::En, Lang::Fr] {
                assert_ne!(lang.t(key), "?", "{key}");
            }
        }
        assert_eq!(Lang::En.auth("tab_funnels"), "Funnels");
        assert_eq!(Lang::Fr.auth("tab_funnels"), "Entonnoirs");
        for b in BYS {
            assert!(FunnelBy::parse(Some(b)).is_ok_and(|x| x.name() == Some(b)));
        }
    }
}
