//! Weekly and monthly digests: for the last complete site-local week (Monday to
//! Sunday) or month, the dark-social share and its change against the period before,
//! the pages most arrived at in private, the top channels, the largest share cascades,
//! and each goal's conversions with the private-versus-public uplift. The numbers are
//! the stats API's: the same store queries over the same local days.
//!
//! A digest is made once per site and period (the cursor `digest_weekly` /
//! `digest_monthly` remembers the last period made) and put in the outbox for every
//! subscriber, in their language; the outbox's `dedupe` key
//! (`weekly:SITE:USER:FIRST-DAY`) keeps it single whatever the nodes do.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use lucarne_core::stats::{utc_range, Metric, Period, Property, ReportQuery, Value};
use lucarne_store::meta::{Channel, NewDelivery, SubKind};

use super::message::{self, fill, int, money, pct, points, t, Section};
use super::SiteCtx;
use crate::api::conversions::{conversion_report, By, ConversionReport};
use crate::api::stats::{blocking, site_tz};
use crate::error::ApiError;
use crate::state::AppState;

/// Rows each list of a digest shows.
const ROWS: usize = 5;

/// The last complete period of `kind` before the local day `today`.
pub fn last_period(kind: SubKind, today: NaiveDate) -> (NaiveDate, NaiveDate) {
    match kind {
        SubKind::Monthly => {
            let first_this = today.with_day(1).unwrap_or(today);
            let last = first_this.pred_opt().unwrap_or(first_this);
            (last.with_day(1).unwrap_or(last), last)
        }
        _ => {
            let monday = today - Duration::days(i64::from(today.weekday().num_days_from_monday()));
            (monday - Duration::days(7), monday - Duration::days(1))
        }
    }
}

/// What a digest reports (language-free; [`Digest::email`] words it).
#[derive(Debug, Clone, Default)]
pub struct Digest {
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub visitors: u64,
    pub visits: u64,
    pub pageviews: u64,
    /// Percent of visits, identified and estimated (the API's `dark_share` parts).
    pub dark_identified: f64,
    pub dark_estimated: f64,
    /// The period before, the same length.
    pub dark_before: f64,
    /// (page, dark arrivals, visits), most dark arrivals first.
    pub pages: Vec<(String, u64, u64)>,
    /// (channel's name, visits).
    pub channels: Vec<(String, u64)>,
    /// (landing page, share-visits, depth), largest first.
    pub cascades: Vec<(String, usize, u32)>,
    pub conversions: Option<ConversionReport>,
}

fn dark(a: &lucarne_core::stats::Aggregates) -> (f64, f64) {
    match a.value(Metric::DarkShare) {
        Value::DarkShare {
            identified,
            estimated,
        } => (identified, estimated),
        _ => (0.0, 0.0),
    }
}

impl Digest {
    /// The digest of the site-local days `from..=to`.
    pub async fn compute(
        state: &Arc<AppState>,
        site: &lucarne_store::meta::Site,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Digest, ApiError> {
        let tz = site_tz(site);
        let q = |from: NaiveDate, to: NaiveDate| {
            let (f, t) = utc_range(&tz, from, to);
            ReportQuery {
                site_id: site.id,
                from: f,
                to: t,
                filters: Vec::new(),
                conditions: Vec::new(),
                with_sessions: false,
                with_shares: false,
            }
        };
        let now_q = q(from, to);
        let (pf, pt) = Period::previous(from, to);
        let before_q = q(pf, pt);
        let graph_q = now_q.clone();
        let (now, before, pages, channels, graph) = blocking(state, move |s| {
            Ok((
                s.events.aggregate(&now_q)?,
                s.events.aggregate(&before_q)?,
                s.events.breakdown(&now_q, &Property::EntryPage, 1000, 0)?,
                s.events.breakdown(&now_q, &Property::Channel, ROWS, 0)?,
                s.events.share_graph(&graph_q)?,
            ))
        })
        .await?;
        let (ident, est) = dark(&now);
        let (bi, be) = dark(&before);
        let mut pages: Vec<(String, u64, u64)> = pages
            .into_iter()
            .map(|(p, a)| {
                (
                    p,
                    a.visits_identified_dark + a.visits_estimated_dark,
                    a.visits,
                )
            })
            .filter(|(_, d, _)| *d > 0)
            .collect();
        pages.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        pages.truncate(ROWS);
        let channels = channels
            .into_iter()
            .filter(|(_, a)| a.visits > 0)
            .map(|(c, a)| (super::channel_name(state, &c), a.visits))
            .collect();
        let mut cascades: Vec<(String, usize, u32)> =
            lucarne_core::cascade::build(&graph.edges, &graph.visits)
                .into_iter()
                .filter(|c| c.size > 0)
                .map(|c| (c.page, c.size, c.depth))
                .collect();
        cascades.sort_by(|a, b| b.1.cmp(&a.1).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
        cascades.truncate(3);
        let conversions = if state.meta.goals(site.id).await?.is_empty() {
            None
        } else {
            let by = By::parse(Some("visit:channel_group"))?;
            Some(conversion_report(state, site, q(from, to), None, &by).await?)
        };
        Ok(Digest {
            from,
            to,
            visitors: now.visitors,
            visits: now.visits,
            pageviews: now.pageviews,
            dark_identified: ident,
            dark_estimated: est,
            dark_before: bi + be,
            pages,
            channels,
            cascades,
            conversions,
        })
    }

    /// The dark-social share (the API's `dark_share`: its parts' sum).
    pub fn dark_share(&self) -> f64 {
        ((self.dark_identified + self.dark_estimated) * 10.0).round() / 10.0
    }

    /// The digest as an e-mail in `locale`.
    pub fn email(
        &self,
        locale: &str,
        kind: SubKind,
        site: &str,
        dashboard: &str,
        unsubscribe: &str,
    ) -> super::outbox::Email {
        let l = locale;
        let (from, to) = (self.from.to_string(), self.to.to_string());
        let (subject_key, title_key) = match kind {
            SubKind::Monthly => ("monthly_subject", "monthly_title"),
            _ => ("weekly_subject", "weekly_title"),
        };
        let subject = fill(
            t(l, subject_key),
            &[("site", site), ("from", &from), ("to", &to)],
        );
        let title = fill(t(l, title_key), &[("site", site)]);
        let intro = vec![
            fill(
                t(l, "dark_share"),
                &[
                    ("share", &pct(l, self.dark_share())),
                    ("change", &points(l, self.dark_share() - self.dark_before)),
                ],
            ),
            fill(
                t(l, "dark_parts"),
                &[
                    ("ident", &pct(l, self.dark_identified)),
                    ("est", &pct(l, self.dark_estimated)),
                ],
            ),
            fill(
                t(l, "totals"),
                &[
                    ("visitors", &int(l, self.visitors)),
                    ("visits", &int(l, self.visits)),
                    ("pageviews", &int(l, self.pageviews)),
                ],
            ),
        ];
        let mut sections = vec![
            Section {
                heading: t(l, "top_pages").into(),
                lines: self
                    .pages
                    .iter()
                    .map(|(p, d, v)| {
                        fill(
                            t(l, "page_line"),
                            &[("page", p), ("dark", &int(l, *d)), ("visits", &int(l, *v))],
                        )
                    })
                    .collect(),
            },
            Section {
                heading: t(l, "top_channels").into(),
                lines: self
                    .channels
                    .iter()
                    .map(|(c, v)| {
                        fill(
                            t(l, "channel_line"),
                            &[("channel", c), ("visits", &int(l, *v))],
                        )
                    })
                    .collect(),
            },
            Section {
                heading: t(l, "cascades").into(),
                lines: self
                    .cascades
                    .iter()
                    .map(|(p, size, depth)| {
                        fill(
                            t(l, "cascade_line"),
                            &[
                                ("page", p),
                                ("size", &int(l, *size as u64)),
                                ("depth", &depth.to_string()),
                            ],
                        )
                    })
                    .collect(),
            },
        ];
        if let Some(c) = &self.conversions {
            let mut lines: Vec<String> = Vec::new();
            for g in &c.goals {
                lines.push(fill(
                    t(l, "goal_line"),
                    &[
                        ("goal", &g.name),
                        ("conversions", &int(l, g.counts.conversions)),
                        ("rate", &pct(l, g.counts.conversion_rate)),
                    ],
                ));
                let r = &g.counts.revenue;
                if r.total != 0.0 {
                    lines.push(fill(
                        t(l, "goal_revenue"),
                        &[
                            ("goal", &g.name),
                            ("revenue", &money(l, r.total, &r.currency)),
                        ],
                    ));
                }
            }
            if let Some(u) = &c.uplift {
                lines.push(fill(
                    t(l, "uplift"),
                    &[
                        ("private", &pct(l, u.private.conversion_rate)),
                        ("public", &pct(l, u.public.conversion_rate)),
                        ("diff", &points(l, u.difference_points)),
                        (
                            "sig",
                            if u.significant {
                                t(l, "significant")
                            } else {
                                ""
                            },
                        ),
                    ],
                ));
            }
            sections.push(Section {
                heading: t(l, "conversions").into(),
                lines,
            });
        }
        message::email(message::Letter {
            locale: l,
            subject,
            title: &title,
            intro: &intro,
            sections: &sections,
            dashboard,
            site,
            unsubscribe: Some(unsubscribe),
        })
    }
}

/// Put the due digests of a site in the outbox; how many e-mails.
pub async fn enqueue_due(
    state: &Arc<AppState>,
    ctx: &SiteCtx,
    now: DateTime<Utc>,
) -> Result<usize, ApiError> {
    if state.mailer.is_none() {
        return Ok(0);
    }
    let site = &ctx.site;
    let today = now.with_timezone(&site_tz(site).0).date_naive();
    let mut n = 0;
    for kind in [SubKind::Weekly, SubKind::Monthly] {
        let subs: Vec<_> = ctx.subscribers(kind).collect();
        if subs.is_empty() {
            continue;
        }
        let (from, to) = last_period(kind, today);
        // A subscriber gets the periods that end after they subscribed, never an older one.
        let end = utc_range(&site_tz(site), from, to).1;
        let subs: Vec<_> = subs.into_iter().filter(|s| s.created_at < end).collect();
        if subs.is_empty() {
            continue;
        }
        let cursor = format!("digest_{}", kind.as_str());
        if state.meta.notify_cursor(site.id, &cursor).await?.as_deref() == Some(&from.to_string()) {
            continue;
        }
        let digest = Digest::compute(state, site, from, to).await?;
        let base = super::public_base(state);
        let dashboard = format!(
            "{base}/sites/{}?period=custom&from={from}&to={to}",
            site.domain
        );
        for s in subs {
            let unsubscribe = format!("{base}/unsubscribe/{}", s.token);
            let mail = digest.email(&s.locale, kind, &site.domain, &dashboard, &unsubscribe);
            let payload = serde_json::to_string(&mail).unwrap_or_default();
            if state
                .meta
                .enqueue_delivery(&NewDelivery {
                    site_id: site.id,
                    channel: Channel::Email,
                    target: &s.email,
                    kind: kind.as_str(),
                    dedupe: &format!("{}:{}:{}:{from}", kind.as_str(), site.id, s.user_id),
                    payload: &payload,
                    not_before: now,
                })
                .await?
            {
                n += 1;
            }
        }
        state
            .meta
            .set_notify_cursor(site.id, &cursor, &from.to_string())
            .await?;
        tracing::info!(message = "Digest made.", site_id = site.id, kind = kind.as_str(), from = %from, to = %to);
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_the_last_complete_week_or_month() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap_or_default();
        // Monday 2026-12-07: the week of Nov 30 – Dec 6.
        assert_eq!(
            last_period(SubKind::Weekly, d("2026-12-07")),
            (d("2026-11-30"), d("2026-12-06"))
        );
        // Sunday 2026-12-13: still that week (the current one is not over).
        assert_eq!(
            last_period(SubKind::Weekly, d("2026-12-13")),
            (d("2026-11-30"), d("2026-12-06"))
        );
        assert_eq!(
            last_period(SubKind::Monthly, d("2026-12-07")),
            (d("2026-11-01"), d("2026-11-30"))
        );
        assert_eq!(
            last_period(SubKind::Monthly, d("2026-01-01")),
            (d("2025-12-01"), d("2025-12-31"))
        );
        assert_eq!(
            last_period(SubKind::Monthly, d("2024-03-31")),
            (d("2024-02-01"), d("2024-02-29"))
        );
    }
}
