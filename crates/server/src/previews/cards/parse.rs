//! What a crawler reads in a page and an image: the Open Graph and Twitter card tags
//! (plus `<title>`, `<meta name="description">` and a `<meta http-equiv="refresh">`),
//! and an image's format and pixel size from its first bytes (PNG, GIF, JPEG, WebP).
//!
//! The tag reader is a small tolerant scanner, not an HTML parser: crawlers read
//! `<meta>` tags as text too, and a page's card is what those tags say.

/// The tags of one page, each the first occurrence, entities decoded, trimmed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    pub og_title: Option<String>,
    pub og_description: Option<String>,
    pub og_image: Option<String>,
    pub og_url: Option<String>,
    pub og_site_name: Option<String>,
    pub twitter_card: Option<String>,
    pub twitter_title: Option<String>,
    pub twitter_description: Option<String>,
    pub twitter_image: Option<String>,
    pub title: Option<String>,
    pub description: Option<String>,
    /// The address of a `<meta http-equiv="refresh" content="0; url=…">`.
    pub refresh: Option<String>,
}

impl Tags {
    pub fn card_title(&self) -> Option<&str> {
        self.og_title
            .as_deref()
            .or(self.twitter_title.as_deref())
            .or(self.title.as_deref())
    }

    pub fn card_description(&self) -> Option<&str> {
        self.og_description
            .as_deref()
            .or(self.twitter_description.as_deref())
            .or(self.description.as_deref())
    }

    /// The image an app shows: `og:image`, else `twitter:image`.
    pub fn card_image(&self) -> Option<&str> {
        self.og_image.as_deref().or(self.twitter_image.as_deref())
    }
}

/// Read the tags of `html` (the start of a page, as fetched).
pub fn read_tags(html: &str) -> Tags {
    let mut t = Tags::default();
    let lower = html.to_ascii_lowercase();
    let mut at = 0;
    while let Some(i) = lower[at..].find('<') {
        let start = at + i;
        let rest = &lower[start + 1..];
        if rest.starts_with("!--") {
            at = lower[start..]
                .find("-->")
                .map_or(lower.len(), |e| start + e + 3);
            continue;
        }
        let Some(end) = tag_end(&lower, start) else {
            break;
        };
        if rest.starts_with("meta") && rest[4..].starts_with(|c: char| c.is_ascii_whitespace()) {
            let attrs = attributes(&html[start + 5..end]);
            meta(&mut t, &attrs);
        } else if rest.starts_with("title")
            && rest[5..].starts_with(|c: char| c == '>' || c.is_ascii_whitespace())
            && t.title.is_none()
        {
            if let Some(close) = lower[end..].find("</title") {
                let text = decode(&html[end + 1..end + close]);
                let text = collapse(&text);
                if !text.is_empty() {
                    t.title = Some(text);
                }
            }
        } else if rest.starts_with("script") || rest.starts_with("style") {
            // Their text is not markup: skip to the closing tag.
            let name = if rest.starts_with("script") {
                "</script"
            } else {
                "</style"
            };
            at = lower[end..].find(name).map_or(lower.len(), |e| end + e);
            continue;
        }
        at = end + 1;
    }
    t
}

/// The `>` ending the tag opened at `start`, outside quoted values.
fn tag_end(lower: &str, start: usize) -> Option<usize> {
    let mut quote: Option<u8> = None;
    for (i, b) in lower.as_bytes()[start..].iter().enumerate() {
        match (quote, *b) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'') => quote = Some(*b),
            (None, b'>') => return Some(start + i),
            _ => {}
        }
    }
    None
}

/// `name="value"` pairs of a tag's inside (names lower-cased, values decoded).
fn attributes(s: &str) -> Vec<(String, String)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
            i += 1;
        }
        let n0 = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'/' {
            i += 1;
        }
        if n0 == i {
            i += 1;
            continue;
        }
        let name = s[n0..i].to_ascii_lowercase();
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < b.len() && b[i] == b'=' {
            i += 1;
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let value = if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                let q = b[i];
                let v0 = i + 1;
                let v1 = b[v0..]
                    .iter()
                    .position(|c| *c == q)
                    .map_or(b.len(), |p| v0 + p);
                i = (v1 + 1).min(b.len());
                &s[v0..v1]
            } else {
                let v0 = i;
                while i < b.len() && !b[i].is_ascii_whitespace() {
                    i += 1;
                }
                &s[v0..i]
            };
            out.push((name, decode(value)));
        } else {
            out.push((name, String::new()));
        }
    }
    out
}

fn meta(t: &mut Tags, attrs: &[(String, String)]) {
    let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let content = get("content").map(collapse);
    let Some(content) = content else { return };
    if get("http-equiv").is_some_and(|h| h.eq_ignore_ascii_case("refresh")) {
        if t.refresh.is_none() {
            let lower = content.to_ascii_lowercase();
            if let Some(p) = lower.find("url=") {
                let u = content[p + 4..]
                    .trim()
                    .trim_matches(|c| c == '\'' || c == '"');
                t.refresh = Some(u.to_string());
            }
        }
        return;
    }
    if content.is_empty() {
        return;
    }
    let key = get("property")
        .or(get("name"))
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let slot = match key.as_str() {
        "og:title" => &mut t.og_title,
        "og:description" => &mut t.og_description,
        "og:image" | "og:image:url" | "og:image:secure_url" => &mut t.og_image,
        "og:url" => &mut t.og_url,
        "og:site_name" => &mut t.og_site_name,
        "twitter:card" => &mut t.twitter_card,
        "twitter:title" => &mut t.twitter_title,
        "twitter:description" => &mut t.twitter_description,
        "twitter:image" | "twitter:image:src" => &mut t.twitter_image,
        "description" => &mut t.description,
        _ => return,
    };
    if slot.is_none() {
        *slot = Some(content);
    }
}

/// Whitespace runs as one space, trimmed.
fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Character references: the five named ones crawlers meet in tags, `&nbsp;`, and
/// numeric ones; anything else is left as written.
fn decode(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = rest.bytes().take(12).position(|c| c == b';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// An image's format and pixel size, read from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSize {
    pub format: &'static str,
    pub width: u32,
    pub height: u32,
}

/// The size of a PNG, GIF, JPEG or WebP image from its start (`None`: another format or
/// not enough bytes).
pub fn image_size(b: &[u8]) -> Option<ImageSize> {
    let be32 = |i: usize| -> Option<u32> {
        b.get(i..i + 4)
            .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    };
    let be16 = |i: usize| -> Option<u32> {
        b.get(i..i + 2)
            .map(|s| u32::from(u16::from_be_bytes([s[0], s[1]])))
    };
    let le16 = |i: usize| -> Option<u32> {
        b.get(i..i + 2)
            .map(|s| u32::from(u16::from_le_bytes([s[0], s[1]])))
    };
    let le24 = |i: usize| -> Option<u32> {
        b.get(i..i + 3)
            .map(|s| u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
    };
    let size = |format, width, height| {
        Some(ImageSize {
            format,
            width,
            height,
        })
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") && b.get(12..16) == Some(b"IHDR") {
        return size("png", be32(16)?, be32(20)?);
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return size("gif", le16(6)?, le16(8)?);
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return match b.get(12..16)? {
            b"VP8 " => size("webp", le16(26)? & 0x3fff, le16(28)? & 0x3fff),
            b"VP8L" => {
                let bits = le24(21)? | u32::from(*b.get(24)?) << 24;
                size("webp", (bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1)
            }
            b"VP8X" => size("webp", le24(24)? + 1, le24(27)? + 1),
            _ => None,
        };
    }
    if b.starts_with(&[0xff, 0xd8]) {
        // Walk the segments to the first start-of-frame marker.
        let mut i = 2;
        while i + 4 <= b.len() {
            if b[i] != 0xff {
                return None;
            }
            let marker = b[i + 1];
            if marker == 0xff {
                i += 1;
                continue;
            }
            let len = be16(i + 2)? as usize;
            let sof = matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc);
            if sof {
                return size("jpeg", be16(i + 7)?, be16(i + 5)?);
            }
            i += 2 + len;
        }
        return None;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tags_crawlers_read() {
        let html = r#"<!doctype html><html><head>
            <title> Plain &amp; simple </title>
            <!-- <meta property="og:title" content="commented out"> -->
            <meta charset="utf-8">
            <META PROPERTY="og:title" CONTENT="L&#39;été &quot;chaud&quot;">
            <meta property='og:image' content='/img/a.png'>
            <meta property="og:image" content="/img/second.png">
            <meta name="twitter:card" content="summary_large_image">
            <meta name=description content=short>
            <script>var s = '<meta property="og:description" content="in a script">';</script>
            <meta http-equiv="refresh" content="0; URL='/elsewhere'">
            </head><body></body></html>"#;
        let t = read_tags(html);
        assert_eq!(t.og_title.as_deref(), Some("L'été \"chaud\""));
        assert_eq!(t.og_image.as_deref(), Some("/img/a.png"));
        assert_eq!(t.twitter_card.as_deref(), Some("summary_large_image"));
        assert_eq!(t.description.as_deref(), Some("short"));
        assert_eq!(t.og_description, None);
        assert_eq!(t.title.as_deref(), Some("Plain & simple"));
        assert_eq!(t.refresh.as_deref(), Some("/elsewhere"));
        assert_eq!(t.card_title(), Some("L'été \"chaud\""));
        assert_eq!(t.card_description(), Some("short"));
    }

    #[test]
    fn survives_broken_markup() {
        for html in [
            "<meta",
            "<meta property=\"og:title",
            "<<<>>>",
            "&#xffffffff;",
            "<title>x",
        ] {
            let _ = read_tags(html);
        }
        assert_eq!(decode("a &bogus; &#x41; &#66;"), "a &bogus; A B");
    }

    #[test]
    fn image_sizes() {
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
        png.extend_from_slice(&1200u32.to_be_bytes());
        png.extend_from_slice(&630u32.to_be_bytes());
        assert_eq!(
            image_size(&png),
            Some(ImageSize {
                format: "png",
                width: 1200,
                height: 630
            })
        );
        let gif = b"GIF89a\x10\x00\x20\x00";
        assert_eq!(image_size(gif).map(|s| (s.width, s.height)), Some((16, 32)));
        // JPEG: SOI, an APP0 segment of 16 bytes, then SOF0 with 100 × 50.
        let mut jpg = vec![0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10];
        jpg.extend_from_slice(&[0; 14]);
        jpg.extend_from_slice(&[0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 0x32, 0x00, 0x64]);
        assert_eq!(
            image_size(&jpg),
            Some(ImageSize {
                format: "jpeg",
                width: 100,
                height: 50
            })
        );
        assert_eq!(image_size(b"not an image"), None);
        assert_eq!(image_size(&png[..18]), None);
    }
}
