//! The spool's row codec: little-endian integers, length-prefixed UTF-8 strings; record
//! format versions 1 to 3 decode, version 3 is written.

use chrono::DateTime;
use lucarne_core::event::{EventRow, Revenue};
use lucarne_core::token::TokenStatus;
use lucarne_core::{ChannelGroup, Evidence};

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
mod tests {
    use super::*;
    use crate::spool::tests::row;

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
}
