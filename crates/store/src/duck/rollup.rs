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
//! Not yet read by reports: wiring them into the report path, the dirty marks kept by the
//! loader and the background task come next.

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

fn ts(t: DateTime<Utc>) -> Value {
    Value::Timestamp(TimeUnit::Microsecond, t.timestamp_micros())
}

/// The local midnight inside UTC day `day` in `tz`, if one falls strictly inside it (none
/// for UTC itself), and the local dates before and after it.
fn local_split(day: NaiveDate, tz: Tz) -> (NaiveDate, Option<(DateTime<Utc>, NaiveDate)>) {
    let start = Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN));
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

/// Replace the rollups of `site_id`'s UTC day `day` (its local days in `tz`); the number
/// of rows written.
pub fn build_day(
    conn: &Connection,
    site_id: u32,
    day: NaiveDate,
    tz: Tz,
) -> Result<usize, StoreError> {
    let start = Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN));
    let end = start + Duration::days(1);
    let (first, split) = local_split(day, tz);
    let mut params: Vec<Value> = Vec::new();
    let local_day = match split {
        None => format!("DATE '{first}'"),
        Some((m, next)) => {
            params.push(ts(m));
            format!("CASE WHEN ts < ? THEN DATE '{first}' ELSE DATE '{next}' END")
        }
    };
    // Every dimension by slice (local day) and by whole UTC day (local_day NULL).
    let sets: Vec<String> = ["(local_day)".to_string(), "()".to_string()]
        .into_iter()
        .chain(
            DIMENSIONS
                .iter()
                .flat_map(|(_, c)| [format!("(local_day, {c})"), format!("({c})")]),
        )
        .collect();
    // Which set a row belongs to: the one dimension column that is grouped.
    let cols: Vec<&str> = DIMENSIONS.iter().map(|(_, c)| *c).collect();
    let dim_case: String = DIMENSIONS
        .iter()
        .map(|(n, c)| format!("WHEN grouping({c}) = 0 THEN '{n}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let value_case: String = DIMENSIONS
        .iter()
        .map(|(_, c)| format!("WHEN grouping({c}) = 0 THEN CAST({c} AS VARCHAR)"))
        .collect::<Vec<_>>()
        .join(" ");
    let visitor = format!("name NOT IN {NOT_VISIT_EVENTS}");
    // The day before: its (visit, page) pairs, and those of its last slice.
    let prev_start = start - Duration::days(1);
    let late_start = match local_split(day - Duration::days(1), tz).1 {
        Some((m, _)) => m,
        None => prev_start,
    };
    let carried_new = |p: &str| {
        format!(
            "CASE WHEN grouping(pathname) = 0 THEN count(DISTINCT visitor_id) \
             FILTER (WHERE {visitor} AND b_sid IS NULL AND {p}.p_sid IS NULL) ELSE 0 END"
        )
    };
    let sql = format!(
        "INSERT INTO rollups
         WITH day AS (SELECT {local_day} AS local_day, visitor_id, session_id, name, entry, {cols}
                      FROM events WHERE site_id = ? AND ts >= ? AND ts < ?),
              begun AS (SELECT DISTINCT session_id AS b_sid FROM day WHERE entry),
              prev AS (SELECT DISTINCT session_id AS p_sid, pathname AS p_path FROM events
                       WHERE site_id = ? AND ts >= ? AND ts < ? AND {visitor}),
              prev_late AS (SELECT DISTINCT session_id AS p_sid, pathname AS p_path FROM events
                            WHERE site_id = ? AND ts >= ? AND ts < ? AND {visitor})
         SELECT ? AS site_id, DATE '{day}' AS utc_day,
                CASE WHEN grouping(local_day) = 0 THEN local_day END,
                CASE {dim_case} ELSE '' END, CASE {value_case} ELSE '' END,
                count(DISTINCT visitor_id) FILTER (WHERE {visitor} AND b_sid IS NOT NULL),
                count(DISTINCT visitor_id) FILTER (WHERE {visitor} AND b_sid IS NULL),
                {new}, {new_late},
                count(*) FILTER (WHERE entry),
                count(*) FILTER (WHERE name = 'pageview'),
                count(*),
                count(*) FILTER (WHERE entry AND channel_group IN ('private-message', 'email')),
                count(*) FILTER (WHERE entry AND channel_group = 'estimated-dark')
         FROM day LEFT JOIN begun ON day.session_id = begun.b_sid
              LEFT JOIN prev ON day.session_id = prev.p_sid AND day.pathname = prev.p_path
              LEFT JOIN prev_late ON day.session_id = prev_late.p_sid AND day.pathname = prev_late.p_path
         GROUP BY GROUPING SETS ({sets})",
        cols = cols.join(", "),
        sets = sets.join(", "),
        new = carried_new("prev"),
        new_late = carried_new("prev_late"),
    );
    // In the order of the text: the local midnight (if any), the range, the day before
    // (whole and last slice), the site id.
    params.extend([
        Value::UInt(site_id),
        ts(start),
        ts(end),
        Value::UInt(site_id),
        ts(prev_start),
        ts(start),
        Value::UInt(site_id),
        ts(late_start),
        ts(start),
        Value::UInt(site_id),
    ]);
    conn.execute(
        "DELETE FROM rollups WHERE site_id = ? AND utc_day = ?",
        params_from_iter([Value::UInt(site_id), Value::Date32(days_since_epoch(day))]),
    )
    .map_err(StoreError::backend)?;
    conn.execute(&sql, params_from_iter(params))
        .map_err(|e| StoreError::backend(format!("rollup of {day}: {e}")))
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::default()).num_days() as i32
}

/// The UTC instant local day `d` starts at in `tz`.
fn local_start(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN)))
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
pub fn breakdown(
    conn: &Connection,
    site_id: u32,
    dim: &str,
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(String, Aggregates)>, StoreError> {
    let sp = Span::of(tz, from, to);
    let date = |d: NaiveDate| Value::Date32(days_since_epoch(d));
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
                sum(est) FILTER (WHERE {slice})::BIGINT
         FROM rollups WHERE site_id = ? AND dim = ? AND utc_day >= ? AND utc_day <= ?
         GROUP BY value ORDER BY 2 DESC, 4 DESC, 5 DESC, value"
    );
    let mut params = vec![date(i0), date(i1)];
    params.extend(p0);
    params.extend(p1);
    params.push(date(sp.first));
    if sp.first_partial {
        params.extend([date(from), date(to)]);
    }
    params.extend(new_params);
    for _ in 0..5 {
        params.extend([date(from), date(to)]);
    }
    params.extend([
        Value::UInt(site_id),
        Value::Text(dim.to_string()),
        date(sp.first),
        date(sp.last),
    ]);
    let mut stmt = conn.prepare(&sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map(params_from_iter(params), |r| {
            let n = |i: usize| -> duckdb::Result<u64> {
                Ok(r.get::<_, Option<i64>>(i)?.unwrap_or(0) as u64)
            };
            Ok((
                r.get::<_, String>(0)?,
                Aggregates {
                    visitors: n(1)?,
                    visits: n(2)?,
                    pageviews: n(3)?,
                    events: n(4)?,
                    visits_identified_dark: n(5)?,
                    visits_estimated_dark: n(6)?,
                    ..Aggregates::default()
                },
            ))
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
