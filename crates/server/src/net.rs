//! The connection layer: accepting TCP connections and serving HTTP/1.1 on them, with the
//! limits an open-internet server needs (`axum::serve` has none of them).
//!
//! - **Header read timeout**: a connection has this long, from its accept, to send a
//!   complete request head; on a kept-alive connection, from the first byte of the next
//!   request. A client that sends half a request line and stalls, or trickles a header a
//!   byte at a time (slowloris), is closed.
//! - **Idle timeout**: a kept-alive connection with no request in progress is closed
//!   after this long.
//! - **Body timeout**: the whole request body must arrive within this long of its head;
//!   the request is then answered `408` and the connection closed.
//! - **Connection cap**: at most this many connections are open; at the cap, Lucarne
//!   stops accepting until one closes (see [`ConnLimits::max_connections`]).
//!
//! On shutdown the listener is closed, idle connections are closed, in-flight requests
//! finish (their connections then close), and whatever is still open after
//! [`DRAIN_TIMEOUT`] is dropped.
//!
//! How the two head timeouts are told apart: hyper has one timer, `header_read_timeout`,
//! armed whenever it starts reading a request head, i.e. from the accept for the first
//! request and from the end of the previous response on a kept-alive connection. Lucarne
//! gives hyper its own [`hyper::rt::Timer`] ([`HeadTimer`]) whose sleeps read a
//! per-connection byte counter kept by the socket wrapper ([`CountingIo`]): on a kept-alive
//! connection the sleep waits for the idle timeout while no byte of the next request has
//! arrived, then for the header timeout from the first byte.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::{BoxError, Router};
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::error::ApiError;
use crate::metrics::CloseLabels;

/// How long shutdown waits for open connections (in-flight requests) before dropping
/// them. Below the 10 s a container runtime usually gives between SIGTERM and SIGKILL
/// (`docker stop`), so the events writer still gets its final commit after the drain.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// File descriptors kept out of the connection budget: the stores (DuckDB, the spool
/// segments, SQLite), the GeoIP database, the listener, logs.
const RESERVED_FDS: usize = 256;

/// The limits of the connection layer. The defaults suit a server on the open internet
/// behind nothing (or behind a proxy that has its own limits):
///
/// - `header_read_timeout` **10 s**: a browser or a tracker sends its request head in one
///   packet, milliseconds after connecting; 10 s leaves room for a very slow mobile link
///   and a TLS-terminating proxy, and makes a stalled socket cost 10 s instead of
///   forever. (nginx's `client_header_timeout` is 60 s, Go's servers have no default;
///   both are tuned down to 5–20 s on exposed servers.)
/// - `idle_timeout` **60 s**: browsers keep a connection to an origin open for a while
///   and reuse it for the next pageview's event (Chromium holds idle sockets for up to
///   5 min, Firefox 115 s); 60 s keeps most of that reuse while bounding what idle
///   clients hold (nginx's `keepalive_timeout` is 75 s, Caddy's idle timeout 5 min).
/// - `body_timeout` **30 s** for the *whole* body: Lucarne's bodies are small (an event is
///   under 2 KB, imports and forms a few KB), so 30 s is generous for any real client,
///   while a client that declares a body and sends it a byte at a time is cut off.
/// - `max_connections` **10,000**: far above what one Lucarne node serves (a tracker hit
///   is one short request), low enough that at the cap the connections hold about
///   200 MB (hyper's buffers and a task, ~20 KB each) and 10,000 file descriptors. The
///   number in force is also capped by the process's file limit (raised to its hard
///   limit at start, minus 256 kept for the stores): a cap above it would make `accept`
///   fail with EMFILE instead of waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// From accept (or from the first byte of a later request) to the end of the head.
    pub header_read_timeout: Duration,
    /// Keep-alive: from the end of a response to the first byte of the next request.
    pub idle_timeout: Duration,
    /// From the end of the head to the end of the body.
    pub body_timeout: Duration,
    /// Open connections at most. At the cap Lucarne stops accepting until one closes:
    /// new connections wait in the kernel's listen queue, as with HAProxy's `maxconn` and
    /// Go's `netutil.LimitListener` (nginx also stops accepting when its
    /// `worker_connections` run low, and closes what it accepts with none left). A
    /// waiting client is served as soon as a slot frees, instead of being reset; when the
    /// listen queue is full too (1,024 connections as `lucarne serve` binds it, or
    /// `net.core.somaxconn` if lower), the kernel drops its SYNs and the client retries.
    pub max_connections: usize,
}

impl ConnLimits {
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
    pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
    pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            body_timeout: Self::DEFAULT_BODY_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// Connection metrics (clones of the registered ones; `Default` gives unregistered ones).
#[derive(Clone, Default)]
pub struct ConnMetrics {
    /// Connections open now.
    pub open: Gauge,
    /// Connections closed by a limit, by `reason`: `header_timeout`, `idle_timeout`,
    /// `body_timeout`, `write_timeout`, `shutdown`.
    pub closed: Family<CloseLabels, Counter>,
}

impl ConnMetrics {
    fn closed(&self, reason: &'static str) {
        self.closed.get_or_create(&CloseLabels { reason }).inc();
    }
}

/// Raises the soft limit on open files to the hard limit (a server holds one descriptor
/// per connection; distributions often start services with a soft limit of 1,024).
/// Returns the soft limit in force afterwards, or `None` if it cannot be read.
#[cfg(unix)]
pub fn raise_nofile_limit() -> Option<usize> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given, which lives on this stack.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct it is given. It can fail (e.g. an
        // unlimited hard limit on macOS); the old limit then stays.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = lim.rlim_max;
        }
    }
    Some(usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX))
}

#[cfg(not(unix))]
pub fn raise_nofile_limit() -> Option<usize> {
    None
}

/// The connection cap in force: the configured one, lowered to what the file limit
/// allows, and never above what a semaphore (and `acquire_many`) can count.
fn effective_max_connections(configured: usize, nofile: Option<usize>) -> usize {
    let mut max = configured.clamp(1, u32::MAX as usize);
    if let Some(nofile) = nofile {
        let budget = nofile.saturating_sub(RESERVED_FDS).max(nofile / 2).max(1);
        if budget < max {
            warn!(
                message =
                    "The connection cap is above what the open-file limit allows; lowering it.",
                configured,
                nofile,
                max_connections = budget
            );
            max = budget;
        }
    }
    max
}

/// Where shutdown stands, told to every connection task.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Running,
    /// Finish in-flight requests, close idle connections.
    Draining,
    /// The drain took too long: drop the connection now.
    Abort,
}

/// Serves `router` on `listener` until `shutdown` completes, then drains (see the module
/// documentation). Handlers can extract `ConnectInfo<SocketAddr>`, the peer address.
pub async fn serve<F>(
    listener: TcpListener,
    router: Router,
    limits: ConnLimits,
    metrics: ConnMetrics,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send,
{
    let nofile = raise_nofile_limit();
    let max = effective_max_connections(limits.max_connections, nofile);
    let limits = ConnLimits {
        max_connections: max,
        ..limits
    };
    info!(
        message = "Connection limits.",
        header_timeout_secs = limits.header_read_timeout.as_secs_f64(),
        idle_timeout_secs = limits.idle_timeout.as_secs_f64(),
        body_timeout_secs = limits.body_timeout.as_secs_f64(),
        max_connections = max,
        nofile = nofile.unwrap_or_default(),
    );
    let slots = Arc::new(Semaphore::new(max));
    let (phase_tx, phase_rx) = watch::channel(Phase::Running);
    tokio::pin!(shutdown);
    let mut saturated = false;
    loop {
        // A slot first, then the connection: at the cap, connections wait in the
        // kernel's listen queue.
        let permit = match slots.clone().try_acquire_owned() {
            Ok(p) => {
                saturated = false;
                p
            }
            Err(_) => {
                if !saturated {
                    saturated = true;
                    warn!(
                        message = "At the connection cap: not accepting until a connection closes.",
                        max_connections = max
                    );
                }
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break, // never closed
                    },
                }
            }
        };
        let (stream, peer) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // EMFILE, ENFILE, ENOMEM…: wait instead of spinning.
                    warn!(message = "Accepting a connection failed; retrying in 1 s.", error = %e);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let conn = Conn {
            router: router.clone(),
            limits,
            metrics: metrics.clone(),
            phase: phase_rx.clone(),
        };
        let open = metrics.open.clone();
        tokio::spawn(async move {
            open.inc();
            conn.run(stream, peer).await;
            open.dec();
            drop(permit);
        });
    }
    drop(listener);
    info!(message = "Shutting down: no new connections; draining open ones.");
    let _ = phase_tx.send(Phase::Draining);
    // Every slot back means every connection is closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(all))
        .await
        .is_err()
    {
        let open = max.saturating_sub(slots.available_permits());
        warn!(
            message = "Connections still open after the drain time; closing them.",
            open,
            drain_secs = DRAIN_TIMEOUT.as_secs()
        );
        let _ = phase_tx.send(Phase::Abort);
        let _ = tokio::time::timeout(Duration::from_secs(1), slots.acquire_many(all)).await;
    }
    Ok(())
}

/// Errors of one connection that `accept` reports; the listener itself is fine.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One connection's task.
struct Conn {
    router: Router,
    limits: ConnLimits,
    metrics: ConnMetrics,
    phase: watch::Receiver<Phase>,
}

impl Conn {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr) {
        let clock = Arc::new(ConnClock::new(self.limits));
        let io = TokioIo::new(CountingIo {
            inner: stream,
            clock: clock.clone(),
            write_timeout: self.limits.body_timeout,
            write_stall: None,
            metrics: self.metrics.clone(),
        });
        let router = self.router.clone();
        let body_timeout = self.limits.body_timeout;
        let metrics = self.metrics.clone();
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            handle(router.clone(), req, peer, body_timeout, metrics.clone())
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(HeadTimer {
                clock: clock.clone(),
            })
            .header_read_timeout(self.limits.header_read_timeout)
            .keep_alive(true);
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut draining = false;
        let result = loop {
            // A connection accepted just before shutdown sees the phase at once.
            let phase = *self.phase.borrow_and_update();
            match phase {
                Phase::Abort => {
                    self.metrics.closed("shutdown");
                    debug!(message = "Connection closed: shutdown drain time is over.");
                    return;
                }
                Phase::Draining if !draining => {
                    draining = true;
                    conn.as_mut().graceful_shutdown();
                }
                _ => {}
            }
            tokio::select! {
                result = conn.as_mut() => break result,
                changed = self.phase.changed() => {
                    if changed.is_err() {
                        // serve() is gone: the process is stopping.
                        return;
                    }
                }
            }
        };
        match result {
            Ok(()) => {}
            Err(e) if e.is_timeout() => {
                let reason = clock.expired();
                self.metrics.closed(reason);
                debug!(
                    message = "Connection closed: no complete request in time.",
                    reason
                );
            }
            Err(e) => debug!(message = "Connection ended with an error.", error = %e),
        }
    }
}

/// One request: the peer address as `ConnectInfo`, the body under its deadline, and a
/// `408` (connection closed) if that deadline passed while the handler read it.
async fn handle(
    router: Router,
    req: Request<Incoming>,
    peer: SocketAddr,
    body_timeout: Duration,
    metrics: ConnMetrics,
) -> Result<Response<Body>, Infallible> {
    let timed_out = Arc::new(AtomicBool::new(false));
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(ConnectInfo(peer));
    let body = Body::new(DeadlineBody {
        inner: body,
        deadline: Instant::now() + body_timeout,
        sleep: None,
        timed_out: timed_out.clone(),
    });
    let response = router.oneshot(Request::from_parts(parts, body)).await?;
    if timed_out.load(Ordering::Relaxed) {
        metrics.closed("body_timeout");
        debug!(message = "Request body not received in time; answering 408 and closing.");
        let mut response = ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            format!(
                "the request body did not arrive within {} s",
                body_timeout.as_secs()
            ),
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(response);
    }
    Ok(response)
}

/// A request body that fails once its deadline has passed.
struct DeadlineBody {
    inner: Incoming,
    deadline: Instant,
    /// Made on the first poll (most requests have no body to read).
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

#[derive(Debug)]
struct BodyTimeout;

impl std::fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body timeout")
    }
}

impl std::error::Error for BodyTimeout {}

/// Did reading a body fail because its deadline passed (rather than, say, its size)?
pub fn is_body_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<BodyTimeout>() {
            return true;
        }
        cur = err.source();
    }
    false
}

impl hyper::body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        if sleep.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Relaxed);
            return Poll::Ready(Some(Err(BodyTimeout.into())));
        }
        Pin::new(&mut this.inner)
            .poll_frame(cx)
            .map(|frame| frame.map(|r| r.map_err(BoxError::from)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

// ---------------------------------------------------------------------------------------
// The head timer
// ---------------------------------------------------------------------------------------

const EXPIRED_NONE: u8 = 0;
const EXPIRED_HEADER: u8 = 1;
const EXPIRED_IDLE: u8 = 2;

/// Per connection: what the head timer needs to tell idle from slow.
struct ConnClock {
    header: Duration,
    idle: Duration,
    /// Bytes read from the socket so far.
    bytes_read: AtomicU64,
    /// Request heads waited for so far.
    heads: AtomicU64,
    /// Which wait ran out (`EXPIRED_*`).
    expired: AtomicU8,
}

impl ConnClock {
    fn new(limits: ConnLimits) -> Self {
        ConnClock {
            header: limits.header_read_timeout,
            idle: limits.idle_timeout,
            bytes_read: AtomicU64::new(0),
            heads: AtomicU64::new(0),
            expired: AtomicU8::new(EXPIRED_NONE),
        }
    }

    /// The reason for closing after hyper's head timer fired.
    fn expired(&self) -> &'static str {
        match self.expired.load(Ordering::Relaxed) {
            EXPIRED_IDLE => "idle_timeout",
            _ => "header_timeout",
        }
    }
}

/// hyper's timer for one connection (hyper's HTTP/1 server uses it only for the head).
#[derive(Clone)]
struct HeadTimer {
    clock: Arc<ConnClock>,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(HeadSleep {
            clock: self.clock.clone(),
            waiting_idle: false,
            bytes_at_arm: 0,
            sleep: Box::pin(tokio::time::sleep(duration)),
        })
    }

    /// hyper asks for `now + header_read_timeout` each time it starts reading a head; the
    /// wait is measured here from the same moment, on Tokio's clock: the first head gets
    /// the header timeout (from the accept), a later one the idle timeout until its first
    /// byte arrives.
    fn sleep_until(&self, _deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let first = self.clock.heads.fetch_add(1, Ordering::Relaxed) == 0;
        let wait = if first {
            self.clock.header
        } else {
            self.clock.idle
        };
        Box::pin(HeadSleep {
            clock: self.clock.clone(),
            waiting_idle: !first,
            bytes_at_arm: self.clock.bytes_read.load(Ordering::Relaxed),
            sleep: Box::pin(tokio::time::sleep(wait)),
        })
    }
}

/// The wait for one request head.
struct HeadSleep {
    clock: Arc<ConnClock>,
    /// Still waiting for the first byte of a request on a kept-alive connection.
    waiting_idle: bool,
    bytes_at_arm: u64,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl hyper::rt::Sleep for HeadSleep {}

impl Future for HeadSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        // hyper polls this after every read that left the head incomplete, so the first
        // byte is noticed as it arrives.
        if this.waiting_idle && this.clock.bytes_read.load(Ordering::Relaxed) != this.bytes_at_arm {
            this.waiting_idle = false;
            let deadline = tokio::time::Instant::now() + this.clock.header;
            this.sleep.as_mut().reset(deadline);
        }
        match this.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                let expired = if this.waiting_idle {
                    EXPIRED_IDLE
                } else {
                    EXPIRED_HEADER
                };
                this.clock.expired.store(expired, Ordering::Relaxed);
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// The socket, counting the bytes read for [`HeadSleep`], and failing a write the
/// client has not taken for `write_timeout` (a client that never reads its responses
/// must not hold its connection slot forever; the body timeout's length is used).
struct CountingIo {
    inner: TcpStream,
    clock: Arc<ConnClock>,
    write_timeout: Duration,
    /// Set while a write waits on the client; cleared when bytes go out.
    write_stall: Option<Pin<Box<tokio::time::Sleep>>>,
    metrics: ConnMetrics,
}

impl CountingIo {
    /// `inner`'s write, with the stall deadline around it.
    fn stall_guard<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match polled {
            Poll::Pending => {
                let timeout = self.write_timeout;
                let stall = self
                    .write_stall
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                if stall.as_mut().poll(cx).is_ready() {
                    self.write_stall = None;
                    self.metrics.closed("write_timeout");
                    debug!(message = "Client took no response bytes in time; closing.");
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "response write stalled",
                    )));
                }
                Poll::Pending
            }
            ready => {
                self.write_stall = None;
                ready
            }
        }
    }
}

impl AsyncRead for CountingIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            this.clock
                .bytes_read
                .fetch_add(read as u64, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for CountingIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.stall_guard(cx, polled)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.stall_guard(cx, polled)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.stall_guard(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_follows_the_file_limit() {
        assert_eq!(effective_max_connections(10_000, Some(1_048_576)), 10_000);
        assert_eq!(effective_max_connections(10_000, Some(1_024)), 768);
        assert_eq!(effective_max_connections(10_000, Some(300)), 150);
        assert_eq!(effective_max_connections(10_000, None), 10_000);
        assert_eq!(effective_max_connections(0, None), 1);
    }

    /// Idle until the first byte of the next request, then the header timeout.
    #[tokio::test]
    async fn head_timer_tells_idle_from_slow() {
        use hyper::rt::Timer;
        let ms = Duration::from_millis;
        let limits = ConnLimits {
            header_read_timeout: ms(200),
            idle_timeout: ms(1000),
            ..ConnLimits::default()
        };
        let clock = Arc::new(ConnClock::new(limits));
        let timer = HeadTimer {
            clock: clock.clone(),
        };
        let deadline = || Instant::now() + limits.header_read_timeout;
        // Timers fire at their deadline or a little later (a busy machine).
        let near = |elapsed: Duration, want: Duration| {
            assert!(
                elapsed >= want && elapsed < want + ms(300),
                "{elapsed:?} instead of {want:?}"
            );
        };
        // First head: the header timeout from the accept.
        let start = Instant::now();
        timer.sleep_until(deadline()).await;
        near(start.elapsed(), ms(200));
        assert_eq!(clock.expired(), "header_timeout");
        // Second head, nothing arrives: the idle timeout.
        let start = Instant::now();
        timer.sleep_until(deadline()).await;
        near(start.elapsed(), ms(1000));
        assert_eq!(clock.expired(), "idle_timeout");
        // Third head, a byte after 300 ms: the header timeout from that byte.
        let start = Instant::now();
        let mut sleep = timer.sleep_until(deadline());
        assert!(futures::poll!(sleep.as_mut()).is_pending());
        tokio::time::sleep(ms(300)).await;
        clock.bytes_read.fetch_add(1, Ordering::Relaxed);
        assert!(futures::poll!(sleep.as_mut()).is_pending());
        sleep.await;
        near(start.elapsed(), ms(500));
        assert_eq!(clock.expired(), "header_timeout");
    }
}
