//! Upgrades (issue 22): data directories written by every earlier schema version of the
//! embedded default open in this binary, which migrates them, and answer the reports that
//! version gave.
//!
//! Each archive of `tests/fixtures/upgrade/` (made by `scripts/make-upgrade-fixtures.sh`
//! with the binary of that commit) holds `data/` (`lucarne generate`, a key, a goal and a
//! short link where that version had them, its rollups where it had them),
//! `expected.json` (that version's answers to the stats API for a fixed, closed period,
//! and the exact requests) and `meta.json` (the commit, its migration numbers, and the
//! metrics a later fix changed on purpose, which are not compared). For each archive:
//! the directory is unpacked, this binary serves it (migrating it) and must give the same
//! answers: counts exactly, breakdowns row for row; its first start applies exactly the
//! migrations the directory lacked, of both stores. Then, stopped with SIGTERM, rolled up
//! with `lucarne rollup` and started again, it applies none (its schema versions are the
//! current ones) and answers the same again, now from rollups.

mod support;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{cli, text, Lucarne};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/upgrade")
}

/// The highest migration number of a store kind (`duckdb`, `sqlite`) in this source tree.
fn current_migration(kind: &str) -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../store/migrations")
        .join(kind);
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| {
            let name = e.expect("entry").file_name().to_string_lossy().into_owned();
            name.split('_').next()?.parse::<i64>().ok()
        })
        .max()
        .expect("a migration")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The versions of `what` ("Applying events migration." or "Applying metadata
/// migration.") a server applied, from its JSON log.
fn applied(log: &str, what: &str) -> BTreeSet<i64> {
    log.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == what)
        .map(|v| {
            v["version"]
                .as_i64()
                .unwrap_or_else(|| panic!("no version in {v}"))
        })
        .collect()
}

/// Two JSON numbers (or other values) are the same value: `12` and `12.0` are.
fn same(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// What the fixture says not to compare: (report or `*` for all, metric).
fn exclusions(meta: &Value) -> BTreeSet<(String, String)> {
    meta["excluded"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|e| (text(&e["report"]), text(&e["metric"])))
                .collect()
        })
        .unwrap_or_default()
}

/// `expected` is contained in `actual`: every field of an object (but excluded ones)
/// equal, every element of an array matched by a distinct element (in any order).
fn contained(expected: &Value, actual: &Value, skip: &BTreeSet<String>) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .filter(|(k, _)| !skip.contains(*k))
            .all(|(k, v)| a.get(k).is_some_and(|w| contained(v, w, skip))),
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return false;
            }
            let mut used = vec![false; a.len()];
            e.iter().all(|x| {
                let found = (0..a.len()).find(|&i| !used[i] && contained(x, &a[i], skip));
                found.map(|i| used[i] = true).is_some()
            })
        }
        _ => same(expected, actual),
    }
}

/// Compares one report's answer with the one recorded; each difference is a line of
/// `problems`.
fn compare(report: &Value, actual: &Value, skip: &BTreeSet<String>, problems: &mut Vec<String>) {
    let name = text(&report["name"]);
    let expected = &report["answer"];
    let metrics: Vec<String> = report["metrics"]
        .as_array()
        .map(|m| m.iter().map(text).filter(|m| !skip.contains(m)).collect())
        .unwrap_or_default();
    if name == "aggregate" {
        for m in &metrics {
            let (e, a) = (
                &expected["results"][m]["value"],
                &actual["results"][m]["value"],
            );
            if !same(e, a) {
                problems.push(format!("aggregate {m}: expected {e}, got {a}"));
            }
        }
    } else if let Some(key) = report["row_key"].as_str() {
        let rows = |v: &Value| -> BTreeMap<String, Value> {
            v["results"]
                .as_array()
                .map(|rows| rows.iter().map(|r| (text(&r[key]), r.clone())).collect())
                .unwrap_or_default()
        };
        let (e, a) = (rows(expected), rows(actual));
        if e.is_empty() {
            problems.push(format!("{name}: no rows were recorded"));
        }
        for (k, row) in &e {
            let Some(got) = a.get(k) else {
                problems.push(format!("{name}: row {key}={k:?} is missing ({row})"));
                continue;
            };
            for m in &metrics {
                if !same(&row[m], &got[m]) {
                    problems.push(format!(
                        "{name}: {key}={k:?} {m}: expected {}, got {}",
                        row[m], got[m]
                    ));
                }
            }
        }
        for k in a.keys().filter(|k| !e.contains_key(*k)) {
            problems.push(format!("{name}: row {key}={k:?} is new ({})", a[k]));
        }
    } else if !contained(expected, actual, skip) {
        problems.push(format!(
            "{name}: the answer does not hold the recorded one\nexpected (in it): {expected}\ngot: {actual}"
        ));
    }
}

/// Asks every recorded report of `node`, compares; the problems found.
async fn check_reports(
    http: &reqwest::Client,
    node: &Lucarne,
    expected: &Value,
    meta: &Value,
) -> Vec<String> {
    let key = text(&expected["key"]);
    let excluded = exclusions(meta);
    let mut problems = Vec::new();
    for report in expected["reports"].as_array().expect("reports") {
        let name = text(&report["name"]);
        let path = text(&report["path"]);
        let skip: BTreeSet<String> = excluded
            .iter()
            .filter(|(r, _)| *r == name || r == "*")
            .map(|(_, m)| m.clone())
            .collect();
        let response = http
            .get(format!("{}{path}", node.url()))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let body = response.text().await.unwrap_or_default();
        if status != 200 {
            problems.push(format!("{name}: GET {path} answered {status}: {body}"));
            continue;
        }
        // The script wrote the recording server's address as {BASE}.
        let body = body.replace(&node.url(), "{BASE}");
        let actual: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"));
        compare(report, &actual, &skip, &mut problems);
    }
    problems
}

/// One fixture through both starts; the problems found, each prefixed with when.
async fn check_fixture(archive: &Path) -> Vec<String> {
    // No kept-alive connections: the server restarts on the same port between reports.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let http = &client;
    let dir = tempfile::tempdir().expect("tempdir");
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(archive)
        .arg("-C")
        .arg(dir.path())
        .status()
        .expect("run tar");
    assert!(status.success(), "unpacking {}", archive.display());
    let meta = read_json(&dir.path().join("meta.json"));
    let expected = read_json(&dir.path().join("expected.json"));
    let data = dir.path().join("data");
    let mut problems = Vec::new();
    let json_log = [("LUCARNE_LOG_FORMAT", "json")];

    // First start: migrates exactly what the directory lacks, answers as that version did.
    let mut node = Lucarne::start_with_env(&data, &json_log);
    for (what, kind, written) in [
        (
            "Applying events migration.",
            "duckdb",
            &meta["duckdb_migration"],
        ),
        (
            "Applying metadata migration.",
            "sqlite",
            &meta["sqlite_migration"],
        ),
    ] {
        let written = written.as_i64().expect("migration number in meta.json");
        let missing: BTreeSet<i64> = (written + 1..=current_migration(kind)).collect();
        let done = applied(&node.log(), what);
        if done != missing {
            problems.push(format!(
                "first start, {kind}: applied migrations {done:?}, expected {missing:?}"
            ));
        }
    }
    for p in check_reports(http, &node, &expected, &meta).await {
        problems.push(format!("first start: {p}"));
    }
    let status = node.terminate(Duration::from_secs(60));
    assert!(status.success(), "SIGTERM: {status}\n{}", node.log());
    let first_log = node.log();

    // Rolled up by this binary, started again: nothing left to migrate, same answers.
    cli(&data, &["rollup"]);
    node.start_again();
    let second_log = node.log()[first_log.len()..].to_string();
    for what in ["Applying events migration.", "Applying metadata migration."] {
        let done = applied(&second_log, what);
        if !done.is_empty() {
            problems.push(format!("second start: applied {what} {done:?} again"));
        }
    }
    for p in check_reports(http, &node, &expected, &meta).await {
        problems.push(format!("after `lucarne rollup`: {p}"));
    }
    let status = node.terminate(Duration::from_secs(60));
    assert!(status.success(), "SIGTERM: {status}\n{}", node.log());
    problems
}

fn archives() -> Vec<PathBuf> {
    let mut archives: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("tests/fixtures/upgrade")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    archives.sort();
    assert!(
        !archives.is_empty(),
        "no fixture in {}",
        fixtures_dir().display()
    );
    archives
}

/// A fixture exists for every schema version but the newest, which only its successor
/// can upgrade: each migration number below the current one of each store is the newest
/// of its store in some fixture. (A version adding a migration after this one fails this
/// until its predecessor's fixture is made: `scripts/make-upgrade-fixtures.sh COMMIT`.)
#[test]
fn every_earlier_schema_version_has_a_fixture() {
    let mut seen: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
    for archive in archives() {
        let out = Command::new("tar")
            .arg("-xzOf")
            .arg(&archive)
            .arg("meta.json")
            .output()
            .expect("run tar");
        assert!(out.status.success(), "meta.json of {}", archive.display());
        let meta: Value = serde_json::from_slice(&out.stdout).expect("meta.json");
        for kind in ["duckdb", "sqlite"] {
            seen.entry(kind).or_default().insert(
                meta[format!("{kind}_migration")]
                    .as_i64()
                    .expect("a migration number"),
            );
        }
    }
    for kind in ["duckdb", "sqlite"] {
        let missing: Vec<i64> = (1..current_migration(kind))
            .filter(|n| !seen[kind].contains(n))
            .collect();
        assert!(
            missing.is_empty(),
            "no upgrade fixture written by a version whose newest {kind} migration is \
             {missing:?}: run scripts/make-upgrade-fixtures.sh with the commit that added it"
        );
    }
}

/// Fixtures checked at once: one per two cores. A check is mostly `lucarne rollup`, whose
/// DuckDB work takes more than a core: two at once on two cores were slower than one
/// after the other.
fn at_once() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

#[test]
fn data_directories_of_every_earlier_schema_version_upgrade_with_the_same_answers() {
    let queue = Mutex::new(archives().into_iter().collect::<VecDeque<PathBuf>>());
    let results = Mutex::new(BTreeMap::<String, Vec<String>>::new());
    std::thread::scope(|scope| {
        for _ in 0..at_once() {
            scope.spawn(|| loop {
                let Some(archive) = queue.lock().expect("queue").pop_front() else {
                    return;
                };
                let name = archive
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned();
                let started = Instant::now();
                // A panic (a server that does not start) is this fixture's problem; the
                // others are still checked. (The server of a panicked check is killed when
                // its `Lucarne` is dropped.)
                let problems = std::panic::catch_unwind(AssertUnwindSafe(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime")
                        .block_on(check_fixture(&archive))
                }))
                .unwrap_or_else(|payload| {
                    let text = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    vec![format!("the check panicked: {text}")]
                });
                eprintln!(
                    "{name}: {} in {:.1} s",
                    if problems.is_empty() {
                        "same answers"
                    } else {
                        "DIFFERENT"
                    },
                    started.elapsed().as_secs_f64()
                );
                results.lock().expect("results").insert(name, problems);
            });
        }
    });
    let failed: Vec<String> = results
        .into_inner()
        .expect("results")
        .into_iter()
        .flat_map(|(name, problems)| problems.into_iter().map(move |p| format!("{name}: {p}")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} problem(s) after upgrading:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
