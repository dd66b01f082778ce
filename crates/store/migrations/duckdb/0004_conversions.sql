-- Conversions (issue 6): rows the site's server sent (POST /api/v1/conversions), possibly
-- days after their visit. They count as conversions of that visit, but not in its
-- pageviews, duration or bounce.
ALTER TABLE events ADD COLUMN server_side BOOLEAN DEFAULT false
