//! Rows to and from ClickHouse's RowBinary format, column by column as
//! `columns::COLUMNS` lists them: the loader's insert and the readers that rebuild whole
//! rows use these, so no ClickHouse code names an event's fields.
//!
//! RowBinary: integers little-endian, `String` as a LEB128 length then the bytes,
//! `Nullable(T)` as one byte (1: NULL) then `T` when not NULL. A timestamp is two columns
//! here: `ts` (`DateTime`, seconds, for partitions and the sorting key) and `ts_us`
//! (`Int64`, exact); rows are read back from `ts_us`.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use lucarne_core::event::{EventRow, Revenue};

use crate::bytes::Reader;
use crate::columns::{Cell, Column, Kind, COLUMNS};
use crate::events::{join_props, split_props};

/// The loader's own columns after the row's (see the `click` module docs).
const LOAD_COLUMNS: [&str; 3] = ["load_node", "load_seq", "row_hash"];

/// The columns a field takes in ClickHouse's events table, in insert order.
fn insert_names(c: &'static Column) -> Vec<String> {
    match c.kind {
        Kind::Ts => vec![c.name.to_string(), format!("{}_us", c.name)],
        _ => c.stored_names().iter().map(|n| n.to_string()).collect(),
    }
}

/// The column list of the loader's insert: every field's, then the load columns.
pub(super) fn insert_columns() -> String {
    COLUMNS
        .iter()
        .flat_map(insert_names)
        .chain(LOAD_COLUMNS.iter().map(|n| n.to_string()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The select list [`decode_rows`] reads: every field's columns, a timestamp as `ts_us`.
pub(super) fn select_columns() -> String {
    COLUMNS
        .iter()
        .flat_map(|c| match c.kind {
            Kind::Ts => vec![format!("{}_us", c.name)],
            _ => c.stored_names().iter().map(|n| n.to_string()).collect(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Seconds for the `DateTime` column (clamped to what it can hold).
pub(super) fn ts_seconds(t: DateTime<Utc>) -> u32 {
    u32::try_from(t.timestamp().max(0)).unwrap_or(u32::MAX)
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    let mut n = s.len() as u64;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(s.as_bytes());
}

/// One row as the insert's RowBinary: its fields, then the load columns.
pub(super) fn encode_row(r: &EventRow, load: [u64; 3], out: &mut Vec<u8>) {
    for c in COLUMNS {
        match (c.get)(r) {
            Cell::Bool(b) => out.push(u8::from(b)),
            Cell::U8(n) => out.push(n),
            Cell::U16(n) => out.extend_from_slice(&n.to_le_bytes()),
            Cell::U32(n) => out.extend_from_slice(&n.to_le_bytes()),
            Cell::U64(n) => out.extend_from_slice(&n.to_le_bytes()),
            Cell::Ts(t) => {
                out.extend_from_slice(&ts_seconds(t).to_le_bytes());
                out.extend_from_slice(&t.timestamp_micros().to_le_bytes());
            }
            Cell::Text(s) => put_string(out, &s),
            Cell::Props(p) => {
                let (keys, values) = join_props(&p);
                put_string(out, &keys);
                put_string(out, &values);
            }
            Cell::Revenue(None) => out.extend_from_slice(&[1, 1]),
            Cell::Revenue(Some(rv)) => {
                out.push(0);
                out.extend_from_slice(&rv.amount_minor.to_le_bytes());
                out.push(0);
                put_string(out, &rv.currency);
            }
        }
    }
    for n in load {
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// RowBinary's reads on top of the byte cursor: strings (a LEB128 length) and nullables.
trait Read {
    fn string(&mut self) -> Option<String>;
    fn nullable<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>>;
}

impl Read for Reader<'_> {
    fn string(&mut self) -> Option<String> {
        let mut n = 0u64;
        let mut shift = 0;
        loop {
            let byte = self.u8()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
        self.text(usize::try_from(n).ok()?)
    }
    /// A `Nullable(T)`: `Some(None)` for NULL.
    fn nullable<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.u8()? {
            1 => Some(None),
            _ => f(self).map(Some),
        }
    }
}

/// Rows read with [`select_columns`] in `FORMAT RowBinary`; `None` when the bytes are not
/// whole rows of that shape.
pub(super) fn decode_rows(bytes: &[u8]) -> Option<Vec<EventRow>> {
    let mut r = Reader::new(bytes);
    let mut rows = Vec::new();
    while !r.is_empty() {
        let mut row = EventRow::default();
        for c in COLUMNS {
            let cell = match c.kind {
                Kind::Bool => Cell::Bool(r.u8()? != 0),
                Kind::U8 => Cell::U8(r.u8()?),
                Kind::U16 => Cell::U16(r.u16()?),
                Kind::U32 => Cell::U32(r.u32()?),
                Kind::U64 => Cell::U64(r.u64()?),
                Kind::Ts => Cell::Ts(DateTime::from_timestamp_micros(r.i64()?)?),
                Kind::Text => Cell::Text(Cow::Owned(r.string()?)),
                Kind::Props => {
                    let keys = r.string()?;
                    let values = r.string()?;
                    Cell::Props(Cow::Owned(split_props(&keys, &values)))
                }
                Kind::Revenue => {
                    let amount = r.nullable(Reader::i64)?;
                    let currency = r.nullable(Reader::string)?;
                    Cell::Revenue(match (amount, currency) {
                        (Some(amount_minor), Some(currency)) => Some(Cow::Owned(Revenue {
                            amount_minor,
                            currency,
                        })),
                        _ => None,
                    })
                }
            };
            (c.set)(&mut row, cell);
        }
        rows.push(row);
    }
    Some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_use_leb128_lengths() {
        let mut out = Vec::new();
        put_string(&mut out, &"x".repeat(300));
        assert_eq!(&out[..2], &[0xac, 0x02]);
        assert_eq!(out.len(), 302);
        let mut r = Reader::new(&out);
        assert_eq!(r.string().map(|s| s.len()), Some(300));
    }

    #[test]
    fn insert_and_select_lists_follow_the_columns() {
        let insert = insert_columns();
        assert!(insert.starts_with("site_id, ts, ts_us, name, visitor_id"));
        assert!(insert.ends_with("scroll_depth, engagement_ms, load_node, load_seq, row_hash"));
        assert!(select_columns().starts_with("site_id, ts_us, name"));
    }
}
