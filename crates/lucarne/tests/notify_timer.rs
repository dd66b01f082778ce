//! The notification rounds run by themselves in the real binary, at the interval it was
//! given (`--notify-interval`, here through `LUCARNE_NOTIFY_INTERVAL`): a webhook's test
//! call and a conversion reach a real HTTP receiver within seconds, each once, signed,
//! with nothing calling a round by hand. (The default, a minute, would miss the
//! deadline.) The rounds' logic is tested in `crates/server/tests/notify.rs`.

mod support;

use std::time::{Duration, Instant};

use lucarne_testkit::webhook::Receiver;
use serde_json::{json, Value};
use support::{add_site, cli, create_key, post_event, Lucarne};

fn bodies(r: &Receiver) -> Vec<Value> {
    r.calls()
        .iter()
        .map(|c| serde_json::from_str(&c.body).unwrap_or(Value::Null))
        .collect()
}

/// Waits until a call of `kind` arrived; how long that took.
async fn wait_for(r: &Receiver, kind: &str, since: Instant, node: &Lucarne) -> Duration {
    let deadline = since + Duration::from_secs(20);
    loop {
        let got = bodies(r).iter().any(|b| b["type"] == kind);
        if got {
            return since.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "no `{kind}` call within 20 s; the server said:\n{}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_run_by_themselves_at_the_configured_interval() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    add_site(data, "example.com");
    cli(data, &["goal", "add", "example.com", "--event", "signup"]);
    let key = create_key(data);
    let node = Lucarne::start_with_env(
        data,
        &[
            ("LUCARNE_NOTIFY_INTERVAL", "1"),
            ("LUCARNE_TRUSTED_PROXIES", "127.0.0.1"),
            // The receiver is on loopback.
            ("LUCARNE_ALLOW_PRIVATE_LINK_TARGETS", "true"),
        ],
    );
    let calls = Receiver::start(|_| 204).unwrap_or_else(|e| panic!("{e:#}"));
    let hook_url = calls.url();
    let client = reqwest::Client::new();
    let resp = client
        .post(format!("{}/api/v1/webhooks", node.url()))
        .bearer_auth(&key)
        .json(&json!({"site_id": "example.com", "url": hook_url, "events": ["conversions"]}))
        .send()
        .await
        .expect("add webhook");
    assert_eq!(resp.status().as_u16(), 201);
    let hook: Value = resp.json().await.expect("json");
    let id = hook["id"].as_i64().expect("id");

    // The test call: queued by the API, sent by the next round.
    let asked = Instant::now();
    let resp = client
        .post(format!(
            "{}/api/v1/webhooks/{id}/test?site_id=example.com",
            node.url()
        ))
        .bearer_auth(&key)
        .send()
        .await
        .expect("test call");
    assert_eq!(resp.status().as_u16(), 202);
    let took = wait_for(&calls, "test", asked, &node).await;
    assert!(took < Duration::from_secs(10), "{took:?}");

    // A conversion: read by a round once it is 5 s old (events still being committed
    // wait), then sent.
    let ip = "198.51.100.7";
    post_event(
        &client,
        &node,
        ip,
        json!({"n": "pageview", "u": "https://example.com/pricing", "d": "example.com", "r": "https://www.google.com/"}),
    )
    .await;
    let converted = Instant::now();
    post_event(
        &client,
        &node,
        ip,
        json!({"n": "signup", "u": "https://example.com/pricing", "d": "example.com"}),
    )
    .await;
    let took = wait_for(&calls, "conversion", converted, &node).await;
    assert!(took < Duration::from_secs(15), "{took:?}");

    // A few more rounds send nothing again; every call is signed.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = bodies(&calls);
    let kinds: Vec<&str> = got.iter().filter_map(|b| b["type"].as_str()).collect();
    assert_eq!(kinds, ["test", "conversion"], "each once");
    let conv = &got[1]["data"];
    assert_eq!(conv["goal"]["value"], "signup");
    assert_eq!(conv["page"], "/pricing");
    assert_eq!(conv["visit"]["channel"], "google", "{conv}");
    for call in calls.calls() {
        let sig = call.header("lucarne-signature").unwrap_or_default();
        let (t, v1) = sig.split_once(',').expect("t=…,v1=…");
        assert!(t.starts_with("t=") && v1.starts_with("v1="), "{sig}");
        assert_eq!(v1.len(), 3 + 64, "hex SHA-256: {sig}");
        assert!(
            call.header("lucarne-delivery")
                .is_some_and(|id| id.parse::<u64>().is_ok()),
            "{:?}",
            call.headers
        );
    }
}
