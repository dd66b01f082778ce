//! The ingest spool: Lucarne's own write-ahead log in front of the events back end.
//!
//! # Why
//! An analytic store's commit is expensive (DuckDB: ~1.5 ms fixed per commit here, and
//! ClickHouse wants about one insert a second), while an `fdatasync` of an append-only
//! file costs ~0.2 ms. So acknowledging an event means: its batch is written to a spool
//! segment and synced. Loading into the back end happens behind, in large batches.
//!
//! # Guarantees
//! - `submit` → the ticket resolves `Ok` only after the rows' record is `fdatasync`ed.
//! - The loader commits rows to the sink together with the spool position they end at,
//!   in one sink transaction. At start-up, records after the sink's position are replayed:
//!   nothing acknowledged is lost and nothing is loaded twice.
//! - A record torn by a crash (short or bad checksum) was never acknowledged; recovery
//!   stops reading its segment there. So does a record length of zero: the segment's
//!   zeroed tail (below).
//!
//! # Zeroed tail
//! Records are written in place into a part of the segment already filled with zeros
//! and synced, not appended: an `fdatasync` that does not grow the file has no metadata
//! to journal, so it is one device write instead of two (ext4, measured here: ~150 µs
//! instead of ~225 µs a sync, a quarter less kernel CPU). When a record would pass the
//! zeroed part, the zeros are extended by `ZEROED_AHEAD` in the same write and sync.
//! - Rows reach the loader before their tickets resolve, so a `flush` issued after an
//!   acknowledgement loads them (read-your-writes for reports).

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::DateTime;
use lucarne_core::event::{EventRow, Revenue};
use lucarne_core::token::TokenStatus;
use lucarne_core::{ChannelGroup, Evidence};
use tokio::sync::oneshot;
use tracing::{error, info, warn};

use crate::events::{CommitTicket, StoreError};

/// Where a record ends: segment number and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

/// What the loader writes into: an events back end.
pub trait Sink: Send + 'static {
    /// The last spool position the back end holds (`None`: never loaded anything).
    fn position(&mut self) -> Result<Option<Position>, StoreError>;
    /// Store `rows` and `pos` atomically.
    fn load(&mut self, rows: &[EventRow], pos: Position) -> Result<(), StoreError>;
    /// Called once at shutdown, after the last load.
    fn close(&mut self) {}
}

/// Rows per spool record at most (one group commit).
const MAX_GROUP_ROWS: usize = 20_000;
/// The loader commits when this many rows are pending …
const LOAD_ROWS: usize = 20_000;
/// … or when the oldest pending row has waited this long.
const LOAD_INTERVAL: Duration = Duration::from_millis(250);
/// Segments are rotated past this size.
const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
const RECORD_HEADER: usize = 8;
/// A record longer than this is a torn header, not a record (a group is at most 20,000
/// rows, a few MB).
const MAX_RECORD: usize = 256 * 1024 * 1024;
/// How far ahead of the last record a segment is zeroed (see "Zeroed tail").
const ZEROED_AHEAD: u64 = 1 << 20;
/// Spooled batches waiting for the loader at most …
const LOADER_QUEUE: usize = 8192;
/// … and rows: past this, the writer waits for the loader (and the queue in front of it
/// fills, so clients get 503) instead of holding ever more rows in memory.
const MAX_UNLOADED_ROWS: usize = 400_000;
/// … and at most this many bytes of them by default (their encoded size), so the loader's
/// backlog in memory stays bounded whatever the rows carry (256 MiB fits a 1 GiB
/// machine); [`Spool::set_backlog_bytes`] changes it.
pub const DEFAULT_BACKLOG_BYTES: usize = 256 << 20;
/// A group commit takes submissions until it holds this many bytes (or
/// `MAX_GROUP_ROWS` rows)…
const MAX_GROUP_BYTES: usize = 32 << 20;
/// … and writes them as records of at most about this many bytes each (one write, one
/// sync for the group), far under what replay accepts (`MAX_RECORD`).
const RECORD_TARGET: usize = 4 << 20;
/// While writes fail (a full disk, an I/O error), the writer tries again this often even
/// without new events, so health recovers when space returns.
const WRITE_RETRY: Duration = Duration::from_secs(1);

type Done = oneshot::Sender<Result<(), StoreError>>;

enum WriterMsg {
    Rows(Vec<EventRow>, Done),
    Shutdown(mpsc::Sender<()>),
}

enum LoaderMsg {
    Rows(Vec<EventRow>, Position),
    Flush(mpsc::Sender<Result<(), StoreError>>),
    Shutdown(mpsc::Sender<()>),
}

struct Shared {
    queued: AtomicUsize,
    /// Rows acknowledged but not yet loaded, and their encoded bytes.
    unloaded: AtomicUsize,
    unloaded_bytes: AtomicUsize,
    /// The most unloaded bytes before the writer waits for the loader.
    max_unloaded_bytes: AtomicUsize,
    /// Why the last spool write failed, until a write succeeds again.
    write_error: Mutex<Option<String>>,
    closed: AtomicBool,
    writer_alive: AtomicBool,
    loader_alive: AtomicBool,
}

pub struct Spool {
    tx: SyncSender<WriterMsg>,
    loader_tx: SyncSender<LoaderMsg>,
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}.log"))
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, StoreError> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir)
        .map_err(|e| StoreError::Backend(format!("read {}: {e}", dir.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name
            .strip_suffix(".log")
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

impl Spool {
    /// Open the spool in `dir`, replay into `sink` whatever it does not hold yet, then
    /// start the writer and loader threads.
    pub fn open<S: Sink>(dir: &Path, sink: S, queue_capacity: usize) -> Result<Self, StoreError> {
        Self::open_with_interval(dir, sink, queue_capacity, LOAD_INTERVAL)
    }

    /// [`Spool::open`] with another load interval: the loader commits when
    /// 20,000 rows are pending or the oldest pending row has waited `load_interval`
    /// (250 ms for DuckDB; about a second suits ClickHouse, which wants few inserts).
    pub fn open_with_interval<S: Sink>(
        dir: &Path,
        mut sink: S,
        queue_capacity: usize,
        load_interval: Duration,
    ) -> Result<Self, StoreError> {
        fs::create_dir_all(dir)
            .map_err(|e| StoreError::Backend(format!("create {}: {e}", dir.display())))?;
        let start = sink.position()?.unwrap_or_default();
        let segments = list_segments(dir)?;
        let mut replayed = 0usize;
        for &seg in segments.iter().filter(|&&s| s >= start.segment) {
            let from = if seg == start.segment {
                start.offset
            } else {
                0
            };
            replayed += replay_segment(dir, seg, from, &mut sink)?;
        }
        if replayed > 0 {
            info!(
                message = "Replayed acknowledged events from the spool.",
                rows = replayed
            );
        }
        // Everything on disk is now in the sink: start a fresh segment, drop the old ones.
        let next = segments.last().map_or(1, |s| s + 1).max(start.segment + 1);
        for seg in segments {
            let _ = fs::remove_file(segment_path(dir, seg));
        }
        let file = open_segment(dir, next)?;
        sync_dir(dir);

        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            unloaded: AtomicUsize::new(0),
            unloaded_bytes: AtomicUsize::new(0),
            max_unloaded_bytes: AtomicUsize::new(DEFAULT_BACKLOG_BYTES),
            write_error: Mutex::new(None),
            closed: AtomicBool::new(false),
            writer_alive: AtomicBool::new(true),
            loader_alive: AtomicBool::new(true),
        });
        let (tx, rx) = mpsc::sync_channel(queue_capacity.max(1));
        // Tens of seconds of full-speed ingest may wait for the loader (a DuckDB
        // checkpoint can take seconds); beyond that the writer blocks, the queue fills,
        // and clients get 503 (backpressure). The rows are durable in the spool either way.
        let (loader_tx, loader_rx) = mpsc::sync_channel(LOADER_QUEUE);
        let mut threads = Vec::new();
        let (s1, ltx, d1) = (shared.clone(), loader_tx.clone(), dir.to_path_buf());
        threads.push(
            std::thread::Builder::new()
                .name("lucarne-spool".into())
                .spawn(move || writer_loop(d1, next, file, rx, ltx, s1))
                .map_err(|e| StoreError::Backend(format!("spawn spool writer: {e}")))?,
        );
        let (s2, d2) = (shared.clone(), dir.to_path_buf());
        threads.push(
            std::thread::Builder::new()
                .name("lucarne-loader".into())
                .spawn(move || loader_loop(d2, sink, loader_rx, s2, load_interval))
                .map_err(|e| StoreError::Backend(format!("spawn loader: {e}")))?,
        );
        Ok(Spool {
            tx,
            loader_tx,
            shared,
            threads: Mutex::new(threads),
        })
    }

    pub fn submit(&self, rows: Vec<EventRow>) -> Result<CommitTicket, StoreError> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Err(StoreError::Closed);
        }
        let (done, ticket) = oneshot::channel();
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(WriterMsg::Rows(rows, done)) {
            Ok(()) => Ok(ticket),
            Err(TrySendError::Full(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                Err(StoreError::QueueFull)
            }
            Err(TrySendError::Disconnected(_)) => {
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                Err(StoreError::Closed)
            }
        }
    }

    /// Load everything acknowledged so far into the sink before returning.
    pub fn flush(&self) -> Result<(), StoreError> {
        if self.shared.unloaded.load(Ordering::SeqCst) == 0 {
            return Ok(());
        }
        let (reply, wait) = mpsc::channel();
        self.loader_tx
            .send(LoaderMsg::Flush(reply))
            .map_err(|_| StoreError::Closed)?;
        wait.recv().map_err(|_| StoreError::Closed)?
    }

    pub fn queue_len(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    pub fn unloaded(&self) -> usize {
        self.shared.unloaded.load(Ordering::Relaxed)
    }

    pub fn healthy(&self) -> bool {
        self.problem().is_none()
    }

    /// Bound the acknowledged-but-not-yet-loaded rows held in memory to about `bytes`
    /// (at least 8 MiB): past it the writer waits for the loader, the queue fills and
    /// clients get 503 (the rows are durable in the spool either way).
    pub fn set_backlog_bytes(&self, bytes: usize) {
        self.shared
            .max_unloaded_bytes
            .store(bytes.max(8 << 20), Ordering::Relaxed);
    }

    /// Why the spool cannot take events now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if self.shared.closed.load(Ordering::SeqCst) {
            return Some("the events store is shut down".into());
        }
        if !self.shared.writer_alive.load(Ordering::SeqCst)
            || !self.shared.loader_alive.load(Ordering::SeqCst)
        {
            return Some("the events writer has stopped".into());
        }
        self.shared
            .write_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .map(|e| format!("cannot write events to disk: {e}"))
    }

    /// Stop accepting, sync and load everything, stop the threads. Idempotent.
    pub fn shutdown(&self) {
        if self.shared.closed.swap(true, Ordering::SeqCst) {
            return;
        }
        let (reply, wait) = mpsc::channel();
        if self.tx.send(WriterMsg::Shutdown(reply)).is_ok() {
            let _ = wait.recv();
        }
        let (reply, wait) = mpsc::channel();
        if self.loader_tx.send(LoaderMsg::Shutdown(reply)).is_ok() {
            let _ = wait.recv();
        }
        if let Ok(mut threads) = self.threads.lock() {
            for t in threads.drain(..) {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A new, empty segment (numbers are never reused: replay removed every older one).
fn open_segment(dir: &Path, n: u64) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(segment_path(dir, n))
        .map_err(|e| StoreError::Backend(format!("open spool segment {n}: {e}")))
}

/// The segment being written: records go in place at `size`, into zeros up to `zeroed`.
struct Tail {
    file: File,
    size: u64,
    zeroed: u64,
    zeros: Vec<u8>,
}

impl Tail {
    fn new(file: File) -> Tail {
        Tail {
            file,
            size: 0,
            zeroed: 0,
            zeros: Vec::new(),
        }
    }

    /// Zero the record header at the end of the acknowledged records, synced (best effort:
    /// a refused group's records must not replay).
    fn unwrite(&mut self) {
        use std::os::unix::fs::FileExt;
        let cleared = self
            .file
            .write_all_at(&[0u8; RECORD_HEADER], self.size)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = cleared {
            error!(message = "Could not clear a refused spool record.", error = %e);
        }
    }

    /// Make sure the next megabyte past the zeroed part can be written (the writer's probe
    /// while the disk is full): extends the zeros, synced.
    fn reserve(&mut self) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.zeros.resize(ZEROED_AHEAD as usize, 0);
        let at = self.zeroed.max(self.size);
        self.file.write_all_at(&self.zeros, at)?;
        self.file.sync_data()?;
        self.zeroed = at + ZEROED_AHEAD;
        Ok(())
    }

    /// Write `record` after the last one and sync it. Past the zeroed part, the zeros
    /// are extended in the same write and sync (the file grows about once a megabyte).
    fn write_synced(&mut self, record: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let end = self.size + record.len() as u64;
        self.file.write_all_at(record, self.size)?;
        if end > self.zeroed {
            self.zeros.resize(ZEROED_AHEAD as usize, 0);
            self.file.write_all_at(&self.zeros, end)?;
            self.zeroed = end + ZEROED_AHEAD;
        }
        self.file.sync_data()?;
        self.size = end;
        Ok(())
    }
}

/// Make a new or removed file name durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

fn replay_segment<S: Sink>(
    dir: &Path,
    seg: u64,
    from: u64,
    sink: &mut S,
) -> Result<usize, StoreError> {
    let path = segment_path(dir, seg);
    let file = File::open(&path)
        .map_err(|e| StoreError::Backend(format!("open {}: {e}", path.display())))?;
    let mut r = BufReader::new(file);
    let mut offset = 0u64;
    let mut pending: Vec<EventRow> = Vec::new();
    let mut total = 0usize;
    loop {
        let mut header = [0u8; RECORD_HEADER];
        if r.read_exact(&mut header).is_err() {
            break;
        }
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len == 0 {
            // The zeroed tail: no record was ever written here.
            break;
        }
        let mut body = Vec::new();
        if len > MAX_RECORD
            || r.by_ref().take(len as u64).read_to_end(&mut body).is_err()
            || body.len() != len
            || crc32fast::hash(&body) != crc
        {
            warn!(
                message = "Spool segment ends with a torn record (never acknowledged).",
                segment = seg,
                offset
            );
            break;
        }
        offset += (RECORD_HEADER + len) as u64;
        if offset <= from {
            continue;
        }
        let rows = decode_rows(&body).ok_or_else(|| {
            StoreError::Backend(format!(
                "spool segment {seg}: undecodable record at {offset}"
            ))
        })?;
        pending.extend(rows);
        if pending.len() >= LOAD_ROWS {
            total += pending.len();
            sink.load(
                &pending,
                Position {
                    segment: seg,
                    offset,
                },
            )?;
            pending.clear();
        }
    }
    if !pending.is_empty() {
        total += pending.len();
        sink.load(
            &pending,
            Position {
                segment: seg,
                offset,
            },
        )?;
    }
    Ok(total)
}

fn writer_loop(
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

/// A group's rows as consecutive records (`[len][crc32][rows]`), each of at most about
/// [`RECORD_TARGET`] bytes, so that no record nears what replay accepts however large
/// the group or its rows.
fn encode_records(rows: &[EventRow], out: &mut Vec<u8>) {
    let mut start = 0;
    while start < rows.len() {
        let mut end = start;
        let mut size = 0;
        while end < rows.len() && (end == start || size + encoded_len(&rows[end]) <= RECORD_TARGET)
        {
            size += encoded_len(&rows[end]);
            end += 1;
        }
        let at = out.len();
        out.extend_from_slice(&[0u8; RECORD_HEADER]);
        encode_rows(&rows[start..end], out);
        let len = (out.len() - at - RECORD_HEADER) as u32;
        let crc = crc32fast::hash(&out[at + RECORD_HEADER..]);
        out[at..at + 4].copy_from_slice(&len.to_le_bytes());
        out[at + 4..at + 8].copy_from_slice(&crc.to_le_bytes());
        start = end;
    }
}

fn loader_loop<S: Sink>(
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

// ---------------------------------------------------------------------------------------
// Record encoding: little-endian integers, length-prefixed UTF-8 strings.
// ---------------------------------------------------------------------------------------

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn group_index(g: ChannelGroup) -> u8 {
    ChannelGroup::ALL.iter().position(|x| *x == g).unwrap_or(0) as u8
}

fn evidence_index(e: Evidence) -> u8 {
    Evidence::ALL.iter().position(|x| *x == e).unwrap_or(0) as u8
}

/// Marks a record's row format. Records of version 1 (no share-graph fields) start
/// directly with their row count, which never reaches these markers; version 2 has no
/// flags byte after the revenue; version 3 (current) has it.
const FORMAT_V2: u32 = 0x4C43_0002;
const FORMAT_V3: u32 = 0x4C43_0003;
/// Row flag bits (version 3).
const FLAG_SERVER_SIDE: u8 = 1;
const TOKEN_STATUSES: [TokenStatus; 6] = TokenStatus::ALL;

/// A row's text columns, in the order records hold them (format version 3).
fn text_fields(r: &EventRow) -> [&String; 19] {
    [
        &r.name,
        &r.hostname,
        &r.pathname,
        &r.entry_page,
        &r.referrer,
        &r.source,
        &r.utm_source,
        &r.utm_medium,
        &r.utm_campaign,
        &r.utm_term,
        &r.utm_content,
        &r.click_id,
        &r.channel,
        &r.device,
        &r.browser,
        &r.os,
        &r.country,
        &r.visit_share_channel,
        &r.share_channel,
    ]
}

/// The bytes [`encode_rows`] writes for one row (format version 3).
pub fn encoded_len(r: &EventRow) -> usize {
    // site, ts, visitor, session, entry/group/evidence, width; token, parent token and
    // session, link, generation, status; props count; revenue flag; flags.
    const FIXED: usize = 4 + 8 + 8 + 8 + 3 + 2 + 8 * 4 + 2 + 1 + 4 + 1 + 1;
    let strs = text_fields(r);
    FIXED
        + strs.iter().map(|s| 4 + s.len()).sum::<usize>()
        + r.props
            .iter()
            .map(|(k, v)| 8 + k.len() + v.len())
            .sum::<usize>()
        + r.revenue.as_ref().map_or(0, |rv| 8 + 4 + rv.currency.len())
}

pub fn encode_rows(rows: &[EventRow], out: &mut Vec<u8>) {
    out.extend_from_slice(&FORMAT_V3.to_le_bytes());
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    for r in rows {
        out.extend_from_slice(&r.site_id.to_le_bytes());
        out.extend_from_slice(&r.ts.timestamp_micros().to_le_bytes());
        out.extend_from_slice(&r.visitor_id.to_le_bytes());
        out.extend_from_slice(&r.session_id.to_le_bytes());
        out.push(u8::from(r.entry));
        out.push(group_index(r.channel_group));
        out.push(evidence_index(r.evidence));
        out.extend_from_slice(&r.screen_width.to_le_bytes());
        for s in text_fields(r) {
            put_str(out, s);
        }
        out.extend_from_slice(&r.token.to_le_bytes());
        out.extend_from_slice(&r.parent_token.to_le_bytes());
        out.extend_from_slice(&r.parent_session.to_le_bytes());
        out.extend_from_slice(&r.link_id.to_le_bytes());
        out.extend_from_slice(&r.generation.to_le_bytes());
        out.push(
            TOKEN_STATUSES
                .iter()
                .position(|t| *t == r.token_status)
                .unwrap_or(0) as u8,
        );
        out.extend_from_slice(&(r.props.len() as u32).to_le_bytes());
        for (k, v) in &r.props {
            put_str(out, k);
            put_str(out, v);
        }
        match &r.revenue {
            Some(rv) => {
                out.push(1);
                out.extend_from_slice(&rv.amount_minor.to_le_bytes());
                put_str(out, &rv.currency);
            }
            None => out.push(0),
        }
        out.push(if r.server_side { FLAG_SERVER_SIDE } else { 0 });
    }
}

struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.b.len() < n {
            return None;
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Some(h)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take(8)
            .and_then(|b| b.try_into().ok())
            .map(i64::from_le_bytes)
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        self.take(n)
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
    }
}

pub fn decode_rows(bytes: &[u8]) -> Option<Vec<EventRow>> {
    let mut r = Reader { b: bytes };
    let first = r.u32()?;
    let v3 = first == FORMAT_V3;
    let v2 = v3 || first == FORMAT_V2;
    let n = if v2 { r.u32()? } else { first } as usize;
    // Version 1 ended its strings with the raw arrival token, which is no longer kept.
    let strings = if v2 { 19 } else { 18 };
    let mut rows = Vec::with_capacity(n.min(MAX_GROUP_ROWS * 4));
    for _ in 0..n {
        let site_id = r.u32()?;
        let ts = DateTime::from_timestamp_micros(r.i64()?)?;
        let visitor_id = r.u64()?;
        let session_id = r.u64()?;
        let entry = r.u8()? != 0;
        let channel_group = *ChannelGroup::ALL.get(r.u8()? as usize)?;
        let evidence = *Evidence::ALL.get(r.u8()? as usize)?;
        let screen_width = r.u16()?;
        let mut s = Vec::with_capacity(strings);
        for _ in 0..strings {
            s.push(r.string()?);
        }
        let (token, parent_token, parent_session, link_id, generation, token_status) = if v2 {
            (
                r.u64()?,
                r.u64()?,
                r.u64()?,
                r.u64()?,
                r.u16()?,
                *TOKEN_STATUSES.get(r.u8()? as usize)?,
            )
        } else {
            (0, 0, 0, 0, 0, TokenStatus::None)
        };
        let np = r.u32()? as usize;
        let mut props = Vec::with_capacity(np.min(64));
        for _ in 0..np {
            props.push((r.string()?, r.string()?));
        }
        let revenue = match r.u8()? {
            0 => None,
            _ => Some(Revenue {
                amount_minor: r.i64()?,
                currency: r.string()?,
            }),
        };
        let flags = if v3 { r.u8()? } else { 0 };
        let mut s = s.into_iter();
        let mut next = || s.next().unwrap_or_default();
        rows.push(EventRow {
            site_id,
            ts,
            name: next(),
            visitor_id,
            session_id,
            entry,
            hostname: next(),
            pathname: next(),
            entry_page: next(),
            referrer: next(),
            source: next(),
            utm_source: next(),
            utm_medium: next(),
            utm_campaign: next(),
            utm_term: next(),
            utm_content: next(),
            click_id: next(),
            channel: next(),
            channel_group,
            evidence,
            device: next(),
            browser: next(),
            os: next(),
            country: next(),
            screen_width,
            props,
            revenue,
            token,
            parent_token,
            parent_session,
            generation,
            // In version 1 the last string is the raw arrival token: never read.
            visit_share_channel: if v2 { next() } else { String::new() },
            token_status,
            share_channel: if v2 { next() } else { String::new() },
            link_id,
            server_side: flags & FLAG_SERVER_SIDE != 0,
        });
    }
    if r.b.is_empty() {
        Some(rows)
    } else {
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    pub(crate) fn row(i: u64) -> EventRow {
        EventRow {
            site_id: 3,
            ts: DateTime::from_timestamp_micros(1_700_000_000_000_000 + i as i64).unwrap(),
            name: "pageview".into(),
            visitor_id: i,
            session_id: i * 3,
            entry: i.is_multiple_of(2),
            hostname: "example.com".into(),
            pathname: format!("/p/{i}/café"),
            entry_page: "/".into(),
            referrer: "android-app://com.whatsapp".into(),
            source: "WhatsApp".into(),
            utm_source: "s".into(),
            utm_medium: "m".into(),
            utm_campaign: "c".into(),
            utm_term: "t".into(),
            utm_content: "x".into(),
            click_id: "fbclid".into(),
            channel: "whatsapp".into(),
            channel_group: ChannelGroup::EstimatedDark,
            evidence: Evidence::Survey,
            device: "mobile".into(),
            browser: "Safari".into(),
            os: "iOS".into(),
            country: "FR".into(),
            screen_width: 390,
            props: vec![("plan".into(), "pro".into())],
            revenue: i.is_multiple_of(3).then(|| Revenue {
                amount_minor: 1990,
                currency: "EUR".into(),
            }),
            token: i + 1,
            parent_token: i * 7,
            parent_session: i * 11,
            generation: (i % 4) as u16,
            visit_share_channel: "address-bar".into(),
            token_status: TokenStatus::Linked,
            share_channel: if i == 1 {
                "whatsapp".into()
            } else {
                String::new()
            },
            link_id: i * 13,
            server_side: i == 4,
        }
    }

    #[test]
    fn encoded_len_is_exact_and_big_groups_split_into_bounded_records() {
        let mut rows: Vec<EventRow> = (0..50).map(row).collect();
        rows[3].props = vec![("k".into(), "é".repeat(700)), ("plan".into(), "pro".into())];
        rows[4].revenue = Some(lucarne_core::event::Revenue {
            amount_minor: 1250,
            currency: "EUR".into(),
        });
        rows[5].server_side = true;
        for r in &rows {
            let mut out = Vec::new();
            encode_rows(std::slice::from_ref(r), &mut out);
            assert_eq!(out.len() - 8, encoded_len(r));
        }
        // Rows of ~1 MiB: a group of 12 becomes several records under the target, each
        // of which decodes, and together they give back every row in order.
        let big: Vec<EventRow> = (0..12)
            .map(|i| {
                let mut r = row(i);
                r.props = vec![("blob".into(), "x".repeat(1 << 20))];
                r
            })
            .collect();
        let mut out = Vec::new();
        encode_records(&big, &mut out);
        let mut at = 0;
        let mut back = Vec::new();
        let mut records = 0;
        while at < out.len() {
            let len = u32::from_le_bytes(out[at..at + 4].try_into().unwrap()) as usize;
            assert!(len <= RECORD_TARGET + (2 << 20), "record of {len} bytes");
            let body = &out[at + RECORD_HEADER..at + RECORD_HEADER + len];
            let crc = u32::from_le_bytes(out[at + 4..at + 8].try_into().unwrap());
            assert_eq!(crc32fast::hash(body), crc);
            back.extend(decode_rows(body).unwrap());
            at += RECORD_HEADER + len;
            records += 1;
        }
        assert!(records >= 3, "{records} records");
        assert_eq!(back, big);
    }

    #[test]
    fn version_2_records_still_decode() {
        // Version 2 is version 3 without the flags byte after each row.
        let r = row(2);
        let mut buf = Vec::new();
        encode_rows(std::slice::from_ref(&r), &mut buf);
        buf[..4].copy_from_slice(&FORMAT_V2.to_le_bytes());
        assert_eq!(buf.pop(), Some(0));
        assert_eq!(decode_rows(&buf).unwrap(), vec![r]);
    }

    #[test]
    fn version_1_records_still_decode() {
        // A version-1 record: count, then the row without share-graph fields, its 18th
        // string the raw arrival token.
        let mut r = row(2);
        let mut buf = Vec::new();
        buf.extend_from_slice(&1u32.to_le_bytes());
        buf.extend_from_slice(&r.site_id.to_le_bytes());
        buf.extend_from_slice(&r.ts.timestamp_micros().to_le_bytes());
        buf.extend_from_slice(&r.visitor_id.to_le_bytes());
        buf.extend_from_slice(&r.session_id.to_le_bytes());
        buf.push(u8::from(r.entry));
        buf.push(group_index(r.channel_group));
        buf.push(evidence_index(r.evidence));
        buf.extend_from_slice(&r.screen_width.to_le_bytes());
        for s in [
            &r.name,
            &r.hostname,
            &r.pathname,
            &r.entry_page,
            &r.referrer,
            &r.source,
            &r.utm_source,
            &r.utm_medium,
            &r.utm_campaign,
            &r.utm_term,
            &r.utm_content,
            &r.click_id,
            &r.channel,
            &r.device,
            &r.browser,
            &r.os,
            &r.country,
        ] {
            put_str(&mut buf, s);
        }
        put_str(&mut buf, "rawtoken");
        buf.extend_from_slice(&(r.props.len() as u32).to_le_bytes());
        for (k, v) in &r.props {
            put_str(&mut buf, k);
            put_str(&mut buf, v);
        }
        buf.push(0);
        r.revenue = None;
        r.token = 0;
        r.parent_token = 0;
        r.parent_session = 0;
        r.generation = 0;
        r.visit_share_channel.clear();
        r.token_status = TokenStatus::None;
        r.share_channel.clear();
        r.link_id = 0;
        assert_eq!(decode_rows(&buf).unwrap(), vec![r]);
    }

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let rows: Vec<EventRow> = (0..10).map(row).collect();
        let mut buf = Vec::new();
        encode_rows(&rows, &mut buf);
        assert_eq!(decode_rows(&buf).unwrap(), rows);
        assert!(decode_rows(&buf[..buf.len() - 1]).is_none(), "truncated");
        let mut extra = buf.clone();
        extra.push(0);
        assert!(decode_rows(&extra).is_none(), "trailing bytes");
    }

    /// A sink that remembers what it loaded, shared with the test.
    #[derive(Clone, Default)]
    struct MemSink {
        rows: Arc<Mutex<Vec<EventRow>>>,
        pos: Arc<Mutex<Option<Position>>>,
    }

    impl MemSink {
        /// The visitor ids of the loaded rows, in load order.
        fn visitor_ids(&self) -> Vec<u64> {
            self.rows
                .lock()
                .unwrap()
                .iter()
                .map(|r| r.visitor_id)
                .collect()
        }
    }

    /// Where the first `n` records of a segment's bytes end.
    fn end_of_records(data: &[u8], n: usize) -> usize {
        let mut off = 0usize;
        for _ in 0..n {
            let len = u32::from_le_bytes(data[off..off + 4].try_into().unwrap()) as usize;
            off += RECORD_HEADER + len;
        }
        off
    }

    impl Sink for MemSink {
        fn position(&mut self) -> Result<Option<Position>, StoreError> {
            Ok(*self.pos.lock().unwrap())
        }
        fn load(&mut self, rows: &[EventRow], pos: Position) -> Result<(), StoreError> {
            self.rows.lock().unwrap().extend_from_slice(rows);
            *self.pos.lock().unwrap() = Some(pos);
            Ok(())
        }
    }

    /// A sink that holds every load until it is opened.
    #[derive(Clone, Default)]
    struct GateSink {
        open: Arc<std::sync::atomic::AtomicBool>,
        loaded: Arc<AtomicUsize>,
    }

    impl Sink for GateSink {
        fn position(&mut self) -> Result<Option<Position>, StoreError> {
            Ok(None)
        }
        fn load(&mut self, rows: &[EventRow], _pos: Position) -> Result<(), StoreError> {
            while !self.open.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(5));
            }
            self.loaded.fetch_add(rows.len(), Ordering::SeqCst);
            Ok(())
        }
    }

    /// With the store stuck, acknowledged rows waiting in memory stop at the backlog
    /// bound (the writer waits; nothing is lost), and all come through once it moves.
    #[tokio::test]
    async fn the_backlog_in_memory_is_bounded_in_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let sink = GateSink::default();
        let spool =
            Spool::open_with_interval(dir.path(), sink.clone(), 1000, Duration::from_millis(1))
                .unwrap();
        spool.set_backlog_bytes(8 << 20);
        let big = |i: u64| {
            let mut r = row(i);
            r.props = vec![("blob".into(), "x".repeat(1 << 20))];
            r
        };
        let tickets: Vec<_> = (0..40)
            .map(|i| spool.submit(vec![big(i)]).unwrap())
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let held = spool.shared.unloaded_bytes.load(Ordering::SeqCst);
        // The writer stops once past the bound: at most one group over it.
        assert!(held <= (8 << 20) + MAX_GROUP_BYTES, "{held} bytes held");
        assert!(
            spool.unloaded() < 40,
            "every row was taken in despite the bound"
        );
        sink.open.store(true, Ordering::SeqCst);
        for t in tickets {
            t.await.unwrap().unwrap();
        }
        spool.flush().unwrap();
        assert_eq!(sink.loaded.load(Ordering::SeqCst), 40);
        assert_eq!(spool.shared.unloaded_bytes.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn acknowledged_rows_are_replayed_exactly_once() {
        let dir = tempfile::tempdir().unwrap();
        let sink = MemSink::default();
        {
            let spool = Spool::open(dir.path(), sink.clone(), 100).unwrap();
            for i in 0..5 {
                spool.submit(vec![row(i)]).unwrap().await.unwrap().unwrap();
            }
            spool.flush().unwrap();
            assert_eq!(sink.rows.lock().unwrap().len(), 5);
            // Simulate a crash: the process dies before the loader sees these rows.
            // (Leak the spool so no shutdown runs, after writing two more records.)
            for i in 5..7 {
                spool.submit(vec![row(i)]).unwrap().await.unwrap().unwrap();
            }
            std::mem::forget(spool);
        }
        // The loader may or may not have loaded rows 5 and 6 before the "crash". Model the
        // worst case: the sink lost them (reset to its state after the flush).
        {
            let mut rows = sink.rows.lock().unwrap();
            rows.truncate(5);
        }
        let pos_after_flush = {
            // Recompute the position that covered exactly 5 rows: read the segment.
            let segs = list_segments(dir.path()).unwrap();
            let data = std::fs::read(segment_path(dir.path(), segs[0])).unwrap();
            Position {
                segment: segs[0],
                offset: end_of_records(&data, 5) as u64,
            }
        };
        *sink.pos.lock().unwrap() = Some(pos_after_flush);
        // A crash mid-write leaves a torn record after the last one, in the zeroed tail.
        let segs = list_segments(dir.path()).unwrap();
        let path = segment_path(dir.path(), segs[0]);
        let records_end = {
            let data = std::fs::read(&path).unwrap();
            let off = end_of_records(&data, 7);
            assert!(data.len() > off, "the segment is zeroed past its records");
            assert!(data[off..].iter().all(|&b| b == 0), "the tail is zeros");
            off as u64
        };
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.write_all_at(&[200, 0, 0, 0, 1, 2, 3, 4, 9, 9], records_end)
            .unwrap();
        drop(f);

        let spool = Spool::open(dir.path(), sink.clone(), 100).unwrap();
        let got = sink.visitor_ids();
        assert_eq!(
            got,
            (0..7).collect::<Vec<_>>(),
            "rows 5 and 6 replayed once, torn record ignored"
        );
        spool.submit(vec![row(7)]).unwrap().await.unwrap().unwrap();
        spool.shutdown();
        assert_eq!(
            sink.rows.lock().unwrap().len(),
            8,
            "shutdown loads what is pending"
        );
        assert!(spool.submit(vec![row(8)]).is_err(), "closed after shutdown");
    }

    #[tokio::test]
    async fn records_go_into_a_zeroed_tail_that_replay_reads_as_the_end() {
        let dir = tempfile::tempdir().unwrap();
        // Enough records to pass the first zeroed megabyte: the zeros are extended.
        let big = |i: u64| {
            let mut r = row(i);
            r.pathname = format!("/{}", "p".repeat(4000));
            r
        };
        let n = 400u64;
        {
            // The crashed process's sink: whatever it loaded is lost with it.
            let spool = Spool::open(dir.path(), MemSink::default(), 1000).unwrap();
            for i in 0..n {
                spool.submit(vec![big(i)]).unwrap().await.unwrap().unwrap();
            }
            std::mem::forget(spool);
        }
        let segs = list_segments(dir.path()).unwrap();
        let len = std::fs::metadata(segment_path(dir.path(), segs[0]))
            .unwrap()
            .len();
        assert!(
            len > ZEROED_AHEAD && !len.is_multiple_of(ZEROED_AHEAD),
            "grown past the first zeroed megabyte, with zeros after the records: {len}"
        );
        let sink = MemSink::default();
        let spool = Spool::open(dir.path(), sink.clone(), 1000).unwrap();
        let got = sink.visitor_ids();
        assert_eq!(
            got,
            (0..n).collect::<Vec<_>>(),
            "every record once, then the end"
        );
        spool.shutdown();
    }
}
