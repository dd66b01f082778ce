//! The ingest pipeline: small named steps, each keeping the hit or giving a typed,
//! counted drop reason (Plausible's `ingestion/event.ex` is the model).
//!
//! Every step is a [`Step`], run by [`run_steps`] with one signature: `(&mut Ctx, &mut
//! Hit) -> Result<(), DropReason>`. The steps are declared once, in order, as the
//! variants of [`Step`]; each entry point selects its own list from them:
//! - [`LIVE`] (`POST /api/event`, after `validate` made the hit from the payload);
//! - [`OFFLINE`] (`ingest::offline`: demo and `lucarne generate`);
//! - [`IMPORT_PAGEVIEW`] (`previews::import`: people's pageviews of an access log).
//!
//! Short-link redirects record clicks, scans and previews that are not visits and carry
//! no payload: `core::links` classifies the request and `links::link_event` makes the
//! row, so none of these steps applies to them.
//!
//! After the steps, `build_row` finds or opens the visit (classifying new visits) and
//! makes the stored row; the entry point then stores it. Every drop is counted in
//! `/metrics` (`lucarne_events_dropped_total{reason}`).

use std::borrow::Cow;
use std::net::IpAddr;

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use lucarne_core::classify::{classify, is_site_host, Arrival};
use lucarne_core::event::{EventRow, Revenue, ENGAGEMENT_EVENT, NO_SCROLL_DEPTH};
use lucarne_core::links::{CLICK_EVENT, PREVIEW_EVENT, SCAN_EVENT};
use lucarne_core::token::{
    attribute, link, share_button, NodeKind, Token, TokenNode, VIA_COPIED_TEXT,
};
use lucarne_core::url_clean::{
    clean_page_url, clean_referrer, normalise_host, CleanReferrer, CleanUrl, UrlError,
};
use lucarne_core::useragent::is_spam_referrer;
use lucarne_core::visitor::{visitor_id, Salt};
use serde_json::Value;

use super::payload::{truthy, Payload};
use super::sessions::VisitFields;
use crate::error::ApiError;
use crate::state::AppState;
use lucarne_store::meta::{Site, SiteOptions};

pub const MAX_BODY: usize = 16 * 1024;
pub const MAX_URL: usize = 2000;
pub const MAX_PROPS: usize = 30;
/// The longest domain name (RFC 1035).
const MAX_DOMAIN: usize = 253;
pub const MAX_NAME: usize = 120;
const MAX_PROP_LEN: usize = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    BodyTooLarge,
    /// The body did not arrive within the body timeout (`net::ConnLimits`).
    BodyTimeout,
    MalformedJson,
    MissingField,
    UrlTooLong,
    ReferrerTooLong,
    NotHttpUrl,
    BadUrl,
    TooManyProps,
    BadRevenue,
    NameTooLong,
    /// An event name with control characters (NUL, newlines, escapes…).
    BadName,
    Bot,
    SpamReferrer,
    UnknownSite,
    HostnameNotAllowed,
    QueueFull,
    StoreUnavailable,
    /// The spool could not write to disk (full, or an I/O error).
    SpoolWriteFailed,
    /// The metadata store could not say which site this is or how it is set up.
    MetaUnavailable,
    /// The site sent more events a second than its limit allows.
    SiteRateLimited,
    /// The client address sent more events a second than its limit allows.
    ClientRateLimited,
    /// The site honours Do-Not-Track / Global Privacy Control and the browser sent one.
    DoNotTrack,
    /// A `share` or `copy` event without a well-formed token, or a share without a known
    /// button in `props.channel`.
    BadShare,
    /// A `copy` event for a site whose copied-text attribution is off.
    CopyAttributionOff,
    /// `link_click`, `link_scan` and `preview` are recorded by Lucarne itself.
    ReservedName,
    /// A `survey` event whose `props.answer` is not one of the site's options, or whose
    /// free text is longer than 200 characters.
    BadSurvey,
    /// A `survey` event for a site whose survey is off.
    SurveyOff,
    /// A second `survey` answer in the same visit.
    DuplicateSurvey,
    /// An `engagement` event with no live visit to belong to (a page left open past the
    /// visit timeout): it opens no visit.
    EngagementWithoutVisit,
    /// An `engagement` event whose `sd` or `e` is not a number in range.
    BadEngagement,
}

impl crate::metrics::DropLabel for DropReason {
    fn label(self) -> &'static str {
        self.as_str()
    }
}

impl DropReason {
    pub fn as_str(self) -> &'static str {
        use DropReason as D;
        match self {
            D::BodyTooLarge => "body_too_large",
            D::BodyTimeout => "body_timeout",
            D::MalformedJson => "malformed_json",
            D::MissingField => "missing_field",
            D::UrlTooLong => "url_too_long",
            D::ReferrerTooLong => "referrer_too_long",
            D::NotHttpUrl => "not_http_url",
            D::BadUrl => "bad_url",
            D::TooManyProps => "too_many_props",
            D::BadRevenue => "bad_revenue",
            D::NameTooLong => "name_too_long",
            D::BadName => "bad_name",
            D::Bot => "bot",
            D::SpamReferrer => "spam_referrer",
            D::UnknownSite => "unknown_site",
            D::HostnameNotAllowed => "hostname_not_allowed",
            D::QueueFull => "queue_full",
            D::StoreUnavailable => "store_unavailable",
            D::SpoolWriteFailed => "spool_write_failed",
            D::MetaUnavailable => "meta_unavailable",
            D::SiteRateLimited => "site_rate_limited",
            D::ClientRateLimited => "client_rate_limited",
            D::DoNotTrack => "do_not_track",
            D::BadShare => "bad_share",
            D::CopyAttributionOff => "copy_attribution_off",
            D::ReservedName => "reserved_name",
            D::BadSurvey => "bad_survey",
            D::SurveyOff => "survey_off",
            D::DuplicateSurvey => "duplicate_survey",
            D::EngagementWithoutVisit => "engagement_without_visit",
            D::BadEngagement => "bad_engagement",
        }
    }

    pub fn status(self) -> StatusCode {
        use DropReason as D;
        match self {
            D::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            D::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            D::MalformedJson
            | D::MissingField
            | D::UrlTooLong
            | D::ReferrerTooLong
            | D::NotHttpUrl
            | D::BadUrl
            | D::TooManyProps
            | D::BadRevenue
            | D::NameTooLong
            | D::BadName
            | D::BadShare
            | D::ReservedName
            | D::BadSurvey
            | D::BadEngagement => StatusCode::BAD_REQUEST,
            D::Bot
            | D::SpamReferrer
            | D::HostnameNotAllowed
            | D::CopyAttributionOff
            | D::SurveyOff => StatusCode::FORBIDDEN,
            D::DuplicateSurvey => StatusCode::CONFLICT,
            D::SiteRateLimited | D::ClientRateLimited => StatusCode::TOO_MANY_REQUESTS,
            D::UnknownSite => StatusCode::NOT_FOUND,
            D::QueueFull | D::StoreUnavailable | D::SpoolWriteFailed | D::MetaUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            // Not an error of the sender: the visitor asked not to be tracked, or left a
            // page open longer than a visit lasts.
            D::DoNotTrack | D::EngagementWithoutVisit => StatusCode::ACCEPTED,
        }
    }

    fn message(self) -> &'static str {
        use DropReason as D;
        match self {
            D::BodyTooLarge => "request body is larger than 16 KB",
            D::BodyTimeout => "request body did not arrive in time",
            D::MalformedJson => "request body is not a JSON event",
            D::MissingField => "`name`, `url` and `domain` are required",
            D::UrlTooLong => "`url` is longer than 2,000 characters",
            D::ReferrerTooLong => "`referrer` is longer than 2,000 characters",
            D::NotHttpUrl => "`url` must be an http(s) URL",
            D::BadUrl => "`url` is not a valid URL",
            D::TooManyProps => {
                "`props` must be a flat object of at most 30 string, number or boolean values"
            }
            D::BadRevenue => {
                "`revenue` must be {\"amount\": number, \"currency\": \"ISO 4217 code\"}"
            }
            D::NameTooLong => "`name` is longer than 120 characters",
            D::BadName => "`name` contains control characters",
            D::Bot => "bot traffic is not counted",
            D::SpamReferrer => "referrer spam is not counted",
            D::UnknownSite => "no site with this domain is registered",
            D::HostnameNotAllowed => "the page's hostname is not allowed for this site",
            D::QueueFull => "too many events waiting to be stored, retry shortly",
            D::StoreUnavailable => "the events store is not accepting events",
            D::SpoolWriteFailed => "the server cannot write events to disk now; retry shortly",
            D::MetaUnavailable => "the site registry is unreachable; retry shortly",
            D::SiteRateLimited => "this site is sending more events a second than its limit",
            D::ClientRateLimited => "this client is sending more events a second than its limit",
            D::DoNotTrack => {
                "not recorded: the browser asks not to be tracked and this site honours it"
            }
            D::BadShare => {
                "`share` and `copy` events need `t`, an 11-character token, and a share needs \
                 `props.channel`: whatsapp, telegram, messenger, signal, sms, email, copy, \
                 native, facebook, x or linkedin"
            }
            D::CopyAttributionOff => "copied-text attribution is off for this site",
            D::ReservedName => {
                "the event names link_click, link_scan and preview are recorded by Lucarne itself"
            }
            D::BadSurvey => {
                "a `survey` event needs `props.answer`, one of the site's survey options, and \
                 at most 200 characters of `props.text`"
            }
            D::SurveyOff => "the survey is off for this site",
            D::DuplicateSurvey => "this visit has answered the survey already",
            D::EngagementWithoutVisit => {
                "not recorded: an engagement event belongs to a visit, and this visitor has none \
                 live (the page was open longer than the 30-minute visit timeout)"
            }
            D::BadEngagement => {
                "an `engagement` event's `sd` is a scroll depth from 0 to 100 and its `e` a \
                 number of milliseconds"
            }
        }
    }

    pub fn into_error(self) -> ApiError {
        let mut e = ApiError::new(self.status(), self.as_str(), self.message());
        if matches!(
            self,
            DropReason::QueueFull
                | DropReason::StoreUnavailable
                | DropReason::SpoolWriteFailed
                | DropReason::MetaUnavailable
                | DropReason::SiteRateLimited
                | DropReason::ClientRateLimited
        ) {
            e.retry_after = Some(1);
        }
        e
    }
}

/// A validated hit, before it meets a site or a visitor.
pub struct Hit {
    pub name: String,
    pub url: CleanUrl,
    pub referrer: Option<String>,
    pub screen_width: u16,
    pub props: Vec<(String, String)>,
    pub revenue: Option<Revenue>,
    pub telegram_webview: bool,
    pub domain: String,
    /// The token this event mints (0: none, or a malformed one on a pageview).
    pub token: u64,
    /// The button of a `share` event, `copied-text` for a `copy` event.
    pub share_channel: String,
    /// The token in the page URL (`lc`), parsed; and whether one was there at all.
    pub arrival: Option<Token>,
    pub arrival_present: bool,
    /// The arrival token's owner, once looked up (`resolve_token`).
    pub parent: Option<TokenNode>,
    /// An engagement's scroll depth (`NO_SCROLL_DEPTH` when not sent) and time.
    pub scroll_depth: u8,
    pub engagement_ms: u32,
}

impl Hit {
    /// A hit of event `name` on the page `url` of site `domain`, with nothing else known
    /// yet: the token in the page's address (`lc`) is parsed, not looked up.
    pub fn new(name: String, url: CleanUrl, domain: String) -> Hit {
        let arrival_present = url.token.is_some();
        let arrival = url.token.as_deref().and_then(Token::parse);
        Hit {
            name,
            url,
            referrer: None,
            screen_width: 0,
            props: Vec::new(),
            revenue: None,
            telegram_webview: false,
            domain,
            token: 0,
            share_channel: String::new(),
            arrival,
            arrival_present,
            parent: None,
            scroll_depth: 0,
            engagement_ms: 0,
        }
    }
}

/// What an event's context holds while the steps run: who sent it, and what the steps
/// have learnt (the site, its options, read at most once per event).
pub struct Ctx<'a> {
    pub state: &'a AppState,
    /// The sender's user agent (at most 1,000 characters).
    pub user_agent: &'a str,
    /// The client's address, for its rate limit (live ingest only).
    pub ip: Option<IpAddr>,
    /// The request's headers (live ingest only: Do-Not-Track, Global Privacy Control).
    pub headers: Option<&'a axum::http::HeaderMap>,
    /// The site, once known (`ResolveSite`, or lent by offline entry points).
    pub site: Option<Cow<'a, Site>>,
    /// The site's options, read from the metadata store on first use.
    options: Option<SiteOptions>,
}

impl<'a> Ctx<'a> {
    pub fn new(state: &'a AppState, user_agent: &'a str) -> Self {
        Ctx {
            state,
            user_agent,
            ip: None,
            headers: None,
            site: None,
            options: None,
        }
    }

    fn site(&self) -> Result<&Site, DropReason> {
        self.site.as_deref().ok_or(DropReason::UnknownSite)
    }

    /// The site's settings, read once per event, or 503 when the metadata store cannot
    /// give them (never the defaults, which would silently change what is recorded).
    pub async fn options(&mut self) -> Result<&SiteOptions, DropReason> {
        if self.options.is_none() {
            let site_id = self.site()?.id;
            let read = self
                .state
                .site_options(site_id)
                .await
                .map_err(|_| DropReason::MetaUnavailable)?;
            self.options = Some(read);
        }
        self.options.as_ref().ok_or(DropReason::MetaUnavailable)
    }
}

/// The ingest steps, declared once, in the order they may run (every entry point's list
/// keeps this order). Sync steps cost no more than a function call; the async ones
/// await the metadata store or the token index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    /// `share` and `copy` events: a token, and a share's button (`props.channel`).
    CheckShare,
    /// Bots, crawlers and automated browsers (by user agent).
    DropBot,
    /// Referrer spam.
    DropSpamReferrer,
    /// The client's fair share, before the site is even looked up.
    CheckClientRate,
    /// The site must exist and the page must be on it.
    ResolveSite,
    /// The site's fair share.
    CheckSiteRate,
    /// Do-Not-Track / Global Privacy Control, when the site honours them.
    DropDoNotTrack,
    /// `copy` events only for sites with copied-text attribution on.
    CheckCopyAllowed,
    /// A `survey` answer must be one of the site's options.
    CheckSurvey,
    /// Who minted the arrival token: memory, then the store.
    ResolveToken,
    /// Who minted the arrival token, from memory only (historical hits come in time
    /// order, so a parent minted earlier in the same run is known).
    ResolveTokenInMemory,
}

/// Live ingest, after `validate`.
pub const LIVE: &[Step] = &[
    Step::CheckShare,
    Step::DropBot,
    Step::DropSpamReferrer,
    Step::CheckClientRate,
    Step::ResolveSite,
    Step::CheckSiteRate,
    Step::DropDoNotTrack,
    Step::CheckCopyAllowed,
    Step::CheckSurvey,
    Step::ResolveToken,
];

/// Synthetic history (demo, `lucarne generate`): the site is given, nothing is limited.
pub const OFFLINE: &[Step] = &[
    Step::CheckShare,
    Step::DropBot,
    Step::CheckCopyAllowed,
    Step::ResolveTokenInMemory,
];

/// People's pageviews from an access log (bots and previews are told apart before).
pub const IMPORT_PAGEVIEW: &[Step] = &[Step::DropSpamReferrer, Step::ResolveTokenInMemory];

impl Step {
    /// Run this step on `hit`.
    pub async fn run(self, ctx: &mut Ctx<'_>, hit: &mut Hit) -> Result<(), DropReason> {
        match self {
            Step::CheckShare => check_share(hit),
            Step::DropBot => drop_bot(ctx.state, ctx.user_agent),
            Step::DropSpamReferrer => drop_spam_referrer(ctx.state, hit),
            Step::CheckClientRate => match ctx.ip {
                Some(ip) => check_client_rate(ctx.state, ip),
                None => Ok(()),
            },
            Step::ResolveSite => {
                ctx.site = Some(Cow::Owned(resolve_site(ctx.state, hit).await?));
                Ok(())
            }
            Step::CheckSiteRate => check_site_rate(ctx.state, ctx.site()?),
            Step::DropDoNotTrack => drop_do_not_track(ctx).await,
            Step::CheckCopyAllowed => check_copy_allowed(ctx, hit).await,
            Step::CheckSurvey => check_survey(ctx, hit).await,
            Step::ResolveToken => {
                resolve_token(ctx.state, hit).await;
                Ok(())
            }
            Step::ResolveTokenInMemory => {
                hit.parent = hit.arrival.and_then(|t| ctx.state.tokens.get(t.bits()));
                Ok(())
            }
        }
    }
}

/// Run `steps` in order on `hit`; the first drop ends the run.
pub async fn run_steps(steps: &[Step], ctx: &mut Ctx<'_>, hit: &mut Hit) -> Result<(), DropReason> {
    for &step in steps {
        step.run(ctx, hit).await?;
    }
    Ok(())
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// Step 1: shape and size checks.
pub fn validate(p: Payload) -> Result<Hit, DropReason> {
    let name = nonempty(p.name).ok_or(DropReason::MissingField)?;
    let raw_url = nonempty(p.url).ok_or(DropReason::MissingField)?;
    let domain = nonempty(p.domain).ok_or(DropReason::MissingField)?;
    if domain.len() > MAX_DOMAIN {
        // No site can have such a name: refused before any lookup or cache entry.
        return Err(DropReason::UnknownSite);
    }
    if name.chars().count() > MAX_NAME {
        return Err(DropReason::NameTooLong);
    }
    if name.chars().any(char::is_control) {
        return Err(DropReason::BadName);
    }
    if raw_url.len() > MAX_URL {
        return Err(DropReason::UrlTooLong);
    }
    let referrer = nonempty(p.referrer);
    if referrer.as_ref().is_some_and(|r| r.len() > MAX_URL) {
        return Err(DropReason::ReferrerTooLong);
    }
    // In hash-routing mode the route's path is kept, never a query inside the fragment.
    let url = clean_page_url(&raw_url, truthy(&p.hash_mode)).map_err(|e| match e {
        UrlError::NotHttp => DropReason::NotHttpUrl,
        UrlError::Unparsable => DropReason::BadUrl,
    })?;
    let props = parse_props(p.props)?;
    let revenue = parse_revenue(p.revenue)?;
    if [CLICK_EVENT, SCAN_EVENT, PREVIEW_EVENT].contains(&name.as_str()) {
        return Err(DropReason::ReservedName);
    }
    let (scroll_depth, engagement_ms) = if name == ENGAGEMENT_EVENT {
        parse_engagement(p.scroll_depth.as_ref(), p.engagement_time.as_ref())?
    } else {
        (0, 0)
    };
    let minted = p
        .token
        .as_ref()
        .and_then(Value::as_str)
        .and_then(Token::parse);
    let screen_width = p
        .screen_width
        .as_ref()
        .and_then(Value::as_u64)
        .map(|w| w.min(u64::from(u16::MAX)) as u16)
        .unwrap_or(0);
    Ok(Hit {
        referrer,
        screen_width,
        props,
        revenue,
        telegram_webview: truthy(&p.tg),
        token: minted.map_or(0, Token::bits),
        scroll_depth,
        engagement_ms,
        ..Hit::new(name, url, domain)
    })
}

/// An engagement's scroll depth (0–100 %, `NO_SCROLL_DEPTH` when absent) and time in the
/// foreground (milliseconds, at most a day). Plausible's tracker sends whole numbers;
/// fractions are rounded.
fn parse_engagement(sd: Option<&Value>, e: Option<&Value>) -> Result<(u8, u32), DropReason> {
    let number = |v: &Value| match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    let scroll = match sd {
        None | Some(Value::Null) => NO_SCROLL_DEPTH,
        Some(v) => match number(v) {
            Some(x) if (0.0..=100.0).contains(&x) => x.round() as u8,
            // Plausible's tracker reports -1 before it could measure.
            Some(x) if (-1.0..0.0).contains(&x) => NO_SCROLL_DEPTH,
            _ => return Err(DropReason::BadEngagement),
        },
    };
    let ms = match e {
        None | Some(Value::Null) => 0,
        Some(v) => match number(v) {
            Some(x) if (0.0..=86_400_000.0).contains(&x) => x.round() as u32,
            _ => return Err(DropReason::BadEngagement),
        },
    };
    Ok((scroll, ms))
}

/// `share` and `copy` events must carry the token they mint, and a share names a known
/// button (`data/share_buttons.toml`) in `props.channel`; sets the hit's share channel.
pub fn check_share(hit: &mut Hit) -> Result<(), DropReason> {
    let kind = NodeKind::of_event(&hit.name);
    hit.share_channel = match kind {
        NodeKind::Visit | NodeKind::Link => String::new(),
        NodeKind::Copy => VIA_COPIED_TEXT.to_string(),
        NodeKind::Share => hit
            .props
            .iter()
            .find(|(k, _)| k == "channel")
            .map(|(_, v)| v.clone())
            .filter(|c| share_button(c).is_some())
            .ok_or(DropReason::BadShare)?,
    };
    if kind != NodeKind::Visit && hit.token == 0 {
        return Err(DropReason::BadShare);
    }
    Ok(())
}

fn strip_controls(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(MAX_PROP_LEN)
        .collect()
}

pub fn parse_props(v: Option<Value>) -> Result<Vec<(String, String)>, DropReason> {
    let obj = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(o)) => o,
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(Vec::new()),
        // Plausible's script may send props as a JSON string.
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(o)) => o,
            _ => return Err(DropReason::TooManyProps),
        },
        Some(_) => return Err(DropReason::TooManyProps),
    };
    if obj.len() > MAX_PROPS {
        return Err(DropReason::TooManyProps);
    }
    let mut out = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        let v = match v {
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => continue,
            _ => return Err(DropReason::TooManyProps),
        };
        let k = strip_controls(&k);
        if k.is_empty() || k.len() > 300 {
            return Err(DropReason::TooManyProps);
        }
        out.push((k, strip_controls(&v)));
    }
    Ok(out)
}

pub fn parse_revenue(v: Option<Value>) -> Result<Option<Revenue>, DropReason> {
    let obj = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(DropReason::BadRevenue),
    };
    let currency = obj
        .get("currency")
        .and_then(Value::as_str)
        .map(|c| c.trim().to_ascii_uppercase())
        .filter(|c| c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase()))
        .ok_or(DropReason::BadRevenue)?;
    let amount: f64 = match obj.get("amount") {
        Some(Value::Number(n)) => n.as_f64().ok_or(DropReason::BadRevenue)?,
        Some(Value::String(s)) => s.trim().parse().map_err(|_| DropReason::BadRevenue)?,
        _ => return Err(DropReason::BadRevenue),
    };
    // Revenue is money received: negative amounts (refunds) are not events of a visit.
    if !amount.is_finite() || !(0.0..=1e12).contains(&amount) {
        return Err(DropReason::BadRevenue);
    }
    let digits = lucarne_core::conversions::minor_digits(&currency) as i32;
    let amount_minor = (amount * 10f64.powi(digits)).round() as i64;
    Ok(Some(Revenue {
        amount_minor,
        currency,
    }))
}

/// Step 2: bots, crawlers and automated browsers.
fn drop_bot(state: &AppState, user_agent: &str) -> Result<(), DropReason> {
    if state.ua_facts(user_agent).bot {
        return Err(DropReason::Bot);
    }
    Ok(())
}

/// The referrer's host, if it is a URL with one.
pub fn referrer_host(referrer: &str) -> Option<String> {
    url::Url::parse(referrer)
        .ok()
        .and_then(|u| u.host_str().map(normalise_host))
}

/// Step 3: referrer spam.
fn drop_spam_referrer(state: &AppState, hit: &Hit) -> Result<(), DropReason> {
    if let Some(host) = hit.referrer.as_deref().and_then(referrer_host) {
        if is_spam_referrer(&state.rules, &host) {
            return Err(DropReason::SpamReferrer);
        }
    }
    Ok(())
}

/// Does `host` belong to `site` (its domain, a subdomain, or an allowed hostname)?
pub fn host_allowed(site: &Site, host: &str) -> bool {
    is_site_host(&site.domain, &site.allowed_hostnames, host)
}

/// Step 4: the site must exist and the page must be on it.
async fn resolve_site(state: &AppState, hit: &Hit) -> Result<Site, DropReason> {
    let domain = normalise_host(&hit.domain);
    let site = state
        .site(&domain)
        .await
        .map_err(|_| DropReason::MetaUnavailable)?
        .ok_or(DropReason::UnknownSite)?;
    if !host_allowed(&site, &hit.url.host) {
        return Err(DropReason::HostnameNotAllowed);
    }
    Ok(site)
}

/// Step 3a: the client's fair share, before the site is even looked up (so events for
/// random domains are limited too, and cost no metadata query past it).
fn check_client_rate(state: &AppState, ip: std::net::IpAddr) -> Result<(), DropReason> {
    state
        .rate_limits
        .client(ip)
        .map_err(|_| DropReason::ClientRateLimited)
}

/// Step 4a: the site's fair share (429 past it, before any work is queued, so one
/// flooded site cannot fill the writer's queue for the others).
fn check_site_rate(state: &AppState, site: &Site) -> Result<(), DropReason> {
    state
        .rate_limits
        .site
        .check(u64::from(site.id))
        .map_err(|_| DropReason::SiteRateLimited)
}

/// Step 4b: Do-Not-Track (`DNT: 1`) and Global Privacy Control (`Sec-GPC: 1`), when the
/// site's owner chose to honour them.
async fn drop_do_not_track(ctx: &mut Ctx<'_>) -> Result<(), DropReason> {
    let Some(headers) = ctx.headers else {
        return Ok(());
    };
    let asks = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            == Some("1")
    };
    if (asks("dnt") || asks("sec-gpc")) && ctx.options().await?.honour_dnt {
        return Err(DropReason::DoNotTrack);
    }
    Ok(())
}

/// Step 4c: `copy` events only for sites that turned copied-text attribution on.
async fn check_copy_allowed(ctx: &mut Ctx<'_>, hit: &Hit) -> Result<(), DropReason> {
    if NodeKind::of_event(&hit.name) == NodeKind::Copy && !ctx.options().await?.copy_attribution {
        return Err(DropReason::CopyAttributionOff);
    }
    Ok(())
}

/// The event name of a survey answer (`web/survey.js`).
pub const SURVEY_EVENT: &str = "survey";
const MAX_SURVEY_TEXT: usize = 200;

/// Step 4d: a `survey` answer must name one of the site's options, with little free
/// text, and the site's survey must be on.
async fn check_survey(ctx: &mut Ctx<'_>, hit: &Hit) -> Result<(), DropReason> {
    if hit.name != SURVEY_EVENT {
        return Ok(());
    }
    let opts = ctx.options().await?;
    if !opts.survey_enabled {
        return Err(DropReason::SurveyOff);
    }
    let prop = |k: &str| hit.props.iter().find(|(key, _)| key == k).map(|(_, v)| v);
    let answer = prop("answer").ok_or(DropReason::BadSurvey)?;
    let rules = lucarne_core::survey::SurveyRules::builtin();
    if !rules
        .options_for(&opts.survey_options)
        .iter()
        .any(|o| &o.id == answer)
    {
        return Err(DropReason::BadSurvey);
    }
    if prop("text").is_some_and(|t| t.chars().count() > MAX_SURVEY_TEXT) {
        return Err(DropReason::BadSurvey);
    }
    Ok(())
}

/// Step 4e: who minted the token the page was opened with (memory, then the store).
async fn resolve_token(state: &AppState, hit: &mut Hit) {
    if let Some(t) = hit.arrival {
        let (parent, lookup) = state.tokens.resolve_counted(&state.events, t.bits()).await;
        if let Some(l) = lookup {
            state.metrics.token_lookup(l.as_str());
        }
        hit.parent = parent;
        // A short link's channel is read from the link itself (it may have been edited).
        if let Some(node) = hit.parent.as_mut().filter(|n| n.kind == NodeKind::Link) {
            node.share_channel = state.links.channel_of(node.link_id).unwrap_or_default();
        }
    }
}

/// The first `max` characters of `s`, borrowed.
pub fn clip(s: &str, max: usize) -> &str {
    s.char_indices().nth(max).map_or(s, |(i, _)| &s[..i])
}

/// Referrer stored as host + path, without query or fragment; empty when internal.
fn stored_referrer(site: &Site, referrer: Option<&str>) -> String {
    let Some(r) = referrer else {
        return String::new();
    };
    // Host and path only (or the app's package), never a control character; the site's
    // own pages are no referrer.
    match clean_referrer(r) {
        Some(CleanReferrer::Web { host, .. }) if host_allowed(site, &host) => String::new(),
        Some(c) => c.stored(500),
        None => String::new(),
    }
}

/// Steps 5–6: visitor id, session (classifying new visits), and the stored row.
/// Who sent a hit, and when: used for the visitor id, the country and the visit clock.
pub struct Sender<'a> {
    pub ip: IpAddr,
    pub user_agent: &'a str,
    pub country: String,
    pub at: DateTime<Utc>,
    /// Today's salt and yesterday's (for visits that span midnight UTC).
    pub salts: (Salt, Option<Salt>),
}

/// The sender's visitor id today, and yesterday's while yesterday's salt exists.
pub fn visitor_ids(site_id: u32, sender: &Sender<'_>) -> (u64, Option<u64>) {
    let ip_text = sender.ip.to_string();
    let (current, previous) = &sender.salts;
    (
        visitor_id(current, site_id, &ip_text, sender.user_agent),
        previous
            .as_ref()
            .map(|s| visitor_id(s, site_id, &ip_text, sender.user_agent)),
    )
}

/// The event's row: its visit found or opened (`Sessions::visit`; a new visit is
/// classified here), then the event's own fields, and the token it mints remembered as a
/// node of the share graph (under the visit the event finally belongs to).
pub async fn build_row(state: &AppState, site: &Site, hit: Hit, sender: Sender<'_>) -> EventRow {
    let (id_now, id_prev) = visitor_ids(site.id, &sender);
    let Sender {
        user_agent,
        country,
        at: now,
        ..
    } = sender;
    let make = || {
        let arrival = Arrival {
            site_host: &site.domain,
            allowed_hosts: &site.allowed_hostnames,
            path: &hit.url.path,
            referrer: hit.referrer.as_deref(),
            user_agent,
            utm: &hit.url.utm,
            click_id: hit.url.click_id,
            telegram_webview: hit.telegram_webview,
        };
        // Today's id and yesterday's (the same id twice when there is none).
        let ids = [id_now, id_prev.unwrap_or(id_now)];
        let link = link(
            hit.arrival,
            hit.arrival_present,
            hit.parent.as_ref(),
            site.id,
            &ids,
        );
        state.metrics.token(link.status);
        // A referrer on the site's own hosts is direct, never dark: `core::classify`.
        let c = attribute(&state.rules, &link, classify(&state.rules, &arrival));
        let dev = state.ua_facts(user_agent).device.clone();
        VisitFields {
            entry_page: hit.url.path.clone(),
            referrer: stored_referrer(site, hit.referrer.as_deref()),
            source: c.source,
            utm_source: hit.url.utm.source.clone().unwrap_or_default(),
            utm_medium: hit.url.utm.medium.clone().unwrap_or_default(),
            utm_campaign: hit.url.utm.campaign.clone().unwrap_or_default(),
            utm_term: hit.url.utm.term.clone().unwrap_or_default(),
            utm_content: hit.url.utm.content.clone().unwrap_or_default(),
            click_id: hit
                .url
                .click_id
                .map(|c| c.param().to_string())
                .unwrap_or_default(),
            channel: c.channel.as_str().to_string(),
            channel_group: c.group,
            evidence: c.evidence,
            device: dev.kind,
            browser: dev.browser,
            os: dev.os,
            country: country.clone(),
            screen_width: hit.screen_width,
            parent_token: link.parent_token,
            parent_session: link.parent_session,
            generation: link.generation,
            visit_share_channel: link.share_channel,
            token_status: link.status,
            link_id: link.link_id,
        }
    };
    let visit = state
        .sessions
        .visit(site.id, (id_now, id_prev), now, make)
        .await;
    let v = visit.fields;
    // Remember the token this event mints, as a node of the share graph.
    let mut token = hit.token;
    if token != 0 {
        let node = TokenNode {
            site_id: site.id,
            kind: NodeKind::of_event(&hit.name),
            session_id: visit.session_id,
            visitor_id: visit.visitor_id,
            generation: v.generation,
            share_channel: hit.share_channel.clone(),
            link_id: 0,
        };
        if !state.tokens.insert_new(token, &node) {
            state.metrics.token_refused();
            token = 0;
        }
    }
    EventRow {
        site_id: site.id,
        ts: now,
        name: hit.name,
        visitor_id: visit.visitor_id,
        session_id: visit.session_id,
        entry: visit.is_new,
        hostname: hit.url.host,
        pathname: hit.url.path,
        props: hit.props,
        revenue: hit.revenue,
        token,
        share_channel: hit.share_channel,
        server_side: false,
        scroll_depth: hit.scroll_depth,
        engagement_ms: hit.engagement_ms,
        visit: v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(json: &str) -> Payload {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn validate_accepts_short_and_long_keys() {
        let h = validate(payload(
            r#"{"n":"pageview","u":"https://example.com/a?x=1","d":"example.com","w":390}"#,
        ))
        .unwrap();
        assert_eq!(h.url.path, "/a");
        assert_eq!(h.screen_width, 390);
        let h = validate(payload(
            r#"{"name":"Signup","url":"https://example.com/","domain":"example.com","props":{"plan":"pro","n":3},"revenue":{"amount":"12.50","currency":"eur"}}"#,
        ))
        .unwrap();
        assert_eq!(h.props.len(), 2);
        assert_eq!(
            h.revenue,
            Some(Revenue {
                amount_minor: 1250,
                currency: "EUR".into()
            })
        );
    }

    #[test]
    fn validate_rejects() {
        let long = format!(
            r#"{{"n":"pageview","u":"https://example.com/{}","d":"example.com"}}"#,
            "a".repeat(2100)
        );
        assert_eq!(validate(payload(&long)).err(), Some(DropReason::UrlTooLong));
        assert_eq!(
            validate(payload(
                r#"{"n":"pageview","u":"javascript:alert(1)","d":"example.com"}"#
            ))
            .err(),
            Some(DropReason::NotHttpUrl)
        );
        assert_eq!(
            validate(payload(r#"{"n":"pageview","d":"example.com"}"#)).err(),
            Some(DropReason::MissingField)
        );
        let many: Vec<String> = (0..31).map(|i| format!(r#""k{i}":"v""#)).collect();
        let j = format!(
            r#"{{"n":"x","u":"https://example.com/","d":"example.com","p":{{{}}}}}"#,
            many.join(",")
        );
        assert_eq!(validate(payload(&j)).err(), Some(DropReason::TooManyProps));
        assert_eq!(
            validate(payload(r#"{"n":"x","u":"https://example.com/","d":"example.com","$":{"amount":"x","currency":"EUR"}}"#)).err(),
            Some(DropReason::BadRevenue)
        );
        assert_eq!(
            validate(payload(
                r#"{"n":"x","u":"https://example.com/","d":"example.com","p":{"nested":{"a":1}}}"#
            ))
            .err(),
            Some(DropReason::TooManyProps)
        );
    }

    #[test]
    fn hash_mode_keeps_route_but_not_token() {
        let h = validate(payload(r#"{"n":"pageview","u":"https://example.com/#/settings&lc=abc","d":"example.com","h":1}"#)).unwrap();
        assert_eq!(h.url.path, "/#/settings");
    }

    #[test]
    fn hash_mode_never_keeps_a_query_inside_the_fragment() {
        for (url, path) in [
            ("https://example.com/#/reset?email=a@b.example", "/#/reset"),
            (
                "https://example.com/app#/reset?email=a@b.example&lc=x",
                "/app#/reset",
            ),
            ("https://example.com/#/a&email=a@b.example", "/#/a"),
            (
                "https://example.com/#/reset%3Femail%3Da@b.example",
                "/#/reset",
            ),
            (
                "https://example.com/#/reset%26email%3Da@b.example",
                "/#/reset",
            ),
            ("https://example.com/#/a%00b\\u0001c", "/#/a%00b%01c"),
        ] {
            let json = format!(r#"{{"n":"pageview","u":"{url}","d":"example.com","h":1}}"#);
            let h = validate(payload(&json)).unwrap();
            assert_eq!(h.url.path, path, "{url}");
            assert!(!h.url.path.chars().any(char::is_control));
        }
    }

    #[test]
    fn control_bytes_and_negative_revenue_are_refused_or_cleaned() {
        let name = r#"{"n":"Sign\u0000up","u":"https://example.com/","d":"example.com"}"#;
        assert_eq!(validate(payload(name)).err(), Some(DropReason::BadName));
        let name = r#"{"n":"a\nb","u":"https://example.com/","d":"example.com"}"#;
        assert_eq!(validate(payload(name)).err(), Some(DropReason::BadName));
        let props = r#"{"n":"x","u":"https://example.com/","d":"example.com","p":{"k\u0000":"v\u001b[31m\u0000"}}"#;
        let h = validate(payload(props)).unwrap();
        assert_eq!(h.props, vec![("k".to_string(), "v[31m".to_string())]);
        for amount in ["-1", "\"-0.01\"", "1e309", "\"NaN\"", "\"inf\""] {
            let j = format!(
                r#"{{"n":"x","u":"https://example.com/","d":"example.com","$":{{"amount":{amount},"currency":"EUR"}}}}"#
            );
            let r = serde_json::from_str::<Payload>(&j).map(validate);
            assert!(
                !matches!(r, Ok(Ok(_))),
                "{amount} must be refused (as JSON or as revenue)"
            );
        }
    }

    #[test]
    fn every_entry_point_takes_its_steps_in_the_declared_order() {
        for list in [LIVE, OFFLINE, IMPORT_PAGEVIEW] {
            assert!(list.windows(2).all(|w| w[0] < w[1]), "{list:?}");
        }
        assert!(
            !OFFLINE.contains(&Step::ResolveToken),
            "no store read offline"
        );
        assert!(!IMPORT_PAGEVIEW.contains(&Step::ResolveToken));
    }

    #[test]
    fn check_share_needs_a_token_and_a_known_button() {
        let url = clean_page_url("https://example.com/", false).expect("url");
        let share = |channel: &str, token: u64| Hit {
            props: vec![("channel".to_string(), channel.to_string())],
            token,
            ..Hit::new("share".into(), url.clone(), "example.com".into())
        };
        let mut ok = share("linkedin", 7);
        assert_eq!(check_share(&mut ok), Ok(()));
        assert_eq!(ok.share_channel, "linkedin");
        assert_eq!(
            check_share(&mut share("myspace", 7)),
            Err(DropReason::BadShare)
        );
        assert_eq!(
            check_share(&mut share("whatsapp", 0)),
            Err(DropReason::BadShare)
        );
        let mut copy = Hit {
            token: 9,
            ..Hit::new("copy".into(), url.clone(), "example.com".into())
        };
        assert_eq!(check_share(&mut copy), Ok(()));
        assert_eq!(copy.share_channel, VIA_COPIED_TEXT);
        let mut view = Hit::new("pageview".into(), url, "example.com".into());
        assert_eq!(check_share(&mut view), Ok(()));
    }

    #[test]
    fn the_bad_share_message_names_every_button() {
        let message = DropReason::BadShare.message();
        for b in lucarne_core::rules::ShareButtons::builtin().all() {
            assert!(message.contains(&b.id), "{}", b.id);
        }
    }

    #[test]
    fn minor_units() {
        assert_eq!(lucarne_core::conversions::minor_digits("JPY"), 0);
        assert_eq!(lucarne_core::conversions::minor_digits("EUR"), 2);
    }

    #[test]
    fn clip_keeps_whole_characters() {
        assert_eq!(clip("abcdef", 3), "abc");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abc", 10), "abc");
        assert_eq!(clip("", 2), "");
        assert_eq!(clip("éàü€x", 3), "éàü");
        assert_eq!(clip(&"a".repeat(1200), 1000).len(), 1000);
    }

    #[test]
    fn hosts() {
        let site = Site {
            id: 1,
            domain: "example.com".into(),
            timezone: "UTC".into(),
            allowed_hostnames: vec!["*.example.net".into(), "shop.example.org".into()],
        };
        assert!(host_allowed(&site, "example.com"));
        assert!(host_allowed(&site, "blog.example.com"));
        assert!(!host_allowed(&site, "badexample.com"));
        assert!(host_allowed(&site, "a.example.net"));
        assert!(host_allowed(&site, "shop.example.org"));
        assert!(!host_allowed(&site, "example.org"));
        assert_eq!(
            stored_referrer(&site, Some("https://blog.example.com/x")),
            ""
        );
        assert_eq!(
            stored_referrer(&site, Some("https://www.google.com/search?q=secret")),
            "google.com/search"
        );
        assert_eq!(
            stored_referrer(&site, Some("android-app://org.telegram.messenger/")),
            "android-app://org.telegram.messenger"
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// JSON-ish values of every shape a sender could put in a field.
        fn value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::from),
                any::<i64>().prop_map(serde_json::Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(serde_json::Value::from),
                ".{0,40}".prop_map(serde_json::Value::from),
                "(https?|ftp|javascript)://[a-z.]{0,12}(/[^ ]{0,30})?(#[^ ]{0,20})?"
                    .prop_map(serde_json::Value::from),
            ];
            leaf.prop_recursive(3, 24, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                    prop::collection::btree_map(".{0,12}", inner, 0..8)
                        .prop_map(|m| { serde_json::Value::Object(m.into_iter().collect()) }),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any payload either validates into a hit with nothing a store must not
            /// hold, or is refused with a reason: never a panic.
            #[test]
            fn any_payload_validates_or_is_refused(
                fields in prop::collection::btree_map(
                    prop_oneof![
                        Just("n".to_string()), Just("u".to_string()), Just("d".to_string()),
                        Just("r".to_string()), Just("w".to_string()), Just("p".to_string()),
                        Just("$".to_string()), Just("h".to_string()), Just("t".to_string()),
                        Just("tg".to_string()), Just("name".to_string()), Just("url".to_string()),
                        Just("props".to_string()), Just("revenue".to_string()),
                    ],
                    value(),
                    0..10,
                ),
                host_page in "[a-z]{1,8}\\.example/[^ #?]{0,40}(\\?[^ #]{0,30})?(#[^ ]{0,30})?",
                hash in any::<bool>(),
            ) {
                let mut obj: serde_json::Map<String, serde_json::Value> = fields.into_iter().collect();
                // Half the time, the required fields are well formed so later checks run.
                if hash {
                    obj.insert("n".into(), "pageview".into());
                    obj.insert("u".into(), format!("https://{host_page}").into());
                    obj.insert("d".into(), "example".into());
                    obj.insert("h".into(), 1.into());
                }
                let raw = serde_json::Value::Object(obj).to_string();
                if let Ok(p) = serde_json::from_str::<Payload>(&raw) {
                    if let Ok(hit) = validate(p) {
                        prop_assert!(!hit.name.chars().any(char::is_control));
                        prop_assert!(!hit.url.path.chars().any(char::is_control));
                        prop_assert!(!hit.url.path.contains('?'), "{}", hit.url.path);
                        for (k, v) in &hit.props {
                            prop_assert!(!k.chars().any(char::is_control));
                            prop_assert!(!v.chars().any(char::is_control));
                        }
                        if let Some(r) = &hit.revenue {
                            prop_assert!(r.amount_minor >= 0);
                        }
                    }
                }
            }

            /// Raw bytes, valid JSON or not.
            #[test]
            fn any_bytes_are_refused_or_validate(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                if let Ok(p) = serde_json::from_slice::<Payload>(&bytes) {
                    let _ = validate(p);
                }
            }
        }
    }
}
