//! Tracked short links: slugs, target validation, the UTM builder, how a request to a
//! short link is classified, and the address it redirects to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

use crate::rules::Rules;
use crate::token::Token;
use crate::url_clean::{normalise_host, TOKEN_PARAM};
use crate::useragent::{is_bot, preview_app};

/// Generated slugs use letters and digits that cannot be mistaken for one another when
/// read aloud or printed (no 0/O, 1/l/I).
pub const SLUG_ALPHABET: &[u8] = b"23456789abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
pub const GENERATED_SLUG_LEN: usize = 7;
pub const MAX_SLUG_LEN: usize = 64;
pub const MAX_TARGET_LEN: usize = 2000;
pub const MAX_LABEL_LEN: usize = 200;
/// The query parameter a QR code's URL carries, so scans are told apart from clicks.
pub const QR_MARKER: &str = "qr";

/// A slug from random bytes (one byte per character; rejection-free modulo bias is
/// negligible for 56 symbols and is not a security property here: slugs are public).
pub fn generated_slug(random: &[u8; GENERATED_SLUG_LEN]) -> String {
    random
        .iter()
        .map(|b| SLUG_ALPHABET[*b as usize % SLUG_ALPHABET.len()] as char)
        .collect()
}

/// Why a link (or its edit) is refused. A plain domain error: the server maps it to an
/// HTTP status and a JSON reason, the CLI prints its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// A new link without a target URL.
    MissingUrl,
    BadSlug,
    /// A short domain that is not a host name.
    BadDomain,
    TargetTooLong,
    TargetNotHttp,
    TargetUnparsable,
    TargetHasCredentials,
    TargetPrivateNetwork,
    LabelTooLong,
    BadChannel,
    BadRedirect,
    /// An expiry that is not an RFC 3339 time.
    BadExpiry,
}

impl LinkError {
    /// Every variant, for exhaustive checks (each has a message in every language).
    pub const ALL: [LinkError; 12] = [
        LinkError::MissingUrl,
        LinkError::BadSlug,
        LinkError::BadDomain,
        LinkError::TargetTooLong,
        LinkError::TargetNotHttp,
        LinkError::TargetUnparsable,
        LinkError::TargetHasCredentials,
        LinkError::TargetPrivateNetwork,
        LinkError::LabelTooLong,
        LinkError::BadChannel,
        LinkError::BadRedirect,
        LinkError::BadExpiry,
    ];
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkError::MissingUrl => "`url` is required",
            LinkError::BadSlug => "a slug is 1 to 64 letters, digits, '-' or '_'",
            LinkError::BadDomain => "`domain` must be a host name",
            LinkError::TargetTooLong => "the target URL is longer than 2,000 characters",
            LinkError::TargetNotHttp => "the target must be an http:// or https:// URL",
            LinkError::TargetUnparsable => "the target is not a valid URL",
            LinkError::TargetHasCredentials => "the target must not contain a user name or password",
            LinkError::TargetPrivateNetwork => {
                "the target points to a loopback or private-network address (an administrator can allow it)"
            }
            LinkError::LabelTooLong => "campaign and UTM values are at most 200 characters",
            LinkError::BadChannel => "unknown channel",
            LinkError::BadRedirect => "redirect must be 301, 302 or 307",
            LinkError::BadExpiry => "`expires_at` must be an RFC 3339 time",
        })
    }
}

impl std::error::Error for LinkError {}

/// A custom slug: 1–64 of `[A-Za-z0-9_-]`.
pub fn check_slug(slug: &str) -> Result<(), LinkError> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG_LEN
        && slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(LinkError::BadSlug)
    }
}

/// IPv4 addresses a public short link must not point to: "this network" (0/8),
/// private (10/8, 172.16/12, 192.168/16), carrier-grade NAT (100.64/10), loopback
/// (127/8), link local (169.254/16), IETF protocol assignments (192.0.0/24),
/// documentation (192.0.2/24, 198.51.100/24, 203.0.113/24), benchmarking (198.18/15),
/// multicast (224/4) and reserved (240/4, broadcast included).
fn private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    a == 0
        || a == 10
        || a == 127
        || (a == 100 && (b & 0xc0) == 64)
        || (a == 169 && b == 254)
        || (a == 172 && (b & 0xf0) == 16)
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 168)
        || (a == 198 && (b & 0xfe) == 18)
        || ip.is_documentation()
        || a >= 224
}

/// The IPv4 address in the low 32 bits of an IPv6 address.
fn low_v4(ip: Ipv6Addr) -> Ipv4Addr {
    let o = ip.octets();
    Ipv4Addr::new(o[12], o[13], o[14], o[15])
}

/// IPv6 addresses a public short link must not point to. Forms that carry an IPv4
/// address are judged by that address:
/// - IPv4-mapped `::ffff:a.b.c.d` and IPv4-compatible `::a.b.c.d` (`::/96`);
/// - NAT64 with the well-known prefix `64:ff9b::/96` (RFC 6052: the IPv4 address is in
///   the low 32 bits);
/// - 6to4 `2002:AABB:CCDD::/48` (the IPv4 address is in bits 16–47).
///
/// The local-use NAT64 prefix `64:ff9b:1::/48` (RFC 8215) is refused whole: its
/// operator chooses where in the address the IPv4 part sits, so it cannot be decoded,
/// and it only ever leads into the operator's own network.
///
/// Refused outright: `::` and `::1`, discard-only `100::/64`, documentation
/// `2001:db8::/32`, unique local `fc00::/7`, link local `fe80::/10`, the deprecated
/// site local `fec0::/10`, and multicast `ff00::/8`.
fn private_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return private_v4(v4);
    }
    // `::/96`: `::` and `::1` are refused with the rest of the block ("this network"
    // and loopback in IPv4 terms too); the others are IPv4-compatible addresses.
    if seg[..6] == [0; 6] {
        return private_v4(low_v4(ip));
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return private_v4(low_v4(ip));
    }
    if seg[..3] == [0x64, 0xff9b, 1] {
        return true;
    }
    if seg[0] == 0x2002 {
        let [a, b] = seg[1].to_be_bytes();
        let [c, d] = seg[2].to_be_bytes();
        return private_v4(Ipv4Addr::new(a, b, c, d));
    }
    (seg[0] == 0x100 && seg[1..4] == [0; 3])
        || (seg[0] == 0x2001 && seg[1] == 0xdb8)
        || (seg[0] & 0xfe00) == 0xfc00
        || (seg[0] & 0xffc0) == 0xfe80
        || (seg[0] & 0xffc0) == 0xfec0
        || (seg[0] & 0xff00) == 0xff00
}

/// Names that only mean something inside a network: `localhost` and its subdomains,
/// the special-use `.local` (mDNS) and `home.arpa`, and the suffixes RFC 6762
/// (appendix G) lists as used privately.
const PRIVATE_SUFFIXES: [&str; 9] = [
    "localhost",
    "local",
    "home.arpa",
    "internal",
    "intranet",
    "private",
    "corp",
    "home",
    "lan",
];

/// Is this host a loopback or private-network address, or a name for one? A name
/// without a dot (`intranet`, `localhost.`) is one: it can only be resolved through a
/// local search domain. Every IPv4 spelling (`2130706433`, `0x7f.1`, `0177.0.0.1`) is
/// an address here: the `url` crate parses them all into [`Host::Ipv4`].
pub fn is_private_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => private_v4(*ip),
        Host::Ipv6(ip) => private_v6(*ip),
        Host::Domain(d) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if let Ok(ip) = d
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                return is_private_ip(ip);
            }
            !d.contains('.')
                || PRIVATE_SUFFIXES
                    .iter()
                    .any(|s| d == *s || d.strip_suffix(s).is_some_and(|rest| rest.ends_with('.')))
        }
    }
}

/// Is this address loopback, private-network or otherwise special (the ranges of
/// `private_v4` and `private_v6`)? The one definition both the short links' target check
/// (by host text) and the preview-card fetcher (on each address a name resolves to,
/// before connecting) use.
pub fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => private_v4(v4),
        IpAddr::V6(v6) => private_v6(v6),
    }
}

/// Validate a link target: http(s) only, no credentials, no loopback or private-network
/// host unless `allow_private`, at most 2,000 characters.
pub fn check_target(target: &str, allow_private: bool) -> Result<Url, LinkError> {
    let target = target.trim();
    if target.len() > MAX_TARGET_LEN {
        return Err(LinkError::TargetTooLong);
    }
    let lower = target.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(LinkError::TargetNotHttp);
    }
    let url = Url::parse(target).map_err(|_| LinkError::TargetUnparsable)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(LinkError::TargetNotHttp);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(LinkError::TargetHasCredentials);
    }
    let host = url.host().ok_or(LinkError::TargetUnparsable)?;
    if !allow_private && is_private_host(&host) {
        return Err(LinkError::TargetPrivateNetwork);
    }
    Ok(url)
}

/// UTM parameters a link adds to its target (empty values are not added).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkUtm {
    pub source: String,
    pub medium: String,
    pub campaign: String,
    pub term: String,
    pub content: String,
}

impl LinkUtm {
    /// The UTM builder's defaults for a channel: `utm_source` names the app, and
    /// `utm_medium` says what kind of channel it is (the classifier reads both).
    pub fn for_channel(channel: &str, campaign: &str) -> LinkUtm {
        let medium = match channel {
            "" => "",
            "email" => "email",
            "sms" => "sms",
            "qr-code" => "qr",
            "facebook" | "x" | "linkedin" | "instagram" | "threads" | "reddit" | "mastodon"
            | "bluesky" | "tiktok" | "youtube" | "pinterest" => "social",
            _ => "messaging",
        };
        LinkUtm {
            source: channel.to_string(),
            medium: medium.to_string(),
            campaign: campaign.to_string(),
            term: String::new(),
            content: String::new(),
        }
    }

    pub fn check(&self) -> Result<(), LinkError> {
        let too_long = [
            &self.source,
            &self.medium,
            &self.campaign,
            &self.term,
            &self.content,
        ]
        .iter()
        .any(|v| v.chars().count() > MAX_LABEL_LEN);
        if too_long {
            Err(LinkError::LabelTooLong)
        } else {
            Ok(())
        }
    }
}

/// The channels a link can be made for: every classifier channel, plus `qr-code`.
pub fn check_channel(rules: &Rules, channel: &str) -> Result<(), LinkError> {
    if channel.is_empty() || rules.channel_info(channel).is_some() {
        Ok(())
    } else {
        Err(LinkError::BadChannel)
    }
}

/// A link's short domain (normalised; empty means Lucarne's own): a host name of at
/// most 253 letters, digits, dots and hyphens.
pub fn check_domain(domain: &str) -> Result<String, LinkError> {
    let d = normalise_host(domain.trim());
    let host_like = d
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if d.is_empty() || (d.len() <= 253 && host_like) {
        Ok(d)
    } else {
        Err(LinkError::BadDomain)
    }
}

/// The HTTP status a link redirects with: 301, 302 or 307.
pub fn check_redirect(status: u16) -> Result<u16, LinkError> {
    if [301, 302, 307].contains(&status) {
        Ok(status)
    } else {
        Err(LinkError::BadRedirect)
    }
}

/// Where to send a click: the target with the link's UTM parameters (the target's own
/// `utm_*` are replaced) and a fresh share token, in the fragment or the query.
pub fn redirect_location(target: &Url, utm: &LinkUtm, token: Token, in_query: bool) -> String {
    let mut url = target.clone();
    let utm_pairs = [
        ("utm_source", &utm.source),
        ("utm_medium", &utm.medium),
        ("utm_campaign", &utm.campaign),
        ("utm_term", &utm.term),
        ("utm_content", &utm.content),
    ];
    let replaced: Vec<&str> = utm_pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, _)| *k)
        .collect();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| !replaced.contains(&k.as_ref()) && k != TOKEN_PARAM)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = url.query_pairs_mut();
        q.clear();
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        for (k, v) in utm_pairs.iter().filter(|(_, v)| !v.is_empty()) {
            q.append_pair(k, v);
        }
        if in_query {
            q.append_pair(TOKEN_PARAM, &token.to_string());
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    // A fragment that is not a token stays (an anchor); the token then goes in the
    // query so the anchor keeps working.
    let anchor = url
        .fragment()
        .filter(|f| !f.is_empty() && !f.starts_with("lc="))
        .map(str::to_string);
    if !in_query {
        match anchor {
            Some(_) => {
                url.query_pairs_mut()
                    .append_pair(TOKEN_PARAM, &token.to_string());
            }
            None => url.set_fragment(Some(&format!("{TOKEN_PARAM}={token}"))),
        }
    }
    url.to_string()
}

/// What a request to a short link is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkRequest {
    /// A person following the link: counted as a click.
    Click,
    /// A person who scanned the link's QR code (its URL carries the QR marker).
    Scan,
    /// A messaging app drawing a preview of the pasted link: "pasted into <app>".
    Preview(String),
    /// Any other automated client: not counted.
    Bot,
    /// `HEAD`: link checkers and some preview fetchers; not counted.
    Head,
}

impl LinkRequest {
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkRequest::Click => "click",
            LinkRequest::Scan => "scan",
            LinkRequest::Preview(_) => "preview",
            LinkRequest::Bot => "bot",
            LinkRequest::Head => "head",
        }
    }
}

/// Event names of link requests that are stored.
pub const CLICK_EVENT: &str = "link_click";
pub const SCAN_EVENT: &str = "link_scan";
pub const PREVIEW_EVENT: &str = "preview";

/// What the user agent says about a request (computed once per distinct string by the
/// server; see [`ua_request_facts`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UaRequestFacts {
    /// The app whose link-preview fetcher this is.
    pub preview: Option<String>,
    /// Any automated client (preview fetchers included), or an empty user agent.
    pub bot: bool,
}

pub fn ua_request_facts(rules: &Rules, user_agent: &str) -> UaRequestFacts {
    UaRequestFacts {
        preview: preview_app(rules, user_agent),
        bot: user_agent.trim().is_empty() || is_bot(rules, user_agent),
    }
}

/// Classify a request to a short link, before anything is counted: `HEAD` first, then
/// preview fetchers (they are bots too, but the useful kind), other bots, then people —
/// a scan when the URL carries the QR marker.
pub fn classify_request(is_head: bool, ua: &UaRequestFacts, qr_marker: bool) -> LinkRequest {
    if is_head {
        return LinkRequest::Head;
    }
    if let Some(app) = &ua.preview {
        return LinkRequest::Preview(app.clone());
    }
    if ua.bot {
        return LinkRequest::Bot;
    }
    if qr_marker {
        LinkRequest::Scan
    } else {
        LinkRequest::Click
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_domains_and_redirects() {
        assert_eq!(check_domain(" Go.Example. ").as_deref(), Ok("go.example"));
        assert_eq!(check_domain("").as_deref(), Ok(""));
        assert_eq!(check_domain("a b.example"), Err(LinkError::BadDomain));
        assert_eq!(check_domain(&"a".repeat(254)), Err(LinkError::BadDomain));
        assert_eq!(check_redirect(307), Ok(307));
        assert_eq!(check_redirect(303), Err(LinkError::BadRedirect));
        // Every refusal has a message a person can read.
        assert!(LinkError::ALL.iter().all(|e| !e.to_string().is_empty()));
    }

    #[test]
    fn slugs() {
        let s = generated_slug(&[0, 1, 2, 55, 56, 200, 255]);
        assert_eq!(s.len(), 7);
        assert!(s.bytes().all(|b| SLUG_ALPHABET.contains(&b)));
        for bad in ["0", "O", "1", "l", "I"] {
            assert!(!SLUG_ALPHABET.contains(&bad.as_bytes()[0]), "{bad}");
        }
        assert!(check_slug("spring-sale_2024").is_ok());
        for bad in ["", "a b", "a/b", "é", "../x", &"a".repeat(65)] {
            assert_eq!(check_slug(bad), Err(LinkError::BadSlug), "{bad:?}");
        }
    }

    #[test]
    fn targets() {
        assert!(check_target("https://example.com/a?b=1#c", false).is_ok());
        let cases = [
            ("javascript:alert(1)", LinkError::TargetNotHttp),
            ("data:text/html,<b>x</b>", LinkError::TargetNotHttp),
            ("ftp://example.com/", LinkError::TargetNotHttp),
            ("//example.com/", LinkError::TargetNotHttp),
            (
                "https://user:pw@example.com/",
                LinkError::TargetHasCredentials,
            ),
            ("https://user@example.com/", LinkError::TargetHasCredentials),
            ("http://localhost:8080/", LinkError::TargetPrivateNetwork),
            ("http://127.0.0.1/", LinkError::TargetPrivateNetwork),
            ("http://10.1.2.3/", LinkError::TargetPrivateNetwork),
            ("http://192.168.1.1/", LinkError::TargetPrivateNetwork),
            ("http://172.16.0.1/", LinkError::TargetPrivateNetwork),
            (
                "http://169.254.169.254/latest/meta-data",
                LinkError::TargetPrivateNetwork,
            ),
            ("http://100.64.0.1/", LinkError::TargetPrivateNetwork),
            ("http://[::1]/", LinkError::TargetPrivateNetwork),
            ("http://[fd00::1]/", LinkError::TargetPrivateNetwork),
            (
                "http://[::ffff:127.0.0.1]/",
                LinkError::TargetPrivateNetwork,
            ),
            ("http://0.0.0.0/", LinkError::TargetPrivateNetwork),
            ("http://printer.local/", LinkError::TargetPrivateNetwork),
            ("https://", LinkError::TargetUnparsable),
        ];
        for (t, e) in cases {
            assert_eq!(check_target(t, false).err(), Some(e), "{t}");
        }
        let long = format!("https://example.com/{}", "a".repeat(2000));
        assert_eq!(
            check_target(&long, false).err(),
            Some(LinkError::TargetTooLong)
        );
        // An administrator may allow private targets (an intranet shortener).
        assert!(check_target("http://10.1.2.3/wiki", true).is_ok());
        assert_eq!(
            check_target("http://user@10.1.2.3/", true).err(),
            Some(LinkError::TargetHasCredentials)
        );
    }

    /// Every special range and spelling refused when private targets are not allowed,
    /// and accepted when they are.
    #[test]
    fn private_addresses_by_ip() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "::1",
            "::ffff:10.0.0.1",
            "fe80::1",
            "169.254.169.254",
        ] {
            assert!(is_private_ip(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1", "1.1.1.1"] {
            assert!(!is_private_ip(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[test]
    fn private_targets_refused() {
        let refused = [
            // Single-label names: only a local search domain can resolve them.
            "http://intranet/",
            "http://intranet./",
            "http://localhost./",
            "http://LOCALHOST/",
            "http://wiki:8080/page",
            "http://%6c%6fcalhost/",
            "http://\u{ff4c}\u{ff4f}\u{ff43}\u{ff41}\u{ff4c}\u{ff48}\u{ff4f}\u{ff53}\u{ff54}/",
            // Private-use names.
            "http://app.localhost/",
            "http://printer.local/",
            "http://printer.local./",
            "http://nas.home.arpa/",
            "http://git.internal/",
            "http://git.corp/",
            "http://router.lan/",
            "http://box.home/",
            // IPv4, every special range.
            "http://0.0.0.0/",
            "http://0.1.2.3/",
            "http://10.0.0.1/",
            "http://10.255.255.255/",
            "http://100.64.0.1/",
            "http://100.127.255.254/",
            "http://127.0.0.1/",
            "http://127.8.9.10/",
            "http://169.254.169.254/latest/meta-data",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.0.0.8/",
            "http://192.0.2.1/",
            "http://192.168.1.1/",
            "http://198.18.0.1/",
            "http://198.19.255.255/",
            "http://198.51.100.7/",
            "http://203.0.113.9/",
            "http://224.0.0.1/",
            "http://239.255.255.250/",
            "http://240.0.0.1/",
            "http://255.255.255.255/",
            // Other IPv4 spellings the `url` crate reads as addresses.
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://017700000001/",
            "http://0xA9.0xFE.0xA9.0xFE/",
            "http://3232235777/",
            "http://127.0.0.1./",
            // IPv6.
            "http://[::]/",
            "http://[::1]/",
            "http://[0:0:0:0:0:0:0:1]/",
            "http://[fc00::1]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[febf::1]/",
            "http://[fec0::1]/",
            "http://[ff02::1]/",
            "http://[2001:db8::1]/",
            "http://[100::1]/",
            // IPv4-mapped and IPv4-compatible with a private IPv4.
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[::ffff:0.0.0.0]/",
            "http://[::127.0.0.1]/",
            "http://[::10.1.2.3]/",
            "http://[::192.168.0.1]/",
            "http://[::0.0.0.2]/",
            // NAT64, well-known prefix with a private IPv4, and the local-use prefix.
            "http://[64:ff9b::127.0.0.1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[64:ff9b::10.0.0.1]/",
            "http://[64:ff9b:1::1]/",
            "http://[64:ff9b:1:ffff::8.8.8.8]/",
            // 6to4 of a private IPv4.
            "http://[2002:7f00:1::]/",
            "http://[2002:c0a8:101::1]/",
        ];
        for t in refused {
            assert_eq!(
                check_target(t, false).err(),
                Some(LinkError::TargetPrivateNetwork),
                "{t}"
            );
            assert!(
                check_target(t, true).is_ok(),
                "allowed when private is: {t}"
            );
        }
        let accepted = [
            "https://example.com/a?b=1#c",
            "https://example.com./",
            "http://sub.example.co.uk:8080/x",
            "https://xn--caf-dma.fr/",
            "https://localhost.example.com/",
            "https://local.example.com/",
            "https://example.lan.example.com/",
            "https://8.8.8.8/",
            "http://1.1.1.1/",
            "http://100.63.255.255/",
            "http://100.128.0.1/",
            "http://172.15.255.255/",
            "http://172.32.0.1/",
            "http://192.0.1.1/",
            "http://198.17.255.255/",
            "http://198.20.0.1/",
            "http://223.255.255.255/",
            "http://134744072/",
            "http://[2606:4700:4700::1111]/",
            "http://[2001:4860:4860::8888]/",
            "http://[::ffff:8.8.8.8]/",
            "http://[::8.8.8.8]/",
            "http://[64:ff9b::8.8.8.8]/",
            "http://[64:ff9b:0:1::1]/",
            "http://[2002:808:808::1]/",
        ];
        for t in accepted {
            assert!(check_target(t, false).is_ok(), "{t}");
        }
    }

    #[test]
    fn locations() {
        let t = Token::from_bits(1).unwrap();
        let target =
            Url::parse("https://example.com/post?ref=x&utm_source=old&lc=AAAAAAAAAAC").unwrap();
        let utm = LinkUtm::for_channel("whatsapp", "spring");
        assert_eq!(
            redirect_location(&target, &utm, t, false),
            "https://example.com/post?ref=x&utm_source=whatsapp&utm_medium=messaging&utm_campaign=spring#lc=AAAAAAAAAAB"
        );
        assert_eq!(
            redirect_location(&target, &utm, t, true),
            "https://example.com/post?ref=x&utm_source=whatsapp&utm_medium=messaging&utm_campaign=spring&lc=AAAAAAAAAAB"
        );
        // An anchor survives: the token goes in the query.
        let anchored = Url::parse("https://example.com/doc#install").unwrap();
        assert_eq!(
            redirect_location(&anchored, &LinkUtm::default(), t, false),
            "https://example.com/doc?lc=AAAAAAAAAAB#install"
        );
        assert_eq!(LinkUtm::for_channel("email", "n").medium, "email");
        assert_eq!(LinkUtm::for_channel("qr-code", "n").medium, "qr");
        assert_eq!(LinkUtm::for_channel("facebook", "n").medium, "social");
        assert!(LinkUtm {
            campaign: "x".repeat(201),
            ..LinkUtm::default()
        }
        .check()
        .is_err());
    }

    #[test]
    fn requests() {
        let rules = Rules::builtin();
        let f = |ua: &str| ua_request_facts(&rules, ua);
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        assert_eq!(
            classify_request(false, &f(chrome), false),
            LinkRequest::Click
        );
        assert_eq!(classify_request(false, &f(chrome), true), LinkRequest::Scan);
        assert_eq!(classify_request(true, &f(chrome), false), LinkRequest::Head);
        assert_eq!(
            classify_request(false, &f("WhatsApp/2.23.20.0 A"), false),
            LinkRequest::Preview("whatsapp".into())
        );
        assert_eq!(
            classify_request(false, &f("TelegramBot (like TwitterBot)"), true),
            LinkRequest::Preview("telegram".into()),
            "a preview of a QR link is still a preview"
        );
        assert_eq!(
            classify_request(
                false,
                &f("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
                false
            ),
            LinkRequest::Bot
        );
        assert_eq!(classify_request(false, &f(""), false), LinkRequest::Bot);
    }
}
