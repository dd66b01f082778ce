//! Self-serve teams: invitations by e-mail address, administrators and the instance's
//! settings, and deleting a site with everything the metadata store holds for it.
//!
//! An invitation's token is shown once (to the inviter, and in the e-mail); only its hash
//! is stored. Accepting claims the row with `DELETE … RETURNING` inside the transaction
//! that makes the account and the membership, so a token is used once even when two
//! nodes receive it at the same moment.

use chrono::{Duration, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{normalise_email, MetaError, MetaStore, Role, LOCK_FIRST_USER};

/// Days an invitation stays valid.
pub const INVITATION_DAYS: i64 = 7;

/// A pending invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// The hash of the token (also how the members page names it to revoke it).
    pub token_hash: String,
    pub site_id: u32,
    pub email: String,
    pub role: Role,
    pub invited_by: Option<i64>,
    pub created_at: String,
    pub expires_at: String,
}

/// What an invitation's token finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationState {
    Valid(Invitation),
    /// It existed but its time is up (the row is kept until the site's owners see it).
    Expired,
    /// Never issued, used already or revoked.
    Unknown,
}

/// What accepting an invitation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub user_id: i64,
    pub site_id: u32,
    /// A new account was made (else the address had one: only the membership was added).
    pub new_account: bool,
}

const COLUMNS: &str = "token_hash, site_id, email, role, invited_by, created_at, expires_at";

fn row_to_invitation(r: &AnyRow) -> Result<Invitation, MetaError> {
    let role: String = r.try_get("role")?;
    let site: i64 = r.try_get("site_id")?;
    Ok(Invitation {
        token_hash: r.try_get("token_hash")?,
        site_id: u32::try_from(site)
            .map_err(|_| MetaError::Invalid(format!("stored site id {site}")))?,
        email: r.try_get("email")?,
        role: Role::parse(&role)
            .ok_or_else(|| MetaError::Invalid(format!("stored role `{role}`")))?,
        invited_by: r.try_get("invited_by")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
    })
}

impl MetaStore {
    /// Invite `email` to a site with `role`; the token's hash is `token_hash`. A pending
    /// invitation of the same address to the same site is replaced (its link stops
    /// working), so re-inviting is how a lost link is renewed.
    pub async fn create_invitation(
        &self,
        site_id: u32,
        email: &str,
        role: Role,
        invited_by: Option<i64>,
        token_hash: &str,
    ) -> Result<Invitation, MetaError> {
        let email = normalise_email(email)?;
        let now = Utc::now();
        let inv = Invitation {
            token_hash: token_hash.to_string(),
            site_id,
            email,
            role,
            invited_by,
            created_at: now.to_rfc3339(),
            expires_at: (now + Duration::days(INVITATION_DAYS)).to_rfc3339(),
        };
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM invitations WHERE site_id = $1 AND email = $2")
            .bind(i64::from(site_id))
            .bind(&inv.email)
            .execute(&mut *tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO invitations ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(&inv.token_hash)
        .bind(i64::from(site_id))
        .bind(&inv.email)
        .bind(role.as_str())
        .bind(invited_by)
        .bind(&inv.created_at)
        .bind(&inv.expires_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(inv)
    }

    /// A site's invitations not yet accepted, oldest first (expired ones included: the
    /// page says so and offers to send them again).
    pub async fn invitations(&self, site_id: u32) -> Result<Vec<Invitation>, MetaError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM invitations WHERE site_id = $1 ORDER BY created_at, email"
        ))
        .bind(i64::from(site_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_invitation).collect()
    }

    /// What the token with this hash finds.
    pub async fn invitation(&self, token_hash: &str) -> Result<InvitationState, MetaError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM invitations WHERE token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(inv) = row.as_ref().map(row_to_invitation).transpose()? else {
            return Ok(InvitationState::Unknown);
        };
        if inv.expires_at.as_str() <= Utc::now().to_rfc3339().as_str() {
            return Ok(InvitationState::Expired);
        }
        Ok(InvitationState::Valid(inv))
    }

    /// Withdraw an invitation of this site; `false` if there was none.
    pub async fn revoke_invitation(
        &self,
        site_id: u32,
        token_hash: &str,
    ) -> Result<bool, MetaError> {
        let n = sqlx::query("DELETE FROM invitations WHERE site_id = $1 AND token_hash = $2")
            .bind(i64::from(site_id))
            .bind(token_hash)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Accept an invitation: claim it, make the account with `password_hash` when the
    /// address has none, and give the role (an existing higher role is kept). `None` when
    /// the token is unknown, used or expired. One transaction: a failure leaves the
    /// invitation as it was.
    pub async fn accept_invitation(
        &self,
        token_hash: &str,
        password_hash: &str,
    ) -> Result<Option<Accepted>, MetaError> {
        // The same lock as the first account: two accepts for one address on two nodes
        // cannot both make it.
        let mut tx = self.begin_exclusive(LOCK_FIRST_USER).await?;
        let now = Utc::now().to_rfc3339();
        let row = sqlx::query(&format!(
            "DELETE FROM invitations WHERE token_hash = $1 AND expires_at > $2 RETURNING {COLUMNS}"
        ))
        .bind(token_hash)
        .bind(&now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(inv) = row.as_ref().map(row_to_invitation).transpose()? else {
            return Ok(None);
        };
        let existing: Option<i64> = sqlx::query("SELECT id FROM users WHERE email = $1")
            .bind(&inv.email)
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("id"))
            .transpose()?;
        let (user_id, new_account) = match existing {
            Some(id) => (id, false),
            None => {
                let id: i64 = sqlx::query(
                    "INSERT INTO users (email, password_hash, locale, created_at) \
                     VALUES ($1, $2, NULL, $3) RETURNING id",
                )
                .bind(&inv.email)
                .bind(password_hash)
                .bind(&now)
                .fetch_one(&mut *tx)
                .await?
                .try_get("id")?;
                (id, true)
            }
        };
        // An owner invited again as a viewer stays an owner.
        let role = if inv.role == Role::Owner {
            "owner"
        } else {
            "viewer"
        };
        sqlx::query(
            "INSERT INTO site_members (site_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (site_id, user_id) DO UPDATE SET role = CASE \
             WHEN site_members.role = 'owner' THEN 'owner' ELSE excluded.role END",
        )
        .bind(i64::from(inv.site_id))
        .bind(user_id)
        .bind(role)
        .bind(&now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(Accepted {
            user_id,
            site_id: inv.site_id,
            new_account,
        }))
    }

    /// End every login session of a user but the one with this CSRF token (after a
    /// password change); how many ended.
    pub async fn end_other_web_sessions(
        &self,
        user_id: i64,
        keep_csrf: &str,
    ) -> Result<u64, MetaError> {
        Ok(
            sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND csrf <> $2")
                .bind(user_id)
                .bind(keep_csrf)
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Whether the account may change the instance's settings.
    pub async fn is_admin(&self, user_id: i64) -> Result<bool, MetaError> {
        let row = sqlx::query("SELECT admin FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => r.try_get::<i64, _>("admin")? != 0,
            None => false,
        })
    }

    pub async fn set_admin(&self, user_id: i64, admin: bool) -> Result<(), MetaError> {
        sqlx::query("UPDATE users SET admin = $1 WHERE id = $2")
            .bind(i64::from(admin))
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// An instance setting (`None`: not set).
    pub async fn instance_setting(&self, key: &str) -> Result<Option<String>, MetaError> {
        Ok(
            sqlx::query("SELECT value FROM instance_settings WHERE key = $1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("value"))
                .transpose()?,
        )
    }

    /// Set (`Some`) or clear (`None`) an instance setting; every node follows through the
    /// `sites` version.
    pub async fn set_instance_setting(
        &self,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), MetaError> {
        match value {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO instance_settings (key, value, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(v)
                .bind(Utc::now().to_rfc3339())
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM instance_settings WHERE key = $1")
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
            }
        }
        self.bump_sites().await;
        Ok(())
    }

    /// Delete a site and everything the metadata store holds for it: members, shared
    /// links, short links and their domains, goals, invitations (by cascade), and the live
    /// visits and survey claims (kept without a foreign key for speed). The site's events
    /// are the event store's to delete. `false` if there was no such site.
    pub async fn delete_site(&self, site_id: u32) -> Result<bool, MetaError> {
        let id = i64::from(site_id);
        let mut tx = self.pool.begin().await?;
        for table in ["live_visits", "survey_claims"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE site_id = $1"))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let n = sqlx::query(
            "INSERT INTO deleted_sites (site_id, domain, deleted_at) \
             SELECT id, domain, $2 FROM sites WHERE id = $1",
        )
        .bind(id)
        .bind(Utc::now().to_rfc3339())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM sites WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if n > 0 {
            self.bump_sites().await;
            if let Err(e) = self.bump_state_version("links").await {
                tracing::warn!(message = "Could not move the links version; other nodes follow within 30 s.", error = %e);
            }
        }
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::TestDb;
    use super::*;

    #[tokio::test]
    async fn invitations_make_accounts_once_and_keep_higher_roles() {
        for db in TestDb::both() {
            let m = db.open().await;
            let site = m.add_site("example.com", "UTC").await.expect("site");
            let owner = m
                .create_user("owner@example.com", "$argon2id$o", None)
                .await
                .expect("owner");
            let inv = m
                .create_invitation(
                    site.id,
                    "New@Example.com",
                    Role::Viewer,
                    Some(owner.id),
                    "h1",
                )
                .await
                .expect("invite");
            assert_eq!(inv.email, "new@example.com");
            // Inviting again replaces the first link.
            m.create_invitation(
                site.id,
                "new@example.com",
                Role::Owner,
                Some(owner.id),
                "h2",
            )
            .await
            .expect("again");
            assert_eq!(
                m.invitation("h1").await.expect("h1"),
                InvitationState::Unknown
            );
            assert!(
                matches!(m.invitation("h2").await.expect("h2"), InvitationState::Valid(i) if i.role == Role::Owner)
            );
            assert_eq!(m.invitations(site.id).await.expect("list").len(), 1);

            let a = m
                .accept_invitation("h2", "$argon2id$new")
                .await
                .expect("accept")
                .expect("valid");
            assert!(a.new_account);
            let u = m
                .user_by_email("new@example.com")
                .await
                .expect("q")
                .expect("made");
            assert_eq!(u.password_hash, "$argon2id$new");
            assert_eq!(u.id, a.user_id);
            assert!(m
                .members(site.id)
                .await
                .expect("members")
                .iter()
                .any(|x| x.user_id == u.id && x.role == Role::Owner));
            // Used once.
            assert_eq!(m.accept_invitation("h2", "$x").await.expect("again"), None);
            assert_eq!(
                m.invitation("h2").await.expect("h2"),
                InvitationState::Unknown
            );

            // An existing owner invited as a viewer keeps the account, password and role.
            m.create_invitation(site.id, "new@example.com", Role::Viewer, None, "h3")
                .await
                .expect("invite");
            let a = m
                .accept_invitation("h3", "$other")
                .await
                .expect("accept")
                .expect("valid");
            assert!(!a.new_account);
            let u = m
                .user_by_email("new@example.com")
                .await
                .expect("q")
                .expect("kept");
            assert_eq!(u.password_hash, "$argon2id$new");
            assert!(m
                .members(site.id)
                .await
                .expect("members")
                .iter()
                .any(|x| x.user_id == u.id && x.role == Role::Owner));

            // An expired one is refused and said to be expired.
            m.create_invitation(site.id, "late@example.com", Role::Viewer, None, "h4")
                .await
                .expect("invite");
            sqlx::query("UPDATE invitations SET expires_at = '2020-01-01T00:00:00+00:00'")
                .execute(&m.pool)
                .await
                .expect("age");
            assert_eq!(
                m.invitation("h4").await.expect("h4"),
                InvitationState::Expired
            );
            assert_eq!(m.accept_invitation("h4", "$x").await.expect("late"), None);
            assert!(m
                .user_by_email("late@example.com")
                .await
                .expect("q")
                .is_none());
            assert!(m.revoke_invitation(site.id, "h4").await.expect("revoke"));
            assert!(m.invitations(site.id).await.expect("list").is_empty());
        }
    }

    #[tokio::test]
    async fn deleting_a_site_takes_what_belongs_to_it_only() {
        for db in TestDb::both() {
            let m = db.open().await;
            let a = m.add_site("a.example", "UTC").await.expect("a");
            let b = m.add_site("b.example", "UTC").await.expect("b");
            let u = m.create_user("u@example.com", "$h", None).await.expect("u");
            m.set_member(a.id, u.id, Role::Owner)
                .await
                .expect("member a");
            m.set_member(b.id, u.id, Role::Owner)
                .await
                .expect("member b");
            m.create_invitation(a.id, "x@example.com", Role::Viewer, Some(u.id), "ha")
                .await
                .expect("invite");
            assert!(m.delete_site(a.id).await.expect("delete"));
            assert!(!m.delete_site(a.id).await.expect("twice"));
            assert!(m.site_by_domain("a.example").await.expect("q").is_none());
            assert!(m.site_by_domain("b.example").await.expect("q").is_some());
            assert_eq!(
                m.invitation("ha").await.expect("ha"),
                InvitationState::Unknown
            );
            assert_eq!(m.members(b.id).await.expect("b members").len(), 1);
            assert!(
                m.user_by_id(u.id).await.expect("q").is_some(),
                "accounts stay"
            );
        }
    }

    #[tokio::test]
    async fn instance_settings_and_admins() {
        for db in TestDb::both() {
            let m = db.open().await;
            assert_eq!(m.instance_setting("public_url").await.expect("q"), None);
            m.set_instance_setting("public_url", Some("https://stats.example.com"))
                .await
                .expect("set");
            m.set_instance_setting("public_url", Some("https://s.example.com"))
                .await
                .expect("set again");
            assert_eq!(
                m.instance_setting("public_url")
                    .await
                    .expect("q")
                    .as_deref(),
                Some("https://s.example.com")
            );
            m.set_instance_setting("public_url", None)
                .await
                .expect("clear");
            assert_eq!(m.instance_setting("public_url").await.expect("q"), None);

            let first = m
                .create_first_user("first@example.com", "$h", None)
                .await
                .expect("first")
                .expect("made");
            assert!(
                m.is_admin(first.id).await.expect("q"),
                "the first account administers"
            );
            let other = m.create_user("o@example.com", "$h", None).await.expect("o");
            assert!(!m.is_admin(other.id).await.expect("q"));
            m.set_admin(other.id, true).await.expect("grant");
            assert!(m.is_admin(other.id).await.expect("q"));
        }
    }
}
