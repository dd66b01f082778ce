//! Share tokens and cascades through the real router and DuckDB store: widget shares,
//! address-bar tokens, copied text, every bad-token case, the new properties and
//! metrics, the share report and the cascade drill-down.

mod common;

use axum::http::StatusCode;
use common::*;
use lucarne_core::token::Token;
use lucarne_store::meta::{ShareParamStyle, SiteOptions};
use serde_json::Value;

fn tok(bits: u64) -> String {
    Token::from_bits(bits).expect("token").to_string()
}

const A: [u8; 4] = [198, 51, 100, 1];
const B: [u8; 4] = [198, 51, 100, 2];
const C: [u8; 4] = [198, 51, 100, 3];
const D: [u8; 4] = [198, 51, 100, 4];

impl Harness {
    async fn hit(
        &self,
        ip: [u8; 4],
        name: &str,
        url: &str,
        token: Option<&str>,
        props: &str,
    ) -> (StatusCode, Value) {
        let t = token.map(|t| format!(r#","t":"{t}""#)).unwrap_or_default();
        let body =
            format!(r#"{{"n":"{name}","u":"{url}","d":"example.com","r":null,"p":{props}{t}}}"#);
        self.event_from(&body, CHROME, ip).await
    }

    async fn breakdown(&self, property: &str, filters: &str) -> Vec<(String, u64)> {
        let (s, v) = self
            .get(&format!(
                "/api/v1/stats/breakdown?site_id=example.com&period=day&property={property}&metrics=visits&filters={filters}"
            ))
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let key = property.rsplit(':').next().unwrap_or_default();
        v["results"]
            .as_array()
            .expect("results")
            .iter()
            .map(|r| {
                let k = match &r[key] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                (k, r["visits"].as_u64().unwrap_or(0))
            })
            .collect()
    }
}

fn tokens_metric(metrics: &str, status: &str) -> u64 {
    let needle = format!("lucarne_tokens_total{{status=\"{status}\"}} ");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&needle))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A opens the article and shares it on WhatsApp; B opens the shared link; C opens the
/// address B's bar shows; D opens C's address with a Slack referrer.
async fn chain(h: &Harness) -> (String, String, String, String) {
    let (va, s, vb, vc) = (tok(101), tok(102), tok(103), tok(104));
    let url = "https://example.com/article";
    assert_eq!(
        h.hit(A, "pageview", url, Some(&va), "{}").await.0,
        StatusCode::ACCEPTED
    );
    let (st, v) = h
        .hit(
            A,
            "share",
            &format!("{url}#lc={va}"),
            Some(&s),
            r#"{"channel":"whatsapp"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let (st, v) = h
        .hit(B, "pageview", &format!("{url}#lc={s}"), Some(&vb), "{}")
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert_eq!(
        h.hit(C, "pageview", &format!("{url}#lc={vb}"), Some(&vc), "{}")
            .await
            .0,
        StatusCode::ACCEPTED
    );
    // D arrives from Slack with C's token in the query: a signal of its own wins.
    let body = format!(
        r#"{{"n":"pageview","u":"{url}?lc={vc}","d":"example.com","r":"https://app.slack.com/client/T1","t":"{}"}}"#,
        tok(105)
    );
    assert_eq!(h.event_from(&body, CHROME, D).await.0, StatusCode::ACCEPTED);
    (va, s, vb, vc)
}

#[tokio::test]
async fn a_share_b_c_cascade_is_attributed_and_reported() {
    let h = harness().await;
    let (_va, s, vb, _vc) = chain(&h).await;

    let gens = h.breakdown("visit:generation", "").await;
    let mut gens: Vec<(String, u64)> = gens;
    gens.sort();
    assert_eq!(
        gens,
        vec![
            ("0".into(), 1),
            ("1".into(), 1),
            ("2".into(), 1),
            ("3".into(), 1)
        ]
    );
    // B: WhatsApp, through the widget's token.
    let b = h.breakdown("visit:channel", "visit:generation==1").await;
    assert_eq!(b, vec![("whatsapp".to_string(), 1)]);
    let ev = h.breakdown("visit:evidence", "visit:generation==1").await;
    assert_eq!(ev, vec![("share-token".to_string(), 1)]);
    // C: a copied link, from B's address bar.
    let c = h.breakdown("visit:channel", "visit:generation==2").await;
    assert_eq!(c, vec![("copied-link".to_string(), 1)]);
    let c = h
        .breakdown("visit:share_channel", "visit:generation==2")
        .await;
    assert_eq!(c, vec![("address-bar".to_string(), 1)]);
    let c = h.breakdown("visit:evidence", "visit:generation==2").await;
    assert_eq!(c, vec![("address-bar-token".to_string(), 1)]);
    // D: Slack's referrer wins over the fallback, the edge is still made.
    let d = h.breakdown("visit:channel", "visit:generation==3").await;
    assert_eq!(d, vec![("slack".to_string(), 1)]);
    // The share event's own channel.
    let (st, v) = h
        .get("/api/v1/stats/breakdown?site_id=example.com&period=day&property=event:share_channel&metrics=events&filters=event:name==share")
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["results"][0]["share_channel"], "whatsapp");
    assert_eq!(v["results"][0]["events"], 1);
    // Stored paths never carry the token.
    let pages = h.breakdown("event:page", "").await;
    assert_eq!(pages, vec![("/article".to_string(), 4)]);

    // Share metrics in the stats API: shares = 1 widget share + the address-bar tokens
    // of B and C that brought visits = 3; share-visits = 3 (B, C, D); B and C shared
    // again (2/3); shares made by share-visits = B's and C's tokens = 2.
    let (st, v) = h
        .get("/api/v1/stats/aggregate?site_id=example.com&period=day&metrics=shares,share_visits,visits_per_share,reshare_rate,k_factor")
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let r = &v["results"];
    assert_eq!(r["shares"]["value"], 3, "{v}");
    assert_eq!(r["share_visits"]["value"], 3);
    assert_eq!(r["visits_per_share"]["value"], 1.0);
    assert_eq!(r["reshare_rate"]["value"], 66.7);
    assert_eq!(r["k_factor"]["value"], 0.67);

    // The share report computes the same from the graph.
    let (st, v) = h
        .get("/api/v1/stats/shares?site_id=example.com&period=day")
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["metrics"]["shares"], 3, "{v}");
    assert_eq!(v["metrics"]["share_visits"], 3);
    assert_eq!(v["metrics"]["max_depth"], 3);
    assert_eq!(v["by_channel"][0]["share_channel"], "whatsapp");
    assert_eq!(v["generations"].as_array().map(Vec::len), Some(3));

    // The cascade: A → B → C → D, each edge with its channel.
    let (st, v) = h
        .get("/api/v1/stats/cascades?site_id=example.com&period=day")
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let c = &v["results"][0];
    assert_eq!(c["page"], "/article", "{v}");
    assert_eq!(c["size"], 3);
    assert_eq!(c["depth"], 3);
    let nodes = c["nodes"].as_array().expect("nodes");
    let channels: Vec<&str> = nodes
        .iter()
        .map(|n| n["channel"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(channels[1..], ["whatsapp", "copied-link", "slack"]);
    assert_eq!(nodes[1]["token"], s.as_str());
    assert_eq!(nodes[2]["parent"], 1);

    // Drill-down from B's visit token: B → C → D.
    let (st, v) = h
        .get(&format!(
            "/api/v1/stats/cascades/{vb}?site_id=example.com&period=day"
        ))
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["size"], 2, "{v}");
    // From the share token: B and below.
    let (_, v) = h
        .get(&format!(
            "/api/v1/stats/cascades/{s}?site_id=example.com&period=day"
        ))
        .await;
    assert_eq!(v["size"], 3, "{v}");
    let (st, v) = h
        .get("/api/v1/stats/cascades/not-a-token?site_id=example.com&period=day")
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, _) = h
        .get(&format!(
            "/api/v1/stats/cascades/{}?site_id=example.com&period=day",
            tok(9)
        ))
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(tokens_metric(&h.metrics().await, "linked"), 3);
}

#[tokio::test]
async fn bad_tokens_count_the_visit_but_make_no_edge() {
    let h = harness().await;
    h.state
        .meta
        .add_site("other.org", "UTC")
        .await
        .expect("other site");
    // A token minted on another site.
    let foreign = tok(555);
    let body =
        format!(r#"{{"n":"pageview","u":"https://other.org/x","d":"other.org","t":"{foreign}"}}"#);
    assert_eq!(h.event_from(&body, CHROME, A).await.0, StatusCode::ACCEPTED);
    let url = "https://example.com/deep/page";
    for (ip, lc) in [
        (B, foreign.clone()),            // foreign
        (C, tok(0xdead_beef)),           // well-formed, minted by nobody: forged
        (D, "%3Cscript%3E".to_string()), // malformed
    ] {
        let (st, v) = h
            .hit(ip, "pageview", &format!("{url}#lc={lc}"), None, "{}")
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    }
    // A reload of one's own tagged address is not an edge either.
    let own = tok(777);
    h.hit(A, "pageview", "https://example.com/mine", Some(&own), "{}")
        .await;
    h.hit(
        A,
        "pageview",
        &format!("https://example.com/mine#lc={own}"),
        None,
        "{}",
    )
    .await;

    let mut statuses = h.breakdown("visit:token_status", "").await;
    statuses.sort();
    assert_eq!(
        statuses,
        vec![
            ("".into(), 1),
            ("foreign".into(), 1),
            ("malformed".into(), 1),
            ("unknown".into(), 1),
        ],
        "the own-token reload continues A's visit"
    );
    assert_eq!(
        h.breakdown("visit:generation", "").await,
        vec![("0".into(), 4)]
    );
    // Not linked: the visits are classified by their own signals (deep link: dark).
    assert_eq!(
        h.breakdown("visit:channel", "event:page==/deep/page").await,
        vec![("dark".to_string(), 3)]
    );
    let m = h.metrics().await;
    assert_eq!(tokens_metric(&m, "foreign"), 1);
    assert_eq!(tokens_metric(&m, "unknown"), 1);
    assert_eq!(tokens_metric(&m, "malformed"), 1);
    assert_eq!(tokens_metric(&m, "linked"), 0);

    // A second claim to an already minted token is refused (the event is kept).
    let (st, _) = h
        .hit(
            B,
            "share",
            "https://example.com/deep/page",
            Some(&own),
            r#"{"channel":"sms"}"#,
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert_eq!(tokens_metric(&h.metrics().await, "refused"), 1);
}

#[tokio::test]
async fn share_and_copy_events_are_validated() {
    let h = harness().await;
    let url = "https://example.com/a";
    for (name, token, props) in [
        ("share", None, r#"{"channel":"whatsapp"}"#),
        ("share", Some("short"), r#"{"channel":"whatsapp"}"#),
        (
            "share",
            Some(tok(5).as_str()),
            r#"{"channel":"carrier-pigeon"}"#,
        ),
        ("share", Some(tok(5).as_str()), "{}"),
        ("copy", None, r#"{"words":"12"}"#),
    ] {
        let (st, v) = h.hit(A, name, url, token, props).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{name} {token:?} {props}: {v}");
        assert_eq!(v["reason"], "bad_share");
    }
    // Copied-text attribution is off by default: copy events are refused …
    let (st, v) = h
        .hit(A, "copy", url, Some(&tok(6)), r#"{"words":"12"}"#)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["reason"], "copy_attribution_off");
    let m = h.metrics().await;
    assert_eq!(dropped(&m, "bad_share"), 5);
    assert_eq!(dropped(&m, "copy_attribution_off"), 1);
    // … and accepted once the owner turns it on; a visit through the copied link is
    // a copied link with evidence copied-text.
    let site = h
        .state
        .site("example.com")
        .await
        .expect("lookup")
        .expect("site");
    h.state
        .meta
        .set_site_options(
            site.id,
            &SiteOptions {
                copy_attribution: true,
                share_param_style: ShareParamStyle::Query,
                ..SiteOptions::default()
            },
        )
        .await
        .expect("options");
    h.state.invalidate_sites();
    let ct = tok(7);
    let (st, v) = h.hit(A, "pageview", url, Some(&tok(8)), "{}").await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    let (st, v) = h.hit(A, "copy", url, Some(&ct), r#"{"words":"12"}"#).await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    h.hit(
        B,
        "pageview",
        &format!("{url}?lc={ct}"),
        Some(&tok(10)),
        "{}",
    )
    .await;
    assert_eq!(
        h.breakdown("visit:evidence", "visit:generation==1").await,
        vec![("copied-text".to_string(), 1)]
    );
    assert_eq!(
        h.breakdown("visit:share_channel", "visit:generation==1")
            .await,
        vec![("copied-text".to_string(), 1)]
    );
}

#[tokio::test]
async fn tokens_minted_before_a_restart_still_link() {
    use lucarne_server::{app, AppState, ServerOptions};

    let h = harness().await;
    let va = tok(4242);
    let (st, _) = h
        .hit(
            A,
            "pageview",
            "https://example.com/long/read",
            Some(&va),
            "{}",
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    h.state.events.shutdown();
    let dir = h._dir.path().to_path_buf();
    let key = h.key.clone();
    let keep = h._dir;
    let scale = h._servers.clone();
    drop(h.router);
    drop(h.state);

    // A new process: an empty token index, the same data (directory or databases).
    let (events, meta) = reopen(&dir, scale.as_ref()).await;
    let state = AppState::new(events, meta, &ServerOptions::default())
        .await
        .expect("state");
    let h2 = Harness {
        _dir: keep,
        router: app(state.clone()),
        state,
        key,
        _servers: scale,
    };
    let (st, _) = h2
        .hit(
            B,
            "pageview",
            &format!("https://example.com/long/read#lc={va}"),
            Some(&tok(4243)),
            "{}",
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert_eq!(
        h2.breakdown("visit:share_channel", "visit:generation==1")
            .await,
        vec![("address-bar".to_string(), 1)],
        "the parent was found in the store"
    );
}
