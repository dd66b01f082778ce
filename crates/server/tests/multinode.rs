//! Several Lucarne nodes on one metadata store and one events store: a visit continues
//! whichever node its events reach (also when two nodes see its first events at once),
//! and a link made through one node redirects on the other within a second.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use lucarne_server::{app, AppState, ServerOptions};
use lucarne_store::duck::DuckEvents;
use lucarne_store::meta::MetaStore;
use lucarne_store::EventStore;
use serde_json::{json, Value};
use tower::ServiceExt;

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

struct Node {
    state: Arc<AppState>,
    router: Router,
}

/// Two nodes sharing one metadata store (two pools on one SQLite file, as two processes
/// would have) and one events store.
async fn two_nodes() -> (tempfile::TempDir, Node, Node, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let meta_a = MetaStore::open(dir.path()).await.expect("meta");
    meta_a.add_site("example.com", "UTC").await.expect("site");
    let key = meta_a.create_api_key("test").await.expect("key");
    let meta_b = MetaStore::open(dir.path()).await.expect("meta b");
    let events: Arc<dyn EventStore> = Arc::new(DuckEvents::open(dir.path(), 1000).expect("duckdb"));
    let options = ServerOptions {
        shared_visits: true,
        ..ServerOptions::default()
    };
    let a = AppState::new(events.clone(), meta_a, &options)
        .await
        .expect("node a");
    let b = AppState::new(events, meta_b, &options)
        .await
        .expect("node b");
    let node = |state: Arc<AppState>| Node {
        router: app(state.clone()),
        state,
    };
    (dir, node(a), node(b), key)
}

impl Node {
    async fn send(&self, req: Request<Body>) -> (StatusCode, Value, axum::http::HeaderMap) {
        self.send_from([203, 0, 113, 7], req).await
    }

    async fn send_from(
        &self,
        ip: [u8; 4],
        req: Request<Body>,
    ) -> (StatusCode, Value, axum::http::HeaderMap) {
        let mut req = req;
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, json, headers)
    }

    async fn pageview(&self, path: &str, referrer: Option<&str>) -> StatusCode {
        self.pageview_from([203, 0, 113, 7], path, referrer).await
    }

    async fn pageview_from(&self, ip: [u8; 4], path: &str, referrer: Option<&str>) -> StatusCode {
        let body = json!({"n": "pageview", "u": format!("https://example.com{path}"), "d": "example.com", "r": referrer});
        let req = Request::post("/api/event")
            .header("content-type", "text/plain")
            .header("user-agent", CHROME)
            .body(Body::from(body.to_string()))
            .expect("request");
        self.send_from(ip, req).await.0
    }

    async fn get(&self, uri: &str, key: &str) -> (StatusCode, Value) {
        let req = Request::get(uri)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .expect("request");
        let (s, v, _) = self.send(req).await;
        (s, v)
    }
}

async fn breakdown(node: &Node, key: &str, property: &str) -> Vec<(String, u64)> {
    let (s, v) = node
        .get(
            &format!("/api/v1/stats/breakdown?site_id=example.com&period=day&property={property}&metrics=visits,pageviews"),
            key,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let k = property.rsplit(':').next().unwrap_or_default();
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r[k].as_str().unwrap_or_default().to_string(),
                r["visits"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_visit_continues_on_another_node() {
    let (_dir, a, b, key) = two_nodes().await;
    // The visit starts on A from WhatsApp, goes on on B (whose event alone would look
    // like an internal page view), then on A again.
    assert_eq!(
        a.pageview("/article", Some("android-app://com.whatsapp"))
            .await,
        StatusCode::ACCEPTED
    );
    // B never saw this visitor: without the shared table it would open a second visit.
    assert_eq!(
        b.pageview("/pricing", Some("https://example.com/article"))
            .await,
        StatusCode::ACCEPTED
    );
    assert_eq!(a.pageview("/signup", None).await, StatusCode::ACCEPTED);
    let channels = breakdown(&a, &key, "visit:channel").await;
    assert_eq!(channels, vec![("whatsapp".to_string(), 1)], "one visit");
    let (s, v) = b
        .get(
            "/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visits,pageviews,visitors",
            &key,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["results"]["visits"]["value"], 1, "{v}");
    assert_eq!(v["results"]["pageviews"]["value"], 3, "{v}");
    assert_eq!(v["results"]["visitors"]["value"], 1, "{v}");
}

#[tokio::test]
async fn two_nodes_seeing_a_first_event_at_once_make_one_visit() {
    let (_dir, a, b, key) = two_nodes().await;
    let (sa, sb) = tokio::join!(
        a.pageview("/x", Some("https://www.facebook.com/")),
        b.pageview("/y", Some("https://t.co/abc"))
    );
    assert_eq!((sa, sb), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    let (s, v) = a
        .get(
            "/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visits,pageviews",
            &key,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["results"]["visits"]["value"], 1, "{v}");
    assert_eq!(v["results"]["pageviews"]["value"], 2, "{v}");
    // Both events carry the winning visit's classification.
    let channels = breakdown(&b, &key, "visit:channel").await;
    assert_eq!(channels.len(), 1, "{channels:?}");
}

/// The value of one `/metrics` sample, e.g. `lucarne_shared_visit_requests_total{kind="claim"}`.
fn metric(state: &AppState, sample: &str) -> u64 {
    state
        .metrics
        .render()
        .lines()
        .find_map(|l| l.strip_prefix(sample)?.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn many_visitors_at_once_on_two_nodes_make_one_visit_each_in_batched_statements() {
    let (_dir, a, b, key) = two_nodes().await;
    // 300 visitors, each sending its first two events to the two nodes at once.
    let visitors: Vec<[u8; 4]> = (0..300u32)
        .map(|i| [198, 51, (i / 250) as u8, (i % 250) as u8 + 1])
        .collect();
    let statuses = futures::future::join_all(visitors.iter().map(|ip| async {
        let (x, y) = tokio::join!(
            a.pageview_from(*ip, "/x", Some("android-app://org.telegram.messenger")),
            b.pageview_from(*ip, "/y", None)
        );
        [x, y]
    }))
    .await;
    assert!(statuses
        .iter()
        .flatten()
        .all(|s| *s == StatusCode::ACCEPTED));
    let (s, v) = a
        .get(
            "/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visits,pageviews,visitors",
            &key,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["results"]["visits"]["value"], 300, "{v}");
    assert_eq!(v["results"]["pageviews"]["value"], 600, "{v}");
    // Every visit was claimed (by whichever node saw it first), and the claims and
    // lookups went out in far fewer statements than there were requests.
    for kind in ["claim", "find"] {
        let count = |name: &str| {
            let sample = format!("lucarne_shared_visit_{name}_total{{kind=\"{kind}\"}}");
            metric(&a.state, &sample) + metric(&b.state, &sample)
        };
        let (requests, statements) = (count("requests"), count("statements"));
        assert!(requests >= 300, "{kind}: {requests} requests");
        assert!(
            statements * 4 <= requests,
            "{kind}: {requests} requests in {statements} statements"
        );
    }
}

#[tokio::test]
async fn touches_are_written_back_for_the_other_nodes() {
    let (_dir, a, _b, _key) = two_nodes().await;
    assert_eq!(a.pageview("/a", None).await, StatusCode::ACCEPTED);
    assert_eq!(a.pageview("/b", None).await, StatusCode::ACCEPTED);
    let touched = a.state.sessions.drain_touched();
    assert_eq!(touched.len(), 1, "one visit touched: {touched:?}");
    a.state
        .meta
        .touch_visits(&touched)
        .await
        .expect("write back");
    let (site, visitor, session, at) = touched[0];
    let live = a
        .state
        .meta
        .live_visit(site, &[visitor], at - chrono::Duration::seconds(1))
        .await
        .expect("read")
        .expect("live");
    assert_eq!(
        (live.session_id, live.last_seen.timestamp_micros()),
        (session, at.timestamp_micros())
    );
    assert!(a.state.sessions.drain_touched().is_empty());
}

#[tokio::test]
async fn a_link_made_on_one_node_redirects_on_the_other_within_a_second() {
    let (_dir, a, b, key) = two_nodes().await;
    let watch = lucarne_server::links::spawn_version_watch(b.state.clone());
    // B has served its (empty) link set once.
    let (s, _, _) = b
        .send(
            Request::get("/l/spring")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let req = Request::post("/api/v1/links")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"site_id": "example.com", "url": "https://example.com/sale", "slug": "spring"})
                .to_string(),
        ))
        .expect("request");
    let (s, v, _) = a.send(req).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().expect("id");
    // An edit on A: B must follow it without a miss to trigger a reload.
    let req = Request::patch(format!("/api/v1/links/{id}"))
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"url": "https://example.com/sale2"}).to_string(),
        ))
        .expect("request");
    assert_eq!(a.send(req).await.0, StatusCode::OK);
    let started = Instant::now();
    loop {
        let target = b
            .state
            .links
            .get("", "spring")
            .map(|e| e.link.target.clone());
        if target.as_deref() == Some("https://example.com/sale2") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B still has {target:?} after a second"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, _, headers) = b
        .send(
            Request::get("/l/spring")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    assert_eq!(s, StatusCode::FOUND);
    let location = headers
        .get(header::LOCATION)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    assert!(
        location.starts_with("https://example.com/sale2"),
        "{location}"
    );
    watch.abort();
}

#[tokio::test]
async fn site_settings_changed_through_one_node_apply_on_the_other_within_a_second() {
    let (_dir, a, b, _key) = two_nodes().await;
    let watch = lucarne_server::links::spawn_version_watch(b.state.clone());
    let site = b
        .state
        .site("example.com")
        .await
        .expect("lookup")
        .expect("site");
    // B has the settings cached (30 s otherwise), and does not know a new site yet.
    assert!(
        !b.state
            .site_options(site.id)
            .await
            .expect("options")
            .honour_dnt
    );
    assert!(b.state.site("new.example").await.expect("lookup").is_none());
    let mut options = a.state.meta.site_options(site.id).await.expect("options");
    options.honour_dnt = true;
    a.state
        .meta
        .set_site_options(site.id, &options)
        .await
        .expect("set");
    a.state
        .meta
        .add_site("new.example", "UTC")
        .await
        .expect("add");
    let started = Instant::now();
    while !(b
        .state
        .site_options(site.id)
        .await
        .expect("options")
        .honour_dnt
        && b.state.site("new.example").await.expect("lookup").is_some())
    {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "B still has the old settings after a second"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A visitor with Do Not Track is now not counted by B (answered 202, as Plausible does).
    let body = json!({"n": "pageview", "u": "https://example.com/", "d": "example.com"});
    let req = Request::post("/api/event")
        .header("content-type", "text/plain")
        .header("user-agent", CHROME)
        .header("dnt", "1")
        .body(Body::from(body.to_string()))
        .expect("request");
    let (s, v, _) = b.send(req).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    assert_eq!(
        metric(
            &b.state,
            "lucarne_events_dropped_total{reason=\"do_not_track\"}"
        ),
        1,
        "not stored on B"
    );
    watch.abort();
}

async fn survey(node: &Node, answer: &str) -> (StatusCode, Value, axum::http::HeaderMap) {
    let body = json!({"n": "survey", "u": "https://example.com/thanks", "d": "example.com",
        "p": {"answer": answer}});
    let req = Request::post("/api/event")
        .header("content-type", "text/plain")
        .header("user-agent", CHROME)
        .body(Body::from(body.to_string()))
        .expect("request");
    node.send(req).await
}

#[tokio::test]
async fn a_visit_answers_the_survey_once_whichever_node_takes_the_answers() {
    let (_dir, a, b, _key) = two_nodes().await;
    let site = a
        .state
        .site("example.com")
        .await
        .expect("lookup")
        .expect("site");
    let mut options = a.state.meta.site_options(site.id).await.expect("options");
    options.survey_enabled = true;
    a.state
        .meta
        .set_site_options(site.id, &options)
        .await
        .expect("set");
    b.state.invalidate_sites();
    assert_eq!(
        a.pageview("/thanks", Some("android-app://com.whatsapp"))
            .await,
        StatusCode::ACCEPTED
    );
    assert_eq!(survey(&a, "whatsapp").await.0, StatusCode::ACCEPTED);
    // The same visit answering again through the other node is refused there too.
    let (s, v, _) = survey(&b, "email").await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::CONFLICT, Some("duplicate_survey")),
        "{v}"
    );
}

#[tokio::test]
async fn a_click_limit_holds_across_nodes() {
    let (_dir, a, b, key) = two_nodes().await;
    let req = Request::post("/api/v1/links")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"site_id": "example.com", "url": "https://example.com/sale", "slug": "few", "max_clicks": 3})
                .to_string(),
        ))
        .expect("request");
    assert_eq!(a.send(req).await.0, StatusCode::CREATED);
    // B learns the link (a miss reloads it).
    let mut statuses = Vec::new();
    for node in [&a, &b, &a, &b, &a] {
        let req = Request::get("/l/few")
            .header("user-agent", CHROME)
            .body(Body::empty())
            .expect("request");
        statuses.push(node.send(req).await.0);
    }
    assert_eq!(
        statuses,
        vec![
            StatusCode::FOUND,
            StatusCode::FOUND,
            StatusCode::FOUND,
            StatusCode::GONE,
            StatusCode::GONE
        ],
        "three clicks in all, whichever node"
    );
}

#[tokio::test]
async fn login_attempts_count_across_nodes() {
    use lucarne_server::web::auth::{LoginLimiter, LoginRefusal, MAX_LOGIN_FAILURES};
    let (_dir, a, b, _key) = two_nodes().await;
    let (la, lb) = (LoginLimiter::default(), LoginLimiter::default());
    let ip: std::net::IpAddr = [198, 51, 100, 9].into();
    // Attempts are counted when they begin (before any password check), on either node.
    for _ in 0..MAX_LOGIN_FAILURES - 1 {
        drop(
            la.begin(&a.state, ip, "owner@example.com")
                .await
                .expect("under the limit"),
        );
    }
    drop(
        lb.begin(&b.state, ip, "owner@example.com")
            .await
            .expect("the tenth"),
    );
    assert_eq!(
        la.begin(&a.state, ip, "owner@example.com").await.err(),
        Some(LoginRefusal::Limited)
    );
    assert_eq!(
        lb.begin(&b.state, ip, "Owner@Example.com").await.err(),
        Some(LoginRefusal::Limited),
        "the account, whatever its case"
    );
    // Another client is refused too for that account; another account from another
    // client is not, and its success leaves nothing counted against that client.
    let other: std::net::IpAddr = [198, 51, 100, 10].into();
    assert_eq!(
        lb.begin(&b.state, other, "owner@example.com").await.err(),
        Some(LoginRefusal::Limited)
    );
    let ok = la
        .begin(&a.state, other, "viewer@example.com")
        .await
        .expect("another account");
    la.succeed(&a.state, ok).await;
    for _ in 0..MAX_LOGIN_FAILURES - 2 {
        drop(
            lb.begin(&b.state, other, "third@example.com")
                .await
                .expect("under the limit"),
        );
    }
    // The shared table holds keyed hashes, never an address or an e-mail.
    let keys = a.state.meta.login_failure_keys().await.expect("keys");
    assert!(!keys.is_empty());
    assert!(keys
        .iter()
        .all(|k| k.len() == 32 && !k.contains('@') && !k.contains("198.51")));
}
