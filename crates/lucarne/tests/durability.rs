//! An acknowledged event survives `kill -9`: a real `lucarne serve` is SIGKILLed while
//! 16 clients load it, restarted on the same data directory, and every event that got a
//! 202 must be there. Also: SIGTERM drains and stops cleanly.

mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{add_site, create_key, Lucarne};

const UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// All pages of `event:page` for today, following pagination.
async fn stored_pages(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    site: &str,
) -> BTreeSet<String> {
    let mut pages = BTreeSet::new();
    for page in 1.. {
        let url = format!(
            "{base}/api/v1/stats/breakdown?site_id={site}&period=day&property=event:page&metrics=pageviews&limit=1000&page={page}"
        );
        let v: serde_json::Value = client
            .get(&url)
            .bearer_auth(key)
            .send()
            .await
            .expect("stats request")
            .json()
            .await
            .expect("stats json");
        let rows = v["results"].as_array().expect("results array").clone();
        if rows.is_empty() {
            break;
        }
        for r in rows {
            pages.insert(r["page"].as_str().expect("page").to_string());
        }
    }
    pages
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_events_survive_sigkill() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_site(dir.path(), "durable.test");
    let key = create_key(dir.path());
    let mut server = Lucarne::start(dir.path());
    let base = server.url();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut senders = Vec::new();
    for s in 0..16 {
        let client = client.clone();
        let base = base.clone();
        let acked = acked.clone();
        senders.push(tokio::spawn(async move {
            for i in 0..100_000u32 {
                let path = format!("/e/{s}/{i}");
                let body = format!(
                    r#"{{"n":"pageview","u":"https://durable.test{path}","d":"durable.test"}}"#
                );
                let resp = client
                    .post(format!("{base}/api/event"))
                    .header("user-agent", UA)
                    .header("content-type", "text/plain")
                    .body(body)
                    .send()
                    .await;
                match resp {
                    Ok(r) if r.status() == reqwest::StatusCode::ACCEPTED => {
                        acked.lock().expect("lock").push(path);
                    }
                    Ok(r) if r.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE => {}
                    Ok(r) => panic!("unexpected status {}", r.status()),
                    // The server died under us: stop this sender.
                    Err(_) => return,
                }
            }
        }));
    }
    // Let the load run, then crash the server in the middle of it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill9();
    for s in senders {
        s.await.expect("sender task");
    }
    let acked: Vec<String> = acked.lock().expect("lock").clone();
    assert!(
        acked.len() > 200,
        "the load was real: {} events acknowledged",
        acked.len()
    );

    server.restart();
    let stored = stored_pages(&client, &server.url(), &key, "durable.test").await;
    let missing: Vec<&String> = acked.iter().filter(|p| !stored.contains(*p)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged events lost after kill -9, e.g. {:?}",
        missing.len(),
        acked.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    // The store is usable after recovery: a new event is accepted and counted.
    let r = client
        .post(format!("{}/api/event", server.url()))
        .header("user-agent", UA)
        .body(r#"{"n":"pageview","u":"https://durable.test/after","d":"durable.test"}"#)
        .send()
        .await
        .expect("post after restart");
    assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    let stored = stored_pages(&client, &server.url(), &key, "durable.test").await;
    assert!(stored.contains("/after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_site(dir.path(), "term.test");
    let key = create_key(dir.path());
    let mut server = Lucarne::start(dir.path());
    let client = reqwest::Client::new();
    for i in 0..50 {
        let r = client
            .post(format!("{}/api/event", server.url()))
            .header("user-agent", UA)
            .body(format!(
                r#"{{"n":"pageview","u":"https://term.test/p{i}","d":"term.test"}}"#
            ))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    }
    let status = server.terminate(Duration::from_secs(20));
    assert!(
        status.success(),
        "exit status after SIGTERM: {status}; log:\n{}",
        server.log()
    );
    assert!(
        server.log().contains("Stopped cleanly"),
        "log:\n{}",
        server.log()
    );
    server.start_again();
    assert_eq!(
        stored_pages(&client, &server.url(), &key, "term.test")
            .await
            .len(),
        50
    );
}
