//! The three labels every visit carries: `Channel`, `ChannelGroup`, `Evidence`.

use std::fmt;

/// The app or site a visit came through, in lower-case product words:
/// `whatsapp`, `telegram`, `messenger`, `signal`, `sms`, `email`, `slack`, `discord`,
/// `teams`, `skype`, `wechat`, `line`, `viber`, `snapchat`, `imessage`, `copied-link`,
/// `facebook`, `instagram`, `threads`, `x`, `linkedin`, `reddit`, `pinterest`, `youtube`,
/// `tiktok`, `mastodon`, `hacker-news`, `google`, `bing`, `duckduckgo`, `chatgpt`,
/// `perplexity`, `gemini`, `copilot`, `claude`, `google-ads`, …, a referring host for
/// plain referrals (`example.org`), `direct`, or `dark` (estimated dark).
///
/// Channels are open-ended (data files and configuration add new ones), hence a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Channel(String);

impl Channel {
    pub fn new(name: impl Into<String>) -> Self {
        Channel(name.into())
    }
    pub fn direct() -> Self {
        Channel("direct".into())
    }
    pub fn dark() -> Self {
        Channel("dark".into())
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The closed set of channel groups reports are built on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum ChannelGroup {
    /// One-to-one or small-group messaging: WhatsApp, Telegram, Messenger, Signal, SMS,
    /// Slack, Teams, Discord, …, and copied links passed on privately.
    PrivateMessage,
    Email,
    PublicSocial,
    Search,
    AiAssistant,
    Referral,
    Paid,
    /// No referrer, landed on the home page: typed or bookmarked.
    #[default]
    Direct,
    /// No referrer, landed on a deep URL without campaign parameters: people do not type
    /// long URLs, so this is most likely a link pasted from a private conversation.
    EstimatedDark,
}

impl ChannelGroup {
    pub const ALL: [ChannelGroup; 9] = [
        ChannelGroup::PrivateMessage,
        ChannelGroup::Email,
        ChannelGroup::PublicSocial,
        ChannelGroup::Search,
        ChannelGroup::AiAssistant,
        ChannelGroup::Referral,
        ChannelGroup::Paid,
        ChannelGroup::Direct,
        ChannelGroup::EstimatedDark,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelGroup::PrivateMessage => "private-message",
            ChannelGroup::Email => "email",
            ChannelGroup::PublicSocial => "public-social",
            ChannelGroup::Search => "search",
            ChannelGroup::AiAssistant => "ai-assistant",
            ChannelGroup::Referral => "referral",
            ChannelGroup::Paid => "paid",
            ChannelGroup::Direct => "direct",
            ChannelGroup::EstimatedDark => "estimated-dark",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// Identified dark social: private messages and e-mail.
    pub fn is_identified_dark(self) -> bool {
        matches!(self, ChannelGroup::PrivateMessage | ChannelGroup::Email)
    }
}

impl fmt::Display for ChannelGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a classification rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Evidence {
    ShareToken,
    AddressBarToken,
    CopiedText,
    ShortLink,
    Utm,
    Referrer,
    AndroidAppReferrer,
    InAppBrowser,
    ClickId,
    PreviewFetch,
    DeepLink,
    Survey,
    /// Nothing at all: a direct visit to the home page.
    #[default]
    None,
}

impl Evidence {
    pub const ALL: [Evidence; 13] = [
        Evidence::ShareToken,
        Evidence::AddressBarToken,
        Evidence::CopiedText,
        Evidence::ShortLink,
        Evidence::Utm,
        Evidence::Referrer,
        Evidence::AndroidAppReferrer,
        Evidence::InAppBrowser,
        Evidence::ClickId,
        Evidence::PreviewFetch,
        Evidence::DeepLink,
        Evidence::Survey,
        Evidence::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::ShareToken => "share-token",
            Evidence::AddressBarToken => "address-bar-token",
            Evidence::CopiedText => "copied-text",
            Evidence::ShortLink => "short-link",
            Evidence::Utm => "utm",
            Evidence::Referrer => "referrer",
            Evidence::AndroidAppReferrer => "android-app-referrer",
            Evidence::InAppBrowser => "in-app-browser",
            Evidence::ClickId => "click-id",
            Evidence::PreviewFetch => "preview-fetch",
            Evidence::DeepLink => "deep-link",
            Evidence::Survey => "survey",
            Evidence::None => "none",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for g in ChannelGroup::ALL {
            assert_eq!(ChannelGroup::parse(g.as_str()), Some(g));
        }
        for e in Evidence::ALL {
            assert_eq!(Evidence::parse(e.as_str()), Some(e));
        }
        assert_eq!(ChannelGroup::parse("nope"), None);
    }
}
