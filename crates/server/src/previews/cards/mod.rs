//! Preview cards (issue 23): how a site's top pages look when pasted into WhatsApp,
//! Telegram, iMessage, Slack and Facebook, and what is wrong with them.
//!
//! For each page, each app's crawler ([`apps::PROFILES`]: its user agent, HTML and image
//! size limits, redirects, time) fetches it through [`fetch::Guard`]: only the site's
//! domain, its subdomains and its allowed hostnames (`ingest::pipeline::host_allowed`),
//! checked on every redirect; every address checked against the private ranges after
//! DNS unless the administrator allows private link targets; no cookies. The tags are
//! read ([`parse`]), the image fetched once per page (as the first app's crawler, up to
//! the largest limit) and its size and pixels checked against each app's limits.
//!
//! `GET /api/v1/stats/cards?site_id=…[&period=30d][&limit=10]`: the `limit` pages with
//! the most private arrivals (entry pages of visits in the private-message and e-mail
//! groups or estimated dark, over the period), each with every app's card and problems;
//! pages with an error first, then by private arrivals. Results are cached for
//! [`TTL`] per site and page ([`Cards`], bounded), and at most [`PARALLEL`] requests
//! run at once, so the view does not hammer the site.

pub mod apps;
pub mod fetch;
pub mod parse;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use lucarne_core::stats::{Property, ReportQuery};
use lucarne_core::url_clean::normalise_host;
use lucarne_store::meta::Site;
use lucarne_store::EventStore;
use serde_json::{json, Map, Value};
use tokio::sync::Semaphore;
use tracing::{debug, info};
use url::Url;

use self::apps::{cut, max_image_read, Problem, Profile, Severity, PROFILES};
use self::fetch::{FetchError, Guard};
use self::parse::{image_size, read_tags, Tags};
use crate::api::stats::{authorized, blocking, StatsParams};
use crate::error::{ApiError, Query};
use crate::ingest::pipeline::host_allowed;
use crate::state::AppState;

/// How long a page's cards are reused.
pub const TTL: Duration = Duration::from_secs(300);
/// Pages remembered at most (each a few kilobytes).
pub const MAX_CACHED: usize = 2_000;
/// Requests to sites in flight at once, across all views.
pub const PARALLEL: usize = 4;
/// How long a view waits for its pages' checks; the rest go on in the background.
pub const WAIT: Duration = Duration::from_secs(20);
/// Pages per view, by default and at most.
pub const DEFAULT_PAGES: usize = 10;
pub const MAX_PAGES: usize = 25;

/// An image as fetched once for a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub url: String,
    /// Its size in bytes: `Content-Length`, else the bytes read (at least, when cut).
    pub bytes: u64,
    pub content_type: String,
    /// Format and pixels, when the start of the image tells.
    pub format: Option<&'static str>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// What one app shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Card {
    /// As the app shows it (cut with `…`).
    pub title: Option<String>,
    pub description: Option<String>,
    /// The image's absolute address (resolved against the page when written relative).
    pub image: Option<String>,
    /// The host the app writes under the card (`www.` dropped).
    pub domain: String,
    pub site_name: Option<String>,
    /// `twitter:card` is `summary_large_image`.
    pub large: bool,
}

/// One app's view of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppCard {
    pub app: &'static str,
    pub name: &'static str,
    /// The address the crawler ended on, and the redirects it followed to get there.
    pub final_url: String,
    pub redirects: Vec<String>,
    /// `None` when nothing answered.
    pub status: Option<u16>,
    /// `None` when the page could not be read.
    pub card: Option<Card>,
    pub image: Option<ImageInfo>,
    pub problems: Vec<Problem>,
}

impl AppCard {
    pub fn worst(&self) -> Option<Severity> {
        self.problems.iter().map(Problem::severity).max()
    }
}

/// One page and its cards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageCards {
    pub path: String,
    pub url: String,
    pub private_arrivals: u64,
    pub visits: u64,
    pub apps: Vec<AppCard>,
    pub checked_at: chrono::DateTime<chrono::Utc>,
}

impl PageCards {
    pub fn worst(&self) -> Option<Severity> {
        self.apps.iter().filter_map(AppCard::worst).max()
    }

    pub fn broken(&self) -> bool {
        self.worst() == Some(Severity::Error)
    }
}

/// Checked pages by (site, path), with when they were checked.
type PageCache = HashMap<(u32, String), (Instant, Arc<PageCards>)>;

/// The fetch cache and the limit on requests in flight, one per router.
pub struct Cards {
    cache: Mutex<PageCache>,
    /// Pages being checked now (site, path).
    in_flight: Mutex<HashSet<(u32, String)>>,
    slots: Arc<Semaphore>,
}

impl Default for Cards {
    fn default() -> Self {
        Cards {
            cache: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashSet::new()),
            slots: Arc::new(Semaphore::new(PARALLEL)),
        }
    }
}

impl Cards {
    pub fn new() -> Arc<Self> {
        Arc::new(Cards::default())
    }

    /// A page's cards checked less than [`TTL`] ago.
    pub fn cached(&self, site: u32, path: &str) -> Option<Arc<PageCards>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(&(site, path.to_string()))
            .filter(|(at, _)| at.elapsed() < TTL)
            .map(|(_, c)| c.clone())
    }

    fn remember(&self, site: u32, page: Arc<PageCards>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, (at, _)| at.elapsed() < TTL);
        while cache.len() >= MAX_CACHED {
            let oldest = cache
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => cache.remove(&k),
                None => break,
            };
        }
        cache.insert((site, page.path.clone()), (Instant::now(), page));
    }

    /// The cards of `pages` (path, private arrivals, visits), from the cache or fetched
    /// now, in the report's order (pages with an error first, then by private
    /// arrivals), and the pages whose check did not end within [`WAIT`]: those go on in
    /// the background and land in the cache. A page already being checked (by another
    /// view) is not fetched twice: it is pending.
    pub async fn check(
        self: &Arc<Self>,
        state: &AppState,
        site: &Site,
        pages: Vec<(String, u64, u64)>,
    ) -> Checked {
        let guard = Guard {
            allow_private: state.allow_private_targets,
            options: state.card_fetch.clone(),
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let mut out = Checked::default();
        let mut waiting = HashMap::new();
        for (path, private_arrivals, visits) in pages {
            if let Some(c) = self.cached(site.id, &path) {
                out.pages.push(c);
                continue;
            }
            waiting.insert(path.clone(), (private_arrivals, visits));
            if !self.start(site.id, &path) {
                continue;
            }
            let me = self.clone();
            let guard = guard.clone();
            let site = site.clone();
            let tx = tx.clone();
            let (checks, problems) = (
                state.metrics.card_checks.clone(),
                state.metrics.card_problems.clone(),
            );
            tokio::spawn(async move {
                let page =
                    check_page(&guard, &me.slots, &site, &path, private_arrivals, visits).await;
                let result = match page.worst() {
                    None => "ok",
                    Some(Severity::Error) => "broken",
                    Some(_) => "warning",
                };
                checks
                    .get_or_create(&crate::metrics::ResultLabels { result })
                    .inc();
                for p in page.apps.iter().flat_map(|a| &a.problems) {
                    problems
                        .get_or_create(&crate::metrics::KindLabels { kind: p.code() })
                        .inc();
                }
                let page = Arc::new(page);
                me.remember(site.id, page.clone());
                me.finish(site.id, &path);
                // The view may have stopped waiting: the page is in the cache anyway.
                let _ = tx.send(page);
            });
        }
        drop(tx);
        let deadline = tokio::time::Instant::now() + state.card_fetch.wait.unwrap_or(WAIT);
        while !waiting.is_empty() {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(page)) => {
                    waiting.remove(&page.path);
                    out.pages.push(page);
                }
                // Every task of this view is done; the rest are another view's.
                Ok(None) => {
                    let more = self.wait_for_others(site.id, &mut waiting, deadline).await;
                    out.pages.extend(more);
                    break;
                }
                Err(_) => break,
            }
        }
        sort_pages(&mut out.pages);
        let mut pending: Vec<(String, u64, u64)> =
            waiting.into_iter().map(|(p, (a, v))| (p, a, v)).collect();
        pending.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        out.pending = pending;
        out
    }

    /// Mark a page as being checked; `false` if it already is.
    fn start(&self, site: u32, path: &str) -> bool {
        let mut f = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        f.insert((site, path.to_string()))
    }

    /// Is this page being checked now?
    pub fn running(&self, site: u32, path: &str) -> bool {
        let f = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        f.contains(&(site, path.to_string()))
    }

    fn finish(&self, site: u32, path: &str) {
        let mut f = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        f.remove(&(site, path.to_string()));
    }

    /// Pages another view is checking: poll the cache until they land or `deadline`.
    async fn wait_for_others(
        &self,
        site: u32,
        waiting: &mut HashMap<String, (u64, u64)>,
        deadline: tokio::time::Instant,
    ) -> Vec<Arc<PageCards>> {
        let mut found = Vec::new();
        while !waiting.is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let done: Vec<String> = waiting
                .keys()
                .filter(|p| self.cached(site, p).is_some())
                .cloned()
                .collect();
            for p in done {
                waiting.remove(&p);
                found.extend(self.cached(site, &p));
            }
        }
        found
    }
}

/// What a view gets: the checked pages, and those still being checked.
#[derive(Debug, Default)]
pub struct Checked {
    pub pages: Vec<Arc<PageCards>>,
    /// (path, private arrivals, visits), most private arrivals first.
    pub pending: Vec<(String, u64, u64)>,
}

/// Pages with an error first, then by private arrivals, then by path.
pub fn sort_pages(pages: &mut [Arc<PageCards>]) {
    pages.sort_by(|a, b| {
        b.broken()
            .cmp(&a.broken())
            .then(b.private_arrivals.cmp(&a.private_arrivals))
            .then(a.path.cmp(&b.path))
    });
}

/// Characters kept of an address or a reason taken from a page or an answer: the cache
/// holds every checked page, so nothing the site writes may make an entry large.
pub const MAX_TEXT: usize = 500;

/// `s` cut at [`MAX_TEXT`] characters.
fn clip(s: &str) -> String {
    cut(s, MAX_TEXT)
}

/// The address a site's page is fetched at.
pub fn page_url(guard: &Guard, site: &Site, path: &str) -> Option<Url> {
    let path = if path.starts_with('/') { path } else { "/" };
    let base = match guard.options.plain_http_port {
        Some(port) => format!("http://{}:{port}", site.domain),
        None => format!("https://{}", site.domain),
    };
    Url::parse(&format!("{base}{path}")).ok()
}

/// Every app's card of one page.
pub async fn check_page(
    guard: &Guard,
    slots: &Semaphore,
    site: &Site,
    path: &str,
    private_arrivals: u64,
    visits: u64,
) -> PageCards {
    let started = Instant::now();
    let url = page_url(guard, site, path);
    let mut apps = Vec::new();
    // The page as each app fetches it (at once; the slots limit the requests), then the
    // images (one fetch per address).
    let as_app = |p: &'static Profile| {
        let url = url.clone();
        async move {
            match url {
                Some(u) => fetch_page(guard, slots, site, p, u).await,
                None => Fetched::failed(
                    String::new(),
                    Problem::Unreachable {
                        reason: "not a valid page address".into(),
                    },
                ),
            }
        }
    };
    let [p0, p1, p2, p3, p4] = &PROFILES;
    let (r0, r1, r2, r3, r4) =
        tokio::join!(as_app(p0), as_app(p1), as_app(p2), as_app(p3), as_app(p4));
    let fetched = [(p0, r0), (p1, r1), (p2, r2), (p3, r3), (p4, r4)];
    let mut images: HashMap<String, Result<ImageInfo, Problem>> = HashMap::new();
    for (p, f) in &fetched {
        let Some(tags) = &f.tags else { continue };
        let Some(img) = tags.card_image() else {
            continue;
        };
        let Some(abs) = absolute(&f.final_url, img) else {
            continue;
        };
        if !images.contains_key(abs.as_str()) {
            let r = fetch_image(guard, slots, site, p, &abs).await;
            images.insert(abs.to_string(), r);
        }
    }
    for (p, f) in fetched {
        apps.push(judge(p, f, &images));
    }
    let page = PageCards {
        path: path.to_string(),
        url: url.map(|u| u.to_string()).unwrap_or_default(),
        private_arrivals,
        visits,
        apps,
        checked_at: chrono::Utc::now(),
    };
    info!(
        message = "Preview cards checked.",
        site = site.id,
        path,
        problems = page.apps.iter().map(|a| a.problems.len()).sum::<usize>(),
        ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
    );
    page
}

/// A page as one crawler got it.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub final_url: String,
    pub redirects: Vec<String>,
    pub status: Option<u16>,
    pub tags: Option<Tags>,
    /// Problems of the fetch itself (the card's come later).
    pub problems: Vec<Problem>,
}

impl Fetched {
    fn failed(final_url: String, p: Problem) -> Self {
        Fetched {
            final_url,
            redirects: Vec::new(),
            status: None,
            tags: None,
            problems: vec![p],
        }
    }
}

fn fetch_problem(e: FetchError) -> Problem {
    match e {
        FetchError::NotHttp => Problem::Unreachable {
            reason: "not an http(s) address".into(),
        },
        FetchError::PrivateAddress { host, ip } => Problem::PrivateAddress {
            host,
            ip: ip.to_string(),
        },
        FetchError::Dns { host } => Problem::Unreachable {
            reason: format!("`{host}` does not resolve"),
        },
        FetchError::Unreachable { reason } => Problem::Unreachable { reason },
        FetchError::Timeout => Problem::Timeout,
    }
}

fn url_host(u: &Url) -> String {
    normalise_host(u.host_str().unwrap_or_default())
}

/// Fetch a page as `p`'s crawler: each hop on the site, redirects within `p`'s limits.
pub async fn fetch_page(
    guard: &Guard,
    slots: &Semaphore,
    site: &Site,
    p: &Profile,
    start: Url,
) -> Fetched {
    let mut url = start;
    let mut redirects = Vec::new();
    loop {
        let host = url_host(&url);
        if !host_allowed(site, &host) {
            let mut f = Fetched::failed(url.to_string(), Problem::HostNotAllowed { host });
            f.redirects = redirects;
            return f;
        }
        let answer = {
            let _slot = slots.acquire().await;
            guard
                .get(
                    &url,
                    p.user_agent,
                    "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
                    p.max_html,
                    p.timeout,
                )
                .await
        };
        let a = match answer {
            Ok(a) => a,
            Err(e) => {
                debug!(message = "Card fetch failed.", app = p.app, error = ?e);
                let mut f = Fetched::failed(url.to_string(), fetch_problem(e));
                f.redirects = redirects;
                return f;
            }
        };
        let mut out = Fetched {
            final_url: url.to_string(),
            redirects: redirects.clone(),
            status: Some(a.status.as_u16()),
            tags: None,
            problems: Vec::new(),
        };
        if a.status.is_redirection() {
            let next = a
                .header(axum::http::header::LOCATION)
                .and_then(|l| url.join(l).ok())
                .filter(|n| matches!(n.scheme(), "http" | "https"));
            let Some(next) = next else {
                let to = clip(a.header(axum::http::header::LOCATION).unwrap_or(""));
                out.problems.push(Problem::RedirectNotFollowed { to });
                return out;
            };
            if !p.follows_redirects {
                out.problems.push(Problem::RedirectNotFollowed {
                    to: clip(next.as_str()),
                });
                return out;
            }
            if redirects.len() >= usize::from(p.max_redirects) {
                out.problems.push(Problem::TooManyRedirects {
                    max: p.max_redirects,
                });
                return out;
            }
            redirects.push(clip(next.as_str()));
            url = next;
            continue;
        }
        if !a.status.is_success() {
            out.problems.push(Problem::Refused {
                status: a.status.as_u16(),
            });
            return out;
        }
        let ct = a.content_type();
        if !(ct.is_empty() || ct == "text/html" || ct == "application/xhtml+xml") {
            out.problems.push(Problem::NotHtml { content_type: ct });
            return out;
        }
        if a.truncated {
            out.problems
                .push(Problem::HtmlTruncated { max: p.max_html });
        }
        let tags = read_tags(&String::from_utf8_lossy(&a.body));
        if let Some(to) = &tags.refresh {
            if tags.card_title().is_none() || tags.og_image.is_none() {
                out.problems.push(Problem::RedirectNotFollowed {
                    to: clip(
                        &absolute(&out.final_url, to).map_or_else(|| to.clone(), |u| u.to_string()),
                    ),
                });
            }
        }
        out.tags = Some(tags);
        return out;
    }
}

/// `value` as an absolute http(s) address (relative ones resolved against `base`).
fn absolute(base: &str, value: &str) -> Option<Url> {
    let u = match Url::parse(value) {
        Ok(u) => u,
        Err(url::ParseError::RelativeUrlWithoutBase) => Url::parse(base).ok()?.join(value).ok()?,
        Err(_) => return None,
    };
    matches!(u.scheme(), "http" | "https").then_some(u)
}

/// Fetch an image once: its size, type and pixels.
async fn fetch_image(
    guard: &Guard,
    slots: &Semaphore,
    site: &Site,
    p: &Profile,
    url: &Url,
) -> Result<ImageInfo, Problem> {
    let host = url_host(url);
    if !host_allowed(site, &host) {
        return Err(Problem::ImageNotChecked { host });
    }
    let a = {
        let _slot = slots.acquire().await;
        guard
            .get(
                url,
                p.user_agent,
                "image/*,*/*;q=0.8",
                max_image_read(),
                p.timeout,
            )
            .await
    };
    let a = a.map_err(|e| match e {
        FetchError::PrivateAddress { host, ip } => Problem::PrivateAddress {
            host,
            ip: ip.to_string(),
        },
        e => Problem::ImageUnreachable {
            reason: match fetch_problem(e) {
                Problem::Unreachable { reason } => reason,
                Problem::Timeout => "timeout".into(),
                other => other.code().to_string(),
            },
        },
    })?;
    if a.status.is_redirection() {
        return Err(Problem::ImageUnreachable {
            reason: format!("redirect ({})", a.status.as_u16()),
        });
    }
    if !a.status.is_success() {
        return Err(Problem::ImageUnreachable {
            reason: format!("status {}", a.status.as_u16()),
        });
    }
    let ct = a.content_type();
    let size = image_size(&a.body);
    if !ct.starts_with("image/") && size.is_none() {
        return Err(Problem::ImageNotImage { content_type: ct });
    }
    let declared = a
        .header(axum::http::header::CONTENT_LENGTH)
        .and_then(|l| l.trim().parse::<u64>().ok());
    let read = u64::try_from(a.body.len()).unwrap_or(u64::MAX);
    Ok(ImageInfo {
        url: clip(url.as_str()),
        bytes: declared.unwrap_or(read).max(read),
        content_type: ct,
        format: size.map(|s| s.format),
        width: size.map(|s| s.width),
        height: size.map(|s| s.height),
    })
}

/// The card `p`'s app shows and its problems.
fn judge(p: &Profile, f: Fetched, images: &HashMap<String, Result<ImageInfo, Problem>>) -> AppCard {
    let mut problems = f.problems;
    let mut card = None;
    let mut image = None;
    if let Some(tags) = &f.tags {
        let domain = Url::parse(&f.final_url)
            .ok()
            .and_then(|u| {
                u.host_str()
                    .map(|h| h.trim_start_matches("www.").to_string())
            })
            .unwrap_or_default();
        let title = tags.card_title();
        match title {
            None => problems.push(Problem::NoTitle),
            Some(t) => {
                let n = t.chars().count();
                if n > p.title_max {
                    problems.push(Problem::TitleCut {
                        chars: n,
                        max: p.title_max,
                    });
                }
            }
        }
        let description = match (tags.card_description(), p.description_max) {
            (Some(d), Some(max)) => {
                let n = d.chars().count();
                if n > max {
                    problems.push(Problem::DescriptionCut { chars: n, max });
                }
                Some(cut(d, max))
            }
            _ => None,
        };
        if tags.og_image.is_none() {
            problems.push(Problem::NoOgImage);
        }
        let mut shown_image = None;
        if let Some(raw) = tags.card_image() {
            let tag = if tags.og_image.is_some() {
                "og:image"
            } else {
                "twitter:image"
            };
            let is_absolute = Url::parse(raw).is_ok();
            if !is_absolute {
                problems.push(Problem::RelativeUrl {
                    tag,
                    value: clip(raw),
                });
            }
            if let Some(abs) = absolute(&f.final_url, raw) {
                shown_image = Some(clip(abs.as_str()));
                match images.get(abs.as_str()) {
                    Some(Ok(info)) => {
                        if info.bytes > p.max_image {
                            problems.push(Problem::ImageTooLarge {
                                bytes: info.bytes,
                                max: p.max_image,
                            });
                        }
                        if let (Some(w), Some(h)) = (info.width, info.height) {
                            if w < p.min_image.0 || h < p.min_image.1 {
                                problems.push(Problem::ImageTooSmall {
                                    width: w,
                                    height: h,
                                    min_width: p.min_image.0,
                                    min_height: p.min_image.1,
                                });
                            }
                        }
                        image = Some(info.clone());
                    }
                    Some(Err(e)) => problems.push(e.clone()),
                    None => {}
                }
            }
        }
        if let Some(u) = &tags.og_url {
            if Url::parse(u).is_err() {
                problems.push(Problem::RelativeUrl {
                    tag: "og:url",
                    value: clip(u),
                });
            }
        }
        card = Some(Card {
            title: title.map(|t| cut(t, p.title_max)),
            description,
            image: shown_image,
            domain,
            site_name: tags.og_site_name.as_deref().map(clip),
            large: tags.twitter_card.as_deref() == Some("summary_large_image"),
        });
    }
    AppCard {
        app: p.app,
        name: p.name,
        final_url: clip(&f.final_url),
        redirects: f.redirects,
        status: f.status,
        card,
        image,
        problems,
    }
}

/// The site's pages by private arrivals over `q`'s range: (path, private arrivals,
/// visits), at most `limit`. Private arrivals: visits in the private-message and e-mail
/// groups and estimated dark, counted by entry page.
pub fn top_pages(
    events: &dyn EventStore,
    q: &ReportQuery,
    limit: usize,
) -> Result<Vec<(String, u64, u64)>, lucarne_store::StoreError> {
    let q = ReportQuery {
        filters: Vec::new(),
        conditions: Vec::new(),
        with_sessions: false,
        with_shares: false,
        ..q.clone()
    };
    let mut rows: Vec<(String, u64, u64)> = events
        .breakdown(&q, &Property::EntryPage, 1000, 0)?
        .into_iter()
        .filter(|(p, a)| p.starts_with('/') && a.visits > 0)
        .map(|(p, a)| {
            (
                p,
                a.visits_identified_dark + a.visits_estimated_dark,
                a.visits,
            )
        })
        .collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
    rows.truncate(limit);
    Ok(rows)
}

// ---------------------------------------------------------------------------------------
// Wire format

/// English sentence of a problem (the API's `message`; the dashboard has its own, in
/// both languages).
pub fn problem_message(app: &str, p: &Problem) -> String {
    match p {
        Problem::NoOgImage => format!("No og:image: {app} shows no picture (or a small one from other tags)."),
        Problem::NoTitle => format!("No og:title nor <title>: {app} has no title to show."),
        Problem::ImageTooLarge { bytes, max } => {
            format!("The image is {bytes} bytes; {app} shows none above about {max}.")
        }
        Problem::ImageTooSmall { width, height, min_width, min_height } => format!(
            "The image is {width}×{height} px; {app} wants at least {min_width}×{min_height} for a large picture."
        ),
        Problem::ImageNotImage { content_type } => {
            format!("The image address answers `{content_type}`, not an image.")
        }
        Problem::ImageUnreachable { reason } => format!("The image could not be fetched: {reason}."),
        Problem::ImageNotChecked { host } => format!(
            "The image is on {host}, which is not one of the site's hostnames: not checked."
        ),
        Problem::TitleCut { chars, max } => {
            format!("The title has {chars} characters; {app} cuts it at about {max}.")
        }
        Problem::DescriptionCut { chars, max } => {
            format!("The description has {chars} characters; {app} cuts it at about {max}.")
        }
        Problem::RelativeUrl { tag, value } => {
            format!("{tag} is relative (`{value}`); it must be an absolute https address.")
        }
        Problem::RedirectNotFollowed { to } => {
            format!("A redirect {app}'s crawler does not follow (to `{to}`).")
        }
        Problem::TooManyRedirects { max } => {
            format!("More than {max} redirects: {app}'s crawler gives up.")
        }
        Problem::Refused { status } => format!("The page answers {status} to {app}'s crawler."),
        Problem::NotHtml { content_type } => format!("The page is `{content_type}`, not HTML."),
        Problem::HtmlTruncated { max } => format!(
            "The HTML is longer than the {max} bytes {app} reads: tags after them are not seen."
        ),
        Problem::Timeout => format!("The page did not answer within {app}'s time limit."),
        Problem::PrivateAddress { host, ip } => format!(
            "{host} resolves to {ip}, a loopback or private address: not fetched."
        ),
        Problem::HostNotAllowed { host } => format!(
            "The address leads to {host}, which is not one of the site's hostnames: not fetched."
        ),
        Problem::Unreachable { reason } => format!("No answer: {reason}."),
    }
}

fn problem_json(app: &str, p: &Problem) -> Value {
    let mut details = Map::new();
    for (k, v) in p.details() {
        details.insert(k.to_string(), json!(v));
    }
    json!({
        "code": p.code(),
        "severity": p.severity().as_str(),
        "details": details,
        "message": problem_message(app, p),
    })
}

fn app_json(a: &AppCard) -> Value {
    json!({
        "app": a.app,
        "name": a.name,
        "final_url": a.final_url,
        "redirects": a.redirects,
        "status": a.status,
        "card": a.card.as_ref().map(|c| json!({
            "title": c.title,
            "description": c.description,
            "image": c.image,
            "domain": c.domain,
            "site_name": c.site_name,
            "large": c.large,
        })),
        "image": a.image.as_ref().map(|i| json!({
            "url": i.url,
            "bytes": i.bytes,
            "content_type": i.content_type,
            "format": i.format,
            "width": i.width,
            "height": i.height,
        })),
        "problems": a.problems.iter().map(|p| problem_json(a.name, p)).collect::<Vec<_>>(),
    })
}

/// The report as JSON.
pub fn report_json(site: &str, from: &str, to: &str, checked: &Checked) -> Value {
    json!({
        "site_id": site,
        "from": from,
        "to": to,
        "pending": checked.pending.iter().map(|(path, private, visits)| json!({
            "path": path,
            "private_arrivals": private,
            "visits": visits,
        })).collect::<Vec<_>>(),
        "results": checked.pages.iter().map(|p| json!({
            "path": p.path,
            "url": p.url,
            "private_arrivals": p.private_arrivals,
            "visits": p.visits,
            "broken": p.broken(),
            "checked_at": p.checked_at.to_rfc3339(),
            "apps": p.apps.iter().map(app_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// `GET /api/v1/stats/cards`.
pub async fn cards(
    State(state): State<Arc<AppState>>,
    Extension(service): Extension<Arc<Cards>>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Result<Json<Value>, ApiError> {
    let r = authorized(&state, &headers, &p).await?;
    let limit = p.limit.unwrap_or(DEFAULT_PAGES);
    if !(1..=MAX_PAGES).contains(&limit) {
        return Err(ApiError::bad_request(
            "bad_limit",
            format!("`limit` must be between 1 and {MAX_PAGES}"),
        ));
    }
    let q = r.query(r.from, r.to);
    let pages = blocking(&state, move |s| top_pages(s.events.as_ref(), &q, limit)).await?;
    let checked = service.check(&state, &r.site, pages).await;
    Ok(Json(report_json(
        &r.site.domain,
        &r.from.to_string(),
        &r.to.to_string(),
        &checked,
    )))
}
