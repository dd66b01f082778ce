//! Report SQL for DuckDB. User-supplied values only ever travel as bound parameters.
//!
//! Two queries per report: the event-level one (visitors, visits, pageviews, events,
//! dark visits) and, when bounce rate or visit duration is asked for, a visit-level one
//! (per-visit pageviews and duration). Their rows are joined by group key in Rust; what
//! is the same on every back end is composed in `crate::report`.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use duckdb::types::{TimeUnit, Value};
use duckdb::{params_from_iter, Connection};
use lucarne_core::cascade::{EdgeRow, ShareRow, VisitRow};
use lucarne_core::event::{EventRow, Revenue};
use lucarne_core::stats::{Aggregates, Bucket, ReportQuery};
use lucarne_core::token::{NodeKind, TokenNode};

use crate::columns::{Cell, Kind, COLUMNS};
use crate::events::{
    split_props, ConversionGroup, ConversionRow, SessionTotals, ShareGraph, StoreError,
    SurveyAnswerRow, VisitKey,
};
use crate::report::{
    self, bucket_expr, conversion_group_sql, goal_sql, session_events_only, utc, where_clause,
    Conversions, Dialect, Group, Reports, NOT_VISIT_EVENTS, ROOT_LOOKBACK_DAYS,
};
use lucarne_core::conversions::GoalKind;

// The reports themselves, composed from this back end's queries (`impl Reports` below).
pub(crate) use crate::report::{aggregate, breakdown, breakdown_dims, timeseries};

/// DuckDB's SQL: values are bound as parameters, collected here in query order; distinct
/// counts estimated or exact.
#[derive(Default)]
struct Params(Vec<Value>, Distinct);

/// How [`Dialect::distinct_if`] counts.
#[derive(Default, Clone, Copy)]
enum Distinct {
    /// `approx_count_distinct`: DuckDB's HyperLogLog has 64 registers, ~2 % off in the
    /// median (measured here), and already wrong for 8 values one time in twenty.
    #[default]
    Estimated,
    /// `count(DISTINCT …)`: cheap when the values are few (a small hash table).
    Exact,
}

/// When a report's rows hold fewer distinct visitors (or visits) than this all together,
/// the estimates are replaced by exact counts (one more query, whose hash table is then
/// small: its cost grows with the distinct values per row, summed). A small site, or a
/// filtered view, sees exact numbers; a large report keeps the estimate's speed.
/// ClickHouse's `uniq` is exact up to 65,536 values a row, so below this both agree.
const EXACT_BELOW: u64 = crate::events::EXACT_VISITORS_BELOW;

impl Dialect for Params {
    const TS: &'static str = "ts";
    const ENTRY: &'static str = "entry";
    const TRUE: &'static str = "true";
    const NOT_SERVER_SIDE: &'static str = "NOT server_side";
    const COUNT: &'static str = "count(*)";
    const LIKE_ESCAPE: &'static str = " ESCAPE '\\'";
    const GENERATION: &'static str = "generation";
    // A share-visit's own address-bar token counts as a share once it brought a visit:
    // the entry rows of generation >= 2 name those tokens and their (share-visit) owners.
    const SHARES: &'static str = "(count(*) FILTER (WHERE name IN ('share', 'copy')))::BIGINT,
         (count(DISTINCT parent_token) FILTER (WHERE entry AND visit_share_channel = 'address-bar'))::BIGINT,
         (count(*) FILTER (WHERE entry AND generation > 0))::BIGINT,
         ((count(*) FILTER (WHERE name IN ('share', 'copy') AND generation > 0))
           + (count(DISTINCT parent_token) FILTER (WHERE entry AND generation >= 2 AND visit_share_channel = 'address-bar')))::BIGINT,
         (count(DISTINCT CASE WHEN name IN ('share', 'copy') AND generation > 0 THEN session_id
                              WHEN entry AND generation >= 2 THEN parent_session END))::BIGINT";

    fn text(&mut self, v: &str) -> String {
        self.0.push(Value::Text(v.to_string()));
        "?".into()
    }

    fn range(&mut self, site_id: u32, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
        self.0.extend([Value::UInt(site_id), ts(from), ts(to)]);
        "site_id = ? AND ts >= ? AND ts < ?".into()
    }

    fn prop(&mut self, key: &str) -> String {
        format!(
            "coalesce(str_split(prop_values, chr(31))[list_position(str_split(prop_keys, chr(31)), {})], '(none)')",
            self.text(key)
        )
    }

    fn time(t: DateTime<Utc>) -> String {
        format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"))
    }

    fn bucket_index(i: usize) -> String {
        i.to_string()
    }

    fn to_text(e: &str) -> String {
        format!("CAST({e} AS VARCHAR)")
    }

    fn if_else(c: &str, a: &str, b: &str) -> String {
        format!("CASE WHEN {c} THEN {a} ELSE {b} END")
    }

    fn count_if(c: &str) -> String {
        format!("count(*) FILTER (WHERE {c})")
    }

    fn distinct_if(&self, col: &str, c: &str) -> String {
        match self.1 {
            Distinct::Estimated => format!("approx_count_distinct({col}) FILTER (WHERE {c})"),
            Distinct::Exact => format!("count(DISTINCT {col}) FILTER (WHERE {c})"),
        }
    }

    const KEY_SEP: &'static str = "chr(31)";

    fn as_count(e: &str) -> String {
        format!("({e})::BIGINT")
    }

    fn regex(col: &str, pattern: &str) -> String {
        // A standard string literal: only the quote is special.
        format!("regexp_matches({col}, '{}')", pattern.replace('\'', "''"))
    }

    fn lower(col: &str) -> String {
        format!("lower({col})")
    }

    const TS_INT: &'static str = "epoch_us(ts)";
    const TS_NONE: &'static str = "9223372036854775807";

    fn list_if(col: &str, c: &str) -> String {
        format!("list({col}) FILTER (WHERE {c})")
    }

    // `list` of no rows is NULL, and so is `list_min` of NULL or of an empty list. The
    // `lambda x:` syntax: this DuckDB refuses the older arrow.
    fn min_at_least(list: &str, bound: Option<&str>) -> String {
        let list = match bound {
            Some(b) => format!("list_filter({list}, lambda x: x >= {b})"),
            None => list.to_string(),
        };
        format!("coalesce(list_min({list}), {})", Self::TS_NONE)
    }
}

fn ts(t: DateTime<Utc>) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros())
}

impl Reports for Connection {
    fn event_level(
        &self,
        q: &ReportQuery,
        group: Group<'_>,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        let run = |distinct: Distinct| {
            let mut p = Params(Vec::new(), distinct);
            let sql = report::event_level_sql(&mut p, q, group);
            rows(self, &sql, &p.0, |r| {
                let g: Option<String> = r.get(0)?;
                let mut counts = [0; 11];
                for (i, n) in counts.iter_mut().enumerate() {
                    *n = r.get::<_, i64>(i + 1)? as u64;
                }
                Ok((g.unwrap_or_default(), report::aggregates(counts)))
            })
        };
        let estimated = run(Distinct::Estimated)?;
        // Few visitors: count them exactly (a site with 8 visitors must not show 7).
        let total: u64 = estimated
            .iter()
            .map(|(_, a)| a.visitors.max(a.visits))
            .sum();
        if total > 0 && total < EXACT_BELOW {
            return run(Distinct::Exact);
        }
        let mut estimated = estimated;
        report::cap_estimated_visitors(&mut estimated);
        Ok(estimated)
    }

    fn visit_level(&self, q: &ReportQuery, group: Group<'_>) -> Result<SessionTotals, StoreError> {
        match group {
            Group::Buckets(buckets) => visits_by_start(self, q, buckets),
            group => visit_level(self, q, group),
        }
    }
}

/// Run a visit-level query whose rows are (group, visits, bounces, duration seconds).
fn visit_rows(conn: &Connection, sql: &str, params: &[Value]) -> Result<SessionTotals, StoreError> {
    let found = rows(conn, sql, params, |r| {
        let g: Option<String> = r.get(0)?;
        Ok((
            g.unwrap_or_default(),
            (
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
                r.get::<_, f64>(3)?,
            ),
        ))
    })?;
    Ok(found.into_iter().collect())
}

/// What visit-level queries read: unless the query asks for link events (by name or
/// link), they leave out every name `link_events` holds, so they read the wide table
/// alone and skip the `events` view's union.
fn visit_source(q: &ReportQuery) -> &'static str {
    if report::asks_for_link_events(q) {
        "events"
    } else {
        "site_events"
    }
}

/// Visit-level numbers per time bucket, each visit counted in the bucket where it
/// started (its pageviews and duration are the whole visit's, within the range).
fn visits_by_start(
    conn: &Connection,
    q: &ReportQuery,
    buckets: &[Bucket],
) -> Result<SessionTotals, StoreError> {
    let mut p = Params::default();
    let src = visit_source(q);
    let inner = if q.has_event_filters() {
        let w_all = where_clause(&mut p, q, false);
        let w_f = where_clause(&mut p, q, true);
        let only = report::visit_events_only(q);
        format!("{w_all} AND session_id IN (SELECT session_id FROM {src} WHERE {w_f}{only})")
    } else {
        where_clause(&mut p, q, true)
    };
    // Short-link clicks, scans and previews are not visits (unless asked for by name or
    // link), nor are server-side conversions.
    let inner = format!("{inner}{}", session_events_only::<Params>(q));
    let g = bucket_expr::<Params>(buckets, "t0");
    let sql = format!(
        "SELECT CAST({g} AS VARCHAR) AS g, count(*)::BIGINT, (count(*) FILTER (WHERE pv <= 1))::BIGINT,
                coalesce(sum(dur), 0)::DOUBLE
         FROM (SELECT session_id, min(ts) AS t0, count(*) FILTER (WHERE name = 'pageview') AS pv,
                      (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur
               FROM {src} WHERE {inner} GROUP BY session_id)
         GROUP BY g"
    );
    visit_rows(conn, &sql, &p.0)
}

/// Visit-level numbers (visits, bounces, duration) per group key (`Reports::visit_level`).
fn visit_level(
    conn: &Connection,
    q: &ReportQuery,
    group: Group<'_>,
) -> Result<SessionTotals, StoreError> {
    let mut p = Params::default();
    let src = visit_source(q);
    let only = session_events_only::<Params>(q);
    let sql = if q.has_event_filters() || group.is_event_level() {
        // Parameters in the order of the text: `m`'s, then `s`'s.
        let g = group.key(&mut p);
        let w_f = where_clause(&mut p, q, true);
        let w_all = where_clause(&mut p, q, false);
        // The visits the filter keeps first (`m`), then only their rows grouped: grouping
        // every visit of the range (4.75 M at 10 M events) cost 200 ms a panel.
        format!(
            "WITH m AS (SELECT DISTINCT {g} AS g, session_id FROM {src} WHERE {w_f}{only}),
             s AS (
                SELECT session_id, count(*) FILTER (WHERE name = 'pageview') AS pv,
                       (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur
                FROM {src} WHERE {w_all}{only} AND session_id IN (SELECT session_id FROM m)
                GROUP BY session_id)
             SELECT m.g, count(*)::BIGINT, (count(*) FILTER (WHERE s.pv <= 1))::BIGINT, coalesce(sum(s.dur), 0)::DOUBLE
             FROM m JOIN s USING (session_id) GROUP BY m.g"
        )
    } else {
        let g = group.key(&mut p);
        let w = where_clause(&mut p, q, true);
        format!(
            "SELECT g, count(*)::BIGINT, (count(*) FILTER (WHERE pv <= 1))::BIGINT, coalesce(sum(dur), 0)::DOUBLE FROM (
                SELECT {g} AS g, session_id, count(*) FILTER (WHERE name = 'pageview') AS pv,
                       (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur
                FROM {src} WHERE {w}{only} GROUP BY g, session_id) GROUP BY g"
        )
    };
    visit_rows(conn, &sql, &p.0)
}

/// The event that minted `token`: its site, kind (from its name), visit, visitor, the
/// visit's generation and the share button.
/// Every minted token, streamed (the server's filter of known tokens is built from it).
pub fn for_each_token(conn: &Connection, f: &mut dyn FnMut(u64)) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare("SELECT token FROM events WHERE token <> 0")
        .map_err(StoreError::backend)?;
    let mut rows = stmt.query([]).map_err(StoreError::backend)?;
    while let Some(r) = rows.next().map_err(StoreError::backend)? {
        f(r.get(0).map_err(StoreError::backend)?);
    }
    Ok(())
}

pub fn find_token(conn: &Connection, token: u64) -> Result<Option<TokenNode>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT site_id, name, session_id, visitor_id, generation, share_channel, link_id \
             FROM events WHERE token = ? ORDER BY ts LIMIT 1",
        )
        .map_err(StoreError::backend)?;
    let mut rows = stmt.query([token]).map_err(StoreError::backend)?;
    let Some(r) = rows.next().map_err(StoreError::backend)? else {
        return Ok(None);
    };
    let get = |e: duckdb::Error| StoreError::backend(format!("token row: {e}"));
    let name: String = r.get(1).map_err(get)?;
    Ok(Some(TokenNode {
        site_id: r.get(0).map_err(get)?,
        kind: NodeKind::of_event(&name),
        session_id: r.get(2).map_err(get)?,
        visitor_id: r.get(3).map_err(get)?,
        generation: r.get(4).map_err(get)?,
        share_channel: r.get(5).map_err(get)?,
        link_id: r.get(6).map_err(get)?,
    }))
}

/// Visits and goal conversions per (group, channel group): one scan for the visits, one
/// filtered scan per goal (simple conditions, so DuckDB prunes them well, unioned), one
/// for the revenue of event goals. Visits, pageviews and revenue live in `site_events`
/// only: reading it rather than the `events` view (which adds `link_events`) saves about
/// a fifth of the report (measured at 10 M events).
///
/// `visits`, when given, are the visits per (group, channel group) already counted (from
/// rollups), instead of the first scan.
pub fn conversions(
    conn: &Connection,
    q: &ReportQuery,
    goals: &[GoalKind],
    group: &ConversionGroup,
    visits: Option<crate::rollups::GroupVisits>,
) -> Result<Vec<ConversionRow>, StoreError> {
    let key = |r: &duckdb::Row<'_>| -> duckdb::Result<(String, String)> {
        Ok((
            r.get::<_, Option<String>>(0)?.unwrap_or_default(),
            r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        ))
    };
    let mut out = Conversions::new(goals);

    // Visits: entry rows only.
    match visits {
        Some(v) => {
            for (g, cg, n) in v {
                out.visits(g, cg, n);
            }
        }
        None => {
            let mut p = Params::default();
            let g = conversion_group_sql(&mut p, group);
            let w = where_clause(&mut p, q, true);
            let sql = format!(
                "SELECT CAST({g} AS VARCHAR) AS g, channel_group, count(*)::BIGINT FROM site_events \
                 WHERE {w} AND entry AND name NOT IN {NOT_VISIT_EVENTS} GROUP BY ALL"
            );
            for ((g, cg), visits) in rows(conn, &sql, &p.0, |r| {
                Ok((key(r)?, r.get::<_, i64>(2)? as u64))
            })? {
                out.visits(g, cg, visits);
            }
        }
    }
    if goals.is_empty() {
        return Ok(out.into_rows());
    }

    // Conversions: the goals' matching rows, one scan per kind of goal: the event goals
    // (by name), the exact page goals (by path), and each page pattern. A row is keyed
    // by what it matched; every goal with that key takes its count. One statement counts
    // them and sums the event goals' revenue from the same rows (measured at 11.4 M
    // events in 30 days: 118 ms, against 112 + 29 ms for a counting and a revenue
    // statement). Converting visits are counted in two steps (rows per visit, then
    // visits), cheaper in DuckDB than `count(DISTINCT session_id)` (100 against 112 ms).
    let mut p = Params::default();
    let mut parts = Vec::new();
    // Parameters are positional: the condition's come after the group's and the range's.
    type Cond<'c> = &'c dyn Fn(&mut Params) -> String;
    // Grouped by nothing or by the channel group, the group is no column of its own: a
    // constant or repeated key costs DuckDB 15 ms in these groupings (11.4 M events).
    let (g_col, g_out) = match group {
        ConversionGroup::Total => (false, "''"),
        ConversionGroup::Property(p) if p.name() == "visit:channel_group" => {
            (false, "channel_group")
        }
        _ => (true, "g"),
    };
    let mut part = |p: &mut Params, table: &str, kind: &str, k: &str, cond: Cond| {
        let g = if g_col {
            format!("CAST({} AS VARCHAR) AS g, ", conversion_group_sql(p, group))
        } else {
            String::new()
        };
        let w = where_clause(p, q, true);
        let cond = cond(p);
        // Only event goals carry revenue.
        let revenue = if kind == "e" {
            "revenue_minor, revenue_currency"
        } else {
            "NULL::BIGINT, NULL::VARCHAR"
        };
        parts.push(format!(
            "SELECT {g}channel_group, session_id, '{kind}' AS kind, \
             CAST({k} AS VARCHAR) AS k, {revenue} FROM {table} WHERE {w} AND {cond}"
        ));
    };
    for table in ["site_events", "events"] {
        let names: Vec<&String> = goals
            .iter()
            .filter_map(|g| match g {
                GoalKind::Event(n) if goal_table(g) == table => Some(n),
                _ => None,
            })
            .collect();
        if !names.is_empty() {
            let cond = |p: &mut Params| {
                let list: Vec<String> = names.iter().map(|n| p.text(n)).collect();
                format!("name IN ({})", list.join(", "))
            };
            part(&mut p, table, "e", "name", &cond);
        }
    }
    let paths: Vec<&String> = goals
        .iter()
        .filter_map(|g| match g {
            GoalKind::Page(path) if !path.contains('*') => Some(path),
            _ => None,
        })
        .collect();
    if !paths.is_empty() {
        let cond = |p: &mut Params| {
            let list: Vec<String> = paths.iter().map(|v| p.text(v)).collect();
            format!("name = 'pageview' AND pathname IN ({})", list.join(", "))
        };
        part(&mut p, "site_events", "p", "pathname", &cond);
    }
    for (i, goal) in goals.iter().enumerate() {
        if matches!(goal, GoalKind::Page(path) if path.contains('*')) {
            let cond = |p: &mut Params| goal_sql(p, goal);
            part(&mut p, "site_events", &i.to_string(), "''", &cond);
        }
    }
    // `part` 'c': (group, channel group, kind, key, converting visits, conversions);
    // `part` 'r': (group, channel group, 'e', event name, currency, revenue in minor units).
    let gk = if g_col { "g, " } else { "" };
    let sql = format!(
        "WITH hits({gk}channel_group, session_id, kind, k, minor, currency) AS MATERIALIZED ({}) \
         SELECT 'c' AS part, {g_out} AS g, channel_group, kind, k, NULL::VARCHAR AS currency, \
                count(*)::BIGINT, sum(n)::BIGINT \
         FROM (SELECT {gk}channel_group, kind, k, session_id, count(*) AS n FROM hits \
               GROUP BY {gk}channel_group, kind, k, session_id) \
         GROUP BY {gk}channel_group, kind, k \
         UNION ALL \
         SELECT 'r', {g_out}, channel_group, kind, k, currency, sum(minor)::BIGINT, 0 \
         FROM hits WHERE kind = 'e' AND minor IS NOT NULL GROUP BY {gk}channel_group, kind, k, currency \
         ORDER BY ALL",
        parts.join(" UNION ALL ")
    );
    for ((g, cg), part, (kind, k), currency, a, b) in rows(conn, &sql, &p.0, |r| {
        Ok((
            (
                r.get::<_, Option<String>>(1)?.unwrap_or_default(),
                r.get::<_, Option<String>>(2)?.unwrap_or_default(),
            ),
            r.get::<_, String>(0)?,
            (
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?.unwrap_or_default(),
            ),
            r.get::<_, Option<String>>(5)?.unwrap_or_default(),
            r.get::<_, i64>(6)?,
            r.get::<_, i64>(7)?,
        ))
    })? {
        if part == "r" {
            out.revenue(g, cg, &k, &currency, a);
            continue;
        }
        for (i, goal) in goals.iter().enumerate() {
            let hit = match (kind.as_str(), goal) {
                ("e", GoalKind::Event(n)) => *n == k,
                ("p", GoalKind::Page(path)) => !path.contains('*') && *path == k,
                (n, GoalKind::Page(_)) => n.parse::<usize>() == Ok(i),
                _ => false,
            };
            if hit {
                out.goal(g.clone(), cg.clone(), i as i64, a as u64, b as u64);
            }
        }
    }
    Ok(out.into_rows())
}

/// How far each visit went through a funnel's steps (`report::funnel_sql`).
pub fn funnel(
    conn: &Connection,
    q: &ReportQuery,
    steps: &[lucarne_core::funnel::FunnelStep],
    group: crate::events::FunnelGroup,
) -> Result<Vec<crate::events::FunnelRow>, StoreError> {
    let mut p = Params::default();
    let sql = report::funnel_sql(&mut p, q, steps, group);
    let counted = rows(conn, &sql, &p.0, |r| {
        Ok((
            r.get::<_, Option<String>>(0)?.unwrap_or_default(),
            u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
        ))
    })?;
    Ok(report::funnel_rows(steps.len(), group, counted))
}

/// Where a goal's rows can be: `site_events`, unless it names a link event.
fn goal_table(goal: &GoalKind) -> &'static str {
    match goal {
        GoalKind::Event(name) if crate::columns::is_link_event_name(name) => "events",
        _ => "site_events",
    }
}

/// The select list of every stored column (`columns::COLUMNS`), timestamps as epoch
/// microseconds.
fn all_columns() -> String {
    COLUMNS
        .iter()
        .flat_map(|c| {
            c.stored_names().iter().map(move |n| match c.kind {
                Kind::Ts => format!("epoch_us({n})"),
                _ => (*n).to_string(),
            })
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A row read back from the columns of [`all_columns`] (a column an older row lacks, NULL,
/// reads as its field's empty value).
fn read_row(r: &duckdb::Row<'_>) -> duckdb::Result<EventRow> {
    let mut row = EventRow::default();
    let mut i = 0;
    for c in COLUMNS {
        let cell = match c.kind {
            Kind::Bool => Cell::Bool(r.get::<_, Option<bool>>(i)?.unwrap_or(false)),
            Kind::U8 => Cell::U8(r.get::<_, Option<u8>>(i)?.unwrap_or(0)),
            Kind::U16 => Cell::U16(r.get::<_, Option<u16>>(i)?.unwrap_or(0)),
            Kind::U32 => Cell::U32(r.get::<_, Option<u32>>(i)?.unwrap_or(0)),
            Kind::U64 => Cell::U64(r.get::<_, Option<u64>>(i)?.unwrap_or(0)),
            Kind::Ts => Cell::Ts(utc(r.get(i)?)),
            Kind::Text => Cell::Text(Cow::Owned(
                r.get::<_, Option<String>>(i)?.unwrap_or_default(),
            )),
            Kind::Props => Cell::Props(Cow::Owned(split_props(
                &r.get::<_, Option<String>>(i)?.unwrap_or_default(),
                &r.get::<_, Option<String>>(i + 1)?.unwrap_or_default(),
            ))),
            Kind::Revenue => Cell::Revenue(
                match (
                    r.get::<_, Option<i64>>(i)?,
                    r.get::<_, Option<String>>(i + 1)?,
                ) {
                    (Some(amount_minor), Some(currency)) => Some(Cow::Owned(Revenue {
                        amount_minor,
                        currency,
                    })),
                    _ => None,
                },
            ),
        };
        (c.set)(&mut row, cell);
        i += c.stored_names().len();
    }
    Ok(row)
}

/// The time of a site's first event (link events and engagement aside).
pub fn first_event(conn: &Connection, site_id: u32) -> Result<Option<DateTime<Utc>>, StoreError> {
    let found = rows(
        conn,
        "SELECT epoch_us(min(ts)) FROM site_events WHERE site_id = ?",
        &[Value::UInt(site_id)],
        |r| r.get::<_, Option<i64>>(0),
    )?;
    Ok(found.into_iter().flatten().next().map(crate::report::utc))
}

/// The entry row of a visit, found by its session or by the token it arrived with.
/// The events matching any goal, oldest first (`report::goal_events_sql`).
pub fn goal_events(
    conn: &Connection,
    q: &ReportQuery,
    goals: &[GoalKind],
    limit: usize,
) -> Result<Vec<EventRow>, StoreError> {
    let mut p = Params::default();
    let Some(sql) = report::goal_events_sql(&mut p, q, goals, limit, &all_columns(), "ts") else {
        return Ok(Vec::new());
    };
    rows(conn, &sql, &p.0, read_row)
}

pub fn find_visit(
    conn: &Connection,
    site_id: u32,
    key: VisitKey,
) -> Result<Option<EventRow>, StoreError> {
    let (cond, id) = match key {
        VisitKey::Session(s) => ("session_id = ?", s),
        VisitKey::ArrivedWith(t) => ("parent_token = ?", t),
    };
    let sql = format!(
        "SELECT {} FROM events WHERE site_id = ? AND {cond} AND entry ORDER BY ts LIMIT 1",
        all_columns()
    );
    let found = rows(
        conn,
        &sql,
        &[Value::UInt(site_id), Value::UBigInt(id)],
        read_row,
    )?;
    Ok(found.into_iter().next())
}

/// Scroll depth and time on page (`EventStore::engagement`): per (page, visitor) the
/// deepest measured scroll and the time summed, then per page (or in all) the visitors,
/// the scroll of those measured, and the time.
pub fn engagement(
    conn: &Connection,
    q: &ReportQuery,
    by_page: bool,
) -> Result<Vec<(String, Aggregates)>, StoreError> {
    let mut p = Params::default();
    let w = where_clause(&mut p, q, true);
    let k = if by_page { "pathname" } else { "''" };
    let sql = format!(
        "SELECT k, count(*)::BIGINT, sum(ms)::BIGINT, count(sd)::BIGINT, coalesce(sum(sd), 0)::BIGINT \
         FROM (SELECT {k} AS k, visitor_id, sum(engagement_ms) AS ms, \
                      max(scroll_depth) FILTER (WHERE scroll_depth <= 100) AS sd \
               FROM engagement_events WHERE {w} GROUP BY ALL) \
         GROUP BY k"
    );
    rows(conn, &sql, &p.0, |r| {
        Ok((
            r.get::<_, String>(0)?,
            Aggregates {
                engaged_visitors: r.get::<_, i64>(1)? as u64,
                engaged_ms: r.get::<_, i64>(2)? as u64,
                scroll_visitors: r.get::<_, i64>(3)? as u64,
                scroll_sum: r.get::<_, i64>(4)? as u64,
                ..Aggregates::default()
            },
        ))
    })
}

/// The first survey answer of each visit: `answer` and `text` props.
pub fn survey_answers(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<Vec<SurveyAnswerRow>, StoreError> {
    use lucarne_core::{ChannelGroup, Evidence};
    let mut p = Params::default();
    let w = where_clause(&mut p, q, true);
    let prop = |k: &str| {
        format!(
            "coalesce(str_split(prop_values, chr(31))[list_position(str_split(prop_keys, chr(31)), '{k}')], '')"
        )
    };
    let sql = format!(
        "SELECT arg_min({a}, ts), arg_min({t}, ts), any_value(channel), any_value(channel_group), \
                any_value(evidence) \
         FROM events WHERE name = 'survey' AND {w} GROUP BY session_id",
        a = prop("answer"),
        t = prop("text"),
    );
    rows(conn, &sql, &p.0, |r| {
        let group: String = r.get(3)?;
        let evidence: String = r.get(4)?;
        Ok(SurveyAnswerRow {
            answer: r.get(0)?,
            text: r.get(1)?,
            channel: r.get(2)?,
            channel_group: ChannelGroup::parse(&group).unwrap_or(ChannelGroup::Direct),
            evidence: Evidence::parse(&evidence).unwrap_or(Evidence::None),
        })
    })
}

/// Every stored row, in time order, a batch at a time (`lucarne migrate`): `f` gets
/// batches of at most `batch` rows. Returns how many rows were read.
pub fn export_rows(
    conn: &Connection,
    batch: usize,
    f: &mut dyn FnMut(Vec<EventRow>) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {c} FROM (SELECT * FROM events UNION ALL SELECT * FROM engagement_events) \
             ORDER BY ts, session_id",
            c = all_columns()
        ))
        .map_err(StoreError::backend)?;
    let mut rows = stmt.query([]).map_err(StoreError::backend)?;
    let mut out = Vec::with_capacity(batch);
    let mut total = 0u64;
    let err = |e: duckdb::Error| StoreError::backend(format!("export: {e}"));
    while let Some(r) = rows.next().map_err(err)? {
        out.push(read_row(r).map_err(err)?);
        if out.len() >= batch.max(1) {
            total += out.len() as u64;
            f(std::mem::replace(&mut out, Vec::with_capacity(batch)))?;
        }
    }
    if !out.is_empty() {
        total += out.len() as u64;
        f(out)?;
    }
    Ok(total)
}

/// Run `sql` with `params` and map each row.
fn rows<T>(
    conn: &Connection,
    sql: &str,
    params: &[Value],
    f: impl FnMut(&duckdb::Row<'_>) -> duckdb::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(StoreError::backend)?;
    let it = stmt
        .query_map(params_from_iter(params.iter()), f)
        .map_err(StoreError::backend)?;
    it.collect::<duckdb::Result<Vec<T>>>()
        .map_err(StoreError::backend)
}

pub fn share_graph(conn: &Connection, q: &ReportQuery) -> Result<ShareGraph, StoreError> {
    use duckdb::arrow::array::{Array, Int64Array, StringArray, UInt16Array, UInt64Array};
    use duckdb::arrow::record_batch::RecordBatch;

    // Rows are read a column batch at a time (Arrow) rather than value by value: the
    // graph of a busy page has hundreds of thousands of rows.
    fn batches(
        conn: &Connection,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<RecordBatch>, StoreError> {
        let mut stmt = conn.prepare_cached(sql).map_err(StoreError::backend)?;
        let out = stmt
            .query_arrow(params_from_iter(params.iter()))
            .map_err(StoreError::backend)?
            .collect();
        Ok(out)
    }
    fn col<T: Array + 'static>(b: &RecordBatch, i: usize) -> Result<&T, StoreError> {
        let c = b.column(i);
        c.as_any().downcast_ref::<T>().ok_or_else(|| {
            StoreError::backend(format!("share graph: column {i} is {}", c.data_type()))
        })
    }
    fn text(a: &StringArray, i: usize) -> String {
        if a.is_null(i) {
            String::new()
        } else {
            a.value(i).to_string()
        }
    }

    let range = [Value::UInt(q.site_id), ts(q.from), ts(q.to)];
    type Edges = (Vec<EdgeRow>, Vec<(String, u64)>);
    let edges_of = |conn: &Connection| -> Result<Edges, StoreError> {
        let mut edges = Vec::new();
        for b in batches(
            conn,
            "SELECT session_id, parent_session, parent_token, generation, epoch_us(ts), \
                    entry_page, channel, visit_share_channel \
             FROM events WHERE site_id = ? AND ts >= ? AND ts < ? AND entry AND parent_session <> 0",
            &range,
        )? {
            let (session, parent) = (col::<UInt64Array>(&b, 0)?, col::<UInt64Array>(&b, 1)?);
            let (token, generation) = (col::<UInt64Array>(&b, 2)?, col::<UInt16Array>(&b, 3)?);
            let at = col::<Int64Array>(&b, 4)?;
            let (page, channel) = (col::<StringArray>(&b, 5)?, col::<StringArray>(&b, 6)?);
            let via = col::<StringArray>(&b, 7)?;
            edges.reserve(b.num_rows());
            for i in 0..b.num_rows() {
                edges.push(EdgeRow {
                    session: session.value(i),
                    parent_session: parent.value(i),
                    parent_token: token.value(i),
                    generation: generation.value(i),
                    ts: utc(at.value(i)),
                    landing_page: text(page, i),
                    channel: text(channel, i),
                    share_channel: text(via, i),
                });
            }
        }
        let public = rows(
            conn,
            "SELECT entry_page, count(*)::BIGINT FROM events \
             WHERE site_id = ? AND ts >= ? AND ts < ? AND entry \
               AND channel_group = 'public-social' AND parent_session = 0 GROUP BY entry_page",
            &range,
            |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64)),
        )?;
        Ok((edges, public))
    };
    type Rest = (Vec<VisitRow>, Vec<ShareRow>);
    let rest_of = |conn: &Connection| -> Result<Rest, StoreError> {
        let lookback = q.from - chrono::Duration::days(ROOT_LOOKBACK_DAYS);
        let mut visits = Vec::new();
        for b in batches(
            conn,
            "SELECT session_id, epoch_us(ts), entry_page, channel, generation FROM events \
             WHERE site_id = ? AND ts >= ? AND ts < ? AND entry AND session_id IN ( \
                 SELECT parent_session FROM events \
                 WHERE site_id = ? AND ts >= ? AND ts < ? AND entry AND parent_session <> 0)",
            &[
                Value::UInt(q.site_id),
                ts(lookback),
                ts(q.to),
                range[0].clone(),
                range[1].clone(),
                range[2].clone(),
            ],
        )? {
            let (session, at) = (col::<UInt64Array>(&b, 0)?, col::<Int64Array>(&b, 1)?);
            let (page, channel) = (col::<StringArray>(&b, 2)?, col::<StringArray>(&b, 3)?);
            let generation = col::<UInt16Array>(&b, 4)?;
            visits.reserve(b.num_rows());
            for i in 0..b.num_rows() {
                visits.push(VisitRow {
                    session: session.value(i),
                    ts: utc(at.value(i)),
                    entry_page: text(page, i),
                    channel: text(channel, i),
                    generation: generation.value(i),
                });
            }
        }
        let mut shares = Vec::new();
        for b in batches(
            conn,
            "SELECT session_id, token, share_channel, pathname, epoch_us(ts) FROM events \
             WHERE site_id = ? AND ts >= ? AND ts < ? AND name IN ('share', 'copy') AND token <> 0",
            &range,
        )? {
            let (session, token) = (col::<UInt64Array>(&b, 0)?, col::<UInt64Array>(&b, 1)?);
            let (channel, page) = (col::<StringArray>(&b, 2)?, col::<StringArray>(&b, 3)?);
            let at = col::<Int64Array>(&b, 4)?;
            shares.reserve(b.num_rows());
            for i in 0..b.num_rows() {
                shares.push(ShareRow {
                    session: session.value(i),
                    token: token.value(i),
                    share_channel: text(channel, i),
                    page: text(page, i),
                    ts: utc(at.value(i)),
                });
            }
        }
        Ok((visits, shares))
    };

    // The edges (and public visits) on this connection while the parents' visits and the
    // share events are read on a second one: each query spends much of its time turning
    // rows into Arrow and Rust values on one thread.
    let second = conn.try_clone().map_err(StoreError::backend)?;
    let ((edges, public_visits_without_token), (visits, shares)) = std::thread::scope(|s| {
        let rest = s.spawn(move || rest_of(&second));
        let edges = edges_of(conn);
        let rest = rest
            .join()
            .map_err(|_| StoreError::backend("share graph: reader thread panicked"))?;
        Ok::<_, StoreError>((edges?, rest?))
    })?;
    Ok(ShareGraph {
        edges,
        visits,
        shares,
        public_visits_without_token,
    })
}
