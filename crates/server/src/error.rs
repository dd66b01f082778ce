//! One error type for HTTP handlers: a status, a stable machine-readable reason and a
//! human message, rendered as `{"error": …, "reason": …}`. Internal details are logged,
//! never sent.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::FromRequestParts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// `axum::extract::Query` whose rejection is a JSON [`ApiError`] (axum's own answers
/// plain text), so a malformed query string gets the same shape of 400 as any bad input.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with a JSON [`ApiError`] rejection.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> Self {
        ApiError::bad_request("bad_query", e.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(e: PathRejection) -> Self {
        match e {
            PathRejection::FailedToDeserializePathParams(e) => {
                ApiError::bad_request("bad_path", e.body_text())
            }
            other => ApiError::internal("path parameters", other.body_text()),
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub reason: &'static str,
    pub message: String,
    pub retry_after: Option<u32>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.reason,
            self.message
        )
    }
}

impl ApiError {
    pub fn new(status: StatusCode, reason: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            reason,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn bad_request(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, reason, message)
    }
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API key is required: Authorization: Bearer <key>",
        )
    }
    pub fn forbidden(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, reason, message)
    }
    pub fn too_many(reason: &'static str, message: impl Into<String>, retry_after: u32) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, reason, message)
        }
    }
    /// A store this request needs is out of reach: 503 with a short Retry-After, logged
    /// with its cause. Never answered as if the store had said "nothing".
    pub fn unavailable(reason: &'static str, err: impl std::fmt::Display) -> Self {
        tracing::error!(message = "A store is unavailable.", reason, error = %err);
        ApiError {
            retry_after: Some(5),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                reason,
                "a store is temporarily unavailable; retry shortly",
            )
        }
    }
    pub fn not_found(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, reason, message)
    }
    /// A server-side failure: logged with its cause, answered without it.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> Self {
        tracing::error!(message = "Request failed.", context, error = %err);
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error",
        )
    }
}

/// Metadata-store errors: a conflict the caller caused is a 4xx; anything else means the
/// store could not answer, which is a 503 (never a silent default).
impl From<lucarne_store::meta::MetaError> for ApiError {
    fn from(e: lucarne_store::meta::MetaError) -> Self {
        use lucarne_store::meta::MetaError;
        match e {
            MetaError::SlugTaken(s) => ApiError::new(
                StatusCode::CONFLICT,
                "slug_taken",
                format!("the slug `{s}` is taken on this domain"),
            ),
            MetaError::SiteExists(d) => ApiError::new(
                StatusCode::CONFLICT,
                "site_exists",
                format!("site `{d}` already exists"),
            ),
            MetaError::DomainTaken(d) => ApiError::forbidden(
                "domain_taken",
                format!("the short domain `{d}` belongs to another site"),
            ),
            MetaError::Invalid(m) => ApiError::bad_request("invalid", m),
            MetaError::Db(e) => ApiError::unavailable("meta_unavailable", e),
        }
    }
}

/// A refused funnel: a 400 whose reason is the error's stable code (`funnel_step_count`,
/// `funnel_bad_step`, `funnel_bad_name`).
impl From<lucarne_core::funnel::FunnelError> for ApiError {
    fn from(e: lucarne_core::funnel::FunnelError) -> Self {
        ApiError::bad_request(e.code(), e.to_string())
    }
}

/// A refused link: a 400 whose reason names the check (`bad_slug`, `target_not_http` …),
/// the stable codes API clients and the dashboard's messages key on.
impl From<lucarne_core::links::LinkError> for ApiError {
    fn from(e: lucarne_core::links::LinkError) -> Self {
        use lucarne_core::links::LinkError as E;
        let reason = match e {
            E::MissingUrl => "missing_url",
            E::BadSlug => "bad_slug",
            E::BadDomain => "bad_domain",
            E::TargetTooLong => "target_too_long",
            E::TargetNotHttp => "target_not_http",
            E::TargetUnparsable => "target_unparsable",
            E::TargetHasCredentials => "target_has_credentials",
            E::TargetPrivateNetwork => "target_private_network",
            E::LabelTooLong => "label_too_long",
            E::BadChannel => "bad_channel",
            E::BadRedirect => "bad_redirect",
            E::BadExpiry => "bad_expiry",
        };
        ApiError::bad_request(reason, e.to_string())
    }
}

/// Events-store errors: a full queue or a stopped writer is a 503 the client retries.
impl From<lucarne_store::StoreError> for ApiError {
    fn from(e: lucarne_store::StoreError) -> Self {
        use lucarne_store::StoreError;
        match e {
            StoreError::QueueFull => ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "queue_full",
                    "too many events at once; retry shortly",
                )
            },
            other => ApiError::unavailable("events_unavailable", other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message, "reason": self.reason });
        let mut resp = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
