//! URL cleaning: what of a page address is kept before storage.
//!
//! Kept: host, path, the five UTM parameters, *which* click id was present (as a flag,
//! never its value) and the share-token parameter. Everything else in the query string is
//! dropped: it may carry e-mail addresses, session ids or other personal data.
//!
//! No control character (C0, DEL, C1) survives cleaning: in paths they are
//! percent-encoded (what browsers show), from UTM values and tokens they are stripped
//! ([`crate::text`]).

use url::Url;

use crate::text::{clean_text, encode_controls, truncate_bytes};

/// Query parameter (or fragment key) that carries a Lucarne share token.
pub const TOKEN_PARAM: &str = "lc";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
}

impl Utm {
    pub fn is_empty(&self) -> bool {
        self.source.is_none()
            && self.medium.is_none()
            && self.campaign.is_none()
            && self.term.is_none()
            && self.content.is_none()
    }
}

/// The advertising / e-mail click ids Lucarne recognises. Only the kind is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClickId {
    Fbclid,
    Gclid,
    Gbraid,
    Wbraid,
    Msclkid,
    Ttclid,
    Twclid,
    LiFatId,
    MailchimpEid,
    MailchimpCid,
    HubspotEnc,
    HubspotMi,
}

impl ClickId {
    pub const ALL: [ClickId; 12] = [
        ClickId::Fbclid,
        ClickId::Gclid,
        ClickId::Gbraid,
        ClickId::Wbraid,
        ClickId::Msclkid,
        ClickId::Ttclid,
        ClickId::Twclid,
        ClickId::LiFatId,
        ClickId::MailchimpEid,
        ClickId::MailchimpCid,
        ClickId::HubspotEnc,
        ClickId::HubspotMi,
    ];

    /// The query parameter name.
    pub fn param(self) -> &'static str {
        match self {
            ClickId::Fbclid => "fbclid",
            ClickId::Gclid => "gclid",
            ClickId::Gbraid => "gbraid",
            ClickId::Wbraid => "wbraid",
            ClickId::Msclkid => "msclkid",
            ClickId::Ttclid => "ttclid",
            ClickId::Twclid => "twclid",
            ClickId::LiFatId => "li_fat_id",
            ClickId::MailchimpEid => "mc_eid",
            ClickId::MailchimpCid => "mc_cid",
            ClickId::HubspotEnc => "_hsenc",
            ClickId::HubspotMi => "_hsmi",
        }
    }

    pub fn from_param(p: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.param() == p)
    }
}

/// A page address reduced to what Lucarne stores.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanUrl {
    /// Lower-case host without a leading `www.`.
    pub host: String,
    /// Path, percent-decoded where valid UTF-8 (control characters stay encoded),
    /// without trailing slash (except `/`). In hash mode, followed by the route of the
    /// fragment (`/#/settings`, `/app#/users`): see [`clean_page_url`].
    pub path: String,
    pub utm: Utm,
    pub click_id: Option<ClickId>,
    /// Share token from `?lc=` or `#lc=` (syntax not yet checked).
    pub token: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    Unparsable,
    NotHttp,
}

const MAX_UTM_LEN: usize = 256;
/// Longest stored path, in bytes (the route of a hash-mode page included).
pub const MAX_PATH_LEN: usize = 1024;

fn keep_value(v: &str) -> Option<String> {
    clean_text(v, MAX_UTM_LEN)
}

/// Strip a leading `www.` and lower-case a host.
pub fn normalise_host(host: &str) -> String {
    let h = host.trim().trim_end_matches('.').to_ascii_lowercase();
    match h.strip_prefix("www.") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => h,
    }
}

/// Parse and clean a page URL. Only `http` and `https` URLs are accepted.
pub fn clean_url(raw: &str) -> Result<CleanUrl, UrlError> {
    clean_page_url(raw, false)
}

/// Parse and clean a page URL; with `hash_mode` (the tracker's `hashMode` / `h`, for
/// single-page apps that route in the fragment) the fragment's route is kept after the
/// path: `https://x.com/#/settings` is `/#/settings`.
///
/// Only the route's *path* is kept: it ends at the first `?`, `&` or `#`, so neither a
/// query inside the fragment (`#/reset?email=a@b.c` is `/#/reset`) nor a share token
/// (`#/post&lc=…`) is ever stored. A fragment that does not start with `/` is an anchor,
/// not a route, and is dropped; so is the route `/` alone (`/#/` is the home page `/`).
pub fn clean_page_url(raw: &str, hash_mode: bool) -> Result<CleanUrl, UrlError> {
    let url = Url::parse(raw.trim()).map_err(|_| UrlError::Unparsable)?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(UrlError::NotHttp);
    }
    let host = normalise_host(url.host_str().ok_or(UrlError::Unparsable)?);
    let mut out = CleanUrl {
        host,
        path: clean_path(url.path()),
        ..CleanUrl::default()
    };
    for (k, v) in url.query_pairs() {
        match k.as_ref() {
            "utm_source" => out.utm.source = keep_value(&v),
            "utm_medium" => out.utm.medium = keep_value(&v),
            "utm_campaign" => out.utm.campaign = keep_value(&v),
            "utm_term" => out.utm.term = keep_value(&v),
            "utm_content" => out.utm.content = keep_value(&v),
            TOKEN_PARAM => out.token = keep_value(&v),
            other => {
                if out.click_id.is_none() {
                    out.click_id = ClickId::from_param(other);
                }
            }
        }
    }
    if let Some(frag) = url.fragment() {
        if out.token.is_none() {
            out.token = fragment_token(frag);
        }
        if hash_mode {
            if let Some(route) = hash_route(frag) {
                // `/` + `#/users` is `/#/users`; `/app` + `#/users` is `/app#/users`.
                let mut path = format!("{}#{route}", out.path);
                if path.len() > MAX_PATH_LEN {
                    truncate_bytes(&mut path, MAX_PATH_LEN);
                    while path.len() > 1 && path.ends_with(['/', '#']) {
                        path.pop();
                    }
                }
                out.path = path;
            }
        }
    }
    Ok(out)
}

/// The route of a hash-mode fragment: its path up to the first `?`, `&` or `#`, cleaned
/// like a page path; `None` for an anchor (no leading `/`) or the route `/`.
fn hash_route(frag: &str) -> Option<String> {
    let route = frag.split(['?', '&', '#']).next().unwrap_or_default();
    if !route.starts_with('/') {
        return None;
    }
    // Decoded, a route can reveal a query it hid (`#/reset%3Femail%3D…`): cut it there
    // too, as a router reading the decoded route would.
    let mut route = clean_path(route);
    if let Some(at) = route.find(['?', '&']) {
        route.truncate(at);
        // What is left can end in a slash again (`#//%26` decodes to `//&`).
        while route.len() > 1 && route.ends_with('/') {
            route.pop();
        }
    }
    (!route.is_empty() && route != "/").then_some(route)
}

/// `#lc=TOKEN`, `#…&lc=TOKEN&…` or `#/route?lc=TOKEN` in a fragment.
fn fragment_token(frag: &str) -> Option<String> {
    frag.split(['&', '?']).find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == TOKEN_PARAM).then(|| keep_value(v)).flatten()
    })
}

/// Percent-decode (when the result is valid UTF-8), keep control characters
/// percent-encoded, collapse empty paths to `/`, drop a trailing slash, cap the length
/// at [`MAX_PATH_LEN`] bytes.
pub fn clean_path(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map(|c| encode_controls(&c).into_owned())
        .unwrap_or_else(|_| encode_controls(path).into_owned());
    let mut p = if decoded.is_empty() {
        "/".to_string()
    } else {
        decoded
    };
    truncate_bytes(&mut p, MAX_PATH_LEN);
    while p.len() > 1 && p.ends_with('/') {
        p.pop();
    }
    p
}

/// A referrer reduced to what is stored (before the caller drops internal ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CleanReferrer {
    /// `android-app://PACKAGE`: the package only, as `android-app://PACKAGE`.
    App(String),
    /// An `http(s)` referrer: its normalised host and its path (as the URL spells it:
    /// percent-encoded, `/` for none); never its query or fragment.
    Web { host: String, path: String },
}

impl CleanReferrer {
    /// The stored text: `android-app://PACKAGE`, `host`, or `host/path`, at most
    /// `max_chars` characters.
    pub fn stored(&self, max_chars: usize) -> String {
        let s = match self {
            CleanReferrer::App(a) => a.clone(),
            CleanReferrer::Web { host, path } if path == "/" => host.clone(),
            CleanReferrer::Web { host, path } => format!("{host}{path}"),
        };
        s.chars().take(max_chars).collect()
    }
}

/// Clean a raw referrer (`document.referrer` or the `Referer` header): `None` when it
/// is neither an `android-app://` referrer nor an `http(s)` URL with a host. No control
/// character survives (percent-encoded in the path and the package).
pub fn clean_referrer(raw: &str) -> Option<CleanReferrer> {
    let raw = raw.trim();
    let lower = raw.get(..14).map(str::to_ascii_lowercase);
    if lower.as_deref() == Some("android-app://") {
        let package = raw[14..].split(['/', '?', '#']).next().unwrap_or_default();
        if package.is_empty() {
            return None;
        }
        return Some(CleanReferrer::App(format!(
            "android-app://{}",
            encode_controls(package)
        )));
    }
    let url = Url::parse(raw).ok()?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return None;
    }
    let host = normalise_host(url.host_str()?);
    if host.is_empty() {
        return None;
    }
    let mut path = encode_controls(url.path()).into_owned();
    truncate_bytes(&mut path, MAX_PATH_LEN);
    Some(CleanReferrer::Web { host, path })
}

/// Is `path` the site's home page?
pub fn is_home(path: &str) -> bool {
    matches!(path, "" | "/" | "/index.html" | "/index.php" | "/index.htm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_utm_click_flag_and_token() {
        let c = clean_url(
            "https://www.Example.com/blog/post/?utm_source=whatsapp&email=a@b.c&fbclid=XYZ&lc=abc123#frag",
        )
        .unwrap();
        assert_eq!(c.host, "example.com");
        assert_eq!(c.path, "/blog/post");
        assert_eq!(c.utm.source.as_deref(), Some("whatsapp"));
        assert_eq!(c.click_id, Some(ClickId::Fbclid));
        assert_eq!(c.token.as_deref(), Some("abc123"));
    }

    #[test]
    fn a_decoded_route_cut_at_its_query_drops_its_trailing_slash() {
        // Found by the property test: `%26` decodes to `&`, which ends the route, and
        // what is left (`//`) must not keep a trailing slash.
        let c = clean_page_url(" https://a#//%26?", true).unwrap();
        assert_eq!(c.path, "/");
        let c = clean_page_url("https://a/app#/users/%3Fq=1", true).unwrap();
        assert_eq!(c.path, "/app#/users");
    }

    #[test]
    fn token_from_fragment() {
        let c = clean_url("https://example.com/a#lc=tok_1").unwrap();
        assert_eq!(c.token.as_deref(), Some("tok_1"));
        let c = clean_url("https://example.com/a#x=1&lc=t2").unwrap();
        assert_eq!(c.token.as_deref(), Some("t2"));
        let c = clean_url("https://example.com/a#section").unwrap();
        assert_eq!(c.token, None);
    }

    #[test]
    fn rejects_non_http() {
        assert_eq!(clean_url("javascript:alert(1)"), Err(UrlError::NotHttp));
        assert_eq!(clean_url("data:text/html,hi"), Err(UrlError::NotHttp));
        assert_eq!(clean_url("not a url"), Err(UrlError::Unparsable));
    }

    #[test]
    fn no_control_characters_stored() {
        // (URL, stored path): control bytes stay percent-encoded in paths.
        let paths = [
            ("https://x.com/a%00b", "/a%00b"),
            ("https://x.com/a\0b", "/a%00b"),
            (
                "https://x.com/a%0d%0aSet-Cookie:%20x",
                "/a%0D%0ASet-Cookie: x",
            ),
            ("https://x.com/a\tb\nc", "/abc"),
            ("https://x.com/%1b[31m", "/%1B[31m"),
            ("https://x.com/%1F", "/%1F"),
            ("https://x.com/%7f", "/%7F"),
            ("https://x.com/\u{7f}", "/%7F"),
            ("https://x.com/%C2%85", "/%C2%85"),
            ("https://x.com/\u{9f}x", "/%C2%9Fx"),
            ("https://x.com/%FF%00", "/%FF%00"),
            ("https://x.com/%25%30%30", "/%00"),
            ("https://x.com/caf%C3%A9/", "/café"),
        ];
        for (url, want) in paths {
            let c = clean_url(url).unwrap();
            assert_eq!(c.path, want, "{url:?}");
            assert!(!c.path.contains(char::is_control), "{url:?}");
        }
        assert_eq!(clean_path("/a\0b\u{85}"), "/a%00b%C2%85");
        assert_eq!(clean_path("/\u{ff}\0"), "/\u{ff}%00");
        // UTM values and tokens: control characters stripped.
        let c = clean_url(
            "https://x.com/?utm_source=wh%00ats%0Aapp&utm_medium=%C2%85mail%7F&utm_campaign=%00%0A%09&utm_term=a%1Fb&lc=AB%00C",
        )
        .unwrap();
        assert_eq!(c.utm.source.as_deref(), Some("whatsapp"));
        assert_eq!(c.utm.medium.as_deref(), Some("mail"));
        assert_eq!(c.utm.campaign, None);
        assert_eq!(c.utm.term.as_deref(), Some("ab"));
        assert_eq!(c.token.as_deref(), Some("ABC"));
        let c = clean_url("https://x.com/#lc=A%00B\u{7f}").unwrap();
        assert!(!c.token.unwrap_or_default().contains(char::is_control));
    }

    #[test]
    fn hash_mode_keeps_the_route_path_only() {
        let cases = [
            ("https://x.com/#/reset?email=a@b.c", "/#/reset"),
            (
                "https://x.com/#/reset?lc=AAAAAAAAAAB&email=a@b.c",
                "/#/reset",
            ),
            ("https://x.com/#/settings&lc=abc", "/#/settings"),
            ("https://x.com/#/settings/", "/#/settings"),
            ("https://x.com/#/a/b#c", "/#/a/b"),
            ("https://x.com/app/#/users/42?tab=2", "/app#/users/42"),
            ("https://x.com/app?id=7#/users", "/app#/users"),
            ("https://x.com/#/caf%C3%A9", "/#/café"),
            ("https://x.com/#/a%00b", "/#/a%00b"),
            ("https://x.com/#/a\u{0}b\u{85}c", "/#/a%00b%C2%85c"),
            ("https://x.com/#/", "/"),
            ("https://x.com/#/?email=a@b.c", "/"),
            ("https://x.com/#", "/"),
            ("https://x.com/#section", "/"),
            ("https://x.com/#lc=AAAAAAAAAAB", "/"),
            ("https://x.com/#!/route", "/"),
            ("https://x.com/#?/x", "/"),
            ("https://x.com/post#intro", "/post"),
        ];
        for (url, want) in cases {
            let c = clean_page_url(url, true).unwrap();
            assert_eq!(c.path, want, "{url}");
            assert!(!c.path.contains('?') && !c.path.contains("lc="), "{url}");
        }
        // The token in a route still counts as the arrival token.
        let c = clean_page_url("https://x.com/#/post?lc=tok&x=1", true).unwrap();
        assert_eq!(c.token.as_deref(), Some("tok"));
        let c = clean_page_url("https://x.com/#/post&lc=tok", true).unwrap();
        assert_eq!(c.token.as_deref(), Some("tok"));
        // Without hash mode the fragment is never part of the path.
        assert_eq!(clean_url("https://x.com/#/reset?e=a").unwrap().path, "/");
        // A long route is cut like a path.
        let long = format!("https://x.com/#/{}", "é".repeat(2000));
        let c = clean_page_url(&long, true).unwrap();
        assert!(c.path.len() <= MAX_PATH_LEN && c.path.starts_with("/#/é"));
    }

    #[test]
    fn referrers() {
        let web = |host: &str, path: &str| {
            Some(CleanReferrer::Web {
                host: host.into(),
                path: path.into(),
            })
        };
        let cases = [
            (
                "https://www.Google.com/search?q=secret#x",
                web("google.com", "/search"),
            ),
            ("https://t.co/", web("t.co", "/")),
            ("https://x.com/a%00b\0c", web("x.com", "/a%00b%00c")),
            ("https://x.com/\u{85}x", web("x.com", "/%C2%85x")),
            (
                "android-app://org.telegram.messenger/",
                Some(CleanReferrer::App(
                    "android-app://org.telegram.messenger".into(),
                )),
            ),
            (
                "ANDROID-APP://com.x\0y/https/z",
                Some(CleanReferrer::App("android-app://com.x%00y".into())),
            ),
            ("android-app://", None),
            ("android-app:/x", None),
            ("about:blank", None),
            ("file:///etc/passwd", None),
            ("not a url", None),
            ("", None),
        ];
        for (raw, want) in cases {
            assert_eq!(clean_referrer(raw), want, "{raw:?}");
        }
        assert_eq!(clean_referrer("https://t.co/").unwrap().stored(500), "t.co");
        assert_eq!(
            clean_referrer("https://x.com/abc").unwrap().stored(8),
            "x.com/ab"
        );
    }

    #[test]
    fn paths() {
        assert_eq!(clean_path(""), "/");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path("/caf%C3%A9/"), "/café");
        // Cut at the limit, then no trailing slash either.
        let long = format!("/{}/bbbb", "a".repeat(1022));
        assert_eq!(clean_path(&long), format!("/{}", "a".repeat(1022)));
        assert!(is_home("/"));
        assert!(!is_home("/a"));
    }
}
