-- Self-serve teams (issue 19). An invitation names an address, a site and a role; only a
-- hash of its token is kept, so a copy of this database accepts none. Accepting one makes
-- the account (or, for an existing account, only the membership) and deletes the row.
CREATE TABLE invitations (
    token_hash TEXT PRIMARY KEY,
    site_id    BIGINT NOT NULL REFERENCES sites(id) ON DELETE CASCADE,
    email      TEXT COLLATE "C" NOT NULL,
    role       TEXT COLLATE "C" NOT NULL CHECK (role IN ('owner', 'viewer')),
    invited_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX invitations_site ON invitations (site_id);
-- Settings of the whole instance, changed from the UI by an administrator (the public URL).
CREATE TABLE instance_settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- The short domain a site's new links get by default ('': Lucarne's own address).
ALTER TABLE sites ADD COLUMN short_domain TEXT NOT NULL DEFAULT '';
-- Administrators change instance settings; the first account is one.
ALTER TABLE users ADD COLUMN admin BIGINT NOT NULL DEFAULT 0;
UPDATE users SET admin = 1 WHERE id = (SELECT MIN(id) FROM users);
-- Ids of deleted sites: never given to a new site, whose reports would otherwise show
-- the deleted one's events still in the events store (SQLite reuses the largest rowid).
CREATE TABLE deleted_sites (
    site_id    BIGINT PRIMARY KEY,
    domain     TEXT NOT NULL,
    deleted_at TEXT NOT NULL
);
