//! One HTTP request of the card fetcher, made the way a guarded crawler would: the host
//! resolved first, every address checked against the private ranges
//! (`core::links::is_private_ip`) unless the administrator allows private targets, the
//! connection made to the checked address itself (a second DNS answer cannot switch it:
//! no rebinding), no cookies sent or kept, a time limit on the whole exchange and a size
//! limit on the body. Redirects are not followed here: the caller checks each hop
//! (`super::page`).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use lucarne_core::links::is_private_ip;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::ClientConfig;
use url::{Host, Url};

use crate::state::CardFetchOptions;

/// Why a request got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Not `http` or `https`, or no host.
    NotHttp,
    /// The host resolved to a loopback, private or special address.
    PrivateAddress { host: String, ip: IpAddr },
    /// The name did not resolve.
    Dns { host: String },
    /// No connection, TLS failure, or a broken HTTP exchange.
    Unreachable { reason: String },
    /// The time limit passed.
    Timeout,
}

/// An answer, its body cut at the limit.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// The body went on past the limit (what is in `body` is its start).
    pub truncated: bool,
}

impl Answer {
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The media type, lower-case, without parameters (at most 100 characters).
    pub fn content_type(&self) -> String {
        self.header(header::CONTENT_TYPE)
            .unwrap_or("")
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .chars()
            .take(100)
            .collect::<String>()
            .to_ascii_lowercase()
    }
}

/// What every request of one card check shares.
#[derive(Debug, Clone)]
pub struct Guard {
    pub allow_private: bool,
    pub options: CardFetchOptions,
}

impl Guard {
    /// The addresses `host` stands for, each checked. An address literal is its own
    /// answer; a name is looked up (or taken from the configured overrides).
    async fn addresses(&self, url: &Url, port: u16) -> Result<Vec<SocketAddr>, FetchError> {
        let host = url.host().ok_or(FetchError::NotHttp)?;
        let (name, ips): (String, Vec<IpAddr>) = match host {
            Host::Ipv4(ip) => (ip.to_string(), vec![IpAddr::V4(ip)]),
            Host::Ipv6(ip) => (ip.to_string(), vec![IpAddr::V6(ip)]),
            Host::Domain(d) => {
                let d = d.trim_end_matches('.').to_ascii_lowercase();
                let fixed: Vec<IpAddr> = self
                    .options
                    .resolve
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(&d))
                    .map(|(_, ip)| *ip)
                    .collect();
                if fixed.is_empty() {
                    let found = tokio::net::lookup_host((d.as_str(), port))
                        .await
                        .map_err(|_| FetchError::Dns { host: d.clone() })?
                        .map(|a| a.ip())
                        .collect::<Vec<_>>();
                    (d, found)
                } else {
                    (d, fixed)
                }
            }
        };
        if ips.is_empty() {
            return Err(FetchError::Dns { host: name });
        }
        if !self.allow_private {
            // One private answer is enough to refuse: which one a crawler would use is
            // not known, and a name that points inside the network is suspect anyway.
            if let Some(ip) = ips.iter().copied().find(|ip| is_private_ip(*ip)) {
                return Err(FetchError::PrivateAddress { host: name, ip });
            }
        }
        Ok(ips
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    /// Check `url`'s addresses without connecting (the redirect checks of tests and of
    /// hops that will not be fetched).
    pub async fn check(&self, url: &Url) -> Result<(), FetchError> {
        let port = url.port_or_known_default().ok_or(FetchError::NotHttp)?;
        self.addresses(url, port).await.map(|_| ())
    }

    /// `GET url` as `user_agent`, the body cut after `max_body` bytes, within `limit`.
    pub async fn get(
        &self,
        url: &Url,
        user_agent: &str,
        accept: &str,
        max_body: usize,
        limit: Duration,
    ) -> Result<Answer, FetchError> {
        let headers = [(header::USER_AGENT, user_agent), (header::ACCEPT, accept)];
        self.send(url, Method::GET, &headers, Bytes::new(), max_body, limit)
            .await
    }

    /// One request (`method`, `headers`, `body`) to the checked address of `url`; the
    /// answer's body cut after `max_body` bytes; all within `limit`. Webhook calls
    /// (`notify::outbox`) go through here too.
    pub async fn send(
        &self,
        url: &Url,
        method: Method,
        headers: &[(header::HeaderName, &str)],
        body: Bytes,
        max_body: usize,
        limit: Duration,
    ) -> Result<Answer, FetchError> {
        let limit = self.options.timeout.map_or(limit, |t| t.min(limit));
        let deadline = Instant::now() + limit;
        let req = request(url, method, headers, body)?;
        match tokio::time::timeout_at(deadline, self.send_inner(url, req, max_body)).await {
            Ok(r) => r,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn send_inner(
        &self,
        url: &Url,
        req: Request<Full<Bytes>>,
        max_body: usize,
    ) -> Result<Answer, FetchError> {
        let https = match url.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(FetchError::NotHttp),
        };
        let port = url.port_or_known_default().ok_or(FetchError::NotHttp)?;
        let addrs = self.addresses(url, port).await?;
        let mut last = String::from("no address");
        let mut stream = None;
        for a in &addrs {
            match TcpStream::connect(a).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e.kind().to_string(),
            }
        }
        let stream = stream.ok_or(FetchError::Unreachable { reason: last })?;
        if https {
            let name = rustls_name(url)?;
            let tls = tokio_rustls::TlsConnector::from(tls_config()?)
                .connect(name, stream)
                .await
                .map_err(|e| FetchError::Unreachable {
                    reason: format!("TLS: {e}"),
                })?;
            exchange(tls, req, max_body).await
        } else {
            exchange(stream, req, max_body).await
        }
    }
}

/// The request: origin-form path, `Host`, the caller's headers, no cookie, no
/// compression, one exchange per connection.
fn request(
    url: &Url,
    method: Method,
    headers: &[(header::HeaderName, &str)],
    body: Bytes,
) -> Result<Request<Full<Bytes>>, FetchError> {
    let host = url.host_str().ok_or(FetchError::NotHttp)?;
    let host_header = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let path = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_string(),
    };
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, host_header);
    for (name, value) in headers {
        b = b.header(name, *value);
    }
    b.header(header::ACCEPT_ENCODING, "identity")
        .header(header::CONNECTION, "close")
        .body(Full::new(body))
        .map_err(|e| FetchError::Unreachable {
            reason: format!("request: {e}"),
        })
}

fn rustls_name(url: &Url) -> Result<ServerName<'static>, FetchError> {
    let bad = |_| FetchError::Unreachable {
        reason: "no TLS name for this host".into(),
    };
    match url.host().ok_or(FetchError::NotHttp)? {
        Host::Domain(d) => ServerName::try_from(d.to_string()).map_err(bad),
        Host::Ipv4(ip) => Ok(ServerName::IpAddress(IpAddr::V4(ip).into())),
        Host::Ipv6(ip) => Ok(ServerName::IpAddress(IpAddr::V6(ip).into())),
    }
}

/// The client TLS configuration: the web's public roots (webpki-roots), ring.
fn tls_config() -> Result<Arc<ClientConfig>, FetchError> {
    static CONFIG: OnceLock<Option<Arc<ClientConfig>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = tokio_rustls::rustls::RootCertStore::empty();
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
            match ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
            {
                Ok(b) => Some(Arc::new(
                    b.with_root_certificates(roots).with_no_client_auth(),
                )),
                Err(e) => {
                    tracing::error!(message = "TLS client configuration failed.", error = %e);
                    None
                }
            }
        })
        .clone()
        .ok_or_else(|| FetchError::Unreachable {
            reason: "no TLS client configuration".into(),
        })
}

/// One HTTP/1.1 exchange on `io`, then the answer's body up to `max_body` bytes.
async fn exchange<T>(
    io: T,
    req: Request<Full<Bytes>>,
    max_body: usize,
) -> Result<Answer, FetchError>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let broken = |e: hyper::Error| FetchError::Unreachable {
        reason: format!("HTTP: {e}"),
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(broken)?;
    let driver = tokio::spawn(async move {
        // The connection ends when the answer is read or dropped.
        let _ = conn.await;
    });
    let resp = sender.send_request(req).await.map_err(broken)?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    let mut truncated = false;
    // A redirect's or an error's body is not needed.
    let wanted = if status.is_success() { max_body } else { 0 };
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(broken)?;
        if let Ok(data) = frame.into_data() {
            let room = wanted.saturating_sub(out.len());
            if data.len() > room {
                out.extend_from_slice(&data[..room]);
                truncated = status.is_success();
                break;
            }
            out.extend_from_slice(&data);
        }
    }
    drop(body);
    driver.abort();
    Ok(Answer {
        status,
        headers,
        body: out,
        truncated,
    })
}
