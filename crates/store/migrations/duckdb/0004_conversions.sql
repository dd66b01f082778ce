-- Conversions (issue 6): rows the site's server sent (POST /api/v1/conversions), possibly
-- days after their visit. They count as conversions of that visit, but not in its
-- pageviews, duration or bounce.
--
-- First a repair: 0003 gained `link_id` after it had shipped (f0ed2f9 edited it in place),
-- so a store migrated by the earlier 0003 (written from 8e32019 up to f0ed2f9) lacks the
-- column and 0005 failed on it. It goes where the edited 0003 puts it, last; elsewhere
-- this is a no-op. (tests/upgrade.rs opens a store of that version.)
ALTER TABLE events ADD COLUMN IF NOT EXISTS link_id UBIGINT DEFAULT 0;
ALTER TABLE events ADD COLUMN server_side BOOLEAN DEFAULT false
