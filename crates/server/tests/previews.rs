//! Link previews of a site's pages through the real router and stores: the `og:image`
//! pass-through (`/og/{domain}`: a preview fetcher is recorded and redirected, a browser
//! only redirected, foreign images and unknown sites refused) and the previews report
//! (`/api/v1/stats/previews`), whose visit split comes from ordinary pageviews.

mod common;

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use common::*;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

const WHATSAPP: &str = "WhatsApp/2.23.20.0 A";
const SLACK: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
const TELEGRAM: &str = "TelegramBot (like TwitterBot)";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

const IMG: &str = "https%3A%2F%2Fexample.com%2Fimg%2Fcover.jpg";

impl Harness {
    /// `GET|HEAD uri` as `ua` from 198.51.100.7; status, headers and JSON (or text) body.
    async fn fetch(&self, method: Method, uri: &str, ua: &str) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("user-agent", ua)
            .body(Body::empty())
            .expect("request");
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([198, 51, 100, 7], 4000))));
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, headers, v)
    }

    /// Preview events by app today (the stats API's own breakdown).
    async fn previews_by_app(&self) -> Vec<(String, u64)> {
        let (s, v) = self
            .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:props:app&metrics=events&filters=event:name==preview")
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let mut out: Vec<(String, u64)> = v["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                (
                    r["app"].as_str().unwrap_or_default().to_string(),
                    r["events"].as_u64().unwrap_or_default(),
                )
            })
            .collect();
        out.sort();
        out
    }

    async fn aggregate(&self, metrics: &str) -> Value {
        let (s, v) = self
            .get(&format!(
                "/api/v1/stats/aggregate?site_id=example.com&period=day&metrics={metrics}"
            ))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["results"].clone()
    }
}

fn location(h: &HeaderMap) -> &str {
    h.get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_preview_fetcher_is_recorded_and_redirected() {
    let h = harness().await;
    let uri = format!("/og/example.com?img={IMG}&p=%2Fblog%2Fpost%3Futm_campaign%3Dspring");
    let (s, hd, _) = h.fetch(Method::GET, &uri, WHATSAPP).await;
    assert_eq!(s, StatusCode::FOUND);
    assert_eq!(location(&hd), "https://example.com/img/cover.jpg");
    assert_eq!(hd[header::CACHE_CONTROL], "private, no-store");
    // The event is durable before the redirect: the report already has it.
    assert_eq!(h.previews_by_app().await, vec![("whatsapp".to_string(), 1)]);

    // Stored as a preview of the page, for the app, with preview-fetch evidence.
    let (_, v) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:page&metrics=events&filters=event:name==preview")
        .await;
    assert_eq!(v["results"][0]["page"], "/blog/post", "{v}");
    let (_, v) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:evidence&metrics=events&filters=event:name==preview")
        .await;
    assert_eq!(v["results"][0]["evidence"], "preview-fetch", "{v}");
    let (_, v) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:channel_group&metrics=events&filters=event:name==preview")
        .await;
    assert_eq!(v["results"][0]["channel_group"], "private-message", "{v}");
    let (_, v) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:utm_campaign&metrics=events&filters=event:name==preview")
        .await;
    assert_eq!(v["results"][0]["utm_campaign"], "spring", "{v}");

    // A preview is not a visit and not a pageview.
    let a = h.aggregate("visits,pageviews,events").await;
    assert_eq!(a["visits"]["value"], 0, "{a}");
    assert_eq!(a["pageviews"]["value"], 0, "{a}");
    assert_eq!(a["events"]["value"], 1, "{a}");

    // Other fetchers, HEAD included, and an absolute page URL on a subdomain.
    let uri2 = format!("/og/example.com?img={IMG}&p=https%3A%2F%2Fblog.example.com%2Fnotes");
    let (s, _, _) = h.fetch(Method::HEAD, &uri2, SLACK).await;
    assert_eq!(s, StatusCode::FOUND);
    let (s, _, _) = h.fetch(Method::GET, &uri, TELEGRAM).await;
    assert_eq!(s, StatusCode::FOUND);
    assert_eq!(
        h.previews_by_app().await,
        vec![
            ("slack".to_string(), 1),
            ("telegram".to_string(), 1),
            ("whatsapp".to_string(), 1)
        ]
    );
}

#[tokio::test]
async fn browsers_and_other_bots_are_only_redirected() {
    let h = harness().await;
    let uri = format!("/og/example.com?img={IMG}&p=/post");
    for ua in [CHROME, IPHONE_SAFARI, MESSENGER_IOS, GOOGLEBOT, ""] {
        let (s, hd, _) = h.fetch(Method::GET, &uri, ua).await;
        assert_eq!(s, StatusCode::FOUND, "{ua}");
        assert_eq!(location(&hd), "https://example.com/img/cover.jpg", "{ua}");
    }
    assert_eq!(h.previews_by_app().await, Vec::<(String, u64)>::new());
    assert_eq!(h.aggregate("events").await["events"]["value"], 0);
}

#[tokio::test]
async fn no_open_redirect() {
    let h = harness().await;
    for img in [
        "https%3A%2F%2Fevil.example%2Fx.png",
        "https%3A%2F%2Fexample.com.evil.example%2Fx.png",
        "https%3A%2F%2Fuser%40example.com%2Fx.png",
        "%2F%2Fevil.example%2Fx.png",
        "%2Fimg%2Fcover.jpg",
        "javascript%3Aalert(1)",
        "data%3Aimage%2Fpng%3Bbase64%2CAAAA",
        "",
    ] {
        for ua in [WHATSAPP, CHROME] {
            let (s, hd, v) = h
                .fetch(
                    Method::GET,
                    &format!("/og/example.com?img={img}&p=/post"),
                    ua,
                )
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{img} {ua}: {v}");
            assert_eq!(v["reason"], "bad_image", "{img}: {v}");
            assert!(v["error"].is_string(), "{v}");
            assert!(hd.get(header::LOCATION).is_none(), "{img}");
        }
    }
    // No image at all, and a page that is not on the site.
    let (s, _, v) = h
        .fetch(Method::GET, "/og/example.com?p=/post", WHATSAPP)
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_image"))
    );
    for p in ["", "post", "https%3A%2F%2Fevil.example%2Fpost"] {
        let (s, _, v) = h
            .fetch(
                Method::GET,
                &format!("/og/example.com?img={IMG}&p={p}"),
                WHATSAPP,
            )
            .await;
        assert_eq!(
            (s, v["reason"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_page")),
            "{p}"
        );
    }
    // Nothing was recorded by the refused requests.
    assert_eq!(h.previews_by_app().await, Vec::<(String, u64)>::new());
    // An allowed hostname of the site is fine.
    let site = h
        .state
        .meta
        .site_by_domain("example.com")
        .await
        .expect("meta")
        .expect("site");
    h.state
        .meta
        .set_site_settings(site.id, "UTC", &["cdn.example.net".to_string()])
        .await
        .expect("allowed hostnames");
    h.state.invalidate_sites();
    let (s, hd, _) = h
        .fetch(
            Method::GET,
            "/og/example.com?img=https%3A%2F%2Fcdn.example.net%2Fcover.jpg&p=/post",
            CHROME,
        )
        .await;
    assert_eq!(s, StatusCode::FOUND);
    assert_eq!(location(&hd), "https://cdn.example.net/cover.jpg");
}

#[tokio::test]
async fn unknown_site_is_404() {
    let h = harness().await;
    for ua in [WHATSAPP, CHROME] {
        let (s, _, v) = h
            .fetch(
                Method::GET,
                "/og/nope.example?img=https%3A%2F%2Fnope.example%2Fx.png&p=/post",
                ua,
            )
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
        assert_eq!(v["reason"], "unknown_site", "{v}");
    }
}

#[tokio::test]
async fn previews_report_relates_previews_and_visits() {
    let h = harness().await;
    let og = |p: &str| format!("/og/example.com?img={IMG}&p={p}");
    // /post: pasted into WhatsApp twice and Slack once; /about: into Telegram once.
    for (ua, p) in [
        (WHATSAPP, "/post"),
        (WHATSAPP, "/post"),
        (SLACK, "/post"),
        (TELEGRAM, "/about"),
    ] {
        let (s, _, _) = h.fetch(Method::GET, &og(p), ua).await;
        assert_eq!(s, StatusCode::FOUND);
    }
    // Visits: to /post, two without a referrer (estimated dark), one from Slack
    // (private message), one from Google (search); to /about one from WhatsApp Web; to
    // /other (no preview) one without a referrer.
    let visits: [(&str, Option<&str>, [u8; 4]); 6] = [
        ("/post", None, [192, 0, 2, 1]),
        ("/post", None, [192, 0, 2, 2]),
        (
            "/post",
            Some("https://app.slack.com/client/T1/C2"),
            [192, 0, 2, 3],
        ),
        ("/post", Some("https://www.google.com/"), [192, 0, 2, 4]),
        ("/about", Some("https://web.whatsapp.com/"), [192, 0, 2, 5]),
        ("/other", None, [192, 0, 2, 6]),
    ];
    for (path, referrer, ip) in visits {
        let body = match referrer {
            Some(r) => format!(
                r#"{{"n":"pageview","u":"https://example.com{path}","d":"example.com","r":"{r}"}}"#
            ),
            None => {
                format!(r#"{{"n":"pageview","u":"https://example.com{path}","d":"example.com"}}"#)
            }
        };
        let (s, v) = h.event_from(&body, CHROME, ip).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }

    let (s, v) = h
        .get("/api/v1/stats/previews?site_id=example.com&period=day")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["site_id"], "example.com");
    assert_eq!(v["previews"], 4, "{v}");
    assert_eq!(v["by_app"][0]["app"], "whatsapp", "{v}");
    assert_eq!(v["by_app"][0]["name"], "WhatsApp", "{v}");
    assert_eq!(v["by_app"][0]["previews"], 2, "{v}");
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), 2, "pages with previews only: {v}");
    let post = &results[0];
    assert_eq!(post["page"], "/post");
    assert_eq!(post["previews"], 3);
    assert_eq!(post["by_app"][0]["app"], "whatsapp");
    assert_eq!(post["by_app"][0]["previews"], 2);
    assert_eq!(post["by_app"][1]["app"], "slack");
    assert_eq!(post["visits"], 4, "{post}");
    assert_eq!(post["visits_by_group"]["estimated-dark"], 2, "{post}");
    assert_eq!(post["visits_by_group"]["private-message"], 1, "{post}");
    assert_eq!(post["visits_by_group"]["search"], 1, "{post}");
    assert_eq!(
        post["visits_by_group"]["paid"], 0,
        "every group is listed: {post}"
    );
    assert_eq!(post["unreferred_or_private_visits"], 3, "{post}");
    assert_eq!(post["visits_per_preview"], 1.0, "{post}");
    let about = &results[1];
    assert_eq!(about["page"], "/about");
    assert_eq!(about["previews"], 1);
    assert_eq!(about["by_app"][0]["app"], "telegram");
    assert_eq!(about["visits"], 1, "{about}");
    assert_eq!(about["visits_by_group"]["private-message"], 1, "{about}");
    assert_eq!(about["visits_per_preview"], 1.0, "{about}");

    // `limit` keeps the pages with the most previews.
    let (_, v) = h
        .get("/api/v1/stats/previews?site_id=example.com&period=day&limit=1")
        .await;
    assert_eq!(v["results"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["results"][0]["page"], "/post");
    assert_eq!(v["previews"], 4, "totals cover every page");

    // The same Bearer key rules as the other stats endpoints.
    let req = Request::get("/api/v1/stats/previews?site_id=example.com&period=day")
        .body(Body::empty())
        .expect("request");
    let (s, v, _) = h.send(req).await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthorized"))
    );
    let (s, v) = h
        .get("/api/v1/stats/previews?site_id=nope.example&period=day")
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_site"))
    );
    let (s, _) = h
        .get("/api/v1/stats/previews?site_id=example.com&period=fortnight")
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn an_empty_period_has_an_empty_report() {
    let h = harness().await;
    let (s, v) = h
        .get("/api/v1/stats/previews?site_id=example.com&period=30d")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["previews"], 0);
    assert_eq!(v["by_app"], Value::Array(Vec::new()));
    assert_eq!(v["results"], Value::Array(Vec::new()));
}

#[tokio::test]
async fn openapi_describes_the_preview_routes() {
    let h = harness().await;
    let (s, v, _) = h
        .send(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for route in ["/og/{domain}", "/api/v1/stats/previews"] {
        assert!(v["paths"][route]["get"].is_object(), "{route} documented");
    }
}
