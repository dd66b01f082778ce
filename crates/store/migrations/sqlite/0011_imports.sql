-- Imported history (issue 21): another tool's aggregate export, kept apart from events
-- (ARCHITECTURE.md, "Imported history"). One row per import, and one per file row: a
-- site-local day, the table it came from, up to nine keys whose meaning is the table's
-- (core::imported::Table::keys), and that day's totals.
CREATE TABLE imports (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    source     TEXT NOT NULL,               -- 'plausible'
    first_day  TEXT NOT NULL,               -- YYYY-MM-DD, site-local
    last_day   TEXT NOT NULL,
    files      TEXT NOT NULL,               -- the file names read, comma-separated
    row_count  INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX imports_site ON imports (site_id);
CREATE TABLE imported_rows (
    id             INTEGER PRIMARY KEY,
    import_id      INTEGER NOT NULL REFERENCES imports(id) ON DELETE CASCADE,
    site_id        INTEGER NOT NULL,
    day            TEXT NOT NULL,
    tbl            TEXT NOT NULL,
    k1             TEXT NOT NULL DEFAULT '',
    k2             TEXT NOT NULL DEFAULT '',
    k3             TEXT NOT NULL DEFAULT '',
    k4             TEXT NOT NULL DEFAULT '',
    k5             TEXT NOT NULL DEFAULT '',
    k6             TEXT NOT NULL DEFAULT '',
    k7             TEXT NOT NULL DEFAULT '',
    k8             TEXT NOT NULL DEFAULT '',
    k9             TEXT NOT NULL DEFAULT '',
    visitors       INTEGER NOT NULL DEFAULT 0,
    visits         INTEGER NOT NULL DEFAULT 0,
    pageviews      INTEGER NOT NULL DEFAULT 0,
    events         INTEGER NOT NULL DEFAULT 0,
    bounces        INTEGER NOT NULL DEFAULT 0,
    visit_duration INTEGER NOT NULL DEFAULT 0,
    scroll_sum     INTEGER NOT NULL DEFAULT 0,
    scroll_visits  INTEGER NOT NULL DEFAULT 0,
    time_sum       INTEGER NOT NULL DEFAULT 0,
    time_visits    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX imported_rows_site ON imported_rows (site_id, tbl, day);
CREATE INDEX imported_rows_import ON imported_rows (import_id);
