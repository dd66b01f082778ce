//! Annotations and embedding (issue 23), through the router: the API's answers and
//! refusals, the overview's notes and their owner-only forms, and which pages may be
//! framed by whom.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use serde_json::{json, Value};

mod common;
use common::{Harness, OWNER, OWNER_CSRF, VIEWER, VIEWER_CSRF};

async fn api(
    h: &Harness,
    method: &str,
    uri: &str,
    key: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, format!("Bearer {key}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
        .expect("request");
    let (s, v, _) = h.send(req).await;
    (s, v)
}

fn notes(v: &Value) -> Vec<(String, String)> {
    v["annotations"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| {
                    (
                        n["date"].as_str().unwrap_or_default().to_string(),
                        n["note"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn the_api_adds_lists_and_deletes_notes_and_refuses_bad_ones() {
    let h = common::harness().await;
    let site_id = h.add_roles().await;
    let key = h.key.clone();
    let post =
        |date: &str, note: &str| json!({"site_id": "example.com", "date": date, "note": note});

    let (s, v) = api(
        &h,
        "POST",
        "/api/v1/annotations",
        &key,
        Some(post("2026-12-01", "Newsletter\nsent")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["date"].as_str(), v["note"].as_str()),
        (Some("2026-12-01"), Some("Newsletter sent"))
    );
    let first = v["id"].as_i64().expect("id");
    let (s, _) = api(
        &h,
        "POST",
        "/api/v1/annotations",
        &key,
        Some(post("2026-11-20", "Launch")),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, _) = api(
        &h,
        "POST",
        "/api/v1/annotations",
        &key,
        Some(json!({"site_id": "other.example", "date": "2026-12-01", "note": "Elsewhere"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);

    // Refusals: the exact code, and nothing stored.
    for (body, code) in [
        (post("2026-13-01", "x"), "bad_date"),
        (post("", "x"), "bad_date"),
        (post("2026-12-02", " \n "), "bad_note"),
        (post("2026-12-02", &"x".repeat(281)), "bad_note"),
        (json!({"site_id": "example.com"}), "bad_date"),
    ] {
        let (s, v) = api(&h, "POST", "/api/v1/annotations", &key, Some(body.clone())).await;
        assert_eq!(
            (s, v["reason"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body}: {v}"
        );
    }
    let (s, v) = api(&h, "POST", "/api/v1/annotations", &key, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    let (s, v) = api(
        &h,
        "GET",
        "/api/v1/annotations?site_id=example.com",
        &key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        notes(&v),
        [
            ("2026-11-20".into(), "Launch".into()),
            ("2026-12-01".into(), "Newsletter sent".into())
        ]
    );
    let (_, v) = api(
        &h,
        "GET",
        "/api/v1/annotations?site_id=example.com&from=2026-11-21&to=2026-12-31",
        &key,
        None,
    )
    .await;
    assert_eq!(notes(&v), [("2026-12-01".into(), "Newsletter sent".into())]);
    let (s, _) = api(
        &h,
        "GET",
        "/api/v1/annotations?site_id=example.com&from=2026-12-02&to=2026-12-01",
        &key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // A viewer's key reads, and may not write.
    let viewer = h
        .state
        .meta
        .user_by_email("viewer@example.com")
        .await
        .expect("meta")
        .expect("viewer");
    let vkey = h
        .state
        .meta
        .create_user_api_key(viewer.id, "v")
        .await
        .expect("key");
    let (s, v) = api(
        &h,
        "GET",
        "/api/v1/annotations?site_id=example.com",
        &vkey,
        None,
    )
    .await;
    assert_eq!((s, notes(&v).len()), (StatusCode::OK, 2));
    let (s, _) = api(
        &h,
        "POST",
        "/api/v1/annotations",
        &vkey,
        Some(post("2026-12-03", "No")),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api(
        &h,
        "DELETE",
        &format!("/api/v1/annotations/{first}?site_id=example.com"),
        &vkey,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // The other site's owner cannot see them (an unknown site).
    let stranger = h
        .state
        .meta
        .user_by_email("stranger@example.com")
        .await
        .expect("meta")
        .expect("stranger");
    let skey = h
        .state
        .meta
        .create_user_api_key(stranger.id, "s")
        .await
        .expect("key");
    let (s, _) = api(
        &h,
        "GET",
        "/api/v1/annotations?site_id=example.com",
        &skey,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api(
        &h,
        "DELETE",
        &format!("/api/v1/annotations/{first}?site_id=other.example"),
        &skey,
        None,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another site's note is not found through this one"
    );
    assert_eq!(
        h.state
            .meta
            .annotations(site_id, None, None)
            .await
            .expect("list")
            .len(),
        2
    );

    let (s, _) = api(
        &h,
        "DELETE",
        &format!("/api/v1/annotations/{first}?site_id=example.com"),
        &key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api(
        &h,
        "DELETE",
        &format!("/api/v1/annotations/{first}?site_id=example.com"),
        &key,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, v) = api(
        &h,
        "GET",
        "/api/v1/annotations?site_id=example.com",
        &key,
        None,
    )
    .await;
    assert_eq!(notes(&v), [("2026-11-20".into(), "Launch".into())]);
}

#[tokio::test]
async fn owners_annotate_the_chart_viewers_and_shared_links_only_read() {
    let h = common::harness().await;
    let site_id = h.add_roles().await;
    let today = chrono::Utc::now().date_naive().to_string();
    let page = "/sites/example.com?period=7d";

    // The owner's page has the form; a note added goes back to the same view.
    let body = h.page_ok(page, OWNER).await;
    assert!(
        body.contains("name=\"action\" value=\"add_note\""),
        "owner sees the form"
    );
    let r = h
        .page_post(
            page,
            Some(OWNER),
            &[
                ("csrf", OWNER_CSRF),
                ("action", "add_note"),
                ("date", &today),
                ("note", "Sent to <b>WhatsApp</b> groups"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/sites/example.com?period=7d#notes");
    let body = h.page_ok(page, OWNER).await;
    assert!(
        body.contains("Sent to &lt;b&gt;WhatsApp&lt;/b&gt; groups"),
        "escaped note listed"
    );
    assert!(
        body.contains("class=\"note-mark\""),
        "the chart marks the day"
    );
    assert!(
        body.contains("✎ Sent to &lt;b&gt;WhatsApp&lt;/b&gt; groups"),
        "in the bucket's tooltip"
    );
    assert!(body.contains("owner@example.com"), "with its author");
    // Bad input: a clear 400, nothing stored.
    for (date, note) in [("not-a-day", "x"), (today.as_str(), "   ")] {
        let r = h
            .page_post(
                page,
                Some(OWNER),
                &[
                    ("csrf", OWNER_CSRF),
                    ("action", "add_note"),
                    ("date", date),
                    ("note", note),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{date} {note}");
    }
    // A wrong CSRF token, a viewer, an anonymous visitor: refused, nothing changed.
    let r = h
        .page_post(
            page,
            Some(OWNER),
            &[
                ("csrf", "nope"),
                ("action", "add_note"),
                ("date", &today),
                ("note", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .page_post(
            page,
            Some(VIEWER),
            &[
                ("csrf", VIEWER_CSRF),
                ("action", "add_note"),
                ("date", &today),
                ("note", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let id = h
        .state
        .meta
        .annotations(site_id, None, None)
        .await
        .expect("list")[0]
        .id
        .to_string();
    let r = h
        .page_post(
            page,
            Some(VIEWER),
            &[
                ("csrf", VIEWER_CSRF),
                ("action", "delete_note"),
                ("id", &id),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .page_post(page, None, &[("action", "delete_note"), ("id", &id)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "to the login page");
    assert_eq!(
        h.state
            .meta
            .annotations(site_id, None, None)
            .await
            .expect("list")
            .len(),
        1
    );

    // The viewer and a shared link see the note, without forms.
    let body = h.page_ok(page, VIEWER).await;
    assert!(body.contains("Sent to &lt;b&gt;WhatsApp"));
    assert!(!body.contains("add_note") && !body.contains("delete_note"));
    let token = h
        .state
        .meta
        .create_shared_link(site_id, "")
        .await
        .expect("share");
    let shared = h.page_get(&format!("/share/{token}?period=7d"), None).await;
    assert_eq!(shared.status, StatusCode::OK);
    assert!(shared.body.contains("Sent to &lt;b&gt;WhatsApp"));
    assert!(!shared.body.contains("add_note") && !shared.body.contains("csrf"));

    // The owner deletes it.
    let r = h
        .page_post(
            page,
            Some(OWNER),
            &[("csrf", OWNER_CSRF), ("action", "delete_note"), ("id", &id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(h
        .state
        .meta
        .annotations(site_id, None, None)
        .await
        .expect("list")
        .is_empty());
    assert!(!h.page_ok(page, OWNER).await.contains("class=\"note-mark\""));
}

fn frame_headers(p: &common::Page) -> (Option<String>, Option<String>) {
    let get = |n: header::HeaderName| {
        p.headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    (
        get(header::CONTENT_SECURITY_POLICY),
        get(header::X_FRAME_OPTIONS),
    )
}

#[tokio::test]
async fn only_shared_pages_of_a_site_that_allows_it_may_be_framed() {
    let h = common::harness().await;
    let site_id = h.add_roles().await;
    let token = h
        .state
        .meta
        .create_shared_link(site_id, "")
        .await
        .expect("share");
    let shared = format!("/share/{token}");

    // By default nothing is frameable.
    let (csp, xfo) = frame_headers(&h.page_get(&shared, None).await);
    assert!(csp.unwrap_or_default().ends_with("frame-ancestors 'none'"));
    assert_eq!(xfo.as_deref(), Some("DENY"));

    // The owner allows a blog; a bad origin is refused with nothing changed.
    let settings = "/sites/example.com/settings";
    let form = |origins: &'static str| {
        vec![
            ("csrf", OWNER_CSRF),
            ("timezone", "UTC"),
            ("allowed_hostnames", ""),
            ("share_param_style", "fragment"),
            ("currency", "EUR"),
            ("embed_origins", origins),
        ]
    };
    let r = h
        .page_post(
            settings,
            Some(OWNER),
            &form("https://blog.example.com/post"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(h
        .state
        .site_options(site_id)
        .await
        .expect("options")
        .embed_origins
        .is_empty());
    let r = h
        .page_post(
            settings,
            Some(OWNER),
            &form("https://blog.example.com\nhttp://localhost:8080"),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        h.state
            .meta
            .site_options(site_id)
            .await
            .expect("options")
            .embed_origins,
        ["https://blog.example.com", "http://localhost:8080"]
    );
    h.state.invalidate_sites();
    assert!(h
        .page_ok(settings, OWNER)
        .await
        .contains("https://blog.example.com\nhttp://localhost:8080"));

    // Shared pages (all of them) now name those origins, without X-Frame-Options.
    for path in [
        shared.clone(),
        format!("{shared}/shares"),
        format!("{shared}/conversions?period=7d"),
    ] {
        let p = h.page_get(&path, None).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        let (csp, xfo) = frame_headers(&p);
        let csp = csp.unwrap_or_default();
        assert!(
            csp.ends_with("frame-ancestors 'self' https://blog.example.com http://localhost:8080"),
            "{path}: {csp}"
        );
        assert!(
            csp.starts_with("default-src 'self'; script-src 'self'; style-src 'self';"),
            "{csp}"
        );
        assert_eq!(xfo, None, "{path}");
    }
    // Logged-in pages, a revoked or unknown link, JSON: still never framed.
    for (path, session) in [
        ("/sites/example.com", Some(OWNER)),
        ("/sites/example.com/settings", Some(OWNER)),
        ("/share/not-a-token", None),
        ("/login", None),
    ] {
        let p = h.page_get(path, session).await;
        let (csp, xfo) = frame_headers(&p);
        assert!(
            csp.unwrap_or_default().ends_with("frame-ancestors 'none'"),
            "{path}"
        );
        assert_eq!(xfo.as_deref(), Some("DENY"), "{path}");
    }
    let p = h
        .send_text(
            Request::get("/api/health")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(frame_headers(&p).1.as_deref(), Some("DENY"));
    // A form without the field (an older page) keeps the origins.
    let mut f = form("");
    f.pop();
    let r = h.page_post(settings, Some(OWNER), &f).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        h.state
            .meta
            .site_options(site_id)
            .await
            .expect("options")
            .embed_origins
            .len(),
        2
    );
}
