//! Share cascades: trees of visits linked by share tokens, and the metrics over them.
//!
//! Pure functions over the rows a store returns for a period (ARCHITECTURE.md, "Share
//! tokens and cascades"): [`EdgeRow`]s (a visit that arrived through a linked token),
//! [`VisitRow`]s (entry rows of the roots, or of any visit whose details are known) and
//! [`ShareRow`]s (share and copy events, each minting a token).
//!
//! **Clean graph.** Every function first normalises the edge list, so malformed data can
//! neither loop nor panic:
//! - an edge with `parent_session == 0` (not linked) or `session == parent_session`
//!   (self-loop) is ignored;
//! - a session that is the child of several edges keeps one: the earliest by
//!   `(ts, parent_session, parent_token)`, then input order;
//! - each cycle of parent links loses one edge: the incoming edge of the cycle's smallest
//!   session, which becomes a root.
//!
//! After that every visit has at most one parent and the graph is a forest, so every
//! kept edge lands in exactly one cascade of [`build`].
//!
//! **Cascade.** A tree rooted at a visit that is a parent but not a child in the period
//! (a generation-0 visit normally; a visit whose own edge lies outside the period is a
//! root too, see [`Cascade::is_fragment`]). A root's first generation is split by landing
//! page: one [`Cascade`] per (root, landing page of the generation-1 visit), holding all
//! descendants of those visits. `size` = share-visits (edges) in it, `depth` = the
//! largest generation below the root (relative: a root's children are 1), `breadth` = the
//! most share-visits in one relative generation.

use std::collections::{BTreeMap, HashSet};

use crate::token::{is_private_share, is_public_share};
use chrono::{DateTime, Utc};

/// Share channel of a visit whose token was the parent's visit token, taken from the
/// address bar (`visit:share_channel`).
pub const ADDRESS_BAR: &str = "address-bar";

/// A visit that arrived through a linked token: an edge parent visit → this visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeRow {
    /// The child visit.
    pub session: u64,
    /// The visit that minted `parent_token`.
    pub parent_session: u64,
    /// The token the child arrived with.
    pub parent_token: u64,
    /// The child's generation (parent's + 1).
    pub generation: u16,
    /// When the child visit began.
    pub ts: DateTime<Utc>,
    /// The child's landing page.
    pub landing_page: String,
    /// The child visit's channel, e.g. `whatsapp`, `copied-link`.
    pub channel: String,
    /// How the token travelled: a button id (`whatsapp`, `copy`, `native`, `facebook`…),
    /// `address-bar` or `copied-text`.
    pub share_channel: String,
}

/// The entry row of a visit: a cascade root (generation 0) or any visit whose details
/// are known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisitRow {
    pub session: u64,
    pub ts: DateTime<Utc>,
    pub entry_page: String,
    pub channel: String,
    pub generation: u16,
}

/// A share or copy event: a token minted by a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareRow {
    /// The visit that shared.
    pub session: u64,
    /// The token placed in the shared link.
    pub token: u64,
    /// The button id, or `copied-text`.
    pub share_channel: String,
    pub page: String,
    pub ts: DateTime<Utc>,
}

/// One visit of a cascade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub session: u64,
    /// Index of the parent in [`Cascade::nodes`]; `None` for the root (index 0).
    pub parent: Option<usize>,
    /// The visit's generation as stored (absolute; a fragment's root may be > 0).
    pub generation: u16,
    /// Distance from the cascade's root (root 0, its children 1, …), from the tree itself.
    pub depth: u32,
    /// When the visit began. A root without a known visit row carries the earliest time
    /// of its children.
    pub ts: DateTime<Utc>,
    /// Landing page (the root's entry page; empty when unknown).
    pub page: String,
    /// The visit's channel (empty when unknown).
    pub channel: String,
    /// How the visit's token travelled (empty for a root whose own edge is not in the
    /// period).
    pub share_channel: String,
    /// The token the visit arrived with (0 when none is known).
    pub parent_token: u64,
}

/// A share cascade: a tree of visits, root first, in breadth-first order (children of a
/// node in order of arrival).
#[derive(Debug, Clone, PartialEq)]
pub struct Cascade {
    /// The root visit's session.
    pub root: u64,
    /// The landing page of the first generation. For a [`subtree`] whose first generation
    /// landed on several pages (or that has none): the root's own page, or empty.
    pub page: String,
    /// What is known of the root visit: its entry row, or the row of its own edge.
    pub root_visit: Option<VisitRow>,
    pub nodes: Vec<Node>,
    /// Share-visits (edges): `nodes.len() - 1`.
    pub size: usize,
    /// Largest relative generation below the root (0 for a lone root).
    pub depth: u32,
    /// Most share-visits in one relative generation (0 for a lone root).
    pub breadth: usize,
    /// Earliest visit time in the cascade (root included).
    pub first_ts: DateTime<Utc>,
    /// Latest visit time in the cascade.
    pub last_ts: DateTime<Utc>,
}

impl Cascade {
    /// True when the root is not a generation-0 visit: its own edge lies outside the
    /// period, so this cascade continues an earlier one.
    pub fn is_fragment(&self) -> bool {
        self.nodes.first().is_some_and(|n| n.generation > 0)
    }
}

/// Where a drill-down ([`subtree`]) starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// A visit and its whole subtree (all pages).
    Session(u64),
    /// A token: the visits that arrived through it and their descendants, under the
    /// token's owner visit.
    Token(u64),
}

/// No index (no kept edge, no visit row).
const NONE: u32 = u32::MAX;
/// A breadth-first walk of a cascade: (kept edge, parent node, depth) per node.
type Walk = Vec<(u32, u32, u32)>;
/// [`build`] makes the nodes of graphs with at least this many kept edges on several
/// threads (at most [`MAX_THREADS`]).
const PARALLEL_EDGES: usize = 20_000;
const MAX_THREADS: usize = 4;

/// Session → dense index: open addressing with linear probing, at most half full.
/// Sessions are random 64-bit values (or small integers in tests); a multiply-xorshift
/// mix spreads both.
struct SessionIndex {
    /// (session, dense index); `NONE` marks a free slot.
    slots: Vec<(u64, u32)>,
    mask: usize,
    len: u32,
}

impl SessionIndex {
    fn with_capacity(sessions: usize) -> Self {
        let size = sessions.saturating_mul(2).next_power_of_two().max(16);
        SessionIndex {
            slots: vec![(0, NONE); size],
            mask: size - 1,
            len: 0,
        }
    }

    /// Twice the slots, every session placed again.
    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        let size = old.len() * 2;
        self.slots = vec![(0, NONE); size];
        self.mask = size - 1;
        for (session, value) in old {
            if value != NONE {
                let mut i = self.home(session);
                while self.slots[i].1 != NONE {
                    i = (i + 1) & self.mask;
                }
                self.slots[i] = (session, value);
            }
        }
    }

    fn home(&self, session: u64) -> usize {
        let x = (session ^ (session >> 32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        ((x ^ (x >> 29)) as usize) & self.mask
    }

    /// The index of `session`, given the next free one when new.
    fn intern(&mut self, session: u64) -> u32 {
        if (self.len as usize + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mut i = self.home(session);
        loop {
            let (key, value) = self.slots[i];
            if value == NONE {
                self.slots[i] = (session, self.len);
                self.len += 1;
                return self.len - 1;
            }
            if key == session {
                return value;
            }
            i = (i + 1) & self.mask;
        }
    }

    fn get(&self, session: u64) -> Option<u32> {
        let mut i = self.home(session);
        loop {
            let (key, value) = self.slots[i];
            if value == NONE {
                return None;
            }
            if key == session {
                return Some(value);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn len(&self) -> usize {
        self.len as usize
    }
}

/// The normalised edge list (see the module documentation), over dense visit indices:
/// every session of a kept edge or of a visit row has an index, and per index its kept
/// incoming edge, its children and its visit row.
struct Graph<'a> {
    edges: &'a [EdgeRow],
    visits: &'a [VisitRow],
    /// Session → dense index.
    index: SessionIndex,
    /// Dense index → the kept edge that brought the visit (`NONE`: not a child).
    parent_edge: Vec<u32>,
    /// Children of dense index `p`: kept edges `child_edges[child_start[p]..child_start[p + 1]]`,
    /// ordered by `(ts, session)`.
    child_start: Vec<u32>,
    child_edges: Vec<u32>,
    /// Kept edge → dense index of its child visit (`NONE` for edges not kept).
    edge_child: Vec<u32>,
    /// All kept edges ordered by `(ts, session)`.
    kept: Vec<u32>,
    /// Dense index → its visit row, the earliest when repeated (`NONE`: none).
    visit: Vec<u32>,
}

impl<'a> Graph<'a> {
    fn new(edges: &'a [EdgeRow], visits: &'a [VisitRow]) -> Self {
        let mut index = SessionIndex::with_capacity(edges.len() + visits.len());
        let mut intern = |session: u64| index.intern(session);
        // One incoming edge per child: the earliest by (ts, parent_session, parent_token),
        // then input order.
        let mut edge_child = vec![NONE; edges.len()];
        let mut edge_parent = vec![NONE; edges.len()];
        let mut parent_edge: Vec<u32> = Vec::with_capacity(edges.len());
        for (i, e) in edges.iter().enumerate() {
            if e.parent_session == 0 || e.session == e.parent_session {
                continue;
            }
            let c = intern(e.session);
            let p = intern(e.parent_session);
            edge_child[i] = c;
            edge_parent[i] = p;
            let n = c.max(p) as usize + 1;
            if parent_edge.len() < n {
                parent_edge.resize(n, NONE);
            }
            let kept = parent_edge[c as usize];
            if kept == NONE || {
                let k = &edges[kept as usize];
                (e.ts, e.parent_session, e.parent_token) < (k.ts, k.parent_session, k.parent_token)
            } {
                parent_edge[c as usize] = i as u32;
            }
        }
        let mut visit: Vec<u32> = Vec::new();
        for (j, v) in visits.iter().enumerate() {
            let s = intern(v.session) as usize;
            if visit.len() <= s {
                visit.resize(s + 1, NONE);
            }
            if visit[s] == NONE || v.ts < visits[visit[s] as usize].ts {
                visit[s] = j as u32;
            }
        }
        let n = index.len();
        parent_edge.resize(n, NONE);
        visit.resize(n, NONE);
        break_cycles(edges, &edge_parent, &mut parent_edge);
        for (i, c) in edge_child.iter_mut().enumerate() {
            if *c != NONE && parent_edge[*c as usize] != i as u32 {
                *c = NONE;
            }
        }

        // Kept edges by (ts, session) (sorted on plain integer keys; input that is already
        // in that order costs one pass); children lists in that order.
        let mut order: Vec<(i64, u32, u64, u32)> = edge_child
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != NONE)
            .map(|(i, _)| {
                let e = &edges[i];
                (
                    e.ts.timestamp(),
                    e.ts.timestamp_subsec_nanos(),
                    e.session,
                    i as u32,
                )
            })
            .collect();
        order.sort_unstable();
        let kept: Vec<u32> = order.iter().map(|k| k.3).collect();
        drop(order);
        let mut child_start = vec![0u32; n + 1];
        for &e in &kept {
            child_start[edge_parent[e as usize] as usize + 1] += 1;
        }
        for p in 0..n {
            child_start[p + 1] += child_start[p];
        }
        let mut fill: Vec<u32> = child_start[..n].to_vec();
        let mut child_edges = vec![0u32; kept.len()];
        for &e in &kept {
            let p = edge_parent[e as usize] as usize;
            child_edges[fill[p] as usize] = e;
            fill[p] += 1;
        }
        Graph {
            edges,
            visits,
            index,
            parent_edge,
            child_start,
            child_edges,
            edge_child,
            kept,
            visit,
        }
    }

    fn id(&self, session: u64) -> Option<usize> {
        self.index.get(session).map(|i| i as usize)
    }

    /// Kept edges of the visit with dense index `id`, by `(ts, session)`.
    fn children_of(&self, id: usize) -> &[u32] {
        let (a, b) = (self.child_start[id], self.child_start[id + 1]);
        &self.child_edges[a as usize..b as usize]
    }

    /// Kept edges whose parent is `session`, by `(ts, session)`.
    fn children(&self, session: u64) -> &[u32] {
        self.id(session).map_or(&[], |i| self.children_of(i))
    }

    /// Is `session` the child of a kept edge?
    fn is_child(&self, session: u64) -> bool {
        self.id(session)
            .is_some_and(|i| self.parent_edge[i] != NONE)
    }

    /// Sessions that are the parent of at least one kept edge.
    fn parents(&self) -> impl Iterator<Item = u64> + '_ {
        self.kept
            .iter()
            .map(|&e| self.edges[e as usize].parent_session)
            .collect::<HashSet<u64>>()
            .into_iter()
    }

    /// Kept edges in a deterministic order: `(ts, session)`.
    fn kept_sorted(&self) -> Vec<usize> {
        self.kept.iter().map(|&e| e as usize).collect()
    }

    fn knows(&self, session: u64) -> bool {
        self.id(session).is_some_and(|i| {
            self.parent_edge[i] != NONE || self.visit[i] != NONE || !self.children_of(i).is_empty()
        })
    }

    /// What is known of a visit: its visit row, else the row of its own kept edge.
    fn visit_info(&self, session: u64) -> Option<VisitRow> {
        let i = self.id(session)?;
        if self.visit[i] != NONE {
            return Some(self.visits[self.visit[i] as usize].clone());
        }
        (self.parent_edge[i] != NONE).then(|| {
            let e = &self.edges[self.parent_edge[i] as usize];
            VisitRow {
                session,
                ts: e.ts,
                entry_page: e.landing_page.clone(),
                channel: e.channel.clone(),
                generation: e.generation,
            }
        })
    }

    fn node(&self, edge: usize, parent: usize, depth: u32) -> Node {
        let e = &self.edges[edge];
        Node {
            session: e.session,
            parent: Some(parent),
            generation: e.generation,
            depth,
            ts: e.ts,
            page: e.landing_page.clone(),
            channel: e.channel.clone(),
            share_channel: e.share_channel.clone(),
            parent_token: e.parent_token,
        }
    }

    /// The cascade of `root` whose first generation is `first` (kept edges whose parent
    /// is `root`). `page` None: derived (see [`Cascade::page`]).
    fn grow(&self, root: u64, first: &[u32], page: Option<String>) -> Cascade {
        self.make(root, &self.walk(first), page)
    }

    /// The breadth-first walk of a cascade whose first generation is `first`: per node
    /// (kept edge, index of the parent node, depth), the root first (`NONE`, 0, 0).
    /// After normalisation the kept edges form a forest, so the walk meets each visit once.
    fn walk(&self, first: &[u32]) -> Walk {
        let mut walk: Walk = Vec::with_capacity(first.len() + 1);
        walk.push((NONE, 0, 0));
        walk.extend(first.iter().map(|&e| (e, 0, 1)));
        let mut head = 1;
        while head < walk.len() && walk.len() <= self.edges.len() + 1 {
            let (edge, _, depth) = walk[head];
            let child = self.edge_child[edge as usize];
            if child != NONE {
                for &e in self.children_of(child as usize) {
                    walk.push((e, head as u32, depth.saturating_add(1)));
                }
            }
            head += 1;
        }
        walk
    }

    /// The cascade of `root` from its walk ([`Graph::walk`]).
    fn make(&self, root: u64, walk: &[(u32, u32, u32)], page: Option<String>) -> Cascade {
        let info = self.visit_info(root);
        let own_edge = self
            .id(root)
            .map(|i| self.parent_edge[i])
            .filter(|&e| e != NONE)
            .map(|e| &self.edges[e as usize]);
        let mut nodes = Vec::with_capacity(walk.len().max(1));
        nodes.push(Node {
            session: root,
            parent: None,
            generation: 0,
            depth: 0,
            ts: DateTime::<Utc>::default(),
            page: String::new(),
            channel: String::new(),
            share_channel: own_edge
                .map(|e| e.share_channel.clone())
                .unwrap_or_default(),
            parent_token: own_edge.map_or(0, |e| e.parent_token),
        });
        nodes.extend(
            walk.iter()
                .skip(1)
                .map(|&(e, parent, depth)| self.node(e as usize, parent as usize, depth)),
        );
        let gen1 = 1 + walk.iter().skip(1).take_while(|w| w.2 == 1).count();

        // The root node, from what is known of it.
        let first_child = nodes.get(1..gen1).unwrap_or(&[]);
        let earliest_child = first_child.iter().map(|n| n.ts).min();
        let min_child_gen = first_child.iter().map(|n| n.generation).min();
        let page = page.or_else(|| {
            let mut pages = first_child.iter().map(|n| n.page.as_str());
            match pages.next() {
                Some(p) if pages.all(|q| q == p) => Some(p.to_string()),
                _ => None,
            }
        });
        let r = &mut nodes[0];
        match &info {
            Some(v) => {
                r.generation = v.generation;
                r.ts = v.ts;
                r.page = v.entry_page.clone();
                r.channel = v.channel.clone();
            }
            None => {
                r.generation = min_child_gen.map_or(0, |g| g.saturating_sub(1));
                r.ts = earliest_child.unwrap_or_default();
            }
        }
        let page = page.unwrap_or_else(|| nodes[0].page.clone());

        let mut per_depth: Vec<usize> = Vec::new();
        let (mut depth, mut first_ts, mut last_ts) = (0, nodes[0].ts, nodes[0].ts);
        for n in &nodes[1..] {
            let d = n.depth as usize;
            if per_depth.len() <= d {
                per_depth.resize(d + 1, 0);
            }
            per_depth[d] += 1;
            depth = depth.max(n.depth);
            first_ts = first_ts.min(n.ts);
            last_ts = last_ts.max(n.ts);
        }
        let breadth = per_depth.iter().copied().max().unwrap_or(0);
        Cascade {
            root,
            page,
            root_visit: info,
            size: nodes.len() - 1,
            depth,
            breadth,
            first_ts,
            last_ts,
            nodes,
        }
    }

    /// All cascades, largest first.
    fn cascades(&self) -> Vec<Cascade> {
        // Roots: parents that are not children (a root's session is the parent session
        // of its kept edges).
        let mut roots: Vec<(u64, usize)> = (0..self.parent_edge.len())
            .filter(|&i| self.parent_edge[i] == NONE)
            .filter_map(|i| {
                let first = *self.children_of(i).first()?;
                Some((self.edges[first as usize].parent_session, i))
            })
            .collect();
        roots.sort_unstable();
        // First every cascade's walk (small), then the nodes (most of the work: three
        // strings a node), on several threads for large graphs.
        let mut walks: Vec<(u64, String, Walk)> = Vec::with_capacity(roots.len());
        let mut by_page: Vec<u32> = Vec::new();
        for (root, i) in roots {
            // The root's children by landing page (stable: each page's list stays in
            // (ts, session) order), one cascade per page.
            by_page.clear();
            by_page.extend_from_slice(self.children_of(i));
            let page_of = |e: &u32| self.edges[*e as usize].landing_page.as_str();
            if by_page.windows(2).all(|w| page_of(&w[0]) == page_of(&w[1])) {
                walks.push((root, page_of(&by_page[0]).to_string(), self.walk(&by_page)));
                continue;
            }
            by_page.sort_by(|a, b| page_of(a).cmp(page_of(b)));
            for first in by_page.chunk_by(|a, b| page_of(a) == page_of(b)) {
                walks.push((root, page_of(&first[0]).to_string(), self.walk(first)));
            }
        }
        let make = |chunk: &[(u64, String, Walk)]| -> Vec<Cascade> {
            chunk
                .iter()
                .map(|(root, page, walk)| self.make(*root, walk, Some(page.clone())))
                .collect()
        };
        let threads = if self.kept.len() >= PARALLEL_EDGES {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(MAX_THREADS))
        } else {
            1
        };
        // Contiguous chunks of about equal numbers of nodes, the first made here, the
        // others on their own threads (or here too when no thread can be started).
        let per_thread = self.kept.len() / threads + 1;
        let mut chunks: Vec<&[(u64, String, Walk)]> = Vec::with_capacity(threads);
        let mut rest = walks.as_slice();
        while !rest.is_empty() {
            let (mut n, mut k) = (0, 0);
            while k < rest.len() && (n < per_thread || chunks.len() + 1 == threads) {
                n += rest[k].2.len();
                k += 1;
            }
            let (chunk, tail) = rest.split_at(k);
            chunks.push(chunk);
            rest = tail;
        }
        let mut out = std::thread::scope(|s| {
            let mut here = Vec::new();
            let mut handles = Vec::new();
            for (k, &chunk) in chunks.iter().enumerate() {
                let spawned = (k > 0)
                    .then(|| std::thread::Builder::new().spawn_scoped(s, move || make(chunk)))
                    .and_then(Result::ok);
                match spawned {
                    Some(h) => handles.push(h),
                    None => here.push(chunk),
                }
            }
            let mut out = Vec::with_capacity(walks.len());
            for chunk in here {
                out.extend(make(chunk));
            }
            for h in handles {
                match h.join() {
                    Ok(part) => out.extend(part),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            out
        });
        out.sort_by(|a, b| {
            b.size
                .cmp(&a.size)
                .then(a.first_ts.cmp(&b.first_ts))
                .then(a.root.cmp(&b.root))
                .then_with(|| a.page.cmp(&b.page))
        });
        out
    }
}

/// Removes one edge from each cycle of `child → parent` links: the incoming edge of the
/// cycle's smallest session. With one parent per child, each weak component holds at
/// most one cycle, so afterwards every chain of parents ends at a root.
fn break_cycles(edges: &[EdgeRow], edge_parent: &[u32], parent_edge: &mut [u32]) {
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let mut state = vec![0u8; parent_edge.len()];
    let mut cut = Vec::new();
    let mut path: Vec<u32> = Vec::new();
    for start in 0..parent_edge.len() {
        if state[start] != 0 || parent_edge[start] == NONE {
            continue;
        }
        path.clear();
        let mut cur = start as u32;
        loop {
            match state[cur as usize] {
                ON_PATH => {
                    let from = path.iter().position(|&p| p == cur).unwrap_or(0);
                    let session = |&i: &u32| edges[parent_edge[i as usize] as usize].session;
                    if let Some(smallest) = path[from..].iter().min_by_key(|i| session(i)) {
                        cut.push(*smallest);
                    }
                    break;
                }
                DONE => break,
                _ => {}
            }
            let edge = parent_edge[cur as usize];
            if edge == NONE {
                break;
            }
            state[cur as usize] = ON_PATH;
            path.push(cur);
            cur = edge_parent[edge as usize];
        }
        for &p in &path {
            state[p as usize] = DONE;
        }
    }
    for i in cut {
        parent_edge[i as usize] = NONE;
    }
}

/// All share cascades of a period, largest first (`size` descending, then earliest
/// `first_ts`, then `root`, then `page`).
///
/// Roots are the visits that are parents but not children in `edges`; `visits` supplies
/// their entry rows (`root_visit`; a root without one gets the earliest time of its
/// children and empty page and channel). One cascade per (root, landing page of the
/// generation-1 visit). Malformed input is normalised first (module documentation).
///
/// Graphs of 20,000 edges or more make their nodes on up to four threads (the result is
/// the same).
pub fn build(edges: &[EdgeRow], visits: &[VisitRow]) -> Vec<Cascade> {
    Graph::new(edges, visits).cascades()
}

/// Drill-down: the tree under one visit or one token, or `None` when nothing is known of
/// it.
///
/// - [`Start::Session`]: the visit and all its descendants, whatever their landing page
///   (`None` when the session is in neither `edges` nor `visits`);
/// - [`Start::Token`]: the visits that arrived through exactly that `parent_token` and
///   their descendants, under the token's owner (the `parent_session` of those edges;
///   should several claim it, the owner of the earliest edge, and only its edges).
///   `None` when no visit arrived through the token.
pub fn subtree(edges: &[EdgeRow], visits: &[VisitRow], start: Start) -> Option<Cascade> {
    let g = Graph::new(edges, visits);
    match start {
        Start::Session(s) => {
            if !g.knows(s) {
                return None;
            }
            Some(g.grow(s, g.children(s), None))
        }
        Start::Token(t) => {
            if t == 0 {
                return None;
            }
            let mut first: Vec<u32> = g
                .kept
                .iter()
                .copied()
                .filter(|&i| edges[i as usize].parent_token == t)
                .collect();
            let owner = edges[*first.first()? as usize].parent_session;
            first.retain(|&i| edges[i as usize].parent_session == owner);
            Some(g.grow(owner, &first, None))
        }
    }
}

/// Share metrics of a period. `None` wherever the denominator is 0.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareMetrics {
    /// Shares: share and copy events (widget buttons and copied text; a token counted
    /// once) plus address-bar tokens that brought at least one visit (distinct
    /// `parent_token` of share-visits whose share channel is `address-bar`, not already
    /// counted as a share event).
    pub shares: u64,
    /// Share-visits: visits that arrived through a linked token (edges).
    pub share_visits: u64,
    /// Visits per share = share_visits / shares.
    pub visits_per_share: Option<f64>,
    /// Reshare rate = share-visits that themselves shared (made a share or copy event, or
    /// are the parent of a share-visit) / share_visits.
    pub reshare_rate: Option<f64>,
    /// K-factor = shares made during share-visits (shares, as counted in `shares`, whose
    /// owner visit is a share-visit) / share_visits.
    pub k_factor: Option<f64>,
    /// Deepest cascade: the largest generation below a root (a root's children are 1).
    pub max_depth: u32,
    /// Mean cascade depth over all cascades.
    pub mean_depth: Option<f64>,
    /// Most share-visits in one generation of one cascade.
    pub max_breadth: u64,
    /// Number of cascades (one per root visit and landing page of its first generation).
    pub cascades: u64,
    /// Share-visits by (stored) generation, ascending.
    pub generations: Vec<(u16, u64)>,
}

fn ratio(num: u64, den: u64) -> Option<f64> {
    (den != 0).then(|| num as f64 / den as f64)
}

/// Share metrics over a period's edges and share/copy events (definitions on the fields
/// of [`ShareMetrics`]). Edges are normalised as in [`build`].
pub fn metrics(edges: &[EdgeRow], shares: &[ShareRow]) -> ShareMetrics {
    let g = Graph::new(edges, &[]);
    let kept = g.kept_sorted();
    let is_share_visit = |s: &u64| g.is_child(*s);

    // The owner visit of every counted share.
    let mut owners: Vec<u64> = Vec::new();
    let mut share_tokens: HashSet<u64> = HashSet::new();
    for s in shares {
        if s.token == 0 || share_tokens.insert(s.token) {
            owners.push(s.session);
        }
    }
    let mut bar_tokens: HashSet<u64> = HashSet::new();
    for &i in &kept {
        let e = &edges[i];
        if e.share_channel == ADDRESS_BAR
            && e.parent_token != 0
            && !share_tokens.contains(&e.parent_token)
            && bar_tokens.insert(e.parent_token)
        {
            owners.push(e.parent_session);
        }
    }
    let share_count = owners.len() as u64;
    let shares_in_share_visits = owners.iter().filter(|s| is_share_visit(s)).count() as u64;

    let resharers: HashSet<u64> = shares
        .iter()
        .map(|s| s.session)
        .chain(g.parents())
        .filter(is_share_visit)
        .collect();

    let share_visits = kept.len() as u64;
    let mut generations: BTreeMap<u16, u64> = BTreeMap::new();
    for &i in &kept {
        *generations.entry(edges[i].generation).or_default() += 1;
    }

    let cascades = g.cascades();
    let depth_sum: u64 = cascades.iter().map(|c| u64::from(c.depth)).sum();
    ShareMetrics {
        shares: share_count,
        share_visits,
        visits_per_share: ratio(share_visits, share_count),
        reshare_rate: ratio(resharers.len() as u64, share_visits),
        k_factor: ratio(shares_in_share_visits, share_visits),
        max_depth: cascades.iter().map(|c| c.depth).max().unwrap_or(0),
        mean_depth: ratio(depth_sum, cascades.len() as u64),
        max_breadth: cascades.iter().map(|c| c.breadth as u64).max().unwrap_or(0),
        cascades: cascades.len() as u64,
        generations: generations.into_iter().collect(),
    }
}

/// Private and public sharing of one page.
#[derive(Debug, Clone, PartialEq)]
pub struct PageShares {
    pub page: String,
    /// Share events on the page through a private channel (`token::is_private_share`).
    pub private: u64,
    /// Share events on the page through a public button (`token::is_public_share`).
    pub public: u64,
    /// private / public.
    pub ratio: Option<f64>,
    /// Share-visits landing on the page whose share channel is a public button.
    pub public_share_visits: u64,
    /// The input: public-social visits to the page that carried no token.
    pub public_visits_without_token: u64,
    /// public_visits_without_token / (public_share_visits / public).
    pub estimated_public_shares_outside_widget: Option<f64>,
    /// estimated_public_shares_outside_widget × private / public.
    pub estimated_uncounted_private: Option<f64>,
}

/// Private/public share ratio per page, and the estimate of private shares made outside
/// the widget (which no referrer reveals).
///
/// Per page, with `private` and `public` the page's share events by channel kind (a token
/// counted once; other channels ignored), `psv` its public share-visits and `u` its
/// public-social visits without a token (`public_visits_without_token`, summed per page):
///
/// ```text
/// ratio                      = private / public
/// visits per public share    = psv / public
/// est. public shares outside = u / (psv / public)
/// est. uncounted private     = est. public shares outside × private / public
///                            = u × private / psv
/// ```
///
/// The assumption: people share a page privately and publicly outside the widget in the
/// same proportion as through it, and a public share outside the widget brings as many
/// visits as one through it. Both estimates are `None` when `public == 0` or `psv == 0`.
/// Pages are sorted by `private + public` descending, then by page.
pub fn share_ratio(
    shares: &[ShareRow],
    edges: &[EdgeRow],
    public_visits_without_token: &[(String, u64)],
) -> Vec<PageShares> {
    #[derive(Default)]
    struct Acc {
        private: u64,
        public: u64,
        psv: u64,
        untokened: u64,
    }
    let mut pages: BTreeMap<&str, Acc> = BTreeMap::new();
    let mut tokens: HashSet<u64> = HashSet::new();
    for s in shares {
        if s.token != 0 && !tokens.insert(s.token) {
            continue;
        }
        let ch = s.share_channel.as_str();
        if is_private_share(ch) {
            pages.entry(s.page.as_str()).or_default().private += 1;
        } else if is_public_share(ch) {
            pages.entry(s.page.as_str()).or_default().public += 1;
        }
    }
    let g = Graph::new(edges, &[]);
    for &i in &g.kept {
        let e = &edges[i as usize];
        if is_public_share(&e.share_channel) {
            pages.entry(e.landing_page.as_str()).or_default().psv += 1;
        }
    }
    for (page, n) in public_visits_without_token {
        let acc = pages.entry(page.as_str()).or_default();
        acc.untokened = acc.untokened.saturating_add(*n);
    }

    let mut out: Vec<PageShares> = pages
        .into_iter()
        .map(|(page, a)| {
            let estimable = a.public != 0 && a.psv != 0;
            PageShares {
                page: page.to_string(),
                private: a.private,
                public: a.public,
                ratio: ratio(a.private, a.public),
                public_share_visits: a.psv,
                public_visits_without_token: a.untokened,
                estimated_public_shares_outside_widget: estimable
                    .then(|| a.untokened as f64 * a.public as f64 / a.psv as f64),
                estimated_uncounted_private: estimable
                    .then(|| a.untokened as f64 * a.private as f64 / a.psv as f64),
            }
        })
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.private.saturating_add(p.public)));
    out
}

/// A tree layout for drawing, one point per node in node order, in unit coordinates:
/// `x` = depth / deepest depth (root at 0, deepest generation at 1), `y` = leaf order
/// (leaves evenly spaced from 0 to 1 in depth-first order, children in node order),
/// each parent centred between its first and last child. A lone column or a lone leaf
/// sits at 0 and 0.5 respectively. A parent index that does not point to an earlier node
/// is treated as no parent.
pub fn layout(c: &Cascade) -> Vec<(f32, f32)> {
    let n = c.nodes.len();
    let mut kids: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut depth: Vec<u32> = vec![0; n];
    let mut tops: Vec<usize> = Vec::new();
    for (i, node) in c.nodes.iter().enumerate() {
        match node.parent.filter(|&p| p < i) {
            Some(p) => {
                kids[p].push(i);
                depth[i] = depth[p].saturating_add(1);
            }
            None => tops.push(i),
        }
    }
    // Leaves in depth-first order.
    let mut y: Vec<f64> = vec![0.0; n];
    let mut leaves = 0usize;
    let mut stack: Vec<usize> = tops.iter().rev().copied().collect();
    while let Some(i) = stack.pop() {
        if kids[i].is_empty() {
            y[i] = leaves as f64;
            leaves += 1;
        } else {
            stack.extend(kids[i].iter().rev());
        }
    }
    // Children come after their parent, so a reverse pass places parents last.
    for i in (0..n).rev() {
        if let (Some(&first), Some(&last)) = (kids[i].first(), kids[i].last()) {
            y[i] = (y[first] + y[last]) / 2.0;
        }
    }
    let max_depth = depth.iter().copied().max().unwrap_or(0);
    (0..n)
        .map(|i| {
            let x = if max_depth == 0 {
                0.0
            } else {
                f64::from(depth[i]) / f64::from(max_depth)
            };
            let y = if leaves <= 1 {
                0.5
            } else {
                y[i] / (leaves - 1) as f64
            };
            (x as f32, y as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::collections::HashMap;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0)
            .single()
            .expect("valid time")
    }

    fn edge(
        session: u64,
        parent_session: u64,
        token: u64,
        generation: u16,
        ts: i64,
        page: &str,
        share_channel: &str,
    ) -> EdgeRow {
        EdgeRow {
            session,
            parent_session,
            parent_token: token,
            generation,
            ts: t(ts),
            landing_page: page.to_string(),
            channel: "copied-link".to_string(),
            share_channel: share_channel.to_string(),
        }
    }

    fn visit(session: u64, ts: i64, page: &str) -> VisitRow {
        VisitRow {
            session,
            ts: t(ts),
            entry_page: page.to_string(),
            channel: "direct".to_string(),
            generation: 0,
        }
    }

    fn share(session: u64, token: u64, ch: &str, page: &str) -> ShareRow {
        ShareRow {
            session,
            token,
            share_channel: ch.to_string(),
            page: page.to_string(),
            ts: t(0),
        }
    }

    fn sessions(c: &Cascade) -> Vec<u64> {
        c.nodes.iter().map(|n| n.session).collect()
    }

    fn parents(c: &Cascade) -> Vec<Option<usize>> {
        c.nodes.iter().map(|n| n.parent).collect()
    }

    #[test]
    fn chain() {
        // A(1) → B(2) → C(3): depth 2, breadth 1.
        let edges = [
            edge(3, 2, 20, 2, 20, "/p", "address-bar"),
            edge(2, 1, 10, 1, 10, "/p", "whatsapp"),
        ];
        let cs = build(&edges, &[visit(1, 0, "/p")]);
        assert_eq!(cs.len(), 1);
        let c = &cs[0];
        assert_eq!((c.root, c.page.as_str()), (1, "/p"));
        assert_eq!(sessions(c), vec![1, 2, 3]);
        assert_eq!(parents(c), vec![None, Some(0), Some(1)]);
        assert_eq!((c.size, c.depth, c.breadth), (2, 2, 1));
        assert_eq!((c.first_ts, c.last_ts), (t(0), t(20)));
        assert_eq!(c.root_visit, Some(visit(1, 0, "/p")));
        assert!(!c.is_fragment());
        assert_eq!(c.nodes[2].parent_token, 20);
        assert_eq!(c.nodes[2].share_channel, "address-bar");
        assert_eq!(layout(c), vec![(0.0, 0.5), (0.5, 0.5), (1.0, 0.5)]);
    }

    #[test]
    fn star() {
        // Root 1, five children: breadth 5, depth 1.
        let edges: Vec<EdgeRow> = (2..=6)
            .rev()
            .map(|s| edge(s, 1, 10, 1, s as i64, "/p", "whatsapp"))
            .collect();
        let cs = build(&edges, &[]);
        assert_eq!(cs.len(), 1);
        let c = &cs[0];
        assert_eq!(sessions(c), vec![1, 2, 3, 4, 5, 6]);
        assert_eq!((c.size, c.depth, c.breadth), (5, 1, 5));
        // No visit row: the root takes its earliest child's time and generation 0.
        assert_eq!(c.root_visit, None);
        assert_eq!((c.nodes[0].ts, c.nodes[0].generation), (t(2), 0));
        assert_eq!(
            layout(c),
            vec![
                (0.0, 0.5),
                (1.0, 0.0),
                (1.0, 0.25),
                (1.0, 0.5),
                (1.0, 0.75),
                (1.0, 1.0)
            ]
        );
    }

    #[test]
    fn layout_centres_parents() {
        // 1 → {2, 3}; 2 → {4, 5}; 3 is a leaf. Leaves in order: 4, 5, 3 → y 0, 0.5, 1.
        // 2 sits at (0 + 0.5) / 2 = 0.25; 1 between 2 and 3: (0.25 + 1) / 2 = 0.625.
        let edges = [
            edge(2, 1, 10, 1, 1, "/p", "sms"),
            edge(3, 1, 10, 1, 2, "/p", "sms"),
            edge(4, 2, 20, 2, 3, "/p", "sms"),
            edge(5, 2, 20, 2, 4, "/p", "sms"),
        ];
        let cs = build(&edges, &[]);
        let c = &cs[0];
        assert_eq!(sessions(c), vec![1, 2, 3, 4, 5]);
        assert_eq!(
            layout(c),
            vec![
                (0.0, 0.625),
                (0.5, 0.25),
                (0.5, 1.0),
                (1.0, 0.0),
                (1.0, 0.5)
            ]
        );
        assert_eq!(layout(c), layout(c));
    }

    #[test]
    fn two_roots_sorted_largest_first() {
        let edges = [
            edge(2, 1, 10, 1, 1, "/a", "whatsapp"),
            edge(3, 1, 10, 1, 2, "/a", "whatsapp"),
            edge(11, 10, 100, 1, 5, "/b", "telegram"),
            edge(12, 10, 100, 1, 6, "/b", "telegram"),
            edge(13, 11, 110, 2, 7, "/b", "address-bar"),
            // Same size as root 1's cascade but later: sorts after it.
            edge(21, 20, 200, 1, 8, "/c", "sms"),
            edge(22, 20, 200, 1, 9, "/c", "sms"),
        ];
        let cs = build(&edges, &[visit(1, 0, "/a"), visit(20, 3, "/c")]);
        let order: Vec<(u64, usize)> = cs.iter().map(|c| (c.root, c.size)).collect();
        assert_eq!(order, vec![(10, 3), (1, 2), (20, 2)]);
        assert_eq!(sessions(&cs[0]), vec![10, 11, 12, 13]);
        assert_eq!(parents(&cs[0]), vec![None, Some(0), Some(0), Some(1)]);
        assert_eq!((cs[0].depth, cs[0].breadth), (2, 2));
    }

    #[test]
    fn one_root_two_pages() {
        // Root 1 shares /a (→ 2, 4) and /b (→ 3 → 5; 5 landed on /a but descends from /b).
        let edges = [
            edge(2, 1, 10, 1, 1, "/a", "whatsapp"),
            edge(3, 1, 11, 1, 2, "/b", "email"),
            edge(4, 1, 10, 1, 3, "/a", "whatsapp"),
            edge(5, 3, 30, 2, 4, "/a", "address-bar"),
        ];
        let cs = build(&edges, &[visit(1, 0, "/home")]);
        assert_eq!(cs.len(), 2);
        // Equal size and first_ts (the root's): by page.
        assert_eq!((cs[0].root, cs[0].page.as_str()), (1, "/a"));
        assert_eq!(sessions(&cs[0]), vec![1, 2, 4]);
        assert_eq!((cs[0].size, cs[0].depth, cs[0].breadth), (2, 1, 2));
        assert_eq!((cs[1].root, cs[1].page.as_str()), (1, "/b"));
        assert_eq!(sessions(&cs[1]), vec![1, 3, 5]);
        assert_eq!((cs[1].size, cs[1].depth, cs[1].breadth), (2, 2, 1));
        assert_eq!(cs[1].nodes[0].page, "/home");
    }

    #[test]
    fn fragment_root() {
        // Visit 5 (generation 3) arrived before the period; its children are in it.
        let edges = [edge(6, 5, 50, 4, 10, "/p", "address-bar")];
        let mut v = visit(5, 1, "/p");
        v.generation = 3;
        let cs = build(&edges, &[v]);
        assert_eq!(cs.len(), 1);
        assert!(cs[0].is_fragment());
        assert_eq!(cs[0].nodes[0].generation, 3);
        // Without its visit row the root's generation is inferred from its children.
        let cs = build(&edges, &[]);
        assert!(cs[0].is_fragment());
        assert_eq!(cs[0].nodes[0].generation, 3);
    }

    #[test]
    fn token_drill_down() {
        // Root 1: token 100 → 2, 3; token 101 → 4; 2 → 5 through token 200.
        let edges = [
            edge(2, 1, 100, 1, 1, "/a", "whatsapp"),
            edge(3, 1, 100, 1, 2, "/a", "whatsapp"),
            edge(4, 1, 101, 1, 3, "/a", "facebook"),
            edge(5, 2, 200, 2, 4, "/b", "address-bar"),
        ];
        let visits = [visit(1, 0, "/a")];
        let c = subtree(&edges, &visits, Start::Token(100)).expect("token 100 brought visits");
        assert_eq!(c.root, 1);
        assert_eq!(sessions(&c), vec![1, 2, 3, 5]);
        assert_eq!(parents(&c), vec![None, Some(0), Some(0), Some(1)]);
        assert_eq!((c.size, c.depth, c.breadth), (3, 2, 2));
        assert_eq!(c.page, "/a");

        let c = subtree(&edges, &visits, Start::Session(2)).expect("2 is known");
        assert_eq!(sessions(&c), vec![2, 5]);
        // Root info from its own edge.
        assert_eq!(c.root_visit.as_ref().map(|v| v.generation), Some(1));
        assert_eq!(c.nodes[0].parent_token, 100);
        assert_eq!(c.page, "/b");

        let c = subtree(&edges, &visits, Start::Session(1)).expect("1 is known");
        assert_eq!(sessions(&c), vec![1, 2, 3, 4, 5]);

        let c = subtree(&edges, &visits, Start::Session(3)).expect("3 is known");
        assert_eq!(
            (sessions(&c), c.size, c.depth, c.breadth),
            (vec![3], 0, 0, 0)
        );
        assert_eq!(c.page, "/a");

        assert_eq!(subtree(&edges, &visits, Start::Token(999)), None);
        assert_eq!(subtree(&edges, &visits, Start::Token(0)), None);
        assert_eq!(subtree(&edges, &visits, Start::Session(42)), None);
    }

    #[test]
    fn cycles_and_duplicates_are_guarded() {
        let edges = [
            // Cycle 1 → 2 → 3 → 1: the edge into 1 (smallest) is dropped.
            edge(2, 1, 10, 1, 10, "/a", "sms"),
            edge(3, 2, 20, 2, 11, "/a", "sms"),
            edge(1, 3, 30, 3, 12, "/a", "sms"),
            // 5 is a child twice: the earlier edge (from 4) is kept.
            edge(5, 1, 10, 1, 5, "/a", "sms"),
            edge(5, 4, 40, 1, 1, "/z", "sms"),
            // Self-loop: ignored.
            edge(7, 7, 70, 1, 0, "/a", "sms"),
            // 8 ⇄ 9 with a tail 9 → 10: edge 9 → 8 is dropped.
            edge(9, 8, 80, 1, 20, "/c", "sms"),
            edge(8, 9, 90, 2, 21, "/c", "sms"),
            edge(10, 9, 90, 2, 22, "/c", "sms"),
            // Not linked: ignored.
            edge(11, 0, 0, 1, 0, "/a", "sms"),
            // An exact duplicate row.
            edge(10, 9, 90, 2, 22, "/c", "sms"),
        ];
        let cs = build(&edges, &[]);
        let got: Vec<(u64, Vec<u64>)> = cs.iter().map(|c| (c.root, sessions(c))).collect();
        assert_eq!(
            got,
            vec![(1, vec![1, 2, 3]), (8, vec![8, 9, 10]), (4, vec![4, 5])]
        );
        let mut all: Vec<u64> = cs.iter().flat_map(sessions).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all, vec![1, 2, 3, 4, 5, 8, 9, 10]);

        assert_eq!(
            subtree(&edges, &[], Start::Session(3)).map(|c| sessions(&c)),
            Some(vec![3])
        );
        assert_eq!(
            subtree(&edges, &[], Start::Session(9)).map(|c| sessions(&c)),
            Some(vec![9, 10])
        );
        assert_eq!(subtree(&edges, &[], Start::Session(7)), None);
        let m = metrics(&edges, &[]);
        // Kept edges: 1 → 2, 2 → 3, 4 → 5, 8 → 9, 9 → 10.
        assert_eq!(m.share_visits, 5);
    }

    #[test]
    fn metrics_known_answers() {
        // Root R = 1 (generation 0).
        // Shares: R: 100 whatsapp (twice: one token), 101 facebook, 102 telegram (no visit);
        //         C: 300 copy; D: 500 whatsapp (no visit), 501 x (no visit).
        // Edges (child ← parent via token, channel, generation, page):
        //   B=2 ← R 100 whatsapp g1 /a     C=3 ← R 100 whatsapp g1 /a
        //   D=4 ← R 101 facebook g1 /a     H=8 ← R 400 address-bar g1 /b
        //   E=5 ← B 200 address-bar g2     F=6 ← B 200 address-bar g2
        //   G=7 ← C 300 copy g2            I=9 ← G 700 address-bar g3
        //
        // shares = 6 share tokens (100, 101, 102, 300, 500, 501)
        //        + 3 address-bar tokens (200, 400, 700)                 = 9
        // share_visits = B C D H E F G I                                 = 8
        // visits_per_share = 8 / 9
        // reshare_rate: B (parent of E, F), C (300; parent of G), D (500, 501),
        //               G (parent of I) reshared                         = 4 / 8 = 0.5
        // k_factor: shares owned by share-visits: 200 (B), 300 (C), 500, 501 (D),
        //           700 (G); 100, 101, 102, 400 are R's                  = 5 / 8 = 0.625
        // Cascades: (R, /a) size 7, depth 3 (C → G → I), breadth 3 (B C D, E F G);
        //           (R, /b) size 1, depth 1, breadth 1.
        //   max_depth 3, mean_depth 2.0, max_breadth 3, cascades 2.
        // Generations: g1 B C D H = 4, g2 E F G = 3, g3 I = 1.
        let edges = [
            edge(2, 1, 100, 1, 1, "/a", "whatsapp"),
            edge(3, 1, 100, 1, 2, "/a", "whatsapp"),
            edge(4, 1, 101, 1, 3, "/a", "facebook"),
            edge(8, 1, 400, 1, 4, "/b", "address-bar"),
            edge(5, 2, 200, 2, 5, "/a", "address-bar"),
            edge(6, 2, 200, 2, 6, "/a", "address-bar"),
            edge(7, 3, 300, 2, 7, "/a", "copy"),
            edge(9, 7, 700, 3, 8, "/a", "address-bar"),
        ];
        let shares = [
            share(1, 100, "whatsapp", "/a"),
            share(1, 100, "whatsapp", "/a"),
            share(1, 101, "facebook", "/a"),
            share(1, 102, "telegram", "/a"),
            share(3, 300, "copy", "/a"),
            share(4, 500, "whatsapp", "/a"),
            share(4, 501, "x", "/a"),
        ];
        let m = metrics(&edges, &shares);
        assert_eq!(m.shares, 9);
        assert_eq!(m.share_visits, 8);
        assert_eq!(m.visits_per_share, Some(8.0 / 9.0));
        assert_eq!(m.reshare_rate, Some(0.5));
        assert_eq!(m.k_factor, Some(0.625));
        assert_eq!(m.max_depth, 3);
        assert_eq!(m.mean_depth, Some(2.0));
        assert_eq!(m.max_breadth, 3);
        assert_eq!(m.cascades, 2);
        assert_eq!(m.generations, vec![(1, 4), (2, 3), (3, 1)]);

        let empty = metrics(&[], &[]);
        assert_eq!(
            (empty.shares, empty.share_visits, empty.cascades),
            (0, 0, 0)
        );
        assert_eq!(
            (
                empty.visits_per_share,
                empty.reshare_rate,
                empty.k_factor,
                empty.mean_depth
            ),
            (None, None, None, None)
        );
        assert!(empty.generations.is_empty());
    }

    #[test]
    fn share_ratio_estimate() {
        // /a: private 4 whatsapp + copy + copied-text = 6 (token 1 repeated: once);
        //     public facebook + x = 2; ratio 3.
        //     10 share-visits through public buttons → 5 visits per public share.
        //     15 public-social visits without a token → 15 / 5 = 3 public shares outside
        //     the widget → 3 × 3 = 9 uncounted private shares.
        // /b: one private share, no public: no ratio, no estimate.
        let mut shares: Vec<ShareRow> =
            (1..=4).map(|tok| share(1, tok, "whatsapp", "/a")).collect();
        shares.push(share(1, 1, "whatsapp", "/a"));
        shares.push(share(2, 5, "copy", "/a"));
        shares.push(share(2, 6, "copied-text", "/a"));
        shares.push(share(2, 7, "facebook", "/a"));
        shares.push(share(3, 8, "x", "/a"));
        shares.push(share(3, 9, "telegram", "/b"));
        shares.push(share(3, 10, "mystery", "/b"));
        let mut edges: Vec<EdgeRow> = (0..10)
            .map(|i| {
                let (tok, ch) = if i < 6 { (7, "facebook") } else { (8, "x") };
                edge(100 + i, 2, tok, 1, i as i64, "/a", ch)
            })
            .collect();
        // Private share-visits do not count as public share-visits.
        edges.push(edge(200, 1, 1, 1, 0, "/a", "whatsapp"));
        let untokened = vec![("/a".to_string(), 15), ("/c".to_string(), 4)];
        let got = share_ratio(&shares, &edges, &untokened);
        assert_eq!(got.len(), 3);
        let a = &got[0];
        assert_eq!(a.page, "/a");
        assert_eq!((a.private, a.public, a.public_share_visits), (6, 2, 10));
        assert_eq!(a.public_visits_without_token, 15);
        assert_eq!(a.ratio, Some(3.0));
        assert_eq!(a.estimated_public_shares_outside_widget, Some(3.0));
        assert_eq!(a.estimated_uncounted_private, Some(9.0));
        let b = &got[1];
        assert_eq!((b.page.as_str(), b.private, b.public), ("/b", 1, 0));
        assert_eq!((b.ratio, b.estimated_uncounted_private), (None, None));
        let c = &got[2];
        assert_eq!((c.page.as_str(), c.public_visits_without_token), ("/c", 4));
        assert_eq!(c.estimated_public_shares_outside_widget, None);
    }

    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    #[test]
    fn random_forest_100k() {
        const EDGES: usize = 100_000;
        let pages = ["/a", "/b", "/c"];
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
        // Sessions 1.. ; a new root every so often, otherwise a child of a random
        // earlier session.
        let mut generation: Vec<u16> = vec![0, 0]; // index = session
        let mut roots: Vec<u64> = vec![1];
        let mut edges: Vec<EdgeRow> = Vec::with_capacity(EDGES);
        while edges.len() < EDGES {
            let session = generation.len() as u64;
            if rng.below(20) == 0 {
                generation.push(0);
                roots.push(session);
                continue;
            }
            let parent = 1 + rng.below(session - 1);
            let g = generation[parent as usize] + 1;
            generation.push(g);
            let page = pages[rng.below(3) as usize];
            edges.push(edge(
                session,
                parent,
                parent * 7,
                g,
                session as i64,
                page,
                "whatsapp",
            ));
        }
        // Shuffle (Fisher–Yates).
        for i in (1..edges.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            edges.swap(i, j);
        }
        let visits: Vec<VisitRow> = roots.iter().map(|&r| visit(r, r as i64, "/")).collect();
        let cs = build(&edges, &visits);

        // Expected cascades: distinct (root, page) over edges whose parent is a root.
        let parent_of: HashMap<u64, u64> = edges
            .iter()
            .map(|e| (e.session, e.parent_session))
            .collect();
        let expected: HashSet<(u64, &str)> = edges
            .iter()
            .filter(|e| !parent_of.contains_key(&e.parent_session))
            .map(|e| (e.parent_session, e.landing_page.as_str()))
            .collect();
        assert_eq!(cs.len(), expected.len());

        let mut placed: HashMap<u64, usize> = HashMap::new();
        let mut total = 0;
        for (k, c) in cs.iter().enumerate() {
            assert!(expected.contains(&(c.root, c.page.as_str())));
            assert_eq!(c.nodes[0].session, c.root);
            assert_eq!(c.nodes[0].parent, None);
            assert_eq!(c.size, c.nodes.len() - 1);
            assert!(!c.is_fragment());
            for (i, n) in c.nodes.iter().enumerate().skip(1) {
                let p = n.parent.expect("non-root has a parent");
                assert!(p < i);
                assert_eq!(parent_of.get(&n.session), Some(&c.nodes[p].session));
                assert_eq!(n.depth, c.nodes[p].depth + 1);
                assert_eq!(n.generation as u32, n.depth);
                if n.depth == 1 {
                    assert_eq!(n.page, c.page);
                }
                assert!(
                    placed.insert(n.session, k).is_none(),
                    "edge in two cascades"
                );
            }
            total += c.size;
            let pts = layout(c);
            assert_eq!(pts.len(), c.nodes.len());
            assert!(pts
                .iter()
                .all(|&(x, y)| (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y)));
        }
        assert_eq!(total, EDGES);
        assert_eq!(placed.len(), EDGES);
        assert!(cs
            .windows(2)
            .all(|w| (w[0].size, w[1].first_ts) >= (w[1].size, w[0].first_ts)));

        let m = metrics(&edges, &[]);
        assert_eq!(m.share_visits, EDGES as u64);
        assert_eq!(m.cascades, cs.len() as u64);
        assert_eq!(
            m.generations.iter().map(|&(_, n)| n).sum::<u64>(),
            EDGES as u64
        );
    }

    #[test]
    fn long_chain_does_not_overflow_the_stack() {
        let n = 50_000u64;
        let edges: Vec<EdgeRow> = (1..=n)
            .map(|s| {
                edge(
                    s + 1,
                    s,
                    s,
                    s.min(u16::MAX as u64) as u16,
                    s as i64,
                    "/p",
                    "sms",
                )
            })
            .collect();
        let cs = build(&edges, &[]);
        assert_eq!(cs.len(), 1);
        assert_eq!(
            (cs[0].size, cs[0].depth, cs[0].breadth),
            (50_000, 50_000, 1)
        );
        let pts = layout(&cs[0]);
        assert_eq!(pts[0], (0.0, 0.5));
        assert_eq!(pts[50_000], (1.0, 0.5));
    }
}
