//! Browser scripts, compiled into the binary.

use axum::http::header;
use axum::response::{IntoResponse, Response};

pub const TRACKER_JS: &str = include_str!("../../../web/script.js");
/// The share buttons and copied-text attribution (`web/share.js`).
pub const SHARE_JS: &str = include_str!("../../../web/share.js");
/// Outbound links, downloads, forms, tagged elements and 404 pages as events, opt-in
/// beside the tracker (`web/events.js`).
pub const EVENTS_JS: &str = include_str!("../../../web/events.js");
/// Scroll depth and time on page, opt-in beside the tracker (`web/engagement.js`).
pub const ENGAGEMENT_JS: &str = include_str!("../../../web/engagement.js");
/// The "How did you hear about us?" question (`web/survey.js`).
pub const SURVEY_JS: &str = include_str!("../../../web/survey.js");
/// The OpenAPI 3 description of the JSON APIs.
pub const OPENAPI_JSON: &str = include_str!("../../../web/openapi.json");

fn js(body: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                "application/javascript; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        body,
    )
        .into_response()
}

/// `GET /js/script.js`
pub async fn tracker() -> Response {
    js(TRACKER_JS)
}

/// `GET /js/share.js`
pub async fn share() -> Response {
    js(SHARE_JS)
}

/// `GET /js/events.js`
pub async fn events() -> Response {
    js(EVENTS_JS)
}

/// `GET /js/engagement.js`
pub async fn engagement() -> Response {
    js(ENGAGEMENT_JS)
}

/// `GET /js/survey.js`
pub async fn survey() -> Response {
    js(SURVEY_JS)
}

/// `GET /api/openapi.json`
pub async fn openapi() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        OPENAPI_JSON,
    )
        .into_response()
}
