//! What a link is made of when someone creates or edits one (`LinkBody`: the API's JSON
//! body, the dashboard's form and the CLI's flags all fill it), and the one check that
//! turns it into a store `LinkInput` ([`build_input`]). Refusals are `LinkError`s, not
//! HTTP answers.

use chrono::{DateTime, Utc};
use lucarne_core::links::{
    check_channel, check_domain, check_redirect, check_slug, check_target, LinkError, LinkUtm,
};
use lucarne_store::meta::LinkInput;
use serde::Deserialize;

/// What a client sends to create or edit a link. On edit, absent fields keep their value.
#[derive(Debug, Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    pub site_id: Option<String>,
    pub url: Option<String>,
    pub slug: Option<String>,
    pub domain: Option<String>,
    pub channel: Option<String>,
    pub campaign: Option<String>,
    pub utm_source: Option<String>,
    pub utm_medium: Option<String>,
    pub utm_term: Option<String>,
    pub utm_content: Option<String>,
    pub redirect: Option<u16>,
    /// RFC 3339, or null to remove.
    #[serde(default, with = "double_option")]
    pub expires_at: Option<Option<String>>,
    #[serde(default, with = "double_option")]
    pub max_clicks: Option<Option<u64>>,
    pub disabled: Option<bool>,
}

/// `absent` → None, `null` → Some(None), value → Some(Some(v)).
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Apply `body` over `base` (an existing link's input, or defaults) and validate the
/// result: the one place links are checked (API, dashboard and CLI). The refusal is a
/// plain [`LinkError`]: the API answers it as a 400 (`error.rs`), the CLI prints it.
pub fn build_input(
    rules: &lucarne_core::rules::Rules,
    allow_private: bool,
    base: LinkInput,
    body: &LinkBody,
) -> Result<LinkInput, LinkError> {
    let mut l = base;
    if let Some(u) = &body.url {
        l.target = check_target(u, allow_private)?.to_string();
    } else if l.target.is_empty() {
        return Err(LinkError::MissingUrl);
    }
    if let Some(s) = &body.slug {
        check_slug(s.trim())?;
        l.slug = s.trim().to_string();
    }
    if let Some(d) = &body.domain {
        l.domain = check_domain(d)?;
    }
    let channel_changed = body.channel.is_some();
    if let Some(c) = &body.channel {
        let c = c.trim().to_ascii_lowercase();
        check_channel(rules, &c)?;
        l.channel = c;
    }
    let campaign = body
        .campaign
        .clone()
        .unwrap_or_else(|| l.utm_campaign.clone());
    // The UTM builder: a channel fills utm_source/medium unless they are given.
    let built = LinkUtm::for_channel(&l.channel, campaign.trim());
    if channel_changed || l.utm_source.is_empty() {
        l.utm_source = built.source.clone();
    }
    if channel_changed || l.utm_medium.is_empty() {
        l.utm_medium = built.medium.clone();
    }
    l.utm_campaign = built.campaign;
    if let Some(v) = &body.utm_source {
        l.utm_source = v.trim().to_string();
    }
    if let Some(v) = &body.utm_medium {
        l.utm_medium = v.trim().to_string();
    }
    if let Some(v) = &body.utm_term {
        l.utm_term = v.trim().to_string();
    }
    if let Some(v) = &body.utm_content {
        l.utm_content = v.trim().to_string();
    }
    LinkUtm {
        source: l.utm_source.clone(),
        medium: l.utm_medium.clone(),
        campaign: l.utm_campaign.clone(),
        term: l.utm_term.clone(),
        content: l.utm_content.clone(),
    }
    .check()?;
    if let Some(r) = body.redirect {
        l.redirect = check_redirect(r)?;
    }
    if l.redirect == 0 {
        l.redirect = 302;
    }
    if let Some(e) = &body.expires_at {
        l.expires_at = match e {
            None => None,
            Some(t) => Some(
                DateTime::parse_from_rfc3339(t.trim())
                    .map_err(|_| LinkError::BadExpiry)?
                    .with_timezone(&Utc),
            ),
        };
    }
    if let Some(m) = body.max_clicks {
        l.max_clicks = m;
    }
    if let Some(d) = body.disabled {
        l.disabled = d;
    }
    Ok(l)
}
