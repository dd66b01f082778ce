//! Annotations (a note on a day of a site's chart), in the metadata store. What a valid
//! note and day are is `core::annotations`; this file only stores.

use chrono::{NaiveDate, Utc};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{MetaError, MetaStore};

/// Most annotations one site keeps (a year of daily notes and more).
pub const MAX_ANNOTATIONS: i64 = 2_000;

/// A stored annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub id: i64,
    pub site_id: u32,
    /// The site-local day it is about.
    pub day: NaiveDate,
    pub note: String,
    /// Who wrote it (their e-mail address), if that account still exists and it was
    /// not written with an instance key.
    pub author: Option<String>,
}

fn row_to_annotation(r: &AnyRow) -> Result<Annotation, MetaError> {
    let day: String = r.try_get("day")?;
    Ok(Annotation {
        id: r.try_get("id")?,
        site_id: u32::try_from(r.try_get::<i64, _>("site_id")?).unwrap_or_default(),
        day: NaiveDate::parse_from_str(&day, "%Y-%m-%d")
            .map_err(|e| MetaError::Invalid(format!("annotation day `{day}`: {e}")))?,
        note: r.try_get("note")?,
        author: r.try_get("email")?,
    })
}

const SELECT: &str = "SELECT a.id, a.site_id, a.day, a.note, u.email FROM annotations a \
                      LEFT JOIN users u ON u.id = a.user_id";

impl MetaStore {
    /// Add a note (already checked by `core::annotations`) on `day`. `None` when the
    /// site has [`MAX_ANNOTATIONS`] already.
    pub async fn create_annotation(
        &self,
        site_id: u32,
        day: NaiveDate,
        note: &str,
        user_id: Option<i64>,
    ) -> Result<Option<Annotation>, MetaError> {
        let mut tx = self.pool.begin().await?;
        let n: i64 = sqlx::query("SELECT count(*) AS n FROM annotations WHERE site_id = $1")
            .bind(i64::from(site_id))
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        if n >= MAX_ANNOTATIONS {
            return Ok(None);
        }
        let id: i64 = sqlx::query(
            "INSERT INTO annotations (site_id, day, note, user_id, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(i64::from(site_id))
        .bind(day.format("%Y-%m-%d").to_string())
        .bind(note)
        .bind(user_id)
        .bind(Utc::now().to_rfc3339())
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let row = sqlx::query(&format!("{SELECT} WHERE a.id = $1"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        row_to_annotation(&row).map(Some)
    }

    /// A site's annotations on the days `from..=to` (all when `None`), by day then in
    /// the order written.
    pub async fn annotations(
        &self,
        site_id: u32,
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Vec<Annotation>, MetaError> {
        // ISO dates compare as text.
        let from = from.map_or_else(|| "0000-00-00".to_string(), |d| d.to_string());
        let to = to.map_or_else(|| "9999-99-99".to_string(), |d| d.to_string());
        let rows = sqlx::query(&format!(
            "{SELECT} WHERE a.site_id = $1 AND a.day >= $2 AND a.day <= $3 ORDER BY a.day, a.id"
        ))
        .bind(i64::from(site_id))
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_annotation).collect()
    }

    /// Delete one of a site's annotations; `false` when the site has no such one.
    pub async fn delete_annotation(&self, site_id: u32, id: i64) -> Result<bool, MetaError> {
        let n = sqlx::query("DELETE FROM annotations WHERE id = $1 AND site_id = $2")
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

    fn day(d: &str) -> NaiveDate {
        NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap_or_default()
    }

    #[tokio::test]
    async fn annotations_by_site_and_days() {
        for db in TestDb::both() {
            let m = db.open().await;
            let a = m.add_site("a.example", "UTC").await.expect("site");
            let b = m.add_site("b.example", "UTC").await.expect("site");
            let u = m
                .create_user("owner@example.com", "$argon2id$o", None)
                .await
                .expect("user");
            let n1 = m
                .create_annotation(a.id, day("2026-12-03"), "Newsletter", Some(u.id))
                .await
                .expect("create")
                .expect("room");
            assert_eq!(n1.author.as_deref(), Some("owner@example.com"));
            m.create_annotation(a.id, day("2026-11-30"), "Launch", None)
                .await
                .expect("create");
            m.create_annotation(b.id, day("2026-12-03"), "Other site", None)
                .await
                .expect("create");
            let all = m.annotations(a.id, None, None).await.expect("list");
            assert_eq!(
                all.iter().map(|n| n.note.as_str()).collect::<Vec<_>>(),
                ["Launch", "Newsletter"],
                "{}",
                db.name()
            );
            assert_eq!(all[0].author, None);
            let dec = m
                .annotations(a.id, Some(day("2026-12-01")), Some(day("2026-12-03")))
                .await
                .expect("range");
            assert_eq!(dec, vec![n1.clone()]);
            assert!(!m.delete_annotation(b.id, n1.id).await.expect("delete"));
            assert!(m.delete_annotation(a.id, n1.id).await.expect("delete"));
            assert!(!m.delete_annotation(a.id, n1.id).await.expect("delete"));
            assert_eq!(
                m.annotations(a.id, None, None).await.expect("list").len(),
                1
            );
            // A deleted author leaves the note, without a name.
            let n = m
                .create_annotation(a.id, day("2026-12-05"), "By someone", Some(u.id))
                .await
                .expect("create")
                .expect("room");
            sqlx::query("DELETE FROM users WHERE id = $1")
                .bind(u.id)
                .execute(&m.pool)
                .await
                .expect("delete user");
            let kept = m
                .annotations(a.id, Some(n.day), Some(n.day))
                .await
                .expect("list");
            assert_eq!((kept.len(), kept[0].author.clone()), (1, None));
        }
    }
}
