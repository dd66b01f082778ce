//! The stored event: one wide row per pageview or custom event.
//!
//! Visit-level fields (`channel`, `source`, `utm_*`, `device`, …; [`Visit`]) are copied
//! onto every event of the visit so that reports filter by them without joins. Which
//! stored column holds which field is said once, in `lucarne_store::columns`.

use chrono::{DateTime, Utc};

use crate::channel::{ChannelGroup, Evidence};
use crate::token::TokenStatus;

/// Revenue in minor units of an ISO-4217 currency (cents for EUR).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revenue {
    pub amount_minor: i64,
    pub currency: String,
}

/// The event Plausible's tracker sends when a page is left or hidden: how far it was
/// scrolled and how long it was in the foreground. Not a custom event: it feeds the
/// scroll depth and time on page of its page, and nothing else (kept apart from events).
pub const ENGAGEMENT_EVENT: &str = "engagement";

/// `scroll_depth` of an engagement that did not measure it.
pub const NO_SCROLL_DEPTH: u8 = u8::MAX;

/// One stored event: the event's own fields, and its visit's ([`Visit`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventRow {
    pub site_id: u32,
    pub ts: DateTime<Utc>,
    /// `pageview` or a custom event name.
    pub name: String,
    /// Keyed hash of (daily salt, site, IP, user agent); see `visitor`.
    pub visitor_id: u64,
    pub session_id: u64,
    /// First event of its visit: `sum(entry)` counts visits exactly.
    pub entry: bool,
    pub hostname: String,
    pub pathname: String,
    /// Custom properties as (key, value) pairs, stored as two parallel arrays so every
    /// back end can read them without a JSON extension.
    pub props: Vec<(String, String)>,
    pub revenue: Option<Revenue>,
    /// This event's own token (`core::token`): a pageview's visit token, a share or copy
    /// event's share token; 0 when none.
    pub token: u64,
    /// Event-level: the button of a `share` event, `copied-text` for a `copy` event.
    pub share_channel: String,
    /// Sent by the site's server (`POST /api/v1/conversions`), possibly days after its
    /// visit: it counts as a conversion of that visit but not in the visit's pageviews,
    /// duration or bounce.
    pub server_side: bool,
    /// How far down the page the visitor scrolled, in percent (Plausible's `sd`), on an
    /// [`ENGAGEMENT_EVENT`]; [`NO_SCROLL_DEPTH`] when not measured.
    pub scroll_depth: u8,
    /// Time the page was in the foreground, in milliseconds (Plausible's `e`), on an
    /// [`ENGAGEMENT_EVENT`]; 0 otherwise.
    pub engagement_ms: u32,
    /// The fields decided on the visit's first event, copied onto each of its events.
    pub visit: Visit,
}

/// The visit-level fields: decided on a visit's first event and copied onto every event
/// of the visit (reports filter by them without joins). The live-visit table keeps one
/// per visit (`server::ingest::sessions`) and nodes share it (`ingest::shared`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Visit {
    /// Path of the visit's first page.
    pub entry_page: String,
    /// Referrer reduced to host + path (no query), empty when none.
    pub referrer: String,
    /// Display source (`WhatsApp`, `Google`, `example.org`, `Direct / None`).
    pub source: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_term: String,
    pub utm_content: String,
    /// Which click id was present (`fbclid`…), empty when none.
    pub click_id: String,
    pub channel: String,
    pub channel_group: ChannelGroup,
    pub evidence: Evidence,
    pub device: String,
    pub browser: String,
    pub os: String,
    /// ISO-3166 alpha-2, empty when unknown.
    pub country: String,
    pub screen_width: u16,
    /// Share-graph facts (`core::token::link`): the parent token and visit the visit
    /// arrived through (0 when not linked), its generation (0 for roots), how the token
    /// travelled (`visit:share_channel`) and what became of the arrival token.
    pub parent_token: u64,
    pub parent_session: u64,
    pub generation: u16,
    pub visit_share_channel: String,
    pub token_status: TokenStatus,
    /// The tracked short link: on `link_click`, `link_scan` and link `preview` events the
    /// link requested; on a visit's events the link the visit came through; 0: none.
    pub link_id: u64,
}

impl Visit {
    /// Heap bytes its text fields hold (what a table of live visits pays per visit beyond
    /// the struct itself).
    pub fn heap_bytes(&self) -> usize {
        [
            &self.entry_page,
            &self.referrer,
            &self.source,
            &self.utm_source,
            &self.utm_medium,
            &self.utm_campaign,
            &self.utm_term,
            &self.utm_content,
            &self.click_id,
            &self.channel,
            &self.device,
            &self.browser,
            &self.os,
            &self.country,
            &self.visit_share_channel,
        ]
        .iter()
        .map(|s| s.capacity())
        .sum()
    }
}
