//! A real SMTP server for tests: PyPI's aiosmtpd (installed by
//! `scripts/install-test-deps.sh`) on a free loopback port, delivering every message into
//! a Maildir in its own temporary directory. The Python process stops when the server is
//! dropped, and by itself when the test process dies (it waits on its standard input).
//!
//! Python is `$LUCARNE_PYTHON` if set, else `python3`; it must import `aiosmtpd`. Missing,
//! it is an error, not a skip.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// Start aiosmtpd's controller with a Maildir handler, say "ready", and serve until
/// standard input closes.
const SERVER: &str = r#"
import sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
c = Controller(Mailbox(sys.argv[2]), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
print("ready", flush=True)
sys.stdin.read()
c.stop()
"#;

/// One running SMTP server.
pub struct SmtpServer {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl SmtpServer {
    /// Start it; returns once it accepts connections.
    pub fn start() -> Result<SmtpServer> {
        let python = std::env::var_os("LUCARNE_PYTHON")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("python3"));
        let dir = tempfile::Builder::new()
            .prefix("lucarne-smtp-")
            .tempdir()
            .context("temporary directory for the SMTP server")?;
        let port = crate::free_port();
        let mut child = Command::new(&python)
            .args(["-c", SERVER, &port.to_string()])
            .arg(dir.path().join("maildir"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawn {} (aiosmtpd)", python.display()))?;
        let Some(out) = child.stdout.take() else {
            bail!("aiosmtpd: no standard output");
        };
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .context("aiosmtpd's first line")?;
        if line.trim() != "ready" {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "aiosmtpd did not start ({}): run scripts/install-test-deps.sh, which \
                 pip-installs it",
                line.trim()
            );
        }
        Ok(SmtpServer {
            child: Some(child),
            port,
            dir,
        })
    }

    /// `smtp://127.0.0.1:PORT` (no TLS, no login), as Lucarne's `--smtp-url`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every message delivered so far, raw (headers and body), oldest first.
    pub fn messages(&self) -> Vec<String> {
        let new = self.dir.path().join("maildir").join("new");
        let mut files: Vec<_> = std::fs::read_dir(&new)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        files.sort_by_key(|p| {
            std::fs::metadata(p)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::SystemTime::UNIX_EPOCH)
        });
        files
            .iter()
            .filter_map(|p| std::fs::read_to_string(p).ok())
            .collect()
    }

    /// Wait until `n` messages have arrived (at most `timeout`); all of them.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Result<Vec<String>> {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.messages();
            if m.len() >= n {
                return Ok(m);
            }
            if Instant::now() > deadline {
                bail!("{} of {n} e-mails after {timeout:?}", m.len());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A message as its reader sees it: quoted-printable soft line breaks joined and `=XX`
/// bytes restored (lettre encodes long plain-text lines that way).
pub fn decoded(raw: &str) -> String {
    let joined = raw.replace("=\r\n", "").replace("=\n", "");
    let b = joined.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'=', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            drop(c.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Speak SMTP by hand to the server: the message lands in the Maildir.
    #[test]
    fn delivers_what_it_receives() {
        let s = SmtpServer::start().unwrap_or_else(|e| panic!("{e:#}"));
        let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut buf = [0u8; 512];
        let mut say = |line: &str| {
            if !line.is_empty() {
                c.write_all(line.as_bytes()).expect("write");
            }
            let n = c.read(&mut buf).expect("read");
            String::from_utf8_lossy(&buf[..n]).to_string()
        };
        assert!(say("").starts_with("220"));
        assert!(say("HELO test\r\n").starts_with("250"));
        assert!(say("MAIL FROM:<a@example.test>\r\n").starts_with("250"));
        assert!(say("RCPT TO:<b@example.test>\r\n").starts_with("250"));
        assert!(say("DATA\r\n").starts_with("354"));
        assert!(say("Subject: hello\r\n\r\nthe body\r\n.\r\n").starts_with("250"));
        let m = s.wait_for(1, Duration::from_secs(10)).expect("delivered");
        assert!(
            m[0].contains("Subject: hello") && m[0].contains("the body"),
            "{}",
            m[0]
        );
    }
}
