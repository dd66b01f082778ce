//! The crawlers Lucarne imitates and what goes wrong with a card in each app.
//!
//! User agents are the ones the apps' fetchers send (`data/preview_fetchers.toml`,
//! SIGNALS.md). The limits are thresholds Lucarne flags at, from the apps' public
//! documentation and widely reported behaviour (e.g. WhatsApp shows no image above
//! about 600 KB, Facebook wants images of at least 200 × 200 pixels and at most 8 MB);
//! apps change them without notice, so they are a check-list, not a guarantee.

use std::time::Duration;

/// One app's crawler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    /// The app's channel id (`whatsapp`, as in `data/channels.toml`).
    pub app: &'static str,
    pub name: &'static str,
    pub user_agent: &'static str,
    /// HTML bytes read; tags past them are not seen.
    pub max_html: usize,
    /// Images above this many bytes are not shown.
    pub max_image: u64,
    /// Redirects followed, at most.
    pub max_redirects: u8,
    pub follows_redirects: bool,
    /// Time for each request.
    pub timeout: Duration,
    /// Smaller images are not shown as a large picture (width, height).
    pub min_image: (u32, u32),
    /// Title characters shown before it is cut.
    pub title_max: usize,
    /// Description characters shown before it is cut; `None`: the card shows none.
    pub description_max: Option<usize>,
}

const KB: u64 = 1000;
const MB: u64 = 1000 * 1000;

/// The five crawlers, in the order cards are shown.
pub static PROFILES: [Profile; 5] = [
    Profile {
        app: "whatsapp",
        name: "WhatsApp",
        user_agent: "WhatsApp/2.23.20.0 A",
        max_html: 512 * 1024,
        max_image: 600 * KB,
        max_redirects: 3,
        follows_redirects: true,
        timeout: Duration::from_secs(5),
        min_image: (300, 157),
        title_max: 65,
        description_max: Some(80),
    },
    Profile {
        app: "telegram",
        name: "Telegram",
        user_agent: "TelegramBot (like TwitterBot)",
        max_html: 1024 * 1024,
        max_image: 5 * MB,
        max_redirects: 5,
        follows_redirects: true,
        timeout: Duration::from_secs(5),
        min_image: (200, 100),
        title_max: 100,
        description_max: Some(200),
    },
    Profile {
        app: "imessage",
        name: "iMessage",
        user_agent: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
        max_html: 1024 * 1024,
        max_image: 5 * MB,
        max_redirects: 5,
        follows_redirects: true,
        timeout: Duration::from_secs(5),
        min_image: (150, 150),
        title_max: 60,
        description_max: None,
    },
    Profile {
        app: "slack",
        name: "Slack",
        user_agent: "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        max_html: 1024 * 1024,
        max_image: 5 * MB,
        max_redirects: 5,
        follows_redirects: true,
        timeout: Duration::from_secs(5),
        min_image: (150, 100),
        title_max: 150,
        description_max: Some(300),
    },
    Profile {
        app: "facebook",
        name: "Facebook",
        user_agent: "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        max_html: 1024 * 1024,
        max_image: 8 * MB,
        max_redirects: 5,
        follows_redirects: true,
        timeout: Duration::from_secs(5),
        min_image: (200, 200),
        title_max: 88,
        description_max: Some(200),
    },
];

/// Bytes read of an image at most (the largest limit, plus one to see it is past it).
pub fn max_image_read() -> usize {
    let max = PROFILES.iter().map(|p| p.max_image).max().unwrap_or(8 * MB);
    usize::try_from(max + 1).unwrap_or(usize::MAX)
}

/// How bad a problem is: the card is missing or broken, degraded, or a part of it could
/// not be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Notice,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
        }
    }
}

/// A problem with one app's card. [`Problem::code`] is stable (API, dashboard labels).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The page has no `og:image` (a `twitter:image` does not count for every app).
    NoOgImage,
    /// No `og:title`, `twitter:title` or `<title>`.
    NoTitle,
    /// The image is larger than the app shows.
    ImageTooLarge { bytes: u64, max: u64 },
    /// The image is smaller than the app's large picture.
    ImageTooSmall {
        width: u32,
        height: u32,
        min_width: u32,
        min_height: u32,
    },
    /// The image address answers something that is not an image.
    ImageNotImage { content_type: String },
    /// The image could not be fetched (status or reason).
    ImageUnreachable { reason: String },
    /// The image is on a host Lucarne may not fetch for this site: not checked.
    ImageNotChecked { host: String },
    /// The title is longer than the app shows.
    TitleCut { chars: usize, max: usize },
    /// The description is longer than the app shows.
    DescriptionCut { chars: usize, max: usize },
    /// A tag holds a relative address where an absolute one is required.
    RelativeUrl { tag: &'static str, value: String },
    /// A redirect the crawler does not follow (a `<meta http-equiv="refresh">`, a 3xx
    /// without a usable `Location`).
    RedirectNotFollowed { to: String },
    /// More redirects than the crawler follows.
    TooManyRedirects { max: u8 },
    /// The page answered an error status to the crawler.
    Refused { status: u16 },
    /// The page is not HTML.
    NotHtml { content_type: String },
    /// The HTML is longer than the crawler reads: tags past the limit are not seen.
    HtmlTruncated { max: usize },
    /// The page did not answer in time.
    Timeout,
    /// The host resolves to a loopback, private or special address.
    PrivateAddress { host: String, ip: String },
    /// A redirect leads to a host that is not the site's (nor an allowed hostname).
    HostNotAllowed { host: String },
    /// No answer (DNS, connection, TLS).
    Unreachable { reason: String },
}

impl Problem {
    pub fn code(&self) -> &'static str {
        match self {
            Problem::NoOgImage => "no_og_image",
            Problem::NoTitle => "no_title",
            Problem::ImageTooLarge { .. } => "image_too_large",
            Problem::ImageTooSmall { .. } => "image_too_small",
            Problem::ImageNotImage { .. } => "image_not_image",
            Problem::ImageUnreachable { .. } => "image_unreachable",
            Problem::ImageNotChecked { .. } => "image_not_checked",
            Problem::TitleCut { .. } => "title_cut",
            Problem::DescriptionCut { .. } => "description_cut",
            Problem::RelativeUrl { .. } => "relative_url",
            Problem::RedirectNotFollowed { .. } => "redirect_not_followed",
            Problem::TooManyRedirects { .. } => "too_many_redirects",
            Problem::Refused { .. } => "refused",
            Problem::NotHtml { .. } => "not_html",
            Problem::HtmlTruncated { .. } => "html_truncated",
            Problem::Timeout => "timeout",
            Problem::PrivateAddress { .. } => "private_address",
            Problem::HostNotAllowed { .. } => "host_not_allowed",
            Problem::Unreachable { .. } => "unreachable",
        }
    }

    pub fn severity(&self) -> Severity {
        match self {
            Problem::ImageTooSmall { .. }
            | Problem::TitleCut { .. }
            | Problem::DescriptionCut { .. }
            | Problem::HtmlTruncated { .. } => Severity::Warning,
            Problem::ImageNotChecked { .. } => Severity::Notice,
            _ => Severity::Error,
        }
    }

    /// The problem's values, for the API and the labels' `{placeholders}`.
    pub fn details(&self) -> Vec<(&'static str, String)> {
        match self {
            Problem::NoOgImage | Problem::NoTitle | Problem::Timeout => Vec::new(),
            Problem::ImageTooLarge { bytes, max } => {
                vec![("bytes", bytes.to_string()), ("max", max.to_string())]
            }
            Problem::ImageTooSmall {
                width,
                height,
                min_width,
                min_height,
            } => vec![
                ("width", width.to_string()),
                ("height", height.to_string()),
                ("min_width", min_width.to_string()),
                ("min_height", min_height.to_string()),
            ],
            Problem::ImageNotImage { content_type } | Problem::NotHtml { content_type } => {
                vec![("content_type", content_type.clone())]
            }
            Problem::ImageUnreachable { reason } | Problem::Unreachable { reason } => {
                vec![("reason", reason.clone())]
            }
            Problem::ImageNotChecked { host } | Problem::HostNotAllowed { host } => {
                vec![("host", host.clone())]
            }
            Problem::TitleCut { chars, max } | Problem::DescriptionCut { chars, max } => {
                vec![("chars", chars.to_string()), ("max", max.to_string())]
            }
            Problem::RelativeUrl { tag, value } => {
                vec![("tag", (*tag).to_string()), ("value", value.clone())]
            }
            Problem::RedirectNotFollowed { to } => vec![("to", to.clone())],
            Problem::TooManyRedirects { max } => vec![("max", max.to_string())],
            Problem::Refused { status } => vec![("status", status.to_string())],
            Problem::HtmlTruncated { max } => vec![("max", max.to_string())],
            Problem::PrivateAddress { host, ip } => {
                vec![("host", host.clone()), ("ip", ip.clone())]
            }
        }
    }

    /// Every code, in a stable order (the labels' test walks them).
    pub const CODES: [&'static str; 19] = [
        "no_og_image",
        "no_title",
        "image_too_large",
        "image_too_small",
        "image_not_image",
        "image_unreachable",
        "image_not_checked",
        "title_cut",
        "description_cut",
        "relative_url",
        "redirect_not_followed",
        "too_many_redirects",
        "refused",
        "not_html",
        "html_truncated",
        "timeout",
        "private_address",
        "host_not_allowed",
        "unreachable",
    ];
}

/// `text` as an app shows it: at most `max` characters, then `…`.
pub fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max.saturating_sub(1)).collect();
    s.push('…');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_match_the_recognised_fetchers() {
        let rules = lucarne_core::rules::Rules::builtin();
        for p in PROFILES {
            assert_eq!(
                lucarne_core::useragent::preview_app(&rules, p.user_agent).as_deref(),
                Some(p.app),
                "{}",
                p.name
            );
        }
        assert_eq!(max_image_read(), 8_000_001);
    }

    #[test]
    fn cutting() {
        assert_eq!(cut("short", 10), "short");
        assert_eq!(cut("abcdefghij", 5), "abcd…");
        assert_eq!(cut("ééééé", 5), "ééééé");
    }
}
