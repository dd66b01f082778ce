//! `lucarne goal add|list|delete`: conversion goals from the command line (the real
//! binary).

use std::process::{Command, Output};

use lucarne_core::conversions::GoalKind;
use lucarne_store::meta::MetaStore;

fn lucarne(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lucarne"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run lucarne")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs and expects success; returns standard output.
fn ok(args: &[&str]) -> String {
    let o = lucarne(args);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    stdout(&o)
}

/// Runs and expects a refusal; returns standard error.
fn refused(args: &[&str]) -> String {
    let o = lucarne(args);
    assert!(!o.status.success(), "{args:?} succeeded: {}", stdout(&o));
    stderr(&o)
}

#[tokio::test]
async fn goals_are_added_listed_and_deleted() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8 path");
    ok(&["site", "add", "shop.test", "--data", data]);
    ok(&["site", "add", "other.test", "--data", data]);

    let out = ok(&[
        "goal",
        "add",
        "shop.test",
        "--event",
        "purchase",
        "--data",
        data,
    ]);
    assert!(out.contains("event `purchase`"), "{out}");
    let out = ok(&[
        "goal",
        "add",
        "shop.test",
        "--page",
        "/order/*/done",
        "--name",
        "Order done",
        "--data",
        data,
    ]);
    assert!(out.contains("page `/order/*/done` (Order done)"), "{out}");
    ok(&[
        "goal",
        "add",
        "other.test",
        "--event",
        "signup",
        "--data",
        data,
    ]);

    // id, kind, value, name; tab-separated, oldest first, only the site's own.
    let list = ok(&["goal", "list", "shop.test", "--data", data]);
    let rows: Vec<Vec<&str>> = list.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!(&rows[0][1..], ["event", "purchase", "purchase"]);
    assert_eq!(&rows[1][1..], ["page", "/order/*/done", "Order done"]);
    let purchase_id = rows[0][0].to_string();
    assert!(purchase_id.parse::<i64>().is_ok(), "{list}");

    // The same goal again is refused, whatever its name.
    let err = refused(&[
        "goal",
        "add",
        "shop.test",
        "--event",
        "purchase",
        "--name",
        "Again",
        "--data",
        data,
    ]);
    assert!(err.contains("already has the goal"), "{err}");

    // Another site's goal cannot be deleted through this one.
    let other_list = ok(&["goal", "list", "other.test", "--data", data]);
    let other_id = other_list
        .split('\t')
        .next()
        .expect("an id")
        .trim()
        .to_string();
    let err = refused(&["goal", "delete", "shop.test", &other_id, "--data", data]);
    assert!(err.contains("no goal with id"), "{err}");

    ok(&["goal", "delete", "shop.test", &purchase_id, "--data", data]);
    let err = refused(&["goal", "delete", "shop.test", &purchase_id, "--data", data]);
    assert!(err.contains("no goal with id"), "{err}");
    let list = ok(&["goal", "list", "shop.test", "--data", data]);
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(!list.contains("purchase"), "{list}");

    // What the server reads.
    let meta = MetaStore::open(dir.path()).await.expect("meta");
    let site = meta
        .site_by_domain("shop.test")
        .await
        .expect("query")
        .expect("site");
    let goals = meta.goals(site.id).await.expect("goals");
    assert_eq!(goals.len(), 1);
    assert_eq!(goals[0].kind, GoalKind::Page("/order/*/done".into()));
    assert_eq!(goals[0].name, "Order done");
}

#[tokio::test]
async fn bad_goals_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8 path");
    ok(&["site", "add", "shop.test", "--data", data]);

    // A page pattern must be a path.
    let err = refused(&[
        "goal",
        "add",
        "shop.test",
        "--page",
        "thanks",
        "--data",
        data,
    ]);
    assert!(err.contains("--page") && err.contains('/'), "{err}");
    let err = refused(&["goal", "add", "shop.test", "--page", "/a b", "--data", data]);
    assert!(err.contains("--page"), "{err}");
    // Pageviews are not an event goal; empty names are not either.
    let err = refused(&[
        "goal",
        "add",
        "shop.test",
        "--event",
        "pageview",
        "--data",
        data,
    ]);
    assert!(err.contains("--event"), "{err}");
    refused(&["goal", "add", "shop.test", "--event", " ", "--data", data]);
    // Exactly one of --event and --page.
    refused(&["goal", "add", "shop.test", "--data", data]);
    refused(&[
        "goal",
        "add",
        "shop.test",
        "--event",
        "buy",
        "--page",
        "/x",
        "--data",
        data,
    ]);
    // Unknown site, for every subcommand.
    let err = refused(&["goal", "add", "nope.test", "--event", "buy", "--data", data]);
    assert!(err.contains("no site `nope.test`"), "{err}");
    let err = refused(&["goal", "list", "nope.test", "--data", data]);
    assert!(err.contains("no site `nope.test`"), "{err}");
    let err = refused(&["goal", "delete", "nope.test", "1", "--data", data]);
    assert!(err.contains("no site `nope.test`"), "{err}");
    // A goal id is a number.
    refused(&["goal", "delete", "shop.test", "first", "--data", data]);

    // Nothing was stored.
    let list = lucarne(&["goal", "list", "shop.test", "--data", data]);
    assert!(list.status.success());
    assert_eq!(stdout(&list), "");
    assert!(stderr(&list).contains("no goals yet"), "{}", stderr(&list));
}
