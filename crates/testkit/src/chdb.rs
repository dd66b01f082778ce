//! A current ClickHouse release for tests: the engine of PyPI's `chdb` (chdb-core 26.9,
//! ClickHouse as a Python extension) behind a small HTTP front end of ours,
//! `crates/testkit/chdb_http.py`, which speaks the part of ClickHouse's HTTP interface
//! that the `clickhouse` crate uses (queries, `database`, settings, output formats,
//! `INSERT … FORMAT RowBinary`, errors, `/ping`).
//!
//! Debian packages only clickhouse-server 18.16 ([`crate::clickhouse`]); with this, the
//! same tests also run on a current release. Each [`ChdbServer`] is its own Python
//! process with its own data directory, on a free loopback port, killed on drop (and the
//! front end exits by itself if the test process dies). No cluster: chdb has no TCP
//! server, so `remote()` and `Distributed` tables are out of reach.
//!
//! Python is `$LUCARNE_PYTHON` if set, else `python3`; it must import `chdb`
//! (`scripts/install-test-deps.sh` installs it). Missing, it is an error, not a skip.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::clickhouse::{http_query, ping};

/// The front end, written into each server's directory.
const FRONT_END: &str = include_str!("../chdb_http.py");

/// Start-up (importing chdb and opening the session) takes about a second; allow for a
/// loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// The Python interpreter to use.
fn python() -> PathBuf {
    std::env::var_os("LUCARNE_PYTHON")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Check that `python` imports chdb; its version (chdb's, not the engine's).
fn check_chdb(python: &Path) -> Result<String> {
    let out = Command::new(python)
        .args(["-c", "import chdb; print(chdb.__version__)"])
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!(
                "run {} (set LUCARNE_PYTHON, or run scripts/install-test-deps.sh)",
                python.display()
            )
        })?;
    if !out.status.success() {
        bail!(
            "{} cannot import chdb (the current ClickHouse engine for tests): run \
             scripts/install-test-deps.sh, which pip-installs chdb: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// One running front end over a chdb session.
pub struct ChdbServer {
    child: Option<Child>,
    python: PathBuf,
    http_port: u16,
    version: String,
    dir: tempfile::TempDir,
}

impl ChdbServer {
    /// Start a server on a free loopback port, in a new temporary directory; returns once
    /// it answers `/ping` (the engine is open by then).
    pub fn start() -> Result<Self> {
        let python = python();
        check_chdb(&python)?;
        let dir = tempfile::Builder::new()
            .prefix("lucarne-chdb-")
            .tempdir()
            .context("temporary directory for chdb")?;
        std::fs::write(dir.path().join("chdb_http.py"), FRONT_END).context("write chdb_http.py")?;
        let mut server = ChdbServer {
            child: None,
            python,
            http_port: crate::free_port(),
            version: String::new(),
            dir,
        };
        server.spawn()?;
        let version = server
            .query("SELECT version()")
            .context("SELECT version()")?;
        server.version = version.trim().to_string();
        Ok(server)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::File::create(self.dir.path().join("server.log"))
            .context("create the server's log")?;
        let err = log.try_clone().context("clone log handle")?;
        let child = Command::new(&self.python)
            .arg(self.dir.path().join("chdb_http.py"))
            .arg(self.http_port.to_string())
            .arg("--data")
            .arg(self.dir.path().join("data"))
            .current_dir(self.dir.path())
            .env("TZ", "UTC")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .with_context(|| format!("spawn {} chdb_http.py", self.python.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ping(self.http_port) {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    bail!(
                        "chdb_http.py exited ({status}) during start-up: {}",
                        self.log_tail()
                    );
                }
            }
            if Instant::now() > deadline {
                self.kill();
                bail!(
                    "chdb_http.py did not answer /ping within {} s: {}",
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The engine's version, as `SELECT version()` answers (e.g. `26.9.2.1`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The engine's major version (26 for `26.9.2.1`; 0 if unreadable).
    pub fn major_version(&self) -> u32 {
        self.version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    /// `clickhouse://127.0.0.1:PORT/DATABASE`, like [`crate::clickhouse::ClickHouseServer::url`].
    pub fn url(&self, database: &str) -> String {
        format!("clickhouse://127.0.0.1:{}/{database}", self.http_port)
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// Run `sql` over HTTP and return the body (tab-separated rows); an error with the
    /// engine's message if it answers anything but 200.
    pub fn query(&self, sql: &str) -> Result<String> {
        http_query(self.http_port, sql)
    }

    /// Kill the server (an outage); [`ChdbServer::restart`] brings it back with the same
    /// port and data.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Start the server again after [`ChdbServer::stop`].
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        self.spawn()
    }

    /// The end of the server's log (for error messages).
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        if let Ok(s) = std::fs::read_to_string(self.dir.path().join("server.log")) {
            let start = s.len().saturating_sub(2000);
            let start = (start..s.len())
                .find(|i| s.is_char_boundary(*i))
                .unwrap_or(s.len());
            let _ = write!(out, "[server.log] {}", &s[start..]);
        }
        out
    }

    /// The server's directory (front end, data, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ChdbServer {
    fn drop(&mut self) {
        self.kill();
    }
}
