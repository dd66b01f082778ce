//! Reports from rollups and raw events together on DuckDB: `crate::rollups` decides and
//! adds (`Shape`, `plan`, `rows`, `timeseries`); this reads DuckDB's side of it, the
//! state of the days and the raw part after the seam.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use duckdb::types::Value;
use duckdb::{params_from_iter, Connection};
use lucarne_core::stats::{Aggregates, Bucket, ReportQuery};

use super::rollup::{self, date_value, ts};
use crate::events::StoreError;
use crate::report::NOT_VISIT_EVENTS;
use crate::rollups::{epoch_day, lookback, DayRow, Days, Rolled, Shape, VERSION};

/// DuckDB's rollups and raw events, through one reader connection.
pub(super) struct DuckRolled<'a>(pub(super) &'a Connection);

impl Rolled for DuckRolled<'_> {
    fn days(&self, site_id: u32, d0: NaiveDate, d1: NaiveDate) -> Result<Days, StoreError> {
        let conn = self.0;
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

    fn rolled(
        &self,
        site_id: u32,
        dim: &str,
        within: Option<(&str, bool)>,
        tz: Tz,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        rollup::breakdown(self.0, site_id, dim, within, tz, from, to)
    }

    fn daily_rows(
        &self,
        site_id: u32,
        row: (&str, &str),
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayRow>, StoreError> {
        rollup::daily_rows(self.0, site_id, row, from, to)
    }

    fn tail(
        &self,
        site_id: u32,
        shape: &Shape,
        from: DateTime<Utc>,
        seam: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        tail(self.0, site_id, shape, from, seam, to)
    }

    fn raw_timeseries(&self, q: &ReportQuery, b: &[Bucket]) -> Result<Vec<Aggregates>, StoreError> {
        super::sql::timeseries(self.0, q, b)
    }

    fn raw_aggregate(&self, q: &ReportQuery) -> Result<Aggregates, StoreError> {
        super::sql::aggregate(self.0, q)
    }
}

/// The raw part `[seam, to)` of a range starting at `from` (`Rolled::tail`).
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
    let (long, short) = lookback(from, seam, shape.key.is_some_and(|k| k == "pathname"));
    let range = |a: DateTime<Utc>, b: DateTime<Utc>| {
        let mut v = vec![Value::UInt(site_id), ts(a), ts(b)];
        v.extend(fval.iter().cloned());
        v
    };
    // Before `short`, only the visitors of the raw part's server-side rows.
    let sql = format!(
        "WITH seen AS (SELECT DISTINCT visitor_id AS s_vid, {key} AS s_key FROM events
                       WHERE site_id = ? AND ts >= ? AND ts < ? AND name NOT IN {NOT_VISIT_EVENTS}{filt}
                         AND (ts >= ? OR visitor_id IN (SELECT visitor_id FROM events
                                                         WHERE site_id = ? AND ts >= ? AND ts < ? AND server_side))),
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
    let mut params = range(long, seam);
    params.extend([ts(short), Value::UInt(site_id), ts(seam), ts(to)]);
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
