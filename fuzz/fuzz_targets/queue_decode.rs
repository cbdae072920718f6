#![no_main]
//! Arbitrary bytes as a queue entry: a span-stream entry (`decode_spans`) and a live-stream
//! batch (`decode_batch_parts`). Never a panic; whatever decodes re-encodes to bytes that
//! decode to the same value, and encoding that value again gives the same bytes.

use libfuzzer_sys::fuzz_target;
use spyglass_queue::codec;

fuzz_target!(|data: &[u8]| {
    if let Ok(spans) = codec::decode_spans(data) {
        let again = codec::encode_spans(&spans);
        let back = codec::decode_spans(&again).expect("re-encoded spans decode");
        // Compared through Debug: a NaN cost never equals itself, its text does.
        assert_eq!(format!("{back:?}"), format!("{spans:?}"));
        assert_eq!(codec::encode_spans(&back), again);
    }
    if let Ok((spans, findings)) = codec::decode_batch_parts(data) {
        let again = codec::encode_batch_parts(&spans, &findings);
        let (s2, f2) = codec::decode_batch_parts(&again).expect("re-encoded batch decodes");
        assert_eq!(format!("{s2:?}{f2:?}"), format!("{spans:?}{findings:?}"));
        assert_eq!(codec::encode_batch_parts(&s2, &f2), again);
    }
});
