//! Inviting a colleague end to end: the real binary started with `--smtp-url` pointing at
//! a real SMTP server (aiosmtpd), an owner in headless Chromium inviting an address from
//! the members page, the e-mail arriving with the link the page shows, and a second,
//! fresh browser opening that link, setting a password and landing on the dashboard as a
//! viewer, on a phone-sized window; the link then no longer works.

mod support;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use lucarne_testkit::smtp::SmtpServer;
use serde_json::Value;
use support::{add_site, add_user, Browser, Lucarne};

const PAGE_TIMEOUT: Duration = Duration::from_secs(10);
const TEST_TIMEOUT: Duration = Duration::from_secs(180);
const OWNER: &str = "owner@example.test";
const PASSWORD: &str = "correct horse battery staple";
const COLLEAGUE: &str = "colleague@example.test";
const NEW_PASSWORD: &str = "the colleague's own password";

#[tokio::test]
async fn a_colleague_is_invited_by_e_mail_and_joins_in_a_real_browser() {
    tokio::time::timeout(TEST_TIMEOUT, run())
        .await
        .expect("the invitation browser test timed out");
}

async fn run() {
    let smtp = SmtpServer::start().unwrap_or_else(|e| panic!("{e:#}"));
    let dir = tempfile::tempdir().expect("tempdir");
    add_site(dir.path(), "example.test");
    add_user(dir.path(), OWNER, PASSWORD, &["example.test"]);
    let lucarne = Lucarne::start_with_env(
        dir.path(),
        &[
            ("LUCARNE_SMTP_URL", &smtp.url()),
            ("LUCARNE_MAIL_FROM", "Lucarne <stats@example.test>"),
        ],
    );

    // The owner invites a colleague from the members page.
    let browser = Browser::start();
    let owner = browser.session().await;
    owner
        .goto(&format!("{}/sites/example.test/members", lucarne.url()))
        .await
        .expect("goto");
    owner.log_in(OWNER, PASSWORD, PAGE_TIMEOUT).await;
    owner
        .wait_js(
            "document.querySelector('form input[name=email]') && location.pathname.endsWith('/members')",
            PAGE_TIMEOUT,
            "the members page",
        )
        .await;
    owner
        .find(Locator::Css("form input[name=email]"))
        .await
        .expect("e-mail field")
        .send_keys(COLLEAGUE)
        .await
        .expect("type");
    owner
        .find(Locator::Css(
            "form:has(input[name=action][value=add]) button[type=submit]",
        ))
        .await
        .expect("the invite button")
        .click()
        .await
        .expect("click");
    owner
        .wait_js(
            "document.getElementById('invite-link')",
            PAGE_TIMEOUT,
            "the invitation's link",
        )
        .await;
    assert_eq!(
        owner
            .js("return document.getElementById('invited').dataset.mail")
            .await,
        "invite_sent"
    );
    let link = owner
        .js("return document.getElementById('invite-link').innerText.trim()")
        .await;
    let link = link.as_str().unwrap_or_default().to_string();
    assert!(
        link.starts_with(&format!("{}/invite/", lucarne.url())),
        "{link}"
    );
    assert!(owner
        .js("return document.getElementById('pending').innerText")
        .await
        .as_str()
        .unwrap_or_default()
        .contains(COLLEAGUE));
    owner.screenshot("team-invited").await;

    // The e-mail, received by the SMTP server, carries the same link.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mail = loop {
        if let Some(m) = smtp.messages().into_iter().next() {
            break m;
        }
        assert!(Instant::now() < deadline, "no invitation e-mail");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(mail.contains(&format!("X-RcptTo: {COLLEAGUE}")), "{mail}");
    let text = lucarne_testkit::smtp::decoded(&mail);
    assert!(text.contains(&link), "{text}");

    // The colleague, in another browser on a phone, follows it and sets a password.
    let colleague = browser.session().await;
    colleague
        .set_window_size(390, 844)
        .await
        .expect("phone size");
    colleague.goto(&link).await.expect("goto the invitation");
    colleague
        .wait_js(
            "document.querySelector('#invite input[name=password]')",
            PAGE_TIMEOUT,
            "the invitation form",
        )
        .await;
    assert!(colleague
        .js("return document.getElementById('invite').innerText")
        .await
        .as_str()
        .unwrap_or_default()
        .contains(COLLEAGUE));
    colleague.screenshot("team-invitation-phone").await;
    for field in ["password", "password2"] {
        colleague
            .find(Locator::Css(&format!("#invite input[name={field}]")))
            .await
            .expect("password field")
            .send_keys(NEW_PASSWORD)
            .await
            .expect("type");
    }
    colleague
        .find(Locator::Css("#invite button[type=submit]"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("click");
    colleague
        .wait_js(
            "location.pathname === '/sites/example.test' && document.getElementById('headline')",
            PAGE_TIMEOUT,
            "the dashboard after accepting",
        )
        .await;
    // A viewer: no settings tab.
    assert_eq!(
        colleague
            .js("return document.querySelectorAll('a[href=\"/sites/example.test/settings\"]').length")
            .await,
        Value::from(0)
    );
    colleague.screenshot("team-joined-phone").await;

    // The link has done its work.
    let http = reqwest::Client::new();
    let again = http.get(&link).send().await.expect("GET the link again");
    assert_eq!(again.status().as_u16(), 404);

    // The owner's members page lists the colleague as a viewer, and no pending invitation.
    owner
        .goto(&format!("{}/sites/example.test/members", lucarne.url()))
        .await
        .expect("goto");
    owner
        .wait_js(
            "document.querySelector('section.members table')",
            PAGE_TIMEOUT,
            "the members page again",
        )
        .await;
    let members = owner
        .js("return document.querySelector('section.members table').innerText")
        .await;
    assert!(
        members.as_str().unwrap_or_default().contains(COLLEAGUE),
        "{members}"
    );
    assert_eq!(
        owner.js("return document.getElementById('pending')").await,
        Value::Null
    );
    owner.close().await;
    colleague.close().await;
}
