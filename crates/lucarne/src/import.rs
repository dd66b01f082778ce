//! `lucarne import plausible --site DOMAIN FILE.zip|DIR`: Plausible's CSV export into the
//! metadata store, kept apart from events (ARCHITECTURE.md, "Imported history"); and
//! `lucarne import list|delete`.
//!
//! The files are read whole (an export of years of a big site is tens of megabytes),
//! parsed by `core::imported`, and written in one transaction: a file that cannot be
//! read leaves nothing behind. A progress bar on standard error follows the rows parsed
//! and written; the summary goes to standard output.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use lucarne_core::imported::{parse_csv, parse_file_name, ImportedRow, Table};
use lucarne_core::rules::Rules;
use lucarne_store::meta::{Import, MetaStore};

/// The largest file read (uncompressed): far beyond any export, short of memory trouble.
const MAX_FILE: u64 = 1 << 30;

/// One CSV file of the export: its name and bytes.
struct File {
    name: String,
    bytes: Vec<u8>,
}

/// The CSV files of a zip archive or a directory (or one CSV file), by name.
fn read_files(path: &Path) -> Result<Vec<File>> {
    let mut out = Vec::new();
    let is_csv = |n: &str| n.to_ascii_lowercase().ends_with(".csv");
    if path.is_dir() {
        let mut entries: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("reading the directory {}", path.display()))?
            .collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_file() && is_csv(&name) {
                out.push(File {
                    bytes: read_capped(std::fs::File::open(e.path())?, &name)?,
                    name,
                });
            }
        }
    } else if path
        .extension()
        .is_some_and(|x| x.eq_ignore_ascii_case("zip"))
    {
        let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let mut zip = zip::ZipArchive::new(f)
            .with_context(|| format!("{} is not a zip archive", path.display()))?;
        for i in 0..zip.len() {
            let entry = zip.by_index(i)?;
            let full = entry.name().to_string();
            let name = full.rsplit('/').next().unwrap_or(&full).to_string();
            if entry.is_dir() || full.starts_with("__MACOSX") || !is_csv(&name) {
                continue;
            }
            if entry.size() > MAX_FILE {
                bail!("{name} is larger than {MAX_FILE} bytes");
            }
            out.push(File {
                bytes: read_capped(entry, &name)?,
                name,
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
    } else {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        out.push(File {
            bytes: read_capped(
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?,
                &name,
            )?,
            name,
        });
    }
    if out.is_empty() {
        bail!(
            "{} holds no CSV file of Plausible's export (imported_visitors_YYYYMMDD_YYYYMMDD.csv …)",
            path.display()
        );
    }
    Ok(out)
}

fn read_capped(r: impl Read, name: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    r.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {name}"))?;
    if bytes.len() as u64 > MAX_FILE {
        bail!("{name} is larger than {MAX_FILE} bytes");
    }
    Ok(bytes)
}

fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} rows ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message(what.to_string());
    pb
}

/// Read Plausible's export at `path` into the site's imports.
pub async fn plausible(
    meta: &MetaStore,
    site_id: u32,
    domain: &str,
    path: &Path,
) -> Result<Import> {
    let files = read_files(path)?;
    let rules = Rules::builtin();
    let mut rows: Vec<ImportedRow> = Vec::new();
    let mut names = Vec::new();
    let mut per_table: BTreeMap<&'static str, (usize, String)> = BTreeMap::new();
    let total_bytes: u64 = files.iter().map(|f| f.bytes.len() as u64).sum();
    let pb = ProgressBar::new(total_bytes);
    pb.set_style(
        ProgressStyle::with_template("{msg:>10} [{bar:40}] {bytes}/{total_bytes}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_message("reading");
    for f in &files {
        let (table, first, last) = parse_file_name(&f.name)?;
        let mut found = parse_csv(&f.name, table, &f.bytes, &rules)?;
        // As Plausible: only the days the file's name covers.
        found.retain(|r| r.date >= first && r.date <= last);
        let e = per_table.entry(table.name()).or_insert((0, String::new()));
        e.0 += found.len();
        e.1 = format!("{first} to {last}");
        rows.extend(found);
        names.push(f.name.clone());
        pb.inc(f.bytes.len() as u64);
    }
    pb.finish_and_clear();
    if !per_table.contains_key(Table::Visitors.name()) {
        eprintln!(
            "warning: no imported_visitors file: totals and the chart will not include the \
             imported days"
        );
    }
    let pb = bar(rows.len() as u64, "writing");
    let mut progress = |n: usize| pb.set_position(n as u64);
    let import = meta
        .create_import(site_id, "plausible", &names, &rows, &mut progress)
        .await
        .context("storing the import")?;
    pb.finish_and_clear();
    let totals =
        rows.iter()
            .filter(|r| r.table == Table::Visitors)
            .fold((0u64, 0u64, 0u64), |t, r| {
                (
                    t.0 + r.numbers.visitors,
                    t.1 + r.numbers.visits,
                    t.2 + r.numbers.pageviews,
                )
            });
    println!(
        "import {} of {domain}: {} rows from {} files, {} to {}",
        import.id,
        rows.len(),
        names.len(),
        import.first_day,
        import.last_day
    );
    for (table, (n, span)) in &per_table {
        println!("  {table:<18} {n:>8} rows  {span}");
    }
    println!(
        "  daily visitors summed {}, visits {}, pageviews {}",
        totals.0, totals.1, totals.2
    );
    println!(
        "Reports count these days only before the site's first own event (a day with \
         events of its own is never counted twice). Undo with \
         `lucarne import delete --site {domain} {}`.",
        import.id
    );
    Ok(import)
}

/// `lucarne import list --site DOMAIN`.
pub async fn list(meta: &MetaStore, site_id: u32, domain: &str) -> Result<()> {
    let imports = meta.imports(site_id).await?;
    if imports.is_empty() {
        eprintln!(
            "{domain} has no imports (add one with `lucarne import plausible --site {domain} FILE.zip`)"
        );
    }
    for i in imports {
        println!(
            "{}\t{}\t{}\t{}\t{} rows\t{}",
            i.id, i.source, i.first_day, i.last_day, i.rows, i.created_at
        );
    }
    Ok(())
}
