-- Engagement (issue 18, for Plausible's `engagement` events): how far down the page the
-- visitor scrolled, in percent, and how long the page was in the foreground, in
-- milliseconds; 0 when not measured. Link events never carry them, so `link_events`
-- leaves them out and the view reads them as 0 there.
ALTER TABLE site_events ADD COLUMN scroll_depth UTINYINT DEFAULT 0;
ALTER TABLE site_events ADD COLUMN engagement_ms UINTEGER DEFAULT 0;
CREATE OR REPLACE VIEW events AS
SELECT site_id, ts, name, visitor_id, session_id, entry, hostname, pathname, entry_page,
       referrer, source, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
       click_id, channel, channel_group, evidence, device, browser, os, country,
       screen_width, prop_keys, prop_values, revenue_minor, revenue_currency, token,
       parent_token, parent_session, generation, visit_share_channel, token_status,
       share_channel, link_id, server_side, scroll_depth, engagement_ms
FROM site_events
UNION ALL
SELECT site_id, ts, name, visitor_id, session_id, false, hostname, pathname, pathname,
       referrer, source, '', '', utm_campaign, '', '',
       '', channel, channel_group, 'short-link', device, browser, os, country,
       0::USMALLINT, prop_keys, prop_values, NULL::BIGINT, NULL::VARCHAR, token,
       0::UBIGINT, 0::UBIGINT, 0::USMALLINT, '', '',
       '', link_id, false, 0::UTINYINT, 0::UINTEGER
FROM link_events
