-- Issue 23: annotations, embedding, funnels, e-mail subscriptions, alerts, webhooks
-- (ARCHITECTURE.md, "Telling owners when it happens").
-- A note on one site-local day of the chart.
CREATE TABLE annotations (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    day        TEXT NOT NULL,               -- YYYY-MM-DD, site-local
    note       TEXT NOT NULL,
    user_id    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX annotations_site ON annotations (site_id, day);
-- Origins allowed to frame the site's shared dashboard, space-separated ('' = none).
ALTER TABLE sites ADD COLUMN embed_origins TEXT NOT NULL DEFAULT '';
-- Alert thresholds, quiet hours and daily cap as JSON ('' = the defaults).
ALTER TABLE sites ADD COLUMN alert_options TEXT NOT NULL DEFAULT '';
-- Funnels: ordered steps, JSON [{"kind":"page"|"event","value":"..."}, ...].
CREATE TABLE funnels (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    steps      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (site_id, name)
);
-- What a user receives for a site: 'weekly', 'monthly' digests, 'alerts'. The token
-- turns this one subscription off without a login.
CREATE TABLE subscriptions (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('weekly', 'monthly', 'alerts')),
    locale     TEXT NOT NULL DEFAULT 'en',
    token      TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    UNIQUE (user_id, site_id, kind)
);
CREATE INDEX subscriptions_site ON subscriptions (site_id);
-- Webhook receivers; the secret signs each call (HMAC-SHA256).
CREATE TABLE webhooks (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    url        TEXT NOT NULL,
    secret     TEXT NOT NULL,
    events     TEXT NOT NULL DEFAULT 'alerts,conversions',
    created_at TEXT NOT NULL
);
CREATE INDEX webhooks_site ON webhooks (site_id);
-- Alerts raised (for the daily cap and the settings page).
CREATE TABLE alerts (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,               -- 'spike' or 'viral'
    subject    TEXT NOT NULL DEFAULT '',    -- the page, for 'viral'
    dedupe     TEXT NOT NULL UNIQUE,
    details    TEXT NOT NULL,               -- JSON
    created_at TEXT NOT NULL
);
CREATE INDEX alerts_site ON alerts (site_id, created_at);
-- The outbox: each e-mail or webhook call to make, sent at most once per dedupe key.
CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    site_id         INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    channel         TEXT NOT NULL CHECK (channel IN ('email', 'webhook')),
    target          TEXT NOT NULL,          -- an address, or a webhook's id
    kind            TEXT NOT NULL,          -- 'weekly', 'monthly', 'alert', 'conversion', 'test'
    dedupe          TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,          -- JSON
    status          TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    leased_until    TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
CREATE INDEX deliveries_site ON deliveries (site_id, created_at);
-- Where a node's conversion webhooks have read up to, per site (microseconds, UTC).
CREATE TABLE notify_cursors (
    site_id INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name    TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (site_id, name)
);
