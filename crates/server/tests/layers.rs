//! The server crate's modules import downward only (ARCHITECTURE.md, "Layers of the
//! server crate"): nothing outside `web` imports from `web`; the service core (`state`,
//! `ingest`, `links`) imports no HTTP handler module (`api`, `previews`, `web`); the leaves
//! (`error`, `limits`, `metrics`) import no other module of the crate. A file that breaks
//! a rule fails this test, so the import circle cannot come back unnoticed.

use std::path::{Path, PathBuf};

/// (module, the modules it may not import).
const RULES: &[(&str, &[&str])] = &[
    ("state", &["api", "previews", "web"]),
    ("ingest", &["api", "previews", "web"]),
    ("links", &["api", "previews", "web"]),
    (
        "net",
        &["api", "previews", "web", "state", "ingest", "links"],
    ),
    ("assets", &["api", "previews", "web", "ingest", "links"]),
    ("api", &["web"]),
    ("previews", &["web"]),
    ("notify", &["web"]),
    (
        "metrics",
        &["api", "previews", "web", "state", "ingest", "links", "net"],
    ),
    (
        "limits",
        &[
            "api", "previews", "web", "state", "ingest", "links", "net", "metrics",
        ],
    ),
    (
        "error",
        &[
            "api", "previews", "web", "state", "ingest", "links", "net", "metrics",
        ],
    ),
];

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

/// The top-level modules a file names through `crate::…` (`crate::a::b`,
/// `crate::{a::b, c}`), comments left out.
fn imported_modules(text: &str) -> Vec<String> {
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let inner = &group[..group.find('}').unwrap_or(group.len())];
            out.extend(inner.split(',').map(ident));
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

/// The crate's top-level module of a file under `src/` (`ingest/tokens.rs` → `ingest`).
fn module_of(rel: &Path) -> String {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

#[test]
fn modules_import_downward_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut broken = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src");
        let module = module_of(rel);
        let text = std::fs::read_to_string(f).expect("read a source file");
        let imports = imported_modules(&text);
        // Nothing outside `web` (but the router in lib.rs) imports from `web`.
        if module != "web" && module != "lib" && imports.iter().any(|m| m == "web") {
            broken.push(format!("{} imports crate::web", rel.display()));
        }
        if let Some((_, banned)) = RULES.iter().find(|(m, _)| *m == module) {
            for m in imports.iter().filter(|m| banned.contains(&m.as_str())) {
                broken.push(format!("{} ({module}) imports crate::{m}", rel.display()));
            }
        }
    }
    broken.sort();
    broken.dedup();
    assert!(
        broken.is_empty(),
        "imports against the layers in ARCHITECTURE.md:\n  {}",
        broken.join("\n  ")
    );
}

#[test]
fn the_import_scan_reads_groups_and_skips_comments() {
    let text = "use crate::{state::AppState, web::layout};\n// crate::api in a comment\nlet x = crate::ingest::enqueue;";
    assert_eq!(imported_modules(text), ["state", "web", "ingest"]);
}
