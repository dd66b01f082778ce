//! The dashboard: server-rendered HTML (maud), no front-end framework.
//!
//! - `auth` — accounts, login sessions (cookie), CSRF, login rate limits, roles per site,
//!   API keys and shared links from the UI, site settings. It decides *who may see what*:
//!   every page asks `auth::site_access` (or `auth::shared_access`) first.
//! - `dashboard` — the overview of one site (numbers, charts, breakdown panels, filters,
//!   date ranges, comparison), CSV exports, English and French.
//! - `layout` — the page shell every HTML answer shares, and the page of a short link that
//!   cannot be followed.
//!
//! Nothing outside `web` (and the router in `lib.rs`) imports from `web`.

use std::sync::Arc;

use axum::Router;

use crate::state::AppState;

pub mod auth;
pub mod dashboard;
pub mod embed;
pub mod layout;

/// Every HTML route; error pages come out in the request's language, and shared pages
/// of a site that allows it may be framed by the site's embed origins.
pub fn routes(state: Arc<AppState>) -> Router<Arc<AppState>> {
    auth::routes()
        .merge(dashboard::routes())
        .layer(axum::middleware::from_fn(auth::localise_errors))
        .layer(axum::middleware::from_fn_with_state(
            state,
            embed::allow_embedding,
        ))
}
