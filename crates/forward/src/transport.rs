//! One export attempt over OTLP/gRPC (tonic, the generated TraceService client) or OTLP/HTTP
//! (reqwest, protobuf bodies). TLS is rustls with the system's roots, plus `tls.ca_file`.
//! Header values are marked sensitive and never appear in messages.

use crate::config::{Compression, ExporterConfig, Protocol};
use crate::error::ForwardError;
use crate::retry::{self, Outcome};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use reqwest::Url;
use reqwest::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use spyglass_model::error_chain;
use std::collections::BTreeMap;
use std::io::Write;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

const USER_AGENT: &str = concat!("spyglass-forward/", env!("CARGO_PKG_VERSION"));
const PROTOBUF: &str = "application/x-protobuf";
/// A success body larger than this is not read for partial-success counts.
const MAX_RESPONSE_BYTES: u64 = 1 << 20;

/// Checks that every header can be sent over the protocol; messages name the header only.
pub(crate) fn check_headers(
    protocol: Protocol,
    headers: &BTreeMap<String, String>,
) -> Result<(), String> {
    match protocol {
        Protocol::Grpc => grpc_metadata(headers).map(drop),
        Protocol::Http => http_headers(headers).map(drop),
    }
}

fn http_headers(headers: &BTreeMap<String, String>) -> Result<HeaderMap, String> {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        let key = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("header name {name:?} is not a valid HTTP header name"))?;
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            format!("the value of header {name:?} has characters a header cannot carry")
        })?;
        value.set_sensitive(true);
        out.insert(key, value);
    }
    Ok(out)
}

fn grpc_metadata(
    headers: &BTreeMap<String, String>,
) -> Result<Vec<(AsciiMetadataKey, AsciiMetadataValue)>, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let key = AsciiMetadataKey::from_bytes(name.as_bytes()).map_err(|_| {
                format!(
                    "header name {name:?} cannot be gRPC metadata (binary `-bin` keys are not supported)"
                )
            })?;
            let mut value = AsciiMetadataValue::try_from(value.as_str()).map_err(|_| {
                format!("the value of header {name:?} has characters a header cannot carry")
            })?;
            value.set_sensitive(true);
            Ok((key, value))
        })
        .collect()
}

/// Cheap to clone (the clients share their connections): each request in flight has one.
#[derive(Clone)]
pub(crate) enum Transport {
    Grpc(Grpc),
    Http(Http),
}

#[derive(Clone)]
pub(crate) struct Grpc {
    client: TraceServiceClient<Channel>,
    metadata: Vec<(AsciiMetadataKey, AsciiMetadataValue)>,
}

#[derive(Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    url: Url,
    gzip: bool,
}

impl Transport {
    /// Builds the client; the gRPC channel connects on first use, so a backend that is down at
    /// start is retried like any other failure. Needs a Tokio runtime.
    pub(crate) fn new(cfg: &ExporterConfig) -> Result<Transport, ForwardError> {
        let client_error = |message: String| ForwardError::Client {
            exporter: cfg.name.clone(),
            message,
        };
        let url = cfg.url().map_err(client_error)?;
        let ca = match &cfg.tls.ca_file {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|source| ForwardError::CaFile {
                    exporter: cfg.name.clone(),
                    path: path.clone(),
                    source,
                })?;
                let certs = reqwest::Certificate::from_pem_bundle(&pem).unwrap_or_default();
                if certs.is_empty() {
                    return Err(client_error(format!(
                        "tls.ca_file {} holds no PEM certificate",
                        path.display()
                    )));
                }
                Some((pem, certs))
            }
            None => None,
        };
        let gzip = cfg.compression == Compression::Gzip;
        match cfg.protocol {
            Protocol::Grpc => Grpc::new(cfg, &url, ca.map(|(pem, _)| pem), gzip)
                .map(Transport::Grpc)
                .map_err(client_error),
            Protocol::Http => Http::new(cfg, url, ca.map(|(_, certs)| certs), gzip)
                .map(Transport::Http)
                .map_err(client_error),
        }
    }

    pub(crate) async fn export(&mut self, req: &ExportTraceServiceRequest) -> Outcome {
        match self {
            Transport::Grpc(g) => g.export(req).await,
            Transport::Http(h) => h.export(req).await,
        }
    }
}

impl Grpc {
    fn new(
        cfg: &ExporterConfig,
        url: &Url,
        ca: Option<Vec<u8>>,
        gzip: bool,
    ) -> Result<Grpc, String> {
        let mut endpoint = Endpoint::from_shared(url.to_string())
            .map_err(|e| e.to_string())?
            .connect_timeout(cfg.timeout())
            .timeout(cfg.timeout())
            .tcp_nodelay(true)
            .user_agent(USER_AGENT)
            .map_err(|e| e.to_string())?;
        if url.scheme() == "https" {
            let mut tls = ClientTlsConfig::new().with_native_roots();
            if let Some(pem) = ca {
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| format!("TLS: {}", error_chain(&e)))?;
        }
        let mut client = TraceServiceClient::new(endpoint.connect_lazy());
        if gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        let metadata = grpc_metadata(&cfg.headers)?;
        Ok(Grpc { client, metadata })
    }

    async fn export(&mut self, req: &ExportTraceServiceRequest) -> Outcome {
        let mut request = tonic::Request::new(req.clone());
        for (k, v) in &self.metadata {
            request.metadata_mut().insert(k.clone(), v.clone());
        }
        match self.client.export(request).await {
            Ok(resp) => Outcome::Sent {
                rejected: rejected(&resp.into_inner()),
            },
            Err(status) => retry::grpc(&status),
        }
    }
}

impl Http {
    fn new(
        cfg: &ExporterConfig,
        url: Url,
        ca: Option<Vec<reqwest::Certificate>>,
        gzip: bool,
    ) -> Result<Http, String> {
        let headers = http_headers(&cfg.headers)?;
        let mut builder = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .default_headers(headers)
            .timeout(cfg.timeout())
            .connect_timeout(cfg.timeout())
            // A redirect would resend the body (and the API key) somewhere not configured.
            .redirect(reqwest::redirect::Policy::none());
        if let Some(certs) = ca {
            builder = builder.tls_certs_merge(certs);
        }
        let client = builder.build().map_err(|e| error_chain(&e))?;
        Ok(Http { client, url, gzip })
    }

    async fn export(&mut self, req: &ExportTraceServiceRequest) -> Outcome {
        let mut body = req.encode_to_vec();
        let mut request = self
            .client
            .post(self.url.clone())
            .header(CONTENT_TYPE, PROTOBUF);
        if self.gzip {
            let mut enc = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::fast(),
            );
            // Writing to a Vec cannot fail.
            enc.write_all(&body).expect("in-memory write");
            body = enc.finish().expect("in-memory write");
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let resp = match request.body(body).send().await {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    after: None,
                    why: error_chain(&e.without_url()),
                };
            }
        };
        let status = resp.status();
        if !status.is_success() {
            let after = resp
                .headers()
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok());
            return retry::http(status.as_u16(), after);
        }
        let readable = resp.content_length().unwrap_or(0) <= MAX_RESPONSE_BYTES;
        let rejected = match readable {
            true => resp
                .bytes()
                .await
                .ok()
                .and_then(|b| ExportTraceServiceResponse::decode(b).ok())
                .map_or(0, |r| rejected(&r)),
            false => 0,
        };
        Outcome::Sent { rejected }
    }
}

fn rejected(resp: &ExportTraceServiceResponse) -> u64 {
    resp.partial_success
        .as_ref()
        .map_or(0, |p| p.rejected_spans.max(0) as u64)
}
