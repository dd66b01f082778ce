//! `lucarne import-log` on the real binary: a plain and a gzip-compressed combined log
//! (previews from WhatsApp, Signal, Slack and Telegram, a crawler, people, static files,
//! malformed lines) are imported, the summary counts every line, and a server started on
//! the same data directory reports the previews and pageviews. No client address is
//! stored; only IO errors fail the command.

mod support;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{add_site, create_key, Lucarne, BIN};

const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
const WHATSAPP: &str = "WhatsApp/2.23.20.0 A";
/// Signal's previews: a WhatsApp-like user agent, labelled whatsapp.
const SIGNAL: &str = "WhatsApp/2";
const SLACK: &str = "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)";
const TELEGRAM: &str = "TelegramBot (like TwitterBot)";
const GOOGLEBOT: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// One combined-format line on 10 March 2024.
fn line(ip: &str, time: &str, request: &str, status: u16, referrer: &str, ua: &str) -> String {
    format!(
        "{ip} - - [10/Mar/2024:{time} +0000] \"{request}\" {status} 1234 \"{referrer}\" \"{ua}\"\n"
    )
}

fn plain_log() -> String {
    [
        line(
            "203.0.113.10",
            "10:00:00",
            "GET /post HTTP/1.1",
            200,
            "-",
            WHATSAPP,
        ),
        // The same fetcher getting the page's og:image: part of the same preview.
        line(
            "203.0.113.10",
            "10:00:01",
            "GET /img/cover.jpg HTTP/1.1",
            200,
            "-",
            WHATSAPP,
        ),
        line(
            "203.0.113.11",
            "10:00:02",
            "HEAD /post HTTP/1.1",
            200,
            "-",
            SLACK,
        ),
        line(
            "203.0.113.11",
            "10:00:03",
            "GET /missing HTTP/1.1",
            404,
            "-",
            SLACK,
        ),
        line(
            "66.249.66.1",
            "10:01:00",
            "GET /post HTTP/1.1",
            200,
            "-",
            GOOGLEBOT,
        ),
        // A person: a pageview (with --pageviews), a stylesheet, a form post.
        line(
            "203.0.113.12",
            "10:05:00",
            "GET /post HTTP/1.1",
            200,
            "-",
            CHROME,
        ),
        line(
            "203.0.113.12",
            "10:05:01",
            "GET /app.css HTTP/1.1",
            200,
            "https://example.com/post",
            CHROME,
        ),
        line(
            "203.0.113.12",
            "10:05:30",
            "POST /contact HTTP/1.1",
            200,
            "https://example.com/post",
            CHROME,
        ),
        "this is not an access log line\n".to_string(),
        "203.0.113.13 - - [yesterday] \"GET / HTTP/1.1\" 200 1 \"-\" \"-\"\n".to_string(),
    ]
    .concat()
}

fn gzip_log() -> String {
    [
        line(
            "203.0.113.20",
            "11:00:00",
            "GET /post?utm_source=x HTTP/1.1",
            301,
            "-",
            TELEGRAM,
        ),
        line(
            "203.0.113.21",
            "11:00:01",
            "GET /about HTTP/1.1",
            200,
            "-",
            WHATSAPP,
        ),
        line(
            "203.0.113.22",
            "11:00:02",
            "GET /post HTTP/1.1",
            200,
            "-",
            SIGNAL,
        ),
        // A person, skipped without --pageviews; a script; a torn last line.
        line(
            "203.0.113.23",
            "11:05:00",
            "GET /about HTTP/1.1",
            200,
            "-",
            CHROME,
        ),
        line(
            "203.0.113.24",
            "11:06:00",
            "GET /post HTTP/1.1",
            200,
            "-",
            "curl/8.4.0",
        ),
        "203.0.113.25 - - [10/Mar/2024:11:07".to_string(),
    ]
    .concat()
}

fn gzip(text: &str) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(text.as_bytes()).expect("gzip");
    enc.finish().expect("gzip")
}

fn import(data: &Path, file: &Path, pageviews: bool) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("import-log")
        .arg(file)
        .args(["--site", "example.com", "--data"])
        .arg(data)
        .stdin(Stdio::null());
    if pageviews {
        cmd.arg("--pageviews");
    }
    cmd.output().expect("run lucarne import-log")
}

fn stdout_of(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "import-log failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn has_line(stdout: &str, want: &str) -> bool {
    stdout.lines().any(|l| l.trim() == want)
}

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

async fn get(server: &Lucarne, key: &str, path: &str) -> Value {
    let r = reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(key)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{path}");
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_plain_and_gzip_logs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    add_site(&data, "example.com");
    let key = create_key(&data);
    let plain = dir.path().join("access.log");
    std::fs::write(&plain, plain_log()).expect("write plain log");
    // A compressed file without the .gz suffix: detected by its first bytes.
    let compressed = dir.path().join("access.log.1");
    std::fs::write(&compressed, gzip(&gzip_log())).expect("write gzip log");

    let out = stdout_of(&import(&data, &plain, true));
    for want in [
        "lines read: 10",
        "previews recorded: 2 (slack 1, whatsapp 1)",
        "pageviews recorded: 1",
        "lines skipped: 7",
        "asset: 2",
        "bot: 1",
        "method: 1",
        "status: 1",
        "malformed (bad_time): 1",
        "malformed (truncated): 1",
    ] {
        assert!(has_line(&out, want), "`{want}` in:\n{out}");
    }
    let out = stdout_of(&import(&data, &compressed, false));
    assert!(out.contains("(gzip)"), "{out}");
    for want in [
        "lines read: 6",
        "previews recorded: 3 (telegram 1, whatsapp 2)",
        "pageviews recorded: 0",
        "lines skipped: 3",
        "bot: 1",
        "human: 1",
        "malformed (truncated): 1",
    ] {
        assert!(has_line(&out, want), "`{want}` in:\n{out}");
    }

    // IO errors fail the command: a missing file, a corrupt gzip stream.
    let out = import(&data, &dir.path().join("missing.log"), false);
    assert!(!out.status.success(), "a missing file is an error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.log"));
    let corrupt = dir.path().join("corrupt.log.gz");
    // A gzip header, then no valid deflate block.
    let mut bytes = gzip(&plain_log())[..10].to_vec();
    bytes.extend_from_slice(&[0xff; 64]);
    std::fs::write(&corrupt, bytes).expect("write corrupt log");
    let out = import(&data, &corrupt, false);
    assert!(!out.status.success(), "a corrupt gzip stream is an error");

    // No client address reached any file of the data directory.
    let files = all_bytes(&data);
    assert!(files.iter().any(|(p, _)| p.ends_with("events.duckdb")));
    for (path, bytes) in &files {
        for ip in [
            "203.0.113.10",
            "203.0.113.12",
            "203.0.113.21",
            "66.249.66.1",
        ] {
            assert!(
                !bytes.windows(ip.len()).any(|w| w == ip.as_bytes()),
                "{ip} found in {path}"
            );
        }
    }

    // What a server on the same data reports for March 2024.
    let mut server = Lucarne::start(&data);
    let range = "period=custom&date=2024-03-01,2024-03-31";
    let v = get(
        &server,
        &key,
        &format!("/api/v1/stats/previews?site_id=example.com&{range}"),
    )
    .await;
    assert_eq!(v["previews"], 5, "{v}");
    let apps: Vec<(String, u64)> = v["by_app"]
        .as_array()
        .expect("by_app")
        .iter()
        .map(|a| {
            (
                a["app"].as_str().unwrap_or_default().to_string(),
                a["previews"].as_u64().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        apps,
        vec![
            ("whatsapp".to_string(), 3),
            ("slack".to_string(), 1),
            ("telegram".to_string(), 1)
        ],
        "{v}"
    );
    let post = &v["results"][0];
    assert_eq!(post["page"], "/post", "{v}");
    assert_eq!(post["previews"], 4, "{v}");
    assert_eq!(post["visits"], 1, "the person's pageview: {v}");
    assert_eq!(post["visits_by_group"]["estimated-dark"], 1, "{v}");
    assert_eq!(post["visits_per_preview"], 0.25, "{v}");
    assert_eq!(v["results"][1]["page"], "/about", "{v}");
    assert_eq!(v["results"][1]["previews"], 1, "{v}");

    // Previews are events at the log's times, not visits; the pageview is a visit.
    let a = get(
        &server,
        &key,
        &format!(
            "/api/v1/stats/aggregate?site_id=example.com&{range}&metrics=visits,pageviews,events"
        ),
    )
    .await;
    assert_eq!(a["results"]["visits"]["value"], 1, "{a}");
    assert_eq!(a["results"]["pageviews"]["value"], 1, "{a}");
    assert_eq!(a["results"]["events"]["value"], 6, "{a}");
    let b = get(
        &server,
        &key,
        &format!("/api/v1/stats/breakdown?site_id=example.com&{range}&property=event:props:app&metrics=events&filters=event:name==preview"),
    )
    .await;
    let total: u64 = b["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["events"].as_u64().unwrap_or_default())
        .sum();
    assert_eq!(total, 5, "{b}");
    let t = get(
        &server,
        &key,
        &format!(
            "/api/v1/stats/timeseries?site_id=example.com&{range}&metrics=pageviews&interval=date"
        ),
    )
    .await;
    let days: Vec<&Value> = t["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["pageviews"].as_u64().unwrap_or_default() > 0)
        .collect();
    assert_eq!(days.len(), 1, "{t}");
    assert_eq!(days[0]["date"], "2024-03-10", "{t}");
    let status = server.terminate(Duration::from_secs(20));
    assert!(status.success(), "log:\n{}", server.log());
}
