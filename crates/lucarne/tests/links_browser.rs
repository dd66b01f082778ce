//! Tracked short links end to end in real headless Chromium: a link made with the CLI
//! (`lucarne link create … --channel whatsapp`) is followed by the browser to a page with
//! the tracker; the landing address carries the click's token (`#lc=…`), which the
//! tracker replaces by the visit's own; the stats API attributes the visit to the link
//! (channel `whatsapp`, evidence `short-link`, generation 1, `visit:link` = the link) and
//! the link's report counts the click. Then the dashboard's Links view in the same
//! browser: log in, see the link and its report (the same numbers), create a link
//! through the form. Needs /usr/bin/chromium and /usr/bin/chromedriver
//! (scripts/install-test-deps.sh).

mod support;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use serde_json::Value;
use support::{
    add_site, add_user, cli, create_key, serve_pages, Browser, Lucarne, StatsApi, API_WAIT,
};

const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);
const EMAIL: &str = "owner@example.test";
const PASSWORD: &str = "correct horse battery staple";

/// A canonical token: 11 base64url characters, the first carrying 4 bits (A..P).
fn is_token(s: &str) -> bool {
    s.len() == 11
        && s.starts_with(|c: char| ('A'..='P').contains(&c))
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s != "AAAAAAAAAAA"
}

/// The landing page: it notes the address it was opened with before the tracker runs.
/// (`data-allow-localhost`: the tracker stays quiet under webdriver otherwise.)
fn landing_page(lucarne: &Lucarne) -> String {
    let url = lucarne.url();
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Spring sale</title>
<script>window.firstHash = location.hash; window.firstSearch = location.search;</script>
<script defer data-domain="example.test" data-allow-localhost src="{url}/js/script.js"></script>
</head><body><h1>Spring sale</h1></body></html>"#
    )
}

impl StatsApi<'_> {
    /// `(value, visits)` of a `day` breakdown of `property` among the link's visits.
    async fn link_breakdown(&self, property: &str, link: i64) -> Vec<(String, u64)> {
        let mut rows = self
            .table(property, "visits", &format!("visit:link=={link}"))
            .await;
        // The click's own event carries the link too, but is not a visit.
        rows.retain(|(_, visits)| *visits > 0);
        rows
    }

    async fn link_stats(&self, link: i64) -> Value {
        self.get_ok(&format!("/api/v1/links/{link}/stats"), &[("period", "day")])
            .await
    }

    /// Polls the link's report until `pred` holds.
    async fn wait_stats(&self, link: i64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.wait(
            &format!("/api/v1/links/{link}/stats"),
            &[("period", "day")],
            &format!("link {link}: {what}"),
            pred,
        )
        .await
    }
}

#[tokio::test]
async fn a_short_link_followed_in_a_real_browser() {
    tokio::time::timeout(TEST_TIMEOUT, run())
        .await
        .expect("the short-link browser test timed out");
}

async fn run() {
    let dir = tempfile::tempdir().expect("data dir");
    add_site(dir.path(), "example.test");
    let key = create_key(dir.path());
    add_user(dir.path(), EMAIL, PASSWORD, &["example.test"]);
    let lucarne = Lucarne::start(dir.path());
    let pages = serve_pages(vec![("/landing", landing_page(&lucarne))]);
    // `*.test` names resolve to 127.0.0.1 in the browser, and are not private-network
    // names for Lucarne: no --allow-private-link-targets needed.
    let target = format!("http://example.test:{}/landing?from=poster", pages.port());

    // The CLI, while the server runs: the short URL on the last line.
    let out = cli(
        dir.path(),
        &[
            "link",
            "create",
            &target,
            "--channel",
            "whatsapp",
            "--campaign",
            "c",
            "--site",
            "example.test",
            "--public-url",
            &lucarne.url(),
        ],
    );
    let short = out
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_else(|| panic!("no short URL printed:\n{out}"))
        .to_string();
    assert!(
        short.starts_with(&format!("{}/l/", lucarne.url())),
        "short URL {short}"
    );
    let id: i64 = out
        .split_whitespace()
        .skip_while(|w| *w != "link")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no link id in:\n{out}"));
    let api = StatsApi::new(&lucarne, key);

    // The server learns of links made elsewhere (the CLI) when a slug misses its cache,
    // at most once a second, or every 30 s: wait until it answers the link, with HEAD
    // requests (link checkers: never counted).
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let deadline = Instant::now() + API_WAIT;
    loop {
        let r = no_redirect
            .head(&short)
            .send()
            .await
            .expect("HEAD short link");
        if r.status().as_u16() == 302 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{short} still answers {} after {API_WAIT:?}",
            r.status()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Chromium follows the short link.
    let browser = Browser::start();
    let s = browser.session().await;
    s.goto(&short).await.expect("open the short link");
    s.wait_js(
        "window.lucarne && window.lucarne.l && window.lucarne.t",
        PAGE_TIMEOUT,
        "the tracker's pageview on the landing page",
    )
    .await;
    let first = s.js("return window.firstHash").await;
    let first = first.as_str().expect("firstHash").to_string();
    let click_token = first
        .strip_prefix("#lc=")
        .unwrap_or_else(|| panic!("the landing address had no #lc= token: {first:?}"))
        .to_string();
    assert!(is_token(&click_token), "click token {click_token:?}");
    let search = s.js("return window.firstSearch").await;
    assert_eq!(
        search.as_str(),
        Some("?from=poster&utm_source=whatsapp&utm_medium=messaging&utm_campaign=c"),
        "the link's UTM, the target's own query kept"
    );
    s.wait_js(
        "location.hash == '#lc=' + window.lucarne.t",
        PAGE_TIMEOUT,
        "the visit's own token replacing the click's",
    )
    .await;
    let visit_token = s.js("return window.lucarne.t").await;
    let visit_token = visit_token.as_str().expect("lucarne.t").to_string();
    assert!(is_token(&visit_token));
    assert_ne!(visit_token, click_token, "the tracker replaced the token");
    let landed = s.current_url().await.expect("address").to_string();
    assert!(
        landed.starts_with(&format!("http://example.test:{}/landing?", pages.port())),
        "{landed}"
    );

    // The link's report counts the click and the landing visit.
    let report = api
        .wait_stats(id, "1 click and 1 landing visit", |v| {
            v["clicks"] == 1 && v["landing_visits"] == 1
        })
        .await;
    assert_eq!(report["unique_clickers"], 1, "{report}");
    assert_eq!(report["scans"], 0, "{report}");
    assert_eq!(report["by_channel"][0]["value"], "whatsapp", "{report}");
    assert_eq!(report["link"]["clicks"], 1, "{report}");

    // The landing visit, as the stats API reports it.
    assert_eq!(
        api.link_breakdown("visit:channel", id).await,
        vec![("whatsapp".to_string(), 1)]
    );
    assert_eq!(
        api.link_breakdown("visit:evidence", id).await,
        vec![("short-link".to_string(), 1)]
    );
    assert_eq!(
        api.link_breakdown("visit:generation", id).await,
        vec![("1".to_string(), 1)]
    );
    assert_eq!(
        api.link_breakdown("visit:link", id).await,
        vec![(id.to_string(), 1)]
    );
    s.close().await;

    dashboard(&browser, &lucarne, &api, id).await;
}

/// The Links view in the browser: log in, the link in the list, its report with the
/// API's numbers, a link created through the form.
async fn dashboard(browser: &Browser, lucarne: &Lucarne, api: &StatsApi<'_>, id: i64) {
    let s = browser.session().await;
    let base = lucarne.url();
    s.goto(&format!("{base}/sites/example.test/links"))
        .await
        .expect("goto");
    s.log_in(EMAIL, PASSWORD, PAGE_TIMEOUT).await;
    s.wait_js(
        &format!("document.getElementById('link-{id}')"),
        PAGE_TIMEOUT,
        "the link in the Links list after login",
    )
    .await;
    // The server answers on 127.0.0.1: the page warns that its short links and QR codes
    // only open from this machine.
    let warning = s
        .js("const w = document.getElementById('private-base'); return w ? w.innerText : ''")
        .await;
    assert!(
        warning
            .as_str()
            .unwrap_or_default()
            .contains("--public-url"),
        "{warning}"
    );
    // app.js shows the copy buttons (hidden without script).
    assert_eq!(
        s.js(&format!(
            "return document.querySelector('#link-{id} button.copy-btn').hidden"
        ))
        .await,
        Value::Bool(false),
        "the copy button is shown"
    );
    assert_eq!(
        s.js(&format!(
            "return document.querySelector('#link-{id}').dataset.status"
        ))
        .await,
        "active"
    );

    // The report: the numbers of the API.
    s.find(Locator::Css(&format!("#link-{id} td.actions a")))
        .await
        .expect("report link")
        .click()
        .await
        .expect("click");
    s.wait_js(
        "document.getElementById('stat-clicks')",
        PAGE_TIMEOUT,
        "the link's report",
    )
    .await;
    let report = api.link_stats(id).await;
    for key in ["clicks", "unique_clickers", "scans", "landing_visits"] {
        let shown = s
            .js(&format!(
                "return Number(document.getElementById('stat-{key}').dataset.value)"
            ))
            .await;
        assert_eq!(shown, report[key], "{key}: {report}");
    }
    // The QR code image loads (same origin, allowed by the CSP).
    s.wait_js(
        "document.querySelector('img.qr').complete && document.querySelector('img.qr').naturalWidth > 0",
        PAGE_TIMEOUT,
        "the QR code image",
    )
    .await;
    // A tall desktop window, so the screenshot holds the whole report.
    s.set_window_size(1280, 2600).await.expect("desktop size");
    s.screenshot("links-report").await;

    // Create a link through the form.
    s.goto(&format!("{base}/sites/example.test/links"))
        .await
        .expect("goto");
    s.wait_js(
        "document.querySelector('form.link-form input[name=url]')",
        PAGE_TIMEOUT,
        "the create form",
    )
    .await;
    s.find(Locator::Css("#create input[name=url]"))
        .await
        .expect("url field")
        .send_keys("https://example.test/newsletter")
        .await
        .expect("type");
    s.find(Locator::Css("#create input[name=slug]"))
        .await
        .expect("slug field")
        .send_keys("news")
        .await
        .expect("type");
    s.js("document.querySelector('#create select[name=channel]').value = 'email'; return 1")
        .await;
    s.find(Locator::Css("#create button[type=submit]"))
        .await
        .expect("create button")
        .click()
        .await
        .expect("click");
    s.wait_js(
        "document.querySelector('tr.new[data-slug=news]')",
        PAGE_TIMEOUT,
        "the new link in the list",
    )
    .await;
    let row = s
        .js("return document.querySelector('tr.new[data-slug=news]').innerText")
        .await;
    let row = row.as_str().unwrap_or_default();
    assert!(row.contains("/l/news"), "{row}");
    assert!(row.contains("Email"), "{row}");
    s.screenshot("links-list").await;
    // On a phone, in French.
    s.set_window_size(390, 844).await.expect("phone size");
    s.goto(&format!("{base}/sites/example.test/links/{id}?lang=fr"))
        .await
        .expect("goto");
    s.wait_js(
        "document.getElementById('stat-clicks')",
        PAGE_TIMEOUT,
        "the report in French",
    )
    .await;
    let heading = s
        .js("return document.querySelector('#stat-clicks h2').innerText")
        .await;
    assert_eq!(heading, "Clics");
    // The clicks chart's text keeps its size on a phone.
    assert_eq!(
        s.js(support::SMALL_CHART_TEXT).await,
        Value::Array(vec![]),
        "clicks chart text at 390 px"
    );
    s.screenshot("links-report-phone-fr").await;
    s.close().await;
}
