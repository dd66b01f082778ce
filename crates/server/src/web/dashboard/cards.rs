//! The Preview cards view: `GET /sites/{domain}/cards` (logged-in owners and viewers;
//! not through shared links, since a check makes the server fetch the site).
//!
//! The site's pages with the most private arrivals over the period (`period`, `date`,
//! `from`/`to`, `lang` as on the other tabs), each with a mock of the card WhatsApp,
//! Telegram, iMessage, Slack and Facebook show and the problems each app has, from
//! `previews::cards` (the very values `GET /api/v1/stats/cards` answers). Opening the
//! view shows the cards checked in the last minutes; `check=1` (the "Check now" button)
//! fetches the pages not checked yet.
//!
//! The mock shows no picture: the dashboard's CSP (`img-src 'self' data:`) forbids
//! loading the site's image, and loading it would tell the site who looks at the
//! dashboard. The image's box shows its address, format, pixels and bytes instead. No
//! inline style or script: the card styles are in `web/static/app.css`.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use axum::{Extension, Router};
use maud::{html, Markup};

use super::i18n::Lang;
use super::{encode_segment, internal, page_with, site_access, Access, Session, View, WebError};
use crate::api::stats::Resolved;
use crate::previews::cards::apps::{Problem, Severity};
use crate::previews::cards::{top_pages, AppCard, Cards, PageCards, DEFAULT_PAGES};
use crate::state::AppState;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/sites/{domain}/cards", get(site_page))
}

async fn site_page(
    State(state): State<Arc<AppState>>,
    Extension(cards): Extension<Arc<Cards>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Markup, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    let base = format!("/sites/{}", encode_segment(&access.site.domain));
    let view = View {
        filters: Vec::new(),
        compare: false,
        ..View::from_query(query.as_deref())
    };
    let check = url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "check" && v == "1");
    let r = view.resolve(access.site.clone(), "visitors")?;
    let q = r.query(r.from, r.to);
    let st = state.clone();
    let pages =
        tokio::task::spawn_blocking(move || top_pages(st.events.as_ref(), &q, DEFAULT_PAGES))
            .await
            .map_err(|e| internal("cards pages task", e))?
            .map_err(|e| internal("cards pages", e))?;
    let rows: Vec<Row> = if check {
        let c = cards.check(&state, &access.site, pages).await;
        let pending = c
            .pending
            .into_iter()
            .map(|(path, private, visits)| Row::Waiting {
                path,
                private,
                visits,
                running: true,
            });
        c.pages
            .into_iter()
            .map(Row::Checked)
            .chain(pending)
            .collect()
    } else {
        let mut checked = Vec::new();
        let mut waiting = Vec::new();
        for (path, private, visits) in pages {
            match cards.cached(access.site.id, &path) {
                Some(c) => checked.push(c),
                None => waiting.push(Row::Waiting {
                    running: cards.running(access.site.id, &path),
                    path,
                    private,
                    visits,
                }),
            }
        }
        crate::previews::cards::sort_pages(&mut checked);
        checked
            .into_iter()
            .map(Row::Checked)
            .chain(waiting)
            .collect()
    };
    let ctx = Ctx {
        access: &access,
        lang,
        view,
        base,
    };
    let title = format!("{} · {}", lang.auth("tab_cards"), access.site.domain);
    Ok(page_with(
        &session,
        &title,
        lang.code(),
        body(&ctx, &r, &rows),
    ))
}

enum Row {
    Checked(Arc<PageCards>),
    /// Not in the cache: not checked yet, or (`running`) being checked.
    Waiting {
        path: String,
        private: u64,
        visits: u64,
        running: bool,
    },
}

struct Ctx<'a> {
    access: &'a Access,
    lang: Lang,
    view: View,
    base: String,
}

impl Ctx<'_> {
    fn path(&self) -> String {
        format!("{}/cards", self.base)
    }
}

fn body(ctx: &Ctx<'_>, r: &Resolved, rows: &[Row]) -> Markup {
    let lang = ctx.lang;
    let view = &ctx.view;
    let path = ctx.path();
    let waiting = rows.iter().any(|r| matches!(r, Row::Waiting { .. }));
    let head = super::tab_head(
        lang,
        ctx.access,
        view,
        (r.from, r.to),
        &|v: &View| v.href(&path),
        &path,
        super::site_tabs(
            ctx.lang,
            ctx.access,
            &ctx.base,
            &ctx.view,
            super::Tab::Cards,
            &ctx.view.href(&ctx.path()),
        ),
        &[],
    );
    html! {
        (head)
        section class="cards-intro" {
            h2 { (lang.t("cards_h2")) }
            p { (lang.t("cards_intro")) }
            p class="note" { (lang.t("cards_no_image_note")) }
            @if waiting {
                form method="get" action=(path) class="cards-check" {
                    input type="hidden" name="check" value="1";
                    @if view.period != "30d" { input type="hidden" name="period" value=(view.period); }
                    @if let Some(d) = &view.date { input type="hidden" name="date" value=(d); }
                    @if let Some(l) = &view.lang { input type="hidden" name="lang" value=(l); }
                    button type="submit" { (lang.t("cards_check")) }
                }
            }
        }
        @if rows.is_empty() {
            p class="empty" { (lang.t("cards_no_pages")) }
        }
        @for row in rows {
            @match row {
                Row::Checked(p) => (page_markup(lang, p)),
                Row::Waiting { path, private, visits, running } => {
                    section class="card-page waiting" data-path=(path) {
                        h3 { (path) }
                        p class="card-counts" {
                            (counts(lang, *private, *visits)) " · "
                            (lang.t(if *running { "cards_running" } else { "cards_not_checked" }))
                        }
                    }
                }
            }
        }
    }
}

fn counts(lang: Lang, private: u64, visits: u64) -> String {
    lang.t("cards_counts")
        .replace("{private}", &lang.int(private))
        .replace("{visits}", &lang.int(visits))
}

fn page_markup(lang: Lang, p: &PageCards) -> Markup {
    let state = match p.worst() {
        Some(Severity::Error) => "broken",
        Some(Severity::Warning) => "degraded",
        _ => "fine",
    };
    html! {
        section class={ "card-page " (state) } data-path=(p.path) {
            h3 { (p.path) " " span class={ "badge " (state) } { (lang.t(&format!("cards_state_{state}"))) } }
            p class="card-counts" { (counts(lang, p.private_arrivals, p.visits)) }
            div class="card-grid" {
                @for a in &p.apps {
                    (app_markup(lang, a))
                }
            }
        }
    }
}

fn app_markup(lang: Lang, a: &AppCard) -> Markup {
    html! {
        article class={ "card-app app-" (a.app) } data-app=(a.app) {
            h4 { (a.name) }
            @match &a.card {
                Some(c) => {
                    div class={ "card-mock" @if c.large { " large" } } {
                        div class="card-img" {
                            @match (&c.image, &a.image) {
                                (Some(_), Some(i)) => {
                                    span class="img-size" {
                                        (i.format.unwrap_or("?")) " "
                                        @if let (Some(w), Some(h)) = (i.width, i.height) { (w) "×" (h) " · " }
                                        (kb(lang, i.bytes))
                                    }
                                    span class="img-url" { (i.url) }
                                }
                                (Some(u), None) => { span class="img-url" { (u) } }
                                (None, _) => { span class="img-none" { (lang.t("cards_no_image")) } }
                            }
                        }
                        div class="card-text" {
                            @if a.app == "slack" || a.app == "telegram" {
                                @if let Some(s) = &c.site_name { p class="card-site" { (s) } }
                            }
                            p class="card-title" { (c.title.as_deref().unwrap_or("")) }
                            @if let Some(d) = &c.description { p class="card-desc" { (d) } }
                            p class="card-domain" { (c.domain) }
                        }
                    }
                }
                None => {
                    div class="card-mock none" { p { (lang.t("cards_no_card")) } }
                }
            }
            @if a.problems.is_empty() {
                p class="card-ok" { (lang.t("cards_ok")) }
            } @else {
                ul class="card-problems" {
                    @for pr in &a.problems {
                        li class={ "sev-" (pr.severity().as_str()) } data-code=(pr.code()) { (problem_text(lang, a.name, pr)) }
                    }
                }
            }
        }
    }
}

/// Bytes as kilobytes (`640 KB`).
fn kb(lang: Lang, bytes: u64) -> String {
    let unit = match lang {
        Lang::En => "KB",
        Lang::Fr => "ko",
    };
    format!("{}\u{a0}{unit}", lang.int(bytes.div_ceil(1000)))
}

/// A problem's sentence in `lang`: its label with `{app}` and the details filled in.
pub fn problem_text(lang: Lang, app: &str, p: &Problem) -> String {
    let mut s = lang
        .t(&format!("card_p_{}", p.code()))
        .replace("{app}", app);
    for (k, v) in p.details() {
        let shown = match (k, v.parse::<u64>()) {
            ("bytes" | "max", Ok(n)) if matches!(p, Problem::ImageTooLarge { .. }) => kb(lang, n),
            ("max", Ok(n)) if matches!(p, Problem::HtmlTruncated { .. }) => kb(lang, n),
            _ => v,
        };
        s = s.replace(&format!("{{{k}}}"), &shown);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::previews::cards::apps::PROFILES;

    #[test]
    fn every_problem_has_a_sentence_in_both_languages() {
        for code in Problem::CODES {
            for lang in [Lang::En, Lang::Fr] {
                let label = lang.t(&format!("card_p_{code}"));
                assert_ne!(label, "?", "{code} in {lang:?}");
            }
        }
        assert_eq!(PROFILES.len(), 5);
        let p = Problem::ImageTooLarge {
            bytes: 700_000,
            max: 600_000,
        };
        assert_eq!(
            problem_text(Lang::En, "WhatsApp", &p),
            "The image weighs 700\u{a0}KB: WhatsApp shows no image above about 600\u{a0}KB."
        );
        assert_eq!(
            problem_text(Lang::Fr, "WhatsApp", &p),
            "L’image pèse 700\u{a0}ko\u{a0}: WhatsApp n’affiche pas d’image au-delà d’environ 600\u{a0}ko."
        );
    }
}
