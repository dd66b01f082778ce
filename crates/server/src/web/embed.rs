//! Shared dashboards framed by other sites (issue 23). A site's owner lists the origins
//! allowed to embed its *shared* dashboard (`SiteOptions::embed_origins`, checked by
//! `core::embed`). A successful `/share/{token}…` answer of such a site gets the
//! dashboard's Content-Security-Policy with `frame-ancestors 'self' <origins>`; the
//! router's outer layer then adds no `X-Frame-Options` (see [`deny_framing`]). Every
//! other answer keeps `frame-ancestors 'none'` and `X-Frame-Options: DENY`: pages behind
//! a login are never frameable, so a login cookie never rides in a frame.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use super::auth::shared_access;
use crate::state::AppState;

/// The shared link's token of a `/share/{token}…` path.
fn share_token(path: &str) -> Option<&str> {
    path.strip_prefix("/share/")?
        .split('/')
        .next()
        .filter(|t| !t.is_empty())
}

/// The dashboard's policy with framing allowed for `origins` (none: unchanged).
pub fn policy_for(origins: &[String]) -> String {
    crate::CSP.replace(
        "frame-ancestors 'none'",
        &format!(
            "frame-ancestors {}",
            lucarne_core::embed::frame_ancestors(origins)
        ),
    )
}

/// Middleware on the HTML routes: a shared page of a site with embed origins may be
/// framed by them.
pub async fn allow_embedding(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let token = share_token(req.uri().path()).map(str::to_string);
    let mut resp = next.run(req).await;
    let Some(token) = token else {
        return resp;
    };
    if !resp.status().is_success() {
        return resp;
    }
    // The same lookups the page made (the site's options are cached).
    let Ok(access) = shared_access(&state, &token).await else {
        return resp;
    };
    let origins = match state.site_options(access.site.id).await {
        Ok(o) => o.embed_origins,
        Err(e) => {
            tracing::warn!(message = "Site options unavailable; the shared page is not frameable.", error = %e);
            return resp;
        }
    };
    if origins.is_empty() {
        return resp;
    }
    if let Ok(v) = HeaderValue::from_str(&policy_for(&origins)) {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}

/// The router's outermost header rule: `X-Frame-Options: DENY` unless the answer's
/// policy names who may frame it (older browsers read only this header; newer ones
/// prefer `frame-ancestors`).
pub async fn deny_framing(mut resp: Response) -> Response {
    let framable = resp
        .headers()
        .get(header::CONTENT_SECURITY_POLICY)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.contains("frame-ancestors 'self' "));
    if !framable && !resp.headers().contains_key(header::X_FRAME_OPTIONS) {
        resp.headers_mut()
            .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_policies() {
        assert_eq!(share_token("/share/abc"), Some("abc"));
        assert_eq!(share_token("/share/abc/shares"), Some("abc"));
        assert_eq!(share_token("/share/"), None);
        assert_eq!(share_token("/sites/a/share/x"), None);
        let p = policy_for(&["https://blog.example.com".to_string()]);
        assert!(
            p.ends_with("frame-ancestors 'self' https://blog.example.com"),
            "{p}"
        );
        assert!(
            p.starts_with("default-src 'self'; script-src 'self';"),
            "{p}"
        );
        assert_eq!(policy_for(&[]), crate::CSP);
    }
}
