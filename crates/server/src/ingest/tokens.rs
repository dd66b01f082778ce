//! The server's memory of recent share-graph nodes (`core::token::TokenNode`), so that an
//! arriving token is resolved without reading the store.
//!
//! Bounded: each shard keeps two generations of entries; when the young generation is
//! full the old one is dropped and the young one becomes old. A lookup that misses both
//! reads the store (`EventStore::find_token`), at most `LOOKUPS` at a time, and
//! remembers recent misses so a repeated forged token costs one read. Minting does not
//! touch the miss list (the ingest hot path takes no global lock): a token minted after
//! a miss is found in memory first.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use lucarne_core::token::{NodeKind, TokenNode, SHARE_BUTTONS, VIA_COPIED_TEXT};
use lucarne_store::EventStore;
use tokio::sync::Semaphore;

const SHARDS: usize = 16;
/// Nodes remembered at most (about 40 bytes each).
pub const MAX_TOKENS: usize = 4_000_000;
/// Store reads in flight at most.
const LOOKUPS: usize = 2;
/// Distinct missed tokens remembered at most.
const MAX_MISSES: usize = 50_000;

/// A node in 40 bytes: the share channel as an index into `SHARE_BUTTONS`; a link's
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
            SHARE_BUTTONS
                .iter()
                .position(|(b, _, _)| *b == n.share_channel)
                .map_or(NO_CHANNEL, |i| i as u8)
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
            i => SHARE_BUTTONS
                .get(i as usize)
                .map(|(b, _, _)| b.to_string())
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
}

impl Default for TokenIndex {
    fn default() -> Self {
        TokenIndex::with_capacity(MAX_TOKENS)
    }
}

impl TokenIndex {
    pub fn with_capacity(max_tokens: usize) -> Self {
        TokenIndex {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_generation: (max_tokens / SHARDS / 2).max(1),
            misses: Mutex::new(HashSet::new()),
            lookups: Arc::new(Semaphore::new(LOOKUPS)),
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
        if let Some(n) = self.get(token) {
            return Some(n);
        }
        if self.misses.lock().ok()?.contains(&token) {
            return None;
        }
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
