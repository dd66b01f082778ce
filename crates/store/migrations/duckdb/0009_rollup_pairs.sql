-- Pairs of dimensions (`rollup::PAIRS`, dimension `first>second`) get a table of their
-- own: they are most of the rows, and the unfiltered reports, which never read them,
-- scan `rollups` alone.
CREATE TABLE rollup_pairs AS SELECT * FROM rollups WHERE dim LIKE '%>%';
DELETE FROM rollups WHERE dim LIKE '%>%';
