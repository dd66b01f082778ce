//! The page layout every HTML answer shares: the document head, the top bar and its
//! navigation ([`page`], [`page_with`], [`page_bare`]), and the page a short link shows
//! when it cannot be followed (`links::Unavailable`, rendered here so that `links` knows
//! no layout). Nothing outside `web` imports from `web`.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::auth::{csrf_field, Session};
use super::dashboard::i18n::Lang;
use crate::links::{Unavailable, UnavailablePage};

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · Lucarne" }
            link rel="stylesheet" href="/static/app.css";
            script src="/static/app.js" defer {}
        }
    }
}

/// The shared HTML shell, with navigation (Sites, API keys, Log out). The log-out link
/// leads to a confirmation form; [`page_with`] puts the log-out form itself in the header.
pub fn page(title: &str, locale: &str, body: Markup) -> Markup {
    shell(title, locale, Nav::Links, body)
}

/// The shell for a logged-in user: their e-mail and a log-out form (with CSRF) in the header.
pub fn page_with(session: &Session, title: &str, locale: &str, body: Markup) -> Markup {
    shell(title, locale, Nav::Session(session), body)
}

/// The shell without navigation (login, setup, errors, shared dashboards).
pub fn page_bare(title: &str, locale: &str, body: Markup) -> Markup {
    shell(title, locale, Nav::None, body)
}

enum Nav<'a> {
    None,
    Links,
    Session(&'a Session),
}

fn shell(title: &str, locale: &str, nav: Nav<'_>, body: Markup) -> Markup {
    let lang = Lang::parse(locale).unwrap_or(Lang::En);
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            (head(title))
            body {
                header.topbar {
                    a.brand href="/" { "Lucarne" }
                    @match nav {
                        Nav::None => {},
                        Nav::Links => {
                            nav.mainnav {
                                a href="/sites" { (lang.auth("nav_sites")) }
                                a href="/settings/keys" { (lang.auth("nav_keys")) }
                                a href="/logout" { (lang.auth("log_out")) }
                            }
                        },
                        Nav::Session(s) => {
                            nav.mainnav {
                                a href="/sites" { (lang.auth("nav_sites")) }
                                a href="/settings/keys" { (lang.auth("nav_keys")) }
                                a.whoami href="/settings/account" title=(lang.auth("account_title")) { (s.user.email) }
                                form.logout method="post" action="/logout" {
                                    (csrf_field(s))
                                    button type="submit" { (lang.auth("log_out")) }
                                }
                            }
                        },
                    }
                }
                main.container { (body) }
            }
        }
    }
}

/// A clear page for a link that cannot be followed (not an error page: the reader did
/// nothing wrong).
impl IntoResponse for UnavailablePage {
    fn into_response(self) -> Response {
        let lang = self
            .accept_language
            .as_deref()
            .and_then(Lang::from_accept_language)
            .unwrap_or(Lang::En);
        let (title, text) = match (lang, self.why) {
            (Lang::Fr, Unavailable::Expired) => (
                "Lien expiré",
                "Ce lien a expiré. Demandez un nouveau lien à la personne qui vous l'a envoyé.",
            ),
            (Lang::Fr, Unavailable::Disabled) => (
                "Lien désactivé",
                "Ce lien a été désactivé par son propriétaire.",
            ),
            (Lang::Fr, Unavailable::UsedUp) => (
                "Lien épuisé",
                "Ce lien a atteint son nombre maximal de clics.",
            ),
            (Lang::Fr, _) => (
                "Lien introuvable",
                "Aucun lien ne correspond à cette adresse. Vérifiez qu'elle est complète.",
            ),
            (_, Unavailable::Expired) => (
                "Link expired",
                "This link has expired. Ask whoever sent it for a new one.",
            ),
            (_, Unavailable::Disabled) => {
                ("Link disabled", "This link has been disabled by its owner.")
            }
            (_, Unavailable::UsedUp) => (
                "Link used up",
                "This link has reached its maximum number of clicks.",
            ),
            _ => (
                "Link not found",
                "No link matches this address. Check that it is complete.",
            ),
        };
        let body = page_bare(
            title,
            lang.code(),
            html! { main.link-unavailable { h1 { (title) } p { (text) } } },
        );
        let mut r = (self.why.status(), body).into_response();
        let h = r.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        // Redirects are served outside the router's header layers (a 302 needs none of
        // them); these pages are HTML and get the same protections as every other page.
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(crate::CSP),
        );
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        r
    }
}
