//! English and French: labels, numbers, percentages, durations and dates.

use chrono::{Datelike, NaiveDate};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
}

/// French groups digits and separates `%` with a no-break space.
const NBSP: char = '\u{a0}';

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    /// `en`, `fr`, `fr-FR`, `en_GB` … (anything else: none).
    pub fn parse(s: &str) -> Option<Lang> {
        let s = s.trim().to_ascii_lowercase();
        let primary = s.split(['-', '_']).next().unwrap_or("");
        match primary {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    /// The preferred supported language of an `Accept-Language` header.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, part) in header.split(',').enumerate() {
            let mut bits = part.split(';');
            let tag = bits.next().unwrap_or("");
            let q = bits
                .find_map(|b| b.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag) {
                let better = match best {
                    None => true,
                    Some((bq, bi, _)) => q > bq || (q == bq && i < bi),
                };
                if better && q > 0.0 {
                    best = Some((q, i, lang));
                }
            }
        }
        best.map(|(_, _, l)| l)
    }

    /// `?lang=`, then the user's setting, then the browser's, then English.
    pub fn choose(query: Option<&str>, user: Option<&str>, accept: Option<&str>) -> Lang {
        query
            .and_then(Lang::parse)
            .or_else(|| user.and_then(Lang::parse))
            .or_else(|| accept.and_then(Lang::from_accept_language))
            .unwrap_or(Lang::En)
    }

    /// An integer with grouped thousands: `12,345` / `12 345`.
    pub fn int(self, n: u64) -> String {
        let digits = n.to_string();
        let sep = match self {
            Lang::En => ',',
            Lang::Fr => NBSP,
        };
        let first = (digits.len() - 1) % 3 + 1;
        let (head, rest) = digits.split_at(first);
        let mut out = String::with_capacity(digits.len() * 2);
        out.push_str(head);
        for group in rest.as_bytes().chunks(3) {
            out.push(sep);
            out.push_str(std::str::from_utf8(group).unwrap_or_default());
        }
        out
    }

    /// A number with one decimal: `12.5` / `12,5` (whole part grouped).
    pub fn dec1(self, x: f64) -> String {
        let neg = x < 0.0;
        let tenths = (x.abs() * 10.0).round() as u64;
        let s = format!(
            "{}{}{}{}",
            if neg && tenths > 0 { "-" } else { "" },
            self.int(tenths / 10),
            match self {
                Lang::En => '.',
                Lang::Fr => ',',
            },
            tenths % 10
        );
        s
    }

    /// A number with two decimals: `0.67` / `0,67` (whole part grouped).
    pub fn dec2(self, x: f64) -> String {
        let neg = x < 0.0;
        let hundredths = (x.abs() * 100.0).round() as u64;
        format!(
            "{}{}{}{:02}",
            if neg && hundredths > 0 { "-" } else { "" },
            self.int(hundredths / 100),
            match self {
                Lang::En => '.',
                Lang::Fr => ',',
            },
            hundredths % 100
        )
    }

    /// A count of visits with its word: `1 visit`, `3 visits` / `3 visites`.
    pub fn visits_n(self, n: u64) -> String {
        let word = if n == 1 || (self == Lang::Fr && n == 0) {
            "visit_1"
        } else {
            "visits_n"
        };
        format!("{}{NBSP}{}", self.int(n), self.t(word))
    }

    /// A percentage with one decimal: `12.5%` / `12,5 %`.
    pub fn pct1(self, x: f64) -> String {
        self.percent_sign(self.dec1(x))
    }

    /// A whole percentage: `42%` / `42 %`.
    pub fn pct0(self, x: u64) -> String {
        self.percent_sign(self.int(x))
    }

    fn percent_sign(self, n: String) -> String {
        match self {
            Lang::En => format!("{n}%"),
            Lang::Fr => format!("{n}{NBSP}%"),
        }
    }

    /// A signed change in percent (`+12%`, `−3 %`).
    pub fn change_pct(self, x: f64) -> String {
        let r = x.round();
        let sign = if r > 0.0 {
            "+"
        } else if r < 0.0 {
            "\u{2212}"
        } else {
            ""
        };
        self.percent_sign(format!("{sign}{}", self.int(r.abs() as u64)))
    }

    /// A signed change in percentage points (`+1.5 pts`, `+1,5 pt`).
    /// A change in points precise enough to keep its sign: two decimals under one point
    /// (a difference of 0.05 points is "+0.05 pts", never "0.0 pts" beside a relative
    /// uplift of +4.5 %), one from there.
    pub fn change_pts_fine(self, x: f64) -> String {
        if x.abs() >= 1.0 {
            return self.change_pts(x);
        }
        let r = (x * 100.0).round() / 100.0;
        let sign = if r > 0.0 {
            "+"
        } else if r < 0.0 {
            "\u{2212}"
        } else {
            ""
        };
        let unit = match self {
            Lang::En => "pts",
            Lang::Fr => "pt",
        };
        format!("{sign}{}{NBSP}{unit}", self.dec2(r.abs()))
    }

    pub fn change_pts(self, x: f64) -> String {
        let sign = if x >= 0.05 {
            "+"
        } else if x <= -0.05 {
            "\u{2212}"
        } else {
            ""
        };
        let unit = match self {
            Lang::En => "pts",
            Lang::Fr => "pt",
        };
        format!("{sign}{}{NBSP}{unit}", self.dec1(x.abs()))
    }

    /// A visit duration: `1m 05s` / `1 min 05 s`.
    pub fn duration(self, secs: u64) -> String {
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        match self {
            Lang::En if h > 0 => format!("{h}h {m:02}m"),
            Lang::En if m > 0 => format!("{m}m {s:02}s"),
            Lang::En => format!("{s}s"),
            Lang::Fr if h > 0 => format!("{h}{NBSP}h {m:02}{NBSP}min"),
            Lang::Fr if m > 0 => format!("{m}{NBSP}min {s:02}{NBSP}s"),
            Lang::Fr => format!("{s}{NBSP}s"),
        }
    }

    /// `Nov 3, 2026` / `3 nov. 2026`.
    pub fn date(self, d: NaiveDate) -> String {
        let m = d.month0() as usize;
        match self {
            Lang::En => format!("{} {}, {}", MONTHS_EN[m], d.day(), d.year()),
            Lang::Fr => format!("{} {} {}", d.day(), MONTHS_FR[m], d.year()),
        }
    }

    /// `Nov 3` / `3 nov.` (chart axes).
    pub fn day_month(self, d: NaiveDate) -> String {
        let m = d.month0() as usize;
        match self {
            Lang::En => format!("{} {}", MONTHS_EN[m], d.day()),
            Lang::Fr => format!("{} {}", d.day(), MONTHS_FR[m]),
        }
    }

    /// `Nov 2026` / `nov. 2026` (monthly chart buckets).
    pub fn month_year(self, d: NaiveDate) -> String {
        let m = d.month0() as usize;
        match self {
            Lang::En => format!("{} {}", MONTHS_EN[m], d.year()),
            Lang::Fr => format!("{} {}", MONTHS_FR[m], d.year()),
        }
    }

    /// A date range: `Nov 1, 2026 – Nov 30, 2026` (one date when both ends agree).
    pub fn range(self, from: NaiveDate, to: NaiveDate) -> String {
        if from == to {
            self.date(from)
        } else {
            format!("{} \u{2013} {}", self.date(from), self.date(to))
        }
    }

    /// The label of a user-interface string.
    pub fn t(self, key: &str) -> &'static str {
        let hit = LABELS.iter().find(|(k, _, _)| *k == key);
        match (hit, self) {
            (Some((_, en, _)), Lang::En) => en,
            (Some((_, _, fr)), Lang::Fr) => fr,
            (None, _) => "?",
        }
    }
}

const MONTHS_EN: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const MONTHS_FR: [&str; 12] = [
    "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.",
    "déc.",
];

/// (key, English, French)
const LABELS: &[(&str, &str, &str)] = &[
    ("overview", "Overview", "Vue d’ensemble"),
    ("visitors", "Visitors", "Visiteurs"),
    ("visits", "Visits", "Visites"),
    ("pageviews", "Pageviews", "Pages vues"),
    ("bounce_rate", "Bounce rate", "Taux de rebond"),
    ("visit_duration", "Visit duration", "Durée des visites"),
    ("dark_share", "Dark social share", "Part du dark social"),
    ("hl_title", "{pct} of visits are dark social", "{pct} des visites relèvent du dark social"),
    ("hl_ident", "{pct} identified: arrived from a private messaging app or an e-mail (share token, app referrer, in-app browser, e-mail campaign).", "{pct} identifiées : venues d’une messagerie privée ou d’un e-mail (jeton de partage, référent d’application, navigateur intégré, campagne e-mail)."),
    ("hl_est", "{pct} estimated: no referrer and a deep landing page without campaign tags, most likely a link pasted into a private chat.", "{pct} estimées : sans référent, arrivées sur une page profonde sans balises de campagne, très probablement un lien collé dans une conversation privée."),
    ("hl_not_enough", "Not enough visits yet to say how much is dark social ({n} of the {min} needed).", "Pas encore assez de visites pour mesurer le dark social ({n} sur les {min} nécessaires)."),
    ("hl_change", "{pts} against the previous period", "{pts} par rapport à la période précédente"),
    ("hl_no_change", "Not enough visits in the previous period to compare.", "Trop peu de visites sur la période précédente pour comparer."),
    ("hl_apps", "Top private apps", "Messageries en tête"),
    ("hl_no_apps", "No visit from a private messaging app in this period.", "Aucune visite venue d’une messagerie privée sur cette période."),
    ("hl_survey_agree", "The survey of {n} visitors estimates {est} ({lo} – {hi}): it agrees with the {pct} measured here.", "Le questionnaire ({n} réponses) estime {est} ({lo} – {hi}) : il confirme les {pct} mesurés ici."),
    ("hl_survey_higher", "The survey of {n} visitors estimates {est} ({lo} – {hi}), more than the {pct} measured here: some private sharing leaves no trace in the visit.", "Le questionnaire ({n} réponses) estime {est} ({lo} – {hi}), plus que les {pct} mesurés ici : une part du partage privé ne laisse aucune trace."),
    ("hl_survey_lower", "The survey of {n} visitors estimates {est} ({lo} – {hi}), less than the {pct} measured here: some deep landings without a referrer were typed or bookmarked.", "Le questionnaire ({n} réponses) estime {est} ({lo} – {hi}), moins que les {pct} mesurés ici : certaines arrivées sans référent étaient tapées ou en favoris."),
    ("hl_thresholds", "Shares of dark social are shown from {min} visits (a row's from {row}); below, “–” means not enough data.", "Les parts de dark social s’affichent à partir de {min} visites ({row} pour une ligne) ; en dessous, « – » signifie pas assez de données."),
    ("not_enough", "Not enough data", "Pas assez de données"),
    ("chart_future", "not yet", "pas encore"),
    ("chart_so_far", "so far", "jusqu’ici"),
    ("shares_not_by_button", "Shares counts {total}: the {table} above, made with a button or by copying text, and {other} links copied from the address bar (no button).", "Partages compte {total} : les {table} ci-dessus, faits avec un bouton ou en copiant du texte, et {other} liens copiés depuis la barre d’adresse (sans bouton)."),
    ("dark_col", "Dark share", "Part dark"),
    ("scroll_col", "Scroll", "Défil."),
    ("current_visitors", "current visitors", "visiteurs en ce moment"),
    ("current_title", "Visitors with an event in the last 5 minutes (refreshed every 30 seconds)", "Visiteurs ayant envoyé un événement ces 5 dernières minutes (mis à jour toutes les 30 secondes)"),
    ("time_col", "Time", "Temps"),
    ("scroll_title", "Scroll depth: how far down the page visitors scrolled, on average (their deepest point)", "Profondeur de défilement : jusqu'où les visiteurs sont descendus dans la page, en moyenne (leur point le plus bas)"),
    ("time_title", "Time on page: time the page was in the foreground, per visitor", "Temps sur la page : temps passé la page au premier plan, par visiteur"),
    ("direct_split", "What Lucarne knows of these visits", "Ce que Lucarne sait de ces visites"),
    ("direct_deep", "↳ likely private: deep page, no referrer", "↳ probablement privé : page profonde, sans référent"),
    ("direct_home", "↳ typed or bookmarked: home page", "↳ tapé ou en favori : page d’accueil"),
    ("travels_h2", "Pages that travel privately", "Pages qui circulent en privé"),
    ("travels_sub", "Landing pages ranked by dark-social arrivals: identified (private apps, e-mail) and estimated; beside them, the shares through the buttons and the link previews apps fetched.", "Pages d’arrivée classées par arrivées dark social : identifiées (messageries, e-mail) et estimées\u{a0}; à côté, les partages par les boutons et les aperçus de lien récupérés par les applications."),
    ("travels_none", "No dark-social arrival in this period.", "Aucune arrivée dark social sur cette période."),
    ("travels_page", "Landing page", "Page d’arrivée"),
    ("travels_shares", "Shares", "Partages"),
    ("travels_shares_title", "Shares of this page through the share buttons in the period (Sharing tab)", "Partages de cette page par les boutons de partage sur la période (onglet Partages)"),
    ("travels_previews", "Previews", "Aperçus"),
    ("travels_previews_title", "Link previews of this page fetched by messaging and social apps in the period (a link pasted into a chat)", "Aperçus de lien de cette page récupérés par les messageries et réseaux sociaux sur la période (un lien collé dans une conversation)"),
    ("identified", "Private channels + e-mail", "Messageries privées + e-mail"),
    ("estimated", "Estimated dark", "Dark estimé"),
    ("of_visits", "of visits", "des visites"),
    ("vs_previous", "vs previous period", "par rapport à la période précédente"),
    ("compare", "Compare with previous period", "Comparer à la période précédente"),
    ("compare_off", "Stop comparing", "Ne plus comparer"),
    ("imported_in", "Includes imported history for", "Inclut l’historique importé du"),
    ("imported_to", "to", "au"),
    ("imported_note", "(days before the site’s own first event; visitors are summed by day)", "(jours précédant le premier événement propre au site ; visiteurs additionnés par jour)"),
    ("imported_leave_out", "Leave it out", "L’exclure"),
    ("imported_out", "Imported history is left out.", "L’historique importé est exclu."),
    ("imported_include", "Include it", "L’inclure"),
    ("period_day", "Today", "Aujourd’hui"),
    ("period_7d", "Last 7 days", "7 derniers jours"),
    ("period_30d", "Last 30 days", "30 derniers jours"),
    ("period_month", "This month", "Ce mois-ci"),
    ("period_6mo", "Last 6 months", "6 derniers mois"),
    ("period_12mo", "Last 12 months", "12 derniers mois"),
    ("period_custom", "Custom", "Personnalisé"),
    ("from", "From", "Du"),
    ("to", "To", "Au"),
    ("apply", "Apply", "Appliquer"),
    ("date_range", "Date range", "Période"),
    ("filters", "Filters", "Filtres"),
    ("remove_filter", "Remove filter", "Retirer le filtre"),
    ("clear_filters", "Clear all", "Tout effacer"),
    ("notes", "Notes", "Notes"),
    ("note_add", "Add a note to the chart", "Ajouter une note au graphique"),
    ("note_date", "Day", "Jour"),
    ("note_text", "Note", "Note"),
    ("note_save", "Add", "Ajouter"),
    ("note_delete", "Delete", "Supprimer"),
    ("note_bad_date", "The note's day must be a date (YYYY-MM-DD).", "Le jour de la note doit être une date (AAAA-MM-JJ)."),
    ("note_empty", "The note is empty.", "La note est vide."),
    ("note_long", "The note is longer than 280 characters.", "La note dépasse 280 caractères."),
    ("note_too_many", "This site has 2,000 notes already: delete some first.", "Ce site a déjà 2\u{202f}000 notes\u{a0}: supprimez-en d’abord."),
    ("note_bad_action", "Unknown action.", "Action inconnue."),
    ("chart", "Visits per day: dark social stacked, visitors as a line", "Visites par jour : dark social empilé, visiteurs en ligne"),
    ("chart_hour", "Visits per hour: dark social stacked, visitors as a line", "Visites par heure : dark social empilé, visiteurs en ligne"),
    ("chart_month", "Visits per month: dark social stacked, visitors as a line", "Visites par mois : dark social empilé, visiteurs en ligne"),
    ("other_visits", "Other visits", "Autres visites"),
    ("export_csv", "CSV", "CSV"),
    ("export_title", "Download this panel as CSV", "Télécharger ce panneau en CSV"),
    ("no_data", "No data for this period.", "Aucune donnée pour cette période."),
    ("none", "(none)", "(aucun)"),
    ("panel_channel_groups", "Channel groups", "Groupes de canaux"),
    ("panel_channels", "Channels", "Canaux"),
    ("panel_evidence", "Evidence", "Indices"),
    ("panel_pages", "Top pages", "Pages les plus vues"),
    ("panel_entry_pages", "Entry pages", "Pages d’entrée"),
    ("panel_sources", "Sources", "Sources"),
    ("panel_utm_source", "UTM source", "Source UTM"),
    ("panel_utm_medium", "UTM medium", "Support UTM"),
    ("panel_utm_campaign", "UTM campaign", "Campagne UTM"),
    ("panel_devices", "Devices", "Appareils"),
    ("panel_browsers", "Browsers", "Navigateurs"),
    ("panel_countries", "Countries", "Pays"),
    ("shared_view", "Shared read-only view", "Vue partagée en lecture seule"),
    ("language", "Language", "Langue"),
    ("approx", "Visitors are an estimate (±2%).", "Le nombre de visiteurs est une estimation (±2 %)."),
    ("dark_explained", "Dark social: visits from private messages and e-mail (identified), and visits that land on a deep page with no referrer (estimated).", "Dark social : visites venues de messageries privées et d’e-mails (identifiées), et visites arrivées sans référent sur une page profonde (estimées)."),
    ("group_private-message", "Private messages", "Messageries privées"),
    ("group_email", "E-mail", "E-mail"),
    ("group_public-social", "Public social", "Réseaux sociaux publics"),
    ("group_search", "Search", "Recherche"),
    ("group_ai-assistant", "AI assistants", "Assistants IA"),
    ("group_referral", "Referral", "Sites référents"),
    ("group_paid", "Paid", "Payant"),
    ("group_direct", "Direct", "Direct"),
    ("group_estimated-dark", "Estimated dark", "Dark estimé"),
    ("ev_share-token", "Share token", "Jeton de partage"),
    ("ev_address-bar-token", "Address-bar token", "Jeton de barre d’adresse"),
    ("ev_copied-text", "Copied text", "Texte copié"),
    ("ev_short-link", "Short link", "Lien court"),
    ("ev_utm", "UTM tags", "Balises UTM"),
    ("ev_referrer", "Referrer", "Référent"),
    ("ev_android-app-referrer", "Android app referrer", "Référent d’application Android"),
    ("ev_in-app-browser", "In-app browser", "Navigateur intégré"),
    ("ev_click-id", "Click id", "Identifiant de clic"),
    ("ev_preview-fetch", "Link preview", "Aperçu de lien"),
    ("ev_deep-link", "Deep link, no referrer", "Lien profond sans référent"),
    ("ev_survey", "Survey", "Sondage"),
    ("ev_none", "None", "Aucun"),
    ("dev_desktop", "Desktop", "Ordinateur"),
    ("dev_mobile", "Mobile", "Mobile"),
    ("dev_tablet", "Tablet", "Tablette"),
    ("dev_other", "Other", "Autre"),
    ("ch_direct", "Direct", "Direct"),
    ("ch_dark", "Dark (estimated)", "Dark (estimé)"),
    // The Sharing view (`dashboard::shares`)
    ("sharing", "Sharing", "Partages"),
    ("shares", "Shares", "Partages"),
    ("share_visits", "Share-visits", "Visites issues d’un partage"),
    ("visits_per_share", "Visits per share", "Visites par partage"),
    ("reshare_rate", "Reshare rate", "Taux de repartage"),
    ("k_factor", "K-factor", "Facteur K"),
    ("max_depth", "Max depth", "Profondeur max."),
    ("max_breadth", "Max breadth", "Largeur max."),
    ("cascades", "Cascades", "Cascades"),
    ("by_share_channel", "Shares by channel (share button)", "Partages par canal (bouton de partage)"),
    ("channel", "Channel", "Canal"),
    ("pct_of_shares", "% of shares", "% des partages"),
    ("by_page_shares", "Private and public shares by page", "Partages privés et publics par page"),
    ("page", "Page", "Page"),
    ("private_shares", "Private", "Privés"),
    ("public_shares", "Public", "Publics"),
    ("pp_ratio", "Private ÷ public", "Privés ÷ publics"),
    ("public_share_visits", "Visits via public buttons", "Visites via les boutons publics"),
    ("public_no_token", "Public-social visits without a token", "Visites des réseaux publics sans jeton"),
    ("est_uncounted", "Estimated uncounted private shares", "Partages privés non comptés (estimation)"),
    ("est_explained", "Estimated uncounted private shares = public-social visits without a token ÷ visits per public widget share × private/public ratio. An order of magnitude: it assumes people share privately and publicly in the same proportion with and without the buttons.", "Partages privés non comptés (estimation) = visites des réseaux publics sans jeton ÷ visites par partage public du widget × ratio privés/publics. Un ordre de grandeur\u{a0}: on suppose que l’on partage en privé et en public dans la même proportion avec et sans les boutons."),
    ("generations", "Share-visits by generation", "Visites issues d’un partage, par génération"),
    ("generation", "Generation", "Génération"),
    ("gen_chart", "Share-visits per generation (1: opened a link shared by a visitor who came without a token)", "Visites issues d’un partage, par génération (1\u{a0}: lien partagé par un visiteur venu sans jeton)"),
    ("largest_cascades", "Largest cascades", "Plus grandes cascades"),
    ("depth", "depth", "profondeur"),
    ("breadth", "breadth", "largeur"),
    ("visits_n", "visits", "visites"),
    ("visit_1", "visit", "visite"),
    ("share_visits_n", "share-visits", "visites issues d’un partage"),
    ("share_visit_1", "share-visit", "visite issue d’un partage"),
    ("details", "Details", "Détails"),
    ("no_cascades", "No cascade in this period: no visit arrived through a share token.", "Aucune cascade sur cette période\u{a0}: aucune visite n’est arrivée par un jeton de partage."),
    ("tree_title", "Cascade: the first visit on the left, each generation further right", "Cascade\u{a0}: la première visite à gauche, chaque génération plus à droite"),
    ("cascade_from", "Cascade from", "Cascade depuis"),
    ("root", "first visit", "première visite"),
    ("time", "Time", "Heure"),
    ("how_travelled", "How the token travelled", "Comment le jeton a circulé"),
    ("button", "Button", "Bouton"),
    ("back_sharing", "All cascades", "Toutes les cascades"),
    ("bad_token", "This is not a share token (11 URL-safe base64 characters).", "Ce n’est pas un jeton de partage (11\u{a0}caractères base64 URL)."),
    ("truncated", "Only the first {n} of {total} visits are shown.", "Seules les {n} premières visites sur {total} sont affichées."),
    ("scroll_hint", "Wider than the screen: scroll it sideways \u{2192}", "Plus large que l’écran\u{a0}: faites-le défiler \u{2192}"),
    ("tree_scroll", "Cascade tree (scrolls sideways)", "Arbre de la cascade (défile horizontalement)"),
    ("cascades_hidden", "{n} smaller cascades are not drawn.", "{n}\u{a0}cascades plus petites ne sont pas dessinées."),
    ("cascades_hidden_1", "1 smaller cascade is not drawn.", "1\u{a0}cascade plus petite n’est pas dessinée."),
    ("cascades_more", "Show {n} more", "En afficher {n} de plus"),
    ("cascades_fewer", "Show only the {n} largest", "N’afficher que les {n} plus grandes"),
    ("line_kinds", "solid line: private button, dashed: public button, dotted: address bar or copied text.", "trait plein\u{a0}: bouton privé, tirets\u{a0}: bouton public, pointillés\u{a0}: barre d’adresse ou texte copié."),
    ("other_channels", "Other", "Autres"),
    ("sharing_explained", "Shares: share-button clicks, copied passages and address-bar tokens that brought a visit. Share-visits: visits that arrived through one. Reshare rate: share-visits that shared again. K-factor: shares made during share-visits ÷ share-visits.", "Partages\u{a0}: clics sur les boutons de partage, passages copiés et jetons de barre d’adresse qui ont amené une visite. Visites issues d’un partage\u{a0}: visites arrivées par l’un d’eux. Taux de repartage\u{a0}: part de ces visites qui ont partagé à leur tour. Facteur K\u{a0}: partages faits pendant ces visites ÷ visites issues d’un partage."),
    ("sc_whatsapp", "WhatsApp", "WhatsApp"),
    ("sc_telegram", "Telegram", "Telegram"),
    ("sc_messenger", "Messenger", "Messenger"),
    ("sc_signal", "Signal", "Signal"),
    ("sc_sms", "SMS", "SMS"),
    ("sc_email", "E-mail", "E-mail"),
    ("sc_copy", "Copy link", "Copier le lien"),
    ("sc_native", "Share sheet", "Menu de partage"),
    ("sc_facebook", "Facebook", "Facebook"),
    ("sc_x", "X", "X"),
    ("sc_linkedin", "LinkedIn", "LinkedIn"),
    ("sc_address-bar", "Address bar (copied address)", "Barre d’adresse (adresse copiée)"),
    ("sc_copied-text", "Copied text", "Texte copié"),
    ("scs_address-bar", "address bar", "barre d’adresse"),
    ("scs_copied-text", "copied text", "texte copié"),
    // The Conversions view (`dashboard::conversions`)
    ("cv_goals_h2", "Goals & conversions", "Objectifs et conversions"),
    ("cv_goals_caption", "Each goal in this period: visits, visits that converted, conversions, conversion rate and revenue", "Chaque objectif sur cette période\u{a0}: visites, visites ayant converti, conversions, taux de conversion et revenu"),
    ("cv_goal", "Goal", "Objectif"),
    ("cv_kind", "Kind", "Type"),
    ("cv_kind_event", "Event", "Événement"),
    ("cv_kind_page", "Page visited", "Page visitée"),
    ("cv_converting", "Converting visits", "Visites ayant converti"),
    ("cv_conversions", "Conversions", "Conversions"),
    ("cv_rate", "Conversion rate", "Taux de conversion"),
    ("cv_revenue", "Revenue ({cur})", "Revenu ({cur})"),
    ("cv_per_visit", "Revenue per visit ({cur})", "Revenu par visite ({cur})"),
    ("cv_by_currency", "by currency:", "par devise\u{a0}:"),
    ("cv_unconverted", "not converted (no exchange rate):", "non converti (pas de taux de change)\u{a0}:"),
    ("cv_no_goals", "No goal yet. A goal counts an event (such as purchase) or the visits of a page (such as /thanks), past events included.", "Aucun objectif pour l’instant. Un objectif compte un événement (comme purchase) ou les visites d’une page (comme /merci), événements passés compris."),
    ("cv_breakdown_h2", "Where conversions come from", "D’où viennent les conversions"),
    ("cv_breakdown_caption", "{goal} by {by}", "{goal} par {by}"),
    ("cv_by", "By", "Par"),
    ("cv_show", "Show", "Afficher"),
    ("cv_by_visit:channel_group", "Channel group", "Groupe de canaux"),
    ("cv_by_visit:channel", "Channel", "Canal"),
    ("cv_by_visit:evidence", "Evidence", "Indice"),
    ("cv_by_visit:share_channel", "How the link travelled", "Comment le lien a circulé"),
    ("cv_by_visit:link", "Short link", "Lien court"),
    ("cv_by_visit:generation", "Share generation", "Génération de partage"),
    ("cv_by_share", "Share (token)", "Partage (jeton)"),
    ("cv_by_cascade", "Cascade (its first visit)", "Cascade (sa première visite)"),
    ("cv_before_period", "(before the period)", "(avant la période)"),
    ("cv_uplift_h2", "Private or public: which visits convert better?", "Privé ou public\u{a0}: quelles visites convertissent le mieux\u{a0}?"),
    ("cv_uplift_caption", "Conversion rate of visits from private messages and e-mail, and of visits from public social networks", "Taux de conversion des visites venues de messageries privées et d’e-mails, et de celles venues des réseaux sociaux publics"),
    ("cv_private", "Private messages + e-mail", "Messageries privées + e-mail"),
    ("cv_public", "Public social", "Réseaux sociaux publics"),
    ("cv_visits_from", "Visits from", "Visites venues de"),
    ("cv_interval", "95 % interval", "Intervalle à 95\u{a0}%"),
    ("cv_difference", "Difference (private − public)", "Différence (privé − public)"),
    ("cv_relative", "Relative uplift", "Gain relatif"),
    ("cv_to", "to", "à"),
    ("cv_significant", "Significant at 95 %: the interval of the difference excludes zero.", "Significatif à 95\u{a0}%\u{a0}: l’intervalle de la différence exclut zéro."),
    ("cv_not_significant", "Not significant at 95 %: the interval of the difference includes zero.", "Non significatif à 95\u{a0}%\u{a0}: l’intervalle de la différence contient zéro."),
    ("cv_method", "Method:", "Méthode\u{a0}:"),
    ("cv_uplift_method", "difference of two proportions (converting visits / visits), 95 % interval by Newcombe's hybrid score method (method 10, from Wilson intervals)", "différence de deux proportions (visites ayant converti / visites), intervalle à 95\u{a0}% par la méthode hybride de Newcombe (méthode 10, à partir d’intervalles de Wilson)"),
    ("cv_manage_h2", "Manage goals", "Gérer les objectifs"),
    ("cv_viewer_note", "Only the site's owners add or delete goals.", "Seuls les propriétaires du site ajoutent ou suppriment des objectifs."),
    ("cv_match", "Event name or path", "Nom d’événement ou chemin"),
    ("cv_name", "Name", "Nom"),
    ("cv_f_kind", "Kind", "Type"),
    ("cv_f_value", "Event name (e.g. purchase) or path (e.g. /thanks; * matches any part)", "Nom d’événement (p. ex. purchase) ou chemin (p. ex. /merci\u{a0}; * remplace n’importe quelle partie)"),
    ("cv_f_name", "Display name (optional)", "Nom affiché (facultatif)"),
    ("cv_add_h3", "Add a goal", "Ajouter un objectif"),
    ("cv_add_btn", "Add the goal", "Ajouter l’objectif"),
    ("cv_delete", "Delete", "Supprimer"),
    ("cv_delete_goal", "Delete the goal", "Supprimer l’objectif"),
    ("cv_confirm_delete", "Delete this goal? Its events stay, but it is no longer reported.", "Supprimer cet objectif\u{a0}? Ses événements restent, mais il n’est plus présenté."),
    ("cv_added", "Goal added.", "Objectif ajouté."),
    ("cv_deleted", "Goal deleted.", "Objectif supprimé."),
    ("cv_e_kind", "A goal's kind is event or page.", "Le type d’un objectif est «\u{a0}événement\u{a0}» ou «\u{a0}page\u{a0}»."),
    ("cv_e_event", "An event goal needs an event name of 1 to 120 characters, other than pageview.", "Un objectif d’événement demande un nom d’événement de 1 à 120\u{a0}caractères, autre que pageview."),
    ("cv_e_page", "A page goal needs a path starting with / (* matches any part), without spaces.", "Un objectif de page demande un chemin commençant par / (* remplace n’importe quelle partie), sans espaces."),
    ("cv_e_exists", "The site has this goal already.", "Le site a déjà cet objectif."),
    ("cv_e_no_goal", "There is no such goal on this site.", "Ce site n’a pas cet objectif."),
    ("cv_e_by", "Unknown breakdown: choose one in the list.", "Ventilation inconnue\u{a0}: choisissez-en une dans la liste."),
    ("cv_explained", "A conversion is credited to its visit's first touch: the channel, evidence, share and short link the visit arrived through. Conversion rate: converting visits ÷ visits. Revenue is summed in the site's currency with its fixed exchange rates; currencies without a rate are shown apart.", "Une conversion est attribuée au premier contact de sa visite\u{a0}: le canal, l’indice, le partage et le lien court par lesquels la visite est arrivée. Taux de conversion\u{a0}: visites ayant converti ÷ visites. Le revenu est additionné dans la devise du site avec ses taux de change fixes\u{a0}; les devises sans taux sont présentées à part."),
    ("fn_h2", "Funnels", "Entonnoirs"),
    ("fn_none", "No funnel yet. An owner adds one below: 2 to 8 steps, each a page or an event.", "Aucun entonnoir pour l’instant. Un propriétaire en ajoute un ci-dessous\u{a0}: 2 à 8 étapes, chacune une page ou un événement."),
    ("fn_kind_page", "Page", "Page"),
    ("fn_kind_event", "Event", "Événement"),
    ("fn_steps_h2", "Steps of “{name}”", "Étapes de «\u{a0}{name}\u{a0}»"),
    ("fn_steps_caption", "Visits reaching each step in order, of the visits that entered step 1, and the visits lost since the previous step.", "Visites atteignant chaque étape dans l’ordre, part des visites entrées à l’étape 1, et visites perdues depuis l’étape précédente."),
    ("fn_no_visits", "No visit reached step 1 in this period.", "Aucune visite n’a atteint l’étape 1 sur cette période."),
    ("fn_step", "Step", "Étape"),
    ("fn_bar", "Bar", "Barre"),
    ("fn_of_first", "Of step 1", "Part de l’étape 1"),
    ("fn_dropped", "Dropped", "Perdues"),
    ("fn_drop_rate", "Drop-off", "Abandon"),
    ("fn_breakdown_h2", "Where finishers come from", "D’où viennent ceux qui vont au bout"),
    ("fn_breakdown_caption", "Visits reaching each step, by {by} (under each step: the share of the group's visits that entered step 1).", "Visites atteignant chaque étape, par {by} (sous chaque étape\u{a0}: la part des visites du groupe entrées à l’étape 1)."),
    ("fn_by", "By", "Par"),
    ("fn_by_channel", "Channel", "Canal"),
    ("fn_by_channel_group", "Channel group", "Groupe de canaux"),
    ("fn_show", "Show", "Afficher"),
    ("fn_completion", "Completion", "Achèvement"),
    ("fn_completion_note", "Completion: visits reaching step {n} ÷ visits entering step 1.", "Achèvement\u{a0}: visites atteignant l’étape {n} ÷ visites entrées à l’étape 1."),
    ("fn_manage_h2", "Manage funnels", "Gérer les entonnoirs"),
    ("fn_viewer_note", "Only the site's owners add and delete funnels.", "Seuls les propriétaires du site ajoutent et suppriment des entonnoirs."),
    ("fn_confirm_delete", "Delete this funnel? Its visits stay; only the funnel goes.", "Supprimer cet entonnoir\u{a0}? Les visites restent\u{a0}; seul l’entonnoir disparaît."),
    ("fn_delete", "Delete", "Supprimer"),
    ("fn_delete_funnel", "Delete the funnel", "Supprimer l’entonnoir"),
    ("fn_add_h3", "Add a funnel", "Ajouter un entonnoir"),
    ("fn_f_name", "Name", "Nom"),
    ("fn_f_steps", "Fill 2 to 8 steps in order; blank rows are skipped. A page is a path, `*` for any part (/checkout/*); an event is its name (signup).", "Remplissez 2 à 8 étapes dans l’ordre\u{a0}; les lignes vides sont ignorées. Une page est un chemin, `*` pour n’importe quelle partie (/checkout/*)\u{a0}; un événement est son nom (signup)."),
    ("fn_f_kind", "Kind", "Type"),
    ("fn_f_value", "Path or event name", "Chemin ou nom d’événement"),
    ("fn_add_btn", "Add the funnel", "Ajouter l’entonnoir"),
    ("fn_added", "Funnel added.", "Entonnoir ajouté."),
    ("fn_deleted", "Funnel deleted.", "Entonnoir supprimé."),
    ("fn_e_exists", "The site has a funnel of this name already.", "Le site a déjà un entonnoir de ce nom."),
    ("fn_e_name", "Give the funnel a name of 1 to 120 characters.", "Donnez à l’entonnoir un nom de 1 à 120 caractères."),
    ("fn_e_count", "A funnel has 2 to 8 steps.", "Un entonnoir a 2 à 8 étapes."),
    ("fn_e_step", "Step {n}: a page is a path starting with /, without spaces; an event is a name of 1 to 120 characters (not pageview, nor a short-link event).", "Étape {n}\u{a0}: une page est un chemin commençant par /, sans espace\u{a0}; un événement est un nom de 1 à 120 caractères (ni pageview, ni un événement de lien court)."),
    ("fn_e_no_funnel", "This funnel does not exist (any more).", "Cet entonnoir n’existe pas (ou plus)."),
    ("fn_e_by", "Unknown breakdown: choose one in the list.", "Ventilation inconnue\u{a0}: choisissez-en une dans la liste."),
    ("fn_explained", "A visit reaches a step when it does it at or after the time it reached the previous step: steps done out of order do not count, a repeated step counts once, and two visits never join into one path. Visits are counted in the channel they arrived through.", "Une visite atteint une étape quand elle la fait au moment où elle a atteint l’étape précédente ou après\u{a0}: les étapes faites dans le désordre ne comptent pas, une étape répétée compte une fois, et deux visites ne forment jamais un seul parcours. Les visites sont comptées dans le canal par lequel elles sont arrivées."),
    ("sv_h2", "Survey: “How did you hear about us?”", "Questionnaire\u{a0}: «\u{a0}Comment nous avez-vous connus\u{a0}?\u{a0}»"),
    ("sv_respondents", "Respondents", "Répondants"),
    ("sv_estimate", "Dark social share, calibrated by the survey", "Part du dark social, calibrée par le questionnaire"),
    ("sv_measured", "Dark social share identified by tracking", "Part du dark social identifiée par le suivi"),
    ("sv_interval", "95 % interval: {lo} to {hi}", "intervalle à 95\u{a0}%\u{a0}: de {lo} à {hi}"),
    ("sv_of_visits", "of visits (private messages + e-mail)", "des visites (messageries privées + e-mail)"),
    ("sv_no_estimate", "No estimate yet: it needs answers and visits in this period.", "Pas encore d’estimation\u{a0}: il faut des réponses et des visites sur cette période."),
    ("sv_none", "No answer in this period.", "Aucune réponse sur cette période."),
    ("sv_matrix_h3", "What people say and what tracking measured", "Ce que disent les gens et ce que le suivi a mesuré"),
    ("sv_matrix_caption", "Respondents by self-reported answer (rows) and measured channel group of their visit (columns)", "Répondants par réponse déclarée (lignes) et groupe de canaux mesuré de leur visite (colonnes)"),
    ("sv_reported", "Self-reported answer", "Réponse déclarée"),
    ("sv_total", "Total", "Total"),
    ("sv_groups_h3", "By measured channel group", "Par groupe de canaux mesuré"),
    ("sv_groups_caption", "For each measured channel group: its visits, its respondents and the share of them who say a private message or an e-mail brought them", "Pour chaque groupe de canaux mesuré\u{a0}: ses visites, ses répondants et la part d’entre eux qui disent être venus par une messagerie privée ou un e-mail"),
    ("sv_measured_group", "Measured channel group", "Groupe de canaux mesuré"),
    ("sv_say_private", "Say they came privately", "Disent être venus en privé"),
    ("sv_hides", "dark social hides here", "le dark social s’y cache"),
    ("sv_free_h3", "Most frequent free-text answers", "Réponses libres les plus fréquentes"),
    ("sv_free_caption", "Free text typed under “Other”, and the answer it is read as", "Texte libre saisi sous «\u{a0}Autre\u{a0}», et la réponse à laquelle il est rattaché"),
    ("sv_text", "Text", "Texte"),
    ("sv_read_as", "Read as", "Rattaché à"),
    ("sv_unmapped", "(not recognised)", "(non reconnu)"),
    ("sv_method", "Post-stratified by measured channel group (weights: the period's visits per group), with a 95 % interval from 4,000 Monte Carlo draws of independent Jeffreys Beta posteriors, one per group.", "Post-stratification par groupe de canaux mesuré (poids\u{a0}: les visites de la période par groupe), avec un intervalle à 95\u{a0}% tiré de 4\u{a0}000\u{a0}tirages de Monte-Carlo de lois a posteriori Bêta de Jeffreys indépendantes, une par groupe."),
    ("sv_method_pooled", "Post-stratified by measured channel group (weights: the period's visits per group), groups with visits but no respondents taking the proportion pooled over all respondents, with a 95 % interval from 4,000 Monte Carlo draws of independent Jeffreys Beta posteriors per group.", "Post-stratification par groupe de canaux mesuré (poids\u{a0}: les visites de la période par groupe), les groupes sans répondants prenant la proportion de l’ensemble des répondants, avec un intervalle à 95\u{a0}% tiré de 4\u{a0}000\u{a0}tirages de Monte-Carlo de lois a posteriori Bêta de Jeffreys indépendantes par groupe."),
    ("sv_embed_h3", "Add the survey to the site", "Ajouter le questionnaire au site"),
    ("sv_embed_intro", "Paste this where the question should appear (a thank-you or order-confirmation page works well):", "Collez ceci là où la question doit apparaître (une page de remerciement ou de confirmation de commande convient bien)\u{a0}:"),
    ("sv_off", "The survey is off for this site: turn it on in the settings to accept answers.", "Le questionnaire est désactivé pour ce site\u{a0}: activez-le dans les réglages pour accepter des réponses."),
    // Preview cards
    ("cards_h2", "Preview cards", "Aperçus de liens"),
    ("cards_intro", "Your pages with the most private arrivals, fetched from this server as WhatsApp, Telegram, iMessage, Slack and Facebook fetch a link pasted into a conversation (their user agents, size and redirect limits, no cookies), and the card each app would show. Pages with a broken card come first.", "Vos pages qui reçoivent le plus d’arrivées privées, récupérées depuis ce serveur comme WhatsApp, Telegram, iMessage, Slack et Facebook récupèrent un lien collé dans une conversation (leurs agents utilisateurs, limites de taille et de redirections, sans cookies), et l’aperçu que chaque application afficherait. Les pages dont l’aperçu est cassé viennent en premier."),
    ("cards_no_image_note", "The mock cards show the image’s address, format, size and weight, not the picture: the dashboard loads nothing from your site.", "Les aperçus simulés indiquent l’adresse, le format, les dimensions et le poids de l’image, pas l’image elle-même\u{a0}: le tableau de bord ne charge rien depuis votre site."),
    ("cards_check", "Check the cards now", "Vérifier les aperçus maintenant"),
    ("cards_no_pages", "No page received visits in this period.", "Aucune page n’a reçu de visites sur cette période."),
    ("cards_not_checked", "not checked yet", "pas encore vérifiée"),
    ("cards_running", "being checked: reload the page in a moment", "vérification en cours\u{a0}: rechargez la page dans un instant"),
    ("cards_counts", "Private arrivals: {private} · visits: {visits}", "Arrivées privées\u{a0}: {private} · visites\u{a0}: {visits}"),
    ("cards_state_broken", "broken card", "aperçu cassé"),
    ("cards_state_degraded", "to improve", "à améliorer"),
    ("cards_state_fine", "fine", "correct"),
    ("cards_no_image", "no image", "pas d’image"),
    ("cards_no_card", "No card: the page could not be read.", "Pas d’aperçu\u{a0}: la page n’a pas pu être lue."),
    ("cards_ok", "No problem found.", "Aucun problème relevé."),
    ("card_p_no_og_image", "No og:image: {app} shows no picture.", "Pas d’og:image\u{a0}: {app} n’affiche pas d’image."),
    ("card_p_no_title", "No og:title nor <title>: {app} has no title to show.", "Ni og:title ni <title>\u{a0}: {app} n’a pas de titre à afficher."),
    ("card_p_image_too_large", "The image weighs {bytes}: {app} shows no image above about {max}.", "L’image pèse {bytes}\u{a0}: {app} n’affiche pas d’image au-delà d’environ {max}."),
    ("card_p_image_too_small", "The image is {width}×{height} px: {app} wants at least {min_width}×{min_height} for a large picture.", "L’image fait {width}×{height}\u{a0}px\u{a0}: {app} demande au moins {min_width}×{min_height} pour une grande image."),
    ("card_p_image_not_image", "The image address answers {content_type}, not an image.", "L’adresse de l’image renvoie {content_type}, pas une image."),
    ("card_p_image_unreachable", "The image could not be fetched ({reason}).", "L’image n’a pas pu être récupérée ({reason})."),
    ("card_p_image_not_checked", "The image is on {host}, not one of the site’s hostnames: not checked.", "L’image est sur {host}, qui n’est pas un des noms d’hôte du site\u{a0}: non vérifiée."),
    ("card_p_title_cut", "The title has {chars} characters: {app} cuts it at about {max}.", "Le titre compte {chars}\u{a0}caractères\u{a0}: {app} le coupe vers {max}."),
    ("card_p_description_cut", "The description has {chars} characters: {app} cuts it at about {max}.", "La description compte {chars}\u{a0}caractères\u{a0}: {app} la coupe vers {max}."),
    ("card_p_relative_url", "{tag} is relative ({value}): it must be an absolute https address.", "{tag} est relative ({value})\u{a0}: elle doit être une adresse https absolue."),
    ("card_p_redirect_not_followed", "A redirect {app}’s crawler does not follow (to {to}).", "Une redirection que le robot de {app} ne suit pas (vers {to})."),
    ("card_p_too_many_redirects", "More than {max} redirects: {app}’s crawler gives up.", "Plus de {max}\u{a0}redirections\u{a0}: le robot de {app} abandonne."),
    ("card_p_refused", "The page answers {status} to {app}’s crawler.", "La page répond {status} au robot de {app}."),
    ("card_p_not_html", "The page is {content_type}, not HTML.", "La page est en {content_type}, pas en HTML."),
    ("card_p_html_truncated", "The HTML is longer than the {max} {app} reads: tags after them are not seen.", "Le HTML dépasse les {max} que lit {app}\u{a0}: les balises situées après ne sont pas vues."),
    ("card_p_timeout", "The page did not answer within {app}’s time limit.", "La page n’a pas répondu dans le délai de {app}."),
    ("card_p_private_address", "{host} resolves to {ip}, a loopback or private address: not fetched.", "{host} pointe vers {ip}, une adresse locale ou privée\u{a0}: non récupérée."),
    ("card_p_host_not_allowed", "The address leads to {host}, not one of the site’s hostnames: not fetched.", "L’adresse mène à {host}, qui n’est pas un des noms d’hôte du site\u{a0}: non récupérée."),
    ("card_p_unreachable", "No answer ({reason}).", "Pas de réponse ({reason})."),
];

impl Lang {
    /// The label of an accounts-page string (login, setup, sites, settings, members,
    /// shared links, API keys, errors, the navigation shell): see [`AUTH_LABELS`].
    pub fn auth(self, key: &str) -> &'static str {
        let hit = AUTH_LABELS.iter().find(|(k, _, _)| *k == key);
        match (hit, self) {
            (Some((_, en, _)), Lang::En) => en,
            (Some((_, _, fr)), Lang::Fr) => fr,
            (None, _) => "?",
        }
    }
}

/// (key, English, French) of the accounts pages. `{n}`, `{tz}`: filled in by the caller.
pub const AUTH_LABELS: &[(&str, &str, &str)] = &[
    // Shell and errors
    ("nav_sites", "Sites", "Sites"),
    ("nav_keys", "API keys", "Clés d’API"),
    ("log_out", "Log out", "Se déconnecter"),
    ("back_home", "Back to Lucarne", "Retour à Lucarne"),
    ("err_not_found", "Not found", "Page introuvable"),
    ("err_not_found_text", "There is nothing here, or you do not have access to it.", "Il n’y a rien ici, ou vous n’y avez pas accès."),
    ("err_forbidden", "Forbidden", "Action interdite"),
    ("err_forbidden_text", "You may not do this. If you submitted a form, reload the page and try again.", "Vous ne pouvez pas faire cela. Si vous avez envoyé un formulaire, rechargez la page et réessayez."),
    ("err_bad_request", "Bad request", "Requête incorrecte"),
    ("err_too_many", "Too many attempts", "Trop de tentatives"),
    ("err_too_many_text", "Too many failed logins. Wait fifteen minutes, then try again.", "Trop d’échecs de connexion. Attendez quinze minutes, puis réessayez."),
    ("err_internal", "Internal error", "Erreur interne"),
    ("err_internal_text", "Something went wrong on the server. It has been logged.", "Une erreur s’est produite sur le serveur. Elle a été journalisée."),
    ("unknown_action", "Unknown action.", "Action inconnue."),
    // Setup and login
    ("setup_title", "Set up Lucarne", "Installer Lucarne"),
    ("setup_h1", "Welcome to Lucarne", "Bienvenue dans Lucarne"),
    ("setup_intro", "Create the first account. It will own every site registered so far.", "Créez le premier compte. Il sera propriétaire de tous les sites déjà enregistrés."),
    ("email", "E-mail", "Adresse e-mail"),
    ("password", "Password", "Mot de passe"),
    ("password2", "Password again", "Confirmez le mot de passe"),
    ("create_account", "Create the account", "Créer le compte"),
    ("pw_short", "The password must have at least {n} characters.", "Le mot de passe doit comporter au moins {n} caractères."),
    ("pw_long", "The password is too long (1024 bytes at most).", "Le mot de passe est trop long (1024 octets au maximum)."),
    ("pw_differ", "The two passwords differ.", "Les deux mots de passe diffèrent."),
    ("login_title", "Log in", "Connexion"),
    ("login_h1", "Log in to Lucarne", "Connexion à Lucarne"),
    ("login_button", "Log in", "Se connecter"),
    ("login_wrong", "Wrong e-mail or password.", "Adresse e-mail ou mot de passe incorrect."),
    ("logout_h1", "Log out?", "Se déconnecter\u{a0}?"),
    // Sites
    ("sites", "Sites", "Sites"),
    ("no_site", "No site yet. Add the first one below.", "Aucun site pour l’instant. Ajoutez le premier ci-dessous."),
    ("settings", "Settings", "Réglages"),
    ("add_site", "Add a site", "Ajouter un site"),
    ("domain", "Domain", "Domaine"),
    ("timezone", "Time zone", "Fuseau horaire"),
    ("add_site_button", "Add the site", "Ajouter le site"),
    ("tz_unknown_hint", "Unknown time zone `{tz}` (use a name such as Europe/Paris).", "Fuseau horaire «\u{a0}{tz}\u{a0}» inconnu (utilisez un nom comme Europe/Paris)."),
    ("tz_unknown", "Unknown time zone `{tz}`.", "Fuseau horaire «\u{a0}{tz}\u{a0}» inconnu."),
    ("site_exists", "This domain is already registered on this server.", "Ce domaine est déjà enregistré sur ce serveur."),
    ("bad_email", "This is not an e-mail address.", "Ce n’est pas une adresse e-mail."),
    ("language_h2", "Language", "Langue"),
    ("language", "Interface language", "Langue de l’interface"),
    ("language_auto", "Same as the browser", "Celle du navigateur"),
    ("bad_domain", "This is not a domain name:", "Ce n’est pas un nom de domaine :"),
    ("role_owner", "owner", "propriétaire"),
    ("role_viewer", "viewer", "lecteur"),
    // Site settings
    ("tab_dashboard", "Dashboard", "Tableau de bord"),
    ("tab_sharing", "Sharing", "Partages"),
    ("tab_links", "Links", "Liens"),
    ("tab_conversions", "Conversions", "Conversions"),
    ("tab_funnels", "Funnels", "Entonnoirs"),
    ("tab_cards", "Preview cards", "Aperçus"),
    ("site_settings", "Settings", "Réglages du site"),
    ("saved", "Settings saved.", "Réglages enregistrés."),
    ("snippet", "Tracking snippet", "Extrait de suivi"),
    ("snippet_before", "Paste this in the ", "Collez ceci dans le "),
    ("snippet_after", " of every page of the site:", " de chaque page du site\u{a0}:"),
    ("receiving", "Receiving events.", "Reçoit des événements."),
    ("waiting", "Waiting for the first event… Load a page of the site, then reload this page.", "En attente du premier événement… Chargez une page du site, puis rechargez cette page."),
    ("snippet_body", "Then put this where the share buttons should appear, in the page's body (leave it out for no buttons):", "Puis placez ceci là où les boutons de partage doivent apparaître, dans le corps de la page (omettez-le pour ne pas en avoir) :"),
    ("copy_head", "Copy the <head> part", "Copier la partie <head>"),
    ("copy_body", "Copy the <body> part", "Copier la partie <body>"),
    ("copied", "Copied", "Copié"),
    ("refused_h3", "Events refused recently, and what to do", "Événements refusés récemment, et que faire"),
    ("refused_bot", "taken for a bot: the browser is automated or headless (Puppeteer, Selenium, headless Chrome) or says it is a crawler. Open the site in an ordinary browser.", "pris pour un robot : navigateur automatisé ou sans interface (Puppeteer, Selenium, Chrome headless) ou se déclarant robot. Ouvrez le site dans un navigateur ordinaire."),
    ("refused_hostname", "the page's hostname is not one of this site's: add it to “Other hostnames” below (a staging or www host, for instance).", "le nom d’hôte de la page n’est pas celui du site : ajoutez-le aux « autres noms d’hôte » ci-dessous (un hôte de préproduction ou www, par exemple)."),
    ("refused_dnt", "the browser sends Do Not Track and this site honours it: untick “Honour Do-Not-Track and Global Privacy Control” below, or test from a browser without it.", "le navigateur envoie Do Not Track et ce site le respecte : décochez « Respecter Do-Not-Track / GPC » ci-dessous, ou testez avec un navigateur sans."),
    ("refused_spam", "the referrer is on the spam list: this visit is not counted.", "le référent figure sur la liste de spam : cette visite n’est pas comptée."),
    ("refused_rate", "too many events at once: the rate limit refused it (the client retries).", "trop d’événements à la fois : la limite de débit l’a refusé (le client réessaie)."),
    ("refused_other", "refused ({reason}): see README “Bad input”.", "refusé ({reason}) : voir README « Bad input »."),
    ("status_unknown", "Could not check for events right now.", "Impossible de vérifier les événements pour le moment."),
    ("tz_reports", "Time zone (for days and months in reports)", "Fuseau horaire (pour les jours et les mois des rapports)"),
    ("hostnames", "Other hostnames whose pages count for this site (comma-separated; the domain and its subdomains always count)", "Autres noms d’hôte dont les pages comptent pour ce site (séparés par des virgules\u{a0}; le domaine et ses sous-domaines comptent toujours)"),
    ("share_param", "Share-token parameter", "Paramètre du jeton de partage"),
    ("share_fragment", " in the fragment (#…), never sent to servers", " dans le fragment (#…), jamais envoyé aux serveurs"),
    ("share_query", " in the query string (?…)", " dans la chaîne de requête (?…)"),
    ("retention", "Keep events for (days; empty keeps everything)", "Conserver les données pendant (jours\u{a0}; vide\u{a0}: tout conserver)"),
    ("copy_attr", " Copied-text attribution: add a \"read more\" link to long passages readers copy (needs data-copy on share.js)", " Attribution du texte copié : ajouter un lien « lire la suite » aux longs passages copiés (data-copy sur share.js)"),
    ("dnt", " Honour Do-Not-Track and Global Privacy Control (do not count those visitors)", " Respecter Do-Not-Track / GPC (ne pas compter ces visiteurs)"),
    ("currency", "Currency of revenue reports (ISO 4217, e.g. EUR)", "Devise des rapports de revenus (ISO 4217, p. ex. EUR)"),
    ("exchange_rates", "Fixed exchange rates into that currency (e.g. USD=0.92, GBP=1.17; others are reported apart)", "Taux de change fixes vers cette devise (p. ex. USD=0.92, GBP=1.17\u{a0}; les autres sont présentées à part)"),
    ("survey_enabled", " Accept answers to the \"How did you hear about us?\" survey (survey.js)", " Accepter les réponses au questionnaire «\u{a0}Comment nous avez-vous connus\u{a0}?\u{a0}» (survey.js)"),
    ("survey_options", "Survey options, in order (ids, comma-separated; empty: the defaults)", "Options du questionnaire, dans l’ordre (identifiants séparés par des virgules\u{a0}; vide\u{a0}: celles par défaut)"),
    ("bad_currency", "The currency is a three-letter ISO 4217 code.", "La devise est un code ISO 4217 de trois lettres."),
    ("bad_rates", "Exchange rates are written CODE=RATE, e.g. USD=0.92.", "Les taux de change s’écrivent CODE=TAUX, p. ex. USD=0.92."),
    ("bad_survey_options", "Unknown survey option:", "Option de questionnaire inconnue\u{a0}:"),
    ("save", "Save", "Enregistrer"),
    ("too_many_hosts", "At most 50 extra hostnames.", "50\u{a0}noms d’hôte supplémentaires au maximum."),
    ("bad_share_style", "Choose fragment or query for the share token.", "Choisissez le fragment ou la chaîne de requête pour le jeton de partage."),
    ("bad_retention", "The retention period is a number of days between 1 and 36500.", "La durée de conservation est un nombre de jours entre 1 et 36500."),
    // Members
    ("members", "Members", "Membres"),
    ("role", "Role", "Rôle"),
    ("remove", "Remove", "Retirer"),
    ("add_member", "Add a member", "Ajouter un membre"),
    ("invite_help_link", "A colleague with an account here gets the role at once. Anyone else gets an invitation: a link to set a password, shown to you here to pass on (this server sends no e-mail: start it with --smtp-url to send invitations).", "Un collègue qui a déjà un compte ici reçoit le rôle aussitôt. Les autres reçoivent une invitation\u{a0}: un lien pour choisir un mot de passe, affiché ici pour que vous le transmettiez (ce serveur n’envoie pas d’e-mail\u{a0}: démarrez-le avec --smtp-url pour envoyer les invitations)."),
    ("invite_help_mail", "A colleague with an account here gets the role at once. Anyone else is sent an invitation by e-mail: a link to set a password, also shown to you here.", "Un collègue qui a déjà un compte ici reçoit le rôle aussitôt. Les autres reçoivent une invitation par e-mail\u{a0}: un lien pour choisir un mot de passe, affiché ici aussi."),
    ("add_or_invite", "Add or invite", "Ajouter ou inviter"),
    ("invite_no_smtp", "Invitation made for {email}. Send them this link (valid {days} days, shown only now):", "Invitation créée pour {email}. Envoyez-lui ce lien (valable {days}\u{a0}jours, affiché seulement maintenant)\u{a0}:"),
    ("invite_sent", "Invitation e-mailed to {email} (valid {days} days). The link, if they cannot find the e-mail:", "Invitation envoyée par e-mail à {email} (valable {days}\u{a0}jours). Le lien, si l’e-mail n’arrive pas\u{a0}:"),
    ("invite_mail_failed", "The e-mail to {email} could not be sent (see the server log). Send them this link yourself (valid {days} days, shown only now):", "L’e-mail à {email} n’a pas pu partir (voir le journal du serveur). Envoyez-lui ce lien vous-même (valable {days}\u{a0}jours, affiché seulement maintenant)\u{a0}:"),
    ("invite_subject", "Your invitation to {site}'s statistics", "Votre invitation aux statistiques de {site}"),
    ("invite_body", "{who} invites you to see the statistics of {site} on Lucarne, as {role}.\n\nSet your password here (the link works for {days} days):\n{link}\n\nIf you did not expect this, ignore this e-mail.\n", "{who} vous invite à consulter les statistiques de {site} sur Lucarne, en tant que {role}.\n\nChoisissez votre mot de passe ici (le lien fonctionne {days}\u{a0}jours)\u{a0}:\n{link}\n\nSi vous ne vous y attendiez pas, ignorez cet e-mail.\n"),
    ("pending_h2", "Invitations not yet accepted", "Invitations pas encore acceptées"),
    ("expires", "Expires", "Expire"),
    ("expired", "expired — invite again", "expirée — invitez à nouveau"),
    ("no_invite", "No such invitation.", "Cette invitation n’existe pas."),
    ("invite_title", "Invitation", "Invitation"),
    ("invite_h1", "Join {site} on Lucarne", "Rejoindre {site} sur Lucarne"),
    ("invite_intro", "This invitation is for {email}, as {role}.", "Cette invitation est pour {email}, en tant que {role}."),
    ("invite_has_account", "This address has an account already: accept, then log in with its password.", "Cette adresse a déjà un compte\u{a0}: acceptez, puis connectez-vous avec son mot de passe."),
    ("invite_accept", "Accept and log in", "Accepter et se connecter"),
    ("invite_set_password", "Set my password and open the dashboard", "Choisir mon mot de passe et ouvrir le tableau de bord"),
    ("invite_expired", "This invitation has expired. Ask for a new one.", "Cette invitation a expiré. Demandez-en une nouvelle."),
    ("invite_unknown", "This invitation link is not valid: it was used, withdrawn or mistyped.", "Ce lien d’invitation n’est pas valable\u{a0}: il a servi, a été retiré ou est mal recopié."),
    // The account page
    ("account_title", "Your account", "Votre compte"),
    ("signed_in_as", "Signed in as", "Connecté en tant que"),
    ("password_h2", "Password", "Mot de passe"),
    ("current_password", "Current password", "Mot de passe actuel"),
    ("new_password", "New password", "Nouveau mot de passe"),
    ("change_password", "Change the password", "Changer le mot de passe"),
    ("password_changed", "Password changed. Your other sessions are logged out.", "Mot de passe changé. Vos autres sessions sont déconnectées."),
    ("current_wrong", "The current password is not right.", "Le mot de passe actuel n’est pas le bon."),
    ("your_sites", "Your sites", "Vos sites"),
    ("site", "Site", "Site"),
    ("leave", "Leave", "Quitter"),
    ("last_owner_leave", "You are the last owner of {site}: make someone else owner first, or delete the site from its settings.", "Vous êtes le dernier propriétaire de {site}\u{a0}: nommez d’abord un autre propriétaire, ou supprimez le site depuis ses réglages."),
    ("instance_h2", "This Lucarne", "Ce serveur Lucarne"),
    ("public_url", "Public address", "Adresse publique"),
    ("public_url_help", "The address visitors reach this server at (https://stats.example.com): short links, QR codes and invitations use it. Empty: the address you are browsing from.", "L’adresse à laquelle les visiteurs joignent ce serveur (https://stats.example.com)\u{a0}: les liens courts, codes QR et invitations l’utilisent. Vide\u{a0}: l’adresse depuis laquelle vous naviguez."),
    ("public_url_configured", "Public address: {url} (set in the server's configuration, --public-url).", "Adresse publique\u{a0}: {url} (fixée dans la configuration du serveur, --public-url)."),
    ("public_url_fixed", "The public address is set in the server's configuration.", "L’adresse publique est fixée dans la configuration du serveur."),
    ("bad_public_url", "The public address is an http:// or https:// address, without query or password.", "L’adresse publique est une adresse http:// ou https://, sans paramètres ni mot de passe."),
    // Imported history
    ("imports_h2", "Imported history", "Historique importé"),
    ("imports_help", "Imported with `lucarne import plausible --site {site} FILE.zip`. Reports count an import's days only before the site's own first event.", "Importé avec `lucarne import plausible --site {site} FICHIER.zip`. Les rapports ne comptent les jours importés qu’avant le premier événement propre au site."),
    ("imports_none", "Nothing imported.", "Rien d’importé."),
    ("imports_row", "{source}: {first} to {last}, {rows} rows, imported {when}", "{source}\u{a0}: du {first} au {last}, {rows} lignes, importé le {when}"),
    ("imports_delete", "Delete this import", "Supprimer cet import"),
    ("imports_deleted", "Import deleted.", "Import supprimé."),
    // Deleting a site
    ("delete_site_h2", "Delete this site", "Supprimer ce site"),
    ("delete_site_warn", "Deleting {site} removes its statistics, short links, goals, shared links and members for good. There is no undo.", "Supprimer {site} efface pour de bon ses statistiques, liens courts, objectifs, liens de partage et membres. C’est irréversible."),
    ("delete_site_confirm", "Type {site} to confirm", "Tapez {site} pour confirmer"),
    ("delete_site_button", "Delete the site and its data", "Supprimer le site et ses données"),
    ("delete_site_mismatch", "Type the site's domain, {site}, to delete it.", "Tapez le domaine du site, {site}, pour le supprimer."),
    // Site settings: the short domain
    ("short_domain", "Short-link domain", "Domaine des liens courts"),
    ("short_domain_help", "New short links use https://THIS-DOMAIN/slug (point the domain's DNS at this server). Empty: {base}/l/slug.", "Les nouveaux liens courts utilisent https://CE-DOMAINE/slug (faites pointer le DNS du domaine vers ce serveur). Vide\u{a0}: {base}/l/slug."),
    ("notifications", "Notifications", "Notifications"),
    ("nt_weekly", "Weekly digest (Mondays)", "Résumé hebdomadaire (le lundi)"),
    ("nt_monthly", "Monthly digest (the 1st)", "Résumé mensuel (le 1er)"),
    ("nt_alerts", "Alerts (a page going viral in private, traffic spikes)", "Alertes (une page qui circule en privé, pics de trafic)"),
    ("nt_conversions", "Conversions as they arrive", "Conversions dès qu’elles arrivent"),
    ("nt_email_me", "E-mail me", "M’envoyer par e-mail"),
    ("nt_no_smtp", "This server has no SMTP server configured: e-mails wait until an administrator sets --smtp-url.", "Ce serveur n’a pas de serveur SMTP configuré : les e-mails attendent qu’un administrateur règle --smtp-url."),
    ("nt_language", "Language of the e-mails", "Langue des e-mails"),
    ("nt_alert_settings", "Alerts", "Alertes"),
    ("nt_alert_help", "A page goes viral in private when its private arrivals (messaging apps, e-mail, estimated dark, link previews) in the last hour reach the minimum and that many times its usual hour (its mean over the 14 days before). A spike: the site's visitors in the last hour against the same hour on the 14 days before. Each alert comes at most once a day; quiet hours hold e-mails (not webhooks) until they end.", "Une page circule en privé quand ses arrivées privées (messageries, e-mail, dark estimé, aperçus de lien) de la dernière heure atteignent le minimum et autant de fois son heure habituelle (sa moyenne des 14 jours précédents). Un pic : les visiteurs de la dernière heure contre la même heure des 14 jours précédents. Chaque alerte arrive au plus une fois par jour ; les heures calmes retiennent les e-mails (pas les webhooks) jusqu’à leur fin."),
    ("nt_viral_min", "Private arrivals in an hour, at least", "Arrivées privées en une heure, au moins"),
    ("nt_viral_factor", "Times the page's usual hour", "Fois l’heure habituelle de la page"),
    ("nt_spike_min", "Visitors in an hour for a spike, at least", "Visiteurs en une heure pour un pic, au moins"),
    ("nt_spike_factor", "Times the usual level", "Fois le niveau habituel"),
    ("nt_quiet", "Quiet hours (from, to; the site's time zone)", "Heures calmes (de, à ; fuseau du site)"),
    ("nt_cap", "Most alerts a day", "Nombre maximal d’alertes par jour"),
    ("nt_webhooks", "Webhooks", "Webhooks"),
    ("nt_webhooks_help", "Each call is a JSON POST signed in the Lucarne-Signature header: t=UNIX-TIME,v1=HMAC-SHA256 of \"t.body\" with the webhook's secret. Slack and Discord show its text field as it is.", "Chaque appel est un POST JSON signé dans l’en-tête Lucarne-Signature : t=TEMPS-UNIX,v1=HMAC-SHA256 de « t.corps » avec le secret du webhook. Slack et Discord affichent son champ text tel quel."),
    ("nt_add_webhook", "Add the webhook", "Ajouter le webhook"),
    ("nt_secret_once", "The webhook's secret, shown once: keep it with the receiver to check signatures.", "Le secret du webhook, affiché une seule fois : gardez-le chez le récepteur pour vérifier les signatures."),
    ("nt_recent", "Latest alerts and deliveries", "Dernières alertes et envois"),
    ("nt_none_yet", "Nothing sent yet.", "Rien d’envoyé pour l’instant."),
    ("nt_when", "When (UTC)", "Quand (UTC)"),
    ("nt_what", "What", "Quoi"),
    ("nt_to", "To", "À"),
    ("nt_status", "Status · tries", "État · essais"),
    ("nt_error", "Last error", "Dernière erreur"),
    ("nt_delete", "Delete", "Supprimer"),
    ("nt_bad_alerts", "Alert settings:", "Réglages des alertes :"),
    ("nt_bad_webhook", "Webhook:", "Webhook :"),
    ("nt_too_many_webhooks", "A site has at most 10 webhooks.", "Un site a au plus 10 webhooks."),
    ("nt_bad_action", "Unknown action.", "Action inconnue."),
    ("nt_unsubscribe_h1", "Unsubscribe", "Se désabonner"),
    ("nt_unsubscribe_ask", "Stop sending {what} for {site} to {email}?", "Ne plus envoyer {what} pour {site} à {email} ?"),
    ("nt_unsubscribe_button", "Unsubscribe", "Se désabonner"),
    ("nt_unsubscribed", "Done: no more {what}.", "C’est fait : plus de {what}."),
    ("nt_unsubscribe_gone", "This link no longer unsubscribes anything: it was used already, or the subscription was removed.", "Ce lien ne désabonne plus de rien : il a déjà servi, ou l’abonnement a été supprimé."),
    ("embed_origins", "Sites that may embed the shared dashboard", "Sites qui peuvent intégrer le tableau de bord partagé"),
    ("embed_origins_help", "One origin a line (https://blog.example.com). Only shared links can be framed, and only by these sites; empty: by none.", "Une origine par ligne (https://blog.example.com). Seuls les liens partagés peuvent être intégrés, et seulement par ces sites\u{a0}; vide\u{a0}: par aucun."),
    ("bad_embed_origins", "Embedding:", "Intégration\u{a0}:"),
    ("bad_short_domain", "The short-link domain must be a host name.", "Le domaine des liens courts doit être un nom d’hôte."),
    ("short_domain_own", "The short-link domain cannot be Lucarne's own address.", "Le domaine des liens courts ne peut pas être l’adresse de Lucarne."),
    ("short_domain_taken", "Another site uses this domain.", "Un autre site utilise ce domaine."),
    ("opt_viewer", "viewer (sees the dashboard)", "lecteur (voit le tableau de bord)"),
    ("opt_owner", "owner (also settings, members, links)", "propriétaire (aussi les réglages, les membres, les liens)"),
    ("add", "Add", "Ajouter"),
    ("bad_role", "The role is owner or viewer.", "Le rôle est propriétaire (owner) ou lecteur (viewer)."),
    ("no_account", "There is no account with this e-mail address.", "Aucun compte n’a cette adresse e-mail."),
    ("bad_member_id", "Bad member id.", "Identifiant de membre incorrect."),
    ("no_member", "No such member.", "Ce membre n’existe pas."),
    ("last_owner", "A site keeps at least one owner.", "Un site garde au moins un propriétaire."),
    // Shared links and API keys
    ("shared_links", "Shared links", "Liens de partage"),
    ("links_intro", "Anyone with a shared link sees this site's dashboard, read-only, without logging in. Revoke a link to close it.", "Toute personne qui a un lien de partage voit le tableau de bord de ce site, en lecture seule, sans se connecter. Révoquez un lien pour le fermer."),
    ("link_new", "New link — copy it now, it is shown only once:", "Nouveau lien — copiez-le maintenant, il n’est affiché qu’une seule fois\u{a0}:"),
    ("open_it", "Open it", "L’ouvrir"),
    ("no_link", "No shared link.", "Aucun lien de partage."),
    ("name", "Name", "Nom"),
    ("name_for_you", "Name (for you)", "Nom (pour vous)"),
    ("starts_with", "Starts with", "Commence par"),
    ("created", "Created", "Créé le"),
    ("state", "State", "État"),
    ("link_revoked", "revoked", "révoqué"),
    ("link_active", "active", "actif"),
    ("key_revoked", "revoked", "révoquée"),
    ("key_active", "active", "active"),
    ("revoke", "Revoke", "Révoquer"),
    ("create_link", "Create a shared link", "Créer un lien de partage"),
    ("bad_link_id", "Bad link id.", "Identifiant de lien incorrect."),
    ("no_active_link", "No such active link.", "Ce lien n’existe pas ou a déjà été révoqué."),
    ("keys_h1", "Stats API keys", "Clés de l’API de statistiques"),
    ("keys_intro", "A key reads the stats API for the sites you have a role on: ", "Une clé lit l’API de statistiques des sites sur lesquels vous avez un rôle\u{a0}: "),
    ("key_new", "New key — copy it now, it is shown only once:", "Nouvelle clé — copiez-la maintenant, elle n’est affichée qu’une seule fois\u{a0}:"),
    ("no_key", "No key yet.", "Aucune clé pour l’instant."),
    ("key_placeholder", "reporting script", "script de reporting"),
    ("create_key", "Create a key", "Créer une clé"),
    ("bad_key_id", "Bad key id.", "Identifiant de clé incorrect."),
    ("no_active_key", "No such active key.", "Cette clé n’existe pas ou a déjà été révoquée."),
];

#[cfg(test)]
mod tests {

    #[test]
    fn small_point_changes_keep_their_sign() {
        assert_eq!(Lang::En.change_pts_fine(0.05), "+0.05\u{a0}pts");
        assert_eq!(Lang::En.change_pts_fine(-0.04), "\u{2212}0.04\u{a0}pts");
        assert_eq!(Lang::En.change_pts_fine(0.0), "0.00\u{a0}pts");
        assert_eq!(Lang::En.change_pts_fine(25.0), "+25.0\u{a0}pts");
        assert_eq!(Lang::Fr.change_pts_fine(0.05), "+0,05\u{a0}pt");
    }

    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(Lang::En.int(12345), "12,345");
        assert_eq!(Lang::Fr.int(12345), "12\u{a0}345");
        assert_eq!(Lang::En.int(999), "999");
        assert_eq!(Lang::En.int(1_000_000), "1,000,000");
        assert_eq!(Lang::En.pct1(12.5), "12.5%");
        assert_eq!(Lang::Fr.pct1(12.5), "12,5\u{a0}%");
        assert_eq!(Lang::Fr.pct1(1234.0), "1\u{a0}234,0\u{a0}%");
        assert_eq!(Lang::En.change_pct(-3.4), "\u{2212}3%");
        assert_eq!(Lang::En.change_pct(0.0), "0%");
        assert_eq!(Lang::Fr.change_pts(1.25), "+1,3\u{a0}pt");
        assert_eq!(Lang::En.duration(65), "1m 05s");
        assert_eq!(Lang::Fr.duration(65), "1\u{a0}min 05\u{a0}s");
        assert_eq!(Lang::En.dec2(2.0 / 3.0), "0.67");
        assert_eq!(Lang::Fr.dec2(1234.5), "1\u{a0}234,50");
        assert_eq!(Lang::En.dec2(0.004), "0.00");
    }

    #[test]
    fn dates() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 3).unwrap();
        assert_eq!(Lang::En.date(d), "Feb 3, 2026");
        assert_eq!(Lang::Fr.date(d), "3 févr. 2026");
    }

    #[test]
    fn choosing() {
        assert_eq!(Lang::choose(Some("fr"), Some("en"), None), Lang::Fr);
        assert_eq!(Lang::choose(Some("de"), Some("fr"), None), Lang::Fr);
        assert_eq!(
            Lang::choose(None, None, Some("de-DE,fr;q=0.8,en;q=0.5")),
            Lang::Fr
        );
        assert_eq!(Lang::choose(None, None, Some("en-GB,fr;q=0.9")), Lang::En);
        assert_eq!(Lang::choose(None, None, Some("de")), Lang::En);
        assert_eq!(Lang::choose(None, None, None), Lang::En);
    }

    #[test]
    fn every_label_is_translated() {
        for (k, en, fr) in LABELS {
            assert!(!en.is_empty() && !fr.is_empty(), "{k}");
        }
    }

    #[test]
    fn every_auth_label_is_translated() {
        for (i, (k, en, fr)) in AUTH_LABELS.iter().enumerate() {
            assert!(!en.is_empty() && !fr.is_empty(), "{k}");
            assert!(
                !AUTH_LABELS[..i].iter().any(|(k2, _, _)| k2 == k),
                "duplicate {k}"
            );
        }
        assert_eq!(Lang::Fr.auth("login_button"), "Se connecter");
        assert_eq!(Lang::En.auth("no such key"), "?");
    }
}
