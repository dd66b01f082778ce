//! Link previews of a site's own pages as dark-social evidence (issue 5): a messaging
//! app's preview fetcher requesting a page means someone pasted its link into that app.
//!
//! - [`og`]: `GET /og/{domain}?img=…&p=…`, an `og:image` pass-through that records a
//!   `preview` event when a preview fetcher asks for the image, then redirects to it;
//! - [`import`]: the same events (and optionally server-side pageviews) from an nginx or
//!   Apache access log (`lucarne import-log`);
//! - [`report`]: `GET /api/v1/stats/previews`, previews by app per page next to the
//!   visits those pages received;
//! - [`cards`]: `GET /api/v1/stats/cards`, the site's top pages fetched as each app's
//!   crawler would, with the card each app shows and what is wrong with it.
//!
//! A preview event is not a visit (`entry` is false), as on short links: name `preview`,
//! `props.app` = the app, the page as `pathname`, channel = the app with its group, and
//! evidence `preview-fetch`. It carries no token.

pub mod cards;
pub mod import;
pub mod og;
pub mod report;

use chrono::{DateTime, Utc};
use lucarne_core::event::{EventRow, Visit};
use lucarne_core::links::PREVIEW_EVENT;
use lucarne_core::url_clean::CleanUrl;
use lucarne_core::{ChannelGroup, Evidence};
use lucarne_store::meta::Site;

use crate::state::AppState;

/// Who fetched a preview, and when: the visitor id is computed by the caller (live or
/// historical salt) from the IP address, which goes no further.
pub(crate) struct Fetch<'a> {
    pub app: &'a str,
    pub at: DateTime<Utc>,
    pub visitor_id: u64,
    pub user_agent: &'a str,
    pub country: String,
}

/// The stored `preview` event of `page`.
pub(crate) fn preview_row(
    state: &AppState,
    site: &Site,
    page: &CleanUrl,
    f: Fetch<'_>,
) -> EventRow {
    let (group, source) = match state.rules.channel_info(f.app) {
        Some(info) => (info.group, info.name.clone()),
        None => (ChannelGroup::Referral, f.app.to_string()),
    };
    let device = state.ua_facts(f.user_agent).device.clone();
    EventRow {
        site_id: site.id,
        ts: f.at,
        name: PREVIEW_EVENT.to_string(),
        visitor_id: f.visitor_id,
        session_id: rand::random::<u64>() | 1,
        hostname: page.host.clone(),
        pathname: page.path.clone(),
        props: vec![("app".to_string(), f.app.to_string())],
        visit: Visit {
            entry_page: page.path.clone(),
            source,
            utm_source: page.utm.source.clone().unwrap_or_default(),
            utm_medium: page.utm.medium.clone().unwrap_or_default(),
            utm_campaign: page.utm.campaign.clone().unwrap_or_default(),
            utm_term: page.utm.term.clone().unwrap_or_default(),
            utm_content: page.utm.content.clone().unwrap_or_default(),
            channel: f.app.to_string(),
            channel_group: group,
            evidence: Evidence::PreviewFetch,
            device: device.kind,
            browser: device.browser,
            os: device.os,
            country: f.country,
            ..Default::default()
        },
        ..Default::default()
    }
}
