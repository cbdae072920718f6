//! OTLP receivers: gRPC on :4317 and HTTP on :4318, both feeding one [`pipeline::Pipeline`].

pub mod error;
pub mod grpc;
pub mod http;
pub mod pipeline;
pub mod rpc_status;

pub use error::ReceiverError;
pub use pipeline::{Accepted, Pipeline, PipelineError};

use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;

/// Serves OTLP/gRPC until `shutdown` resolves.
pub async fn serve_grpc(
    listener: TcpListener,
    pipeline: Arc<Pipeline>,
    max_message_bytes: usize,
    project: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let routes = tonic::service::Routes::new(grpc::TraceService::new(
        pipeline,
        max_message_bytes,
        project,
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
    tonic::transport::Server::builder()
        .add_routes(tonic::service::Routes::from(routes))
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await
}

/// Serves OTLP/HTTP until `shutdown` resolves.
pub async fn serve_http(
    listener: TcpListener,
    pipeline: Arc<Pipeline>,
    max_body_bytes: usize,
    project: &str,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = http::router(pipeline, max_body_bytes, project);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
