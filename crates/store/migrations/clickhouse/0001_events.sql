-- Events on ClickHouse: the DuckDB events table (migrations/duckdb/0001-0004) as one
-- MergeTree table. Runs on ClickHouse 18.16 and on current releases (no DateTime64,
-- Map, codecs, TTL or projections).
--
-- Placeholders, filled in by `click::migrate` for each host:
--   ${events_local}  the table that holds this host's rows: `events` on a single server,
--                    `events_local` on each shard of a cluster;
--   ${cluster}, ${database}: the cluster and database of the URL.
-- A statement after a line `-- @cluster` runs only with a cluster.
--
-- Time: `ts_us` is the exact time (microseconds since the epoch, as in DuckDB);
-- `ts` is the same instant to the second (18.16 has no DateTime64), written by the
-- loader, used for partitioning and the sorting key. Reports filter on `ts_us` (exact)
-- and add the implied `ts` / `toDate(ts)` bounds so that partitions and index ranges
-- are pruned.
--
-- Sorting key (site_id, toDate(ts), name, session_id, ts_us): every report reads one
-- site and a range of days, so those come first (primary-key pruning); `name` next
-- because whole families of queries read one event name (pageviews, goals, `share`/`copy`,
-- `survey`); then `session_id`, which keeps each visit's events together (the visit-level
-- columns copied onto every event then compress to almost nothing).
--
-- Durability columns (see `click` module docs): `load_node` (hash of the node id),
-- `load_seq` (the row's ordinal in that node's spool) and `row_hash` (fingerprint of the
-- row) let a loader that restarts after inserting but before recording its spool
-- position skip exactly the rows ClickHouse already holds.
CREATE TABLE IF NOT EXISTS ${events_local} (
    site_id             UInt32,
    ts                  DateTime('UTC'),
    ts_us               Int64,
    name                String,
    visitor_id          UInt64,
    session_id          UInt64,
    entry               UInt8,
    hostname            String,
    pathname            String,
    entry_page          String,
    referrer            String,
    source              String,
    utm_source          String,
    utm_medium          String,
    utm_campaign        String,
    utm_term            String,
    utm_content         String,
    click_id            String,
    channel             String,
    channel_group       String,
    evidence            String,
    device              String,
    browser             String,
    os                  String,
    country             String,
    screen_width        UInt16,
    prop_keys           String,
    prop_values         String,
    revenue_minor       Nullable(Int64),
    revenue_currency    Nullable(String),
    token               UInt64,
    parent_token        UInt64,
    parent_session      UInt64,
    generation          UInt16,
    visit_share_channel String,
    token_status        String,
    share_channel       String,
    link_id             UInt64,
    server_side         UInt8,
    load_node           UInt64,
    load_seq            UInt64,
    row_hash            UInt64
) ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (site_id, toDate(ts), name, session_id, ts_us)
SETTINGS index_granularity = 8192;

-- @cluster
-- The whole cluster's events; rows are sharded by visit (a hash of `session_id`, so any
-- structure in the ids does not skew the shards): a visit's events are on one shard.
CREATE TABLE IF NOT EXISTS events AS ${events_local}
ENGINE = Distributed(${cluster}, ${database}, events_local, intHash64(session_id));
