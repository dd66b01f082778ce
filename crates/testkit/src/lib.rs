//! Real database servers for tests (no mocks): each is started from the packages that
//! `scripts/install-test-deps.sh` installs (Debian's, and PyPI's chdb for a current
//! ClickHouse engine), in its own temporary directory, bound to free loopback ports, and
//! stopped when dropped; and a real HTTP receiver for webhooks (`webhook`).

pub mod chdb;
pub mod clickhouse;
pub mod postgres;
pub mod smtp;
pub mod webhook;

/// A free TCP port on 127.0.0.1 (bound once, then released for the server to take).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}
