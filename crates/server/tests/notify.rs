//! Digests, alerts and webhooks (issue 23) against a real SMTP server (PyPI's aiosmtpd,
//! `lucarne-testkit`) and a real HTTP receiver on loopback: a private surge on one page
//! raises "going viral in private" once, by e-mail (multipart, one-click unsubscribe, no
//! remote part) and by a signed webhook that is retried after the receiver's 500; a
//! conversion reaches the webhook; the cap holds the next alert back; the weekly digest's
//! numbers are the stats API's; the unsubscribe link works without a login.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::{Datelike, Utc};
use hmac::{Hmac, Mac};
use lucarne_core::token::Token;
use lucarne_server::mail::Mailer;
use lucarne_server::notify::{self, alerts::AlertOptions};
use lucarne_server::web::auth::Role;
use lucarne_server::ServerOptions;
use lucarne_store::meta::SubKind;
use lucarne_testkit::smtp::{decoded, SmtpServer};
use lucarne_testkit::webhook::Receiver;
use serde_json::Value;
use sha2::Sha256;

mod common;
use common::CHROME;

/// A webhook receiver on a free loopback port; its first answer is a 500.
fn receiver() -> Receiver {
    Receiver::start(|n| if n == 0 { 500 } else { 204 }).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Each call's signature header and JSON body.
fn calls(r: &Receiver) -> Vec<(String, Value)> {
    r.calls()
        .iter()
        .map(|c| {
            (
                c.header("lucarne-signature")
                    .unwrap_or_default()
                    .to_string(),
                serde_json::from_str(&c.body).unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// Checks `Lucarne-Signature: t=…,v1=…` of a call against the secret.
fn signed(secret: &str, sig: &str, body: &str) -> bool {
    let Some((t, v1)) = sig.strip_prefix("t=").and_then(|s| s.split_once(",v1=")) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes()) == v1
}

/// The message to `to`, decoded.
fn mail_to(smtp: &SmtpServer, to: &str, subject_has: &str) -> Option<String> {
    smtp.messages()
        .iter()
        .map(|m| decoded(m))
        .find(|m| m.contains(&format!("To: {to}")) && m.contains(subject_has))
}

/// A real SMTP server, and the service sending through it, with links on
/// `https://stats.example.test` and webhooks allowed to reach loopback.
async fn server() -> (SmtpServer, common::Harness) {
    let smtp = SmtpServer::start().unwrap_or_else(|e| panic!("{e:#}"));
    let options = ServerOptions {
        mailer: Some(Mailer::new(&smtp.url(), "Lucarne <stats@example.test>").expect("mailer")),
        public_url: Some("https://stats.example.test".into()),
        allow_private_link_targets: true,
        ..ServerOptions::default()
    };
    let h = common::bare_harness_with(&options).await;
    (smtp, h)
}

#[tokio::test]
async fn a_private_surge_alerts_once_by_mail_and_signed_webhook_and_digests_match_the_api() {
    // Its rounds run up to three minutes ahead of the clock, under one daily cap.
    lucarne_testkit::clear_of_utc_midnight(std::time::Duration::from_secs(300));
    let (smtp, h) = server().await;
    let m = &h.state.meta;
    let site = m.add_site("example.com", "UTC").await.expect("site");
    let key = m.create_api_key("test").await.expect("key");
    let owner = m
        .create_user("owner@example.test", "x", None)
        .await
        .expect("owner");
    let viewer = m
        .create_user("viewer@example.test", "x", None)
        .await
        .expect("viewer");
    m.set_member(site.id, owner.id, Role::Owner)
        .await
        .expect("member");
    m.set_member(site.id, viewer.id, Role::Viewer)
        .await
        .expect("member");
    m.subscribe(owner.id, site.id, SubKind::Alerts, "en")
        .await
        .expect("sub");
    m.subscribe(owner.id, site.id, SubKind::Weekly, "en")
        .await
        .expect("sub");
    let viewer_weekly = m
        .subscribe(viewer.id, site.id, SubKind::Weekly, "fr")
        .await
        .expect("sub");
    let mut o = m.site_options(site.id).await.expect("options");
    o.alert_options = AlertOptions {
        viral_min_arrivals: 5,
        spike_min_visitors: 1000,
        daily_cap: 1,
        ..AlertOptions::default()
    }
    .to_json();
    m.set_site_options(site.id, &o).await.expect("options");
    h.state.invalidate_sites();
    let received = receiver();
    let hook_url = received.url();
    let hook = m
        .create_webhook(site.id, &hook_url, &["alerts", "conversions"])
        .await
        .expect("webhook");
    m.create_goal(
        site.id,
        &lucarne_core::conversions::GoalKind::parse("event", "signup").expect("goal"),
        "Signup",
    )
    .await
    .expect("goal");

    // Nothing yet: a round sends nothing (and starts the conversions cursor).
    let r = notify::round(&h.state, Utc::now()).await.expect("round");
    assert_eq!((r.alerts, r.sent), (0, 0), "{r:?}");

    // A private surge on /story: 4 WhatsApp arrivals, 4 deep links with no referrer (8
    // private arrivals), and a search visit that is not private.
    let ev = |path: &str, referrer: &str| {
        format!(
            r#"{{"n":"pageview","u":"https://example.com{path}","d":"example.com","r":"{referrer}"}}"#
        )
    };
    for i in 0..8u8 {
        let referrer = if i < 4 {
            "android-app://com.whatsapp/"
        } else {
            ""
        };
        let (s, v) = h
            .event_from(&ev("/story", referrer), CHROME, [198, 51, 100, i + 1])
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    let (s, _) = h
        .event_from(
            &ev("/story", "https://www.google.com/"),
            CHROME,
            [198, 51, 100, 50],
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    // A reader from search (not private) whose address-bar token two Reddit readers
    // open: shared links seen in a public place, still private arrivals (2 more).
    let shared = Token::from_bits(201).expect("token").to_string();
    let body = format!(
        r#"{{"n":"pageview","u":"https://example.com/story","d":"example.com","r":"https://www.google.com/","t":"{shared}"}}"#
    );
    assert_eq!(
        h.event_from(&body, CHROME, [198, 51, 100, 60]).await.0,
        StatusCode::ACCEPTED
    );
    for i in 0..2u8 {
        let own = Token::from_bits(202 + u64::from(i))
            .expect("token")
            .to_string();
        let body = format!(
            r#"{{"n":"pageview","u":"https://example.com/story?lc={shared}","d":"example.com","r":"https://www.reddit.com/","t":"{own}"}}"#
        );
        let (s, v) = h.event_from(&body, CHROME, [198, 51, 100, 61 + i]).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }

    let t0 = Utc::now() + chrono::Duration::seconds(1);
    let r = notify::round(&h.state, t0).await.expect("round");
    assert_eq!(r.alerts, 1, "{r:?}");
    assert_eq!(
        (r.sent, r.retried),
        (1, 1),
        "the e-mail went, the webhook got a 500: {r:?}"
    );

    // The e-mail: subject, numbers, apps, both parts, one-click unsubscribe, nothing remote.
    let msgs = smtp
        .wait_for(1, Duration::from_secs(10))
        .expect("the alert e-mail");
    assert_eq!(msgs.len(), 1);
    let mail = mail_to(&smtp, "owner@example.test", "travelling in private").expect("alert mail");
    assert!(
        mail.contains("Subject: example.com: /story is travelling in private"),
        "{mail}"
    );
    assert!(
        mail.contains("/story had 10 private arrivals in the last hour (8 visits from private apps, e-mail or no referrer, 2 other visits through share links, 0 link previews)"),
        "{mail}"
    );
    assert!(mail.contains("Apps: WhatsApp (4)"), "{mail}");
    assert!(
        mail.contains("multipart/alternative")
            && mail.contains("text/plain")
            && mail.contains("text/html")
    );
    assert!(
        mail.contains("List-Unsubscribe: <https://stats.example.test/unsubscribe/"),
        "{mail}"
    );
    assert!(mail.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"));
    assert!(
        !mail.contains("<img") && !mail.contains("src="),
        "no remote part"
    );
    assert!(mail.contains("https://stats.example.test/sites/example.com?period=day&amp;f=visit%3Aentry_page%3D%3D%2Fstory"), "{mail}");

    // The webhook: signed, the alert's data; answered 500 the first time.
    let got = calls(&received);
    assert_eq!(got.len(), 1);
    let raw = received.calls()[0].body.clone();
    assert!(signed(&hook.secret, &got[0].0, &raw), "signature of {raw}");
    assert!(!signed("another secret", &got[0].0, &raw));
    let body = &got[0].1;
    assert_eq!(body["type"], "alert.viral");
    assert_eq!(body["site"], "example.com");
    assert_eq!(body["data"]["page"], "/story");
    assert_eq!(body["data"]["arrivals"], 10);
    assert_eq!(body["data"]["dark_visits"], 8);
    assert_eq!(body["data"]["share_link_visits"], 2);
    assert_eq!(body["data"]["apps"][0]["channel"], "whatsapp");
    assert!(
        body["text"].as_str().is_some_and(|t| t.contains("/story")),
        "Slack's field"
    );

    // Two signups (a goal) arrive, one with revenue; the next round, after the
    // back-off, retries the alert (now accepted) and calls the webhook once per
    // conversion.
    for (body, ip) in [
        (
            r#"{"n":"signup","u":"https://example.com/story","d":"example.com"}"#,
            1,
        ),
        (
            r#"{"name":"signup","url":"https://example.com/pricing","domain":"example.com","revenue":{"currency":"EUR","amount":"19.90"}}"#,
            50,
        ),
    ] {
        let (s, v) = h.event_from(body, CHROME, [198, 51, 100, ip]).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    }
    let r = notify::round(&h.state, t0 + chrono::Duration::minutes(2))
        .await
        .expect("round");
    assert_eq!(
        (r.alerts, r.conversions, r.sent, r.retried),
        (0, 2, 3, 0),
        "{r:?}"
    );
    let got = calls(&received);
    assert_eq!(got.len(), 4);
    assert_eq!(got[1].1, got[0].1, "the retry sends the same alert");
    let ids: Vec<String> = received
        .calls()
        .iter()
        .map(|c| c.header("lucarne-delivery").unwrap_or_default().to_string())
        .collect();
    assert!(
        !ids[0].is_empty() && ids[1] == ids[0],
        "one delivery id on every try: {ids:?}"
    );
    assert!(ids[2] != ids[0] && ids[3] != ids[2], "{ids:?}");
    let mut convs: Vec<&serde_json::Value> = got
        .iter()
        .map(|(_, b)| b)
        .filter(|b| b["type"] == "conversion")
        .collect();
    convs.sort_by_key(|b| b["data"]["time"].as_str().unwrap_or_default().to_string());
    assert_eq!(convs.len(), 2, "one call per conversion");
    let (a, b) = (&convs[0]["data"], &convs[1]["data"]);
    assert_eq!(a["goal"]["name"], "Signup");
    assert_eq!(a["goal"]["kind"], "event");
    assert_eq!(a["event"], "signup");
    assert_eq!(a["page"], "/story");
    assert_eq!(a["revenue"], serde_json::Value::Null);
    assert_eq!(a["visit"]["channel"], "whatsapp", "{a}");
    assert_eq!(a["visit"]["channel_name"], "WhatsApp");
    assert_eq!(a["visit"]["channel_group"], "private-message");
    assert_eq!(a["visit"]["entry_page"], "/story");
    assert_eq!(b["page"], "/pricing");
    assert_eq!(
        b["revenue"],
        serde_json::json!({"amount": 19.9, "currency": "EUR"})
    );
    assert_eq!(b["visit"]["channel"], "google", "{b}");
    assert!(
        convs[1]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Signup on /pricing from Google (19.9 EUR)")),
        "{}",
        convs[1]["text"]
    );
    // A round that reads the same minutes again (a restart, another node) sends none of
    // them twice.
    m.set_notify_cursor(
        site.id,
        "conversions",
        &(t0 - chrono::Duration::minutes(5)).to_rfc3339(),
    )
    .await
    .expect("cursor");
    let r = notify::round(&h.state, t0 + chrono::Duration::minutes(2))
        .await
        .expect("round");
    assert_eq!((r.conversions, r.sent), (0, 0), "{r:?}");

    // The same surge again, and another page's: no new alert (once a day per page, and
    // the site's cap of 1 a day).
    for i in 0..6u8 {
        let (s, _) = h
            .event_from(&ev("/other", ""), CHROME, [198, 51, 100, 100 + i])
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    let r = notify::round(&h.state, t0 + chrono::Duration::minutes(3))
        .await
        .expect("round");
    assert_eq!(r.alerts, 0, "{r:?}");
    assert_eq!(
        m.alerts_since(site.id, t0 - chrono::Duration::days(1), 10)
            .await
            .expect("alerts")
            .len(),
        1
    );
    assert_eq!(smtp.messages().len(), 1, "no second alert e-mail");

    // A week later: last week's digest for both subscribers, in their languages, with
    // the stats API's numbers for those days.
    let today = t0.date_naive();
    let monday = today - chrono::Duration::days(i64::from(today.weekday().num_days_from_monday()));
    let (from, to) = (monday, monday + chrono::Duration::days(6));
    let later = (monday + chrono::Duration::days(8))
        .and_hms_opt(12, 0, 0)
        .expect("noon")
        .and_utc();
    let r = notify::round(&h.state, later).await.expect("round");
    assert_eq!((r.digests, r.sent), (2, 2), "{r:?}");
    let req = Request::get(format!(
        "/api/v1/stats/aggregate?site_id=example.com&period=custom&date={from},{to}&metrics=visitors,visits,pageviews,dark_share"
    ))
    .header("authorization", format!("Bearer {key}"))
    .body(Body::empty())
    .expect("request");
    let (s, v, _) = h.send(req).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let api = &v["results"];
    let en =
        mail_to(&smtp, "owner@example.test", "The week on example.com").expect("English digest");
    let totals = format!(
        "{} visitors, {} visits, {} pageviews",
        api["visitors"]["value"], api["visits"]["value"], api["pageviews"]["value"]
    );
    assert!(en.contains(&totals), "{totals} in {en}");
    let share = api["dark_share"]["value"].as_f64().expect("dark share");
    assert!(
        en.contains(&format!("Dark social: {share:.1}% of visits")),
        "{share} in {en}"
    );
    assert!(
        en.contains("/story: 8 private arrivals of 12 visits"),
        "{en}"
    );
    assert!(en.contains("WhatsApp: 4 visits"), "{en}");
    assert!(en.contains("Signup: 2 conversions"), "{en}");
    assert!(en.contains("Signup: 19.90 EUR of revenue"), "{en}");
    let fr =
        mail_to(&smtp, "viewer@example.test", "La semaine sur example.com").expect("French digest");
    assert!(fr.contains("Pages les plus atteintes en privé"), "{fr}");
    // Made once: the next round makes no other digest.
    let r = notify::round(&h.state, later + chrono::Duration::minutes(1))
        .await
        .expect("round");
    assert_eq!(r.digests, 0);

    // The unsubscribe link works without a login: a page that asks, then a POST.
    let link = format!("/unsubscribe/{}", viewer_weekly.token);
    let page = h
        .send_text(Request::get(&link).body(Body::empty()).expect("req"))
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("viewer@example.test") && page.body.contains("<form method=\"post\""),
        "{}",
        page.body
    );
    assert_eq!(
        m.user_subscriptions(viewer.id, site.id)
            .await
            .expect("subs")
            .len(),
        1,
        "a GET changes nothing"
    );
    let post = Request::post(&link)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("List-Unsubscribe=One-Click"))
        .expect("req");
    let done = h.send_text(post).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert!(m
        .user_subscriptions(viewer.id, site.id)
        .await
        .expect("subs")
        .is_empty());
    let again = h
        .send_text(Request::post(&link).body(Body::empty()).expect("req"))
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);

    // Counted in /metrics.
    let metrics = h.metrics().await;
    for line in [
        "notify_deliveries_total{channel=\"email\",result=\"sent\"} 3",
        "notify_deliveries_total{channel=\"webhook\",result=\"retry\"} 1",
        "notify_deliveries_total{channel=\"webhook\",result=\"sent\"} 3",
        "notify_alerts_total{kind=\"viral\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_traffic_spike_is_raised_once_and_quiet_hours_hold_its_e_mail() {
    // "Not raised again the same day" is asked a minute ahead of the clock.
    lucarne_testkit::clear_of_utc_midnight(std::time::Duration::from_secs(180));
    let (smtp, h) = server().await;
    let m = &h.state.meta;
    let site = m.add_site("example.com", "UTC").await.expect("site");
    let owner = m
        .create_user("owner@example.test", "x", None)
        .await
        .expect("owner");
    m.set_member(site.id, owner.id, Role::Owner)
        .await
        .expect("member");
    m.subscribe(owner.id, site.id, SubKind::Alerts, "fr")
        .await
        .expect("sub");
    let received = receiver();
    let hook_url = received.url();
    m.create_webhook(site.id, &hook_url, &["alerts"])
        .await
        .expect("webhook");
    // Quiet from now (UTC, the site's zone) for two hours: the e-mail waits, the webhook
    // does not.
    let now = Utc::now();
    let hour = now.format("%H").to_string().parse::<u8>().expect("hour");
    let mut o = m.site_options(site.id).await.expect("options");
    o.alert_options = AlertOptions {
        spike_min_visitors: 5,
        viral_min_arrivals: 1000,
        quiet_hours: Some([hour, (hour + 2) % 24]),
        ..AlertOptions::default()
    }
    .to_json();
    m.set_site_options(site.id, &o).await.expect("options");
    h.state.invalidate_sites();

    for i in 0..6u8 {
        let body = r#"{"n":"pageview","u":"https://example.com/","d":"example.com","r":"https://www.google.com/"}"#;
        let (s, _) = h.event_from(body, CHROME, [192, 0, 2, i + 1]).await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    let t0 = Utc::now() + chrono::Duration::seconds(1);
    let r = notify::round(&h.state, t0).await.expect("round");
    assert_eq!(r.alerts, 1, "{r:?}");
    let got = calls(&received);
    assert_eq!(got.len(), 1, "the webhook at once");
    assert_eq!(got[0].1["type"], "alert.spike");
    assert_eq!(got[0].1["data"]["visitors"], 6);
    assert!(
        smtp.messages().is_empty(),
        "the e-mail waits for the end of the quiet hours"
    );
    // Not raised again the same day.
    let r = notify::round(&h.state, t0 + chrono::Duration::minutes(1))
        .await
        .expect("round");
    assert_eq!(r.alerts, 0, "{r:?}");
    // When the quiet hours end, the e-mail goes (in French).
    let wake = (t0 + chrono::Duration::hours(2))
        .date_naive()
        .and_hms_opt(u32::from((hour + 2) % 24), 0, 1)
        .expect("time")
        .and_utc();
    let r = notify::round(&h.state, wake).await.expect("round");
    assert_eq!(r.sent, 1, "{r:?}");
    let mail = smtp
        .wait_for(1, Duration::from_secs(10))
        .expect("the held e-mail")
        .iter()
        .map(|m| decoded(m))
        .next()
        .unwrap_or_default();
    assert!(mail.contains("6 visiteurs dans la derni"), "{mail}");
}

#[tokio::test]
async fn webhooks_through_the_api_and_a_signed_test_call() {
    let (_smtp, h) = server().await;
    let m = &h.state.meta;
    let site = m.add_site("example.com", "UTC").await.expect("site");
    m.add_site("other.example", "UTC").await.expect("site");
    let key = m.create_api_key("test").await.expect("key");
    let viewer = m
        .create_user("viewer@example.test", "x", None)
        .await
        .expect("viewer");
    m.set_member(site.id, viewer.id, Role::Viewer)
        .await
        .expect("member");
    let read_key = m.create_user_api_key(viewer.id, "v").await.expect("key");
    let received = receiver();
    let hook_url = received.url();
    let call = |method: &str, uri: &str, k: &str, body: Option<Value>| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Bearer {k}"))
            .header("content-type", "application/json")
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .expect("request")
    };
    // Refused: a bad URL, no or unknown events, a read-only key; nothing stored.
    for (body, k, status) in [
        (
            serde_json::json!({"site_id": "example.com", "url": "ftp://x", "events": ["alerts"]}),
            &key,
            StatusCode::BAD_REQUEST,
        ),
        (
            serde_json::json!({"site_id": "example.com", "url": hook_url, "events": []}),
            &key,
            StatusCode::BAD_REQUEST,
        ),
        (
            serde_json::json!({"site_id": "example.com", "url": hook_url, "events": ["alerts", "everything"]}),
            &key,
            StatusCode::BAD_REQUEST,
        ),
        (
            serde_json::json!({"site_id": "example.com", "url": hook_url, "events": ["alerts"]}),
            &read_key,
            StatusCode::FORBIDDEN,
        ),
    ] {
        let (s, v, _) = h
            .send(call("POST", "/api/v1/webhooks", k, Some(body.clone())))
            .await;
        assert_eq!(s, status, "{body}: {v}");
    }
    assert!(m.webhooks(site.id).await.expect("hooks").is_empty());

    let body = serde_json::json!({"site_id": "example.com", "url": hook_url, "events": ["conversions", "alerts"]});
    let (s, v, _) = h
        .send(call("POST", "/api/v1/webhooks", &key, Some(body)))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let secret = v["secret"].as_str().expect("the secret, once").to_string();
    let id = v["id"].as_i64().expect("id");
    assert_eq!(v["events"], serde_json::json!(["alerts", "conversions"]));
    let (s, v, _) = h
        .send(call(
            "GET",
            "/api/v1/webhooks?site_id=example.com",
            &read_key,
            None,
        ))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["webhooks"][0]["id"], id);
    assert!(
        v["webhooks"][0].get("secret").is_none(),
        "never listed: {v}"
    );

    // A test call: queued, then sent (after the receiver's first 500) and signed.
    let (s, _, _) = h
        .send(call(
            "POST",
            &format!("/api/v1/webhooks/{id}/test?site_id=other.example"),
            &key,
            None,
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "not through another site");
    let (s, v, _) = h
        .send(call(
            "POST",
            &format!("/api/v1/webhooks/{id}/test?site_id=example.com"),
            &key,
            None,
        ))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let now = Utc::now() + chrono::Duration::seconds(1);
    notify::round(&h.state, now).await.expect("round");
    let r = notify::round(&h.state, now + chrono::Duration::minutes(2))
        .await
        .expect("round");
    assert_eq!(r.sent, 1, "{r:?}");
    let raw = received.calls();
    assert_eq!(raw.len(), 2);
    let (sig, body) = (
        raw[1].header("lucarne-signature").unwrap_or_default(),
        &raw[1].body,
    );
    assert!(signed(&secret, sig, body), "{body}");
    assert!(body.contains("\"type\":\"test\""), "{body}");

    let (s, _, _) = h
        .send(call(
            "DELETE",
            &format!("/api/v1/webhooks/{id}?site_id=example.com"),
            &read_key,
            None,
        ))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = h
        .send(call(
            "DELETE",
            &format!("/api/v1/webhooks/{id}?site_id=example.com"),
            &key,
            None,
        ))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _, _) = h
        .send(call(
            "DELETE",
            &format!("/api/v1/webhooks/{id}?site_id=example.com"),
            &key,
            None,
        ))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // A receiver whose name does not resolve: the delivery waits for another try, and
    // the Notifications page shows why in words.
    let gone = m
        .create_webhook(site.id, "https://hooks.example.invalid/x", &["alerts"])
        .await
        .expect("webhook");
    let (s, v, _) = h
        .send(call(
            "POST",
            &format!("/api/v1/webhooks/{}/test?site_id=example.com", gone.id),
            &key,
            None,
        ))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{v}");
    let r = notify::round(&h.state, now + chrono::Duration::minutes(30))
        .await
        .expect("round");
    assert_eq!((r.sent, r.retried), (0, 1), "{r:?}");
    let last = m.recent_deliveries(site.id, 1).await.expect("deliveries");
    assert_eq!(
        last[0].last_error.as_deref(),
        Some("hooks.example.invalid did not resolve"),
        "{last:?}"
    );
}
