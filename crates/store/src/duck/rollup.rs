//! Daily rollups on DuckDB (ARCHITECTURE.md, "Reports at publisher scale"; what every
//! back end shares is in `crate::rollups`): one UTC day of a site's events summed per
//! (local day, dimension, value) into the `rollups` table (pairs into `rollup_pairs`), in
//! one transaction with the record of the build in `rollup_built`.
//!
//! The numbers are those of the unfiltered event-level report (`report::event_level_sql`):
//! visitors over the rows that are not link events, visits and dark visits over entry
//! rows, pageviews, and every event (link events included). Visit-level sums (visits,
//! bounces, durations) are rows of their own, per visit dimension, each visit counted in
//! the slice it began in and taken up to the end of that UTC day. `maintain` builds the
//! days the loader marked (`rollup_marks`, in the loader's own transaction).

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params_from_iter, Connection};
use lucarne_core::stats::Aggregates;

use crate::events::StoreError;
use crate::report::{NOT_VISIT_EVENTS, VISIT_KINDS};
use crate::rollups::{
    self, column_of, day_start, epoch_day, last_slice_start, local_split, page_partners, pair_dim,
    DayRow, Days, RollupSql, BEGUN_LOOKBACK, DIMENSIONS, PAIRS, VERSION,
};

/// A dimension (property name, stored column), or a pair of property names.
type Dim<'a> = (&'a str, &'a str);

pub(super) fn ts(t: DateTime<Utc>) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros())
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
    for table in row_tables()
        .iter()
        .map(String::as_str)
        .chain(["rollup_built"])
    {
        of_day(&format!(
            "DELETE FROM {table} WHERE site_id = ? AND utc_day = ?"
        ))?;
    }
    let mut n = insert_event_rows(conn, site_id, day, tz)?;
    n += insert_visit_rows(conn, site_id, day, tz)?;
    // Each pair's rows to its own table.
    for (a, b) in PAIRS {
        let dim = pair_dim(a, b);
        of_day(&format!(
            "INSERT INTO {table} SELECT * FROM rollups
             WHERE site_id = ? AND utc_day = ? AND dim = '{dim}'",
            table = table_of(&dim)
        ))?;
    }
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
    // The distinct visits of page rows (what a page filter counts as visits); 0 elsewhere.
    let distinct_visits = if pages {
        VISIT_KINDS
            .map(|k| format!("count(DISTINCT session_id) FILTER (WHERE {visitor}{k})"))
            .join(", ")
    } else {
        "0, 0, 0".to_string()
    };
    let sql = format!(
        "INSERT INTO rollups (site_id, utc_day, local_day, dim, value, born, carried,
                              carried_new, carried_new_late, visits, pageviews, events, ident, est,
                              dvisits, dident, dest)
         WITH day AS (SELECT {local_day} AS local_day, visitor_id, session_id, name, entry,
                             server_side, {cols}
                      FROM events WHERE site_id = ? AND ts >= ? AND ts < ?),
              begun AS (SELECT DISTINCT session_id AS b_sid FROM day WHERE NOT server_side
                        AND session_id NOT IN
                          (SELECT session_id FROM events
                           WHERE site_id = ? AND ts >= ? AND ts < ? AND {visitor}))
         SELECT ? AS site_id, DATE '{day}' AS utc_day,
                CASE WHEN grouping(local_day) = 0 THEN local_day END,
                {dim_case}, {value_case},
                count(DISTINCT visitor_id) FILTER (WHERE {visitor} AND b_sid IS NOT NULL),
                count(DISTINCT visitor_id) FILTER (WHERE {visitor} AND b_sid IS NULL),
                0, 0,
                count(*) FILTER (WHERE entry),
                count(*) FILTER (WHERE name = 'pageview'),
                count(*),
                count(*) FILTER (WHERE entry AND channel_group IN ('private-message', 'email')),
                count(*) FILTER (WHERE entry AND channel_group = 'estimated-dark'),
                {distinct_visits}
         FROM day LEFT JOIN begun ON day.session_id = begun.b_sid
         GROUP BY GROUPING SETS ({sets})",
        cols = cols.join(", "),
    );
    // In the order of the text: the local midnight (if any), the range, the hours before
    // it (visits begun), the site id.
    params.extend([
        Value::UInt(site_id),
        ts(start),
        ts(end),
        Value::UInt(site_id),
        ts(start - BEGUN_LOOKBACK),
        ts(start),
        Value::UInt(site_id),
    ]);
    let n = conn
        .execute(&sql, params_from_iter(params))
        .map_err(|e| StoreError::backend(format!("rollup of {day}: {e}")))?;
    if pages {
        update_carried_new(conn, site_id, day, tz, dims, pairs)?;
    }
    Ok(n)
}

/// The page rows' `carried_new` and `carried_new_late`: the visitors of visits carried
/// into `day` (not begun on it) who view a page there that their visitor id did not view
/// in the same row the day before, or in its last slice (`rollups::page_partners`); and
/// their `dvisits_seen`…: the carried visits (all, identified and estimated dark) that
/// did view it the day before (or in its last slice), which a range of several days
/// counts once. A visit's partner values are its own, so a visit sees a row when it saw
/// the page. Only the carried rows are grouped, and only the day before's rows of their
/// visitor ids are read, so this is small beside the day's own statement.
fn update_carried_new(
    conn: &Connection,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
    dims: &[(&str, &str)],
    pairs: &[(&str, &str)],
) -> Result<(), StoreError> {
    let start = day_start(day);
    let end = start + Duration::days(1);
    let (local_day, mut params) = local_day_sql(day, tz, "ts");
    let visitor = format!("name NOT IN {NOT_VISIT_EVENTS}");
    let partners = page_partners();
    let mut cols = vec!["pathname"];
    cols.extend(partners.iter().copied());
    if !cols.contains(&"channel_group") {
        cols.push("channel_group");
    }
    // One flag a key (the page alone, the page and each partner), whole day and last slice.
    let mut flags = Vec::new();
    for (k, partner) in std::iter::once(None)
        .chain(partners.iter().map(Some))
        .enumerate()
    {
        let same = partner.map_or(String::new(), |c| format!(" AND p.{c} = c.{c}"));
        let on = format!("p.visitor_id = c.visitor_id AND p.pathname = c.pathname{same}");
        flags.push(format!("EXISTS (SELECT 1 FROM p WHERE {on}) AS k{k}"));
        flags.push(format!(
            "EXISTS (SELECT 1 FROM p WHERE {on} AND p.late) AS l{k}"
        ));
    }
    let saw = "p.session_id = c.session_id AND p.pathname = c.pathname";
    flags.push(format!("EXISTS (SELECT 1 FROM p WHERE {saw}) AS sk"));
    flags.push(format!(
        "EXISTS (SELECT 1 FROM p WHERE {saw} AND p.late) AS sl"
    ));
    let seen = |flag: &str| {
        VISIT_KINDS
            .iter()
            .zip(["v", "i", "e"])
            .map(|(c, n)| {
                format!("count(DISTINCT session_id) FILTER (WHERE {flag}{c}) AS s{n}{flag}")
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let seen = format!("{}, {}", seen("sk"), seen("sl"));
    // One grouping statement a key: the page alone, then each of its pairs.
    let mut parts = Vec::new();
    for (k, partner) in std::iter::once(None)
        .chain(partners.iter().map(Some))
        .enumerate()
    {
        let (fd, fp): (Vec<Dim>, Vec<Dim>) = match partner {
            None => (dims.to_vec(), Vec::new()),
            Some(c) => (
                Vec::new(),
                pairs
                    .iter()
                    .copied()
                    .filter(|(a, b)| column_of(a) == Some(c) || column_of(b) == Some(c))
                    .collect(),
            ),
        };
        if fd.is_empty() && fp.is_empty() {
            continue;
        }
        let (sets, dim_case, value_case) = grouping(&fd, &fp, false);
        parts.push(format!(
            "SELECT CASE WHEN grouping(local_day) = 0 THEN local_day END AS local_day,
                    {dim_case} AS dim, {value_case} AS value,
                    count(DISTINCT visitor_id) FILTER (WHERE NOT k{k}) AS n,
                    count(DISTINCT visitor_id) FILTER (WHERE NOT l{k}) AS nl,
                    {seen}
             FROM cf GROUP BY GROUPING SETS ({sets})"
        ));
    }
    let cols = cols.join(", ");
    let sql = format!(
        "UPDATE rollups SET carried_new = u.n, carried_new_late = u.nl,
                            dvisits_seen = u.svsk, dident_seen = u.sisk, dest_seen = u.sesk,
                            dvisits_seen_late = u.svsl, dident_seen_late = u.sisl,
                            dest_seen_late = u.sesl
         FROM (
           WITH c AS (SELECT {local_day} AS local_day, visitor_id, session_id, {cols} FROM events
                      WHERE site_id = ? AND ts >= ? AND ts < ? AND {visitor}
                        AND session_id NOT IN
                          (SELECT session_id FROM events WHERE site_id = ? AND ts >= ? AND ts < ?
                           AND NOT server_side
                           AND session_id NOT IN
                             (SELECT session_id FROM events
                              WHERE site_id = ? AND ts >= ? AND ts < ? AND {visitor}))),
                p AS (SELECT DISTINCT visitor_id, session_id, {cols}, ts >= ? AS late FROM events
                      WHERE site_id = ? AND ts >= ? AND ts < ? AND {visitor}
                        AND visitor_id IN (SELECT visitor_id FROM c)),
                cf AS (SELECT c.*, {flags} FROM c)
           SELECT * FROM ({parts}) WHERE n > 0 OR nl > 0 OR svsk > 0 OR svsl > 0
         ) u
         WHERE rollups.site_id = ? AND rollups.utc_day = DATE '{day}' AND rollups.dim = u.dim
           AND rollups.value = u.value AND rollups.local_day IS NOT DISTINCT FROM u.local_day",
        flags = flags.join(", "),
        parts = parts.join(" UNION ALL "),
    );
    // In the order of the text: the local midnight (if any); the day; the day again and
    // the hours before it (visits begun); the day before's last slice and the day
    // before; the site id.
    let site = || Value::UInt(site_id);
    params.extend([
        site(),
        ts(start),
        ts(end),
        site(),
        ts(start),
        ts(end),
        site(),
        ts(start - BEGUN_LOOKBACK),
        ts(start),
        ts(last_slice_start(day - Duration::days(1), tz)),
        site(),
        ts(start - Duration::days(1)),
        ts(start),
        site(),
    ]);
    conn.execute(&sql, params_from_iter(params))
        .map_err(|e| StoreError::backend(format!("rollup of {day}, carried pages: {e}")))?;
    Ok(())
}

/// The visit-level rows of a day: each visit begun on it (its entry row's slice and visit
/// dimensions), its pageviews and duration over its rows of this UTC day, as the reports'
/// visit-level query counts them (no link events, no server-side conversions). Then the
/// same visits once per page they viewed on the day, under `event:page` (the bounce rate
/// and visit duration of a page filter's totals).
fn insert_visit_rows(
    conn: &Connection,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
) -> Result<usize, StoreError> {
    let start = day_start(day);
    let end = start + Duration::days(1);
    let (local_day, local_params) = local_day_sql(day, tz, "t0");
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
    let cols = cols.join(", ");
    let only = format!("name NOT IN {NOT_VISIT_EVENTS} AND NOT server_side");
    // The visits begun on the day (`e`) and their numbers over its rows (`s`).
    let visits = format!(
        "WITH e AS (SELECT session_id, ts AS t0, {cols} FROM site_events
                    WHERE site_id = ? AND ts >= ? AND ts < ? AND entry),
              s AS (SELECT session_id, count(*) FILTER (WHERE name = 'pageview') AS pv,
                           (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur
                    FROM site_events WHERE site_id = ? AND ts >= ? AND ts < ? AND {only}
                    GROUP BY session_id)"
    );
    // Every row but the visit-level sums holds 0.
    let zeros = |n: usize| vec!["0"; n].join(", ");
    let sums = "count(*), count(*) FILTER (WHERE pv <= 1), coalesce(sum(dur), 0)";
    let by_visit = format!(
        "INSERT INTO rollups
         {visits},
              v AS (SELECT {local_day} AS local_day, {cols}, s.pv, s.dur
                    FROM e JOIN s USING (session_id))
         SELECT ? AS site_id, DATE '{day}' AS utc_day,
                CASE WHEN grouping(local_day) = 0 THEN local_day END,
                {dim_case}, {value_case}, {z9}, {sums}, {z9}
         FROM v GROUP BY GROUPING SETS ({sets})",
        z9 = zeros(9),
    );
    let by_page = format!(
        "INSERT INTO rollups
         {visits},
              pg AS (SELECT DISTINCT session_id, pathname FROM site_events
                     WHERE site_id = ? AND ts >= ? AND ts < ? AND {only}),
              v AS (SELECT {local_day} AS local_day, pathname, s.pv, s.dur
                    FROM e JOIN s USING (session_id) JOIN pg USING (session_id))
         SELECT ? AS site_id, DATE '{day}' AS utc_day,
                CASE WHEN grouping(local_day) = 0 THEN local_day END,
                'event:page', CAST(pathname AS VARCHAR), {z9}, {sums}, {z9}
         FROM v GROUP BY GROUPING SETS ((local_day, pathname), (pathname))",
        z9 = zeros(9),
    );
    let range = || [Value::UInt(site_id), ts(start), ts(end)];
    let mut n = 0;
    for (sql, ranges) in [(by_visit, 2), (by_page, 3)] {
        // In the order of the text: the ranges, the local midnight (if any), the site id.
        let mut all: Vec<Value> = (0..ranges).flat_map(|_| range()).collect();
        all.extend(local_params.iter().cloned());
        all.push(Value::UInt(site_id));
        n += conn
            .execute(&sql, params_from_iter(all))
            .map_err(|e| StoreError::backend(format!("visit rollup of {day}: {e}")))?;
    }
    Ok(n)
}

/// Build the dirty, closed days of `sites` (each with the zone its local days are taken
/// in), newest first, at most `max_days` of them; the number built (`rollups::dirty_days`).
/// Older marks of a day are dropped first (the newest is all that counts).
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
    let mut days: HashMap<u32, Days> = HashMap::new();
    for (site, day, seq) in query3(
        conn,
        "SELECT site_id, (utc_day - DATE '1970-01-01')::BIGINT, max(seq) FROM rollup_marks GROUP BY ALL",
        |r| r.get::<_, i64>(2),
    )? {
        days.entry(site).or_default().marked.insert(day, seq);
    }
    for (site, day, built) in query3(
        conn,
        &format!("SELECT site_id, (utc_day - DATE '1970-01-01')::BIGINT, tz, through FROM rollup_built WHERE version = {VERSION}"),
        |r| Ok((r.get::<_, String>(2)?, r.get::<_, i64>(3)?)),
    )? {
        days.entry(site).or_default().built.insert(day, built);
    }
    let mut n = 0;
    for (d, site, tz) in rollups::dirty_days(&days, sites, now)
        .into_iter()
        .take(max_days)
    {
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

/// Rows of (site id, day number, …): the site, the date and what `rest` reads.
fn query3<T>(
    conn: &Connection,
    sql: &str,
    rest: impl Fn(&duckdb::Row<'_>) -> duckdb::Result<T>,
) -> Result<Vec<(u32, NaiveDate, T)>, StoreError> {
    let mut stmt = conn.prepare(sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, u32>(0)?,
                epoch_day(r.get::<_, i64>(1)?),
                rest(r)?,
            ))
        })
        .map_err(StoreError::backend)?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::backend)
}

/// The SQL that forgets the rollups of `site_id`'s days before `t` when its rows before
/// `t` are deleted, and marks the day of `t` (partly deleted) and the one after it (whose
/// carried visits are compared with it). Numbers only: written as literals.
pub fn forget_before(site_id: u32, t: DateTime<Utc>) -> String {
    let d = t.date_naive();
    let next = d + Duration::days(1);
    let mut sql = forget_where(&format!("site_id = {site_id} AND utc_day < DATE '{d}'"));
    sql.push_str(&format!(
        "INSERT INTO rollup_marks VALUES ({site_id}, DATE '{d}', nextval('rollup_seq')),
                                         ({site_id}, DATE '{next}', nextval('rollup_seq'));"
    ));
    sql
}

/// The SQL that forgets every rollup of a site whose rows are all deleted.
pub fn forget_site(site_id: u32) -> String {
    forget_where(&format!("site_id = {site_id}"))
}

/// Delete the rows, builds and marks matching `cond` from every rollup table.
fn forget_where(cond: &str) -> String {
    row_tables()
        .iter()
        .map(String::as_str)
        .chain(["rollup_built", "rollup_marks"])
        .map(|t| format!("DELETE FROM {t} WHERE {cond};\n"))
        .collect()
}

/// The table of a pair's rows: `rollup_pair_A_B`, A and B its stored columns (migration
/// 0012: a table each, so that a read scans that pair's rows alone); `rollups` for the
/// dimensions and the totals.
fn table_of(dim: &str) -> String {
    dim.split_once('>')
        .and_then(|(a, b)| Some(format!("rollup_pair_{}_{}", column_of(a)?, column_of(b)?)))
        .unwrap_or_else(|| "rollups".to_string())
}

/// Every table holding rollup rows: `rollups`, then each pair's.
pub fn row_tables() -> Vec<String> {
    std::iter::once("rollups".to_string())
        .chain(PAIRS.iter().map(|(a, b)| table_of(&pair_dim(a, b))))
        .collect()
}

/// A date as DuckDB's `DATE` value.
pub(super) fn date_value(d: NaiveDate) -> Value {
    Value::Date32((d - NaiveDate::default()).num_days() as i32)
}

/// DuckDB's SQL for the reading queries of `crate::rollups`.
pub(super) struct DuckSql;

impl RollupSql for DuckSql {
    fn date(d: NaiveDate) -> String {
        format!("DATE '{d}'")
    }
    fn text(s: &str) -> String {
        format!("'{}'", s.replace('\'', "''"))
    }
    fn sum_if(col: &str, cond: &str) -> String {
        format!("coalesce(sum({col}) FILTER (WHERE {cond}), 0)")
    }
    fn int(e: &str) -> String {
        format!("({e})::BIGINT")
    }
    fn float(e: &str) -> String {
        format!("({e})::DOUBLE")
    }
    fn day_num(col: &str) -> String {
        format!("({col} - DATE '1970-01-01')")
    }
    fn affix(col: &str, part: &str, second: bool) -> String {
        let f = if second { "ends_with" } else { "starts_with" };
        format!("{f}({col}, {part})")
    }
    const WHOLE: &'static str = "local_day IS NULL";
    const SLICE: &'static str = "local_day IS NOT NULL";
    fn table(dim: &str) -> String {
        table_of(dim)
    }
}

/// `dim`'s rows over the local days `from..=to` of `tz` (`rollups::breakdown_sql`).
pub fn breakdown(
    conn: &Connection,
    site_id: u32,
    dim: &str,
    within: Option<(&str, bool)>,
    (tz, from, to): (Tz, NaiveDate, NaiveDate),
    distinct: bool,
) -> Result<Vec<(String, Aggregates)>, StoreError> {
    let (sql, part) =
        rollups::breakdown_sql::<DuckSql>(site_id, dim, within, tz, from, to, "", distinct);
    let second = within.is_some_and(|(_, s)| s);
    let mut stmt = conn.prepare(&sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map([], |r| {
            let value: String = r.get(0)?;
            Ok((
                rollups::strip_part(value, part.as_deref(), second),
                counts_at(r, true)?,
            ))
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

/// The slices of one row over the local days `from..=to` (`rollups::daily_sql`).
pub fn daily_rows(
    conn: &Connection,
    site_id: u32,
    row: (&str, &str),
    from: NaiveDate,
    to: NaiveDate,
    distinct: bool,
) -> Result<Vec<DayRow>, StoreError> {
    let sql = rollups::daily_sql::<DuckSql>(site_id, row, from, to, "", distinct);
    let mut stmt = conn.prepare(&sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map([], |r| {
            // Columns 2… are born, carried, then the sums of `counts_at` from visits on.
            let n = |i: usize| -> duckdb::Result<u64> {
                Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0).max(0) as u64)
            };
            Ok(DayRow {
                local_day: epoch_day(r.get::<_, i64>(0)?),
                utc_day: epoch_day(r.get::<_, i64>(1)?),
                born: n(2)?,
                carried: n(3)?,
                sums: Aggregates {
                    visits: n(4)?,
                    pageviews: n(5)?,
                    events: n(6)?,
                    visits_identified_dark: n(7)?,
                    visits_estimated_dark: n(8)?,
                    session_visits: n(9)?,
                    bounces: n(10)?,
                    duration_secs: r.get::<_, Option<f64>>(11)?.unwrap_or(0.0),
                    ..Aggregates::default()
                },
                carried_new_late: if distinct { n(12)? } else { 0 },
                dvisits: if distinct {
                    [n(13)?, n(14)?, n(15)?]
                } else {
                    [0; 3]
                },
                dvisits_seen_late: if distinct {
                    [n(16)?, n(17)?, n(18)?]
                } else {
                    [0; 3]
                },
            })
        })
        .map_err(StoreError::backend)?;
    rows.collect::<Result<Vec<_>, _>>()
        .map_err(StoreError::backend)
}
