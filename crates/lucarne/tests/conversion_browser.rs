//! Conversions and the "How did you hear about us?" survey end to end in real headless
//! Chromium against the real `lucarne` binary (ARCHITECTURE.md, "Share tokens and
//! cascades"; issue 6): A shares an article on WhatsApp, B opens the shared link, buys
//! from the shop's checkout (a browser `purchase` with revenue), the shop keeps B's token
//! from the address bar, B answers the survey with the keyboard on the thank-you page, and
//! the shop's server later reports a second purchase with that token. The conversion,
//! cascade and survey reports of the stats API then tell the whole story. Needs
//! /usr/bin/chromium and /usr/bin/chromedriver (scripts/install-test-deps.sh).

mod support;

use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::key::Key;
use fantoccini::Locator;
use serde_json::{json, Value};
use support::{add_site, create_key, serve_pages, Browser, Lucarne, Session, StatsApi, API_WAIT};

/// Upper bound for the whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const PAGE_TIMEOUT: Duration = Duration::from_secs(10);

const DOMAIN: &str = "example.test";

/// Two people on desktop Chrome. Sessions share the IP (127.0.0.1), so only the user
/// agent makes them different visitors.
const UA_A: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
    Chrome/130.0.0.0 Safari/537.36";
const UA_B: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like \
    Gecko) Chrome/129.0.0.0 Safari/537.36";

/// A canonical token: 11 base64url characters, the first carrying 4 bits (A..P).
fn is_token(s: &str) -> bool {
    s.len() == 11
        && s.starts_with(|c: char| ('A'..='P').contains(&c))
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && s != "AAAAAAAAAAA"
}

/// The article: tracker, share buttons, and a link to the shop.
fn article_page(lucarne: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Article</title>
<script defer data-domain="{DOMAIN}" data-allow-localhost src="{lucarne}/js/script.js"></script>
<script defer data-allow-localhost src="{lucarne}/js/share.js"></script>
</head><body>
<h1>A book worth buying</h1>
<div id="share" data-lucarne-share></div>
<p><a id="buy" href="/shop/checkout">Buy the book</a></p>
</body></html>"#
    )
}

/// The checkout: keeps the `lc` token of the address bar in the order form (as a shop
/// would, to report later conversions), and sends `purchase` with its revenue on "Pay".
fn checkout_page(lucarne: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Checkout</title>
<script>window.lucarne = window.lucarne || function () {{ (window.lucarne.q = window.lucarne.q || []).push(arguments) }}</script>
<script defer data-domain="{DOMAIN}" data-allow-localhost src="{lucarne}/js/script.js"></script>
</head><body>
<h1>Checkout</h1>
<form id="order" action="/shop/thanks">
<input type="hidden" id="order-token" name="lc" value="">
<button type="button" id="pay">Pay 49.90 €</button>
</form>
<script>
// Deferred scripts (the tracker) run before DOMContentLoaded: the address bar is tagged.
document.addEventListener("DOMContentLoaded", function () {{
  var lc = new URLSearchParams(location.hash.slice(1)).get("lc")
    || new URLSearchParams(location.search).get("lc") || "";
  document.getElementById("order-token").value = lc;
}});
document.getElementById("pay").addEventListener("click", function () {{
  lucarne("purchase", {{
    revenue: {{ amount: 49.9, currency: "EUR" }},
    callback: function () {{ location.href = "/shop/thanks"; }}
  }});
}});
</script>
</body></html>"#
    )
}

/// The thank-you page with the survey. A CSP lets it connect to Lucarne only, and every
/// violation is recorded (`window.violations`), so a request elsewhere is caught even
/// though the CSP blocks it.
fn thanks_page(lucarne: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Thank you</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' {lucarne}; connect-src {lucarne}; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'">
<link rel="icon" href="data:,">
<script>
window.violations = [];
document.addEventListener("securitypolicyviolation", function (e) {{
  window.violations.push(e.violatedDirective + " " + e.blockedURI);
}});
</script>
<script defer data-domain="{DOMAIN}" data-allow-localhost src="{lucarne}/js/script.js"></script>
<script defer src="{lucarne}/js/survey.js" data-domain="{DOMAIN}"></script>
</head><body>
<h1>Thank you for your order</h1>
<div data-lucarne-survey></div>
</body></html>"#
    )
}

impl StatsApi<'_> {
    /// The conversion report of the `purchase` goal today, by `by`.
    async fn conversions(&self, by: &str) -> Value {
        self.get_ok(
            "/api/v1/stats/conversions",
            &[
                ("site_id", DOMAIN),
                ("period", "day"),
                ("goal", "purchase"),
                ("by", by),
            ],
        )
        .await
    }
}

/// The row of a conversion report whose `value` is `value`.
fn row<'v>(report: &'v Value, value: &str) -> Option<&'v Value> {
    report["rows"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["value"] == value))
}

/// `conversions` of the `value` row of a conversion report (0 without the row).
fn conversions_of(report: &Value, value: &str) -> u64 {
    row(report, value).map_or(0, |r| r["conversions"].as_u64().unwrap_or(0))
}

fn assert_money(actual: &Value, expected: f64, what: &str) {
    let got = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual} is not a number"));
    assert!(
        (got - expected).abs() < 1e-6,
        "{what}: {got}, expected {expected}"
    );
}

/// Waits for the tracker to have sent its pageview and tagged the address bar with the
/// visit token (`#lc=`); returns it.
async fn tagged_token(session: &Session) -> String {
    session
        .wait_js(
            "window.lucarne && window.lucarne.l && window.lucarne.t \
             && location.hash == '#lc=' + window.lucarne.t",
            PAGE_TIMEOUT,
            "#lc=<the tracker's visit token> in the address bar",
        )
        .await;
    let t = session.js("return window.lucarne.t").await;
    let t = t.as_str().expect("lucarne.t is a string").to_string();
    assert!(is_token(&t), "lucarne.t = {t:?} is not a canonical token");
    t
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

/// Presses and releases `key` on whatever has the focus, as a person would.
async fn press(session: &Session, key: Key) {
    let c: char = key.into();
    let keys = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: c })
        .then(KeyAction::Up { value: c });
    session
        .perform_actions(keys)
        .await
        .unwrap_or_else(|e| panic!("press {key:?}: {e}"));
}

/// What has the focus: `tag`, `tag:value` for an input, `tag:text` for a button.
async fn focused(session: &Session) -> String {
    let v = session
        .js("var e = document.activeElement; \
             return e.tagName.toLowerCase() + (e.tagName == 'INPUT' ? ':' + e.value \
             : e.tagName == 'BUTTON' ? ':' + e.textContent : '');")
        .await;
    v.as_str().unwrap_or_default().to_string()
}

/// The value of the checked survey radio ("" if none).
async fn checked(session: &Session) -> Value {
    session
        .js(
            "var r = document.querySelector('input[name=lucarne-survey]:checked'); \
             return r ? r.value : '';",
        )
        .await
}

/// No cookie in the browser for the current page's origin, by WebDriver and by script.
async fn assert_no_cookies(session: &Session, where_: &str) {
    let cookies = session.get_all_cookies().await.expect("get cookies");
    let names: Vec<String> = cookies.iter().map(|c| c.name().to_string()).collect();
    assert!(names.is_empty(), "cookies on {where_}: {names:?}");
    assert_eq!(
        session.js("return document.cookie").await,
        "",
        "document.cookie on {where_}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_share_converts_and_the_survey_agrees() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let data = tempfile::tempdir().expect("data dir");
        add_site(data.path(), DOMAIN);
        let key = create_key(data.path());
        let lucarne = Lucarne::start(data.path());
        let lc = lucarne.url();
        let api = StatsApi::new(&lucarne, key);

        // The goal (before any purchase; the report would be empty without it).
        let goal = json!({ "site_id": DOMAIN, "kind": "event", "value": "purchase" });
        let (status, created, _) = api.post("/api/v1/goals", &goal).await;
        assert_eq!(status, 201, "create the goal: {created}");
        assert_eq!(created["kind"], "event", "{created}");
        assert_eq!(created["value"], "purchase", "{created}");

        let pages = serve_pages(vec![
            ("/articles/*", article_page(&lc)),
            ("/shop/checkout", checkout_page(&lc)),
            ("/shop/thanks", thanks_page(&lc)),
        ]);
        let base = format!("http://{DOMAIN}:{}", pages.port());
        let article = format!("{base}/articles/book");
        let browser = Browser::start();

        // 1. A reads the article (no referrer) and shares it on WhatsApp.
        let a = browser.session_with_user_agent(UA_A).await;
        a.goto(&article).await.expect("A opens the article");
        let token_a = tagged_token(&a).await;
        a.wait_js(
            "document.querySelector('#share button[data-channel=whatsapp]')",
            PAGE_TIMEOUT,
            "the WhatsApp button",
        )
        .await;
        a.js("window.opened = []; \
              window.open = function (u, n, f) { window.opened.push([u, n, f]); return null; };")
            .await;
        click(&a, "#share button[data-channel=whatsapp]").await;
        a.wait_js(
            "window.opened.length == 1",
            PAGE_TIMEOUT,
            "one window.open call",
        )
        .await;
        let wa = a.js("return window.opened[0][0]").await;
        let wa = wa.as_str().expect("the opened URL").to_string();
        let text = url::Url::parse(&wa)
            .unwrap_or_else(|e| panic!("{wa}: {e}"))
            .query_pairs()
            .find(|(k, _)| k == "text")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no text= in {wa}"));
        assert!(wa.starts_with("https://wa.me/?text="), "opened {wa}");
        let shared = text
            .split_whitespace()
            .find(|w| w.starts_with("http"))
            .unwrap_or_else(|| panic!("no URL in the WhatsApp text {text:?}"))
            .to_string();
        let token_s = shared
            .strip_prefix(&format!("{article}#lc="))
            .unwrap_or_else(|| panic!("shared URL {shared} is not {article}#lc=TOKEN"))
            .to_string();
        assert!(is_token(&token_s), "share token {token_s:?}");
        assert_ne!(token_s, token_a, "the share token is A's visit token");
        assert_no_cookies(&a, "A's article").await;
        // The share is stored before B arrives with its token.
        let deadline = Instant::now() + API_WAIT;
        while !api
            .table("event:share_channel", "events", "")
            .await
            .contains(&("whatsapp".to_string(), 1))
        {
            assert!(
                Instant::now() < deadline,
                "the WhatsApp share was not counted: {:?}\n{}",
                api.table("event:share_channel", "events", "").await,
                lucarne.log()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // 2. B (another person, fresh profile, no referrer) opens the shared link: a
        // WhatsApp share-visit of generation 1, whose address bar gets B's own token.
        let b = browser.session_with_user_agent(UA_B).await;
        b.goto(&shared).await.expect("B opens the shared link");
        let token_b = tagged_token(&b).await;
        assert_ne!(token_b, token_s, "B kept the share token");
        assert_ne!(token_b, token_a);
        assert_eq!(
            b.current_url().await.expect("B's address").as_str(),
            format!("{article}#lc={token_b}")
        );
        assert_no_cookies(&b, "B's article").await;

        // B goes to the checkout; the shop keeps the token of the address bar.
        click(&b, "#buy").await;
        b.wait_js(
            "location.pathname == '/shop/checkout'",
            PAGE_TIMEOUT,
            "the checkout page",
        )
        .await;
        let token_checkout = tagged_token(&b).await;
        let saved = b
            .js("return document.getElementById('order-token').value")
            .await;
        let saved = saved.as_str().expect("the saved token").to_string();
        assert_eq!(
            saved, token_checkout,
            "the shop saved the address bar's token (the tracker's)"
        );
        assert!(
            ![&token_a, &token_s].contains(&&saved),
            "the saved token {saved} is not B's own"
        );
        assert_no_cookies(&b, "the checkout").await;

        // B pays: `purchase` with 49.90 EUR, then the thank-you page.
        click(&b, "#pay").await;
        b.wait_js(
            "location.pathname == '/shop/thanks'",
            PAGE_TIMEOUT,
            "the thank-you page",
        )
        .await;
        let report = api
            .wait(
                "/api/v1/stats/conversions",
                &[
                    ("site_id", DOMAIN),
                    ("period", "day"),
                    ("goal", "purchase"),
                    ("by", "visit:channel"),
                ],
                "the browser purchase credited to whatsapp",
                |r| conversions_of(r, "whatsapp") == 1,
            )
            .await;
        assert_money(
            &row(&report, "whatsapp").expect("whatsapp row")["revenue"]["total"],
            49.9,
            "the browser purchase's revenue",
        );

        // 3. The survey, with the keyboard only.
        b.wait_js(
            "document.querySelectorAll('form.lucarne-survey input[name=lucarne-survey]').length > 1",
            PAGE_TIMEOUT,
            "the survey form",
        )
        .await;
        // Accessibility: a fieldset with a legend; every radio labelled by its text.
        let legend = b
            .js("var l = document.querySelector('form.lucarne-survey fieldset > legend'); \
                 return l ? l.textContent : null;")
            .await;
        assert_eq!(legend, "How did you hear about us?");
        let unlabelled = b
            .js("return [].filter.call(document.querySelectorAll('input[name=lucarne-survey]'), \
                 function (r) { return r.type != 'radio' || r.labels.length != 1 \
                 || !r.labels[0].textContent.trim(); }).length;")
            .await;
        assert_eq!(unlabelled, 0, "radios without a label of their own");
        let first = b
            .js("var r = document.querySelector('input[name=lucarne-survey]'); \
                 return [r.value, r.labels[0].textContent];")
            .await;
        assert_eq!(first, json!(["whatsapp", "WhatsApp"]), "the first option");
        assert_eq!(
            b.js("var s = document.querySelector('[data-lucarne-survey] [role=status]'); \
                  return s && [s.getAttribute('aria-live'), s.textContent];")
                .await,
            json!(["polite", ""]),
            "an empty polite status region"
        );
        assert_eq!(
            b.js("return document.querySelector('form.lucarne-survey button').disabled")
                .await,
            true,
            "the button waits for a choice"
        );

        // Tab reaches the first radio; Space picks it; the arrows move the choice.
        assert_eq!(focused(&b).await, "body", "nothing focused yet");
        press(&b, Key::Tab).await;
        assert_eq!(focused(&b).await, "input:whatsapp", "Tab lands on the first radio");
        assert_eq!(checked(&b).await, "", "focus alone checks nothing");
        press(&b, Key::Space).await;
        assert_eq!(checked(&b).await, "whatsapp", "Space checks the radio");
        press(&b, Key::Down).await;
        assert_eq!(checked(&b).await, "messenger", "Down moves the choice");
        press(&b, Key::Up).await;
        assert_eq!(checked(&b).await, "whatsapp", "Up moves it back");
        assert_eq!(focused(&b).await, "input:whatsapp");
        // Tab leaves the radio group for the (now enabled) button; Enter sends.
        press(&b, Key::Tab).await;
        assert_eq!(focused(&b).await, "button:Send", "Tab reaches the button");
        press(&b, Key::Enter).await;
        b.wait_js(
            "(document.querySelector('[data-lucarne-survey] [role=status]') || {}).textContent == 'Thank you!'",
            PAGE_TIMEOUT,
            "the thanks in the status region",
        )
        .await;
        assert_eq!(
            b.js("return document.querySelectorAll('form.lucarne-survey, input[name=lucarne-survey]').length")
                .await,
            0,
            "the form is gone"
        );
        assert_eq!(
            b.js("return document.activeElement.getAttribute('role')").await,
            "status",
            "the focus moves to the thanks"
        );
        b.screenshot("survey-thanks").await;

        // 6. The survey page talked to Lucarne only, and nothing set a cookie.
        // Every request of the page (Resource Timing): the two scripts, the tracker's
        // pageview beacon, the survey's GET and its answer, all to Lucarne. Resource Timing
        // leaves out opaque (no-cors) requests, and the CSP blocks requests elsewhere, so
        // its violations are what catches those. The thanks show when the answer's
        // response headers arrive; its Resource Timing entry is added when the body has,
        // a moment later: wait for it.
        b.wait_js(
            "performance.getEntriesByType('resource').some(function (e) { \
             return e.initiatorType == 'fetch' && new URL(e.name).pathname == '/api/event'; })",
            PAGE_TIMEOUT,
            "the answer's timing entry",
        )
        .await;
        let mut requests: Vec<Vec<String>> = b
            .js("return performance.getEntriesByType('resource').map(function (e) { \
                 var u = new URL(e.name); return [u.origin, u.pathname, e.initiatorType]; });")
            .await
            .as_array()
            .expect("resource entries")
            .iter()
            .map(|e| serde_json::from_value(e.clone()).expect("[origin, path, type]"))
            .collect();
        requests.sort();
        let expected: Vec<Vec<String>> = [
            ("/api/event", "beacon"),
            ("/api/event", "fetch"),
            ("/api/survey", "fetch"),
            ("/js/script.js", "script"),
            ("/js/survey.js", "script"),
        ]
        .iter()
        .map(|(path, by)| vec![lc.clone(), path.to_string(), by.to_string()])
        .collect();
        assert_eq!(requests, expected, "the thank-you page's requests");
        assert_eq!(
            b.js("return window.violations").await,
            json!([]),
            "CSP violations (requests outside Lucarne's origin)"
        );
        assert_no_cookies(&b, "the thank-you page").await;

        // 4. Days later, the shop's server reports another purchase with the saved token.
        let conversion = json!({
            "site_id": DOMAIN,
            "token": saved,
            "name": "purchase",
            "revenue": { "amount": "100", "currency": "EUR" },
            "id": "order-1",
        });
        let (status, answer, set_cookie) = api.post("/api/v1/conversions", &conversion).await;
        assert_eq!(status, 202, "server conversion: {answer}");
        assert!(!set_cookie, "the conversion API set a cookie");
        assert_eq!(answer["duplicate"], false, "{answer}");
        let credited = &answer["credited"];
        assert_eq!(credited["channel"], "whatsapp", "{answer}");
        assert_eq!(credited["generation"], 1, "{answer}");
        assert_eq!(credited["channel_group"], "private-message", "{answer}");
        assert_eq!(credited["landing_page"], "/articles/book", "{answer}");
        let visit_b = credited["visit"]
            .as_str()
            .unwrap_or_else(|| panic!("no credited visit: {answer}"))
            .to_string();
        // The same order again is counted once.
        let (status, again, _) = api.post("/api/v1/conversions", &conversion).await;
        assert_eq!(status, 200, "a repeated order: {again}");
        assert_eq!(again["duplicate"], true, "{again}");

        // 5. The reports. B: a WhatsApp visit of generation 1.
        assert_eq!(
            api.table("visit:channel", "visits", "visit:generation==1").await,
            vec![("whatsapp".to_string(), 1)],
            "B's channel"
        );
        assert_eq!(
            api.table("visit:generation", "visits", "").await,
            vec![("0".to_string(), 1), ("1".to_string(), 1)],
            "A and B"
        );

        // Conversions by channel: B's visit, two purchases, 149.90 EUR.
        let by_channel = api
            .wait(
                "/api/v1/stats/conversions",
                &[
                    ("site_id", DOMAIN),
                    ("period", "day"),
                    ("goal", "purchase"),
                    ("by", "visit:channel"),
                ],
                "the server purchase",
                |r| conversions_of(r, "whatsapp") == 2,
            )
            .await;
        assert_eq!(by_channel["by"], "visit:channel", "{by_channel:#}");
        assert_eq!(by_channel["goal"]["value"], "purchase", "{by_channel:#}");
        let whatsapp = row(&by_channel, "whatsapp").expect("whatsapp row");
        assert_eq!(whatsapp["visits"], 1, "{whatsapp}");
        assert_eq!(whatsapp["converting_visits"], 1, "{whatsapp}");
        assert_eq!(whatsapp["conversions"], 2, "{whatsapp}");
        assert_eq!(whatsapp["revenue"]["currency"], "EUR", "{whatsapp}");
        assert_money(&whatsapp["revenue"]["total"], 149.9, "whatsapp revenue");
        assert_money(
            &whatsapp["revenue"]["by_currency"]["EUR"],
            149.9,
            "whatsapp revenue in EUR",
        );
        // A bought nothing: no other row converts.
        let others: Vec<&Value> = by_channel["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["value"] != "whatsapp" && r["conversions"] != 0)
            .collect();
        assert!(others.is_empty(), "conversions elsewhere: {others:?}");
        assert_eq!(
            by_channel["uplift"]["private"]["converting_visits"], 1,
            "{:#}",
            by_channel["uplift"]
        );
        assert_eq!(
            by_channel["uplift"]["private"]["visits"], 1,
            "{:#}",
            by_channel["uplift"]
        );

        // The cascade report: B under A's root, through the share token.
        let cascades = api
            .get_ok(
                "/api/v1/stats/cascades",
                &[("site_id", DOMAIN), ("period", "day")],
            )
            .await;
        let trees = cascades["results"].as_array().expect("cascades");
        assert_eq!(trees.len(), 1, "{cascades:#}");
        let tree = &trees[0];
        assert_eq!(tree["page"], "/articles/book", "{cascades:#}");
        let root = tree["root"].as_str().expect("root").to_string();
        let nodes = tree["nodes"].as_array().expect("nodes");
        assert_eq!(nodes.len(), 2, "{cascades:#}");
        assert_eq!(nodes[0]["visit"], root.as_str(), "{cascades:#}");
        assert_ne!(root, visit_b, "B is the root");
        assert_eq!(nodes[1]["visit"], visit_b.as_str(), "{cascades:#}");
        assert_eq!(nodes[1]["parent"], 0, "{cascades:#}");
        assert_eq!(nodes[1]["generation"], 1, "{cascades:#}");
        assert_eq!(nodes[1]["channel"], "whatsapp", "{cascades:#}");
        assert_eq!(nodes[1]["token"], token_s.as_str(), "{cascades:#}");

        // Conversions by cascade: both purchases credited to A's cascade.
        let by_cascade = api.conversions("cascade").await;
        let rows = by_cascade["rows"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{by_cascade:#}");
        assert_eq!(
            rows[0]["value"],
            format!("{root} · /articles/book"),
            "{by_cascade:#}"
        );
        assert_eq!(rows[0]["conversions"], 2, "{by_cascade:#}");
        assert_eq!(rows[0]["converting_visits"], 1, "{by_cascade:#}");
        assert_money(&rows[0]["revenue"]["total"], 149.9, "the cascade's revenue");

        // The survey report: one WhatsApp answer from a visit measured as private-message.
        let surveys = api
            .wait(
                "/api/v1/stats/surveys",
                &[("site_id", DOMAIN), ("period", "day")],
                "one survey respondent",
                |r| r["respondents"] == 1,
            )
            .await;
        assert_eq!(
            surveys["by_answer"],
            json!([{ "answer": "whatsapp", "respondents": 1 }]),
            "{surveys:#}"
        );
        assert_eq!(
            surveys["matrix"],
            json!([{ "reported": "whatsapp", "measured": "private-message", "respondents": 1 }]),
            "{surveys:#}"
        );
        let dark = &surveys["dark_social"];
        assert!(dark.is_object(), "no dark_social estimate: {surveys:#}");
        assert_eq!(dark["respondents"], 1, "{surveys:#}");
        assert!(
            dark["estimated_percent"].as_f64().is_some_and(|p| p > 0.0 && p <= 100.0),
            "dark-social share: {surveys:#}"
        );

        // No cookie on Lucarne's origin either (the tracker's beacons carry credentials).
        b.goto(&format!("{lc}/api/health"))
            .await
            .expect("B opens Lucarne's origin");
        assert_no_cookies(&b, "Lucarne's origin").await;

        a.close().await;
        b.close().await;
    })
    .await
    .expect("the conversion test took too long");
}
