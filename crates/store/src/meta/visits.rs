//! State several Lucarne nodes share through the metadata store: live visits (so a visit
//! continues whichever node its events reach) and version counters (so every node
//! notices a link edit within a second). See ARCHITECTURE.md, "Scale-out".

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{MetaError, MetaStore};

/// A live visit as the shared table holds it. `fields` is the server's encoding of the
/// visit-level fields (opaque here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveVisit {
    pub visitor_id: u64,
    pub session_id: u64,
    pub last_seen: DateTime<Utc>,
    pub fields: String,
}

fn bits(v: u64) -> i64 {
    v as i64
}

fn unbits(v: i64) -> u64 {
    v as u64
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

impl MetaStore {
    /// The visitor's live visit (last event at or after `since`) under any of `ids`.
    pub async fn live_visit(
        &self,
        site_id: u32,
        ids: &[u64],
        since: DateTime<Utc>,
    ) -> Result<Option<LiveVisit>, MetaError> {
        for &id in ids {
            let r = sqlx::query(
                "SELECT session_id, last_seen_us, fields FROM live_visits \
                 WHERE site_id = $1 AND visitor_id = $2 AND last_seen_us >= $3",
            )
            .bind(i64::from(site_id))
            .bind(bits(id))
            .bind(micros(since))
            .fetch_optional(&self.pool)
            .await?;
            if let Some(r) = r {
                return Ok(Some(LiveVisit {
                    visitor_id: id,
                    session_id: unbits(r.try_get("session_id")?),
                    last_seen: from_micros(r.try_get("last_seen_us")?),
                    fields: r.try_get("fields")?,
                }));
            }
        }
        Ok(None)
    }

    /// Claim a new visit for the visitor, atomically: if another node holds a live visit
    /// (last event at or after `live_since`), that one wins and is returned; otherwise
    /// this one is stored and returned.
    pub async fn claim_visit(
        &self,
        site_id: u32,
        visit: &LiveVisit,
        live_since: DateTime<Utc>,
    ) -> Result<LiveVisit, MetaError> {
        let r = sqlx::query(
            "INSERT INTO live_visits (site_id, visitor_id, session_id, last_seen_us, fields) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (site_id, visitor_id) DO UPDATE SET \
               session_id = CASE WHEN live_visits.last_seen_us < $6 \
                                 THEN excluded.session_id ELSE live_visits.session_id END, \
               fields = CASE WHEN live_visits.last_seen_us < $6 \
                             THEN excluded.fields ELSE live_visits.fields END, \
               last_seen_us = CASE WHEN live_visits.last_seen_us < excluded.last_seen_us \
                                   THEN excluded.last_seen_us ELSE live_visits.last_seen_us END \
             RETURNING session_id, last_seen_us, fields",
        )
        .bind(i64::from(site_id))
        .bind(bits(visit.visitor_id))
        .bind(bits(visit.session_id))
        .bind(micros(visit.last_seen))
        .bind(&visit.fields)
        .bind(micros(live_since))
        .fetch_one(&self.pool)
        .await?;
        Ok(LiveVisit {
            visitor_id: visit.visitor_id,
            session_id: unbits(r.try_get("session_id")?),
            last_seen: from_micros(r.try_get("last_seen_us")?),
            fields: r.try_get("fields")?,
        })
    }

    /// Write back the last event times of visits this node touched: (site, visitor,
    /// visit, last event). A visit that has been replaced meanwhile is left alone.
    pub async fn touch_visits(
        &self,
        touched: &[(u32, u64, u64, DateTime<Utc>)],
    ) -> Result<(), MetaError> {
        if touched.is_empty() {
            return Ok(());
        }
        // Rows locked in one order on every node: two nodes writing overlapping visits
        // back at once cannot deadlock.
        let mut touched = touched.to_vec();
        touched.sort_unstable_by_key(|(site, visitor, _, _)| (*site, bits(*visitor)));
        let mut tx = self.pool.begin().await?;
        for (site, visitor, session, at) in &touched {
            sqlx::query(
                "UPDATE live_visits SET last_seen_us = $1 \
                 WHERE site_id = $2 AND visitor_id = $3 AND session_id = $4 AND last_seen_us < $1",
            )
            .bind(micros(*at))
            .bind(i64::from(*site))
            .bind(bits(*visitor))
            .bind(bits(*session))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forget visits whose last event is older than `before`.
    pub async fn purge_visits(&self, before: DateTime<Utc>) -> Result<u64, MetaError> {
        Ok(
            sqlx::query("DELETE FROM live_visits WHERE last_seen_us < $1")
                .bind(micros(before))
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// A shared counter (`links`): moves on every change of what it counts.
    pub async fn state_version(&self, name: &str) -> Result<i64, MetaError> {
        let r = sqlx::query("SELECT version FROM state_versions WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match r {
            Some(r) => r.try_get("version")?,
            None => 0,
        })
    }

    pub async fn bump_state_version(&self, name: &str) -> Result<(), MetaError> {
        sqlx::query(
            "INSERT INTO state_versions (name, version) VALUES ($1, 1) \
             ON CONFLICT (name) DO UPDATE SET version = state_versions.version + 1",
        )
        .bind(name)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl MetaStore {
    /// The most failures any of `keys` has had since `since` (failed logins, counted
    /// across nodes).
    pub async fn login_failures(
        &self,
        keys: &[String],
        since: DateTime<Utc>,
    ) -> Result<u64, MetaError> {
        let mut most = 0u64;
        for k in keys {
            let r = sqlx::query(
                "SELECT count(*) AS n FROM login_failures WHERE key = $1 AND at_us >= $2",
            )
            .bind(k)
            .bind(micros(since))
            .fetch_one(&self.pool)
            .await?;
            most = most.max(u64::try_from(r.try_get::<i64, _>("n")?).unwrap_or(0));
        }
        Ok(most)
    }

    pub async fn record_login_failure(
        &self,
        keys: &[String],
        at: DateTime<Utc>,
    ) -> Result<(), MetaError> {
        let mut tx = self.pool.begin().await?;
        for k in keys {
            sqlx::query("INSERT INTO login_failures (key, at_us) VALUES ($1, $2)")
                .bind(k)
                .bind(micros(at))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn clear_login_failures(&self, key: &str) -> Result<(), MetaError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn purge_login_failures(&self, before: DateTime<Utc>) -> Result<u64, MetaError> {
        Ok(sqlx::query("DELETE FROM login_failures WHERE at_us < $1")
            .bind(micros(before))
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    /// Count one click of a link with a click limit, atomically across nodes: `false`
    /// when the limit is reached (nothing counted).
    pub async fn take_link_click(&self, link_id: i64) -> Result<bool, MetaError> {
        let n = sqlx::query(
            "UPDATE links SET clicks = clicks + 1 \
             WHERE id = $1 AND (max_clicks IS NULL OR clicks < max_clicks)",
        )
        .bind(link_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::testing::TestDb;
    use chrono::Duration;

    #[tokio::test]
    async fn a_visit_is_claimed_once_and_kept_alive_by_touches() {
        for db in TestDb::both() {
            let m = db.open().await;
            claimed_once_on(&m).await;
        }
    }

    async fn claimed_once_on(m: &MetaStore) {
        let t0: DateTime<Utc> = "2026-01-01T10:00:00Z".parse().unwrap();
        let live = |t: DateTime<Utc>| t - Duration::minutes(30);
        let mine = LiveVisit {
            visitor_id: u64::MAX - 3,
            session_id: 11,
            last_seen: t0,
            fields: "{\"a\":1}".into(),
        };
        assert_eq!(m.claim_visit(1, &mine, live(t0)).await.unwrap(), mine);
        // Another node's claim a second later loses: it gets the first visit.
        let theirs = LiveVisit {
            session_id: 22,
            last_seen: t0 + Duration::seconds(1),
            fields: "{\"b\":2}".into(),
            ..mine.clone()
        };
        let won = m
            .claim_visit(1, &theirs, live(theirs.last_seen))
            .await
            .unwrap();
        assert_eq!((won.session_id, won.fields.as_str()), (11, "{\"a\":1}"));
        assert_eq!(won.last_seen, theirs.last_seen);
        // Touches keep it alive; a stale touch of an old visit changes nothing.
        let t1 = t0 + Duration::minutes(25);
        m.touch_visits(&[
            (1, mine.visitor_id, 11, t1),
            (1, mine.visitor_id, 99, t1 + Duration::hours(1)),
        ])
        .await
        .unwrap();
        let t2 = t0 + Duration::minutes(50);
        let found = m
            .live_visit(1, &[7, mine.visitor_id], live(t2))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((found.session_id, found.last_seen), (11, t1));
        assert_eq!(
            m.live_visit(2, &[mine.visitor_id], live(t2)).await.unwrap(),
            None
        );
        // After 30 idle minutes a claim opens a new visit.
        let t3 = t1 + Duration::minutes(31);
        let next = LiveVisit {
            session_id: 33,
            last_seen: t3,
            ..mine.clone()
        };
        assert_eq!(
            m.claim_visit(1, &next, live(t3)).await.unwrap().session_id,
            33
        );
        assert_eq!(m.purge_visits(t3).await.unwrap(), 0);
        assert_eq!(m.purge_visits(t3 + Duration::seconds(1)).await.unwrap(), 1);
    }

    #[tokio::test]
    async fn login_failures_and_click_limits_are_shared() {
        for db in TestDb::both() {
            let m = db.open().await;
            shared_limits_on(&m).await;
        }
    }

    async fn shared_limits_on(m: &MetaStore) {
        let t0: DateTime<Utc> = "2026-01-01T10:00:00Z".parse().unwrap();
        let keys = vec!["ip:x".to_string(), "acct:a@b.c".to_string()];
        for i in 0..3 {
            m.record_login_failure(&keys, t0 + Duration::minutes(i))
                .await
                .unwrap();
        }
        m.record_login_failure(&keys[..1], t0 + Duration::minutes(5))
            .await
            .unwrap();
        assert_eq!(m.login_failures(&keys, t0).await.unwrap(), 4);
        assert_eq!(
            m.login_failures(&keys[1..], t0 + Duration::minutes(1))
                .await
                .unwrap(),
            2
        );
        m.clear_login_failures("acct:a@b.c").await.unwrap();
        assert_eq!(m.login_failures(&keys[1..], t0).await.unwrap(), 0);
        assert_eq!(
            m.purge_login_failures(t0 + Duration::minutes(2))
                .await
                .unwrap(),
            2
        );
        // A link limited to 2 clicks: the third is refused, whoever asks.
        let site = m.add_site("example.com", "UTC").await.unwrap();
        let link = m
            .create_link(
                site.id,
                &crate::meta::LinkInput {
                    slug: "few".into(),
                    target: "https://example.com/".into(),
                    redirect: 302,
                    max_clicks: Some(2),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(m.take_link_click(link.id).await.unwrap());
        assert!(m.take_link_click(link.id).await.unwrap());
        assert!(!m.take_link_click(link.id).await.unwrap());
        assert_eq!(m.link(site.id, link.id).await.unwrap().unwrap().clicks, 2);
    }

    #[tokio::test]
    async fn versions_move() {
        for db in TestDb::both() {
            let m = db.open().await;
            versions_move_on(&m).await;
        }
    }

    async fn versions_move_on(m: &MetaStore) {
        let v = m.state_version("links").await.unwrap();
        m.bump_state_version("links").await.unwrap();
        m.bump_state_version("links").await.unwrap();
        assert_eq!(m.state_version("links").await.unwrap(), v + 2);
        assert_eq!(m.state_version("nothing").await.unwrap(), 0);
    }
}
