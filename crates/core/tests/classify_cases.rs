//! Table-driven tests of the classifier and the user-agent facts.
//!
//! The tables are plain text, one case per line:
//! - `classify_cases.txt`: landing URL, referrer, user agent → channel, group, evidence,
//!   display source (the format is described at the top of the file);
//! - `useragent_cases.txt`: real user agents → preview app, bot or not, device.
//!
//! Every failing case is reported by name and line, all at once.

use lucarne_core::channel::{ChannelGroup, Evidence};
use lucarne_core::classify::{classify, is_site_host, Arrival};
use lucarne_core::rules::{Rules, RulesError};
use lucarne_core::url_clean::{clean_url, Utm};
use lucarne_core::useragent::{device, is_bot, is_spam_referrer, preview_app};

const CLASSIFY_CASES: &str = include_str!("classify_cases.txt");
const USERAGENT_CASES: &str = include_str!("useragent_cases.txt");

/// Fields of a line, split on ` | ` and trimmed; `-` is empty.
fn fields(line: &str) -> Vec<&str> {
    line.split(" | ").map(str::trim).collect()
}

fn dash(s: &str) -> Option<&str> {
    (s != "-").then_some(s)
}

/// Panic with every failure, or return the number of cases checked.
fn report(kind: &str, checked: usize, failures: Vec<String>) -> usize {
    assert!(
        failures.is_empty(),
        "{} of {checked} {kind} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    checked
}

/// One classify case, parsed.
struct Case<'a> {
    line: usize,
    name: &'a str,
    site: &'a str,
    url: &'a str,
    referrer: Option<&'a str>,
    user_agent: &'a str,
    telegram_webview: bool,
    want: [&'a str; 4],
}

/// Classify one case and compare; `Err` names the case and what differed.
fn check(rules: &Rules, case: &Case<'_>) -> Result<(), String> {
    let name = format!("line {} `{}`", case.line, case.name);
    let page = clean_url(&format!("https://{}{}", case.site, case.url))
        .map_err(|e| format!("{name}: bad landing URL {:?}: {e:?}", case.url))?;
    let utm: Utm = page.utm.clone();
    let arrival = Arrival {
        site_host: case.site,
        allowed_hosts: &[],
        path: &page.path,
        referrer: case.referrer,
        user_agent: case.user_agent,
        utm: &utm,
        click_id: page.click_id,
        telegram_webview: case.telegram_webview,
    };
    let c = classify(rules, &arrival);
    let got = [
        c.channel.as_str(),
        c.group.as_str(),
        c.evidence.as_str(),
        c.source.as_str(),
    ];
    if got == case.want {
        Ok(())
    } else {
        Err(format!(
            "{name}: want {} | got {}",
            case.want.join(" | "),
            got.join(" | ")
        ))
    }
}

#[test]
fn classify_table() {
    let rules = Rules::builtin();
    let mut aliases: Vec<(&str, &str)> = Vec::new();
    let mut site = "example.com";
    let mut checked = 0;
    let mut failures = Vec::new();
    for (i, raw) in CLASSIFY_CASES.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(def) = line.strip_prefix("@ua ") {
            let (alias, ua) = def.split_once(" = ").expect("`@ua NAME = AGENT`");
            aliases.push((alias.trim(), ua.trim()));
            continue;
        }
        if let Some(s) = line.strip_prefix("@site ") {
            site = s.trim();
            continue;
        }
        let f = fields(line);
        assert_eq!(f.len(), 8, "line {}: 8 fields expected: {line}", i + 1);
        let (ua_field, telegram_webview) = match f[3].strip_suffix("+tg") {
            Some(rest) => (rest.trim(), true),
            None => (f[3], false),
        };
        let user_agent = match dash(ua_field) {
            None => "",
            Some(alias) => aliases
                .iter()
                .find(|(a, _)| *a == alias)
                .map(|(_, ua)| *ua)
                .unwrap_or_else(|| panic!("line {}: unknown user agent `{alias}`", i + 1)),
        };
        let referrer = match f[2] {
            "-" => None,
            "\"\"" => Some(""),
            r => Some(r),
        };
        assert!(ChannelGroup::parse(f[5]).is_some(), "line {}: group", i + 1);
        assert!(Evidence::parse(f[6]).is_some(), "line {}: evidence", i + 1);
        let case = Case {
            line: i + 1,
            name: f[0],
            site,
            url: f[1],
            referrer,
            user_agent,
            telegram_webview,
            want: [f[4], f[5], f[6], f[7]],
        };
        checked += 1;
        if let Err(e) = check(&rules, &case) {
            failures.push(e);
        }
    }
    let n = report("classify", checked, failures);
    assert!(n >= 220, "only {n} classify cases");
}

#[test]
fn useragent_table() {
    let rules = Rules::builtin();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (i, raw) in USERAGENT_CASES.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // Split the raw line: a trailing empty field (an empty user agent) is a field.
        let f = fields(raw);
        assert_eq!(f.len(), 3, "line {}: 3 fields expected: {line}", i + 1);
        let (kind, want, ua) = (f[0], f[1], f[2]);
        let got = match kind {
            "preview" => preview_app(&rules, ua).unwrap_or_else(|| "-".into()),
            "bot" => if is_bot(&rules, ua) { "yes" } else { "no" }.to_string(),
            "device" => {
                let d = device(ua);
                format!("{}, {}, {}", d.kind, d.browser, d.os)
            }
            "spam" => if is_spam_referrer(&rules, ua) {
                "yes"
            } else {
                "no"
            }
            .to_string(),
            other => panic!("line {}: unknown kind `{other}`", i + 1),
        };
        checked += 1;
        if got.trim() != want {
            failures.push(format!(
                "line {} {kind} `{ua}`: want {want}, got {got}",
                i + 1
            ));
        }
    }
    report("user-agent", checked, failures);
}

/// Every preview fetcher is a bot; no in-app browser of the classify table is one.
#[test]
fn previews_are_bots_and_in_app_browsers_are_not() {
    let rules = Rules::builtin();
    for line in USERAGENT_CASES.lines() {
        let f = fields(line);
        if f.len() == 3 && f[0] == "preview" && f[1] != "-" {
            assert!(is_bot(&rules, f[2]), "preview fetcher not a bot: {}", f[2]);
        }
    }
    for line in CLASSIFY_CASES.lines() {
        if let Some((alias, ua)) = line.strip_prefix("@ua ").and_then(|d| d.split_once(" = ")) {
            assert!(
                !is_bot(&rules, ua.trim()),
                "browser `{alias}` taken for a bot"
            );
            assert_eq!(preview_app(&rules, ua.trim()), None, "`{alias}`");
            assert_ne!(device(ua.trim()).kind, "other", "`{alias}` device kind");
        }
    }
}

#[test]
fn configuration_extends_the_tables() {
    let mut rules = Rules::builtin();
    rules
        .extend_from_toml(
            r#"
            [channels]
            intranet-chat = { group = "private-message", name = "Intranet Chat" }

            [[referrer]]
            channel = "intranet-chat"
            hosts = ["chat.corp.example"]
            apps = ["com.corp.chat"]

            [[referrer]]
            channel = "google"
            source = "Google Custom"
            hosts = ["search.corp.example"]

            [[in_app]]
            channel = "intranet-chat"
            contains = ["CorpChat/"]

            [[preview_fetcher]]
            channel = "intranet-chat"
            pattern = '^CorpPreview/\d'

            [bots]
            contains = ["MyMonitor"]

            [spam_referrers]
            hosts = ["spam.example"]

            [utm.names]
            intranet-chat = ["corpchat"]
            "#,
        )
        .expect("valid configuration");
    let utm = Utm::default();
    let run = |referrer: Option<&str>, ua: &str, path: &str| {
        classify(
            &rules,
            &Arrival {
                site_host: "example.com",
                path,
                referrer,
                user_agent: ua,
                utm: &utm,
                ..Arrival::default()
            },
        )
    };
    let c = run(Some("https://chat.corp.example/room/1"), "", "/a");
    assert_eq!(
        (c.channel.as_str(), c.group, c.source.as_str()),
        (
            "intranet-chat",
            ChannelGroup::PrivateMessage,
            "Intranet Chat"
        )
    );
    let c = run(Some("android-app://com.corp.chat"), "", "/a");
    assert_eq!(c.evidence, Evidence::AndroidAppReferrer);
    assert_eq!(c.channel.as_str(), "intranet-chat");
    let c = run(Some("https://search.corp.example/"), "", "/a");
    assert_eq!(
        (c.channel.as_str(), c.source.as_str()),
        ("google", "Google Custom")
    );
    let c = run(None, "Mozilla/5.0 CorpChat/2.1", "/a");
    assert_eq!(
        (c.channel.as_str(), c.evidence),
        ("intranet-chat", Evidence::InAppBrowser)
    );
    assert_eq!(
        preview_app(&rules, "CorpPreview/1.0").as_deref(),
        Some("intranet-chat")
    );
    assert!(is_bot(&rules, "MyMonitor/3 (checks)"));
    assert!(is_bot(&rules, "Googlebot/2.1"), "built-in bots are kept");
    assert!(is_spam_referrer(&rules, "www.spam.example"));
    assert!(
        is_spam_referrer(&rules, "semalt.com"),
        "built-in spam is kept"
    );
    // Built-in entries are untouched.
    let c = run(Some("https://mail.google.com/"), "", "/a");
    assert_eq!(c.source, "Gmail");
    assert_eq!(
        rules.channel_info("intranet-chat").map(|c| c.group),
        Some(ChannelGroup::PrivateMessage)
    );
}

#[test]
fn configuration_overrides_channels_and_orders_first() {
    let mut rules = Rules::builtin();
    // Redefining a channel changes every entry that points to it.
    rules
        .extend_from_toml("[channels]\ndiscord = { group = \"public-social\", name = \"Discord\" }")
        .expect("valid");
    let utm = Utm::default();
    let c = classify(
        &rules,
        &Arrival {
            site_host: "example.com",
            path: "/a",
            referrer: Some("https://discord.com/channels/1/2"),
            utm: &utm,
            ..Arrival::default()
        },
    );
    assert_eq!(c.group, ChannelGroup::PublicSocial);
    // A configured user-agent entry is tried before the built-in ones.
    rules
        .extend_from_toml("[[preview_fetcher]]\nchannel = \"signal\"\npattern = '^WhatsApp/2'")
        .expect("valid");
    assert_eq!(
        preview_app(&rules, "WhatsApp/2.23.20.0 A").as_deref(),
        Some("signal")
    );
}

#[test]
fn invalid_configuration_is_refused_and_changes_nothing() {
    let mut rules = Rules::builtin();
    let before = format!("{rules:?}");
    let bad = [
        ("not toml at all = = =", "toml"),
        ("[unknown_section]\nx = 1", "toml"),
        ("[[referrer]]\nchannel = \"nope\"\nhosts = [\"a.example\"]", "channel"),
        ("[[referrer]]\nhosts = [\"a.example\"]", "target"),
        ("[[referrer]]\nchannel = \"x\"\nhosts = [\"https://a.example/\"]", "host"),
        ("[channels]\nfoo = { group = \"nope\", name = \"Foo\" }", "group"),
        ("[[in_app]]\nchannel = \"x\"\npattern = '('", "pattern"),
        ("[[in_app]]\nchannel = \"x\"", "marker"),
        ("[click_ids]\nzzclid = { channel = \"x\" }", "click"),
        // The first entry is valid: it must not be applied either.
        (
            "[[referrer]]\nchannel = \"x\"\nhosts = [\"ok.example\"]\n[[referrer]]\nchannel = \"nope\"\nhosts = [\"b.example\"]",
            "channel",
        ),
    ];
    for (text, what) in bad {
        let err = rules.extend_from_toml(text).expect_err(what);
        let matches = match what {
            "toml" => matches!(err, RulesError::Toml(_)),
            "channel" => matches!(err, RulesError::UnknownChannel { .. }),
            "target" => matches!(err, RulesError::NoTarget),
            "host" => matches!(err, RulesError::InvalidHost(_)),
            "group" => matches!(err, RulesError::UnknownGroup(_)),
            "pattern" => matches!(err, RulesError::Pattern { .. }),
            "marker" => matches!(err, RulesError::NoMarker { .. }),
            "click" => matches!(err, RulesError::UnknownClickId(_)),
            _ => false,
        };
        assert!(matches, "{what}: unexpected error {err}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        format!("{rules:?}"),
        before,
        "a refused file changed the rules"
    );
}

/// A referrer on one of the site's hosts is internal navigation: a deep landing page is
/// `direct`, never `dark` (moved here from the ingest pipeline, issue 18).
#[test]
fn a_referrer_on_the_sites_own_hosts_is_never_dark() {
    let rules = Rules::builtin();
    let allowed = vec!["*.example.net".to_string(), "shop.example.org".to_string()];
    let arrival = |referrer| Arrival {
        site_host: "example.com",
        allowed_hosts: &allowed,
        path: "/deep/page",
        referrer,
        user_agent: "Mozilla/5.0",
        ..Arrival::default()
    };
    for r in [
        "https://example.com/a",
        "https://blog.example.com/a",
        "ftp://example.com/",
        "ftp://a.example.net/",
        "ftp://shop.example.org/",
    ] {
        let c = classify(&rules, &arrival(Some(r)));
        assert_eq!(
            (c.channel.as_str(), c.group, c.evidence, c.source.as_str()),
            (
                "direct",
                ChannelGroup::Direct,
                Evidence::None,
                "Direct / None"
            ),
            "{r}"
        );
    }
    // Not the site's: still a deep link without a source.
    for r in ["ftp://example.org/", "ftp://badexample.com/"] {
        assert_eq!(
            classify(&rules, &arrival(Some(r))).group,
            ChannelGroup::EstimatedDark,
            "{r}"
        );
    }
    assert!(is_site_host("example.com", &allowed, "a.b.example.net"));
    assert!(!is_site_host("example.com", &allowed, "example.net"));
    assert!(!is_site_host("example.com", &allowed, "badexample.com"));
}

#[test]
fn empty_rules_still_classify() {
    let rules = Rules::default();
    let utm = Utm::default();
    let arrival = |referrer, path| Arrival {
        site_host: "example.com",
        path,
        referrer,
        user_agent: "Mozilla/5.0",
        utm: &utm,
        ..Arrival::default()
    };
    let c = classify(&rules, &arrival(Some("https://www.google.com/"), "/a"));
    assert_eq!(
        (c.channel.as_str(), c.group),
        ("google.com", ChannelGroup::Referral)
    );
    let c = classify(&rules, &arrival(None, "/a"));
    assert_eq!(c.group, ChannelGroup::EstimatedDark);
    let c = classify(
        &rules,
        &Arrival {
            telegram_webview: true,
            ..arrival(None, "/")
        },
    );
    assert_eq!(
        (c.channel.as_str(), c.group),
        ("telegram", ChannelGroup::PrivateMessage)
    );
    assert!(is_bot(&rules, ""));
    assert!(!is_bot(&rules, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"));
}

/// Hostile or odd inputs never panic and always give a classification.
#[test]
fn odd_inputs_are_total() {
    let rules = Rules::builtin();
    let long = "a".repeat(5000);
    let utm = Utm {
        source: Some("<script>alert(1)</script>".into()),
        medium: Some("💥".into()),
        ..Utm::default()
    };
    let referrers = [
        "android-app://",
        "android-app:///",
        "http://",
        "https://[::1]/",
        "https://xn--80ak6aa92e.com/",
        "https://ÉXAMPLE.org/",
        "ftp://files.example/",
        "\u{0}",
        long.as_str(),
        "https://.",
        "https://a..b/",
    ];
    for r in referrers {
        for ua in ["", "\u{0}", long.as_str(), "FBAN/FBIOS"] {
            let c = classify(
                &rules,
                &Arrival {
                    site_host: "",
                    path: "",
                    referrer: Some(r),
                    user_agent: ua,
                    utm: &utm,
                    ..Arrival::default()
                },
            );
            assert!(!c.channel.as_str().is_empty(), "{r:?} {ua:?}");
            let _ = (device(ua), is_bot(&rules, ua), preview_app(&rules, ua));
            let _ = is_spam_referrer(&rules, r);
        }
    }
}
