//! Classification tables loaded from the data files in `data/` (compiled in) and
//! extendable from configuration.
//!
//! Every table is data, not code: the classifier ([`crate::classify`]) and the user-agent
//! tests ([`crate::useragent`]) only ask [`Rules`] questions. All files share one TOML
//! schema, so a configuration file may hold any of these sections:
//!
//! | section | file | what it says |
//! |---|---|---|
//! | `[channels]` | `channels.toml` | each channel's group and display name |
//! | `[[referrer]]` | `referrers.toml` | referring hosts and Android apps → channel |
//! | `[[in_app]]` | `in_app.toml` | in-app browser user-agent markers → channel |
//! | `[[preview_fetcher]]` | `preview_fetchers.toml` | link-preview fetchers → channel |
//! | `[bots]` | `bots.toml` | bot user-agent substrings |
//! | `[spam_referrers]` | `spam_referrers.toml` | referrer-spam hosts |
//! | `[utm]`, `[click_ids]` | `utm.toml` | campaign tags and click ids |
//!
//! The share widget's buttons (`[[share_button]]`, `share_buttons.toml`: id, channel,
//! private or public) use the same format but are compiled in only ([`ShareButtons`]):
//! `web/share.js` draws exactly those.
//!
//! Host lookups are hash lookups on the host and each of its parent domains (most
//! specific first); `name.*` entries match `name` under any top-level or country domain.
//! User-agent lists are ordered and the first match wins.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserialize;

use crate::channel::{Channel, ChannelGroup};
use crate::url_clean::{normalise_host, ClickId};

/// The compiled-in data files, in load order (channels first: the others refer to them).
const BUILTIN_FILES: [(&str, &str); 7] = [
    ("channels.toml", include_str!("../../../data/channels.toml")),
    (
        "referrers.toml",
        include_str!("../../../data/referrers.toml"),
    ),
    ("in_app.toml", include_str!("../../../data/in_app.toml")),
    (
        "preview_fetchers.toml",
        include_str!("../../../data/preview_fetchers.toml"),
    ),
    ("bots.toml", include_str!("../../../data/bots.toml")),
    (
        "spam_referrers.toml",
        include_str!("../../../data/spam_referrers.toml"),
    ),
    ("utm.toml", include_str!("../../../data/utm.toml")),
];

/// Second-level labels under which a country domain sells names (`google.co.uk`,
/// `google.com.br`, `yandex.com.tr`): used by `name.*` host entries.
const SECOND_LEVEL_LABELS: [&str; 12] = [
    "co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "go", "gob", "nic",
];

/// Why a rules file was refused.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("invalid rules file: {0}")]
    Toml(#[from] toml::de::Error),
    #[error(
        "unknown channel `{channel}` in {section}: define it under [channels] or give a group"
    )]
    UnknownChannel {
        section: &'static str,
        channel: String,
    },
    #[error("unknown channel group `{0}`")]
    UnknownGroup(String),
    #[error("invalid pattern `{pattern}` in {section}: {error}")]
    Pattern {
        section: &'static str,
        pattern: String,
        error: regex::Error,
    },
    #[error("{section} entry for `{channel}` has neither `contains` nor `pattern`")]
    NoMarker {
        section: &'static str,
        channel: String,
    },
    #[error("a [[referrer]] entry needs a channel, a group, or both")]
    NoTarget,
    #[error("invalid host `{0}`")]
    InvalidHost(String),
    #[error("unknown click id parameter `{0}`")]
    UnknownClickId(String),
    #[error("share button `{0}` is listed twice, or there are more than 250 buttons")]
    ShareButton(String),
}

/// The compiled-in share buttons.
const SHARE_BUTTONS_FILE: &str = include_str!("../../../data/share_buttons.toml");

/// A button of the share widget, from `data/share_buttons.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShareButton {
    /// What a `share` event's `props.channel` says (`whatsapp`, `copy`…).
    pub id: String,
    /// The classifier channel of the app the button opens; none for `copy`, `native`.
    #[serde(default)]
    pub channel: Option<String>,
    /// The link travels privately (no referrer reveals where it went).
    pub private: bool,
}

/// The share widget's buttons, in file order (a button's position is its compact code in
/// the token index, so at most 250).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareButtons {
    buttons: Vec<ShareButton>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShareButtonsFile {
    share_button: Vec<ShareButton>,
}

impl ShareButtons {
    /// Parse a `[[share_button]]` file; every named channel must be one `rules` defines.
    pub fn parse(text: &str, rules: &Rules) -> Result<ShareButtons, RulesError> {
        let file: ShareButtonsFile = toml::from_str(text)?;
        let mut seen = HashSet::new();
        for b in &file.share_button {
            if !seen.insert(b.id.as_str()) || file.share_button.len() > 250 {
                return Err(RulesError::ShareButton(b.id.clone()));
            }
            if let Some(c) = &b.channel {
                rules.known_channel("[[share_button]]", c)?;
            }
        }
        Ok(ShareButtons {
            buttons: file.share_button,
        })
    }

    /// The compiled-in buttons (`data/share_buttons.toml`), parsed once.
    ///
    /// # Panics
    /// Only if the compiled-in file is invalid, which the tests rule out.
    pub fn builtin() -> &'static ShareButtons {
        static BUILTIN: OnceLock<ShareButtons> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            ShareButtons::parse(SHARE_BUTTONS_FILE, &Rules::builtin()).unwrap_or_else(|e| {
                panic!("built-in data file data/share_buttons.toml is invalid: {e}")
            })
        })
    }

    /// Every button, in file order.
    pub fn all(&self) -> &[ShareButton] {
        &self.buttons
    }

    /// The button with this id.
    pub fn get(&self, id: &str) -> Option<&ShareButton> {
        self.buttons.iter().find(|b| b.id == id)
    }

    /// The button's position in [`ShareButtons::all`].
    pub fn position(&self, id: &str) -> Option<usize> {
        self.buttons.iter().position(|b| b.id == id)
    }

    /// Is `id` a button that posts the link publicly?
    pub fn is_public(&self, id: &str) -> bool {
        self.get(id).is_some_and(|b| !b.private)
    }

    /// Is `id` a button that sends the link privately?
    pub fn is_private(&self, id: &str) -> bool {
        self.get(id).is_some_and(|b| b.private)
    }
}

/// A channel's group and display name, from `[channels]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelInfo {
    pub group: ChannelGroup,
    /// Display name (`WhatsApp`, `Hacker News`), used as the visit's source.
    pub name: String,
}

/// What a table entry points to. Resolved against `[channels]` at lookup time, so a
/// configuration that redefines a channel changes every entry pointing to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    /// `None`: the matched host itself is the channel (plain referral).
    channel: Option<String>,
    group: Option<ChannelGroup>,
    source: Option<String>,
}

/// A resolved table hit: channel, group and display source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    pub channel: Channel,
    pub group: ChannelGroup,
    pub source: String,
}

/// One entry of an ordered user-agent list.
#[derive(Debug, Clone)]
struct UaRule {
    contains: Vec<String>,
    pattern: Option<Regex>,
    target: Target,
}

impl UaRule {
    fn matches(&self, ua: &str) -> bool {
        self.contains.iter().any(|m| ua.contains(m.as_str()))
            || self.pattern.as_ref().is_some_and(|p| p.is_match(ua))
    }
}

/// The UTM tables of `utm.toml`.
#[derive(Debug, Clone, Default)]
pub(crate) struct UtmRules {
    paid_medium_patterns: Vec<Regex>,
    email_words: Vec<String>,
    social_mediums: HashSet<String>,
    search_mediums: HashSet<String>,
    /// Channel → the channel of its paid clicks (`google` → `google-ads`).
    paid_channels: HashMap<String, String>,
    /// Normalised alias → channel.
    names: HashMap<String, String>,
    /// Normalised channel key → channel key (`hackernews` → `hacker-news`).
    channel_words: HashMap<String, String>,
}

/// All tables the classifier, the bot filter and the preview detector consult.
///
/// Build it with [`Rules::builtin`] and add configuration with
/// [`Rules::extend_from_toml`]. `Rules::default()` is empty: it classifies everything by
/// referrer host alone and knows no bot.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    channels: HashMap<String, ChannelInfo>,
    /// Exact domain → target; a domain also covers its subdomains.
    hosts: HashMap<String, Target>,
    /// `name` of a `name.*` entry → target.
    host_wildcards: HashMap<String, Target>,
    /// Lower-cased Android package → target.
    android_apps: HashMap<String, Target>,
    in_app: Vec<UaRule>,
    preview_fetchers: Vec<UaRule>,
    /// Lower-cased bot substrings, and one case-insensitive matcher built from them.
    bot_tokens: Vec<String>,
    bot_matcher: Option<Regex>,
    spam_referrers: HashSet<String>,
    utm: UtmRules,
    click_ids: HashMap<ClickId, Target>,
}

impl Rules {
    /// The built-in tables from `data/*.toml`.
    ///
    /// # Panics
    /// Only if a compiled-in data file is invalid, which the tests rule out.
    pub fn builtin() -> Self {
        let mut rules = Rules::default();
        for (name, text) in BUILTIN_FILES {
            if let Err(e) = rules.extend_from_toml(text) {
                panic!("built-in data file data/{name} is invalid: {e}");
            }
        }
        rules
    }

    /// Add the entries of a rules file (any of the sections of the data files) to these
    /// tables. Added entries win over existing ones: map entries are replaced, and
    /// user-agent entries are tried before the existing ones. On error nothing changes.
    pub fn extend_from_toml(&mut self, text: &str) -> Result<(), RulesError> {
        let file: RulesFile = toml::from_str(text)?;
        let mut next = self.clone();
        next.apply(file)?;
        *self = next;
        Ok(())
    }

    /// The group and display name of a channel, when `[channels]` defines it.
    pub fn channel_info(&self, channel: &str) -> Option<&ChannelInfo> {
        self.channels.get(channel)
    }

    /// Every channel defined in `[channels]`, sorted by key.
    pub fn channels(&self) -> Vec<(&str, &ChannelInfo)> {
        let mut all: Vec<_> = self.channels.iter().map(|(k, v)| (k.as_str(), v)).collect();
        all.sort_by(|a, b| a.0.cmp(b.0));
        all
    }

    // ----------------------------------------------------------------- lookups --

    /// The referrer entry for a normalised web host (most specific domain first), or
    /// `None` for an unknown host.
    pub(crate) fn referrer_host(&self, host: &str) -> Option<Hit> {
        let (target, matched) = self.lookup_host(host)?;
        Some(self.resolve(target, Some(matched)))
    }

    /// The referrer entry for an Android package (`com.google.android.gm`).
    pub(crate) fn android_app(&self, package: &str) -> Option<Hit> {
        let target = self.android_apps.get(&package.to_ascii_lowercase())?;
        Some(self.resolve(target, Some(package)))
    }

    /// The app whose in-app browser sent this user agent.
    pub(crate) fn in_app_browser(&self, ua: &str) -> Option<Hit> {
        let rule = self.in_app.iter().find(|r| r.matches(ua))?;
        Some(self.resolve(&rule.target, None))
    }

    /// The app whose link-preview fetcher sent this user agent (its channel key).
    pub(crate) fn preview_fetcher(&self, ua: &str) -> Option<&str> {
        let rule = self.preview_fetchers.iter().find(|r| r.matches(ua))?;
        rule.target.channel.as_deref()
    }

    /// Does the user agent carry one of the bot substrings?
    pub(crate) fn has_bot_token(&self, ua: &str) -> bool {
        self.bot_matcher.as_ref().is_some_and(|m| m.is_match(ua))
    }

    /// Is the normalised host, or one of its parent domains, a referrer-spam host?
    pub(crate) fn is_spam_host(&self, host: &str) -> bool {
        domain_suffixes(host).any(|s| self.spam_referrers.contains(s))
    }

    /// The channel a click id stands for.
    pub(crate) fn click_id(&self, id: ClickId) -> Option<Hit> {
        let target = self.click_ids.get(&id)?;
        Some(self.resolve(target, None))
    }

    pub(crate) fn utm(&self) -> &UtmRules {
        &self.utm
    }

    /// The channel a UTM value names: a channel key, an alias, or a known host
    /// (`facebook.com`, `t.me`).
    pub(crate) fn utm_channel(&self, value: &str) -> Option<Hit> {
        let word = utm_word(value);
        if !word.is_empty() {
            if let Some(channel) = self.utm.names.get(&word) {
                return Some(self.resolve_channel(channel, None, None));
            }
            if let Some(channel) = self.utm.channel_words.get(&word) {
                return Some(self.resolve_channel(channel, None, None));
            }
        }
        let trimmed = value.trim();
        if trimmed.contains('.') && !trimmed.contains(char::is_whitespace) {
            let host = normalise_host(trimmed.split('/').next().unwrap_or(trimmed));
            if let Some((target, _)) = self.lookup_host(&host) {
                if target.channel.is_some() {
                    return Some(self.resolve(target, None));
                }
            }
        }
        None
    }

    /// The channel another tool names a source by: a channel's display name (`WhatsApp`,
    /// `Telegram`) or a referrer entry's display source (`Gmail`, `Outlook`), compared
    /// without case. Several entries naming it: the first channel key in order.
    pub fn channel_named(&self, name: &str) -> Option<(String, ChannelGroup)> {
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        let mut found: Vec<Hit> = self
            .channels
            .iter()
            .filter(|(_, info)| info.name.eq_ignore_ascii_case(name))
            .map(|(key, _)| self.resolve_channel(key, None, None))
            .collect();
        if found.is_empty() {
            found = self
                .hosts
                .values()
                .chain(self.host_wildcards.values())
                .chain(self.android_apps.values())
                .filter(|t| {
                    t.channel.is_some()
                        && t.source
                            .as_deref()
                            .is_some_and(|s| s.eq_ignore_ascii_case(name))
                })
                .map(|t| self.resolve(t, None))
                .collect();
        }
        found
            .into_iter()
            .min_by(|a, b| a.channel.as_str().cmp(b.channel.as_str()))
            .map(|h| (h.channel.as_str().to_string(), h.group))
    }

    /// The paid channel of a channel's ad clicks (`google` → `google-ads`), if any.
    pub(crate) fn paid_channel(&self, channel: &str) -> Option<Hit> {
        let paid = self.utm.paid_channels.get(channel)?;
        Some(self.resolve_channel(paid, None, None))
    }

    /// Display name of a channel: its `[channels]` name, else the key itself.
    pub(crate) fn display_name(&self, channel: &str) -> String {
        self.channels
            .get(channel)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| channel.to_string())
    }

    /// Find the entry for `host` and the domain that matched.
    fn lookup_host<'h>(&self, host: &'h str) -> Option<(&Target, &'h str)> {
        for suffix in domain_suffixes(host) {
            if let Some(t) = self.hosts.get(suffix) {
                return Some((t, suffix));
            }
            if let Some(t) = self.lookup_wildcard(suffix) {
                return Some((t, suffix));
            }
        }
        None
    }

    /// `name.*` entries: strip a top-level domain (`google.de`) or a second-level plus
    /// country domain (`google.co.uk`) and look the rest up.
    fn lookup_wildcard(&self, domain: &str) -> Option<&Target> {
        if self.host_wildcards.is_empty() {
            return None;
        }
        let (rest, tld) = domain.rsplit_once('.')?;
        if rest.is_empty() || tld.is_empty() {
            return None;
        }
        if let Some(t) = self.host_wildcards.get(rest) {
            return Some(t);
        }
        let (name, second) = rest.rsplit_once('.')?;
        if tld.len() == 2 && SECOND_LEVEL_LABELS.contains(&second) && !name.is_empty() {
            return self.host_wildcards.get(name);
        }
        None
    }

    /// Resolve a target; `matched` is the host or package that matched, the channel of
    /// channel-less (plain referral) entries.
    fn resolve(&self, target: &Target, matched: Option<&str>) -> Hit {
        match &target.channel {
            Some(channel) => self.resolve_channel(channel, target.group, target.source.as_deref()),
            None => {
                let name = matched.unwrap_or("unknown");
                Hit {
                    channel: Channel::new(name),
                    group: target.group.unwrap_or(ChannelGroup::Referral),
                    source: target.source.clone().unwrap_or_else(|| name.to_string()),
                }
            }
        }
    }

    fn resolve_channel(
        &self,
        channel: &str,
        group: Option<ChannelGroup>,
        source: Option<&str>,
    ) -> Hit {
        let info = self.channels.get(channel);
        Hit {
            channel: Channel::new(channel),
            group: group
                .or(info.map(|i| i.group))
                .unwrap_or(ChannelGroup::Referral),
            source: source
                .map(str::to_string)
                .or_else(|| info.map(|i| i.name.clone()))
                .unwrap_or_else(|| channel.to_string()),
        }
    }

    // ------------------------------------------------------------------ loading --

    fn apply(&mut self, file: RulesFile) -> Result<(), RulesError> {
        for (key, spec) in file.channels {
            let group = parse_group(&spec.group)?;
            self.utm.channel_words.insert(utm_word(&key), key.clone());
            self.channels.insert(
                key,
                ChannelInfo {
                    group,
                    name: spec.name,
                },
            );
        }

        for spec in file.referrer {
            let target = self.target("[[referrer]]", spec.channel, spec.group, spec.source)?;
            if target.channel.is_none() && target.group.is_none() {
                return Err(RulesError::NoTarget);
            }
            for host in spec.hosts {
                let h = normalise_host(&host);
                if let Some(name) = h.strip_suffix(".*") {
                    check_host(name, &host)?;
                    self.host_wildcards.insert(name.to_string(), target.clone());
                } else {
                    check_host(&h, &host)?;
                    self.hosts.insert(h, target.clone());
                }
            }
            for app in spec.apps {
                let a = app.trim().to_ascii_lowercase();
                check_host(&a, &app)?;
                self.android_apps.insert(a, target.clone());
            }
        }

        let in_app = self.ua_rules("[[in_app]]", file.in_app)?;
        self.in_app.splice(0..0, in_app);
        let previews = self.ua_rules("[[preview_fetcher]]", file.preview_fetcher)?;
        self.preview_fetchers.splice(0..0, previews);

        if let Some(bots) = file.bots {
            let before = self.bot_tokens.len();
            self.bot_tokens.extend(
                bots.contains
                    .iter()
                    .map(|t| t.trim().to_lowercase())
                    .filter(|t| !t.is_empty()),
            );
            if self.bot_tokens.len() != before {
                self.bot_matcher = Some(bot_matcher(&self.bot_tokens)?);
            }
        }

        if let Some(spam) = file.spam_referrers {
            for host in spam.hosts {
                let h = normalise_host(&host);
                check_host(&h, &host)?;
                self.spam_referrers.insert(h);
            }
        }

        if let Some(utm) = file.utm {
            self.apply_utm(utm)?;
        }

        for (param, spec) in file.click_ids {
            let id = ClickId::from_param(&param).ok_or(RulesError::UnknownClickId(param))?;
            let target = self.target("[click_ids]", Some(spec.channel), spec.group, spec.source)?;
            self.click_ids.insert(id, target);
        }
        Ok(())
    }

    fn apply_utm(&mut self, utm: UtmSpec) -> Result<(), RulesError> {
        for p in utm.paid_medium_patterns {
            let re = case_insensitive(&p).map_err(|error| RulesError::Pattern {
                section: "[utm]",
                pattern: p.clone(),
                error,
            })?;
            self.utm.paid_medium_patterns.push(re);
        }
        self.utm.email_words.extend(
            utm.email_words
                .iter()
                .map(|w| utm_word(w))
                .filter(|w| !w.is_empty()),
        );
        self.utm
            .social_mediums
            .extend(utm.social_mediums.iter().map(|m| utm_word(m)));
        self.utm
            .search_mediums
            .extend(utm.search_mediums.iter().map(|m| utm_word(m)));
        for (channel, paid) in utm.paid_channels {
            self.known_channel("[utm.paid_channels]", &channel)?;
            self.known_channel("[utm.paid_channels]", &paid)?;
            self.utm.paid_channels.insert(channel, paid);
        }
        for (channel, aliases) in utm.names {
            self.known_channel("[utm.names]", &channel)?;
            for alias in aliases {
                let word = utm_word(&alias);
                if !word.is_empty() {
                    self.utm.names.insert(word, channel.clone());
                }
            }
        }
        Ok(())
    }

    fn ua_rules(
        &self,
        section: &'static str,
        specs: Vec<UaSpec>,
    ) -> Result<Vec<UaRule>, RulesError> {
        specs
            .into_iter()
            .map(|spec| {
                let contains: Vec<String> = spec
                    .contains
                    .into_iter()
                    .filter(|c| !c.is_empty())
                    .collect();
                let pattern = match spec.pattern {
                    Some(p) => Some(Regex::new(&p).map_err(|error| RulesError::Pattern {
                        section,
                        pattern: p.clone(),
                        error,
                    })?),
                    None => None,
                };
                if contains.is_empty() && pattern.is_none() {
                    return Err(RulesError::NoMarker {
                        section,
                        channel: spec.channel,
                    });
                }
                let target = self.target(section, Some(spec.channel), spec.group, None)?;
                Ok(UaRule {
                    contains,
                    pattern,
                    target,
                })
            })
            .collect()
    }

    /// Check and build a target: a named channel must be defined unless a group is given.
    fn target(
        &self,
        section: &'static str,
        channel: Option<String>,
        group: Option<String>,
        source: Option<String>,
    ) -> Result<Target, RulesError> {
        let group = group.as_deref().map(parse_group).transpose()?;
        if let Some(c) = &channel {
            if group.is_none() {
                self.known_channel(section, c)?;
            }
        }
        Ok(Target {
            channel,
            group,
            source,
        })
    }

    fn known_channel(&self, section: &'static str, channel: &str) -> Result<(), RulesError> {
        if self.channels.contains_key(channel) {
            Ok(())
        } else {
            Err(RulesError::UnknownChannel {
                section,
                channel: channel.to_string(),
            })
        }
    }
}

impl UtmRules {
    /// Does the (raw) medium match a paid pattern?
    pub(crate) fn is_paid_medium(&self, medium: &str) -> bool {
        let m = medium.trim();
        self.paid_medium_patterns.iter().any(|p| p.is_match(m))
    }

    /// Does the value contain an e-mail word (`email`, `e-mail`, `newsletter`…)?
    pub(crate) fn is_email(&self, value: &str) -> bool {
        let w = utm_word(value);
        !w.is_empty() && self.email_words.iter().any(|e| w.contains(e.as_str()))
    }

    pub(crate) fn is_social_medium(&self, medium: &str) -> bool {
        self.social_mediums.contains(&utm_word(medium))
    }

    pub(crate) fn is_search_medium(&self, medium: &str) -> bool {
        self.search_mediums.contains(&utm_word(medium))
    }
}

/// A UTM value reduced to lower-case letters and digits: `E-Mail` → `email`.
pub(crate) fn utm_word(value: &str) -> String {
    value
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// `a.b.example.com`, `b.example.com`, `example.com`, `com`.
fn domain_suffixes(host: &str) -> impl Iterator<Item = &str> {
    std::iter::once(host).chain(host.match_indices('.').map(move |(i, _)| &host[i + 1..]))
}

fn parse_group(name: &str) -> Result<ChannelGroup, RulesError> {
    ChannelGroup::parse(name.trim()).ok_or_else(|| RulesError::UnknownGroup(name.to_string()))
}

/// A host or package name: non-empty, no spaces, slashes or schemes.
fn check_host(h: &str, original: &str) -> Result<(), RulesError> {
    let ok = !h.is_empty()
        && h.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(())
    } else {
        Err(RulesError::InvalidHost(original.to_string()))
    }
}

fn case_insensitive(pattern: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .case_insensitive(true)
        .build()
}

/// One case-insensitive alternation of all bot substrings (literal alternations are
/// matched with a multi-pattern prefilter, so this stays fast as the list grows).
fn bot_matcher(tokens: &[String]) -> Result<Regex, RulesError> {
    let alternation = tokens
        .iter()
        .map(|t| regex::escape(t))
        .collect::<Vec<_>>()
        .join("|");
    case_insensitive(&alternation).map_err(|error| RulesError::Pattern {
        section: "[bots]",
        pattern: "(bot substrings)".into(),
        error,
    })
}

// ------------------------------------------------------------------ file schema --

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RulesFile {
    #[serde(default)]
    channels: BTreeMap<String, ChannelSpec>,
    #[serde(default)]
    referrer: Vec<ReferrerSpec>,
    #[serde(default)]
    in_app: Vec<UaSpec>,
    #[serde(default)]
    preview_fetcher: Vec<UaSpec>,
    #[serde(default)]
    bots: Option<BotSpec>,
    #[serde(default)]
    spam_referrers: Option<SpamSpec>,
    #[serde(default)]
    utm: Option<UtmSpec>,
    #[serde(default)]
    click_ids: BTreeMap<String, ClickIdSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelSpec {
    group: String,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReferrerSpec {
    channel: Option<String>,
    group: Option<String>,
    source: Option<String>,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    apps: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UaSpec {
    channel: String,
    group: Option<String>,
    #[serde(default)]
    contains: Vec<String>,
    pattern: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BotSpec {
    #[serde(default)]
    contains: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpamSpec {
    #[serde(default)]
    hosts: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UtmSpec {
    #[serde(default)]
    paid_medium_patterns: Vec<String>,
    #[serde(default)]
    email_words: Vec<String>,
    #[serde(default)]
    social_mediums: Vec<String>,
    #[serde(default)]
    search_mediums: Vec<String>,
    #[serde(default)]
    paid_channels: BTreeMap<String, String>,
    #[serde(default)]
    names: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClickIdSpec {
    channel: String,
    group: Option<String>,
    source: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_buttons_parse_and_refuse_unknown_keys() {
        let b = ShareButtons::builtin();
        assert_eq!(b.all().len(), 11);
        assert_eq!(b.position("whatsapp"), Some(0));
        assert!(b.is_private("copy") && b.is_private("native"));
        assert!(b.is_public("linkedin") && !b.is_private("linkedin"));
        assert_eq!(b.get("copy").and_then(|b| b.channel.as_deref()), None);
        let rules = Rules::builtin();
        let bad = "[[share_button]]\nid = \"a\"\nprivate = true\ncolour = \"red\"\n";
        assert!(ShareButtons::parse(bad, &rules).is_err());
        let unknown = "[[share_button]]\nid = \"a\"\nchannel = \"nope\"\nprivate = true\n";
        assert!(ShareButtons::parse(unknown, &rules).is_err());
        let twice = "[[share_button]]\nid = \"a\"\nprivate = true\n[[share_button]]\nid = \"a\"\nprivate = false\n";
        assert!(ShareButtons::parse(twice, &rules).is_err());
        // Not a section configuration may extend.
        let mut r = Rules::builtin();
        assert!(r
            .extend_from_toml("[[share_button]]\nid = \"a\"\nprivate = true\n")
            .is_err());
    }

    #[test]
    fn builtin_data_files_parse() {
        for (name, text) in BUILTIN_FILES {
            if let Err(e) = toml::from_str::<RulesFile>(text) {
                panic!("data/{name}: {e}");
            }
        }
        let rules = Rules::builtin();
        assert!(rules.channels.len() > 40);
        assert!(rules.hosts.len() > 100);
        assert!(!rules.in_app.is_empty());
        assert!(!rules.preview_fetchers.is_empty());
        assert!(rules.bot_matcher.is_some());
        assert!(rules.spam_referrers.len() >= 50);
        assert_eq!(rules.click_ids.len(), ClickId::ALL.len());
    }

    #[test]
    fn every_builtin_target_names_a_defined_channel() {
        let rules = Rules::builtin();
        let targets = rules
            .hosts
            .values()
            .chain(rules.host_wildcards.values())
            .chain(rules.android_apps.values())
            .chain(rules.click_ids.values())
            .chain(rules.in_app.iter().map(|r| &r.target))
            .chain(rules.preview_fetchers.iter().map(|r| &r.target));
        for t in targets {
            if let Some(c) = &t.channel {
                assert!(rules.channels.contains_key(c), "undefined channel {c}");
            }
        }
    }

    #[test]
    fn host_lookup_prefers_the_most_specific_domain() {
        let rules = Rules::builtin();
        let ch = |h: &str| rules.referrer_host(h).map(|hit| hit.channel.to_string());
        assert_eq!(ch("mail.google.com").as_deref(), Some("email"));
        assert_eq!(ch("gemini.google.com").as_deref(), Some("gemini"));
        assert_eq!(ch("google.com").as_deref(), Some("google"));
        assert_eq!(ch("google.co.uk").as_deref(), Some("google"));
        assert_eq!(ch("news.google.com.br").as_deref(), Some("google"));
        assert_eq!(ch("mail.yandex.com.tr").as_deref(), Some("email"));
        assert_eq!(ch("docs.google.com").as_deref(), Some("docs.google.com"));
        assert_eq!(ch("google.evil.com"), None);
        assert_eq!(ch("notgoogle.com"), None);
        assert_eq!(ch("com"), None);
    }

    #[test]
    fn utm_words() {
        assert_eq!(utm_word(" E-Mail "), "email");
        assert_eq!(utm_word("e_mail"), "email");
        assert_eq!(utm_word("Hacker News"), "hackernews");
    }
}
