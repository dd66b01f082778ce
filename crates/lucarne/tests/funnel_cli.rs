//! `lucarne funnel add|list|delete`: saved funnels from the command line (the real
//! binary).

mod support;

use support::{add_site, cli, try_cli};

#[test]
fn funnels_are_added_listed_and_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    add_site(data, "example.com");
    let out = cli(
        data,
        &[
            "funnel",
            "add",
            "example.com",
            "Checkout",
            "page:/pricing|page:/checkout/*|event:purchase",
        ],
    );
    assert!(
        out.contains(
            "added to example.com: Checkout (page:/pricing|page:/checkout/*|event:purchase)"
        ),
        "{out}"
    );
    let list = cli(data, &["funnel", "list", "example.com"]);
    let id = list.split('\t').next().unwrap_or_default().to_string();
    assert_eq!(
        list.trim(),
        format!("{id}\tCheckout\tpage:/pricing|page:/checkout/*|event:purchase")
    );
    // Refused with the reason; nothing changed.
    for (args, why) in [
        (
            vec!["funnel", "add", "example.com", "One", "page:/a"],
            "steps",
        ),
        (
            vec!["funnel", "add", "example.com", "Bad", "page:/a|thing:/b"],
            "steps",
        ),
        (
            vec![
                "funnel",
                "add",
                "example.com",
                "Checkout",
                "page:/a|page:/b",
            ],
            "already has a funnel named",
        ),
        (
            vec!["funnel", "delete", "example.com", "999"],
            "no funnel with id 999",
        ),
    ] {
        let (ok, _, err) = try_cli(data, &args);
        assert!(!ok && err.contains(why), "{args:?}: {err}");
    }
    assert_eq!(cli(data, &["funnel", "list", "example.com"]), list);
    cli(data, &["funnel", "delete", "example.com", &id]);
    assert!(cli(data, &["funnel", "list", "example.com"])
        .trim()
        .is_empty());
}
