//! OTLP receivers: gRPC on :4317 and HTTP on :4318, both feeding one [`pipeline::Pipeline`].

pub mod error;
pub mod grpc;
pub mod http;
pub mod pipeline;
pub mod rpc_status;
pub mod tls;

pub use error::ReceiverError;
pub use pipeline::{Accepted, Handoff, HandoffError, Pipeline, PipelineError};

use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves OTLP/gRPC until `shutdown` resolves; over TLS when `tls` is given.
pub async fn serve_grpc(
    listener: TcpListener,
    pipeline: Arc<Pipeline>,
    max_message_bytes: usize,
    auth: Arc<spyglass_auth::Directory>,
    tls: Option<tls::TlsSetup>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let routes = tonic::service::Routes::new(grpc::TraceService::new(
        pipeline,
        max_message_bytes,
        auth,
    ))
    .add_service(grpc::LogsNotSupported)
    .add_service(grpc::MetricsNotSupported)
    .into_axum_router()
    // tonic answers an unknown method with UNIMPLEMENTED and no message; say what exists.
    .fallback(|uri: axum::http::Uri| async move {
        tonic::Status::unimplemented(format!(
            "no gRPC method {}; traces go to opentelemetry.proto.collector.trace.v1.TraceService/Export",
            uri.path()
        ))
        .into_http::<axum::body::Body>()
    });
    let mut server = tonic::transport::Server::builder();
    if let Some(tls) = &tls {
        let identity = tonic::transport::Identity::from_pem(&tls.cert_pem, &tls.key_pem);
        server = server.tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))?;
    }
    server
        .add_routes(tonic::service::Routes::from(routes))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Serves OTLP/HTTP until `shutdown` resolves; over TLS when `tls` is given.
pub async fn serve_http(
    listener: TcpListener,
    pipeline: Arc<Pipeline>,
    max_body_bytes: usize,
    auth: Arc<spyglass_auth::Directory>,
    tls: Option<tls::TlsSetup>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = http::router(pipeline, max_body_bytes, auth);
    serve_router(listener, app, tls, shutdown).await
}

/// Serves an axum router on a listener, plain or TLS, until `shutdown` resolves (in-flight
/// requests finish first). The API listener goes through here too.
pub async fn serve_router(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<tls::TlsSetup>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    match tls {
        None => {
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
        Some(tls) => {
            let listener = tls::TlsListener::new(listener, &tls)?;
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}
