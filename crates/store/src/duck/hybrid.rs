//! Reports from rollups and raw events together (ARCHITECTURE.md, "Reports at publisher
//! scale"): the closed, clean local days at the start of a range come from `rollups`, the
//! rest (today, days still dirty) from raw events, and the two are added per value.
//!
//! A query takes this path when every part of it can be answered exactly that way
//! (`Shape::of`): no share-graph numbers, at most one filter (one value of a rolled-up
//! visit dimension, then the totals are that dimension's row and a breakdown is read from
//! a pair), a rolled-up grouping, and a range starting on a local midnight of the zone the
//! days were rolled up in. Anything else, or `LUCARNE_ROLLUPS=off`, reads raw events.
//!
//! Visitors stay exact across the seam: a visitor id lives for one UTC day (and the visit
//! carried past its midnight), so the raw part counts only the ids it does not share with
//! the rows of the rolled part since the start of the UTC day before the seam.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use duckdb::types::Value;
use duckdb::{params_from_iter, Connection};
use lucarne_core::stats::{Aggregates, Bucket, Property, ReportQuery};

use super::rollup::{
    self, column_of, date_value, day_start, epoch_day, local_midnight, pair_dim, ts,
    CLOSE_AFTER_MINUTES, PAIRS,
};
use crate::events::StoreError;
use crate::report::NOT_VISIT_EVENTS;

/// What a query asks of the rollups.
#[derive(Debug, Clone)]
pub(super) struct Shape {
    /// The rollup dimension read ('' for the totals, or a pair).
    dim: String,
    /// For a pair: the filtered dimension's value, and whether it is the pair's second.
    within: Option<(String, bool)>,
    /// For the totals of one filtered dimension: the row that is the answer.
    pick: Option<String>,
    /// For a breakdown filtered by one of its own values: the only row kept.
    keep: Option<String>,
    /// The column a row of the raw part is keyed by (None: the totals).
    key: Option<&'static str>,
    /// The filter, for the raw part: (column, value).
    filter: Option<(&'static str, String)>,
    with_sessions: bool,
}

impl Shape {
    /// The shape of `q` grouped by `group` (None: the totals), if rollups can answer it.
    pub(super) fn of(q: &ReportQuery, group: Option<&Property>) -> Option<Shape> {
        // The same filter given twice (the overview's private apps, on a view filtered
        // by private messages) is one filter.
        let mut filters = q.filters.clone();
        filters.dedup_by(|a, b| {
            a.property == b.property && a.negated == b.negated && a.values == b.values
        });
        let by = group.map(|p| p.name());
        // A filter on the grouping itself keeps one of its rows (the channel groups, or
        // the overview's split of `Direct / None`, on a view filtered by a channel group).
        let mut keep = None;
        let own = filters.iter().position(|f| {
            Some(f.property.name()) == by
                && !f.negated
                && f.values.len() == 1
                && !f.values[0].contains('*')
        });
        if let Some(own) = own {
            keep = Some(filters.remove(own).values.remove(0));
        }
        if q.with_shares || filters.len() > 1 {
            return None;
        }
        let key = match group {
            None => None,
            Some(p) => Some(column_of(&p.name())?),
        };
        if q.with_sessions && by.as_deref().is_some_and(|n| !n.starts_with("visit:")) {
            return None;
        }
        let Some(f) = filters.first() else {
            return Some(Shape {
                dim: by.unwrap_or_default(),
                within: None,
                pick: None,
                keep,
                key,
                filter: None,
                with_sessions: q.with_sessions,
            });
        };
        let fname = f.property.name();
        let [value] = f.values.as_slice() else {
            return None;
        };
        if f.negated || value.contains('*') || !fname.starts_with("visit:") {
            return None;
        }
        let fcol = column_of(&fname)?;
        let filter = Some((fcol, value.clone()));
        match by {
            None => Some(Shape {
                dim: fname,
                within: None,
                pick: Some(value.clone()),
                keep,
                key: None,
                filter,
                with_sessions: q.with_sessions,
            }),
            Some(b) => {
                // The pair is stored either way round.
                let (dim, second) = PAIRS.iter().find_map(|(x, y)| {
                    if *x == fname && *y == b {
                        Some((pair_dim(x, y), false))
                    } else if *x == b && *y == fname {
                        Some((pair_dim(x, y), true))
                    } else {
                        None
                    }
                })?;
                Some(Shape {
                    dim,
                    within: Some((value.clone(), second)),
                    pick: None,
                    keep,
                    key,
                    filter,
                    with_sessions: q.with_sessions,
                })
            }
        }
    }
}

/// The part of a range rollups answer: local days `first..=last` of `tz`; raw events
/// answer `[tail, to)`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Plan {
    tz: Tz,
    first: NaiveDate,
    last: NaiveDate,
    tail: DateTime<Utc>,
}

impl Plan {
    /// The first and last local day read from rollups.
    pub(super) fn days(&self) -> (NaiveDate, NaiveDate) {
        (self.first, self.last)
    }
}

/// The state of a site's UTC days between `d0` and `d1`: which are built (in which zone)
/// and clean, which hold rows not rolled up yet.
struct Days {
    built: HashMap<NaiveDate, (String, bool)>,
    marked: HashMap<NaiveDate, i64>,
}

impl Days {
    fn read(
        conn: &Connection,
        site_id: u32,
        d0: NaiveDate,
        d1: NaiveDate,
    ) -> Result<Days, StoreError> {
        let site = Value::UInt(site_id);
        let mut marked = HashMap::new();
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
                        date_value(d0 - Duration::days(1)),
                        date_value(d1),
                    ]),
                    |r| Ok((epoch_day(r.get::<_, i64>(0)?), r.get::<_, i64>(1)?)),
                )
                .map_err(StoreError::backend)?;
            for r in rows {
                let (d, seq) = r.map_err(StoreError::backend)?;
                marked.insert(d, seq);
            }
        }
        let mut built = HashMap::new();
        let mut stmt = conn
            .prepare(
                "SELECT (utc_day - DATE '1970-01-01')::BIGINT, tz, through FROM rollup_built
                 WHERE site_id = ? AND utc_day >= ? AND utc_day <= ? AND version = ?",
            )
            .map_err(StoreError::backend)?;
        let rows = stmt
            .query_map(
                params_from_iter([
                    site,
                    date_value(d0),
                    date_value(d1),
                    Value::Int(rollup::VERSION),
                ]),
                |r| {
                    Ok((
                        epoch_day(r.get::<_, i64>(0)?),
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                },
            )
            .map_err(StoreError::backend)?;
        for r in rows {
            let (d, tz, through) = r.map_err(StoreError::backend)?;
            let newest = [d, d - Duration::days(1)]
                .iter()
                .filter_map(|x| marked.get(x))
                .max()
                .copied()
                .unwrap_or(0);
            built.insert(d, (tz, through >= newest));
        }
        Ok(Days { built, marked })
    }

    /// Can day `d` be read from rollups built in `tz`: built there and clean, or never
    /// given a row.
    fn usable(&self, d: NaiveDate, tz: &str) -> bool {
        match self.built.get(&d) {
            Some((z, clean)) => *clean && z == tz,
            None => !self.marked.contains_key(&d),
        }
    }
}

/// Is the switch on (`LUCARNE_ROLLUPS=off` turns reading rollups off).
pub(super) fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        !std::env::var("LUCARNE_ROLLUPS").is_ok_and(|v| v.eq_ignore_ascii_case("off"))
    })
}

/// How much of `[from, to)` rollups answer, at `now`.
pub(super) fn plan(
    conn: &Connection,
    site_id: u32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Plan>, StoreError> {
    if from >= to {
        return Ok(None);
    }
    let days = Days::read(conn, site_id, from.date_naive(), to.date_naive())?;
    // The zone the range's days were rolled up in: all must agree.
    let mut zones = days.built.values().map(|(z, _)| z.as_str());
    let Some(zone) = zones.next() else {
        return Ok(None);
    };
    if zones.any(|z| z != zone) {
        return Ok(None);
    }
    let Ok(tz) = zone.parse::<Tz>() else {
        return Ok(None);
    };
    let first = from.with_timezone(&tz).date_naive();
    if local_midnight(tz, first) != Some(from) {
        return Ok(None);
    }
    let closed = |u: NaiveDate| {
        day_start(u) + Duration::days(1) + Duration::minutes(CLOSE_AFTER_MINUTES) <= now
    };
    let mut last = None;
    let mut d = first;
    while let (Some(s), Some(e)) = (
        local_midnight(tz, d),
        local_midnight(tz, d + Duration::days(1)),
    ) {
        let (u0, u1) = (s.date_naive(), (e - Duration::microseconds(1)).date_naive());
        let usable = e <= to
            && (0..=(u1 - u0).num_days())
                .map(|i| u0 + Duration::days(i))
                .all(|u| closed(u) && days.usable(u, zone));
        if !usable {
            break;
        }
        last = Some((d, e));
        d += Duration::days(1);
    }
    Ok(last.map(|(last, tail)| Plan {
        tz,
        first,
        last,
        tail,
    }))
}

/// Add `b`'s numbers to `a`'s.
fn add(a: &mut Aggregates, b: &Aggregates) {
    a.visitors += b.visitors;
    a.visits += b.visits;
    a.pageviews += b.pageviews;
    a.events += b.events;
    a.visits_identified_dark += b.visits_identified_dark;
    a.visits_estimated_dark += b.visits_estimated_dark;
    a.bounces += b.bounces;
    a.duration_secs += b.duration_secs;
    a.session_visits += b.session_visits;
}

/// The rows of `shape` over `[from, to)`: rolled-up days and the raw tail, per value.
/// None when rollups cannot answer (then the caller reads raw events).
pub(super) fn rows(
    conn: &Connection,
    q: &ReportQuery,
    shape: &Shape,
    now: DateTime<Utc>,
) -> Result<Option<Vec<(String, Aggregates)>>, StoreError> {
    let Some(p) = plan(conn, q.site_id, q.from, q.to, now)? else {
        return Ok(None);
    };
    let mut out: BTreeMap<String, Aggregates> = BTreeMap::new();
    for (k, a) in rollup::breakdown(
        conn,
        q.site_id,
        &shape.dim,
        shape
            .within
            .as_ref()
            .map(|(v, second)| (v.as_str(), *second)),
        p.tz,
        p.first,
        p.last,
    )? {
        let k = match &shape.pick {
            Some(v) if *v == k => String::new(),
            Some(_) => continue,
            None => k,
        };
        add(out.entry(k).or_default(), &a);
    }
    if p.tail < q.to {
        for (k, a) in tail(conn, q.site_id, shape, q.from, p.tail, q.to)? {
            add(out.entry(k).or_default(), &a);
        }
    }
    if !shape.with_sessions {
        for a in out.values_mut() {
            (a.bounces, a.duration_secs, a.session_visits) = (0, 0.0, 0);
        }
    }
    if let Some(k) = &shape.keep {
        out.retain(|v, _| v == k);
    }
    Ok(Some(out.into_iter().collect()))
}

/// The totals per bucket, when every bucket is a run of whole local days and rollups
/// answer the first; None otherwise (then the caller reads raw events).
pub(super) fn timeseries(
    conn: &Connection,
    q: &ReportQuery,
    buckets: &[Bucket],
    now: DateTime<Utc>,
) -> Result<Option<Vec<Aggregates>>, StoreError> {
    let Some(shape) = Shape::of(q, None) else {
        return Ok(None);
    };
    if buckets.is_empty() {
        return Ok(None);
    }
    let Some(p) = plan(conn, q.site_id, q.from, q.to, now)? else {
        return Ok(None);
    };
    let whole = |b: &Bucket| {
        let d = b.start.with_timezone(&p.tz).date_naive();
        local_midnight(p.tz, d) == Some(b.start)
            && (b.end == q.to
                || local_midnight(p.tz, b.end.with_timezone(&p.tz).date_naive()) == Some(b.end))
    };
    if !buckets.iter().all(whole) {
        return Ok(None);
    }
    let daily = buckets.iter().all(|b| {
        let d = b.start.with_timezone(&p.tz).date_naive();
        local_midnight(p.tz, d + Duration::days(1)) == Some(b.end)
    });
    let mut out = vec![Aggregates::default(); buckets.len()];
    if daily {
        let by_day: HashMap<NaiveDate, Aggregates> = rollup::daily_totals(
            conn,
            q.site_id,
            (&shape.dim, shape.pick.as_deref().unwrap_or("")),
            p.first,
            p.last,
        )?
        .into_iter()
        .collect();
        let mut raw = Vec::new();
        for (i, b) in buckets.iter().enumerate() {
            if b.start < p.tail {
                let d = b.start.with_timezone(&p.tz).date_naive();
                if let Some(a) = by_day.get(&d) {
                    out[i] = *a;
                }
            } else {
                raw.push(i);
            }
        }
        if let Some(&i0) = raw.first() {
            let tail_q = ReportQuery {
                from: buckets[i0].start,
                ..q.clone()
            };
            let tail_b: Vec<Bucket> = raw.iter().map(|&i| buckets[i].clone()).collect();
            let got = super::sql::timeseries(conn, &tail_q, &tail_b)?;
            for (i, a) in raw.into_iter().zip(got) {
                out[i] = a;
            }
        }
    } else {
        for (i, b) in buckets.iter().enumerate() {
            let bq = ReportQuery {
                from: b.start,
                to: b.end,
                ..q.clone()
            };
            out[i] = match rows(conn, &bq, &shape, now)? {
                Some(r) => r.into_iter().next().map(|(_, a)| a).unwrap_or_default(),
                None => super::sql::aggregate(conn, &bq)?,
            };
        }
    }
    if !q.with_sessions {
        for a in &mut out {
            (a.bounces, a.duration_secs, a.session_visits) = (0, 0.0, 0);
        }
    }
    Ok(Some(out))
}

/// The raw part `[seam, to)` of a range starting at `from`, keyed like the rollups: its
/// visitors leave out the ids already counted before the seam (those of the UTC day
/// before the seam's, and of the seam's own, from `from` on); its visit-level numbers
/// count the visits begun in it.
fn tail(
    conn: &Connection,
    site_id: u32,
    shape: &Shape,
    from: DateTime<Utc>,
    seam: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, Aggregates)>, StoreError> {
    let key = match shape.key {
        Some(c) => format!("CAST({c} AS VARCHAR)"),
        None => "''".into(),
    };
    let (filt, fval) = match &shape.filter {
        Some((c, v)) => (format!(" AND {c} = ?"), vec![Value::Text(v.clone())]),
        None => (String::new(), Vec::new()),
    };
    let lookback = from.max(day_start(seam.date_naive() - Duration::days(1)));
    let range = |a: DateTime<Utc>, b: DateTime<Utc>| {
        let mut v = vec![Value::UInt(site_id), ts(a), ts(b)];
        v.extend(fval.iter().cloned());
        v
    };
    let sql = format!(
        "WITH seen AS (SELECT DISTINCT visitor_id AS s_vid, {key} AS s_key FROM events
                       WHERE site_id = ? AND ts >= ? AND ts < ? AND name NOT IN {NOT_VISIT_EVENTS}{filt}),
              t AS (SELECT visitor_id, name, entry, channel_group, {key} AS k FROM events
                    WHERE site_id = ? AND ts >= ? AND ts < ?{filt})
         SELECT k,
                (count(DISTINCT visitor_id) FILTER (WHERE name NOT IN {NOT_VISIT_EVENTS} AND s_vid IS NULL))::BIGINT,
                (count(*) FILTER (WHERE entry))::BIGINT,
                (count(*) FILTER (WHERE name = 'pageview'))::BIGINT,
                count(*)::BIGINT,
                (count(*) FILTER (WHERE entry AND channel_group IN ('private-message', 'email')))::BIGINT,
                (count(*) FILTER (WHERE entry AND channel_group = 'estimated-dark'))::BIGINT
         FROM t LEFT JOIN seen ON t.visitor_id = seen.s_vid AND t.k = seen.s_key
         GROUP BY k"
    );
    let mut params = range(lookback, seam);
    params.extend(range(seam, to));
    let mut found: BTreeMap<String, Aggregates> = BTreeMap::new();
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
    if shape.with_sessions {
        let sql = format!(
            "SELECT k, count(*)::BIGINT, (count(*) FILTER (WHERE pv <= 1))::BIGINT,
                    coalesce(sum(dur), 0)::DOUBLE FROM (
                SELECT {key} AS k, session_id, count(*) FILTER (WHERE name = 'pageview') AS pv,
                       (epoch_us(max(ts)) - epoch_us(min(ts))) / 1e6 AS dur
                FROM site_events WHERE site_id = ? AND ts >= ? AND ts < ?{filt}
                  AND name NOT IN {NOT_VISIT_EVENTS} AND NOT server_side
                  AND session_id IN (SELECT session_id FROM site_events
                                     WHERE site_id = ? AND ts >= ? AND ts < ? AND entry)
                GROUP BY k, session_id)
             GROUP BY k"
        );
        let mut params = range(seam, to);
        params.extend([Value::UInt(site_id), ts(seam), ts(to)]);
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
    Ok(found.into_iter().collect())
}
