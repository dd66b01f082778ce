//! `GET /api/v1/stats/previews?site_id=…&period=…[&date=…][&limit=100]`: link previews
//! of the site's pages by app, next to the visits those pages received.
//!
//! For the period (the stats API's `period`/`date`; `filters` are not applied):
//! - `previews`, `by_app`: `preview` events of the site's pages (previews of short links
//!   are in the link report and not counted here), in total and per app;
//! - per page (the `limit` pages with the most previews): its previews, by app; its
//!   `visits` (visits whose entry page is this page) and `visits_by_group` (the same
//!   split by channel group, every group listed); `unreferred_or_private_visits`, the
//!   visits in the groups a pasted link arrives as — private-message, email,
//!   estimated-dark and direct — and `visits_per_preview`, that number divided by the
//!   page's previews (two decimals).
//!
//! Both counts cover the same period: this relates previews and visits page by page, it
//! does not link a visit to a preview.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use lucarne_core::links::PREVIEW_EVENT;
use lucarne_core::rules::Rules;
use lucarne_core::stats::{Filter, Property, ReportQuery};
use lucarne_core::ChannelGroup;
use lucarne_store::{EventStore, StoreError};
use serde_json::{json, Map, Value};

use crate::api::stats::{authorized, blocking, StatsParams};
use crate::error::{ApiError, Query};
use crate::state::AppState;

/// Rows asked of a breakdown when every row is wanted.
const ALL_ROWS: usize = 100_000;
/// Pages per `visit:entry_page` filter.
const PAGES_PER_QUERY: usize = 200;

/// The groups a click on a pasted link arrives in: with a private channel's signal, or
/// without a referrer (estimated dark on a deep page, direct on the home page).
pub const UNREFERRED_OR_PRIVATE: [ChannelGroup; 4] = [
    ChannelGroup::PrivateMessage,
    ChannelGroup::Email,
    ChannelGroup::EstimatedDark,
    ChannelGroup::Direct,
];

/// One page of the report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PagePreviews {
    pub page: String,
    pub previews: u64,
    /// (app, previews), most first.
    pub by_app: Vec<(String, u64)>,
    pub visits_by_group: BTreeMap<ChannelGroup, u64>,
}

impl PagePreviews {
    pub fn visits(&self) -> u64 {
        self.visits_by_group.values().sum()
    }

    pub fn unreferred_or_private_visits(&self) -> u64 {
        UNREFERRED_OR_PRIVATE
            .iter()
            .filter_map(|g| self.visits_by_group.get(g))
            .sum()
    }

    /// Unreferred-or-private visits per preview, two decimals (0 without previews).
    pub fn visits_per_preview(&self) -> f64 {
        if self.previews == 0 {
            return 0.0;
        }
        let r = self.unreferred_or_private_visits() as f64 / self.previews as f64;
        (r * 100.0).round() / 100.0
    }
}

/// The whole report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PreviewReport {
    pub previews: u64,
    pub by_app: Vec<(String, u64)>,
    pub pages: Vec<PagePreviews>,
}

fn eq(property: Property, values: Vec<String>) -> Filter {
    Filter::is(property, values)
}

/// `preview` events of pages (not of short links).
fn page_previews() -> Vec<Filter> {
    vec![
        eq(Property::Name, vec![PREVIEW_EVENT.to_string()]),
        eq(Property::EventLink, vec![String::new()]),
    ]
}

fn most_first(v: &mut [(String, u64)]) {
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
}

/// Compute the report for `q`'s site and range (`q.filters` are ignored).
pub fn compute(
    events: &dyn EventStore,
    q: &ReportQuery,
    limit: usize,
) -> Result<PreviewReport, StoreError> {
    let query = |filters: Vec<Filter>| ReportQuery {
        filters,
        conditions: Vec::new(),
        with_sessions: false,
        with_shares: false,
        ..q.clone()
    };
    let app_prop = Property::Prop("app".to_string());
    let mut by_app: Vec<(String, u64)> = events
        .breakdown(&query(page_previews()), &app_prop, ALL_ROWS, 0)?
        .into_iter()
        .map(|(app, a)| (app, a.events))
        .filter(|(_, n)| *n > 0)
        .collect();
    most_first(&mut by_app);
    let previews = by_app.iter().map(|(_, n)| n).sum();

    let mut pages: HashMap<String, PagePreviews> = HashMap::new();
    for (app, _) in &by_app {
        let mut f = page_previews();
        f.push(eq(app_prop.clone(), vec![app.clone()]));
        for (page, a) in events.breakdown(&query(f), &Property::Page, ALL_ROWS, 0)? {
            if a.events == 0 {
                continue;
            }
            let p = pages.entry(page.clone()).or_insert_with(|| PagePreviews {
                page,
                ..PagePreviews::default()
            });
            p.previews += a.events;
            p.by_app.push((app.clone(), a.events));
        }
    }
    let mut pages: Vec<PagePreviews> = pages.into_values().collect();
    pages.sort_by(|a, b| b.previews.cmp(&a.previews).then(a.page.cmp(&b.page)));
    pages.truncate(limit);
    for p in &mut pages {
        most_first(&mut p.by_app);
        for g in ChannelGroup::ALL {
            p.visits_by_group.insert(g, 0);
        }
    }

    // Visits by entry page, per channel group, for the listed pages only.
    let index: HashMap<String, usize> = pages
        .iter()
        .enumerate()
        .map(|(i, p)| (p.page.clone(), i))
        .collect();
    let names: Vec<String> = pages.iter().map(|p| p.page.clone()).collect();
    for chunk in names.chunks(PAGES_PER_QUERY) {
        for g in ChannelGroup::ALL {
            let f = vec![
                eq(Property::ChannelGroup, vec![g.as_str().to_string()]),
                eq(Property::EntryPage, chunk.to_vec()),
            ];
            for (page, a) in events.breakdown(&query(f), &Property::EntryPage, ALL_ROWS, 0)? {
                // A `*` in a path is a wildcard to the filter: keep exact pages only.
                if let Some(&i) = index.get(&page) {
                    pages[i].visits_by_group.insert(g, a.visits);
                }
            }
        }
    }
    Ok(PreviewReport {
        previews,
        by_app,
        pages,
    })
}

fn app_json(rules: &Rules, app: &str, previews: u64) -> Value {
    let name = rules
        .channel_info(app)
        .map_or_else(|| app.to_string(), |c| c.name.clone());
    json!({ "app": app, "name": name, "previews": previews })
}

/// The report as JSON.
pub fn report_json(rules: &Rules, site: &str, from: &str, to: &str, r: &PreviewReport) -> Value {
    let results: Vec<Value> = r
        .pages
        .iter()
        .map(|p| {
            let mut groups = Map::new();
            for (g, n) in &p.visits_by_group {
                groups.insert(g.as_str().to_string(), json!(n));
            }
            json!({
                "page": p.page,
                "previews": p.previews,
                "by_app": p.by_app.iter().map(|(a, n)| app_json(rules, a, *n)).collect::<Vec<_>>(),
                "visits": p.visits(),
                "visits_by_group": groups,
                "unreferred_or_private_visits": p.unreferred_or_private_visits(),
                "visits_per_preview": p.visits_per_preview(),
            })
        })
        .collect();
    json!({
        "site_id": site,
        "from": from,
        "to": to,
        "previews": r.previews,
        "by_app": r.by_app.iter().map(|(a, n)| app_json(rules, a, *n)).collect::<Vec<_>>(),
        "results": results,
    })
}

/// `GET /api/v1/stats/previews`.
pub async fn previews(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(p): Query<StatsParams>,
) -> Result<Json<Value>, ApiError> {
    let r = authorized(&state, &headers, &p).await?;
    let limit = p.limit.unwrap_or(100).clamp(1, 1000);
    let q = r.query(r.from, r.to);
    let report = blocking(&state, move |s| compute(s.events.as_ref(), &q, limit)).await?;
    Ok(Json(report_json(
        &state.rules,
        &r.site.domain,
        &r.from.to_string(),
        &r.to.to_string(),
        &report,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios() {
        let mut p = PagePreviews {
            page: "/a".into(),
            previews: 3,
            ..PagePreviews::default()
        };
        p.visits_by_group.insert(ChannelGroup::PrivateMessage, 2);
        p.visits_by_group.insert(ChannelGroup::EstimatedDark, 3);
        p.visits_by_group.insert(ChannelGroup::Direct, 1);
        p.visits_by_group.insert(ChannelGroup::Search, 10);
        assert_eq!(p.visits(), 16);
        assert_eq!(p.unreferred_or_private_visits(), 6);
        assert_eq!(p.visits_per_preview(), 2.0);
        p.previews = 7;
        assert_eq!(p.visits_per_preview(), 0.86);
        p.previews = 0;
        assert_eq!(p.visits_per_preview(), 0.0);
    }
}
