//! Pre-encoded OTLP requests whose ids are rewritten for every send. Generating and encoding
//! realistic traces costs far more CPU than sending them, and the load generator shares the
//! machine with the server, so traces are built once and, per send, every trace id and span
//! id is XORed with a fresh nonce at the byte offsets where they occur (parent references
//! included, so trees stay intact), and every timestamp is moved by the time elapsed since
//! the template was built, so traces start when they are sent as they would in production.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use spyglass_synth::{Rng, random};

pub struct Template {
    pub bytes: Vec<u8>,
    pub spans: usize,
    /// Offsets of the first 8 bytes of every trace id and span id occurrence.
    id_offsets: Vec<usize>,
    /// Offsets of every span start, span end and event timestamp (fixed64, little-endian).
    time_offsets: Vec<usize>,
    /// The time the template's traces start at, before shifting.
    pub start_ns: i64,
    /// One sampled trace id offset (for the query benchmark's list of known traces).
    pub first_trace_offset: usize,
}

impl Template {
    /// Builds a request of whole random traces totalling about `target_spans` spans, each
    /// trace `min..=max` spans.
    pub fn build(
        rng: &mut Rng,
        start_ns: i64,
        target_spans: usize,
        min: usize,
        max: usize,
        service: &str,
    ) -> Template {
        let mut spans = Vec::with_capacity(target_spans + max);
        while spans.len() < target_spans {
            let n = rng.range(min as u64, max as u64 + 1) as usize;
            spans.extend(random::trace(rng, start_ns, n));
        }
        let mut ids: Vec<[u8; 8]> = Vec::new();
        let mut times: std::collections::HashSet<[u8; 8]> = Default::default();
        for s in &spans {
            ids.push(s.trace_id[..8].try_into().expect("16-byte id"));
            ids.push(s.span_id[..].try_into().expect("8-byte id"));
            // Zero (a running span's end) is not encoded at all.
            let stamps = [s.start_time_unix_nano, s.end_time_unix_nano]
                .into_iter()
                .chain(s.events.iter().map(|e| e.time_unix_nano));
            times.extend(stamps.filter(|&t| t != 0).map(u64::to_le_bytes));
        }
        let n = spans.len();
        let req: ExportTraceServiceRequest =
            spyglass_synth::build::request(service, "loadtest", "spyglass.loadgen", spans);
        let bytes = req.encode_to_vec();
        // Every id is random, so an 8-byte match is an occurrence (a false match in other data
        // has probability ~2^-64 per position).
        let set: std::collections::HashSet<[u8; 8]> = ids.into_iter().collect();
        let mut id_offsets = Vec::new();
        let mut i = 0;
        while i + 8 <= bytes.len() {
            let w: [u8; 8] = bytes[i..i + 8].try_into().expect("8 bytes");
            if set.contains(&w) {
                id_offsets.push(i);
                i += 8;
            } else {
                i += 1;
            }
        }
        // Timestamps are fixed64 fields: span start (field 7, tag 0x39), span end (field 8,
        // 0x41), event time (field 1, 0x09); a tag followed by a known value is one.
        let time_offsets = (0..bytes.len().saturating_sub(8))
            .filter(|&i| {
                matches!(bytes[i], 0x39 | 0x41 | 0x09)
                    && times.contains::<[u8; 8]>(&bytes[i + 1..i + 9].try_into().expect("8"))
            })
            .map(|i| i + 1)
            .collect();
        let first_trace_offset = id_offsets[0];
        Template {
            bytes,
            spans: n,
            id_offsets,
            time_offsets,
            start_ns,
            first_trace_offset,
        }
    }

    /// A copy with every id XORed with `nonce` (nonzero) and every timestamp moved by
    /// `shift_ns`.
    pub fn instantiate(&self, nonce: u64, shift_ns: i64) -> Vec<u8> {
        let mut b = self.bytes.clone();
        let x = nonce.to_be_bytes();
        for &o in &self.id_offsets {
            for k in 0..8 {
                b[o + k] ^= x[k];
            }
        }
        for &o in &self.time_offsets {
            let field = &mut b[o..o + 8];
            let t = u64::from_le_bytes((&*field).try_into().expect("8 bytes"));
            field.copy_from_slice(&t.wrapping_add_signed(shift_ns).to_le_bytes());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn instances_have_fresh_consistent_ids() {
        let mut rng = Rng::new(3);
        let t = Template::build(&mut rng, 1_800_000_000_000_000_000, 300, 5, 50, "svc");
        let a = ExportTraceServiceRequest::decode(&t.instantiate(0x1234_5678_9abc_def1, 0)[..])
            .unwrap();
        let b = ExportTraceServiceRequest::decode(&t.instantiate(0x0fed_cba9_8765_4321, 5_000)[..])
            .unwrap();
        let spans =
            |r: &ExportTraceServiceRequest| r.resource_spans[0].scope_spans[0].spans.clone();
        let (sa, sb) = (spans(&a), spans(&b));
        assert_eq!(sa.len(), t.spans);
        // Every timestamp moved, durations kept.
        for (x, y) in sa.iter().zip(&sb) {
            assert_eq!(y.start_time_unix_nano, x.start_time_unix_nano + 5_000);
            if x.end_time_unix_nano != 0 {
                assert_eq!(y.end_time_unix_nano, x.end_time_unix_nano + 5_000);
            }
            for (ex, ey) in x.events.iter().zip(&y.events) {
                assert_eq!(ey.time_unix_nano, ex.time_unix_nano + 5_000);
            }
        }
        let ids_a: HashSet<_> = sa.iter().map(|s| s.span_id.clone()).collect();
        assert!(
            sb.iter().all(|s| !ids_a.contains(&s.span_id)),
            "new ids per instance"
        );
        // Parent references still resolve inside each trace.
        let by_id: HashSet<_> = sa
            .iter()
            .map(|s| (s.trace_id.clone(), s.span_id.clone()))
            .collect();
        for s in &sa {
            if !s.parent_span_id.is_empty() {
                assert!(by_id.contains(&(s.trace_id.clone(), s.parent_span_id.clone())));
            }
        }
    }
}
