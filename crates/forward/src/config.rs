//! The `[forward]` table of the config file: the OTLP backends every accepted span is sent on
//! to, and how (docs/forwarding.md).

use crate::error::ForwardError;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForwardConfig {
    /// How long shutdown waits for queued spans to be sent; what is left then is dropped.
    pub shutdown_timeout_ms: u64,
    /// `[[forward.exporters]]`, any number; none turns forwarding off.
    pub exporters: Vec<ExporterConfig>,
}

impl Default for ForwardConfig {
    fn default() -> Self {
        ForwardConfig {
            shutdown_timeout_ms: 5000,
            exporters: Vec::new(),
        }
    }
}

/// The OTLP transport of an exporter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// OTLP/gRPC (`TraceService/Export`).
    #[default]
    Grpc,
    /// OTLP/HTTP with protobuf bodies.
    Http,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// A PEM file of CA certificates trusted besides the system's, for a private CA.
    pub ca_file: Option<PathBuf>,
}

/// One backend. `Debug` prints header names only: their values are usually credentials.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExporterConfig {
    /// Names the exporter in metrics and logs; unique.
    pub name: String,
    /// `http://host:4317` for gRPC, `http://host:4318/v1/traces` for HTTP (a bare
    /// `http://host:4318` gets `/v1/traces`); `https://` uses TLS.
    pub endpoint: String,
    pub protocol: Protocol,
    pub compression: Compression,
    /// Sent with every request (API keys, tenant ids).
    pub headers: BTreeMap<String, String>,
    pub tls: TlsConfig,
    /// Per attempt, connecting included.
    pub timeout_ms: u64,
    /// Spans per request at most.
    pub batch_max_spans: usize,
    /// Requests sent at once; more hide a distant backend's round trip.
    pub max_concurrent_requests: usize,
    /// How long the first queued span waits for a request to fill up.
    pub batch_timeout_ms: u64,
    /// Spans waiting to be sent at most; beyond it new spans are dropped and counted.
    pub queue_max_spans: usize,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; doubles per attempt.
    pub initial_backoff_ms: u64,
    /// The longest wait between attempts, also the cap on a backend's Retry-After.
    pub max_backoff_ms: u64,
}

impl Default for ExporterConfig {
    fn default() -> Self {
        ExporterConfig {
            name: String::new(),
            endpoint: String::new(),
            protocol: Protocol::Grpc,
            compression: Compression::None,
            headers: BTreeMap::new(),
            tls: TlsConfig::default(),
            timeout_ms: 10_000,
            batch_max_spans: 512,
            max_concurrent_requests: 4,
            batch_timeout_ms: 1000,
            queue_max_spans: 100_000,
            max_attempts: 5,
            initial_backoff_ms: 500,
            max_backoff_ms: 30_000,
        }
    }
}

impl fmt::Debug for ExporterConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExporterConfig")
            .field("name", &self.name)
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("tls", &self.tls)
            .field("timeout_ms", &self.timeout_ms)
            .field("batch_max_spans", &self.batch_max_spans)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("batch_timeout_ms", &self.batch_timeout_ms)
            .field("queue_max_spans", &self.queue_max_spans)
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff_ms", &self.initial_backoff_ms)
            .field("max_backoff_ms", &self.max_backoff_ms)
            .finish()
    }
}

impl ForwardConfig {
    /// Checks every exporter; the error names the exporter and the key at fault.
    pub fn validate(&self) -> Result<(), ForwardError> {
        let mut names = HashSet::new();
        for (i, e) in self.exporters.iter().enumerate() {
            let fail = |message: String| ForwardError::Config {
                index: i,
                name: e.name.clone(),
                message,
            };
            e.validate().map_err(fail)?;
            if !names.insert(e.name.as_str()) {
                return Err(fail(format!(
                    "name {:?} is used by an earlier exporter; names must be unique",
                    e.name
                )));
            }
        }
        Ok(())
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_millis(self.shutdown_timeout_ms)
    }
}

impl ExporterConfig {
    fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("name is empty".into());
        }
        let url = self.url()?;
        if self.tls.ca_file.is_some() && url.scheme() != "https" {
            return Err("tls.ca_file is set but the endpoint is not https".into());
        }
        for (what, v) in [
            ("timeout_ms", self.timeout_ms),
            ("batch_max_spans", self.batch_max_spans as u64),
            (
                "max_concurrent_requests",
                self.max_concurrent_requests as u64,
            ),
            ("queue_max_spans", self.queue_max_spans as u64),
            ("max_attempts", u64::from(self.max_attempts)),
        ] {
            if v == 0 {
                return Err(format!("{what} must be at least 1"));
            }
        }
        if self.initial_backoff_ms > self.max_backoff_ms {
            return Err(format!(
                "initial_backoff_ms ({}) is larger than max_backoff_ms ({})",
                self.initial_backoff_ms, self.max_backoff_ms
            ));
        }
        crate::transport::check_headers(self.protocol, &self.headers)
    }

    /// The endpoint, checked for the protocol (and completed with `/v1/traces` for HTTP).
    pub fn url(&self) -> Result<Url, String> {
        let mut url = Url::parse(self.endpoint.trim()).map_err(|e| {
            format!(
                "endpoint {:?} is not a URL ({e}); write e.g. http://collector:4317",
                self.endpoint
            )
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "endpoint scheme must be http or https, not {:?}",
                url.scheme()
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(format!("endpoint {:?} has no host", self.endpoint));
        }
        if !url.username().is_empty() || url.password().is_some() {
            // URLs end up in logs; credentials belong in `headers`.
            return Err("endpoint must not carry credentials; put them in headers".into());
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err("endpoint must not have a query or fragment".into());
        }
        let bare = matches!(url.path(), "" | "/");
        match self.protocol {
            Protocol::Grpc if !bare => {
                return Err(format!(
                    "a gRPC endpoint has no path (the service path is fixed); got {:?}",
                    url.path()
                ));
            }
            Protocol::Http if bare => url.set_path("/v1/traces"),
            _ => {}
        }
        Ok(url)
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    pub fn batch_timeout(&self) -> Duration {
        Duration::from_millis(self.batch_timeout_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exporter(name: &str, endpoint: &str, protocol: Protocol) -> ExporterConfig {
        ExporterConfig {
            name: name.into(),
            endpoint: endpoint.into(),
            protocol,
            ..Default::default()
        }
    }

    fn error(exporters: Vec<ExporterConfig>) -> String {
        ForwardConfig {
            exporters,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string()
    }

    #[test]
    fn parses_from_toml_with_defaults() {
        let cfg: ForwardConfig = toml::from_str(
            r#"
            [[exporters]]
            name = "tempo"
            endpoint = "http://tempo:4317"

            [[exporters]]
            name = "honeycomb"
            endpoint = "https://api.honeycomb.io"
            protocol = "http"
            compression = "gzip"
            headers = { "x-honeycomb-team" = "secret-key" }
            "#,
        )
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.exporters.len(), 2);
        assert_eq!(cfg.exporters[0].protocol, Protocol::Grpc);
        assert_eq!(cfg.exporters[0].batch_max_spans, 512);
        assert_eq!(cfg.exporters[0].queue_max_spans, 100_000);
        assert_eq!(
            cfg.exporters[1].url().unwrap().as_str(),
            "https://api.honeycomb.io/v1/traces"
        );
        assert_eq!(cfg.exporters[1].compression, Compression::Gzip);
    }

    #[test]
    fn unknown_protocol_and_keys_are_refused() {
        let e = toml::from_str::<ForwardConfig>(
            "[[exporters]]\nname = \"a\"\nendpoint = \"http://x:1\"\nprotocol = \"udp\"\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("udp") && e.contains("grpc"), "{e}");
        let e = toml::from_str::<ForwardConfig>("[[exporters]]\nnmae = \"a\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("nmae"), "{e}");
    }

    #[test]
    fn validation_names_the_exporter_and_the_fault() {
        let e = error(vec![exporter(" ", "http://x:4317", Protocol::Grpc)]);
        assert!(
            e.contains("forward.exporters[0]") && e.contains("name is empty"),
            "{e}"
        );
        let e = error(vec![exporter("a", "collector:4317", Protocol::Grpc)]);
        assert!(e.contains("not a URL") || e.contains("scheme"), "{e}");
        let e = error(vec![exporter("a", "ftp://x:21", Protocol::Http)]);
        assert!(e.contains("http or https"), "{e}");
        let e = error(vec![exporter(
            "a",
            "http://x:4317/v1/traces",
            Protocol::Grpc,
        )]);
        assert!(e.contains("gRPC endpoint has no path"), "{e}");
        let e = error(vec![
            exporter("a", "http://x:4317", Protocol::Grpc),
            exporter("a", "http://y:4318/v1/traces", Protocol::Http),
        ]);
        assert!(
            e.contains("forward.exporters[1]") && e.contains("unique"),
            "{e}"
        );
        let mut bad = exporter("a", "http://x:4317", Protocol::Grpc);
        bad.tls.ca_file = Some("/etc/ca.pem".into());
        assert!(error(vec![bad]).contains("not https"));
        let mut bad = exporter("a", "http://x:4317", Protocol::Grpc);
        bad.batch_max_spans = 0;
        assert!(error(vec![bad]).contains("batch_max_spans must be at least 1"));
        let mut bad = exporter("a", "http://x:4317", Protocol::Grpc);
        bad.initial_backoff_ms = 60_000;
        assert!(error(vec![bad]).contains("initial_backoff_ms"));
    }

    #[test]
    fn header_errors_never_show_the_value() {
        let mut bad = exporter("a", "http://x:4318/v1/traces", Protocol::Http);
        bad.headers
            .insert("authorization".into(), "Bearer sekrit\n".into());
        let e = error(vec![bad]);
        assert!(e.contains("authorization") && !e.contains("sekrit"), "{e}");
        let mut bad = exporter("a", "http://x:4317", Protocol::Grpc);
        bad.headers.insert("bad header".into(), "v".into());
        assert!(error(vec![bad]).contains("bad header"));
        let mut cfg = exporter("a", "http://x:4317", Protocol::Grpc);
        cfg.headers.insert("api-key".into(), "sekrit".into());
        let debug = format!("{cfg:?}");
        assert!(
            debug.contains("api-key") && !debug.contains("sekrit"),
            "{debug}"
        );
    }
}
