//! The browser scripts' budgets and privacy promises, checked on the files that are served
//! (`web/script.js` and `web/share.js` are compiled into the server as is).

use std::io::Write;

const SCRIPT: &str = include_str!("../../../web/script.js");
const SHARE: &str = include_str!("../../../web/share.js");
const ENGAGEMENT: &str = include_str!("../../../web/engagement.js");
const EVENTS: &str = include_str!("../../../web/events.js");

/// Hard budget for `/js/script.js` over the wire.
const MAX_GZIPPED_BYTES: usize = 1536;
/// Hard budget for `/js/share.js` over the wire.
const MAX_SHARE_GZIPPED_BYTES: usize = 3072;
/// Hard budgets for the opt-in `/js/engagement.js` and `/js/events.js` over the wire.
const MAX_ENGAGEMENT_GZIPPED_BYTES: usize = 1024;
const MAX_EVENTS_GZIPPED_BYTES: usize = 1536;

/// Size of `text` gzipped at the best level, as served (comments included).
fn gzipped(text: &str) -> usize {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(text.as_bytes()).expect("gzip in memory");
    gz.finish().expect("gzip in memory").len()
}

#[test]
fn tracker_is_at_most_1_5_kb_gzipped() {
    let size = gzipped(SCRIPT);
    assert!(
        size <= MAX_GZIPPED_BYTES,
        "web/script.js is {size} bytes gzipped, over the {MAX_GZIPPED_BYTES}-byte budget"
    );
}

#[test]
fn share_script_is_at_most_3_kb_gzipped() {
    let size = gzipped(SHARE);
    assert!(
        size <= MAX_SHARE_GZIPPED_BYTES,
        "web/share.js is {size} bytes gzipped, over the {MAX_SHARE_GZIPPED_BYTES}-byte budget"
    );
}

#[test]
fn opt_in_scripts_are_within_their_budgets() {
    for (name, script, budget) in [
        (
            "web/engagement.js",
            ENGAGEMENT,
            MAX_ENGAGEMENT_GZIPPED_BYTES,
        ),
        ("web/events.js", EVENTS, MAX_EVENTS_GZIPPED_BYTES),
    ] {
        let size = gzipped(script);
        assert!(
            size <= budget,
            "{name} is {size} bytes gzipped, over the {budget}-byte budget"
        );
    }
}

#[test]
fn tracker_uses_no_cookies() {
    for (name, script) in [
        ("web/script.js", SCRIPT),
        ("web/share.js", SHARE),
        ("web/engagement.js", ENGAGEMENT),
        ("web/events.js", EVENTS),
    ] {
        let lower = script.to_ascii_lowercase();
        assert!(
            !lower.contains("cookie"),
            "{name} mentions cookies: it must neither read nor write them"
        );
    }
}

#[test]
fn tracker_storage_access_is_only_the_opt_out_flag() {
    for (name, script) in [("web/script.js", SCRIPT), ("web/share.js", SHARE)] {
        // The one storage access allowed: reading `localStorage.lucarne_ignore`.
        for forbidden in ["sessionStorage", "indexedDB", "setItem", "document.cookie"] {
            assert!(
                !script.contains(forbidden),
                "{name} uses {forbidden}: it must store nothing in the browser"
            );
        }
        let uses = script.matches("localStorage").count();
        let opt_out = script.matches("localStorage.lucarne_ignore").count();
        assert_eq!(
            uses, opt_out,
            "{name} touches localStorage beyond reading the lucarne_ignore opt-out flag"
        );
    }
}

#[test]
fn share_script_loads_nothing_from_elsewhere() {
    // No icons, fonts, frames or scripts: the only requests are the events to Lucarne.
    for forbidden in [
        "url(",
        "@import",
        "\"img\"",
        "\"script\"",
        "\"link\"",
        "\"iframe\"",
        "new Image",
        "import(",
    ] {
        assert!(
            !SHARE.contains(forbidden),
            "web/share.js contains {forbidden}: it must load nothing from anywhere"
        );
    }
}
