//! Fair shares: per-site and per-client-address rate limits on ingest, on the events
//! short-link redirects record, and on `/og/`.
//!
//! Each limit is a GCRA (generic cell rate algorithm: one "theoretical arrival time" per
//! key, 16 bytes), sharded, with a bounded number of keys per shard. Client addresses are
//! never kept: a key is a keyed hash of the address with a random per-process key.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window failed logins are counted over (per address and per account); failures
/// older than this are purged from the metadata store too.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

const SHARDS: usize = 16;
/// Keys remembered per limiter at most (about 32 bytes each with the map's overhead):
/// past it, keys whose allowance is full again are forgotten first, then a shard is
/// cleared (its clients start afresh; a flood from many addresses cannot grow memory).
const MAX_KEYS: usize = 200_000;

/// Events per second and burst allowed per key; `rate == 0` turns the limit off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// `per_second` a second, bursts of twice that.
    pub fn per_second(per_second: f64) -> Rate {
        Rate {
            per_second,
            burst: (per_second * 2.0).max(1.0),
        }
    }

    pub fn off() -> Rate {
        Rate {
            per_second: 0.0,
            burst: 0.0,
        }
    }
}

/// The limits a node applies (flags `--site-rate-limit`, `--client-rate-limit`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Events a second per site (ingest and recorded short-link events).
    pub site: Rate,
    /// Requests a second per client address (ingest, recorded short-link events, `/og/`).
    pub client: Rate,
}

/// Defaults: a site may send 10,000 events a second (about a third of what one 2-core
/// node stores; bursts of 20,000), a client address 100 (bursts of 200: far above what a
/// person's browser sends, even many people behind one NAT).
impl Default for Limits {
    fn default() -> Self {
        Limits {
            site: Rate::per_second(10_000.0),
            client: Rate::per_second(100.0),
        }
    }
}

/// One rate limit over many keys.
pub struct Limiter {
    rate: Rate,
    /// Nanoseconds between two events at the steady rate, and the burst tolerance.
    interval: u64,
    tolerance: u64,
    epoch: Instant,
    shards: Vec<Mutex<HashMap<u64, u64>>>,
}

impl Limiter {
    pub fn new(rate: Rate) -> Limiter {
        let interval = if rate.per_second > 0.0 {
            (1e9 / rate.per_second) as u64
        } else {
            0
        };
        Limiter {
            rate,
            interval,
            tolerance: (interval as f64 * (rate.burst - 1.0).max(0.0)) as u64,
            epoch: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    pub fn is_off(&self) -> bool {
        self.interval == 0
    }

    /// Count one event for `key`: `Ok` when allowed, else how long until the next would be.
    pub fn check(&self, key: u64) -> Result<(), Duration> {
        if self.is_off() {
            return Ok(());
        }
        let now = self.epoch.elapsed().as_nanos() as u64;
        let Ok(mut shard) = self.shards[(key as usize) % SHARDS].lock() else {
            return Ok(());
        };
        if shard.len() >= MAX_KEYS / SHARDS && !shard.contains_key(&key) {
            shard.retain(|_, tat| *tat > now);
            // Unless a tenth of the room came back, start afresh: otherwise every new key
            // would scan the whole shard again.
            if shard.len() >= MAX_KEYS / SHARDS * 9 / 10 {
                shard.clear();
            }
        }
        let tat = shard.get(&key).copied().unwrap_or(now).max(now);
        let allowed_at = tat.saturating_sub(self.tolerance);
        if allowed_at > now {
            return Err(Duration::from_nanos(allowed_at - now));
        }
        shard.insert(key, tat + self.interval);
        Ok(())
    }

    pub fn rate(&self) -> Rate {
        self.rate
    }
}

/// The limiters of a node, and the keyed hash that turns addresses into keys.
pub struct RateLimits {
    pub site: Limiter,
    pub client: Limiter,
    /// `/og/` has its own per-client allowance (a page's previews are not its pageviews).
    pub og: Limiter,
    hasher: std::collections::hash_map::RandomState,
}

impl RateLimits {
    pub fn new(l: Limits) -> RateLimits {
        RateLimits {
            site: Limiter::new(l.site),
            client: Limiter::new(l.client),
            og: Limiter::new(l.client),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    /// The key of a client address (not reversible without this process's random key).
    /// An IPv6 client is its /64 (one subscriber's usual allocation: a client cannot
    /// multiply its allowance by rotating addresses within it); an IPv4-mapped address
    /// is its IPv4 address.
    pub fn client_key(&self, ip: IpAddr) -> u64 {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) >> 64;
                self.hasher.hash_one(prefix)
            }
            v4 => self.hasher.hash_one(v4),
        }
    }

    /// Count an event from `ip` against its client limit only (before the site is known).
    pub fn client(&self, ip: IpAddr) -> Result<(), Duration> {
        if ip.to_canonical().is_loopback() {
            return Ok(());
        }
        self.client.check(self.client_key(ip))
    }

    /// Count an event of `site` from `ip` against both limits: `Err(which, retry)`.
    /// A loopback client has no per-client limit: it is this machine (a reverse proxy not
    /// declared with `--trusted-proxy`, a health check, a local import), and limiting it
    /// would limit every visitor behind it at once; the site's limit still applies.
    pub fn event(&self, site: u32, ip: IpAddr) -> Result<(), (&'static str, Duration)> {
        self.client(ip).map_err(|d| ("client", d))?;
        self.site.check(u64::from(site)).map_err(|d| ("site", d))
    }

    /// Count an `/og/` fetch from `ip` (loopback exempt, as for events).
    pub fn og(&self, ip: IpAddr) -> Result<(), Duration> {
        if ip.to_canonical().is_loopback() {
            return Ok(());
        }
        self.og.check(self.client_key(ip))
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::new(Limits::default())
    }
}

/// Equal strings, compared in time independent of where they differ (secrets: CSRF
/// tokens, the metrics token).
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_the_burst_then_the_rate() {
        let l = Limiter::new(Rate {
            per_second: 10.0,
            burst: 5.0,
        });
        let allowed = (0..20).filter(|_| l.check(7).is_ok()).count();
        assert_eq!(allowed, 5, "the burst");
        let wait = l.check(7).expect_err("over");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        std::thread::sleep(Duration::from_millis(110));
        assert!(l.check(7).is_ok(), "one more after 1/rate");
        assert!(l.check(8).is_ok(), "another key has its own allowance");
    }

    #[test]
    fn off_allows_everything_and_keys_are_bounded() {
        let off = Limiter::new(Rate::off());
        assert!((0..10_000).all(|_| off.check(1).is_ok()));
        let l = Limiter::new(Rate::per_second(1.0));
        for k in 0..(MAX_KEYS as u64 * 3) {
            let _ = l.check(k);
        }
        let kept: usize = l
            .shards
            .iter()
            .map(|s| s.lock().map_or(0, |m| m.len()))
            .sum();
        assert!(kept <= MAX_KEYS, "{kept}");
    }

    #[test]
    fn loopback_clients_have_only_the_site_limit() {
        let r = RateLimits::new(Limits {
            site: Rate::per_second(1000.0),
            client: Rate::per_second(1.0),
        });
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        assert!((0..100).all(|_| r.event(1, local).is_ok()));
        let far: IpAddr = "203.0.113.9".parse().unwrap();
        assert_eq!((0..100).filter(|_| r.event(1, far).is_ok()).count(), 2);
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let r = RateLimits::default();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(r.client_key(a), r.client_key(b));
        assert_ne!(r.client_key(a), r.client_key(c));
        let mapped: IpAddr = "::ffff:198.51.100.7".parse().unwrap();
        let v4: IpAddr = "198.51.100.7".parse().unwrap();
        assert_eq!(r.client_key(mapped), r.client_key(v4));
        let local: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert!(
            (0..1000).all(|_| r.client(local).is_ok()),
            "mapped loopback"
        );
    }

    #[test]
    fn client_keys_are_stable_and_distinct() {
        let r = RateLimits::default();
        let a: IpAddr = "203.0.113.9".parse().unwrap();
        let b: IpAddr = "203.0.113.10".parse().unwrap();
        assert_eq!(r.client_key(a), r.client_key(a));
        assert_ne!(r.client_key(a), r.client_key(b));
    }
}
