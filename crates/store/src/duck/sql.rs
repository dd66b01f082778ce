//! Report SQL for DuckDB. User-supplied values only ever travel as bound parameters.
//!
//! Two queries per report: the event-level one (visitors, visits, pageviews, events,
//! dark visits) and, when bounce rate or visit duration is asked for, a visit-level one
//! (per-visit pageviews and duration). Their rows are joined by group key in Rust.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use duckdb::types::{TimeUnit, Value};
use duckdb::{params_from_iter, Connection};
use lucarne_core::cascade::{EdgeRow, ShareRow, VisitRow};
use lucarne_core::stats::{Aggregates, Bucket, Filter, Property, ReportQuery};
use lucarne_core::token::{NodeKind, TokenNode};

use crate::events::{
    merge_sessions, ConversionGroup, ConversionRow, GoalCounts, ShareGraph, StoreError,
    SurveyAnswerRow, VisitKey,
};
use lucarne_core::conversions::GoalKind;

/// The SQL expression of a property.
fn column(p: &Property, params: &mut Vec<Value>) -> String {
    match p {
        Property::Page => "pathname".into(),
        Property::EntryPage => "entry_page".into(),
        Property::Name => "name".into(),
        Property::Hostname => "hostname".into(),
        Property::Source => "source".into(),
        Property::Referrer => "referrer".into(),
        Property::UtmSource => "utm_source".into(),
        Property::UtmMedium => "utm_medium".into(),
        Property::UtmCampaign => "utm_campaign".into(),
        Property::UtmTerm => "utm_term".into(),
        Property::UtmContent => "utm_content".into(),
        Property::Device => "device".into(),
        Property::Browser => "browser".into(),
        Property::Os => "os".into(),
        Property::Country => "country".into(),
        Property::Channel => "channel".into(),
        Property::ChannelGroup => "channel_group".into(),
        Property::Evidence => "evidence".into(),
        Property::Generation => "generation".into(),
        Property::VisitShareChannel => "visit_share_channel".into(),
        Property::TokenStatus => "token_status".into(),
        Property::ShareChannel => "share_channel".into(),
        // The link a visit came through: its click/scan/preview events are not the visit.
        Property::Link => {
            "CASE WHEN link_id <> 0 AND name NOT IN ('link_click', 'link_scan', 'preview') \
             THEN CAST(link_id AS VARCHAR) ELSE '' END"
                .into()
        }
        Property::EventLink => {
            "CASE WHEN link_id <> 0 AND name IN ('link_click', 'link_scan', 'preview') \
             THEN CAST(link_id AS VARCHAR) ELSE '' END"
                .into()
        }
        Property::Prop(key) => {
            params.push(Value::Text(key.clone()));
            "coalesce(str_split(prop_values, chr(31))[list_position(str_split(prop_keys, chr(31)), ?)], '(none)')"
                .into()
        }
    }
}

fn ts(t: DateTime<Utc>) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros())
}

fn like_pattern(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' | '%' | '_' => {
                out.push('\\');
                out.push(c);
            }
            '*' => out.push('%'),
            c => out.push(c),
        }
    }
    out
}

fn filter_sql(f: &Filter, params: &mut Vec<Value>) -> String {
    let mut alts = Vec::new();
    for v in &f.values {
        let col = column(&f.property, params);
        if v.contains('*') {
            params.push(Value::Text(like_pattern(v)));
            alts.push(format!("{col} LIKE ? ESCAPE '\\'"));
        } else {
            params.push(Value::Text(v.clone()));
            alts.push(format!("{col} = ?"));
        }
    }
    let any = format!("({})", alts.join(" OR "));
    if f.negated {
        format!("NOT {any}")
    } else {
        any
    }
}

/// `WHERE` for site + range, optionally with the query's filters.
fn where_clause(q: &ReportQuery, with_filters: bool, params: &mut Vec<Value>) -> String {
    params.push(Value::UInt(q.site_id));
    params.push(ts(q.from));
    params.push(ts(q.to));
    let mut w = String::from("site_id = ? AND ts >= ? AND ts < ?");
    if with_filters {
        for f in &q.filters {
            w.push_str(" AND ");
            w.push_str(&filter_sql(f, params));
        }
    }
    w
}

/// A balanced `CASE` tree mapping `ts` to its bucket index (log2(n) comparisons a row).
fn bucket_expr(buckets: &[Bucket], col: &str) -> String {
    fn tree(b: &[Bucket], offset: usize, col: &str) -> String {
        if b.len() <= 1 {
            return offset.to_string();
        }
        let mid = b.len() / 2;
        format!(
            "CASE WHEN {col} < TIMESTAMP '{}' THEN {} ELSE {} END",
            b[mid].start.format("%Y-%m-%d %H:%M:%S%.6f"),
            tree(&b[..mid], offset, col),
            tree(&b[mid..], offset + mid, col)
        )
    }
    tree(buckets, 0, col)
}

/// Visit-level numbers per time bucket, each visit counted in the bucket where it
/// started (its pageviews and duration are the whole visit's, within the range).
fn visits_by_start(
    conn: &Connection,
    q: &ReportQuery,
    buckets: &[Bucket],
) -> Result<HashMap<String, (u64, u64, f64)>, StoreError> {
    let mut params = Vec::new();
    let inner = if q.has_event_filters() {
        let w_all = where_clause(q, false, &mut params);
        let mut p2 = Vec::new();
        let w_f = where_clause(q, true, &mut p2);
        params.extend(p2);
        format!("{w_all} AND session_id IN (SELECT session_id FROM events WHERE {w_f})")
    } else {
        where_clause(q, true, &mut params)
    };
    let inner = format!("{inner} AND NOT server_side");
    let g = bucket_expr(buckets, "t0");
    let sql = format!(
        "SELECT CAST({g} AS VARCHAR) AS g, count(*)::BIGINT, (count(*) FILTER (WHERE pv <= 1))::BIGINT,
                coalesce(sum(dur), 0)::DOUBLE
         FROM (SELECT session_id, min(ts) AS t0, count(*) FILTER (WHERE name = 'pageview') AS pv,
                      (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur
               FROM events WHERE {inner} GROUP BY session_id)
         GROUP BY g"
    );
    visit_rows(conn, &sql, params)
}

const PRIVATE_GROUPS: &str = "('private-message', 'email')";

/// Event-level aggregates, grouped by `group` (an SQL expression) if given.
/// Events that are not part of a visit: short-link clicks and scans and link-preview
/// fetches. They count as events, but not as visitors or visits, unless the query asks
/// for them by name or link (then their clickers are the visitors asked about).
const NOT_VISIT_EVENTS: &str = "('link_click', 'link_scan', 'preview')";

fn asks_for_link_events(q: &ReportQuery) -> bool {
    q.filters
        .iter()
        .any(|f| !f.negated && matches!(f.property, Property::Name | Property::EventLink))
}

/// `AND …` excluding the events of [`NOT_VISIT_EVENTS`], unless the query asks for them.
fn visit_events_only(q: &ReportQuery) -> String {
    if asks_for_link_events(q) {
        String::new()
    } else {
        format!(" AND name NOT IN {NOT_VISIT_EVENTS}")
    }
}

/// Like [`visit_events_only`], and without server-side conversions: a purchase reported
/// days later is not part of its visit's pageviews, duration or bounce.
fn session_events_only(q: &ReportQuery) -> String {
    format!("{} AND NOT server_side", visit_events_only(q))
}

fn event_level(
    conn: &Connection,
    q: &ReportQuery,
    group: Option<(&str, Vec<Value>)>,
) -> Result<Vec<(String, Aggregates)>, StoreError> {
    let distinct_visits = q.has_event_filters();
    let only = visit_events_only(q);
    let visits = if distinct_visits {
        format!("approx_count_distinct(session_id) FILTER (WHERE true{only})")
    } else {
        "count(*) FILTER (WHERE entry)".to_string()
    };
    let visitors = format!("approx_count_distinct(visitor_id) FILTER (WHERE true{only})");
    let dark = |cond: &str| {
        if distinct_visits {
            format!("approx_count_distinct(session_id) FILTER (WHERE {cond}{only})")
        } else {
            format!("count(*) FILTER (WHERE entry AND {cond})")
        }
    };
    let mut params = Vec::new();
    let (gsel, gby) = match &group {
        Some((g, gp)) => {
            params.extend(gp.iter().cloned());
            (
                format!("CAST({g} AS VARCHAR) AS g,"),
                " GROUP BY g".to_string(),
            )
        }
        None => ("'' AS g,".to_string(), String::new()),
    };
    let w = where_clause(q, true, &mut params);
    // Share-graph aggregates (core::stats::Aggregates), or zeros. A share-visit's own
    // address-bar token counts as a share once it brought a visit: the entry rows of
    // generation >= 2 name those tokens and their (share-visit) owners.
    let shares = if q.with_shares {
        "(count(*) FILTER (WHERE name IN ('share', 'copy')))::BIGINT,
         (count(DISTINCT parent_token) FILTER (WHERE entry AND visit_share_channel = 'address-bar'))::BIGINT,
         (count(*) FILTER (WHERE entry AND generation > 0))::BIGINT,
         ((count(*) FILTER (WHERE name IN ('share', 'copy') AND generation > 0))
           + (count(DISTINCT parent_token) FILTER (WHERE entry AND generation >= 2 AND visit_share_channel = 'address-bar')))::BIGINT,
         (count(DISTINCT CASE WHEN name IN ('share', 'copy') AND generation > 0 THEN session_id
                              WHEN entry AND generation >= 2 THEN parent_session END))::BIGINT"
    } else {
        "0::BIGINT, 0::BIGINT, 0::BIGINT, 0::BIGINT, 0::BIGINT"
    };
    let sql = format!(
        "SELECT {gsel}
            ({visitors})::BIGINT,
            ({visits})::BIGINT,
            (count(*) FILTER (WHERE name = 'pageview'))::BIGINT,
            count(*)::BIGINT,
            ({ident})::BIGINT,
            ({est})::BIGINT,
            {shares}
         FROM events WHERE {w}{gby}",
        ident = dark(&format!("channel_group IN {PRIVATE_GROUPS}")),
        est = dark("channel_group = 'estimated-dark'"),
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| {
            let g: Option<String> = r.get(0)?;
            Ok((
                g.unwrap_or_default(),
                Aggregates {
                    visitors: r.get::<_, i64>(1)? as u64,
                    visits: r.get::<_, i64>(2)? as u64,
                    pageviews: r.get::<_, i64>(3)? as u64,
                    events: r.get::<_, i64>(4)? as u64,
                    visits_identified_dark: r.get::<_, i64>(5)? as u64,
                    visits_estimated_dark: r.get::<_, i64>(6)? as u64,
                    share_events: r.get::<_, i64>(7)? as u64,
                    address_bar_shares: r.get::<_, i64>(8)? as u64,
                    share_visits: r.get::<_, i64>(9)? as u64,
                    shares_by_share_visits: r.get::<_, i64>(10)? as u64,
                    resharing_visits: r.get::<_, i64>(11)? as u64,
                    ..Aggregates::default()
                },
            ))
        })
        .map_err(StoreError::backend)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(row.map_err(StoreError::backend)?);
    }
    Ok(out)
}

/// Run a visit-level query whose rows are (group, visits, bounces, duration seconds).
fn visit_rows(
    conn: &Connection,
    sql: &str,
    params: Vec<Value>,
) -> Result<HashMap<String, (u64, u64, f64)>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| {
            let g: Option<String> = r.get(0)?;
            Ok((
                g.unwrap_or_default(),
                (
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                    r.get::<_, f64>(3)?,
                ),
            ))
        })
        .map_err(StoreError::backend)?;
    let mut out = HashMap::new();
    for row in rows {
        let (k, v) = row.map_err(StoreError::backend)?;
        out.insert(k, v);
    }
    Ok(out)
}

/// Visit-level numbers (visits, bounces, duration) per group key.
///
/// A visit's pageviews and duration always count all of its events in the range; event
/// filters and event-level groupings only decide *which* visits (and groups) it joins.
fn visit_level(
    conn: &Connection,
    q: &ReportQuery,
    group: Option<(&str, Vec<Value>)>,
    group_is_event_level: bool,
) -> Result<HashMap<String, (u64, u64, f64)>, StoreError> {
    let mut params = Vec::new();
    let (g, gp) = match &group {
        Some((g, gp)) => (format!("CAST({g} AS VARCHAR)"), gp.clone()),
        None => ("''".to_string(), Vec::new()),
    };
    let only = session_events_only(q);
    let sql = if q.has_event_filters() || group_is_event_level {
        let w_all = where_clause(q, false, &mut params);
        params.extend(gp);
        let mut p2 = Vec::new();
        let w_f = where_clause(q, true, &mut p2);
        params.extend(p2);
        format!(
            "WITH s AS (
                SELECT session_id, count(*) FILTER (WHERE name = 'pageview') AS pv,
                       (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur
                FROM events WHERE {w_all}{only} GROUP BY session_id),
             m AS (SELECT DISTINCT {g} AS g, session_id FROM events WHERE {w_f}{only})
             SELECT m.g, count(*)::BIGINT, (count(*) FILTER (WHERE s.pv <= 1))::BIGINT, coalesce(sum(s.dur), 0)::DOUBLE
             FROM m JOIN s USING (session_id) GROUP BY m.g"
        )
    } else {
        params.extend(gp);
        let w = where_clause(q, true, &mut params);
        format!(
            "SELECT g, count(*)::BIGINT, (count(*) FILTER (WHERE pv <= 1))::BIGINT, coalesce(sum(dur), 0)::DOUBLE FROM (
                SELECT {g} AS g, session_id, count(*) FILTER (WHERE name = 'pageview') AS pv,
                       (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur
                FROM events WHERE {w}{only} GROUP BY g, session_id) GROUP BY g"
        )
    };
    visit_rows(conn, &sql, params)
}

pub fn aggregate(conn: &Connection, q: &ReportQuery) -> Result<Aggregates, StoreError> {
    let mut rows = event_level(conn, q, None)?;
    if q.with_sessions {
        let s = visit_level(conn, q, None, false)?;
        merge_sessions(&mut rows, &s);
    }
    Ok(rows.into_iter().next().map(|(_, a)| a).unwrap_or_default())
}

pub fn timeseries(
    conn: &Connection,
    q: &ReportQuery,
    buckets: &[Bucket],
) -> Result<Vec<Aggregates>, StoreError> {
    if buckets.is_empty() {
        return Ok(Vec::new());
    }
    let expr = bucket_expr(buckets, "ts");
    let mut rows = event_level(conn, q, Some((&expr, Vec::new())))?;
    if q.with_sessions {
        let s = visits_by_start(conn, q, buckets)?;
        merge_sessions(&mut rows, &s);
    }
    let mut out = vec![Aggregates::default(); buckets.len()];
    for (k, a) in rows {
        if let Ok(i) = k.parse::<usize>() {
            if let Some(slot) = out.get_mut(i) {
                *slot = a;
            }
        }
    }
    Ok(out)
}

pub fn breakdown(
    conn: &Connection,
    q: &ReportQuery,
    property: &Property,
    limit: usize,
    offset: usize,
) -> Result<Vec<(String, Aggregates)>, StoreError> {
    let mut gp = Vec::new();
    let col = column(property, &mut gp);
    let mut rows = event_level(conn, q, Some((&col, gp.clone())))?;
    rows.sort_by(|a, b| {
        b.1.visitors
            .cmp(&a.1.visitors)
            .then(b.1.pageviews.cmp(&a.1.pageviews))
            .then(b.1.events.cmp(&a.1.events))
            .then(a.0.cmp(&b.0))
    });
    let mut rows: Vec<_> = rows.into_iter().skip(offset).take(limit).collect();
    if q.with_sessions && !rows.is_empty() {
        let s = visit_level(conn, q, Some((&col, gp)), property.is_event_level())?;
        merge_sessions(&mut rows, &s);
    }
    Ok(rows)
}

/// The event that minted `token`: its site, kind (from its name), visit, visitor, the
/// visit's generation and the share button.
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

/// The SQL condition of a goal (`core::conversions::GoalKind::matches`).
fn goal_sql(g: &GoalKind, params: &mut Vec<Value>) -> String {
    match g {
        GoalKind::Event(name) => {
            params.push(Value::Text(name.clone()));
            "name = ?".into()
        }
        GoalKind::Page(pattern) if !pattern.contains('*') => {
            params.push(Value::Text(pattern.clone()));
            "(name = 'pageview' AND pathname = ?)".into()
        }
        GoalKind::Page(pattern) => {
            params.push(Value::Text(like_pattern(pattern)));
            "(name = 'pageview' AND pathname LIKE ? ESCAPE '\\')".into()
        }
    }
}

fn conversion_group_sql(group: &ConversionGroup, params: &mut Vec<Value>) -> String {
    match group {
        ConversionGroup::Total => "''".into(),
        ConversionGroup::Property(p) => format!("CAST({} AS VARCHAR)", column(p, params)),
        ConversionGroup::Share => {
            "CASE WHEN generation > 0 THEN CAST(parent_token AS VARCHAR) ELSE '' END".into()
        }
        ConversionGroup::ShareVisit => {
            "CASE WHEN generation > 0 THEN CAST(session_id AS VARCHAR) ELSE '' END".into()
        }
    }
}

/// Visits and goal conversions per (group, channel group): one scan for the visits, one
/// filtered scan per goal (simple conditions, so DuckDB prunes them well, unioned), one
/// for the revenue of event goals.
pub fn conversions(
    conn: &Connection,
    q: &ReportQuery,
    goals: &[GoalKind],
    group: &ConversionGroup,
) -> Result<Vec<ConversionRow>, StoreError> {
    let key = |r: &duckdb::Row<'_>| -> duckdb::Result<(String, String)> {
        Ok((
            r.get::<_, Option<String>>(0)?.unwrap_or_default(),
            r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        ))
    };
    let n = goals.len();
    let mut out: Vec<ConversionRow> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    let mut slot = |out: &mut Vec<ConversionRow>, k: (String, String)| -> usize {
        *index.entry(k.clone()).or_insert_with(|| {
            out.push(ConversionRow {
                group: k.0,
                channel_group: k.1,
                visits: 0,
                goals: vec![GoalCounts::default(); n],
            });
            out.len() - 1
        })
    };

    // Visits: entry rows only.
    let mut params = Vec::new();
    let g = conversion_group_sql(group, &mut params);
    let w = where_clause(q, true, &mut params);
    let sql = format!(
        "SELECT CAST({g} AS VARCHAR) AS g, channel_group, count(*)::BIGINT FROM events \
         WHERE {w} AND entry AND name NOT IN {NOT_VISIT_EVENTS} GROUP BY ALL"
    );
    for (k, visits) in rows(conn, &sql, &params, |r| {
        Ok((key(r)?, r.get::<_, i64>(2)? as u64))
    })? {
        let i = slot(&mut out, k);
        out[i].visits = visits;
    }
    if n == 0 {
        return Ok(out);
    }

    // Conversions: each goal's matching rows.
    let mut params = Vec::new();
    let mut parts = Vec::with_capacity(n);
    for (i, goal) in goals.iter().enumerate() {
        let g = conversion_group_sql(group, &mut params);
        let w = where_clause(q, true, &mut params);
        let c = goal_sql(goal, &mut params);
        parts.push(format!(
            "SELECT CAST({g} AS VARCHAR) AS g, channel_group, session_id, {i} AS goal \
             FROM events WHERE {w} AND {c}"
        ));
    }
    let sql = format!(
        "SELECT g, channel_group, goal, count(DISTINCT session_id)::BIGINT, count(*)::BIGINT \
         FROM ({}) GROUP BY ALL",
        parts.join(" UNION ALL ")
    );
    for (k, goal, converting, conversions) in rows(conn, &sql, &params, |r| {
        Ok((
            key(r)?,
            r.get::<_, i32>(2)?,
            r.get::<_, i64>(3)? as u64,
            r.get::<_, i64>(4)? as u64,
        ))
    })? {
        let i = slot(&mut out, k);
        if let Some(c) = usize::try_from(goal)
            .ok()
            .and_then(|g| out[i].goals.get_mut(g))
        {
            c.converting_visits = converting;
            c.conversions = conversions;
        }
    }

    // Revenue: only event goals carry it.
    let event_goals: Vec<(usize, &str)> = goals
        .iter()
        .enumerate()
        .filter_map(|(i, g)| match g {
            GoalKind::Event(n) => Some((i, n.as_str())),
            GoalKind::Page(_) => None,
        })
        .collect();
    if !event_goals.is_empty() {
        let mut params = Vec::new();
        let g = conversion_group_sql(group, &mut params);
        let w = where_clause(q, true, &mut params);
        let marks = vec!["?"; event_goals.len()].join(", ");
        params.extend(event_goals.iter().map(|(_, n)| Value::Text(n.to_string())));
        let sql = format!(
            "SELECT CAST({g} AS VARCHAR) AS g, channel_group, name, revenue_currency, \
                    sum(revenue_minor)::BIGINT \
             FROM events WHERE {w} AND name IN ({marks}) AND revenue_minor IS NOT NULL \
             GROUP BY ALL ORDER BY ALL"
        );
        for (k, name, currency, minor) in rows(conn, &sql, &params, |r| {
            Ok((
                key(r)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                r.get::<_, i64>(4)?,
            ))
        })? {
            let i = slot(&mut out, k);
            for (goal, n) in &event_goals {
                if *n == name {
                    out[i].goals[*goal].revenue.push((currency.clone(), minor));
                }
            }
        }
    }
    Ok(out)
}

const VISIT_COLUMNS: &str = "site_id, epoch_us(ts), name, visitor_id, session_id, entry, \
     hostname, pathname, entry_page, referrer, source, utm_source, utm_medium, utm_campaign, \
     utm_term, utm_content, click_id, channel, channel_group, evidence, device, browser, os, \
     country, screen_width, generation, parent_token, parent_session, visit_share_channel, \
     token_status, link_id";

/// The entry row of a visit, found by its session or by the token it arrived with.
pub fn find_visit(
    conn: &Connection,
    site_id: u32,
    key: VisitKey,
) -> Result<Option<lucarne_core::event::EventRow>, StoreError> {
    use lucarne_core::token::TokenStatus;
    use lucarne_core::{ChannelGroup, Evidence};
    let (cond, id) = match key {
        VisitKey::Session(s) => ("session_id = ?", s),
        VisitKey::ArrivedWith(t) => ("parent_token = ?", t),
    };
    let sql = format!(
        "SELECT {VISIT_COLUMNS} FROM events WHERE site_id = ? AND {cond} AND entry \
         ORDER BY ts LIMIT 1"
    );
    let found = rows(
        conn,
        &sql,
        &[Value::UInt(site_id), Value::UBigInt(id)],
        |r| {
            let group: String = r.get(18)?;
            let evidence: String = r.get(19)?;
            let status: String = r.get(29)?;
            Ok(lucarne_core::event::EventRow {
                site_id: r.get(0)?,
                ts: utc(r.get(1)?),
                name: r.get(2)?,
                visitor_id: r.get(3)?,
                session_id: r.get(4)?,
                entry: r.get(5)?,
                hostname: r.get(6)?,
                pathname: r.get(7)?,
                entry_page: r.get(8)?,
                referrer: r.get(9)?,
                source: r.get(10)?,
                utm_source: r.get(11)?,
                utm_medium: r.get(12)?,
                utm_campaign: r.get(13)?,
                utm_term: r.get(14)?,
                utm_content: r.get(15)?,
                click_id: r.get(16)?,
                channel: r.get(17)?,
                channel_group: ChannelGroup::parse(&group).unwrap_or(ChannelGroup::Direct),
                evidence: Evidence::parse(&evidence).unwrap_or(Evidence::None),
                device: r.get(20)?,
                browser: r.get(21)?,
                os: r.get(22)?,
                country: r.get(23)?,
                screen_width: r.get(24)?,
                props: Vec::new(),
                revenue: None,
                token: 0,
                generation: r.get(25)?,
                parent_token: r.get(26)?,
                parent_session: r.get(27)?,
                visit_share_channel: r.get(28)?,
                token_status: TokenStatus::parse(&status),
                share_channel: String::new(),
                link_id: r.get(30)?,
                server_side: false,
            })
        },
    )?;
    Ok(found.into_iter().next())
}

/// The first survey answer of each visit: `answer` and `text` props.
pub fn survey_answers(
    conn: &Connection,
    q: &ReportQuery,
) -> Result<Vec<SurveyAnswerRow>, StoreError> {
    use lucarne_core::{ChannelGroup, Evidence};
    let mut params = Vec::new();
    let w = where_clause(q, true, &mut params);
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
    rows(conn, &sql, &params, |r| {
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
    f: &mut dyn FnMut(Vec<lucarne_core::event::EventRow>) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    use lucarne_core::event::{EventRow, Revenue};
    use lucarne_core::token::TokenStatus;
    use lucarne_core::{ChannelGroup, Evidence};
    let sep = crate::duck::PROP_SEP;
    let mut stmt = conn
        .prepare(
            "SELECT site_id, epoch_us(ts), name, visitor_id, session_id, entry, hostname, \
                    pathname, entry_page, referrer, source, utm_source, utm_medium, \
                    utm_campaign, utm_term, utm_content, click_id, channel, channel_group, \
                    evidence, device, browser, os, country, screen_width, prop_keys, \
                    prop_values, revenue_minor, revenue_currency, token, parent_token, \
                    parent_session, generation, visit_share_channel, token_status, \
                    share_channel, link_id, server_side \
             FROM events ORDER BY ts, session_id",
        )
        .map_err(StoreError::backend)?;
    let mut rows = stmt.query([]).map_err(StoreError::backend)?;
    let mut out = Vec::with_capacity(batch);
    let mut total = 0u64;
    let err = |e: duckdb::Error| StoreError::backend(format!("export: {e}"));
    while let Some(r) = rows.next().map_err(err)? {
        let keys: String = r.get(25).map_err(err)?;
        let values: String = r.get(26).map_err(err)?;
        let props = if keys.is_empty() {
            Vec::new()
        } else {
            keys.split(sep)
                .map(str::to_string)
                .zip(values.split(sep).map(str::to_string))
                .collect()
        };
        let revenue = match (
            r.get::<_, Option<i64>>(27).map_err(err)?,
            r.get::<_, Option<String>>(28).map_err(err)?,
        ) {
            (Some(amount_minor), Some(currency)) => Some(Revenue {
                amount_minor,
                currency,
            }),
            _ => None,
        };
        let group: String = r.get(18).map_err(err)?;
        let evidence: String = r.get(19).map_err(err)?;
        let status: Option<String> = r.get(34).map_err(err)?;
        out.push(EventRow {
            site_id: r.get(0).map_err(err)?,
            ts: utc(r.get(1).map_err(err)?),
            name: r.get(2).map_err(err)?,
            visitor_id: r.get(3).map_err(err)?,
            session_id: r.get(4).map_err(err)?,
            entry: r.get(5).map_err(err)?,
            hostname: r.get(6).map_err(err)?,
            pathname: r.get(7).map_err(err)?,
            entry_page: r.get(8).map_err(err)?,
            referrer: r.get(9).map_err(err)?,
            source: r.get(10).map_err(err)?,
            utm_source: r.get(11).map_err(err)?,
            utm_medium: r.get(12).map_err(err)?,
            utm_campaign: r.get(13).map_err(err)?,
            utm_term: r.get(14).map_err(err)?,
            utm_content: r.get(15).map_err(err)?,
            click_id: r.get(16).map_err(err)?,
            channel: r.get(17).map_err(err)?,
            channel_group: ChannelGroup::parse(&group).unwrap_or(ChannelGroup::Direct),
            evidence: Evidence::parse(&evidence).unwrap_or(Evidence::None),
            device: r.get(20).map_err(err)?,
            browser: r.get(21).map_err(err)?,
            os: r.get(22).map_err(err)?,
            country: r.get(23).map_err(err)?,
            screen_width: r.get(24).map_err(err)?,
            props,
            revenue,
            token: r.get::<_, Option<u64>>(29).map_err(err)?.unwrap_or(0),
            parent_token: r.get::<_, Option<u64>>(30).map_err(err)?.unwrap_or(0),
            parent_session: r.get::<_, Option<u64>>(31).map_err(err)?.unwrap_or(0),
            generation: r.get::<_, Option<u16>>(32).map_err(err)?.unwrap_or(0),
            visit_share_channel: r
                .get::<_, Option<String>>(33)
                .map_err(err)?
                .unwrap_or_default(),
            token_status: TokenStatus::parse(status.as_deref().unwrap_or("")),
            share_channel: r
                .get::<_, Option<String>>(35)
                .map_err(err)?
                .unwrap_or_default(),
            link_id: r.get::<_, Option<u64>>(36).map_err(err)?.unwrap_or(0),
            server_side: r.get::<_, Option<bool>>(37).map_err(err)?.unwrap_or(false),
        });
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

fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// How far before the period a root visit is looked for.
const ROOT_LOOKBACK_DAYS: i64 = 30;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_escapes() {
        assert_eq!(like_pattern("/blog/*"), "/blog/%");
        assert_eq!(like_pattern("a_b%c"), "a\\_b\\%c");
    }
}
