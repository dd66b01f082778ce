//! Report SQL for ClickHouse: the same questions as `duck::sql`, answered the same way
//! (what is the same on every back end is composed in `crate::report`).
//!
//! ClickHouse 18.16 has no server-side query parameters, so values are written into the
//! SQL as literals, always through [`lit`] (strings) or as Rust integers. Every result
//! column is cast to the exact type its Rust field reads (RowBinary is positional and
//! unchecked without validation).
//!
//! Differences from DuckDB's SQL, none visible in the answers:
//! - `FILTER (WHERE …)` → `-If` combinators; `approx_count_distinct` → `uniq` (both
//!   estimates; `uniq` is exact below ~65,000 distinct values); exact distinct counts →
//!   `uniqExact`.
//! - Times: `ts_us` (exact microseconds) in every comparison, plus the implied bounds on
//!   `ts` and `toDate(ts)` for partition and primary-key pruning.
//! - Durations are summed as integer microseconds (exact on any number of shards) and
//!   turned into seconds in Rust.
//! - Visit-level numbers under event filters: one pass grouped by visit that collects
//!   the visit's matching groups (`groupUniqArrayIf`) then `ARRAY JOIN`s them, instead of
//!   a join; correct on a `Distributed` table whatever the sharding.
//! - Relations between visits (a share graph's parents) use `GLOBAL IN`: a parent visit
//!   may live on another shard than its child.
//! - Goal conversions: one scan where each row `arrayJoin`s the goals it matches, instead
//!   of DuckDB's `UNION ALL` per goal (18.16 failed on that union grouped by `visit:link`:
//!   "Cannot convert column grp because it is non constant in source stream but must be
//!   constant in result").

use chrono::{DateTime, Utc};
use clickhouse::{Row, RowOwned, RowRead};
use lucarne_core::cascade::{EdgeRow, ShareRow, VisitRow};
use lucarne_core::conversions::GoalKind;
use lucarne_core::stats::{Aggregates, Bucket, ReportQuery};
use lucarne_core::token::{NodeKind, TokenNode};
use serde::Deserialize;

use super::Conn;
use crate::events::{
    ConversionGroup, ConversionRow, SessionTotals, ShareGraph, StoreError, SurveyAnswerRow,
    VisitKey,
};
use crate::report::{
    self, bucket_expr, conversion_group_sql, goal_sql, session_events_only, utc, visit_events_only,
    Conversions, Dialect, Group, Reports, NOT_VISIT_EVENTS, ROOT_LOOKBACK_DAYS,
};

// The reports themselves, composed from this back end's queries (`impl Reports` below).
pub(crate) use crate::report::{aggregate, breakdown, breakdown_dims, timeseries};

/// A ClickHouse string literal.
pub(crate) fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// ClickHouse's SQL: values are written as literals.
struct Literals;

impl Dialect for Literals {
    const TS: &'static str = "ts_us";
    const ENTRY: &'static str = "entry = 1";
    const TRUE: &'static str = "1";
    const NOT_SERVER_SIDE: &'static str = "server_side = 0";
    const COUNT: &'static str = "count()";
    const LIKE_ESCAPE: &'static str = "";
    const GENERATION: &'static str = "toString(generation)";
    const SHARES: &'static str = "toUInt64(countIf(name IN ('share', 'copy'))),
         toUInt64(uniqExactIf(parent_token, entry = 1 AND visit_share_channel = 'address-bar')),
         toUInt64(countIf(entry = 1 AND generation > 0)),
         toUInt64(countIf(name IN ('share', 'copy') AND generation > 0)
           + uniqExactIf(parent_token, entry = 1 AND generation >= 2 AND visit_share_channel = 'address-bar')),
         toUInt64(uniqExactIf(if(name IN ('share', 'copy') AND generation > 0, session_id, parent_session),
                  (name IN ('share', 'copy') AND generation > 0) OR (entry = 1 AND generation >= 2)))";

    fn text(&mut self, v: &str) -> String {
        lit(v)
    }

    fn range(&mut self, site_id: u32, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
        range_sql(site_id, from, to)
    }

    fn prop(&mut self, key: &str) -> String {
        prop_expr(key, "(none)")
    }

    fn time(t: DateTime<Utc>) -> String {
        t.timestamp_micros().to_string()
    }

    fn bucket_index(i: usize) -> String {
        format!("toUInt32({i})")
    }

    fn to_text(e: &str) -> String {
        format!("toString({e})")
    }

    fn if_else(c: &str, a: &str, b: &str) -> String {
        format!("if({c}, {a}, {b})")
    }

    fn count_if(c: &str) -> String {
        format!("countIf({c})")
    }

    // `uniq` keeps every value's hash up to 65,536 of them: exact while they are few.
    fn distinct_if(&self, col: &str, c: &str) -> String {
        format!("uniqIf({col}, {c})")
    }

    const KEY_SEP: &'static str = "'\\x1F'";

    fn as_count(e: &str) -> String {
        format!("toUInt64({e})")
    }

    fn regex(col: &str, pattern: &str) -> String {
        format!("match({col}, {})", lit(pattern))
    }

    fn lower(col: &str) -> String {
        format!("lowerUTF8({col})")
    }

    const TS_INT: &'static str = "ts_us";
    const TS_NONE: &'static str = "toInt64(9223372036854775807)";

    fn list_if(col: &str, c: &str) -> String {
        format!("groupArrayIf({col}, {c})")
    }

    // 18.16 has no `arrayMin`: `arrayReduce('min', …)`, whose answer for an empty array
    // (0) is never used.
    fn min_at_least(list: &str, bound: Option<&str>) -> String {
        let list = match bound {
            Some(b) => format!("arrayFilter(x -> x >= {b}, {list})"),
            None => list.to_string(),
        };
        format!(
            "if(empty({list}), {}, arrayReduce('min', {list}))",
            Self::TS_NONE
        )
    }
}

/// A property's value of a custom property `key` ('' or `missing` when absent).
fn prop_expr(key: &str, missing: &str) -> String {
    let i = format!("indexOf(splitByChar('\\x1F', prop_keys), {})", lit(key));
    format!(
        "if({i} = 0, {}, arrayElement(splitByChar('\\x1F', prop_values), {i}))",
        lit(missing)
    )
}

/// The query's filters and conditions as one condition (`1` without any).
fn filters_cond(q: &ReportQuery) -> String {
    let all = report::filter_conds(&mut Literals, q);
    if all.is_empty() {
        "1".into()
    } else {
        all.join(" AND ")
    }
}

fn date_of(secs: i64) -> String {
    DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d")
        .to_string()
}

/// The rows of a site and a time range that reports read: every event but the
/// engagement events, which live in the same table here and feed only [`engagement`]
/// (DuckDB keeps them in a table of their own).
pub(super) fn range_sql(site_id: u32, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    format!("{} AND name != 'engagement'", rows_sql(site_id, from, to))
}

/// Every row of a site and `[from, to)` (exact, on `ts_us`), with the implied second and
/// day bounds.
fn rows_sql(site_id: u32, from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    let (from_us, to_us) = (from.timestamp_micros(), to.timestamp_micros());
    let lo = from.timestamp().clamp(0, i64::from(u32::MAX));
    let hi = to.timestamp().clamp(0, i64::from(u32::MAX));
    format!(
        "site_id = {site_id} AND ts_us >= {from_us} AND ts_us < {to_us} \
         AND ts >= toDateTime({lo}) AND ts <= toDateTime({hi}) \
         AND toDate(ts) >= toDate({}) AND toDate(ts) <= toDate({})",
        lit(&date_of(lo)),
        lit(&date_of(hi))
    )
}

#[derive(Row, Deserialize)]
struct EngagementRow {
    k: String,
    visitors: u64,
    ms: u64,
    scroll_visitors: u64,
    scroll_sum: u64,
}

/// Scroll depth and time on page (`EventStore::engagement`), as on DuckDB.
pub fn engagement(
    conn: &Conn,
    q: &ReportQuery,
    by_page: bool,
) -> Result<Vec<(String, Aggregates)>, StoreError> {
    let mut w = format!(
        "{} AND name = 'engagement'",
        rows_sql(q.site_id, q.from, q.to)
    );
    for f in report::filter_conds(&mut Literals, q) {
        w.push_str(" AND ");
        w.push_str(&f);
    }
    let k = if by_page { "pathname" } else { "''" };
    let rows: Vec<EngagementRow> = fetch(
        conn,
        &format!(
            "SELECT k, toUInt64(count()) AS visitors, toUInt64(sum(ms)) AS ms, \
                    toUInt64(countIf(measured > 0)) AS scroll_visitors, \
                    toUInt64(sumIf(sd, measured > 0)) AS scroll_sum \
             FROM (SELECT {k} AS k, visitor_id, sum(engagement_ms) AS ms, \
                          maxIf(scroll_depth, scroll_depth <= 100) AS sd, \
                          countIf(scroll_depth <= 100) AS measured \
                   FROM events WHERE {w} GROUP BY k, visitor_id) \
             GROUP BY k"
        ),
    )?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.k,
                Aggregates {
                    engaged_visitors: r.visitors,
                    engaged_ms: r.ms,
                    scroll_visitors: r.scroll_visitors,
                    scroll_sum: r.scroll_sum,
                    ..Aggregates::default()
                },
            )
        })
        .collect())
}

fn where_clause(q: &ReportQuery, with_filters: bool) -> String {
    report::where_clause(&mut Literals, q, with_filters)
}

#[derive(Row, Deserialize)]
struct AggRow {
    grp: String,
    visitors: u64,
    visits: u64,
    pageviews: u64,
    events: u64,
    ident: u64,
    est: u64,
    share_events: u64,
    address_bar_shares: u64,
    share_visits: u64,
    shares_by_share_visits: u64,
    resharing_visits: u64,
}

fn fetch<T>(conn: &Conn, sql: &str) -> Result<Vec<T>, StoreError>
where
    T: RowOwned + RowRead + Send + 'static,
{
    conn.fetch(sql)
}

impl Reports for Conn {
    fn event_level(
        &self,
        q: &ReportQuery,
        group: Group<'_>,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        let rows: Vec<AggRow> = fetch(self, &report::event_level_sql(&mut Literals, q, group))?;
        let mut out: Vec<(String, Aggregates)> = rows
            .into_iter()
            .map(|r| {
                let counts = [
                    r.visitors,
                    r.visits,
                    r.pageviews,
                    r.events,
                    r.ident,
                    r.est,
                    r.share_events,
                    r.address_bar_shares,
                    r.share_visits,
                    r.shares_by_share_visits,
                    r.resharing_visits,
                ];
                (r.grp, report::aggregates(counts))
            })
            .collect();
        // `uniq` estimates past 65,536 distinct values; from EXACT_VISITORS_BELOW on,
        // as on DuckDB, an estimate is kept under its visits.
        report::cap_estimated_visitors(&mut out);
        Ok(out)
    }

    fn visit_level(&self, q: &ReportQuery, group: Group<'_>) -> Result<SessionTotals, StoreError> {
        match group {
            Group::Buckets(buckets) => visits_by_start(self, q, buckets),
            group => visit_level(self, q, group),
        }
    }
}

#[derive(Row, Deserialize)]
struct VisitAgg {
    grp: String,
    visits: u64,
    bounces: u64,
    duration_us: i64,
}

fn visit_rows(conn: &Conn, sql: &str) -> Result<SessionTotals, StoreError> {
    let rows: Vec<VisitAgg> = fetch(conn, sql)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            (
                r.grp,
                (r.visits, r.bounces, r.duration_us as f64 / 1_000_000.0),
            )
        })
        .collect())
}

/// Visit-level numbers per time bucket, each visit in the bucket where it started.
fn visits_by_start(
    conn: &Conn,
    q: &ReportQuery,
    buckets: &[Bucket],
) -> Result<SessionTotals, StoreError> {
    let g = bucket_expr::<Literals>(buckets, "t0");
    let inner = if q.has_event_filters() {
        // Visits with any row matching the filters; their non-server-side rows counted.
        format!(
            "SELECT session_id, minIf(ts_us, server_side = 0) AS t0,
                    countIf(name = 'pageview' AND server_side = 0) AS pv,
                    maxIf(ts_us, server_side = 0) - minIf(ts_us, server_side = 0) AS dur,
                    countIf(server_side = 0) AS own, max({f}) AS hit
             FROM events WHERE {w}{only} GROUP BY session_id HAVING own > 0 AND hit = 1",
            f = filters_cond(q),
            w = where_clause(q, false),
            only = visit_events_only(q),
        )
    } else {
        format!(
            "SELECT session_id, min(ts_us) AS t0, countIf(name = 'pageview') AS pv,
                    max(ts_us) - min(ts_us) AS dur
             FROM events WHERE {w}{only} GROUP BY session_id",
            w = where_clause(q, true),
            only = session_events_only::<Literals>(q),
        )
    };
    visit_rows(
        conn,
        &format!(
            "SELECT toString({g}) AS grp, toUInt64(count()), toUInt64(countIf(pv <= 1)),
                    toInt64(sum(dur))
             FROM ({inner}) GROUP BY grp"
        ),
    )
}

/// Visit-level numbers (visits, bounces, duration) per group key (`Reports::visit_level`).
fn visit_level(
    conn: &Conn,
    q: &ReportQuery,
    group: Group<'_>,
) -> Result<SessionTotals, StoreError> {
    let g = group.key(&mut Literals);
    let only = session_events_only::<Literals>(q);
    let sql = if q.has_event_filters() || group.is_event_level() {
        format!(
            "SELECT grp, toUInt64(count()), toUInt64(countIf(pv <= 1)), toInt64(sum(dur)) FROM (
                SELECT session_id, countIf(name = 'pageview') AS pv,
                       max(ts_us) - min(ts_us) AS dur,
                       groupUniqArrayIf({g}, {f}) AS gs
                FROM events WHERE {w}{only} GROUP BY session_id HAVING length(gs) > 0)
             ARRAY JOIN gs AS grp GROUP BY grp",
            f = filters_cond(q),
            w = where_clause(q, false),
        )
    } else {
        format!(
            "SELECT grp, toUInt64(count()), toUInt64(countIf(pv <= 1)), toInt64(sum(dur)) FROM (
                SELECT {g} AS grp, session_id, countIf(name = 'pageview') AS pv,
                       max(ts_us) - min(ts_us) AS dur
                FROM events WHERE {w}{only} GROUP BY grp, session_id)
             GROUP BY grp",
            w = where_clause(q, true),
        )
    };
    visit_rows(conn, &sql)
}

#[derive(Row, Deserialize)]
struct TokenRow {
    site_id: u32,
    name: String,
    session_id: u64,
    visitor_id: u64,
    generation: u16,
    share_channel: String,
    link_id: u64,
}

/// The event that minted `token`.
pub fn find_token(conn: &Conn, token: u64) -> Result<Option<TokenNode>, StoreError> {
    let rows: Vec<TokenRow> = fetch(
        conn,
        &format!(
            "SELECT site_id, name, session_id, visitor_id, generation, share_channel, link_id \
             FROM events WHERE token = {token} ORDER BY ts_us LIMIT 1"
        ),
    )?;
    Ok(rows.into_iter().next().map(|r| TokenNode {
        site_id: r.site_id,
        kind: NodeKind::of_event(&r.name),
        session_id: r.session_id,
        visitor_id: r.visitor_id,
        generation: r.generation,
        share_channel: r.share_channel,
        link_id: r.link_id,
    }))
}

#[derive(Row, Deserialize)]
struct GroupVisits {
    grp: String,
    channel_group: String,
    visits: u64,
}

#[derive(Row, Deserialize)]
struct GoalRow {
    grp: String,
    channel_group: String,
    goal: u32,
    converting: u64,
    conversions: u64,
}

#[derive(Row, Deserialize)]
struct RevenueRow {
    grp: String,
    channel_group: String,
    name: String,
    currency: String,
    minor: i64,
}

/// Visits and goal conversions per (group, channel group).
///
/// `visits`, when given, are the visits per (group, channel group) already counted (from
/// rollups), instead of the first scan.
pub fn conversions(
    conn: &Conn,
    q: &ReportQuery,
    goals: &[GoalKind],
    group: &ConversionGroup,
    visits: Option<crate::rollups::GroupVisits>,
) -> Result<Vec<ConversionRow>, StoreError> {
    let mut out = Conversions::new(goals);
    let g = conversion_group_sql(&mut Literals, group);
    let w = where_clause(q, true);

    match visits {
        Some(v) => {
            for (g, cg, n) in v {
                out.visits(g, cg, n);
            }
        }
        None => {
            let visits: Vec<GroupVisits> = fetch(
                conn,
                &format!(
                    "SELECT {g} AS grp, channel_group, toUInt64(count()) FROM events \
                     WHERE {w} AND entry = 1 AND name NOT IN {NOT_VISIT_EVENTS} GROUP BY grp, channel_group"
                ),
            )?;
            for r in visits {
                out.visits(r.grp, r.channel_group, r.visits);
            }
        }
    }
    if goals.is_empty() {
        return Ok(out.into_rows());
    }

    // One scan: each row joins the goals it matches (arrayJoin), counted per goal.
    let conds: Vec<String> = goals.iter().map(|g| goal_sql(&mut Literals, g)).collect();
    let marks: Vec<String> = conds
        .iter()
        .enumerate()
        .map(|(i, c)| format!("if({c}, toInt32({i}), toInt32(-1))"))
        .collect();
    let goal_rows: Vec<GoalRow> = fetch(
        conn,
        &format!(
            "SELECT {g} AS grp, channel_group,                     toUInt32(arrayJoin(arrayFilter(x -> x >= 0, [{marks}]))) AS goal,                     toUInt64(uniqExact(session_id)), toUInt64(count())              FROM events WHERE {w} AND ({any}) GROUP BY grp, channel_group, goal",
            marks = marks.join(", "),
            any = conds.join(" OR "),
        ),
    )?;
    for r in goal_rows {
        out.goal(
            r.grp,
            r.channel_group,
            r.goal.into(),
            r.converting,
            r.conversions,
        );
    }

    // Revenue: only event goals carry it.
    let names = out.revenue_events();
    if !names.is_empty() {
        let names: Vec<String> = names.iter().map(|n| lit(n)).collect();
        let revenue: Vec<RevenueRow> = fetch(
            conn,
            &format!(
                "SELECT {g} AS grp, channel_group, name, ifNull(revenue_currency, '') AS currency, \
                        toInt64(sum(assumeNotNull(revenue_minor))) \
                 FROM events WHERE {w} AND name IN ({}) AND isNotNull(revenue_minor) \
                 GROUP BY grp, channel_group, name, currency \
                 ORDER BY grp, channel_group, name, currency",
                names.join(", ")
            ),
        )?;
        for r in revenue {
            out.revenue(r.grp, r.channel_group, &r.name, &r.currency, r.minor);
        }
    }
    Ok(out.into_rows())
}

#[derive(Row, Deserialize)]
struct FunnelCount {
    grp: String,
    furthest: u64,
    visits: u64,
}

/// How far each visit went through a funnel's steps (`report::funnel_sql`).
pub fn funnel(
    conn: &Conn,
    q: &ReportQuery,
    steps: &[lucarne_core::funnel::FunnelStep],
    group: crate::events::FunnelGroup,
) -> Result<Vec<crate::events::FunnelRow>, StoreError> {
    let sql = report::funnel_sql(&mut Literals, q, steps, group);
    let counted: Vec<FunnelCount> = fetch(conn, &sql)?;
    Ok(report::funnel_rows(
        steps.len(),
        group,
        counted
            .into_iter()
            .map(|c| (c.grp, c.furthest, c.visits))
            .collect(),
    ))
}

/// The events matching any goal, oldest first (`report::goal_events_sql`).
pub fn goal_events(
    conn: &Conn,
    q: &ReportQuery,
    goals: &[GoalKind],
    limit: usize,
) -> Result<Vec<lucarne_core::event::EventRow>, StoreError> {
    let columns = super::rowbinary::select_columns();
    let Some(sql) = report::goal_events_sql(&mut Literals, q, goals, limit, &columns, "ts_us")
    else {
        return Ok(Vec::new());
    };
    let bytes = conn.fetch_bytes(&sql)?;
    super::rowbinary::decode_rows(&bytes)
        .ok_or_else(|| StoreError::backend("clickhouse: unreadable goal event rows"))
}

/// The entry row of a visit, found by its session or by the token it arrived with.
pub fn find_visit(
    conn: &Conn,
    site_id: u32,
    key: VisitKey,
) -> Result<Option<lucarne_core::event::EventRow>, StoreError> {
    let cond = match key {
        VisitKey::Session(s) => format!("session_id = {s}"),
        VisitKey::ArrivedWith(t) => format!("parent_token = {t}"),
    };
    let bytes = conn.fetch_bytes(&format!(
        "SELECT {} FROM events WHERE site_id = {site_id} AND {cond} AND entry = 1 \
         ORDER BY ts_us LIMIT 1",
        super::rowbinary::select_columns()
    ))?;
    let rows = super::rowbinary::decode_rows(&bytes)
        .ok_or_else(|| StoreError::backend("clickhouse: unreadable visit row"))?;
    Ok(rows.into_iter().next())
}

#[derive(Row, Deserialize)]
struct SurveyRow {
    answer: String,
    text: String,
    channel: String,
    channel_group: String,
    evidence: String,
}

/// The first survey answer of each visit.
pub fn survey_answers(conn: &Conn, q: &ReportQuery) -> Result<Vec<SurveyAnswerRow>, StoreError> {
    use lucarne_core::{ChannelGroup, Evidence};
    let rows: Vec<SurveyRow> = fetch(
        conn,
        &format!(
            "SELECT argMin({a}, ts_us), argMin({t}, ts_us), any(channel), any(channel_group), \
                    any(evidence) \
             FROM events WHERE name = 'survey' AND {w} GROUP BY session_id",
            a = prop_expr("answer", ""),
            t = prop_expr("text", ""),
            w = where_clause(q, true),
        ),
    )?;
    Ok(rows
        .into_iter()
        .map(|r| SurveyAnswerRow {
            answer: r.answer,
            text: r.text,
            channel: r.channel,
            channel_group: ChannelGroup::parse(&r.channel_group).unwrap_or(ChannelGroup::Direct),
            evidence: Evidence::parse(&r.evidence).unwrap_or(Evidence::None),
        })
        .collect())
}

#[derive(Row, Deserialize)]
struct EdgeCols {
    session: u64,
    parent_session: u64,
    parent_token: u64,
    generation: u16,
    ts_us: i64,
    landing_page: String,
    channel: String,
    share_channel: String,
}

#[derive(Row, Deserialize)]
struct VisitCols {
    session: u64,
    ts_us: i64,
    entry_page: String,
    channel: String,
    generation: u16,
}

#[derive(Row, Deserialize)]
struct ShareCols {
    session: u64,
    token: u64,
    share_channel: String,
    page: String,
    ts_us: i64,
}

pub fn share_graph(conn: &Conn, q: &ReportQuery) -> Result<ShareGraph, StoreError> {
    let range = range_sql(q.site_id, q.from, q.to);
    let edges: Vec<EdgeCols> = fetch(
        conn,
        &format!(
            "SELECT session_id, parent_session, parent_token, generation, ts_us, \
                    entry_page, channel, visit_share_channel \
             FROM events WHERE {range} AND entry = 1 AND parent_session != 0"
        ),
    )?;
    let public: Vec<(String, u64)> = fetch(
        conn,
        &format!(
            "SELECT entry_page, toUInt64(count()) FROM events \
             WHERE {range} AND entry = 1 AND channel_group = 'public-social' \
               AND parent_session = 0 GROUP BY entry_page"
        ),
    )?;
    let lookback = q.from - chrono::Duration::days(ROOT_LOOKBACK_DAYS);
    let visits: Vec<VisitCols> = fetch(
        conn,
        &format!(
            "SELECT session_id, ts_us, entry_page, channel, generation FROM events \
             WHERE {wide} AND entry = 1 AND session_id GLOBAL IN ( \
                 SELECT parent_session FROM events \
                 WHERE {range} AND entry = 1 AND parent_session != 0)",
            wide = range_sql(q.site_id, lookback, q.to),
        ),
    )?;
    let shares: Vec<ShareCols> = fetch(
        conn,
        &format!(
            "SELECT session_id, token, share_channel, pathname, ts_us FROM events \
             WHERE {range} AND name IN ('share', 'copy') AND token != 0"
        ),
    )?;
    Ok(ShareGraph {
        edges: edges
            .into_iter()
            .map(|e| EdgeRow {
                session: e.session,
                parent_session: e.parent_session,
                parent_token: e.parent_token,
                generation: e.generation,
                ts: utc(e.ts_us),
                landing_page: e.landing_page,
                channel: e.channel,
                share_channel: e.share_channel,
            })
            .collect(),
        visits: visits
            .into_iter()
            .map(|v| VisitRow {
                session: v.session,
                ts: utc(v.ts_us),
                entry_page: v.entry_page,
                channel: v.channel,
                generation: v.generation,
            })
            .collect(),
        shares: shares
            .into_iter()
            .map(|s| ShareRow {
                session: s.session,
                token: s.token,
                share_channel: s.share_channel,
                page: s.page,
                ts: utc(s.ts_us),
            })
            .collect(),
        public_visits_without_token: public,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals() {
        assert_eq!(lit("a'b\\c"), "'a\\'b\\\\c'");
    }
}
