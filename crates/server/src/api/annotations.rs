//! Annotations (issue 23): a note on a day of a site's chart.
//! - `GET /api/v1/annotations?site_id=…[&from=YYYY-MM-DD][&to=YYYY-MM-DD]`: the site's
//!   notes, by day (read access);
//! - `POST /api/v1/annotations` `{"site_id", "date", "note"}`: add one (owners' keys);
//! - `DELETE /api/v1/annotations/{id}?site_id=…`: remove one (owners' keys).
//!
//! The dashboard's chart shows the same notes (`web::dashboard`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use lucarne_core::annotations::{clean_note, parse_day, AnnotationError};
use lucarne_store::meta::{Annotation, MAX_ANNOTATIONS};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::stats::require_key;
use crate::api::links::{deleted, parse_body, site_for, Need, SiteParam};
use crate::error::{ApiError, Path, Query};
use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/api/v1/annotations", get(list).post(create))
        .route("/api/v1/annotations/{id}", delete(remove))
}

/// An annotation as the API gives it.
#[derive(Debug, Clone, Serialize)]
pub struct AnnotationJson {
    pub id: i64,
    /// The site-local day, `YYYY-MM-DD`.
    pub date: String,
    pub note: String,
    /// Who wrote it in the dashboard (null through the API or once the account is gone).
    pub author: Option<String>,
}

impl AnnotationJson {
    pub fn of(a: &Annotation) -> AnnotationJson {
        AnnotationJson {
            id: a.id,
            date: a.day.to_string(),
            note: a.note.clone(),
            author: a.author.clone(),
        }
    }
}

/// The 400 of a refused date or note.
pub fn annotation_error(e: AnnotationError) -> ApiError {
    let code = match e {
        AnnotationError::BadDate => "bad_date",
        AnnotationError::EmptyNote | AnnotationError::LongNote => "bad_note",
    };
    ApiError::bad_request(code, e.to_string())
}

#[derive(Deserialize)]
struct ListParams {
    site_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

async fn list(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<ListParams>,
) -> Result<Json<Value>, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let site = site_for(&state, &scope, p.site_id.as_deref(), Need::Read).await?;
    let day = |s: Option<&str>| s.map(parse_day).transpose().map_err(annotation_error);
    let (from, to) = (day(p.from.as_deref())?, day(p.to.as_deref())?);
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(ApiError::bad_request(
                "bad_date",
                "`from` must not be after `to`",
            ));
        }
    }
    let notes = state.meta.annotations(site.id, from, to).await?;
    Ok(Json(json!({
        "annotations": notes.iter().map(AnnotationJson::of).collect::<Vec<_>>()
    })))
}

#[derive(Deserialize)]
struct CreateBody {
    site_id: Option<String>,
    date: Option<String>,
    note: Option<String>,
}

async fn create(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let b: CreateBody = parse_body(&body)?;
    let site = site_for(&state, &scope, b.site_id.as_deref(), Need::Write).await?;
    let day = parse_day(b.date.as_deref().unwrap_or("")).map_err(annotation_error)?;
    let note = clean_note(b.note.as_deref().unwrap_or("")).map_err(annotation_error)?;
    match state
        .meta
        .create_annotation(site.id, day, &note, None)
        .await?
    {
        Some(a) => {
            tracing::info!(
                message = "Annotation added.",
                site_id = site.id,
                annotation_id = a.id
            );
            Ok((StatusCode::CREATED, Json(AnnotationJson::of(&a))).into_response())
        }
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_annotations",
            format!("a site keeps at most {MAX_ANNOTATIONS} annotations: delete some first"),
        )),
    }
}

async fn remove(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Query(p): Query<SiteParam>,
) -> Result<Response, ApiError> {
    let scope = require_key(&state, &headers).await?;
    let site = site_for(&state, &scope, p.site_id.as_deref(), Need::Write).await?;
    let gone = state.meta.delete_annotation(site.id, id).await?;
    deleted(gone, "annotation", "unknown_annotation", site.id, id)
}
