//! Imported history merged into a query's rows (ARCHITECTURE.md, "Imported history"):
//! which imported table can answer a query, the days it may count (those before the
//! site's first native event), and the sums added to the native rows.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::NaiveDate;
use lucarne_core::imported::{Numbers, Table};
use lucarne_core::query::{Dimension, Query};
use lucarne_core::stats::{Aggregates, Bucket, Condition, Interval, Metric, Property};
use lucarne_store::meta::ImportedGroup;

use super::query::Row;
use super::stats::{blocking, SiteTz};
use crate::error::ApiError;
use crate::state::AppState;

/// Why imported data was left out of an answer (Plausible's `imports_skip_reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    NoImportedData,
    OutOfRange,
    UnsupportedInterval,
    UnsupportedQuery,
}

impl Skip {
    pub fn reason(self) -> &'static str {
        match self {
            Skip::NoImportedData => "no_imported_data",
            Skip::OutOfRange => "out_of_range",
            Skip::UnsupportedInterval => "unsupported_interval",
            Skip::UnsupportedQuery => "unsupported_query",
        }
    }

    /// Plausible's warning, for the two reasons it warns about.
    pub fn warning(self) -> Option<&'static str> {
        match self {
            Skip::UnsupportedQuery => Some(
                "Imported stats are not included in the results because query parameters \
                 are not supported. For more information, see: \
                 https://plausible.io/docs/stats-api#filtering-imported-stats",
            ),
            Skip::UnsupportedInterval => Some(
                "Imported stats are not included because the time dimension (i.e. the \
                 interval) is too short.",
            ),
            _ => None,
        }
    }
}

/// How a query maps onto one imported table.
struct Plan {
    table: Table,
    /// The query's dimensions: a time bucket (by day) or a key of the table.
    dims: Vec<Source>,
    /// The keys the conditions read.
    filter_keys: Vec<(Property, usize)>,
    conditions: Vec<Condition>,
    /// Also group by the channel group, to count dark visits.
    dark: bool,
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Day,
    Key(usize),
}

fn plan(q: &Query) -> Result<Plan, Skip> {
    if q.instants.is_some() {
        return Err(Skip::UnsupportedQuery);
    }
    let mut table: Option<Table> = None;
    let mut same = |t: Table| -> Result<(), Skip> {
        match table {
            Some(x) if x != t => Err(Skip::UnsupportedQuery),
            _ => {
                table = Some(t);
                Ok(())
            }
        }
    };
    let mut dims = Vec::new();
    for d in &q.dimensions {
        match d {
            Dimension::Time(Interval::Hour) => return Err(Skip::UnsupportedInterval),
            Dimension::Time(_) => dims.push(Source::Day),
            Dimension::Property(p) => {
                let (t, k) = Table::of(p).ok_or(Skip::UnsupportedQuery)?;
                same(t)?;
                dims.push(Source::Key(k));
            }
        }
    }
    let mut conditions: Vec<Condition> = q.filters.iter().cloned().map(Condition::Filter).collect();
    conditions.extend(q.conditions.iter().cloned());
    let mut filter_keys = Vec::new();
    for f in q.all_filters() {
        let (t, k) = Table::of(&f.property).ok_or(Skip::UnsupportedQuery)?;
        same(t)?;
        if !filter_keys.iter().any(|(p, _)| *p == f.property) {
            filter_keys.push((f.property.clone(), k));
        }
    }
    if conditions
        .iter()
        .any(|c| matches!(c, Condition::HasDone(_) | Condition::HasNotDone(_)))
    {
        return Err(Skip::UnsupportedQuery);
    }
    let table = table.unwrap_or(Table::Visitors);
    // Dark visits are known where sources are (their channel group): the sources table,
    // and the totals (from the same days' sources). Other tables add their visits only.
    let dark =
        q.metrics.contains(&Metric::DarkShare) && matches!(table, Table::Sources | Table::Visitors);
    if q.metrics.iter().any(|m| m.needs_shares())
        || (q.metrics.iter().any(|m| m.needs_engagement()) && table != Table::Pages)
    {
        return Err(Skip::UnsupportedQuery);
    }
    Ok(Plan {
        table,
        dims,
        filter_keys,
        conditions,
        dark,
    })
}

/// The label of the bucket holding a local day.
fn bucket_of(buckets: &[Bucket], tz: &SiteTz, day: NaiveDate) -> Option<String> {
    let t = lucarne_core::stats::local_midnight(tz, day);
    let i = buckets.partition_point(|b| b.end <= t);
    buckets
        .get(i)
        .filter(|b| b.start <= t)
        .map(|b| b.label.clone())
}

/// What merging needs to know of a site once: its first imported day and its first
/// native day (imported rows count only before it).
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub first_imported: NaiveDate,
    pub last_imported: NaiveDate,
    pub first_native: Option<NaiveDate>,
}

impl Context {
    /// The imported days of `from..=to` that reports count, if any.
    pub fn days(&self, from: NaiveDate, to: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        let from = from.max(self.first_imported);
        let to = to.min(self.last_imported);
        let to = match self.first_native {
            Some(n) => to.min(n.pred_opt()?),
            None => to,
        };
        (from <= to).then_some((from, to))
    }
}

/// The site's [`Context`], or `None` when nothing was imported.
pub async fn context(
    state: &Arc<AppState>,
    site_id: u32,
    tz: &SiteTz,
) -> Result<Option<Context>, ApiError> {
    let Some((first_imported, last_imported)) = state.meta.imported_span(site_id).await? else {
        return Ok(None);
    };
    let native = blocking(state, move |s| s.events.first_event(site_id)).await?;
    Ok(Some(Context {
        first_imported,
        last_imported,
        first_native: native.map(|t| chrono_tz_shim_date(tz, t)),
    }))
}

/// Add the site's imported rows to `rows` (every row of the answer, before ordering and
/// paging), for the days of `q` before the site's first native event. `buckets`: the
/// time dimension's, if the query has one. The visitors added in all, or why none were.
pub async fn merge(
    state: &Arc<AppState>,
    site_id: u32,
    tz: &SiteTz,
    q: &Query,
    buckets: Option<&[Bucket]>,
    rows: &mut Vec<Row>,
) -> Result<Result<u64, Skip>, ApiError> {
    match context(state, site_id, tz).await? {
        None => Ok(Err(Skip::NoImportedData)),
        Some(ctx) => merge_with(state, &ctx, site_id, tz, q, buckets, rows).await,
    }
}

/// [`merge`] with the site's [`Context`] known.
pub async fn merge_with(
    state: &Arc<AppState>,
    ctx: &Context,
    site_id: u32,
    tz: &SiteTz,
    q: &Query,
    buckets: Option<&[Bucket]>,
    rows: &mut Vec<Row>,
) -> Result<Result<u64, Skip>, ApiError> {
    let p = match plan(q) {
        Ok(p) => p,
        Err(skip) => return Ok(Err(skip)),
    };
    // Only days before the first native event: a day is never counted twice.
    let Some((from, to)) = ctx.days(q.from, q.to) else {
        return Ok(Err(Skip::OutOfRange));
    };
    let mut group: Vec<ImportedGroup> = p
        .dims
        .iter()
        .map(|d| match d {
            Source::Day => ImportedGroup::Day,
            Source::Key(k) => ImportedGroup::Key(*k),
        })
        .collect();
    let first_filter_col = group.len();
    group.extend(p.filter_keys.iter().map(|(_, k)| ImportedGroup::Key(*k)));
    let dark_col = group.len();
    if p.dark && p.table == Table::Sources {
        group.push(ImportedGroup::Key(8));
    }
    let found = state
        .meta
        .imported_sums(site_id, p.table, from, to, &group)
        .await?;
    let dark_from_sources = if p.dark && p.table == Table::Visitors {
        // The totals' dark visits, from the sources table of the same days.
        let by_group = state
            .meta
            .imported_sums(
                site_id,
                Table::Sources,
                from,
                to,
                &[ImportedGroup::Day, ImportedGroup::Key(8)],
            )
            .await?;
        let mut m: HashMap<String, (u64, u64)> = HashMap::new();
        for (k, n) in by_group {
            let e = m.entry(k[0].clone()).or_default();
            match k[1].as_str() {
                "private-message" | "email" => e.0 += n.visits,
                "estimated-dark" => e.1 += n.visits,
                _ => {}
            }
        }
        Some(m)
    } else {
        None
    };
    let mut sums: HashMap<Vec<String>, Aggregates> = HashMap::new();
    for (keys, n) in found {
        let value_of = |prop: &Property| {
            p.filter_keys
                .iter()
                .position(|(x, _)| x == prop)
                .and_then(|i| keys.get(first_filter_col + i).cloned())
        };
        let keep = p
            .conditions
            .iter()
            .all(|c| c.matches(&value_of).unwrap_or(false));
        if !keep {
            continue;
        }
        let mut dims = Vec::with_capacity(p.dims.len());
        let mut day = None;
        for (i, d) in p.dims.iter().enumerate() {
            let v = keys.get(i).cloned().unwrap_or_default();
            match d {
                Source::Day => {
                    let Ok(date) = NaiveDate::parse_from_str(&v, "%Y-%m-%d") else {
                        continue;
                    };
                    day = Some(v.clone());
                    match buckets.and_then(|b| bucket_of(b, tz, date)) {
                        Some(label) => dims.push(label),
                        None => continue,
                    }
                }
                Source::Key(_) => dims.push(v),
            }
        }
        if dims.len() != p.dims.len() {
            continue;
        }
        let a = sums.entry(dims).or_default();
        add(a, &n, p.table);
        if p.dark && p.table == Table::Sources {
            match keys.get(dark_col).map(String::as_str) {
                Some("private-message" | "email") => a.visits_identified_dark += n.visits,
                Some("estimated-dark") => a.visits_estimated_dark += n.visits,
                _ => {}
            }
        }
        if let (Some(m), Some(day)) = (&dark_from_sources, &day) {
            if let Some((i, e)) = m.get(day) {
                a.visits_identified_dark += i;
                a.visits_estimated_dark += e;
            }
        }
    }
    if let (Some(m), true) = (&dark_from_sources, p.dims.is_empty()) {
        if let Some(a) = sums.get_mut(&Vec::new()) {
            for (i, e) in m.values() {
                a.visits_identified_dark += i;
                a.visits_estimated_dark += e;
            }
        }
    }
    let mut index: HashMap<Vec<String>, usize> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| (r.dimensions.clone(), i))
        .collect();
    let added = sums.values().map(|a| a.visitors).sum();
    for (dims, a) in sums {
        let i = *index.entry(dims.clone()).or_insert_with(|| {
            rows.push(Row {
                dimensions: dims,
                aggregates: Aggregates::default(),
            });
            rows.len() - 1
        });
        rows[i].aggregates.add(&a);
    }
    Ok(Ok(added))
}

/// The local date of an instant in the site's zone.
fn chrono_tz_shim_date(tz: &SiteTz, t: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    lucarne_core::stats::chrono_tz_shim::Tz::local_date(tz, t)
}

/// Imported numbers as raw aggregates: visits carry their bounces and durations except
/// in the tables that have none (pages, custom events).
fn add(a: &mut Aggregates, n: &Numbers, table: Table) {
    a.visitors += n.visitors;
    a.visits += n.visits;
    a.pageviews += n.pageviews;
    a.events += n.events;
    if !matches!(table, Table::Pages | Table::CustomEvents) {
        a.session_visits += n.visits;
        a.bounces += n.bounces;
        a.duration_secs += n.visit_duration as f64;
    }
    a.scroll_visitors += n.scroll_visits;
    a.scroll_sum += n.scroll_sum;
    a.engaged_visitors += n.time_visits;
    a.engaged_ms += n.time_sum.saturating_mul(1000);
}
