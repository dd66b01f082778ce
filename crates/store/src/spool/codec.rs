//! The spool's row codec: little-endian integers, length-prefixed UTF-8 strings; record
//! format versions 1 to 3 (earlier releases) decode, the current one
//! (`columns::RECORD_VERSION`, derived from `columns::COLUMNS`) is written.

use std::borrow::Cow;

use chrono::DateTime;
use lucarne_core::event::{EventRow, Revenue, Visit};
use lucarne_core::token::TokenStatus;
use lucarne_core::{ChannelGroup, Evidence};

use crate::bytes::Reader;
use crate::columns::{Cell, Kind, COLUMNS, RECORD_VERSION};

use super::segment::RECORD_HEADER;
use super::writer::MAX_GROUP_ROWS;

/// A group commit is written as records of at most about this many bytes each (one
/// write, one sync for the group), far under what replay accepts (`MAX_RECORD`).
const RECORD_TARGET: usize = 4 << 20;

/// A group's rows as consecutive records (`[len][crc32][rows]`), each of at most about
/// [`RECORD_TARGET`] bytes, so that no record nears what replay accepts however large
/// the group or its rows.
pub(super) fn encode_records(rows: &[EventRow], out: &mut Vec<u8>) {
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

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Marks a record's row format. Records of version 1 (no share-graph fields) start
/// directly with their row count, which never reaches these markers; versions 2 and 3
/// have a fixed layout (decoded by [`decode_legacy`]); from version 4 on, a row is its
/// fields in the order of [`COLUMNS`], each column present from its `since` version.
const FORMAT_BASE: u32 = 0x4C43_0000;
const FORMAT_V2: u32 = FORMAT_BASE | 2;
const FORMAT_V3: u32 = FORMAT_BASE | 3;
/// Row flag bits (version 3).
const FLAG_SERVER_SIDE: u8 = 1;
const TOKEN_STATUSES: [TokenStatus; 6] = TokenStatus::ALL;

/// The bytes [`put_cell`] writes for a value.
fn cell_len(c: &Cell<'_>) -> usize {
    match c {
        Cell::Bool(_) | Cell::U8(_) => 1,
        Cell::U16(_) => 2,
        Cell::U32(_) => 4,
        Cell::U64(_) | Cell::Ts(_) => 8,
        Cell::Text(s) => 4 + s.len(),
        Cell::Props(p) => 4 + p.iter().map(|(k, v)| 8 + k.len() + v.len()).sum::<usize>(),
        Cell::Revenue(r) => 1 + r.as_ref().map_or(0, |rv| 8 + 4 + rv.currency.len()),
    }
}

fn put_cell(out: &mut Vec<u8>, c: &Cell<'_>) {
    match c {
        Cell::Bool(b) => out.push(u8::from(*b)),
        Cell::U8(n) => out.push(*n),
        Cell::U16(n) => out.extend_from_slice(&n.to_le_bytes()),
        Cell::U32(n) => out.extend_from_slice(&n.to_le_bytes()),
        Cell::U64(n) => out.extend_from_slice(&n.to_le_bytes()),
        Cell::Ts(t) => out.extend_from_slice(&t.timestamp_micros().to_le_bytes()),
        Cell::Text(s) => put_str(out, s),
        Cell::Props(p) => {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            for (k, v) in p.iter() {
                put_str(out, k);
                put_str(out, v);
            }
        }
        Cell::Revenue(None) => out.push(0),
        Cell::Revenue(Some(rv)) => {
            out.push(1);
            out.extend_from_slice(&rv.amount_minor.to_le_bytes());
            put_str(out, &rv.currency);
        }
    }
}

/// The bytes [`encode_rows`] writes for one row.
pub fn encoded_len(r: &EventRow) -> usize {
    COLUMNS.iter().map(|c| cell_len(&(c.get)(r))).sum()
}

/// Rows as one record body of the current format ([`RECORD_VERSION`]).
pub fn encode_rows(rows: &[EventRow], out: &mut Vec<u8>) {
    out.extend_from_slice(&(FORMAT_BASE | RECORD_VERSION).to_le_bytes());
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    for r in rows {
        for c in COLUMNS {
            put_cell(out, &(c.get)(r));
        }
    }
}

/// The spool's reads on top of the byte cursor: strings (a `u32` length), properties,
/// revenue and cells.
trait Read {
    fn string(&mut self) -> Option<String>;
    fn props(&mut self) -> Option<Vec<(String, String)>>;
    fn revenue(&mut self) -> Option<Option<Revenue>>;
    fn cell(&mut self, kind: Kind) -> Option<Cell<'static>>;
}

impl Read for Reader<'_> {
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        self.text(n)
    }
    fn props(&mut self) -> Option<Vec<(String, String)>> {
        let n = self.u32()? as usize;
        let mut props = Vec::with_capacity(n.min(64));
        for _ in 0..n {
            props.push((self.string()?, self.string()?));
        }
        Some(props)
    }
    fn revenue(&mut self) -> Option<Option<Revenue>> {
        Some(match self.u8()? {
            0 => None,
            _ => Some(Revenue {
                amount_minor: self.i64()?,
                currency: self.string()?,
            }),
        })
    }
    fn cell(&mut self, kind: Kind) -> Option<Cell<'static>> {
        Some(match kind {
            Kind::Bool => Cell::Bool(self.u8()? != 0),
            Kind::U8 => Cell::U8(self.u8()?),
            Kind::U16 => Cell::U16(self.u16()?),
            Kind::U32 => Cell::U32(self.u32()?),
            Kind::U64 => Cell::U64(self.u64()?),
            Kind::Ts => Cell::Ts(DateTime::from_timestamp_micros(self.i64()?)?),
            Kind::Text => Cell::Text(Cow::Owned(self.string()?)),
            Kind::Props => Cell::Props(Cow::Owned(self.props()?)),
            Kind::Revenue => Cell::Revenue(self.revenue()?.map(Cow::Owned)),
        })
    }
}

/// A record body's rows; `None` when it is not a whole, well-formed record.
pub fn decode_rows(bytes: &[u8]) -> Option<Vec<EventRow>> {
    let mut r = Reader::new(bytes);
    let first = r.u32()?;
    let version = match first & !0xFFFF {
        FORMAT_BASE => first & 0xFFFF,
        _ => 1,
    };
    if version < 4 {
        return decode_legacy(bytes);
    }
    if version > RECORD_VERSION {
        return None;
    }
    let n = r.u32()? as usize;
    let mut rows = Vec::with_capacity(n.min(MAX_GROUP_ROWS * 4));
    for _ in 0..n {
        let mut row = EventRow::default();
        for c in COLUMNS.iter().filter(|c| c.since <= version) {
            (c.set)(&mut row, r.cell(c.kind)?);
        }
        rows.push(row);
    }
    r.is_empty().then_some(rows)
}

/// Records of versions 1 to 3, written by earlier releases.
fn decode_legacy(bytes: &[u8]) -> Option<Vec<EventRow>> {
    let mut r = Reader::new(bytes);
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
        let name = next();
        let hostname = next();
        let pathname = next();
        let visit = Visit {
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
            parent_token,
            parent_session,
            generation,
            // In version 1 the last string is the raw arrival token: never read.
            visit_share_channel: if v2 { next() } else { String::new() },
            token_status,
            link_id,
        };
        rows.push(EventRow {
            site_id,
            ts,
            name,
            visitor_id,
            session_id,
            entry,
            hostname,
            pathname,
            props,
            revenue,
            token,
            share_channel: if v2 { next() } else { String::new() },
            server_side: flags & FLAG_SERVER_SIDE != 0,
            scroll_depth: 0,
            engagement_ms: 0,
            visit,
        });
    }
    r.is_empty().then_some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::tests::row;

    fn group_index(g: ChannelGroup) -> u8 {
        ChannelGroup::ALL.iter().position(|x| *x == g).unwrap_or(0) as u8
    }

    fn evidence_index(e: Evidence) -> u8 {
        Evidence::ALL.iter().position(|x| *x == e).unwrap_or(0) as u8
    }

    /// The strings of a version-3 row, in order (version 1 has the first 17, then the
    /// raw arrival token).
    fn v3_strings(r: &EventRow) -> [&String; 19] {
        let v = &r.visit;
        [
            &r.name,
            &r.hostname,
            &r.pathname,
            &v.entry_page,
            &v.referrer,
            &v.source,
            &v.utm_source,
            &v.utm_medium,
            &v.utm_campaign,
            &v.utm_term,
            &v.utm_content,
            &v.click_id,
            &v.channel,
            &v.device,
            &v.browser,
            &v.os,
            &v.country,
            &v.visit_share_channel,
            &r.share_channel,
        ]
    }

    /// A version-3 record, as the release before version 4 wrote it.
    fn encode_v3(rows: &[EventRow], out: &mut Vec<u8>) {
        out.extend_from_slice(&FORMAT_V3.to_le_bytes());
        out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
        for r in rows {
            let v = &r.visit;
            out.extend_from_slice(&r.site_id.to_le_bytes());
            out.extend_from_slice(&r.ts.timestamp_micros().to_le_bytes());
            out.extend_from_slice(&r.visitor_id.to_le_bytes());
            out.extend_from_slice(&r.session_id.to_le_bytes());
            out.push(u8::from(r.entry));
            out.push(group_index(v.channel_group));
            out.push(evidence_index(v.evidence));
            out.extend_from_slice(&v.screen_width.to_le_bytes());
            for s in v3_strings(r) {
                put_str(out, s);
            }
            out.extend_from_slice(&r.token.to_le_bytes());
            out.extend_from_slice(&v.parent_token.to_le_bytes());
            out.extend_from_slice(&v.parent_session.to_le_bytes());
            out.extend_from_slice(&v.link_id.to_le_bytes());
            out.extend_from_slice(&v.generation.to_le_bytes());
            out.push(
                TOKEN_STATUSES
                    .iter()
                    .position(|t| *t == v.token_status)
                    .unwrap_or(0) as u8,
            );
            put_cell(out, &Cell::Props(Cow::Borrowed(&r.props)));
            put_cell(out, &Cell::Revenue(r.revenue.as_ref().map(Cow::Borrowed)));
            out.push(if r.server_side { FLAG_SERVER_SIDE } else { 0 });
        }
    }

    #[test]
    fn version_3_records_still_decode() {
        let mut rows: Vec<EventRow> = (0..5).map(row).collect();
        rows[1].server_side = true;
        rows[2].revenue = Some(Revenue {
            amount_minor: 5,
            currency: "USD".into(),
        });
        let mut buf = Vec::new();
        encode_v3(&rows, &mut buf);
        assert_eq!(decode_rows(&buf).unwrap(), rows);
    }

    #[test]
    fn engagement_fields_round_trip_and_newer_records_are_refused() {
        let mut r = row(4);
        r.scroll_depth = 75;
        r.engagement_ms = 61_000;
        let mut buf = Vec::new();
        encode_rows(std::slice::from_ref(&r), &mut buf);
        assert_eq!(decode_rows(&buf).unwrap(), vec![r]);
        // A record from a later release is not guessed at.
        buf[..4].copy_from_slice(&(FORMAT_BASE | (RECORD_VERSION + 1)).to_le_bytes());
        assert!(decode_rows(&buf).is_none());
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
        encode_v3(std::slice::from_ref(&r), &mut buf);
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
        buf.push(group_index(r.visit.channel_group));
        buf.push(evidence_index(r.visit.evidence));
        buf.extend_from_slice(&r.visit.screen_width.to_le_bytes());
        for s in &v3_strings(&r)[..17] {
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
        r.visit.parent_token = 0;
        r.visit.parent_session = 0;
        r.visit.generation = 0;
        r.visit.visit_share_channel.clear();
        r.visit.token_status = TokenStatus::None;
        r.share_channel.clear();
        r.visit.link_id = 0;
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
}
