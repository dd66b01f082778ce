//! DuckDB events store: one file, one writer thread with group commit, a few readers.
//!
//! # Durability
//! `submit` queues rows on a bounded channel. The writer thread takes everything that is
//! waiting (up to `MAX_BATCH_ROWS`), appends it inside one transaction with the Appender
//! and commits. DuckDB writes the commit to its write-ahead log before `COMMIT` returns,
//! so a process killed after that point loses nothing. Only then are the waiting
//! tickets resolved, which is when the HTTP layer answers 202. Requests that arrive
//! while a commit is running form the next batch: the commit cost is shared by
//! everyone waiting (group commit), so throughput grows with concurrency.

mod sql;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use chrono::{DateTime, Utc};
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Connection};
use lucarne_core::event::EventRow;
use lucarne_core::stats::{Aggregates, Bucket, Property, ReportQuery};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::events::{CommitTicket, EventStore, StoreError};

/// Rows per group commit at most.
const MAX_BATCH_ROWS: usize = 20_000;
/// Submissions waiting at most before `QueueFull`.
pub const DEFAULT_QUEUE_CAPACITY: usize = 20_000;
/// Separator between property keys (and values) in `prop_keys` / `prop_values`.
pub const PROP_SEP: char = '\u{1f}';

const MIGRATIONS: &[(u32, &str)] = &[(1, include_str!("../../migrations/duckdb/0001_events.sql"))];

type Done = oneshot::Sender<Result<(), StoreError>>;

enum Msg {
    Rows(Vec<EventRow>, Done),
    Shutdown(mpsc::Sender<()>),
}

struct Shared {
    queued: AtomicUsize,
    closed: AtomicBool,
    writer_alive: AtomicBool,
}

pub struct DuckEvents {
    path: PathBuf,
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    readers: Mutex<Vec<Connection>>,
    template: Mutex<Connection>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

fn ts_value(ts: DateTime<Utc>) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, ts.timestamp_micros())
}

fn join_props(props: &[(String, String)]) -> (String, String) {
    let clean = |s: &str| s.replace(PROP_SEP, " ");
    let keys: Vec<String> = props.iter().map(|(k, _)| clean(k)).collect();
    let vals: Vec<String> = props.iter().map(|(_, v)| clean(v)).collect();
    let sep = PROP_SEP.to_string();
    (keys.join(&sep), vals.join(&sep))
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)")
        .map_err(StoreError::backend)?;
    let current: i64 = conn
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(StoreError::backend)?;
    for (version, sql) in MIGRATIONS {
        if i64::from(*version) <= current {
            continue;
        }
        info!(message = "Applying events migration.", version);
        let stmt = format!(
            "BEGIN TRANSACTION; {sql}; INSERT INTO schema_migrations (version) VALUES ({version}); COMMIT;"
        );
        conn.execute_batch(&stmt)
            .map_err(|e| StoreError::Backend(format!("migration {version}: {e}")))?;
    }
    Ok(())
}

impl DuckEvents {
    /// Open (or create) `events.duckdb` in `dir` and start the writer thread.
    pub fn open(dir: &Path, queue_capacity: usize) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("create {}: {e}", dir.display())))?;
        let path = dir.join("events.duckdb");
        let conn = Connection::open(&path)
            .map_err(|e| StoreError::Backend(format!("open {}: {e}", path.display())))?;
        migrate(&conn)?;
        let writer_conn = conn.try_clone().map_err(StoreError::backend)?;
        let mut readers = Vec::new();
        for _ in 0..4 {
            readers.push(conn.try_clone().map_err(StoreError::backend)?);
        }
        let (tx, rx) = mpsc::sync_channel(queue_capacity.max(1));
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            writer_alive: AtomicBool::new(true),
        });
        let s2 = shared.clone();
        let handle = std::thread::Builder::new()
            .name("lucarne-writer".into())
            .spawn(move || writer_loop(writer_conn, rx, s2))
            .map_err(|e| StoreError::Backend(format!("spawn writer: {e}")))?;
        Ok(DuckEvents {
            path,
            tx,
            shared,
            readers: Mutex::new(readers),
            template: Mutex::new(conn),
            writer: Mutex::new(Some(handle)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` with a reader connection (reused across calls).
    fn with_reader<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = {
            let mut pool = self.readers.lock().map_err(|_| StoreError::Closed)?;
            pool.pop()
        };
        let conn = match conn {
            Some(c) => c,
            None => self
                .template
                .lock()
                .map_err(|_| StoreError::Closed)?
                .try_clone()
                .map_err(StoreError::backend)?,
        };
        let out = f(&conn);
        if let Ok(mut pool) = self.readers.lock() {
            if pool.len() < 8 {
                pool.push(conn);
            }
        }
        out
    }

    /// Bytes of the database file (and its WAL) on disk.
    pub fn disk_bytes(&self) -> u64 {
        let main = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
        let wal = std::fs::metadata(self.path.with_extension("duckdb.wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        main + wal
    }

    /// Number of stored events (all sites).
    pub fn count(&self) -> Result<u64, StoreError> {
        self.with_reader(|c| {
            c.query_row("SELECT count(*)::BIGINT FROM events", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| n as u64)
            .map_err(StoreError::backend)
        })
    }

    /// Force a checkpoint (WAL folded into the main file).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.with_reader(|c| c.execute_batch("CHECKPOINT").map_err(StoreError::backend))
    }

    /// Run arbitrary read-only SQL returning one BIGINT (tests and tools).
    pub fn scalar_i64(&self, sql: &str) -> Result<i64, StoreError> {
        self.with_reader(|c| {
            c.query_row(sql, [], |r| r.get::<_, i64>(0))
                .map_err(StoreError::backend)
        })
    }
}

fn append_batch(conn: &Connection, batch: &[&EventRow]) -> Result<(), duckdb::Error> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    let result = (|| {
        let mut app = conn.appender("events")?;
        for r in batch {
            let (keys, vals) = join_props(&r.props);
            let (rev_amount, rev_currency) = match &r.revenue {
                Some(rv) => (Some(rv.amount_minor), Some(rv.currency.as_str())),
                None => (None, None),
            };
            app.append_row(params![
                r.site_id,
                ts_value(r.ts),
                r.name,
                r.visitor_id,
                r.session_id,
                r.entry,
                r.hostname,
                r.pathname,
                r.entry_page,
                r.referrer,
                r.source,
                r.utm_source,
                r.utm_medium,
                r.utm_campaign,
                r.utm_term,
                r.utm_content,
                r.click_id,
                r.channel,
                r.channel_group.as_str(),
                r.evidence.as_str(),
                r.device,
                r.browser,
                r.os,
                r.country,
                r.screen_width,
                keys,
                vals,
                rev_amount,
                rev_currency,
                r.token_in,
            ])?;
        }
        app.flush()?;
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn writer_loop(conn: Connection, rx: Receiver<Msg>, shared: Arc<Shared>) {
    let mut shutdown_reply: Option<mpsc::Sender<()>> = None;
    'outer: loop {
        let first = match rx.recv() {
            Ok(m) => m,
            Err(_) => break,
        };
        let mut pending: Vec<(Vec<EventRow>, Done)> = Vec::new();
        let mut rows = 0usize;
        let push = |m: Msg, pending: &mut Vec<_>, rows: &mut usize| -> Option<mpsc::Sender<()>> {
            match m {
                Msg::Rows(r, done) => {
                    shared.queued.fetch_sub(1, Ordering::Relaxed);
                    *rows += r.len();
                    pending.push((r, done));
                    None
                }
                Msg::Shutdown(reply) => Some(reply),
            }
        };
        if let Some(reply) = push(first, &mut pending, &mut rows) {
            shutdown_reply = Some(reply);
        }
        while shutdown_reply.is_none() && rows < MAX_BATCH_ROWS {
            match rx.try_recv() {
                Ok(m) => {
                    if let Some(reply) = push(m, &mut pending, &mut rows) {
                        shutdown_reply = Some(reply);
                    }
                }
                Err(_) => break,
            }
        }
        if !pending.is_empty() {
            let started = Instant::now();
            let all: Vec<&EventRow> = pending.iter().flat_map(|(r, _)| r.iter()).collect();
            let result = append_batch(&conn, &all).map_err(|e| {
                error!(message = "Failed to commit events batch.", error = %e, rows);
                StoreError::backend(e)
            });
            let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
            if elapsed_ms > 500.0 {
                warn!(message = "Slow events commit.", rows, elapsed_ms);
            }
            for (_, done) in pending {
                let _ = done.send(result.clone());
            }
        }
        if shutdown_reply.is_some() {
            break 'outer;
        }
    }
    // Anything still queued after a shutdown request was refused at `submit` (closed), but
    // commit stragglers that raced the flag rather than dropping them.
    let mut rest: Vec<(Vec<EventRow>, Done)> = Vec::new();
    while let Ok(m) = rx.try_recv() {
        if let Msg::Rows(r, d) = m {
            rest.push((r, d));
        }
    }
    if !rest.is_empty() {
        let all: Vec<&EventRow> = rest.iter().flat_map(|(r, _)| r.iter()).collect();
        let result = append_batch(&conn, &all).map_err(StoreError::backend);
        for (_, d) in rest {
            let _ = d.send(result.clone());
        }
    }
    if let Err(e) = conn.execute_batch("CHECKPOINT") {
        warn!(message = "Checkpoint at shutdown failed.", error = %e);
    }
    shared.writer_alive.store(false, Ordering::SeqCst);
    info!(message = "Events writer stopped.");
    if let Some(reply) = shutdown_reply {
        let _ = reply.send(());
    }
}

impl EventStore for DuckEvents {
    fn submit(&self, rows: Vec<EventRow>) -> Result<CommitTicket, StoreError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let (done, ticket) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Msg::Rows(rows, done)) {
            Ok(()) => Ok(ticket),
            Err(TrySendError::Full(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                Err(StoreError::QueueFull)
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                Err(StoreError::Closed)
            }
        }
    }

    fn aggregate(&self, q: &ReportQuery) -> Result<Aggregates, StoreError> {
        self.with_reader(|c| sql::aggregate(c, q))
    }

    fn timeseries(
        &self,
        q: &ReportQuery,
        buckets: &[Bucket],
    ) -> Result<Vec<Aggregates>, StoreError> {
        self.with_reader(|c| sql::timeseries(c, q, buckets))
    }

    fn breakdown(
        &self,
        q: &ReportQuery,
        property: &Property,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        self.with_reader(|c| sql::breakdown(c, q, property, limit, offset))
    }

    fn healthy(&self) -> bool {
        self.shared.writer_alive.load(Ordering::SeqCst)
            && !self.shared.closed.load(Ordering::SeqCst)
    }

    fn queue_len(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    fn shutdown(&self) {
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let (reply, wait) = mpsc::channel();
        if self.tx.send(Msg::Shutdown(reply)).is_ok() {
            let _ = wait.recv();
        }
        if let Ok(mut w) = self.writer.lock() {
            if let Some(h) = w.take() {
                let _ = h.join();
            }
        }
    }

    fn delete_site_events(
        &self,
        site_id: u32,
        before: Option<DateTime<Utc>>,
    ) -> Result<u64, StoreError> {
        self.with_reader(|c| {
            let n = match before {
                Some(t) => c.execute(
                    "DELETE FROM events WHERE site_id = ? AND ts < ?",
                    params![site_id, ts_value(t)],
                ),
                None => c.execute("DELETE FROM events WHERE site_id = ?", params![site_id]),
            }
            .map_err(StoreError::backend)?;
            Ok(n as u64)
        })
    }
}

impl Drop for DuckEvents {
    fn drop(&mut self) {
        self.shutdown();
    }
}
