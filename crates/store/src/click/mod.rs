//! ClickHouse events store: the scale-out back end, over ClickHouse's HTTP interface with
//! the official `clickhouse` crate (RowBinary, no validation, no compression, so it works
//! against Debian's 18.16 as well as current releases).
//!
//! `clickhouse://[user[:password]@]host:port[,host2:port2…]/database[?cluster=NAME]`:
//! one host is a single server (the table `events` is a MergeTree); several hosts, or a
//! `cluster`, are the shards of a cluster defined in the servers' `remote_servers`: each
//! host holds `events_local` and a `Distributed` table `events` over the cluster, sharded
//! by `session_id` (a visit's events are on one shard). Migrations
//! (`migrations/clickhouse/NNNN_name.sql`) run on every listed host and are recorded per
//! host in `schema_migrations`.
//!
//! # Durability
//! An event is acknowledged (202) when it is durable **on the Lucarne node**: its batch is
//! written and `fdatasync`ed in the node's spool (`spool`), exactly as with DuckDB. The
//! spool is the write-ahead log; ClickHouse is loaded behind it, about once a second
//! (≥ 20,000 rows or 1 s, ClickHouse's advice of about one insert per second per node).
//! So an acknowledged event survives a crash of the Lucarne process or of the machine
//! (it is replayed from the spool), and a ClickHouse outage (rows wait in the spool and
//! are retried; reports then fail rather than answer without them). It does not survive
//! the loss of the node's disk before its rows were loaded: keep the spool on durable
//! storage, as a database would keep its WAL.
//!
//! Once loaded, durability is ClickHouse's: an insert returns after its parts are
//! written and renamed into place, but ClickHouse 18.16 never fsyncs MergeTree parts (its
//! `system.merge_tree_settings` has no fsync setting; `fsync_after_insert` came in later
//! releases, off by default there too): the parts are in the OS page cache, so a power
//! loss of the ClickHouse machine within the kernel's write-back delay (~30 s) can lose
//! the newest parts there, after the spool has been told they are loaded. What covers
//! that is replication: `ReplicatedMergeTree` (needs ZooKeeper) with `insert_quorum` ≥ 2,
//! so an insert returns only once that many replicas hold it. With a cluster, inserts go
//! through the `Distributed` table with `insert_distributed_sync = 1` (18.16's default is
//! 0: the initiator would queue the rows in local files and acknowledge at once), so an
//! insert returns only when every shard has written its part; the spool position is
//! recorded after that, never before.
//!
//! Exactly-once loading: each row carries `load_node` (hash of the node id), `load_seq`
//! (the node's running row count) and `row_hash` (a fingerprint of the row). The position
//! row in `spool_state` (node, segment, offset, rows loaded) is written after the rows.
//! When the loader does not know what ClickHouse holds (at start-up, and after a failed
//! insert, which may have written some parts), it first reads the fingerprints of this
//! node's rows loaded since the last recorded position and skips the pending rows already
//! there (as a multiset, so partial inserts and retries of a different shape both work).

mod rollup;
mod rowbinary;
mod sql;

use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use clickhouse::{Client, Compression, Row, RowOwned, RowRead};
use lucarne_core::conversions::GoalKind;
use lucarne_core::event::EventRow;
use lucarne_core::stats::{Aggregates, Bucket, Property, ReportQuery};
use lucarne_core::token::TokenNode;
use serde::Deserialize;
use tracing::{error, info, warn};

use crate::columns::fingerprint;
use crate::events::{
    ConversionGroup, ConversionRow, FunnelGroup, FunnelRow, ShareGraph, StoreError,
    SurveyAnswerRow, VisitKey,
};
use crate::spool::{Backend, Position, Sink, Spooled};

use crate::rollups::Shape;
use rollup::ClickRolled;

pub use crate::events::PROP_SEP;
/// The loader inserts when 20,000 rows are pending or the oldest has waited this long.
pub const LOAD_INTERVAL: Duration = Duration::from_secs(1);
/// Longest a report query may take.
const QUERY_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest a mutation (`delete_site_events`) is waited for.
const MUTATION_TIMEOUT: Duration = Duration::from_secs(600);

const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        include_str!("../../migrations/clickhouse/0001_events.sql"),
    ),
    (
        2,
        include_str!("../../migrations/clickhouse/0002_spool_state.sql"),
    ),
    (
        3,
        include_str!("../../migrations/clickhouse/0003_engagement.sql"),
    ),
    (
        4,
        include_str!("../../migrations/clickhouse/0004_rollups.sql"),
    ),
];

/// A parsed `clickhouse://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClickUrl {
    pub user: Option<String>,
    pub password: Option<String>,
    /// `host:port` of each server (the shards, with a cluster).
    pub hosts: Vec<String>,
    pub database: String,
    pub cluster: Option<String>,
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn percent_decode(s: &str) -> Result<String, StoreError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| StoreError::backend("clickhouse URL: bad %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| StoreError::backend("clickhouse URL: not UTF-8"))
}

impl ClickUrl {
    pub fn parse(url: &str) -> Result<ClickUrl, StoreError> {
        let bad = |why: &str| StoreError::Backend(format!("clickhouse URL: {why}"));
        let rest = url
            .strip_prefix("clickhouse://")
            .ok_or_else(|| bad("must start with clickhouse://"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(percent_decode(u)?), Some(percent_decode(p)?)),
                None => (Some(percent_decode(u)?), None),
            },
            None => (None, None),
        };
        let hosts: Vec<String> = hosts
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_string)
            .collect();
        if hosts.is_empty() {
            return Err(bad("no host"));
        }
        for h in &hosts {
            let ok = h
                .rsplit_once(':')
                .is_some_and(|(name, port)| !name.is_empty() && port.parse::<u16>().is_ok());
            if !ok || h.contains(['/', '?', '#', '@']) {
                return Err(bad(&format!("`{h}` is not host:port")));
            }
        }
        let (db, query) = path.split_once('?').unwrap_or((path, ""));
        let database = if db.is_empty() {
            "default".to_string()
        } else {
            db.to_string()
        };
        if !is_identifier(&database) {
            return Err(bad("the database name must be letters, digits and _"));
        }
        let mut cluster = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("cluster", c)) if is_identifier(c) => cluster = Some(c.to_string()),
                _ => return Err(bad(&format!("unknown or bad parameter `{pair}`"))),
            }
        }
        if hosts.len() > 1 && cluster.is_none() {
            return Err(bad(
                "several hosts are the shards of a cluster: add ?cluster=NAME (its name in remote_servers)",
            ));
        }
        Ok(ClickUrl {
            user,
            password,
            hosts,
            database,
            cluster,
        })
    }
}

/// The connection side shared by the store (reports) and its sink (loader): a small
/// runtime of its own, so the synchronous `EventStore` methods never need the caller's.
pub(crate) struct Conn {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    /// The first host, for queries and inserts (through `events`).
    client: Client,
    /// Every host (migrations, per-shard mutations).
    hosts: Vec<Client>,
    cluster: Option<String>,
    database: String,
}

impl Drop for Conn {
    fn drop(&mut self) {
        // Never blocks (the last reference may be dropped inside an async context).
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

fn short(sql: &str) -> String {
    let s: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}

/// The crate reads `?` as a bound argument; SQL built here binds none, so every `?` is
/// literal text (inside a quoted value).
fn literal_question_marks(sql: &str) -> String {
    sql.replace('?', "??")
}

impl Conn {
    /// Run `fut` on the store's runtime and wait for it from this (non-async) thread.
    fn run<T: Send + 'static>(
        &self,
        what: &str,
        timeout: Duration,
        fut: impl Future<Output = Result<T, clickhouse::error::Error>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::channel();
        self.handle.spawn(async move {
            let out = tokio::time::timeout(timeout, fut).await;
            let _ = tx.send(out);
        });
        match rx.recv() {
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err(e))) => Err(StoreError::Backend(format!("clickhouse: {e} ({what})"))),
            Ok(Err(_)) => Err(StoreError::Backend(format!(
                "clickhouse: timed out after {} s ({what})",
                timeout.as_secs()
            ))),
            Err(_) => Err(StoreError::Closed),
        }
    }

    fn fetch<T>(&self, sql: &str) -> Result<Vec<T>, StoreError>
    where
        T: RowOwned + RowRead + Send + 'static,
    {
        let client = self.client.clone();
        let text = literal_question_marks(sql);
        self.run(&short(sql), QUERY_TIMEOUT, async move {
            client.query(&text).fetch_all::<T>().await
        })
    }

    /// The answer to `sql` in `FORMAT RowBinary`, as bytes (see `rowbinary`).
    fn fetch_bytes(&self, sql: &str) -> Result<Vec<u8>, StoreError> {
        let client = self.client.clone();
        let text = literal_question_marks(sql);
        self.run(&short(sql), QUERY_TIMEOUT, async move {
            let mut cursor = client.query(&text).fetch_bytes("RowBinary")?;
            Ok(cursor.collect().await?.to_vec())
        })
    }

    fn execute_on(&self, client: &Client, sql: &str) -> Result<(), StoreError> {
        let client = client.clone();
        let text = literal_question_marks(sql);
        self.run(&short(sql), QUERY_TIMEOUT, async move {
            client.query(&text).execute().await
        })
    }

    /// The table holding a host's own rows.
    fn local(&self, table: &str) -> String {
        if self.cluster.is_some() {
            format!("{table}_local")
        } else {
            table.to_string()
        }
    }
}

fn client_for(u: &ClickUrl, host: &str, database: Option<&str>) -> Client {
    let mut c = Client::default()
        .with_url(format!("http://{host}"))
        .with_validation(false)
        .with_compression(Compression::None);
    if let Some(db) = database {
        c = c.with_database(db);
    }
    if let Some(user) = &u.user {
        c = c.with_user(user);
    }
    if let Some(p) = &u.password {
        c = c.with_password(p);
    }
    c
}

/// Split a migration into statements: `;` at a line's end ends one; `--` lines are
/// comments, and `-- @cluster` marks the next statement as cluster-only.
/// Where a migration statement runs: on every host (the default), only with a cluster
/// (after a line `-- @cluster`), or only on the first host, once every host has the
/// earlier versions (after a line `-- @first`: statements that read the whole cluster).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hosts {
    All,
    ClusterOnly,
    First,
}

fn statements(sql: &str) -> Vec<(Hosts, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut hosts = Hosts::All;
    for line in sql.lines() {
        let t = line.trim();
        if t.starts_with("--") {
            match t {
                "-- @cluster" => hosts = Hosts::ClusterOnly,
                "-- @first" => hosts = Hosts::First,
                _ => {}
            }
            continue;
        }
        if t.is_empty() {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
        if t.ends_with(';') {
            let stmt = cur.trim().trim_end_matches(';').to_string();
            out.push((hosts, stmt));
            cur.clear();
            hosts = Hosts::All;
        }
    }
    if !cur.trim().is_empty() {
        out.push((hosts, cur.trim().to_string()));
    }
    out
}

/// Migrate every host, one version at a time on all of them (a statement of a version may
/// read the whole cluster, which needs the earlier versions on every shard).
fn migrate(conn: &Conn, u: &ClickUrl) -> Result<(), StoreError> {
    let mut current = Vec::with_capacity(u.hosts.len());
    for (host, client) in u.hosts.iter().zip(&conn.hosts) {
        let bare = client_for(u, host, None);
        conn.execute_on(
            &bare,
            &format!("CREATE DATABASE IF NOT EXISTS {}", conn.database),
        )?;
        conn.execute_on(
            client,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version UInt32, applied_at DateTime('UTC')) \
             ENGINE = MergeTree ORDER BY version",
        )?;
        let c = client.clone();
        let v: u32 = conn.run("schema version", QUERY_TIMEOUT, async move {
            c.query("SELECT toUInt32(max(version)) FROM schema_migrations")
                .fetch_one::<u32>()
                .await
        })?;
        current.push(v);
    }
    let known = MIGRATIONS.iter().map(|(v, _)| *v).max().unwrap_or(0);
    if let Some(&newest) = current.iter().max().filter(|&&v| v > known) {
        return Err(StoreError::Backend(crate::newer_schema(
            "the ClickHouse database",
            i64::from(newest),
            i64::from(known),
        )));
    }
    for (version, text) in MIGRATIONS {
        for (i, (host, client)) in u.hosts.iter().zip(&conn.hosts).enumerate() {
            if *version <= current[i] {
                continue;
            }
            info!(message = "Applying ClickHouse events migration.", version, host = %host);
            for (hosts, stmt) in statements(text) {
                let skip = match hosts {
                    Hosts::All => false,
                    Hosts::ClusterOnly => conn.cluster.is_none(),
                    Hosts::First => i > 0,
                };
                if skip {
                    continue;
                }
                let stmt = stmt
                    .replace("${events_local}", &conn.local("events"))
                    .replace("${spool_state_local}", &conn.local("spool_state"))
                    .replace("${cluster}", conn.cluster.as_deref().unwrap_or(""))
                    .replace("${database}", &conn.database);
                conn.execute_on(client, &stmt).map_err(|e| {
                    StoreError::Backend(format!("migration {version} on {host}: {e}"))
                })?;
            }
            conn.execute_on(
                client,
                &format!(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES ({version}, now())"
                ),
            )?;
        }
    }
    Ok(())
}

/// Bytes of RowBinary sent to ClickHouse at a time while a batch is inserted.
const INSERT_CHUNK: usize = 1 << 20;

fn hash64(bytes: &[u8]) -> u64 {
    let h = blake3::hash(bytes);
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

/// The loader side: inserts batches and records the spool position (module docs).
struct ClickSink {
    conn: Arc<Conn>,
    node: String,
    node_hash: u64,
    /// Rows this node had loaded at the last recorded position (next `load_seq`).
    loaded: u64,
    /// ClickHouse may hold rows past the recorded position (start-up, failed insert).
    uncertain: bool,
}

#[derive(Row, Deserialize)]
struct StateRow {
    segment: u64,
    offset: u64,
    loaded: u64,
    n: u64,
}

impl ClickSink {
    fn events_table(&self) -> &'static str {
        "events"
    }

    /// Fingerprints of this node's rows loaded since the recorded position, within the
    /// batch's time range (partition pruning), as counts.
    fn present(&self, rows: &[EventRow]) -> Result<HashMap<u64, usize>, StoreError> {
        let (Some(lo), Some(hi)) = (
            rows.iter().map(|r| rowbinary::ts_seconds(r.ts)).min(),
            rows.iter().map(|r| rowbinary::ts_seconds(r.ts)).max(),
        ) else {
            return Ok(HashMap::new());
        };
        let sql = format!(
            "SELECT row_hash FROM {} WHERE load_node = {} AND load_seq >= {} \
             AND ts >= toDateTime({lo}) AND ts <= toDateTime({hi})",
            self.events_table(),
            self.node_hash,
            self.loaded
        );
        let mut out = HashMap::new();
        for h in self.conn.fetch::<u64>(&sql)? {
            *out.entry(h).or_insert(0usize) += 1;
        }
        Ok(out)
    }

    fn load_inner(&mut self, rows: &[EventRow], pos: Position) -> Result<usize, StoreError> {
        let hashes: Vec<u64> = rows.iter().map(fingerprint).collect();
        let mut skip = vec![false; rows.len()];
        if self.uncertain {
            let mut present = self.present(rows)?;
            for (i, h) in hashes.iter().enumerate() {
                if let Some(n) = present.get_mut(h) {
                    if *n > 0 {
                        *n -= 1;
                        skip[i] = true;
                    }
                }
            }
        }
        let skipped = skip.iter().filter(|s| **s).count();
        let base = self.loaded;
        let node_hash = self.node_hash;
        let mut client = self.conn.client.clone();
        if self.conn.cluster.is_some() {
            client = client.with_option("insert_distributed_sync", "1");
        }
        if skipped < rows.len() {
            let table = self.events_table();
            let fut = async move {
                let mut insert = client
                    .insert_formatted_with(format!(
                        "INSERT INTO {table} ({}) FORMAT RowBinary",
                        rowbinary::insert_columns()
                    ))
                    .buffered();
                // Rows are encoded into the insert's buffer, which goes out a chunk of
                // about 1 MiB at a time (the whole batch is one INSERT).
                let mut chunk = Vec::with_capacity(INSERT_CHUNK + 4096);
                for (i, r) in rows.iter().enumerate() {
                    if skip[i] {
                        continue;
                    }
                    rowbinary::encode_row(r, [node_hash, base + i as u64, hashes[i]], &mut chunk);
                    if chunk.len() >= INSERT_CHUNK {
                        insert.write_buffered(&chunk);
                        insert.flush().await?;
                        chunk.clear();
                    }
                }
                insert.write_buffered(&chunk);
                insert.end().await
            };
            // The insert borrows the rows, so it cannot be spawned; it is driven on a
            // scoped thread of its own, which is never inside a runtime (the replay at
            // start-up runs on the caller's thread, which may be).
            let handle = &self.conn.handle;
            let out = std::thread::scope(|s| {
                s.spawn(|| {
                    handle.block_on(async { tokio::time::timeout(QUERY_TIMEOUT, fut).await })
                })
                .join()
            });
            match out {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => {
                    return Err(StoreError::Backend(format!("clickhouse insert: {e}")))
                }
                Ok(Err(_)) => return Err(StoreError::backend("clickhouse insert timed out")),
                Err(_) => return Err(StoreError::backend("clickhouse insert thread panicked")),
            }
        }
        // The days these rows change, for the rollup task (`rollup`): marked after the
        // rows and before the position, so a replay after a crash marks them again.
        let mut days: Vec<(u32, chrono::NaiveDate)> = rows
            .iter()
            .map(|r| (r.site_id, r.ts.date_naive()))
            .collect();
        days.sort_unstable();
        days.dedup();
        rollup::mark(&self.conn, &days)?;
        let loaded = base + rows.len() as u64;
        let state = format!(
            "INSERT INTO spool_state (node, segment, byte_offset, loaded_rows, written_at) \
             VALUES ({}, {}, {}, {loaded}, now())",
            sql::lit(&self.node),
            pos.segment,
            pos.offset
        );
        let mut client = self.conn.client.clone();
        if self.conn.cluster.is_some() {
            client = client.with_option("insert_distributed_sync", "1");
        }
        self.conn.execute_on(&client, &state)?;
        self.loaded = loaded;
        Ok(skipped)
    }
}

impl Sink for ClickSink {
    fn position(&mut self) -> Result<Option<Position>, StoreError> {
        let sql = format!(
            "SELECT toUInt64(argMax(segment, loaded_rows)), toUInt64(argMax(byte_offset, loaded_rows)), \
                    toUInt64(max(loaded_rows)), toUInt64(count()) \
             FROM spool_state WHERE node = {}",
            sql::lit(&self.node)
        );
        let rows: Vec<StateRow> = self.conn.fetch(&sql)?;
        match rows.first() {
            Some(r) if r.n > 0 => {
                self.loaded = r.loaded;
                Ok(Some(Position {
                    segment: r.segment,
                    offset: r.offset,
                }))
            }
            _ => {
                self.loaded = 0;
                Ok(None)
            }
        }
    }

    fn load(&mut self, rows: &[EventRow], pos: Position) -> Result<(), StoreError> {
        let started = Instant::now();
        match self.load_inner(rows, pos) {
            Ok(skipped) => {
                if skipped > 0 {
                    info!(
                        message = "Skipped rows ClickHouse already held (replay after a crash).",
                        rows = skipped
                    );
                }
                self.uncertain = false;
                let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
                if elapsed_ms > 2000.0 {
                    warn!(
                        message = "Slow ClickHouse load.",
                        rows = rows.len(),
                        elapsed_ms
                    );
                }
                Ok(())
            }
            Err(e) => {
                error!(message = "Failed to load events batch into ClickHouse.", error = %e, rows = rows.len());
                // Some parts may have been written: check before the retry.
                self.uncertain = true;
                Err(e)
            }
        }
    }

    fn close(&mut self) {
        info!(message = "ClickHouse events loader stopped.");
    }
}

/// The ClickHouse events store: [`Click`] behind this node's spool.
pub type ClickEvents = Spooled<Click>;

/// The ClickHouse back end's read side (the spool's loader writes through `ClickSink`).
pub struct Click {
    conn: Arc<Conn>,
    url: ClickUrl,
    /// Do reports read the rollups (as `duck::Duck`'s).
    read_rollups: AtomicBool,
}

impl ClickEvents {
    /// Connect, migrate every host, replay the spool in `spool_dir` (this node's), start
    /// the writer and loader. `node_id` names this Lucarne node: stable across restarts,
    /// unique among the nodes sharing the ClickHouse database.
    pub fn open(
        url: &str,
        spool_dir: &Path,
        node_id: &str,
        queue_capacity: usize,
    ) -> Result<ClickEvents, StoreError> {
        Self::open_with_interval(url, spool_dir, node_id, queue_capacity, LOAD_INTERVAL)
    }

    /// [`ClickEvents::open`] with another loader interval (tests).
    pub fn open_with_interval(
        url: &str,
        spool_dir: &Path,
        node_id: &str,
        queue_capacity: usize,
        load_interval: Duration,
    ) -> Result<ClickEvents, StoreError> {
        let u = ClickUrl::parse(url)?;
        if node_id.trim().is_empty() {
            return Err(StoreError::backend("clickhouse: the node id is empty"));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lucarne-clickhouse")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("clickhouse runtime: {e}")))?;
        let handle = runtime.handle().clone();
        let hosts: Vec<Client> = u
            .hosts
            .iter()
            .map(|h| client_for(&u, h, Some(&u.database)))
            .collect();
        let first = hosts
            .first()
            .cloned()
            .ok_or_else(|| StoreError::backend("clickhouse URL: no host"))?;
        let conn = Arc::new(Conn {
            runtime: Some(runtime),
            handle,
            client: first,
            hosts,
            cluster: u.cluster.clone(),
            database: u.database.clone(),
        });
        migrate(&conn, &u)?;
        let sink = ClickSink {
            conn: conn.clone(),
            node: node_id.to_string(),
            node_hash: hash64(node_id.as_bytes()),
            loaded: 0,
            uncertain: true,
        };
        let click = Click {
            conn,
            url: u,
            read_rollups: AtomicBool::new(crate::rollups::enabled()),
        };
        Spooled::start(spool_dir, click, sink, queue_capacity, load_interval)
    }

    /// The parsed URL this store was opened with.
    pub fn url(&self) -> &ClickUrl {
        &self.backend().url
    }

    /// Number of stored events (all sites).
    pub fn count(&self) -> Result<u64, StoreError> {
        let n: Vec<u64> = self.read(|b| b.conn.fetch("SELECT toUInt64(count()) FROM events"))?;
        Ok(n.first().copied().unwrap_or(0))
    }

    /// Number of stored events per site, by site id (`lucarne migrate` checks its copy
    /// with it).
    pub fn site_counts(&self) -> Result<Vec<(u32, u64)>, StoreError> {
        #[derive(Row, Deserialize)]
        struct SiteCount {
            site_id: u32,
            n: u64,
        }
        let rows: Vec<SiteCount> = self.read(|b| {
            b.conn.fetch(
                "SELECT site_id, toUInt64(count()) AS n FROM events GROUP BY site_id ORDER BY site_id",
            )
        })?;
        Ok(rows.into_iter().map(|r| (r.site_id, r.n)).collect())
    }
}

impl ClickEvents {
    /// Turn reading rollups on or off (tests and the benchmark compare both in one run).
    pub fn set_read_rollups(&self, on: bool) {
        self.backend().read_rollups.store(on, Ordering::Relaxed);
    }

    /// The local days of `[from, to)` reports read from rollups now (first, last), if any.
    pub fn rollup_plan(
        &self,
        site_id: u32,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Option<(chrono::NaiveDate, chrono::NaiveDate)>, StoreError> {
        self.read(|b| {
            Ok(
                crate::rollups::plan(&ClickRolled(&b.conn), site_id, from, to, Utc::now())?
                    .map(|p| p.days()),
            )
        })
    }
}

impl Click {
    fn rollups(&self) -> bool {
        self.read_rollups.load(Ordering::Relaxed)
    }

    /// Wait until every mutation of `table` on every host is done.
    fn wait_mutations(&self, table: &str) -> Result<(), StoreError> {
        let deadline = Instant::now() + MUTATION_TIMEOUT;
        let sql = format!(
            "SELECT toUInt64(count()) FROM system.mutations \
             WHERE database = {} AND table = {} AND is_done = 0",
            sql::lit(&self.conn.database),
            sql::lit(table)
        );
        for client in &self.conn.hosts {
            loop {
                let c = client.clone();
                let text = sql.clone();
                let pending: u64 = self.conn.run("mutations", QUERY_TIMEOUT, async move {
                    c.query(&text).fetch_one::<u64>().await
                })?;
                if pending == 0 {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(StoreError::backend("clickhouse: deletion still running"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Ok(())
    }
}

impl Backend for Click {
    fn aggregate(&self, q: &ReportQuery) -> Result<Aggregates, StoreError> {
        if let Some(shape) = self.rollups().then(|| Shape::of(q, None)).flatten() {
            let r = ClickRolled(&self.conn);
            if let Some(rows) = crate::rollups::rows(&r, q, &shape, Utc::now())? {
                return Ok(rows.into_iter().next().map(|(_, a)| a).unwrap_or_default());
            }
        }
        sql::aggregate(&*self.conn, q)
    }

    fn timeseries(
        &self,
        q: &ReportQuery,
        buckets: &[Bucket],
    ) -> Result<Vec<Aggregates>, StoreError> {
        if self.rollups() {
            let r = ClickRolled(&self.conn);
            if let Some(out) = crate::rollups::timeseries(&r, q, buckets, Utc::now())? {
                return Ok(out);
            }
        }
        sql::timeseries(&*self.conn, q, buckets)
    }

    fn breakdown_dims(
        &self,
        q: &ReportQuery,
        dims: &[crate::Dim],
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(Vec<String>, Aggregates)>, StoreError> {
        sql::breakdown_dims(&*self.conn, q, dims, limit, offset)
    }

    fn breakdown(
        &self,
        q: &ReportQuery,
        property: &Property,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        if let Some(shape) = self
            .rollups()
            .then(|| Shape::of(q, Some(property)))
            .flatten()
        {
            let r = ClickRolled(&self.conn);
            if let Some(mut rows) = crate::rollups::rows(&r, q, &shape, Utc::now())? {
                crate::report::sort_breakdown(&mut rows);
                return Ok(rows.into_iter().skip(offset).take(limit).collect());
            }
        }
        sql::breakdown(&*self.conn, q, property, limit, offset)
    }

    fn maintain_rollups(
        &self,
        sites: &[(u32, chrono_tz::Tz)],
        max_days: usize,
    ) -> Result<usize, StoreError> {
        rollup::maintain(&self.conn, sites, Utc::now(), max_days)
    }

    fn find_token(&self, token: u64) -> Result<Option<TokenNode>, StoreError> {
        sql::find_token(&self.conn, token)
    }

    fn share_graph(&self, q: &ReportQuery) -> Result<ShareGraph, StoreError> {
        sql::share_graph(&self.conn, q)
    }

    fn conversions(
        &self,
        q: &ReportQuery,
        goals: &[GoalKind],
        group: &ConversionGroup,
    ) -> Result<Vec<ConversionRow>, StoreError> {
        let visits = if self.rollups() {
            let r = ClickRolled(&self.conn);
            crate::rollups::visits_by_channel_group(&r, q, group, Utc::now())?
        } else {
            None
        };
        sql::conversions(&self.conn, q, goals, group, visits)
    }

    fn funnel(
        &self,
        q: &ReportQuery,
        steps: &[lucarne_core::funnel::FunnelStep],
        group: FunnelGroup,
    ) -> Result<Vec<FunnelRow>, StoreError> {
        sql::funnel(&self.conn, q, steps, group)
    }

    fn goal_events(
        &self,
        q: &ReportQuery,
        goals: &[GoalKind],
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        sql::goal_events(&self.conn, q, goals, limit)
    }

    fn find_visit(&self, site_id: u32, key: VisitKey) -> Result<Option<EventRow>, StoreError> {
        sql::find_visit(&self.conn, site_id, key)
    }

    fn first_event(&self, site_id: u32) -> Result<Option<DateTime<Utc>>, StoreError> {
        // `min` of no rows is 0 on ClickHouse: the count tells the two apart.
        let found: Vec<(u64, i64)> = self.conn.fetch(&format!(
            "SELECT count(), min(ts_us) FROM events WHERE site_id = {site_id} \
             AND name NOT IN {} AND name != 'engagement'",
            crate::report::NOT_VISIT_EVENTS
        ))?;
        Ok(found
            .first()
            .filter(|(n, _)| *n > 0)
            .map(|(_, us)| crate::report::utc(*us)))
    }

    fn survey_answers(&self, q: &ReportQuery) -> Result<Vec<SurveyAnswerRow>, StoreError> {
        sql::survey_answers(&self.conn, q)
    }

    fn engagement(
        &self,
        q: &ReportQuery,
        by_page: bool,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        sql::engagement(&self.conn, q, by_page)
    }

    fn delete_site_events(
        &self,
        site_id: u32,
        before: Option<DateTime<Utc>>,
    ) -> Result<u64, StoreError> {
        let mut cond = format!("site_id = {site_id}");
        if let Some(t) = before {
            cond.push_str(&format!(" AND ts_us < {}", t.timestamp_micros()));
        }
        let n: Vec<u64> = self.conn.fetch(&format!(
            "SELECT toUInt64(count()) FROM events WHERE {cond}"
        ))?;
        let n = n.first().copied().unwrap_or(0);
        if n == 0 {
            return Ok(0);
        }
        rollup::before_delete(&self.conn, site_id, before)?;
        // A mutation per host on its own table (no ZooKeeper, so no ON CLUSTER). The count
        // is taken just before: rows of the site loaded meanwhile are deleted uncounted.
        let table = self.conn.local("events");
        for client in &self.conn.hosts {
            self.conn
                .execute_on(client, &format!("ALTER TABLE {table} DELETE WHERE {cond}"))?;
        }
        self.wait_mutations(&table)?;
        for m in rollup::forget(site_id, before) {
            self.conn.execute_on(&self.conn.client, &m)?;
        }
        for t in ["rollups", "rollup_built", "rollup_marks"] {
            self.wait_mutations(t)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = ClickUrl::parse("clickhouse://127.0.0.1:8123/lucarne").unwrap();
        assert_eq!(u.hosts, vec!["127.0.0.1:8123"]);
        assert_eq!(u.database, "lucarne");
        assert_eq!(u.cluster, None);
        assert_eq!(u.user, None);
        let u = ClickUrl::parse("clickhouse://me:p%40ss@a:1,b:2/db?cluster=lucarne").unwrap();
        assert_eq!(u.user.as_deref(), Some("me"));
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!(u.hosts, vec!["a:1", "b:2"]);
        assert_eq!(u.cluster.as_deref(), Some("lucarne"));
        assert!(ClickUrl::parse("clickhouse://a:1,b:2/db").is_err());
        assert!(ClickUrl::parse("http://a:1/db").is_err());
        assert!(ClickUrl::parse("clickhouse://a/db").is_err());
        assert!(ClickUrl::parse("clickhouse://a:1/d-b").is_err());
        assert!(ClickUrl::parse("clickhouse://a:1/db?x=1").is_err());
        assert_eq!(
            ClickUrl::parse("clickhouse://a:1").unwrap().database,
            "default"
        );
    }

    #[test]
    fn migration_statements() {
        let s = statements(
            "-- a; b\nCREATE x;\n-- @cluster\nCREATE y\n  AS z;\nCREATE w;\n-- @first\nINSERT v;\n",
        );
        assert_eq!(
            s,
            vec![
                (Hosts::All, "CREATE x".to_string()),
                (Hosts::ClusterOnly, "CREATE y\n  AS z".to_string()),
                (Hosts::All, "CREATE w".to_string()),
                (Hosts::First, "INSERT v".to_string())
            ]
        );
    }
}
