//! Imported history: Plausible's CSV export read into aggregate rows (ARCHITECTURE.md,
//! "Imported history").
//!
//! Plausible exports ten tables, one file each, named
//! `imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv` (first and last day); a row holds a
//! site-local day, the table's keys (a source and its UTM tags, a page, a country…) and
//! that day's totals for them: visitors, visits, pageviews, bounces, the visits' total
//! duration in seconds. This module knows the tables, parses a file's bytes into
//! [`ImportedRow`]s, and says which table answers which dimension. No IO.

use std::collections::HashMap;

use chrono::NaiveDate;

use crate::classify::{classify, Arrival};
use crate::rules::Rules;
use crate::stats::Property;
use crate::url_clean::Utm;

/// One of Plausible's exported tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Visitors,
    Sources,
    Pages,
    EntryPages,
    ExitPages,
    CustomEvents,
    Locations,
    Devices,
    Browsers,
    OperatingSystems,
}

/// The most key columns a table has (sources: source, referrer, five UTM tags, and the
/// channel and group Lucarne derives).
pub const MAX_KEYS: usize = 9;

impl Table {
    pub const ALL: [Table; 10] = [
        Table::Visitors,
        Table::Sources,
        Table::Pages,
        Table::EntryPages,
        Table::ExitPages,
        Table::CustomEvents,
        Table::Locations,
        Table::Devices,
        Table::Browsers,
        Table::OperatingSystems,
    ];

    /// The table's name in file names (after `imported_`) and in the store.
    pub fn name(self) -> &'static str {
        match self {
            Table::Visitors => "visitors",
            Table::Sources => "sources",
            Table::Pages => "pages",
            Table::EntryPages => "entry_pages",
            Table::ExitPages => "exit_pages",
            Table::CustomEvents => "custom_events",
            Table::Locations => "locations",
            Table::Devices => "devices",
            Table::Browsers => "browsers",
            Table::OperatingSystems => "operating_systems",
        }
    }

    pub fn parse(name: &str) -> Option<Table> {
        Table::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The CSV columns that are keys, in the order they are stored (`k1`, `k2`, …); the
    /// sources' last two (`channel`, `channel_group`) are not in the file but derived.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Table::Visitors => &[],
            Table::Sources => &[
                "source",
                "referrer",
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "utm_content",
                "utm_term",
                "channel",
                "channel_group",
            ],
            Table::Pages => &["page", "hostname"],
            Table::EntryPages => &["entry_page"],
            Table::ExitPages => &["exit_page"],
            Table::CustomEvents => &["name", "link_url", "path"],
            Table::Locations => &["country", "region", "city"],
            Table::Devices => &["device"],
            Table::Browsers => &["browser", "browser_version"],
            Table::OperatingSystems => &["operating_system", "operating_system_version"],
        }
    }

    /// The table and key index that hold a property (None: no imported table does).
    pub fn of(p: &Property) -> Option<(Table, usize)> {
        Some(match p {
            Property::Source => (Table::Sources, 0),
            Property::Referrer => (Table::Sources, 1),
            Property::UtmSource => (Table::Sources, 2),
            Property::UtmMedium => (Table::Sources, 3),
            Property::UtmCampaign => (Table::Sources, 4),
            Property::UtmContent => (Table::Sources, 5),
            Property::UtmTerm => (Table::Sources, 6),
            Property::Channel => (Table::Sources, 7),
            Property::ChannelGroup => (Table::Sources, 8),
            Property::Page => (Table::Pages, 0),
            Property::Hostname => (Table::Pages, 1),
            Property::EntryPage => (Table::EntryPages, 0),
            Property::Name => (Table::CustomEvents, 0),
            Property::Country => (Table::Locations, 0),
            Property::Device => (Table::Devices, 0),
            Property::Browser => (Table::Browsers, 0),
            Property::Os => (Table::OperatingSystems, 0),
            _ => return None,
        })
    }
}

/// One row of an imported file: a site-local day, the table's keys ([`Table::keys`]
/// order) and its totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Numbers {
    pub visitors: u64,
    pub visits: u64,
    pub pageviews: u64,
    pub events: u64,
    pub bounces: u64,
    /// The visits' total duration, seconds.
    pub visit_duration: u64,
    /// Pages: the sum of each visit's deepest scroll (percent), the visits measured, the
    /// engaged seconds and the visits they were measured on.
    pub scroll_sum: u64,
    pub scroll_visits: u64,
    pub time_sum: u64,
    pub time_visits: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedRow {
    pub date: NaiveDate,
    pub table: Table,
    pub keys: Vec<String>,
    pub numbers: Numbers,
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    #[error(
        "`{0}` is not a file of Plausible's export (imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv)"
    )]
    FileName(String),
    #[error("{file}, line {line}: {why}")]
    Row {
        file: String,
        line: u64,
        why: String,
    },
    #[error("{file}: no `date` column")]
    NoDate { file: String },
}

/// A file's table and the first and last days its name says it holds.
pub fn parse_file_name(name: &str) -> Result<(Table, NaiveDate, NaiveDate), ImportError> {
    let bad = || ImportError::FileName(name.to_string());
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let stem = base.strip_suffix(".csv").ok_or_else(bad)?;
    let stem = stem.strip_prefix("imported_").unwrap_or(stem);
    let mut parts = stem.rsplitn(3, '_');
    let (Some(last), Some(first), Some(table)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y%m%d").ok();
    match (Table::parse(table), day(first), day(last)) {
        (Some(t), Some(a), Some(b)) if a <= b => Ok((t, a, b)),
        _ => Err(bad()),
    }
}

/// Rows longer than this are refused (no key of a sane export comes close).
const MAX_FIELD: usize = 4096;

/// The rows of one file of `table`. Columns are found by their header's name, in any
/// order; a missing number is 0 and a missing key empty. Plausible writes an empty
/// source for direct visits; it becomes `Direct / None`, as native visits have. Devices
/// are lower-cased as Lucarne records them (`Desktop` → `desktop`; a laptop is a
/// desktop).
pub fn parse_csv(
    file: &str,
    table: Table,
    bytes: &[u8],
    rules: &Rules,
) -> Result<Vec<ImportedRow>, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let row_error = |line: u64, why: String| ImportError::Row {
        file: file.to_string(),
        line,
        why,
    };
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| row_error(1, e.to_string()))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_string())
        .collect();
    let col: HashMap<&str, usize> = headers
        .iter()
        .enumerate()
        .map(|(i, h)| (h.as_str(), i))
        .collect();
    let date_col = *col.get("date").ok_or_else(|| ImportError::NoDate {
        file: file.to_string(),
    })?;
    let mut classified: HashMap<(String, String, String, String), (String, String)> =
        HashMap::new();
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record = record.map_err(|e| row_error(line, e.to_string()))?;
        if record.iter().any(|f| f.len() > MAX_FIELD) {
            return Err(row_error(
                line,
                format!("a field is longer than {MAX_FIELD} bytes"),
            ));
        }
        let text = |name: &str| {
            col.get(name)
                .and_then(|&i| record.get(i))
                .and_then(|s| crate::text::clean_text(s, MAX_FIELD))
                .unwrap_or_default()
        };
        let number = |name: &str| -> Result<u64, ImportError> {
            match col.get(name).and_then(|&i| record.get(i)).map(str::trim) {
                None | Some("") => Ok(0),
                Some(s) => s
                    .parse::<u64>()
                    .or_else(|_| s.parse::<f64>().map(|f| f.max(0.0).round() as u64))
                    .map_err(|_| row_error(line, format!("`{name}` is not a number: {s:?}"))),
            }
        };
        let date_text = record.get(date_col).unwrap_or_default().trim();
        let date = NaiveDate::parse_from_str(date_text, "%Y-%m-%d")
            .map_err(|_| row_error(line, format!("`date` is not a day: {date_text:?}")))?;
        let mut keys: Vec<String> = table.keys().iter().map(|k| text(k)).collect();
        match table {
            Table::Sources => {
                if keys[0].is_empty() {
                    keys[0] = crate::classify::DIRECT_SOURCE.to_string();
                }
                let k = (
                    keys[0].clone(),
                    keys[1].clone(),
                    keys[2].clone(),
                    keys[3].clone(),
                );
                let (channel, group) = classified
                    .entry(k)
                    .or_insert_with(|| classify_source(rules, &keys))
                    .clone();
                keys[7] = channel;
                keys[8] = group;
            }
            Table::Devices => {
                keys[0] = match keys[0].to_lowercase().as_str() {
                    "laptop" => "desktop".to_string(),
                    other => other.to_string(),
                };
            }
            _ => {}
        }
        let mut n = Numbers {
            visitors: number("visitors")?,
            visits: number("visits")?,
            pageviews: number("pageviews")?,
            events: number("events")?,
            bounces: number("bounces")?,
            visit_duration: number("visit_duration")?,
            scroll_sum: number("total_scroll_depth")?,
            scroll_visits: number("total_scroll_depth_visits")?,
            time_sum: number("total_time_on_page")?,
            time_visits: number("total_time_on_page_visits")?,
        };
        match table {
            Table::EntryPages => n.visits = number("entrances")?,
            Table::ExitPages => n.visits = number("exits")?,
            _ => {}
        }
        // Events, as Plausible counts them: pageviews, or the custom events' own count.
        if table != Table::CustomEvents {
            n.events = n.pageviews;
        }
        out.push(ImportedRow {
            date,
            table,
            keys,
            numbers: n,
        });
    }
    Ok(out)
}

/// The channel and channel group of an imported source (Plausible's source name, the
/// referrer host, UTM source and medium), by Lucarne's rules: `WhatsApp` is a private
/// message, `Gmail` an e-mail, `Google` a search, no source at all direct.
pub fn classify_source(rules: &Rules, keys: &[String]) -> (String, String) {
    let get = |i: usize| keys.get(i).map(String::as_str).unwrap_or("");
    let (source, referrer, utm_source, utm_medium) = (get(0), get(1), get(2), get(3));
    if utm_source.is_empty() && utm_medium.is_empty() {
        if let Some((channel, group)) = rules.channel_named(source) {
            return (channel, group.as_str().to_string());
        }
    }
    let named = if source == crate::classify::DIRECT_SOURCE {
        None
    } else {
        Some(source.to_string())
    };
    let utm = Utm {
        source: if utm_source.is_empty() {
            named
        } else {
            Some(utm_source.to_string())
        },
        medium: (!utm_medium.is_empty()).then(|| utm_medium.to_string()),
        campaign: None,
        term: None,
        content: None,
    };
    let referrer_url = (!referrer.is_empty()).then(|| {
        if referrer.contains("://") {
            referrer.to_string()
        } else {
            format!("https://{referrer}")
        }
    });
    let arrival = Arrival {
        site_host: "",
        referrer: referrer_url.as_deref(),
        utm: &utm,
        ..Arrival::default()
    };
    let c = classify(rules, &arrival);
    (c.channel.as_str().to_string(), c.group.as_str().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").expect("date")
    }

    #[test]
    fn file_names() {
        assert_eq!(
            parse_file_name("imported_visitors_20230209_20240123.csv"),
            Ok((Table::Visitors, d("2023-02-09"), d("2024-01-23")))
        );
        assert_eq!(
            parse_file_name("export/imported_entry_pages_20230101_20230131.csv"),
            Ok((Table::EntryPages, d("2023-01-01"), d("2023-01-31")))
        );
        assert_eq!(
            parse_file_name("devices_20230209_20240123.csv"),
            Ok((Table::Devices, d("2023-02-09"), d("2024-01-23")))
        );
        for bad in [
            "imported_visitors.csv",
            "imported_nothing_20230101_20230131.csv",
            "imported_pages_20230131_20230101.csv",
            "imported_pages_20230101_20230131.txt",
        ] {
            assert!(parse_file_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quoted_or_not_by_header_name() {
        let rules = Rules::builtin();
        let quoted = b"\"date\",\"browser\",\"browser_version\",\"visitors\",\"visits\",\"visit_duration\",\"bounces\",\"pageviews\"\n\"2023-02-09\",\"Safari\",\"16.3\",5,6,512,2,10\n";
        let rows = parse_csv("b.csv", Table::Browsers, quoted, &rules).expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].keys, vec!["Safari", "16.3"]);
        assert_eq!(
            rows[0].numbers,
            Numbers {
                visitors: 5,
                visits: 6,
                pageviews: 10,
                events: 10,
                bounces: 2,
                visit_duration: 512,
                ..Numbers::default()
            }
        );
        // Unquoted, columns in another order, one missing (0).
        let plain = b"visitors,date,device,pageviews\n3,2023-02-10,Laptop,4\n";
        let rows = parse_csv("d.csv", Table::Devices, plain, &rules).expect("rows");
        assert_eq!(rows[0].keys, vec!["desktop"]);
        assert_eq!((rows[0].numbers.visitors, rows[0].numbers.visits), (3, 0));
        // Entry pages count their entrances as visits.
        let entry = b"date,entry_page,visitors,entrances,visit_duration,bounces,pageviews\n2023-02-10,/a,2,3,60,1,5\n";
        let rows = parse_csv("e.csv", Table::EntryPages, entry, &rules).expect("rows");
        assert_eq!(rows[0].numbers.visits, 3);
    }

    #[test]
    fn bad_rows_say_where() {
        let rules = Rules::builtin();
        let e = parse_csv(
            "v.csv",
            Table::Visitors,
            b"date,visitors\n2023-02-10,3\n2023-02-11,x\n",
            &rules,
        )
        .expect_err("not a number");
        assert!(e.to_string().contains("line 3"), "{e}");
        let e = parse_csv("v.csv", Table::Visitors, b"visitors\n3\n", &rules).expect_err("no date");
        assert_eq!(
            e,
            ImportError::NoDate {
                file: "v.csv".into()
            }
        );
        assert!(parse_csv(
            "v.csv",
            Table::Visitors,
            b"date,visitors\n2023-13-01,1\n",
            &rules
        )
        .is_err());
    }

    #[test]
    fn sources_are_classified_into_channels() {
        let rules = Rules::builtin();
        let csv = b"date,source,referrer,utm_source,utm_medium,utm_campaign,utm_content,utm_term,pageviews,visitors,visits,visit_duration,bounces\n\
2023-02-10,WhatsApp,,,,,,,4,3,3,90,1\n\
2023-02-10,Gmail,,,,,,,2,2,2,10,1\n\
2023-02-10,Telegram,,,,,,,1,1,1,0,1\n\
2023-02-10,Google,google.com,,,,,,9,8,8,400,4\n\
2023-02-10,,,,,,,,5,5,5,50,2\n\
2023-02-10,Newsletter,,newsletter,email,spring,,,3,3,3,30,1\n";
        let rows = parse_csv("s.csv", Table::Sources, csv, &rules).expect("rows");
        let groups: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.keys[0].as_str(), r.keys[8].as_str()))
            .collect();
        assert_eq!(
            groups,
            vec![
                ("WhatsApp", "private-message"),
                ("Gmail", "email"),
                ("Telegram", "private-message"),
                ("Google", "search"),
                ("Direct / None", "direct"),
                ("Newsletter", "email"),
            ]
        );
        assert_eq!(rows[0].keys[7], "whatsapp");
    }

    #[test]
    fn every_dimension_lives_in_one_table() {
        assert_eq!(Table::of(&Property::UtmCampaign), Some((Table::Sources, 4)));
        assert_eq!(
            Table::of(&Property::ChannelGroup),
            Some((Table::Sources, 8))
        );
        assert_eq!(Table::of(&Property::Generation), None);
        for t in Table::ALL {
            assert!(t.keys().len() <= MAX_KEYS);
        }
    }
}
