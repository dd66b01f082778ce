//! The Links view: a site's tracked short links in the dashboard.
//!
//! - `GET /sites/{domain}/links` — the list (short URL with a copy button, target,
//!   channel, campaign, clicks so far, status) and, for owners, the create form and the
//!   "one campaign, one link per channel" form;
//! - `POST /sites/{domain}/links` — `action=create` or `action=campaign` (owners, CSRF);
//! - `GET /sites/{domain}/links/{id}` — one link's report for the period picker's period
//!   (the numbers of `GET /api/v1/links/{id}/stats`: the same `link_report`), its details,
//!   its QR code and, for owners, the edit form;
//! - `POST /sites/{domain}/links/{id}` — `action=edit|disable|enable|delete` (owners,
//!   CSRF);
//! - `GET /sites/{domain}/links/{id}/qr.svg|qr.png?size=&margin=&ec=&download=1` — the
//!   link's QR code for a logged-in user with a role on the site (the `/api/v1` ones
//!   need a Bearer key).
//!
//! Everything is checked by `links::input::build_input`, as in the API and the CLI; its
//! error codes are shown in the user's language. Viewers see the list and the reports;
//! a user without a role on the site gets 404, as everywhere. No inline script or
//! style: the copy button and the delete confirmation are `app.js` enhancements.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use lucarne_core::channel::ChannelGroup;
use lucarne_core::stats::chrono_tz_shim::Tz as _;
use maud::{html, Markup};
use tracing::info;

use super::i18n::Lang;
use super::{encode_segment, page_with, site_access, Access, Session, View, WebError, PERIODS};
use crate::api::links::{
    create_link, link_report, new_link_base, private_base, public_base, short_url, ClickCount,
    DayClicks,
};
use crate::api::stats::{resolve_site, site_tz, SiteTz};
use crate::error::ApiError;
use crate::links::input::{build_input, LinkBody};
use crate::links::qr::{self, QrOptions};
use crate::state::AppState;
use crate::web::auth::{csrf_field, owner_access, redirect, verify_csrf};
use lucarne_store::meta::{Link, LinkInput, Role};

/// Channels offered by the campaign form (those the rules define), in this order.
const CAMPAIGN_CHANNELS: [&str; 14] = [
    "whatsapp",
    "sms",
    "email",
    "telegram",
    "messenger",
    "signal",
    "qr-code",
    "facebook",
    "x",
    "linkedin",
    "instagram",
    "bluesky",
    "mastodon",
    "slack",
];
/// Channels ticked by default in the campaign form.
const CAMPAIGN_DEFAULT: [&str; 4] = ["whatsapp", "sms", "email", "qr-code"];
/// At most this many links per campaign (as `POST /api/v1/links/campaign`).
const MAX_CAMPAIGN_CHANNELS: usize = 20;
/// Day labels under the clicks chart, at most.
const DAY_LABELS: usize = 8;

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/sites/{domain}/links", get(list_page).post(list_submit))
        .route(
            "/sites/{domain}/links/{id}",
            get(report_page).post(link_submit),
        )
        .route("/sites/{domain}/links/{id}/qr.svg", get(qr_svg))
        .route("/sites/{domain}/links/{id}/qr.png", get(qr_png))
}

// ---------------------------------------------------------------------------------------
// Labels

/// The label of a Links-view string (`LINK_LABELS`), `?` when unknown.
fn lt(lang: Lang, key: &str) -> &'static str {
    let hit = LINK_LABELS.iter().find(|(k, _, _)| *k == key);
    match (hit, lang) {
        (Some((_, en, _)), Lang::En) => en,
        (Some((_, _, fr)), Lang::Fr) => fr,
        (None, _) => "?",
    }
}

/// (key, English, French). `e_*`: the error codes of `build_input`, `create_link` and this
/// view's own checks.
const LINK_LABELS: &[(&str, &str, &str)] = &[
    ("private_base", "Short links and QR codes here point to {base}, an address only this machine or network can open: a printed code or a link pasted into a chat would lead nowhere. Set the public address visitors use on the account page (an administrator), or start Lucarne with --public-url (LUCARNE_PUBLIC_URL).", "Les liens courts et codes QR pointent ici vers {base}, une adresse que seuls cette machine ou ce réseau peuvent ouvrir : un code imprimé ou un lien collé dans une conversation ne mènerait nulle part. Réglez l’adresse publique des visiteurs sur la page du compte (un administrateur), ou démarrez Lucarne avec --public-url (LUCARNE_PUBLIC_URL)."),
    ("links", "Short links", "Liens courts"),
    ("intro", "Each click on a tracked short link gets its own share token: the visit it brings, and the shares made after it, are attributed to the link's channel.", "Chaque clic sur un lien court suivi reçoit son propre jeton de partage\u{a0}: la visite qu’il amène, et les partages faits ensuite, sont attribués au canal du lien."),
    ("viewer_note", "You see these links and their reports; only the site's owners create or change them.", "Vous voyez ces liens et leurs rapports\u{a0}; seuls les propriétaires du site les créent ou les modifient."),
    ("no_links", "No short link yet.", "Aucun lien court pour l’instant."),
    ("col_short", "Short link", "Lien court"),
    ("col_target", "Target", "Destination"),
    ("col_channel", "Channel", "Canal"),
    ("col_campaign", "Campaign", "Campagne"),
    ("col_clicks", "Clicks so far", "Clics à ce jour"),
    ("col_status", "Status", "État"),
    ("st_active", "active", "actif"),
    ("st_disabled", "disabled", "désactivé"),
    ("st_expired", "expired", "expiré"),
    ("st_used_up", "used up", "épuisé"),
    ("copy", "Copy", "Copier"),
    ("copied", "Copied", "Copié"),
    ("report", "Report", "Rapport"),
    ("disable", "Disable", "Désactiver"),
    ("enable", "Enable", "Réactiver"),
    ("delete", "Delete", "Supprimer"),
    ("confirm_delete", "Delete this link? Its short URL will stop working and its report will be gone.", "Supprimer ce lien\u{a0}? Son adresse courte ne fonctionnera plus et son rapport disparaîtra."),
    ("create_h2", "Create a short link", "Créer un lien court"),
    ("f_url", "Target URL", "Adresse de destination"),
    ("f_slug", "Slug (optional: 7 characters are generated)", "Identifiant (facultatif\u{a0}: 7\u{a0}caractères sont générés)"),
    ("f_channel", "Channel (fills utm_source and utm_medium)", "Canal (remplit utm_source et utm_medium)"),
    ("f_campaign", "Campaign (utm_campaign)", "Campagne (utm_campaign)"),
    ("f_term", "utm_term (optional)", "utm_term (facultatif)"),
    ("f_content", "utm_content (optional)", "utm_content (facultatif)"),
    ("f_redirect", "Redirect", "Redirection"),
    ("r_302", "302 — temporary (recommended)", "302 — temporaire (recommandée)"),
    ("r_307", "307 — temporary, keeps the method", "307 — temporaire, garde la méthode"),
    ("r_301", "301 — permanent (browsers remember it: their repeat clicks are not counted)", "301 — permanente (les navigateurs la retiennent\u{a0}: leurs clics suivants ne sont pas comptés)"),
    ("f_expires", "Last day it works (site time zone; empty: no expiry)", "Dernier jour de validité (fuseau du site\u{a0}; vide\u{a0}: sans fin)"),
    ("f_max", "Click limit (empty: none)", "Nombre maximal de clics (vide\u{a0}: aucun)"),
    ("create_btn", "Create the link", "Créer le lien"),
    ("campaign_h2", "One campaign, one link per channel", "Une campagne, un lien par canal"),
    ("campaign_intro", "Each ticked channel gets its own short link, with utm_source and utm_medium filled in: the report tells which channel each click came through.", "Chaque canal coché reçoit son propre lien court, avec utm_source et utm_medium remplis\u{a0}: le rapport dit par quel canal chaque clic est arrivé."),
    ("f_channels", "Channels", "Canaux"),
    ("f_prefix", "Slug prefix (optional: slugs become PREFIX-channel)", "Préfixe des identifiants (facultatif\u{a0}: ils deviennent PRÉFIXE-canal)"),
    ("campaign_btn", "Create the links", "Créer les liens"),
    ("created_1", "Link created.", "Lien créé."),
    ("created_n", "{n} links created.", "{n}\u{a0}liens créés."),
    ("deleted", "Link deleted.", "Lien supprimé."),
    ("saved", "Link saved.", "Lien enregistré."),
    ("all_links", "All links", "Tous les liens"),
    ("clicks", "Clicks", "Clics"),
    ("unique_clickers", "Unique clickers", "Personnes distinctes"),
    ("scans", "QR scans", "Scans du QR code"),
    ("landing_visits", "Landing visits", "Visites à l’arrivée"),
    ("onward_shares", "Onward shares", "Partages suivants"),
    ("previews_h2", "Link previews by app", "Aperçus du lien par application"),
    ("previews_none", "No app drew a preview of this link in this period.", "Aucune application n’a affiché d’aperçu de ce lien sur cette période."),
    ("pasted_into", "Pasted into {app}", "Collé dans {app}"),
    ("previews_note", "A messaging app fetches the link to draw its preview when someone pastes it into a conversation: each fetch is counted here, not as a click.", "Une messagerie récupère le lien pour en afficher l’aperçu quand quelqu’un le colle dans une conversation\u{a0}: chaque récupération est comptée ici, pas comme un clic."),
    ("per_day", "Clicks per day", "Clics par jour"),
    ("click_1", "click", "clic"),
    ("clicks_n", "clicks", "clics"),
    ("by_channel", "By channel", "Par canal"),
    ("by_country", "By country", "Par pays"),
    ("by_device", "By device", "Par appareil"),
    ("by_referrer", "By referrer", "Par référent"),
    ("country", "Country", "Pays"),
    ("device", "Device", "Appareil"),
    ("referrer", "Referrer", "Référent"),
    ("details_h2", "The link", "Le lien"),
    ("d_utm", "UTM parameters", "Paramètres UTM"),
    ("d_expires", "Expires", "Expire"),
    ("d_never", "never", "jamais"),
    ("d_limit", "Click limit", "Limite de clics"),
    ("d_none", "none", "aucune"),
    ("d_created", "Created", "Créé le"),
    ("d_total", "Clicks and scans so far (all time)", "Clics et scans à ce jour (depuis le début)"),
    ("qr_h2", "QR code", "QR code"),
    ("qr_alt", "QR code of the short link", "QR code du lien court"),
    ("qr_note", "Scans are counted apart from clicks: the code's address ends in ?qr=1.", "Les scans sont comptés à part des clics\u{a0}: l’adresse du code se termine par ?qr=1."),
    ("qr_svg", "Download SVG", "Télécharger en SVG"),
    ("qr_png", "Download PNG", "Télécharger en PNG"),
    ("edit_h2", "Edit the link", "Modifier le lien"),
    ("save_btn", "Save", "Enregistrer"),
    ("manage_h2", "Status", "État"),
    ("explained", "Clicks: people who followed the link (QR scans apart; previews, bots and link checkers are not counted). Unique clickers: distinct visitors among them. Landing visits: visits of the tracked target page that came through the link. Onward shares: shares made during those visits.", "Clics\u{a0}: personnes qui ont suivi le lien (scans du QR code à part\u{a0}; aperçus, robots et vérificateurs de liens non comptés). Personnes distinctes\u{a0}: visiteurs différents parmi elles. Visites à l’arrivée\u{a0}: visites de la page de destination suivie arrivées par le lien. Partages suivants\u{a0}: partages faits pendant ces visites."),
    ("bad_qr", "A QR code is 64 to 2048 pixels wide, with a margin of 0 to 16 modules and error correction L, M, Q or H.", "Un QR code fait de 64 à 2048\u{a0}pixels de côté, avec une marge de 0 à 16\u{a0}modules et une correction d’erreurs L, M, Q ou H."),
    ("e_missing_url", "Give the target URL.", "Indiquez l’adresse de destination."),
    ("e_bad_slug", "A slug is 1 to 64 letters, digits, '-' or '_'.", "Un identifiant compte 1 à 64\u{a0}lettres, chiffres, «\u{a0}-\u{a0}» ou «\u{a0}_\u{a0}»."),
    ("e_target_too_long", "The target URL is longer than 2,000 characters.", "L’adresse de destination dépasse 2\u{a0}000\u{a0}caractères."),
    ("e_target_not_http", "The target must be an http:// or https:// URL.", "La destination doit être une adresse http:// ou https://."),
    ("e_target_unparsable", "The target is not a valid URL.", "La destination n’est pas une adresse valide."),
    ("e_target_has_credentials", "The target must not contain a user name or password.", "La destination ne doit contenir ni nom d’utilisateur ni mot de passe."),
    ("e_target_private_network", "The target points to a loopback or private-network address (an administrator can allow it).", "La destination pointe vers une adresse locale ou de réseau privé (un administrateur peut l’autoriser)."),
    ("e_label_too_long", "Campaign and UTM values are at most 200 characters.", "La campagne et les valeurs UTM font au plus 200\u{a0}caractères."),
    ("e_bad_channel", "Unknown channel.", "Canal inconnu."),
    ("e_bad_redirect", "The redirect is 301, 302 or 307.", "La redirection est 301, 302 ou 307."),
    ("e_bad_domain", "The short domain must be a host name.", "Le domaine court doit être un nom d’hôte."),
    ("e_bad_expiry", "The last day is a date (YYYY-MM-DD).", "Le dernier jour est une date (AAAA-MM-JJ)."),
    ("e_bad_max_clicks", "The click limit is a whole number, 1 or more.", "Le nombre maximal de clics est un nombre entier, au moins 1."),
    ("e_slug_taken", "This slug is already taken: choose another one.", "Cet identifiant est déjà pris\u{a0}: choisissez-en un autre."),
    ("e_bad_channels", "Tick 1 to 20 channels.", "Cochez de 1 à 20\u{a0}canaux."),
    ("e_missing_campaign", "Give the campaign a name.", "Donnez un nom à la campagne."),
];

/// A validation problem in the user's language: the label of its code, else the
/// (English) message of the check.
fn problem_text(lang: Lang, e: &ApiError) -> String {
    match lt(lang, &format!("e_{}", e.reason)) {
        "?" => e.message.clone(),
        t => t.to_string(),
    }
}

/// `build_input`'s and `create_link`'s errors: a problem to show in the form, or a
/// server failure.
fn form_problem(lang: Lang, e: ApiError) -> Result<String, WebError> {
    if e.status.is_server_error() {
        Err(WebError::Internal)
    } else {
        Ok(problem_text(lang, &e))
    }
}

// ---------------------------------------------------------------------------------------
// Forms

/// Every field of the Links forms. Parsed by hand: the campaign form repeats `channels`,
/// and a missing or odd field is a validation problem, never a rejection.
#[derive(Debug, Default, Clone)]
struct LinkForm {
    csrf: String,
    action: String,
    /// Where to come back after disable/enable: `list` or the report.
    from: String,
    url: String,
    slug: String,
    channel: String,
    campaign: String,
    utm_term: String,
    utm_content: String,
    redirect: String,
    expires: String,
    max_clicks: String,
    slug_prefix: String,
    channels: Vec<String>,
}

impl LinkForm {
    fn parse(body: &[u8]) -> LinkForm {
        let mut f = LinkForm::default();
        for (k, v) in url::form_urlencoded::parse(body) {
            let v = v.into_owned();
            match &*k {
                "csrf" => f.csrf = v,
                "action" => f.action = v,
                "from" => f.from = v,
                "url" => f.url = v,
                "slug" => f.slug = v,
                "channel" => f.channel = v,
                "campaign" => f.campaign = v,
                "utm_term" => f.utm_term = v,
                "utm_content" => f.utm_content = v,
                "redirect" => f.redirect = v,
                "expires" => f.expires = v,
                "max_clicks" => f.max_clicks = v,
                "slug_prefix" => f.slug_prefix = v,
                "channels" => {
                    let c = v.trim().to_ascii_lowercase();
                    // Bounded: more than the limit is refused below anyway.
                    if !c.is_empty() && !f.channels.contains(&c) && f.channels.len() <= 64 {
                        f.channels.push(c);
                    }
                }
                _ => {}
            }
        }
        f
    }

    /// The edit form of a stored link.
    fn of_link(l: &Link, tz: &SiteTz) -> LinkForm {
        LinkForm {
            url: l.target.clone(),
            slug: l.slug.clone(),
            channel: l.channel.clone(),
            campaign: l.utm_campaign.clone(),
            utm_term: l.utm_term.clone(),
            utm_content: l.utm_content.clone(),
            redirect: l.redirect.to_string(),
            expires: l
                .expires_at
                .map(|t| last_day(t, tz).to_string())
                .unwrap_or_default(),
            max_clicks: l.max_clicks.map(|n| n.to_string()).unwrap_or_default(),
            ..LinkForm::default()
        }
    }

    /// The create form's defaults.
    fn blank() -> LinkForm {
        LinkForm {
            redirect: "302".into(),
            channels: CAMPAIGN_DEFAULT.iter().map(|c| c.to_string()).collect(),
            ..LinkForm::default()
        }
    }
}

/// The last local day a link expiring at `t` still works.
fn last_day(t: DateTime<Utc>, tz: &SiteTz) -> NaiveDate {
    tz.local_date(t - Duration::seconds(1))
}

/// A link whose last day is `day` expires when the next local day starts.
fn expiry_of(day: &str, tz: &SiteTz) -> Result<Option<String>, ApiError> {
    let day = day.trim();
    if day.is_empty() {
        return Ok(None);
    }
    let d = NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .map_err(|_| ApiError::bad_request("bad_expiry", "the last day is YYYY-MM-DD"))?;
    let next = d
        .succ_opt()
        .and_then(|n| n.and_hms_opt(0, 0, 0))
        .ok_or_else(|| ApiError::bad_request("bad_expiry", "the last day is YYYY-MM-DD"))?;
    Ok(Some(tz.to_utc(next).to_rfc3339()))
}

fn redirect_of(r: &str) -> Result<Option<u16>, ApiError> {
    match r.trim() {
        "" => Ok(None),
        r => r
            .parse::<u16>()
            .map(Some)
            .map_err(|_| ApiError::bad_request("bad_redirect", "301, 302 or 307")),
    }
}

fn max_clicks_of(m: &str) -> Result<Option<u64>, ApiError> {
    match m.trim() {
        "" => Ok(None),
        m => match m.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(Some(n)),
            _ => Err(ApiError::bad_request(
                "bad_max_clicks",
                "the click limit is a whole number, 1 or more",
            )),
        },
    }
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// The create form as the API's body.
fn create_body(f: &LinkForm, tz: &SiteTz) -> Result<LinkBody, ApiError> {
    Ok(LinkBody {
        url: non_empty(&f.url),
        slug: non_empty(&f.slug),
        channel: Some(f.channel.trim().to_string()),
        campaign: Some(f.campaign.trim().to_string()),
        utm_term: non_empty(&f.utm_term),
        utm_content: non_empty(&f.utm_content),
        redirect: redirect_of(&f.redirect)?,
        expires_at: expiry_of(&f.expires, tz)?.map(Some),
        max_clicks: max_clicks_of(&f.max_clicks)?.map(Some),
        ..LinkBody::default()
    })
}

/// The edit form as the API's body over the stored link: what the form shows is what
/// the link becomes (a channel left as it was keeps custom utm_source/medium; a last day
/// left as shown keeps the exact expiry).
fn edit_body(f: &LinkForm, l: &Link, tz: &SiteTz) -> Result<LinkBody, ApiError> {
    if f.url.trim().is_empty() {
        return Err(ApiError::bad_request("missing_url", "`url` is required"));
    }
    let channel = f.channel.trim().to_ascii_lowercase();
    let shown = LinkForm::of_link(l, tz);
    let expires_at = if f.expires.trim() == shown.expires {
        None
    } else {
        Some(expiry_of(&f.expires, tz)?)
    };
    Ok(LinkBody {
        url: Some(f.url.clone()),
        slug: non_empty(&f.slug),
        channel: (channel != l.channel).then_some(channel),
        campaign: Some(f.campaign.trim().to_string()),
        utm_term: Some(f.utm_term.trim().to_string()),
        utm_content: Some(f.utm_content.trim().to_string()),
        redirect: redirect_of(&f.redirect)?,
        expires_at,
        max_clicks: Some(max_clicks_of(&f.max_clicks)?),
        ..LinkBody::default()
    })
}

// ---------------------------------------------------------------------------------------
// Page context

/// What every page of the view needs.
struct Ctx<'a> {
    state: &'a AppState,
    session: &'a Session,
    access: &'a Access,
    lang: Lang,
    /// The URL state (period, date, lang); filters and comparison do not apply.
    view: View,
    /// `/sites/DOMAIN`.
    base: String,
    /// Where short links are reached (`--public-url`, else this request's host).
    short_base: String,
    tz: SiteTz,
    /// This page's path (the language links lead to it).
    here: String,
}

impl<'a> Ctx<'a> {
    fn new(
        state: &'a AppState,
        session: &'a Session,
        access: &'a Access,
        lang: Lang,
        query: Option<&str>,
        headers: &HeaderMap,
    ) -> Self {
        let base = format!("/sites/{}", encode_segment(&access.site.domain));
        Ctx {
            state,
            session,
            access,
            lang,
            here: format!("{base}/links"),
            view: View {
                filters: Vec::new(),
                compare: false,
                ..View::from_query(query)
            },
            base,
            short_base: public_base(state, headers),
            tz: site_tz(&access.site),
        }
    }

    fn owner(&self) -> bool {
        !self.access.shared && self.access.role == Role::Owner
    }

    fn list_path(&self) -> String {
        format!("{}/links", self.base)
    }

    fn link_path(&self, id: i64) -> String {
        format!("{}/links/{id}", self.base)
    }

    /// `path` keeping only the language of the URL (form actions, redirects).
    fn with_lang(&self, path: &str) -> String {
        with_lang(path, self.view.lang.as_deref())
    }

    fn channel_name(&self, channel: &str) -> String {
        if channel.is_empty() {
            return self.lang.t("none").to_string();
        }
        match self.state.rules.channel_info(channel) {
            Some(info) => info.name.clone(),
            None => match self.lang.t(&format!("ch_{channel}")) {
                "?" => channel.to_string(),
                t => t.to_string(),
            },
        }
    }

    fn date(&self, t: DateTime<Utc>) -> String {
        self.lang.date(self.tz.local_date(t))
    }

    /// `Nov 3, 2026 14:05` in the site's time zone.
    fn when(&self, t: DateTime<Utc>) -> String {
        let l = t.with_timezone(&self.tz.0);
        format!("{} {}", self.lang.date(l.date_naive()), l.format("%H:%M"))
    }

    fn page(&self, title: &str, body: Markup) -> Markup {
        let title = format!("{title} · {}", self.access.site.domain);
        page_with(self.session, &title, self.lang.code(), body)
    }
}

fn with_lang(path: &str, lang: Option<&str>) -> String {
    match lang {
        Some(l) => format!("{path}?lang={}", encode_segment(l)),
        None => path.to_string(),
    }
}

fn lang_param(query: Option<&str>) -> Option<String> {
    View::from_query(query).lang
}

/// Clicks and scans counted so far (persisted plus not yet written back).
fn uses(state: &AppState, l: &Link) -> u64 {
    state.links.by_id(l.id).map_or(l.clicks, |e| e.uses())
}

/// `active`, `disabled`, `expired` or `used_up`, as the redirect decides.
fn status(state: &AppState, l: &Link, now: DateTime<Utc>) -> &'static str {
    if l.disabled {
        "disabled"
    } else if l.expires_at.is_some_and(|t| t <= now) {
        "expired"
    } else if l.max_clicks.is_some_and(|m| uses(state, l) >= m) {
        "used_up"
    } else {
        "active"
    }
}

async fn site_link(state: &AppState, access: &Access, id: &str) -> Result<Link, WebError> {
    let id = crate::web::auth::row_id(id)?;
    state
        .meta
        .link(access.site.id, id)
        .await?
        .ok_or(WebError::NotFound)
}

async fn reload(state: &AppState) {
    if let Err(e) = state.links.reload(state).await {
        tracing::warn!(message = "Could not reload links.", error = %e);
    }
}

// ---------------------------------------------------------------------------------------
// The list

/// What the list page shows besides the links: a flash, and a form with a problem.
#[derive(Default)]
struct ListState {
    flash: Option<String>,
    /// Links just made (highlighted).
    created: Vec<i64>,
    create: Option<(LinkForm, String)>,
    campaign: Option<(LinkForm, String)>,
}

async fn list_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    let ctx = Ctx::new(&state, &session, &access, lang, query.as_deref(), &headers);
    let mut ls = ListState::default();
    for (k, v) in url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes()) {
        match &*k {
            "created" => {
                ls.created = v
                    .split(',')
                    .filter_map(|id| id.trim().parse().ok())
                    .take(MAX_CAMPAIGN_CHANNELS)
                    .collect();
            }
            "deleted" if v == "1" => ls.flash = Some(lt(lang, "deleted").to_string()),
            _ => {}
        }
    }
    list_markup(&ctx, ls).await
}

async fn list_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(domain): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let access = owner_access(&state, &session, &domain).await?;
    let f = LinkForm::parse(&body);
    verify_csrf(&session, &f.csrf)?;
    let ctx = Ctx::new(&state, &session, &access, lang, query.as_deref(), &headers);
    let made = match f.action.as_str() {
        "create" => create_one(&ctx, &f).await?,
        "campaign" => create_campaign(&ctx, &f).await?,
        _ => return Err(WebError::BadRequest(lang.auth("unknown_action").into())),
    };
    match made {
        Ok(ids) => {
            let ids: Vec<String> = ids.iter().map(i64::to_string).collect();
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            s.append_pair("created", &ids.join(","));
            if let Some(l) = &ctx.view.lang {
                s.append_pair("lang", l);
            }
            Ok(redirect(&format!("{}?{}", ctx.list_path(), s.finish())))
        }
        Err(problem) => {
            let ls = if f.action == "create" {
                ListState {
                    create: Some((f, problem)),
                    ..ListState::default()
                }
            } else {
                ListState {
                    campaign: Some((f, problem)),
                    ..ListState::default()
                }
            };
            Ok((StatusCode::BAD_REQUEST, list_markup(&ctx, ls).await?).into_response())
        }
    }
}

/// `Ok(Ok(ids))`: created; `Ok(Err(problem))`: shown in the form.
type Made = Result<Result<Vec<i64>, String>, WebError>;

async fn create_one(ctx: &Ctx<'_>, f: &LinkForm) -> Made {
    let state = ctx.state;
    let start = new_link_base(state, ctx.access.site.id).await?;
    let input = create_body(f, &ctx.tz).and_then(|b| {
        build_input(&state.rules, state.allow_private_targets, start, &b).map_err(ApiError::from)
    });
    let input = match input {
        Ok(i) => i,
        Err(e) => return Ok(Err(form_problem(ctx.lang, e)?)),
    };
    match create_link(state, &ctx.access.site, input).await {
        Ok(l) => {
            info!(
                message = "Link created from the dashboard.",
                site_id = ctx.access.site.id,
                link_id = l.id,
                user_id = ctx.session.user.id
            );
            Ok(Ok(vec![l.id]))
        }
        Err(e) => Ok(Err(form_problem(ctx.lang, e)?)),
    }
}

async fn create_campaign(ctx: &Ctx<'_>, f: &LinkForm) -> Made {
    let state = ctx.state;
    let lang = ctx.lang;
    if f.url.trim().is_empty() {
        return Ok(Err(lt(lang, "e_missing_url").to_string()));
    }
    if f.campaign.trim().is_empty() {
        return Ok(Err(lt(lang, "e_missing_campaign").to_string()));
    }
    if f.channels.is_empty() || f.channels.len() > MAX_CAMPAIGN_CHANNELS {
        return Ok(Err(lt(lang, "e_bad_channels").to_string()));
    }
    // Validate everything before creating anything.
    let prefix = non_empty(&f.slug_prefix);
    let start = new_link_base(state, ctx.access.site.id).await?;
    let mut inputs = Vec::with_capacity(f.channels.len());
    for c in &f.channels {
        let body = LinkBody {
            url: Some(f.url.clone()),
            channel: Some(c.clone()),
            campaign: Some(f.campaign.trim().to_string()),
            slug: prefix.as_ref().map(|p| format!("{p}-{c}")),
            ..LinkBody::default()
        };
        match build_input(
            &state.rules,
            state.allow_private_targets,
            start.clone(),
            &body,
        ) {
            Ok(i) => inputs.push(i),
            Err(e) => return Ok(Err(form_problem(lang, e.into())?)),
        }
    }
    // A slug taken already: say so before making any link.
    if prefix.is_some() {
        let taken: std::collections::HashSet<(String, String)> = state
            .meta
            .all_links()
            .await?
            .into_iter()
            .map(|l| (l.domain, l.slug))
            .collect();
        if inputs
            .iter()
            .any(|i| taken.contains(&(i.domain.clone(), i.slug.clone())))
        {
            return Ok(Err(lt(lang, "e_slug_taken").to_string()));
        }
    }
    let mut ids = Vec::with_capacity(inputs.len());
    for i in inputs {
        match create_link(state, &ctx.access.site, i).await {
            Ok(l) => ids.push(l.id),
            // A taken slug part-way: the links made so far stay (they are listed).
            Err(e) if ids.is_empty() => return Ok(Err(form_problem(lang, e)?)),
            Err(e) => {
                form_problem(lang, e)?;
                break;
            }
        }
    }
    info!(
        message = "Campaign links created from the dashboard.",
        site_id = ctx.access.site.id,
        links = ids.len(),
        user_id = ctx.session.user.id
    );
    Ok(Ok(ids))
}

async fn list_markup(ctx: &Ctx<'_>, ls: ListState) -> Result<Markup, WebError> {
    let state = ctx.state;
    let lang = ctx.lang;
    let links = state.meta.links(ctx.access.site.id).await?;
    let now = Utc::now();
    let flash = ls.flash.clone().or_else(|| match ls.created.len() {
        0 => None,
        1 => Some(lt(lang, "created_1").to_string()),
        n => Some(lt(lang, "created_n").replace("{n}", &lang.int(n as u64))),
    });
    let list_action = ctx.with_lang(&ctx.list_path());
    let body = html! {
        (head(ctx, None))
        (super::site_tabs(lang, ctx.access, &ctx.base, &ctx.view, super::Tab::Links, &ctx.view.href(&ctx.list_path())))
        @if let Some(f) = &flash {
            p.flash role="status" { (f) }
        }
        section.share-box.links-list id="links" {
            h2 { (lt(lang, "links")) }
            p.note { (lt(lang, "intro")) }
            @if !ctx.owner() {
                p.note { (lt(lang, "viewer_note")) }
            }
            @if links.is_empty() {
                p.empty { (lt(lang, "no_links")) }
            } @else {
                div.table-wrap {
                    table.share-table.links-table {
                        thead { tr {
                            th scope="col" { (lt(lang, "col_short")) }
                            th scope="col" { (lt(lang, "col_target")) }
                            th scope="col" { (lt(lang, "col_channel")) }
                            th scope="col" { (lt(lang, "col_campaign")) }
                            th scope="col" class="num" { (lt(lang, "col_clicks")) }
                            th scope="col" { (lt(lang, "col_status")) }
                            th scope="col" { span.visually-hidden { (lt(lang, "report")) } }
                        } }
                        tbody {
                            @for l in &links {
                                @let short = short_url(&ctx.short_base, l);
                                @let st = status(state, l, now);
                                tr id={ "link-" (l.id) } data-slug=(l.slug) data-status=(st)
                                    class=[ls.created.contains(&l.id).then_some("new")] {
                                    td.short {
                                        a href=(ctx.view.href(&ctx.link_path(l.id))) { code { (short) } }
                                        " " (copy_button(lang, &short))
                                    }
                                    td.target { (l.target) }
                                    td { (ctx.channel_name(&l.channel)) }
                                    td { (l.utm_campaign) }
                                    td.num { (lang.int(uses(state, l))) }
                                    td { span class={ "lstate lstate-" (st) } { (lt(lang, &format!("st_{st}"))) } }
                                    td.actions {
                                        a href=(ctx.view.href(&ctx.link_path(l.id))) { (lt(lang, "report")) }
                                        @if ctx.owner() {
                                            (state_buttons(ctx, l, "list"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if ctx.owner() {
            section.share-box.link-create id="create" {
                h2 { (lt(lang, "create_h2")) }
                @let (form, problem) = match &ls.create {
                    Some((f, p)) => (f.clone(), Some(p.as_str())),
                    None => (LinkForm::blank(), None),
                };
                @if let Some(p) = problem { p.error role="alert" { (p) } }
                form.link-form method="post" action=(list_action) {
                    (csrf_field(ctx.session))
                    input type="hidden" name="action" value="create";
                    (link_fields(ctx, &form))
                    div.form-end { button type="submit" { (lt(lang, "create_btn")) } }
                }
            }
            section.share-box.link-campaign id="campaign" {
                h2 { (lt(lang, "campaign_h2")) }
                p.note { (lt(lang, "campaign_intro")) }
                @let (form, problem) = match &ls.campaign {
                    Some((f, p)) => (f.clone(), Some(p.as_str())),
                    None => (LinkForm::blank(), None),
                };
                @if let Some(p) = problem { p.error role="alert" { (p) } }
                form.link-form method="post" action=(list_action) {
                    (csrf_field(ctx.session))
                    input type="hidden" name="action" value="campaign";
                    label.wide { (lt(lang, "f_url"))
                        input type="url" name="url" value=(form.url) required maxlength="2000" placeholder="https://"; }
                    label { (lt(lang, "f_campaign"))
                        input type="text" name="campaign" value=(form.campaign) required maxlength="200"; }
                    label { (lt(lang, "f_prefix"))
                        input type="text" name="slug_prefix" value=(form.slug_prefix) maxlength="40" pattern="[A-Za-z0-9_-]*"; }
                    fieldset.channels {
                        legend { (lt(lang, "f_channels")) }
                        @for c in CAMPAIGN_CHANNELS.iter().filter(|c| state.rules.channel_info(c).is_some()) {
                            label { input type="checkbox" name="channels" value=(c) checked[form.channels.iter().any(|x| x == c)]; " " (ctx.channel_name(c)) }
                        }
                    }
                    div.form-end { button type="submit" { (lt(lang, "campaign_btn")) } }
                }
            }
        }
    };
    Ok(ctx.page(lt(lang, "links"), body))
}

/// The copy button of a short URL (shown by `app.js`, which does the copying; hidden
/// without script).
fn copy_button(lang: Lang, text: &str) -> Markup {
    html! {
        button.copy-btn type="button" hidden data-copy=(text) data-done=(lt(lang, "copied")) { (lt(lang, "copy")) }
    }
}

/// Disable or enable, and delete (owners).
fn state_buttons(ctx: &Ctx<'_>, l: &Link, from: &str) -> Markup {
    let lang = ctx.lang;
    let action = ctx.with_lang(&ctx.link_path(l.id));
    html! {
        form.inline method="post" action=(action) {
            (csrf_field(ctx.session))
            input type="hidden" name="from" value=(from);
            @if l.disabled {
                input type="hidden" name="action" value="enable";
                button type="submit" { (lt(lang, "enable")) }
            } @else {
                input type="hidden" name="action" value="disable";
                button.secondary type="submit" { (lt(lang, "disable")) }
            }
        }
        form.inline method="post" action=(action) data-confirm=(lt(lang, "confirm_delete")) {
            (csrf_field(ctx.session))
            input type="hidden" name="action" value="delete";
            button.danger type="submit" { (lt(lang, "delete")) }
        }
    }
}

/// The fields of the create and edit forms.
fn link_fields(ctx: &Ctx<'_>, f: &LinkForm) -> Markup {
    let lang = ctx.lang;
    let channels = ctx.state.rules.channels();
    let chosen = f.channel.trim().to_ascii_lowercase();
    html! {
        label.wide { (lt(lang, "f_url"))
            input type="url" name="url" value=(f.url) required maxlength="2000" placeholder="https://"; }
        label { (lt(lang, "f_slug"))
            input type="text" name="slug" value=(f.slug) maxlength="64" pattern="[A-Za-z0-9_-]*"; }
        label { (lt(lang, "f_channel"))
            select name="channel" {
                option value="" selected[chosen.is_empty()] { (lang.t("none")) }
                // A channel the rules no longer define stays as it is.
                @if !chosen.is_empty() && ctx.state.rules.channel_info(&chosen).is_none() {
                    option value=(chosen) selected { (chosen) }
                }
                @for g in ChannelGroup::ALL {
                    @let in_group: Vec<_> = channels.iter().filter(|(_, i)| i.group == g).collect();
                    @if !in_group.is_empty() {
                        optgroup label=(lang.t(&format!("group_{}", g.as_str()))) {
                            @for (key, info) in in_group {
                                option value=(key) selected[*key == chosen] { (info.name) }
                            }
                        }
                    }
                }
            }
        }
        label { (lt(lang, "f_campaign"))
            input type="text" name="campaign" value=(f.campaign) maxlength="200"; }
        label { (lt(lang, "f_term"))
            input type="text" name="utm_term" value=(f.utm_term) maxlength="200"; }
        label { (lt(lang, "f_content"))
            input type="text" name="utm_content" value=(f.utm_content) maxlength="200"; }
        label { (lt(lang, "f_redirect"))
            select name="redirect" {
                @for r in ["302", "307", "301"] {
                    option value=(r) selected[f.redirect.trim() == r] { (lt(lang, &format!("r_{r}"))) }
                }
            }
        }
        label { (lt(lang, "f_expires"))
            input type="date" name="expires" value=(f.expires); }
        label { (lt(lang, "f_max"))
            input type="number" name="max_clicks" value=(f.max_clicks) min="1" step="1"; }
    }
}

/// Site name, languages.
fn head(ctx: &Ctx<'_>, range: Option<(NaiveDate, NaiveDate)>) -> Markup {
    let lang = ctx.lang;
    html! {
        header class="dash-head" {
            div {
                h1 { (ctx.access.site.domain) }
                @if let Some((from, to)) = range {
                    p class="range" { (lang.range(from, to)) }
                }
            }
            nav class="langs" aria-label=(lang.t("language")) {
                @for l in [Lang::En, Lang::Fr] {
                    a href=(ctx.view.with_lang(l).href(&ctx.here)) hreflang=(l.code()) lang=(l.code())
                        aria-current=[(l == lang).then_some("true")] { (l.code().to_uppercase()) }
                }
            }
        }
        @if private_base(&ctx.short_base) {
            p class="warn" id="private-base" role="note" {
                (lt(lang, "private_base").replace("{base}", &ctx.short_base))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// One link: its report, edits, state changes

/// What the report page shows besides the report: a flash, the edit form with a problem.
#[derive(Default)]
struct ReportState {
    flash: Option<String>,
    edit: Option<(LinkForm, String)>,
}

async fn report_page(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path((domain, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Markup, WebError> {
    let access = site_access(&state, &session, &domain).await?;
    let link = site_link(&state, &access, &id).await?;
    let mut ctx = Ctx::new(&state, &session, &access, lang, query.as_deref(), &headers);
    ctx.here = ctx.link_path(link.id);
    let saved = url::form_urlencoded::parse(query.as_deref().unwrap_or("").as_bytes())
        .any(|(k, v)| k == "saved" && v == "1");
    let rs = ReportState {
        flash: saved.then(|| lt(lang, "saved").to_string()),
        edit: None,
    };
    report_markup(&state, &ctx, &link, rs).await
}

async fn link_submit(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path((domain, id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, WebError> {
    let access = owner_access(&state, &session, &domain).await?;
    let f = LinkForm::parse(&body);
    verify_csrf(&session, &f.csrf)?;
    let link = site_link(&state, &access, &id).await?;
    let mut ctx = Ctx::new(&state, &session, &access, lang, query.as_deref(), &headers);
    ctx.here = ctx.link_path(link.id);
    let lang_q = lang_param(query.as_deref());
    let back = |saved: bool| {
        if f.from == "list" {
            with_lang(&ctx.list_path(), lang_q.as_deref())
        } else {
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            if saved {
                s.append_pair("saved", "1");
            }
            if let Some(l) = &lang_q {
                s.append_pair("lang", l);
            }
            let q = s.finish();
            if q.is_empty() {
                ctx.link_path(link.id)
            } else {
                format!("{}?{q}", ctx.link_path(link.id))
            }
        }
    };
    match f.action.as_str() {
        "disable" | "enable" => {
            let input = LinkInput {
                disabled: f.action == "disable",
                ..link.input()
            };
            state
                .meta
                .update_link(access.site.id, link.id, &input)
                .await?
                .ok_or(WebError::NotFound)?;
            reload(&state).await;
            info!(
                message = "Link state changed from the dashboard.",
                link_id = link.id,
                disabled = input.disabled,
                user_id = session.user.id
            );
            Ok(redirect(&back(false)))
        }
        "delete" => {
            state.meta.delete_link(access.site.id, link.id).await?;
            reload(&state).await;
            info!(
                message = "Link deleted from the dashboard.",
                link_id = link.id,
                user_id = session.user.id
            );
            let mut s = url::form_urlencoded::Serializer::new(String::new());
            s.append_pair("deleted", "1");
            if let Some(l) = &lang_q {
                s.append_pair("lang", l);
            }
            Ok(redirect(&format!("{}?{}", ctx.list_path(), s.finish())))
        }
        "edit" => {
            let input = edit_body(&f, &link, &ctx.tz).and_then(|b| {
                build_input(&state.rules, state.allow_private_targets, link.input(), &b)
                    .map_err(ApiError::from)
            });
            let problem = match input {
                Ok(input) => match state
                    .meta
                    .update_link(access.site.id, link.id, &input)
                    .await
                {
                    Ok(Some(_)) => {
                        reload(&state).await;
                        info!(
                            message = "Link edited from the dashboard.",
                            link_id = link.id,
                            user_id = session.user.id
                        );
                        return Ok(redirect(&back(true)));
                    }
                    Ok(None) => return Err(WebError::NotFound),
                    Err(lucarne_store::meta::MetaError::SlugTaken(_)) => {
                        lt(lang, "e_slug_taken").to_string()
                    }
                    Err(e) => return Err(e.into()),
                },
                Err(e) => form_problem(lang, e)?,
            };
            let rs = ReportState {
                flash: None,
                edit: Some((f.clone(), problem)),
            };
            Ok((
                StatusCode::BAD_REQUEST,
                report_markup(&state, &ctx, &link, rs).await?,
            )
                .into_response())
        }
        _ => Err(WebError::BadRequest(lang.auth("unknown_action").into())),
    }
}

/// `period` and `date` for `link_report`, as the overview resolves them.
fn period_args(view: &View) -> Result<(String, Option<String>), WebError> {
    if view.period == "custom" {
        match (&view.from, &view.to) {
            (Some(f), Some(t)) => Ok(("custom".into(), Some(format!("{f},{t}")))),
            _ => Err(WebError::BadRequest(
                "a custom range needs `from` and `to` (YYYY-MM-DD)".into(),
            )),
        }
    } else {
        Ok((view.period.clone(), view.date.clone()))
    }
}

async fn report_markup(
    state: &Arc<AppState>,
    ctx: &Ctx<'_>,
    l: &Link,
    rs: ReportState,
) -> Result<Markup, WebError> {
    let lang = ctx.lang;
    let (period, date) = period_args(&ctx.view)?;
    let r = resolve_site(
        ctx.access.site.clone(),
        Some(&period),
        date.as_deref(),
        None,
        None,
    )
    .map_err(|e| WebError::BadRequest(e.message))?;
    let report = link_report(
        state,
        ctx.access.site.clone(),
        l.id,
        Some(&period),
        date.as_deref(),
    )
    .await
    .map_err(|e| {
        if e.status.is_server_error() {
            WebError::Internal
        } else {
            WebError::BadRequest(e.message)
        }
    })?;
    let short = short_url(&ctx.short_base, l);
    let st = status(state, l, Utc::now());
    let here = ctx.link_path(l.id);
    let qr_svg = format!("{here}/qr.svg");
    let qr_png = format!("{here}/qr.png");
    let (edit_form, edit_problem) = match rs.edit {
        Some((f, p)) => (f, Some(p)),
        None => (LinkForm::of_link(l, &ctx.tz), None),
    };
    let body = html! {
        (head(ctx, Some((r.from, r.to))))
        (super::site_tabs(lang, ctx.access, &ctx.base, &ctx.view, super::Tab::Links, &ctx.view.href(&ctx.list_path())))
        nav class="periods" aria-label=(lang.t("date_range")) {
            @for p in PERIODS.iter().filter(|p| **p != "custom") {
                a href=(ctx.view.with_period(p).href(&here)) data-period=(p)
                    aria-current=[(ctx.view.period == *p).then_some("page")] { (lang.t(&format!("period_{p}"))) }
            }
            form class="custom" method="get" action=(here) {
                input type="hidden" name="period" value="custom";
                label { (lang.t("from")) " " input type="date" name="from" value=(r.from.to_string()) required; }
                label { (lang.t("to")) " " input type="date" name="to" value=(r.to.to_string()) required; }
                @if let Some(l) = &ctx.view.lang { input type="hidden" name="lang" value=(l); }
                button type="submit" aria-current=[(ctx.view.period == "custom").then_some("page")] { (lang.t("apply")) }
            }
        }
        p class="back" { a href=(ctx.view.href(&ctx.list_path())) { "\u{2190} " (lt(lang, "all_links")) } }
        @if let Some(f) = &rs.flash {
            p.flash role="status" { (f) }
        }
        section.share-box.link-head id="link" data-link=(l.id) {
            h2 { (lt(lang, "details_h2")) }
            p.short-url {
                code { (short) } " " (copy_button(lang, &short)) " "
                span class={ "lstate lstate-" (st) } { (lt(lang, &format!("st_{st}"))) }
            }
            dl.link-facts {
                dt { (lt(lang, "col_target")) } dd.target { (l.target) }
                dt { (lt(lang, "col_channel")) } dd { (ctx.channel_name(&l.channel)) }
                dt { (lt(lang, "d_utm")) }
                dd {
                    @for (k, v) in [("utm_source", &l.utm_source), ("utm_medium", &l.utm_medium), ("utm_campaign", &l.utm_campaign), ("utm_term", &l.utm_term), ("utm_content", &l.utm_content)] {
                        @if !v.is_empty() { code { (k) "=" (v) } " " }
                    }
                }
                dt { (lt(lang, "f_redirect")) } dd { (l.redirect) }
                dt { (lt(lang, "d_expires")) }
                dd { @match l.expires_at { Some(t) => (ctx.when(t)), None => (lt(lang, "d_never")) } }
                dt { (lt(lang, "d_limit")) }
                dd { @match l.max_clicks { Some(n) => (lang.int(n)), None => (lt(lang, "d_none")) } }
                dt { (lt(lang, "d_total")) } dd { (lang.int(uses(state, l))) }
                dt { (lt(lang, "d_created")) } dd { (ctx.date(l.created_at)) }
            }
        }
        section class="stats link-stats" {
            @for (key, n) in report.totals() {
                div class="stat" id={ "stat-" (key) } data-value=(n) {
                    h2 { (lt(lang, key)) }
                    span class="value" { (lang.int(n)) }
                }
            }
        }
        figure class="chart-box" id="link-chart" {
            (clicks_chart(lang, &report.timeseries))
            figcaption { span class="legend" { span class="swatch s-ident" {} (lt(lang, "per_day")) } }
        }
        div.share-grid {
            section.share-box id="link-previews" {
                h2 { (lt(lang, "previews_h2")) }
                @if report.previews.is_empty() {
                    p.empty { (lt(lang, "previews_none")) }
                } @else {
                    ul.previews {
                        @for p in &report.previews {
                            li data-app=(p.app) data-value=(p.previews) {
                                (lt(lang, "pasted_into").replace("{app}", &ctx.channel_name(&p.app)))
                                (colon(lang)) " " strong { (lang.int(p.previews)) }
                            }
                        }
                    }
                }
                p.note { (lt(lang, "previews_note")) }
            }
            (breakdown(ctx, "by_channel", "col_channel", &report.by_channel, |v| ctx.channel_name(v)))
            (breakdown(ctx, "by_country", "country", &report.by_country, |v| v.to_string()))
            (breakdown(ctx, "by_device", "device", &report.by_device, |v| match lang.t(&format!("dev_{v}")) {
                "?" => v.to_string(),
                t => t.to_string(),
            }))
            (breakdown(ctx, "by_referrer", "referrer", &report.by_referrer, |v| v.to_string()))
        }
        section.share-box.link-qr id="qr" {
            h2 { (lt(lang, "qr_h2")) }
            img.qr src={ (qr_svg) "?size=256" } width="256" height="256" alt=(lt(lang, "qr_alt"));
            p {
                a.button href={ (qr_svg) "?download=1" } download { (lt(lang, "qr_svg")) }
                " "
                a.button href={ (qr_png) "?size=1024&download=1" } download { (lt(lang, "qr_png")) }
            }
            p.note { (lt(lang, "qr_note")) }
        }
        @if ctx.owner() {
            section.share-box.link-edit id="edit" {
                h2 { (lt(lang, "edit_h2")) }
                @if let Some(p) = &edit_problem { p.error role="alert" { (p) } }
                form.link-form method="post" action=(ctx.with_lang(&here)) {
                    (csrf_field(ctx.session))
                    input type="hidden" name="action" value="edit";
                    (link_fields(ctx, &edit_form))
                    div.form-end { button type="submit" { (lt(lang, "save_btn")) } }
                }
            }
            section.share-box.link-manage id="manage" {
                h2 { (lt(lang, "manage_h2")) }
                p { span class={ "lstate lstate-" (st) } { (lt(lang, &format!("st_{st}"))) } " " (state_buttons(ctx, l, "report")) }
            }
        }
        footer class="dash-foot" { p { (lt(lang, "explained")) } }
    };
    Ok(ctx.page(&format!("{} {}", lt(lang, "report"), l.slug), body))
}

fn colon(lang: Lang) -> &'static str {
    match lang {
        Lang::En => ":",
        Lang::Fr => "\u{a0}:",
    }
}

/// One breakdown of clicks as a table with a meter per row.
fn breakdown(
    ctx: &Ctx<'_>,
    title: &str,
    column: &str,
    rows: &[ClickCount],
    name: impl Fn(&str) -> String,
) -> Markup {
    let lang = ctx.lang;
    let top = rows.iter().map(|r| r.clicks).max().unwrap_or(0).max(1);
    html! {
        section.share-box id={ "link-" (title) } {
            h2 { (lt(lang, title)) }
            @if rows.is_empty() {
                p.empty { (lang.t("no_data")) }
            } @else {
                div.table-wrap {
                    table.share-table {
                        thead { tr {
                            th scope="col" { (lt(lang, column)) }
                            th scope="col" class="num" { (lt(lang, "clicks")) }
                            th scope="col" class="meter-col" { span.visually-hidden { (lt(lang, "clicks")) } }
                        } }
                        tbody {
                            @for ClickCount { value: v, clicks: n } in rows {
                                tr data-value=(v) {
                                    td { @if v.is_empty() { (lang.t("none")) } @else { (name(v)) } }
                                    td.num { (lang.int(*n)) }
                                    td.meter-col {
                                        span.meter aria-hidden="true" {
                                            span class={ "bar w" ((n * 20).div_ceil(top)) } {}
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn clicks_word(lang: Lang, n: u64) -> &'static str {
    // French counts 0 and 1 as singular.
    let singular = n == 1 || (n == 0 && lang == Lang::Fr);
    lt(lang, if singular { "click_1" } else { "clicks_n" })
}

/// Clicks per day as SVG bars, one `<title>` tooltip per day (the overview chart's
/// classes, so `app.js` gives it the same tooltip).
fn clicks_chart(lang: Lang, series: &[DayClicks]) -> Markup {
    use super::charts::{pc, Frame};
    let top = series.iter().map(|d| d.clicks).max().unwrap_or(0);
    let fr = Frame::new(series.len(), top);
    let day = |label: &str, long: bool| match NaiveDate::parse_from_str(label, "%Y-%m-%d") {
        Ok(d) if long => lang.date(d),
        Ok(d) => lang.day_month(d),
        Err(_) => label.to_string(),
    };
    html! {
        svg class="chart link-chart" role="img" aria-labelledby="link-chart-title" {
            title id="link-chart-title" { (lt(lang, "per_day")) }
            (fr.grid())
            @for (i, DayClicks { date: label, clicks: c }) in series.iter().enumerate() {
                @let (hx, hy, hw, hh) = fr.hit(i);
                g class="pt" data-date=(label) data-value=(c) {
                    title { (day(label, true)) (colon(lang)) " " (lang.int(*c)) " " (clicks_word(lang, *c)) }
                    rect class="hit" x=(hx) y=(hy) width=(hw) height=(hh) {}
                    @if *c > 0 {
                        rect class="s-ident" x=(pc(fr.bar_x(i))) y=(pc(fr.y(*c))) width=(pc(fr.bar_w())) height=(pc(fr.y(0) - fr.y(*c))) {}
                    }
                }
            }
            (fr.labels(lang, series.len().div_ceil(DAY_LABELS), |i| series.get(i).map(|d| day(&d.date, false)).unwrap_or_default()))
        }
    }
}

// ---------------------------------------------------------------------------------------
// QR codes

/// `size`, `margin`, `ec` and `download` of a QR request; odd values are a 400.
fn qr_params(query: Option<&str>) -> (Option<QrOptions>, bool) {
    let (mut size, mut margin, mut ec, mut download) = (None, None, None, false);
    let mut bad = false;
    for (k, v) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "size" => match v.parse::<u32>() {
                Ok(n) => size = Some(n),
                Err(_) => bad = true,
            },
            "margin" => match v.parse::<u32>() {
                Ok(n) => margin = Some(n),
                Err(_) => bad = true,
            },
            "ec" => ec = Some(v.into_owned()),
            "download" => download = v == "1",
            _ => {}
        }
    }
    let o = if bad {
        None
    } else {
        QrOptions::parse(size, margin, ec.as_deref())
    };
    (o, download)
}

/// The QR code's data (the short URL with the scan marker), its options, a file name,
/// and whether to download it.
async fn qr_request(
    state: &AppState,
    session: &Session,
    lang: Lang,
    domain: &str,
    id: &str,
    query: Option<&str>,
    headers: &HeaderMap,
) -> Result<(String, QrOptions, String, bool), WebError> {
    let access = site_access(state, session, domain).await?;
    let l = site_link(state, &access, id).await?;
    let (o, download) = qr_params(query);
    let o = o.ok_or_else(|| WebError::BadRequest(lt(lang, "bad_qr").into()))?;
    let data = format!("{}?qr=1", short_url(&public_base(state, headers), &l));
    let name: String = l
        .slug
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    Ok((data, o, format!("qr-{name}"), download))
}

/// A link's QR code for a user with access: SVG or PNG (`png`).
async fn qr_image(
    state: &AppState,
    session: &Session,
    lang: Lang,
    (domain, id): (String, String),
    query: Option<String>,
    headers: &HeaderMap,
    png: bool,
) -> Result<Response, WebError> {
    let (data, o, name, download) = qr_request(
        state,
        session,
        lang,
        &domain,
        &id,
        query.as_deref(),
        headers,
    )
    .await?;
    let img = qr::render(data, o, png)
        .await
        .map_err(WebError::BadRequest)?;
    Ok(crate::api::links::qr_response(img, &name, download))
}

async fn qr_svg(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(p): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    qr_image(&state, &session, lang, p, query, &headers, false).await
}

async fn qr_png(
    State(state): State<Arc<AppState>>,
    session: Session,
    lang: Lang,
    Path(p): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    qr_image(&state, &session, lang, p, query, &headers, true).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_is_translated_once() {
        for (i, (k, en, fr)) in LINK_LABELS.iter().enumerate() {
            assert!(!en.is_empty() && !fr.is_empty(), "{k}");
            assert!(
                !LINK_LABELS[..i].iter().any(|(k2, _, _)| k2 == k),
                "duplicate {k}"
            );
        }
        for st in ["active", "disabled", "expired", "used_up"] {
            for lang in [Lang::En, Lang::Fr] {
                assert_ne!(lt(lang, &format!("st_{st}")), "?");
            }
        }
        for lang in [Lang::En, Lang::Fr] {
            assert_ne!(lang.auth("tab_links"), "?");
        }
    }

    #[test]
    fn every_validation_code_has_a_message() {
        use lucarne_core::links::LinkError::{self, *};
        let codes = [
            BadSlug,
            TargetTooLong,
            TargetNotHttp,
            TargetUnparsable,
            TargetHasCredentials,
            TargetPrivateNetwork,
            LabelTooLong,
            BadChannel,
            BadRedirect,
        ]
        .map(|e| ApiError::from(e).reason)
        .into_iter()
        .chain(LinkError::ALL.map(|e| ApiError::from(e).reason))
        .chain([
            "missing_url",
            "bad_domain",
            "bad_expiry",
            "bad_max_clicks",
            "slug_taken",
            "bad_channels",
            "missing_campaign",
        ]);
        for code in codes {
            for lang in [Lang::En, Lang::Fr] {
                assert_ne!(lt(lang, &format!("e_{code}")), "?", "{code}");
            }
        }
        let e = ApiError::bad_request("something_new", "as the API says");
        assert_eq!(problem_text(Lang::Fr, &e), "as the API says");
    }

    #[test]
    fn forms_are_parsed_by_hand() {
        let f = LinkForm::parse(
            b"csrf=x&action=campaign&url=https%3A%2F%2Fa.example%2F&channels=whatsapp&channels=SMS&channels=whatsapp&nope=1",
        );
        assert_eq!(f.action, "campaign");
        assert_eq!(f.url, "https://a.example/");
        assert_eq!(f.channels, ["whatsapp", "sms"]);
    }

    #[test]
    fn expiry_dates_are_whole_local_days() {
        let paris = SiteTz(chrono_tz::Europe::Paris);
        let t = expiry_of("2026-03-01", &paris).unwrap().unwrap();
        assert_eq!(t, "2026-03-01T23:00:00+00:00");
        let at = DateTime::parse_from_rfc3339(&t)
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(last_day(at, &paris).to_string(), "2026-03-01");
        assert_eq!(expiry_of(" ", &paris).unwrap(), None);
        assert_eq!(
            expiry_of("01/03/2026", &paris).unwrap_err().reason,
            "bad_expiry"
        );
        assert_eq!(max_clicks_of("0").unwrap_err().reason, "bad_max_clicks");
        assert_eq!(max_clicks_of("12").unwrap(), Some(12));
        assert_eq!(redirect_of("x").unwrap_err().reason, "bad_redirect");
    }

    #[test]
    fn qr_parameters() {
        assert!(qr_params(None).0.is_some());
        assert_eq!(
            qr_params(Some("size=256&download=1")).0.map(|o| o.size),
            Some(256)
        );
        assert!(qr_params(Some("download=1")).1);
        for bad in ["size=10", "size=abc", "margin=-1", "ec=Z"] {
            assert!(qr_params(Some(bad)).0.is_none(), "{bad}");
        }
    }
}
