//! Test harness shared by the integration tests of the `lucarne` binary.
//!
//! - [`Lucarne`]: a `lucarne serve` child process on a free 127.0.0.1 port, killed on drop.
//! - [`cli`], [`add_site`], [`create_key`]: one-shot CLI commands on a data directory.
//! - [`Browser`] / [`Session`]: headless Chromium driven through chromedriver (fantoccini);
//!   every session is a separate browser process with its own fresh profile.
//! - [`serve_pages`]: a tiny static page server for the pages that embed the tracker.
//! - [`post_event`], [`get_json`]: a tracker event to a node (202 expected), a Bearer GET
//!   of a node's JSON API (200 expected).
//!
//! Everything binds to 127.0.0.1; every wait is bounded.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder};
use tempfile::TempDir;

/// The binary under test.
/// SVG text drawn smaller than 11 CSS px (its font size times its drawing's scale).
pub const SMALL_CHART_TEXT: &str = "return [...document.querySelectorAll('svg text')].map(t => { \
      const svg = t.ownerSVGElement, r = svg.getBoundingClientRect(), vb = svg.viewBox.baseVal; \
      const scale = vb && vb.width ? Math.min(r.width / vb.width, r.height / vb.height) : 1; \
      return [t.textContent, parseFloat(getComputedStyle(t).fontSize) * scale]; \
    }).filter(([, px]) => px < 10.99).slice(0, 10);";
pub const BIN: &str = env!("CARGO_BIN_EXE_lucarne");

/// How long `lucarne serve` and chromedriver get to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local_addr").port()
}

/// Minimal blocking `GET`: the HTTP status code, or `None` if nothing answers (yet).
/// Avoids needing an async runtime (or reqwest's blocking client) to probe readiness.
fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// A running `lucarne serve --listen 127.0.0.1:PORT --data DIR`. Dropping it kills the
/// process (SIGKILL), so nothing outlives the test.
pub struct Lucarne {
    pub addr: SocketAddr,
    pub data: PathBuf,
    /// Extra environment of the process (`LUCARNE_EVENTS`, `LUCARNE_META`, …).
    env: Vec<(String, String)>,
    child: Child,
    /// stdout and stderr of every run of the server (appended across restarts).
    log: PathBuf,
    _log_dir: TempDir,
}

impl Lucarne {
    /// Starts the server on a free port and waits until `GET /api/health` answers 200.
    pub fn start(data_dir: &Path) -> Lucarne {
        Lucarne::start_with_env(data_dir, &[])
    }

    /// [`Lucarne::start`] with extra environment variables (e.g. the back ends).
    pub fn start_with_env(data_dir: &Path, env: &[(&str, &str)]) -> Lucarne {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let log_dir = tempfile::tempdir().expect("temp dir for the server log");
        let log = log_dir.path().join("lucarne.log");
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = spawn_server(addr, data_dir, &log, &env);
        let mut lucarne = Lucarne {
            addr,
            data: data_dir.to_path_buf(),
            env,
            child,
            log,
            _log_dir: log_dir,
        };
        lucarne.wait_healthy();
        lucarne
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server process's id (for /proc readings such as its resident memory).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory now, in bytes (`VmRSS` of /proc/PID/status).
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
            .expect("VmRSS in /proc/PID/status")
    }

    /// Everything the server printed so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server with SIGKILL (no shutdown, no flush): a crash.
    pub fn kill9(&mut self) {
        let _ = self.child.kill(); // fails only if it already exited
        let _ = self.child.wait();
    }

    /// Kills the server (SIGKILL) and starts it again on the same data dir and port.
    pub fn restart(&mut self) {
        self.kill9();
        self.child = spawn_server(self.addr, &self.data, &self.log, &self.env);
        self.wait_healthy();
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; returns its status.
    pub fn terminate(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait on lucarne") {
                return status;
            }
            if Instant::now() > deadline {
                self.kill9();
                panic!(
                    "lucarne did not stop within {timeout:?} of SIGTERM; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts the server again (after `terminate` or `kill9`) on the same data dir and port.
    pub fn start_again(&mut self) {
        self.child = spawn_server(self.addr, &self.data, &self.log, &self.env);
        self.wait_healthy();
    }

    fn wait_healthy(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait on lucarne") {
                panic!(
                    "lucarne serve exited early ({status}) on {}; its output:\n{}",
                    self.addr,
                    self.log()
                );
            }
            if http_status(self.addr, "/api/health") == Some(200) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "lucarne serve on {} not healthy after {READY_TIMEOUT:?}; its output:\n{}",
                    self.addr,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Lucarne {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn spawn_server(addr: SocketAddr, data: &Path, log: &Path, env: &[(String, String)]) -> Child {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .expect("open the server log");
    let err = out.try_clone().expect("clone the server log handle");
    Command::new(BIN)
        .arg("serve")
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data")
        .arg(data)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn lucarne serve")
}

// ---------------------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------------------

/// Runs `lucarne <args> --data DIR` and returns its stdout; panics (with stderr) on failure.
pub fn cli(data: &Path, args: &[&str]) -> String {
    cli_with_env(data, args, &[])
}

/// [`cli`] with extra environment variables (e.g. the back ends).
pub fn cli_with_env(data: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let output = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run lucarne");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "`lucarne {} --data {}` failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        args.join(" "),
        data.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// `lucarne <args> --data DIR`: (success, stdout, stderr), without asserting.
pub fn try_cli(data: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::null())
        .output()
        .expect("run lucarne");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `lucarne user add EMAIL [--owner-of SITE]… --data DIR`, the password on stdin.
pub fn add_user(data: &Path, email: &str, password: &str, owner_of: &[&str]) {
    let mut args = vec!["user", "add", email];
    for s in owner_of {
        args.extend(["--owner-of", s]);
    }
    let mut child = Command::new(BIN)
        .args(&args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run lucarne user add");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{password}\n").as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("wait for lucarne user add");
    assert!(
        out.status.success(),
        "`lucarne user add {email}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A dashboard login over real HTTP: the session cookie and the session's CSRF token.
pub struct WebLogin {
    pub cookie: String,
    pub csrf: String,
}

/// The value of the first `name="csrf" value="…"` field of a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\"")?;
    let rest = &html[at..];
    let v = rest.find("value=\"")? + 7;
    let end = rest[v..].find('"')?;
    Some(rest[v..v + end].to_string())
}

/// The `name=value` of a `Set-Cookie` named `name` in a response.
pub fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|kv| kv.starts_with(&format!("{name}=")))
        .map(str::to_string)
}

/// The login form's pre-session cookie and CSRF token (`GET /login`).
pub async fn login_form(client: &reqwest::Client, node: &Lucarne) -> (String, String) {
    let resp = client
        .get(format!("{}/login", node.url()))
        .send()
        .await
        .expect("GET /login");
    let pre = set_cookie(&resp, "lucarne_pre").expect("the pre-login cookie");
    let html = resp.text().await.expect("login page");
    (pre, csrf_in(&html).expect("a CSRF field on /login"))
}

/// Log in through `/login` (a client that does not follow redirects is expected).
pub async fn web_login(
    client: &reqwest::Client,
    node: &Lucarne,
    email: &str,
    password: &str,
) -> WebLogin {
    let (pre, token) = login_form(client, node).await;
    let resp = client
        .post(format!("{}/login", node.url()))
        .header(reqwest::header::COOKIE, &pre)
        .form(&[
            ("csrf", token.as_str()),
            ("email", email),
            ("password", password),
            ("next", "/"),
        ])
        .send()
        .await
        .expect("POST /login");
    assert_eq!(resp.status().as_u16(), 303, "login of {email}");
    let cookie = set_cookie(&resp, "lucarne_session").expect("a session cookie");
    let page = client
        .get(format!("{}/settings/keys", node.url()))
        .header(reqwest::header::COOKIE, &cookie)
        .send()
        .await
        .expect("GET /settings/keys")
        .text()
        .await
        .expect("keys page");
    let csrf = csrf_in(&page).expect("a CSRF field on /settings/keys");
    WebLogin { cookie, csrf }
}

impl WebLogin {
    /// POST a dashboard form with this session (CSRF added); the response.
    pub async fn post_form(
        &self,
        client: &reqwest::Client,
        node: &Lucarne,
        path: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        form.extend_from_slice(fields);
        client
            .post(format!("{}{path}", node.url()))
            .header(reqwest::header::COOKIE, &self.cookie)
            .form(&form)
            .send()
            .await
            .expect("POST a dashboard form")
    }

    /// Create an API key on the API keys page; the key shown once.
    pub async fn create_key(&self, client: &reqwest::Client, node: &Lucarne) -> String {
        let resp = self
            .post_form(
                client,
                node,
                "/settings/keys",
                &[("action", "create"), ("name", "test")],
            )
            .await;
        let body = resp.text().await.expect("keys page");
        let at = body.find("lk_").expect("the new key on the page");
        body[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    }
}

/// `lucarne site add DOMAIN --data DIR`
pub fn add_site(data: &Path, domain: &str) {
    cli(data, &["site", "add", domain]);
}

/// `lucarne key create --data DIR`; the key is the last line of stdout.
pub fn create_key(data: &Path) -> String {
    let out = cli(data, &["key", "create"]);
    out.lines()
        .map(str::trim)
        .rfind(|line| !line.is_empty())
        .unwrap_or_else(|| panic!("`lucarne key create` printed no key:\n{out}"))
        .to_string()
}

// ---------------------------------------------------------------------------------------
// The browser
// ---------------------------------------------------------------------------------------

/// The user agent of the test browsers. Headless Chromium's own says `HeadlessChrome`,
/// which Lucarne rightly drops as a bot; tests play a person on a desktop Chrome.
pub const DESKTOP_CHROME_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 \
    (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";

/// A chromedriver process. Each [`Session`] it opens is its own headless Chromium with a
/// fresh profile, so sessions are isolated from each other (cache, storage, connections).
/// Dropping it kills chromedriver and every browser it started.
pub struct Browser {
    port: u16,
    child: Child,
}

impl Browser {
    /// Starts chromedriver (`$LUCARNE_CHROMEDRIVER` or /usr/bin/chromedriver) on a free port.
    pub fn start() -> Browser {
        let driver = std::env::var("LUCARNE_CHROMEDRIVER")
            .unwrap_or_else(|_| "/usr/bin/chromedriver".to_string());
        let port = free_port();
        let mut command = Command::new(&driver);
        command
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // Its own process group, so Drop can kill the browsers with it: Chromium outlives
        // a killed chromedriver otherwise.
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().unwrap_or_else(|e| {
            panic!("cannot start {driver} ({e}); run scripts/install-test-deps.sh")
        });
        let mut browser = Browser { port, child };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + READY_TIMEOUT;
        while http_status(addr, "/status") != Some(200) {
            if let Some(status) = browser.child.try_wait().expect("try_wait on chromedriver") {
                panic!("chromedriver exited early ({status})");
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver not ready after {READY_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        browser
    }

    /// Opens a new, isolated browser session (own Chromium process and profile) with a
    /// desktop Chrome user agent ([`DESKTOP_CHROME_UA`]). `*.test` host names resolve to
    /// 127.0.0.1, so pages can be served as `http://example.test:PORT/`.
    pub async fn session(&self) -> Session {
        self.session_with_user_agent(DESKTOP_CHROME_UA).await
    }

    /// [`Browser::session`] with another user agent (a phone, an in-app browser…).
    pub async fn session_with_user_agent(&self, user_agent: &str) -> Session {
        let profile = tempfile::tempdir().expect("temp dir for the Chromium profile");
        let binary =
            std::env::var("LUCARNE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string());
        let args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".to_string(),
            "--disable-gpu".to_string(),
            "--disable-dev-shm-usage".to_string(),
            "--disable-quic".to_string(),
            "--no-first-run".to_string(),
            "--disable-background-networking".to_string(),
            "--disable-component-update".to_string(),
            "--disable-sync".to_string(),
            format!("--user-data-dir={}", profile.path().display()),
            "--host-resolver-rules=MAP *.test 127.0.0.1".to_string(),
            format!("--user-agent={user_agent}"),
        ];
        let capabilities = serde_json::json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "script": 10_000, "pageLoad": 20_000, "implicit": 0 },
            "goog:chromeOptions": { "binary": binary, "args": args },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("capabilities are a JSON object literal")
        };
        // chromedriver is on loopback: plain HTTP, no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("open a chromedriver session (is /usr/bin/chromium installed?)");
        Session {
            client,
            _profile: profile,
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        #[cfg(unix)]
        {
            // The group id is chromedriver's pid (process_group(0) above).
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", self.child.id())])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session. Derefs to the fantoccini [`Client`].
pub struct Session {
    pub client: Client,
    _profile: TempDir,
}

impl std::ops::Deref for Session {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl Session {
    /// Quits the browser of this session (the profile directory is removed on drop).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// Clicks the element whose id is `id` (it must be there).
    pub async fn click_id(&self, id: &str) {
        self.client
            .find(fantoccini::Locator::Id(id))
            .await
            .unwrap_or_else(|e| panic!("no element #{id}: {e}"))
            .click()
            .await
            .unwrap_or_else(|e| panic!("click #{id}: {e}"));
    }

    /// Runs `script` (a function body: use `return`) and returns its value.
    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client
            .execute(script, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// On the login form this session was sent to: waits for it (up to `timeout`),
    /// types `email` and `password` and submits.
    pub async fn log_in(&self, email: &str, password: &str, timeout: Duration) {
        self.wait_js(
            "document.querySelector('input[name=email]')",
            timeout,
            "the login form",
        )
        .await;
        for (field, value) in [("email", email), ("password", password)] {
            self.client
                .find(fantoccini::Locator::Css(&format!("input[name={field}]")))
                .await
                .unwrap_or_else(|e| panic!("no {field} field: {e}"))
                .send_keys(value)
                .await
                .expect("type");
        }
        self.client
            .find(fantoccini::Locator::Css(
                "form[action='/login'] button[type=submit], form[action='/login'] input[type=submit]",
            ))
            .await
            .expect("submit")
            .click()
            .await
            .expect("click");
    }

    /// Polls `condition` (a JavaScript expression) until it is truthy; panics after
    /// `timeout` with `what` in the message.
    pub async fn wait_js(&self, condition: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        let script = format!("return !!({condition});");
        loop {
            if self.client.execute(&script, Vec::new()).await.ok() == Some(true.into()) {
                return;
            }
            if Instant::now() > deadline {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let shot = self.screenshot("wait-timeout").await;
                panic!(
                    "timed out after {timeout:?} waiting for {what} (`{condition}`) on {url:?}; \
                     screenshot: {}",
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves a PNG screenshot as `<artifacts>/<name>.png` and returns its path.
    /// The directory is `$LUCARNE_ARTIFACTS`, or `artifacts/` at the workspace root.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = artifacts_dir();
        let path = dir.join(format!("{name}.png"));
        match self.client.screenshot().await {
            Ok(png) => std::fs::write(&path, png)
                .unwrap_or_else(|e| panic!("write {}: {e}", path.display())),
            Err(e) => eprintln!("screenshot {name} failed: {e}"),
        }
        path
    }
}

/// `$LUCARNE_ARTIFACTS`, or `<workspace>/artifacts/`; created if missing.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("LUCARNE_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../artifacts")
                .to_path_buf()
        });
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

// ---------------------------------------------------------------------------------------
// Static pages
// ---------------------------------------------------------------------------------------

/// Serves `pages` (path, HTML) on 127.0.0.1 in a background task of the current Tokio
/// runtime and returns the address. Must be called from within a runtime.
///
/// - Host names are ignored, so one server can play several sites (`blog.test`,
///   `example.test`, … all resolve to 127.0.0.1 in [`Browser`] sessions).
/// - A path ending in `/*` (e.g. `/app/*`) is an SPA prefix: any unknown path under it
///   returns that page, as an SPA server returns its index page.
/// - `{{PORT}}` in a page is replaced by this server's port (for absolute links between
///   the test sites).
pub fn serve_pages(pages: Vec<(&'static str, String)>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the page server");
    let addr = listener.local_addr().expect("page server address");
    listener
        .set_nonblocking(true)
        .expect("non-blocking page server socket");
    let listener =
        tokio::net::TcpListener::from_std(listener).expect("page server inside a Tokio runtime");
    let port = addr.port().to_string();
    let pages: Arc<Vec<(&'static str, String)>> = Arc::new(
        pages
            .into_iter()
            .map(|(path, html)| (path, html.replace("{{PORT}}", &port)))
            .collect(),
    );
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let pages = Arc::clone(&pages);
        async move { page_for(&pages, uri.path()) }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

fn page_for(
    pages: &[(&'static str, String)],
    path: &str,
) -> (
    axum::http::StatusCode,
    [(axum::http::header::HeaderName, &'static str); 2],
    String,
) {
    use axum::http::{header, StatusCode};
    let headers = [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    let exact = pages.iter().find(|(p, _)| *p == path);
    // Longest SPA prefix that contains the path.
    let spa = || {
        pages
            .iter()
            .filter_map(|(p, html)| {
                let prefix = p.strip_suffix('*')?;
                path.starts_with(prefix).then_some((prefix.len(), html))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, html)| html)
    };
    match exact.map(|(_, html)| html).or_else(spa) {
        Some(html) => (StatusCode::OK, headers, html.clone()),
        None => (
            StatusCode::NOT_FOUND,
            headers,
            format!("no test page at {path}"),
        ),
    }
}

/// A desktop Chrome user agent for events sent straight to a node.
pub const WINDOWS_CHROME_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

/// POST a tracker event to `node` as a proxy would forward it for `ip`; it must be
/// acknowledged (202).
pub async fn post_event(
    client: &reqwest::Client,
    node: &Lucarne,
    ip: &str,
    body: serde_json::Value,
) {
    let resp = client
        .post(format!("{}/api/event", node.url()))
        .header("user-agent", WINDOWS_CHROME_UA)
        .header("x-forwarded-for", ip)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .expect("send event");
    let status = resp.status().as_u16();
    assert_eq!(status, 202, "{body}: {}", node.log());
}

/// GET `path` from `node` with the API key `key`; it must answer 200 with JSON.
pub async fn get_json(
    client: &reqwest::Client,
    node: &Lucarne,
    key: &str,
    path: &str,
) -> serde_json::Value {
    let resp = client
        .get(format!("{}{path}", node.url()))
        .bearer_auth(key)
        .send()
        .await
        .expect("GET");
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{path}: {body}\n{}", node.log());
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// How long the browser tests wait for an event to show in the stats API.
pub const API_WAIT: Duration = Duration::from_secs(10);

/// Both stats APIs of one site on a running node, with a key: v1's GET endpoints and
/// v2's `POST /api/v2/query`, each answer required to be 200.
pub struct QueryApi {
    pub http: reqwest::Client,
    pub base: String,
    pub key: String,
    pub site: &'static str,
}

impl QueryApi {
    pub fn new(node: &Lucarne, key: String, site: &'static str) -> QueryApi {
        QueryApi {
            http: reqwest::Client::new(),
            base: node.url(),
            key,
            site,
        }
    }

    /// `GET /api/v1/stats/{path}?site_id=SITE&{query}`.
    pub async fn v1(&self, path: &str, query: &str) -> serde_json::Value {
        let url = format!(
            "{}/api/v1/stats/{path}?site_id={}&{query}",
            self.base, self.site
        );
        let r = self
            .http
            .get(&url)
            .bearer_auth(&self.key)
            .send()
            .await
            .expect("v1");
        assert_eq!(r.status(), 200, "{url}");
        r.json().await.expect("v1 JSON")
    }

    /// `POST /api/v2/query` with `site_id` set to the site.
    pub async fn v2(&self, mut q: serde_json::Value) -> serde_json::Value {
        q["site_id"] = serde_json::json!(self.site);
        let r = self
            .http
            .post(format!("{}/api/v2/query", self.base))
            .bearer_auth(&self.key)
            .json(&q)
            .send()
            .await
            .expect("v2");
        let status = r.status();
        let body: serde_json::Value = r.json().await.expect("v2 JSON");
        assert_eq!(status, 200, "{q}: {body}");
        body
    }
}

/// A v2 answer's rows as `dimension values → metric values`.
pub fn v2_rows(
    v: &serde_json::Value,
) -> std::collections::BTreeMap<Vec<String>, Vec<serde_json::Value>> {
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            let d = r["dimensions"]
                .as_array()
                .expect("dimensions")
                .iter()
                .map(|x| x.as_str().expect("text").to_string())
                .collect();
            (d, r["metrics"].as_array().expect("metrics").clone())
        })
        .collect()
}

/// The JSON APIs of one running node, read with a stats key, for the tests that drive a
/// real browser and then check what the server counted.
pub struct StatsApi<'a> {
    pub http: reqwest::Client,
    pub lucarne: &'a Lucarne,
    pub key: String,
    /// The site the reports ask about.
    pub site: &'a str,
}

impl<'a> StatsApi<'a> {
    pub fn new(lucarne: &'a Lucarne, key: String) -> StatsApi<'a> {
        StatsApi {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .expect("reqwest client"),
            lucarne,
            key,
            site: "example.test",
        }
    }

    /// `GET path?query` with the key: (status, JSON body).
    pub async fn get(&self, path: &str, query: &[(&str, &str)]) -> (u16, serde_json::Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.lucarne.url()))
            .query(query)
            .bearer_auth(&self.key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status().as_u16();
        let body = response.text().await.expect("response body");
        let json = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("GET {path} {query:?} -> {status}, not JSON ({e}): {body}"));
        (status, json)
    }

    /// `GET path?query`, which must answer 200.
    pub async fn get_ok(&self, path: &str, query: &[(&str, &str)]) -> serde_json::Value {
        let (status, json) = self.get(path, query).await;
        assert_eq!(
            status,
            200,
            "GET {path} {query:?}: {json}\n{}",
            self.diagnostics().await
        );
        json
    }

    /// `POST path` with a JSON body and the key: (status, JSON body, had Set-Cookie).
    pub async fn post(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value, bool) {
        let response = self
            .http
            .post(format!("{}{path}", self.lucarne.url()))
            .bearer_auth(&self.key)
            .json(body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        let cookie = response.headers().contains_key(reqwest::header::SET_COOKIE);
        let text = response.text().await.expect("response body");
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("POST {path} -> {status}, not JSON ({e}): {text}"));
        (status, json, cookie)
    }

    /// Polls `GET path?query` until `done` holds, for up to [`API_WAIT`]; returns the
    /// last answer.
    pub async fn wait(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + API_WAIT;
        loop {
            let json = self.get_ok(path, query).await;
            if done(&json) {
                return json;
            }
            if Instant::now() > deadline {
                panic!(
                    "waited {API_WAIT:?} for {what}; last {path} {query:?}:\n{json:#}\n{}",
                    self.diagnostics().await
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The `results` rows of today's breakdown of `property` with `filters` (may be empty).
    pub async fn breakdown(
        &self,
        property: &str,
        metrics: &str,
        filters: &str,
    ) -> Vec<serde_json::Value> {
        let json = self
            .get_ok(
                "/api/v1/stats/breakdown",
                &[
                    ("site_id", self.site),
                    ("period", "day"),
                    ("property", property),
                    ("metrics", metrics),
                    ("filters", filters),
                ],
            )
            .await;
        json["results"]
            .as_array()
            .unwrap_or_else(|| panic!("breakdown {property}: no results array: {json}"))
            .clone()
    }

    /// `(value, metric)` of today's breakdown, the value as text, sorted.
    pub async fn table(&self, property: &str, metric: &str, filters: &str) -> Vec<(String, u64)> {
        // The result key: `page` for event:page, `plan` for event:props:plan.
        let key = property.rsplit(':').next().unwrap_or(property);
        let mut rows: Vec<(String, u64)> = self
            .breakdown(property, metric, filters)
            .await
            .iter()
            .map(|row| {
                let n = row[metric]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{metric} is not a count in {row}"));
                (text(&row[key]), n)
            })
            .collect();
        rows.sort();
        rows
    }

    /// The `metric` of the row whose value is `value`; 0 when there is no such row.
    pub async fn count(&self, property: &str, metric: &str, value: &str, filters: &str) -> u64 {
        self.table(property, metric, filters)
            .await
            .into_iter()
            .find(|(v, _)| v == value)
            .map_or(0, |(_, n)| n)
    }

    /// Polls until the count is `expected`, for up to [`API_WAIT`].
    pub async fn wait_count(&self, property: &str, metric: &str, value: &str, expected: u64) {
        let deadline = Instant::now() + API_WAIT;
        loop {
            let got = self.count(property, metric, value, "").await;
            if got == expected {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{property} = {value:?}: {metric} is {got}, expected {expected} after \
                     {API_WAIT:?}; breakdown: {:?}\n{}",
                    self.table(property, metric, "").await,
                    self.diagnostics().await
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The drop counters of `/metrics` and the server's output, for failure messages.
    pub async fn diagnostics(&self) -> String {
        let metrics = match self
            .http
            .get(format!("{}/metrics", self.lucarne.url()))
            .send()
            .await
        {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(e) => format!("GET /metrics: {e}"),
        };
        let drops: Vec<&str> = metrics
            .lines()
            .filter(|line| line.contains("dropped") && !line.starts_with('#'))
            .collect();
        format!(
            "drops in /metrics:\n{}\nserver output:\n{}",
            drops.join("\n"),
            self.lucarne.log()
        )
    }
}

/// A JSON value as the tests compare it: a string's text, anything else as JSON.
pub fn text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Engagement as a reader makes it (issue 21): on the page `first` (tall, with a link
/// `#spa` that moves the app to `next`), scroll half-way down, stay past the 3 s the
/// trackers wait for, follow the link; then `first`'s scroll depth in the stats API must
/// be the depth the browser reached, and its time on page 3 to 30 s.
pub async fn read_half_then_move_on(
    session: &Session,
    stats: &StatsApi<'_>,
    first: &str,
    next: &str,
) {
    let depth = session
        .js(
            "window.scrollTo(0, (document.documentElement.scrollHeight - innerHeight) / 2);\
             return Math.round((scrollY + innerHeight) / document.documentElement.scrollHeight * 100);",
        )
        .await
        .as_u64()
        .expect("the scroll depth reached");
    assert!((30..=70).contains(&depth), "scrolled to {depth} %");
    tokio::time::sleep(Duration::from_millis(3_300)).await;
    session.click_id("spa").await;
    stats.wait_count("event:page", "pageviews", next, 1).await;
    let v = stats
        .wait(
            "/api/v1/stats/breakdown",
            &[
                ("site_id", stats.site),
                ("period", "day"),
                ("property", "event:page"),
                ("metrics", "visitors,scroll_depth,time_on_page"),
            ],
            "the first page's engagement",
            |v| {
                v["results"].as_array().is_some_and(|rows| {
                    rows.iter()
                        .any(|r| r["page"] == first && !r["scroll_depth"].is_null())
                })
            },
        )
        .await;
    let row = v["results"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["page"] == first))
        .cloned()
        .unwrap_or(serde_json::Value::Null);
    assert_eq!(row["scroll_depth"], depth, "{v}");
    let seconds = row["time_on_page"].as_u64().unwrap_or(0);
    assert!((3..=30).contains(&seconds), "time on page {seconds}: {v}");
}
