-- Per Lucarne node: the last spool position whose rows are in `events`, and how many
-- rows that node has loaded in all (the next row's `load_seq`). A new row per load;
-- read with argMax(…, loaded_rows), so merges only tidy up.
CREATE TABLE IF NOT EXISTS ${spool_state_local} (
    node        String,
    segment     UInt64,
    byte_offset UInt64,
    loaded_rows UInt64,
    written_at  DateTime('UTC')
) ENGINE = ReplacingMergeTree(loaded_rows)
ORDER BY node;

-- @cluster
CREATE TABLE IF NOT EXISTS spool_state AS ${spool_state_local}
ENGINE = Distributed(${cluster}, ${database}, spool_state_local, cityHash64(node));
