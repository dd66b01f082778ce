//! `lucarne config check`: validate a configuration the way `lucarne serve` reads it
//! (the TOML file, `LUCARNE_*` variables, flags) without starting anything, and print
//! every setting's effective value and where it came from. Secrets are masked.

use std::path::Path;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::ArgMatches;

use crate::config::{self, FileConfig, LogFormat};
use crate::ServeArgs;

/// One setting: its TOML key (also its flag, with dashes, and its `LUCARNE_` variable,
/// upper case, unless `arg` says otherwise), its clap argument id, and its effective value.
struct Setting {
    key: &'static str,
    /// The clap argument id and its flag, when it has one.
    arg: Option<(&'static str, &'static str)>,
    env: &'static str,
    value: String,
}

/// Every key of the TOML file, in [`FileConfig`]'s order (read from its `Deserialize`
/// implementation, so a new field is never missed).
#[cfg(test)]
pub fn file_keys() -> Vec<&'static str> {
    use serde::de::{self, Deserializer, Visitor};
    struct Keys(Vec<&'static str>);
    #[derive(Debug)]
    struct Stop;
    impl std::fmt::Display for Stop {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("stop")
        }
    }
    impl std::error::Error for Stop {}
    impl de::Error for Stop {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            Stop
        }
    }
    impl<'de> Deserializer<'de> for &mut Keys {
        type Error = Stop;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Stop> {
            self.0.extend_from_slice(fields);
            Err(Stop)
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
            enum identifier ignored_any
        }
    }
    let mut keys = Keys(Vec::new());
    let _ = <FileConfig as serde::Deserialize>::deserialize(&mut keys);
    keys.0
}

fn shown<T: std::fmt::Display>(v: Option<T>, default: &str) -> String {
    v.map_or_else(|| default.to_string(), |v| v.to_string())
}

/// A URL with its password (if any) replaced by `***`.
fn masked_url(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => u.to_string(),
    }
}

fn list(v: &[impl std::fmt::Display]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The settings `serve` would run with (values as the server reads them), checked.
fn settings(
    args: &ServeArgs,
    file: &FileConfig,
    log_format: Option<LogFormat>,
) -> Result<Vec<Setting>> {
    let s = |key, arg: Option<(&'static str, &'static str)>, env, value| Setting {
        key,
        arg,
        env,
        value,
    };
    let pick = |a: &Option<String>, f: &Option<String>| a.clone().or_else(|| f.clone());

    // Everything `start` checks, in the same functions.
    let listen = pick(&args.listen, &file.listen).unwrap_or_else(|| "127.0.0.1:8080".into());
    check_address(&listen).with_context(|| format!("listen `{listen}`"))?;
    let metrics_listen = args.ops.metrics_listen(file);
    if let Some(a) = &metrics_listen {
        check_address(a).with_context(|| format!("metrics_listen `{a}`"))?;
        if *a == listen {
            anyhow::bail!("metrics_listen `{a}` is the main listen address");
        }
    }
    let backends = crate::Backends::of(&args.data, file);
    check_data_dir(&backends.dir)?;
    if let Some(e) = &backends.events {
        lucarne_store::click::ClickUrl::parse(e)
            .map_err(|err| anyhow::anyhow!("events `{}`: {err}", masked_url(e)))?;
    }
    if let Some(m) = &backends.meta {
        if !(m.starts_with("postgres://")
            || m.starts_with("postgresql://")
            || m.starts_with("sqlite://"))
        {
            anyhow::bail!("meta `{}`: use sqlite or postgres://…", masked_url(m));
        }
        url::Url::parse(m).with_context(|| format!("meta `{}`", masked_url(m)))?;
    }
    let proxies = if args.trusted_proxies.is_empty() {
        &file.trusted_proxies
    } else {
        &args.trusted_proxies
    };
    let proxies = config::parse_networks(proxies)?;
    let country_header = pick(&args.country_header, &file.country_header);
    if let Some(h) = &country_header {
        axum_header_name(h)?;
    }
    let geoip = args.geoip.clone().or_else(|| file.geoip.clone());
    if let Some(p) = &geoip {
        std::fs::metadata(p).with_context(|| format!("geoip {}", p.display()))?;
    }
    let rules = if args.rules.is_empty() {
        file.rules.clone()
    } else {
        args.rules.clone()
    };
    let mut table = lucarne_core::rules::Rules::builtin();
    for r in &rules {
        let text =
            std::fs::read_to_string(r).with_context(|| format!("rules file {}", r.display()))?;
        table
            .extend_from_toml(&text)
            .map_err(|e| anyhow::anyhow!("rules file {}: {e}", r.display()))?;
    }
    let conn = args.conn.limits(file)?;
    let fair = args.fair.limits(file)?;
    let cache = args.fair.cache_bytes(file)?;
    let backlog = args.fair.backlog_bytes(file)?;
    let mailer = args.mail.mailer(file)?;
    let public_url = pick(&args.links.public_url, &file.public_url);
    if let Some(u) = &public_url {
        url::Url::parse(u).with_context(|| format!("public_url `{u}`"))?;
    }
    let metrics_token = args.ops.metrics_token(file)?;
    let queue = args
        .queue_capacity
        .or(file.queue_capacity)
        .unwrap_or(lucarne_store::duck::DEFAULT_QUEUE_CAPACITY);
    if queue == 0 {
        anyhow::bail!("queue_capacity must be at least 1");
    }
    let secs = |d: std::time::Duration| d.as_secs().to_string();
    let rate = |r: lucarne_server::limits::Rate| {
        if r.per_second > 0.0 {
            format!("{} a second (bursts of {})", r.per_second, r.burst)
        } else {
            "off".to_string()
        }
    };
    let mib = |b: Option<usize>, default: usize| (b.unwrap_or(default) >> 20).to_string();

    Ok(vec![
        s(
            "listen",
            Some(("listen", "--listen")),
            "LUCARNE_LISTEN",
            listen,
        ),
        s(
            "data",
            Some(("data", "--data")),
            "LUCARNE_DATA",
            backends.dir.display().to_string(),
        ),
        s(
            "log_format",
            Some(("log_format", "--log-format")),
            "LUCARNE_LOG_FORMAT",
            match log_format.or(file.log_format) {
                Some(LogFormat::Json) => "json".into(),
                _ => "text".into(),
            },
        ),
        s(
            "trusted_proxies",
            Some(("trusted_proxies", "--trusted-proxy")),
            "LUCARNE_TRUSTED_PROXIES",
            if proxies.is_empty() {
                "(none)".into()
            } else {
                list(&proxies)
            },
        ),
        s(
            "country_header",
            Some(("country_header", "--country-header")),
            "LUCARNE_COUNTRY_HEADER",
            shown(country_header, "(none)"),
        ),
        s(
            "geoip",
            Some(("geoip", "--geoip")),
            "LUCARNE_GEOIP",
            shown(geoip.map(|p| p.display().to_string()), "(none)"),
        ),
        s(
            "rules",
            Some(("rules", "--rules")),
            "LUCARNE_RULES",
            if rules.is_empty() {
                "(built-in tables only)".into()
            } else {
                list(&rules.iter().map(|r| r.display()).collect::<Vec<_>>())
            },
        ),
        s(
            "queue_capacity",
            Some(("queue_capacity", "--queue-capacity")),
            "LUCARNE_QUEUE_CAPACITY",
            queue.to_string(),
        ),
        s(
            "header_timeout_secs",
            Some(("header_timeout_secs", "--header-timeout-secs")),
            "LUCARNE_HEADER_TIMEOUT_SECS",
            secs(conn.header_read_timeout),
        ),
        s(
            "idle_timeout_secs",
            Some(("idle_timeout_secs", "--idle-timeout-secs")),
            "LUCARNE_IDLE_TIMEOUT_SECS",
            secs(conn.idle_timeout),
        ),
        s(
            "body_timeout_secs",
            Some(("body_timeout_secs", "--body-timeout-secs")),
            "LUCARNE_BODY_TIMEOUT_SECS",
            secs(conn.body_timeout),
        ),
        s(
            "max_connections",
            Some(("max_connections", "--max-connections")),
            "LUCARNE_MAX_CONNECTIONS",
            conn.max_connections.to_string(),
        ),
        s(
            "site_rate_limit",
            Some(("site_rate_limit", "--site-rate-limit")),
            "LUCARNE_SITE_RATE_LIMIT",
            rate(fair.site),
        ),
        s(
            "client_rate_limit",
            Some(("client_rate_limit", "--client-rate-limit")),
            "LUCARNE_CLIENT_RATE_LIMIT",
            rate(fair.client),
        ),
        s(
            "cache_memory_mib",
            Some(("cache_memory_mib", "--cache-memory-mib")),
            "LUCARNE_CACHE_MEMORY_MIB",
            mib(cache, lucarne_server::state::DEFAULT_CACHE_BYTES),
        ),
        s(
            "backlog_memory_mib",
            Some(("backlog_memory_mib", "--backlog-memory-mib")),
            "LUCARNE_BACKLOG_MEMORY_MIB",
            mib(backlog, lucarne_store::spool::DEFAULT_BACKLOG_BYTES),
        ),
        s(
            "public_url",
            Some(("public_url", "--public-url")),
            "LUCARNE_PUBLIC_URL",
            shown(
                public_url,
                "(none: the one saved in the UI, else the request's host)",
            ),
        ),
        s(
            "allow_private_link_targets",
            Some(("allow_private_link_targets", "--allow-private-link-targets")),
            "LUCARNE_ALLOW_PRIVATE_LINK_TARGETS",
            (args.links.allow_private_link_targets || file.allow_private_link_targets).to_string(),
        ),
        s(
            "smtp_url",
            Some(("smtp_url", "--smtp-url")),
            "LUCARNE_SMTP_URL",
            shown(
                pick(&args.mail.smtp_url, &file.smtp_url).map(|u| masked_url(&u)),
                "(none: invitation links are shown to whoever invites)",
            ),
        ),
        s(
            "mail_from",
            Some(("mail_from", "--mail-from")),
            "LUCARNE_MAIL_FROM",
            shown(
                mailer
                    .as_ref()
                    .and(pick(&args.mail.mail_from, &file.mail_from)),
                "(none)",
            ),
        ),
        s(
            "notify_interval",
            Some(("notify_interval", "--notify-interval")),
            "LUCARNE_NOTIFY_INTERVAL",
            format!(
                "{} s",
                args.mail
                    .notify_every(file)?
                    .unwrap_or(lucarne_server::notify::EVERY)
                    .as_secs()
            ),
        ),
        s(
            "events",
            Some(("events", "--events")),
            "LUCARNE_EVENTS",
            shown(
                backends.events.as_deref().map(masked_url),
                "duckdb (in the data directory)",
            ),
        ),
        s(
            "meta",
            Some(("meta", "--meta")),
            "LUCARNE_META",
            shown(
                backends.meta.as_deref().map(masked_url),
                "sqlite (in the data directory)",
            ),
        ),
        s(
            "node_id",
            Some(("node_id", "--node-id")),
            "LUCARNE_NODE_ID",
            backends.node_id.clone(),
        ),
        s(
            "metrics_token",
            Some(("metrics_token", "--metrics-token")),
            "LUCARNE_METRICS_TOKEN",
            if metrics_token.is_some() {
                "*** (set: /metrics needs it)".into()
            } else {
                "(none: anyone who reaches /metrics can read it)".into()
            },
        ),
        s(
            "metrics_listen",
            Some(("metrics_listen", "--metrics-listen")),
            "LUCARNE_METRICS_LISTEN",
            shown(metrics_listen, "(none: /metrics on the main listener)"),
        ),
        s(
            "min_free_disk_mib",
            Some(("min_free_disk_mib", "--min-free-disk-mib")),
            "LUCARNE_MIN_FREE_DISK_MIB",
            (args
                .ops
                .min_free_disk_bytes(file)
                .unwrap_or(lucarne_server::state::DEFAULT_MIN_FREE_DISK)
                >> 20)
                .to_string(),
        ),
    ])
}

fn check_address(a: &str) -> Result<()> {
    use std::net::ToSocketAddrs;
    a.to_socket_addrs()
        .context("not an address:port")?
        .next()
        .map(|_| ())
        .context("resolves to no address")
}

fn check_data_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {
            if m.permissions().readonly() {
                anyhow::bail!("data directory {} is read-only", dir.display());
            }
            Ok(())
        }
        Ok(_) => anyhow::bail!("data {} is not a directory", dir.display()),
        // Created at start: its parent must exist.
        Err(_) => match dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            Some(p) if !p.is_dir() => anyhow::bail!(
                "data directory {} cannot be created: {} does not exist",
                dir.display(),
                p.display()
            ),
            _ => Ok(()),
        },
    }
}

/// An HTTP header name (RFC 9110 token characters).
fn axum_header_name(h: &str) -> Result<()> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if h.is_empty() || !h.chars().all(token) {
        anyhow::bail!("country_header `{h}` is not an HTTP header name");
    }
    Ok(())
}

/// Where a setting's value came from.
fn source(
    s: &Setting,
    matches: Option<&ArgMatches>,
    global: &ArgMatches,
    in_file: &toml::Table,
    file_path: Option<&Path>,
) -> String {
    if let Some((id, flag)) = s.arg {
        let m = if id == "log_format" {
            Some(global)
        } else {
            matches
        };
        match m.and_then(|m| m.value_source(id)) {
            Some(ValueSource::CommandLine) => return format!("flag {flag}"),
            Some(ValueSource::EnvVariable) => return format!("env {}", s.env),
            _ => {}
        }
    }
    if in_file.contains_key(s.key) {
        if let Some(p) = file_path {
            return format!("file {}", p.display());
        }
    }
    "default".into()
}

/// Run the check: print the table and "configuration OK", or fail with the first problem.
pub fn run(
    global: &ArgMatches,
    matches: Option<&ArgMatches>,
    config_path: Option<&Path>,
    log_format: Option<LogFormat>,
    args: &ServeArgs,
) -> Result<()> {
    let (file, table) = match config_path {
        Some(p) => {
            let file = FileConfig::load(p)?;
            let text = std::fs::read_to_string(p)?;
            let table: toml::Table =
                toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
            (file, table)
        }
        None => (FileConfig::default(), toml::Table::new()),
    };
    let all = settings(args, &file, log_format)?;
    println!(
        "configuration file: {}",
        config_path.map_or("(none)".into(), |p| p.display().to_string())
    );
    let width = all.iter().map(|s| s.key.len()).max().unwrap_or(0);
    for s in &all {
        println!(
            "  {:width$}  {}  [{}]",
            s.key,
            s.value,
            source(s, matches, global, &table, config_path)
        );
    }
    println!("configuration OK");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example shipped at the repository's root.
    const EXAMPLE: &str = include_str!("../../../lucarne.example.toml");

    #[test]
    fn config_check_lists_every_key_of_the_file() {
        let listed: Vec<&str> = settings(&ServeArgs::default(), &FileConfig::default(), None)
            .expect("defaults are valid")
            .iter()
            .map(|s| s.key)
            .collect();
        let mut a = listed.clone();
        let mut b = file_keys();
        assert!(b.len() > 20, "{b:?}");
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }

    /// `lucarne.example.toml` parses, names every key the binary knows (set, or commented
    /// out as `# key = …`), and parses with every commented key uncommented too (so its
    /// examples have the right types).
    #[test]
    fn the_example_configuration_is_complete_and_valid() {
        let parsed: FileConfig = toml::from_str(EXAMPLE).expect("the example parses");
        assert_eq!(parsed.listen.as_deref(), Some("127.0.0.1:8080"));
        for key in file_keys() {
            let set = EXAMPLE.lines().any(|l| l.starts_with(&format!("{key} = ")));
            let commented = EXAMPLE
                .lines()
                .any(|l| l.starts_with(&format!("# {key} = ")));
            assert!(set || commented, "`{key}` is not in lucarne.example.toml");
        }
        // Uncommented: each key once (a commented alternative of a set key is dropped).
        let mut seen = std::collections::HashSet::new();
        let mut all = String::new();
        for l in EXAMPLE.lines() {
            let line = l.strip_prefix("# ").unwrap_or(l);
            let Some((key, _)) = line.split_once(" = ") else {
                continue;
            };
            if file_keys().contains(&key) && seen.insert(key.to_string()) {
                all.push_str(line);
                all.push('\n');
            }
        }
        let full: FileConfig = toml::from_str(&all).expect("every example value parses");
        assert_eq!(full.metrics_listen.as_deref(), Some("10.0.0.5:9100"));
        // And the defaults written in the example are the binary's defaults.
        let defaults =
            settings(&ServeArgs::default(), &FileConfig::default(), None).expect("defaults");
        let with_example =
            settings(&ServeArgs::default(), &parsed, None).expect("the example is valid");
        for (d, e) in defaults.iter().zip(&with_example) {
            assert_eq!(
                d.value, e.value,
                "`{}`: the example differs from the default",
                d.key
            );
        }
    }
}
