//! The whole service driven through `app(state)` with `oneshot`: ingest (good and bad
//! input), drop counters, CORS, auth, and the three stats endpoints.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use lucarne_server::{app, AppState, ServerOptions};
use lucarne_store::duck::DuckEvents;
use lucarne_store::meta::MetaStore;
use lucarne_store::EventStore;
use serde_json::Value;
use tower::ServiceExt;

mod common;
use common::*;

#[tokio::test]
async fn health_is_ok() {
    let h = harness().await;
    let (s, v, _) = h
        .send(Request::get("/api/health").body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"], "ok");
}

#[tokio::test]
async fn accepts_lucarne_and_plausible_payloads() {
    let h = harness().await;
    let (s, v) = h
        .event(r#"{"n":"pageview","u":"https://example.com/blog/a?utm_source=newsletter&utm_medium=email&secret=1","d":"example.com","r":null,"w":1280}"#)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    // Plausible Events API, JSON content type, long keys, revenue and props.
    let req = Request::post("/api/event")
        .header("content-type", "application/json")
        .header("user-agent", CHROME)
        .body(Body::from(
            r#"{"name":"Purchase","url":"https://example.com/checkout","domain":"example.com","referrer":"","props":{"plan":"pro"},"revenue":{"currency":"EUR","amount":"19.90"}}"#,
        ))
        .unwrap();
    let (s, _, _) = h.send(req).await;
    assert_eq!(s, StatusCode::ACCEPTED);

    let (s, v) = h.get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:name&metrics=events").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let names: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"pageview") && names.contains(&"Purchase"),
        "{v}"
    );
    let (_, v) = h.get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:props:plan&metrics=events&filters=event:name==Purchase").await;
    assert_eq!(v["results"][0]["plan"], "pro", "{v}");
    // The query string was cleaned: only UTM survived, and it classified the visit.
    let (_, v) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:utm_medium")
        .await;
    assert_eq!(v["results"][0]["utm_medium"], "email", "{v}");
}

#[tokio::test]
async fn bad_input_gets_4xx_json_and_a_counted_reason() {
    let h = harness().await;
    let long_url = format!(
        r#"{{"n":"pageview","u":"https://example.com/{}","d":"example.com"}}"#,
        "x".repeat(2100)
    );
    let long_ref = format!(
        r#"{{"n":"pageview","u":"https://example.com/","d":"example.com","r":"https://a.com/{}"}}"#,
        "x".repeat(2100)
    );
    let props: Vec<String> = (0..40).map(|i| format!(r#""k{i}":1"#)).collect();
    let many_props = format!(
        r#"{{"n":"e","u":"https://example.com/","d":"example.com","p":{{{}}}}}"#,
        props.join(",")
    );
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            "{not json".into(),
            StatusCode::BAD_REQUEST,
            "malformed_json",
        ),
        (
            r#"{"n":"pageview","d":"example.com"}"#.into(),
            StatusCode::BAD_REQUEST,
            "missing_field",
        ),
        (long_url, StatusCode::BAD_REQUEST, "url_too_long"),
        (long_ref, StatusCode::BAD_REQUEST, "referrer_too_long"),
        (
            r#"{"n":"pageview","u":"javascript:alert(1)","d":"example.com"}"#.into(),
            StatusCode::BAD_REQUEST,
            "not_http_url",
        ),
        (
            r#"{"n":"pageview","u":"ftp://example.com/","d":"example.com"}"#.into(),
            StatusCode::BAD_REQUEST,
            "not_http_url",
        ),
        (many_props, StatusCode::BAD_REQUEST, "too_many_props"),
        (
            r#"{"n":"pageview","u":"https://example.com/","d":"unknown.org"}"#.into(),
            StatusCode::NOT_FOUND,
            "unknown_site",
        ),
        (
            r#"{"n":"pageview","u":"https://evil.com/","d":"example.com"}"#.into(),
            StatusCode::FORBIDDEN,
            "hostname_not_allowed",
        ),
        (
            format!(
                r#"{{"n":"pageview","u":"https://example.com/","d":"example.com","x":"{}"}}"#,
                "y".repeat(17000)
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (body, status, reason) in &cases {
        let before = dropped(&h.metrics().await, reason);
        let (s, v) = h.event(body).await;
        assert_eq!(s, *status, "{reason}: {v}");
        assert_eq!(v["reason"], *reason, "{v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        assert_eq!(
            dropped(&h.metrics().await, reason),
            before + 1,
            "{reason} counted"
        );
    }
    // Bots and automated browsers.
    let (s, v) = h
        .event_from(
            r#"{"n":"pageview","u":"https://example.com/","d":"example.com"}"#,
            "curl/8.5.0",
            [1, 2, 3, 4],
        )
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("bot"))
    );
    let (s, v) = h
        .event_from(
            r#"{"n":"pageview","u":"https://example.com/","d":"example.com"}"#,
            "",
            [1, 2, 3, 4],
        )
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("bot"))
    );
    assert!(dropped(&h.metrics().await, "bot") >= 2);
    // Referrer spam, on a subdomain of a listed host.
    let (s, v) = h
        .event(r#"{"n":"pageview","u":"https://example.com/","d":"example.com","r":"https://www.semalt.com/crawler"}"#)
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("spam_referrer"))
    );
    assert_eq!(dropped(&h.metrics().await, "spam_referrer"), 1);
    // A link-preview fetcher is a bot for pageview counting.
    let (s, _) = h
        .event_from(
            r#"{"n":"pageview","u":"https://example.com/","d":"example.com"}"#,
            "WhatsApp/2.23.20.0 A",
            [1, 2, 3, 4],
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Nothing bad was stored, and what was accepted before stays.
    let (_, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=events")
        .await;
    assert_eq!(v["results"]["events"]["value"], 0, "{v}");
}

#[tokio::test]
async fn cors_preflight_allows_any_origin() {
    let h = harness().await;
    let req = Request::builder()
        .method(Method::OPTIONS)
        .uri("/api/event")
        .header("origin", "https://example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .body(Body::empty())
        .unwrap();
    let (s, _, headers) = h.send(req).await;
    assert!(s.is_success(), "{s}");
    assert_eq!(headers["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn tracker_script_is_served() {
    let h = harness().await;
    let (s, v, headers) = h
        .send(Request::get("/js/script.js").body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/javascript"));
    assert!(v.as_str().unwrap().contains("/api/event"));
}

#[tokio::test]
async fn stats_api_requires_a_valid_key() {
    let h = harness().await;
    let req = Request::get("/api/v1/stats/aggregate?site_id=example.com")
        .body(Body::empty())
        .unwrap();
    let (s, v, _) = h.send(req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(v["reason"], "unauthorized");
    let req = Request::get("/api/v1/stats/aggregate?site_id=example.com")
        .header("authorization", "Bearer lk_forged")
        .body(Body::empty())
        .unwrap();
    assert_eq!(h.send(req).await.0, StatusCode::UNAUTHORIZED);
    let (s, v) = h.get("/api/v1/stats/aggregate?site_id=nope.org").await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_site"))
    );
    let (s, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=fortnight")
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_query"))
    );
    let (s, _) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&metrics=visitors,nope")
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&property=visit:nope")
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = h.get("/api/v1/stats/breakdown?site_id=example.com&property=event:page&filters=visit:source~x").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// Three visitors: a WhatsApp Android arrival (2 pages), a Messenger in-app arrival
/// (1 page, bounce), and a deep-link arrival without referrer (estimated dark).
#[tokio::test]
async fn reports_aggregate_timeseries_breakdown_and_dark_share() {
    let h = harness().await;
    let wa = r#"{"n":"pageview","u":"https://example.com/articles/one","d":"example.com","r":"android-app://com.whatsapp/"}"#;
    let wa2 = r#"{"n":"pageview","u":"https://example.com/articles/two","d":"example.com","r":"https://example.com/articles/one"}"#;
    let ms = r#"{"n":"pageview","u":"https://example.com/articles/one","d":"example.com"}"#;
    let dark = r#"{"n":"pageview","u":"https://example.com/articles/three","d":"example.com"}"#;
    let home = r#"{"n":"pageview","u":"https://example.com/","d":"example.com"}"#;
    assert_eq!(
        h.event_from(wa, CHROME, [198, 51, 100, 1]).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        h.event_from(wa2, CHROME, [198, 51, 100, 1]).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        h.event_from(ms, MESSENGER_IOS, [198, 51, 100, 2]).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        h.event_from(dark, IPHONE_SAFARI, [198, 51, 100, 3]).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        h.event_from(home, IPHONE_SAFARI, [198, 51, 100, 4]).await.0,
        StatusCode::ACCEPTED
    );

    let (s, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visitors,visits,pageviews,views_per_visit,bounce_rate,events,dark_share")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r = &v["results"];
    // A HyperLogLog estimate (README "Estimates"): with random daily salts, 4 visitor ids
    // may share a register and count as 3.
    let visitors = r["visitors"]["value"].as_u64().unwrap_or(0);
    assert!(visitors.abs_diff(4) <= 1, "{v}");
    assert_eq!(r["visits"]["value"], 4);
    assert_eq!(r["pageviews"]["value"], 5);
    assert_eq!(r["events"]["value"], 5);
    assert_eq!(r["bounce_rate"]["value"], 75, "3 of 4 visits saw one page");
    // WhatsApp + Messenger identified (2 of 4 visits), the deep link estimated (1 of 4).
    assert_eq!(r["dark_share"]["identified"], 50.0, "{v}");
    assert_eq!(r["dark_share"]["estimated"], 25.0, "{v}");
    assert_eq!(v["meta"]["approximate"][0], "visitors");

    let (_, v) = h.get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:channel&metrics=visitors,visits").await;
    let channels: Vec<(String, i64)> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["channel"].as_str().unwrap().to_string(),
                r["visits"].as_i64().unwrap(),
            )
        })
        .collect();
    for c in ["whatsapp", "messenger", "dark", "direct"] {
        assert!(
            channels.iter().any(|(n, v)| n == c && *v == 1),
            "{c} in {channels:?}"
        );
    }
    let (_, v) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:channel_group")
        .await;
    let groups: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["channel_group"].as_str().unwrap())
        .collect();
    assert!(
        groups.contains(&"private-message")
            && groups.contains(&"estimated-dark")
            && groups.contains(&"direct"),
        "{groups:?}"
    );

    // Filters: event-level (page) and visit-level (channel), alternatives and negation.
    let (_, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visitors,pageviews&filters=event:page==/articles/one")
        .await;
    assert_eq!(v["results"]["pageviews"]["value"], 2, "{v}");
    let (_, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visits&filters=visit:channel==whatsapp|messenger")
        .await;
    assert_eq!(v["results"]["visits"]["value"], 2, "{v}");
    let (_, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=pageviews&filters=event:page!=/articles/*")
        .await;
    assert_eq!(
        v["results"]["pageviews"]["value"], 1,
        "only the home page: {v}"
    );

    // Time series: today's bucket holds everything; hourly for one day.
    let (_, v) = h
        .get("/api/v1/stats/timeseries?site_id=example.com&period=7d&metrics=visitors,pageviews")
        .await;
    let rows = v["results"].as_array().unwrap();
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[6]["pageviews"], 5, "{v}");
    assert_eq!(
        rows[..6]
            .iter()
            .map(|r| r["pageviews"].as_i64().unwrap())
            .sum::<i64>(),
        0
    );
    let (_, v) = h
        .get("/api/v1/stats/timeseries?site_id=example.com&period=day")
        .await;
    assert_eq!(v["results"].as_array().unwrap().len(), 24);

    // Comparison with the (empty) previous period.
    let (_, v) = h.get("/api/v1/stats/aggregate?site_id=example.com&period=7d&metrics=visitors&compare=previous_period").await;
    assert_eq!(v["results"]["visitors"]["change"], 100, "{v}");

    // Pagination of breakdowns.
    let (_, v) = h.get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:page&limit=2&page=2").await;
    assert_eq!(v["results"].as_array().unwrap().len(), 2, "{v}");
    let _ = &h.state;
}

#[tokio::test]
async fn queue_full_answers_503_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let meta = MetaStore::open(dir.path()).await.unwrap();
    meta.add_site("example.com", "UTC").await.unwrap();
    let events = Arc::new(DuckEvents::open(dir.path(), 1).unwrap());
    events.shutdown();
    let state = AppState::new(events, meta, &ServerOptions::default())
        .await
        .unwrap();
    let router = app(state);
    let mut req = Request::post("/api/event")
        .header("user-agent", CHROME)
        .body(Body::from(
            r#"{"n":"pageview","u":"https://example.com/","d":"example.com"}"#,
        ))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([1, 1, 1, 1], 1))));
    let resp = router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(resp.headers()["retry-after"], "1");
    let resp = router
        .clone()
        .oneshot(Request::get("/api/ready").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "readiness reflects a stopped writer"
    );
    let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
        .await
        .expect("body");
    let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(v["status"], "not_ready");
    assert_eq!(v["reason"], "the events store is shut down", "{v}");
    assert_eq!(v["checks"]["meta"], "ok", "{v}");
    let resp = router
        .oneshot(Request::get("/api/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "liveness stays up");
}

async fn harness_with(options: ServerOptions) -> (tempfile::TempDir, Router, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta = MetaStore::open(dir.path()).await.expect("meta");
    meta.add_site("example.com", "UTC").await.expect("site");
    let key = meta.create_api_key("test").await.expect("key");
    let events: Arc<dyn EventStore> = Arc::new(DuckEvents::open(dir.path(), 1000).expect("duckdb"));
    let state = AppState::new(events, meta, &options).await.expect("state");
    (dir, app(state), key)
}

async fn post_from(
    router: &Router,
    peer: [u8; 4],
    headers: &[(&str, &str)],
    path: &str,
) -> StatusCode {
    let mut b = Request::post("/api/event").header("user-agent", CHROME);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let body = format!(r#"{{"n":"pageview","u":"https://example.com{path}","d":"example.com"}}"#);
    let mut req = b.body(Body::from(body)).expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 5000))));
    router
        .clone()
        .oneshot(req)
        .await
        .expect("response")
        .status()
}

async fn get_json(router: &Router, key: &str, uri: &str) -> Value {
    let req = Request::get(uri)
        .header("authorization", format!("Bearer {key}"))
        .body(Body::empty())
        .expect("request");
    let resp = router.clone().oneshot(req).await.expect("response");
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    serde_json::from_slice(&bytes).expect("json")
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let options = ServerOptions {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..ServerOptions::default()
    };
    let (_dir, router, key) = harness_with(options).await;
    // Through the trusted proxy: two different clients are two visitors.
    assert_eq!(
        post_from(
            &router,
            [10, 0, 0, 1],
            &[("x-forwarded-for", "198.51.100.1")],
            "/a"
        )
        .await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_from(
            &router,
            [10, 0, 0, 1],
            &[("x-forwarded-for", "198.51.100.2, 10.0.0.7")],
            "/a"
        )
        .await,
        StatusCode::ACCEPTED
    );
    // From an untrusted peer, a forged header is ignored: both are the same visitor (the peer).
    assert_eq!(
        post_from(
            &router,
            [192, 0, 2, 5],
            &[("x-forwarded-for", "198.51.100.3")],
            "/b"
        )
        .await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_from(
            &router,
            [192, 0, 2, 5],
            &[("x-forwarded-for", "198.51.100.4")],
            "/b"
        )
        .await,
        StatusCode::ACCEPTED
    );
    let v = get_json(&router, &key, "/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:page&metrics=visitors").await;
    let rows = v["results"].as_array().unwrap();
    let visitors = |p: &str| {
        rows.iter()
            .find(|r| r["page"] == p)
            .map(|r| r["visitors"].as_i64().unwrap())
    };
    assert_eq!(visitors("/a"), Some(2), "{v}");
    assert_eq!(visitors("/b"), Some(1), "{v}");
}

#[tokio::test]
async fn country_from_a_configured_trusted_header() {
    let options = ServerOptions {
        country_header: Some("CF-IPCountry".into()),
        ..ServerOptions::default()
    };
    let (_dir, router, key) = harness_with(options).await;
    assert_eq!(
        post_from(&router, [192, 0, 2, 1], &[("cf-ipcountry", "fr")], "/").await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_from(
            &router,
            [192, 0, 2, 2],
            &[("cf-ipcountry", "<script>")],
            "/"
        )
        .await,
        StatusCode::ACCEPTED
    );
    let v = get_json(
        &router,
        &key,
        "/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:country",
    )
    .await;
    let countries: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["country"].as_str().unwrap())
        .collect();
    assert!(countries.contains(&"FR"), "{v}");
    assert!(
        countries.contains(&""),
        "an invalid header value is not stored: {v}"
    );
    assert!(!countries.iter().any(|c| c.contains('<')));
}

/// A real MaxMind-format database, written by MaxMind's own writer at test time.
fn geoip_fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let out = dir.join("test-country.mmdb");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/make_geoip.pl");
    let status = std::process::Command::new("perl")
        .arg(script)
        .arg(&out)
        .status()
        .expect("run perl (scripts/install-test-deps.sh installs libmaxmind-db-writer-perl)");
    assert!(status.success(), "make_geoip.pl failed");
    out
}

#[tokio::test]
async fn country_from_a_maxmind_database() {
    let fixtures = tempfile::tempdir().unwrap();
    let options = ServerOptions {
        geoip: Some(geoip_fixture(fixtures.path())),
        ..ServerOptions::default()
    };
    let (_dir, router, key) = harness_with(options).await;
    assert_eq!(
        post_from(&router, [198, 51, 100, 9], &[], "/fr").await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_from(&router, [203, 0, 113, 20], &[], "/sn").await,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        post_from(&router, [192, 0, 2, 1], &[], "/unknown").await,
        StatusCode::ACCEPTED
    );
    let v = get_json(&router, &key, "/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:page&metrics=visitors&filters=visit:country==FR").await;
    let pages: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["page"].as_str().unwrap())
        .collect();
    assert_eq!(pages, vec!["/fr"], "{v}");
    let v = get_json(
        &router,
        &key,
        "/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:country",
    )
    .await;
    let mut countries: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["country"].as_str().unwrap())
        .collect();
    countries.sort_unstable();
    assert_eq!(countries, vec!["", "FR", "SN"], "{v}");
}

#[tokio::test]
async fn openapi_document_describes_every_api_route() {
    let h = harness().await;
    let (s, v, headers) = h
        .send(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(v["openapi"], "3.0.3");
    let paths = v["paths"].as_object().expect("paths");
    for route in [
        "/api/event",
        "/api/health",
        "/api/ready",
        "/metrics",
        "/api/v1/stats/aggregate",
        "/api/v1/stats/timeseries",
        "/api/v1/stats/breakdown",
        "/api/v1/stats/realtime/visitors",
        "/api/v2/query",
        "/js/script.js",
        "/api/openapi.json",
        "/api/v1/annotations",
        "/api/v1/webhooks",
    ] {
        assert!(paths.contains_key(route), "{route} documented");
        // And the route really exists (not 404) on the router.
        let method = if route == "/api/event" || route == "/api/v2/query" {
            Method::POST
        } else {
            Method::GET
        };
        let req = Request::builder()
            .method(method)
            .uri(route)
            .body(Body::empty())
            .unwrap();
        let (status, _, _) = h.send(req).await;
        assert_ne!(status, StatusCode::NOT_FOUND, "{route} is routed");
    }
}

#[tokio::test]
async fn do_not_track_and_gpc_are_honoured_when_the_site_says_so() {
    let h = harness().await;
    let body = r#"{"n":"pageview","u":"https://example.com/dnt","d":"example.com"}"#;
    let post = |dnt: Option<(&'static str, &'static str)>| {
        let mut b = Request::post("/api/event").header("user-agent", CHROME);
        if let Some((k, v)) = dnt {
            b = b.header(k, v);
        }
        b.body(Body::from(body)).unwrap()
    };
    // Not honoured by default: recorded.
    let (s, v, _) = h.send(post(Some(("dnt", "1")))).await;
    assert_eq!((s, v["ok"].as_bool()), (StatusCode::ACCEPTED, Some(true)));
    // The owner turns it on.
    let site = h
        .state
        .meta
        .site_by_domain("example.com")
        .await
        .unwrap()
        .unwrap();
    let mut o = h.state.meta.site_options(site.id).await.unwrap();
    o.honour_dnt = true;
    h.state.meta.set_site_options(site.id, &o).await.unwrap();
    h.state.invalidate_sites();
    for header in [("dnt", "1"), ("sec-gpc", "1")] {
        let (s, v, _) = h.send(post(Some(header))).await;
        assert_eq!(s, StatusCode::ACCEPTED, "not an error for the browser");
        assert_eq!(v["reason"], "do_not_track", "{header:?}: {v}");
    }
    assert_eq!(dropped(&h.metrics().await, "do_not_track"), 2);
    let (s, _, _) = h.send(post(None)).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (_, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=pageviews")
        .await;
    assert_eq!(
        v["results"]["pageviews"]["value"], 2,
        "the first and the last, not the two refusals: {v}"
    );
}

#[tokio::test]
async fn retention_deletes_only_events_older_than_the_period() {
    let h = harness().await;
    for i in 0..3 {
        let body =
            format!(r#"{{"n":"pageview","u":"https://example.com/r{i}","d":"example.com"}}"#);
        assert_eq!(h.event(&body).await.0, StatusCode::ACCEPTED);
    }
    let site = h
        .state
        .meta
        .site_by_domain("example.com")
        .await
        .unwrap()
        .unwrap();
    let mut o = h.state.meta.site_options(site.id).await.unwrap();
    o.retention_days = Some(30);
    h.state.meta.set_site_options(site.id, &o).await.unwrap();
    h.state.invalidate_sites();
    // Today: nothing is older than 30 days.
    assert_eq!(
        lucarne_server::apply_retention(&h.state, chrono::Utc::now()).await,
        0
    );
    // 31 days from now, the three events are past the period.
    let later = chrono::Utc::now() + chrono::Duration::days(31);
    assert_eq!(lucarne_server::apply_retention(&h.state, later).await, 3);
    let (_, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=pageviews")
        .await;
    assert_eq!(v["results"]["pageviews"]["value"], 0, "{v}");
}

/// The metadata store stops answering: nothing falls back to defaults. A site whose
/// settings were never read (here one that honours Do-Not-Track) gets 503, not an event
/// recorded as if it did not; an unknown domain is 503 too (unknown cannot be told from
/// unreachable); what was read before the outage keeps working from the cache.
#[tokio::test]
async fn a_metadata_store_outage_is_a_503_never_a_default() {
    let h = harness().await;
    let dnt = h
        .state
        .meta
        .add_site("dnt.example", "UTC")
        .await
        .expect("site");
    let mut o = h.state.meta.site_options(dnt.id).await.expect("options");
    o.honour_dnt = true;
    h.state
        .meta
        .set_site_options(dnt.id, &o)
        .await
        .expect("set");
    let (s, v) = h
        .event(r#"{"n":"pageview","u":"https://example.com/before","d":"example.com"}"#)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    h.state.meta.close().await;

    let mut req = Request::post("/api/event")
        .header("content-type", "text/plain")
        .header("user-agent", CHROME)
        .header("dnt", "1")
        .body(Body::from(
            r#"{"n":"pageview","u":"https://dnt.example/x","d":"dnt.example"}"#,
        ))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([203, 0, 113, 9], 40000))));
    let (s, v, headers) = h.send(req).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["reason"], "meta_unavailable");
    assert!(headers.contains_key("retry-after"));
    let (s, v) = h
        .event(r#"{"n":"pageview","u":"https://never.example/","d":"never.example"}"#)
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("meta_unavailable"))
    );
    // The site read before the outage still takes events.
    let (s, v) = h
        .event(r#"{"n":"pageview","u":"https://example.com/during","d":"example.com"}"#)
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    // The JSON APIs cannot check a key: 503 with a reason, not 401 or 500.
    let (s, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day")
        .await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["reason"], "meta_unavailable");
    let metrics = h.metrics().await;
    assert_eq!(dropped(&metrics, "meta_unavailable"), 2, "{metrics}");
}

/// Around UTC midnight, an event gets the salts of its own day even when another request
/// already rotated them to the next day; salts never rotate back.
#[tokio::test]
async fn salts_follow_the_event_s_own_day_at_midnight() {
    use chrono::{Duration, Utc};
    let dir = tempfile::tempdir().unwrap();
    let meta = MetaStore::open(dir.path()).await.unwrap();
    let midnight = Utc::now()
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc();
    let before = midnight - Duration::milliseconds(1);
    let after = midnight + Duration::milliseconds(1);
    let yesterday = meta.salts(before).await.unwrap();
    let today = meta.salts(after).await.unwrap();
    assert_eq!(today.previous, Some(yesterday.current));
    let events = Arc::new(DuckEvents::open(dir.path(), 100).unwrap());
    let state = AppState::new(events.clone(), meta, &ServerOptions::default())
        .await
        .unwrap();
    // Loaded: today's. An event read a millisecond before midnight: yesterday's only.
    assert_eq!(state.current_salts(before).await, (yesterday.current, None));
    // … without moving the loaded salts back (other requests, after midnight, read them).
    assert_eq!(state.salts_now().0, today.current);
    assert_eq!(
        state.current_salts(after).await,
        (today.current, Some(yesterday.current))
    );
    // A late refresh with yesterday's clock does not move them back.
    state.refresh_salts(before).await;
    assert_eq!(state.current_salts(after).await.0, today.current);
    events.shutdown();
}
