//! An online copy of the events database (`lucarne backup`), and one site's events as
//! CSV (`lucarne site export`): DuckDB's `COPY FROM
//! DATABASE` into a new file attached for the purpose, inside one read transaction, so
//! the copy is the snapshot of that transaction's start while the loader goes on
//! committing (MVCC). The spool position is a table like the others, copied in the same
//! snapshot: a store restored from the copy replays nothing and loses nothing.

use std::path::Path;

use duckdb::Connection;

use crate::events::StoreError;

fn backend(context: &str) -> impl Fn(duckdb::Error) -> StoreError + '_ {
    move |e| StoreError::Backend(format!("backup: {context}: {e}"))
}

/// Copy the database `conn` belongs to into a new DuckDB file at `to` (which must not
/// exist); the events it holds (site events and short-link events).
pub(super) fn copy_database(conn: &Connection, to: &Path) -> Result<u64, StoreError> {
    if to.exists() {
        return Err(StoreError::Backend(format!(
            "backup: {} exists already",
            to.display()
        )));
    }
    let source: String = conn
        .query_row("SELECT current_database()", [], |r| r.get(0))
        .map_err(backend("naming the database"))?;
    // A name of its own, so two backups at once do not meet.
    let alias = format!("lucarne_backup_{:016x}", rand::random::<u64>());
    let path = to.to_string_lossy().replace('\'', "''");
    conn.execute_batch(&format!("ATTACH '{path}' AS {alias}"))
        .map_err(backend("creating the copy"))?;
    let copied = copy_into(conn, &source, &alias);
    // Detached whatever happened; a failed copy's file is removed.
    let detached = conn.execute_batch(&format!("DETACH {alias}"));
    match (copied, detached) {
        (Ok(n), Ok(())) => Ok(n),
        (Err(e), _) => {
            let _ = std::fs::remove_file(to);
            let _ = std::fs::remove_file(to.with_extension("duckdb.wal"));
            Err(e)
        }
        (Ok(_), Err(e)) => Err(backend("closing the copy")(e)),
    }
}

fn copy_into(conn: &Connection, source: &str, alias: &str) -> Result<u64, StoreError> {
    // One transaction: one snapshot of every table. Only the copy is written to.
    conn.execute_batch(&format!(
        "BEGIN TRANSACTION; COPY FROM DATABASE \"{source}\" TO {alias}; COMMIT;"
    ))
    .map_err(|e| {
        let _ = conn.execute_batch("ROLLBACK");
        backend("copying")(e)
    })?;
    // Marks of days to roll up take their numbers from a sequence: the copy's goes on
    // after every number already used, whatever `COPY FROM DATABASE` does with a
    // sequence's value (a restored store must not hand out numbers a build has seen).
    let next: i64 = conn
        .query_row(
            &format!(
                "SELECT greatest((SELECT coalesce(max(seq), 0) FROM {alias}.rollup_marks),
                                 (SELECT coalesce(max(through), 0) FROM {alias}.rollup_built)) + 1"
            ),
            [],
            |r| r.get(0),
        )
        .map_err(backend("reading the copy's marks"))?;
    conn.execute_batch(&format!(
        "DROP SEQUENCE {alias}.rollup_seq; CREATE SEQUENCE {alias}.rollup_seq START {next};"
    ))
    .map_err(backend("renumbering the copy's marks"))?;
    let events: i64 = conn
        .query_row(
            &format!(
                "SELECT (SELECT count(*) FROM {alias}.site_events)
                      + (SELECT count(*) FROM {alias}.link_events)"
            ),
            [],
            |r| r.get(0),
        )
        .map_err(backend("counting the copy"))?;
    Ok(u64::try_from(events).unwrap_or(0))
}

/// Every row of `site_id` in the `events` view (site events and short-link events), all
/// columns, oldest first, as CSV with a header, into a new file at `to`.
pub(super) fn export_site_csv(
    conn: &Connection,
    site_id: u32,
    to: &Path,
) -> Result<u64, StoreError> {
    if to.exists() {
        return Err(StoreError::Backend(format!(
            "export: {} exists already",
            to.display()
        )));
    }
    let path = to.to_string_lossy().replace('\'', "''");
    let n = conn
        .execute(
            &format!(
                "COPY (SELECT * FROM events WHERE site_id = {site_id} ORDER BY ts) \
                 TO '{path}' (FORMAT csv, HEADER)"
            ),
            [],
        )
        .map_err(backend("exporting"))?;
    Ok(n as u64)
}
