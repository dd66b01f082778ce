//! Accounts, login sessions, CSRF, login rate limits, roles per site, and the pages that
//! manage them (setup, login, sites, site settings, members, shared links, API keys).
//!
//! Who sees what is decided here: every dashboard page starts with [`site_access`]
//! (a logged-in user with a role on the site) or [`shared_access`] (a shared link).
//! A user without a role on a site gets 404, exactly as for a site that does not exist.
//!
//! Sessions: a random 256-bit token in the `lucarne_session` cookie (HttpOnly,
//! SameSite=Lax, Secure behind TLS); only its BLAKE3 hash is stored (`web_sessions`), with
//! a CSRF token per session that every form carries. Forms shown before login (setup,
//! login) use a double-submit token in the `lucarne_pre` cookie instead.
//!
//! Login attempts are counted before the password is checked (per client address and per
//! account, keyed hashes; in memory, and across nodes in the metadata store when shared):
//! ten in fifteen minutes block further attempts — right password included — until the
//! window passes. Password checks run on a small bounded pool; a full pool answers 429.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use chrono::Utc;
use lucarne_store::meta::{MetaError, Site};
use maud::{html, Markup};
use rand::RngCore;
use tracing::{error, warn};

use super::layout::page_bare;
use crate::state::AppState;

mod pages;

/// The language of the pages: the dashboard's (one way of choosing it, [`Lang::choose`]).
pub use crate::web::dashboard::i18n::Lang;
pub use lucarne_store::meta::Role;

/// The login-session cookie.
pub const SESSION_COOKIE: &str = "lucarne_session";
/// The pre-login CSRF cookie (double submit on the setup and login forms).
pub const PRE_COOKIE: &str = "lucarne_pre";
/// Login sessions last this long.
pub const SESSION_DAYS: i64 = 30;
/// Failed logins allowed per IP and per account within [`LOGIN_WINDOW`].
pub const MAX_LOGIN_FAILURES: usize = 10;
pub use crate::limits::LOGIN_WINDOW;
/// Shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub locale: Option<String>,
}

/// The logged-in user of this request. As an extractor it answers 303 → `/login?next=…`
/// when there is no live session; `Option<Session>` never rejects.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub csrf: String,
}

/// What a request may see of one site.
#[derive(Debug, Clone)]
pub struct Access {
    pub site: Site,
    pub role: Role,
    /// The logged-in user (`None` through a shared link).
    pub user: Option<User>,
    /// Read-only access through a shared link.
    pub shared: bool,
}

/// Errors of HTML pages: an HTML page (404, 403, 400, 429, 500) or a redirect to login.
#[derive(Debug)]
pub enum WebError {
    /// Not logged in: redirect to `/login?next=<this path>`.
    NotLoggedIn(String),
    NotFound,
    Forbidden,
    BadRequest(String),
    /// Too many login attempts: try again after this many seconds.
    TooManyRequests(u32),
    /// A store is out of reach (503).
    Unavailable,
    Internal,
}

impl From<MetaError> for WebError {
    fn from(e: MetaError) -> Self {
        error!(message = "Metadata store failed.", error = %e);
        match e {
            // The store could not answer: the page cannot be built now, try again.
            MetaError::Db(_) => WebError::Unavailable,
            MetaError::DomainTaken(_) | MetaError::SlugTaken(_) | MetaError::SiteExists(_) => {
                WebError::BadRequest(e.to_string())
            }
            _ => WebError::Internal,
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, detail) = match self {
            WebError::NotLoggedIn(next) => {
                let next: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                return redirect(&format!("/login?next={next}"));
            }
            WebError::NotFound => (StatusCode::NOT_FOUND, None),
            WebError::Forbidden => (StatusCode::FORBIDDEN, None),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, Some(m)),
            WebError::TooManyRequests(secs) => {
                let mut r = error_page(StatusCode::TOO_MANY_REQUESTS, None, Lang::En);
                if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                    r.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return r;
            }
            WebError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, None),
            WebError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, None),
        };
        // English here; [`localise_errors`] renders it again in the page's language.
        error_page(status, detail, Lang::En)
    }
}

/// What an error page says, kept on its response so that it can be rendered again in
/// the request's language.
#[derive(Debug, Clone)]
struct ErrorPage {
    status: StatusCode,
    /// The message of a 400 (already in the page's language).
    detail: Option<String>,
}

fn error_page(status: StatusCode, detail: Option<String>, lang: Lang) -> Response {
    let (title, text) = match status {
        StatusCode::NOT_FOUND => ("err_not_found", "err_not_found_text"),
        StatusCode::FORBIDDEN => ("err_forbidden", "err_forbidden_text"),
        StatusCode::BAD_REQUEST => ("err_bad_request", ""),
        StatusCode::TOO_MANY_REQUESTS => ("err_too_many", "err_too_many_text"),
        _ => ("err_internal", "err_internal_text"),
    };
    let title = lang.auth(title);
    let text = match &detail {
        Some(d) => d.as_str(),
        None => lang.auth(text),
    };
    let body = page_bare(
        title,
        lang.code(),
        html! {
            section.message {
                h1 { (title) }
                p { (text) }
                p { a href="/" { (lang.auth("back_home")) } }
            }
        },
    );
    let mut resp = (status, body).into_response();
    if status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("900"));
    }
    // (A 429 of the login limiter sets its own Retry-After over this one.)
    resp.extensions_mut().insert(ErrorPage { status, detail });
    resp
}

/// The language chosen for this request, once its [`Lang`] extractor has run.
#[derive(Debug, Clone, Default)]
struct LangSlot(Arc<Mutex<Option<Lang>>>);

/// Middleware: error pages in the language of the request (see [`Lang`] as an
/// extractor), falling back to `?lang=` and `Accept-Language` when no page chose one.
/// Re-renders error pages in the request's language (applied to every HTML route in
/// `web::routes`).
pub(crate) async fn localise_errors(mut req: Request, next: Next) -> Response {
    let slot = LangSlot::default();
    req.extensions_mut().insert(slot.clone());
    let fallback = lang_for(req.uri().query(), None, req.headers());
    let resp = next.run(req).await;
    let Some(page) = resp.extensions().get::<ErrorPage>().cloned() else {
        return resp;
    };
    let lang = slot.0.lock().ok().and_then(|l| *l).unwrap_or(fallback);
    if lang == Lang::En {
        return resp;
    }
    let mut localised = error_page(page.status, page.detail, lang);
    let own: Vec<_> = localised.headers().keys().cloned().collect();
    for (name, value) in resp.headers() {
        if !own.contains(name) {
            localised.headers_mut().append(name, value.clone());
        }
    }
    if let Some(v) = resp.headers().get(header::RETRY_AFTER) {
        localised
            .headers_mut()
            .insert(header::RETRY_AFTER, v.clone());
    }
    localised
}

/// The `lang` parameter of a query string.
fn query_lang(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "lang")
        .map(|(_, v)| v.into_owned())
}

/// The language of a page, as on the dashboard: `?lang=`, then the user's setting, then
/// the browser's `Accept-Language`, then English.
pub fn lang_for(query: Option<&str>, user: Option<&User>, headers: &HeaderMap) -> Lang {
    let accept = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    Lang::choose(
        query_lang(query).as_deref(),
        user.and_then(|u| u.locale.as_deref()),
        accept,
    )
}

/// The language of this request's page ([`lang_for`]). Put it after the `Session`
/// extractor to reuse its session lookup.
impl FromRequestParts<Arc<AppState>> for Lang {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let user = match parts.extensions.get::<Session>() {
            Some(s) => Some(s.user.clone()),
            None if query_lang(parts.uri.query()).is_none()
                && cookie(&parts.headers, SESSION_COOKIE).is_some() =>
            {
                session_of(state, &parts.headers).await.map(|s| s.user)
            }
            None => None,
        };
        let lang = lang_for(parts.uri.query(), user.as_ref(), &parts.headers);
        if let Some(slot) = parts.extensions.get::<LangSlot>() {
            if let Ok(mut l) = slot.0.lock() {
                *l = Some(lang);
            }
        }
        Ok(lang)
    }
}

/// 303 See Other to a local path.
pub fn redirect(to: &str) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(to) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
        }
        Err(_) => {
            resp.headers_mut()
                .insert(header::LOCATION, HeaderValue::from_static("/"));
        }
    }
    resp
}

/// BLAKE3 hex of a secret token (what is stored instead of the token).
pub(crate) fn token_hash(token: &str) -> String {
    blake3::hash(token.as_bytes()).to_hex().to_string()
}

/// A fresh 256-bit random token, URL- and cookie-safe (hex).
pub(crate) fn new_token() -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) use crate::limits::constant_time_eq;

/// The value of cookie `name` in the request, if any.
pub(crate) fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The session of a request carrying a live `lucarne_session` cookie.
pub async fn session_of(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    let token = cookie(headers, SESSION_COOKIE)?;
    if token.len() > 128 {
        return None;
    }
    match state.meta.web_session(&token_hash(token), Utc::now()).await {
        Ok(Some(s)) => Some(Session {
            user: User {
                id: s.user.id,
                email: s.user.email,
                locale: s.user.locale,
            },
            csrf: s.csrf,
        }),
        Ok(None) => None,
        Err(e) => {
            error!(message = "Session lookup failed.", error = %e);
            None
        }
    }
}

/// Where to come back after logging in: this request's path and query.
fn next_of(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into())
}

impl FromRequestParts<Arc<AppState>> for Session {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        match session_of(state, &parts.headers).await {
            Some(s) => {
                parts.extensions.insert(s.clone());
                Ok(s)
            }
            None => Err(WebError::NotLoggedIn(next_of(parts))),
        }
    }
}

impl OptionalFromRequestParts<Arc<AppState>> for Session {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Option<Self>, Self::Rejection> {
        let s = session_of(state, &parts.headers).await;
        if let Some(s) = &s {
            parts.extensions.insert(s.clone());
        }
        Ok(s)
    }
}

/// The client of a request: its IP (for rate limits only; never stored or logged) and
/// whether it reached us over TLS.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub ip: IpAddr,
    pub tls: bool,
}

/// Cookies are marked Secure when Lucarne's public address is `https://…`, however it was
/// configured (`--public-url`, `LUCARNE_PUBLIC_URL` or the TOML `public_url`), even without
/// a proxy header.
fn public_url_is_https(state: &AppState) -> bool {
    // Only the configured address: one saved in the UI from a plain-HTTP session must
    // not make the next login cookie one that session's browser never sends back.
    state
        .configured_public_url()
        .as_deref()
        .is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("https://"))
}

impl FromRequestParts<Arc<AppState>> for Client {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        let ip = peer
            .map(|p| state.client_ip(p, &parts.headers))
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let from_proxy = peer.is_some_and(|p| state.trusted_proxies.iter().any(|n| n.contains(&p)));
        let proxied_https = from_proxy
            && parts
                .headers
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"));
        Ok(Client {
            ip,
            tls: proxied_https || public_url_is_https(state),
        })
    }
}

/// Login attempts per key (the client's address, and the account), counted **before**
/// the password is checked, so concurrent attempts cannot all slip under the limit; and
/// the password checks themselves on a small bounded pool (argon2id takes 19 MiB and tens
/// of milliseconds each): an attempt that finds the pool busy is told 429 at once rather
/// than queued.
///
/// Keys are keyed BLAKE3 hashes of the address or the lower-cased e-mail with today's
/// visitor salt: they identify nobody once the salt is deleted (48 hours at most), in
/// memory and in the shared `login_failures` table alike.
pub struct LoginLimiter {
    attempts: Mutex<HashMap<[u8; 16], VecDeque<Instant>>>,
    hashing: Arc<tokio::sync::Semaphore>,
}

/// Why a login attempt was refused before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginRefusal {
    /// Too many attempts for this address or account in the window.
    Limited,
    /// Every password-checking slot is taken.
    Busy,
}

/// A login attempt that was counted and holds a password-checking slot.
pub struct LoginAttempt {
    keys: [[u8; 16]; 2],
    at: Instant,
    at_utc: chrono::DateTime<Utc>,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

/// Most login keys remembered in memory; past it, the oldest windows are forgotten first.
const MAX_LOGIN_KEYS: usize = 100_000;

impl Default for LoginLimiter {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        LoginLimiter::new(cores.clamp(1, 4))
    }
}

impl LoginLimiter {
    /// A limiter whose password checks run at most `slots` at a time.
    pub fn new(slots: usize) -> Self {
        LoginLimiter {
            attempts: Mutex::new(HashMap::new()),
            hashing: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
        }
    }

    /// The keys of an attempt: `[address, account]`, each keyed with `salt`. The e-mail is
    /// capped before it is hashed, so its length costs nothing.
    pub fn keys(salt: &[u8; 32], ip: IpAddr, email: &str) -> [[u8; 16]; 2] {
        let key = |kind: &str, v: &str| {
            let mut h = blake3::Hasher::new_keyed(salt);
            h.update(b"login\0");
            h.update(kind.as_bytes());
            h.update(b"\0");
            h.update(v.as_bytes());
            let mut out = [0u8; 16];
            out.copy_from_slice(&h.finalize().as_bytes()[..16]);
            out
        };
        let email: String = email.trim().chars().take(254).collect();
        [
            key("ip", &ip.to_string()),
            key("acct", &email.to_lowercase()),
        ]
    }

    fn shared_key(k: &[u8; 16]) -> String {
        let mut s = String::with_capacity(32);
        for b in k {
            s.push_str(&format!("{b:02x}"));
        }
        s
    }

    /// Count an attempt, then take a password-checking slot. An attempt over the limit is
    /// refused (and still counted: hammering does not reopen the window); an attempt that
    /// finds no free slot is refused and not counted (it checked nothing).
    pub async fn begin(
        &self,
        state: &AppState,
        ip: IpAddr,
        email: &str,
    ) -> Result<LoginAttempt, LoginRefusal> {
        let slot = self
            .hashing
            .clone()
            .try_acquire_owned()
            .map_err(|_| LoginRefusal::Busy)?;
        let (salt, _) = state.salts_now();
        let keys = Self::keys(&salt, ip, email);
        let at = Instant::now();
        let at_utc = Utc::now();
        let mut over = self.count(&keys, at);
        if state.sessions.is_shared() && !over {
            // Across nodes: read the count first, and record the attempt only when it is
            // let through, so refused attempts add no rows (the local count above is
            // exact per node; nodes racing may let a few more through in all).
            let shared: Vec<String> = keys.iter().map(Self::shared_key).collect();
            let since = at_utc - chrono::Duration::from_std(LOGIN_WINDOW).unwrap_or_default();
            match state.meta.login_failures(&shared, since).await {
                Ok(n) if n >= MAX_LOGIN_FAILURES as u64 => over = true,
                Ok(_) => {
                    if let Err(e) = state.meta.record_login_failure(&shared, at_utc).await {
                        warn!(message = "Could not record a login attempt across nodes.", error = %e);
                    }
                }
                Err(e) => {
                    // The local count still applies; say so rather than fail open silently.
                    warn!(message = "Shared login attempts unavailable; counting on this node only.", error = %e)
                }
            }
        }
        if over {
            return Err(LoginRefusal::Limited);
        }
        Ok(LoginAttempt {
            keys,
            at,
            at_utc,
            _slot: slot,
        })
    }

    /// Add an attempt at `now` to both keys: is either now over the limit? An attempt
    /// over the limit adds nothing (no new key, no new time), and keys over the limit are
    /// never forgotten to make room: a flood of refused attempts cannot push the
    /// counts it is refused by out of the table.
    fn count(&self, keys: &[[u8; 16]; 2], now: Instant) -> bool {
        let Ok(mut map) = self.attempts.lock() else {
            return true;
        };
        let live = |q: &VecDeque<Instant>| {
            q.iter()
                .filter(|t| now.duration_since(**t) <= LOGIN_WINDOW)
                .count()
        };
        if keys
            .iter()
            .any(|k| map.get(k).is_some_and(|q| live(q) >= MAX_LOGIN_FAILURES))
        {
            return true;
        }
        if map.len() >= MAX_LOGIN_KEYS {
            map.retain(|_, q| {
                q.back()
                    .is_some_and(|t| now.duration_since(*t) <= LOGIN_WINDOW)
            });
            if map.len() >= MAX_LOGIN_KEYS / 10 * 9 {
                // Still nearly full within the window: forget the quietest keys that are
                // under the limit (so the next new keys do not scan the map again).
                let mut quiet: Vec<(Instant, [u8; 16])> = map
                    .iter()
                    .filter(|(_, q)| live(q) < MAX_LOGIN_FAILURES)
                    .filter_map(|(k, q)| q.back().map(|t| (*t, *k)))
                    .collect();
                quiet.sort_unstable();
                for (_, k) in quiet.iter().take(MAX_LOGIN_KEYS / 10) {
                    map.remove(k);
                }
            }
        }
        for k in keys {
            let q = map.entry(*k).or_default();
            while q
                .front()
                .is_some_and(|t| now.duration_since(*t) > LOGIN_WINDOW)
            {
                q.pop_front();
            }
            q.push_back(now);
        }
        false
    }

    /// The attempt succeeded: it no longer counts against the address, and the account's
    /// failures are forgotten.
    pub async fn succeed(&self, state: &AppState, a: LoginAttempt) {
        if let Ok(mut map) = self.attempts.lock() {
            if let Some(q) = map.get_mut(&a.keys[0]) {
                if let Some(i) = q.iter().rposition(|t| *t == a.at) {
                    q.remove(i);
                }
            }
            map.remove(&a.keys[1]);
        }
        if state.sessions.is_shared() {
            let ip = Self::shared_key(&a.keys[0]);
            let acct = Self::shared_key(&a.keys[1]);
            let r = match state.meta.forget_login_attempt(&ip, a.at_utc).await {
                Ok(()) => state.meta.clear_login_failures(&acct).await,
                Err(e) => Err(e),
            };
            if let Err(e) = r {
                warn!(message = "Could not clear failed logins.", error = %e);
            }
        }
    }

    /// Is this address or account over the limit now (without counting an attempt)?
    pub fn blocked(&self, salt: &[u8; 32], ip: IpAddr, email: &str) -> bool {
        let now = Instant::now();
        let Ok(map) = self.attempts.lock() else {
            return true;
        };
        Self::keys(salt, ip, email).iter().any(|k| {
            map.get(k).is_some_and(|q| {
                q.iter()
                    .filter(|t| now.duration_since(**t) <= LOGIN_WINDOW)
                    .count()
                    >= MAX_LOGIN_FAILURES
            })
        })
    }
}

/// Hash a password with argon2id (default parameters) and a random salt: a PHC string.
pub fn hash_password(password: &str) -> Result<String, WebError> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| {
        error!(message = "Salt encoding failed.", error = %e);
        WebError::Internal
    })?;
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| {
            error!(message = "Password hashing failed.", error = %e);
            WebError::Internal
        })
}

/// Does `password` match the stored PHC hash?
pub fn verify_password(password: &str, stored: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    match PasswordHash::new(stored) {
        Ok(h) => argon2::Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// Is this password acceptable for a new account?
pub fn check_new_password(password: &str) -> Result<(), String> {
    check_new_password_in(password, Lang::En)
}

/// [`check_new_password`], the problem said in `lang`.
pub fn check_new_password_in(password: &str, lang: Lang) -> Result<(), String> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(lang
            .auth("pw_short")
            .replace("{n}", &MIN_PASSWORD_LEN.to_string()));
    }
    if password.len() > 1024 {
        return Err(lang.auth("pw_long").into());
    }
    Ok(())
}

/// The user's access to a site. 404 when the site does not exist *or* the user has no
/// role on it, so that nobody learns which sites exist.
pub async fn site_access(
    state: &AppState,
    session: &Session,
    domain: &str,
) -> Result<Access, WebError> {
    let domain = domain.trim().to_ascii_lowercase();
    let site = state
        .meta
        .site_by_domain(&domain)
        .await?
        .ok_or(WebError::NotFound)?;
    let role = state
        .meta
        .member_role(site.id, session.user.id)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Access {
        site,
        role,
        user: Some(session.user.clone()),
        shared: false,
    })
}

/// Read-only access through a live shared link; 404 for an unknown or revoked token.
pub async fn shared_access(state: &AppState, token: &str) -> Result<Access, WebError> {
    if token.is_empty() || token.len() > 128 {
        return Err(WebError::NotFound);
    }
    let site = state
        .meta
        .shared_link_site(token)
        .await?
        .ok_or(WebError::NotFound)?;
    Ok(Access {
        site,
        role: Role::Viewer,
        user: None,
        shared: true,
    })
}

/// Owner access or 403 (for a user who can see the site but not change it).
pub async fn owner_access(
    state: &AppState,
    session: &Session,
    domain: &str,
) -> Result<Access, WebError> {
    let a = site_access(state, session, domain).await?;
    if a.role == Role::Owner {
        Ok(a)
    } else {
        Err(WebError::Forbidden)
    }
}

/// The sites a user can see, with the user's role on each.
pub async fn user_sites(state: &AppState, user: &User) -> Result<Vec<(Site, Role)>, WebError> {
    Ok(state.meta.user_sites(user.id).await?)
}

/// The hidden CSRF field every form of a logged-in page carries.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

/// A row's id from a path or form field: a positive integer, else 404 (as for an id the
/// site does not have).
pub fn row_id(id: &str) -> Result<i64, WebError> {
    id.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(WebError::NotFound)
}

/// 403 unless `submitted` is this session's CSRF token.
pub fn verify_csrf(session: &Session, submitted: &str) -> Result<(), WebError> {
    if !submitted.is_empty() && constant_time_eq(session.csrf.as_bytes(), submitted.as_bytes()) {
        Ok(())
    } else {
        warn!(message = "CSRF check failed.", user_id = session.user.id);
        Err(WebError::Forbidden)
    }
}

/// Every accounts-and-access route.
pub fn routes() -> Router<Arc<AppState>> {
    pages::routes().layer(Extension(Arc::new(LoginLimiter::default())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("wrong horse battery", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn limiter_counts_attempts_before_the_check() {
        let l = LoginLimiter::new(2);
        let salt = [7u8; 32];
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let keys = LoginLimiter::keys(&salt, ip, "a@example.com");
        for _ in 0..MAX_LOGIN_FAILURES {
            assert!(!l.count(&keys, Instant::now()));
        }
        assert!(l.count(&keys, Instant::now()), "the eleventh is over");
        assert!(l.blocked(&salt, ip, "a@example.com"));
        assert!(l.blocked(&salt, ip, "other@example.com"), "same address");
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        assert!(l.blocked(&salt, other, " A@example.com"), "same account");
        assert!(!l.blocked(&salt, other, "b@example.com"));
        assert!(
            !l.blocked(&[8u8; 32], ip, "a@example.com"),
            "keyed by the salt"
        );
    }

    /// One address past its limit floods the table with refused attempts for new
    /// accounts: its own count and the victim account's survive, so it gets no new
    /// guesses; other clients fill the table and keys under the limit make room.
    #[test]
    fn refused_attempts_cannot_push_the_counts_out() {
        let l = LoginLimiter::new(2);
        let salt = [3u8; 32];
        let attacker = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 66));
        let victim = LoginLimiter::keys(&salt, attacker, "victim@example.com");
        for _ in 0..MAX_LOGIN_FAILURES {
            assert!(!l.count(&victim, Instant::now()));
        }
        for i in 0..(MAX_LOGIN_KEYS + 10_000) {
            let keys = LoginLimiter::keys(&salt, attacker, &format!("r{i}@example.com"));
            assert!(
                l.count(&keys, Instant::now()),
                "refused: the address is over"
            );
        }
        // Many other clients, one attempt each, overflow the table.
        for i in 0..(MAX_LOGIN_KEYS as u32 + 10_000) {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + i));
            let _ = l.count(
                &LoginLimiter::keys(&salt, ip, "x@example.com"),
                Instant::now(),
            );
        }
        assert!(l.blocked(&salt, attacker, "victim@example.com"));
        let elsewhere = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
        assert!(
            l.blocked(&salt, elsewhere, "victim@example.com"),
            "the account too"
        );
        assert!(l.attempts.lock().unwrap().len() <= MAX_LOGIN_KEYS + 2);
    }

    #[test]
    fn login_keys_are_keyed_fixed_size_and_cap_the_email() {
        let salt = [1u8; 32];
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let long = "x".repeat(1_000_000);
        let [_, a] = LoginLimiter::keys(&salt, ip, &long);
        let [_, b] = LoginLimiter::keys(&salt, ip, &long[..254]);
        assert_eq!(a, b, "only the first 254 characters count");
        let [ip_key, _] = LoginLimiter::keys(&salt, ip, "");
        assert_ne!(
            LoginLimiter::shared_key(&ip_key),
            blake3::hash(b"192.0.2.1").to_hex()[..32]
        );
        assert_eq!(LoginLimiter::shared_key(&ip_key).len(), 32);
    }

    #[test]
    fn cookies_are_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lucarne_session=xyz; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("xyz"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
