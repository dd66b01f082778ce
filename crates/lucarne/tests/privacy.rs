//! The IP address is never written anywhere: after real traffic through a real server
//! (with the IP arriving in `X-Forwarded-For` from a trusted proxy), no file in the data
//! directory contains it, in text or in binary form.

mod support;

use std::path::Path;
use std::time::Duration;

use support::{add_site, Lucarne};

fn all_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read data dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.push((
                path.display().to_string(),
                std::fs::read(&path).unwrap_or_default(),
            ));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ip_address_in_any_stored_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_site(dir.path(), "private.test");
    let mut server = Lucarne::start(dir.path());
    let client = reqwest::Client::new();
    // The loopback peer is not a trusted proxy by default, so the stored-IP candidate is
    // 127.0.0.1; also send a forged X-Forwarded-For to make sure it is not kept either.
    for i in 0..20 {
        let r = client
            .post(format!("{}/api/event", server.url()))
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36")
            .header("x-forwarded-for", "198.51.100.77")
            .body(format!(r#"{{"n":"pageview","u":"https://private.test/p{i}","d":"private.test"}}"#))
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), reqwest::StatusCode::ACCEPTED);
    }
    // Stop cleanly so everything is checkpointed into the files we scan.
    let status = server.terminate(Duration::from_secs(20));
    assert!(status.success(), "log:\n{}", server.log());
    let files = all_bytes(dir.path());
    assert!(
        files.iter().any(|(p, _)| p.ends_with("events.duckdb")),
        "scanned the events file"
    );
    for (path, bytes) in &files {
        for needle in [&b"127.0.0.1"[..], b"198.51.100.77", &[198, 51, 100, 77]] {
            assert!(
                !contains(bytes, needle),
                "{path} contains an IP address ({needle:?})"
            );
        }
    }
    assert!(
        !server.log().contains("198.51.100.77"),
        "no IP in the logs either"
    );
}
