//! The dashboard in a real headless Chromium: log in through the form, see the overview
//! numbers match the stats API, add a filter by clicking a channel row and remove its
//! chip, switch the date range (and come back with the back button), fetch a CSV export,
//! keep screenshots (desktop and phone), and check that XSS payloads sent through ingest
//! show as text and never run. On a phone (390 px), the Sharing and Conversions tabs: no
//! element wider than the screen outside a labelled scroll area, no chart text under
//! 11 px, no word broken across lines; the Sharing tab draws the 3 largest cascades, a
//! "more" link draws the others, and its legend looks exactly like the trees' edges in at
//! most 8 colours. Needs /usr/bin/chromium and /usr/bin/chromedriver.

mod support;

use std::time::Duration;

use fantoccini::Locator;
use lucarne_core::rules::ShareButtons;
use lucarne_core::token::Token;
use serde_json::{json, Value};
use support::{add_site, add_user, cli, create_key, Browser, Lucarne, Session, SMALL_CHART_TEXT};

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
/// Words (runs of letters and digits) of the page split across two lines: none may be.
const BROKEN_WORDS: &str = "const bad = []; \
    const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT); \
    while (w.nextNode()) { \
      const n = w.currentNode, el = n.parentElement; \
      if (!el || el.closest('pre, svg, .page, .visually-hidden, select') || !el.getClientRects().length) continue; \
      for (const m of n.data.matchAll(/[\\p{L}\\p{N}]{2,24}/gu)) { \
        const r = document.createRange(); r.setStart(n, m.index); r.setEnd(n, m.index + m[0].length); \
        const tops = new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))); \
        if (tops.size > 1) bad.push(m[0]); \
      } \
    } \
    return bad.slice(0, 10);";
const PASSWORD: &str = "correct horse battery staple";

/// A pageview sent like a browser would (each `ua_version` is another visitor).
async fn pageview(
    http: &reqwest::Client,
    lucarne: &Lucarne,
    url: &str,
    referrer: &str,
    ua_version: u32,
) {
    let body = serde_json::json!({"n": "pageview", "u": url, "d": "example.test", "r": referrer});
    send(http, lucarne, body, ua_version).await;
}

/// An event of visitor `ua_version` carrying the visit or share token `token`.
async fn tokened(
    http: &reqwest::Client,
    lucarne: &Lucarne,
    (name, url, props): (&str, &str, Value),
    token: u64,
    ua_version: u32,
) {
    let body = json!({"n": name, "u": url, "d": "example.test", "p": props, "t": token_of(token)});
    send(http, lucarne, body, ua_version).await;
}

async fn send(http: &reqwest::Client, lucarne: &Lucarne, body: Value, ua_version: u32) {
    let ua = format!(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.{ua_version}.0 Safari/537.36"
    );
    let url = body["u"].as_str().unwrap_or_default().to_string();
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

/// A browser sent to `path` while logged out: it logs in through the form, which leads
/// back, until `ready` (a JavaScript expression) holds. Keep the browser while the
/// session is used.
async fn logged_in(lucarne: &Lucarne, path: &str, ready: &str) -> (Browser, Session) {
    let browser = Browser::start();
    let s = browser.session().await;
    s.goto(&format!("{}{path}", lucarne.url()))
        .await
        .expect("goto");
    s.log_in(EMAIL, PASSWORD, PAGE_TIMEOUT).await;
    s.wait_js(ready, PAGE_TIMEOUT, &format!("{path} after login"))
        .await;
    (browser, s)
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

    // Not logged in: the overview leads to the login form, which leads back.
    let (_browser, s) = logged_in(
        &lucarne,
        "/sites/example.test",
        "document.getElementById('stat-visitors')",
    )
    .await;
    let base = lucarne.url();

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
    assert_eq!(
        s.js(SMALL_CHART_TEXT).await,
        Value::Array(vec![]),
        "overview chart text at 1440 px"
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
    // The chart's labels keep their size on a phone (the plot stretches, the text not).
    assert_eq!(
        s.js(SMALL_CHART_TEXT).await,
        Value::Array(vec![]),
        "overview chart text at 390 px"
    );
    s.screenshot("dashboard-phone-fr").await;
    assert_eq!(s.js("return typeof window.__xss").await, "undefined");
    s.close().await;
}

#[tokio::test]
async fn sharing_and_conversions_on_a_phone() {
    tokio::time::timeout(TEST_TIMEOUT, phone_tabs())
        .await
        .expect("the phone tabs test timed out");
}

/// Asserts the phone rules on the current page: nothing wider than the screen outside a
/// labelled scroll area, no chart text under 11 px, no word broken across lines.
async fn phone_rules(s: &Session, what: &str) {
    assert_eq!(
        s.js(WIDER_THAN_VIEWPORT).await,
        Value::Array(vec![]),
        "{what}: wider than 390 px"
    );
    assert_eq!(
        s.js(SMALL_CHART_TEXT).await,
        Value::Array(vec![]),
        "{what}: chart text under 11 px"
    );
    assert_eq!(
        s.js(BROKEN_WORDS).await,
        Value::Array(vec![]),
        "{what}: words broken across lines"
    );
}

async fn phone_tabs() {
    let dir = tempfile::tempdir().expect("data dir");
    add_site(dir.path(), "example.test");
    add_user(dir.path(), EMAIL, PASSWORD, &["example.test"]);
    // Goals with long names, as marketers write them.
    cli(
        dir.path(),
        &[
            "goal",
            "add",
            "example.test",
            "--page",
            "/newsletter/thanks",
            "--name",
            "Newsletter subscription confirmed",
        ],
    );
    cli(
        dir.path(),
        &[
            "goal",
            "add",
            "example.test",
            "--event",
            "purchase",
            "--name",
            "Purchase of the annual membership",
        ],
    );
    let lucarne = Lucarne::start(dir.path());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");

    // Five cascades of 5, 4, 3, 2 and 1 share-visits: the root of cascade k shares
    // /articles/k once per visitor it brings, each time through the next button.
    // The share buttons in turn (three of them public).
    let channels = ShareButtons::builtin().all();
    let mut next_channel = 0;
    for k in 1..=5u64 {
        let article = format!("https://example.test/articles/{k}");
        let root = 1000 * k;
        tokened(
            &http,
            &lucarne,
            ("pageview", &article, json!({})),
            root,
            100 + k as u32,
        )
        .await;
        for j in 1..=(6 - k) {
            let channel = channels[next_channel % channels.len()].id.as_str();
            next_channel += 1;
            let share = root + 10 * j;
            let from_root = format!("{article}#lc={}", token_of(root));
            let props = json!({ "channel": channel });
            tokened(
                &http,
                &lucarne,
                ("share", &from_root, props),
                share,
                100 + k as u32,
            )
            .await;
            let shared = format!("{article}#lc={}", token_of(share));
            let visitor = 200 + 10 * k as u32 + j as u32;
            tokened(
                &http,
                &lucarne,
                ("pageview", &shared, json!({})),
                share + 1,
                visitor,
            )
            .await;
            if j == 1 {
                let thanks = "https://example.test/newsletter/thanks";
                tokened(
                    &http,
                    &lucarne,
                    ("pageview", thanks, json!({})),
                    share + 1,
                    visitor,
                )
                .await;
            }
        }
    }

    let (_browser, s) = logged_in(
        &lucarne,
        "/sites/example.test/shares",
        "document.querySelector('#share-cascades figure.cascade')",
    )
    .await;
    let base = lucarne.url();

    // A desktop first: the same rules hold, and a screenshot.
    s.set_window_size(1440, 1600).await.expect("desktop size");
    assert_eq!(
        s.js(WIDER_THAN_VIEWPORT).await,
        Value::Array(vec![]),
        "Sharing at 1440 px"
    );
    s.screenshot("sharing-desktop").await;

    s.set_window_size(390, 844).await.expect("phone size");
    phone_rules(&s, "Sharing").await;
    // The 3 largest cascades, largest first; the 2 others behind a link.
    let sizes = s
        .js("return [...document.querySelectorAll('figure.cascade')].map(f => f.querySelectorAll('circle.node').length)")
        .await;
    assert_eq!(sizes, json!([6, 5, 4]), "the 3 largest cascades");
    let more = s
        .js("const a = document.getElementById('more-cascades'); return a && a.closest('p').innerText")
        .await;
    assert_eq!(
        more, "2 smaller cascades are not drawn. Show 2 more",
        "the more link"
    );
    // The legend draws each sample as its tree edges are drawn: every (colour, dashes)
    // of an edge is a sample's, every sample an edge's, and at most 8 colours.
    let styles = "const style = sel => [...new Set([...document.querySelectorAll(sel)].map(e => { \
          const c = getComputedStyle(e); return c.stroke + ' / ' + c.strokeDasharray; }))].sort(); \
        return [style('.tree .edge'), style('.share-legend .edge')];";
    let styles = s.js(styles).await;
    assert_eq!(styles[0], styles[1], "tree edges and legend samples");
    let colours = styles[1]
        .as_array()
        .map(|a| {
            let mut c: Vec<&str> = a
                .iter()
                .filter_map(|v| v.as_str()?.split(" / ").next())
                .collect();
            c.dedup();
            c.len()
        })
        .unwrap_or_default();
    assert!((2..=8).contains(&colours), "{colours} colours: {styles}");
    // Edge labels sit on top of the edges and visits.
    assert_eq!(
        s.js("const g = [...document.querySelector('svg.tree').children].map(e => e.getAttribute('class')); return g.join(',')")
            .await,
        "edges,nodes,labels"
    );
    let height = s
        .js("return document.documentElement.scrollHeight")
        .await
        .as_u64()
        .unwrap_or(u64::MAX);
    assert!(
        height < 6000,
        "the Sharing tab is {height} px tall on a phone"
    );
    s.js("document.getElementById('share-cascades').scrollIntoView()")
        .await;
    s.screenshot("sharing-phone").await;

    // "More" draws the other two, keeping the period, at the first new tree.
    s.find(Locator::Id("more-cascades"))
        .await
        .expect("the more link")
        .click()
        .await
        .expect("click");
    s.wait_js(
        "location.search.includes('cascades=5') && document.querySelectorAll('figure.cascade').length === 5",
        PAGE_TIMEOUT,
        "all five cascades",
    )
    .await;
    assert_eq!(s.js("return location.hash").await, "#cascade-4");
    assert_eq!(
        s.js("return !!document.getElementById('more-cascades') || !document.getElementById('fewer-cascades')")
            .await,
        Value::Bool(false),
        "no more to show, a way back"
    );
    phone_rules(&s, "Sharing, all cascades").await;

    // Conversions: two goals with long names, tables in labelled scroll areas.
    s.goto(&format!("{base}/sites/example.test/conversions"))
        .await
        .expect("goto conversions");
    s.wait_js(
        "document.querySelector('#goals .goals-table')",
        PAGE_TIMEOUT,
        "the Conversions tab",
    )
    .await;
    assert_eq!(
        s.js("return document.querySelector('#goals tbody th a').textContent")
            .await,
        "Newsletter subscription confirmed"
    );
    assert_eq!(
        s.js("return document.querySelector('#goals .goals-table').closest('[role=region]').getAttribute('aria-label')")
            .await,
        "Goals & conversions"
    );
    phone_rules(&s, "Conversions").await;
    s.js("document.getElementById('goals').scrollIntoView()")
        .await;
    s.screenshot("conversions-phone").await;
    s.close().await;
}

fn token_of(bits: u64) -> String {
    Token::from_bits(bits).expect("a token").to_string()
}
