//! Spyglass's canonical data model: spans, traces, sessions and query parameters.
//! Pure types, no IO; every other crate speaks these.

/// An enum stored as a small code and serialized as a snake_case string.
#[macro_use]
mod string_enum {
    macro_rules! string_enum {
        ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $s:literal),+ $(,)? }) => {
            $(#[$m])*
            #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
            #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
            #[serde(rename_all = "snake_case")]
            pub enum $name { $($(#[$vm])* $variant),+ }

            impl $name {
                pub const ALL: &'static [$name] = &[$($name::$variant),+];
                pub fn as_str(self) -> &'static str {
                    match self { $($name::$variant => $s),+ }
                }
                pub fn parse(s: &str) -> Option<Self> {
                    match s { $($s => Some($name::$variant),)+ _ => None }
                }
                /// A compact code for storage: the variant's position. Stored data depends on it,
                /// so variants are only ever appended.
                pub fn code(self) -> u8 {
                    self as u8
                }
                pub fn from_code(code: u8) -> Option<Self> {
                    Self::ALL.get(code as usize).copied()
                }
            }

            impl std::fmt::Display for $name {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str(self.as_str())
                }
            }
        };
    }
}

pub mod alert;
pub mod analytics;
pub mod audit;
pub mod auth;
pub mod finding;
pub mod ids;
pub mod json_text;
pub mod query;
pub mod span;
pub mod topology;
pub mod trace;

pub use finding::{Category, Encoding, Field, Finding, Severity, SpanFinding, Vector};
pub use ids::{IdError, SpanId, TraceId};
pub use json_text::JsonText;
pub use query::{FindingCounts, FindingQuery};
pub use span::{
    Convention, Conventions, CostSource, Event, Link, OtelKind, Resource, Span, SpanKind, Status,
    Tokens,
};
pub use trace::{
    FacetValue, Facets, SessionDetail, SessionSummary, SpanOutline, TraceDetail, TraceSummary,
    TreeRow, TreeShape, build_tree, tree_shape,
};

/// The project of the single-project local mode (no API keys configured).
pub const DEFAULT_PROJECT: &str = "default";

/// Current wall-clock time in Unix nanoseconds.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// An error and its causes on one line ("error sending request: … : connection refused"): the
/// top-level messages of HTTP and gRPC clients alone do not say what went wrong.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
