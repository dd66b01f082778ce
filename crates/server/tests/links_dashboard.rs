//! The dashboard's Links view through `app(state)` with `oneshot`: an owner creates links
//! through the forms (CSRF checked), they redirect; invalid input shows a localized
//! problem and creates nothing; the campaign form makes one link per ticked channel;
//! disable / enable / delete / edit take effect on the redirect at once; the report page
//! shows the numbers of `GET /api/v1/links/{id}/stats`; the QR routes serve SVG and PNG
//! to a logged-in user; viewers see everything and change nothing.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::*;
use lucarne_store::meta::Link;
use serde_json::Value;

const WHATSAPP_PREVIEW: &str = "WhatsApp/2.23.20.0 A";
const LIST: &str = "/sites/example.com/links";

struct S {
    h: Harness,
    site_id: u32,
}

/// example.com with an owner and a viewer (logged in), and other.example whose viewer
/// has no role on example.com.
async fn setup() -> S {
    let h = harness().await;
    let site_id = h.add_roles().await;
    S { h, site_id }
}

impl S {
    async fn send(&self, req: Request<Body>) -> Page {
        self.h.send_text(req).await
    }

    /// The owner's create form, with its CSRF token.
    async fn create(&self, fields: &[(&str, &str)]) -> Page {
        let mut form = vec![("csrf", OWNER_CSRF), ("action", "create")];
        form.extend_from_slice(fields);
        self.h.page_post(LIST, Some(OWNER), &form).await
    }

    async fn links(&self) -> Vec<Link> {
        self.h.state.meta.links(self.site_id).await.expect("links")
    }

    async fn link(&self, slug: &str) -> Link {
        self.links()
            .await
            .into_iter()
            .find(|l| l.slug == slug)
            .unwrap_or_else(|| panic!("no link {slug}"))
    }

    /// A request to a short link, as a person (or an app) would make it.
    async fn follow(&self, uri: &str, ua: &str) -> Page {
        let req = Request::get(uri)
            .header(header::HOST, "stats.test")
            .header(header::USER_AGENT, ua)
            .body(Body::empty())
            .expect("req");
        self.send(req).await
    }

    async fn api_stats(&self, id: i64) -> Value {
        let (s, v) = self
            .h
            .get(&format!("/api/v1/links/{id}/stats?period=day"))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }
}

/// `data-value` of the element with `id="…"`.
fn stat(html: &str, id: &str) -> u64 {
    data_value(html, id).parse().expect("a number")
}

#[tokio::test]
async fn owner_creates_a_link_through_the_form_and_it_redirects() {
    let s = setup().await;
    let fields = [
        ("url", "https://example.com/spring?ref=nl"),
        ("slug", "spring"),
        ("channel", "whatsapp"),
        ("campaign", "spring"),
        ("redirect", "302"),
        ("expires", ""),
        ("max_clicks", ""),
    ];
    // Without a valid CSRF token: refused, nothing made.
    for bad in [None, Some(""), Some("nope"), Some(VIEWER_CSRF)] {
        let mut form = vec![("action", "create")];
        form.extend_from_slice(&fields);
        if let Some(t) = bad {
            form.push(("csrf", t));
        }
        let r = s.h.page_post(LIST, Some(OWNER), &form).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "csrf {bad:?}");
    }
    // Not logged in: to the login page.
    let r = s.h.page_post(LIST, None, &fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/login"));
    assert!(s.links().await.is_empty());

    let r = s.create(&fields).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let l = s.link("spring").await;
    assert_eq!(r.location(), format!("{LIST}?created={}", l.id));
    assert_eq!(
        (
            l.utm_source.as_str(),
            l.utm_medium.as_str(),
            l.utm_campaign.as_str()
        ),
        ("whatsapp", "messaging", "spring")
    );
    assert_eq!((l.redirect, l.expires_at, l.max_clicks), (302, None, None));

    // It redirects at once.
    let r = s.follow("/l/spring", IPHONE_SAFARI).await;
    assert_eq!(r.status, StatusCode::FOUND);
    assert!(
        r.location().starts_with(
            "https://example.com/spring?ref=nl&utm_source=whatsapp&utm_medium=messaging&utm_campaign=spring#lc="
        ),
        "{}",
        r.location()
    );

    // The list shows it, highlighted, with its short URL and a copy button.
    let page = s.h.page_get(&r_location_of_create(l.id), Some(OWNER)).await;
    assert_eq!(page.status, StatusCode::OK);
    let b = &page.body;
    assert!(b.contains(&format!("id=\"link-{}\"", l.id)), "{b}");
    assert!(b.contains("data-slug=\"spring\""));
    assert!(b.contains("data-status=\"active\""));
    assert!(b.contains("class=\"new\""));
    assert!(b.contains("Link created."));
    assert!(b.contains("http://stats.test/l/spring"));
    assert!(b.contains("data-copy=\"http://stats.test/l/spring\""));
    assert!(b.contains("https://example.com/spring?ref=nl"));
    assert!(b.contains("WhatsApp"));
    assert!(b.contains("name=\"action\" value=\"create\""));
    assert!(b.contains("name=\"action\" value=\"campaign\""));
    assert!(!b.contains("style="), "no inline style");
    assert!(!b.contains("<script>"), "no inline script");

    // Every site page links to the Links tab.
    for page in [
        "/sites/example.com",
        "/sites/example.com/shares",
        "/sites/example.com/settings",
    ] {
        let r = s.h.page_get(page, Some(OWNER)).await;
        assert_eq!(r.status, StatusCode::OK, "{page}");
        assert!(
            r.body.contains("href=\"/sites/example.com/links\""),
            "{page} has the Links tab"
        );
    }
    let fr =
        s.h.page_get("/sites/example.com?lang=fr", Some(OWNER))
            .await;
    assert!(fr.body.contains(">Liens</a>"));
}

fn r_location_of_create(id: i64) -> String {
    format!("{LIST}?created={id}")
}

#[tokio::test]
async fn invalid_input_shows_a_localized_problem_and_creates_nothing() {
    let s = setup().await;
    // French through ?lang=, the browser's language, or English.
    let r =
        s.h.page_post(
            &format!("{LIST}?lang=fr"),
            Some(OWNER),
            &[
                ("csrf", OWNER_CSRF),
                ("action", "create"),
                ("url", "javascript:alert(1)"),
                ("campaign", "printemps"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body
            .contains("La destination doit être une adresse http:// ou https://."),
        "{}",
        r.body
    );
    assert!(r.body.contains("role=\"alert\""));
    assert!(
        r.body.contains("value=\"javascript:alert(1)\""),
        "the form keeps what was typed"
    );
    assert!(r.body.contains("value=\"printemps\""));
    assert!(r.body.contains("lang=\"fr\""));

    let r = s.create(&[("url", "http://127.0.0.1:8080/admin")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("loopback or private-network address"));

    for (fields, en, fr) in [
        (
            vec![("url", "https://example.com/"), ("slug", "a b")],
            "A slug is 1 to 64 letters",
            "Un identifiant compte 1 à 64",
        ),
        (
            vec![("url", "")],
            "Give the target URL.",
            "Indiquez l’adresse de destination.",
        ),
        (
            vec![("url", "https://example.com/"), ("channel", "pigeon")],
            "Unknown channel.",
            "Canal inconnu.",
        ),
        (
            vec![("url", "https://example.com/"), ("max_clicks", "0")],
            "The click limit is a whole number",
            "Le nombre maximal de clics est un nombre entier",
        ),
        (
            vec![("url", "https://example.com/"), ("expires", "tomorrow")],
            "The last day is a date",
            "Le dernier jour est une date",
        ),
        (
            vec![("url", "https://example.com/"), ("redirect", "303")],
            "The redirect is 301, 302 or 307.",
            "La redirection est 301, 302 ou 307.",
        ),
        (
            vec![("url", "https://user:pw@example.com/")],
            "must not contain a user name or password",
            "ni nom d’utilisateur ni mot de passe",
        ),
    ] {
        let mut form = vec![("csrf", OWNER_CSRF), ("action", "create")];
        form.extend_from_slice(&fields);
        let r = s.h.page_post(LIST, Some(OWNER), &form).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(r.body.contains(en), "{fields:?}: {}", r.body);
        let req = Request::post(LIST)
            .header(header::HOST, "stats.test")
            .header(header::COOKIE, cookie(OWNER))
            .header(header::ACCEPT_LANGUAGE, "fr-FR,fr;q=0.9")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        let r = s
            .send(
                req.body(Body::from(
                    serde_urlencoded::to_string(&form).expect("form"),
                ))
                .expect("req"),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(r.body.contains(fr), "{fields:?}: {}", r.body);
    }
    assert!(s.links().await.is_empty(), "nothing was created");

    // A taken slug.
    let ok = [("url", "https://example.com/"), ("slug", "dup")];
    assert_eq!(s.create(&ok).await.status, StatusCode::SEE_OTHER);
    let r = s.create(&ok).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("This slug is already taken"));
    assert_eq!(s.links().await.len(), 1);

    // Everything typed comes back escaped.
    let r = s
        .create(&[
            ("url", "https://example.com/\"><script>alert(1)</script>"),
            ("campaign", "<b>bold</b>"),
            ("slug", "<x>"),
        ])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(!r.body.contains("<script>alert(1)"), "{}", r.body);
    assert!(!r.body.contains("<b>bold"));
    assert!(r.body.contains("&lt;b&gt;bold&lt;/b&gt;"));
    // A stored link with HTML in its fields (the API accepts any campaign text).
    let r = s
        .create(&[
            ("url", "https://example.com/?q=<i>x</i>"),
            ("slug", "esc"),
            ("campaign", "<img src=x onerror=alert(1)>"),
        ])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let id = s.link("esc").await.id;
    for page in [LIST.to_string(), format!("{LIST}/{id}")] {
        let r = s.h.page_get(&page, Some(OWNER)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(!r.body.contains("<img src=x"), "{page}");
        assert!(
            r.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{page}"
        );
    }
}

#[tokio::test]
async fn the_campaign_form_makes_one_link_per_ticked_channel() {
    let s = setup().await;
    let r =
        s.h.page_post(
            LIST,
            Some(OWNER),
            &[
                ("csrf", OWNER_CSRF),
                ("action", "campaign"),
                ("url", "https://example.com/launch"),
                ("campaign", "launch"),
                ("slug_prefix", "launch"),
                ("channels", "whatsapp"),
                ("channels", "sms"),
                ("channels", "email"),
                ("channels", "qr-code"),
                ("channels", "linkedin"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let mut made: Vec<(String, String, String, String)> = s
        .links()
        .await
        .into_iter()
        .map(|l| (l.slug, l.channel, l.utm_medium, l.utm_campaign))
        .collect();
    made.sort();
    let want = |slug: &str, ch: &str, medium: &str| {
        (
            slug.to_string(),
            ch.to_string(),
            medium.to_string(),
            "launch".to_string(),
        )
    };
    assert_eq!(
        made,
        vec![
            want("launch-email", "email", "email"),
            want("launch-linkedin", "linkedin", "social"),
            want("launch-qr-code", "qr-code", "qr"),
            want("launch-sms", "sms", "sms"),
            want("launch-whatsapp", "whatsapp", "messaging"),
        ]
    );
    let page = s.h.page_get(r.location(), Some(OWNER)).await;
    assert!(page.body.contains("5 links created."), "{}", page.body);
    assert_eq!(page.body.matches("<tr id=\"link-").count(), 5);
    assert_eq!(page.body.matches("class=\"new\"").count(), 5);
    for slug in ["launch-whatsapp", "launch-qr-code"] {
        assert_eq!(
            s.follow(&format!("/l/{slug}"), CHROME).await.status,
            StatusCode::FOUND
        );
    }

    // No channel, an unknown one, no campaign: a problem, nothing more is made.
    for (fields, text) in [
        (
            vec![("url", "https://example.com/x"), ("campaign", "c")],
            "Cochez de 1 à 20",
        ),
        (
            vec![
                ("url", "https://example.com/x"),
                ("campaign", "c"),
                ("channels", "whatsapp"),
                ("channels", "pigeon"),
            ],
            "Canal inconnu.",
        ),
        (
            vec![("url", "https://example.com/x"), ("channels", "sms")],
            "Donnez un nom à la campagne.",
        ),
        (
            vec![
                ("url", "https://example.com/x"),
                ("campaign", "again"),
                ("slug_prefix", "launch"),
                ("channels", "whatsapp"),
            ],
            "Cet identifiant est déjà pris",
        ),
    ] {
        let mut form = vec![("csrf", OWNER_CSRF), ("action", "campaign")];
        form.extend_from_slice(&fields);
        let r =
            s.h.page_post(&format!("{LIST}?lang=fr"), Some(OWNER), &form)
                .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(r.body.contains(text), "{fields:?}: {}", r.body);
    }
    assert_eq!(s.links().await.len(), 5);
}

#[tokio::test]
async fn disable_enable_edit_and_delete_take_effect_at_once() {
    let s = setup().await;
    let r = s
        .create(&[("url", "https://example.com/a"), ("slug", "ab")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let id = s.link("ab").await.id;
    let at = format!("{LIST}/{id}");
    let act = |action: &'static str, from: &'static str| {
        vec![("csrf", OWNER_CSRF), ("action", action), ("from", from)]
    };

    let r =
        s.h.page_post(&at, Some(OWNER), &act("disable", "list"))
            .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), LIST);
    let r = s.follow("/l/ab", CHROME).await;
    assert_eq!(r.status, StatusCode::GONE, "a disabled link answers 410");
    let list = s.h.page_get(LIST, Some(OWNER)).await;
    assert!(list.body.contains("data-status=\"disabled\""));
    assert!(list.body.contains("name=\"action\" value=\"enable\""));

    let r =
        s.h.page_post(&at, Some(OWNER), &act("enable", "report"))
            .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), at);
    assert_eq!(s.follow("/l/ab", CHROME).await.status, StatusCode::FOUND);

    // Edit: a new target, campaign and click limit; the last day is kept as shown.
    let r =
        s.h.page_post(
            &format!("{at}?lang=fr"),
            Some(OWNER),
            &[
                ("csrf", OWNER_CSRF),
                ("action", "edit"),
                ("url", "https://example.com/b"),
                ("slug", "ab"),
                ("channel", "sms"),
                ("campaign", "autumn"),
                ("redirect", "307"),
                ("expires", "2099-12-31"),
                ("max_clicks", "50"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), format!("{at}?saved=1&lang=fr"));
    let l = s.link("ab").await;
    assert_eq!(l.target, "https://example.com/b");
    assert_eq!(
        (
            l.channel.as_str(),
            l.utm_source.as_str(),
            l.utm_medium.as_str()
        ),
        ("sms", "sms", "sms")
    );
    assert_eq!(l.utm_campaign, "autumn");
    assert_eq!((l.redirect, l.max_clicks), (307, Some(50)));
    assert_eq!(
        l.expires_at.map(|t| t.to_rfc3339()),
        Some("2100-01-01T00:00:00+00:00".to_string()),
        "the last day, whole (UTC site)"
    );
    let r = s.follow("/l/ab", CHROME).await;
    assert_eq!(r.status, StatusCode::TEMPORARY_REDIRECT);
    assert!(r.location().starts_with(
        "https://example.com/b?utm_source=sms&utm_medium=sms&utm_campaign=autumn#lc="
    ));
    let page = s.h.page_get(r_saved(&at).as_str(), Some(OWNER)).await;
    assert!(page.body.contains("Lien enregistré."), "{}", page.body);
    assert!(page.body.contains("value=\"2099-12-31\""));

    // A bad edit: the problem in the form, the link unchanged.
    let r =
        s.h.page_post(
            &format!("{at}?lang=fr"),
            Some(OWNER),
            &[
                ("csrf", OWNER_CSRF),
                ("action", "edit"),
                ("url", "ftp://example.com/"),
                ("campaign", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r
        .body
        .contains("La destination doit être une adresse http:// ou https://."));
    assert_eq!(s.link("ab").await.target, "https://example.com/b");

    // Delete: gone from the list and the redirect.
    let r =
        s.h.page_post(&at, Some(OWNER), &act("delete", "report"))
            .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), format!("{LIST}?deleted=1"));
    assert!(s.links().await.is_empty());
    assert_eq!(
        s.follow("/l/ab", CHROME).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.h.page_get(&at, Some(OWNER)).await.status,
        StatusCode::NOT_FOUND
    );
    let list =
        s.h.page_get(&format!("{LIST}?deleted=1"), Some(OWNER))
            .await;
    assert!(list.body.contains("Link deleted."));
}

fn r_saved(at: &str) -> String {
    format!("{at}?saved=1&lang=fr")
}

#[tokio::test]
async fn an_unchanged_edit_keeps_an_exact_expiry() {
    let s = setup().await;
    // Made through the API with an expiry in the middle of a day.
    let req = Request::post("/api/v1/links")
        .header("authorization", format!("Bearer {}", s.h.key))
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"site_id":"example.com","url":"https://example.com/","slug":"exact","expires_at":"2090-06-15T12:34:56Z","utm_source":"custom"}"#,
        ))
        .expect("req");
    assert_eq!(s.send(req).await.status, StatusCode::CREATED);
    let before = s.link("exact").await;
    let page =
        s.h.page_get(&format!("{LIST}/{}", before.id), Some(OWNER))
            .await;
    assert!(page.body.contains("name=\"expires\" value=\"2090-06-15\""));
    let r =
        s.h.page_post(
            &format!("{LIST}/{}", before.id),
            Some(OWNER),
            &[
                ("csrf", OWNER_CSRF),
                ("action", "edit"),
                ("url", "https://example.com/"),
                ("slug", "exact"),
                ("channel", ""),
                ("campaign", "kept"),
                ("redirect", "302"),
                ("expires", "2090-06-15"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let after = s.link("exact").await;
    assert_eq!(after.expires_at, before.expires_at);
    assert_eq!(
        after.utm_source, "custom",
        "an unchanged channel keeps custom UTM"
    );
    assert_eq!(after.utm_campaign, "kept");
}

#[tokio::test]
async fn the_report_page_shows_the_api_numbers() {
    let s = setup().await;
    let r = s
        .create(&[
            ("url", "https://example.com/post"),
            ("slug", "rep"),
            ("channel", "whatsapp"),
            ("campaign", "c"),
        ])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let id = s.link("rep").await.id;
    // Two clicks (one person), a QR scan, a WhatsApp preview; the landing visit.
    let click = s.follow("/l/rep", IPHONE_SAFARI).await;
    assert_eq!(click.status, StatusCode::FOUND);
    let loc = click.location().to_string();
    s.follow("/l/rep", IPHONE_SAFARI).await;
    s.follow("/l/rep?qr=1", CHROME).await;
    s.follow("/l/rep", WHATSAPP_PREVIEW).await;
    let body = format!(
        r#"{{"n":"pageview","u":"{loc}","d":"example.com","r":null,"t":"{}"}}"#,
        lucarne_core::token::Token::from_bits(4242).expect("t")
    );
    let (st, v) =
        s.h.event_from(&body, IPHONE_SAFARI, [198, 51, 100, 7])
            .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let mut api = s.api_stats(id).await;
    for _ in 0..100 {
        if api["clicks"] == 2
            && api["scans"] == 1
            && api["previews"].as_array().map(Vec::len) == Some(1)
            && api["landing_visits"] == 1
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        api = s.api_stats(id).await;
    }
    assert_eq!(api["clicks"], 2, "{api}");

    let page =
        s.h.page_get(&format!("{LIST}/{id}?period=day"), Some(OWNER))
            .await;
    assert_eq!(page.status, StatusCode::OK);
    let b = &page.body;
    for key in [
        "clicks",
        "unique_clickers",
        "scans",
        "landing_visits",
        "onward_shares",
    ] {
        assert_eq!(
            Some(stat(b, &format!("stat-{key}"))),
            api[key].as_u64(),
            "{key}: {api}"
        );
    }
    assert!(b.contains("Pasted into WhatsApp"), "{b}");
    assert!(b.contains("data-app=\"whatsapp\" data-value=\"1\""));
    // Clicks per day: one bar per day of the period, summing to the clicks.
    let per_day: u64 = b
        .split("class=\"pt\" data-date=\"")
        .skip(1)
        .map(|s| {
            let v = s.split("data-value=\"").nth(1).expect("value");
            v[..v.find('"').expect("end")].parse::<u64>().expect("n")
        })
        .sum();
    assert_eq!(per_day, 2);
    // Breakdown tables: the clicks' channel.
    assert!(b.contains("id=\"link-by_channel\""));
    assert_eq!(api["by_channel"][0]["value"], "whatsapp");
    assert!(b.contains("<tr data-value=\"whatsapp\">"));
    assert!(b.contains("id=\"link-by_device\""));
    // The edit form and the QR code, for the owner.
    assert!(b.contains("name=\"action\" value=\"edit\""));
    assert!(b.contains(&format!("src=\"{LIST}/{id}/qr.svg?size=256\"")));
    assert!(b.contains(&format!(
        "href=\"{LIST}/{id}/qr.png?size=1024&amp;download=1\""
    )));
    assert!(!b.contains("style="));

    // In French; another period, and a custom range.
    let fr =
        s.h.page_get(&format!("{LIST}/{id}?period=day&lang=fr"), Some(OWNER))
            .await;
    assert!(fr.body.contains("Collé dans WhatsApp"), "{}", fr.body);
    assert!(fr.body.contains("Personnes distinctes"));
    let week =
        s.h.page_get(&format!("{LIST}/{id}?period=7d"), Some(OWNER))
            .await;
    assert_eq!(week.status, StatusCode::OK);
    assert_eq!(stat(&week.body, "stat-clicks"), 2);
    assert_eq!(week.body.matches("class=\"pt\" data-date=").count(), 7);
    let bad =
        s.h.page_get(
            &format!("{LIST}/{id}?period=custom&from=2026-01-01"),
            Some(OWNER),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    // The list counts clicks and scans so far.
    let list = s.h.page_get(LIST, Some(OWNER)).await;
    assert!(
        list.body.contains("<td class=\"num\">3</td>"),
        "{}",
        list.body
    );
}

#[tokio::test]
async fn qr_codes_for_logged_in_users() {
    let s = setup().await;
    s.create(&[("url", "https://example.com/poster"), ("slug", "poster")])
        .await;
    let id = s.link("poster").await.id;
    let svg = format!("{LIST}/{id}/qr.svg");
    let png = format!("{LIST}/{id}/qr.png");
    for who in [OWNER, VIEWER] {
        let r = s.h.page_get(&svg, Some(who)).await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers[header::CONTENT_TYPE], "image/svg+xml");
        assert!(r.body.starts_with("<svg"), "{}", r.body);
        assert!(r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ascii")
            .starts_with("inline"));
        let req = Request::get(format!("{png}?size=128&download=1"))
            .header(header::HOST, "stats.test")
            .header(header::COOKIE, cookie(who))
            .body(Body::empty())
            .expect("req");
        let resp = tower::ServiceExt::oneshot(s.h.router.clone(), req)
            .await
            .expect("resp");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "image/png");
        assert_eq!(
            resp.headers()[header::CONTENT_DISPOSITION],
            "attachment; filename=\"qr-poster.png\""
        );
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(&bytes[1..4], b"PNG");
    }
    // The same code as the API's: the short URL with the scan marker.
    let req = Request::get(format!("/api/v1/links/{id}/qr.svg"))
        .header("authorization", format!("Bearer {}", s.h.key))
        .header(header::HOST, "stats.test")
        .body(Body::empty())
        .expect("req");
    let api = s.send(req).await;
    assert_eq!(api.body, s.h.page_get(&svg, Some(OWNER)).await.body);
    // Bad options, strangers, anonymous visitors, unknown links.
    for bad in ["size=5", "size=abc", "margin=99", "ec=Z"] {
        let r = s.h.page_get(&format!("{svg}?{bad}"), Some(OWNER)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    assert_eq!(
        s.h.page_get(&svg, Some(STRANGER)).await.status,
        StatusCode::NOT_FOUND
    );
    let anon = s.h.page_get(&png, None).await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert!(anon.location().starts_with("/login"));
    for missing in [
        format!("{LIST}/999999/qr.svg"),
        format!("{LIST}/abc/qr.png"),
        format!("{LIST}/-1/qr.png"),
    ] {
        assert_eq!(
            s.h.page_get(&missing, Some(OWNER)).await.status,
            StatusCode::NOT_FOUND,
            "{missing}"
        );
    }
    // A link of another site is not reachable through this one.
    let other =
        s.h.state
            .meta
            .site_by_domain("other.example")
            .await
            .expect("meta")
            .expect("site");
    let theirs =
        s.h.state
            .meta
            .create_link(
                other.id,
                &lucarne_store::meta::LinkInput {
                    slug: "theirs".into(),
                    target: "https://other.example/".into(),
                    redirect: 302,
                    ..Default::default()
                },
            )
            .await
            .expect("link");
    for path in [
        format!("{LIST}/{}", theirs.id),
        format!("{LIST}/{}/qr.svg", theirs.id),
    ] {
        assert_eq!(
            s.h.page_get(&path, Some(OWNER)).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let r =
        s.h.page_post(
            &format!("{LIST}/{}", theirs.id),
            Some(OWNER),
            &[("csrf", OWNER_CSRF), ("action", "delete")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        s.h.state.meta.links(other.id).await.expect("links").len(),
        1
    );
}

#[tokio::test]
async fn viewers_see_links_and_reports_but_cannot_change_them() {
    let s = setup().await;
    s.create(&[("url", "https://example.com/v"), ("slug", "seen")])
        .await;
    let id = s.link("seen").await.id;
    let list = s.h.page_get(LIST, Some(VIEWER)).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(list.body.contains("data-slug=\"seen\""));
    assert!(list
        .body
        .contains("only the site's owners create or change them"));
    assert!(
        !list.body.contains("name=\"action\""),
        "no form for a viewer"
    );
    let report = s.h.page_get(&format!("{LIST}/{id}"), Some(VIEWER)).await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(report.body.contains("id=\"stat-clicks\""));
    assert!(!report.body.contains("name=\"action\""));
    assert!(!report.body.contains("/settings\""), "no owner tabs");

    let posts: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            LIST.into(),
            vec![("action", "create"), ("url", "https://example.com/evil")],
        ),
        (
            LIST.into(),
            vec![
                ("action", "campaign"),
                ("url", "https://example.com/evil"),
                ("campaign", "c"),
                ("channels", "sms"),
            ],
        ),
        (format!("{LIST}/{id}"), vec![("action", "disable")]),
        (format!("{LIST}/{id}"), vec![("action", "delete")]),
        (
            format!("{LIST}/{id}"),
            vec![("action", "edit"), ("url", "https://example.com/evil")],
        ),
    ];
    for (path, fields) in &posts {
        let mut form = fields.clone();
        form.push(("csrf", VIEWER_CSRF));
        let r = s.h.page_post(path, Some(VIEWER), &form).await;
        assert_eq!(
            r.status,
            StatusCode::FORBIDDEN,
            "viewer POST {path} {fields:?}"
        );
        let mut form = fields.clone();
        form.push(("csrf", STRANGER_CSRF));
        let r = s.h.page_post(path, Some(STRANGER), &form).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "stranger POST {path}");
        assert!(!r.body.contains("example.com/v"));
    }
    let links = s.links().await;
    assert_eq!(links.len(), 1);
    assert!(!links[0].disabled);
    assert_eq!(links[0].target, "https://example.com/v");
    // A stranger sees nothing of the site.
    for path in [LIST.to_string(), format!("{LIST}/{id}")] {
        let r = s.h.page_get(&path, Some(STRANGER)).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(!r.body.contains("seen"));
    }
}
