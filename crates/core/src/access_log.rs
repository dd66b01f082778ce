//! Web-server access logs: one line of the NCSA *combined* format parsed into its fields,
//! and what an import makes of it (a link preview, a pageview, or a skip with a reason).
//!
//! The format is nginx's default `combined` and Apache's
//! `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"`:
//!
//! ```text
//! 203.0.113.7 - - [10/Mar/2024:13:55:36 +0100] "GET /post?x=1 HTTP/1.1" 200 5120 "https://t.co/" "Mozilla/5.0 …"
//! ```
//!
//! Tolerated: the common format (no referrer and user agent), extra fields after the
//! user agent (nginx configurations often append `"$http_x_forwarded_for"` or timings),
//! user names with spaces, Apache's escapes (`\"`, `\\`, `\n`, `\t`) and nginx's
//! (`\x22`), and a raw quote inside a quoted field (a quote closes a field only when a
//! space or the end of the line follows it). A request line that is not
//! `METHOD target [HTTP/x]` (TLS handshakes sent to port 80, `-` for a dropped
//! connection) parses, with no [`Request`].
//!
//! No IO: the caller reads the lines.

use chrono::{DateTime, Utc};

/// Lines longer than this many bytes are refused ([`LineError::TooLong`]); a reader may
/// cut longer lines just past it to keep its memory bounded.
pub const MAX_LINE: usize = 16 * 1024;

/// One parsed log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `%h`: the client address as logged (an IP address unless host-name lookups are on).
    pub client: String,
    /// `%t`, in UTC.
    pub time: DateTime<Utc>,
    /// `%r`, when it is an HTTP request line.
    pub request: Option<Request>,
    /// `%>s`.
    pub status: u16,
    /// `%b` (`-`: none).
    pub bytes: Option<u64>,
    /// The `Referer` header (`-` or empty: none).
    pub referrer: Option<String>,
    /// The `User-Agent` header (`-`: empty). Empty in the common format.
    pub user_agent: String,
}

/// An HTTP request line: `GET /post?x=1 HTTP/1.1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// Origin form (`/post?x=1`), absolute form (`https://example.com/post`), `*`, or an
    /// authority (`CONNECT`).
    pub target: String,
    /// `HTTP/1.1`; empty for an HTTP/0.9 line without one.
    pub protocol: String,
}

/// Why a line is not a log line of the expected format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LineError {
    /// Nothing but white space.
    Empty,
    /// A field is missing (the line stops early).
    Truncated,
    /// `[…]` is not `dd/Mon/yyyy:hh:mm:ss ±zzzz`.
    BadTime,
    /// A quoted field does not end.
    BadQuoting,
    /// The status is not three digits.
    BadStatus,
    /// The size is neither digits nor `-`.
    BadSize,
    /// Longer than [`MAX_LINE`].
    TooLong,
}

impl LineError {
    /// A stable name, for counting skipped lines by reason.
    pub fn as_str(self) -> &'static str {
        match self {
            LineError::Empty => "empty",
            LineError::Truncated => "truncated",
            LineError::BadTime => "bad_time",
            LineError::BadQuoting => "bad_quoting",
            LineError::BadStatus => "bad_status",
            LineError::BadSize => "bad_size",
            LineError::TooLong => "too_long",
        }
    }
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for LineError {}

/// Parse one line (a trailing `\n` or `\r\n` is ignored).
pub fn parse_line(line: &str) -> Result<LogLine, LineError> {
    let line = line.trim_end_matches(['\n', '\r']);
    if line.len() > MAX_LINE {
        return Err(LineError::TooLong);
    }
    let rest = line.trim_start();
    if rest.trim().is_empty() {
        return Err(LineError::Empty);
    }
    let (client, rest) = rest.split_once(' ').ok_or(LineError::Truncated)?;
    // `%l %u` (ident and user, ignored: a user name may contain spaces), then `[%t]`.
    let open = rest.find('[').ok_or(LineError::Truncated)?;
    let rest = &rest[open + 1..];
    let close = rest.find(']').ok_or(LineError::Truncated)?;
    let time = parse_time(&rest[..close])?;
    let rest = rest[close + 1..].trim_start_matches(' ');
    let (request_line, rest) = quoted(rest)?;
    let rest = rest.trim_start_matches(' ');
    let (status, rest) = token(rest);
    let status = parse_status(status)?;
    let rest = rest.trim_start_matches(' ');
    let (size, rest) = token(rest);
    let bytes = match size {
        "" => return Err(LineError::Truncated),
        "-" => None,
        s => Some(s.parse::<u64>().map_err(|_| LineError::BadSize)?),
    };
    // The combined format's two quoted headers; the common format stops here.
    let rest = rest.trim_start_matches(' ');
    let (referrer, user_agent) = if rest.is_empty() {
        (None, String::new())
    } else {
        let (referrer, rest) = quoted(rest)?;
        let rest = rest.trim_start_matches(' ');
        let user_agent = if rest.is_empty() {
            String::new()
        } else {
            quoted(rest)?.0
        };
        (Some(referrer), user_agent)
    };
    Ok(LogLine {
        client: client.to_string(),
        time,
        request: parse_request(&request_line),
        status,
        bytes,
        referrer: referrer.filter(|r| !r.is_empty() && r != "-"),
        user_agent: if user_agent == "-" {
            String::new()
        } else {
            user_agent
        },
    })
}

/// The next space-separated token and what follows it.
fn token(s: &str) -> (&str, &str) {
    match s.split_once(' ') {
        Some((t, rest)) => (t, rest),
        None => (s, ""),
    }
}

fn parse_time(s: &str) -> Result<DateTime<Utc>, LineError> {
    DateTime::parse_from_str(s.trim(), "%d/%b/%Y:%H:%M:%S %z")
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| LineError::BadTime)
}

fn parse_status(s: &str) -> Result<u16, LineError> {
    if s.is_empty() {
        return Err(LineError::Truncated);
    }
    if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LineError::BadStatus);
    }
    s.parse().map_err(|_| LineError::BadStatus)
}

/// A quoted field at the start of `s`: its unescaped text and what follows the closing
/// quote. `-` unquoted (some formats log a bare dash) is accepted as a field too.
fn quoted(s: &str) -> Result<(String, &str), LineError> {
    if s.is_empty() {
        return Err(LineError::Truncated);
    }
    if let Some(rest) = s
        .strip_prefix('-')
        .filter(|r| r.is_empty() || r.starts_with(' '))
    {
        return Ok(("-".to_string(), rest));
    }
    let body = s.strip_prefix('"').ok_or(LineError::BadQuoting)?;
    let bytes = body.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len().min(512));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if i + 1 < bytes.len() => {
                let next = bytes[i + 1];
                match next {
                    b'"' | b'\\' => {
                        out.push(next);
                        i += 2;
                    }
                    b'n' => {
                        out.push(b'\n');
                        i += 2;
                    }
                    b't' => {
                        out.push(b'\t');
                        i += 2;
                    }
                    b'r' => {
                        out.push(b'\r');
                        i += 2;
                    }
                    b'x' => match (hex_value(bytes.get(i + 2)), hex_value(bytes.get(i + 3))) {
                        (Some(hi), Some(lo)) => {
                            out.push(hi << 4 | lo);
                            i += 4;
                        }
                        _ => {
                            out.push(b'\\');
                            i += 1;
                        }
                    },
                    _ => {
                        out.push(b'\\');
                        i += 1;
                    }
                }
            }
            b'"' => {
                let after = &body[i + 1..];
                if after.is_empty() || after.starts_with(' ') {
                    return Ok((String::from_utf8_lossy(&out).into_owned(), after));
                }
                // A raw quote inside the field (a server that does not escape them).
                out.push(b'"');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Err(LineError::BadQuoting)
}

fn hex_value(b: Option<&u8>) -> Option<u8> {
    let b = *b?;
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `METHOD target [protocol]`, or `None` for anything else.
fn parse_request(line: &str) -> Option<Request> {
    let parts: Vec<&str> = line.split(' ').filter(|p| !p.is_empty()).collect();
    let (method, rest) = parts.split_first()?;
    let method_ok = !method.is_empty()
        && method.len() <= 20
        && method.bytes().all(|b| b.is_ascii_uppercase() || b == b'-');
    if !method_ok || rest.is_empty() {
        return None;
    }
    let (protocol, target) = match rest.split_last() {
        Some((last, before)) if last.starts_with("HTTP/") && !before.is_empty() => {
            (last.to_string(), before.join(" "))
        }
        _ => (String::new(), rest.join(" ")),
    };
    Some(Request {
        method: method.to_string(),
        target,
        protocol,
    })
}

impl Request {
    pub fn is_get(&self) -> bool {
        self.method == "GET"
    }

    pub fn is_get_or_head(&self) -> bool {
        self.method == "GET" || self.method == "HEAD"
    }

    /// The target's path, without query or fragment (`None` for `*` or an authority).
    pub fn path(&self) -> Option<&str> {
        let t = self.target.as_str();
        let after_scheme = t
            .strip_prefix("http://")
            .or_else(|| t.strip_prefix("https://"));
        let path_and_query = match after_scheme {
            Some(rest) => rest.find('/').map_or("/", |i| &rest[i..]),
            None if t.starts_with('/') => t,
            None => return None,
        };
        path_and_query.split(['?', '#']).next()
    }

    /// The page's full URL: an origin-form target on `site_host` (over https: the
    /// scheme is not logged and is not stored), an absolute-form target as it is.
    pub fn url(&self, site_host: &str) -> Option<String> {
        let t = self.target.as_str();
        let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") {
            Some(t.to_string())
        } else if t.starts_with('/') {
            Some(format!("https://{site_host}{t}"))
        } else {
            None
        }
    }
}

/// File extensions of what is not a page: styles, scripts, images, fonts, media,
/// documents, archives, feeds and data.
const ASSET_EXTENSIONS: &[&str] = &[
    "css",
    "js",
    "mjs",
    "cjs",
    "map",
    "json",
    "xml",
    "txt",
    "csv",
    "ico",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "svg",
    "webp",
    "avif",
    "bmp",
    "tif",
    "tiff",
    "heic",
    "woff",
    "woff2",
    "ttf",
    "otf",
    "eot",
    "mp3",
    "mp4",
    "m4a",
    "m4v",
    "webm",
    "ogg",
    "ogv",
    "oga",
    "wav",
    "flac",
    "mov",
    "avi",
    "pdf",
    "zip",
    "gz",
    "tgz",
    "bz2",
    "xz",
    "7z",
    "rar",
    "tar",
    "dmg",
    "exe",
    "msi",
    "apk",
    "deb",
    "rpm",
    "iso",
    "wasm",
    "rss",
    "atom",
    "webmanifest",
    "swf",
    "doc",
    "docx",
    "xls",
    "xlsx",
    "ppt",
    "pptx",
];

/// Is this path a static file rather than a page (by the extension of its last segment)?
/// `/post`, `/post/`, `/index.html` and `/page.php` are pages; `/app.css`,
/// `/img/og.JPG` and `/feed.xml` are not.
pub fn is_asset(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or_default();
    match last.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() || last.starts_with('.') => {
            let ext = ext.to_ascii_lowercase();
            ASSET_EXTENSIONS.contains(&ext.as_str())
        }
        _ => false,
    }
}

/// What an import makes of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A link-preview fetch by this app's fetcher: "pasted into <app>".
    Preview(String),
    /// A person's page view (only when pageviews are imported).
    Pageview,
    Skip(Skip),
}

/// Why a well-formed line records nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// The request line is not an HTTP request (`-`, a TLS handshake on port 80, …).
    NotHttp,
    /// Previews: not `GET`/`HEAD`; pageviews: not `GET`.
    Method,
    /// Previews: not 2xx/3xx; pageviews: not 2xx.
    Status,
    /// A static file (by extension): a fetcher getting the page's `og:image` is part of
    /// the preview of the page, not another one.
    Asset,
    /// A crawler or other automated client that is not a preview fetcher.
    Bot,
    /// A person's request, while pageviews are not imported.
    Human,
    /// Not a page path (`*`, an authority).
    NoPath,
}

impl Skip {
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NotHttp => "not_http",
            Skip::Method => "method",
            Skip::Status => "status",
            Skip::Asset => "asset",
            Skip::Bot => "bot",
            Skip::Human => "human",
            Skip::NoPath => "no_path",
        }
    }
}

/// Decide what a line is, given what its user agent is: `preview_app` (the preview
/// fetcher's app, if it is one) and `is_bot` (any automated client, preview fetchers
/// included).
///
/// - a preview fetcher's `GET`/`HEAD` with a 2xx/3xx status for a page → `Preview`;
/// - with `pageviews`, a person's `GET` with a 2xx status for a page → `Pageview`;
/// - anything else → `Skip` with the first reason that applies.
pub fn decide(
    line: &LogLine,
    preview_app: Option<&str>,
    is_bot: bool,
    pageviews: bool,
) -> Decision {
    let Some(req) = &line.request else {
        return Decision::Skip(Skip::NotHttp);
    };
    let Some(path) = req.path() else {
        return Decision::Skip(Skip::NoPath);
    };
    if let Some(app) = preview_app {
        return if !req.is_get_or_head() {
            Decision::Skip(Skip::Method)
        } else if !(200..400).contains(&line.status) {
            Decision::Skip(Skip::Status)
        } else if is_asset(path) {
            Decision::Skip(Skip::Asset)
        } else {
            Decision::Preview(app.to_string())
        };
    }
    if is_bot {
        return Decision::Skip(Skip::Bot);
    }
    if !pageviews {
        return Decision::Skip(Skip::Human);
    }
    if !req.is_get() {
        Decision::Skip(Skip::Method)
    } else if !(200..300).contains(&line.status) {
        Decision::Skip(Skip::Status)
    } else if is_asset(path) {
        Decision::Skip(Skip::Asset)
    } else {
        Decision::Pageview
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s)
            .single()
            .expect("valid time")
    }

    #[test]
    fn nginx_combined() {
        let l = parse_line(
            "203.0.113.7 - - [10/Mar/2024:13:55:36 +0100] \"GET /blog/post?utm_source=x HTTP/1.1\" 200 5120 \"https://t.co/\" \"WhatsApp/2.23.20.0 A\"\n",
        )
        .expect("parses");
        assert_eq!(l.client, "203.0.113.7");
        assert_eq!(l.time, at(2024, 3, 10, 12, 55, 36), "converted to UTC");
        let r = l.request.as_ref().expect("request");
        assert_eq!(
            (r.method.as_str(), r.target.as_str(), r.protocol.as_str()),
            ("GET", "/blog/post?utm_source=x", "HTTP/1.1")
        );
        assert_eq!(r.path(), Some("/blog/post"));
        assert_eq!(l.status, 200);
        assert_eq!(l.bytes, Some(5120));
        assert_eq!(l.referrer.as_deref(), Some("https://t.co/"));
        assert_eq!(l.user_agent, "WhatsApp/2.23.20.0 A");
    }

    #[test]
    fn apache_with_user_dashes_and_crlf() {
        let l = parse_line(&format!(
            "2001:db8::1 - frank [01/Jan/2024:00:00:00 -0000] \"HEAD / HTTP/2.0\" 304 - \"-\" \"{CHROME}\"\r\n"
        ))
        .expect("parses");
        assert_eq!(l.client, "2001:db8::1");
        assert_eq!(l.time, at(2024, 1, 1, 0, 0, 0));
        assert_eq!(l.bytes, None);
        assert_eq!(l.referrer, None);
        assert_eq!(l.user_agent, CHROME);
        assert!(l.request.as_ref().is_some_and(Request::is_get_or_head));
    }

    #[test]
    fn tricky_quoting() {
        // Apache escapes a quote as \" and a backslash as \\.
        let l = parse_line(
            r#"198.51.100.2 - - [10/Mar/2024:10:00:00 +0000] "GET /q?a=\"b\" HTTP/1.1" 200 10 "-" "Agent \"quoted\" \\ back""#,
        )
        .expect("apache escapes");
        assert_eq!(
            l.request.as_ref().map(|r| r.target.as_str()),
            Some("/q?a=\"b\"")
        );
        assert_eq!(l.user_agent, r#"Agent "quoted" \ back"#);
        // nginx writes \x22 for a quote and \xHH for other bytes.
        let l = parse_line(
            r#"198.51.100.2 - - [10/Mar/2024:10:00:00 +0000] "GET /caf\xC3\xA9 HTTP/1.1" 200 10 "-" "Say \x22hi\x22""#,
        )
        .expect("nginx escapes");
        assert_eq!(l.user_agent, "Say \"hi\"");
        assert_eq!(l.request.as_ref().map(|r| r.target.as_str()), Some("/café"));
        // A raw quote inside a field (not followed by a space) does not end it.
        let l = parse_line(
            r#"198.51.100.2 - - [10/Mar/2024:10:00:00 +0000] "GET /a"b HTTP/1.1" 200 10 "https://x.example/" "UA/1.0 (x"y)""#,
        )
        .expect("raw quotes");
        assert_eq!(l.request.as_ref().map(|r| r.target.as_str()), Some("/a\"b"));
        assert_eq!(l.referrer.as_deref(), Some("https://x.example/"));
        assert_eq!(l.user_agent, "UA/1.0 (x\"y)");
        // Extra fields after the user agent are ignored; an empty user agent is empty.
        let l = parse_line(
            r#"198.51.100.2 - "user name" [10/Mar/2024:10:00:00 +0000] "GET / HTTP/1.1" 200 10 "" "" "10.0.0.1" 0.004"#,
        )
        .expect("extra fields");
        assert_eq!((l.referrer, l.user_agent.as_str()), (None, ""));
    }

    #[test]
    fn common_format_and_odd_request_lines() {
        let l = parse_line("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] \"GET /x HTTP/1.0\" 404 0")
            .expect("common format");
        assert_eq!(
            (l.status, l.referrer, l.user_agent.as_str()),
            (404, None, "")
        );
        // A TLS handshake on the plain-text port, and a dropped connection.
        let l = parse_line(
            r#"192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03" 400 157 "-" "-""#,
        )
        .expect("binary request");
        assert_eq!(l.request, None);
        let l = parse_line(r#"192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] "-" 408 0 "-" "-""#)
            .expect("empty request");
        assert_eq!(l.request, None);
        // HTTP/0.9: no protocol.
        let l =
            parse_line(r#"192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] "GET /old" 200 1 "-" "-""#)
                .expect("0.9");
        assert_eq!(
            l.request.map(|r| (r.target, r.protocol)),
            Some(("/old".to_string(), String::new()))
        );
    }

    #[test]
    fn malformed_lines() {
        let cases = [
            ("", LineError::Empty),
            ("   \n", LineError::Empty),
            ("garbage", LineError::Truncated),
            ("192.0.2.1 - - 10/Mar/2024:10:00:00 +0000 \"GET / HTTP/1.1\" 200 1", LineError::Truncated),
            ("192.0.2.1 - - [yesterday] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"", LineError::BadTime),
            ("192.0.2.1 - - [32/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1", LineError::BadTime),
            ("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1 200 1", LineError::BadQuoting),
            // A missing closing quote swallows the next field: still refused.
            ("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1 200 1 \"-\" \"-", LineError::BadStatus),
            ("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] GET / HTTP/1.1 200 1", LineError::BadQuoting),
            ("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\" OK 1", LineError::BadStatus),
            ("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 2000 1", LineError::BadStatus),
            ("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\"", LineError::Truncated),
            ("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200", LineError::Truncated),
            ("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 lots", LineError::BadSize),
            ("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"unterminated", LineError::BadQuoting),
            // Longer than MAX_LINE.
            (&*format!("192.0.2.1 - - [10/Mar/2024:10:00:00 +0000] \"GET /{} HTTP/1.1\" 200 1", "a".repeat(MAX_LINE)), LineError::TooLong),
            // A torn line: the writer died mid-line.
            ("192.0.2.1 - - [10/Mar/2024:10:0", LineError::Truncated),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(line), Err(want), "{line:?}");
            assert!(!want.as_str().is_empty());
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        let long = "x".repeat(10_000);
        let inputs = [
            "\u{0}".to_string(),
            "a [".to_string(),
            "a []".to_string(),
            "a [10/Mar/2024:10:00:00 +0000]".to_string(),
            "a [10/Mar/2024:10:00:00 +0000] \"".to_string(),
            "a [10/Mar/2024:10:00:00 +0000] \"\\".to_string(),
            "a [10/Mar/2024:10:00:00 +0000] \"\\x".to_string(),
            "a [10/Mar/2024:10:00:00 +0000] \"\\x4".to_string(),
            "a [10/Mar/2024:10:00:00 +0000] \"é\\xé\" 200 1".to_string(),
            format!("a [10/Mar/2024:10:00:00 +0000] \"GET /{long} HTTP/1.1\" 200 1 \"{long}\" \"{long}\""),
            "a [10/Mar/2024:10:00:00 +0000] \"GET \u{1F4A5} HTTP/1.1\" 200 1 \"\u{1F4A5}\" \"\u{1F4A5}\"".to_string(),
        ];
        for s in &inputs {
            if let Ok(l) = parse_line(s) {
                let _ = decide(&l, Some("whatsapp"), true, true);
                let _ = l.request.as_ref().map(|r| (r.path(), r.url("example.com")));
            }
        }
    }

    #[test]
    fn request_paths_and_urls() {
        let r = |t: &str| Request {
            method: "GET".into(),
            target: t.into(),
            protocol: "HTTP/1.1".into(),
        };
        assert_eq!(r("/a/b?c#d").path(), Some("/a/b"));
        assert_eq!(r("https://example.com/x?y").path(), Some("/x"));
        assert_eq!(r("http://example.com").path(), Some("/"));
        assert_eq!(r("*").path(), None);
        assert_eq!(r("example.com:443").path(), None);
        assert_eq!(
            r("/p?lc=AAAAAAAAAAB").url("example.com").as_deref(),
            Some("https://example.com/p?lc=AAAAAAAAAAB")
        );
        assert_eq!(
            r("HTTP://Other.example/p").url("example.com").as_deref(),
            Some("HTTP://Other.example/p")
        );
        assert_eq!(r("*").url("example.com"), None);
    }

    #[test]
    fn assets() {
        for p in [
            "/",
            "/post",
            "/post/",
            "/index.html",
            "/page.php",
            "/v1.2/notes",
            "/.well-known",
        ] {
            assert!(!is_asset(p), "{p}");
        }
        for p in [
            "/app.css",
            "/img/og.JPG",
            "/feed.xml",
            "/favicon.ico",
            "/robots.txt",
            "/a/b.js",
            "/doc.pdf",
            "/.env.json",
        ] {
            assert!(is_asset(p), "{p}");
        }
    }

    #[test]
    fn decisions() {
        let line = |method: &str, path: &str, status: u16| LogLine {
            client: "192.0.2.1".into(),
            time: at(2024, 3, 10, 10, 0, 0),
            request: Some(Request {
                method: method.into(),
                target: path.into(),
                protocol: "HTTP/1.1".into(),
            }),
            status,
            bytes: None,
            referrer: None,
            user_agent: String::new(),
        };
        let preview = |m, path, s| decide(&line(m, path, s), Some("slack"), true, false);
        assert_eq!(
            preview("GET", "/post", 200),
            Decision::Preview("slack".into())
        );
        assert_eq!(
            preview("HEAD", "/post", 301),
            Decision::Preview("slack".into())
        );
        assert_eq!(preview("POST", "/post", 200), Decision::Skip(Skip::Method));
        assert_eq!(preview("GET", "/post", 404), Decision::Skip(Skip::Status));
        assert_eq!(preview("GET", "/og.png", 200), Decision::Skip(Skip::Asset));
        assert_eq!(preview("OPTIONS", "*", 200), Decision::Skip(Skip::NoPath));
        let human = |m, path, s, pv| decide(&line(m, path, s), None, false, pv);
        assert_eq!(
            human("GET", "/post", 200, false),
            Decision::Skip(Skip::Human)
        );
        assert_eq!(human("GET", "/post", 200, true), Decision::Pageview);
        assert_eq!(
            human("HEAD", "/post", 200, true),
            Decision::Skip(Skip::Method)
        );
        assert_eq!(
            human("GET", "/post", 304, true),
            Decision::Skip(Skip::Status)
        );
        assert_eq!(
            human("GET", "/app.js", 200, true),
            Decision::Skip(Skip::Asset)
        );
        assert_eq!(
            decide(&line("GET", "/post", 200), None, true, true),
            Decision::Skip(Skip::Bot)
        );
        let mut no_request = line("GET", "/", 400);
        no_request.request = None;
        assert_eq!(
            decide(&no_request, Some("slack"), true, true),
            Decision::Skip(Skip::NotHttp)
        );
    }
}
