//! `lucarne import-log FILE --site DOMAIN [--pageviews]`: link previews (and optionally
//! pageviews) from an nginx/Apache combined access log, plain or gzip-compressed (told
//! apart by the file's first bytes).
//!
//! A reader thread streams the file line by line (each line cut at
//! `access_log::MAX_LINE` bytes, so memory stays bounded whatever the file holds) into a
//! small channel; the async side parses, classifies and stores through
//! `server::previews::import`. A progress bar on standard error follows the bytes read
//! from the file; the summary goes to standard output. Only IO errors (the file, the
//! decompression, the store) make the command fail: malformed lines are counted.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use lucarne_core::access_log::MAX_LINE;
use lucarne_server::previews::import::{ImportOptions, ImportReport, LogImport};
use lucarne_server::ServerOptions;
use lucarne_store::duck::DEFAULT_QUEUE_CAPACITY;
use tokio::sync::mpsc;

use crate::config::FileConfig;

/// Lines handed from the reader thread at a time.
const CHUNK: usize = 1_000;

/// Counts the bytes read from the file (before decompression), for the progress bar.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Read one line into `buf` (without its newline), keeping at most `max + 1` bytes of it
/// (a longer line is still consumed to its end). `false` at the end of the input.
fn read_line_capped(r: &mut dyn BufRead, buf: &mut Vec<u8>, max: usize) -> std::io::Result<bool> {
    buf.clear();
    let mut any = false;
    loop {
        let (done, used) = {
            let available = match r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if available.is_empty() {
                return Ok(any);
            }
            any = true;
            let (part, done, used) = match available.iter().position(|b| *b == b'\n') {
                Some(i) => (&available[..i], true, i + 1),
                None => (available, false, available.len()),
            };
            let room = (max + 1).saturating_sub(buf.len());
            buf.extend_from_slice(&part[..part.len().min(room)]);
            (done, used)
        };
        r.consume(used);
        if done {
            return Ok(true);
        }
    }
}

/// Open `path` as a line reader: gzip when it starts with the gzip magic bytes.
fn open(path: &Path, read: Arc<AtomicU64>) -> Result<(Box<dyn BufRead + Send>, bool)> {
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut raw = BufReader::with_capacity(256 * 1024, Counting { inner: file, read });
    let gzip = raw
        .fill_buf()
        .with_context(|| format!("reading {}", path.display()))?
        .starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        (
            Box::new(BufReader::with_capacity(
                256 * 1024,
                MultiGzDecoder::new(raw),
            )),
            true,
        )
    } else {
        (Box::new(raw), false)
    })
}

/// Start the reader thread: chunks of lines, then an error if reading failed.
fn spawn_reader(
    mut lines: Box<dyn BufRead + Send>,
    path: String,
) -> (
    mpsc::Receiver<Result<Vec<String>, String>>,
    std::thread::JoinHandle<()>,
) {
    let (tx, rx) = mpsc::channel(4);
    let handle = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            match read_line_capped(lines.as_mut(), &mut buf, MAX_LINE) {
                Ok(true) => {
                    chunk.push(String::from_utf8_lossy(&buf).into_owned());
                    if chunk.len() >= CHUNK
                        && tx
                            .blocking_send(Ok(std::mem::replace(
                                &mut chunk,
                                Vec::with_capacity(CHUNK),
                            )))
                            .is_err()
                    {
                        return;
                    }
                }
                Ok(false) => {
                    if !chunk.is_empty() {
                        let _ = tx.blocking_send(Ok(chunk));
                    }
                    return;
                }
                Err(e) => {
                    if !chunk.is_empty() && tx.blocking_send(Ok(chunk)).is_err() {
                        return;
                    }
                    let _ = tx.blocking_send(Err(format!("reading {path}: {e}")));
                    return;
                }
            }
        }
    });
    (rx, handle)
}

fn progress_bar(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn message(r: &ImportReport) -> String {
    format!(
        "{} lines, {} previews, {} pageviews",
        r.lines, r.previews, r.pageviews
    )
}

/// `lucarne import-log`.
pub async fn run(
    backends: &crate::Backends,
    file: &FileConfig,
    path: &Path,
    site: &str,
    pageviews: bool,
) -> Result<()> {
    let domain = lucarne_store::meta::normalise_domain(site)?;
    // Classification rules and the GeoIP database of the configuration file apply.
    let options = ServerOptions {
        geoip: file.geoip.clone(),
        rules_files: file.rules.clone(),
        ..ServerOptions::default()
    };
    let read = Arc::new(AtomicU64::new(0));
    let total = std::fs::metadata(path)
        .with_context(|| format!("opening {}", path.display()))?
        .len();
    let (lines, gzip) = open(path, read.clone())?;
    let state = crate::open_state(backends, DEFAULT_QUEUE_CAPACITY, &options).await?;
    let site =
        state.meta.site_by_domain(&domain).await?.ok_or_else(|| {
            anyhow::anyhow!("no site `{domain}` (add it with `lucarne site add`)")
        })?;
    let started = Instant::now();
    let bar = progress_bar(total);
    let (mut rx, reader) = spawn_reader(lines, path.display().to_string());
    let mut import = LogImport::new(
        &state,
        site.clone(),
        ImportOptions {
            pageviews,
            ..ImportOptions::default()
        },
    );
    let mut failure = None;
    while let Some(chunk) = rx.recv().await {
        match chunk {
            Ok(chunk) => {
                for line in &chunk {
                    import
                        .line(line)
                        .await
                        .map_err(|r| anyhow::anyhow!("storing events failed: {}", r.as_str()))?;
                }
                bar.set_position(read.load(Ordering::Relaxed));
                bar.set_message(message(import.report()));
            }
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    drop(rx);
    let _ = reader.join();
    // Whatever was read is stored, even when reading failed part-way.
    let report = import
        .finish()
        .await
        .map_err(|r| anyhow::anyhow!("storing events failed: {}", r.as_str()))?;
    bar.finish_and_clear();
    let events = state.events.clone();
    tokio::task::spawn_blocking(move || events.shutdown()).await?;
    print_summary(path, gzip, &site.domain, &report, started.elapsed());
    match failure {
        Some(e) => Err(anyhow::anyhow!(e)),
        None => Ok(()),
    }
}

fn print_summary(path: &Path, gzip: bool, domain: &str, r: &ImportReport, took: Duration) {
    println!(
        "imported {}{} into {domain} in {:.1} s",
        path.display(),
        if gzip { " (gzip)" } else { "" },
        took.as_secs_f64()
    );
    println!("lines read: {}", r.lines);
    let apps: Vec<String> = r
        .previews_by_app
        .iter()
        .map(|(app, n)| format!("{app} {n}"))
        .collect();
    if apps.is_empty() {
        println!("previews recorded: {}", r.previews);
    } else {
        println!("previews recorded: {} ({})", r.previews, apps.join(", "));
    }
    println!("pageviews recorded: {}", r.pageviews);
    println!("lines skipped: {}", r.skipped_total());
    for (reason, n) in &r.skipped {
        println!("  {reason}: {n}");
    }
    for (reason, n) in &r.malformed {
        println!("  malformed ({reason}): {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_capped_and_split() {
        let text = b"short\r\nabcdefghij\n\nlast without newline";
        let mut r: &[u8] = text;
        let mut buf = Vec::new();
        let mut got = Vec::new();
        while read_line_capped(&mut r, &mut buf, 5).expect("read") {
            got.push(String::from_utf8_lossy(&buf).into_owned());
        }
        assert_eq!(got, vec!["short\r", "abcdef", "", "last w"]);
    }
}
