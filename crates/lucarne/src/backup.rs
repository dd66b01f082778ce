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
    if b.events.is_some() || b.meta.is_some() {
        anyhow::bail!(
            "`lucarne backup` copies the embedded stores (DuckDB, SQLite); ClickHouse and \
             PostgreSQL are backed up with their own tools (BACKUP, pg_dump)"
        );
    }
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
    let socket = b.dir.join(ADMIN_SOCKET);
    let result = match tokio::net::UnixStream::connect(&socket).await {
        Ok(stream) => through_server(stream, &to).await,
        Err(_) => here(b, &to).await,
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
async fn through_server(mut stream: tokio::net::UnixStream, to: &Path) -> Result<BackupReport> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = serde_json::to_vec(&serde_json::json!({ "to": to }))?;
    let head = format!(
        "POST /backup HTTP/1.1\r\nHost: lucarne-admin\r\nContent-Type: application/json\r\n\
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
    let ok = head.starts_with("HTTP/1.1 200");
    if !ok {
        let msg = serde_json::from_str::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| body.to_string());
        anyhow::bail!("the server could not take the backup: {msg}");
    }
    serde_json::from_str(body).context("reading the server's report")
}

/// No server: open the stores and take it here.
async fn here(b: &Backends, to: &Path) -> Result<BackupReport> {
    let events = DuckEvents::open(&b.dir, 1024).with_context(|| {
        format!(
            "opening {} (a server running without its admin socket holds it: stop it first)",
            b.dir.join(EVENTS_FILE).display()
        )
    })?;
    let events: Arc<dyn EventStore> = Arc::new(events);
    let meta = MetaStore::open(&b.dir).await?;
    let out = lucarne_server::backup::backup(events.clone(), &meta, to).await;
    let e = events.clone();
    tokio::task::spawn_blocking(move || e.shutdown()).await?;
    meta.close().await;
    out
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
