//! Reports from rollups and raw events together on DuckDB: `crate::rollups` decides and
//! adds (`Shape`, `plan`, `rows`, `timeseries`); this reads DuckDB's side of it, the
//! state of the days and the raw part after the seam.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use duckdb::types::Value;
use duckdb::{params_from_iter, Connection};
use lucarne_core::stats::{Aggregates, Bucket, ReportQuery};

use super::rollup::{self, date_value, ts};
use crate::events::StoreError;
use crate::report::{NOT_VISIT_EVENTS, VISIT_KINDS};
use crate::rollups::{epoch_day, lookback, DayRow, Days, Rolled, Shape, VERSION};

/// DuckDB's rollups and raw events, through one reader connection.
pub(super) struct DuckRolled<'a> {
    pub(super) conn: &'a Connection,
    /// The settled part of today's raw rows, kept between reports (None: none kept).
    pub(super) memo: Option<&'a TailMemo>,
}

impl<'a> DuckRolled<'a> {
    /// Rollups and raw events through `conn`, without a memo.
    pub(super) fn new(conn: &'a Connection) -> Self {
        DuckRolled { conn, memo: None }
    }
}

impl Rolled for DuckRolled<'_> {
    fn days(&self, site_id: u32, d0: NaiveDate, d1: NaiveDate) -> Result<Days, StoreError> {
        let conn = self.conn;
        let site = Value::UInt(site_id);
        let mut days = Days::default();
        {
            let mut stmt = conn
                .prepare(
                    "SELECT (utc_day - DATE '1970-01-01')::BIGINT, max(seq) FROM rollup_marks
                     WHERE site_id = ? AND utc_day >= ? AND utc_day <= ? GROUP BY utc_day",
                )
                .map_err(StoreError::backend)?;
            let rows = stmt
                .query_map(
                    params_from_iter([
                        site.clone(),
                        date_value(d0 - chrono::Duration::days(1)),
                        date_value(d1),
                    ]),
                    |r| Ok((epoch_day(r.get::<_, i64>(0)?), r.get::<_, i64>(1)?)),
                )
                .map_err(StoreError::backend)?;
            for r in rows {
                let (d, seq) = r.map_err(StoreError::backend)?;
                days.marked.insert(d, seq);
            }
        }
        let mut stmt = conn
            .prepare(
                "SELECT (utc_day - DATE '1970-01-01')::BIGINT, tz, through FROM rollup_built
                 WHERE site_id = ? AND utc_day >= ? AND utc_day <= ? AND version = ?",
            )
            .map_err(StoreError::backend)?;
        let rows = stmt
            .query_map(
                params_from_iter([site, date_value(d0), date_value(d1), Value::Int(VERSION)]),
                |r| {
                    Ok((
                        epoch_day(r.get::<_, i64>(0)?),
                        (r.get::<_, String>(1)?, r.get::<_, i64>(2)?),
                    ))
                },
            )
            .map_err(StoreError::backend)?;
        for r in rows {
            let (d, built) = r.map_err(StoreError::backend)?;
            days.built.insert(d, built);
        }
        Ok(days)
    }

    fn distinct_visits(&self) -> bool {
        true
    }

    fn rolled(
        &self,
        site_id: u32,
        dim: &str,
        within: Option<(&str, bool)>,
        tz: Tz,
        from: NaiveDate,
        to: NaiveDate,
        distinct: bool,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        rollup::breakdown(self.conn, site_id, dim, within, (tz, from, to), distinct)
    }

    fn daily_rows(
        &self,
        site_id: u32,
        row: (&str, &str),
        from: NaiveDate,
        to: NaiveDate,
        distinct: bool,
    ) -> Result<Vec<DayRow>, StoreError> {
        rollup::daily_rows(self.conn, site_id, row, from, to, distinct)
    }

    fn tail(
        &self,
        site_id: u32,
        shape: &Shape,
        (from, seam, to): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>),
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        let part = Part {
            site_id,
            shape,
            from,
            seam,
        };
        if let Some(memo) = self.memo {
            if let Some(out) = split_tail(self.conn, memo, &part, to, now)? {
                return Ok(out.into_iter().collect());
            }
        }
        Ok(tail(self.conn, &part, seam, to)?.into_iter().collect())
    }

    fn raw_timeseries(&self, q: &ReportQuery, b: &[Bucket]) -> Result<Vec<Aggregates>, StoreError> {
        super::sql::timeseries(self.conn, q, b)
    }

    fn raw_aggregate(&self, q: &ReportQuery) -> Result<Aggregates, StoreError> {
        super::sql::aggregate(self.conn, q)
    }
}

/// What a raw part is cut from: a range starting at `from`, rolled up before `seam`.
struct Part<'a> {
    site_id: u32,
    shape: &'a Shape,
    from: DateTime<Utc>,
    seam: DateTime<Utc>,
}

impl Part<'_> {
    /// The key column as text, and the filter's SQL and value.
    fn sql(&self) -> (String, String, Vec<Value>) {
        let key = match self.shape.key {
            Some(c) => format!("CAST({c} AS VARCHAR)"),
            None => "''".into(),
        };
        match &self.shape.filter {
            Some((c, v)) => (key, format!(" AND {c} = ?"), vec![Value::Text(v.clone())]),
            None => (key, String::new(), Vec::new()),
        }
    }

    fn lookback(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        lookback(self.from, self.seam, self.shape.event_level())
    }
}

type Keyed = BTreeMap<String, Aggregates>;

/// The raw rows `[lo, to)` of `part` (`lo` at or after its seam), keyed like the rollups:
/// a visitor counts unless its (id, key) pair has a row in the lookback before the seam
/// (`lookback`; before `short`, only the visitors of server-side rows in `[seam, to)`) or
/// between the seam and `lo`; visit numbers count the visits begun in `[lo, to)`, over
/// their rows in it. With `lo` at the seam this is [`Rolled::tail`].
fn tail(
    conn: &Connection,
    part: &Part,
    lo: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Keyed, StoreError> {
    let site_id = part.site_id;
    let (key, filt, fval) = part.sql();
    let (long, short) = part.lookback();
    let range = |a: DateTime<Utc>, b: DateTime<Utc>| {
        let mut v = vec![Value::UInt(site_id), ts(a), ts(b)];
        v.extend(fval.iter().cloned());
        v
    };
    // After the seam, only the visitors of `[lo, to)` are looked up (few, when `lo` is
    // minutes before `to`), listed as an array: a subquery over the rows makes DuckDB
    // hash the lookback's rows rather than the few ids, and a plain IN list of a
    // thousand numbers is slow too (measured with 824 ids: 40, 30 and 15 ms a query).
    // The lookback reads `site_events` alone: link events are never seen visits.
    let only_recent = if lo > part.seam {
        let ids = ids_in(
            conn,
            &format!("SELECT DISTINCT visitor_id FROM events WHERE site_id = ? AND ts >= ? AND ts < ?{filt}"),
            range(lo, to),
        )?;
        if ids.is_empty() {
            return Ok(Keyed::new());
        }
        format!(
            " AND visitor_id IN (SELECT unnest([{}]::UBIGINT[]))",
            list(&ids)
        )
    } else {
        String::new()
    };
    // Before `short`, only the visitors of server-side rows after the seam: few, usually
    // none (then the lookback starts at `short`).
    let server_side = ids_in(
        conn,
        "SELECT DISTINCT visitor_id FROM site_events WHERE site_id = ? AND ts >= ? AND ts < ? \
         AND server_side",
        vec![Value::UInt(site_id), ts(part.seam), ts(to)],
    )?;
    let (from_seen, early) = if server_side.is_empty() || long >= short {
        (short, String::new())
    } else {
        let early = format!(" AND (ts >= ? OR visitor_id IN ({}))", list(&server_side));
        (long, early)
    };
    // Under a page filter, visits are the distinct visits with a row, less those that had
    // the same (visit, key) before `lo` (a visit's key columns other than the page are
    // its own, so this is the page's, seen since `from_seen`).
    let distinct = part.shape.distinct;
    let (visits_seen, visits) = if distinct {
        let v = |c: &str| {
            format!(
                "(count(DISTINCT session_id) FILTER (WHERE name NOT IN {NOT_VISIT_EVENTS} AND s_sid IS NULL{c}))::BIGINT"
            )
        };
        (
            format!(
                ",
              seen_v AS (SELECT DISTINCT session_id AS s_sid, {key} AS s_skey FROM site_events
                         WHERE site_id = ? AND ts >= ? AND ts < ? AND name NOT IN {NOT_VISIT_EVENTS}{filt}
                           {only_recent})"
            ),
            VISIT_KINDS.map(v),
        )
    } else {
        (
            String::new(),
            [
                "(count(*) FILTER (WHERE entry))::BIGINT".to_string(),
                "(count(*) FILTER (WHERE entry AND channel_group IN ('private-message', 'email')))::BIGINT".to_string(),
                "(count(*) FILTER (WHERE entry AND channel_group = 'estimated-dark'))::BIGINT".to_string(),
            ],
        )
    };
    let join_v = if distinct {
        " LEFT JOIN seen_v ON t.session_id = seen_v.s_sid AND t.k = seen_v.s_skey"
    } else {
        ""
    };
    let [v_all, v_ident, v_est] = visits;
    let sql = format!(
        "WITH t AS (SELECT visitor_id, session_id, name, entry, channel_group, {key} AS k FROM events
                    WHERE site_id = ? AND ts >= ? AND ts < ?{filt}),
              seen AS (SELECT DISTINCT visitor_id AS s_vid, {key} AS s_key FROM site_events
                       WHERE site_id = ? AND ts >= ? AND ts < ? AND name NOT IN {NOT_VISIT_EVENTS}{filt}
                         {early}{only_recent}){visits_seen}
         SELECT k,
                (count(DISTINCT visitor_id) FILTER (WHERE name NOT IN {NOT_VISIT_EVENTS} AND s_vid IS NULL))::BIGINT,
                {v_all},
                (count(*) FILTER (WHERE name = 'pageview'))::BIGINT,
                count(*)::BIGINT,
                {v_ident},
                {v_est}
         FROM t LEFT JOIN seen ON t.visitor_id = seen.s_vid AND t.k = seen.s_key{join_v}
         GROUP BY k"
    );
    let mut params = range(lo, to);
    params.extend(range(from_seen, lo));
    if !early.is_empty() {
        params.push(ts(short));
    }
    if distinct {
        params.extend(range(from_seen, lo));
    }
    let mut found = Keyed::new();
    {
        let mut stmt = conn.prepare(&sql).map_err(StoreError::backend)?;
        let rows = stmt
            .query_map(params_from_iter(params), |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    rollup::counts_at(r, false)?,
                ))
            })
            .map_err(StoreError::backend)?;
        for r in rows {
            let (k, a) = r.map_err(StoreError::backend)?;
            found.insert(k, a);
        }
    }
    if part.shape.with_sessions {
        // A visit filter holds on all of a visit's rows; a page filter keeps the visits
        // with a row of the page, over all their rows.
        let (rows_filt, kept) = if part.shape.event_level() {
            (
                String::new(),
                format!(
                    " AND session_id IN (SELECT session_id FROM site_events
                                         WHERE site_id = ? AND ts >= ? AND ts < ?{filt}
                                           AND name NOT IN {NOT_VISIT_EVENTS} AND NOT server_side)"
                ),
            )
        } else {
            (filt.clone(), String::new())
        };
        let sql = format!(
            "SELECT k, count(*)::BIGINT, (count(*) FILTER (WHERE pv <= 1))::BIGINT,
                    coalesce(sum(dur), 0)::DOUBLE FROM (
                SELECT {key} AS k, session_id, count(*) FILTER (WHERE name = 'pageview') AS pv,
                       (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur
                FROM site_events WHERE site_id = ? AND ts >= ? AND ts < ?{rows_filt}
                  AND name NOT IN {NOT_VISIT_EVENTS} AND NOT server_side
                  AND session_id IN (SELECT session_id FROM site_events
                                     WHERE site_id = ? AND ts >= ? AND ts < ? AND entry){kept}
                GROUP BY k, session_id)
             GROUP BY k"
        );
        let mut params = if kept.is_empty() {
            range(lo, to)
        } else {
            vec![Value::UInt(site_id), ts(lo), ts(to)]
        };
        params.extend([Value::UInt(site_id), ts(lo), ts(to)]);
        if !kept.is_empty() {
            params.extend(range(lo, to));
        }
        let mut stmt = conn.prepare(&sql).map_err(StoreError::backend)?;
        let rows = stmt
            .query_map(params_from_iter(params), |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, f64>(3)?,
                ))
            })
            .map_err(StoreError::backend)?;
        for r in rows {
            let (k, visits, bounces, dur) = r.map_err(StoreError::backend)?;
            let a = found.entry(k).or_default();
            a.session_visits += visits;
            a.bounces += bounces;
            a.duration_secs += dur;
        }
    }
    Ok(found)
}

/// The raw part `[seam, to)` in two: the settled part `[seam, cut)`, kept in `memo`, and
/// the recent part `[cut, to)`, read each time, with what the recent rows change in the
/// settled part's visits. None when the range has no settled part, or when a server-side
/// row after the cut would make a visitor counted in the settled part one seen before
/// the seam (then the caller reads the whole raw part).
fn split_tail(
    conn: &Connection,
    memo: &TailMemo,
    part: &Part,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Keyed>, StoreError> {
    let cut = memo.cut(now);
    // A page filter's visit-level numbers are a visit's over all its rows, which
    // `carried_visits` does not add up: read the raw part whole.
    let page_visits = part.shape.with_sessions && part.shape.event_level();
    if page_visits
        || cut <= part.seam
        || cut >= to
        || server_side_reaches_back(conn, part, cut, to)?
    {
        return Ok(None);
    }
    let key = MemoKey {
        site_id: part.site_id,
        key: part.shape.key,
        filter: part.shape.filter.clone(),
        with_sessions: part.shape.with_sessions,
        distinct: part.shape.distinct,
        from: part.from,
        seam: part.seam,
        cut,
    };
    let mut out = match memo.get(&key) {
        Some(settled) => settled,
        None => {
            let generation = memo.generation.load(Ordering::Acquire);
            let settled = tail(conn, part, part.seam, cut)?;
            memo.put(key, generation, &settled);
            settled
        }
    };
    for (k, a) in tail(conn, part, cut, to)? {
        crate::rollups::add(out.entry(k).or_default(), &a);
    }
    if part.shape.with_sessions {
        for (k, (visits, bounces, dur)) in carried_visits(conn, part, cut, to)? {
            let a = out.entry(k).or_default();
            a.session_visits = a.session_visits.saturating_add_signed(visits);
            a.bounces = a.bounces.saturating_add_signed(bounces);
            a.duration_secs += dur;
        }
    }
    Ok(Some(out))
}

/// The ids (visitor or session) the first column of `sql` lists.
fn ids_in(conn: &Connection, sql: &str, params: Vec<Value>) -> Result<Vec<u64>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| r.get::<_, u64>(0))
        .map_err(StoreError::backend)?;
    rows.map(|r| r.map_err(StoreError::backend)).collect()
}

/// Numbers as an SQL list (no text is ever put in SQL this way).
fn list(ids: &[u64]) -> String {
    ids.iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the rows of `[cut, to)` change in the visits begun in `[seam, cut)`, per key:
/// (visits, bounces, seconds) over `[seam, to)` less the same over `[seam, cut)`.
fn carried_visits(
    conn: &Connection,
    part: &Part,
    cut: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<BTreeMap<String, (i64, i64, f64)>, StoreError> {
    let site_id = Value::UInt(part.site_id);
    let (key, filt, fval) = part.sql();
    // The recent rows' visits (few), then those of them begun before the cut: listed, so
    // DuckDB hashes the few ids, not the day's rows.
    let mut params = vec![site_id.clone(), ts(cut), ts(to)];
    params.extend(fval.iter().cloned());
    let recent = ids_in(
        conn,
        &format!(
            "SELECT DISTINCT session_id FROM site_events WHERE site_id = ? AND ts >= ? AND ts < ? \
             AND name NOT IN {NOT_VISIT_EVENTS} AND NOT server_side{filt}"
        ),
        params,
    )?;
    if recent.is_empty() {
        return Ok(BTreeMap::new());
    }
    let carried = ids_in(
        conn,
        &format!(
            "SELECT DISTINCT session_id FROM site_events WHERE site_id = ? AND ts >= ? AND ts < ? \
             AND entry AND session_id IN ({})",
            list(&recent)
        ),
        vec![site_id.clone(), ts(part.seam), ts(cut)],
    )?;
    if carried.is_empty() {
        return Ok(BTreeMap::new());
    }
    let carried = list(&carried);
    let sql = format!(
        "SELECT k, (count(*) - count(*) FILTER (WHERE n_before > 0))::BIGINT,
                ((count(*) FILTER (WHERE pv <= 1)) - (count(*) FILTER (WHERE n_before > 0 AND pv_before <= 1)))::BIGINT,
                (coalesce(sum(dur), 0) - coalesce(sum(dur_before), 0))::DOUBLE
         FROM (SELECT {key} AS k, session_id,
                      count(*) FILTER (WHERE name = 'pageview') AS pv,
                      (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur,
                      count(*) FILTER (WHERE ts < ?) AS n_before,
                      count(*) FILTER (WHERE name = 'pageview' AND ts < ?) AS pv_before,
                      (epoch_us(max(ts) FILTER (WHERE ts < ?)) - epoch_us(min(ts) FILTER (WHERE ts < ?))) / 1e6 AS dur_before
               FROM site_events WHERE site_id = ? AND ts >= ? AND ts < ?{filt}
                 AND name NOT IN {NOT_VISIT_EVENTS} AND NOT server_side
                 AND session_id IN ({carried})
               GROUP BY k, session_id)
         GROUP BY k"
    );
    let mut params = vec![ts(cut), ts(cut), ts(cut), ts(cut)];
    params.extend([site_id, ts(part.seam), ts(to)]);
    params.extend(fval);
    let mut stmt = conn.prepare(&sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| {
            Ok((
                r.get::<_, Option<String>>(0)?.unwrap_or_default(),
                (
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, f64>(3)?,
                ),
            ))
        })
        .map_err(StoreError::backend)?;
    rows.map(|r| r.map_err(StoreError::backend)).collect()
}

/// Would the settled part count a visitor the whole raw part does not: one with a
/// server-side row after the cut (and none before it), a visit row in `[seam, cut)` and
/// a row before the short lookback (then the whole raw part sees it there)?
fn server_side_reaches_back(
    conn: &Connection,
    part: &Part,
    cut: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let (long, short) = part.lookback();
    if long >= short {
        return Ok(false);
    }
    let site = || Value::UInt(part.site_id);
    // Server-side rows are few: listed first, and usually there are none.
    let late = ids_in(
        conn,
        "SELECT DISTINCT visitor_id FROM site_events WHERE site_id = ? AND ts >= ? AND ts < ? \
         AND server_side",
        vec![site(), ts(cut), ts(to)],
    )?;
    if late.is_empty() {
        return Ok(false);
    }
    let late = list(&late);
    let n: i64 = conn
        .query_row(
            &format!(
                "SELECT count(*) FROM (SELECT unnest([{late}]::UBIGINT[]) AS visitor_id)
                 WHERE visitor_id NOT IN (SELECT visitor_id FROM site_events
                                          WHERE site_id = ? AND ts >= ? AND ts < ? AND server_side
                                            AND visitor_id IN ({late}))
                   AND visitor_id IN (SELECT visitor_id FROM events
                                      WHERE site_id = ? AND ts >= ? AND ts < ? AND name NOT IN {NOT_VISIT_EVENTS}
                                        AND visitor_id IN ({late}))
                   AND visitor_id IN (SELECT visitor_id FROM events
                                      WHERE site_id = ? AND ts >= ? AND ts < ? AND visitor_id IN ({late}))"
            ),
            params_from_iter([
                site(),
                ts(part.seam),
                ts(cut),
                site(),
                ts(part.seam),
                ts(cut),
                site(),
                ts(long),
                ts(short),
            ]),
            |r| r.get(0),
        )
        .map_err(StoreError::backend)?;
    Ok(n > 0)
}

/// Which settled part a memo entry is.
#[derive(Clone, PartialEq, Eq, Hash)]
struct MemoKey {
    site_id: u32,
    key: Option<&'static str>,
    filter: Option<(&'static str, String)>,
    with_sessions: bool,
    /// Visits counted distinct (a page filter) or by entry rows: the pages panel with and
    /// without a page filter read the same key otherwise.
    distinct: bool,
    from: DateTime<Utc>,
    seam: DateTime<Utc>,
    cut: DateTime<Utc>,
}

/// Rows (values of a key) kept at most, over all entries: past it the memo starts again.
/// A row is about 150 bytes, so this bounds the memo near 30 MB however many pages a
/// site has and however many shapes are asked for (a dashboard asks about 40 a cut).
const MEMO_ROWS: usize = 200_000;

/// The settled part of the raw rows after the seam, per report shape, kept between
/// reports: rows up to the cut (a whole step, `lag` ago) no longer change, except a late
/// row or a deletion, which bump `generation` (the entries of an older one are not used).
pub(super) struct TailMemo {
    entries: Mutex<HashMap<MemoKey, (u64, Keyed)>>,
    /// Bumped by the loader after it commits a row older than [`LATE`] and after every
    /// deletion.
    pub(super) generation: Arc<AtomicU64>,
    /// A cut pinned at one instant (tests); `None`: [`CUT_LAG_SECS`] behind the clock,
    /// down to a whole [`CUT_STEP_SECS`].
    pinned: Mutex<Option<DateTime<Utc>>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// A row loaded this long after its time bumps the memo's generation: the cut is
/// `CUT_LAG` behind the clock, so no row the loader commits later can fall before it
/// without doing so.
pub(super) const LATE: chrono::Duration = chrono::Duration::minutes(2);
const CUT_LAG_SECS: i64 = 5 * 60;
const CUT_STEP_SECS: i64 = 10 * 60;

impl TailMemo {
    pub(super) fn new(generation: Arc<AtomicU64>) -> Self {
        TailMemo {
            entries: Mutex::new(HashMap::new()),
            generation,
            pinned: Mutex::new(None),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The cut at `now`: [`CUT_LAG_SECS`] before it, down to a whole [`CUT_STEP_SECS`],
    /// or the pinned instant. Never later than [`LATE`] before `now`: a row loaded after
    /// the cut with a time before it must have bumped the generation.
    fn cut(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let latest = now - LATE - chrono::Duration::seconds(1);
        if let Some(at) = self.pinned.lock().ok().and_then(|g| *g) {
            return at.min(latest);
        }
        let t = now.timestamp() - CUT_LAG_SECS;
        DateTime::from_timestamp(t - t.rem_euclid(CUT_STEP_SECS), 0).unwrap_or(latest)
    }

    /// Pin the cut at `at` (tests: a cut that stays where their rows are while they run;
    /// one before the seam reads the raw part whole).
    pub(super) fn pin_cut(&self, at: DateTime<Utc>) {
        if let Ok(mut g) = self.pinned.lock() {
            *g = Some(at);
        }
    }

    fn get(&self, key: &MemoKey) -> Option<Keyed> {
        let generation = self.generation.load(Ordering::Acquire);
        let found = self
            .entries
            .lock()
            .ok()?
            .get(key)
            .filter(|(g, _)| *g == generation)
            .map(|(_, rows)| rows.clone());
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keep `rows`, computed from a snapshot taken after `generation` was read.
    fn put(&self, key: MemoKey, generation: u64, rows: &Keyed) {
        if rows.len() > MEMO_ROWS {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            // Entries of an earlier cut are never asked for again.
            entries.retain(|k, _| k.cut >= key.cut);
            let kept: usize = entries.values().map(|(_, r)| r.len()).sum();
            if kept + rows.len() > MEMO_ROWS {
                entries.clear();
            }
            entries.insert(key, (generation, rows.clone()));
        }
    }

    /// (hits, misses) so far.
    pub(super) fn stats(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(cut_min: i64, site_id: u32) -> MemoKey {
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).expect("time");
        MemoKey {
            site_id,
            key: Some("pathname"),
            filter: None,
            with_sessions: false,
            distinct: false,
            from: t0,
            seam: t0,
            cut: t0 + chrono::Duration::minutes(cut_min),
        }
    }

    fn rows(n: usize) -> Keyed {
        (0..n)
            .map(|i| (format!("/p/{i}"), Aggregates::default()))
            .collect()
    }

    /// The memo forgets the entries of an earlier cut, never holds more than
    /// [`MEMO_ROWS`] rows, and does not keep an entry of a different generation.
    #[test]
    fn the_memo_is_bounded_and_keeps_only_the_current_cut() {
        let memo = TailMemo::new(Arc::new(AtomicU64::new(0)));
        memo.put(key(10, 1), 0, &rows(3));
        memo.put(key(10, 2), 0, &rows(3));
        assert!(memo.get(&key(10, 1)).is_some() && memo.get(&key(10, 2)).is_some());
        memo.put(key(20, 1), 0, &rows(3));
        assert!(memo.get(&key(10, 1)).is_none() && memo.get(&key(10, 2)).is_none());
        assert_eq!(memo.get(&key(20, 1)).map(|r| r.len()), Some(3));
        // Past the bound: what was kept goes; a map larger than the bound is not kept.
        memo.put(key(20, 2), 0, &rows(MEMO_ROWS - 1));
        assert!(memo.get(&key(20, 1)).is_none());
        assert!(memo.get(&key(20, 2)).is_some());
        memo.put(key(20, 3), 0, &rows(MEMO_ROWS + 1));
        assert!(memo.get(&key(20, 3)).is_none() && memo.get(&key(20, 2)).is_some());
        // A late row or a deletion: a new generation, nothing kept is used.
        memo.generation.fetch_add(1, Ordering::AcqRel);
        assert!(memo.get(&key(20, 2)).is_none());
    }
}
