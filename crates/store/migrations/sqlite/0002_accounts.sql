-- Accounts and access control for the dashboard (issue 3).
CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    locale        TEXT,
    created_at    TEXT NOT NULL
);
-- A user's role on a site: 'owner' (settings, members, links) or 'viewer' (read only).
CREATE TABLE site_members (
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'viewer')),
    created_at TEXT NOT NULL,
    PRIMARY KEY (site_id, user_id)
);
CREATE INDEX site_members_user ON site_members (user_id);
-- Login sessions: only a hash of the cookie's token is kept, so a copy of this file
-- logs nobody in. Shared by every node reading the same metadata store.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);
-- Read-only dashboard links; the token is shown once, only its hash is kept.
CREATE TABLE shared_links (
    id         INTEGER PRIMARY KEY,
    site_id    INTEGER NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    name       TEXT NOT NULL DEFAULT '',
    prefix     TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    revoked_at TEXT
);
-- Keys made in the UI belong to a user and reach only that user's sites;
-- keys made with the CLI (user_id NULL) reach every site.
ALTER TABLE api_keys ADD COLUMN user_id INTEGER REFERENCES users(id) ON DELETE CASCADE;
-- Site settings beyond time zone and hostnames.
ALTER TABLE sites ADD COLUMN share_param_style TEXT NOT NULL DEFAULT 'fragment';
ALTER TABLE sites ADD COLUMN retention_days INTEGER;
ALTER TABLE sites ADD COLUMN honour_dnt INTEGER NOT NULL DEFAULT 0;
