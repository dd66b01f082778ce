//! Copying one metadata store into another: `lucarne migrate` moves the embedded SQLite
//! file into PostgreSQL with it (ARCHITECTURE.md, "Scale-out").
//!
//! Generic per table: [`TABLES`] lists every copied table with every column and its type,
//! in foreign-key order; a test checks the list against the schema of both engines, so a
//! column added by a future migration cannot be forgotten here. Ids are kept (PostgreSQL's
//! identity columns accept explicit values; their sequences are moved past the copied ids
//! afterwards), every column is copied as is, and everything is written in one transaction
//! on the target: a failed copy leaves the target as it was.
//!
//! Not copied ([`NOT_COPIED`]): `schema_migrations` (each store records its own schema),
//! and the short-lived state several nodes share — `live_visits` (visits in progress: the
//! embedded default keeps them in the server's memory, so the table is unused there, and
//! a visit is over 30 minutes after its last event anyway; the server is stopped while
//! migrating), `login_failures` (the login rate limiter's recent failures; counting
//! starts afresh) and `survey_claims` (which visits in progress answered the survey).

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::{MetaBackend, MetaError, MetaStore};

/// Serialises copies into one target (PostgreSQL advisory lock key).
const LOCK_COPY: i64 = 0x4c75_6361_726e_0003;

/// Most bind parameters in one `INSERT` (SQLite's historical limit is 999).
const MAX_PARAMS: usize = 900;

/// How a column is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColType {
    /// SQLite `INTEGER`, PostgreSQL `BIGINT`.
    Int,
    /// `TEXT` on both.
    Text,
    /// SQLite `BLOB`, PostgreSQL `BYTEA`.
    Blob,
}

/// What to do with rows the target already has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnTarget {
    /// The target's table must be empty.
    MustBeEmpty,
    /// Rows with the same key are replaced by the source's (`ON CONFLICT (key) DO UPDATE`):
    /// a store that was started once already holds today's salt and the links counter.
    Replace,
}

/// One copied table.
#[derive(Debug)]
pub(crate) struct TableSpec {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [(&'static str, ColType)],
    /// The primary key (order of reading; conflict target of [`OnTarget::Replace`]).
    pub(crate) key: &'static [&'static str],
    /// Has an `id` identity column on PostgreSQL (its sequence is reset after the copy).
    pub(crate) identity: bool,
    pub(crate) on_target: OnTarget,
}

use ColType::{Blob, Int, Text};

/// Every copied table, parents before children.
pub(crate) const TABLES: &[TableSpec] = &[
    TableSpec {
        name: "sites",
        columns: &[
            ("id", Int),
            ("domain", Text),
            ("timezone", Text),
            ("allowed_hostnames", Text),
            ("created_at", Text),
            ("share_param_style", Text),
            ("retention_days", Int),
            ("honour_dnt", Int),
            ("copy_attribution", Int),
            ("currency", Text),
            ("exchange_rates", Text),
            ("survey_enabled", Int),
            ("survey_options", Text),
            ("short_domain", Text),
            ("embed_origins", Text),
            ("alert_options", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "users",
        columns: &[
            ("id", Int),
            ("email", Text),
            ("password_hash", Text),
            ("locale", Text),
            ("created_at", Text),
            ("admin", Int),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "site_members",
        columns: &[
            ("site_id", Int),
            ("user_id", Int),
            ("role", Text),
            ("created_at", Text),
        ],
        key: &["site_id", "user_id"],
        identity: false,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "api_keys",
        columns: &[
            ("id", Int),
            ("name", Text),
            ("prefix", Text),
            ("key_hash", Text),
            ("created_at", Text),
            ("revoked_at", Text),
            ("user_id", Int),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "web_sessions",
        columns: &[
            ("token_hash", Text),
            ("user_id", Int),
            ("csrf", Text),
            ("created_at", Text),
            ("expires_at", Text),
        ],
        key: &["token_hash"],
        identity: false,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "shared_links",
        columns: &[
            ("id", Int),
            ("site_id", Int),
            ("name", Text),
            ("prefix", Text),
            ("token_hash", Text),
            ("created_at", Text),
            ("revoked_at", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "salts",
        columns: &[("day", Text), ("salt", Blob), ("created_at", Text)],
        key: &["day"],
        identity: false,
        on_target: OnTarget::Replace,
    },
    TableSpec {
        name: "links",
        columns: &[
            ("id", Int),
            ("site_id", Int),
            ("domain", Text),
            ("slug", Text),
            ("target", Text),
            ("channel", Text),
            ("utm_source", Text),
            ("utm_medium", Text),
            ("utm_campaign", Text),
            ("utm_term", Text),
            ("utm_content", Text),
            ("redirect", Int),
            ("expires_at", Text),
            ("max_clicks", Int),
            ("disabled", Int),
            ("clicks", Int),
            ("created_at", Text),
            ("updated_at", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "invitations",
        columns: &[
            ("token_hash", Text),
            ("site_id", Int),
            ("email", Text),
            ("role", Text),
            ("invited_by", Int),
            ("created_at", Text),
            ("expires_at", Text),
        ],
        key: &["token_hash"],
        identity: false,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "deleted_sites",
        columns: &[("site_id", Int), ("domain", Text), ("deleted_at", Text)],
        key: &["site_id"],
        identity: false,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "instance_settings",
        columns: &[("key", Text), ("value", Text), ("updated_at", Text)],
        key: &["key"],
        identity: false,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "short_domains",
        columns: &[("domain", Text), ("site_id", Int), ("created_at", Text)],
        key: &["domain"],
        identity: false,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "goals",
        columns: &[
            ("id", Int),
            ("site_id", Int),
            ("kind", Text),
            ("value", Text),
            ("name", Text),
            ("created_at", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "conversion_ids",
        columns: &[("site_id", Int), ("id", Text), ("created_at", Text)],
        key: &["site_id", "id"],
        identity: false,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "imports",
        columns: &[
            ("id", Int),
            ("site_id", Int),
            ("source", Text),
            ("first_day", Text),
            ("last_day", Text),
            ("files", Text),
            ("row_count", Int),
            ("created_at", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "imported_rows",
        columns: &[
            ("id", Int),
            ("import_id", Int),
            ("site_id", Int),
            ("day", Text),
            ("tbl", Text),
            ("k1", Text),
            ("k2", Text),
            ("k3", Text),
            ("k4", Text),
            ("k5", Text),
            ("k6", Text),
            ("k7", Text),
            ("k8", Text),
            ("k9", Text),
            ("visitors", Int),
            ("visits", Int),
            ("pageviews", Int),
            ("events", Int),
            ("bounces", Int),
            ("visit_duration", Int),
            ("scroll_sum", Int),
            ("scroll_visits", Int),
            ("time_sum", Int),
            ("time_visits", Int),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "annotations",
        columns: &[
            ("id", Int),
            ("site_id", Int),
            ("day", Text),
            ("note", Text),
            ("user_id", Int),
            ("created_at", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "funnels",
        columns: &[
            ("id", Int),
            ("site_id", Int),
            ("name", Text),
            ("steps", Text),
            ("created_at", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "subscriptions",
        columns: &[
            ("id", Int),
            ("user_id", Int),
            ("site_id", Int),
            ("kind", Text),
            ("locale", Text),
            ("token", Text),
            ("created_at", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "webhooks",
        columns: &[
            ("id", Int),
            ("site_id", Int),
            ("url", Text),
            ("secret", Text),
            ("events", Text),
            ("created_at", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "alerts",
        columns: &[
            ("id", Int),
            ("site_id", Int),
            ("kind", Text),
            ("subject", Text),
            ("dedupe", Text),
            ("details", Text),
            ("created_at", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "deliveries",
        columns: &[
            ("id", Int),
            ("site_id", Int),
            ("channel", Text),
            ("target", Text),
            ("kind", Text),
            ("dedupe", Text),
            ("payload", Text),
            ("status", Text),
            ("attempts", Int),
            ("next_attempt_at", Text),
            ("leased_until", Text),
            ("last_error", Text),
            ("created_at", Text),
            ("sent_at", Text),
        ],
        key: &["id"],
        identity: true,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "notify_cursors",
        columns: &[("site_id", Int), ("name", Text), ("value", Text)],
        key: &["site_id", "name"],
        identity: false,
        on_target: OnTarget::MustBeEmpty,
    },
    TableSpec {
        name: "state_versions",
        columns: &[("name", Text), ("version", Int)],
        key: &["name"],
        identity: false,
        on_target: OnTarget::Replace,
    },
];

/// Tables deliberately not copied, and why (the schema test checks that every other
/// table is in [`TABLES`]).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const NOT_COPIED: &[(&str, &str)] = &[
    ("schema_migrations", "each store records its own migrations"),
    (
        "live_visits",
        "visits in progress: unused by the embedded default (it keeps them in memory), \
         and over 30 minutes after their last event",
    ),
    (
        "login_failures",
        "the login rate limiter's recent failures: counting starts afresh",
    ),
    (
        "survey_claims",
        "which visits in progress have answered the survey (the answers themselves are \
         events); unused by the embedded default",
    ),
];

/// Rows copied per table, in copy order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyCounts {
    pub tables: Vec<(&'static str, u64)>,
}

impl CopyCounts {
    /// Rows copied into `table` (0 for a table that is not copied).
    pub fn rows(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .find(|(t, _)| *t == table)
            .map_or(0, |(_, n)| *n)
    }

    /// Rows copied in all.
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// One column's value, NULL included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Blob(Option<Vec<u8>>),
}

fn read_value(r: &AnyRow, i: usize, ty: ColType) -> Result<Value, sqlx::Error> {
    Ok(match ty {
        Int => Value::Int(r.try_get(i)?),
        Text => Value::Text(r.try_get(i)?),
        Blob => Value::Blob(r.try_get(i)?),
    })
}

fn column_list(spec: &TableSpec) -> String {
    spec.columns
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every row of `spec`'s table, in key order.
pub(crate) async fn read_table(
    conn: &mut sqlx::AnyConnection,
    spec: &TableSpec,
) -> Result<Vec<Vec<Value>>, MetaError> {
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {}",
        column_list(spec),
        spec.name,
        spec.key.join(", ")
    );
    let rows = sqlx::query(&sql).fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|r| {
            spec.columns
                .iter()
                .enumerate()
                .map(|(i, (col, ty))| {
                    read_value(r, i, *ty).map_err(|e| {
                        MetaError::Invalid(format!("reading {}.{col}: {e}", spec.name))
                    })
                })
                .collect()
        })
        .collect()
}

/// Insert `rows` into `spec`'s table, several rows per statement.
async fn write_table(
    tx: &mut Transaction<'static, Any>,
    spec: &TableSpec,
    rows: &[Vec<Value>],
) -> Result<(), MetaError> {
    let width = spec.columns.len();
    let per_statement = (MAX_PARAMS / width).max(1);
    let conflict = match spec.on_target {
        OnTarget::MustBeEmpty => String::new(),
        OnTarget::Replace => {
            let set: Vec<String> = spec
                .columns
                .iter()
                .map(|(c, _)| *c)
                .filter(|c| !spec.key.contains(c))
                .map(|c| format!("{c} = excluded.{c}"))
                .collect();
            if set.is_empty() {
                format!(" ON CONFLICT ({}) DO NOTHING", spec.key.join(", "))
            } else {
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {}",
                    spec.key.join(", "),
                    set.join(", ")
                )
            }
        }
    };
    for chunk in rows.chunks(per_statement) {
        let mut n = 0;
        let tuples: Vec<String> = chunk
            .iter()
            .map(|_| {
                let marks: Vec<String> = (0..width)
                    .map(|_| {
                        n += 1;
                        format!("${n}")
                    })
                    .collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}{conflict}",
            spec.name,
            column_list(spec),
            tuples.join(", ")
        );
        let mut q = sqlx::query(&sql);
        for row in chunk {
            for v in row {
                q = match v {
                    Value::Int(v) => q.bind(*v),
                    Value::Text(v) => q.bind(v.clone()),
                    Value::Blob(v) => q.bind(v.clone()),
                };
            }
        }
        q.execute(&mut **tx)
            .await
            .map_err(|e| MetaError::Invalid(format!("copying {}: {e}", spec.name)))?;
    }
    Ok(())
}

impl MetaStore {
    /// Copy every table of this store into `target` (see the module documentation):
    /// same ids, same columns, in one transaction on the target. `target` must be new:
    /// a store that holds sites, users, keys, links or anything else but a salt and the
    /// links counter (which a node writes at start-up) is refused and left untouched.
    pub async fn copy_into(&self, target: &MetaStore) -> Result<CopyCounts, MetaError> {
        let mut tx = target.begin_exclusive(LOCK_COPY).await?;
        let mut present = Vec::new();
        for spec in TABLES
            .iter()
            .filter(|s| s.on_target == OnTarget::MustBeEmpty)
        {
            let n: i64 = sqlx::query(&format!("SELECT count(*) AS n FROM {}", spec.name))
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?;
            if n > 0 {
                present.push(format!("{n} {}", spec.name.replace('_', " ")));
            }
        }
        if !present.is_empty() {
            return Err(MetaError::Invalid(format!(
                "the target metadata store is not empty (it has {}): copy only into a new, \
                 empty database",
                present.join(", ")
            )));
        }

        // The source is read in one transaction: a consistent snapshot.
        let mut src = self.pool.begin().await?;
        if self.backend == MetaBackend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *src)
                .await?;
        }
        let mut counts = CopyCounts::default();
        for spec in TABLES {
            let rows = read_table(&mut src, spec).await?;
            write_table(&mut tx, spec, &rows).await?;
            counts.tables.push((spec.name, rows.len() as u64));
        }
        src.rollback().await?;

        if target.backend == MetaBackend::Postgres {
            // Explicit ids do not move an identity's sequence: the next id made there
            // must come after the copied ones.
            for spec in TABLES.iter().filter(|s| s.identity) {
                sqlx::query(&format!(
                    "SELECT setval(pg_get_serial_sequence('{t}', 'id'), \
                     coalesce(max(id), 0) + 1, false) FROM {t}",
                    t = spec.name
                ))
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(counts)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use chrono::{Duration, Utc};
    use lucarne_core::conversions::GoalKind;

    use super::*;
    use crate::meta::testing::TestDb;
    use crate::meta::{KeyScope, LinkInput, LiveVisit, Role, ShareParamStyle, SiteOptions};

    /// Columns of every table in the store's schema, with their declared type, as the
    /// engine describes them.
    async fn schema(m: &MetaStore) -> BTreeMap<String, Vec<(String, String)>> {
        let mut out = BTreeMap::new();
        match m.backend() {
            MetaBackend::Sqlite => {
                let tables = sqlx::query(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' ORDER BY name",
                )
                .fetch_all(&m.pool)
                .await
                .unwrap();
                for t in tables {
                    let name: String = t.try_get("name").unwrap();
                    let cols = sqlx::query(&format!("PRAGMA table_info({name})"))
                        .fetch_all(&m.pool)
                        .await
                        .unwrap();
                    let cols = cols
                        .iter()
                        .map(|c| {
                            (
                                c.try_get::<String, _>("name").unwrap(),
                                c.try_get::<String, _>("type").unwrap().to_uppercase(),
                            )
                        })
                        .collect();
                    out.insert(name, cols);
                }
            }
            MetaBackend::Postgres => {
                let rows = sqlx::query(
                    "SELECT table_name::text AS t, column_name::text AS c, data_type::text AS ty \
                     FROM information_schema.columns WHERE table_schema = current_schema() \
                     ORDER BY table_name, ordinal_position",
                )
                .fetch_all(&m.pool)
                .await
                .unwrap();
                for r in rows {
                    let t: String = r.try_get("t").unwrap();
                    out.entry(t).or_insert_with(Vec::new).push((
                        r.try_get("c").unwrap(),
                        r.try_get::<String, _>("ty").unwrap().to_uppercase(),
                    ));
                }
            }
        }
        out
    }

    fn type_of(backend: MetaBackend, declared: &str) -> Option<ColType> {
        match (backend, declared) {
            (MetaBackend::Sqlite, "INTEGER") | (MetaBackend::Postgres, "BIGINT") => Some(Int),
            (_, "TEXT") => Some(Text),
            (MetaBackend::Sqlite, "BLOB") | (MetaBackend::Postgres, "BYTEA") => Some(Blob),
            _ => None,
        }
    }

    /// The copy list names every column of every table, with the right type, on both
    /// engines: a migration that adds a table or a column fails here until `TABLES` (or
    /// `NOT_COPIED`) says what becomes of it.
    #[tokio::test]
    async fn the_copy_list_covers_every_column_of_every_table() {
        for db in TestDb::both() {
            let m = db.open().await;
            let schema = schema(&m).await;
            let listed: BTreeSet<&str> = TABLES
                .iter()
                .map(|s| s.name)
                .chain(NOT_COPIED.iter().map(|(t, _)| *t))
                .collect();
            let found: BTreeSet<&str> = schema.keys().map(String::as_str).collect();
            let unlisted: Vec<&&str> = found.difference(&listed).collect();
            assert!(
                unlisted.is_empty(),
                "{}: tables neither copied nor in NOT_COPIED (meta/copy.rs): {unlisted:?}",
                db.name()
            );
            for spec in TABLES {
                assert!(
                    found.contains(spec.name),
                    "{}: no table {}",
                    db.name(),
                    spec.name
                );
            }
            for spec in TABLES {
                let cols = &schema[spec.name];
                let have: BTreeSet<&str> = cols.iter().map(|(c, _)| c.as_str()).collect();
                let want: BTreeSet<&str> = spec.columns.iter().map(|(c, _)| *c).collect();
                assert_eq!(have, want, "{}: columns of {}", db.name(), spec.name);
                for (col, ty) in spec.columns {
                    let declared = &cols.iter().find(|(c, _)| c == col).unwrap().1;
                    assert_eq!(
                        type_of(m.backend(), declared),
                        Some(*ty),
                        "{}: {}.{col} is {declared}",
                        db.name(),
                        spec.name
                    );
                }
                for k in spec.key {
                    assert!(want.contains(k), "{}: key {k}", spec.name);
                }
                assert_eq!(
                    spec.identity,
                    spec.key == ["id"] && spec.columns.contains(&("id", Int)),
                    "{}: identity",
                    spec.name
                );
            }
        }
    }

    /// What a fresh store is filled with: every table, ids with gaps (deleted rows),
    /// NULLs and non-default options, bytes.
    struct Filled {
        cli_key: String,
        user_key: String,
        revoked_key: String,
        share_token: String,
        session_hash: String,
        owner_id: i64,
        viewer_id: i64,
        second_site: u32,
    }

    async fn fill(m: &MetaStore) -> Filled {
        let now = Utc::now();
        let a = m.add_site("example.com", "Europe/Paris").await.unwrap();
        let gone = m.add_site("gone.example", "UTC").await.unwrap();
        let b = m.add_site("blog.example.org", "UTC").await.unwrap();
        assert!(m.delete_site(gone.id).await.unwrap());
        m.set_instance_setting("public_url", Some("https://stats.example.com"))
            .await
            .unwrap();
        m.set_site_settings(
            a.id,
            "Europe/Paris",
            &["www.example.net".into(), "m.example.com".into()],
        )
        .await
        .unwrap();
        m.set_site_options(
            b.id,
            &SiteOptions {
                share_param_style: ShareParamStyle::Query,
                retention_days: Some(400),
                honour_dnt: true,
                copy_attribution: true,
                currency: "USD".into(),
                exchange_rates: "EUR=1.09".into(),
                survey_enabled: false,
                survey_options: vec!["whatsapp".into(), "email".into()],
                short_domain: "go.example.org".into(),
                embed_origins: vec!["https://blog.example.com".into()],
                alert_options: r#"{"cap":3}"#.into(),
            },
        )
        .await
        .unwrap();

        let owner = m
            .create_user("Owner@Example.com", "$argon2id$v=19$owner", Some("fr"))
            .await
            .unwrap();
        let temp = m
            .create_user("temp@example.com", "$argon2id$x", None)
            .await
            .unwrap();
        let viewer = m
            .create_user("viewer@example.com", "$argon2id$v=19$viewer", None)
            .await
            .unwrap();
        sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(temp.id)
            .execute(&m.pool)
            .await
            .unwrap();
        m.set_member(a.id, owner.id, Role::Owner).await.unwrap();
        m.set_member(b.id, owner.id, Role::Owner).await.unwrap();
        m.set_member(a.id, viewer.id, Role::Viewer).await.unwrap();
        m.create_invitation(
            a.id,
            "invited@example.com",
            Role::Viewer,
            Some(owner.id),
            "inv-hash",
        )
        .await
        .unwrap();
        m.set_admin(owner.id, true).await.unwrap();

        let cli_key = m.create_api_key("cli").await.unwrap();
        let revoked_key = m.create_api_key("old").await.unwrap();
        let revoked_id = m.api_keys().await.unwrap()[1].id;
        assert!(m.revoke_api_key(revoked_id).await.unwrap());
        let user_key = m.create_user_api_key(viewer.id, "viewer's").await.unwrap();

        let session_hash = "f".repeat(64);
        m.create_web_session(
            &session_hash,
            owner.id,
            "csrf-token",
            now + Duration::days(30),
        )
        .await
        .unwrap();
        m.create_web_session(
            &"e".repeat(64),
            viewer.id,
            "csrf-2",
            now - Duration::days(1),
        )
        .await
        .unwrap();

        let share_token = m.create_shared_link(a.id, "board").await.unwrap();
        m.create_shared_link(a.id, "").await.unwrap();
        let revoked_share = m.shared_links(a.id).await.unwrap()[1].id;
        assert!(m.revoke_shared_link(a.id, revoked_share).await.unwrap());

        m.salts(now - Duration::days(1)).await.unwrap();
        m.salts(now).await.unwrap();

        let link = |slug: &str| LinkInput {
            slug: slug.into(),
            target: format!("https://example.com/{slug}"),
            redirect: 302,
            ..LinkInput::default()
        };
        let l1 = m.create_link(a.id, &link("first")).await.unwrap();
        let l2 = m.create_link(a.id, &link("second")).await.unwrap();
        let l3 = m
            .create_link(
                b.id,
                &LinkInput {
                    domain: "go.example.org".into(),
                    channel: "whatsapp".into(),
                    utm_source: "whatsapp".into(),
                    utm_medium: "social".into(),
                    utm_campaign: "spring".into(),
                    utm_term: "term".into(),
                    utm_content: "content".into(),
                    redirect: 307,
                    expires_at: Some(now + Duration::days(10)),
                    max_clicks: Some(1000),
                    disabled: true,
                    ..link("third")
                },
            )
            .await
            .unwrap();
        assert!(m.delete_link(a.id, l2.id).await.unwrap());
        m.add_link_clicks(&[(l1.id, 12), (l3.id, 5)]).await.unwrap();
        m.bump_state_version("links").await.unwrap();

        m.create_goal(
            a.id,
            &GoalKind::parse("event", "purchase").unwrap(),
            "Purchase",
        )
        .await
        .unwrap();
        let g = m
            .create_goal(a.id, &GoalKind::parse("event", "x").unwrap(), "")
            .await
            .unwrap()
            .unwrap();
        m.create_goal(
            b.id,
            &GoalKind::parse("page", "/order/*/done").unwrap(),
            "Order",
        )
        .await
        .unwrap();
        assert!(m.delete_goal(a.id, g.id).await.unwrap());
        assert!(m.claim_conversion_id(a.id, "order-1").await.unwrap());
        assert!(m.claim_conversion_id(b.id, "order-1").await.unwrap());

        // An import with a row of each kind of key.
        let rows: Vec<lucarne_core::imported::ImportedRow> = [
            (lucarne_core::imported::Table::Visitors, vec![]),
            (
                lucarne_core::imported::Table::Sources,
                vec![
                    "WhatsApp",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "whatsapp",
                    "private-message",
                ],
            ),
        ]
        .into_iter()
        .map(|(table, keys)| lucarne_core::imported::ImportedRow {
            date: chrono::NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(),
            table,
            keys: keys.into_iter().map(String::from).collect(),
            numbers: lucarne_core::imported::Numbers {
                visitors: 3,
                visits: 4,
                visit_duration: 120,
                ..Default::default()
            },
        })
        .collect();
        m.create_import(
            a.id,
            "plausible",
            &["a.csv".into(), "b.csv".into()],
            &rows,
            &mut |_| {},
        )
        .await
        .unwrap();

        // Issue 23's tables, a row each (and a NULL where a column allows one).
        let checkout =
            lucarne_core::funnel::Funnel::parse_inline("page:/cart|event:purchase").unwrap();
        m.create_funnel(a.id, "Checkout", &checkout)
            .await
            .unwrap()
            .expect("a new funnel");
        for sql in [
            "INSERT INTO annotations (site_id, day, note, user_id, created_at) \
             VALUES ($1, '2024-02-29', 'Launch', NULL, '2024-02-29T10:00:00Z')",
            "INSERT INTO webhooks (site_id, url, secret, events, created_at) VALUES \
             ($1, 'https://hooks.example.com/x', 's3cret', 'alerts', '2024-02-29T10:00:00Z')",
            "INSERT INTO alerts (site_id, kind, subject, dedupe, details, created_at) VALUES \
             ($1, 'viral', '/post', 'viral:1:/post:2024-02-29T10', '{}', '2024-02-29T10:00:00Z')",
            "INSERT INTO deliveries (site_id, channel, target, kind, dedupe, payload, status, \
             attempts, next_attempt_at, leased_until, last_error, created_at, sent_at) VALUES \
             ($1, 'email', 'owner@example.com', 'alert', 'a:1', '{}', 'failed', 8, \
             '2024-02-29T10:00:00Z', NULL, 'refused', '2024-02-29T10:00:00Z', NULL)",
            "INSERT INTO notify_cursors (site_id, name, value) VALUES ($1, 'conversions', '0')",
        ] {
            sqlx::query(sql)
                .bind(i64::from(a.id))
                .execute(&m.pool)
                .await
                .unwrap();
        }
        sqlx::query(
            "INSERT INTO subscriptions (user_id, site_id, kind, locale, token, created_at) \
             VALUES ($1, $2, 'weekly', 'fr', 'tok', '2024-02-29T10:00:00Z')",
        )
        .bind(owner.id)
        .bind(i64::from(a.id))
        .execute(&m.pool)
        .await
        .unwrap();

        // Not copied.
        m.claim_visit(
            a.id,
            &LiveVisit {
                visitor_id: u64::MAX - 1,
                session_id: 7,
                last_seen: now,
                fields: "{}".into(),
            },
            now - Duration::minutes(30),
        )
        .await
        .unwrap();

        Filled {
            cli_key,
            user_key,
            revoked_key,
            share_token,
            session_hash,
            owner_id: owner.id,
            viewer_id: viewer.id,
            second_site: b.id,
        }
    }

    async fn dump(m: &MetaStore) -> Vec<(&'static str, Vec<Vec<Value>>)> {
        let mut conn = m.pool.acquire().await.unwrap();
        let mut out = Vec::new();
        for spec in TABLES {
            out.push((spec.name, read_table(&mut conn, spec).await.unwrap()));
        }
        out
    }

    #[tokio::test]
    async fn sqlite_copies_into_postgres_and_sqlite_with_nothing_lost() {
        for target_db in TestDb::both() {
            let source_db = TestDb::sqlite();
            let source = source_db.open().await;
            let f = fill(&source).await;
            let target = target_db.open().await;
            // A node that started once on the target wrote today's salt: replaced.
            target.salts(Utc::now()).await.unwrap();

            let counts = source.copy_into(&target).await.unwrap();
            let (before, after) = (dump(&source).await, dump(&target).await);
            for ((table, rows), (_, copied)) in before.iter().zip(&after) {
                assert!(!rows.is_empty(), "the test fills {table}");
                assert_eq!(rows, copied, "{}: {table}", target_db.name());
                assert_eq!(counts.rows(table), rows.len() as u64, "{table}");
            }
            assert_eq!(counts.rows("sites"), 2);
            assert_eq!(counts.rows("links"), 2);
            assert_eq!(counts.rows("salts"), 2);
            let live: i64 = sqlx::query("SELECT count(*) AS n FROM live_visits")
                .fetch_one(&target.pool)
                .await
                .unwrap()
                .try_get("n")
                .unwrap();
            assert_eq!(live, 0, "live visits are not copied");

            // The copy works as a store.
            let now = Utc::now();
            assert_eq!(
                source.salts(now).await.unwrap().current,
                target.salts(now).await.unwrap().current,
                "visitors hash alike"
            );
            assert!(target.verify_api_key(&f.cli_key).await.unwrap());
            assert!(!target.verify_api_key(&f.revoked_key).await.unwrap());
            assert_eq!(
                target.api_key_sites(&f.cli_key).await.unwrap(),
                Some(KeyScope::All)
            );
            let a = target.site_by_domain("example.com").await.unwrap().unwrap();
            assert_eq!(
                target.api_key_sites(&f.user_key).await.unwrap(),
                Some(KeyScope::Sites(vec![(a.id, Role::Viewer)]))
            );
            let s = target
                .web_session(&f.session_hash, now)
                .await
                .unwrap()
                .expect("the login session still opens");
            assert_eq!(s.user.id, f.owner_id);
            assert_eq!(s.user.email, "owner@example.com");
            assert_eq!(s.user.locale.as_deref(), Some("fr"));
            assert_eq!(s.csrf, "csrf-token");
            assert!(target
                .web_session(&"e".repeat(64), now)
                .await
                .unwrap()
                .is_none());
            assert_eq!(
                target.shared_link_site(&f.share_token).await.unwrap(),
                Some(a.clone())
            );
            assert_eq!(
                target.member_role(a.id, f.viewer_id).await.unwrap(),
                Some(Role::Viewer)
            );
            assert_eq!(
                target.site_options(f.second_site).await.unwrap(),
                source.site_options(f.second_site).await.unwrap()
            );
            assert_eq!(
                a.allowed_hostnames,
                vec!["www.example.net", "m.example.com"]
            );
            assert_eq!(
                target.all_links().await.unwrap(),
                source.all_links().await.unwrap()
            );
            assert_eq!(
                target.goals(a.id).await.unwrap(),
                source.goals(a.id).await.unwrap()
            );
            let funnels = target.funnels(a.id).await.unwrap();
            assert_eq!(funnels, source.funnels(a.id).await.unwrap());
            assert_eq!(funnels.len(), 1, "the funnel reads back");
            assert!(
                !target.claim_conversion_id(a.id, "order-1").await.unwrap(),
                "an order recorded before still counts once"
            );
            assert_eq!(
                target.state_version("links").await.unwrap(),
                source.state_version("links").await.unwrap()
            );

            // New rows get fresh ids after the copied ones (the identities moved on).
            let max_site = source
                .sites()
                .await
                .unwrap()
                .iter()
                .map(|s| s.id)
                .max()
                .unwrap();
            let new = target.add_site("new.example", "UTC").await.unwrap();
            assert_eq!(new.id, max_site + 1, "{}", target_db.name());
            let u = target
                .create_user("new@example.com", "$argon2id$n", None)
                .await
                .unwrap();
            assert_eq!(u.id, f.viewer_id + 1);
            let l = target
                .create_link(
                    new.id,
                    &LinkInput {
                        slug: "fresh".into(),
                        target: "https://new.example/".into(),
                        redirect: 302,
                        ..LinkInput::default()
                    },
                )
                .await
                .unwrap();
            let max_link = source
                .all_links()
                .await
                .unwrap()
                .iter()
                .map(|l| l.id)
                .max()
                .unwrap();
            assert_eq!(l.id, max_link + 1);
            target.create_api_key("new").await.unwrap();
            target.create_shared_link(new.id, "new").await.unwrap();
            let goal = target
                .create_goal(new.id, &GoalKind::parse("event", "signup").unwrap(), "")
                .await
                .unwrap()
                .unwrap();
            assert!(goal.id > 3);

            // A second copy into the same store is refused, and changes nothing.
            let before = dump(&target).await;
            let err = source.copy_into(&target).await.unwrap_err().to_string();
            assert!(err.contains("not empty"), "{err}");
            assert!(err.contains("3 sites"), "{err}");
            assert_eq!(dump(&target).await, before);
        }
    }

    /// An empty store copies into an empty store (a migration before any site exists).
    #[tokio::test]
    async fn an_empty_store_copies() {
        let (source_db, target_db) = (TestDb::sqlite(), TestDb::sqlite());
        let (source, target) = (source_db.open().await, target_db.open().await);
        let counts = source.copy_into(&target).await.unwrap();
        assert_eq!(counts.total(), 1, "only the links counter: {counts:?}");
        assert_eq!(dump(&source).await, dump(&target).await);
    }
}
