//! Share tokens: what they look like, and how an arriving token becomes an edge of the
//! share graph (parent visit → this visit) and, sometimes, the visit's channel.
//!
//! A token is 64 random bits written as 11 URL-safe base64 characters. The first
//! character carries only the top 4 bits, so every token has exactly one spelling and a
//! string either is a token or is malformed. Zero is "no token" and never parses.

use std::fmt;

use crate::channel::{Channel, ChannelGroup, Evidence};
use crate::classify::Classification;
use crate::rules::{Rules, ShareButton, ShareButtons};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
pub const TOKEN_LEN: usize = 11;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(u64);

fn digit(c: u8) -> Option<u64> {
    Some(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'-' => 62,
        b'_' => 63,
        _ => return None,
    } as u64)
}

impl Token {
    /// A token from 64 random bits (`None` for the one invalid value, zero).
    pub fn from_bits(bits: u64) -> Option<Token> {
        (bits != 0).then_some(Token(bits))
    }

    pub fn bits(self) -> u64 {
        self.0
    }

    /// The canonical 11-character spelling, or `None`.
    pub fn parse(s: &str) -> Option<Token> {
        let b = s.as_bytes();
        if b.len() != TOKEN_LEN {
            return None;
        }
        let first = digit(b[0])?;
        if first > 15 {
            return None;
        }
        let mut v = first;
        for &c in &b[1..] {
            v = (v << 6) | digit(c)?;
        }
        Token::from_bits(v)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; TOKEN_LEN];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 6 * (TOKEN_LEN - 1 - i);
            *slot = ALPHABET[((self.0 >> shift) & 63) as usize];
        }
        // Every byte comes from ALPHABET, which is ASCII.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

/// What minted a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeKind {
    /// A pageview's visit token, written into the address bar.
    Visit,
    /// A share-widget button.
    Share,
    /// Copied-text attribution ("read more" link appended to a copied passage).
    Copy,
    /// A click on (or scan of) a tracked short link: the redirect carries a fresh token.
    Link,
}

impl NodeKind {
    pub fn as_u8(self) -> u8 {
        match self {
            NodeKind::Visit => 0,
            NodeKind::Share => 1,
            NodeKind::Copy => 2,
            NodeKind::Link => 3,
        }
    }
    pub fn from_u8(v: u8) -> Option<NodeKind> {
        Some(match v {
            0 => NodeKind::Visit,
            1 => NodeKind::Share,
            2 => NodeKind::Copy,
            3 => NodeKind::Link,
            _ => return None,
        })
    }
    /// The node kind of an event name that mints a token.
    pub fn of_event(name: &str) -> NodeKind {
        match name {
            SHARE_EVENT => NodeKind::Share,
            COPY_EVENT => NodeKind::Copy,
            crate::links::CLICK_EVENT | crate::links::SCAN_EVENT => NodeKind::Link,
            _ => NodeKind::Visit,
        }
    }
}

/// Event names of the share widget and of copied-text attribution.
pub const SHARE_EVENT: &str = "share";
pub const COPY_EVENT: &str = "copy";
/// `visit:share_channel` of a visit that arrived through a visit token.
pub const VIA_ADDRESS_BAR: &str = "address-bar";
/// `visit:share_channel` / `event:share_channel` of copied-text links.
pub const VIA_COPIED_TEXT: &str = "copied-text";
/// `visit:share_channel` of a visit that arrived through a tracked short link.
pub const VIA_SHORT_LINK: &str = "short-link";

/// The share widget's button `id` (`data/share_buttons.toml`), if it is one.
pub fn share_button(id: &str) -> Option<&'static ShareButton> {
    ShareButtons::builtin().get(id)
}

/// Is a `share_channel` value a private one (private buttons and copied text)?
pub fn is_private_share(share_channel: &str) -> bool {
    share_channel == VIA_COPIED_TEXT || ShareButtons::builtin().is_private(share_channel)
}

/// Is a `share_channel` value a button that posts the link publicly?
pub fn is_public_share(share_channel: &str) -> bool {
    ShareButtons::builtin().is_public(share_channel)
}

/// A token's owner, as the server remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenNode {
    pub site_id: u32,
    pub kind: NodeKind,
    pub session_id: u64,
    pub visitor_id: u64,
    /// Generation of the visit that minted the token.
    pub generation: u16,
    /// For shares: the button id; for copies: `copied-text`; for links: the link's
    /// channel (may be empty); for visits: empty.
    pub share_channel: String,
    /// For links: the link's id.
    pub link_id: u64,
}

/// What became of the token a visit arrived with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TokenStatus {
    /// The visit arrived without a token.
    #[default]
    None,
    /// A known token of this site: an edge was made.
    Linked,
    /// The visitor's own token (a reload, a bookmark of their own address).
    Own,
    /// Another site's token.
    Foreign,
    /// Well-formed but minted by nobody we know (forged, or older than the store).
    Unknown,
    /// Not a token at all.
    Malformed,
}

impl TokenStatus {
    pub const ALL: [TokenStatus; 6] = [
        TokenStatus::None,
        TokenStatus::Linked,
        TokenStatus::Own,
        TokenStatus::Foreign,
        TokenStatus::Unknown,
        TokenStatus::Malformed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            TokenStatus::None => "",
            TokenStatus::Linked => "linked",
            TokenStatus::Own => "own",
            TokenStatus::Foreign => "foreign",
            TokenStatus::Unknown => "unknown",
            TokenStatus::Malformed => "malformed",
        }
    }
    pub fn parse(s: &str) -> TokenStatus {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .unwrap_or(TokenStatus::None)
    }
}

/// The share-graph facts of a visit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub status: TokenStatus,
    pub parent_token: u64,
    pub parent_session: u64,
    pub generation: u16,
    /// How the token travelled (`visit:share_channel`); empty unless linked.
    pub share_channel: String,
    /// What minted the parent token (when linked).
    pub parent_kind: Option<NodeKind>,
    /// The short link the visit came through (0: none) and the channel it was made for.
    pub link_id: u64,
    pub link_channel: String,
}

impl Link {
    pub fn none() -> Link {
        Link::status(TokenStatus::None)
    }
    pub fn status(status: TokenStatus) -> Link {
        Link {
            status,
            parent_token: 0,
            parent_session: 0,
            generation: 0,
            share_channel: String::new(),
            parent_kind: None,
            link_id: 0,
            link_channel: String::new(),
        }
    }
}

/// Decide what an arriving token means for a new visit of `site_id` by a visitor whose
/// ids (today's, and yesterday's across midnight) are `visitor_ids`. `node` is the
/// token's owner, if any is known.
pub fn link(
    token: Option<Token>,
    raw_present: bool,
    node: Option<&TokenNode>,
    site_id: u32,
    visitor_ids: &[u64],
) -> Link {
    let Some(token) = token else {
        return Link::status(if raw_present {
            TokenStatus::Malformed
        } else {
            TokenStatus::None
        });
    };
    let Some(node) = node else {
        return Link::status(TokenStatus::Unknown);
    };
    if node.site_id != site_id {
        return Link::status(TokenStatus::Foreign);
    }
    // The visitor's own token is no edge — except a short link's: whoever clicks a link
    // is the one who lands.
    if node.kind != NodeKind::Link && visitor_ids.contains(&node.visitor_id) {
        return Link::status(TokenStatus::Own);
    }
    let share_channel = match node.kind {
        NodeKind::Visit => VIA_ADDRESS_BAR.to_string(),
        NodeKind::Copy => VIA_COPIED_TEXT.to_string(),
        NodeKind::Share => node.share_channel.clone(),
        NodeKind::Link => VIA_SHORT_LINK.to_string(),
    };
    let is_link = node.kind == NodeKind::Link;
    Link {
        status: TokenStatus::Linked,
        parent_token: token.bits(),
        parent_session: node.session_id,
        generation: node.generation.saturating_add(1),
        share_channel,
        parent_kind: Some(node.kind),
        link_id: if is_link { node.link_id } else { 0 },
        link_channel: if is_link {
            node.share_channel.clone()
        } else {
            String::new()
        },
    }
}

/// The channel of a linked visit. A widget share to a named app, or a short link made
/// for a channel, gives the visit that channel; otherwise the arrival's own signals
/// (`own`) win; without any signal the visit is a copied link, with the evidence of how
/// it was copied (a short link keeps its own classification, with evidence short-link).
pub fn attribute(rules: &Rules, link: &Link, own: Classification) -> Classification {
    let Some(kind) = link.parent_kind else {
        return own;
    };
    if kind == NodeKind::Link {
        if let Some(info) = rules.channel_info(&link.link_channel) {
            return Classification {
                channel: Channel::new(link.link_channel.as_str()),
                group: info.group,
                evidence: Evidence::ShortLink,
                source: info.name.clone(),
            };
        }
        let signalled = !matches!(
            own.group,
            ChannelGroup::Direct | ChannelGroup::EstimatedDark
        );
        return if signalled {
            own
        } else {
            Classification {
                evidence: Evidence::ShortLink,
                ..own
            }
        };
    }
    if kind == NodeKind::Share {
        if let Some(channel) = share_button(&link.share_channel).and_then(|b| b.channel.as_deref())
        {
            if let Some(info) = rules.channel_info(channel) {
                return Classification {
                    channel: Channel::new(channel),
                    group: info.group,
                    evidence: Evidence::ShareToken,
                    source: info.name.clone(),
                };
            }
        }
    }
    let signalled = !matches!(
        own.group,
        ChannelGroup::Direct | ChannelGroup::EstimatedDark
    );
    if signalled {
        return own;
    }
    let evidence = match kind {
        NodeKind::Visit => Evidence::AddressBarToken,
        NodeKind::Share => Evidence::ShareToken,
        NodeKind::Copy => Evidence::CopiedText,
        NodeKind::Link => Evidence::ShortLink,
    };
    let (group, source) = rules
        .channel_info(COPIED_LINK)
        .map(|i| (i.group, i.name.clone()))
        .unwrap_or((ChannelGroup::PrivateMessage, "Copied link".into()));
    Classification {
        channel: Channel::new(COPIED_LINK),
        group,
        evidence,
        source,
    }
}

pub const COPIED_LINK: &str = "copied-link";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_canonical_spelling() {
        for bits in [1u64, 42, u64::MAX, 0x0123_4567_89ab_cdef] {
            let t = Token::from_bits(bits).unwrap();
            let s = t.to_string();
            assert_eq!(s.len(), TOKEN_LEN);
            assert_eq!(Token::parse(&s), Some(t), "{s}");
        }
        assert_eq!(
            Token::from_bits(u64::MAX).unwrap().to_string(),
            "P__________"
        );
        // The first character carries 4 bits: 'Q' and above would be a 65th bit.
        assert_eq!(Token::parse("Q__________"), None);
        assert_eq!(Token::parse("AAAAAAAAAAA"), None, "zero is no token");
        assert_eq!(Token::parse("AAAAAAAAAAB"), Token::from_bits(1));
        assert_eq!(Token::parse("abc"), None);
        assert_eq!(Token::parse("AAAAAAAAAA+"), None);
        assert_eq!(Token::parse("AAAAAAAAAAAA"), None);
        assert_eq!(Token::parse("ÀAAAAAAAAA"), None);
    }

    fn node(site: u32, kind: NodeKind, channel: &str) -> TokenNode {
        TokenNode {
            site_id: site,
            kind,
            session_id: 77,
            visitor_id: 5,
            generation: 2,
            share_channel: channel.into(),
            link_id: 0,
        }
    }

    #[test]
    fn link_statuses() {
        let t = Token::from_bits(9);
        let n = node(1, NodeKind::Share, "whatsapp");
        assert_eq!(link(None, false, None, 1, &[6]).status, TokenStatus::None);
        assert_eq!(
            link(None, true, None, 1, &[6]).status,
            TokenStatus::Malformed
        );
        assert_eq!(link(t, true, None, 1, &[6]).status, TokenStatus::Unknown);
        assert_eq!(
            link(t, true, Some(&n), 2, &[6]).status,
            TokenStatus::Foreign
        );
        assert_eq!(link(t, true, Some(&n), 1, &[6, 5]).status, TokenStatus::Own);
        let l = link(t, true, Some(&n), 1, &[6]);
        assert_eq!(l.status, TokenStatus::Linked);
        assert_eq!((l.parent_token, l.parent_session, l.generation), (9, 77, 3));
        assert_eq!(l.share_channel, "whatsapp");
        let v = link(t, true, Some(&node(1, NodeKind::Visit, "")), 1, &[6]);
        assert_eq!(v.share_channel, VIA_ADDRESS_BAR);
        let c = link(t, true, Some(&node(1, NodeKind::Copy, "")), 1, &[6]);
        assert_eq!(c.share_channel, VIA_COPIED_TEXT);
    }

    #[test]
    fn statuses_round_trip() {
        for s in TokenStatus::ALL {
            assert_eq!(TokenStatus::parse(s.as_str()), s);
        }
        for k in [
            NodeKind::Visit,
            NodeKind::Share,
            NodeKind::Copy,
            NodeKind::Link,
        ] {
            assert_eq!(NodeKind::from_u8(k.as_u8()), Some(k));
        }
        assert!(is_private_share("copy") && is_private_share("copied-text"));
        assert!(!is_private_share("facebook") && !is_private_share("address-bar"));
    }

    #[test]
    fn attribution_of_linked_visits() {
        let rules = Rules::builtin();
        let none = Classification {
            channel: Channel::dark(),
            group: ChannelGroup::EstimatedDark,
            evidence: Evidence::DeepLink,
            source: "Direct / None".into(),
        };
        let slack = Classification {
            channel: Channel::new("slack"),
            group: ChannelGroup::PrivateMessage,
            evidence: Evidence::Referrer,
            source: "Slack".into(),
        };
        let t = Token::from_bits(3);
        let via = |kind, ch: &str| link(t, true, Some(&node(1, kind, ch)), 1, &[1]);
        // A widget share to a named app: that app, whatever the arrival shows.
        let c = attribute(&rules, &via(NodeKind::Share, "whatsapp"), slack.clone());
        assert_eq!(
            (c.channel.as_str(), c.evidence),
            ("whatsapp", Evidence::ShareToken)
        );
        assert_eq!(c.source, "WhatsApp");
        // Otherwise the arrival's own signal wins …
        let c = attribute(&rules, &via(NodeKind::Visit, ""), slack.clone());
        assert_eq!(c.channel.as_str(), "slack");
        let c = attribute(&rules, &via(NodeKind::Share, "copy"), slack);
        assert_eq!(c.channel.as_str(), "slack");
        // … and without one it is a copied link, with the way it was copied.
        for (kind, ch, ev) in [
            (NodeKind::Visit, "", Evidence::AddressBarToken),
            (NodeKind::Share, "native", Evidence::ShareToken),
            (NodeKind::Copy, "copied-text", Evidence::CopiedText),
        ] {
            let c = attribute(&rules, &via(kind, ch), none.clone());
            assert_eq!((c.channel.as_str(), c.evidence), (COPIED_LINK, ev));
            assert_eq!(c.group, ChannelGroup::PrivateMessage);
        }
        // Not linked: untouched.
        let c = attribute(&rules, &Link::status(TokenStatus::Unknown), none.clone());
        assert_eq!(c, none);
    }

    #[test]
    fn short_link_landings() {
        let rules = Rules::builtin();
        let t = Token::from_bits(3);
        let mut n = node(1, NodeKind::Link, "sms");
        n.link_id = 42;
        n.generation = 0;
        // The clicker lands: same visitor, still an edge.
        let l = link(t, true, Some(&n), 1, &[n.visitor_id]);
        assert_eq!(l.status, TokenStatus::Linked);
        assert_eq!((l.generation, l.link_id), (1, 42));
        assert_eq!(l.share_channel, VIA_SHORT_LINK);
        let dark = Classification {
            channel: Channel::dark(),
            group: ChannelGroup::EstimatedDark,
            evidence: Evidence::DeepLink,
            source: "Direct / None".into(),
        };
        let c = attribute(&rules, &l, dark.clone());
        assert_eq!(
            (c.channel.as_str(), c.evidence),
            ("sms", Evidence::ShortLink)
        );
        // A link made for no channel keeps the visit's own classification.
        n.share_channel.clear();
        let l = link(t, true, Some(&n), 1, &[1]);
        let c = attribute(&rules, &l, dark);
        assert_eq!(
            (c.channel.as_str(), c.evidence),
            ("dark", Evidence::ShortLink)
        );
    }
}
