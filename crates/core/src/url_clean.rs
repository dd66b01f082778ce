//! URL cleaning: what of a page address is kept before storage.
//!
//! Kept: host, path, the five UTM parameters, *which* click id was present (as a flag,
//! never its value) and the share-token parameter. Everything else in the query string is
//! dropped: it may carry e-mail addresses, session ids or other personal data.

use url::Url;

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
    /// Path, percent-decoded where valid UTF-8, without trailing slash (except `/`).
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

fn keep_value(v: &str) -> Option<String> {
    let v = v.trim();
    if v.is_empty() {
        None
    } else {
        Some(v.chars().take(MAX_UTM_LEN).collect())
    }
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
    if out.token.is_none() {
        if let Some(frag) = url.fragment() {
            out.token = fragment_token(frag);
        }
    }
    Ok(out)
}

/// `#lc=TOKEN` or `#…&lc=TOKEN&…` in a fragment.
fn fragment_token(frag: &str) -> Option<String> {
    frag.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == TOKEN_PARAM).then(|| keep_value(v)).flatten()
    })
}

/// Percent-decode (when the result is valid UTF-8), collapse empty paths to `/`, drop a
/// trailing slash, cap the length.
pub fn clean_path(path: &str) -> String {
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map(|c| c.into_owned())
        .unwrap_or_else(|_| path.to_string());
    let mut p = if decoded.is_empty() {
        "/".to_string()
    } else {
        decoded
    };
    while p.len() > 1 && p.ends_with('/') {
        p.pop();
    }
    if p.len() > 1024 {
        let mut cut = 1024;
        while !p.is_char_boundary(cut) {
            cut -= 1;
        }
        p.truncate(cut);
    }
    p
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
    fn paths() {
        assert_eq!(clean_path(""), "/");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path("/caf%C3%A9/"), "/café");
        assert!(is_home("/"));
        assert!(!is_home("/a"));
    }
}
