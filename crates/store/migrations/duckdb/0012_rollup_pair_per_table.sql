-- Every pair of dimensions (`rollups::PAIRS`) gets a table of its own (`rollup_pair_A_B`,
-- A and B the stored columns), instead of one table per first dimension: a view filtered
-- by an entry page reads about eleven pairs, and each read scanned every row of the
-- shared table, whose days interleave every pair (DuckDB prunes by zone maps, not by an
-- index). `rollups::VERSION` 6 rebuilds every day into them.
DROP TABLE rollup_pairs_entry_page;
DROP TABLE rollup_pairs_utm_source;
CREATE TABLE rollup_pair_channel_group_channel AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_evidence AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_source AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_entry_page AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_pathname AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_utm_source AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_utm_medium AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_utm_campaign AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_device AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_browser AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_os AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_channel_group_country AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_entry_page_channel AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_entry_page_evidence AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_entry_page_source AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_entry_page_pathname AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_entry_page_utm_source AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_entry_page_utm_medium AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_entry_page_utm_campaign AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_entry_page_device AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_entry_page_browser AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_entry_page_country AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_utm_source_channel AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_utm_source_evidence AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_utm_source_source AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_utm_source_pathname AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_utm_source_utm_medium AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_utm_source_utm_campaign AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_utm_source_device AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_utm_source_browser AS SELECT * FROM rollup_pairs WHERE false;
CREATE TABLE rollup_pair_utm_source_country AS SELECT * FROM rollup_pairs WHERE false;
DROP TABLE rollup_pairs;
