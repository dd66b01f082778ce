//! The server's memory of recent share-graph nodes (`core::token::TokenNode`), so that an
//! arriving token is resolved without reading the store.
//!
//! Forged tokens cost O(1): a Bloom filter of every token the events store holds (built
//! from the store at start, then fed by every mint) answers "never minted" without a
//! read. Until it is complete (start-up, or several nodes, where other nodes mint too),
//! store reads for unknown tokens are limited to `LOOKUP_RATE` a second; past it, an
//! arriving token counts as unknown (the visit is recorded all the same).
//!
//! Bounded: each shard keeps two generations of entries; when the young generation is
//! full the old one is dropped and the young one becomes old. A lookup that misses both
//! reads the store (`EventStore::find_token`), at most `LOOKUPS` at a time, and
//! remembers recent misses so a repeated forged token costs one read. Minting does not
//! touch the miss list (the ingest hot path takes no global lock): a token minted after
//! a miss is found in memory first.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lucarne_core::rules::ShareButtons;
use lucarne_core::token::{NodeKind, TokenNode, VIA_COPIED_TEXT};
use lucarne_store::EventStore;
use tokio::sync::Semaphore;

const SHARDS: usize = 16;
/// What one remembered node costs in its map: the token, the 40-byte node and the map's
/// control byte, at the map's 7/8 load.
pub const TOKEN_ENTRY_BYTES: usize = 64;
/// Bytes of remembered nodes by default (2 million nodes; the filter of minted tokens,
/// 16 MiB, comes on top).
pub const DEFAULT_TOKEN_BYTES: usize = 128 << 20;
/// Nodes remembered at most by default.
pub const MAX_TOKENS: usize = DEFAULT_TOKEN_BYTES / TOKEN_ENTRY_BYTES;
/// Store reads in flight at most.
const LOOKUPS: usize = 2;
/// Distinct missed tokens remembered at most.
const MAX_MISSES: usize = 50_000;

/// A node in 40 bytes: the share channel as an index into `ShareButtons::builtin()`; a link's
/// channel (any classifier channel) is not kept here, links are looked up by id.
#[derive(Clone, Copy)]
struct Compact {
    site_id: u32,
    kind: u8,
    channel: u8,
    generation: u16,
    session_id: u64,
    visitor_id: u64,
    link_id: u64,
}

const NO_CHANNEL: u8 = u8::MAX;
const COPIED_TEXT: u8 = u8::MAX - 1;

impl Compact {
    fn of(n: &TokenNode) -> Compact {
        let channel = if n.share_channel == VIA_COPIED_TEXT {
            COPIED_TEXT
        } else {
            ShareButtons::builtin()
                .position(&n.share_channel)
                .and_then(|i| u8::try_from(i).ok())
                .unwrap_or(NO_CHANNEL)
        };
        Compact {
            site_id: n.site_id,
            kind: n.kind.as_u8(),
            channel,
            generation: n.generation,
            session_id: n.session_id,
            visitor_id: n.visitor_id,
            link_id: n.link_id,
        }
    }

    fn node(self) -> TokenNode {
        let share_channel = match self.channel {
            COPIED_TEXT => VIA_COPIED_TEXT.to_string(),
            i => ShareButtons::builtin()
                .all()
                .get(usize::from(i))
                .map(|b| b.id.clone())
                .unwrap_or_default(),
        };
        TokenNode {
            site_id: self.site_id,
            kind: NodeKind::from_u8(self.kind).unwrap_or(NodeKind::Visit),
            session_id: self.session_id,
            visitor_id: self.visitor_id,
            generation: self.generation,
            share_channel,
            link_id: self.link_id,
        }
    }
}

/// Bits of the minted-token filter: 2^27 bits (16 MiB), about 0.2 % false positives at
/// 10 million tokens (a month of a mid-size publisher), 5 % at 30 million.
const FILTER_BITS: usize = 1 << 27;
const FILTER_HASHES: u64 = 7;
/// Store reads for tokens the filter cannot rule out, per second at most (burst as much).
const LOOKUP_RATE: f64 = 50.0;

/// A Bloom filter of minted tokens: set and tested without locks. Positions come from
/// the token mixed with a per-process random key, so nobody can craft tokens that all
/// land on set bits.
pub struct MintedFilter {
    bits: Vec<AtomicU64>,
    key: u64,
    complete: AtomicBool,
}

impl MintedFilter {
    fn new(bits: usize) -> Self {
        let words = (bits / 64).next_power_of_two().max(1);
        MintedFilter {
            bits: (0..words).map(|_| AtomicU64::new(0)).collect(),
            key: rand::random::<u64>() | 1,
            complete: AtomicBool::new(false),
        }
    }

    fn positions(&self, token: u64) -> impl Iterator<Item = usize> + '_ {
        // Two 64-bit mixes of the keyed token (splitmix64's finaliser), combined by double
        // hashing.
        let mix = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let h1 = mix(token ^ self.key);
        let h2 = mix(token.wrapping_add(self.key).rotate_left(29)) | 1;
        let n = (self.bits.len() * 64) as u64;
        (0..FILTER_HASHES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % n) as usize)
    }

    fn insert(&self, token: u64) {
        for p in self.positions(token) {
            self.bits[p / 64].fetch_or(1 << (p % 64), Ordering::Relaxed);
        }
    }

    /// `false`: this token was certainly never inserted.
    fn may_contain(&self, token: u64) -> bool {
        self.positions(token)
            .all(|p| self.bits[p / 64].load(Ordering::Relaxed) & (1 << (p % 64)) != 0)
    }
}

/// A token bucket for store reads.
struct Budget {
    tokens: f64,
    at: Instant,
}

#[derive(Default)]
struct Shard {
    young: HashMap<u64, Compact>,
    old: HashMap<u64, Compact>,
}

pub struct TokenIndex {
    shards: Vec<Mutex<Shard>>,
    per_generation: usize,
    misses: Mutex<HashSet<u64>>,
    lookups: Arc<Semaphore>,
    minted: MintedFilter,
    budget: Mutex<Budget>,
}

/// What became of a token that memory did not know (`lucarne_token_lookups_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The filter says no store holds it: no read.
    Filtered,
    /// A recent read found nothing: no read.
    KnownMiss,
    /// Read from the store.
    Read,
    /// Over the read budget: counted as unknown without a read.
    OverBudget,
}

impl Lookup {
    pub fn as_str(self) -> &'static str {
        match self {
            Lookup::Filtered => "filtered",
            Lookup::KnownMiss => "known_miss",
            Lookup::Read => "read",
            Lookup::OverBudget => "over_budget",
        }
    }
}

impl Default for TokenIndex {
    fn default() -> Self {
        TokenIndex::with_capacity(MAX_TOKENS)
    }
}

impl TokenIndex {
    /// An index remembering at most about `bytes` of nodes.
    pub fn with_bytes(bytes: usize) -> Self {
        TokenIndex::with_capacity(bytes / TOKEN_ENTRY_BYTES)
    }

    pub fn with_capacity(max_tokens: usize) -> Self {
        TokenIndex {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_generation: (max_tokens / SHARDS / 2).max(1),
            misses: Mutex::new(HashSet::new()),
            lookups: Arc::new(Semaphore::new(LOOKUPS)),
            minted: MintedFilter::new(FILTER_BITS),
            budget: Mutex::new(Budget {
                tokens: LOOKUP_RATE,
                at: Instant::now(),
            }),
        }
    }

    /// Put every token of the store into the filter, then trust it: from then on a token
    /// it rules out is unknown without a read. Only for a node that mints every token its
    /// store receives (one node; with several, other nodes mint too). Returns the count.
    pub fn fill_from(
        &self,
        store: &dyn EventStore,
    ) -> Result<Option<u64>, lucarne_store::StoreError> {
        let mut n = 0u64;
        let listed = store.for_each_token(&mut |t| {
            self.minted.insert(t);
            n += 1;
        })?;
        if !listed {
            return Ok(None);
        }
        self.minted.complete.store(true, Ordering::SeqCst);
        Ok(Some(n))
    }

    fn take_budget(&self) -> bool {
        let Ok(mut b) = self.budget.lock() else {
            return false;
        };
        let now = Instant::now();
        let refill = now.duration_since(b.at).as_secs_f64() * LOOKUP_RATE;
        b.tokens = (b.tokens + refill).min(LOOKUP_RATE);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn shard(&self, token: u64) -> &Mutex<Shard> {
        // Tokens are uniformly random: the low bits spread evenly.
        &self.shards[(token as usize) % SHARDS]
    }

    /// The remembered node of `token`.
    pub fn get(&self, token: u64) -> Option<TokenNode> {
        let s = self.shard(token).lock().ok()?;
        s.young
            .get(&token)
            .or_else(|| s.old.get(&token))
            .map(|c| c.node())
    }

    /// Remember a newly minted token. `false` when it is already known: a token is
    /// minted once, and a second claim to it (a replayed or forged payload) is refused.
    pub fn insert_new(&self, token: u64, node: &TokenNode) -> bool {
        if token == 0 {
            return false;
        }
        let Ok(mut s) = self.shard(token).lock() else {
            return false;
        };
        if s.young.contains_key(&token) || s.old.contains_key(&token) {
            return false;
        }
        if s.young.len() >= self.per_generation {
            s.old = std::mem::take(&mut s.young);
        }
        s.young.insert(token, Compact::of(node));
        drop(s);
        self.minted.insert(token);
        true
    }

    /// Forget a token whose event was not stored.
    pub fn remove(&self, token: u64) {
        if let Ok(mut s) = self.shard(token).lock() {
            s.young.remove(&token);
            s.old.remove(&token);
        }
    }

    /// Remember a node read from the store (not a new mint: no duplicate check).
    fn remember(&self, token: u64, node: &TokenNode) {
        self.minted.insert(token);
        if let Ok(mut s) = self.shard(token).lock() {
            if s.young.len() >= self.per_generation {
                s.old = std::mem::take(&mut s.young);
            }
            s.young.insert(token, Compact::of(node));
        }
    }

    /// Resolve a token: memory first, then the store. `None` when nobody minted it (or
    /// the store cannot answer: the visit is then counted with an unknown token).
    pub async fn resolve(&self, store: &Arc<dyn EventStore>, token: u64) -> Option<TokenNode> {
        self.resolve_counted(store, token).await.0
    }

    /// [`TokenIndex::resolve`], and how an unknown token was decided (`None`: memory knew).
    pub async fn resolve_counted(
        &self,
        store: &Arc<dyn EventStore>,
        token: u64,
    ) -> (Option<TokenNode>, Option<Lookup>) {
        if let Some(n) = self.get(token) {
            return (Some(n), None);
        }
        if self.minted.complete.load(Ordering::Relaxed) && !self.minted.may_contain(token) {
            return (None, Some(Lookup::Filtered));
        }
        if self.misses.lock().map_or(true, |m| m.contains(&token)) {
            return (None, Some(Lookup::KnownMiss));
        }
        if !self.take_budget() {
            return (None, Some(Lookup::OverBudget));
        }
        (self.read(store, token).await, Some(Lookup::Read))
    }

    async fn read(&self, store: &Arc<dyn EventStore>, token: u64) -> Option<TokenNode> {
        let _permit = self.lookups.clone().acquire_owned().await.ok()?;
        let store = store.clone();
        let found = tokio::task::spawn_blocking(move || store.find_token(token))
            .await
            .ok()
            .and_then(|r| {
                r.map_err(|e| tracing::warn!(message = "Token lookup failed.", error = %e))
                    .ok()
            })
            .flatten();
        match &found {
            Some(n) => self.remember(token, n),
            None => {
                if let Ok(mut m) = self.misses.lock() {
                    if m.len() >= MAX_MISSES {
                        m.clear();
                    }
                    m.insert(token);
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(site: u32, ch: &str) -> TokenNode {
        TokenNode {
            site_id: site,
            kind: NodeKind::Share,
            session_id: 9,
            visitor_id: 4,
            generation: 3,
            share_channel: ch.into(),
            link_id: 0,
        }
    }

    #[test]
    fn remembers_and_refuses_second_mints() {
        let idx = TokenIndex::default();
        assert!(idx.insert_new(11, &node(1, "telegram")));
        assert!(!idx.insert_new(11, &node(2, "sms")), "minted once");
        assert_eq!(idx.get(11), Some(node(1, "telegram")));
        assert!(!idx.insert_new(0, &node(1, "sms")), "zero is no token");
        let mut copy = node(1, VIA_COPIED_TEXT);
        copy.kind = NodeKind::Copy;
        assert!(idx.insert_new(12, &copy));
        assert_eq!(idx.get(12), Some(copy));
        idx.remove(11);
        assert_eq!(idx.get(11), None);
    }

    #[test]
    fn the_filter_never_forgets_and_rarely_errs() {
        let f = MintedFilter::new(1 << 20);
        let minted: Vec<u64> = (0..50_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .collect();
        for t in &minted {
            f.insert(*t);
        }
        assert!(
            minted.iter().all(|t| f.may_contain(*t)),
            "no false negatives"
        );
        let wrong = (0..100_000u64)
            .map(|i| i.wrapping_mul(0xD6E8_FEB8_6659_FD93) ^ 0x5555)
            .filter(|t| !minted.contains(t) && f.may_contain(*t))
            .count();
        // 50,000 in 2^20 bits with 7 hashes: about 0.2 % expected.
        assert!(wrong < 1_000, "{wrong} false positives in 100,000");
    }

    #[tokio::test]
    async fn store_reads_for_unknown_tokens_are_budgeted() {
        let idx = TokenIndex::with_capacity(1000);
        let mut granted = 0;
        for _ in 0..1000 {
            if idx.take_budget() {
                granted += 1;
            }
        }
        assert!(granted <= LOOKUP_RATE as usize + 2, "{granted}");
        assert!(granted >= LOOKUP_RATE as usize - 1, "{granted}");
    }

    #[test]
    fn bounded_by_two_generations() {
        let idx = TokenIndex::with_capacity(SHARDS * 2 * 10);
        for t in 1..=10_000u64 {
            idx.insert_new(t, &node(1, "sms"));
        }
        let kept: usize = idx
            .shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap();
                s.young.len() + s.old.len()
            })
            .sum();
        assert!(kept <= SHARDS * 2 * 10, "{kept}");
        // The newest are still there.
        assert!(idx.get(10_000).is_some());
        assert!(idx.get(1).is_none());
    }
}
