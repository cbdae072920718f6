#![no_main]
//! Arbitrary bytes as a gzip body: never more output than the cap, never a panic.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(out) = spyglass_ingest::decode::gunzip_limited(data, 1 << 16) {
        assert!(out.len() <= 1 << 16);
    }
});
