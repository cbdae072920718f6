#![no_main]
//! Arbitrary bytes as an OTLP protobuf request: decoding never panics, and whatever decodes
//! normalizes into spans that satisfy the canonical invariants.

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(decoded) = spyglass_ingest::decode::decode_protobuf(data, 16) {
        common::check(decoded.request);
    }
});
