//! Daily rollups on ClickHouse (migrations/clickhouse/0004_rollups.sql; what every back
//! end shares is in `crate::rollups`): the same rows as DuckDB's, built by the same
//! background task, read through the same `Rolled` interface.
//!
//! Without transactions, a day is replaced by a new `build`: its rows are inserted, then
//! its `rollup_built` row, and readers take each day's newest build only; the rows of
//! older builds are deleted afterwards. A build's `through` is the server's clock when it
//! began; the loader marks a day after storing its rows and before recording its spool
//! position (a replay after a crash marks again), so a mark at or after `through` may be
//! one the build did not see: the day stays dirty (`Days::strict`).
//!
//! One pass per statement: every row of the day is expanded (`arrayJoin`) into its slice
//! and its whole UTC day, times every (dimension, value) it belongs to, and grouped.
//! Distinct visitors are `uniqExact` (a day's ids are exact; the raw reports' `uniq` is an
//! estimate above 65,536 values).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use clickhouse::Row;
use lucarne_core::stats::{Aggregates, Bucket, ReportQuery};
use serde::Deserialize;

use super::sql::{self, lit, range_sql};
use super::Conn;
use crate::events::StoreError;
use crate::report::NOT_VISIT_EVENTS;
use crate::rollups::{
    self, column_of, day_start, epoch_day, last_slice_start, local_split, lookback, page_partners,
    pair_dim, DayRow, Days, Rolled, RollupSql, Shape, BEGUN_LOOKBACK, DIMENSIONS, PAIRS, VERSION,
};

/// The `local_day` of a whole-UTC-day row.
const WHOLE_DAY: &str = "toDate('1970-01-01')";

/// ClickHouse's SQL for the reading queries of `crate::rollups`.
pub(super) struct ClickSql;

impl RollupSql for ClickSql {
    fn date(d: NaiveDate) -> String {
        format!("toDate('{d}')")
    }
    fn text(s: &str) -> String {
        lit(s)
    }
    fn sum_if(col: &str, cond: &str) -> String {
        format!("sumIf({col}, {cond})")
    }
    fn int(e: &str) -> String {
        format!("toInt64({e})")
    }
    fn float(e: &str) -> String {
        format!("toFloat64({e})")
    }
    fn day_num(col: &str) -> String {
        format!("toUInt16({col})")
    }
    fn affix(col: &str, part: &str, second: bool) -> String {
        let f = if second { "endsWith" } else { "startsWith" };
        format!("{f}({col}, {part})")
    }
    const WHOLE: &'static str = "local_day = toDate('1970-01-01')";
    const SLICE: &'static str = "local_day != toDate('1970-01-01')";
    fn table(_dim: &str) -> String {
        "rollups".to_string()
    }
}

/// Only the rows of each day's newest build.
fn current(site_id: u32, d0: NaiveDate, d1: NaiveDate) -> String {
    format!(
        " AND (utc_day, build) IN (SELECT utc_day, max(build) FROM rollup_built
              WHERE site_id = {site_id} AND utc_day >= {} AND utc_day <= {} GROUP BY utc_day)",
        ClickSql::date(d0),
        ClickSql::date(d1)
    )
}

/// The SQL of a row's local day (`col` its time in microseconds).
fn local_day_sql(day: NaiveDate, tz: Tz, col: &str) -> String {
    let (first, split) = local_split(day, tz);
    match split {
        None => ClickSql::date(first),
        Some((m, next)) => format!(
            "if({col} < {}, {}, {})",
            m.timestamp_micros(),
            ClickSql::date(first),
            ClickSql::date(next)
        ),
    }
}

/// The array of (dimension, value, is the page) tuples a row belongs to: the totals (with
/// `totals`), each of `dims`, each of `pairs`.
fn tuples(dims: &[(&str, &str)], pairs: &[(&str, &str)], totals: bool) -> String {
    // The third element: 0 for a row of no page; else which `in_prev_K` flag (K + 1)
    // says the visitor had the row the day before: the page alone, or its partner.
    let partners = page_partners();
    let page_key = |a: &str, b: &str| -> u8 {
        let partner = match (a == "event:page", b == "event:page") {
            (false, true) => column_of(a),
            (true, false) => column_of(b),
            _ => return 0,
        };
        partner
            .and_then(|p| partners.iter().position(|q| *q == p))
            .map_or(0, |i| u8::try_from(i + 2).unwrap_or(0))
    };
    let mut out = Vec::new();
    if totals {
        out.push("('', '', toUInt8(0))".to_string());
    }
    for (n, c) in dims {
        out.push(format!(
            "({}, {c}, toUInt8({}))",
            lit(n),
            u8::from(*n == "event:page")
        ));
    }
    for (a, b) in pairs {
        if let (Some(ca), Some(cb)) = (column_of(a), column_of(b)) {
            out.push(format!(
                "({}, concat({ca}, '\\x1F', {cb}), toUInt8({}))",
                lit(&pair_dim(a, b)),
                page_key(a, b)
            ));
        }
    }
    format!("[{}]", out.join(", "))
}

/// `name_0, …, name_{n-1}`.
fn flag_names(name: &str, n: usize) -> String {
    (0..n)
        .map(|k| format!("{name}_{k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The event-level rows of a day (as `duck::rollup`'s): visitors born and carried (and,
/// for pages, carried but new to the page since the day before and its last slice),
/// visits, pageviews, events, dark visits.
fn insert_event_rows(
    conn: &Conn,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
    build: u64,
) -> Result<(), StoreError> {
    let start = day_start(day);
    let end = start + Duration::days(1);
    let range = range_sql(site_id, start, end);
    let prev = range_sql(site_id, start - Duration::days(1), start);
    let before = range_sql(site_id, start - BEGUN_LOOKBACK, start);
    let late = range_sql(
        site_id,
        last_slice_start(day - Duration::days(1), tz),
        start,
    );
    let cols: Vec<&str> = DIMENSIONS.iter().map(|(_, c)| *c).collect();
    let visitor = format!("name NOT IN {NOT_VISIT_EVENTS}");
    // Did the row's visitor id have the row the day before (and in its last slice): by
    // page, then by page and each partner column (`page_partners`).
    let mut keys = vec!["visitor_id, pathname".to_string()];
    keys.extend(
        page_partners()
            .iter()
            .map(|c| format!("visitor_id, pathname, {c}")),
    );
    let mut prev_flags = Vec::new();
    for (name, when) in [("in_prev", &prev), ("in_prev_late", &late)] {
        for (k, key) in keys.iter().enumerate() {
            prev_flags.push(format!(
                "({key}) GLOBAL IN (SELECT {key} FROM events WHERE {when} AND {visitor}) AS {name}_{k}"
            ));
        }
    }
    let prev_flags = prev_flags.join(",\n                    ");
    let sql = format!(
        "INSERT INTO rollups (site_id, utc_day, local_day, dim, value, born, carried, carried_new,
                              carried_new_late, visits, pageviews, events, ident, est, s_visits,
                              bounces, duration, build)
         SELECT {site_id}, {day_sql}, ld, tupleElement(dv, 1), tupleElement(dv, 2),
                uniqExactIf(visitor_id, vis AND begun),
                uniqExactIf(visitor_id, vis AND NOT begun),
                uniqExactIf(visitor_id, vis AND NOT begun AND tupleElement(dv, 3) >= 1
                            AND NOT arrayElement([{in_prev}], tupleElement(dv, 3))),
                uniqExactIf(visitor_id, vis AND NOT begun AND tupleElement(dv, 3) >= 1
                            AND NOT arrayElement([{in_prev_late}], tupleElement(dv, 3))),
                countIf(entry = 1), countIf(name = 'pageview'), count(),
                countIf(entry = 1 AND channel_group IN ('private-message', 'email')),
                countIf(entry = 1 AND channel_group = 'estimated-dark'),
                0, 0, 0, {build}
         FROM (
           SELECT visitor_id, name, entry, channel_group, vis, begun, {in_prev}, {in_prev_late},
                  arrayJoin([ld0, {WHOLE_DAY}]) AS ld, arrayJoin({tuples}) AS dv
           FROM (
             SELECT visitor_id, name, entry, {cols}, {local_day} AS ld0,
                    {visitor} AS vis,
                    session_id GLOBAL IN (SELECT session_id FROM events WHERE {range} AND server_side = 0)
                      AND session_id GLOBAL NOT IN
                        (SELECT session_id FROM events WHERE {before} AND {visitor}) AS begun,
                    {prev_flags}
             FROM events WHERE {range}))
         GROUP BY ld, dv",
        day_sql = ClickSql::date(day),
        local_day = local_day_sql(day, tz, "ts_us"),
        tuples = tuples(DIMENSIONS, PAIRS, true),
        cols = cols.join(", "),
        in_prev = flag_names("in_prev", keys.len()),
        in_prev_late = flag_names("in_prev_late", keys.len()),
    );
    conn.execute_on(&conn.client, &sql)
        .map_err(|e| StoreError::Backend(format!("rollup of {day}: {e}")))
}

/// The visit-level rows of a day: each visit begun on it (its entry row's slice and visit
/// dimensions), its pageviews and duration over its rows of this UTC day, as the reports'
/// visit-level query counts them (no link events, no server-side conversions).
fn insert_visit_rows(
    conn: &Conn,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
    build: u64,
) -> Result<(), StoreError> {
    let start = day_start(day);
    let range = range_sql(site_id, start, start + Duration::days(1));
    let dims: Vec<(&str, &str)> = DIMENSIONS
        .iter()
        .copied()
        .filter(|(n, _)| n.starts_with("visit:"))
        .collect();
    let pairs: Vec<(&str, &str)> = PAIRS
        .iter()
        .copied()
        .filter(|(a, b)| a.starts_with("visit:") && b.starts_with("visit:"))
        .collect();
    let cols: Vec<&str> = dims.iter().map(|(_, c)| *c).collect();
    let sql = format!(
        "INSERT INTO rollups (site_id, utc_day, local_day, dim, value, born, carried, carried_new,
                              carried_new_late, visits, pageviews, events, ident, est, s_visits,
                              bounces, duration, build)
         SELECT {site_id}, {day_sql}, ld, tupleElement(dv, 1), tupleElement(dv, 2),
                0, 0, 0, 0, 0, 0, 0, 0, 0,
                count(), countIf(pv <= 1), sum(dur) / 1000000, {build}
         FROM (
           SELECT pv, dur, arrayJoin([ld0, {WHOLE_DAY}]) AS ld, arrayJoin({tuples}) AS dv
           FROM (
             SELECT session_id, {local_day} AS ld0, {cols} FROM events WHERE {range} AND entry = 1) AS e
           ANY INNER JOIN (
             SELECT session_id, countIf(name = 'pageview') AS pv, max(ts_us) - min(ts_us) AS dur
             FROM events WHERE {range} AND name NOT IN {NOT_VISIT_EVENTS} AND server_side = 0
             GROUP BY session_id) AS s USING session_id)
         GROUP BY ld, dv",
        day_sql = ClickSql::date(day),
        local_day = local_day_sql(day, tz, "ts_us"),
        tuples = tuples(&dims, &pairs, true),
        cols = cols.join(", "),
    );
    conn.execute_on(&conn.client, &sql)
        .map_err(|e| StoreError::Backend(format!("visit rollup of {day}: {e}")))
}

/// A build id: the time in microseconds and three random digits, so that builds of the
/// same day on two nodes at once still differ.
fn new_build() -> u64 {
    let us = Utc::now().timestamp_micros().max(0) as u64;
    us * 1000 + rand::random::<u64>() % 1000
}

fn scalar(conn: &Conn, sql: &str) -> Result<i64, StoreError> {
    let v: Vec<i64> = conn.fetch(sql)?;
    Ok(v.first().copied().unwrap_or(0))
}

/// Replace the rollups of `site_id`'s UTC day `day` (its local days in `tz`) by a new
/// build, then delete the rows of the earlier ones. `seen` is the newest mark the caller
/// saw: the build begins in a later second of the server's clock, so that it covers it.
pub(super) fn build_day(
    conn: &Conn,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
    seen: Option<i64>,
) -> Result<(), StoreError> {
    let mut through = scalar(conn, "SELECT toInt64(now())")?;
    for _ in 0..20 {
        if seen.is_none_or(|m| through > m) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        through = scalar(conn, "SELECT toInt64(now())")?;
    }
    let build = new_build();
    let date = ClickSql::date(day);
    let earlier = scalar(
        conn,
        &format!(
            "SELECT toInt64(count()) FROM rollup_built WHERE site_id = {site_id} AND utc_day = {date}"
        ),
    )?;
    insert_event_rows(conn, site_id, day, tz, build)?;
    insert_visit_rows(conn, site_id, day, tz, build)?;
    conn.execute_on(
        &conn.client,
        &format!(
            "INSERT INTO rollup_built (site_id, utc_day, tz, through, version, build)
             VALUES ({site_id}, {date}, {}, {through}, {VERSION}, {build})",
            lit(tz.name())
        ),
    )?;
    if earlier > 0 {
        for table in ["rollups", "rollup_built"] {
            conn.execute_on(
                &conn.client,
                &format!(
                    "ALTER TABLE {table} DELETE WHERE site_id = {site_id} AND utc_day = {date} AND build < {build}"
                ),
            )?;
        }
    }
    Ok(())
}

#[derive(Row, Deserialize)]
struct BuiltRow {
    site_id: u32,
    day: u16,
    tz: String,
    through: i64,
    version: i32,
}

#[derive(Row, Deserialize)]
struct MarkRow {
    site_id: u32,
    day: u16,
    at: i64,
}

/// The builds and marks of the days `cond` selects, by site.
fn read_days(
    conn: &Conn,
    built_cond: &str,
    marks_cond: &str,
) -> Result<HashMap<u32, Days>, StoreError> {
    let mut out: HashMap<u32, Days> = HashMap::new();
    let built: Vec<BuiltRow> = conn.fetch(&format!(
        "SELECT site_id, toUInt16(utc_day) AS day, argMax(tz, build) AS tz,
                argMax(through, build) AS through, argMax(version, build) AS version
         FROM rollup_built WHERE {built_cond} GROUP BY site_id, utc_day"
    ))?;
    for r in built {
        let days = out.entry(r.site_id).or_default();
        days.strict = true;
        if r.version == VERSION {
            days.built
                .insert(epoch_day(i64::from(r.day)), (r.tz, r.through));
        }
    }
    let marks: Vec<MarkRow> = conn.fetch(&format!(
        "SELECT site_id, toUInt16(utc_day) AS day, toInt64(max(at)) AS at
         FROM rollup_marks WHERE {marks_cond} GROUP BY site_id, utc_day"
    ))?;
    for r in marks {
        let days = out.entry(r.site_id).or_default();
        days.strict = true;
        days.marked.insert(epoch_day(i64::from(r.day)), r.at);
    }
    Ok(out)
}

/// Build the dirty, closed days of `sites`, newest first, at most `max_days`; the number
/// built (`rollups::dirty_days`).
pub(super) fn maintain(
    conn: &Conn,
    sites: &[(u32, Tz)],
    now: DateTime<Utc>,
    max_days: usize,
) -> Result<usize, StoreError> {
    if sites.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = sites.iter().map(|(s, _)| s.to_string()).collect();
    let cond = format!("site_id IN ({})", ids.join(", "));
    let days = read_days(conn, &cond, &cond)?;
    let mut n = 0;
    for (d, site, tz) in rollups::dirty_days(&days, sites, now)
        .into_iter()
        .take(max_days)
    {
        let started = std::time::Instant::now();
        let seen = days.get(&site).and_then(|s| {
            [d, d - Duration::days(1)]
                .iter()
                .filter_map(|x| s.marked.get(x))
                .max()
                .copied()
        });
        build_day(conn, site, d, tz, seen)?;
        tracing::debug!(
            message = "Rolled up a day.",
            site_id = site,
            day = %d,
            elapsed_ms = started.elapsed().as_millis() as u64
        );
        n += 1;
    }
    Ok(n)
}

/// Mark the UTC days of `days` (site, day) as changed.
pub(super) fn mark(conn: &Conn, days: &[(u32, NaiveDate)]) -> Result<(), StoreError> {
    if days.is_empty() {
        return Ok(());
    }
    let values: Vec<String> = days
        .iter()
        .map(|(s, d)| format!("({s}, {})", ClickSql::date(*d)))
        .collect();
    conn.execute_on(
        &conn.client,
        &format!(
            "INSERT INTO rollup_marks (site_id, utc_day) VALUES {}",
            values.join(", ")
        ),
    )
}

/// What keeps the rollups true when `site_id`'s rows before `before` (all of them with
/// None) are deleted: before the deletion, the day of the cut and the next are marked
/// (partly deleted; compared with it); after it, `forget` deletes the rollups of the days
/// wholly gone.
pub(super) fn before_delete(
    conn: &Conn,
    site_id: u32,
    before: Option<DateTime<Utc>>,
) -> Result<(), StoreError> {
    if let Some(t) = before {
        let d = t.date_naive();
        mark(conn, &[(site_id, d), (site_id, d + Duration::days(1))])?;
    }
    Ok(())
}

/// The mutations that forget the rollups of the days deleted (see [`before_delete`]).
pub(super) fn forget(site_id: u32, before: Option<DateTime<Utc>>) -> Vec<String> {
    let cond = match before {
        Some(t) => format!(
            "site_id = {site_id} AND utc_day < {}",
            ClickSql::date(t.date_naive())
        ),
        None => format!("site_id = {site_id}"),
    };
    ["rollups", "rollup_built", "rollup_marks"]
        .iter()
        .map(|t| format!("ALTER TABLE {t} DELETE WHERE {cond}"))
        .collect()
}

/// ClickHouse's rollups and raw events.
pub(super) struct ClickRolled<'a>(pub(super) &'a Conn);

#[derive(Row, Deserialize)]
struct CountsRow {
    value: String,
    visitors: i64,
    visits: i64,
    pageviews: i64,
    events: i64,
    ident: i64,
    est: i64,
    s_visits: i64,
    bounces: i64,
    duration: f64,
}

impl CountsRow {
    fn aggregates(&self) -> Aggregates {
        let n = |v: i64| v.max(0) as u64;
        Aggregates {
            visitors: n(self.visitors),
            visits: n(self.visits),
            pageviews: n(self.pageviews),
            events: n(self.events),
            visits_identified_dark: n(self.ident),
            visits_estimated_dark: n(self.est),
            session_visits: n(self.s_visits),
            bounces: n(self.bounces),
            duration_secs: self.duration,
            ..Aggregates::default()
        }
    }
}

#[derive(Row, Deserialize)]
struct SliceRow {
    local_day: i64,
    utc_day: i64,
    born: i64,
    carried: i64,
    visits: i64,
    pageviews: i64,
    events: i64,
    ident: i64,
    est: i64,
    s_visits: i64,
    bounces: i64,
    duration: f64,
}

#[derive(Row, Deserialize)]
struct TailRow {
    k: String,
    visitors: u64,
    visits: u64,
    pageviews: u64,
    events: u64,
    ident: u64,
    est: u64,
}

#[derive(Row, Deserialize)]
struct TailVisits {
    k: String,
    visits: u64,
    bounces: u64,
    duration_us: i64,
}

impl Rolled for ClickRolled<'_> {
    fn days(&self, site_id: u32, d0: NaiveDate, d1: NaiveDate) -> Result<Days, StoreError> {
        let span = |a: NaiveDate| {
            format!(
                "site_id = {site_id} AND utc_day >= {} AND utc_day <= {}",
                ClickSql::date(a),
                ClickSql::date(d1)
            )
        };
        let mut all = read_days(self.0, &span(d0), &span(d0 - Duration::days(1)))?;
        let mut days = all.remove(&site_id).unwrap_or_default();
        days.strict = true;
        Ok(days)
    }

    /// Not yet: ClickHouse's build does not count the distinct visits of page rows, so
    /// a page filter reads raw events there.
    fn distinct_visits(&self) -> bool {
        false
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
        let cur = current(site_id, from - Duration::days(1), to + Duration::days(1));
        let (sql, part) =
            rollups::breakdown_sql::<ClickSql>(site_id, dim, within, tz, from, to, &cur, distinct);
        let second = within.is_some_and(|(_, s)| s);
        let rows: Vec<CountsRow> = self.0.fetch(&sql)?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let a = r.aggregates();
                (rollups::strip_part(r.value, part.as_deref(), second), a)
            })
            // As on DuckDB: a value seen only in a slice outside the range has no row.
            .filter(|(_, a)| a.events > 0)
            .collect())
    }

    fn daily_rows(
        &self,
        site_id: u32,
        row: (&str, &str),
        from: NaiveDate,
        to: NaiveDate,
        distinct: bool,
    ) -> Result<Vec<DayRow>, StoreError> {
        let cur = current(site_id, from - Duration::days(1), to + Duration::days(1));
        let sql = rollups::daily_sql::<ClickSql>(site_id, row, from, to, &cur, distinct);
        let rows: Vec<SliceRow> = self.0.fetch(&sql)?;
        let n = |v: i64| v.max(0) as u64;
        Ok(rows
            .into_iter()
            .map(|r| DayRow {
                local_day: epoch_day(r.local_day),
                utc_day: epoch_day(r.utc_day),
                born: n(r.born),
                carried: n(r.carried),
                sums: Aggregates {
                    visits: n(r.visits),
                    pageviews: n(r.pageviews),
                    events: n(r.events),
                    visits_identified_dark: n(r.ident),
                    visits_estimated_dark: n(r.est),
                    session_visits: n(r.s_visits),
                    bounces: n(r.bounces),
                    duration_secs: r.duration,
                    ..Aggregates::default()
                },
                // Not read: `distinct_visits` is false here.
                carried_new_late: 0,
                dvisits: [0; 3],
                dvisits_seen_late: [0; 3],
            })
            .collect())
    }

    fn tail(
        &self,
        site_id: u32,
        shape: &Shape,
        (from, seam, to): (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>),
        _now: DateTime<Utc>,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        let key = shape.key.unwrap_or("''");
        let filt = match &shape.filter {
            Some((c, v)) => format!(" AND {c} = {}", lit(v)),
            None => String::new(),
        };
        let (long, short) = lookback(from, seam, shape.event_level());
        let range = range_sql(site_id, seam, to);
        // Before `short`, only the visitors of the raw part's server-side rows.
        let seen = format!(
            "{} AND (ts_us >= {} OR visitor_id GLOBAL IN
                      (SELECT visitor_id FROM events WHERE {range} AND server_side = 1))",
            range_sql(site_id, long, seam),
            short.timestamp_micros()
        );
        let sql = format!(
            "SELECT k, toUInt64(uniqExactIf(visitor_id, name NOT IN {NOT_VISIT_EVENTS}
                         AND (visitor_id, k) GLOBAL NOT IN
                           (SELECT visitor_id, {key} FROM events
                            WHERE {seen} AND name NOT IN {NOT_VISIT_EVENTS}{filt}))) AS visitors,
                    toUInt64(countIf(entry = 1)) AS visits,
                    toUInt64(countIf(name = 'pageview')) AS pageviews,
                    toUInt64(count()) AS events,
                    toUInt64(countIf(entry = 1 AND channel_group IN ('private-message', 'email'))) AS ident,
                    toUInt64(countIf(entry = 1 AND channel_group = 'estimated-dark')) AS est
             FROM (SELECT visitor_id, name, entry, channel_group, {key} AS k
                   FROM events WHERE {range}{filt})
             GROUP BY k"
        );
        let mut found: BTreeMap<String, Aggregates> = BTreeMap::new();
        for r in self.0.fetch::<TailRow>(&sql)? {
            found.insert(
                r.k,
                Aggregates {
                    visitors: r.visitors,
                    visits: r.visits,
                    pageviews: r.pageviews,
                    events: r.events,
                    visits_identified_dark: r.ident,
                    visits_estimated_dark: r.est,
                    ..Aggregates::default()
                },
            );
        }
        if shape.with_sessions {
            let sql = format!(
                "SELECT k, toUInt64(count()) AS visits, toUInt64(countIf(pv <= 1)) AS bounces,
                        toInt64(sum(dur)) AS duration_us FROM (
                    SELECT {key} AS k, session_id, countIf(name = 'pageview') AS pv,
                           max(ts_us) - min(ts_us) AS dur
                    FROM events WHERE {range}{filt}
                      AND name NOT IN {NOT_VISIT_EVENTS} AND server_side = 0
                      AND session_id GLOBAL IN (SELECT session_id FROM events WHERE {range} AND entry = 1)
                    GROUP BY k, session_id)
                 GROUP BY k"
            );
            for r in self.0.fetch::<TailVisits>(&sql)? {
                let a = found.entry(r.k).or_default();
                a.session_visits += r.visits;
                a.bounces += r.bounces;
                a.duration_secs += r.duration_us as f64 / 1_000_000.0;
            }
        }
        Ok(found.into_iter().collect())
    }

    fn raw_timeseries(&self, q: &ReportQuery, b: &[Bucket]) -> Result<Vec<Aggregates>, StoreError> {
        sql::timeseries(self.0, q, b)
    }

    fn raw_aggregate(&self, q: &ReportQuery) -> Result<Aggregates, StoreError> {
        sql::aggregate(self.0, q)
    }
}
