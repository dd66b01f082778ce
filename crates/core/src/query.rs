//! One query model for the stats APIs (v1's `aggregate`, `timeseries` and `breakdown`,
//! v2's `POST /api/v2/query`): what is asked, checked once, whatever the wire format.
//!
//! A [`Query`] is metrics over a local date range, grouped by zero or more
//! [`Dimension`]s, narrowed by filters and conditions, ordered and paged. The server
//! parses either API into one, [`Query::check`]s it, and runs it through one executor;
//! the answers differ only in how they are written out.

use crate::conversions::GoalKind;
use crate::stats::{Condition, Filter, Interval, Match, Metric, Property};
use chrono::{DateTime, NaiveDate, Utc};

/// What a query groups by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dimension {
    Property(Property),
    /// A time bucket of the site's zone (`time:hour`, `time:day`, `time:week`,
    /// `time:month`).
    Time(Interval),
}

impl Dimension {
    pub fn name(&self) -> String {
        match self {
            Dimension::Property(p) => p.name(),
            Dimension::Time(i) => format!("time:{}", i.v2_name()),
        }
    }
}

/// What results are ordered by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderKey {
    Metric(Metric),
    /// The dimension at this index of [`Query::dimensions`].
    Dimension(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// Why a query cannot be answered (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

/// The most rows one v2 query returns (Plausible's pagination limit).
pub const MAX_ROWS: usize = 10_000;

/// A query, in the site's local dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub metrics: Vec<Metric>,
    /// The local days covered (time buckets are cut from them).
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// A range of instants `[from, to)` within those days, when asked for by time (v2's
    /// pair of datetimes) rather than by whole days.
    pub instants: Option<(DateTime<Utc>, DateTime<Utc>)>,
    pub dimensions: Vec<Dimension>,
    /// Conditions that must all hold: single filters ...
    pub filters: Vec<Filter>,
    /// ... and `and`/`or`/`not` trees.
    pub conditions: Vec<Condition>,
    /// Empty: the default order (see [`Query::order`]).
    pub order_by: Vec<(OrderKey, Direction)>,
    pub limit: usize,
    pub offset: usize,
}

impl Query {
    /// The order results are returned in (Plausible's, echoed in v2's answer):
    /// `order_by` when given; else the time dimension ascending, if there is one, then
    /// the first metric descending. Rows equal on all of these are ordered by visitors,
    /// pageviews and events (descending), then by their dimensions' values (ascending),
    /// so that paging is stable.
    pub fn order(&self) -> Vec<(OrderKey, Direction)> {
        if !self.order_by.is_empty() {
            return self.order_by.clone();
        }
        let mut out = Vec::new();
        if let Some(i) = self
            .dimensions
            .iter()
            .position(|d| matches!(d, Dimension::Time(_)))
        {
            out.push((OrderKey::Dimension(i), Direction::Asc));
        }
        if let Some(m) = self.metrics.first() {
            out.push((OrderKey::Metric(*m), Direction::Desc));
        }
        out
    }

    /// Is the order the one stores return a breakdown by one property in (visitors,
    /// pageviews, events descending, then the value), so that a store may page it?
    /// Rows equal on every key are ordered that way too (see the executor).
    pub fn store_orders(&self) -> bool {
        let first = self.order_by.first().cloned().or_else(|| {
            self.metrics
                .first()
                .map(|m| (OrderKey::Metric(*m), Direction::Desc))
        });
        self.order_by.len() <= 1
            && first == Some((OrderKey::Metric(Metric::Visitors), Direction::Desc))
            && matches!(self.dimensions.as_slice(), [Dimension::Property(_)])
    }

    /// Every filter, top level and inside conditions.
    pub fn all_filters(&self) -> impl Iterator<Item = &Filter> {
        self.filters
            .iter()
            .chain(self.conditions.iter().flat_map(|c| c.leaves()))
    }

    /// The checks both APIs share: what a metric can be reported with.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.metrics.is_empty() {
            return Err(Invalid("Please specify at least one metric".into()));
        }
        if self.to < self.from {
            return Err(Invalid(
                "Invalid date_range: the first date is after the last".into(),
            ));
        }
        let event_dims: Vec<String> = self
            .dimensions
            .iter()
            .filter_map(|d| match d {
                Dimension::Property(p) if p.is_event_level() && *p != Property::Page => {
                    Some(format!("`{}`", p.name()))
                }
                _ => None,
            })
            .collect();
        let session: Vec<String> = self
            .metrics
            .iter()
            .filter(|m| m.needs_sessions() || **m == Metric::ViewsPerVisit)
            .map(|m| format!("`{}`", m.as_str()))
            .collect();
        if !session.is_empty() && !event_dims.is_empty() {
            return Err(Invalid(format!(
                "Session metric(s) {} cannot be queried along with event dimension(s) {}",
                session.join(", "),
                event_dims.join(", ")
            )));
        }
        let engagement: Vec<&str> = self
            .metrics
            .iter()
            .filter(|m| m.needs_engagement())
            .map(|m| m.as_str())
            .collect();
        let by_page_only = matches!(
            self.dimensions.as_slice(),
            [] | [Dimension::Property(Property::Page)]
        );
        if !engagement.is_empty() && !by_page_only {
            return Err(Invalid(format!(
                "Metric(s) `{}` can only be queried in total or with the event:page dimension.",
                engagement.join(", ")
            )));
        }
        let goal_asked = self.filters.iter().any(|f| f.property == Property::Goal)
            || self
                .dimensions
                .contains(&Dimension::Property(Property::Goal));
        for m in [Metric::ConversionRate, Metric::GroupConversionRate] {
            if self.metrics.contains(&m) && !goal_asked {
                return Err(Invalid(format!(
                    "Metric `{}` can only be queried with event:goal filters or dimensions.",
                    m.as_str()
                )));
            }
        }
        if self
            .filters
            .iter()
            .any(|f| f.property == Property::Goal && (f.negated || f.how == Match::Regex))
        {
            return Err(Invalid(
                "Invalid filters. Goals are filtered with `is` or `contains`, not negated.".into(),
            ));
        }
        if self.dimensions.contains(&Dimension::Time(Interval::Hour))
            && (self.to - self.from).num_days() > 31
        {
            return Err(Invalid(
                "Invalid dimensions. `time:hour` covers at most 31 days.".into(),
            ));
        }
        if self
            .conditions
            .iter()
            .flat_map(|c| c.leaves())
            .any(|f| f.property == Property::Goal)
        {
            return Err(Invalid(
                "Invalid filters. Dimension `event:goal` can only be filtered at the top level."
                    .into(),
            ));
        }
        if self.limit == 0 || self.limit > MAX_ROWS {
            return Err(Invalid(format!(
                "Invalid pagination: limit must be between 1 and {MAX_ROWS}"
            )));
        }
        let mut seen = std::collections::HashSet::new();
        for d in &self.dimensions {
            if !seen.insert(d) {
                return Err(Invalid(format!(
                    "Some dimensions are listed more than once: `{}`",
                    d.name()
                )));
            }
        }
        if self
            .dimensions
            .iter()
            .filter(|d| matches!(d, Dimension::Time(_)))
            .count()
            > 1
        {
            return Err(Invalid(
                "Only one time dimension can be used in a query".into(),
            ));
        }
        Ok(())
    }
}

/// The rows a goal counts, as a condition: custom events by name, pageviews by path
/// (`*` any text), as `core::conversions::GoalKind::matches` decides.
pub fn goal_condition(kind: &GoalKind) -> Condition {
    match kind {
        GoalKind::Event(name) => Condition::Filter(Filter {
            how: Match::Is,
            ..Filter::is(Property::Name, vec![name.clone()])
        }),
        GoalKind::Page(pattern) => Condition::And(vec![
            Condition::Filter(Filter {
                how: Match::Is,
                ..Filter::is(Property::Name, vec!["pageview".into()])
            }),
            Condition::Filter(Filter::is(Property::Page, vec![pattern.clone()])),
        ]),
    }
}

/// The names an `event:goal` filter may call a goal by: its display name, its event
/// name, or, for a page goal, Plausible's `Visit /path`.
pub fn goal_names(display: &str, kind: &GoalKind) -> Vec<String> {
    let mut out = vec![display.to_string()];
    match kind {
        GoalKind::Event(n) => out.push(n.clone()),
        GoalKind::Page(p) => {
            out.push(format!("Visit {p}"));
            out.push(p.clone());
        }
    }
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(metrics: &[Metric], dims: Vec<Dimension>) -> Query {
        Query {
            metrics: metrics.to_vec(),
            from: NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"),
            to: NaiveDate::from_ymd_opt(2024, 1, 31).expect("date"),
            instants: None,
            dimensions: dims,
            filters: Vec::new(),
            conditions: Vec::new(),
            order_by: Vec::new(),
            limit: 100,
            offset: 0,
        }
    }

    #[test]
    fn session_metrics_refuse_event_dimensions_but_not_pages() {
        let by_name = q(
            &[Metric::Visitors, Metric::BounceRate],
            vec![Dimension::Property(Property::Name)],
        );
        let e = by_name.check().expect_err("bounce rate by event name");
        assert!(e.0.contains("`bounce_rate`"), "{e}");
        let by_page = q(
            &[Metric::BounceRate],
            vec![Dimension::Property(Property::Page)],
        );
        assert_eq!(by_page.check(), Ok(()));
    }

    #[test]
    fn engagement_only_in_total_or_by_page() {
        let by_source = q(
            &[Metric::ScrollDepth],
            vec![Dimension::Property(Property::Source)],
        );
        assert!(by_source.check().is_err());
        assert_eq!(q(&[Metric::TimeOnPage], vec![]).check(), Ok(()));
    }

    #[test]
    fn default_order_is_time_then_first_metric() {
        let t = q(
            &[Metric::Pageviews],
            vec![
                Dimension::Property(Property::Source),
                Dimension::Time(Interval::Date),
            ],
        );
        assert_eq!(
            t.order(),
            vec![
                (OrderKey::Dimension(1), Direction::Asc),
                (OrderKey::Metric(Metric::Pageviews), Direction::Desc)
            ]
        );
        let m = q(
            &[Metric::Pageviews],
            vec![Dimension::Property(Property::Source)],
        );
        assert_eq!(
            m.order(),
            vec![(OrderKey::Metric(Metric::Pageviews), Direction::Desc)]
        );
        assert!(!m.store_orders());
        let v = q(
            &[Metric::Visitors, Metric::Pageviews],
            vec![Dimension::Property(Property::Source)],
        );
        assert!(v.store_orders());
    }

    #[test]
    fn two_time_dimensions_and_repeats_are_refused() {
        let two = q(
            &[Metric::Visitors],
            vec![
                Dimension::Time(Interval::Date),
                Dimension::Time(Interval::Hour),
            ],
        );
        assert!(two.check().is_err());
        let again = q(
            &[Metric::Visitors],
            vec![
                Dimension::Property(Property::Source),
                Dimension::Property(Property::Source),
            ],
        );
        assert!(again.check().is_err());
    }
}
