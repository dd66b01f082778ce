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

/// Wait, when the next UTC midnight is less than `margin` away, until just after it.
/// For tests that act at the wall clock and then ask about "today" for minutes of
/// simulated time (a daily cap, a day's dedupe key): they start clear of a date change.
pub fn clear_of_utc_midnight(margin: std::time::Duration) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let left = 86_400 - since_epoch.as_secs() % 86_400;
    if left < margin.as_secs() {
        eprintln!("waiting {left} s for UTC midnight to pass");
        std::thread::sleep(std::time::Duration::from_secs(left + 1));
    }
}
