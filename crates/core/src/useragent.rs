//! User-agent facts: device/browser/os, bots, link-preview fetchers, spam referrers.
//!
//! The device comes from the woothee parser; bots, preview fetchers and spam referrers
//! from the tables in [`Rules`] (`data/bots.toml`, `data/preview_fetchers.toml`,
//! `data/spam_referrers.toml`).

use woothee::parser::{Parser, WootheeResult};

use crate::rules::Rules;
use crate::url_clean::normalise_host;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// `desktop`, `mobile`, `tablet`, or `other`.
    pub kind: String,
    /// Browser name (`Chrome`, `Safari`, `Firefox`, `Edge`, `Samsung Internet`…), empty
    /// when unknown.
    pub browser: String,
    /// Operating system (`Windows`, `macOS`, `iOS`, `Android`, `Linux`, `ChromeOS`…),
    /// empty when unknown.
    pub os: String,
}

fn parse(ua: &str) -> Option<WootheeResult<'_>> {
    Parser::new().parse(ua)
}

/// Parse the user agent (woothee) into device kind, browser and OS.
pub fn device(ua: &str) -> Device {
    let ua = ua.trim();
    let Some(r) = parse(ua).filter(|_| !ua.is_empty()) else {
        return Device {
            kind: "other".into(),
            ..Device::default()
        };
    };
    Device {
        kind: device_kind(ua, &r).into(),
        browser: browser_name(ua, r.name),
        os: os_name(r.os),
    }
}

fn device_kind(ua: &str, r: &WootheeResult<'_>) -> &'static str {
    match r.category {
        "pc" => "desktop",
        "smartphone" | "mobilephone" => {
            let android_tablet = r.os == "Android" && !ua.contains("Mobile");
            if r.os == "iPad" || android_tablet || ua.contains("Tablet") || ua.contains("Silk/") {
                "tablet"
            } else {
                "mobile"
            }
        }
        _ => "other",
    }
}

/// Woothee's browser name, with the iOS and Android variants it does not tell apart.
fn browser_name(ua: &str, woothee_name: &str) -> String {
    const VARIANTS: [(&str, &str); 8] = [
        ("EdgiOS/", "Edge"),
        ("EdgA/", "Edge"),
        ("CriOS/", "Chrome"),
        ("FxiOS/", "Firefox"),
        ("OPiOS/", "Opera"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("YaBrowser/", "Yandex Browser"),
    ];
    if let Some((_, name)) = VARIANTS.iter().find(|(marker, _)| ua.contains(marker)) {
        return (*name).to_string();
    }
    match woothee_name {
        "UNKNOWN" | "" => String::new(),
        "SamsungBrowser" => "Samsung Internet".into(),
        other => other.to_string(),
    }
}

fn os_name(woothee_os: &str) -> String {
    match woothee_os {
        "UNKNOWN" | "" => String::new(),
        "iPhone" | "iPad" | "iPod" | "iOS" => "iOS".into(),
        "Mac OSX" => "macOS".into(),
        "Mac OS Classic" => "Mac OS".into(),
        w if w.starts_with("Windows Phone") => "Windows Phone".into(),
        w if w.starts_with("Windows") => "Windows".into(),
        other => other.to_string(),
    }
}

/// Is this a bot / crawler / headless browser whose hits must be dropped (and counted)?
/// Link-preview fetchers are bots too; see [`preview_app`].
///
/// A bot is: an empty user agent, one carrying a substring of `data/bots.toml`, a
/// link-preview fetcher, or what woothee files as a crawler.
pub fn is_bot(rules: &Rules, ua: &str) -> bool {
    let ua = ua.trim();
    ua.is_empty()
        || rules.has_bot_token(ua)
        || rules.preview_fetcher(ua).is_some()
        || parse(ua).is_some_and(|r| r.category == "crawler")
}

/// The messaging or social app whose link-preview fetcher sent this user agent
/// (`whatsapp`, `telegram`, `slack`, `imessage`, …), if any.
///
/// Signal's fetcher sends a WhatsApp-like user agent and is labelled `whatsapp`.
pub fn preview_app(rules: &Rules, ua: &str) -> Option<String> {
    rules.preview_fetcher(ua.trim()).map(str::to_string)
}

/// Is this referrer host on the spam-referrer list? Subdomains of a listed host match;
/// a full referrer URL is accepted too.
pub fn is_spam_referrer(rules: &Rules, referrer_host: &str) -> bool {
    let raw = referrer_host.trim();
    let host = match raw.split_once("://") {
        Some((_, rest)) => rest.split(['/', '?', '#', ':']).next().unwrap_or_default(),
        None => raw.split(['/', ':']).next().unwrap_or_default(),
    };
    let host = normalise_host(host);
    !host.is_empty() && rules.is_spam_host(&host)
}
