//! PostgreSQL test servers: a throw-away cluster (`initdb`) in a temporary directory,
//! listening on 127.0.0.1 on a free port only (its Unix socket inside the directory),
//! trust authentication, durability off (tests do not survive power cuts), stopped and
//! deleted on drop.
//!
//! The binaries are Debian's (`/usr/lib/postgresql/<newest>/bin`, package `postgresql`,
//! installed by `scripts/install-test-deps.sh`); `LUCARNE_PG_BIN` names another bin
//! directory. PostgreSQL refuses to run as root, so under root the server and its tools run
//! as the `postgres` system user, which is given the temporary directory.
//!
//! ```no_run
//! let pg = lucarne_testkit::postgres::PostgresServer::start()?;
//! let url = pg.create_database("meta_test")?; // postgres://postgres@127.0.0.1:PORT/meta_test
//! # anyhow::Ok(())
//! ```
//!
//! [`PostgresServer::start_tls`] starts one with `ssl = on`: a throw-away certificate
//! authority and a server certificate for `127.0.0.1` and `localhost` are made at start-up
//! with the `openssl` command (package `openssl`), so that clients can connect with
//! `sslmode=require`, or `sslmode=verify-full&sslrootcert=<PostgresServer::ca_cert>`.

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// The superuser the cluster is created with (connections use it, trust auth).
const SUPERUSER: &str = "postgres";
/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running PostgreSQL server for one test (or several: see [`PostgresServer::shared`]).
pub struct PostgresServer {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// `(uid, gid)` of the `postgres` user when the tests run as root.
    run_as: Option<(u32, u32)>,
    child: Option<Child>,
    started_in: Duration,
    /// The certificate files when the server runs with `ssl = on`.
    tls: Option<TlsFiles>,
    /// Dropped last: removes the data directory once the server is stopped.
    dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for PostgresServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresServer")
            .field("bin", &self.bin)
            .field("data", &self.data)
            .field("port", &self.port)
            .field("started_in", &self.started_in)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// The certificates of a server started with [`PostgresServer::start_tls`].
#[derive(Debug, Clone)]
struct TlsFiles {
    /// The certificate authority that signed the server's certificate (PEM).
    ca: PathBuf,
    /// The server's certificate (PEM, for `127.0.0.1` and `localhost`).
    cert: PathBuf,
    /// The server's private key (PEM, readable by the server's user only).
    key: PathBuf,
}

impl PostgresServer {
    /// Create a cluster in a new temporary directory and start it; returns once it
    /// accepts connections.
    pub fn start() -> Result<Self> {
        Self::start_with(false)
    }

    /// Like [`PostgresServer::start`], with `ssl = on`: a certificate authority and a
    /// server certificate (for `127.0.0.1` and `localhost`) are made for this server with
    /// the `openssl` command. Clients may connect with or without TLS (`sslmode=disable`
    /// still works); [`PostgresServer::ca_cert`] is the file for `sslrootcert`.
    pub fn start_tls() -> Result<Self> {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> Result<Self> {
        let began = Instant::now();
        let bin = bin_dir()?;
        let run_as = if running_as_root()? {
            Some(postgres_user()?)
        } else {
            None
        };
        let dir = tempfile::Builder::new()
            .prefix("lucarne-pg-")
            .tempdir()
            .context("create the PostgreSQL temporary directory")?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .with_context(|| format!("give {} to the postgres user", dir.path().display()))?;
        }
        let root = dir.path().to_path_buf();
        let data = root.join("data");
        let socket_dir = root.join("socket");
        std::fs::create_dir(&socket_dir).context("create the socket directory")?;
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(&socket_dir, Some(uid), Some(gid))
                .context("give the socket directory to the postgres user")?;
        }

        let mut server = PostgresServer {
            bin,
            data,
            port: 0,
            run_as,
            child: None,
            started_in: Duration::ZERO,
            tls: None,
            dir: Some(dir),
        };

        let initdb_log = root.join("initdb.log");
        let initdb_out = create_log(&initdb_log)?;
        let status = server
            .tool("initdb")
            .arg("--pgdata")
            .arg(&server.data)
            .args([
                "--username",
                SUPERUSER,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ])
            .stdout(Stdio::from(initdb_out.try_clone()?))
            .stderr(Stdio::from(initdb_out))
            .status()
            .context("run initdb")?;
        if !status.success() {
            bail!("initdb failed ({status}):\n{}", read_log(&initdb_log));
        }
        if tls {
            server.tls = Some(make_certificates(&root.join("tls"), run_as)?);
        }

        // A port that is free now may be taken before the server binds it: retry a few times.
        let log = root.join("postgres.log");
        let mut last_error = None;
        for _ in 0..5 {
            let port = crate::free_port();
            if port == 0 {
                bail!("no free port on 127.0.0.1");
            }
            server.port = port;
            match server.spawn_and_wait(&socket_dir, &log) {
                Ok(()) => {
                    server.started_in = began.elapsed();
                    return Ok(server);
                }
                Err(e) => {
                    server.stop();
                    last_error = Some(e);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("PostgreSQL did not start")))
    }

    /// One server shared by every caller that holds it: started by the first, stopped when
    /// the last holder drops it (the next call then starts a new one). Tests running in
    /// parallel in one process share a server and each takes its own database.
    pub fn shared() -> Result<Arc<Self>> {
        static SHARED: Mutex<Weak<PostgresServer>> = Mutex::new(Weak::new());
        let mut slot = SHARED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(server) = slot.upgrade() {
            return Ok(server);
        }
        let server = Arc::new(Self::start()?);
        *slot = Arc::downgrade(&server);
        Ok(server)
    }

    /// The port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The certificate authority that signed the server's certificate (a PEM file, for
    /// `sslrootcert=`), when it was started with [`PostgresServer::start_tls`].
    pub fn ca_cert(&self) -> Option<&Path> {
        self.tls.as_ref().map(|t| t.ca.as_path())
    }

    /// How long `start` took (cluster creation included).
    pub fn started_in(&self) -> Duration {
        self.started_in
    }

    /// The connection URL of a database on this server.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Create an empty database and return its URL. Names are limited to lower-case
    /// ASCII letters, digits and `_` (at most 63 bytes, not starting with a digit).
    pub fn create_database(&self, name: &str) -> Result<String> {
        let valid = !name.is_empty()
            && name.len() <= 63
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid {
            bail!("`{name}` is not a plain database name (a-z, 0-9, _)");
        }
        let output = Command::new(self.bin.join("createdb"))
            .args(["--host", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--username", SUPERUSER, "--no-password", name])
            .stdin(Stdio::null())
            .output()
            .context("run createdb")?;
        if !output.status.success() {
            bail!(
                "createdb {name} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(self.url(name))
    }

    /// A command for one of the server's programs, run as the `postgres` user under root.
    fn tool(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.stdin(Stdio::null());
        if let Some(dir) = &self.dir {
            // The caller's working directory may be closed to the postgres user.
            cmd.current_dir(dir.path());
        }
        if let Some((uid, gid)) = self.run_as {
            cmd.uid(uid)
                .gid(gid)
                .env("HOME", self.data.parent().unwrap_or(&self.data));
        }
        cmd
    }

    fn spawn_and_wait(&mut self, socket_dir: &Path, log: &Path) -> Result<()> {
        let out = create_log(log)?;
        let mut postgres = self.tool("postgres");
        if let Some(tls) = &self.tls {
            postgres
                .args(["-c", "ssl=on", "-c"])
                .arg(format!("ssl_cert_file={}", tls.cert.display()))
                .arg("-c")
                .arg(format!("ssl_key_file={}", tls.key.display()));
        }
        let child = postgres
            .arg("-D")
            .arg(&self.data)
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-c")
            .arg("listen_addresses=127.0.0.1")
            .arg("-c")
            .arg(format!("unix_socket_directories={}", socket_dir.display()))
            .args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
                "-c",
                "shared_buffers=32MB",
                "-c",
                "logging_collector=off",
            ])
            .stdout(Stdio::from(out.try_clone()?))
            .stderr(Stdio::from(out))
            .spawn()
            .context("start postgres")?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    bail!("postgres exited ({status}):\n{}", read_log(log));
                }
            }
            if self.accepts_connections()? {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "postgres did not accept connections within {START_TIMEOUT:?}:\n{}",
                    read_log(log)
                );
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    fn accepts_connections(&self) -> Result<bool> {
        let status = Command::new(self.bin.join("pg_isready"))
            .args(["--host", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--username", SUPERUSER, "--dbname", "postgres", "--quiet"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("run pg_isready")?;
        Ok(status.success())
    }

    /// Immediate shutdown (no checkpoint: the data is thrown away anyway).
    fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let stopped = self
            .tool("pg_ctl")
            .arg("stop")
            .arg("--pgdata")
            .arg(&self.data)
            .args(["--mode", "immediate", "--wait", "--timeout", "20"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !stopped {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.stop();
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// `LUCARNE_PG_BIN`, or the newest `/usr/lib/postgresql/<version>/bin` with a server.
fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("LUCARNE_PG_BIN") {
        let dir = PathBuf::from(dir);
        if dir.join("postgres").is_file() && dir.join("initdb").is_file() {
            return Ok(dir);
        }
        bail!(
            "LUCARNE_PG_BIN={} has no postgres and initdb",
            dir.display()
        );
    }
    let root = Path::new("/usr/lib/postgresql");
    let mut best: Option<(Vec<u32>, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(version) = name
                .split('.')
                .map(str::parse::<u32>)
                .collect::<Result<Vec<u32>, _>>()
            else {
                continue;
            };
            let bin = entry.path().join("bin");
            if !(bin.join("postgres").is_file() && bin.join("initdb").is_file()) {
                continue;
            }
            if best.as_ref().is_none_or(|(v, _)| version > *v) {
                best = Some((version, bin));
            }
        }
    }
    best.map(|(_, bin)| bin).ok_or_else(|| {
        anyhow!(
            "no PostgreSQL server under /usr/lib/postgresql (run scripts/install-test-deps.sh, \
             or set LUCARNE_PG_BIN)"
        )
    })
}

fn running_as_root() -> Result<bool> {
    Ok(std::fs::metadata("/proc/self")
        .context("read /proc/self")?
        .uid()
        == 0)
}

/// The `postgres` system user's uid and gid (created by Debian's package).
fn postgres_user() -> Result<(u32, u32)> {
    let id = |flag: &str| -> Result<u32> {
        let out = Command::new("id")
            .args([flag, "postgres"])
            .output()
            .context("run id")?;
        if !out.status.success() {
            bail!("no `postgres` system user: PostgreSQL cannot run as root (install the postgresql package)");
        }
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .context("parse the output of id")
    };
    Ok((id("-u")?, id("-g")?))
}

/// Make a certificate authority and a server certificate it signs (for `127.0.0.1` and
/// `localhost`, valid for two days) in `dir`, with the `openssl` command. Under root the
/// server's key is given to the `postgres` user: PostgreSQL wants its key readable by
/// itself only.
fn make_certificates(dir: &Path, run_as: Option<(u32, u32)>) -> Result<TlsFiles> {
    const CA_CONFIG: &str = "[req]\n\
        distinguished_name = dn\n\
        prompt = no\n\
        x509_extensions = ca\n\
        [dn]\n\
        CN = Lucarne test CA\n\
        [ca]\n\
        basicConstraints = critical, CA:TRUE\n\
        keyUsage = critical, keyCertSign, cRLSign\n\
        subjectKeyIdentifier = hash\n";
    const SERVER_CONFIG: &str = "[req]\n\
        distinguished_name = dn\n\
        prompt = no\n\
        [dn]\n\
        CN = 127.0.0.1\n\
        [server]\n\
        basicConstraints = critical, CA:FALSE\n\
        keyUsage = critical, digitalSignature, keyEncipherment\n\
        extendedKeyUsage = serverAuth\n\
        subjectAltName = IP:127.0.0.1, DNS:localhost\n\
        subjectKeyIdentifier = hash\n\
        authorityKeyIdentifier = keyid\n";

    std::fs::create_dir(dir).with_context(|| format!("create {}", dir.display()))?;
    std::fs::write(dir.join("ca.cnf"), CA_CONFIG).context("write ca.cnf")?;
    std::fs::write(dir.join("server.cnf"), SERVER_CONFIG).context("write server.cnf")?;
    let files = TlsFiles {
        ca: dir.join("ca.crt"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    };
    let openssl = |args: &[&str]| -> Result<()> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .context("run openssl (install the openssl package)")?;
        if !output.status.success() {
            bail!(
                "openssl {} failed ({}): {}",
                args.first().copied().unwrap_or_default(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(())
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        &[
            &["req", "-x509", "-config", "ca.cnf", "-nodes", "-days", "2"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.crt"],
        ]
        .concat(),
    )?;
    openssl(
        &[
            &["req", "-new", "-config", "server.cnf", "-nodes"][..],
            &ec,
            &["-keyout", "server.key", "-out", "server.csr"],
        ]
        .concat(),
    )?;
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "server.cnf",
        "-extensions",
        "server",
        "-out",
        "server.crt",
    ])?;
    if let Some((uid, gid)) = run_as {
        for file in [&files.cert, &files.key] {
            std::os::unix::fs::chown(file, Some(uid), Some(gid))
                .with_context(|| format!("give {} to the postgres user", file.display()))?;
        }
    }
    std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600))
        .context("make the server key private")?;
    Ok(files)
}

fn create_log(path: &Path) -> Result<File> {
    File::options()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("open {}", path.display()))
}

fn read_log(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_creates_databases_and_stops() {
        let pg = PostgresServer::start().expect("start PostgreSQL");
        eprintln!("PostgreSQL started in {:?}", pg.started_in());
        let url = pg.create_database("testkit_one").expect("createdb");
        assert_eq!(url, pg.url("testkit_one"));
        assert!(pg.create_database("Bad-Name").is_err());
        assert!(pg.create_database("testkit_one").is_err(), "already exists");
        let port = pg.port();
        let data = pg.data.clone();
        drop(pg);
        assert!(!data.exists(), "directory removed");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "server stopped"
        );
    }

    #[test]
    fn starts_with_tls() {
        let pg = PostgresServer::start_tls().expect("start PostgreSQL with ssl = on");
        let ca = pg.ca_cert().expect("a CA certificate").to_path_buf();
        let pem = std::fs::read_to_string(&ca).expect("read the CA certificate");
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        pg.create_database("testkit_tls").expect("createdb");
        assert!(PostgresServer::start()
            .expect("start PostgreSQL")
            .ca_cert()
            .is_none());
    }

    #[test]
    fn shared_is_one_server_while_held() {
        let a = PostgresServer::shared().expect("start PostgreSQL");
        let b = PostgresServer::shared().expect("shared");
        assert_eq!(a.port(), b.port());
    }
}
