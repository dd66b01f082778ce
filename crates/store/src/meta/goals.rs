//! Goals and the ids of server-side conversions, in the metadata store. What a goal means
//! and how it is checked is `core::conversions`; this file only stores.

use chrono::Utc;
use lucarne_core::conversions::GoalKind;
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{MetaError, MetaStore};

/// A stored goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    pub id: i64,
    pub site_id: u32,
    pub kind: GoalKind,
    /// Display name (defaults to the event name or path).
    pub name: String,
}

fn row_to_goal(r: &AnyRow) -> Result<Goal, MetaError> {
    let kind: String = r.try_get("kind")?;
    let value: String = r.try_get("value")?;
    Ok(Goal {
        id: r.try_get("id")?,
        site_id: u32::try_from(r.try_get::<i64, _>("site_id")?).unwrap_or_default(),
        kind: GoalKind::parse(&kind, &value).map_err(MetaError::Invalid)?,
        name: r.try_get("name")?,
    })
}

impl MetaStore {
    /// Add a goal; `None` when the site already has the same goal.
    pub async fn create_goal(
        &self,
        site_id: u32,
        kind: &GoalKind,
        name: &str,
    ) -> Result<Option<Goal>, MetaError> {
        let name = match name.trim() {
            "" => kind.value().to_string(),
            n => n.chars().take(120).collect(),
        };
        let r = sqlx::query(
            "INSERT INTO goals (site_id, kind, value, name, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (site_id, kind, value) DO NOTHING \
             RETURNING id, site_id, kind, value, name",
        )
        .bind(i64::from(site_id))
        .bind(kind.kind_str())
        .bind(kind.value())
        .bind(&name)
        .bind(Utc::now().to_rfc3339())
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(row_to_goal).transpose()
    }

    /// A site's goals, oldest first.
    pub async fn goals(&self, site_id: u32) -> Result<Vec<Goal>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, site_id, kind, value, name FROM goals WHERE site_id = $1 ORDER BY id",
        )
        .bind(i64::from(site_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_goal).collect()
    }

    pub async fn delete_goal(&self, site_id: u32, id: i64) -> Result<bool, MetaError> {
        let n = sqlx::query("DELETE FROM goals WHERE id = $1 AND site_id = $2")
            .bind(id)
            .bind(i64::from(site_id))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    /// Record a server-side conversion id. `false` when the site has it already (the
    /// conversion was recorded before and must not count twice).
    pub async fn claim_conversion_id(&self, site_id: u32, id: &str) -> Result<bool, MetaError> {
        let n = sqlx::query(
            "INSERT INTO conversion_ids (site_id, id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (site_id, id) DO NOTHING",
        )
        .bind(i64::from(site_id))
        .bind(id)
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// Forget a claimed id (its conversion could not be stored: a retry must succeed).
    pub async fn release_conversion_id(&self, site_id: u32, id: &str) -> Result<(), MetaError> {
        sqlx::query("DELETE FROM conversion_ids WHERE site_id = $1 AND id = $2")
            .bind(i64::from(site_id))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::testing::TestDb;

    #[tokio::test]
    async fn goals_and_conversion_ids() {
        for db in TestDb::both() {
            let m = db.open().await;
            goals_and_conversion_ids_on(&m).await;
        }
    }

    async fn goals_and_conversion_ids_on(m: &MetaStore) {
        let site = m.add_site("example.com", "UTC").await.unwrap();
        let buy = GoalKind::parse("event", "purchase").unwrap();
        let g = m.create_goal(site.id, &buy, "").await.unwrap().unwrap();
        assert_eq!((g.name.as_str(), &g.kind), ("purchase", &buy));
        assert_eq!(m.create_goal(site.id, &buy, "again").await.unwrap(), None);
        let thanks = GoalKind::parse("page", "/thanks*").unwrap();
        m.create_goal(site.id, &thanks, "Thank-you page")
            .await
            .unwrap()
            .unwrap();
        let all = m.goals(site.id).await.unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].name, "Thank-you page");
        assert!(!m.delete_goal(site.id + 1, g.id).await.unwrap());
        assert!(m.delete_goal(site.id, g.id).await.unwrap());
        assert_eq!(m.goals(site.id).await.unwrap().len(), 1);

        assert!(m.claim_conversion_id(site.id, "order-1").await.unwrap());
        assert!(!m.claim_conversion_id(site.id, "order-1").await.unwrap());
        m.release_conversion_id(site.id, "order-1").await.unwrap();
        assert!(m.claim_conversion_id(site.id, "order-1").await.unwrap());

        let mut o = m.site_options(site.id).await.unwrap();
        assert_eq!((o.currency.as_str(), o.survey_enabled), ("EUR", true));
        o.currency = "USD".into();
        o.exchange_rates = "EUR=1.08".into();
        o.survey_options = vec!["whatsapp".into(), "other".into()];
        m.set_site_options(site.id, &o).await.unwrap();
        assert_eq!(m.site_options(site.id).await.unwrap(), o);
    }
}
