//! Share tokens end to end in real headless Chromium (ARCHITECTURE.md, "Share tokens and
//! cascades"): the tracker's address-bar tagging (fragment and query modes, anchors left
//! alone, a parent token replaced), `share.js` buttons (a WhatsApp share carrying a fresh
//! token, a cascade A → WhatsApp → B → address bar → C reported by the stats API) and
//! copied-text attribution (on, off, not in form fields). Needs /usr/bin/chromium and
//! /usr/bin/chromedriver (scripts/install-test-deps.sh).

mod support;

use std::path::Path;
use std::time::Duration;

use fantoccini::Locator;
use lucarne_store::meta::MetaStore;
use serde_json::Value;
use support::{add_site, create_key, serve_pages, Browser, Lucarne, Session, StatsApi};

/// Upper bound for one whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Three people on desktop Chrome. Sessions share the IP (127.0.0.1), so only the user
/// agent makes them different visitors: with one user agent, B's arrival on A's token
/// would be A's own token (`own`), not an edge.
const UA_A: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    Chrome/130.0.0.0 Safari/537.36";
const UA_B: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
    Gecko) Chrome/129.0.0.0 Safari/537.36";
const UA_C: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, \
    like Gecko) Chrome/128.0.0.0 Safari/537.36";

/// A canonical token: 11 base64url characters, the first carrying 4 bits (A..P).
fn is_token(s: &str) -> bool {
    s.len() == 11
        && s.starts_with(|c: char| ('A'..='P').contains(&c))
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s != "AAAAAAAAAAA"
}

/// A page of example.test with the tracker (`tracker_attrs`) and, when `share_attrs` is
/// given, `share.js` (no `data-domain`: it falls back to the tracker's). Both are served
/// by Lucarne and allowed under webdriver unless the attributes say otherwise.
fn page(lucarne: &Lucarne, tracker_attrs: &str, share_attrs: Option<&str>, body: &str) -> String {
    let url = lucarne.url();
    let share = share_attrs.map_or(String::new(), |attrs| {
        format!(r#"<script defer {attrs} src="{url}/js/share.js"></script>"#)
    });
    format!(
        r#"<!doctype html>
<html><head><meta charset="utf-8"><title>Article</title>
<script>history.replaceState({{ kept: 1 }}, "");</script>
<script defer data-domain="example.test" {tracker_attrs} src="{url}/js/script.js"></script>
{share}
</head><body>
<h1>An article worth sharing</h1>
{body}
</body></html>"#
    )
}

const SHARE_DIV: &str = r#"<div id="share" data-lucarne-share></div>"#;

/// The Plausible-style stats API of example.test.
/// Waits for the tracker to have sent its pageview, and returns the visit token.
async fn visit_token(session: &Session) -> String {
    session
        .wait_js(
            "window.lucarne && window.lucarne.l && window.lucarne.t",
            PAGE_TIMEOUT,
            "the tracker's visit token",
        )
        .await;
    let t = session.js("return window.lucarne.t").await;
    let t = t.as_str().expect("lucarne.t is a string").to_string();
    assert!(is_token(&t), "lucarne.t = {t:?} is not a canonical token");
    t
}

/// Waits until the address bar carries the visit token in the fragment; returns it.
async fn tagged_fragment(session: &Session) -> String {
    let t = visit_token(session).await;
    session
        .wait_js(
            "location.hash == '#lc=' + window.lucarne.t",
            PAGE_TIMEOUT,
            "#lc=<visit token> in the address bar",
        )
        .await;
    t
}

/// Replaces `window.open` by a recorder (`window.opened`: [url, target, features]).
async fn capture_window_open(session: &Session) {
    session
        .js("window.opened = []; window.open = function (u, n, f) { window.opened.push([u, n, f]); return null; };")
        .await;
}

async fn click(session: &Session, css: &str) {
    session
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("find {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// The one URL given to `window.open` since [`capture_window_open`]; checks the target.
async fn opened_url(session: &Session) -> String {
    session
        .wait_js(
            "window.opened && window.opened.length == 1",
            PAGE_TIMEOUT,
            "one window.open call",
        )
        .await;
    let call = session.js("return window.opened[0]").await;
    assert_eq!(call[1], "_blank", "window.open target: {call}");
    assert_eq!(call[2], "noopener", "window.open features: {call}");
    call[0].as_str().expect("opened URL").to_string()
}

/// The query parameter `name` of `url`.
fn param(url: &str, name: &str) -> String {
    let parsed = url::Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    parsed
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {name} in {url}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_share_and_address_bar_make_a_cascade() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let data = tempfile::tempdir().expect("data dir");
        add_site(data.path(), "example.test");
        let key = create_key(data.path());
        let lucarne = Lucarne::start(data.path());
        let stats = StatsApi::new(&lucarne, key);
        let pages = serve_pages(vec![(
            "/articles/*",
            page(
                &lucarne,
                "data-allow-localhost",
                Some("data-allow-localhost"),
                SHARE_DIV,
            ),
        )]);
        let port = pages.port();
        let article = format!("http://example.test:{port}/articles/cascade");
        let browser = Browser::start();

        // A arrives with no referrer and no token: the address bar gets A's visit token,
        // and history.state set by the page survives the tagging.
        let a = browser.session_with_user_agent(UA_A).await;
        a.goto(&article).await.expect("A opens the article");
        let token_a = tagged_fragment(&a).await;
        assert_eq!(a.js("return history.state && history.state.kept").await, 1);

        // The buttons: real <button>s with visible labels and accessible names.
        let whatsapp = a
            .js("var b = document.querySelector('#share button[data-channel=whatsapp]'); \
                 return b && [b.tagName, b.type, b.textContent, b.getAttribute('aria-label')];")
            .await;
        assert_eq!(
            whatsapp,
            serde_json::json!(["BUTTON", "button", "WhatsApp", "Share on WhatsApp"])
        );
        let channels = a
            .js("return [].map.call(document.querySelectorAll('#share button'), function (b) { return b.dataset.channel; }).join(',')")
            .await;
        let native = a.js("return !!navigator.share").await == Value::Bool(true);
        let expected = if native {
            "whatsapp,telegram,messenger,signal,sms,email,copy,native,facebook,x,linkedin"
        } else {
            "whatsapp,telegram,messenger,signal,sms,email,copy,facebook,x,linkedin"
        };
        assert_eq!(channels, expected, "default buttons (navigator.share: {native})");
        assert_eq!(
            a.js("return document.querySelectorAll('style#lucarne-share-css').length").await,
            1,
            "one style element"
        );

        // A shares on WhatsApp: wa.me with the article's URL and a fresh share token.
        capture_window_open(&a).await;
        click(&a, "#share button[data-channel=whatsapp]").await;
        let wa = opened_url(&a).await;
        assert!(wa.starts_with("https://wa.me/?text="), "opened {wa}");
        let text = param(&wa, "text");
        let shared = text
            .split_whitespace()
            .find(|w| w.starts_with("http"))
            .unwrap_or_else(|| panic!("no URL in the WhatsApp text {text:?}"))
            .to_string();
        assert!(text.starts_with("Article "), "WhatsApp text {text:?}");
        let token_s = shared
            .strip_prefix(&format!("{article}#lc="))
            .unwrap_or_else(|| panic!("shared URL {shared} is not {article}#lc=TOKEN"))
            .to_string();
        assert!(is_token(&token_s), "share token {token_s:?}");
        assert_ne!(token_s, token_a, "the share token is the visit token");
        stats
            .wait_count("event:share_channel", "events", "whatsapp", 1)
            .await;

        // B opens the shared link (no referrer): its address bar carries B's own token.
        let b = browser.session_with_user_agent(UA_B).await;
        b.goto(&shared).await.expect("B opens the shared link");
        let token_b = visit_token(&b).await;
        assert_ne!(token_b, token_s);
        assert_ne!(token_b, token_a);
        b.wait_js(
            "location.hash == '#lc=' + window.lucarne.t",
            PAGE_TIMEOUT,
            "B's own token replacing the share token",
        )
        .await;
        let address_b = b.current_url().await.expect("B's address").to_string();
        assert_eq!(address_b, format!("{article}#lc={token_b}"));
        stats
            .wait_count("visit:generation", "visits", "1", 1)
            .await;

        // C opens B's address, as copied from B's address bar.
        let c = browser.session_with_user_agent(UA_C).await;
        c.goto(&address_b).await.expect("C opens B's address");
        let token_c = tagged_fragment(&c).await;
        assert!(![&token_a, &token_b, &token_s].contains(&&token_c));
        stats
            .wait_count("visit:generation", "visits", "2", 1)
            .await;

        // The whole cascade: A (0) → WhatsApp → B (1) → address bar → C (2).
        assert_eq!(
            stats.table("visit:generation", "visits", "").await,
            vec![("0".into(), 1), ("1".into(), 1), ("2".into(), 1)]
        );
        let gen1 = "visit:generation==1";
        let gen2 = "visit:generation==2";
        assert_eq!(
            stats.table("visit:channel", "visits", gen1).await,
            vec![("whatsapp".into(), 1)],
            "B's channel"
        );
        assert_eq!(
            stats.table("visit:share_channel", "visits", gen1).await,
            vec![("whatsapp".into(), 1)],
            "how B's token travelled"
        );
        assert_eq!(
            stats.table("visit:channel", "visits", gen2).await,
            vec![("copied-link".into(), 1)],
            "C's channel"
        );
        assert_eq!(
            stats.table("visit:share_channel", "visits", gen2).await,
            vec![("address-bar".into(), 1)],
            "how C's token travelled"
        );
        assert_eq!(
            stats.count("event:name", "events", "share", "").await,
            1,
            "one share event"
        );
        // The cascade report draws A → B → C: B through the share token, C through
        // B's address-bar token.
        let report: Value = stats
            .http
            .get(format!("{}/api/v1/stats/cascades", lucarne.url()))
            .query(&[("site_id", "example.test"), ("period", "day")])
            .bearer_auth(&stats.key)
            .send()
            .await
            .expect("cascades")
            .json()
            .await
            .expect("cascades json");
        let tree = &report["results"][0];
        assert_eq!(tree["page"], "/articles/cascade", "{report}");
        let nodes = tree["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 3, "{report}");
        assert_eq!(nodes[1]["channel"], "whatsapp");
        assert_eq!(nodes[1]["token"], token_s.as_str());
        assert_eq!(nodes[2]["channel"], "copied-link");
        assert_eq!(nodes[2]["token"], token_b.as_str());
        assert_eq!(nodes[2]["parent"], 1);
        b.screenshot("share-buttons").await;

        a.close().await;
        b.close().await;
        c.close().await;
    })
    .await
    .expect("the cascade test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_bar_modes_anchors_and_share_buttons() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let data = tempfile::tempdir().expect("data dir");
        add_site(data.path(), "example.test");
        let key = create_key(data.path());
        let lucarne = Lucarne::start(data.path());
        let stats = StatsApi::new(&lucarne, key);
        let some = r#"<div id="share" data-lucarne-share data-channels="telegram, signal,copy,nope" data-url="/canonical?lc=PPPPPPPPPPP&amp;x=1" data-title="Custom title"></div>"#;
        let pages = serve_pages(vec![
            (
                "/frag/*",
                page(&lucarne, "data-allow-localhost", Some("data-allow-localhost"), SHARE_DIV),
            ),
            (
                "/query/*",
                page(
                    &lucarne,
                    r#"data-allow-localhost data-lc="query""#,
                    Some(r#"data-allow-localhost data-lc="query""#),
                    SHARE_DIV,
                ),
            ),
            (
                "/anchor/*",
                page(
                    &lucarne,
                    "data-allow-localhost",
                    None,
                    r#"<p>…</p><h2 id="section-2">Section 2</h2>"#,
                ),
            ),
            (
                "/hash/*",
                page(&lucarne, "data-allow-localhost data-hash", None, ""),
            ),
            (
                "/some/*",
                page(&lucarne, "data-allow-localhost", Some("data-allow-localhost"), some),
            ),
            // Under webdriver without data-allow-localhost: buttons work, nothing is sent.
            ("/quiet/*", page(&lucarne, "", Some(""), SHARE_DIV)),
        ]);
        let port = pages.port();
        let base = format!("http://example.test:{port}");
        let browser = Browser::start();
        let s = browser.session().await;

        // Fragment mode (default): a parent token in the fragment is replaced.
        s.goto(&format!("{base}/frag/page?x=1#lc=AAAAAAAAAAB"))
            .await
            .expect("open the fragment-mode page");
        let t = tagged_fragment(&s).await;
        assert_ne!(t, "AAAAAAAAAAB");
        assert_eq!(s.js("return location.search").await, "?x=1");
        assert_eq!(s.js("return history.state && history.state.kept").await, 1);

        // Query mode: ?…&lc=, a parent token in the query replaced, other params kept.
        s.goto(&format!("{base}/query/page?lc=AAAAAAAAAAB&x=1"))
            .await
            .expect("open the query-mode page");
        visit_token(&s).await;
        s.wait_js(
            "location.search == '?x=1&lc=' + lucarne.t && location.hash == ''",
            PAGE_TIMEOUT,
            "?x=1&lc=<visit token>",
        )
        .await;
        // share.js in query mode: the shared URL carries ?lc=, no fragment.
        capture_window_open(&s).await;
        click(&s, "#share button[data-channel=telegram]").await;
        let tg = opened_url(&s).await;
        assert!(tg.starts_with("https://t.me/share/url?url="), "opened {tg}");
        let shared = param(&tg, "url");
        let token = shared
            .strip_prefix(&format!("{base}/query/page?x=1&lc="))
            .unwrap_or_else(|| panic!("telegram URL {shared}"));
        assert!(is_token(token), "{token:?}");
        assert_eq!(param(&tg, "text"), "Article");

        // An anchor fragment is never replaced in fragment mode.
        s.goto(&format!("{base}/anchor/page#section-2"))
            .await
            .expect("open the page at an anchor");
        visit_token(&s).await;
        stats
            .wait_count("event:page", "pageviews", "/anchor/page", 1)
            .await;
        assert_eq!(
            s.js("return location.hash + '|' + location.search").await,
            "#section-2|"
        );

        // Hash routing always uses the query, and keeps the route.
        s.goto(&format!("{base}/hash/#/inbox"))
            .await
            .expect("open the hash-routed app");
        visit_token(&s).await;
        s.wait_js(
            "location.search == '?lc=' + lucarne.t && location.hash == '#/inbox'",
            PAGE_TIMEOUT,
            "?lc=<visit token>#/inbox",
        )
        .await;

        // Tagging is no navigation: one pageview per load.
        stats.wait_count("event:page", "pageviews", "/frag/page", 1).await;
        stats.wait_count("event:page", "pageviews", "/query/page", 1).await;

        // data-channels, data-url (its lc removed), data-title; copy-style buttons.
        s.goto(&format!("{base}/some/page")).await.expect("open /some/page");
        tagged_fragment(&s).await;
        s.wait_js(
            "document.querySelectorAll('#share button').length == 3",
            PAGE_TIMEOUT,
            "the three listed buttons",
        )
        .await;
        assert_eq!(
            s.js("return [].map.call(document.querySelectorAll('#share button'), function (b) { return b.textContent + '/' + b.getAttribute('aria-label'); }).join(',')").await,
            "Telegram/Share on Telegram,Signal/Share on Signal,Copy link/Copy link"
        );
        capture_window_open(&s).await;
        click(&s, "#share button[data-channel=telegram]").await;
        let tg = opened_url(&s).await;
        let shared = param(&tg, "url");
        assert!(
            shared.starts_with(&format!("{base}/canonical?x=1#lc=")),
            "data-url with a fresh token: {shared}"
        );
        assert_eq!(param(&tg, "text"), "Custom title");
        // Signal has no share URL: the link is copied, and the status says so.
        click(&s, "#share button[data-channel=signal]").await;
        s.wait_js(
            "document.querySelector('#share [role=status]').textContent == 'Link copied — paste it into Signal'",
            PAGE_TIMEOUT,
            "the Signal status message",
        )
        .await;
        click(&s, "#share button[data-channel=copy]").await;
        s.wait_js(
            "document.querySelector('#share [role=status]').textContent == 'Link copied'",
            PAGE_TIMEOUT,
            "the copy status message",
        )
        .await;
        assert_eq!(
            s.js("return document.querySelector('#share [role=status]').getAttribute('aria-live')").await,
            "polite"
        );
        stats.wait_count("event:share_channel", "events", "copy", 1).await;
        stats.wait_count("event:share_channel", "events", "signal", 1).await;
        stats.wait_count("event:share_channel", "events", "telegram", 2).await;

        // Not tracking (webdriver, no data-allow-localhost): the share still works, with
        // no token and no event.
        s.goto(&format!("{base}/quiet/page")).await.expect("open /quiet/page");
        s.wait_js(
            "document.querySelector('#share button[data-channel=x]')",
            PAGE_TIMEOUT,
            "the buttons on the quiet page",
        )
        .await;
        capture_window_open(&s).await;
        click(&s, "#share button[data-channel=x]").await;
        let x = opened_url(&s).await;
        assert!(x.starts_with("https://x.com/intent/tweet?url="), "opened {x}");
        assert_eq!(param(&x, "url"), format!("{base}/quiet/page"));
        assert_eq!(s.js("return location.hash").await, "", "no tagging when not tracking");
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(stats.count("event:share_channel", "events", "x", "").await, 0);
        assert_eq!(stats.count("event:page", "pageviews", "/quiet/page", "").await, 0);

        s.close().await;
    })
    .await
    .expect("the address-bar test took too long");
}

/// Selects the contents of `#id` (or, for a form field, its text), dispatches a `copy`
/// event on it with a fresh DataTransfer, and returns
/// `[defaultPrevented, text/plain, text/html]`.
async fn copy_of(session: &Session, id: &str) -> Value {
    session
        .js(&format!(
            "var el = document.getElementById('{id}'), s = getSelection();
             s.removeAllRanges();
             if (el.select) {{ el.focus(); el.select(); }}
             else {{ var r = document.createRange(); r.selectNodeContents(el); s.addRange(r); }}
             var dt = new DataTransfer(),
                 e = new ClipboardEvent('copy', {{ clipboardData: dt, bubbles: true, cancelable: true }});
             (el.select ? el : el.firstChild).dispatchEvent(e);
             return [e.defaultPrevented, dt.getData('text/plain'), dt.getData('text/html')];"
        ))
        .await
}

/// Turns the site's copied-text attribution option on (before the server starts).
async fn enable_copy_attribution(data: &Path, domain: &str) {
    let meta = MetaStore::open(data).await.expect("open the meta store");
    let site = meta
        .site_by_domain(domain)
        .await
        .expect("read the site")
        .unwrap_or_else(|| panic!("no site {domain}"));
    let mut options = meta.site_options(site.id).await.expect("site options");
    options.copy_attribution = true;
    meta.set_site_options(site.id, &options)
        .await
        .expect("save the site options");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copied_text_gets_a_read_more_link_only_when_on() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let data = tempfile::tempdir().expect("data dir");
        add_site(data.path(), "example.test");
        // The server takes `copy` events only from sites that turned the option on.
        enable_copy_attribution(data.path(), "example.test").await;
        let key = create_key(data.path());
        let lucarne = Lucarne::start(data.path());
        let stats = StatsApi::new(&lucarne, key);
        let body = r#"<p id="long">Ten words of prose that a <b>reader</b> might copy & paste</p>
<p id="short">Three short words</p>
<textarea id="field">one two three four five six seven eight nine ten</textarea>
<div id="editable" contenteditable="true">one two three four five six seven eight nine ten</div>"#;
        let pages = serve_pages(vec![
            (
                "/on/*",
                page(
                    &lucarne,
                    "data-allow-localhost",
                    Some("data-allow-localhost data-copy"),
                    body,
                ),
            ),
            (
                "/twelve/*",
                page(
                    &lucarne,
                    "data-allow-localhost",
                    Some(r#"data-allow-localhost data-copy="12""#),
                    body,
                ),
            ),
            (
                "/off/*",
                page(
                    &lucarne,
                    "data-allow-localhost",
                    Some("data-allow-localhost"),
                    body,
                ),
            ),
        ]);
        let base = format!("http://example.test:{}", pages.port());
        let browser = Browser::start();
        let s = browser.session().await;

        // On: ≥ 8 words get "Read more: <page URL with a fresh token>".
        let page_url = format!("{base}/on/page");
        s.goto(&page_url).await.expect("open /on/page");
        let visit = tagged_fragment(&s).await;
        s.wait_js("window.lucarneShare", PAGE_TIMEOUT, "share.js")
            .await;
        let copied = copy_of(&s, "long").await;
        assert_eq!(copied[0], true, "the copy is rewritten: {copied}");
        let plain = copied[1].as_str().expect("text/plain");
        let (selected, link) = plain
            .split_once("\n\nRead more: ")
            .unwrap_or_else(|| panic!("no Read more in {plain:?}"));
        assert_eq!(
            selected,
            "Ten words of prose that a reader might copy & paste"
        );
        let token = link
            .strip_prefix(&format!("{page_url}#lc="))
            .unwrap_or_else(|| panic!("the link {link} is not the page with a token"));
        assert!(is_token(token), "{token:?}");
        assert_ne!(token, visit, "the copy token is the visit token");
        let html = copied[2].as_str().expect("text/html");
        assert!(
            html.starts_with("Ten words of prose that a reader might copy &#38; paste")
                && html.ends_with(&format!("Read more: <a href=\"{link}\">{link}</a>")),
            "text/html {html:?}"
        );
        stats.wait_count("event:name", "events", "copy", 1).await;

        // Too short, in a textarea, in a contenteditable: untouched.
        for id in ["short", "field", "editable"] {
            assert_eq!(
                copy_of(&s, id).await,
                serde_json::json!([false, "", ""]),
                "a copy of #{id}"
            );
        }

        // data-copy="12": ten words are not enough.
        s.goto(&format!("{base}/twelve/page"))
            .await
            .expect("open /twelve/page");
        s.wait_js("window.lucarneShare", PAGE_TIMEOUT, "share.js")
            .await;
        assert_eq!(
            copy_of(&s, "long").await,
            serde_json::json!([false, "", ""])
        );

        // Off (no data-copy): the clipboard is the browser's business.
        s.goto(&format!("{base}/off/page"))
            .await
            .expect("open /off/page");
        s.wait_js("window.lucarneShare", PAGE_TIMEOUT, "share.js")
            .await;
        assert_eq!(
            copy_of(&s, "long").await,
            serde_json::json!([false, "", ""])
        );

        // One copy event in all.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(stats.count("event:name", "events", "copy", "").await, 1);
        assert_eq!(
            stats
                .count("event:share_channel", "events", "copied-text", "")
                .await,
            1
        );

        s.close().await;
    })
    .await
    .expect("the copied-text test took too long");
}
