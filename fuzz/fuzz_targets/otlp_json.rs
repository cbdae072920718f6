#![no_main]
//! Arbitrary bytes as OTLP/JSON.

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = spyglass_ingest::decode::decode_json(data) {
        common::check(req);
    }
});
