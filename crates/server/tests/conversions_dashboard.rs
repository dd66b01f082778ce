//! The dashboard's Conversions view through `app(state)` with `oneshot`: visits, purchases
//! and survey answers made through `POST /api/event`, goals added through the owner's
//! form (CSRF), then the page — goal numbers, the breakdown, the private/public uplift,
//! the survey matrix and estimate, equal to the JSON APIs' — as an owner, a viewer (no
//! forms), through a shared link, anonymously and as a stranger (as for /shares), in
//! French; a bad goal shows a problem and changes nothing; delete works.

mod common;

use axum::http::StatusCode;
use common::*;
use serde_json::{json, Value};

const PAGE: &str = "/sites/example.com/conversions";
const ANDROID_CHROME: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";

/// Four visits from WhatsApp (private), four from Facebook (public), two direct.
const PRIVATE: [[u8; 4]; 4] = [
    [198, 51, 100, 1],
    [198, 51, 100, 2],
    [198, 51, 100, 3],
    [198, 51, 100, 4],
];
const PUBLIC: [[u8; 4]; 4] = [
    [198, 51, 100, 11],
    [198, 51, 100, 12],
    [198, 51, 100, 13],
    [198, 51, 100, 14],
];
const DIRECT: [[u8; 4]; 2] = [[198, 51, 100, 21], [198, 51, 100, 22]];

struct S {
    h: Harness,
    site_id: u32,
}

/// example.com with an owner and a viewer, other.example whose owner has no role on
/// example.com; the visits, purchases and survey answers of today.
async fn setup() -> S {
    let h = harness().await;
    let site_id = h.add_roles().await;
    let s = S { h, site_id };

    // Arrivals.
    for ip in PRIVATE {
        s.hit(ip, ANDROID_CHROME, json!({"n": "pageview", "u": "https://example.com/offer", "d": "example.com", "r": "android-app://com.whatsapp/"}))
            .await;
    }
    for ip in PUBLIC {
        s.hit(ip, CHROME, json!({"n": "pageview", "u": "https://example.com/offer", "d": "example.com", "r": "https://www.facebook.com/"}))
            .await;
    }
    for ip in DIRECT {
        s.hit(
            ip,
            CHROME,
            json!({"n": "pageview", "u": "https://example.com/", "d": "example.com"}),
        )
        .await;
    }
    // Purchases: two private visits (one buys twice, once in dollars), one public.
    let buy = |amount: &str, currency: &str| {
        json!({"n": "purchase", "u": "https://example.com/checkout", "d": "example.com",
               "revenue": {"amount": amount, "currency": currency}})
    };
    s.hit(PRIVATE[0], ANDROID_CHROME, buy("20.00", "EUR")).await;
    s.hit(PRIVATE[1], ANDROID_CHROME, buy("10.00", "EUR")).await;
    s.hit(PRIVATE[1], ANDROID_CHROME, buy("5.00", "USD")).await;
    s.hit(PUBLIC[0], CHROME, buy("30.00", "EUR")).await;
    // The thank-you page, once.
    s.hit(
        PRIVATE[0],
        ANDROID_CHROME,
        json!({"n": "pageview", "u": "https://example.com/thanks", "d": "example.com"}),
    )
    .await;
    // Survey answers: the two direct visits say WhatsApp (one in free text), a private
    // visit says WhatsApp, a public one Facebook, another public one something unknown.
    let answer = |a: &str, t: &str| {
        json!({"n": "survey", "u": "https://example.com/thanks", "d": "example.com",
               "p": {"answer": a, "text": t}})
    };
    s.hit(DIRECT[0], CHROME, answer("whatsapp", "")).await;
    s.hit(
        DIRECT[1],
        CHROME,
        answer("other", "My cousin sent it on WhatsApp"),
    )
    .await;
    s.hit(PRIVATE[2], ANDROID_CHROME, answer("whatsapp", ""))
        .await;
    s.hit(PUBLIC[1], CHROME, answer("facebook", "")).await;
    s.hit(PUBLIC[2], CHROME, answer("other", "saw a poster"))
        .await;
    s
}

impl S {
    async fn hit(&self, ip: [u8; 4], ua: &str, body: Value) {
        let (st, v) = self.h.event_from(&body.to_string(), ua, ip).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{body}: {v}");
    }

    /// Add a goal through the dashboard's form, as the owner.
    async fn add_goal(&self, kind: &str, value: &str, name: &str) -> Page {
        self.h
            .page_post(
                PAGE,
                Some(OWNER),
                &[
                    ("csrf", OWNER_CSRF),
                    ("action", "add"),
                    ("kind", kind),
                    ("value", value),
                    ("name", name),
                ],
            )
            .await
    }

    async fn goals(&self) -> Vec<(i64, String, String)> {
        self.h
            .state
            .meta
            .goals(self.site_id)
            .await
            .expect("goals")
            .into_iter()
            .map(|g| (g.id, g.name, g.kind.value().to_string()))
            .collect()
    }

    async fn api(&self, uri: &str) -> Value {
        let (st, v) = self.h.get(uri).await;
        assert_eq!(st, StatusCode::OK, "{uri}: {v}");
        v
    }

    /// The two goals of these tests: `purchase` and the thank-you page.
    async fn with_goals(&self) -> (i64, i64) {
        let r = self.add_goal("event", "purchase", "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location(), format!("{PAGE}?added=1"));
        let r = self.add_goal("page", "/thanks", "Thank-you page").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let goals = self.goals().await;
        assert_eq!(goals.len(), 2, "{goals:?}");
        assert_eq!(goals[0].1, "purchase");
        assert_eq!(
            (goals[1].1.as_str(), goals[1].2.as_str()),
            ("Thank-you page", "/thanks")
        );
        (goals[0].0, goals[1].0)
    }
}

/// The markup of the first `<tr>` carrying `marker`, up to its `</tr>`.
fn row<'a>(html: &'a str, marker: &str) -> &'a str {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("no row {marker}"));
    let rest = &html[at..];
    &rest[..rest.find("</tr>").unwrap_or(rest.len())]
}

/// A number as the page rounds it to one decimal.
fn d1(v: &Value) -> String {
    format!(
        "{:.1}",
        (v.as_f64().expect("number").abs() * 10.0).round() / 10.0
    )
}

/// Text without tags.
fn text(markup: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in markup.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// The text of the cell `data-col="col"` of a row.
fn col(row: &str, col: &str) -> String {
    let needle = format!("data-col=\"{col}\">");
    let at = row
        .find(&needle)
        .unwrap_or_else(|| panic!("no column {col} in {row}"))
        + needle.len();
    let rest = &row[at..];
    text(&rest[..rest.find("</td>").unwrap_or(rest.len())])
}

/// The text of the element with this `id`, up to the first closing tag of its kind.
fn by_id(html: &str, id: &str, close: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &html[at..];
    let start = rest.find('>').map_or(0, |i| i + 1);
    text(&rest[start..rest.find(close).unwrap_or(rest.len())])
}

/// The text shown by a tile (`id="stat-KEY"`).
fn shown(html: &str, key: &str) -> String {
    let at = html
        .find(&format!("id=\"stat-{key}\""))
        .unwrap_or_else(|| panic!("no tile {key}"));
    let rest = &html[at..];
    let v = rest.find("class=\"value\">").expect("value") + "class=\"value\">".len();
    rest[v..].split('<').next().unwrap_or_default().to_string()
}

#[tokio::test]
async fn goals_breakdown_and_uplift_match_the_api() {
    let s = setup().await;
    let (purchase, thanks) = s.with_goals().await;
    let html = s.h.page_ok(&format!("{PAGE}?period=day"), OWNER).await;
    let api = s
        .api("/api/v1/stats/conversions?site_id=example.com&period=day")
        .await;

    // Goals: 10 visits; purchase: 3 converting visits, 4 purchases, 30 %, 60 EUR + 5 USD
    // left apart (no rate); the thank-you page: 1 visit, 10 %.
    let p = row(&html, &format!("id=\"goal-{purchase}\""));
    assert_eq!(col(p, "visits"), "10");
    assert_eq!(col(p, "converting"), "3");
    assert_eq!(col(p, "conversions"), "4");
    assert_eq!(col(p, "rate"), "30.0%");
    let revenue = col(p, "revenue");
    assert!(revenue.starts_with("60.00\u{a0}EUR"), "{revenue}");
    assert!(
        revenue.contains("by currency: 60.00\u{a0}EUR, 5.00\u{a0}USD"),
        "{revenue}"
    );
    assert!(
        revenue.contains("not converted (no exchange rate): USD"),
        "{revenue}"
    );
    assert!(
        p.contains("class=\"selected\""),
        "the first goal is the selected one"
    );
    let t = row(&html, &format!("id=\"goal-{thanks}\""));
    assert_eq!(col(t, "converting"), "1");
    assert_eq!(col(t, "rate"), "10.0%");
    assert!(t.contains("Thank-you page") && t.contains("<code>/thanks</code>"));
    assert!(t.contains("Page visited"));
    // … as the API says.
    let g = &api["goals"][0];
    assert_eq!(g["converting_visits"], 3, "{api}");
    assert_eq!(g["conversion_rate"], 30.0);
    assert_eq!(g["revenue"]["total"], 60.0);
    assert_eq!(g["revenue"]["unconverted"], json!(["USD"]));

    // The breakdown by channel group.
    assert!(html.contains("<caption>purchase by channel group</caption>"));
    let pm = row(&html, "data-value=\"private-message\"");
    assert!(pm.contains(">Private messages<"), "{pm}");
    assert_eq!(col(pm, "visits"), "4");
    assert_eq!(col(pm, "converting"), "2");
    assert_eq!(col(pm, "conversions"), "3");
    assert_eq!(col(pm, "rate"), "50.0%");
    assert!(col(pm, "revenue").starts_with("30.00\u{a0}EUR"));
    assert_eq!(col(pm, "per-visit"), "7.50\u{a0}EUR");
    let ps = row(&html, "data-value=\"public-social\"");
    assert_eq!(col(ps, "converting"), "1");
    assert_eq!(col(ps, "rate"), "25.0%");
    assert_eq!(col(ps, "per-visit"), "7.50\u{a0}EUR");
    let d = row(&html, "data-value=\"direct\"");
    assert_eq!(
        (col(d, "visits"), col(d, "rate")),
        ("2".into(), "0.0%".into())
    );
    let api_pm = api["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["value"] == "private-message")
        .expect("private row");
    assert_eq!(api_pm["converting_visits"], 2);
    assert_eq!(api_pm["revenue"]["per_visit"], 7.5);

    // The uplift: 2/4 private against 1/4 public: +25 points, twice the rate, not
    // significant with so few visits; its intervals as the API computes them.
    let u = &api["uplift"];
    let pr = row(&html, "id=\"uplift-private\"");
    assert_eq!(col(pr, "visits"), "4");
    assert_eq!(col(pr, "converting"), "2");
    assert_eq!(col(pr, "rate"), "50.0%");
    let pct = |v: &Value| format!("{}%", d1(v));
    assert_eq!(
        col(pr, "interval"),
        format!(
            "{} \u{2013} {}",
            pct(&u["private"]["interval"][0]),
            pct(&u["private"]["interval"][1])
        )
    );
    let pu = row(&html, "id=\"uplift-public\"");
    assert_eq!(col(pu, "rate"), "25.0%");
    let diff = by_id(&html, "uplift-difference", "</dd>");
    assert!(diff.starts_with("+25.0\u{a0}pts"), "{diff}");
    let lo = u["difference_interval"][0].as_f64().expect("low");
    let hi = u["difference_interval"][1].as_f64().expect("high");
    assert!(lo < 0.0 && hi > 0.0, "{u}");
    assert!(
        diff.contains(&format!(
            "95 % interval: \u{2212}{}\u{a0}pts to +{}\u{a0}pts",
            d1(&u["difference_interval"][0]),
            d1(&u["difference_interval"][1])
        )),
        "{diff}"
    );
    assert_eq!(by_id(&html, "uplift-relative", "</dd>"), "+100.0%");
    assert_eq!(u["relative_uplift_percent"], 100.0);
    assert_eq!(u["significant"], false);
    let verdict = by_id(&html, "uplift-verdict", "</p>");
    assert!(verdict.starts_with("Not significant at 95 %"), "{verdict}");
    assert!(by_id(&html, "uplift-method", "</p>").contains("Newcombe's hybrid score method"));

    // The selectors: a plain GET form with labels, the period kept.
    assert!(html.contains("<form class=\"link-form breakdown-form\" method=\"get\" action=\"/sites/example.com/conversions\">"));
    assert!(html.contains("<input type=\"hidden\" name=\"period\" value=\"day\">"));
    assert!(html.contains("<label>Goal<select name=\"goal\">"));
    assert!(html.contains("<label>By<select name=\"by\">"));
    for b in [
        "visit:channel_group",
        "visit:channel",
        "visit:evidence",
        "visit:share_channel",
        "visit:link",
        "visit:generation",
        "share",
        "cascade",
    ] {
        assert!(html.contains(&format!("<option value=\"{b}\"")), "{b}");
    }

    // Another goal, by channel: the thank-you page's one WhatsApp visit.
    let html =
        s.h.page_ok(
            &format!("{PAGE}?period=day&goal={thanks}&by=visit:channel"),
            OWNER,
        )
        .await;
    assert!(html.contains("<caption>Thank-you page by channel</caption>"));
    let wa = row(&html, "data-value=\"whatsapp\"");
    assert!(wa.contains(">WhatsApp<"));
    assert_eq!(col(wa, "converting"), "1");
    assert_eq!(col(wa, "rate"), "25.0%");
    assert!(row(&html, &format!("id=\"goal-{thanks}\"")).contains("class=\"selected\""));
    // The period links keep the goal and the breakdown.
    assert!(html.contains(&format!(
        "href=\"/sites/example.com/conversions?period=7d&amp;goal={thanks}&amp;by=visit%3Achannel\""
    )));
    // Every breakdown answers.
    for by in [
        "visit:evidence",
        "visit:share_channel",
        "visit:link",
        "visit:generation",
        "share",
        "cascade",
    ] {
        let r =
            s.h.page_get(&format!("{PAGE}?period=day&by={by}"), Some(OWNER))
                .await;
        assert_eq!(r.status, StatusCode::OK, "{by}: {}", r.body);
    }
    let r =
        s.h.page_get(&format!("{PAGE}?by=visit:nope"), Some(OWNER))
            .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r =
        s.h.page_get(&format!("{PAGE}?goal=999999"), Some(OWNER))
            .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.body.contains("There is no such goal on this site."),
        "{}",
        r.body
    );

    // CSP-friendly, with the tab current and linked from the other tabs.
    assert!(!html.contains("style="));
    assert!(!html.contains("<script>"));
    assert!(html.contains("aria-current=\"page\">Conversions</a>"));
    let sharing =
        s.h.page_ok("/sites/example.com/shares?period=day", OWNER)
            .await;
    assert!(sharing.contains("href=\"/sites/example.com/conversions?period=day\">Conversions</a>"));
    let overview = s.h.page_ok("/sites/example.com", OWNER).await;
    assert!(overview.contains("href=\"/sites/example.com/conversions\">Conversions</a>"));
    let links = s.h.page_ok("/sites/example.com/links", OWNER).await;
    assert!(links.contains("href=\"/sites/example.com/conversions\">Conversions</a>"));
    let settings = s.h.page_ok("/sites/example.com/settings", OWNER).await;
    assert!(settings.contains("href=\"/sites/example.com/conversions\">Conversions</a>"));
}

#[tokio::test]
async fn survey_matrix_and_estimate_match_the_api() {
    let s = setup().await;
    let html = s.h.page_ok(&format!("{PAGE}?period=day"), OWNER).await;
    let api = s
        .api("/api/v1/stats/surveys?site_id=example.com&period=day")
        .await;
    assert_eq!(api["respondents"], 5, "{api}");
    assert_eq!(shown(&html, "sv_respondents"), "5");

    // The matrix: WhatsApp said from two direct visits (one in free text) and from one
    // WhatsApp visit; Facebook and an unknown "other" from Facebook visits.
    assert!(html.contains("<caption>Respondents by self-reported answer (rows) and measured channel group of their visit (columns)</caption>"));
    let head = html
        .split("class=\"share-table cv-table survey-matrix\"")
        .nth(1)
        .and_then(|t| t.split("</thead>").next())
        .expect("matrix head");
    assert!(head.contains("<th scope=\"col\" class=\"num\">Private messages</th>"));
    assert!(head.contains("<th scope=\"col\" class=\"num\">Public social</th>"));
    assert!(head.contains("<th scope=\"col\" class=\"num\">Direct</th>"));
    assert!(!head.contains(">Search<"), "only the groups present");
    let wa = row(&html, "data-reported=\"whatsapp\"");
    assert!(wa.contains("<th scope=\"row\">WhatsApp</th>"));
    let cell = |r: &str, g: &str| {
        let needle = format!("data-measured=\"{g}\">");
        let at = r.find(&needle).expect("cell") + needle.len();
        r[at..].split('<').next().unwrap_or_default().to_string()
    };
    assert_eq!(cell(wa, "direct"), "2");
    assert_eq!(cell(wa, "private-message"), "1");
    assert_eq!(cell(wa, "public-social"), "0");
    assert_eq!(cell(wa, "total"), "3");
    let fb = row(&html, "data-reported=\"facebook\"");
    assert_eq!(cell(fb, "public-social"), "1");
    let other = row(&html, "data-reported=\"other\"");
    assert!(other.contains(">Other<"));
    assert_eq!(cell(other, "public-social"), "1");
    let api_cell = api["matrix"]
        .as_array()
        .expect("matrix")
        .iter()
        .find(|c| c["reported"] == "whatsapp" && c["measured"] == "direct")
        .expect("cell");
    assert_eq!(api_cell["respondents"], 2);

    // Per measured group: all direct respondents say they came privately; direct is
    // marked as where dark social hides, in words.
    let d = row(&html, "<tr data-measured=\"direct\" class=\"hides-dark\"");
    assert!(d.contains("(dark social hides here)"));
    assert_eq!(col(d, "visits"), "2");
    assert_eq!(col(d, "respondents"), "2");
    assert_eq!(col(d, "private"), "100.0%");
    let ps = row(&html, "<tr data-measured=\"public-social\"");
    assert!(!ps.contains("hides-dark"));
    assert_eq!(col(ps, "respondents"), "2");
    assert_eq!(col(ps, "private"), "0.0%");
    let api_direct = api["measured_groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["measured"] == "direct")
        .expect("direct");
    assert_eq!(
        col(d, "interval"),
        format!(
            "{}% \u{2013} {}%",
            d1(&api_direct["interval"][0]),
            d1(&api_direct["interval"][1])
        )
    );

    // The calibrated share: 0.4 × 1 (WhatsApp) + 0.4 × 0 (Facebook) + 0.2 × 1 (direct)
    // = 60 %, against the 40 % tracking identifies; with the API's interval.
    let e = &api["dark_social"];
    assert_eq!(e["estimated_percent"], 60.0, "{api}");
    assert_eq!(e["measured_percent"], 40.0);
    assert_eq!(shown(&html, "sv_estimate"), "60.0%");
    assert_eq!(shown(&html, "sv_measured"), "40.0%");
    let tile = by_id(&html, "stat-sv_estimate", "</div>");
    assert!(
        tile.contains(&format!(
            "95 % interval: {}% to {}%",
            d1(&e["interval"][0]),
            d1(&e["interval"][1])
        )),
        "{tile}"
    );
    assert!(
        by_id(&html, "survey-method", "</p>").contains("Post-stratified by measured channel group")
    );

    // Free text, with what it is read as.
    let t = row(&html, "my cousin sent it on whatsapp");
    assert!(t.contains("<td>WhatsApp</td>"), "{t}");
    let t = row(&html, "saw a poster");
    assert!(t.contains("<td>(not recognised)</td>"), "{t}");

    // The snippet to embed the survey, with this server's address.
    assert!(html.contains(
        "&lt;script defer data-domain=&quot;example.com&quot; src=&quot;http://stats.test/js/survey.js&quot;&gt;&lt;/script&gt;\n&lt;div data-lucarne-survey&gt;&lt;/div&gt;"
    ));
}

#[tokio::test]
async fn goal_forms_validate_and_delete() {
    let s = setup().await;
    let (purchase, thanks) = s.with_goals().await;
    let html = s.h.page_ok(&format!("{PAGE}?added=1"), OWNER).await;
    assert!(html.contains("<p class=\"flash\" role=\"status\">Goal added.</p>"));
    assert!(html.contains("<label>Kind<select name=\"kind\">"));
    assert!(html.contains("name=\"csrf\" value=\"owner-csrf-token\""));

    // A bad kind, a bad event name, a bad path, a goal the site has: a problem, 400,
    // nothing stored; the form keeps what was typed.
    for (kind, value, problem) in [
        ("bogus", "signup", "is event or page."),
        (
            "event",
            "pageview",
            "An event goal needs an event name of 1 to 120 characters, other than pageview.",
        ),
        (
            "page",
            "thanks",
            "A page goal needs a path starting with / (* matches any part), without spaces.",
        ),
        ("event", "purchase", "The site has this goal already."),
    ] {
        let r = s.add_goal(kind, value, "typed name").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{kind} {value}");
        assert!(r.body.contains("role=\"alert\""), "{kind} {value}");
        assert!(r.body.contains(problem), "{kind} {value}: {}", r.body);
        assert!(r.body.contains("value=\"typed name\""));
        assert!(r
            .body
            .contains(&format!("name=\"value\" value=\"{value}\"")));
    }
    assert_eq!(s.goals().await.len(), 2);
    // In French too.
    let r =
        s.h.page_post(
            &format!("{PAGE}?lang=fr"),
            Some(OWNER),
            &[
                ("csrf", OWNER_CSRF),
                ("action", "add"),
                ("kind", "bogus"),
                ("value", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("Le type d’un objectif est"), "{}", r.body);
    // CSRF: a missing or wrong token is refused.
    for bad in ["", "nope"] {
        let r =
            s.h.page_post(
                PAGE,
                Some(OWNER),
                &[
                    ("csrf", bad),
                    ("action", "add"),
                    ("kind", "event"),
                    ("value", "x"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
    assert_eq!(s.goals().await.len(), 2);

    // Delete: back to the page without the goal; an unknown id is a 404.
    let id = thanks.to_string();
    let r =
        s.h.page_post(
            &format!("{PAGE}?period=day&goal={thanks}&lang=fr"),
            Some(OWNER),
            &[("csrf", OWNER_CSRF), ("action", "delete"), ("id", &id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), format!("{PAGE}?period=day&lang=fr&deleted=1"));
    let goals = s.goals().await;
    assert_eq!(goals.len(), 1);
    assert_eq!(goals[0].0, purchase);
    let html = s.h.page_ok(r.location(), OWNER).await;
    assert!(html.contains("Objectif supprimé."));
    assert!(!html.contains(&format!("id=\"goal-{thanks}\"")));
    let r =
        s.h.page_post(
            PAGE,
            Some(OWNER),
            &[("csrf", OWNER_CSRF), ("action", "delete"), ("id", &id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r =
        s.h.page_post(
            PAGE,
            Some(OWNER),
            &[("csrf", OWNER_CSRF), ("action", "rename")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(s.goals().await.len(), 1);

    // Without goals: the page says how to add one.
    let p = purchase.to_string();
    let r =
        s.h.page_post(
            PAGE,
            Some(OWNER),
            &[("csrf", OWNER_CSRF), ("action", "delete"), ("id", &p)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let html = s.h.page_ok(PAGE, OWNER).await;
    assert!(html.contains("No goal yet."));
    assert!(!html.contains("id=\"uplift\""));
}

#[tokio::test]
async fn viewers_read_only_and_access_as_for_sharing() {
    let s = setup().await;
    let (purchase, _) = s.with_goals().await;

    // A viewer sees the numbers and the goal list, no form that changes anything.
    let html = s.h.page_ok(&format!("{PAGE}?period=day"), VIEWER).await;
    assert_eq!(
        col(row(&html, &format!("id=\"goal-{purchase}\"")), "converting"),
        "3"
    );
    assert!(html.contains("owners add or delete goals."));
    assert!(!html.contains("method=\"post\" action=\"/sites/example.com/conversions"));
    assert!(!html.contains("name=\"action\" value=\"add\""));
    assert!(!html.contains("name=\"action\" value=\"delete\""));
    assert!(row(&html, "<tr data-goal=").contains("<code>purchase</code>"));
    assert!(!html.contains(">Settings<"), "no owner tabs");
    // … and cannot post one.
    let r =
        s.h.page_post(
            PAGE,
            Some(VIEWER),
            &[
                ("csrf", VIEWER_CSRF),
                ("action", "add"),
                ("kind", "event"),
                ("value", "signup"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let id = purchase.to_string();
    let r =
        s.h.page_post(
            PAGE,
            Some(VIEWER),
            &[("csrf", VIEWER_CSRF), ("action", "delete"), ("id", &id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(s.goals().await.len(), 2);

    // Anonymous and a user of another site: the Sharing tab's answers.
    for (who, session) in [("anonymous", None), ("stranger", Some(STRANGER))] {
        let sharing = s.h.page_get("/sites/example.com/shares", session).await;
        let conv = s.h.page_get(PAGE, session).await;
        assert_eq!(conv.status, sharing.status, "{who}");
        assert_ne!(conv.status, StatusCode::OK, "{who}");
        assert_eq!(
            conv.location(),
            sharing.location().replace("%2Fshares", "%2Fconversions"),
            "{who}"
        );
        assert!(!conv.body.contains("purchase"), "{who} sees nothing");
        let post =
            s.h.page_post(
                PAGE,
                session,
                &[
                    ("csrf", STRANGER_CSRF),
                    ("action", "add"),
                    ("kind", "event"),
                    ("value", "leak"),
                ],
            )
            .await;
        assert_eq!(post.status, conv.status, "{who} POST");
        assert!(!post.body.contains("example.com"), "{who} POST leaks");
    }
    let anon = s.h.page_get(PAGE, None).await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert!(anon.location().starts_with("/login?next="));
    let stranger = s.h.page_get(PAGE, Some(STRANGER)).await;
    assert_eq!(stranger.status, StatusCode::NOT_FOUND);
    assert_eq!(s.goals().await.len(), 2);

    // Through a shared link: the numbers, no forms, no snippet, no link out.
    let link =
        s.h.state
            .meta
            .create_shared_link(s.site_id, "press")
            .await
            .expect("link");
    let r =
        s.h.page_get(&format!("/share/{link}/conversions?period=day"), None)
            .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        col(row(&r.body, &format!("id=\"goal-{purchase}\"")), "rate"),
        "30.0%"
    );
    assert!(!r.body.contains("method=\"post\""));
    assert!(!r.body.contains("survey.js"));
    assert!(!r.body.contains("/sites/example.com"), "no link out");
    assert!(r
        .body
        .contains(&format!("href=\"/share/{link}/shares?period=day\"")));
    let shares = s.h.page_get(&format!("/share/{link}/shares"), None).await;
    assert!(shares.body.contains(&format!(
        "href=\"/share/{link}/conversions\">Conversions</a>"
    )));
    let r = s.h.page_get("/share/nope/conversions", None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        r.status,
        s.h.page_get("/share/nope/shares", None).await.status
    );
}

#[tokio::test]
async fn french_page() {
    let s = setup().await;
    let (purchase, _) = s.with_goals().await;
    let fr =
        s.h.page_ok(&format!("{PAGE}?period=day&lang=fr"), OWNER)
            .await;
    assert!(fr.contains("<html lang=\"fr\""));
    for label in [
        "Objectifs et conversions",
        "Visites ayant converti",
        "Taux de conversion",
        "Revenu (EUR)",
        "D’où viennent les conversions",
        "<caption>purchase par groupe de canaux</caption>",
        "Privé ou public\u{a0}: quelles visites convertissent le mieux\u{a0}?",
        "Messageries privées + e-mail",
        "Non significatif à 95\u{a0}%",
        "méthode hybride de Newcombe",
        "Gérer les objectifs",
        "Ajouter l’objectif",
        "Questionnaire\u{a0}: «\u{a0}Comment nous avez-vous connus\u{a0}?\u{a0}»",
        "le dark social s’y cache",
        "Post-stratification par groupe de canaux mesuré",
        "(non reconnu)",
        "Ajouter le questionnaire au site",
    ] {
        assert!(fr.contains(label), "{label}");
    }
    assert!(!fr.contains("Goals &amp; conversions"));
    assert!(!fr.contains("Conversion rate"));
    let p = row(&fr, &format!("id=\"goal-{purchase}\""));
    assert_eq!(col(p, "rate"), "30,0\u{a0}%");
    assert!(col(p, "revenue").starts_with("60,00\u{a0}EUR"));
    assert_eq!(shown(&fr, "sv_estimate"), "60,0\u{a0}%");
    assert_eq!(by_id(&fr, "uplift-relative", "</dd>"), "+100,0\u{a0}%");
    // The language links keep the goal state; the period links keep the language.
    assert!(fr.contains("href=\"/sites/example.com/conversions?period=7d&amp;lang=fr\""));
}
