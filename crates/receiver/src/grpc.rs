//! OTLP/gRPC `TraceService/Export`. Written by hand over tonic's server plumbing, rather than
//! with the generated server, so the request arrives as bytes: a malformed message is
//! INVALID_ARGUMENT (the generated codec says INTERNAL), an oversized one RESOURCE_EXHAUSTED
//! (tonic says OUT_OF_RANGE, which OTLP clients retry forever), and both go through the same
//! pipeline and error mapping as OTLP/HTTP. The logs and metrics services answer UNIMPLEMENTED
//! with a clear message.

use crate::error::ReceiverError;
use crate::http::response_of;
use crate::pipeline::Pipeline;
use crate::rpc_status::grpc_status;
use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use spyglass_auth::Directory;
use spyglass_ingest::IngestError;
use spyglass_ingest::decode::decode_protobuf;
use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Request, Response, Status};

const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Passes the request message through as bytes; encodes the response with prost.
#[derive(Default, Clone, Copy)]
struct RawCodec;

struct RawDecoder;
struct ResponseEncoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let n = buf.remaining();
        Ok(Some(buf.copy_to_bytes(n)))
    }
}

impl Encoder for ResponseEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;
    fn encode(&mut self, item: Self::Item, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(buf)
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    }
}

impl Codec for RawCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = ResponseEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> ResponseEncoder {
        ResponseEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// The trace service.
#[derive(Clone)]
pub struct TraceService {
    pipeline: Arc<Pipeline>,
    max_message_bytes: usize,
    auth: Arc<Directory>,
}

impl TraceService {
    /// Spans go to the project of the request's ingest key (metadata `authorization` or
    /// `x-api-key`).
    pub fn new(pipeline: Arc<Pipeline>, max_message_bytes: usize, auth: Arc<Directory>) -> Self {
        TraceService {
            pipeline,
            max_message_bytes,
            auth,
        }
    }
}

impl NamedService for TraceService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

fn to_status(e: ReceiverError) -> Status {
    let m = e.mapping();
    grpc_status(m.grpc, e.to_string(), m.retry_after_secs)
}

struct Export(TraceService);

impl UnaryService<Bytes> for Export {
    type Response = ExportTraceServiceResponse;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response<Self::Response>, Status>> + Send>,
    >;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let svc = self.0.clone();
        Box::pin(async move {
            let (metadata, _, body) = request.into_parts();
            let project = svc
                .auth
                .authorize_ingest(&metadata.into_headers())
                .map_err(|e| to_status(e.into()))?;
            let limit = svc.max_message_bytes;
            if body.len() > limit {
                return Err(to_status(
                    IngestError::TooLarge {
                        size: body.len(),
                        limit,
                    }
                    .into(),
                ));
            }
            let admission = svc
                .pipeline
                .admit(body.len())
                .map_err(|e| to_status(e.into()))?;
            let depth = svc.pipeline.limits().max_value_depth;
            let decoded = decode_protobuf(&body, depth).map_err(|e| to_status(e.into()))?;
            let accepted = svc
                .pipeline
                .export(admission, decoded, &project)
                .await
                .map_err(|e| to_status(e.into()))?;
            Ok(Response::new(response_of(accepted)))
        })
    }
}

impl<B> tower::Service<http::Request<B>> for TraceService
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>,
    >;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let svc = self.clone();
        Box::pin(async move {
            if req.uri().path() != EXPORT_PATH {
                return Ok(
                    Status::unimplemented(format!("unknown method {}", req.uri().path()))
                        .into_http(),
                );
            }
            let mut gzip = EnabledCompressionEncodings::default();
            gzip.enable(CompressionEncoding::Gzip);
            let mut grpc = Grpc::new(RawCodec)
                .apply_compression_config(gzip, gzip)
                .apply_max_message_size_config(Some(svc.max_message_bytes), None);
            let mut resp = grpc.unary(Export(svc), req).await;
            // tonic refuses an oversized message (before buffering it) with OUT_OF_RANGE, a code
            // OTLP clients retry forever; the OTLP answer is RESOURCE_EXHAUSTED without RetryInfo.
            if resp.headers().get("grpc-status").is_some_and(|v| v == "11") {
                resp.headers_mut()
                    .insert("grpc-status", http::HeaderValue::from_static("8"));
            }
            Ok(resp)
        })
    }
}

macro_rules! not_supported_service {
    ($ty:ident, $name:literal, $signal:literal) => {
        /// Answers every call with UNIMPLEMENTED and says why.
        #[derive(Clone, Default)]
        pub struct $ty;

        impl NamedService for $ty {
            const NAME: &'static str = $name;
        }

        impl<B: Send + 'static> tower::Service<http::Request<B>> for $ty {
            type Response = http::Response<tonic::body::Body>;
            type Error = Infallible;
            type Future = std::future::Ready<Result<Self::Response, Infallible>>;
            fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
                Poll::Ready(Ok(()))
            }
            fn call(&mut self, _req: http::Request<B>) -> Self::Future {
                std::future::ready(Ok(Status::unimplemented(concat!(
                    "Spyglass receives traces only; OTLP ",
                    $signal,
                    " are not supported (send them to another backend)"
                ))
                .into_http()))
            }
        }
    };
}

not_supported_service!(
    LogsNotSupported,
    "opentelemetry.proto.collector.logs.v1.LogsService",
    "logs"
);
not_supported_service!(
    MetricsNotSupported,
    "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "metrics"
);
