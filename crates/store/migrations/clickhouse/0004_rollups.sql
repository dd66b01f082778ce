-- Daily rollups (issue 20; ARCHITECTURE.md, "Reports at publisher scale"), as on DuckDB
-- (migrations/duckdb/0007-0009) but without transactions:
--
-- `rollups`: one UTC day of a site summed per (local day, dimension, value), pairs
-- included. `local_day` 1970-01-01 marks a whole-UTC-day row (DuckDB: NULL). Every row
-- carries the `build` that wrote it; readers take only each day's newest build in
-- `rollup_built`, so a rebuild replaces a day at once, and older builds' rows are deleted
-- after it (a mutation nobody waits for).
-- `rollup_built`: a row per build: the zone of its local days, `through` (the server's
-- clock, in seconds, when the build began: marks from then on are not covered) and the
-- definition's version.
-- `rollup_marks`: a row per (site, UTC day) each time the loader stores rows of that day
-- (after the rows, before the spool position), so a late row makes its day dirty; merges
-- keep the newest.
--
-- Plain tables on the first host of the URL (with a cluster too): rollups are small, and
-- every node reads and writes them there. Runs on ClickHouse 18.16 and on current
-- releases.
CREATE TABLE IF NOT EXISTS rollups (
    site_id          UInt32,
    utc_day          Date,
    local_day        Date,
    dim              String,
    value            String,
    born             UInt64,
    carried          UInt64,
    carried_new      UInt64,
    carried_new_late UInt64,
    visits           UInt64,
    pageviews        UInt64,
    events           UInt64,
    ident            UInt64,
    est              UInt64,
    s_visits         UInt64,
    bounces          UInt64,
    duration         Float64,
    build            UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(utc_day)
ORDER BY (site_id, dim, utc_day, value);
CREATE TABLE IF NOT EXISTS rollup_built (
    site_id UInt32,
    utc_day Date,
    tz      String,
    through Int64,
    version Int32,
    build   UInt64
) ENGINE = MergeTree
ORDER BY (site_id, utc_day);
CREATE TABLE IF NOT EXISTS rollup_marks (
    site_id UInt32,
    utc_day Date,
    at      DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree(at)
ORDER BY (site_id, utc_day);
-- Every day already stored is marked: an unmarked day without a build is read as a day
-- without rows. Built in the background after the upgrade, read raw until then.
INSERT INTO rollup_marks (site_id, utc_day) SELECT DISTINCT site_id, toDate(ts) FROM events;
