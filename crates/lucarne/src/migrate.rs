//! `lucarne migrate`: a data directory of the embedded default (DuckDB events, SQLite
//! metadata) moved into the scale-out back ends (ClickHouse events, PostgreSQL metadata).
//!
//! Checks first, so that a refusal changes nothing: the source stores exist, the events
//! target holds no events of the sites being copied. Then the metadata tables
//! (`MetaStore::copy_into`: ids kept, one transaction, an empty target only), then every
//! event in time order (`DuckEvents::export_rows`) through a ClickHouse store of this
//! command's own (its spool in `<data>/spool-migrate`, loaded under its own node name),
//! each batch waited for until it is durable in that spool; at the end the spool is loaded
//! and the events of every site are counted on both sides: they must be equal.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lucarne_core::event::EventRow;
use lucarne_store::click::ClickEvents;
use lucarne_store::duck::{DuckEvents, DEFAULT_QUEUE_CAPACITY};
use lucarne_store::meta::MetaStore;
use lucarne_store::{EventStore, StoreError};

use crate::config::FileConfig;
use crate::{data_dir, default_node_id, redact, DataArg};

/// The staging spool of the copied events, in the source data directory.
const STAGING_SPOOL: &str = "spool-migrate";

#[derive(Args, Clone)]
pub struct MigrateArgs {
    /// The data directory to move (its events.duckdb and meta.sqlite).
    #[arg(long, env = "LUCARNE_DATA")]
    data: Option<PathBuf>,
    /// Where the events go:
    /// clickhouse://[user[:password]@]host:port[,host:port…]/database[?cluster=NAME].
    #[arg(long, value_name = "URL")]
    to_events: Option<String>,
    /// Where the metadata goes: postgres://user:password@host:port/database (a new, empty
    /// database).
    #[arg(long, value_name = "URL")]
    to_meta: Option<String>,
    /// The name the events are loaded under in ClickHouse (default: `migrate-` followed by
    /// this directory's default node name). Not the name of a running node.
    #[arg(long)]
    node_id: Option<String>,
    /// Events per batch.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch: u64,
}

/// Run `f` on a blocking thread (the stores block).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    Ok(tokio::task::spawn_blocking(f).await??)
}

pub async fn run(args: MigrateArgs, file: &FileConfig) -> Result<()> {
    let dir = data_dir(
        &DataArg {
            data: args.data.clone(),
            ..DataArg::default()
        },
        file,
    );
    let to_meta = args
        .to_meta
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let to_events = args
        .to_events
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    if to_meta.is_none() && to_events.is_none() {
        bail!("say where to: --to-events clickhouse://… and/or --to-meta postgres://…");
    }
    if let Some(url) = to_events {
        if !url.starts_with("clickhouse://") {
            bail!("--to-events: `{}` is not a clickhouse://… URL", redact(url));
        }
    }
    if !dir.join("meta.sqlite").is_file() {
        bail!(
            "{} has no meta.sqlite: not a data directory of the embedded default",
            dir.display()
        );
    }
    if to_events.is_some() && !dir.join("events.duckdb").is_file() {
        bail!(
            "{} has no events.duckdb: not a data directory of the embedded default",
            dir.display()
        );
    }
    let source_meta = MetaStore::open(&dir)
        .await
        .with_context(|| format!("opening the metadata store in {}", dir.display()))?;
    let domains: Vec<(u32, String)> = source_meta
        .sites()
        .await?
        .into_iter()
        .map(|s| (s.id, s.domain))
        .collect();

    // Open and check the events side before anything is written anywhere.
    let events = match to_events {
        Some(url) => Some(EventsCopy::open(&dir, url, &args, &domains).await?),
        None => None,
    };

    if let Some(url) = to_meta {
        let target = MetaStore::connect(url)
            .await
            .with_context(|| format!("opening the metadata target {}", redact(url)))?;
        let counts = source_meta.copy_into(&target).await.with_context(|| {
            format!(
                "copying the metadata into {} (nothing was copied)",
                redact(url)
            )
        })?;
        target.close().await;
        let list: Vec<String> = counts
            .tables
            .iter()
            .map(|(t, n)| format!("{n} {}", t.replace('_', " ")))
            .collect();
        println!("metadata copied into {}: {}", redact(url), list.join(", "));
    }
    source_meta.close().await;

    if let Some(copy) = events {
        copy.run(args.batch, to_meta.is_some()).await?;
    }
    println!(
        "migration complete: start every node with{}{}",
        to_events.map_or(String::new(), |u| format!(" --events {}", redact(u))),
        to_meta.map_or(String::new(), |u| format!(" --meta {}", redact(u)))
    );
    Ok(())
}

/// The events half: the source DuckDB, the ClickHouse target, the per-site counts.
struct EventsCopy {
    dir: PathBuf,
    url: String,
    source: Arc<DuckEvents>,
    target: Arc<ClickEvents>,
    /// Events per site id in the source.
    counts: Vec<(u32, u64)>,
    domains: Vec<(u32, String)>,
}

impl EventsCopy {
    async fn open(
        dir: &std::path::Path,
        url: &str,
        args: &MigrateArgs,
        domains: &[(u32, String)],
    ) -> Result<EventsCopy> {
        let d = dir.to_path_buf();
        let source = blocking(move || DuckEvents::open(&d, DEFAULT_QUEUE_CAPACITY))
            .await
            .with_context(|| {
                format!(
                    "opening {} (is `lucarne serve` still running on it? stop it first)",
                    dir.join("events.duckdb").display()
                )
            })?;
        let source = Arc::new(source);
        let s = source.clone();
        let counts = blocking(move || s.site_counts()).await?;

        // A previous run's staging spool: whatever it holds is copied again now.
        let staging = dir.join(STAGING_SPOOL);
        if staging.exists() {
            std::fs::remove_dir_all(&staging)
                .with_context(|| format!("removing {}", staging.display()))?;
        }
        let node = args
            .node_id
            .clone()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("migrate-{}", default_node_id(dir)));
        let (u, st) = (url.to_string(), staging.clone());
        let target = blocking(move || ClickEvents::open(&u, &st, &node, DEFAULT_QUEUE_CAPACITY))
            .await
            .with_context(|| format!("opening the events target {}", redact(url)))?;
        let target = Arc::new(target);
        let t = target.clone();
        let present = blocking(move || t.site_counts()).await?;
        let clash: Vec<String> = counts
            .iter()
            .filter(|(_, n)| *n > 0)
            .filter_map(|(site, _)| {
                let there = present.iter().find(|(s, _)| s == site).map(|(_, n)| *n)?;
                (there > 0).then(|| format!("{} ({there} events)", site_name(domains, *site)))
            })
            .collect();
        if !clash.is_empty() {
            let t = target.clone();
            tokio::task::spawn_blocking(move || t.shutdown()).await?;
            drop(target);
            let _ = std::fs::remove_dir_all(&staging);
            bail!(
                "the events target {} already holds events of {}: copying would count them \
                 twice, so nothing was copied. If a previous `lucarne migrate` stopped half-way, \
                 empty it (DROP DATABASE, or ALTER TABLE events DELETE WHERE site_id = …) and \
                 run again (without --to-meta if the metadata was copied)",
                redact(url),
                clash.join(", ")
            );
        }
        Ok(EventsCopy {
            dir: dir.to_path_buf(),
            url: url.to_string(),
            source,
            target,
            counts,
            domains: domains.to_vec(),
        })
    }

    async fn run(self, batch: u64, meta_copied: bool) -> Result<()> {
        let total: u64 = self.counts.iter().map(|(_, n)| n).sum();
        let bar = progress_bar(total);
        let started = Instant::now();
        let (source, target, b) = (self.source.clone(), self.target.clone(), bar.clone());
        let batch = usize::try_from(batch).unwrap_or(10_000);
        let exported = blocking(move || {
            let mut done = 0u64;
            let mut next_note = total / 10;
            source.export_rows(batch, |rows| {
                let n = rows.len() as u64;
                submit_and_wait(target.as_ref(), rows)?;
                done += n;
                b.inc(n);
                if b.is_hidden() && done >= next_note && done < total {
                    eprintln!("copied {done} of {total} events");
                    next_note = done + total / 10;
                }
                Ok(())
            })
        })
        .await;
        bar.finish_and_clear();
        let exported = exported.with_context(|| {
            format!(
                "copying the events into {}{}",
                redact(&self.url),
                if meta_copied {
                    " (the metadata was copied: run again without --to-meta once the events \
                     target is emptied)"
                } else {
                    ""
                }
            )
        })?;
        let t = self.target.clone();
        let copied = blocking(move || t.site_counts())
            .await
            .context("loading the copied events into ClickHouse")?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "events copied into {}: {exported} in {secs:.1} s ({:.0} events/s)",
            redact(&self.url),
            exported as f64 / secs.max(1e-9)
        );
        println!(
            "{:<40} {:>8} {:>14} {:>14}",
            "site", "id", "DuckDB", "ClickHouse"
        );
        let mut wrong = Vec::new();
        // Every site: those with events, and those without (0 on both sides).
        let mut sites: Vec<(u32, u64)> = self.counts.clone();
        for (id, _) in &self.domains {
            if !sites.iter().any(|(s, _)| s == id) {
                sites.push((*id, 0));
            }
        }
        sites.sort_unstable();
        for (site, n) in &sites {
            let there = copied
                .iter()
                .find(|(s, _)| s == site)
                .map_or(0, |(_, n)| *n);
            println!(
                "{:<40} {site:>8} {n:>14} {there:>14}{}",
                site_name(&self.domains, *site),
                if there == *n { "" } else { "  MISMATCH" }
            );
            if there != *n {
                wrong.push(site_name(&self.domains, *site));
            }
        }
        let (s, t) = (self.source.clone(), self.target.clone());
        tokio::task::spawn_blocking(move || {
            t.shutdown();
            s.shutdown();
        })
        .await?;
        if exported != total {
            bail!("read {exported} events from DuckDB, which counted {total}");
        }
        if !wrong.is_empty() {
            bail!(
                "the events of {} differ between DuckDB and ClickHouse",
                wrong.join(", ")
            );
        }
        let staging = self.dir.join(STAGING_SPOOL);
        if let Err(e) = std::fs::remove_dir_all(&staging) {
            eprintln!("note: could not remove {}: {e}", staging.display());
        }
        Ok(())
    }
}

/// Submit one batch and wait until it is durable in the staging spool.
fn submit_and_wait(store: &dyn EventStore, rows: Vec<EventRow>) -> Result<(), StoreError> {
    // One batch at a time: the writer queue never holds more than this one, so it is never
    // full (`QueueFull` would drop the rows, hence no retry here).
    let ticket = store.submit(rows)?;
    ticket.blocking_recv().map_err(|_| StoreError::Closed)?
}

fn site_name(domains: &[(u32, String)], id: u32) -> String {
    domains
        .iter()
        .find(|(s, _)| *s == id)
        .map_or_else(|| format!("(deleted site {id})"), |(_, d)| d.clone())
}

fn progress_bar(total: u64) -> ProgressBar {
    let target = if std::io::stderr().is_terminal() {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total), target);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} events ({per_sec})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
