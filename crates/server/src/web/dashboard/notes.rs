//! Annotations on the overview (issue 23): which chart bucket each note marks, the
//! list of the period's notes under the chart, and the owners' add and delete forms
//! (`POST /sites/{domain}`, CSRF-checked, back to the same view).

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::Form;
use chrono::NaiveDate;
use lucarne_core::annotations::{clean_note, parse_day, AnnotationError};
use lucarne_store::meta::Annotation;
use maud::{html, Markup};
use serde::Deserialize;
use tracing::info;

use super::i18n::Lang;
use crate::state::AppState;
use crate::web::auth::{owner_access, redirect, verify_csrf, Session, WebError};

/// The site-local first day of a bucket label (`YYYY-MM-DD` or `YYYY-MM-DD HH:00:00`).
fn label_day(label: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(label.get(..10)?, "%Y-%m-%d").ok()
}

/// For each bucket (by its label, in order), the notes it marks: a note marks the
/// bucket holding its day (for hours, the day's first hour). Notes outside the buckets
/// mark none.
pub fn per_bucket<'a>(labels: &[&str], notes: &'a [Annotation]) -> Vec<Vec<&'a str>> {
    let days: Vec<Option<NaiveDate>> = labels.iter().map(|l| label_day(l)).collect();
    let mut out: Vec<Vec<&str>> = vec![Vec::new(); labels.len()];
    for n in notes {
        // The last bucket starting on or before the day, then back to the first bucket
        // starting that same day (hours share a day).
        let Some(mut i) = days.iter().rposition(|d| d.is_some_and(|d| d <= n.day)) else {
            continue;
        };
        while i > 0 && days[i - 1] == days[i] {
            i -= 1;
        }
        // A day past the last bucket's start is in it only for days or longer buckets
        // (the caller's notes are those of the range).
        if let Some(slot) = out.get_mut(i) {
            slot.push(n.note.as_str());
        }
    }
    out
}

/// The period's notes, and for owners (`csrf` given) a delete button on each and the
/// form to add one. `action` is the overview's own URL (path and query).
pub fn markup(lang: Lang, notes: &[Annotation], csrf: Option<&str>, action: &str) -> Markup {
    if notes.is_empty() && csrf.is_none() {
        return html! {};
    }
    html! {
        section class="notes" id="notes" aria-label=(lang.t("notes")) {
            @if !notes.is_empty() {
                ul class="notes-list" {
                    @for n in notes {
                        li data-note=(n.id) {
                            time datetime=(n.day.to_string()) { (lang.date(n.day)) }
                            " "
                            span class="note-text" { (n.note) }
                            @if let Some(a) = &n.author { " " small class="note-author" { "— " (a) } }
                            @if let Some(c) = csrf {
                                form method="post" action=(action) class="inline" {
                                    input type="hidden" name="csrf" value=(c);
                                    input type="hidden" name="action" value="delete_note";
                                    input type="hidden" name="id" value=(n.id);
                                    button type="submit" class="link-button" { (lang.t("note_delete")) }
                                }
                            }
                        }
                    }
                }
            }
            @if let Some(c) = csrf {
                details class="note-add" {
                    summary { (lang.t("note_add")) }
                    form method="post" action=(action) {
                        input type="hidden" name="csrf" value=(c);
                        input type="hidden" name="action" value="add_note";
                        label { (lang.t("note_date")) input type="date" name="date" required; }
                        label { (lang.t("note_text"))
                            input type="text" name="note" required maxlength=(lucarne_core::annotations::MAX_NOTE_CHARS); }
                        button type="submit" { (lang.t("note_save")) }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NoteForm {
    csrf: String,
    action: String,
    date: String,
    note: String,
    id: String,
}

fn refused(lang: Lang, e: AnnotationError) -> WebError {
    let key = match e {
        AnnotationError::BadDate => "note_bad_date",
        AnnotationError::EmptyNote => "note_empty",
        AnnotationError::LongNote => "note_long",
    };
    WebError::BadRequest(lang.t(key).to_string())
}

/// `POST /sites/{domain}`: add or delete an annotation, then back to the same view.
pub async fn submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
    Form(f): Form<NoteForm>,
) -> Result<Response, WebError> {
    let access = owner_access(&state, &session, &domain).await?;
    verify_csrf(&session, &f.csrf)?;
    let site_id = access.site.id;
    match f.action.as_str() {
        "add_note" => {
            let day = parse_day(&f.date).map_err(|e| refused(lang, e))?;
            let note = clean_note(&f.note).map_err(|e| refused(lang, e))?;
            let a = state
                .meta
                .create_annotation(site_id, day, &note, Some(session.user.id))
                .await?
                .ok_or_else(|| WebError::BadRequest(lang.t("note_too_many").to_string()))?;
            info!(
                message = "Annotation added from the dashboard.",
                site_id,
                annotation_id = a.id,
                user_id = session.user.id
            );
        }
        "delete_note" => {
            let id = crate::web::auth::row_id(&f.id)?;
            if !state.meta.delete_annotation(site_id, id).await? {
                return Err(WebError::NotFound);
            }
            info!(
                message = "Annotation deleted from the dashboard.",
                site_id,
                annotation_id = id,
                user_id = session.user.id
            );
        }
        _ => return Err(WebError::BadRequest(lang.t("note_bad_action").to_string())),
    }
    let path = format!(
        "/sites/{}",
        url::form_urlencoded::byte_serialize(access.site.domain.as_bytes()).collect::<String>()
    );
    Ok(redirect(&match query.filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}#notes"),
        None => format!("{path}#notes"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(day: &str, text: &str) -> Annotation {
        Annotation {
            id: 1,
            site_id: 1,
            day: NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap_or_default(),
            note: text.into(),
            author: None,
        }
    }

    #[test]
    fn notes_mark_the_bucket_of_their_day() {
        let notes = [
            note("2026-12-02", "a"),
            note("2026-12-02", "b"),
            note("2026-12-09", "c"),
            note("2026-11-01", "before"),
        ];
        let days = ["2026-12-01", "2026-12-02", "2026-12-03"];
        assert_eq!(
            per_bucket(&days, &notes),
            vec![vec![], vec!["a", "b"], vec!["c"]]
        );
        // Weeks: the week starting on or before the day.
        let weeks = ["2026-11-30", "2026-12-07"];
        assert_eq!(per_bucket(&weeks, &notes), vec![vec!["a", "b"], vec!["c"]]);
        // Hours: the day's first hour.
        let hours = [
            "2026-12-01 23:00:00",
            "2026-12-02 00:00:00",
            "2026-12-02 01:00:00",
        ];
        assert_eq!(
            per_bucket(&hours, &notes[..2]),
            vec![vec![], vec!["a", "b"], vec![]]
        );
    }
}
