//! Imported history in the metadata store (ARCHITECTURE.md, "Imported history"): an
//! import and its aggregate rows, written in one transaction, summed for reports,
//! listed and deleted. What the rows mean is `core::imported`.

use chrono::{NaiveDate, Utc};
use lucarne_core::imported::{ImportedRow, Numbers, Table, MAX_KEYS};
use sqlx::any::AnyRow;
use sqlx::Row;

use super::{MetaError, MetaStore};

/// One import of a site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    pub id: i64,
    pub site_id: u32,
    /// Where it came from (`plausible`).
    pub source: String,
    pub first_day: NaiveDate,
    pub last_day: NaiveDate,
    pub files: Vec<String>,
    pub rows: u64,
    pub created_at: String,
}

/// What imported sums are grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportedGroup {
    /// The day (`YYYY-MM-DD`).
    Day,
    /// A key of the table (0-based: `k1` is 0).
    Key(usize),
}

/// Rows written per `INSERT` (25 columns each; SQLite's historical limit is 999
/// parameters).
const ROWS_PER_INSERT: usize = 36;

const NUMBER_COLUMNS: &str = "visitors, visits, pageviews, events, bounces, visit_duration, \
     scroll_sum, scroll_visits, time_sum, time_visits";

fn row_to_import(r: &AnyRow) -> Result<Import, MetaError> {
    let day = |c: &str| -> Result<NaiveDate, MetaError> {
        let s: String = r.try_get(c)?;
        NaiveDate::parse_from_str(&s, "%Y-%m-%d")
            .map_err(|_| MetaError::Invalid(format!("bad stored day `{s}`")))
    };
    let files: String = r.try_get("files")?;
    Ok(Import {
        id: r.try_get("id")?,
        site_id: u32::try_from(r.try_get::<i64, _>("site_id")?).unwrap_or_default(),
        source: r.try_get("source")?,
        first_day: day("first_day")?,
        last_day: day("last_day")?,
        files: files
            .split(',')
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect(),
        rows: u64::try_from(r.try_get::<i64, _>("row_count")?).unwrap_or_default(),
        created_at: r.try_get("created_at")?,
    })
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl MetaStore {
    /// Store an import and its rows, all or nothing; `progress` is called with the rows
    /// written so far.
    pub async fn create_import(
        &self,
        site_id: u32,
        source: &str,
        files: &[String],
        rows: &[ImportedRow],
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<Import, MetaError> {
        let (Some(first), Some(last)) = (
            rows.iter().map(|r| r.date).min(),
            rows.iter().map(|r| r.date).max(),
        ) else {
            return Err(MetaError::Invalid("the files hold no rows".into()));
        };
        let mut tx = self.pool.begin().await?;
        // As Plausible: imports of a site do not overlap, so no day is counted twice.
        let overlapping = sqlx::query(
            "SELECT id, first_day, last_day FROM imports WHERE site_id = $1 \
             AND first_day <= $2 AND last_day >= $3 ORDER BY id LIMIT 1",
        )
        .bind(i64::from(site_id))
        .bind(last.to_string())
        .bind(first.to_string())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(o) = overlapping {
            let (id, a, b): (i64, String, String) = (
                o.try_get("id")?,
                o.try_get("first_day")?,
                o.try_get("last_day")?,
            );
            return Err(MetaError::Invalid(format!(
                "import {id} already holds {a} to {b}, which overlaps {first} to {last}: \
                 delete it first (`lucarne import delete`)"
            )));
        }
        let r = sqlx::query(
            "INSERT INTO imports (site_id, source, first_day, last_day, files, row_count, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING id, site_id, source, first_day, last_day, files, row_count, created_at",
        )
        .bind(i64::from(site_id))
        .bind(source)
        .bind(first.to_string())
        .bind(last.to_string())
        .bind(files.join(","))
        .bind(count(rows.len() as u64))
        .bind(Utc::now().to_rfc3339())
        .fetch_one(&mut *tx)
        .await?;
        let import = row_to_import(&r)?;
        let keys: Vec<String> = (1..=MAX_KEYS).map(|i| format!("k{i}")).collect();
        let columns = format!(
            "import_id, site_id, day, tbl, {}, {NUMBER_COLUMNS}",
            keys.join(", ")
        );
        let width = 4 + MAX_KEYS + 10;
        for (n, chunk) in rows.chunks(ROWS_PER_INSERT).enumerate() {
            let values: Vec<String> = (0..chunk.len())
                .map(|i| {
                    let ps: Vec<String> =
                        (1..=width).map(|j| format!("${}", i * width + j)).collect();
                    format!("({})", ps.join(", "))
                })
                .collect();
            let sql = format!(
                "INSERT INTO imported_rows ({columns}) VALUES {}",
                values.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for row in chunk {
                q = q
                    .bind(import.id)
                    .bind(i64::from(site_id))
                    .bind(row.date.to_string())
                    .bind(row.table.name());
                for k in 0..MAX_KEYS {
                    q = q.bind(row.keys.get(k).cloned().unwrap_or_default());
                }
                let n = &row.numbers;
                for v in [
                    n.visitors,
                    n.visits,
                    n.pageviews,
                    n.events,
                    n.bounces,
                    n.visit_duration,
                    n.scroll_sum,
                    n.scroll_visits,
                    n.time_sum,
                    n.time_visits,
                ] {
                    q = q.bind(count(v));
                }
            }
            q.execute(&mut *tx).await?;
            progress((n * ROWS_PER_INSERT + chunk.len()).min(rows.len()));
        }
        tx.commit().await?;
        Ok(import)
    }

    /// A site's imports, oldest first.
    pub async fn imports(&self, site_id: u32) -> Result<Vec<Import>, MetaError> {
        let rows = sqlx::query(
            "SELECT id, site_id, source, first_day, last_day, files, row_count, created_at \
             FROM imports WHERE site_id = $1 ORDER BY id",
        )
        .bind(i64::from(site_id))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row_to_import).collect()
    }

    /// Delete one of a site's imports and its rows; `false` if the site has no such one.
    pub async fn delete_import(&self, site_id: u32, id: i64) -> Result<bool, MetaError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "DELETE FROM imported_rows WHERE import_id = $1 AND site_id = $2 \
             AND import_id IN (SELECT id FROM imports WHERE site_id = $2)",
        )
        .bind(id)
        .bind(i64::from(site_id))
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM imports WHERE id = $1 AND site_id = $2")
            .bind(id)
            .bind(i64::from(site_id))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n > 0)
    }

    /// The first and last day the site's imports hold (None: nothing imported).
    pub async fn imported_span(
        &self,
        site_id: u32,
    ) -> Result<Option<(NaiveDate, NaiveDate)>, MetaError> {
        let r = sqlx::query(
            "SELECT min(first_day) AS a, max(last_day) AS b FROM imports WHERE site_id = $1",
        )
        .bind(i64::from(site_id))
        .fetch_one(&self.pool)
        .await?;
        let day = |c: &str| -> Result<Option<NaiveDate>, MetaError> {
            let d: Option<String> = r.try_get(c)?;
            Ok(d.and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()))
        };
        Ok(day("a")?.zip(day("b")?))
    }

    /// The sums of a site's imported rows of `table` for the days `from..=to`, grouped by
    /// `group`, each row with its values in that order (a caller that filters groups by
    /// the keys it filters on too, then filters and adds up).
    pub async fn imported_sums(
        &self,
        site_id: u32,
        table: Table,
        from: NaiveDate,
        to: NaiveDate,
        group: &[ImportedGroup],
    ) -> Result<Vec<(Vec<String>, Numbers)>, MetaError> {
        let cols: Vec<String> = group
            .iter()
            .map(|g| match g {
                ImportedGroup::Day => "day".to_string(),
                ImportedGroup::Key(k) => format!("k{}", (*k).min(MAX_KEYS - 1) + 1),
            })
            .collect();
        let sums: Vec<String> = NUMBER_COLUMNS
            .split(", ")
            .map(|c| format!("CAST(sum({c}) AS BIGINT) AS {c}"))
            .collect();
        let select: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c} AS g{i}"))
            .chain(sums)
            .collect();
        let by = if cols.is_empty() {
            String::new()
        } else {
            format!(" GROUP BY {}", cols.join(", "))
        };
        let sql = format!(
            "SELECT {} FROM imported_rows WHERE site_id = $1 AND tbl = $2 AND day >= $3 \
             AND day <= $4{by}",
            select.join(", ")
        );
        let rows = sqlx::query(&sql)
            .bind(i64::from(site_id))
            .bind(table.name())
            .bind(from.to_string())
            .bind(to.to_string())
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let get = |c: &str| -> Result<u64, MetaError> {
                let v: Option<i64> = r.try_get(c)?;
                Ok(u64::try_from(v.unwrap_or(0)).unwrap_or(0))
            };
            let n = Numbers {
                visitors: get("visitors")?,
                visits: get("visits")?,
                pageviews: get("pageviews")?,
                events: get("events")?,
                bounces: get("bounces")?,
                visit_duration: get("visit_duration")?,
                scroll_sum: get("scroll_sum")?,
                scroll_visits: get("scroll_visits")?,
                time_sum: get("time_sum")?,
                time_visits: get("time_visits")?,
            };
            if cols.is_empty() && n == Numbers::default() {
                continue;
            }
            let keys = (0..cols.len())
                .map(|i| r.try_get::<String, _>(format!("g{i}").as_str()))
                .collect::<Result<Vec<_>, _>>()?;
            out.push((keys, n));
        }
        Ok(out)
    }
}
