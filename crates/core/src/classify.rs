//! The dark-social classifier: one arrival in, `Classification` out.
//!
//! IMPLEMENTATION OWNED BY THE CLASSIFIER WORK ITEM — see ARCHITECTURE.md.

use crate::channel::{Channel, ChannelGroup, Evidence};
use crate::rules::Rules;
use crate::url_clean::{ClickId, Utm};

/// Everything known about the first hit of a visit that can say where it came from.
#[derive(Debug, Clone, Default)]
pub struct Arrival<'a> {
    /// The site's own host (`example.com`); a referrer on this host (or a subdomain of it)
    /// is an internal navigation, not a source.
    pub site_host: &'a str,
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub channel: Channel,
    pub group: ChannelGroup,
    pub evidence: Evidence,
    /// Display source, Plausible's `visit:source` (e.g. `WhatsApp`, `Google`, `example.org`,
    /// `Direct / None`).
    pub source: String,
}

/// Classify an arrival. Pure and total: every input gets a classification.
pub fn classify(rules: &Rules, arrival: &Arrival<'_>) -> Classification {
    let _ = (rules, arrival);
    Classification {
        channel: Channel::direct(),
        group: ChannelGroup::Direct,
        evidence: Evidence::None,
        source: "Direct / None".into(),
    }
}
