//! Saved funnels, in the metadata store (`funnels`, migration 0012). What a funnel is and
//! how its steps are checked is `core::funnel`; this file only stores. Steps are kept as
//! JSON, `[{"kind":"page"|"event","value":"..."}, ...]`, and checked again when read.

use chrono::Utc;
use lucarne_core::funnel::{check_name, Funnel};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{MetaError, MetaStore};

/// A stored funnel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedFunnel {
    pub id: i64,
    pub site_id: u32,
    pub name: String,
    pub funnel: Funnel,
}

/// The steps as the stored JSON.
fn steps_json(f: &Funnel) -> String {
    let steps: Vec<Value> = f
        .steps()
        .iter()
        .map(|s| json!({"kind": s.kind_str(), "value": s.value()}))
        .collect();
    Value::Array(steps).to_string()
}

/// The stored JSON back as checked steps.
fn parse_steps(text: &str) -> Result<Funnel, MetaError> {
    let bad = |why: String| MetaError::Invalid(format!("stored funnel steps: {why}"));
    let v: Value = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let list = v.as_array().ok_or_else(|| bad("not a list".into()))?;
    let mut pairs = Vec::with_capacity(list.len());
    for s in list {
        let field = |k: &str| s.get(k).and_then(Value::as_str);
        match (field("kind"), field("value")) {
            (Some(k), Some(v)) => pairs.push((k, v)),
            _ => return Err(bad("a step without kind or value".into())),
        }
    }
    Funnel::from_pairs(pairs).map_err(|e| bad(e.to_string()))
}

fn row_to_funnel(r: &AnyRow) -> Result<SavedFunnel, MetaError> {
    let steps: String = r.try_get("steps")?;
    Ok(SavedFunnel {
        id: r.try_get("id")?,
        site_id: u32::try_from(r.try_get::<i64, _>("site_id")?).unwrap_or_default(),
        name: r.try_get("name")?,
        funnel: parse_steps(&steps)?,
    })
}

impl MetaStore {
    /// Save a funnel under `name` (trimmed, checked by `core::funnel::check_name`);
    /// `None` when the site has a funnel of that name already.
    pub async fn create_funnel(
        &self,
        site_id: u32,
        name: &str,
        funnel: &Funnel,
    ) -> Result<Option<SavedFunnel>, MetaError> {
        let name = check_name(name).map_err(|e| MetaError::Invalid(e.to_string()))?;
        let r = sqlx::query(
            "INSERT INTO funnels (site_id, name, steps, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (site_id, name) DO NOTHING \
             RETURNING id, site_id, name, steps",
        )
        .bind(i64::from(site_id))
        .bind(&name)
        .bind(steps_json(funnel))
        .bind(Utc::now().to_rfc3339())
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(row_to_funnel).transpose()
    }

    /// A site's funnels, oldest first.
    pub async fn funnels(&self, site_id: u32) -> Result<Vec<SavedFunnel>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, site_id, name, steps FROM funnels WHERE site_id = $1 ORDER BY id",
        )
        .bind(i64::from(site_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_funnel).collect()
    }

    /// One of a site's funnels, by id.
    pub async fn funnel(&self, site_id: u32, id: i64) -> Result<Option<SavedFunnel>, MetaError> {
        let r = sqlx::query(
            "SELECT id, site_id, name, steps FROM funnels WHERE site_id = $1 AND id = $2",
        )
        .bind(i64::from(site_id))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(row_to_funnel).transpose()
    }

    /// One of a site's funnels, by name (as saved: trimmed).
    pub async fn funnel_named(
        &self,
        site_id: u32,
        name: &str,
    ) -> Result<Option<SavedFunnel>, MetaError> {
        let r = sqlx::query(
            "SELECT id, site_id, name, steps FROM funnels WHERE site_id = $1 AND name = $2",
        )
        .bind(i64::from(site_id))
        .bind(name.trim())
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(row_to_funnel).transpose()
    }

    /// Delete one of a site's funnels; `false` when the site has no funnel of that id.
    pub async fn delete_funnel(&self, site_id: u32, id: i64) -> Result<bool, MetaError> {
        let n = sqlx::query("DELETE FROM funnels WHERE id = $1 AND site_id = $2")
            .bind(id)
            .bind(i64::from(site_id))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::testing::TestDb;

    #[tokio::test]
    async fn funnels_are_saved_listed_and_deleted_per_site() {
        for db in TestDb::both() {
            let m = db.open().await;
            funnels_on(&m).await;
        }
    }

    async fn funnels_on(m: &MetaStore) {
        let a = m.add_site("example.com", "UTC").await.unwrap();
        let b = m.add_site("example.org", "UTC").await.unwrap();
        let f = Funnel::parse_inline("page:/pricing|page:/checkout/*|event:purchase").unwrap();
        let saved = m
            .create_funnel(a.id, " Checkout ", &f)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((saved.name.as_str(), &saved.funnel), ("Checkout", &f));
        // The same name on the same site is refused; on another site it is not.
        assert_eq!(m.create_funnel(a.id, "Checkout", &f).await.unwrap(), None);
        let other = m
            .create_funnel(b.id, "Checkout", &f)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(
            m.create_funnel(a.id, " ", &f).await,
            Err(MetaError::Invalid(_))
        ));
        let g = Funnel::parse_inline("page:/|event:signup").unwrap();
        m.create_funnel(a.id, "Signup", &g).await.unwrap().unwrap();
        let all = m.funnels(a.id).await.unwrap();
        let names: Vec<&str> = all.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["Checkout", "Signup"]);
        assert_eq!(m.funnel(a.id, saved.id).await.unwrap(), Some(saved.clone()));
        // Another site's funnel is not found through this one.
        assert_eq!(m.funnel(a.id, other.id).await.unwrap(), None);
        assert_eq!(
            m.funnel_named(a.id, "Signup")
                .await
                .unwrap()
                .map(|f| f.funnel),
            Some(g)
        );
        assert_eq!(m.funnel_named(a.id, "Nope").await.unwrap(), None);
        assert!(!m.delete_funnel(b.id, saved.id).await.unwrap());
        assert!(m.delete_funnel(a.id, saved.id).await.unwrap());
        assert!(!m.delete_funnel(a.id, saved.id).await.unwrap());
        assert_eq!(m.funnels(a.id).await.unwrap().len(), 1);
        assert_eq!(m.funnels(b.id).await.unwrap().len(), 1);
    }

    #[test]
    fn stored_steps_read_back_and_bad_ones_are_errors() {
        let f = Funnel::parse_inline("page:/a\"b|event:x").unwrap();
        assert_eq!(parse_steps(&steps_json(&f)).unwrap(), f);
        for bad in [
            "{}",
            "[{\"kind\":\"page\",\"value\":\"/cart\"}]",
            "[{\"kind\":\"page\"},{\"kind\":\"page\",\"value\":\"/b\"}]",
            "not json",
        ] {
            assert!(parse_steps(bad).is_err(), "{bad}");
        }
    }
}
