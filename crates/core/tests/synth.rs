//! The synthetic traffic generator: determinism, time range and order, the mix, URLs,
//! bots, revenue, presets.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, TimeZone, Utc};
use lucarne_core::synth::{Generator, SynthConfig, SyntheticHit};
use lucarne_core::url_clean::{clean_url, is_home, ClickId};
use lucarne_core::ChannelGroup;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 4, 0, 0, 0).unwrap()
}

/// ≈ 100k hits over four weeks.
fn sample(seed: u64) -> Vec<SyntheticHit> {
    let mut cfg = SynthConfig::new("example.com", start(), 28, 1_700);
    cfg.seed = seed;
    Generator::new(cfg).collect()
}

fn entries(hits: &[SyntheticHit]) -> Vec<&SyntheticHit> {
    hits.iter().filter(|h| h.entry).collect()
}

fn share(n: usize, of: usize) -> f64 {
    n as f64 / of as f64
}

#[test]
fn same_seed_same_hits_other_seed_other_hits() {
    let cfg = SynthConfig::new("example.com", start(), 3, 500);
    let a: Vec<_> = Generator::new(cfg.clone()).collect();
    let b: Vec<_> = Generator::new(cfg.clone()).collect();
    assert!(a.len() > 1_000);
    assert_eq!(a, b);
    let c: Vec<_> = Generator::new(SynthConfig { seed: 2, ..cfg }).collect();
    assert_ne!(a, c);
}

#[test]
fn hits_are_ordered_and_within_the_range() {
    for (hour, days) in [(0, 5), (13, 2)] {
        let from = start() + Duration::hours(hour) + Duration::seconds(17);
        let cfg = SynthConfig {
            bot_share: 0.05,
            ..SynthConfig::new("example.com", from, days, 800)
        };
        let end = cfg.end();
        let hits: Vec<_> = Generator::new(cfg).collect();
        assert!(hits.len() > 1_000);
        assert!(hits.windows(2).all(|w| w[0].ts <= w[1].ts), "not ordered");
        assert!(hits.iter().all(|h| h.ts >= from && h.ts < end));
        // Every day of the range has traffic.
        let days_seen: HashSet<i64> = hits.iter().map(|h| (h.ts - from).num_days()).collect();
        assert_eq!(days_seen.len(), days as usize);
    }
}

#[test]
fn empty_configs_give_nothing() {
    assert_eq!(
        Generator::new(SynthConfig::new("example.com", start(), 0, 100)).count(),
        0
    );
    assert_eq!(
        Generator::new(SynthConfig::new("example.com", start(), 10, 0)).count(),
        0
    );
}

#[test]
fn visits_are_consistent() {
    let hits = sample(5);
    let mut by_visit: HashMap<u64, Vec<&SyntheticHit>> = HashMap::new();
    for h in &hits {
        by_visit.entry(h.visit).or_default().push(h);
    }
    for hs in by_visit.values() {
        let first = hs[0];
        assert!(
            first.entry && first.is_pageview(),
            "visit starts with its landing"
        );
        assert_eq!(hs.iter().filter(|h| h.entry).count(), 1);
        for h in hs {
            assert_eq!(h.ip, first.ip);
            assert_eq!(h.user_agent, first.user_agent);
            assert_eq!(h.screen_width, first.screen_width);
            assert_eq!(h.telegram_webview, first.telegram_webview);
            assert_eq!(h.truth, first.truth);
        }
        // Later pageviews come from the page before them.
        let views: Vec<_> = hs.iter().filter(|h| h.is_pageview()).collect();
        for w in views.windows(2) {
            assert_eq!(w[1].referrer.as_deref(), Some(w[0].url.as_str()));
            let gap = w[1].ts - w[0].ts;
            assert!(gap >= Duration::seconds(30) && gap <= Duration::seconds(300));
        }
        assert!(views.len() <= 9);
    }
}

#[test]
fn urls_are_http_on_the_site_and_referrers_parse() {
    let hits = sample(6);
    for h in &hits {
        let u = clean_url(&h.url).unwrap_or_else(|e| panic!("{}: {e:?}", h.url));
        assert_eq!(u.host, "example.com");
        assert!(h.url.starts_with("https://example.com/"));
        if let Some(r) = &h.referrer {
            let parsed = url::Url::parse(r).unwrap_or_else(|e| panic!("{r}: {e}"));
            assert!(matches!(parsed.scheme(), "https" | "android-app"), "{r}");
        }
        if !h.entry && h.is_pageview() {
            assert!(h
                .referrer
                .as_deref()
                .unwrap()
                .starts_with("https://example.com/"));
            assert!(!h.url.contains('?'), "campaign parameters only on landings");
        }
        assert!(!h.user_agent.is_empty() && !h.ip.is_empty());
        assert!(h.ip.parse::<std::net::Ipv4Addr>().is_ok(), "{}", h.ip);
        assert!(h.screen_width >= 320);
    }
    let entries = entries(&hits);
    let with = |f: &dyn Fn(&SyntheticHit) -> bool| entries.iter().filter(|h| f(h)).count();
    let parsed = |h: &SyntheticHit| clean_url(&h.url).unwrap();
    // Campaign arrivals and click ids are there, on landings only.
    assert!(with(&|h| parsed(h).utm.medium.as_deref() == Some("email")) > 500);
    assert!(with(&|h| parsed(h).utm.medium.as_deref() == Some("sms")) > 50);
    assert!(with(&|h| parsed(h).utm.medium.as_deref() == Some("cpc")) > 100);
    assert!(with(&|h| parsed(h).click_id == Some(ClickId::Fbclid)) > 500);
    assert!(with(&|h| parsed(h).click_id == Some(ClickId::Gclid)) > 200);
    // The private-channel signals all occur.
    for referrer in [
        "android-app://com.whatsapp/",
        "https://web.whatsapp.com/",
        "android-app://org.telegram.messenger/",
        "https://l.messenger.com/",
        "https://app.slack.com/",
        "https://statics.teams.cdn.office.net/",
        "https://mail.google.com/",
        "android-app://com.google.android.gm/",
        "https://outlook.live.com/",
        "https://l.facebook.com/",
        "https://t.co/",
        "https://lnkd.in/",
        "https://www.reddit.com/",
        "https://www.google.com/",
        "https://www.bing.com/",
        "https://duckduckgo.com/",
        "https://chatgpt.com/",
        "https://www.perplexity.ai/",
    ] {
        assert!(
            with(&|h| h.referrer.as_deref() == Some(referrer)) > 5,
            "{referrer}"
        );
    }
    for marker in [
        "FBAN/MessengerForiOS",
        "FB_IAB/Orca-Android",
        "FBAN/FBIOS",
        "FB_IAB/FB4A",
        "Instagram ",
        "Line/13",
        "MicroMessenger",
        "Snapchat/",
        "musical_ly",
    ] {
        assert!(with(&|h| h.user_agent.contains(marker)) > 5, "{marker}");
    }
    assert!(with(&|h| h.telegram_webview) > 100);
}

#[test]
fn the_mix_matches_the_model() {
    let hits = sample(7);
    assert!(hits.len() > 90_000, "{}", hits.len());
    let entries = entries(&hits);
    let visits = entries.len();
    let count = |f: &dyn Fn(&SyntheticHit) -> bool| entries.iter().filter(|h| f(h)).count();

    // ≈ 40 % of arrivals without a referrer, most of them on deep URLs.
    let no_ref = count(&|h| h.referrer.is_none());
    let no_ref_deep =
        count(&|h| h.referrer.is_none() && !is_home(&clean_url(&h.url).unwrap().path));
    assert!(
        (0.36..0.47).contains(&share(no_ref, visits)),
        "{}",
        share(no_ref, visits)
    );
    assert!(
        share(no_ref_deep, no_ref) > 0.75,
        "{}",
        share(no_ref_deep, no_ref)
    );

    // True origins.
    let group = |g: ChannelGroup| count(&|h| h.truth.group == g);
    let private = group(ChannelGroup::PrivateMessage) + group(ChannelGroup::Email);
    assert!((0.36..0.48).contains(&share(private, visits)));
    assert!((0.20..0.30).contains(&share(group(ChannelGroup::Search), visits)));
    assert!((0.10..0.17).contains(&share(group(ChannelGroup::PublicSocial), visits)));
    for g in [
        ChannelGroup::AiAssistant,
        ChannelGroup::Paid,
        ChannelGroup::Referral,
        ChannelGroup::Direct,
    ] {
        assert!((0.015..0.12).contains(&share(group(g), visits)), "{g}");
    }
    assert_eq!(group(ChannelGroup::EstimatedDark), 0);
    let whatsapp = count(&|h| h.truth.channel == "whatsapp");
    assert!((0.09..0.16).contains(&share(whatsapp, visits)));

    // Bounce ≈ 55 %, 1–6 pageviews (plus conversion pages), mostly pageviews.
    let mut views: HashMap<u64, usize> = HashMap::new();
    for h in hits.iter().filter(|h| h.is_pageview()) {
        *views.entry(h.visit).or_default() += 1;
    }
    let bounces = views.values().filter(|&&n| n == 1).count();
    assert!((0.50..0.60).contains(&share(bounces, visits)));
    let pageviews = hits.iter().filter(|h| h.is_pageview()).count();
    assert!(share(pageviews, hits.len()) > 0.9);
    let per_visit = hits.len() as f64 / visits as f64;
    assert!((1.9..2.4).contains(&per_visit), "{per_visit}");

    // Mobile-heavy, with desktops.
    let mobile = count(&|h| h.screen_width < 500);
    assert!((0.45..0.75).contains(&share(mobile, visits)));
}

#[test]
fn conversions_carry_revenue_and_private_converts_better() {
    let mut cfg = SynthConfig::new("shop.example", start(), 60, 3_000);
    cfg.seed = 8;
    let hits: Vec<_> = Generator::new(cfg).collect();
    let mut converted = HashSet::new();
    let mut currencies = HashSet::new();
    for h in &hits {
        match h.name.as_str() {
            "purchase" => {
                let (amount, currency) = h.revenue.as_ref().expect("purchase has revenue");
                assert!(*amount > 0);
                currencies.insert(currency.clone());
                assert!(h.url.ends_with("/checkout"));
                assert!(h.props.iter().any(|(k, _)| k == "plan"));
                converted.insert(h.visit);
            }
            "signup" => {
                assert!(h.revenue.is_none());
                assert!(h.props.iter().any(|(k, _)| k == "plan"));
                converted.insert(h.visit);
            }
            "pageview" | "download" => assert!(h.revenue.is_none()),
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(
        currencies,
        HashSet::from(["EUR".to_string(), "USD".to_string()])
    );
    assert!(hits.iter().any(|h| h.name == "download"));
    assert!(hits
        .iter()
        .any(|h| h.props.iter().any(|(k, _)| k == "author")));

    let rate = |private: bool| {
        let visits: Vec<_> = hits
            .iter()
            .filter(|h| h.entry && h.truth.group.is_identified_dark() == private)
            .collect();
        share(
            visits
                .iter()
                .filter(|h| converted.contains(&h.visit))
                .count(),
            visits.len(),
        )
    };
    let (private, public) = (rate(true), rate(false));
    assert!((0.01..0.08).contains(&public), "{public}");
    assert!(private / public > 1.12, "uplift {}", private / public);
}

#[test]
fn bots_only_when_asked() {
    let cfg = SynthConfig::new("example.com", start(), 14, 1_000);
    let looks_like_bot = |ua: &str| {
        let ua = ua.to_ascii_lowercase();
        ["bot", "headless", "curl", "python", "crawler", "spider"]
            .iter()
            .any(|m| ua.contains(m))
    };
    let clean: Vec<_> = Generator::new(cfg.clone()).collect();
    assert!(clean
        .iter()
        .all(|h| !h.bot && !looks_like_bot(&h.user_agent)));

    let with_bots: Vec<_> = Generator::new(SynthConfig {
        bot_share: 0.05,
        ..cfg
    })
    .collect();
    let bots = with_bots.iter().filter(|h| h.bot).count();
    let b = share(bots, with_bots.len());
    assert!((0.035..0.065).contains(&b), "{b}");
    for h in with_bots.iter().filter(|h| h.bot) {
        assert!(looks_like_bot(&h.user_agent), "{}", h.user_agent);
        assert!(h.is_pageview());
    }
    assert!(with_bots
        .iter()
        .filter(|h| !h.bot)
        .all(|h| !looks_like_bot(&h.user_agent)));
}

#[test]
fn bench_gives_exactly_n_hits() {
    for n in [0, 1, 10, 25_000] {
        let cfg = SynthConfig::bench("example.com", start(), n);
        assert_eq!(Generator::new(cfg).count() as u64, n);
    }
}

/// `lucarne generate` sizes a range with `visits_per_day_for`: about the count asked
/// for, over the whole range (the last hour has traffic: the range is not cut short).
#[test]
fn sized_ranges_are_filled_to_their_end() {
    for (hits, days, within) in [(300_000u64, 30u32, 0.1), (60_000, 7, 0.2), (20_000, 1, 0.8)] {
        let cfg = SynthConfig::new(
            "example.com",
            start(),
            days,
            SynthConfig::visits_per_day_for(hits, days),
        );
        let end = cfg.end();
        let got: Vec<_> = Generator::new(cfg).collect();
        let n = got.len() as f64;
        assert!(
            (n / hits as f64 - 1.0).abs() <= within,
            "{hits} asked over {days} days, {n} generated"
        );
        let last = got.iter().map(|h| h.ts).max().expect("hits");
        assert!(
            end - last < Duration::hours(1),
            "{days} days: last hit {last}, end {end}"
        );
        let late = got
            .iter()
            .filter(|h| end - h.ts < Duration::hours(6))
            .count() as f64;
        assert!(
            late > n / f64::from(days) / 24.0,
            "{days} days: {late} in the last 6 h"
        );
    }
    assert_eq!(SynthConfig::visits_per_day_for(0, 0), 1);
}

#[test]
fn demo_ends_now_and_spans_six_months() {
    let now = Utc.with_ymd_and_hms(2025, 6, 15, 14, 30, 0).unwrap();
    let cfg = SynthConfig::demo("demo.example", now);
    assert_eq!(cfg.end(), now);
    assert!((180..=186).contains(&cfg.days));
    let hits: Vec<_> = Generator::new(cfg.clone()).collect();
    assert!((80_000..200_000).contains(&hits.len()), "{}", hits.len());
    assert!(hits.iter().all(|h| h.ts >= cfg.start && h.ts < now));
    assert!(hits.first().unwrap().ts - cfg.start < Duration::days(1));
    assert!(now - hits.last().unwrap().ts < Duration::days(1));
    // Same host, same demo.
    let again: Vec<_> = Generator::new(SynthConfig::demo("demo.example", now))
        .take(1_000)
        .collect();
    assert_eq!(&hits[..1_000], &again[..]);
}

/// Survey answers: only after conversions, ≈ 35 % of converting visits, valid options
/// the default survey offers, and answers that reflect the true origin (dark visits
/// included), with some noise and free text.
#[test]
fn survey_answers_follow_conversions_and_reflect_the_true_origin() {
    use lucarne_core::survey::{Route, SurveyRules};

    let mut cfg = SynthConfig::new("shop.example", start(), 60, 3_000);
    cfg.seed = 8;
    cfg.surveys = true;
    let hits: Vec<_> = Generator::new(cfg.clone()).collect();
    let rules = SurveyRules::builtin();
    let offered: HashSet<&str> = rules
        .options_for(&[])
        .into_iter()
        .map(|o| o.id.as_str())
        .collect();

    // Turning surveys on adds survey events and changes nothing else.
    let without: Vec<_> = Generator::new(SynthConfig {
        surveys: false,
        ..cfg
    })
    .collect();
    assert!(without.iter().all(|h| h.name != "survey"));
    let others: Vec<&SyntheticHit> = hits.iter().filter(|h| h.name != "survey").collect();
    assert_eq!(others.len(), without.len());
    assert!(others.iter().zip(&without).all(|(a, b)| *a == b));

    // Conversions per visit: (ts, URL) of each `purchase` / `signup`.
    let mut conversions: HashMap<u64, Vec<(DateTime<Utc>, &str)>> = HashMap::new();
    for h in hits
        .iter()
        .filter(|h| h.name == "purchase" || h.name == "signup")
    {
        conversions
            .entry(h.visit)
            .or_default()
            .push((h.ts, h.url.as_str()));
    }
    let entry_of: HashMap<u64, &SyntheticHit> = hits
        .iter()
        .filter(|h| h.entry)
        .map(|h| (h.visit, h))
        .collect();

    let prop = |h: &SyntheticHit, k: &str| {
        h.props
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let mut surveyed = HashSet::new();
    // (route said, true group, dark arrival, true channel, resolved option id)
    let mut answers = Vec::new();
    let (mut free_mapped, mut free_unmapped) = (0, 0);
    for h in hits.iter().filter(|h| h.name == "survey") {
        assert!(surveyed.insert(h.visit), "one answer per visit");
        assert!(h.revenue.is_none() && h.token.is_none() && !h.entry);
        // After a conversion of the same visit, on the same page.
        let convs = conversions
            .get(&h.visit)
            .expect("a survey answer follows a conversion");
        assert!(
            convs.iter().any(|(ts, url)| *ts <= h.ts && *url == h.url),
            "{h:?}"
        );
        let answer = prop(h, "answer").expect("answer");
        assert!(offered.contains(answer.as_str()), "{answer}");
        let text = prop(h, "text").unwrap_or_default();
        if !text.is_empty() {
            assert_eq!(answer, "other", "text only with `other`");
            match rules.map_text(&text) {
                Some(_) => free_mapped += 1,
                None => free_unmapped += 1,
            }
        }
        let option = rules.resolve(&answer, &text).expect("a known option");
        let landing = entry_of[&h.visit];
        answers.push((
            option.route,
            h.truth.group,
            landing.referrer.is_none(),
            h.truth.channel,
            option.id.as_str(),
        ));
    }

    // ≈ 35 % of converting visits answer.
    let rate = share(surveyed.len(), conversions.len());
    assert!(conversions.len() > 3_000, "{}", conversions.len());
    assert!((0.31..0.39).contains(&rate), "response rate {rate}");
    assert!(
        free_mapped > 50 && free_unmapped > 20,
        "{free_mapped} {free_unmapped}"
    );

    // Say private: visits truly from private messages or e-mail far more often than
    // visits from public social networks.
    let says_private = |f: &dyn Fn(ChannelGroup) -> bool| {
        let of: Vec<_> = answers.iter().filter(|a| f(a.1)).collect();
        let private = of.iter().filter(|a| a.0 == Route::Private).count();
        (share(private, of.len()), of.len())
    };
    let (private, n_private) =
        says_private(&|g| matches!(g, ChannelGroup::PrivateMessage | ChannelGroup::Email));
    let (public, n_public) = says_private(&|g| g == ChannelGroup::PublicSocial);
    assert!(n_private > 300 && n_public > 50, "{n_private} {n_public}");
    assert!(private > 0.6, "private origins say private: {private}");
    assert!(public < 0.2, "public origins say private: {public}");
    assert!(private > 4.0 * public, "{private} vs {public}");

    // Dark WhatsApp visits (no referrer at all) answer WhatsApp, mostly.
    let dark_whatsapp: Vec<_> = answers
        .iter()
        .filter(|a| a.2 && a.3 == "whatsapp")
        .collect();
    let said_whatsapp = dark_whatsapp.iter().filter(|a| a.4 == "whatsapp").count();
    assert!(dark_whatsapp.len() > 50, "{}", dark_whatsapp.len());
    assert!(
        share(said_whatsapp, dark_whatsapp.len()) > 0.7,
        "{said_whatsapp}/{}",
        dark_whatsapp.len()
    );
    // Typed addresses and bookmarks: mostly search, a friend, or something else.
    let direct: Vec<_> = answers
        .iter()
        .filter(|a| a.1 == ChannelGroup::Direct)
        .collect();
    let usual = direct
        .iter()
        .filter(|a| matches!(a.0, Route::Search | Route::Offline | Route::Other))
        .count();
    assert!(
        share(usual, direct.len()) > 0.75,
        "{usual}/{}",
        direct.len()
    );
    eprintln!(
        "{} answers from {} converting visits ({rate:.3}); say private: {private:.3} of \
         {n_private} private-origin, {public:.3} of {n_public} public-social; dark WhatsApp \
         {said_whatsapp}/{}; direct {usual}/{}; free text {free_mapped} mapped, \
         {free_unmapped} not",
        surveyed.len(),
        conversions.len(),
        dark_whatsapp.len(),
        direct.len()
    );
}
