//! Benchmark helpers: a no-op HTTP endpoint on the same stack as Lucarne (the ceiling
//! for ingest), and the dashboard query benchmark over a real events store.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use lucarne_core::stats::{buckets, utc_range, Interval, Property, ReportQuery, Utc0};
use lucarne_store::duck::DuckEvents;
use lucarne_store::EventStore;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve `POST /api/event` answering 202 without doing anything.
    Noop {
        #[arg(long, default_value = "127.0.0.1:8099")]
        listen: String,
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
        /// Site id (1 for the first site).
        #[arg(long, default_value_t = 1)]
        site_id: u32,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// Time the dashboard's overview page (every query and the HTML, as served to a
    /// logged-in user) and weigh it gzipped, with its stylesheet and script.
    Page {
        #[arg(long)]
        data: PathBuf,
        /// The site's domain.
        #[arg(long)]
        site: String,
        #[arg(long, default_value_t = 20)]
        runs: usize,
        /// The page's query string; `date=` (the last day with events) is added when absent.
        #[arg(long, default_value = "period=30d")]
        query: String,
    },
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Noop { listen } => noop(&listen),
        Cmd::Query {
            data,
            site_id,
            runs,
        } => query(&data, site_id, runs),
        Cmd::Writer { batches } => writer(batches),
        Cmd::Page {
            data,
            site,
            runs,
            query,
        } => page(&data, &site, runs, &query),
    }
}

fn noop(listen: &str) -> Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let app = axum::Router::new().route(
            "/api/event",
            axum::routing::post(|_body: axum::body::Bytes| async {
                (axum::http::StatusCode::ACCEPTED, "{\"ok\":true}")
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
        entry_page: "/articles/1".into(),
        referrer: "android-app://com.whatsapp".into(),
        source: "WhatsApp".into(),
        utm_source: String::new(),
        utm_medium: String::new(),
        utm_campaign: String::new(),
        utm_term: String::new(),
        utm_content: String::new(),
        click_id: String::new(),
        channel: "whatsapp".into(),
        channel_group: ChannelGroup::PrivateMessage,
        evidence: Evidence::AndroidAppReferrer,
        device: "mobile".into(),
        browser: "Chrome".into(),
        os: "Android".into(),
        country: "FR".into(),
        screen_width: 390,
        props: Vec::new(),
        revenue: None,
        token: i as u64 + 1,
        parent_token: 0,
        parent_session: 0,
        generation: 0,
        visit_share_channel: String::new(),
        token_status: lucarne_core::token::TokenStatus::None,
        share_channel: String::new(),
        link_id: 0,
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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn query(data: &std::path::Path, site_id: u32, runs: usize) -> Result<()> {
    let store = DuckEvents::open(data, 16).map_err(|e| anyhow::anyhow!("{e}"))?;
    let total = store.count().map_err(|e| anyhow::anyhow!("{e}"))?;
    let last: i64 = store
        .scalar_i64(&format!(
            "SELECT epoch_us(max(ts)) FROM events WHERE site_id = {site_id}"
        ))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
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
        with_sessions: true,
        with_shares: false,
    };
    let q_plain = ReportQuery {
        with_sessions: false,
        ..q.clone()
    };
    let in_range: i64 = store
        .scalar_i64(&format!(
            "SELECT count(*)::BIGINT FROM events WHERE site_id = {site_id} AND ts >= make_timestamp({}) AND ts < make_timestamp({})",
            from.timestamp_micros(),
            to.timestamp_micros()
        ))
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
    let bytes = store.disk_bytes();
    println!("events in store: {total}; in the 30-day window: {in_range}");
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

fn gzip_len(bytes: &[u8]) -> Result<usize> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    Ok(enc.finish()?.len())
}

fn page(data: &std::path::Path, domain: &str, runs: usize, query: &str) -> Result<()> {
    use lucarne_server::web::auth::Access;
    use lucarne_server::web::dashboard;
    use lucarne_server::{AppState, ServerOptions};
    use lucarne_store::meta::{MetaStore, Role};
    use std::sync::Arc;

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
        let total = store.count().map_err(|e| anyhow::anyhow!("{e}"))?;
        let last: i64 = store
            .scalar_i64(&format!(
                "SELECT epoch_us(max(ts)) FROM events WHERE site_id = {}",
                site.id
            ))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
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
            let q = r.query(r.from, r.to);
            let plain = ReportQuery {
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
