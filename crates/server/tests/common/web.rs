//! Helpers for the tests of HTML pages (dashboard tabs, accounts): one request builder,
//! the answer as text with its headers, the owner / viewer / stranger fixture, and the
//! few ways the tests read a page (form fields, `data-value` figures, cookies).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use lucarne_store::meta::{MetaStore, Role};
use tower::ServiceExt;

use super::{Harness, CHROME};

/// The address requests come from unless a test says otherwise.
pub const IP: [u8; 4] = [203, 0, 113, 9];

/// Session tokens and CSRF tokens of the fixture's three users (see [`Harness::add_roles`]).
pub const OWNER: &str = "00000000000000000000000000000000000000000000000000000000000000aa";
pub const VIEWER: &str = "00000000000000000000000000000000000000000000000000000000000000bb";
pub const STRANGER: &str = "00000000000000000000000000000000000000000000000000000000000000cc";
pub const OWNER_CSRF: &str = "owner-csrf-token";
pub const VIEWER_CSRF: &str = "viewer-csrf-token";
pub const STRANGER_CSRF: &str = "stranger-csrf-token";

/// An answer read as text.
pub struct Page {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The whole Set-Cookie header for `name`, if set.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    /// `name=value` of the Set-Cookie header for `name`; panics when it is not set.
    pub fn cookie(&self, name: &str) -> String {
        let set = self
            .set_cookie(name)
            .unwrap_or_else(|| panic!("no {name} cookie"));
        set.split(';').next().expect("cookie").to_string()
    }
}

/// A request as the tests build it: optional cookie, extra headers, optional form body.
pub struct Req<'a> {
    pub method: Method,
    pub uri: &'a str,
    pub cookie: Option<&'a str>,
    pub headers: &'a [(&'a str, &'a str)],
    pub form: Option<&'a [(&'a str, &'a str)]>,
    pub ip: [u8; 4],
}

impl<'a> Req<'a> {
    pub fn get(uri: &'a str) -> Self {
        Req {
            method: Method::GET,
            uri,
            cookie: None,
            headers: &[],
            form: None,
            ip: IP,
        }
    }

    pub fn post(uri: &'a str, form: &'a [(&'a str, &'a str)]) -> Self {
        Req {
            method: Method::POST,
            form: Some(form),
            ..Req::get(uri)
        }
    }

    pub fn cookie(self, cookie: Option<&'a str>) -> Self {
        Req { cookie, ..self }
    }

    pub fn headers(self, headers: &'a [(&'a str, &'a str)]) -> Self {
        Req { headers, ..self }
    }

    pub fn from(self, ip: [u8; 4]) -> Self {
        Req { ip, ..self }
    }
}

/// Send `req` through `router` (no port), from `req.ip`.
pub async fn send_page(router: &axum::Router, req: Req<'_>) -> Page {
    let mut b = Request::builder().method(req.method).uri(req.uri);
    if let Some(c) = req.cookie {
        b = b.header(header::COOKIE, c);
    }
    for (k, v) in req.headers {
        b = b.header(*k, *v);
    }
    let body = match req.form {
        Some(f) => {
            b = b.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(serde_urlencoded::to_string(f).expect("form"))
        }
        None => Body::empty(),
    };
    send_from(router, b.body(body).expect("request"), req.ip).await
}

/// Send a prebuilt request through `router` from `ip`; the answer as text.
pub async fn send_from(router: &axum::Router, mut req: Request<Body>, ip: [u8; 4]) -> Page {
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((ip, 40000))));
    let resp = router.clone().oneshot(req).await.expect("response");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Page {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into(),
    }
}

/// The Cookie header of a dashboard session token.
pub fn cookie(session: &str) -> String {
    format!("lucarne_session={session}")
}

/// The value of the first `<input … name="NAME" value="…">` in an HTML page.
pub fn field(html: &str, name: &str) -> Option<String> {
    let needle = format!("name=\"{name}\" value=\"");
    let start = html.find(&needle)? + needle.len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}

/// The raw `data-value` of the element with `id="ID"` (figures and tiles).
pub fn data_value<'a>(html: &'a str, id: &str) -> &'a str {
    let needle = format!("id=\"{id}\" data-value=\"");
    let start = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no {id} in the page"))
        + needle.len();
    let end = html[start..].find('"').expect("end of value");
    &html[start..start + end]
}

/// A user with `role` on `site_id`, logged in with the session token `session` (its
/// CSRF token `csrf`), valid for a day.
pub async fn add_member_session(
    meta: &MetaStore,
    email: &str,
    site_id: u32,
    role: Role,
    session: &str,
    csrf: &str,
) {
    let user = meta
        .create_user(email, "not-a-real-hash", None)
        .await
        .expect("user");
    meta.set_member(site_id, user.id, role)
        .await
        .expect("member");
    meta.create_web_session(
        &blake3::hash(session.as_bytes()).to_hex(),
        user.id,
        csrf,
        chrono::Utc::now() + chrono::Duration::days(1),
    )
    .await
    .expect("session");
}

impl Harness {
    /// example.com with a logged-in owner ([`OWNER`]) and viewer ([`VIEWER`]), and
    /// other.example whose owner ([`STRANGER`]) has no role on example.com. Returns
    /// example.com's id.
    pub async fn add_roles(&self) -> u32 {
        let m = &self.state.meta;
        let site = m
            .site_by_domain("example.com")
            .await
            .expect("meta")
            .expect("site");
        let other = m.add_site("other.example", "UTC").await.expect("other");
        for (email, site_id, role, session, csrf) in [
            ("owner@example.com", site.id, Role::Owner, OWNER, OWNER_CSRF),
            (
                "viewer@example.com",
                site.id,
                Role::Viewer,
                VIEWER,
                VIEWER_CSRF,
            ),
            (
                "stranger@example.com",
                other.id,
                Role::Owner,
                STRANGER,
                STRANGER_CSRF,
            ),
        ] {
            add_member_session(m, email, site_id, role, session, csrf).await;
        }
        site.id
    }

    /// GET a page on the dashboard's host as Chrome, with the session of `session`.
    pub async fn page_get(&self, uri: &str, session: Option<&str>) -> Page {
        self.page_get_with(uri, session, &[]).await
    }

    /// [`Harness::page_get`] with extra headers.
    pub async fn page_get_with(
        &self,
        uri: &str,
        session: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Page {
        let c = session.map(cookie);
        let mut headers = vec![("host", "stats.test"), ("user-agent", CHROME)];
        headers.extend_from_slice(extra);
        send_page(
            &self.router,
            Req::get(uri).cookie(c.as_deref()).headers(&headers),
        )
        .await
    }

    /// POST a form on the dashboard's host, with the session of `session`.
    pub async fn page_post(&self, uri: &str, session: Option<&str>, form: &[(&str, &str)]) -> Page {
        let c = session.map(cookie);
        send_page(
            &self.router,
            Req::post(uri, form)
                .cookie(c.as_deref())
                .headers(&[("host", "stats.test")]),
        )
        .await
    }

    /// A 200 page's body.
    pub async fn page_ok(&self, uri: &str, session: &str) -> String {
        let r = self.page_get(uri, Some(session)).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}: {}", r.body);
        r.body
    }
}

impl Harness {
    /// Send a prebuilt request (from [`IP`]) and read the answer as text.
    pub async fn send_text(&self, req: Request<Body>) -> Page {
        self.send_text_from(req, IP).await
    }

    /// [`Harness::send_text`] from the address `ip`.
    pub async fn send_text_from(&self, req: Request<Body>, ip: [u8; 4]) -> Page {
        send_from(&self.router, req, ip).await
    }
}
