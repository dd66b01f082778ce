//! Metadata store: sites, API keys, the daily visitor-hash salts, and the dashboard's
//! accounts, roles, login sessions and shared links.
//!
//! Two back ends, one code path (sqlx's `Any` driver): the embedded default is one SQLite
//! file (`meta.sqlite`) in the data directory; several nodes share a PostgreSQL database
//! (`MetaStore::connect("postgres://…")`). Every query is written once, in the SQL both
//! understand: `$N` placeholders, `ON CONFLICT`, `RETURNING`, integers as 64-bit (SQLite
//! `INTEGER`, PostgreSQL `BIGINT`), flags as 0/1 integers, times as RFC 3339 text, bytes as
//! `BLOB`/`BYTEA`. Only the schema (`migrations/sqlite/`, `migrations/postgres/`, same
//! numbering) and the way a writer takes a lock (`BEGIN IMMEDIATE` on SQLite, a
//! transaction-scoped advisory lock on PostgreSQL) differ.

use std::path::Path;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::RngCore;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions, AnyRow};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Row, Transaction};
use tracing::info;

/// The schema of each back end: `(version, SQL)`, versions shared by both sets, applied in
/// order, each once (recorded in `schema_migrations`).
const SQLITE_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/sqlite/0001_meta.sql")),
    (2, include_str!("../../migrations/sqlite/0002_accounts.sql")),
    (
        3,
        include_str!("../../migrations/sqlite/0003_copy_attribution.sql"),
    ),
    (4, include_str!("../../migrations/sqlite/0004_links.sql")),
    (
        5,
        include_str!("../../migrations/sqlite/0005_conversions.sql"),
    ),
    (
        6,
        include_str!("../../migrations/sqlite/0006_shared_state.sql"),
    ),
    (
        7,
        include_str!("../../migrations/sqlite/0007_login_failures.sql"),
    ),
    (
        8,
        include_str!("../../migrations/sqlite/0008_survey_claims.sql"),
    ),
    (
        9,
        include_str!("../../migrations/sqlite/0009_short_domains.sql"),
    ),
    (10, include_str!("../../migrations/sqlite/0010_teams.sql")),
    (11, include_str!("../../migrations/sqlite/0011_imports.sql")),
    (12, include_str!("../../migrations/sqlite/0012_notify.sql")),
];
const POSTGRES_MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/postgres/0001_meta.sql")),
    (
        2,
        include_str!("../../migrations/postgres/0002_accounts.sql"),
    ),
    (
        3,
        include_str!("../../migrations/postgres/0003_copy_attribution.sql"),
    ),
    (4, include_str!("../../migrations/postgres/0004_links.sql")),
    (
        5,
        include_str!("../../migrations/postgres/0005_conversions.sql"),
    ),
    (
        6,
        include_str!("../../migrations/postgres/0006_shared_state.sql"),
    ),
    (
        7,
        include_str!("../../migrations/postgres/0007_login_failures.sql"),
    ),
    (
        8,
        include_str!("../../migrations/postgres/0008_survey_claims.sql"),
    ),
    (
        9,
        include_str!("../../migrations/postgres/0009_short_domains.sql"),
    ),
    (10, include_str!("../../migrations/postgres/0010_teams.sql")),
    (
        11,
        include_str!("../../migrations/postgres/0011_imports.sql"),
    ),
    (
        12,
        include_str!("../../migrations/postgres/0012_notify.sql"),
    ),
];

/// Per-connection settings of the SQLite file: WAL (readers never wait for the writer),
/// every commit synced, foreign keys enforced, and up to 10 s of waiting for a lock
/// before `SQLITE_BUSY`; deleted rows (old daily salts above all) overwritten with zeros
/// rather than left in free pages.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;";

/// Keys of the PostgreSQL advisory locks that serialise writers across nodes.
const LOCK_MIGRATE: i64 = 0x4c75_6361_726e_0001;
const LOCK_FIRST_USER: i64 = 0x4c75_6361_726e_0002;

mod annotations;
mod copy;
mod funnels;
mod goals;
mod imports;
mod links;
mod notify;
mod team;
mod visits;
pub use annotations::{Annotation, MAX_ANNOTATIONS};
pub use copy::CopyCounts;
pub use funnels::SavedFunnel;
pub use goals::Goal;
pub use imports::{Import, ImportedGroup};
pub use links::{Link, LinkInput};
pub use notify::{
    AlertRecord, Channel, Delivery, NewDelivery, Status as DeliveryStatus, SubKind, Subscription,
    Webhook,
};
pub use team::{Invitation, InvitationState, INVITATION_DAYS};
pub use visits::LiveVisit;

#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    #[error("metadata store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("site `{0}` already exists")]
    SiteExists(String),
    #[error("the slug `{0}` is taken on this domain")]
    SlugTaken(String),
    /// A custom short domain that belongs to another site (or is another site's own).
    #[error("the short domain `{0}` belongs to another site")]
    DomainTaken(String),
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

/// Which database a [`MetaStore`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaBackend {
    Sqlite,
    Postgres,
}

impl MetaBackend {
    pub fn as_str(self) -> &'static str {
        match self {
            MetaBackend::Sqlite => "sqlite",
            MetaBackend::Postgres => "postgres",
        }
    }

    fn migrations(self) -> &'static [(i64, &'static str)] {
        match self {
            MetaBackend::Sqlite => SQLITE_MIGRATIONS,
            MetaBackend::Postgres => POSTGRES_MIGRATIONS,
        }
    }

    /// The back end of a connection URL, from its scheme.
    fn of_url(url: &str) -> Option<MetaBackend> {
        let scheme = url.split_once(':')?.0.to_ascii_lowercase();
        match scheme.as_str() {
            "sqlite" => Some(MetaBackend::Sqlite),
            "postgres" | "postgresql" => Some(MetaBackend::Postgres),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct MetaStore {
    pool: AnyPool,
    backend: MetaBackend,
}

fn install_drivers() {
    // Idempotent: the drivers are installed once per process.
    sqlx::any::install_default_drivers();
}

/// A constraint said no to a duplicate (checked before, but another node may have won).
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
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
    /// The embedded default: `meta.sqlite` in `dir` (created with the directory if missing).
    pub async fn open(dir: &Path) -> Result<Self, MetaError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| MetaError::Invalid(format!("create {}: {e}", dir.display())))?;
        let opts = SqliteConnectOptions::new()
            .filename(dir.join("meta.sqlite"))
            .create_if_missing(true);
        Self::open_sqlite(&opts).await
    }

    /// A metadata store by URL: `sqlite://PATH` (the file is created if missing unless the
    /// URL sets `mode=`) or `postgres://USER:PASSWORD@HOST:PORT/DATABASE`
    /// (`postgresql://` too, with libpq-style parameters such as `sslmode`).
    pub async fn connect(url: &str) -> Result<Self, MetaError> {
        match MetaBackend::of_url(url) {
            Some(MetaBackend::Sqlite) => {
                let mut opts = SqliteConnectOptions::from_str(url)?;
                let sets_mode = url
                    .split_once('?')
                    .is_some_and(|(_, q)| q.split('&').any(|p| p.starts_with("mode=")));
                if !sets_mode {
                    opts = opts.create_if_missing(true);
                }
                Self::open_sqlite(&opts).await
            }
            Some(MetaBackend::Postgres) => {
                install_drivers();
                let opts = AnyConnectOptions::from_str(url)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(8)
                    .connect_with(opts)
                    .await?;
                Self::start(pool, MetaBackend::Postgres).await
            }
            None => {
                let scheme = url.split_once(':').map_or("", |(s, _)| s);
                Err(MetaError::Invalid(format!(
                    "metadata store URL scheme `{scheme}` is not supported: use sqlite://… or postgres://…"
                )))
            }
        }
    }

    async fn open_sqlite(opts: &SqliteConnectOptions) -> Result<Self, MetaError> {
        install_drivers();
        // Through `Any` a SQLite connection is described by its URL (file, mode); the
        // pragmas that the URL cannot carry run on every new connection.
        let opts = AnyConnectOptions::from_url(&opts.to_url_lossy())?;
        let pool = AnyPoolOptions::new()
            .max_connections(4)
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    conn.execute(SQLITE_PRAGMAS).await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await?;
        Self::start(pool, MetaBackend::Sqlite).await
    }

    async fn start(pool: AnyPool, backend: MetaBackend) -> Result<Self, MetaError> {
        let store = MetaStore { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    /// The database this store runs on.
    pub fn backend(&self) -> MetaBackend {
        self.backend
    }

    /// A write transaction that excludes every other caller holding the same `lock`, on
    /// this node or another: SQLite takes its one write lock at `BEGIN IMMEDIATE`;
    /// PostgreSQL takes an advisory lock released at commit or rollback.
    async fn begin_exclusive(&self, lock: i64) -> Result<Transaction<'static, Any>, MetaError> {
        match self.backend {
            MetaBackend::Sqlite => Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?),
            MetaBackend::Postgres => {
                let mut tx = self.pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(lock)
                    .execute(&mut *tx)
                    .await?;
                Ok(tx)
            }
        }
    }

    /// Apply the migrations this database lacks, in one transaction that holds the
    /// migration lock: nodes starting together apply each migration once, the others wait
    /// and then find nothing to do.
    async fn migrate(&self) -> Result<(), MetaError> {
        let mut tx = self.begin_exclusive(LOCK_MIGRATE).await?;
        let ddl = match self.backend {
            MetaBackend::Sqlite => "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)",
            MetaBackend::Postgres => "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TEXT NOT NULL)",
        };
        sqlx::query(ddl).execute(&mut *tx).await?;
        let current: i64 =
            sqlx::query("SELECT coalesce(max(version), 0) AS v FROM schema_migrations")
                .fetch_one(&mut *tx)
                .await?
                .try_get("v")?;
        let known = self
            .backend
            .migrations()
            .iter()
            .map(|(v, _)| *v)
            .max()
            .unwrap_or(0);
        if current > known {
            return Err(MetaError::Invalid(crate::newer_schema(
                "the metadata store",
                current,
                known,
            )));
        }
        for (version, sql) in self.backend.migrations() {
            if *version <= current {
                continue;
            }
            info!(
                message = "Applying metadata migration.",
                version,
                backend = self.backend.as_str()
            );
            (&mut *tx).execute(*sql).await?;
            sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)")
                .bind(version)
                .bind(Utc::now().to_rfc3339())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn add_site(&self, domain: &str, timezone: &str) -> Result<Site, MetaError> {
        let domain = normalise_domain(domain)?;
        if self.site_by_domain(&domain).await?.is_some() {
            return Err(MetaError::SiteExists(domain));
        }
        // PostgreSQL's identity never gives an id twice; SQLite would give the largest
        // again once deleted, so it starts past every deleted site's id.
        let sql = match self.backend {
            MetaBackend::Postgres => {
                "INSERT INTO sites (domain, timezone, created_at) VALUES ($1, $2, $3) RETURNING id"
            }
            MetaBackend::Sqlite => {
                "INSERT INTO sites (id, domain, timezone, created_at) VALUES (\
                 (SELECT max(n) + 1 FROM (SELECT coalesce(max(id), 0) AS n FROM sites \
                 UNION ALL SELECT coalesce(max(site_id), 0) FROM deleted_sites)), $1, $2, $3) RETURNING id"
            }
        };
        let id: i64 = sqlx::query(sql)
            .bind(&domain)
            .bind(timezone)
            .bind(Utc::now().to_rfc3339())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    MetaError::SiteExists(domain.clone())
                } else {
                    MetaError::Db(e)
                }
            })?
            .try_get("id")?;
        self.bump_sites().await;
        Ok(Site {
            id: id as u32,
            domain,
            timezone: timezone.to_string(),
            allowed_hostnames: Vec::new(),
        })
    }

    fn row_to_site(r: &AnyRow) -> Result<Site, MetaError> {
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

    /// A consistent copy of the embedded SQLite store as a new file at `to`, taken while
    /// it is in use (`VACUUM INTO`: one read transaction). PostgreSQL has its own tools.
    pub async fn backup_to(&self, to: &std::path::Path) -> Result<(), MetaError> {
        if self.backend != MetaBackend::Sqlite {
            return Err(MetaError::Invalid(
                "the metadata store is PostgreSQL: back it up with pg_dump".into(),
            ));
        }
        if to.exists() {
            return Err(MetaError::Invalid(format!(
                "{} exists already",
                to.display()
            )));
        }
        sqlx::query("VACUUM INTO $1")
            .bind(to.to_string_lossy().into_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One round trip to the store (readiness): `SELECT 1`.
    pub async fn ping(&self) -> Result<(), MetaError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
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
            "SELECT id, domain, timezone, allowed_hostnames FROM sites WHERE domain = $1",
        )
        .bind(domain)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::row_to_site).transpose()
    }

    /// Move the `sites` version so every node forgets its cached sites and settings. The
    /// change itself is already committed: a failure here is logged, not returned (the
    /// nodes' 30-second cache lifetime still bounds how stale they can be).
    async fn bump_sites(&self) {
        if let Err(e) = self.bump_state_version("sites").await {
            tracing::warn!(message = "Could not move the sites version; other nodes follow within 30 s.", error = %e);
        }
    }

    pub async fn set_site_settings(
        &self,
        id: u32,
        timezone: &str,
        allowed_hostnames: &[String],
    ) -> Result<(), MetaError> {
        sqlx::query("UPDATE sites SET timezone = $1, allowed_hostnames = $2 WHERE id = $3")
            .bind(timezone)
            .bind(allowed_hostnames.join(","))
            .bind(i64::from(id))
            .execute(&self.pool)
            .await?;
        self.bump_sites().await;
        Ok(())
    }

    /// Create a stats API key; the plaintext is returned once and only its hash is kept.
    pub async fn create_api_key(&self, name: &str) -> Result<String, MetaError> {
        let mut raw = [0u8; 24];
        rand::rng().fill_bytes(&mut raw);
        let key = format!("lk_{}", base32(&raw));
        sqlx::query(
            "INSERT INTO api_keys (name, prefix, key_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(&key[..9])
        .bind(hash_key(&key))
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(key)
    }

    fn row_to_api_key(r: &AnyRow) -> Result<ApiKey, MetaError> {
        Ok(ApiKey {
            id: r.try_get("id")?,
            name: r.try_get("name")?,
            prefix: r.try_get("prefix")?,
            created_at: r.try_get("created_at")?,
            revoked: r.try_get::<Option<String>, _>("revoked_at")?.is_some(),
        })
    }

    pub async fn api_keys(&self) -> Result<Vec<ApiKey>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, created_at, revoked_at FROM api_keys ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::row_to_api_key).collect()
    }

    pub async fn revoke_api_key(&self, id: i64) -> Result<bool, MetaError> {
        let n =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(Utc::now().to_rfc3339())
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok(n > 0)
    }

    /// Is this a live (not revoked) API key?
    pub async fn verify_api_key(&self, key: &str) -> Result<bool, MetaError> {
        let row = sqlx::query("SELECT id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
            .bind(hash_key(key))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// The salts for `now`'s UTC day: creates today's if missing (the first node to ask
    /// wins; every node then reads the same one) and deletes every salt older than
    /// yesterday's, so no salt lives longer than 48 hours.
    ///
    /// Race-free across nodes: the insert does nothing when the day has a salt (on
    /// PostgreSQL it waits for a concurrent insert of the same day to commit first), and
    /// the read that follows is a new statement that sees the winner's salt.
    pub async fn salts(&self, now: DateTime<Utc>) -> Result<Salts, MetaError> {
        let today = now.date_naive();
        let yesterday = today - Duration::days(1);
        let mut fresh = [0u8; 32];
        rand::rng().fill_bytes(&mut fresh);
        sqlx::query("INSERT INTO salts (day, salt, created_at) VALUES ($1, $2, $3) ON CONFLICT (day) DO NOTHING")
            .bind(today.to_string())
            .bind(fresh.to_vec())
            .bind(now.to_rfc3339())
            .execute(&self.pool)
            .await?;
        // An old salt is overwritten before it is deleted, and on SQLite (secure_delete)
        // its freed page is zeroed and the write-ahead log truncated, so its bytes are
        // gone from the files, not only unreachable. (PostgreSQL keeps dead row versions
        // until VACUUM, which autovacuum runs; see README "Security and limits".)
        let zero = vec![0u8; 32];
        let gone = sqlx::query("UPDATE salts SET salt = $1 WHERE day < $2")
            .bind(zero)
            .bind(yesterday.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        if gone > 0 {
            sqlx::query("DELETE FROM salts WHERE day < $1")
                .bind(yesterday.to_string())
                .execute(&self.pool)
                .await?;
            if self.backend == MetaBackend::Sqlite {
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&self.pool)
                    .await?;
            }
        }
        let rows = sqlx::query("SELECT day, salt FROM salts WHERE day >= $1")
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

/// A user's role on one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sees the dashboard and changes settings, members and shared links.
    Owner,
    /// Sees the dashboard.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Viewer => "viewer",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// An account as stored (the password hash is a PHC string, e.g. argon2id).
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub locale: Option<String>,
}

/// One member of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
}

/// A live login session, found by its token's hash.
#[derive(Debug, Clone)]
pub struct WebSession {
    pub user: UserRecord,
    pub csrf: String,
}

/// A shared read-only dashboard link (the token itself is not stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLink {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub created_at: String,
    pub revoked: bool,
}

/// How the share token is added to links shared from the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareParamStyle {
    Fragment,
    Query,
}

impl ShareParamStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            ShareParamStyle::Fragment => "fragment",
            ShareParamStyle::Query => "query",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "fragment" => Some(ShareParamStyle::Fragment),
            "query" => Some(ShareParamStyle::Query),
            _ => None,
        }
    }
}

/// Site settings beyond [`Site`]'s time zone and hostnames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteOptions {
    pub share_param_style: ShareParamStyle,
    /// Days of events kept; `None` keeps everything.
    pub retention_days: Option<u32>,
    /// Drop events from browsers sending Do-Not-Track or Global Privacy Control.
    pub honour_dnt: bool,
    /// Accept `copy` events (copied-text attribution). Off by default: it is intrusive.
    pub copy_attribution: bool,
    /// ISO 4217 code revenue is reported in.
    pub currency: String,
    /// Fixed rates of other currencies into `currency` (`core::conversions::ExchangeRates`
    /// text form), empty for none.
    pub exchange_rates: String,
    /// Accept survey answers.
    pub survey_enabled: bool,
    /// The survey's option ids in order; empty: the defaults of `data/survey.toml`.
    pub survey_options: Vec<String>,
    /// The short domain the site's new links get by default (empty: Lucarne's own host).
    pub short_domain: String,
    /// Origins allowed to frame the site's shared dashboard (`core::embed`), none by
    /// default.
    pub embed_origins: Vec<String>,
    /// Alert thresholds, quiet hours and daily cap (JSON read by `server::notify`);
    /// empty: the defaults.
    pub alert_options: String,
}

impl Default for SiteOptions {
    fn default() -> Self {
        SiteOptions {
            share_param_style: ShareParamStyle::Fragment,
            retention_days: None,
            honour_dnt: false,
            copy_attribution: false,
            currency: "EUR".into(),
            exchange_rates: String::new(),
            survey_enabled: true,
            survey_options: Vec::new(),
            short_domain: String::new(),
            embed_origins: Vec::new(),
            alert_options: String::new(),
        }
    }
}

/// What an API key may do, decided at request time from the key's user's roles now (not
/// when the key was made): a role removed or lowered takes effect on the next request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyScope {
    /// An instance key made with the CLI: reads and writes every site.
    All,
    /// A user's key: the sites that user has a role on, with that role. It reads each of
    /// them, and changes only those the user owns.
    Sites(Vec<(u32, Role)>),
}

impl KeyScope {
    /// May this key read the site's reports and lists?
    pub fn allows(&self, site_id: u32) -> bool {
        self.role_on(site_id).is_some()
    }

    /// May this key change the site's data (links, goals, conversions)?
    pub fn can_write(&self, site_id: u32) -> bool {
        self.role_on(site_id) == Some(Role::Owner)
    }

    /// The key's role on a site (an instance key is an owner everywhere).
    pub fn role_on(&self, site_id: u32) -> Option<Role> {
        match self {
            KeyScope::All => Some(Role::Owner),
            KeyScope::Sites(sites) => sites.iter().find(|(id, _)| *id == site_id).map(|s| s.1),
        }
    }
}

/// A random token: 32 bytes (256 bits) in base32, with a readable prefix.
fn random_token(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    format!("{prefix}{}", base32(&raw))
}

fn row_to_user(r: &AnyRow) -> Result<UserRecord, MetaError> {
    Ok(UserRecord {
        id: r.try_get("id")?,
        email: r.try_get("email")?,
        password_hash: r.try_get("password_hash")?,
        locale: r.try_get("locale")?,
    })
}

/// A login e-mail address, normalised (trimmed, lower case) and minimally checked.
pub fn normalise_email(raw: &str) -> Result<String, MetaError> {
    let e = raw.trim().to_lowercase();
    let ok = e.len() <= 254
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(e.split_once('@'), Some((l, d)) if !l.is_empty() && d.contains('.') && !d.contains('@') && !d.starts_with('.') && !d.ends_with('.'));
    if ok {
        Ok(e)
    } else {
        Err(MetaError::Invalid(format!(
            "`{raw}` is not an e-mail address"
        )))
    }
}

/// Accounts, roles, login sessions, shared links, user API keys, site options.
impl MetaStore {
    pub async fn user_count(&self) -> Result<i64, MetaError> {
        Ok(sqlx::query("SELECT count(*) AS n FROM users")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    /// Create an account; `password_hash` is already hashed (PHC string).
    pub async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
        locale: Option<&str>,
    ) -> Result<UserRecord, MetaError> {
        let email = normalise_email(email)?;
        if self.user_by_email(&email).await?.is_some() {
            return Err(MetaError::Invalid(format!("user `{email}` already exists")));
        }
        let id: i64 = sqlx::query(
            "INSERT INTO users (email, password_hash, locale, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&email)
        .bind(password_hash)
        .bind(locale)
        .bind(Utc::now().to_rfc3339())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                MetaError::Invalid(format!("user `{email}` already exists"))
            } else {
                MetaError::Db(e)
            }
        })?
        .try_get("id")?;
        Ok(UserRecord {
            id,
            email,
            password_hash: password_hash.to_string(),
            locale: locale.map(str::to_string),
        })
    }

    /// Create the first account only if there is none yet (atomic: two concurrent
    /// first-run forms cannot both succeed, on one node or several). `None` when a user
    /// already exists.
    pub async fn create_first_user(
        &self,
        email: &str,
        password_hash: &str,
        locale: Option<&str>,
    ) -> Result<Option<UserRecord>, MetaError> {
        let email = normalise_email(email)?;
        // `NOT EXISTS` alone is not enough on PostgreSQL: two transactions would each see
        // an empty table. Under the lock, the second one sees the first one's user.
        let mut tx = self.begin_exclusive(LOCK_FIRST_USER).await?;
        let row = sqlx::query(
            "INSERT INTO users (email, password_hash, locale, created_at, admin) \
             SELECT $1, $2, $3, $4, 1 WHERE NOT EXISTS (SELECT 1 FROM users) RETURNING id",
        )
        .bind(&email)
        .bind(password_hash)
        .bind(locale)
        .bind(Utc::now().to_rfc3339())
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        match row {
            Some(r) => Ok(Some(UserRecord {
                id: r.try_get("id")?,
                email,
                password_hash: password_hash.to_string(),
                locale: locale.map(str::to_string),
            })),
            None => Ok(None),
        }
    }

    /// The account with this address, in any case (addresses are stored lower-cased).
    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, MetaError> {
        let row =
            sqlx::query("SELECT id, email, password_hash, locale FROM users WHERE email = $1")
                .bind(email.trim().to_lowercase())
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(row_to_user).transpose()
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<UserRecord>, MetaError> {
        let row = sqlx::query("SELECT id, email, password_hash, locale FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(row_to_user).transpose()
    }

    /// The user's interface language (`en`, `fr`), or `None` to follow the browser.
    pub async fn set_user_locale(
        &self,
        user_id: i64,
        locale: Option<&str>,
    ) -> Result<(), MetaError> {
        sqlx::query("UPDATE users SET locale = $1 WHERE id = $2")
            .bind(locale)
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn set_user_password(&self, id: i64, password_hash: &str) -> Result<(), MetaError> {
        sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Give `user_id` a role on a site (replacing any previous role).
    pub async fn set_member(
        &self,
        site_id: u32,
        user_id: i64,
        role: Role,
    ) -> Result<(), MetaError> {
        sqlx::query(
            "INSERT INTO site_members (site_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (site_id, user_id) DO UPDATE SET role = excluded.role",
        )
        .bind(i64::from(site_id))
        .bind(user_id)
        .bind(role.as_str())
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn remove_member(&self, site_id: u32, user_id: i64) -> Result<bool, MetaError> {
        let n = sqlx::query("DELETE FROM site_members WHERE site_id = $1 AND user_id = $2")
            .bind(i64::from(site_id))
            .bind(user_id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n > 0)
    }

    pub async fn members(&self, site_id: u32) -> Result<Vec<Member>, MetaError> {
        let rows = sqlx::query(
            "SELECT m.user_id, u.email, m.role FROM site_members m JOIN users u ON u.id = m.user_id \
             WHERE m.site_id = $1 ORDER BY m.role, u.email",
        )
        .bind(i64::from(site_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let role: String = r.try_get("role")?;
                Ok(Member {
                    user_id: r.try_get("user_id")?,
                    email: r.try_get("email")?,
                    role: Role::parse(&role)
                        .ok_or_else(|| MetaError::Invalid(format!("stored role `{role}`")))?,
                })
            })
            .collect()
    }

    pub async fn member_role(&self, site_id: u32, user_id: i64) -> Result<Option<Role>, MetaError> {
        let row = sqlx::query("SELECT role FROM site_members WHERE site_id = $1 AND user_id = $2")
            .bind(i64::from(site_id))
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(r) => Ok(Role::parse(&r.try_get::<String, _>("role")?)),
            None => Ok(None),
        }
    }

    /// The sites a user has a role on, by domain.
    pub async fn user_sites(&self, user_id: i64) -> Result<Vec<(Site, Role)>, MetaError> {
        let rows = sqlx::query(
            "SELECT s.id, s.domain, s.timezone, s.allowed_hostnames, m.role FROM sites s \
             JOIN site_members m ON m.site_id = s.id WHERE m.user_id = $1 ORDER BY s.domain",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let role: String = r.try_get("role")?;
            if let Some(role) = Role::parse(&role) {
                out.push((Self::row_to_site(r)?, role));
            }
        }
        Ok(out)
    }

    /// Register a site and make `user_id` its owner.
    pub async fn add_site_owned(
        &self,
        domain: &str,
        timezone: &str,
        user_id: i64,
    ) -> Result<Site, MetaError> {
        let site = self.add_site(domain, timezone).await?;
        self.set_member(site.id, user_id, Role::Owner).await?;
        Ok(site)
    }

    pub async fn site_options(&self, site_id: u32) -> Result<SiteOptions, MetaError> {
        let row = sqlx::query(
            "SELECT share_param_style, retention_days, honour_dnt, copy_attribution, currency, \
             exchange_rates, survey_enabled, survey_options, short_domain, embed_origins, alert_options \
             FROM sites WHERE id = $1",
        )
        .bind(i64::from(site_id))
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else {
            return Ok(SiteOptions::default());
        };
        let style: String = r.try_get("share_param_style")?;
        Ok(SiteOptions {
            share_param_style: ShareParamStyle::parse(&style).unwrap_or(ShareParamStyle::Fragment),
            retention_days: r
                .try_get::<Option<i64>, _>("retention_days")?
                .and_then(|d| u32::try_from(d).ok()),
            honour_dnt: r.try_get::<i64, _>("honour_dnt")? != 0,
            copy_attribution: r.try_get::<i64, _>("copy_attribution")? != 0,
            currency: r.try_get("currency")?,
            exchange_rates: r.try_get("exchange_rates")?,
            survey_enabled: r.try_get::<i64, _>("survey_enabled")? != 0,
            survey_options: r
                .try_get::<String, _>("survey_options")?
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            short_domain: r.try_get("short_domain")?,
            embed_origins: r
                .try_get::<String, _>("embed_origins")?
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            alert_options: r.try_get("alert_options")?,
        })
    }

    pub async fn set_site_options(&self, site_id: u32, o: &SiteOptions) -> Result<(), MetaError> {
        sqlx::query(
            "UPDATE sites SET share_param_style = $1, retention_days = $2, honour_dnt = $3, \
             copy_attribution = $4, currency = $5, exchange_rates = $6, survey_enabled = $7, \
             survey_options = $8, short_domain = $9, embed_origins = $10, alert_options = $11 \
             WHERE id = $12",
        )
        .bind(o.share_param_style.as_str())
        .bind(o.retention_days.map(i64::from))
        .bind(i64::from(o.honour_dnt))
        .bind(i64::from(o.copy_attribution))
        .bind(&o.currency)
        .bind(&o.exchange_rates)
        .bind(i64::from(o.survey_enabled))
        .bind(o.survey_options.join(","))
        .bind(&o.short_domain)
        .bind(o.embed_origins.join(" "))
        .bind(&o.alert_options)
        .bind(i64::from(site_id))
        .execute(&self.pool)
        .await?;
        self.bump_sites().await;
        Ok(())
    }

    /// Store a login session by its token's hash.
    pub async fn create_web_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), MetaError> {
        sqlx::query(
            "INSERT INTO web_sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf)
        .bind(Utc::now().to_rfc3339())
        .bind(expires_at.to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The live session with this token hash, with its user.
    pub async fn web_session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<WebSession>, MetaError> {
        let row = sqlx::query(
            "SELECT u.id, u.email, u.password_hash, u.locale, w.csrf, w.expires_at FROM web_sessions w \
             JOIN users u ON u.id = w.user_id WHERE w.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        let expires: String = r.try_get("expires_at")?;
        let live = DateTime::parse_from_rfc3339(&expires)
            .map(|t| t.with_timezone(&Utc) > now)
            .unwrap_or(false);
        if !live {
            return Ok(None);
        }
        Ok(Some(WebSession {
            user: row_to_user(&r)?,
            csrf: r.try_get("csrf")?,
        }))
    }

    pub async fn delete_web_session(&self, token_hash: &str) -> Result<(), MetaError> {
        sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forget expired sessions; returns how many.
    pub async fn purge_web_sessions(&self, now: DateTime<Utc>) -> Result<u64, MetaError> {
        Ok(
            sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
                .bind(now.to_rfc3339())
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    /// Create a shared link; the token is returned once and only its hash is kept.
    pub async fn create_shared_link(&self, site_id: u32, name: &str) -> Result<String, MetaError> {
        let token = random_token("");
        sqlx::query(
            "INSERT INTO shared_links (site_id, name, prefix, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(i64::from(site_id))
        .bind(name)
        .bind(&token[..6])
        .bind(hash_key(&token))
        .bind(Utc::now().to_rfc3339())
        .execute(&self.pool)
        .await?;
        Ok(token)
    }

    pub async fn shared_links(&self, site_id: u32) -> Result<Vec<SharedLink>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, created_at, revoked_at FROM shared_links WHERE site_id = $1 ORDER BY id",
        )
        .bind(i64::from(site_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SharedLink {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    prefix: r.try_get("prefix")?,
                    created_at: r.try_get("created_at")?,
                    revoked: r.try_get::<Option<String>, _>("revoked_at")?.is_some(),
                })
            })
            .collect()
    }

    pub async fn revoke_shared_link(&self, site_id: u32, id: i64) -> Result<bool, MetaError> {
        let n = sqlx::query(
            "UPDATE shared_links SET revoked_at = $1 WHERE id = $2 AND site_id = $3 AND revoked_at IS NULL",
        )
        .bind(Utc::now().to_rfc3339())
        .bind(id)
        .bind(i64::from(site_id))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// The site a live shared-link token opens.
    pub async fn shared_link_site(&self, token: &str) -> Result<Option<Site>, MetaError> {
        let row = sqlx::query(
            "SELECT s.id, s.domain, s.timezone, s.allowed_hostnames FROM shared_links l \
             JOIN sites s ON s.id = l.site_id WHERE l.token_hash = $1 AND l.revoked_at IS NULL",
        )
        .bind(hash_key(token.trim()))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::row_to_site).transpose()
    }

    /// Create a stats API key owned by a user (it reads only that user's sites).
    pub async fn create_user_api_key(&self, user_id: i64, name: &str) -> Result<String, MetaError> {
        let mut raw = [0u8; 24];
        rand::rng().fill_bytes(&mut raw);
        let key = format!("lk_{}", base32(&raw));
        sqlx::query(
            "INSERT INTO api_keys (name, prefix, key_hash, created_at, user_id) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(&key[..9])
        .bind(hash_key(&key))
        .bind(Utc::now().to_rfc3339())
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(key)
    }

    pub async fn user_api_keys(&self, user_id: i64) -> Result<Vec<ApiKey>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, name, prefix, created_at, revoked_at FROM api_keys WHERE user_id = $1 ORDER BY id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::row_to_api_key).collect()
    }

    pub async fn revoke_user_api_key(&self, user_id: i64, id: i64) -> Result<bool, MetaError> {
        let n = sqlx::query(
            "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
        )
        .bind(Utc::now().to_rfc3339())
        .bind(id)
        .bind(user_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n > 0)
    }

    /// What a live API key may do; `None` for an unknown or revoked key.
    pub async fn api_key_sites(&self, key: &str) -> Result<Option<KeyScope>, MetaError> {
        let row =
            sqlx::query("SELECT user_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL")
                .bind(hash_key(key))
                .fetch_optional(&self.pool)
                .await?;
        let Some(r) = row else { return Ok(None) };
        match r.try_get::<Option<i64>, _>("user_id")? {
            None => Ok(Some(KeyScope::All)),
            Some(uid) => {
                let rows = sqlx::query("SELECT site_id, role FROM site_members WHERE user_id = $1")
                    .bind(uid)
                    .fetch_all(&self.pool)
                    .await?;
                let mut sites = Vec::with_capacity(rows.len());
                for r in &rows {
                    let id = u32::try_from(r.try_get::<i64, _>("site_id")?).unwrap_or_default();
                    // An unknown role reads nothing rather than guessing.
                    if let Some(role) = Role::parse(&r.try_get::<String, _>("role")?) {
                        sites.push((id, role));
                    }
                }
                Ok(Some(KeyScope::Sites(sites)))
            }
        }
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

/// Test databases: every metadata test runs on the embedded SQLite file and on a real
/// PostgreSQL server (`lucarne_testkit`), with the same body.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use lucarne_testkit::postgres::PostgresServer;

    use super::MetaStore;

    pub(crate) enum TestDb {
        Sqlite(tempfile::TempDir),
        Postgres {
            url: String,
            _server: Arc<PostgresServer>,
        },
    }

    impl TestDb {
        pub(crate) fn sqlite() -> TestDb {
            TestDb::Sqlite(tempfile::tempdir().expect("temporary directory"))
        }

        /// A new, empty database on the PostgreSQL server shared by the running tests.
        pub(crate) fn postgres() -> TestDb {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let server = PostgresServer::shared().unwrap_or_else(|e| {
                panic!("PostgreSQL for the metadata tests (scripts/install-test-deps.sh): {e:#}")
            });
            let name = format!(
                "meta_{}_{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            );
            let url = server
                .create_database(&name)
                .unwrap_or_else(|e| panic!("create database {name}: {e:#}"));
            TestDb::Postgres {
                url,
                _server: server,
            }
        }

        /// SQLite, then PostgreSQL.
        pub(crate) fn both() -> [TestDb; 2] {
            [TestDb::sqlite(), TestDb::postgres()]
        }

        pub(crate) fn name(&self) -> &'static str {
            match self {
                TestDb::Sqlite(_) => "sqlite",
                TestDb::Postgres { .. } => "postgres",
            }
        }

        /// Open (or reopen) the store; says which back end on stderr, so a failing
        /// test's output names it.
        pub(crate) async fn open(&self) -> MetaStore {
            eprintln!("metadata back end: {}", self.name());
            let store = match self {
                TestDb::Sqlite(dir) => MetaStore::open(dir.path()).await,
                TestDb::Postgres { url, .. } => MetaStore::connect(url).await,
            };
            store.unwrap_or_else(|e| panic!("open the {} metadata store: {e}", self.name()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::TestDb;
    use super::*;

    /// A metadata store written by a newer Lucarne is refused with a clear message.
    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = MetaStore::open(dir.path()).await.expect("open");
        sqlx::query("INSERT INTO schema_migrations (version, applied_at) VALUES (9999, 'x')")
            .execute(&meta.pool)
            .await
            .expect("insert");
        meta.close().await;
        let err = MetaStore::open(dir.path()).await.err().expect("refused");
        assert!(
            err.to_string()
                .contains("written by a newer Lucarne (schema version 9999"),
            "{err}"
        );
    }

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
        for db in TestDb::both() {
            let m = db.open().await;
            salts_rotate_and_expire_on(&m).await;
        }
    }

    async fn salts_rotate_and_expire_on(m: &MetaStore) {
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

    /// A deleted salt's bytes are gone from every file of the SQLite store (zeroed page,
    /// truncated write-ahead log), not only unreachable through SQL.
    #[tokio::test]
    async fn deleted_salts_leave_no_bytes_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let m = MetaStore::open(dir.path()).await.unwrap();
        let t0: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
        let old = m.salts(t0).await.unwrap().current;
        let files = || {
            std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| std::fs::read(e.unwrap().path()).unwrap())
                .collect::<Vec<_>>()
        };
        let contains = |hay: &[u8]| hay.windows(old.len()).any(|w| w == old);
        assert!(files().iter().any(|f| contains(f)), "written at first");
        let _ = m.salts(t0 + Duration::days(2)).await.unwrap();
        assert!(!m.salt_days().await.unwrap().contains(&"2024-05-01".into()));
        assert!(
            !files().iter().any(|f| contains(f)),
            "the deleted salt is still in a file of the store"
        );
        m.close().await;
    }

    #[tokio::test]
    async fn keys_and_sites() {
        for db in TestDb::both() {
            let m = db.open().await;
            keys_and_sites_on(&m).await;
        }
    }

    async fn keys_and_sites_on(m: &MetaStore) {
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

    #[tokio::test]
    async fn accounts_roles_sessions_links_and_key_scopes() {
        for db in TestDb::both() {
            accounts_roles_sessions_links_and_key_scopes_on(&db).await;
        }
    }

    async fn accounts_roles_sessions_links_and_key_scopes_on(db: &TestDb) {
        let m = db.open().await;
        let a = m.add_site("a.example", "UTC").await.unwrap();
        let b = m.add_site("b.example", "UTC").await.unwrap();
        assert_eq!(m.user_count().await.unwrap(), 0);
        let u = m
            .create_first_user(" Ann@Example.com ", "$hash", None)
            .await
            .unwrap()
            .expect("first user");
        assert_eq!(u.email, "ann@example.com");
        assert!(m
            .create_first_user("bob@example.com", "$h", None)
            .await
            .unwrap()
            .is_none());
        assert!(
            m.create_user("ANN@example.com", "$h", None).await.is_err(),
            "unique, any case"
        );
        assert!(m.create_user("not an address", "$h", None).await.is_err());
        let v = m
            .create_user("bob@example.com", "$h", Some("fr"))
            .await
            .unwrap();
        assert_eq!(
            m.user_by_email("BOB@example.com")
                .await
                .unwrap()
                .unwrap()
                .id,
            v.id
        );

        m.set_member(a.id, u.id, Role::Owner).await.unwrap();
        m.set_member(a.id, v.id, Role::Viewer).await.unwrap();
        m.set_member(b.id, v.id, Role::Owner).await.unwrap();
        assert_eq!(m.member_role(a.id, v.id).await.unwrap(), Some(Role::Viewer));
        assert_eq!(m.member_role(b.id, u.id).await.unwrap(), None);
        let sites = m.user_sites(v.id).await.unwrap();
        assert_eq!(sites.len(), 2);
        assert_eq!(m.members(a.id).await.unwrap().len(), 2);
        assert!(m.remove_member(a.id, v.id).await.unwrap());
        assert_eq!(m.user_sites(v.id).await.unwrap().len(), 1);

        let now = Utc::now();
        m.create_web_session("h1", u.id, "csrf1", now + Duration::days(30))
            .await
            .unwrap();
        m.create_web_session("h2", u.id, "csrf2", now - Duration::seconds(1))
            .await
            .unwrap();
        assert_eq!(
            m.web_session("h1", now).await.unwrap().unwrap().csrf,
            "csrf1"
        );
        assert!(m.web_session("h2", now).await.unwrap().is_none(), "expired");
        assert_eq!(m.purge_web_sessions(now).await.unwrap(), 1);
        m.delete_web_session("h1").await.unwrap();
        assert!(m.web_session("h1", now).await.unwrap().is_none());

        let token = m.create_shared_link(a.id, "press").await.unwrap();
        assert!(token.len() >= 50, "256 bits in base32");
        assert_eq!(m.shared_link_site(&token).await.unwrap().unwrap().id, a.id);
        let id = m.shared_links(a.id).await.unwrap()[0].id;
        assert!(
            !m.revoke_shared_link(b.id, id).await.unwrap(),
            "another site's link"
        );
        assert!(m.revoke_shared_link(a.id, id).await.unwrap());
        assert!(m.shared_link_site(&token).await.unwrap().is_none());

        let instance = m.create_api_key("cli").await.unwrap();
        let mine = m.create_user_api_key(v.id, "mine").await.unwrap();
        assert_eq!(
            m.api_key_sites(&instance).await.unwrap(),
            Some(KeyScope::All)
        );
        assert_eq!(
            m.api_key_sites(&mine).await.unwrap(),
            Some(KeyScope::Sites(vec![(b.id, Role::Owner)]))
        );
        // The role is read at request time: lowered to viewer, the same key reads b
        // but no longer changes it.
        m.set_member(b.id, v.id, Role::Viewer).await.unwrap();
        let scope = m.api_key_sites(&mine).await.unwrap().unwrap();
        assert!(scope.allows(b.id) && !scope.can_write(b.id));
        assert!(!scope.allows(a.id) && !scope.can_write(a.id));
        m.set_member(b.id, v.id, Role::Owner).await.unwrap();
        assert_eq!(m.api_key_sites("lk_nope").await.unwrap(), None);
        assert_eq!(m.user_api_keys(v.id).await.unwrap().len(), 1);
        assert_eq!(m.user_api_keys(u.id).await.unwrap().len(), 0);
        let kid = m.user_api_keys(v.id).await.unwrap()[0].id;
        assert!(
            !m.revoke_user_api_key(u.id, kid).await.unwrap(),
            "not u's key"
        );
        assert!(m.revoke_user_api_key(v.id, kid).await.unwrap());
        assert_eq!(m.api_key_sites(&mine).await.unwrap(), None);

        assert_eq!(m.site_options(a.id).await.unwrap(), SiteOptions::default());
        let o = SiteOptions {
            share_param_style: ShareParamStyle::Query,
            retention_days: Some(400),
            honour_dnt: true,
            copy_attribution: true,
            embed_origins: vec!["https://a.example".into(), "http://localhost:3000".into()],
            alert_options: r#"{"cap":2}"#.into(),
            ..SiteOptions::default()
        };
        m.set_site_options(a.id, &o).await.unwrap();
        assert_eq!(m.site_options(a.id).await.unwrap(), o);
        // Reopening applies no migration twice.
        m.close().await;
        let m = db.open().await;
        assert_eq!(m.site_options(a.id).await.unwrap(), o);
    }

    /// The SQLite file keeps today's settings through `Any`: WAL, FULL sync, foreign
    /// keys, 10 s busy timeout; `connect` takes SQLite and PostgreSQL URLs only.
    #[tokio::test]
    async fn sqlite_settings_and_urls() {
        let dir = tempfile::tempdir().unwrap();
        let by_dir = MetaStore::open(dir.path()).await.unwrap();
        assert_eq!(by_dir.backend(), MetaBackend::Sqlite);
        assert!(dir.path().join("meta.sqlite").is_file());
        let url = format!("sqlite://{}", dir.path().join("other.sqlite").display());
        let by_url = MetaStore::connect(&url).await.unwrap();
        assert!(dir.path().join("other.sqlite").is_file(), "created");
        for m in [&by_dir, &by_url] {
            let mut conn = m.pool.acquire().await.unwrap();
            let text = |r: AnyRow| r.try_get::<String, _>(0).unwrap();
            let int = |r: AnyRow| r.try_get::<i64, _>(0).unwrap();
            let q = |sql: &'static str| sqlx::query(sql);
            assert_eq!(
                text(
                    q("PRAGMA journal_mode")
                        .fetch_one(&mut *conn)
                        .await
                        .unwrap()
                ),
                "wal"
            );
            assert_eq!(
                int(q("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap()),
                2,
                "FULL"
            );
            assert_eq!(
                int(q("PRAGMA foreign_keys")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap()),
                1
            );
            assert_eq!(
                int(q("PRAGMA busy_timeout")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap()),
                10_000
            );
        }
        // Foreign keys hold: a member of a site that does not exist is refused.
        let u = by_dir
            .create_user("ann@example.com", "$h", None)
            .await
            .unwrap();
        assert!(by_dir.set_member(999, u.id, Role::Owner).await.is_err());

        let missing = format!(
            "sqlite://{}?mode=rw",
            dir.path().join("absent.sqlite").display()
        );
        assert!(
            MetaStore::connect(&missing).await.is_err(),
            "mode=rw does not create"
        );
        assert!(matches!(
            MetaStore::connect("mysql://root@localhost/meta").await,
            Err(MetaError::Invalid(_))
        ));
    }

    /// Both back ends bind `$N` by number: reordered, and one parameter used twice.
    #[tokio::test]
    async fn placeholders_bind_by_number() {
        for db in TestDb::both() {
            let m = db.open().await;
            let r = sqlx::query("SELECT $2 AS b, $1 AS a, $1 + 1 AS c")
                .bind(41_i64)
                .bind("second")
                .fetch_one(&m.pool)
                .await
                .unwrap();
            assert_eq!(r.try_get::<String, _>("b").unwrap(), "second");
            assert_eq!(r.try_get::<i64, _>("a").unwrap(), 41);
            assert_eq!(r.try_get::<i64, _>("c").unwrap(), 42);
        }
    }

    async fn versions(m: &MetaStore) -> Vec<(i64, String)> {
        sqlx::query("SELECT version, applied_at FROM schema_migrations ORDER BY version")
            .fetch_all(&m.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r.try_get("version").unwrap(),
                    r.try_get("applied_at").unwrap(),
                )
            })
            .collect()
    }

    /// Reopening applies nothing again; two nodes starting at once on an empty
    /// PostgreSQL database both come up, with each migration applied once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn migrations_apply_once() {
        for db in TestDb::both() {
            let m = db.open().await;
            let first = versions(&m).await;
            let numbers: Vec<i64> = first.iter().map(|(v, _)| *v).collect();
            let all: Vec<i64> = SQLITE_MIGRATIONS.iter().map(|(v, _)| *v).collect();
            assert_eq!(numbers, all, "{}", db.name());
            assert_eq!(
                all,
                POSTGRES_MIGRATIONS
                    .iter()
                    .map(|(v, _)| *v)
                    .collect::<Vec<_>>(),
                "both engines have the same migrations"
            );
            m.close().await;
            let again = db.open().await;
            assert_eq!(versions(&again).await, first, "nothing applied twice");
        }

        for _ in 0..3 {
            let db = TestDb::postgres();
            let TestDb::Postgres { url, .. } = &db else {
                unreachable!("a PostgreSQL test database")
            };
            let node = |url: String| tokio::spawn(async move { MetaStore::connect(&url).await });
            let (a, b) = tokio::join!(node(url.clone()), node(url.clone()));
            let a = a.unwrap().expect("first node");
            let b = b.unwrap().expect("second node");
            let numbers: Vec<i64> = versions(&a).await.iter().map(|(v, _)| *v).collect();
            let all: Vec<i64> = POSTGRES_MIGRATIONS.iter().map(|(v, _)| *v).collect();
            assert_eq!(numbers, all);
            assert_eq!(versions(&a).await, versions(&b).await);
            a.add_site("example.com", "UTC").await.unwrap();
            assert_eq!(b.sites().await.unwrap().len(), 1);
        }
    }

    /// Two nodes asking for the day's salts at the same moment get the same salts.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn salts_agree_across_nodes() {
        for db in TestDb::both() {
            let a = db.open().await;
            let b = db.open().await;
            let t0: DateTime<Utc> = "2024-05-01T10:00:00Z".parse().unwrap();
            for day in 0..20 {
                let now = t0 + Duration::days(day);
                let (x, y) = tokio::join!(
                    tokio::spawn({
                        let a = a.clone();
                        async move { a.salts(now).await }
                    }),
                    tokio::spawn({
                        let b = b.clone();
                        async move { b.salts(now).await }
                    })
                );
                let (x, y) = (x.unwrap().unwrap(), y.unwrap().unwrap());
                assert_eq!(x.current, y.current, "{} day {day}", db.name());
                assert_eq!(x.previous, y.previous, "{} day {day}", db.name());
                assert_eq!(x.previous.is_some(), day > 0);
            }
            assert_eq!(a.salt_days().await.unwrap().len(), 2);
        }
    }

    /// Races between nodes: one first user, one site per domain, one claim per
    /// conversion id, one goal per definition, and no click lost.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_across_nodes() {
        for db in TestDb::both() {
            let nodes = [
                db.open().await,
                db.open().await,
                db.open().await,
                db.open().await,
            ];
            let results = futures_join_all(nodes.iter().enumerate().map(|(i, m)| {
                let m = m.clone();
                async move {
                    m.create_first_user(&format!("admin{i}@example.com"), "$h", None)
                        .await
                }
            }))
            .await;
            let created = results
                .into_iter()
                .map(|r| r.unwrap())
                .filter(Option::is_some)
                .count();
            assert_eq!(created, 1, "{}: one first user", db.name());
            assert_eq!(nodes[0].user_count().await.unwrap(), 1);

            let sites = futures_join_all(nodes.iter().map(|m| {
                let m = m.clone();
                async move { m.add_site("race.example", "UTC").await }
            }))
            .await;
            let ok = sites.iter().filter(|r| r.is_ok()).count();
            assert_eq!(ok, 1, "{}: one site", db.name());
            assert!(sites
                .iter()
                .all(|r| r.is_ok() || matches!(r, Err(MetaError::SiteExists(_)))));
            let site = nodes[0]
                .site_by_domain("race.example")
                .await
                .unwrap()
                .unwrap();

            let claims = futures_join_all(nodes.iter().map(|m| {
                let m = m.clone();
                async move { m.claim_conversion_id(site.id, "order-7").await }
            }))
            .await;
            let won = claims.into_iter().filter(|r| *r.as_ref().unwrap()).count();
            assert_eq!(won, 1, "{}: one claim", db.name());

            let buy = lucarne_core::conversions::GoalKind::parse("event", "purchase").unwrap();
            let goals = futures_join_all(nodes.iter().map(|m| {
                let (m, buy) = (m.clone(), buy.clone());
                async move { m.create_goal(site.id, &buy, "").await }
            }))
            .await;
            let made = goals
                .into_iter()
                .filter(|r| r.as_ref().unwrap().is_some())
                .count();
            assert_eq!(made, 1, "{}: one goal", db.name());

            let l1 = nodes[0]
                .create_link(
                    site.id,
                    &LinkInput {
                        slug: "one".into(),
                        target: "https://race.example/".into(),
                        redirect: 302,
                        ..LinkInput::default()
                    },
                )
                .await
                .unwrap();
            let l2 = nodes[0]
                .create_link(
                    site.id,
                    &LinkInput {
                        slug: "two".into(),
                        target: "https://race.example/".into(),
                        redirect: 302,
                        ..LinkInput::default()
                    },
                )
                .await
                .unwrap();
            // Each node flushes both links, in opposite orders, many times at once.
            let flushes = futures_join_all(nodes.iter().enumerate().map(|(i, m)| {
                let m = m.clone();
                async move {
                    for _ in 0..25 {
                        let batch = if i % 2 == 0 {
                            [(l1.id, 1), (l2.id, 2)]
                        } else {
                            [(l2.id, 2), (l1.id, 1)]
                        };
                        m.add_link_clicks(&batch).await?;
                    }
                    Ok::<(), MetaError>(())
                }
            }))
            .await;
            for f in flushes {
                f.unwrap();
            }
            let one = nodes[1].link(site.id, l1.id).await.unwrap().unwrap();
            let two = nodes[2].link(site.id, l2.id).await.unwrap().unwrap();
            assert_eq!((one.clicks, two.clicks), (100, 200), "{}", db.name());
        }
    }

    /// Run futures each on its own task and wait for all, in order.
    async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
        let mut out = Vec::with_capacity(handles.len());
        for h in handles {
            out.push(h.await.expect("task"));
        }
        out
    }
}
