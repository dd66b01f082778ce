//! The stored event's columns, said once.
//!
//! [`COLUMNS`] lists every field of an [`EventRow`] that is stored: its column name, how
//! its value is held ([`Kind`]), whether it belongs to the event or to its visit, what the
//! narrow DuckDB `link_events` table does with it ([`Link`]), the spool record version
//! that introduced it, and how to read and write it on a row. Everything that moves rows
//! derives from this table instead of naming the fields again:
//!
//! - the spool's record codec (`spool::codec`, format version 4 and later);
//! - the DuckDB loader's data chunks and its start-up check of both tables' columns
//!   (`duck::chunk`), and the DuckDB readers (`duck::sql::export_rows`, `find_visit`);
//! - the ClickHouse insert (RowBinary, `click`), its row fingerprint ([`fingerprint`]) and
//!   its reader;
//! - which rows go to `link_events` ([`is_link_row`]).
//!
//! Adding a column: a field on `EventRow` (or `Visit`), one entry at the end of
//! [`COLUMNS`] with `since` the next record version, a DuckDB migration that adds it to
//! `site_events` and the `events` view, and a ClickHouse migration that adds it to the
//! events table. Nothing else names it.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use lucarne_core::event::{EventRow, Revenue};
use lucarne_core::links::{CLICK_EVENT, PREVIEW_EVENT, SCAN_EVENT};
use lucarne_core::token::TokenStatus;
use lucarne_core::{ChannelGroup, Evidence};

/// How a column's value is held. `Props` and `Revenue` are one field of the row stored as
/// two columns each (`prop_keys`/`prop_values`, `revenue_minor`/`revenue_currency`);
/// `Ts` is microseconds since the epoch (ClickHouse also keeps the second, `ts`, for its
/// partitions and sorting key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Bool,
    U8,
    U16,
    U32,
    U64,
    Ts,
    Text,
    Props,
    Revenue,
}

/// One field's value, borrowed from a row or owned after a read.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell<'a> {
    Bool(bool),
    U8(u8),
    U16(u16),
    U32(u32),
    U64(u64),
    Ts(DateTime<Utc>),
    Text(Cow<'a, str>),
    Props(Cow<'a, [(String, String)]>),
    Revenue(Option<Cow<'a, Revenue>>),
}

impl Cell<'_> {
    /// The kind's empty value: `false`, 0, `""`, no properties, no revenue.
    pub fn is_zero(&self) -> bool {
        match self {
            Cell::Bool(b) => !b,
            Cell::U8(n) => *n == 0,
            Cell::U16(n) => *n == 0,
            Cell::U32(n) => *n == 0,
            Cell::U64(n) => *n == 0,
            Cell::Ts(t) => t.timestamp_micros() == 0,
            Cell::Text(s) => s.is_empty(),
            Cell::Props(p) => p.is_empty(),
            Cell::Revenue(r) => r.is_none(),
        }
    }
}

/// Whether the field is the event's own or decided on the visit's first event and copied
/// onto each of its events (`lucarne_core::event::Visit`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Event,
    Visit,
}

/// What DuckDB's narrow `link_events` table (short-link clicks, scans and previews) does
/// with a column. The `events` view reads the columns it leaves out as constants, so a
/// row is stored there only when each of them has exactly that value ([`is_link_row`]).
#[derive(Clone, Copy, Debug)]
pub enum Link {
    /// Stored in `link_events`.
    Stored,
    /// Left out; the view gives the kind's empty value ([`Cell::is_zero`]).
    Empty,
    /// Left out; the view computes it (`entry_page` is the path, `evidence` is
    /// `short-link`) and `holds` says whether the row's value is that.
    Derived { holds: fn(&EventRow) -> bool },
}

/// One stored field.
#[derive(Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub scope: Scope,
    pub link: Link,
    /// The spool record version that first holds it (the fingerprint of a row hashes the
    /// columns of versions after [`FINGERPRINT_VERSION`] only when they are set, so rows
    /// loaded before a column existed keep their fingerprint).
    pub since: u32,
    pub get: for<'r> fn(&'r EventRow) -> Cell<'r>,
    /// Sets the field from a value of its kind (a value of another kind is ignored; the
    /// readers produce the column's kind).
    pub set: fn(&mut EventRow, Cell<'_>),
}

impl std::fmt::Debug for Column {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Column")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

impl Column {
    /// The stored columns this field takes, in order.
    pub fn stored_names(&'static self) -> &'static [&'static str] {
        match self.kind {
            Kind::Props => &["prop_keys", "prop_values"],
            Kind::Revenue => &["revenue_minor", "revenue_currency"],
            _ => std::slice::from_ref(&self.name),
        }
    }

    /// Whether `link_events` stores this column.
    pub fn in_link_table(&self) -> bool {
        matches!(self.link, Link::Stored)
    }
}

/// The last spool record version whose columns every fingerprint hashes.
pub const FINGERPRINT_VERSION: u32 = 3;

macro_rules! plain {
    ($name:literal, $kind:ident, $scope:ident, $link:expr, $since:literal, $($f:ident).+) => {
        Column {
            name: $name,
            kind: Kind::$kind,
            scope: Scope::$scope,
            link: $link,
            since: $since,
            get: |r| plain!(@get $kind, r.$($f).+),
            set: |r, v| plain!(@set $kind, v, r.$($f).+),
        }
    };
    (@get Text, $e:expr) => { Cell::Text(Cow::Borrowed($e.as_str())) };
    (@get $kind:ident, $e:expr) => { Cell::$kind($e) };
    (@set Text, $v:expr, $e:expr) => {
        if let Cell::Text(x) = $v {
            $e = x.into_owned();
        }
    };
    (@set $kind:ident, $v:expr, $e:expr) => {
        if let Cell::$kind(x) = $v {
            $e = x;
        }
    };
}

fn text_of(v: Cell<'_>) -> Option<Cow<'_, str>> {
    match v {
        Cell::Text(s) => Some(s),
        _ => None,
    }
}

/// Every stored field, in the order of DuckDB's `site_events` table.
pub static COLUMNS: &[Column] = &[
    plain!("site_id", U32, Event, Link::Stored, 1, site_id),
    plain!("ts", Ts, Event, Link::Stored, 1, ts),
    plain!("name", Text, Event, Link::Stored, 1, name),
    plain!("visitor_id", U64, Event, Link::Stored, 1, visitor_id),
    plain!("session_id", U64, Event, Link::Stored, 1, session_id),
    plain!("entry", Bool, Event, Link::Empty, 1, entry),
    plain!("hostname", Text, Event, Link::Stored, 1, hostname),
    plain!("pathname", Text, Event, Link::Stored, 1, pathname),
    plain!(
        "entry_page",
        Text,
        Visit,
        Link::Derived {
            holds: |r| r.visit.entry_page == r.pathname
        },
        1,
        visit.entry_page
    ),
    plain!("referrer", Text, Visit, Link::Stored, 1, visit.referrer),
    plain!("source", Text, Visit, Link::Stored, 1, visit.source),
    plain!("utm_source", Text, Visit, Link::Empty, 1, visit.utm_source),
    plain!("utm_medium", Text, Visit, Link::Empty, 1, visit.utm_medium),
    plain!(
        "utm_campaign",
        Text,
        Visit,
        Link::Stored,
        1,
        visit.utm_campaign
    ),
    plain!("utm_term", Text, Visit, Link::Empty, 1, visit.utm_term),
    plain!(
        "utm_content",
        Text,
        Visit,
        Link::Empty,
        1,
        visit.utm_content
    ),
    plain!("click_id", Text, Visit, Link::Empty, 1, visit.click_id),
    plain!("channel", Text, Visit, Link::Stored, 1, visit.channel),
    Column {
        name: "channel_group",
        kind: Kind::Text,
        scope: Scope::Visit,
        link: Link::Stored,
        since: 1,
        get: |r| Cell::Text(Cow::Borrowed(r.visit.channel_group.as_str())),
        set: |r, v| {
            if let Some(s) = text_of(v) {
                r.visit.channel_group = ChannelGroup::parse(&s).unwrap_or(ChannelGroup::Direct);
            }
        },
    },
    Column {
        name: "evidence",
        kind: Kind::Text,
        scope: Scope::Visit,
        link: Link::Derived {
            holds: |r| r.visit.evidence == Evidence::ShortLink,
        },
        since: 1,
        get: |r| Cell::Text(Cow::Borrowed(r.visit.evidence.as_str())),
        set: |r, v| {
            if let Some(s) = text_of(v) {
                r.visit.evidence = Evidence::parse(&s).unwrap_or(Evidence::None);
            }
        },
    },
    plain!("device", Text, Visit, Link::Stored, 1, visit.device),
    plain!("browser", Text, Visit, Link::Stored, 1, visit.browser),
    plain!("os", Text, Visit, Link::Stored, 1, visit.os),
    plain!("country", Text, Visit, Link::Stored, 1, visit.country),
    plain!(
        "screen_width",
        U16,
        Visit,
        Link::Empty,
        1,
        visit.screen_width
    ),
    Column {
        name: "props",
        kind: Kind::Props,
        scope: Scope::Event,
        link: Link::Stored,
        since: 1,
        get: |r| Cell::Props(Cow::Borrowed(&r.props)),
        set: |r, v| {
            if let Cell::Props(p) = v {
                r.props = p.into_owned();
            }
        },
    },
    Column {
        name: "revenue",
        kind: Kind::Revenue,
        scope: Scope::Event,
        link: Link::Empty,
        since: 1,
        get: |r| Cell::Revenue(r.revenue.as_ref().map(Cow::Borrowed)),
        set: |r, v| {
            if let Cell::Revenue(x) = v {
                r.revenue = x.map(Cow::into_owned);
            }
        },
    },
    plain!("token", U64, Event, Link::Stored, 2, token),
    plain!(
        "parent_token",
        U64,
        Visit,
        Link::Empty,
        2,
        visit.parent_token
    ),
    plain!(
        "parent_session",
        U64,
        Visit,
        Link::Empty,
        2,
        visit.parent_session
    ),
    plain!("generation", U16, Visit, Link::Empty, 2, visit.generation),
    plain!(
        "visit_share_channel",
        Text,
        Visit,
        Link::Empty,
        2,
        visit.visit_share_channel
    ),
    Column {
        name: "token_status",
        kind: Kind::Text,
        scope: Scope::Visit,
        link: Link::Empty,
        since: 2,
        get: |r| Cell::Text(Cow::Borrowed(r.visit.token_status.as_str())),
        set: |r, v| {
            if let Some(s) = text_of(v) {
                r.visit.token_status = TokenStatus::parse(&s);
            }
        },
    },
    plain!("share_channel", Text, Event, Link::Empty, 2, share_channel),
    plain!("link_id", U64, Visit, Link::Stored, 2, visit.link_id),
    plain!("server_side", Bool, Event, Link::Empty, 3, server_side),
    plain!("scroll_depth", U8, Event, Link::Empty, 4, scroll_depth),
    plain!("engagement_ms", U32, Event, Link::Empty, 4, engagement_ms),
];

/// The newest spool record version: the highest `since` of [`COLUMNS`].
pub const RECORD_VERSION: u32 = {
    let mut v = 0;
    let mut i = 0;
    while i < COLUMNS.len() {
        if COLUMNS[i].since > v {
            v = COLUMNS[i].since;
        }
        i += 1;
    }
    v
};

/// The names of the stored columns, in table order, of every field (`link`: only those
/// `link_events` keeps).
pub fn stored_names(link: bool) -> Vec<&'static str> {
    COLUMNS
        .iter()
        .filter(|c| !link || c.in_link_table())
        .flat_map(|c| c.stored_names().iter().copied())
        .collect()
}

/// The fields of a visit (`Scope::Visit`), for readers that rebuild a visit.
pub fn visit_columns() -> impl Iterator<Item = &'static Column> {
    COLUMNS.iter().filter(|c| c.scope == Scope::Visit)
}

/// Whether `r` is stored in DuckDB's narrow `link_events` table: a short-link click, scan
/// or preview whose every column that table leaves out has the value the `events` view
/// gives it there, so the row reads back exactly as written. Any other row, link event or
/// not, goes to the wide `site_events`.
pub fn is_link_row(r: &EventRow) -> bool {
    r.visit.link_id != 0
        && is_link_event_name(&r.name)
        && COLUMNS.iter().all(|c| match c.link {
            Link::Stored => true,
            Link::Empty => (c.get)(r).is_zero(),
            Link::Derived { holds } => holds(r),
        })
}

/// Can a row of this name be stored with the link events ([`is_link_row`])?
pub(crate) fn is_link_event_name(name: &str) -> bool {
    matches!(name, CLICK_EVENT | SCAN_EVENT | PREVIEW_EVENT)
}

/// A row's fingerprint (ClickHouse's `row_hash`): every field, length-prefixed, hashed;
/// texts first, then properties and revenue, then numbers, each group in table order.
/// Fields of record versions after [`FINGERPRINT_VERSION`] are hashed only when set, so
/// a row written before they existed keeps the fingerprint it was loaded with. Defined on
/// the columns rather than on the spool's record format, so that a new record version
/// does not change the fingerprints of rows loaded before an upgrade.
pub fn fingerprint(r: &EventRow) -> u64 {
    let mut h = blake3::Hasher::new();
    let cells: Vec<(&Column, Cell<'_>)> = COLUMNS
        .iter()
        .map(|c| (c, (c.get)(r)))
        .filter(|(c, v)| c.since <= FINGERPRINT_VERSION || !v.is_zero())
        .collect();
    let text = |h: &mut blake3::Hasher, s: &str| {
        h.update(&(s.len() as u64).to_le_bytes());
        h.update(s.as_bytes());
    };
    for (_, v) in &cells {
        if let Cell::Text(s) = v {
            text(&mut h, s);
        }
    }
    for (_, v) in &cells {
        match v {
            Cell::Props(p) => {
                text(&mut h, &p.len().to_string());
                for (k, v) in p.iter() {
                    text(&mut h, k);
                    text(&mut h, v);
                }
            }
            Cell::Revenue(Some(rv)) => {
                text(&mut h, &rv.currency);
                text(&mut h, &rv.amount_minor.to_string());
            }
            Cell::Revenue(None) => text(&mut h, "-"),
            _ => {}
        }
    }
    for (_, v) in &cells {
        let n = match v {
            Cell::Bool(b) => u64::from(*b),
            Cell::U8(n) => u64::from(*n),
            Cell::U16(n) => u64::from(*n),
            Cell::U32(n) => u64::from(*n),
            Cell::U64(n) => *n,
            Cell::Ts(t) => t.timestamp_micros() as u64,
            Cell::Text(_) | Cell::Props(_) | Cell::Revenue(_) => continue,
        };
        h.update(&n.to_le_bytes());
    }
    let out = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&out.as_bytes()[..8]);
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_row() -> EventRow {
        let mut r = EventRow {
            site_id: 7,
            ts: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap_or_default(),
            name: "pageview".into(),
            visitor_id: 11,
            session_id: 12,
            entry: true,
            hostname: "example.org".into(),
            pathname: "/a".into(),
            props: vec![("plan".into(), "pro".into())],
            revenue: Some(Revenue {
                amount_minor: 1999,
                currency: "EUR".into(),
            }),
            token: 13,
            share_channel: "whatsapp".into(),
            server_side: true,
            scroll_depth: 80,
            engagement_ms: 12_345,
            ..Default::default()
        };
        r.visit.entry_page = "/a".into();
        r.visit.channel = "WhatsApp".into();
        r.visit.channel_group = ChannelGroup::ALL[1];
        r.visit.evidence = Evidence::ALL[1];
        r.visit.token_status = TokenStatus::Linked;
        r.visit.screen_width = 390;
        r.visit.generation = 2;
        r.visit.link_id = 5;
        r
    }

    #[test]
    fn every_field_goes_through_its_column() {
        let row = full_row();
        let mut copy = EventRow::default();
        for c in COLUMNS {
            (c.set)(&mut copy, (c.get)(&row));
        }
        assert_eq!(copy, row);
        // Names are unique, and the record version is the newest column's.
        let names = stored_names(false);
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        assert_eq!(RECORD_VERSION, 4);
    }

    #[test]
    fn new_columns_leave_old_fingerprints_alone() {
        let mut row = full_row();
        row.scroll_depth = 0;
        row.engagement_ms = 0;
        let before = fingerprint(&row);
        row.scroll_depth = 10;
        let with_depth = fingerprint(&row);
        assert_ne!(before, with_depth);
        row.scroll_depth = 0;
        assert_eq!(fingerprint(&row), before);
    }

    #[test]
    fn link_rows_are_those_the_view_reads_back() {
        let mut r = EventRow {
            name: CLICK_EVENT.into(),
            pathname: "/x".into(),
            ..Default::default()
        };
        r.visit.link_id = 3;
        r.visit.entry_page = "/x".into();
        r.visit.evidence = Evidence::ShortLink;
        assert!(is_link_row(&r));
        for change in [
            |r: &mut EventRow| r.entry = true,
            |r: &mut EventRow| r.visit.entry_page = "/y".into(),
            |r: &mut EventRow| r.visit.evidence = Evidence::None,
            |r: &mut EventRow| r.engagement_ms = 1,
            |r: &mut EventRow| r.visit.link_id = 0,
            |r: &mut EventRow| r.name = "pageview".into(),
        ] {
            let mut other = r.clone();
            change(&mut other);
            assert!(!is_link_row(&other));
        }
    }

    /// The fingerprint as the release before `columns` computed it, field by field.
    fn legacy_row_hash(r: &EventRow) -> u64 {
        let v = &r.visit;
        let mut h = blake3::Hasher::new();
        let mut text = |s: &str| {
            h.update(&(s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        for s in [
            r.name.as_str(),
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
            v.channel_group.as_str(),
            v.evidence.as_str(),
            &v.device,
            &v.browser,
            &v.os,
            &v.country,
            &v.visit_share_channel,
            v.token_status.as_str(),
            &r.share_channel,
        ] {
            text(s);
        }
        text(&r.props.len().to_string());
        for (k, v) in &r.props {
            text(k);
            text(v);
        }
        match &r.revenue {
            Some(rv) => {
                text(&rv.currency);
                text(&rv.amount_minor.to_string());
            }
            None => text("-"),
        }
        let mut num = |n: u64| {
            h.update(&n.to_le_bytes());
        };
        num(u64::from(r.site_id));
        num(r.ts.timestamp_micros() as u64);
        num(r.visitor_id);
        num(r.session_id);
        num(u64::from(r.entry));
        num(u64::from(v.screen_width));
        num(r.token);
        num(v.parent_token);
        num(v.parent_session);
        num(u64::from(v.generation));
        num(v.link_id);
        num(u64::from(r.server_side));
        let out = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&out.as_bytes()[..8]);
        u64::from_le_bytes(b)
    }

    #[test]
    fn fingerprints_are_those_of_earlier_releases() {
        let mut rows = vec![full_row(), EventRow::default()];
        let mut plain = full_row();
        plain.scroll_depth = 0;
        plain.engagement_ms = 0;
        plain.revenue = None;
        plain.props.clear();
        rows.push(plain.clone());
        for r in &rows[2..] {
            assert_eq!(fingerprint(r), legacy_row_hash(r));
        }
        assert_eq!(fingerprint(&rows[1]), legacy_row_hash(&rows[1]));
        // The full row has engagement fields the earlier release did not know.
        assert_ne!(fingerprint(&rows[0]), legacy_row_hash(&rows[0]));
    }
}
