//! `lucarne notify subscribe|unsubscribe|list`: members' e-mail subscriptions from the
//! command line (the real binary).

mod support;

use support::{add_site, add_user, cli, try_cli};

#[test]
fn members_are_subscribed_listed_and_unsubscribed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    add_site(data, "example.com");
    add_site(data, "other.example");
    add_user(
        data,
        "owner@example.com",
        "correct horse battery staple",
        &["example.com"],
    );

    let out = cli(
        data,
        &[
            "notify",
            "subscribe",
            "example.com",
            "owner@example.com",
            "weekly",
            "--lang",
            "fr",
        ],
    );
    assert!(
        out.contains("owner@example.com receives weekly e-mails for example.com in fr"),
        "{out}"
    );
    cli(
        data,
        &[
            "notify",
            "subscribe",
            "example.com",
            "owner@example.com",
            "alerts",
        ],
    );
    let list = cli(data, &["notify", "list", "example.com"]);
    assert_eq!(
        list.lines().collect::<Vec<_>>(),
        [
            "owner@example.com\tweekly\tfr",
            "owner@example.com\talerts\ten"
        ],
        "{list}"
    );

    // Refused, with the reason, and nothing changed.
    for (args, why) in [
        (
            vec![
                "notify",
                "subscribe",
                "example.com",
                "owner@example.com",
                "daily",
            ],
            "weekly, monthly or alerts",
        ),
        (
            vec![
                "notify",
                "subscribe",
                "example.com",
                "nobody@example.com",
                "weekly",
            ],
            "no account",
        ),
        (
            vec![
                "notify",
                "subscribe",
                "other.example",
                "owner@example.com",
                "weekly",
            ],
            "has no role on other.example",
        ),
        (
            vec![
                "notify",
                "subscribe",
                "example.com",
                "owner@example.com",
                "weekly",
                "--lang",
                "de",
            ],
            "en or fr",
        ),
        (
            vec![
                "notify",
                "unsubscribe",
                "example.com",
                "owner@example.com",
                "monthly",
            ],
            "had no monthly subscription",
        ),
    ] {
        let (ok, _, err) = try_cli(data, &args);
        assert!(!ok && err.contains(why), "{args:?}: {err}");
    }
    assert!(cli(data, &["notify", "list", "other.example"]).is_empty());

    cli(
        data,
        &[
            "notify",
            "unsubscribe",
            "example.com",
            "owner@example.com",
            "weekly",
        ],
    );
    assert_eq!(
        cli(data, &["notify", "list", "example.com"]).trim(),
        "owner@example.com\talerts\ten"
    );
}
