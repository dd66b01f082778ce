-- Engagement (issue 18, for Plausible's `engagement` events): scroll depth in percent and
-- foreground time in milliseconds; 0 when not measured (every row loaded before).
ALTER TABLE ${events_local} ADD COLUMN scroll_depth UInt8 DEFAULT 0;
ALTER TABLE ${events_local} ADD COLUMN engagement_ms UInt32 DEFAULT 0;

-- @cluster
ALTER TABLE events ADD COLUMN scroll_depth UInt8 DEFAULT 0;
-- @cluster
ALTER TABLE events ADD COLUMN engagement_ms UInt32 DEFAULT 0;
