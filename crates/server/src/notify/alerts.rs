//! Alerts, evaluated each round over the hour that just passed (`[now − 1 h, now)`):
//!
//! - **going viral in private** (`viral`): per landing page, its *private arrivals* —
//!   visits from private-message apps and e-mail, estimated-dark visits (a deep page with
//!   no referrer), the other visits that arrived through a share token (a shared link
//!   opened from a public place: its token still says it was passed on), plus the link
//!   previews apps fetched of it — against the page's own baseline, its hourly mean over the 14
//!   whole UTC days before today (closed days, which rollups answer; read once a day).
//!   It fires when the hour has at least `viral_min_arrivals` and at least
//!   `viral_factor` times the baseline; it names the apps and the share cascade's depth
//!   so far (the deepest `visit:generation` that landed on the page today).
//! - **traffic spike** (`spike`): the site's visitors in the hour against the clock hour
//!   nearest it on each of the 14 days before (mean μ, spread σ; read once an hour); it
//!   fires at
//!   `max(spike_min_visitors, spike_factor × μ, μ + 3σ)`.
//!
//! Each alert fires at most once per site-local day per page (viral) or per site
//! (spike), and a site raises at most `daily_cap` alerts a day. E-mails of an alert
//! raised during the site's quiet hours wait for their end; webhooks are called at once.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveTime, TimeZone, Timelike, Utc};
use lucarne_core::links::PREVIEW_EVENT;
use lucarne_core::stats::{Filter, Property, ReportQuery};
use lucarne_core::token::TokenStatus;
use lucarne_core::ChannelGroup;
use lucarne_store::meta::{Channel, NewDelivery, SubKind};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::message::{self, fill, int, t};
use super::SiteCtx;
use crate::api::stats::{blocking, site_tz};
use crate::error::ApiError;
use crate::state::AppState;

/// A site's alert settings (`sites.alert_options`, JSON; missing keys take defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertOptions {
    /// A spike needs at least this many visitors in the hour…
    pub spike_min_visitors: u64,
    /// …and this many times the usual level.
    pub spike_factor: f64,
    /// A page goes viral in private with at least this many private arrivals in an hour…
    pub viral_min_arrivals: u64,
    /// …and this many times its usual hour.
    pub viral_factor: f64,
    /// Site-local hours `[start, end)` when alert e-mails wait (e.g. `[22, 7]`).
    pub quiet_hours: Option<[u8; 2]>,
    /// Most alerts a site raises in one site-local day.
    pub daily_cap: u32,
}

impl Default for AlertOptions {
    fn default() -> Self {
        AlertOptions {
            spike_min_visitors: 50,
            spike_factor: 3.0,
            viral_min_arrivals: 10,
            viral_factor: 5.0,
            quiet_hours: None,
            daily_cap: 5,
        }
    }
}

impl AlertOptions {
    /// The stored text (`''` or anything unreadable: the defaults, logged).
    pub fn parse(s: &str) -> AlertOptions {
        if s.trim().is_empty() {
            return AlertOptions::default();
        }
        match Self::check(s) {
            Ok(o) => o,
            Err(e) => {
                tracing::warn!(message = "Unreadable alert options; using the defaults.", error = %e);
                AlertOptions::default()
            }
        }
    }

    /// The text an owner gave, checked.
    pub fn check(s: &str) -> Result<AlertOptions, String> {
        let o: AlertOptions = serde_json::from_str(s).map_err(|e| e.to_string())?;
        if !(o.spike_factor >= 1.0 && o.viral_factor >= 1.0) {
            return Err("factors must be at least 1".into());
        }
        if o.quiet_hours.is_some_and(|[a, b]| a > 23 || b > 23) {
            return Err("quiet hours are 0 to 23".into());
        }
        if o.spike_min_visitors == 0 || o.viral_min_arrivals == 0 {
            return Err("minimums must be at least 1".into());
        }
        Ok(o)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// How many hours the baseline spans.
const BASELINE_DAYS: i64 = 14;
/// Pages examined per round at most (the busiest of the hour).
const CANDIDATES: usize = 10;

fn query(
    site_id: u32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    filters: Vec<Filter>,
) -> ReportQuery {
    ReportQuery {
        site_id,
        from,
        to,
        filters,
        conditions: Vec::new(),
        with_sessions: false,
        with_shares: false,
    }
}

fn previews_of_pages() -> Vec<Filter> {
    vec![
        Filter::is(Property::Name, vec![PREVIEW_EVENT.to_string()]),
        Filter::is(Property::EventLink, vec![String::new()]),
    ]
}

/// A page's private arrivals in a range: dark visits landing on it, the other visits a
/// share token brought to it, and previews of it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Arrivals {
    dark: u64,
    shared: u64,
    previews: u64,
}

impl Arrivals {
    fn total(self) -> u64 {
        self.dark + self.shared + self.previews
    }
}

/// Private arrivals per page in `[from, to)` (only pages with any; the 1,000 busiest).
async fn arrivals_by_page(
    state: &Arc<AppState>,
    site_id: u32,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, Arrivals)>, ApiError> {
    let visits_q = query(site_id, from, to, Vec::new());
    let linked = TokenStatus::Linked.as_str().to_string();
    let tokens_q = query(
        site_id,
        from,
        to,
        vec![Filter::is(Property::TokenStatus, vec![linked])],
    );
    let previews_q = query(site_id, from, to, previews_of_pages());
    let (visits, tokens, previews) = blocking(state, move |s| {
        Ok((
            s.events
                .breakdown(&visits_q, &Property::EntryPage, 1000, 0)?,
            s.events
                .breakdown(&tokens_q, &Property::EntryPage, 1000, 0)?,
            s.events.breakdown(&previews_q, &Property::Page, 1000, 0)?,
        ))
    })
    .await?;
    let mut out: std::collections::BTreeMap<String, Arrivals> = Default::default();
    for (p, a) in visits {
        let dark = a.visits_identified_dark + a.visits_estimated_dark;
        if dark > 0 {
            out.entry(p).or_default().dark += dark;
        }
    }
    // Token arrivals the first count does not hold (those through a public app).
    for (p, a) in tokens {
        let shared = a
            .visits
            .saturating_sub(a.visits_identified_dark + a.visits_estimated_dark);
        if shared > 0 {
            out.entry(p).or_default().shared += shared;
        }
    }
    for (p, a) in previews {
        if a.events > 0 {
            out.entry(p).or_default().previews += a.events;
        }
    }
    Ok(out.into_iter().collect())
}

/// Private arrivals per page over the 14 whole UTC days before `now`'s, the pages'
/// baselines. Whole closed days, so rollups answer them, and the same all day long: kept
/// per (site, day) and computed once a day, not every round (the cache holds only the
/// current day's entries).
async fn page_baselines(
    state: &Arc<AppState>,
    site_id: u32,
    now: DateTime<Utc>,
) -> Result<Arc<HashMap<String, u64>>, ApiError> {
    let cache = &state.notify_baselines;
    let today = now.date_naive();
    let key = (site_id, today);
    if let Some(b) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(b.clone());
    }
    let to = today.and_time(NaiveTime::MIN).and_utc();
    let from = to - Duration::days(BASELINE_DAYS);
    let totals: HashMap<String, u64> = arrivals_by_page(state, site_id, from, to)
        .await?
        .into_iter()
        .map(|(p, a)| (p, a.total()))
        .collect();
    let totals = Arc::new(totals);
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    c.retain(|(_, day), _| *day == today);
    c.insert(key, totals.clone());
    Ok(totals)
}

/// The site's visitors in the clock hour nearest the last sliding hour (the one that
/// starts at `now − 30 min`, truncated), on each of the 14 days before: the spike's
/// baseline, read once per site and hour (whole past hours, which rollups answer).
async fn spike_baseline(
    state: &Arc<AppState>,
    site_id: u32,
    now: DateTime<Utc>,
) -> Result<Arc<Vec<u64>>, ApiError> {
    let mid = now - Duration::minutes(30);
    let start = mid
        .date_naive()
        .and_hms_opt(mid.hour(), 0, 0)
        .map_or(mid, |t| t.and_utc());
    let cache = &state.notify_spike_baselines;
    let key = (site_id, start);
    if let Some(b) = cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
        return Ok(b.clone());
    }
    let windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = (1..=BASELINE_DAYS)
        .map(|d| {
            let f = start - Duration::days(d);
            (f, f + Duration::hours(1))
        })
        .collect();
    let counts = blocking(state, move |s| {
        windows
            .iter()
            .map(|(f, t)| {
                s.events
                    .aggregate(&query(site_id, *f, *t, Vec::new()))
                    .map(|a| a.visitors)
            })
            .collect::<Result<Vec<u64>, _>>()
    })
    .await?;
    let counts = Arc::new(counts);
    let mut c = cache.lock().unwrap_or_else(|p| p.into_inner());
    c.retain(|(_, hour), _| *hour == start);
    c.insert(key, counts.clone());
    Ok(counts)
}

/// A spike's usual level (mean μ of the past hours) and its threshold:
/// `max(spike_min_visitors, spike_factor × μ, μ + 3σ)`.
fn spike_threshold(o: &AlertOptions, past: &[u64]) -> (f64, f64) {
    let n = past.len().max(1) as f64;
    let mean = past.iter().sum::<u64>() as f64 / n;
    let var = past.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let threshold = (o.spike_min_visitors as f64)
        .max(o.spike_factor * mean)
        .max(mean + 3.0 * var.sqrt());
    (mean, threshold)
}

/// One alert, ready to record and send.
struct Raised {
    kind: &'static str,
    subject: String,
    dedupe: String,
    details: serde_json::Value,
    /// Per language: (subject, lines).
    text: fn(&str, &serde_json::Value, &str) -> (String, Vec<String>),
}

/// Evaluate a site's alerts at `now`; the number raised.
pub async fn evaluate(
    state: &Arc<AppState>,
    ctx: &SiteCtx,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    let mailing = state.mailer.is_some() && ctx.subscribers(SubKind::Alerts).next().is_some();
    if !mailing && ctx.hooks("alerts").next().is_none() {
        return Ok(0);
    }
    let site = &ctx.site;
    let o = &ctx.options;
    let tz = site_tz(site);
    let local = now.with_timezone(&tz.0);
    let today = local.date_naive();
    let midnight = lucarne_core::stats::local_midnight(&tz, today);
    let raised_today = state
        .meta
        .alerts_since(site.id, midnight, i64::from(o.daily_cap) + 1)
        .await?
        .len();
    let mut room = (o.daily_cap as usize).saturating_sub(raised_today);
    if room == 0 {
        return Ok(0);
    }
    let hour = (now - Duration::hours(1), now);
    let mut found: Vec<Raised> = Vec::new();

    // Going viral in private.
    let mut pages = arrivals_by_page(state, site.id, hour.0, hour.1).await?;
    pages.retain(|(_, a)| a.total() >= o.viral_min_arrivals);
    pages.sort_by(|a, b| b.1.total().cmp(&a.1.total()).then(a.0.cmp(&b.0)));
    pages.truncate(CANDIDATES);
    let baselines = if pages.is_empty() {
        Arc::new(HashMap::new())
    } else {
        page_baselines(state, site.id, now).await?
    };
    for (page, now_a) in pages {
        let base_total = baselines.get(&page).copied().unwrap_or(0);
        let baseline = base_total as f64 / (BASELINE_DAYS * 24) as f64;
        if (now_a.total() as f64) < o.viral_factor * baseline {
            continue;
        }
        // The apps, and how deep the page's cascade went today.
        let on_page = vec![Filter::is(Property::EntryPage, vec![page.clone()])];
        let mut apps_f = on_page.clone();
        apps_f.push(Filter::is(
            Property::ChannelGroup,
            vec![
                ChannelGroup::PrivateMessage.as_str().to_string(),
                ChannelGroup::Email.as_str().to_string(),
            ],
        ));
        let apps_q = query(site.id, hour.0, hour.1, apps_f);
        let depth_q = query(site.id, midnight.min(hour.0), hour.1, on_page);
        let (apps, gens) = blocking(state, move |s| {
            Ok((
                s.events.breakdown(&apps_q, &Property::Channel, 5, 0)?,
                s.events
                    .breakdown(&depth_q, &Property::Generation, 100, 0)?,
            ))
        })
        .await?;
        let apps: Vec<serde_json::Value> = apps
            .into_iter()
            .filter(|(_, a)| a.visits > 0)
            .map(|(c, a)| {
                let name = super::channel_name(state, &c);
                json!({"channel": c, "name": name, "visits": a.visits})
            })
            .collect();
        let depth = gens
            .iter()
            .filter(|(_, a)| a.visits > 0)
            .filter_map(|(g, _)| g.parse::<u32>().ok())
            .max()
            .unwrap_or(0);
        found.push(Raised {
            kind: "viral",
            dedupe: format!("viral:{}:{}:{today}", site.id, page),
            subject: page.clone(),
            details: json!({
                "page": page,
                "arrivals": now_a.total(),
                "dark_visits": now_a.dark,
                "share_link_visits": now_a.shared,
                "previews": now_a.previews,
                "baseline_per_hour": (baseline * 10.0).round() / 10.0,
                "apps": apps,
                "cascade_depth": depth,
                "from": hour.0.to_rfc3339(),
                "to": hour.1.to_rfc3339(),
            }),
            text: viral_text,
        });
    }

    // A traffic spike.
    let spike_key = format!("spike:{}:{today}", site.id);
    let now_q = query(site.id, hour.0, hour.1, Vec::new());
    let visitors = blocking(state, move |s| {
        s.events.aggregate(&now_q).map(|a| a.visitors)
    })
    .await?;
    if visitors >= o.spike_min_visitors {
        let past = spike_baseline(state, site.id, now).await?;
        let (mean, threshold) = spike_threshold(o, &past);
        if visitors as f64 >= threshold {
            found.push(Raised {
                kind: "spike",
                dedupe: spike_key,
                subject: String::new(),
                details: json!({
                    "visitors": visitors,
                    "baseline": (mean * 10.0).round() / 10.0,
                    "from": hour.0.to_rfc3339(),
                    "to": hour.1.to_rfc3339(),
                }),
                text: spike_text,
            });
        }
    }

    let mut raised = 0;
    for a in found {
        if room == 0 {
            break;
        }
        let details = a.details.to_string();
        if !state
            .meta
            .record_alert(site.id, a.kind, &a.subject, &a.dedupe, &details, now)
            .await?
        {
            continue; // Raised before (another node, an earlier round).
        }
        room -= 1;
        raised += 1;
        state
            .metrics
            .alerts
            .get_or_create(&crate::metrics::KindLabels { kind: a.kind })
            .inc();
        tracing::info!(message = "Alert raised.", site_id = site.id, kind = a.kind, subject = %a.subject);
        let base = super::public_base(state);
        let dashboard = match a.kind {
            "viral" => format!(
                "{base}/sites/{}?period=day&f={}",
                site.domain,
                url::form_urlencoded::byte_serialize(
                    format!("visit:entry_page=={}", a.subject).as_bytes()
                )
                .collect::<String>()
            ),
            _ => format!("{base}/sites/{}?period=day", site.domain),
        };
        if mailing {
            let not_before = after_quiet_hours(o, &tz.0, now);
            for s in ctx.subscribers(SubKind::Alerts) {
                let (subject, lines) = (a.text)(&s.locale, &a.details, &site.domain);
                let unsubscribe = format!("{base}/unsubscribe/{}", s.token);
                let mail = message::email(message::Letter {
                    locale: &s.locale,
                    subject: subject.clone(),
                    title: &subject,
                    intro: &lines,
                    sections: &[],
                    dashboard: &dashboard,
                    site: &site.domain,
                    unsubscribe: Some(&unsubscribe),
                });
                let payload = serde_json::to_string(&mail).unwrap_or_default();
                state
                    .meta
                    .enqueue_delivery(&NewDelivery {
                        site_id: site.id,
                        channel: Channel::Email,
                        target: &s.email,
                        kind: "alert",
                        dedupe: &format!("{}:mail:{}", a.dedupe, s.user_id),
                        payload: &payload,
                        not_before,
                    })
                    .await?;
            }
        }
        for h in ctx.hooks("alerts") {
            let (summary, lines) = (a.text)("en", &a.details, &site.domain);
            let text = std::iter::once(summary)
                .chain(lines)
                .collect::<Vec<_>>()
                .join("\n");
            let body = json!({
                "type": format!("alert.{}", a.kind),
                "site": site.domain,
                "created_at": now.to_rfc3339(),
                "data": a.details,
                "url": dashboard,
                // Slack and Discord show these as they are.
                "text": text,
                "content": text,
            })
            .to_string();
            state
                .meta
                .enqueue_delivery(&NewDelivery {
                    site_id: site.id,
                    channel: Channel::Webhook,
                    target: &h.id.to_string(),
                    kind: "alert",
                    dedupe: &format!("{}:hook:{}", a.dedupe, h.id),
                    payload: &body,
                    not_before: now,
                })
                .await?;
        }
    }
    Ok(raised)
}

/// When an alert e-mail raised at `now` may go: now, or the end of the quiet hours.
pub fn after_quiet_hours(
    o: &AlertOptions,
    tz: &chrono_tz::Tz,
    now: DateTime<Utc>,
) -> DateTime<Utc> {
    let Some([start, end]) = o.quiet_hours else {
        return now;
    };
    if start == end {
        return now;
    }
    let local = now.with_timezone(tz);
    let h = local.hour() as u8;
    let quiet = if start < end {
        h >= start && h < end
    } else {
        h >= start || h < end
    };
    if !quiet {
        return now;
    }
    let mut day = local.date_naive();
    if h >= end {
        day = day.succ_opt().unwrap_or(day);
    }
    let wake =
        day.and_time(NaiveTime::from_hms_opt(u32::from(end), 0, 0).unwrap_or(NaiveTime::MIN));
    tz.from_local_datetime(&wake)
        .earliest()
        .map_or(now, |t| t.with_timezone(&Utc))
}

fn num(v: &serde_json::Value, k: &str) -> u64 {
    v[k].as_u64().unwrap_or(0)
}

fn viral_text(locale: &str, d: &serde_json::Value, site: &str) -> (String, Vec<String>) {
    let page = d["page"].as_str().unwrap_or_default();
    let subject = fill(
        t(locale, "viral_subject"),
        &[("site", site), ("page", page)],
    );
    let baseline = d["baseline_per_hour"].as_f64().unwrap_or(0.0);
    let baseline = if locale == "fr" {
        format!("{baseline:.1}").replace('.', ",")
    } else {
        format!("{baseline:.1}")
    };
    let mut lines = vec![fill(
        t(locale, "viral_line"),
        &[
            ("page", page),
            ("arrivals", &int(locale, num(d, "arrivals"))),
            ("dark", &int(locale, num(d, "dark_visits"))),
            ("shared", &int(locale, num(d, "share_link_visits"))),
            ("previews", &int(locale, num(d, "previews"))),
            ("baseline", &baseline),
        ],
    )];
    let apps: Vec<String> = d["apps"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    format!(
                        "{} ({})",
                        x["name"].as_str().unwrap_or_default(),
                        int(locale, num(x, "visits"))
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if !apps.is_empty() {
        lines.push(fill(t(locale, "viral_apps"), &[("apps", &apps.join(", "))]));
    }
    lines.push(fill(
        t(locale, "viral_depth"),
        &[("depth", &num(d, "cascade_depth").to_string())],
    ));
    (subject, lines)
}

fn spike_text(locale: &str, d: &serde_json::Value, site: &str) -> (String, Vec<String>) {
    let subject = fill(t(locale, "spike_subject"), &[("site", site)]);
    let baseline = d["baseline"].as_f64().unwrap_or(0.0);
    let line = fill(
        t(locale, "spike_line"),
        &[
            ("visitors", &int(locale, num(d, "visitors"))),
            ("baseline", &format!("{baseline:.0}")),
        ],
    );
    (subject, vec![line])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_and_quiet_hours() {
        assert_eq!(AlertOptions::parse(""), AlertOptions::default());
        assert_eq!(AlertOptions::parse("{not json"), AlertOptions::default());
        let o = AlertOptions::check(r#"{"viral_min_arrivals": 3, "quiet_hours": [22, 7]}"#)
            .unwrap_or_default();
        assert_eq!((o.viral_min_arrivals, o.daily_cap), (3, 5));
        assert!(AlertOptions::check(r#"{"viral_factor": 0.5}"#).is_err());
        assert!(AlertOptions::check(r#"{"quiet_hours": [22, 24]}"#).is_err());
        assert!(AlertOptions::check(r#"{"colour": "red"}"#).is_err());
        assert_eq!(AlertOptions::check(&o.to_json()), Ok(o.clone()));
        let paris: chrono_tz::Tz = chrono_tz::Europe::Paris;
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap_or_default();
        // 23:30 in Paris (22:30 UTC): held until 07:00 Paris the next day (06:00 UTC).
        assert_eq!(
            after_quiet_hours(&o, &paris, at("2026-12-07T22:30:00Z")),
            at("2026-12-08T06:00:00Z")
        );
        // 03:00 in Paris: until 07:00 the same day.
        assert_eq!(
            after_quiet_hours(&o, &paris, at("2026-12-07T02:00:00Z")),
            at("2026-12-07T06:00:00Z")
        );
        // Noon: at once.
        assert_eq!(
            after_quiet_hours(&o, &paris, at("2026-12-07T11:00:00Z")),
            at("2026-12-07T11:00:00Z")
        );
        // The spike threshold: the minimum, the factor, or three spreads above the mean.
        let d = AlertOptions::default();
        assert_eq!(spike_threshold(&d, &[]), (0.0, 50.0));
        assert_eq!(spike_threshold(&d, &[20; 14]), (20.0, 60.0));
        let (mean, th) = spike_threshold(
            &d,
            &[10, 30, 10, 30, 10, 30, 10, 30, 10, 30, 10, 30, 10, 30],
        );
        assert_eq!((mean, th), (20.0, 60.0));
        let (_, th) = spike_threshold(&d, &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 140]);
        // μ = 10, σ² = (13 × 10² + 130²) / 14 = 1,300.
        assert!((th - (10.0 + 3.0 * 1300f64.sqrt())).abs() < 1e-9, "{th}");
        let day = AlertOptions {
            quiet_hours: Some([12, 14]),
            ..o
        };
        assert_eq!(
            after_quiet_hours(&day, &paris, at("2026-12-07T11:30:00Z")),
            at("2026-12-07T13:00:00Z")
        );
    }
}
