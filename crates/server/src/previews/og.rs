//! `GET /og/{domain}?img=<image URL>&p=<page path>`: an `og:image` pass-through.
//!
//! A page declares `<meta property="og:image"
//! content="https://stats.example.com/og/example.com?img=https%3A%2F%2Fexample.com%2Fcover.jpg&p=%2Fpost">`.
//! Browsers never load it; the preview fetchers of messaging apps do, when someone pastes
//! the page's link. A preview fetcher's request records a `preview` event for the page
//! (`props.app`) before the redirect; any other client just gets the redirect.
//!
//! No open redirect: the image must be an http(s) URL, without credentials, on the
//! site's domain (or a subdomain) or one of its allowed hostnames; anything else is a
//! 400. An unknown site is a 404.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use lucarne_core::url_clean::{clean_url, normalise_host, CleanUrl};
use lucarne_core::visitor::visitor_id;
use lucarne_store::meta::Site;
use url::Url;

use super::{preview_row, Fetch};
use crate::error::ApiError;
use crate::ingest::pipeline::{host_allowed, MAX_URL};
use crate::state::AppState;

/// The image to redirect to: absolute http(s), no credentials, on the site.
fn image_url(site: &Site, img: Option<&str>) -> Result<Url, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "bad_image",
            "`img` must be an absolute http(s) URL on the site's domain or one of its allowed \
             hostnames",
        )
    };
    let img = img
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .ok_or_else(bad)?;
    if img.len() > MAX_URL {
        return Err(bad());
    }
    let url = Url::parse(img).map_err(|_| bad())?;
    let on_site = matches!(url.scheme(), "http" | "https")
        && url.username().is_empty()
        && url.password().is_none()
        && url
            .host_str()
            .is_some_and(|h| host_allowed(site, &normalise_host(h)));
    if on_site {
        Ok(url)
    } else {
        Err(bad())
    }
}

/// The page the image illustrates: a path (`/post`) or an absolute URL on the site.
fn page_url(site: &Site, p: Option<&str>) -> Result<CleanUrl, ApiError> {
    let bad = || {
        ApiError::bad_request(
            "bad_page",
            "`p` must be the page's path (/post) or its absolute URL on the site",
        )
    };
    let p = p.map(str::trim).filter(|p| !p.is_empty()).ok_or_else(bad)?;
    if p.len() > MAX_URL {
        return Err(bad());
    }
    let raw = if p.starts_with('/') && !p.starts_with("//") {
        format!("https://{}{p}", site.domain)
    } else {
        p.to_string()
    };
    let page = clean_url(&raw).map_err(|_| bad())?;
    if host_allowed(site, &page.host) {
        Ok(page)
    } else {
        Err(bad())
    }
}

/// The first value of each of `img` and `p` in the query string.
fn params(query: Option<&str>) -> (Option<String>, Option<String>) {
    let (mut img, mut p) = (None, None);
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "img" if img.is_none() => img = Some(v.into_owned()),
            "p" if p.is_none() => p = Some(v.into_owned()),
            _ => {}
        }
    }
    (img, p)
}

/// `GET|HEAD /og/{domain}`.
pub async fn og_image(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    match handle(&state, peer, &headers, &domain, query.as_deref()).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn handle(
    state: &AppState,
    peer: SocketAddr,
    headers: &HeaderMap,
    domain: &str,
    query: Option<&str>,
) -> Result<Response, ApiError> {
    let ip = state.client_ip(peer.ip(), headers);
    let limits = &state.rate_limits;
    if let Err(wait) = limits.og(ip) {
        state
            .metrics
            .drop(crate::ingest::pipeline::DropReason::ClientRateLimited);
        return Err(ApiError::too_many(
            "client_rate_limited",
            "too many requests from this client; retry shortly",
            u32::try_from(wait.as_secs()).unwrap_or(u32::MAX).max(1),
        ));
    }
    let site = state
        .site(&normalise_host(domain))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_site", format!("no site `{domain}`")))?;
    let (img, p) = params(query);
    let image = image_url(&site, img.as_deref())?;
    let page = page_url(&site, p.as_deref())?;
    let location = HeaderValue::from_str(image.as_str()).map_err(|_| {
        ApiError::bad_request("bad_image", "`img` cannot be used as a redirect address")
    })?;
    let user_agent: String = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .take(1000)
        .collect();
    let preview = state.ua_facts(&user_agent).request.preview.clone();
    // Past the site's share, the image still follows; the fetch is not recorded.
    let site_ok = preview.is_some() && limits.site.check(u64::from(site.id)).is_ok();
    if preview.is_some() && !site_ok {
        state
            .metrics
            .drop(crate::ingest::pipeline::DropReason::SiteRateLimited);
    }
    if let Some(app) = preview.filter(|_| site_ok) {
        let (salt, _) = state.salts_now();
        let fetch = Fetch {
            app: &app,
            at: Utc::now(),
            visitor_id: visitor_id(&salt, site.id, &ip.to_string(), &user_agent),
            user_agent: &user_agent,
            country: state.country(ip, headers),
        };
        let row = preview_row(state, &site, &page, fetch);
        // Durable before the redirect; a full queue loses the event, never the image.
        if let Err(reason) = crate::ingest::enqueue(state, vec![row]).await {
            state.metrics.drop(reason);
            tracing::debug!(
                message = "Preview event not stored.",
                reason = reason.as_str()
            );
        }
    }
    let mut r = StatusCode::FOUND.into_response();
    let h = r.headers_mut();
    h.insert(header::LOCATION, location);
    // Every fetch must reach Lucarne to be counted.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> Site {
        Site {
            id: 1,
            domain: "example.com".into(),
            timezone: "UTC".into(),
            allowed_hostnames: vec!["cdn.example.net".into()],
        }
    }

    #[test]
    fn images_must_be_on_the_site() {
        let s = site();
        for ok in [
            "https://example.com/og.png",
            "http://www.example.com/og.png?v=2",
            "https://img.example.com/a/b.jpg",
            "https://cdn.example.net/x.webp",
        ] {
            assert!(image_url(&s, Some(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/og.png",
            "//evil.example/og.png",
            "https://evil.example/og.png",
            "https://example.com.evil.example/og.png",
            "https://badexample.com/og.png",
            "https://user:pw@example.com/og.png",
            "javascript:alert(1)",
            "data:image/png;base64,AAAA",
            "ftp://example.com/og.png",
            "https://cdn.example.net.evil.example/",
        ] {
            assert!(image_url(&s, Some(bad)).is_err(), "{bad}");
        }
        assert!(image_url(&s, None).is_err());
        let long = format!("https://example.com/{}", "a".repeat(2100));
        assert!(image_url(&s, Some(&long)).is_err());
    }

    #[test]
    fn pages_are_paths_or_urls_on_the_site() {
        let s = site();
        let p = page_url(
            &s,
            Some("/blog/post/?utm_source=newsletter&x=1#lc=AAAAAAAAAAB"),
        )
        .expect("path");
        assert_eq!(
            (p.host.as_str(), p.path.as_str(), p.utm.source.as_deref()),
            ("example.com", "/blog/post", Some("newsletter"))
        );
        let p = page_url(&s, Some("https://www.example.com/a")).expect("url");
        assert_eq!(p.path, "/a");
        for bad in [
            "",
            "post",
            "//evil.example/x",
            "https://evil.example/a",
            "javascript:x",
        ] {
            assert!(page_url(&s, Some(bad)).is_err(), "{bad}");
        }
        assert!(page_url(&s, None).is_err());
    }

    #[test]
    fn first_values_win() {
        let (img, p) = params(Some(
            "p=%2Fa&img=https%3A%2F%2Fexample.com%2Fx.png&img=https://evil.example/&p=/b",
        ));
        assert_eq!(img.as_deref(), Some("https://example.com/x.png"));
        assert_eq!(p.as_deref(), Some("/a"));
        assert_eq!(params(None), (None, None));
    }
}
