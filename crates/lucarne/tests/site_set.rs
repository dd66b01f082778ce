//! `lucarne site set`: site settings from the command line (the real binary).

use std::process::Command;

use lucarne_store::meta::{MetaStore, ShareParamStyle};

fn lucarne(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lucarne"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run lucarne")
}

#[tokio::test]
async fn site_set_changes_only_what_it_names() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8 path");
    assert!(lucarne(&["site", "add", "ex.test", "--data", data])
        .status
        .success());
    let out = lucarne(&[
        "site",
        "set",
        "ex.test",
        "--copy-attribution",
        "on",
        "--share-param",
        "query",
        "--retention-days",
        "400",
        "--data",
        data,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("copied-text attribution on"), "{text}");
    // Bad values are refused and change nothing.
    let bad = lucarne(&[
        "site",
        "set",
        "ex.test",
        "--retention-days",
        "0",
        "--data",
        data,
    ]);
    assert!(!bad.status.success());
    assert!(!lucarne(&[
        "site",
        "set",
        "nope.test",
        "--honour-dnt",
        "on",
        "--data",
        data
    ])
    .status
    .success());
    assert!(lucarne(&[
        "site",
        "set",
        "ex.test",
        "--honour-dnt",
        "on",
        "--data",
        data
    ])
    .status
    .success());

    let meta = MetaStore::open(dir.path()).await.expect("meta");
    let site = meta
        .site_by_domain("ex.test")
        .await
        .expect("query")
        .expect("site");
    let o = meta.site_options(site.id).await.expect("options");
    assert!(o.copy_attribution && o.honour_dnt);
    assert_eq!(o.share_param_style, ShareParamStyle::Query);
    assert_eq!(o.retention_days, Some(400));
}

#[tokio::test]
async fn site_set_money_and_survey() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8 path");
    assert!(lucarne(&["site", "add", "shop.test", "--data", data])
        .status
        .success());
    let out = lucarne(&[
        "site",
        "set",
        "shop.test",
        "--currency",
        "usd",
        "--exchange-rates",
        "eur=1.08, GBP=1.27",
        "--survey",
        "off",
        "--survey-options",
        "WhatsApp, sms,email,sms,other",
        "--data",
        data,
    ]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("revenue in USD"), "{text}");
    assert!(text.contains("EUR=1.08,GBP=1.27"), "{text}");
    assert!(text.contains("survey off"), "{text}");

    let meta = MetaStore::open(dir.path()).await.expect("meta");
    let site = meta
        .site_by_domain("shop.test")
        .await
        .expect("query")
        .expect("site");
    let options = || async { meta.site_options(site.id).await.expect("options") };
    let o = options().await;
    assert_eq!(o.currency, "USD");
    // Stored in the canonical text form.
    assert_eq!(o.exchange_rates, "EUR=1.08,GBP=1.27");
    assert!(!o.survey_enabled);
    assert_eq!(o.survey_options, ["whatsapp", "sms", "email", "other"]);

    // Refusals: each names its flag and changes nothing.
    for (args, flag) in [
        (&["--currency", "EURO"][..], "--currency"),
        (&["--currency", "€"][..], "--currency"),
        (&["--exchange-rates", "USD"][..], "--exchange-rates"),
        (&["--exchange-rates", "USD=abc"][..], "--exchange-rates"),
        (&["--exchange-rates", "USD=-1"][..], "--exchange-rates"),
        (&["--exchange-rates", "DOLLAR=1"][..], "--exchange-rates"),
        // The site's own currency needs no rate.
        (&["--exchange-rates", "USD=1"][..], "--exchange-rates"),
        (
            &["--survey-options", "whatsapp,carrier-pigeon"][..],
            "carrier-pigeon",
        ),
        (&["--survey", "maybe"][..], "--survey"),
        // One bad flag spoils the others.
        (
            &["--currency", "GBP", "--survey-options", "nope"][..],
            "--survey-options",
        ),
    ] {
        let mut all = vec!["site", "set", "shop.test"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--data", data]);
        let out = lucarne(&all);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success(), "{args:?} accepted");
        assert!(err.contains(flag), "{args:?}: {err}");
    }
    assert_eq!(options().await, o);

    // An empty option list means the defaults; an empty rate list means none.
    let out = lucarne(&[
        "site",
        "set",
        "shop.test",
        "--currency",
        "EUR",
        "--exchange-rates",
        "",
        "--survey",
        "on",
        "--survey-options",
        "",
        "--data",
        data,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("the defaults"), "{text}");
    let o = options().await;
    assert_eq!(o.currency, "EUR");
    assert_eq!(o.exchange_rates, "");
    assert!(o.survey_enabled);
    assert!(o.survey_options.is_empty());
}
