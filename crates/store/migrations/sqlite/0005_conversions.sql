-- Conversions and surveys (issue 6).
-- A goal counts custom events by name or pageviews by path pattern; it is matched when a
-- report runs, so a goal added today counts the past too.
CREATE TABLE goals (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,               -- 'event' or 'page'
    value      TEXT NOT NULL,               -- event name, or path pattern with '*'
    name       TEXT NOT NULL,               -- display name
    created_at TEXT NOT NULL,
    UNIQUE (site_id, kind, value)
);
CREATE INDEX goals_site ON goals (site_id);
-- Ids of server-side conversions already recorded (an order id sent twice counts once).
CREATE TABLE conversion_ids (
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (site_id, id)
);
-- Revenue is reported in the site's currency; other currencies count through the
-- owner's fixed rates ('USD=0.92,GBP=1.17'), or apart when they have none.
ALTER TABLE sites ADD COLUMN currency TEXT NOT NULL DEFAULT 'EUR';
ALTER TABLE sites ADD COLUMN exchange_rates TEXT NOT NULL DEFAULT '';
-- The survey: on unless turned off; its options ('' = the defaults of data/survey.toml).
ALTER TABLE sites ADD COLUMN survey_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE sites ADD COLUMN survey_options TEXT NOT NULL DEFAULT '';
