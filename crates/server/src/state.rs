//! Shared server state.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use lucarne_core::links::{ua_request_facts, UaRequestFacts};
use lucarne_core::rules::Rules;
use lucarne_core::useragent::{device, Device};
use lucarne_core::visitor::Salt;
use lucarne_store::meta::{MetaError, MetaStore, Site, SiteOptions};
use lucarne_store::EventStore;
use tracing::warn;

use crate::ingest::sessions::Sessions;
use crate::ingest::tokens::TokenIndex;
use crate::links::{LinkCache, LinkEvents};
use crate::metrics::Metrics;

/// Deployment settings the server needs (the binary builds them from CLI/env/TOML).
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// A header set by a trusted CDN with the visitor's ISO country (e.g. `CF-IPCountry`).
    pub country_header: Option<String>,
    /// A MaxMind-format (GeoLite2/GeoIP2 Country or City) database.
    pub geoip: Option<PathBuf>,
    /// Extra classification rules (TOML) added to the built-in tables.
    pub rules_files: Vec<PathBuf>,
    /// Short links may point to loopback and private-network addresses (an intranet).
    pub allow_private_link_targets: bool,
    /// The address Lucarne is reached at from outside (`https://stats.example.com`), for
    /// short links and QR codes; without it, the one saved in the UI, else the request's
    /// host.
    pub public_url: Option<String>,
    /// Outgoing e-mail (invitations), when SMTP is configured.
    pub mailer: Option<crate::mail::Mailer>,
    /// Time between notification rounds; `None`: [`crate::notify::EVERY`].
    pub notify_every: Option<Duration>,
    /// Several nodes share the metadata store: share live visits through it
    /// (`ingest::shared`).
    pub shared_visits: bool,
    /// Per-site and per-client rate limits (`limits`).
    pub limits: crate::limits::Limits,
    /// Memory for the live-visit table (two thirds) and the token index (one third), in
    /// bytes; `None`: 384 MiB.
    pub cache_bytes: Option<usize>,
    /// Memory for acknowledged events not yet in the events store, in bytes; `None`:
    /// 256 MiB.
    pub backlog_bytes: Option<usize>,
    /// The data directory (spool, embedded stores): readiness checks its free space.
    pub data_dir: Option<PathBuf>,
    /// Free bytes the data directory needs for readiness; `None`:
    /// [`DEFAULT_MIN_FREE_DISK`].
    pub min_free_disk_bytes: Option<u64>,
    /// Who may read `/metrics`.
    pub metrics_access: MetricsAccess,
    /// How preview cards reach a site's pages (`previews::cards`).
    pub card_fetch: CardFetchOptions,
}

/// How preview cards reach a site's pages. The defaults are production's: `https` on
/// the site's domain, the system's resolver, each crawler's own time limit. Tests point
/// them at a local server; private addresses stay refused unless the administrator
/// allows private link targets.
#[derive(Debug, Clone, Default)]
pub struct CardFetchOptions {
    /// Fetch a site's pages as `http://DOMAIN:PORT/…` instead of `https://DOMAIN/…`.
    pub plain_http_port: Option<u16>,
    /// Names answered without asking DNS (as curl's `--resolve`); their addresses are
    /// checked like resolved ones.
    pub resolve: Vec<(String, IpAddr)>,
    /// A time limit shorter than the crawlers' own for each request.
    pub timeout: Option<Duration>,
    /// How long a view waits for its checks (`None`: `previews::cards::WAIT`).
    pub wait: Option<Duration>,
}

/// Who may read `/metrics`: anyone (the default, for a server on a private network), or
/// only with `Authorization: Bearer <token>`; and whether the main listener serves it at
/// all (not when it has an address of its own, `--metrics-listen`).
#[derive(Debug, Clone, Default)]
pub struct MetricsAccess {
    pub token: Option<String>,
    pub separate_listener: bool,
}

/// Free space the data directory needs to be ready (and to keep taking events safely).
pub const DEFAULT_MIN_FREE_DISK: u64 = 256 << 20;

/// The instance's public address: the configured one (`--public-url`, fixed) wins over
/// the one an administrator saved in the UI (`instance_settings.public_url`).
#[derive(Debug, Default)]
struct PublicAddress {
    configured: Option<String>,
    saved: Option<String>,
}

/// The instance setting holding the public URL saved in the UI.
pub const PUBLIC_URL_SETTING: &str = "public_url";

/// The memory caches get when not configured.
pub const DEFAULT_CACHE_BYTES: usize = 384 << 20;

pub struct AppState {
    pub rules: Rules,
    /// Per-site and per-client rate limits.
    pub rate_limits: crate::limits::RateLimits,
    pub events: Arc<dyn EventStore>,
    pub meta: MetaStore,
    /// Live visits (shared with the other nodes when there are several).
    pub sessions: Sessions,
    /// The last refused events of each site (the settings page's diagnosis).
    pub refusals: crate::ingest::refusals::Refusals,
    pub tokens: TokenIndex,
    pub links: LinkCache,
    pub link_events: LinkEvents,
    /// Short links may point to loopback and private-network addresses.
    pub allow_private_targets: bool,
    /// Where Lucarne is reached from outside: configured, or saved in the UI.
    public: RwLock<PublicAddress>,
    /// Outgoing e-mail, when SMTP is configured.
    /// Time between notification rounds (`notify::spawn`).
    pub notify_every: Duration,
    pub mailer: Option<crate::mail::Mailer>,
    pub metrics: Metrics,
    pub trusted_proxies: Vec<IpNet>,
    country_header: Option<HeaderName>,
    geoip: Option<maxminddb::Reader<Vec<u8>>>,
    salts: RwLock<(Salt, Option<Salt>)>,
    /// The UTC day of `salts.0`: a node that sees the day change rotates at once, so all
    /// nodes hash visitors with the same salt from midnight on.
    salt_day: RwLock<chrono::NaiveDate>,
    sites: RwLock<HashMap<String, (Option<Site>, Instant)>>,
    user_agents: Mutex<HashMap<String, Arc<UaFacts>>>,
    site_options: RwLock<HashMap<u32, (SiteOptions, Instant)>>,
    /// Moves on every [`AppState::invalidate_sites`]: a lookup that started before an
    /// invalidation does not put what it read back into the cache.
    sites_epoch: std::sync::atomic::AtomicU64,
    /// The data directory and the free space it needs (readiness).
    pub data_dir: Option<PathBuf>,
    pub min_free_disk_bytes: u64,
    pub metrics_access: MetricsAccess,
    /// How preview cards reach a site's pages.
    pub card_fetch: CardFetchOptions,
    /// `notify::alerts`' per-page baselines of the current UTC day, per site (read once
    /// a day; only the current day's are kept).
    pub notify_baselines: std::sync::Mutex<NotifyBaselines>,
    /// `notify::alerts`' spike baselines of the current clock hour, per site (14
    /// aggregates an hour, not a minute).
    pub notify_spike_baselines: std::sync::Mutex<SpikeBaselines>,
}

/// Per (site, UTC day): private arrivals per landing page over the 14 days before it.
pub type NotifyBaselines = HashMap<(u32, chrono::NaiveDate), Arc<HashMap<String, u64>>>;

/// Per (site, UTC clock hour): the site's visitors in that hour on each of the 14 days
/// before.
pub type SpikeBaselines = HashMap<(u32, chrono::DateTime<chrono::Utc>), Arc<Vec<u64>>>;

/// What Lucarne derives from a user agent, computed once per distinct string.
#[derive(Debug, Clone)]
pub struct UaFacts {
    pub bot: bool,
    pub device: Device,
    /// For short-link requests: preview fetcher or bot (`core::links`).
    pub request: UaRequestFacts,
}

/// Distinct user agents remembered at most (the cache is emptied when full).
const UA_CACHE: usize = 20_000;
/// Domains (known or not) whose answer is cached at most.
const MAX_CACHED_SITES: usize = 50_000;

const SITE_TTL: Duration = Duration::from_secs(30);
const UNKNOWN_SITE_TTL: Duration = Duration::from_secs(5);

impl AppState {
    pub async fn new(
        events: Arc<dyn EventStore>,
        meta: MetaStore,
        options: &ServerOptions,
    ) -> anyhow::Result<Arc<Self>> {
        use anyhow::Context;
        let mut rules = Rules::builtin();
        for f in &options.rules_files {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading rules file {}", f.display()))?;
            rules
                .extend_from_toml(&text)
                .map_err(|e| anyhow::anyhow!("rules file {}: {e}", f.display()))?;
        }
        let geoip = match &options.geoip {
            Some(p) => Some(
                maxminddb::Reader::open_readfile(p)
                    .with_context(|| format!("opening GeoIP database {}", p.display()))?,
            ),
            None => None,
        };
        let country_header = match &options.country_header {
            Some(h) => Some(
                HeaderName::try_from(h.as_str())
                    .with_context(|| format!("country header `{h}`"))?,
            ),
            None => None,
        };
        let s = meta
            .salts(Utc::now())
            .await
            .context("loading visitor salts")?;
        let (link_events, link_rx) = LinkEvents::new();
        let metrics = Metrics::new();
        let cache_bytes = options.cache_bytes.unwrap_or(DEFAULT_CACHE_BYTES);
        if let Some(b) = options.backlog_bytes {
            events.set_backlog_bytes(b);
        }
        let visit_bytes = cache_bytes / 3 * 2;
        let state = Arc::new(AppState {
            rate_limits: crate::limits::RateLimits::new(options.limits),
            links: LinkCache::default(),
            link_events,
            allow_private_targets: options.allow_private_link_targets,
            public: RwLock::new(PublicAddress {
                configured: options.public_url.clone(),
                saved: None,
            }),
            mailer: options.mailer.clone(),
            notify_every: options.notify_every.unwrap_or(crate::notify::EVERY),
            rules,
            events,
            sessions: if options.shared_visits {
                Sessions::shared(
                    visit_bytes,
                    crate::ingest::shared::Broker::spawn(meta.clone(), &metrics),
                )
            } else {
                Sessions::with_bytes(visit_bytes)
            },
            meta,
            refusals: Default::default(),
            tokens: TokenIndex::with_bytes(cache_bytes - visit_bytes),
            metrics,
            trusted_proxies: options.trusted_proxies.clone(),
            country_header,
            geoip,
            salts: RwLock::new((s.current, s.previous)),
            salt_day: RwLock::new(s.day),
            sites: RwLock::new(HashMap::new()),
            user_agents: Mutex::new(HashMap::new()),
            site_options: RwLock::new(HashMap::new()),
            sites_epoch: std::sync::atomic::AtomicU64::new(0),
            data_dir: options.data_dir.clone(),
            min_free_disk_bytes: options.min_free_disk_bytes.unwrap_or(DEFAULT_MIN_FREE_DISK),
            metrics_access: options.metrics_access.clone(),
            card_fetch: options.card_fetch.clone(),
            notify_baselines: Default::default(),
            notify_spike_baselines: Default::default(),
        });
        tokio::spawn(crate::links::run_batcher(Arc::downgrade(&state), link_rx));
        if !options.shared_visits {
            // One node mints every token its store receives: once the filter holds the
            // store's tokens, forged ones are ruled out without a read.
            let s = state.clone();
            tokio::task::spawn_blocking(move || match s.tokens.fill_from(s.events.as_ref()) {
                Ok(Some(n)) => tracing::info!(message = "Minted-token filter ready.", tokens = n),
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(message = "Could not build the minted-token filter; unknown tokens are looked up at a limited rate.", error = %e)
                }
            });
        }
        state
            .links
            .reload(&state)
            .await
            .context("loading short links")?;
        state
            .reload_public_url()
            .await
            .context("reading the public URL saved in the UI")?;
        Ok(state)
    }

    /// The salts of `now`'s UTC day (and of the day before), rotated first if that day
    /// is newer than the loaded one. Salts only move forward: an event read just before
    /// midnight but handled after another request rotated gets the loaded day's
    /// `previous` salt, its own day's, never the next day's (which would store a row of
    /// one day under the next day's visitor id).
    pub async fn current_salts(&self, now: DateTime<Utc>) -> (Salt, Option<Salt>) {
        let day = now.date_naive();
        if self.loaded_salts().1 < day {
            self.refresh_salts(now).await;
        }
        match self.loaded_salts() {
            ((_, Some(previous)), loaded) if loaded.pred_opt() == Some(day) => (previous, None),
            (salts, _) => salts,
        }
    }

    /// The loaded salts and their day, read together (`salts` is locked first, by
    /// readers and by [`AppState::refresh_salts`] alike).
    fn loaded_salts(&self) -> ((Salt, Option<Salt>), chrono::NaiveDate) {
        let salts = match self.salts.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let day = match self.salt_day.read() {
            Ok(d) => *d,
            Err(p) => *p.into_inner(),
        };
        (*salts, day)
    }

    pub fn salts_now(&self) -> (Salt, Option<Salt>) {
        match self.salts.read() {
            Ok(g) => *g,
            Err(p) => *p.into_inner(),
        }
    }

    /// Rotate salts if the UTC day changed (called periodically). Never back to an
    /// earlier day than the loaded one.
    pub async fn refresh_salts(&self, now: DateTime<Utc>) {
        match self.meta.salts(now).await {
            Ok(s) => {
                let (Ok(mut g), Ok(mut d)) = (self.salts.write(), self.salt_day.write()) else {
                    return;
                };
                if *d <= s.day {
                    *g = (s.current, s.previous);
                    *d = s.day;
                }
            }
            Err(e) => warn!(message = "Salt rotation failed; keeping current salts.", error = %e),
        }
    }

    /// The site registered under `domain`, cached briefly (unknown domains too, so a flood
    /// of events for unknown sites does not reach the metadata store). When the metadata
    /// store cannot answer, an expired cache entry is served (with a warning); with none,
    /// the error is returned, never taken for "no such site".
    pub async fn site(&self, domain: &str) -> Result<Option<Site>, MetaError> {
        // No site has a longer name (RFC 1035): such a name is neither looked up nor
        // cached, whichever endpoint it came through.
        if domain.len() > 253 {
            return Ok(None);
        }
        let mut stale = None;
        if let Ok(cache) = self.sites.read() {
            if let Some((site, at)) = cache.get(domain) {
                let ttl = if site.is_some() {
                    SITE_TTL
                } else {
                    UNKNOWN_SITE_TTL
                };
                if at.elapsed() < ttl {
                    return Ok(site.clone());
                }
                stale = Some(site.clone());
            }
        }
        let epoch = self.sites_epoch();
        let found = match self.meta.site_by_domain(domain).await {
            Ok(s) => s,
            Err(e) => {
                return match stale {
                    Some(site) => {
                        warn!(message = "Site lookup failed; serving the cached answer.", error = %e);
                        Ok(site)
                    }
                    None => Err(e),
                }
            }
        };
        if epoch != self.sites_epoch() {
            return Ok(found);
        }
        if let Ok(mut cache) = self.sites.write() {
            // At most 50,000 domains of at most 253 bytes (longer ones never get here).
            if cache.len() >= MAX_CACHED_SITES {
                cache.clear();
            }
            cache.insert(domain.to_string(), (found.clone(), Instant::now()));
        }
        Ok(found)
    }

    /// Bot verdict and device of a user agent (cached: browsers share a few thousand
    /// distinct strings, and parsing one costs microseconds on every request).
    pub fn ua_facts(&self, ua: &str) -> Arc<UaFacts> {
        // At most 1,000 characters are parsed or cached, whichever endpoint it came
        // through (the cache holds 20,000 of them).
        let ua = crate::ingest::pipeline::clip(ua, 1000);
        if let Ok(cache) = self.user_agents.lock() {
            if let Some(f) = cache.get(ua) {
                return f.clone();
            }
        }
        let request = ua_request_facts(&self.rules, ua);
        let facts = Arc::new(UaFacts {
            bot: request.bot,
            device: device(ua),
            request,
        });
        if let Ok(mut cache) = self.user_agents.lock() {
            if cache.len() >= UA_CACHE {
                cache.clear();
            }
            cache.insert(ua.to_string(), facts.clone());
        }
        facts
    }

    /// A site's settings (DNT/GPC, retention, token style), cached for `SITE_TTL`: a
    /// change takes effect on every node within about half a second (the `sites`
    /// version, `links::spawn_version_watch`), within 30 seconds at worst.
    ///
    /// When the metadata store cannot answer, the last settings read are used (with a
    /// warning); with none, the error is returned: defaults are never assumed, since they
    /// would silently turn Do-Not-Track honouring off.
    pub async fn site_options(&self, site_id: u32) -> Result<SiteOptions, MetaError> {
        let mut stale = None;
        if let Ok(cache) = self.site_options.read() {
            if let Some((o, at)) = cache.get(&site_id) {
                if at.elapsed() < SITE_TTL {
                    return Ok(o.clone());
                }
                stale = Some(o.clone());
            }
        }
        let epoch = self.sites_epoch();
        let options = match self.meta.site_options(site_id).await {
            Ok(o) => o,
            Err(e) => {
                return match stale {
                    Some(o) => {
                        warn!(message = "Site settings lookup failed; using the last read.", error = %e);
                        Ok(o)
                    }
                    None => Err(e),
                }
            }
        };
        if epoch != self.sites_epoch() {
            return Ok(options);
        }
        if let Ok(mut cache) = self.site_options.write() {
            cache.insert(site_id, (options.clone(), Instant::now()));
        }
        Ok(options)
    }

    fn sites_epoch(&self) -> u64 {
        self.sites_epoch.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Forget cached sites and settings (after settings change).
    /// Where Lucarne is reached from outside (`https://stats.example.com`), if known.
    pub fn public_url(&self) -> Option<String> {
        let p = self.public.read().ok()?;
        p.configured.clone().or_else(|| p.saved.clone())
    }

    /// The public URL set in the configuration (the UI then only shows it).
    pub fn configured_public_url(&self) -> Option<String> {
        self.public.read().ok()?.configured.clone()
    }

    /// The host of the public URL, normalised (Lucarne's own address: never a short
    /// domain).
    pub fn public_host(&self) -> Option<String> {
        self.public_url()
            .as_deref()
            .and_then(|u| url::Url::parse(u).ok())
            .and_then(|u| u.host_str().map(lucarne_core::url_clean::normalise_host))
    }

    /// Read the public URL saved in the UI again (at start, and when another node may
    /// have changed it: the `sites` version moved).
    pub async fn reload_public_url(&self) -> Result<(), MetaError> {
        let saved = self.meta.instance_setting(PUBLIC_URL_SETTING).await?;
        if let Ok(mut p) = self.public.write() {
            p.saved = saved;
        }
        Ok(())
    }

    pub fn invalidate_sites(&self) {
        self.sites_epoch
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut c) = self.sites.write() {
            c.clear();
        }
        if let Ok(mut c) = self.site_options.write() {
            c.clear();
        }
    }

    /// The visitor's IP: the peer, or — only when the peer is a trusted proxy — the
    /// right-most untrusted address of `X-Forwarded-For`.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted_proxies.iter().any(|n| n.contains(&peer)) {
            return peer;
        }
        let chain: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        chain
            .into_iter()
            .rev()
            .find(|ip| !self.trusted_proxies.iter().any(|n| n.contains(ip)))
            .unwrap_or(peer)
    }

    /// ISO country of the visitor, from the trusted header or the GeoIP database.
    pub fn country(&self, ip: IpAddr, headers: &HeaderMap) -> String {
        if let Some(h) = &self.country_header {
            if let Some(v) = headers.get(h).and_then(|v| v.to_str().ok()) {
                let v = v.trim().to_ascii_uppercase();
                if v.len() == 2 && v.chars().all(|c| c.is_ascii_uppercase()) && v != "XX" {
                    return v;
                }
            }
        }
        if let Some(db) = &self.geoip {
            let country = db
                .lookup(ip)
                .and_then(|r| r.decode::<maxminddb::geoip2::Country>());
            if let Ok(Some(c)) = country {
                if let Some(code) = c.country.iso_code {
                    return code.to_string();
                }
            }
        }
        String::new()
    }
}
