-- The last ingest-spool position whose rows are in `events` (written in the same
-- transaction as those rows), so recovery replays exactly what is missing.
CREATE TABLE spool_state (
    id        INTEGER PRIMARY KEY,
    segment   UBIGINT NOT NULL,
    "offset"  UBIGINT NOT NULL
);
