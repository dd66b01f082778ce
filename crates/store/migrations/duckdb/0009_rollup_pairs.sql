-- Pairs of dimensions (`rollup::PAIRS`, dimension `first>second`) get a table of their
-- own: they are most of the rows, and the unfiltered reports, which never read them,
-- scan `rollups` alone.
--
-- First a repair: 0008 gained `rollup_built.version` after it had shipped (2b6f424 edited
-- it in place), so a store migrated by the earlier 0008 (written by be63db8) lacks the
-- column, and every rollup build and read of it failed. Its days get version 0, which is
-- no release's: they are read raw and built again. Elsewhere this is a no-op.
-- (tests/upgrade.rs opens a store of that version.)
ALTER TABLE rollup_built ADD COLUMN IF NOT EXISTS version INTEGER DEFAULT 0;
CREATE TABLE rollup_pairs AS SELECT * FROM rollups WHERE dim LIKE '%>%';
DELETE FROM rollups WHERE dim LIKE '%>%';
