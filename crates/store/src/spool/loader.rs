//! The loader thread: commits acknowledged rows into the events back end (a [`Sink`])
//! in large batches, each with the spool position it ends at.

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lucarne_core::event::EventRow;
use tracing::error;

use super::codec::encoded_len;
use super::segment::{list_segments, segment_path, Position};
use super::Shared;
use crate::events::StoreError;

/// What the loader writes into: an events back end.
pub trait Sink: Send + 'static {
    /// The last spool position the back end holds (`None`: never loaded anything).
    fn position(&mut self) -> Result<Option<Position>, StoreError>;
    /// Store `rows` and `pos` atomically.
    fn load(&mut self, rows: &[EventRow], pos: Position) -> Result<(), StoreError>;
    /// Called once at shutdown, after the last load.
    fn close(&mut self) {}
}

/// The loader commits when this many rows are pending …
pub(super) const LOAD_ROWS: usize = 20_000;
/// … or when the oldest pending row has waited this long.
pub const LOAD_INTERVAL: Duration = Duration::from_millis(250);

pub(super) enum LoaderMsg {
    Rows(Vec<EventRow>, Position),
    Flush(mpsc::Sender<Result<(), StoreError>>),
    Shutdown(mpsc::Sender<()>),
}

pub(super) fn loader_loop<S: Sink>(
    dir: PathBuf,
    mut sink: S,
    rx: Receiver<LoaderMsg>,
    shared: Arc<Shared>,
    load_interval: Duration,
) {
    let mut pending: Vec<EventRow> = Vec::new();
    let mut pos: Option<Position> = None;
    let mut oldest: Option<Instant> = None;
    let mut flushes: Vec<mpsc::Sender<Result<(), StoreError>>> = Vec::new();
    let mut shutdown: Option<mpsc::Sender<()>> = None;
    let mut loaded_segment = 0u64;
    loop {
        let wait = match oldest {
            Some(t) => load_interval.saturating_sub(t.elapsed()),
            None => Duration::from_secs(3600),
        };
        let mut absorb = |m: LoaderMsg| match m {
            LoaderMsg::Rows(mut r, p) => {
                pending.append(&mut r);
                pos = Some(p);
                oldest.get_or_insert_with(Instant::now);
            }
            LoaderMsg::Flush(reply) => flushes.push(reply),
            LoaderMsg::Shutdown(reply) => shutdown = Some(reply),
        };
        match rx.recv_timeout(wait) {
            Ok(m) => absorb(m),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        // Take whatever else is already waiting, cheaply.
        while let Ok(m) = rx.try_recv() {
            absorb(m);
        }
        let due = pending.len() >= LOAD_ROWS
            || oldest.is_some_and(|t| t.elapsed() >= load_interval)
            || !flushes.is_empty()
            || shutdown.is_some();
        if due && !pending.is_empty() {
            if let Some(p) = pos {
                match sink.load(&pending, p) {
                    Ok(()) => {
                        shared.unloaded.fetch_sub(pending.len(), Ordering::SeqCst);
                        let bytes: usize = pending.iter().map(encoded_len).sum();
                        shared.unloaded_bytes.fetch_sub(bytes, Ordering::SeqCst);
                        pending.clear();
                        oldest = None;
                        if p.segment > loaded_segment {
                            // Older segments are fully loaded: remove them.
                            for seg in list_segments(&dir).unwrap_or_default() {
                                if seg < p.segment {
                                    let _ = fs::remove_file(segment_path(&dir, seg));
                                }
                            }
                            loaded_segment = p.segment;
                        }
                    }
                    Err(e) => {
                        // Rows stay pending (and durable in the spool); retry shortly.
                        error!(message = "Loading events into the store failed; will retry.", error = %e, rows = pending.len());
                        for f in flushes.drain(..) {
                            let _ = f.send(Err(e.clone()));
                        }
                        if shutdown.is_none() {
                            std::thread::sleep(Duration::from_millis(500));
                            continue;
                        }
                    }
                }
            }
        }
        for f in flushes.drain(..) {
            let _ = f.send(Ok(()));
        }
        if shutdown.is_some() {
            break;
        }
    }
    sink.close();
    shared.loader_alive.store(false, Ordering::SeqCst);
    if let Some(reply) = shutdown {
        let _ = reply.send(());
    }
}
