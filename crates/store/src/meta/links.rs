//! Tracked short links in the metadata store. Validation (slugs, targets, UTM) is
//! `core::links`; this file only stores.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{is_unique_violation, MetaError, MetaStore};

/// A stored link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub id: i64,
    pub site_id: u32,
    /// Custom short domain, empty for Lucarne's own host (`/l/SLUG`).
    pub domain: String,
    pub slug: String,
    pub target: String,
    /// The channel the link is made for (`whatsapp`, `sms`, `qr-code`, …), or empty.
    pub channel: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_term: String,
    pub utm_content: String,
    /// 301, 302 or 307.
    pub redirect: u16,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_clicks: Option<u64>,
    pub disabled: bool,
    /// Clicks persisted so far (the server counts in memory and writes them back).
    pub clicks: u64,
    pub created_at: DateTime<Utc>,
}

impl Link {
    /// The editable part of the link (what a create or an edit sends).
    pub fn input(&self) -> LinkInput {
        LinkInput {
            domain: self.domain.clone(),
            slug: self.slug.clone(),
            target: self.target.clone(),
            channel: self.channel.clone(),
            utm_source: self.utm_source.clone(),
            utm_medium: self.utm_medium.clone(),
            utm_campaign: self.utm_campaign.clone(),
            utm_term: self.utm_term.clone(),
            utm_content: self.utm_content.clone(),
            redirect: self.redirect,
            expires_at: self.expires_at,
            max_clicks: self.max_clicks,
            disabled: self.disabled,
        }
    }
}

/// What a link is made of (create and edit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LinkInput {
    pub domain: String,
    pub slug: String,
    pub target: String,
    pub channel: String,
    pub utm_source: String,
    pub utm_medium: String,
    pub utm_campaign: String,
    pub utm_term: String,
    pub utm_content: String,
    pub redirect: u16,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_clicks: Option<u64>,
    pub disabled: bool,
}

const COLUMNS: &str = "id, site_id, domain, slug, target, channel, utm_source, utm_medium, \
     utm_campaign, utm_term, utm_content, redirect, expires_at, max_clicks, disabled, clicks, \
     created_at";

fn parse_time(s: Option<String>) -> Option<DateTime<Utc>> {
    s.and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc))
}

fn row_to_link(r: &AnyRow) -> Result<Link, MetaError> {
    Ok(Link {
        id: r.try_get("id")?,
        site_id: u32::try_from(r.try_get::<i64, _>("site_id")?).unwrap_or_default(),
        domain: r.try_get("domain")?,
        slug: r.try_get("slug")?,
        target: r.try_get("target")?,
        channel: r.try_get("channel")?,
        utm_source: r.try_get("utm_source")?,
        utm_medium: r.try_get("utm_medium")?,
        utm_campaign: r.try_get("utm_campaign")?,
        utm_term: r.try_get("utm_term")?,
        utm_content: r.try_get("utm_content")?,
        redirect: u16::try_from(r.try_get::<i64, _>("redirect")?).unwrap_or(302),
        expires_at: parse_time(r.try_get("expires_at")?),
        max_clicks: r
            .try_get::<Option<i64>, _>("max_clicks")?
            .and_then(|n| u64::try_from(n).ok()),
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        clicks: u64::try_from(r.try_get::<i64, _>("clicks")?).unwrap_or_default(),
        created_at: parse_time(r.try_get("created_at")?).unwrap_or_default(),
    })
}

impl MetaStore {
    /// Make sure a custom short domain is this site's: the first site to publish on a
    /// domain owns it (a row in `short_domains`, claimed atomically, so two sites racing
    /// for a new domain cannot both win); another site's own domain or page host name is
    /// never this site's. Lucarne's own host (`domain` empty) is shared by every site.
    pub async fn claim_short_domain(&self, site_id: u32, domain: &str) -> Result<(), MetaError> {
        if domain.is_empty() {
            return Ok(());
        }
        let taken = || MetaError::DomainTaken(domain.to_string());
        let others = self.sites().await?;
        if others.iter().any(|s| {
            s.id != site_id
                && (s.domain == domain || s.allowed_hostnames.iter().any(|h| h == domain))
        }) {
            return Err(taken());
        }
        sqlx::query(
            "INSERT INTO short_domains (domain, site_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (domain) DO NOTHING",
        )
        .bind(domain)
        .bind(i64::from(site_id))
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await?;
        let owner: i64 = sqlx::query("SELECT site_id FROM short_domains WHERE domain = $1")
            .bind(domain)
            .fetch_one(&self.pool)
            .await?
            .try_get("site_id")?;
        if owner == i64::from(site_id) {
            Ok(())
        } else {
            Err(taken())
        }
    }

    /// The site a custom short domain belongs to, if any.
    pub async fn short_domain_site(&self, domain: &str) -> Result<Option<u32>, MetaError> {
        let row = sqlx::query("SELECT site_id FROM short_domains WHERE domain = $1")
            .bind(domain)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(u32::try_from(r.try_get::<i64, _>("site_id")?).unwrap_or_default()))
            .transpose()
    }

    pub async fn create_link(&self, site_id: u32, l: &LinkInput) -> Result<Link, MetaError> {
        self.claim_short_domain(site_id, &l.domain).await?;
        let now = Utc::now().to_rfc3339();
        let r = sqlx::query(&format!(
            "INSERT INTO links (site_id, domain, slug, target, channel, utm_source, utm_medium, \
             utm_campaign, utm_term, utm_content, redirect, expires_at, max_clicks, disabled, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
             RETURNING {COLUMNS}"
        ))
        .bind(i64::from(site_id))
        .bind(&l.domain)
        .bind(&l.slug)
        .bind(&l.target)
        .bind(&l.channel)
        .bind(&l.utm_source)
        .bind(&l.utm_medium)
        .bind(&l.utm_campaign)
        .bind(&l.utm_term)
        .bind(&l.utm_content)
        .bind(i64::from(l.redirect))
        .bind(l.expires_at.map(|t| t.to_rfc3339()))
        .bind(l.max_clicks.and_then(|n| i64::try_from(n).ok()))
        .bind(i64::from(l.disabled))
        .bind(&now)
        .bind(&now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                MetaError::SlugTaken(l.slug.clone())
            } else {
                MetaError::Db(e)
            }
        })?;
        self.bump_state_version("links").await?;
        row_to_link(&r)
    }

    /// Replace a link's fields (not its clicks). `None` when no such link on the site.
    pub async fn update_link(
        &self,
        site_id: u32,
        id: i64,
        l: &LinkInput,
    ) -> Result<Option<Link>, MetaError> {
        // Only a move to another domain claims it: a link keeps working (and can be
        // disabled or edited) on the domain it has, even one given to another site when
        // domains got owners.
        let current: Option<String> =
            sqlx::query("SELECT domain FROM links WHERE id = $1 AND site_id = $2")
                .bind(id)
                .bind(i64::from(site_id))
                .fetch_optional(&self.pool)
                .await?
                .map(|r| r.try_get("domain"))
                .transpose()?;
        if current.as_deref() != Some(l.domain.as_str()) {
            self.claim_short_domain(site_id, &l.domain).await?;
        }
        let r = sqlx::query(&format!(
            "UPDATE links SET domain = $1, slug = $2, target = $3, channel = $4, utm_source = $5, \
             utm_medium = $6, utm_campaign = $7, utm_term = $8, utm_content = $9, redirect = $10, \
             expires_at = $11, max_clicks = $12, disabled = $13, updated_at = $14 \
             WHERE id = $15 AND site_id = $16 RETURNING {COLUMNS}"
        ))
        .bind(&l.domain)
        .bind(&l.slug)
        .bind(&l.target)
        .bind(&l.channel)
        .bind(&l.utm_source)
        .bind(&l.utm_medium)
        .bind(&l.utm_campaign)
        .bind(&l.utm_term)
        .bind(&l.utm_content)
        .bind(i64::from(l.redirect))
        .bind(l.expires_at.map(|t| t.to_rfc3339()))
        .bind(l.max_clicks.and_then(|n| i64::try_from(n).ok()))
        .bind(i64::from(l.disabled))
        .bind(Utc::now().to_rfc3339())
        .bind(id)
        .bind(i64::from(site_id))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                MetaError::SlugTaken(l.slug.clone())
            } else {
                MetaError::Db(e)
            }
        })?;
        if r.is_some() {
            self.bump_state_version("links").await?;
        }
        r.as_ref().map(row_to_link).transpose()
    }

    pub async fn delete_link(&self, site_id: u32, id: i64) -> Result<bool, MetaError> {
        let n = sqlx::query("DELETE FROM links WHERE id = $1 AND site_id = $2")
            .bind(id)
            .bind(i64::from(site_id))
            .execute(&self.pool)
            .await?
            .rows_affected();
        if n > 0 {
            self.bump_state_version("links").await?;
        }
        Ok(n > 0)
    }

    pub async fn link(&self, site_id: u32, id: i64) -> Result<Option<Link>, MetaError> {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM links WHERE id = $1 AND site_id = $2"
        ))
        .bind(id)
        .bind(i64::from(site_id))
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(row_to_link).transpose()
    }

    /// A link by id, whatever its site (the caller checks access).
    pub async fn link_by_id(&self, id: i64) -> Result<Option<Link>, MetaError> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM links WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(row_to_link).transpose()
    }

    /// A site's links, newest first.
    pub async fn links(&self, site_id: u32) -> Result<Vec<Link>, MetaError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM links WHERE site_id = $1 ORDER BY id DESC"
        ))
        .bind(i64::from(site_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_link).collect()
    }

    /// Every link of every site (the redirect cache is built from it).
    pub async fn all_links(&self) -> Result<Vec<Link>, MetaError> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM links ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(row_to_link).collect()
    }

    /// Add clicks counted in memory to the persisted counts.
    ///
    /// Every node adds its own counts (`clicks = clicks + n` is atomic on both back ends).
    /// The rows are updated in id order, one update per link, so two nodes flushing the
    /// same links at once wait for each other instead of deadlocking.
    pub async fn add_link_clicks(&self, counts: &[(i64, u64)]) -> Result<(), MetaError> {
        let mut merged = std::collections::BTreeMap::<i64, u64>::new();
        for &(id, n) in counts {
            let sum = merged.entry(id).or_default();
            *sum = sum.saturating_add(n);
        }
        merged.retain(|_, n| *n > 0);
        if merged.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for (id, n) in merged {
            sqlx::query("UPDATE links SET clicks = clicks + $1 WHERE id = $2")
                .bind(i64::try_from(n).unwrap_or(i64::MAX))
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::testing::TestDb;

    #[tokio::test]
    async fn links_crud_and_unique_slugs() {
        for db in TestDb::both() {
            let m = db.open().await;
            links_crud_and_unique_slugs_on(&m).await;
        }
    }

    async fn links_crud_and_unique_slugs_on(m: &MetaStore) {
        let site = m.add_site("example.com", "UTC").await.unwrap();
        let input = LinkInput {
            slug: "spring".into(),
            target: "https://example.com/sale".into(),
            channel: "whatsapp".into(),
            utm_source: "whatsapp".into(),
            redirect: 302,
            max_clicks: Some(100),
            ..LinkInput::default()
        };
        let l = m.create_link(site.id, &input).await.unwrap();
        assert_eq!(
            (l.slug.as_str(), l.max_clicks, l.clicks),
            ("spring", Some(100), 0)
        );
        assert!(matches!(
            m.create_link(site.id, &input).await,
            Err(MetaError::SlugTaken(_))
        ));
        // The same slug on a custom short domain is another link.
        let other = LinkInput {
            domain: "go.example".into(),
            ..input.clone()
        };
        m.create_link(site.id, &other).await.unwrap();
        let edited = LinkInput {
            disabled: true,
            target: "https://example.com/sale2".into(),
            ..input.clone()
        };
        let e = m
            .update_link(site.id, l.id, &edited)
            .await
            .unwrap()
            .unwrap();
        assert!(e.disabled);
        assert_eq!(e.target, "https://example.com/sale2");
        assert_eq!(
            m.update_link(site.id + 1, l.id, &edited).await.unwrap(),
            None
        );
        m.add_link_clicks(&[(l.id, 7), (l.id, 3)]).await.unwrap();
        assert_eq!(m.link(site.id, l.id).await.unwrap().unwrap().clicks, 10);
        assert_eq!(m.links(site.id).await.unwrap().len(), 2);
        assert!(m.delete_link(site.id, l.id).await.unwrap());
        assert!(!m.delete_link(site.id, l.id).await.unwrap());
        assert_eq!(m.all_links().await.unwrap().len(), 1);
    }
}
