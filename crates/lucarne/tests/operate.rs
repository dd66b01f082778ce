//! Operating the real binary (issue 22): liveness and readiness, `/metrics` behind a
//! token or on an address of its own, and `lucarne config check` (the example file, a
//! bad file, sources of values).

mod support;

use std::process::Command;

use serde_json::Value;
use support::{free_port, Lucarne, BIN};

async fn get(http: &reqwest::Client, url: &str, bearer: Option<&str>) -> (u16, String) {
    let mut req = http.get(url);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

#[tokio::test]
async fn readiness_checks_the_stores_and_the_free_space_liveness_stays_up() {
    let data = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    {
        let node = Lucarne::start(data.path());
        let (s, body) = get(&http, &format!("{}/api/ready", node.url()), None).await;
        assert_eq!(s, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["status"], "ready", "{v}");
        assert_eq!(v["checks"]["events"], "ok", "{v}");
        assert_eq!(v["checks"]["meta"], "ok", "{v}");
        assert!(
            v["checks"]["disk"]["free_bytes"].as_u64().unwrap_or(0) > 0,
            "{v}"
        );
        assert_eq!(v["checks"]["disk"]["min_free_bytes"], 256u64 << 20, "{v}");
    }
    // More free space asked for than any disk here has: not ready, with the reason;
    // alive all the same.
    let node = Lucarne::start_with_env(data.path(), &[("LUCARNE_MIN_FREE_DISK_MIB", "1000000000")]);
    let (s, body) = get(&http, &format!("{}/api/ready", node.url()), None).await;
    assert_eq!(s, 503, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], "not_ready", "{v}");
    let reason = v["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("free in the data directory, below the minimum of 1000000000 MiB"),
        "{v}"
    );
    assert_eq!(v["checks"]["events"], "ok", "{v}");
    let (s, body) = get(&http, &format!("{}/api/health", node.url()), None).await;
    assert_eq!((s, body.as_str()), (200, r#"{"status":"ok"}"#));
}

#[tokio::test]
async fn metrics_behind_a_token() {
    let data = tempfile::tempdir().expect("tempdir");
    let token = "a-metrics-token-of-32-characters";
    let node = Lucarne::start_with_env(data.path(), &[("LUCARNE_METRICS_TOKEN", token)]);
    let http = reqwest::Client::new();
    let url = format!("{}/metrics", node.url());
    for wrong in [None, Some("nope"), Some("a-metrics-token-of-32-characterz")] {
        let (s, body) = get(&http, &url, wrong).await;
        assert_eq!(s, 401, "{wrong:?}: {body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        assert_eq!(v["error"], "unauthorized", "{v}");
        assert!(!body.contains("lucarne_"), "no metric leaks: {body}");
    }
    let (s, body) = get(&http, &url, Some(token)).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("lucarne_events_accepted"), "{body}");
    // The rest of the server does not ask for it.
    let (s, _) = get(&http, &format!("{}/api/health", node.url()), None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn metrics_on_an_address_of_their_own() {
    let data = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let at = format!("127.0.0.1:{port}");
    let node = Lucarne::start_with_env(data.path(), &[("LUCARNE_METRICS_LISTEN", at.as_str())]);
    let http = reqwest::Client::new();
    let (s, body) = get(&http, &format!("{}/metrics", node.url()), None).await;
    assert_eq!(s, 404, "not on the main listener: {body}");
    assert!(!body.contains("lucarne_"), "{body}");
    let (s, body) = get(&http, &format!("http://{at}/metrics"), None).await;
    assert_eq!(s, 200, "{body}");
    assert!(body.contains("lucarne_events_accepted"), "{body}");
    // Only /metrics there.
    let (s, _) = get(&http, &format!("http://{at}/api/health"), None).await;
    assert_eq!(s, 404);
}

fn config_check(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .arg("config")
        .arg("check")
        .args(args)
        .env_remove("LUCARNE_CONFIG")
        .env_remove("RUST_BACKTRACE")
        .envs(env.iter().copied())
        .output()
        .expect("run lucarne config check");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The line of `config check`'s output for key `k`.
fn line_of(out: &str, k: &str) -> String {
    out.lines()
        .find(|l| l.trim_start().starts_with(&format!("{k} ")))
        .unwrap_or_default()
        .to_string()
}

#[test]
fn config_check_validates_and_names_each_value_s_source() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../lucarne.example.toml");
    let (ok, out, err) = config_check(&["--config", example], &[]);
    assert!(ok, "{out}{err}");
    assert!(out.ends_with("configuration OK\n"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("listen ") && l.contains("127.0.0.1:8080") && l.contains("[file ")),
        "{out}"
    );

    // Flag over environment over file; secrets masked.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("lucarne.toml");
    std::fs::write(
        &file,
        "listen = \"127.0.0.1:9000\"\nmax_connections = 50\nsmtp_url = \"smtp://u:hunter2hunter2@mail.test:587\"\nmail_from = \"a@mail.test\"\nmetrics_token = \"0123456789abcdef-secret\"\n",
    )
    .expect("write");
    let path = file.to_string_lossy().into_owned();
    let (ok, out, err) = config_check(
        &["--config", &path, "--max-connections", "70"],
        &[
            ("LUCARNE_LISTEN", "127.0.0.1:9001"),
            ("LUCARNE_MAX_CONNECTIONS", "60"),
        ],
    );
    assert!(ok, "{out}{err}");
    let line = |k: &str| line_of(&out, k);
    assert!(
        line("listen").contains("127.0.0.1:9001  [env LUCARNE_LISTEN]"),
        "{out}"
    );
    assert!(
        line("max_connections").contains("70  [flag --max-connections]"),
        "{out}"
    );
    assert!(
        line("mail_from").contains(&format!("[file {path}]")),
        "{out}"
    );
    assert!(
        line("smtp_url").contains("smtp://u:***@mail.test:587"),
        "{out}"
    );
    assert!(line("body_timeout_secs").contains("30  [default]"), "{out}");
    assert!(!out.contains("hunter2") && !out.contains("secret"), "{out}");

    // An empty variable (`LUCARNE_LISTEN=` in an environment file) is unset: the file's
    // value stands.
    let (ok, out, err) = config_check(
        &["--config", &path],
        &[("LUCARNE_LISTEN", ""), ("LUCARNE_MAX_CONNECTIONS", "")],
    );
    assert!(ok, "{out}{err}");
    assert!(
        line_of(&out, "listen").contains(&format!("127.0.0.1:9000  [file {path}]")),
        "{out}"
    );
    assert!(
        line_of(&out, "max_connections").contains(&format!("50  [file {path}]")),
        "{out}"
    );

    // Problems are refused with what is wrong, before anything starts.
    for (text, expect) in [
        ("lisen = \"127.0.0.1:1\"\n", "unknown field `lisen`"),
        ("listen = \"nowhere\"\n", "listen `nowhere`"),
        ("metrics_token = \"short\"\n", "at least 16 characters"),
        ("smtp_url = \"smtp://mail.test:25\"\n", "--mail-from"),
        ("trusted_proxies = [\"10.0.0.0/33\"]\n", "10.0.0.0/33"),
        ("body_timeout_secs = 0\n", "body_timeout_secs"),
        ("events = \"mysql://x\"\n", "events `mysql://x`"),
        (
            "rules = [\"/nonexistent/rules.toml\"]\n",
            "/nonexistent/rules.toml",
        ),
    ] {
        std::fs::write(&file, text).expect("write");
        let (ok, out, err) = config_check(&["--config", &path], &[]);
        assert!(!ok, "{text}: accepted\n{out}");
        assert!(err.contains(expect), "{text}: {err}");
    }
}

/// With `NOTIFY_SOCKET` set (systemd's `Type=notify`), the server says `READY=1` once it
/// answers, and `STOPPING=1` when SIGTERM starts its drain; on a real datagram socket.
#[test]
fn tells_systemd_when_it_is_ready_and_when_it_stops() {
    use std::os::unix::net::UnixDatagram;
    use std::time::Duration;

    let data = tempfile::tempdir().expect("tempdir");
    let sock_dir = tempfile::tempdir().expect("tempdir");
    let path = sock_dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let recv = || {
        let mut buf = [0u8; 512];
        let n = sock.recv(&mut buf).expect("a notification");
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    let path_s = path.to_string_lossy().to_string();
    // `start_with_env` returns once /api/health answers: READY=1 was sent by then.
    let mut node = Lucarne::start_with_env(data.path(), &[("NOTIFY_SOCKET", &path_s)]);
    let ready = recv();
    let lines: Vec<&str> = ready.lines().collect();
    assert!(lines.contains(&"READY=1"), "{ready:?}");
    assert!(
        lines.contains(&format!("STATUS=listening on {}", node.addr).as_str()),
        "{ready:?}"
    );
    let status = node.terminate(Duration::from_secs(30));
    let stopping = recv();
    assert!(stopping.lines().any(|l| l == "STOPPING=1"), "{stopping:?}");
    assert!(status.success(), "{status:?}");
}
