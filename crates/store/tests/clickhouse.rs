//! The ClickHouse events store against real servers (Debian's clickhouse-server, started
//! by `lucarne_testkit`): migrations, the spool in front, exactly-once replay, and the
//! same answers as DuckDB for the same rows (single server and a two-shard cluster).
//!
//! The single-server tests run twice: on Debian's 18.16 and, as `current_release_*`, on
//! a current release (the chdb engine behind `lucarne_testkit::chdb`, asserted ≥ 24), so
//! the migrations, inserts and every report query are proven on both ends of the range
//! Lucarne supports. Each test body is a function over [`Server`].

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use lucarne_core::conversions::GoalKind;
use lucarne_core::event::{EventRow, Revenue, Visit};
use lucarne_core::stats::{buckets, Aggregates, Filter, Interval, Property, ReportQuery, Utc0};
use lucarne_core::token::TokenStatus;
use lucarne_core::{ChannelGroup, Evidence};
use lucarne_store::click::ClickEvents;
use lucarne_store::duck::DuckEvents;
use lucarne_store::{ConversionGroup, EventStore, ShareGraph, VisitKey};
use lucarne_testkit::chdb::ChdbServer;
use lucarne_testkit::clickhouse::{start_cluster, ClickHouseServer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn at(y: i32, m: u32, d: u32, h: u32, min: u32, s: u32, us: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, s).unwrap() + chrono::Duration::microseconds(us.into())
}

fn base_row(site_id: u32, ts: DateTime<Utc>, name: &str) -> EventRow {
    EventRow {
        site_id,
        ts,
        name: name.into(),
        visitor_id: 1,
        session_id: 1,
        hostname: "example.com".into(),
        pathname: "/".into(),
        visit: Visit {
            entry_page: "/".into(),
            source: "Direct / None".into(),
            channel: "direct".into(),
            channel_group: ChannelGroup::Direct,
            evidence: Evidence::None,
            device: "desktop".into(),
            browser: "Firefox".into(),
            os: "Linux".into(),
            country: "FR".into(),
            screen_width: 1280,
            ..Default::default()
        },
        ..Default::default()
    }
}

const CHANNELS: [(&str, ChannelGroup, Evidence, &str, &str); 8] = [
    (
        "whatsapp",
        ChannelGroup::PrivateMessage,
        Evidence::InAppBrowser,
        "WhatsApp",
        "",
    ),
    (
        "telegram",
        ChannelGroup::PrivateMessage,
        Evidence::Referrer,
        "Telegram",
        "t.me",
    ),
    (
        "email",
        ChannelGroup::Email,
        Evidence::Utm,
        "Newsletter",
        "",
    ),
    (
        "facebook",
        ChannelGroup::PublicSocial,
        Evidence::Referrer,
        "Facebook",
        "facebook.com",
    ),
    (
        "google",
        ChannelGroup::Search,
        Evidence::Referrer,
        "Google",
        "google.com",
    ),
    (
        "dark",
        ChannelGroup::EstimatedDark,
        Evidence::DeepLink,
        "Direct / None",
        "",
    ),
    (
        "direct",
        ChannelGroup::Direct,
        Evidence::None,
        "Direct / None",
        "",
    ),
    (
        "example.org",
        ChannelGroup::Referral,
        Evidence::Referrer,
        "example.org",
        "example.org/post",
    ),
];

const PAGES: [&str; 8] = [
    "/",
    "/blog/a",
    "/blog/b_c",
    "/pricing",
    "/docs/x%y",
    "/café",
    "/blog/a's",
    "/Über-uns",
];

/// A few thousand varied rows: two sites, six days over two months, visits on every
/// channel, share cascades (share/copy events, linked visits down several generations),
/// short-link events, surveys, goals with revenue in two currencies, server-side
/// conversions days later.
fn dataset() -> Vec<EventRow> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut rows = Vec::new();
    // (session, token minted by a share, generation, ts) of earlier visits' shares.
    let mut shares: Vec<(u64, u64, u16, DateTime<Utc>, &str)> = Vec::new();
    let mut visit_tokens: Vec<(u64, u64, u16, DateTime<Utc>)> = Vec::new();
    let mut next_token = 1_000u64;
    for v in 0..700u64 {
        let site_id = if v % 10 == 9 { 2 } else { 1 };
        let day = (v % 6) as u32;
        let (y, m, d) = if day < 2 {
            (2024, 2, 28 + day)
        } else {
            (2024, 3, day - 1)
        };
        let start = at(
            y,
            m,
            d,
            rng.random_range(0..24),
            rng.random_range(0..60),
            rng.random_range(0..60),
            rng.random_range(0..1_000_000),
        );
        let session_id = rng.random::<u64>() | 1;
        let visitor_id = rng.random_range(0..350u64) + 1;
        let (channel, group, evidence, source, referrer) =
            CHANNELS[rng.random_range(0..CHANNELS.len())];
        let mut visit = base_row(site_id, start, "pageview");
        visit.session_id = session_id;
        visit.visitor_id = visitor_id;
        visit.visit.channel = channel.into();
        visit.visit.channel_group = group;
        visit.visit.evidence = evidence;
        visit.visit.source = source.into();
        visit.visit.referrer = referrer.into();
        visit.visit.device = ["desktop", "mobile", "tablet"][rng.random_range(0..3)].into();
        visit.visit.browser = ["Firefox", "Chrome", "Safari"][rng.random_range(0..3)].into();
        visit.visit.os = ["Linux", "Android", "iOS"][rng.random_range(0..3)].into();
        visit.visit.country = ["FR", "DE", "", "BE"][rng.random_range(0..4)].into();
        visit.visit.screen_width = [390, 1280, 1920][rng.random_range(0..3)];
        if rng.random_bool(0.5) {
            visit.scroll_depth = rng.random_range(1..=100);
            visit.engagement_ms = rng.random_range(1..u32::MAX);
        }
        if channel == "email" {
            visit.visit.utm_source = "newsletter".into();
            visit.visit.utm_medium = "email".into();
            visit.visit.utm_campaign = ["spring", "summer_sale"][rng.random_range(0..2)].into();
        }
        if channel == "facebook" && rng.random_bool(0.3) {
            visit.visit.click_id = "fbclid".into();
        }
        // A linked visit: arrived through an earlier share or visit token.
        if rng.random_bool(0.35) && !(shares.is_empty() && visit_tokens.is_empty()) {
            let from_share =
                !shares.is_empty() && (visit_tokens.is_empty() || rng.random_bool(0.6));
            let (psession, ptoken, pgen, pts, via) = if from_share {
                shares[rng.random_range(0..shares.len())]
            } else {
                let (s, t, g, ts) = visit_tokens[rng.random_range(0..visit_tokens.len())];
                (s, t, g, ts, "address-bar")
            };
            if pts < start {
                visit.visit.parent_session = psession;
                visit.visit.parent_token = ptoken;
                visit.visit.generation = pgen + 1;
                visit.visit.visit_share_channel = via.into();
                visit.visit.token_status = TokenStatus::Linked;
            } else {
                visit.visit.token_status = TokenStatus::Unknown;
            }
        } else if rng.random_bool(0.05) {
            visit.visit.token_status = [
                TokenStatus::Malformed,
                TokenStatus::Foreign,
                TokenStatus::Own,
            ][rng.random_range(0..3)];
        }
        if rng.random_bool(0.1) {
            visit.visit.link_id = rng.random_range(1..4);
            // The short-link click that brought the visit (not a visit itself).
            let mut click = visit.clone();
            click.name = ["link_click", "link_scan"][rng.random_range(0..2)].into();
            click.ts = start - chrono::Duration::milliseconds(300);
            click.token = next_token;
            next_token += 1;
            click.visit.parent_session = 0;
            click.visit.parent_token = 0;
            click.visit.generation = 0;
            rows.push(click);
        }
        let entry_page = PAGES[rng.random_range(0..PAGES.len())];
        visit.visit.entry_page = entry_page.into();
        let mut t = start;
        let pageviews = rng.random_range(1..6);
        for p in 0..pageviews {
            let mut r = visit.clone();
            r.ts = t;
            r.entry = p == 0;
            r.pathname = if p == 0 {
                entry_page.into()
            } else {
                PAGES[rng.random_range(0..PAGES.len())].into()
            };
            r.token = next_token;
            next_token += 1;
            if p == 0 {
                visit_tokens.push((session_id, r.token, visit.visit.generation, t));
            }
            // The page's engagement, most of the time (scroll not always measured).
            if rng.random_bool(0.6) {
                let mut e = r.clone();
                e.name = "engagement".into();
                e.entry = false;
                e.token = 0;
                e.ts = r.ts + chrono::Duration::milliseconds(900);
                e.scroll_depth = if rng.random_bool(0.2) {
                    lucarne_core::event::NO_SCROLL_DEPTH
                } else {
                    rng.random_range(0..=100)
                };
                e.engagement_ms = rng.random_range(0..600_000);
                rows.push(r);
                rows.push(e);
            } else {
                rows.push(r);
            }
            t += chrono::Duration::microseconds(rng.random_range(1_000_000..400_000_000));
        }
        // Custom events of the visit.
        let custom =
            |name: &str, rows: &mut Vec<EventRow>, t: &mut DateTime<Utc>, rng: &mut StdRng| {
                let mut r = visit.clone();
                r.name = name.into();
                r.ts = *t;
                r.pathname = PAGES[rng.random_range(0..PAGES.len())].into();
                *t += chrono::Duration::microseconds(rng.random_range(1_000..30_000_000));
                rows.push(r);
                rows.len() - 1
            };
        if rng.random_bool(0.25) {
            let i = custom("signup", &mut rows, &mut t, &mut rng);
            rows[i].props = vec![
                ("plan".into(), ["pro", "free"][v as usize % 2].into()),
                ("seats".into(), format!("{}", v % 4)),
            ];
        }
        if rng.random_bool(0.15) {
            let i = custom("purchase", &mut rows, &mut t, &mut rng);
            rows[i].revenue = Some(Revenue {
                amount_minor: rng.random_range(100..50_000),
                currency: ["EUR", "USD"][rng.random_range(0..2)].into(),
            });
            rows[i].props = vec![("plan".into(), "pro".into())];
        }
        if rng.random_bool(0.2) {
            let kinds = ["share", "share", "copy"];
            let kind = kinds[rng.random_range(0..3)];
            let i = custom(kind, &mut rows, &mut t, &mut rng);
            let button = if kind == "copy" {
                "copied-text"
            } else {
                ["whatsapp", "telegram", "email", "facebook"][rng.random_range(0..4)]
            };
            rows[i].share_channel = button.into();
            rows[i].token = next_token;
            next_token += 1;
            shares.push((
                session_id,
                rows[i].token,
                visit.visit.generation,
                rows[i].ts,
                button,
            ));
        }
        if rng.random_bool(0.12) {
            let answers = ["whatsapp", "friend", "search", "other"];
            for k in 0..rng.random_range(1..3) {
                let i = custom("survey", &mut rows, &mut t, &mut rng);
                let mut props = vec![("answer".into(), answers[(v as usize + k) % 4].into())];
                if k == 0 && v % 3 == 0 {
                    props.push(("text".into(), format!("a friend sent it\u{1f}{v}")));
                }
                rows[i].props = props;
            }
        }
        if rng.random_bool(0.05) {
            // A server-side conversion reported two days later, a link preview fetch.
            let mut r = visit.clone();
            r.name = "purchase".into();
            r.ts = t + chrono::Duration::days(2);
            r.server_side = true;
            r.revenue = Some(Revenue {
                amount_minor: 9_900,
                currency: "EUR".into(),
            });
            rows.push(r);
        }
        if rng.random_bool(0.04) {
            let mut r = base_row(site_id, start - chrono::Duration::seconds(5), "preview");
            r.visit.link_id = rng.random_range(1..4);
            r.visit.channel = "whatsapp".into();
            r.session_id = rng.random::<u64>() | 1;
            r.visitor_id = 9_999;
            rows.push(r);
        }
    }
    rows
}

fn submit_all(store: &dyn EventStore, rows: &[EventRow]) {
    for chunk in rows.chunks(377) {
        let ticket = store.submit(chunk.to_vec()).expect("submit");
        ticket
            .blocking_recv()
            .expect("ticket answered")
            .expect("acknowledged");
    }
}

fn open_click(url: &str, dir: &Path, node: &str) -> ClickEvents {
    ClickEvents::open_with_interval(url, dir, node, 10_000, Duration::from_millis(200))
        .unwrap_or_else(|e| panic!("open {url}: {e}"))
}

fn query(site_id: u32, from: DateTime<Utc>, to: DateTime<Utc>, filters: &str) -> ReportQuery {
    ReportQuery {
        site_id,
        from,
        to,
        filters: Filter::parse_list(filters).expect("filters parse"),
        conditions: Vec::new(),
        with_sessions: true,
        with_shares: true,
    }
}

/// DuckDB's distinct count and ClickHouse's `uniq` for the same number. Both are exact
/// while the values are few (DuckDB recounts below 50,000 with `count(DISTINCT …)`;
/// `uniq` keeps every hash up to 65,536), which this test data is: they must be equal.
/// (Before DuckDB recounted, its 64-register HyperLogLog was up to ~10 % off here.)
fn same_count(a: u64, b: u64) -> bool {
    a == b
}

fn same_aggregates(what: &str, q: &ReportQuery, duck: &Aggregates, click: &Aggregates) {
    let approx_visits = q.has_event_filters();
    assert!(
        same_count(duck.visitors, click.visitors),
        "{what}: visitors {} vs {}",
        duck.visitors,
        click.visitors
    );
    let mut d = *duck;
    let mut c = *click;
    d.visitors = 0;
    c.visitors = 0;
    if approx_visits {
        for (x, y, n) in [
            (d.visits, c.visits, "visits"),
            (
                d.visits_identified_dark,
                c.visits_identified_dark,
                "identified dark",
            ),
            (
                d.visits_estimated_dark,
                c.visits_estimated_dark,
                "estimated dark",
            ),
        ] {
            assert!(same_count(x, y), "{what}: {n} {x} vs {y}");
        }
        d.visits = 0;
        c.visits = 0;
        d.visits_identified_dark = 0;
        c.visits_identified_dark = 0;
        d.visits_estimated_dark = 0;
        c.visits_estimated_dark = 0;
    }
    let tol = 1e-9 * d.duration_secs.abs().max(1.0);
    assert!(
        (d.duration_secs - c.duration_secs).abs() <= tol,
        "{what}: duration {} vs {}",
        d.duration_secs,
        c.duration_secs
    );
    d.duration_secs = 0.0;
    c.duration_secs = 0.0;
    assert_eq!(d, c, "{what}");
}

fn all_properties() -> Vec<Property> {
    let mut out: Vec<Property> = [
        "event:page",
        "visit:entry_page",
        "event:name",
        "event:hostname",
        "visit:source",
        "visit:referrer",
        "visit:utm_source",
        "visit:utm_medium",
        "visit:utm_campaign",
        "visit:utm_term",
        "visit:utm_content",
        "visit:device",
        "visit:browser",
        "visit:os",
        "visit:country",
        "visit:channel",
        "visit:channel_group",
        "visit:evidence",
        "visit:generation",
        "visit:share_channel",
        "visit:token_status",
        "event:share_channel",
        "visit:link",
        "event:link",
        "event:props:plan",
        "event:props:answer",
        "event:props:seats",
    ]
    .iter()
    .map(|p| Property::parse(p).expect("property"))
    .collect();
    out.dedup();
    out
}

const FILTERS: [&str; 20] = [
    "",
    "visit:channel==whatsapp|telegram",
    "visit:channel_group!=direct",
    "event:page==/blog/*",
    "event:page!=/blog/*",
    "event:page==/blog/b_c",
    "event:page==/docs/x%y",
    "event:page==/blog/a's",
    "event:name==signup",
    "event:name==link_click|link_scan",
    "event:props:plan==pro",
    "event:props:plan!=pro",
    "event:props:plan==(none)",
    "visit:generation==1|2",
    "visit:source==Tele*",
    "visit:country==FR;event:page==/pricing",
    "event:share_channel==whatsapp",
    "visit:share_channel==address-bar",
    "event:link==1|2",
    "visit:link!=",
];

fn sorted_graph(mut g: ShareGraph) -> ShareGraph {
    g.edges.sort_by_key(|e| (e.session, e.ts));
    g.visits.sort_by_key(|v| (v.session, v.ts));
    g.shares.sort_by_key(|s| (s.token, s.session));
    g.public_visits_without_token.sort();
    g
}

/// Every report of `click` equals `duck`'s for the dataset.
fn assert_equivalent(duck: &DuckEvents, click: &ClickEvents, rows: &[EventRow]) {
    let day = |d: u32, m: u32| NaiveDate::from_ymd_opt(2024, m, d).expect("date");
    let whole = (at(2024, 2, 27, 0, 0, 0, 0), at(2024, 3, 10, 0, 0, 0, 0));
    let slice = (
        at(2024, 2, 28, 13, 45, 12, 345_678),
        at(2024, 3, 3, 6, 0, 0, 1),
    );
    let mut checked = 0usize;
    for (from, to) in [whole, slice] {
        for f in FILTERS {
            for site in [1, 2] {
                let q = query(site, from, to, f);
                let what = format!("site {site} {from}..{to} [{f}]");
                let (a, b) = (duck.aggregate(&q).unwrap(), click.aggregate(&q).unwrap());
                same_aggregates(&format!("aggregate {what}"), &q, &a, &b);
                checked += 1;
            }
            let q = query(1, from, to, f);
            // Daily and hourly buckets.
            let daily = buckets(&Utc0, day(27, 2), day(9, 3), Interval::Date);
            let hourly = buckets(&Utc0, day(1, 3), day(1, 3), Interval::Hour);
            for b in [&daily, &hourly] {
                let (x, y) = (
                    duck.timeseries(&q, b).unwrap(),
                    click.timeseries(&q, b).unwrap(),
                );
                assert_eq!(x.len(), y.len());
                for (i, (a, c)) in x.iter().zip(&y).enumerate() {
                    same_aggregates(&format!("timeseries {f} bucket {i}"), &q, a, c);
                }
            }
            // Every property under the filters of each kind; a few under the others.
            let sweep = [
                "",
                "visit:channel_group!=direct",
                "event:page==/blog/*",
                "event:name==link_click|link_scan",
                "event:props:plan!=pro",
                "visit:link!=",
            ];
            let properties: Vec<Property> = if sweep.contains(&f) {
                all_properties()
            } else {
                [
                    "event:page",
                    "visit:channel",
                    "event:props:plan",
                    "visit:link",
                ]
                .iter()
                .map(|p| Property::parse(p).expect("property"))
                .collect()
            };
            for p in properties {
                let (x, y) = (
                    duck.breakdown(&q, &p, 1000, 0).unwrap(),
                    click.breakdown(&q, &p, 1000, 0).unwrap(),
                );
                let (x, y): (HashMap<_, _>, HashMap<_, _>) =
                    (x.into_iter().collect(), y.into_iter().collect());
                let mut keys: Vec<&String> = x.keys().collect();
                keys.sort();
                let mut ykeys: Vec<&String> = y.keys().collect();
                ykeys.sort();
                assert_eq!(keys, ykeys, "breakdown {} [{f}] keys", p.name());
                for k in keys {
                    same_aggregates(
                        &format!("breakdown {} [{f}] = {k:?}", p.name()),
                        &q,
                        &x[k],
                        &y[k],
                    );
                }
                checked += 1;
            }
            // Paging (limit/offset) takes the same slice of the same order (the order
            // itself follows the visitor estimates, which may differ between engines).
            let p = Property::Channel;
            let full = click.breakdown(&q, &p, 1000, 0).unwrap();
            let page = click.breakdown(&q, &p, 3, 2).unwrap();
            assert_eq!(
                page.iter().map(|r| &r.0).collect::<Vec<_>>(),
                full.iter()
                    .skip(2)
                    .take(3)
                    .map(|r| &r.0)
                    .collect::<Vec<_>>(),
                "paged breakdown [{f}]"
            );
            for (k, a) in &page {
                let whole = full.iter().find(|r| &r.0 == k).map(|r| r.1);
                assert_eq!(Some(*a), whole, "paged breakdown row {k}");
            }
        }
        let q = query(1, from, to, "");
        let goals = [
            GoalKind::Event("purchase".into()),
            GoalKind::Event("signup".into()),
            GoalKind::Page("/pricing".into()),
            GoalKind::Page("/blog/*".into()),
            GoalKind::Event("never".into()),
        ];
        let groups = [
            ConversionGroup::Total,
            ConversionGroup::Property(Property::Channel),
            ConversionGroup::Property(Property::ChannelGroup),
            ConversionGroup::Property(Property::Generation),
            ConversionGroup::Property(Property::Link),
            ConversionGroup::Property(Property::Country),
            ConversionGroup::Share,
            ConversionGroup::ShareVisit,
        ];
        for f in ["", "visit:channel_group==private-message|email"] {
            let q = query(1, from, to, f);
            for g in &groups {
                for goals in [&goals[..], &goals[..0]] {
                    let mut x = duck.conversions(&q, goals, g).unwrap();
                    let mut y = click.conversions(&q, goals, g).unwrap();
                    x.sort_by(|a, b| {
                        (&a.group, &a.channel_group).cmp(&(&b.group, &b.channel_group))
                    });
                    y.sort_by(|a, b| {
                        (&a.group, &a.channel_group).cmp(&(&b.group, &b.channel_group))
                    });
                    assert!(!x.is_empty(), "conversions {g:?} has rows");
                    assert_eq!(x, y, "conversions {g:?} [{f}]");
                    checked += 1;
                }
            }
            for by_page in [false, true] {
                let mut x = duck.engagement(&q, by_page).unwrap();
                let mut y = click.engagement(&q, by_page).unwrap();
                x.sort_by(|a, b| a.0.cmp(&b.0));
                y.sort_by(|a, b| a.0.cmp(&b.0));
                assert!(
                    x.iter()
                        .any(|(_, a)| a.scroll_visitors > 0 && a.engaged_ms > 0),
                    "engagement has rows [{f}]"
                );
                assert_eq!(x, y, "engagement by page {by_page} [{f}]");
                checked += 1;
            }
        }
        let (x, y) = (
            duck.share_graph(&q).unwrap(),
            click.share_graph(&q).unwrap(),
        );
        let (x, y) = (sorted_graph(x), sorted_graph(y));
        assert!(!x.edges.is_empty() && !x.visits.is_empty() && !x.shares.is_empty());
        assert_eq!(x, y, "share graph {from}..{to}");
        let mut x = duck.survey_answers(&q).unwrap();
        let mut y = click.survey_answers(&q).unwrap();
        let key = |r: &lucarne_store::SurveyAnswerRow| {
            (r.answer.clone(), r.text.clone(), r.channel.clone())
        };
        x.sort_by_key(key);
        y.sort_by_key(key);
        assert!(!x.is_empty(), "survey answers");
        assert_eq!(x, y, "survey answers {from}..{to}");
    }
    // Tokens and visits.
    let mut tokens: Vec<u64> = rows
        .iter()
        .filter(|r| r.token != 0)
        .map(|r| r.token)
        .collect();
    tokens.sort_unstable();
    for t in tokens.iter().step_by(37).chain([&1u64, &u64::MAX]) {
        assert_eq!(
            duck.find_token(*t).unwrap(),
            click.find_token(*t).unwrap(),
            "token {t}"
        );
    }
    assert!(click.find_token(tokens[5]).unwrap().is_some());
    for r in rows.iter().filter(|r| r.entry).step_by(23) {
        let k = VisitKey::Session(r.session_id);
        let (a, b) = (
            duck.find_visit(r.site_id, k).unwrap(),
            click.find_visit(r.site_id, k).unwrap(),
        );
        // The whole entry row, every column as written (engagement fields included).
        assert_eq!(a.as_ref(), Some(r), "visit {}", r.session_id);
        assert_eq!(a, b, "visit {}", r.session_id);
    }
    for r in rows
        .iter()
        .filter(|r| r.entry && r.visit.parent_token != 0)
        .step_by(5)
    {
        let k = VisitKey::ArrivedWith(r.visit.parent_token);
        let (a, b) = (
            duck.find_visit(r.site_id, k).unwrap(),
            click.find_visit(r.site_id, k).unwrap(),
        );
        assert!(a.is_some());
        assert_eq!(a, b, "arrived with {}", r.visit.parent_token);
    }
    assert_eq!(
        duck.find_visit(1, VisitKey::Session(4)).unwrap(),
        click.find_visit(1, VisitKey::Session(4)).unwrap()
    );
    assert!(checked > 400, "{checked} comparisons");
}

/// v2's filters (contains, regular expressions, ignoring case, `or`, `not`, `has_done`)
/// and breakdowns by several dimensions: the same numbers on both back ends, the
/// visit-level ones included.
fn assert_same_conditions(duck: &DuckEvents, click: &ClickEvents) {
    use lucarne_core::stats::{Condition, Match};
    use lucarne_store::Dim;
    let leaf = |p: Property, how: Match, values: &[&str], negated: bool, ignore_case: bool| {
        Condition::Filter(Filter {
            property: p,
            negated,
            values: values.iter().map(|v| v.to_string()).collect(),
            how,
            ignore_case,
        })
    };
    let cases: Vec<(&str, Vec<Condition>)> = vec![
        (
            "contains",
            vec![leaf(
                Property::Page,
                Match::Contains,
                &["blog"],
                false,
                false,
            )],
        ),
        (
            "contains, any case",
            vec![leaf(
                Property::Page,
                Match::Contains,
                &["BLOG", "über"],
                false,
                true,
            )],
        ),
        (
            "contains, any case, beyond ASCII",
            vec![leaf(
                Property::Page,
                Match::Contains,
                &["ÜBER"],
                false,
                true,
            )],
        ),
        (
            "is, any case",
            vec![leaf(
                Property::Channel,
                Match::Is,
                &["WhatsApp"],
                false,
                true,
            )],
        ),
        (
            "regex",
            vec![leaf(
                Property::Page,
                Match::Regex,
                &[r"^/(blog|docs)/[a-z_]+$"],
                false,
                false,
            )],
        ),
        (
            "regex with a quote",
            vec![leaf(Property::Page, Match::Regex, &["a's$"], false, false)],
        ),
        (
            "not regex",
            vec![leaf(
                Property::Source,
                Match::Regex,
                &["^Tele"],
                true,
                false,
            )],
        ),
        (
            "or",
            vec![Condition::Or(vec![
                leaf(Property::Channel, Match::Is, &["whatsapp"], false, false),
                leaf(Property::Page, Match::Is, &["/pricing"], false, false),
            ])],
        ),
        (
            "not and",
            vec![Condition::Not(Box::new(Condition::And(vec![
                leaf(Property::Country, Match::Is, &["FR"], false, false),
                leaf(Property::Device, Match::Is, &["mobile"], false, false),
            ])))],
        ),
        (
            "has done",
            vec![Condition::HasDone(Box::new(leaf(
                Property::Name,
                Match::Is,
                &["signup"],
                false,
                false,
            )))],
        ),
        (
            "has not done",
            vec![Condition::HasNotDone(Box::new(leaf(
                Property::Page,
                Match::Contains,
                &["blog"],
                false,
                false,
            )))],
        ),
    ];
    let (from, to) = (at(2024, 2, 27, 0, 0, 0, 0), at(2024, 3, 10, 0, 0, 0, 0));
    let daily = buckets(
        &Utc0,
        NaiveDate::from_ymd_opt(2024, 2, 27).unwrap(),
        NaiveDate::from_ymd_opt(2024, 3, 9).unwrap(),
        Interval::Date,
    );
    let dims_sets: Vec<Vec<Dim>> = vec![
        vec![],
        vec![Dim::Property(Property::ChannelGroup)],
        vec![
            Dim::Property(Property::Channel),
            Dim::Property(Property::Page),
        ],
        vec![Dim::Time(daily), Dim::Property(Property::Device)],
    ];
    let mut compared = 0;
    for (what, conditions) in &cases {
        let q = ReportQuery {
            conditions: conditions.clone(),
            ..query(1, from, to, "")
        };
        for dims in &dims_sets {
            let mut x = duck.breakdown_by(&q, dims, 100_000, 0).unwrap();
            let mut y = click.breakdown_by(&q, dims, 100_000, 0).unwrap();
            x.sort_by(|a, b| a.0.cmp(&b.0));
            y.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(
                x.iter().map(|r| &r.0).collect::<Vec<_>>(),
                y.iter().map(|r| &r.0).collect::<Vec<_>>(),
                "{what}, {} dimensions: keys",
                dims.len()
            );
            for ((k, a), (_, b)) in x.iter().zip(&y) {
                same_aggregates(&format!("{what} {k:?}"), &q, a, b);
            }
            compared += 1;
        }
        // Something matched and something did not: the condition is not trivial.
        let all = duck.aggregate(&query(1, from, to, "")).unwrap();
        let some = duck.aggregate(&q).unwrap();
        assert!(
            some.events > 0 && some.events < all.events,
            "{what}: {} of {}",
            some.events,
            all.events
        );
    }
    assert_eq!(compared, cases.len() * dims_sets.len());
}

/// ClickHouse's distinct counts (visitors; visits under an event filter) are exact at this
/// size: compare them with counts made here from the rows.
fn assert_exact_counts(click: &ClickEvents, rows: &[EventRow]) {
    use std::collections::{BTreeMap, HashSet};
    let (from, to) = (
        at(2024, 2, 28, 13, 45, 12, 345_678),
        at(2024, 3, 3, 6, 0, 0, 1),
    );
    let visit_rows: Vec<&EventRow> = rows
        .iter()
        .filter(|r| r.site_id == 1 && r.ts >= from && r.ts < to)
        .filter(|r| !matches!(r.name.as_str(), "link_click" | "link_scan" | "preview"))
        .collect();
    let distinct = |it: &mut dyn Iterator<Item = u64>| it.collect::<HashSet<u64>>().len() as u64;
    let q = query(1, from, to, "");
    let all = click.aggregate(&q).unwrap();
    assert_eq!(
        all.visitors,
        distinct(&mut visit_rows.iter().map(|r| r.visitor_id))
    );
    let mut by_channel: BTreeMap<&str, HashSet<u64>> = BTreeMap::new();
    for r in &visit_rows {
        by_channel
            .entry(&r.visit.channel)
            .or_default()
            .insert(r.visitor_id);
    }
    let got: BTreeMap<String, u64> = click
        .breakdown(&q, &Property::Channel, 100, 0)
        .unwrap()
        .into_iter()
        .map(|(k, a)| (k, a.visitors))
        .collect();
    let want: BTreeMap<String, u64> = by_channel
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.len() as u64))
        .collect();
    assert_eq!(got, want, "visitors by channel");
    let day = |d: u32, m: u32| NaiveDate::from_ymd_opt(2024, m, d).expect("date");
    let daily = buckets(&Utc0, day(27, 2), day(9, 3), Interval::Date);
    let series = click.timeseries(&q, &daily).unwrap();
    for (b, a) in daily.iter().zip(&series) {
        let n = distinct(
            &mut visit_rows
                .iter()
                .filter(|r| r.ts >= b.start && r.ts < b.end)
                .map(|r| r.visitor_id),
        );
        assert_eq!(a.visitors, n, "visitors on {}", b.label);
    }
    let q = query(1, from, to, "event:page==/blog/*");
    let a = click.aggregate(&q).unwrap();
    let blog: Vec<&&EventRow> = visit_rows
        .iter()
        .filter(|r| r.pathname.starts_with("/blog/"))
        .collect();
    assert_eq!(a.visits, distinct(&mut blog.iter().map(|r| r.session_id)));
    assert_eq!(a.visitors, distinct(&mut blog.iter().map(|r| r.visitor_id)));
    assert!(a.visits > 50);
}

/// Deletion (retention, then everything) removes the same rows on both.
fn assert_same_deletion(duck: &DuckEvents, click: &ClickEvents) {
    let whole = query(
        2,
        at(2020, 1, 1, 0, 0, 0, 0),
        at(2030, 1, 1, 0, 0, 0, 0),
        "",
    );
    let cut = at(2024, 3, 1, 12, 0, 0, 0);
    let (a, b) = (
        duck.delete_site_events(2, Some(cut)).unwrap(),
        click.delete_site_events(2, Some(cut)).unwrap(),
    );
    assert!(a > 0);
    assert_eq!(a, b, "rows deleted before {cut}");
    same_aggregates(
        "after retention",
        &whole,
        &duck.aggregate(&whole).unwrap(),
        &click.aggregate(&whole).unwrap(),
    );
    let (a, b) = (
        duck.delete_site_events(2, None).unwrap(),
        click.delete_site_events(2, None).unwrap(),
    );
    assert!(a > 0);
    assert_eq!(a, b, "rows deleted");
    assert_eq!(click.aggregate(&whole).unwrap().events, 0);
    let site1 = query(
        1,
        at(2020, 1, 1, 0, 0, 0, 0),
        at(2030, 1, 1, 0, 0, 0, 0),
        "",
    );
    same_aggregates(
        "other site untouched",
        &site1,
        &duck.aggregate(&site1).unwrap(),
        &click.aggregate(&site1).unwrap(),
    );
}

/// What the tests need of a single ClickHouse server: Debian's clickhouse-server (18.16)
/// or a current release (chdb).
trait Server {
    /// `clickhouse://…/DATABASE` for the store.
    fn url(&self, database: &str) -> String;
    /// Run `sql` directly; the tab-separated answer.
    fn sql(&self, sql: &str) -> String;
    /// Kill the server (an outage), keeping its data.
    fn stop(&mut self);
    /// Start it again on the same port with the same data.
    fn restart(&mut self);
}

impl Server for ClickHouseServer {
    fn url(&self, database: &str) -> String {
        ClickHouseServer::url(self, database)
    }
    fn sql(&self, sql: &str) -> String {
        self.query(sql).unwrap_or_else(|e| panic!("{sql}: {e:#}"))
    }
    fn stop(&mut self) {
        ClickHouseServer::stop(self);
    }
    fn restart(&mut self) {
        ClickHouseServer::restart(self).expect("restart clickhouse-server");
    }
}

impl Server for ChdbServer {
    fn url(&self, database: &str) -> String {
        ChdbServer::url(self, database)
    }
    fn sql(&self, sql: &str) -> String {
        self.query(sql).unwrap_or_else(|e| panic!("{sql}: {e:#}"))
    }
    fn stop(&mut self) {
        ChdbServer::stop(self);
    }
    fn restart(&mut self) {
        ChdbServer::restart(self).expect("restart the chdb server");
    }
}

/// Debian's clickhouse-server (18.16).
fn old_release() -> ClickHouseServer {
    let started = Instant::now();
    let server = ClickHouseServer::start().unwrap();
    eprintln!("clickhouse-server start-up: {:?}", started.elapsed());
    server
}

/// A current ClickHouse release (chdb's engine), checked to really be one.
fn current_release() -> ChdbServer {
    let started = Instant::now();
    let server = ChdbServer::start().unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!(
        "current ClickHouse {} (chdb) start-up: {:?}",
        server.version(),
        started.elapsed()
    );
    assert!(
        server.major_version() >= 24,
        "not a current release: {}",
        server.version()
    );
    assert_eq!(server.sql("SELECT version()").trim(), server.version());
    server
}

fn duck_with(rows: &[EventRow]) -> (tempfile::TempDir, DuckEvents) {
    let dir = tempfile::tempdir().unwrap();
    let duck = DuckEvents::open(dir.path(), 10_000).unwrap();
    submit_all(&duck, rows);
    (dir, duck)
}

/// Every report equals DuckDB's, exact counts, deletion: one server.
fn check_equivalent_on_one_server(server: &dyn Server) {
    let rows = dataset();
    assert!(rows.len() > 2_000, "{} rows", rows.len());
    let (_d, duck) = duck_with(&rows);
    let spool = tempfile::tempdir().unwrap();
    let click = open_click(&server.url("lucarne"), spool.path(), "node-a");
    submit_all(&click, &rows);
    assert_eq!(click.count().unwrap(), rows.len() as u64);
    let started = Instant::now();
    assert_equivalent(&duck, &click, &rows);
    assert_same_conditions(&duck, &click);
    eprintln!("equivalence (one server): {:?}", started.elapsed());
    assert_exact_counts(&click, &rows);
    assert_same_deletion(&duck, &click);
}

#[test]
fn equivalent_to_duckdb_on_one_server() {
    check_equivalent_on_one_server(&old_release());
}

#[test]
fn current_release_equivalent_to_duckdb() {
    check_equivalent_on_one_server(&current_release());
}

#[test]
fn equivalent_to_duckdb_on_a_two_shard_cluster() {
    let rows = dataset();
    let started = Instant::now();
    let cluster = start_cluster(2).unwrap();
    eprintln!("two-shard cluster start-up: {:?}", started.elapsed());
    let (_d, duck) = duck_with(&rows);
    // Two Lucarne nodes, each with its own spool, writing half the visits each.
    let (s1, s2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let url = cluster.url("lucarne");
    let a = open_click(&url, s1.path(), "node-a");
    let b = open_click(&url, s2.path(), "node-b");
    let (x, y): (Vec<EventRow>, Vec<EventRow>) =
        rows.iter().cloned().partition(|r| r.session_id % 4 < 2);
    submit_all(&a, &x);
    submit_all(&b, &y);
    b.flush().unwrap();
    assert_eq!(a.count().unwrap(), rows.len() as u64);
    // Both shards hold rows, and each visit is on one shard only.
    let mut per_shard = Vec::new();
    for s in &cluster.servers {
        let n: u64 = s
            .query("SELECT count() FROM lucarne.events_local")
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(n > 0, "a shard is empty");
        per_shard.push(n);
    }
    assert_eq!(per_shard.iter().sum::<u64>(), rows.len() as u64);
    let split: u64 = cluster.servers[0]
        .query(
            "SELECT count() FROM (SELECT session_id FROM lucarne.events_local GROUP BY session_id) \
             WHERE session_id IN (SELECT session_id FROM remote('127.0.0.1:$P', lucarne.events_local))"
                .replace("$P", &cluster.servers[1].tcp_port().to_string())
                .as_str(),
        )
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(split, 0, "visits split across shards");
    let started = Instant::now();
    assert_equivalent(&duck, &a, &rows);
    eprintln!("equivalence (two shards): {:?}", started.elapsed());
    assert_exact_counts(&a, &rows);
    assert_same_deletion(&duck, &a);
}

fn check_migrations_are_idempotent(server: &dyn Server) {
    let url = server.url("lucarne");
    for _ in 0..3 {
        let spool = tempfile::tempdir().unwrap();
        let store = open_click(&url, spool.path(), "node-a");
        drop(store);
    }
    let versions = server.sql(
        "SELECT groupArray(version) FROM (SELECT version FROM lucarne.schema_migrations ORDER BY version)",
    );
    assert_eq!(versions.trim(), "[1,2,3,4]");
    let tables = server.sql(
        "SELECT groupArray(name) FROM (SELECT name FROM system.tables WHERE database = 'lucarne' ORDER BY name)",
    );
    assert_eq!(
        tables.trim(),
        "['events','rollup_built','rollup_marks','rollups','schema_migrations','spool_state']"
    );
    // A bad URL or an unreachable server is an error, not a panic.
    let spool = tempfile::tempdir().unwrap();
    assert!(ClickEvents::open("clickhouse://127.0.0.1:1/x", spool.path(), "n", 10).is_err());
    assert!(ClickEvents::open("postgres://x", spool.path(), "n", 10).is_err());
}

#[test]
fn migrations_are_idempotent() {
    check_migrations_are_idempotent(&old_release());
}

#[test]
fn current_release_migrations_are_idempotent() {
    check_migrations_are_idempotent(&current_release());
}

fn check_acknowledged_rows_are_readable(server: &dyn Server) {
    let spool = tempfile::tempdir().unwrap();
    let store = open_click(&server.url("lucarne"), spool.path(), "node-a");
    let rows: Vec<EventRow> = dataset().into_iter().take(500).collect();
    submit_all(&store, &rows);
    // Reports flush the loader first: everything acknowledged is visible.
    let q = query(
        1,
        at(2024, 1, 1, 0, 0, 0, 0),
        at(2025, 1, 1, 0, 0, 0, 0),
        "",
    );
    // Engagement rows are loaded too, but are not events (`engagement` reads them).
    let expected = rows
        .iter()
        .filter(|r| r.site_id == 1 && r.name != "engagement")
        .count() as u64;
    assert!(
        expected < rows.len() as u64,
        "the rows hold engagement events"
    );
    assert_eq!(store.aggregate(&q).unwrap().events, expected);
    // And are loaded in the background without a report (the loader interval).
    let more: Vec<EventRow> = dataset().into_iter().skip(500).take(100).collect();
    submit_all(&store, &more);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n: u64 = server
            .sql("SELECT count() FROM lucarne.events")
            .trim()
            .parse()
            .unwrap();
        if n == 600 {
            break;
        }
        assert!(Instant::now() < deadline, "background load: {n} rows");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(store.healthy());
    store.shutdown();
    assert!(
        store.submit(rows[..1].to_vec()).is_err(),
        "closed after shutdown"
    );
}

#[test]
fn acknowledged_rows_are_readable() {
    check_acknowledged_rows_are_readable(&old_release());
}

#[test]
fn current_release_acknowledged_rows_are_readable() {
    check_acknowledged_rows_are_readable(&current_release());
}

fn wait_mutations(server: &dyn Server) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while server
        .sql("SELECT count() FROM system.mutations WHERE is_done = 0")
        .trim()
        != "0"
    {
        assert!(Instant::now() < deadline, "mutation still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn check_replay_is_exactly_once(server: &dyn Server) {
    let url = server.url("lucarne");
    let spool = tempfile::tempdir().unwrap();
    let rows: Vec<EventRow> = dataset().into_iter().take(400).collect();
    let count = || -> u64 {
        server
            .sql("SELECT count() FROM lucarne.events")
            .trim()
            .parse()
            .unwrap()
    };
    {
        let store = open_click(&url, spool.path(), "node-a");
        submit_all(&store, &rows[..100]);
        store.flush().unwrap();
        submit_all(&store, &rows[100..250]);
        store.flush().unwrap();
        assert_eq!(count(), 250);
        // Leak the store: no shutdown runs, like a killed process (the spool is on disk).
        std::mem::forget(store);
    }
    // The crash happened after the second insert but before its position was written:
    // forget that position, and lose part of the insert too (one of its parts).
    server.sql("ALTER TABLE lucarne.spool_state DELETE WHERE loaded_rows > 100");
    wait_mutations(server);
    server.sql("ALTER TABLE lucarne.events DELETE WHERE load_seq >= 180");
    wait_mutations(server);
    assert_eq!(count(), 180);
    let positions = server.sql("SELECT max(loaded_rows) FROM lucarne.spool_state");
    assert_eq!(positions.trim(), "100");

    // Restart: the spool replays rows 100..250; 100..180 are skipped, 180..250 loaded.
    let store = open_click(&url, spool.path(), "node-a");
    assert_eq!(store.count().unwrap(), 250, "replayed exactly once");
    let dupes = server.sql(
        "SELECT count() FROM (SELECT row_hash, count() AS n FROM lucarne.events GROUP BY row_hash HAVING n > 1)",
    );
    assert_eq!(dupes.trim(), "0", "no row twice");
    // New rows continue after the replay, and another restart replays nothing.
    submit_all(&store, &rows[250..]);
    store.flush().unwrap();
    assert_eq!(count(), 400);
    drop(store);
    let store = open_click(&url, spool.path(), "node-a");
    assert_eq!(store.count().unwrap(), 400);
    let q = query(
        1,
        at(2024, 1, 1, 0, 0, 0, 0),
        at(2025, 1, 1, 0, 0, 0, 0),
        "",
    );
    let (_d, duck) = duck_with(&rows);
    same_aggregates(
        "after replay",
        &q,
        &duck.aggregate(&q).unwrap(),
        &store.aggregate(&q).unwrap(),
    );
    // Another node's rows are its own: the same rows from node-b are loaded again.
    let spool_b = tempfile::tempdir().unwrap();
    let b = open_click(&url, spool_b.path(), "node-b");
    submit_all(&b, &rows[..10]);
    assert_eq!(b.count().unwrap(), 410);
}

#[test]
fn replay_after_a_crash_between_insert_and_position_is_exactly_once() {
    check_replay_is_exactly_once(&old_release());
}

#[test]
fn current_release_replay_is_exactly_once() {
    check_replay_is_exactly_once(&current_release());
}

fn check_an_outage_loses_nothing(server: &mut dyn Server) {
    let url = server.url("lucarne");
    let spool = tempfile::tempdir().unwrap();
    let store = open_click(&url, spool.path(), "node-a");
    let rows: Vec<EventRow> = dataset().into_iter().take(300).collect();
    submit_all(&store, &rows[..100]);
    assert_eq!(store.count().unwrap(), 100);
    server.stop();
    // Still acknowledged: the spool is the durability point, not ClickHouse.
    submit_all(&store, &rows[100..200]);
    assert!(
        store.flush().is_err(),
        "reports fail rather than answer without the rows"
    );
    assert!(store.count().is_err());
    server.restart();
    // The loader retries on its own; the rows arrive once.
    submit_all(&store, &rows[200..]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match store.count() {
            Ok(n) => {
                assert_eq!(n, 300);
                break;
            }
            Err(e) => assert!(Instant::now() < deadline, "still failing: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let q = query(
        1,
        at(2024, 1, 1, 0, 0, 0, 0),
        at(2025, 1, 1, 0, 0, 0, 0),
        "",
    );
    let (_d, duck) = duck_with(&rows);
    same_aggregates(
        "after the outage",
        &q,
        &duck.aggregate(&q).unwrap(),
        &store.aggregate(&q).unwrap(),
    );
}

#[test]
fn a_clickhouse_outage_delays_loading_but_loses_nothing() {
    check_an_outage_loses_nothing(&mut old_release());
}

#[test]
fn current_release_outage_loses_nothing() {
    check_an_outage_loses_nothing(&mut current_release());
}
