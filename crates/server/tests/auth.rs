//! Accounts and access control, driven through `app(state)` with `oneshot`: first-run
//! setup, login and logout, the authorization matrix (every HTML route as an anonymous
//! visitor, a viewer of another site, a viewer and an owner), CSRF, login rate limits,
//! shared links and user API keys.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use lucarne_core::conversions::GoalKind;
use lucarne_core::funnel::Funnel;
use lucarne_core::token::Token;
use lucarne_server::web::auth::{hash_password, shared_access, Role};
use lucarne_server::{AppState, ServerOptions};
use lucarne_store::meta::{KeyScope, LinkInput};
use tower::ServiceExt;

/// The stores (embedded, or ClickHouse + PostgreSQL with `LUCARNE_TEST_BACKEND=scale`).
mod common;
use common::{field, send_page, Page, Req, IP};

const PASSWORD: &str = "correct horse battery staple";
const CHROME: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

struct Harness {
    h: common::Harness,
    state: Arc<AppState>,
    router: Router,
}

impl From<common::Harness> for Harness {
    fn from(h: common::Harness) -> Self {
        Harness {
            state: h.state.clone(),
            router: h.router.clone(),
            h,
        }
    }
}

/// A logged-in browser: its session cookie and the session's CSRF token.
#[derive(Clone)]
struct Browser {
    cookie: String,
    csrf: String,
}

async fn empty_harness() -> Harness {
    common::bare_harness().await.into()
}

/// Two sites; `owner@a` owns a.example, `viewer@a` views it, `viewer@b` views b.example.
async fn harness() -> Harness {
    let h = empty_harness().await;
    let m = &h.state.meta;
    let hash = hash_password(PASSWORD).expect("hash");
    let a = m.add_site("a.example", "UTC").await.expect("site a");
    let b = m.add_site("b.example", "UTC").await.expect("site b");
    for (email, site, role) in [
        ("owner@a.test", a.id, Role::Owner),
        ("viewer@a.test", a.id, Role::Viewer),
        ("viewer@b.test", b.id, Role::Viewer),
        ("owner@b.test", b.id, Role::Owner),
    ] {
        let u = m.create_user(email, &hash, None).await.expect("user");
        m.set_member(site, u.id, role).await.expect("member");
    }
    h
}

impl Harness {
    async fn send_from(&self, req: Request<Body>, ip: [u8; 4]) -> Page {
        self.h.send_text_from(req, ip).await
    }

    async fn get(&self, uri: &str, cookie: Option<&str>) -> Page {
        send_page(&self.router, Req::get(uri).cookie(cookie)).await
    }

    async fn post_from(
        &self,
        uri: &str,
        cookie: Option<&str>,
        form: &[(&str, &str)],
        ip: [u8; 4],
    ) -> Page {
        send_page(&self.router, Req::post(uri, form).cookie(cookie).from(ip)).await
    }

    async fn post(&self, uri: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Page {
        self.post_from(uri, cookie, form, IP).await
    }

    /// GET /login: the pre-login cookie (`lucarne_pre=…`) and the form's token.
    async fn pre(&self, path: &str) -> (String, String) {
        let r = self.get(path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
        let set = r.set_cookie("lucarne_pre").expect("pre cookie");
        let cookie = set.split(';').next().expect("cookie").to_string();
        let token = field(&r.body, "csrf").expect("csrf field");
        assert_eq!(cookie, format!("lucarne_pre={token}"));
        (cookie, token)
    }

    async fn try_login_from(&self, email: &str, password: &str, ip: [u8; 4]) -> Page {
        let (pre, token) = self.pre("/login").await;
        self.post_from(
            "/login",
            Some(&pre),
            &[
                ("csrf", &token),
                ("email", email),
                ("password", password),
                ("next", "/sites"),
            ],
            ip,
        )
        .await
    }

    async fn login(&self, email: &str) -> Browser {
        let r = self.try_login_from(email, PASSWORD, IP).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let set = r.set_cookie("lucarne_session").expect("session cookie");
        assert!(set.contains("HttpOnly"), "{set}");
        assert!(set.contains("SameSite=Lax"), "{set}");
        assert!(!set.contains("Secure"), "plain HTTP: {set}");
        let cookie = set.split(';').next().expect("cookie").to_string();
        let page = self.get("/sites", Some(&cookie)).await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = field(&page.body, "csrf").expect("csrf on /sites");
        Browser { cookie, csrf }
    }
}

#[tokio::test]
async fn first_run_setup_creates_the_owner_then_disappears() {
    let h = empty_harness().await;
    // A site registered from the CLI before any account exists.
    h.state
        .meta
        .add_site("cli.example", "UTC")
        .await
        .expect("site");
    let r = h.get("/", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/setup");
    assert_eq!(h.get("/login", None).await.location(), "/setup");

    let (pre, token) = h.pre("/setup").await;
    let form = |csrf: &'static str| {
        [
            ("csrf", csrf),
            ("email", "Boss@Example.com"),
            ("password", PASSWORD),
            ("password2", PASSWORD),
        ]
    };
    // Without the pre-login token: refused, no account.
    let r = h.post("/setup", Some(&pre), &form("")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(h.state.meta.user_count().await.unwrap(), 0);
    // Too-short password: 400, no account.
    let r = h
        .post(
            "/setup",
            Some(&pre),
            &[
                ("csrf", &token),
                ("email", "boss@example.com"),
                ("password", "short"),
                ("password2", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(h.state.meta.user_count().await.unwrap(), 0);

    let r = h
        .post(
            "/setup",
            Some(&pre),
            &[
                ("csrf", &token),
                ("email", "Boss@Example.com"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/sites");
    let cookie = r
        .set_cookie("lucarne_session")
        .expect("logged in")
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = h.get("/sites", Some(&cookie)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("boss@example.com"),
        "normalised e-mail shown"
    );
    assert!(
        page.body.contains("cli.example"),
        "the CLI site got its owner"
    );
    assert!(page.body.contains("/static/app.css"));

    // Setup is gone for good.
    assert_eq!(h.get("/setup", None).await.status, StatusCode::NOT_FOUND);
    let r = h
        .post(
            "/setup",
            Some(&pre),
            &[
                ("csrf", &token),
                ("email", "evil@example.com"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(h.state.meta.user_count().await.unwrap(), 1);
    assert_eq!(h.get("/", None).await.location(), "/login");
    assert_eq!(h.get("/", Some(&cookie)).await.location(), "/sites");
}

#[tokio::test]
async fn login_logout() {
    let h = harness().await;
    // Not logged in: redirect to login with the page to come back to.
    let r = h.get("/sites/a.example/settings", None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login?next=%2Fsites%2Fa.example%2Fsettings");
    let login_page = h
        .get("/login?next=%2Fsites%2Fa.example%2Fsettings", None)
        .await;
    assert_eq!(
        field(&login_page.body, "next").as_deref(),
        Some("/sites/a.example/settings")
    );

    // Wrong password, unknown account, missing CSRF: no session.
    for (email, pw) in [
        ("owner@a.test", "wrong password!"),
        ("nobody@a.test", PASSWORD),
    ] {
        let r = h.try_login_from(email, pw, IP).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.set_cookie("lucarne_session").is_none());
        assert!(r.body.contains("Wrong e-mail or password"));
    }
    let (pre, _) = h.pre("/login").await;
    let r = h
        .post(
            "/login",
            Some(&pre),
            &[("email", "owner@a.test"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.set_cookie("lucarne_session").is_none());

    // Success (case-insensitive e-mail), then `next` is followed only when local.
    let (pre, token) = h.pre("/login").await;
    let r = h
        .post(
            "/login",
            Some(&pre),
            &[
                ("csrf", &token),
                ("email", "OWNER@a.test"),
                ("password", PASSWORD),
                ("next", "//evil.example/x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/sites", "no open redirect");
    let b = h.login("owner@a.test").await;
    assert_eq!(h.get("/login", Some(&b.cookie)).await.location(), "/sites");
    assert_eq!(
        h.get("/sites/a.example/settings", Some(&b.cookie))
            .await
            .status,
        StatusCode::OK
    );

    // Logout needs the CSRF token.
    let r = h
        .post("/logout", Some(&b.cookie), &[("csrf", "nope")])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.get("/sites", Some(&b.cookie)).await.status,
        StatusCode::OK
    );
    let r = h
        .post("/logout", Some(&b.cookie), &[("csrf", &b.csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r
        .set_cookie("lucarne_session")
        .is_some_and(|c| c.contains("Max-Age=0")));
    // The old cookie is dead on the server, not only in the browser.
    let r = h.get("/sites", Some(&b.cookie)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/login"));
}

/// A harness with `options` and one account (`p@x.test`), the login form's pre-session
/// cookie and a filled-in login body.
async fn login_harness(options: ServerOptions) -> (Harness, String, String) {
    let h: Harness = common::bare_harness_with(&options).await.into();
    h.state
        .meta
        .create_user("p@x.test", &hash_password(PASSWORD).unwrap(), None)
        .await
        .unwrap();
    let (pre, token) = h.pre("/login").await;
    let body = serde_urlencoded::to_string([
        ("csrf", token.as_str()),
        ("email", "p@x.test"),
        ("password", PASSWORD),
    ])
    .unwrap();
    (h, pre, body)
}

#[tokio::test]
async fn session_cookie_is_secure_behind_a_tls_proxy() {
    let (h, pre, body) = login_harness(ServerOptions {
        trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
        ..ServerOptions::default()
    })
    .await;
    let req = |proto: &str| {
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &pre)
            .header("x-forwarded-proto", proto)
            .header("x-forwarded-for", "198.51.100.7")
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let r = h.send_from(req("https"), [10, 0, 0, 1]).await;
    assert!(r
        .set_cookie("lucarne_session")
        .unwrap()
        .contains("; Secure"));
    // The same header from an untrusted peer is ignored.
    let r = h.send_from(req("https"), [192, 0, 2, 1]).await;
    assert!(!r.set_cookie("lucarne_session").unwrap().contains("Secure"));
}

/// `--public-url https://…` (or `public_url` in the TOML file) marks the session cookie
/// Secure without any proxy header.
#[tokio::test]
async fn session_cookie_is_secure_when_the_public_url_is_https() {
    for (public_url, secure) in [
        (Some("https://stats.example.com"), true),
        (Some("http://stats.example.com"), false),
        (None, false),
    ] {
        let (h, pre, body) = login_harness(ServerOptions {
            public_url: public_url.map(str::to_string),
            ..ServerOptions::default()
        })
        .await;
        let req = Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, &pre)
            .body(Body::from(body))
            .unwrap();
        let r = h.send_from(req, [192, 0, 2, 1]).await;
        let set = r.set_cookie("lucarne_session").expect("session cookie");
        assert_eq!(set.contains("; Secure"), secure, "{public_url:?}: {set}");
    }
}

/// What a request must get.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// 403 or 404: a viewer on an owner page.
    Denied,
    Ok,
    /// The dashboard's pages: 200 once they exist, 404 until then.
    OkOrMissing,
}

/// One imported day on a site (for the forms that delete imports).
async fn an_import(h: &Harness, site_id: u32) -> i64 {
    let row = lucarne_core::imported::ImportedRow {
        date: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
        table: lucarne_core::imported::Table::Visitors,
        keys: Vec::new(),
        numbers: lucarne_core::imported::Numbers {
            visitors: 1,
            ..Default::default()
        },
    };
    h.state
        .meta
        .create_import(site_id, "plausible", &["v.csv".into()], &[row], &mut |_| {})
        .await
        .unwrap()
        .id
}

#[tokio::test]
async fn authorization_matrix() {
    let h = harness().await;
    let owner = h.login("owner@a.test").await;
    let viewer = h.login("viewer@a.test").await;
    let stranger = h.login("viewer@b.test").await;
    let a = h
        .state
        .meta
        .site_by_domain("a.example")
        .await
        .unwrap()
        .unwrap();
    let token = h
        .state
        .meta
        .create_shared_link(a.id, "press")
        .await
        .unwrap();
    let share = format!("/share/{token}");
    // A small cascade on a.example for the Sharing view's drill-down: a visit with token
    // `root`, then another visitor opening the address from its bar.
    let root = Token::from_bits(0x51).expect("token").to_string();
    let child = Token::from_bits(0x52).expect("token").to_string();
    for (ip, url, t) in [
        (
            [198, 51, 100, 1],
            "https://a.example/p".to_string(),
            root.clone(),
        ),
        (
            [198, 51, 100, 2],
            format!("https://a.example/p#lc={root}"),
            child,
        ),
    ] {
        let body = format!(r#"{{"n":"pageview","u":"{url}","d":"a.example","t":"{t}"}}"#);
        let req = Request::post("/api/event")
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::USER_AGENT, CHROME)
            .body(Body::from(body))
            .expect("req");
        assert_eq!(h.send_from(req, ip).await.status, StatusCode::ACCEPTED);
    }
    let cascade = format!("/sites/a.example/cascades/{root}");
    // A short link on a.example for the Links view, and one on b.example.
    let link = |slug: &str| LinkInput {
        slug: slug.into(),
        target: format!("https://example.org/{slug}"),
        redirect: 302,
        ..LinkInput::default()
    };
    let a_link = h
        .state
        .meta
        .create_link(a.id, &link("matrix"))
        .await
        .unwrap();
    let b_site = h
        .state
        .meta
        .site_by_domain("b.example")
        .await
        .unwrap()
        .unwrap();
    let b_link = h
        .state
        .meta
        .create_link(b_site.id, &link("other"))
        .await
        .unwrap();
    let lk = format!("/sites/a.example/links/{}", a_link.id);
    // A goal on a.example for the Conversions view's delete form.
    let a_goal = h
        .state
        .meta
        .create_goal(a.id, &GoalKind::parse("event", "purchase").unwrap(), "")
        .await
        .unwrap()
        .expect("goal");
    let goal_id = a_goal.id.to_string();
    // A funnel on a.example for the Funnels view's report and delete form.
    let a_funnel = h
        .state
        .meta
        .create_funnel(
            a.id,
            "Checkout",
            &Funnel::parse_inline("page:/pricing|event:purchase").unwrap(),
        )
        .await
        .unwrap()
        .expect("funnel");
    let funnel_id = a_funnel.id.to_string();
    let import_delete = format!(
        "/sites/a.example/imports/{}/delete",
        an_import(&h, a.id).await
    );

    // Site-specific GET routes: (path, is it an owner-only page?, served by the dashboard?)
    let site_routes: Vec<(String, bool, bool)> = vec![
        ("/sites/a.example".into(), false, true),
        ("/sites/a.example/shares".into(), false, true),
        (
            "/sites/a.example/shares?period=7d&lang=fr".into(),
            false,
            true,
        ),
        (cascade.clone(), false, true),
        ("/sites/a.example/export/pages.csv".into(), false, true),
        ("/sites/a.example/realtime".into(), false, true),
        (
            "/sites/a.example?period=7d&f=visit:channel_group==private-message".into(),
            false,
            true,
        ),
        ("/sites/a.example/links".into(), false, false),
        (
            "/sites/a.example/links?lang=fr&created=1".into(),
            false,
            false,
        ),
        (lk.clone(), false, false),
        (format!("{lk}?period=7d&lang=fr"), false, false),
        (format!("{lk}/qr.svg"), false, false),
        (format!("{lk}/qr.png?size=128&download=1"), false, false),
        ("/sites/a.example/conversions".into(), false, false),
        (
            "/sites/a.example/conversions?period=7d&by=visit:channel&lang=fr".into(),
            false,
            false,
        ),
        ("/sites/a.example/funnels".into(), false, false),
        (
            format!("/sites/a.example/funnels?period=7d&funnel={funnel_id}&by=channel&lang=fr"),
            false,
            false,
        ),
        // Without `check=1`: the cards already checked, nothing fetched.
        ("/sites/a.example/cards".into(), false, false),
        (
            "/sites/a.example/cards?period=7d&lang=fr".into(),
            false,
            false,
        ),
        ("/sites/a.example/settings".into(), true, false),
        ("/sites/a.example/members".into(), true, false),
        ("/sites/a.example/shared-links".into(), true, false),
        // A member's own e-mails: viewers too.
        ("/sites/a.example/notifications".into(), false, false),
    ];
    let mut dashboard_present = false;
    for (path, owner_only, dashboard) in &site_routes {
        let anon = h.get(path, None).await;
        assert!(
            (anon.status == StatusCode::SEE_OTHER && anon.location().starts_with("/login"))
                || anon.status == StatusCode::NOT_FOUND,
            "anonymous {path}: {}",
            anon.status
        );
        assert!(!anon.body.contains("a.example"), "anonymous {path} leaks");
        let s = h.get(path, Some(&stranger.cookie)).await;
        assert_eq!(
            s.status,
            StatusCode::NOT_FOUND,
            "viewer of another site, {path}"
        );
        assert!(
            !s.body.contains("a.example"),
            "viewer of another site, {path} leaks"
        );
        // Same for a site that does not exist: indistinguishable.
        let missing = h
            .get(
                &path.replace("a.example", "zzz.example"),
                Some(&stranger.cookie),
            )
            .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);

        let o = h.get(path, Some(&owner.cookie)).await;
        let v = h.get(path, Some(&viewer.cookie)).await;
        let (eo, ev) = match (owner_only, dashboard) {
            (true, _) => (Expect::Ok, Expect::Denied),
            (false, true) => (Expect::OkOrMissing, Expect::OkOrMissing),
            (false, false) => (Expect::Ok, Expect::Ok),
        };
        for (who, r, e) in [("owner", &o, eo), ("viewer", &v, ev)] {
            let ok = match e {
                Expect::Ok => r.status == StatusCode::OK,
                Expect::Denied => matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
                Expect::OkOrMissing => matches!(r.status, StatusCode::OK | StatusCode::NOT_FOUND),
            };
            assert!(ok, "{who} {path}: {} ({e:?})", r.status);
        }
        eprintln!("{path}: owner {} viewer {}", o.status, v.status);
        if *dashboard {
            // Once the dashboard serves it, owner and viewer both see it.
            assert_eq!(o.status, v.status, "{path}: owner and viewer differ");
            dashboard_present |= o.status == StatusCode::OK;
        }
    }

    // A malformed cascade token: 400 for whoever may see the site, 404 for anyone else.
    let bad = "/sites/a.example/cascades/not-a-token";
    let r = h.get(bad, None).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "anonymous {bad}");
    let r = h.get(bad, Some(&stranger.cookie)).await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "viewer of another site, {bad}"
    );
    assert!(!r.body.contains("a.example"));
    if dashboard_present {
        for b in [&owner, &viewer] {
            assert_eq!(
                h.get(bad, Some(&b.cookie)).await.status,
                StatusCode::BAD_REQUEST
            );
        }
    }

    // A link of another site, or no link at all, through a.example: 404 for its owner.
    for path in [
        format!("/sites/a.example/links/{}", b_link.id),
        format!("/sites/a.example/links/{}/qr.svg", b_link.id),
        "/sites/a.example/links/nope".to_string(),
        "/sites/a.example/links/0/qr.png".to_string(),
    ] {
        let r = h.get(&path, Some(&owner.cookie)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "owner {path}");
        assert!(!r.body.contains("example.org/other"), "{path} leaks");
    }

    // Pages not tied to one site.
    for path in [
        "/",
        "/sites",
        "/settings/keys",
        "/settings/account",
        "/logout",
    ] {
        let anon = h.get(path, None).await;
        assert_eq!(anon.status, StatusCode::SEE_OTHER, "anonymous {path}");
        assert!(anon.location().starts_with("/login"), "anonymous {path}");
    }
    let list = h.get("/sites", Some(&stranger.cookie)).await;
    assert!(list.body.contains("b.example") && !list.body.contains("a.example"));
    let list = h.get("/sites", Some(&viewer.cookie)).await;
    assert!(list.body.contains("a.example"));
    assert!(
        !list.body.contains("/sites/a.example/settings"),
        "no settings link for a viewer"
    );

    // Owner-only POSTs, each with the actor's own valid CSRF token: nothing changes.
    let posts: [(&str, Vec<(&str, &str)>); 6] = [
        ("/sites/a.example/delete", vec![("confirm", "a.example")]),
        (
            "/sites/a.example/members",
            vec![
                ("action", "add"),
                ("email", "new-colleague@a.test"),
                ("role", "owner"),
            ],
        ),
        (
            "/sites/a.example/settings",
            vec![
                ("timezone", "Asia/Tokyo"),
                ("share_param_style", "query"),
                ("allowed_hostnames", "evil.example"),
            ],
        ),
        (
            "/sites/a.example/members",
            vec![
                ("action", "add"),
                ("email", "viewer@b.test"),
                ("role", "owner"),
            ],
        ),
        (
            "/sites/a.example/shared-links",
            vec![("action", "create"), ("name", "leak")],
        ),
        (
            "/sites/a.example/shared-links",
            vec![("action", "revoke"), ("id", "1")],
        ),
    ];
    // The Links view's forms (owners only).
    let link_posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            "/sites/a.example/links".into(),
            vec![("action", "create"), ("url", "https://evil.example/")],
        ),
        (
            "/sites/a.example/links".into(),
            vec![
                ("action", "campaign"),
                ("url", "https://evil.example/"),
                ("campaign", "leak"),
                ("channels", "sms"),
            ],
        ),
        (
            lk.clone(),
            vec![("action", "edit"), ("url", "https://evil.example/")],
        ),
        (lk.clone(), vec![("action", "disable")]),
        (lk.clone(), vec![("action", "delete")]),
        // The Conversions view's goal forms (owners only).
        (
            "/sites/a.example/conversions".into(),
            vec![("action", "add"), ("kind", "event"), ("value", "leak")],
        ),
        (
            "/sites/a.example/conversions".into(),
            vec![("action", "delete"), ("id", &goal_id)],
        ),
        // The Funnels view's forms (owners only).
        (
            "/sites/a.example/funnels".into(),
            vec![
                ("action", "add"),
                ("name", "leak"),
                ("kind1", "page"),
                ("value1", "/a"),
                ("kind2", "page"),
                ("value2", "/b"),
            ],
        ),
        (
            "/sites/a.example/funnels".into(),
            vec![("action", "delete"), ("id", &funnel_id)],
        ),
        // The settings page's imported history (owners only).
        (import_delete.clone(), vec![]),
        // Notifications: the alerts' settings and webhooks (owners only).
        (
            "/sites/a.example/notifications".into(),
            vec![
                ("action", "add_webhook"),
                ("url", "https://evil.example/hook"),
                ("hook_alerts", "on"),
            ],
        ),
        (
            "/sites/a.example/notifications".into(),
            vec![
                ("action", "alerts"),
                ("viral_min_arrivals", "1"),
                ("viral_factor", "1"),
                ("spike_min_visitors", "1"),
                ("spike_factor", "1"),
                ("daily_cap", "100"),
            ],
        ),
        // The overview's annotations (owners only).
        (
            "/sites/a.example?period=7d".into(),
            vec![
                ("action", "add_note"),
                ("date", "2026-12-01"),
                ("note", "leak"),
            ],
        ),
    ];
    let posts: Vec<(String, Vec<(&str, &str)>)> = posts
        .into_iter()
        .map(|(p, f)| (p.to_string(), f))
        .chain(link_posts)
        .collect();
    for (path, fields) in &posts {
        let anon = h.post(path, None, fields).await;
        assert_eq!(anon.status, StatusCode::SEE_OTHER, "anonymous POST {path}");
        for (who, b, expect) in [
            ("stranger", &stranger, &[StatusCode::NOT_FOUND][..]),
            (
                "viewer",
                &viewer,
                &[StatusCode::FORBIDDEN, StatusCode::NOT_FOUND][..],
            ),
        ] {
            let mut form = fields.clone();
            form.push(("csrf", &b.csrf));
            let r = h.post(path, Some(&b.cookie), &form).await;
            assert!(
                expect.contains(&r.status),
                "{who} POST {path}: {}",
                r.status
            );
            assert!(!r.body.contains("a.example"), "{who} POST {path} leaks");
        }
    }
    let after = h
        .state
        .meta
        .site_by_domain("a.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after, a, "settings unchanged");
    assert_eq!(
        h.state.meta.members(a.id).await.unwrap().len(),
        2,
        "members unchanged"
    );
    assert!(
        h.state.meta.invitations(a.id).await.unwrap().is_empty(),
        "nobody invited"
    );
    let links = h.state.meta.shared_links(a.id).await.unwrap();
    assert_eq!(links.len(), 1);
    assert!(!links[0].revoked);
    assert_eq!(
        h.state.meta.links(a.id).await.unwrap(),
        vec![a_link.clone()],
        "short links unchanged"
    );
    assert_eq!(
        h.state.meta.goals(a.id).await.unwrap(),
        vec![a_goal.clone()],
        "goals unchanged"
    );
    assert_eq!(
        h.state.meta.funnels(a.id).await.unwrap(),
        vec![a_funnel.clone()],
        "funnels unchanged"
    );
    assert_eq!(
        h.state.meta.imports(a.id).await.unwrap().len(),
        1,
        "imports unchanged"
    );
    assert!(
        h.state
            .meta
            .annotations(a.id, None, None)
            .await
            .unwrap()
            .is_empty(),
        "no annotation added"
    );
    assert!(
        h.state.meta.webhooks(a.id).await.unwrap().is_empty(),
        "no webhook added"
    );
    assert_eq!(
        h.state.meta.site_options(a.id).await.unwrap().alert_options,
        "",
        "alert settings unchanged"
    );
    // The owner may delete it (with the session's token); then it is gone.
    let r = h
        .post(
            &import_delete,
            Some(&owner.cookie),
            &[("csrf", &owner.csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "owner deletes the import");
    assert!(h.state.meta.imports(a.id).await.unwrap().is_empty());
    let r = h
        .post(
            &import_delete,
            Some(&owner.cookie),
            &[("csrf", &owner.csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "deleted twice");

    // Shared links: a live token opens the site read-only, anything else does not.
    let access = shared_access(&h.state, &token)
        .await
        .expect("shared access");
    assert!(access.shared && access.role == Role::Viewer && access.user.is_none());
    let s = h.get(&share, None).await;
    assert!(
        matches!(s.status, StatusCode::OK | StatusCode::NOT_FOUND),
        "{share}: {}",
        s.status
    );
    if dashboard_present {
        assert_eq!(s.status, StatusCode::OK, "shared dashboard");
    }
    let export = h.get(&format!("{share}/export/pages.csv"), None).await;
    assert!(matches!(
        export.status,
        StatusCode::OK | StatusCode::NOT_FOUND
    ));
    if dashboard_present {
        assert_eq!(export.status, StatusCode::OK, "shared export");
    }
    let shared_sharing = [
        format!("{share}/shares"),
        format!("{share}/cascades/{root}"),
        format!("{share}/conversions"),
        format!("{share}/funnels"),
        format!("{share}/realtime"),
    ];
    for path in &shared_sharing {
        let r = h.get(path, None).await;
        assert!(
            matches!(r.status, StatusCode::OK | StatusCode::NOT_FOUND),
            "{path}: {}",
            r.status
        );
        if dashboard_present {
            assert_eq!(r.status, StatusCode::OK, "shared {path}");
        }
    }
    for bad in [
        "/share/0000".to_string(),
        "/share/".to_string(),
        "/share/%3Cscript%3E".to_string(),
        "/share/0000/export/pages.csv".to_string(),
        "/share/0000/shares".to_string(),
        "/share/0000/realtime".to_string(),
        "/share/0000/conversions".to_string(),
        "/share/0000/funnels".to_string(),
        format!("/share/0000/cascades/{root}"),
    ] {
        let r = h.get(&bad, None).await;
        assert_ne!(r.status, StatusCode::OK, "{bad}");
        assert!(!r.body.contains("a.example"));
    }
    h.state
        .meta
        .revoke_shared_link(a.id, links[0].id)
        .await
        .unwrap();
    assert!(shared_access(&h.state, &token).await.is_err());
    assert_ne!(
        h.get(&share, None).await.status,
        StatusCode::OK,
        "revoked link"
    );
    let export = h.get(&format!("{share}/export/pages.csv"), None).await;
    assert_ne!(export.status, StatusCode::OK, "revoked link export");
    for path in &shared_sharing {
        assert_ne!(
            h.get(path, None).await.status,
            StatusCode::OK,
            "revoked {path}"
        );
    }

    // Keys made in the UI reach only the user's sites.
    let r = h
        .post(
            "/settings/keys",
            Some(&stranger.cookie),
            &[
                ("csrf", &stranger.csrf),
                ("action", "create"),
                ("name", "script"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let key = r
        .body
        .split("lk_")
        .nth(1)
        .map(|k| format!("lk_{}", &k[..k.find('<').unwrap()]))
        .expect("key shown once");
    let b = h
        .state
        .meta
        .site_by_domain("b.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        h.state.meta.api_key_sites(&key).await.unwrap(),
        Some(KeyScope::Sites(vec![(b.id, Role::Viewer)]))
    );
    let listing = h.get("/settings/keys", Some(&stranger.cookie)).await;
    assert!(!listing.body.contains(&key), "the key is shown only once");
    assert!(listing.body.contains(&key[..9]));
    // Other users do not see it, and cannot revoke it.
    let id = h
        .state
        .meta
        .user_api_keys(
            h.state
                .meta
                .user_by_email("viewer@b.test")
                .await
                .unwrap()
                .unwrap()
                .id,
        )
        .await
        .unwrap()[0]
        .id
        .to_string();
    let r = h
        .post(
            "/settings/keys",
            Some(&owner.cookie),
            &[("csrf", &owner.csrf), ("action", "revoke"), ("id", &id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(h.state.meta.verify_api_key(&key).await.unwrap());
    assert!(!h
        .get("/settings/keys", Some(&owner.cookie))
        .await
        .body
        .contains(&key[..9]));
}

/// Needs `api/stats.rs` to check the key's scope (`MetaStore::api_key_sites`).
#[tokio::test]
async fn stats_api_user_key_reads_only_the_users_sites() {
    let h = harness().await;
    let uid = h
        .state
        .meta
        .user_by_email("viewer@b.test")
        .await
        .unwrap()
        .unwrap()
        .id;
    let key = h.state.meta.create_user_api_key(uid, "t").await.unwrap();
    let get = |site: &'static str| {
        Request::get(format!("/api/v1/stats/aggregate?site_id={site}&period=7d"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        h.send_from(get("b.example"), IP).await.status,
        StatusCode::OK
    );
    let r = h.send_from(get("a.example"), IP).await;
    assert!(
        matches!(r.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        r.status
    );
    // The preview cards read like any stats route (b.example has no visits: nothing is
    // fetched).
    let cards = |site: &'static str| {
        Request::get(format!("/api/v1/stats/cards?site_id={site}&period=7d"))
            .header(header::AUTHORIZATION, format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        h.send_from(cards("b.example"), IP).await.status,
        StatusCode::OK
    );
    let c = h.send_from(cards("a.example"), IP).await;
    let unknown = h.send_from(cards("zzz.example"), IP).await;
    assert!(
        matches!(c.status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{}",
        c.status
    );
    // Answered exactly as for a site that does not exist (the name aside).
    assert_eq!(c.status, unknown.status);
    assert_eq!(c.body.replace("a.example", "zzz.example"), unknown.body);
    let instance = h.state.meta.create_api_key("cli").await.unwrap();
    let req = Request::get("/api/v1/stats/aggregate?site_id=a.example&period=7d")
        .header(header::AUTHORIZATION, format!("Bearer {instance}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        h.send_from(req, IP).await.status,
        StatusCode::OK,
        "CLI keys read every site"
    );
    // The same through v2: another user's site answers as an unknown one (401, as
    // Plausible), the user's own and any site with an instance key 200.
    let v2 = |site: &str, k: &str| {
        Request::post("/api/v2/query")
            .header(header::AUTHORIZATION, format!("Bearer {k}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(format!(
                r#"{{"site_id":"{site}","metrics":["visitors"],"date_range":"7d"}}"#
            )))
            .unwrap()
    };
    assert_eq!(
        h.send_from(v2("b.example", &key), IP).await.status,
        StatusCode::OK
    );
    let r = h.send_from(v2("a.example", &key), IP).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    let unknown = h.send_from(v2("zzz.example", &key), IP).await;
    assert_eq!((unknown.status, unknown.body), (r.status, r.body));
    assert_eq!(
        h.send_from(v2("a.example", &instance), IP).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_form_checks_csrf() {
    let h = harness().await;
    let owner = h.login("owner@a.test").await;
    let a = h
        .state
        .meta
        .site_by_domain("a.example")
        .await
        .unwrap()
        .unwrap();
    let link = h
        .state
        .meta
        .create_link(
            a.id,
            &LinkInput {
                slug: "csrf".into(),
                target: "https://a.example/".into(),
                redirect: 302,
                ..LinkInput::default()
            },
        )
        .await
        .unwrap();
    let link_path = format!("/sites/a.example/links/{}", link.id);
    let goal = h
        .state
        .meta
        .create_goal(a.id, &GoalKind::parse("event", "purchase").unwrap(), "")
        .await
        .unwrap()
        .expect("goal");
    let goal_id = goal.id.to_string();
    let import_delete = format!(
        "/sites/a.example/imports/{}/delete",
        an_import(&h, a.id).await
    );
    let funnel = h
        .state
        .meta
        .create_funnel(
            a.id,
            "Checkout",
            &Funnel::parse_inline("page:/pricing|event:purchase").unwrap(),
        )
        .await
        .unwrap()
        .expect("funnel");
    let funnel_id = funnel.id.to_string();
    let cases: [(&str, Vec<(&str, &str)>); 17] = [
        (
            "/sites",
            vec![("domain", "new.example"), ("timezone", "UTC")],
        ),
        (
            "/sites/a.example/links",
            vec![("action", "create"), ("url", "https://a.example/new")],
        ),
        (
            "/sites/a.example/links",
            vec![
                ("action", "campaign"),
                ("url", "https://a.example/new"),
                ("campaign", "c"),
                ("channels", "sms"),
            ],
        ),
        (&link_path, vec![("action", "disable")]),
        (
            &link_path,
            vec![("action", "edit"), ("url", "https://a.example/changed")],
        ),
        (
            "/sites/a.example/settings",
            vec![("timezone", "Asia/Tokyo"), ("share_param_style", "query")],
        ),
        (
            "/sites/a.example/members",
            vec![
                ("action", "add"),
                ("email", "viewer@b.test"),
                ("role", "viewer"),
            ],
        ),
        ("/sites/a.example/shared-links", vec![("action", "create")]),
        (
            "/sites/a.example/conversions",
            vec![("action", "add"), ("kind", "event"), ("value", "signup")],
        ),
        (
            "/sites/a.example/conversions",
            vec![("action", "delete"), ("id", &goal_id)],
        ),
        (
            "/sites/a.example/funnels",
            vec![
                ("action", "add"),
                ("name", "New"),
                ("kind1", "page"),
                ("value1", "/a"),
                ("kind2", "event"),
                ("value2", "signup"),
            ],
        ),
        (
            "/sites/a.example/funnels",
            vec![("action", "delete"), ("id", &funnel_id)],
        ),
        ("/settings/keys", vec![("action", "create"), ("name", "x")]),
        (&import_delete, vec![]),
        (
            "/sites/a.example?period=7d",
            vec![
                ("action", "add_note"),
                ("date", "2026-12-01"),
                ("note", "n"),
            ],
        ),
        (
            "/sites/a.example/notifications",
            vec![("action", "subscriptions"), ("weekly", "on")],
        ),
        ("/logout", vec![]),
    ];
    for (path, fields) in &cases {
        for bad in [
            None,
            Some(""),
            Some("0123"),
            Some(&owner.csrf[..owner.csrf.len() - 1]),
        ] {
            let mut form = fields.clone();
            if let Some(t) = bad {
                form.push(("csrf", t));
            }
            let r = h.post(path, Some(&owner.cookie), &form).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "POST {path} csrf={bad:?}");
        }
    }
    // Nothing changed.
    assert_eq!(
        h.state.meta.imports(a.id).await.unwrap().len(),
        1,
        "import kept"
    );
    assert!(h
        .state
        .meta
        .site_by_domain("new.example")
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        h.state
            .meta
            .site_by_domain("a.example")
            .await
            .unwrap()
            .unwrap(),
        a
    );
    assert_eq!(h.state.meta.members(a.id).await.unwrap().len(), 2);
    assert!(h.state.meta.shared_links(a.id).await.unwrap().is_empty());
    assert!(h.state.meta.api_keys().await.unwrap().is_empty());
    assert_eq!(
        h.state.meta.links(a.id).await.unwrap(),
        vec![link.clone()],
        "short links unchanged"
    );
    assert_eq!(
        h.state.meta.goals(a.id).await.unwrap(),
        vec![goal.clone()],
        "goals unchanged"
    );
    assert_eq!(
        h.state.meta.funnels(a.id).await.unwrap(),
        vec![funnel.clone()],
        "funnels unchanged"
    );
    assert_eq!(
        h.get("/sites", Some(&owner.cookie)).await.status,
        StatusCode::OK,
        "still logged in"
    );
    // Another session's token is not this session's token.
    let other = h.login("owner@a.test").await;
    assert_ne!(other.csrf, owner.csrf);
    let r = h
        .post(
            "/sites",
            Some(&owner.cookie),
            &[("csrf", &other.csrf), ("domain", "new.example")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // With the right token, each works.
    let r = h
        .post(
            "/sites",
            Some(&owner.cookie),
            &[
                ("csrf", &owner.csrf),
                ("domain", "https://www.New.example/"),
                ("timezone", "Europe/Paris"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/sites/new.example/settings");
    let n = h
        .state
        .meta
        .site_by_domain("new.example")
        .await
        .unwrap()
        .expect("created");
    assert_eq!(n.timezone, "Europe/Paris");
    let settings = h
        .get("/sites/new.example/settings", Some(&owner.cookie))
        .await;
    assert_eq!(settings.status, StatusCode::OK);
    assert!(
        settings
            .body
            .contains("data-domain=&quot;new.example&quot;"),
        "snippet shown (escaped)"
    );
    assert!(settings.body.contains("Waiting for the first event"));
    assert!(
        !settings.body.contains("id=\"refusals\""),
        "nothing refused yet"
    );
    // The snippet comes in two parts, each with a copy button.
    assert!(settings.body.contains("id=\"snippet-head\""));
    assert!(settings.body.contains("id=\"snippet-body\""));
    assert!(settings
        .body
        .contains("data-copy=\"&lt;div data-lucarne-share&gt;&lt;/div&gt;\""));
    // A headless browser and a page on another host are refused: the settings page
    // says why, and what to do, while the site still waits.
    for (ua, url) in [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
            "https://new.example/",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
            "https://staging.other.test/",
        ),
    ] {
        let mut req = Request::post("/api/event")
            .header(header::CONTENT_TYPE, "text/plain")
            .header(header::USER_AGENT, ua)
            .body(Body::from(format!(
                r#"{{"n":"pageview","u":"{url}","d":"new.example"}}"#
            )))
            .unwrap();
        req.extensions_mut()
            .insert(ConnectInfo(SocketAddr::from((IP, 40000))));
        let r = h.router.clone().oneshot(req).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{url}");
    }
    let settings = h
        .get("/sites/new.example/settings", Some(&owner.cookie))
        .await;
    assert!(settings.body.contains("Waiting for the first event"));
    let refusals = &settings.body[settings
        .body
        .find("id=\"refusals\"")
        .expect("refusals shown")..];
    let (host, bot) = (
        refusals
            .find("data-reason=\"hostname_not_allowed\"")
            .expect("hostname refusal"),
        refusals.find("data-reason=\"bot\"").expect("bot refusal"),
    );
    assert!(host < bot, "newest first");
    assert!(refusals.contains("Open the site in an ordinary browser."));
    assert!(refusals.contains("Other hostnames"));
    let mut req = Request::post("/api/event")
        .header(header::CONTENT_TYPE, "text/plain")
        .header(header::USER_AGENT, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36")
        .body(Body::from(r#"{"n":"pageview","u":"https://new.example/","d":"new.example"}"#))
        .unwrap();
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((IP, 40000))));
    let r = h.router.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let settings = h
        .get("/sites/new.example/settings", Some(&owner.cookie))
        .await;
    assert!(
        settings.body.contains("Receiving events."),
        "{}",
        settings.body
    );
    let r = h
        .post(
            "/sites/a.example/settings",
            Some(&owner.cookie),
            &[
                ("csrf", &owner.csrf),
                ("timezone", "Asia/Tokyo"),
                ("share_param_style", "query"),
                ("allowed_hostnames", "shop.example, www.other.example"),
                ("retention_days", "400"),
                ("honour_dnt", "on"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let a2 = h
        .state
        .meta
        .site_by_domain("a.example")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a2.timezone, "Asia/Tokyo");
    assert_eq!(a2.allowed_hostnames, vec!["shop.example", "other.example"]);
    let o = h.state.meta.site_options(a.id).await.unwrap();
    assert_eq!(o.retention_days, Some(400));
    assert!(o.honour_dnt);
    assert_eq!(o.share_param_style.as_str(), "query");
    let r = h
        .post(
            "/sites/a.example/settings",
            Some(&owner.cookie),
            &[
                ("csrf", &owner.csrf),
                ("timezone", "Mars/Olympus"),
                ("share_param_style", "query"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Members: add a viewer, refuse to remove the last owner.
    let r = h
        .post(
            "/sites/a.example/members",
            Some(&owner.cookie),
            &[
                ("csrf", &owner.csrf),
                ("action", "add"),
                ("email", "viewer@b.test"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(h.state.meta.members(a.id).await.unwrap().len(), 3);
    let owner_id = h
        .state
        .meta
        .user_by_email("owner@a.test")
        .await
        .unwrap()
        .unwrap()
        .id
        .to_string();
    let r = h
        .post(
            "/sites/a.example/members",
            Some(&owner.cookie),
            &[
                ("csrf", &owner.csrf),
                ("action", "remove"),
                ("id", &owner_id),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("at least one owner"));

    // Shared link: created, shown once, revoked.
    let r = h
        .post(
            "/sites/a.example/shared-links",
            Some(&owner.cookie),
            &[
                ("csrf", &owner.csrf),
                ("action", "create"),
                ("name", "<b>press</b>"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("&lt;b&gt;press&lt;/b&gt;"), "escaped");
    let start = r.body.find("/share/").expect("link shown") + "/share/".len();
    let token: String = r.body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    assert!(token.len() >= 26, "at least 128 bits: {token}");
    assert!(shared_access(&h.state, &token).await.is_ok());
    let id = h.state.meta.shared_links(a.id).await.unwrap()[0]
        .id
        .to_string();
    let r = h
        .post(
            "/sites/a.example/shared-links",
            Some(&owner.cookie),
            &[("csrf", &owner.csrf), ("action", "revoke"), ("id", &id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(shared_access(&h.state, &token).await.is_err());
}

#[tokio::test]
async fn login_is_rate_limited_per_ip_and_per_account() {
    let h = harness().await;
    for i in 0..10 {
        let r = h
            .try_login_from("owner@a.test", "wrong password!", IP)
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "attempt {}", i + 1);
    }
    // The 11th attempt is refused even with the right password.
    let r = h.try_login_from("owner@a.test", PASSWORD, IP).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.set_cookie("lucarne_session").is_none());
    assert!(r.headers.get(header::RETRY_AFTER).is_some());
    assert!(r.body.contains("<!DOCTYPE html>"), "an HTML page");
    // The account from another IP, and another account from this IP: refused too.
    let r = h
        .try_login_from("owner@a.test", PASSWORD, [198, 51, 100, 1])
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "per account");
    let r = h.try_login_from("viewer@a.test", PASSWORD, IP).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "per IP");
    // Another account from another IP still logs in.
    let r = h
        .try_login_from("viewer@a.test", PASSWORD, [198, 51, 100, 2])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
}
