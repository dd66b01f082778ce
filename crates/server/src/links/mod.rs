//! Tracked short links: the in-memory cache the redirect reads, the redirect itself
//! (`GET|HEAD /l/{slug}`, and `/{slug}` on a custom short domain), and the batcher that
//! sends click, scan and preview events into the durable ingest path without making the
//! redirect wait.
//!
//! The hot path reads no database: links live in an immutable snapshot swapped on every
//! edit (and every 30 seconds, for edits made by the CLI or other nodes). Clicks are
//! counted in memory for the click limit and written back to the metadata store every
//! few seconds.

pub mod input;
pub mod qr;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use lucarne_core::classify::{classify, Arrival, Classification};
use lucarne_core::event::{EventRow, Visit};
use lucarne_core::links::{
    classify_request, redirect_location, LinkRequest, LinkUtm, CLICK_EVENT, PREVIEW_EVENT,
    QR_MARKER, SCAN_EVENT,
};
use lucarne_core::token::{NodeKind, Token, TokenNode};
use lucarne_core::url_clean::{normalise_host, Utm};
use lucarne_core::visitor::visitor_id;
use lucarne_core::{Channel, Evidence};
use lucarne_store::meta::{Link, ShareParamStyle};
use tokio::sync::mpsc;
use url::Url;

use crate::state::AppState;

/// Link events waiting for the batcher at most; past it they are dropped (and counted):
/// a redirect never waits for storage.
const EVENT_QUEUE: usize = 100_000;
/// Rows per submission to the store at most.
const BATCH_ROWS: usize = 2_000;
/// Reloads caused by unknown slugs are at least this far apart.
const MISS_RELOAD: Duration = Duration::from_millis(250);

/// A link as the redirect needs it.
pub struct Entry {
    pub link: Link,
    pub target: Url,
    pub utm: LinkUtm,
    /// The site's token style: `?lc=` rather than `#lc=`.
    pub token_in_query: bool,
    pub site_domain: String,
    /// Clicks (and scans) counted since the last write-back.
    pending: AtomicU64,
    /// Clicks of a limited link counted straight in the metadata store since this
    /// snapshot was loaded.
    persisted: AtomicU64,
}

impl Entry {
    pub fn uses(&self) -> u64 {
        self.link.clicks
            + self.pending.load(Ordering::Relaxed)
            + self.persisted.load(Ordering::Relaxed)
    }
}

#[derive(Default)]
struct Snapshot {
    /// Domain (`""`: Lucarne's own host) → slug → link: looked up without allocating.
    by_key: HashMap<String, HashMap<String, Arc<Entry>>>,
    by_id: HashMap<i64, Arc<Entry>>,
}

#[derive(Default)]
pub struct LinkCache {
    snapshot: RwLock<Arc<Snapshot>>,
    /// When the latest reload (or check that none was needed) started.
    last_reload: Mutex<Option<Instant>>,
    /// The links version (`state_version("links")`) the snapshot was loaded at.
    loaded_version: Mutex<Option<i64>>,
    /// Misses wait here: one reload serves every miss that came before it started.
    miss_gate: tokio::sync::Mutex<()>,
}

impl LinkCache {
    fn current(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The link at `slug` on `domain` (`""`: Lucarne's own host).
    pub fn get(&self, domain: &str, slug: &str) -> Option<Arc<Entry>> {
        self.current().by_key.get(domain)?.get(slug).cloned()
    }

    pub fn by_id(&self, id: i64) -> Option<Arc<Entry>> {
        self.current().by_id.get(&id).cloned()
    }

    /// The channel a link was made for (empty: none), for attributing its landings.
    pub fn channel_of(&self, id: u64) -> Option<String> {
        let id = i64::try_from(id).ok()?;
        self.by_id(id).map(|e| e.link.channel.clone())
    }

    /// Is `host` a custom short domain of some link?
    pub fn is_short_domain(&self, host: &str) -> bool {
        !host.is_empty() && self.current().by_key.contains_key(host)
    }

    /// Rebuild from the metadata store, keeping clicks counted but not yet written.
    pub async fn reload(&self, state: &AppState) -> Result<(), lucarne_store::meta::MetaError> {
        if let Ok(mut t) = self.last_reload.lock() {
            *t = Some(Instant::now());
        }
        // Read before the links: an edit made while they load moves the version again,
        // so the next check reloads rather than trusting a snapshot that missed it.
        let version = state.meta.state_version("links").await.ok();
        state.metrics.link_reloads.inc();
        let links = state.meta.all_links().await?;
        let old = self.current();
        let mut sites: HashMap<u32, (String, bool)> = HashMap::new();
        for s in state.meta.sites().await? {
            let opts = state.meta.site_options(s.id).await?;
            sites.insert(
                s.id,
                (s.domain, opts.share_param_style == ShareParamStyle::Query),
            );
        }
        let mut snap = Snapshot::default();
        for link in links {
            let Ok(target) = Url::parse(&link.target) else {
                tracing::warn!(
                    message = "Stored link has an invalid target.",
                    link_id = link.id
                );
                continue;
            };
            let (site_domain, token_in_query) =
                sites.get(&link.site_id).cloned().unwrap_or_default();
            let pending = old
                .by_id
                .get(&link.id)
                .map_or(0, |e| e.pending.load(Ordering::Relaxed));
            let utm = LinkUtm {
                source: link.utm_source.clone(),
                medium: link.utm_medium.clone(),
                campaign: link.utm_campaign.clone(),
                term: link.utm_term.clone(),
                content: link.utm_content.clone(),
            };
            let e = Arc::new(Entry {
                target,
                utm,
                token_in_query,
                site_domain,
                pending: AtomicU64::new(pending),
                persisted: AtomicU64::new(0),
                link,
            });
            snap.by_key
                .entry(e.link.domain.clone())
                .or_default()
                .insert(e.link.slug.clone(), e.clone());
            snap.by_id.insert(e.link.id, e);
        }
        if let Ok(mut s) = self.snapshot.write() {
            *s = Arc::new(snap);
        }
        if let Ok(mut v) = self.loaded_version.lock() {
            *v = version;
        }
        Ok(())
    }

    fn last_reload(&self) -> Option<Instant> {
        self.last_reload.lock().ok().and_then(|t| *t)
    }

    /// An unknown slug may be a link just made elsewhere (the CLI, another node): make
    /// sure the snapshot is checked after the miss. Misses queue behind one another and
    /// share checks, which are at least `MISS_RELOAD` apart; a check reads one version
    /// number and reloads the links only when it moved (every link edit moves it). A
    /// flood of wrong slugs thus costs at most four one-row reads a second, never a
    /// reload of every link.
    async fn reload_for_miss(&self, state: &AppState) {
        let asked = Instant::now();
        let _gate = self.miss_gate.lock().await;
        let last = self.last_reload();
        if last.is_some_and(|t| t >= asked) {
            return;
        }
        if let Some(since) = last.map(|t| t.elapsed()) {
            if since < MISS_RELOAD {
                tokio::time::sleep(MISS_RELOAD - since).await;
            }
        }
        let loaded = self.loaded_version.lock().ok().and_then(|v| *v);
        let checked = Instant::now();
        if let (Ok(now), Some(loaded)) = (state.meta.state_version("links").await, loaded) {
            if now == loaded {
                if let Ok(mut t) = self.last_reload.lock() {
                    *t = Some(checked);
                }
                return;
            }
        }
        if let Err(e) = self.reload(state).await {
            tracing::warn!(message = "Could not reload links.", error = %e);
        }
    }

    /// Write counted clicks back to the metadata store.
    pub async fn flush_clicks(&self, state: &AppState) {
        let snap = self.current();
        let counts: Vec<(i64, u64)> = snap
            .by_id
            .values()
            .filter_map(|e| {
                let n = e.pending.swap(0, Ordering::Relaxed);
                (n > 0).then_some((e.link.id, n))
            })
            .collect();
        if counts.is_empty() {
            return;
        }
        if let Err(e) = state.meta.add_link_clicks(&counts).await {
            tracing::warn!(message = "Could not save link click counts; retrying later.", error = %e);
            for (id, n) in counts {
                if let Some(e) = snap.by_id.get(&id) {
                    e.pending.fetch_add(n, Ordering::Relaxed);
                }
            }
            return;
        }
        // The snapshot's persisted counts are now behind: reload them.
        if let Err(e) = self.reload(state).await {
            tracing::warn!(message = "Could not reload links.", error = %e);
        }
    }
}

/// Sends link events to the store in batches, off the redirect's path.
pub struct LinkEvents {
    tx: mpsc::Sender<EventRow>,
    /// Events sent and not yet stored or dropped (queued, or in the batch being submitted).
    pending: AtomicU64,
}

impl LinkEvents {
    /// The sending side, and the receiving side for [`run_batcher`].
    pub fn new() -> (LinkEvents, mpsc::Receiver<EventRow>) {
        let (tx, rx) = mpsc::channel(EVENT_QUEUE);
        (
            LinkEvents {
                tx,
                pending: AtomicU64::new(0),
            },
            rx,
        )
    }

    fn send(&self, row: EventRow) -> bool {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let sent = self.tx.try_send(row).is_ok();
        if !sent {
            self.pending.fetch_sub(1, Ordering::SeqCst);
        }
        sent
    }

    fn done(&self, n: u64) {
        self.pending.fetch_sub(n, Ordering::SeqCst);
    }

    /// Wait (at most `timeout`) until every event sent so far is stored or counted as
    /// dropped: at shutdown, after the last redirect was answered and before the store
    /// stops, so a click made just before SIGTERM is not lost. `false` on timeout.
    pub async fn drain(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.pending.load(Ordering::SeqCst) > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(BATCH_TICK).await;
        }
        true
    }
}

/// How long link events wait for company before they are submitted: the batcher wakes
/// on this tick rather than on every click (a wake-up per click costs more than the click).
const BATCH_TICK: Duration = Duration::from_millis(10);

/// The batcher: every tick, take what has queued up and submit it as one spool record.
/// It holds the state weakly, so it ends when the server does.
pub async fn run_batcher(state: std::sync::Weak<AppState>, mut rx: mpsc::Receiver<EventRow>) {
    let mut tick = tokio::time::interval(BATCH_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    loop {
        tick.tick().await;
        loop {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    if batch.is_empty() {
                        return;
                    }
                    break;
                }
            }
            if batch.len() >= BATCH_ROWS {
                break;
            }
        }
        if batch.is_empty() {
            continue;
        }
        let Some(state) = state.upgrade() else {
            return;
        };
        let rows = std::mem::take(&mut batch);
        let n = rows.len() as u64;
        let tokens: Vec<u64> = rows.iter().map(|r| r.token).filter(|t| *t != 0).collect();
        // Waiting for the commit here delays the next batch, not any redirect.
        if crate::ingest::enqueue(&state, rows).await.is_err() {
            state.metrics.link_events_dropped.inc_by(n);
            for t in tokens {
                state.tokens.remove(t);
            }
        }
        state.link_events.done(n);
    }
}

/// Does a query string carry the QR marker (`qr` or `qr=…`)?
fn has_qr_marker(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .any(|kv| kv.split('=').next() == Some(QR_MARKER))
    })
}

/// The TCP peer (tests without a socket: unspecified).
fn peer_of(req: &axum::extract::Request) -> SocketAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0)
}

/// `GET|HEAD /l/{slug}`. Reads the request by reference: the hot path copies no headers.
pub async fn redirect(
    State(state): State<Arc<AppState>>,
    Path(slug): Path<String>,
    req: axum::extract::Request,
) -> Response {
    let qr = has_qr_marker(req.uri().query());
    follow(
        &state,
        peer_of(&req),
        req.method(),
        req.headers(),
        "",
        &slug,
        qr,
    )
    .await
}

/// Any other path: `/{slug}` on a custom short domain; other hosts get a plain 404.
pub async fn short_domain(
    State(state): State<Arc<AppState>>,
    req: axum::extract::Request,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(|h| normalise_host(h.split(':').next().unwrap_or(h)))
        .unwrap_or_default();
    let slug = req.uri().path().trim_start_matches('/');
    // Lucarne's own public host is never a short domain (links there were refused; one
    // made before would otherwise answer the dashboard origin's unrouted paths).
    let own = state.public_host().as_deref() == Some(host.as_str());
    if own || slug.is_empty() || slug.contains('/') || !state.links.is_short_domain(&host) {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let qr = has_qr_marker(req.uri().query());
    follow(
        &state,
        peer_of(&req),
        req.method(),
        req.headers(),
        &host,
        slug,
        qr,
    )
    .await
}

/// Why a short link cannot be followed. The page that says so, in the reader's language,
/// is rendered by `web::layout` (its `IntoResponse` for [`UnavailablePage`]): links knows
/// no page layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    Missing,
    Disabled,
    Expired,
    /// The click limit is reached.
    UsedUp,
}

impl Unavailable {
    pub fn status(self) -> StatusCode {
        match self {
            Unavailable::Missing => StatusCode::NOT_FOUND,
            _ => StatusCode::GONE,
        }
    }
}

/// A link that cannot be followed, with the reader's `Accept-Language`.
#[derive(Debug, Clone)]
pub struct UnavailablePage {
    pub why: Unavailable,
    pub accept_language: Option<String>,
}

/// A clear page for a link that cannot be followed (not an error page: the reader did
/// nothing wrong).
fn unavailable(why: Unavailable, headers: &HeaderMap) -> Response {
    let accept_language = headers
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    UnavailablePage {
        why,
        accept_language,
    }
    .into_response()
}

async fn follow(
    state: &Arc<AppState>,
    peer: SocketAddr,
    method: &Method,
    headers: &HeaderMap,
    domain: &str,
    slug: &str,
    qr: bool,
) -> Response {
    let mut found = state.links.get(domain, slug);
    if found.is_none() {
        state.links.reload_for_miss(state).await;
        found = state.links.get(domain, slug);
    }
    let Some(entry) = found else {
        state.metrics.link_request("missing");
        return unavailable(Unavailable::Missing, headers);
    };
    let now = Utc::now();
    let l = &entry.link;
    if l.disabled {
        state.metrics.link_request("disabled");
        return unavailable(Unavailable::Disabled, headers);
    }
    if l.expires_at.is_some_and(|t| t <= now) {
        state.metrics.link_request("expired");
        return unavailable(Unavailable::Expired, headers);
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let facts = state.ua_facts(user_agent);
    let kind = classify_request(method == Method::HEAD, &facts.request, qr);
    let counted = matches!(kind, LinkRequest::Click | LinkRequest::Scan);
    if counted && l.max_clicks.is_some_and(|max| entry.uses() >= max) {
        state.metrics.link_request("limit");
        return unavailable(Unavailable::UsedUp, headers);
    }
    // A limited link's clicks are counted in the metadata store at once, atomically, so
    // the limit holds across nodes; unlimited links count in memory (written back later).
    let mut persisted = false;
    if counted && l.max_clicks.is_some() {
        match state.meta.take_link_click(l.id).await {
            Ok(true) => persisted = true,
            Ok(false) => {
                state.metrics.link_request("limit");
                return unavailable(Unavailable::UsedUp, headers);
            }
            Err(e) => tracing::warn!(
                message = "Could not count a limited link's click; counting it here.",
                error = %e
            ),
        }
    }
    let mut token = 0u64;
    let recorded = counted || matches!(kind, LinkRequest::Preview(_));
    let ip = state.client_ip(peer.ip(), headers);
    // Past its site's or its client's fair share, a request is still redirected (the
    // person gets where they were going) but not recorded: no event, no token.
    let limited = recorded && state.rate_limits.event(l.site_id, ip).is_err();
    state.metrics.link_request(if limited {
        "rate_limited"
    } else {
        kind.as_str()
    });
    if recorded && !limited {
        let row = link_event(state, &entry, &kind, ip, user_agent, headers, now);
        if counted {
            if persisted {
                entry.persisted.fetch_add(1, Ordering::Relaxed);
            } else {
                entry.pending.fetch_add(1, Ordering::Relaxed);
            }
            token = row.token;
            state.tokens.insert_new(
                token,
                &TokenNode {
                    site_id: l.site_id,
                    kind: NodeKind::Link,
                    session_id: row.session_id,
                    visitor_id: row.visitor_id,
                    generation: 0,
                    share_channel: l.channel.clone(),
                    link_id: row.visit.link_id,
                },
            );
        }
        if !state.link_events.send(row) {
            state.metrics.link_events_dropped.inc();
            if token != 0 {
                state.tokens.remove(token);
            }
        }
    }
    // Previews, bots and HEAD requests follow the link too (a preview needs the page),
    // without a token: only people's clicks start a cascade.
    let location = match Token::from_bits(token) {
        Some(t) => redirect_location(&entry.target, &entry.utm, t, entry.token_in_query),
        None => entry.target.to_string(),
    };
    let status = match l.redirect {
        301 => StatusCode::MOVED_PERMANENTLY,
        307 => StatusCode::TEMPORARY_REDIRECT,
        _ => StatusCode::FOUND,
    };
    let Ok(loc) = HeaderValue::from_str(&location) else {
        return unavailable(Unavailable::Missing, headers);
    };
    let mut r = status.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, loc);
    // Every click must reach the server to be counted (and get its own token).
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    r
}

/// The stored event of a click, scan or preview. It is not a visit (`entry` is false):
/// the landing visit, if the target is a tracked page, is counted by the tracker.
fn link_event(
    state: &AppState,
    entry: &Entry,
    kind: &LinkRequest,
    ip: IpAddr,
    user_agent: &str,
    headers: &HeaderMap,
    now: DateTime<Utc>,
) -> EventRow {
    let l = &entry.link;
    let (salt, _) = state.salts_now();
    let visitor = visitor_id(&salt, l.site_id, &ip.to_string(), user_agent);
    let referrer = headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let path = format!("/l/{}", l.slug);
    let empty_utm = Utm::default();
    let arrival = Arrival {
        site_host: &entry.site_domain,
        allowed_hosts: &[],
        path: &path,
        referrer: referrer.as_deref(),
        user_agent,
        utm: &empty_utm,
        click_id: None,
        telegram_webview: false,
    };
    // A link made for a channel is that channel; otherwise the click's own signals say.
    let mut c = match state.rules.channel_info(&l.channel) {
        Some(info) => Classification {
            channel: Channel::new(l.channel.as_str()),
            group: info.group,
            evidence: Evidence::ShortLink,
            source: info.name.clone(),
        },
        None => classify(&state.rules, &arrival),
    };
    c.evidence = Evidence::ShortLink;
    let facts = state.ua_facts(user_agent);
    let (name, props) = match kind {
        LinkRequest::Scan => (SCAN_EVENT, Vec::new()),
        LinkRequest::Preview(app) => (PREVIEW_EVENT, vec![("app".to_string(), app.clone())]),
        _ => (CLICK_EVENT, Vec::new()),
    };
    let counted = matches!(kind, LinkRequest::Click | LinkRequest::Scan);
    let host = if l.domain.is_empty() {
        "l".to_string()
    } else {
        l.domain.clone()
    };
    EventRow {
        site_id: l.site_id,
        ts: now,
        name: name.to_string(),
        visitor_id: visitor,
        session_id: rand::random::<u64>() | 1,
        hostname: host,
        pathname: path.clone(),
        props,
        token: if counted {
            rand::random::<u64>() | 1
        } else {
            0
        },
        visit: Visit {
            entry_page: path,
            referrer: referrer
                .as_deref()
                .and_then(|r| Url::parse(r).ok())
                .and_then(|u| u.host_str().map(normalise_host))
                .unwrap_or_default(),
            source: c.source,
            utm_campaign: l.utm_campaign.clone(),
            channel: c.channel.as_str().to_string(),
            channel_group: c.group,
            evidence: c.evidence,
            device: facts.device.kind.clone(),
            browser: facts.device.browser.clone(),
            os: facts.device.os.clone(),
            country: state.country(ip, headers),
            link_id: u64::try_from(l.id).unwrap_or_default(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// How often every node checks the shared versions (links, sites).
pub const VERSION_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// Follow the shared version counters in the metadata store, so what one node (or the
/// CLI) changes reaches every node within about half a second:
/// - `links` moves on every link create, edit or delete: the redirect snapshot is
///   reloaded;
/// - `sites` moves when a site is added or its settings change: the cached sites and
///   site settings are forgotten (otherwise kept for up to 30 s).
pub fn spawn_version_watch(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut links_seen = state.meta.state_version("links").await.ok();
        let mut sites_seen = state.meta.state_version("sites").await.ok();
        let mut tick = tokio::time::interval(VERSION_POLL);
        loop {
            tick.tick().await;
            match state.meta.state_version("links").await {
                Ok(v) if Some(v) != links_seen => match state.links.reload(&state).await {
                    Ok(()) => links_seen = Some(v),
                    Err(e) => tracing::warn!(message = "Could not reload links.", error = %e),
                },
                Ok(_) => {}
                Err(e) => tracing::warn!(message = "Could not read the links version.", error = %e),
            }
            match state.meta.state_version("sites").await {
                Ok(v) if Some(v) != sites_seen => {
                    state.invalidate_sites();
                    match state.reload_public_url().await {
                        Ok(()) => sites_seen = Some(v),
                        Err(e) => {
                            tracing::warn!(message = "Could not read the public URL.", error = %e)
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(message = "Could not read the sites version.", error = %e),
            }
        }
    })
}
