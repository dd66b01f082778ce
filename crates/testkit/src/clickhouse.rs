//! ClickHouse test servers: Debian's `clickhouse-server` (18.16) started in a temporary
//! directory with a minimal configuration, bound to free loopback ports, killed on drop.
//!
//! Start-up takes about 0.2 s here, so every test starts its own servers: no shared
//! instance, no state between tests, nothing left running after a test process ends
//! (each server is killed by `Drop`; a server orphaned by a killed test process only
//! holds loopback ports in a temporary directory).
//!
//! [`start_cluster`] starts N servers whose configurations all define the cluster
//! `lucarne` (one shard per server, one replica per shard, no ZooKeeper), so that a
//! `Distributed` table over `lucarne` spans them.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Where Debian installs the server (and where other packagings put it).
const BINARIES: [&str; 3] = [
    "/usr/sbin/clickhouse-server",
    "/usr/bin/clickhouse-server",
    "/usr/bin/clickhouse",
];

/// Name of the cluster [`start_cluster`] defines.
pub const CLUSTER: &str = "lucarne";

fn binary() -> Result<(PathBuf, bool)> {
    for b in BINARIES {
        let p = Path::new(b);
        if p.exists() {
            // The all-in-one `clickhouse` binary needs `server` as its first argument.
            return Ok((p.to_path_buf(), b.ends_with("/clickhouse")));
        }
    }
    bail!("clickhouse-server not found (run scripts/install-test-deps.sh as root)")
}

/// One running test server.
pub struct ClickHouseServer {
    child: Option<Child>,
    http_port: u16,
    tcp_port: u16,
    /// Started through `runuser -u clickhouse` (root, and the server refused root).
    as_user: bool,
    dir: tempfile::TempDir,
}

/// Ports of the servers of a cluster (each server's configuration lists all of them).
#[derive(Clone, Copy)]
struct Ports {
    http: u16,
    tcp: u16,
    interserver: u16,
}

fn config_xml(dir: &Path, ports: Ports, shards: &[Ports]) -> String {
    let d = dir.display();
    let mut remote = String::new();
    if !shards.is_empty() {
        remote.push_str("  <remote_servers>\n    <lucarne>\n");
        for s in shards {
            let _ = writeln!(
                remote,
                "      <shard><replica><host>127.0.0.1</host><port>{}</port></replica></shard>",
                s.tcp
            );
        }
        remote.push_str("    </lucarne>\n  </remote_servers>\n");
    }
    format!(
        r#"<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{d}/server.log</log>
    <errorlog>{d}/server.err.log</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <interserver_http_port>{inter}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <path>{d}/data/</path>
  <tmp_path>{d}/tmp/</tmp_path>
  <user_files_path>{d}/user_files/</user_files_path>
  <format_schema_path>{d}/format_schemas/</format_schema_path>
  <users_config>{d}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
{remote}</yandex>
"#,
        http = ports.http,
        tcp = ports.tcp,
        inter = ports.interserver,
    )
}

const USERS_XML: &str = r#"<?xml version="1.0"?>
<yandex>
  <profiles><default></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default></default></quotas>
</yandex>
"#;

/// `GET /ping` answered `Ok.`?
pub(crate) fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.") && out.contains(" 200 ") && out.ends_with("Ok.\n")
}

/// POST `sql` to a server's HTTP interface (HTTP/1.0, so the body ends at close).
pub(crate) fn http_query(port: u16, sql: &str) -> Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .with_context(|| format!("connect to 127.0.0.1:{port}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .context("set read timeout")?;
    let head = format!(
        "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n",
        sql.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(sql.as_bytes()))
        .context("send query")?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).context("read answer")?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (status, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("malformed HTTP answer: {text}"))?;
    if !status.starts_with("HTTP/1.") || !status.contains(" 200 ") {
        bail!(
            "clickhouse answered {}: {body}",
            status.lines().next().unwrap_or("")
        );
    }
    Ok(body.to_string())
}

fn is_root() -> bool {
    // No libc dependency: the effective uid is in /proc.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

impl ClickHouseServer {
    /// Start a single server (no cluster defined).
    pub fn start() -> Result<Self> {
        let ports = Ports {
            http: crate::free_port(),
            tcp: crate::free_port(),
            interserver: crate::free_port(),
        };
        Self::start_with(ports, &[])
    }

    fn start_with(ports: Ports, shards: &[Ports]) -> Result<Self> {
        let (bin, all_in_one) = binary()?;
        let dir = tempfile::Builder::new()
            .prefix("lucarne-clickhouse-")
            .tempdir()
            .context("temporary directory for clickhouse-server")?;
        for sub in ["data", "tmp", "user_files", "format_schemas"] {
            std::fs::create_dir_all(dir.path().join(sub))
                .with_context(|| format!("create {sub} in the server directory"))?;
        }
        let config = dir.path().join("config.xml");
        std::fs::write(&config, config_xml(dir.path(), ports, shards))
            .context("write config.xml")?;
        std::fs::write(dir.path().join("users.xml"), USERS_XML).context("write users.xml")?;

        let mut server = ClickHouseServer {
            child: None,
            http_port: ports.http,
            tcp_port: ports.tcp,
            as_user: false,
            dir,
        };
        // As root the server normally runs as is; if it refuses, run it as `clickhouse`.
        let first = server.spawn(&bin, all_in_one, &config, false);
        if let Err(e) = first {
            if !is_root() {
                return Err(e);
            }
            server.kill();
            chown_clickhouse(server.dir.path())?;
            server
                .spawn(&bin, all_in_one, &config, true)
                .with_context(|| format!("as root: {e:#}"))?;
            server.as_user = true;
        }
        Ok(server)
    }

    /// Kill the server (an outage); [`ClickHouseServer::restart`] brings it back with
    /// the same ports and data.
    pub fn stop(&mut self) {
        self.kill();
    }

    /// Start the server again after [`ClickHouseServer::stop`].
    pub fn restart(&mut self) -> Result<()> {
        self.kill();
        let (bin, all_in_one) = binary()?;
        let config = self.dir.path().join("config.xml");
        self.spawn(&bin, all_in_one, &config, self.as_user)
    }

    fn spawn(&mut self, bin: &Path, all_in_one: bool, config: &Path, as_user: bool) -> Result<()> {
        let log = std::fs::File::create(self.dir.path().join("stdout.log"))
            .context("create the server's stdout log")?;
        let err = log.try_clone().context("clone log handle")?;
        let mut cmd = if as_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "clickhouse", "--"]).arg(bin);
            c
        } else {
            Command::new(bin)
        };
        if all_in_one {
            cmd.arg("server");
        }
        cmd.arg(format!("--config-file={}", config.display()))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if ping(self.http_port) {
                return Ok(());
            }
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(status)) = c.try_wait() {
                    self.child = None;
                    bail!(
                        "clickhouse-server exited ({status}) during start-up: {}",
                        self.log_tail()
                    );
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "clickhouse-server did not answer /ping within 30 s: {}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The end of the server's logs (for error messages).
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for f in ["stdout.log", "server.err.log"] {
            if let Ok(s) = std::fs::read_to_string(self.dir.path().join(f)) {
                let start = s.len().saturating_sub(2000);
                let start = (start..s.len())
                    .find(|i| s.is_char_boundary(*i))
                    .unwrap_or(s.len());
                let _ = write!(out, "[{f}] {}", &s[start..]);
            }
        }
        out
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
    }

    /// `clickhouse://127.0.0.1:PORT/DATABASE` (HTTP interface, user `default`).
    pub fn url(&self, database: &str) -> String {
        format!("clickhouse://127.0.0.1:{}/{database}", self.http_port)
    }

    /// Run `sql` over HTTP and return the body (tab-separated rows); an error with the
    /// server's message if it answers anything but 200.
    pub fn query(&self, sql: &str) -> Result<String> {
        http_query(self.http_port, sql)
    }

    /// The server's directory (configuration, data, logs).
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

impl Drop for ClickHouseServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn chown_clickhouse(dir: &Path) -> Result<()> {
    let status = Command::new("chown")
        .args(["-R", "clickhouse:clickhouse"])
        .arg(dir)
        .status()
        .context("run chown")?;
    if !status.success() {
        bail!("chown -R clickhouse {} failed: {status}", dir.display());
    }
    Ok(())
}

/// Servers that each hold one shard of the cluster [`CLUSTER`].
pub struct ClickHouseCluster {
    pub servers: Vec<ClickHouseServer>,
}

impl ClickHouseCluster {
    /// `clickhouse://127.0.0.1:P1,127.0.0.1:P2/DATABASE?cluster=lucarne`.
    pub fn url(&self, database: &str) -> String {
        let hosts: Vec<String> = self
            .servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.http_port))
            .collect();
        format!(
            "clickhouse://{}/{database}?cluster={CLUSTER}",
            hosts.join(",")
        )
    }
}

/// Start `shards` servers, each one shard of the cluster [`CLUSTER`].
pub fn start_cluster(shards: usize) -> Result<ClickHouseCluster> {
    let ports: Vec<Ports> = (0..shards.max(1))
        .map(|_| Ports {
            http: crate::free_port(),
            tcp: crate::free_port(),
            interserver: crate::free_port(),
        })
        .collect();
    let mut servers = Vec::with_capacity(ports.len());
    for p in &ports {
        servers.push(ClickHouseServer::start_with(*p, &ports)?);
    }
    Ok(ClickHouseCluster { servers })
}
