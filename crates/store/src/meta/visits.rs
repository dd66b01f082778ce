//! State several Lucarne nodes share through the metadata store: live visits (so a visit
//! continues whichever node its events reach) and version counters (so every node
//! notices a link edit within a second). See ARCHITECTURE.md, "Scale-out".

use std::collections::HashMap;
use std::fmt::Write as _;

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

/// Append `rows` tuples of `width` numbered placeholders, from `$first` on, each
/// written through `pattern` (its `{}` is the number): `($2, $3), ($4, $5)`.
fn tuples(sql: &mut String, rows: usize, width: usize, first: usize, pattern: &str) {
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&pattern.replace("{}", &(first + r * width + c).to_string()));
        }
        sql.push(')');
    }
}

/// Rows per batched statement: well under both engines' bound-parameter limits.
const BATCH: usize = 400;

fn site_and_visit(r: &sqlx::any::AnyRow) -> Result<(u32, LiveVisit), MetaError> {
    let site: i64 = r.try_get("site_id")?;
    Ok((
        u32::try_from(site).map_err(|_| MetaError::Invalid(format!("site id {site}")))?,
        LiveVisit {
            visitor_id: unbits(r.try_get("visitor_id")?),
            session_id: unbits(r.try_get("session_id")?),
            last_seen: from_micros(r.try_get("last_seen_us")?),
            fields: r.try_get("fields")?,
        },
    ))
}

impl MetaStore {
    /// The visitor's live visit (last event at or after `since`) under any of `ids`
    /// (the first of `ids` that has one).
    pub async fn live_visit(
        &self,
        site_id: u32,
        ids: &[u64],
        since: DateTime<Utc>,
    ) -> Result<Option<LiveVisit>, MetaError> {
        let keys: Vec<(u32, u64)> = ids.iter().map(|&id| (site_id, id)).collect();
        let found = self.live_visits(&keys, since).await?;
        Ok(ids.iter().find_map(|id| {
            found
                .iter()
                .find(|(_, v)| v.visitor_id == *id)
                .map(|(_, v)| v.clone())
        }))
    }

    /// The live visits (last event at or after `since`) of many visitors at once, as
    /// (site, visit): one query per [`BATCH`] keys, so a node looking up the visitors of
    /// many concurrent events pays one round trip, not one each.
    pub async fn live_visits(
        &self,
        keys: &[(u32, u64)],
        since: DateTime<Utc>,
    ) -> Result<Vec<(u32, LiveVisit)>, MetaError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(BATCH) {
            let mut sql = String::from(
                "SELECT site_id, visitor_id, session_id, last_seen_us, fields FROM live_visits \
                 WHERE last_seen_us >= $1 AND (",
            );
            for i in 0..chunk.len() {
                if i > 0 {
                    sql.push_str(" OR ");
                }
                let _ = write!(
                    sql,
                    "(site_id = ${} AND visitor_id = ${})",
                    2 + 2 * i,
                    3 + 2 * i
                );
            }
            sql.push(')');
            let mut q = sqlx::query(&sql).bind(micros(since));
            for (site, visitor) in chunk {
                q = q.bind(i64::from(*site)).bind(bits(*visitor));
            }
            for r in q.fetch_all(&self.pool).await? {
                out.push(site_and_visit(&r)?);
            }
        }
        Ok(out)
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
        let won = self
            .claim_visits(&[(site_id, visit.clone())], visit.last_seen - live_since)
            .await?;
        won.into_iter()
            .next()
            .ok_or_else(|| MetaError::Invalid("claim returned no visit".into()))
    }

    /// Claim many visits at once, each as [`claim_visit`](Self::claim_visit) does: a
    /// visit held elsewhere whose last event is within `timeout` of the claiming event
    /// wins. One statement per [`BATCH`] claims, rows in one order on every node (two
    /// nodes claiming overlapping visitors cannot deadlock). Returns the winning visit of
    /// each claim, in the order of `claims`; two claims of one visitor in a batch both
    /// get the first one's outcome.
    pub async fn claim_visits(
        &self,
        claims: &[(u32, LiveVisit)],
        timeout: chrono::Duration,
    ) -> Result<Vec<LiveVisit>, MetaError> {
        let mut order: Vec<usize> = (0..claims.len()).collect();
        order.sort_by_key(|&i| (claims[i].0, bits(claims[i].1.visitor_id)));
        order.dedup_by_key(|i| (claims[*i].0, claims[*i].1.visitor_id));
        let mut won: HashMap<(u32, u64), LiveVisit> = HashMap::with_capacity(order.len());
        for chunk in order.chunks(BATCH) {
            let mut sql = String::from(
                "INSERT INTO live_visits (site_id, visitor_id, session_id, last_seen_us, fields) \
                 VALUES ",
            );
            tuples(&mut sql, chunk.len(), 5, 2, "${}");
            sql.push_str(
                " ON CONFLICT (site_id, visitor_id) DO UPDATE SET \
                   session_id = CASE WHEN live_visits.last_seen_us < excluded.last_seen_us - $1 \
                                     THEN excluded.session_id ELSE live_visits.session_id END, \
                   fields = CASE WHEN live_visits.last_seen_us < excluded.last_seen_us - $1 \
                                 THEN excluded.fields ELSE live_visits.fields END, \
                   last_seen_us = CASE WHEN live_visits.last_seen_us < excluded.last_seen_us \
                                       THEN excluded.last_seen_us ELSE live_visits.last_seen_us END \
                 RETURNING site_id, visitor_id, session_id, last_seen_us, fields",
            );
            let mut q = sqlx::query(&sql).bind(timeout.num_microseconds().unwrap_or(i64::MAX));
            for &i in chunk {
                let (site, v) = &claims[i];
                q = q
                    .bind(i64::from(*site))
                    .bind(bits(v.visitor_id))
                    .bind(bits(v.session_id))
                    .bind(micros(v.last_seen))
                    .bind(&v.fields);
            }
            for r in q.fetch_all(&self.pool).await? {
                let (site, v) = site_and_visit(&r)?;
                won.insert((site, v.visitor_id), v);
            }
        }
        claims
            .iter()
            .map(|(site, v)| {
                won.get(&(*site, v.visitor_id)).cloned().ok_or_else(|| {
                    MetaError::Invalid(format!("no claimed visit for visitor {}", v.visitor_id))
                })
            })
            .collect()
    }

    /// Write back the last event times of visits this node touched: (site, visitor,
    /// visit, last event). A visit that has been replaced meanwhile is left alone. One
    /// statement per [`BATCH`] visits, listed in one order on every node (the planner
    /// usually locks rows in that order; should two nodes' write-backs still deadlock,
    /// PostgreSQL aborts one and its caller retries it the next second).
    pub async fn touch_visits(
        &self,
        touched: &[(u32, u64, u64, DateTime<Utc>)],
    ) -> Result<(), MetaError> {
        let mut touched = touched.to_vec();
        touched.sort_unstable_by_key(|(site, visitor, _, _)| (*site, bits(*visitor)));
        for chunk in touched.chunks(BATCH) {
            let mut sql = String::from("WITH v (s, vi, se, t) AS (VALUES ");
            tuples(&mut sql, chunk.len(), 4, 1, "CAST(${} AS BIGINT)");
            sql.push_str(
                ") UPDATE live_visits SET last_seen_us = v.t FROM v \
                 WHERE live_visits.site_id = v.s AND live_visits.visitor_id = v.vi \
                   AND live_visits.session_id = v.se AND live_visits.last_seen_us < v.t",
            );
            let mut q = sqlx::query(&sql);
            for (site, visitor, session, at) in chunk {
                q = q
                    .bind(i64::from(*site))
                    .bind(bits(*visitor))
                    .bind(bits(*session))
                    .bind(micros(*at));
            }
            q.execute(&self.pool).await?;
        }
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

    /// The keys under which login attempts are counted now (for tests and audits).
    pub async fn login_failure_keys(&self) -> Result<Vec<String>, MetaError> {
        let rows = sqlx::query("SELECT DISTINCT key FROM login_failures")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("key")?)).collect()
    }

    /// Un-count one attempt (a login that succeeded) recorded at `at` under `key`.
    pub async fn forget_login_attempt(
        &self,
        key: &str,
        at: DateTime<Utc>,
    ) -> Result<(), MetaError> {
        sqlx::query("DELETE FROM login_failures WHERE key = $1 AND at_us = $2")
            .bind(key)
            .bind(micros(at))
            .execute(&self.pool)
            .await?;
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

    /// Record that visit `session_id` has answered the site's survey: `false` if it had
    /// already (through any node).
    pub async fn claim_survey(
        &self,
        site_id: u32,
        session_id: u64,
        at: DateTime<Utc>,
    ) -> Result<bool, MetaError> {
        let n = sqlx::query(
            "INSERT INTO survey_claims (site_id, session_id, at_us) VALUES ($1, $2, $3) \
             ON CONFLICT (site_id, session_id) DO NOTHING",
        )
        .bind(i64::from(site_id))
        .bind(bits(session_id))
        .bind(micros(at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Undo [`claim_survey`](Self::claim_survey) (the answer was not stored).
    pub async fn release_survey(&self, site_id: u32, session_id: u64) -> Result<(), MetaError> {
        sqlx::query("DELETE FROM survey_claims WHERE site_id = $1 AND session_id = $2")
            .bind(i64::from(site_id))
            .bind(bits(session_id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forget survey claims made before `before`.
    pub async fn purge_survey_claims(&self, before: DateTime<Utc>) -> Result<u64, MetaError> {
        Ok(sqlx::query("DELETE FROM survey_claims WHERE at_us < $1")
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
    async fn visits_are_claimed_and_found_in_batches() {
        for db in TestDb::both() {
            let m = db.open().await;
            batches_on(&m).await;
        }
    }

    async fn batches_on(m: &MetaStore) {
        let t0: DateTime<Utc> = "2026-01-01T10:00:00Z".parse().unwrap();
        let visit = |visitor: u64, session: u64, at: DateTime<Utc>| LiveVisit {
            visitor_id: visitor,
            session_id: session,
            last_seen: at,
            fields: format!("{{\"s\":{session}}}"),
        };
        // 1,000 visitors over three sites (more than one statement's worth).
        let claims: Vec<(u32, LiveVisit)> = (0..1000u64)
            .map(|i| ((i % 3) as u32 + 1, visit(u64::MAX - i, i, t0)))
            .collect();
        let won = m
            .claim_visits(&claims, Duration::minutes(30))
            .await
            .unwrap();
        assert_eq!(won.len(), 1000);
        assert!(won.iter().zip(&claims).all(|(w, (_, c))| w == c));
        // A second batch a minute later: every visitor already has a live visit, which
        // wins; two claims of one visitor in the batch get the same answer; a visitor
        // idle for 31 minutes opens a new visit.
        let t1 = t0 + Duration::minutes(1);
        let again = vec![
            (1, visit(u64::MAX, 5000, t1)),
            (1, visit(u64::MAX, 5001, t1)),
            (2, visit(u64::MAX - 1, 5002, t1)),
            (1, visit(77, 5003, t1)),
        ];
        let won = m.claim_visits(&again, Duration::minutes(30)).await.unwrap();
        let sessions: Vec<u64> = won.iter().map(|v| v.session_id).collect();
        assert_eq!(sessions, vec![0, 0, 1, 5003]);
        assert_eq!(won[0].last_seen, t1);
        let t2 = t1 + Duration::minutes(31);
        let won = m
            .claim_visits(&[(1, visit(u64::MAX - 3, 6000, t2))], Duration::minutes(30))
            .await
            .unwrap();
        assert_eq!(won[0].session_id, 6000);
        // Found in one call, by site and visitor; the wrong site finds nothing.
        let keys: Vec<(u32, u64)> = (0..1000u64)
            .map(|i| ((i % 3) as u32 + 1, u64::MAX - i))
            .collect();
        let found = m.live_visits(&keys, t0).await.unwrap();
        assert_eq!(found.len(), 1000);
        let found = m.live_visits(&[(2, u64::MAX), (1, 77)], t0).await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, 1);
        assert_eq!(found[0].1.session_id, 5003);
        // Touches of many visits in one call.
        let t3 = t2 + Duration::minutes(1);
        let touched: Vec<(u32, u64, u64, DateTime<Utc>)> = (0..1000u64)
            .map(|i| ((i % 3) as u32 + 1, u64::MAX - i, i, t3))
            .collect();
        m.touch_visits(&touched).await.unwrap();
        let found = m.live_visits(&keys, t3).await.unwrap();
        // All but the visitor whose visit was replaced by session 6000.
        assert_eq!(found.len(), 999);
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
        // One survey answer per visit, whichever node records it.
        assert!(m.claim_survey(site.id, u64::MAX, t0).await.unwrap());
        assert!(!m.claim_survey(site.id, u64::MAX, t0).await.unwrap());
        assert!(m.claim_survey(site.id, 7, t0).await.unwrap());
        m.release_survey(site.id, 7).await.unwrap();
        assert!(m.claim_survey(site.id, 7, t0).await.unwrap());
        assert_eq!(
            m.purge_survey_claims(t0 + Duration::seconds(1))
                .await
                .unwrap(),
            2
        );
        assert!(m.claim_survey(site.id, u64::MAX, t0).await.unwrap());
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
