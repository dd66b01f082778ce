//! Browser scripts, compiled into the binary.

use axum::http::header;
use axum::response::{IntoResponse, Response};

pub const TRACKER_JS: &str = include_str!("../../../web/script.js");

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
