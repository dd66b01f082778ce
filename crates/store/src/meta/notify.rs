//! What `server::notify` keeps (issue 23): e-mail subscriptions, webhooks, the alerts
//! raised, the outbox of deliveries and the cursors of what was already sent. Shared by
//! every node: a unique `dedupe` key makes each alert and delivery happen once however
//! many nodes (or restarts) evaluate it, and a delivery is leased before it is sent.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{random_token, MetaError, MetaStore};

/// What a subscription sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubKind {
    Weekly,
    Monthly,
    Alerts,
}

impl SubKind {
    pub const ALL: [SubKind; 3] = [SubKind::Weekly, SubKind::Monthly, SubKind::Alerts];

    pub fn as_str(self) -> &'static str {
        match self {
            SubKind::Weekly => "weekly",
            SubKind::Monthly => "monthly",
            SubKind::Alerts => "alerts",
        }
    }

    pub fn parse(s: &str) -> Option<SubKind> {
        SubKind::ALL.into_iter().find(|k| k.as_str() == s.trim())
    }
}

/// One user's subscription to one site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: i64,
    pub user_id: i64,
    pub email: String,
    pub site_id: u32,
    pub kind: SubKind,
    /// `en` or `fr`.
    pub locale: String,
    /// Turns this subscription off at `/unsubscribe/{token}`, without a login.
    pub token: String,
    /// When it was made (digests cover only periods that end after it).
    pub created_at: DateTime<Utc>,
}

/// A webhook receiver of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub id: i64,
    pub site_id: u32,
    pub url: String,
    /// Signs every call (HMAC-SHA256); shown to the owner when the webhook is made.
    pub secret: String,
    /// What it receives: `alerts`, `conversions`.
    pub events: Vec<String>,
}

impl Webhook {
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

/// An alert raised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRecord {
    pub id: i64,
    pub site_id: u32,
    /// `spike` or `viral`.
    pub kind: String,
    /// The page, for `viral`.
    pub subject: String,
    /// JSON.
    pub details: String,
    pub created_at: String,
}

/// A delivery's channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    Email,
    Webhook,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Email => "email",
            Channel::Webhook => "webhook",
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Sent,
    /// Given up: out of tries, or refused for good.
    Failed,
}

impl Status {
    fn parse(s: &str) -> Status {
        match s {
            "sent" => Status::Sent,
            "failed" => Status::Failed,
            _ => Status::Pending,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sent => "sent",
            Status::Failed => "failed",
        }
    }
}

/// One e-mail or webhook call to make (the outbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub site_id: u32,
    pub channel: Channel,
    /// An e-mail address, or a webhook's id.
    pub target: String,
    /// `weekly`, `monthly`, `alert`, `conversion`, `test`.
    pub kind: String,
    pub dedupe: String,
    /// JSON: what the sender needs (subject and bodies, or the webhook's body).
    pub payload: String,
    pub status: Status,
    pub attempts: u32,
    pub next_attempt_at: String,
    pub last_error: Option<String>,
    pub created_at: String,
    pub sent_at: Option<String>,
}

/// A delivery to add to the outbox.
#[derive(Debug, Clone)]
pub struct NewDelivery<'a> {
    pub site_id: u32,
    pub channel: Channel,
    pub target: &'a str,
    pub kind: &'a str,
    pub dedupe: &'a str,
    pub payload: &'a str,
    /// Not before (quiet hours hold e-mail alerts until they end).
    pub not_before: DateTime<Utc>,
}

fn ts(t: DateTime<Utc>) -> String {
    // Fixed width, so times compare as text on both engines.
    t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn site_of(r: &AnyRow) -> Result<u32, MetaError> {
    Ok(u32::try_from(r.try_get::<i64, _>("site_id")?).unwrap_or_default())
}

fn row_to_subscription(r: &AnyRow) -> Result<Subscription, MetaError> {
    let kind: String = r.try_get("kind")?;
    Ok(Subscription {
        id: r.try_get("id")?,
        user_id: r.try_get("user_id")?,
        email: r.try_get("email")?,
        site_id: site_of(r)?,
        kind: SubKind::parse(&kind)
            .ok_or_else(|| MetaError::Invalid(format!("subscription kind `{kind}`")))?,
        locale: r.try_get("locale")?,
        token: r.try_get("token")?,
        created_at: r
            .try_get::<String, _>("created_at")?
            .parse()
            .map_err(|e| MetaError::Invalid(format!("subscription time: {e}")))?,
    })
}

fn row_to_webhook(r: &AnyRow) -> Result<Webhook, MetaError> {
    let events: String = r.try_get("events")?;
    Ok(Webhook {
        id: r.try_get("id")?,
        site_id: site_of(r)?,
        url: r.try_get("url")?,
        secret: r.try_get("secret")?,
        events: events
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect(),
    })
}

fn row_to_delivery(r: &AnyRow) -> Result<Delivery, MetaError> {
    let channel: String = r.try_get("channel")?;
    let status: String = r.try_get("status")?;
    Ok(Delivery {
        id: r.try_get("id")?,
        site_id: site_of(r)?,
        channel: if channel == "webhook" {
            Channel::Webhook
        } else {
            Channel::Email
        },
        target: r.try_get("target")?,
        kind: r.try_get("kind")?,
        dedupe: r.try_get("dedupe")?,
        payload: r.try_get("payload")?,
        status: Status::parse(&status),
        attempts: u32::try_from(r.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
    })
}

const SUBSCRIPTION: &str = "SELECT s.id, s.user_id, u.email, s.site_id, s.kind, s.locale, \
                            s.token, s.created_at FROM subscriptions s JOIN users u ON u.id = s.user_id";
const DELIVERY: &str = "SELECT id, site_id, channel, target, kind, dedupe, payload, status, \
                        attempts, next_attempt_at, last_error, created_at, sent_at FROM deliveries";

impl MetaStore {
    /// Subscribe `user_id` to `kind` for a site (again: only the language changes).
    pub async fn subscribe(
        &self,
        user_id: i64,
        site_id: u32,
        kind: SubKind,
        locale: &str,
    ) -> Result<Subscription, MetaError> {
        let locale = if locale == "fr" { "fr" } else { "en" };
        sqlx::query(
            "INSERT INTO subscriptions (user_id, site_id, kind, locale, token, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_id, site_id, kind) DO UPDATE SET locale = excluded.locale",
        )
        .bind(user_id)
        .bind(i64::from(site_id))
        .bind(kind.as_str())
        .bind(locale)
        .bind(random_token("u"))
        .bind(ts(Utc::now()))
        .execute(&self.pool)
        .await?;
        let r = sqlx::query(&format!(
            "{SUBSCRIPTION} WHERE s.user_id = $1 AND s.site_id = $2 AND s.kind = $3"
        ))
        .bind(user_id)
        .bind(i64::from(site_id))
        .bind(kind.as_str())
        .fetch_one(&self.pool)
        .await?;
        row_to_subscription(&r)
    }

    /// Remove a user's subscription; `false` if there was none.
    pub async fn unsubscribe(
        &self,
        user_id: i64,
        site_id: u32,
        kind: SubKind,
    ) -> Result<bool, MetaError> {
        let n = sqlx::query(
            "DELETE FROM subscriptions WHERE user_id = $1 AND site_id = $2 AND kind = $3",
        )
        .bind(user_id)
        .bind(i64::from(site_id))
        .bind(kind.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// The subscription an unsubscribe link names, if it still exists.
    pub async fn subscription_by_token(
        &self,
        token: &str,
    ) -> Result<Option<Subscription>, MetaError> {
        let r = sqlx::query(&format!("{SUBSCRIPTION} WHERE s.token = $1"))
            .bind(token)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(row_to_subscription).transpose()
    }

    /// Turn off the subscription an unsubscribe link names; it, if there was one.
    pub async fn unsubscribe_token(&self, token: &str) -> Result<Option<Subscription>, MetaError> {
        let Some(s) = self.subscription_by_token(token).await? else {
            return Ok(None);
        };
        sqlx::query("DELETE FROM subscriptions WHERE id = $1")
            .bind(s.id)
            .execute(&self.pool)
            .await?;
        Ok(Some(s))
    }

    /// A site's subscriptions of members who still have a role on it.
    pub async fn site_subscriptions(&self, site_id: u32) -> Result<Vec<Subscription>, MetaError> {
        let rows = sqlx::query(&format!(
            "{SUBSCRIPTION} JOIN site_members m ON m.site_id = s.site_id AND m.user_id = s.user_id \
             WHERE s.site_id = $1 ORDER BY s.id"
        ))
        .bind(i64::from(site_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_subscription).collect()
    }

    /// One user's subscriptions to a site.
    pub async fn user_subscriptions(
        &self,
        user_id: i64,
        site_id: u32,
    ) -> Result<Vec<Subscription>, MetaError> {
        let rows = sqlx::query(&format!(
            "{SUBSCRIPTION} WHERE s.user_id = $1 AND s.site_id = $2 ORDER BY s.id"
        ))
        .bind(user_id)
        .bind(i64::from(site_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_subscription).collect()
    }

    /// Sites with anything to notify: a subscription or a webhook.
    pub async fn notified_sites(&self) -> Result<Vec<u32>, MetaError> {
        let rows = sqlx::query(
            "SELECT site_id FROM subscriptions UNION SELECT site_id FROM webhooks ORDER BY 1",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(site_of).collect()
    }

    /// Add a webhook with a new random secret.
    pub async fn create_webhook(
        &self,
        site_id: u32,
        url: &str,
        events: &[&str],
    ) -> Result<Webhook, MetaError> {
        let r = sqlx::query(
            "INSERT INTO webhooks (site_id, url, secret, events, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id, site_id, url, secret, events",
        )
        .bind(i64::from(site_id))
        .bind(url)
        .bind(random_token("whsec_"))
        .bind(events.join(","))
        .bind(ts(Utc::now()))
        .fetch_one(&self.pool)
        .await?;
        row_to_webhook(&r)
    }

    pub async fn webhooks(&self, site_id: u32) -> Result<Vec<Webhook>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, site_id, url, secret, events FROM webhooks WHERE site_id = $1 ORDER BY id",
        )
        .bind(i64::from(site_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_webhook).collect()
    }

    pub async fn webhook(&self, id: i64) -> Result<Option<Webhook>, MetaError> {
        let r = sqlx::query("SELECT id, site_id, url, secret, events FROM webhooks WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(row_to_webhook).transpose()
    }

    pub async fn delete_webhook(&self, site_id: u32, id: i64) -> Result<bool, MetaError> {
        let n = sqlx::query("DELETE FROM webhooks WHERE id = $1 AND site_id = $2")
            .bind(id)
            .bind(i64::from(site_id))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Record an alert; `false` when one with the same `dedupe` key exists (another node,
    /// or an earlier round, raised it).
    pub async fn record_alert(
        &self,
        site_id: u32,
        kind: &str,
        subject: &str,
        dedupe: &str,
        details: &str,
        at: DateTime<Utc>,
    ) -> Result<bool, MetaError> {
        let n = sqlx::query(
            "INSERT INTO alerts (site_id, kind, subject, dedupe, details, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (dedupe) DO NOTHING",
        )
        .bind(i64::from(site_id))
        .bind(kind)
        .bind(subject)
        .bind(dedupe)
        .bind(details)
        .bind(ts(at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Alerts of a site raised at or after `since`, newest first (at most `limit`).
    pub async fn alerts_since(
        &self,
        site_id: u32,
        since: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<AlertRecord>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, site_id, kind, subject, details, created_at FROM alerts \
             WHERE site_id = $1 AND created_at >= $2 ORDER BY created_at DESC, id DESC LIMIT $3",
        )
        .bind(i64::from(site_id))
        .bind(ts(since))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AlertRecord {
                    id: r.try_get("id")?,
                    site_id: site_of(r)?,
                    kind: r.try_get("kind")?,
                    subject: r.try_get("subject")?,
                    details: r.try_get("details")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Add a delivery to the outbox; `false` when its `dedupe` key is there already.
    pub async fn enqueue_delivery(&self, d: &NewDelivery<'_>) -> Result<bool, MetaError> {
        let now = ts(Utc::now());
        let n = sqlx::query(
            "INSERT INTO deliveries (site_id, channel, target, kind, dedupe, payload, status, \
             attempts, next_attempt_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8) ON CONFLICT (dedupe) DO NOTHING",
        )
        .bind(i64::from(d.site_id))
        .bind(d.channel.as_str())
        .bind(d.target)
        .bind(d.kind)
        .bind(d.dedupe)
        .bind(d.payload)
        .bind(ts(d.not_before))
        .bind(now)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Take up to `limit` due deliveries for `lease` (no other node takes them until
    /// then, unless this one neither sends nor reschedules them).
    pub async fn claim_deliveries(
        &self,
        now: DateTime<Utc>,
        lease: chrono::Duration,
        limit: i64,
    ) -> Result<Vec<Delivery>, MetaError> {
        let now_s = ts(now);
        let ids: Vec<i64> = sqlx::query(
            "SELECT id FROM deliveries WHERE status = 'pending' AND next_attempt_at <= $1 \
             AND (leased_until IS NULL OR leased_until <= $1) ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(&now_s)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| r.try_get("id"))
        .collect::<Result<_, _>>()?;
        let mut out = Vec::new();
        for id in ids {
            // Only one node wins each row: the update checks the lease it saw.
            let n = sqlx::query(
                "UPDATE deliveries SET leased_until = $1 WHERE id = $2 AND status = 'pending' \
                 AND (leased_until IS NULL OR leased_until <= $3)",
            )
            .bind(ts(now + lease))
            .bind(id)
            .bind(&now_s)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if n == 1 {
                let r = sqlx::query(&format!("{DELIVERY} WHERE id = $1"))
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?;
                out.push(row_to_delivery(&r)?);
            }
        }
        Ok(out)
    }

    /// A delivery went out.
    pub async fn delivery_sent(&self, id: i64, at: DateTime<Utc>) -> Result<(), MetaError> {
        sqlx::query(
            "UPDATE deliveries SET status = 'sent', attempts = attempts + 1, sent_at = $1, \
             leased_until = NULL, last_error = NULL WHERE id = $2",
        )
        .bind(ts(at))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A delivery failed: tried again at `retry_at`, or given up when `None`.
    pub async fn delivery_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<(), MetaError> {
        let error: String = error.chars().take(500).collect();
        let (status, next) = match retry_at {
            Some(t) => ("pending", Some(ts(t))),
            None => ("failed", None),
        };
        sqlx::query(
            "UPDATE deliveries SET status = $1, attempts = attempts + 1, last_error = $2, \
             leased_until = NULL, next_attempt_at = COALESCE($3, next_attempt_at) WHERE id = $4",
        )
        .bind(status)
        .bind(error)
        .bind(next)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A site's latest deliveries, newest first.
    pub async fn recent_deliveries(
        &self,
        site_id: u32,
        limit: i64,
    ) -> Result<Vec<Delivery>, MetaError> {
        let rows = sqlx::query(&format!(
            "{DELIVERY} WHERE site_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2"
        ))
        .bind(i64::from(site_id))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_delivery).collect()
    }

    /// A cursor of what a site's notifications have covered (`None`: never set).
    pub async fn notify_cursor(
        &self,
        site_id: u32,
        name: &str,
    ) -> Result<Option<String>, MetaError> {
        let r = sqlx::query("SELECT value FROM notify_cursors WHERE site_id = $1 AND name = $2")
            .bind(i64::from(site_id))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| r.try_get("value")).transpose()?)
    }

    pub async fn set_notify_cursor(
        &self,
        site_id: u32,
        name: &str,
        value: &str,
    ) -> Result<(), MetaError> {
        sqlx::query(
            "INSERT INTO notify_cursors (site_id, name, value) VALUES ($1, $2, $3) \
             ON CONFLICT (site_id, name) DO UPDATE SET value = excluded.value",
        )
        .bind(i64::from(site_id))
        .bind(name)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::testing::TestDb;
    use crate::meta::Role;

    #[tokio::test]
    async fn subscriptions_webhooks_alerts_and_the_outbox() {
        for db in TestDb::both() {
            let m = db.open().await;
            let a = m.add_site("a.example", "UTC").await.expect("site");
            let u = m
                .create_user("viewer@example.com", "$argon2id$x", None)
                .await
                .expect("user");
            m.set_member(a.id, u.id, Role::Viewer)
                .await
                .expect("member");
            let s = m
                .subscribe(u.id, a.id, SubKind::Weekly, "fr")
                .await
                .expect("sub");
            let again = m
                .subscribe(u.id, a.id, SubKind::Weekly, "en")
                .await
                .expect("sub");
            assert_eq!(
                (again.id, again.token.clone(), again.locale.as_str()),
                (s.id, s.token.clone(), "en")
            );
            m.subscribe(u.id, a.id, SubKind::Alerts, "xx")
                .await
                .expect("sub");
            assert_eq!(
                m.site_subscriptions(a.id).await.expect("subs").len(),
                2,
                "{}",
                db.name()
            );
            assert_eq!(m.notified_sites().await.expect("sites"), vec![a.id]);
            // The link turns off that one subscription, once.
            let gone = m
                .unsubscribe_token(&s.token)
                .await
                .expect("unsub")
                .expect("one");
            assert_eq!(
                (gone.kind, gone.email.as_str()),
                (SubKind::Weekly, "viewer@example.com")
            );
            assert!(m
                .unsubscribe_token(&s.token)
                .await
                .expect("unsub")
                .is_none());
            let left = m.user_subscriptions(u.id, a.id).await.expect("subs");
            assert_eq!(
                left.iter()
                    .map(|s| (s.kind, s.locale.as_str()))
                    .collect::<Vec<_>>(),
                [(SubKind::Alerts, "en")]
            );
            // A member removed gets nothing more.
            m.remove_member(a.id, u.id).await.expect("remove");
            assert!(m.site_subscriptions(a.id).await.expect("subs").is_empty());

            let w = m
                .create_webhook(
                    a.id,
                    "https://hooks.example.com/x",
                    &["alerts", "conversions"],
                )
                .await
                .expect("hook");
            assert!(w.secret.starts_with("whsec_") && w.wants("conversions") && !w.wants("x"));
            assert_eq!(m.webhook(w.id).await.expect("hook"), Some(w.clone()));

            let t0 = Utc::now();
            assert!(m
                .record_alert(a.id, "viral", "/p", "viral:1:/p:2026-12-07", "{}", t0)
                .await
                .expect("alert"));
            assert!(!m
                .record_alert(a.id, "viral", "/p", "viral:1:/p:2026-12-07", "{}", t0)
                .await
                .expect("alert"));
            assert_eq!(
                m.alerts_since(a.id, t0 - chrono::Duration::hours(1), 10)
                    .await
                    .expect("alerts")
                    .len(),
                1
            );

            let new = |dedupe: &'static str, not_before| NewDelivery {
                site_id: a.id,
                channel: Channel::Webhook,
                target: "1",
                kind: "alert",
                dedupe,
                payload: "{}",
                not_before,
            };
            assert!(m.enqueue_delivery(&new("d1", t0)).await.expect("enqueue"));
            assert!(
                !m.enqueue_delivery(&new("d1", t0)).await.expect("enqueue"),
                "once"
            );
            assert!(m
                .enqueue_delivery(&new("later", t0 + chrono::Duration::hours(1)))
                .await
                .expect("enqueue"));
            let lease = chrono::Duration::minutes(2);
            let now = t0 + chrono::Duration::seconds(1);
            let got = m.claim_deliveries(now, lease, 10).await.expect("claim");
            assert_eq!(
                got.iter().map(|d| d.dedupe.as_str()).collect::<Vec<_>>(),
                ["d1"]
            );
            assert!(
                m.claim_deliveries(now, lease, 10)
                    .await
                    .expect("claim")
                    .is_empty(),
                "leased"
            );
            m.delivery_failed(
                got[0].id,
                "HTTP 503",
                Some(now + chrono::Duration::minutes(1)),
            )
            .await
            .expect("fail");
            assert!(
                m.claim_deliveries(now, lease, 10)
                    .await
                    .expect("claim")
                    .is_empty(),
                "not yet"
            );
            let retry = m
                .claim_deliveries(now + chrono::Duration::minutes(1), lease, 10)
                .await
                .expect("claim");
            assert_eq!(
                (
                    retry.len(),
                    retry[0].attempts,
                    retry[0].last_error.as_deref()
                ),
                (1, 1, Some("HTTP 503"))
            );
            m.delivery_sent(retry[0].id, now).await.expect("sent");
            let recent = m.recent_deliveries(a.id, 10).await.expect("recent");
            let d1 = recent.iter().find(|d| d.dedupe == "d1").expect("d1");
            assert_eq!(
                (d1.status, d1.attempts, d1.last_error.clone()),
                (Status::Sent, 2, None)
            );
            // A lease that ran out (a node died while sending) lets another node take it.
            let later = m
                .claim_deliveries(t0 + chrono::Duration::hours(1), lease, 10)
                .await
                .expect("claim");
            assert_eq!(later.len(), 1);
            let again = m
                .claim_deliveries(t0 + chrono::Duration::hours(1) + lease, lease, 10)
                .await
                .expect("claim");
            assert_eq!(again.len(), 1, "the lease ended");
            m.delivery_failed(again[0].id, "refused", None)
                .await
                .expect("give up");
            assert!(m
                .claim_deliveries(t0 + chrono::Duration::days(1), lease, 10)
                .await
                .expect("claim")
                .is_empty());

            assert_eq!(
                m.notify_cursor(a.id, "conversions").await.expect("cursor"),
                None
            );
            m.set_notify_cursor(a.id, "conversions", "1")
                .await
                .expect("set");
            m.set_notify_cursor(a.id, "conversions", "2")
                .await
                .expect("set");
            assert_eq!(
                m.notify_cursor(a.id, "conversions")
                    .await
                    .expect("cursor")
                    .as_deref(),
                Some("2")
            );
            assert!(m.delete_webhook(a.id, w.id).await.expect("delete"));
        }
    }
}
