//! `lucarne import plausible` through the real binary, with an export written here in
//! Plausible's documented format (ten files, quoted and not, in a zip and in a
//! directory): imported totals per day equal the files' sums; a day with native events
//! is never counted twice; sources land in Lucarne's channels; queries the files cannot
//! answer say so; an import can be listed and deleted; a bad file stores nothing.

mod support;

use std::io::Write;
use std::path::Path;

use chrono::{Days, NaiveDate};
use serde_json::json;
use support::*;

const SITE: &str = "imp.test";
const OWNER: &str = "owner@imp.test";
const PASSWORD: &str = "a long import password";

/// The day `i` of the export (0-based) and its visitors-file numbers: visitors,
/// pageviews, bounces, visits, visit_duration.
fn day_numbers(i: u64) -> [u64; 5] {
    [10 + i, 30 + 2 * i, 5, 12 + i, 600 + 10 * i]
}

/// Each day's sources: (source, referrer, visitors, visits). Their visits add up to
/// the visitors file's.
fn sources(i: u64) -> Vec<(&'static str, &'static str, u64, u64)> {
    vec![
        ("WhatsApp", "", 3, 3),
        ("Telegram", "", 1, 1),
        ("Google", "google.com", 4, 5),
        ("", "", 2 + i, 3 + i),
    ]
}

/// The ten files of an export of `days` days from `first`.
fn export(first: NaiveDate, days: u64) -> Vec<(String, String)> {
    let last = first + Days::new(days - 1);
    let span = format!("{}_{}", first.format("%Y%m%d"), last.format("%Y%m%d"));
    let name = |t: &str| format!("imported_{t}_{span}.csv");
    let day = |i: u64| first + Days::new(i);
    // Quoted, as Plausible's exporter writes.
    let mut visitors = String::from(
        "\"date\",\"visitors\",\"pageviews\",\"bounces\",\"visits\",\"visit_duration\"\n",
    );
    let mut src = String::from("date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,pageviews,visitors,visits,visit_duration,bounces\n");
    let mut pages = String::from("date,hostname,page,visits,visitors,pageviews\n");
    let mut entry =
        String::from("date,entry_page,visitors,entrances,visit_duration,bounces,pageviews\n");
    let mut exit = String::from("date,exit_page,visitors,visit_duration,exits,bounces,pageviews\n");
    let mut events = String::from("date,name,link_url,path,visitors,events\n");
    let mut locations =
        String::from("date,country,region,city,visitors,visits,visit_duration,bounces,pageviews\n");
    let mut devices =
        String::from("date,device,visitors,visits,visit_duration,bounces,pageviews\n");
    let mut browsers = String::from(
        "date,browser,browser_version,visitors,visits,visit_duration,bounces,pageviews\n",
    );
    let mut os = String::from("date,operating_system,operating_system_version,visitors,visits,visit_duration,bounces,pageviews\n");
    for i in 0..days {
        let d = day(i);
        let [v, pv, b, vis, dur] = day_numbers(i);
        visitors.push_str(&format!("\"{d}\",{v},{pv},{b},{vis},{dur}\n"));
        for (s, r, sv, svis) in sources(i) {
            src.push_str(&format!(
                "{d},{s},{r},,,,,,{},{sv},{svis},{},1\n",
                svis * 2,
                svis * 50
            ));
        }
        pages.push_str(&format!("{d},{SITE},/,{},{},{}\n", vis - 2, v - 2, pv - 5));
        pages.push_str(&format!("{d},{SITE},/pricing,2,2,5\n"));
        entry.push_str(&format!("{d},/,{v},{vis},{dur},{b},{pv}\n"));
        exit.push_str(&format!("{d},/,{v},{dur},{vis},{b},{pv}\n"));
        events.push_str(&format!("{d},Signup,,,2,3\n"));
        events.push_str(&format!(
            "{d},Outbound Link: Click,https://example.org/,,1,1\n"
        ));
        locations.push_str(&format!("{d},FR,FR-IDF,2988507,{v},{vis},{dur},{b},{pv}\n"));
        devices.push_str(&format!(
            "{d},Desktop,{},{},{dur},{b},{pv}\n",
            v - 3,
            vis - 3
        ));
        devices.push_str(&format!("{d},Mobile,3,3,0,0,0\n"));
        browsers.push_str(&format!("{d},Firefox,120.0,{v},{vis},{dur},{b},{pv}\n"));
        os.push_str(&format!("{d},GNU/Linux,,{v},{vis},{dur},{b},{pv}\n"));
    }
    vec![
        (name("visitors"), visitors),
        (name("sources"), src),
        (name("pages"), pages),
        (name("entry_pages"), entry),
        (name("exit_pages"), exit),
        (name("custom_events"), events),
        (name("locations"), locations),
        (name("devices"), devices),
        (name("browsers"), browsers),
        (name("operating_systems"), os),
    ]
}

fn write_zip(path: &Path, files: &[(String, String)]) {
    let f = std::fs::File::create(path).expect("zip file");
    let mut zip = zip::ZipWriter::new(f);
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, text) in files {
        zip.start_file(name.as_str(), options).expect("zip entry");
        zip.write_all(text.as_bytes()).expect("zip write");
    }
    zip.finish().expect("zip finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plausible_export_is_imported_and_merged_without_double_counting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path();
    // Native events over the last 20 days.
    cli(
        data,
        &[
            "generate", "--site", SITE, "--events", "3000", "--days", "20",
        ],
    );
    let key = create_key(data);
    add_user(data, OWNER, PASSWORD, &[SITE]);
    let node = Lucarne::start(data);
    let api = QueryApi::new(&node, key, SITE);
    let today = chrono::Utc::now().date_naive();
    let (first, days) = (today - Days::new(40), 30);
    let last = first + Days::new(days - 1);
    let range = json!([first.to_string(), last.to_string()]);
    // The native days, before anything is imported.
    let native = api
        .v2(
            json!({"metrics": ["visitors", "visits", "pageviews"], "date_range": range,
                   "dimensions": ["time:day"]}),
        )
        .await;
    let native = v2_rows(&native);
    let first_native: NaiveDate = native
        .keys()
        .next()
        .map(|d| d[0].parse().expect("day"))
        .expect("native days");
    assert!(
        first_native > first && first_native <= last,
        "{first_native}"
    );
    // Nothing imported yet.
    let v = api
        .v2(json!({"metrics": ["visitors"], "date_range": range, "include": {"imports": true}}))
        .await;
    assert_eq!(
        v["meta"],
        json!({"imports_included": false, "imports_skip_reason": "no_imported_data"})
    );

    // A bad file stores nothing.
    let files = export(first, days);
    let bad_dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in &files {
        let text = if name.contains("devices") {
            text.replace(",Mobile,3,", ",Mobile,three,")
        } else {
            text.clone()
        };
        std::fs::write(bad_dir.path().join(name), text).expect("write");
    }
    let bad_path = bad_dir.path().to_string_lossy().into_owned();
    let (ok, _, err) = try_cli(data, &["import", "plausible", "--site", SITE, &bad_path]);
    assert!(!ok, "a bad file is refused");
    assert!(err.contains("is not a number"), "{err}");
    let (_, list, _) = try_cli(data, &["import", "list", "--site", SITE]);
    assert!(list.trim().is_empty(), "nothing stored: {list}");

    // The zip, while the server runs.
    let zip = data.join("plausible_export.zip");
    write_zip(&zip, &files);
    let (ok, out, err) = try_cli(
        data,
        &[
            "import",
            "plausible",
            "--site",
            SITE,
            &zip.to_string_lossy(),
        ],
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains("from 10 files"), "{out}");
    assert!(out.contains(&format!("{first} to {last}")), "{out}");
    // The same days again are refused: nothing would be counted twice.
    let (ok, _, err) = try_cli(
        data,
        &[
            "import",
            "plausible",
            "--site",
            SITE,
            &zip.to_string_lossy(),
        ],
    );
    assert!(!ok && err.contains("overlaps"), "{err}");

    // Per day: the file's numbers before the first native day, the native numbers from it.
    let v = api
        .v2(
            json!({"metrics": ["visitors", "visits", "pageviews"], "date_range": range,
                   "dimensions": ["time:day"], "include": {"imports": true}}),
        )
        .await;
    assert_eq!(v["meta"]["imports_included"], json!(true));
    let merged = v2_rows(&v);
    for i in 0..days {
        let d = first + Days::new(i);
        let got = merged.get(&vec![d.to_string()]);
        if d < first_native {
            let [vis, pv, _, visits, _] = day_numbers(i);
            assert_eq!(
                got,
                Some(&vec![json!(vis), json!(visits), json!(pv)]),
                "{d}"
            );
        } else {
            assert_eq!(got, native.get(&vec![d.to_string()]), "{d}: native only");
        }
    }
    // Totals of the imported days alone equal the files' sums; bounce rate and duration
    // are the visits' ratios.
    let before = first_native.pred_opt().expect("day");
    let n = (before - first).num_days() as u64 + 1;
    let sum = |k: usize| (0..n).map(|i| day_numbers(i)[k]).sum::<u64>();
    let v = api
        .v2(json!({"metrics": ["visitors", "visits", "pageviews", "bounce_rate", "visit_duration", "events"],
                   "date_range": [first.to_string(), before.to_string()], "include": {"imports": true}}))
        .await;
    let bounce = (sum(2) as f64 / sum(3) as f64 * 100.0).round() as u64;
    let duration = (sum(4) as f64 / sum(3) as f64).round() as u64;
    assert_eq!(
        v2_rows(&v)[&Vec::<String>::new()],
        vec![
            json!(sum(0)),
            json!(sum(3)),
            json!(sum(1)),
            json!(bounce),
            json!(duration),
            json!(sum(1))
        ]
    );
    // v1 with_imported=true says the same.
    let a = api
        .v1("aggregate", &format!("period=custom&date={first},{before}&metrics=visitors,visits,pageviews&with_imported=true"))
        .await;
    assert_eq!(a["results"]["visitors"]["value"], json!(sum(0)));
    assert_eq!(a["results"]["pageviews"]["value"], json!(sum(1)));
    // Without asking, nothing imported.
    let a = api
        .v1(
            "aggregate",
            &format!("period=custom&date={first},{before}&metrics=visitors"),
        )
        .await;
    assert_eq!(a["results"]["visitors"]["value"], json!(0));

    // Sources, in Lucarne's channels: WhatsApp and Telegram are private messages.
    let imported_days = [first.to_string(), before.to_string()];
    let v = api
        .v2(json!({"metrics": ["visits"], "date_range": imported_days,
                   "dimensions": ["visit:channel_group"], "include": {"imports": true}}))
        .await;
    let groups = v2_rows(&v);
    assert_eq!(
        groups[&vec!["private-message".to_string()]],
        vec![json!(4 * n)]
    );
    assert_eq!(groups[&vec!["search".to_string()]], vec![json!(5 * n)]);
    let v = api
        .v2(json!({"metrics": ["visitors"], "date_range": imported_days,
                   "dimensions": ["visit:source"], "include": {"imports": true},
                   "filters": [["is_not", "visit:source", ["Google"]]]}))
        .await;
    let sources = v2_rows(&v);
    assert_eq!(sources[&vec!["WhatsApp".to_string()]], vec![json!(3 * n)]);
    assert!(sources.contains_key(&vec!["Direct / None".to_string()]));
    assert!(!sources.contains_key(&vec!["Google".to_string()]));
    // dark_share of the imported days: private visits over all visits.
    let v = api
        .v2(
            json!({"metrics": ["visits", "dark_share"], "date_range": imported_days,
                   "include": {"imports": true}}),
        )
        .await;
    let m = &v2_rows(&v)[&Vec::<String>::new()];
    let share = ((4 * n) as f64 / sum(3) as f64 * 1000.0).round() / 10.0;
    assert_eq!(m[1], json!(share), "{v}");
    // Devices as Lucarne names them; pages; custom events.
    let v = api
        .v2(json!({"metrics": ["visitors"], "date_range": imported_days,
                   "dimensions": ["visit:device"], "include": {"imports": true}}))
        .await;
    assert_eq!(v2_rows(&v)[&vec!["mobile".to_string()]], vec![json!(3 * n)]);
    let v = api
        .v2(
            json!({"metrics": ["pageviews"], "date_range": imported_days,
                   "dimensions": ["event:page"], "include": {"imports": true},
                   "filters": [["is", "event:page", ["/pricing"]]]}),
        )
        .await;
    assert_eq!(
        v2_rows(&v)[&vec!["/pricing".to_string()]],
        vec![json!(5 * n)]
    );
    let v = api
        .v2(json!({"metrics": ["events"], "date_range": imported_days,
                   "dimensions": ["event:name"], "include": {"imports": true}}))
        .await;
    assert_eq!(v2_rows(&v)[&vec!["Signup".to_string()]], vec![json!(3 * n)]);

    // What one imported table cannot answer is answered natively, and said.
    let v = api
        .v2(json!({"metrics": ["visitors"], "date_range": imported_days,
                   "dimensions": ["visit:source"], "include": {"imports": true},
                   "filters": [["is", "visit:device", ["mobile"]]]}))
        .await;
    assert_eq!(v["meta"]["imports_included"], json!(false));
    assert_eq!(v["meta"]["imports_skip_reason"], json!("unsupported_query"));
    assert!(v["meta"]["imports_warning"]
        .as_str()
        .unwrap_or("")
        .contains("not supported"));
    let v = api
        .v2(
            json!({"metrics": ["visitors"], "date_range": [first.to_string(), first.to_string()],
                   "dimensions": ["time:hour"], "include": {"imports": true}}),
        )
        .await;
    assert_eq!(
        v["meta"]["imports_skip_reason"],
        json!("unsupported_interval")
    );
    // "all" starts with the first imported day.
    let v = api
        .v2(json!({"metrics": ["visitors"], "date_range": "all", "include": {"imports": true}}))
        .await;
    assert!(
        v["query"]["date_range"][0]
            .as_str()
            .unwrap_or("")
            .starts_with(&first.to_string()),
        "{v}"
    );

    // The dashboard counts them too, says so, and leaves them out on request.
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let login = web_login(&browser, &node, OWNER, PASSWORD).await;
    let page = |extra: &'static str| {
        let url = format!(
            "{}/sites/{SITE}?period=custom&from={first}&to={before}{extra}",
            node.url()
        );
        let browser = browser.clone();
        let cookie = login.cookie.clone();
        async move {
            let r = browser
                .get(&url)
                .header(reqwest::header::COOKIE, cookie)
                .send()
                .await
                .expect("dashboard");
            assert_eq!(r.status(), 200, "{url}");
            r.text().await.expect("html")
        }
    };
    let stat = |html: &str, key: &str| -> u64 {
        let at = html
            .find(&format!("id=\"stat-{key}\" data-value=\""))
            .unwrap_or_else(|| panic!("stat {key}"));
        let rest = &html[at..];
        let v = rest.find("data-value=\"").expect("value") + 12;
        rest[v..v + rest[v..].find('"').expect("end")]
            .parse()
            .expect("number")
    };
    let html = page("").await;
    assert!(html.contains("Includes imported history for"), "notice");
    // The days named are those imported and counted: up to the day before the first
    // native one.
    let named = |d: NaiveDate| d.format("%b %-d, %Y").to_string();
    assert!(
        html.contains(&format!("{} to {}", named(first), named(before))),
        "{}",
        &html[html.find("class=\"imported\"").unwrap_or(0)..][..200.min(html.len())]
    );
    assert_eq!(stat(&html, "visitors"), sum(0));
    assert_eq!(stat(&html, "pageviews"), sum(1));
    assert!(
        html.contains("WhatsApp"),
        "the sources panel holds imported sources"
    );
    let html = page("&imported=0").await;
    assert!(html.contains("Imported history is left out."));
    assert_eq!(stat(&html, "visitors"), 0);

    // Listed, then deleted: the imported days are empty again.
    let (ok, list, _) = try_cli(data, &["import", "list", "--site", SITE]);
    assert!(ok);
    let id = list
        .split('\t')
        .next()
        .expect("an import")
        .trim()
        .to_string();
    // The settings page's delete button refuses, over HTTP: without a session (to the
    // login), with a wrong CSRF token (403), from a user without a role on the site
    // (404, as for a site that does not exist); the import stays.
    let delete = format!("/sites/{SITE}/imports/{id}/delete");
    add_user(data, "stranger@imp.test", PASSWORD, &[]);
    let stranger = web_login(&browser, &node, "stranger@imp.test", PASSWORD).await;
    let anonymous = browser
        .post(format!("{}{delete}", node.url()))
        .form(&[("csrf", login.csrf.as_str())])
        .send()
        .await
        .expect("POST");
    assert_eq!(anonymous.status(), 303);
    let forged = WebLogin {
        cookie: login.cookie.clone(),
        csrf: "0123".into(),
    };
    assert_eq!(
        forged
            .post_form(&browser, &node, &delete, &[])
            .await
            .status(),
        403
    );
    assert_eq!(
        stranger
            .post_form(&browser, &node, &delete, &[])
            .await
            .status(),
        404
    );
    let (_, still, _) = try_cli(data, &["import", "list", "--site", SITE]);
    assert_eq!(still, list, "the import is untouched");
    // The owner, with the session's token: deleted.
    assert_eq!(
        login
            .post_form(&browser, &node, &delete, &[])
            .await
            .status(),
        303
    );
    let (_, after, _) = try_cli(data, &["import", "list", "--site", SITE]);
    assert!(after.trim().is_empty(), "{after}");
    // Imported again, for the CLI's own delete below.
    let (ok, out, err) = try_cli(
        data,
        &[
            "import",
            "plausible",
            "--site",
            SITE,
            &zip.to_string_lossy(),
        ],
    );
    assert!(ok, "{out}{err}");
    let (_, list, _) = try_cli(data, &["import", "list", "--site", SITE]);
    let id = list
        .split('\t')
        .next()
        .expect("an import")
        .trim()
        .to_string();
    assert!(
        list.contains("plausible") && list.contains(&first.to_string()),
        "{list}"
    );
    let (ok, out, err) = try_cli(data, &["import", "delete", "--site", SITE, &id]);
    assert!(ok, "{out}{err}");
    let v = api
        .v2(json!({"metrics": ["visitors"], "date_range": imported_days, "include": {"imports": true}}))
        .await;
    assert_eq!(v2_rows(&v)[&Vec::<String>::new()], vec![json!(0)]);
    assert_eq!(v["meta"]["imports_skip_reason"], json!("no_imported_data"));
    let (ok, _, err) = try_cli(data, &["import", "delete", "--site", SITE, &id]);
    assert!(!ok && err.contains("no import"), "{err}");

    // A directory of the same files, unquoted or not, imports the same.
    let plain = tempfile::tempdir().expect("tempdir");
    for (name, text) in &files {
        std::fs::write(plain.path().join(name), text.replace('"', "")).expect("write");
    }
    let (ok, out, err) = try_cli(
        data,
        &[
            "import",
            "plausible",
            "--site",
            SITE,
            &plain.path().to_string_lossy(),
        ],
    );
    assert!(ok, "{out}{err}");
    let v = api
        .v2(json!({"metrics": ["visitors"], "date_range": imported_days, "include": {"imports": true}}))
        .await;
    assert_eq!(v2_rows(&v)[&Vec::<String>::new()], vec![json!(sum(0))]);
}
