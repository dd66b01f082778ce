//! A shared dashboard framed by another site, in a real headless Chromium (issue 23):
//! refused until the owner allows the framing site's origin, then shown there, and still
//! refused to every other origin; the owner's own (logged-in) pages are never framed.
//! Needs /usr/bin/chromium and /usr/bin/chromedriver (scripts/install-test-deps.sh).

mod support;

use std::time::{Duration, Instant};

use support::{add_site, add_user, serve_pages, web_login, Browser, Lucarne, Session};

const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const FRAME_TIMEOUT: Duration = Duration::from_secs(15);
const OWNER: &str = "owner@example.test";
const PASSWORD: &str = "correct horse battery staple";

#[derive(Debug, PartialEq, Eq)]
enum Framed {
    /// The dashboard rendered inside the frame.
    Shown,
    /// The browser refused to render it there (its error page).
    Refused,
}

/// Opens `page` (which holds one iframe) and waits until the frame has either rendered
/// the dashboard or been refused by the browser.
async fn frame_of(s: &Session, page: &str, lucarne: &str) -> Framed {
    s.goto(page).await.expect("goto the framing page");
    let deadline = Instant::now() + FRAME_TIMEOUT;
    loop {
        s.wait_js(
            "document.readyState === 'complete'",
            FRAME_TIMEOUT,
            "the framing page",
        )
        .await;
        let seen = match s.enter_frame(Some(0)).await {
            Ok(()) => {
                let v = s
                    .execute(
                        "return [location.href, !!document.querySelector('.dash-head'), document.readyState];",
                        Vec::new(),
                    )
                    .await
                    .unwrap_or_default();
                s.enter_parent_frame().await.expect("back to the page");
                v
            }
            Err(_) => serde_json::Value::Null,
        };
        let href = seen[0].as_str().unwrap_or_default().to_string();
        if href.starts_with(lucarne) && seen[1] == true {
            return Framed::Shown;
        }
        if href.starts_with("chrome-error:") && seen[2] == "complete" {
            return Framed::Refused;
        }
        assert!(
            Instant::now() < deadline,
            "the frame neither showed nor refused the dashboard: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_shared_dashboard_is_framed_only_by_the_origins_its_owner_allows() {
    tokio::time::timeout(TEST_TIMEOUT, run())
        .await
        .expect("the embedding browser test timed out");
}

async fn run() {
    let dir = tempfile::tempdir().expect("tempdir");
    add_site(dir.path(), "example.test");
    add_user(dir.path(), OWNER, PASSWORD, &["example.test"]);
    let lucarne = Lucarne::start(dir.path());
    let base = lucarne.url();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login = web_login(&http, &lucarne, OWNER, PASSWORD).await;

    // A shared link, as the owner makes it on the settings' shared-links page.
    let page = login
        .post_form(
            &http,
            &lucarne,
            "/sites/example.test/shared-links",
            &[("action", "create"), ("name", "blog")],
        )
        .await
        .text()
        .await
        .expect("shared links page");
    let at = page.find("/share/").expect("the new link on the page") + "/share/".len();
    let token: String = page[at..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    assert!(token.len() > 10, "{token}");

    // One page with an iframe of the shared dashboard and one of the owner's own page,
    // served from another origin. Chromium resolves *.test to 127.0.0.1, so the same
    // server is both `localhost` (to be allowed) and `elsewhere.test` (never allowed).
    let pages = serve_pages(vec![
        ("/shared.html", format!("<!doctype html><title>blog</title><iframe src=\"{base}/share/{token}?period=7d\" width=\"900\" height=\"700\"></iframe>")),
        ("/own.html", format!("<!doctype html><title>blog</title><iframe src=\"{base}/sites/example.test\" width=\"900\" height=\"700\"></iframe>")),
    ]);
    let port = pages.port();
    let allowed = format!("http://localhost:{port}");
    let other = format!("http://elsewhere.test:{port}");

    let browser = Browser::start();
    let s = browser.session().await;
    // Not allowed yet: refused everywhere.
    assert_eq!(
        frame_of(&s, &format!("{allowed}/shared.html"), &base).await,
        Framed::Refused
    );

    // The owner allows the blog's origin on the settings page.
    let r = login
        .post_form(
            &http,
            &lucarne,
            "/sites/example.test/settings",
            &[
                ("timezone", "UTC"),
                ("allowed_hostnames", ""),
                ("share_param_style", "fragment"),
                ("currency", "EUR"),
                ("embed_origins", &allowed),
            ],
        )
        .await;
    assert_eq!(r.status().as_u16(), 303, "settings saved");

    assert_eq!(
        frame_of(&s, &format!("{allowed}/shared.html"), &base).await,
        Framed::Shown
    );
    s.screenshot("embed-shared-dashboard").await;
    assert_eq!(
        frame_of(&s, &format!("{other}/shared.html"), &base).await,
        Framed::Refused
    );
    // The site's own dashboard (and the login page it leads to) is never framed, even
    // by an allowed origin.
    assert_eq!(
        frame_of(&s, &format!("{allowed}/own.html"), &base).await,
        Framed::Refused
    );
    s.close().await;
}
