//! The accounts pages (login, sites, site settings, members, shared links, API keys,
//! error pages, the navigation shell) in English and French: `?lang=`, then the user's
//! setting, then `Accept-Language` — the dashboard's way of choosing.

use axum::http::{Method, StatusCode};
use axum::Router;
use lucarne_server::web::auth::{hash_password, Role};

/// The stores (embedded, or ClickHouse + PostgreSQL with `LUCARNE_TEST_BACKEND=scale`).
mod common;
use common::{field, send_page, Page, Req};

const PASSWORD: &str = "correct horse battery staple";

struct Harness {
    router: Router,
    _h: common::Harness,
}

/// One site, `a.example`, owned by `owner@a.test` (no locale set).
async fn harness() -> Harness {
    let h = common::bare_harness().await;
    let m = &h.state.meta;
    let site = m.add_site("a.example", "UTC").await.expect("site");
    let hash = hash_password(PASSWORD).expect("hash");
    let u = m
        .create_user("owner@a.test", &hash, None)
        .await
        .expect("user");
    m.set_member(site.id, u.id, Role::Owner)
        .await
        .expect("member");
    Harness {
        router: h.router.clone(),
        _h: h,
    }
}

impl Harness {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        cookie: Option<&str>,
        accept_language: Option<&str>,
        form: Option<&[(&str, &str)]>,
    ) -> Page {
        let lang = accept_language.map(|l| [("accept-language", l)]);
        let req = Req {
            method,
            uri,
            cookie,
            headers: lang.as_ref().map_or(&[][..], |h| &h[..]),
            form,
            ip: [203, 0, 113, 7],
        };
        send_page(&self.router, req).await
    }

    async fn get(&self, uri: &str, cookie: Option<&str>, accept: Option<&str>) -> Page {
        self.send(Method::GET, uri, cookie, accept, None).await
    }

    /// Log in as the owner: the session cookie and the session's CSRF token.
    async fn login(&self) -> (String, String) {
        let page = self.get("/login", None, None).await;
        let pre = page.cookie("lucarne_pre");
        let token = field(&page.body, "csrf").expect("csrf field");
        let r = self
            .send(
                Method::POST,
                "/login",
                Some(&pre),
                None,
                Some(&[
                    ("csrf", &token),
                    ("email", "owner@a.test"),
                    ("password", PASSWORD),
                    ("next", "/sites"),
                ]),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let cookie = r.cookie("lucarne_session");
        let sites = self.get("/sites", Some(&cookie), None).await;
        let csrf = field(&sites.body, "csrf").expect("csrf field");
        (cookie, csrf)
    }
}

fn has_all(body: &str, needles: &[&str]) {
    for n in needles {
        assert!(body.contains(n), "missing {n:?} in:\n{body}");
    }
}

fn has_none(body: &str, needles: &[&str]) {
    for n in needles {
        assert!(!body.contains(n), "unexpected {n:?} in:\n{body}");
    }
}

#[tokio::test]
async fn login_page_follows_the_lang_parameter() {
    let h = harness().await;

    let fr = h.get("/login?lang=fr", None, None).await;
    assert_eq!(fr.status, StatusCode::OK);
    has_all(
        &fr.body,
        &[
            "<html lang=\"fr\"",
            "<title>Connexion · Lucarne</title>",
            "Connexion à Lucarne",
            "Adresse e-mail",
            "Mot de passe",
            "Se connecter",
            "action=\"/login?lang=fr\"",
        ],
    );
    has_none(&fr.body, &["Password", "Log in"]);

    // ?lang= wins over the browser's language.
    let en = h.get("/login?lang=en", None, Some("fr-FR,fr;q=0.9")).await;
    assert_eq!(en.status, StatusCode::OK);
    has_all(
        &en.body,
        &[
            "<html lang=\"en\"",
            "Log in to Lucarne",
            "E-mail",
            "Password",
        ],
    );
    has_none(&en.body, &["Mot de passe", "Se connecter"]);

    // Without ?lang=, the browser's language.
    let browser = h.get("/login", None, Some("de-DE,fr;q=0.8")).await;
    has_all(&browser.body, &["Mot de passe", "action=\"/login\""]);

    // A failed login answers in the language the form was shown in.
    let pre = fr.cookie("lucarne_pre");
    let token = field(&fr.body, "csrf").expect("csrf field");
    let wrong = h
        .send(
            Method::POST,
            "/login?lang=fr",
            Some(&pre),
            None,
            Some(&[
                ("csrf", &token),
                ("email", "owner@a.test"),
                ("password", "not the password"),
                ("next", "/sites"),
            ]),
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    has_all(&wrong.body, &["Adresse e-mail ou mot de passe incorrect."]);
}

#[tokio::test]
async fn logged_in_pages_follow_accept_language_and_lang() {
    let h = harness().await;
    let (cookie, csrf) = h.login().await;
    let c = Some(cookie.as_str());

    let fr = h.get("/sites", c, Some("fr-FR")).await;
    assert_eq!(fr.status, StatusCode::OK);
    has_all(
        &fr.body,
        &[
            "<html lang=\"fr\"",
            "Clés d’API",
            "Se déconnecter",
            "Ajouter un site",
            "Domaine",
            "Fuseau horaire",
            "Ajouter le site",
            "propriétaire",
            "Réglages",
        ],
    );
    has_none(
        &fr.body,
        &["API keys", "Log out", "Add a site", "Time zone"],
    );

    let en = h.get("/sites?lang=en", c, Some("fr-FR")).await;
    assert_eq!(en.status, StatusCode::OK);
    has_all(
        &en.body,
        &[
            "<html lang=\"en\"",
            "API keys",
            "Log out",
            "Add a site",
            "Time zone",
            "owner",
        ],
    );
    has_none(
        &en.body,
        &["Clés d’API", "Se déconnecter", "Fuseau horaire"],
    );

    let settings = h.get("/sites/a.example/settings", c, Some("fr")).await;
    assert_eq!(settings.status, StatusCode::OK);
    has_all(
        &settings.body,
        &[
            "Réglages du site",
            "Tableau de bord",
            "Membres",
            "Liens de partage",
            "Extrait de suivi",
            "En attente du premier événement",
            "Fuseau horaire",
            "Conserver les données pendant (jours",
            "Respecter Do-Not-Track / GPC",
            "Enregistrer",
        ],
    );

    let members = h.get("/sites/a.example/members", c, Some("fr")).await;
    has_all(
        &members.body,
        &["Ajouter un membre", "Rôle", "Retirer", "propriétaire"],
    );

    // A new shared link, then the list with its revoke button.
    let created = h
        .send(
            Method::POST,
            "/sites/a.example/shared-links",
            c,
            Some("fr"),
            Some(&[("csrf", &csrf), ("action", "create"), ("name", "équipe")]),
        )
        .await;
    assert_eq!(created.status, StatusCode::OK);
    has_all(
        &created.body,
        &[
            "Nouveau lien — copiez-le maintenant",
            "Révoquer",
            "Créer un lien de partage",
            "équipe",
            "actif",
        ],
    );

    let keys = h.get("/settings/keys", c, Some("fr")).await;
    has_all(
        &keys.body,
        &[
            "Clés de l’API de statistiques",
            "Aucune clé",
            "Créer une clé",
        ],
    );
    let keys_en = h.get("/settings/keys?lang=en", c, Some("fr")).await;
    has_all(&keys_en.body, &["Stats API keys", "Create a key"]);

    // A bad form value: the 400 page and its message in French.
    let bad = h
        .send(
            Method::POST,
            "/sites/a.example/settings",
            c,
            Some("fr"),
            Some(&[
                ("csrf", &csrf),
                ("timezone", "Mars/Olympus"),
                ("share_param_style", "fragment"),
            ]),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    has_all(
        &bad.body,
        &[
            "Requête incorrecte",
            "Fuseau horaire",
            "Mars/Olympus",
            "Retour à Lucarne",
        ],
    );
}

#[tokio::test]
async fn error_pages_are_translated() {
    let h = harness().await;
    let (cookie, _) = h.login().await;
    let c = Some(cookie.as_str());

    let fr = h
        .get("/sites/nope.example/settings", c, Some("fr-FR"))
        .await;
    assert_eq!(fr.status, StatusCode::NOT_FOUND);
    has_all(
        &fr.body,
        &["<html lang=\"fr\"", "Page introuvable", "Retour à Lucarne"],
    );

    let en = h
        .get("/sites/nope.example/settings?lang=en", c, Some("fr-FR"))
        .await;
    assert_eq!(en.status, StatusCode::NOT_FOUND);
    has_all(
        &en.body,
        &["<html lang=\"en\"", "Not found", "Back to Lucarne"],
    );

    // The dashboard's own routes too (the layer sits on every HTML route).
    let fr = h.get("/sites/nope.example", c, Some("fr-FR")).await;
    assert_eq!(fr.status, StatusCode::NOT_FOUND);
    has_all(&fr.body, &["<html lang=\"fr\"", "Page introuvable"]);
    let fr = h.get("/share/not-a-token?lang=fr", None, None).await;
    assert_eq!(fr.status, StatusCode::NOT_FOUND);
    has_all(&fr.body, &["Page introuvable"]);

    // A bad CSRF token before login: 403, in the browser's language.
    let forbidden = h
        .send(
            Method::POST,
            "/login",
            None,
            Some("fr"),
            Some(&[("csrf", "x"), ("email", "a@b.c"), ("password", "y")]),
        )
        .await;
    assert_eq!(forbidden.status, StatusCode::FORBIDDEN);
    has_all(&forbidden.body, &["Action interdite"]);
}

#[tokio::test]
async fn validation_messages_follow_the_language() {
    let h = harness().await;
    let (cookie, csrf) = h.login().await;
    let c = Some(cookie.as_str());
    let bad = h
        .send(
            Method::POST,
            "/sites",
            c,
            Some("fr-FR"),
            Some(&[
                ("csrf", &csrf),
                ("domain", "pas un domaine"),
                ("timezone", "UTC"),
            ]),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    has_all(
        &bad.body,
        &["Ce n’est pas un nom de domaine", "pas un domaine"],
    );
    has_none(&bad.body, &["is not a domain name"]);
    let bad = h
        .send(
            Method::POST,
            "/sites?lang=en",
            c,
            Some("fr-FR"),
            Some(&[
                ("csrf", &csrf),
                ("domain", "not a domain"),
                ("timezone", "UTC"),
            ]),
        )
        .await;
    has_all(&bad.body, &["This is not a domain name:"]);
}

#[tokio::test]
async fn the_language_setting_wins_over_the_browser() {
    let h = harness().await;
    let (cookie, csrf) = h.login().await;
    let c = Some(cookie.as_str());
    // The browser is English; the user chooses French.
    let r = h
        .send(
            Method::POST,
            "/settings/language",
            c,
            Some("en-US"),
            Some(&[("csrf", &csrf), ("locale", "fr")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let page = h.get("/sites", c, Some("en-US")).await;
    has_all(&page.body, &["<html lang=\"fr\"", "Ajouter un site"]);
    // Without a CSRF token nothing changes.
    let r = h
        .send(
            Method::POST,
            "/settings/language",
            c,
            Some("en-US"),
            Some(&[("csrf", "forged"), ("locale", "auto")]),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    has_all(
        &h.get("/sites", c, Some("en-US")).await.body,
        &["Ajouter un site"],
    );
    // Back to the browser's language.
    h.send(
        Method::POST,
        "/settings/language",
        c,
        Some("en-US"),
        Some(&[("csrf", &csrf), ("locale", "auto")]),
    )
    .await;
    has_all(
        &h.get("/sites", c, Some("en-US")).await.body,
        &["Add a site"],
    );
}
