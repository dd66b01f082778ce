//! Ingest without HTTP: synthetic hits go through the steps of `pipeline::OFFLINE`
//! (share-event checks, bot drop, copied-text attribution, token lookup in memory), then
//! the same visit, classification and store as `POST /api/event`.
//!
//! Tokens: a hit's own token ([`SyntheticHit::token`]) is minted as live ingest mints
//! the payload's `t`, and the token in its URL (`lc`) is resolved through the server's
//! in-memory index only (`TokenIndex::get`, no store read): hits come in time order, so
//! a parent minted earlier in the same run is known. An arrival token whose node is not
//! in memory (older than the run, or evicted) counts as `unknown`, as a live miss would.

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::NaiveDate;
use lucarne_core::event::Revenue;
use lucarne_core::synth::SyntheticHit;
use lucarne_core::token::Token;
use lucarne_core::url_clean::clean_url;
use lucarne_core::visitor::Salt;
use lucarne_store::meta::Site;

use super::pipeline::{self, DropReason, Hit};
use super::{submit_retrying, wait_committed};
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
        let Ok(url) = clean_url(&h.url) else {
            report.dropped += 1;
            continue;
        };
        let Ok(ip) = h.ip.parse::<IpAddr>() else {
            report.dropped += 1;
            continue;
        };
        let mut hit = Hit {
            referrer: h.referrer.clone(),
            screen_width: h.screen_width,
            props: h.props.clone(),
            revenue: h.revenue.clone().map(|(amount_minor, currency)| Revenue {
                amount_minor,
                currency,
            }),
            telegram_webview: h.telegram_webview,
            token: h.token.and_then(Token::from_bits).map_or(0, Token::bits),
            ..Hit::new(h.name.clone(), url, site.domain.clone())
        };
        let mut ctx = pipeline::Ctx::new(state, &h.user_agent);
        ctx.site = Some(Cow::Borrowed(site));
        if let Err(reason) = pipeline::run_steps(pipeline::OFFLINE, &mut ctx, &mut hit).await {
            state.metrics.drop(reason);
            report.dropped += 1;
            continue;
        }
        let day = h.ts.date_naive();
        let salts = (
            historical_salt(&seed, day),
            day.pred_opt().map(|d| historical_salt(&seed, d)),
        );
        let sender = pipeline::Sender {
            ip,
            user_agent: &h.user_agent,
            country: country(&h),
            at: h.ts,
            salts,
        };
        rows.push(pipeline::build_row(state, site, hit, sender).await);
        if rows.len() >= batch {
            let n = rows.len() as u64;
            inflight.push((n, submit_retrying(state, std::mem::take(&mut rows)).await?));
            // Keep a few batches in flight so generation overlaps committing.
            if inflight.len() >= 4 {
                let (n, t) = inflight.remove(0);
                wait_committed(t).await?;
                report.stored += n;
            }
        }
    }
    if !rows.is_empty() {
        let n = rows.len() as u64;
        inflight.push((n, submit_retrying(state, rows).await?));
    }
    for (n, t) in inflight {
        wait_committed(t).await?;
        report.stored += n;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Arc;

    use lucarne_core::cascade;
    use lucarne_core::stats::ReportQuery;
    use lucarne_core::synth::{Generator, SynthConfig};
    use lucarne_store::duck::DuckEvents;
    use lucarne_store::meta::MetaStore;
    use lucarne_store::EventStore;

    use super::*;
    use crate::ServerOptions;

    /// Synthetic cascades through the offline pipeline: every generated edge is stored
    /// as an edge, with the generation, parent and channel the generator intended.
    #[tokio::test]
    async fn synthetic_cascades_are_stored_as_generated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = MetaStore::open(dir.path()).await.expect("meta");
        let site = meta.add_site("example.com", "UTC").await.expect("site");
        let events: Arc<dyn EventStore> =
            Arc::new(DuckEvents::open(dir.path(), 1000).expect("duckdb"));
        let state = AppState::new(events, meta, &ServerOptions::default())
            .await
            .expect("state");
        let start = chrono::DateTime::from_timestamp(1_709_510_400, 0).expect("time");
        let mut cfg = SynthConfig::new("example.com", start, 14, 1_000);
        cfg.seed = 4;
        cfg.shares = true;
        let end = cfg.end();
        let hits: Vec<SyntheticHit> = Generator::new(cfg).collect();
        let report = ingest_hits(
            &state,
            &site,
            hits.iter().cloned(),
            |_| String::new(),
            5_000,
        )
        .await
        .expect("stored");
        assert_eq!((report.stored, report.dropped), (hits.len() as u64, 0));

        // What the generator intended.
        let children: Vec<&SyntheticHit> = hits
            .iter()
            .filter(|h| h.entry && h.truth.parent_visit.is_some())
            .collect();
        let mut want_generations: BTreeMap<u16, u64> = BTreeMap::new();
        let mut want_via: BTreeMap<String, u64> = BTreeMap::new();
        for h in &children {
            *want_generations.entry(h.truth.generation).or_default() += 1;
            *want_via
                .entry(h.truth.via.unwrap_or_default().to_string())
                .or_default() += 1;
        }
        let want_shares = hits.iter().filter(|h| h.name == "share").count();
        assert!(children.len() > 500, "{}", children.len());

        // What was stored.
        let q = ReportQuery {
            site_id: site.id,
            from: start,
            to: end,
            filters: Vec::new(),
            conditions: Vec::new(),
            with_sessions: false,
            with_shares: false,
        };
        let g = state.events.share_graph(&q).expect("graph");
        assert_eq!(g.edges.len(), children.len());
        assert_eq!(g.shares.len(), want_shares);
        let mut got_generations: BTreeMap<u16, u64> = BTreeMap::new();
        let mut got_via: BTreeMap<String, u64> = BTreeMap::new();
        for e in &g.edges {
            *got_generations.entry(e.generation).or_default() += 1;
            *got_via.entry(e.share_channel.clone()).or_default() += 1;
        }
        assert_eq!(got_generations, want_generations);
        assert_eq!(got_via, want_via);
        // Each stored edge names the token the generator put in the child's URL, and the
        // parent visit is the one that minted it.
        let by_token: HashMap<u64, &SyntheticHit> = children
            .iter()
            .filter_map(|h| h.truth.parent_token.map(|t| (t, *h)))
            .collect();
        let session_of_token: HashMap<u64, u64> = g
            .edges
            .iter()
            .map(|e| (e.parent_token, e.parent_session))
            .collect();
        assert_eq!(session_of_token.len(), by_token.len());
        // Two edges through tokens minted by the same generated visit share a parent
        // session.
        let mut parent_session: HashMap<u64, u64> = HashMap::new();
        for (token, child) in &by_token {
            let session = session_of_token[token];
            let parent = child.truth.parent_visit.unwrap_or_default();
            assert_eq!(*parent_session.entry(parent).or_insert(session), session);
        }
        let m = cascade::metrics(&g.edges, &g.shares);
        assert_eq!(m.share_visits, children.len() as u64);
        let deepest = want_generations.keys().max().copied().unwrap_or(0);
        assert_eq!(m.max_depth, u32::from(deepest));
        assert!(deepest >= 3, "{want_generations:?}");
    }
}
