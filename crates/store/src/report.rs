//! Report composition shared by the events back ends (`duck::sql`, `click::sql`).
//!
//! What a report *means* is written once, here, so the back ends cannot drift apart:
//! which property reads which column, how filters and the site and range become a
//! `WHERE`, which rows count as visits (link events are not, unless asked for), how the
//! event-level numbers are counted, how a timeseries maps rows to buckets, how a
//! breakdown is ordered and paged, how the visit-level numbers join the event-level
//! ones, and how conversion rows are gathered.
//!
//! What differs between the SQL dialects comes in through [`Dialect`]: how a value
//! reaches the query (a bound parameter on DuckDB, a literal on ClickHouse), conditional
//! and approximate distinct counts, casts, times. Queries whose *strategy* differs
//! (visit-level numbers, goal scans, the share graph, row reading) stay in each back end.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use lucarne_core::conversions::GoalKind;
use lucarne_core::funnel::{reached_from_furthest, FunnelStep};
use lucarne_core::stats::{Aggregates, Bucket, Condition, Filter, Match, Property, ReportQuery};

use crate::events::{
    merge_sessions, ConversionGroup, ConversionRow, FunnelGroup, FunnelRow, GoalCounts,
    SessionTotals, StoreError,
};

/// Events that are not part of a visit: short-link clicks and scans and link-preview
/// fetches. They count as events, but not as visitors or visits, unless the query asks
/// for them by name or link (then their clickers are the visitors asked about).
pub(crate) const NOT_VISIT_EVENTS: &str = "('link_click', 'link_scan', 'preview')";

/// Channel groups of identified dark social.
const PRIVATE_GROUPS: &str = "('private-message', 'email')";

/// The visits counted under an event filter, as conditions on a row's `channel_group`
/// to add: all, identified dark, estimated dark (the `visits`, `ident` and `est` of
/// [`event_level_sql`]; rollups and their raw part count them the same way).
pub(crate) const VISIT_KINDS: [&str; 3] = [
    "",
    " AND channel_group IN ('private-message', 'email')",
    " AND channel_group = 'estimated-dark'",
];

/// How far before the period a share graph's root visit is looked for.
pub(crate) const ROOT_LOOKBACK_DAYS: i64 = 30;

/// What differs between the back ends' SQL, where the shape of a query does not.
pub(crate) trait Dialect {
    /// The event time column that time buckets compare with.
    const TS: &'static str;
    /// The condition "this row is its visit's entry row".
    const ENTRY: &'static str;
    /// A condition that always holds.
    const TRUE: &'static str;
    /// The condition "this row is not a server-side conversion".
    const NOT_SERVER_SIDE: &'static str;
    /// All rows counted.
    const COUNT: &'static str;
    /// What follows `LIKE pattern` so that `\` escapes (see [`like_pattern`]).
    const LIKE_ESCAPE: &'static str;
    /// `visit:generation` as a property value.
    const GENERATION: &'static str;
    /// The five share-graph aggregates, cast like [`Dialect::as_count`], in
    /// [`aggregates`] order.
    const SHARES: &'static str;

    /// A user-supplied text value: bound as a parameter or written as a literal.
    fn text(&mut self, v: &str) -> String;
    /// The condition on site and time range `[from, to)`.
    fn range(&mut self, site_id: u32, from: DateTime<Utc>, to: DateTime<Utc>) -> String;
    /// The value of custom property `key`, `(none)` when the event has none.
    fn prop(&mut self, key: &str) -> String;
    /// A time, comparable with [`Dialect::TS`].
    fn time(t: DateTime<Utc>) -> String;
    /// A time bucket's index.
    fn bucket_index(i: usize) -> String;
    /// An expression as text (group keys are text).
    fn to_text(e: &str) -> String;
    /// `a` if `c`, else `b`.
    fn if_else(c: &str, a: &str, b: &str) -> String;
    /// Rows where `c` holds.
    fn count_if(c: &str) -> String;
    /// Distinct values of `col` among the rows where `c` holds: exact while they are
    /// few (tens of thousands), an estimate beyond, as the back end does it.
    fn distinct_if(&self, col: &str, c: &str) -> String;
    /// A count as the integer type its result column is read as.
    fn as_count(e: &str) -> String;
    /// [`crate::events::PROP_SEP`] as an SQL text.
    const KEY_SEP: &'static str;
    /// `col` has a match of the regular expression `pattern` (checked by
    /// `core::stats::valid_regex`), written into the query as a literal so that it is
    /// compiled once, not for every row.
    fn regex(col: &str, pattern: &str) -> String;
    /// `col` in lower case, Unicode letters included (as Rust's `to_lowercase`).
    fn lower(col: &str) -> String;

    /// The event time as an integer (microseconds since the epoch).
    const TS_INT: &'static str;
    /// A time later than every event's ([`Dialect::TS_INT`]): "not reached".
    const TS_NONE: &'static str;
    /// The list of `col` over the group's rows where `c` holds (an aggregate; empty or
    /// NULL when none).
    fn list_if(col: &str, c: &str) -> String;
    /// The smallest element of the list `list` that is at least `bound` (any element
    /// when `None`), else [`Dialect::TS_NONE`].
    fn min_at_least(list: &str, bound: Option<&str>) -> String;
}

/// A text matched literally inside a LIKE pattern (`%`, `_` and `\` escaped with `\`).
fn like_literal(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `*` wildcards to a LIKE pattern (`%`, `_` and `\` escaped with `\`).
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

pub(crate) fn utc(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

/// The SQL expression of a property.
fn column<D: Dialect>(d: &mut D, p: &Property) -> String {
    let stored = match p {
        Property::Page => "pathname",
        Property::EntryPage => "entry_page",
        Property::Name => "name",
        Property::Hostname => "hostname",
        Property::Source => "source",
        Property::Referrer => "referrer",
        Property::UtmSource => "utm_source",
        Property::UtmMedium => "utm_medium",
        Property::UtmCampaign => "utm_campaign",
        Property::UtmTerm => "utm_term",
        Property::UtmContent => "utm_content",
        Property::Device => "device",
        Property::Browser => "browser",
        Property::Os => "os",
        Property::Country => "country",
        Property::Channel => "channel",
        Property::ChannelGroup => "channel_group",
        Property::Evidence => "evidence",
        Property::Generation => D::GENERATION,
        Property::VisitShareChannel => "visit_share_channel",
        Property::TokenStatus => "token_status",
        Property::ShareChannel => "share_channel",
        // The stats executor replaces goals with their conditions before a store is
        // asked; a goal filter that reaches SQL anyway (a hand-made dashboard URL) reads
        // as the event name, which an event goal's name is.
        Property::Goal => "name",
        // The link a visit came through: its click/scan/preview events are not the visit.
        Property::Link => return link::<D>("NOT IN"),
        Property::EventLink => return link::<D>("IN"),
        Property::Prop(key) => return d.prop(key),
    };
    stored.into()
}

/// The link id of the rows whose name is (`op` = `IN`) or is not (`NOT IN`) a link event.
fn link<D: Dialect>(op: &str) -> String {
    D::if_else(
        &format!("link_id <> 0 AND name {op} {NOT_VISIT_EVENTS}"),
        &D::to_text("link_id"),
        "''",
    )
}

fn filter_sql<D: Dialect>(d: &mut D, f: &Filter) -> String {
    let mut alts = Vec::new();
    for v in &f.values {
        let col = column(d, &f.property);
        let (col, v) = if f.ignore_case {
            (D::lower(&col), v.to_lowercase())
        } else {
            (col, v.clone())
        };
        let cond = match f.how {
            Match::Wildcard if v.contains('*') => {
                let pattern = d.text(&like_pattern(&v));
                format!("{col} LIKE {pattern}{}", D::LIKE_ESCAPE)
            }
            Match::Wildcard | Match::Is => format!("{col} = {}", d.text(&v)),
            Match::Contains => {
                let pattern = d.text(&format!("%{}%", like_literal(&v)));
                format!("{col} LIKE {pattern}{}", D::LIKE_ESCAPE)
            }
            Match::Regex => D::regex(&col, &v),
        };
        alts.push(cond);
    }
    let any = format!("({})", alts.join(" OR "));
    if f.negated {
        format!("NOT {any}")
    } else {
        any
    }
}

/// A condition tree as SQL, for the rows of `q`'s site and range.
fn condition_sql<D: Dialect>(d: &mut D, q: &ReportQuery, c: &Condition) -> String {
    let join = |d: &mut D, cs: &[Condition], op: &str, empty: &str| {
        if cs.is_empty() {
            return empty.to_string();
        }
        let parts: Vec<String> = cs.iter().map(|c| condition_sql(d, q, c)).collect();
        format!("({})", parts.join(op))
    };
    let visits_with = |d: &mut D, c: &Condition| {
        let range = d.range(q.site_id, q.from, q.to);
        let cond = condition_sql(d, q, c);
        format!("session_id IN (SELECT session_id FROM events WHERE {range} AND {cond})")
    };
    match c {
        Condition::Filter(f) => filter_sql(d, f),
        Condition::And(cs) => join(d, cs, " AND ", D::TRUE),
        Condition::Or(cs) => join(d, cs, " OR ", "(1 = 0)"),
        Condition::Not(c) => format!("NOT {}", condition_sql(d, q, c)),
        Condition::HasDone(c) => format!("({})", visits_with(d, c)),
        Condition::HasNotDone(c) => format!("(NOT {})", visits_with(d, c)),
    }
}

/// The query's filters and conditions, each as one condition.
pub(crate) fn filter_conds<D: Dialect>(d: &mut D, q: &ReportQuery) -> Vec<String> {
    let mut out: Vec<String> = q.filters.iter().map(|f| filter_sql(d, f)).collect();
    out.extend(q.conditions.iter().map(|c| condition_sql(d, q, c)));
    out
}

/// `WHERE` for site + range, optionally with the query's filters.
pub(crate) fn where_clause<D: Dialect>(d: &mut D, q: &ReportQuery, with_filters: bool) -> String {
    let mut w = d.range(q.site_id, q.from, q.to);
    if with_filters {
        for f in filter_conds(d, q) {
            w.push_str(" AND ");
            w.push_str(&f);
        }
    }
    w
}

/// A balanced tree of conditions mapping `col` to its bucket index (log2(n)
/// comparisons a row).
pub(crate) fn bucket_expr<D: Dialect>(buckets: &[Bucket], col: &str) -> String {
    fn tree<D: Dialect>(b: &[Bucket], offset: usize, col: &str) -> String {
        if b.len() <= 1 {
            return D::bucket_index(offset);
        }
        let mid = b.len() / 2;
        D::if_else(
            &format!("{col} < {}", D::time(b[mid].start)),
            &tree::<D>(&b[..mid], offset, col),
            &tree::<D>(&b[mid..], offset + mid, col),
        )
    }
    tree::<D>(buckets, 0, col)
}

/// The condition of a goal (`core::conversions::GoalKind::matches`).
pub(crate) fn goal_sql<D: Dialect>(d: &mut D, g: &GoalKind) -> String {
    match g {
        GoalKind::Event(name) => format!("name = {}", d.text(name)),
        GoalKind::Page(pattern) if !pattern.contains('*') => {
            format!("(name = 'pageview' AND pathname = {})", d.text(pattern))
        }
        GoalKind::Page(pattern) => format!(
            "(name = 'pageview' AND pathname LIKE {}{})",
            d.text(&like_pattern(pattern)),
            D::LIKE_ESCAPE
        ),
    }
}

/// The events matching any of `goals` under the query's site, range and filters, oldest
/// first (then by visit), at most `limit`, selecting `columns`; `None` without goals.
/// `ts` is the backend's time column.
pub(crate) fn goal_events_sql<D: Dialect>(
    d: &mut D,
    q: &ReportQuery,
    goals: &[GoalKind],
    limit: usize,
    columns: &str,
    ts: &str,
) -> Option<String> {
    if goals.is_empty() {
        return None;
    }
    // Parameters are positional (DuckDB): written in the order the text reads them.
    let w = where_clause(d, q, true);
    let any: Vec<String> = goals.iter().map(|g| goal_sql(d, g)).collect();
    Some(format!(
        "SELECT {columns} FROM events WHERE {w} AND ({}) ORDER BY {ts}, session_id LIMIT {limit}",
        any.join(" OR ")
    ))
}

/// The group key of a conversion report (text).
pub(crate) fn conversion_group_sql<D: Dialect>(d: &mut D, group: &ConversionGroup) -> String {
    match group {
        ConversionGroup::Total => "''".into(),
        ConversionGroup::Property(p) => D::to_text(&column(d, p)),
        ConversionGroup::Share => D::if_else("generation > 0", &D::to_text("parent_token"), "''"),
        ConversionGroup::ShareVisit => {
            D::if_else("generation > 0", &D::to_text("session_id"), "''")
        }
    }
}

/// The funnel query: one row per (group key `g`, furthest step reached, visits), for
/// the visits that reached step 1. Per visit (one group over the rows matching a step,
/// under the query's site, range and filters) it collects each step's times as a list;
/// then, one nested level a step, the time it reached step k: the smallest time of step
/// k at or after step k-1's (`core::funnel::furthest_step`). Plain aggregates and list
/// functions, no join and no window: the same query on DuckDB and ClickHouse 18.16
/// (whose `windowFunnel` counts within a window of seconds and is not on DuckDB).
pub(crate) fn funnel_sql<D: Dialect>(
    d: &mut D,
    q: &ReportQuery,
    steps: &[FunnelStep],
    group: FunnelGroup,
) -> String {
    let key = match group {
        FunnelGroup::Total => "''".to_string(),
        FunnelGroup::ChannelGroup => D::to_text("min(channel_group)"),
        FunnelGroup::Channel => D::to_text("min(channel)"),
    };
    // Parameters are positional (DuckDB): written in the order the text reads them.
    let lists: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let c = goal_sql(d, &s.as_goal());
            format!("{} AS a{i}", D::list_if(D::TS_INT, &c))
        })
        .collect();
    let w = where_clause(d, q, true);
    let any: Vec<String> = steps.iter().map(|s| goal_sql(d, &s.as_goal())).collect();
    let mut sql = format!(
        "SELECT session_id, {key} AS g, {} FROM events WHERE {w} AND ({}) GROUP BY session_id",
        lists.join(", "),
        any.join(" OR ")
    );
    for i in 0..steps.len() {
        let bound = (i > 0).then(|| format!("t{}", i - 1));
        let t = D::min_at_least(&format!("a{i}"), bound.as_deref());
        sql = format!("SELECT *, {t} AS t{i} FROM ({sql}) AS s{i}");
    }
    let furthest: Vec<String> = (0..steps.len())
        .map(|i| D::if_else(&format!("t{i} < {}", D::TS_NONE), "1", "0"))
        .collect();
    format!(
        "SELECT g, {} AS furthest, {} AS visits FROM ({sql}) AS v \
         WHERE t0 < {} GROUP BY g, furthest",
        D::as_count(&furthest.join(" + ")),
        D::as_count(D::COUNT),
        D::TS_NONE,
    )
}

/// A funnel report's rows from the (group, furthest step, visits) rows of
/// [`funnel_sql`]: ordered by visits entering, most first, then by key; the total
/// (`FunnelGroup::Total`) is always one row.
pub(crate) fn funnel_rows(
    steps: usize,
    group: FunnelGroup,
    counted: Vec<(String, u64, u64)>,
) -> Vec<FunnelRow> {
    let mut by_group: HashMap<String, Vec<(usize, u64)>> = HashMap::new();
    for (g, furthest, visits) in counted {
        let f = usize::try_from(furthest).unwrap_or(usize::MAX);
        by_group.entry(g).or_default().push((f, visits));
    }
    if group == FunnelGroup::Total {
        by_group.entry(String::new()).or_default();
    }
    let mut rows: Vec<FunnelRow> = by_group
        .into_iter()
        .map(|(group, f)| FunnelRow {
            group,
            reached: reached_from_furthest(steps, &f),
        })
        .collect();
    rows.sort_by(|a, b| {
        b.reached
            .first()
            .cmp(&a.reached.first())
            .then_with(|| a.group.cmp(&b.group))
    });
    rows
}

/// Does the query ask for link events by name or link (a filter, or a goal's condition,
/// that is not negated)?
pub(crate) fn asks_for_link_events(q: &ReportQuery) -> bool {
    q.all_filters()
        .any(|f| !f.negated && matches!(f.property, Property::Name | Property::EventLink))
}

/// `AND …` excluding the events of [`NOT_VISIT_EVENTS`], unless the query asks for them.
pub(crate) fn visit_events_only(q: &ReportQuery) -> String {
    if asks_for_link_events(q) {
        String::new()
    } else {
        format!(" AND name NOT IN {NOT_VISIT_EVENTS}")
    }
}

/// Like [`visit_events_only`], and without server-side conversions: a purchase reported
/// days later is not part of its visit's pageviews, duration or bounce.
pub(crate) fn session_events_only<D: Dialect>(q: &ReportQuery) -> String {
    format!("{} AND {}", visit_events_only(q), D::NOT_SERVER_SIDE)
}

/// How a report groups its rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Group<'a> {
    /// One row for the whole period (key '').
    Total,
    /// By the property's value.
    Property(&'a Property),
    /// By time bucket (key: the bucket's index); a visit's numbers go to the bucket where
    /// it started.
    Buckets(&'a [Bucket]),
    /// By several groupings at once (v2's dimensions): the key is each one's key, joined
    /// with [`PROP_SEP`]. A visit joins every combination it has a row in (a visit that
    /// spans two time buckets is in both).
    ///
    /// [`PROP_SEP`]: crate::events::PROP_SEP
    Dims(&'a [Dim]),
}

/// One dimension of a multi-dimension breakdown ([`crate::EventStore::breakdown_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dim {
    Property(Property),
    /// The time bucket, keyed by its index in the list.
    Time(Vec<Bucket>),
}

impl Dim {
    fn group(&self) -> Group<'_> {
        match self {
            Dim::Property(p) => Group::Property(p),
            Dim::Time(b) => Group::Buckets(b),
        }
    }
}

impl Group<'_> {
    /// The group key of an event row (text; '' for [`Group::Total`]).
    pub(crate) fn key<D: Dialect>(self, d: &mut D) -> String {
        match self {
            Group::Total => "''".into(),
            Group::Property(p) => D::to_text(&column(d, p)),
            Group::Buckets(b) => D::to_text(&bucket_expr::<D>(b, D::TS)),
            Group::Dims(dims) => {
                let keys: Vec<String> = dims.iter().map(|g| g.group().key(d)).collect();
                format!("concat({})", keys.join(&format!(", {}, ", D::KEY_SEP)))
            }
        }
    }

    /// Is the key a property of events rather than of visits (a visit may have several)?
    pub(crate) fn is_event_level(self) -> bool {
        match self {
            Group::Property(p) => p.is_event_level(),
            Group::Dims(dims) => dims
                .iter()
                .any(|g| matches!(g, Dim::Time(_)) || g.group().is_event_level()),
            Group::Total | Group::Buckets(_) => false,
        }
    }
}

/// The event-level query: group key (`grp`), then the counts of [`aggregates`].
///
/// Without event filters a visit is its entry row; with them, the distinct visits with a
/// matching row (the filters may match no entry row).
pub(crate) fn event_level_sql<D: Dialect>(d: &mut D, q: &ReportQuery, group: Group<'_>) -> String {
    let distinct_visits = q.has_event_filters();
    let only = visit_events_only(q);
    let visit_rows = |c: &str| format!("{c}{only}");
    let visits = if distinct_visits {
        d.distinct_if("session_id", &visit_rows(D::TRUE))
    } else {
        D::count_if(D::ENTRY)
    };
    let visitors = d.distinct_if("visitor_id", &visit_rows(D::TRUE));
    let dark = |c: &str| {
        if distinct_visits {
            d.distinct_if("session_id", &visit_rows(c))
        } else {
            D::count_if(&format!("{} AND {c}", D::ENTRY))
        }
    };
    let ident = dark(&format!("channel_group IN {PRIVATE_GROUPS}"));
    let est = dark("channel_group = 'estimated-dark'");
    // Share-graph aggregates (core::stats::Aggregates), or zeros.
    let shares = if q.with_shares {
        D::SHARES.to_string()
    } else {
        vec![D::as_count("0"); 5].join(", ")
    };
    let g = group.key(d);
    let gby = match group {
        Group::Total => "",
        _ => " GROUP BY grp",
    };
    format!(
        "SELECT {g} AS grp,
            {},
            {},
            {},
            {},
            {},
            {},
            {shares}
         FROM events WHERE {w}{gby}",
        D::as_count(&visitors),
        D::as_count(&visits),
        D::as_count(&D::count_if("name = 'pageview'")),
        D::as_count(D::COUNT),
        D::as_count(&ident),
        D::as_count(&est),
        w = where_clause(d, q, true),
    )
}

/// The counts of an [`event_level_sql`] row, in column order.
pub(crate) fn aggregates(n: [u64; 11]) -> Aggregates {
    Aggregates {
        visitors: n[0],
        visits: n[1],
        pageviews: n[2],
        events: n[3],
        visits_identified_dark: n[4],
        visits_estimated_dark: n[5],
        share_events: n[6],
        address_bar_shares: n[7],
        share_visits: n[8],
        shares_by_share_visits: n[9],
        resharing_visits: n[10],
        ..Aggregates::default()
    }
}

/// Rows whose visitor counts are estimates (from [`EXACT_VISITORS_BELOW`] distinct
/// visitors in the report on): an estimate above the row's visits is brought down to
/// them, since every visitor made at least one visit. Exact counts are left as counted.
///
/// [`EXACT_VISITORS_BELOW`]: crate::events::EXACT_VISITORS_BELOW
pub(crate) fn cap_estimated_visitors(rows: &mut [(String, Aggregates)]) {
    let total: u64 = rows.iter().map(|(_, a)| a.visitors.max(a.visits)).sum();
    if total < crate::events::EXACT_VISITORS_BELOW {
        return;
    }
    for (_, a) in rows.iter_mut() {
        if a.visits > 0 && a.visitors > a.visits {
            a.visitors = a.visits;
        }
    }
}

/// A back end's two report queries; every report is composed from them below.
pub(crate) trait Reports {
    /// Event-level numbers per group key ([`event_level_sql`]).
    fn event_level(
        &self,
        q: &ReportQuery,
        group: Group<'_>,
    ) -> Result<Vec<(String, Aggregates)>, StoreError>;

    /// Visit-level numbers (visits, bounces, duration) per group key. A visit's
    /// pageviews and duration always count all of its events in the range; event filters
    /// and event-level groupings only decide *which* visits (and groups) it joins.
    fn visit_level(&self, q: &ReportQuery, group: Group<'_>) -> Result<SessionTotals, StoreError>;

    /// Event-level rows with the visit-level numbers merged in, if asked for.
    fn rows(
        &self,
        q: &ReportQuery,
        group: Group<'_>,
    ) -> Result<Vec<(String, Aggregates)>, StoreError> {
        let mut rows = self.event_level(q, group)?;
        if q.with_sessions {
            merge_sessions(&mut rows, &self.visit_level(q, group)?);
        }
        Ok(rows)
    }
}

pub(crate) fn aggregate(r: &impl Reports, q: &ReportQuery) -> Result<Aggregates, StoreError> {
    let rows = r.rows(q, Group::Total)?;
    Ok(rows.into_iter().next().map(|(_, a)| a).unwrap_or_default())
}

pub(crate) fn timeseries(
    r: &impl Reports,
    q: &ReportQuery,
    buckets: &[Bucket],
) -> Result<Vec<Aggregates>, StoreError> {
    if buckets.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = vec![Aggregates::default(); buckets.len()];
    for (k, a) in r.rows(q, Group::Buckets(buckets))? {
        if let Ok(i) = k.parse::<usize>() {
            if let Some(slot) = out.get_mut(i) {
                *slot = a;
            }
        }
    }
    Ok(out)
}

/// Ordered by visitors, pageviews, events (descending), then value; visit-level numbers
/// only for the page asked for.
pub(crate) fn breakdown(
    r: &impl Reports,
    q: &ReportQuery,
    property: &Property,
    limit: usize,
    offset: usize,
) -> Result<Vec<(String, Aggregates)>, StoreError> {
    let group = Group::Property(property);
    let mut rows = r.event_level(q, group)?;
    sort_breakdown(&mut rows);
    let mut rows: Vec<_> = rows.into_iter().skip(offset).take(limit).collect();
    if q.with_sessions && !rows.is_empty() {
        merge_sessions(&mut rows, &r.visit_level(q, group)?);
    }
    Ok(rows)
}

/// A breakdown by several dimensions at once ([`Group::Dims`]): each row's values (in
/// `dims` order; a time dimension's value is its bucket's index) and numbers, in
/// [`sort_breakdown`] order.
pub(crate) fn breakdown_dims(
    r: &impl Reports,
    q: &ReportQuery,
    dims: &[Dim],
    limit: usize,
    offset: usize,
) -> Result<Vec<(Vec<String>, Aggregates)>, StoreError> {
    let group = Group::Dims(dims);
    let mut rows = r.event_level(q, group)?;
    sort_breakdown(&mut rows);
    let mut rows: Vec<_> = rows.into_iter().skip(offset).take(limit).collect();
    if q.with_sessions && !rows.is_empty() {
        merge_sessions(&mut rows, &r.visit_level(q, group)?);
    }
    let sep = crate::events::PROP_SEP;
    Ok(rows
        .into_iter()
        .map(|(k, a)| (k.split(sep).map(str::to_string).collect(), a))
        .collect())
}

/// A breakdown's order: visitors, pageviews, events (descending), then value.
pub fn sort_breakdown(rows: &mut [(String, Aggregates)]) {
    rows.sort_by(|a, b| {
        b.1.visitors
            .cmp(&a.1.visitors)
            .then(b.1.pageviews.cmp(&a.1.pageviews))
            .then(b.1.events.cmp(&a.1.events))
            .then(a.0.cmp(&b.0))
    });
}

/// The rows of a conversion report, gathered from a back end's scans: one per (group,
/// channel group), in the order first seen.
pub(crate) struct Conversions<'g> {
    goals: &'g [GoalKind],
    rows: Vec<ConversionRow>,
    index: HashMap<(String, String), usize>,
}

impl<'g> Conversions<'g> {
    pub(crate) fn new(goals: &'g [GoalKind]) -> Self {
        Conversions {
            goals,
            rows: Vec::new(),
            index: HashMap::new(),
        }
    }

    fn row(&mut self, group: String, channel_group: String) -> &mut ConversionRow {
        let n = self.goals.len();
        let rows = &mut self.rows;
        let i = *self
            .index
            .entry((group.clone(), channel_group.clone()))
            .or_insert_with(|| {
                rows.push(ConversionRow {
                    group,
                    channel_group,
                    visits: 0,
                    goals: vec![GoalCounts::default(); n],
                });
                rows.len() - 1
            });
        &mut rows[i]
    }

    pub(crate) fn visits(&mut self, group: String, channel_group: String, visits: u64) {
        self.row(group, channel_group).visits = visits;
    }

    /// Goal `goal` (its index in the goals asked for) in a group.
    pub(crate) fn goal(
        &mut self,
        group: String,
        channel_group: String,
        goal: i64,
        converting_visits: u64,
        conversions: u64,
    ) {
        let row = self.row(group, channel_group);
        if let Some(c) = usize::try_from(goal)
            .ok()
            .and_then(|g| row.goals.get_mut(g))
        {
            c.converting_visits = converting_visits;
            c.conversions = conversions;
        }
    }

    /// The names of the event goals, the only ones that carry revenue.
    pub(crate) fn revenue_events(&self) -> Vec<&'g str> {
        self.goals
            .iter()
            .filter_map(|g| match g {
                GoalKind::Event(n) => Some(n.as_str()),
                GoalKind::Page(_) => None,
            })
            .collect()
    }

    /// Revenue of events named `name`, to every event goal of that name.
    pub(crate) fn revenue(
        &mut self,
        group: String,
        channel_group: String,
        name: &str,
        currency: &str,
        minor: i64,
    ) {
        let goals = self.goals;
        let row = self.row(group, channel_group);
        for (i, g) in goals.iter().enumerate() {
            if matches!(g, GoalKind::Event(n) if n == name) {
                row.goals[i].revenue.push((currency.to_string(), minor));
            }
        }
    }

    pub(crate) fn into_rows(self) -> Vec<ConversionRow> {
        self.rows
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn estimated_visitors_never_exceed_visits() {
        let row = |visitors, visits| {
            (
                String::new(),
                Aggregates {
                    visitors,
                    visits,
                    ..Aggregates::default()
                },
            )
        };
        let mut big = vec![row(30_500, 30_000), row(25_000, 26_000), row(10, 0)];
        cap_estimated_visitors(&mut big);
        let seen: Vec<(u64, u64)> = big.iter().map(|(_, a)| (a.visitors, a.visits)).collect();
        assert_eq!(seen, vec![(30_000, 30_000), (25_000, 26_000), (10, 0)]);
        // Exact counts (a small report) stay as counted.
        let mut small = vec![row(12, 10)];
        cap_estimated_visitors(&mut small);
        assert_eq!(small[0].1.visitors, 12);
    }

    use super::*;

    #[test]
    fn like_escapes() {
        assert_eq!(like_pattern("/blog/*"), "/blog/%");
        assert_eq!(like_pattern("a_b%c"), "a\\_b\\%c");
        assert_eq!(like_literal("50%*_"), "50\\%*\\_");
    }
}
