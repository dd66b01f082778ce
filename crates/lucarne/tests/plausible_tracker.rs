//! Plausible's official tracker (npm `@plausible-analytics/tracker`, unpacked by
//! scripts/install-test-deps.sh) in a real headless Chromium, pointed at `lucarne serve`
//! unchanged (issue 21): pageviews and SPA navigation, scroll and engaged time (its
//! `engagement` events), a file download, an outbound-link click, and a custom event with
//! props and revenue, each counted as Plausible's documentation says it would be.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::{
    add_site, cli, create_key, read_half_then_move_on, serve_pages, Browser, Lucarne, StatsApi,
};

const TEST_TIMEOUT: Duration = Duration::from_secs(120);
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// The release scripts/install-test-deps.sh unpacks.
const VERSION: &str = "0.4.6";

/// The tracker's ES module, as published on npm.
fn tracker_module() -> String {
    let dir = std::env::var_os("LUCARNE_NPM_DIR").map_or_else(
        || {
            let home = std::env::var_os("HOME").expect("HOME");
            PathBuf::from(home).join(".cache/lucarne/npm")
        },
        PathBuf::from,
    );
    let path = dir.join(format!("plausible-tracker-{VERSION}/package/plausible.js"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; scripts/install-test-deps.sh unpacks the npm package there",
            path.display()
        )
    })
}

/// A long article of example.test running the npm tracker as a site would bundle it:
/// the module's code inline (its `export` line dropped: a page's own script), then
/// `init` with Lucarne's endpoint and the outbound-link and file-download options.
/// `window.__plausible` lets it run in an automated browser (its documented switch).
fn article_page(lucarne: &Lucarne) -> String {
    let module = tracker_module();
    let code: String = module
        .lines()
        .filter(|l| !l.trim_start().starts_with("export "))
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Article</title></head>
<body style="margin:0">
<h1 id="title">First article</h1>
<a id="spa" href="/articles/second">Second article</a>
<a id="pdf" href="/files/report.pdf?version=2">The report (PDF)</a>
<a id="out" href="http://blog.test:{{{{PORT}}}}/elsewhere">Elsewhere</a>
<div style="height:6000px"></div>
<p id="end">The end.</p>
<script>
window.__plausible = true;
{code}
init({{ domain: "example.test", endpoint: "{url}/api/event", outboundLinks: true, fileDownloads: true, logging: false }});
document.getElementById("spa").addEventListener("click", function (e) {{
  e.preventDefault();
  history.pushState({{}}, "", "/articles/second");
  document.getElementById("title").textContent = "Second article";
}});
document.getElementById("pdf").addEventListener("click", function (e) {{ e.preventDefault(); }});
</script>
</body></html>"#,
        url = lucarne.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plausibles_npm_tracker_works_unchanged() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let data = tempfile::tempdir().expect("data dir");
        add_site(data.path(), "example.test");
        cli(
            data.path(),
            &["goal", "add", "example.test", "--event", "Signup"],
        );
        let key = create_key(data.path());
        let lucarne = Lucarne::start(data.path());
        let stats = StatsApi::new(&lucarne, key);
        let pages = serve_pages(vec![
            ("/articles/*", article_page(&lucarne)),
            ("/elsewhere", "<!doctype html><p>Elsewhere</p>".to_string()),
        ]);
        let browser = Browser::start();
        let session = browser.session().await;

        let article = format!("http://example.test:{}/articles/first", pages.port());
        session.goto(&article).await.expect("open the article");
        session
            .wait_js("window.plausible && window.plausible.l", PAGE_TIMEOUT, "the tracker")
            .await;
        stats
            .wait_count("event:page", "pageviews", "/articles/first", 1)
            .await;

        // Read half-way down, for more than the 3 s the tracker waits for, then move on
        // in the app (SPA): the first article's engagement goes out with the pageview.
        read_half_then_move_on(&session, &stats, "/articles/first", "/articles/second").await;

        // A file download (the query string left out of its url) and a custom event with
        // props and revenue, then an outbound link, which leaves the page.
        session.click_id("pdf").await;
        session
            .js(
                "plausible('Signup', { props: { plan: 'pro' }, revenue: { amount: 12.5, currency: 'EUR' } });",
            )
            .await;
        stats.wait_count("event:name", "events", "Signup", 1).await;
        session.click_id("out").await;
        stats
            .wait_count("event:name", "events", "Outbound Link: Click", 1)
            .await;

        // Every count as Plausible's documentation gives it: two pageviews, the three
        // custom events once each, engagement never an event.
        let names = stats.table("event:name", "events", "").await;
        let names: Vec<(&str, u64)> = names.iter().map(|(n, c)| (n.as_str(), *c)).collect();
        assert_eq!(
            names,
            [
                ("File Download", 1),
                ("Outbound Link: Click", 1),
                ("Signup", 1),
                ("pageview", 2)
            ],
            "events by name"
        );
        let pdf = format!("http://example.test:{}/files/report.pdf", pages.port());
        assert_eq!(
            stats.table("event:props:url", "events", "event:name==File Download").await,
            [(pdf, 1)],
            "the download's url"
        );
        let out = format!("http://blog.test:{}/elsewhere", pages.port());
        assert_eq!(
            stats.table("event:props:url", "events", "event:name==Outbound Link: Click").await,
            [(out, 1)],
            "the outbound link's url"
        );
        assert_eq!(
            stats.table("event:props:plan", "events", "event:name==Signup").await,
            [("pro".to_string(), 1)],
            "the signup's plan"
        );
        let visits = stats
            .get_ok(
                "/api/v1/stats/aggregate",
                &[
                    ("site_id", "example.test"),
                    ("period", "day"),
                    ("metrics", "visitors,visits,pageviews,events"),
                ],
            )
            .await;
        let r = &visits["results"];
        assert_eq!(
            [&r["visitors"]["value"], &r["visits"]["value"], &r["pageviews"]["value"], &r["events"]["value"]],
            [1, 1, 2, 5],
            "{visits}"
        );
        let conv = stats
            .get_ok(
                "/api/v1/stats/conversions",
                &[("site_id", "example.test"), ("period", "day")],
            )
            .await;
        assert_eq!(conv["goals"][0]["conversions"], 1, "{conv}");
        assert_eq!(conv["goals"][0]["revenue"]["total"], 12.5, "{conv}");

        session.close().await;
    })
    .await
    .expect("the Plausible tracker test took too long");
}
