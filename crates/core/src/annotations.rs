//! Annotations: a note on one day of a site's chart ("newsletter sent", "launch on
//! Hacker News"). What a valid note and day are; storing them is the metadata store's.

use chrono::NaiveDate;

/// Longest note, in characters (a chart tooltip, not an essay).
pub const MAX_NOTE_CHARS: usize = 280;

/// Why an annotation was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnotationError {
    /// Not a `YYYY-MM-DD` date between 1970 and 9999.
    BadDate,
    /// Empty once control characters and surrounding spaces are removed.
    EmptyNote,
    /// Longer than [`MAX_NOTE_CHARS`].
    LongNote,
}

impl std::fmt::Display for AnnotationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnnotationError::BadDate => f.write_str("`date` must be a day as YYYY-MM-DD"),
            AnnotationError::EmptyNote => f.write_str("`note` must not be empty"),
            AnnotationError::LongNote => {
                write!(f, "`note` is longer than {MAX_NOTE_CHARS} characters")
            }
        }
    }
}

impl std::error::Error for AnnotationError {}

/// A day as an annotation takes it: `YYYY-MM-DD`, within the years reports handle.
pub fn parse_day(s: &str) -> Result<NaiveDate, AnnotationError> {
    let d =
        NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| AnnotationError::BadDate)?;
    let year = chrono::Datelike::year(&d);
    if (1970..=9999).contains(&year) {
        Ok(d)
    } else {
        Err(AnnotationError::BadDate)
    }
}

/// The note as stored: control characters (newlines included) become spaces, runs of
/// white space one space, trimmed; refused when empty or too long (never cut silently).
pub fn clean_note(s: &str) -> Result<String, AnnotationError> {
    let spaced: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let note = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    if note.is_empty() {
        Err(AnnotationError::EmptyNote)
    } else if note.chars().count() > MAX_NOTE_CHARS {
        Err(AnnotationError::LongNote)
    } else {
        Ok(note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_notes() {
        assert_eq!(
            parse_day(" 2026-12-07 "),
            Ok(NaiveDate::from_ymd_opt(2026, 12, 7).unwrap_or_default())
        );
        for bad in [
            "",
            "2026-13-01",
            "07/12/2026",
            "1969-12-31",
            "2026-12-07T10:00",
        ] {
            assert_eq!(parse_day(bad), Err(AnnotationError::BadDate), "{bad}");
        }
        assert_eq!(
            clean_note("  Launch\n\ton  HN\u{0}! "),
            Ok("Launch on HN !".into())
        );
        assert_eq!(clean_note(" \n\u{7f} "), Err(AnnotationError::EmptyNote));
        let long = "é".repeat(MAX_NOTE_CHARS);
        assert_eq!(clean_note(&long), Ok(long.clone()));
        assert_eq!(
            clean_note(&format!("{long}x")),
            Err(AnnotationError::LongNote)
        );
    }
}
