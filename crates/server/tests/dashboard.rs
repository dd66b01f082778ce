//! The dashboard pages through `app(state)` with `oneshot`: the overview with data,
//! filters, locales, CSV exports (formula neutralisation), escaping, shared links and
//! access.

use std::sync::Arc;

use axum::http::StatusCode;
use lucarne_server::AppState;
use lucarne_store::meta::Role;

/// The stores (embedded, or ClickHouse + PostgreSQL with `LUCARNE_TEST_BACKEND=scale`).
mod common;
use common::{add_member_session, send_page, Req, CHROME};

const SESSION: &str = "0123456789abcdef0123456789abcdef";

struct H {
    h: common::Harness,
    state: Arc<AppState>,
    key: String,
    cookie: String,
}

async fn harness() -> H {
    let h = common::harness().await;
    let m = &h.state.meta;
    let site = m
        .site_by_domain("example.com")
        .await
        .expect("meta")
        .expect("site");
    m.add_site("other.org", "UTC").await.expect("site");
    add_member_session(
        m,
        "owner@example.com",
        site.id,
        Role::Owner,
        SESSION,
        "csrf-token",
    )
    .await;
    let h = H {
        state: h.state.clone(),
        key: h.key.clone(),
        h,
        cookie: format!("lucarne_session={SESSION}"),
    };
    // 8 visitors: 1 from WhatsApp, 1 estimated dark (deep link, no referrer), 6 others.
    h.event(
        "https://example.com/blog/post",
        "android-app://com.whatsapp",
        1,
    )
    .await;
    h.event("https://example.com/deep/article", "", 2).await;
    h.event(
        "https://example.com/?utm_source=%40evil&utm_medium=email&utm_campaign=%3DHYPERLINK(%22http%3A%2F%2Fx%22)",
        "",
        3,
    )
    .await;
    h.event(
        "https://example.com/%3Cscript%3Ewindow.__xss%3D1%3C%2Fscript%3E",
        "https://news.ycombinator.com/",
        4,
    )
    .await;
    for i in 5..=8 {
        h.event("https://example.com/", "https://www.google.com/", i)
            .await;
    }
    h
}

impl H {
    async fn event(&self, url: &str, referrer: &str, ip: u8) {
        let body =
            serde_json::json!({"n": "pageview", "u": url, "d": "example.com", "r": referrer})
                .to_string();
        let (st, v) = self.h.event_from(&body, CHROME, [203, 0, 113, ip]).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{url}: {v}");
    }

    async fn get_with(
        &self,
        uri: &str,
        headers: &[(&str, &str)],
    ) -> (StatusCode, String, axum::http::HeaderMap) {
        let r = send_page(&self.h.router, Req::get(uri).headers(headers)).await;
        (r.status, r.body, r.headers)
    }

    async fn page(&self, uri: &str) -> String {
        let (s, body, _) = self.get_with(uri, &[("cookie", &self.cookie)]).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {body}");
        body
    }

    async fn api(&self, uri: &str) -> serde_json::Value {
        let auth = format!("Bearer {}", self.key);
        let (s, body, _) = self.get_with(uri, &[("authorization", &auth)]).await;
        assert_eq!(s, StatusCode::OK, "{uri}: {body}");
        serde_json::from_str(&body).expect("json")
    }
}

/// The raw number the page shows for a top stat (`data-value`).
fn stat(html: &str, key: &str) -> u64 {
    let needle = format!("id=\"stat-{key}\" data-value=\"");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no stat {key}"))
        + needle.len();
    html[at..]
        .split('"')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("number")
}

/// `visitors` is a HyperLogLog estimate (README "Estimates"); with random daily salts two
/// of 8 visitor ids sometimes share a register, so a small count may be off by one.
fn assert_visitors(estimate: u64, exact: u64) {
    assert!(
        estimate.abs_diff(exact) <= 1,
        "visitors: estimate {estimate}, exact {exact}"
    );
}

#[tokio::test]
async fn overview_renders_with_data_and_matches_the_api() {
    let h = harness().await;
    let html = h.page("/sites/example.com").await;
    let api = h
        .api("/api/v1/stats/aggregate?site_id=example.com&period=30d&metrics=visitors,visits,pageviews")
        .await;
    assert_eq!(
        stat(&html, "visitors"),
        api["results"]["visitors"]["value"].as_u64().unwrap()
    );
    assert_visitors(stat(&html, "visitors"), 8);
    assert_eq!(stat(&html, "pageviews"), 8);
    for p in [
        "channel-groups",
        "channels",
        "evidence",
        "pages",
        "entry-pages",
        "sources",
        "utm-source",
        "utm-medium",
        "utm-campaign",
        "devices",
        "browsers",
        "countries",
    ] {
        assert!(html.contains(&format!("id=\"panel-{p}\"")), "panel {p}");
        assert!(
            html.contains(&format!("/sites/example.com/export/{p}.csv")),
            "export {p}"
        );
    }
    assert!(html.contains("WhatsApp"));
    assert!(html.contains("<svg class=\"chart\""));
    assert_eq!(
        html.matches("<g class=\"pt\">").count(),
        30,
        "one bar group per day"
    );
    // The dark-share card, like the headline, gives no share of 8 visits.
    let card = &html[html.find("id=\"stat-dark_share\"").expect("card")..];
    let card = &card[..card.find("</section>").unwrap_or(card.len())];
    assert!(card.contains("Not enough data"), "{card}");
    assert!(!card.contains("12.5%"), "{card}");
    // CSP-friendly: no inline scripts or styles.
    assert!(!html.contains("style="));
    assert!(!html.contains("<script>"));
    assert!(!html.contains("onclick"));
    // Comparison only when asked.
    assert!(!html.contains("class=\"change"));
    let cmp = h.page("/sites/example.com?compare=1").await;
    assert!(cmp.contains("class=\"change up\""));
}

/// The value of `attr` in the first tag after `marker`.
fn attr_after<'a>(html: &'a str, marker: &str, attr: &str) -> Option<&'a str> {
    let at = html.find(marker)?;
    let rest = &html[at..];
    let tag_end = rest.find('>')?;
    let needle = format!("{attr}=\"");
    let start = rest[..tag_end].find(&needle)? + needle.len();
    rest[start..].split('"').next()
}

/// The headline says what share of visits is dark social, equal to the stats API's, and
/// under it the top private apps; the "travels privately" panel ranks landing pages by
/// dark arrivals with the API's dark share; the Sources panel splits `Direct / None`.
#[tokio::test]
async fn headline_and_travels_privately_match_the_api() {
    let h = harness().await;
    // 40 more visits (48 in all, over the 30 a share needs): 8 from WhatsApp and 4 from
    // Telegram on /blog/post, 10 deep landings without a referrer, 10 from search.
    for i in 0..40u8 {
        let (url, referrer) = match i {
            0..=7 => (
                "https://example.com/blog/post",
                "android-app://com.whatsapp",
            ),
            8..=11 => (
                "https://example.com/blog/post",
                "android-app://org.telegram.messenger",
            ),
            12..=21 => ("https://example.com/deep/article", ""),
            _ => ("https://example.com/", "https://www.google.com/"),
        };
        h.event(url, referrer, 20 + i).await;
    }
    // A share through a button on /blog/post and a link preview WhatsApp fetched of it.
    let token = lucarne_core::token::Token::from_bits(0x77)
        .expect("token")
        .to_string();
    let share = serde_json::json!({"n": "share", "u": "https://example.com/blog/post", "d": "example.com", "t": token, "p": {"channel": "whatsapp"}})
        .to_string();
    let (st, v) = h.h.event_from(&share, CHROME, [203, 0, 113, 1]).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let preview = send_page(
        &h.h.router,
        Req::get("/og/example.com?img=https%3A%2F%2Fexample.com%2Fcover.jpg&p=%2Fblog%2Fpost")
            .headers(&[("user-agent", "WhatsApp/2.23.20.0 A")]),
    )
    .await;
    assert_eq!(preview.status, StatusCode::FOUND, "{}", preview.body);
    let html = h.page("/sites/example.com").await;
    let api = h
        .api("/api/v1/stats/aggregate?site_id=example.com&period=30d&metrics=visits,dark_share")
        .await;
    let shown: f64 = attr_after(&html, "id=\"headline\"", "data-value")
        .expect("headline figure")
        .parse()
        .expect("number");
    assert_eq!(
        shown,
        api["results"]["dark_share"]["value"].as_f64().unwrap()
    );
    // 14 identified (WhatsApp 1 + 8, Telegram 4, the e-mail campaign 1) and 11 estimated
    // (1 + 10) of 48 visits.
    assert_eq!(api["results"]["visits"]["value"], 48);
    assert_eq!(shown, 52.1, "(14 + 11) / 48");
    assert!(html.contains("of visits are dark social"));
    let apps = &html[html.find("id=\"hl-apps\"").expect("apps")..];
    let (wa, tg) = (
        apps.find("data-value=\"whatsapp\"")
            .expect("WhatsApp listed"),
        apps.find("data-value=\"telegram\"")
            .expect("Telegram listed"),
    );
    assert!(wa < tg, "most visits first");
    // Pages that travel privately: /blog/post (13 identified) before /deep/article (11
    // estimated); the dark share of each equals the API's for that landing page.
    let travels = &html[html.find("id=\"panel-travels\"").expect("travels panel")..];
    let travels = &travels[..travels.find("</section>").expect("end")];
    let (post, deep) = (
        travels.find("data-value=\"/blog/post\"").expect("post"),
        travels.find("data-value=\"/deep/article\"").expect("deep"),
    );
    assert!(post < deep);
    let pages = h
        .api("/api/v1/stats/breakdown?site_id=example.com&period=30d&property=visit:entry_page&metrics=visits,dark_share")
        .await;
    for page in ["/blog/post", "/deep/article"] {
        let row = pages["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["entry_page"] == page)
            .expect("api row");
        let at = travels.find(&format!("data-value=\"{page}\"")).unwrap();
        let dark: f64 = attr_after(&travels[at..], "data-dark=", "data-dark")
            .expect("dark share shown")
            .parse()
            .unwrap();
        assert_eq!(dark, row["dark_share"].as_f64().unwrap(), "{page}");
    }
    // Beside them, the shares and previews the Sharing tab and the previews report count.
    let at = travels.find("data-value=\"/blog/post\"").unwrap();
    let shares_api = h
        .api("/api/v1/stats/shares?site_id=example.com&period=30d")
        .await;
    let page_shares = shares_api["by_page"]
        .as_array()
        .and_then(|p| p.iter().find(|r| r["page"] == "/blog/post"))
        .map(|r| r["private"].as_u64().unwrap_or(0) + r["public"].as_u64().unwrap_or(0))
        .unwrap_or(0);
    assert_eq!(page_shares, 1, "{shares_api}");
    assert_eq!(
        attr_after(&travels[at..], "data-shares=", "data-shares"),
        Some("1")
    );
    let previews_api = h
        .api("/api/v1/stats/previews?site_id=example.com&period=30d")
        .await;
    assert_eq!(
        previews_api["results"][0]["page"], "/blog/post",
        "{previews_api}"
    );
    assert_eq!(previews_api["results"][0]["previews"], 1);
    assert_eq!(
        attr_after(&travels[at..], "data-previews=", "data-previews"),
        Some("1")
    );
    let deep = travels.find("data-value=\"/deep/article\"").unwrap();
    assert_eq!(
        attr_after(&travels[deep..], "data-shares=", "data-shares"),
        Some("0")
    );
    // The Sources panel splits Direct / None into what Lucarne knows.
    let sources = &html[html.find("id=\"panel-sources\"").expect("sources")..];
    let sources = &sources[..sources.find("</section>").unwrap()];
    assert!(
        sources.contains("data-group=\"estimated-dark\""),
        "{sources}"
    );
    assert!(sources.contains("likely private: deep page, no referrer"));
}

/// The survey's calibrated estimate stands beside the headline while the survey is on;
/// once it is off, the overview neither shows nor computes it.
#[tokio::test]
async fn the_headline_shows_the_survey_only_while_it_is_on() {
    let h = harness().await;
    for i in 0..30u8 {
        h.event("https://example.com/", "https://www.google.com/", 40 + i)
            .await;
    }
    for (i, answer) in ["whatsapp", "search", "whatsapp"].iter().enumerate() {
        let body = serde_json::json!({"n": "survey", "u": "https://example.com/", "d": "example.com", "p": {"answer": answer}})
            .to_string();
        let (st, v) =
            h.h.event_from(&body, CHROME, [203, 0, 113, 40 + i as u8])
                .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    }
    let html = h.page("/sites/example.com").await;
    let survey = &html[html
        .find("id=\"hl-survey\"")
        .expect("the survey's estimate")..];
    assert!(
        survey.contains("The survey of 3 visitors estimates"),
        "{survey}"
    );
    let mut o = h.state.meta.site_options(1).await.expect("options");
    o.survey_enabled = false;
    h.state.meta.set_site_options(1, &o).await.expect("set");
    h.state.invalidate_sites();
    let html = h.page("/sites/example.com").await;
    assert!(attr_after(&html, "id=\"headline\"", "data-value").is_some());
    assert!(!html.contains("id=\"hl-survey\""));
}

/// A site with too few visits says so instead of giving a share; an empty one shows no
/// bounce rate or duration rather than zeros; exact counts are not called estimates.
#[tokio::test]
async fn small_and_empty_sites_get_no_made_up_figures() {
    let h = harness().await;
    let html = h.page("/sites/example.com").await;
    assert!(attr_after(&html, "id=\"headline\"", "data-value").is_none());
    assert!(
        html.contains("Not enough visits yet to say how much is dark social (8 of the 30 needed).")
    );
    assert!(!html.contains("±2"), "8 visitors are counted exactly");
    // The top apps give counts, not shares, below the threshold: WhatsApp's 1 visit.
    let apps = &html[html.find("id=\"hl-apps\"").expect("apps")..];
    let apps = &apps[..apps.find("</ol>").expect("a list")];
    assert!(apps.contains("1\u{a0}visit<"), "{apps}");
    assert!(!apps.contains("%</span>"), "{apps}");
    // Page rows of fewer than 10 visits show a dash, not a share.
    let pages = &html[html.find("id=\"panel-pages\"").expect("pages")..];
    assert!(pages[..pages.find("</section>").unwrap()].contains("title=\"Not enough data\""));
    let m = &h.state.meta;
    let owner = m
        .user_by_email("owner@example.com")
        .await
        .expect("meta")
        .expect("owner");
    let other = m
        .site_by_domain("other.org")
        .await
        .expect("meta")
        .expect("site");
    m.set_member(other.id, owner.id, Role::Owner)
        .await
        .expect("member");
    let empty = h.page("/sites/other.org").await;
    let bounce = &empty[empty.find("id=\"stat-bounce_rate\"").expect("bounce")..];
    let value = bounce
        .split("class=\"value\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert_eq!(value, "–");
}

#[tokio::test]
async fn filters_apply_and_show_as_chips() {
    let h = harness().await;
    let html = h.page("/sites/example.com").await;
    // The channel row links to the same page with the filter added.
    assert!(html.contains("href=\"/sites/example.com?f=visit%3Achannel%3D%3Dwhatsapp\""));
    let filtered = h
        .page("/sites/example.com?f=visit%3Achannel%3D%3Dwhatsapp&period=7d")
        .await;
    assert_eq!(stat(&filtered, "visitors"), 1);
    let api = h
        .api(
            "/api/v1/stats/aggregate?site_id=example.com&period=7d&filters=visit:channel==whatsapp",
        )
        .await;
    assert_eq!(api["results"]["visitors"]["value"], 1);
    assert!(filtered.contains("class=\"chip\" data-property=\"visit:channel\""));
    // The chip's remove link keeps the rest of the state.
    assert!(filtered.contains("class=\"remove\" href=\"/sites/example.com?period=7d\""));
    // Two filters combine.
    let both = h
        .page("/sites/example.com?f=visit%3Achannel_group%3D%3Dsearch&f=event%3Apage%3D%3D%2F")
        .await;
    assert_eq!(stat(&both, "visitors"), 4);
    assert_eq!(both.matches("class=\"chip\"").count(), 2);
    // Custom range in the past: nothing.
    let empty = h
        .page("/sites/example.com?period=custom&from=2020-01-01&to=2020-01-31")
        .await;
    assert_eq!(stat(&empty, "visitors"), 0);
    assert!(empty.contains("Jan 1, 2020 – Jan 31, 2020"));
    let (s, _, _) = h
        .get_with(
            "/sites/example.com?period=custom&from=2020-02-01&to=2020-01-01",
            &[("cookie", &h.cookie)],
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn french_and_english_formatting() {
    let h = harness().await;
    // 32 visits in all: WhatsApp's one is 3.1 % of them, a share the top apps give.
    for i in 0..24u8 {
        h.event("https://example.com/", "https://www.google.com/", 40 + i)
            .await;
    }
    let fr = h.page("/sites/example.com?lang=fr").await;
    assert!(fr.contains("<html lang=\"fr\""));
    assert!(fr.contains("Visiteurs"));
    assert!(fr.contains("3,1\u{a0}%"), "French percentage");
    assert!(fr.contains("Part du dark social"));
    let en = h.page("/sites/example.com?lang=en").await;
    assert!(en.contains("Visitors") && en.contains("3.1%"));
    // From the browser when neither the URL nor the user says.
    let (_, accept_fr, _) = h
        .get_with(
            "/sites/example.com",
            &[
                ("cookie", &h.cookie),
                ("accept-language", "fr-FR,fr;q=0.9,en;q=0.5"),
            ],
        )
        .await;
    assert!(accept_fr.contains("Visiteurs"));
    let (_, url_wins, _) = h
        .get_with(
            "/sites/example.com?lang=en",
            &[("cookie", &h.cookie), ("accept-language", "fr")],
        )
        .await;
    assert!(url_wins.contains("Visitors"));
    // Dates of a custom range.
    let d = h
        .page("/sites/example.com?lang=fr&period=custom&from=2020-02-03&to=2020-02-04")
        .await;
    assert!(d.contains("3 févr. 2020 – 4 févr. 2020"));
}

#[tokio::test]
async fn csv_exports_neutralise_formulas() {
    let h = harness().await;
    let (s, body, headers) = h
        .get_with(
            "/sites/example.com/export/utm-campaign.csv",
            &[("cookie", &h.cookie)],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
    assert!(headers["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("attachment; filename=\"example.com-utm-campaign-"));
    let mut lines = body.lines();
    assert_eq!(
        lines.next(),
        Some("utm_campaign,visitors,visits,pageviews,dark_share_identified,dark_share_estimated")
    );
    assert!(
        body.contains("\"'=HYPERLINK(\"\"http://x\"\")\",1,1,1"),
        "{body}"
    );
    let (_, src, _) = h
        .get_with(
            "/sites/example.com/export/utm-source.csv",
            &[("cookie", &h.cookie)],
        )
        .await;
    assert!(src.contains("\r\n'@evil,1,"), "{src}");
    // Same state as the page: filters apply.
    let (_, ch, _) = h
        .get_with(
            "/sites/example.com/export/channels.csv?f=visit%3Achannel%3D%3Dwhatsapp",
            &[("cookie", &h.cookie)],
        )
        .await;
    assert_eq!(ch.lines().count(), 2, "{ch}");
    let (s, _, _) = h
        .get_with(
            "/sites/example.com/export/passwords.csv",
            &[("cookie", &h.cookie)],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = h
        .get_with(
            "/sites/example.com/export/channels.json",
            &[("cookie", &h.cookie)],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn user_strings_are_escaped() {
    let h = harness().await;
    let html = h
        .page("/sites/example.com?f=event%3Apage%3D%3D%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E")
        .await;
    assert!(!html.contains("<script>window.__xss"));
    assert!(!html.contains("<img src=x"));
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "chip shows the value literally"
    );
    let all = h.page("/sites/example.com").await;
    assert!(all.contains("/&lt;script&gt;window.__xss=1&lt;/script&gt;"));
}

#[tokio::test]
async fn access_shared_links_and_assets() {
    let h = harness().await;
    let (s, _, headers) = h.get_with("/sites/example.com", &[]).await;
    assert_eq!(s, StatusCode::SEE_OTHER);
    assert!(headers["location"].to_str().unwrap().starts_with("/login"));
    let (s, _, _) = h
        .get_with("/sites/other.org", &[("cookie", &h.cookie)])
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = h
        .get_with(
            "/sites/other.org/export/channels.csv",
            &[("cookie", &h.cookie)],
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = h.get_with("/share/nope", &[]).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let site = h
        .state
        .meta
        .site_by_domain("example.com")
        .await
        .unwrap()
        .unwrap();
    let token = h
        .state
        .meta
        .create_shared_link(site.id, "public")
        .await
        .unwrap();
    let (s, html, _) = h.get_with(&format!("/share/{token}?period=7d"), &[]).await;
    assert_eq!(s, StatusCode::OK);
    let api = h
        .api("/api/v1/stats/aggregate?site_id=example.com&period=7d&metrics=visitors")
        .await;
    assert_eq!(
        stat(&html, "visitors"),
        api["results"]["visitors"]["value"].as_u64().unwrap()
    );
    assert_visitors(stat(&html, "visitors"), 8);
    assert!(
        html.contains(&format!(
            "href=\"/share/{token}?f=visit%3Achannel%3D%3Dwhatsapp&amp;period=7d\""
        )) || html.contains(&format!(
            "href=\"/share/{token}?period=7d&amp;f=visit%3Achannel%3D%3Dwhatsapp\""
        ))
    );
    assert!(html.contains(&format!("/share/{token}/export/channels.csv?period=7d")));
    assert!(
        !html.contains("/sites/example.com"),
        "no link out of the shared view"
    );
    let (s, csv, _) = h
        .get_with(&format!("/share/{token}/export/channels.csv"), &[])
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(csv.starts_with("channel,visitors"));
    let (s, css, headers) = h.get_with("/static/app.css", &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    assert!(css.contains("prefers-color-scheme: dark"));
    let (s, _, headers) = h.get_with("/static/app.js", &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert!(headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/javascript"));
}

#[tokio::test]
async fn the_users_language_setting_comes_before_the_browsers() {
    let h = harness().await;
    let site = h
        .state
        .meta
        .site_by_domain("example.com")
        .await
        .unwrap()
        .unwrap();
    let user = h
        .state
        .meta
        .create_user("viewer@example.com", "not-a-real-hash", Some("fr"))
        .await
        .unwrap();
    h.state
        .meta
        .set_member(site.id, user.id, Role::Viewer)
        .await
        .unwrap();
    let token = "fedcba9876543210fedcba9876543210";
    h.state
        .meta
        .create_web_session(
            &blake3::hash(token.as_bytes()).to_hex(),
            user.id,
            "csrf",
            chrono::Utc::now() + chrono::Duration::days(1),
        )
        .await
        .unwrap();
    let cookie = format!("lucarne_session={token}");
    let (s, html, _) = h
        .get_with(
            "/sites/example.com",
            &[("cookie", &cookie), ("accept-language", "en-US")],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("Visiteurs"), "the user's setting (fr) wins");
    let (_, html, _) = h
        .get_with("/sites/example.com?lang=en", &[("cookie", &cookie)])
        .await;
    assert!(html.contains("Visitors"), "the URL wins over the setting");
}

#[tokio::test]
async fn pages_and_assets_are_gzipped_when_asked() {
    let h = harness().await;
    for uri in ["/sites/example.com", "/static/app.css", "/static/app.js"] {
        let (s, _, headers) = h
            .get_with(uri, &[("cookie", &h.cookie), ("accept-encoding", "gzip")])
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(headers["content-encoding"], "gzip", "{uri}");
    }
}

/// The figure in `<p class="current" …><span class="n">N</span>`.
fn current_in(html: &str) -> u64 {
    let at = html
        .find("class=\"current\"")
        .expect("the current visitors figure");
    let rest = &html[at..];
    let n = rest.find("class=\"n\">").expect("its number") + "class=\"n\">".len();
    rest[n..]
        .split('<')
        .next()
        .and_then(|t| t.replace(',', "").parse().ok())
        .expect("a number")
}

/// Current visitors (issue 21): the 8 visitors of the last minutes on the page, in
/// Plausible's realtime endpoint (a bare number) and in the JSON the page's script
/// refreshes it from, which only the site's members may read.
#[tokio::test]
async fn current_visitors_on_the_page_in_the_api_and_for_the_script() {
    let h = harness().await;
    let page = h.page("/sites/example.com").await;
    assert!(
        page.contains("data-realtime=\"/sites/example.com/realtime\""),
        "the script's address"
    );
    assert_visitors(current_in(&page), 8);
    let n = h
        .api("/api/v1/stats/realtime/visitors?site_id=example.com")
        .await;
    assert_visitors(n.as_u64().expect("a bare number"), 8);
    let (s, body, headers) = h
        .get_with("/sites/example.com/realtime", &[("cookie", &h.cookie)])
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_visitors(v["visitors"].as_u64().expect("visitors"), 8);
    // Nobody else: no session, or a site the session has no access to.
    for (uri, cookie) in [
        ("/sites/example.com/realtime", ""),
        ("/sites/other.org/realtime", h.cookie.as_str()),
    ] {
        let (s, body, _) = h.get_with(uri, &[("cookie", cookie)]).await;
        assert_ne!(s, StatusCode::OK, "{uri}: {body}");
        assert!(!body.contains("visitors"), "{uri}: {body}");
    }
    // Without a key, the API refuses.
    let (s, _, _) = h
        .get_with("/api/v1/stats/realtime/visitors?site_id=example.com", &[])
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

/// The Pages panel shows each page's scroll depth and time on page once the site sends
/// engagement events (issue 21), and no such columns before.
#[tokio::test]
async fn pages_panel_shows_scroll_depth_and_time_on_page() {
    let h = harness().await;
    let page = h.page("/sites/example.com").await;
    assert!(
        !page.contains("eng-h"),
        "no engagement columns without engagement"
    );
    // Visitor 5 read the home page to 60 % for 42 s; visitor 6 to 80 % for 18 s.
    for (ip, sd, e) in [(5u8, 60, 42_000), (6, 80, 18_000)] {
        let body = serde_json::json!({"n": "engagement", "u": "https://example.com/", "d": "example.com", "sd": sd, "e": e})
            .to_string();
        let (st, v) = h.h.event_from(&body, CHROME, [203, 0, 113, ip]).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    }
    let page = h.page("/sites/example.com").await;
    let panel = &page[page.find("id=\"panel-pages\"").expect("the Pages panel")..];
    let panel = &panel[..panel.find("</section>").expect("its end")];
    assert!(panel.contains("class=\"eng-h\""), "the columns' headers");
    let home = &panel[panel.find("data-value=\"/\"").expect("the home page's row")..];
    let home = &home[..home.find("</a>").expect("its end")];
    assert!(home.contains("class=\"num eng scroll\">70%<"), "{home}");
    assert!(home.contains("class=\"num eng time\">30s<"), "{home}");
    // The same numbers as the stats API.
    let v = h
        .api("/api/v1/stats/breakdown?site_id=example.com&period=30d&property=event:page&metrics=scroll_depth,time_on_page")
        .await;
    let row = v["results"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["page"] == "/"))
        .cloned()
        .expect("the home page");
    assert_eq!(
        (&row["scroll_depth"], &row["time_on_page"]),
        (&70.into(), &30.into())
    );
}
