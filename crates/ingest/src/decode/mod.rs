//! Request bodies to OTLP messages: gzip with a hard output cap, protobuf, and OTLP/JSON.

mod json;
pub mod sanitize;

use crate::error::IngestError;
pub use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use std::io::Read;

/// The two OTLP/HTTP payload encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

/// A decoded request, and what had to be repaired to decode it (for the sender to be told).
#[derive(Debug)]
pub struct Decoded {
    pub request: ExportTraceServiceRequest,
    pub repairs: Vec<String>,
}

impl From<ExportTraceServiceRequest> for Decoded {
    fn from(request: ExportTraceServiceRequest) -> Self {
        Decoded {
            request,
            repairs: Vec::new(),
        }
    }
}

/// Decodes a (decompressed) body. `max_depth` is the nesting kept in attribute values when a
/// protobuf request nests deeper than the decoder allows.
pub fn decode_request(
    body: &[u8],
    format: Format,
    max_depth: usize,
) -> Result<Decoded, IngestError> {
    match format {
        Format::Protobuf => decode_protobuf(body, max_depth),
        Format::Json => Ok(Decoded {
            request: json::decode(body)?,
            repairs: Vec::new(),
        }),
    }
}

/// Decodes protobuf. A well-framed request that prost refuses only for attribute nesting
/// beyond its recursion limit or for invalid UTF-8 is repaired at the wire level
/// ([`sanitize`]) rather than refused whole; anything else malformed is an error.
pub fn decode_protobuf(body: &[u8], max_depth: usize) -> Result<Decoded, IngestError> {
    let err = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            return Ok(Decoded {
                request,
                repairs: Vec::new(),
            });
        }
        Err(e) => e.to_string(),
    };
    let repairable = err.contains("recursion limit") || err.contains("UTF-8");
    if !repairable {
        return Err(IngestError::MalformedProtobuf(err));
    }
    let (fixed, r) = sanitize::repair(body, max_depth)
        .map_err(|_| IngestError::MalformedProtobuf(err.clone()))?;
    let request = ExportTraceServiceRequest::decode(&fixed[..])
        .map_err(|_| IngestError::MalformedProtobuf(err))?;
    let mut repairs = Vec::new();
    if r.depth_cuts > 0 {
        repairs.push(format!(
            "{} attribute value(s) nested deeper than {max_depth} levels were cut to \"[depth limit]\"",
            r.depth_cuts
        ));
    }
    if r.invalid_utf8 > 0 {
        repairs.push(format!(
            "{} string(s) were not valid UTF-8 and were stored with U+FFFD replacement characters",
            r.invalid_utf8
        ));
    }
    Ok(Decoded { request, repairs })
}

pub use json::decode as decode_json;

/// Inflates a gzip body, refusing to produce more than `limit` bytes, so a small "gzip bomb"
/// cannot exhaust memory.
pub fn gunzip_limited(body: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit).min(1 << 24));
    let mut dec = flate2::read::MultiGzDecoder::new(body).take(limit as u64 + 1);
    dec.read_to_end(&mut out)
        .map_err(|e| IngestError::CorruptGzip(e.to_string()))?;
    if out.len() > limit {
        return Err(IngestError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

/// Applies a `Content-Encoding` header value.
pub fn decode_content_encoding<'a>(
    body: &'a [u8],
    encoding: Option<&str>,
    limit: usize,
) -> Result<std::borrow::Cow<'a, [u8]>, IngestError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()) {
        None => Ok(std::borrow::Cow::Borrowed(body)),
        Some(e) if e.is_empty() || e == "identity" => Ok(std::borrow::Cow::Borrowed(body)),
        Some(e) if e == "gzip" || e == "x-gzip" => {
            gunzip_limited(body, limit).map(std::borrow::Cow::Owned)
        }
        Some(e) => Err(IngestError::UnsupportedEncoding(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_round_trip_and_bomb() {
        assert_eq!(gunzip_limited(&gz(b"hello"), 100).unwrap(), b"hello");
        let bomb = gz(&vec![0u8; 10 << 20]);
        assert!(bomb.len() < 20_000);
        assert_eq!(
            gunzip_limited(&bomb, 1 << 20),
            Err(IngestError::DecompressedTooLarge { limit: 1 << 20 })
        );
        assert!(matches!(
            gunzip_limited(b"not gzip at all", 100),
            Err(IngestError::CorruptGzip(_))
        ));
        let mut trunc = gz(b"hello world hello world");
        trunc.truncate(trunc.len() - 6);
        assert!(matches!(
            gunzip_limited(&trunc, 100),
            Err(IngestError::CorruptGzip(_))
        ));
    }

    #[test]
    fn content_encodings() {
        assert!(matches!(
            decode_content_encoding(b"x", Some("br"), 10),
            Err(IngestError::UnsupportedEncoding(_))
        ));
        assert_eq!(
            &*decode_content_encoding(b"x", Some("identity"), 10).unwrap(),
            b"x"
        );
    }

    #[test]
    fn garbage_protobuf_is_malformed() {
        assert!(matches!(
            decode_protobuf(&[0xff, 0xff, 0xff, 0x01], 16),
            Err(IngestError::MalformedProtobuf(_))
        ));
    }
}
