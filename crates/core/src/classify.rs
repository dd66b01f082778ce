//! The dark-social classifier: one arrival in, `Classification` out.
//!
//! # Order of evidence
//!
//! The first rule that applies decides the channel, its group and the evidence:
//!
//! 1. **A private last hop** beats campaign tags, because a tagged link forwarded in a
//!    chat still arrived through the chat:
//!    - the user agent of a private-message in-app browser (Messenger
//!      `FBAN/MessengerForiOS`, `FB_IAB/Orca-Android`, `FB_IAB/MESSENGER`; WhatsApp
//!      `[WAiOS/`, `[WA4A/`; WeChat `MicroMessenger/`; LINE `Line/`; Snapchat;
//!      KakaoTalk) → evidence `in-app-browser`;
//!    - the tracker saw `window.TelegramWebview(Proxy)` → `telegram`, `in-app-browser`;
//!    - a private-message or e-mail referrer: a host (`web.whatsapp.com`, `t.me`,
//!      `mail.google.com`, `statics.teams.cdn.office.net`…) → `referrer`, or an Android
//!      app (`android-app://org.telegram.messenger`) → `android-app-referrer`.
//! 2. **UTM tags**, after GA4's default channel rules (see `data/utm.toml`): a paid
//!    medium (`cpc`, `ppc`, `paid…`, `retargeting`) → group `paid`; an e-mail medium
//!    (`email`, `e-mail`, `newsletter`…) → `email`; a medium or source naming an app or
//!    site (`whatsapp`, `sms`, `telegram`, `facebook`, `t.me`…) → that channel; a social
//!    medium → `public-social`; `organic` → `search`; any other source → `referral`.
//!    Evidence `utm`.
//! 3. **Click ids**: `fbclid` → `facebook`; `gclid`/`gbraid`/`wbraid` → `google-ads`;
//!    `msclkid` → `microsoft-ads`; `ttclid`, `twclid`, `li_fat_id` → paid `tiktok`, `x`,
//!    `linkedin`; `mc_eid`/`mc_cid`/`_hsenc`/`_hsmi` → `email`. Evidence `click-id`.
//!    A click id only names the network that added it: when the in-app browser (4) or
//!    the referrer (5) names an app of the *same group*, that finer answer is kept
//!    (`fbclid` from Instagram's in-app browser is `instagram`; a link copied with its
//!    `fbclid` and posted on X arrives from `t.co`: `x`).
//! 4. **A public in-app browser**: Facebook, Instagram, Threads, TikTok, LinkedIn, X,
//!    Pinterest, Reddit, the Google app (→ `google`, search). Evidence `in-app-browser`.
//! 5. **The referrer**: a known host (search engines, AI assistants, public social
//!    networks…) or Android app → its channel; an unknown host → the host itself, group
//!    `referral`. Evidence `referrer` or `android-app-referrer`. A referrer on the site's
//!    own host or a subdomain of it is internal navigation: no source.
//! 6. **No referrer**: a deep URL (not the home page) without UTM tags → `dark`, group
//!    `estimated-dark`, evidence `deep-link` (people do not type long URLs); the home
//!    page → `direct`, evidence `none`. An internal referrer is `direct` whatever the
//!    page: the visitor demonstrably clicked a link on the site, nothing was pasted.
//!    So is a referrer of any scheme on one of the site's hosts (its domain, a
//!    subdomain, an allowed hostname, [`is_site_host`]) that would otherwise leave a
//!    deep link `dark`: a visit that starts from one of the site's own pages (a new
//!    visit after 30 idle minutes) is a returning reader, not dark social.
//!
//! The tables behind every rule live in `data/*.toml` ([`Rules`]); this file only holds
//! the order.

use url::Url;

use crate::channel::{Channel, ChannelGroup, Evidence};
use crate::rules::{utm_word, Hit, Rules};
use crate::url_clean::{is_home, normalise_host, ClickId, Utm};

/// Display source of visits without a source (Plausible's wording).
pub const DIRECT_SOURCE: &str = "Direct / None";

/// Everything known about the first hit of a visit that can say where it came from.
#[derive(Debug, Clone)]
pub struct Arrival<'a> {
    /// The site's own host (`example.com`); a referrer on this host (or a subdomain of it)
    /// is an internal navigation, not a source.
    pub site_host: &'a str,
    /// The site's other hostnames (`shop.example.org`, `*.example.net`): a referrer on
    /// one of them never makes a visit dark ([`is_site_host`]).
    pub allowed_hosts: &'a [String],
    /// Path of the landing page, cleaned (`/blog/post`); `/` or empty is the home page.
    pub path: &'a str,
    /// Raw `document.referrer` / `Referer` (may be empty, `android-app://…`, or a URL).
    pub referrer: Option<&'a str>,
    pub user_agent: &'a str,
    pub utm: &'a Utm,
    pub click_id: Option<ClickId>,
    /// The tracker saw `window.TelegramWebview` or `window.TelegramWebviewProxy`.
    pub telegram_webview: bool,
}

/// No UTM tags, for [`Arrival::default`].
static NO_UTM: Utm = Utm {
    source: None,
    medium: None,
    campaign: None,
    term: None,
    content: None,
};

impl Default for Arrival<'_> {
    /// A direct arrival on the home page: no referrer, no tags, empty user agent.
    fn default() -> Self {
        Arrival {
            site_host: "",
            allowed_hosts: &[],
            path: "/",
            referrer: None,
            user_agent: "",
            utm: &NO_UTM,
            click_id: None,
            telegram_webview: false,
        }
    }
}

/// Where a visit came from: the classifier's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub channel: Channel,
    pub group: ChannelGroup,
    pub evidence: Evidence,
    /// Display source, Plausible's `visit:source` (e.g. `WhatsApp`, `Google`, `example.org`,
    /// `Direct / None`).
    pub source: String,
}

impl Classification {
    fn from_hit(hit: Hit, evidence: Evidence) -> Self {
        Classification {
            channel: hit.channel,
            group: hit.group,
            evidence,
            source: hit.source,
        }
    }

    fn direct() -> Self {
        Classification {
            channel: Channel::direct(),
            group: ChannelGroup::Direct,
            evidence: Evidence::None,
            source: DIRECT_SOURCE.into(),
        }
    }

    fn dark() -> Self {
        Classification {
            channel: Channel::dark(),
            group: ChannelGroup::EstimatedDark,
            evidence: Evidence::DeepLink,
            source: DIRECT_SOURCE.into(),
        }
    }
}

/// Classify an arrival. Pure and total: every input gets a classification.
pub fn classify(rules: &Rules, arrival: &Arrival<'_>) -> Classification {
    let referrer = Referrer::parse(arrival.referrer, arrival.site_host);
    let referred = referrer.hit(rules);
    let in_app = rules.in_app_browser(arrival.user_agent);

    // 1. A private last hop.
    if let Some(hit) = in_app.as_ref().filter(|h| h.group.is_identified_dark()) {
        return Classification::from_hit(hit.clone(), Evidence::InAppBrowser);
    }
    if arrival.telegram_webview {
        return Classification::from_hit(telegram(rules), Evidence::InAppBrowser);
    }
    if let Some((hit, evidence)) = referred.as_ref() {
        if hit.group.is_identified_dark() {
            return Classification::from_hit(hit.clone(), *evidence);
        }
    }

    // 2. Campaign tags.
    if let Some(hit) = from_utm(rules, arrival.utm) {
        return Classification::from_hit(hit, Evidence::Utm);
    }

    // 3.–5. Click ids, then a public in-app browser, then the referrer.
    let in_app = in_app.map(|hit| (hit, Evidence::InAppBrowser));
    if let Some(click) = arrival.click_id.and_then(|id| rules.click_id(id)) {
        // The click id names the network that added it; an in-app browser or referrer of
        // the same group names the app more precisely (Instagram adds fbclid too).
        let finer = in_app
            .iter()
            .chain(referred.iter())
            .find(|(hit, _)| hit.group == click.group);
        return match finer {
            Some((hit, evidence)) => Classification::from_hit(hit.clone(), *evidence),
            None => Classification::from_hit(click, Evidence::ClickId),
        };
    }
    if let Some((hit, evidence)) = in_app.or(referred) {
        return Classification::from_hit(hit, evidence);
    }

    // 6. No referrer: deep link or direct.
    let no_referrer = !matches!(referrer, Referrer::Internal);
    if no_referrer && !is_home(arrival.path) && arrival.utm.is_empty() && !internal(arrival) {
        Classification::dark()
    } else {
        Classification::direct()
    }
}

/// Does `host` (normalised) belong to the site `domain`: the domain itself, a subdomain
/// of it, or one of its `allowed` hostnames (exact, or `*.base` for `base`'s subdomains)?
pub fn is_site_host(domain: &str, allowed: &[String], host: &str) -> bool {
    let under = |base: &str| {
        host.strip_suffix(base)
            .is_some_and(|rest| rest.ends_with('.'))
    };
    host == domain
        || under(domain)
        || allowed
            .iter()
            .any(|h| h == host || h.strip_prefix("*.").is_some_and(under))
}

/// Is the referrer, read as any URL with a host (not only http), one of the site's hosts?
fn internal(arrival: &Arrival<'_>) -> bool {
    arrival
        .referrer
        .and_then(|r| Url::parse(r).ok())
        .and_then(|u| u.host_str().map(normalise_host))
        .is_some_and(|h| is_site_host(arrival.site_host, arrival.allowed_hosts, &h))
}

/// The Telegram channel, for the in-app flag the tracker reports.
fn telegram(rules: &Rules) -> Hit {
    let info = rules.channel_info("telegram");
    Hit {
        channel: Channel::new("telegram"),
        group: info.map_or(ChannelGroup::PrivateMessage, |i| i.group),
        source: info.map_or_else(|| "Telegram".to_string(), |i| i.name.clone()),
    }
}

/// What the raw referrer says.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Referrer {
    /// Empty, missing, or unusable (`about:blank`, an unparsable string).
    None,
    /// The site itself or one of its subdomains.
    Internal,
    /// A normalised web host (`l.facebook.com`).
    Web(String),
    /// An Android package (`com.google.android.gm`).
    AndroidApp(String),
}

impl Referrer {
    fn parse(raw: Option<&str>, site_host: &str) -> Referrer {
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
            return Referrer::None;
        };
        if let Some(package) = strip_prefix_ignore_case(raw, "android-app://") {
            let package = package
                .split(['/', '?', '#'])
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            let valid = !package.is_empty()
                && package
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_');
            return if valid {
                Referrer::AndroidApp(package)
            } else {
                Referrer::None
            };
        }
        let Some(host) = web_host(raw) else {
            return Referrer::None;
        };
        let site = normalise_host(site_host);
        let internal = !site.is_empty()
            && (host == site
                || host
                    .strip_suffix(site.as_str())
                    .is_some_and(|rest| rest.ends_with('.')));
        if internal {
            Referrer::Internal
        } else {
            Referrer::Web(host)
        }
    }

    /// The channel this referrer names, with its evidence; unknown hosts and apps are
    /// plain referrals named after themselves.
    fn hit(&self, rules: &Rules) -> Option<(Hit, Evidence)> {
        match self {
            Referrer::None | Referrer::Internal => None,
            Referrer::Web(host) => Some((
                rules
                    .referrer_host(host)
                    .unwrap_or_else(|| plain_referral(host)),
                Evidence::Referrer,
            )),
            Referrer::AndroidApp(package) => Some((
                rules
                    .android_app(package)
                    .unwrap_or_else(|| plain_referral(package)),
                Evidence::AndroidAppReferrer,
            )),
        }
    }
}

fn plain_referral(name: &str) -> Hit {
    Hit {
        channel: Channel::new(name),
        group: ChannelGroup::Referral,
        source: name.to_string(),
    }
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The normalised host of an `http(s)` referrer. A bare `host/path` (no scheme) is read
/// as `https://host/path`; other schemes (`about:`, `file:`, `chrome-extension:`) give
/// no host.
fn web_host(raw: &str) -> Option<String> {
    let (url, bare) = match Url::parse(raw) {
        Ok(url) => (url, false),
        Err(url::ParseError::RelativeUrlWithoutBase) if !raw.contains(char::is_whitespace) => {
            (Url::parse(&format!("https://{raw}")).ok()?, true)
        }
        Err(_) => return None,
    };
    if url.scheme() != "http" && url.scheme() != "https" {
        return None;
    }
    let host = normalise_host(url.host_str()?);
    // A bare word is no host (`https://` + `hello`); a real URL may name `localhost`.
    (!host.is_empty() && (!bare || host.contains('.'))).then_some(host)
}

/// UTM values that say nothing: GA's `(direct)`, `(none)`, `(not set)`.
fn meaningful(value: &str) -> bool {
    !matches!(utm_word(value).as_str(), "" | "none" | "notset" | "direct")
}

/// A channel name for an unknown `utm_source`: lower-cased, a host normalised.
fn source_channel(source: &str) -> Channel {
    let s = source.trim().to_lowercase();
    let s = if s.contains('.') && !s.contains(char::is_whitespace) {
        normalise_host(s.split('/').next().unwrap_or_default())
    } else {
        s
    };
    Channel::new(s.chars().take(64).collect::<String>())
}

/// Rule 2: classify by UTM tags (see `data/utm.toml` for the rules in order).
fn from_utm(rules: &Rules, utm: &Utm) -> Option<Hit> {
    let source = utm
        .source
        .as_deref()
        .map(str::trim)
        .filter(|s| meaningful(s));
    let medium = utm
        .medium
        .as_deref()
        .map(str::trim)
        .filter(|s| meaningful(s));
    if source.is_none() && medium.is_none() {
        return None;
    }
    let tables = rules.utm();
    let source_hit = source.and_then(|s| rules.utm_channel(s));
    // The display source: the named app's name, else the raw utm_source as tagged.
    let display = |fallback: String| -> String {
        match (&source_hit, source) {
            (Some(hit), _) => hit.source.clone(),
            (None, Some(s)) => s.to_string(),
            (None, None) => fallback,
        }
    };
    let channel_hit = |channel: &str, group: ChannelGroup| -> Hit {
        Hit {
            channel: Channel::new(channel),
            group,
            source: display(rules.display_name(channel)),
        }
    };

    if let Some(m) = medium {
        if tables.is_paid_medium(m) {
            let paid = source_hit.as_ref().map(|h| {
                rules
                    .paid_channel(h.channel.as_str())
                    .unwrap_or_else(|| h.clone())
            });
            return Some(match (paid, source) {
                (Some(hit), _) => Hit {
                    group: ChannelGroup::Paid,
                    ..hit
                },
                (None, Some(s)) => Hit {
                    channel: source_channel(s),
                    group: ChannelGroup::Paid,
                    source: s.to_string(),
                },
                (None, None) => Hit {
                    channel: Channel::new("paid"),
                    group: ChannelGroup::Paid,
                    source: "Paid".into(),
                },
            });
        }
        if tables.is_email(m) {
            return Some(channel_hit("email", email_group(rules)));
        }
        if let Some(hit) = rules.utm_channel(m) {
            return Some(Hit {
                source: display(hit.source.clone()),
                ..hit
            });
        }
    }
    if let Some(hit) = source_hit.clone() {
        return Some(hit);
    }
    let source = source?;
    if tables.is_email(source) {
        return Some(channel_hit("email", email_group(rules)));
    }
    let group = match medium {
        Some(m) if tables.is_social_medium(m) => ChannelGroup::PublicSocial,
        Some(m) if tables.is_search_medium(m) => ChannelGroup::Search,
        _ => ChannelGroup::Referral,
    };
    Some(Hit {
        channel: source_channel(source),
        group,
        source: source.to_string(),
    })
}

fn email_group(rules: &Rules) -> ChannelGroup {
    rules
        .channel_info("email")
        .map_or(ChannelGroup::Email, |i| i.group)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referrer_parsing() {
        let p = |r: &str| Referrer::parse(Some(r), "example.com");
        assert_eq!(p(""), Referrer::None);
        assert_eq!(p("   "), Referrer::None);
        assert_eq!(p("about:blank"), Referrer::None);
        assert_eq!(p("not a url"), Referrer::None);
        assert_eq!(p("javascript:alert(1)"), Referrer::None);
        assert_eq!(
            p("https://www.Google.com/"),
            Referrer::Web("google.com".into())
        );
        assert_eq!(
            p("facebook.com/some/page"),
            Referrer::Web("facebook.com".into())
        );
        assert_eq!(
            p("ANDROID-APP://com.Slack/"),
            Referrer::AndroidApp("com.slack".into())
        );
        assert_eq!(
            p("android-app://com.google.android.googlequicksearchbox/https/www.google.com"),
            Referrer::AndroidApp("com.google.android.googlequicksearchbox".into())
        );
        assert_eq!(p("android-app://"), Referrer::None);
        assert_eq!(p("android-app://bad package/"), Referrer::None);
        assert_eq!(p("https://example.com/a"), Referrer::Internal);
        assert_eq!(p("https://www.example.com/a"), Referrer::Internal);
        assert_eq!(p("https://shop.example.com/a"), Referrer::Internal);
        assert_eq!(
            p("https://notexample.com/"),
            Referrer::Web("notexample.com".into())
        );
        assert_eq!(
            Referrer::parse(Some("https://example.com/"), ""),
            Referrer::Web("example.com".into())
        );
    }

    #[test]
    fn default_arrival_is_direct() {
        let c = classify(&Rules::builtin(), &Arrival::default());
        assert_eq!(c, Classification::direct());
    }
}
