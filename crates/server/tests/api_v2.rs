//! Plausible's Stats API v2 (`POST /api/v2/query`) through the whole service: the
//! answer's shape (Plausible's documented examples), every kind of filter, several
//! dimensions, time dimensions and their labels, ordering and pages, and the 400s and
//! 401s with Plausible's messages. Runs on both back ends (`LUCARNE_TEST_BACKEND`).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

mod common;
use common::*;

const IPHONE: &str = IPHONE_SAFARI;

/// Four visitors, today:
/// - A (Chrome, direct): `/blog/a`, `/pricing`, a `Signup` on `/pricing` with plan=pro;
/// - B (Chrome, from Google): `/blog/B`;
/// - C (iPhone, newsletter e-mail): `/docs/x`, `/Blog/c`;
/// - D (Chrome, direct): `/`.
async fn site() -> Harness {
    let h = harness().await;
    let hits: [(&str, &str, [u8; 4]); 7] = [
        (
            r#"{"n":"pageview","u":"https://example.com/blog/a","d":"example.com"}"#,
            CHROME,
            [198, 51, 100, 1],
        ),
        (
            r#"{"n":"pageview","u":"https://example.com/pricing","d":"example.com"}"#,
            CHROME,
            [198, 51, 100, 1],
        ),
        (
            r#"{"n":"Signup","u":"https://example.com/pricing","d":"example.com","p":{"plan":"pro"}}"#,
            CHROME,
            [198, 51, 100, 1],
        ),
        (
            r#"{"n":"pageview","u":"https://example.com/blog/B","d":"example.com","r":"https://www.google.com/"}"#,
            CHROME,
            [198, 51, 100, 2],
        ),
        (
            r#"{"n":"pageview","u":"https://example.com/docs/x?utm_source=newsletter&utm_medium=email","d":"example.com"}"#,
            IPHONE,
            [198, 51, 100, 3],
        ),
        (
            r#"{"n":"pageview","u":"https://example.com/Blog/c","d":"example.com"}"#,
            IPHONE,
            [198, 51, 100, 3],
        ),
        (
            r#"{"n":"pageview","u":"https://example.com/","d":"example.com"}"#,
            CHROME,
            [198, 51, 100, 4],
        ),
    ];
    for (body, ua, ip) in hits {
        let (s, v) = h.event_from(body, ua, ip).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}: {v}");
    }
    h
}

async fn post(h: &Harness, key: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut req = Request::post("/api/v2/query").header("content-type", "application/json");
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    let (s, v, _) = h
        .send(req.body(Body::from(body.to_string())).expect("req"))
        .await;
    (s, v)
}

async fn query(h: &Harness, q: Value) -> Value {
    let (s, v) = post(h, Some(&h.key), &q.to_string()).await;
    assert_eq!(s, StatusCode::OK, "{q}: {v}");
    v
}

/// The `metrics` of every result row.
fn metrics(v: &Value) -> Vec<Vec<Value>> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["metrics"].as_array().expect("metrics").clone())
        .collect()
}

/// `(dimensions, metrics)` of every result row.
fn rows(v: &Value) -> Vec<(Vec<String>, Vec<Value>)> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let d = r["dimensions"]
                .as_array()
                .expect("dimensions")
                .iter()
                .map(|x| x.as_str().expect("text").to_string())
                .collect();
            (d, r["metrics"].as_array().expect("metrics").clone())
        })
        .collect()
}

/// The visitors of a query that is only filters.
async fn visitors_where(h: &Harness, filters: Value) -> u64 {
    let v = query(
        h,
        json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day",
               "filters": filters}),
    )
    .await;
    v["results"][0]["metrics"][0].as_u64().expect("count")
}

#[tokio::test]
async fn an_aggregate_answers_in_plausibles_shape() {
    let h = site().await;
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors", "pageviews", "events", "visits"],
               "date_range": "day"}),
    )
    .await;
    assert_eq!(
        metrics(&v),
        vec![vec![json!(4), json!(6), json!(7), json!(4)]]
    );
    assert_eq!(v["results"][0]["dimensions"], json!([]));
    assert_eq!(v["meta"], json!({}));
    let today = chrono::Utc::now().date_naive();
    assert_eq!(
        v["query"],
        json!({
            "site_id": "example.com",
            "metrics": ["visitors", "pageviews", "events", "visits"],
            "date_range": [format!("{today}T00:00:00+00:00"), format!("{today}T23:59:59+00:00")],
            "filters": [],
            "dimensions": [],
            "order_by": [["visitors", "desc"]],
            "include": {},
            "pagination": {"limit": 10000, "offset": 0}
        })
    );
    // A range of dates, as the documentation's custom range: the same day.
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors"],
               "date_range": [today.to_string(), today.to_string()]}),
    )
    .await;
    assert_eq!(metrics(&v), vec![vec![json!(4)]]);
    // "7d" is the seven days before today: none of today's visitors.
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "7d"}),
    )
    .await;
    assert_eq!(metrics(&v), vec![vec![json!(0)]]);
    // "all" starts on the site's first day.
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "all"}),
    )
    .await;
    assert_eq!(metrics(&v), vec![vec![json!(4)]]);
    assert_eq!(
        v["query"]["date_range"][0],
        json!(format!("{today}T00:00:00+00:00"))
    );
}

#[tokio::test]
async fn every_kind_of_filter() {
    let h = site().await;
    let n = |f: Value| visitors_where(&h, f);
    assert_eq!(n(json!([["contains", "event:page", ["blog"]]])).await, 2);
    assert_eq!(
        n(json!([["contains", "event:page", ["blog"], {"case_sensitive": false}]])).await,
        3
    );
    assert_eq!(n(json!([["is", "event:page", ["/blog/b"]]])).await, 0);
    assert_eq!(
        n(json!([["is", "event:page", ["/blog/b"], {"case_sensitive": false}]])).await,
        1
    );
    // `is` has no wildcard: a `*` is a character like any other.
    assert_eq!(n(json!([["is", "event:page", ["/blog/*"]]])).await, 0);
    assert_eq!(
        n(json!([["matches", "event:page", ["^/(docs|pricing)"]]])).await,
        2
    );
    assert_eq!(n(json!([["matches_not", "event:page", ["^/"]]])).await, 0);
    assert_eq!(n(json!([["is_not", "visit:source", ["Google"]]])).await, 3);
    assert_eq!(n(json!([["contains_not", "event:page", ["o"]]])).await, 2);
    assert_eq!(
        n(json!([[
            "or",
            [
                ["is", "visit:utm_source", ["newsletter"]],
                ["is", "event:page", ["/pricing"]]
            ]
        ]]))
        .await,
        2
    );
    assert_eq!(
        n(json!([[
            "and",
            [
                ["contains", "event:page", ["blog"]],
                ["is", "visit:source", ["Google"]]
            ]
        ]]))
        .await,
        1
    );
    // Visitors with a row whose page does not contain "blog": A, C and D.
    assert_eq!(
        n(json!([["not", ["contains", "event:page", ["blog"]]]])).await,
        3
    );
    // Plausible's documented example, on this data: pages under /docs or /pricing, from
    // a campaign that is not "Referral" or from Estonia or the United States.
    assert_eq!(
        n(json!([
            ["contains", "event:page", ["/docs", "/pricing"]],
            [
                "or",
                [
                    ["not", ["is", "visit:utm_campaign", ["Referral"]]],
                    ["is", "visit:country", ["EE", "US"]]
                ]
            ]
        ]))
        .await,
        2
    );
    assert_eq!(
        n(json!([["has_done", ["is", "event:name", ["Signup"]]]])).await,
        1
    );
    assert_eq!(
        n(json!([["has_not_done", ["is", "event:name", ["Signup"]]]])).await,
        3
    );
    assert_eq!(n(json!([["is", "event:props:plan", ["pro"]]])).await, 1);
    // The visit that signed up, all of it: two pageviews.
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["pageviews", "visits"], "date_range": "day",
               "filters": [["has_done", ["is", "event:name", ["Signup"]]]]}),
    )
    .await;
    assert_eq!(metrics(&v), vec![vec![json!(2), json!(1)]]);
    // Filters are echoed as sent.
    let f = json!([["contains", "event:page", ["blog"], {"case_sensitive": false}]]);
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "filters": f}),
    )
    .await;
    assert_eq!(v["query"]["filters"], f);
}

#[tokio::test]
async fn several_dimensions_orders_and_pages() {
    let h = site().await;
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors", "pageviews"], "date_range": "day",
               "dimensions": ["visit:device", "event:page"],
               "filters": [["is", "event:name", ["pageview"]]]}),
    )
    .await;
    let got = rows(&v);
    assert_eq!(got.len(), 6, "{v}");
    let device = |page: &str| {
        got.iter()
            .find(|(d, _)| d[1] == page)
            .map(|(d, m)| (d[0].clone(), m.clone()))
            .expect(page)
    };
    assert_eq!(
        device("/docs/x"),
        ("mobile".to_string(), vec![json!(1), json!(1)])
    );
    assert_eq!(
        device("/pricing"),
        ("desktop".to_string(), vec![json!(1), json!(1)])
    );
    // Ties on visitors (1 each), then pageviews, events: the default order falls back to
    // the values, ascending.
    assert_eq!(got[0].0, vec!["desktop".to_string(), "/".to_string()]);
    assert_eq!(
        v["query"]["dimensions"],
        json!(["visit:device", "event:page"])
    );
    // Ordered by a dimension, paged, with the count of rows.
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day",
               "dimensions": ["event:page"], "filters": [["is", "event:name", ["pageview"]]],
               "order_by": [["event:page", "desc"]],
               "include": {"total_rows": true}, "pagination": {"limit": 2, "offset": 1}}),
    )
    .await;
    let pages: Vec<String> = rows(&v).into_iter().map(|(d, _)| d[0].clone()).collect();
    assert_eq!(pages, vec!["/docs/x", "/blog/a"], "{v}");
    assert_eq!(v["meta"]["total_rows"], json!(6));
    assert_eq!(v["query"]["order_by"], json!([["event:page", "desc"]]));
    assert_eq!(v["query"]["include"], json!({"total_rows": true}));
    assert_eq!(v["query"]["pagination"], json!({"limit": 2, "offset": 1}));
    // percentage: each row's share of all the visitors.
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors", "percentage"], "date_range": "day",
               "dimensions": ["visit:device"]}),
    )
    .await;
    assert_eq!(
        rows(&v),
        vec![
            (vec!["desktop".to_string()], vec![json!(3), json!(75.0)]),
            (vec!["mobile".to_string()], vec![json!(1), json!(25.0)]),
        ]
    );
    // Lucarne's own dimensions and metrics.
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visits", "dark_share"], "date_range": "day",
               "dimensions": ["visit:channel_group"], "order_by": [["visits", "desc"]]}),
    )
    .await;
    let total: u64 = rows(&v)
        .iter()
        .map(|(_, m)| m[0].as_u64().expect("n"))
        .sum();
    assert_eq!(total, 4, "{v}");
    assert!(
        rows(&v)
            .iter()
            .any(|(d, m)| d[0] == "email" && m[1] == json!(100.0)),
        "{v}"
    );
}

#[tokio::test]
async fn time_dimensions_and_their_labels() {
    let h = site().await;
    let now = chrono::Utc::now();
    let today = now.date_naive();
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day",
               "dimensions": ["time:hour"], "include": {"time_labels": true}}),
    )
    .await;
    let labels = v["meta"]["time_labels"].as_array().expect("labels");
    assert_eq!(labels.len(), 24);
    assert_eq!(labels[0], json!(format!("{today} 00:00:00")));
    assert_eq!(labels[23], json!(format!("{today} 23:00:00")));
    // Rows only for hours with visitors (all of them arrived this hour, or just before).
    let got = rows(&v);
    let total: u64 = got.iter().map(|(_, m)| m[0].as_u64().expect("n")).sum();
    assert!(!got.is_empty() && total >= 4, "{v}");
    assert_eq!(
        v["query"]["order_by"],
        json!([["time:hour", "asc"], ["visitors", "desc"]])
    );
    // `time` resolves by the range's length: a day by the hour, a month by the day.
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day",
               "dimensions": ["time"]}),
    )
    .await;
    assert_eq!(v["query"]["dimensions"], json!(["time:hour"]));
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors", "pageviews"], "date_range": "month",
               "dimensions": ["time:day", "visit:device"]}),
    )
    .await;
    assert_eq!(
        rows(&v),
        vec![
            (
                vec![today.to_string(), "desktop".to_string()],
                vec![json!(3), json!(4)]
            ),
            (
                vec![today.to_string(), "mobile".to_string()],
                vec![json!(1), json!(2)]
            ),
        ]
    );
    let v = query(
        &h,
        json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "year",
               "dimensions": ["time:month"]}),
    )
    .await;
    assert_eq!(
        rows(&v),
        vec![(
            vec![format!("{}", today.format("%Y-%m-01"))],
            vec![json!(4)]
        )]
    );
}

#[tokio::test]
async fn invalid_queries_get_plausibles_messages() {
    let h = site().await;
    let cases: Vec<(Value, &str)> = vec![
        (json!({"site_id": "example.com"}), "#: Required properties metrics, date_range were not present."),
        (json!({"site_id": "example.com", "date_range": "day"}), "#: Required property metrics was not present."),
        (json!({"site_id": "example.com", "metrics": ["visitors", "baa"], "date_range": "day"}), "#/metrics/1: Invalid metric \"baa\""),
        (json!({"site_id": "example.com", "metrics": [], "date_range": "day"}), "#/metrics: Expected a minimum of 1 items but got 0."),
        (json!({"site_id": "example.com", "metrics": ["visitors", "visitors"], "date_range": "day"}), "#/metrics: Expected items to be unique but they were not."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "bad_period"}), "#/date_range: Invalid date range \"bad_period\""),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "dimensions": ["badproperty"]}), "#/dimensions/0: Invalid dimension \"badproperty\""),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "dimensions": ["event:props:"]}), "#/dimensions/0: Invalid dimension \"event:props:\""),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "dimensions": "event:page"}), "#/dimensions: Type mismatch. Expected Array but got String."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "filters": [["is", "event:device", ["foo"]]]}), "#/filters/0: Invalid filter [\"is\", \"event:device\", [\"foo\"]]"),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "order_by": [["visssss", "desc"]]}), "#/order_by/0/0: Invalid value in order_by \"visssss\""),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "order_by": [["events", "desc"]]}), "Invalid order_by entry '{:events, :desc}'. Entry is not a queried metric or dimension."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "order_by": [["event:name", "desc"]]}), "Invalid order_by entry '{\"event:name\", :desc}'. Entry is not a queried metric or dimension."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "include": "x"}), "#/include: Type mismatch. Expected Object but got String."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "include": {"comparisons": true}}), "#/include/comparisons: Schema does not allow additional properties."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "include": {"time_labels": true}}), "Invalid include.time_labels: requires a time dimension."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "pagination": {"limit": 10001}}), "#/pagination/limit: Expected the value to be <= 10000"),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "pagination": {"offset": -1}}), "#/pagination/offset: Expected the value to be >= 0"),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "date": "2024-01-01"}), "#/date: Schema does not allow additional properties."),
        (json!({"site_id": "example.com", "metrics": ["bounce_rate"], "date_range": "day", "dimensions": ["event:props:plan"]}), "Session metric(s) `bounce_rate` cannot be queried along with event dimension(s) `event:props:plan`"),
        (json!({"site_id": "example.com", "metrics": ["views_per_visit"], "date_range": "day", "dimensions": ["visit:source"]}), "Metric `views_per_visit` cannot be queried with `dimensions`."),
        (json!({"site_id": "example.com", "metrics": ["views_per_visit"], "date_range": "day", "filters": [["is", "event:page", ["/"]]]}), "Metric `views_per_visit` cannot be queried with a filter on `event:page`."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "filters": [["is", "visit:country", ["Estonia"]]]}), "Invalid visit:country filter, visit:country needs to be a valid 2-letter country code."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "filters": [["not", ["has_done", ["is", "event:name", ["Signup"]]]]]}), "Invalid filters. Behavioral filters (has_done, has_not_done) cannot be nested."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "year", "dimensions": ["time:hour"]}), "Invalid dimensions. `time:hour` covers at most 31 days."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "dimensions": ["event:page", "visit:source", "visit:device", "visit:os", "visit:browser", "visit:country", "event:name"]}), "#/dimensions: Expected a maximum of 6 items but got 7."),
        (json!({"site_id": "example.com", "metrics": ["visitors"], "date_range": "day", "filters": [["matches", "event:page", ["\\u0041"]]]}), "Invalid filters. \"\\\\u0041\" is not a valid regular expression."),
    ];
    for (q, msg) in cases {
        let (s, v) = post(&h, Some(&h.key), &q.to_string()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{q}: {v}");
        assert_eq!(v["error"], json!(msg), "{q}");
    }
    // What Lucarne does not record, or answers elsewhere, says so.
    let (s, v) = post(
        &h,
        Some(&h.key),
        r#"{"site_id":"example.com","metrics":["visitors"],"date_range":"day","dimensions":["visit:city"]}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"],
        json!("#/dimensions/0: Invalid dimension \"visit:city\" (Lucarne does not record it)")
    );
    let (s, v) = post(
        &h,
        Some(&h.key),
        r#"{"site_id":"example.com","metrics":["conversion_rate"],"date_range":"day"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"],
        json!(
            "Metric `conversion_rate` can only be queried with event:goal filters or dimensions."
        )
    );
    let (s, v) = post(
        &h,
        Some(&h.key),
        r#"{"site_id":"example.com","metrics":["total_revenue"],"date_range":"day"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("/api/v1/stats/conversions"),
        "{v}"
    );
    // Not JSON, or not an object.
    for body in ["{", "[1]", "\"x\""] {
        let (s, v) = post(&h, Some(&h.key), body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v["error"].is_string(), "{body}: {v}");
    }
    // Too large: refused before it is read whole.
    let big = format!(
        r#"{{"site_id":"example.com","metrics":["visitors"],"date_range":"day","filters":[["is","event:page",["{}"]]]}}"#,
        "x".repeat(70_000)
    );
    let (s, v) = post(&h, Some(&h.key), &big).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(v["error"].is_string(), "{v}");
}

#[tokio::test]
async fn keys_and_sites_answer_as_plausible_does() {
    let h = site().await;
    let q = r#"{"site_id":"example.com","metrics":["visitors"],"date_range":"day"}"#;
    let (s, v) = post(&h, None, q).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        v["error"],
        json!("Missing API key. Please use a valid Plausible API key as a Bearer Token.")
    );
    let invalid = json!("Invalid API key or site ID. Please make sure you're using a valid API key with access to the site you've requested.");
    let (s, v) = post(&h, Some("not-a-key"), q).await;
    assert_eq!((s, &v["error"]), (StatusCode::UNAUTHORIZED, &invalid));
    // An unknown site is the same answer as a key without access: nothing leaks.
    let (s, v) = post(
        &h,
        Some(&h.key),
        r#"{"site_id":"nope.example","metrics":["visitors"],"date_range":"day"}"#,
    )
    .await;
    assert_eq!((s, &v["error"]), (StatusCode::UNAUTHORIZED, &invalid));
    let (s, v) = post(
        &h,
        Some(&h.key),
        r#"{"metrics":["visitors"],"date_range":"day"}"#,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"],
        json!("Missing site ID. Please provide the required site_id parameter with your request.")
    );
}

#[tokio::test]
async fn goals_filter_group_and_convert() {
    let h = site().await;
    let site = h
        .state
        .meta
        .site_by_domain("example.com")
        .await
        .expect("meta")
        .expect("site");
    for (kind, value) in [
        ("event", "Signup"),
        ("page", "/pricing"),
        ("page", "/never"),
    ] {
        let g = lucarne_core::conversions::GoalKind::parse(kind, value).expect("goal");
        h.state
            .meta
            .create_goal(site.id, &g, "")
            .await
            .expect("meta")
            .expect("new goal");
    }
    let q = |extra: Value| {
        let mut base = json!({"site_id": "example.com", "date_range": "day"});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base
    };
    // Converting visitors, conversions and the rate of one goal.
    let v = query(
        &h,
        q(json!({"metrics": ["visitors", "events", "conversion_rate"],
                 "filters": [["is", "event:goal", ["Signup"]]]})),
    )
    .await;
    assert_eq!(metrics(&v), vec![vec![json!(1), json!(1), json!(25.0)]]);
    // A page goal by Plausible's name for it, or by its own.
    for name in ["Visit /pricing", "/pricing"] {
        let v = query(
            &h,
            q(json!({"metrics": ["visitors", "events"],
                     "filters": [["is", "event:goal", [name]]]})),
        )
        .await;
        assert_eq!(metrics(&v), vec![vec![json!(1), json!(1)]], "{name}");
    }
    // By goal: each goal that converted, with its rate of all visitors.
    let v = query(
        &h,
        q(json!({"metrics": ["visitors", "events", "conversion_rate"],
                 "dimensions": ["event:goal"]})),
    )
    .await;
    assert_eq!(
        rows(&v),
        vec![
            (
                vec!["/pricing".to_string()],
                vec![json!(1), json!(1), json!(25.0)]
            ),
            (
                vec!["Signup".to_string()],
                vec![json!(1), json!(1), json!(25.0)]
            ),
        ]
    );
    // By goal and device: the rate within each device too.
    let v = query(
        &h,
        q(
            json!({"metrics": ["visitors", "conversion_rate", "group_conversion_rate"],
                 "dimensions": ["event:goal", "visit:device"],
                 "filters": [["contains", "event:goal", ["Sign"]]]}),
        ),
    )
    .await;
    assert_eq!(
        rows(&v),
        vec![(
            vec!["Signup".to_string(), "desktop".to_string()],
            vec![json!(1), json!(25.0), json!(33.3)]
        )]
    );
    // A goal the site does not have; a goal filter inside `or`; a negated goal.
    let (s, v) = post(
        &h,
        Some(&h.key),
        &q(json!({"metrics": ["visitors"], "filters": [["is", "event:goal", ["Nope"]]]}))
            .to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"],
        json!("Invalid filters. The goal `Nope` is not configured for this site. Find out how to configure goals here: https://plausible.io/docs/stats-api#filtering-by-goals")
    );
    let (s, v) = post(
        &h,
        Some(&h.key),
        &q(json!({"metrics": ["visitors"],
                  "filters": [["or", [["is", "event:goal", ["Signup"]], ["is", "event:page", ["/"]]]]]}))
        .to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"],
        json!("Invalid filters. Dimension `event:goal` can only be filtered at the top level.")
    );
    let (s, v) = post(
        &h,
        Some(&h.key),
        &q(json!({"metrics": ["visitors"], "filters": [["is_not", "event:goal", ["Signup"]]]}))
            .to_string(),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        v["error"],
        json!("#/filters/0: Invalid filter [\"is_not\", \"event:goal\", [\"Signup\"]]")
    );
    // v1 says the same: a breakdown by goal, and a goal filter with its rate.
    let (s, v) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:goal&metrics=visitors,conversion_rate")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["goal"], json!("/pricing"), "{v}");
    assert_eq!(v["results"][0]["conversion_rate"], json!(25.0), "{v}");
    let (s, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visitors,conversion_rate&filters=event:goal%3D%3DSignup")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"]["conversion_rate"]["value"], json!(25.0), "{v}");
    // v1 may not negate a goal either.
    let (s, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visitors&filters=event:goal!%3DSignup")
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}
