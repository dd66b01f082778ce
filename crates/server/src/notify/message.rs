//! The words of notifications in English and French, and the e-mail both parts are
//! built from: a plain-text part and an HTML part (maud, escaped) with no image, no
//! remote resource and no tracking; an unsubscribe link at the foot of both.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::outbox::Email;

/// A label in `locale` (`fr`, else English).
pub fn t(locale: &str, key: &str) -> &'static str {
    let fr = locale == "fr";
    let pair = LABELS.iter().find(|(k, _, _)| *k == key);
    match pair {
        Some((_, en, f)) => {
            if fr {
                f
            } else {
                en
            }
        }
        None => "?",
    }
}

const LABELS: &[(&str, &str, &str)] = &[
    ("weekly_subject", "{site}: your week ({from} – {to})", "{site} : votre semaine ({from} – {to})"),
    ("monthly_subject", "{site}: your month ({from} – {to})", "{site} : votre mois ({from} – {to})"),
    ("weekly_title", "The week on {site}", "La semaine sur {site}"),
    ("monthly_title", "The month on {site}", "Le mois sur {site}"),
    ("dark_share", "Dark social: {share} of visits ({change} points against the period before)", "Dark social : {share} des visites ({change} points par rapport à la période précédente)"),
    ("dark_parts", "{ident} private channels and e-mail, {est} estimated dark", "{ident} canaux privés et e-mail, {est} dark estimé"),
    ("totals", "{visitors} visitors, {visits} visits, {pageviews} pageviews", "{visitors} visiteurs, {visits} visites, {pageviews} pages vues"),
    ("top_pages", "Pages most arrived at in private", "Pages les plus atteintes en privé"),
    ("page_line", "{page}: {dark} private arrivals of {visits} visits", "{page} : {dark} arrivées privées sur {visits} visites"),
    ("top_channels", "Top channels", "Principaux canaux"),
    ("channel_line", "{channel}: {visits} visits", "{channel} : {visits} visites"),
    ("cascades", "Largest share cascades", "Plus grandes cascades de partage"),
    ("cascade_line", "{page}: {size} visits from shares, {depth} generations deep", "{page} : {size} visites issues de partages, sur {depth} générations"),
    ("conversions", "Conversions", "Conversions"),
    ("goal_line", "{goal}: {conversions} conversions, {rate} of visits converted", "{goal} : {conversions} conversions, {rate} des visites converties"),
    ("goal_revenue", "{goal}: {revenue} of revenue", "{goal} : {revenue} de chiffre d’affaires"),
    ("uplift", "Private arrivals converted at {private}, public social at {public} ({diff} points{sig})", "Les arrivées privées ont converti à {private}, les réseaux publics à {public} ({diff} points{sig})"),
    ("significant", ", significant", ", significatif"),
    ("nothing", "Nothing yet.", "Rien pour l’instant."),
    ("open", "Open the dashboard", "Ouvrir le tableau de bord"),
    ("unsubscribe", "Stop these e-mails", "Ne plus recevoir ces e-mails"),
    ("why", "You receive this because you subscribed to {site} in Lucarne.", "Vous recevez ceci car vous êtes abonné·e à {site} dans Lucarne."),
    ("viral_subject", "{site}: {page} is travelling in private", "{site} : {page} circule en privé"),
    ("viral_line", "{page} had {arrivals} private arrivals in the last hour ({dark} visits from private apps, e-mail or no referrer, {shared} other visits through share links, {previews} link previews), against {baseline} in a usual hour.", "{page} a eu {arrivals} arrivées privées dans la dernière heure ({dark} visites depuis des messageries, l’e-mail ou sans référent, {shared} autres visites par des liens partagés, {previews} aperçus de lien), contre {baseline} en une heure habituelle."),
    ("viral_apps", "Apps: {apps}", "Applications : {apps}"),
    ("viral_depth", "Share cascade so far: {depth} generations", "Cascade de partage jusqu’ici : {depth} générations"),
    ("spike_subject", "{site}: traffic spike", "{site} : pic de trafic"),
    ("spike_line", "{visitors} visitors in the last hour, against {baseline} at this hour on a usual day.", "{visitors} visiteurs dans la dernière heure, contre {baseline} à cette heure un jour habituel."),
];

/// `{name}` replaced by values.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut s = template.to_string();
    for (k, v) in values {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// A number with a thin grouping (English `12,345`, French `12 345`).
pub fn int(locale: &str, n: u64) -> String {
    let digits = n.to_string();
    let sep = if locale == "fr" { "\u{202f}" } else { "," };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push_str(sep);
        }
        out.push(c);
    }
    out
}

/// A percentage with one decimal (`12.5%`, `12,5 %`).
pub fn pct(locale: &str, x: f64) -> String {
    if locale == "fr" {
        format!("{:.1}\u{a0}%", x).replace('.', ",")
    } else {
        format!("{x:.1}%")
    }
}

/// A signed change in points (`+2.5`, `−1,0`).
pub fn points(locale: &str, x: f64) -> String {
    let s = format!("{}{:.1}", if x >= 0.0 { "+" } else { "−" }, x.abs());
    if locale == "fr" {
        s.replace('.', ",")
    } else {
        s
    }
}

/// An amount in major units with two decimals and its currency (`1,234.50 EUR`,
/// `1 234,50 EUR`).
pub fn money(locale: &str, x: f64, currency: &str) -> String {
    let cents = (x.abs() * 100.0).round() as u64;
    let sign = if x < 0.0 { "−" } else { "" };
    let dec = if locale == "fr" { ',' } else { '.' };
    format!(
        "{sign}{}{dec}{:02} {currency}",
        int(locale, cents / 100),
        cents % 100
    )
}

/// One section of a message: a heading and its lines.
pub struct Section {
    pub heading: String,
    pub lines: Vec<String>,
}

/// What an e-mail says: a title, an intro, sections and the links at its foot.
pub struct Letter<'a> {
    pub locale: &'a str,
    pub subject: String,
    pub title: &'a str,
    pub intro: &'a [String],
    pub sections: &'a [Section],
    pub dashboard: &'a str,
    pub site: &'a str,
    pub unsubscribe: Option<&'a str>,
}

/// The e-mail of a letter: both parts.
pub fn email(letter: Letter<'_>) -> Email {
    let Letter {
        locale,
        subject,
        title,
        intro,
        sections,
        dashboard,
        site,
        unsubscribe,
    } = letter;
    let mut text = format!("{title}\n\n");
    for l in intro {
        text.push_str(l);
        text.push('\n');
    }
    for s in sections {
        text.push_str(&format!("\n{}\n", s.heading));
        if s.lines.is_empty() {
            text.push_str(&format!("  {}\n", t(locale, "nothing")));
        }
        for l in &s.lines {
            text.push_str(&format!("  - {l}\n"));
        }
    }
    text.push_str(&format!("\n{}: {dashboard}\n", t(locale, "open")));
    let why = fill(t(locale, "why"), &[("site", site)]);
    text.push_str(&format!("\n--\n{why}\n"));
    if let Some(u) = unsubscribe {
        text.push_str(&format!("{}: {u}\n", t(locale, "unsubscribe")));
    }
    let body: Markup = html! {
        (DOCTYPE)
        html lang=(if locale == "fr" { "fr" } else { "en" }) {
            head { meta charset="utf-8"; title { (subject) } }
            body {
                h1 { (title) }
                @for l in intro { p { (l) } }
                @for s in sections {
                    h2 { (s.heading) }
                    @if s.lines.is_empty() { p { (t(locale, "nothing")) } }
                    @else { ul { @for l in &s.lines { li { (l) } } } }
                }
                p { a href=(dashboard) { (t(locale, "open")) } }
                hr;
                p { small { (why) (PreEscaped(" ")) @if let Some(u) = unsubscribe { a href=(u) { (t(locale, "unsubscribe")) } } } }
            }
        }
    };
    Email {
        subject,
        text,
        html: body.into_string(),
        unsubscribe: unsubscribe.map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_numbers_and_an_email_without_remote_parts() {
        assert_eq!(int("en", 1234567), "1,234,567");
        assert_eq!(int("fr", 1234), "1\u{202f}234");
        assert_eq!(pct("fr", 12.25), "12,2\u{a0}%");
        assert_eq!(points("en", -1.0), "−1.0");
        assert_eq!(money("en", 1234.5, "EUR"), "1,234.50 EUR");
        assert_eq!(money("fr", 19.9, "EUR"), "19,90 EUR");
        assert_eq!(money("en", -0.05, "USD"), "−0.05 USD");
        // Both languages fill the same placeholders.
        let names = |s: &str| {
            let mut v: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split('}').next().map(str::to_string))
                .collect();
            v.sort();
            v
        };
        for (k, en, fr) in LABELS {
            assert!(!en.is_empty() && !fr.is_empty(), "{k}");
            assert_eq!(names(en), names(fr), "{k}");
            assert_eq!(t("fr", k), *fr);
            assert_eq!(t("de", k), *en);
        }
        let e = email(Letter {
            locale: "en",
            subject: "s".into(),
            title: "T <b>",
            intro: &["intro".into()],
            sections: &[Section {
                heading: "H".into(),
                lines: vec!["/a<script>".into()],
            }],
            dashboard: "https://stats.example.com/sites/a.example",
            site: "a.example",
            unsubscribe: Some("https://stats.example.com/unsubscribe/u1"),
        });
        assert!(e.html.contains("/a&lt;script&gt;") && !e.html.contains("<script"));
        assert!(!e.html.contains("<img") && !e.html.contains("src="));
        assert!(e.text.contains("  - /a<script>"));
        assert!(e
            .text
            .contains("Stop these e-mails: https://stats.example.com/unsubscribe/u1"));
    }
}
