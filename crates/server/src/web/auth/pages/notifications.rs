//! Notifications (issue 23): what a member receives for a site, and for owners the
//! alerts' thresholds, the webhooks and the latest deliveries with their errors.
//!
//! - `GET|POST /sites/{domain}/notifications` — any member chooses their e-mails
//!   (`action=subscriptions`); owners set the alerts (`action=alerts`), add and delete
//!   webhooks (`action=add_webhook|delete_webhook`; the secret is shown once). CSRF.
//! - `GET|POST /unsubscribe/{token}` — no login: the link of every e-mail. `GET` asks,
//!   `POST` (the page's button, or a mail client's one-click `List-Unsubscribe-Post`)
//!   turns that one subscription off.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use lucarne_store::meta::{Site, SubKind, Webhook};
use maud::{html, Markup};
use serde::Deserialize;
use tracing::info;

use super::site_tabs;
use crate::notify::alerts::AlertOptions;
use crate::state::AppState;
use crate::web::auth::{
    csrf_field, redirect, row_id, site_access, verify_csrf, Lang, Role, Session, WebError,
};
use crate::web::layout::{page_bare, page_with};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/sites/{domain}/notifications", get(page).post(submit))
        .route(
            "/unsubscribe/{token}",
            get(unsubscribe_page).post(unsubscribe),
        )
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NotifyForm {
    csrf: String,
    action: String,
    weekly: Option<String>,
    monthly: Option<String>,
    alerts: Option<String>,
    locale: String,
    spike_min_visitors: String,
    spike_factor: String,
    viral_min_arrivals: String,
    viral_factor: String,
    quiet_start: String,
    quiet_end: String,
    daily_cap: String,
    url: String,
    hook_alerts: Option<String>,
    hook_conversions: Option<String>,
    id: String,
}

fn kind_label(lang: Lang, k: SubKind) -> &'static str {
    lang.auth(match k {
        SubKind::Weekly => "nt_weekly",
        SubKind::Monthly => "nt_monthly",
        SubKind::Alerts => "nt_alerts",
    })
}

async fn page(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
) -> Result<Markup, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    render(
        &state,
        &session,
        lang,
        &access.site,
        access.role,
        None,
        None,
    )
    .await
}

async fn render(
    state: &AppState,
    session: &Session,
    lang: Lang,
    site: &Site,
    role: Role,
    flash: Option<String>,
    secret: Option<&Webhook>,
) -> Result<Markup, WebError> {
    let mine = state
        .meta
        .user_subscriptions(session.user.id, site.id)
        .await?;
    let has = |k: SubKind| mine.iter().any(|s| s.kind == k);
    let locale = mine
        .first()
        .map(|s| s.locale.clone())
        .unwrap_or_else(|| lang.code().to_string());
    let owner = role == Role::Owner;
    let (opts, hooks, deliveries, alerts) = if owner {
        (
            AlertOptions::parse(&state.site_options(site.id).await?.alert_options),
            state.meta.webhooks(site.id).await?,
            state.meta.recent_deliveries(site.id, 20).await?,
            state
                .meta
                .alerts_since(site.id, chrono::Utc::now() - chrono::Duration::days(30), 20)
                .await?,
        )
    } else {
        (AlertOptions::default(), Vec::new(), Vec::new(), Vec::new())
    };
    let action = format!("/sites/{}/notifications", site.domain);
    let quiet = opts.quiet_hours;
    Ok(page_with(
        session,
        &format!("{} · {}", lang.auth("notifications"), site.domain),
        lang.code(),
        html! {
            h1 { (site.domain) }
            @if owner { (site_tabs(lang, &site.domain, "notifications")) }
            @else { p { a href={ "/sites/" (site.domain) } { (lang.auth("tab_dashboard")) } } }
            @if let Some(f) = flash { p.flash role="status" { (f) } }
            @if let Some(w) = secret {
                div.flash role="status" id="webhook-secret" {
                    p { (lang.auth("nt_secret_once")) }
                    pre { code { (w.secret) } }
                }
            }
            section.subscriptions {
                h2 { (lang.auth("nt_email_me")) }
                @if state.mailer.is_none() { p.status.status-waiting { (lang.auth("nt_no_smtp")) } }
                form method="post" action=(action) {
                    (csrf_field(session))
                    input type="hidden" name="action" value="subscriptions";
                    @for (name, k) in [("weekly", SubKind::Weekly), ("monthly", SubKind::Monthly), ("alerts", SubKind::Alerts)] {
                        label.checkbox { input type="checkbox" name=(name) value="on" checked[has(k)]; (kind_label(lang, k)) }
                    }
                    label { (lang.auth("nt_language"))
                        select name="locale" {
                            option value="en" selected[locale != "fr"] { "English" }
                            option value="fr" selected[locale == "fr"] { "Français" }
                        }
                    }
                    button type="submit" { (lang.auth("save")) }
                }
            }
            @if owner {
                section.alert-settings {
                    h2 { (lang.auth("nt_alert_settings")) }
                    p { (lang.auth("nt_alert_help")) }
                    form method="post" action=(action) {
                        (csrf_field(session))
                        input type="hidden" name="action" value="alerts";
                        label { (lang.auth("nt_viral_min")) input type="number" name="viral_min_arrivals" min="1" value=(opts.viral_min_arrivals); }
                        label { (lang.auth("nt_viral_factor")) input type="number" name="viral_factor" min="1" step="0.5" value=(opts.viral_factor); }
                        label { (lang.auth("nt_spike_min")) input type="number" name="spike_min_visitors" min="1" value=(opts.spike_min_visitors); }
                        label { (lang.auth("nt_spike_factor")) input type="number" name="spike_factor" min="1" step="0.5" value=(opts.spike_factor); }
                        label { (lang.auth("nt_quiet"))
                            input type="number" name="quiet_start" min="0" max="23" value=[quiet.map(|q| q[0])];
                            input type="number" name="quiet_end" min="0" max="23" value=[quiet.map(|q| q[1])]; }
                        label { (lang.auth("nt_cap")) input type="number" name="daily_cap" min="1" max="100" value=(opts.daily_cap); }
                        button type="submit" { (lang.auth("save")) }
                    }
                }
                section.webhooks {
                    h2 { (lang.auth("nt_webhooks")) }
                    p { (lang.auth("nt_webhooks_help")) }
                    @if !hooks.is_empty() {
                        ul {
                            @for h in &hooks {
                                li data-webhook=(h.id) {
                                    code { (h.url) } " — " (h.events.join(", "))
                                    form.inline method="post" action=(action) {
                                        (csrf_field(session))
                                        input type="hidden" name="action" value="delete_webhook";
                                        input type="hidden" name="id" value=(h.id);
                                        button type="submit" { (lang.auth("nt_delete")) }
                                    }
                                }
                            }
                        }
                    }
                    form method="post" action=(action) {
                        (csrf_field(session))
                        input type="hidden" name="action" value="add_webhook";
                        label { "URL" input type="url" name="url" required placeholder="https://hooks.example.com/lucarne"; }
                        label.checkbox { input type="checkbox" name="hook_alerts" value="on" checked; (lang.auth("nt_alerts")) }
                        label.checkbox { input type="checkbox" name="hook_conversions" value="on"; (lang.auth("nt_conversions")) }
                        button type="submit" { (lang.auth("nt_add_webhook")) }
                    }
                }
                section.deliveries {
                    h2 { (lang.auth("nt_recent")) }
                    @if deliveries.is_empty() && alerts.is_empty() { p { (lang.auth("nt_none_yet")) } }
                    @if !alerts.is_empty() {
                        ul.alerts {
                            @for a in &alerts {
                                li { time { (a.created_at.get(..16).unwrap_or(&a.created_at)) } " " (a.kind) " " code { (a.subject) } }
                            }
                        }
                    }
                    @if !deliveries.is_empty() {
                        div role="region" aria-label=(lang.auth("nt_recent")) tabindex="0" {
                            table {
                                thead { tr { th { (lang.auth("nt_when")) } th { (lang.auth("nt_what")) } th { (lang.auth("nt_to")) } th { (lang.auth("nt_status")) } th { (lang.auth("nt_error")) } } }
                                tbody {
                                    @for d in &deliveries {
                                        tr data-status=(d.status.as_str()) {
                                            td { (d.created_at.get(..16).unwrap_or(&d.created_at)) }
                                            td { (d.kind) " (" (d.channel.as_str()) ")" }
                                            td { (d.target) }
                                            td { (d.status.as_str()) " · " (d.attempts) }
                                            td { (d.last_error.clone().unwrap_or_default()) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    s.trim().parse().ok()
}

async fn submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
    Form(f): Form<NotifyForm>,
) -> Result<Response, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    verify_csrf(&session, &f.csrf)?;
    let site = access.site;
    let back = format!("/sites/{}/notifications", site.domain);
    let owner_only = || {
        if access.role == Role::Owner {
            Ok(())
        } else {
            Err(WebError::Forbidden)
        }
    };
    match f.action.as_str() {
        "subscriptions" => {
            let locale = if f.locale == "fr" { "fr" } else { "en" };
            for (on, k) in [
                (&f.weekly, SubKind::Weekly),
                (&f.monthly, SubKind::Monthly),
                (&f.alerts, SubKind::Alerts),
            ] {
                if on.as_deref().is_some_and(|v| !v.is_empty()) {
                    state
                        .meta
                        .subscribe(session.user.id, site.id, k, locale)
                        .await?;
                } else {
                    state.meta.unsubscribe(session.user.id, site.id, k).await?;
                }
            }
            info!(
                message = "Subscriptions changed.",
                site_id = site.id,
                user_id = session.user.id
            );
        }
        "alerts" => {
            owner_only()?;
            let bad = || WebError::BadRequest(lang.auth("nt_bad_alerts").to_string());
            let quiet = match (num::<u8>(&f.quiet_start), num::<u8>(&f.quiet_end)) {
                (Some(a), Some(b)) => Some([a, b]),
                _ => None,
            };
            let o = AlertOptions {
                spike_min_visitors: num(&f.spike_min_visitors).ok_or_else(bad)?,
                spike_factor: num(&f.spike_factor).ok_or_else(bad)?,
                viral_min_arrivals: num(&f.viral_min_arrivals).ok_or_else(bad)?,
                viral_factor: num(&f.viral_factor).ok_or_else(bad)?,
                quiet_hours: quiet,
                daily_cap: num(&f.daily_cap)
                    .filter(|n| (1..=100).contains(n))
                    .ok_or_else(bad)?,
            };
            let o = AlertOptions::check(&o.to_json())
                .map_err(|e| WebError::BadRequest(format!("{} {e}", lang.auth("nt_bad_alerts"))))?;
            let mut opts = state.meta.site_options(site.id).await?;
            opts.alert_options = o.to_json();
            state.meta.set_site_options(site.id, &opts).await?;
            state.invalidate_sites();
            info!(
                message = "Alert settings changed.",
                site_id = site.id,
                user_id = session.user.id
            );
        }
        "add_webhook" => {
            owner_only()?;
            let url = lucarne_core::links::check_target(f.url.trim(), state.allow_private_targets)
                .map_err(|e| {
                    WebError::BadRequest(format!("{} {e}", lang.auth("nt_bad_webhook")))
                })?;
            let mut events = Vec::new();
            if f.hook_alerts.as_deref().is_some_and(|v| !v.is_empty()) {
                events.push("alerts");
            }
            if f.hook_conversions.as_deref().is_some_and(|v| !v.is_empty()) {
                events.push("conversions");
            }
            if events.is_empty() {
                return Err(WebError::BadRequest(
                    lang.auth("nt_bad_webhook").to_string(),
                ));
            }
            if state.meta.webhooks(site.id).await?.len() >= 10 {
                return Err(WebError::BadRequest(
                    lang.auth("nt_too_many_webhooks").to_string(),
                ));
            }
            let w = state
                .meta
                .create_webhook(site.id, url.as_str(), &events)
                .await?;
            info!(
                message = "Webhook added.",
                site_id = site.id,
                webhook_id = w.id,
                user_id = session.user.id
            );
            let page = render(&state, &session, lang, &site, access.role, None, Some(&w)).await?;
            return Ok(page.into_response());
        }
        "delete_webhook" => {
            owner_only()?;
            let id = row_id(&f.id)?;
            if !state.meta.delete_webhook(site.id, id).await? {
                return Err(WebError::NotFound);
            }
            info!(
                message = "Webhook deleted.",
                site_id = site.id,
                webhook_id = id,
                user_id = session.user.id
            );
        }
        _ => return Err(WebError::BadRequest(lang.auth("nt_bad_action").to_string())),
    }
    Ok(redirect(&format!("{back}?saved=1")))
}

async fn unsubscribe_page(
    State(state): State<Arc<AppState>>,
    lang: Lang,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let sub = match state.meta.subscription_by_token(&token).await? {
        Some(s) => s,
        None => return Ok(gone(lang)),
    };
    let lang = Lang::choose(Some(&sub.locale), None, None);
    let site = state
        .meta
        .sites()
        .await?
        .into_iter()
        .find(|s| s.id == sub.site_id)
        .map(|s| s.domain)
        .unwrap_or_default();
    let body = html! {
        h1 { (lang.auth("nt_unsubscribe_h1")) }
        p { (lang.auth("nt_unsubscribe_ask").replace("{what}", kind_label(lang, sub.kind)).replace("{site}", &site).replace("{email}", &sub.email)) }
        form method="post" action={ "/unsubscribe/" (token) } {
            button type="submit" { (lang.auth("nt_unsubscribe_button")) }
        }
    };
    Ok(page_bare(lang.auth("nt_unsubscribe_h1"), lang.code(), body).into_response())
}

fn gone(lang: Lang) -> Response {
    (
        StatusCode::NOT_FOUND,
        page_bare(
            lang.auth("nt_unsubscribe_h1"),
            lang.code(),
            html! { h1 { (lang.auth("nt_unsubscribe_h1")) } p { (lang.auth("nt_unsubscribe_gone")) } },
        ),
    )
        .into_response()
}

async fn unsubscribe(
    State(state): State<Arc<AppState>>,
    lang: Lang,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let Some(sub) = state.meta.unsubscribe_token(&token).await? else {
        return Ok(gone(lang));
    };
    info!(
        message = "Unsubscribed by e-mail link.",
        site_id = sub.site_id,
        user_id = sub.user_id,
        kind = sub.kind.as_str()
    );
    let lang = Lang::choose(Some(&sub.locale), None, None);
    Ok(page_bare(
        lang.auth("nt_unsubscribe_h1"),
        lang.code(),
        html! { h1 { (lang.auth("nt_unsubscribe_h1")) } p { (lang.auth("nt_unsubscribed").replace("{what}", kind_label(lang, sub.kind))) } },
    )
    .into_response())
}
