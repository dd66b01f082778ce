//! Attacks on a real `lucarne serve` over HTTP (issue 17): who may change what, login
//! floods, and bad input. Every refusal is checked for its exact answer and for leaving
//! the data as it was.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{
    add_site, add_user, cli, create_key, login_form, web_login, Lucarne, WINDOWS_CHROME_UA,
};

const PASSWORD: &str = "correct horse battery staple";

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// An answer: status and JSON body (`Null` when the body is not JSON).
struct Answer {
    status: u16,
    body: Value,
    text: String,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    }
}

/// Two sites with an owner each, a viewer of site A, an instance key and a revoked one.
struct World {
    node: Lucarne,
    http: reqwest::Client,
    instance: String,
    /// (who, key or None)
    keys: Vec<(&'static str, Option<String>)>,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path();
    add_site(data, "a.example");
    add_site(data, "b.example");
    add_user(data, "owner@a.test", PASSWORD, &["a.example"]);
    add_user(data, "viewer@a.test", PASSWORD, &[]);
    add_user(data, "owner@b.test", PASSWORD, &["b.example"]);
    let instance = create_key(data);
    let revoked = create_key(data);
    let listing = cli(data, &["key", "list"]);
    // Keys are listed in creation order, the id first: the last one is `revoked`.
    let revoked_id = listing
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("the second key in `key list`:\n{listing}"))
        .to_string();
    cli(data, &["key", "revoke", &revoked_id]);
    let node = Lucarne::start(data);
    let http = client();
    let owner_a = web_login(&http, &node, "owner@a.test", PASSWORD).await;
    let added = owner_a
        .post_form(
            &http,
            &node,
            "/sites/a.example/members",
            &[
                ("action", "add"),
                ("email", "viewer@a.test"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert!(
        added.status().is_redirection() || added.status().is_success(),
        "viewer added: {}",
        added.status()
    );
    let viewer_a = web_login(&http, &node, "viewer@a.test", PASSWORD).await;
    let owner_b = web_login(&http, &node, "owner@b.test", PASSWORD).await;
    let keys = vec![
        ("owner", Some(owner_a.create_key(&http, &node).await)),
        ("viewer", Some(viewer_a.create_key(&http, &node).await)),
        (
            "other-site owner",
            Some(owner_b.create_key(&http, &node).await),
        ),
        ("instance", Some(instance.clone())),
        ("no key", None),
        ("revoked", Some(revoked)),
    ];
    World {
        node,
        http,
        instance,
        keys,
        _dir: dir,
    }
}

impl World {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.node.url())
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(m, self.url(path))
            .header("user-agent", WINDOWS_CHROME_UA);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        send(req).await
    }

    async fn as_instance(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        self.call(method, path, Some(&self.instance), body).await
    }

    /// Everything of site A that a write could change: links, goals, stored events.
    async fn snapshot(&self) -> Value {
        let links = self
            .as_instance("GET", "/api/v1/links?site_id=a.example", None)
            .await;
        let goals = self
            .as_instance("GET", "/api/v1/goals?site_id=a.example", None)
            .await;
        let events = self
            .as_instance(
                "GET",
                "/api/v1/stats/aggregate?site_id=a.example&period=day&metrics=events",
                None,
            )
            .await;
        assert_eq!(links.status, 200, "{}", links.text);
        assert_eq!(goals.status, 200, "{}", goals.text);
        assert_eq!(events.status, 200, "{}", events.text);
        let mut out = json!({ "links": links.body, "goals": goals.body, "events": events.body });
        // Issue 23's writable resources.
        for what in ["annotations", "funnels", "webhooks"] {
            let a = self
                .as_instance("GET", &format!("/api/v1/{what}?site_id=a.example"), None)
                .await;
            assert_eq!(a.status, 200, "{what}: {}", a.text);
            out[what] = a.body;
        }
        out
    }

    /// A fresh link and goal of site A (made with the instance key) to aim at.
    async fn targets(&self, n: usize) -> (i64, i64) {
        let l = self
            .as_instance(
                "POST",
                "/api/v1/links",
                Some(json!({ "site_id": "a.example", "url": "https://a.example/offer", "slug": format!("t{n}") })),
            )
            .await;
        assert_eq!(l.status, 201, "{}", l.text);
        let g = self
            .as_instance(
                "POST",
                "/api/v1/goals",
                Some(json!({ "site_id": "a.example", "event_name": format!("Goal{n}") })),
            )
            .await;
        assert_eq!(g.status, 201, "{}", g.text);
        (
            l.body["id"].as_i64().expect("link id"),
            g.body["id"].as_i64().expect("goal id"),
        )
    }
}

/// A visit token (11 canonical characters) for the `n`th pageview.
fn token(n: usize) -> String {
    format!("B{:0>10}", n).replace('0', "A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_checks_the_keys_role_on_that_site() {
    let w = world().await;
    // A visit whose token server-side conversions can credit.
    let visit = token(7);
    let pageview = w
        .call(
            "POST",
            "/api/event",
            None,
            Some(
                json!({"n": "pageview", "u": "https://a.example/p", "d": "a.example", "t": visit}),
            ),
        )
        .await;
    assert_eq!(pageview.status, 202, "{}", pageview.text);

    // Route × expected answer for (owner, viewer, other-site owner, instance, no key, revoked).
    type Build = fn(i64, i64, usize) -> (&'static str, String, Option<Value>);
    let routes: Vec<(&str, Build, [u16; 6])> = vec![
        (
            "create link",
            |_, _, n| {
                (
                    "POST",
                    "/api/v1/links".into(),
                    Some(
                        json!({"site_id": "a.example", "url": "https://evil.example/", "slug": format!("c{n}")}),
                    ),
                )
            },
            [201, 403, 404, 201, 401, 401],
        ),
        (
            "campaign",
            |_, _, n| {
                (
                    "POST",
                    "/api/v1/links/campaign".into(),
                    Some(
                        json!({"site_id": "a.example", "url": "https://evil.example/", "campaign": format!("k{n}"), "channels": ["whatsapp"], "slug_prefix": format!("k{n}")}),
                    ),
                )
            },
            [201, 403, 404, 201, 401, 401],
        ),
        (
            "repoint link",
            |l, _, _| {
                (
                    "PATCH",
                    format!("/api/v1/links/{l}"),
                    Some(json!({"url": "https://evil.example/"})),
                )
            },
            [200, 403, 404, 200, 401, 401],
        ),
        (
            "delete link",
            |l, _, _| ("DELETE", format!("/api/v1/links/{l}"), None),
            [204, 403, 404, 204, 401, 401],
        ),
        (
            "add goal",
            |_, _, n| {
                (
                    "POST",
                    "/api/v1/goals".into(),
                    Some(json!({"site_id": "a.example", "event_name": format!("Evil{n}")})),
                )
            },
            [201, 403, 404, 201, 401, 401],
        ),
        (
            "delete goal",
            |_, g, _| {
                (
                    "DELETE",
                    format!("/api/v1/goals/{g}?site_id=a.example"),
                    None,
                )
            },
            [204, 403, 404, 204, 401, 401],
        ),
        (
            "add annotation",
            |_, _, n| {
                (
                    "POST",
                    "/api/v1/annotations".into(),
                    Some(
                        json!({"site_id": "a.example", "date": "2026-12-01", "note": format!("n{n}")}),
                    ),
                )
            },
            [201, 403, 404, 201, 401, 401],
        ),
        (
            "add funnel",
            |_, _, n| {
                (
                    "POST",
                    "/api/v1/funnels".into(),
                    Some(
                        json!({"site_id": "a.example", "name": format!("F{n}"), "steps": "page:/a|event:signup"}),
                    ),
                )
            },
            [201, 403, 404, 201, 401, 401],
        ),
        (
            "add webhook",
            |_, _, _| {
                (
                    "POST",
                    "/api/v1/webhooks".into(),
                    Some(
                        json!({"site_id": "a.example", "url": "https://hooks.example.com/evil", "events": ["alerts"]}),
                    ),
                )
            },
            [201, 403, 404, 201, 401, 401],
        ),
        (
            "conversion",
            |_, _, _| {
                (
                    "POST",
                    "/api/v1/conversions".into(),
                    Some(json!({"site_id": "a.example", "token": token(7), "name": "Purchase"})),
                )
            },
            [202, 403, 404, 202, 401, 401],
        ),
    ];
    let mut n = 0;
    let mut failures = Vec::new();
    for (route, build, expected) in &routes {
        for ((who, key), want) in w.keys.iter().zip(expected) {
            n += 1;
            let (link, goal) = w.targets(n).await;
            let before = w.snapshot().await;
            let (method, path, body) = build(link, goal, n);
            let a = w.call(method, &path, key.as_deref(), body).await;
            let after = w.snapshot().await;
            if a.status != *want {
                failures.push(format!(
                    "{route} as {who}: {} (want {want}) {}",
                    a.status, a.text
                ));
                continue;
            }
            if a.status >= 400 {
                // A refusal is JSON with a reason, and changed nothing.
                assert!(a.body["reason"].is_string(), "{route} as {who}: {}", a.text);
                assert_eq!(
                    before, after,
                    "{route} as {who} was refused but changed data"
                );
            } else {
                assert_ne!(
                    before, after,
                    "{route} as {who} succeeded but changed nothing"
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Another site's key gets exactly the answer of a site that does not exist.
    let other = w.keys[2].1.clone();
    let a = w
        .call(
            "GET",
            "/api/v1/links?site_id=a.example",
            other.as_deref(),
            None,
        )
        .await;
    let none = w
        .call(
            "GET",
            "/api/v1/links?site_id=nope.example",
            other.as_deref(),
            None,
        )
        .await;
    assert_eq!((a.status, none.status), (404, 404));
    assert_eq!(a.body["reason"], none.body["reason"]);
    // Whatever else the request says: a bad period or date must not tell them apart.
    for q in ["period=zzz", "period=7d&date=0000-01-01", "metrics=nope"] {
        let a = w
            .call(
                "GET",
                &format!("/api/v1/stats/aggregate?site_id=a.example&{q}"),
                other.as_deref(),
                None,
            )
            .await;
        let none = w
            .call(
                "GET",
                &format!("/api/v1/stats/aggregate?site_id=nope.example&{q}"),
                other.as_deref(),
                None,
            )
            .await;
        assert_eq!(
            (a.status, none.status),
            (404, 404),
            "{q}: {} / {}",
            a.text,
            none.text
        );
    }
    // Nor can a key make Lucarne's own address a short domain.
    let owner = w.keys[0].1.clone();
    let own_host = w.node.addr.ip().to_string();
    let own = w
        .call(
            "POST",
            "/api/v1/links",
            owner.as_deref(),
            Some(json!({"site_id": "a.example", "url": "https://evil.example/", "slug": "reset-password", "domain": own_host})),
        )
        .await;
    assert_eq!(own.status, 403, "{}", own.text);
    assert_eq!(own.body["reason"], "domain_taken");
    // The viewer's key still reads its site.
    let viewer = w.keys[1].1.clone();
    let read = w
        .call(
            "GET",
            "/api/v1/links?site_id=a.example",
            viewer.as_deref(),
            None,
        )
        .await;
    assert_eq!(read.status, 200, "{}", read.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_short_domain_belongs_to_one_site() {
    let w = world().await;
    let owner_a = w.keys[0].1.clone();
    let owner_b = w.keys[2].1.clone();
    let b = w
        .call(
            "POST",
            "/api/v1/links",
            owner_b.as_deref(),
            Some(json!({"site_id": "b.example", "url": "https://b.example/x", "slug": "promo", "domain": "go.b.example"})),
        )
        .await;
    assert_eq!(b.status, 201, "{}", b.text);
    // Site A's owner can neither publish on B's short domain nor take its slugs, nor
    // claim B's own domain.
    for (domain, slug) in [
        ("go.b.example", "promo"),
        ("go.b.example", "other"),
        ("b.example", "x"),
    ] {
        let a = w
            .call(
                "POST",
                "/api/v1/links",
                owner_a.as_deref(),
                Some(json!({"site_id": "a.example", "url": "https://evil.example/", "slug": slug, "domain": domain})),
            )
            .await;
        assert_eq!(a.status, 403, "{domain}/{slug}: {}", a.text);
        assert_eq!(a.body["reason"], "domain_taken");
    }
    // Nor move one of its own links there.
    let mine = w
        .call(
            "POST",
            "/api/v1/links",
            owner_a.as_deref(),
            Some(json!({"site_id": "a.example", "url": "https://a.example/", "slug": "mine"})),
        )
        .await;
    assert_eq!(mine.status, 201, "{}", mine.text);
    let id = mine.body["id"].as_i64().expect("id");
    let moved = w
        .call(
            "PATCH",
            &format!("/api/v1/links/{id}"),
            owner_a.as_deref(),
            Some(json!({"domain": "go.b.example"})),
        )
        .await;
    assert_eq!(moved.status, 403, "{}", moved.text);
    // B's link still redirects to B's target.
    let r = w
        .http
        .get(w.url("/promo"))
        .header("host", "go.b.example")
        .header("user-agent", WINDOWS_CHROME_UA)
        .send()
        .await
        .expect("redirect");
    assert_eq!(r.status().as_u16(), 302);
    let to = r.headers()["location"]
        .to_str()
        .unwrap_or_default()
        .to_string();
    assert!(to.starts_with("https://b.example/x"), "{to}");
    // A's own custom domain works for A.
    let own = w
        .call(
            "POST",
            "/api/v1/links",
            owner_a.as_deref(),
            Some(json!({"site_id": "a.example", "url": "https://a.example/", "slug": "x", "domain": "go.a.example"})),
        )
        .await;
    assert_eq!(own.status, 201, "{}", own.text);
}

/// 300 concurrent wrong logins from one address: at most the limit's number of password
/// checks run, the rest are told 429 at once, memory stays flat, and a correct login from
/// another address still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_flood_checks_few_passwords_and_costs_little_memory() {
    let dir = tempfile::tempdir().expect("temp dir");
    add_site(dir.path(), "a.example");
    add_user(dir.path(), "owner@a.test", PASSWORD, &["a.example"]);
    let node = Lucarne::start_with_env(dir.path(), &[("LUCARNE_TRUSTED_PROXIES", "127.0.0.1")]);
    let http = client();
    let (pre, csrf) = login_form(&http, &node).await;
    let rss_before = node.rss_bytes();
    let attempts = (0..300).map(|i| {
        let http = http.clone();
        let url = format!("{}/login", node.url());
        let (pre, csrf) = (pre.clone(), csrf.clone());
        async move {
            let resp = http
                .post(url)
                .header("cookie", pre)
                .header("x-forwarded-for", "203.0.113.9")
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", &format!("owner{}@a.test", i % 3)),
                    ("password", "wrong password, surely"),
                    ("next", "/"),
                ])
                .send()
                .await
                .expect("POST /login");
            resp.status().as_u16()
        }
    });
    let started = Instant::now();
    let statuses = futures::future::join_all(attempts).await;
    let took = started.elapsed();
    let rss_after = node.rss_bytes();
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(wrong + refused, 300, "only 401 and 429: {statuses:?}");
    assert!(wrong <= 10, "{wrong} password checks ran (limit 10)");
    assert!(refused >= 290);
    let grew = rss_after.saturating_sub(rss_before);
    assert!(
        grew < 100 << 20,
        "resident memory grew by {} MiB",
        grew >> 20
    );
    let metrics = metrics_of(&http, &node).await;
    let checked = sample(&metrics, "lucarne_login_attempts_total{result=\"wrong\"}").unwrap_or(0);
    assert_eq!(checked as usize, wrong, "{metrics}");
    // Another address logs in at once.
    let (pre, csrf) = login_form(&http, &node).await;
    let ok = http
        .post(format!("{}/login", node.url()))
        .header("cookie", pre)
        .header("x-forwarded-for", "198.51.100.7")
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", "owner@a.test"),
            ("password", PASSWORD),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(ok.status().as_u16(), 303, "{}", node.log());
    eprintln!(
        "login flood: {wrong} checked, {refused} refused in {took:?}; RSS {} → {} MiB",
        rss_before >> 20,
        rss_after >> 20
    );
}

/// `GET /metrics` of a node, as text.
async fn metrics_of(http: &reqwest::Client, node: &Lucarne) -> String {
    http.get(format!("{}/metrics", node.url()))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

/// The sum of the samples named exactly `name` (labels included), if any.
fn sample(metrics: &str, name: &str) -> Option<u64> {
    let values: Vec<u64> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

/// Is this an answer bad input may get: a 4xx with a JSON reason (for the JSON APIs), or
/// a success after cleaning — never a 5xx, a reset or a hang.
fn acceptable(what: &str, a: &Answer, json_api: bool) -> Result<(), String> {
    if a.status >= 500 {
        return Err(format!("{what}: {} {}", a.status, a.text));
    }
    if json_api && a.status >= 400 && !a.body["reason"].is_string() {
        return Err(format!(
            "{what}: {} without a JSON reason: {}",
            a.status, a.text
        ));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_and_never_reaches_storage() {
    let w = world().await;
    let mut problems = Vec::new();
    let event = |body: Vec<u8>| {
        w.http
            .post(w.url("/api/event"))
            .header("user-agent", WINDOWS_CHROME_UA)
            .header("content-type", "text/plain")
            .body(body)
    };
    let ok_event = |u: &str| json!({"n": "pageview", "u": u, "d": "a.example"}).to_string();
    let deep = format!(
        "{{\"n\":\"x\",\"u\":\"https://a.example/\",\"d\":\"a.example\",\"p\":{}{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let mut bodies: Vec<(String, Vec<u8>, u16)> = vec![
        ("empty".into(), vec![], 400),
        ("not JSON".into(), b"{".to_vec(), 400),
        ("an array".into(), b"[]".to_vec(), 400),
        ("invalid UTF-8".into(), b"{\"n\":\"pageview\",\"u\":\"https://a.example/\xff\xfe\",\"d\":\"a.example\"}".to_vec(), 400),
        ("17 KB".into(), format!("{{\"n\":\"x\",\"u\":\"https://a.example/\",\"d\":\"a.example\",\"p\":{{\"k\":\"{}\"}}}}", "x".repeat(17_000)).into_bytes(), 413),
        ("deep nesting".into(), deep.into_bytes(), 400),
        ("NUL in the name".into(), json!({"n": "Sign\u{0}up", "u": "https://a.example/", "d": "a.example"}).to_string().into_bytes(), 400),
        ("escape in the name".into(), json!({"n": "a\u{1b}[31m", "u": "https://a.example/", "d": "a.example"}).to_string().into_bytes(), 400),
        ("1e309 revenue".into(), b"{\"n\":\"Buy\",\"u\":\"https://a.example/\",\"d\":\"a.example\",\"$\":{\"amount\":1e309,\"currency\":\"EUR\"}}".to_vec(), 400),
        ("negative revenue".into(), json!({"n": "Buy", "u": "https://a.example/", "d": "a.example", "$": {"amount": -5, "currency": "EUR"}}).to_string().into_bytes(), 400),
        ("long URL".into(), ok_event(&format!("https://a.example/{}", "a".repeat(2100))).into_bytes(), 400),
        ("javascript URL".into(), ok_event("javascript:alert(1)").into_bytes(), 400),
        ("NUL in the path".into(), ok_event("https://a.example/x\u{0}y").into_bytes(), 202),
        ("controls in the path".into(), ok_event("https://a.example/%00%01%7f/z\u{7}").into_bytes(), 202),
        ("controls in props".into(), json!({"n": "Tagged", "u": "https://a.example/", "d": "a.example", "p": {"k\u{0}": "v\u{0}\u{1b}"}}).to_string().into_bytes(), 202),
        ("controls in the referrer".into(), json!({"n": "pageview", "u": "https://a.example/r", "d": "a.example", "r": "https://news.example/a\u{0}b\u{7}"}).to_string().into_bytes(), 202),
        ("hash route with a query".into(), json!({"n": "pageview", "u": "https://a.example/#/reset?email=someone@mail.example", "d": "a.example", "h": 1}).to_string().into_bytes(), 202),
        ("negative width".into(), json!({"n": "pageview", "u": "https://a.example/w", "d": "a.example", "w": -1}).to_string().into_bytes(), 202),
        ("huge width".into(), b"{\"n\":\"pageview\",\"u\":\"https://a.example/w\",\"d\":\"a.example\",\"w\":1e300}".to_vec(), 202),
        ("unknown site".into(), json!({"n": "pageview", "u": "https://nope.example/", "d": "nope.example"}).to_string().into_bytes(), 404),
        ("scroll depth 150".into(), json!({"n": "engagement", "u": "https://a.example/", "d": "a.example", "sd": 150, "e": 1000}).to_string().into_bytes(), 400),
        ("negative engaged time".into(), json!({"n": "engagement", "u": "https://a.example/", "d": "a.example", "sd": 50, "e": -1}).to_string().into_bytes(), 400),
        ("huge engaged time".into(), b"{\"n\":\"engagement\",\"u\":\"https://a.example/\",\"d\":\"a.example\",\"e\":1e300}".to_vec(), 400),
        ("text scroll depth".into(), json!({"n": "engagement", "u": "https://a.example/", "d": "a.example", "sd": "deep"}).to_string().into_bytes(), 400),
    ];
    for (i, lc) in [
        "#lc=",
        "#lc=AAAAAAAAAAA",
        "#lc=!!!!!!!!!!!",
        "?lc=&lc=",
        "#lc=%41AAAAAAAAAA",
        "#lc=BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "#lc=BAAAAAAAAAA&lc=CAAAAAAAAAA",
        "?lc=BAAAAAAAAAA#lc=CAAAAAAAAAA",
        "#lc=ÀAAAAAAAAAA",
        "#lc=\u{0}",
        "?lc=/AAAAAAAAAA",
        "#lc=ZZZZZZZZZZZ",
        "#lc",
        "#=lc",
        "?lc=BAAAAAAAAAA%00",
    ]
    .iter()
    .enumerate()
    {
        bodies.push((
            format!("token variant {lc}"),
            ok_event(&format!("https://a.example/t{i}{lc}")).into_bytes(),
            202,
        ));
    }
    for (what, body, want) in bodies {
        let a = send(event(body)).await;
        if let Err(e) = acceptable(&what, &a, true) {
            problems.push(e);
        } else if a.status != want {
            problems.push(format!("{what}: {} (want {want}) {}", a.status, a.text));
        }
    }
    // An engagement from a visitor with no visit (another browser): accepted, not stored.
    let lone = send(
        w.http
            .post(w.url("/api/event"))
            .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0")
            .header("content-type", "text/plain")
            .body(json!({"n": "engagement", "u": "https://a.example/", "d": "a.example", "sd": 90, "e": 5000}).to_string()),
    )
    .await;
    if lone.status != 202 || !lone.text.contains("engagement_without_visit") {
        problems.push(format!(
            "engagement without a visit: {} {}",
            lone.status, lone.text
        ));
    }

    // The stats API: dates outside the calendar, huge pages, junk everywhere.
    let key = w.instance.clone();
    for q in [
        "aggregate?site_id=a.example&period=7d&date=-262143-01-01",
        "aggregate?site_id=a.example&period=30d&date=-262143-01-01",
        "aggregate?site_id=a.example&period=month&date=+262143-12-31",
        "aggregate?site_id=a.example&period=12mo&date=0001-01-01",
        "aggregate?site_id=a.example&period=custom&date=0000-01-01,9999-12-31",
        "aggregate?site_id=a.example&period=custom&date=2024-01-02,2024-01-01",
        "aggregate?site_id=a.example&period=day&date=2024-02-30",
        "aggregate?site_id=a.example&metrics=%00",
        "aggregate?site_id=a.example&filters=visit:page%3D%3D%00",
        "aggregate?site_id=%00",
        "breakdown?site_id=a.example&property=event:page&page=18446744073709551615",
        "breakdown?site_id=a.example&property=event:page&page=18446744073709551616",
        "breakdown?site_id=a.example&property=event:page&page=0",
        "breakdown?site_id=a.example&property=event:page&page=-1",
        "breakdown?site_id=a.example&property=event:page&limit=99999999999999999999",
        "breakdown?site_id=a.example&property=event:props:%00",
        "timeseries?site_id=a.example&period=7d&date=-262143-01-01&interval=month",
        "timeseries?site_id=a.example&interval=%ff",
        "timeseries?site_id=a.example&metrics=scroll_depth",
        "breakdown?site_id=a.example&property=visit:source&metrics=time_on_page",
    ] {
        let path = format!("/api/v1/stats/{q}");
        let a = w.call("GET", &path, Some(&key), None).await;
        if let Err(e) = acceptable(&path, &a, true) {
            problems.push(e);
        } else if a.status != 400 && a.status != 404 {
            problems.push(format!("{path}: {} (want 400) {}", a.status, a.text));
        }
    }
    // Current visitors: a key is needed, and a site it may read.
    for (path, auth, want) in [
        (
            "/api/v1/stats/realtime/visitors?site_id=a.example",
            None,
            401,
        ),
        (
            "/api/v1/stats/realtime/visitors?site_id=%00",
            Some(key.as_str()),
            404,
        ),
        (
            "/api/v1/stats/realtime/visitors?site_id=a.example",
            Some(key.as_str()),
            200,
        ),
    ] {
        let a = w.call("GET", path, auth, None).await;
        if a.status != want {
            problems.push(format!("{path}: {} (want {want}) {}", a.status, a.text));
        }
    }
    // The same dates through the dashboard (logged in) and a shared link (anonymous).
    let owner = web_login(&w.http, &w.node, "owner@a.test", PASSWORD).await;
    let shared = owner
        .post_form(
            &w.http,
            &w.node,
            "/sites/a.example/shared-links",
            &[("action", "create"), ("name", "x")],
        )
        .await
        .text()
        .await
        .expect("shared-links page");
    let token: String = shared
        .split("/share/")
        .nth(1)
        .expect("a new shared link")
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .collect();
    for q in [
        "?period=7d&date=-262143-01-01",
        "?period=30d&date=-262143-01-01",
        "?period=custom&from=-262143-01-01&to=+262143-12-31",
        "?period=12mo&date=+262143-12-31&compare=1",
    ] {
        for base in ["/sites/a.example".to_string(), format!("/share/{token}")] {
            for tab in ["", "/shares", "/conversions"] {
                let path = format!("{base}{tab}{q}");
                let a = send(w.http.get(w.url(&path)).header("cookie", &owner.cookie)).await;
                if a.status != 400 {
                    problems.push(format!("{path}: {} (want 400)", a.status));
                }
            }
        }
    }
    // Conversions, survey, og and redirects.
    for (what, body) in [
        ("junk", "{".to_string()),
        ("NUL name", json!({"site_id": "a.example", "token": "BAAAAAAAAAA", "name": "Buy\u{0}"}).to_string()),
        ("negative revenue", json!({"site_id": "a.example", "token": "BAAAAAAAAAA", "name": "Buy", "revenue": {"amount": -1, "currency": "EUR"}}).to_string()),
        ("bad token", json!({"site_id": "a.example", "token": "!!", "name": "Buy"}).to_string()),
        ("huge id", json!({"site_id": "a.example", "token": "BAAAAAAAAAA", "name": "Buy", "id": "x".repeat(100_000)}).to_string()),
    ] {
        let a = send(
            w.http
                .post(w.url("/api/v1/conversions"))
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        if let Err(e) = acceptable(what, &a, true) {
            problems.push(e);
        } else if !(400..500).contains(&a.status) {
            problems.push(format!("conversion {what}: {} (want 4xx) {}", a.status, a.text));
        }
    }
    for path in [
        "/api/survey?domain=%00",
        "/api/survey?domain=",
        "/og/a.example?img=javascript:alert(1)",
        "/og/a.example?img=http://127.0.0.1/x.png",
        "/og/a.example?p=%00%0a",
        "/og/%00",
        "/l/%00",
        "/l/..%2f..%2fetc",
        "/api/v1/links/abc",
        "/api/v1/links/99999999999999999999",
        "/api/v1/goals/abc?site_id=a.example",
    ] {
        let a = send(
            w.http
                .get(w.url(path))
                .bearer_auth(&key)
                .header("user-agent", WINDOWS_CHROME_UA),
        )
        .await;
        if a.status >= 500 {
            problems.push(format!("{path}: {} {}", a.status, a.text));
        }
    }
    // Stats API v2: malformed, hostile or huge queries are each a 4xx with a JSON reason,
    // never a 5xx (a regular expression the back end would refuse, nesting without end,
    // a body past the limit, every kind of wrong type).
    let mut deep = json!(["is", "event:page", ["/"]]);
    for _ in 0..5000 {
        deep = json!(["not", deep]);
    }
    let deep_text = format!(
        r#"{{"site_id":"a.example","metrics":["visitors"],"date_range":"day","filters":[{}]}}"#,
        deep
    );
    let q = |extra: Value| {
        let mut base =
            json!({"site_id": "a.example", "metrics": ["visitors"], "date_range": "day"});
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        base.to_string()
    };
    let v2_bodies: Vec<(&str, String, u16)> = vec![
        ("not JSON", "{".into(), 400),
        ("a list", "[]".into(), 400),
        ("deep nesting", deep_text, 400),
        (
            "huge",
            format!(r#"{{"site_id":"a.example","x":"{}"}}"#, "x".repeat(100_000)),
            413,
        ),
        (
            "bad regex",
            q(json!({"filters": [["matches", "event:page", ["(a"]]]})),
            400,
        ),
        (
            "huge regex",
            q(json!({"filters": [["matches", "event:page", ["a{1000}{1000}"]]]})),
            400,
        ),
        (
            "regex with a look-ahead",
            q(json!({"filters": [["matches", "event:page", ["(?=a)"]]]})),
            400,
        ),
        (
            "NUL in a clause",
            q(json!({"filters": [["contains", "event:page", ["\u{0}"]]]})),
            200,
        ),
        ("number as metric", q(json!({"metrics": [1]})), 400),
        ("null dimensions", q(json!({"dimensions": [null]})), 400),
        ("object filters", q(json!({"filters": {"a": 1}})), 400),
        (
            "huge offset",
            q(json!({"pagination": {"offset": 9_007_199_254_740_991_i64}})),
            200,
        ),
        ("float limit", q(json!({"pagination": {"limit": 1.5}})), 400),
        (
            "far dates",
            q(json!({"date_range": ["-262143-01-01", "+262143-12-31"]})),
            400,
        ),
        ("ten thousand days", q(json!({"date_range": "5000d"})), 400),
        (
            "every dimension",
            q(
                json!({"dimensions": ["event:page", "visit:source", "visit:channel", "visit:device", "time:hour", "event:props:k"]}),
            ),
            200,
        ),
    ];
    for (what, body, want) in v2_bodies {
        let a = send(
            w.http
                .post(w.url("/api/v2/query"))
                .bearer_auth(&key)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        if let Err(e) = acceptable(what, &a, true) {
            problems.push(format!("v2 {e}"));
        } else if a.status != want {
            problems.push(format!("v2 {what}: {} (want {want}) {}", a.status, a.text));
        }
    }
    let long_slug = format!("/l/{}", "a".repeat(5000));
    let a = send(w.http.get(w.url(&long_slug))).await;
    if a.status != 404 && a.status != 414 && a.status != 431 {
        problems.push(format!("long slug: {}", a.status));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Still healthy; the refusals were counted by reason.
    assert_eq!(w.call("GET", "/api/health", None, None).await.status, 200);
    let metrics = w.call("GET", "/metrics", None, None).await.text;
    for reason in [
        "malformed_json",
        "bad_name",
        "bad_revenue",
        "url_too_long",
        "body_too_large",
        "not_http_url",
        "bad_engagement",
        "engagement_without_visit",
    ] {
        assert!(
            metrics.contains(&format!(
                "lucarne_events_dropped_total{{reason=\"{reason}\"}}"
            )),
            "{reason} not counted:\n{metrics}"
        );
    }
    // No engagement became an event.
    let names = w
        .call(
            "GET",
            "/api/v1/stats/breakdown?site_id=a.example&period=day&property=event:name",
            Some(&key),
            None,
        )
        .await;
    assert!(!names.text.contains("\"engagement\""), "{}", names.text);
    // Nothing stored carries a control character or the query of a hash route.
    for property in [
        "event:page",
        "event:name",
        "visit:referrer",
        "visit:entry_page",
        "event:props:k",
    ] {
        let path = format!(
            "/api/v1/stats/breakdown?site_id=a.example&period=day&property={property}&limit=1000"
        );
        let a = w.call("GET", &path, Some(&key), None).await;
        assert_eq!(a.status, 200, "{path}: {}", a.text);
        for row in a.body["results"].as_array().expect("results") {
            let value = row
                .as_object()
                .and_then(|o| o.values().find_map(Value::as_str))
                .unwrap_or_default();
            assert!(
                !value.chars().any(char::is_control),
                "{property} stored {value:?}"
            );
            assert!(!value.contains("email"), "{property} stored {value:?}");
        }
    }
}

/// A tracker pageview of `path` on `site`, as a proxy forwards it for `ip`: its status.
async fn pageview(http: &reqwest::Client, node: &Lucarne, site: &str, path: &str, ip: &str) -> u16 {
    http.post(format!("{}/api/event", node.url()))
        .header("user-agent", WINDOWS_CHROME_UA)
        .header("x-forwarded-for", ip)
        .header("content-type", "text/plain")
        .body(json!({"n": "pageview", "u": format!("https://{site}{path}"), "d": site}).to_string())
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// While site A is flooded past its limit, every event of site B is accepted; one client
/// address past its own limit is refused while others are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooded_site_does_not_crowd_out_another() {
    let dir = tempfile::tempdir().expect("temp dir");
    add_site(dir.path(), "a.example");
    add_site(dir.path(), "b.example");
    let node = Lucarne::start_with_env(
        dir.path(),
        &[
            ("LUCARNE_TRUSTED_PROXIES", "127.0.0.1"),
            // Low enough that a slow machine cannot serve its way under the limits:
            // A's flood is refused past 200 + 100/s (at least 1,000 refusals unless it
            // takes 18 s), one address past 2 + 1/s.
            ("LUCARNE_SITE_RATE_LIMIT", "100"),
            ("LUCARNE_CLIENT_RATE_LIMIT", "1"),
        ],
    );
    let http = client();
    let flood = (0..3_000).map(|i| {
        let (http, node) = (http.clone(), &node);
        async move {
            pageview(
                &http,
                node,
                "a.example",
                &format!("/f{i}"),
                &format!("10.3.{}.{}", i / 250, i % 250),
            )
            .await
        }
    });
    let b_events = (0..100).map(|i| {
        let (http, node) = (http.clone(), &node);
        async move {
            tokio::time::sleep(Duration::from_millis(i * 5)).await;
            pageview(
                &http,
                node,
                "b.example",
                &format!("/b{i}"),
                &format!("10.4.0.{i}"),
            )
            .await
        }
    });
    let (a, b) = futures::future::join(
        futures::future::join_all(flood),
        futures::future::join_all(b_events),
    )
    .await;
    let a_limited = a.iter().filter(|s| **s == 429).count();
    assert!(a.iter().all(|s| *s == 202 || *s == 429), "{a:?}");
    assert!(
        a_limited > 1_000,
        "site A was not limited: {a_limited} of 3,000 refused"
    );
    assert!(
        b.iter().all(|s| *s == 202),
        "site B refused while A was flooded: {b:?}"
    );
    // One address past its share: refused; another address is not.
    let one: Vec<u16> = futures::future::join_all((0..100).map(|i| {
        let (http, node) = (http.clone(), &node);
        async move { pageview(&http, node, "b.example", &format!("/one{i}"), "10.5.0.1").await }
    }))
    .await;
    assert!(one.iter().filter(|s| **s == 429).count() >= 50, "{one:?}");
    assert_eq!(
        pageview(&http, &node, "b.example", "/other", "10.5.0.2").await,
        202
    );
    let metrics = metrics_of(&http, &node).await;
    assert!(
        metrics.contains("lucarne_events_dropped_total{reason=\"site_rate_limited\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("lucarne_events_dropped_total{reason=\"client_rate_limited\"}"),
        "{metrics}"
    );
}

/// 20,000 forged, well-formed tokens against a store of a million events: no store
/// read per token, and ordinary pageviews stay about as fast (p99 within 3× and 20 ms:
/// a guard against a store read per token, not a measurement; see `bench/`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tokens_cost_no_store_reads() {
    let dir = tempfile::tempdir().expect("temp dir");
    cli(
        dir.path(),
        &[
            "generate",
            "--site",
            "a.example",
            "--events",
            "1000000",
            "--days",
            "30",
        ],
    );
    let node = Lucarne::start_with_env(
        dir.path(),
        &[
            ("LUCARNE_TRUSTED_PROXIES", "127.0.0.1"),
            ("LUCARNE_SITE_RATE_LIMIT", "0"),
        ],
    );
    let http = client();
    // The filter is built from the store in the background at start.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !node.log().contains("Minted-token filter ready") {
        assert!(
            Instant::now() < deadline,
            "filter not ready: {}",
            node.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(node.log().contains("tokens="), "{}", node.log());
    async fn p99(http: &reqwest::Client, node: &Lucarne, tag: &str) -> Duration {
        let mut took = Vec::new();
        for i in 0..400 {
            let t = Instant::now();
            assert_eq!(
                pageview(
                    http,
                    node,
                    "a.example",
                    &format!("/{tag}/{i}"),
                    &format!("10.6.{}.{}", i / 200, i % 200)
                )
                .await,
                202
            );
            took.push(t.elapsed());
        }
        took.sort();
        took[took.len() * 99 / 100]
    }
    // The same load twice, once with plain pageviews and once with a forged token on
    // each, while ordinary pageviews are timed.
    async fn flood(http: &reqwest::Client, node: &Lucarne, tag: &str, forged: bool) -> Vec<u16> {
        let mut statuses = Vec::new();
        for chunk in 0..400u64 {
            let batch = (0..50u64).map(|i| {
                let n = chunk * 50 + i;
                // Random-looking canonical tokens: the first character carries 4 bits.
                let bits = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                let mut token = String::from(alphabet[(bits >> 60) as usize] as char);
                for k in (0..10).rev() {
                    token.push(alphabet[((bits >> (k * 6)) & 63) as usize] as char);
                }
                let path = if forged {
                    format!("/{tag}/{n}#lc={token}")
                } else {
                    format!("/{tag}/{n}")
                };
                let (http, node) = (http.clone(), node);
                async move {
                    pageview(
                        &http,
                        node,
                        "a.example",
                        &path,
                        &format!("10.7.{}.{}", n / 250 % 250, n % 250),
                    )
                    .await
                }
            });
            statuses.extend(futures::future::join_all(batch).await);
        }
        statuses
    }
    let (plain, base) = futures::future::join(
        flood(&http, &node, "plain", false),
        p99(&http, &node, "base"),
    )
    .await;
    assert!(plain.iter().all(|s| *s == 202));
    let (statuses, busy) = futures::future::join(
        flood(&http, &node, "forged", true),
        p99(&http, &node, "busy"),
    )
    .await;
    assert!(
        statuses.iter().all(|s| *s == 202),
        "forged tokens are visits all the same"
    );
    let metrics = metrics_of(&http, &node).await;
    let count = |result: &str| {
        sample(
            &metrics,
            &format!("lucarne_token_lookups_total{{result=\"{result}\"}}"),
        )
        .unwrap_or(0)
    };
    assert!(count("filtered") >= 19_000, "{metrics}");
    assert!(
        count("read") <= 200,
        "{} store reads for forged tokens",
        count("read")
    );
    eprintln!("pageview p99: {base:?} under 20,000 plain pageviews, {busy:?} under 20,000 with forged tokens");
    assert!(
        busy <= base * 3 + Duration::from_millis(20),
        "p99 {busy:?} against {base:?}"
    );
}

/// A flood of distinct visitors with the longest fields: the live-visit table stays
/// within its share of the configured cache memory, and the server's memory with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_visitors_stays_within_the_memory_cap() {
    let dir = tempfile::tempdir().expect("temp dir");
    add_site(dir.path(), "a.example");
    let node = Lucarne::start_with_env(
        dir.path(),
        &[
            ("LUCARNE_TRUSTED_PROXIES", "127.0.0.1"),
            ("LUCARNE_CACHE_MEMORY_MIB", "24"),
            ("LUCARNE_SITE_RATE_LIMIT", "0"),
        ],
    );
    let http = client();
    let rss_before = node.rss_bytes();
    // Under the 2,000-character URL limit, with every visit-level field long.
    let long = "x".repeat(250);
    for chunk in 0..60u32 {
        let batch = (0..200u32).map(|i| {
            let n = chunk * 200 + i;
            let body = json!({
                "n": "pageview",
                "u": format!("https://a.example/{n}/{long}?utm_source={long}&utm_medium={long}&utm_campaign={long}&utm_term={long}&utm_content={long}"),
                "d": "a.example",
                "r": format!("https://ref{n}.example/{}", "r".repeat(1900)),
            })
            .to_string();
            let (http, url) = (http.clone(), node.url());
            async move {
                http.post(format!("{url}/api/event"))
                    .header("user-agent", WINDOWS_CHROME_UA)
                    .header("x-forwarded-for", format!("10.{}.{}.{}", n / 65536 % 256, n / 256 % 256, n % 256))
                    .header("content-type", "text/plain")
                    .body(body)
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16())
            }
        });
        let statuses = futures::future::join_all(batch).await;
        assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    }
    let metrics = metrics_of(&http, &node).await;
    let gauge =
        |name: &str| sample(&metrics, name).unwrap_or_else(|| panic!("{name} in {metrics}"));
    let visits = gauge("lucarne_visit_table_bytes");
    let cap = 24u64 << 20;
    assert!(
        visits <= cap * 2 / 3 + (64 << 10),
        "visit table holds {visits} bytes"
    );
    assert!(
        gauge("lucarne_visit_table_evictions") > 0,
        "12,000 visits of ~6 KB must overflow 16 MiB"
    );
    let grew = node.rss_bytes().saturating_sub(rss_before);
    eprintln!(
        "distinct-visitor flood: visit table {} KiB, RSS grew {} MiB",
        visits >> 10,
        grew >> 20
    );
    assert!(
        grew < 400 << 20,
        "resident memory grew by {} MiB",
        grew >> 20
    );
}

/// A flood of unknown slugs reads a version number, never every link again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unknown_slugs_reloads_no_links() {
    let w = world().await;
    let made = w
        .as_instance(
            "POST",
            "/api/v1/links",
            Some(json!({"site_id": "a.example", "url": "https://a.example/real", "slug": "real"})),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text);
    let reloads = |m: &str| {
        sample(m, "lucarne_link_reloads_total").unwrap_or_else(|| panic!("reloads in {m}"))
    };
    // The version watch (every 500 ms) catches up with the edit first.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let before = reloads(&w.call("GET", "/metrics", None, None).await.text);
    let started = Instant::now();
    let misses = futures::future::join_all((0..2_000).map(|i| {
        let (http, url) = (w.http.clone(), w.url(&format!("/l/nope{i}")));
        async move {
            http.get(url)
                .header("user-agent", WINDOWS_CHROME_UA)
                .send()
                .await
                .map_or(0, |r| r.status().as_u16())
        }
    }))
    .await;
    let took = started.elapsed();
    assert!(misses.iter().all(|s| *s == 404), "{misses:?}");
    let after = reloads(&w.call("GET", "/metrics", None, None).await.text);
    // At most the periodic reload (every 30 s) may fall in the flood; 2,000 misses do not
    // each reload.
    assert!(
        after - before <= 1,
        "unknown slugs reloaded the links {} times",
        after - before
    );
    eprintln!(
        "2,000 unknown slugs answered in {took:?}, {} reloads",
        after - before
    );
    // A link made behind the server's back (the CLI) is still found on its first miss.
    cli(
        w.node.data.as_path(),
        &[
            "link",
            "create",
            "https://a.example/cli",
            "--slug",
            "fromcli",
            "--site",
            "a.example",
        ],
    );
    let r = w
        .http
        .get(w.url("/l/fromcli"))
        .header("user-agent", WINDOWS_CHROME_UA)
        .send()
        .await
        .expect("redirect");
    assert_eq!(r.status().as_u16(), 302);
}
