//! The dashboard: server-rendered HTML (maud), no front-end framework.
//!
//! - `auth` — accounts, login sessions (cookie), CSRF, login rate limits, roles per site,
//!   API keys and shared links from the UI, site settings. It decides *who may see what*:
//!   every page asks `auth::site_access` (or `auth::shared_access`) first.
//! - `dashboard` — the overview of one site (numbers, charts, breakdown panels, filters,
//!   date ranges, comparison), CSV exports, English and French.

use std::sync::Arc;

use axum::Router;

use crate::state::AppState;

pub mod auth;
pub mod dashboard;

/// Every HTML route; error pages come out in the request's language.
pub fn routes() -> Router<Arc<AppState>> {
    auth::routes()
        .merge(dashboard::routes())
        .layer(axum::middleware::from_fn(auth::localise_errors))
}
