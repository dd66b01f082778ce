//! User-agent facts: device/browser/os, bots, link-preview fetchers.
//!
//! IMPLEMENTATION OWNED BY THE CLASSIFIER WORK ITEM — see ARCHITECTURE.md.

use crate::rules::Rules;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Device {
    /// `desktop`, `mobile`, `tablet`, or `other`.
    pub kind: String,
    pub browser: String,
    pub os: String,
}

/// Parse the user agent (woothee) into device kind, browser and OS.
pub fn device(ua: &str) -> Device {
    let _ = ua;
    Device::default()
}

/// Is this a bot / crawler / headless browser whose hits must be dropped (and counted)?
/// Link-preview fetchers are bots too; see [`preview_app`].
pub fn is_bot(rules: &Rules, ua: &str) -> bool {
    let _ = (rules, ua);
    false
}

/// The messaging or social app whose link-preview fetcher sent this user agent
/// (`whatsapp`, `telegram`, `slack`, `imessage`, …), if any.
pub fn preview_app(rules: &Rules, ua: &str) -> Option<String> {
    let _ = (rules, ua);
    None
}

/// Is this referrer host on the spam-referrer list?
pub fn is_spam_referrer(rules: &Rules, referrer_host: &str) -> bool {
    let _ = (rules, referrer_host);
    false
}
