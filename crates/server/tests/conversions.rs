//! Goals, conversions (browser and server-side) and surveys through the real router and
//! DuckDB store: the goals API, `POST /api/v1/conversions` with every refusal, the
//! conversion report by channel, generation, share and cascade with revenue in several
//! currencies and the private/public uplift, and the survey endpoints and report.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use lucarne_core::token::Token;
use serde_json::{json, Value};

fn tok(bits: u64) -> String {
    Token::from_bits(bits).expect("token").to_string()
}

const SHARER: [u8; 4] = [198, 51, 100, 1];
const BUYER: [u8; 4] = [198, 51, 100, 2];
const FB1: [u8; 4] = [198, 51, 100, 3];
const FB2: [u8; 4] = [198, 51, 100, 4];
const DIRECT: [u8; 4] = [198, 51, 100, 5];
const URL: &str = "https://example.com/article";

impl Harness {
    async fn send_json(
        &self,
        method: &str,
        uri: &str,
        body: Value,
        key: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(k) = key {
            req = req.header("authorization", format!("Bearer {k}"));
        }
        let (s, v, _) = self
            .send(req.body(Body::from(body.to_string())).expect("request"))
            .await;
        (s, v)
    }

    async fn post(&self, uri: &str, body: Value) -> (StatusCode, Value) {
        let key = self.key.clone();
        self.send_json("POST", uri, body, Some(&key)).await
    }

    /// An event from `ip`: name, url, referrer, token, props, revenue.
    #[allow(clippy::too_many_arguments)]
    async fn ev(
        &self,
        ip: [u8; 4],
        name: &str,
        url: &str,
        referrer: Option<&str>,
        token: Option<&str>,
        props: Value,
        revenue: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut body =
            json!({ "n": name, "u": url, "d": "example.com", "r": referrer, "p": props });
        if let Some(t) = token {
            body["t"] = json!(t);
        }
        if let Some(r) = revenue {
            body["$"] = r;
        }
        self.event_from(&body.to_string(), CHROME, ip).await
    }

    async fn report(&self, query: &str) -> Value {
        let (s, v) = self
            .get(&format!(
                "/api/v1/stats/conversions?site_id=example.com&period=day{query}"
            ))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }
}

fn metric(metrics: &str, name: &str, label: &str) -> u64 {
    let needle = format!("{name}{{{label}}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

fn row<'a>(report: &'a Value, value: &str) -> &'a Value {
    report["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["value"] == value))
        .unwrap_or_else(|| panic!("no row `{value}` in {report}"))
}

/// The sharer reads the article and shares it on WhatsApp; the buyer opens the shared
/// link, reaches the thank-you page and buys; two Facebook visitors come, one buys in
/// dollars; a direct visitor only looks. Returns (buyer's visit token, share token).
async fn traffic(h: &Harness) -> (String, String) {
    let (vs, share, vb) = (tok(201), tok(202), tok(203));
    let accepted = |r: (StatusCode, Value)| assert_eq!(r.0, StatusCode::ACCEPTED, "{}", r.1);
    accepted(
        h.ev(
            SHARER,
            "pageview",
            URL,
            Some("https://www.google.com/"),
            Some(&vs),
            json!({}),
            None,
        )
        .await,
    );
    accepted(
        h.ev(
            SHARER,
            "share",
            &format!("{URL}#lc={vs}"),
            None,
            Some(&share),
            json!({"channel": "whatsapp"}),
            None,
        )
        .await,
    );
    accepted(
        h.ev(
            BUYER,
            "pageview",
            &format!("{URL}#lc={share}"),
            None,
            Some(&vb),
            json!({}),
            None,
        )
        .await,
    );
    accepted(
        h.ev(
            BUYER,
            "pageview",
            "https://example.com/thanks/order",
            None,
            Some(&tok(204)),
            json!({}),
            None,
        )
        .await,
    );
    accepted(
        h.ev(
            BUYER,
            "purchase",
            "https://example.com/thanks/order",
            None,
            None,
            json!({"plan": "pro"}),
            Some(json!({"amount": "49.90", "currency": "EUR"})),
        )
        .await,
    );
    accepted(
        h.ev(
            FB1,
            "pageview",
            URL,
            Some("https://www.facebook.com/"),
            Some(&tok(205)),
            json!({}),
            None,
        )
        .await,
    );
    accepted(
        h.ev(
            FB2,
            "pageview",
            URL,
            Some("https://www.facebook.com/"),
            Some(&tok(206)),
            json!({}),
            None,
        )
        .await,
    );
    accepted(
        h.ev(
            FB2,
            "purchase",
            URL,
            None,
            None,
            json!({}),
            Some(json!({"amount": 10, "currency": "USD"})),
        )
        .await,
    );
    accepted(
        h.ev(
            DIRECT,
            "pageview",
            "https://example.com/",
            None,
            Some(&tok(207)),
            json!({}),
            None,
        )
        .await,
    );
    (vb, share)
}

#[tokio::test]
async fn goals_api_creates_lists_refuses_and_deletes() {
    let h = harness().await;
    let (s, g) = h
        .post(
            "/api/v1/goals",
            json!({"site_id": "example.com", "kind": "event", "value": "purchase"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    assert_eq!(
        (g["name"].as_str(), g["kind"].as_str()),
        (Some("purchase"), Some("event"))
    );
    // Plausible's field names work too.
    let (s, p) = h
        .post("/api/v1/goals", json!({"site_id": "example.com", "goal_type": "page", "page_path": "/thanks*", "name": "Thank you"}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let (s, e) = h
        .post(
            "/api/v1/goals",
            json!({"site_id": "example.com", "kind": "event", "value": "purchase"}),
        )
        .await;
    assert_eq!(
        (s, e["reason"].as_str()),
        (StatusCode::CONFLICT, Some("goal_exists"))
    );
    for bad in [
        json!({"site_id": "example.com", "kind": "visit", "value": "x"}),
        json!({"site_id": "example.com", "kind": "page", "value": "thanks"}),
        json!({"site_id": "example.com", "kind": "event", "value": "pageview"}),
    ] {
        let (s, e) = h.post("/api/v1/goals", bad).await;
        assert_eq!(
            (s, e["reason"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_goal")),
            "{e}"
        );
    }
    let (s, e) = h
        .send_json(
            "POST",
            "/api/v1/goals",
            json!({"site_id": "example.com", "kind": "event", "value": "x"}),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{e}");
    let (s, list) = h.get("/api/v1/goals?site_id=example.com").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["goals"].as_array().map(Vec::len), Some(2));
    assert_eq!(list["goals"][1]["value"], "/thanks*");
    let id = p["id"].as_i64().expect("id");
    let key = h.key.clone();
    let (s, _) = h
        .send_json(
            "DELETE",
            &format!("/api/v1/goals/{id}?site_id=example.com"),
            json!({}),
            Some(&key),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = h
        .send_json(
            "DELETE",
            &format!("/api/v1/goals/{id}?site_id=example.com"),
            json!({}),
            Some(&key),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn conversions_are_credited_to_the_share_that_brought_the_buyer() {
    let h = harness().await;
    let (buyer_token, share) = traffic(&h).await;
    for (kind, value, name) in [("event", "purchase", ""), ("page", "/thanks*", "Thank you")] {
        let (s, v) = h
            .post(
                "/api/v1/goals",
                json!({"site_id": "example.com", "kind": kind, "value": value, "name": name}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    let visits_before = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visits,pageviews,bounce_rate")
        .await
        .1;

    // The buyer pays again days later, on the shop's server, with the kept token.
    let order = json!({
        "site_id": "example.com", "token": buyer_token, "name": "purchase",
        "revenue": {"amount": "100.00", "currency": "EUR"}, "id": "order-7",
        "props": {"plan": "team"}
    });
    let (s, v) = h.post("/api/v1/conversions", order.clone()).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["credited"]["channel"], "whatsapp");
    assert_eq!(v["credited"]["channel_group"], "private-message");
    assert_eq!(v["credited"]["generation"], 1);
    assert_eq!(v["credited"]["share_channel"], "whatsapp");
    assert_eq!(v["credited"]["landing_page"], "/article");
    // The same order again is acknowledged and not counted.
    let (s, v) = h.post("/api/v1/conversions", order.clone()).await;
    assert_eq!(
        (s, v["duplicate"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{v}"
    );
    // The share token itself credits the first visit that arrived with it: the buyer.
    let (s, v) = h
        .post(
            "/api/v1/conversions",
            json!({"site_id": "example.com", "token": share, "name": "signup"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(v["credited"]["channel"], "whatsapp");
    // Refusals: each a 4xx with a JSON reason.
    let cases = [
        (
            json!({"site_id": "example.com", "token": tok(999_999), "name": "purchase"}),
            StatusCode::NOT_FOUND,
            "unknown_token",
        ),
        (
            json!({"site_id": "example.com", "token": "short", "name": "purchase"}),
            StatusCode::BAD_REQUEST,
            "bad_token",
        ),
        (
            json!({"site_id": "example.com", "token": buyer_token, "name": ""}),
            StatusCode::BAD_REQUEST,
            "bad_name",
        ),
        (
            json!({"site_id": "example.com", "token": buyer_token, "name": "link_click"}),
            StatusCode::BAD_REQUEST,
            "bad_name",
        ),
        (
            json!({"site_id": "example.com", "token": buyer_token, "name": "purchase", "revenue": {"amount": 1}}),
            StatusCode::BAD_REQUEST,
            "bad_revenue",
        ),
        (
            json!({"site_id": "nope.example", "token": buyer_token, "name": "purchase"}),
            StatusCode::NOT_FOUND,
            "unknown_site",
        ),
    ];
    for (body, status, reason) in cases {
        let (s, v) = h.post("/api/v1/conversions", body.clone()).await;
        assert_eq!(
            (s, v["reason"].as_str()),
            (status, Some(reason)),
            "{body} → {v}"
        );
    }
    let (s, _) = h
        .send_json("POST", "/api/v1/conversions", order, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let m = h.metrics().await;
    assert_eq!(
        metric(
            &m,
            "lucarne_server_conversions_total",
            "result=\"accepted\""
        ),
        2
    );
    assert_eq!(
        metric(
            &m,
            "lucarne_server_conversions_total",
            "result=\"duplicate\""
        ),
        1
    );
    assert_eq!(
        metric(
            &m,
            "lucarne_server_conversions_total",
            "result=\"unknown_token\""
        ),
        1
    );

    // A server-side conversion is not part of its visit's pageviews or visits.
    let visits_after = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visits,pageviews,bounce_rate")
        .await
        .1;
    assert_eq!(visits_before["results"], visits_after["results"]);

    // The report by channel: the buyer's two purchases (browser + server) in WhatsApp.
    let r = h.report("&goal=purchase&by=visit:channel").await;
    assert_eq!(r["currency"], "EUR");
    let purchase = &r["goals"][0];
    assert_eq!(purchase["name"], "purchase");
    assert_eq!(purchase["visits"], 5);
    assert_eq!(purchase["converting_visits"], 2);
    assert_eq!(purchase["conversions"], 3);
    assert_eq!(purchase["conversion_rate"], 40.0);
    assert_eq!(purchase["revenue"]["by_currency"]["EUR"], 149.9);
    assert_eq!(purchase["revenue"]["by_currency"]["USD"], 10.0);
    assert_eq!(purchase["revenue"]["total"], 149.9);
    assert_eq!(purchase["revenue"]["unconverted"], json!(["USD"]));
    let thanks = &r["goals"][1];
    assert_eq!(
        (
            thanks["name"].as_str(),
            thanks["converting_visits"].as_u64()
        ),
        (Some("Thank you"), Some(1))
    );
    let wa = row(&r, "whatsapp");
    assert_eq!(
        (
            wa["visits"].as_u64(),
            wa["converting_visits"].as_u64(),
            wa["conversions"].as_u64()
        ),
        (Some(1), Some(1), Some(2))
    );
    assert_eq!(wa["conversion_rate"], 100.0);
    assert_eq!(wa["revenue"]["total"], 149.9);
    assert_eq!(wa["revenue"]["per_visit"], 149.9);
    let fb = row(&r, "facebook");
    assert_eq!(
        (fb["visits"].as_u64(), fb["converting_visits"].as_u64()),
        (Some(2), Some(1))
    );
    assert_eq!(row(&r, "google")["converting_visits"], 0);

    // Private (WhatsApp) against public (Facebook): 1/1 against 1/2.
    let u = &r["uplift"];
    assert_eq!(
        (
            u["private"]["visits"].as_u64(),
            u["private"]["converting_visits"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            u["public"]["visits"].as_u64(),
            u["public"]["converting_visits"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(u["difference_points"], 50.0);
    assert_eq!(u["relative_uplift_percent"], 100.0);
    assert_eq!(
        u["significant"], false,
        "one visit against two proves nothing"
    );
    assert!(u["method"].as_str().is_some_and(|m| m.contains("Newcombe")));

    // By generation, by the share, by the cascade's root, by evidence.
    let g = h.report("&goal=purchase&by=visit:generation").await;
    assert_eq!(row(&g, "1")["conversions"], 2);
    assert_eq!(row(&g, "0")["conversions"], 1);
    let s = h.report("&goal=purchase&by=share").await;
    assert_eq!(s["rows"].as_array().map(Vec::len), Some(1), "{s}");
    assert_eq!(row(&s, &share)["revenue"]["total"], 149.9);
    let c = h.report("&goal=purchase&by=cascade").await;
    let rows = c["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "{c}");
    assert!(
        rows[0]["value"]
            .as_str()
            .is_some_and(|v| v.ends_with("· /article")),
        "{c}"
    );
    assert_eq!(rows[0]["conversions"], 2);
    let e = h.report("&goal=purchase&by=visit:evidence").await;
    assert_eq!(row(&e, "share-token")["converting_visits"], 1);
    // The page goal by its name; the signup the share token credited.
    let t = h.report("&goal=Thank%20you&by=visit:channel").await;
    assert_eq!(row(&t, "whatsapp")["conversions"], 1);
    let su = h
        .report("&goal=purchase&by=visit:channel&filters=visit:channel==facebook")
        .await;
    assert_eq!(su["goals"][0]["conversions"], 1);

    // With a rate for dollars, one total in euros.
    let mut o = h.state.meta.site_options(1).await.expect("options");
    o.exchange_rates = "USD=0.5".into();
    h.state.meta.set_site_options(1, &o).await.expect("set");
    h.state.invalidate_sites();
    let r = h.report("&goal=purchase").await;
    assert_eq!(r["goals"][0]["revenue"]["total"], 154.9, "{r}");
    assert_eq!(r["goals"][0]["revenue"]["unconverted"], json!([]));

    // Bad report queries.
    for q in ["&by=event:page", "&goal=nope", "&filters=event:page==/x"] {
        let (s, v) = h
            .get(&format!(
                "/api/v1/stats/conversions?site_id=example.com&period=day{q}"
            ))
            .await;
        assert!(s.is_client_error(), "{q}: {s} {v}");
        assert!(v["error"].is_string(), "{v}");
    }
}

#[tokio::test]
async fn survey_answers_once_per_visit_and_reports_matrix_and_estimate() {
    let h = harness().await;
    traffic(&h).await;
    // The widget's question, in French, from any origin.
    let (s, v, headers) = h
        .send(
            Request::get("/api/survey?domain=example.com&lang=fr-FR")
                .header("origin", "https://example.com")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["lang"], "fr");
    assert!(
        v["question"].as_str().is_some_and(|q| q.contains("nous")),
        "{v}"
    );
    assert_eq!(
        headers
            .get("access-control-allow-origin")
            .and_then(|h| h.to_str().ok()),
        Some("*")
    );
    let ids: Vec<&str> = v["options"]
        .as_array()
        .expect("options")
        .iter()
        .filter_map(|o| o["id"].as_str())
        .collect();
    assert_eq!(ids.first(), Some(&"whatsapp"));
    assert_eq!(ids.last(), Some(&"other"));
    let (s, _, _) = h
        .send(
            Request::get("/api/survey?domain=nope.example")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let thanks = "https://example.com/thanks/order";
    let answer = |ip, props| h.ev(ip, "survey", thanks, None, None, props, None);
    assert_eq!(
        answer(BUYER, json!({"answer": "whatsapp"})).await.0,
        StatusCode::ACCEPTED
    );
    let (s, v) = answer(BUYER, json!({"answer": "email"})).await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::CONFLICT, Some("duplicate_survey"))
    );
    let (s, v) = answer(FB1, json!({"answer": "carrier-pigeon"})).await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_survey"))
    );
    let (s, _) = answer(FB1, json!({"answer": "other", "text": "x".repeat(201)})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(
        answer(FB1, json!({"answer": "facebook"})).await.0,
        StatusCode::ACCEPTED
    );
    // The direct visitor says a friend sent it on WhatsApp, in free text.
    assert_eq!(
        answer(
            DIRECT,
            json!({"answer": "other", "text": "Un ami me l'a envoyé sur WhatsApp"})
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let m = h.metrics().await;
    assert_eq!(dropped(&m, "duplicate_survey"), 1);
    assert_eq!(dropped(&m, "bad_survey"), 2);

    let (s, r) = h
        .get("/api/v1/stats/surveys?site_id=example.com&period=day")
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["respondents"], 3);
    let cell = |reported: &str, measured: &str| {
        r["matrix"]
            .as_array()
            .and_then(|m| {
                m.iter()
                    .find(|c| c["reported"] == reported && c["measured"] == measured)
            })
            .and_then(|c| c["respondents"].as_u64())
            .unwrap_or(0)
    };
    assert_eq!(cell("whatsapp", "private-message"), 1);
    assert_eq!(cell("facebook", "public-social"), 1);
    assert_eq!(
        cell("whatsapp", "direct"),
        1,
        "free text mapped to WhatsApp: {r}"
    );
    let direct = r["measured_groups"]
        .as_array()
        .and_then(|g| g.iter().find(|x| x["measured"] == "direct"))
        .expect("direct group");
    assert_eq!(
        (
            direct["respondents"].as_u64(),
            direct["say_private"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let est = &r["dark_social"];
    let (p, lo, hi) = (
        est["estimated_percent"].as_f64().expect("estimate"),
        est["interval"][0].as_f64().expect("low"),
        est["interval"][1].as_f64().expect("high"),
    );
    assert!(
        lo <= p && p <= hi && (0.0..=100.0).contains(&lo) && hi <= 100.0,
        "{est}"
    );
    assert!(
        est["measured_percent"].as_f64().is_some_and(|m| m > 0.0),
        "{est}"
    );
    assert!(
        r["free_texts"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x["mapped_to"] == "whatsapp")),
        "{r}"
    );

    // Survey off: the widget gets 403 and answers are refused.
    let mut o = h.state.meta.site_options(1).await.expect("options");
    o.survey_enabled = false;
    h.state.meta.set_site_options(1, &o).await.expect("set");
    h.state.invalidate_sites();
    let (s, _, _) = h
        .send(
            Request::get("/api/survey?domain=example.com")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = answer(FB2, json!({"answer": "facebook"})).await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("survey_off"))
    );
}

#[tokio::test]
async fn openapi_describes_the_conversion_and_survey_routes() {
    let h = harness().await;
    let (_, v, _) = h
        .send(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    let paths = v["paths"].as_object().expect("paths");
    for route in [
        "/api/v1/goals",
        "/api/v1/goals/{id}",
        "/api/v1/conversions",
        "/api/v1/stats/conversions",
        "/api/survey",
        "/api/v1/stats/surveys",
        "/js/survey.js",
    ] {
        assert!(paths.contains_key(route), "{route} documented");
    }
    let (s, body, headers) = h
        .send(
            Request::get("/js/survey.js")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .is_ok_and(|c| c.starts_with("application/javascript")));
    assert!(body.as_str().is_some_and(|js| js.contains("/api/survey")));
}
