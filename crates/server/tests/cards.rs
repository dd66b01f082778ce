//! Preview cards through the real router and a real HTTP server the test starts on
//! 127.0.0.1 (a free port): good and broken pages, fetched as each app's crawler, and the
//! exact problems each app gets; the refusal of loopback addresses after DNS when
//! private targets are not allowed; the API's input checks and access.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use common::*;
use lucarne_server::previews::cards::fetch::{FetchError, Guard};
use lucarne_server::state::CardFetchOptions;
use lucarne_server::ServerOptions;
use serde_json::Value;

const APPS: [&str; 5] = ["whatsapp", "telegram", "imessage", "slack", "facebook"];

/// A PNG's first bytes with the given size, padded with zeros to `len` bytes.
fn png(width: u32, height: u32, len: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    b.extend_from_slice(&width.to_be_bytes());
    b.extend_from_slice(&height.to_be_bytes());
    b.extend_from_slice(&[8, 6, 0, 0, 0]);
    b.resize(len.max(b.len()), 0);
    b
}

/// A page with these tags (`img`: the og:image content, if any).
fn page(title: &str, img: Option<&str>) -> String {
    let img = img
        .map(|i| format!(r#"<meta property="og:image" content="{i}">"#))
        .unwrap_or_default();
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8">
<meta property="og:title" content="{title}">
<meta property="og:description" content="A short description.">
<meta property="og:site_name" content="Example">
<meta name="twitter:card" content="summary_large_image">
{img}
</head><body><p>Hello</p></body></html>"#
    )
}

#[derive(Clone)]
struct Site {
    port: u16,
    hits: Arc<AtomicU64>,
}

fn html(body: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}

fn redirect(to: String) -> Response {
    (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, to)]).into_response()
}

async fn serve(State(s): State<Site>, headers: HeaderMap, uri: Uri) -> Response {
    s.hits.fetch_add(1, Ordering::Relaxed);
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(headers.get(header::COOKIE).is_none(), "no cookie is sent");
    let origin = format!("http://example.com:{}", s.port);
    let good_img = format!("{origin}/img/good.png");
    match uri.path() {
        "/good" => html(page("A good page", Some(&good_img))),
        "/no-image" => html(page("No image here", None)),
        "/huge-image" => html(page(
            "A huge image",
            Some(&format!("{origin}/img/huge.png")),
        )),
        "/tiny-image" => html(page(
            "A tiny image",
            Some(&format!("{origin}/img/tiny.png")),
        )),
        "/relative" => html(page("A relative image", Some("/img/good.png"))),
        "/long-title" => html(page(&"Long title ".repeat(7), Some(&good_img))),
        "/r1" => redirect("/good".into()),
        "/r4" => redirect("/r3".into()),
        "/r3" => redirect("/r2".into()),
        "/r2" => redirect("/r1b".into()),
        "/r1b" => redirect("/good".into()),
        "/to-www" => redirect(format!("http://www.example.com:{}/good", s.port)),
        "/to-other-host" => redirect(format!("http://elsewhere.test:{}/good", s.port)),
        "/no-facebook" if ua.contains("facebookexternalhit") => {
            (StatusCode::FORBIDDEN, "no crawlers").into_response()
        }
        "/no-facebook" => html(page("Not for Facebook", Some(&good_img))),
        "/pdf" => ([(header::CONTENT_TYPE, "application/pdf")], "%PDF-1.4").into_response(),
        "/big-html" => {
            let mut b = String::from("<!doctype html><html><head>");
            b.push_str(&"<!-- padding -->".repeat(80_000));
            b.push_str(&page("Too far down", Some(&good_img)));
            html(b)
        }
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(3)).await;
            html(page("Slow", Some(&good_img)))
        }
        "/refresh" => html(
            r#"<html><head><meta http-equiv="refresh" content="0; url=/good"></head></html>"#
                .into(),
        ),
        "/img/good.png" => (
            [(header::CONTENT_TYPE, "image/png")],
            png(1200, 630, 40_000),
        )
            .into_response(),
        "/img/huge.png" => (
            [(header::CONTENT_TYPE, "image/png")],
            png(1200, 630, 700_000),
        )
            .into_response(),
        "/img/tiny.png" => {
            ([(header::CONTENT_TYPE, "image/png")], png(100, 100, 2_000)).into_response()
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The local site: its port and a count of the requests it received.
async fn start_site() -> Site {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let site = Site {
        port,
        hits: Arc::new(AtomicU64::new(0)),
    };
    let app = Router::new().fallback(serve).with_state(site.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    site
}

fn loopback() -> IpAddr {
    IpAddr::V4(Ipv4Addr::LOCALHOST)
}

/// A harness whose cards reach `site` for example.com, www.example.com and
/// elsewhere.test (all on 127.0.0.1), with or without private targets allowed.
async fn cards_harness(site: &Site, allow_private: bool) -> Harness {
    let options = ServerOptions {
        allow_private_link_targets: allow_private,
        card_fetch: CardFetchOptions {
            plain_http_port: Some(site.port),
            resolve: vec![
                ("example.com".into(), loopback()),
                ("www.example.com".into(), loopback()),
                ("elsewhere.test".into(), loopback()),
            ],
            timeout: Some(Duration::from_secs(1)),
            wait: None,
        },
        ..ServerOptions::default()
    };
    let mut h = bare_harness_with(&options).await;
    h.state
        .meta
        .add_site("example.com", "UTC")
        .await
        .expect("site");
    h.key = h.state.meta.create_api_key("test").await.expect("key");
    h
}

/// `n` private arrivals (from WhatsApp Web) on `path`, each from another address.
async fn arrivals(h: &Harness, path: &str, n: u8, first_ip: u8) {
    for i in 0..n {
        let body = format!(
            r#"{{"n":"pageview","u":"https://example.com{path}","d":"example.com","r":"https://web.whatsapp.com/"}}"#
        );
        let (s, v) = h
            .event_from(&body, CHROME, [198, 51, first_ip, i + 1])
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
}

/// Problem codes per app of one page of the answer.
fn problems(page: &Value) -> BTreeMap<String, Vec<String>> {
    page["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|a| {
            let codes = a["problems"]
                .as_array()
                .expect("problems")
                .iter()
                .map(|p| p["code"].as_str().unwrap_or_default().to_string())
                .collect();
            (a["app"].as_str().unwrap_or_default().to_string(), codes)
        })
        .collect()
}

fn same(codes: &[&str]) -> BTreeMap<String, Vec<String>> {
    APPS.iter()
        .map(|a| (a.to_string(), codes.iter().map(|c| c.to_string()).collect()))
        .collect()
}

fn with(
    mut m: BTreeMap<String, Vec<String>>,
    app: &str,
    codes: &[&str],
) -> BTreeMap<String, Vec<String>> {
    m.insert(app.into(), codes.iter().map(|c| c.to_string()).collect());
    m
}

fn find<'a>(v: &'a Value, path: &str) -> &'a Value {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|p| p["path"] == path)
        .unwrap_or_else(|| panic!("{path} in {v}"))
}

const PAGES: [&str; 15] = [
    "/good",
    "/no-image",
    "/huge-image",
    "/tiny-image",
    "/relative",
    "/long-title",
    "/r1",
    "/r4",
    "/to-www",
    "/to-other-host",
    "/no-facebook",
    "/pdf",
    "/big-html",
    "/slow",
    "/refresh",
];

#[tokio::test]
async fn each_app_gets_the_problems_of_its_crawler() {
    let site = start_site().await;
    let h = cards_harness(&site, true).await;
    // /good has the most private arrivals; the others one or two each.
    arrivals(&h, "/good", 5, 1).await;
    for (i, p) in PAGES.iter().enumerate().skip(1) {
        arrivals(&h, p, 1 + (i % 2) as u8, 10 + i as u8).await;
    }
    let (s, v) = h
        .get("/api/v1/stats/cards?site_id=example.com&period=day&limit=25")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let results = v["results"].as_array().expect("results");
    assert_eq!(results.len(), PAGES.len());

    let good = find(&v, "/good");
    assert_eq!(problems(good), same(&[]), "{good}");
    assert_eq!(good["private_arrivals"], 5);
    assert_eq!(good["broken"], false);
    let wa = &good["apps"][0];
    assert_eq!(wa["app"], "whatsapp");
    assert_eq!(wa["card"]["title"], "A good page");
    assert_eq!(wa["card"]["description"], "A short description.");
    assert_eq!(wa["card"]["domain"], "example.com");
    assert_eq!(wa["card"]["site_name"], "Example");
    assert_eq!(wa["card"]["large"], true);
    assert_eq!(
        wa["image"]["width"]
            .as_u64()
            .zip(wa["image"]["height"].as_u64()),
        Some((1200, 630))
    );
    assert_eq!(wa["image"]["bytes"], 40_000);
    assert_eq!(wa["image"]["content_type"], "image/png");
    // iMessage shows no description.
    assert_eq!(good["apps"][2]["card"]["description"], Value::Null);

    assert_eq!(problems(find(&v, "/no-image")), same(&["no_og_image"]));
    // Counted in /metrics: the page with no image is broken for all five apps.
    let metrics = h.metrics().await;
    for line in [
        "card_checks_total{result=\"broken\"}",
        "card_checks_total{result=\"ok\"}",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    let no_image = metrics
        .lines()
        .find(|l| l.starts_with("lucarne_card_problems_total{kind=\"no_og_image\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(no_image >= 5, "{metrics}");
    assert_eq!(
        problems(find(&v, "/huge-image")),
        with(same(&[]), "whatsapp", &["image_too_large"])
    );
    let huge = &find(&v, "/huge-image")["apps"][0]["problems"][0];
    assert_eq!(huge["details"]["bytes"], "700000");
    assert_eq!(huge["details"]["max"], "600000");
    assert_eq!(huge["severity"], "error");
    assert_eq!(
        problems(find(&v, "/tiny-image")),
        same(&["image_too_small"])
    );
    assert_eq!(problems(find(&v, "/relative")), same(&["relative_url"]));
    // The relative image is still checked, at its resolved address.
    assert_eq!(
        find(&v, "/relative")["apps"][4]["card"]["image"],
        format!("http://example.com:{}/img/good.png", site.port)
    );
    // 76 characters: cut by WhatsApp (65) and iMessage (60), not by the others.
    let long = with(
        with(same(&[]), "whatsapp", &["title_cut"]),
        "imessage",
        &["title_cut"],
    );
    assert_eq!(problems(find(&v, "/long-title")), long);
    let cut = find(&v, "/long-title")["apps"][0]["card"]["title"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(cut.chars().count(), 65);
    assert!(cut.ends_with('…'), "{cut}");

    // One redirect: followed by all; four: beyond WhatsApp's three.
    assert_eq!(problems(find(&v, "/r1")), same(&[]));
    assert_eq!(
        find(&v, "/r1")["apps"][1]["redirects"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        problems(find(&v, "/r4")),
        with(same(&[]), "whatsapp", &["too_many_redirects"])
    );
    // A subdomain of the site is followed; another host is not fetched.
    assert_eq!(problems(find(&v, "/to-www")), same(&[]));
    assert_eq!(
        find(&v, "/to-www")["apps"][3]["card"]["domain"],
        "example.com"
    );
    assert_eq!(
        problems(find(&v, "/to-other-host")),
        same(&["host_not_allowed"])
    );
    // A 403 to `facebookexternalhit`, which iMessage's crawler also carries.
    let refused = with(
        with(same(&[]), "facebook", &["refused"]),
        "imessage",
        &["refused"],
    );
    assert_eq!(problems(find(&v, "/no-facebook")), refused);
    assert_eq!(find(&v, "/no-facebook")["apps"][4]["status"], 403);
    assert_eq!(problems(find(&v, "/pdf")), same(&["not_html"]));
    assert_eq!(
        problems(find(&v, "/big-html")),
        same(&["html_truncated", "no_title", "no_og_image"])
    );
    assert_eq!(problems(find(&v, "/slow")), same(&["timeout"]));
    assert_eq!(
        problems(find(&v, "/refresh")),
        same(&["redirect_not_followed", "no_title", "no_og_image"])
    );

    // Order: pages with an error first, by private arrivals; then the others, where
    // /good (five arrivals) leads despite coming after every broken page.
    let order: Vec<(bool, u64)> = results
        .iter()
        .map(|p| {
            (
                p["broken"] == true,
                p["private_arrivals"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
    assert_eq!(order, sorted);
    let first_fine = results
        .iter()
        .position(|p| p["broken"] == false)
        .expect("a page without errors");
    assert_eq!(results[first_fine]["path"], "/good");
    assert!(first_fine > 0 && results[0]["broken"] == true);

    // A second call is answered from the cache: the site sees no new request.
    let before = site.hits.load(Ordering::Relaxed);
    let (s, again) = h
        .get("/api/v1/stats/cards?site_id=example.com&period=day&limit=25")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(site.hits.load(Ordering::Relaxed), before);
    assert_eq!(again["results"], v["results"]);
}

#[tokio::test]
async fn without_private_targets_the_loopback_site_is_refused_after_dns() {
    let site = start_site().await;
    let h = cards_harness(&site, false).await;
    arrivals(&h, "/good", 1, 1).await;
    let (s, v) = h
        .get("/api/v1/stats/cards?site_id=example.com&period=day")
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let good = find(&v, "/good");
    assert_eq!(problems(good), same(&["private_address"]));
    let p = &good["apps"][0]["problems"][0];
    assert_eq!(p["details"]["host"], "example.com");
    assert_eq!(p["details"]["ip"], "127.0.0.1");
    assert_eq!(good["apps"][0]["card"], Value::Null);
    assert_eq!(site.hits.load(Ordering::Relaxed), 0, "nothing was sent");
}

#[tokio::test]
async fn the_guard_checks_every_address_a_name_resolves_to() {
    let site = start_site().await;
    let url =
        |host: &str| url::Url::parse(&format!("http://{host}:{}/good", site.port)).expect("url");
    // `localhost` through the system's resolver: loopback, refused, nothing sent.
    let guard = Guard {
        allow_private: false,
        options: CardFetchOptions::default(),
    };
    let e = guard
        .get(
            &url("localhost"),
            "test",
            "*/*",
            1000,
            Duration::from_secs(2),
        )
        .await
        .expect_err("refused");
    match e {
        FetchError::PrivateAddress { host, ip } => {
            assert_eq!(host, "localhost");
            assert!(ip.is_loopback(), "{ip}");
        }
        other => panic!("{other:?}"),
    }
    // A public-looking name answered with a private-network address (as a redirect's
    // host would be on the next hop): refused before any connection.
    let guard = Guard {
        allow_private: false,
        options: CardFetchOptions {
            resolve: vec![
                (
                    "cdn.example.com".into(),
                    "93.184.216.34".parse().expect("ip"),
                ),
                ("cdn.example.com".into(), "10.1.2.3".parse().expect("ip")),
            ],
            ..CardFetchOptions::default()
        },
    };
    assert_eq!(
        guard.check(&url("cdn.example.com")).await,
        Err(FetchError::PrivateAddress {
            host: "cdn.example.com".into(),
            ip: "10.1.2.3".parse().expect("ip"),
        })
    );
    assert!(matches!(
        guard.check(&url("[::1]")).await,
        Err(FetchError::PrivateAddress { .. })
    ));
    assert_eq!(site.hits.load(Ordering::Relaxed), 0);
    // Allowed: the loopback server answers.
    let guard = Guard {
        allow_private: true,
        options: CardFetchOptions::default(),
    };
    let a = guard
        .get(
            &url("127.0.0.1"),
            "test",
            "*/*",
            100,
            Duration::from_secs(2),
        )
        .await
        .expect("answer");
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body.len(), 100);
    assert!(a.truncated);
    assert_eq!(site.hits.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn bad_input_and_other_sites_are_refused() {
    let site = start_site().await;
    let h = cards_harness(&site, true).await;
    for uri in [
        "/api/v1/stats/cards?site_id=example.com&limit=0",
        "/api/v1/stats/cards?site_id=example.com&limit=26",
        "/api/v1/stats/cards?site_id=example.com&limit=x",
        "/api/v1/stats/cards?site_id=example.com&period=nope",
        "/api/v1/stats/cards",
    ] {
        let (s, v) = h.get(uri).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}: {v}");
        assert!(
            v["error"].is_string() || v["error"].is_object(),
            "{uri}: {v}"
        );
    }
    let (s, _) = h.get("/api/v1/stats/cards?site_id=nope.example").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let req = Request::get("/api/v1/stats/cards?site_id=example.com")
        .body(Body::empty())
        .expect("request");
    let (s, _, _) = h.send(req).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // No page with visits: an empty list, and nothing fetched.
    let (s, v) = h.get("/api/v1/stats/cards?site_id=example.com").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["results"], Value::Array(Vec::new()));
    assert_eq!(site.hits.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn the_dashboard_shows_each_apps_card_and_its_problems() {
    let site = start_site().await;
    let h = cards_harness(&site, true).await;
    h.add_roles().await;
    arrivals(&h, "/huge-image", 3, 1).await;
    arrivals(&h, "/good", 1, 2).await;
    // Opening the view fetches nothing: the pages wait for "Check now".
    let body = h
        .page_ok("/sites/example.com/cards?period=day", VIEWER)
        .await;
    assert!(
        body.contains("/huge-image") && body.contains("not checked yet"),
        "{body}"
    );
    assert!(body.contains(r#"name="check" value="1""#), "{body}");
    assert_eq!(site.hits.load(Ordering::Relaxed), 0);
    // The check: a mock per app, the image described (not loaded), the problem listed.
    let body = h
        .page_ok("/sites/example.com/cards?period=day&check=1", VIEWER)
        .await;
    assert!(site.hits.load(Ordering::Relaxed) > 0);
    for app in APPS {
        assert!(body.contains(&format!(r#"data-app="{app}""#)), "{app}");
    }
    assert!(body.contains(r#"data-code="image_too_large""#), "{body}");
    assert!(
        body.contains("WhatsApp shows no image above about 600\u{a0}KB"),
        "{body}"
    );
    assert!(body.contains("1200×630"), "{body}");
    assert!(
        !body.contains("<img"),
        "no image is loaded into the dashboard"
    );
    assert!(!body.contains("style="), "no inline style");
    // Broken first.
    let (huge, good) = (
        body.find(r#"data-path="/huge-image""#).expect("huge"),
        body.find(r#"data-path="/good""#).expect("good"),
    );
    assert!(huge < good);
    // The tab is linked from the other views; French labels.
    assert!(h
        .page_ok("/sites/example.com/conversions", VIEWER)
        .await
        .contains(r#"href="/sites/example.com/cards""#));
    let fr = h
        .page_ok("/sites/example.com/cards?period=day&lang=fr", OWNER)
        .await;
    assert!(fr.contains("Aperçus de liens"), "{fr}");
    assert!(
        fr.contains("WhatsApp n’affiche pas d’image au-delà d’environ 600\u{a0}ko"),
        "cached cards, in French: {fr}"
    );
    // Another site's owner: as if it did not exist.
    let r = h
        .page_get("/sites/example.com/cards?check=1", Some(STRANGER))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn openapi_describes_the_cards_route() {
    let site = start_site().await;
    let h = cards_harness(&site, true).await;
    let (s, v, _) = h
        .send(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let doc = v["paths"]["/api/v1/stats/cards"]["get"]["description"]
        .as_str()
        .unwrap_or_default();
    for code in lucarne_server::previews::cards::apps::Problem::CODES {
        assert!(doc.contains(code), "{code} documented");
    }
}

#[tokio::test]
async fn a_slow_check_goes_on_in_the_background() {
    let site = start_site().await;
    // A view waits 3 s. Each request has 2 s: /slow's five fetches take two rounds of
    // the four request slots (4 s), /good's wait for the first round to end (2 s).
    let options = ServerOptions {
        allow_private_link_targets: true,
        card_fetch: CardFetchOptions {
            plain_http_port: Some(site.port),
            resolve: vec![("example.com".into(), loopback())],
            timeout: Some(Duration::from_secs(2)),
            wait: Some(Duration::from_secs(3)),
        },
        ..ServerOptions::default()
    };
    let mut h = bare_harness_with(&options).await;
    h.state
        .meta
        .add_site("example.com", "UTC")
        .await
        .expect("site");
    h.key = h.state.meta.create_api_key("test").await.expect("key");
    arrivals(&h, "/slow", 2, 1).await;
    arrivals(&h, "/good", 1, 2).await;
    let uri = "/api/v1/stats/cards?site_id=example.com&period=day";
    let (s, v) = h.get(uri).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["pending"][0]["path"], "/slow", "{v}");
    assert_eq!(v["pending"][0]["private_arrivals"], 2);
    assert_eq!(v["results"][0]["path"], "/good", "{v}");
    // The check went on: a moment later the page is answered from the cache.
    let mut done = Value::Null;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, v) = h.get(uri).await;
        if v["pending"].as_array().is_some_and(Vec::is_empty) {
            done = v;
            break;
        }
    }
    assert_eq!(problems(find(&done, "/slow")), same(&["timeout"]), "{done}");
}

#[tokio::test]
async fn two_views_at_once_fetch_a_page_once() {
    let site = start_site().await;
    let h = cards_harness(&site, true).await;
    arrivals(&h, "/good", 1, 1).await;
    let uri = "/api/v1/stats/cards?site_id=example.com&period=day";
    let ((s1, a), (s2, b)) = tokio::join!(h.get(uri), h.get(uri));
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    // Five crawlers fetch the page, the image is fetched once.
    assert_eq!(site.hits.load(Ordering::Relaxed), 6);
    for v in [&a, &b] {
        assert_eq!(problems(find(v, "/good")), same(&[]), "{v}");
        assert_eq!(v["pending"], Value::Array(Vec::new()));
    }
}
