//! Self-serve teams: inviting by e-mail address (a set-password link shown to whoever
//! invites, and e-mailed when SMTP is configured), accepting an invitation, the account
//! page (language, password, leaving a site, and for administrators the public URL), and
//! deleting a site after typing its domain.
//!
//! - `GET|POST /invite/{token}` — accept: a new address sets its password and is logged
//!   in; an address with an account gets the role and logs in as usual. Pre-login CSRF.
//! - `GET|POST /settings/account` — `action=password|leave|public_url` (CSRF).
//! - `POST /sites/{domain}/delete` — owners, CSRF, `confirm` equal to the domain.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use lucarne_store::meta::{Invitation, InvitationState, Site, INVITATION_DAYS};
use maud::{html, Markup};
use serde::Deserialize;
use tracing::{info, warn};

use super::{
    bad, pre_action, pre_page, pre_token, role_label, start_session, verify_pre, with_cookie,
};
use crate::state::{AppState, PUBLIC_URL_SETTING};
use crate::web::auth::{
    check_new_password_in, csrf_field, hash_password, new_token, owner_access, redirect,
    token_hash, user_sites, verify_csrf, verify_password, Client, Lang, Role, Session, WebError,
};
use crate::web::layout::{page_bare, page_with};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/invite/{token}", get(invite_form).post(invite_submit))
        .route("/settings/account", get(account_page).post(account_submit))
        .route("/sites/{domain}/delete", post(delete_site))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TeamForm {
    csrf: String,
    action: String,
    current: String,
    password: String,
    password2: String,
    domain: String,
    confirm: String,
    public_url: String,
}

// ---------------------------------------------------------------- inviting

/// What inviting did: the link to pass on, and whether it went out by e-mail.
pub(super) struct Invited {
    pub link: String,
    pub email: String,
    pub mail: MailOutcome,
}

pub(super) enum MailOutcome {
    /// No SMTP configured: the inviter passes the link on.
    NotConfigured,
    Sent,
    /// SMTP refused or did not answer: said to the inviter, with the link.
    Failed,
}

/// Invite `email` to `site` with `role`: a new token (its hash stored), the link, and the
/// e-mail when SMTP is configured.
pub(super) async fn invite(
    state: &AppState,
    session: &Session,
    lang: Lang,
    headers: &HeaderMap,
    site: &Site,
    email: &str,
    role: Role,
) -> Result<Invited, WebError> {
    let token = new_token();
    let inv = state
        .meta
        .create_invitation(
            site.id,
            email,
            role,
            Some(session.user.id),
            &token_hash(&token),
        )
        .await
        .map_err(|e| match e {
            lucarne_store::meta::MetaError::Invalid(_) => bad(lang, "bad_email"),
            e => e.into(),
        })?;
    let link = format!(
        "{}/invite/{token}",
        crate::api::links::public_base(state, headers)
    );
    info!(
        message = "Invitation made.",
        site_id = site.id,
        user_id = session.user.id,
        role = role.as_str()
    );
    let mail = match &state.mailer {
        None => MailOutcome::NotConfigured,
        Some(m) => {
            let subject = lang.auth("invite_subject").replace("{site}", &site.domain);
            let body = lang
                .auth("invite_body")
                .replace("{who}", &session.user.email)
                .replace("{site}", &site.domain)
                .replace("{role}", role_label(lang, role))
                .replace("{link}", &link)
                .replace("{days}", &INVITATION_DAYS.to_string());
            match m.send(&inv.email, &subject, body).await {
                Ok(()) => {
                    info!(message = "Invitation e-mailed.", site_id = site.id);
                    MailOutcome::Sent
                }
                Err(e) => {
                    warn!(message = "Invitation e-mail failed.", site_id = site.id, error = %e);
                    MailOutcome::Failed
                }
            }
        }
    };
    Ok(Invited {
        link,
        email: inv.email,
        mail,
    })
}

/// The flash after inviting: the link (shown once), and what happened to the e-mail.
pub(super) fn invited_markup(lang: Lang, i: &Invited) -> Markup {
    let said = match i.mail {
        MailOutcome::NotConfigured => "invite_no_smtp",
        MailOutcome::Sent => "invite_sent",
        MailOutcome::Failed => "invite_mail_failed",
    };
    html! {
        div.flash.once id="invited" role="status" data-mail=(said) {
            p { (lang.auth(said).replace("{email}", &i.email).replace("{days}", &INVITATION_DAYS.to_string())) }
            pre { code.copy id="invite-link" { (i.link) } }
        }
    }
}

/// Pending invitations of a site, each with a button to withdraw it.
pub(super) fn pending_markup(
    session: &Session,
    lang: Lang,
    domain: &str,
    pending: &[Invitation],
) -> Markup {
    let now = chrono::Utc::now().to_rfc3339();
    html! {
        @if !pending.is_empty() {
            h2 { (lang.auth("pending_h2")) }
            table id="pending" {
                thead { tr { th { (lang.auth("email")) } th { (lang.auth("role")) } th { (lang.auth("expires")) } th {} } }
                tbody {
                    @for p in pending {
                        tr {
                            td { (p.email) }
                            td { (role_label(lang, p.role)) }
                            td {
                                @if p.expires_at <= now { (lang.auth("expired")) }
                                @else { (p.expires_at.get(..10).unwrap_or(&p.expires_at)) }
                            }
                            td {
                                form method="post" action={ "/sites/" (domain) "/members" } {
                                    (csrf_field(session))
                                    input type="hidden" name="action" value="revoke_invite";
                                    input type="hidden" name="id" value=(p.token_hash);
                                    button type="submit" { (lang.auth("revoke")) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------- accepting

fn invite_markup(
    lang: Lang,
    action: &str,
    csrf: &str,
    inv: &Invitation,
    domain: &str,
    has_account: bool,
    problem: Option<&str>,
) -> Markup {
    page_bare(
        lang.auth("invite_title"),
        lang.code(),
        html! {
            section.auth id="invite" {
                h1 { (lang.auth("invite_h1").replace("{site}", domain)) }
                p { (lang.auth("invite_intro").replace("{email}", &inv.email).replace("{role}", role_label(lang, inv.role))) }
                @if let Some(p) = problem { p.error role="alert" { (p) } }
                form method="post" action=(action) {
                    input type="hidden" name="csrf" value=(csrf);
                    @if has_account {
                        p { (lang.auth("invite_has_account")) }
                        button type="submit" { (lang.auth("invite_accept")) }
                    } @else {
                        input type="email" name="email" value=(inv.email) readonly autocomplete="username" hidden;
                        label { (lang.auth("password")) input type="password" name="password" required minlength=(crate::web::auth::MIN_PASSWORD_LEN) autocomplete="new-password"; }
                        label { (lang.auth("password2")) input type="password" name="password2" required autocomplete="new-password"; }
                        button type="submit" { (lang.auth("invite_set_password")) }
                    }
                }
            }
        },
    )
}

/// The invitation behind a token, its site, and whether its address has an account; an
/// unknown or expired token is a page saying so (404 / 410), never which it was for.
async fn lookup(
    state: &AppState,
    lang: Lang,
    token: &str,
) -> Result<Result<(Invitation, Site, bool), Response>, WebError> {
    let gone = |key: &str, status: StatusCode| {
        let page = page_bare(
            lang.auth("invite_title"),
            lang.code(),
            html! { section.auth { h1 { (lang.auth("invite_title")) } p.error role="alert" { (lang.auth(key)) } } },
        );
        (status, page).into_response()
    };
    let inv = match state.meta.invitation(&token_hash(token)).await? {
        InvitationState::Valid(i) => i,
        InvitationState::Expired => return Ok(Err(gone("invite_expired", StatusCode::GONE))),
        InvitationState::Unknown => return Ok(Err(gone("invite_unknown", StatusCode::NOT_FOUND))),
    };
    let Some(site) = state
        .meta
        .sites()
        .await?
        .into_iter()
        .find(|s| s.id == inv.site_id)
    else {
        return Ok(Err(gone("invite_unknown", StatusCode::NOT_FOUND)));
    };
    let has_account = state.meta.user_by_email(&inv.email).await?.is_some();
    Ok(Ok((inv, site, has_account)))
}

async fn invite_form(
    State(state): State<Arc<AppState>>,
    client: Client,
    lang: Lang,
    headers: HeaderMap,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    let (inv, site, has_account) = match lookup(&state, lang, &token).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let (csrf, fresh) = pre_token(&headers);
    let action = pre_action(&format!("/invite/{token}"), query.as_deref(), lang);
    Ok(pre_page(
        invite_markup(lang, &action, &csrf, &inv, &site.domain, has_account, None),
        StatusCode::OK,
        &csrf,
        fresh,
        client.tls,
    ))
}

async fn invite_submit(
    State(state): State<Arc<AppState>>,
    client: Client,
    lang: Lang,
    headers: HeaderMap,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    Form(f): Form<TeamForm>,
) -> Result<Response, WebError> {
    verify_pre(&headers, &f.csrf)?;
    let (inv, site, has_account) = match lookup(&state, lang, &token).await? {
        Ok(found) => found,
        Err(page) => return Ok(page),
    };
    let hash = if has_account {
        // Unused: the account keeps its password.
        String::new()
    } else {
        let problem = if let Err(p) = check_new_password_in(&f.password, lang) {
            Some(p)
        } else if f.password != f.password2 {
            Some(lang.auth("pw_differ").to_string())
        } else {
            None
        };
        if let Some(p) = problem {
            let action = pre_action(&format!("/invite/{token}"), query.as_deref(), lang);
            return Ok((
                StatusCode::BAD_REQUEST,
                invite_markup(lang, &action, &f.csrf, &inv, &site.domain, false, Some(&p)),
            )
                .into_response());
        }
        let password = f.password.clone();
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|_| WebError::Internal)??
    };
    let Some(accepted) = state
        .meta
        .accept_invitation(&token_hash(&token), &hash)
        .await?
    else {
        // Used or withdrawn between the form and now.
        return Err(WebError::NotFound);
    };
    info!(
        message = "Invitation accepted.",
        site_id = accepted.site_id,
        user_id = accepted.user_id,
        new_account = accepted.new_account
    );
    let dashboard = format!("/sites/{}", site.domain);
    if accepted.new_account {
        let c = start_session(&state, accepted.user_id, client.tls).await?;
        Ok(with_cookie(redirect(&dashboard), c))
    } else {
        // An existing account proves itself with its own password.
        let next: String = url::form_urlencoded::byte_serialize(dashboard.as_bytes()).collect();
        Ok(redirect(&format!("/login?next={next}")))
    }
}

// ---------------------------------------------------------------- the account page

async fn account_markup(
    state: &AppState,
    session: &Session,
    lang: Lang,
    flash: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let sites = user_sites(state, &session.user).await?;
    let admin = state.meta.is_admin(session.user.id).await?;
    let configured = state.configured_public_url();
    let saved = state.meta.instance_setting(PUBLIC_URL_SETTING).await?;
    Ok(page_with(
        session,
        lang.auth("account_title"),
        lang.code(),
        html! {
            h1 { (lang.auth("account_title")) }
            p { (lang.auth("signed_in_as")) " " strong { (session.user.email) } }
            @if let Some(f) = flash { p.flash role="status" { (f) } }
            @if let Some(p) = problem { p.error role="alert" { (p) } }
            section.language id="account-language" {
                h2 { (lang.auth("language_h2")) }
                form method="post" action="/settings/language" {
                    (csrf_field(session))
                    label {
                        (lang.auth("language"))
                        select name="locale" {
                            option value="auto" selected[session.user.locale.is_none()] { (lang.auth("language_auto")) }
                            option value="en" selected[session.user.locale.as_deref() == Some("en")] { "English" }
                            option value="fr" selected[session.user.locale.as_deref() == Some("fr")] { "Français" }
                        }
                    }
                    button type="submit" { (lang.auth("save")) }
                }
            }
            section id="account-password" {
                h2 { (lang.auth("password_h2")) }
                form method="post" action="/settings/account" {
                    (csrf_field(session))
                    input type="hidden" name="action" value="password";
                    label { (lang.auth("current_password")) input type="password" name="current" required autocomplete="current-password"; }
                    label { (lang.auth("new_password")) input type="password" name="password" required minlength=(crate::web::auth::MIN_PASSWORD_LEN) autocomplete="new-password"; }
                    label { (lang.auth("password2")) input type="password" name="password2" required autocomplete="new-password"; }
                    button type="submit" { (lang.auth("change_password")) }
                }
            }
            section id="account-sites" {
                h2 { (lang.auth("your_sites")) }
                @if sites.is_empty() {
                    p.empty { (lang.auth("no_sites")) }
                } @else {
                    table {
                        thead { tr { th { (lang.auth("site")) } th { (lang.auth("role")) } th {} } }
                        tbody {
                            @for (site, role) in &sites {
                                tr {
                                    td { a href={ "/sites/" (site.domain) } { (site.domain) } }
                                    td { (role_label(lang, *role)) }
                                    td {
                                        form method="post" action="/settings/account" {
                                            (csrf_field(session))
                                            input type="hidden" name="action" value="leave";
                                            input type="hidden" name="domain" value=(site.domain);
                                            button type="submit" { (lang.auth("leave")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if admin {
                section id="instance" {
                    h2 { (lang.auth("instance_h2")) }
                    @if let Some(u) = &configured {
                        p id="public-url-configured" { (lang.auth("public_url_configured").replace("{url}", u)) }
                    } @else {
                        form method="post" action="/settings/account" {
                            (csrf_field(session))
                            input type="hidden" name="action" value="public_url";
                            label { (lang.auth("public_url"))
                                input type="url" name="public_url" id="public-url" value=[saved.as_deref()] placeholder="https://stats.example.com";
                                small { (lang.auth("public_url_help")) } }
                            button type="submit" { (lang.auth("save")) }
                        }
                    }
                }
            }
        },
    ))
}

async fn account_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    RawQuery(query): RawQuery,
) -> Result<Markup, WebError> {
    let saved = url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "done")
        .map(|(_, v)| v.into_owned());
    let flash = match saved.as_deref() {
        Some("password") => Some(lang.auth("password_changed")),
        Some("saved") => Some(lang.auth("saved")),
        _ => None,
    };
    account_markup(&state, &session, lang, flash, None).await
}

/// A public URL as typed: `http(s)://host[:port][/path]`, no query or fragment, without
/// the trailing slash; empty clears it.
fn parse_public_url(s: &str) -> Result<Option<String>, ()> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let u = url::Url::parse(s).map_err(|_| ())?;
    let ok = matches!(u.scheme(), "http" | "https")
        && u.host_str().is_some()
        && u.query().is_none()
        && u.fragment().is_none()
        && u.username().is_empty()
        && u.password().is_none();
    if !ok {
        return Err(());
    }
    Ok(Some(u.as_str().trim_end_matches('/').to_string()))
}

async fn account_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Form(f): Form<TeamForm>,
) -> Result<Response, WebError> {
    verify_csrf(&session, &f.csrf)?;
    let problem = |p: String| {
        let state = state.clone();
        let session = session.clone();
        async move {
            Ok::<_, WebError>(
                (
                    StatusCode::BAD_REQUEST,
                    account_markup(&state, &session, lang, None, Some(&p)).await?,
                )
                    .into_response(),
            )
        }
    };
    match f.action.as_str() {
        "password" => {
            let Some(user) = state.meta.user_by_id(session.user.id).await? else {
                return Err(WebError::NotFound);
            };
            let (current, stored) = (f.current.clone(), user.password_hash.clone());
            let matches = tokio::task::spawn_blocking(move || verify_password(&current, &stored))
                .await
                .map_err(|_| WebError::Internal)?;
            if !matches {
                warn!(
                    message = "Password change refused: wrong current password.",
                    user_id = user.id
                );
                return problem(lang.auth("current_wrong").to_string()).await;
            }
            if let Err(p) = check_new_password_in(&f.password, lang) {
                return problem(p).await;
            }
            if f.password != f.password2 {
                return problem(lang.auth("pw_differ").to_string()).await;
            }
            let password = f.password.clone();
            let hash = tokio::task::spawn_blocking(move || hash_password(&password))
                .await
                .map_err(|_| WebError::Internal)??;
            state.meta.set_user_password(user.id, &hash).await?;
            // Every other login of this account ends: a leaked password stops working
            // everywhere at once.
            let ended = state
                .meta
                .end_other_web_sessions(user.id, &session.csrf)
                .await?;
            info!(
                message = "Password changed.",
                user_id = user.id,
                other_sessions_ended = ended
            );
            Ok(redirect("/settings/account?done=password"))
        }
        "leave" => {
            let domain = f.domain.trim().to_ascii_lowercase();
            let sites = user_sites(&state, &session.user).await?;
            let Some((site, _)) = sites.iter().find(|(s, _)| s.domain == domain) else {
                return Err(WebError::NotFound);
            };
            let members = state.meta.members(site.id).await?;
            let owners = members.iter().filter(|m| m.role == Role::Owner).count();
            let me_owner = members
                .iter()
                .any(|m| m.user_id == session.user.id && m.role == Role::Owner);
            if me_owner && owners <= 1 {
                return problem(
                    lang.auth("last_owner_leave")
                        .replace("{site}", &site.domain),
                )
                .await;
            }
            state.meta.remove_member(site.id, session.user.id).await?;
            info!(
                message = "Member left the site.",
                site_id = site.id,
                user_id = session.user.id
            );
            Ok(redirect("/settings/account?done=saved"))
        }
        "public_url" => {
            if !state.meta.is_admin(session.user.id).await? {
                return Err(WebError::Forbidden);
            }
            if state.configured_public_url().is_some() {
                return problem(lang.auth("public_url_fixed").to_string()).await;
            }
            let Ok(url) = parse_public_url(&f.public_url) else {
                return problem(lang.auth("bad_public_url").to_string()).await;
            };
            state
                .meta
                .set_instance_setting(PUBLIC_URL_SETTING, url.as_deref())
                .await?;
            state.reload_public_url().await?;
            info!(
                message = "Public URL changed.",
                user_id = session.user.id,
                set = url.is_some()
            );
            Ok(redirect("/settings/account?done=saved"))
        }
        _ => Err(bad(lang, "unknown_action")),
    }
}

// ---------------------------------------------------------------- deleting a site

/// The settings page's last section: deleting the site, after typing its domain.
pub(super) fn delete_site_markup(session: &Session, lang: Lang, domain: &str) -> Markup {
    html! {
        section.danger id="delete-site" {
            h2 { (lang.auth("delete_site_h2")) }
            p { (lang.auth("delete_site_warn").replace("{site}", domain)) }
            form method="post" action={ "/sites/" (domain) "/delete" } {
                (csrf_field(session))
                label { (lang.auth("delete_site_confirm").replace("{site}", domain))
                    input type="text" name="confirm" required autocomplete="off" spellcheck="false"; }
                button.danger type="submit" { (lang.auth("delete_site_button")) }
            }
        }
    }
}

async fn delete_site(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
    Form(f): Form<TeamForm>,
) -> Result<Response, WebError> {
    let site = owner_access(&state, &session, &domain).await?.site;
    verify_csrf(&session, &f.csrf)?;
    if f.confirm.trim().to_ascii_lowercase() != site.domain {
        return Err(WebError::BadRequest(
            lang.auth("delete_site_mismatch")
                .replace("{site}", &site.domain),
        ));
    }
    // The site goes first: from now on its events are refused as an unknown site; then
    // what the events store holds (`backup::delete_site`, as `lucarne site delete`).
    let id = site.id;
    let events = crate::backup::delete_site(state.events.clone(), &state.meta, id).await;
    state.invalidate_sites();
    match events {
        Ok(n) => info!(
            message = "Site deleted.",
            site_id = id,
            user_id = session.user.id,
            events = n
        ),
        Err(e) => {
            // The site is gone from every page; its rows are unreachable (ids are never
            // given again) and retention-free: say so in the log for the operator.
            warn!(message = "Site deleted; its events could not be deleted.", site_id = id, error = %format!("{e:#}"));
        }
    }
    Ok(redirect("/sites?deleted=1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_origins_with_an_optional_path() {
        assert_eq!(
            parse_public_url(" https://stats.example.com/ "),
            Ok(Some("https://stats.example.com".into()))
        );
        assert_eq!(
            parse_public_url("http://example.com:8080/lucarne"),
            Ok(Some("http://example.com:8080/lucarne".into()))
        );
        assert_eq!(parse_public_url(""), Ok(None));
        for bad in [
            "stats.example.com",
            "ftp://x.example",
            "https://u:p@x.example",
            "https://x.example/?a=1",
            "javascript:alert(1)",
        ] {
            assert_eq!(parse_public_url(bad), Err(()), "{bad}");
        }
    }
}
