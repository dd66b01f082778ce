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
