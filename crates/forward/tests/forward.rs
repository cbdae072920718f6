//! The forwarder against real OTLP servers on loopback: a tonic TraceService and an axum
//! OTLP/HTTP endpoint that record what arrives and answer as each test scripts.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use prometheus_client::registry::Registry;
use prost::Message;
use spyglass_forward::{Compression, ExporterConfig, ForwardConfig, Forwarder, Protocol};
use spyglass_model::{
    Category, CostSource, Field, Finding, Severity, Span, SpanFinding, SpanId, SpanKind, TraceId,
};
use spyglass_store::Batch;
use std::collections::VecDeque;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

const T0: i64 = 1_750_000_000_000_000_000;

/// How the backend answers one request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Accept,
    /// A gRPC code, and the HTTP status with its Retry-After.
    Refuse(tonic::Code, u16, Option<u64>),
    /// Never answers within the test.
    Hang,
}

/// What a backend saw, shared by its server and the test.
#[derive(Clone, Default)]
struct Backend {
    accepted: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    requests: Arc<AtomicU64>,
    api_keys: Arc<Mutex<Vec<String>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Backend {
    fn scripted(answers: &[Answer]) -> Self {
        let b = Backend::default();
        b.script.lock().unwrap().extend(answers);
        b
    }

    fn answer(&self, req: ExportTraceServiceRequest, api_key: Option<&str>) -> Answer {
        self.requests.fetch_add(1, Ordering::SeqCst);
        if let Some(k) = api_key {
            self.api_keys.lock().unwrap().push(k.to_string());
        }
        let answer = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Answer::Accept);
        if let Answer::Accept = answer {
            self.accepted.lock().unwrap().push(req);
        }
        answer
    }

    fn spans(&self) -> Vec<OtlpSpan> {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| ss.spans.clone())
            .collect()
    }

    async fn wait_for_spans(&self, n: usize) -> Vec<OtlpSpan> {
        for _ in 0..500 {
            let spans = self.spans();
            if spans.len() >= n {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("backend got {} spans, expected {n}", self.spans().len());
    }
}

#[tonic::codegen::async_trait]
impl TraceService for Backend {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let key = request
            .metadata()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match self.answer(request.into_inner(), key.as_deref()) {
            Answer::Accept => Ok(tonic::Response::new(ExportTraceServiceResponse::default())),
            Answer::Refuse(code, _, retry_after) => Err(
                spyglass_receiver::rpc_status::grpc_status(code, "scripted".into(), retry_after),
            ),
            Answer::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Err(tonic::Status::internal("unreachable"))
            }
        }
    }
}

async fn grpc_backend(b: &Backend) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let service = TraceServiceServer::new(b.clone())
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip);
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(incoming),
    );
    format!("http://{addr}")
}

async fn http_export(State(b): State<Backend>, headers: HeaderMap, body: Bytes) -> Response {
    let gzip = headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() == b"gzip");
    assert_eq!(headers["content-type"], "application/x-protobuf");
    let body = if gzip {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut out)
            .unwrap();
        out
    } else {
        body.to_vec()
    };
    let req = ExportTraceServiceRequest::decode(&body[..]).unwrap();
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    match b.answer(req, key) {
        Answer::Accept => (
            [("content-type", "application/x-protobuf")],
            ExportTraceServiceResponse::default().encode_to_vec(),
        )
            .into_response(),
        Answer::Refuse(_, status, retry_after) => {
            let mut r = StatusCode::from_u16(status).unwrap().into_response();
            if let Some(s) = retry_after {
                r.headers_mut().insert("retry-after", s.into());
            }
            r
        }
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

async fn http_backend(b: &Backend) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(http_export))
        .with_state(b.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v1/traces")
}

/// A loopback port with nothing listening.
async fn dead_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn exporter(name: &str, endpoint: &str, protocol: Protocol) -> ExporterConfig {
    ExporterConfig {
        name: name.into(),
        endpoint: endpoint.into(),
        protocol,
        headers: [("x-api-key".to_string(), "k-123".to_string())].into(),
        timeout_ms: 2000,
        batch_timeout_ms: 20,
        initial_backoff_ms: 10,
        max_backoff_ms: 100,
        ..Default::default()
    }
}

fn llm_span(trace: u128, n: u64) -> Span {
    let mut s = Span::new(
        TraceId::from_u128(trace),
        SpanId::from_u64(n),
        "chat gpt-4o",
        T0,
    );
    s.finish(T0 + 5_000_000);
    s.kind = SpanKind::Llm;
    s.request_model = Some("gpt-4o".into());
    s.cost_usd = Some(0.002 * n as f64);
    s.cost_source = Some(CostSource::Computed);
    s.input = Some(format!("question {n}"));
    s.received_ns = n as i64;
    s
}

/// `n` LLM spans; the first has a prompt-injection finding.
fn batch(trace: u128, n: usize) -> Arc<Batch> {
    let spans: Vec<Span> = (1..=n as u64).map(|i| llm_span(trace, i)).collect();
    let finding = SpanFinding::on(
        &spans[0],
        Finding {
            category: Category::PromptInjection,
            detector: "injection.override".into(),
            severity: Severity::High,
            score: 0.875,
            field: Field::Input,
            key: None,
            start: 0,
            end: 8,
            evidence: "ignore all".into(),
            vector: None,
            encoding: None,
        },
    );
    Arc::new(Batch {
        spans,
        findings: vec![finding],
    })
}

struct Harness {
    live: broadcast::Sender<Arc<Batch>>,
    stop: watch::Sender<bool>,
    registry: Registry,
    forwarder: Forwarder,
}

impl Harness {
    fn start(exporters: Vec<ExporterConfig>, live_capacity: usize) -> Harness {
        Self::with(
            ForwardConfig {
                exporters,
                ..Default::default()
            },
            live_capacity,
        )
    }

    fn with(cfg: ForwardConfig, live_capacity: usize) -> Harness {
        let (live, _) = broadcast::channel(live_capacity);
        let (stop, stop_rx) = watch::channel(false);
        let mut registry = Registry::default();
        let forwarder = spyglass_forward::spawn(&cfg, &live, &mut registry, stop_rx).unwrap();
        Harness {
            live,
            stop,
            registry,
            forwarder,
        }
    }

    fn publish(&self, batch: Arc<Batch>) {
        self.live.send(batch).unwrap();
    }

    /// A series' value, e.g. `spyglass_forward_spans_sent_total{exporter="a"}`.
    fn metric(&self, series: &str) -> f64 {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no series {series} in\n{text}"))
    }

    async fn wait_metric(&self, series: &str, at_least: f64) -> f64 {
        for _ in 0..500 {
            let v = self.metric(series);
            if v >= at_least {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{series} stayed below {at_least}: {}", self.metric(series));
    }

    async fn shutdown(self) -> Registry {
        self.stop.send(true).unwrap();
        self.forwarder.join().await;
        self.registry
    }
}

fn attr<'a>(span: &'a OtlpSpan, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn str_attr<'a>(span: &'a OtlpSpan, key: &str) -> &'a str {
    match attr(span, key) {
        Some(Value::StringValue(s)) => s,
        other => panic!("{key}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_protocols_receive_enriched_spans_with_their_headers() {
    let (grpc, http) = (Backend::default(), Backend::default());
    let mut gz = exporter("http-gz", &http_backend(&http).await, Protocol::Http);
    gz.compression = Compression::Gzip;
    let mut grpc_gz = exporter("grpc", &grpc_backend(&grpc).await, Protocol::Grpc);
    grpc_gz.compression = Compression::Gzip;
    let h = Harness::start(vec![grpc_gz, gz], 64);
    h.publish(batch(7, 3));

    for backend in [&grpc, &http] {
        let spans = backend.wait_for_spans(3).await;
        assert_eq!(spans.len(), 3);
        let first = spans
            .iter()
            .find(|s| s.span_id == SpanId::from_u64(1).0)
            .unwrap();
        assert_eq!(first.trace_id, TraceId::from_u128(7).0.to_vec());
        assert_eq!(first.name, "chat gpt-4o");
        assert_eq!(
            attr(first, "spyglass.cost_usd"),
            Some(&Value::DoubleValue(0.002))
        );
        assert_eq!(str_attr(first, "spyglass.cost_source"), "computed");
        assert_eq!(str_attr(first, "spyglass.kind"), "llm");
        assert_eq!(str_attr(first, "input.value"), "question 1");
        assert_eq!(
            attr(first, "spyglass.findings.count"),
            Some(&Value::IntValue(1))
        );
        assert_eq!(str_attr(first, "spyglass.findings.max_severity"), "high");
        let findings: serde_json::Value =
            serde_json::from_str(str_attr(first, "spyglass.findings")).unwrap();
        assert_eq!(
            findings,
            serde_json::json!([{"category": "prompt_injection", "detector": "injection.override", "severity": "high", "score": 0.875}])
        );
        let second = spans
            .iter()
            .find(|s| s.span_id == SpanId::from_u64(2).0)
            .unwrap();
        assert_eq!(attr(second, "spyglass.findings"), None);
        assert_eq!(
            attr(second, "spyglass.findings.count"),
            Some(&Value::IntValue(0))
        );
        assert!(
            backend
                .api_keys
                .lock()
                .unwrap()
                .iter()
                .all(|k| k == "k-123")
        );
        assert!(!backend.api_keys.lock().unwrap().is_empty());
    }
    h.wait_metric("spyglass_forward_spans_sent_total{exporter=\"grpc\"}", 3.0)
        .await;
    h.wait_metric(
        "spyglass_forward_spans_sent_total{exporter=\"http-gz\"}",
        3.0,
    )
    .await;
    assert_eq!(
        h.metric("spyglass_forward_send_seconds_count{exporter=\"grpc\"}"),
        1.0
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_answers_are_retried_until_accepted() {
    let http = Backend::scripted(&[Answer::Refuse(tonic::Code::Unavailable, 503, Some(0))]);
    let grpc = Backend::scripted(&[
        Answer::Refuse(tonic::Code::Unavailable, 503, None),
        Answer::Refuse(tonic::Code::ResourceExhausted, 429, None),
    ]);
    let h = Harness::start(
        vec![
            exporter("http", &http_backend(&http).await, Protocol::Http),
            exporter("grpc", &grpc_backend(&grpc).await, Protocol::Grpc),
        ],
        64,
    );
    h.publish(batch(8, 4));
    assert_eq!(http.wait_for_spans(4).await.len(), 4);
    assert_eq!(grpc.wait_for_spans(4).await.len(), 4);
    assert_eq!(http.requests.load(Ordering::SeqCst), 2);
    assert_eq!(grpc.requests.load(Ordering::SeqCst), 3);
    h.wait_metric("spyglass_forward_spans_sent_total{exporter=\"http\"}", 4.0)
        .await;
    h.wait_metric("spyglass_forward_spans_sent_total{exporter=\"grpc\"}", 4.0)
        .await;
    assert_eq!(
        h.metric("spyglass_forward_send_failures_total{exporter=\"http\"}"),
        1.0
    );
    assert_eq!(
        h.metric("spyglass_forward_send_failures_total{exporter=\"grpc\"}"),
        2.0
    );
    assert_eq!(
        h.metric("spyglass_forward_spans_dropped_total{exporter=\"grpc\",reason=\"send_failed\"}"),
        0.0
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_and_exhausted_retries_drop_and_count() {
    let http = Backend::scripted(&[Answer::Refuse(tonic::Code::InvalidArgument, 400, None)]);
    let grpc = Backend::scripted(&[Answer::Refuse(tonic::Code::Unavailable, 503, None); 3]);
    let mut g = exporter("grpc", &grpc_backend(&grpc).await, Protocol::Grpc);
    g.max_attempts = 3;
    let h = Harness::start(
        vec![
            exporter("http", &http_backend(&http).await, Protocol::Http),
            g,
        ],
        64,
    );
    h.publish(batch(9, 5));
    let dropped = |e: &str| {
        format!("spyglass_forward_spans_dropped_total{{exporter=\"{e}\",reason=\"send_failed\"}}")
    };
    h.wait_metric(&dropped("http"), 5.0).await;
    h.wait_metric(&dropped("grpc"), 5.0).await;
    assert_eq!(http.requests.load(Ordering::SeqCst), 1, "no retry of a 400");
    assert_eq!(grpc.requests.load(Ordering::SeqCst), 3, "max_attempts");
    assert_eq!(
        h.metric("spyglass_forward_send_failures_total{exporter=\"grpc\"}"),
        3.0
    );
    // The next batch goes through: a failed batch does not wedge the exporter.
    h.publish(batch(10, 2));
    assert_eq!(grpc.wait_for_spans(2).await.len(), 2);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_drops_and_counts_without_blocking_the_publisher() {
    let mut e = exporter("dead", &dead_endpoint().await, Protocol::Grpc);
    e.queue_max_spans = 10;
    e.batch_max_spans = 5;
    e.max_attempts = 100;
    // One request in flight, so the queue's level is exact.
    e.max_concurrent_requests = 1;
    let h = Harness::start(vec![e], 1024);
    let started = std::time::Instant::now();
    for i in 0..20 {
        h.publish(batch(100 + i, 10));
    }
    assert!(started.elapsed() < Duration::from_secs(1));
    let dropped = h
        .wait_metric(
            "spyglass_forward_spans_dropped_total{exporter=\"dead\",reason=\"queue_full\"}",
            185.0,
        )
        .await;
    assert!(dropped <= 190.0, "{dropped}");
    let queued = h.metric("spyglass_forward_queue_spans{exporter=\"dead\"}");
    assert!((5.0..=10.0).contains(&queued), "{queued}");
    h.wait_metric(
        "spyglass_forward_send_failures_total{exporter=\"dead\"}",
        2.0,
    )
    .await;
    assert_eq!(
        h.metric("spyglass_forward_spans_sent_total{exporter=\"dead\"}"),
        0.0
    );
}

#[tokio::test]
async fn batches_lost_to_a_lagging_subscriber_are_counted() {
    let b = Backend::default();
    let h = Harness::start(
        vec![exporter("a", &http_backend(&b).await, Protocol::Http)],
        2,
    );
    // A current-thread runtime: the forwarder cannot run until this test yields, so the live
    // stream (capacity 2) overflows.
    for i in 0..10 {
        h.publish(batch(200 + i, 4));
    }
    assert_eq!(b.wait_for_spans(8).await.len(), 8);
    assert_eq!(
        h.wait_metric(
            "spyglass_forward_spans_dropped_total{exporter=\"a\",reason=\"lagged\"}",
            32.0
        )
        .await,
        32.0
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_the_queue_without_waiting_for_the_batch_timeout() {
    let b = Backend::default();
    let mut e = exporter("a", &grpc_backend(&b).await, Protocol::Grpc);
    e.batch_timeout_ms = 600_000;
    e.batch_max_spans = 1000;
    let h = Harness::start(vec![e], 64);
    h.publish(batch(300, 3));
    h.publish(batch(301, 2));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(b.spans().is_empty(), "waiting for the batch to fill");
    let started = std::time::Instant::now();
    let registry = h.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(b.spans().len(), 5);
    drop(registry);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shutdown_wait_is_bounded_and_what_is_left_is_counted() {
    let b = Backend::scripted(&[Answer::Hang]);
    let mut e = exporter("slow", &grpc_backend(&b).await, Protocol::Grpc);
    e.timeout_ms = 600_000;
    // The second batch waits in the queue behind the hanging first one.
    e.max_concurrent_requests = 1;
    let cfg = ForwardConfig {
        shutdown_timeout_ms: 300,
        exporters: vec![e],
    };
    let h = Harness::with(cfg, 64);
    h.publish(batch(400, 6));
    while b.requests.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.publish(batch(401, 4));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = std::time::Instant::now();
    let stop = h.stop.clone();
    stop.send(true).unwrap();
    let Harness {
        registry,
        forwarder,
        ..
    } = h;
    forwarder.join().await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains(
            "spyglass_forward_spans_dropped_total{exporter=\"slow\",reason=\"shutdown\"} 10"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn configuration_errors_start_nothing() {
    let (live, _) = broadcast::channel(4);
    let (_stop, stop_rx) = watch::channel(false);
    let mut e = exporter("tls", "https://collector.example:4317", Protocol::Grpc);
    e.tls.ca_file = Some("/nonexistent/ca.pem".into());
    let cfg = ForwardConfig {
        exporters: vec![e],
        ..Default::default()
    };
    let err = spyglass_forward::spawn(&cfg, &live, &mut Registry::default(), stop_rx.clone())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("tls") && err.contains("/nonexistent/ca.pem"),
        "{err}"
    );
    assert_eq!(live.receiver_count(), 0);

    let dir = std::env::temp_dir().join(format!("spyglass-forward-ca-{}", std::process::id()));
    std::fs::write(&dir, "not a certificate").unwrap();
    let mut e = exporter("tls", "https://collector.example/v1/traces", Protocol::Http);
    e.tls.ca_file = Some(dir.clone());
    let cfg = ForwardConfig {
        exporters: vec![e],
        ..Default::default()
    };
    let err = spyglass_forward::spawn(&cfg, &live, &mut Registry::default(), stop_rx)
        .err()
        .unwrap()
        .to_string();
    let _ = std::fs::remove_file(&dir);
    assert!(err.contains("exporter \"tls\""), "{err}");
}

// --- TLS with a private CA (tests/tls/README.md) ----------------------------------------------

fn tls_file(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name)
}

/// Accepts TLS connections (axum's listener; tonic's through [`TlsListener::incoming`]). The
/// rustls config names its crypto provider: the workspace enables more than one, so none is
/// implied, and the forwarder's clients must cope without a process-wide default too.
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl TlsListener {
    async fn bind(alpn: &[&[u8]]) -> TlsListener {
        use tokio_rustls::rustls;
        use tokio_rustls::rustls::pki_types::pem::PemObject;
        use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = CertificateDer::pem_file_iter(tls_file("server.pem"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_file(tls_file("server.key")).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsListener {
            tcp: TcpListener::bind("127.0.0.1:0").await.unwrap(),
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        }
    }

    async fn next(
        &mut self,
    ) -> (
        tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        SocketAddr,
    ) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn incoming(
        self,
    ) -> impl futures::Stream<
        Item = std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>,
    > {
        futures::stream::unfold(self, |mut l| async move {
            let (io, _) = l.next().await;
            Some((Ok(io), l))
        })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        self.next().await
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

async fn grpc_tls_backend(b: &Backend) -> String {
    let listener = TlsListener::bind(&[b"h2"]).await;
    let addr = listener.tcp.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(b.clone()))
            .serve_with_incoming(listener.incoming()),
    );
    format!("https://{addr}")
}

async fn http_tls_backend(b: &Backend) -> String {
    let listener = TlsListener::bind(&[b"http/1.1"]).await;
    let addr = listener.tcp.local_addr().unwrap();
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(http_export))
        .with_state(b.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("https://{addr}/v1/traces")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_backends_signed_by_a_private_ca_are_trusted_through_ca_file() {
    let (grpc, http, untrusted) = (Backend::default(), Backend::default(), Backend::default());
    let mut g = exporter("grpc-tls", &grpc_tls_backend(&grpc).await, Protocol::Grpc);
    g.tls.ca_file = Some(tls_file("ca.pem"));
    let mut h = exporter("http-tls", &http_tls_backend(&http).await, Protocol::Http);
    h.tls.ca_file = Some(tls_file("ca.pem"));
    let mut u = exporter("no-ca", &grpc_tls_backend(&untrusted).await, Protocol::Grpc);
    u.max_attempts = 1;
    let harness = Harness::start(vec![g, h, u], 64);
    harness.publish(batch(500, 2));
    assert_eq!(grpc.wait_for_spans(2).await.len(), 2);
    assert_eq!(http.wait_for_spans(2).await.len(), 2);
    harness
        .wait_metric(
            "spyglass_forward_spans_dropped_total{exporter=\"no-ca\",reason=\"send_failed\"}",
            2.0,
        )
        .await;
    assert_eq!(untrusted.requests.load(Ordering::SeqCst), 0);
    harness.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_request_does_not_hold_up_the_next_ones() {
    let b = Backend::scripted(&[Answer::Hang]);
    let mut e = exporter("parallel", &grpc_backend(&b).await, Protocol::Grpc);
    e.timeout_ms = 600_000;
    e.batch_max_spans = 3;
    e.max_concurrent_requests = 2;
    let h = Harness::start(vec![e], 64);
    h.publish(batch(500, 3));
    while b.requests.load(Ordering::SeqCst) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    h.publish(batch(501, 3));
    h.publish(batch(502, 3));
    // Both go through the second slot while the first request hangs.
    assert_eq!(b.wait_for_spans(6).await.len(), 6);
    assert_eq!(b.requests.load(Ordering::SeqCst), 3);
}
