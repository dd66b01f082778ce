-- Tracked short links (issue 5). `domain` is a custom short domain ('' = Lucarne's own
-- host, under /l/). `clicks` is the persisted click count used by the click limit.
CREATE TABLE links (
    id           INTEGER PRIMARY KEY,
    site_id      INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    domain       TEXT NOT NULL DEFAULT '',
    slug         TEXT NOT NULL,
    target       TEXT NOT NULL,
    channel      TEXT NOT NULL DEFAULT '',
    utm_source   TEXT NOT NULL DEFAULT '',
    utm_medium   TEXT NOT NULL DEFAULT '',
    utm_campaign TEXT NOT NULL DEFAULT '',
    utm_term     TEXT NOT NULL DEFAULT '',
    utm_content  TEXT NOT NULL DEFAULT '',
    redirect     INTEGER NOT NULL DEFAULT 302,
    expires_at   TEXT,
    max_clicks   INTEGER,
    disabled     INTEGER NOT NULL DEFAULT 0,
    clicks       INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (domain, slug)
);
CREATE INDEX links_site ON links (site_id);
