//! The `lucarne` binary: command line, configuration, start-up.

mod backup;
mod config;
mod config_check;
mod demo;
mod import;
mod import_log;
mod migrate;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use lucarne_server::{AppState, ServerOptions};
use lucarne_store::duck::DuckEvents;
use lucarne_store::meta::MetaStore;
use lucarne_store::EventStore;

use config::{FileConfig, LogFormat};

/// Ingest allocates many small strings per event; mimalloc serves them measurably faster
/// than glibc's allocator (see bench/RESULTS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "lucarne",
    version,
    about = "Privacy-first analytics that measures dark social"
)]
struct Cli {
    /// TOML configuration file (flags and LUCARNE_* variables take precedence).
    #[arg(long, global = true, env = "LUCARNE_CONFIG")]
    config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, env = "LUCARNE_LOG_FORMAT", value_enum)]
    log_format: Option<LogFormat>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone, Default)]
struct DataArg {
    /// Data directory (the ingest spool, and the embedded events and metadata stores).
    #[arg(long, env = "LUCARNE_DATA")]
    data: Option<PathBuf>,
    /// Events back end: `duckdb` (the default, in the data directory) or
    /// `clickhouse://[user[:password]@]host:port[,host:port…]/database[?cluster=NAME]`.
    #[arg(long, env = "LUCARNE_EVENTS")]
    events: Option<String>,
    /// Metadata back end: `sqlite` (the default, in the data directory) or
    /// `postgres://user:password@host:port/database`.
    #[arg(long, env = "LUCARNE_META")]
    meta: Option<String>,
    /// This node's name among the nodes sharing a ClickHouse database; stable across
    /// restarts (default: the host name and the data directory).
    #[arg(long, env = "LUCARNE_NODE_ID")]
    node_id: Option<String>,
}

/// Where a command's data lives: the local data directory (always: the spool, and the
/// embedded stores) and the scale-out back ends when configured.
#[derive(Debug, Clone)]
pub struct Backends {
    pub dir: PathBuf,
    /// `clickhouse://…`, or `None` for the embedded DuckDB.
    pub events: Option<String>,
    /// `postgres://…` (or `sqlite://…`), or `None` for the embedded SQLite file.
    pub meta: Option<String>,
    pub node_id: String,
}

impl Backends {
    fn of(arg: &DataArg, file: &FileConfig) -> Backends {
        let dir = data_dir(arg, file);
        let pick = |flag: &Option<String>, conf: &Option<String>, embedded: &str| {
            flag.clone()
                .or_else(|| conf.clone())
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty() && u != embedded)
        };
        let node_id = arg
            .node_id
            .clone()
            .or_else(|| file.node_id.clone())
            .unwrap_or_else(|| default_node_id(&dir));
        Backends {
            events: pick(&arg.events, &file.events, "duckdb"),
            meta: pick(&arg.meta, &file.meta, "sqlite"),
            node_id,
            dir,
        }
    }

    /// Several nodes share the metadata store (it is a server, not a file of this node):
    /// live visits are shared through it.
    pub fn shared(&self) -> bool {
        self.meta
            .as_deref()
            .is_some_and(|m| m.starts_with("postgres://") || m.starts_with("postgresql://"))
    }
}

/// The host name and a short hash of the data directory: stable across restarts, and
/// distinct for two nodes on one host.
fn default_node_id(dir: &Path) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "lucarne".into());
    let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let hash = blake3::hash(path.to_string_lossy().as_bytes()).to_hex();
    format!("{host}-{}", &hash[..8])
}

#[derive(Args, Clone, Default)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "LUCARNE_LISTEN")]
    listen: Option<String>,
    #[command(flatten)]
    data: DataArg,
    /// Proxy networks whose X-Forwarded-For is trusted (repeat or comma-separate).
    #[arg(
        long = "trusted-proxy",
        env = "LUCARNE_TRUSTED_PROXIES",
        value_delimiter = ','
    )]
    trusted_proxies: Vec<String>,
    /// Header carrying the visitor's ISO country, set by a trusted CDN (e.g. CF-IPCountry).
    #[arg(long, env = "LUCARNE_COUNTRY_HEADER")]
    country_header: Option<String>,
    /// MaxMind-format country database (GeoLite2-Country.mmdb).
    #[arg(long, env = "LUCARNE_GEOIP")]
    geoip: Option<PathBuf>,
    /// Extra classification rules (TOML), added to the built-in tables.
    #[arg(long = "rules", env = "LUCARNE_RULES", value_delimiter = ',')]
    rules: Vec<PathBuf>,
    /// Submissions that may wait for the writer before new events get 503.
    #[arg(long, env = "LUCARNE_QUEUE_CAPACITY")]
    queue_capacity: Option<usize>,
    #[command(flatten)]
    links: LinkOpts,
    #[command(flatten)]
    conn: ConnOpts,
    #[command(flatten)]
    fair: FairOpts,
    #[command(flatten)]
    mail: MailOpts,
    #[command(flatten)]
    ops: OpsOpts,
}

/// Operating the server: who reads `/metrics`, and when it is ready.
#[derive(Args, Clone, Default)]
struct OpsOpts {
    /// Require `Authorization: Bearer TOKEN` on `/metrics` (otherwise anyone who reaches
    /// the server can read it).
    #[arg(long, env = "LUCARNE_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Serve `/metrics` on this address only (e.g. a private 10.0.0.5:9100), not on the
    /// main listener.
    #[arg(long, env = "LUCARNE_METRICS_LISTEN")]
    metrics_listen: Option<String>,
    /// Free space (MiB) the data directory needs: below it, `/api/ready` answers 503.
    #[arg(long, env = "LUCARNE_MIN_FREE_DISK_MIB")]
    min_free_disk_mib: Option<u64>,
}

impl OpsOpts {
    fn metrics_token(&self, file: &FileConfig) -> Result<Option<String>> {
        match self
            .metrics_token
            .clone()
            .or_else(|| file.metrics_token.clone())
        {
            Some(t) if t.trim().len() < 16 => {
                anyhow::bail!("the metrics token must have at least 16 characters")
            }
            t => Ok(t.map(|t| t.trim().to_string())),
        }
    }

    fn metrics_listen(&self, file: &FileConfig) -> Option<String> {
        self.metrics_listen
            .clone()
            .or_else(|| file.metrics_listen.clone())
            .filter(|a| !a.trim().is_empty())
    }

    fn min_free_disk_bytes(&self, file: &FileConfig) -> Option<u64> {
        self.min_free_disk_mib
            .or(file.min_free_disk_mib)
            .map(|m| m.saturating_mul(1 << 20))
    }
}

/// Outgoing e-mail (team invitations).
#[derive(Args, Clone, Default)]
struct MailOpts {
    /// SMTP server for invitations: smtp://user:pass@host:587?tls=required,
    /// smtps://user:pass@host:465, or smtp://host:25 (no TLS). Without it, invitation
    /// links are only shown to whoever invites.
    #[arg(long, env = "LUCARNE_SMTP_URL")]
    smtp_url: Option<String>,
    /// Sender of Lucarne's e-mail ("Lucarne <stats@example.com>"); needed with --smtp-url.
    #[arg(long, env = "LUCARNE_MAIL_FROM")]
    mail_from: Option<String>,
    /// Seconds between notification rounds (alerts, digests, webhook calls), 1 to 3600
    /// [default: 60].
    #[arg(long, env = "LUCARNE_NOTIFY_INTERVAL")]
    notify_interval: Option<u64>,
}

impl MailOpts {
    /// Flag or environment, else the file, else `notify::EVERY`.
    fn notify_every(&self, file: &FileConfig) -> Result<Option<std::time::Duration>> {
        match self.notify_interval.or(file.notify_interval) {
            None => Ok(None),
            Some(s) if (1..=3600).contains(&s) => Ok(Some(std::time::Duration::from_secs(s))),
            Some(_) => anyhow::bail!("notify_interval must be between 1 and 3600 seconds"),
        }
    }

    /// Flag or environment, else the file; SMTP without a sender is a start-up error.
    fn mailer(&self, file: &FileConfig) -> Result<Option<lucarne_server::mail::Mailer>> {
        let url = self.smtp_url.clone().or_else(|| file.smtp_url.clone());
        let from = self.mail_from.clone().or_else(|| file.mail_from.clone());
        match (url, from) {
            (None, _) => Ok(None),
            (Some(_), None) => {
                anyhow::bail!(
                    "--smtp-url needs --mail-from (LUCARNE_MAIL_FROM), the sender's address"
                )
            }
            (Some(u), Some(f)) => Ok(Some(
                lucarne_server::mail::Mailer::new(&u, &f).map_err(|e| anyhow::anyhow!("{e}"))?,
            )),
        }
    }
}

/// Fair shares and memory (see README "Security and limits").
#[derive(Args, Clone, Default)]
struct FairOpts {
    /// Events a second one site may send (ingest and recorded short-link events; bursts
    /// of twice that); 0 turns the limit off [default: 10000].
    #[arg(long, env = "LUCARNE_SITE_RATE_LIMIT")]
    site_rate_limit: Option<f64>,
    /// Events a second one client address may send (ingest, recorded short-link events,
    /// /og/; bursts of twice that); 0 turns the limit off [default: 100].
    #[arg(long, env = "LUCARNE_CLIENT_RATE_LIMIT")]
    client_rate_limit: Option<f64>,
    /// MiB for the in-memory caches: two thirds live visits, one third share tokens
    /// [default: 384].
    #[arg(long, env = "LUCARNE_CACHE_MEMORY_MIB")]
    cache_memory_mib: Option<usize>,
    /// MiB of acknowledged events waiting for the events store in memory; past it new
    /// events get 503 until the store catches up [default: 256].
    #[arg(long, env = "LUCARNE_BACKLOG_MEMORY_MIB")]
    backlog_memory_mib: Option<usize>,
}

impl FairOpts {
    /// Flag or environment, else the file, else the default.
    fn limits(&self, file: &FileConfig) -> Result<lucarne_server::limits::Limits> {
        use lucarne_server::limits::{Limits, Rate};
        let defaults = Limits::default();
        let rate = |flag: Option<f64>, from_file: Option<f64>, name: &str, default: Rate| match flag
            .or(from_file)
        {
            None => Ok(default),
            Some(r) if !r.is_finite() || r < 0.0 || (r > 0.0 && !(0.001..=1e9).contains(&r)) => {
                Err(anyhow::anyhow!(
                    "{name} must be 0 (off) or between 0.001 and 1,000,000,000 a second"
                ))
            }
            Some(0.0) => Ok(Rate::off()),
            Some(r) => Ok(Rate::per_second(r)),
        };
        Ok(Limits {
            site: rate(
                self.site_rate_limit,
                file.site_rate_limit,
                "site_rate_limit",
                defaults.site,
            )?,
            client: rate(
                self.client_rate_limit,
                file.client_rate_limit,
                "client_rate_limit",
                defaults.client,
            )?,
        })
    }

    fn backlog_bytes(&self, file: &FileConfig) -> Result<Option<usize>> {
        match self.backlog_memory_mib.or(file.backlog_memory_mib) {
            None => Ok(None),
            Some(m) if m < 8 => anyhow::bail!("backlog_memory_mib must be at least 8"),
            Some(m) => Ok(Some(m << 20)),
        }
    }

    fn cache_bytes(&self, file: &FileConfig) -> Result<Option<usize>> {
        match self.cache_memory_mib.or(file.cache_memory_mib) {
            None => Ok(None),
            Some(m) if m < 8 => anyhow::bail!("cache_memory_mib must be at least 8"),
            Some(m) => Ok(Some(m << 20)),
        }
    }
}

/// Connection limits (see `lucarne_server::net::ConnLimits` for the defaults and why).
#[derive(Args, Clone, Default)]
struct ConnOpts {
    /// Seconds a client has to send a complete request head [default: 10].
    #[arg(long, env = "LUCARNE_HEADER_TIMEOUT_SECS")]
    header_timeout_secs: Option<u64>,
    /// Seconds a kept-alive connection may stay idle between requests [default: 60].
    #[arg(long, env = "LUCARNE_IDLE_TIMEOUT_SECS")]
    idle_timeout_secs: Option<u64>,
    /// Seconds a client has to send a whole request body [default: 30].
    #[arg(long, env = "LUCARNE_BODY_TIMEOUT_SECS")]
    body_timeout_secs: Option<u64>,
    /// Open connections at most; beyond, new ones wait to be accepted [default: 10000,
    /// lowered to fit the open-file limit].
    #[arg(long, env = "LUCARNE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
}

impl ConnOpts {
    /// Flag or environment, else the file, else the default; zero is refused.
    fn limits(&self, file: &FileConfig) -> Result<lucarne_server::net::ConnLimits> {
        use lucarne_server::net::ConnLimits;
        use std::time::Duration;
        let secs =
            |flag: Option<u64>, from_file: Option<u64>, name: &str, default: Duration| match flag
                .or(from_file)
            {
                None => Ok(default),
                Some(0) => Err(anyhow::anyhow!("{name} must be at least 1 (second)")),
                Some(s) if s > 86_400 => {
                    Err(anyhow::anyhow!("{name} must be at most 86400 (a day)"))
                }
                Some(s) => Ok(Duration::from_secs(s)),
            };
        let max_connections = match self.max_connections.or(file.max_connections) {
            None => ConnLimits::DEFAULT_MAX_CONNECTIONS,
            Some(0) => anyhow::bail!("max_connections must be at least 1"),
            Some(n) => n,
        };
        Ok(ConnLimits {
            header_read_timeout: secs(
                self.header_timeout_secs,
                file.header_timeout_secs,
                "header_timeout_secs",
                ConnLimits::DEFAULT_HEADER_READ_TIMEOUT,
            )?,
            idle_timeout: secs(
                self.idle_timeout_secs,
                file.idle_timeout_secs,
                "idle_timeout_secs",
                ConnLimits::DEFAULT_IDLE_TIMEOUT,
            )?,
            body_timeout: secs(
                self.body_timeout_secs,
                file.body_timeout_secs,
                "body_timeout_secs",
                ConnLimits::DEFAULT_BODY_TIMEOUT,
            )?,
            max_connections,
        })
    }
}

#[derive(Args, Clone, Default)]
struct LinkOpts {
    /// The address Lucarne is reached at from outside (https://stats.example.com), used in
    /// short links and QR codes.
    #[arg(long, env = "LUCARNE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Let short links point to loopback and private-network addresses (an intranet), and
    /// preview cards fetch a site's pages there.
    #[arg(long, env = "LUCARNE_ALLOW_PRIVATE_LINK_TARGETS")]
    allow_private_link_targets: bool,
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Validate the configuration `serve` would run with (the same flags and variables)
    /// and print every setting, its effective value and its source; secrets are masked.
    Check(ServeArgs),
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Run the server with a demo site full of synthetic traffic, and live events.
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// Days of history to generate.
        #[arg(long, default_value_t = 180)]
        days: u32,
    },
    /// Check a configuration (file, LUCARNE_* variables, flags) without starting.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Manage sites.
    Site {
        #[command(subcommand)]
        cmd: SiteCmd,
    },
    /// Manage stats API keys.
    Key {
        #[command(subcommand)]
        cmd: KeyCmd,
    },
    /// Manage dashboard accounts.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Manage tracked short links.
    Link {
        #[command(subcommand)]
        cmd: LinkCmd,
    },
    /// Manage conversion goals (custom events or pages that count as conversions).
    Goal {
        #[command(subcommand)]
        cmd: GoalCmd,
    },
    /// Saved funnels: ordered steps (pages or events) whose drop-off the Funnels tab and
    /// `/api/v1/stats/funnel` report.
    Funnel {
        #[command(subcommand)]
        cmd: FunnelCmd,
    },
    /// E-mail subscriptions of a site's members: weekly and monthly digests, alerts.
    Notify {
        #[command(subcommand)]
        cmd: NotifyCmd,
    },
    /// Bring history from another tool: Plausible's CSV export (kept apart from events,
    /// counted for the days before the site's own first event).
    Import {
        #[command(subcommand)]
        cmd: ImportCmd,
    },
    /// Import link previews (and optionally pageviews) from an nginx/Apache combined
    /// access log, plain or gzip-compressed. Run it with the server stopped.
    ImportLog {
        /// The access log file (combined format; .gz detected by its first bytes).
        file: PathBuf,
        /// The site the log belongs to.
        #[arg(long)]
        site: String,
        /// Also record people's pageviews (GET, 2xx, a page rather than a static file, not
        /// a bot). Only for pages the tracker script did not count.
        #[arg(long)]
        pageviews: bool,
        #[command(flatten)]
        data: DataArg,
    },
    /// Move a data directory into ClickHouse (events) and PostgreSQL (metadata).
    ///
    /// Copies the embedded default's stores (DuckDB events, SQLite metadata) into the
    /// back ends several nodes share.
    ///
    /// Stop `lucarne serve` on the directory first. The metadata tables are copied with
    /// their ids, in one transaction, into a new, empty PostgreSQL database (--to-meta);
    /// then every event, in time order, in batches each made durable in a staging spool
    /// (<data>/spool-migrate) before the next, into ClickHouse (--to-events); then the
    /// events of every site are counted on both sides and must be equal. Either target
    /// may be left out. The embedded stores stay as they are.
    ///
    /// Nothing is copied when a target is not fit: a metadata database that already has
    /// sites, users, keys or links, or a ClickHouse database that already holds events of
    /// a site being copied. So after a failure, empty the target that was half-filled
    /// (the metadata copy is all or nothing; the events are not) and run again, without
    /// --to-meta if the metadata was copied.
    ///
    /// Example: lucarne migrate --data /var/lib/lucarne
    ///   --to-events clickhouse://127.0.0.1:8123/lucarne
    ///   --to-meta postgres://lucarne:secret@127.0.0.1:5432/lucarne
    Migrate(migrate::MigrateArgs),
    /// Build the daily rollups reports read, now: every closed day of every site not built
    /// yet, or changed since (late events, imports, retention, a new time zone), newest
    /// first. The server does the same in the background every minute; run this after an
    /// upgrade or a large import to have fast reports at once. An embedded store must not
    /// be open in a running server meanwhile.
    Rollup {
        #[command(flatten)]
        data: DataArg,
    },
    /// Copy the embedded stores (events, metadata) into a new directory, consistently,
    /// while the server runs (it takes the copy) or not.
    Backup {
        /// The directory to create (it must not exist or be empty).
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        data: DataArg,
    },
    /// Make a new data directory from a backup (`lucarne backup`).
    Restore {
        /// The backup's directory.
        from: PathBuf,
        /// The new data directory (it must not exist or be empty).
        #[arg(long, env = "LUCARNE_DATA")]
        data: PathBuf,
    },
    /// Fill the events store with synthetic traffic for a site (benchmarks, trials).
    Generate {
        /// Data directory (the ingest spool, and the embedded events and metadata stores).
        #[arg(long, env = "LUCARNE_DATA")]
        data: Option<PathBuf>,
        /// Events back end (`--events` is the number of events here): `duckdb` (the
        /// default) or `clickhouse://…`.
        #[arg(long = "events-backend", env = "LUCARNE_EVENTS", value_name = "URL")]
        events_backend: Option<String>,
        /// Metadata back end: `sqlite` (the default) or `postgres://…`.
        #[arg(long, env = "LUCARNE_META")]
        meta: Option<String>,
        /// This node's name among the nodes sharing a ClickHouse database.
        #[arg(long, env = "LUCARNE_NODE_ID")]
        node_id: Option<String>,
        /// Site domain (created if missing).
        #[arg(long)]
        site: String,
        /// Number of events to generate, approximately: the days are filled up to now,
        /// so the count stored (printed at the end) differs by a few percent.
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        /// Days of history, ending now.
        #[arg(long, default_value_t = 365)]
        days: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum SiteCmd {
    /// Register a site.
    Add {
        domain: String,
        /// IANA time zone for reports (e.g. Europe/Paris).
        #[arg(long, default_value = "UTC")]
        timezone: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Write every event of a site (all stored columns, oldest first) as CSV, e.g. for a
    /// privacy request; works while the server runs.
    Export {
        domain: String,
        /// The CSV file to create.
        #[arg(long)]
        to: PathBuf,
        #[command(flatten)]
        data: DataArg,
    },
    /// Delete a site and everything it has: events, rollups, links, goals, members,
    /// imports, settings. Works while the server runs. Cannot be undone.
    Delete {
        domain: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        data: DataArg,
    },
    /// List sites.
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Change a site's settings (what is not given stays). A running server applies them
    /// within 30 seconds.
    Set {
        domain: String,
        /// Where share tokens go in links: `fragment` (#lc=, default) or `query` (?lc=).
        #[arg(long, value_parser = ["fragment", "query"])]
        share_param: Option<String>,
        /// Accept copied-text attribution events (`on` / `off`).
        #[arg(long, value_parser = ["on", "off"])]
        copy_attribution: Option<String>,
        /// Honour Do-Not-Track and Global Privacy Control (`on` / `off`).
        #[arg(long, value_parser = ["on", "off"])]
        honour_dnt: Option<String>,
        /// Days of events to keep, or `none` to keep everything.
        #[arg(long)]
        retention_days: Option<String>,
        /// The currency revenue is reported in (ISO 4217 code: EUR, USD, …).
        #[arg(long)]
        currency: Option<String>,
        /// Fixed rates of other currencies into the site's currency, e.g.
        /// "USD=0.92,GBP=1.17" (one US dollar counts as 0.92 of it); "" for none.
        #[arg(long)]
        exchange_rates: Option<String>,
        /// Accept "How did you hear about us?" answers (`on` / `off`).
        #[arg(long, value_parser = ["on", "off"])]
        survey: Option<String>,
        /// The survey's options, in order (ids from data/survey.toml, e.g.
        /// "whatsapp,sms,email,friend,search,other"); "" for the defaults.
        #[arg(long)]
        survey_options: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// Read Plausible's CSV export: the zip from Settings > Imports & Exports, or a
    /// directory of its imported_<table>_<YYYYMMDD>_<YYYYMMDD>.csv files. It can run
    /// while the server runs.
    Plausible {
        /// The site the history belongs to.
        #[arg(long)]
        site: String,
        /// The zip archive, a directory of CSV files, or one CSV file.
        path: PathBuf,
        #[command(flatten)]
        data: DataArg,
    },
    /// List a site's imports: id, source, first and last day, rows, when.
    List {
        #[arg(long)]
        site: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Delete an import by id (its rows go; events are not touched).
    Delete {
        #[arg(long)]
        site: String,
        id: i64,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand)]
enum GoalCmd {
    /// Add a goal: a custom event (--event purchase) or pageviews of a path
    /// (--page /thanks, `*` for any part: /order/*/done).
    Add {
        domain: String,
        #[command(flatten)]
        target: GoalTarget,
        /// Display name (default: the event name or path).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        data: DataArg,
    },
    /// List a site's goals: id, kind, event name or path, display name.
    List {
        domain: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Delete a goal by id (past events stay; only the goal goes).
    Delete {
        domain: String,
        id: i64,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand)]
enum FunnelCmd {
    /// Save a funnel: its name and its steps, `page:/pricing|page:/checkout/*|event:purchase`
    /// (2 to 8; `*` in a page for any part).
    Add {
        domain: String,
        name: String,
        steps: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// A site's funnels: id, name, steps.
    List {
        domain: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Delete a funnel by id.
    Delete {
        domain: String,
        id: i64,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand)]
enum NotifyCmd {
    /// Subscribe a member of the site (by e-mail address) to `weekly`, `monthly` or
    /// `alerts` e-mails (again: only the language changes).
    Subscribe {
        domain: String,
        email: String,
        kind: String,
        /// `en` or `fr`.
        #[arg(long, default_value = "en")]
        lang: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Stop one kind of e-mail for a member.
    Unsubscribe {
        domain: String,
        email: String,
        kind: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// A site's subscriptions (address, kind, language) and webhooks.
    List {
        domain: String,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Args)]
#[group(required = true, multiple = false)]
struct GoalTarget {
    /// Custom events with this name count (e.g. purchase, signup).
    #[arg(long)]
    event: Option<String>,
    /// Pageviews of paths matching this pattern count (e.g. /thanks, /order/*/done).
    #[arg(long)]
    page: Option<String>,
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create a dashboard account. The password is read from standard input (one line),
    /// or asked for twice when standard input is a terminal.
    Add {
        email: String,
        /// Make the user an owner of this site (repeatable).
        #[arg(long = "owner-of")]
        owner_of: Vec<String>,
        #[command(flatten)]
        data: DataArg,
    },
}

#[derive(Subcommand)]
enum LinkCmd {
    /// Create a short link; the short URL is printed on the last line.
    Create {
        /// Where the link leads (http or https).
        url: String,
        /// Custom slug (default: 7 generated characters).
        #[arg(long)]
        slug: Option<String>,
        /// The channel the link is made for (whatsapp, sms, email, qr-code, …): the
        /// landing visit is attributed to it, and utm_source/utm_medium are filled in.
        #[arg(long)]
        channel: Option<String>,
        /// Campaign name (utm_campaign).
        #[arg(long)]
        campaign: Option<String>,
        /// The site the link belongs to (needed when there are several).
        #[arg(long)]
        site: Option<String>,
        /// A custom short domain routed to this Lucarne.
        #[arg(long)]
        domain: Option<String>,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        links: LinkOpts,
    },
    /// List a site's links.
    List {
        #[arg(long)]
        site: Option<String>,
        #[command(flatten)]
        data: DataArg,
        #[command(flatten)]
        links: LinkOpts,
    },
}

#[derive(Subcommand)]
enum KeyCmd {
    /// Create a stats API key; the key is printed on the last line.
    Create {
        #[arg(long, default_value = "cli")]
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// List keys (prefixes only).
    List {
        #[command(flatten)]
        data: DataArg,
    },
    /// Revoke a key by id.
    Revoke {
        id: i64,
        #[command(flatten)]
        data: DataArg,
    },
}

/// An empty `LUCARNE_*` variable (`LUCARNE_LISTEN=` in an environment file) means
/// unset, not the empty value: removed before the command line is read, so every layer
/// (flag, variable, file, default) sees the same.
fn forget_empty_variables() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(k, v)| k.to_string_lossy().starts_with("LUCARNE_") && v.is_empty())
        .map(|(k, _)| k)
        .collect();
    for k in empty {
        // Still one thread: nothing else reads the environment meanwhile.
        std::env::remove_var(k);
    }
}

fn main() -> Result<()> {
    use clap::{CommandFactory, FromArgMatches};
    forget_empty_variables();
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Command::Config {
        cmd: ConfigCmd::Check(args),
    } = &cli.command
    {
        let check = matches
            .subcommand_matches("config")
            .and_then(|m| m.subcommand_matches("check"));
        return config_check::run(&matches, check, cli.config.as_deref(), cli.log_format, args);
    }
    let file = match &cli.config {
        Some(p) => FileConfig::load(p)?,
        None => FileConfig::default(),
    };
    config::init_logging(
        cli.log_format
            .or(file.log_format)
            .unwrap_or(LogFormat::Text),
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run(cli.command, file))
}

fn data_dir(arg: &DataArg, file: &FileConfig) -> PathBuf {
    arg.data
        .clone()
        .or_else(|| file.data.clone())
        .unwrap_or_else(|| PathBuf::from("./lucarne-data"))
}

async fn open_meta(data: &DataArg, file: &FileConfig) -> Result<MetaStore> {
    open_meta_at(&Backends::of(data, file)).await
}

async fn open_meta_at(b: &Backends) -> Result<MetaStore> {
    match &b.meta {
        Some(url) => MetaStore::connect(url)
            .await
            .with_context(|| format!("opening metadata store {}", redact(url))),
        None => MetaStore::open(&b.dir)
            .await
            .with_context(|| format!("opening metadata store in {}", b.dir.display())),
    }
}

/// A back-end URL without its password, for messages.
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((cred, host)) => {
                let user = cred.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}:…@{host}")
            }
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// The events store the back ends name: ClickHouse (with this node's spool in the data
/// directory) or the embedded DuckDB.
async fn open_events(b: &Backends, capacity: usize) -> Result<Arc<dyn EventStore>> {
    let b = b.clone();
    let events: Arc<dyn EventStore> = match b.events.clone() {
        Some(url) if url.starts_with("clickhouse://") => {
            let spool = b.dir.join("spool-clickhouse");
            let node = b.node_id.clone();
            let store = tokio::task::spawn_blocking(move || {
                lucarne_store::click::ClickEvents::open(&url, &spool, &node, capacity)
            })
            .await?
            .with_context(|| {
                format!(
                    "opening events store {}",
                    redact(b.events.as_deref().unwrap_or(""))
                )
            })?;
            Arc::new(store)
        }
        Some(other) => anyhow::bail!(
            "unknown events back end `{}` (duckdb or clickhouse://…)",
            redact(&other)
        ),
        None => {
            let dir = b.dir.clone();
            let store = tokio::task::spawn_blocking(move || DuckEvents::open(&dir, capacity))
                .await?
                .with_context(|| format!("opening events store in {}", b.dir.display()))?;
            Arc::new(store)
        }
    };
    Ok(events)
}

async fn run(cmd: Command, file: FileConfig) -> Result<()> {
    match cmd {
        Command::Serve(args) => {
            let limits = args.conn.limits(&file)?;
            let s = start(&args, &file).await?;
            lucarne_server::serve_with_metrics(s.listener, s.metrics, s.state, limits).await
        }
        Command::Demo { serve, days } => demo::run(serve, &file, days).await,
        // Answered in `main`, before the file is loaded (it reports a bad file itself).
        Command::Config { .. } => Ok(()),
        Command::Site { cmd } => match cmd {
            SiteCmd::Add {
                domain,
                timezone,
                data,
            } => {
                timezone
                    .parse::<chrono_tz::Tz>()
                    .map_err(|_| anyhow::anyhow!("unknown time zone `{timezone}`"))?;
                let meta = open_meta(&data, &file).await?;
                let site = meta.add_site(&domain, &timezone).await?;
                println!(
                    "site added: {} (id {}, time zone {})",
                    site.domain, site.id, site.timezone
                );
                println!(
                    "snippet: <script defer data-domain=\"{}\" src=\"https://YOUR-LUCARNE-HOST/js/script.js\"></script>",
                    site.domain
                );
                Ok(())
            }
            SiteCmd::Set {
                domain,
                share_param,
                copy_attribution,
                honour_dnt,
                retention_days,
                currency,
                exchange_rates,
                survey,
                survey_options,
                data,
            } => {
                let meta = open_meta(&data, &file).await?;
                let site = link_site(&meta, Some(&domain)).await?;
                let mut o = meta.site_options(site.id).await?;
                if let Some(c) = currency.as_deref() {
                    let c = c.trim().to_ascii_uppercase();
                    if !lucarne_core::conversions::valid_currency(&c) {
                        anyhow::bail!(
                            "--currency: `{}` is not an ISO 4217 code (three letters: EUR, USD, …)",
                            c
                        );
                    }
                    o.currency = c;
                }
                if let Some(r) = exchange_rates.as_deref() {
                    let rates = lucarne_core::conversions::ExchangeRates::parse(r)
                        .map_err(|m| anyhow::anyhow!("--exchange-rates: {m}"))?;
                    if rates.rate(&o.currency).is_some() {
                        anyhow::bail!(
                            "--exchange-rates: {} is the site's own currency, it needs no rate",
                            o.currency
                        );
                    }
                    o.exchange_rates = rates.to_text();
                } else if lucarne_core::conversions::ExchangeRates::parse(&o.exchange_rates)
                    .is_ok_and(|r| r.rate(&o.currency).is_some())
                {
                    eprintln!(
                        "note: the exchange rate of {c} is ignored now that {c} is the site's \
                         currency (set --exchange-rates again to drop it)",
                        c = o.currency
                    );
                }
                if let Some(v) = survey.as_deref() {
                    o.survey_enabled = v == "on";
                }
                if let Some(list) = survey_options.as_deref() {
                    o.survey_options = parse_survey_options(list)?;
                }
                if let Some(p) = share_param.as_deref() {
                    o.share_param_style = lucarne_store::meta::ShareParamStyle::parse(p)
                        .ok_or_else(|| anyhow::anyhow!("--share-param: fragment or query"))?;
                }
                if let Some(v) = copy_attribution.as_deref() {
                    o.copy_attribution = v == "on";
                }
                if let Some(v) = honour_dnt.as_deref() {
                    o.honour_dnt = v == "on";
                }
                if let Some(d) = retention_days.as_deref() {
                    o.retention_days = match d.trim() {
                        "none" => None,
                        n => Some(
                            n.parse::<u32>()
                                .ok()
                                .filter(|n| (1..=36500).contains(n))
                                .ok_or_else(|| {
                                    anyhow::anyhow!("--retention-days: 1 to 36500, or none")
                                })?,
                        ),
                    };
                }
                meta.set_site_options(site.id, &o).await?;
                println!(
                    "{}: share tokens in the {}, copied-text attribution {}, Do-Not-Track {}, retention {}",
                    site.domain,
                    o.share_param_style.as_str(),
                    if o.copy_attribution { "on" } else { "off" },
                    if o.honour_dnt { "honoured" } else { "not honoured" },
                    o.retention_days
                        .map_or("none".to_string(), |d| format!("{d} days")),
                );
                let rules = lucarne_core::survey::SurveyRules::builtin();
                println!(
                    "{}: revenue in {} (exchange rates: {}), survey {} (options: {}{})",
                    site.domain,
                    o.currency,
                    if o.exchange_rates.is_empty() {
                        "none"
                    } else {
                        &o.exchange_rates
                    },
                    if o.survey_enabled { "on" } else { "off" },
                    rules
                        .options_for(&o.survey_options)
                        .iter()
                        .map(|opt| opt.id.as_str())
                        .collect::<Vec<_>>()
                        .join(","),
                    if o.survey_options.is_empty() {
                        ", the defaults"
                    } else {
                        ""
                    },
                );
                Ok(())
            }
            SiteCmd::Export { domain, to, data } => {
                backup::export_site(&Backends::of(&data, &file), &domain, &to).await
            }
            SiteCmd::Delete { domain, yes, data } => {
                if !yes {
                    anyhow::bail!(
                        "this deletes {domain} and all its events, links and goals for good: \
                         add --yes (take a backup first: lucarne backup --to DIR)"
                    );
                }
                backup::delete_site(&Backends::of(&data, &file), &domain).await
            }
            SiteCmd::List { data } => {
                let meta = open_meta(&data, &file).await?;
                for s in meta.sites().await? {
                    println!("{}\t{}\t{}", s.id, s.domain, s.timezone);
                }
                Ok(())
            }
        },
        Command::Key { cmd } => match cmd {
            KeyCmd::Create { name, data } => {
                let meta = open_meta(&data, &file).await?;
                let key = meta.create_api_key(&name).await?;
                println!("API key created ({name}). It is shown only once; use it as: Authorization: Bearer <key>");
                println!("{key}");
                Ok(())
            }
            KeyCmd::List { data } => {
                let meta = open_meta(&data, &file).await?;
                for k in meta.api_keys().await? {
                    let state = if k.revoked { "revoked" } else { "active" };
                    println!(
                        "{}\t{}…\t{}\t{}\t{}",
                        k.id, k.prefix, k.name, k.created_at, state
                    );
                }
                Ok(())
            }
            KeyCmd::Revoke { id, data } => {
                let meta = open_meta(&data, &file).await?;
                if meta.revoke_api_key(id).await? {
                    println!("key {id} revoked");
                    Ok(())
                } else {
                    anyhow::bail!("no active key with id {id}")
                }
            }
        },
        Command::User { cmd } => match cmd {
            UserCmd::Add {
                email,
                owner_of,
                data,
            } => {
                let meta = open_meta(&data, &file).await?;
                let mut sites = Vec::new();
                for d in &owner_of {
                    let domain = lucarne_store::meta::normalise_domain(d)?;
                    let site = meta.site_by_domain(&domain).await?.ok_or_else(|| {
                        anyhow::anyhow!("no site `{domain}` (add it with `lucarne site add`)")
                    })?;
                    sites.push(site);
                }
                let password = read_password()?;
                lucarne_server::web::auth::check_new_password(&password)
                    .map_err(|m| anyhow::anyhow!(m))?;
                let hash = tokio::task::spawn_blocking(move || {
                    lucarne_server::web::auth::hash_password(&password)
                })
                .await?
                .map_err(|_| anyhow::anyhow!("hashing the password failed"))?;
                let user = meta.create_user(&email, &hash, None).await?;
                for site in &sites {
                    meta.set_member(site.id, user.id, lucarne_store::meta::Role::Owner)
                        .await?;
                }
                println!("user added: {} (id {})", user.email, user.id);
                for site in &sites {
                    println!("  owner of {}", site.domain);
                }
                Ok(())
            }
        },
        Command::Link { cmd } => links_cmd(cmd, &file).await,
        Command::Goal { cmd } => goals_cmd(cmd, &file).await,
        Command::Notify { cmd } => notify_cmd(cmd, &file).await,
        Command::Funnel { cmd } => funnel_cmd(cmd, &file).await,
        Command::Import { cmd } => import_cmd(cmd, &file).await,
        Command::ImportLog {
            file: log,
            site,
            pageviews,
            data,
        } => import_log::run(&Backends::of(&data, &file), &file, &log, &site, pageviews).await,
        Command::Migrate(args) => migrate::run(args, &file).await,
        Command::Rollup { data } => rollup(&Backends::of(&data, &file)).await,
        Command::Backup { to, data } => backup::backup(&Backends::of(&data, &file), &to).await,
        Command::Restore { from, data } => backup::restore(&from, &data).await,
        Command::Generate {
            data,
            events_backend,
            meta,
            node_id,
            site,
            events,
            days,
            seed,
        } => {
            // `--events` is the count here, so the back end has a flag of its own.
            let data = DataArg {
                data,
                events: events_backend,
                meta,
                node_id,
            };
            demo::generate(&Backends::of(&data, &file), &site, events, days, seed).await
        }
    }
}

/// `lucarne rollup`: build every pending day, one at a time, with a progress line.
async fn rollup(b: &Backends) -> Result<()> {
    let meta = open_meta_at(b).await?;
    let sites: Vec<(u32, chrono_tz::Tz)> = meta
        .sites()
        .await?
        .into_iter()
        .map(|s| (s.id, s.timezone.parse().unwrap_or(chrono_tz::UTC)))
        .collect();
    meta.close().await;
    let events = open_events(b, lucarne_store::duck::DEFAULT_QUEUE_CAPACITY).await?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_message("rolling up days");
    let started = std::time::Instant::now();
    let mut days = 0;
    loop {
        let ev = events.clone();
        let s = sites.clone();
        let n = tokio::task::spawn_blocking(move || ev.maintain_rollups(&s, 1))
            .await?
            .context("building a day's rollups")?;
        if n == 0 {
            break;
        }
        days += n;
        bar.set_message(format!("{days} days rolled up"));
        bar.tick();
    }
    bar.finish_and_clear();
    let ev = events.clone();
    tokio::task::spawn_blocking(move || ev.shutdown()).await?;
    println!(
        "rolled up {days} days of {} sites in {:.1} s",
        sites.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The site a link command is about: `--site`, or the only site there is.
async fn link_site(meta: &MetaStore, site: Option<&str>) -> Result<lucarne_store::meta::Site> {
    match site {
        Some(d) => {
            let domain = lucarne_store::meta::normalise_domain(d)?;
            meta.site_by_domain(&domain)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no site `{domain}`"))
        }
        None => {
            let mut sites = meta.sites().await?;
            match sites.len() {
                1 => Ok(sites.remove(0)),
                0 => anyhow::bail!("no site yet: add one with `lucarne site add DOMAIN`"),
                _ => anyhow::bail!("several sites: say which with --site DOMAIN"),
            }
        }
    }
}

fn public_base(links: &LinkOpts, file: &FileConfig) -> String {
    links
        .public_url
        .clone()
        .or_else(|| file.public_url.clone())
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| {
            format!(
                "http://{}",
                file.listen
                    .clone()
                    .unwrap_or_else(|| "127.0.0.1:8080".into())
            )
        })
}

async fn links_cmd(cmd: LinkCmd, file: &FileConfig) -> Result<()> {
    use lucarne_server::api::links::short_url;
    use lucarne_server::links::input::{build_input, LinkBody};
    match cmd {
        LinkCmd::Create {
            url,
            slug,
            channel,
            campaign,
            site,
            domain,
            data,
            links,
        } => {
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, site.as_deref()).await?;
            let body = LinkBody {
                url: Some(url),
                slug,
                channel,
                campaign,
                domain,
                ..LinkBody::default()
            };
            let allow_private = links.allow_private_link_targets || file.allow_private_link_targets;
            let rules = lucarne_core::rules::Rules::builtin();
            // A refused link is a plain message (`LinkError`'s), never an HTTP shape.
            let mut input = build_input(&rules, allow_private, Default::default(), &body)
                .map_err(|e| anyhow::anyhow!("cannot create the link: {e}"))?;
            let generate = input.slug.is_empty();
            let mut tries = 0;
            let link = loop {
                if generate {
                    input.slug = lucarne_core::links::generated_slug(&rand::random());
                }
                match meta.create_link(site.id, &input).await {
                    Ok(l) => break l,
                    Err(lucarne_store::meta::MetaError::SlugTaken(_)) if generate && tries < 5 => {
                        tries += 1;
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            println!(
                "link {} created for {} → {} (channel: {}, campaign: {})",
                link.id,
                site.domain,
                link.target,
                if link.channel.is_empty() {
                    "none"
                } else {
                    &link.channel
                },
                if link.utm_campaign.is_empty() {
                    "none"
                } else {
                    &link.utm_campaign
                },
            );
            println!("{}", short_url(&public_base(&links, file), &link));
            Ok(())
        }
        LinkCmd::List { site, data, links } => {
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, site.as_deref()).await?;
            let base = public_base(&links, file);
            for l in meta.links(site.id).await? {
                println!(
                    "{}\t{}\t{}\t{}\t{} clicks{}",
                    l.id,
                    short_url(&base, &l),
                    l.target,
                    l.channel,
                    l.clicks,
                    if l.disabled { "\tdisabled" } else { "" }
                );
            }
            Ok(())
        }
    }
}

/// `--survey-options`: comma-separated option ids of `data/survey.toml`, checked, in
/// order, without duplicates; an empty list means the defaults.
fn parse_survey_options(list: &str) -> Result<Vec<String>> {
    let rules = lucarne_core::survey::SurveyRules::builtin();
    let mut ids: Vec<String> = Vec::new();
    for id in list.split(',').map(|s| s.trim().to_ascii_lowercase()) {
        if id.is_empty() || ids.contains(&id) {
            continue;
        }
        if rules.option(&id).is_none() {
            let known: Vec<&str> = rules.all_options().iter().map(|o| o.id.as_str()).collect();
            anyhow::bail!(
                "--survey-options: no survey option `{id}` (known: {})",
                known.join(", ")
            );
        }
        ids.push(id);
    }
    Ok(ids)
}

async fn import_cmd(cmd: ImportCmd, file: &FileConfig) -> Result<()> {
    match cmd {
        ImportCmd::Plausible { site, path, data } => {
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&site)).await?;
            import::plausible(&meta, site.id, &site.domain, &path).await?;
            Ok(())
        }
        ImportCmd::List { site, data } => {
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&site)).await?;
            import::list(&meta, site.id, &site.domain).await
        }
        ImportCmd::Delete { site, id, data } => {
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&site)).await?;
            if !meta.delete_import(site.id, id).await? {
                anyhow::bail!("{} has no import {id}", site.domain);
            }
            println!("import {id} of {} deleted", site.domain);
            Ok(())
        }
    }
}

async fn goals_cmd(cmd: GoalCmd, file: &FileConfig) -> Result<()> {
    use lucarne_core::conversions::GoalKind;
    match cmd {
        GoalCmd::Add {
            domain,
            target,
            name,
            data,
        } => {
            let kind = match (target.event, target.page) {
                (Some(e), _) => {
                    GoalKind::parse("event", &e).map_err(|m| anyhow::anyhow!("--event: {m}"))?
                }
                (None, Some(p)) => {
                    GoalKind::parse("page", &p).map_err(|m| anyhow::anyhow!("--page: {m}"))?
                }
                (None, None) => anyhow::bail!("say what counts: --event NAME or --page PATTERN"),
            };
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&domain)).await?;
            let goal = meta
                .create_goal(site.id, &kind, name.as_deref().unwrap_or(""))
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "{} already has the goal {} `{}`",
                        site.domain,
                        kind.kind_str(),
                        kind.value()
                    )
                })?;
            println!(
                "goal {} added to {}: {} `{}` ({})",
                goal.id,
                site.domain,
                goal.kind.kind_str(),
                goal.kind.value(),
                goal.name
            );
            Ok(())
        }
        GoalCmd::List { domain, data } => {
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&domain)).await?;
            let goals = meta.goals(site.id).await?;
            if goals.is_empty() {
                eprintln!(
                    "{} has no goals yet (add one with `lucarne goal add {} --event NAME`)",
                    site.domain, site.domain
                );
            }
            for g in goals {
                println!(
                    "{}\t{}\t{}\t{}",
                    g.id,
                    g.kind.kind_str(),
                    g.kind.value(),
                    g.name
                );
            }
            Ok(())
        }
        GoalCmd::Delete { domain, id, data } => {
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&domain)).await?;
            if meta.delete_goal(site.id, id).await? {
                println!("goal {id} deleted from {}", site.domain);
                Ok(())
            } else {
                anyhow::bail!("{} has no goal with id {id}", site.domain)
            }
        }
    }
}

async fn funnel_cmd(cmd: FunnelCmd, file: &FileConfig) -> Result<()> {
    match cmd {
        FunnelCmd::Add {
            domain,
            name,
            steps,
            data,
        } => {
            let funnel = lucarne_core::funnel::Funnel::parse_inline(&steps)
                .map_err(|e| anyhow::anyhow!("steps: {e}"))?;
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&domain)).await?;
            let f = meta
                .create_funnel(site.id, &name, &funnel)
                .await?
                .ok_or_else(|| {
                    anyhow::anyhow!("{} already has a funnel named `{name}`", site.domain)
                })?;
            println!(
                "funnel {} added to {}: {} ({})",
                f.id,
                site.domain,
                f.name,
                funnel.inline()
            );
            Ok(())
        }
        FunnelCmd::List { domain, data } => {
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&domain)).await?;
            for f in meta.funnels(site.id).await? {
                println!("{}\t{}\t{}", f.id, f.name, f.funnel.inline());
            }
            Ok(())
        }
        FunnelCmd::Delete { domain, id, data } => {
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&domain)).await?;
            if meta.delete_funnel(site.id, id).await? {
                println!("funnel {id} deleted from {}", site.domain);
                Ok(())
            } else {
                anyhow::bail!("{} has no funnel with id {id}", site.domain)
            }
        }
    }
}

async fn notify_cmd(cmd: NotifyCmd, file: &FileConfig) -> Result<()> {
    use lucarne_store::meta::SubKind;
    let kind_of = |k: &str| {
        SubKind::parse(k).ok_or_else(|| anyhow::anyhow!("`{k}`: say weekly, monthly or alerts"))
    };
    match cmd {
        NotifyCmd::Subscribe {
            domain,
            email,
            kind,
            lang,
            data,
        } => {
            let kind = kind_of(&kind)?;
            if lang != "en" && lang != "fr" {
                anyhow::bail!("--lang: en or fr");
            }
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&domain)).await?;
            let user = meta.user_by_email(&email).await?.ok_or_else(|| {
                anyhow::anyhow!("no account `{email}` (make it with `lucarne user add`)")
            })?;
            if meta.member_role(site.id, user.id).await?.is_none() {
                anyhow::bail!(
                    "{email} has no role on {}: only its members receive e-mails",
                    site.domain
                );
            }
            let s = meta.subscribe(user.id, site.id, kind, &lang).await?;
            println!(
                "{} receives {} e-mails for {} in {} (unsubscribe link token {})",
                s.email,
                kind.as_str(),
                site.domain,
                s.locale,
                s.token
            );
            Ok(())
        }
        NotifyCmd::Unsubscribe {
            domain,
            email,
            kind,
            data,
        } => {
            let kind = kind_of(&kind)?;
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&domain)).await?;
            let user = meta
                .user_by_email(&email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no account `{email}`"))?;
            if meta.unsubscribe(user.id, site.id, kind).await? {
                println!(
                    "{email} no longer receives {} e-mails for {}",
                    kind.as_str(),
                    site.domain
                );
                Ok(())
            } else {
                anyhow::bail!(
                    "{email} had no {} subscription for {}",
                    kind.as_str(),
                    site.domain
                )
            }
        }
        NotifyCmd::List { domain, data } => {
            let meta = open_meta(&data, file).await?;
            let site = link_site(&meta, Some(&domain)).await?;
            for s in meta.site_subscriptions(site.id).await? {
                println!("{}\t{}\t{}", s.email, s.kind.as_str(), s.locale);
            }
            for w in meta.webhooks(site.id).await? {
                println!("webhook {}\t{}\t{}", w.id, w.url, w.events.join(","));
            }
            Ok(())
        }
    }
}

/// A new password: one line from standard input, or typed twice (not echoed) on a terminal.
fn read_password() -> Result<String> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    let read_line = || -> Result<String> {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        Ok(line.trim_end_matches(['\r', '\n']).to_string())
    };
    if !stdin.is_terminal() {
        return read_line();
    }
    // Best effort: hide what is typed.
    let echo = |on: bool| {
        let _ = std::process::Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .stdin(std::process::Stdio::inherit())
            .status();
    };
    echo(false);
    let ask = |prompt: &str| -> Result<String> {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let line = read_line();
        eprintln!();
        line
    };
    let first = ask("Password: ");
    let second = ask("Password again: ");
    echo(true);
    let (first, second) = (first?, second?);
    if first != second {
        anyhow::bail!("the two passwords differ");
    }
    Ok(first)
}

/// Open the stores, build the state and bind the listener.
/// Connections waiting to be accepted at most (the kernel may cap it lower, at
/// `net.core.somaxconn`): at the connection cap, new clients wait here rather than have
/// their connection attempts dropped (std's listener asks for 128).
const LISTEN_BACKLOG: u32 = 1024;

/// Listen on `addr` (the first address it resolves to) with [`LISTEN_BACKLOG`].
async fn bind(addr: &str) -> Result<tokio::net::TcpListener> {
    let sock_addr = tokio::net::lookup_host(addr)
        .await?
        .next()
        .ok_or_else(|| anyhow::anyhow!("`{addr}` resolves to no address"))?;
    let socket = if sock_addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(sock_addr)?;
    Ok(socket.listen(LISTEN_BACKLOG)?)
}

/// A server ready to run: its listener, `/metrics`' own listener if configured, its state.
struct Started {
    listener: tokio::net::TcpListener,
    metrics: Option<tokio::net::TcpListener>,
    state: Arc<AppState>,
}

async fn start(args: &ServeArgs, file: &FileConfig) -> Result<Started> {
    let backends = Backends::of(&args.data, file);
    let metrics_listen = args.ops.metrics_listen(file);
    let listen = args
        .listen
        .clone()
        .or_else(|| file.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let options = ServerOptions {
        trusted_proxies: config::parse_networks(if args.trusted_proxies.is_empty() {
            &file.trusted_proxies
        } else {
            &args.trusted_proxies
        })?,
        country_header: args
            .country_header
            .clone()
            .or_else(|| file.country_header.clone()),
        geoip: args.geoip.clone().or_else(|| file.geoip.clone()),
        rules_files: if args.rules.is_empty() {
            file.rules.clone()
        } else {
            args.rules.clone()
        },
        allow_private_link_targets: args.links.allow_private_link_targets
            || file.allow_private_link_targets,
        public_url: args
            .links
            .public_url
            .clone()
            .or_else(|| file.public_url.clone()),
        mailer: args.mail.mailer(file)?,
        notify_every: args.mail.notify_every(file)?,
        shared_visits: false,
        limits: args.fair.limits(file)?,
        cache_bytes: args.fair.cache_bytes(file)?,
        backlog_bytes: args.fair.backlog_bytes(file)?,
        data_dir: Some(backends.dir.clone()),
        min_free_disk_bytes: args.ops.min_free_disk_bytes(file),
        metrics_access: lucarne_server::state::MetricsAccess {
            token: args.ops.metrics_token(file)?,
            separate_listener: metrics_listen.is_some(),
        },
        card_fetch: Default::default(),
    };
    let capacity = args
        .queue_capacity
        .or(file.queue_capacity)
        .unwrap_or(lucarne_store::duck::DEFAULT_QUEUE_CAPACITY);
    let state = open_state(&backends, capacity, &options).await?;
    let listener = bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let metrics = match &metrics_listen {
        Some(a) => Some(
            bind(a)
                .await
                .with_context(|| format!("binding the metrics address {a}"))?,
        ),
        None => None,
    };
    Ok(Started {
        listener,
        metrics,
        state,
    })
}

async fn open_state(
    b: &Backends,
    capacity: usize,
    options: &ServerOptions,
) -> Result<Arc<AppState>> {
    let meta = open_meta_at(b).await?;
    let events = open_events(b, capacity).await?;
    let options = ServerOptions {
        shared_visits: options.shared_visits || b.shared(),
        ..options.clone()
    };
    AppState::new(events, meta, &options).await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand's flags are consistent (no two arguments with one name: the
    /// shared `--events`/`--meta` back-end flags once clashed with `generate --events N`,
    /// which made clap panic at run time).
    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// Rate limits and cache memory: flag (or env) over the file over the defaults.
    #[test]
    fn fair_shares_flag_then_file_then_default() {
        use lucarne_server::limits::{Limits, Rate};
        let file: super::FileConfig =
            toml::from_str("site_rate_limit = 500\nclient_rate_limit = 0\ncache_memory_mib = 64")
                .unwrap();
        let flags = super::FairOpts {
            site_rate_limit: Some(50.0),
            ..Default::default()
        };
        let l = flags.limits(&file).unwrap();
        assert_eq!(l.site, Rate::per_second(50.0));
        assert_eq!(l.client, Rate::off());
        assert_eq!(flags.cache_bytes(&file).unwrap(), Some(64 << 20));
        assert_eq!(flags.backlog_bytes(&file).unwrap(), None);
        let small: super::FileConfig = toml::from_str("backlog_memory_mib = 4").unwrap();
        assert!(super::FairOpts::default().backlog_bytes(&small).is_err());
        let none = super::FileConfig::default();
        assert_eq!(
            super::FairOpts::default().limits(&none).unwrap(),
            Limits::default()
        );
        assert_eq!(super::FairOpts::default().cache_bytes(&none).unwrap(), None);
        let bad: super::FileConfig = toml::from_str("site_rate_limit = -1").unwrap();
        assert!(super::FairOpts::default().limits(&bad).is_err());
    }

    /// The notification interval: flag (or env) over the file; outside 1–3600 s refused.
    #[test]
    fn notify_interval_flag_then_file_within_bounds() {
        use std::time::Duration;
        let file: super::FileConfig = toml::from_str("notify_interval = 300").unwrap();
        let none = super::MailOpts::default();
        assert_eq!(
            none.notify_every(&file).unwrap(),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            none.notify_every(&super::FileConfig::default()).unwrap(),
            None
        );
        let flag = super::MailOpts {
            notify_interval: Some(1),
            ..Default::default()
        };
        assert_eq!(
            flag.notify_every(&file).unwrap(),
            Some(Duration::from_secs(1))
        );
        for bad in [0, 3601] {
            let o = super::MailOpts {
                notify_interval: Some(bad),
                ..Default::default()
            };
            assert!(o.notify_every(&file).is_err(), "{bad}");
        }
    }

    /// Connection limits: flag (or env) over the file over the defaults; zero refused.
    #[test]
    fn connection_limits_flag_then_file_then_default() {
        use lucarne_server::net::ConnLimits;
        use std::time::Duration;
        let file: super::FileConfig =
            toml::from_str("header_timeout_secs = 5\nmax_connections = 100").unwrap();
        let flags = super::ConnOpts {
            header_timeout_secs: Some(3),
            idle_timeout_secs: Some(7),
            ..Default::default()
        };
        let limits = flags.limits(&file).unwrap();
        assert_eq!(limits.header_read_timeout, Duration::from_secs(3));
        assert_eq!(limits.idle_timeout, Duration::from_secs(7));
        assert_eq!(limits.body_timeout, ConnLimits::DEFAULT_BODY_TIMEOUT);
        assert_eq!(limits.max_connections, 100);
        let defaults = super::ConnOpts::default()
            .limits(&super::FileConfig::default())
            .unwrap();
        assert_eq!(defaults, ConnLimits::default());
        let zero: super::FileConfig = toml::from_str("body_timeout_secs = 0").unwrap();
        assert!(super::ConnOpts::default().limits(&zero).is_err());
    }
}
