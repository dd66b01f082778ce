//! Tracked short links through the real router and stores: the links API (validation,
//! campaigns, edits), every kind of request to a link (click, QR scan, preview fetch by
//! app, other bot, HEAD), expiry / disable / click limit pages, custom short domains, QR
//! codes, the landing visit's attribution, and the link report.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

const WHATSAPP_PREVIEW: &str = "WhatsApp/2.23.20.0 A";
const SLACK_PREVIEW: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

impl Harness {
    async fn call(&self, method: Method, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut b = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {}", self.key))
            .header("host", "stats.test");
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        let req = b
            .body(body.map_or(Body::empty(), |v| Body::from(v.to_string())))
            .expect("request");
        let (s, v, _) = self.send(req).await;
        (s, v)
    }

    /// A request to a short link, as a browser (or bot) at `ip` would make it.
    async fn follow(
        &self,
        method: Method,
        uri: &str,
        ua: &str,
        host: &str,
    ) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("user-agent", ua)
            .header("host", host)
            .body(Body::empty())
            .expect("request");
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 7], 4000))));
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        (status, headers, String::from_utf8_lossy(&bytes).into())
    }

    async fn link_stats(&self, id: i64) -> Value {
        let (s, v) = self
            .get(&format!("/api/v1/links/{id}/stats?period=day"))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }

    /// Link events are stored behind the redirect: wait until `pred` holds.
    async fn wait_stats(&self, id: i64, pred: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..100 {
            let v = self.link_stats(id).await;
            if pred(&v) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.link_stats(id).await
    }
}

fn location(h: &HeaderMap) -> String {
    h.get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn create_validate_and_follow_a_link() {
    let h = harness().await;
    let (s, l) = h
        .call(
            Method::POST,
            "/api/v1/links",
            Some(json!({"site_id": "example.com", "url": "https://example.com/spring-sale?ref=nl", "channel": "whatsapp", "campaign": "spring"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    let id = l["id"].as_i64().expect("id");
    let slug = l["slug"].as_str().expect("slug").to_string();
    assert_eq!(slug.len(), 7);
    assert_eq!(l["short_url"], format!("http://stats.test/l/{slug}"));
    assert!(l.get("warning").is_none(), "a public address: no warning");
    // Made through a loopback address, the link says its short URL and QR code only
    // work from here.
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v1/links")
        .header("authorization", format!("Bearer {}", h.key))
        .header("host", "127.0.0.1:8080")
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"site_id": "example.com", "url": "https://example.com/local"}).to_string(),
        ))
        .expect("request");
    let (s, local, _) = h.send(req).await;
    assert_eq!(s, StatusCode::CREATED, "{local}");
    assert!(local["short_url"]
        .as_str()
        .unwrap_or_default()
        .starts_with("http://127.0.0.1:8080/l/"));
    assert!(
        local["warning"]
            .as_str()
            .unwrap_or_default()
            .contains("--public-url"),
        "{local}"
    );
    assert_eq!(l["utm"]["source"], "whatsapp");
    assert_eq!(l["utm"]["medium"], "messaging");
    assert_eq!(l["utm"]["campaign"], "spring");

    // A person clicks: 302 to the target with the campaign's UTM and a fresh token.
    let (s, hd, _) = h
        .follow(
            Method::GET,
            &format!("/l/{slug}"),
            IPHONE_SAFARI,
            "stats.test",
        )
        .await;
    assert_eq!(s, StatusCode::FOUND);
    let loc = location(&hd);
    assert!(
        loc.starts_with("https://example.com/spring-sale?ref=nl&utm_source=whatsapp&utm_medium=messaging&utm_campaign=spring#lc="),
        "{loc}"
    );
    assert_eq!(hd[header::CACHE_CONTROL], "private, no-store");
    let token = loc.rsplit("#lc=").next().expect("token").to_string();
    assert!(
        lucarne_core::token::Token::parse(&token).is_some(),
        "{token}"
    );
    // Another click, another token.
    let (_, hd2, _) = h
        .follow(
            Method::GET,
            &format!("/l/{slug}"),
            IPHONE_SAFARI,
            "stats.test",
        )
        .await;
    assert_ne!(location(&hd2), loc);
    // A QR scan, a WhatsApp and a Slack preview, a search bot and a HEAD request.
    let (s, _, _) = h
        .follow(
            Method::GET,
            &format!("/l/{slug}?qr=1"),
            IPHONE_SAFARI,
            "stats.test",
        )
        .await;
    assert_eq!(s, StatusCode::FOUND);
    for ua in [WHATSAPP_PREVIEW, SLACK_PREVIEW, GOOGLEBOT] {
        let (s, hd, _) = h
            .follow(Method::GET, &format!("/l/{slug}"), ua, "stats.test")
            .await;
        assert_eq!(s, StatusCode::FOUND, "{ua}");
        assert!(!location(&hd).contains("lc="), "no token for {ua}");
    }
    let (s, _, _) = h
        .follow(
            Method::HEAD,
            &format!("/l/{slug}"),
            IPHONE_SAFARI,
            "stats.test",
        )
        .await;
    assert_eq!(s, StatusCode::FOUND);

    // The landing visit (the tracker on the target page) joins the cascade and is
    // attributed to the link's channel.
    let body = format!(
        r#"{{"n":"pageview","u":"{loc}","d":"example.com","r":null,"t":"{}"}}"#,
        lucarne_core::token::Token::from_bits(77).expect("t")
    );
    let (s, v) = h.event_from(&body, IPHONE_SAFARI, [198, 51, 100, 7]).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");

    let v = h
        .wait_stats(id, |v| {
            v["clicks"] == 2 && v["previews"].as_array().map(Vec::len) == Some(2)
        })
        .await;
    assert_eq!(v["clicks"], 2, "{v}");
    assert_eq!(v["unique_clickers"], 1);
    assert_eq!(v["scans"], 1);
    assert_eq!(v["landing_visits"], 1);
    let mut apps: Vec<String> = v["previews"]
        .as_array()
        .expect("previews")
        .iter()
        .map(|p| p["app"].as_str().unwrap_or_default().to_string())
        .collect();
    apps.sort();
    assert_eq!(apps, ["slack", "whatsapp"]);
    assert_eq!(v["by_channel"][0]["value"], "whatsapp");
    assert_eq!(
        v["link"]["clicks"], 3,
        "clicks and scans count towards the limit"
    );

    // Clicks, scans and preview fetches are events, not visits or visitors: the site
    // has one visitor (the clicker, who landed) and one visit, which did not bounce
    // because of them.
    let (_, a) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visitors,visits,pageviews,events,bounce_rate")
        .await;
    assert_eq!(a["results"]["visitors"]["value"], 1, "{a}");
    assert_eq!(a["results"]["visits"]["value"], 1, "{a}");
    assert_eq!(a["results"]["pageviews"]["value"], 1, "{a}");
    assert_eq!(
        a["results"]["events"]["value"], 6,
        "3 clicks/scans, 2 previews, 1 pageview: {a}"
    );
    assert_eq!(a["results"]["bounce_rate"]["value"], 100, "{a}");
    let (s, b) = h
        .get(&format!("/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:channel&metrics=visits&filters=visit:link=={id}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["results"][0]["channel"], "whatsapp", "{b}");
    // visit:link is the landing visit's, not the click's: one generation, one row.
    let (_, b) = h
        .get(&format!("/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:generation&metrics=visits,events&filters=visit:link=={id}"))
        .await;
    assert_eq!(b["results"].as_array().map(Vec::len), Some(1), "{b}");
    assert_eq!(b["results"][0]["events"], 1, "{b}");
    let (_, b) = h
        .get(&format!("/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:evidence&metrics=visits&filters=visit:link=={id}"))
        .await;
    assert_eq!(b["results"][0]["evidence"], "short-link", "{b}");

    let m = h.metrics().await;
    for (kind, n) in [
        ("click", 2),
        ("scan", 1),
        ("preview", 2),
        ("bot", 1),
        ("head", 1),
    ] {
        let needle = format!("lucarne_link_requests_total{{kind=\"{kind}\"}} {n}");
        assert!(m.contains(&needle), "{needle} in\n{m}");
    }
}

#[tokio::test]
async fn targets_and_slugs_are_validated() {
    let h = harness().await;
    for (url, code) in [
        ("javascript:alert(1)", "target_not_http"),
        ("data:text/html,hi", "target_not_http"),
        ("https://user:pw@example.com/", "target_has_credentials"),
        ("http://127.0.0.1:8080/admin", "target_private_network"),
        ("http://192.168.0.10/", "target_private_network"),
        ("http://[::1]/", "target_private_network"),
        ("http://169.254.169.254/latest", "target_private_network"),
    ] {
        let (s, v) = h
            .call(
                Method::POST,
                "/api/v1/links",
                Some(json!({"site_id": "example.com", "url": url})),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{url}: {v}");
        assert_eq!(v["reason"], code, "{url}");
    }
    let long = format!("https://example.com/{}", "a".repeat(2001));
    let (s, v) = h
        .call(
            Method::POST,
            "/api/v1/links",
            Some(json!({"site_id": "example.com", "url": long})),
        )
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::BAD_REQUEST, Some("target_too_long"))
    );
    for (body, code) in [
        (
            json!({"site_id": "example.com", "url": "https://example.com/", "slug": "a b"}),
            "bad_slug",
        ),
        (
            json!({"site_id": "example.com", "url": "https://example.com/", "channel": "pigeon"}),
            "bad_channel",
        ),
        (
            json!({"site_id": "example.com", "url": "https://example.com/", "redirect": 303}),
            "bad_redirect",
        ),
        (
            json!({"site_id": "example.com", "url": "https://example.com/", "campaign": "x".repeat(201)}),
            "label_too_long",
        ),
        (json!({"site_id": "example.com"}), "missing_url"),
        (
            json!({"site_id": "example.com", "url": "https://example.com/", "nope": 1}),
            "bad_json",
        ),
    ] {
        let (s, v) = h
            .call(Method::POST, "/api/v1/links", Some(body.clone()))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert_eq!(v["reason"], code, "{body}");
    }
    let ok = json!({"site_id": "example.com", "url": "https://example.com/", "slug": "mine"});
    assert_eq!(
        h.call(Method::POST, "/api/v1/links", Some(ok.clone()))
            .await
            .0,
        StatusCode::CREATED
    );
    let (s, v) = h.call(Method::POST, "/api/v1/links", Some(ok)).await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::CONFLICT, Some("slug_taken"))
    );
    // Another site's domain, or no key: the same 404 / 401 as elsewhere.
    let (s, _) = h
        .call(
            Method::POST,
            "/api/v1/links",
            Some(json!({"site_id": "nope.org", "url": "https://example.com/"})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let req = Request::get("/api/v1/links?site_id=example.com")
        .body(Body::empty())
        .expect("req");
    assert_eq!(h.send(req).await.0, StatusCode::UNAUTHORIZED);
    // Reserved event names cannot be sent through the ingest API.
    let (s, v) = h
        .event(r#"{"n":"link_click","u":"https://example.com/","d":"example.com"}"#)
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::BAD_REQUEST, Some("reserved_name"))
    );
}

#[tokio::test]
async fn disabled_expired_and_used_up_links_show_a_page() {
    let h = harness().await;
    let mk = |slug: &str, extra: Value| {
        let mut b = json!({"site_id": "example.com", "url": "https://example.com/x", "slug": slug});
        if let (Some(o), Some(e)) = (b.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                o.insert(k.clone(), v.clone());
            }
        }
        b
    };
    let (_, off) = h
        .call(Method::POST, "/api/v1/links", Some(mk("off", json!({}))))
        .await;
    h.call(
        Method::POST,
        "/api/v1/links",
        Some(mk("old", json!({"expires_at": "2020-01-01T00:00:00Z"}))),
    )
    .await;
    h.call(
        Method::POST,
        "/api/v1/links",
        Some(mk("two", json!({"max_clicks": 2}))),
    )
    .await;
    let id = off["id"].as_i64().expect("id");
    let (s, v) = h
        .call(
            Method::PATCH,
            &format!("/api/v1/links/{id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["disabled"], true);
    assert_eq!(
        v["target"], "https://example.com/x",
        "an edit keeps what it does not name"
    );

    let (s, _, page) = h.follow(Method::GET, "/l/off", CHROME, "stats.test").await;
    assert_eq!(s, StatusCode::GONE);
    assert!(page.contains("disabled"), "{page}");
    let (s, _, page) = h.follow(Method::GET, "/l/old", CHROME, "stats.test").await;
    assert_eq!(s, StatusCode::GONE);
    assert!(page.contains("expired"), "{page}");
    for _ in 0..2 {
        assert_eq!(
            h.follow(Method::GET, "/l/two", CHROME, "stats.test")
                .await
                .0,
            StatusCode::FOUND
        );
    }
    let (s, _, page) = h.follow(Method::GET, "/l/two", CHROME, "stats.test").await;
    assert_eq!(s, StatusCode::GONE);
    assert!(page.contains("maximum"), "{page}");
    let (s, _, page) = h
        .follow(Method::GET, "/l/none-such", CHROME, "stats.test")
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(page.contains("No link matches"), "{page}");
    // In French for French readers.
    let mut req = Request::get("/l/old")
        .header("accept-language", "fr-FR,fr;q=0.9")
        .body(Body::empty())
        .expect("req");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 8], 1))));
    let resp = h.router.clone().oneshot(req).await.expect("resp");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    assert!(String::from_utf8_lossy(&bytes).contains("Ce lien a expiré"));
    // Delete: gone from the redirect at once.
    assert_eq!(
        h.call(Method::DELETE, &format!("/api/v1/links/{id}"), None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.follow(Method::GET, "/l/off", CHROME, "stats.test")
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn campaigns_custom_domains_and_qr_codes() {
    let h = harness().await;
    let (s, v) = h
        .call(
            Method::POST,
            "/api/v1/links/campaign",
            Some(json!({"site_id": "example.com", "url": "https://example.com/launch", "campaign": "launch", "channels": ["whatsapp", "sms", "email", "telegram", "qr-code"], "slug_prefix": "launch"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let links = v["results"].as_array().expect("links");
    assert_eq!(links.len(), 5);
    let by: Vec<(String, String, String)> = links
        .iter()
        .map(|l| {
            (
                l["slug"].as_str().unwrap_or_default().to_string(),
                l["utm"]["source"].as_str().unwrap_or_default().to_string(),
                l["utm"]["medium"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        by.contains(&("launch-sms".into(), "sms".into(), "sms".into())),
        "{by:?}"
    );
    assert!(by.contains(&("launch-email".into(), "email".into(), "email".into())));
    assert!(by.contains(&("launch-qr-code".into(), "qr-code".into(), "qr".into())));

    // A custom short domain: /{slug} on that host.
    let (s, l) = h
        .call(
            Method::POST,
            "/api/v1/links",
            Some(json!({"site_id": "example.com", "url": "https://example.com/a", "slug": "hi", "domain": "Go.Example"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{l}");
    assert_eq!(l["short_url"], "https://go.example/hi");
    let (s, hd, _) = h.follow(Method::GET, "/hi", CHROME, "go.example").await;
    assert_eq!(s, StatusCode::FOUND);
    assert!(location(&hd).starts_with("https://example.com/a#lc="));
    assert_eq!(
        h.follow(Method::GET, "/hi", CHROME, "stats.test").await.0,
        StatusCode::NOT_FOUND
    );

    // A link made elsewhere (the CLI writes the metadata store directly) works at once,
    // even right after a reload.
    let site = h
        .state
        .site("example.com")
        .await
        .expect("lookup")
        .expect("site");
    for slug in ["cli-1", "cli-2"] {
        h.state
            .meta
            .create_link(
                site.id,
                &lucarne_store::meta::LinkInput {
                    slug: slug.into(),
                    target: "https://example.com/cli".into(),
                    redirect: 302,
                    ..Default::default()
                },
            )
            .await
            .expect("link");
        let (s, _, _) = h
            .follow(Method::GET, &format!("/l/{slug}"), CHROME, "stats.test")
            .await;
        assert_eq!(s, StatusCode::FOUND, "{slug}");
    }

    // QR codes encode the short URL with the scan marker.
    let id = l["id"].as_i64().expect("id");
    let req = Request::get(format!("/api/v1/links/{id}/qr.svg?size=256&margin=2&ec=H"))
        .header("authorization", format!("Bearer {}", h.key))
        .body(Body::empty())
        .expect("req");
    let resp = h.router.clone().oneshot(req).await.expect("resp");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "image/svg+xml");
    let req = Request::get(format!("/api/v1/links/{id}/qr.png"))
        .header("authorization", format!("Bearer {}", h.key))
        .body(Body::empty())
        .expect("req");
    let resp = h.router.clone().oneshot(req).await.expect("resp");
    assert_eq!(resp.headers()[header::CONTENT_TYPE], "image/png");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(&bytes[1..4], b"PNG");
    let (s, v) = h
        .call(
            Method::GET,
            &format!("/api/v1/links/{id}/qr.svg?size=5"),
            None,
        )
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_qr"))
    );
    let (s, v) = h
        .call(Method::GET, "/api/v1/links?site_id=example.com", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["results"].as_array().map(Vec::len), Some(8));
}
