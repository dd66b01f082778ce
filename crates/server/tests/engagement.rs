//! Plausible's `engagement` events (issue 21): not custom events, but the scroll depth
//! and time on page of their page, in the stats API; an engagement opens no visit.

use axum::http::StatusCode;
use serde_json::Value;

mod common;
use common::*;

const A: [u8; 4] = [203, 0, 113, 1];
const B: [u8; 4] = [203, 0, 113, 2];
const C: [u8; 4] = [203, 0, 113, 3];

fn event(name: &str, path: &str, extra: &str) -> String {
    format!(r#"{{"n":"{name}","u":"https://example.com{path}","d":"example.com"{extra}}}"#)
}

async fn send(h: &Harness, ip: [u8; 4], body: String) -> StatusCode {
    let (s, v) = h.event_from(&body, CHROME, ip).await;
    assert!(s.is_success() || s.is_client_error(), "{s} {v}");
    s
}

fn page_row<'a>(v: &'a Value, page: &str) -> &'a Value {
    v["results"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["page"] == page))
        .unwrap_or_else(|| panic!("no row for {page}: {v}"))
}

#[tokio::test]
async fn engagement_events_are_scroll_depth_and_time_on_page_not_events() {
    let h = harness().await;
    // Visitor A reads /a (scrolls to 40 %, then 80 %: 15 s in all), then /b (3 s, no
    // scroll measured); visitor B reads /a (20 %, 30 s).
    for (ip, body) in [
        (A, event("pageview", "/a", "")),
        (A, event("engagement", "/a", r#","sd":40,"e":10000"#)),
        (A, event("engagement", "/a", r#","sd":80,"e":5000"#)),
        (A, event("pageview", "/b", "")),
        (A, event("engagement", "/b", r#","e":3000"#)),
        (B, event("pageview", "/a", "")),
        (B, event("engagement", "/a", r#","sd":20,"e":30000"#)),
    ] {
        assert_eq!(send(&h, ip, body).await, StatusCode::ACCEPTED);
    }
    // Visitor C never viewed a page: its engagement opens no visit (202, counted).
    let before = dropped(&h.metrics().await, "engagement_without_visit");
    let body = event("engagement", "/a", r#","sd":90,"e":60000"#);
    assert_eq!(send(&h, C, body).await, StatusCode::ACCEPTED);
    assert_eq!(
        dropped(&h.metrics().await, "engagement_without_visit"),
        before + 1
    );
    // Out of range: a clear 400, counted.
    for extra in [
        r#","sd":150,"e":1000"#,
        r#","sd":50,"e":-5"#,
        r#","sd":"far""#,
    ] {
        let (s, v) = h
            .event_from(&event("engagement", "/a", extra), CHROME, A)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{extra}: {v}");
        assert_eq!(v["reason"], "bad_engagement", "{v}");
    }
    assert_eq!(dropped(&h.metrics().await, "bad_engagement"), 3);

    // Not events: counts and event names are those of the three pageviews.
    let (s, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visitors,visits,pageviews,events")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r = &v["results"];
    assert_eq!(
        [
            &r["visitors"]["value"],
            &r["visits"]["value"],
            &r["pageviews"]["value"],
            &r["events"]["value"]
        ],
        [2, 2, 3, 3],
        "{v}"
    );
    let (_, v) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:name&metrics=events")
        .await;
    let names: Vec<&str> = v["results"]
        .as_array()
        .map(|rows| rows.iter().filter_map(|r| r["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["pageview"], "{v}");

    // Per page: the mean of each visitor's deepest scroll, time per visitor who engaged.
    let (s, v) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:page&metrics=visitors,scroll_depth,time_on_page")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let a = page_row(&v, "/a");
    assert_eq!(
        (&a["visitors"], &a["scroll_depth"], &a["time_on_page"]),
        (&2.into(), &50.into(), &23.into()),
        "{v}"
    );
    let b = page_row(&v, "/b");
    assert_eq!(
        (&b["visitors"], &b["scroll_depth"], &b["time_on_page"]),
        (&1.into(), &Value::Null, &3.into()),
        "{v}"
    );
    // In total: A's deepest scroll anywhere (80 %) and 18 s, B's 20 % and 30 s.
    let (_, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=scroll_depth,time_on_page")
        .await;
    assert_eq!(v["results"]["scroll_depth"]["value"], 50, "{v}");
    assert_eq!(v["results"]["time_on_page"]["value"], 24, "{v}");
    // Filters apply: /a only.
    let (_, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=time_on_page&filters=event:page==/a")
        .await;
    assert_eq!(v["results"]["time_on_page"]["value"], 23, "{v}");

    // Elsewhere they mean nothing: a clear 400.
    for uri in [
        "/api/v1/stats/timeseries?site_id=example.com&period=day&metrics=scroll_depth",
        "/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:source&metrics=time_on_page",
    ] {
        let (s, v) = h.get(uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert!(v["error"].as_str().unwrap_or("").contains("event:page"), "{v}");
    }
}
