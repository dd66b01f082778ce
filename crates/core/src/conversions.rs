//! Goals, conversions and their attribution: what a conversion is, how revenue in many
//! currencies becomes one figure, and how private and public visits compare.
//!
//! A goal is a filter over events, matched when a report runs (ARCHITECTURE.md,
//! "Conversions and surveys"): a goal added today counts the past too, and every store
//! answers the same way. A conversion is credited to its visit: the visit's channel,
//! evidence, share channel, link and generation are on every row of the visit already.

use std::collections::BTreeMap;

use crate::channel::ChannelGroup;
use crate::interval::{newcombe_difference, wilson, Z95};

/// What a goal counts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum GoalKind {
    /// Custom events with this name (`purchase`, `signup`).
    Event(String),
    /// Pageviews of paths matching this pattern (`/thanks`, `/order/*/done`): `*` matches
    /// any run of characters.
    Page(String),
}

impl GoalKind {
    pub fn kind_str(&self) -> &'static str {
        match self {
            GoalKind::Event(_) => "event",
            GoalKind::Page(_) => "page",
        }
    }

    pub fn value(&self) -> &str {
        match self {
            GoalKind::Event(v) | GoalKind::Page(v) => v,
        }
    }

    /// Build and check a goal from its kind (`event` or `page`) and value.
    pub fn parse(kind: &str, value: &str) -> Result<GoalKind, String> {
        let value = value.trim();
        match kind.trim() {
            "event" => {
                if value.is_empty() || value.chars().count() > 120 {
                    return Err("an event goal needs an event name of 1 to 120 characters".into());
                }
                if value == "pageview" {
                    return Err("`pageview` is not a goal: use a page goal with a path".into());
                }
                if value.chars().any(char::is_control) {
                    return Err("the event name has control characters".into());
                }
                Ok(GoalKind::Event(value.to_string()))
            }
            "page" => {
                if !value.starts_with('/') || value.len() > 2000 {
                    return Err(
                        "a page goal needs a path starting with `/` (`*` for any part)".into(),
                    );
                }
                if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
                    return Err("the path has spaces or control characters".into());
                }
                Ok(GoalKind::Page(value.to_string()))
            }
            other => Err(format!("unknown goal kind `{other}` (event or page)")),
        }
    }

    /// Does an event match? (The stores match in SQL; this is the reference they are
    /// tested against, and the matcher for rows already in memory.)
    pub fn matches(&self, name: &str, path: &str) -> bool {
        match self {
            GoalKind::Event(n) => name == n,
            GoalKind::Page(p) => name == "pageview" && wildcard_match(p, path),
        }
    }
}

/// `*` matches any run of characters (including none); everything else is literal.
pub fn wildcard_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// ISO 4217 codes are three capital letters.
pub fn valid_currency(c: &str) -> bool {
    c.len() == 3 && c.chars().all(|ch| ch.is_ascii_uppercase())
}

/// Digits after the decimal point of an ISO 4217 currency (2 unless listed).
pub fn minor_digits(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Minor units as a decimal amount (`1990` EUR → 19.9).
pub fn major_amount(minor: i64, currency: &str) -> f64 {
    minor as f64 / 10f64.powi(minor_digits(currency) as i32)
}

/// A site's fixed exchange rates into its own currency: `USD=0.92, GBP=1.17` means one
/// US dollar counts as 0.92 of the site's currency. Lucarne makes no third-party call,
/// so it never fetches rates: the owner sets them (or leaves other currencies apart).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExchangeRates {
    rates: BTreeMap<String, f64>,
}

impl ExchangeRates {
    pub fn parse(s: &str) -> Result<ExchangeRates, String> {
        let mut rates = BTreeMap::new();
        for part in s
            .split([',', ';', ' ', '\n'])
            .filter(|p| !p.trim().is_empty())
        {
            let (c, r) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}`: write CODE=RATE, e.g. USD=0.92"))?;
            let c = c.trim().to_ascii_uppercase();
            if !valid_currency(&c) {
                return Err(format!("`{c}` is not an ISO 4217 currency code"));
            }
            let r: f64 = r
                .trim()
                .parse()
                .map_err(|_| format!("`{}` is not a number", r.trim()))?;
            if !(r.is_finite() && r > 0.0) {
                return Err(format!("the rate of {c} must be a positive number"));
            }
            rates.insert(c, r);
        }
        Ok(ExchangeRates { rates })
    }

    /// The canonical text form (`GBP=1.17,USD=0.92`).
    pub fn to_text(&self) -> String {
        self.rates
            .iter()
            .map(|(c, r)| format!("{c}={r}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn rate(&self, currency: &str) -> Option<f64> {
        self.rates.get(currency).copied()
    }
}

/// Revenue per currency (minor units), and its total in the site's currency.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Revenue {
    /// Minor units per currency, by code.
    pub by_currency: BTreeMap<String, i64>,
}

/// Revenue summed into the site's currency.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// In the site's currency, major units (19.9 = 19.90 EUR).
    pub total: f64,
    /// Currencies without a rate, left out of `total`.
    pub unconverted: Vec<String>,
}

impl Revenue {
    pub fn add(&mut self, currency: &str, minor: i64) {
        *self.by_currency.entry(currency.to_string()).or_default() += minor;
    }

    pub fn is_empty(&self) -> bool {
        self.by_currency.is_empty()
    }

    pub fn in_currency(&self, site_currency: &str, rates: &ExchangeRates) -> Converted {
        let mut total = 0.0;
        let mut unconverted = Vec::new();
        for (c, minor) in &self.by_currency {
            let major = major_amount(*minor, c);
            if c == site_currency {
                total += major;
            } else if let Some(r) = rates.rate(c) {
                total += major * r;
            } else {
                unconverted.push(c.clone());
            }
        }
        Converted {
            total: (total * 100.0).round() / 100.0,
            unconverted,
        }
    }
}

/// Channel groups whose visits came through a private route: messaging and e-mail.
pub fn is_private_group(g: ChannelGroup) -> bool {
    matches!(g, ChannelGroup::PrivateMessage | ChannelGroup::Email)
}

/// Conversion rate of visits from private routes against public social ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Uplift {
    pub private_visits: u64,
    pub private_converting: u64,
    pub public_visits: u64,
    pub public_converting: u64,
    /// Rates as fractions (0.034 = 3.4 %).
    pub private_rate: f64,
    pub public_rate: f64,
    /// private_rate − public_rate, with its 95 % interval.
    pub difference: f64,
    pub difference_low: f64,
    pub difference_high: f64,
    /// private_rate / public_rate − 1 ("converts 62 % better"), when the public rate is
    /// not zero (a point estimate: the interval is the difference's).
    pub relative: Option<f64>,
    pub private_interval: (f64, f64),
    pub public_interval: (f64, f64),
    /// The difference is significant at 95 %: its interval excludes zero.
    pub significant: bool,
    pub method: &'static str,
}

pub const UPLIFT_METHOD: &str = "difference of two proportions (converting visits / visits), \
     95 % interval by Newcombe's hybrid score method (method 10, from Wilson intervals)";

pub fn uplift(
    private_converting: u64,
    private_visits: u64,
    public_converting: u64,
    public_visits: u64,
) -> Uplift {
    // A server-side conversion may credit a visit from before the period: cap so that
    // rates stay proportions.
    let pk = private_converting.min(private_visits);
    let qk = public_converting.min(public_visits);
    let rate = |k: u64, n: u64| if n == 0 { 0.0 } else { k as f64 / n as f64 };
    let (p, q) = (rate(pk, private_visits), rate(qk, public_visits));
    let (lo, hi) = newcombe_difference(pk, private_visits, qk, public_visits, Z95);
    Uplift {
        private_visits,
        private_converting,
        public_visits,
        public_converting,
        private_rate: p,
        public_rate: q,
        difference: p - q,
        difference_low: lo,
        difference_high: hi,
        relative: (q > 0.0).then(|| p / q - 1.0),
        private_interval: wilson(pk, private_visits, Z95),
        public_interval: wilson(qk, public_visits, Z95),
        significant: private_visits > 0 && public_visits > 0 && (lo > 0.0 || hi < 0.0),
        method: UPLIFT_METHOD,
    }
}

/// The root of each converting visit's share cascade: walk `parent` links up (at most
/// `max_depth` steps, so a malformed loop ends). A visit without a parent is its own root.
pub fn cascade_root(
    session: u64,
    parent: &std::collections::HashMap<u64, u64>,
    max_depth: usize,
) -> u64 {
    let mut at = session;
    for _ in 0..max_depth {
        match parent.get(&at) {
            Some(&p) if p != 0 && p != at => at = p,
            _ => break,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_parse_and_match() {
        let e = GoalKind::parse("event", " purchase ").unwrap();
        assert!(e.matches("purchase", "/x"));
        assert!(!e.matches("pageview", "/purchase"));
        let p = GoalKind::parse("page", "/order/*/done").unwrap();
        assert!(p.matches("pageview", "/order/42/done"));
        assert!(!p.matches("pageview", "/order/42/failed"));
        assert!(!p.matches("purchase", "/order/42/done"));
        assert!(GoalKind::parse("page", "thanks").is_err());
        assert!(GoalKind::parse("event", "").is_err());
        assert!(GoalKind::parse("event", "pageview").is_err());
        assert!(GoalKind::parse("visit", "x").is_err());
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("/a/*", "/a/"));
        assert!(wildcard_match("/a/*", "/a/b/c"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("/*/x/*", "/1/x/2"));
        assert!(!wildcard_match("/*/x/*", "/1/y/2"));
        assert!(!wildcard_match("/ab*ba", "/aba"));
        assert!(wildcard_match("/thanks", "/thanks"));
        assert!(!wildcard_match("/thanks", "/thanks/"));
    }

    #[test]
    fn revenue_in_site_currency() {
        let rates = ExchangeRates::parse("usd=0.5; GBP=2").unwrap();
        assert_eq!(rates.to_text(), "GBP=2,USD=0.5");
        let mut r = Revenue::default();
        r.add("EUR", 1990);
        r.add("USD", 1000);
        r.add("JPY", 500);
        r.add("EUR", 10);
        let c = r.in_currency("EUR", &rates);
        assert_eq!(c.total, 25.0);
        assert_eq!(c.unconverted, vec!["JPY".to_string()]);
        assert_eq!(major_amount(500, "JPY"), 500.0);
        assert_eq!(major_amount(1234, "KWD"), 1.234);
        assert!(ExchangeRates::parse("USD").is_err());
        assert!(ExchangeRates::parse("US=1").is_err());
        assert!(ExchangeRates::parse("USD=-1").is_err());
        assert_eq!(ExchangeRates::parse("").unwrap(), ExchangeRates::default());
    }

    #[test]
    fn uplift_of_private_visits() {
        // 56/70 against 48/80: Newcombe's worked example, difference 0.2.
        let u = uplift(56, 70, 48, 80);
        assert!((u.difference - 0.2).abs() < 1e-12);
        assert!((u.difference_low - 0.0524).abs() < 1e-3, "{u:?}");
        assert!((u.difference_high - 0.3339).abs() < 1e-3, "{u:?}");
        assert!(u.significant);
        assert!((u.relative.unwrap() - (0.8 / 0.6 - 1.0)).abs() < 1e-12);
        let none = uplift(0, 0, 0, 0);
        assert!(!none.significant);
        assert_eq!(none.relative, None);
        // Credited conversions beyond the visits are capped.
        assert_eq!(uplift(5, 3, 0, 10).private_rate, 1.0);
    }

    #[test]
    fn roots() {
        let parent: std::collections::HashMap<u64, u64> =
            [(3, 2), (2, 1), (9, 8), (8, 9)].into_iter().collect();
        assert_eq!(cascade_root(3, &parent, 64), 1);
        assert_eq!(cascade_root(1, &parent, 64), 1);
        // A loop stops after max_depth steps.
        let r = cascade_root(9, &parent, 5);
        assert!(r == 8 || r == 9);
    }
}
