//! The "How did you hear about us?" survey: what the widget offers and how answers are
//! read ([`SurveyRules`], from `data/survey.toml`), and the report built from the answers
//! ([`report`]), whose heart is a calibrated estimate of the site's dark-social share.
//!
//! # Why a survey
//!
//! Tracking sees how a visit *arrived* (its measured [`ChannelGroup`]); it cannot see a
//! link pasted into a private chat and opened without a referrer, which lands in
//! `direct` or `estimated-dark` at best. A one-question survey asks a sample of visitors
//! directly. Each answer resolves to an option with a [`Route`]; `Route::Private`
//! (private messaging and e-mail) is dark social.
//!
//! # The estimator
//!
//! Respondents are not a random sample of visits: people who came from a chat may answer
//! more readily than people who came from a search. The estimate therefore never pools
//! respondents directly. It *post-stratifies* on the measured group `g`, whose share of
//! all visits `w_g` is known exactly from the site's totals:
//!
//! ```text
//! share = Σ_g w_g · p̂_g,   p̂_g = private answers in g / respondents in g
//! ```
//!
//! so an over-represented group weighs what its visits weigh, not what its answers do.
//! A group with visits but no respondents borrows the proportion pooled over all
//! respondents (an assumption the `method` text states).
//!
//! The 95 % interval comes from Monte Carlo draws of `Σ_g w_g · p_g` with each `p_g`
//! drawn from its own Jeffreys posterior `Beta(k + ½, n − k + ½)`, independently per
//! group, and the 2.5 % and 97.5 % quantiles of the draws. Jeffreys intervals keep close
//! to their nominal coverage for small groups and proportions near 0 or 1, where a
//! bootstrap collapses (a group of 6 respondents who all answered "WhatsApp" resamples
//! to 6/6 every time). A group without respondents is drawn from a deliberately vague
//! `Beta(2p̃, 2(1 − p̃))` around the pooled proportion `p̃`, so borrowing widens the
//! interval instead of hiding. Draws are per group, not per respondent, so the cost does
//! not grow with the number of answers, and a seeded generator makes the report
//! reproducible. Gamma variates (for the Beta draws) use Marsaglia and Tsang's method.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use crate::channel::{ChannelGroup, Evidence};
use crate::interval::{wilson, Z95};

/// The compiled-in survey definition.
const BUILTIN: &str = include_str!("../../../data/survey.toml");

/// The id of the catch-all option; it must exist and take free text.
const OTHER: &str = "other";

/// Free text beyond this many characters is not read by [`SurveyRules::map_text`].
const MAX_TEXT_CHARS: usize = 1000;

/// How many free texts a report lists.
const MAX_FREE_TEXTS: usize = 100;

/// Monte Carlo draws behind the estimate's interval.
const DRAWS: usize = 4000;

const METHOD: &str = "Post-stratified by measured channel group (weights: the period's \
visits per group), with a 95 % interval from 4,000 Monte Carlo draws of independent \
Jeffreys Beta posteriors, one per group.";

const METHOD_POOLED: &str = "Post-stratified by measured channel group (weights: the \
period's visits per group), groups with visits but no respondents taking the proportion \
pooled over all respondents, with a 95 % interval from 4,000 Monte Carlo draws of \
independent Jeffreys Beta posteriors per group (a vague Beta around the pooled \
proportion for groups without respondents).";

/// How a respondent says the link reached them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// A private message or an e-mail: dark social.
    Private,
    /// A public post, feed, video or broadcast.
    Public,
    /// A search engine or an AI assistant.
    Search,
    /// In person.
    Offline,
    /// Anything else.
    Other,
}

impl Route {
    pub const ALL: [Route; 5] = [
        Route::Private,
        Route::Public,
        Route::Search,
        Route::Offline,
        Route::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Route::Private => "private",
            Route::Public => "public",
            Route::Search => "search",
            Route::Offline => "offline",
            Route::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Route> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// One answer the widget can offer.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyOption {
    /// Stable id the widget sends back: `[a-z0-9-]{1,32}`.
    pub id: String,
    /// The Lucarne channel the answer stands for, `""` if none.
    pub channel: String,
    pub route: Route,
    /// The widget shows a text input with this option.
    pub free_text: bool,
    /// `(language, label)`, `en` first.
    labels: Vec<(String, String)>,
}

impl SurveyOption {
    /// The label in `lang` (`fr`, `fr-CA`, …), or the English one.
    pub fn label(&self, lang: &str) -> &str {
        let lang = primary_language(lang);
        self.labels
            .iter()
            .find(|(l, _)| *l == lang)
            .or_else(|| self.labels.iter().find(|(l, _)| l == "en"))
            .map(|(_, label)| label.as_str())
            .unwrap_or(&self.id)
    }
}

/// The widget's words in one language.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurveyText {
    pub question: String,
    pub submit: String,
    pub thanks: String,
    /// Placeholder of the free-text input.
    pub other_placeholder: String,
    /// Label of the free-text input.
    pub other_label: String,
    /// Shown when sending failed.
    pub error: String,
}

/// One keyword of a rule: whole words in a row, the last one possibly a prefix.
#[derive(Debug, Clone)]
struct Keyword {
    words: Vec<String>,
    prefix: bool,
}

impl Keyword {
    fn parse(raw: &str) -> Result<Keyword, String> {
        let trimmed = raw.trim();
        let (body, prefix) = match trimmed.strip_suffix('*') {
            Some(body) => (body, true),
            None => (trimmed, false),
        };
        if body.contains('*') {
            return Err(format!(
                "keyword `{raw}`: `*` is only allowed at the end (a prefix of the last word)"
            ));
        }
        let folded = fold(body);
        let words: Vec<String> = split_words(&folded).map(str::to_owned).collect();
        if words.is_empty() {
            return Err(format!("keyword `{raw}` has no letters or digits"));
        }
        Ok(Keyword { words, prefix })
    }

    fn matches(&self, text: &[&str]) -> bool {
        let k = self.words.len();
        if k == 0 || k > text.len() {
            return false;
        }
        text.windows(k).any(|window| {
            window
                .iter()
                .zip(&self.words)
                .enumerate()
                .all(|(j, (word, kw))| {
                    if self.prefix && j + 1 == k {
                        word.starts_with(kw.as_str())
                    } else {
                        word == kw
                    }
                })
        })
    }
}

/// Free text → option: the first rule with a matching keyword wins.
#[derive(Debug, Clone)]
struct Rule {
    option: usize,
    keywords: Vec<Keyword>,
}

/// The survey definition: options, texts per language and free-text rules.
#[derive(Debug, Clone)]
pub struct SurveyRules {
    options: Vec<SurveyOption>,
    index: HashMap<String, usize>,
    defaults: Vec<usize>,
    en: SurveyText,
    /// Languages other than English, sorted.
    texts: Vec<(String, SurveyText)>,
    rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDef {
    default_options: Vec<String>,
    text: BTreeMap<String, SurveyText>,
    #[serde(default)]
    option: Vec<OptionDef>,
    #[serde(default)]
    rule: Vec<RuleDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionDef {
    id: String,
    #[serde(default)]
    channel: String,
    route: String,
    label: BTreeMap<String, String>,
    #[serde(default)]
    free_text: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDef {
    option: String,
    keywords: Vec<String>,
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_channel(channel: &str) -> bool {
    channel.len() <= 64
        && channel
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

fn valid_language(lang: &str) -> bool {
    (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase())
}

/// `fr-CA`, `FR_ca`, ` fr ` → `fr`.
fn primary_language(lang: &str) -> String {
    lang.trim()
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// Lower-case and fold the accents of Latin letters (`É` → `e`, `œ` → `oe`); combining
/// marks are dropped.
fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().take(MAX_TEXT_CHARS) {
        for l in c.to_lowercase() {
            match l {
                'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => out.push('a'),
                'ç' | 'ć' | 'č' => out.push('c'),
                'ď' | 'đ' => out.push('d'),
                'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => out.push('e'),
                'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' => out.push('i'),
                'ł' => out.push('l'),
                'ñ' | 'ń' | 'ň' => out.push('n'),
                'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => out.push('o'),
                'ř' => out.push('r'),
                'ś' | 'š' | 'ş' => out.push('s'),
                'ť' | 'ţ' => out.push('t'),
                'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => out.push('u'),
                'ý' | 'ÿ' => out.push('y'),
                'ź' | 'ż' | 'ž' => out.push('z'),
                'œ' => out.push_str("oe"),
                'æ' => out.push_str("ae"),
                'ß' => out.push_str("ss"),
                '\u{300}'..='\u{36f}' => {}
                other => out.push(other),
            }
        }
    }
    out
}

/// The words of folded text: runs of letters and digits.
fn split_words(folded: &str) -> impl Iterator<Item = &str> {
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

impl SurveyRules {
    /// Parses and validates a survey file (the schema of `data/survey.toml`).
    pub fn parse(toml_text: &str) -> Result<SurveyRules, String> {
        let file: FileDef =
            toml::from_str(toml_text).map_err(|e| format!("invalid survey file: {e}"))?;

        let mut options = Vec::with_capacity(file.option.len());
        let mut index = HashMap::new();
        for def in file.option {
            if !valid_id(&def.id) {
                return Err(format!(
                    "option id `{}` is not 1 to 32 characters of a-z, 0-9 and `-`",
                    def.id
                ));
            }
            if index.contains_key(&def.id) {
                return Err(format!("option id `{}` is defined twice", def.id));
            }
            if !valid_channel(&def.channel) {
                return Err(format!(
                    "option `{}`: channel `{}` is not a channel key",
                    def.id, def.channel
                ));
            }
            let route = Route::parse(&def.route).ok_or_else(|| {
                format!(
                    "option `{}`: unknown route `{}` (private, public, search, offline or other)",
                    def.id, def.route
                )
            })?;
            let mut labels = Vec::with_capacity(def.label.len());
            for (lang, label) in def.label {
                if !valid_language(&lang) {
                    return Err(format!(
                        "option `{}`: label language `{lang}` is not a lower-case language code",
                        def.id
                    ));
                }
                if label.trim().is_empty() {
                    return Err(format!("option `{}`: empty `{lang}` label", def.id));
                }
                labels.push((lang, label));
            }
            let Some(en) = labels.iter().position(|(l, _)| l == "en") else {
                return Err(format!("option `{}` has no `en` label", def.id));
            };
            labels.swap(0, en);
            index.insert(def.id.clone(), options.len());
            options.push(SurveyOption {
                id: def.id,
                channel: def.channel,
                route,
                free_text: def.free_text,
                labels,
            });
        }

        match index.get(OTHER).map(|&i| &options[i]) {
            Some(other) if other.free_text => {}
            Some(_) => return Err("option `other` must have `free_text = true`".into()),
            None => return Err("an option `other` (with `free_text = true`) is required".into()),
        }

        if file.default_options.is_empty() {
            return Err("`default_options` is empty".into());
        }
        let mut defaults = Vec::with_capacity(file.default_options.len());
        for id in &file.default_options {
            let Some(&i) = index.get(id) else {
                return Err(format!("`default_options` names unknown option `{id}`"));
            };
            if defaults.contains(&i) {
                return Err(format!("`default_options` lists `{id}` twice"));
            }
            defaults.push(i);
        }

        let mut en = None;
        let mut texts = Vec::new();
        for (lang, text) in file.text {
            if !valid_language(&lang) {
                return Err(format!(
                    "[text.{lang}]: `{lang}` is not a lower-case language code"
                ));
            }
            for (key, value) in [
                ("question", &text.question),
                ("submit", &text.submit),
                ("thanks", &text.thanks),
                ("other_label", &text.other_label),
                ("error", &text.error),
            ] {
                if value.trim().is_empty() {
                    return Err(format!("[text.{lang}]: `{key}` is empty"));
                }
            }
            if lang == "en" {
                en = Some(text);
            } else {
                texts.push((lang, text));
            }
        }
        let Some(en) = en else {
            return Err("[text.en] is required (the fallback language)".into());
        };

        let mut rules = Vec::with_capacity(file.rule.len());
        for def in file.rule {
            let Some(&option) = index.get(&def.option) else {
                return Err(format!("a rule names unknown option `{}`", def.option));
            };
            if def.keywords.is_empty() {
                return Err(format!("the rule for `{}` has no keywords", def.option));
            }
            let keywords = def
                .keywords
                .iter()
                .map(|k| Keyword::parse(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("rule for `{}`: {e}", def.option))?;
            rules.push(Rule { option, keywords });
        }

        Ok(SurveyRules {
            options,
            index,
            defaults,
            en,
            texts,
            rules,
        })
    }

    /// The compiled-in definition (`data/survey.toml`), parsed once.
    pub fn builtin() -> &'static SurveyRules {
        static BUILTIN_RULES: OnceLock<SurveyRules> = OnceLock::new();
        BUILTIN_RULES.get_or_init(|| {
            SurveyRules::parse(BUILTIN)
                .unwrap_or_else(|e| panic!("built-in data file data/survey.toml: {e}"))
        })
    }

    /// The option with this exact id.
    pub fn option(&self, id: &str) -> Option<&SurveyOption> {
        self.index.get(id).map(|&i| &self.options[i])
    }

    /// Every option, in file order.
    pub fn all_options(&self) -> &[SurveyOption] {
        &self.options
    }

    /// The options a site shows: `ids` in that order (unknown ids skipped, duplicates
    /// removed; ids are trimmed and lower-cased), or the defaults when `ids` is empty or
    /// yields nothing. `other` is always last if present.
    pub fn options_for(&self, ids: &[String]) -> Vec<&SurveyOption> {
        let mut picked: Vec<usize> = Vec::with_capacity(ids.len());
        for id in ids {
            let id = id.trim().to_ascii_lowercase();
            if let Some(&i) = self.index.get(&id) {
                if !picked.contains(&i) {
                    picked.push(i);
                }
            }
        }
        if picked.is_empty() {
            picked.clone_from(&self.defaults);
        }
        let (mut shown, last): (Vec<usize>, Vec<usize>) = picked
            .into_iter()
            .partition(|&i| self.options[i].id != OTHER);
        shown.extend(last);
        shown.into_iter().map(|i| &self.options[i]).collect()
    }

    /// The widget's words in `lang` (`fr-CA` → `fr`); English for an unknown language.
    pub fn text(&self, lang: &str) -> &SurveyText {
        let lang = primary_language(lang);
        self.texts
            .iter()
            .find(|(l, _)| *l == lang)
            .map(|(_, t)| t)
            .unwrap_or(&self.en)
    }

    /// The languages with their own texts, `en` first.
    pub fn languages(&self) -> Vec<&str> {
        std::iter::once("en")
            .chain(self.texts.iter().map(|(l, _)| l.as_str()))
            .collect()
    }

    /// Free text → the option its first matching keyword rule names. Case, accents
    /// and punctuation do not matter; keywords match whole words. Only the first 1,000
    /// characters are read.
    pub fn map_text(&self, text: &str) -> Option<&SurveyOption> {
        let folded = fold(text);
        let words: Vec<&str> = split_words(&folded).collect();
        if words.is_empty() {
            return None;
        }
        self.rules
            .iter()
            .find(|rule| rule.keywords.iter().any(|k| k.matches(&words)))
            .map(|rule| &self.options[rule.option])
    }

    /// What an answer stands for: the chosen option; but a free-text option (`other`)
    /// whose text maps to an option resolves to that option. `None` for an unknown id.
    pub fn resolve(&self, answer: &str, text: &str) -> Option<&SurveyOption> {
        let chosen = self.option(answer)?;
        if chosen.free_text {
            if let Some(mapped) = self.map_text(text) {
                return Some(mapped);
            }
        }
        Some(chosen)
    }
}

/// One stored answer (first answer of a visit), with the visit's measured classification.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The option id the widget sent.
    pub answer: String,
    /// Free text typed with it (`""` if none).
    pub text: String,
    pub channel_group: ChannelGroup,
    pub channel: String,
    pub evidence: Evidence,
}

/// Answers per (reported option, measured group).
#[derive(Debug, Clone, PartialEq)]
pub struct MatrixCell {
    /// The resolved option id, or the raw answer if it is not a known option.
    pub reported: String,
    pub measured: ChannelGroup,
    pub count: u64,
}

/// The survey's view of one measured channel group.
#[derive(Debug, Clone, PartialEq)]
pub struct StratumShare {
    pub measured: ChannelGroup,
    /// The site's visits in that group.
    pub visits: u64,
    /// Respondents in that group whose answer resolves to a known option.
    pub respondents: u64,
    /// Of those, the ones whose answer resolves to a private route.
    pub private: u64,
    /// `private / respondents` (0 without respondents).
    pub share: f64,
    /// Wilson 95 % interval of `share` ((0, 1) without respondents).
    pub low: f64,
    pub high: f64,
}

/// The site's dark-social share as the survey calibrates it.
#[derive(Debug, Clone, PartialEq)]
pub struct DarkEstimate {
    /// Estimated share of all visits that came through a private route.
    pub share: f64,
    /// 95 % interval.
    pub low: f64,
    pub high: f64,
    /// Share of visits in the private-message and email groups: what tracking alone
    /// identifies.
    pub measured_share: f64,
    /// Respondents the estimate rests on (answers resolving to a known option).
    pub respondents: u64,
    /// One sentence naming the method.
    pub method: &'static str,
}

/// Everything the survey says for one site and period.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyReport {
    /// All answers, known or not.
    pub respondents: u64,
    /// Most frequent cell first.
    pub matrix: Vec<MatrixCell>,
    /// Answers per reported option (resolved id or raw answer), most frequent first.
    pub by_reported: Vec<(String, u64)>,
    /// Every channel group with visits or answers, in [`ChannelGroup::ALL`] order.
    pub strata: Vec<StratumShare>,
    /// `None` with no respondents or no visits.
    pub estimate: Option<DarkEstimate>,
    /// (text lower-cased, trimmed and with runs of white space made one space, the
    /// option it maps to, count), most frequent first, at most 100.
    pub free_texts: Vec<(String, Option<String>, u64)>,
}

const GROUPS: usize = ChannelGroup::ALL.len();

fn slot(group: ChannelGroup) -> Option<usize> {
    ChannelGroup::ALL.iter().position(|&g| g == group)
}

/// Builds the survey report. `visits_by_group`: the site's visits per measured channel
/// group in the period (the weights; repeated groups add up). `seed` drives the Monte
/// Carlo interval: the same inputs and seed give the same report.
pub fn report(
    responses: &[Response],
    visits_by_group: &[(ChannelGroup, u64)],
    rules: &SurveyRules,
    seed: u64,
) -> SurveyReport {
    let mut visits = [0u64; GROUPS];
    for &(group, n) in visits_by_group {
        if let Some(i) = slot(group) {
            visits[i] = visits[i].saturating_add(n);
        }
    }

    // Aggregate first: the distinct (answer, text, group) triples are few.
    let mut distinct: HashMap<(&str, &str, ChannelGroup), u64> = HashMap::new();
    for r in responses {
        *distinct
            .entry((r.answer.as_str(), r.text.as_str(), r.channel_group))
            .or_insert(0) += 1;
    }

    let mut answered = [0u64; GROUPS];
    let mut known = [0u64; GROUPS];
    let mut private = [0u64; GROUPS];
    let mut cells: HashMap<(String, ChannelGroup), u64> = HashMap::new();
    let mut texts: HashMap<String, u64> = HashMap::new();
    for (&(answer, text, group), &count) in &distinct {
        let resolved = rules.resolve(answer, text);
        let reported = resolved.map_or(answer, |o| o.id.as_str());
        *cells.entry((reported.to_owned(), group)).or_insert(0) += count;
        if let Some(i) = slot(group) {
            answered[i] += count;
            if let Some(option) = resolved {
                known[i] += count;
                if option.route == Route::Private {
                    private[i] += count;
                }
            }
        }
        let key = text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        if !key.is_empty() {
            *texts.entry(key).or_insert(0) += count;
        }
    }

    let mut matrix: Vec<MatrixCell> = cells
        .into_iter()
        .map(|((reported, measured), count)| MatrixCell {
            reported,
            measured,
            count,
        })
        .collect();
    matrix.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.reported.cmp(&b.reported))
            .then_with(|| a.measured.cmp(&b.measured))
    });

    let mut reported_totals: HashMap<&str, u64> = HashMap::new();
    for cell in &matrix {
        *reported_totals.entry(cell.reported.as_str()).or_insert(0) += cell.count;
    }
    let mut by_reported: Vec<(String, u64)> = reported_totals
        .into_iter()
        .map(|(id, n)| (id.to_owned(), n))
        .collect();
    by_reported.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

    let strata: Vec<StratumShare> = ChannelGroup::ALL
        .iter()
        .enumerate()
        .filter(|&(i, _)| visits[i] > 0 || answered[i] > 0)
        .map(|(i, &measured)| {
            let (low, high) = wilson(private[i], known[i], Z95);
            StratumShare {
                measured,
                visits: visits[i],
                respondents: known[i],
                private: private[i],
                share: ratio(private[i], known[i]),
                low,
                high,
            }
        })
        .collect();

    let mut free_texts: Vec<(String, Option<String>, u64)> = texts
        .into_iter()
        .map(|(text, n)| {
            let mapped = rules.map_text(&text).map(|o| o.id.clone());
            (text, mapped, n)
        })
        .collect();
    free_texts.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    free_texts.truncate(MAX_FREE_TEXTS);

    SurveyReport {
        respondents: responses.len() as u64,
        matrix,
        by_reported,
        strata,
        estimate: estimate(&visits, &known, &private, seed),
        free_texts,
    }
}

fn ratio(k: u64, n: u64) -> f64 {
    if n == 0 {
        0.0
    } else {
        k as f64 / n as f64
    }
}

/// The post-stratified estimate and its Monte Carlo interval (see the module docs).
fn estimate(
    visits: &[u64; GROUPS],
    known: &[u64; GROUPS],
    private: &[u64; GROUPS],
    seed: u64,
) -> Option<DarkEstimate> {
    let total_visits: u64 = visits.iter().sum();
    let respondents: u64 = known.iter().sum();
    if total_visits == 0 || respondents == 0 {
        return None;
    }
    let total_private: u64 = private.iter().sum();
    let pooled = ratio(total_private, respondents);
    // Jeffreys posterior mean of the pooled proportion: strictly inside (0, 1).
    let pooled_centre = (total_private as f64 + 0.5) / (respondents as f64 + 1.0);

    // (weight, point proportion, Beta a, Beta b) per group with visits.
    let mut strata: Vec<(f64, f64, f64, f64)> = Vec::with_capacity(GROUPS);
    let mut borrowed = false;
    let mut measured = 0u64;
    for (i, group) in ChannelGroup::ALL.iter().enumerate() {
        if visits[i] == 0 {
            continue;
        }
        if group.is_identified_dark() {
            measured += visits[i];
        }
        let w = visits[i] as f64 / total_visits as f64;
        if known[i] > 0 {
            let (k, n) = (private[i] as f64, known[i] as f64);
            strata.push((w, k / n, k + 0.5, n - k + 0.5));
        } else {
            borrowed = true;
            strata.push((w, pooled, 2.0 * pooled_centre, 2.0 * (1.0 - pooled_centre)));
        }
    }
    let share: f64 = strata.iter().map(|&(w, p, _, _)| w * p).sum();

    let mut rng = StdRng::seed_from_u64(seed);
    let mut draws: Vec<f64> = (0..DRAWS)
        .map(|_| {
            strata
                .iter()
                .map(|&(w, _, a, b)| w * beta(&mut rng, a, b))
                .sum()
        })
        .collect();
    draws.sort_by(f64::total_cmp);
    let low = quantile(&draws, 0.025).min(share).max(0.0);
    let high = quantile(&draws, 0.975).max(share).min(1.0);

    Some(DarkEstimate {
        share,
        low,
        high,
        measured_share: measured as f64 / total_visits as f64,
        respondents,
        method: if borrowed { METHOD_POOLED } else { METHOD },
    })
}

/// The `q` quantile of sorted values, interpolating between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let below = pos.floor() as usize;
            let above = (below + 1).min(n - 1);
            let frac = pos - below as f64;
            sorted[below] + (sorted[above] - sorted[below]) * frac
        }
    }
}

/// A standard normal variate (Marsaglia's polar method).
fn standard_normal(rng: &mut StdRng) -> f64 {
    loop {
        let u = 2.0 * rng.random::<f64>() - 1.0;
        let v = 2.0 * rng.random::<f64>() - 1.0;
        let s = u * u + v * v;
        if s > 0.0 && s < 1.0 {
            return u * (-2.0 * s.ln() / s).sqrt();
        }
    }
}

/// A Gamma(`shape`, 1) variate, `shape > 0`: Marsaglia and Tsang (2000), with the
/// `U^(1/shape)` boost for shapes below 1.
fn gamma(rng: &mut StdRng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.random::<f64>(); // (0, 1]
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = standard_normal(rng);
        let v = 1.0 + c * x;
        if v <= 0.0 {
            continue;
        }
        let v = v * v * v;
        let u = rng.random::<f64>();
        if u < 1.0 - 0.0331 * x.powi(4) {
            return d * v;
        }
        if u > 0.0 && u.ln() < 0.5 * x * x + d * (1.0 - v + v.ln()) {
            return d * v;
        }
    }
}

/// A Beta(`a`, `b`) variate from two Gamma variates.
fn beta(rng: &mut StdRng, a: f64, b: f64) -> f64 {
    let x = gamma(rng, a);
    let y = gamma(rng, b);
    let s = x + y;
    if s > 0.0 && s.is_finite() {
        x / s
    } else {
        a / (a + b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_survey_parses() {
        let rules = SurveyRules::builtin();
        for id in [
            "whatsapp",
            "messenger",
            "telegram",
            "signal",
            "sms",
            "email",
            "slack",
            "friend",
            "facebook",
            "instagram",
            "tiktok",
            "linkedin",
            "x",
            "youtube",
            "search",
            "other",
        ] {
            assert!(rules.option(id).is_some(), "missing option {id}");
        }
        let private: Vec<&str> = rules
            .all_options()
            .iter()
            .filter(|o| o.route == Route::Private)
            .map(|o| o.id.as_str())
            .collect();
        assert_eq!(
            private,
            [
                "whatsapp",
                "messenger",
                "telegram",
                "signal",
                "sms",
                "email",
                "slack"
            ]
        );
        assert_eq!(
            rules.option("friend").map(|o| o.route),
            Some(Route::Offline)
        );
        assert_eq!(rules.languages(), ["en", "fr"]);
        // Every option's channel is a built-in channel (or none).
        let channels = crate::rules::Rules::builtin();
        for o in rules.all_options() {
            if !o.channel.is_empty() {
                assert!(
                    channels.channel_info(&o.channel).is_some(),
                    "option {} names unknown channel {}",
                    o.id,
                    o.channel
                );
            }
            assert!(!o.label("fr").is_empty());
        }
    }

    #[test]
    fn folding_and_words() {
        assert_eq!(fold("Collègue À L'ŒUVRE"), "collegue a l'oeuvre");
        assert_eq!(fold("colle\u{301}gue"), "collegue");
        let folded = fold("Un ami m'a envoyé ça (WhatsApp).");
        let words: Vec<&str> = split_words(&folded).collect();
        assert_eq!(words, ["un", "ami", "m", "a", "envoye", "ca", "whatsapp"]);
    }

    #[test]
    fn keywords_match_whole_words_and_prefixes() {
        let k = Keyword::parse("news letter*").unwrap();
        assert!(k.matches(&["the", "news", "letters"]));
        assert!(!k.matches(&["news"]));
        assert!(!k.matches(&["good", "news", "today"]));
        let k = Keyword::parse("wa").unwrap();
        assert!(k.matches(&["on", "wa"]));
        assert!(!k.matches(&["software"]));
        assert!(Keyword::parse("a*b").is_err());
        assert!(Keyword::parse(" *").is_err());
    }

    #[test]
    fn route_names_round_trip() {
        for r in Route::ALL {
            assert_eq!(Route::parse(r.as_str()), Some(r));
        }
        assert_eq!(Route::parse("dark"), None);
    }

    #[test]
    fn gamma_and_beta_moments() {
        let mut rng = StdRng::seed_from_u64(7);
        for shape in [0.5, 1.0, 3.5, 40.0] {
            let n = 20_000;
            let xs: Vec<f64> = (0..n).map(|_| gamma(&mut rng, shape)).collect();
            let mean = xs.iter().sum::<f64>() / n as f64;
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
            // Gamma(k, 1): mean k, variance k.
            assert!(
                (mean - shape).abs() < 0.05 * shape.max(1.0),
                "{shape}: {mean}"
            );
            assert!((var - shape).abs() < 0.1 * shape.max(1.0), "{shape}: {var}");
        }
        let (a, b) = (2.5, 7.5);
        let n = 20_000;
        let xs: Vec<f64> = (0..n).map(|_| beta(&mut rng, a, b)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        let expected_var = a * b / ((a + b) * (a + b) * (a + b + 1.0));
        assert!((mean - 0.25).abs() < 0.005, "{mean}");
        assert!((var - expected_var).abs() < 0.1 * expected_var, "{var}");
    }

    #[test]
    fn quantiles_interpolate() {
        let v = [0.0, 1.0, 2.0, 3.0, 4.0];
        assert_eq!(quantile(&v, 0.5), 2.0);
        assert_eq!(quantile(&v, 0.125), 0.5);
        assert_eq!(quantile(&v, 1.0), 4.0);
        assert_eq!(quantile(&[3.0], 0.9), 3.0);
    }

    #[test]
    fn one_stratum_matches_the_jeffreys_interval() {
        // 12 of 40 respondents private, all visits in one group: the estimate is the
        // group's proportion and its interval the Jeffreys interval for 12/40,
        // (0.1756, 0.4522) (Beta(12.5, 28.5) quantiles).
        let mut visits = [0u64; GROUPS];
        let mut known = [0u64; GROUPS];
        let mut private = [0u64; GROUPS];
        visits[0] = 500;
        known[0] = 40;
        private[0] = 12;
        let e = estimate(&visits, &known, &private, 3).unwrap();
        assert!((e.share - 0.3).abs() < 1e-12);
        assert!((e.low - 0.1756).abs() < 0.01, "{}", e.low);
        assert!((e.high - 0.4522).abs() < 0.01, "{}", e.high);
        assert_eq!(e.method, METHOD);
        assert_eq!(e.measured_share, 1.0);
    }
}
