//! `lucarne demo` starts, fills a demo site with synthetic history through the real
//! pipeline, prints an API key, and serves reports in which dark social, share
//! cascades, conversions (goals, revenue, uplift) and survey answers are visible.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{free_port, Browser, BIN};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_serves_generated_history() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--days",
            "20",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data",
        ])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn lucarne demo");
    let stdout = child.stdout.take().expect("stdout");
    // Read the banner on a thread so a silent child cannot hang the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let (mut key, mut password) = (None, None);
    while key.is_none() && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            if let Some(k) = line.trim().strip_prefix("API key:") {
                key = Some(k.trim().to_string());
            }
            if let Some(p) = line.trim().strip_prefix("password:") {
                password = Some(p.trim().to_string());
            }
        }
    }
    let Some(key) = key else {
        let _ = child.kill();
        panic!("lucarne demo printed no API key within 120 s");
    };
    let client = reqwest::Client::new();
    let url = format!(
        "http://127.0.0.1:{port}/api/v1/stats/breakdown?site_id=demo.lucarne.test&period=30d&property=visit:channel_group&metrics=visitors,visits"
    );
    let v: serde_json::Value = client
        .get(&url)
        .bearer_auth(&key)
        .send()
        .await
        .expect("stats request")
        .json()
        .await
        .expect("json");
    // Share cascades: share events and the visits they brought.
    let shares: serde_json::Value = client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/stats/aggregate?site_id=demo.lucarne.test&period=30d&metrics=shares,share_visits"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .expect("aggregate request")
        .json()
        .await
        .expect("json");
    let cascades: serde_json::Value = client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/stats/cascades?site_id=demo.lucarne.test&period=30d"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .expect("cascades request")
        .json()
        .await
        .expect("json");
    // Conversions: goals, revenue and the private-versus-public uplift.
    let conversions: serde_json::Value = client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/stats/conversions?site_id=demo.lucarne.test&period=30d&goal=purchase"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .expect("conversions request")
        .json()
        .await
        .expect("json");
    // Survey answers and the dark-social estimate they calibrate.
    let surveys: serde_json::Value = client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/stats/surveys?site_id=demo.lucarne.test&period=30d"
        ))
        .bearer_auth(&key)
        .send()
        .await
        .expect("surveys request")
        .json()
        .await
        .expect("json");
    // The dashboard as a new user sees it, in Chromium: the headline equals the API's
    // dark share, and the page that travels most privately has the API's dark share for
    // that page; screenshots for the README (docs/screenshots/, copied from artifacts/).
    // The demo keeps adding live visits, so a reading counts only when the site's
    // visits and pageviews were the same just before the page loaded and just after
    // the API answered (nothing arrived in between); otherwise it is read again.
    let totals = || async {
        let v: serde_json::Value = client
            .get(format!(
                "http://127.0.0.1:{port}/api/v1/stats/aggregate?site_id=demo.lucarne.test&period=30d&metrics=visits,pageviews,dark_share"
            ))
            .bearer_auth(&key)
            .send()
            .await
            .expect("aggregate request")
            .json()
            .await
            .expect("json");
        v
    };
    let password = password.expect("the demo prints its password");
    let browser = Browser::start();
    let s = browser.session().await;
    s.set_window_size(1280, 2000).await.expect("desktop size");
    let site = format!("http://127.0.0.1:{port}/sites/demo.lucarne.test");
    s.goto(&site).await.expect("goto");
    s.log_in("demo@lucarne.test", &password, Duration::from_secs(10))
        .await;
    let mut settled = false;
    for _ in 0..8 {
        let before = totals().await;
        s.goto(&site).await.expect("goto");
        s.wait_js(
            "document.getElementById('headline')",
            Duration::from_secs(20),
            "the demo overview",
        )
        .await;
        let shown = s
            .js("return Number(document.getElementById('headline').dataset.value)")
            .await;
        let row = s
            .js(
                "const r = document.querySelector('#panel-travels tbody tr'); \
                 return [r.dataset.value, Number(r.querySelector('[data-dark]').dataset.dark)];",
            )
            .await;
        let page = row[0].as_str().unwrap_or_default().to_string();
        let api: serde_json::Value = client
            .get(format!("http://127.0.0.1:{port}/api/v1/stats/breakdown"))
            .query(&[
                ("site_id", "demo.lucarne.test"),
                ("period", "30d"),
                ("property", "visit:entry_page"),
                ("metrics", "visits,dark_share"),
                ("filters", &format!("visit:entry_page=={page}")),
            ])
            .bearer_auth(&key)
            .send()
            .await
            .expect("breakdown request")
            .json()
            .await
            .expect("json");
        let after = totals().await;
        let counts = |v: &serde_json::Value| {
            (
                v["results"]["visits"]["value"].as_f64(),
                v["results"]["pageviews"]["value"].as_f64(),
            )
        };
        if counts(&before) != counts(&after) {
            continue;
        }
        assert_eq!(
            shown.as_f64(),
            after["results"]["dark_share"]["value"].as_f64(),
            "headline vs API: {after}"
        );
        assert_eq!(
            row[1].as_f64(),
            api["results"][0]["dark_share"].as_f64(),
            "{page}: {api}"
        );
        settled = true;
        break;
    }
    assert!(
        settled,
        "live demo visits arrived during each of 8 readings"
    );
    s.screenshot("demo-overview").await;
    s.goto(&format!("{site}/shares")).await.expect("goto");
    s.wait_js(
        "document.querySelector('figure.cascade')",
        Duration::from_secs(20),
        "the demo's Sharing tab",
    )
    .await;
    s.screenshot("demo-sharing").await;
    s.set_window_size(390, 844).await.expect("phone size");
    s.goto(&site).await.expect("goto");
    s.wait_js(
        "document.getElementById('headline')",
        Duration::from_secs(20),
        "the demo overview on a phone",
    )
    .await;
    s.screenshot("demo-phone").await;
    s.close().await;
    let _ = child.kill();
    let _ = child.wait();

    assert_eq!(conversions["currency"], "EUR", "{conversions}");
    let goals: Vec<(&str, &str)> = conversions["goals"]
        .as_array()
        .expect("goals")
        .iter()
        .map(|g| {
            (
                g["kind"].as_str().unwrap_or(""),
                g["value"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        goals,
        [
            ("event", "purchase"),
            ("event", "signup"),
            ("page", "/checkout")
        ],
        "{conversions}"
    );
    assert_eq!(conversions["goal"]["value"], "purchase", "{conversions}");
    let purchase = &conversions["goals"][0];
    assert!(
        purchase["converting_visits"].as_u64().unwrap_or(0) > 0,
        "{conversions}"
    );
    let revenue = &purchase["revenue"];
    assert!(revenue["total"].as_f64().unwrap_or(0.0) > 0.0, "{revenue}");
    // Dollar purchases are converted at the demo's rate, none left apart.
    assert_eq!(revenue["unconverted"], serde_json::json!([]), "{revenue}");
    let uplift = &conversions["uplift"];
    assert!(uplift.is_object(), "{conversions}");
    assert!(
        uplift["private"]["visits"].as_u64().unwrap_or(0) > 0
            && uplift["public"]["visits"].as_u64().unwrap_or(0) > 0,
        "{uplift}"
    );
    assert!(uplift["difference_interval"].is_array(), "{uplift}");
    assert!(
        surveys["respondents"].as_u64().unwrap_or(0) > 0,
        "{surveys}"
    );
    let dark = &surveys["dark_social"];
    let estimated = dark["estimated_percent"].as_f64().unwrap_or(-1.0);
    assert!((0.0..=100.0).contains(&estimated), "{surveys}");
    assert!(dark["respondents"].as_u64().unwrap_or(0) > 0, "{surveys}");
    // Respondents from visits without a referrer name private apps: the survey sees
    // more dark social than tracking alone.
    assert!(
        estimated >= dark["measured_percent"].as_f64().unwrap_or(100.0),
        "{surveys}"
    );

    let value = |m: &str| shares["results"][m]["value"].as_f64().unwrap_or(0.0);
    assert!(value("shares") > 0.0, "{shares}");
    assert!(value("share_visits") > 0.0, "{shares}");
    let largest = &cascades["results"][0];
    assert!(largest["size"].as_u64().unwrap_or(0) >= 2, "{cascades}");
    let groups: Vec<(&str, i64)> = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["channel_group"].as_str().unwrap_or(""),
                r["visits"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let total: i64 = groups.iter().map(|g| g.1).sum();
    assert!(total > 1000, "20 days of demo traffic: {groups:?}");
    for g in [
        "private-message",
        "email",
        "estimated-dark",
        "search",
        "public-social",
        "direct",
    ] {
        assert!(
            groups.iter().any(|(n, v)| *n == g && *v > 0),
            "{g} present in {groups:?}"
        );
    }
}
