-- Several Lucarne nodes on one metadata store (issue 7).
-- Live visits, shared so that a visit continues whichever node its events reach: claimed
-- by the node that sees its first event, last-seen times written back every second.
-- Ids are the 64-bit hashes stored as signed integers (same bits).
CREATE TABLE live_visits (
    site_id      BIGINT NOT NULL,
    visitor_id   BIGINT NOT NULL,
    session_id   BIGINT NOT NULL,
    last_seen_us BIGINT NOT NULL,
    fields       TEXT NOT NULL,
    PRIMARY KEY (site_id, visitor_id)
);
-- Counters that move when shared state changes (`links`: every link edit), polled by
-- every node.
CREATE TABLE state_versions (
    name    TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO state_versions (name, version) VALUES ('links', 0);
