//! Benchmark helpers: a no-op HTTP endpoint on the same stack as Lucarne (the ceiling
//! for ingest), the dashboard query benchmark over a real events store, and the share
//! cascade report over a page with a large share graph.

mod hammer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lucarne_core::event::EventRow;
use lucarne_core::stats::{buckets, utc_range, Filter, Interval, Property, ReportQuery, Utc0};
use lucarne_core::token::TokenStatus;
use lucarne_core::{ChannelGroup, Evidence};
use std::sync::Arc;

use lucarne_store::click::{ClickEvents, ClickUrl};
use lucarne_store::duck::DuckEvents;
use lucarne_store::EventStore;

/// The server's allocator (`crates/lucarne/src/main.rs`): the reports allocate many
/// small strings, so timings depend on it.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// The storage path alone (spool + loader + DuckDB, no HTTP): submit ROWS
    /// tracker-shaped events in batches of 1,000, wait until all are loaded, and print
    /// the process CPU time per row.
    Load {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
    },
    /// A closed-loop HTTP/1.1 load generator (lighter than wrk with a Lua script):
    /// the requests of `bench/ingest.lua` or `bench/redirect.lua`, output in wrk's shape.
    Hammer {
        /// Server address, e.g. 127.0.0.1:8080.
        #[arg(long)]
        addr: std::net::SocketAddr,
        #[arg(long, value_enum)]
        scenario: hammer::Scenario,
        #[arg(long, default_value_t = 2)]
        threads: usize,
        #[arg(long, default_value_t = 64)]
        connections: usize,
        /// Seconds.
        #[arg(long, default_value_t = 20)]
        duration: u64,
        /// Short links `bench0` … `bench{slugs-1}` (redirect scenario).
        #[arg(long, default_value_t = 50)]
        slugs: u64,
        /// This process's number when several run at once (visitors of its own).
        #[arg(long, default_value_t = 0)]
        proc_id: u64,
    },
    /// Serve `POST /api/event` answering 202 without doing anything.
    Noop {
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: String,
    },
    /// Fill an events store with `lucarne generate`'s synthetic traffic through the real
    /// pipeline (`ingest::offline::ingest_hits`, same generator, defaults and seed), but
    /// from a fixed `--start`, so that two back ends get exactly the same events.
    Generate {
        #[arg(long)]
        data: PathBuf,
        /// Events store: `duckdb` (in `--data`) or `clickhouse://…`.
        #[arg(long, default_value = "duckdb")]
        events: String,
        /// Metadata store: `sqlite` (in `--data`) or `postgres://…` (visits then shared).
        #[arg(long, default_value = "sqlite")]
        meta: String,
        /// This node's id among the nodes sharing ClickHouse.
        #[arg(long, default_value = "bench-generate")]
        node_id: String,
        #[arg(long)]
        site: String,
        /// Number of events, approximately (the days are filled to their end).
        #[arg(long, default_value_t = 10_000_000)]
        count: u64,
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First instant (RFC 3339); default: now minus `days`, as `lucarne generate`.
        #[arg(long)]
        start: Option<String>,
    },
    /// Time group commits of the events writer by batch size (no HTTP).
    Writer {
        #[arg(long, default_value_t = 200)]
        batches: usize,
    },
    /// Time the 30-day dashboard (aggregate + timeseries + channel breakdown).
    Query {
        #[arg(long)]
        data: PathBuf,
        /// Events store: `duckdb` (the default: `events.duckdb` in `--data`) or
        /// `clickhouse://host:port[,host:port…]/db[?cluster=NAME]` (then `--data` only
        /// holds the bench's empty spool).
        #[arg(long, env = "LUCARNE_EVENTS", default_value = "duckdb")]
        events: String,
        /// Site id (1 for the first site).
        #[arg(long, default_value_t = 1)]
        site_id: u32,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// Time issue 20's daily rollups on a DuckDB store: build every UTC day of a site in
    /// `tz`, then each dimension's 30-day breakdown from rollups against the raw report.
    Rollup {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 1)]
        site_id: u32,
        #[arg(long, default_value = "UTC")]
        tz: String,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Build only the last N UTC days (0: all), and stop there (timing builds).
        #[arg(long, default_value_t = 0)]
        build_days: i64,
    },
    /// Time read-only SQL statements on a DuckDB store (each wrapped in
    /// `SELECT count(*) FROM (…) AS t WHERE hash(t) IS NOT NULL`, so that it runs to the
    /// end and no column is pruned away): the median of `runs`, and the row count. For designing queries against a generated store (issue 20).
    Sql {
        #[arg(long)]
        data: PathBuf,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// The statements, one argument each.
        statements: Vec<String>,
    },
    /// Time the dashboard's overview page (every query and the HTML, as served to a
    /// logged-in user) and weigh it gzipped, with its stylesheet and script.
    Page {
        #[arg(long)]
        data: PathBuf,
        /// Events store, as for `query`.
        #[arg(long, env = "LUCARNE_EVENTS", default_value = "duckdb")]
        events: String,
        /// Metadata store: `sqlite` (the default, in `--data`) or `postgres://…`.
        #[arg(long, env = "LUCARNE_META", default_value = "sqlite")]
        meta: String,
        /// The site's domain.
        #[arg(long)]
        site: String,
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// The page's query string; `date=` (the last day with events) is added when absent.
        #[arg(long, default_value = "period=30d")]
        query: String,
    },
    /// Time the conversion report (`GET /api/v1/stats/conversions`: every goal's totals,
    /// the chosen goal by a visit property, and the private/public uplift) over the
    /// whole of a store's site, with the goals `purchase`, `signup` and the page `/checkout`
    /// (created if absent).
    Conversions {
        #[arg(long)]
        data: PathBuf,
        /// The site's domain.
        #[arg(long)]
        site: String,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// Time the share reports over a store holding one page whose share graph has
    /// `edges` edges, plus background traffic (with small cascades of its own): the
    /// cascade report of that page (`GET /api/v1/stats/cascades?page=…`: the period's
    /// share graph, every cascade built, those of the page kept, the top 10 as JSON) and
    /// the share report (`GET /api/v1/stats/shares`: metrics and private/public ratio).
    Cascade {
        /// Where to build the store (default: a temporary directory, removed). A store
        /// that already holds events there is reused as it is.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Share-graph edges (visits that arrived through a token) on the page.
        #[arg(long, default_value_t = 100_000)]
        edges: usize,
        /// Background events on other pages.
        #[arg(long, default_value_t = 1_000_000)]
        background: usize,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Noop { listen } => noop(&listen),
        Cmd::Hammer {
            addr,
            scenario,
            threads,
            connections,
            duration,
            slugs,
            proc_id,
        } => hammer::run(hammer::Options {
            addr,
            threads,
            connections,
            duration: std::time::Duration::from_secs(duration),
            scenario,
            slugs: slugs.max(1),
            proc_id,
        }),
        Cmd::Query {
            data,
            events,
            site_id,
            runs,
        } => query(&data, &events, site_id, runs),
        Cmd::Writer { batches } => writer(batches),
        Cmd::Load { rows } => load(rows),
        Cmd::Generate {
            data,
            events,
            meta,
            node_id,
            site,
            count,
            days,
            seed,
            start,
        } => generate(
            &data, &events, &meta, &node_id, &site, count, days, seed, start,
        ),
        Cmd::Page {
            data,
            events,
            meta,
            site,
            runs,
            query,
        } => page(&data, &events, &meta, &site, runs, &query),
        Cmd::Cascade {
            data,
            edges,
            background,
            runs,
        } => cascade_bench(data, edges, background, runs),
        Cmd::Conversions { data, site, runs } => conversions_bench(&data, &site, runs),
        Cmd::Sql {
            data,
            runs,
            statements,
        } => sql_bench(&data, runs, &statements),
        Cmd::Rollup {
            data,
            site_id,
            tz,
            runs,
            build_days,
        } => rollup_bench(&data, site_id, &tz, runs, build_days),
    }
}

fn conversions_bench(data: &std::path::Path, domain: &str, runs: usize) -> Result<()> {
    use lucarne_core::conversions::GoalKind;
    use lucarne_server::api::conversions::{conversion_report, By};
    use lucarne_server::{AppState, ServerOptions};
    use lucarne_store::meta::MetaStore;

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let store = Arc::new(DuckEvents::open(data, 16).map_err(|e| anyhow::anyhow!("{e}"))?);
        let meta = MetaStore::open(data)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let site = meta
            .site_by_domain(domain)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_context(|| format!("no site {domain}"))?;
        for (kind, value, name) in [
            ("event", "purchase", ""),
            ("event", "signup", ""),
            ("page", "/checkout", "Checkout page"),
        ] {
            let goal = GoalKind::parse(kind, value).map_err(|e| anyhow::anyhow!("{e}"))?;
            meta.create_goal(site.id, &goal, name)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        let span = |f: &str| -> Result<i64> {
            store
                .scalar_i64(&format!(
                    "SELECT epoch_us({f}(ts)) FROM events WHERE site_id = {}",
                    site.id
                ))
                .map_err(|e| anyhow::anyhow!("{e}"))
        };
        let (first, last) = (span("min")?, span("max")?);
        let day = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us)
                .map(|t| t.date_naive())
                .context("no events")
        };
        let (from, to) = (day(first)?, day(last)?);
        let events = store.count().map_err(|e| anyhow::anyhow!("{e}"))?;
        let conversions = store
            .scalar_i64(&format!(
                "SELECT count(*) FROM events WHERE site_id = {} AND (name IN ('purchase', 'signup') \
                 OR (name = 'pageview' AND pathname = '/checkout'))",
                site.id
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let store: Arc<dyn EventStore> = store;
        let state = AppState::new(store, meta, &ServerOptions::default()).await?;
        let r = lucarne_server::api::stats::resolve_site(
            site.clone(),
            Some("custom"),
            Some(&format!("{from},{to}")),
            None,
            None,
        )
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
        let q = r.query(r.from, r.to);
        println!(
            "{events} events, {conversions} conversions (purchase, signup, /checkout views), {from} to {to}"
        );
        for by in ["visit:channel_group", "visit:channel", "visit:generation"] {
            let by = By::parse(Some(by)).map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let mut times = Vec::new();
            let mut report = None;
            for i in 0..runs + 2 {
                let t = Instant::now();
                report = Some(
                    conversion_report(&state, &site, q.clone(), Some("purchase"), &by)
                        .await
                        .map_err(|e| anyhow::anyhow!("{}", e.message))?,
                );
                if i >= 2 {
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            times.sort_by(f64::total_cmp);
            let converting = report
                .as_ref()
                .and_then(|r| r.goals.first())
                .map_or("null".into(), |g| g.counts.converting_visits.to_string());
            let uplift = report
                .as_ref()
                .and_then(|r| r.uplift.as_ref())
                .map_or("null".into(), |u| u.difference_points.to_string());
            println!(
                "conversion report by {}: median {:.1} ms, p90 {:.1} ms ({runs} runs; purchase: {converting} converting visits, uplift {uplift} points)",
                by.name(),
                percentile(&times, 0.5),
                percentile(&times, 0.9),
            );
        }
        Ok(())
    })
}

/// A plausible country per synthetic IP, with the weights of `lucarne generate`'s
/// (`demo_country`; this one hashes with SipHash instead of BLAKE3, so the country of a
/// given visitor differs from that command's, not the distribution).
fn bench_country(h: &lucarne_core::synth::SyntheticHit) -> String {
    use std::hash::{Hash, Hasher};
    const COUNTRIES: [(&str, u32); 10] = [
        ("FR", 38),
        ("BE", 8),
        ("CA", 7),
        ("CH", 5),
        ("US", 14),
        ("GB", 7),
        ("DE", 6),
        ("ES", 5),
        ("MA", 5),
        ("SN", 5),
    ];
    let total: u32 = COUNTRIES.iter().map(|c| c.1).sum();
    let mut hasher = std::hash::DefaultHasher::new();
    h.ip.hash(&mut hasher);
    let mut x = ((hasher.finish() & 0xff) as u32 * total) / 256;
    for (c, w) in COUNTRIES {
        if x < w {
            return c.to_string();
        }
        x -= w;
    }
    "FR".into()
}

#[allow(clippy::too_many_arguments)]
fn generate(
    data: &std::path::Path,
    events: &str,
    meta_url: &str,
    node_id: &str,
    domain: &str,
    count: u64,
    days: u32,
    seed: u64,
    start: Option<String>,
) -> Result<()> {
    use lucarne_core::synth::{Generator, SynthConfig};
    use lucarne_server::ingest::offline::ingest_hits;
    use lucarne_server::{AppState, ServerOptions};
    use lucarne_store::meta::MetaStore;

    std::fs::create_dir_all(data)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let capacity = lucarne_store::duck::DEFAULT_QUEUE_CAPACITY;
        let store: Arc<dyn EventStore> = if events.starts_with("clickhouse://") {
            let (url, spool, node) = (
                events.to_string(),
                data.join("spool-clickhouse"),
                node_id.to_string(),
            );
            Arc::new(
                tokio::task::spawn_blocking(move || {
                    ClickEvents::open(&url, &spool, &node, capacity)
                })
                .await?
                .map_err(|e| anyhow::anyhow!("{e}"))?,
            )
        } else {
            let dir = data.to_path_buf();
            Arc::new(
                tokio::task::spawn_blocking(move || DuckEvents::open(&dir, capacity))
                    .await?
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
            )
        };
        let shared = meta_url.starts_with("postgres");
        let meta = if shared {
            MetaStore::connect(meta_url).await
        } else {
            MetaStore::open(data).await
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let options = ServerOptions {
            shared_visits: shared,
            ..ServerOptions::default()
        };
        let state = AppState::new(store, meta, &options).await?;
        let site = match state.meta.site_by_domain(domain).await? {
            Some(s) => s,
            None => state.meta.add_site(domain, "UTC").await?,
        };
        let days = days.max(1);
        let start = match start {
            Some(s) => chrono::DateTime::parse_from_rfc3339(&s)?.to_utc(),
            None => chrono::Utc::now() - chrono::Duration::days(i64::from(days)),
        };
        // As `lucarne generate`: about `count` events, the range filled to its end.
        let per_day = SynthConfig::visits_per_day_for(count, days);
        let mut cfg = SynthConfig::new(site.domain.clone(), start, days, per_day);
        cfg.seed = seed;
        let started = Instant::now();
        let report = ingest_hits(&state, &site, Generator::new(cfg), bench_country, 10_000)
            .await
            .map_err(|r| anyhow::anyhow!("storing synthetic events failed: {}", r.as_str()))?;
        let stored_in = started.elapsed().as_secs_f64();
        let events_store = state.events.clone();
        tokio::task::spawn_blocking(move || events_store.shutdown()).await?;
        let secs = started.elapsed().as_secs_f64();
        println!(
            "stored {} events for {} from {} in {:.1} s ({:.0} events/s; acknowledged in {:.1} s, then the store's shutdown), {} dropped",
            report.stored,
            site.domain,
            start.to_rfc3339(),
            secs,
            report.stored as f64 / secs.max(1e-9),
            stored_in,
            report.dropped
        );
        Ok(())
    })
}

fn noop(listen: &str) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        // The ceilings: accept an event, and answer a redirect, doing nothing else.
        let app = axum::Router::new()
            .route(
                "/api/event",
                axum::routing::post(|_body: axum::body::Bytes| async {
                    (axum::http::StatusCode::ACCEPTED, "{\"ok\":true}")
                }),
            )
            .route(
                "/l/{slug}",
                axum::routing::get(|| async {
                    (
                        axum::http::StatusCode::FOUND,
                        [(axum::http::header::LOCATION, "https://bench.test/landing")],
                    )
                }),
            );
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("bind {listen}"))?;
        axum::serve(listener, app).await?;
        Ok(())
    })
}

fn sample_row(i: usize) -> lucarne_core::event::EventRow {
    use lucarne_core::{ChannelGroup, Evidence};
    lucarne_core::event::EventRow {
        site_id: 1,
        ts: chrono::Utc::now(),
        name: "pageview".into(),
        visitor_id: i as u64 * 7919,
        session_id: i as u64 * 104_729,
        entry: i.is_multiple_of(2),
        hostname: "bench.test".into(),
        pathname: format!("/articles/{}", i % 500),
        token: i as u64 + 1,
        visit: lucarne_core::event::Visit {
            entry_page: "/articles/1".into(),
            referrer: "android-app://com.whatsapp".into(),
            source: "WhatsApp".into(),
            channel: "whatsapp".into(),
            channel_group: ChannelGroup::PrivateMessage,
            evidence: Evidence::AndroidAppReferrer,
            device: "mobile".into(),
            browser: "Chrome".into(),
            os: "Android".into(),
            country: "FR".into(),
            screen_width: 390,
            token_status: lucarne_core::token::TokenStatus::None,
            ..Default::default()
        },
        ..Default::default()
    }
}

fn writer(batches: usize) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    for size in [1usize, 16, 64, 256, 1024] {
        let dir = std::env::temp_dir().join(format!(
            "lucarne-writer-bench-{}-{size}",
            std::process::id()
        ));
        let store = DuckEvents::open(&dir, 100_000).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut times = Vec::with_capacity(batches);
        for b in 0..batches {
            let rows: Vec<_> = (0..size).map(|i| sample_row(b * size + i)).collect();
            let t = Instant::now();
            let ticket = store.submit(rows).map_err(|e| anyhow::anyhow!("{e}"))?;
            rt.block_on(ticket)?.map_err(|e| anyhow::anyhow!("{e}"))?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        let med = percentile(&times, 0.5);
        println!(
            "batch {size:>5} rows: commit median {med:.2} ms, p99 {:.2} ms -> {:.0} rows/s from one waiter",
            percentile(&times, 0.99),
            size as f64 / (med / 1000.0)
        );
        store.shutdown();
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// CPU seconds (user + system) this process has used so far.
fn process_cpu_seconds() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> f64 { f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) };
    // Fields 14 and 15 of /proc/PID/stat; `after` starts at field 3.
    Ok((ticks(11) + ticks(12)) / 100.0)
}

fn load(rows: usize) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    let dir = std::env::temp_dir().join(format!("lucarne-load-bench-{}", std::process::id()));
    let store = DuckEvents::open(&dir, 100_000).map_err(|e| anyhow::anyhow!("{e}"))?;
    let batches: Vec<Vec<_>> = (0..rows.div_ceil(1000))
        .map(|b| {
            (b * 1000..((b + 1) * 1000).min(rows))
                .map(sample_row)
                .collect()
        })
        .collect();
    let cpu0 = process_cpu_seconds()?;
    let t = Instant::now();
    let mut tickets = Vec::new();
    for b in batches {
        tickets.push(store.submit(b).map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    for ticket in tickets {
        rt.block_on(ticket)?.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let stored = store.count().map_err(|e| anyhow::anyhow!("{e}"))?;
    anyhow::ensure!(stored == rows as u64, "{stored} rows stored of {rows}");
    let wall = t.elapsed().as_secs_f64();
    let cpu = process_cpu_seconds()? - cpu0;
    println!(
        "{rows} rows loaded in {wall:.2} s wall, {cpu:.2} s CPU: {:.2} us CPU per row, {:.0} rows/s",
        cpu * 1e6 / rows as f64,
        rows as f64 / wall
    );
    store.shutdown();
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn query(data: &std::path::Path, events: &str, site_id: u32, runs: usize) -> Result<()> {
    let bench = Bench::open(data, events)?;
    let store = bench.store();
    let total = bench.count()?;
    let last: i64 = bench.last_us(site_id)?;
    let to_day = chrono::DateTime::from_timestamp_micros(last)
        .context("no events")?
        .date_naive();
    let from_day = to_day - chrono::Duration::days(29);
    let (from, to) = utc_range(&Utc0, from_day, to_day);
    let b = buckets(&Utc0, from_day, to_day, Interval::Date);
    // What the dashboard asks: top numbers with bounce rate and visit duration (needs
    // per-visit aggregation), the visitors graph, and the channels panel.
    let q = ReportQuery {
        site_id,
        from,
        to,
        filters: Vec::new(),
        conditions: Vec::new(),
        with_sessions: true,
        with_shares: false,
    };
    let q_plain = ReportQuery {
        conditions: Vec::new(),
        with_sessions: false,
        ..q.clone()
    };
    let in_range: i64 = bench
        .count_between(site_id, from.timestamp_micros(), to.timestamp_micros())
        .unwrap_or(-1);
    println!("events store: {}", bench.describe());
    let exact_visitors = bench
        .exact_visitors(site_id, from.timestamp_micros(), to.timestamp_micros())
        .unwrap_or(-1);
    let mut times = Vec::new();
    let mut parts = [Vec::new(), Vec::new(), Vec::new()];
    for i in 0..runs + 2 {
        let t0 = Instant::now();
        let a = store.aggregate(&q).map_err(|e| anyhow::anyhow!("{e}"))?;
        let t1 = Instant::now();
        let ts = store
            .timeseries(&q_plain, &b)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let t2 = Instant::now();
        let br = store
            .breakdown(&q_plain, &Property::Channel, 10, 0)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let t3 = Instant::now();
        if i < 2 {
            // warm-up
            if i == 0 {
                println!(
                    "30-day window: {} visitors, {} visits, {} pageviews, {} buckets, {} channels",
                    a.visitors,
                    a.visits,
                    a.pageviews,
                    ts.len(),
                    br.len()
                );
            }
            continue;
        }
        times.push((t3 - t0).as_secs_f64() * 1000.0);
        parts[0].push((t1 - t0).as_secs_f64() * 1000.0);
        parts[1].push((t2 - t1).as_secs_f64() * 1000.0);
        parts[2].push((t3 - t2).as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    for p in parts.iter_mut() {
        p.sort_by(f64::total_cmp);
    }
    let bytes = bench.disk_bytes()?;
    println!(
        "events in store: {total}; in the 30-day window: {in_range}; exact distinct visitor ids in the window (SQL count distinct): {exact_visitors}"
    );
    println!(
        "dashboard (aggregate incl. bounce rate/duration/dark share + daily visitors timeseries + channel breakdown), {runs} runs: median {:.1} ms, p95 {:.1} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    );
    println!(
        "  parts (median): aggregate {:.1} ms, timeseries {:.1} ms, breakdown {:.1} ms",
        percentile(&parts[0], 0.5),
        percentile(&parts[1], 0.5),
        percentile(&parts[2], 0.5)
    );
    // The same timeseries with per-visit metrics (bounce rate per day), for reference.
    let mut with_visits = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        store
            .timeseries(&q, &b)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        with_visits.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    with_visits.sort_by(f64::total_cmp);
    println!(
        "  timeseries with bounce rate and duration per day (median of 5): {:.1} ms",
        percentile(&with_visits, 0.5)
    );
    println!(
        "disk: {bytes} bytes for {total} events = {:.1} bytes/event",
        bytes as f64 / total.max(1) as f64
    );
    store.shutdown();
    Ok(())
}

fn rollup_bench(
    data: &std::path::Path,
    site_id: u32,
    tz: &str,
    runs: usize,
    build_days: i64,
) -> Result<()> {
    use chrono::TimeZone;
    let tz: chrono_tz::Tz = tz
        .parse()
        .map_err(|e| anyhow::anyhow!("time zone {tz}: {e}"))?;
    let store = DuckEvents::open(data, 16).map_err(|e| anyhow::anyhow!("{e}"))?;
    let day = |sql: &str| -> Result<chrono::NaiveDate> {
        let us = store.scalar_i64(sql).map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(chrono::DateTime::from_timestamp_micros(us)
            .context("no events")?
            .date_naive())
    };
    let first = day(&format!(
        "SELECT epoch_us(min(ts)) FROM events WHERE site_id = {site_id}"
    ))?;
    let last = day(&format!(
        "SELECT epoch_us(max(ts)) FROM events WHERE site_id = {site_id}"
    ))?;
    // Build: every UTC day (or the last `build_days`), timed.
    let mut d = if build_days > 0 {
        first.max(last - chrono::Duration::days(build_days - 1))
    } else {
        first
    };
    let (mut rows, mut times) = (0, Vec::new());
    let t_all = Instant::now();
    while d <= last {
        let t = Instant::now();
        rows += store
            .build_rollup_day(site_id, d, tz)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        d += chrono::Duration::days(1);
    }
    times.sort_by(f64::total_cmp);
    let built = times.len();
    println!(
        "built {built} UTC days (to {last}, {tz}) in {:.1} s: {rows} rows; a day: median {:.0} ms, max {:.0} ms",
        t_all.elapsed().as_secs_f64(),
        percentile(&times, 0.5),
        times.last().copied().unwrap_or(0.0)
    );
    if build_days > 0 {
        store.shutdown();
        return Ok(());
    }
    // Read: the 30 local days ending the day before the last UTC day, every dimension.
    let (to, from) = (
        last - chrono::Duration::days(1),
        last - chrono::Duration::days(30),
    );
    let q = ReportQuery {
        site_id,
        from: tz
            .from_local_datetime(&from.and_time(chrono::NaiveTime::MIN))
            .earliest()
            .context("local midnight")?
            .with_timezone(&chrono::Utc),
        to: tz
            .from_local_datetime(&(to + chrono::Duration::days(1)).and_time(chrono::NaiveTime::MIN))
            .earliest()
            .context("local midnight")?
            .with_timezone(&chrono::Utc),
        filters: Vec::new(),
        conditions: Vec::new(),
        with_sessions: false,
        with_shares: false,
    };
    let median = |f: &mut dyn FnMut() -> Result<()>| -> Result<f64> {
        let mut t = Vec::new();
        for _ in 0..runs.max(1) {
            let s = Instant::now();
            f()?;
            t.push(s.elapsed().as_secs_f64() * 1000.0);
        }
        t.sort_by(f64::total_cmp);
        Ok(percentile(&t, 0.5))
    };
    println!("30 local days {from} to {to}: median of {runs} runs, rollups vs raw events");
    let mut dims: Vec<&str> = vec![""];
    dims.extend(
        lucarne_store::duck::ROLLUP_DIMENSIONS
            .iter()
            .map(|(n, _)| *n),
    );
    for dim in dims {
        let report = |on: bool| {
            store.set_read_rollups(on);
            median(&mut || {
                if dim.is_empty() {
                    store.aggregate(&q).map(|_| ())
                } else {
                    let p = Property::parse(dim).map_err(|e| anyhow::anyhow!("{e}"))?;
                    store.breakdown(&q, &p, 100, 0).map(|_| ())
                }
                .map_err(|e| anyhow::anyhow!("{e}"))
            })
        };
        let rolled = report(true)?;
        let raw = report(false)?;
        println!(
            "  {:<22} rollups {rolled:>7.1} ms   raw {raw:>7.1} ms",
            if dim.is_empty() { "(totals)" } else { dim }
        );
    }
    store.shutdown();
    Ok(())
}

fn sql_bench(data: &std::path::Path, runs: usize, statements: &[String]) -> Result<()> {
    let store = DuckEvents::open(data, 16).map_err(|e| anyhow::anyhow!("{e}"))?;
    for sql in statements {
        // Every column of every row is hashed, so that no projection is pruned away.
        let wrapped =
            format!("SELECT count(*)::BIGINT FROM ({sql}) AS t WHERE hash(t) IS NOT NULL");
        let mut times = Vec::with_capacity(runs);
        let mut n = 0;
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            n = store
                .scalar_i64(&wrapped)
                .map_err(|e| anyhow::anyhow!("{e}: {sql}"))?;
            times.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{:>8.1} ms median ({} runs), {n} rows: {sql}",
            percentile(&times, 0.5),
            times.len()
        );
    }
    store.shutdown();
    Ok(())
}

/// The events store a timing runs against, with the few questions the benchmarks ask
/// that are not in `EventStore` (answered in each engine's SQL).
enum Bench {
    Duck(Arc<DuckEvents>),
    Click {
        store: Arc<ClickEvents>,
        url: ClickUrl,
    },
}

impl Bench {
    fn open(data: &std::path::Path, events: &str) -> Result<Bench> {
        if events.starts_with("clickhouse://") {
            // The bench only reads: its spool (required by the store) stays empty.
            let spool = data.join("bench-spool-clickhouse");
            let node = format!("lucarne-bench-{}", std::process::id());
            let store =
                ClickEvents::open(events, &spool, &node, 16).map_err(|e| anyhow::anyhow!("{e}"))?;
            let url = ClickUrl::parse(events).map_err(|e| anyhow::anyhow!("{e}"))?;
            Ok(Bench::Click {
                store: Arc::new(store),
                url,
            })
        } else if events == "duckdb" || events.is_empty() {
            Ok(Bench::Duck(Arc::new(
                DuckEvents::open(data, 16).map_err(|e| anyhow::anyhow!("{e}"))?,
            )))
        } else {
            anyhow::bail!("unknown events store `{events}` (duckdb or clickhouse://…)")
        }
    }

    fn store(&self) -> Arc<dyn EventStore> {
        match self {
            Bench::Duck(s) => s.clone(),
            Bench::Click { store, .. } => store.clone(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Bench::Duck(_) => "DuckDB (embedded)".into(),
            Bench::Click { url, .. } => format!(
                "ClickHouse {} ({} server{}{})",
                ch_version(url, &url.hosts[0]).unwrap_or_else(|_| "?".into()),
                url.hosts.len(),
                if url.hosts.len() == 1 { "" } else { "s" },
                url.cluster
                    .as_deref()
                    .map(|c| format!(
                        ", Distributed over cluster `{c}`, sharded by intHash64(session_id)"
                    ))
                    .unwrap_or_default()
            ),
        }
    }

    fn count(&self) -> Result<u64> {
        match self {
            Bench::Duck(s) => s.count().map_err(|e| anyhow::anyhow!("{e}")),
            Bench::Click { store, .. } => store.count().map_err(|e| anyhow::anyhow!("{e}")),
        }
    }

    /// The time of the site's last event, microseconds since the epoch.
    fn last_us(&self, site_id: u32) -> Result<i64> {
        match self {
            Bench::Duck(s) => s
                .scalar_i64(&format!(
                    "SELECT epoch_us(max(ts)) FROM events WHERE site_id = {site_id}"
                ))
                .map_err(|e| anyhow::anyhow!("{e}")),
            Bench::Click { url, .. } => ch_i64(
                url,
                &url.hosts[0],
                &format!("SELECT max(ts_us) FROM events WHERE site_id = {site_id}"),
            ),
        }
    }

    fn count_between(&self, site_id: u32, from_us: i64, to_us: i64) -> Result<i64> {
        match self {
            Bench::Duck(s) => s
                .scalar_i64(&format!(
                    "SELECT count(*)::BIGINT FROM events WHERE site_id = {site_id} AND ts >= make_timestamp({from_us}) AND ts < make_timestamp({to_us})"
                ))
                .map_err(|e| anyhow::anyhow!("{e}")),
            Bench::Click { url, .. } => ch_i64(
                url,
                &url.hosts[0],
                &format!(
                    "SELECT count() FROM events WHERE site_id = {site_id} AND ts_us >= {from_us} AND ts_us < {to_us}"
                ),
            ),
        }
    }

    /// Distinct visitor ids of the site's events in `[from_us, to_us)`, counted exactly.
    fn exact_visitors(&self, site_id: u32, from_us: i64, to_us: i64) -> Result<i64> {
        match self {
            Bench::Duck(s) => s
                .scalar_i64(&format!(
                    "SELECT count(DISTINCT visitor_id)::BIGINT FROM events WHERE site_id = {site_id} AND ts >= make_timestamp({from_us}) AND ts < make_timestamp({to_us})"
                ))
                .map_err(|e| anyhow::anyhow!("{e}")),
            Bench::Click { url, .. } => ch_i64(
                url,
                &url.hosts[0],
                &format!(
                    "SELECT toInt64(uniqExact(visitor_id)) FROM events WHERE site_id = {site_id} AND ts_us >= {from_us} AND ts_us < {to_us}"
                ),
            ),
        }
    }

    /// Bytes on disk of the events (DuckDB file + WAL; ClickHouse: active parts of the
    /// events table on every server).
    fn disk_bytes(&self) -> Result<u64> {
        match self {
            Bench::Duck(s) => Ok(s.disk_bytes()),
            Bench::Click { url, .. } => {
                let mut total = 0i64;
                for host in &url.hosts {
                    total += ch_i64(
                        url,
                        host,
                        &format!(
                            "SELECT toInt64(sum(bytes_on_disk)) FROM system.parts WHERE active AND database = '{}' AND table IN ('events', 'events_local')",
                            url.database
                        ),
                    )?;
                }
                Ok(total.max(0) as u64)
            }
        }
    }
}

/// POST `sql` to a ClickHouse server's HTTP interface; the body of the answer.
fn ch_query(url: &ClickUrl, host: &str, sql: &str) -> Result<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(host).with_context(|| format!("connect {host}"))?;
    let mut auth = String::new();
    if let Some(u) = &url.user {
        auth.push_str(&format!("X-ClickHouse-User: {u}\r\n"));
    }
    if let Some(p) = &url.password {
        auth.push_str(&format!("X-ClickHouse-Key: {p}\r\n"));
    }
    let head = format!(
        "POST /?database={} HTTP/1.0\r\nHost: {host}\r\n{auth}Content-Length: {}\r\n\r\n",
        url.database,
        sql.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(sql.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    let (status, body) = out
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    if !status.contains(" 200 ") {
        anyhow::bail!("clickhouse: {}", body.trim());
    }
    Ok(body.to_string())
}

fn ch_i64(url: &ClickUrl, host: &str, sql: &str) -> Result<i64> {
    let body = ch_query(url, host, sql)?;
    body.trim()
        .parse()
        .with_context(|| format!("not a number from ClickHouse: {body}"))
}

fn ch_version(url: &ClickUrl, host: &str) -> Result<String> {
    Ok(ch_query(url, host, "SELECT version()")?.trim().to_string())
}

fn gzip_len(bytes: &[u8]) -> Result<usize> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    Ok(enc.finish()?.len())
}

fn page(
    data: &std::path::Path,
    events: &str,
    meta_url: &str,
    domain: &str,
    runs: usize,
    query: &str,
) -> Result<()> {
    use lucarne_server::web::auth::Access;
    use lucarne_server::web::dashboard;
    use lucarne_server::{AppState, ServerOptions};
    use lucarne_store::meta::{MetaStore, Role};

    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let bench = {
            let (data, events) = (data.to_path_buf(), events.to_string());
            tokio::task::spawn_blocking(move || Bench::open(&data, &events)).await??
        };
        let store = bench.store();
        let meta = if meta_url == "sqlite" || meta_url.is_empty() {
            MetaStore::open(data).await
        } else {
            MetaStore::connect(meta_url).await
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let site = meta
            .site_by_domain(domain)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .with_context(|| format!("no site {domain}"))?;
        let total = bench.count()?;
        let last: i64 = bench.last_us(site.id)?;
        let last_day = chrono::DateTime::from_timestamp_micros(last)
            .context("no events")?
            .date_naive();
        let query = if query.contains("date=") || query.contains("period=custom") {
            query.to_string()
        } else {
            format!("{query}&date={last_day}")
        };
        let events: Arc<dyn EventStore> = store;
        let state = AppState::new(events, meta, &ServerOptions::default()).await?;
        let access = Access {
            site,
            role: Role::Owner,
            user: None,
            shared: false,
        };
        let mut times = Vec::new();
        let mut html = String::new();
        for i in 0..runs + 2 {
            let t = Instant::now();
            html = dashboard::overview_page(
                &state,
                None,
                &access,
                &format!("/sites/{domain}"),
                Some(&query),
                None,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?
            .into_string();
            if i >= 2 {
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
        times.sort_by(f64::total_cmp);
        let (css, js) = (dashboard::APP_CSS, dashboard::APP_JS);
        let (gh, gc, gj) = (
            gzip_len(html.as_bytes())?,
            gzip_len(css.as_bytes())?,
            gzip_len(js.as_bytes())?,
        );
        // Where the time goes: each query of the page alone, one after the other.
        let mut parts = Vec::new();
        {
            let view = dashboard::View::from_query(Some(&query));
            let r = lucarne_server::api::stats::resolve_site(
                access.site.clone(),
                Some(&view.period),
                view.date.as_deref(),
                Some("visitors,bounce_rate"),
                None,
            )
            .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            // The view's filters, as the page applies them.
            let mut r = r;
            r.filters = view
                .filters
                .iter()
                .filter_map(|(p, v)| {
                    Property::parse(p)
                        .ok()
                        .map(|property| Filter::is(property, vec![v.clone()]))
                })
                .collect();
            let q = r.query(r.from, r.to);
            let plain = ReportQuery {
                conditions: Vec::new(),
                with_sessions: false,
                ..q.clone()
            };
            let t = Instant::now();
            state.events.aggregate(&q).map_err(|e| anyhow::anyhow!("{e}"))?;
            parts.push(("aggregate".to_string(), t.elapsed()));
            let b = buckets(&r.tz, r.from, r.to, Interval::Date);
            let t = Instant::now();
            state
                .events
                .timeseries(&plain, &b)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            parts.push(("timeseries".to_string(), t.elapsed()));
            for p in dashboard::PANELS.iter() {
                let prop = Property::parse(p.property).map_err(|e| anyhow::anyhow!("{e}"))?;
                let t = Instant::now();
                state
                    .events
                    .breakdown(&plain, &prop, 10, 0)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                parts.push((p.slug.to_string(), t.elapsed()));
            }
            // The overview's other queries: the previous period's totals, engagement,
            // the landing pages of dark visits, the private apps and the split of
            // `Direct / None` (two filters each).
            let span = r.to - r.from;
            let t = Instant::now();
            state
                .events
                .aggregate(&r.query(r.from - span, r.from))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            parts.push(("previous".to_string(), t.elapsed()));
            let t = Instant::now();
            state
                .events
                .engagement(&plain, true)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            parts.push(("engagement".to_string(), t.elapsed()));
            for (name, extra, by, limit) in [
                ("landing", None, "visit:entry_page", 100),
                (
                    "apps",
                    Some(("visit:channel_group", "private-message")),
                    "visit:channel",
                    3,
                ),
                (
                    "direct-split",
                    Some(("visit:source", lucarne_core::classify::DIRECT_SOURCE)),
                    "visit:channel_group",
                    20,
                ),
            ] {
                let mut q = plain.clone();
                if let Some((f, v)) = extra {
                    let f = Property::parse(f).map_err(|e| anyhow::anyhow!("{e}"))?;
                    q.filters.push(Filter::is(f, vec![v.to_string()]));
                }
                let prop = Property::parse(by).map_err(|e| anyhow::anyhow!("{e}"))?;
                let t = Instant::now();
                state
                    .events
                    .breakdown(&q, &prop, limit, 0)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                parts.push((name.to_string(), t.elapsed()));
            }
        }
        println!("events in store: {total}; page query: {query}");
        println!(
            "  each query alone: {}",
            parts
                .iter()
                .map(|(n, d)| format!("{n} {:.0} ms", d.as_secs_f64() * 1000.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "overview page (all its queries + HTML), {runs} runs: median {:.1} ms, p95 {:.1} ms",
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
        println!(
            "page weight: HTML {} B ({gh} B gzip), app.css {} B ({gc} B gzip), app.js {} B ({gj} B gzip); total over the wire {} B gzip",
            html.len(),
            css.len(),
            js.len(),
            gh + gc + gj
        );
        Ok(())
    })
}

/// A small deterministic generator (splitmix64) for the synthetic share graph.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A non-zero token.
    fn token(&mut self) -> u64 {
        self.next() | 1
    }
}

/// A visit of the synthetic share graph.
struct GraphVisit {
    session: u64,
    token: u64,
    generation: u16,
    ts_us: i64,
}

/// Widget buttons used by the bench graph: (button, channel of the visits, group).
const BENCH_BUTTONS: [(&str, &str, ChannelGroup); 5] = [
    ("whatsapp", "whatsapp", ChannelGroup::PrivateMessage),
    ("messenger", "messenger", ChannelGroup::PrivateMessage),
    ("email", "email", ChannelGroup::Email),
    ("copy", "copied-link", ChannelGroup::PrivateMessage),
    ("facebook", "facebook", ChannelGroup::PublicSocial),
];

/// Rows of a share graph with `edges` edges whose first generations land on `pages`:
/// `edges / 25` roots (search visits), then each child attaches to a root (35 %, skewed:
/// a few roots draw most), a random visit (35 %) or the parent of a random earlier child
/// (30 %: popular visits get more children), never below generation 6; 55 % of
/// children come through the parent's visit token (address bar), the others through a
/// share button (one `share` event per parent and button). 40 % of the children view a
/// second page.
fn graph_rows(
    mix: &mut Mix,
    edges: usize,
    pages: &[String],
    (from_us, to_us): (i64, i64),
    next_session: &mut u64,
    out: &mut Vec<EventRow>,
) {
    let span = (to_us - from_us).max(1);
    let base = sample_row(0);
    let row = |v: &GraphVisit, page: &str, ts_us: i64| EventRow {
        ts: chrono::DateTime::from_timestamp_micros(ts_us).unwrap_or_default(),
        visitor_id: v.session.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        session_id: v.session,
        entry: true,
        pathname: page.to_string(),
        token: v.token,
        visit: lucarne_core::event::Visit {
            entry_page: page.to_string(),
            generation: v.generation,
            ..base.clone().visit
        },
        ..base.clone()
    };
    let roots = (edges / 25).max(1);
    let mut visits: Vec<GraphVisit> = Vec::with_capacity(roots + edges);
    let mut parents: Vec<usize> = Vec::with_capacity(edges);
    let mut shared: HashMap<(usize, usize), u64> = HashMap::new();
    for _ in 0..roots {
        *next_session += 1;
        let v = GraphVisit {
            session: *next_session,
            token: mix.token(),
            generation: 0,
            ts_us: from_us + mix.below((span as f64 * 0.8) as u64) as i64,
        };
        let page = &pages[mix.below(pages.len() as u64) as usize];
        out.push(EventRow {
            visit: lucarne_core::event::Visit {
                referrer: "google.com".into(),
                source: "Google".into(),
                channel: "google".into(),
                channel_group: ChannelGroup::Search,
                evidence: Evidence::Referrer,
                ..row(&v, page, v.ts_us).visit
            },
            ..row(&v, page, v.ts_us)
        });
        visits.push(v);
    }
    for _ in 0..edges {
        let r = mix.unit();
        // Roots by a skewed popularity (u⁴): the first few draw most first generations.
        let popular_root =
            |mix: &mut Mix| ((roots as f64 * mix.unit().powi(4)) as usize).min(roots - 1);
        let mut parent = if r < 0.35 || parents.is_empty() {
            popular_root(mix)
        } else if r < 0.7 {
            mix.below(visits.len() as u64) as usize
        } else {
            parents[mix.below(parents.len() as u64) as usize]
        };
        if visits[parent].generation >= 6 {
            parent = popular_root(mix);
        }
        let (p_session, p_token, p_gen, p_ts) = {
            let p = &visits[parent];
            (p.session, p.token, p.generation, p.ts_us)
        };
        let delay = (60e6 * 2160f64.powf(mix.unit())) as i64; // 1 min – 36 h
        let ts_us = (p_ts + delay).min(to_us - 1);
        let page = &pages[mix.below(pages.len() as u64) as usize];
        *next_session += 1;
        let child = GraphVisit {
            session: *next_session,
            token: mix.token(),
            generation: p_gen + 1,
            ts_us,
        };
        let (parent_token, via, channel, group, evidence) = if mix.unit() < 0.55 {
            (
                p_token,
                "address-bar",
                "copied-link",
                ChannelGroup::PrivateMessage,
                Evidence::AddressBarToken,
            )
        } else {
            let b = mix.below(BENCH_BUTTONS.len() as u64) as usize;
            let (button, channel, group) = BENCH_BUTTONS[b];
            let token = match shared.get(&(parent, b)) {
                Some(&t) => t,
                None => {
                    let t = mix.token();
                    shared.insert((parent, b), t);
                    out.push(EventRow {
                        name: "share".into(),
                        entry: false,
                        token: t,
                        share_channel: button.into(),
                        ..row(&visits[parent], page, p_ts + 30_000_000)
                    });
                    t
                }
            };
            (token, button, channel, group, Evidence::ShareToken)
        };
        let entry = EventRow {
            visit: lucarne_core::event::Visit {
                referrer: String::new(),
                source: channel.into(),
                channel: channel.into(),
                channel_group: group,
                evidence,
                parent_token,
                parent_session: p_session,
                visit_share_channel: via.into(),
                token_status: TokenStatus::Linked,
                ..row(&child, page, ts_us).visit
            },
            ..row(&child, page, ts_us)
        };
        if mix.unit() < 0.4 {
            out.push(EventRow {
                entry: false,
                pathname: "/pricing".into(),
                token: mix.token(),
                ts: entry.ts + chrono::Duration::seconds(45),
                ..entry.clone()
            });
        }
        out.push(entry);
        parents.push(parent);
        visits.push(child);
    }
}

/// Background traffic: `events` events on `pages` over the period, one or two per visit,
/// a mix of channels, and small cascades of their own (one visit in 200 starts one).
fn background_rows(
    mix: &mut Mix,
    events: usize,
    pages: &[String],
    (from_us, to_us): (i64, i64),
    next_session: &mut u64,
    mut submit: impl FnMut(Vec<EventRow>) -> Result<()>,
) -> Result<()> {
    const CHANNELS: [(&str, ChannelGroup, Evidence, &str); 5] = [
        (
            "google",
            ChannelGroup::Search,
            Evidence::Referrer,
            "google.com",
        ),
        (
            "whatsapp",
            ChannelGroup::PrivateMessage,
            Evidence::AndroidAppReferrer,
            "android-app://com.whatsapp",
        ),
        (
            "facebook",
            ChannelGroup::PublicSocial,
            Evidence::Referrer,
            "facebook.com",
        ),
        ("dark", ChannelGroup::EstimatedDark, Evidence::DeepLink, ""),
        ("direct", ChannelGroup::Direct, Evidence::None, ""),
    ];
    let base = sample_row(0);
    let mut batch = Vec::with_capacity(20_000);
    let mut made = 0;
    while made < events {
        if mix.below(200) == 0 {
            let page = [pages[mix.below(pages.len() as u64) as usize].clone()];
            let n = 1 + mix.below(8) as usize;
            let before = batch.len();
            graph_rows(mix, n, &page, (from_us, to_us), next_session, &mut batch);
            made += batch.len() - before;
        } else {
            *next_session += 1;
            let (channel, group, evidence, referrer) =
                CHANNELS[mix.below(CHANNELS.len() as u64) as usize];
            let page = &pages[mix.below(pages.len() as u64) as usize];
            let ts_us = from_us + mix.below((to_us - from_us).max(1) as u64) as i64;
            let entry = EventRow {
                ts: chrono::DateTime::from_timestamp_micros(ts_us).unwrap_or_default(),
                visitor_id: next_session.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                session_id: *next_session,
                entry: true,
                pathname: page.clone(),
                token: mix.token(),
                visit: lucarne_core::event::Visit {
                    entry_page: page.clone(),
                    referrer: referrer.into(),
                    source: channel.into(),
                    channel: channel.into(),
                    channel_group: group,
                    evidence,
                    ..base.clone().visit
                },
                ..base.clone()
            };
            let views = 1 + mix.below(2) as usize;
            for v in 1..views {
                batch.push(EventRow {
                    entry: false,
                    pathname: pages[mix.below(pages.len() as u64) as usize].clone(),
                    ts: entry.ts + chrono::Duration::seconds(60 * v as i64),
                    token: mix.token(),
                    ..entry.clone()
                });
            }
            batch.push(entry);
            made += views;
        }
        if batch.len() >= 20_000 {
            submit(std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        submit(batch)?;
    }
    Ok(())
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Fill `store` with the cascade benchmark's data: the page's share graph of `edges`
/// edges and `background` events on 500 other pages, all within `period`.
fn build_cascade_store(
    store: &DuckEvents,
    rt: &tokio::runtime::Runtime,
    edges: usize,
    background: usize,
    page: &str,
    (from, to): (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>),
) -> Result<()> {
    let period = (from.timestamp_micros(), to.timestamp_micros());
    let mut mix = Mix(0xCA5C_ADE5);
    let mut next_session = 0u64;
    let t = Instant::now();
    let mut tickets = Vec::new();
    let mut submit = |rows: Vec<EventRow>| -> Result<()> {
        for chunk in rows.chunks(20_000) {
            let ticket = store
                .submit(chunk.to_vec())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            tickets.push(ticket);
        }
        Ok(())
    };
    let mut viral = Vec::new();
    graph_rows(
        &mut mix,
        edges,
        &[page.to_string()],
        period,
        &mut next_session,
        &mut viral,
    );
    let page_rows = viral.len();
    submit(viral)?;
    let pages: Vec<String> = (0..500).map(|i| format!("/articles/{i}")).collect();
    background_rows(
        &mut mix,
        background,
        &pages,
        period,
        &mut next_session,
        &mut submit,
    )?;
    for ticket in tickets {
        rt.block_on(ticket)?.map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let total = store.count().map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "store: {total} events over 30 days, {page_rows} of them on {page} ({edges} share-visits, their roots, share events, second pageviews); built in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cascade_bench(
    data: Option<PathBuf>,
    edges: usize,
    background: usize,
    runs: usize,
) -> Result<()> {
    use lucarne_core::cascade;
    use lucarne_server::api::shares::{cascade_json, report_json};

    const PAGE: &str = "/2026/11/the-story-everyone-forwards";
    let temp = data.is_none();
    let dir = data.unwrap_or_else(|| {
        std::env::temp_dir().join(format!("lucarne-cascade-bench-{}", std::process::id()))
    });
    let rt = tokio::runtime::Runtime::new()?;
    let store = DuckEvents::open(&dir, 100_000).map_err(|e| anyhow::anyhow!("{e}"))?;
    // The 30 days ending 2026-11-22.
    let to = chrono::DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")?.to_utc();
    let from = to - chrono::Duration::days(30);
    let existing = store.count().map_err(|e| anyhow::anyhow!("{e}"))?;
    if existing == 0 {
        build_cascade_store(&store, &rt, edges, background, PAGE, (from, to))?;
    } else {
        println!("reusing the store in {} ({existing} events)", dir.display());
    }
    let q = ReportQuery {
        site_id: 1,
        from,
        to,
        filters: Vec::new(),
        conditions: Vec::new(),
        with_sessions: false,
        with_shares: false,
    };
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    // The cascade report of the page, as GET /api/v1/stats/cascades?page=… computes it.
    let mut totals = Vec::new();
    let mut parts: [Vec<f64>; 4] = Default::default();
    for i in 0..runs + 2 {
        let t0 = Instant::now();
        let g = store.share_graph(&q).map_err(|e| anyhow::anyhow!("{e}"))?;
        let t1 = Instant::now();
        let all = cascade::build(&g.edges, &g.visits);
        let tb = Instant::now();
        let results: Vec<serde_json::Value> = all
            .iter()
            .filter(|c| c.page == PAGE)
            .take(10)
            .map(|c| cascade_json(c, lucarne_server::api::shares::LIST_NODES))
            .collect();
        let t2 = Instant::now();
        let body = serde_json::to_string(&serde_json::json!({ "results": results }))?;
        let t3 = Instant::now();
        if i == 0 {
            let on_page: Vec<_> = all.iter().filter(|c| c.page == PAGE).collect();
            let page_edges: usize = on_page.iter().map(|c| c.size).sum();
            println!(
                "share graph of the period: {} edges, {} root visits, {} share events; {} cascades, {} on the page with {page_edges} edges (largest {}, deepest {}); top-10 JSON {} bytes",
                g.edges.len(),
                g.visits.len(),
                g.shares.len(),
                all.len(),
                on_page.len(),
                on_page.first().map_or(0, |c| c.size),
                on_page.iter().map(|c| c.depth).max().unwrap_or(0),
                body.len()
            );
        }
        if i >= 2 {
            totals.push(ms(t3 - t0));
            parts[0].push(ms(t1 - t0));
            parts[1].push(ms(tb - t1));
            parts[2].push(ms(t2 - tb));
            parts[3].push(ms(t3 - t2));
        }
    }
    let totals = sorted(totals);
    let parts = parts.map(sorted);
    println!(
        "cascade report of the page (share_graph + cascade::build + page filter + top-10 cascade_json + serialise), {runs} runs: median {:.1} ms, p95 {:.1} ms",
        percentile(&totals, 0.5),
        percentile(&totals, 0.95)
    );
    println!(
        "  parts (median): share_graph {:.1} ms, cascade::build {:.1} ms, page filter + top-10 cascade_json {:.1} ms, serialise {:.1} ms",
        percentile(&parts[0], 0.5),
        percentile(&parts[1], 0.5),
        percentile(&parts[2], 0.5),
        percentile(&parts[3], 0.5)
    );

    // The share report, as GET /api/v1/stats/shares computes it.
    let mut totals = Vec::new();
    let mut parts: [Vec<f64>; 3] = Default::default();
    for i in 0..runs + 2 {
        let t0 = Instant::now();
        let g = store.share_graph(&q).map_err(|e| anyhow::anyhow!("{e}"))?;
        let t1 = Instant::now();
        let body = serde_json::to_string(&report_json(&g))?;
        let t2 = Instant::now();
        // Its two computations alone, for reference.
        let m = cascade::metrics(&g.edges, &g.shares);
        let t3 = Instant::now();
        let r = cascade::share_ratio(&g.shares, &g.edges, &g.public_visits_without_token);
        let t4 = Instant::now();
        if i == 0 {
            println!(
                "share report: {} shares, {} share-visits, {} cascades, max depth {}, {} pages in the ratio; JSON {} bytes",
                m.shares,
                m.share_visits,
                m.cascades,
                m.max_depth,
                r.len(),
                body.len()
            );
        }
        if i >= 2 {
            totals.push(ms(t2 - t0));
            parts[0].push(ms(t1 - t0));
            parts[1].push(ms(t3 - t2));
            parts[2].push(ms(t4 - t3));
        }
    }
    let totals = sorted(totals);
    let parts = parts.map(sorted);
    println!(
        "share report (share_graph + report_json: cascade::metrics, share_ratio, by channel + serialise), {runs} runs: median {:.1} ms, p95 {:.1} ms",
        percentile(&totals, 0.5),
        percentile(&totals, 0.95)
    );
    println!(
        "  parts (median): share_graph {:.1} ms, cascade::metrics {:.1} ms, share_ratio {:.1} ms",
        percentile(&parts[0], 0.5),
        percentile(&parts[1], 0.5),
        percentile(&parts[2], 0.5)
    );
    store.shutdown();
    drop(store);
    if temp {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
