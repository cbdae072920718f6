//! `google.rpc.Status` and `google.rpc.RetryInfo`, the error payloads OTLP uses (HTTP bodies
//! and gRPC status details).

use prost::Message;

#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<prost_types::Any>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<prost_types::Duration>,
}

pub fn retry_info(secs: u64) -> prost_types::Any {
    prost_types::Any {
        type_url: "type.googleapis.com/google.rpc.RetryInfo".into(),
        value: RetryInfo {
            retry_delay: Some(prost_types::Duration {
                seconds: secs as i64,
                nanos: 0,
            }),
        }
        .encode_to_vec(),
    }
}

/// A gRPC status, with RetryInfo in its details when the client should retry later.
pub fn grpc_status(
    code: tonic::Code,
    message: String,
    retry_after_secs: Option<u64>,
) -> tonic::Status {
    match retry_after_secs {
        None => tonic::Status::new(code, message),
        Some(secs) => {
            let details = RpcStatus {
                code: code as i32,
                message: message.clone(),
                details: vec![retry_info(secs)],
            };
            tonic::Status::with_details(code, message, details.encode_to_vec().into())
        }
    }
}

/// The JSON form of a Status for OTLP/HTTP JSON error bodies.
pub fn json_status(code: tonic::Code, message: &str) -> serde_json::Value {
    serde_json::json!({ "code": code as i32, "message": message })
}
