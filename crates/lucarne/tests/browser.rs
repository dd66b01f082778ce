//! End to end in a real headless Chromium: the tracker served by `lucarne serve` sends
//! pageviews (load and SPA navigation) and a custom event with revenue, and the stats API
//! reports them. Needs /usr/bin/chromium and /usr/bin/chromedriver
//! (scripts/install-test-deps.sh).

mod support;

use std::time::Duration;

use fantoccini::Locator;
use serde_json::Value;
use support::{
    add_site, create_key, read_half_then_move_on, serve_pages, Browser, Lucarne, StatsApi,
};

/// Upper bound for one whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// An article page of example.test embedding the tracker from the Lucarne server
/// (`data-api` left out: it defaults to the script's origin).
fn article_page(lucarne: &Lucarne, script_attrs: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Article</title>
<script>window.lucarne = window.lucarne || function () {{ (window.lucarne.q = window.lucarne.q || []).push(arguments) }}</script>
<script defer data-domain="example.test" {script_attrs} src="{url}/js/script.js"></script>
</head><body>
<h1 id="title">First article</h1>
<a id="spa" href="/articles/second">Second article</a>
<button id="signup">Sign up</button>
<script>
document.getElementById("spa").addEventListener("click", function (e) {{
  e.preventDefault();
  history.pushState({{}}, "", "/articles/second");
  document.getElementById("title").textContent = "Second article";
}});
document.getElementById("signup").addEventListener("click", function () {{
  lucarne("Signup", {{ props: {{ plan: "pro" }}, revenue: {{ amount: 12.5, currency: "EUR" }} }});
}});
</script>
</body></html>"#,
        url = lucarne.url()
    )
}

/// A page of blog.test linking to the article, so the article's `document.referrer` is
/// blog.test.
fn referrer_page() -> String {
    r#"<!doctype html><html><head><meta charset="utf-8"><title>Blog</title></head><body>
<a id="go" href="http://example.test:{{PORT}}/articles/first">Read this</a>
</body></html>"#
        .to_string()
}

/// The Plausible-style breakdown client of one site.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracker_records_pageviews_spa_navigation_and_revenue_event() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let data = tempfile::tempdir().expect("data dir");
        add_site(data.path(), "example.test");
        let key = create_key(data.path());
        let lucarne = Lucarne::start(data.path());
        let stats = StatsApi::new(&lucarne, key);

        let pages = serve_pages(vec![
            ("/ref", referrer_page()),
            (
                "/articles/*",
                article_page(&lucarne, "data-allow-localhost"),
            ),
        ]);
        let browser = Browser::start();
        let session = browser.session().await;

        // Arrive on the article from a link on blog.test.
        let blog = format!("http://blog.test:{}/ref", pages.port());
        session.goto(&blog).await.expect("open the referrer page");
        session
            .find(Locator::Id("go"))
            .await
            .expect("the link to the article")
            .click()
            .await
            .expect("click the link to the article");
        session
            .wait_js(
                "location.pathname == '/articles/first' && window.lucarne && window.lucarne.l",
                PAGE_TIMEOUT,
                "the article with the tracker loaded",
            )
            .await;
        let referrer = session.js("return document.referrer").await;
        assert!(
            referrer
                .as_str()
                .is_some_and(|r| r.starts_with(&format!("http://blog.test:{}/", pages.port()))),
            "document.referrer is {referrer}"
        );
        stats
            .wait_count("event:page", "pageviews", "/articles/first", 1)
            .await;

        // SPA navigation: pushState to the second article.
        session
            .find(Locator::Id("spa"))
            .await
            .expect("the SPA link")
            .click()
            .await
            .expect("click the SPA link");
        session
            .wait_js(
                "location.pathname == '/articles/second'",
                PAGE_TIMEOUT,
                "the SPA navigation",
            )
            .await;
        stats
            .wait_count("event:page", "pageviews", "/articles/second", 1)
            .await;

        // Not navigations: a replaceState that only rewrites the fragment (as address-bar
        // tagging does) and a pushState to the same URL.
        session
            .js(
                "history.replaceState(null, '', location.pathname + '#t=x1');\
                 history.pushState(null, '', location.pathname + '#t=x1');",
            )
            .await;

        // A custom event with revenue.
        session
            .find(Locator::Id("signup"))
            .await
            .expect("the signup button")
            .click()
            .await
            .expect("click the signup button");
        stats.wait_count("event:name", "events", "Signup", 1).await;
        session.screenshot("browser-e2e-signup").await;

        // The whole picture, once the last event sent is durable (the beacons before it
        // were sent earlier): one pageview per page, no double count.
        for page in ["/articles/first", "/articles/second"] {
            assert_eq!(
                stats.count("event:page", "pageviews", page, "").await,
                1,
                "pageviews of {page}: {}",
                Value::Array(stats.breakdown("event:page", "pageviews", "").await)
            );
        }
        let sources = stats.breakdown("visit:source", "visitors", "").await;
        assert!(
            sources.iter().any(|row| row["source"] == "blog.test"),
            "blog.test is not a source: {}",
            Value::Array(sources)
        );

        session.close().await;
    })
    .await
    .expect("the browser test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracker_sends_nothing_from_an_automated_browser() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let data = tempfile::tempdir().expect("data dir");
        add_site(data.path(), "example.test");
        let key = create_key(data.path());
        let lucarne = Lucarne::start(data.path());
        let stats = StatsApi::new(&lucarne, key);

        let pages = serve_pages(vec![
            // Without data-allow-localhost: navigator.webdriver is true under chromedriver.
            ("/quiet/*", article_page(&lucarne, "")),
            ("/control/*", article_page(&lucarne, "data-allow-localhost")),
        ]);
        let browser = Browser::start();
        let session = browser.session().await;

        let quiet = format!("http://example.test:{}/quiet/page", pages.port());
        session.goto(&quiet).await.expect("open the quiet page");
        session
            .wait_js(
                "window.lucarne && window.lucarne.l && navigator.webdriver === true",
                PAGE_TIMEOUT,
                "the tracker loaded in an automated browser",
            )
            .await;
        // Also a custom event: ignored as well.
        session
            .find(Locator::Id("signup"))
            .await
            .expect("the signup button")
            .click()
            .await
            .expect("click the signup button");
        tokio::time::sleep(Duration::from_secs(2)).await;

        // Control: the same page with data-allow-localhost is counted, so the server
        // works and a zero below means the tracker sent nothing.
        let control = format!("http://example.test:{}/control/page", pages.port());
        session.goto(&control).await.expect("open the control page");
        stats
            .wait_count("event:page", "pageviews", "/control/page", 1)
            .await;

        assert_eq!(
            stats
                .count("event:page", "pageviews", "/quiet/page", "")
                .await,
            0,
            "the tracker counted a pageview from an automated browser"
        );
        assert_eq!(
            stats.count("event:name", "events", "Signup", "").await,
            0,
            "the tracker sent a custom event from an automated browser"
        );

        session.close().await;
    })
    .await
    .expect("the automated-browser test took too long");
}

/// A page that declares Telegram's in-app-browser global before the tracker loads, as
/// Telegram's Android/iOS webviews do.
fn telegram_page(lucarne: &Lucarne) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>In Telegram</title>
<script>window.TelegramWebviewProxy = {{ postEvent: function () {{}} }};</script>
<script defer data-domain="example.test" data-allow-localhost src="{url}/js/script.js"></script>
</head><body><h1>Shared in a Telegram chat</h1></body></html>"#,
        url = lucarne.url()
    )
}

/// A hash-routed single-page app (`data-hash`).
fn hash_app_page(lucarne: &Lucarne) -> String {
    format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Hash app</title>
<script defer data-domain="example.test" data-allow-localhost data-hash src="{url}/js/script.js"></script>
</head><body><h1>App</h1></body></html>"#,
        url = lucarne.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracker_honours_opt_out_reports_telegram_webview_and_hash_routes() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let data = tempfile::tempdir().expect("data dir");
        add_site(data.path(), "example.test");
        let key = create_key(data.path());
        let lucarne = Lucarne::start(data.path());
        let stats = StatsApi::new(&lucarne, key);
        let pages = serve_pages(vec![
            ("/optout/*", article_page(&lucarne, "data-allow-localhost")),
            ("/control/*", article_page(&lucarne, "data-allow-localhost")),
            ("/tg/*", telegram_page(&lucarne)),
            ("/app/*", hash_app_page(&lucarne)),
        ]);
        let browser = Browser::start();
        let port = pages.port();

        // Opt-out: counted once, then the reader sets the flag and reloads: not counted.
        let session = browser.session().await;
        let page = format!("http://example.test:{port}/optout/page");
        session.goto(&page).await.expect("open the page");
        stats.wait_count("event:page", "pageviews", "/optout/page", 1).await;
        session.js("localStorage.lucarne_ignore = 'true'").await;
        session.goto(&page).await.expect("reload the page");
        session
            .wait_js("window.lucarne && window.lucarne.l", PAGE_TIMEOUT, "tracker loaded")
            .await;
        // Positive control on another origin (a subdomain, so no opt-out flag there):
        // once it is counted, the opted-out reload had every chance to be counted too.
        let control = format!("http://www.example.test:{port}/control/page");
        session.goto(&control).await.expect("open the control page");
        stats.wait_count("event:page", "pageviews", "/control/page", 1).await;
        assert_eq!(
            stats.count("event:page", "pageviews", "/optout/page", "").await,
            1,
            "the opted-out reload was not counted"
        );
        session.close().await;

        // Telegram's in-app browser: a new visitor (own user agent) with no referrer on a
        // deep page would be "estimated dark"; the webview global makes it Telegram.
        let tg = browser
            .session_with_user_agent(
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
            )
            .await;
        tg.goto(&format!("http://example.test:{port}/tg/article"))
            .await
            .expect("open the page in 'Telegram'");
        stats.wait_count("visit:channel", "visits", "telegram", 1).await;
        tg.close().await;

        // Hash routing: each `#/route` is a page.
        let app = browser
            .session_with_user_agent(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            )
            .await;
        app.goto(&format!("http://example.test:{port}/app/#/inbox"))
            .await
            .expect("open the hash app");
        stats.wait_count("event:page", "pageviews", "/app#/inbox", 1).await;
        app.js("location.hash = '#/settings'").await;
        stats.wait_count("event:page", "pageviews", "/app#/settings", 1).await;
        app.close().await;
    })
    .await
    .expect("the browser test took too long");
}

/// A long article with the tracker and the opt-in `engagement.js`.
fn engaged_page(lucarne: &Lucarne) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Long read</title>
<script defer data-domain="example.test" data-allow-localhost src="{url}/js/script.js"></script>
<script defer src="{url}/js/engagement.js"></script>
</head><body style="margin:0">
<h1 id="title">A long read</h1>
<a id="spa" href="/long/second">Next</a>
<div style="height:6000px"></div>
<script>
document.getElementById("spa").addEventListener("click", function (e) {{
  e.preventDefault();
  history.pushState({{}}, "", "/long/second");
}});
</script>
</body></html>"#,
        url = lucarne.url()
    )
}

/// Lucarne's own tracker with `engagement.js` (issue 21): reading half-way down a page for
/// a few seconds, then moving on in the app, gives the page's scroll depth (the depth the
/// browser reached) and time on page, and the engagement is no event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engagement_script_reports_scroll_depth_and_time_on_page() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let data = tempfile::tempdir().expect("data dir");
        add_site(data.path(), "example.test");
        let key = create_key(data.path());
        let lucarne = Lucarne::start(data.path());
        let stats = StatsApi::new(&lucarne, key);
        let pages = serve_pages(vec![("/long/*", engaged_page(&lucarne))]);
        let browser = Browser::start();
        let session = browser.session().await;
        let first = format!("http://example.test:{}/long/first", pages.port());
        session.goto(&first).await.expect("open the article");
        session
            .wait_js(
                "window.lucarne && window.lucarne.l && window.lucarneEngagement",
                PAGE_TIMEOUT,
                "the tracker and the engagement script",
            )
            .await;
        stats
            .wait_count("event:page", "pageviews", "/long/first", 1)
            .await;
        read_half_then_move_on(&session, &stats, "/long/first", "/long/second").await;
        assert_eq!(
            stats.table("event:name", "events", "").await,
            [("pageview".to_string(), 2)],
            "engagement is no event"
        );
        session.close().await;
    })
    .await
    .expect("the browser test took too long");
}

/// A page with the tracker and `events.js` with every option; `extra` on its tag.
fn events_page(lucarne: &Lucarne, extra: &str) -> String {
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Events</title>
<script defer data-domain="example.test" data-allow-localhost src="{url}/js/script.js"></script>
<script defer data-outbound-links data-file-downloads data-form-submissions data-tagged-events {extra} src="{url}/js/events.js"></script>
</head><body>
<a id="pdf" href="/files/report.pdf?v=2">Report</a>
<a id="page" href="/events/other">Same site</a>
<button id="cta" class="big plausible-event-name=Start+Trial plausible-event-plan=pro">Start</button>
<form id="form" action="/events/sent"><input name="q" value="x"><button id="submit">Send</button></form>
<a id="out" href="http://blog.test:{{{{PORT}}}}/elsewhere">Elsewhere</a>
<script>
document.getElementById("pdf").addEventListener("click", function (e) {{ e.preventDefault(); }});
document.getElementById("page").addEventListener("click", function (e) {{ e.preventDefault(); }});
document.getElementById("form").addEventListener("submit", function (e) {{ e.preventDefault(); }});
</script>
</body></html>"#,
        url = lucarne.url()
    )
}

/// Lucarne's `events.js` (issue 21) sends Plausible's automatic events by opt-in
/// attributes: a file download (its url without the query), a tagged element (name and
/// props from Plausible's classes), a form submission, an outbound link (which leaves
/// the page) and a 404 page; a link on the site itself is no event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_script_sends_plausibles_automatic_events() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let data = tempfile::tempdir().expect("data dir");
        add_site(data.path(), "example.test");
        let key = create_key(data.path());
        let lucarne = Lucarne::start(data.path());
        let stats = StatsApi::new(&lucarne, key);
        let pages = serve_pages(vec![
            ("/events/*", events_page(&lucarne, "")),
            ("/missing", events_page(&lucarne, "data-404")),
            ("/elsewhere", "<!doctype html><p>Elsewhere</p>".to_string()),
        ]);
        let port = pages.port();
        let browser = Browser::start();
        let session = browser.session().await;
        session
            .goto(&format!("http://example.test:{port}/events/home"))
            .await
            .expect("open the page");
        session
            .wait_js(
                "window.lucarne && window.lucarneEvents",
                PAGE_TIMEOUT,
                "the scripts",
            )
            .await;
        for id in ["pdf", "page", "cta", "submit"] {
            session.click_id(id).await;
        }
        stats
            .wait_count("event:name", "events", "Form: Submission", 1)
            .await;
        session.click_id("out").await;
        stats
            .wait_count("event:name", "events", "Outbound Link: Click", 1)
            .await;
        session
            .goto(&format!("http://example.test:{port}/missing"))
            .await
            .expect("open the missing page");
        stats.wait_count("event:name", "events", "404", 1).await;
        assert_eq!(
            stats.table("event:name", "events", "").await,
            [
                ("404".to_string(), 1),
                ("File Download".to_string(), 1),
                ("Form: Submission".to_string(), 1),
                ("Outbound Link: Click".to_string(), 1),
                ("Start Trial".to_string(), 1),
                ("pageview".to_string(), 2),
            ],
            "events by name"
        );
        let one = |v: String| [(v, 1u64)];
        assert_eq!(
            stats
                .table("event:props:url", "events", "event:name==File Download")
                .await,
            one(format!("http://example.test:{port}/files/report.pdf"))
        );
        assert_eq!(
            stats
                .table(
                    "event:props:url",
                    "events",
                    "event:name==Outbound Link: Click"
                )
                .await,
            one(format!("http://blog.test:{port}/elsewhere"))
        );
        assert_eq!(
            stats
                .table("event:props:plan", "events", "event:name==Start Trial")
                .await,
            one("pro".into())
        );
        assert_eq!(
            stats
                .table("event:props:path", "events", "event:name==404")
                .await,
            one("/missing".into())
        );
        session.close().await;
    })
    .await
    .expect("the browser test took too long");
}
