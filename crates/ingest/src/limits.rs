//! Per-span limits. Values beyond them are cut with a visible marker, never silently.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Attributes kept per span; the rest are dropped and counted in
    /// `spyglass.dropped_attributes_count`.
    pub max_attributes_per_span: usize,
    /// Bytes kept of any one attribute string value.
    pub max_attribute_value_bytes: usize,
    /// Bytes kept of a span's canonical input and of its output.
    pub max_payload_bytes: usize,
    /// Nesting depth kept in array/map attribute values.
    pub max_value_depth: usize,
    pub max_events_per_span: usize,
    pub max_links_per_span: usize,
    /// Bytes kept of span names, ids such as session and user, and model names.
    pub max_name_bytes: usize,
    /// Spans further in the future than this (clock skew allowance) are rejected.
    pub max_future_skew_secs: u64,
    /// Spans taken from one request; the rest are rejected (OTLP partial success), so one
    /// request cannot hold the pipeline for long.
    pub max_spans_per_request: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_attributes_per_span: 1024,
            max_attribute_value_bytes: 64 * 1024,
            max_payload_bytes: 256 * 1024,
            max_value_depth: 16,
            max_events_per_span: 1024,
            max_links_per_span: 128,
            max_name_bytes: 1024,
            max_future_skew_secs: 24 * 3600,
            max_spans_per_request: 100_000,
        }
    }
}

/// 2000-01-01T00:00:00Z: anything earlier is a unit mistake (seconds or micros sent as nanos).
pub const MIN_TIMESTAMP_NS: i64 = 946_684_800_000_000_000;
