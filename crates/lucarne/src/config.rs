//! Configuration: a TOML file, `LUCARNE_*` environment variables and flags, in increasing
//! order of precedence.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// key=value lines
    Text,
    /// one JSON object a line
    Json,
}

/// The TOML file (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub data: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    pub country_header: Option<String>,
    pub geoip: Option<PathBuf>,
    #[serde(default)]
    pub rules: Vec<PathBuf>,
    pub queue_capacity: Option<usize>,
    /// Connection limits (seconds; connections), as the `--header-timeout-secs`,
    /// `--idle-timeout-secs`, `--body-timeout-secs` and `--max-connections` flags.
    pub header_timeout_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub body_timeout_secs: Option<u64>,
    pub max_connections: Option<usize>,
    /// Fair shares: events a second per site and per client address (0: off), as the
    /// `--site-rate-limit` and `--client-rate-limit` flags; MiB for the in-memory caches
    /// (`--cache-memory-mib`).
    pub site_rate_limit: Option<f64>,
    pub client_rate_limit: Option<f64>,
    pub cache_memory_mib: Option<usize>,
    /// MiB of acknowledged events waiting for the events store (`--backlog-memory-mib`).
    pub backlog_memory_mib: Option<usize>,
    /// Where Lucarne is reached from outside, for short links and QR codes.
    pub public_url: Option<String>,
    #[serde(default)]
    pub allow_private_link_targets: bool,
    /// Outgoing e-mail, as `--smtp-url` and `--mail-from`.
    pub smtp_url: Option<String>,
    pub mail_from: Option<String>,
    /// Seconds between notification rounds (`--notify-interval`).
    pub notify_interval: Option<u64>,
    /// Events back end (`duckdb` or `clickhouse://…`), metadata back end (`sqlite` or
    /// `postgres://…`), and this node's name among nodes sharing ClickHouse.
    pub events: Option<String>,
    pub meta: Option<String>,
    pub node_id: Option<String>,
    /// `/metrics`: a bearer token it requires, and an address of its own, as
    /// `--metrics-token` and `--metrics-listen`.
    pub metrics_token: Option<String>,
    pub metrics_listen: Option<String>,
    /// Free MiB the data directory needs for readiness (`--min-free-disk-mib`).
    pub min_free_disk_mib: Option<u64>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

pub fn parse_networks(items: &[String]) -> Result<Vec<ipnet::IpNet>> {
    items
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| format!("`{s}` is not an IP address or network"))
        })
        .collect()
}

pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("LUCARNE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_file_parses_and_rejects_unknown_keys() {
        let c: FileConfig = toml::from_str(
            "listen = \"0.0.0.0:9000\"\ndata = \"/var/lib/lucarne\"\nlog_format = \"json\"\ntrusted_proxies = [\"10.0.0.0/8\"]",
        )
        .unwrap();
        assert_eq!(c.listen.as_deref(), Some("0.0.0.0:9000"));
        assert_eq!(c.log_format, Some(LogFormat::Json));
        assert!(toml::from_str::<FileConfig>("lisen = 1").is_err());
        assert_eq!(
            parse_networks(&["10.0.0.0/8".into(), "127.0.0.1".into()])
                .unwrap()
                .len(),
            2
        );
        assert!(parse_networks(&["nope".into()]).is_err());
    }
}
