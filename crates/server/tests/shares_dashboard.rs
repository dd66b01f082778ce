//! The dashboard's Sharing view through `app(state)` with `oneshot`: a small cascade made
//! through `POST /api/event`, then the page as a logged-in owner and through a shared
//! link — numbers equal to the JSON API's, one SVG node per cascade node, French labels,
//! escaping — the 3 largest cascades drawn and a link to the others, a legend of at most 8
//! colours drawn with the trees' own classes, and the cascade drill-down (200, 400, 404).

mod common;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use common::*;
use lucarne_core::rules::ShareButtons;
use lucarne_core::token::Token;
use lucarne_store::meta::Role;
use serde_json::Value;

fn tok(bits: u64) -> String {
    Token::from_bits(bits).expect("token").to_string()
}

const A: [u8; 4] = [198, 51, 100, 1];
const B: [u8; 4] = [198, 51, 100, 2];
const C: [u8; 4] = [198, 51, 100, 3];
const D: [u8; 4] = [198, 51, 100, 4];
const E: [u8; 4] = [198, 51, 100, 5];
const F: [u8; 4] = [198, 51, 100, 6];

const SESSION: &str = "0123456789abcdef0123456789abcdef";
/// A path with every HTML-special character (decoded when stored).
const ODD: &str = "/%3Cb%3Ex%26y%22z";

struct S {
    h: Harness,
    cookie: String,
    /// Visit tokens of A, B and E; the WhatsApp share token.
    va: String,
    vb: String,
    ve: String,
    share: String,
}

/// A reads /article and shares it on WhatsApp (token `share`); B opens the shared link
/// and C the address in B's bar; D, from A's bar, opens it too. E reads a page whose
/// path is full of HTML-special characters; F opens E's address.
async fn setup() -> S {
    let h = harness().await;
    let m = &h.state.meta;
    let site = m
        .site_by_domain("example.com")
        .await
        .expect("meta")
        .expect("site");
    add_member_session(
        m,
        "owner@example.com",
        site.id,
        Role::Owner,
        SESSION,
        "csrf",
    )
    .await;

    let (va, share, vb, vc, vd, ve, vf) = (
        tok(101),
        tok(102),
        tok(103),
        tok(104),
        tok(105),
        tok(106),
        tok(107),
    );
    let article = "https://example.com/article";
    let odd = format!("https://example.com{ODD}");
    let hits: Vec<(_, &str, String, &str, &str)> = vec![
        (A, "pageview", article.to_string(), va.as_str(), "{}"),
        (
            A,
            "share",
            format!("{article}#lc={va}"),
            share.as_str(),
            r#"{"channel":"whatsapp"}"#,
        ),
        (
            B,
            "pageview",
            format!("{article}#lc={share}"),
            vb.as_str(),
            "{}",
        ),
        (
            C,
            "pageview",
            format!("{article}#lc={vb}"),
            vc.as_str(),
            "{}",
        ),
        (
            D,
            "pageview",
            format!("{article}#lc={va}"),
            vd.as_str(),
            "{}",
        ),
        (E, "pageview", odd.clone(), ve.as_str(), "{}"),
        (F, "pageview", format!("{odd}#lc={ve}"), vf.as_str(), "{}"),
    ];
    for (ip, name, url, t, props) in hits {
        let body = serde_json::json!({
            "n": name, "u": url, "d": "example.com", "r": null,
            "p": serde_json::from_str::<Value>(props).expect("props"), "t": t,
        })
        .to_string();
        let (st, v) = h.event_from(&body, CHROME, ip).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{name} {url}: {v}");
    }
    S {
        h,
        cookie: format!("lucarne_session={SESSION}"),
        va,
        vb,
        ve,
        share,
    }
}

impl S {
    async fn get(&self, uri: &str, cookie: bool) -> (StatusCode, String) {
        let r = send_page(
            &self.h.router,
            Req::get(uri).cookie(cookie.then_some(self.cookie.as_str())),
        )
        .await;
        (r.status, r.body)
    }

    async fn page(&self, uri: &str) -> String {
        let (st, body) = self.get(uri, true).await;
        assert_eq!(st, StatusCode::OK, "{uri}: {body}");
        body
    }

    async fn api(&self, uri: &str) -> Value {
        let (st, v) = self.h.get(uri).await;
        assert_eq!(st, StatusCode::OK, "{uri}: {v}");
        v
    }
}

/// The raw value of a metric tile (`data-value`).
fn tile(html: &str, key: &str) -> String {
    let needle = format!("id=\"stat-{key}\" data-value=\"");
    let at = html
        .find(&needle)
        .unwrap_or_else(|| panic!("no tile {key}"))
        + needle.len();
    html[at..].split('"').next().unwrap_or_default().to_string()
}

/// The text shown by a metric tile.
fn shown(html: &str, key: &str) -> String {
    let at = html
        .find(&format!("id=\"stat-{key}\""))
        .unwrap_or_else(|| panic!("no tile {key}"));
    let rest = &html[at..];
    let v = rest.find("class=\"value\">").expect("value") + "class=\"value\">".len();
    rest[v..].split('<').next().unwrap_or_default().to_string()
}

/// The markup of each `<figure class="cascade">`, in page order.
fn figures(html: &str) -> Vec<&str> {
    html.split("<figure class=\"cascade\"")
        .skip(1)
        .map(|f| f.split("</figure>").next().unwrap_or_default())
        .collect()
}

fn nodes_in(svg: &str) -> usize {
    svg.matches("<circle class=\"node").count()
}

#[tokio::test]
async fn sharing_page_matches_the_api() {
    let s = setup().await;
    let html = s.page("/sites/example.com/shares?period=day").await;
    let api = s
        .api("/api/v1/stats/shares?site_id=example.com&period=day")
        .await;
    let m = &api["metrics"];
    // Shares: the WhatsApp share + the address-bar tokens of A, B and E = 4;
    // share-visits: B, C, D, F = 4; shared again during a share-visit: B's token = 1.
    assert_eq!(m["shares"], 4, "{api}");
    assert_eq!(m["share_visits"], 4);
    assert_eq!(tile(&html, "shares"), m["shares"].to_string());
    assert_eq!(tile(&html, "share_visits"), m["share_visits"].to_string());
    assert_eq!(tile(&html, "cascades"), m["cascades"].to_string());
    assert_eq!(tile(&html, "max_depth"), m["max_depth"].to_string());
    let k = m["k_factor"].as_f64().expect("k-factor");
    assert_eq!(tile(&html, "k_factor").parse::<f64>().ok(), Some(k));
    assert_eq!(shown(&html, "k_factor"), format!("{k:.2}"));
    assert_eq!(shown(&html, "k_factor"), "0.25");
    assert_eq!(shown(&html, "visits_per_share"), "1.00");
    assert!(html.contains("Shares by channel (share button)"));
    assert!(html.contains("data-channel=\"whatsapp\""));
    // The total and the per-button table differ by the address-bar tokens: said so.
    assert!(html.contains(
        "Shares counts 4: the 1 above, made with a button or by copying text, and 3 links copied from the address bar (no button)."
    ));
    assert!(html.contains("public-social visits without a token ÷ visits per public widget share × private/public ratio"));
    // The generation histogram: generations 1 and 2.
    assert_eq!(
        html.matches("<g class=\"gen\">").count(),
        api["generations"].as_array().map_or(0, Vec::len)
    );

    // One tree per cascade, one node per cascade node, in the API's order.
    let cascades = s
        .api("/api/v1/stats/cascades?site_id=example.com&period=day")
        .await;
    let results = cascades["results"].as_array().expect("results");
    let figs = figures(&html);
    assert_eq!(figs.len(), results.len());
    assert_eq!(figs.len(), 2);
    for (fig, c) in figs.iter().zip(results) {
        let nodes = c["nodes"].as_array().expect("nodes").len();
        assert_eq!(nodes_in(fig), nodes, "{fig}");
        assert_eq!(fig.matches("<path class=\"edge").count(), nodes - 1);
    }
    // A → (B → C, D): WhatsApp and address-bar edges, each node a link to a drill-down.
    // Colours by frequency on the page: the address bar (3 edges) first, then WhatsApp.
    let first = figs[0];
    assert_eq!(nodes_in(first), 4);
    assert!(first.contains("class=\"edge ch-2 k-private\""));
    assert!(first.contains("class=\"edge ch-1 k-bar\""));
    assert!(first.contains(&format!(
        "href=\"/sites/example.com/cascades/{}?period=day\"",
        s.va
    )));
    assert!(first.contains(&format!(
        "href=\"/sites/example.com/cascades/{}?period=day\"",
        s.vb
    )));
    assert!(first.contains("<title>Generation 1"));

    // Tabs: the overview links here and back, in the same period.
    assert!(html.contains("href=\"/sites/example.com?period=day\""));
    let overview = s.page("/sites/example.com?period=day").await;
    assert!(overview.contains("href=\"/sites/example.com/shares?period=day\""));
    // CSP-friendly.
    assert!(!html.contains("style="));
    assert!(!html.contains("<script>"));
}

#[tokio::test]
async fn french_labels_and_numbers() {
    let s = setup().await;
    let fr = s.page("/sites/example.com/shares?period=day&lang=fr").await;
    assert!(fr.contains("<html lang=\"fr\""));
    assert!(fr.contains("Facteur K"));
    assert!(fr.contains("Partages par canal (bouton de partage)"));
    assert!(fr.contains("Plus grandes cascades"));
    assert_eq!(shown(&fr, "k_factor"), "0,25");
    assert!(fr.contains("<title>Génération 1"));
    assert!(!fr.contains("K-factor"));
    // The period picker and tabs keep the language.
    assert!(fr.contains("href=\"/sites/example.com/shares?period=7d&amp;lang=fr\""));
    let cascade = s
        .page(&format!(
            "/sites/example.com/cascades/{}?period=day&lang=fr",
            s.vb
        ))
        .await;
    assert!(cascade.contains("Comment le jeton a circulé"));
    assert!(cascade.contains("Barre d’adresse"));
}

#[tokio::test]
async fn page_paths_are_escaped() {
    let s = setup().await;
    let html = s.page("/sites/example.com/shares?period=day").await;
    assert!(
        html.contains("/&lt;b&gt;x&amp;y&quot;z"),
        "the odd page, escaped"
    );
    assert!(!html.contains("<b>x&y"));
    let (st, drill) = s
        .get(
            &format!("/sites/example.com/cascades/{}?period=day", s.ve),
            true,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{drill}");
    assert!(drill.contains("/&lt;b&gt;x&amp;y&quot;z"));
    assert!(!drill.contains("<b>x&y"));
}

#[tokio::test]
async fn drill_down() {
    let s = setup().await;
    // From B's visit token: B → C.
    let uri = format!("/sites/example.com/cascades/{}?period=day", s.vb);
    let html = s.page(&uri).await;
    let api = s
        .api(&format!(
            "/api/v1/stats/cascades/{}?site_id=example.com&period=day",
            s.vb
        ))
        .await;
    let nodes = api["nodes"].as_array().expect("nodes").len();
    assert_eq!(nodes, 2);
    assert_eq!(nodes_in(&html), nodes);
    assert_eq!(
        html.split("<tbody>")
            .nth(1)
            .map_or(0, |t| t.matches("<tr").count()),
        nodes
    );
    assert!(html.contains("Address bar (copied address)"));
    // From the share token: A and the visit that arrived through it, and below.
    let html = s
        .page(&format!(
            "/sites/example.com/cascades/{}?period=day",
            s.share
        ))
        .await;
    assert_eq!(nodes_in(&html), 3, "A, B, C");
    assert!(html.contains("Button: WhatsApp"));

    // Malformed: 400; well-formed but unknown, or outside the period: 404.
    for (bad, status) in [
        ("not-a-token".to_string(), StatusCode::BAD_REQUEST),
        ("%3Cscript%3E".to_string(), StatusCode::BAD_REQUEST),
        (tok(9), StatusCode::NOT_FOUND),
    ] {
        let (st, body) = s
            .get(
                &format!("/sites/example.com/cascades/{bad}?period=day"),
                true,
            )
            .await;
        assert_eq!(st, status, "{bad}: {body}");
        assert!(!body.contains("<script>"));
    }
    let (st, _) = s
        .get(
            &format!(
                "/sites/example.com/cascades/{}?period=custom&from=2020-01-01&to=2020-01-02",
                s.vb
            ),
            true,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, body) = s
        .get("/sites/example.com/cascades/not-a-token?lang=fr", true)
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(body.contains("Ce n’est pas un jeton de partage"), "{body}");
}

#[tokio::test]
async fn access_mirrors_the_overview() {
    let s = setup().await;
    // Not logged in: to the login page, as for the overview.
    for uri in [
        "/sites/example.com/shares".to_string(),
        format!("/sites/example.com/cascades/{}", s.vb),
    ] {
        let (st, _, headers) =
            s.h.send(Request::get(&uri).body(Body::empty()).expect("req"))
                .await;
        assert_eq!(st, StatusCode::SEE_OTHER, "{uri}");
        assert!(headers[header::LOCATION]
            .to_str()
            .unwrap_or_default()
            .starts_with("/login"));
    }
    // Through a shared link, read-only, with no link out of the shared view.
    let site =
        s.h.state
            .meta
            .site_by_domain("example.com")
            .await
            .expect("meta")
            .expect("site");
    let link =
        s.h.state
            .meta
            .create_shared_link(site.id, "press")
            .await
            .expect("link");
    let (st, html) = s
        .get(&format!("/share/{link}/shares?period=day"), false)
        .await;
    assert_eq!(st, StatusCode::OK, "{html}");
    assert_eq!(tile(&html, "shares"), "4");
    assert!(html.contains(&format!(
        "href=\"/share/{link}/cascades/{}?period=day\"",
        s.vb
    )));
    assert!(!html.contains("/sites/example.com"), "no link out");
    let (st, html) = s
        .get(
            &format!("/share/{link}/cascades/{}?period=day", s.vb),
            false,
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(!html.contains("/sites/example.com"));
    let (st, _) = s.get("/share/nope/shares", false).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = s
        .get(&format!("/share/nope/cascades/{}", s.vb), false)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_wide_cascade_is_drawn_whole() {
    let s = setup().await;
    // 70 visitors open the address from A's bar: A's cascade has 1 + 3 + 70 visits.
    for i in 0..70u8 {
        let body = serde_json::json!({
            "n": "pageview", "u": format!("https://example.com/article#lc={}", s.va),
            "d": "example.com", "t": tok(1000 + u64::from(i)),
        })
        .to_string();
        let (st, v) = s.h.event_from(&body, CHROME, [192, 0, 2, i]).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    }
    let html = s.page("/sites/example.com/shares?period=day").await;
    let figs = figures(&html);
    assert_eq!(nodes_in(figs[0]), 74);
    assert!(
        !figs[0].contains("class=\"elabel"),
        "no edge labels when crowded"
    );
    assert!(!figs[0].contains("class=\"note\""), "not truncated");
    let drill = s
        .page(&format!("/sites/example.com/cascades/{}?period=day", s.va))
        .await;
    assert_eq!(nodes_in(&drill), 74);
}

/// The class lists of the `<tag class="edge …">` elements in `html`, each once, sorted.
fn edge_classes(html: &str, tag: &str) -> Vec<String> {
    let needle = format!("<{tag} class=\"edge ");
    let mut v: Vec<String> = html
        .split(&needle)
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The markup of the legend (`<ul class="share-legend">`).
fn legend_of(html: &str) -> &str {
    html.split("<ul class=\"share-legend\">")
        .nth(1)
        .and_then(|l| l.split("</ul>").next())
        .unwrap_or_else(|| panic!("no legend in {html}"))
}

/// `n` more cascades on /post-N: each root (IP 203.0.113.N) brings N+1 visitors from its
/// address bar, so they are larger than the setup's two (3 and 1 share-visits).
async fn more_cascades(s: &S, n: u8) {
    for k in 1..=n {
        let root = tok(5000 + u64::from(k) * 100);
        let page = format!("https://example.com/post-{k}");
        let mut hits = vec![([203, 0, 113, k], page.clone(), root.clone())];
        for j in 0..=k {
            let t = tok(5000 + u64::from(k) * 100 + 1 + u64::from(j));
            hits.push(([192, 0, 2, k * 10 + j], format!("{page}#lc={root}"), t));
        }
        for (ip, url, t) in hits {
            let body = serde_json::json!({"n": "pageview", "u": url, "d": "example.com", "t": t})
                .to_string();
            let (st, v) = s.h.event_from(&body, CHROME, ip).await;
            assert_eq!(st, StatusCode::ACCEPTED, "{url}: {v}");
        }
    }
}

#[tokio::test]
async fn the_three_largest_cascades_then_a_link_to_the_others() {
    let s = setup().await;
    more_cascades(&s, 4).await;
    let html = s.page("/sites/example.com/shares?period=day&lang=en").await;
    let api = s
        .api("/api/v1/stats/cascades?site_id=example.com&period=day")
        .await;
    let sizes: Vec<usize> = api["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|c| c["nodes"].as_array().map_or(0, Vec::len))
        .collect();
    assert_eq!(sizes, vec![6, 5, 4, 4, 3, 2], "{api}");
    // The 3 largest, largest first, and the count of the others with a link to them
    // that keeps the period and language, at the first new tree.
    let figs = figures(&html);
    let drawn: Vec<usize> = figs.iter().map(|f| nodes_in(f)).collect();
    assert_eq!(drawn, sizes[..3]);
    assert!(html.contains("3 smaller cascades are not drawn."), "{html}");
    assert!(html.contains(
        "<a id=\"more-cascades\" href=\"/sites/example.com/shares?period=day&amp;lang=en&amp;cascades=6#cascade-4\">Show 3 more</a>"
    ));
    assert!(!html.contains("id=\"fewer-cascades\""));

    // Through the link: all six, no more link, a way back; the language links keep it.
    let all = s
        .page("/sites/example.com/shares?period=day&lang=en&cascades=6")
        .await;
    let drawn: Vec<usize> = figures(&all).iter().map(|f| nodes_in(f)).collect();
    assert_eq!(drawn, sizes);
    assert!(!all.contains("id=\"more-cascades\""));
    assert!(!all.contains("not drawn"));
    assert!(all.contains(
        "<a id=\"fewer-cascades\" href=\"/sites/example.com/shares?period=day&amp;lang=en#share-cascades\">Show only the 3 largest</a>"
    ));
    assert!(
        all.contains("href=\"/sites/example.com/shares?period=day&amp;lang=fr&amp;cascades=6\"")
    );
    // A count out of range or malformed: the default 3.
    for q in ["cascades=0", "cascades=abc", "cascades=-1"] {
        let page = s
            .page(&format!("/sites/example.com/shares?period=day&{q}"))
            .await;
        assert_eq!(figures(&page).len(), 3, "{q}");
    }
    // One hidden: said in the singular; French.
    let five = s
        .page("/sites/example.com/shares?period=day&cascades=5&lang=fr")
        .await;
    assert_eq!(figures(&five).len(), 5);
    assert!(five.contains("1\u{a0}cascade plus petite n’est pas dessinée."));
    assert!(five.contains(">En afficher 1 de plus</a>"));
    assert!(!five.contains("style="));
}

#[tokio::test]
async fn the_legend_is_drawn_like_the_trees_in_at_most_8_colours() {
    let s = setup().await;
    // G shares /article through eleven buttons; one visitor opens each share.
    let channels: Vec<&str> = ShareButtons::builtin()
        .all()
        .iter()
        .map(|b| b.id.as_str())
        .collect();
    let article = "https://example.com/many";
    let vg = tok(7000);
    let mut hits = vec![(
        [203, 0, 113, 200],
        "pageview",
        article.to_string(),
        vg.clone(),
        "{}".to_string(),
    )];
    for (i, c) in channels.iter().enumerate() {
        let share = tok(7001 + i as u64 * 2);
        hits.push((
            [203, 0, 113, 200],
            "share",
            format!("{article}#lc={vg}"),
            share.clone(),
            format!("{{\"channel\":\"{c}\"}}"),
        ));
        hits.push((
            [203, 0, 113, 201 + i as u8],
            "pageview",
            format!("{article}#lc={share}"),
            tok(7002 + i as u64 * 2),
            "{}".to_string(),
        ));
    }
    for (ip, name, url, t, props) in hits {
        let body = serde_json::json!({
            "n": name, "u": url, "d": "example.com", "t": t,
            "p": serde_json::from_str::<Value>(&props).expect("props"),
        })
        .to_string();
        let (st, v) = s.h.event_from(&body, CHROME, ip).await;
        assert_eq!(st, StatusCode::ACCEPTED, "{name} {url}: {v}");
    }
    let html = s.page("/sites/example.com/shares?period=day").await;
    let legend = legend_of(&html);
    let trees: String = figures(&html).concat();
    // Every edge's classes are a legend sample's, and every sample's an edge's.
    let samples = edge_classes(legend, "line");
    assert_eq!(samples, edge_classes(&trees, "path"), "{legend}");
    // 7 colours of their own, the other channels grey: 8 at most, on the whole page.
    let mut colours: Vec<&str> = html
        .split("class=\"")
        .skip(1)
        .filter_map(|r| r.split('"').next())
        .flat_map(str::split_whitespace)
        .filter_map(|c| c.strip_prefix("ch-"))
        .collect();
    colours.sort_unstable();
    colours.dedup();
    assert_eq!(
        colours,
        vec!["1", "2", "3", "4", "5", "6", "7", "other"],
        "{html}"
    );
    // Edges: address bar ×3, WhatsApp ×2, then one of each button in name order; the
    // rest "Other", with a sample per dash pattern among them (X is public).
    assert!(samples.contains(&"ch-1 k-bar".to_string()), "{samples:?}");
    assert!(
        samples.contains(&"ch-2 k-private".to_string()),
        "{samples:?}"
    );
    assert!(
        samples.contains(&"ch-other k-public".to_string()),
        "{samples:?}"
    );
    assert!(
        samples.contains(&"ch-other k-private".to_string()),
        "{samples:?}"
    );
    assert_eq!(legend.matches("<li ").count(), 8, "{legend}");
    assert!(
        legend.contains("Other (Share sheet, Signal, SMS, Telegram, X)"),
        "{legend}"
    );
    // The dash patterns are styled for every .edge, legend samples included.
    let css = include_str!("../../../web/static/app.css");
    assert!(css.contains("\n.edge.k-public { stroke-dasharray:"));
    assert!(css.contains("\n.edge.k-bar { stroke-dasharray:"));
    assert!(
        !css.contains(".tree .edge"),
        "edges styled only inside trees"
    );
    for c in 1..=7 {
        assert!(css.contains(&format!(".ch-{c} {{ --ch: #")), "ch-{c}");
    }
    // Labels over the lines: edges, then visits, then labels.
    let tree = figures(&html)[0];
    let (e, n, l) = (
        tree.find("<g class=\"edges\">"),
        tree.find("<g class=\"nodes\">"),
        tree.find("<g class=\"labels\""),
    );
    assert!(e < n && n < l && e.is_some(), "{tree}");
    // The trees scroll sideways in a labelled region, never the page.
    assert!(html.contains("<div class=\"table-wrap\" role=\"region\" tabindex=\"0\" aria-label=\"Cascade tree (scrolls sideways)\">"));
}
