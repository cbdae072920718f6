//! Invariants every normalized span must satisfy, whatever the input.

use spyglass_ingest::{ExportTraceServiceRequest, Limits, Normalizer};

pub fn check(req: ExportTraceServiceRequest) {
    let limits = Limits::default();
    let out = Normalizer::new(limits).normalize(req, "fuzz", 1);
    for s in &out.spans {
        assert!(!s.trace_id.is_zero() && !s.span_id.is_zero());
        assert!(s.end_ns.is_none_or(|e| e >= s.start_ns));
        assert_eq!(s.duration_ns, s.end_ns.map(|e| e - s.start_ns));
        serde_json::from_str::<serde_json::Value>(s.attributes.as_str()).expect("attributes are JSON");
        serde_json::from_str::<serde_json::Value>(s.resource_attributes.as_str()).expect("resource attributes are JSON");
        for p in [&s.input, &s.output].into_iter().flatten() {
            // A message array may be cut only when it cannot fit even with every content cut.
            assert!(p.len() <= limits.max_payload_bytes + 64, "payload over its cap: {}", p.len());
        }
        assert!(s.name.len() <= limits.max_name_bytes + 40);
        serde_json::to_string(s).expect("canonical span serializes");
    }
    let _ = out.message();
}
