CREATE TABLE sites (
    id                INTEGER PRIMARY KEY,
    domain            TEXT NOT NULL UNIQUE,
    timezone          TEXT NOT NULL DEFAULT 'UTC',
    allowed_hostnames TEXT NOT NULL DEFAULT '',
    created_at        TEXT NOT NULL
);
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    prefix      TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE TABLE salts (
    day         TEXT PRIMARY KEY,
    salt        BLOB NOT NULL,
    created_at  TEXT NOT NULL
);
