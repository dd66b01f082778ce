//! Lucarne's HTTP layer: ingest, stats API, health, metrics, scripts.
//!
//! Invariant: this is the only crate that knows HTTP and the JSON wire format.

pub mod api;
pub mod assets;
pub mod backup;
pub mod error;
pub mod ingest;
pub mod limits;
pub mod links;
pub mod mail;
pub mod metrics;
pub mod net;
pub mod notify;
pub mod previews;
pub mod state;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, Method};
use axum::routing::{get, post};
use axum::Router;
use chrono::Utc;
use tower_http::cors::{Any, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tracing::info;

pub use state::{AppState, ServerOptions};

/// The whole service as a router (tests drive it with `oneshot`).
pub fn app(state: Arc<AppState>) -> Router {
    let ingest_cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(86400));
    let ingest = Router::new()
        .route("/api/event", post(ingest::event))
        .route("/api/survey", get(api::surveys::options))
        .layer(ingest_cors);
    Router::new()
        .merge(ingest)
        .route("/api/health", get(api::health))
        .route("/api/ready", get(api::ready))
        .route("/metrics", get(api::metrics))
        .route("/api/v1/stats/aggregate", get(api::stats::aggregate))
        .route("/api/v1/stats/timeseries", get(api::stats::timeseries))
        .route("/api/v1/stats/breakdown", get(api::stats::breakdown))
        .route(
            "/api/v1/stats/realtime/visitors",
            get(api::stats::realtime_visitors),
        )
        .route(
            "/api/v2/query",
            post(api::v2::query).layer(axum::extract::DefaultBodyLimit::max(api::v2::MAX_BODY)),
        )
        .route("/api/v1/stats/shares", get(api::shares::shares))
        .route("/api/v1/stats/cascades", get(api::shares::cascades))
        .route(
            "/api/v1/stats/cascades/{token}",
            get(api::shares::cascade_of_token),
        )
        .route("/api/v1/stats/previews", get(previews::report::previews))
        .route("/api/v1/stats/cards", get(previews::cards::cards))
        .route("/og/{domain}", get(previews::og::og_image))
        .route("/js/script.js", get(assets::tracker))
        .route("/js/share.js", get(assets::share))
        .route("/js/survey.js", get(assets::survey))
        .route("/js/engagement.js", get(assets::engagement))
        .route("/js/events.js", get(assets::events))
        .route("/api/v1/stats/surveys", get(api::surveys::report))
        .route("/api/openapi.json", get(assets::openapi))
        .merge(web::routes(state.clone()))
        .merge(api::links::routes())
        .merge(api::conversions::routes())
        .merge(api::annotations::routes())
        .merge(api::funnels::routes())
        .merge(api::webhooks::routes())
        // The preview-card checks' cache and request limit, shared by the API and the
        // dashboard.
        .layer(axum::Extension(previews::cards::Cards::new()))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        // Pages load scripts and styles only from this origin, never inline, and cannot
        // be framed (but a shared page its site lets others embed, `web::embed`). (Harmless on JSON and on the tracker script, which other pages embed.)
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ))
        // `DENY` unless a shared page was allowed a frame (`web::embed`).
        .layer(axum::middleware::map_response(web::embed::deny_framing))
        // Short-link redirects sit outside the header layers above: the hot path answers
        // a bare 302 (their HTML pages set the same headers themselves). Any other path
        // is a slug on a custom short domain, or 404.
        .route("/l/{slug}", get(links::redirect))
        .fallback(links::short_domain)
        .with_state(state)
}

/// `/metrics` alone, for a listener of its own (`--metrics-listen`, e.g. on a private
/// address scraped by Prometheus while the main listener faces the internet).
pub fn metrics_app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(api::metrics_page))
        .with_state(state)
}

/// The dashboard's Content-Security-Policy: scripts and styles from this origin only,
/// never inline; no framing.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Periodic upkeep: salt rotation, forgetting idle visits, and (hourly) deleting events
/// older than each site's retention period.
pub fn spawn_maintenance(state: Arc<AppState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        let mut last_retention: Option<std::time::Instant> = None;
        loop {
            tick.tick().await;
            let now = Utc::now();
            state.refresh_salts(now).await;
            // Clicks counted for click limits are saved, and links edited elsewhere (the
            // CLI, other nodes) picked up.
            state.links.flush_clicks(&state).await;
            if let Err(e) = state.links.reload(&state).await {
                tracing::warn!(message = "Could not reload links.", error = %e);
            }
            let live = state.sessions.sweep(now);
            state.metrics.sessions.set(live as i64);
            state.metrics.visit_bytes.set(state.sessions.bytes() as i64);
            state
                .metrics
                .visit_evictions
                .set(state.sessions.evictions() as i64);
            if last_retention.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                last_retention = Some(std::time::Instant::now());
                apply_retention(&state, now).await;
            }
        }
    })
}

/// How often the rollup task looks for days to build (ARCHITECTURE.md, "Reports at
/// publisher scale"), and how long it waits at start (the server answers first).
const ROLLUP_EVERY: Duration = Duration::from_secs(60);
const ROLLUP_FIRST: Duration = Duration::from_secs(5);

/// The rollup task: every minute, build the closed days the loader marked (or the whole
/// site after a time-zone change), one UTC day per blocking call, newest first, until none
/// is left or `stop` is set. Reports read raw events for a day until it is built.
pub fn spawn_rollups(
    state: Arc<AppState>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ROLLUP_EVERY);
        tick.reset_after(ROLLUP_FIRST);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let sites: Vec<(u32, chrono_tz::Tz)> = match state.meta.sites().await {
                Ok(s) => s
                    .into_iter()
                    .map(|s| (s.id, s.timezone.parse().unwrap_or(chrono_tz::UTC)))
                    .collect(),
                Err(e) => {
                    tracing::warn!(message = "Rollups: cannot list sites.", error = %e);
                    continue;
                }
            };
            // One day a blocking call: a stop waits for the day being built, no more.
            while !*stop.borrow() {
                let events = state.events.clone();
                let sites = sites.clone();
                let started = std::time::Instant::now();
                match tokio::task::spawn_blocking(move || events.maintain_rollups(&sites, 1)).await
                {
                    Ok(Ok(0)) => break,
                    Ok(Ok(n)) => {
                        state.metrics.rollup_days.inc_by(n as u64);
                        tracing::debug!(
                            message = "Rollups: built a day.",
                            elapsed_ms = started.elapsed().as_millis() as u64
                        );
                    }
                    Ok(Err(e)) => {
                        state.metrics.rollup_errors.inc();
                        tracing::warn!(message = "Rollups: a day failed to build; reports read it raw.", error = %e);
                        break;
                    }
                    Err(e) => {
                        state.metrics.rollup_errors.inc();
                        tracing::warn!(message = "Rollups: task failed.", error = %e);
                        break;
                    }
                }
            }
        }
    })
}

/// Delete every site's events older than its retention period (if it has one).
pub async fn apply_retention(state: &Arc<AppState>, now: chrono::DateTime<Utc>) -> u64 {
    let sites = match state.meta.sites().await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(message = "Retention: cannot list sites.", error = %e);
            return 0;
        }
    };
    let mut deleted = 0;
    for site in sites {
        let days = match state.site_options(site.id).await {
            Ok(o) => o.retention_days,
            Err(e) => {
                tracing::warn!(message = "Retention: cannot read settings.", site_id = site.id, error = %e);
                continue;
            }
        };
        let Some(days) = days else {
            continue;
        };
        let before = now - chrono::Duration::days(i64::from(days));
        let events = state.events.clone();
        let id = site.id;
        match tokio::task::spawn_blocking(move || events.delete_site_events(id, Some(before))).await
        {
            Ok(Ok(n)) => {
                if n > 0 {
                    info!(
                        message = "Retention: deleted old events.",
                        site_id = id,
                        days,
                        events = n
                    );
                }
                deleted += n;
            }
            Ok(Err(e)) => {
                tracing::warn!(message = "Retention: delete failed.", site_id = id, error = %e)
            }
            Err(e) => tracing::warn!(message = "Retention: task failed.", site_id = id, error = %e),
        }
    }
    deleted
}

/// How long [`drain`] waits for queued short-link events.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve until SIGINT/SIGTERM (connections under `limits`, see [`net`]), then drain the
/// connections, the writer, and checkpoint.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    limits: net::ConnLimits,
) -> anyhow::Result<()> {
    serve_with_metrics(listener, None, state, limits).await
}

/// [`serve`], with `/metrics` on a listener of its own when `metrics` is given (the main
/// listener then answers 404 there: [`MetricsAccess::separate_listener`]).
///
/// [`MetricsAccess::separate_listener`]: state::MetricsAccess
pub async fn serve_with_metrics(
    listener: tokio::net::TcpListener,
    metrics_listener: Option<tokio::net::TcpListener>,
    state: Arc<AppState>,
    limits: net::ConnLimits,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    info!(message = "Lucarne is listening.", %addr);
    let metrics_task = match metrics_listener {
        Some(l) => {
            let at = l.local_addr()?;
            info!(message = "Metrics are served on their own address.", addr = %at);
            let router = metrics_app(state.clone());
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, router).await {
                    tracing::error!(message = "The metrics listener stopped.", error = %e);
                }
            }))
        }
        None => None,
    };
    let admin = state
        .data_dir
        .clone()
        .and_then(|d| backup::spawn_admin_socket(state.clone(), &d).map(|t| (t, d)));
    let maintenance = spawn_maintenance(state.clone());
    // Digests, alerts and webhooks (`notify`), off the ingest path.
    let notifications = notify::spawn(state.clone(), state.notify_every);
    let (rollups_stop, stop_rx) = tokio::sync::watch::channel(false);
    let rollups = spawn_rollups(state.clone(), stop_rx);
    let shared = ingest::shared::spawn_sync(state.clone());
    let links = links::spawn_version_watch(state.clone());
    let metrics = net::ConnMetrics {
        open: state.metrics.connections_open.clone(),
        closed: state.metrics.connections_closed.clone(),
    };
    // Listening, stores open, background tasks started: ready (systemd's Type=notify).
    notify_systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&format!("listening on {addr}")),
    ]);
    let stop = async {
        shutdown_signal().await;
        notify_systemd(&[
            sd_notify::NotifyState::Stopping,
            sd_notify::NotifyState::Status("draining connections and the writer"),
        ]);
    };
    net::serve(listener, app(state.clone()), limits, metrics, stop).await?;
    // Every request has been answered: store what only this node still holds.
    drain(&state).await;
    maintenance.abort();
    notifications.abort();
    if let Some(t) = metrics_task {
        t.abort();
    }
    if let Some((t, dir)) = admin {
        t.abort();
        let _ = std::fs::remove_file(dir.join(backup::ADMIN_SOCKET));
    }
    links.abort();
    // A day being built finishes (seconds at most) before the store stops.
    let _ = rollups_stop.send(true);
    if tokio::time::timeout(Duration::from_secs(30), rollups)
        .await
        .is_err()
    {
        tracing::warn!(message = "Rollups: still building at shutdown.");
    }
    if let Some(s) = shared {
        s.abort();
    }
    info!(message = "Shutting down: committing queued events and checkpointing.");
    let events = state.events.clone();
    tokio::task::spawn_blocking(move || events.shutdown()).await?;
    state.meta.close().await;
    info!(message = "Stopped cleanly.");
    Ok(())
}

/// After the last request was answered: store the short-link events still queued and
/// save the click counts kept in memory, before the events store stops. Acknowledged
/// pageviews are already durable; these are the two things only this node holds.
pub async fn drain(state: &Arc<AppState>) {
    if !state.link_events.drain(DRAIN_TIMEOUT).await {
        tracing::warn!(message = "Some short-link events were still queued at shutdown.");
    }
    state.links.flush_clicks(state).await;
}

/// Tell systemd how the server stands (`READY=1`, `STOPPING=1`, a status line) when it
/// runs the unit as `Type=notify`; nothing happens without `NOTIFY_SOCKET`.
fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(false, states) {
        tracing::warn!(message = "Could not notify systemd.", error = %e);
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
