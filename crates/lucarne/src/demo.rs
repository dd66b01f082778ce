//! `lucarne demo` and `lucarne generate`: synthetic traffic through the real pipeline.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use lucarne_core::synth::{Generator, SynthConfig, SyntheticHit};
use lucarne_server::ingest::offline::ingest_hits;
use lucarne_server::{AppState, ServerOptions};
use lucarne_store::duck::DEFAULT_QUEUE_CAPACITY;
use lucarne_store::meta::Site;
use tracing::{info, warn};

use crate::config::FileConfig;
use crate::{open_state, ServeArgs};

pub const DEMO_SITE: &str = "demo.lucarne.test";
pub const DEMO_LOGIN: &str = "demo@lucarne.test";

/// A plausible country for a synthetic visitor, stable per IP (demo data only: live
/// traffic gets its country from a GeoIP database or a trusted header, or none).
fn demo_country(h: &SyntheticHit) -> String {
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
    let mut x = (blake3::hash(h.ip.as_bytes()).as_bytes()[0] as u32 * total) / 256;
    for (c, w) in COUNTRIES {
        if x < w {
            return c.to_string();
        }
        x -= w;
    }
    "FR".into()
}

async fn ensure_site(state: &AppState, domain: &str) -> Result<Site> {
    if let Some(s) = state.meta.site_by_domain(domain).await? {
        return Ok(s);
    }
    Ok(state.meta.add_site(domain, "UTC").await?)
}

/// `lucarne generate`: fill the store with `events` synthetic hits over `days`.
pub async fn generate(
    backends: &crate::Backends,
    domain: &str,
    events: u64,
    days: u32,
    seed: u64,
) -> Result<()> {
    let state = open_state(backends, DEFAULT_QUEUE_CAPACITY, &ServerOptions::default()).await?;
    let site = ensure_site(&state, domain).await?;
    let days = days.max(1);
    // Filled to now: the count is about `events`, never cut short at the range's end.
    let mut cfg = SynthConfig::new(
        site.domain.clone(),
        Utc::now() - chrono::Duration::days(i64::from(days)),
        days,
        SynthConfig::visits_per_day_for(events, days),
    );
    cfg.seed = seed;
    let started = Instant::now();
    let report = ingest_hits(&state, &site, Generator::new(cfg), demo_country, 10_000)
        .await
        .map_err(|r| anyhow::anyhow!("storing synthetic events failed: {}", r.as_str()))?;
    let secs = started.elapsed().as_secs_f64();
    let events_store = state.events.clone();
    tokio::task::spawn_blocking(move || events_store.shutdown()).await?;
    println!(
        "stored {} events for {} in {:.1} s ({:.0} events/s), {} dropped",
        report.stored,
        site.domain,
        secs,
        report.stored as f64 / secs.max(1e-9),
        report.dropped
    );
    Ok(())
}

/// `lucarne demo`: a demo site with months of history (share cascades included: visit
/// tokens, share-button clicks and the visits they bring; conversions with goals and
/// revenue; survey answers), then live events every few seconds.
pub async fn run(args: ServeArgs, file: &FileConfig, days: u32) -> Result<()> {
    let mut args = args;
    if args.data.data.is_none() && file.data.is_none() {
        args.data.data = Some(PathBuf::from("./lucarne-demo"));
    }
    let limits = args.conn.limits(file)?;
    let crate::Started {
        listener,
        metrics,
        state,
    } = crate::start(&args, file).await?;
    let addr = listener.local_addr()?;
    let fresh = state.meta.site_by_domain(DEMO_SITE).await?.is_none();
    let site = ensure_site(&state, DEMO_SITE).await?;
    demo_conversions(&state, &site, fresh).await?;
    if fresh {
        let now = Utc::now();
        let mut cfg = SynthConfig::demo(DEMO_SITE, now);
        cfg.surveys = true;
        cfg.days = days.max(1);
        cfg.start = now - chrono::Duration::days(i64::from(cfg.days));
        println!(
            "Generating {} days of demo traffic for {DEMO_SITE} …",
            cfg.days
        );
        let report = ingest_hits(&state, &site, Generator::new(cfg), demo_country, 10_000)
            .await
            .map_err(|r| anyhow::anyhow!("storing demo events failed: {}", r.as_str()))
            .context("generating demo data")?;
        println!("Stored {} demo events.", report.stored);
    }
    let key = state.meta.create_api_key("demo").await?;
    let (login, password) = demo_login(&state, &site).await?;
    println!();
    println!("Lucarne demo is running at http://{addr}");
    println!("  site:    {DEMO_SITE}");
    println!("  open:    http://{addr}/sites/{DEMO_SITE} (log in with the account below)");
    println!("  login:   {login}");
    println!("  password: {password}");
    println!("  API key: {key}");
    println!(
        "  try:     curl -H 'Authorization: Bearer {key}' 'http://{addr}/api/v1/stats/breakdown?site_id={DEMO_SITE}&period=30d&property=visit:channel_group&metrics=visitors,visits,bounce_rate'"
    );
    println!(
        "  goals:   purchase, signup, the /checkout page (revenue in EUR, USD=0.92); survey answers: /api/v1/stats/surveys"
    );
    println!("Live demo events arrive every few seconds. Ctrl-C stops.");
    let trickle = tokio::spawn(trickle(state.clone(), site));
    let out = lucarne_server::serve_with_metrics(listener, metrics, state, limits).await;
    trickle.abort();
    out
}

/// The demo site's goals (`purchase`, `signup`, the `/checkout` page), created when
/// missing, and its money settings: revenue in EUR, US dollars at 0.92 (set on a fresh
/// site, or on one whose settings were never changed).
async fn demo_conversions(state: &AppState, site: &Site, fresh: bool) -> Result<()> {
    use lucarne_core::conversions::GoalKind;
    for (kind, value, name) in [
        ("event", "purchase", "Purchase"),
        ("event", "signup", "Sign-up"),
        ("page", "/checkout", "Checkout page"),
    ] {
        let goal = GoalKind::parse(kind, value).map_err(|m| anyhow::anyhow!(m))?;
        state.meta.create_goal(site.id, &goal, name).await?;
    }
    let mut o = state.meta.site_options(site.id).await?;
    if fresh || (o.currency == "EUR" && o.exchange_rates.is_empty()) {
        o.currency = "EUR".into();
        o.exchange_rates = lucarne_core::conversions::ExchangeRates::parse("USD=0.92")
            .map_err(|m| anyhow::anyhow!(m))?
            .to_text();
        state.meta.set_site_options(site.id, &o).await?;
        state.invalidate_sites();
    }
    Ok(())
}

/// The demo login: created on first start, given a fresh random password on every start
/// (only its hash is stored, so it cannot be shown again otherwise), owner of the demo site.
async fn demo_login(state: &AppState, site: &Site) -> Result<(String, String)> {
    use rand::RngCore;
    let mut raw = [0u8; 12];
    rand::rng().fill_bytes(&mut raw);
    let password: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    let pw = password.clone();
    let hash = tokio::task::spawn_blocking(move || lucarne_server::web::auth::hash_password(&pw))
        .await?
        .map_err(|_| anyhow::anyhow!("hashing the demo password failed"))?;
    let user = match state.meta.user_by_email(DEMO_LOGIN).await? {
        Some(u) => {
            state.meta.set_user_password(u.id, &hash).await?;
            u
        }
        None => state.meta.create_user(DEMO_LOGIN, &hash, None).await?,
    };
    state
        .meta
        .set_member(site.id, user.id, lucarne_store::meta::Role::Owner)
        .await?;
    Ok((user.email, password))
}

/// Live synthetic visits, a few a minute, stamped with the current time.
async fn trickle(state: Arc<AppState>, site: Site) {
    let now = Utc::now();
    let mut cfg = SynthConfig::new(site.domain.clone(), now, 3650, 20_000);
    cfg.seed = now.timestamp() as u64;
    cfg.shares = true;
    cfg.surveys = true;
    let start = Instant::now();
    for mut hit in Generator::new(cfg) {
        let due = (hit.ts - now).to_std().unwrap_or(Duration::ZERO);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            tokio::time::sleep(wait).await;
        }
        hit.ts = Utc::now();
        if let Err(r) = ingest_hits(&state, &site, std::iter::once(hit), demo_country, 1).await {
            warn!(message = "Demo event not stored.", reason = r.as_str());
            return;
        }
    }
    info!(message = "Demo trickle finished.");
}
