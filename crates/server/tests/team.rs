//! Self-serve teams through `app(state)`, with invitations e-mailed to a real SMTP server
//! (aiosmtpd, `lucarne_testkit::smtp`): inviting, accepting with a new password, reusing
//! and withdrawing links, the account page (password change, leaving), deleting a site
//! with its events, the public URL administrators set and the per-site short domain.

use std::time::Duration;

use axum::http::StatusCode;
use lucarne_core::stats::ReportQuery;
use lucarne_server::mail::Mailer;
use lucarne_server::ServerOptions;
use lucarne_store::meta::Role;
use lucarne_testkit::smtp::SmtpServer;

mod common;
use common::{
    add_member_session, bare_harness_with, cookie, field, send_page, Harness, Page, Req, CHROME,
    OWNER, OWNER_CSRF,
};

const HOST: &[(&str, &str)] = &[("host", "stats.test"), ("user-agent", CHROME)];
const PASSWORD: &str = "a long enough password";

struct T {
    h: Harness,
    smtp: SmtpServer,
    site_id: u32,
}

/// example.com and its owner ([`OWNER`]), with e-mail going to a real SMTP server.
async fn setup() -> T {
    let smtp = SmtpServer::start().unwrap_or_else(|e| panic!("{e:#}"));
    let options = ServerOptions {
        mailer: Some(
            Mailer::new(&smtp.url(), "Lucarne <stats@example.test>")
                .unwrap_or_else(|e| panic!("{e}")),
        ),
        ..ServerOptions::default()
    };
    let h = bare_harness_with(&options).await;
    let site = h
        .state
        .meta
        .add_site("example.com", "UTC")
        .await
        .expect("site");
    add_member_session(
        &h.state.meta,
        "owner@example.com",
        site.id,
        Role::Owner,
        OWNER,
        OWNER_CSRF,
    )
    .await;
    T {
        h,
        smtp,
        site_id: site.id,
    }
}

impl T {
    async fn get(&self, uri: &str, cookie: Option<&str>) -> Page {
        send_page(&self.h.router, Req::get(uri).cookie(cookie).headers(HOST)).await
    }

    async fn post(&self, uri: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Page {
        send_page(
            &self.h.router,
            Req::post(uri, form).cookie(cookie).headers(HOST),
        )
        .await
    }

    /// As the owner, invite `email` with `role`; the link shown.
    async fn invite(&self, email: &str, role: &str) -> (Page, String) {
        let owner = cookie(OWNER);
        let r = self
            .post(
                "/sites/example.com/members",
                Some(&owner),
                &[
                    ("csrf", OWNER_CSRF),
                    ("action", "add"),
                    ("email", email),
                    ("role", role),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let at = r.body.find("id=\"invite-link\">").expect("the link shown") + 17;
        let link = r.body[at..r.body[at..].find('<').map_or(r.body.len(), |e| at + e)].to_string();
        (r, link)
    }

    /// Accept the invitation at `link` with `password` twice; the answer.
    async fn accept(&self, link: &str, password: &str, password2: &str) -> Page {
        let path = link.trim_start_matches("http://stats.test");
        let form = self.get(path, None).await;
        assert_eq!(form.status, StatusCode::OK, "{path}: {}", form.body);
        let pre = form.cookie("lucarne_pre");
        let csrf = field(&form.body, "csrf").expect("csrf field");
        self.post(
            path,
            Some(&pre),
            &[
                ("csrf", &csrf),
                ("password", password),
                ("password2", password2),
            ],
        )
        .await
    }
}

#[tokio::test]
async fn an_invitation_is_e_mailed_and_makes_an_account_once() {
    let t = setup().await;
    let (page, link) = t.invite("New.Colleague@Example.test", "viewer").await;
    assert!(
        page.body.contains("data-mail=\"invite_sent\""),
        "{}",
        page.body
    );
    assert!(link.starts_with("http://stats.test/invite/"), "{link}");
    assert!(page.body.contains("id=\"pending\""), "listed as pending");
    // The e-mail, received by a real SMTP server, carries the same link.
    let mail = t
        .smtp
        .wait_for(1, Duration::from_secs(20))
        .expect("the invitation e-mail");
    assert_eq!(mail.len(), 1);
    assert!(
        mail[0].contains("X-RcptTo: new.colleague@example.test"),
        "{}",
        mail[0]
    );
    assert!(mail[0].contains("Subject: Your invitation to example.com's statistics"));
    let text = lucarne_testkit::smtp::decoded(&mail[0]);
    assert!(text.contains(&link), "{text}");
    assert!(text.contains("owner@example.com invites you"), "{text}");

    // Different passwords: refused, nothing made.
    let r = t.accept(&link, PASSWORD, "another long password").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let m = &t.h.state.meta;
    assert!(m
        .user_by_email("new.colleague@example.test")
        .await
        .expect("q")
        .is_none());
    // A short one: refused too.
    assert_eq!(
        t.accept(&link, "short", "short").await.status,
        StatusCode::BAD_REQUEST
    );

    let r = t.accept(&link, PASSWORD, PASSWORD).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/sites/example.com");
    let session = r.cookie("lucarne_session");
    // Logged in, as a viewer: the dashboard opens, the settings do not.
    assert_eq!(
        t.get("/sites/example.com", Some(&session)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get("/sites/example.com/settings", Some(&session))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let members = m.members(t.site_id).await.expect("members");
    assert!(members
        .iter()
        .any(|x| x.email == "new.colleague@example.test" && x.role == Role::Viewer));
    assert!(m.invitations(t.site_id).await.expect("pending").is_empty());

    // The link works once.
    let path = link.trim_start_matches("http://stats.test");
    let again = t.get(path, None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert!(
        !again.body.contains("example.com"),
        "says nothing of the site"
    );

    // A withdrawn invitation's link is dead too.
    let (_, link2) = t.invite("later@example.test", "owner").await;
    let pending = m.invitations(t.site_id).await.expect("pending");
    assert_eq!(pending.len(), 1);
    let r = t
        .post(
            "/sites/example.com/members",
            Some(&cookie(OWNER)),
            &[
                ("csrf", OWNER_CSRF),
                ("action", "revoke_invite"),
                ("id", &pending[0].token_hash),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let path2 = link2.trim_start_matches("http://stats.test");
    assert_eq!(t.get(path2, None).await.status, StatusCode::NOT_FOUND);
    assert!(m
        .user_by_email("later@example.test")
        .await
        .expect("q")
        .is_none());
}

#[tokio::test]
async fn an_existing_account_gets_the_role_and_logs_in_with_its_own_password() {
    let t = setup().await;
    let m = &t.h.state.meta;
    // Invited before having an account, which is then made another way (the CLI).
    let (_, link) = t.invite("known@example.test", "viewer").await;
    m.create_user("known@example.test", "not-a-real-hash", None)
        .await
        .expect("account");
    let path = link.trim_start_matches("http://stats.test");
    let form = t.get(path, None).await;
    assert!(
        form.body.contains("has an account already"),
        "{}",
        form.body
    );
    assert!(
        !form.body.contains("name=\"password\""),
        "no password to set"
    );
    let pre = form.cookie("lucarne_pre");
    let csrf = field(&form.body, "csrf").expect("csrf");
    let r = t.post(path, Some(&pre), &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login?next=%2Fsites%2Fexample.com");
    assert!(
        r.set_cookie("lucarne_session").is_none(),
        "no session without the password"
    );
    let known = m
        .user_by_email("known@example.test")
        .await
        .expect("q")
        .expect("kept");
    assert_eq!(known.password_hash, "not-a-real-hash", "password untouched");
    assert!(m
        .members(t.site_id)
        .await
        .expect("members")
        .iter()
        .any(|x| x.user_id == known.id && x.role == Role::Viewer));
}

#[tokio::test]
async fn the_account_page_changes_the_password_and_leaves_sites() {
    let t = setup().await;
    let (_, link) = t.invite("me@example.test", "owner").await;
    let r = t.accept(&link, PASSWORD, PASSWORD).await;
    let me = r.cookie("lucarne_session");
    // A second login of the same account, to be ended by the change.
    let m = &t.h.state.meta;
    let user = m
        .user_by_email("me@example.test")
        .await
        .expect("q")
        .expect("made");
    m.create_web_session(
        &blake3::hash("2".repeat(64).as_bytes()).to_hex(),
        user.id,
        "second-csrf",
        chrono::Utc::now() + chrono::Duration::days(1),
    )
    .await
    .expect("second session");
    let second = cookie(&"2".repeat(64));
    assert_eq!(
        t.get("/settings/account", Some(&second)).await.status,
        StatusCode::OK
    );

    let page = t.get("/settings/account", Some(&me)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("me@example.test"));
    assert!(
        page.body.contains("id=\"account-language\""),
        "the language lives here"
    );
    assert!(
        !page.body.contains("id=\"instance\""),
        "not an administrator"
    );
    let csrf = field(&page.body, "csrf").expect("csrf");
    let change = |current: &'static str, new: &'static str| {
        let csrf = csrf.clone();
        let me = me.clone();
        let t = &t;
        async move {
            t.post(
                "/settings/account",
                Some(&me),
                &[
                    ("csrf", &csrf),
                    ("action", "password"),
                    ("current", current),
                    ("password", new),
                    ("password2", new),
                ],
            )
            .await
        }
    };
    let wrong = change("not my password at all", "a brand new password").await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("The current password is not right."));
    let before = m
        .user_by_id(user.id)
        .await
        .expect("q")
        .expect("u")
        .password_hash;
    assert_eq!(before, user.password_hash, "unchanged after a refusal");
    let ok = change(PASSWORD, "a brand new password").await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let after = m
        .user_by_id(user.id)
        .await
        .expect("q")
        .expect("u")
        .password_hash;
    assert_ne!(after, before);
    assert!(lucarne_server::web::auth::verify_password(
        "a brand new password",
        &after
    ));
    // This session goes on; the other one is over.
    assert_eq!(
        t.get("/settings/account", Some(&me)).await.status,
        StatusCode::OK
    );
    assert_eq!(
        t.get("/settings/account", Some(&second)).await.status,
        StatusCode::SEE_OTHER
    );

    // Leaving: the invited owner may leave (the first owner stays); the last owner may not.
    let leave = |who: &str, csrf: &str| {
        let (who, csrf) = (who.to_string(), csrf.to_string());
        let t = &t;
        async move {
            t.post(
                "/settings/account",
                Some(&who),
                &[
                    ("csrf", &csrf),
                    ("action", "leave"),
                    ("domain", "example.com"),
                ],
            )
            .await
        }
    };
    assert_eq!(leave(&me, &csrf).await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        t.get("/sites/example.com", Some(&me)).await.status,
        StatusCode::NOT_FOUND
    );
    let last = leave(&cookie(OWNER), OWNER_CSRF).await;
    assert_eq!(last.status, StatusCode::BAD_REQUEST);
    assert!(last.body.contains("You are the last owner of example.com"));
    assert_eq!(m.members(t.site_id).await.expect("members").len(), 1);
}

#[tokio::test]
async fn deleting_a_site_takes_its_data_after_typing_its_domain() {
    let t = setup().await;
    let body = r#"{"n":"pageview","u":"https://example.com/","d":"example.com"}"#;
    let (st, _) = t.h.event_from(body, CHROME, [203, 0, 113, 5]).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let count = || {
        let q = ReportQuery {
            site_id: t.site_id,
            from: chrono::Utc::now() - chrono::Duration::days(1),
            to: chrono::Utc::now() + chrono::Duration::minutes(5),
            filters: Vec::new(),
            conditions: Vec::new(),
            with_sessions: false,
            with_shares: false,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let n = t.h.state.events.aggregate(&q).expect("aggregate").pageviews;
            if n > 0 || std::time::Instant::now() > deadline {
                return n;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert_eq!(count(), 1);
    let settings = t
        .get("/sites/example.com/settings", Some(&cookie(OWNER)))
        .await;
    assert!(settings.body.contains("id=\"delete-site\""));
    let wrong = t
        .post(
            "/sites/example.com/delete",
            Some(&cookie(OWNER)),
            &[("csrf", OWNER_CSRF), ("confirm", "example.org")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(t
        .h
        .state
        .meta
        .site_by_domain("example.com")
        .await
        .expect("q")
        .is_some());
    let r = t
        .post(
            "/sites/example.com/delete",
            Some(&cookie(OWNER)),
            &[("csrf", OWNER_CSRF), ("confirm", " Example.com ")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/sites?deleted=1");
    assert!(t
        .h
        .state
        .meta
        .site_by_domain("example.com")
        .await
        .expect("q")
        .is_none());
    assert_eq!(
        t.get("/sites/example.com", Some(&cookie(OWNER)))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(count(), 0, "its events are gone");
    // Its events are refused from now on.
    let (st, _) = t.h.event_from(body, CHROME, [203, 0, 113, 6]).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn administrators_set_the_public_url_and_owners_a_short_domain() {
    let t = setup().await;
    let m = &t.h.state.meta;
    let owner = m
        .user_by_email("owner@example.com")
        .await
        .expect("q")
        .expect("owner");
    let set = |url: &'static str| {
        let t = &t;
        async move {
            t.post(
                "/settings/account",
                Some(&cookie(OWNER)),
                &[
                    ("csrf", OWNER_CSRF),
                    ("action", "public_url"),
                    ("public_url", url),
                ],
            )
            .await
        }
    };
    assert_eq!(
        set("https://stats.example.com").await.status,
        StatusCode::FORBIDDEN
    );
    m.set_admin(owner.id, true).await.expect("admin");
    let page = t.get("/settings/account", Some(&cookie(OWNER))).await;
    assert!(page.body.contains("id=\"public-url\""), "{}", page.body);
    assert_eq!(set("not a url").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        set("https://stats.example.com/").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        t.h.state.public_url().as_deref(),
        Some("https://stats.example.com")
    );
    // Invitations and short links use it, and the loopback warning is gone.
    let (_, link) = t.invite("x@example.test", "viewer").await;
    assert!(
        link.starts_with("https://stats.example.com/invite/"),
        "{link}"
    );
    let links = t
        .get("/sites/example.com/links", Some(&cookie(OWNER)))
        .await;
    assert!(!links.body.contains("id=\"private-base\""));

    // A short domain for the site: not Lucarne's own host, then one of its own.
    let settings = |d: &'static str| {
        let t = &t;
        async move {
            t.post(
                "/sites/example.com/settings",
                Some(&cookie(OWNER)),
                &[
                    ("csrf", OWNER_CSRF),
                    ("timezone", "UTC"),
                    ("share_param_style", "fragment"),
                    ("currency", "EUR"),
                    ("short_domain", d),
                ],
            )
            .await
        }
    };
    assert_eq!(
        settings("stats.example.com").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(settings("stats.test").await.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        settings("Go.Example.com").await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(
        t.h.state
            .site_options(t.site_id)
            .await
            .expect("o")
            .short_domain,
        "go.example.com"
    );
    let form = t
        .get("/sites/example.com/settings", Some(&cookie(OWNER)))
        .await;
    assert!(form.body.contains("value=\"go.example.com\""));
    // A link made on the Links tab gets it.
    let r = t
        .post(
            "/sites/example.com/links",
            Some(&cookie(OWNER)),
            &[
                ("csrf", OWNER_CSRF),
                ("action", "create"),
                ("url", "https://example.com/offer"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let made = m.links(t.site_id).await.expect("links");
    assert_eq!(made.len(), 1);
    assert_eq!(made[0].domain, "go.example.com");
}
