//! ARCHITECTURE.md's codemap names every source file, so it cannot drift: a new file
//! under `crates/*/src` or `bench/src` that the codemap does not mention fails this test.
//! A file is named by its path under `src/` (`ingest/tokens.rs`) or, in its own
//! directory's entry, by its file name (`tokens.rs`); a `mod.rs` by its directory
//! (`ingest/`), a crate's `lib.rs`/`main.rs` by the crate's heading.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read a source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn architecture_names_every_source_file() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let mut roots: Vec<PathBuf> = std::fs::read_dir(root.join("crates"))
        .expect("crates/")
        .map(|e| e.expect("entry").path().join("src"))
        .filter(|p| p.is_dir())
        .collect();
    roots.push(root.join("bench/src"));
    let mut missing = Vec::new();
    for src in roots {
        let mut files = Vec::new();
        sources(&src, &mut files);
        for f in files {
            let rel = f
                .strip_prefix(&src)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            // Named by any tail of its path (`tokens.rs`, `ingest/tokens.rs`, …); a
            // `mod.rs` by its directory (`dashboard/`).
            let parts: Vec<&str> = rel.split('/').collect();
            let named = if parts.len() == 1 && (rel == "lib.rs" || rel == "main.rs") {
                true
            } else if parts.last() == Some(&"mod.rs") {
                let dirs = &parts[..parts.len() - 1];
                (0..dirs.len()).any(|k| map.contains(&format!("`{}/", dirs[k..].join("/"))))
            } else {
                (0..parts.len()).any(|k| {
                    let tail = parts[k..].join("/");
                    map.contains(&format!("`{tail}`")) || map.contains(&format!("/{tail}`"))
                })
            };
            if !named {
                missing.push(f.strip_prefix(&root).unwrap_or(&f).display().to_string());
            }
        }
    }
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md's codemap does not name: {missing:#?}"
    );
}
