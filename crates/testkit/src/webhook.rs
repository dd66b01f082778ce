//! A real HTTP receiver for webhook tests: a listener on a free loopback port that reads
//! HTTP/1.1 requests (bodies with `Content-Length`, several requests per connection),
//! keeps each call's headers and body, and answers the n-th call (from 0) with the status
//! its `answer` gives. Its threads end with the test process.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use anyhow::Context;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// Header names in lower case, in the order they came.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Call {
    /// A header's value (the name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }
}

type Answer = Arc<dyn Fn(usize) -> u16 + Send + Sync>;

/// The running receiver.
pub struct Receiver {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
}

impl Receiver {
    /// Listens on `127.0.0.1:0`; `answer(n)` is the status of the n-th call.
    pub fn start(answer: impl Fn(usize) -> u16 + Send + Sync + 'static) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the receiver")?;
        let addr = listener.local_addr()?;
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let answer: Answer = Arc::new(answer);
        let seen = calls.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let (seen, answer) = (seen.clone(), answer.clone());
                std::thread::spawn(move || serve(stream, &seen, &answer));
            }
        });
        Ok(Receiver {
            url: format!("http://{addr}/hook"),
            calls,
        })
    }

    /// `http://127.0.0.1:PORT/hook`
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Every call so far, in the order they came.
    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Requests of one connection, until it closes or sends something unreadable.
fn serve(stream: TcpStream, seen: &Mutex<Vec<Call>>, answer: &Answer) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut input = BufReader::new(stream);
    while let Some(call) = read_request(&mut input) {
        let n = {
            let mut c = seen.lock().unwrap_or_else(|p| p.into_inner());
            c.push(call);
            c.len() - 1
        };
        let status = answer(n);
        let reply = format!("HTTP/1.1 {status} Answer\r\ncontent-length: 0\r\n\r\n");
        if out.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_request(input: &mut BufReader<TcpStream>) -> Option<Call> {
    let mut line = String::new();
    input.read_line(&mut line).ok().filter(|n| *n > 0)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        input.read_line(&mut h).ok().filter(|n| *n > 0)?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    input.read_exact(&mut body).ok()?;
    Some(Call {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_calls_and_answers_each_with_its_status() {
        let r = Receiver::start(|n| if n == 0 { 500 } else { 204 }).expect("start");
        let addr = r.url().trim_start_matches("http://").replace("/hook", "");
        let mut s = TcpStream::connect(&addr).expect("connect");
        let req = |body: &str| {
            format!(
                "POST /hook HTTP/1.1\r\nHost: x\r\nX-Sig: t=1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        s.write_all(format!("{}{}", req("{\"a\":1}"), req("two")).as_bytes())
            .expect("write");
        let mut got = String::new();
        let mut reader = BufReader::new(s);
        for _ in 0..6 {
            reader.read_line(&mut got).expect("read");
        }
        assert!(got.starts_with("HTTP/1.1 500"), "{got}");
        assert!(got.contains("HTTP/1.1 204"), "{got}");
        let calls = r.calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0].body, "{\"a\":1}");
        assert_eq!(calls[0].header("x-sig"), Some("t=1"));
        assert_eq!(
            (calls[1].method.as_str(), calls[1].path.as_str()),
            ("POST", "/hook")
        );
        assert_eq!(calls[1].body, "two");
    }
}
