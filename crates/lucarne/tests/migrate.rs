//! `lucarne migrate`, end to end with the real binary: a data directory of the embedded
//! default (synthetic traffic, a second site, site options, goals, a short link, a key,
//! a share cascade, a link click and its visit, a server-side conversion with an order id)
//! is moved into a real ClickHouse and PostgreSQL; a node on those back ends (with a new,
//! empty data directory) then answers the stats API as the embedded server did before,
//! redirects the link, honours the key and remembers the order id. A second run is refused
//! and changes nothing. The same directory moved into a two-shard ClickHouse cluster
//! (`?cluster=`) lands with each event on exactly one shard, both shards holding some.

mod support;

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use lucarne_core::token::Token;
use lucarne_testkit::clickhouse::{start_cluster, ClickHouseServer};
use lucarne_testkit::postgres::PostgresServer;
use serde_json::{json, Value};
use support::*;

fn tok(bits: u64) -> String {
    Token::from_bits(bits).expect("a token").to_string()
}

/// The reports compared before and after the move.
#[derive(Debug)]
struct Reports {
    aggregate: Value,
    channels: Value,
    conversions: Value,
    conversions_by_channel: Value,
    shares: Value,
    cascades: Value,
}

async fn reports(client: &reqwest::Client, node: &Lucarne, key: &str) -> Reports {
    let today = Utc::now().date_naive();
    let range = format!(
        "site_id=example.com&period=custom&date={},{}",
        today - Duration::days(12),
        today
    );
    Reports {
        aggregate: get_json(
            client,
            node,
            key,
            &format!("/api/v1/stats/aggregate?{range}&metrics=visitors,visits,pageviews,events,bounce_rate,visit_duration"),
        )
        .await,
        channels: get_json(
            client,
            node,
            key,
            &format!("/api/v1/stats/breakdown?{range}&property=visit:channel&metrics=visitors,visits,pageviews&limit=1000"),
        )
        .await,
        conversions: get_json(client, node, key, &format!("/api/v1/stats/conversions?{range}")).await,
        conversions_by_channel: get_json(
            client,
            node,
            key,
            &format!("/api/v1/stats/conversions?{range}&by=visit:channel"),
        )
        .await,
        shares: get_json(client, node, key, &format!("/api/v1/stats/shares?{range}")).await,
        cascades: get_json(client, node, key, &format!("/api/v1/stats/cascades?{range}")).await,
    }
}

fn num(v: &Value) -> u64 {
    v.as_u64()
        .or_else(|| v.as_f64().map(|f| f.round() as u64))
        .unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Visitors are counted approximately on ClickHouse (`uniq`): within 5 %.
fn assert_close(what: &str, before: u64, after: u64) {
    let tolerance = (before as f64 * 0.05).max(1.0);
    assert!(
        (before as f64 - after as f64).abs() <= tolerance,
        "{what}: {before} before, {after} after"
    );
}

/// channel → (visitors, visits, pageviews)
fn channel_rows(v: &Value) -> BTreeMap<String, (u64, u64, u64)> {
    v["results"]
        .as_array()
        .unwrap_or_else(|| panic!("breakdown rows: {v}"))
        .iter()
        .map(|r| {
            (
                r["channel"].as_str().unwrap_or_default().to_string(),
                (num(&r["visitors"]), num(&r["visits"]), num(&r["pageviews"])),
            )
        })
        .collect()
}

/// A grouped report with its rows sorted by group.
fn by_value(report: &Value) -> Value {
    let mut v = report.clone();
    if let Some(rows) = v["rows"].as_array_mut() {
        rows.sort_by(|a, b| a["value"].to_string().cmp(&b["value"].to_string()));
    }
    v
}

fn compare(before: &Reports, after: &Reports) {
    let (a, b) = (&before.aggregate["results"], &after.aggregate["results"]);
    for metric in [
        "visits",
        "pageviews",
        "events",
        "bounce_rate",
        "visit_duration",
    ] {
        assert_eq!(
            a[metric]["value"], b[metric]["value"],
            "aggregate {metric}: before {a}, after {b}"
        );
    }
    assert_close(
        "aggregate visitors",
        num(&a["visitors"]["value"]),
        num(&b["visitors"]["value"]),
    );

    let (ca, cb) = (
        channel_rows(&before.channels),
        channel_rows(&after.channels),
    );
    assert_eq!(
        ca.keys().collect::<Vec<_>>(),
        cb.keys().collect::<Vec<_>>(),
        "the same channels"
    );
    for (channel, (visitors, visits, pageviews)) in &ca {
        let (v2, vi2, pv2) = cb[channel];
        assert_eq!((visits, pageviews), (&vi2, &pv2), "channel {channel}");
        assert_close(&format!("visitors of {channel}"), *visitors, v2);
    }

    assert_eq!(
        before.conversions, after.conversions,
        "the conversion report"
    );
    // Rows with as many visits come in either order (the back ends break ties apart).
    assert_eq!(
        by_value(&before.conversions_by_channel),
        by_value(&after.conversions_by_channel),
        "the conversion report by channel"
    );
    assert_eq!(before.shares, after.shares, "the share report");
    assert_eq!(before.cascades, after.cascades, "the cascades");
}

const PROXIES: [(&str, &str); 1] = [("LUCARNE_TRUSTED_PROXIES", "127.0.0.1")];

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http client")
}

/// What the CLI lists of example.com's metadata (ids included).
#[derive(Debug, PartialEq, Eq)]
struct Listings {
    links: String,
    goals: String,
    keys: String,
}

fn listings(data: &std::path::Path, env: &[(&str, &str)]) -> Listings {
    Listings {
        links: cli_with_env(data, &["link", "list", "--site", "example.com"], env),
        goals: cli_with_env(data, &["goal", "list", "example.com"], env),
        keys: cli_with_env(data, &["key", "list"], env),
    }
}

/// A data directory of the embedded default, made with the real binary, and what it
/// answered before the move.
struct Source {
    dir: tempfile::TempDir,
    key: String,
    listings: Listings,
    /// The server-side conversion sent before the move (its order id stays known).
    order: Value,
    before: Reports,
}

/// Synthetic traffic, a second site without events, site options, goals, a short link, a
/// key, a share cascade, a link click and its visit, a server-side conversion with an order
/// id; the reports taken, then the server stopped.
async fn embedded_source(client: &reqwest::Client) -> Source {
    let dir = tempfile::tempdir().expect("source data directory");
    let data = dir.path();

    // --- The embedded default, made with the real binary. ---
    let out = cli(
        data,
        &[
            "generate",
            "--site",
            "example.com",
            "--events",
            "3000",
            "--days",
            "10",
        ],
    );
    assert!(out.contains("stored"), "{out}");
    add_site(data, "blog.example.org");
    cli(
        data,
        &[
            "site",
            "set",
            "example.com",
            "--currency",
            "USD",
            "--exchange-rates",
            "EUR=1.1",
        ],
    );
    cli(
        data,
        &[
            "goal",
            "add",
            "example.com",
            "--event",
            "purchase",
            "--name",
            "Purchase",
        ],
    );
    cli(data, &["goal", "add", "example.com", "--page", "/signup"]);
    cli(
        data,
        &[
            "link",
            "create",
            "https://example.com/spring",
            "--slug",
            "spring",
            "--channel",
            "whatsapp",
            "--campaign",
            "spring",
            "--site",
            "example.com",
        ],
    );
    let key = create_key(data);
    let listings = listings(data, &[]);
    assert!(listings.links.contains("/l/spring"), "{listings:?}");
    assert_eq!(listings.goals.lines().count(), 2, "{listings:?}");
    assert_eq!(listings.keys.lines().count(), 1, "{listings:?}");

    let mut embedded = Lucarne::start_with_env(data, &PROXIES);

    // A share cascade: A shares on WhatsApp, B opens it and buys, C opens B's address.
    let (va, s, vb, vc, vd) = (tok(101), tok(102), tok(103), tok(104), tok(105));
    let article = "https://example.com/article";
    let hit = |name: &str, url: String, token: &str| json!({"n": name, "u": url, "d": "example.com", "r": null, "t": token});
    post_event(
        client,
        &embedded,
        "198.51.100.1",
        hit("pageview", article.into(), &va),
    )
    .await;
    let mut share = hit("share", format!("{article}#lc={va}"), &s);
    share["p"] = json!({"channel": "whatsapp"});
    post_event(client, &embedded, "198.51.100.1", share).await;
    post_event(
        client,
        &embedded,
        "198.51.100.2",
        hit("pageview", format!("{article}#lc={s}"), &vb),
    )
    .await;
    let mut purchase = json!({"n": "purchase", "u": article, "d": "example.com"});
    purchase["$"] = json!({"amount": "25.00", "currency": "EUR"});
    post_event(client, &embedded, "198.51.100.2", purchase).await;
    post_event(
        client,
        &embedded,
        "198.51.100.3",
        hit("pageview", format!("{article}#lc={vb}"), &vc),
    )
    .await;

    // A click on the short link, and the visit it brings.
    let resp = client
        .get(format!("{}/l/spring", embedded.url()))
        .header("user-agent", WINDOWS_CHROME_UA)
        .header("x-forwarded-for", "198.51.100.4")
        .send()
        .await
        .expect("short link");
    assert_eq!(resp.status().as_u16(), 302, "{}", embedded.log());
    let landing = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .expect("a Location")
        .to_string();
    assert!(landing.contains("lc="), "{landing}");
    post_event(
        client,
        &embedded,
        "198.51.100.4",
        hit("pageview", landing, &vd),
    )
    .await;

    // A purchase reported by the shop's server, with an order id.
    let order = json!({
        "site_id": "example.com", "token": vd, "name": "purchase",
        "revenue": {"amount": "40.00", "currency": "USD"}, "id": "order-1"
    });
    let resp = client
        .post(format!("{}/api/v1/conversions", embedded.url()))
        .bearer_auth(&key)
        .json(&order)
        .send()
        .await
        .expect("server-side conversion");
    assert_eq!(resp.status().as_u16(), 202, "{}", embedded.log());

    let before = reports(client, &embedded, &key).await;
    // The data is worth comparing: each report has something in it.
    let events_before = num(&before.aggregate["results"]["events"]["value"]);
    // About 3,000 generated over the ten days (the count varies a little with the day).
    assert!(events_before > 2000, "{:?}", before.aggregate);
    assert!(
        channel_rows(&before.channels).len() >= 4,
        "{}",
        before.channels
    );
    assert!(
        channel_rows(&before.channels).contains_key("whatsapp"),
        "{}",
        before.channels
    );
    assert_eq!(
        before.conversions["currency"], "USD",
        "{}",
        before.conversions
    );
    assert!(
        before.conversions.to_string().contains("Purchase"),
        "{}",
        before.conversions
    );
    let m = &before.shares["metrics"];
    assert!(
        num(&m["shares"]) >= 1 && num(&m["share_visits"]) >= 3 && num(&m["max_depth"]) >= 2,
        "{}",
        before.shares
    );
    assert!(
        before.cascades.to_string().contains("whatsapp"),
        "{}",
        before.cascades
    );
    let status = embedded.terminate(std::time::Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", embedded.log());
    // SIGTERM saved the click counted in memory: what the migration must carry over.
    let listings = {
        let after = self::listings(data, &[]);
        assert!(
            after.links.contains("1 clicks"),
            "{after:?} (before: {listings:?})"
        );
        after
    };
    Source {
        dir,
        key,
        listings,
        order,
        before,
    }
}

/// `lucarne migrate` of `data` into the two targets; checks what it prints (the metadata
/// copied, the events of each site counted alike on both sides, the staging spool gone)
/// and returns the events per site id counted in DuckDB.
fn migrate(data: &std::path::Path, events_url: &str, meta_url: &str) -> BTreeMap<u32, u64> {
    let out = cli(
        data,
        &["migrate", "--to-events", events_url, "--to-meta", meta_url],
    );
    eprintln!("lucarne migrate:\n{out}");
    assert!(out.contains("metadata copied"), "{out}");
    assert!(out.contains("2 sites"), "{out}");
    assert!(out.contains("2 goals"), "{out}");
    let mut counts = BTreeMap::new();
    for domain in ["example.com", "blog.example.org"] {
        let row = out
            .lines()
            .find(|l| l.starts_with(domain))
            .unwrap_or_else(|| panic!("no count for {domain}:\n{out}"));
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.len(), 4, "{row}");
        assert_eq!(cols[2], cols[3], "DuckDB and ClickHouse agree: {row}");
        let (id, n) = (
            cols[1].parse::<u32>().expect("a site id"),
            cols[2].parse::<u64>().expect("a count"),
        );
        counts.insert(id, n);
    }
    assert_eq!(
        counts,
        BTreeMap::from([(1, counts[&1]), (2, 0)]),
        "example.com is site 1; blog.example.org (2) has no events: {out}"
    );
    assert!(counts[&1] > 2000, "{out}");
    assert!(out.contains("migration complete"), "{out}");
    assert!(
        !data.join("spool-migrate").exists(),
        "the staging spool is removed"
    );
    counts
}

/// A node on the scale-out back ends, with a new, empty data directory: the metadata read
/// from PostgreSQL is the source's, the reports answer as before, the key, the short link
/// and the order id work, and new metadata gets fresh ids.
async fn check_node(client: &reqwest::Client, source: &Source, events_url: &str, meta_url: &str) {
    // --- A node on the scale-out back ends, with a new, empty data directory. ---
    let node_dir = tempfile::tempdir().expect("node data directory");
    let env = [
        ("LUCARNE_EVENTS", events_url),
        ("LUCARNE_META", meta_url),
        ("LUCARNE_NODE_ID", "node-a"),
    ];
    assert_eq!(
        listings(node_dir.path(), &env),
        source.listings,
        "the links (ids, clicks), goals and keys, read from PostgreSQL"
    );
    let sites = cli_with_env(node_dir.path(), &["site", "list"], &env);
    assert_eq!(
        sites.lines().collect::<Vec<_>>(),
        vec!["1\texample.com\tUTC", "2\tblog.example.org\tUTC"],
        "{sites}"
    );

    let mut env_proxied = env.to_vec();
    env_proxied.extend(PROXIES);
    let node = Lucarne::start_with_env(node_dir.path(), &env_proxied);
    let after = reports(client, &node, &source.key).await;
    compare(&source.before, &after);

    // The key still works, and only the key: another is refused.
    let resp = client
        .get(format!(
            "{}/api/v1/stats/aggregate?site_id=example.com",
            node.url()
        ))
        .bearer_auth("lk_not_a_key")
        .send()
        .await
        .expect("stats");
    assert_eq!(resp.status().as_u16(), 401);

    // The short link redirects, with its campaign.
    let resp = client
        .get(format!("{}/l/spring", node.url()))
        .header("user-agent", WINDOWS_CHROME_UA)
        .header("x-forwarded-for", "198.51.100.9")
        .send()
        .await
        .expect("short link");
    assert_eq!(resp.status().as_u16(), 302, "{}", node.log());
    let location = resp
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        location.starts_with("https://example.com/spring")
            && location.contains("utm_campaign=spring"),
        "{location}"
    );

    // The order id recorded before the move still counts once.
    let resp = client
        .post(format!("{}/api/v1/conversions", node.url()))
        .bearer_auth(&source.key)
        .json(&source.order)
        .send()
        .await
        .expect("server-side conversion");
    let status = resp.status().as_u16();
    let v: Value = resp.json().await.expect("json");
    assert_eq!((status, v["duplicate"].as_bool()), (200, Some(true)), "{v}");

    // New metadata gets fresh ids after the copied ones.
    let out = cli_with_env(node_dir.path(), &["site", "add", "new.example"], &env);
    assert!(out.contains("(id 3,"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_data_directory_moves_to_clickhouse_and_postgres_with_nothing_lost() {
    let client = client();
    let source = embedded_source(&client).await;
    let data = source.dir.path();

    // --- The scale-out back ends, really started. ---
    let clickhouse = ClickHouseServer::start().expect("ClickHouse (scripts/install-test-deps.sh)");
    let postgres = PostgresServer::start().expect("PostgreSQL (scripts/install-test-deps.sh)");
    let events_url = clickhouse.url("lucarne");
    let meta_url = postgres.create_database("lucarne").expect("a database");
    migrate(data, &events_url, &meta_url);

    // A second run is refused by both targets, and copies nothing.
    let (ok, _, err) = try_cli(
        data,
        &[
            "migrate",
            "--to-events",
            &events_url,
            "--to-meta",
            &meta_url,
        ],
    );
    assert!(!ok, "a second run is refused");
    assert!(err.contains("already holds events of example.com"), "{err}");
    let (ok, _, err) = try_cli(data, &["migrate", "--to-meta", &meta_url]);
    assert!(!ok, "a second metadata copy is refused");
    assert!(err.contains("not empty"), "{err}");
    let (ok, _, err) = try_cli(data, &["migrate"]);
    assert!(!ok && err.contains("--to-events"), "{err}");

    check_node(&client, &source, &events_url, &meta_url).await;
}

/// `site_id → events` of one ClickHouse table (tab-separated answer).
fn table_counts(server: &ClickHouseServer, table: &str) -> BTreeMap<u32, u64> {
    let sql = format!("SELECT site_id, count() FROM {table} GROUP BY site_id");
    let out = server
        .query(&sql)
        .unwrap_or_else(|e| panic!("{sql}: {e:#}"));
    out.lines()
        .map(|l| {
            let (site, n) = l.split_once('\t').unwrap_or_else(|| panic!("{sql}: {out}"));
            (
                site.parse().expect("a site id"),
                n.parse().expect("a count"),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_data_directory_moves_to_a_two_shard_cluster_with_nothing_lost() {
    let client = client();
    let source = embedded_source(&client).await;
    let data = source.dir.path();

    let cluster = start_cluster(2).expect("two ClickHouse shards (scripts/install-test-deps.sh)");
    let postgres = PostgresServer::start().expect("PostgreSQL (scripts/install-test-deps.sh)");
    let events_url = cluster.url("lucarne");
    let meta_url = postgres.create_database("lucarne").expect("a database");
    let counts = migrate(data, &events_url, &meta_url);

    // Every event is on one shard: both shards hold some, together all, each once.
    let mut on_shards: BTreeMap<u32, u64> = BTreeMap::new();
    for (i, shard) in cluster.servers.iter().enumerate() {
        let engine = shard
            .query(
                "SELECT engine FROM system.tables WHERE database = 'lucarne' AND name = 'events'",
            )
            .expect("system.tables");
        assert_eq!(
            engine.trim(),
            "Distributed",
            "shard {i}: `events` is Distributed"
        );
        let local = table_counts(shard, "lucarne.events_local");
        eprintln!("shard {i}: {local:?}");
        let n = local.get(&1).copied().unwrap_or(0);
        assert!(
            n > 0 && n < counts[&1],
            "shard {i} holds a part of example.com's {} events, not {n}",
            counts[&1]
        );
        for (site, n) in local {
            *on_shards.entry(site).or_default() += n;
        }
        // The Distributed table, read through either shard, sees every row once.
        let through = table_counts(shard, "lucarne.events");
        assert_eq!(through.get(&1), Some(&counts[&1]), "through shard {i}");
        assert_eq!(through.get(&2), None, "through shard {i}");
    }
    assert_eq!(
        on_shards,
        BTreeMap::from([(1, counts[&1])]),
        "the shards hold DuckDB's events, each once"
    );

    check_node(&client, &source, &events_url, &meta_url).await;
}
