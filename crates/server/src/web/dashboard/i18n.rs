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
    ("identified", "Private channels + e-mail", "Messageries privées + e-mail"),
    ("estimated", "Estimated dark", "Dark estimé"),
    ("of_visits", "of visits", "des visites"),
    ("vs_previous", "vs previous period", "par rapport à la période précédente"),
    ("compare", "Compare with previous period", "Comparer à la période précédente"),
    ("compare_off", "Stop comparing", "Ne plus comparer"),
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
];

#[cfg(test)]
mod tests {
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
}
