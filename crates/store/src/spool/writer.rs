//! The group-commit writer thread: takes submissions, writes them as records into the
//! segment's zeroed tail, syncs once per group, hands the rows to the loader, then
//! resolves the tickets.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use lucarne_core::event::EventRow;
use tokio::sync::oneshot;
use tracing::{error, info};

use super::codec::{encode_records, encoded_len};
use super::loader::LoaderMsg;
use super::segment::{open_segment, sync_dir, Position, Tail};
use super::{Shared, MAX_UNLOADED_ROWS};
use crate::events::StoreError;

/// Rows per spool record at most (one group commit).
pub(super) const MAX_GROUP_ROWS: usize = 20_000;
/// Segments are rotated past this size.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// A group commit takes submissions until it holds this many bytes (or
/// `MAX_GROUP_ROWS` rows)…
pub(super) const MAX_GROUP_BYTES: usize = 32 << 20;
/// While writes fail (a full disk, an I/O error), the writer tries again this often even
/// without new events, so health recovers when space returns.
const WRITE_RETRY: Duration = Duration::from_secs(1);

type Done = oneshot::Sender<Result<(), StoreError>>;

pub(super) enum WriterMsg {
    Rows(Vec<EventRow>, Done),
    Shutdown(mpsc::Sender<()>),
}

pub(super) fn writer_loop(
    dir: PathBuf,
    mut seg: u64,
    file: File,
    rx: Receiver<WriterMsg>,
    loader: SyncSender<LoaderMsg>,
    shared: Arc<Shared>,
) {
    let mut tail = Tail::new(file);
    let mut buf = Vec::with_capacity(1 << 20);
    let mut shutdown: Option<mpsc::Sender<()>> = None;
    let failing = |shared: &Shared| shared.write_error.lock().map_or(true, |e| e.is_some());
    while shutdown.is_none() {
        while (shared.unloaded.load(Ordering::SeqCst) > MAX_UNLOADED_ROWS
            || shared.unloaded_bytes.load(Ordering::SeqCst)
                > shared.max_unloaded_bytes.load(Ordering::Relaxed))
            && shared.loader_alive.load(Ordering::SeqCst)
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        let first = if failing(&shared) {
            match rx.recv_timeout(WRITE_RETRY) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    // No events, but find out whether the disk took space back.
                    if tail.reserve().is_ok() {
                        set_write_error(&shared, None);
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        } else {
            let Ok(m) = rx.recv() else { break };
            m
        };
        let mut rows: Vec<EventRow> = Vec::new();
        let mut bytes = 0usize;
        let mut waiters: Vec<Done> = Vec::new();
        let take = |m: WriterMsg,
                    rows: &mut Vec<EventRow>,
                    bytes: &mut usize,
                    waiters: &mut Vec<Done>| match m {
            WriterMsg::Rows(mut r, done) => {
                shared.queued.fetch_sub(1, Ordering::Relaxed);
                *bytes += r.iter().map(encoded_len).sum::<usize>();
                rows.append(&mut r);
                waiters.push(done);
                None
            }
            WriterMsg::Shutdown(reply) => Some(reply),
        };
        shutdown = take(first, &mut rows, &mut bytes, &mut waiters);
        while shutdown.is_none() && rows.len() < MAX_GROUP_ROWS && bytes < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(m) => shutdown = take(m, &mut rows, &mut bytes, &mut waiters),
                Err(_) => break,
            }
        }
        if rows.is_empty() {
            continue;
        }
        buf.clear();
        encode_records(&rows, &mut buf);
        match tail.write_synced(&buf) {
            Ok(()) => {
                set_write_error(&shared, None);
                let n = rows.len();
                shared.unloaded.fetch_add(n, Ordering::SeqCst);
                shared.unloaded_bytes.fetch_add(bytes, Ordering::SeqCst);
                // To the loader first, then acknowledge: a flush after the ack sees them.
                if loader
                    .send(LoaderMsg::Rows(
                        rows,
                        Position {
                            segment: seg,
                            offset: tail.size,
                        },
                    ))
                    .is_err()
                {
                    error!(
                        message = "Loader stopped; events stay in the spool for the next start."
                    );
                }
                for w in waiters {
                    let _ = w.send(Ok(()));
                }
            }
            Err(e) => {
                error!(message = "Spool write failed; batch refused.", error = %e, rows = rows.len());
                set_write_error(&shared, Some(e.to_string()));
                let err = StoreError::Disk(e.to_string());
                for w in waiters {
                    let _ = w.send(Err(err.clone()));
                }
                // The next group is written at the same offset, over whatever part of this
                // one reached the file (it was never acknowledged): no new segment, no gap.
                // Until then, its first header is zeroed (those blocks are allocated, so
                // this write needs no space): a replay stops there rather than load a
                // refused group whose records reached the disk whole.
                tail.unwrite();
                continue;
            }
        }
        if tail.size >= SEGMENT_BYTES {
            seg += 1;
            match open_segment(&dir, seg) {
                Ok(f) => {
                    tail = Tail::new(f);
                    sync_dir(&dir);
                }
                Err(e) => {
                    error!(message = "Cannot rotate the spool segment; writer stops.", error = %e);
                    break;
                }
            }
        }
    }
    shared.writer_alive.store(false, Ordering::SeqCst);
    if let Some(reply) = shutdown {
        let _ = reply.send(());
    }
}

fn set_write_error(shared: &Shared, e: Option<String>) {
    if let Ok(mut slot) = shared.write_error.lock() {
        if slot.is_some() && e.is_none() {
            info!(message = "Spool writes succeed again.");
        }
        *slot = e;
    }
}
