//! `lucarne-bench hammer`: a closed-loop HTTP/1.1 load generator for the ingest and
//! redirect benchmarks, lighter than wrk with a Lua `request()` function.
//!
//! It shares the machine's two cores with the server, so every microsecond it spends is
//! one the server does not get. wrk calls into Lua for every request once a script
//! defines `request()`; here each thread formats its next request into a reused buffer
//! (well under a microsecond) and runs its connections on one `mio` poll loop: one
//! `write` and usually one `read` a request, as wrk's C core does.
//!
//! The requests are the ones `bench/ingest.lua` and `bench/redirect.lua` send (same
//! visitors, user agents, bodies, links and mix), and the output has wrk's shape (the
//! latency distribution, `N requests in S`, `Requests/sec:`), so `bench/run.sh` reads
//! both the same way. Latency is from the request's first byte written to its response's
//! last byte read, every request kept (no sampling), percentiles exact.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// What the requests look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// `POST /api/event` as `bench/ingest.lua`: every visitor a WhatsApp landing on
    /// Android, then an internal pageview.
    Ingest,
    /// `GET /l/bench{n}` as `bench/redirect.lua`: 1 in 10 a QR scan, 1 in 20 a WhatsApp
    /// preview fetch.
    Redirect,
}

pub struct Options {
    pub addr: SocketAddr,
    pub threads: usize,
    pub connections: usize,
    pub duration: Duration,
    pub scenario: Scenario,
    pub slugs: u64,
    /// Offsets the visitors' IPs, as `WRK_PROC` does, so two processes never share one.
    pub proc_id: u64,
}

const AGENTS: [&str; 6] = [
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/123.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
];
const WHATSAPP_PREVIEW: &str = "WhatsApp/2.23.20.0 A";

/// The `c`-th request (from 1) of thread `id`, written into `out` (cleared first).
pub fn request(out: &mut Vec<u8>, scenario: Scenario, id: u64, c: u64, slugs: u64) {
    use std::io::Write as _;
    out.clear();
    // Writing into a Vec cannot fail.
    let _ = match scenario {
        Scenario::Ingest => {
            let v = c / 2;
            let ua = AGENTS[(v % AGENTS.len() as u64) as usize];
            let page = v % 5000;
            let mut body = Vec::with_capacity(160);
            let _ = if c.is_multiple_of(2) {
                write!(
                    body,
                    r#"{{"n":"pageview","u":"https://bench.test/articles/{page}","d":"bench.test","r":"android-app://com.whatsapp/","w":390}}"#
                )
            } else {
                write!(
                    body,
                    r#"{{"n":"pageview","u":"https://bench.test/articles/{page}/more","d":"bench.test","r":"https://bench.test/articles/{page}","w":390}}"#
                )
            };
            let _ = write!(
                out,
                "POST /api/event HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\n\
                 User-Agent: {ua}\r\nX-Forwarded-For: {}.{}.{}.{}\r\nContent-Length: {}\r\n\r\n",
                11 + id,
                (v / 65536) % 256,
                (v / 256) % 256,
                v % 256,
                body.len()
            );
            out.write_all(&body)
        }
        Scenario::Redirect => {
            // The first five agents are phones and desktops; one request in twenty is
            // WhatsApp fetching the link's preview.
            let ua = if c.is_multiple_of(20) {
                WHATSAPP_PREVIEW
            } else {
                AGENTS[(c % 5) as usize]
            };
            let qr = if c.is_multiple_of(10) { "?qr=1" } else { "" };
            write!(
                out,
                "GET /l/bench{}{qr} HTTP/1.1\r\nHost: bench\r\nUser-Agent: {ua}\r\n\
                 X-Forwarded-For: {}.{}.{}.{}\r\n\r\n",
                c % slugs,
                12 + id,
                (c / 65536) % 256,
                (c / 256) % 256,
                c % 256
            )
        }
    };
}

/// A complete response at the start of `buf`: its length and status code.
/// `Ok(None)` while it is incomplete; an error when it is not HTTP/1.1.
pub fn parse_response(buf: &[u8]) -> Result<Option<(usize, u16)>> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > 64 * 1024 {
            bail!("response head longer than 64 KB");
        }
        return Ok(None);
    };
    let head = &buf[..head_end];
    if head.len() < 12 || !head.starts_with(b"HTTP/1.") {
        bail!("not an HTTP/1.x response");
    }
    let status: u16 = std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .context("bad status line")?;
    let body_start = head_end + 4;
    let mut length = None;
    let mut chunked = false;
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding")
            && value.eq_ignore_ascii_case(b"chunked")
        {
            chunked = true;
        }
    }
    if chunked {
        // Enough for the short bodies these endpoints send: the last chunk ends it.
        return Ok(buf[body_start..]
            .windows(5)
            .position(|w| w == b"0\r\n\r\n")
            .map(|p| (body_start + p + 5, status)));
    }
    let total = body_start + length.unwrap_or(0);
    Ok((buf.len() >= total).then_some((total, status)))
}

struct Conn {
    stream: TcpStream,
    out: Vec<u8>,
    written: usize,
    input: Vec<u8>,
    started: Instant,
    waiting_to_write: bool,
}

/// What one thread did.
#[derive(Default)]
struct Tally {
    /// Microseconds, one entry a completed request.
    latencies: Vec<u32>,
    bytes_read: u64,
    non_success: u64,
    errors: u64,
}

fn connect(addr: SocketAddr) -> Result<TcpStream> {
    let s = std::net::TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_nodelay(true)?;
    s.set_nonblocking(true)?;
    Ok(TcpStream::from_std(s))
}

/// Write what is left of the connection's request. The connection listens for
/// writability only while a request is stuck: otherwise every read of the server would
/// wake this thread with a writable edge (which the server's thread pays for too).
fn flush(poll: &Poll, conn: &mut Conn, token: Token) -> io::Result<()> {
    while conn.written < conn.out.len() {
        match conn.stream.write(&conn.out[conn.written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => conn.written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                conn.waiting_to_write = true;
                return poll.registry().reregister(
                    &mut conn.stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                );
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if conn.waiting_to_write {
        conn.waiting_to_write = false;
        poll.registry()
            .reregister(&mut conn.stream, token, Interest::READABLE)?;
    }
    Ok(())
}

fn run_thread(opts: &Options, id: u64, conns: usize, until: Instant) -> Result<Tally> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(conns.max(1));
    let mut tally = Tally {
        latencies: Vec::with_capacity(4_000_000),
        ..Tally::default()
    };
    let mut seq = 0u64;
    let mut next = |out: &mut Vec<u8>| {
        seq += 1;
        request(out, opts.scenario, id, seq, opts.slugs);
    };
    let mut all = Vec::with_capacity(conns);
    for i in 0..conns {
        let mut stream = connect(opts.addr)?;
        // Writable too, once: the first request goes out when the connection is ready.
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut conn = Conn {
            stream,
            out: Vec::with_capacity(512),
            written: 0,
            input: Vec::with_capacity(4096),
            started: Instant::now(),
            waiting_to_write: true,
        };
        next(&mut conn.out);
        all.push(conn);
    }
    let mut scratch = vec![0u8; 64 * 1024];
    while Instant::now() < until {
        poll.poll(&mut events, Some(Duration::from_millis(10)))?;
        for ev in events.iter() {
            let i = ev.token().0;
            let conn = &mut all[i];
            if ev.is_writable() && conn.written < conn.out.len() {
                if conn.written == 0 {
                    conn.started = Instant::now();
                }
                if flush(&poll, conn, ev.token()).is_err() {
                    tally.errors += 1;
                    reopen(&poll, opts.addr, conn, i)?;
                    continue;
                }
            }
            if !ev.is_readable() {
                continue;
            }
            // Read until a response is complete, not until the socket says WouldBlock:
            // in a closed loop the server sends nothing more until the next request, so
            // that last `read` would be one wasted system call a request. (An edge comes
            // again with the next response, or with a close.)
            let mut closed = false;
            loop {
                match conn.stream.read(&mut scratch) {
                    Ok(0) => {
                        closed = true;
                        break;
                    }
                    Ok(n) => {
                        tally.bytes_read += n as u64;
                        conn.input.extend_from_slice(&scratch[..n]);
                        if n < scratch.len() && parse_response(&conn.input)?.is_some() {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            // Every complete response ends its request and starts the next one.
            while let Some((len, status)) = parse_response(&conn.input)? {
                conn.input.drain(..len);
                let us = conn.started.elapsed().as_micros();
                tally.latencies.push(u32::try_from(us).unwrap_or(u32::MAX));
                if !(200..400).contains(&status) {
                    tally.non_success += 1;
                }
                next(&mut conn.out);
                conn.written = 0;
                conn.started = Instant::now();
                if flush(&poll, conn, ev.token()).is_err() {
                    closed = true;
                    break;
                }
            }
            if closed {
                tally.errors += 1;
                reopen(&poll, opts.addr, conn, i)?;
            }
        }
    }
    Ok(tally)
}

/// Replace a connection the server closed; its request is sent again on the new one.
fn reopen(poll: &Poll, addr: SocketAddr, conn: &mut Conn, i: usize) -> Result<()> {
    let _ = poll.registry().deregister(&mut conn.stream);
    conn.stream = connect(addr)?;
    poll.registry().register(
        &mut conn.stream,
        Token(i),
        Interest::READABLE | Interest::WRITABLE,
    )?;
    conn.input.clear();
    conn.written = 0;
    conn.waiting_to_write = true;
    Ok(())
}

/// The process's CPU time so far (user + system).
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn fmt_latency(us: u32) -> String {
    if us < 1000 {
        format!("{us}.00us")
    } else if us < 1_000_000 {
        format!("{:.2}ms", f64::from(us) / 1000.0)
    } else {
        format!("{:.2}s", f64::from(us) / 1e6)
    }
}

pub fn run(opts: Options) -> Result<()> {
    if opts.threads == 0 || opts.connections < opts.threads {
        bail!("need at least one thread and one connection a thread");
    }
    let cpu0 = cpu_time();
    let start = Instant::now();
    let until = start + opts.duration;
    let tallies: Vec<Result<Tally>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..opts.threads)
            .map(|t| {
                let conns = opts.connections / opts.threads
                    + usize::from(t < opts.connections % opts.threads);
                let opts = &opts;
                s.spawn(move || run_thread(opts, t as u64 + 16 * opts.proc_id, conns, until))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("thread panicked")))
            })
            .collect()
    });
    let elapsed = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu0);
    let mut all = Tally::default();
    for t in tallies {
        let t = t?;
        all.latencies.extend_from_slice(&t.latencies);
        all.bytes_read += t.bytes_read;
        all.non_success += t.non_success;
        all.errors += t.errors;
    }
    let n = all.latencies.len();
    all.latencies.sort_unstable();
    let pct = |p: f64| {
        all.latencies
            .get(((n as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "lucarne-bench hammer: {:?}, {} threads, {} connections, {} s",
        opts.scenario,
        opts.threads,
        opts.connections,
        opts.duration.as_secs()
    );
    println!("  Latency Distribution");
    for (label, p) in [("50%", 0.50), ("75%", 0.75), ("90%", 0.90), ("99%", 0.99)] {
        println!("     {label} {:>9}", fmt_latency(pct(p)));
    }
    println!(
        "  {n} requests in {:.2}s, {:.2}MB read",
        elapsed.as_secs_f64(),
        all.bytes_read as f64 / 1_048_576.0
    );
    if all.non_success > 0 {
        println!("  Non-2xx or 3xx responses: {}", all.non_success);
    }
    if all.errors > 0 {
        println!("  Socket errors: {} (connections reopened)", all.errors);
    }
    println!("Requests/sec: {:.2}", n as f64 / elapsed.as_secs_f64());
    if n > 0 {
        println!(
            "load generator CPU per request: {:.1} µs",
            cpu.as_secs_f64() * 1e6 / n as f64
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_match_the_wrk_scripts() {
        let mut out = Vec::new();
        request(&mut out, Scenario::Ingest, 1, 2, 50);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("POST /api/event HTTP/1.1\r\n"));
        assert!(text.contains("X-Forwarded-For: 12.0.0.1\r\n"));
        assert!(text.ends_with(
            r#"{"n":"pageview","u":"https://bench.test/articles/1","d":"bench.test","r":"android-app://com.whatsapp/","w":390}"#
        ));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        request(&mut out, Scenario::Redirect, 0, 20, 50);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("GET /l/bench20?qr=1 HTTP/1.1\r\n"));
        assert!(text.contains("User-Agent: WhatsApp/2.23.20.0 A\r\n"));
    }

    #[test]
    fn responses_are_framed() {
        let ok = b"HTTP/1.1 202 Accepted\r\ncontent-length: 11\r\n\r\n{\"ok\":true}HTTP/1.1";
        assert_eq!(parse_response(ok).unwrap(), Some((ok.len() - 8, 202)));
        let redirect = b"HTTP/1.1 302 Found\r\nlocation: https://x/\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(
            parse_response(redirect).unwrap(),
            Some((redirect.len(), 302))
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 202 Accepted\r\ncontent-length: 11\r\n\r\n{\"ok\"").unwrap(),
            None
        );
        assert_eq!(parse_response(b"HTTP/1.1 202 Acc").unwrap(), None);
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
        assert_eq!(parse_response(chunked).unwrap(), Some((chunked.len(), 200)));
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }
}
