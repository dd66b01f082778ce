//! CSV exports: UTF-8, a header row, RFC 4180 quoting, and spreadsheet-formula cells
//! neutralised (a cell that a spreadsheet would evaluate gets a leading `'`).

/// A cell that a spreadsheet could run as a formula, made inert: values starting with
/// `=`, `+`, `-`, `@`, a tab or a carriage return get a leading single quote.
pub fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_string(),
    }
}

/// One cell, neutralised then quoted when it holds a comma, quote or line break.
pub fn cell(raw: &str) -> String {
    let v = neutralise(raw);
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

/// Rows of cells to CSV text (CRLF line ends, as RFC 4180 says).
pub fn write(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::new();
    let line = |cells: &mut dyn Iterator<Item = String>, out: &mut String| {
        let joined: Vec<String> = cells.collect();
        out.push_str(&joined.join(","));
        out.push_str("\r\n");
    };
    line(&mut header.iter().map(|h| cell(h)), &mut out);
    for r in rows {
        line(&mut r.iter().map(|c| cell(c)), &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised() {
        assert_eq!(
            neutralise("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(neutralise("+33 6"), "'+33 6");
        assert_eq!(neutralise("-1+1"), "'-1+1");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("\t=1"), "'\t=1");
        assert_eq!(neutralise("\r=1"), "'\r=1");
        assert_eq!(neutralise("/blog/a=b"), "/blog/a=b");
        assert_eq!(neutralise("whatsapp"), "whatsapp");
        assert_eq!(neutralise(""), "");
    }

    #[test]
    fn quoting() {
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=1,2"), "\"'=1,2\"");
        assert_eq!(cell("\r=cmd"), "\"'\r=cmd\"");
        let text = write(
            &["page", "visitors"],
            &[
                vec!["/a".into(), "3".into()],
                vec!["=cmd|' /C calc'!A0".into(), "1".into()],
            ],
        );
        assert_eq!(text, "page,visitors\r\n/a,3\r\n'=cmd|' /C calc'!A0,1\r\n");
    }
}
