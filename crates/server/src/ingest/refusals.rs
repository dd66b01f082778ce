//! The last events refused for each site, kept so the settings page can say why a new
//! site is still "waiting for the first event" (a headless browser taken for a bot, a
//! hostname not allowed, Do Not Track) instead of waiting in silence.
//!
//! Bounded: at most [`PER_SITE`] refusals per site and [`SITES`] sites; past that the
//! table starts again (it is a diagnosis aid, not a record: `/metrics` counts every
//! drop). Only the reason and the time are kept: no address, no user agent.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use super::pipeline::DropReason;

/// Refusals remembered per site, newest first.
pub const PER_SITE: usize = 8;
/// Sites remembered at most.
pub const SITES: usize = 10_000;

/// One refusal: when, and why.
pub type Refusal = (DateTime<Utc>, DropReason);

#[derive(Default)]
pub struct Refusals {
    by_site: Mutex<HashMap<u32, VecDeque<Refusal>>>,
}

impl Refusals {
    /// Remember that an event for `site` was refused for `reason` at `at`.
    pub fn note(&self, site: u32, reason: DropReason, at: DateTime<Utc>) {
        let Ok(mut map) = self.by_site.lock() else {
            return;
        };
        if map.len() >= SITES && !map.contains_key(&site) {
            map.clear();
        }
        let list = map.entry(site).or_default();
        list.push_front((at, reason));
        list.truncate(PER_SITE);
    }

    /// The site's latest refusals, newest first.
    pub fn recent(&self, site: u32) -> Vec<Refusal> {
        self.by_site
            .lock()
            .ok()
            .and_then(|m| m.get(&site).map(|l| l.iter().copied().collect()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_per_site_and_in_sites() {
        let r = Refusals::default();
        let t0 = Utc::now();
        for i in 0..20 {
            r.note(1, DropReason::Bot, t0 + chrono::Duration::seconds(i));
        }
        r.note(
            1,
            DropReason::HostnameNotAllowed,
            t0 + chrono::Duration::seconds(30),
        );
        let recent = r.recent(1);
        assert_eq!(recent.len(), PER_SITE);
        assert_eq!(recent[0].1, DropReason::HostnameNotAllowed, "newest first");
        assert!(r.recent(2).is_empty());
        for site in 0..SITES as u32 + 5 {
            r.note(100 + site, DropReason::DoNotTrack, t0);
        }
        let len = r.by_site.lock().map(|m| m.len()).unwrap_or(0);
        assert!(len <= SITES, "{len} sites kept");
    }
}
