//! The test harness shared by the router tests: the whole service behind `app(state)`,
//! driven with `oneshot`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use lucarne_server::{app, AppState, ServerOptions};
use lucarne_store::duck::DuckEvents;
use lucarne_store::meta::MetaStore;
use lucarne_store::EventStore;
use lucarne_testkit::clickhouse::ClickHouseServer;
use lucarne_testkit::postgres::PostgresServer;
use serde_json::Value;

pub mod web;
#[allow(unused_imports)]
pub use web::*;

pub const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
pub const IPHONE_SAFARI: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
pub const MESSENGER_IOS: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/MessengerForiOS;FBAV/451.0.0.37.107;FBBV/563452139;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.4;FBSS/3;FBCR/;FBID/phone;FBLC/fr_FR;FBOP/5]";

pub struct Harness {
    pub _dir: tempfile::TempDir,
    pub state: Arc<AppState>,
    pub router: Router,
    pub key: String,
    /// The database servers of the scale-out back ends, kept running while the harness
    /// lives (see [`harness`]).
    pub _servers: Option<Scale>,
}

/// A test's databases on the scale-out servers.
#[derive(Clone)]
pub struct Scale {
    pub pg: Arc<PostgresServer>,
    pub ch: Arc<ClickHouseServer>,
    /// The database name, the same on both.
    pub name: String,
}

/// One ClickHouse server for the tests of this process that run at the same time.
fn shared_clickhouse() -> Arc<ClickHouseServer> {
    static SHARED: Mutex<Weak<ClickHouseServer>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(s) = slot.upgrade() {
        return s;
    }
    let s = Arc::new(ClickHouseServer::start().expect("start ClickHouse"));
    *slot = Arc::downgrade(&s);
    s
}

/// Which back ends the router tests run on: the embedded default (DuckDB + SQLite), or,
/// with `LUCARNE_TEST_BACKEND=scale`, ClickHouse + PostgreSQL (real servers from
/// `lucarne-testkit`; `scripts/test.sh` runs the suite both ways).
pub fn scale_out() -> bool {
    std::env::var("LUCARNE_TEST_BACKEND").is_ok_and(|v| v == "scale")
}

/// The stores of one test: the embedded ones in `dir`, or fresh databases on the shared
/// scale-out servers.
pub async fn stores(dir: &std::path::Path) -> (Arc<dyn EventStore>, MetaStore, Option<Scale>) {
    if !scale_out() {
        let (events, meta) = reopen(dir, None).await;
        return (events, meta, None);
    }
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let name = format!(
        "t{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let pg = PostgresServer::shared().expect("start PostgreSQL");
    pg.create_database(&name).expect("create database");
    let scale = Scale {
        pg,
        ch: shared_clickhouse(),
        name,
    };
    let (events, meta) = reopen(dir, Some(&scale)).await;
    (events, meta, Some(scale))
}

/// Open (again) the stores of a test: in `dir`, or its scale-out databases (the spool
/// is in `dir` either way), as a restarted process would.
pub async fn reopen(
    dir: &std::path::Path,
    scale: Option<&Scale>,
) -> (Arc<dyn EventStore>, MetaStore) {
    let Some(scale) = scale else {
        let meta = MetaStore::open(dir).await.expect("meta");
        let events: Arc<dyn EventStore> = Arc::new(DuckEvents::open(dir, 1000).expect("duckdb"));
        return (events, meta);
    };
    let meta = MetaStore::connect(&scale.pg.url(&scale.name))
        .await
        .expect("meta on PostgreSQL");
    let url = scale.ch.url(&scale.name);
    let spool = dir.join("spool-clickhouse");
    let events = tokio::task::spawn_blocking(move || {
        lucarne_store::click::ClickEvents::open(&url, &spool, "test-node", 1000)
    })
    .await
    .expect("open task")
    .expect("events on ClickHouse");
    (Arc::new(events), meta)
}

pub async fn harness() -> Harness {
    with_stores(|meta| async move {
        meta.add_site("example.com", "UTC").await.expect("site");
        let key = meta.create_api_key("test").await.expect("key");
        (meta, key)
    })
    .await
}

/// A harness with no site and no API key (first run, account tests).
pub async fn bare_harness() -> Harness {
    bare_harness_with(&ServerOptions::default()).await
}

/// [`bare_harness`] with other server options.
pub async fn bare_harness_with(options: &ServerOptions) -> Harness {
    with_stores_and(options, |meta| async move { (meta, String::new()) }).await
}

/// A harness whose metadata store `prepare` fills before the server state starts.
async fn with_stores<F, Fut>(prepare: F) -> Harness
where
    F: FnOnce(MetaStore) -> Fut,
    Fut: std::future::Future<Output = (MetaStore, String)>,
{
    with_stores_and(&ServerOptions::default(), prepare).await
}

async fn with_stores_and<F, Fut>(options: &ServerOptions, prepare: F) -> Harness
where
    F: FnOnce(MetaStore) -> Fut,
    Fut: std::future::Future<Output = (MetaStore, String)>,
{
    let dir = tempfile::tempdir().expect("tempdir");
    let (events, meta, servers) = stores(dir.path()).await;
    let (meta, key) = prepare(meta).await;
    let state = AppState::new(events, meta, options).await.expect("state");
    Harness {
        router: app(state.clone()),
        state,
        _dir: dir,
        key,
        _servers: servers,
    }
}

impl Harness {
    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Value, axum::http::HeaderMap) {
        let p = self.send_text(req).await;
        let json = serde_json::from_str(&p.body).unwrap_or(Value::String(p.body));
        (p.status, json, p.headers)
    }

    pub async fn event_from(&self, body: &str, ua: &str, ip: [u8; 4]) -> (StatusCode, Value) {
        let req = Request::post("/api/event")
            .header("content-type", "text/plain")
            .header("user-agent", ua)
            .body(Body::from(body.to_string()))
            .expect("request");
        let p = self.send_text_from(req, ip).await;
        (
            p.status,
            serde_json::from_str(&p.body).unwrap_or(Value::Null),
        )
    }

    pub async fn event(&self, body: &str) -> (StatusCode, Value) {
        self.event_from(body, CHROME, [203, 0, 113, 9]).await
    }

    pub async fn get(&self, uri: &str) -> (StatusCode, Value) {
        let req = Request::get(uri)
            .header("authorization", format!("Bearer {}", self.key))
            .body(Body::empty())
            .expect("request");
        let (s, v, _) = self.send(req).await;
        (s, v)
    }

    pub async fn metrics(&self) -> String {
        let (_, v, _) = self
            .send(Request::get("/metrics").body(Body::empty()).expect("req"))
            .await;
        v.as_str().unwrap_or_default().to_string()
    }
}

pub fn dropped(metrics: &str, reason: &str) -> u64 {
    let needle = format!("lucarne_events_dropped_total{{reason=\"{reason}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}
