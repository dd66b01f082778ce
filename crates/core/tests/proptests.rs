//! Property-based tests: whatever a client, a log file or a query string sends, the
//! parsers and cleaners of `core` answer (a value or an error) and never panic; and
//! where a simple property holds (no control character is stored, a token's spelling
//! parses back to it) it is checked.
//!
//! Each property runs a few hundred cases (`CASES`); the whole file takes seconds. A
//! longer search for a rare failure: `PROPTEST_CASES=100000 cargo test --test proptests`.
//! Inputs come from three kinds of generators: any string, any bytes read as lossy
//! UTF-8, and structured generators that look like URLs, query strings and log lines,
//! so that the interesting branches are reached.

use std::sync::OnceLock;

use chrono::{Datelike, NaiveDate};
use lucarne_core::access_log::{decide, is_asset, parse_line};
use lucarne_core::classify::{classify, Arrival};
use lucarne_core::links::{
    check_slug, check_target, generated_slug, is_private_host, redirect_location, LinkError,
    LinkUtm, GENERATED_SLUG_LEN,
};
use lucarne_core::rules::Rules;
use lucarne_core::stats::{
    buckets, paging, parse_date, utc_range, Filter, Interval, Metric, Period, Property, Utc0,
    MAX_LIMIT, MAX_PAGE,
};
use lucarne_core::text::{clean_text, encode_controls, has_control};
use lucarne_core::token::{NodeKind, Token, TokenStatus, TOKEN_LEN};
use lucarne_core::url_clean::{
    clean_page_url, clean_path, clean_referrer, clean_url, is_home, normalise_host, ClickId, Utm,
    MAX_PATH_LEN,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

const CASES: u32 = 512;

fn config() -> Config {
    Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(CASES),
        // Failures are turned into unit tests by hand; no files are written.
        failure_persistence: None,
        ..Config::default()
    }
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(Rules::builtin)
}

// ---------------------------------------------------------------------------------------
// Generators

/// Any bytes, read as UTF-8 with invalid sequences replaced.
fn lossy() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<u8>(), 0..300)
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Any string: arbitrary code points, or lossy bytes.
fn anything() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), lossy()]
}

/// Characters that matter to URL and text parsers: delimiters, percent escapes,
/// controls (C0, DEL, C1), white space, non-ASCII.
fn tricky_char() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9]".prop_map(String::from),
        1 => prop::sample::select(vec![
            "/", "?", "#", "&", "=", ";", ":", "@", ".", "..", "%", "%2", "%00", "%0A", "%0d",
            "%1F", "%7F", "%7f", "%C2%85", "%FF", "%25", "%2F", "%3F", "%23", "%26", "+", " ",
            "\t", "\n", "\r", "\0", "\u{1b}", "\u{1f}", "\u{7f}", "\u{85}", "\u{9f}", "\u{a0}",
            "\u{2028}", "é", "日", "😀", "\\", "[", "]", "'", "\"", "<", ">", "`", "{", "}",
            "lc=", "utm_source=", "-", "_", "~", "!", "$", "*", ",",
        ])
        .prop_map(String::from),
    ]
}

fn tricky(max: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec(tricky_char(), 0..max).prop_map(|v| v.concat())
}

/// A host: names, every IPv4 spelling, IPv6 literals, special names, junk.
fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9-]{1,10}(\\.[a-z0-9-]{1,10}){0,3}\\.?",
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>())
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        any::<u32>().prop_map(|n| n.to_string()),
        any::<u32>().prop_map(|n| format!("0x{n:x}")),
        any::<u32>().prop_map(|n| format!("0{n:o}")),
        (any::<u8>(), any::<u32>()).prop_map(|(a, n)| format!("{a}.{}", n & 0xff_ffff)),
        (any::<u8>(), any::<u16>()).prop_map(|(a, n)| format!("0x{a:x}.{n}")),
        any::<u128>().prop_map(|n| format!("[{}]", std::net::Ipv6Addr::from(n))),
        any::<u32>().prop_map(|n| format!("[::ffff:{}]", std::net::Ipv4Addr::from(n))),
        any::<u32>().prop_map(|n| format!("[::{}]", std::net::Ipv4Addr::from(n))),
        any::<u32>().prop_map(|n| format!("[64:ff9b::{}]", std::net::Ipv4Addr::from(n))),
        any::<u32>().prop_map(|n| format!("[64:ff9b:1::{}]", std::net::Ipv4Addr::from(n))),
        any::<u32>().prop_map(|n| format!("[2002:{:x}:{:x}::1]", n >> 16, n & 0xffff)),
        prop::sample::select(vec![
            "localhost",
            "localhost.",
            "LOCALHOST",
            "intranet",
            "printer.local",
            "x.internal",
            "nas.home.arpa",
            "www.example.com",
            "example.com",
            "xn--caf-dma.fr",
            "café.fr",
            "ｌｏｃａｌｈｏｓｔ",
            "%6c%6fcalhost",
            "[::1]",
            "[::]",
            "[fe80::1%25eth0]",
            "0",
            ".",
            "..",
            "a..b",
            "",
        ])
        .prop_map(String::from),
        tricky(8),
    ]
}

/// Query-string-ish text: known and unknown keys, odd values.
fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        prop::sample::select(vec![
            "utm_source",
            "utm_medium",
            "utm_campaign",
            "utm_term",
            "utm_content",
            "lc",
            "fbclid",
            "gclid",
            "_hsenc",
            "email",
            "qr",
            "",
        ])
        .prop_map(String::from),
        tricky(4),
    ];
    let pair = (key, prop::option::of(tricky(12))).prop_map(|(k, v)| match v {
        Some(v) => format!("{k}={v}"),
        None => k,
    });
    proptest::collection::vec(pair, 0..6).prop_map(|v| v.join("&"))
}

/// A token-ish value: real tokens, near misses.
fn token_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u64>().prop_map(|n| Token::from_bits(n | 1)
            .map(|t| t.to_string())
            .unwrap_or_default()),
        "[A-Za-z0-9_-]{0,13}",
        tricky(12),
    ]
}

/// A fragment: routes with queries and tokens, anchors, junk.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        ("(/[a-z0-9%]{0,6}){0,4}/?", query()).prop_map(|(r, q)| format!("{r}?{q}")),
        ("(/[a-z0-9]{0,6}){0,4}", token_text()).prop_map(|(r, t)| format!("{r}&lc={t}")),
        token_text().prop_map(|t| format!("lc={t}")),
        "[a-z-]{0,10}",
        tricky(16),
    ]
}

/// A URL-ish string: scheme, credentials, host, port, path, query, fragment, each
/// sometimes odd or missing.
fn url_ish() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec![
        "http://",
        "https://",
        "HTTP://",
        "HtTpS://",
        "http:",
        "http:/",
        "https:///",
        "//",
        "ftp://",
        "javascript:",
        "data:text/html,",
        "android-app://",
        "",
        " https://",
        "\thttps://",
    ]);
    let userinfo = prop::option::weighted(0.1, "[a-z]{0,5}(:[a-z]{0,5})?@");
    let port = prop::option::weighted(0.2, any::<u32>().prop_map(|p| format!(":{p}")));
    let path = proptest::collection::vec(tricky(10), 0..5)
        .prop_map(|s| s.iter().fold(String::new(), |acc, seg| acc + "/" + seg));
    let q = prop::option::of(query());
    let f = prop::option::of(fragment());
    (scheme, userinfo, host(), port, path, q, f).prop_map(|(s, u, h, p, path, q, f)| {
        let mut out = format!(
            "{s}{}{h}{}{path}",
            u.unwrap_or_default(),
            p.unwrap_or_default()
        );
        if let Some(q) = q {
            out.push('?');
            out.push_str(&q);
        }
        if let Some(f) = f {
            out.push('#');
            out.push_str(&f);
        }
        out
    })
}

fn any_url() -> impl Strategy<Value = String> {
    prop_oneof![3 => url_ish(), 1 => anything()]
}

/// A date anywhere in chrono's calendar, often near its ends.
fn date() -> impl Strategy<Value = NaiveDate> {
    let first = NaiveDate::MIN.num_days_from_ce();
    let last = NaiveDate::MAX.num_days_from_ce();
    prop_oneof![
        first..=last,
        first..first + 800,
        last - 800..=last,
        // 1970–2100
        719_163..767_011,
    ]
    .prop_map(|n| NaiveDate::from_num_days_from_ce_opt(n).unwrap_or(NaiveDate::MIN))
}

/// Date-ish text: real dates, signed and huge years, odd months and days.
fn date_text() -> impl Strategy<Value = String> {
    prop_oneof![
        date().prop_map(|d| d.to_string()),
        ("[+-]?[0-9]{1,25}", "[0-9]{1,3}", "[0-9]{1,3}")
            .prop_map(|(y, m, d)| format!("{y}-{m}-{d}")),
        prop::sample::select(vec![
            "-262143-01-01",
            "+262142-12-31",
            "+262143-12-31",
            "-262144-12-31",
            "262143-12-31",
            "0000-01-01",
            "-0001-12-31",
            "2024-02-29",
            "2023-02-29",
            "9999999999999999999999-01-01",
        ])
        .prop_map(String::from),
        tricky(12),
    ]
}

/// Filter-ish text: known properties, operators, alternatives.
fn filters_text() -> impl Strategy<Value = String> {
    let prop = prop_oneof![
        4 => prop::sample::select(vec![
            "event:page",
            "visit:channel",
            "visit:source",
            "event:props:plan",
            "event:props:",
            "visit:nope",
            "event:name",
        ])
        .prop_map(String::from),
        1 => "event:props:[a-zA-Z0-9_-]{0,70}",
        1 => tricky(6),
    ];
    let op = prop::sample::select(vec!["==", "==", "!=", "!=", "=", "~", ""]);
    let values = proptest::collection::vec(tricky(8), 0..4).prop_map(|v| v.join("|"));
    let one = (prop, op, values).prop_map(|(p, o, v)| format!("{p}{o}{v}"));
    proptest::collection::vec(one, 0..5).prop_map(|v| v.join(";"))
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Log-line-ish text in the combined format, each field sometimes odd.
fn log_line() -> impl Strategy<Value = String> {
    let client = prop_oneof![
        (any::<u8>(), any::<u8>()).prop_map(|(a, b)| format!("203.0.{a}.{b}")),
        tricky(6),
    ];
    let time = prop_oneof![
        6 => (1u32..=28, 0usize..12, 1970i32..2100, 0u32..24, 0u32..60, -14i32..=14, any::<bool>())
            .prop_map(|(d, m, y, h, s, zh, half)| {
                let zm = if half { 30 } else { 0 };
                format!("{d:02}/{}/{y}:{h:02}:{s:02}:{s:02} {zh:+03}{zm:02}", MONTHS[m])
            }),
        1 => (1u32..=31, 0usize..12, "[+-]?[0-9]{1,7}", 0u32..=25, 0u32..=61, "[+-][0-9]{4}")
            .prop_map(|(d, m, y, h, s, z)| {
                format!("{d:02}/{}/{y}:{h:02}:{s:02}:{s:02} {z}", MONTHS[m])
            }),
        1 => prop::sample::select(vec![
            "10/Mar/2024:13:55:36 +0100",
            "31/Dec/262142:23:59:59 -2359",
            "01/Jan/-262143:00:00:00 +2359",
            "29/Feb/2023:00:00:00 +0000",
        ])
        .prop_map(String::from),
        1 => tricky(10),
    ];
    let method = prop::sample::select(vec![
        "GET",
        "GET",
        "GET",
        "HEAD",
        "POST",
        "CONNECT",
        "get",
        "",
        "\\x16\\x03",
    ]);
    let target = prop_oneof![any_url(), "/[a-z./]{0,20}(\\?[a-z=&]{0,10})?", tricky(10)];
    let proto = prop::sample::select(vec!["HTTP/1.1", "HTTP/1.1", "HTTP/2.0", "", "HTTP/"]);
    let status = prop_oneof![
        6 => (100u16..600).prop_map(|s| s.to_string()),
        1 => "[0-9]{1,4}",
        1 => Just("-".to_string()),
    ];
    let size = prop_oneof![
        6 => any::<u32>().prop_map(|n| n.to_string()),
        1 => "[0-9]{1,25}",
        1 => Just("-".to_string()),
        1 => tricky(3),
    ];
    let quoted = prop_oneof![
        any_url().prop_map(|u| u.replace('"', "\\\"")),
        tricky(12),
        Just("-".to_string()),
        Just("\\x22\\\\\\n\\t\\".to_string()),
    ];
    let ua = prop_oneof![
        prop::sample::select(vec![
            "WhatsApp/2.23.20.0 A",
            "TelegramBot (like TwitterBot)",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15",
            "-",
        ])
        .prop_map(String::from),
        tricky(12),
    ];
    let tail = prop::sample::select(vec!["", " \"-\"", " 0.003", "\n", "\r\n", " \""]);
    (
        client,
        time,
        method,
        target,
        proto,
        status,
        size,
        quoted,
        ua,
        tail,
        any::<u8>(),
    )
        .prop_map(
            |(c, t, m, target, p, st, sz, r, ua, tail, shape)| match shape % 8 {
                0 => format!("{c} - - [{t}] \"{m} {target} {p}\" {st} {sz} \"{r}\" \"{ua}\"{tail}"),
                1..=4 => format!("{c} - - [{t}] \"{m} {target} {p}\" {st} {sz} \"{r}\" \"{ua}\""),
                5 => format!("{c} - - [{t}] \"{m} {target} {p}\" {st} {sz}{tail}"),
                6 => format!("{c} - user name [{t}] \"{m} {target}\" {st} {sz} {r} \"{ua}{tail}"),
                _ => format!("{c} [{t}] \"{m}{target}{p}\" {st}"),
            },
        )
}

fn arb_utm() -> impl Strategy<Value = Utm> {
    let v = || prop::option::of(prop_oneof![tricky(10), anything()]);
    (v(), v(), v(), v(), v()).prop_map(|(source, medium, campaign, term, content)| Utm {
        source,
        medium,
        campaign,
        term,
        content,
    })
}

fn no_control(s: &str) -> bool {
    !has_control(s)
}

/// What `clean_url` / `clean_page_url` promise about an accepted URL.
fn check_clean(raw: &str, hash_mode: bool) -> Result<(), TestCaseError> {
    let Ok(c) = clean_page_url(raw, hash_mode) else {
        return Ok(());
    };
    prop_assert!(c.path.starts_with('/'), "{raw:?} -> {:?}", c.path);
    prop_assert!(c.path.len() <= MAX_PATH_LEN, "{raw:?}");
    prop_assert!(no_control(&c.path), "{raw:?} -> {:?}", c.path);
    prop_assert!(
        c.path == "/" || !c.path.ends_with('/'),
        "{raw:?} -> {:?}",
        c.path
    );
    prop_assert!(no_control(&c.host), "{raw:?} -> {:?}", c.host);
    prop_assert_eq!(&c.host, &c.host.to_ascii_lowercase());
    let utm = &c.utm;
    for v in [
        &utm.source,
        &utm.medium,
        &utm.campaign,
        &utm.term,
        &utm.content,
        &c.token,
    ]
    .into_iter()
    .flatten()
    {
        prop_assert!(!v.is_empty() && no_control(v), "{raw:?} -> {v:?}");
        prop_assert!(v.chars().count() <= 256, "{raw:?}");
        prop_assert_eq!(v.trim(), v.as_str());
    }
    if !hash_mode {
        prop_assert_eq!(Ok(c), clean_url(raw));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// URL cleaning and text

proptest! {
    #![proptest_config(config())]

    #[test]
    fn clean_url_any_input(raw in any_url(), hash_mode in any::<bool>()) {
        check_clean(&raw, hash_mode)?;
    }

    #[test]
    fn clean_url_http(
        host in "[a-z]{1,8}\\.(com|org)",
        path in tricky(12),
        q in query(),
        f in fragment(),
        hash_mode in any::<bool>(),
    ) {
        let raw = format!("https://{host}/{path}?{q}#{f}");
        check_clean(&raw, hash_mode)?;
    }

    /// Hash mode keeps the route, never what follows it: a query inside the fragment or
    /// a token.
    #[test]
    fn hash_route_has_no_query(
        base in "(/[a-z0-9]{1,5}){0,3}/?",
        route in "(/[a-z0-9]{1,5}){0,4}/?",
        secret in "[A-Z]{6,10}",
        tok in "[A-Z]{11}",
    ) {
        for raw in [
            format!("https://x.com{base}#{route}?email={secret}@b.c&lc={tok}"),
            format!("https://x.com{base}#{route}&lc={tok}&email={secret}"),
            format!("https://x.com{base}?email={secret}#{route}?lc={tok}"),
        ] {
            let c = clean_page_url(&raw, true).map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
            prop_assert!(!c.path.contains(&secret), "{raw} -> {}", c.path);
            prop_assert!(!c.path.contains(&tok), "{raw} -> {}", c.path);
            prop_assert!(!c.path.contains('?') && !c.path.contains('&'), "{raw} -> {}", c.path);
            prop_assert_eq!(c.token.as_deref(), Some(tok.as_str()));
            let trimmed = route.trim_end_matches('/');
            if !trimmed.is_empty() {
                prop_assert!(c.path.ends_with(&format!("#{trimmed}")), "{raw} -> {}", c.path);
            }
        }
    }

    #[test]
    fn clean_path_any_input(raw in prop_oneof![tricky(40), anything()]) {
        let p = clean_path(&raw);
        prop_assert!(!p.is_empty() && p.len() <= MAX_PATH_LEN);
        prop_assert!(no_control(&p), "{raw:?} -> {p:?}");
        prop_assert!(p == "/" || !p.ends_with('/'), "{raw:?} -> {p:?}");
        let _ = is_home(&p);
    }

    #[test]
    fn referrer_any_input(raw in prop_oneof![any_url(), tricky(30)]) {
        if let Some(r) = clean_referrer(&raw) {
            let stored = r.stored(500);
            prop_assert!(no_control(&stored), "{raw:?} -> {stored:?}");
            prop_assert!(stored.chars().count() <= 500);
            let app = stored.starts_with("android-app://");
            prop_assert!(app || !stored.contains('?'), "{raw:?} -> {stored:?}");
        }
    }

    #[test]
    fn normalise_host_any_input(raw in prop_oneof![host(), anything()]) {
        let h = normalise_host(&raw);
        prop_assert_eq!(&h, &h.to_ascii_lowercase());
        prop_assert!(!h.ends_with('.') && !h.starts_with(char::is_whitespace), "{raw:?} -> {h:?}");
    }

    #[test]
    fn text_helpers(s in prop_oneof![tricky(30), anything()], max in 0usize..50) {
        if let Some(t) = clean_text(&s, max) {
            prop_assert!(!t.is_empty() && no_control(&t));
            prop_assert!(t.chars().count() <= max);
            prop_assert_eq!(t.trim(), t.as_str());
        }
        let e = encode_controls(&s);
        prop_assert!(no_control(&e));
        prop_assert_eq!(has_control(&s), e != s);
        if !s.contains('%') {
            let back = percent_encoding::percent_decode_str(&e).decode_utf8_lossy();
            prop_assert_eq!(back.as_ref(), s.as_str());
        }
    }
}

// ---------------------------------------------------------------------------------------
// The classifier

const APP_REFERRER: &str = "android-app://[a-z.]{0,20}/.*";
const INSTAGRAM_UA: &str = "Mozilla/5.0 (Linux; Android 14) Instagram 300.0";

proptest! {
    #![proptest_config(config())]

    #[test]
    fn classify_any_arrival(
        site_host in prop_oneof![host(), anything()],
        path in prop_oneof![tricky(12), anything()],
        referrer in prop::option::of(prop_oneof![any_url(), anything(), APP_REFERRER]),
        user_agent in prop_oneof![anything(), tricky(20), Just(INSTAGRAM_UA.to_string())],
        utm in arb_utm(),
        click in prop::option::of(0usize..ClickId::ALL.len()),
        telegram_webview in any::<bool>(),
    ) {
        let arrival = Arrival {
            site_host: &site_host,
            allowed_hosts: &[],
            path: &path,
            referrer: referrer.as_deref(),
            user_agent: &user_agent,
            utm: &utm,
            click_id: click.map(|i| ClickId::ALL[i]),
            telegram_webview,
        };
        let c = classify(rules(), &arrival);
        prop_assert!(!c.source.is_empty());
    }

    /// What ingest stores of a classification (channel and source) has no control
    /// character when the UTM values come from a cleaned URL, whatever the referrer.
    #[test]
    fn classify_cleaned_arrival_stores_no_controls(
        raw in url_ish(),
        referrer in prop::option::of(prop_oneof![any_url(), anything()]),
    ) {
        if let Ok(c) = clean_url(&raw) {
            let arrival = Arrival {
                site_host: "example.com",
                allowed_hosts: &[],
                path: &c.path,
                referrer: referrer.as_deref(),
                user_agent: "",
                utm: &c.utm,
                click_id: c.click_id,
                telegram_webview: false,
            };
            let k = classify(rules(), &arrival);
            prop_assert!(no_control(k.channel.as_str()), "{raw:?} {referrer:?} -> {k:?}");
            prop_assert!(no_control(&k.source), "{raw:?} {referrer:?} -> {k:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// The stats query model

const PERIODS: [&str; 7] = ["day", "7d", "30d", "month", "6mo", "12mo", "custom"];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn period_any_input(
        period in prop_oneof![
            prop::sample::select(PERIODS.to_vec()).prop_map(String::from),
            anything(),
        ],
        date in prop::option::of(prop_oneof![
            date_text(),
            (date_text(), date_text()).prop_map(|(a, b)| format!("{a},{b}")),
            anything(),
        ]),
        today in date(),
    ) {
        if let Ok(p) = Period::parse(&period, date.as_deref()) {
            if let Ok((a, b)) = p.try_dates(today) {
                prop_assert!(a <= b, "{period} {date:?} {today}");
                if let Ok((pa, pb)) = Period::try_previous(a, b) {
                    prop_assert!(pa <= pb && pb < a);
                    prop_assert_eq!((pb - pa).num_days(), (b - a).num_days());
                }
            }
            let (a, b) = p.dates(today);
            prop_assert!(a <= b);
            let (pa, pb) = Period::previous(a, b);
            prop_assert!(pa <= pb);
            let _ = Interval::default_for(p);
        }
        if let Some(d) = date.as_deref() {
            let _ = parse_date(d);
        }
    }

    #[test]
    fn every_period_at_every_date(today in date(), which in 0usize..6) {
        let p = [
            Period::Day,
            Period::Days7,
            Period::Days30,
            Period::Month,
            Period::Months6,
            Period::Months12,
        ][which];
        match p.try_dates(today) {
            Ok((a, b)) => {
                prop_assert!(a <= today && today <= b, "{p:?} {today}");
                prop_assert_eq!(p.dates(today), (a, b));
            }
            // Only near chrono's ends.
            Err(_) => prop_assert!(today.year().abs() > 262_000, "{p:?} {today}"),
        }
    }

    #[test]
    fn dates_parse_or_refuse(s in date_text()) {
        if let Ok(d) = parse_date(&s) {
            // A parsed date's canonical spelling parses to the same date.
            prop_assert_eq!(parse_date(&d.to_string()), Ok(d));
        }
    }

    #[test]
    fn buckets_are_bounded(from in date(), span in 0u64..400, which in 0usize..3) {
        let to = from.checked_add_days(chrono::Days::new(span)).unwrap_or(NaiveDate::MAX);
        let interval = [Interval::Hour, Interval::Date, Interval::Month][which];
        let b = buckets(&Utc0, from, to, interval);
        for w in b.windows(2) {
            prop_assert!(w[0].start < w[1].start);
        }
        for x in &b {
            prop_assert!(x.start < x.end);
        }
        let (f, t) = utc_range(&Utc0, from, to);
        prop_assert!(f <= t);
    }

    #[test]
    fn filters_properties_metrics_any_input(
        filters in prop_oneof![filters_text(), anything()],
        property in prop_oneof![filters_text(), anything()],
        metrics in prop_oneof![
            proptest::collection::vec(prop_oneof![
                prop::sample::select(Metric::ALL.map(|m| m.as_str().to_string()).to_vec()),
                tricky(5),
            ], 0..5).prop_map(|v| v.join(",")),
            anything(),
        ],
        interval in anything(),
    ) {
        if let Ok(fs) = Filter::parse_list(&filters) {
            for f in fs {
                prop_assert!(f.values.len() <= 50);
                prop_assert_eq!(Property::parse(&f.property.name()), Ok(f.property.clone()));
            }
        }
        if let Ok(p) = Property::parse(&property) {
            prop_assert_eq!(Property::parse(&p.name()), Ok(p.clone()));
            let _ = (p.result_key(), p.is_event_level());
        }
        if let Ok(ms) = Metric::parse_list(&metrics) {
            prop_assert!(!ms.is_empty());
        }
        let _ = Interval::parse(&interval);
    }

    #[test]
    fn paging_any_numbers(
        limit in prop::option::of(any::<u64>()),
        page in prop::option::of(prop_oneof![any::<u64>(), 0u64..1100]),
    ) {
        if let Ok((l, offset)) = paging(limit, page) {
            prop_assert!((1..=MAX_LIMIT).contains(&l));
            prop_assert!(offset <= (MAX_PAGE - 1) * MAX_LIMIT);
            prop_assert_eq!(offset % l, 0);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Access logs

proptest! {
    #![proptest_config(config())]

    #[test]
    fn access_log_any_line(line in prop_oneof![3 => log_line(), 1 => anything()]) {
        if let Ok(l) = parse_line(&line) {
            if let Some(req) = &l.request {
                let _ = (req.is_get(), req.is_get_or_head());
                if let Some(p) = req.path() {
                    let _ = is_asset(p);
                }
                if let Some(u) = req.url("example.com") {
                    let _ = clean_url(&u);
                }
            }
            let ua = &l.user_agent;
            let app = lucarne_core::useragent::preview_app(rules(), ua);
            let bot = lucarne_core::useragent::is_bot(rules(), ua);
            for pageviews in [false, true] {
                let _ = decide(&l, app.as_deref(), bot, pageviews);
            }
        }
    }

    #[test]
    fn is_asset_any_path(p in prop_oneof![tricky(20), anything()]) {
        let _ = is_asset(&p);
    }
}

// ---------------------------------------------------------------------------------------
// Short links and tokens

proptest! {
    #![proptest_config(config())]

    #[test]
    fn check_target_any_input(raw in any_url()) {
        let public = check_target(&raw, false);
        let any = check_target(&raw, true);
        match &public {
            Ok(url) => {
                prop_assert!(matches!(url.scheme(), "http" | "https"));
                prop_assert!(url.username().is_empty() && url.password().is_none());
                let host = url.host();
                prop_assert!(host.is_some_and(|h| !is_private_host(&h)), "{raw:?}");
                prop_assert_eq!(&any, &public);
            }
            Err(LinkError::TargetPrivateNetwork) => prop_assert!(any.is_ok(), "{raw:?}"),
            Err(e) => prop_assert_eq!(any.err(), Some(*e)),
        }
    }

    #[test]
    fn check_slug_any_input(s in prop_oneof!["[A-Za-z0-9_-]{0,70}", tricky(10), anything()]) {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        prop_assert_eq!(check_slug(&s).is_ok(), ok);
    }

    #[test]
    fn generated_slugs_are_valid(bytes in any::<[u8; GENERATED_SLUG_LEN]>()) {
        prop_assert!(check_slug(&generated_slug(&bytes)).is_ok());
    }

    /// A redirect always carries the click's token where the landing page finds it.
    #[test]
    fn redirects_carry_their_token(
        raw in url_ish(),
        bits in any::<u64>(),
        campaign in tricky(8),
        channel in prop::sample::select(vec!["", "whatsapp", "email", "facebook", "qr-code"]),
        in_query in any::<bool>(),
    ) {
        let token = Token::from_bits(bits | 1);
        let (Ok(target), Some(token)) = (check_target(&raw, true), token) else {
            return Ok(());
        };
        let utm = LinkUtm::for_channel(channel, &campaign);
        let loc = redirect_location(&target, &utm, token, in_query);
        let c = clean_url(&loc).map_err(|e| TestCaseError::fail(format!("{loc}: {e:?}")))?;
        let arrived = c.token.as_deref().and_then(Token::parse);
        prop_assert_eq!(arrived, Some(token), "{} -> {}", raw, loc);
    }

    #[test]
    fn tokens_have_one_spelling(bits in any::<u64>()) {
        match Token::from_bits(bits) {
            Some(t) => {
                let s = t.to_string();
                prop_assert_eq!(s.len(), TOKEN_LEN);
                prop_assert_eq!(Token::parse(&s), Some(t));
                prop_assert_eq!(t.bits(), bits);
            }
            None => prop_assert_eq!(bits, 0),
        }
    }

    #[test]
    fn token_parse_any_input(s in prop_oneof![token_text(), "[A-Za-z0-9_-]{11}", anything()]) {
        if let Some(t) = Token::parse(&s) {
            // Only the canonical spelling parses.
            let canonical = t.to_string();
            prop_assert_eq!(canonical.as_str(), s.as_str());
        }
        let _ = TokenStatus::parse(&s);
        let _ = NodeKind::of_event(&s);
    }
}
