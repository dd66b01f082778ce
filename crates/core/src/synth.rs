//! Synthetic traffic: a seeded, realistic private/public mix of raw hits, used by tests,
//! the demo and the benchmarks.
//!
//! The generator produces what a browser running the tracker would send to
//! `POST /api/event` (name, URL, `document.referrer`, user agent, IP, screen width, the
//! Telegram-webview flag, props, revenue), **not** classified rows: the ingest pipeline
//! and the classifier are what is being exercised. Each hit also carries the ground truth
//! it was drawn from ([`SyntheticHit::truth`], [`SyntheticHit::visit`], …), which a
//! browser would never send: tests use it to measure the classifier and the sessioniser.
//!
//! # Model
//! - **Site**: a home page, `/pricing`, `/about`, `/newsletter`, `/signup`, `/checkout`,
//!   eight category pages and [`SynthConfig::pages`] article paths with Zipf popularity
//!   (a few percent of them under `/fr/` with percent-encoded UTF-8 slugs). Articles have
//!   an author, sent as the `author` prop of their pageviews.
//! - **Days**: the mean of [`SynthConfig::visits_per_day`] is shaped by the weekday
//!   (weekends ≈ −20 %), a linear growth from 0.8× to 1.2× over the range, ±12 % day
//!   noise, and, on about one day in twelve, one article "goes viral" through private
//!   shares (+25–80 % visits that day, mostly WhatsApp/Messenger/Telegram/copied links).
//!   Visit starts follow a European (UTC) hourly profile.
//! - **Arrivals** (the first hit of a visit): a *true* origin is drawn (WhatsApp,
//!   Telegram, …, newsletter, Google, ChatGPT, Google Ads, a blog, typed address, …;
//!   private messaging and e-mail are ≈ 40 % of visits, a little more at weekends), then
//!   what the browser actually shows of it, which depends on the device: WhatsApp on
//!   iOS leaves no referrer, on Android sometimes `android-app://com.whatsapp/`;
//!   Messenger mostly opens its in-app browser (`FBAN/MessengerForiOS`,
//!   `FB_IAB/Orca-Android`); Telegram its webview (the `tg` flag); newsletters carry
//!   `utm_medium=email`; Facebook adds `fbclid`; Google Ads `gclid`; and so on. Overall
//!   ≈ 40 % of arrivals have no referrer and most of those land on a deep URL.
//! - **Visits**: 1–6 pageviews (bounce ≈ 55 %), 30 s – 5 min apart, each later pageview
//!   with the previous page as (internal) referrer. Custom events are sent from the page
//!   they happen on, with that page's URL and `document.referrer`.
//! - **Conversions**: `signup` (prop `plan`) after a `/signup` pageview, `purchase`
//!   (props `plan`, `billing`, revenue in EUR, ≈ 10 % in USD) after `/pricing` and
//!   `/checkout`; visits that truly came through private messages or e-mail convert
//!   [`SynthConfig::private_conversion_uplift`] times as often. `download` (prop `file`)
//!   fires on some article pages.
//! - **People**: about 30 % of visits come from a pool of regulars, the rest from new
//!   people. A person has a public-looking IPv4 address, a desktop browser and a phone
//!   (iOS or Android), each with its screen width; in-app browsers replace the phone's
//!   user agent for the visits that open in them.
//! - **Bots** (only when [`SynthConfig::bot_share`] > 0): short crawler visits
//!   (Googlebot, bingbot, GPTBot, HeadlessChrome, `curl`, …) making up about that share
//!   of all hits.
//! - **Share cascades** (only when [`SynthConfig::shares`] is on), as the tracker and
//!   `share.js` produce them (ARCHITECTURE.md, "Share tokens and cascades"): every human
//!   pageview mints a visit token ([`SyntheticHit::token`], the payload's `t`). On an
//!   article page a reader sometimes clicks a share button (a `share` event with
//!   `props.channel` = the button and a fresh share token; WhatsApp, copy, Messenger,
//!   native, Telegram, e-mail, SMS, Signal, Facebook, X, LinkedIn) or copies the address
//!   bar (no event: the link carries the pageview's visit token). Each share brings a
//!   heavy-tailed number of later visits (most shares 0–2, a group chat or a public post
//!   tens), one minute to 36 hours later, from new people, landing on the shared page
//!   with `#lc=TOKEN` in the URL; their arrival is observed like any other visit from
//!   that app (a WhatsApp share opened on iOS shows no referrer, a Facebook post adds
//!   `fbclid`, …), and a copied link is pasted into a private app. Readers who arrived
//!   through a share reshare more often than others; visits of generation
//!   [`MAX_GENERATION`] do not share, so cascades are at most that deep. Most cascades
//!   are one or two visits, a few reach hundreds. The ground truth is in
//!   [`Truth::parent_visit`], [`Truth::parent_token`], [`Truth::generation`] and
//!   [`Truth::via`].
//! - **Survey answers** (only when [`SynthConfig::surveys`] is on): after a `purchase`
//!   or `signup`, the visitor answers "How did you hear about us?" with probability
//!   [`SURVEY_RESPONSE_RATE`] (a `survey` event on the same page, a few seconds later, at
//!   most one per visit), among the options a site shows by default (`data/survey.toml`'s
//!   `default_options`),
//!   as `props.answer` and, with `other`, `props.text`. The answer reflects the visit's
//!   *true* origin, which the tracker may not have seen: a WhatsApp link opened on iOS
//!   (no referrer) answers `whatsapp`, a typed address mostly `search`, `friend` or
//!   `other`, a copied link the app it was pasted into. A respondent whose app is not
//!   offered picks `other` and names it ("on Slack", "a tweet"); about 10 % misremember
//!   (another option at random), and about 8 % pick `other` and type something, in
//!   English or French, that the survey's keyword rules map ("reçu par mail", "saw it
//!   on insta") or not ("can't remember").
//!
//! # Guarantees
//! - Same [`SynthConfig`] (seed included) ⇒ the same hits, in the same order (for a given
//!   build of `rand`, whose `StdRng` algorithm may change between its major versions).
//! - Hits come out in non-decreasing `ts` order, all within
//!   `[config.start, config.end())`; visits still running at the end are cut there.
//! - `revenue` is set on `purchase` hits and only on them.
//! - With [`SynthConfig::surveys`] off there are no `survey` events. With it on, the
//!   answers are drawn from a random stream of their own: leaving the `survey` events
//!   out gives exactly the hits of the same config with surveys off.
//! - With [`SynthConfig::shares`] off, no hit carries a token and there are no `share`
//!   events: the hits are exactly those of a build without the share model.
//! - With it on, a visit that arrives through a token starts after the hit that minted
//!   the token (its parent visit's pageview or share event), so replaying the hits in
//!   order always knows the parent; tokens are unique and never 0.
//! - The generator streams: memory is one day's visit start times plus the few visits
//!   in progress (and, with shares, the visits planned by shares of the last 36 hours),
//!   whatever the number of days.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Duration, Timelike, Utc, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::channel::ChannelGroup;
use crate::token::Token;

/// One hit as a browser (or bot) would send it, plus the ground truth behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticHit {
    pub ts: DateTime<Utc>,
    /// `pageview`, or a custom event: `signup`, `purchase`, `download`, `share` (with
    /// [`SynthConfig::shares`]), `survey` (with [`SynthConfig::surveys`]).
    pub name: String,
    /// Full `https://<site_host>/…` address, with `utm_*` / click ids on campaign arrivals.
    pub url: String,
    /// `document.referrer`: an origin (`https://l.facebook.com/`), an `android-app://`
    /// referrer, a full URL on the site for later pages of a visit, or `None`.
    pub referrer: Option<String>,
    pub user_agent: String,
    /// Synthetic public-looking IPv4 of the simulated person (only ever to be hashed).
    pub ip: String,
    /// `0` when the sender has no screen (`curl`, server-side senders).
    pub screen_width: u16,
    /// The page was opened inside Telegram's in-app browser (tracker's `tg` flag).
    pub telegram_webview: bool,
    pub props: Vec<(String, String)>,
    /// `(amount in minor units, ISO-4217 currency)`, on `purchase` hits only.
    pub revenue: Option<(i64, String)>,
    /// The token this hit mints (the payload's `t`, as [`Token`] bits, never 0): a
    /// pageview's visit token or a `share` event's share token. `None` without
    /// [`SynthConfig::shares`], on other events and on bots.
    pub token: Option<u64>,
    /// The button of a `share` event (also sent as `props.channel`): `whatsapp`, `copy`, …
    pub share_channel: Option<&'static str>,

    // --- Ground truth: never part of what a browser sends. ---
    /// Sequence number of the visit this hit belongs to (unique within one generator).
    pub visit: u64,
    /// First hit of its visit (the landing pageview).
    pub entry: bool,
    /// Sent by a crawler / headless browser (only when `bot_share > 0`).
    pub bot: bool,
    /// Where the visit really came from.
    pub truth: Truth,
}

impl SyntheticHit {
    pub fn is_pageview(&self) -> bool {
        self.name == "pageview"
    }
}

/// The real origin of a visit, which the observable hit may or may not reveal
/// (a WhatsApp share opened in iOS Safari arrives with no referrer at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Truth {
    /// In the classifier's words: `whatsapp`, `telegram`, `messenger`, `sms`, `slack`,
    /// `teams`, `signal`, `discord`, `wechat`, `line`, `viber`, `snapchat`,
    /// `copied-link`, `email`, `direct`, `facebook`, `instagram`, `x`, `linkedin`,
    /// `reddit`, `hacker-news`, `tiktok`, `threads`, `google`, `bing`, `duckduckgo`,
    /// `ecosia`, `chatgpt`, `perplexity`, `gemini`, `claude`, `copilot`, `google-ads`,
    /// `facebook-ads`, `microsoft-ads`, a referring host (`medium.com`), or `bot`.
    pub channel: &'static str,
    /// Never `EstimatedDark` (that is an observation, not a truth). `Direct` for bots.
    pub group: ChannelGroup,
    /// The visit whose token this visit arrived with (its landing URL carries
    /// `#lc=TOKEN`); `None` for a visit that did not arrive through a share.
    pub parent_visit: Option<u64>,
    /// That token: a share event's share token, or a pageview's visit token copied from
    /// the address bar.
    pub parent_token: Option<u64>,
    /// 0 without a parent, else the parent's generation + 1 (at most [`MAX_GENERATION`]).
    pub generation: u16,
    /// How the token travelled: the share button (`whatsapp`, `copy`, `native`,
    /// `facebook`, …) or `address-bar`; `None` without a parent.
    pub via: Option<&'static str>,
}

/// What to generate. Build with [`SynthConfig::new`], [`SynthConfig::demo`] or
/// [`SynthConfig::bench`], then adjust the public fields.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthConfig {
    pub seed: u64,
    /// The site's host, as in its URLs (`example.com`).
    pub site_host: String,
    pub start: DateTime<Utc>,
    /// Length of the range in days of 24 h from `start`.
    pub days: u32,
    /// Mean human visits per day (before weekday/growth/viral shaping, which average ≈ 1).
    pub visits_per_day: u32,
    /// Number of article paths (at least 1; 50–500 is realistic).
    pub pages: u32,
    /// Approximate share of all hits sent by bots, `0.0..0.9`. Default 0.
    pub bot_share: f64,
    /// Conversion-rate multiplier for visits truly from private messages or e-mail.
    /// Default 1.35 (the source material claims "up to 1.62").
    pub private_conversion_uplift: f64,
    /// Stop after this many hits. `None`: the whole range.
    pub max_hits: Option<u64>,
    /// Share tokens and cascades (module documentation). Off in [`SynthConfig::new`] and
    /// [`SynthConfig::bench`], on in [`SynthConfig::demo`].
    pub shares: bool,
    /// "How did you hear about us?" answers after conversions (module documentation).
    /// Off in every preset: turn it on.
    pub surveys: bool,
}

/// Mean hits per human visit (pageviews + events), measured on the model; used to size
/// [`SynthConfig::bench`] and the bot volume.
const MEAN_HUMAN_HITS: f64 = 2.1;
const MEAN_BOT_HITS: f64 = 2.5;
const DAY_MS: i64 = 86_400_000;

/// Deepest generation of a share cascade: visits of this generation do not share.
pub const MAX_GENERATION: u16 = 6;

impl SynthConfig {
    /// A config with the defaults: seed 1, 200 articles, no bots, uplift 1.35, no cap.
    pub fn new(
        site_host: impl Into<String>,
        start: DateTime<Utc>,
        days: u32,
        visits_per_day: u32,
    ) -> Self {
        SynthConfig {
            seed: 1,
            site_host: site_host.into(),
            start,
            days,
            visits_per_day,
            pages: 200,
            bot_share: 0.0,
            private_conversion_uplift: 1.35,
            max_hits: None,
            shares: false,
            surveys: false,
        }
    }

    /// The `lucarne demo` preset: the 183 days (≈ 6 months) ending at `now`, 300 visits
    /// a day, 120 articles, no bots, share cascades on (≈ 140,000 hits, of which ≈ 15 %
    /// of the visits arrive through a share), seeded from the host name.
    pub fn demo(site_host: impl Into<String>, now: DateTime<Utc>) -> Self {
        let site_host = site_host.into();
        let seed = fnv1a(site_host.as_bytes());
        SynthConfig {
            seed,
            pages: 120,
            shares: true,
            ..SynthConfig::new(site_host, now - Duration::days(183), 183, 300)
        }
    }

    /// Exactly `total_hits` hits (no bots) spread over the 90 days from `start`, 500
    /// articles. The range is sized with a 25 % margin and cut by `max_hits`.
    pub fn bench(site_host: impl Into<String>, start: DateTime<Utc>, total_hits: u64) -> Self {
        const DAYS: u32 = 90;
        let per_day = (total_hits as f64 * 1.25 / (MEAN_HUMAN_HITS * DAYS as f64)).ceil();
        SynthConfig {
            seed: 0xBE7C,
            pages: 500,
            max_hits: Some(total_hits),
            ..SynthConfig::new(site_host, start, DAYS, (per_day as u32).max(10))
        }
    }

    /// The mean human visits a day that give about `hits` hits over `days` days with
    /// [`SynthConfig::new`]'s defaults (no bots, no shares), the range filled to its end.
    /// The count is approximate: a day's traffic is random (a "viral" day adds a quarter
    /// to four fifths of it), so a range of a few days can differ by a tenth or more.
    pub fn visits_per_day_for(hits: u64, days: u32) -> u32 {
        let per_day = hits as f64 / (MEAN_HUMAN_HITS * f64::from(days.max(1)));
        (per_day.round() as u32).max(1)
    }

    /// End of the range (exclusive): `start + days`.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::days(i64::from(self.days))
    }
}

// ---------------------------------------------------------------------------------------
// Static tables
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Origin {
    WhatsApp,
    Telegram,
    Messenger,
    Sms,
    Slack,
    Teams,
    Signal,
    Discord,
    WeChat,
    Line,
    Viber,
    Snapchat,
    CopiedLink,
    Newsletter,
    PersonalEmail,
    Typed,
    Bookmark,
    Facebook,
    Instagram,
    X,
    LinkedIn,
    Reddit,
    HackerNews,
    TikTok,
    Threads,
    Google,
    Bing,
    DuckDuckGo,
    Ecosia,
    ChatGpt,
    Perplexity,
    Gemini,
    Claude,
    Copilot,
    GoogleAds,
    FacebookAds,
    MicrosoftAds,
    Blog,
}

/// Where a visit lands: probabilities of home, pricing and a category page (the rest
/// lands on an article).
#[derive(Clone, Copy)]
struct LandingMix(f64, f64, f64);

struct OriginSpec {
    origin: Origin,
    channel: &'static str,
    group: ChannelGroup,
    /// Share of ordinary visits (relative).
    weight: f64,
    /// Share of a viral article's extra visits (relative).
    viral: f64,
    /// Probability that the visit is made on a phone.
    mobile: f64,
    landing: LandingMix,
}

const PM: ChannelGroup = ChannelGroup::PrivateMessage;
const EM: ChannelGroup = ChannelGroup::Email;
const SO: ChannelGroup = ChannelGroup::PublicSocial;
const SE: ChannelGroup = ChannelGroup::Search;
const AI: ChannelGroup = ChannelGroup::AiAssistant;
const PA: ChannelGroup = ChannelGroup::Paid;
const RE: ChannelGroup = ChannelGroup::Referral;
const DI: ChannelGroup = ChannelGroup::Direct;

const DEEP: LandingMix = LandingMix(0.04, 0.04, 0.0);
const SOCIAL: LandingMix = LandingMix(0.05, 0.02, 0.01);
const SEARCH: LandingMix = LandingMix(0.12, 0.03, 0.05);

#[rustfmt::skip]
const ORIGINS: &[OriginSpec] = &[
    OriginSpec { origin: Origin::WhatsApp, channel: "whatsapp", group: PM, weight: 11.0, viral: 30.0, mobile: 0.85, landing: DEEP },
    OriginSpec { origin: Origin::Telegram, channel: "telegram", group: PM, weight: 3.5, viral: 8.0, mobile: 0.75, landing: DEEP },
    OriginSpec { origin: Origin::Messenger, channel: "messenger", group: PM, weight: 3.5, viral: 10.0, mobile: 0.8, landing: DEEP },
    OriginSpec { origin: Origin::Sms, channel: "sms", group: PM, weight: 2.2, viral: 5.0, mobile: 0.97, landing: DEEP },
    OriginSpec { origin: Origin::Slack, channel: "slack", group: PM, weight: 2.0, viral: 1.0, mobile: 0.2, landing: DEEP },
    OriginSpec { origin: Origin::Teams, channel: "teams", group: PM, weight: 1.0, viral: 0.5, mobile: 0.1, landing: DEEP },
    OriginSpec { origin: Origin::Signal, channel: "signal", group: PM, weight: 1.0, viral: 4.0, mobile: 0.85, landing: DEEP },
    OriginSpec { origin: Origin::Discord, channel: "discord", group: PM, weight: 0.8, viral: 1.0, mobile: 0.4, landing: DEEP },
    OriginSpec { origin: Origin::WeChat, channel: "wechat", group: PM, weight: 0.3, viral: 0.5, mobile: 1.0, landing: DEEP },
    OriginSpec { origin: Origin::Line, channel: "line", group: PM, weight: 0.4, viral: 0.5, mobile: 1.0, landing: DEEP },
    OriginSpec { origin: Origin::Viber, channel: "viber", group: PM, weight: 0.4, viral: 0.5, mobile: 1.0, landing: DEEP },
    OriginSpec { origin: Origin::Snapchat, channel: "snapchat", group: PM, weight: 0.4, viral: 1.0, mobile: 1.0, landing: DEEP },
    OriginSpec { origin: Origin::CopiedLink, channel: "copied-link", group: PM, weight: 2.0, viral: 8.0, mobile: 0.5, landing: DEEP },
    OriginSpec { origin: Origin::Newsletter, channel: "email", group: EM, weight: 4.0, viral: 4.0, mobile: 0.5, landing: LandingMix(0.05, 0.05, 0.0) },
    OriginSpec { origin: Origin::PersonalEmail, channel: "email", group: EM, weight: 4.0, viral: 8.0, mobile: 0.45, landing: DEEP },
    OriginSpec { origin: Origin::Typed, channel: "direct", group: DI, weight: 6.0, viral: 0.0, mobile: 0.4, landing: LandingMix(0.88, 0.06, 0.0) },
    OriginSpec { origin: Origin::Bookmark, channel: "direct", group: DI, weight: 2.5, viral: 0.0, mobile: 0.3, landing: LandingMix(0.0, 0.1, 0.1) },
    OriginSpec { origin: Origin::Facebook, channel: "facebook", group: SO, weight: 4.5, viral: 12.0, mobile: 0.85, landing: SOCIAL },
    OriginSpec { origin: Origin::Instagram, channel: "instagram", group: SO, weight: 1.3, viral: 1.0, mobile: 0.95, landing: SOCIAL },
    OriginSpec { origin: Origin::X, channel: "x", group: SO, weight: 2.0, viral: 6.0, mobile: 0.6, landing: SOCIAL },
    OriginSpec { origin: Origin::LinkedIn, channel: "linkedin", group: SO, weight: 1.6, viral: 4.0, mobile: 0.5, landing: SOCIAL },
    OriginSpec { origin: Origin::Reddit, channel: "reddit", group: SO, weight: 1.3, viral: 4.0, mobile: 0.5, landing: SOCIAL },
    OriginSpec { origin: Origin::HackerNews, channel: "hacker-news", group: SO, weight: 0.4, viral: 1.0, mobile: 0.3, landing: SOCIAL },
    OriginSpec { origin: Origin::TikTok, channel: "tiktok", group: SO, weight: 0.5, viral: 0.5, mobile: 0.95, landing: SOCIAL },
    OriginSpec { origin: Origin::Threads, channel: "threads", group: SO, weight: 0.3, viral: 0.5, mobile: 0.95, landing: SOCIAL },
    OriginSpec { origin: Origin::Google, channel: "google", group: SE, weight: 22.0, viral: 0.0, mobile: 0.55, landing: SEARCH },
    OriginSpec { origin: Origin::Bing, channel: "bing", group: SE, weight: 2.4, viral: 0.0, mobile: 0.2, landing: SEARCH },
    OriginSpec { origin: Origin::DuckDuckGo, channel: "duckduckgo", group: SE, weight: 1.4, viral: 0.0, mobile: 0.35, landing: SEARCH },
    OriginSpec { origin: Origin::Ecosia, channel: "ecosia", group: SE, weight: 0.4, viral: 0.0, mobile: 0.3, landing: SEARCH },
    OriginSpec { origin: Origin::ChatGpt, channel: "chatgpt", group: AI, weight: 1.6, viral: 0.0, mobile: 0.4, landing: LandingMix(0.2, 0.1, 0.0) },
    OriginSpec { origin: Origin::Perplexity, channel: "perplexity", group: AI, weight: 0.5, viral: 0.0, mobile: 0.3, landing: LandingMix(0.2, 0.1, 0.0) },
    OriginSpec { origin: Origin::Gemini, channel: "gemini", group: AI, weight: 0.2, viral: 0.0, mobile: 0.4, landing: LandingMix(0.2, 0.1, 0.0) },
    OriginSpec { origin: Origin::Claude, channel: "claude", group: AI, weight: 0.15, viral: 0.0, mobile: 0.2, landing: LandingMix(0.2, 0.1, 0.0) },
    OriginSpec { origin: Origin::Copilot, channel: "copilot", group: AI, weight: 0.15, viral: 0.0, mobile: 0.1, landing: LandingMix(0.2, 0.1, 0.0) },
    OriginSpec { origin: Origin::GoogleAds, channel: "google-ads", group: PA, weight: 2.8, viral: 0.0, mobile: 0.5, landing: LandingMix(0.35, 0.45, 0.0) },
    OriginSpec { origin: Origin::FacebookAds, channel: "facebook-ads", group: PA, weight: 1.2, viral: 0.0, mobile: 0.9, landing: LandingMix(0.2, 0.5, 0.0) },
    OriginSpec { origin: Origin::MicrosoftAds, channel: "microsoft-ads", group: PA, weight: 0.3, viral: 0.0, mobile: 0.1, landing: LandingMix(0.35, 0.45, 0.0) },
    OriginSpec { origin: Origin::Blog, channel: "referral", group: RE, weight: 4.0, viral: 2.0, mobile: 0.35, landing: LandingMix(0.3, 0.1, 0.0) },
];

/// Share-widget buttons (`share.js`), relative use: (button id, the app it opens, if it
/// names one, relative weight).
const SHARE_BUTTON_MIX: &[(&str, Option<Origin>, f64)] = &[
    ("whatsapp", Some(Origin::WhatsApp), 34.0),
    ("copy", None, 13.0),
    ("messenger", Some(Origin::Messenger), 9.0),
    ("native", None, 9.0),
    ("telegram", Some(Origin::Telegram), 7.0),
    ("email", Some(Origin::PersonalEmail), 7.0),
    ("sms", Some(Origin::Sms), 5.0),
    ("signal", Some(Origin::Signal), 3.0),
    ("facebook", Some(Origin::Facebook), 7.0),
    ("x", Some(Origin::X), 4.0),
    ("linkedin", Some(Origin::LinkedIn), 2.0),
];

/// Where a copied link (the `copy` button, the native share sheet, the address bar) is
/// pasted: (app, relative weight).
const PASTE_TARGETS: &[(Origin, f64)] = &[
    (Origin::WhatsApp, 34.0),
    (Origin::Messenger, 9.0),
    (Origin::Telegram, 7.0),
    (Origin::Slack, 10.0),
    (Origin::Teams, 4.0),
    (Origin::Sms, 8.0),
    (Origin::Signal, 4.0),
    (Origin::Discord, 4.0),
    (Origin::PersonalEmail, 12.0),
    (Origin::CopiedLink, 8.0),
];

/// Per article pageview: probability of a share-button click and of an address-bar copy,
/// for a visit that did not arrive through a share, and for one that did.
const SHARE_P: [(f64, f64); 2] = [(0.012, 0.01), (0.045, 0.03)];

/// Share of conversions (`purchase`, `signup`) followed by a survey answer (at most one
/// per visit), with [`SynthConfig::surveys`].
pub const SURVEY_RESPONSE_RATE: f64 = 0.35;
/// Respondents who pick `other` and type something (mapped or not by the keyword rules).
const SURVEY_FREE_TEXT: f64 = 0.08;
/// Respondents who misremember: another offered option at random.
const SURVEY_MISREMEMBER: f64 = 0.10;
/// Of the free-text answers, those naming what really happened (the rest say nothing
/// the rules can read).
const SURVEY_TEXT_ACCURATE: f64 = 0.7;

/// What a respondent means to answer, by the visit's true origin: (survey option id,
/// what they type under `other` when that option is not offered or is `other` itself,
/// relative weight). Every text maps to its option by the keyword rules of
/// `data/survey.toml`, and a text given with `other` maps to nothing (a unit test checks).
fn survey_intents(origin: Origin) -> &'static [(&'static str, &'static str, f64)] {
    match origin {
        Origin::WhatsApp => &[("whatsapp", "whatsapp", 1.0)],
        Origin::Telegram => &[("telegram", "telegram", 1.0)],
        Origin::Messenger => &[("messenger", "messenger", 1.0)],
        Origin::Sms => &[("sms", "a text message", 1.0)],
        Origin::Slack => &[("slack", "on slack", 1.0)],
        Origin::Teams => &[
            ("other", "teams chat at work", 0.6),
            ("friend", "a colleague", 0.4),
        ],
        Origin::Signal => &[("signal", "via signal", 1.0)],
        Origin::Discord => &[
            ("other", "a discord server", 0.7),
            ("friend", "a friend", 0.3),
        ],
        Origin::WeChat => &[("other", "wechat", 0.7), ("friend", "a friend", 0.3)],
        Origin::Line => &[("other", "line", 0.7), ("friend", "a friend", 0.3)],
        Origin::Viber => &[("other", "viber", 0.7), ("friend", "a friend", 0.3)],
        Origin::Snapchat => &[("other", "snapchat", 0.7), ("friend", "a friend", 0.3)],
        // A copied link was pasted somewhere: people name that app, or the person.
        Origin::CopiedLink => &[
            ("whatsapp", "whatsapp", 0.35),
            ("email", "an email", 0.15),
            ("sms", "a text message", 0.1),
            ("messenger", "messenger", 0.1),
            ("slack", "on slack", 0.1),
            ("friend", "a friend", 0.2),
        ],
        Origin::Newsletter => &[("email", "your newsletter", 1.0)],
        Origin::PersonalEmail => &[("email", "an email", 1.0)],
        Origin::Typed | Origin::Bookmark => &[
            ("search", "google", 0.4),
            ("friend", "a friend", 0.35),
            ("other", "already knew it", 0.25),
        ],
        Origin::Facebook => &[("facebook", "facebook", 1.0)],
        Origin::Instagram => &[("instagram", "instagram", 1.0)],
        Origin::X => &[("x", "a tweet", 1.0)],
        Origin::LinkedIn => &[("linkedin", "a linkedin post", 1.0)],
        Origin::Reddit => &[("other", "reddit", 1.0)],
        Origin::HackerNews => &[("other", "hacker news", 1.0)],
        Origin::TikTok => &[("tiktok", "tiktok", 1.0)],
        Origin::Threads => &[("other", "on threads", 1.0)],
        Origin::Google => &[("search", "google", 1.0)],
        Origin::Bing => &[("search", "bing", 1.0)],
        Origin::DuckDuckGo => &[("search", "duckduckgo", 1.0)],
        Origin::Ecosia => &[("search", "ecosia", 1.0)],
        Origin::ChatGpt => &[("ai-assistant", "chatgpt", 0.7), ("search", "google", 0.3)],
        Origin::Perplexity => &[
            ("ai-assistant", "perplexity", 0.7),
            ("search", "google", 0.3),
        ],
        Origin::Gemini => &[("ai-assistant", "gemini", 0.6), ("search", "google", 0.4)],
        Origin::Claude => &[("ai-assistant", "claude", 0.7), ("search", "google", 0.3)],
        Origin::Copilot => &[("ai-assistant", "copilot", 0.6), ("search", "bing", 0.4)],
        Origin::GoogleAds | Origin::MicrosoftAds => {
            &[("search", "google", 0.8), ("other", "an ad", 0.2)]
        }
        Origin::FacebookAds => &[
            ("facebook", "a facebook ad", 0.6),
            ("instagram", "an instagram ad", 0.4),
        ],
        Origin::Blog => &[("other", "a blog post", 0.6), ("search", "google", 0.4)],
    }
}

/// What respondents type under `other`, in English or French, by the option they mean
/// (each maps to it by the keyword rules).
const SURVEY_TEXTS: &[(&str, &[&str])] = &[
    (
        "whatsapp",
        &[
            "a colleague sent it on WhatsApp",
            "groupe WhatsApp de la famille",
            "un pote sur whatsapp",
        ],
    ),
    ("messenger", &["un message sur Messenger", "fb messenger"]),
    ("telegram", &["a Telegram channel", "canal telegram"]),
    ("signal", &["sent on signal", "par Signal"]),
    ("sms", &["my sister texted me the link", "par texto"]),
    (
        "email",
        &["reçu par mail", "your newsletter", "an email from a friend"],
    ),
    ("slack", &["our Slack at work", "un lien sur slack"]),
    (
        "friend",
        &[
            "un ami",
            "my neighbour told me",
            "bouche à oreille",
            "a colleague",
        ],
    ),
    ("facebook", &["a post on Facebook", "vu sur fb"]),
    ("instagram", &["saw it on insta", "une story instagram"]),
    ("tiktok", &["a TikTok video"]),
    ("linkedin", &["a LinkedIn post", "un post linkedin"]),
    ("x", &["a tweet", "sur twitter"]),
    ("search", &["googled it", "recherche google"]),
    (
        "ai-assistant",
        &["ChatGPT recommended it", "demandé à perplexity"],
    ),
];

/// Free text the keyword rules cannot read.
const SURVEY_VAGUE: &[&str] = &[
    "can't remember",
    "je ne sais plus",
    "no idea",
    "un article de blog",
    "saw it somewhere",
];

/// The survey's free-text option.
const OTHER_ANSWER: &str = "other";

/// Weekend multiplier of private-message and e-mail weights.
const WEEKEND_PRIVATE: f64 = 1.25;

/// Relative visit starts per UTC hour (a European audience).
const HOURLY: [f64; 24] = [
    0.35, 0.25, 0.2, 0.2, 0.3, 0.6, 1.0, 1.4, 1.6, 1.6, 1.5, 1.5, 1.6, 1.5, 1.4, 1.4, 1.4, 1.4,
    1.5, 1.6, 1.5, 1.2, 0.9, 0.6,
];

/// Referring sites for plain referrals: (origin sent as referrer, host = truth channel,
/// example paths for the browsers that send the full URL).
const BLOGS: &[(&str, &str, &[&str])] = &[
    (
        "https://medium.com/",
        "medium.com",
        &[
            "/@ana/why-direct-traffic-lies-3f2a9c",
            "/marketing-today/dark-social-explained-91be02",
        ],
    ),
    (
        "https://dev.to/",
        "dev.to",
        &["/ops/self-hosting-analytics-in-rust-4k2b"],
    ),
    (
        "https://www.producthunt.com/",
        "producthunt.com",
        &["/products/lucarne"],
    ),
    (
        "https://github.com/",
        "github.com",
        &["/awesome-selfhosted/awesome-selfhosted"],
    ),
    (
        "https://blog.example.org/",
        "blog.example.org",
        &["/2024/05/attribution-notes", "/tags/privacy"],
    ),
    (
        "https://www.lemonde.fr/",
        "lemonde.fr",
        &["/pixels/article/2024/03/12/le-partage-invisible_6216.html"],
    ),
    (
        "https://news.example.net/",
        "news.example.net",
        &["/weekly/142"],
    ),
];

const CATEGORIES: [&str; 8] = [
    "guides",
    "news",
    "analytics",
    "privacy",
    "marketing",
    "case-studies",
    "tools",
    "opinion",
];

const AUTHORS: [&str; 6] = [
    "Camille Martin",
    "Léa Dubois",
    "Hugo Bernard",
    "Sarah Chen",
    "Tom Becker",
    "Inès Moreau",
];

const SLUG_WORDS: &[&str] = &[
    "dark",
    "social",
    "sharing",
    "private",
    "links",
    "whatsapp",
    "analytics",
    "attribution",
    "privacy",
    "direct",
    "traffic",
    "measure",
    "campaign",
    "newsletter",
    "email",
    "growth",
    "content",
    "viral",
    "referrer",
    "cookies",
    "tracking",
    "guide",
    "how",
    "why",
    "what",
    "messenger",
    "telegram",
    "conversion",
    "revenue",
    "funnel",
    "audience",
    "publishers",
    "shop",
    "benchmark",
    "report",
    "survey",
    "myths",
    "truth",
    "data",
    "metrics",
    "teams",
    "copy",
    "paste",
    "mobile",
    "apps",
    "in-app",
    "browser",
    "seo",
    "search",
    "ai",
    "chatgpt",
    "2024",
    "2025",
    "checklist",
    "mistakes",
    "lessons",
    "playbook",
    "small",
    "business",
];

const FR_SLUG_PREFIXES: &[&str] = &[
    "le-partage-priv%C3%A9",
    "l-%C3%A9t%C3%A9-des-messageries",
    "pourquoi-le-trafic-direct-est-surestim%C3%A9",
    "mesurer-l-audience-cach%C3%A9e",
];

const DOWNLOADS: [&str; 3] = [
    "dark-social-report-2024.pdf",
    "utm-builder-template.xlsx",
    "sharing-checklist.pdf",
];

// --- User agents ------------------------------------------------------------------------
// Repeated entries weight the common browsers.

#[rustfmt::skip]
const DESKTOP_UAS: &[&str] = &[
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36 Edg/125.0.0.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
];

#[rustfmt::skip]
const IOS_UAS: &[&str] = &[
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 16_7_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/125.0.6422.80 Mobile/15E148 Safari/604.1",
];

#[rustfmt::skip]
const ANDROID_UAS: &[&str] = &[
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Android 14; Mobile; rv:126.0) Gecko/126.0 Firefox/126.0",
];

#[rustfmt::skip]
const TABLET_UAS: &[&str] = &[
    "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Safari/537.36",
];

/// In-app browsers and webviews: (iOS, Android).
#[rustfmt::skip]
mod inapp {
    pub const MESSENGER: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/MessengerForiOS;FBAV/458.0.0.40.107;FBBV/601180421;FBDV/iPhone14,5;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBCR/;FBID/phone;FBLC/fr_FR;FBOP/5]",
        "Mozilla/5.0 (Linux; Android 14; SM-S911B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.179 Mobile Safari/537.36 [FB_IAB/Orca-Android;FBAV/455.0.0.37.108;]",
    );
    pub const FACEBOOK: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/466.0.0.41.109;FBBV/611316478;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.4.1;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/612580174]",
        "Mozilla/5.0 (Linux; Android 13; Pixel 7 Build/TQ3A.230901.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.53 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/467.0.0.53.108;]",
    );
    pub const INSTAGRAM: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 334.0.4.32.98 (iPhone14,5; iOS 17_5; fr_FR; fr; scale=3.00; 1170x2532; 608720130)",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240505.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.179 Mobile Safari/537.36 Instagram 331.0.0.37.90 Android (34/14; 420dpi; 1080x2205; Google/google; Pixel 8; shiba; shiba; en_US; 601420829)",
    );
    pub const THREADS: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Barcelona 329.0.0.35.109 (iPhone15,3; iOS 17_5; en_US; en; scale=3.00; 1290x2796; 596427925)",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP1A.240505.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.179 Mobile Safari/537.36 Barcelona 329.0.0.35.109 Android (34/14; 420dpi; 1080x2205; Google/google; Pixel 8; shiba; shiba; en_US; 598423442)",
    );
    pub const LINE: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Safari Line/13.15.0",
        "Mozilla/5.0 (Linux; Android 13; SM-A536E Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.179 Mobile Safari/537.36 Line/13.15.1/IAB",
    );
    pub const WECHAT: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003129) NetType/WIFI Language/zh_CN",
        "Mozilla/5.0 (Linux; Android 14; 23127PN0CC Build/UKQ1.230804.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/122.0.6261.120 Mobile Safari/537.36 XWEB/1220133 MMWEBSDK/20240404 MMWEBID/6172 MicroMessenger/8.0.49.2600(0x28003133) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64",
    );
    pub const SNAPCHAT: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Snapchat/13.0.0.44 (like Safari/8617.2.4.10.8, panda)",
        "Mozilla/5.0 (Linux; Android 14; SM-G991B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.53 Mobile Safari/537.36 Snapchat/12.87.0.40 (SM-G991B; Android 14#G991BXXSBGXD1#34; gzip; )",
    );
    pub const TIKTOK: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 musical_ly_34.6.0 JsSdk/2.0 NetType/WIFI Channel/App Store ByteLocale/fr Region/FR isDarkMode/0 WKWebView/1 RevealType/Dialog BytedanceWebview/d8a21c6",
        "Mozilla/5.0 (Linux; Android 14; SM-A546B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.53 Mobile Safari/537.36 musical_ly_2023406030 JsSdk/1.0 NetType/WIFI Channel/googleplay AppName/musical_ly app_version/34.6.3 ByteLocale/fr ByteFullLocale/fr Region/FR BytedanceWebview/d8a21c6",
    );
    pub const LINKEDIN: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.29.6922",
        "Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/AP1A.240505.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.53 Mobile Safari/537.36 [LinkedInApp]/4.1.946",
    );
    pub const GOOGLE_APP: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) GSA/318.0.638489037 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/AP1A.240505.004; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.53 Mobile Safari/537.36 GSA/15.21.24.29.arm64",
    );
    /// Telegram's webview carries no marker in the user agent (the `tg` flag tells).
    pub const TELEGRAM_WEBVIEW: (&str, &str) = (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        "Mozilla/5.0 (Linux; Android 14; SM-A546B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.53 Mobile Safari/537.36",
    );
}

/// Crawlers, headless browsers and scripts: (user agent, screen width).
#[rustfmt::skip]
const BOT_UAS: &[(&str, u16)] = &[
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 0),
    ("Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.141 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 412),
    ("Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 0),
    ("Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 0),
    ("Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", 0),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", 0),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", 0),
    ("Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)", 0),
    ("Mozilla/5.0 (Linux; Android 7.0;) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; PetalBot;+https://webmaster.petalsearch.com/site/petalbot)", 360),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/125.0.6422.141 Safari/537.36", 800),
    ("python-requests/2.32.3", 0),
    ("curl/8.7.1", 0),
];

/// First octets of public-looking address blocks (European and North-American ISPs).
const IP_FIRST_OCTETS: &[u8] = &[
    2, 5, 24, 31, 37, 46, 50, 62, 68, 73, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90,
    91, 92, 93, 94, 95, 98, 99, 104, 108, 109, 174, 176, 178, 185, 188, 193, 194, 195, 212, 213,
    217,
];

// ---------------------------------------------------------------------------------------
// Site model
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page {
    Home,
    Pricing,
    About,
    Newsletter,
    Signup,
    Checkout,
    Category(u8),
    Article(u32),
}

struct Article {
    path: String,
    author: u8,
}

struct Site {
    /// `https://<host>`
    base: String,
    articles: Vec<Article>,
    /// Cumulative Zipf weights by popularity rank.
    rank_cdf: Vec<f64>,
    rank_to_article: Vec<u32>,
    category_paths: Vec<String>,
}

impl Site {
    fn build(host: &str, pages: u32, seed: u64) -> Site {
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5173_5173_5173_5173);
        let n = pages.max(1) as usize;
        let mut seen = HashSet::with_capacity(n);
        let mut articles = Vec::with_capacity(n);
        for i in 0..n {
            let mut path = String::with_capacity(64);
            if rng.random_bool(0.04) {
                path.push_str("/fr/");
                path.push_str(FR_SLUG_PREFIXES[rng.random_range(0..FR_SLUG_PREFIXES.len())]);
            } else {
                path.push('/');
                path.push_str(CATEGORIES[rng.random_range(0..CATEGORIES.len())]);
                path.push('/');
                let words = rng.random_range(3..=6);
                for w in 0..words {
                    if w > 0 {
                        path.push('-');
                    }
                    path.push_str(SLUG_WORDS[rng.random_range(0..SLUG_WORDS.len())]);
                }
            }
            if !seen.insert(path.clone()) || path.starts_with("/fr/") {
                let _ = write!(path, "-{i}");
                seen.insert(path.clone());
            }
            articles.push(Article {
                path,
                author: rng.random_range(0..AUTHORS.len() as u8),
            });
        }
        // Popularity: Zipf (s = 1.05) over a random permutation of the articles.
        let mut rank_to_article: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            rank_to_article.swap(i, j);
        }
        let mut acc = 0.0;
        let rank_cdf = (0..n)
            .map(|r| {
                acc += 1.0 / ((r + 1) as f64).powf(1.05);
                acc
            })
            .collect();
        Site {
            base: format!("https://{host}"),
            articles,
            rank_cdf,
            rank_to_article,
            category_paths: CATEGORIES
                .iter()
                .map(|c| format!("/category/{c}"))
                .collect(),
        }
    }

    fn path(&self, page: Page) -> &str {
        match page {
            Page::Home => "/",
            Page::Pricing => "/pricing",
            Page::About => "/about",
            Page::Newsletter => "/newsletter",
            Page::Signup => "/signup",
            Page::Checkout => "/checkout",
            Page::Category(c) => &self.category_paths[c as usize],
            Page::Article(a) => &self.articles[a as usize].path,
        }
    }

    fn popular_article(&self, rng: &mut StdRng) -> Page {
        let x = rng.random::<f64>() * self.rank_cdf[self.rank_cdf.len() - 1];
        let r = self.rank_cdf.partition_point(|&c| c < x);
        Page::Article(self.rank_to_article[r.min(self.rank_to_article.len() - 1)])
    }

    fn url(&self, page: Page, query: &str) -> String {
        let path = self.path(page);
        let mut u = String::with_capacity(self.base.len() + path.len() + query.len());
        u.push_str(&self.base);
        u.push_str(path);
        u.push_str(query);
        u
    }
}

// ---------------------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SlotKind {
    Normal,
    Viral,
    Bot,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Platform {
    Desktop,
    Ios,
    Android,
    Tablet,
}

/// A hit waiting for its turn: min-heap on `(ts, seq)`, the hit itself in a slab slot
/// (so that heap operations move 24 bytes, not whole hits).
#[derive(PartialEq, Eq)]
struct Pending {
    ts_ms: i64,
    seq: u64,
    slot: usize,
}

impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.ts_ms, other.seq).cmp(&(self.ts_ms, self.seq))
    }
}

/// A visit planned when a link was shared: it arrives at `ts_ms` through `token`.
/// Min-heap on `(ts, seq)`.
struct ShareArrival {
    ts_ms: i64,
    seq: u64,
    parent_visit: u64,
    token: u64,
    generation: u16,
    via: &'static str,
    origin: &'static OriginSpec,
    page: Page,
}

impl PartialEq for ShareArrival {
    fn eq(&self, other: &Self) -> bool {
        (self.ts_ms, self.seq) == (other.ts_ms, other.seq)
    }
}
impl Eq for ShareArrival {}
impl PartialOrd for ShareArrival {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ShareArrival {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.ts_ms, other.seq).cmp(&(self.ts_ms, self.seq))
    }
}

/// The next visit to simulate: a planned slot of the day, or an arrival through a share.
enum NextVisit {
    Slot,
    Share,
}

/// What the browser shows of a visit's origin.
struct Look {
    referrer: Option<String>,
    /// In-app or webview UA replacing the person's browser.
    ua: Option<&'static str>,
    tg: bool,
    truth_channel: &'static str,
}

/// Everything shared by the hits of one visit.
struct VisitCtx {
    visit: u64,
    ua: &'static str,
    ip: String,
    screen: u16,
    tg: bool,
    bot: bool,
    truth: Truth,
}

/// Iterator over synthetic hits; see the module documentation.
pub struct Generator {
    cfg: SynthConfig,
    rng: StdRng,
    site: Site,
    start_ms: i64,
    end_ms: i64,
    /// Next day to plan.
    day: u32,
    slots: Vec<(i64, SlotKind)>,
    slot_pos: usize,
    weekend: bool,
    viral_article: u32,
    hour_cdf: [f64; 24],
    cdf_weekday: Vec<f64>,
    cdf_weekend: Vec<f64>,
    cdf_viral: Vec<f64>,
    pending: BinaryHeap<Pending>,
    slab: Vec<Option<SyntheticHit>>,
    free: Vec<usize>,
    seq: u64,
    next_visit: u64,
    next_person: u64,
    regulars: u64,
    emitted: u64,
    query: String,
    /// Visits that will arrive through shares (only with `cfg.shares`).
    arrivals: BinaryHeap<ShareArrival>,
    arrival_seq: u64,
    /// Survey answers draw from this stream only, so that turning them on changes no
    /// other hit.
    survey_rng: StdRng,
    /// The option ids the survey offers (empty without `cfg.surveys`).
    survey_offered: Vec<&'static str>,
}

impl Generator {
    /// A generator for `config` (`pages` is raised to 1, `bot_share` clamped to
    /// `0.0..=0.9`). Cheap: days are planned lazily as hits are pulled.
    pub fn new(config: SynthConfig) -> Generator {
        let mut cfg = config;
        cfg.pages = cfg.pages.max(1);
        cfg.bot_share = if cfg.bot_share.is_finite() {
            cfg.bot_share.clamp(0.0, 0.9)
        } else {
            0.0
        };
        let site = Site::build(&cfg.site_host, cfg.pages, cfg.seed);
        let start_ms = cfg.start.timestamp_millis();
        let end_ms = start_ms + i64::from(cfg.days) * DAY_MS;
        let start_hour = cfg.start.hour() as usize;
        let mut hour_cdf = [0.0; 24];
        let mut acc = 0.0;
        for (h, c) in hour_cdf.iter_mut().enumerate() {
            acc += HOURLY[(start_hour + h) % 24];
            *c = acc;
        }
        let cdf = |f: &dyn Fn(&OriginSpec) -> f64| -> Vec<f64> {
            let mut acc = 0.0;
            ORIGINS
                .iter()
                .map(|o| {
                    acc += f(o);
                    acc
                })
                .collect()
        };
        let cdf_weekday = cdf(&|o| o.weight);
        let cdf_weekend = cdf(&|o| {
            if matches!(o.group, ChannelGroup::PrivateMessage | ChannelGroup::Email) {
                o.weight * WEEKEND_PRIVATE
            } else {
                o.weight
            }
        });
        let cdf_viral = cdf(&|o| o.viral);
        Generator {
            rng: StdRng::seed_from_u64(cfg.seed),
            regulars: u64::from(cfg.visits_per_day).saturating_mul(3).max(100),
            site,
            start_ms,
            end_ms,
            day: 0,
            slots: Vec::new(),
            slot_pos: 0,
            weekend: false,
            viral_article: 0,
            hour_cdf,
            cdf_weekday,
            cdf_weekend,
            cdf_viral,
            pending: BinaryHeap::new(),
            slab: Vec::new(),
            free: Vec::new(),
            seq: 0,
            next_visit: 0,
            next_person: 0,
            emitted: 0,
            query: String::with_capacity(256),
            arrivals: BinaryHeap::new(),
            arrival_seq: 0,
            survey_rng: StdRng::seed_from_u64(cfg.seed ^ 0x5E7E_5E7E_0A5E_0A5E),
            survey_offered: if cfg.surveys {
                crate::survey::SurveyRules::builtin()
                    .options_for(&[])
                    .into_iter()
                    .map(|o| o.id.as_str())
                    .collect()
            } else {
                Vec::new()
            },
            cfg,
        }
    }

    /// The configuration in use (after clamping).
    pub fn config(&self) -> &SynthConfig {
        &self.cfg
    }

    /// Start of the next visit to simulate, planning days as needed; `None` at the end.
    fn next_slot_start(&mut self) -> Option<i64> {
        while self.slot_pos >= self.slots.len() {
            if self.day >= self.cfg.days {
                return None;
            }
            self.plan_day();
        }
        Some(self.slots[self.slot_pos].0)
    }

    /// The next visit to simulate and its start: the earlier of the next planned slot and
    /// the next arrival through a share (the slot on a tie); `None` at the end.
    fn next_start(&mut self) -> Option<(i64, NextVisit)> {
        let slot = self.next_slot_start();
        let share = self.arrivals.peek().map(|a| a.ts_ms);
        match (slot, share) {
            (Some(s), Some(a)) if a < s => Some((a, NextVisit::Share)),
            (Some(s), _) => Some((s, NextVisit::Slot)),
            (None, Some(a)) => Some((a, NextVisit::Share)),
            (None, None) => None,
        }
    }

    fn plan_day(&mut self) {
        let d = self.day;
        self.day += 1;
        let day_start = self.start_ms + i64::from(d) * DAY_MS;
        let noon = DateTime::<Utc>::from_timestamp_millis(day_start + DAY_MS / 2)
            .unwrap_or(self.cfg.start);
        let wd = noon.weekday();
        self.weekend = matches!(wd, Weekday::Sat | Weekday::Sun);
        let weekday_factor = match wd {
            Weekday::Mon => 1.08,
            Weekday::Tue => 1.1,
            Weekday::Wed => 1.08,
            Weekday::Thu => 1.06,
            Weekday::Fri => 0.98,
            Weekday::Sat => 0.82,
            Weekday::Sun => 0.88,
        };
        let growth = 0.8 + 0.4 * (f64::from(d) + 0.5) / f64::from(self.cfg.days.max(1));
        const SIGMA: f64 = 0.12;
        let noise = (SIGMA * normal(&mut self.rng) - SIGMA * SIGMA / 2.0).exp();
        let lambda = f64::from(self.cfg.visits_per_day) * weekday_factor * growth * noise;
        let n_normal = poisson(&mut self.rng, lambda);
        let n_viral = if self.rng.random_bool(1.0 / 12.0) {
            self.viral_article = self.rng.random_range(0..self.site.articles.len() as u32);
            let boost = self.rng.random_range(0.25..0.8);
            poisson(&mut self.rng, lambda * boost)
        } else {
            0
        };
        let b = self.cfg.bot_share;
        let n_bot = if b > 0.0 {
            let human = (n_normal + n_viral) as f64;
            poisson(
                &mut self.rng,
                human * b / (1.0 - b) * MEAN_HUMAN_HITS / MEAN_BOT_HITS,
            )
        } else {
            0
        };
        self.slots.clear();
        self.slot_pos = 0;
        let total_w = self.hour_cdf[23];
        for (count, kind) in [
            (n_normal, SlotKind::Normal),
            (n_viral, SlotKind::Viral),
            (n_bot, SlotKind::Bot),
        ] {
            for _ in 0..count {
                let at = if kind == SlotKind::Bot {
                    // Bots crawl around the clock.
                    self.rng.random_range(0..DAY_MS)
                } else {
                    let x = self.rng.random::<f64>() * total_w;
                    let h = self.hour_cdf.partition_point(|&c| c < x).min(23) as i64;
                    h * 3_600_000 + self.rng.random_range(0..3_600_000)
                };
                self.slots.push((day_start + at, kind));
            }
        }
        self.slots.sort_unstable();
    }

    fn push(&mut self, ts_ms: i64, hit: SyntheticHit) {
        if ts_ms >= self.end_ms {
            return;
        }
        self.seq += 1;
        let slot = match self.free.pop() {
            Some(i) => {
                self.slab[i] = Some(hit);
                i
            }
            None => {
                self.slab.push(Some(hit));
                self.slab.len() - 1
            }
        };
        self.pending.push(Pending {
            ts_ms,
            seq: self.seq,
            slot,
        });
    }

    fn simulate(&mut self, start_ms: i64, kind: SlotKind) {
        let visit = self.next_visit;
        self.next_visit += 1;
        if kind == SlotKind::Bot {
            self.simulate_bot(visit, start_ms);
            return;
        }
        let cdf = match (kind, self.weekend) {
            (SlotKind::Viral, _) => &self.cdf_viral,
            (_, true) => &self.cdf_weekend,
            _ => &self.cdf_weekday,
        };
        let x = self.rng.random::<f64>() * cdf[cdf.len() - 1];
        let spec = &ORIGINS[cdf.partition_point(|&c| c < x).min(ORIGINS.len() - 1)];

        // Who.
        let person = if self.rng.random_bool(0.3) {
            self.rng.random_range(0..self.regulars)
        } else {
            self.next_person += 1;
            self.regulars + self.next_person
        };
        let (ctx, referrer, landing_query) = self.arrive(visit, spec, person, start_ms);

        // Landing page.
        let landing = if kind == SlotKind::Viral {
            Page::Article(self.viral_article)
        } else {
            let LandingMix(home, pricing, category) = spec.landing;
            let r = self.rng.random::<f64>();
            if r < home {
                Page::Home
            } else if r < home + pricing {
                Page::Pricing
            } else if r < home + pricing + category {
                Page::Category(self.rng.random_range(0..CATEGORIES.len() as u8))
            } else {
                self.site.popular_article(&mut self.rng)
            }
        };
        self.browse(start_ms, &ctx, spec, landing, &landing_query, referrer);
    }

    /// A visit through a shared link: a new person opens it in the app it was sent with,
    /// on the shared page, with the token in the URL's fragment.
    fn simulate_share(&mut self, a: ShareArrival) {
        let visit = self.next_visit;
        self.next_visit += 1;
        self.next_person += 1;
        let person = self.regulars + self.next_person;
        let (mut ctx, referrer, mut landing_query) = self.arrive(visit, a.origin, person, a.ts_ms);
        ctx.truth.parent_visit = Some(a.parent_visit);
        ctx.truth.parent_token = Some(a.token);
        ctx.truth.generation = a.generation;
        ctx.truth.via = Some(a.via);
        if let Some(t) = Token::from_bits(a.token) {
            let _ = write!(landing_query, "#lc={t}");
        }
        self.browse(a.ts_ms, &ctx, a.origin, a.page, &landing_query, referrer);
    }

    /// The person's device and what the browser shows of the visit's origin: the visit's
    /// context, its `document.referrer` and the landing URL's query.
    fn arrive(
        &mut self,
        visit: u64,
        spec: &OriginSpec,
        person: u64,
        start_ms: i64,
    ) -> (VisitCtx, Option<String>, String) {
        let p = PersonTraits::of(self.cfg.seed, person);
        let platform = if self.rng.random_bool(spec.mobile) {
            if p.ios {
                Platform::Ios
            } else {
                Platform::Android
            }
        } else if self.rng.random_bool(0.06) {
            Platform::Tablet
        } else {
            Platform::Desktop
        };
        let (base_ua, screen) = match platform {
            Platform::Desktop => (DESKTOP_UAS[p.desktop_ua], p.desktop_w),
            Platform::Ios => (IOS_UAS[p.phone_ua % IOS_UAS.len()], p.phone_w),
            Platform::Android => (ANDROID_UAS[p.phone_ua % ANDROID_UAS.len()], p.phone_w),
            Platform::Tablet => (TABLET_UAS[usize::from(!p.ios)], p.tablet_w),
        };
        self.query.clear();
        let look = self.observe(spec, platform, start_ms);
        let landing_query = std::mem::take(&mut self.query);
        let ctx = VisitCtx {
            visit,
            ua: look.ua.unwrap_or(base_ua),
            ip: p.ip(),
            screen,
            tg: look.tg,
            bot: false,
            truth: Truth {
                channel: look.truth_channel,
                group: spec.group,
                parent_visit: None,
                parent_token: None,
                generation: 0,
                via: None,
            },
        };
        (ctx, look.referrer, landing_query)
    }

    /// The visit's pages, custom events, conversions and (with `cfg.shares`) shares, from
    /// its landing page on.
    fn browse(
        &mut self,
        start_ms: i64,
        ctx: &VisitCtx,
        spec: &OriginSpec,
        landing: Page,
        landing_query: &str,
        referrer: Option<String>,
    ) {
        // The path through the site.
        let r = self.rng.random::<f64>();
        let n_views = if r < 0.565 {
            1
        } else if r < 0.73 {
            2
        } else if r < 0.84 {
            3
        } else if r < 0.91 {
            4
        } else if r < 0.96 {
            5
        } else {
            6
        };
        let uplift = if matches!(
            spec.group,
            ChannelGroup::PrivateMessage | ChannelGroup::Email
        ) {
            self.cfg.private_conversion_uplift.max(0.0)
        } else {
            1.0
        };
        let intent = match spec.origin {
            Origin::Typed | Origin::Bookmark => 1.5,
            Origin::GoogleAds | Origin::FacebookAds | Origin::MicrosoftAds => 1.3,
            _ if spec.group == ChannelGroup::PublicSocial => 0.8,
            _ => 1.0,
        };
        let signup = self.rng.random_bool((0.02 * uplift * intent).min(1.0));
        let purchase = self.rng.random_bool((0.008 * uplift * intent).min(1.0));

        let mut pages: [Page; 12] = [Page::Home; 12];
        let mut n = 0;
        pages[n] = landing;
        n += 1;
        for _ in 1..n_views {
            pages[n] = self.navigate();
            n += 1;
        }
        if purchase {
            if pages[n - 1] != Page::Pricing {
                pages[n] = Page::Pricing;
                n += 1;
            }
            pages[n] = Page::Checkout;
            n += 1;
        }
        if signup {
            pages[n] = Page::Signup;
            n += 1;
        }

        // Emit.
        let mut t = start_ms;
        let mut referrer = referrer;
        let mut surveyed = false;
        for (i, &page) in pages[..n].iter().enumerate() {
            let url = if i == 0 {
                self.site.url(page, landing_query)
            } else {
                self.site.url(page, "")
            };
            let props = match page {
                Page::Article(a) => {
                    let author = self.site.articles[a as usize].author;
                    vec![prop("author", AUTHORS[usize::from(author)])]
                }
                _ => Vec::new(),
            };
            let gap = log_uniform(&mut self.rng, 30_000.0, 300_000.0) as i64;
            let token = self.cfg.shares.then(|| self.new_token());
            let view = ctx.hit(t, "pageview", url.clone(), referrer.clone(), i == 0);
            self.push(
                t,
                SyntheticHit {
                    props,
                    token,
                    ..view
                },
            );
            // A custom event sent from this page (same URL, same `document.referrer`).
            let event = match page {
                Page::Article(_) if self.rng.random_bool(0.025) => {
                    let file = DOWNLOADS[self.rng.random_range(0..DOWNLOADS.len())];
                    Some(("download", vec![prop("file", file)], None))
                }
                Page::Signup => {
                    let plan = ["free", "free", "free", "pro", "team"][self.rng.random_range(0..5)];
                    Some(("signup", vec![prop("plan", plan)], None))
                }
                Page::Checkout => {
                    let team = self.rng.random_bool(0.25);
                    let yearly = self.rng.random_bool(0.3);
                    let usd = self.rng.random_bool(0.1);
                    let eur = match (team, yearly) {
                        (false, false) => 900,
                        (false, true) => 9_000,
                        (true, false) => 2_900,
                        (true, true) => 29_000,
                    };
                    let revenue = if usd {
                        (eur * 11 / 10, "USD".to_string())
                    } else {
                        (eur, "EUR".to_string())
                    };
                    let props = vec![
                        prop("plan", if team { "team" } else { "pro" }),
                        prop("billing", if yearly { "yearly" } else { "monthly" }),
                    ];
                    Some(("purchase", props, Some(revenue)))
                }
                _ => None,
            };
            if let Some((name, props, revenue)) = event {
                let at = t + (gap as f64 * self.rng.random_range(0.2..0.8)) as i64;
                let hit = ctx.hit(at, name, url.clone(), referrer.clone(), false);
                self.push(
                    at,
                    SyntheticHit {
                        props,
                        revenue,
                        ..hit
                    },
                );
                if self.cfg.surveys
                    && !surveyed
                    && matches!(name, "purchase" | "signup")
                    && self.survey_rng.random_bool(SURVEY_RESPONSE_RATE)
                {
                    surveyed = true;
                    // Answered on the same page, before the next one.
                    let later = at
                        + ((t + gap - at) as f64 * self.survey_rng.random_range(0.2..0.9)) as i64;
                    let answer = self.survey_answer(spec.origin);
                    let hit = ctx.hit(later, "survey", url.clone(), referrer.clone(), false);
                    self.push(
                        later,
                        SyntheticHit {
                            props: answer,
                            ..hit
                        },
                    );
                }
            }
            if let (Some(token), Page::Article(_)) = (token, page) {
                self.share(ctx, (t, gap), page, (&url, referrer.as_deref()), token);
            }
            // The next page's referrer is this page's URL without its fragment (same
            // origin: browsers send it whole, the landing query included).
            referrer = Some(url.split('#').next().unwrap_or_default().to_string());
            t += gap;
        }
    }

    /// A survey answer (`answer`, and `text` with some `other` answers) from a visitor
    /// whose visit truly came from `origin`.
    fn survey_answer(&mut self, origin: Origin) -> Vec<(String, String)> {
        let rng = &mut self.survey_rng;
        let intents = survey_intents(origin);
        let total: f64 = intents.iter().map(|i| i.2).sum();
        let mut x = rng.random::<f64>() * total;
        let (meant, typed, _) = *intents
            .iter()
            .find(|i| {
                x -= i.2;
                x < 0.0
            })
            .unwrap_or(&intents[0]);
        let offered = |id: &str| self.survey_offered.contains(&id);
        let u = rng.random::<f64>();
        let (answer, text): (&str, &str) = if u < SURVEY_FREE_TEXT {
            // `other`, and a few words: what happened, or nothing readable.
            let accurate = SURVEY_TEXTS
                .iter()
                .find(|(id, _)| *id == meant)
                .map(|(_, texts)| texts[rng.random_range(0..texts.len())])
                .or((meant == OTHER_ANSWER).then_some(typed));
            match accurate {
                Some(t) if rng.random_bool(SURVEY_TEXT_ACCURATE) => (OTHER_ANSWER, t),
                _ => (
                    OTHER_ANSWER,
                    SURVEY_VAGUE[rng.random_range(0..SURVEY_VAGUE.len())],
                ),
            }
        } else if u < SURVEY_FREE_TEXT + SURVEY_MISREMEMBER && self.survey_offered.len() > 1 {
            // Misremembered: another option (`other` without text included).
            let others: Vec<&'static str> = self
                .survey_offered
                .iter()
                .copied()
                .filter(|&id| id != meant)
                .collect();
            (others[rng.random_range(0..others.len())], "")
        } else if meant != OTHER_ANSWER && offered(meant) {
            (meant, "")
        } else {
            // Not offered (or truly "other"): say it in words.
            (OTHER_ANSWER, typed)
        };
        let mut props = vec![prop("answer", answer)];
        if !text.is_empty() {
            props.push(prop("text", text));
        }
        props
    }

    /// A fresh random token (never 0).
    fn new_token(&mut self) -> u64 {
        loop {
            let t = self.rng.random::<u64>();
            if t != 0 {
                return t;
            }
        }
    }

    /// Sharing from an article pageview sent at `t` (next page after `gap`) whose visit
    /// token is `visit_token`: a share-button click (a `share` event) and/or a copy of
    /// the address bar, each planning the visits the link will bring.
    /// `url` and `referrer` are the page's.
    fn share(
        &mut self,
        ctx: &VisitCtx,
        (t, gap): (i64, i64),
        page: Page,
        (url, referrer): (&str, Option<&str>),
        visit_token: u64,
    ) {
        let generation = ctx.truth.generation;
        if generation >= MAX_GENERATION {
            return;
        }
        let (p_button, p_copy) = SHARE_P[usize::from(generation > 0)];
        if self.rng.random_bool(p_button) {
            let at = t + (gap as f64 * self.rng.random_range(0.1..0.9)) as i64;
            let total: f64 = SHARE_BUTTON_MIX.iter().map(|b| b.2).sum();
            let mut x = self.rng.random::<f64>() * total;
            let (button, app, _) = *SHARE_BUTTON_MIX
                .iter()
                .find(|b| {
                    x -= b.2;
                    x < 0.0
                })
                .unwrap_or(&SHARE_BUTTON_MIX[0]);
            let token = self.new_token();
            // After the pageview the tracker wrote the visit token into the address bar:
            // events of the page are sent from that address.
            let mut address = url.split('#').next().unwrap_or_default().to_string();
            if let Some(v) = Token::from_bits(visit_token) {
                let _ = write!(address, "#lc={v}");
            }
            let referrer = referrer.map(str::to_string);
            let hit = ctx.hit(at, crate::token::SHARE_EVENT, address, referrer, false);
            if at < self.end_ms {
                self.push(
                    at,
                    SyntheticHit {
                        props: vec![prop("channel", button)],
                        token: Some(token),
                        share_channel: Some(button),
                        ..hit
                    },
                );
                self.plan_clicks(ctx, at, (token, button), app, page);
            }
        }
        if self.rng.random_bool(p_copy) {
            let at = t + (gap as f64 * self.rng.random_range(0.1..0.9)) as i64;
            if at < self.end_ms {
                let via = crate::token::VIA_ADDRESS_BAR;
                self.plan_clicks(ctx, at, (visit_token, via), None, page);
            }
        }
    }

    /// The visits a link shared at `at` brings: how many (heavy-tailed: a private
    /// message usually 0–2, a group chat or a public post tens), when (one minute to 36
    /// hours later), through which app (`app`, or where the copied link was pasted).
    fn plan_clicks(
        &mut self,
        ctx: &VisitCtx,
        at: i64,
        (token, via): (u64, &'static str),
        app: Option<Origin>,
        page: Page,
    ) {
        let public = matches!(app, Some(Origin::Facebook | Origin::X | Origin::LinkedIn));
        let r = self.rng.random::<f64>();
        let clicks = if public {
            if r < 0.3 {
                0
            } else {
                log_uniform(&mut self.rng, 1.0, 80.0) as u32
            }
        } else if r < 0.25 {
            0
        } else if r < 0.7 {
            1
        } else if r < 0.82 {
            2
        } else if r < 0.88 {
            3
        } else {
            log_uniform(&mut self.rng, 4.0, 40.0) as u32
        };
        let paste_total: f64 = PASTE_TARGETS.iter().map(|p| p.1).sum();
        for _ in 0..clicks {
            let ts_ms = at + log_uniform(&mut self.rng, 60_000.0, 36.0 * 3_600_000.0) as i64;
            let origin = match app {
                Some(o) => o,
                None => {
                    let mut x = self.rng.random::<f64>() * paste_total;
                    PASTE_TARGETS
                        .iter()
                        .find(|p| {
                            x -= p.1;
                            x < 0.0
                        })
                        .map_or(Origin::WhatsApp, |p| p.0)
                }
            };
            let Some(spec) = ORIGINS.iter().find(|o| o.origin == origin) else {
                continue;
            };
            if ts_ms >= self.end_ms {
                continue;
            }
            self.arrival_seq += 1;
            self.arrivals.push(ShareArrival {
                ts_ms,
                seq: self.arrival_seq,
                parent_visit: ctx.visit,
                token,
                generation: ctx.truth.generation.saturating_add(1),
                via,
                origin: spec,
                page,
            });
        }
    }

    /// The next page of a visit, by internal navigation.
    fn navigate(&mut self) -> Page {
        let r = self.rng.random::<f64>();
        if r < 0.6 {
            self.site.popular_article(&mut self.rng)
        } else if r < 0.74 {
            Page::Category(self.rng.random_range(0..CATEGORIES.len() as u8))
        } else if r < 0.86 {
            Page::Home
        } else if r < 0.95 {
            Page::Pricing
        } else if r < 0.98 {
            Page::About
        } else {
            Page::Newsletter
        }
    }

    fn simulate_bot(&mut self, visit: u64, start_ms: i64) {
        let (ua, screen) = BOT_UAS[self.rng.random_range(0..BOT_UAS.len())];
        let ip = PersonTraits::of(self.cfg.seed ^ 0xB07, self.rng.random::<u64>()).ip();
        let ctx = VisitCtx {
            visit,
            ua,
            ip,
            screen,
            tg: false,
            bot: true,
            truth: Truth {
                channel: "bot",
                group: ChannelGroup::Direct,
                parent_visit: None,
                parent_token: None,
                generation: 0,
                via: None,
            },
        };
        let n = self.rng.random_range(1..=4);
        let mut t = start_ms;
        for i in 0..n {
            let page = if self.rng.random_bool(0.2) {
                Page::Home
            } else {
                Page::Article(self.rng.random_range(0..self.site.articles.len() as u32))
            };
            let url = self.site.url(page, "");
            self.push(t, ctx.hit(t, "pageview", url, None, i == 0));
            t += self.rng.random_range(1_000..20_000);
        }
    }

    /// Decide what the browser shows of `origin`: referrer, in-app UA, Telegram flag and
    /// the landing query (written into `self.query`).
    fn observe(&mut self, spec: &OriginSpec, platform: Platform, at_ms: i64) -> Look {
        let origin = spec.origin;
        let rng = &mut self.rng;
        let q = &mut self.query;
        let phone = matches!(platform, Platform::Ios | Platform::Android);
        let android = platform == Platform::Android;
        let pick = |pair: (&'static str, &'static str)| -> Option<&'static str> {
            Some(if android { pair.1 } else { pair.0 })
        };
        let mut look = Look {
            referrer: None,
            ua: None,
            tg: false,
            truth_channel: spec.channel,
        };
        let r = rng.random::<f64>();
        let referrer: Option<&'static str> = match origin {
            Origin::WhatsApp => match platform {
                Platform::Android if r < 0.4 => Some("android-app://com.whatsapp/"),
                Platform::Desktop if r < 0.5 => Some("https://web.whatsapp.com/"),
                _ => None,
            },
            Origin::Telegram => match platform {
                Platform::Android if r < 0.3 => Some("android-app://org.telegram.messenger/"),
                Platform::Android | Platform::Ios if r < 0.75 => {
                    look.tg = true;
                    look.ua = pick(inapp::TELEGRAM_WEBVIEW);
                    None
                }
                Platform::Desktop if r < 0.3 => Some("https://web.telegram.org/"),
                _ => None,
            },
            Origin::Messenger => {
                if rng.random_bool(0.3) {
                    push_click_id(rng, q, "fbclid", "IwAR", 40);
                }
                if phone && r < 0.7 {
                    look.ua = pick(inapp::MESSENGER);
                    match rng.random_range(0..10) {
                        0..=2 => Some("https://l.messenger.com/"),
                        3 if android => Some("android-app://com.facebook.orca/"),
                        _ => None,
                    }
                } else if !phone && r < 0.4 {
                    Some("https://www.messenger.com/")
                } else if !phone && r < 0.7 {
                    Some("https://l.messenger.com/")
                } else {
                    None
                }
            }
            Origin::Sms => {
                if r < 0.25 {
                    let campaign =
                        ["spring-sale", "renewal-reminder", "welcome"][rng.random_range(0..3)];
                    push_param(q, "utm_source", "sms");
                    push_param(q, "utm_medium", "sms");
                    push_param(q, "utm_campaign", campaign);
                }
                None
            }
            Origin::Slack => match platform {
                Platform::Android if r < 0.4 => Some("android-app://com.slack/"),
                Platform::Desktop | Platform::Tablet if r < 0.5 => Some("https://app.slack.com/"),
                _ => None,
            },
            Origin::Teams => {
                if r < 0.45 {
                    Some("https://statics.teams.cdn.office.net/")
                } else if r < 0.7 {
                    Some("https://teams.microsoft.com/")
                } else {
                    None
                }
            }
            Origin::Signal | Origin::CopiedLink | Origin::Typed | Origin::Bookmark => None,
            Origin::Discord => (r < 0.6).then_some("https://discord.com/"),
            Origin::WeChat => {
                if phone {
                    look.ua = pick(inapp::WECHAT);
                }
                None
            }
            Origin::Line => {
                if phone {
                    look.ua = pick(inapp::LINE);
                }
                (android && r < 0.2).then_some("android-app://jp.naver.line.android/")
            }
            Origin::Viber => (android && r < 0.4).then_some("android-app://com.viber.voip/"),
            Origin::Snapchat => {
                if phone && r < 0.85 {
                    look.ua = pick(inapp::SNAPCHAT);
                    None
                } else {
                    (android && r < 0.95).then_some("android-app://com.snapchat.android/")
                }
            }
            Origin::Newsletter => {
                push_param(q, "utm_source", "newsletter");
                push_param(q, "utm_medium", "email");
                let date = DateTime::<Utc>::from_timestamp_millis(at_ms).unwrap_or_default();
                let week = date.iso_week();
                let _ = write!(
                    q,
                    "&utm_campaign=weekly-{}-w{:02}",
                    week.year(),
                    week.week()
                );
                if rng.random_bool(0.5) {
                    push_click_id(rng, q, "mc_cid", "", 10);
                    push_click_id(rng, q, "mc_eid", "", 10);
                }
                match platform {
                    Platform::Desktop if r < 0.2 => Some("https://mail.google.com/"),
                    Platform::Desktop if r < 0.25 => Some("https://outlook.live.com/"),
                    Platform::Android if r < 0.15 => Some("android-app://com.google.android.gm/"),
                    _ => None,
                }
            }
            Origin::PersonalEmail => match platform {
                Platform::Desktop | Platform::Tablet => match r {
                    r if r < 0.4 => Some("https://mail.google.com/"),
                    r if r < 0.55 => Some("https://outlook.live.com/"),
                    r if r < 0.65 => Some("https://outlook.office.com/"),
                    r if r < 0.7 => Some("https://mail.yahoo.com/"),
                    r if r < 0.73 => Some("https://mail.proton.me/"),
                    r if r < 0.76 => Some("https://deref-gmx.net/"),
                    _ => None,
                },
                Platform::Android => match r {
                    r if r < 0.45 => Some("android-app://com.google.android.gm/"),
                    r if r < 0.55 => Some("android-app://com.microsoft.office.outlook/"),
                    _ => None,
                },
                Platform::Ios => (r < 0.1).then_some("https://mail.google.com/"),
            },
            Origin::Facebook | Origin::FacebookAds => {
                if origin == Origin::FacebookAds {
                    push_param(q, "utm_source", "facebook");
                    push_param(q, "utm_medium", "paid_social");
                    push_param(q, "utm_campaign", "retargeting-q2");
                }
                if origin == Origin::FacebookAds || rng.random_bool(0.85) {
                    push_click_id(rng, q, "fbclid", "IwAR", 40);
                }
                if phone && r < 0.75 {
                    look.ua = pick(inapp::FACEBOOK);
                    match rng.random_range(0..10) {
                        0..=3 => Some("https://m.facebook.com/"),
                        4..=5 if android => Some("android-app://com.facebook.katana/"),
                        _ => None,
                    }
                } else if phone {
                    Some("https://lm.facebook.com/")
                } else if r < 0.6 {
                    Some("https://l.facebook.com/")
                } else {
                    Some("https://www.facebook.com/")
                }
            }
            Origin::Instagram => {
                if rng.random_bool(0.7) {
                    push_click_id(rng, q, "fbclid", "PAZXh0bgNhZW0CMTEAAa", 40);
                }
                if phone && r < 0.8 {
                    look.ua = pick(inapp::INSTAGRAM);
                    rng.random_bool(0.4).then_some("https://l.instagram.com/")
                } else if phone {
                    Some("https://l.instagram.com/")
                } else {
                    Some("https://www.instagram.com/")
                }
            }
            Origin::Threads => {
                if phone {
                    look.ua = pick(inapp::THREADS);
                }
                (r < 0.5).then_some("https://l.threads.net/")
            }
            Origin::X => {
                if rng.random_bool(0.1) {
                    push_click_id(rng, q, "twclid", "2-", 30);
                }
                if r < 0.88 {
                    Some("https://t.co/")
                } else {
                    Some("https://x.com/")
                }
            }
            Origin::LinkedIn => {
                if platform == Platform::Ios && r < 0.4 {
                    look.ua = pick(inapp::LINKEDIN);
                    None
                } else if android && r < 0.3 {
                    Some("android-app://com.linkedin.android/")
                } else if r < 0.75 {
                    Some("https://www.linkedin.com/")
                } else {
                    Some("https://lnkd.in/")
                }
            }
            Origin::Reddit => match r {
                r if r < 0.7 => Some("https://www.reddit.com/"),
                r if r < 0.9 => Some("https://out.reddit.com/"),
                _ => Some("https://old.reddit.com/"),
            },
            Origin::HackerNews => Some("https://news.ycombinator.com/"),
            Origin::TikTok => {
                if phone && r < 0.85 {
                    look.ua = pick(inapp::TIKTOK);
                    None
                } else {
                    Some("https://www.tiktok.com/")
                }
            }
            Origin::Google => {
                if phone && r < 0.1 {
                    look.ua = pick(inapp::GOOGLE_APP);
                }
                if android && r > 0.8 {
                    Some("android-app://com.google.android.googlequicksearchbox/")
                } else {
                    match rng.random_range(0..20) {
                        0 => Some("https://www.google.fr/"),
                        1 => Some("https://www.google.de/"),
                        2 => Some("https://www.google.co.uk/"),
                        _ => Some("https://www.google.com/"),
                    }
                }
            }
            Origin::Bing => Some("https://www.bing.com/"),
            Origin::DuckDuckGo => Some("https://duckduckgo.com/"),
            Origin::Ecosia => Some("https://www.ecosia.org/"),
            Origin::ChatGpt => {
                if r < 0.8 {
                    push_param(q, "utm_source", "chatgpt.com");
                }
                rng.random_bool(0.7).then_some("https://chatgpt.com/")
            }
            Origin::Perplexity => Some("https://www.perplexity.ai/"),
            Origin::Gemini => Some("https://gemini.google.com/"),
            Origin::Claude => Some("https://claude.ai/"),
            Origin::Copilot => Some("https://copilot.microsoft.com/"),
            Origin::GoogleAds => {
                if r < 0.5 {
                    push_param(q, "utm_source", "google");
                    push_param(q, "utm_medium", "cpc");
                    let campaign = ["brand", "dark-social-analytics", "plausible-alternative"]
                        [rng.random_range(0..3)];
                    push_param(q, "utm_campaign", campaign);
                }
                push_click_id(rng, q, "gclid", "Cj0KCQjw", 72);
                Some("https://www.google.com/")
            }
            Origin::MicrosoftAds => {
                push_param(q, "utm_source", "bing");
                push_param(q, "utm_medium", "cpc");
                push_click_id(rng, q, "msclkid", "", 32);
                Some("https://www.bing.com/")
            }
            Origin::Blog => {
                let (origin_url, host, paths) = BLOGS[rng.random_range(0..BLOGS.len())];
                look.truth_channel = host;
                if r < 0.3 {
                    let path = paths[rng.random_range(0..paths.len())];
                    look.referrer = Some(format!("{}{}", origin_url.trim_end_matches('/'), path));
                    return look;
                }
                Some(origin_url)
            }
        };
        look.referrer = referrer.map(str::to_string);
        look
    }
}

impl Iterator for Generator {
    type Item = SyntheticHit;

    fn next(&mut self) -> Option<SyntheticHit> {
        if self.cfg.max_hits.is_some_and(|m| self.emitted >= m) {
            return None;
        }
        loop {
            let next_start = self.next_start();
            let ready = match (self.pending.peek(), &next_start) {
                (Some(p), Some((s, _))) => p.ts_ms <= *s,
                (Some(_), None) => true,
                (None, None) => return None,
                (None, Some(_)) => false,
            };
            if ready {
                let p = self.pending.pop()?;
                self.free.push(p.slot);
                self.emitted += 1;
                return self.slab[p.slot].take();
            }
            match next_start {
                Some((_, NextVisit::Share)) => {
                    if let Some(a) = self.arrivals.pop() {
                        self.simulate_share(a);
                    }
                }
                Some((_, NextVisit::Slot)) => {
                    let (at, kind) = self.slots[self.slot_pos];
                    self.slot_pos += 1;
                    self.simulate(at, kind);
                }
                None => return None,
            }
        }
    }
}

impl VisitCtx {
    /// A hit of this visit, without props or revenue.
    fn hit(
        &self,
        ts_ms: i64,
        name: &str,
        url: String,
        referrer: Option<String>,
        entry: bool,
    ) -> SyntheticHit {
        SyntheticHit {
            ts: DateTime::<Utc>::from_timestamp_millis(ts_ms).unwrap_or_default(),
            name: name.to_string(),
            url,
            referrer,
            user_agent: self.ua.to_string(),
            ip: self.ip.clone(),
            screen_width: self.screen,
            telegram_webview: self.tg,
            props: Vec::new(),
            revenue: None,
            token: None,
            share_channel: None,
            visit: self.visit,
            entry,
            bot: self.bot,
            truth: self.truth,
        }
    }
}

fn prop(key: &str, value: &str) -> (String, String) {
    (key.to_string(), value.to_string())
}

// ---------------------------------------------------------------------------------------
// People
// ---------------------------------------------------------------------------------------

/// A simulated person's stable traits, derived from (seed, person id) without storage.
struct PersonTraits {
    ip: [u8; 4],
    ios: bool,
    desktop_ua: usize,
    phone_ua: usize,
    desktop_w: u16,
    phone_w: u16,
    tablet_w: u16,
}

impl PersonTraits {
    fn of(seed: u64, person: u64) -> PersonTraits {
        let mut s = seed ^ person.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let a = splitmix64(&mut s);
        let b = splitmix64(&mut s);
        let pick = |x: u64, xs: &[u16]| xs[(x % xs.len() as u64) as usize];
        let ios = a % 100 < 45;
        let phone_w = if ios {
            pick(b >> 16, &[390, 393, 375, 430, 414, 428])
        } else {
            pick(b >> 16, &[360, 384, 412, 393, 360, 412])
        };
        PersonTraits {
            ip: [
                IP_FIRST_OCTETS[((a >> 8) % IP_FIRST_OCTETS.len() as u64) as usize],
                (a >> 16) as u8,
                (a >> 24) as u8,
                1 + ((a >> 32) % 254) as u8,
            ],
            ios,
            // Chrome on Windows (the first three) weighs more than the rest.
            desktop_ua: {
                let x = (b % 16) as usize;
                if x < 5 {
                    x % 3
                } else {
                    x % DESKTOP_UAS.len()
                }
            },
            phone_ua: ((b >> 8) % 5) as usize,
            desktop_w: pick(b >> 32, &[1920, 1920, 1536, 1366, 1440, 2560, 1280, 1680]),
            phone_w,
            tablet_w: pick(b >> 48, &[810, 820, 768, 1024, 800]),
        }
    }

    fn ip(&self) -> String {
        let mut s = String::with_capacity(15);
        for (i, &octet) in self.ip.iter().enumerate() {
            if i > 0 {
                s.push('.');
            }
            if octet >= 100 {
                s.push(char::from(b'0' + octet / 100));
            }
            if octet >= 10 {
                s.push(char::from(b'0' + octet / 10 % 10));
            }
            s.push(char::from(b'0' + octet % 10));
        }
        s
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Standard normal (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Poisson draw: exact (Knuth) for small means, normal approximation above 30.
fn poisson(rng: &mut StdRng, lambda: f64) -> u64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0;
    }
    if lambda < 30.0 {
        let limit = (-lambda).exp();
        let mut k = 0;
        let mut p = rng.random::<f64>();
        while p > limit {
            k += 1;
            p *= rng.random::<f64>();
        }
        k
    } else {
        (lambda + lambda.sqrt() * normal(rng)).round().max(0.0) as u64
    }
}

fn log_uniform(rng: &mut StdRng, lo: f64, hi: f64) -> f64 {
    (lo.ln() + rng.random::<f64>() * (hi.ln() - lo.ln())).exp()
}

/// Append `key=value` to a query string being built (`?` first, then `&`).
fn push_param(q: &mut String, key: &str, value: &str) {
    q.push(if q.is_empty() { '?' } else { '&' });
    q.push_str(key);
    q.push('=');
    q.push_str(value);
}

/// Append a click id with a random URL-safe value: `prefix` + `len` random characters.
fn push_click_id(rng: &mut StdRng, q: &mut String, key: &str, prefix: &str, len: usize) {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    push_param(q, key, prefix);
    for _ in 0..len {
        q.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poisson_mean_is_lambda() {
        let mut rng = StdRng::seed_from_u64(3);
        for lambda in [0.5, 4.0, 29.0, 250.0] {
            let n = 20_000;
            let mean = (0..n)
                .map(|_| poisson(&mut rng, lambda) as f64)
                .sum::<f64>()
                / n as f64;
            assert!(
                (mean - lambda).abs() < lambda * 0.03 + 0.05,
                "{lambda}: {mean}"
            );
        }
        assert_eq!(poisson(&mut rng, 0.0), 0);
    }

    #[test]
    fn origin_table_is_consistent() {
        for o in ORIGINS {
            assert!(o.weight >= 0.0 && o.viral >= 0.0);
            assert!((0.0..=1.0).contains(&o.mobile));
            let LandingMix(h, p, c) = o.landing;
            assert!(h + p + c <= 1.0);
            assert_ne!(o.group, ChannelGroup::EstimatedDark);
        }
    }

    fn path_of(url: &str) -> String {
        crate::url_clean::clean_url(url)
            .map(|u| u.path)
            .unwrap_or_default()
    }

    /// The share graph of 60 days of traffic: every child's parent (and the hit that
    /// minted its token) came before it, generations add up, the token is in the child's
    /// URL, the truth matches the button, and cascades have the intended shape.
    #[test]
    fn share_cascades_are_consistent() {
        use crate::cascade::{self, EdgeRow, VisitRow};
        use crate::token::{share_button, VIA_ADDRESS_BAR};
        use std::collections::HashMap;

        let start = DateTime::<Utc>::from_timestamp(1_709_510_400, 0).unwrap_or_default();
        let mut cfg = SynthConfig::new("example.com", start, 60, 1_500);
        cfg.seed = 11;
        cfg.shares = true;
        let hits: Vec<SyntheticHit> = Generator::new(cfg.clone()).collect();
        assert_eq!(
            &hits[..5_000],
            &Generator::new(cfg.clone()).take(5_000).collect::<Vec<_>>()[..],
            "deterministic"
        );

        let mut minted: HashMap<u64, usize> = HashMap::new();
        let mut entry_of: HashMap<u64, usize> = HashMap::new();
        let mut buttons: HashSet<&str> = HashSet::new();
        let mut edges: Vec<EdgeRow> = Vec::new();
        let mut roots: Vec<VisitRow> = Vec::new();
        let mut max_generation = 0;
        for (i, h) in hits.iter().enumerate() {
            // Tokens: every pageview and share event mints a unique one, nothing else.
            match (h.name.as_str(), h.token) {
                ("pageview" | "share", Some(t)) => {
                    assert_ne!(t, 0);
                    assert!(minted.insert(t, i).is_none(), "token minted twice");
                }
                ("pageview" | "share", None) => panic!("{} without a token", h.name),
                (_, t) => assert_eq!(t, None, "{}", h.name),
            }
            if h.name == "share" {
                let button = h.share_channel.expect("a share has its button");
                assert!(share_button(button).is_some(), "{button}");
                assert_eq!(h.props, vec![prop("channel", button)]);
                assert!(!h.entry);
                buttons.insert(button);
                // Sent from the address bar the tracker tagged with the page's own token.
                let own = crate::url_clean::clean_url(&h.url)
                    .ok()
                    .and_then(|u| u.token)
                    .and_then(|t| Token::parse(&t))
                    .expect("the share's page carries its visit token");
                let view = &hits[minted[&own.bits()]];
                assert_eq!((view.visit, view.name.as_str()), (h.visit, "pageview"));
            } else {
                assert_eq!(h.share_channel, None);
            }
            if !h.entry {
                continue;
            }
            entry_of.insert(h.visit, i);
            let arrival = crate::url_clean::clean_url(&h.url)
                .ok()
                .and_then(|u| u.token);
            let Some(parent) = h.truth.parent_visit else {
                assert_eq!(
                    (h.truth.generation, h.truth.parent_token, h.truth.via),
                    (0, None, None)
                );
                assert_eq!(arrival, None);
                roots.push(VisitRow {
                    session: h.visit,
                    ts: h.ts,
                    entry_page: path_of(&h.url),
                    channel: h.truth.channel.to_string(),
                    generation: 0,
                });
                continue;
            };
            let token = h.truth.parent_token.expect("a child knows its token");
            assert_eq!(
                arrival.as_deref().and_then(Token::parse),
                Token::from_bits(token),
                "the landing URL carries the token"
            );
            // The hit that minted the token, and the parent's landing, came first.
            let &m = minted.get(&token).expect("minted before the child arrived");
            let mint = &hits[m];
            assert_eq!(mint.visit, parent);
            assert!(mint.ts < h.ts);
            let &p = entry_of.get(&parent).expect("parent visit generated first");
            let parent_entry = &hits[p];
            assert_eq!(h.truth.generation, parent_entry.truth.generation + 1);
            assert!(h.truth.generation <= MAX_GENERATION);
            max_generation = max_generation.max(h.truth.generation);
            assert_ne!(h.ip, mint.ip, "someone else opens the link");
            // The child lands on the page that was shared.
            assert_eq!(path_of(&h.url), path_of(&mint.url));
            let via = h.truth.via.expect("a child knows how the link travelled");
            if mint.name == "share" {
                assert_eq!(Some(via), mint.share_channel);
                // A button that names an app: the visit truly comes from that app.
                if let Some(app) = share_button(via).and_then(|b| b.channel.as_deref()) {
                    assert_eq!(h.truth.channel, app, "{via}");
                }
            } else {
                assert_eq!((mint.name.as_str(), via), ("pageview", VIA_ADDRESS_BAR));
                assert!(matches!(
                    h.truth.group,
                    ChannelGroup::PrivateMessage | ChannelGroup::Email
                ));
            }
            edges.push(EdgeRow {
                session: h.visit,
                parent_session: parent,
                parent_token: token,
                generation: h.truth.generation,
                ts: h.ts,
                landing_page: path_of(&h.url),
                channel: h.truth.channel.to_string(),
                share_channel: via.to_string(),
            });
        }
        // Every button is used; copied addresses travel too.
        assert_eq!(
            buttons.len(),
            crate::rules::ShareButtons::builtin().all().len(),
            "{buttons:?}"
        );
        assert!(edges.iter().any(|e| e.share_channel == VIA_ADDRESS_BAR));

        // Volume: share-visits are a minority of visits, but not a rare one.
        let visits = entry_of.len();
        let share_visits = edges.len();
        let ratio = share_visits as f64 / visits as f64;
        assert!((0.04..0.3).contains(&ratio), "{share_visits} of {visits}");

        // Shape, through core::cascade: every edge in one cascade, depth = generation,
        // most cascades tiny, a few large, the deepest 4–6 generations.
        let cs = cascade::build(&edges, &roots);
        assert_eq!(cs.iter().map(|c| c.size).sum::<usize>(), share_visits);
        assert!(cs.iter().all(|c| !c.is_fragment()));
        for c in &cs {
            for n in &c.nodes {
                assert_eq!(u32::from(n.generation), n.depth);
            }
        }
        let depth = cs.iter().map(|c| c.depth).max().unwrap_or(0);
        assert_eq!(depth, u32::from(max_generation));
        assert!((4..=u32::from(MAX_GENERATION)).contains(&depth), "{depth}");
        let tiny = cs.iter().filter(|c| c.size <= 2).count();
        assert!(
            tiny as f64 / cs.len() as f64 > 0.6,
            "{tiny} of {}",
            cs.len()
        );
        let largest = cs.first().map_or(0, |c| c.size);
        assert!(largest >= 30, "{largest}");
        eprintln!(
            "{visits} visits, {share_visits} share-visits, {} cascades ({tiny} of size <= 2), largest {largest}, depth {depth}",
            cs.len()
        );
    }

    #[test]
    fn no_tokens_without_the_share_model() {
        let start = DateTime::<Utc>::from_timestamp(1_709_510_400, 0).unwrap_or_default();
        let hits: Vec<_> = Generator::new(SynthConfig::new("example.com", start, 5, 800)).collect();
        assert!(hits.len() > 1_000);
        assert!(hits.iter().all(|h| h.token.is_none()
            && h.share_channel.is_none()
            && h.name != "share"
            && h.truth.parent_visit.is_none()
            && !h.url.contains("lc=")));
    }

    /// Every survey text says what the table means: texts of an option map to it by the
    /// keyword rules, texts given with `other` and vague ones map to nothing.
    #[test]
    fn survey_texts_map_as_intended() {
        use crate::survey::SurveyRules;
        let rules = SurveyRules::builtin();
        let mapped = |t: &str| rules.map_text(t).map(|o| o.id.as_str());
        for spec in ORIGINS {
            let intents = survey_intents(spec.origin);
            assert!(!intents.is_empty());
            for &(id, text, w) in intents {
                assert!(w > 0.0);
                assert!(rules.option(id).is_some(), "{id}");
                let want = (id != OTHER_ANSWER).then_some(id);
                assert_eq!(mapped(text), want, "{:?}: {text}", spec.origin);
            }
        }
        for (id, texts) in SURVEY_TEXTS {
            assert!(rules.option(id).is_some(), "{id}");
            for t in *texts {
                assert_eq!(mapped(t), Some(*id), "{t}");
            }
        }
        for t in SURVEY_VAGUE {
            assert_eq!(mapped(t), None, "{t}");
        }
        assert!(rules.option(OTHER_ANSWER).is_some_and(|o| o.free_text));
    }

    #[test]
    fn site_paths_are_unique() {
        let site = Site::build("example.com", 500, 9);
        let paths: HashSet<&str> = site.articles.iter().map(|a| a.path.as_str()).collect();
        assert_eq!(paths.len(), 500);
        assert!(paths.iter().all(|p| p.starts_with('/') && p.len() > 3));
    }
}
