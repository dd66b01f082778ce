-- Failed logins, counted across nodes (issue 7): per key (a hashed client IP, or an
-- account), the time of each failure. Only nodes sharing a metadata store write here; a
-- single node counts in memory. Rows older than the login window are purged.
CREATE TABLE login_failures (
    key   TEXT NOT NULL,
    at_us BIGINT NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (key, at_us);
