//! DuckDB events store: one file, the ingest spool in front (see `spool`), a few
//! reader connections for reports.
//!
//! # Durability
//! `submit` goes to the spool: a 202 is sent once the event's batch is `fdatasync`ed in
//! the spool. The spool's loader appends rows to DuckDB with the Appender in large
//! transactions that also record the spool position (`spool_state`), so a restart
//! replays exactly the acknowledged rows DuckDB does not hold yet. Reports flush the
//! loader first, so they see every acknowledged event.

mod backup;
mod chunk;
mod hybrid;
mod rollup;
mod sql;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Connection};
use lucarne_core::event::EventRow;
use lucarne_core::stats::{Aggregates, Bucket, Property, ReportQuery};
use lucarne_core::token::TokenNode;
use tracing::{error, info, warn};

use crate::events::{
    ConversionGroup, ConversionRow, FunnelGroup, FunnelRow, ShareGraph, StoreError,
    SurveyAnswerRow, VisitKey,
};
use crate::rollups::Shape;
use crate::spool::{Backend, Position, Sink, Spooled, LOAD_INTERVAL};
use hybrid::DuckRolled;
use lucarne_core::conversions::GoalKind;

/// Submissions waiting at most before `QueueFull`.
pub const DEFAULT_QUEUE_CAPACITY: usize = 20_000;
pub use crate::events::PROP_SEP;
pub use crate::rollups::{DIMENSIONS as ROLLUP_DIMENSIONS, PAIRS as ROLLUP_PAIRS};
pub use rollup::row_tables as rollup_row_tables;

const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("../../migrations/duckdb/0001_events.sql")),
    (
        2,
        include_str!("../../migrations/duckdb/0002_spool_state.sql"),
    ),
    (3, include_str!("../../migrations/duckdb/0003_tokens.sql")),
    (
        4,
        include_str!("../../migrations/duckdb/0004_conversions.sql"),
    ),
    (
        5,
        include_str!("../../migrations/duckdb/0005_link_events.sql"),
    ),
    (
        6,
        include_str!("../../migrations/duckdb/0006_engagement.sql"),
    ),
    (7, include_str!("../../migrations/duckdb/0007_rollups.sql")),
    (
        8,
        include_str!("../../migrations/duckdb/0008_rollup_state.sql"),
    ),
    (
        9,
        include_str!("../../migrations/duckdb/0009_rollup_pairs.sql"),
    ),
    (
        10,
        include_str!("../../migrations/duckdb/0010_rollup_pair_tables.sql"),
    ),
    (
        11,
        include_str!("../../migrations/duckdb/0011_engagement_events.sql"),
    ),
    (
        12,
        include_str!("../../migrations/duckdb/0012_rollup_pair_per_table.sql"),
    ),
    (
        13,
        include_str!("../../migrations/duckdb/0013_rollup_page_visits.sql"),
    ),
];

/// The DuckDB events store: [`Duck`] behind the spool.
pub type DuckEvents = Spooled<Duck>;

/// The DuckDB back end's read side: reader connections for reports (the spool's loader
/// writes through [`DuckSink`]).
pub struct Duck {
    path: PathBuf,
    readers: Mutex<Vec<Connection>>,
    template: Mutex<Connection>,
    /// Do reports read the rollups (`LUCARNE_ROLLUPS=off` at open, or
    /// [`DuckEvents::set_read_rollups`], turns it off: raw events only).
    read_rollups: AtomicBool,
    /// The settled part of today's raw rows, kept between reports (`hybrid`).
    tail_memo: hybrid::TailMemo,
    /// Declared last: dropped after every connection above.
    _db: chunk::RawDb,
}

/// The spool's loader side for DuckDB: one connection, one transaction a load (rows in
/// data chunks + spool position; see `chunk`), and an ordinary connection for the rest.
struct DuckSink {
    loader: chunk::RawConn,
    conn: Connection,
    /// The tail memo's generation: bumped after a load with a late row.
    generation: Arc<AtomicU64>,
}

impl Sink for DuckSink {
    fn position(&mut self) -> Result<Option<Position>, StoreError> {
        let mut stmt = self
            .conn
            .prepare("SELECT segment, \"offset\" FROM spool_state WHERE id = 1")
            .map_err(StoreError::backend)?;
        let mut rows = stmt.query([]).map_err(StoreError::backend)?;
        match rows.next().map_err(StoreError::backend)? {
            Some(r) => Ok(Some(Position {
                segment: r.get::<_, u64>(0).map_err(StoreError::backend)?,
                offset: r.get::<_, u64>(1).map_err(StoreError::backend)?,
            })),
            None => Ok(None),
        }
    }

    fn load(&mut self, rows: &[EventRow], pos: Position) -> Result<(), StoreError> {
        let started = Instant::now();
        let out = self.loader.load(rows, pos).inspect_err(|e| {
            error!(message = "Failed to load events batch.", error = %e, rows = rows.len());
        });
        // After the commit: a report that read the memo's generation before it took its
        // snapshot either saw these rows or finds its entry stale.
        let late = Utc::now() - hybrid::LATE;
        if out.is_ok() && rows.iter().any(|r| r.ts < late) {
            self.generation.fetch_add(1, Ordering::AcqRel);
        }
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        if elapsed_ms > 1000.0 {
            warn!(message = "Slow events load.", rows = rows.len(), elapsed_ms);
        }
        out
    }

    fn close(&mut self) {
        if let Err(e) = self.conn.execute_batch("CHECKPOINT") {
            warn!(message = "Checkpoint at shutdown failed.", error = %e);
        }
        info!(message = "Events loader stopped.");
    }
}

fn ts_value(ts: DateTime<Utc>) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, ts.timestamp_micros())
}

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    migrate_to(conn, u32::MAX)
}

/// Apply the migrations up to version `last`.
fn migrate_to(conn: &Connection, last: u32) -> Result<(), StoreError> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMP NOT NULL DEFAULT current_timestamp)")
        .map_err(StoreError::backend)?;
    let current: i64 = conn
        .query_row(
            "SELECT coalesce(max(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )
        .map_err(StoreError::backend)?;
    let known = MIGRATIONS
        .iter()
        .map(|(v, _)| i64::from(*v))
        .max()
        .unwrap_or(0);
    if current > known {
        return Err(StoreError::Backend(crate::newer_schema(
            "events.duckdb",
            current,
            known,
        )));
    }
    for (version, sql) in MIGRATIONS {
        if i64::from(*version) <= current || *version > last {
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
    /// Open (or create) `events.duckdb` in `dir`, replay the spool in `dir/spool` and
    /// start its writer and loader.
    pub fn open(dir: &Path, queue_capacity: usize) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("create {}: {e}", dir.display())))?;
        let path = dir.join("events.duckdb");
        let db = chunk::RawDb::open(&path)?;
        let conn = db.connection()?;
        migrate(&conn)?;
        chunk::check_names(&conn)?;
        let generation = Arc::new(AtomicU64::new(0));
        let sink = DuckSink {
            loader: chunk::RawConn::new(&db)?,
            conn: conn.try_clone().map_err(StoreError::backend)?,
            generation: generation.clone(),
        };
        let mut readers = Vec::new();
        for _ in 0..4 {
            readers.push(conn.try_clone().map_err(StoreError::backend)?);
        }
        let duck = Duck {
            path,
            readers: Mutex::new(readers),
            template: Mutex::new(conn),
            read_rollups: AtomicBool::new(crate::rollups::enabled()),
            tail_memo: hybrid::TailMemo::new(generation),
            _db: db,
        };
        Spooled::start(
            &dir.join("spool"),
            duck,
            sink,
            queue_capacity,
            LOAD_INTERVAL,
        )
    }

    pub fn path(&self) -> &Path {
        &self.backend().path
    }

    /// Bytes of the database file (and its WAL) on disk.
    pub fn disk_bytes(&self) -> u64 {
        let path = self.path();
        let main = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let wal = std::fs::metadata(path.with_extension("duckdb.wal"))
            .map(|m| m.len())
            .unwrap_or(0);
        main + wal
    }

    /// Number of stored events (all sites).
    pub fn count(&self) -> Result<u64, StoreError> {
        self.read(|d| {
            d.with_reader(|c| {
                c.query_row("SELECT count(*)::BIGINT FROM events", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(StoreError::backend)
            })
        })
    }

    /// Number of stored events per site, by site id.
    pub fn site_counts(&self) -> Result<Vec<(u32, u64)>, StoreError> {
        self.read(|d| {
            d.with_reader(|c| {
                let mut stmt = c
                    .prepare(
                        "SELECT site_id, count(*)::BIGINT FROM events GROUP BY site_id ORDER BY site_id",
                    )
                    .map_err(StoreError::backend)?;
                let rows = stmt
                    .query_map([], |r| Ok((r.get::<_, u32>(0)?, r.get::<_, i64>(1)?)))
                    .map_err(StoreError::backend)?;
                rows.map(|r| {
                    r.map(|(site, n)| (site, u64::try_from(n).unwrap_or(0)))
                        .map_err(StoreError::backend)
                })
                .collect()
            })
        })
    }

    /// Every stored row, in time order, in batches of at most `batch` (for moving a data
    /// directory to another back end). Acknowledged rows still in the spool are loaded
    /// first.
    pub fn export_rows(
        &self,
        batch: usize,
        mut f: impl FnMut(Vec<EventRow>) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        self.read(|d| d.with_reader(|c| sql::export_rows(c, batch, &mut f)))
    }

    /// Force a checkpoint (WAL folded into the main file).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.read(|d| d.with_reader(|c| c.execute_batch("CHECKPOINT").map_err(StoreError::backend)))
    }

    /// Roll up `site_id`'s UTC day `day`, its local days taken in `tz` (issue 20, being
    /// built: `rollup`); the rows written.
    pub fn build_rollup_day(
        &self,
        site_id: u32,
        day: chrono::NaiveDate,
        tz: chrono_tz::Tz,
    ) -> Result<usize, StoreError> {
        self.read(|d| d.with_reader(|c| rollup::build_day(c, site_id, day, tz)))
    }

    /// A dimension's rows (`rollup::DIMENSIONS`, '' for the totals) over the local days
    /// `from..=to` of `tz`, from rollups only (built in the same `tz`).
    pub fn rollup_breakdown(
        &self,
        site_id: u32,
        dim: &str,
        tz: chrono_tz::Tz,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<Vec<(String, lucarne_core::stats::Aggregates)>, StoreError> {
        self.read(|d| {
            d.with_reader(|c| rollup::breakdown(c, site_id, dim, None, (tz, from, to), false))
        })
    }

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
        self.read(|d| {
            d.with_reader(|c| {
                Ok(
                    crate::rollups::plan(&DuckRolled::new(c), site_id, from, to, Utc::now())?
                        .map(|p| p.days()),
                )
            })
        })
    }

    /// Pin the tail memo's cut at `at`, whatever the clock says (at most two minutes
    /// before it): tests whose rows must stay on one side of the cut while they run, or
    /// that read the raw part whole (a cut before it).
    pub fn pin_tail_cut(&self, at: DateTime<Utc>) {
        self.backend().tail_memo.pin_cut(at);
    }

    /// The tail memo's (hits, misses) so far.
    pub fn tail_memo_stats(&self) -> (u64, u64) {
        self.backend().tail_memo.stats()
    }

    /// Run arbitrary read-only SQL returning one BIGINT (tests and tools).
    pub fn scalar_i64(&self, sql: &str) -> Result<i64, StoreError> {
        self.read(|d| {
            d.with_reader(|c| {
                c.query_row(sql, [], |r| r.get::<_, i64>(0))
                    .map_err(StoreError::backend)
            })
        })
    }
}

impl Duck {
    fn rollups(&self) -> bool {
        self.read_rollups.load(Ordering::Relaxed)
    }

    /// Rollups and raw events through `conn`, with the tail memo.
    fn rolled<'a>(&'a self, conn: &'a Connection) -> DuckRolled<'a> {
        DuckRolled {
            conn,
            memo: Some(&self.tail_memo),
        }
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
}

impl Backend for Duck {
    fn aggregate(&self, q: &ReportQuery) -> Result<Aggregates, StoreError> {
        self.with_reader(|c| {
            if let Some(shape) = self.rollups().then(|| Shape::of(q, None)).flatten() {
                if let Some(rows) = crate::rollups::rows(&self.rolled(c), q, &shape, Utc::now())? {
                    return Ok(rows.into_iter().next().map(|(_, a)| a).unwrap_or_default());
                }
            }
            sql::aggregate(c, q)
        })
    }

    fn timeseries(
        &self,
        q: &ReportQuery,
        buckets: &[Bucket],
    ) -> Result<Vec<Aggregates>, StoreError> {
        self.with_reader(|c| {
            if self.rollups() {
                if let Some(out) =
                    crate::rollups::timeseries(&self.rolled(c), q, buckets, Utc::now())?
                {
                    return Ok(out);
                }
            }
            sql::timeseries(c, q, buckets)
        })
    }

    fn share_graph(&self, q: &ReportQuery) -> Result<ShareGraph, StoreError> {
        self.with_reader(|c| sql::share_graph(c, q))
    }

    fn conversions(
        &self,
        q: &ReportQuery,
        goals: &[GoalKind],
        group: &ConversionGroup,
    ) -> Result<Vec<ConversionRow>, StoreError> {
        self.with_reader(|c| {
            let visits = if self.rollups() {
                crate::rollups::visits_by_channel_group(&self.rolled(c), q, group, Utc::now())?
            } else {
                None
            };
            sql::conversions(c, q, goals, group, visits)
        })
    }

    fn funnel(
        &self,
        q: &ReportQuery,
        steps: &[lucarne_core::funnel::FunnelStep],
        group: FunnelGroup,
    ) -> Result<Vec<FunnelRow>, StoreError> {
        self.with_reader(|c| sql::funnel(c, q, steps, group))
    }

    fn goal_events(
        &self,
        q: &ReportQuery,
        goals: &[GoalKind],
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        self.with_reader(|c| sql::goal_events(c, q, goals, limit))
    }

    fn find_visit(&self, site_id: u32, key: VisitKey) -> Result<Option<EventRow>, StoreError> {
        self.with_reader(|c| sql::find_visit(c, site_id, key))
    }

    fn survey_answers(&self, q: &ReportQuery) -> Result<Vec<SurveyAnswerRow>, StoreError> {
        self.with_reader(|c| sql::survey_answers(c, q))
    }

    fn engagement(
        &self,
        q: &ReportQuery,
        by_page: bool,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        self.with_reader(|c| sql::engagement(c, q, by_page))
    }

    fn find_token(&self, token: u64) -> Result<Option<TokenNode>, StoreError> {
        self.with_reader(|c| sql::find_token(c, token))
    }

    fn first_event(&self, site_id: u32) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.with_reader(|c| sql::first_event(c, site_id))
    }

    fn breakdown_dims(
        &self,
        q: &ReportQuery,
        dims: &[crate::Dim],
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(Vec<String>, Aggregates)>, StoreError> {
        self.with_reader(|c| sql::breakdown_dims(c, q, dims, limit, offset))
    }

    fn breakdown(
        &self,
        q: &ReportQuery,
        property: &Property,
        limit: usize,
        offset: usize,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        self.with_reader(|c| {
            let shape = self
                .rollups()
                .then(|| Shape::of(q, Some(property)))
                .flatten();
            if let Some(shape) = shape {
                if let Some(mut rows) =
                    crate::rollups::rows(&self.rolled(c), q, &shape, Utc::now())?
                {
                    crate::report::sort_breakdown(&mut rows);
                    return Ok(rows.into_iter().skip(offset).take(limit).collect());
                }
            }
            sql::breakdown(c, q, property, limit, offset)
        })
    }

    fn maintain_rollups(
        &self,
        sites: &[(u32, chrono_tz::Tz)],
        max_days: usize,
    ) -> Result<usize, StoreError> {
        self.with_reader(|c| rollup::maintain(c, sites, Utc::now(), max_days))
    }

    fn for_each_token(&self, f: &mut dyn FnMut(u64)) -> Result<bool, StoreError> {
        self.with_reader(|c| sql::for_each_token(c, f))?;
        Ok(true)
    }

    fn backup_to(&self, to: &std::path::Path) -> Result<u64, StoreError> {
        self.with_reader(|c| backup::copy_database(c, to))
    }

    fn export_site_csv(&self, site_id: u32, to: &std::path::Path) -> Result<u64, StoreError> {
        self.with_reader(|c| backup::export_site_csv(c, site_id, to))
    }

    fn delete_site_events(
        &self,
        site_id: u32,
        before: Option<DateTime<Utc>>,
    ) -> Result<u64, StoreError> {
        self.with_reader(|c| {
            let n = match before {
                Some(t) => delete_both(
                    c,
                    "site_id = ? AND ts < ?",
                    params![site_id, ts_value(t)],
                    &rollup::forget_before(site_id, t),
                ),
                None => delete_both(
                    c,
                    "site_id = ?",
                    params![site_id],
                    &rollup::forget_site(site_id),
                ),
            };
            // Whatever the outcome: a memo entry may hold deleted rows.
            self.tail_memo.generation.fetch_add(1, Ordering::AcqRel);
            Ok(n? as u64)
        })
    }
}

/// Delete the rows matching `cond` from both tables behind the `events` view, in one
/// transaction; the number deleted.
/// `rollups` is the SQL that keeps the rollups true to the rows left (run in the same
/// transaction).
fn delete_both(
    c: &Connection,
    cond: &str,
    params: &[&dyn duckdb::ToSql],
    rollups: &str,
) -> Result<usize, StoreError> {
    c.execute_batch("BEGIN TRANSACTION")
        .map_err(StoreError::backend)?;
    let out = (|| {
        let mut n = 0;
        for table in ["site_events", "link_events", "engagement_events"] {
            n += c
                .execute(&format!("DELETE FROM {table} WHERE {cond}"), params)
                .map_err(StoreError::backend)?;
        }
        c.execute_batch(rollups).map_err(StoreError::backend)?;
        Ok(n)
    })();
    let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
    c.execute_batch(end).map_err(StoreError::backend)?;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::is_link_row;
    use crate::events::EventStore;
    use crate::spool::tests::row;
    use lucarne_core::event::Visit;

    /// A new store in a temporary directory (removed when the directory drops).
    fn fresh() -> (tempfile::TempDir, DuckEvents) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DuckEvents::open(dir.path(), 100).expect("open");
        (dir, store)
    }

    /// Every one of `rows` reads back from the store exactly as written, and nothing else.
    fn assert_reads_back(store: &DuckEvents, rows: &[EventRow]) {
        let mut seen = Vec::new();
        store
            .export_rows(10_000, |b| {
                seen.extend(b);
                Ok(())
            })
            .expect("export");
        let key = |r: &EventRow| (r.ts, r.session_id);
        let mut expected = rows.to_vec();
        expected.sort_by_key(key);
        seen.sort_by_key(key);
        assert_eq!(seen.len(), expected.len());
        for (a, b) in seen.iter().zip(&expected) {
            assert_eq!(a, b);
        }
    }

    /// Submit `rows` and wait until they are committed.
    async fn submit(store: &DuckEvents, rows: Vec<EventRow>) {
        store
            .submit(rows)
            .expect("submit")
            .await
            .expect("ticket")
            .expect("committed");
    }

    /// A report over all of time for `site_id`.
    fn all_time(site_id: u32, with_sessions: bool) -> ReportQuery {
        ReportQuery {
            site_id,
            from: DateTime::from_timestamp_micros(0).expect("from"),
            to: DateTime::from_timestamp_micros(2_000_000_000_000_000).expect("to"),
            filters: Vec::new(),
            conditions: Vec::new(),
            with_sessions,
            with_shares: false,
        }
    }

    /// DuckDB's estimate is wrong for 100 values nine times in ten (64 registers): below
    /// `EXACT_BELOW` the reports recount exactly, so a small site sees its real numbers.
    #[tokio::test]
    async fn few_visitors_are_counted_exactly() {
        let (_dir, store) = fresh();
        for seed in 0..5u64 {
            let site_id = 10 + seed as u32;
            // 100 visitors, one visit each, two pages; spread ids like hashes are.
            let rows: Vec<EventRow> = (0..100u64)
                .map(|i| EventRow {
                    site_id,
                    visitor_id: (i + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed,
                    session_id: i + 1,
                    entry: true,
                    pathname: if i % 2 == 0 { "/a" } else { "/b" }.into(),
                    ..row(i)
                })
                .collect();
            submit(&store, rows).await;
            let q = all_time(site_id, false);
            assert_eq!(store.aggregate(&q).expect("aggregate").visitors, 100);
            let pages = store
                .breakdown(&q, &Property::Page, 10, 0)
                .expect("breakdown");
            let visitors: Vec<(String, u64)> =
                pages.into_iter().map(|(p, a)| (p, a.visitors)).collect();
            assert_eq!(visitors, vec![("/a".into(), 50), ("/b".into(), 50)]);
        }
    }

    /// The loader writes rows column by column in data chunks (`chunk`): every column of
    /// every row comes back as written, across chunk boundaries, NULLs included.
    #[tokio::test]
    async fn chunked_loads_keep_every_column() {
        use lucarne_core::token::TokenStatus;
        use lucarne_core::{ChannelGroup, Evidence};
        let (_dir, store) = fresh();
        let n = 5_000u64; // more than two chunks of 2,048 rows in one load
        let rows: Vec<EventRow> = (0..n)
            .map(|i| {
                let k = i as usize;
                let base = row(i);
                EventRow {
                    site_id: (i % 7) as u32 + 1,
                    name: format!("event-{}", i % 11),
                    visitor_id: u64::MAX - i,
                    hostname: format!("h{}.example", i % 5),
                    props: (0..k % 3)
                        .map(|j| (format!("k{j}"), format!("v{i}-{j}")))
                        .collect(),
                    server_side: i % 5 == 0,
                    scroll_depth: (i % 101) as u8,
                    engagement_ms: u32::MAX - (i as u32 * 7_919),
                    visit: Visit {
                        entry_page: format!("/entry/{i}"),
                        referrer: if i % 2 == 0 {
                            String::new()
                        } else {
                            format!("r{i}.example/x")
                        },
                        utm_term: "ünïcødé ✓".repeat((k % 3) + 1),
                        channel_group: ChannelGroup::ALL[k % ChannelGroup::ALL.len()],
                        evidence: Evidence::ALL[k % Evidence::ALL.len()],
                        screen_width: (i % 4000) as u16,
                        token_status: TokenStatus::ALL[k % TokenStatus::ALL.len()],
                        generation: u16::MAX - (i % 9) as u16,
                        ..base.visit.clone()
                    },
                    ..base
                }
            })
            .collect();
        for part in rows.chunks(2_500) {
            submit(&store, part.to_vec()).await;
        }
        assert_reads_back(&store, &rows);
        assert!(rows.iter().any(|r| r.revenue.is_none()));
        assert!(rows.iter().any(|r| r.revenue.is_some()));
        store.shutdown();
    }

    /// The loader writes columns by position and type: a table it does not know is
    /// refused when the store opens, never written into.
    /// An events store written by a newer Lucarne is refused with a clear message.
    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        DuckEvents::open(dir.path(), 100).expect("open").shutdown();
        {
            let conn = Connection::open(dir.path().join("events.duckdb")).expect("conn");
            conn.execute_batch("INSERT INTO schema_migrations (version) VALUES (9999)")
                .expect("insert");
        }
        let err = DuckEvents::open(dir.path(), 100).err().expect("refused");
        assert!(
            err.to_string()
                .contains("events.duckdb was written by a newer Lucarne (schema version 9999"),
            "{err}"
        );
    }

    /// DuckDB never fetches an extension from the internet for Lucarne's database.
    #[test]
    fn no_extension_is_downloaded_or_loaded_on_its_own() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = DuckEvents::open(dir.path(), 100).expect("open");
        for setting in [
            "autoinstall_known_extensions",
            "autoload_known_extensions",
            "allow_community_extensions",
        ] {
            let on = store
                .scalar_i64(&format!("SELECT current_setting('{setting}')::INTEGER"))
                .expect(setting);
            assert_eq!(on, 0, "{setting}");
        }
        store.shutdown();
    }

    #[test]
    fn a_changed_events_table_is_refused_at_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        DuckEvents::open(dir.path(), 100).expect("open").shutdown();
        {
            let conn = Connection::open(dir.path().join("events.duckdb")).expect("conn");
            conn.execute_batch("ALTER TABLE site_events ADD COLUMN surprise VARCHAR")
                .expect("alter");
        }
        let err = DuckEvents::open(dir.path(), 100).err().expect("refused");
        assert!(err.to_string().contains("do not match"), "{err}");
        assert!(err.to_string().contains("surprise"), "{err}");
    }

    /// A short-link event as the redirect builds it (`server::links::link_event`).
    fn link_row(i: u64) -> EventRow {
        use lucarne_core::token::TokenStatus;
        use lucarne_core::Evidence;
        let path = format!("/l/slug{}", i % 4);
        let (name, props) = match i % 3 {
            0 => ("link_click", Vec::new()),
            1 => ("link_scan", Vec::new()),
            _ => ("preview", vec![("app".to_string(), format!("App {i}"))]),
        };
        EventRow {
            name: name.into(),
            entry: false,
            hostname: "l".into(),
            pathname: path.clone(),
            props,
            revenue: None,
            token: if i % 3 == 2 { 0 } else { i + 1 },
            share_channel: String::new(),
            server_side: false,
            visit: Visit {
                entry_page: path,
                utm_source: String::new(),
                utm_medium: String::new(),
                utm_campaign: if i.is_multiple_of(2) {
                    "spring".into()
                } else {
                    String::new()
                },
                utm_term: String::new(),
                utm_content: String::new(),
                click_id: String::new(),
                evidence: Evidence::ShortLink,
                screen_width: 0,
                parent_token: 0,
                parent_session: 0,
                generation: 0,
                visit_share_channel: String::new(),
                token_status: TokenStatus::None,
                link_id: i % 4 + 1,
                ..row(i).visit
            },
            ..row(i)
        }
    }

    /// Short-link events go to the narrow `link_events` table when the `events` view can
    /// give back every column they leave out, to `site_events` otherwise; either way
    /// every row reads back through `events` exactly as written, and reports and
    /// deletion see both tables.
    #[tokio::test]
    async fn link_events_have_a_narrow_table_and_read_back_whole() {
        let (_dir, store) = fresh();
        let mut rows: Vec<EventRow> = (0..3_000).map(link_row).collect();
        // Link events the narrow table cannot hold exactly, and ordinary events.
        rows.push(EventRow {
            visit: Visit {
                generation: 2,
                ..link_row(3_000).visit
            },
            ..link_row(3_000)
        });
        rows.push(EventRow {
            visit: Visit {
                link_id: 0,
                ..link_row(3_001).visit
            },
            ..link_row(3_001)
        });
        rows.push(EventRow {
            visit: Visit {
                screen_width: 390,
                ..link_row(3_002).visit
            },
            ..link_row(3_002)
        });
        rows.extend((3_003..3_010).map(row));
        for part in rows.chunks(1_000) {
            submit(&store, part.to_vec()).await;
        }
        let narrow = store
            .scalar_i64("SELECT count(*)::BIGINT FROM link_events")
            .expect("link_events");
        let wide = store
            .scalar_i64("SELECT count(*)::BIGINT FROM site_events")
            .expect("site_events");
        assert_eq!((narrow, wide), (3_000, 10));
        assert_eq!(
            rows.iter().filter(|r| is_link_row(r)).count(),
            3_000,
            "the routing rule"
        );
        assert_reads_back(&store, &rows);
        // A minted link token is found through the view.
        let node = store.find_token(1).expect("find").expect("token 1");
        assert_eq!((node.link_id, node.session_id), (1, 0));
        // Reports count link events by name and by link.
        let q = all_time(3, false);
        let names = store.breakdown(&q, &Property::Name, 10, 0).expect("names");
        let events = |n: &str| names.iter().find(|(k, _)| k == n).map(|(_, a)| a.events);
        assert_eq!(events("link_click"), Some(1_001));
        assert_eq!(events("link_scan"), Some(1_001));
        assert_eq!(events("preview"), Some(1_001));
        let links = store
            .breakdown(&q, &Property::EventLink, 10, 0)
            .expect("links");
        let on_link_1 = links.iter().find(|(k, _)| k == "1").map(|(_, a)| a.events);
        assert_eq!(on_link_1, Some(751));
        // A goal on a link event counts the rows of both tables (conversion reports read
        // `site_events` alone for every other goal).
        let goals = [
            GoalKind::Event("link_click".into()),
            GoalKind::Event("pageview".into()),
        ];
        let rows = store
            .conversions(&q, &goals, &ConversionGroup::Total)
            .expect("conversions");
        let sum = |g: usize| rows.iter().map(|r| r.goals[g].conversions).sum::<u64>();
        assert_eq!((sum(0), sum(1)), (1_001, 7));
        // Deleting a site's events empties both tables.
        assert_eq!(store.delete_site_events(3, None).expect("delete"), 3_010);
        assert_eq!(store.count().expect("count"), 0);
        store.shutdown();
    }

    /// Short-link clicks are not visits: they do not count as bounced visits in a
    /// timeseries (visits by start bucket) any more than in the aggregate.
    #[tokio::test]
    async fn link_events_are_not_visits_in_a_timeseries() {
        let (_dir, store) = fresh();
        let visit = |i: u64, entry: bool| EventRow {
            session_id: 42,
            visitor_id: 7,
            entry,
            server_side: false,
            ..row(i)
        };
        let mut rows = vec![visit(0, true), visit(100, false)];
        rows.extend((1..4).map(link_row));
        submit(&store, rows).await;
        let q = all_time(3, true);
        let total = store.aggregate(&q).expect("aggregate");
        let bucket = Bucket {
            label: "all".into(),
            start: q.from,
            end: q.to,
        };
        let series = store.timeseries(&q, &[bucket]).expect("timeseries");
        for a in [total, series[0]] {
            assert_eq!((a.visits, a.session_visits, a.bounces), (1, 1, 0), "{a:?}");
        }
        store.shutdown();
    }

    /// A database made before link events had their own table (schema version 4) opens
    /// with its rows intact: the wide table is renamed, the `events` view reads it.
    #[tokio::test]
    async fn a_version_4_database_upgrades_with_its_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let conn = Connection::open(dir.path().join("events.duckdb")).expect("conn");
            migrate_to(&conn, 4).expect("migrate to 4");
            conn.execute_batch(
                "INSERT INTO events (site_id, ts, name, visitor_id, session_id, entry, hostname, \
                 pathname, entry_page, referrer, source, utm_source, utm_medium, utm_campaign, \
                 utm_term, utm_content, click_id, channel, channel_group, evidence, device, \
                 browser, os, country, screen_width, prop_keys, prop_values, link_id) \
                 VALUES (3, TIMESTAMP '2026-01-02 03:04:05', 'link_click', 1, 2, false, 'l', \
                 '/l/a', '/l/a', '', 'WhatsApp', '', '', '', '', '', '', 'whatsapp', \
                 'private-message', 'short-link', 'mobile', 'Chrome', 'Android', '', 0, '', '', 9)",
            )
            .expect("old row");
        }
        let store = DuckEvents::open(dir.path(), 100).expect("open");
        assert_eq!(store.count().expect("count"), 1);
        assert_eq!(
            store
                .scalar_i64("SELECT count(*)::BIGINT FROM site_events WHERE link_id = 9")
                .expect("renamed"),
            1
        );
        submit(&store, vec![link_row(0)]).await;
        assert_eq!(store.count().expect("count"), 2);
        store.shutdown();
    }

    /// A database of the release before engagement columns (schema version 5) opens with
    /// its rows intact, reading 0 for the new columns through the view, and takes rows
    /// that carry them (migration 0006: one column added per back end, nothing else).
    #[tokio::test]
    async fn a_version_5_database_gains_the_engagement_columns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = row(3);
        {
            let conn = Connection::open(dir.path().join("events.duckdb")).expect("conn");
            migrate_to(&conn, 5).expect("migrate to 5");
            conn.execute_batch(
                "INSERT INTO site_events (site_id, ts, name, visitor_id, session_id, entry, \
                 hostname, pathname, entry_page, referrer, source, utm_source, utm_medium, \
                 utm_campaign, utm_term, utm_content, click_id, channel, channel_group, \
                 evidence, device, browser, os, country, screen_width, prop_keys, prop_values, \
                 revenue_minor, revenue_currency, token, parent_token, parent_session, \
                 generation, visit_share_channel, token_status, share_channel, link_id, \
                 server_side) \
                 SELECT 3, make_timestamp(1700000000000003), 'pageview', 3, 9, false, \
                 'example.com', '/p/3/café', '/', 'android-app://com.whatsapp', 'WhatsApp', 's', \
                 'm', 'c', 't', 'x', 'fbclid', 'whatsapp', 'estimated-dark', 'survey', 'mobile', \
                 'Safari', 'iOS', 'FR', 390, 'plan', 'pro', 1990, 'EUR', 4, 21, 33, 3, \
                 'address-bar', 'linked', '', 39, false",
            )
            .expect("old row");
        }
        let store = DuckEvents::open(dir.path(), 100).expect("open");
        let mut new = row(4);
        new.scroll_depth = 90;
        new.engagement_ms = 45_000;
        submit(&store, vec![new.clone()]).await;
        assert_reads_back(&store, &[old, new]);
        store.shutdown();
    }

    #[tokio::test]
    async fn export_gives_back_every_row() {
        let (_dir, store) = fresh();
        let rows: Vec<EventRow> = (0..25)
            .map(|i| EventRow {
                site_id: if i % 3 == 0 { 5 } else { 3 },
                ..row(i)
            })
            .collect();
        for chunk in rows.chunks(10) {
            let ticket = store.submit(chunk.to_vec()).expect("submit");
            ticket.await.expect("ticket").expect("committed");
        }
        let mut seen = Vec::new();
        let mut batches = 0;
        let n = store
            .export_rows(7, |b| {
                assert!(b.len() <= 7);
                batches += 1;
                seen.extend(b);
                Ok(())
            })
            .expect("export");
        assert_eq!((n, batches), (25, 4));
        let key = |r: &EventRow| (r.ts, r.session_id);
        let mut expected = rows.clone();
        expected.sort_by_key(key);
        seen.sort_by_key(key);
        assert_eq!(seen, expected);
        let mut per_site = std::collections::BTreeMap::new();
        for r in &rows {
            *per_site.entry(r.site_id).or_insert(0u64) += 1;
        }
        assert_eq!(
            store.site_counts().expect("site counts"),
            per_site.into_iter().collect::<Vec<_>>()
        );
        store.shutdown();
    }
}
