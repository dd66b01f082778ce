//! `lucarne backup`: a consistent copy of the embedded stores, taken while the server
//! runs (ARCHITECTURE.md, "Backups"). The running server takes it (it holds DuckDB's
//! lock), asked through its admin socket, `DATA/admin.sock`: a Unix socket only the
//! data directory's owner can open, serving [`admin_app`]. With no server running, the
//! command opens the stores and calls [`backup`] itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use lucarne_store::meta::MetaStore;
use lucarne_store::EventStore;
use serde::{Deserialize, Serialize};

use crate::state::AppState;

/// The admin socket's file name in the data directory.
pub const ADMIN_SOCKET: &str = "admin.sock";
/// The events and metadata files of a backup (the same names as in a data directory).
pub const EVENTS_FILE: &str = "events.duckdb";
pub const META_FILE: &str = "meta.sqlite";
/// What a backup holds and when it was taken (JSON).
pub const MANIFEST_FILE: &str = "lucarne-backup.json";

/// What was copied, written as the backup's manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackupReport {
    /// The Lucarne version that took it.
    pub lucarne: String,
    /// When the copy's snapshot was taken (RFC 3339, UTC).
    pub taken_at: String,
    /// Events in the copy (site events and short-link events).
    pub events: u64,
    pub events_bytes: u64,
    pub meta_bytes: u64,
    pub seconds: f64,
}

/// Copy the events store, then the metadata store, into `dir` (created; it must not
/// exist or be empty), and write the manifest. Every event acknowledged before the call
/// is in the copy. Events first: a site created meanwhile is in the metadata copy (a
/// site deleted meanwhile may leave its events, which no report shows).
pub async fn backup(
    events: Arc<dyn EventStore>,
    meta: &MetaStore,
    dir: &Path,
) -> anyhow::Result<BackupReport> {
    use anyhow::Context;
    prepare_dir(dir)?;
    let started = Instant::now();
    let taken_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = dir.join(EVENTS_FILE);
    let copied = {
        let to = to.clone();
        tokio::task::spawn_blocking(move || events.backup_to(&to))
            .await
            .context("the copy stopped")?
            .context("copying the events store")?
    };
    let meta_to = dir.join(META_FILE);
    meta.backup_to(&meta_to)
        .await
        .context("copying the metadata store")?;
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let report = BackupReport {
        lucarne: env!("CARGO_PKG_VERSION").to_string(),
        taken_at,
        events: copied,
        events_bytes: size(&to),
        meta_bytes: size(&meta_to),
        seconds: started.elapsed().as_secs_f64(),
    };
    let manifest = serde_json::to_vec_pretty(&report)?;
    std::fs::write(dir.join(MANIFEST_FILE), manifest).context("writing the manifest")?;
    for f in [&to, &meta_to, &dir.join(MANIFEST_FILE)] {
        std::fs::File::open(f)
            .and_then(|f| f.sync_all())
            .with_context(|| format!("syncing {}", f.display()))?;
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    tracing::info!(
        message = "Backup taken.",
        dir = %dir.display(),
        events = report.events,
        seconds = report.seconds
    );
    Ok(report)
}

/// `dir` exists and is empty afterwards (created if missing).
pub fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).with_context(|| format!("{}", dir.display()))?;
        if entries.next().is_some() {
            anyhow::bail!(
                "{} is not empty: a backup goes into a new directory",
                dir.display()
            );
        }
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct BackupRequest {
    to: PathBuf,
}

/// The admin socket's routes: `POST /backup {"to": "/absolute/dir"}`,
/// `POST /site/export {"domain": D}` (answers the CSV file it wrote in the data
/// directory, for the command to move) and `POST /site/delete {"domain": D}`.
pub fn admin_app(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/backup", post(take))
        .route("/site/export", post(export))
        .route("/site/delete", post(delete))
        .with_state(state)
}

/// Delete a site everywhere: the metadata first (its links, goals, members, imports and
/// settings go with it; from then on its events are refused as an unknown site's), then
/// its events and rollups. The events deleted.
pub async fn delete_site(
    events: Arc<dyn EventStore>,
    meta: &MetaStore,
    site_id: u32,
) -> anyhow::Result<u64> {
    use anyhow::Context;
    meta.delete_site(site_id)
        .await
        .context("deleting the site's metadata")?;
    let n = tokio::task::spawn_blocking(move || events.delete_site_events(site_id, None))
        .await
        .context("the deletion stopped")?
        .context("deleting the site's events (the site is gone from every page)")?;
    Ok(n)
}

/// One site's events as CSV in a new file at `to` ([`EventStore::export_site_csv`]).
pub async fn export_site(
    events: Arc<dyn EventStore>,
    site_id: u32,
    to: &Path,
) -> anyhow::Result<u64> {
    use anyhow::Context;
    let to = to.to_path_buf();
    Ok(
        tokio::task::spawn_blocking(move || events.export_site_csv(site_id, &to))
            .await
            .context("the export stopped")??,
    )
}

#[derive(Deserialize)]
struct SiteRequest {
    domain: String,
}

fn failed(status: StatusCode, error: &str, message: String) -> Response {
    (
        status,
        Json(serde_json::json!({"error": error, "message": message})),
    )
        .into_response()
}

/// The site named in a request, or the answer to give.
async fn site_of(state: &AppState, domain: &str) -> Result<lucarne_store::meta::Site, Response> {
    match state.meta.site_by_domain(domain).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(failed(
            StatusCode::NOT_FOUND,
            "unknown_site",
            format!("no site `{domain}`"),
        )),
        Err(e) => Err(failed(
            StatusCode::SERVICE_UNAVAILABLE,
            "meta",
            e.to_string(),
        )),
    }
}

async fn export(State(state): State<Arc<AppState>>, Json(req): Json<SiteRequest>) -> Response {
    let site = match site_of(&state, &req.domain).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Some(dir) = state.data_dir.clone() else {
        return failed(
            StatusCode::CONFLICT,
            "no_data_dir",
            "no data directory".into(),
        );
    };
    let file = dir.join(format!(
        "export-{}-{:08x}.csv",
        site.id,
        rand::random::<u32>()
    ));
    match export_site(state.events.clone(), site.id, &file).await {
        Ok(rows) => Json(serde_json::json!({"file": file, "rows": rows})).into_response(),
        Err(e) => {
            let _ = std::fs::remove_file(&file);
            failed(
                StatusCode::UNPROCESSABLE_ENTITY,
                "export_failed",
                format!("{e:#}"),
            )
        }
    }
}

async fn delete(State(state): State<Arc<AppState>>, Json(req): Json<SiteRequest>) -> Response {
    let site = match site_of(&state, &req.domain).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let result = delete_site(state.events.clone(), &state.meta, site.id).await;
    state.invalidate_sites();
    match result {
        Ok(events) => {
            tracing::info!(
                message = "Site deleted (command line).",
                site_id = site.id,
                events
            );
            Json(serde_json::json!({"events": events})).into_response()
        }
        Err(e) => failed(
            StatusCode::UNPROCESSABLE_ENTITY,
            "delete_failed",
            format!("{e:#}"),
        ),
    }
}

async fn take(State(state): State<Arc<AppState>>, Json(req): Json<BackupRequest>) -> Response {
    if !req.to.is_absolute() {
        return (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "bad_request", "message": "`to` must be an absolute path"})),
        )
            .into_response();
    }
    match backup(state.events.clone(), &state.meta, &req.to).await {
        Ok(report) => (StatusCode::OK, Json(report)).into_response(),
        Err(e) => {
            tracing::warn!(message = "Backup failed.", error = %format!("{e:#}"));
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(serde_json::json!({"error": "backup_failed", "message": format!("{e:#}")})),
            )
                .into_response()
        }
    }
}

/// Serve [`admin_app`] on `DATA/admin.sock` (a stale socket file from a crash is
/// replaced; the file is readable and writable by its owner only), until the task is
/// aborted. `None` when the socket cannot be made (the server runs without it).
pub fn spawn_admin_socket(
    state: Arc<AppState>,
    data: &Path,
) -> Option<tokio::task::JoinHandle<()>> {
    use std::os::unix::fs::PermissionsExt;
    let path = data.join(ADMIN_SOCKET);
    let _ = std::fs::remove_file(&path);
    let listener = match tokio::net::UnixListener::bind(&path) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(message = "No admin socket: `lucarne backup` needs the server stopped.", path = %path.display(), error = %e);
            return None;
        }
    };
    if let Err(e) = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
        tracing::warn!(message = "Could not restrict the admin socket.", error = %e);
    }
    let router = admin_app(state);
    Some(tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(message = "The admin socket stopped.", error = %e);
        }
    }))
}
