//! Sending what the outbox holds: e-mails through `mail::Mailer`, webhook calls through
//! the guarded client of the preview cards (the host resolved and checked against the
//! private ranges on every call, unless private targets are allowed; no cookies; a time
//! limit). A failure is tried again after 1, 2, 4 … minutes, [`MAX_ATTEMPTS`] times in
//! all; a receiver's 4xx (other than 408 and 429) is final. Sending is at least once (an
//! answer lost in a time-out or a crash means another try); every try of a webhook call
//! carries the same [`DELIVERY_HEADER`] for receivers to drop repeats.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, Method};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use hyper::body::Bytes;
use lucarne_store::meta::{Channel, Delivery};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;
use crate::previews::cards::fetch::{FetchError, Guard};
use crate::state::AppState;

/// Tries of one delivery before it is given up.
pub const MAX_ATTEMPTS: u32 = 8;
/// Deliveries one round sends at most (the rest wait for the next round).
const PER_ROUND: i64 = 200;
/// How long a node holds the deliveries it took before another may take them.
const LEASE: chrono::Duration = chrono::Duration::minutes(5);
/// Longest a webhook receiver may take.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// The signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub const SIGNATURE_HEADER: &str = "lucarne-signature";
/// The delivery's id, the same on every try: receivers drop a call they already had
/// (a try whose answer was lost is tried again).
pub const DELIVERY_HEADER: &str = "lucarne-delivery";

/// What an e-mail delivery carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Email {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// The subscription's unsubscribe link (also in the headers).
    pub unsubscribe: Option<String>,
}

/// What one round of sending did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

/// Why a delivery did not go out.
#[derive(Debug)]
struct Failure {
    message: String,
    /// Trying again cannot help.
    permanent: bool,
}

impl Failure {
    fn retry(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            permanent: false,
        }
    }

    fn permanent(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            permanent: true,
        }
    }
}

/// `t=…,v1=…` for `body` sent at `t` (unix seconds) with `secret`.
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length: `new_from_slice` cannot fail for it.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// When to try again after `attempts` tries (1, 2, 4 … minutes), or `None` to give up.
pub fn retry_at(now: DateTime<Utc>, attempts: u32) -> Option<DateTime<Utc>> {
    (attempts < MAX_ATTEMPTS)
        .then(|| now + chrono::Duration::minutes(1_i64 << attempts.min(20).saturating_sub(1)))
}

/// Send the deliveries due at `now`.
pub async fn send_due(state: &Arc<AppState>, now: DateTime<Utc>) -> Result<Sent, ApiError> {
    let mut out = Sent::default();
    for d in state.meta.claim_deliveries(now, LEASE, PER_ROUND).await? {
        let result = match d.channel {
            Channel::Email => send_email(state, &d).await,
            Channel::Webhook => send_webhook(state, &d, Utc::now()).await,
        };
        let channel = d.channel.as_str();
        match result {
            Ok(()) => {
                state.meta.delivery_sent(d.id, Utc::now()).await?;
                state.metrics.delivery(channel, "sent");
                out.sent += 1;
            }
            Err(f) => {
                let tries = d.attempts + 1;
                let again = if f.permanent {
                    None
                } else {
                    retry_at(now, tries)
                };
                state.meta.delivery_failed(d.id, &f.message, again).await?;
                tracing::warn!(
                    message = "A notification was not delivered.",
                    site_id = d.site_id,
                    channel,
                    kind = %d.kind,
                    attempts = tries,
                    retry = again.is_some(),
                    error = %f.message
                );
                if again.is_some() {
                    state.metrics.delivery(channel, "retry");
                    out.retried += 1;
                } else {
                    state.metrics.delivery(channel, "failed");
                    out.failed += 1;
                }
            }
        }
    }
    Ok(out)
}

async fn send_email(state: &AppState, d: &Delivery) -> Result<(), Failure> {
    let mailer = state
        .mailer
        .as_ref()
        .ok_or_else(|| Failure::permanent("no SMTP server is configured (--smtp-url)"))?;
    let e: Email = serde_json::from_str(&d.payload)
        .map_err(|e| Failure::permanent(format!("stored e-mail: {e}")))?;
    mailer
        .send_alternative(
            &d.target,
            &e.subject,
            e.text,
            e.html,
            e.unsubscribe.as_deref(),
        )
        .await
        .map_err(|e| match e {
            crate::mail::MailError::Send(m) => Failure::retry(m),
            other => Failure::permanent(other.to_string()),
        })
}

async fn send_webhook(state: &AppState, d: &Delivery, now: DateTime<Utc>) -> Result<(), Failure> {
    let id: i64 = d
        .target
        .parse()
        .map_err(|_| Failure::permanent("bad webhook id"))?;
    let hook = state
        .meta
        .webhook(id)
        .await
        .map_err(|e| Failure::retry(e.to_string()))?
        .filter(|h| h.site_id == d.site_id)
        .ok_or_else(|| Failure::permanent("the webhook was deleted"))?;
    let url = url::Url::parse(&hook.url).map_err(|e| Failure::permanent(format!("URL: {e}")))?;
    let guard = Guard {
        allow_private: state.allow_private_targets,
        options: state.card_fetch.clone(),
    };
    let sig = signature(&hook.secret, now.timestamp(), d.payload.as_bytes());
    let delivery = d.id.to_string();
    let headers = [
        (header::CONTENT_TYPE, "application/json"),
        (header::USER_AGENT, "Lucarne-Webhook/1"),
        (
            header::HeaderName::from_static(SIGNATURE_HEADER),
            sig.as_str(),
        ),
        (
            header::HeaderName::from_static(DELIVERY_HEADER),
            delivery.as_str(),
        ),
    ];
    let answer = guard
        .send(
            &url,
            Method::POST,
            &headers,
            Bytes::from(d.payload.clone()),
            1024,
            WEBHOOK_TIMEOUT,
        )
        .await
        .map_err(|e| match e {
            FetchError::PrivateAddress { host, ip } => Failure::permanent(format!(
                "{host} is a private address ({ip}); private targets are not allowed"
            )),
            FetchError::NotHttp => Failure::permanent("not an http(s) URL"),
            FetchError::Timeout => {
                Failure::retry(format!("no answer within {} s", WEBHOOK_TIMEOUT.as_secs()))
            }
            FetchError::Dns { host } => Failure::retry(format!("{host} did not resolve")),
            FetchError::Unreachable { reason } => Failure::retry(format!("unreachable: {reason}")),
        })?;
    let status = answer.status;
    if status.is_success() {
        Ok(())
    } else if status.is_client_error() && status.as_u16() != 408 && status.as_u16() != 429 {
        Err(Failure::permanent(format!("HTTP {status}")))
    } else {
        Err(Failure::retry(format!("HTTP {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_and_back_off() {
        // The HMAC-SHA256 of "1700000000.{}" with the key "secret" (Python's hmac).
        let s = signature("secret", 1_700_000_000, b"{}");
        assert_eq!(
            s,
            "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"
        );
        assert_ne!(s, signature("other", 1_700_000_000, b"{}"));
        assert_ne!(s, signature("secret", 1_700_000_001, b"{}"));
        let now = Utc::now();
        assert_eq!(retry_at(now, 1), Some(now + chrono::Duration::minutes(1)));
        assert_eq!(retry_at(now, 2), Some(now + chrono::Duration::minutes(2)));
        assert_eq!(retry_at(now, 7), Some(now + chrono::Duration::minutes(64)));
        assert_eq!(retry_at(now, MAX_ATTEMPTS), None);
    }
}
