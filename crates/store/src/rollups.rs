//! Daily rollups, what every back end shares (ARCHITECTURE.md, "Reports at publisher
//! scale"): the dimensions and pairs a day is rolled up by, how local days lie on UTC
//! days, which queries rollups can answer (`Shape`), how much of a range they answer
//! (`plan`), the SQL that reads them back, and how rolled-up days and the raw part of a
//! range are added (`rows`, `timeseries`).
//!
//! Each back end builds the days and reads its tables through [`Rolled`]
//! (`duck::rollup`/`duck::hybrid` on DuckDB, `click::rollup` on ClickHouse).
//!
//! Exact because visitor ids change at every UTC midnight: a distinct count within one
//! (UTC day, local day) slice, summed over slices, is the distinct count of the run.
//! Visitors stay exact across the seam between rolled-up days and the raw part: the raw
//! part counts only the ids it does not share with the rows before the seam since the
//! start of the UTC day before it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use lucarne_core::stats::{Aggregates, Bucket, Property, ReportQuery};

use crate::events::{ConversionGroup, StoreError};

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

/// Pairs of dimensions rolled up together, for a breakdown by one filtered by one value
/// of the other: every panel of the overview filtered by a channel group (the filter
/// Lucarne is about; its private apps among them), by an entry page, by a UTM source or
/// by a page (the other filters the overview is most often narrowed by), and, read the
/// other way round, its split of `Direct / None` by channel group. Stored under the dimension
/// `first>second`, the value `a` + U+001F + `b`; each pair of columns once.
pub const PAIRS: &[(&str, &str)] = &[
    ("visit:channel_group", "visit:channel"),
    ("visit:channel_group", "visit:evidence"),
    ("visit:channel_group", "visit:source"),
    ("visit:channel_group", "visit:entry_page"),
    ("visit:channel_group", "event:page"),
    ("visit:channel_group", "visit:utm_source"),
    ("visit:channel_group", "visit:utm_medium"),
    ("visit:channel_group", "visit:utm_campaign"),
    ("visit:channel_group", "visit:device"),
    ("visit:channel_group", "visit:browser"),
    ("visit:channel_group", "visit:os"),
    ("visit:channel_group", "visit:country"),
    ("visit:entry_page", "visit:channel"),
    ("visit:entry_page", "visit:evidence"),
    ("visit:entry_page", "visit:source"),
    ("visit:entry_page", "event:page"),
    ("visit:entry_page", "visit:utm_source"),
    ("visit:entry_page", "visit:utm_medium"),
    ("visit:entry_page", "visit:utm_campaign"),
    ("visit:entry_page", "visit:device"),
    ("visit:entry_page", "visit:browser"),
    ("visit:entry_page", "visit:country"),
    ("visit:utm_source", "visit:channel"),
    ("visit:utm_source", "visit:evidence"),
    ("visit:utm_source", "visit:source"),
    ("visit:utm_source", "event:page"),
    ("visit:utm_source", "visit:utm_medium"),
    ("visit:utm_source", "visit:utm_campaign"),
    ("visit:utm_source", "visit:device"),
    ("visit:utm_source", "visit:browser"),
    ("visit:utm_source", "visit:country"),
    ("event:page", "visit:channel"),
    ("event:page", "visit:evidence"),
    ("event:page", "visit:source"),
    ("event:page", "visit:utm_medium"),
    ("event:page", "visit:utm_campaign"),
    ("event:page", "visit:device"),
    ("event:page", "visit:browser"),
    ("event:page", "visit:os"),
    ("event:page", "visit:country"),
];

/// The columns `event:page` is paired with, in [`PAIRS`]' order. A visitor of a visit
/// carried into a day who views a page there is new to a row (`carried_new`) unless the
/// same visitor id viewed that page *in that row* the day before: for the page alone, any
/// row of the page; for a pair, a row with the same value of the partner column. Keyed by
/// visitor, not by visit: the id's other visits of the day before count as well.
pub fn page_partners() -> Vec<&'static str> {
    PAIRS
        .iter()
        .filter_map(|(a, b)| match (*a == "event:page", *b == "event:page") {
            (false, true) => column_of(a),
            (true, false) => column_of(b),
            _ => None,
        })
        .collect()
}

/// The stored column of a rolled-up dimension.
pub fn column_of(dim: &str) -> Option<&'static str> {
    DIMENSIONS.iter().find(|(n, _)| *n == dim).map(|(_, c)| *c)
}

/// The dimension name a pair is stored under.
pub fn pair_dim(first: &str, second: &str) -> String {
    format!("{first}>{second}")
}

/// The definition of the rollups (their dimensions, pairs and counts). A day built by
/// another is rebuilt, and not read meanwhile: raise it whenever what a day's rows hold
/// changes.
///
/// 4: a visit counts as begun on a UTC day when it has a row there (not a server-side
/// one) and none in the [`BEGUN_LOOKBACK`] before its midnight, instead of when its entry
/// row is there: retention cutting a day in the middle deletes entry rows, and the kept
/// rows of such a visit were counted as carried, their visitor twice.
///
/// 5: a carried visitor is new to a page row (`carried_new`) when its visitor id, in any
/// visit, did not have that row the day before (see [`page_partners`]), instead of when
/// the carried visit had not: a visitor with a second visit that day counted twice, and
/// a pair's row missed a visitor whose other visit had another value.
///
/// 6: each pair's rows in a table of its own on DuckDB (migration 0012 drops the shared
/// ones).
///
/// 7: a page filter from rollups: the page's pairs with every other visit dimension, the
/// distinct visits of page rows (`dvisits`…, with their overlap with the day before,
/// `…_seen`), and visit-level rows per page (migration 0013).
pub const VERSION: i32 = 7;

/// A visit carried past a UTC midnight has a row within the visit timeout (30 minutes)
/// before it; two hours here, as in [`lookback`], for rows that arrive late. A visit with
/// no row there began on the day (its visitor id is the day's).
pub const BEGUN_LOOKBACK: Duration = Duration::hours(2);

/// How long after its UTC day ends a day is taken as closed: a visit still going at
/// midnight has ended by then (the visit timeout).
pub const CLOSE_AFTER_MINUTES: i64 = 30;

/// Is the switch on (`LUCARNE_ROLLUPS=off` turns reading rollups off).
pub(crate) fn enabled() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        !std::env::var("LUCARNE_ROLLUPS").is_ok_and(|v| v.eq_ignore_ascii_case("off"))
    })
}

/// The date `n` days after 1970-01-01 (how queries here return dates).
pub(crate) fn epoch_day(n: i64) -> NaiveDate {
    NaiveDate::default() + Duration::days(n)
}

/// The instant UTC day `d` starts at.
pub(crate) fn day_start(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_time(NaiveTime::MIN))
}

/// Is UTC day `d` closed at `now` (its visits have ended).
pub(crate) fn closed(d: NaiveDate, now: DateTime<Utc>) -> bool {
    day_start(d) + Duration::days(1) + Duration::minutes(CLOSE_AFTER_MINUTES) <= now
}

/// The UTC instant local day `d` starts at in `tz`, if that midnight exists.
pub(crate) fn local_midnight(tz: Tz, d: NaiveDate) -> Option<DateTime<Utc>> {
    tz.from_local_datetime(&d.and_time(NaiveTime::MIN))
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The UTC instant local day `d` starts at in `tz` (its UTC midnight if the local one
/// does not exist).
fn local_start(tz: Tz, d: NaiveDate) -> DateTime<Utc> {
    local_midnight(tz, d).unwrap_or_else(|| day_start(d))
}

/// The local midnight inside UTC day `day` in `tz`, if one falls strictly inside it (none
/// for UTC itself), and the local dates before and after it.
pub(crate) fn local_split(
    day: NaiveDate,
    tz: Tz,
) -> (NaiveDate, Option<(DateTime<Utc>, NaiveDate)>) {
    let start = day_start(day);
    let end = start + Duration::days(1);
    let first = start.with_timezone(&tz).date_naive();
    let next = first + Duration::days(1);
    match local_midnight(tz, next) {
        Some(m) if m > start && m < end => (first, Some((m, next))),
        _ => (first, None),
    }
}

/// The start of the last slice of UTC day `day` in `tz` (its local midnight, or the day's
/// start when there is none).
pub(crate) fn last_slice_start(day: NaiveDate, tz: Tz) -> DateTime<Utc> {
    match local_split(day, tz).1 {
        Some((m, _)) => m,
        None => day_start(day),
    }
}

/// What a query asks of the rollups.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// The rollup dimension read ('' for the totals, or a pair).
    dim: String,
    /// For a pair: the filtered dimension's value, and whether it is the pair's second.
    within: Option<(String, bool)>,
    /// For the totals of one filtered dimension: the row that is the answer.
    pick: Option<String>,
    /// For a breakdown filtered by one of its own values: the only row kept.
    keep: Option<String>,
    /// The column a row of the raw part is keyed by (None: the totals).
    pub(crate) key: Option<&'static str>,
    /// The filter, for the raw part: (column, value).
    pub(crate) filter: Option<(&'static str, String)>,
    pub(crate) with_sessions: bool,
    /// Under an event filter (a page): visits and dark visits are the distinct visits with
    /// a matching row (`report::event_level_sql`), read from the `dvisits` columns.
    pub(crate) distinct: bool,
}

impl Shape {
    /// Is the raw part keyed or filtered by an event-level column (a page): a visit
    /// carried past midnight may view it again hours later.
    pub(crate) fn event_level(&self) -> bool {
        self.key == Some("pathname") || self.filter.as_ref().is_some_and(|(c, _)| *c == "pathname")
    }
}

impl Shape {
    /// The shape of `q` grouped by `group` (None: the totals), if rollups can answer it:
    /// no share-graph numbers, at most one filter (one value of a rolled-up dimension:
    /// then the totals are that dimension's row, and a breakdown is read from a pair),
    /// and a rolled-up grouping. Visit-level numbers only for the totals and the visit
    /// dimensions, and not for a breakdown under a page filter.
    pub(crate) fn of(q: &ReportQuery, group: Option<&Property>) -> Option<Shape> {
        // The same filter given twice (the overview's private apps, on a view filtered
        // by private messages) is one filter.
        if !q.conditions.is_empty() {
            return None;
        }
        let distinct = q.has_event_filters();
        let mut filters = q.filters.clone();
        filters.dedup();
        let by = group.map(|p| p.name());
        // A filter on the grouping itself keeps one of its rows (the channel groups, or
        // the overview's split of `Direct / None`, on a view filtered by a channel group).
        let mut keep = None;
        let own = filters
            .iter()
            .position(|f| Some(f.property.name()) == by && !f.negated && f.exact_value().is_some());
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
        if q.with_sessions
            && by
                .as_deref()
                .is_some_and(|n| !n.starts_with("visit:") || distinct)
        {
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
                distinct,
            });
        };
        let fname = f.property.name();
        let value = f.exact_value()?;
        if f.negated || !(fname.starts_with("visit:") || fname == "event:page") {
            return None;
        }
        let fcol = column_of(&fname)?;
        let value = value.to_string();
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
                distinct,
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
                    distinct,
                })
            }
        }
    }
}

/// The part of a range rollups answer: local days `first..=last` of `tz`; raw events
/// answer `[tail, to)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    tz: Tz,
    first: NaiveDate,
    last: NaiveDate,
    tail: DateTime<Utc>,
}

impl Plan {
    /// The first and last local day read from rollups.
    pub(crate) fn days(&self) -> (NaiveDate, NaiveDate) {
        (self.first, self.last)
    }
}

/// What was built of a site's UTC days: per day, the zone and `through` of its current
/// build (of this `VERSION`), and the newest mark of each marked day.
#[derive(Debug, Default)]
pub(crate) struct Days {
    pub(crate) built: HashMap<NaiveDate, (String, i64)>,
    pub(crate) marked: HashMap<NaiveDate, i64>,
    /// A build covers a mark when its `through` is at least the mark (a sequence number,
    /// DuckDB) or, with `strict`, after it (server seconds, ClickHouse: a mark written in
    /// the second a build began may be one it did not see).
    pub(crate) strict: bool,
}

impl Days {
    /// Is the build of `d` clean: no mark of `d` or of the day before it is newer.
    fn clean(&self, d: NaiveDate, through: i64) -> bool {
        let newest = [d, d - Duration::days(1)]
            .iter()
            .filter_map(|x| self.marked.get(x))
            .max()
            .copied();
        match newest {
            None => true,
            Some(m) if self.strict => through > m,
            Some(m) => through >= m,
        }
    }

    /// Can day `d` be read from rollups built in `tz`: built there and clean, or never
    /// given a row.
    fn usable(&self, d: NaiveDate, tz: &str) -> bool {
        match self.built.get(&d) {
            Some((z, through)) => z == tz && self.clean(d, *through),
            None => !self.marked.contains_key(&d),
        }
    }
}

/// The marked or built days of every site (`Days` keyed by site) that need a build at
/// `now`: closed, and never built, built in another zone than the site's, or marked
/// since; newest first.
pub(crate) fn dirty_days(
    days: &HashMap<u32, Days>,
    zones: &[(u32, Tz)],
    now: DateTime<Utc>,
) -> Vec<(NaiveDate, u32, Tz)> {
    let mut dirty: Vec<(NaiveDate, u32, Tz)> = Vec::new();
    for (site, tz) in zones {
        let Some(s) = days.get(site) else { continue };
        let all: BTreeSet<NaiveDate> = s.marked.keys().chain(s.built.keys()).copied().collect();
        for d in all {
            let clean = s
                .built
                .get(&d)
                .is_some_and(|(z, through)| z == tz.name() && s.clean(d, *through));
            if closed(d, now) && !clean {
                dirty.push((d, *site, *tz));
            }
        }
    }
    dirty.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    dirty
}

/// How a back end reads its rollups and its raw events for [`rows`] and [`timeseries`].
pub(crate) trait Rolled {
    /// The builds and marks of `site_id`'s UTC days `d0 - 1..=d1`.
    fn days(&self, site_id: u32, d0: NaiveDate, d1: NaiveDate) -> Result<Days, StoreError>;
    /// Does this back end's build hold the distinct visits of page rows (`dvisits`…):
    /// without them a page filter reads raw events.
    fn distinct_visits(&self) -> bool;
    /// `dim`'s rows over the local days `from..=to` of `tz` ([`breakdown_sql`]).
    #[allow(clippy::too_many_arguments)]
    fn rolled(
        &self,
        site_id: u32,
        dim: &str,
        within: Option<(&str, bool)>,
        tz: Tz,
        from: NaiveDate,
        to: NaiveDate,
        distinct: bool,
    ) -> Result<Vec<(String, Aggregates)>, StoreError>;
    /// The rows of [`daily_sql`].
    fn daily_rows(
        &self,
        site_id: u32,
        row: (&str, &str),
        from: NaiveDate,
        to: NaiveDate,
        distinct: bool,
    ) -> Result<Vec<DayRow>, StoreError>;
    /// The raw part `[seam, to)` of a range starting at `from`, keyed like the rollups:
    /// its visitors leave out the (id, key) pairs already counted before the seam (see
    /// [`lookback`]);
    /// its visit-level numbers count the visits begun in it. `now` is the report's clock
    /// (a back end may keep the part of the tail that no longer changes).
    fn tail(
        &self,
        site_id: u32,
        shape: &Shape,
        range: (DateTime<Utc>, DateTime<Utc>, DateTime<Utc>),
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, Aggregates)>, StoreError>;
    /// The raw report's timeseries and totals.
    fn raw_timeseries(&self, q: &ReportQuery, b: &[Bucket]) -> Result<Vec<Aggregates>, StoreError>;
    fn raw_aggregate(&self, q: &ReportQuery) -> Result<Aggregates, StoreError>;
}

/// Where the raw part's seen (visitor, key) pairs are looked for, before `seam`: from
/// `long` for the visitors of the raw part's server-side rows and for an event-level key
/// (a visit carried past midnight may view a page it viewed hours before), from `short`
/// for the others. An id lives for one UTC day, and a visit carried past its UTC
/// midnight keeps it: before a seam at a UTC midnight, only such a visit shares ids with
/// the raw part, and it has a row within the visit timeout (30 minutes; two hours here,
/// for rows that arrive late) before the seam; before a seam inside a UTC day, that day's
/// rows. A server-side conversion carries its visit's id, whenever it is reported.
pub(crate) fn lookback(
    from: DateTime<Utc>,
    seam: DateTime<Utc>,
    event_level: bool,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let day = day_start(seam.date_naive());
    let long = from.max(day - Duration::days(1));
    if event_level {
        return (long, long);
    }
    let short = from.max(day.min(seam - Duration::hours(2)));
    (long, short)
}

/// How much of `[from, to)` rollups answer, at `now`: the longest run of local days from
/// `from` (a local midnight of the zone the days were built in) whose UTC days are closed
/// and clean.
pub(crate) fn plan(
    r: &impl Rolled,
    site_id: u32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<Plan>, StoreError> {
    if from >= to {
        return Ok(None);
    }
    let days = r.days(site_id, from.date_naive(), to.date_naive())?;
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
                .all(|u| closed(u, now) && days.usable(u, zone));
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
pub(crate) fn add(a: &mut Aggregates, b: &Aggregates) {
    a.add(b);
}

/// The rows of `shape` over `[q.from, q.to)`: rolled-up days and the raw tail, per value.
/// None when rollups cannot answer (then the caller reads raw events).
pub(crate) fn rows(
    r: &impl Rolled,
    q: &ReportQuery,
    shape: &Shape,
    now: DateTime<Utc>,
) -> Result<Option<Vec<(String, Aggregates)>>, StoreError> {
    if shape.distinct && !r.distinct_visits() {
        return Ok(None);
    }
    let Some(p) = plan(r, q.site_id, q.from, q.to, now)? else {
        return Ok(None);
    };
    let mut out: BTreeMap<String, Aggregates> = BTreeMap::new();
    let within = shape
        .within
        .as_ref()
        .map(|(v, second)| (v.as_str(), *second));
    for (k, a) in r.rolled(
        q.site_id,
        &shape.dim,
        within,
        p.tz,
        p.first,
        p.last,
        shape.distinct,
    )? {
        let k = match &shape.pick {
            Some(v) if *v == k => String::new(),
            Some(_) => continue,
            None => k,
        };
        add(out.entry(k).or_default(), &a);
    }
    if p.tail < q.to {
        for (k, a) in r.tail(q.site_id, shape, (q.from, p.tail, q.to), now)? {
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

/// Visits per (group, channel group) of a conversion report.
pub(crate) type GroupVisits = Vec<(String, String, u64)>;

/// The visits of each channel group from rollups (and the raw rest), for a conversion
/// report grouped by nothing or by the channel group: None when rollups cannot answer.
pub(crate) fn visits_by_channel_group(
    r: &impl Rolled,
    q: &ReportQuery,
    group: &ConversionGroup,
    now: DateTime<Utc>,
) -> Result<Option<GroupVisits>, StoreError> {
    let by = match group {
        ConversionGroup::Total => false,
        ConversionGroup::Property(p) if p.name() == "visit:channel_group" => true,
        _ => return Ok(None),
    };
    let Ok(cg) = Property::parse("visit:channel_group") else {
        return Ok(None);
    };
    let plain = ReportQuery {
        conditions: Vec::new(),
        with_sessions: false,
        with_shares: false,
        ..q.clone()
    };
    // The conversion report's visits are entry rows even under a page filter (its raw
    // query), not the distinct visits a page filter's rows hold.
    let Some(shape) = Shape::of(&plain, Some(&cg)).filter(|s| !s.distinct) else {
        return Ok(None);
    };
    Ok(rows(r, &plain, &shape, now)?.map(|rows| {
        rows.into_iter()
            .map(|(k, a)| {
                let g = if by { k.clone() } else { String::new() };
                (g, k, a.visits)
            })
            .collect()
    }))
}

/// The totals per bucket, when every bucket is a run of whole local days and rollups
/// answer the first; None otherwise (then the caller reads raw events).
pub(crate) fn timeseries(
    r: &impl Rolled,
    q: &ReportQuery,
    buckets: &[Bucket],
    now: DateTime<Utc>,
) -> Result<Option<Vec<Aggregates>>, StoreError> {
    let Some(shape) = Shape::of(q, None) else {
        return Ok(None);
    };
    if buckets.is_empty() || (shape.distinct && !r.distinct_visits()) {
        return Ok(None);
    }
    let Some(p) = plan(r, q.site_id, q.from, q.to, now)? else {
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
        let row = (shape.dim.as_str(), shape.pick.as_deref().unwrap_or(""));
        let by_day = daily_totals(
            r.daily_rows(q.site_id, row, p.first, p.last, shape.distinct)?,
            shape.distinct,
        );
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
            let got = r.raw_timeseries(&tail_q, &tail_b)?;
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
            out[i] = match rows(r, &bq, &shape, now)? {
                Some(x) => x.into_iter().next().map(|(_, a)| a).unwrap_or_default(),
                None => r.raw_aggregate(&bq)?,
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

/// How a back end's SQL writes what the reading queries need.
pub(crate) trait RollupSql {
    /// A date literal.
    fn date(d: NaiveDate) -> String;
    /// A string literal.
    fn text(s: &str) -> String;
    /// The sum of `col` over the rows where `cond` holds (0 when none does).
    fn sum_if(col: &str, cond: &str) -> String;
    /// Casts to what the row reader takes (64-bit integer, double).
    fn int(e: &str) -> String;
    fn float(e: &str) -> String;
    /// The day number (days after 1970-01-01) of a date column.
    fn day_num(col: &str) -> String;
    /// `col` begins (or, with `second`, ends) with the literal `part`.
    fn affix(col: &str, part: &str, second: bool) -> String;
    /// The condition of a whole-UTC-day row (and of a slice's row: its negation).
    const WHOLE: &'static str;
    const SLICE: &'static str;
    /// The table of a dimension's rows.
    fn table(dim: &str) -> String;
}

/// How the local days `from..=to` of `tz` lie on UTC days: the first and last UTC day
/// they touch, and whether each of those is only partly inside (then its rows by slice
/// are read).
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
        let midnight = |t: DateTime<Utc>| t.time() == NaiveTime::MIN;
        Span {
            first: t0.date_naive(),
            last: (t1 - Duration::microseconds(1)).date_naive(),
            first_partial: !midnight(t0),
            last_partial: !midnight(t1),
        }
    }
}

/// The integer columns of a rollup row that are plain sums over its slices, in the order
/// the reading queries return them (then the duration).
const SUMS: &[&str] = &[
    "visits",
    "pageviews",
    "events",
    "ident",
    "est",
    "s_visits",
    "bounces",
];

/// The SQL of `dim`'s rows over the local days `from..=to` of `tz` (every UTC day they
/// touch must be rolled up in `tz`); `dim` '' gives the totals under the key ''. Columns:
/// value, visitors, visits, pageviews, events, identified and estimated dark visits,
/// visits begun, bounces, duration. With `within`, the value's part to strip (the
/// filtered value and the separator). `current` restricts the rows to the current builds
/// (ClickHouse keeps a day's older builds until they are deleted).
///
/// Visits, pageviews, events and dark visits are the sums of the days' slices. Visitors
/// are counted once each, by the UTC day their id belongs to: the whole-day `born` of the
/// UTC days wholly inside, the slice's `born` of a partly covered first or last UTC day,
/// and the `carried` visitors of the first UTC day (visits begun before the range and
/// still going in it; whole day or slice). A visit that ended more than a day after it
/// began, or a first slice shorter than the visit timeout, would be counted off by one:
/// neither occurs with a 30-minute timeout and whole-hour or half-hour zones.
///
/// `within` keeps the rows of a pair dimension whose first value (or second, with
/// `true`) is the one given, and gives them keyed by the other. With `distinct` (a page
/// filter), visits and dark visits are the distinct visits with a row: each UTC day's
/// own (`dvisits`…, by the same rule as `born`), less the carried visits that had the
/// same row the day before (`…_seen`, by the same rule as `carried_new`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn breakdown_sql<D: RollupSql>(
    site_id: u32,
    dim: &str,
    within: Option<(&str, bool)>,
    tz: Tz,
    from: NaiveDate,
    to: NaiveDate,
    current: &str,
    distinct: bool,
) -> (String, Option<String>) {
    let sp = Span::of(tz, from, to);
    let date = D::date;
    let (whole, slice_only) = (D::WHOLE, D::SLICE);
    // Rows of a slice inside the range; whole-day rows of the UTC days wholly inside.
    let slice = format!(
        "{slice_only} AND local_day >= {} AND local_day <= {}",
        date(from),
        date(to)
    );
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
    let interior = |a: NaiveDate, b: NaiveDate| {
        format!(
            "{whole} AND utc_day >= {} AND utc_day <= {}",
            date(a),
            date(b)
        )
    };
    let mut born = format!("({})", interior(i0, i1));
    for (partial, d) in [(sp.first_partial, sp.first), (sp.last_partial, sp.last)] {
        if partial {
            born.push_str(&format!(" OR (utc_day = {} AND {slice})", date(d)));
        }
    }
    let carried = if sp.first_partial {
        format!("utc_day = {} AND {slice}", date(sp.first))
    } else {
        format!("utc_day = {} AND {whole}", date(sp.first))
    };
    // Visits carried into the days after the first that saw a value only there (pages):
    // whole-day rows of interior days, the slice of a partial last day; measured against
    // the day before's last slice when that day is the partial first day.
    let after = sp.first + Duration::days(1);
    let late_day = sp.first_partial.then_some(after);
    let n0 = if sp.first_partial {
        after + Duration::days(1)
    } else {
        after
    };
    // The rows of the days after the first, each with whether it is measured against the
    // day before's last slice (`_late`).
    let mut later: Vec<(bool, String)> = Vec::new();
    if n0 <= i1 {
        later.push((false, interior(n0, i1)));
    }
    if let Some(d) = late_day.filter(|d| *d <= i1) {
        later.push((true, format!("{whole} AND utc_day = {}", date(d))));
    }
    if sp.last_partial && sp.last > sp.first {
        later.push((
            late_day == Some(sp.last),
            format!("utc_day = {} AND {slice}", date(sp.last)),
        ));
    }
    let late = |col: &str, l: bool| {
        if l {
            format!("{col}_late")
        } else {
            col.to_string()
        }
    };
    let mut visitors = vec![D::sum_if("born", &born), D::sum_if("carried", &carried)];
    visitors.extend(
        later
            .iter()
            .map(|(l, c)| D::sum_if(&late("carried_new", *l), c)),
    );
    // Distinct visits (under a page filter): each UTC day's (whole, or the slice of a
    // partial edge day), less those that had the row the day before.
    let distinct_sum = |col: &str| {
        let mut e = D::int(&D::sum_if(col, &born));
        for (l, c) in &later {
            let seen = late(&format!("{col}_seen"), *l);
            e.push_str(&format!(" - {}", D::int(&D::sum_if(&seen, c))));
        }
        D::int(&e)
    };
    let sums: Vec<String> = SUMS
        .iter()
        .map(|c| match (distinct, *c) {
            (true, "visits") => distinct_sum("dvisits"),
            (true, "ident") => distinct_sum("dident"),
            (true, "est") => distinct_sum("dest"),
            _ => D::int(&D::sum_if(c, &slice)),
        })
        .collect();
    let part = within.map(|(w, second)| {
        if second {
            format!("\u{1f}{w}")
        } else {
            format!("{w}\u{1f}")
        }
    });
    let prefix = match (&part, within) {
        (Some(p), Some((_, second))) => format!(" AND {}", D::affix("value", &D::text(p), second)),
        _ => String::new(),
    };
    let sql = format!(
        "SELECT value, {visitors}, {sums}, {duration}
         FROM {table} WHERE site_id = {site_id} AND dim = {dim} AND utc_day >= {u0} AND utc_day <= {u1}{prefix}{current}
         GROUP BY value",
        visitors = D::int(&visitors.join(" + ")),
        sums = sums.join(", "),
        duration = D::float(&D::sum_if("duration", &slice)),
        table = D::table(dim),
        dim = D::text(dim),
        u0 = date(sp.first),
        u1 = date(sp.last),
    );
    (sql, part)
}

/// A value read back from a pair's row: without the filtered value's part.
pub(crate) fn strip_part(value: String, part: Option<&str>, second: bool) -> String {
    match part {
        Some(p) if second => value.strip_suffix(p).map(str::to_string).unwrap_or(value),
        Some(p) => value.strip_prefix(p).map(str::to_string).unwrap_or(value),
        None => value,
    }
}

/// One (local day, UTC day) slice's sums of one row ([`daily_sql`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DayRow {
    pub(crate) local_day: NaiveDate,
    pub(crate) utc_day: NaiveDate,
    pub(crate) born: u64,
    pub(crate) carried: u64,
    /// Everything but visitors.
    pub(crate) sums: Aggregates,
    /// Read only with `distinct`: carried visitors new to the row since the day before's
    /// last slice, the distinct visits (all, identified and estimated dark) and those
    /// that had the row in the day before's last slice.
    pub(crate) carried_new_late: u64,
    pub(crate) dvisits: [u64; 3],
    pub(crate) dvisits_seen_late: [u64; 3],
}

/// The extra columns of [`daily_sql`] with `distinct`, in order.
pub(crate) const DAILY_DISTINCT: &[&str] = &[
    "carried_new_late",
    "dvisits",
    "dident",
    "dest",
    "dvisits_seen_late",
    "dident_seen_late",
    "dest_seen_late",
];

/// The SQL of the (local day, UTC day) slices of one row of the rollups over the local
/// days `from..=to`: ('', '') for the totals, or one value of a rolled-up dimension (a
/// filter on it). Columns: local day and UTC day numbers, born, carried, visits,
/// pageviews, events, identified and estimated dark visits, visits begun, bounces,
/// duration; with `distinct`, then [`DAILY_DISTINCT`].
pub(crate) fn daily_sql<D: RollupSql>(
    site_id: u32,
    row: (&str, &str),
    from: NaiveDate,
    to: NaiveDate,
    current: &str,
    distinct: bool,
) -> String {
    let sum = |c: &&str| D::int(&format!("sum({c})"));
    let sums = ["born", "carried"]
        .iter()
        .chain(SUMS)
        .map(sum)
        .collect::<Vec<_>>()
        .join(", ");
    let extra: String = if distinct {
        DAILY_DISTINCT
            .iter()
            .map(|c| format!(", {}", sum(c)))
            .collect()
    } else {
        String::new()
    };
    format!(
        "SELECT {ld}, {ud}, {sums}, {duration}{extra}
         FROM {table} WHERE site_id = {site_id} AND dim = {dim} AND value = {value} AND {slice}
           AND local_day >= {from} AND local_day <= {to}
           AND utc_day >= {u0} AND utc_day <= {u1}{current}
         GROUP BY local_day, utc_day",
        ld = D::int(&D::day_num("local_day")),
        ud = D::int(&D::day_num("utc_day")),
        duration = D::float("sum(duration)"),
        table = D::table(""),
        dim = D::text(row.0),
        value = D::text(row.1),
        slice = D::SLICE,
        from = D::date(from),
        to = D::date(to),
        u0 = D::date(from - Duration::days(1)),
        u1 = D::date(to + Duration::days(1)),
    )
}

/// The totals of each local day from its slices: the `born` of its slices and the
/// `carried` of its first slice with rows (a visit carried into the second slice had rows
/// in the first, unless that one is empty, as [`breakdown_sql`] counts a one-day run),
/// and the `carried_new_late` of a second slice (a page's visitors). With `distinct`,
/// visits and dark visits are the distinct visits of the slices, less those of a second
/// slice that had the row in the first.
pub(crate) fn daily_totals(rows: Vec<DayRow>, distinct: bool) -> HashMap<NaiveDate, Aggregates> {
    let mut first: HashMap<NaiveDate, NaiveDate> = HashMap::new();
    for r in &rows {
        if r.sums.visits + r.sums.events > 0 {
            let f = first.entry(r.local_day).or_insert(r.utc_day);
            *f = (*f).min(r.utc_day);
        }
    }
    let mut out: HashMap<NaiveDate, Aggregates> = HashMap::new();
    let mut dark: HashMap<NaiveDate, [i64; 3]> = HashMap::new();
    for r in rows {
        let a = out.entry(r.local_day).or_default();
        add(a, &r.sums);
        a.visitors += r.born;
        let is_first = first.get(&r.local_day) == Some(&r.utc_day);
        if is_first {
            a.visitors += r.carried;
        } else {
            a.visitors += r.carried_new_late;
        }
        if distinct {
            let d = dark.entry(r.local_day).or_default();
            for ((n, v), s) in d.iter_mut().zip(r.dvisits).zip(r.dvisits_seen_late) {
                let seen = if is_first { 0 } else { s };
                *n += v as i64 - seen as i64;
            }
        }
    }
    for (day, [v, i, e]) in dark {
        if let Some(a) = out.get_mut(&day) {
            a.visits = v.max(0) as u64;
            a.visits_identified_dark = i.max(0) as u64;
            a.visits_estimated_dark = e.max(0) as u64;
        }
    }
    out
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

    #[test]
    fn a_page_filter_is_read_from_page_rows_and_pairs() {
        let page = |with_sessions: bool| ReportQuery {
            site_id: 1,
            from: Utc::now(),
            to: Utc::now(),
            filters: vec![lucarne_core::stats::Filter::is(
                Property::parse("event:page").expect("page"),
                vec!["/pricing".into()],
            )],
            conditions: Vec::new(),
            with_sessions,
            with_shares: false,
        };
        let prop = |p: &str| Property::parse(p).expect("property");
        // The totals: the page's own row, visit level included.
        let s = Shape::of(&page(true), None).expect("totals");
        assert_eq!(
            (s.dim.as_str(), s.pick.as_deref()),
            ("event:page", Some("/pricing"))
        );
        assert!(s.distinct && s.event_level());
        // Every panel of the overview: a pair of the page.
        for (name, _) in DIMENSIONS.iter().filter(|(n, _)| n.starts_with("visit:")) {
            let s = Shape::of(&page(false), Some(&prop(name))).expect(name);
            assert!(s.distinct && s.within.is_some(), "{name}");
        }
        // The pages panel keeps the filter's own row.
        let s = Shape::of(&page(false), Some(&prop("event:page"))).expect("pages");
        assert_eq!(s.keep.as_deref(), Some("/pricing"));
        assert!(s.distinct);
        // No visit-level rows for a page's pairs: read raw.
        assert!(Shape::of(&page(true), Some(&prop("visit:channel"))).is_none());
        // A visit filter keeps entry rows as visits.
        let mut q = page(false);
        q.filters = vec![lucarne_core::stats::Filter::is(
            prop("visit:channel_group"),
            vec!["email".into()],
        )];
        assert!(!Shape::of(&q, None).expect("visit filter").distinct);
    }

    #[test]
    fn a_mark_in_the_second_a_build_began_is_dirty_when_strict() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap_or_default();
        let mut days = Days::default();
        days.marked.insert(d, 100);
        days.built.insert(d, ("UTC".into(), 100));
        assert!(days.usable(d, "UTC"));
        assert!(!days.usable(d, "Europe/Paris"));
        days.strict = true;
        assert!(!days.usable(d, "UTC"));
        // A mark of the day before counts too.
        days.strict = false;
        days.marked.insert(d - Duration::days(1), 101);
        assert!(!days.usable(d, "UTC"));
    }
}
