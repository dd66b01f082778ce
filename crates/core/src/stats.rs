//! The report query model, shared by every events store and by the stats API.
//!
//! A store answers *raw aggregates* (`Aggregates`: counts and sums); the metrics users
//! see (bounce rate, visit duration, dark share, …) are computed here from them, so two
//! back ends that agree on the raw numbers agree on every metric.

use chrono::{DateTime, Datelike, Days, Duration, Months, NaiveDate, NaiveTime, Utc};
use chrono_tz_shim::Tz;

/// Minimal time-zone abstraction so `core` stays independent of a tz database crate:
/// the caller passes a function from a local midnight to its UTC instant.
pub mod chrono_tz_shim {
    use chrono::{DateTime, NaiveDateTime, Utc};

    /// Converts a local wall-clock time to UTC (for the site's time zone).
    pub trait Tz {
        fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc>;
        fn local_date(&self, at: DateTime<Utc>) -> chrono::NaiveDate;
    }

    /// UTC itself.
    pub struct Utc0;

    impl Tz for Utc0 {
        fn to_utc(&self, local: NaiveDateTime) -> DateTime<Utc> {
            local.and_utc()
        }
        fn local_date(&self, at: DateTime<Utc>) -> chrono::NaiveDate {
            at.date_naive()
        }
    }
}

pub use chrono_tz_shim::Utc0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Days7,
    Days30,
    Month,
    Months6,
    Months12,
    Custom(NaiveDate, NaiveDate),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    BadPeriod(String),
    BadDate(String),
    BadMetric(String),
    BadProperty(String),
    BadFilter(String),
    BadInterval(String),
    /// `limit` or `page` outside what a breakdown may ask for.
    BadPage(String),
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::BadPeriod(s) => write!(
                f,
                "unknown period `{s}` (day, 7d, 30d, month, 6mo, 12mo, custom)"
            ),
            QueryError::BadDate(s) => write!(
                f,
                "bad date `{s}` (YYYY-MM-DD, or YYYY-MM-DD,YYYY-MM-DD for custom)"
            ),
            QueryError::BadMetric(s) => write!(f, "unknown metric `{s}`"),
            QueryError::BadProperty(s) => write!(f, "unknown property `{s}`"),
            QueryError::BadFilter(s) => write!(
                f,
                "bad filter `{s}` (property==value, !=, | for alternatives, ; to combine)"
            ),
            QueryError::BadInterval(s) => write!(f, "unknown interval `{s}` (hour, date, month)"),
            QueryError::BadPage(s) => write!(
                f,
                "bad page `{s}` (`limit` 1 to {MAX_LIMIT}, `page` 1 to {MAX_PAGE})"
            ),
        }
    }
}

impl std::error::Error for QueryError {}

/// A date parameter, `YYYY-MM-DD` (chrono's whole range: a year may be signed, up to
/// ±262,142).
pub fn parse_date(s: &str) -> Result<NaiveDate, QueryError> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| QueryError::BadDate(s.into()))
}

impl Period {
    /// Parse Plausible's `period` with its `date` parameter.
    pub fn parse(period: &str, date: Option<&str>) -> Result<Period, QueryError> {
        Ok(match period {
            "day" => Period::Day,
            "7d" => Period::Days7,
            "30d" => Period::Days30,
            "month" => Period::Month,
            "6mo" => Period::Months6,
            "12mo" => Period::Months12,
            "custom" => {
                let d = date.ok_or_else(|| QueryError::BadDate(String::new()))?;
                let (a, b) = d
                    .split_once(',')
                    .ok_or_else(|| QueryError::BadDate(d.into()))?;
                let (a, b) = (parse_date(a)?, parse_date(b)?);
                if b < a {
                    return Err(QueryError::BadDate(d.into()));
                }
                Period::Custom(a, b)
            }
            other => return Err(QueryError::BadPeriod(other.into())),
        })
    }

    /// Inclusive local date range, given "today" (or the `date` parameter) in the site's
    /// zone. As in Plausible, `7d` and `30d` end with the reference day. A range that
    /// would leave chrono's calendar (years beyond ±262,142) is
    /// [`QueryError::BadDate`], never a panic.
    pub fn try_dates(self, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), QueryError> {
        let bad = || QueryError::BadDate(today.to_string());
        let days_back = |n: u64| today.checked_sub_days(Days::new(n)).ok_or_else(bad);
        Ok(match self {
            Period::Day => (today, today),
            Period::Days7 => (days_back(6)?, today),
            Period::Days30 => (days_back(29)?, today),
            Period::Month => {
                let first = first_of_month(today);
                (first, last_of_month(first).ok_or_else(bad)?)
            }
            Period::Months6 => (
                months_back(today, 5).ok_or_else(bad)?,
                last_of_month(today).ok_or_else(bad)?,
            ),
            Period::Months12 => (
                months_back(today, 11).ok_or_else(bad)?,
                last_of_month(today).ok_or_else(bad)?,
            ),
            Period::Custom(a, b) => (a, b),
        })
    }

    /// [`Period::try_dates`], cut to chrono's calendar where it would leave it (a `7d`
    /// ending on its first day starts on that day). Prefer `try_dates`, which says so.
    pub fn dates(self, today: NaiveDate) -> (NaiveDate, NaiveDate) {
        self.try_dates(today).unwrap_or_else(|_| {
            let months = match self {
                Period::Months6 => 5,
                Period::Months12 => 11,
                _ => 0,
            };
            let last = last_of_month(today).unwrap_or(NaiveDate::MAX);
            match self {
                Period::Day | Period::Days7 | Period::Days30 => (NaiveDate::MIN, today),
                Period::Month | Period::Months6 | Period::Months12 => {
                    (months_back(today, months).unwrap_or(NaiveDate::MIN), last)
                }
                Period::Custom(a, b) => (a, b),
            }
        })
    }

    /// The period of the same length just before `[from, to]` (for comparisons);
    /// [`QueryError::BadDate`] when it would start before chrono's first day.
    pub fn try_previous(
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<(NaiveDate, NaiveDate), QueryError> {
        let bad = || QueryError::BadDate(format!("{from},{to}"));
        let len = u64::try_from((to - from).num_days())
            .map_err(|_| bad())?
            .checked_add(1)
            .ok_or_else(bad)?;
        let start = from.checked_sub_days(Days::new(len)).ok_or_else(bad)?;
        let end = from.pred_opt().ok_or_else(bad)?;
        Ok((start, end))
    }

    /// [`Period::try_previous`], cut to chrono's calendar: before its first day there is
    /// nothing, and the previous period is that first day alone.
    pub fn previous(from: NaiveDate, to: NaiveDate) -> (NaiveDate, NaiveDate) {
        Self::try_previous(from, to).unwrap_or_else(|_| {
            let end = from.pred_opt().unwrap_or(NaiveDate::MIN);
            (NaiveDate::MIN, end)
        })
    }
}

fn first_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

/// The first day of the month `n` months before `d`'s (`None` outside chrono's range).
fn months_back(d: NaiveDate, n: u32) -> Option<NaiveDate> {
    first_of_month(d).checked_sub_months(Months::new(n))
}

/// The last day of `d`'s month (`None` in chrono's last month, whose end it cannot see
/// past).
fn last_of_month(d: NaiveDate) -> Option<NaiveDate> {
    first_of_month(d)
        .checked_add_months(Months::new(1))?
        .pred_opt()
}

/// The largest `limit` of a breakdown, and the last `page` it may ask for (a million
/// rows deep at the largest limit).
pub const MAX_LIMIT: usize = 1000;
pub const MAX_PAGE: usize = 1000;

/// A breakdown's `limit` (default 100, clamped to 1–[`MAX_LIMIT`]) and the row offset
/// of its `page` (default 1; 1–[`MAX_PAGE`], else [`QueryError::BadPage`]): never an
/// overflow, whatever the numbers.
pub fn paging(limit: Option<u64>, page: Option<u64>) -> Result<(usize, usize), QueryError> {
    let limit = usize::try_from(limit.unwrap_or(100))
        .unwrap_or(MAX_LIMIT)
        .clamp(1, MAX_LIMIT);
    let raw_page = page.unwrap_or(1);
    let page = usize::try_from(raw_page)
        .ok()
        .filter(|p| (1..=MAX_PAGE).contains(p))
        .ok_or_else(|| QueryError::BadPage(raw_page.to_string()))?;
    let offset = (page - 1)
        .checked_mul(limit)
        .ok_or_else(|| QueryError::BadPage(raw_page.to_string()))?;
    Ok((limit, offset))
}

/// UTC instants for local midnights.
pub fn local_midnight(tz: &dyn Tz, d: NaiveDate) -> DateTime<Utc> {
    tz.to_utc(d.and_time(NaiveTime::MIN))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    Visitors,
    Visits,
    Pageviews,
    ViewsPerVisit,
    BounceRate,
    VisitDuration,
    Events,
    /// Share of visits in the private-message and e-mail groups (identified) and in the
    /// estimated-dark group, reported apart.
    DarkShare,
    /// Share-graph metrics (README "Share cascades"): shares made (widget and copy
    /// events, plus address-bar tokens that brought a visit), visits that arrived through
    /// a share, visits per share, the share of share-visits that shared again, and new
    /// shares per share-visit (K-factor).
    Shares,
    ShareVisits,
    VisitsPerShare,
    ReshareRate,
    KFactor,
    /// Plausible's engagement metrics, from `engagement` events: the mean over visitors
    /// of the deepest scroll each reached (percent), and the time in the foreground per
    /// visitor who engaged (seconds). Reported for pages and in total.
    ScrollDepth,
    TimeOnPage,
    /// A row's visitors as a percentage of the visitors of the whole query (v2's
    /// `percentage`; one decimal; null when there are none).
    Percentage,
    /// Converting visitors as a percentage of all the query's visitors without its goal
    /// filters (Plausible's `conversion_rate`), or of its row's (`group_conversion_rate`).
    ConversionRate,
    GroupConversionRate,
}

impl Metric {
    pub const ALL: [Metric; 18] = [
        Metric::Visitors,
        Metric::Visits,
        Metric::Pageviews,
        Metric::ViewsPerVisit,
        Metric::BounceRate,
        Metric::VisitDuration,
        Metric::Events,
        Metric::DarkShare,
        Metric::Shares,
        Metric::ShareVisits,
        Metric::VisitsPerShare,
        Metric::ReshareRate,
        Metric::KFactor,
        Metric::ScrollDepth,
        Metric::TimeOnPage,
        Metric::Percentage,
        Metric::ConversionRate,
        Metric::GroupConversionRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Visitors => "visitors",
            Metric::Visits => "visits",
            Metric::Pageviews => "pageviews",
            Metric::ViewsPerVisit => "views_per_visit",
            Metric::BounceRate => "bounce_rate",
            Metric::VisitDuration => "visit_duration",
            Metric::Events => "events",
            Metric::DarkShare => "dark_share",
            Metric::Shares => "shares",
            Metric::ShareVisits => "share_visits",
            Metric::VisitsPerShare => "visits_per_share",
            Metric::ReshareRate => "reshare_rate",
            Metric::KFactor => "k_factor",
            Metric::ScrollDepth => "scroll_depth",
            Metric::TimeOnPage => "time_on_page",
            Metric::Percentage => "percentage",
            Metric::ConversionRate => "conversion_rate",
            Metric::GroupConversionRate => "group_conversion_rate",
        }
    }

    pub fn parse(s: &str) -> Result<Metric, QueryError> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| QueryError::BadMetric(s.into()))
    }

    pub fn parse_list(s: &str) -> Result<Vec<Metric>, QueryError> {
        let mut out = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let m = Metric::parse(part)?;
            if !out.contains(&m) {
                out.push(m);
            }
        }
        if out.is_empty() {
            out.push(Metric::Visitors);
        }
        Ok(out)
    }

    /// Estimated rather than exact (HyperLogLog distinct counting).
    pub fn is_estimate(self) -> bool {
        matches!(self, Metric::Visitors)
    }

    /// Needs the share-graph aggregates.
    pub fn needs_shares(self) -> bool {
        matches!(
            self,
            Metric::Shares
                | Metric::ShareVisits
                | Metric::VisitsPerShare
                | Metric::ReshareRate
                | Metric::KFactor
        )
    }

    /// Read from engagement events (`EventStore::engagement`).
    pub fn needs_engagement(self) -> bool {
        matches!(self, Metric::ScrollDepth | Metric::TimeOnPage)
    }

    /// Needs per-visit aggregation (grouping by session).
    pub fn needs_sessions(self) -> bool {
        matches!(self, Metric::BounceRate | Metric::VisitDuration)
    }
}

/// A property to break down or filter by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Property {
    Page,
    EntryPage,
    Name,
    Hostname,
    Source,
    Referrer,
    UtmSource,
    UtmMedium,
    UtmCampaign,
    UtmTerm,
    UtmContent,
    Device,
    Browser,
    Os,
    Country,
    Channel,
    ChannelGroup,
    Evidence,
    /// `visit:generation`: 0 for visits that arrived without a linked token.
    Generation,
    /// `visit:share_channel`: how the visit's token travelled (a share button,
    /// `address-bar`, `copied-text`).
    VisitShareChannel,
    /// `visit:token_status`: what became of the arrival token (`linked`, `own`,
    /// `foreign`, `unknown`, `malformed`; empty without one).
    TokenStatus,
    /// `event:share_channel`: the button of a `share` event (`copied-text` for `copy`).
    ShareChannel,
    /// `visit:link`: the tracked short link a visit came through (its id).
    Link,
    /// `event:link`: the short link of a `link_click`, `link_scan` or `preview` event.
    EventLink,
    /// `event:goal`: the site's goals. Never read from a column: the stats executor
    /// replaces it with each goal's condition (`core::query::goal_condition`).
    Goal,
    /// `event:props:<key>` — a custom property.
    Prop(String),
}

impl Property {
    const NAMED: [(&'static str, Property); 25] = [
        ("event:page", Property::Page),
        ("visit:entry_page", Property::EntryPage),
        ("event:name", Property::Name),
        ("event:hostname", Property::Hostname),
        ("visit:source", Property::Source),
        ("visit:referrer", Property::Referrer),
        ("visit:utm_source", Property::UtmSource),
        ("visit:utm_medium", Property::UtmMedium),
        ("visit:utm_campaign", Property::UtmCampaign),
        ("visit:utm_term", Property::UtmTerm),
        ("visit:utm_content", Property::UtmContent),
        ("visit:device", Property::Device),
        ("visit:browser", Property::Browser),
        ("visit:os", Property::Os),
        ("visit:country", Property::Country),
        ("visit:channel", Property::Channel),
        ("visit:channel_group", Property::ChannelGroup),
        ("visit:evidence", Property::Evidence),
        ("visit:generation", Property::Generation),
        ("visit:share_channel", Property::VisitShareChannel),
        ("visit:token_status", Property::TokenStatus),
        ("event:share_channel", Property::ShareChannel),
        ("visit:link", Property::Link),
        ("event:link", Property::EventLink),
        ("event:goal", Property::Goal),
    ];

    pub fn parse(s: &str) -> Result<Property, QueryError> {
        let s = s.trim();
        if let Some(key) = s.strip_prefix("event:props:") {
            let ok = !key.is_empty()
                && key.len() <= 64
                && key
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            return if ok {
                Ok(Property::Prop(key.to_string()))
            } else {
                Err(QueryError::BadProperty(s.into()))
            };
        }
        Self::NAMED
            .iter()
            .find(|(n, _)| *n == s)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| QueryError::BadProperty(s.into()))
    }

    pub fn name(&self) -> String {
        match self {
            Property::Prop(k) => format!("event:props:{k}"),
            other => Self::NAMED
                .iter()
                .find(|(_, p)| p == other)
                .map(|(n, _)| n.to_string())
                .unwrap_or_default(),
        }
    }

    /// The key of this property in Plausible-style result rows (`page`, `source`, …).
    pub fn result_key(&self) -> String {
        match self {
            Property::Prop(k) => k.clone(),
            other => other
                .name()
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_string(),
        }
    }

    /// Event-level properties vary within a visit; filtering by them changes which
    /// events of a visit count.
    pub fn is_event_level(&self) -> bool {
        matches!(
            self,
            Property::Page
                | Property::Name
                | Property::Hostname
                | Property::ShareChannel
                | Property::EventLink
                | Property::Goal
                | Property::Prop(_)
        )
    }
}

/// How a filter's values are compared with a property's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Match {
    /// Equal, where `*` in a value matches any text (Stats API v1, the dashboard).
    #[default]
    Wildcard,
    /// Equal, character for character (v2 `is`).
    Is,
    /// The value occurs in the property (v2 `contains`).
    Contains,
    /// A regular expression (RE2 syntax, as both back ends run it) finds a match in the
    /// property (v2 `matches`).
    Regex,
}

/// One condition on one property: it holds when any of `values` matches (or, negated,
/// when none does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    pub property: Property,
    pub negated: bool,
    /// Alternatives, compared as `how` says.
    pub values: Vec<String>,
    pub how: Match,
    /// Compare ignoring letter case (v2's `case_sensitive: false`).
    pub ignore_case: bool,
}

impl Filter {
    /// `property` equal to one of `values` (`*` a wildcard), as v1 and the dashboard ask.
    pub fn is(property: Property, values: Vec<String>) -> Filter {
        Filter {
            property,
            negated: false,
            values,
            how: Match::Wildcard,
            ignore_case: false,
        }
    }

    /// Negated [`Filter::is`].
    pub fn is_not(property: Property, values: Vec<String>) -> Filter {
        Filter {
            negated: true,
            ..Filter::is(property, values)
        }
    }

    /// Does `value` meet this filter, as the back ends' SQL decides it? (For rows read
    /// outside SQL: imported aggregates.)
    pub fn matches(&self, value: &str) -> bool {
        let fold = |s: &str| {
            if self.ignore_case {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        };
        let v = fold(value);
        let any = self.values.iter().any(|pattern| {
            let p = fold(pattern);
            match self.how {
                Match::Wildcard => glob_matches(&p, &v),
                Match::Is => v == p,
                Match::Contains => v.contains(&p),
                Match::Regex => regex::RegexBuilder::new(&p)
                    .size_limit(1 << 20)
                    .build()
                    .is_ok_and(|r| r.is_match(&v)),
            }
        });
        any != self.negated
    }

    /// One value compared for equality (no wildcard): what rollups can answer.
    pub fn exact_value(&self) -> Option<&str> {
        match (self.how, self.ignore_case, self.values.as_slice()) {
            (Match::Wildcard, false, [v]) if !v.contains('*') => Some(v),
            (Match::Is, false, [v]) => Some(v),
            _ => None,
        }
    }
}

/// Can both back ends run `pattern` as a [`Match::Regex`] (RE2, in DuckDB and
/// ClickHouse)? It must compile with the `regex` crate (at most a megabyte compiled),
/// hold no NUL, and use only escapes RE2 reads the same way: a punctuation character
/// other than `<` and `>` (word boundaries in `regex`, literals in RE2), a class
/// (`\d \D \s \S \w \W`), a boundary (`\b \B \A \z`), a control character
/// (`\n \t \r \f \v`), a hexadecimal code (`\x41`, `\x{263a}`) or a Unicode class
/// (`\pL`, `\p{Greek}`). Named groups (`(?<name>`, `(?P<name>`) are refused: older
/// RE2 builds reject the first form.
pub fn valid_regex(pattern: &str) -> bool {
    if pattern.contains('\0') || pattern.contains("(?<") || pattern.contains("(?P<") {
        return false;
    }
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            continue;
        }
        let Some(e) = chars.next() else {
            return false;
        };
        let ok = match e {
            '<' | '>' => false,
            'd' | 'D' | 's' | 'S' | 'w' | 'W' | 'b' | 'B' | 'A' | 'z' | 'n' | 't' | 'r' | 'f'
            | 'v' | 'x' | 'p' | 'P' => true,
            c => c.is_ascii_punctuation(),
        };
        if !ok {
            return false;
        }
        // `\b{start}` and the like are `regex`'s own.
        if matches!(e, 'b' | 'B') && chars.peek() == Some(&'{') {
            return false;
        }
    }
    regex::RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .is_ok()
}

/// A condition over filters: v2's `and`, `or` and `not` (a query's top-level list of
/// conditions is their `and`). Leaves are [`Filter`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    Filter(Filter),
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    /// The visit has (or has not) an event in the range that meets the condition (v2's
    /// `has_done` and `has_not_done`; the condition is on event properties).
    HasDone(Box<Condition>),
    HasNotDone(Box<Condition>),
}

/// `pattern` with `*` matching any text (LIKE's `%`), against the whole of `value`.
fn glob_matches(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || value.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &value[first.len()..];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    rest.ends_with(last)
}

impl Condition {
    /// Does a row meet the condition, given its properties' values? `None` when it
    /// names a property the row has no value for, or asks about the visit's other events
    /// (`has_done`), which aggregate rows cannot tell.
    pub fn matches(&self, value_of: &dyn Fn(&Property) -> Option<String>) -> Option<bool> {
        match self {
            Condition::Filter(f) => value_of(&f.property).map(|v| f.matches(&v)),
            Condition::And(cs) => {
                let mut all = true;
                for c in cs {
                    all &= c.matches(value_of)?;
                }
                Some(all)
            }
            Condition::Or(cs) => {
                let mut any = false;
                for c in cs {
                    any |= c.matches(value_of)?;
                }
                Some(any)
            }
            Condition::Not(c) => c.matches(value_of).map(|b| !b),
            Condition::HasDone(_) | Condition::HasNotDone(_) => None,
        }
    }

    /// Every filter inside, depth first.
    pub fn leaves(&self) -> Vec<&Filter> {
        let mut out = Vec::new();
        fn walk<'a>(c: &'a Condition, out: &mut Vec<&'a Filter>) {
            match c {
                Condition::Filter(f) => out.push(f),
                Condition::And(cs) | Condition::Or(cs) => cs.iter().for_each(|c| walk(c, out)),
                Condition::Not(c) | Condition::HasDone(c) | Condition::HasNotDone(c) => {
                    walk(c, out)
                }
            }
        }
        walk(self, &mut out);
        out
    }
}

impl Filter {
    /// Parse `prop==a|b;prop2!=c`.
    pub fn parse_list(s: &str) -> Result<Vec<Filter>, QueryError> {
        let mut out = Vec::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (prop, negated, rest) = if let Some((p, v)) = part.split_once("!=") {
                (p, true, v)
            } else if let Some((p, v)) = part.split_once("==") {
                (p, false, v)
            } else {
                return Err(QueryError::BadFilter(part.into()));
            };
            let property = Property::parse(prop).map_err(|_| QueryError::BadFilter(part.into()))?;
            let values: Vec<String> = rest.split('|').map(|v| v.trim().to_string()).collect();
            if values.len() > 50 || values.iter().any(|v| v.len() > 2000) {
                return Err(QueryError::BadFilter(part.into()));
            }
            out.push(Filter {
                negated,
                ..Filter::is(property, values)
            });
        }
        Ok(out)
    }
}

/// What a store is asked: one site, a UTC time range `[from, to)`, filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    pub site_id: u32,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub filters: Vec<Filter>,
    /// Conditions that are not one filter (v2's `or` and `not`), each one more `AND`.
    pub conditions: Vec<Condition>,
    /// Compute bounces and durations (costs a group-by over visits).
    pub with_sessions: bool,
    /// Compute the share-graph aggregates.
    pub with_shares: bool,
}

impl ReportQuery {
    pub fn has_event_filters(&self) -> bool {
        self.all_filters().any(|f| f.property.is_event_level())
    }

    /// Every filter, the top-level ones and those inside [`ReportQuery::conditions`].
    pub fn all_filters(&self) -> impl Iterator<Item = &Filter> {
        self.filters
            .iter()
            .chain(self.conditions.iter().flat_map(|c| c.leaves()))
    }
}

/// Raw numbers every store returns; metrics are derived from them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Aggregates {
    /// Distinct visitors (HyperLogLog estimate on every store).
    pub visitors: u64,
    pub visits: u64,
    pub pageviews: u64,
    pub events: u64,
    /// Visits in the private-message or e-mail groups.
    pub visits_identified_dark: u64,
    /// Visits in the estimated-dark group.
    pub visits_estimated_dark: u64,
    /// Visits with at most one pageview (only with `with_sessions`).
    pub bounces: u64,
    /// Sum of visit durations in seconds (only with `with_sessions`).
    pub duration_secs: f64,
    /// Visits counted for bounces/durations (only with `with_sessions`).
    pub session_visits: u64,
    /// Share-graph aggregates (only with `with_shares`): `share` and `copy` events;
    /// distinct address-bar tokens that brought a visit; visits that arrived through a
    /// linked token; shares made during share-visits; share-visits that shared again.
    pub share_events: u64,
    pub address_bar_shares: u64,
    pub share_visits: u64,
    pub shares_by_share_visits: u64,
    pub resharing_visits: u64,
    /// Engagement (only from `EventStore::engagement`): visitors with an engagement
    /// event and their time in the foreground; visitors whose scroll depth was measured
    /// and the sum of each one's deepest scroll (percent).
    pub engaged_visitors: u64,
    pub engaged_ms: u64,
    pub scroll_visitors: u64,
    pub scroll_sum: u64,
    /// The visitors of the whole query a row is part of (for [`Metric::Percentage`]; set
    /// by whoever asks for it).
    pub of_visitors: u64,
    /// The visitors a conversion rate is a share of: the whole query's without its goal
    /// filters, and the row's (set by the executor).
    pub all_visitors: u64,
    pub group_visitors: u64,
}

/// A metric's value for one row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Count(u64),
    /// A percentage, rounded to a whole number like Plausible's bounce rate.
    Percent(u64),
    Float(f64),
    /// `dark_share`: identified and estimated parts, as percentages with one decimal.
    DarkShare {
        identified: f64,
        estimated: f64,
    },
    /// Nothing measured (no engagement event): `null` in the API, "–" on the dashboard.
    None,
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl Aggregates {
    /// Add `b`'s counts and sums to these (rows of the same value from two sources: a
    /// rolled-up part and a raw one, native and imported rows). The bases of shares and
    /// rates (`of_visitors`, `all_visitors`, `group_visitors`) are not counts: kept.
    pub fn add(&mut self, b: &Aggregates) {
        self.visitors += b.visitors;
        self.visits += b.visits;
        self.pageviews += b.pageviews;
        self.events += b.events;
        self.visits_identified_dark += b.visits_identified_dark;
        self.visits_estimated_dark += b.visits_estimated_dark;
        self.bounces += b.bounces;
        self.duration_secs += b.duration_secs;
        self.session_visits += b.session_visits;
        self.share_events += b.share_events;
        self.address_bar_shares += b.address_bar_shares;
        self.share_visits += b.share_visits;
        self.shares_by_share_visits += b.shares_by_share_visits;
        self.resharing_visits += b.resharing_visits;
        self.engaged_visitors += b.engaged_visitors;
        self.engaged_ms += b.engaged_ms;
        self.scroll_visitors += b.scroll_visitors;
        self.scroll_sum += b.scroll_sum;
    }

    pub fn value(&self, m: Metric) -> Value {
        match m {
            Metric::Visitors => Value::Count(self.visitors),
            Metric::Visits => Value::Count(self.visits),
            Metric::Pageviews => Value::Count(self.pageviews),
            Metric::Events => Value::Count(self.events),
            Metric::ViewsPerVisit => {
                Value::Float((ratio(self.pageviews, self.visits) * 100.0).round() / 100.0)
            }
            Metric::BounceRate => {
                Value::Percent((ratio(self.bounces, self.session_visits) * 100.0).round() as u64)
            }
            Metric::VisitDuration => Value::Count(if self.session_visits == 0 {
                0
            } else {
                (self.duration_secs / self.session_visits as f64).round() as u64
            }),
            Metric::DarkShare => Value::DarkShare {
                identified: round1(ratio(self.visits_identified_dark, self.visits) * 100.0),
                estimated: round1(ratio(self.visits_estimated_dark, self.visits) * 100.0),
            },
            Metric::Shares => Value::Count(self.shares()),
            Metric::ShareVisits => Value::Count(self.share_visits),
            Metric::VisitsPerShare => Value::Float(round2(ratio(self.share_visits, self.shares()))),
            Metric::ReshareRate => Value::Float(round1(
                ratio(self.resharing_visits, self.share_visits) * 100.0,
            )),
            Metric::KFactor => Value::Float(round2(ratio(
                self.shares_by_share_visits,
                self.share_visits,
            ))),
            Metric::ScrollDepth if self.scroll_visitors == 0 => Value::None,
            Metric::ScrollDepth => {
                Value::Percent((ratio(self.scroll_sum, self.scroll_visitors)).round() as u64)
            }
            Metric::TimeOnPage if self.engaged_visitors == 0 => Value::None,
            Metric::TimeOnPage => Value::Count(
                (ratio(self.engaged_ms, self.engaged_visitors) / 1000.0).round() as u64,
            ),
            Metric::ConversionRate => {
                Value::Float(round1(ratio(self.visitors, self.all_visitors) * 100.0))
            }
            Metric::GroupConversionRate => {
                Value::Float(round1(ratio(self.visitors, self.group_visitors) * 100.0))
            }
            Metric::Percentage if self.of_visitors == 0 => Value::None,
            Metric::Percentage => {
                Value::Float(round1(ratio(self.visitors, self.of_visitors) * 100.0))
            }
        }
    }

    pub fn shares(&self) -> u64 {
        self.share_events + self.address_bar_shares
    }
}

/// Time-series bucket size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Interval {
    Hour,
    Date,
    /// Weeks from Monday; the first is cut to the range's first day (v2's `time:week`).
    Week,
    Month,
}

impl Interval {
    /// v1's `interval` (hour, date, month; `day` is `date`).
    pub fn parse(s: &str) -> Result<Interval, QueryError> {
        match s {
            "hour" => Ok(Interval::Hour),
            "date" | "day" => Ok(Interval::Date),
            "month" => Ok(Interval::Month),
            other => Err(QueryError::BadInterval(other.into())),
        }
    }

    /// The name after `time:` in a v2 dimension.
    pub fn v2_name(self) -> &'static str {
        match self {
            Interval::Hour => "hour",
            Interval::Date => "day",
            Interval::Week => "week",
            Interval::Month => "month",
        }
    }

    /// A v2 time dimension's interval (`time:day`, …).
    pub fn from_v2(s: &str) -> Option<Interval> {
        [
            Interval::Hour,
            Interval::Date,
            Interval::Week,
            Interval::Month,
        ]
        .into_iter()
        .find(|i| i.v2_name() == s)
    }

    /// Plausible's defaults: hours for one day, months for 6/12 months, else days.
    pub fn default_for(p: Period) -> Interval {
        match p {
            Period::Day => Interval::Hour,
            Period::Months6 | Period::Months12 => Interval::Month,
            _ => Interval::Date,
        }
    }
}

/// One time-series bucket: its label and its UTC range `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub label: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// The most buckets [`buckets`] returns: ten years of days by the hour fit (a report's
/// range is at most ten years), and no range, however long, can exhaust memory.
pub const MAX_BUCKETS: usize = 100_000;

/// Buckets covering the local dates `[from, to]`, computed in the site's time zone so
/// that every store groups by the same boundaries (daylight-saving days included).
/// At most [`MAX_BUCKETS`]; none past the end of chrono's calendar.
pub fn buckets(tz: &dyn Tz, from: NaiveDate, to: NaiveDate, interval: Interval) -> Vec<Bucket> {
    let mut out = Vec::new();
    match interval {
        Interval::Hour => {
            let mut d = from;
            'days: while d <= to {
                for h in 0..24u32 {
                    let Some(t) = NaiveTime::from_hms_opt(h, 0, 0) else {
                        continue;
                    };
                    let start = tz.to_utc(d.and_time(t));
                    let Some(end) = start.checked_add_signed(Duration::hours(1)) else {
                        break 'days;
                    };
                    if out.len() == MAX_BUCKETS {
                        break 'days;
                    }
                    out.push(Bucket {
                        label: format!("{} {:02}:00:00", d, h),
                        start,
                        end,
                    });
                }
                d = match d.succ_opt() {
                    Some(n) => n,
                    None => break,
                };
            }
        }
        Interval::Date => {
            let mut d = from;
            while d <= to && out.len() < MAX_BUCKETS {
                let Some(next) = d.succ_opt() else { break };
                out.push(Bucket {
                    label: d.to_string(),
                    start: local_midnight(tz, d),
                    end: local_midnight(tz, next),
                });
                d = next;
            }
        }
        Interval::Week => {
            let mut d = from;
            while d <= to && out.len() < MAX_BUCKETS {
                let monday = d - Duration::days(i64::from(d.weekday().num_days_from_monday()));
                let Some(next) = monday.checked_add_days(Days::new(7)) else {
                    break;
                };
                let end = next.min(to.succ_opt().unwrap_or(to));
                out.push(Bucket {
                    label: d.to_string(),
                    start: local_midnight(tz, d),
                    end: local_midnight(tz, end),
                });
                d = next;
            }
        }
        Interval::Month => {
            let mut d = first_of_month(from);
            while d <= to && out.len() < MAX_BUCKETS {
                let Some(next) = d.checked_add_months(Months::new(1)) else {
                    break;
                };
                out.push(Bucket {
                    label: d.to_string(),
                    start: local_midnight(tz, d.max(from)),
                    end: local_midnight(tz, next.min(to.succ_opt().unwrap_or(to))),
                });
                d = next;
            }
        }
    }
    out
}

/// `[from 00:00, to+1 00:00)` in UTC for local dates.
pub fn utc_range(tz: &dyn Tz, from: NaiveDate, to: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let end = to.succ_opt().unwrap_or(to);
    (local_midnight(tz, from), local_midnight(tz, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    #[test]
    fn periods() {
        let today = d("2024-03-15");
        assert_eq!(
            Period::parse("7d", None).unwrap().dates(today),
            (d("2024-03-09"), today)
        );
        assert_eq!(
            Period::parse("30d", None).unwrap().dates(today),
            (d("2024-02-15"), today)
        );
        assert_eq!(
            Period::Month.dates(today),
            (d("2024-03-01"), d("2024-03-31"))
        );
        assert_eq!(
            Period::Months6.dates(today),
            (d("2023-10-01"), d("2024-03-31"))
        );
        assert_eq!(
            Period::Months12.dates(d("2024-01-10")),
            (d("2023-02-01"), d("2024-01-31"))
        );
        assert_eq!(
            Period::parse("custom", Some("2024-01-01,2024-01-31")).unwrap(),
            Period::Custom(d("2024-01-01"), d("2024-01-31"))
        );
        assert!(Period::parse("custom", Some("2024-02-01,2024-01-31")).is_err());
        assert!(Period::parse("week", None).is_err());
        assert_eq!(
            Period::previous(d("2024-03-09"), d("2024-03-15")),
            (d("2024-03-02"), d("2024-03-08"))
        );
    }

    /// chrono's first and last days, and dates past them: every period and comparison
    /// either gives a range or a `BadDate`, never a panic or an overflow.
    #[test]
    fn extreme_dates() {
        let first = d("-262143-01-01");
        let last = d("+262142-12-31");
        assert_eq!((first, last), (NaiveDate::MIN, NaiveDate::MAX));
        for bad in [
            "+262143-12-31",
            "-262144-12-31",
            "+262143-01-01",
            "99999999999999999999-01-01",
            "-99999999999999999999-01-01",
            "2024-13-01",
            "2024-02-30",
            "",
        ] {
            assert!(
                matches!(parse_date(bad), Err(QueryError::BadDate(_))),
                "{bad}"
            );
        }
        let bad_date = |r: Result<(NaiveDate, NaiveDate), QueryError>| {
            matches!(r, Err(QueryError::BadDate(_)))
        };
        // (period, reference day, Ok range or None for BadDate).
        let cases = [
            ("day", first, Some((first, first))),
            ("7d", first, None),
            ("30d", first, None),
            ("month", first, Some((first, d("-262143-01-31")))),
            ("6mo", first, None),
            ("12mo", first, None),
            ("7d", d("-262143-01-07"), Some((first, d("-262143-01-07")))),
            ("6mo", d("-262143-06-15"), Some((first, d("-262143-06-30")))),
            ("day", last, Some((last, last))),
            ("7d", last, Some((d("+262142-12-25"), last))),
            ("30d", last, Some((d("+262142-12-02"), last))),
            ("month", last, None),
            ("6mo", last, None),
            ("12mo", last, None),
            (
                "month",
                d("+262142-11-30"),
                Some((d("+262142-11-01"), d("+262142-11-30"))),
            ),
        ];
        for (period, today, want) in cases {
            let p = Period::parse(period, Some(&today.to_string())).unwrap();
            let got = p.try_dates(today);
            match want {
                Some(range) => assert_eq!(got, Ok(range), "{period} {today}"),
                None => assert!(bad_date(got.clone()), "{period} {today}: {got:?}"),
            }
            // The infallible form never panics and stays in order.
            let (a, b) = p.dates(today);
            assert!(a <= b, "{period} {today}");
        }
        // Comparisons with the period before the first day.
        assert!(bad_date(Period::try_previous(first, first)));
        assert!(bad_date(Period::try_previous(
            d("-262143-01-05"),
            d("-262143-01-10")
        )));
        assert_eq!(
            Period::try_previous(d("-262143-01-07"), d("-262143-01-12")),
            Ok((first, d("-262143-01-06")))
        );
        assert_eq!(Period::previous(first, first), (first, first));
        assert_eq!(
            Period::try_previous(last, last),
            Ok((d("+262142-12-30"), d("+262142-12-30")))
        );
        // The widest custom range parses; comparing it or bucketing it is bounded.
        let all = Period::parse("custom", Some("-262143-01-01,+262142-12-31")).unwrap();
        assert_eq!(all.try_dates(last), Ok((first, last)));
        assert!(bad_date(Period::try_previous(first, last)));
        assert!(Period::parse("custom", Some("-262143-01-01,+262143-12-31")).is_err());
        assert!(Period::parse("custom", Some("+262142-12-31,-262143-01-01")).is_err());
        for interval in [Interval::Hour, Interval::Date, Interval::Month] {
            let b = buckets(&Utc0, first, last, interval);
            assert_eq!(b.len(), MAX_BUCKETS, "{interval:?}");
            assert_eq!(b[0].start, local_midnight(&Utc0, first));
        }
        // The last day's last hour would end past chrono's last instant.
        assert_eq!(buckets(&Utc0, last, last, Interval::Hour).len(), 23);
        assert_eq!(buckets(&Utc0, last, last, Interval::Date).len(), 0);
        assert_eq!(
            buckets(&Utc0, d("+262142-12-01"), last, Interval::Month).len(),
            0
        );
        assert_eq!(
            utc_range(&Utc0, first, last).0,
            local_midnight(&Utc0, first)
        );
    }

    #[test]
    fn limits_and_pages() {
        let cases = [
            (None, None, Ok((100, 0))),
            (Some(0), Some(1), Ok((1, 0))),
            (Some(50), Some(3), Ok((50, 100))),
            (Some(5000), Some(2), Ok((1000, 1000))),
            (Some(u64::MAX), Some(MAX_PAGE as u64), Ok((1000, 999_000))),
            (Some(10), Some(0), Err(QueryError::BadPage("0".into()))),
            (
                Some(10),
                Some(1001),
                Err(QueryError::BadPage("1001".into())),
            ),
            (
                Some(u64::MAX),
                Some(u64::MAX),
                Err(QueryError::BadPage(u64::MAX.to_string())),
            ),
        ];
        for (limit, page, want) in cases {
            assert_eq!(paging(limit, page), want, "{limit:?} {page:?}");
        }
    }

    #[test]
    fn filters_parse() {
        let f = Filter::parse_list("visit:channel==whatsapp|telegram;event:page!=/a*").unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].property, Property::Channel);
        assert_eq!(f[0].values, vec!["whatsapp", "telegram"]);
        assert!(f[1].negated);
        assert!(Filter::parse_list("visit:nope==x").is_err());
        assert!(Filter::parse_list("visit:source~x").is_err());
        assert_eq!(
            Property::parse("event:props:plan").unwrap().result_key(),
            "plan"
        );
        assert!(Property::parse("event:props:bad key").is_err());
        assert_eq!(
            Property::parse("visit:channel_group").unwrap().result_key(),
            "channel_group"
        );
    }

    #[test]
    fn regexes_are_those_re2_reads_alike() {
        for ok in [
            "^/blog",
            "/(docs|pricing)$",
            r"\d+\.html",
            r"a\.b",
            r"\p{Greek}",
            r"\x{263a}",
            "[a-z]{2,3}",
        ] {
            assert!(valid_regex(ok), "{ok}");
        }
        for bad in [
            "(a",
            r"\u0041",
            r"\<word\>",
            r"\b{start}",
            "(?<n>a)",
            "(?P<n>a)",
            "a\0",
            r"(?=a)",
            r"\1",
            "x\\",
        ] {
            assert!(!valid_regex(bad), "{bad}");
        }
    }

    #[test]
    fn filters_match_values_as_sql_does() {
        let f = |how, values: &[&str], negated, ignore_case| Filter {
            property: Property::Page,
            negated,
            values: values.iter().map(|v| v.to_string()).collect(),
            how,
            ignore_case,
        };
        assert!(f(Match::Wildcard, &["/blog/*"], false, false).matches("/blog/a"));
        assert!(f(Match::Wildcard, &["*a*b"], false, false).matches("xxaab"));
        assert!(!f(Match::Wildcard, &["/blog/*"], false, false).matches("/docs/blog/"));
        assert!(!f(Match::Wildcard, &["a*a"], false, false).matches("a"));
        assert!(f(Match::Is, &["/blog/*"], false, false).matches("/blog/*"));
        assert!(!f(Match::Is, &["/blog/*"], false, false).matches("/blog/a"));
        assert!(f(Match::Contains, &["LOG"], false, true).matches("/blog"));
        assert!(!f(Match::Contains, &["LOG"], false, false).matches("/blog"));
        assert!(f(Match::Regex, &["^/(a|b)$"], false, false).matches("/b"));
        assert!(f(Match::Is, &["/x", "/y"], true, false).matches("/z"));
        assert!(!f(Match::Is, &["/x", "/y"], true, false).matches("/y"));
        let c = Condition::Or(vec![
            Condition::Filter(f(Match::Is, &["/a"], false, false)),
            Condition::Not(Box::new(Condition::Filter(f(
                Match::Contains,
                &["b"],
                false,
                false,
            )))),
        ]);
        let page =
            |v: &'static str| move |p: &Property| (*p == Property::Page).then(|| v.to_string());
        assert_eq!(c.matches(&page("/a")), Some(true));
        assert_eq!(c.matches(&page("/b")), Some(false));
        assert_eq!(c.matches(&page("/c")), Some(true));
        assert_eq!(Condition::HasDone(Box::new(c)).matches(&page("/a")), None);
    }

    #[test]
    fn metrics_from_aggregates() {
        let a = Aggregates {
            visitors: 80,
            visits: 100,
            pageviews: 250,
            events: 260,
            visits_identified_dark: 30,
            visits_estimated_dark: 12,
            bounces: 55,
            duration_secs: 6000.0,
            session_visits: 100,
            share_events: 6,
            address_bar_shares: 4,
            share_visits: 25,
            shares_by_share_visits: 5,
            resharing_visits: 3,
            engaged_visitors: 4,
            engaged_ms: 90_000,
            scroll_visitors: 3,
            scroll_sum: 200,
            of_visitors: 320,
            all_visitors: 400,
            group_visitors: 160,
        };
        assert_eq!(a.value(Metric::ConversionRate), Value::Float(20.0));
        assert_eq!(a.value(Metric::GroupConversionRate), Value::Float(50.0));
        assert_eq!(a.value(Metric::BounceRate), Value::Percent(55));
        assert_eq!(a.value(Metric::Percentage), Value::Float(25.0));
        assert_eq!(Aggregates::default().value(Metric::Percentage), Value::None);
        // (200 / 3) % of the page, 22.5 s a visitor: both rounded.
        assert_eq!(a.value(Metric::ScrollDepth), Value::Percent(67));
        assert_eq!(a.value(Metric::TimeOnPage), Value::Count(23));
        assert_eq!(
            Aggregates::default().value(Metric::ScrollDepth),
            Value::None
        );
        assert_eq!(Aggregates::default().value(Metric::TimeOnPage), Value::None);
        assert_eq!(a.value(Metric::Shares), Value::Count(10));
        assert_eq!(a.value(Metric::ShareVisits), Value::Count(25));
        assert_eq!(a.value(Metric::VisitsPerShare), Value::Float(2.5));
        assert_eq!(a.value(Metric::ReshareRate), Value::Float(12.0));
        assert_eq!(a.value(Metric::KFactor), Value::Float(0.2));
        assert_eq!(a.value(Metric::VisitDuration), Value::Count(60));
        assert_eq!(a.value(Metric::ViewsPerVisit), Value::Float(2.5));
        assert_eq!(
            a.value(Metric::DarkShare),
            Value::DarkShare {
                identified: 30.0,
                estimated: 12.0
            }
        );
        assert_eq!(
            Aggregates::default().value(Metric::BounceRate),
            Value::Percent(0)
        );
    }

    #[test]
    fn buckets_cover_range() {
        let b = buckets(&Utc0, d("2024-01-30"), d("2024-02-02"), Interval::Date);
        assert_eq!(b.len(), 4);
        assert_eq!(b[0].label, "2024-01-30");
        assert_eq!(b[3].end, local_midnight(&Utc0, d("2024-02-03")));
        let m = buckets(&Utc0, d("2023-11-01"), d("2024-01-31"), Interval::Month);
        assert_eq!(
            m.iter().map(|b| b.label.as_str()).collect::<Vec<_>>(),
            ["2023-11-01", "2023-12-01", "2024-01-01"]
        );
        let h = buckets(&Utc0, d("2024-01-01"), d("2024-01-01"), Interval::Hour);
        assert_eq!(h.len(), 24);
    }
}
