//! `lucarne backup --to DIR` and `lucarne restore DIR --data NEW` (embedded stores).
//! A running server takes the backup itself, asked through its admin socket
//! (`server::backup`); otherwise this process opens the stores and takes it. A progress
//! bar follows the copy's size against the store's.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use lucarne_server::backup::{BackupReport, ADMIN_SOCKET, EVENTS_FILE, MANIFEST_FILE, META_FILE};
use lucarne_store::duck::DuckEvents;
use lucarne_store::meta::MetaStore;
use lucarne_store::EventStore;

use crate::Backends;

fn bytes_bar(total: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total.max(1));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} (≈, compressed anew) {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// Absolute, so the server (another working directory) writes where the user meant.
fn absolute(dir: &Path) -> Result<PathBuf> {
    if dir.is_absolute() {
        return Ok(dir.to_path_buf());
    }
    Ok(std::env::current_dir()?.join(dir))
}

pub async fn backup(b: &Backends, to: &Path) -> Result<()> {
    embedded_only(b, "backup")?;
    let to = absolute(to)?;
    lucarne_server::backup::prepare_dir(&to)?;
    let source = b.dir.join(EVENTS_FILE);
    let total = std::fs::metadata(&source).map(|m| m.len()).unwrap_or(0);
    let bar = bytes_bar(total, "copying events");
    let watch = {
        let (bar, file) = (bar.clone(), to.join(EVENTS_FILE));
        tokio::spawn(async move {
            loop {
                let n = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
                bar.set_position(n.min(bar.length().unwrap_or(n)));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let result = match admin_socket(&b.dir).await {
        Some(stream) => through_server(stream, &to).await,
        None => here(b, &to).await,
    };
    watch.abort();
    bar.finish_and_clear();
    let report = result?;
    println!(
        "backup in {}: {} events ({} MB), metadata ({} KB), in {:.1} s; taken at {} by Lucarne {}",
        to.display(),
        report.events,
        report.events_bytes / 1_000_000,
        report.meta_bytes / 1_000,
        report.seconds,
        report.taken_at,
        report.lucarne
    );
    println!(
        "restore with: lucarne restore {} --data NEW_DIRECTORY",
        to.display()
    );
    Ok(())
}

/// The running server takes it: `POST /backup` on its admin socket.
async fn through_server(stream: tokio::net::UnixStream, to: &Path) -> Result<BackupReport> {
    let answer = admin_post(stream, "/backup", &serde_json::json!({ "to": to }))
        .await
        .context("the server could not take the backup")?;
    serde_json::from_value(answer).context("reading the server's report")
}

/// The running server's admin socket, if a server is running on `dir`.
async fn admin_socket(dir: &Path) -> Option<tokio::net::UnixStream> {
    tokio::net::UnixStream::connect(dir.join(ADMIN_SOCKET))
        .await
        .ok()
}

/// `POST path` with a JSON body on the admin socket; the JSON answer of a 200, or the
/// answer's message as the error.
async fn admin_post(
    mut stream: tokio::net::UnixStream,
    path: &str,
    body: &serde_json::Value,
) -> Result<serde_json::Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::to_vec(body)?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: lucarne-admin\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .await
        .context("reading the server's answer")?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the server's answer has no body")?;
    let json: serde_json::Value = serde_json::from_str(body).unwrap_or(serde_json::Value::Null);
    if !head.starts_with("HTTP/1.1 200") {
        let msg = json["message"]
            .as_str()
            .map_or_else(|| body.to_string(), str::to_string);
        anyhow::bail!("{msg}");
    }
    Ok(json)
}

/// The embedded stores opened here (no server running), for `f`, then closed.
async fn with_stores<T>(
    b: &Backends,
    f: impl AsyncFnOnce(Arc<dyn EventStore>, &MetaStore) -> Result<T>,
) -> Result<T> {
    let events = DuckEvents::open(&b.dir, 1024).with_context(|| {
        format!(
            "opening {} (a server running without its admin socket holds it: stop it first)",
            b.dir.join(EVENTS_FILE).display()
        )
    })?;
    let events: Arc<dyn EventStore> = Arc::new(events);
    let meta = MetaStore::open(&b.dir).await?;
    let out = f(events.clone(), &meta).await;
    tokio::task::spawn_blocking(move || events.shutdown()).await?;
    meta.close().await;
    out
}

fn embedded_only(b: &Backends, what: &str) -> Result<()> {
    if b.events.is_some() || b.meta.is_some() {
        anyhow::bail!(
            "`lucarne {what}` works on the embedded stores (DuckDB, SQLite); with ClickHouse \
             and PostgreSQL, use their own clients"
        );
    }
    Ok(())
}

async fn site_id(meta: &MetaStore, domain: &str) -> Result<u32> {
    Ok(meta
        .site_by_domain(domain)
        .await?
        .with_context(|| format!("no site `{domain}`"))?
        .id)
}

/// `lucarne site export DOMAIN --to FILE`: the running server writes the CSV in its data
/// directory and this command moves it; with no server, it is written here.
pub async fn export_site(b: &Backends, domain: &str, to: &Path) -> Result<()> {
    embedded_only(b, "site export")?;
    if to.exists() {
        anyhow::bail!("{} exists already", to.display());
    }
    let rows = match admin_socket(&b.dir).await {
        Some(s) => {
            let answer = admin_post(s, "/site/export", &serde_json::json!({ "domain": domain }))
                .await
                .context("the server could not export the site")?;
            let file = PathBuf::from(answer["file"].as_str().unwrap_or_default());
            if std::fs::rename(&file, to).is_err() {
                std::fs::copy(&file, to).with_context(|| format!("writing {}", to.display()))?;
                std::fs::remove_file(&file)?;
            }
            answer["rows"].as_u64().unwrap_or(0)
        }
        None => {
            with_stores(b, async |events, meta| {
                let id = site_id(meta, domain).await?;
                lucarne_server::backup::export_site(events, id, to).await
            })
            .await?
        }
    };
    println!("{rows} events of {domain} written to {}", to.display());
    Ok(())
}

/// `lucarne site delete DOMAIN --yes`, through the running server or here.
pub async fn delete_site(b: &Backends, domain: &str) -> Result<()> {
    embedded_only(b, "site delete")?;
    let events = match admin_socket(&b.dir).await {
        Some(s) => admin_post(s, "/site/delete", &serde_json::json!({ "domain": domain }))
            .await
            .context("the server could not delete the site")?["events"]
            .as_u64()
            .unwrap_or(0),
        None => {
            with_stores(b, async |events, meta| {
                let id = site_id(meta, domain).await?;
                lucarne_server::backup::delete_site(events, meta, id).await
            })
            .await?
        }
    };
    println!("deleted {domain}: its {events} events, links, goals, members, imports and settings");
    Ok(())
}

/// No server: open the stores and take it here.
async fn here(b: &Backends, to: &Path) -> Result<BackupReport> {
    with_stores(b, async |events, meta| {
        lucarne_server::backup::backup(events, meta, to).await
    })
    .await
}

/// Copy a backup into a new data directory, then open it (migrating it if the backup
/// is older) and print what it holds.
pub async fn restore(from: &Path, data: &Path) -> Result<()> {
    let manifest: BackupReport = serde_json::from_slice(
        &std::fs::read(from.join(MANIFEST_FILE))
            .with_context(|| format!("{} is not a Lucarne backup", from.display()))?,
    )
    .context("reading the backup's manifest")?;
    lucarne_server::backup::prepare_dir(data).context("restore goes into a new data directory")?;
    for f in [EVENTS_FILE, META_FILE] {
        let src = from.join(f);
        let total = std::fs::metadata(&src)
            .with_context(|| format!("{} is missing", src.display()))?
            .len();
        let bar = bytes_bar(total, &format!("restoring {f}"));
        let mut input = std::fs::File::open(&src)?;
        let mut output = std::fs::File::create(data.join(f))?;
        std::io::copy(&mut bar.wrap_read(&mut input), &mut output)?;
        output.sync_all()?;
        bar.finish_and_clear();
    }
    let events = DuckEvents::open(data, 1024).context("opening the restored events")?;
    let count = events.scalar_i64(
        "SELECT (SELECT count(*) FROM site_events) + (SELECT count(*) FROM link_events)",
    )?;
    events.shutdown();
    let meta = MetaStore::open(data).await?;
    let sites = meta.sites().await?;
    meta.close().await;
    if u64::try_from(count).unwrap_or(0) != manifest.events {
        anyhow::bail!(
            "the restored store holds {count} events, the backup's manifest {}",
            manifest.events
        );
    }
    println!(
        "restored into {}: {count} events, {} sites ({}), from the backup taken at {} by Lucarne {}",
        data.display(),
        sites.len(),
        sites
            .iter()
            .map(|s| s.domain.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        manifest.taken_at,
        manifest.lucarne
    );
    Ok(())
}
