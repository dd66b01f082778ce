//! Stats API v1 ⇔ v2 on a generated data set, through the real binary: the same
//! question asked both ways gets the same numbers (totals, days, every breakdown, each
//! kind of filter), and a breakdown by two dimensions (read from raw events) adds up to
//! the breakdown by one (read from rollups where they answer).

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use support::*;

const SITE: &str = "eq.test";
const METRICS: &str = "visitors,visits,pageviews,events,bounce_rate,visit_duration";

/// v1 breakdown or timeseries rows as `value of key → metric values`, the metrics in
/// `metrics` order; rows with no visitor and no event are left out (v2 lists none).
fn v1_rows(v: &Value, key: &str, metrics: &[&str]) -> BTreeMap<Vec<String>, Vec<Value>> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["visitors"] != json!(0) || r["events"] != json!(0))
        .map(|r| {
            let k = r[key].as_str().expect("key").to_string();
            (vec![k], metrics.iter().map(|m| r[*m].clone()).collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_and_v2_agree_on_a_generated_site() {
    let dir = tempfile::tempdir().expect("tempdir");
    cli(
        dir.path(),
        &[
            "generate", "--site", SITE, "--events", "30000", "--days", "10",
        ],
    );
    // Closed days are read from rollups (a breakdown by one dimension), two dimensions
    // from raw events.
    cli(dir.path(), &["rollup"]);
    let key = create_key(dir.path());
    let node = Lucarne::start(dir.path());
    let api = QueryApi::new(&node, key, SITE);
    let today = chrono::Utc::now().date_naive();
    let (from, to) = (today - chrono::Days::new(11), today);
    let v1_range = format!("period=custom&date={from},{to}");
    let v2_range = json!([from.to_string(), to.to_string()]);
    let metrics: Vec<&str> = METRICS.split(',').collect();
    let mut compared = 0;

    // Filters, each written both ways.
    let filters: [(&str, Value); 6] = [
        ("", json!([])),
        (
            "visit:channel_group==private-message",
            json!([["is", "visit:channel_group", ["private-message"]]]),
        ),
        (
            "visit:source!=Google",
            json!([["is_not", "visit:source", ["Google"]]]),
        ),
        (
            "event:page==/blog*",
            json!([["matches", "event:page", ["^/blog"]]]),
        ),
        (
            "visit:channel==whatsapp|telegram",
            json!([[
                "or",
                [
                    ["is", "visit:channel", ["whatsapp"]],
                    ["is", "visit:channel", ["telegram"]]
                ]
            ]]),
        ),
        (
            "visit:device==mobile;visit:source==Direct / None",
            json!([
                ["is", "visit:device", ["mobile"]],
                ["is", "visit:source", ["Direct / None"]]
            ]),
        ),
    ];
    for (f1, f2) in &filters {
        let fq = if f1.is_empty() {
            String::new()
        } else {
            format!("&filters={}", urlencode(f1))
        };
        // Totals.
        let a = api
            .v1("aggregate", &format!("{v1_range}&metrics={METRICS}{fq}"))
            .await;
        let b = api
            .v2(json!({"metrics": metrics, "date_range": v2_range, "filters": f2}))
            .await;
        let one: Vec<Value> = metrics
            .iter()
            .map(|m| a["results"][*m]["value"].clone())
            .collect();
        assert_eq!(v2_rows(&b)[&Vec::<String>::new()], one, "aggregate [{f1}]");
        assert!(
            one[0].as_u64().unwrap_or(0) > 0 || !f1.is_empty(),
            "no visitors at all"
        );
        // Days.
        let a = api
            .v1(
                "timeseries",
                &format!("{v1_range}&interval=date&metrics={METRICS}{fq}"),
            )
            .await;
        let b = api
            .v2(
                json!({"metrics": metrics, "date_range": v2_range, "filters": f2,
                       "dimensions": ["time:day"]}),
            )
            .await;
        assert_eq!(v2_rows(&b), v1_rows(&a, "date", &metrics), "days [{f1}]");
        // Breakdowns.
        for p in [
            "visit:source",
            "visit:channel",
            "visit:channel_group",
            "event:page",
            "visit:device",
            "visit:utm_source",
            "event:name",
        ] {
            let m: Vec<&str> = if p.starts_with("event:") && p != "event:page" {
                vec!["visitors", "visits", "pageviews", "events"]
            } else {
                metrics.clone()
            };
            let a = api
                .v1(
                    "breakdown",
                    &format!(
                        "{v1_range}&property={p}&limit=1000&metrics={}{fq}",
                        m.join(",")
                    ),
                )
                .await;
            let b = api
                .v2(json!({"metrics": m, "date_range": v2_range, "filters": f2, "dimensions": [p]}))
                .await;
            let key = p.rsplit(':').next().expect("key");
            assert_eq!(v2_rows(&b), v1_rows(&a, key, &m), "breakdown {p} [{f1}]");
            compared += 1;
        }
    }
    assert!(compared >= 42);

    // Two dimensions, summed over the second, are the breakdown by the first: a
    // visitor's device is fixed (its id hashes the user agent), so visitors add up too.
    let two = api
        .v2(
            json!({"metrics": ["visitors", "visits", "pageviews"], "date_range": v2_range,
                   "dimensions": ["visit:channel_group", "visit:device"]}),
        )
        .await;
    let mut summed: BTreeMap<Vec<String>, Vec<u64>> = BTreeMap::new();
    for (d, m) in v2_rows(&two) {
        let e = summed.entry(vec![d[0].clone()]).or_insert(vec![0; 3]);
        for (i, v) in m.iter().enumerate() {
            e[i] += v.as_u64().expect("count");
        }
    }
    let one = api
        .v2(
            json!({"metrics": ["visitors", "visits", "pageviews"], "date_range": v2_range,
                   "dimensions": ["visit:channel_group"]}),
        )
        .await;
    let one: BTreeMap<Vec<String>, Vec<u64>> = v2_rows(&one)
        .into_iter()
        .map(|(d, m)| (d, m.iter().map(|v| v.as_u64().expect("count")).collect()))
        .collect();
    assert!(one.len() >= 4, "{one:?}");
    assert_eq!(
        summed.keys().collect::<Vec<_>>(),
        one.keys().collect::<Vec<_>>()
    );
    for (k, a) in &one {
        let b = &summed[k];
        assert_eq!(a[1..], b[1..], "{k:?}: visits and pageviews");
        // Visitors from rollups may count one more in a few thousand (ARCHITECTURE.md,
        // "Correctness"), never fewer.
        let slack = 1 + a[0] / 5000;
        assert!(
            a[0] >= b[0] && a[0] - b[0] <= slack,
            "{k:?}: visitors {a:?} {b:?}"
        );
    }
}

/// A filter value in a query string.
fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b':' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}
