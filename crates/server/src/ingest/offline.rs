//! Ingest without HTTP: synthetic or imported hits go through the same steps as
//! `POST /api/event` (bot drop, URL cleaning, visit, classification) and the same store.

use std::net::IpAddr;

use chrono::NaiveDate;
use lucarne_core::event::Revenue;
use lucarne_core::synth::SyntheticHit;
use lucarne_core::url_clean::clean_url;
use lucarne_core::visitor::Salt;
use lucarne_store::meta::Site;

use super::pipeline::{self, DropReason, Hit};
use crate::state::AppState;

/// A per-day salt for historical data, so visitor ids rotate daily as live ones do.
pub fn historical_salt(seed: &[u8; 32], day: NaiveDate) -> Salt {
    let mut h = blake3::Hasher::new_keyed(seed);
    h.update(day.to_string().as_bytes());
    *h.finalize().as_bytes()
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OfflineReport {
    pub stored: u64,
    pub dropped: u64,
}

/// Classify and store `hits` for `site`, committing in batches of `batch` rows.
pub async fn ingest_hits(
    state: &AppState,
    site: &Site,
    hits: impl Iterator<Item = SyntheticHit>,
    country: impl Fn(&SyntheticHit) -> String,
    batch: usize,
) -> Result<OfflineReport, DropReason> {
    let seed: [u8; 32] =
        *blake3::hash(format!("lucarne-offline-{}", site.id).as_bytes()).as_bytes();
    let mut report = OfflineReport::default();
    let mut rows = Vec::with_capacity(batch);
    let mut inflight = Vec::new();
    let mut seen = 0u64;
    for h in hits {
        seen += 1;
        // Historical time runs faster than the maintenance timer: forget idle visits by
        // event time, or the visit table would hold every visit ever generated.
        if seen.is_multiple_of(50_000) {
            state.sessions.sweep(h.ts);
        }
        if pipeline::drop_bot(state, &h.user_agent).is_err() {
            state.metrics.drop(DropReason::Bot);
            report.dropped += 1;
            continue;
        }
        let Ok(url) = clean_url(&h.url) else {
            report.dropped += 1;
            continue;
        };
        let ip: IpAddr = match h.ip.parse() {
            Ok(ip) => ip,
            Err(_) => {
                report.dropped += 1;
                continue;
            }
        };
        let day = h.ts.date_naive();
        let salts = (
            historical_salt(&seed, day),
            day.pred_opt().map(|d| historical_salt(&seed, d)),
        );
        let c = country(&h);
        let hit = Hit {
            name: h.name.clone(),
            url,
            referrer: h.referrer.clone(),
            screen_width: h.screen_width,
            props: h.props.clone(),
            revenue: h.revenue.clone().map(|(amount_minor, currency)| Revenue {
                amount_minor,
                currency,
            }),
            telegram_webview: h.telegram_webview,
            domain: site.domain.clone(),
            token: 0,
            share_channel: String::new(),
            arrival: None,
            arrival_present: false,
            parent: None,
        };
        let sender = pipeline::Sender {
            ip,
            user_agent: &h.user_agent,
            country: c,
            at: h.ts,
            salts,
        };
        rows.push(pipeline::build_row(state, site, hit, sender));
        if rows.len() >= batch {
            let n = rows.len() as u64;
            inflight.push((n, submit_retrying(state, std::mem::take(&mut rows)).await?));
            // Keep a few batches in flight so generation overlaps committing.
            if inflight.len() >= 4 {
                let (n, t) = inflight.remove(0);
                wait(t).await?;
                report.stored += n;
            }
        }
    }
    if !rows.is_empty() {
        let n = rows.len() as u64;
        inflight.push((n, submit_retrying(state, rows).await?));
    }
    for (n, t) in inflight {
        wait(t).await?;
        report.stored += n;
    }
    Ok(report)
}

async fn submit_retrying(
    state: &AppState,
    rows: Vec<lucarne_core::event::EventRow>,
) -> Result<lucarne_store::CommitTicket, DropReason> {
    let mut rows = Some(rows);
    loop {
        let Some(r) = rows.take() else {
            return Err(DropReason::StoreUnavailable);
        };
        match state.events.submit(r.clone()) {
            Ok(t) => return Ok(t),
            Err(lucarne_store::StoreError::QueueFull) => {
                rows = Some(r);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            Err(_) => return Err(DropReason::StoreUnavailable),
        }
    }
}

async fn wait(t: lucarne_store::CommitTicket) -> Result<(), DropReason> {
    match t.await {
        Ok(Ok(())) => Ok(()),
        _ => Err(DropReason::StoreUnavailable),
    }
}
