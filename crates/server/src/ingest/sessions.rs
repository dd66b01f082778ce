//! Visits ("sessions"): a visitor's events with less than 30 minutes between them.
//!
//! Kept in memory, sharded to keep lock hold times short. Each entry holds the visit-level
//! fields (classification, UTM, device, …) computed once, on the visit's first event, and
//! copied onto every later event of the visit. After a restart, ongoing visits start anew
//! (their next event opens a new visit); see README "Durability".
//!
//! With several nodes (`Sessions::shared`), the table is also the one door to the visits
//! they share through the metadata store (`ingest::shared`): [`Sessions::visit`] adopts a
//! visit another node holds, claims the visits it opens (joining another node's when that
//! one won), and [`Sessions::claim_survey`] claims a visit's survey answer for the
//! cluster. The ingest path calls these two and knows nothing of the sharing.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use lucarne_store::meta::LiveVisit;

use super::shared::{decode, encode, live_since, Broker};

pub const SESSION_TIMEOUT_MINUTES: i64 = 30;
const SHARDS: usize = 16;
/// Bytes of live visits remembered at most (their fields as stored, plus the table's
/// own cost): a flood of distinct visitors with the longest fields cannot exhaust memory.
/// Past it, a shard forgets its idle visits, then, if still full, all of its visits
/// (their next events open new visits: counted, slightly over-split; the forgetting is
/// counted in `lucarne_cache_evictions_total{cache="visits"}`).
pub const DEFAULT_VISIT_BYTES: usize = 256 << 20;

/// What one entry costs: the key, the entry, the map's control byte, and its strings.
fn entry_bytes(e: &Entry) -> usize {
    std::mem::size_of::<((u32, u64), Entry)>() + 1 + e.fields.heap_bytes()
}

/// One shard: its visits and what they cost.
#[derive(Default)]
struct Shard {
    map: HashMap<(u32, u64), Entry>,
    bytes: usize,
}

impl Shard {
    fn get(&self, k: &(u32, u64)) -> Option<&Entry> {
        self.map.get(k)
    }
    fn get_mut(&mut self, k: &(u32, u64)) -> Option<&mut Entry> {
        self.map.get_mut(k)
    }
    fn insert(&mut self, k: (u32, u64), e: Entry) {
        self.bytes += entry_bytes(&e);
        if let Some(old) = self.map.insert(k, e) {
            self.bytes = self.bytes.saturating_sub(entry_bytes(&old));
        }
    }
    fn retain(&mut self, mut keep: impl FnMut(&Entry) -> bool) {
        let mut bytes = 0;
        self.map.retain(|_, e| {
            let k = keep(e);
            if k {
                bytes += entry_bytes(e);
            }
            k
        });
        self.bytes = bytes;
    }
    fn clear(&mut self) {
        self.map.clear();
        self.map.shrink_to_fit();
        self.bytes = 0;
    }
    fn len(&self) -> usize {
        self.map.len()
    }
}

/// The visit-level fields the table keeps per visit: the row's own [`Visit`] part.
///
/// [`Visit`]: lucarne_core::event::Visit
pub type VisitFields = lucarne_core::event::Visit;

struct Entry {
    session_id: u64,
    last_seen: DateTime<Utc>,
    fields: VisitFields,
    /// The visit has answered the survey.
    surveyed: bool,
}

/// The visit an event belongs to.
pub struct Visit {
    pub visitor_id: u64,
    pub session_id: u64,
    /// This event opened the visit.
    pub is_new: bool,
    pub fields: VisitFields,
}

/// (site, visitor) → (visit, last event time).
type Touched = HashMap<(u32, u64), (u64, DateTime<Utc>)>;

pub struct Sessions {
    shards: Vec<Mutex<Shard>>,
    per_shard_bytes: usize,
    /// Shards forgotten whole because they were full of live visits.
    evictions: std::sync::atomic::AtomicU64,
    /// Visits shared with other nodes (`ingest::shared`): the visits touched since the
    /// last write-back, by (site, visitor): their visit and last event time.
    touched: Option<Mutex<Touched>>,
    /// The shared table's lookups and claims (with `touched`, on a shared table).
    broker: Option<Broker>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::with_bytes(DEFAULT_VISIT_BYTES)
    }
}

fn timeout() -> Duration {
    Duration::minutes(SESSION_TIMEOUT_MINUTES)
}

impl Sessions {
    /// A table holding at most about `bytes` of live visits.
    pub fn with_bytes(bytes: usize) -> Self {
        Sessions {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard_bytes: (bytes / SHARDS).max(1),
            evictions: std::sync::atomic::AtomicU64::new(0),
            touched: None,
            broker: None,
        }
    }

    /// A table whose visits are shared with other nodes through `broker`: it looks up
    /// and claims visits there ([`Sessions::visit`]) and remembers which visits it touched
    /// so they can be written back ([`Sessions::drain_touched`]).
    pub fn shared(bytes: usize, broker: Broker) -> Self {
        Sessions {
            touched: Some(Mutex::new(HashMap::new())),
            broker: Some(broker),
            ..Sessions::with_bytes(bytes)
        }
    }

    /// The visit an event at `now` of the visitor (today's id, yesterday's) belongs to:
    /// the live one this node knows, else (shared) the one another node holds, else a new
    /// one with `make()`'s fields. A new visit is claimed in the shared table; when
    /// another node opened one for the visitor first, the event joins that one (same
    /// visit id and fields, not an entry). Without the shared table, or when it does not
    /// answer, the event goes on with what this node knows.
    pub async fn visit(
        &self,
        site: u32,
        (id_now, id_prev): (u64, Option<u64>),
        now: DateTime<Utc>,
        make: impl FnOnce() -> VisitFields,
    ) -> Visit {
        let Some(broker) = &self.broker else {
            return self.touch(site, id_now, id_prev, now, make);
        };
        if !self.is_live(site, id_now, id_prev, now) {
            let ids: Vec<u64> = std::iter::once(id_now).chain(id_prev).collect();
            if let Some(Some(found)) = broker.find(site, ids, live_since(now)).await {
                match decode(&found.fields) {
                    Some(fields) => self.adopt(
                        site,
                        found.visitor_id,
                        found.session_id,
                        found.last_seen,
                        fields,
                    ),
                    None => tracing::warn!(message = "Shared visit with unreadable fields."),
                }
            }
        }
        let visit = self.touch(site, id_now, id_prev, now, make);
        if !visit.is_new {
            return visit;
        }
        let mine = LiveVisit {
            visitor_id: visit.visitor_id,
            session_id: visit.session_id,
            last_seen: now,
            fields: encode(&visit.fields),
        };
        let Some(won) = broker.claim(site, mine).await else {
            return visit;
        };
        if won.session_id == visit.session_id {
            return visit;
        }
        let Some(theirs) = decode(&won.fields) else {
            tracing::warn!(message = "Shared visit with unreadable fields.");
            return visit;
        };
        self.adopt(
            site,
            visit.visitor_id,
            won.session_id,
            now.max(won.last_seen),
            theirs.clone(),
        );
        self.note_touch(site, visit.visitor_id, won.session_id, now);
        Visit {
            visitor_id: visit.visitor_id,
            session_id: won.session_id,
            is_new: false,
            fields: theirs,
        }
    }

    /// Has the visitor (today's id, yesterday's) a live visit, here or (shared) on another
    /// node? Opens none; a visit found on another node is taken as this node's own.
    pub async fn live(
        &self,
        site: u32,
        (id_now, id_prev): (u64, Option<u64>),
        now: DateTime<Utc>,
    ) -> bool {
        if self.is_live(site, id_now, id_prev, now) {
            return true;
        }
        let Some(broker) = &self.broker else {
            return false;
        };
        let ids: Vec<u64> = std::iter::once(id_now).chain(id_prev).collect();
        match broker.find(site, ids, live_since(now)).await {
            Some(Some(found)) => match decode(&found.fields) {
                Some(fields) => {
                    self.adopt(
                        site,
                        found.visitor_id,
                        found.session_id,
                        found.last_seen,
                        fields,
                    );
                    true
                }
                None => false,
            },
            _ => false,
        }
    }

    /// One survey answer per visit: `false` if the visit has answered already. This node
    /// knows from its table; nodes sharing visits also claim the answer in the metadata
    /// store, so a second answer sent through another node is refused too.
    pub async fn claim_survey(
        &self,
        site: u32,
        visitor: u64,
        session_id: u64,
        at: DateTime<Utc>,
    ) -> bool {
        if !self.claim_survey_here(site, visitor, session_id) {
            return false;
        }
        match &self.broker {
            Some(broker) => broker.claim_survey(site, session_id, at).await,
            None => true,
        }
    }

    /// Undo [`Sessions::claim_survey`] (the answer was not stored).
    pub async fn release_survey(&self, site: u32, visitor: u64, session_id: u64) {
        self.release_survey_here(site, visitor, session_id);
        if let Some(broker) = &self.broker {
            broker.release_survey(site, session_id).await;
        }
    }

    /// Bytes of live visits held now.
    pub fn bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.bytes))
            .sum()
    }

    /// Shards forgotten whole because they were full (since start).
    pub fn evictions(&self) -> u64 {
        self.evictions.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn is_shared(&self) -> bool {
        self.touched.is_some()
    }

    fn note_touch(&self, site: u32, visitor: u64, session_id: u64, at: DateTime<Utc>) {
        if let Some(Ok(mut t)) = self.touched.as_ref().map(|m| m.lock()) {
            let e = t.entry((site, visitor)).or_insert((session_id, at));
            if e.0 != session_id || e.1 < at {
                *e = (session_id, at);
            }
        }
    }

    /// The visits touched since the last call: (site, visitor, visit, last event time).
    pub fn drain_touched(&self) -> Vec<(u32, u64, u64, DateTime<Utc>)> {
        match self.touched.as_ref().map(|m| m.lock()) {
            Some(Ok(mut t)) => t
                .drain()
                .map(|((site, visitor), (session, at))| (site, visitor, session, at))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Put back touches that could not be written (newer ones win).
    pub fn requeue_touched(&self, touched: Vec<(u32, u64, u64, DateTime<Utc>)>) {
        if let Some(Ok(mut t)) = self.touched.as_ref().map(|m| m.lock()) {
            for (site, visitor, session, at) in touched {
                t.entry((site, visitor)).or_insert((session, at));
            }
        }
    }

    /// Does this node know a live visit of the visitor (under either id)?
    fn is_live(&self, site: u32, id_now: u64, id_prev: Option<u64>, now: DateTime<Utc>) -> bool {
        std::iter::once(id_now).chain(id_prev).any(|id| {
            self.shard(id).lock().is_ok_and(|shard| {
                shard
                    .get(&(site, id))
                    .is_some_and(|e| now - e.last_seen < timeout())
            })
        })
    }

    /// Take a visit another node holds (found in the shared table) as this node's own.
    fn adopt(
        &self,
        site: u32,
        visitor: u64,
        session_id: u64,
        last_seen: DateTime<Utc>,
        fields: VisitFields,
    ) {
        if let Ok(mut shard) = self.shard(visitor).lock() {
            if shard.bytes >= self.per_shard_bytes {
                // The same bound as for a new visit on this node.
                shard.retain(|e| last_seen - e.last_seen < timeout());
                if shard.bytes >= self.per_shard_bytes / 10 * 9 {
                    shard.clear();
                    self.evictions
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let surveyed = shard
                .get(&(site, visitor))
                .is_some_and(|e| e.session_id == session_id && e.surveyed);
            shard.insert(
                (site, visitor),
                Entry {
                    session_id,
                    last_seen,
                    fields,
                    surveyed,
                },
            );
        }
    }

    fn shard(&self, visitor: u64) -> &Mutex<Shard> {
        &self.shards[(visitor as usize) % SHARDS]
    }

    /// Find the visitor's live visit (under today's id, or under yesterday's id for a visit
    /// that spans midnight UTC) or open a new one with `make()`'s fields.
    pub fn touch(
        &self,
        site: u32,
        id_now: u64,
        id_prev: Option<u64>,
        now: DateTime<Utc>,
        make: impl FnOnce() -> VisitFields,
    ) -> Visit {
        for id in std::iter::once(id_now).chain(id_prev) {
            let Ok(mut shard) = self.shard(id).lock() else {
                continue;
            };
            if let Some(e) = shard.get_mut(&(site, id)) {
                if now - e.last_seen < timeout() {
                    if now > e.last_seen {
                        e.last_seen = now;
                    }
                    let visit = Visit {
                        visitor_id: id,
                        session_id: e.session_id,
                        is_new: false,
                        fields: e.fields.clone(),
                    };
                    drop(shard);
                    self.note_touch(site, id, visit.session_id, now);
                    return visit;
                }
            }
        }
        let fields = make();
        let session_id = rand::random::<u64>();
        if let Ok(mut shard) = self.shard(id_now).lock() {
            if shard.bytes >= self.per_shard_bytes {
                shard.retain(|e| now - e.last_seen < timeout());
                // Unless a tenth of the room came back, forget the shard: otherwise every
                // new visit would scan it again.
                if shard.bytes >= self.per_shard_bytes / 10 * 9 {
                    tracing::warn!(
                        message = "Visit table full; forgetting a shard of live visits.",
                        visits = shard.len(),
                        bytes = shard.bytes
                    );
                    shard.clear();
                    self.evictions
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
            shard.insert(
                (site, id_now),
                Entry {
                    session_id,
                    last_seen: now,
                    fields: fields.clone(),
                    surveyed: false,
                },
            );
        }
        self.note_touch(site, id_now, session_id, now);
        Visit {
            visitor_id: id_now,
            session_id,
            is_new: true,
            fields,
        }
    }

    /// Mark the visit as having answered the survey; `false` if it had already. (A visit
    /// this node does not know, after a restart or on another node, is let through; the
    /// survey report counts the first answer of each visit anyway.)
    fn claim_survey_here(&self, site: u32, visitor: u64, session_id: u64) -> bool {
        let Ok(mut shard) = self.shard(visitor).lock() else {
            return true;
        };
        match shard.get_mut(&(site, visitor)) {
            Some(e) if e.session_id == session_id => !std::mem::replace(&mut e.surveyed, true),
            _ => true,
        }
    }

    /// Undo [`Sessions::claim_survey_here`].
    fn release_survey_here(&self, site: u32, visitor: u64, session_id: u64) {
        if let Ok(mut shard) = self.shard(visitor).lock() {
            if let Some(e) = shard.get_mut(&(site, visitor)) {
                if e.session_id == session_id {
                    e.surveyed = false;
                }
            }
        }
    }

    /// Forget visits idle for longer than the timeout; returns how many remain.
    pub fn sweep(&self, now: DateTime<Utc>) -> usize {
        let mut live = 0;
        for s in &self.shards {
            if let Ok(mut m) = s.lock() {
                m.retain(|e| now - e.last_seen < timeout());
                live += m.len();
            }
        }
        live
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lucarne_core::{ChannelGroup, Evidence};

    fn fields(ch: &str) -> VisitFields {
        VisitFields {
            entry_page: "/".into(),
            channel: ch.into(),
            channel_group: ChannelGroup::Direct,
            evidence: Evidence::None,
            ..Default::default()
        }
    }

    #[test]
    fn visits_end_after_30_idle_minutes() {
        let s = Sessions::default();
        let t0: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
        let a = s.touch(1, 42, None, t0, || fields("whatsapp"));
        assert!(a.is_new);
        let b = s.touch(1, 42, None, t0 + Duration::minutes(29), || fields("google"));
        assert!(!b.is_new);
        assert_eq!(b.session_id, a.session_id);
        assert_eq!(
            b.fields.channel, "whatsapp",
            "visit-level fields come from the first event"
        );
        let c = s.touch(1, 42, None, t0 + Duration::minutes(60), || fields("google"));
        assert!(c.is_new);
        assert_ne!(c.session_id, a.session_id);
        // Another site, same visitor hash: another visit.
        assert!(s.touch(2, 42, None, t0, || fields("x")).is_new);
    }

    #[test]
    fn visit_continues_across_salt_rotation() {
        let s = Sessions::default();
        let t0: DateTime<Utc> = "2024-05-01T23:55:00Z".parse().unwrap();
        let a = s.touch(1, 7, None, t0, || fields("email"));
        let b = s.touch(1, 8, Some(7), t0 + Duration::minutes(10), || fields("x"));
        assert!(!b.is_new);
        assert_eq!(b.session_id, a.session_id);
        assert_eq!(b.visitor_id, 7);
    }

    #[test]
    fn the_table_is_bounded_in_bytes() {
        let budget = 1 << 20;
        let s = Sessions::with_bytes(budget);
        let t0: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
        let big = |c: &str| VisitFields {
            entry_page: "/".repeat(1000),
            referrer: "r".repeat(500),
            utm_campaign: "c".repeat(500),
            ..fields(c)
        };
        for v in 0..10_000u64 {
            s.touch(1, v, None, t0, || big("a"));
        }
        // At most one visit over each shard's share.
        assert!(
            s.bytes() <= budget + SHARDS * 4096,
            "{} bytes kept",
            s.bytes()
        );
        assert!(s.evictions() > 0, "full shards were forgotten and counted");
        // Idle visits go first: after the timeout, new visits fit without a purge.
        let later = t0 + Duration::minutes(31);
        let before = s.evictions();
        assert!(s.touch(1, 99_999, None, later, || fields("b")).is_new);
        assert_eq!(s.sweep(later), 1);
        assert_eq!(s.evictions(), before);
        assert!(s.bytes() < 4096);
    }

    #[test]
    fn one_survey_answer_per_visit() {
        let s = Sessions::default();
        let t0: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
        let a = s.touch(1, 5, None, t0, || fields("a"));
        assert!(s.claim_survey_here(1, 5, a.session_id));
        assert!(!s.claim_survey_here(1, 5, a.session_id));
        s.release_survey_here(1, 5, a.session_id);
        assert!(s.claim_survey_here(1, 5, a.session_id));
        assert!(!s.claim_survey_here(1, 5, a.session_id));
        // A new visit may answer again.
        let b = s.touch(1, 5, None, t0 + Duration::minutes(45), || fields("a"));
        assert!(s.claim_survey_here(1, 5, b.session_id));
    }

    #[test]
    fn sweep_forgets_idle_visits() {
        let s = Sessions::default();
        let t0: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
        s.touch(1, 1, None, t0, || fields("a"));
        s.touch(1, 2, None, t0 + Duration::minutes(20), || fields("a"));
        assert_eq!(s.sweep(t0 + Duration::minutes(40)), 1);
    }
}
