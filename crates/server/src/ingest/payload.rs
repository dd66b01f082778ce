//! The wire payload of `POST /api/event`: Lucarne's short keys and Plausible's long ones.

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
pub struct Payload {
    #[serde(alias = "n")]
    pub name: Option<String>,
    #[serde(alias = "u")]
    pub url: Option<String>,
    #[serde(alias = "d")]
    pub domain: Option<String>,
    #[serde(alias = "r")]
    pub referrer: Option<String>,
    #[serde(alias = "w")]
    pub screen_width: Option<Value>,
    #[serde(alias = "p", alias = "m", alias = "meta")]
    pub props: Option<Value>,
    #[serde(alias = "$")]
    pub revenue: Option<Value>,
    #[serde(default)]
    pub tg: Option<Value>,
    #[serde(alias = "h", alias = "hashMode")]
    pub hash_mode: Option<Value>,
    /// The token this event mints (`core::token`): a pageview's visit token, a share or
    /// copy event's share token.
    #[serde(alias = "t")]
    pub token: Option<Value>,
    /// An `engagement` event's scroll depth, in percent.
    #[serde(alias = "sd")]
    pub scroll_depth: Option<Value>,
    /// An `engagement` event's time in the foreground, in milliseconds.
    #[serde(alias = "e")]
    pub engagement_time: Option<Value>,
}

/// Truthy in the loose way trackers send flags (`1`, `true`, `"1"`).
pub fn truthy(v: &Option<Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|x| x != 0.0),
        Some(Value::String(s)) => s == "1" || s == "true",
        _ => false,
    }
}
