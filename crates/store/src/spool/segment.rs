//! Spool segment files: where records go (the zeroed tail) and how they are read back.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use lucarne_core::event::EventRow;
use tracing::{error, warn};

use super::codec::decode_rows;
use super::loader::{Sink, LOAD_ROWS};
use crate::events::StoreError;

/// Where a record ends: segment number and byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Position {
    pub segment: u64,
    pub offset: u64,
}

pub(super) const RECORD_HEADER: usize = 8;
/// A record longer than this is a torn header, not a record (a group is at most 20,000
/// rows, a few MB).
const MAX_RECORD: usize = 256 * 1024 * 1024;
/// How far ahead of the last record a segment is zeroed (see "Zeroed tail").
pub(super) const ZEROED_AHEAD: u64 = 1 << 20;

pub(super) fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:08}.log"))
}

pub(super) fn list_segments(dir: &Path) -> Result<Vec<u64>, StoreError> {
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

/// A new, empty segment (numbers are never reused: replay removed every older one).
pub(super) fn open_segment(dir: &Path, n: u64) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(segment_path(dir, n))
        .map_err(|e| StoreError::Backend(format!("open spool segment {n}: {e}")))
}

/// The segment being written: records go in place at `size`, into zeros up to `zeroed`.
pub(super) struct Tail {
    file: File,
    /// Where the acknowledged records end.
    pub(super) size: u64,
    zeroed: u64,
    zeros: Vec<u8>,
}

impl Tail {
    pub(super) fn new(file: File) -> Tail {
        Tail {
            file,
            size: 0,
            zeroed: 0,
            zeros: Vec::new(),
        }
    }

    /// Zero the record header at the end of the acknowledged records, synced (best effort:
    /// a refused group's records must not replay).
    pub(super) fn unwrite(&mut self) {
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
    pub(super) fn reserve(&mut self) -> std::io::Result<()> {
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
    pub(super) fn write_synced(&mut self, record: &[u8]) -> std::io::Result<()> {
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
pub(super) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

pub(super) fn replay_segment<S: Sink>(
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
