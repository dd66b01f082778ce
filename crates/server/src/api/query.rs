//! The one executor of `core::query::Query`, for both stats APIs: v1's aggregate,
//! timeseries and breakdown build a query and write the answer their way; v2's
//! `POST /api/v2/query` (`api::v2`) does the same with its own wire format.
//!
//! What runs: one store call for the rows ([`EventStore::breakdown_by`]: the totals, a
//! timeseries or a breakdown by one property read rollups where they can; several
//! dimensions read raw events), one for the engagement metrics when asked for, and one
//! for the totals when `percentage` is. Rows are ordered here ([`Query::order`]) unless
//! the store's own order is the one asked for, in which case the store pages them too.
//!
//! [`EventStore::breakdown_by`]: lucarne_store::EventStore::breakdown_by

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use lucarne_core::query::{goal_condition, goal_names, Dimension, Direction, OrderKey, Query};
use lucarne_core::stats::{
    buckets, utc_range, Aggregates, Condition, Metric, Property, ReportQuery, Value,
};
use lucarne_store::Dim;

use super::imported::Skip;
use super::stats::{add_engagement, blocking, SiteTz};
use crate::error::ApiError;
use crate::state::AppState;

/// The most rows a query is sorted over in memory (a breakdown by page of a big site
/// has tens of thousands).
pub const MAX_SORTED_ROWS: usize = 1_000_000;

/// One answer row: the dimensions' values (a time dimension's is its bucket's label)
/// and the raw numbers every metric is computed from.
#[derive(Debug, Clone)]
pub struct Row {
    pub dimensions: Vec<String>,
    pub aggregates: Aggregates,
}

impl Row {
    pub fn value(&self, m: Metric) -> Value {
        self.aggregates.value(m)
    }
}

#[derive(Debug, Clone)]
pub struct Answer {
    /// Ordered and paged.
    pub rows: Vec<Row>,
    /// The rows before paging (when `count_rows` was asked for; else the rows returned).
    pub total_rows: usize,
    /// Every bucket's label, when there is a time dimension.
    pub time_labels: Option<Vec<String>>,
    /// When imported history was asked for: merged, or why not.
    pub imports: Option<Result<(), Skip>>,
}

/// The store's report query for `q` on a site.
pub fn report_query(site_id: u32, tz: &SiteTz, q: &Query) -> ReportQuery {
    let (from, to) = q.instants.unwrap_or_else(|| utc_range(tz, q.from, q.to));
    ReportQuery {
        site_id,
        from,
        to,
        filters: q.filters.clone(),
        conditions: q.conditions.clone(),
        with_sessions: q.metrics.iter().any(|m| m.needs_sessions()),
        with_shares: q.metrics.iter().any(|m| m.needs_shares()),
    }
}

/// What a caller asks of [`execute`] beyond the query.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// The number of rows before paging is needed (v2's `include.total_rows`): every
    /// row is read.
    pub count_rows: bool,
    /// Add imported history for the days before the site's first native event.
    pub imports: bool,
}

/// Run `q` for a site.
pub async fn execute(
    state: &Arc<AppState>,
    site_id: u32,
    tz: &SiteTz,
    q: &Query,
    options: Options,
) -> Result<Answer, ApiError> {
    let goals = Goals::of(state, site_id, q).await?;
    let time_buckets: Option<Vec<lucarne_core::stats::Bucket>> =
        q.dimensions.iter().find_map(|d| match d {
            Dimension::Time(interval) => Some(buckets(tz, q.from, q.to, *interval)),
            Dimension::Property(_) => None,
        });
    let store_pages =
        q.store_orders() && !options.count_rows && !options.imports && goals.is_none();
    let mut rows = match &goals {
        None => {
            let (limit, offset) = if store_pages {
                (q.limit, q.offset)
            } else {
                (MAX_SORTED_ROWS, 0)
            };
            fetch(state, site_id, tz, q, limit, offset).await?
        }
        Some(g) => g.rows(state, site_id, tz).await?,
    };
    let mut imported_visitors = 0;
    let imports = if options.imports {
        let merged =
            super::imported::merge(state, site_id, tz, q, time_buckets.as_deref(), &mut rows)
                .await?;
        if let Ok(n) = merged {
            imported_visitors = n;
        }
        Some(merged.map(|_| ()))
    } else {
        None
    };
    if q.dimensions.is_empty() && rows.is_empty() {
        rows.push(Row {
            dimensions: Vec::new(),
            aggregates: Aggregates::default(),
        });
    }
    if q.metrics.contains(&Metric::Percentage) {
        let total = if q.dimensions.is_empty() {
            rows.first().map(|r| r.aggregates.visitors).unwrap_or(0)
        } else {
            let totals = match &goals {
                None => q.clone(),
                Some(g) => g.converting(),
            };
            let rq = report_query(site_id, tz, &totals);
            blocking(state, move |s| s.events.aggregate(&rq))
                .await?
                .visitors
                + imported_visitors
        };
        for r in &mut rows {
            r.aggregates.of_visitors = total;
        }
    }
    if let Some(g) = &goals {
        g.add_rates(state, site_id, tz, &mut rows).await?;
    }
    let total_rows;
    if store_pages {
        total_rows = rows.len();
    } else {
        sort_rows(q, &mut rows);
        total_rows = rows.len();
        rows = rows.into_iter().skip(q.offset).take(q.limit).collect();
    }
    let time_labels = time_buckets.map(|b| b.into_iter().map(|b| b.label).collect::<Vec<_>>());
    Ok(Answer {
        rows,
        total_rows,
        time_labels,
        imports,
    })
}

/// The rows of `q` from the store: its breakdown (time buckets by label), with the
/// engagement metrics when asked for.
async fn fetch(
    state: &Arc<AppState>,
    site_id: u32,
    tz: &SiteTz,
    q: &Query,
    limit: usize,
    offset: usize,
) -> Result<Vec<Row>, ApiError> {
    let rq = report_query(site_id, tz, q);
    let mut labels: HashMap<usize, Vec<String>> = HashMap::new();
    let dims: Vec<Dim> = q
        .dimensions
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Dimension::Property(p) => Dim::Property(p.clone()),
            Dimension::Time(interval) => {
                let b = buckets(tz, q.from, q.to, *interval);
                labels.insert(i, b.iter().map(|b| b.label.clone()).collect());
                Dim::Time(b)
            }
        })
        .collect();
    let (rq2, dims2) = (rq.clone(), dims.clone());
    let found = blocking(state, move |s| {
        s.events.breakdown_by(&rq2, &dims2, limit, offset)
    })
    .await?;
    let mut rows: Vec<Row> = found
        .into_iter()
        .map(|(values, aggregates)| Row {
            dimensions: values
                .into_iter()
                .enumerate()
                .map(|(i, v)| match labels.get(&i) {
                    Some(l) => v
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| l.get(n).cloned())
                        .unwrap_or(v),
                    None => v,
                })
                .collect(),
            aggregates,
        })
        .collect();
    if q.metrics.iter().any(|m| m.needs_engagement()) {
        let by_page = matches!(
            q.dimensions.as_slice(),
            [Dimension::Property(Property::Page)]
        );
        let rq2 = rq.clone();
        let found: HashMap<String, Aggregates> =
            blocking(state, move |s| s.events.engagement(&rq2, by_page))
                .await?
                .into_iter()
                .collect();
        for r in &mut rows {
            let key = r.dimensions.first().cloned().unwrap_or_default();
            let e = if by_page {
                found.get(&key)
            } else {
                found.values().next()
            };
            if let Some(e) = e {
                add_engagement(&mut r.aggregates, e);
            }
        }
    }
    Ok(rows)
}

/// A query about goals (`event:goal` filtered or grouped by, or a conversion rate): the
/// query without them, and the goals it is about, each as the condition on the rows it
/// counts (`core::query::goal_condition`).
struct Goals {
    /// The query with its goal filters and goal dimension taken out.
    base: Query,
    /// The goals asked about (those the filters name, else all of the site's): display
    /// name and condition.
    chosen: Vec<(String, Condition)>,
    /// Where the goal dimension was.
    dimension: Option<usize>,
}

impl Goals {
    async fn of(state: &Arc<AppState>, site_id: u32, q: &Query) -> Result<Option<Goals>, ApiError> {
        let dimension = q
            .dimensions
            .iter()
            .position(|d| *d == Dimension::Property(Property::Goal));
        let filters: Vec<&lucarne_core::stats::Filter> = q
            .filters
            .iter()
            .filter(|f| f.property == Property::Goal)
            .collect();
        if dimension.is_none() && filters.is_empty() {
            return Ok(None);
        }
        let site_goals = state.meta.goals(site_id).await?;
        let mut chosen = Vec::new();
        for g in &site_goals {
            let names = goal_names(&g.name, &g.kind);
            if filters.iter().all(|f| names.iter().any(|n| f.matches(n))) {
                chosen.push((g.name.clone(), goal_condition(&g.kind)));
            }
        }
        for f in &filters {
            if f.negated || f.how != lucarne_core::stats::Match::Is {
                continue;
            }
            for v in &f.values {
                let known = site_goals
                    .iter()
                    .any(|g| goal_names(&g.name, &g.kind).contains(v));
                if !known {
                    return Err(ApiError::bad_request(
                        "invalid_query",
                        format!(
                            "Invalid filters. The goal `{v}` is not configured for this site. \
                             Find out how to configure goals here: \
                             https://plausible.io/docs/stats-api#filtering-by-goals"
                        ),
                    ));
                }
            }
        }
        let mut base = q.clone();
        base.filters.retain(|f| f.property != Property::Goal);
        if let Some(i) = dimension {
            base.dimensions.remove(i);
        }
        Ok(Some(Goals {
            base,
            chosen,
            dimension,
        }))
    }

    /// The base query restricted to the rows of any chosen goal.
    fn converting(&self) -> Query {
        let mut q = self.base.clone();
        q.conditions.push(Condition::Or(
            self.chosen.iter().map(|(_, c)| c.clone()).collect(),
        ));
        q
    }

    /// Every row: per goal when grouped by goal (its name in the goal dimension's place),
    /// else the rows of the chosen goals together.
    async fn rows(
        &self,
        state: &Arc<AppState>,
        site_id: u32,
        tz: &SiteTz,
    ) -> Result<Vec<Row>, ApiError> {
        let Some(at) = self.dimension else {
            if self.chosen.is_empty() {
                return Ok(Vec::new());
            }
            return fetch(state, site_id, tz, &self.converting(), MAX_SORTED_ROWS, 0).await;
        };
        let mut out = Vec::new();
        for (name, cond) in &self.chosen {
            let mut q = self.base.clone();
            q.conditions.push(cond.clone());
            for mut r in fetch(state, site_id, tz, &q, MAX_SORTED_ROWS, 0).await? {
                if r.aggregates.visitors == 0 && r.aggregates.events == 0 {
                    continue;
                }
                r.dimensions
                    .insert(at.min(r.dimensions.len()), name.clone());
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The conversion rates' denominators: the base query's visitors in all, and those
    /// of each row's other dimensions.
    async fn add_rates(
        &self,
        state: &Arc<AppState>,
        site_id: u32,
        tz: &SiteTz,
        rows: &mut [Row],
    ) -> Result<(), ApiError> {
        let wanted = [Metric::ConversionRate, Metric::GroupConversionRate];
        if !self.base.metrics.iter().any(|m| wanted.contains(m)) {
            return Ok(());
        }
        let mut totals = self.base.clone();
        totals.dimensions.clear();
        let rq = report_query(site_id, tz, &totals);
        let all = blocking(state, move |s| s.events.aggregate(&rq))
            .await?
            .visitors;
        let groups: HashMap<Vec<String>, u64> = if self.base.dimensions.is_empty() {
            HashMap::new()
        } else {
            fetch(state, site_id, tz, &self.base, MAX_SORTED_ROWS, 0)
                .await?
                .into_iter()
                .map(|r| (r.dimensions, r.aggregates.visitors))
                .collect()
        };
        for r in rows.iter_mut() {
            r.aggregates.all_visitors = all;
            let mut key = r.dimensions.clone();
            if let Some(at) = self.dimension {
                if at < key.len() {
                    key.remove(at);
                }
            }
            r.aggregates.group_visitors = if key.is_empty() {
                all
            } else {
                groups.get(&key).copied().unwrap_or(0)
            };
        }
        Ok(())
    }
}

/// A metric's value as a number to sort by (nothing measured sorts lowest).
fn sort_number(v: Value) -> f64 {
    match v {
        Value::Count(n) | Value::Percent(n) => n as f64,
        Value::Float(x) => x,
        Value::DarkShare {
            identified,
            estimated,
        } => identified + estimated,
        Value::None => f64::NEG_INFINITY,
    }
}

/// [`Query::order`], then visitors, pageviews and events (descending), then the
/// dimensions' values (ascending; time buckets by time, which their labels sort in).
fn sort_rows(q: &Query, rows: &mut [Row]) {
    let order = q.order();
    rows.sort_by(|a, b| {
        for (key, dir) in &order {
            let o = match key {
                OrderKey::Metric(m) => sort_number(a.value(*m))
                    .partial_cmp(&sort_number(b.value(*m)))
                    .unwrap_or(Ordering::Equal),
                OrderKey::Dimension(i) => a.dimensions.get(*i).cmp(&b.dimensions.get(*i)),
            };
            let o = match dir {
                Direction::Asc => o,
                Direction::Desc => o.reverse(),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        let (x, y) = (&a.aggregates, &b.aggregates);
        y.visitors
            .cmp(&x.visitors)
            .then(y.pageviews.cmp(&x.pageviews))
            .then(y.events.cmp(&x.events))
            .then_with(|| a.dimensions.cmp(&b.dimensions))
    });
}
