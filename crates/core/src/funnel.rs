//! Funnels: an ordered list of 2 to 8 steps, each a page path pattern (`*` for any run
//! of characters, as in goals) or a custom event name, and what a visit reaching them
//! means (ARCHITECTURE.md, "Telling owners when it happens").
//!
//! A visit reaches step 1 at the time of its first row matching step 1; it reaches step
//! k at the first row matching step k at or after the time it reached step k-1. Steps
//! done out of order do not count; a step done twice counts once; two visits never join
//! into one path. [`furthest_step`] is the reference the stores' SQL is tested against.
//!
//! The drop-off arithmetic ([`step_numbers`]) is here too, so the API and the dashboard
//! show the same rates.

use crate::conversions::{wildcard_match, GoalKind};

/// The fewest steps a funnel has.
pub const MIN_STEPS: usize = 2;
/// The most steps a funnel has.
pub const MAX_STEPS: usize = 8;
/// The longest funnel name, in characters.
pub const MAX_NAME_CHARS: usize = 120;

/// Event names that are no part of a visit (short-link clicks and scans, link-preview
/// fetches): a step cannot be one of them.
const NOT_VISIT_EVENTS: [&str; 3] = ["link_click", "link_scan", "preview"];

/// One step of a funnel.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FunnelStep {
    /// A pageview whose path matches this pattern (`/pricing`, `/checkout/*`).
    Page(String),
    /// A custom event with this name (`signup`).
    Event(String),
}

impl FunnelStep {
    /// Build and check a step from its kind (`page` or `event`) and value.
    pub fn parse(kind: &str, value: &str) -> Result<FunnelStep, StepError> {
        let value = value.trim();
        match kind.trim() {
            "page" => match GoalKind::parse("page", value) {
                Ok(_) => Ok(FunnelStep::Page(value.to_string())),
                Err(_) => Err(StepError::BadPath),
            },
            "event" => {
                if NOT_VISIT_EVENTS.contains(&value) {
                    return Err(StepError::NotAVisitEvent);
                }
                match GoalKind::parse("event", value) {
                    Ok(_) => Ok(FunnelStep::Event(value.to_string())),
                    Err(_) if value == "pageview" => Err(StepError::Pageview),
                    Err(_) => Err(StepError::BadEventName),
                }
            }
            _ => Err(StepError::UnknownKind),
        }
    }

    pub fn kind_str(&self) -> &'static str {
        match self {
            FunnelStep::Page(_) => "page",
            FunnelStep::Event(_) => "event",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            FunnelStep::Page(v) | FunnelStep::Event(v) => v,
        }
    }

    /// The same condition as a goal (the stores write it once, for both).
    pub fn as_goal(&self) -> GoalKind {
        match self {
            FunnelStep::Page(p) => GoalKind::Page(p.clone()),
            FunnelStep::Event(n) => GoalKind::Event(n.clone()),
        }
    }

    /// Does an event (its name and path) match this step?
    pub fn matches(&self, name: &str, path: &str) -> bool {
        match self {
            FunnelStep::Page(p) => name == "pageview" && wildcard_match(p, path),
            FunnelStep::Event(n) => name == n,
        }
    }

    /// The step as the inline syntax writes it: `page:/pricing`, `event:signup`.
    pub fn inline(&self) -> String {
        format!("{}:{}", self.kind_str(), self.value())
    }
}

/// Why a step is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    #[error("a step's kind is `page` or `event`")]
    UnknownKind,
    #[error("a page step needs a path starting with `/`, without spaces (`*` for any part)")]
    BadPath,
    #[error(
        "an event step needs an event name of 1 to 120 characters, without control characters"
    )]
    BadEventName,
    #[error("`pageview` is not an event step: use a page step with a path")]
    Pageview,
    #[error("short-link clicks, scans and preview fetches are not part of a visit")]
    NotAVisitEvent,
}

/// Why a funnel is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunnelError {
    #[error("a funnel has {MIN_STEPS} to {MAX_STEPS} steps, not {0}")]
    StepCount(usize),
    #[error("step {index}: {error}")]
    Step { index: usize, error: StepError },
    #[error("step {0} is written `page:/path` or `event:name`")]
    Syntax(usize),
    #[error("a funnel's name has 1 to {MAX_NAME_CHARS} characters, without control characters")]
    Name,
}

impl FunnelError {
    /// A stable code for the API's 400 answers.
    pub fn code(&self) -> &'static str {
        match self {
            FunnelError::StepCount(_) => "funnel_step_count",
            FunnelError::Step { .. } | FunnelError::Syntax(_) => "funnel_bad_step",
            FunnelError::Name => "funnel_bad_name",
        }
    }
}

/// A checked list of 2 to 8 steps.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Funnel {
    steps: Vec<FunnelStep>,
}

impl Funnel {
    /// Check a list of steps (2 to 8).
    pub fn new(steps: Vec<FunnelStep>) -> Result<Funnel, FunnelError> {
        if !(MIN_STEPS..=MAX_STEPS).contains(&steps.len()) {
            return Err(FunnelError::StepCount(steps.len()));
        }
        Ok(Funnel { steps })
    }

    /// Steps from (kind, value) pairs; `index` in an error counts from 1.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Funnel, FunnelError> {
        let mut steps = Vec::new();
        for (i, (kind, value)) in pairs.into_iter().enumerate() {
            if steps.len() == MAX_STEPS {
                return Err(FunnelError::StepCount(MAX_STEPS + 1));
            }
            let step = FunnelStep::parse(kind, value).map_err(|error| FunnelError::Step {
                index: i + 1,
                error,
            })?;
            steps.push(step);
        }
        Funnel::new(steps)
    }

    /// The inline syntax of the API: steps separated by `|`, each `page:PATTERN` or
    /// `event:NAME` (`page:/pricing|page:/checkout/*|event:purchase`).
    pub fn parse_inline(s: &str) -> Result<Funnel, FunnelError> {
        let parts: Vec<&str> = s.split('|').collect();
        if parts.len() > MAX_STEPS {
            return Err(FunnelError::StepCount(parts.len()));
        }
        let mut pairs = Vec::with_capacity(parts.len());
        for (i, part) in parts.iter().enumerate() {
            let (kind, value) = part.split_once(':').ok_or(FunnelError::Syntax(i + 1))?;
            pairs.push((kind, value));
        }
        Funnel::from_pairs(pairs)
    }

    /// The inline form of the funnel (what [`Funnel::parse_inline`] reads back).
    pub fn inline(&self) -> String {
        let parts: Vec<String> = self.steps.iter().map(FunnelStep::inline).collect();
        parts.join("|")
    }

    pub fn steps(&self) -> &[FunnelStep] {
        &self.steps
    }
}

/// A funnel's display name, trimmed and checked.
pub fn check_name(name: &str) -> Result<String, FunnelError> {
    let name = name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(FunnelError::Name);
    }
    Ok(name.to_string())
}

/// How far one visit got: `events` are its rows as (time, name, path), in any order;
/// the answer is the number of steps reached in order (0 when step 1 never happened).
/// Time is any ordered value (microseconds in the stores).
pub fn furthest_step(steps: &[FunnelStep], events: &[(i64, &str, &str)]) -> usize {
    let mut sorted: Vec<&(i64, &str, &str)> = events.iter().collect();
    sorted.sort_by_key(|e| e.0);
    let mut reached_at: Option<i64> = None;
    for (k, step) in steps.iter().enumerate() {
        // The earliest row of this step at or after the previous step's time.
        let next = sorted
            .iter()
            .filter(|e| reached_at.is_none_or(|t| e.0 >= t))
            .find(|e| step.matches(e.1, e.2));
        match next {
            Some(e) => reached_at = Some(e.0),
            None => return k,
        }
    }
    steps.len()
}

/// One step's numbers in a report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepNumbers {
    /// Visits that reached this step (in order).
    pub visits: u64,
    /// Share of the visits that entered step 1 (0 to 1; 0 when none entered).
    pub conversion_rate: f64,
    /// Visits of the previous step that did not reach this one (0 for step 1).
    pub dropped: u64,
    /// `dropped` as a share of the previous step's visits (0 to 1; 0 for step 1 and
    /// when the previous step had none).
    pub drop_off_rate: f64,
}

/// The numbers of every step from the visits reaching each (`reached[0]` entered the
/// funnel). A count larger than the previous step's (which the stores never give) is
/// read as the previous one's, so rates stay within 0 to 1.
pub fn step_numbers(reached: &[u64]) -> Vec<StepNumbers> {
    let first = reached.first().copied().unwrap_or(0);
    let mut out = Vec::with_capacity(reached.len());
    let mut prev: Option<u64> = None;
    for &n in reached {
        let n = prev.map_or(n, |p| n.min(p));
        let rate = |part: u64, whole: u64| {
            if whole == 0 {
                0.0
            } else {
                part as f64 / whole as f64
            }
        };
        let dropped = prev.map_or(0, |p| p - n);
        out.push(StepNumbers {
            visits: n,
            conversion_rate: rate(n, first),
            dropped,
            drop_off_rate: prev.map_or(0.0, |p| rate(dropped, p)),
        });
        prev = Some(n);
    }
    out
}

/// The visits reaching each step from a count of visits per furthest step: `furthest`
/// holds (furthest step reached, visits), steps counted from 1; the answer has `steps`
/// entries, entry k the visits whose furthest step is at least k+1.
pub fn reached_from_furthest(steps: usize, furthest: &[(usize, u64)]) -> Vec<u64> {
    let mut reached = vec![0u64; steps];
    for &(f, n) in furthest {
        for r in reached.iter_mut().take(f.min(steps)) {
            *r += n;
        }
    }
    reached
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkout() -> Funnel {
        Funnel::parse_inline("page:/pricing|page:/checkout/*|event:purchase").unwrap()
    }

    #[test]
    fn inline_syntax_reads_and_writes_back() {
        let f = checkout();
        assert_eq!(
            f.steps(),
            &[
                FunnelStep::Page("/pricing".into()),
                FunnelStep::Page("/checkout/*".into()),
                FunnelStep::Event("purchase".into()),
            ]
        );
        assert_eq!(Funnel::parse_inline(&f.inline()).unwrap(), f);
        // A path may hold a colon after the first one.
        let f = Funnel::parse_inline("page:/a:b|event:x").unwrap();
        assert_eq!(f.steps()[0], FunnelStep::Page("/a:b".into()));
    }

    #[test]
    fn bad_funnels_are_refused_with_typed_errors() {
        assert_eq!(
            Funnel::parse_inline("page:/a"),
            Err(FunnelError::StepCount(1))
        );
        let nine = ["page:/a"; 9].join("|");
        assert_eq!(Funnel::parse_inline(&nine), Err(FunnelError::StepCount(9)));
        assert_eq!(
            Funnel::parse_inline("page:/a|/b"),
            Err(FunnelError::Syntax(2))
        );
        assert_eq!(
            Funnel::parse_inline("page:/a|page:b"),
            Err(FunnelError::Step {
                index: 2,
                error: StepError::BadPath
            })
        );
        assert_eq!(
            Funnel::parse_inline("event:pageview|page:/b"),
            Err(FunnelError::Step {
                index: 1,
                error: StepError::Pageview
            })
        );
        assert_eq!(
            Funnel::parse_inline("event:link_click|page:/b"),
            Err(FunnelError::Step {
                index: 1,
                error: StepError::NotAVisitEvent
            })
        );
        assert_eq!(
            Funnel::parse_inline("goal:x|page:/b"),
            Err(FunnelError::Step {
                index: 1,
                error: StepError::UnknownKind
            })
        );
        assert_eq!(
            Funnel::parse_inline("event:|page:/b").map_err(|e| e.code()),
            Err("funnel_bad_step")
        );
        assert_eq!(check_name("  Checkout "), Ok("Checkout".to_string()));
        assert_eq!(check_name(" "), Err(FunnelError::Name));
        assert_eq!(check_name("a\u{7}"), Err(FunnelError::Name));
        assert_eq!(FunnelError::StepCount(1).code(), "funnel_step_count");
    }

    #[test]
    fn a_visit_reaches_steps_in_order_only() {
        let f = checkout();
        let s = f.steps();
        let pv = "pageview";
        // In order, with a wildcard page and an event.
        assert_eq!(
            furthest_step(
                s,
                &[
                    (1, pv, "/pricing"),
                    (2, pv, "/checkout/cart"),
                    (3, "purchase", "/x")
                ]
            ),
            3
        );
        // Out of order: the purchase before checkout does not count.
        assert_eq!(
            furthest_step(
                s,
                &[
                    (1, pv, "/pricing"),
                    (2, "purchase", "/"),
                    (3, pv, "/checkout/a")
                ]
            ),
            2
        );
        // Checkout before pricing, then pricing: only step 1.
        assert_eq!(
            furthest_step(s, &[(1, pv, "/checkout/a"), (2, pv, "/pricing")]),
            1
        );
        // Repeated steps count once; a later repetition of step 1 does not reset.
        assert_eq!(
            furthest_step(
                s,
                &[
                    (1, pv, "/pricing"),
                    (2, pv, "/pricing"),
                    (3, pv, "/checkout/a"),
                    (4, pv, "/pricing"),
                    (5, pv, "/checkout/b")
                ]
            ),
            2
        );
        // Same time counts (at or after).
        assert_eq!(
            furthest_step(s, &[(5, pv, "/checkout/a"), (5, pv, "/pricing")]),
            2
        );
        // Step 1 never happened.
        assert_eq!(furthest_step(s, &[(1, pv, "/checkout/a")]), 0);
        assert_eq!(furthest_step(s, &[]), 0);
        // `/checkout/*` needs the slash; the page step needs a pageview.
        assert_eq!(
            furthest_step(s, &[(1, pv, "/pricing"), (2, pv, "/checkout")]),
            1
        );
        assert_eq!(
            furthest_step(s, &[(1, "click", "/pricing"), (2, pv, "/checkout/a")]),
            0
        );
    }

    #[test]
    fn drop_off_arithmetic() {
        let n = step_numbers(&[200, 50, 10]);
        assert_eq!(n[0].visits, 200);
        assert_eq!((n[0].dropped, n[0].drop_off_rate), (0, 0.0));
        assert_eq!(n[0].conversion_rate, 1.0);
        assert_eq!((n[1].visits, n[1].dropped), (50, 150));
        assert!((n[1].drop_off_rate - 0.75).abs() < 1e-12);
        assert!((n[1].conversion_rate - 0.25).abs() < 1e-12);
        assert_eq!(n[2].dropped, 40);
        assert!((n[2].drop_off_rate - 0.8).abs() < 1e-12);
        assert!((n[2].conversion_rate - 0.05).abs() < 1e-12);
        // Nobody entered: no division by zero.
        let z = step_numbers(&[0, 0]);
        assert_eq!(
            (z[1].conversion_rate, z[1].drop_off_rate, z[1].dropped),
            (0.0, 0.0, 0)
        );
        // A count above the previous step's is capped.
        let c = step_numbers(&[5, 7]);
        assert_eq!((c[1].visits, c[1].dropped), (5, 0));
    }

    #[test]
    fn reached_counts_from_furthest_steps() {
        assert_eq!(
            reached_from_furthest(3, &[(1, 10), (3, 2), (2, 5)]),
            vec![17, 7, 2]
        );
        assert_eq!(reached_from_furthest(2, &[(5, 1)]), vec![1, 1]);
        assert_eq!(reached_from_furthest(2, &[]), vec![0, 0]);
    }
}
