//! Metadata store: sites, API keys and the daily visitor-hash salts.
//!
//! Embedded default: one SQLite file (`meta.sqlite`) in the data directory, through sqlx.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::RngCore;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use tracing::info;

const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("../migrations/sqlite/0001_meta.sql"))];

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("site `{0}` already exists")]
    SiteExists(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    pub id: u32,
    pub domain: String,
    /// IANA time-zone name used for days and months in reports.
    pub timezone: String,
    /// Extra page hostnames accepted for this site (the domain and its subdomains always are).
    pub allowed_hostnames: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, to recognise it in lists.
    pub prefix: String,
    pub created_at: String,
    pub revoked: bool,
}

/// Today's salt and (when it still exists) yesterday's.
#[derive(Debug, Clone)]
pub struct Salts {
    pub day: NaiveDate,
    pub current: [u8; 32],
    pub previous: Option<[u8; 32]>,
}

#[derive(Clone)]
pub struct MetaStore {
    pool: SqlitePool,
}

fn hash_key(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex().to_string()
}

/// A domain as users type it, normalised: lower case, no scheme, no `www.`, no path.
pub fn normalise_domain(raw: &str) -> Result<String, MetaError> {
    let mut d = raw.trim().to_ascii_lowercase();
    for scheme in ["https://", "http://"] {
        if let Some(rest) = d.strip_prefix(scheme) {
            d = rest.to_string();
        }
    }
    let d = d
        .split('/')
        .next()
        .unwrap_or_default()
        .trim_end_matches('.');
    let d = d.strip_prefix("www.").unwrap_or(d).to_string();
    let valid = !d.is_empty()
        && d.len() <= 253
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':')
        });
    if valid {
        Ok(d)
    } else {
        Err(MetaError::Invalid(format!("`{raw}` is not a domain name")))
    }
}

impl MetaStore {
    pub async fn open(dir: &Path) -> Result<Self, MetaError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MetaError::Invalid(format!("create {}: {e}", dir.display())))?;
        let path = dir.join("meta.sqlite");
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(std::time::Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        let store = MetaStore { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), MetaError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            .execute(&self.pool)
            .await?;
        let current: i64 =
            sqlx::query("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
                .fetch_one(&self.pool)
                .await?
                .try_get("v")?;
        for (version, sql) in MIGRATIONS {
            if *version <= current {
                continue;
            }
            info!(message = "Applying metadata migration.", version);
            let mut tx = self.pool.begin().await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)")
                .bind(version)
                .bind(Utc::now().to_rfc3339())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    pub async fn add_site(&self, domain: &str, timezone: &str) -> Result<Site, MetaError> {
        let domain = normalise_domain(domain)?;
        if self.site_by_domain(&domain).await?.is_some() {
            return Err(MetaError::SiteExists(domain));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO sites (domain, timezone, created_at) VALUES (?, ?, ?) RETURNING id",
        )
        .bind(&domain)
        .bind(timezone)
        .bind(Utc::now().to_rfc3339())
        .fetch_one(&self.pool)
        .await?
        .try_get("id")?;
        Ok(Site {
            id: id as u32,
            domain,
            timezone: timezone.to_string(),
            allowed_hostnames: Vec::new(),
        })
    }

    fn row_to_site(r: &sqlx::sqlite::SqliteRow) -> Result<Site, MetaError> {
        let hosts: String = r.try_get("allowed_hostnames")?;
        Ok(Site {
            id: r.try_get::<i64, _>("id")? as u32,
            domain: r.try_get("domain")?,
            timezone: r.try_get("timezone")?,
            allowed_hostnames: hosts
                .split(',')
                .filter(|h| !h.is_empty())
                .map(str::to_string)
                .collect(),
        })
    }

    pub async fn sites(&self) -> Result<Vec<Site>, MetaError> {
        let rows =
            sqlx::query("SELECT id, domain, timezone, allowed_hostnames FROM sites ORDER BY id")
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(Self::row_to_site).collect()
    }

    pub async fn site_by_domain(&self, domain: &str) -> Result<Option<Site>, MetaError> {
        let row = sqlx::query(
            "SELECT id, domain, timezone, allowed_hostnames FROM sites WHERE domain = ?",
        )
        .bind(domain)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::row_to_site).transpose()
    }

    pub async fn set_site_settings(
        &self,
        id: u32,
        timezone: &str,
        allowed_hostnames: &[String],
    ) -> Result<(), MetaError> {
        sqlx::query("UPDATE sites SET timezone = ?, allowed_hostnames = ? WHERE id = ?")
            .bind(timezone)
            .bind(allowed_hostnames.join(","))
            .bind(i64::from(id))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Create a stats API key; the plaintext is returned once and only its hash is kept.
    pub async fn create_api_key(&self, name: &str) -> Result<String, MetaError> {
        let mut raw = [0u8; 24];
        rand::rng().fill_bytes(&mut raw);
        let key = format!("lk_{}", base32(&raw));
        sqlx::query(
            "INSERT INTO api_keys (name, prefix, key_hash, created_at) VALUES (?, ?, ?, ?)",
        )
        .bind(name)
        .bind(&key[..9])
        .bind(hash_key(&key))
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(key)
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, created_at, revoked_at FROM api_keys ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ApiKey {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    prefix: r.try_get("prefix")?,
                    created_at: r.try_get("created_at")?,
                    revoked: r.try_get::<Option<String>, _>("revoked_at")?.is_some(),
                })
            })
            .collect()
    }

    pub async fn revoke_api_key(&self, id: i64) -> Result<bool, MetaError> {
        let n =
            sqlx::query("UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
                .bind(Utc::now().to_rfc3339())
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(n > 0)
    }

    /// Is this a live (not revoked) API key?
    pub async fn verify_api_key(&self, key: &str) -> Result<bool, MetaError> {
        let row = sqlx::query("SELECT id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL")
            .bind(hash_key(key))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// The salts for `now`'s UTC day: creates today's if missing (the first node to ask
    /// wins; every node then reads the same one) and deletes every salt older than
    /// yesterday's, so no salt lives longer than 48 hours.
    pub async fn salts(&self, now: DateTime<Utc>) -> Result<Salts, MetaError> {
        let today = now.date_naive();
        let yesterday = today - Duration::days(1);
        let mut fresh = [0u8; 32];
        rand::rng().fill_bytes(&mut fresh);
        sqlx::query("INSERT OR IGNORE INTO salts (day, salt, created_at) VALUES (?, ?, ?)")
            .bind(today.to_string())
            .bind(fresh.to_vec())
            .bind(now.to_rfc3339())
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM salts WHERE day < ?")
            .bind(yesterday.to_string())
            .execute(&self.pool)
            .await?;
        let rows = sqlx::query("SELECT day, salt FROM salts WHERE day >= ?")
            .bind(yesterday.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut current = None;
        let mut previous = None;
        for r in rows {
            let day: String = r.try_get("day")?;
            let bytes: Vec<u8> = r.try_get("salt")?;
            let salt: [u8; 32] = bytes
                .try_into()
                .map_err(|_| MetaError::Invalid("stored salt is not 32 bytes".into()))?;
            if day == today.to_string() {
                current = Some(salt);
            } else {
                previous = Some(salt);
            }
        }
        let current =
            current.ok_or_else(|| MetaError::Invalid("today's salt is missing".into()))?;
        Ok(Salts {
            day: today,
            current,
            previous,
        })
    }

    pub async fn salt_days(&self) -> Result<Vec<String>, MetaError> {
        let rows = sqlx::query("SELECT day FROM salts ORDER BY day")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get("day")?)).collect()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Crockford-style base32 (no I, L, O, U): unambiguous when read aloud or retyped.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut out = String::new();
    let mut buf: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buf = (buf << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains() {
        assert_eq!(
            normalise_domain("https://www.Example.com/path").unwrap(),
            "example.com"
        );
        assert_eq!(
            normalise_domain("blog.example.co.uk").unwrap(),
            "blog.example.co.uk"
        );
        assert!(normalise_domain("").is_err());
        assert!(normalise_domain("exa mple.com").is_err());
        assert!(normalise_domain("<script>").is_err());
    }

    #[tokio::test]
    async fn salts_rotate_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaStore::open(dir.path()).await.unwrap();
        let t0: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
        let s0 = m.salts(t0).await.unwrap();
        assert!(s0.previous.is_none());
        assert_eq!(
            m.salts(t0).await.unwrap().current,
            s0.current,
            "stable within a day"
        );
        let s1 = m.salts(t0 + Duration::days(1)).await.unwrap();
        assert_ne!(s1.current, s0.current);
        assert_eq!(s1.previous, Some(s0.current));
        let _ = m.salts(t0 + Duration::days(2)).await.unwrap();
        assert_eq!(
            m.salt_days().await.unwrap(),
            vec!["2024-05-02", "2024-05-03"],
            "2024-05-01 deleted"
        );
    }

    #[tokio::test]
    async fn keys_and_sites() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaStore::open(dir.path()).await.unwrap();
        let k = m.create_api_key("ci").await.unwrap();
        assert!(m.verify_api_key(&k).await.unwrap());
        assert!(!m.verify_api_key("lk_nope").await.unwrap());
        let id = m.api_keys().await.unwrap()[0].id;
        assert!(m.revoke_api_key(id).await.unwrap());
        assert!(!m.verify_api_key(&k).await.unwrap());
        let s = m.add_site("www.example.com", "Europe/Paris").await.unwrap();
        assert_eq!(s.domain, "example.com");
        assert!(matches!(
            m.add_site("example.com", "UTC").await,
            Err(MetaError::SiteExists(_))
        ));
        assert_eq!(m.sites().await.unwrap().len(), 1);
    }
}
