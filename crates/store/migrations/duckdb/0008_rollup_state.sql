-- Rollups read by reports (issue 20; ARCHITECTURE.md, "Reports at publisher scale").
-- The rollups are derived data: the table is made again with the visit-level sums, and
-- every day that holds events is marked for the background task to roll up.
DROP TABLE rollups;
CREATE TABLE rollups (
    site_id   UINTEGER NOT NULL,
    utc_day   DATE     NOT NULL,
    local_day DATE,
    dim       VARCHAR  NOT NULL,
    value     VARCHAR  NOT NULL,
    born      UBIGINT  NOT NULL,
    carried   UBIGINT  NOT NULL,
    carried_new      UBIGINT NOT NULL,
    carried_new_late UBIGINT NOT NULL,
    visits    UBIGINT  NOT NULL,
    pageviews UBIGINT  NOT NULL,
    events    UBIGINT  NOT NULL,
    ident     UBIGINT  NOT NULL,
    est       UBIGINT  NOT NULL,
    -- Visit-level sums (rows of their own, the counts above 0): the visits begun in the
    -- slice, those with at most one pageview, and their durations in seconds, each visit
    -- taken up to the end of the UTC day it began on.
    s_visits  UBIGINT  NOT NULL DEFAULT 0,
    bounces   UBIGINT  NOT NULL DEFAULT 0,
    duration  DOUBLE   NOT NULL DEFAULT 0
);
-- Marks: (site, UTC day) of rows committed, appended by the loader in the same
-- transaction as the rows (and by retention), never updated, so they never conflict.
CREATE SEQUENCE rollup_seq START 1;
CREATE TABLE rollup_marks (
    site_id UINTEGER NOT NULL,
    utc_day DATE     NOT NULL,
    seq     BIGINT   NOT NULL
);
-- What the background task built: a day is clean while no mark of it, or of the day
-- before (whose pages a carried visit is compared with), is newer than `through`, and
-- it was built by this release's definition of the rollups (`version`).
CREATE TABLE rollup_built (
    site_id UINTEGER NOT NULL,
    utc_day DATE     NOT NULL,
    tz      VARCHAR  NOT NULL,
    through BIGINT   NOT NULL,
    version INTEGER  NOT NULL
);
INSERT INTO rollup_marks
SELECT site_id, utc_day, nextval('rollup_seq')
FROM (SELECT DISTINCT site_id, CAST(ts AS DATE) AS utc_day FROM events);
