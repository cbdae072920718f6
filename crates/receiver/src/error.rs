//! Every way a receiver refuses a request, and the one place that maps each to its HTTP
//! status and gRPC code (OTLP specification, "Failures" and "Throttling").

use crate::pipeline::PipelineError;
use spyglass_ingest::IngestError;

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(
        "unsupported content type {0:?}; OTLP/HTTP takes application/x-protobuf or application/json"
    )]
    UnsupportedMediaType(String),
    #[error("request body of {size} bytes exceeds the limit of {limit} bytes")]
    BodyTooLarge { size: usize, limit: usize },
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    #[error(transparent)]
    Auth(#[from] spyglass_auth::AuthError),
}

impl From<IngestError> for ReceiverError {
    fn from(e: IngestError) -> Self {
        ReceiverError::Pipeline(PipelineError::Ingest(e))
    }
}

/// How a client should treat an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub http: u16,
    pub grpc: tonic::Code,
    /// Seconds the client should wait before retrying; `None` means do not retry.
    pub retry_after_secs: Option<u64>,
}

impl ReceiverError {
    pub fn mapping(&self) -> Mapping {
        use tonic::Code;
        let m = |http, grpc| Mapping {
            http,
            grpc,
            retry_after_secs: None,
        };
        match self {
            ReceiverError::UnsupportedMediaType(_) => m(415, Code::InvalidArgument),
            ReceiverError::BodyTooLarge { .. } => m(413, Code::ResourceExhausted),
            ReceiverError::BodyRead(_) => m(400, Code::InvalidArgument),
            ReceiverError::Auth(a) => {
                use spyglass_auth::AuthError as A;
                match a {
                    A::RateLimited { retry_after_s } => Mapping {
                        http: 429,
                        grpc: Code::ResourceExhausted,
                        retry_after_secs: Some(*retry_after_s),
                    },
                    A::Forbidden(_) | A::Csrf => m(403, Code::PermissionDenied),
                    A::NotFound(_) => m(404, Code::NotFound),
                    A::Store(_) => Mapping {
                        http: 503,
                        grpc: Code::Unavailable,
                        retry_after_secs: Some(5),
                    },
                    _ => m(401, Code::Unauthenticated),
                }
            }
            ReceiverError::Pipeline(p) => match p {
                PipelineError::Ingest(i) => match i {
                    IngestError::MalformedProtobuf(_)
                    | IngestError::MalformedJson(_)
                    | IngestError::CorruptGzip(_) => m(400, Code::InvalidArgument),
                    IngestError::TooLarge { .. } | IngestError::DecompressedTooLarge { .. } => {
                        m(413, Code::ResourceExhausted)
                    }
                    IngestError::UnsupportedEncoding(_) => m(415, Code::Unimplemented),
                },
                PipelineError::Overloaded {
                    retry_after_secs, ..
                } => Mapping {
                    http: 503,
                    grpc: Code::Unavailable,
                    retry_after_secs: Some(*retry_after_secs),
                },
                // A failed commit is transient from the client's side: nothing was acknowledged.
                PipelineError::Store(_) => Mapping {
                    http: 503,
                    grpc: Code::Unavailable,
                    retry_after_secs: Some(5),
                },
                PipelineError::Queue {
                    retry_after_secs, ..
                } => Mapping {
                    http: 503,
                    grpc: Code::Unavailable,
                    retry_after_secs: Some(*retry_after_secs),
                },
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_status_semantics() {
        let e: ReceiverError = IngestError::MalformedJson("x".into()).into();
        assert_eq!(e.mapping().http, 400);
        let e: ReceiverError = IngestError::DecompressedTooLarge { limit: 1 }.into();
        assert_eq!(
            (e.mapping().http, e.mapping().grpc),
            (413, tonic::Code::ResourceExhausted)
        );
        let e = ReceiverError::Pipeline(PipelineError::Overloaded {
            in_flight: 1,
            retry_after_secs: 1,
        });
        assert_eq!(
            e.mapping(),
            Mapping {
                http: 503,
                grpc: tonic::Code::Unavailable,
                retry_after_secs: Some(1)
            }
        );
        // A commit refused because the disk is full: retryable, never acknowledged.
        let e = ReceiverError::Pipeline(PipelineError::Store(
            spyglass_store::StoreError::DiskFull("No space left on device".into()),
        ));
        assert_eq!(
            e.mapping(),
            Mapping {
                http: 503,
                grpc: tonic::Code::Unavailable,
                retry_after_secs: Some(5)
            }
        );
        assert_eq!(
            ReceiverError::UnsupportedMediaType("text/plain".into())
                .mapping()
                .http,
            415
        );
    }
}
