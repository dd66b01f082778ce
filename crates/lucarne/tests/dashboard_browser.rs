//! The dashboard in a real headless Chromium: log in through the form, see the overview
//! numbers match the stats API, add a filter by clicking a channel row and remove its
//! chip, switch the date range (and come back with the back button), fetch a CSV export,
//! keep screenshots (desktop and phone), and check that XSS payloads sent through ingest
//! show as text and never run. Needs /usr/bin/chromium and /usr/bin/chromedriver.

mod support;

use std::time::Duration;

use fantoccini::Locator;
use serde_json::Value;
use support::{add_site, add_user, create_key, Browser, Lucarne};

const PAGE_TIMEOUT: Duration = Duration::from_secs(10);
const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const EMAIL: &str = "owner@example.test";
/// The elements that reach past the viewport's right edge, outside a labelled scroll
/// area (`role="region"` with `aria-label`): none may.
const WIDER_THAN_VIEWPORT: &str = "const w = window.innerWidth; \
    return [...document.querySelectorAll('body *')].filter(e => { \
      const r = e.getBoundingClientRect(); \
      return r.width > 0 && r.right > w + 1 && !e.closest('[role=region][aria-label]'); \
    }).slice(0, 10).map(e => e.tagName + '.' + e.className + '#' + e.id);";
const PASSWORD: &str = "correct horse battery staple";

/// A pageview sent like a browser would (each `ua_version` is another visitor).
async fn pageview(
    http: &reqwest::Client,
    lucarne: &Lucarne,
    url: &str,
    referrer: &str,
    ua_version: u32,
) {
    let ua = format!(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.{ua_version}.0 Safari/537.36"
    );
    let body = serde_json::json!({"n": "pageview", "u": url, "d": "example.test", "r": referrer});
    let resp = http
        .post(format!("{}/api/event", lucarne.url()))
        .header("user-agent", ua)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .expect("POST /api/event");
    assert_eq!(
        resp.status().as_u16(),
        202,
        "{url}: {}",
        resp.text().await.unwrap_or_default()
    );
}

async fn api_visitors(http: &reqwest::Client, lucarne: &Lucarne, key: &str, query: &str) -> u64 {
    let url = format!(
        "{}/api/v1/stats/aggregate?site_id=example.test&metrics=visitors&{query}",
        lucarne.url()
    );
    let v: Value = http
        .get(&url)
        .bearer_auth(key)
        .send()
        .await
        .expect("GET aggregate")
        .json()
        .await
        .expect("json");
    v["results"]["visitors"]["value"]
        .as_u64()
        .unwrap_or_else(|| panic!("{url}: {v}"))
}

#[tokio::test]
async fn dashboard_in_a_real_browser() {
    tokio::time::timeout(TEST_TIMEOUT, run())
        .await
        .expect("the dashboard browser test timed out");
}

async fn run() {
    let dir = tempfile::tempdir().expect("data dir");
    add_site(dir.path(), "example.test");
    let key = create_key(dir.path());
    add_user(dir.path(), EMAIL, PASSWORD, &["example.test"]);
    let lucarne = Lucarne::start(dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");

    // Traffic: 2 WhatsApp visitors, 3 from Google, 1 estimated dark, and XSS payloads in
    // the path, the referrer and UTM tags.
    pageview(
        &http,
        &lucarne,
        "https://example.test/blog/post",
        "android-app://com.whatsapp",
        1,
    )
    .await;
    pageview(
        &http,
        &lucarne,
        "https://example.test/blog/other",
        "android-app://com.whatsapp",
        2,
    )
    .await;
    for v in 3..=5 {
        pageview(
            &http,
            &lucarne,
            "https://example.test/",
            "https://www.google.com/",
            v,
        )
        .await;
    }
    pageview(
        &http,
        &lucarne,
        "https://example.test/deep/article/2026",
        "",
        6,
    )
    .await;
    pageview(
        &http,
        &lucarne,
        "https://example.test/<script>window.__xss=1</script>",
        "https://evil.test/<img src=x onerror=window.__xss=2>",
        7,
    )
    .await;
    pageview(
        &http,
        &lucarne,
        "https://example.test/?utm_source=%3Cscript%3Ewindow.__xss%3D3%3C%2Fscript%3E&utm_medium=%3Cimg%20src%3Dx%20onerror%3Dwindow.__xss%3D4%3E&utm_campaign=%3Csvg%20onload%3Dwindow.__xss%3D5%3E",
        "",
        8,
    )
    .await;

    let browser = Browser::start();
    let s = browser.session().await;
    let base = lucarne.url();

    // Not logged in: the overview leads to the login form, which leads back.
    s.goto(&format!("{base}/sites/example.test"))
        .await
        .expect("goto");
    s.log_in(EMAIL, PASSWORD, PAGE_TIMEOUT).await;
    s.wait_js(
        "document.getElementById('stat-visitors')",
        PAGE_TIMEOUT,
        "the overview after login",
    )
    .await;

    // The top number is the stats API's for the same range.
    let shown = s
        .js("return Number(document.getElementById('stat-visitors').dataset.value)")
        .await;
    let api = api_visitors(&http, &lucarne, &key, "period=30d").await;
    assert_eq!(shown, Value::from(api), "overview visitors vs API");
    assert_eq!(api, 8);

    // No payload ran; each shows as text.
    assert_eq!(s.js("return typeof window.__xss").await, "undefined");
    let text = s.js("return document.body.innerText").await;
    let text = text.as_str().unwrap_or_default();
    for payload in [
        "<script>window.__xss=3</script>",
        "<img src=x onerror=window.__xss=4>",
        "<svg onload=window.__xss=5>",
    ] {
        assert!(text.contains(payload), "`{payload}` not shown literally");
    }
    assert!(text.contains("window.__xss=1"), "the path payload is shown");
    assert_eq!(
        s.js("return document.querySelectorAll('main img, main script, .panel svg').length")
            .await,
        0,
        "no element injected"
    );
    // A tall desktop window, so the screenshot holds the whole overview.
    s.set_window_size(1440, 2400).await.expect("desktop size");
    assert_eq!(
        s.js(WIDER_THAN_VIEWPORT).await,
        Value::Array(vec![]),
        "at 1440 px"
    );
    // 8 visits: the headline says it has too few for a share, and how many it needs.
    let headline = s
        .js("return document.getElementById('headline').innerText")
        .await;
    assert!(
        headline
            .as_str()
            .unwrap_or_default()
            .contains("Not enough visits yet"),
        "{headline}"
    );
    s.screenshot("dashboard-overview").await;

    // Click the WhatsApp row: a chip appears, the numbers follow the filter.
    s.find(Locator::Css("#panel-channels a.row[data-value='whatsapp']"))
        .await
        .expect("whatsapp row")
        .click()
        .await
        .expect("click");
    s.wait_js(
        "document.querySelector('.chip[data-property=\"visit:channel\"]')",
        PAGE_TIMEOUT,
        "the channel chip",
    )
    .await;
    let filtered = s
        .js("return Number(document.getElementById('stat-visitors').dataset.value)")
        .await;
    let api_filtered = api_visitors(
        &http,
        &lucarne,
        &key,
        "period=30d&filters=visit:channel==whatsapp",
    )
    .await;
    assert_eq!(filtered, Value::from(api_filtered));
    assert_eq!(api_filtered, 2);
    s.screenshot("dashboard-filtered").await;

    // Remove the chip.
    s.find(Locator::Css(".chip .remove"))
        .await
        .expect("remove")
        .click()
        .await
        .expect("click");
    s.wait_js(
        "!document.querySelector('.chip') && document.getElementById('stat-visitors')",
        PAGE_TIMEOUT,
        "no chips",
    )
    .await;
    assert_eq!(
        s.js("return Number(document.getElementById('stat-visitors').dataset.value)")
            .await,
        Value::from(8)
    );

    // Switch to 7 days; the back button returns to 30 days.
    s.find(Locator::Css(".periods a[data-period='7d']"))
        .await
        .expect("7d")
        .click()
        .await
        .expect("click");
    s.wait_js("location.search.includes('period=7d') && document.querySelector(\".periods a[data-period='7d'][aria-current]\")", PAGE_TIMEOUT, "the 7-day range")
        .await;
    let week = s
        .js("return Number(document.getElementById('stat-visitors').dataset.value)")
        .await;
    assert_eq!(
        week,
        Value::from(api_visitors(&http, &lucarne, &key, "period=7d").await)
    );
    s.back().await.expect("back");
    s.wait_js("!location.search.includes('period=7d') && document.querySelector(\".periods a[data-period='30d'][aria-current]\")", PAGE_TIMEOUT, "back to 30 days")
        .await;

    // The CSV export link of the channels panel (same session cookie).
    let csv = s
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             const a = document.querySelector('#panel-channels a.export');
             fetch(a.href).then(r => r.text().then(t => done(r.status + '\\n' + r.headers.get('content-type') + '\\n' + t)))
               .catch(e => done('error ' + e));",
            Vec::new(),
        )
        .await
        .expect("fetch CSV");
    let csv = csv.as_str().unwrap_or_default();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("200"), "{csv}");
    assert_eq!(lines.next(), Some("text/csv; charset=utf-8"));
    assert!(
        lines
            .next()
            .unwrap_or_default()
            .starts_with("channel,visitors,visits"),
        "{csv}"
    );
    assert!(csv.contains("whatsapp,2,2,2"), "{csv}");

    // French, and a phone-sized window: panels stack.
    s.goto(&format!("{base}/sites/example.test?lang=fr"))
        .await
        .expect("goto fr");
    s.wait_js(
        "document.documentElement.lang === 'fr'",
        PAGE_TIMEOUT,
        "the French page",
    )
    .await;
    assert!(s
        .js("return document.body.innerText")
        .await
        .as_str()
        .unwrap_or_default()
        .contains("Visiteurs"));
    s.set_window_size(390, 844).await.expect("phone size");
    let stacked = s
        .js("const p = [...document.querySelectorAll('.panel')]; return p.length > 1 && p[0].getBoundingClientRect().left === p[1].getBoundingClientRect().left")
        .await;
    assert_eq!(stacked, Value::Bool(true), "panels stack on a phone");
    assert_eq!(
        s.js("return document.documentElement.scrollWidth <= window.innerWidth + 1")
            .await,
        Value::Bool(true),
        "no horizontal scrolling on a phone"
    );
    assert_eq!(
        s.js(WIDER_THAN_VIEWPORT).await,
        Value::Array(vec![]),
        "at 390 px"
    );
    s.screenshot("dashboard-phone-fr").await;
    assert_eq!(s.js("return typeof window.__xss").await, "undefined");
    s.close().await;
}
