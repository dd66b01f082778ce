-- The pairs of an entry page and of a UTM source (`rollups::PAIRS`; `rollups::VERSION` 3
-- rebuilds every day into them)
-- get tables of their own: seven times the rows of the channel-group pairs, which a view
-- filtered by a channel group would otherwise scan too (DuckDB prunes by zone maps, and
-- every day's rows hold every dimension).
CREATE TABLE rollup_pairs_entry_page AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pairs_utm_source AS SELECT * FROM rollup_pairs WHERE false;
