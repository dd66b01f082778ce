//! Text that reaches storage: no control characters.
//!
//! A control character is Unicode's `Cc` category ([`char::is_control`]): the C0
//! controls U+0000–U+001F (NUL, tab, newlines, escape, and U+001F, the separator of the
//! stored props columns), DEL U+007F and the C1 controls U+0080–U+009F. None of them
//! belongs in a page path, a label or a property, and in storage they break exports,
//! log lines and terminals, or the props columns' layout.
//!
//! Two ways to keep them out, chosen per field:
//! - **percent-encode** ([`encode_controls`]) where the text is part of a URL (page and
//!   referrer paths), as browsers do: `/a%00b` stays readable and distinct from `/ab`;
//! - **strip** ([`clean_text`]) where it is a free-form value (UTM values, property
//!   values), and **refuse** ([`has_control`]) where it is an identifier the sender
//!   chose (event names).

use std::borrow::Cow;
use std::fmt::Write;

/// Does `s` contain a control character (C0, DEL or C1)?
pub fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// `s` without control characters and surrounding white space, cut to `max_chars`
/// characters; `None` when nothing is left.
pub fn clean_text(s: &str, max_chars: usize) -> Option<String> {
    let kept: String = s.chars().filter(|c| !c.is_control()).collect();
    let out: String = kept.trim().chars().take(max_chars).collect();
    let out = out.trim_end();
    (!out.is_empty()).then(|| out.to_string())
}

/// `s` with every control character percent-encoded as its UTF-8 bytes (`\0` → `%00`,
/// U+0085 → `%C2%85`); everything else as it is.
pub fn encode_controls(s: &str) -> Cow<'_, str> {
    if !has_control(s) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                // Writing to a String cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Cut `s` to at most `max_bytes` bytes, on a character boundary.
pub fn truncate_bytes(s: &mut String, max_bytes: usize) {
    if s.len() > max_bytes {
        let mut cut = max_bytes;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_found() {
        for s in [
            "a\0b",
            "\t",
            "x\n",
            "\r",
            "\u{1b}[31m",
            "\u{1f}",
            "\u{7f}",
            "\u{85}",
            "\u{9f}",
        ] {
            assert!(has_control(s), "{s:?}");
        }
        for s in [
            "", "plain", "café", "a b", "\u{a0}", "\u{200b}", "日本", "😀",
        ] {
            assert!(!has_control(s), "{s:?}");
        }
    }

    #[test]
    fn text_cleaned() {
        let cases: [(&str, usize, Option<&str>); 10] = [
            ("pro", 10, Some("pro")),
            ("  pro  ", 10, Some("pro")),
            ("p\0r\no", 10, Some("pro")),
            ("\u{1b}[31mred", 10, Some("[31mred")),
            ("a\u{7f}b\u{85}c\u{9f}", 10, Some("abc")),
            ("\0\n\t ", 10, None),
            ("", 10, None),
            ("abcdef", 3, Some("abc")),
            ("ab cdef", 3, Some("ab")),
            ("ééé", 2, Some("éé")),
        ];
        for (input, max, want) in cases {
            assert_eq!(clean_text(input, max).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn controls_encoded() {
        let cases = [
            ("/plain/path", "/plain/path"),
            ("/a\0b", "/a%00b"),
            ("/a\r\nSet-Cookie: x", "/a%0D%0ASet-Cookie: x"),
            ("/\u{7f}", "/%7F"),
            ("/\u{85}", "/%C2%85"),
            ("/café\u{1f}", "/café%1F"),
        ];
        for (input, want) in cases {
            assert_eq!(encode_controls(input), want, "{input:?}");
            assert!(!has_control(&encode_controls(input)));
        }
        assert!(matches!(encode_controls("/ok"), Cow::Borrowed(_)));
    }

    #[test]
    fn truncated_on_char_boundary() {
        let mut s = "aé".to_string();
        truncate_bytes(&mut s, 2);
        assert_eq!(s, "a");
        let mut s = "abc".to_string();
        truncate_bytes(&mut s, 5);
        assert_eq!(s, "abc");
    }
}
