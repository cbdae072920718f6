//! Usage analytics: the metrics, dimensions and filters of `/api/v1/analytics/*`, shared by
//! the store (which answers them from per-minute rollups), the API and the alert evaluator.

use crate::span::SpanKind;
use serde::{Deserialize, Serialize};

string_enum!(
    /// A measure over spans in a time bucket.
    Metric {
        /// Finished spans (throughput).
        Count => "count",
        Errors => "errors",
        /// Errors / count, 0..1.
        ErrorRate => "error_rate",
        LatencyAvg => "latency_avg",
        LatencyP50 => "latency_p50",
        LatencyP90 => "latency_p90",
        LatencyP95 => "latency_p95",
        LatencyP99 => "latency_p99",
        /// Total tokens (input + output when no total was reported).
        Tokens => "tokens",
        InputTokens => "input_tokens",
        OutputTokens => "output_tokens",
        CacheReadTokens => "cache_read_tokens",
        CacheWriteTokens => "cache_write_tokens",
        ReasoningTokens => "reasoning_tokens",
        /// US dollars, priced spans only.
        Cost => "cost",
        /// Security findings on spans that started in the bucket (see `AnalyticsFilter::min_severity`).
        Findings => "findings",
    }
);

impl Metric {
    /// What a value of this metric is measured in.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Count | Metric::Errors | Metric::Findings => "spans",
            Metric::ErrorRate => "ratio",
            Metric::LatencyAvg
            | Metric::LatencyP50
            | Metric::LatencyP90
            | Metric::LatencyP95
            | Metric::LatencyP99 => "ms",
            Metric::Cost => "usd",
            _ => "tokens",
        }
    }

    /// Sums (and counts) read as 0 in a bucket without spans; averages, ratios and
    /// percentiles have no value there.
    pub fn is_additive(self) -> bool {
        !matches!(
            self,
            Metric::ErrorRate
                | Metric::LatencyAvg
                | Metric::LatencyP50
                | Metric::LatencyP90
                | Metric::LatencyP95
                | Metric::LatencyP99
        )
    }

    /// The quantile of a latency percentile metric.
    pub fn quantile(self) -> Option<f64> {
        match self {
            Metric::LatencyP50 => Some(0.50),
            Metric::LatencyP90 => Some(0.90),
            Metric::LatencyP95 => Some(0.95),
            Metric::LatencyP99 => Some(0.99),
            _ => None,
        }
    }
}

string_enum!(
    /// A dimension to split a series by.
    GroupBy {
        Model => "model",
        Agent => "agent",
        Service => "service",
        Tool => "tool",
        Kind => "kind",
        Status => "status",
        /// Per trace, from trace summaries: rollups do not carry the user (its cardinality is
        /// unbounded), so by-user series count traces, their durations, tokens and cost.
        User => "user",
    }
);

/// Narrows the spans an analytics query reads. Empty means every span of the project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(default, deny_unknown_fields)]
pub struct AnalyticsFilter {
    pub service: Option<String>,
    pub agent: Option<String>,
    pub model: Option<String>,
    pub tool: Option<String>,
    pub kind: Option<SpanKind>,
    /// Only the user's traces (served from trace summaries, as `GroupBy::User`).
    pub user: Option<String>,
    /// For `Metric::Findings`: at least this severe (default: every finding).
    pub min_severity: Option<crate::finding::Severity>,
}

impl AnalyticsFilter {
    pub fn is_empty(&self) -> bool {
        *self == AnalyticsFilter::default()
    }
}

/// `GET /api/v1/analytics/timeseries`.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeseriesQuery {
    pub metric: Metric,
    pub group_by: Option<GroupBy>,
    /// Bucket width in seconds, a whole number of minutes.
    pub interval_s: i64,
    /// `[from_ns, to_ns)`; the first bucket starts at `from_ns` rounded down to the interval.
    pub from_ns: i64,
    pub to_ns: i64,
    pub filter: AnalyticsFilter,
    /// Most series returned (the groups with the largest totals).
    pub limit: u32,
}

/// Buckets a timeseries may have; a wider range needs a wider interval.
pub const MAX_POINTS: i64 = 2_000;
pub const DEFAULT_SERIES: u32 = 10;
pub const MAX_SERIES: u32 = 100;

impl TimeseriesQuery {
    /// An interval giving at most ~120 points over the range, in whole minutes from a ladder
    /// of round widths.
    pub fn auto_interval_s(from_ns: i64, to_ns: i64) -> i64 {
        const LADDER: &[i64] = &[
            60,
            300,
            600,
            900,
            1800,
            3600,
            3 * 3600,
            6 * 3600,
            12 * 3600,
            86400,
        ];
        let span_s = ((to_ns - from_ns).max(0) / 1_000_000_000).max(60);
        LADDER
            .iter()
            .copied()
            .find(|i| span_s / i <= 120)
            .unwrap_or_else(|| (span_s / 120 / 86400 + 1) * 86400)
    }

    /// The start of the bucket holding `t_ns`.
    pub fn bucket_of(&self, t_ns: i64) -> i64 {
        let w = self.interval_s * 1_000_000_000;
        t_ns.div_euclid(w) * w
    }

    /// Bucket starts covering the range.
    pub fn buckets(&self) -> Vec<i64> {
        let w = self.interval_s * 1_000_000_000;
        let mut out = Vec::new();
        let mut t = self.bucket_of(self.from_ns);
        while t < self.to_ns {
            out.push(t);
            t += w;
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Point {
    /// Bucket start, Unix ns.
    pub t_ns: i64,
    /// `null` where the metric has no value (no spans for a percentile or rate).
    pub value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Series {
    /// The group's value (`null` for spans without one, or when not grouped).
    pub group: Option<String>,
    /// The metric over the whole range.
    pub total: Option<f64>,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timeseries {
    pub metric: Metric,
    pub unit: String,
    pub group_by: Option<GroupBy>,
    pub interval_s: i64,
    pub from_ns: i64,
    pub to_ns: i64,
    pub series: Vec<Series>,
}

string_enum!(
    /// A ranking of `GET /api/v1/analytics/top`.
    TopKind {
        /// Most expensive traces.
        Traces => "traces",
        /// Most expensive sessions.
        Sessions => "sessions",
        /// Most expensive users.
        Users => "users",
        /// Slowest tools (p95).
        SlowTools => "slow_tools",
        /// Tools with the most errors.
        FailingTools => "failing_tools",
        SlowModels => "slow_models",
        FailingModels => "failing_models",
        /// Models by cost.
        CostlyModels => "costly_models",
        CostlyAgents => "costly_agents",
    }
);

#[derive(Debug, Clone, PartialEq)]
pub struct TopQuery {
    pub kind: TopKind,
    pub from_ns: i64,
    pub to_ns: i64,
    pub filter: AnalyticsFilter,
    pub limit: u32,
}

/// One ranked entry: a trace, session, user, tool or model, with its figures over the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopEntry {
    /// Trace id (hex), session id, user id, tool or model name.
    pub key: String,
    /// For traces: the root span's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Spans for tools and models; traces for sessions and users; spans for a trace.
    pub count: i64,
    pub errors: i64,
    pub error_rate: Option<f64>,
    pub latency_p50_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub tokens: Option<i64>,
    pub cost_usd: Option<f64>,
    pub first_ns: Option<i64>,
    pub last_ns: Option<i64>,
}

string_enum!(
    /// `GET /api/v1/analytics/usage`: per user or per session.
    UsageBy {
        User => "user",
        Session => "session",
    }
);

#[derive(Debug, Clone, PartialEq)]
pub struct UsageQuery {
    pub by: UsageBy,
    pub from_ns: Option<i64>,
    pub to_ns: Option<i64>,
    /// One user or session only.
    pub key: Option<String>,
    pub limit: u32,
    /// Entries after this many (offset paging: the list is sorted by cost, which moves).
    pub offset: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Usage {
    pub key: String,
    pub traces: i64,
    pub spans: i64,
    pub error_traces: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cache_read_tokens: i64,
    pub reasoning_tokens: i64,
    pub total_tokens: i64,
    /// `null` when none of the traces was priced.
    pub cost_usd: Option<f64>,
    pub first_ns: i64,
    pub last_ns: i64,
    /// Sessions of a user (for `by=user`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sessions: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_interval_keeps_points_bounded() {
        let h = 3_600_000_000_000i64;
        for (span, want) in [
            (h, 60),
            (24 * h, 900),
            (7 * 24 * h, 3 * 3600),
            (90 * 24 * h, 86400),
        ] {
            assert_eq!(TimeseriesQuery::auto_interval_s(0, span), want, "{span}");
        }
        let year = 365 * 24 * h;
        let i = TimeseriesQuery::auto_interval_s(0, year);
        assert!(year / (i * 1_000_000_000) <= 120 && i % 86400 == 0);
    }

    #[test]
    fn buckets_cover_the_range_from_a_rounded_start() {
        let q = TimeseriesQuery {
            metric: Metric::Count,
            group_by: None,
            interval_s: 60,
            from_ns: 90_000_000_000,
            to_ns: 240_000_000_000,
            filter: AnalyticsFilter::default(),
            limit: 10,
        };
        assert_eq!(
            q.buckets(),
            vec![60_000_000_000, 120_000_000_000, 180_000_000_000]
        );
    }
}
