//! Analytics answers assembled from aggregated rows. Backends do the scanning and grouping
//! (rollups, findings, trace summaries) and hand back one aggregate per bucket and group;
//! turning those into series, totals and rankings is the same for every backend, so it lives
//! here.

use crate::rollup::RollupAgg;
use crate::{Result, StoreError};
use spyglass_model::analytics::{
    GroupBy, Metric, Point, Series, Timeseries, TimeseriesQuery, TopEntry, TopKind, TopQuery,
};
use std::collections::{BTreeMap, HashMap};

/// One aggregate of a bucket (or of the whole range) for one group.
#[derive(Debug, Clone, PartialEq)]
pub struct BucketRow {
    pub bucket_ns: i64,
    pub group: Option<String>,
    pub agg: RollupAgg,
}

/// The metric over an aggregate. Latencies in milliseconds.
pub fn metric_value(m: Metric, a: &RollupAgg) -> Option<f64> {
    let per_span = |v: f64| (a.count > 0).then(|| v / a.count as f64);
    match m {
        Metric::Count | Metric::Findings => Some(a.count as f64),
        Metric::Errors => Some(a.errors as f64),
        Metric::ErrorRate => per_span(a.errors as f64),
        Metric::LatencyAvg => per_span(a.duration_ns as f64 / 1e6),
        Metric::LatencyP50 | Metric::LatencyP90 | Metric::LatencyP95 | Metric::LatencyP99 => a
            .latency
            .quantile(m.quantile().expect("percentile metric"))
            .map(|ns| ns / 1e6),
        Metric::InputTokens => Some(a.tokens[0] as f64),
        Metric::OutputTokens => Some(a.tokens[1] as f64),
        Metric::CacheReadTokens => Some(a.tokens[2] as f64),
        Metric::CacheWriteTokens => Some(a.tokens[3] as f64),
        Metric::ReasoningTokens => Some(a.tokens[4] as f64),
        Metric::Tokens => Some(a.tokens[5] as f64),
        // Spans without a price make the sum unknown, not $0; an empty bucket did cost $0.
        Metric::Cost => match a.cost_usd() {
            Some(c) => Some(c),
            None if a.count == 0 => Some(0.0),
            None => None,
        },
    }
}

/// Rejects combinations no backend can answer, with a message for the API caller.
pub fn check_timeseries(q: &TimeseriesQuery) -> Result<()> {
    let invalid = |m: String| Err(StoreError::InvalidQuery(m));
    if q.interval_s <= 0 || q.interval_s % 60 != 0 {
        return invalid("interval must be a whole number of minutes".into());
    }
    if q.to_ns <= q.from_ns {
        return invalid("`to` must be after `from`".into());
    }
    let points = (q.to_ns - q.bucket_of(q.from_ns)) / (q.interval_s * 1_000_000_000);
    if points > spyglass_model::analytics::MAX_POINTS {
        return invalid(format!(
            "{points} buckets; at most {} (use a wider interval)",
            spyglass_model::analytics::MAX_POINTS
        ));
    }
    let by_user = q.group_by == Some(GroupBy::User) || q.filter.user.is_some();
    if q.filter.user.is_some() && !matches!(q.group_by, None | Some(GroupBy::User)) {
        return invalid("a user filter can only be combined with group_by=user".into());
    }
    if by_user && q.metric.quantile().is_some() {
        return invalid(
            "latency percentiles are not kept per user; use latency_avg, or group by another dimension".into(),
        );
    }
    if by_user && q.metric == Metric::Findings {
        return invalid("findings cannot be split by user".into());
    }
    if q.metric == Metric::Findings {
        if matches!(
            q.group_by,
            Some(GroupBy::Model | GroupBy::Tool | GroupBy::Kind | GroupBy::Status)
        ) {
            return invalid("findings can be grouped by agent or service only".into());
        }
        if q.filter.model.is_some() || q.filter.tool.is_some() || q.filter.kind.is_some() {
            return invalid(
                "findings can be filtered by agent, service and min_severity only".into(),
            );
        }
    }
    Ok(())
}

/// Dense series over every bucket of the range, the `limit` groups with the largest totals
/// first (groups whose total has no value last).
pub fn timeseries(q: &TimeseriesQuery, rows: Vec<BucketRow>) -> Timeseries {
    let mut groups: HashMap<Option<String>, (RollupAgg, BTreeMap<i64, RollupAgg>)> = HashMap::new();
    for r in rows {
        let (_, buckets) = groups.entry(r.group).or_default();
        buckets
            .entry(q.bucket_of(r.bucket_ns))
            .or_default()
            .merge(&r.agg);
    }
    // Totals from the buckets: one merge per bucket rather than one per row.
    for (total, buckets) in groups.values_mut() {
        for b in buckets.values() {
            total.merge(b);
        }
    }
    if q.group_by.is_none() && groups.is_empty() {
        groups.insert(None, Default::default());
    }
    type Ranked = (Option<String>, Option<f64>, BTreeMap<i64, RollupAgg>);
    let mut ranked: Vec<Ranked> = groups
        .into_iter()
        .map(|(g, (total, buckets))| (g, metric_value(q.metric, &total), buckets))
        .collect();
    ranked.sort_by(|a, b| {
        b.1.is_some()
            .cmp(&a.1.is_some())
            .then(b.1.unwrap_or(0.0).total_cmp(&a.1.unwrap_or(0.0)))
            .then_with(|| a.0.cmp(&b.0))
    });
    ranked.truncate(q.limit.clamp(1, spyglass_model::analytics::MAX_SERIES) as usize);
    let empty = RollupAgg::default();
    let series = ranked
        .into_iter()
        .map(|(group, total, buckets)| Series {
            group,
            total,
            points: q
                .buckets()
                .into_iter()
                .map(|t| Point {
                    t_ns: t,
                    value: metric_value(q.metric, buckets.get(&t).unwrap_or(&empty)),
                })
                .collect(),
        })
        .collect();
    Timeseries {
        metric: q.metric,
        unit: q.metric.unit().to_string(),
        group_by: q.group_by,
        interval_s: q.interval_s,
        from_ns: q.from_ns,
        to_ns: q.to_ns,
        series,
    }
}

/// The dimension a rollup ranking groups by.
pub fn top_dimension(kind: TopKind) -> Option<GroupBy> {
    match kind {
        TopKind::SlowTools | TopKind::FailingTools => Some(GroupBy::Tool),
        TopKind::SlowModels | TopKind::FailingModels | TopKind::CostlyModels => {
            Some(GroupBy::Model)
        }
        TopKind::CostlyAgents => Some(GroupBy::Agent),
        TopKind::Traces | TopKind::Sessions | TopKind::Users => None,
    }
}

/// Ranks tools, models or agents from their aggregates over the range (rows without the
/// dimension are left out: a span with no tool is not a tool).
pub fn rank(q: &TopQuery, rows: Vec<BucketRow>) -> Vec<TopEntry> {
    let mut by: HashMap<String, RollupAgg> = HashMap::new();
    for r in rows {
        if let Some(g) = r.group {
            by.entry(g).or_default().merge(&r.agg);
        }
    }
    let mut entries: Vec<TopEntry> = by
        .into_iter()
        .filter(|(_, a)| a.count > 0)
        .map(|(key, a)| TopEntry {
            key,
            name: None,
            count: a.count,
            errors: a.errors,
            error_rate: metric_value(Metric::ErrorRate, &a),
            latency_p50_ms: metric_value(Metric::LatencyP50, &a),
            latency_p95_ms: metric_value(Metric::LatencyP95, &a),
            tokens: Some(a.tokens[5]),
            cost_usd: a.cost_usd(),
            first_ns: None,
            last_ns: None,
        })
        .collect();
    let score = |e: &TopEntry| -> (f64, f64) {
        match q.kind {
            TopKind::SlowTools | TopKind::SlowModels => (e.latency_p95_ms.unwrap_or(0.0), 0.0),
            TopKind::FailingTools | TopKind::FailingModels => {
                (e.errors as f64, e.error_rate.unwrap_or(0.0))
            }
            _ => (e.cost_usd.unwrap_or(0.0), e.count as f64),
        }
    };
    entries.sort_by(|a, b| {
        let (sa, sb) = (score(a), score(b));
        sb.0.total_cmp(&sa.0)
            .then(sb.1.total_cmp(&sa.1))
            .then_with(|| a.key.cmp(&b.key))
    });
    if matches!(q.kind, TopKind::FailingTools | TopKind::FailingModels) {
        entries.retain(|e| e.errors > 0);
    }
    entries.truncate(q.limit.clamp(1, spyglass_model::query::MAX_LIMIT) as usize);
    entries
}

/// A usage line as a ranking entry.
pub fn usage_entry(u: spyglass_model::analytics::Usage) -> TopEntry {
    TopEntry {
        key: u.key,
        name: None,
        count: u.traces,
        errors: u.error_traces,
        error_rate: (u.traces > 0).then(|| u.error_traces as f64 / u.traces as f64),
        latency_p50_ms: None,
        latency_p95_ms: None,
        tokens: Some(u.total_tokens),
        cost_usd: u.cost_usd,
        first_ns: Some(u.first_ns),
        last_ns: Some(u.last_ns),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_model::analytics::AnalyticsFilter;

    fn agg(
        count: i64,
        errors: i64,
        cost_nano: i64,
        priced: i64,
        latencies_ms: &[f64],
    ) -> RollupAgg {
        let mut a = RollupAgg {
            count,
            errors,
            cost_nano_usd: cost_nano,
            priced,
            ..RollupAgg::default()
        };
        for l in latencies_ms {
            a.latency.add(l * 1e6, 1);
            a.duration_ns += (l * 1e6) as i64;
        }
        a
    }

    fn query(metric: Metric, group_by: Option<GroupBy>) -> TimeseriesQuery {
        TimeseriesQuery {
            metric,
            group_by,
            interval_s: 120,
            from_ns: 0,
            to_ns: 360_000_000_000,
            filter: AnalyticsFilter::default(),
            limit: 1,
        }
    }

    #[test]
    fn buckets_merge_minutes_and_empty_buckets_follow_the_metric() {
        let m = 60_000_000_000;
        let rows = vec![
            BucketRow {
                bucket_ns: 0,
                group: None,
                agg: agg(2, 1, 0, 0, &[10.0, 30.0]),
            },
            BucketRow {
                bucket_ns: m,
                group: None,
                agg: agg(2, 0, 0, 0, &[20.0, 40.0]),
            },
        ];
        let ts = timeseries(&query(Metric::Count, None), rows.clone());
        let values: Vec<_> = ts.series[0].points.iter().map(|p| p.value).collect();
        assert_eq!(values, vec![Some(4.0), Some(0.0), Some(0.0)]);
        let ts = timeseries(&query(Metric::ErrorRate, None), rows.clone());
        let values: Vec<_> = ts.series[0].points.iter().map(|p| p.value).collect();
        assert_eq!(values, vec![Some(0.25), None, None]);
        let ts = timeseries(&query(Metric::LatencyP99, None), rows);
        let p99 = ts.series[0].points[0].value.unwrap();
        // Rank ⌊0.99 · 3⌋ = 2 of 10, 20, 30, 40.
        assert!((p99 - 30.0).abs() <= 0.3, "{p99}");
    }

    #[test]
    fn the_largest_groups_are_kept_and_unpriced_cost_is_unknown() {
        let rows = vec![
            BucketRow {
                bucket_ns: 0,
                group: Some("small".into()),
                agg: agg(1, 0, 1_000, 1, &[]),
            },
            BucketRow {
                bucket_ns: 0,
                group: Some("big".into()),
                agg: agg(1, 0, 9_000, 1, &[]),
            },
            BucketRow {
                bucket_ns: 0,
                group: Some("unpriced".into()),
                agg: agg(5, 0, 0, 0, &[]),
            },
        ];
        let mut q = query(Metric::Cost, Some(GroupBy::Model));
        let ts = timeseries(&q, rows.clone());
        assert_eq!(ts.series.len(), 1);
        assert_eq!(ts.series[0].group.as_deref(), Some("big"));
        q.limit = 10;
        let ts = timeseries(&q, rows);
        let last = ts.series.last().unwrap();
        assert_eq!(
            (last.group.as_deref(), last.total),
            (Some("unpriced"), None)
        );
        assert_eq!(last.points[1].value, Some(0.0));
    }

    #[test]
    fn percentiles_by_user_are_refused() {
        let q = query(Metric::LatencyP95, Some(GroupBy::User));
        assert!(matches!(
            check_timeseries(&q),
            Err(StoreError::InvalidQuery(_))
        ));
        let q = query(Metric::Findings, Some(GroupBy::Model));
        assert!(check_timeseries(&q).is_err());
        assert!(check_timeseries(&query(Metric::Cost, Some(GroupBy::User))).is_ok());
    }

    #[test]
    fn failing_ranks_by_errors_and_drops_clean_entries() {
        let rows = vec![
            BucketRow {
                bucket_ns: 0,
                group: Some("a".into()),
                agg: agg(10, 1, 0, 0, &[]),
            },
            BucketRow {
                bucket_ns: 0,
                group: Some("b".into()),
                agg: agg(10, 5, 0, 0, &[]),
            },
            BucketRow {
                bucket_ns: 0,
                group: Some("c".into()),
                agg: agg(10, 0, 0, 0, &[]),
            },
            BucketRow {
                bucket_ns: 0,
                group: None,
                agg: agg(10, 9, 0, 0, &[]),
            },
        ];
        let q = TopQuery {
            kind: TopKind::FailingTools,
            from_ns: 0,
            to_ns: 1,
            filter: AnalyticsFilter::default(),
            limit: 10,
        };
        let keys: Vec<_> = rank(&q, rows).into_iter().map(|e| e.key).collect();
        assert_eq!(keys, vec!["b", "a"]);
    }
}
