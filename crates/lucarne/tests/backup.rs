//! `lucarne backup` and `lucarne restore` against the real binary (issue 22): a backup
//! taken from a live server under load holds every event acknowledged before it, the
//! server keeps answering meanwhile, and a restored data directory answers the same
//! reports as the original; offline backups, and what is refused.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{add_site, cli, create_key, get_json, try_cli, Lucarne};

const SITE: &str = "backup.example";

/// Pageviews of `period=day`, per page, from the stats API (every page, 1,000 a page).
async fn pages(http: &reqwest::Client, node: &Lucarne, key: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    for page in 1.. {
        let v = get_json(
            http,
            node,
            key,
            &format!(
                "/api/v1/stats/breakdown?site_id={SITE}&period=day&property=event:page&metrics=pageviews&limit=1000&page={page}"
            ),
        )
        .await;
        let rows = v["results"].as_array().expect("results");
        if rows.is_empty() {
            break;
        }
        for r in rows {
            out.insert(
                r["page"].as_str().unwrap_or_default().to_string(),
                r["pageviews"].as_u64().unwrap_or(0),
            );
        }
    }
    out
}

/// Every report the comparison reads, from one node.
async fn reports(http: &reqwest::Client, node: &Lucarne, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for q in [
        "aggregate?period=7d&metrics=visitors,visits,pageviews,events,bounce_rate,visit_duration,dark_share",
        "timeseries?period=7d",
        "breakdown?period=7d&property=event:page&limit=1000",
        "breakdown?period=7d&property=visit:channel&metrics=visitors,visits,dark_share",
        "breakdown?period=7d&property=visit:source",
    ] {
        let (path, rest) = q.split_once('?').expect("query");
        out.push(
            get_json(
                http,
                node,
                key,
                &format!("/api/v1/stats/{path}?site_id={SITE}&{rest}"),
            )
            .await,
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_under_load_holds_every_acknowledged_event_and_restores_the_same_reports() {
    let data = tempfile::tempdir().expect("tempdir");
    add_site(data.path(), SITE);
    let key = create_key(data.path());
    let node = Lucarne::start_with_env(data.path(), &[("LUCARNE_TRUSTED_PROXIES", "127.0.0.1")]);
    let http = reqwest::Client::new();

    // Load: pageviews with pages of their own, from several visitors, acknowledged ones
    // remembered in order; and a health probe timing every answer.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for w in 0..4 {
        let (acked, stop, http, url) = (acked.clone(), stop.clone(), http.clone(), node.url());
        load.push(tokio::spawn(async move {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let page = format!("/load/{w}/{i}");
                let body =
                    json!({"n": "pageview", "u": format!("https://{SITE}{page}"), "d": SITE});
                let resp = http
                    .post(format!("{url}/api/event"))
                    .header("user-agent", support::WINDOWS_CHROME_UA)
                    .header("x-forwarded-for", format!("10.9.{w}.{}", i % 200))
                    .body(body.to_string())
                    .send()
                    .await;
                if resp.is_ok_and(|r| r.status().as_u16() == 202) {
                    acked.lock().expect("acked").push(page);
                }
                i += 1;
            }
        }));
    }
    let probe = {
        let (stop, http, url) = (stop.clone(), http.clone(), node.url());
        tokio::spawn(async move {
            let (mut slowest, mut failed, mut n) = (Duration::ZERO, 0u32, 0u32);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let ok = http
                    .get(format!("{url}/api/health"))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await
                    .map(|r| r.status().as_u16() == 200)
                    .unwrap_or(false);
                slowest = slowest.max(t.elapsed());
                failed += u32::from(!ok);
                n += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (slowest, failed, n)
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before: Vec<String> = acked.lock().expect("acked").clone();
    assert!(before.len() > 100, "load: {} acknowledged", before.len());
    let backup_dir = tempfile::tempdir().expect("tempdir");
    let to = backup_dir.path().join("b1");
    let (ok, out, err) = {
        let (d, to) = (data.path().to_path_buf(), to.clone());
        tokio::task::spawn_blocking(move || {
            try_cli(&d, &["backup", "--to", to.to_str().expect("utf-8 path")])
        })
        .await
        .expect("backup")
    };
    assert!(ok, "backup: {out}{err}\n{}", node.log());
    assert!(out.contains("backup in "), "{out}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for l in load {
        l.await.expect("load");
    }
    let (slowest, failed, probes) = probe.await.expect("probe");
    let total = acked.lock().expect("acked").len();
    eprintln!(
        "backup under load: {} acknowledged before it, {total} in all; health: {probes} probes, \
         slowest {slowest:?}, {failed} failed",
        before.len()
    );
    assert_eq!(failed, 0, "the server stopped answering during the backup");
    assert!(slowest < Duration::from_secs(1), "health took {slowest:?}");

    // The restored directory: every event acknowledged before the backup, once.
    let restored = tempfile::tempdir().expect("tempdir");
    let new = restored.path().join("data");
    let out = cli(&new, &["restore", to.to_str().expect("path")]);
    assert!(out.contains(&format!("1 sites ({SITE})")), "{out}");
    let copy = Lucarne::start(&new);
    let in_copy = pages(&http, &copy, &key).await;
    for p in &before {
        assert_eq!(
            in_copy.get(p),
            Some(&1),
            "{p} acknowledged before the backup"
        );
    }
    assert!(
        in_copy.len() <= total,
        "{} pages, {total} acknowledged",
        in_copy.len()
    );
    // And the original lost nothing either.
    let in_original = pages(&http, &node, &key).await;
    assert_eq!(
        in_original.len(),
        total,
        "every acknowledged page in the original"
    );
    drop(copy);

    // Quiet now: a second backup, restored, answers every report as the original does.
    let to2 = backup_dir.path().join("b2");
    cli(
        data.path(),
        &["backup", "--to", to2.to_str().expect("path")],
    );
    let new2 = restored.path().join("data2");
    cli(&new2, &["restore", to2.to_str().expect("path")]);
    let copy2 = Lucarne::start(&new2);
    assert_eq!(
        reports(&http, &copy2, &key).await,
        reports(&http, &node, &key).await,
        "the restored directory's reports"
    );
}

#[tokio::test]
async fn an_offline_backup_and_what_is_refused() {
    let data = tempfile::tempdir().expect("tempdir");
    add_site(data.path(), SITE);
    let key = create_key(data.path());
    {
        let node = Lucarne::start(data.path());
        let http = reqwest::Client::new();
        for i in 0..20 {
            support::post_event(
                &http,
                &node,
                "10.0.0.1",
                json!({"n": "pageview", "u": format!("https://{SITE}/offline/{i}"), "d": SITE}),
            )
            .await;
        }
        // Everything acknowledged is loaded before the server stops (SIGTERM drains).
        let _ = pages(&http, &node, &key).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let to = dir.path().join("b");
    let to_s = to.to_str().expect("path");
    // No server: the command takes it itself.
    let out = cli(data.path(), &["backup", "--to", to_s]);
    assert!(out.contains("20 events"), "{out}");
    // Into a directory that is not empty: refused, nothing written.
    let (ok, _, err) = try_cli(data.path(), &["backup", "--to", to_s]);
    assert!(!ok && err.contains("is not empty"), "{err}");
    // Restore into a directory that is not empty, or from something else: refused.
    let (ok, _, err) = try_cli(data.path(), &["restore", to_s]);
    assert!(!ok && err.contains("new data directory"), "{err}");
    let (ok, _, err) = try_cli(
        &dir.path().join("x"),
        &["restore", data.path().to_str().expect("path")],
    );
    assert!(!ok && err.contains("is not a Lucarne backup"), "{err}");
    let new = dir.path().join("restored");
    cli(&new, &["restore", to_s]);
    let node = Lucarne::start(&new);
    let http = reqwest::Client::new();
    let p = pages(&http, &node, &key).await;
    assert_eq!(p.len(), 20, "{p:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_is_exported_and_deleted_while_the_server_runs_and_offline() {
    const OTHER: &str = "other.example";
    let data = tempfile::tempdir().expect("tempdir");
    add_site(data.path(), SITE);
    add_site(data.path(), OTHER);
    let key = create_key(data.path());
    cli(data.path(), &["goal", "add", SITE, "--event", "purchase"]);
    cli(
        data.path(),
        &[
            "link",
            "create",
            &format!("https://{SITE}/promo"),
            "--slug",
            "promo",
            "--site",
            SITE,
        ],
    );
    let mut node = Lucarne::start(data.path());
    let http = reqwest::Client::new();
    for (site, n) in [(SITE, 30), (OTHER, 10)] {
        for i in 0..n {
            support::post_event(
                &http,
                &node,
                "10.0.0.1",
                json!({"n": "pageview", "u": format!("https://{site}/p/{i}"), "d": site}),
            )
            .await;
        }
    }
    let scratch = tempfile::tempdir().expect("tempdir");

    // Export while the server runs: the site's events only, every column, a header.
    let csv = scratch.path().join("site.csv");
    let csv_s = csv.to_str().expect("path");
    let out = cli(data.path(), &["site", "export", SITE, "--to", csv_s]);
    assert!(out.contains(&format!("30 events of {SITE}")), "{out}");
    let text = std::fs::read_to_string(&csv).expect("the CSV");
    let mut lines = text.lines();
    let header = lines.next().expect("header");
    for col in [
        "site_id",
        "ts",
        "name",
        "pathname",
        "visitor_id",
        "channel_group",
    ] {
        assert!(header.split(',').any(|h| h == col), "{col} in {header}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 30, "{text}");
    assert!(rows.iter().all(|r| r.contains("/p/")), "{text}");
    assert!(!text.contains(OTHER), "only {SITE}'s events");
    let (ok, _, err) = try_cli(data.path(), &["site", "export", SITE, "--to", csv_s]);
    assert!(!ok && err.contains("exists already"), "{err}");

    // Delete: refused without --yes (nothing changes), then done while the server runs.
    let (ok, _, err) = try_cli(data.path(), &["site", "delete", SITE]);
    assert!(!ok && err.contains("--yes"), "{err}");
    let agg =
        |site: &str| format!("/api/v1/stats/aggregate?site_id={site}&period=day&metrics=events");
    assert_eq!(
        get_json(&http, &node, &key, &agg(SITE)).await["results"]["events"]["value"],
        30
    );
    let out = cli(data.path(), &["site", "delete", SITE, "--yes"]);
    assert!(
        out.contains(&format!("deleted {SITE}: its 30 events")),
        "{out}"
    );
    let gone = http
        .get(format!("{}{}", node.url(), agg(SITE)))
        .bearer_auth(&key)
        .send()
        .await
        .expect("GET");
    assert_ne!(gone.status().as_u16(), 200, "the deleted site's stats");
    assert!(!cli(data.path(), &["site", "list"]).contains(SITE));
    assert!(!cli(data.path(), &["link", "list"]).contains("promo"));
    let (ok, _, _) = try_cli(data.path(), &["goal", "list", SITE]);
    assert!(!ok, "the deleted site's goals");
    assert_eq!(
        get_json(&http, &node, &key, &agg(OTHER)).await["results"]["events"]["value"],
        10,
        "the other site is untouched"
    );
    // Nothing of it is left in the events store: a backup holds the other site's only.
    let b = scratch.path().join("b");
    let out = cli(data.path(), &["backup", "--to", b.to_str().expect("path")]);
    assert!(out.contains(": 10 events"), "{out}");

    // Offline: the same commands open the stores themselves.
    node.terminate(Duration::from_secs(20));
    let csv2 = scratch.path().join("other.csv");
    let out = cli(
        data.path(),
        &[
            "site",
            "export",
            OTHER,
            "--to",
            csv2.to_str().expect("path"),
        ],
    );
    assert!(out.contains(&format!("10 events of {OTHER}")), "{out}");
    let out = cli(data.path(), &["site", "delete", OTHER, "--yes"]);
    assert!(out.contains("its 10 events"), "{out}");
    let (ok, _, err) = try_cli(data.path(), &["site", "delete", OTHER, "--yes"]);
    assert!(!ok && err.contains("no site"), "{err}");
}
