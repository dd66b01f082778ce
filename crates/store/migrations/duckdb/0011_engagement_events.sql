-- Engagement events (issue 21, Plausible's `engagement`: scroll depth and time in the
-- foreground of a page) in a table of their own, with the wide table's columns: no
-- report of events reads them (they are not custom events); scroll depth and time on
-- page do.
CREATE TABLE engagement_events AS SELECT * FROM site_events WHERE false;
