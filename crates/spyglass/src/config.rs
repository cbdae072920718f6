//! Configuration, declared once: this struct (with its defaults) is what the TOML file, the
//! `SPYGLASS_*` environment and the command line all set, in that order of precedence
//! (command line wins). `spyglass.example.toml` documents every key; a test parses it.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use spyglass_alerts::AlertsConfig;
use spyglass_archive::ArchiveConfig;
use spyglass_engine::cost::CostConfig;
use spyglass_engine::guard::GuardPolicy;
use spyglass_engine::loops::LoopConfig;
use spyglass_engine::security::SecurityConfig;
use spyglass_engine::tools::ToolsConfig;
use spyglass_forward::ForwardConfig;
use spyglass_ingest::Limits;
use spyglass_queue::QueueConfig;
use spyglass_receiver::tls::TlsFiles;
use spyglass_store::RetentionConfig;
use spyglass_store::clickhouse::ClickHouseConfig;
use spyglass_store::duckdb::DuckDbConfig;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded store keeps its files.
    pub data_dir: PathBuf,
    /// OTLP/gRPC listener.
    pub otlp_grpc_addr: SocketAddr,
    /// OTLP/HTTP listener.
    pub otlp_http_addr: SocketAddr,
    /// API and dashboard listener.
    pub http_addr: SocketAddr,
    /// Largest OTLP request accepted, compressed or not, in bytes.
    pub max_request_bytes: usize,
    /// Decoded request bytes allowed between admission and commit; beyond it OTLP clients get
    /// 503/UNAVAILABLE with a retry delay.
    pub max_in_flight_bytes: usize,
    /// Live WebSocket subscribers at once; beyond it `/api/v1/live` answers 503.
    pub max_live_subscribers: usize,
    /// Committed batches a live subscriber (or the forwarder) may fall behind before it skips
    /// ahead; bounds what one stalled reader holds in memory.
    pub live_backlog_batches: usize,
    /// Origins allowed to call the API from a browser (CORS), e.g. `https://app.example`, or
    /// `*`; empty keeps the same-origin rule.
    pub cors_allowed_origins: Vec<String>,
    /// Log format: "text" or "json".
    pub log_format: String,
    /// What this process runs: everything, or one scale-out role (docs/self-hosting.md).
    pub role: Role,
    pub limits: Limits,
    pub store: StoreConfig,
    /// The Redis Streams queue between the ingest and processor roles.
    pub queue: QueueConfig,
    /// Price overrides, custom models and deployment aliases (docs/cost.md).
    pub cost: CostConfig,
    /// Detectors, thresholds and masking of stored spans, per project too (docs/security.md).
    pub security: SecurityConfig,
    /// Loop and runaway detection over each trace (docs/security.md).
    pub loops: LoopConfig,
    /// What the guard endpoint blocks beyond the detectors (docs/security.md).
    pub guard: GuardPolicy,
    /// Alert evaluation, webhook delivery and rules kept in the file (docs/alerts.md).
    pub alerts: AlertsConfig,
    /// Tool categories that win over the classifier (docs/topology.md).
    pub tools: ToolsConfig,
    /// How long each project's data is kept (docs/retention.md).
    pub retention: RetentionConfig,
    /// OTLP backends every accepted span is also sent to, enriched (docs/forwarding.md).
    pub forward: ForwardConfig,
    /// The scheduled archive before retention, and imports (docs/archive.md).
    pub archive: ArchiveConfig,
    /// Certificate and key for TLS on every listener (docs/security-model.md).
    pub tls: TlsFiles,
    /// Projects, API keys, users and sign-in (docs/security-model.md).
    pub auth: spyglass_auth::AuthConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `duckdb` (embedded, in `data_dir`) or `clickhouse` (`[store.clickhouse]`).
    pub backend: StoreBackend,
    pub duckdb: DuckDbConfig,
    pub clickhouse: ClickHouseConfig,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreBackend {
    #[default]
    Duckdb,
    Clickhouse,
}

impl StoreConfig {
    /// `--store URL`: `duckdb` for the embedded store, or a ClickHouse URL
    /// (`clickhouse://USER:PASSWORD@HOST:8123/DB`, `http(s)://...`).
    pub fn set_url(&mut self, url: &str) -> anyhow::Result<()> {
        if url == "duckdb" || url.starts_with("duckdb:") {
            self.backend = StoreBackend::Duckdb;
            return Ok(());
        }
        let c = ClickHouseConfig {
            url: url.to_string(),
            ..self.clickhouse.clone()
        };
        c.validate().map_err(|e| anyhow::anyhow!("--store: {e}"))?;
        self.backend = StoreBackend::Clickhouse;
        self.clickhouse = c;
        Ok(())
    }
}

/// What one process runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything in one process: receivers, engine, store, API and dashboard.
    #[default]
    All,
    /// OTLP receivers; spans go to the queue (acknowledged once Redis has them).
    Ingest,
    /// Reads the queue, runs the engine, writes the store.
    Processor,
    /// REST API, WebSocket and dashboard over the store; live spans from the queue.
    Api,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("./spyglass-data"),
            otlp_grpc_addr: "127.0.0.1:4317".parse().expect("literal"),
            otlp_http_addr: "127.0.0.1:4318".parse().expect("literal"),
            http_addr: "127.0.0.1:6060".parse().expect("literal"),
            max_request_bytes: 64 * 1024 * 1024,
            max_in_flight_bytes: 512 * 1024 * 1024,
            max_live_subscribers: 256,
            live_backlog_batches: 256,
            cors_allowed_origins: Vec::new(),
            log_format: "text".into(),
            role: Role::All,
            limits: Limits::default(),
            store: StoreConfig::default(),
            queue: QueueConfig::default(),
            cost: CostConfig::default(),
            security: SecurityConfig::default(),
            loops: LoopConfig::default(),
            guard: GuardPolicy::default(),
            alerts: AlertsConfig::default(),
            tools: ToolsConfig::default(),
            retention: RetentionConfig::default(),
            forward: ForwardConfig::default(),
            archive: ArchiveConfig::default(),
            tls: TlsFiles::default(),
            auth: spyglass_auth::AuthConfig::default(),
        }
    }
}

/// Command-line overrides (each also settable as `SPYGLASS_<NAME>` through the environment
/// provider, and in the file).
#[derive(Debug, Clone, Default, Serialize, clap::Args)]
pub struct Overrides {
    /// Config file (TOML); see spyglass.example.toml.
    #[arg(long, env = "SPYGLASS_CONFIG", global = true)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./spyglass-data]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// OTLP/gRPC address [default: 127.0.0.1:4317]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_grpc_addr: Option<SocketAddr>,
    /// OTLP/HTTP address [default: 127.0.0.1:4318]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_http_addr: Option<SocketAddr>,
    /// API and dashboard address [default: 127.0.0.1:6060]
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_addr: Option<SocketAddr>,
    /// Log format: text or json
    #[arg(long)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    /// What this process runs [default: all]
    #[arg(long, value_enum)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// The store: `duckdb` (embedded, the default) or `clickhouse://USER:PASSWORD@HOST:8123/DB`
    #[arg(
        long = "store",
        env = "SPYGLASS_STORE",
        value_name = "URL",
        hide_env_values = true
    )]
    #[serde(skip)]
    pub store_url: Option<String>,
    /// The scale-out queue: `redis://HOST:6379` (the ingest, processor and api roles)
    #[arg(
        long = "queue",
        env = "SPYGLASS_QUEUE",
        value_name = "URL",
        hide_env_values = true
    )]
    #[serde(skip)]
    pub queue_url: Option<String>,
}

/// The top-level keys of [`Config`], for the environment provider.
const TOP_LEVEL_KEYS: &[&str] = &[
    "data_dir",
    "otlp_grpc_addr",
    "otlp_http_addr",
    "http_addr",
    "max_request_bytes",
    "max_in_flight_bytes",
    "max_live_subscribers",
    "live_backlog_batches",
    "cors_allowed_origins",
    "log_format",
    "role",
    "limits",
    "queue",
    "auth",
    "alerts",
    "tools",
    "retention",
    "forward",
    "archive",
    "tls",
    "store",
    "cost",
    "security",
    "loops",
    "guard",
];

impl Config {
    /// Defaults, then the file, then `SPYGLASS_*` variables (nested keys with `__`, e.g.
    /// `SPYGLASS_STORE__DUCKDB__MEMORY_LIMIT`), then the command line.
    pub fn load(overrides: &Overrides) -> anyhow::Result<Config> {
        let mut cfg: Config = Self::figment(overrides.config.as_deref(), overrides)
            .extract()
            .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        if let Some(url) = &overrides.store_url {
            cfg.store.set_url(url)?;
        }
        if let Some(url) = &overrides.queue_url {
            cfg.queue.url = url.clone();
        }
        // Kept out of the URL, the command line and the config file.
        if let Ok(p) = std::env::var("SPYGLASS_CLICKHOUSE_PASSWORD") {
            cfg.store.clickhouse.password = Some(p);
        }
        Ok(cfg)
    }

    fn figment(file: Option<&Path>, overrides: &Overrides) -> Figment {
        let mut f = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            f = f.merge(Toml::file_exact(path));
        }
        // Only variables naming a config key: SPYGLASS_URL, SPYGLASS_LOG and friends belong to
        // other parts of the program and must not trip `deny_unknown_fields`.
        let env = Env::prefixed("SPYGLASS_")
            .filter(|k| {
                let k = k.as_str().to_ascii_lowercase();
                // SPYGLASS_STORE and SPYGLASS_QUEUE are URLs (`--store`, `--queue`), not the
                // tables of those names.
                TOP_LEVEL_KEYS.iter().any(|t| {
                    (k == *t && !matches!(*t, "store" | "queue"))
                        || k.starts_with(&format!("{t}__"))
                })
            })
            .split("__");
        f.merge(env).merge(Serialized::defaults(overrides))
    }
}

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment's Jail closure type fixes the error type"
)]
mod tests {
    use super::*;

    #[test]
    fn example_config_parses_and_documents_every_default() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spyglass.example.toml");
        let text = std::fs::read_to_string(&path).expect("spyglass.example.toml exists");
        let parsed: Config = toml::from_str(&text).expect("example config parses");
        // The example sets every key to its default, so it is the documentation of defaults.
        assert_eq!(parsed, Config::default());
        // And every key of the config appears in it.
        let defaults = toml::to_string(&Config::default()).unwrap();
        let example: toml::Table = toml::from_str(&text).unwrap();
        let all: toml::Table = toml::from_str(&defaults).unwrap();
        fn keys(t: &toml::Table, prefix: &str, out: &mut Vec<String>) {
            for (k, v) in t {
                let name = format!("{prefix}{k}");
                match v {
                    toml::Value::Table(inner) => keys(inner, &format!("{name}."), out),
                    _ => out.push(name),
                }
            }
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        keys(&all, "", &mut a);
        keys(&example, "", &mut b);
        a.sort();
        b.sort();
        assert_eq!(
            a, b,
            "spyglass.example.toml must list exactly the config keys"
        );
    }

    #[test]
    fn precedence_file_env_cli() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "http_addr = \"127.0.0.1:7000\"\n[store.duckdb]\nreaders = 2\n",
            )?;
            jail.set_env("SPYGLASS_DATA_DIR", "/tmp/from-env");
            jail.set_env("SPYGLASS_STORE__DUCKDB__MEMORY_LIMIT", "1GB");
            let o = Overrides {
                config: Some("c.toml".into()),
                otlp_http_addr: Some("127.0.0.1:9999".parse().unwrap()),
                ..Default::default()
            };
            let c = Config::load(&o).unwrap();
            assert_eq!(c.http_addr.port(), 7000);
            assert_eq!(c.store.duckdb.readers, 2);
            assert_eq!(c.data_dir, PathBuf::from("/tmp/from-env"));
            assert_eq!(c.store.duckdb.memory_limit, "1GB");
            assert_eq!(c.otlp_http_addr.port(), 9999);
            Ok(())
        });
    }

    #[test]
    fn roles_store_and_queue_from_the_environment_and_flags() {
        figment::Jail::expect_with(|jail| {
            // What deploy/ sets: the URLs are not the [store] and [queue] tables.
            jail.set_env("SPYGLASS_ROLE", "processor");
            jail.set_env("SPYGLASS_STORE", "clickhouse://sg@ch:8123/spyglass");
            jail.set_env("SPYGLASS_QUEUE", "redis://redis:6379");
            jail.set_env("SPYGLASS_QUEUE__PARTITIONS", "8");
            jail.set_env("SPYGLASS_CLICKHOUSE_PASSWORD", "pw");
            let o = Overrides {
                store_url: Some("clickhouse://sg@ch:8123/spyglass".into()),
                queue_url: Some("redis://redis:6379".into()),
                ..Default::default()
            };
            let c = Config::load(&o).unwrap();
            assert_eq!(c.role, Role::Processor);
            assert_eq!(c.store.backend, StoreBackend::Clickhouse);
            assert_eq!(c.store.clickhouse.url, "clickhouse://sg@ch:8123/spyglass");
            assert_eq!(c.store.clickhouse.password.as_deref(), Some("pw"));
            assert_eq!(
                (c.queue.url.as_str(), c.queue.partitions),
                ("redis://redis:6379", 8)
            );
            let bad = Overrides {
                store_url: Some("postgres://x".into()),
                ..Default::default()
            };
            let e = Config::load(&bad).unwrap_err().to_string();
            assert!(e.contains("--store") && e.contains("unknown scheme"), "{e}");
            Ok(())
        });
        let mut s = StoreConfig::default();
        s.set_url("duckdb").unwrap();
        assert_eq!(s.backend, StoreBackend::Duckdb);
    }

    #[test]
    fn top_level_keys_list_is_complete() {
        let all: toml::Table =
            toml::from_str(&toml::to_string(&Config::default()).unwrap()).unwrap();
        let mut keys: Vec<&str> = all.keys().map(String::as_str).collect();
        keys.sort();
        let mut listed = TOP_LEVEL_KEYS.to_vec();
        listed.sort();
        assert_eq!(keys, listed);
    }

    #[test]
    fn unknown_keys_are_errors() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "htp_addr = \"x\"\n")?;
            let o = Overrides {
                config: Some("bad.toml".into()),
                ..Default::default()
            };
            let e = Config::load(&o).unwrap_err().to_string();
            assert!(e.contains("htp_addr"), "{e}");
            Ok(())
        });
    }
}
