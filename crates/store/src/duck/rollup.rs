//! Daily rollups (issue 20, being built; ARCHITECTURE.md, "Reports at publisher scale"):
//! one UTC day of a site's events summed per (local day, dimension, value) into the
//! `rollups` table, and breakdowns over runs of whole local days read back from it.
//!
//! Exact because visitor ids change at every UTC midnight: a distinct count within one
//! (UTC day, local day) slice, summed over slices, is the distinct count of the run. The
//! numbers are those of the unfiltered event-level report (`report::event_level_sql`):
//! visitors over the rows that are not link events, visits and dark visits over entry
//! rows, pageviews, and every event (link events included).
//!
//! Visit-level sums (visits, bounces, durations) are rows of their own, per visit
//! dimension, each visit counted in the slice it began in and taken up to the end of that
//! UTC day. Pairs of dimensions (`PAIRS`) answer a breakdown filtered by another visit
//! dimension. `hybrid` decides when reports read them; `maintain` builds the days the
//! loader marked (`rollup_marks`), recording what it built in `rollup_built`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params_from_iter, Connection};
use lucarne_core::stats::Aggregates;

use crate::events::StoreError;
use crate::report::NOT_VISIT_EVENTS;

/// The dimensions a day is rolled up by: the overview's panels (their property name and
/// stored column). The totals are the dimension `''`. For the one event-level dimension,
/// `event:page`, a visit begun the day before may view a page only after midnight: the
/// `carried_new` counts add those visitors.
pub const DIMENSIONS: &[(&str, &str)] = &[
    ("visit:channel_group", "channel_group"),
    ("visit:channel", "channel"),
    ("visit:evidence", "evidence"),
    ("visit:source", "source"),
    ("visit:entry_page", "entry_page"),
    ("event:page", "pathname"),
    ("visit:utm_source", "utm_source"),
    ("visit:utm_medium", "utm_medium"),
    ("visit:utm_campaign", "utm_campaign"),
    ("visit:device", "device"),
    ("visit:browser", "browser"),
    ("visit:os", "os"),
    ("visit:country", "country"),
];

/// Pairs of dimensions rolled up together, for a breakdown by one filtered by one value
/// of the other: every panel of the overview filtered by a channel group (the filter
/// Lucarne is about; its private apps among them), and, read the other way round, its
/// split of `Direct / None` by channel group. Stored under the dimension `first>second`,
/// the value `a` + U+001F + `b`; each pair of columns once.
pub const PAIRS: &[(&str, &str)] = &[
    ("visit:channel_group", "visit:channel"),
    ("visit:channel_group", "visit:evidence"),
    ("visit:channel_group", "visit:source"),
    ("visit:channel_group", "visit:entry_page"),
    ("visit:channel_group", "event:page"),
    ("visit:channel_group", "visit:utm_source"),
    ("visit:channel_group", "visit:utm_medium"),
    ("visit:channel_group", "visit:utm_campaign"),
    ("visit:channel_group", "visit:device"),
    ("visit:channel_group", "visit:browser"),
    ("visit:channel_group", "visit:os"),
    ("visit:channel_group", "visit:country"),
];

/// The stored column of a rolled-up dimension.
pub fn column_of(dim: &str) -> Option<&'static str> {
    DIMENSIONS.iter().find(|(n, _)| *n == dim).map(|(_, c)| *c)
}

/// The dimension name a pair is stored under.
pub fn pair_dim(first: &str, second: &str) -> String {
    format!("{first}>{second}")
}

/// The definition of the rollups (their dimensions, pairs and counts). A day built by
/// another is rebuilt, and not read meanwhile: raise it whenever what a day's rows hold
/// changes.
pub const VERSION: i32 = 1;

/// How long after its UTC day ends a day is taken as closed: a visit still going at
/// midnight has ended by then (the visit timeout).
pub const CLOSE_AFTER_MINUTES: i64 = 30;

pub(super) fn ts(t: DateTime<Utc>) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros())
}

/// The local midnight inside UTC day `day` in `tz`, if one falls strictly inside it (none
/// for UTC itself), and the local dates before and after it.
fn local_split(day: NaiveDate, tz: Tz) -> (NaiveDate, Option<(DateTime<Utc>, NaiveDate)>) {
    let start = day_start(day);
    let end = start + Duration::days(1);
    let first = start.with_timezone(&tz).date_naive();
    let next = first + Duration::days(1);
    let midnight = tz
        .from_local_datetime(&next.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc));
    match midnight {
        Some(m) if m > start && m < end => (first, Some((m, next))),
        _ => (first, None),
    }
}

/// Replace the rollups of `site_id`'s UTC day `day` (its local days in `tz`) and record
/// the build in `rollup_built`, in one transaction; the number of rows written.
pub fn build_day(
    conn: &Connection,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
) -> Result<usize, StoreError> {
    conn.execute_batch("BEGIN TRANSACTION")
        .map_err(StoreError::backend)?;
    let out = build_in_transaction(conn, site_id, day, tz);
    let end = if out.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end)
        .map_err(|e| StoreError::backend(format!("rollup of {day}: {e}")))?;
    out
}

fn build_in_transaction(
    conn: &Connection,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
) -> Result<usize, StoreError> {
    let site = Value::UInt(site_id);
    let date = date_value(day);
    // The marks this build covers: those of this day and the day before, as this
    // transaction sees them; later ones make the day dirty again.
    let through: i64 = conn
        .query_row(
            "SELECT coalesce(max(seq), 0) FROM rollup_marks
             WHERE site_id = ? AND utc_day >= ? - 1 AND utc_day <= ?",
            params_from_iter([site.clone(), date.clone(), date.clone()]),
            |r| r.get(0),
        )
        .map_err(StoreError::backend)?;
    // Statements of this site's day (its id and date their only parameters).
    let of_day = |sql: &str| {
        conn.execute(sql, params_from_iter([site.clone(), date.clone()]))
            .map_err(StoreError::backend)
    };
    for table in ["rollups", "rollup_pairs", "rollup_built"] {
        of_day(&format!(
            "DELETE FROM {table} WHERE site_id = ? AND utc_day = ?"
        ))?;
    }
    let mut n = insert_event_rows(conn, site_id, day, tz)?;
    n += insert_visit_rows(conn, site_id, day, tz)?;
    // The pairs' rows to their own table.
    of_day(
        "INSERT INTO rollup_pairs SELECT * FROM rollups
         WHERE site_id = ? AND utc_day = ? AND dim LIKE '%>%'",
    )?;
    of_day("DELETE FROM rollups WHERE site_id = ? AND utc_day = ? AND dim LIKE '%>%'")?;
    conn.execute(
        "INSERT INTO rollup_built VALUES (?, ?, ?, ?, ?)",
        params_from_iter([
            site,
            date,
            Value::Text(tz.name().to_string()),
            Value::BigInt(through),
            Value::Int(VERSION),
        ]),
    )
    .map_err(StoreError::backend)?;
    Ok(n)
}

/// The SQL of a row's local day, and its parameter (the local midnight inside the UTC
/// day, if any).
fn local_day_sql(day: NaiveDate, tz: Tz, col: &str) -> (String, Vec<Value>) {
    let (first, split) = local_split(day, tz);
    match split {
        None => (format!("DATE '{first}'"), Vec::new()),
        Some((m, next)) => (
            format!("CASE WHEN {col} < ? THEN DATE '{first}' ELSE DATE '{next}' END"),
            vec![ts(m)],
        ),
    }
}

/// The grouping sets of `cols` (one column each, and the pairs' columns together), by
/// slice and by whole day, and the CASE expressions naming a row's dimension and value.
fn grouping(
    dims: &[(&str, &str)],
    pairs: &[(&str, &str)],
    totals: bool,
) -> (String, String, String) {
    let pair_cols: Vec<(String, &str, &str)> = pairs
        .iter()
        .filter_map(|(a, b)| Some((pair_dim(a, b), column_of(a)?, column_of(b)?)))
        .collect();
    let mut sets = Vec::new();
    if totals {
        sets.extend(["(local_day)".to_string(), "()".to_string()]);
    }
    for (_, c) in dims {
        sets.push(format!("(local_day, {c})"));
        sets.push(format!("({c})"));
    }
    for (_, a, b) in &pair_cols {
        sets.push(format!("(local_day, {a}, {b})"));
        sets.push(format!("({a}, {b})"));
    }
    // A pair's set groups both columns: it is named before either one alone.
    let mut dim_case = String::new();
    let mut value_case = String::new();
    for (name, a, b) in &pair_cols {
        let cond = format!("grouping({a}) = 0 AND grouping({b}) = 0");
        dim_case.push_str(&format!(" WHEN {cond} THEN '{name}'"));
        value_case.push_str(&format!(
            " WHEN {cond} THEN CAST({a} AS VARCHAR) || chr(31) || CAST({b} AS VARCHAR)"
        ));
    }
    for (n, c) in dims {
        dim_case.push_str(&format!(" WHEN grouping({c}) = 0 THEN '{n}'"));
        value_case.push_str(&format!(
            " WHEN grouping({c}) = 0 THEN CAST({c} AS VARCHAR)"
        ));
    }
    (
        sets.join(", "),
        format!("CASE{dim_case} ELSE '' END"),
        format!("CASE{value_case} ELSE '' END"),
    )
}

/// The event-level rows of a day: visitors (born, carried), visits, pageviews, events,
/// dark visits. In two statements: the sets without the page, then those with it, which
/// alone need the day before's pages (`carried_new`) and its two more distinct counts.
fn insert_event_rows(
    conn: &Connection,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
) -> Result<usize, StoreError> {
    let page = |n: &str| n == "event:page";
    let split = |pages: bool| {
        let dims: Vec<(&str, &str)> = DIMENSIONS
            .iter()
            .copied()
            .filter(|(n, _)| page(n) == pages)
            .collect();
        let pairs: Vec<(&str, &str)> = PAIRS
            .iter()
            .copied()
            .filter(|(a, b)| (page(a) || page(b)) == pages)
            .collect();
        (dims, pairs)
    };
    let (dims, pairs) = split(false);
    let mut n = insert_event_sets(conn, site_id, day, tz, &dims, &pairs, false)?;
    let (dims, pairs) = split(true);
    n += insert_event_sets(conn, site_id, day, tz, &dims, &pairs, true)?;
    Ok(n)
}

/// One statement of [`insert_event_rows`]: the totals too unless `pages`.
fn insert_event_sets(
    conn: &Connection,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
    dims: &[(&str, &str)],
    pairs: &[(&str, &str)],
    pages: bool,
) -> Result<usize, StoreError> {
    let start = day_start(day);
    let end = start + Duration::days(1);
    let (local_day, mut params) = local_day_sql(day, tz, "ts");
    let (sets, dim_case, value_case) = grouping(dims, pairs, !pages);
    let mut cols: Vec<&str> = dims.iter().map(|(_, c)| *c).collect();
    for (a, b) in pairs {
        for c in [column_of(a), column_of(b)].into_iter().flatten() {
            if !cols.contains(&c) {
                cols.push(c);
            }
        }
    }
    if !cols.contains(&"channel_group") {
        cols.push("channel_group");
    }
    let visitor = format!("name NOT IN {NOT_VISIT_EVENTS}");
    // The day before: its (visit, page) pairs, and those of its last slice.
    let prev_start = start - Duration::days(1);
    let late_start = match local_split(day - Duration::days(1), tz).1 {
        Some((m, _)) => m,
        None => prev_start,
    };
    let carried_new = |p: &str| {
        format!(
            "count(DISTINCT visitor_id) FILTER (WHERE {visitor} AND b_sid IS NULL AND {p}.p_sid IS NULL)"
        )
    };
    let (prev_ctes, prev_joins, new, new_late) = if pages {
        (
            format!(
                ", prev AS (SELECT DISTINCT session_id AS p_sid, pathname AS p_path FROM events
                            WHERE site_id = ? AND ts >= ? AND ts < ? AND {visitor}),
                 prev_late AS (SELECT DISTINCT session_id AS p_sid, pathname AS p_path FROM events
                               WHERE site_id = ? AND ts >= ? AND ts < ? AND {visitor})"
            ),
            " LEFT JOIN prev ON day.session_id = prev.p_sid AND day.pathname = prev.p_path
              LEFT JOIN prev_late ON day.session_id = prev_late.p_sid AND day.pathname = prev_late.p_path",
            carried_new("prev"),
            carried_new("prev_late"),
        )
    } else {
        (String::new(), "", "0".to_string(), "0".to_string())
    };
    let sql = format!(
        "INSERT INTO rollups (site_id, utc_day, local_day, dim, value, born, carried,
                              carried_new, carried_new_late, visits, pageviews, events, ident, est)
         WITH day AS (SELECT {local_day} AS local_day, visitor_id, session_id, name, entry, {cols}
                      FROM events WHERE site_id = ? AND ts >= ? AND ts < ?),
              begun AS (SELECT DISTINCT session_id AS b_sid FROM day WHERE entry){prev_ctes}
         SELECT ? AS site_id, DATE '{day}' AS utc_day,
                CASE WHEN grouping(local_day) = 0 THEN local_day END,
                {dim_case}, {value_case},
                count(DISTINCT visitor_id) FILTER (WHERE {visitor} AND b_sid IS NOT NULL),
                count(DISTINCT visitor_id) FILTER (WHERE {visitor} AND b_sid IS NULL),
                {new}, {new_late},
                count(*) FILTER (WHERE entry),
                count(*) FILTER (WHERE name = 'pageview'),
                count(*),
                count(*) FILTER (WHERE entry AND channel_group IN ('private-message', 'email')),
                count(*) FILTER (WHERE entry AND channel_group = 'estimated-dark')
         FROM day LEFT JOIN begun ON day.session_id = begun.b_sid{prev_joins}
         GROUP BY GROUPING SETS ({sets})",
        cols = cols.join(", "),
    );
    // In the order of the text: the local midnight (if any), the range, the day before
    // (whole and last slice, for pages), the site id.
    params.extend([Value::UInt(site_id), ts(start), ts(end)]);
    if pages {
        params.extend([
            Value::UInt(site_id),
            ts(prev_start),
            ts(start),
            Value::UInt(site_id),
            ts(late_start),
            ts(start),
        ]);
    }
    params.push(Value::UInt(site_id));
    conn.execute(&sql, params_from_iter(params))
        .map_err(|e| StoreError::backend(format!("rollup of {day}: {e}")))
}

/// The visit-level rows of a day: each visit begun on it (its entry row's slice and visit
/// dimensions), its pageviews and duration over its rows of this UTC day, as the reports'
/// visit-level query counts them (no link events, no server-side conversions).
fn insert_visit_rows(
    conn: &Connection,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
) -> Result<usize, StoreError> {
    let start = day_start(day);
    let end = start + Duration::days(1);
    let (local_day, mut params) = local_day_sql(day, tz, "t0");
    let visit_dims: Vec<(&str, &str)> = DIMENSIONS
        .iter()
        .copied()
        .filter(|(n, _)| n.starts_with("visit:"))
        .collect();
    let visit_pairs: Vec<(&str, &str)> = PAIRS
        .iter()
        .copied()
        .filter(|(a, b)| a.starts_with("visit:") && b.starts_with("visit:"))
        .collect();
    let (sets, dim_case, value_case) = grouping(&visit_dims, &visit_pairs, true);
    let cols: Vec<&str> = visit_dims.iter().map(|(_, c)| *c).collect();
    let sql = format!(
        "INSERT INTO rollups
         WITH e AS (SELECT session_id, ts AS t0, {cols} FROM site_events
                    WHERE site_id = ? AND ts >= ? AND ts < ? AND entry),
              s AS (SELECT session_id, count(*) FILTER (WHERE name = 'pageview') AS pv,
                           (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur
                    FROM site_events WHERE site_id = ? AND ts >= ? AND ts < ?
                      AND name NOT IN {NOT_VISIT_EVENTS} AND NOT server_side
                    GROUP BY session_id),
              v AS (SELECT {local_day} AS local_day, {cols}, s.pv, s.dur
                    FROM e JOIN s USING (session_id))
         SELECT ? AS site_id, DATE '{day}' AS utc_day,
                CASE WHEN grouping(local_day) = 0 THEN local_day END,
                {dim_case}, {value_case},
                0, 0, 0, 0, 0, 0, 0, 0, 0,
                count(*), count(*) FILTER (WHERE pv <= 1), coalesce(sum(dur), 0)
         FROM v GROUP BY GROUPING SETS ({sets})",
        cols = cols.join(", "),
    );
    let mut all = vec![
        Value::UInt(site_id),
        ts(start),
        ts(end),
        Value::UInt(site_id),
        ts(start),
        ts(end),
    ];
    all.append(&mut params);
    all.push(Value::UInt(site_id));
    conn.execute(&sql, params_from_iter(all))
        .map_err(|e| StoreError::backend(format!("visit rollup of {day}: {e}")))
}

/// Build the dirty, closed days of `sites` (each with the zone its local days are taken
/// in), newest first, at most `max_days` of them; the number built. A day is dirty when it
/// was never built, was built in another zone, or a mark of it or of the day before is
/// newer than its build. Older marks of a day are dropped first (the newest is all that
/// counts).
pub fn maintain(
    conn: &Connection,
    sites: &[(u32, Tz)],
    now: DateTime<Utc>,
    max_days: usize,
) -> Result<usize, StoreError> {
    conn.execute_batch(
        "DELETE FROM rollup_marks m USING
           (SELECT site_id, utc_day, max(seq) AS top FROM rollup_marks GROUP BY ALL) t
         WHERE m.site_id = t.site_id AND m.utc_day = t.utc_day AND m.seq < t.top",
    )
    .map_err(StoreError::backend)?;
    let mut marks: HashMap<(u32, NaiveDate), i64> = HashMap::new();
    {
        let mut stmt = conn
            .prepare("SELECT site_id, (utc_day - DATE '1970-01-01')::BIGINT, max(seq) FROM rollup_marks GROUP BY ALL")
            .map_err(StoreError::backend)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    (r.get::<_, u32>(0)?, epoch_day(r.get::<_, i64>(1)?)),
                    r.get::<_, i64>(2)?,
                ))
            })
            .map_err(StoreError::backend)?;
        for r in rows {
            let (k, v) = r.map_err(StoreError::backend)?;
            marks.insert(k, v);
        }
    }
    let mut built: HashMap<(u32, NaiveDate), (String, i64)> = HashMap::new();
    {
        let mut stmt = conn
            .prepare(&format!("SELECT site_id, (utc_day - DATE '1970-01-01')::BIGINT, tz, through FROM rollup_built WHERE version = {VERSION}"))
            .map_err(StoreError::backend)?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    (r.get::<_, u32>(0)?, epoch_day(r.get::<_, i64>(1)?)),
                    (r.get::<_, String>(2)?, r.get::<_, i64>(3)?),
                ))
            })
            .map_err(StoreError::backend)?;
        for r in rows {
            let (k, v) = r.map_err(StoreError::backend)?;
            built.insert(k, v);
        }
    }
    let zones: HashMap<u32, Tz> = sites.iter().copied().collect();
    let closed = |d: NaiveDate| {
        day_start(d) + Duration::days(1) + Duration::minutes(CLOSE_AFTER_MINUTES) <= now
    };
    let mut dirty: Vec<(NaiveDate, u32, Tz)> = marks
        .keys()
        .chain(built.keys())
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|(site, d)| {
            let tz = *zones.get(&site)?;
            if !closed(d) {
                return None;
            }
            let newest = [d, d - Duration::days(1)]
                .iter()
                .filter_map(|x| marks.get(&(site, *x)))
                .max()
                .copied()
                .unwrap_or(0);
            let clean = built
                .get(&(site, d))
                .is_some_and(|(z, through)| z == tz.name() && *through >= newest);
            (!clean).then_some((d, site, tz))
        })
        .collect();
    dirty.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut n = 0;
    for (d, site, tz) in dirty.into_iter().take(max_days) {
        let started = std::time::Instant::now();
        let rows = build_day(conn, site, d, tz)?;
        tracing::debug!(
            message = "Rolled up a day.",
            site_id = site,
            day = %d,
            rows,
            elapsed_ms = started.elapsed().as_millis() as u64
        );
        n += 1;
    }
    Ok(n)
}

/// The SQL that forgets the rollups of `site_id`'s days before `t` when its rows before
/// `t` are deleted, and marks the day of `t` (partly deleted) and the one after it (whose
/// carried visits are compared with it). Numbers only: written as literals.
pub fn forget_before(site_id: u32, t: DateTime<Utc>) -> String {
    let d = t.date_naive();
    let next = d + Duration::days(1);
    format!(
        "DELETE FROM rollups WHERE site_id = {site_id} AND utc_day < DATE '{d}';
         DELETE FROM rollup_pairs WHERE site_id = {site_id} AND utc_day < DATE '{d}';
         DELETE FROM rollup_built WHERE site_id = {site_id} AND utc_day < DATE '{d}';
         DELETE FROM rollup_marks WHERE site_id = {site_id} AND utc_day < DATE '{d}';
         INSERT INTO rollup_marks VALUES ({site_id}, DATE '{d}', nextval('rollup_seq')),
                                         ({site_id}, DATE '{next}', nextval('rollup_seq'));"
    )
}

/// The SQL that forgets every rollup of a site whose rows are all deleted.
pub fn forget_site(site_id: u32) -> String {
    format!(
        "DELETE FROM rollups WHERE site_id = {site_id};
         DELETE FROM rollup_pairs WHERE site_id = {site_id};
         DELETE FROM rollup_built WHERE site_id = {site_id};
         DELETE FROM rollup_marks WHERE site_id = {site_id};"
    )
}

/// The date `n` days after 1970-01-01 (how queries here return dates).
pub(super) fn epoch_day(n: i64) -> NaiveDate {
    NaiveDate::default() + Duration::days(n)
}

/// A date as DuckDB's `DATE` value.
pub(super) fn date_value(d: NaiveDate) -> Value {
    Value::Date32((d - NaiveDate::default()).num_days() as i32)
}

/// The instant UTC day `d` starts at.
pub(super) fn day_start(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN))
}

/// The UTC instant local day `d` starts at in `tz`, if that midnight exists.
pub(super) fn local_midnight(tz: Tz, d: NaiveDate) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The UTC instant local day `d` starts at in `tz` (its UTC midnight if the local one
/// does not exist).
fn local_start(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    local_midnight(tz, d).unwrap_or_else(|| day_start(d))
}

/// How the local days `from..=to` of `tz` lie on UTC days: the first and last UTC day
/// they touch, whether each of those is only partly inside (then its rows by slice are
/// read), and the UTC days wholly inside between them.
struct Span {
    first: NaiveDate,
    last: NaiveDate,
    first_partial: bool,
    last_partial: bool,
}

impl Span {
    fn of(tz: Tz, from: NaiveDate, to: NaiveDate) -> Span {
        let (t0, t1) = (
            local_start(tz, from),
            local_start(tz, to + Duration::days(1)),
        );
        let first = t0.date_naive();
        let last = (t1 - Duration::microseconds(1)).date_naive();
        let midnight = |t: DateTime<Utc>| t.time() == NaiveTime::MIN;
        Span {
            first,
            last,
            first_partial: !midnight(t0),
            last_partial: !midnight(t1),
        }
    }
}

/// `dim`'s rows over the local days `from..=to` of `tz` (every UTC day they touch must be
/// rolled up in `tz`), most visitors first; `dim` '' gives the totals under the key ''.
///
/// Visits, pageviews, events and dark visits are the sums of the days' slices. Visitors
/// are counted once each, by the UTC day their id belongs to: the whole-day `born` of the
/// UTC days wholly inside, the slice's `born` of a partly covered first or last UTC day,
/// and the `carried` visitors of the first UTC day (visits begun before the range and
/// still going in it; whole day or slice). A visit that ended more than a day after it
/// began, or a first slice shorter than the visit timeout, would be counted off by one:
/// neither occurs with a 30-minute timeout and whole-hour or half-hour zones.
///
/// `within` keeps the rows of a pair dimension whose first value (or second, with
/// `true`) is the one given, and gives them keyed by the other.
#[allow(clippy::too_many_arguments)]
pub fn breakdown(
    conn: &Connection,
    site_id: u32,
    dim: &str,
    within: Option<(&str, bool)>,
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(String, Aggregates)>, StoreError> {
    let sp = Span::of(tz, from, to);
    let date = date_value;
    // Rows of a slice inside the range; whole-day rows of the UTC days wholly inside.
    let slice = "local_day IS NOT NULL AND local_day >= ? AND local_day <= ?";
    let interior = "local_day IS NULL AND utc_day >= ? AND utc_day <= ?";
    let (i0, i1) = (
        if sp.first_partial {
            sp.first + Duration::days(1)
        } else {
            sp.first
        },
        if sp.last_partial {
            sp.last - Duration::days(1)
        } else {
            sp.last
        },
    );
    let edge = |partial: bool, d: NaiveDate| {
        if partial {
            (
                format!(" OR (utc_day = ? AND {slice})"),
                vec![date(d), date(from), date(to)],
            )
        } else {
            (String::new(), Vec::new())
        }
    };
    let (e0, p0) = edge(sp.first_partial, sp.first);
    let (e1, p1) = edge(sp.last_partial, sp.last);
    let carried = if sp.first_partial {
        format!("utc_day = ? AND {slice}")
    } else {
        "utc_day = ? AND local_day IS NULL".to_string()
    };
    // Visits carried into the days after the first that saw a value only there (pages):
    // whole-day rows of interior days, the slice of a partial last day; measured against
    // the day before's last slice when that day is the partial first day.
    let after = sp.first + Duration::days(1);
    let late_day = sp.first_partial.then_some(after);
    let mut new_conds: Vec<(String, bool, Vec<Value>)> = Vec::new();
    let n0 = if sp.first_partial {
        after + Duration::days(1)
    } else {
        after
    };
    if n0 <= i1 {
        new_conds.push((interior.to_string(), false, vec![date(n0), date(i1)]));
    }
    if let Some(d) = late_day.filter(|d| *d <= i1) {
        new_conds.push((
            "local_day IS NULL AND utc_day = ?".into(),
            true,
            vec![date(d)],
        ));
    }
    if sp.last_partial && sp.last > sp.first {
        new_conds.push((
            format!("utc_day = ? AND {slice}"),
            late_day == Some(sp.last),
            vec![date(sp.last), date(from), date(to)],
        ));
    }
    let mut new_sql = String::new();
    let mut new_params: Vec<Value> = Vec::new();
    for (cond, late, p) in new_conds {
        let col = if late {
            "carried_new_late"
        } else {
            "carried_new"
        };
        new_sql.push_str(&format!(" + coalesce(sum({col}) FILTER (WHERE {cond}), 0)"));
        new_params.extend(p);
    }
    let sql = format!(
        "SELECT value,
                (coalesce(sum(born) FILTER (WHERE ({interior}){e0}{e1}), 0)
                 + coalesce(sum(carried) FILTER (WHERE {carried}), 0){new_sql})::BIGINT,
                sum(visits) FILTER (WHERE {slice})::BIGINT,
                sum(pageviews) FILTER (WHERE {slice})::BIGINT,
                sum(events) FILTER (WHERE {slice})::BIGINT,
                sum(ident) FILTER (WHERE {slice})::BIGINT,
                sum(est) FILTER (WHERE {slice})::BIGINT,
                sum(s_visits) FILTER (WHERE {slice})::BIGINT,
                sum(bounces) FILTER (WHERE {slice})::BIGINT,
                sum(duration) FILTER (WHERE {slice})::DOUBLE
         FROM {table} WHERE site_id = ? AND dim = ? AND utc_day >= ? AND utc_day <= ?{prefix}
         GROUP BY value ORDER BY 2 DESC, 4 DESC, 5 DESC, value",
        table = if dim.contains('>') {
            "rollup_pairs"
        } else {
            "rollups"
        },
        prefix = match within {
            Some((_, false)) => " AND starts_with(value, ?)",
            Some((_, true)) => " AND ends_with(value, ?)",
            None => "",
        },
    );
    let mut params = vec![date(i0), date(i1)];
    params.extend(p0);
    params.extend(p1);
    params.push(date(sp.first));
    if sp.first_partial {
        params.extend([date(from), date(to)]);
    }
    params.extend(new_params);
    for _ in 0..8 {
        params.extend([date(from), date(to)]);
    }
    params.extend([
        Value::UInt(site_id),
        Value::Text(dim.to_string()),
        date(sp.first),
        date(sp.last),
    ]);
    let part = within.map(|(w, second)| {
        if second {
            format!("\u{1f}{w}")
        } else {
            format!("{w}\u{1f}")
        }
    });
    if let Some(p) = &part {
        params.push(Value::Text(p.clone()));
    }
    let mut stmt = conn.prepare(&sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| {
            let value: String = r.get(0)?;
            let value = match (&part, within) {
                (Some(p), Some((_, false))) => {
                    value.strip_prefix(p.as_str()).unwrap_or(&value).to_string()
                }
                (Some(p), Some((_, true))) => {
                    value.strip_suffix(p.as_str()).unwrap_or(&value).to_string()
                }
                _ => value,
            };
            Ok((value, counts_at(r, true)?))
        })
        .map_err(StoreError::backend)?;
    // A value seen only in a slice outside the range has a row of zeros: no row at all,
    // as in the raw report (every row of a value counts as an event).
    let mut out = rows
        .collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::backend)?;
    out.retain(|(_, a)| a.events > 0);
    Ok(out)
}

/// Columns 1… of a row: visitors, visits, pageviews, events, identified and estimated
/// dark visits, then (with `sessions`) visits begun, bounces and their duration.
pub(super) fn counts_at(r: &duckdb::Row<'_>, sessions: bool) -> duckdb::Result<Aggregates> {
    let n = |i: usize| -> duckdb::Result<u64> {
        Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
    };
    let mut a = Aggregates {
        visitors: n(1)?,
        visits: n(2)?,
        pageviews: n(3)?,
        events: n(4)?,
        visits_identified_dark: n(5)?,
        visits_estimated_dark: n(6)?,
        ..Aggregates::default()
    };
    if sessions {
        a.session_visits = n(7)?;
        a.bounces = n(8)?;
        a.duration_secs = r.get::<_, Option<f64>>(9)?.unwrap_or(0.0);
    }
    Ok(a)
}

/// The totals of each local day `from..=to` of `tz` (every UTC day they touch rolled up
/// in `tz`), by local day; days without rows are absent.
///
/// A local day's visitors are the `born` of its slices and the `carried` of its first
/// slice with rows: a visit carried into the second slice had rows in the first, unless
/// that one is empty (as [`breakdown`] counts a one-day run).
///
/// `row` is (dimension, value) of the row taken as the totals: ('', '') for all visits,
/// or one value of a rolled-up dimension (a filter on it).
pub fn daily_totals(
    conn: &Connection,
    site_id: u32,
    row: (&str, &str),
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(NaiveDate, Aggregates)>, StoreError> {
    let date = date_value;
    let sql = "SELECT (local_day - DATE '1970-01-01')::BIGINT,
                      (sum(born) + coalesce(sum(carried) FILTER (WHERE utc_day = f), 0))::BIGINT,
                      sum(visits)::BIGINT, sum(pageviews)::BIGINT, sum(events)::BIGINT,
                      sum(ident)::BIGINT, sum(est)::BIGINT,
                      sum(s_visits)::BIGINT, sum(bounces)::BIGINT, sum(duration)::DOUBLE
               FROM (SELECT *, min(CASE WHEN visits + events > 0 THEN utc_day END)
                                 OVER (PARTITION BY local_day) AS f
                     FROM rollups WHERE site_id = ? AND dim = ? AND value = ? AND local_day IS NOT NULL
                       AND local_day >= ? AND local_day <= ?
                       AND utc_day >= ? AND utc_day <= ?)
               GROUP BY local_day ORDER BY local_day";
    let params = [
        Value::UInt(site_id),
        Value::Text(row.0.to_string()),
        Value::Text(row.1.to_string()),
        date(from),
        date(to),
        date(from - Duration::days(1)),
        date(to + Duration::days(1)),
    ];
    let mut stmt = conn.prepare(sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| {
            let day = epoch_day(r.get::<_, i64>(0)?);
            Ok((day, counts_at(r, true)?))
        })
        .map_err(StoreError::backend)?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::backend)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_midnights_inside_utc_days() {
        let d = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap_or_default();
        assert_eq!(local_split(d, chrono_tz::UTC), (d, None));
        // Paris on the day summer time starts (UTC+1 at midnight): local midnight of the
        // 30th is 22:00 UTC on the 29th.
        let (first, split) = local_split(d, chrono_tz::Europe::Paris);
        assert_eq!(first, d);
        let (m, next) = split.expect("a midnight inside");
        assert_eq!(m.to_rfc3339(), "2026-03-29T22:00:00+00:00");
        assert_eq!(next, d + Duration::days(1));
        // Half-hour zones west of UTC: the local day of the UTC day's start is the day before.
        let (first, split) = local_split(d, chrono_tz::America::St_Johns);
        assert_eq!(first, d - Duration::days(1));
        assert_eq!(split.map(|(_, n)| n), Some(d));
    }
}
