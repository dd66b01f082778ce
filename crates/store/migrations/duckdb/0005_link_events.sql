-- Short-link clicks, scans and preview fetches (issue 5) get a narrow table of their own:
-- most of an event's columns describe its visit, and a link event has none, so storing
-- it in the wide table cost DuckDB's checkpoint the compression of 38 columns a click.
-- The wide table becomes `site_events`; `events` is the view over both that every report
-- reads, so a link event reads back exactly as it was written (the loader puts a row in
-- `link_events` only when every column left out has the value the view gives it).
ALTER TABLE events RENAME TO site_events;
CREATE TABLE link_events (
    site_id         UINTEGER  NOT NULL,
    ts              TIMESTAMP NOT NULL,
    name            VARCHAR   NOT NULL,
    visitor_id      UBIGINT   NOT NULL,
    session_id      UBIGINT   NOT NULL,
    hostname        VARCHAR   NOT NULL,
    pathname        VARCHAR   NOT NULL,
    referrer        VARCHAR   NOT NULL,
    source          VARCHAR   NOT NULL,
    utm_campaign    VARCHAR   NOT NULL,
    channel         VARCHAR   NOT NULL,
    channel_group   VARCHAR   NOT NULL,
    device          VARCHAR   NOT NULL,
    browser         VARCHAR   NOT NULL,
    os              VARCHAR   NOT NULL,
    country         VARCHAR   NOT NULL,
    prop_keys       VARCHAR   NOT NULL,
    prop_values     VARCHAR   NOT NULL,
    token           UBIGINT   NOT NULL,
    link_id         UBIGINT   NOT NULL
);
CREATE VIEW events AS
SELECT site_id, ts, name, visitor_id, session_id, entry, hostname, pathname, entry_page,
       referrer, source, utm_source, utm_medium, utm_campaign, utm_term, utm_content,
       click_id, channel, channel_group, evidence, device, browser, os, country,
       screen_width, prop_keys, prop_values, revenue_minor, revenue_currency, token,
       parent_token, parent_session, generation, visit_share_channel, token_status,
       share_channel, link_id, server_side
FROM site_events
UNION ALL
SELECT site_id, ts, name, visitor_id, session_id, false, hostname, pathname, pathname,
       referrer, source, '', '', utm_campaign, '', '',
       '', channel, channel_group, 'short-link', device, browser, os, country,
       0::USMALLINT, prop_keys, prop_values, NULL::BIGINT, NULL::VARCHAR, token,
       0::UBIGINT, 0::UBIGINT, 0::USMALLINT, '', '',
       '', link_id, false
FROM link_events
