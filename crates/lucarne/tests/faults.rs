//! Acknowledged means stored, whatever happens (issue 17): maximum-size events under a
//! backlog and `kill -9`, a full disk (a real size-limited tmpfs), and SIGTERM with
//! short-link clicks still queued.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{add_site, create_key, get_json, Lucarne, WINDOWS_CHROME_UA};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

/// A pageview of `path` carrying as much as the ingest limits allow (30 properties of
/// ~500 characters: a body just under 16 KB).
fn max_size_event(path: &str) -> String {
    let props: serde_json::Map<String, Value> = (0..30)
        .map(|i| {
            (
                format!("k{i:02}"),
                Value::String(format!("{i}{}", "é".repeat(200))),
            )
        })
        .collect();
    let body = json!({
        "n": "pageview",
        "u": format!("https://a.example{path}?utm_source={}", "s".repeat(200)),
        "d": "a.example",
        "r": format!("https://ref.example/{}", "r".repeat(1500)),
        "p": props,
    })
    .to_string();
    assert!(body.len() < 16 * 1024, "{} bytes", body.len());
    body
}

async fn post(http: &reqwest::Client, node: &Lucarne, ip: &str, body: String) -> (u16, String) {
    match http
        .post(format!("{}/api/event", node.url()))
        .header("user-agent", WINDOWS_CHROME_UA)
        .header("x-forwarded-for", ip)
        .header("content-type", "text/plain")
        .body(body)
        .send()
        .await
    {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Pageviews per page of site A from yesterday to tomorrow, as the stats API counts them.
async fn pageviews_by_page(
    http: &reqwest::Client,
    node: &Lucarne,
    key: &str,
) -> BTreeMap<String, u64> {
    let today = chrono::Utc::now().date_naive();
    let range = format!(
        "period=custom&date={},{}",
        today - chrono::Duration::days(1),
        today + chrono::Duration::days(1)
    );
    let v = get_json(
        http,
        node,
        key,
        &format!("/api/v1/stats/breakdown?site_id=a.example&{range}&property=event:page&metrics=pageviews&limit=1000"),
    )
    .await;
    let mut out = BTreeMap::new();
    for page in 1..=50 {
        let rows = if page == 1 {
            v["results"].as_array().cloned().unwrap_or_default()
        } else {
            let more = get_json(
                http,
                node,
                key,
                &format!("/api/v1/stats/breakdown?site_id=a.example&{range}&property=event:page&metrics=pageviews&limit=1000&page={page}"),
            )
            .await;
            more["results"].as_array().cloned().unwrap_or_default()
        };
        if rows.is_empty() {
            break;
        }
        for r in rows {
            out.insert(
                r["page"].as_str().unwrap_or_default().to_string(),
                r["pageviews"].as_u64().unwrap_or_default(),
            );
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maximum_size_events_under_a_backlog_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    add_site(dir.path(), "a.example");
    let key = create_key(dir.path());
    let mut node = Lucarne::start_with_env(dir.path(), &[("LUCARNE_TRUSTED_PROXIES", "127.0.0.1")]);
    let http = client();
    // 64 clients, 3,000 events of ~16 KB: group commits far larger than one record may
    // hold if they were not bounded in bytes.
    let mut acked = Vec::new();
    let mut tasks = Vec::new();
    for c in 0..64 {
        let (http, url) = (http.clone(), node.url());
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..47 {
                let path = format!("/max/{c}/{i}");
                let r = http
                    .post(format!("{url}/api/event"))
                    .header("user-agent", WINDOWS_CHROME_UA)
                    .header("x-forwarded-for", format!("10.9.{c}.{i}"))
                    .header("content-type", "text/plain")
                    .body(max_size_event(&path))
                    .send()
                    .await;
                if r.is_ok_and(|r| r.status().as_u16() == 202) {
                    mine.push(path);
                }
            }
            mine
        }));
    }
    for t in tasks {
        acked.extend(t.await.expect("client task"));
    }
    assert!(acked.len() > 2_000, "only {} acknowledged", acked.len());
    node.kill9();
    node.start_again();
    let stored = pageviews_by_page(&http, &node, &key).await;
    let missing: Vec<&String> = acked
        .iter()
        .filter(|p| stored.get(*p) != Some(&1))
        .collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost or doubled, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
}

/// A size-limited tmpfs mounted for the test, unmounted on drop (even on panic).
struct SmallDisk {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("disk");
        std::fs::create_dir_all(&path).expect("mount point");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(
            ok.success(),
            "mounting a {size} tmpfs needs root (the test command runs as root)"
        );
        SmallDisk { path, _dir: dir }
    }

    /// Fill the disk: a file grows until the filesystem says no space.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let p = self.path.join("filler");
        let mut f = std::fs::File::create(&p).expect("filler");
        let block = vec![1u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
        p
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn spool_files(data: &Path) -> usize {
    std::fs::read_dir(data.join("spool")).map_or(0, |d| d.count())
}

/// `/api/ready` (readiness: can it take events?); `/api/health` is liveness.
async fn ready(http: &reqwest::Client, node: &Lucarne) -> (u16, String) {
    probe(http, node, "/api/ready").await
}

async fn probe(http: &reqwest::Client, node: &Lucarne, path: &str) -> (u16, String) {
    match http.get(format!("{}{path}", node.url())).send().await {
        Ok(r) => {
            let s = r.status().as_u16();
            (s, r.text().await.unwrap_or_default())
        }
        Err(e) => (0, e.to_string()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_with_503_and_loses_nothing_acknowledged() {
    let disk = SmallDisk::mount("96m");
    let data = disk.path.join("data");
    add_site(&data, "a.example");
    let key = create_key(&data);
    // A 96 MB disk: readiness's own free-space minimum (256 MiB by default) set low, so
    // what it reports is the events store's refusal.
    let mut node = Lucarne::start_with_env(
        &data,
        &[
            ("LUCARNE_TRUSTED_PROXIES", "127.0.0.1"),
            ("LUCARNE_MIN_FREE_DISK_MIB", "1"),
        ],
    );
    let http = client();
    let mut acked = Vec::new();
    let mut refused = Vec::new();
    for i in 0..20 {
        let path = format!("/before/{i}");
        let (s, body) = post(&http, &node, "10.1.0.1", max_size_event(&path)).await;
        assert_eq!(s, 202, "{body}");
        acked.push(path);
    }
    let files_before = spool_files(&data);
    let filler = disk.fill();
    // Writes go on into the spool's zeroed reserve, then are refused with a reason.
    let mut first_refusal = None;
    for i in 0..2_000 {
        let path = format!("/full/{i}");
        let (s, body) = post(&http, &node, "10.1.0.2", max_size_event(&path)).await;
        match s {
            202 => acked.push(path),
            503 => {
                let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                assert_eq!(v["reason"], "spool_write_failed", "{body}");
                refused.push(path);
                first_refusal.get_or_insert(i);
                if refused.len() >= 20 {
                    break;
                }
            }
            other => panic!("event {i}: {other} {body}\n{}", node.log()),
        }
    }
    assert!(
        refused.len() >= 20,
        "no refusal on a full disk ({} acknowledged)",
        acked.len()
    );
    let (s, body) = ready(&http, &node).await;
    assert_eq!(s, 503, "readiness on a full disk: {body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], "not_ready", "{body}");
    assert_ne!(v["checks"]["events"], "ok", "{body}");
    assert!(
        v["reason"].as_str().unwrap_or_default().contains("disk"),
        "{body}"
    );
    // Alive all the same: a restart would not bring the space back.
    let (s, body) = probe(&http, &node, "/api/health").await;
    assert_eq!(s, 200, "liveness on a full disk: {body}");
    assert_eq!(
        spool_files(&data),
        files_before,
        "a new spool file per failed attempt"
    );
    // Space comes back: health recovers by itself, and events are accepted again.
    std::fs::remove_file(filler).expect("remove the filler");
    let deadline = Instant::now() + Duration::from_secs(20);
    while ready(&http, &node).await.0 != 200 {
        assert!(
            Instant::now() < deadline,
            "readiness did not recover: {}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for i in 0..20 {
        let path = format!("/after/{i}");
        let (s, body) = post(&http, &node, "10.1.0.3", max_size_event(&path)).await;
        assert_eq!(s, 202, "{body}");
        acked.push(path);
    }
    let check = |stored: &BTreeMap<String, u64>, when: &str| {
        for p in &acked {
            assert_eq!(
                stored.get(p),
                Some(&1),
                "{when}: acknowledged {p} not stored once"
            );
        }
        for p in &refused {
            assert_eq!(stored.get(p), None, "{when}: refused {p} was stored");
        }
    };
    // The loader may need a moment to get DuckDB writing again after the full disk.
    let deadline = Instant::now() + Duration::from_secs(30);
    let stored = loop {
        let r = http
            .get(format!(
                "{}/api/v1/stats/aggregate?site_id=a.example&period=day&metrics=pageviews",
                node.url()
            ))
            .bearer_auth(&key)
            .send()
            .await
            .expect("stats");
        if r.status().as_u16() == 200 {
            break pageviews_by_page(&http, &node, &key).await;
        }
        assert!(
            Instant::now() < deadline,
            "reports did not recover: {}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    check(&stored, "after space returned");
    node.kill9();
    node.start_again();
    check(
        &pageviews_by_page(&http, &node, &key).await,
        "after kill -9",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_keeps_the_clicks_made_just_before_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    add_site(dir.path(), "a.example");
    let key = create_key(dir.path());
    let mut node = Lucarne::start(dir.path());
    let http = client();
    let made = http
        .post(format!("{}/api/v1/links", node.url()))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(
            json!({"site_id": "a.example", "url": "https://a.example/offer", "slug": "offer"})
                .to_string(),
        )
        .send()
        .await
        .expect("create link");
    assert_eq!(made.status().as_u16(), 201);
    let id = made.json::<Value>().await.expect("link")["id"]
        .as_i64()
        .expect("id");
    let clicks = 40;
    for i in 0..clicks {
        let r = http
            .get(format!("{}/l/offer", node.url()))
            .header("user-agent", WINDOWS_CHROME_UA)
            .header("x-forwarded-for", format!("10.2.0.{i}"))
            .send()
            .await
            .expect("click");
        assert_eq!(r.status().as_u16(), 302);
    }
    // At once: the batcher and the click counter still hold them.
    let status = node.terminate(Duration::from_secs(30));
    assert!(status.success(), "{status}: {}", node.log());
    node.start_again();
    let link = get_json(&http, &node, &key, &format!("/api/v1/links/{id}")).await;
    assert_eq!(link["clicks"], clicks, "persisted click count: {link}");
    let report = get_json(
        &http,
        &node,
        &key,
        &format!("/api/v1/links/{id}/stats?period=day"),
    )
    .await;
    assert_eq!(report["clicks"], clicks, "stored click events: {report}");
}
