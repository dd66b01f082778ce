//! The scale-out set-up, really started: two ClickHouse servers as the two shards of a
//! cluster behind a `Distributed` table, one PostgreSQL, and two `lucarne serve` nodes on
//! their own loopback ports and data directories. Events go to both nodes (the same
//! visitors alternating between them); reports read from either node are identical and
//! count each visit once.

mod support;

use std::time::{Duration, Instant};

use lucarne_testkit::clickhouse::start_cluster;
use lucarne_testkit::postgres::PostgresServer;
use serde_json::json;
use support::*;

async fn send(
    client: &reqwest::Client,
    node: &Lucarne,
    ip: &str,
    path: &str,
    referrer: Option<&str>,
) {
    let body = json!({"n": "pageview", "u": format!("https://example.com{path}"), "d": "example.com", "r": referrer});
    post_event(client, node, ip, body).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_a_two_shard_cluster_agree() {
    let cluster = start_cluster(2).expect("two ClickHouse shards");
    let pg = PostgresServer::start().expect("PostgreSQL");
    let meta_url = pg.create_database("lucarne").expect("database");
    let events_url = cluster.url("lucarne");
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir a"),
        tempfile::tempdir().expect("dir b"),
    );
    let env = |node: &'static str| {
        vec![
            ("LUCARNE_EVENTS", events_url.clone()),
            ("LUCARNE_META", meta_url.clone()),
            ("LUCARNE_NODE_ID", node.to_string()),
        ]
    };
    let (env_a, env_b) = (env("node-a"), env("node-b"));
    let ea: Vec<(&str, &str)> = env_a.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let eb: Vec<(&str, &str)> = env_b.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The site and key are made once, through node A's configuration: they live in
    // PostgreSQL, so node B sees them.
    cli_with_env(dir_a.path(), &["site", "add", "example.com"], &ea);
    let key_out = cli_with_env(dir_a.path(), &["key", "create"], &ea);
    let key = key_out
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .expect("a key")
        .to_string();
    let mut ea_proxy = ea.clone();
    ea_proxy.push(("LUCARNE_TRUSTED_PROXIES", "127.0.0.1"));
    let mut eb_proxy = eb.clone();
    eb_proxy.push(("LUCARNE_TRUSTED_PROXIES", "127.0.0.1"));
    let a = Lucarne::start_with_env(dir_a.path(), &ea_proxy);
    let b = Lucarne::start_with_env(dir_b.path(), &eb_proxy);
    let client = reqwest::Client::new();

    // 20 visitors from WhatsApp, 10 from Google; each views 3 pages, alternating nodes.
    for v in 0..30u32 {
        let ip = format!("198.51.{}.{}", v / 250, v % 250 + 1);
        let referrer = if v < 20 {
            "android-app://com.whatsapp"
        } else {
            "https://www.google.com/"
        };
        let nodes = [&a, &b, &a];
        let first = if v % 2 == 0 { 0 } else { 1 };
        for (i, path) in ["/article", "/pricing", "/signup"].iter().enumerate() {
            let node = nodes[(first + i) % 3];
            let r = if i == 0 {
                Some(referrer)
            } else {
                Some("https://example.com/x")
            };
            send(&client, node, &ip, path, r).await;
        }
    }

    // Both nodes load their spools into the cluster within about a second; reports
    // from either node must settle on the same numbers.
    let q = "/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=visitors,visits,pageviews,bounce_rate";
    let started = Instant::now();
    let (ra, rb) = loop {
        let ra = get_json(&client, &a, &key, q).await;
        let rb = get_json(&client, &b, &key, q).await;
        if ra["results"]["pageviews"]["value"] == 90 && ra == rb {
            break (ra, rb);
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "not settled: A {ra} B {rb}\nA log:\n{}\nB log:\n{}",
            a.log(),
            b.log()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(ra, rb);
    assert_eq!(
        ra["results"]["visits"]["value"], 30,
        "one visit per visitor: {ra}"
    );
    assert_eq!(ra["results"]["visitors"]["value"], 30, "{ra}");
    assert_eq!(ra["results"]["bounce_rate"]["value"], 0, "{ra}");
    let q = "/api/v1/stats/breakdown?site_id=example.com&period=day&property=visit:channel&metrics=visits,pageviews";
    let (ba, bb) = (
        get_json(&client, &a, &key, q).await,
        get_json(&client, &b, &key, q).await,
    );
    assert_eq!(ba, bb);
    let rows = ba["results"].as_array().expect("rows");
    let get = |c: &str| {
        rows.iter().find(|r| r["channel"] == c).map(|r| {
            (
                r["visits"].as_u64().unwrap_or(0),
                r["pageviews"].as_u64().unwrap_or(0),
            )
        })
    };
    assert_eq!(get("whatsapp"), Some((20, 60)), "{ba}");
    assert_eq!(get("google"), Some((10, 30)), "{ba}");
}
