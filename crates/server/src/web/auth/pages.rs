//! The accounts-and-access pages: setup, login, logout, sites, site settings, members,
//! shared links and API keys. Every POST checks a CSRF token before changing anything.

use std::sync::Arc;

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Form, Router};
use chrono::{Duration as ChronoDuration, Utc};
use lucarne_core::stats::ReportQuery;
use lucarne_core::survey::SurveyRules;
use lucarne_store::meta::{normalise_domain, MetaError, ShareParamStyle, SiteOptions};
use maud::{html, Markup};
use serde::Deserialize;
use tracing::{info, warn};

use super::{
    check_new_password_in, constant_time_eq, cookie, csrf_field, hash_password, new_token,
    owner_access, redirect, token_hash, user_sites, verify_csrf, verify_password, Client, Lang,
    LoginLimiter, LoginRefusal, Role, Session, WebError, LOGIN_WINDOW, PRE_COOKIE, SESSION_COOKIE,
    SESSION_DAYS,
};
use crate::state::AppState;
use crate::web::layout::{page_bare, page_with};

mod notifications;
mod team;

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(root))
        .route("/setup", get(setup_form).post(setup_submit))
        .route("/login", get(login_form).post(login_submit))
        .route("/logout", get(logout_form).post(logout_submit))
        .route("/sites", get(sites_list).post(sites_add))
        .route(
            "/sites/{domain}/settings",
            get(settings_form).post(settings_submit),
        )
        .route("/sites/{domain}/imports/{id}/delete", post(delete_import))
        .route(
            "/sites/{domain}/members",
            get(members_page).post(members_submit),
        )
        .route(
            "/sites/{domain}/shared-links",
            get(links_page).post(links_submit),
        )
        .route("/settings/keys", get(keys_page).post(keys_submit))
        .route("/settings/language", post(language_submit))
        .merge(team::routes())
        .merge(notifications::routes())
}

/// Every form's fields (all optional, so a missing field is a validation error or a CSRF
/// failure, never a deserialisation rejection).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Fields {
    csrf: String,
    action: String,
    email: String,
    password: String,
    password2: String,
    next: String,
    domain: String,
    timezone: String,
    role: String,
    id: String,
    name: String,
    allowed_hostnames: String,
    share_param_style: String,
    retention_days: String,
    honour_dnt: Option<String>,
    #[serde(default)]
    copy_attribution: Option<String>,
    currency: String,
    exchange_rates: String,
    survey_enabled: Option<String>,
    survey_options: String,
    short_domain: String,
    /// `None` from a form without the field (an older page): the origins are kept.
    embed_origins: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NextQuery {
    next: String,
    saved: String,
}

/// A role as shown on the pages.
fn role_label(lang: Lang, role: Role) -> &'static str {
    match role {
        Role::Owner => lang.auth("role_owner"),
        Role::Viewer => lang.auth("role_viewer"),
    }
}

/// A 400 with a message of the accounts table.
fn bad(lang: Lang, key: &str) -> WebError {
    WebError::BadRequest(lang.auth(key).into())
}

/// The action of a pre-login form, keeping a language chosen with `?lang=`.
fn pre_action(path: &str, query: Option<&str>, lang: Lang) -> String {
    if super::query_lang(query).is_some() {
        format!("{path}?lang={}", lang.code())
    } else {
        path.to_string()
    }
}

/// Only local paths are followed after login (no `//host`, no scheme).
fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(|c| c.is_control());
    if ok {
        next
    } else {
        "/sites"
    }
}

fn cookie_header(name: &str, value: &str, max_age: i64, tls: bool) -> Option<HeaderValue> {
    let secure = if tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .ok()
}

fn with_cookie(mut resp: Response, c: Option<HeaderValue>) -> Response {
    if let Some(c) = c {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    resp
}

/// The pre-login CSRF token: the browser's `lucarne_pre` cookie, or a new one to set.
fn pre_token(headers: &HeaderMap) -> (String, bool) {
    match cookie(headers, PRE_COOKIE) {
        Some(t) if t.len() == 64 && t.chars().all(|c| c.is_ascii_hexdigit()) => {
            (t.to_string(), false)
        }
        _ => (new_token(), true),
    }
}

fn verify_pre(headers: &HeaderMap, submitted: &str) -> Result<(), WebError> {
    match cookie(headers, PRE_COOKIE) {
        Some(c)
            if !submitted.is_empty() && constant_time_eq(c.as_bytes(), submitted.as_bytes()) =>
        {
            Ok(())
        }
        _ => {
            warn!(message = "Pre-login CSRF check failed.");
            Err(WebError::Forbidden)
        }
    }
}

/// A page that carries a pre-login form, setting the pre-login cookie when new.
fn pre_page(markup: Markup, status: StatusCode, token: &str, fresh: bool, tls: bool) -> Response {
    let resp = (status, markup).into_response();
    if fresh {
        with_cookie(resp, cookie_header(PRE_COOKIE, token, 7200, tls))
    } else {
        resp
    }
}

/// Start a login session: the cookie to set.
async fn start_session(
    state: &AppState,
    user_id: i64,
    tls: bool,
) -> Result<Option<HeaderValue>, WebError> {
    let token = new_token();
    let expires = Utc::now() + ChronoDuration::days(SESSION_DAYS);
    state
        .meta
        .create_web_session(&token_hash(&token), user_id, &new_token(), expires)
        .await?;
    // Opportunistic clean-up of expired sessions.
    if let Err(e) = state.meta.purge_web_sessions(Utc::now()).await {
        warn!(message = "Purging expired sessions failed.", error = %e);
    }
    Ok(cookie_header(
        SESSION_COOKIE,
        &token,
        SESSION_DAYS * 86400,
        tls,
    ))
}

async fn root(
    State(state): State<Arc<AppState>>,
    session: Option<Session>,
) -> Result<Response, WebError> {
    if session.is_some() {
        return Ok(redirect("/sites"));
    }
    if state.meta.user_count().await? == 0 {
        return Ok(redirect("/setup"));
    }
    Ok(redirect("/login"))
}

// ---------------------------------------------------------------- setup

fn setup_markup(
    lang: Lang,
    action: &str,
    token: &str,
    email: &str,
    problem: Option<&str>,
) -> Markup {
    page_bare(
        lang.auth("setup_title"),
        lang.code(),
        html! {
            section.auth {
                h1 { (lang.auth("setup_h1")) }
                p { (lang.auth("setup_intro")) }
                @if let Some(p) = problem { p.error role="alert" { (p) } }
                form method="post" action=(action) {
                    input type="hidden" name="csrf" value=(token);
                    label { (lang.auth("email")) input type="email" name="email" value=(email) required autocomplete="username"; }
                    label { (lang.auth("password")) input type="password" name="password" required minlength=(super::MIN_PASSWORD_LEN) autocomplete="new-password"; }
                    label { (lang.auth("password2")) input type="password" name="password2" required autocomplete="new-password"; }
                    button type="submit" { (lang.auth("create_account")) }
                }
            }
        },
    )
}

async fn setup_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    lang: Lang,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    if state.meta.user_count().await? > 0 {
        return Err(WebError::NotFound);
    }
    let (token, fresh) = pre_token(&headers);
    let action = pre_action("/setup", query.as_deref(), lang);
    Ok(pre_page(
        setup_markup(lang, &action, &token, "", None),
        StatusCode::OK,
        &token,
        fresh,
        client.tls,
    ))
}

async fn setup_submit(
    State(state): State<Arc<AppState>>,
    client: Client,
    lang: Lang,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    verify_pre(&headers, &f.csrf)?;
    if state.meta.user_count().await? > 0 {
        return Err(WebError::NotFound);
    }
    let problem = if lucarne_store::meta::normalise_email(&f.email).is_err() {
        Some(lang.auth("bad_email").to_string())
    } else if let Err(p) = check_new_password_in(&f.password, lang) {
        Some(p)
    } else if f.password != f.password2 {
        Some(lang.auth("pw_differ").to_string())
    } else {
        None
    };
    if let Some(p) = problem {
        let action = pre_action("/setup", query.as_deref(), lang);
        return Ok((
            StatusCode::BAD_REQUEST,
            setup_markup(lang, &action, &f.csrf, &f.email, Some(&p)),
        )
            .into_response());
    }
    let password = f.password.clone();
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|_| WebError::Internal)??;
    let Some(user) = state.meta.create_first_user(&f.email, &hash, None).await? else {
        return Err(WebError::NotFound);
    };
    // Sites registered from the command line before any account existed get this owner.
    for site in state.meta.sites().await? {
        if state.meta.members(site.id).await?.is_empty() {
            state.meta.set_member(site.id, user.id, Role::Owner).await?;
        }
    }
    info!(message = "First account created.", user_id = user.id);
    let c = start_session(&state, user.id, client.tls).await?;
    Ok(with_cookie(redirect("/sites"), c))
}

// ---------------------------------------------------------------- login / logout

fn login_markup(
    lang: Lang,
    action: &str,
    token: &str,
    email: &str,
    next: &str,
    problem: Option<&str>,
) -> Markup {
    page_bare(
        lang.auth("login_title"),
        lang.code(),
        html! {
            section.auth {
                h1 { (lang.auth("login_h1")) }
                @if let Some(p) = problem { p.error role="alert" { (p) } }
                form method="post" action=(action) {
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="next" value=(next);
                    label { (lang.auth("email")) input type="email" name="email" value=(email) required autocomplete="username"; }
                    label { (lang.auth("password")) input type="password" name="password" required autocomplete="current-password"; }
                    button type="submit" { (lang.auth("login_button")) }
                }
            }
        },
    )
}

async fn login_form(
    State(state): State<Arc<AppState>>,
    session: Option<Session>,
    client: Client,
    lang: Lang,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Query(q): Query<NextQuery>,
) -> Result<Response, WebError> {
    if session.is_some() {
        return Ok(redirect(safe_next(&q.next)));
    }
    if state.meta.user_count().await? == 0 {
        return Ok(redirect("/setup"));
    }
    let (token, fresh) = pre_token(&headers);
    let next = safe_next(&q.next);
    let action = pre_action("/login", query.as_deref(), lang);
    Ok(pre_page(
        login_markup(lang, &action, &token, "", next, None),
        StatusCode::OK,
        &token,
        fresh,
        client.tls,
    ))
}

async fn login_submit(
    State(state): State<Arc<AppState>>,
    Extension(limiter): Extension<Arc<LoginLimiter>>,
    client: Client,
    lang: Lang,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    verify_pre(&headers, &f.csrf)?;
    // Counted before anything is looked up or hashed; the e-mail is capped inside.
    let attempt = match limiter.begin(&state, client.ip, &f.email).await {
        Ok(a) => a,
        Err(refusal) => {
            let (what, result, retry) = match refusal {
                LoginRefusal::Limited => (
                    "too many attempts for this client or account",
                    "limited",
                    LOGIN_WINDOW.as_secs() as u32,
                ),
                LoginRefusal::Busy => ("every password check is busy", "busy", 1),
            };
            warn!(
                message = "Login refused before the password check.",
                reason = what
            );
            state.metrics.login(result);
            return Err(WebError::TooManyRequests(retry));
        }
    };
    let user = if f.email.len() <= 254 {
        state.meta.user_by_email(&f.email).await?
    } else {
        None
    };
    // Verify against a dummy hash when the account does not exist, so timing does not
    // tell which e-mail addresses have accounts.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = match &user {
        Some(u) => u.password_hash.clone(),
        None => DUMMY
            .get_or_init(|| hash_password("lucarne-dummy-password").unwrap_or_default())
            .clone(),
    };
    let password = f.password.clone();
    let ok = tokio::task::spawn_blocking(move || {
        password.len() <= 1024 && verify_password(&password, &stored)
    })
    .await
    .map_err(|_| WebError::Internal)?;
    match user {
        Some(u) if ok => {
            state.metrics.login("ok");
            limiter.succeed(&state, attempt).await;
            info!(message = "Logged in.", user_id = u.id);
            let c = start_session(&state, u.id, client.tls).await?;
            let resp = with_cookie(redirect(safe_next(&f.next)), c);
            Ok(with_cookie(
                resp,
                cookie_header(PRE_COOKIE, "", 0, client.tls),
            ))
        }
        _ => {
            state.metrics.login("wrong");
            // The attempt (and its slot) ends here; it stays counted.
            drop(attempt);
            info!(message = "Login failed.");
            let email: String = f.email.chars().take(254).collect();
            Ok((
                StatusCode::UNAUTHORIZED,
                login_markup(
                    lang,
                    &pre_action("/login", query.as_deref(), lang),
                    &f.csrf,
                    &email,
                    safe_next(&f.next),
                    Some(lang.auth("login_wrong")),
                ),
            )
                .into_response())
        }
    }
}

async fn logout_form(session: Option<Session>, lang: Lang) -> Response {
    match session {
        None => redirect("/login"),
        Some(s) => page_with(
            &s,
            lang.auth("log_out"),
            lang.code(),
            html! {
                section.auth {
                    h1 { (lang.auth("logout_h1")) }
                    form method="post" action="/logout" {
                        (csrf_field(&s))
                        button type="submit" { (lang.auth("log_out")) }
                    }
                }
            },
        )
        .into_response(),
    }
}

async fn logout_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    client: Client,
    headers: HeaderMap,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    verify_csrf(&session, &f.csrf)?;
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        state.meta.delete_web_session(&token_hash(token)).await?;
    }
    info!(message = "Logged out.", user_id = session.user.id);
    Ok(with_cookie(
        redirect("/login"),
        cookie_header(SESSION_COOKIE, "", 0, client.tls),
    ))
}

// ---------------------------------------------------------------- sites

fn sites_markup(
    session: &Session,
    lang: Lang,
    sites: &[(lucarne_store::meta::Site, Role)],
    problem: Option<&str>,
    domain: &str,
    timezone: &str,
) -> Markup {
    page_with(
        session,
        lang.auth("sites"),
        lang.code(),
        html! {
            section.sites {
                h1 { (lang.auth("sites")) }
                @if sites.is_empty() {
                    p.empty { (lang.auth("no_site")) }
                } @else {
                    ul.site-list {
                        @for (site, role) in sites {
                            li {
                                a.site-link href={ "/sites/" (site.domain) } { (site.domain) }
                                " "
                                span class={ "role role-" (role.as_str()) } { (role_label(lang, *role)) }
                                @if *role == Role::Owner {
                                    " "
                                    a.settings-link href={ "/sites/" (site.domain) "/settings" } { (lang.auth("settings")) }
                                }
                            }
                        }
                    }
                }
            }
            section.add-site {
                h2 { (lang.auth("add_site")) }
                @if let Some(p) = problem { p.error role="alert" { (p) } }
                form method="post" action="/sites" {
                    (csrf_field(session))
                    label { (lang.auth("domain")) input type="text" name="domain" value=(domain) placeholder="example.com" required; }
                    label { (lang.auth("timezone")) input type="text" name="timezone" value=(timezone) placeholder="Europe/Paris"; }
                    button type="submit" { (lang.auth("add_site_button")) }
                }
            }
        },
    )
}

async fn sites_list(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
) -> Result<Markup, WebError> {
    let sites = user_sites(&state, &session.user).await?;
    Ok(sites_markup(&session, lang, &sites, None, "", "UTC"))
}

async fn sites_add(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    verify_csrf(&session, &f.csrf)?;
    let tz = if f.timezone.trim().is_empty() {
        "UTC".to_string()
    } else {
        f.timezone.trim().to_string()
    };
    let problem = if tz.parse::<chrono_tz::Tz>().is_err() {
        Some(lang.auth("tz_unknown_hint").replace("{tz}", &tz))
    } else {
        match state
            .meta
            .add_site_owned(&f.domain, &tz, session.user.id)
            .await
        {
            Ok(site) => {
                info!(
                    message = "Site added from the dashboard.",
                    site_id = site.id,
                    user_id = session.user.id
                );
                state.invalidate_sites();
                return Ok(redirect(&format!("/sites/{}/settings", site.domain)));
            }
            Err(MetaError::SiteExists(_)) => Some(lang.auth("site_exists").to_string()),
            Err(MetaError::Invalid(_)) => {
                Some(format!("{} {}", lang.auth("bad_domain"), f.domain.trim()))
            }
            Err(e) => return Err(e.into()),
        }
    };
    let sites = user_sites(&state, &session.user).await?;
    Ok((
        StatusCode::BAD_REQUEST,
        sites_markup(&session, lang, &sites, problem.as_deref(), &f.domain, &tz),
    )
        .into_response())
}

// ---------------------------------------------------------------- site settings

fn site_tabs(lang: Lang, domain: &str, current: &str) -> Markup {
    html! {
        nav.site-tabs {
            a href={ "/sites/" (domain) } { (lang.auth("tab_dashboard")) }
            a href={ "/sites/" (domain) "/shares" } { (lang.auth("tab_sharing")) }
            a href={ "/sites/" (domain) "/links" } { (lang.auth("tab_links")) }
            a href={ "/sites/" (domain) "/conversions" } { (lang.auth("tab_conversions")) }
            a href={ "/sites/" (domain) "/funnels" } { (lang.auth("tab_funnels")) }
            a href={ "/sites/" (domain) "/cards" } { (lang.auth("tab_cards")) }
            @for (path, key) in [("settings", "settings"), ("members", "members"), ("shared-links", "shared_links"), ("notifications", "notifications")] {
                @let label = lang.auth(key);
                @if path == current {
                    a.current href={ "/sites/" (domain) "/" (path) } aria-current="page" { (label) }
                } @else {
                    a href={ "/sites/" (domain) "/" (path) } { (label) }
                }
            }
        }
    }
}

/// Why the site's latest events were refused, with what to do, while it waits for its
/// first event.
fn refusals_markup(
    lang: Lang,
    recent: &[(chrono::DateTime<Utc>, crate::ingest::pipeline::DropReason)],
) -> Markup {
    html! {
        @if !recent.is_empty() {
            div.refusals id="refusals" {
                h3 { (lang.auth("refused_h3")) }
                ul {
                    @for (at, reason) in recent {
                        li data-reason=(reason.as_str()) {
                            time datetime=(at.to_rfc3339()) { (at.format("%H:%M:%S UTC")) }
                            " — "
                            (refusal_advice(lang, *reason))
                        }
                    }
                }
            }
        }
    }
}

/// What a refusal means for the site's owner.
fn refusal_advice(lang: Lang, reason: crate::ingest::pipeline::DropReason) -> String {
    use crate::ingest::pipeline::DropReason as D;
    let key = match reason {
        D::Bot => "refused_bot",
        D::HostnameNotAllowed => "refused_hostname",
        D::DoNotTrack => "refused_dnt",
        D::SpamReferrer => "refused_spam",
        D::SiteRateLimited | D::ClientRateLimited => "refused_rate",
        _ => "refused_other",
    };
    lang.auth(key).replace("{reason}", reason.as_str())
}

async fn settings_form(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    client: Client,
    headers: HeaderMap,
    Path(domain): Path<String>,
    Query(q): Query<NextQuery>,
) -> Result<Markup, WebError> {
    let access = owner_access(&state, &session, &domain).await?;
    let site = access.site;
    let opts = state.meta.site_options(site.id).await?;
    let imports = state.meta.imports(site.id).await?;
    // "Receiving events" when the site has any event in the last 30 days.
    let now = Utc::now();
    let query = ReportQuery {
        site_id: site.id,
        from: now - ChronoDuration::days(30),
        to: now + ChronoDuration::minutes(5),
        filters: Vec::new(),
        conditions: Vec::new(),
        with_sessions: false,
        with_shares: false,
    };
    let st = state.clone();
    let receiving = tokio::task::spawn_blocking(move || st.events.aggregate(&query))
        .await
        .ok()
        .and_then(|r| r.ok())
        .map(|a| a.events > 0 || a.pageviews > 0);
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("YOUR-LUCARNE-HOST");
    let scheme = if client.tls { "https" } else { "http" };
    // The scripts are static: the site's token style and copied-text attribution reach
    // them as attributes of the snippet.
    let lc = if opts.share_param_style == ShareParamStyle::Query {
        " data-lc=\"query\""
    } else {
        ""
    };
    let copy = if opts.copy_attribution {
        " data-copy"
    } else {
        ""
    };
    // Two parts: the scripts go in the page's <head>, the share buttons' place in its
    // <body>, where the buttons should show.
    let head_snippet = format!(
        "<script defer data-domain=\"{d}\"{lc} src=\"{scheme}://{host}/js/script.js\"></script>\n\
         <script defer data-domain=\"{d}\"{lc}{copy} src=\"{scheme}://{host}/js/share.js\"></script>",
        d = site.domain
    );
    let body_snippet = "<div data-lucarne-share></div>";
    Ok(page_with(
        &session,
        &format!("{} · {}", lang.auth("site_settings"), site.domain),
        lang.code(),
        html! {
            h1 { (site.domain) }
            (site_tabs(lang, &site.domain, "settings"))
            @if q.saved == "1" { p.flash role="status" { (lang.auth("saved")) } }
            section.snippet {
                h2 { (lang.auth("snippet")) }
                p { (lang.auth("snippet_before")) code { "<head>" } (lang.auth("snippet_after")) }
                div.snippet-part id="snippet-head" {
                    pre { code { (head_snippet) } }
                    button.copy-btn type="button" hidden data-copy=(head_snippet) data-done=(lang.auth("copied")) { (lang.auth("copy_head")) }
                }
                p { (lang.auth("snippet_body")) }
                div.snippet-part id="snippet-body" {
                    pre { code { (body_snippet) } }
                    button.copy-btn type="button" hidden data-copy=(body_snippet) data-done=(lang.auth("copied")) { (lang.auth("copy_body")) }
                }
                @match receiving {
                    Some(true) => p.status.status-ok role="status" { (lang.auth("receiving")) },
                    Some(false) => {
                        p.status.status-waiting role="status" { (lang.auth("waiting")) }
                        (refusals_markup(lang, &state.refusals.recent(site.id)))
                    },
                    None => p.status.status-unknown role="status" { (lang.auth("status_unknown")) },
                }
            }
            section.site-settings {
                h2 { (lang.auth("site_settings")) }
                form method="post" action={ "/sites/" (site.domain) "/settings" } {
                    (csrf_field(&session))
                    label { (lang.auth("tz_reports"))
                        input type="text" name="timezone" value=(site.timezone) required; }
                    label { (lang.auth("hostnames"))
                        input type="text" name="allowed_hostnames" value=(site.allowed_hostnames.join(", ")); }
                    fieldset {
                        legend { (lang.auth("share_param")) }
                        label { input type="radio" name="share_param_style" value="fragment" checked[opts.share_param_style == ShareParamStyle::Fragment]; (lang.auth("share_fragment")) }
                        label { input type="radio" name="share_param_style" value="query" checked[opts.share_param_style == ShareParamStyle::Query]; (lang.auth("share_query")) }
                    }
                    label { (lang.auth("retention"))
                        input type="number" name="retention_days" min="1" max="36500" value=[opts.retention_days]; }
                    label.checkbox { input type="checkbox" name="honour_dnt" value="on" checked[opts.honour_dnt]; (lang.auth("dnt")) }
                    label.checkbox { input type="checkbox" name="copy_attribution" value="on" checked[opts.copy_attribution]; (lang.auth("copy_attr")) }
                    label { (lang.auth("currency"))
                        input type="text" name="currency" value=(opts.currency) maxlength="3" pattern="[A-Za-z]{3}" required; }
                    label { (lang.auth("exchange_rates"))
                        input type="text" name="exchange_rates" value=(opts.exchange_rates); }
                    label.checkbox { input type="checkbox" name="survey_enabled" value="on" checked[opts.survey_enabled]; (lang.auth("survey_enabled")) }
                    label { (lang.auth("survey_options"))
                        input type="text" name="survey_options" value=(opts.survey_options.join(", "))
                            placeholder=(default_survey_ids()); }
                    label { (lang.auth("short_domain"))
                        input type="text" name="short_domain" id="short-domain" value=(opts.short_domain) placeholder="go.example.com";
                        small { (lang.auth("short_domain_help").replace("{base}", &crate::api::links::public_base(&state, &headers))) } }
                    label { (lang.auth("embed_origins"))
                        textarea name="embed_origins" id="embed-origins" rows="2" placeholder="https://blog.example.com" { (opts.embed_origins.join("\n")) }
                        small { (lang.auth("embed_origins_help")) } }
                    button type="submit" { (lang.auth("save")) }
                }
            }
            (imports_markup(&session, lang, &site.domain, &imports, q.saved == "import-deleted"))
            (team::delete_site_markup(&session, lang, &site.domain))
        },
    ))
}

/// The settings page's imported history: each import, and a button to delete it.
fn imports_markup(
    session: &Session,
    lang: Lang,
    domain: &str,
    imports: &[lucarne_store::meta::Import],
    deleted: bool,
) -> Markup {
    html! {
        section.imports id="imports" {
            h2 { (lang.auth("imports_h2")) }
            @if deleted { p.flash role="status" { (lang.auth("imports_deleted")) } }
            p { (lang.auth("imports_help").replace("{site}", domain)) }
            @if imports.is_empty() {
                p { (lang.auth("imports_none")) }
            }
            ul {
                @for i in imports {
                    li data-import=(i.id) {
                        (lang.auth("imports_row")
                            .replace("{source}", &i.source)
                            .replace("{first}", &i.first_day.to_string())
                            .replace("{last}", &i.last_day.to_string())
                            .replace("{rows}", &i.rows.to_string())
                            .replace("{when}", i.created_at.get(..10).unwrap_or(&i.created_at)))
                        " "
                        form.inline method="post" action={ "/sites/" (domain) "/imports/" (i.id) "/delete" } {
                            (csrf_field(session))
                            button.danger type="submit" { (lang.auth("imports_delete")) }
                        }
                    }
                }
            }
        }
    }
}

/// A form whose only field is its CSRF token (missing: refused as a wrong token).
#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

/// `POST /sites/{domain}/imports/{id}/delete`: owners, CSRF.
async fn delete_import(
    State(state): State<Arc<AppState>>,
    session: Session,
    Path((domain, id)): Path<(String, i64)>,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    let site = owner_access(&state, &session, &domain).await?.site;
    verify_csrf(&session, &f.csrf)?;
    if !state.meta.delete_import(site.id, id).await? {
        return Err(WebError::NotFound);
    }
    info!(
        message = "Import deleted.",
        site_id = site.id,
        import_id = id,
        user_id = session.user.id
    );
    Ok(redirect(&format!(
        "/sites/{}/settings?saved=import-deleted#imports",
        site.domain
    )))
}

/// The default survey option ids, as the settings form's placeholder.
fn default_survey_ids() -> String {
    SurveyRules::builtin()
        .options_for(&[])
        .iter()
        .map(|o| o.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Survey option ids as typed (comma- or space-separated); the first unknown id is the
/// error.
pub fn parse_survey_options(s: &str) -> Result<Vec<String>, String> {
    let rules = SurveyRules::builtin();
    let mut out = Vec::new();
    for id in s
        .split([',', ' ', '\n'])
        .map(|i| i.trim().to_ascii_lowercase())
        .filter(|i| !i.is_empty())
    {
        if rules.option(&id).is_none() {
            return Err(id);
        }
        if !out.contains(&id) {
            out.push(id);
        }
    }
    Ok(out)
}

async fn settings_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    headers: HeaderMap,
    Path(domain): Path<String>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    let access = owner_access(&state, &session, &domain).await?;
    verify_csrf(&session, &f.csrf)?;
    let site = access.site;
    let tz = f.timezone.trim();
    if tz.parse::<chrono_tz::Tz>().is_err() {
        return Err(WebError::BadRequest(
            lang.auth("tz_unknown").replace("{tz}", tz),
        ));
    }
    let mut hosts = Vec::new();
    for h in f
        .allowed_hostnames
        .split([',', '\n', ' '])
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        let h = normalise_domain(h)
            .map_err(|_| WebError::BadRequest(format!("{} {h}", lang.auth("bad_domain"))))?;
        if !hosts.contains(&h) {
            hosts.push(h);
        }
    }
    if hosts.len() > 50 {
        return Err(bad(lang, "too_many_hosts"));
    }
    let share_param_style = ShareParamStyle::parse(f.share_param_style.trim())
        .ok_or_else(|| bad(lang, "bad_share_style"))?;
    let retention_days = match f.retention_days.trim() {
        "" => None,
        d => match d.parse::<u32>() {
            Ok(n) if (1..=36500).contains(&n) => Some(n),
            _ => return Err(bad(lang, "bad_retention")),
        },
    };
    // A form without the field (an older page) keeps the current currency.
    let currency = match f.currency.trim() {
        "" => state.meta.site_options(site.id).await?.currency,
        c => c.to_ascii_uppercase(),
    };
    if !lucarne_core::conversions::valid_currency(&currency) {
        return Err(bad(lang, "bad_currency"));
    }
    let rates = lucarne_core::conversions::ExchangeRates::parse(&f.exchange_rates)
        .map_err(|e| WebError::BadRequest(format!("{} {e}", lang.auth("bad_rates"))))?;
    let survey_options = parse_survey_options(&f.survey_options)
        .map_err(|id| WebError::BadRequest(format!("{} {id}", lang.auth("bad_survey_options"))))?;
    // A short domain is a host name no other site has, never Lucarne's own address.
    let short_domain = match f.short_domain.trim() {
        "" => String::new(),
        d => {
            let d =
                lucarne_core::links::check_domain(d).map_err(|_| bad(lang, "bad_short_domain"))?;
            if crate::api::links::own_hosts(&state, &headers).contains(&d) {
                return Err(bad(lang, "short_domain_own"));
            }
            match state.meta.claim_short_domain(site.id, &d).await {
                Ok(()) => d,
                Err(MetaError::DomainTaken(_)) => return Err(bad(lang, "short_domain_taken")),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let current = state.meta.site_options(site.id).await?;
    let embed_origins = match &f.embed_origins {
        None => current.embed_origins.clone(),
        Some(o) => lucarne_core::embed::parse_origins(o)
            .map_err(|e| WebError::BadRequest(format!("{} {e}", lang.auth("bad_embed_origins"))))?,
    };
    let opts = SiteOptions {
        embed_origins,
        alert_options: current.alert_options,
        short_domain,
        share_param_style,
        retention_days,
        honour_dnt: f.honour_dnt.as_deref().is_some_and(|v| !v.is_empty()),
        copy_attribution: f.copy_attribution.as_deref().is_some_and(|v| !v.is_empty()),
        currency,
        exchange_rates: rates.to_text(),
        survey_enabled: f.survey_enabled.as_deref().is_some_and(|v| !v.is_empty()),
        survey_options,
    };
    state.meta.set_site_settings(site.id, tz, &hosts).await?;
    state.meta.set_site_options(site.id, &opts).await?;
    state.invalidate_sites();
    info!(
        message = "Site settings changed.",
        site_id = site.id,
        user_id = session.user.id
    );
    Ok(redirect(&format!(
        "/sites/{}/settings?saved=1",
        site.domain
    )))
}

// ---------------------------------------------------------------- members

async fn members_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
) -> Result<Markup, WebError> {
    let site = owner_access(&state, &session, &domain).await?.site;
    members_markup(&state, &session, lang, &site, None, None).await
}

async fn members_markup(
    state: &AppState,
    session: &Session,
    lang: Lang,
    site: &lucarne_store::meta::Site,
    problem: Option<&str>,
    flash: Option<Markup>,
) -> Result<Markup, WebError> {
    let members = state.meta.members(site.id).await?;
    let pending = state.meta.invitations(site.id).await?;
    Ok(page_with(
        session,
        &format!("{} · {}", lang.auth("members"), site.domain),
        lang.code(),
        html! {
            h1 { (site.domain) }
            (site_tabs(lang, &site.domain, "members"))
            @if let Some(f) = flash { (f) }
            section.members {
                h2 { (lang.auth("members")) }
                @if let Some(p) = problem { p.error role="alert" { (p) } }
                table {
                    thead { tr { th { (lang.auth("email")) } th { (lang.auth("role")) } th {} } }
                    tbody {
                        @for m in &members {
                            tr {
                                td { (m.email) }
                                td { span class={ "role role-" (m.role.as_str()) } { (role_label(lang, m.role)) } }
                                td {
                                    form method="post" action={ "/sites/" (site.domain) "/members" } {
                                        (csrf_field(session))
                                        input type="hidden" name="action" value="remove";
                                        input type="hidden" name="id" value=(m.user_id);
                                        button type="submit" { (lang.auth("remove")) }
                                    }
                                }
                            }
                        }
                    }
                }
                (team::pending_markup(session, lang, &site.domain, &pending))
                h2 { (lang.auth("add_member")) }
                p { (lang.auth(if state.mailer.is_some() { "invite_help_mail" } else { "invite_help_link" })) }
                form method="post" action={ "/sites/" (site.domain) "/members" } {
                    (csrf_field(session))
                    input type="hidden" name="action" value="add";
                    label { (lang.auth("email")) input type="email" name="email" required; }
                    label { (lang.auth("role"))
                        select name="role" {
                            option value="viewer" selected { (lang.auth("opt_viewer")) }
                            option value="owner" { (lang.auth("opt_owner")) }
                        }
                    }
                    button type="submit" { (lang.auth("add_or_invite")) }
                }
            }
        },
    ))
}

async fn members_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    headers: HeaderMap,
    Path(domain): Path<String>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    let site = owner_access(&state, &session, &domain).await?.site;
    verify_csrf(&session, &f.csrf)?;
    let problem = match f.action.as_str() {
        "add" => {
            let role = Role::parse(f.role.trim()).ok_or_else(|| bad(lang, "bad_role"))?;
            match state.meta.user_by_email(&f.email).await? {
                Some(u) => {
                    state.meta.set_member(site.id, u.id, role).await?;
                    info!(
                        message = "Member set.",
                        site_id = site.id,
                        member_id = u.id,
                        role = role.as_str()
                    );
                    None
                }
                None => {
                    // No account yet: an invitation, its link shown here (once) and
                    // e-mailed when SMTP is configured.
                    let invited =
                        team::invite(&state, &session, lang, &headers, &site, &f.email, role)
                            .await?;
                    let flash = team::invited_markup(lang, &invited);
                    return Ok(
                        members_markup(&state, &session, lang, &site, None, Some(flash))
                            .await?
                            .into_response(),
                    );
                }
            }
        }
        "revoke_invite" => {
            if !state.meta.revoke_invitation(site.id, f.id.trim()).await? {
                return Err(bad(lang, "no_invite"));
            }
            info!(
                message = "Invitation withdrawn.",
                site_id = site.id,
                user_id = session.user.id
            );
            None
        }
        "remove" => {
            let uid: i64 =
                f.id.trim()
                    .parse()
                    .map_err(|_| bad(lang, "bad_member_id"))?;
            let members = state.meta.members(site.id).await?;
            let owners = members.iter().filter(|m| m.role == Role::Owner).count();
            let target = members.iter().find(|m| m.user_id == uid);
            match target {
                None => return Err(bad(lang, "no_member")),
                Some(m) if m.role == Role::Owner && owners <= 1 => {
                    Some(lang.auth("last_owner").to_string())
                }
                Some(_) => {
                    state.meta.remove_member(site.id, uid).await?;
                    info!(
                        message = "Member removed.",
                        site_id = site.id,
                        member_id = uid
                    );
                    if uid == session.user.id {
                        return Ok(redirect("/sites"));
                    }
                    None
                }
            }
        }
        _ => return Err(bad(lang, "unknown_action")),
    };
    match problem {
        None => Ok(redirect(&format!("/sites/{}/members", site.domain))),
        Some(p) => Ok((
            StatusCode::BAD_REQUEST,
            members_markup(&state, &session, lang, &site, Some(&p), None).await?,
        )
            .into_response()),
    }
}

// ---------------------------------------------------------------- shared links

async fn links_markup(
    state: &AppState,
    session: &Session,
    lang: Lang,
    site: &lucarne_store::meta::Site,
    created: Option<&str>,
) -> Result<Markup, WebError> {
    let links = state.meta.shared_links(site.id).await?;
    Ok(page_with(
        session,
        &format!("{} · {}", lang.auth("shared_links"), site.domain),
        lang.code(),
        html! {
            h1 { (site.domain) }
            (site_tabs(lang, &site.domain, "shared-links"))
            section.shared-links {
                h2 { (lang.auth("shared_links")) }
                p { (lang.auth("links_intro")) }
                @if let Some(token) = created {
                    div.flash.once role="status" {
                        p { (lang.auth("link_new")) }
                        pre { code.copy { "/share/" (token) } }
                        p { a href={ "/share/" (token) } { (lang.auth("open_it")) } }
                    }
                }
                @if links.is_empty() {
                    p.empty { (lang.auth("no_link")) }
                } @else {
                    table {
                        thead { tr { th { (lang.auth("name")) } th { (lang.auth("starts_with")) } th { (lang.auth("created")) } th { (lang.auth("state")) } th {} } }
                        tbody {
                            @for l in &links {
                                tr class=[l.revoked.then_some("revoked")] {
                                    td { (l.name) }
                                    td { code { (l.prefix) "…" } }
                                    td { (l.created_at.get(..10).unwrap_or(&l.created_at)) }
                                    td { @if l.revoked { (lang.auth("link_revoked")) } @else { (lang.auth("link_active")) } }
                                    td {
                                        @if !l.revoked {
                                            form method="post" action={ "/sites/" (site.domain) "/shared-links" } {
                                                (csrf_field(session))
                                                input type="hidden" name="action" value="revoke";
                                                input type="hidden" name="id" value=(l.id);
                                                button type="submit" { (lang.auth("revoke")) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form method="post" action={ "/sites/" (site.domain) "/shared-links" } {
                    (csrf_field(session))
                    input type="hidden" name="action" value="create";
                    label { (lang.auth("name_for_you")) input type="text" name="name" maxlength="100"; }
                    button type="submit" { (lang.auth("create_link")) }
                }
            }
        },
    ))
}

async fn links_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
) -> Result<Markup, WebError> {
    let site = owner_access(&state, &session, &domain).await?.site;
    links_markup(&state, &session, lang, &site, None).await
}

async fn links_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    let site = owner_access(&state, &session, &domain).await?.site;
    verify_csrf(&session, &f.csrf)?;
    match f.action.as_str() {
        "create" => {
            let name: String = f.name.trim().chars().take(100).collect();
            let token = state.meta.create_shared_link(site.id, &name).await?;
            info!(
                message = "Shared link created.",
                site_id = site.id,
                user_id = session.user.id
            );
            Ok(links_markup(&state, &session, lang, &site, Some(&token))
                .await?
                .into_response())
        }
        "revoke" => {
            let id: i64 = f.id.trim().parse().map_err(|_| bad(lang, "bad_link_id"))?;
            if !state.meta.revoke_shared_link(site.id, id).await? {
                return Err(bad(lang, "no_active_link"));
            }
            info!(
                message = "Shared link revoked.",
                site_id = site.id,
                link_id = id
            );
            Ok(redirect(&format!("/sites/{}/shared-links", site.domain)))
        }
        _ => Err(bad(lang, "unknown_action")),
    }
}

// ---------------------------------------------------------------- API keys

async fn keys_markup(
    state: &AppState,
    session: &Session,
    lang: Lang,
    created: Option<&str>,
) -> Result<Markup, WebError> {
    let keys = state.meta.user_api_keys(session.user.id).await?;
    Ok(page_with(
        session,
        lang.auth("nav_keys"),
        lang.code(),
        html! {
            section.keys {
                h1 { (lang.auth("keys_h1")) }
                p { (lang.auth("keys_intro"))
                    code { "Authorization: Bearer <key>" } "." }
                @if let Some(k) = created {
                    div.flash.once role="status" {
                        p { (lang.auth("key_new")) }
                        pre { code.copy { (k) } }
                    }
                }
                @if keys.is_empty() {
                    p.empty { (lang.auth("no_key")) }
                } @else {
                    table {
                        thead { tr { th { (lang.auth("name")) } th { (lang.auth("starts_with")) } th { (lang.auth("created")) } th { (lang.auth("state")) } th {} } }
                        tbody {
                            @for k in &keys {
                                tr class=[k.revoked.then_some("revoked")] {
                                    td { (k.name) }
                                    td { code { (k.prefix) "…" } }
                                    td { (k.created_at.get(..10).unwrap_or(&k.created_at)) }
                                    td { @if k.revoked { (lang.auth("key_revoked")) } @else { (lang.auth("key_active")) } }
                                    td {
                                        @if !k.revoked {
                                            form method="post" action="/settings/keys" {
                                                (csrf_field(session))
                                                input type="hidden" name="action" value="revoke";
                                                input type="hidden" name="id" value=(k.id);
                                                button type="submit" { (lang.auth("revoke")) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form method="post" action="/settings/keys" {
                    (csrf_field(session))
                    input type="hidden" name="action" value="create";
                    label { (lang.auth("name")) input type="text" name="name" maxlength="100" placeholder=(lang.auth("key_placeholder")); }
                    button type="submit" { (lang.auth("create_key")) }
                }
            }
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LanguageForm {
    csrf: String,
    locale: String,
}

/// `POST /settings/language`: the user's interface language, or the browser's.
async fn language_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Form(f): Form<LanguageForm>,
) -> Result<Response, WebError> {
    verify_csrf(&session, &f.csrf)?;
    let locale = match f.locale.as_str() {
        "auto" => None,
        "en" => Some("en"),
        "fr" => Some("fr"),
        _ => return Err(bad(lang, "unknown_action")),
    };
    state.meta.set_user_locale(session.user.id, locale).await?;
    info!(
        message = "Interface language changed.",
        user_id = session.user.id
    );
    Ok(redirect("/settings/account?done=saved"))
}

async fn keys_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
) -> Result<Markup, WebError> {
    keys_markup(&state, &session, lang, None).await
}

async fn keys_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Form(f): Form<Fields>,
) -> Result<Response, WebError> {
    verify_csrf(&session, &f.csrf)?;
    match f.action.as_str() {
        "create" => {
            let name: String = f.name.trim().chars().take(100).collect();
            let name = if name.is_empty() {
                "dashboard".to_string()
            } else {
                name
            };
            let key = state
                .meta
                .create_user_api_key(session.user.id, &name)
                .await?;
            info!(
                message = "API key created from the dashboard.",
                user_id = session.user.id
            );
            Ok(keys_markup(&state, &session, lang, Some(&key))
                .await?
                .into_response())
        }
        "revoke" => {
            let id: i64 = f.id.trim().parse().map_err(|_| bad(lang, "bad_key_id"))?;
            if !state.meta.revoke_user_api_key(session.user.id, id).await? {
                return Err(bad(lang, "no_active_key"));
            }
            info!(
                message = "API key revoked from the dashboard.",
                user_id = session.user.id,
                key_id = id
            );
            Ok(redirect("/settings/keys"))
        }
        _ => Err(bad(lang, "unknown_action")),
    }
}
