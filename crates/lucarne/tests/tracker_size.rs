//! The tracker's budget and privacy promises, checked on the file that is served
//! (`web/script.js` is compiled into the server as is).

use std::io::Write;

const SCRIPT: &str = include_str!("../../../web/script.js");

/// Hard budget for `/js/script.js` over the wire.
const MAX_GZIPPED_BYTES: usize = 1536;

#[test]
fn tracker_is_at_most_1_5_kb_gzipped() {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(SCRIPT.as_bytes()).expect("gzip in memory");
    let size = gz.finish().expect("gzip in memory").len();
    assert!(
        size <= MAX_GZIPPED_BYTES,
        "web/script.js is {size} bytes gzipped, over the {MAX_GZIPPED_BYTES}-byte budget"
    );
}

#[test]
fn tracker_uses_no_cookies() {
    let lower = SCRIPT.to_ascii_lowercase();
    assert!(
        !lower.contains("cookie"),
        "web/script.js mentions cookies: it must neither read nor write them"
    );
}

#[test]
fn tracker_storage_access_is_only_the_opt_out_flag() {
    // The one storage access allowed: reading `localStorage.lucarne_ignore`.
    for forbidden in ["sessionStorage", "indexedDB", "setItem", "document.cookie"] {
        assert!(
            !SCRIPT.contains(forbidden),
            "web/script.js uses {forbidden}: it must store nothing in the browser"
        );
    }
    let uses = SCRIPT.matches("localStorage").count();
    let opt_out = SCRIPT.matches("localStorage.lucarne_ignore").count();
    assert_eq!(
        uses, opt_out,
        "web/script.js touches localStorage beyond reading the lucarne_ignore opt-out flag"
    );
}
