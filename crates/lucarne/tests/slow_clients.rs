//! Slow and stalled clients against the real server (issue 17, "Safe on the open
//! internet"): the connection limits of `lucarne_server::net` hold.
//!
//! - 1,000 sockets that send half a request line and stall do not keep `/api/health`
//!   from answering, and are all closed after the header timeout.
//! - A slowloris (a header byte every 500 ms) is closed at the header timeout.
//! - A body that stops after 10 of its 1,000 bytes is answered 408 at the body timeout.
//! - An idle kept-alive connection outlives the header timeout and is closed at the idle
//!   timeout.
//! - At the connection cap (50), the 51st connection waits in the listen queue until a
//!   stalled one times out; a request queued behind 100 stalled sockets is served once
//!   the two waves ahead of it have timed out.
//!
//! Every socket is on 127.0.0.1; every wait is bounded.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use support::Lucarne;

const HEADER_SECS: u64 = 2;
const IDLE_SECS: u64 = 4;
const BODY_SECS: u64 = 2;
/// The header timeout of the 1,000-socket test: long enough for all of them to be open
/// at once (opening them takes a few seconds on a small machine).
const STALLED_HEADER_SECS: u64 = 8;
/// Slack for timers and scheduling on a busy machine.
const MARGIN: Duration = Duration::from_millis(1500);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn start(extra: &[(&str, &str)]) -> (Lucarne, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp data dir");
    let header = HEADER_SECS.to_string();
    let idle = IDLE_SECS.to_string();
    let body = BODY_SECS.to_string();
    let mut env = vec![
        ("LUCARNE_HEADER_TIMEOUT_SECS", header.as_str()),
        ("LUCARNE_IDLE_TIMEOUT_SECS", idle.as_str()),
        ("LUCARNE_BODY_TIMEOUT_SECS", body.as_str()),
    ];
    env.extend_from_slice(extra);
    let server = Lucarne::start_with_env(dir.path(), &env);
    (server, dir)
}

/// A connection that sent `bytes` and goes quiet (non-blocking, for [`closed`]).
fn stalled(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect_timeout(&addr, secs(5)).expect("connect a stalled socket");
    s.write_all(bytes).expect("send the first bytes");
    s.set_nonblocking(true).expect("non-blocking socket");
    s
}

/// Whether the server closed `s` (EOF or reset); anything it sent is read and dropped.
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
}

/// Polls `sockets` until all are closed or `deadline`; returns when each closed.
fn wait_closed(sockets: &mut [TcpStream], deadline: Instant) -> Vec<Option<Instant>> {
    let mut at: Vec<Option<Instant>> = vec![None; sockets.len()];
    loop {
        for (s, at) in sockets.iter_mut().zip(at.iter_mut()) {
            if at.is_none() && closed(s) {
                *at = Some(Instant::now());
            }
        }
        if at.iter().all(Option::is_some) || Instant::now() > deadline {
            return at;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `GET path` on a fresh connection (`Connection: close`): status and body, or why not.
fn get(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(u16, String), String> {
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(timeout))
        .map_err(|e| format!("read timeout: {e}"))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("write: {e}"))?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).map_err(|e| format!("read: {e}"))?;
    parse(&out)
}

fn parse(response: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(response);
    let status = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {text:?}"))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

/// Reads one response with a `Content-Length` from a kept-alive connection.
fn read_response(s: &mut TcpStream, timeout: Duration) -> (u16, String) {
    s.set_read_timeout(Some(timeout)).expect("read timeout");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).expect("read a response");
        assert!(n > 0, "connection closed mid-response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or_else(|| panic!("no Content-Length: {head}"));
            if body.len() >= length {
                return parse(&buf).expect("an HTTP response");
            }
        }
    }
}

/// The value of a Prometheus sample line starting with `prefix`.
fn metric(metrics: &str, prefix: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn stalled_request_lines_do_not_starve_health_and_are_closed() {
    let header = STALLED_HEADER_SECS.to_string();
    // (Given after the common settings, so it wins.)
    let (server, _dir) = start(&[("LUCARNE_HEADER_TIMEOUT_SECS", header.as_str())]);
    let addr = server.addr;
    let first = Instant::now();
    let mut sockets: Vec<TcpStream> = (0..1000).map(|_| stalled(addr, b"GET /api/hea")).collect();
    let opened = Instant::now();
    eprintln!("1,000 stalled sockets opened in {:?}", opened - first);

    // Health answers at once on fresh connections, again and again.
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let answer = get(addr, "/api/health", secs(1));
        let took = t.elapsed();
        slowest = slowest.max(took);
        assert!(
            matches!(answer, Ok((200, _))),
            "/api/health under 1,000 stalled sockets: {answer:?} after {took:?}\n{}",
            server.log()
        );
        assert!(took < secs(1), "/api/health took {took:?}");
    }
    eprintln!("/api/health under 1,000 stalled sockets: slowest of 5 took {slowest:?}");

    // The stalled sockets were all held open by the server meanwhile…
    let (status, metrics) = get(addr, "/metrics", secs(2)).expect("GET /metrics");
    assert_eq!(status, 200);
    let open = metric(&metrics, "lucarne_connections_open ").unwrap_or(0.0);
    assert!(open >= 1000.0, "connections open during the stall: {open}");
    if first.elapsed() < secs(STALLED_HEADER_SECS) - Duration::from_millis(300) {
        let early = sockets.iter_mut().map(closed).filter(|c| *c).count();
        assert_eq!(early, 0, "stalled sockets closed before the header timeout");
    }
    // … and are all closed after it.
    let deadline = opened + secs(STALLED_HEADER_SECS) + MARGIN;
    let at = wait_closed(&mut sockets, deadline);
    let open = at.iter().filter(|a| a.is_none()).count();
    assert_eq!(
        open,
        0,
        "{open} of 1,000 stalled sockets still open {:?} after opening",
        deadline - first
    );
    let last = at.iter().flatten().max().copied().unwrap_or(first);
    let earliest = at.iter().flatten().min().copied().unwrap_or(first);
    eprintln!(
        "stalled sockets closed between {:?} and {:?} after the first connect",
        earliest - first,
        last - first
    );
    assert!(
        earliest - first >= secs(STALLED_HEADER_SECS) - Duration::from_millis(300),
        "a stalled socket was closed after {:?}, before the header timeout",
        earliest - first
    );

    // Counted in the metrics.
    let (status, metrics) = get(addr, "/metrics", secs(2)).expect("GET /metrics");
    assert_eq!(status, 200);
    let timed_out = metric(
        &metrics,
        "lucarne_connections_closed_total{reason=\"header_timeout\"}",
    )
    .unwrap_or(0.0);
    assert!(timed_out >= 1000.0, "header timeouts counted: {timed_out}");
}

#[test]
fn slowloris_headers_are_closed_within_the_header_timeout() {
    let (server, _dir) = start(&[]);
    let mut s = stalled(
        server.addr,
        b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    );
    let opened = Instant::now();
    let deadline = opened + secs(HEADER_SECS) + MARGIN;
    let mut sent = 0;
    let closed_after = loop {
        std::thread::sleep(Duration::from_millis(500));
        // One more header byte, never the end of the head.
        let wrote = s.write(b"a");
        if closed(&mut s) || wrote.is_err() {
            break opened.elapsed();
        }
        sent += 1;
        assert!(
            Instant::now() < deadline,
            "slowloris still connected after {:?} ({sent} bytes trickled)",
            opened.elapsed()
        );
    };
    eprintln!("slowloris closed after {closed_after:?} ({sent} bytes trickled)");
    assert!(
        closed_after >= secs(HEADER_SECS) - Duration::from_millis(300),
        "closed after {closed_after:?}, before the header timeout"
    );
}

#[test]
fn a_stalled_body_is_answered_408_within_the_body_timeout() {
    let (server, _dir) = start(&[]);
    let mut s = TcpStream::connect_timeout(&server.addr, secs(2)).expect("connect");
    let sent = Instant::now();
    write!(
        s,
        "POST /api/event HTTP/1.1\r\nHost: {}\r\nUser-Agent: {}\r\nContent-Type: text/plain\r\n\
         Content-Length: 1000\r\n\r\n{{\"n\":\"page",
        server.addr,
        support::WINDOWS_CHROME_UA
    )
    .expect("send the head and 10 bytes of the body");
    s.set_read_timeout(Some(secs(BODY_SECS) + MARGIN))
        .expect("read timeout");
    let mut out = Vec::new();
    let read = s.read_to_end(&mut out);
    let took = sent.elapsed();
    assert!(
        read.is_ok(),
        "no answer and no close {took:?} after a stalled body: {read:?} {:?}",
        String::from_utf8_lossy(&out)
    );
    let (status, body) = parse(&out).expect("an HTTP response");
    eprintln!("stalled body answered {status} after {took:?}: {body}");
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("body_timeout"), "{body}");
    assert!(
        took >= secs(BODY_SECS) - Duration::from_millis(300),
        "answered after {took:?}, before the body timeout"
    );
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (server, _dir) = start(&[]);
    let mut s = TcpStream::connect_timeout(&server.addr, secs(2)).expect("connect");
    write!(
        s,
        "GET /api/health HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    )
    .expect("send");
    let (status, _) = read_response(&mut s, secs(2));
    assert_eq!(status, 200);
    let idle_from = Instant::now();
    s.set_nonblocking(true).expect("non-blocking");
    // Past the header timeout, an idle connection is still open…
    std::thread::sleep(secs(HEADER_SECS) + Duration::from_millis(500));
    assert!(
        !closed(&mut s),
        "idle connection closed at the header timeout ({:?})",
        idle_from.elapsed()
    );
    // … and closed at the idle timeout.
    let at = wait_closed(
        std::slice::from_mut(&mut s),
        idle_from + secs(IDLE_SECS) + MARGIN,
    );
    let after = at[0].map(|t| t - idle_from);
    eprintln!("idle keep-alive connection closed after {after:?}");
    let after = after.unwrap_or_else(|| {
        panic!(
            "idle connection still open {:?} after its response",
            idle_from.elapsed()
        )
    });
    assert!(
        after >= secs(IDLE_SECS) - Duration::from_millis(300),
        "closed after {after:?}, before the idle timeout"
    );
}

/// At the cap, Lucarne stops accepting: connections beyond it wait in the kernel's
/// listen queue (connect succeeds, nothing is read) and are accepted, in order, as
/// stalled ones time out, 50 at a time.
///
/// 100 stalled sockets: 50 served, 50 queued. The listen queue holds 128 (the backlog
/// of the standard library's listener, which `lucarne serve` binds); past it the kernel
/// drops SYNs and clients retry their connect, which is the kernel's business, not this
/// test's.
#[test]
fn at_the_connection_cap_new_connections_wait_for_a_free_slot() {
    const CAP: usize = 50;
    const STALLED: usize = 100;
    let (server, _dir) = start(&[("LUCARNE_MAX_CONNECTIONS", "50")]);
    let addr = server.addr;
    let first = Instant::now();
    let mut sockets: Vec<TcpStream> = (0..STALLED)
        .map(|_| stalled(addr, b"GET /api/hea"))
        .collect();
    // A complete request behind them: it connects (the kernel's queue), but is not
    // served until a slot is free for it.
    let mut probe = stalled(
        addr,
        format!("GET /api/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    let waves = STALLED.div_ceil(CAP) as u64;
    let deadline = first + secs(waves * HEADER_SECS) + secs(4);
    let mut at: Vec<Option<Instant>> = vec![None; STALLED];
    let mut answer = Vec::new();
    let mut answered: Option<Instant> = None;
    let mut first_wave_checked = false;
    let mut buf = [0u8; 4096];
    while answered.is_none() && Instant::now() < deadline {
        for (s, at) in sockets.iter_mut().zip(at.iter_mut()) {
            if at.is_none() && closed(s) {
                *at = Some(Instant::now());
            }
        }
        match probe.read(&mut buf) {
            Ok(0) => answered = Some(Instant::now()),
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("probe failed: {e}"),
        }
        let elapsed = first.elapsed();
        if elapsed < secs(HEADER_SECS) - Duration::from_millis(500) {
            assert!(answer.is_empty(), "served beyond the cap after {elapsed:?}");
        }
        // Between the first wave's timeout and the second's: exactly the first 50 are
        // closed, the other 50 were not accepted before (so have not timed out).
        if !first_wave_checked && elapsed >= secs(HEADER_SECS) + secs(1) {
            first_wave_checked = true;
            let closed_now = at.iter().filter(|a| a.is_some()).count();
            assert_eq!(
                closed_now, CAP,
                "{closed_now} stalled sockets closed {elapsed:?} after the first connect"
            );
            assert!(answer.is_empty(), "probe served after {elapsed:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let answered = answered.unwrap_or_else(|| {
        panic!(
            "probe not answered {:?} after connecting; {} of {STALLED} stalled sockets closed\n{}",
            first.elapsed(),
            at.iter().filter(|a| a.is_some()).count(),
            server.log()
        )
    });
    let waited = answered - first;
    let (status, _) = parse(&answer).expect("an HTTP response to the probe");
    assert_eq!(status, 200);
    eprintln!("probe behind {STALLED} stalled sockets at a cap of {CAP} served after {waited:?}");
    // It waited for the waves ahead of it: 100 stalled sockets, 50 at a time.
    let expected = secs(waves * HEADER_SECS);
    assert!(
        waited >= expected - secs(1) && waited <= expected + MARGIN + secs(1),
        "probe served after {waited:?}, expected about {expected:?}"
    );
    // The last wave closes as the probe is accepted (within milliseconds of each other).
    let open: Vec<usize> = (0..STALLED).filter(|&i| at[i].is_none()).collect();
    let mut rest: Vec<TcpStream> = open
        .iter()
        .map(|&i| sockets[i].try_clone().expect("clone a socket"))
        .collect();
    let late = wait_closed(&mut rest, Instant::now() + secs(1));
    assert!(
        late.iter().all(Option::is_some),
        "stalled sockets ahead of the probe still open after it was served"
    );
    assert!(open.len() <= CAP, "{} stalled sockets open", open.len());
    // And with the stalled ones gone, health answers at once.
    let t = Instant::now();
    let health = get(addr, "/api/health", secs(1));
    assert!(matches!(health, Ok((200, _))), "{health:?}");
    assert!(t.elapsed() < secs(1));
}

/// A client that sends requests and never reads the answers: once the socket buffers
/// are full, the response write stalls and the connection is closed after the body
/// timeout, freeing its slot.
#[test]
fn a_client_that_never_reads_is_closed() {
    let (server, _dir) = start(&[]);
    let mut s = TcpStream::connect_timeout(&server.addr, secs(5)).expect("connect");
    // Pipelined requests for an 80 KB document: far more than the socket buffers hold.
    let req = format!(
        "GET /api/openapi.json HTTP/1.1\r\nHost: {}\r\n\r\n",
        server.addr
    );
    s.set_write_timeout(Some(secs(5))).expect("write timeout");
    let mut sent = 0;
    for _ in 0..2_000 {
        if s.write_all(req.as_bytes()).is_err() {
            break;
        }
        sent += 1;
    }
    assert!(sent > 0);
    let deadline = Instant::now() + secs(BODY_SECS) + secs(10);
    loop {
        let (_, metrics) = get(server.addr, "/metrics", secs(2)).expect("metrics");
        let closed = metric(
            &metrics,
            "lucarne_connections_closed_total{reason=\"write_timeout\"}",
        )
        .unwrap_or(0.0);
        if closed >= 1.0 {
            eprintln!(
                "a client that never reads: closed by the write timeout ({sent} requests sent)"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the never-reading connection is still open: {metrics}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
