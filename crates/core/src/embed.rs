//! Embedding a site's shared dashboard in another site's page: the origins an owner
//! allows, and the `frame-ancestors` they make. Only shared (read-only, cookie-less)
//! dashboards can be framed; every other page says `frame-ancestors 'none'`.

use url::Url;

/// Most origins a site may allow.
pub const MAX_ORIGINS: usize = 20;

/// Why an origin was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginError {
    /// Not `https://host[:port]` (or `http://` for `localhost` and loopback addresses).
    Bad(String),
    TooMany,
}

impl std::fmt::Display for OriginError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OriginError::Bad(o) => write!(
                f,
                "`{o}` is not an origin: https://host or https://host:port, with no path"
            ),
            OriginError::TooMany => write!(f, "at most {MAX_ORIGINS} origins"),
        }
    }
}

impl std::error::Error for OriginError {}

/// One origin as `frame-ancestors` takes it: scheme, lower-case host, port if not the
/// default. Plain `http` is allowed only for local development hosts (loopback,
/// `localhost`): a dashboard framed over plain HTTP elsewhere could be altered on the
/// way.
pub fn parse_origin(s: &str) -> Result<String, OriginError> {
    let bad = || OriginError::Bad(s.trim().chars().take(100).collect());
    let t = s.trim().trim_end_matches('/');
    let url = Url::parse(t).map_err(|_| bad())?;
    let host = url.host_str().ok_or_else(bad)?.to_ascii_lowercase();
    let local = host == "localhost"
        || host == "127.0.0.1"
        || host == "[::1]"
        || host.ends_with(".localhost");
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && local);
    // Nothing but scheme, host and port: a path, query, fragment or credentials mean the
    // owner pasted a page address, which `frame-ancestors` would read differently.
    let bare = url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none()
        && url.username().is_empty()
        && url.password().is_none()
        && !t.ends_with('#')
        && !t.ends_with('?');
    // Letters, digits, dots and hyphens (or an IPv6 literal): a `;` or a space in a host
    // would end the CSP directive and start another.
    let plain_host = host
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c));
    if !scheme_ok || !bare || !plain_host {
        return Err(bad());
    }
    Ok(match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

/// A list of origins separated by spaces, commas or new lines, checked, without
/// repeats, in the order given.
pub fn parse_origins(s: &str) -> Result<Vec<String>, OriginError> {
    let mut out: Vec<String> = Vec::new();
    for part in s
        .split([' ', ',', '\n', '\r', '\t'])
        .filter(|p| !p.is_empty())
    {
        let o = parse_origin(part)?;
        if !out.contains(&o) {
            out.push(o);
        }
    }
    if out.len() > MAX_ORIGINS {
        return Err(OriginError::TooMany);
    }
    Ok(out)
}

/// The `frame-ancestors` directive's sources for these origins: `'none'` when there are
/// none, else `'self'` and each origin.
pub fn frame_ancestors(origins: &[String]) -> String {
    if origins.is_empty() {
        "'none'".to_string()
    } else {
        std::iter::once("'self'")
            .chain(origins.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_bare_and_https_but_for_local_hosts() {
        assert_eq!(
            parse_origin("https://Blog.Example.com/"),
            Ok("https://blog.example.com".into())
        );
        assert_eq!(
            parse_origin("https://example.com:8443"),
            Ok("https://example.com:8443".into())
        );
        assert_eq!(
            parse_origin("https://example.com:443"),
            Ok("https://example.com".into())
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:3000"),
            Ok("http://127.0.0.1:3000".into())
        );
        assert_eq!(
            parse_origin("http://localhost:8080"),
            Ok("http://localhost:8080".into())
        );
        for bad in [
            "http://example.com",
            "https://example.com/page",
            "https://example.com/?x=1",
            "https://example.com#top",
            "https://user:pw@example.com",
            "example.com",
            "javascript:alert(1)",
            "https://*.example.com",
            "ftp://example.com",
            "https://",
            "'self'",
            "https://a.example;script-src",
        ] {
            assert!(parse_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lists_and_the_directive() {
        let o = parse_origins("https://a.example, https://b.example\nhttps://a.example/")
            .unwrap_or_default();
        assert_eq!(o, vec!["https://a.example", "https://b.example"]);
        assert_eq!(
            frame_ancestors(&o),
            "'self' https://a.example https://b.example"
        );
        assert_eq!(frame_ancestors(&[]), "'none'");
        assert_eq!(parse_origins("  "), Ok(vec![]));
        let many: Vec<String> = (0..=MAX_ORIGINS)
            .map(|i| format!("https://s{i}.example"))
            .collect();
        assert_eq!(parse_origins(&many.join(" ")), Err(OriginError::TooMany));
    }
}
