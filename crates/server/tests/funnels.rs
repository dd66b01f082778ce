//! Funnels through the real router (DuckDB + SQLite, or ClickHouse + PostgreSQL with
//! `LUCARNE_TEST_BACKEND=scale`): visits made through `POST /api/event`, the funnels API
//! (create, list, delete, every refusal with its code), `GET /api/v1/stats/funnel` with a
//! saved funnel, by name, inline steps, breakdowns and filters, and the dashboard's
//! Funnels tab as an owner (forms, CSRF), a viewer, a stranger, anonymously, through a
//! shared link and in French.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use common::*;
use serde_json::{json, Value};

const PAGE: &str = "/sites/example.com/funnels";
const ANDROID_CHROME: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
const CHECKOUT: &str = "page:/pricing|page:/checkout/*|event:purchase";

const WA1: [u8; 4] = [198, 51, 100, 1];
const WA2: [u8; 4] = [198, 51, 100, 2];
const G1: [u8; 4] = [198, 51, 100, 11];
const G2: [u8; 4] = [198, 51, 100, 12];
const D1: [u8; 4] = [198, 51, 100, 21];

async fn hit(h: &Harness, ip: [u8; 4], ua: &str, name: &str, path: &str, referrer: Option<&str>) {
    let body = json!({
        "n": name,
        "u": format!("https://example.com{path}"),
        "d": "example.com",
        "r": referrer,
    });
    let (s, v) = h.event_from(&body.to_string(), ua, ip).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}: {v}");
}

/// Two WhatsApp visits (one all the way, one buying before checkout), two Google visits
/// (checkout before pricing; pricing then checkout), one direct visit off the funnel.
/// Funnel `CHECKOUT`: total [4, 3, 1]; WhatsApp [2, 2, 1]; Google [2, 1, 0].
async fn traffic(h: &Harness) {
    let wa = Some("android-app://com.whatsapp/");
    let google = Some("https://www.google.com/");
    hit(h, WA1, ANDROID_CHROME, "pageview", "/pricing", wa).await;
    hit(h, WA1, ANDROID_CHROME, "pageview", "/checkout/cart", None).await;
    hit(h, WA1, ANDROID_CHROME, "purchase", "/checkout/cart", None).await;
    hit(h, WA2, ANDROID_CHROME, "pageview", "/pricing", wa).await;
    hit(h, WA2, ANDROID_CHROME, "purchase", "/pricing", None).await;
    hit(h, WA2, ANDROID_CHROME, "pageview", "/checkout/a", None).await;
    hit(h, G1, CHROME, "pageview", "/checkout/a", google).await;
    hit(h, G1, CHROME, "pageview", "/pricing", None).await;
    hit(h, G2, CHROME, "pageview", "/pricing", google).await;
    hit(h, G2, CHROME, "pageview", "/checkout/x", None).await;
    hit(h, D1, CHROME, "pageview", "/about", None).await;
}

impl Harness {
    async fn json_call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(uri)
            .header("content-type", "application/json")
            .header("authorization", format!("Bearer {}", self.key))
            .body(match body {
                Some(b) => Body::from(b.to_string()),
                None => Body::empty(),
            })
            .expect("request");
        let (s, v, _) = self.send(req).await;
        (s, v)
    }

    async fn funnel_report(&self, query: &str) -> (StatusCode, Value) {
        self.get(&format!(
            "/api/v1/stats/funnel?site_id=example.com&period=day{query}"
        ))
        .await
    }
}

fn visits(steps: &Value) -> Vec<u64> {
    steps
        .as_array()
        .unwrap_or_else(|| panic!("steps: {steps}"))
        .iter()
        .map(|s| s["visits"].as_u64().unwrap_or(u64::MAX))
        .collect()
}

fn group<'a>(report: &'a Value, value: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|r| r["value"] == value))
        .unwrap_or_else(|| panic!("no group `{value}` in {report}"))
}

#[tokio::test]
async fn the_funnels_api_saves_checks_and_reports() {
    let h = harness().await;
    traffic(&h).await;

    // Create: a list of steps, then the inline form.
    let (s, created) = h
        .json_call(
            "POST",
            "/api/v1/funnels",
            Some(json!({
                "site_id": "example.com",
                "name": "Checkout",
                "steps": [
                    {"kind": "page", "value": "/pricing"},
                    {"kind": "page", "value": "/checkout/*"},
                    {"kind": "event", "value": "purchase"},
                ],
            })),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["name"], "Checkout");
    assert_eq!(created["inline"], CHECKOUT);
    let id = created["id"].as_i64().expect("id");
    let (s, second) = h
        .json_call(
            "POST",
            "/api/v1/funnels",
            Some(
                json!({"site_id": "example.com", "name": "Pricing to signup",
                        "steps": "page:/pricing|event:signup"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");

    // Refusals, each with its code.
    for (body, status, code) in [
        (
            json!({"site_id": "example.com", "name": "Checkout", "steps": CHECKOUT}),
            StatusCode::CONFLICT,
            "funnel_exists",
        ),
        (
            json!({"site_id": "example.com", "name": "One", "steps": "page:/a"}),
            StatusCode::BAD_REQUEST,
            "funnel_step_count",
        ),
        (
            json!({"site_id": "example.com", "name": "Nine",
                   "steps": (["page:/a"; 9].join("|"))}),
            StatusCode::BAD_REQUEST,
            "funnel_step_count",
        ),
        (
            json!({"site_id": "example.com", "name": "Bad", "steps": "page:/a|page:b"}),
            StatusCode::BAD_REQUEST,
            "funnel_bad_step",
        ),
        (
            json!({"site_id": "example.com", "name": "Bad",
                   "steps": [{"kind": "goal", "value": "x"}, {"kind": "page", "value": "/"}]}),
            StatusCode::BAD_REQUEST,
            "funnel_bad_step",
        ),
        (
            json!({"site_id": "example.com", "name": " ", "steps": "page:/a|page:/b"}),
            StatusCode::BAD_REQUEST,
            "funnel_bad_name",
        ),
        (
            json!({"site_id": "example.com", "name": "No steps"}),
            StatusCode::BAD_REQUEST,
            "funnel_step_count",
        ),
        (
            json!({"name": "No site", "steps": "page:/a|page:/b"}),
            StatusCode::BAD_REQUEST,
            "missing_site",
        ),
    ] {
        let (s, v) = h
            .json_call("POST", "/api/v1/funnels", Some(body.clone()))
            .await;
        assert_eq!(
            (s, v["reason"].as_str()),
            (status, Some(code)),
            "{body}: {v}"
        );
    }
    let (s, v) = h
        .json_call("POST", "/api/v1/funnels", Some(json!("not an object")))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");

    // List.
    let (s, list) = h.get("/api/v1/funnels?site_id=example.com").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["funnels"]
        .as_array()
        .expect("funnels")
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert_eq!(names, ["Checkout", "Pricing to signup"]);
    assert_eq!(list["funnels"][0]["steps"][1]["value"], "/checkout/*");

    // The report of the saved funnel: in all.
    let (s, r) = h.funnel_report(&format!("&funnel={id}")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(visits(&r["steps"]), [4, 3, 1], "{r}");
    assert_eq!(r["funnel"]["name"], "Checkout");
    assert_eq!(r["steps"][1]["name"], "/checkout/*");
    assert_eq!(r["steps"][1]["conversion_rate"], 75.0);
    assert_eq!(r["steps"][1]["dropped"], 1);
    assert_eq!(r["steps"][1]["drop_off_rate"], 25.0);
    assert_eq!(r["steps"][2]["kind"], "event");
    assert_eq!(r["steps"][2]["conversion_rate"], 25.0);
    assert_eq!(r["steps"][2]["drop_off_rate"], 66.67);
    assert_eq!(r["groups"], json!([]));
    assert_eq!(r["by"], Value::Null);

    // By channel and channel group; by name; inline.
    let (s, by) = h.funnel_report("&funnel=Checkout&by=channel").await;
    assert_eq!(s, StatusCode::OK, "{by}");
    assert_eq!(by["by"], "channel");
    assert_eq!(visits(&group(&by, "whatsapp")["steps"]), [2, 2, 1]);
    assert_eq!(visits(&group(&by, "google")["steps"]), [2, 1, 0]);
    assert_eq!(group(&by, "whatsapp")["completed"], 1);
    assert_eq!(group(&by, "whatsapp")["conversion_rate"], 50.0);
    assert_eq!(group(&by, "google")["conversion_rate"], 0.0);
    assert_eq!(by["groups"].as_array().map(Vec::len), Some(2), "{by}");
    assert_eq!(visits(&by["steps"]), [4, 3, 1]);
    let inline = CHECKOUT
        .replace('|', "%7C")
        .replace('/', "%2F")
        .replace('*', "%2A");
    let (s, cg) = h
        .funnel_report(&format!("&steps={inline}&by=visit:channel_group"))
        .await;
    assert_eq!(s, StatusCode::OK, "{cg}");
    assert_eq!(cg["funnel"], Value::Null);
    assert_eq!(cg["inline"], CHECKOUT);
    assert_eq!(visits(&group(&cg, "private-message")["steps"]), [2, 2, 1]);
    assert_eq!(visits(&group(&cg, "search")["steps"]), [2, 1, 0]);

    // A visit filter keeps its visits.
    let (s, wa) = h
        .funnel_report(&format!(
            "&funnel={id}&filters=visit%3Achannel%3D%3Dwhatsapp"
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{wa}");
    assert_eq!(visits(&wa["steps"]), [2, 2, 1]);

    // Refused reports.
    for (query, status, code) in [
        ("", StatusCode::BAD_REQUEST, "funnel_missing"),
        (
            "&funnel=Checkout&steps=page:/a%7Cpage:/b",
            StatusCode::BAD_REQUEST,
            "funnel_missing",
        ),
        ("&funnel=Nope", StatusCode::NOT_FOUND, "unknown_funnel"),
        ("&funnel=999999", StatusCode::NOT_FOUND, "unknown_funnel"),
        (
            "&steps=page:/a",
            StatusCode::BAD_REQUEST,
            "funnel_step_count",
        ),
        (
            "&steps=a:/b%7Cpage:/c",
            StatusCode::BAD_REQUEST,
            "funnel_bad_step",
        ),
        (
            "&funnel=Checkout&by=country",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
        (
            "&funnel=Checkout&filters=event%3Apage%3D%3D%2Fpricing",
            StatusCode::BAD_REQUEST,
            "bad_query",
        ),
    ] {
        let (s, v) = h.funnel_report(query).await;
        assert_eq!(
            (s, v["reason"].as_str()),
            (status, Some(code)),
            "{query}: {v}"
        );
    }

    // Delete: another site's id is unknown here; then gone.
    let (s, v) = h
        .json_call(
            "DELETE",
            &format!("/api/v1/funnels/{id}?site_id=example.com"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = h
        .json_call(
            "DELETE",
            &format!("/api/v1/funnels/{id}?site_id=example.com"),
            None,
        )
        .await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_funnel"))
    );
    let (_, list) = h.get("/api/v1/funnels?site_id=example.com").await;
    assert_eq!(list["funnels"].as_array().map(Vec::len), Some(1));
    let (s, _) = h.funnel_report(&format!("&funnel={id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// A row of a table, found by an attribute of its `<tr>`.
fn row<'a>(html: &'a str, attr: &str) -> &'a str {
    let start = html
        .find(&format!("<tr {attr}"))
        .unwrap_or_else(|| panic!("no row {attr}"));
    let rest = &html[start..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

/// A cell's text (tags removed) by its `data-col`.
fn col(row: &str, name: &str) -> String {
    let needle = format!("data-col=\"{name}\">");
    let at = row
        .find(&needle)
        .unwrap_or_else(|| panic!("no column {name} in {row}"))
        + needle.len();
    let rest = &row[at..];
    let cell = &rest[..rest.find("</td>").unwrap_or(rest.len())];
    let mut text = String::new();
    let mut in_tag = false;
    for c in cell.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

fn add_form<'a>(name: &'a str, steps: &'a [(&'a str, &'a str)]) -> Vec<(String, String)> {
    let mut f = vec![
        ("csrf".to_string(), OWNER_CSRF.to_string()),
        ("action".to_string(), "add".to_string()),
        ("name".to_string(), name.to_string()),
    ];
    for (i, (k, v)) in steps.iter().enumerate() {
        f.push((format!("kind{}", i + 1), k.to_string()));
        f.push((format!("value{}", i + 1), v.to_string()));
    }
    f
}

async fn post_form(
    h: &Harness,
    uri: &str,
    session: Option<&str>,
    form: &[(String, String)],
) -> Page {
    let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    h.page_post(uri, session, &pairs).await
}

#[tokio::test]
async fn the_funnels_tab_shows_steps_and_breakdowns_to_those_who_may_see_them() {
    let h = harness().await;
    let site_id = h.add_roles().await;
    traffic(&h).await;

    // No funnel yet.
    let empty = h.page_ok(PAGE, OWNER).await;
    assert!(empty.contains("No funnel yet"), "{empty}");
    assert!(empty.contains("aria-current=\"page\">Funnels</a>"));

    // The owner adds one (a blank row in the middle is skipped).
    let form = add_form(
        "Checkout",
        &[
            ("page", "/pricing"),
            ("page", ""),
            ("page", "/checkout/*"),
            ("event", "purchase"),
        ],
    );
    let r = post_form(&h, &format!("{PAGE}?period=day"), Some(OWNER), &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let saved = h.state.meta.funnels(site_id).await.expect("funnels");
    assert_eq!(saved.len(), 1);
    let id = saved[0].id;
    assert_eq!(saved[0].funnel.inline(), CHECKOUT);
    assert_eq!(
        r.location(),
        format!("{PAGE}?period=day&funnel={id}&added=1")
    );

    // The page: bars per step with the API's numbers.
    let html = h.page_ok(r.location(), OWNER).await;
    assert!(html.contains("Funnel added."));
    let step2 = row(&html, "data-step=\"2\"");
    assert_eq!(col(step2, "visits"), "3");
    assert_eq!(col(step2, "rate"), "75.0%");
    assert_eq!(col(step2, "dropped"), "1");
    assert_eq!(col(step2, "drop-rate"), "25.0%");
    assert!(step2.contains("class=\"bar w15\""), "{step2}");
    assert_eq!(col(row(&html, "data-step=\"3\""), "visits"), "1");
    // Breakdown by channel group (the default), then by channel.
    let pm = row(&html, "data-value=\"private-message\"");
    assert_eq!(col(pm, "step-1"), "2");
    assert_eq!(col(pm, "completion"), "50.0%");
    let by_channel = h
        .page_ok(&format!("{PAGE}?period=day&funnel={id}&by=channel"), OWNER)
        .await;
    let google = row(&by_channel, "data-value=\"google\"");
    assert_eq!(col(google, "step-1"), "2");
    assert!(col(google, "step-2").starts_with('1'), "{google}");
    assert_eq!(col(google, "completion"), "0.0%");
    assert_eq!(
        col(row(&by_channel, "data-value=\"whatsapp\""), "completion"),
        "50.0%"
    );
    // No inline script or style.
    assert!(!html.contains("<script>") && !html.contains("style="));
    assert!(html.contains("name=\"csrf\" value=\"owner-csrf-token\""));

    // A bad funnel: the problem, in French, and nothing saved.
    let bad = add_form("Bad", &[("page", "/a"), ("page", "b")]);
    let r = post_form(&h, &format!("{PAGE}?lang=fr"), Some(OWNER), &bad).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Étape 2\u{a0}: une page"), "{}", r.body);
    let one = add_form("One", &[("page", "/a")]);
    let r = post_form(&h, PAGE, Some(OWNER), &one).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("A funnel has 2 to 8 steps."), "{}", r.body);
    let again = add_form("Checkout", &[("page", "/a"), ("page", "/b")]);
    let r = post_form(&h, PAGE, Some(OWNER), &again).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("The site has a funnel of this name already."),
        "{}",
        r.body
    );
    // A wrong CSRF token changes nothing.
    let mut forged = add_form("Forged", &[("page", "/a"), ("page", "/b")]);
    forged[0].1 = "wrong".into();
    let r = post_form(&h, PAGE, Some(OWNER), &forged).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.state.meta.funnels(site_id).await.expect("funnels").len(),
        1
    );

    // The viewer reads, without forms, and may not post.
    let viewer = h.page_ok(&format!("{PAGE}?period=day"), VIEWER).await;
    assert_eq!(col(row(&viewer, "data-step=\"2\""), "visits"), "3");
    assert!(
        !viewer.contains("name=\"action\""),
        "no funnel forms for a viewer"
    );
    let mut as_viewer = add_form("Viewer's", &[("page", "/a"), ("page", "/b")]);
    as_viewer[0].1 = VIEWER_CSRF.into();
    let r = post_form(&h, PAGE, Some(VIEWER), &as_viewer).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Anonymous and a user of another site: as for the Conversions tab.
    let anon = h.page_get(PAGE, None).await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert!(anon.location().starts_with("/login?next="));
    let stranger = h.page_get(PAGE, Some(STRANGER)).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    assert!(!stranger.body.contains("Checkout"));
    let mut as_stranger = add_form("Leak", &[("page", "/a"), ("page", "/b")]);
    as_stranger[0].1 = STRANGER_CSRF.into();
    let r = post_form(&h, PAGE, Some(STRANGER), &as_stranger).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    // Through a shared link: the numbers, no forms, no link out.
    let link = h
        .state
        .meta
        .create_shared_link(site_id, "press")
        .await
        .expect("link");
    let r = h
        .page_get(&format!("/share/{link}/funnels?period=day"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(col(row(&r.body, "data-step=\"1\""), "visits"), "4");
    assert!(!r.body.contains("method=\"post\""));
    assert!(!r.body.contains("/sites/example.com"), "no link out");
    let conversions = h
        .page_get(&format!("/share/{link}/conversions"), None)
        .await;
    assert!(conversions
        .body
        .contains(&format!("href=\"/share/{link}/funnels\">Funnels</a>")));
    assert_eq!(
        h.page_get("/share/nope/funnels", None).await.status,
        StatusCode::NOT_FOUND
    );

    // In French.
    let fr = h
        .page_ok(&format!("{PAGE}?period=day&lang=fr"), OWNER)
        .await;
    assert!(fr.contains("Entonnoirs"));
    assert!(fr.contains("Étapes de"));
    assert_eq!(col(row(&fr, "data-step=\"2\""), "rate"), "75,0\u{a0}%");

    // An unknown funnel or breakdown is a 400 page.
    let r = h
        .page_get(&format!("{PAGE}?funnel=nope"), Some(OWNER))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h.page_get(&format!("{PAGE}?by=country"), Some(OWNER)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // The owner deletes it.
    let idt = id.to_string();
    let r = h
        .page_post(
            PAGE,
            Some(OWNER),
            &[("csrf", OWNER_CSRF), ("action", "delete"), ("id", &idt)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(h
        .state
        .meta
        .funnels(site_id)
        .await
        .expect("funnels")
        .is_empty());
    let r = h
        .page_post(
            PAGE,
            Some(OWNER),
            &[("csrf", OWNER_CSRF), ("action", "delete"), ("id", &idt)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// A user API key gets what its user's role on the site allows, read at request time:
/// an owner writes, a viewer reads (403 `read_only_key` on a write), a user of another
/// site gets the answer of a site that does not exist.
#[tokio::test]
async fn funnel_routes_check_the_keys_role_on_the_site() {
    let h = harness().await;
    let site_id = h.add_roles().await;
    let m = &h.state.meta;
    let mut keys = Vec::new();
    for email in [
        "owner@example.com",
        "viewer@example.com",
        "stranger@example.com",
    ] {
        let user = m.user_by_email(email).await.expect("meta").expect("user");
        keys.push(m.create_user_api_key(user.id, "k").await.expect("key"));
    }
    let funnel = lucarne_core::funnel::Funnel::parse_inline(CHECKOUT).expect("funnel");
    let saved = m
        .create_funnel(site_id, "Checkout", &funnel)
        .await
        .expect("meta")
        .expect("saved");
    let call = |method: &'static str, uri: String, body: Option<Value>, key: String| {
        let router = h.router.clone();
        async move {
            let mut req = Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", format!("Bearer {key}"))
                .header("content-type", "application/json");
            req = req.header("host", "stats.test");
            let body = body.map_or(Body::empty(), |b| Body::from(b.to_string()));
            let p = send_from(&router, req.body(body).expect("request"), IP).await;
            (
                p.status,
                serde_json::from_str::<Value>(&p.body).unwrap_or(Value::Null),
            )
        }
    };
    let new =
        |n: &str| Some(json!({"site_id": "example.com", "name": n, "steps": "page:/a|page:/b"}));
    let [owner, viewer, stranger] = [keys[0].clone(), keys[1].clone(), keys[2].clone()];
    let read = [
        "/api/v1/funnels?site_id=example.com".to_string(),
        format!(
            "/api/v1/stats/funnel?site_id=example.com&period=day&funnel={}",
            saved.id
        ),
    ];
    for uri in &read {
        for key in [&owner, &viewer] {
            let (s, v) = call("GET", uri.clone(), None, key.clone()).await;
            assert_eq!(s, StatusCode::OK, "{uri}: {v}");
        }
        let (s, v) = call("GET", uri.clone(), None, stranger.clone()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "stranger {uri}: {v}");
        let (s, _) = call("GET", uri.clone(), None, "lk_nope".into()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{uri}");
    }
    let (s, v) = call("POST", "/api/v1/funnels".into(), new("V"), viewer.clone()).await;
    assert_eq!(
        (s, v["reason"].as_str()),
        (StatusCode::FORBIDDEN, Some("read_only_key"))
    );
    let (s, _) = call("POST", "/api/v1/funnels".into(), new("S"), stranger.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let delete = format!("/api/v1/funnels/{}?site_id=example.com", saved.id);
    let (s, _) = call("DELETE", delete.clone(), None, viewer.clone()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call("DELETE", delete.clone(), None, stranger.clone()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        m.funnels(site_id).await.expect("meta").len(),
        1,
        "unchanged"
    );
    let (s, v) = call("POST", "/api/v1/funnels".into(), new("O"), owner.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, _) = call("DELETE", delete, None, owner).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let names: Vec<String> = m
        .funnels(site_id)
        .await
        .expect("meta")
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["O"]);
}

#[tokio::test]
async fn openapi_describes_the_funnel_routes() {
    let h = harness().await;
    let (_, v, _) = h
        .send(
            Request::get("/api/openapi.json")
                .body(Body::empty())
                .expect("request"),
        )
        .await;
    let paths = v["paths"].as_object().expect("paths");
    for route in [
        "/api/v1/funnels",
        "/api/v1/funnels/{id}",
        "/api/v1/stats/funnel",
    ] {
        assert!(paths.contains_key(route), "{route} documented");
    }
}
