//! Conformance cases of the analytics queries (rollups, rankings, usage) and alert storage.

use super::{T0, llm, span, write};
use crate::Store;
use crate::rollup::{MINUTE_NS, NANO_USD};
use crate::sketch::ALPHA;
use spyglass_model::alert::{
    AlertEvent, AlertRule, AlertSeverity, AlertState, Comparator, ConditionKind,
};
use spyglass_model::analytics::{
    AnalyticsFilter, GroupBy, Metric, Timeseries, TimeseriesQuery, TopKind, TopQuery, UsageBy,
    UsageQuery,
};
use spyglass_model::{Span, SpanKind, Status, Tokens};
use std::collections::{BTreeMap, HashMap};

const MS: i64 = 1_000_000;

fn ts_query(metric: Metric, group_by: Option<GroupBy>, interval_s: i64) -> TimeseriesQuery {
    TimeseriesQuery {
        metric,
        group_by,
        interval_s,
        from_ns: T0 - 3600 * 1_000_000_000,
        to_ns: T0 + 3600 * 1_000_000_000,
        filter: AnalyticsFilter::default(),
        limit: 100,
    }
}

async fn series(store: &dyn Store, p: &str, q: &TimeseriesQuery) -> Timeseries {
    store.timeseries(p, q).await.expect("timeseries")
}

fn totals(ts: &Timeseries) -> BTreeMap<Option<String>, Option<f64>> {
    ts.series
        .iter()
        .map(|s| (s.group.clone(), s.total))
        .collect()
}

fn tool(mut s: Span, name: &str) -> Span {
    s.kind = SpanKind::Tool;
    s.tool_name = Some(name.into());
    s
}

pub async fn analytics_timeseries_top_and_usage(store: &dyn Store) {
    let p = "analytics";
    let mut spans = vec![
        llm(span(p, 1, 1, None, 0, 100), "gpt-4o", 100, 50, Some(0.01)),
        llm(span(p, 1, 2, None, 10, 300), "gpt-4o", 10, 5, Some(0.02)),
        llm(span(p, 2, 1, None, 70_000, 200), "claude", 7, 3, None),
        tool(span(p, 2, 2, Some(1), 70_010, 900), "search"),
        tool(span(p, 2, 3, Some(1), 70_020, 100), "search"),
        tool(span(p, 2, 4, Some(1), 70_030, 50), "shell"),
    ];
    spans[5].status = Status::Error;
    for s in &mut spans[..2] {
        s.user_id = Some("ann".into());
        s.session_id = Some("s1".into());
    }
    for s in &mut spans[2..] {
        s.user_id = Some("bob".into());
    }
    // A running version of another span: not counted until it finishes.
    let mut running = llm(span(p, 3, 1, None, 5, 10), "gpt-4o", 1, 1, Some(0.001));
    running.end_ns = None;
    running.duration_ns = None;
    spans.push(running);
    write(store, spans).await;

    let ts = series(store, p, &ts_query(Metric::Count, Some(GroupBy::Model), 60)).await;
    assert_eq!(
        totals(&ts),
        BTreeMap::from([
            (None, Some(3.0)),
            (Some("claude".into()), Some(1.0)),
            (Some("gpt-4o".into()), Some(2.0)),
        ])
    );
    // T0 is not on a minute: the first bucket starts at the minute before the range.
    assert_eq!(
        ts.series[0].points.len(),
        121,
        "one point per minute of two hours"
    );
    let ts = series(store, p, &ts_query(Metric::Cost, Some(GroupBy::Model), 600)).await;
    let cost = totals(&ts);
    assert!((cost[&Some("gpt-4o".into())].unwrap() - 0.03).abs() < 1e-12);
    assert_eq!(cost[&Some("claude".into())], None, "unpriced, not $0");
    let ts = series(
        store,
        p,
        &ts_query(Metric::ErrorRate, Some(GroupBy::Tool), 3600),
    )
    .await;
    let rate = totals(&ts);
    assert!((rate[&Some("shell".into())].unwrap() - 1.0).abs() < 1e-12);
    assert_eq!(rate[&Some("search".into())], Some(0.0));
    let ts = series(store, p, &ts_query(Metric::Tokens, None, 3600)).await;
    assert_eq!(ts.series[0].total, Some(175.0));
    let ts = series(
        store,
        p,
        &ts_query(Metric::LatencyP99, Some(GroupBy::Kind), 3600),
    )
    .await;
    let p99 = totals(&ts);
    let tool_p99 = p99[&Some("tool".into())].unwrap();
    assert!(
        (tool_p99 - 100.0).abs() <= 100.0 * ALPHA * 1.01,
        "{tool_p99}"
    );

    let mut q = ts_query(Metric::Count, None, 3600);
    q.filter.tool = Some("search".into());
    assert_eq!(series(store, p, &q).await.series[0].total, Some(2.0));
    // By user: traces, from their summaries.
    let ts = series(
        store,
        p,
        &ts_query(Metric::Count, Some(GroupBy::User), 3600),
    )
    .await;
    assert_eq!(
        totals(&ts),
        BTreeMap::from([
            (None, Some(1.0)),
            (Some("ann".into()), Some(1.0)),
            (Some("bob".into()), Some(1.0)),
        ])
    );
    let mut q = ts_query(Metric::LatencyP95, Some(GroupBy::User), 3600);
    assert!(store.timeseries(p, &q).await.is_err(), "refused, not wrong");
    q.group_by = Some(GroupBy::Model);
    q.filter.user = Some("ann".into());
    assert!(store.timeseries(p, &q).await.is_err());

    let top = |kind| TopQuery {
        kind,
        from_ns: T0 - 3600 * 1_000_000_000,
        to_ns: T0 + 3600 * 1_000_000_000,
        filter: AnalyticsFilter::default(),
        limit: 10,
    };
    let slow = store.top(p, &top(TopKind::SlowTools)).await.unwrap();
    assert_eq!(
        slow.iter().map(|e| &*e.key).collect::<Vec<_>>(),
        ["search", "shell"]
    );
    let failing = store.top(p, &top(TopKind::FailingTools)).await.unwrap();
    assert_eq!(failing.len(), 1);
    assert_eq!((&*failing[0].key, failing[0].errors), ("shell", 1));
    let traces = store.top(p, &top(TopKind::Traces)).await.unwrap();
    assert_eq!(
        traces[0].key,
        spyglass_model::TraceId::from_u128(1).to_string()
    );
    assert!((traces[0].cost_usd.unwrap() - 0.03).abs() < 1e-12);
    let users = store.top(p, &top(TopKind::Users)).await.unwrap();
    assert_eq!(users[0].key, "ann");
    let models = store.top(p, &top(TopKind::CostlyModels)).await.unwrap();
    assert_eq!(models[0].key, "gpt-4o");

    let usage = store
        .usage(
            p,
            &UsageQuery {
                by: UsageBy::User,
                from_ns: None,
                to_ns: None,
                key: None,
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    let ann = usage.iter().find(|u| u.key == "ann").unwrap();
    assert_eq!(
        (ann.traces, ann.spans, ann.total_tokens, ann.sessions),
        (1, 2, 165, Some(1))
    );
    let bob = usage.iter().find(|u| u.key == "bob").unwrap();
    assert_eq!((bob.error_traces, bob.cost_usd), (1, None));
    let sessions = store
        .usage(
            p,
            &UsageQuery {
                by: UsageBy::Session,
                from_ns: None,
                to_ns: None,
                key: Some("s1".into()),
                limit: 10,
                offset: 0,
            },
        )
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);

    // Another project sees none of it.
    let other = series(
        store,
        "analytics-other",
        &ts_query(Metric::Count, None, 3600),
    )
    .await;
    assert_eq!(other.series[0].total, Some(0.0));
    assert!(
        store
            .top("analytics-other", &top(TopKind::Traces))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A small deterministic generator (SplitMix64): the suite is a library, without proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// One random span version.
fn random_version(r: &mut Rng, p: &str, trace: u128, id: u64) -> Span {
    let start_ms = r.below(5 * 60_000) as i64;
    let dur_ms = 1 + r.below(20_000) as i64;
    let mut s = span(p, trace, id, None, start_ms, dur_ms);
    s.kind = [
        SpanKind::Llm,
        SpanKind::Tool,
        SpanKind::Agent,
        SpanKind::Embedding,
    ][r.below(4) as usize];
    s.agent_name = Some(r.pick(&["planner", "coder"]).to_string()).filter(|_| r.below(4) > 0);
    s.service_name = r.pick(&["api", "worker"]).into();
    if matches!(s.kind, SpanKind::Llm | SpanKind::Embedding) {
        s.request_model = Some(r.pick(&["gpt-4o", "claude", "llama"]).into());
        s.tokens = Tokens {
            input: Some(r.below(1000) as i64),
            output: Some(r.below(500) as i64),
            cache_read: Some(r.below(3) as i64 * 100).filter(|v| *v > 0),
            ..Tokens::default()
        };
        s.tokens.complete();
        s.cost_usd = (r.below(5) > 0).then(|| r.below(100_000) as f64 / 1e7);
    }
    if s.kind == SpanKind::Tool {
        s.tool_name = Some(r.pick(&["search", "shell", "fetch"]).into());
    }
    if r.below(5) == 0 {
        s.status = Status::Error;
    }
    s
}

/// What each span's latest version contributes, recomputed from every version sent: the
/// oracle the rollups must agree with.
#[derive(Default, Debug)]
struct Expected {
    count: i64,
    errors: i64,
    tokens: i64,
    cost_nano: i64,
    priced: i64,
    latencies: Vec<f64>,
}

fn expected(
    sent: &[Span],
    group: fn(&Span) -> Option<String>,
) -> HashMap<(i64, Option<String>), Expected> {
    let mut latest: HashMap<(u128, u64), &Span> = HashMap::new();
    for s in sent {
        let key = (s.trace_id.as_u128(), s.span_id.as_u64());
        let rank = |s: &Span| (s.end_ns.is_some(), s.received_ns);
        if latest.get(&key).is_none_or(|old| rank(s) >= rank(old)) {
            latest.insert(key, s);
        }
    }
    let mut out: HashMap<(i64, Option<String>), Expected> = HashMap::new();
    for s in latest.values().filter(|s| s.end_ns.is_some()) {
        let e = out
            .entry((s.start_ns.div_euclid(MINUTE_NS) * MINUTE_NS, group(s)))
            .or_default();
        e.count += 1;
        e.errors += (s.status == Status::Error) as i64;
        e.latencies
            .push((s.end_ns.unwrap() - s.start_ns) as f64 / 1e6);
        if s.kind.counts_usage() {
            e.tokens += s.tokens.total.unwrap_or(0);
            if let Some(c) = s.cost_usd {
                e.cost_nano += (c * NANO_USD).round() as i64;
                e.priced += 1;
            }
        }
    }
    out
}

async fn check_against_oracle(store: &dyn Store, p: &str, sent: &[Span], seed: u64) {
    type Dimension = (Option<GroupBy>, fn(&Span) -> Option<String>);
    let groups: [Dimension; 4] = [
        (None, |_| None),
        (Some(GroupBy::Model), |s| s.model().map(str::to_string)),
        // No span here has a parent: an agent span runs in itself (named by its agent name,
        // else its span name), any other in its own agent name.
        (Some(GroupBy::Agent), |s| match s.kind {
            SpanKind::Agent => Some(s.agent_name.clone().unwrap_or_else(|| s.name.clone())),
            _ => s.agent_name.clone(),
        }),
        (Some(GroupBy::Tool), |s| s.tool_name.clone()),
    ];
    for (group_by, group) in groups {
        let want = expected(sent, group);
        let get = |metric| {
            let mut q = ts_query(metric, group_by, 60);
            q.from_ns = T0 - 10 * MINUTE_NS;
            q.to_ns = T0 + 20 * MINUTE_NS;
            async move { series(store, p, &q).await }
        };
        let mut got: HashMap<(i64, Option<String>), [Option<f64>; 7]> = HashMap::new();
        let metrics = [
            Metric::Count,
            Metric::Errors,
            Metric::Tokens,
            Metric::Cost,
            Metric::LatencyP50,
            Metric::LatencyP95,
            Metric::LatencyAvg,
        ];
        for (i, m) in metrics.into_iter().enumerate() {
            for s in get(m).await.series {
                for pt in s.points {
                    got.entry((pt.t_ns, s.group.clone())).or_default()[i] = pt.value;
                }
            }
        }
        for (key, e) in &want {
            let g = got
                .get(key)
                .unwrap_or_else(|| panic!("seed {seed}: no point for {key:?}"));
            let ctx = format!("seed {seed}, {group_by:?}, {key:?}: {g:?} vs {e:?}");
            assert_eq!(g[0], Some(e.count as f64), "count, {ctx}");
            assert_eq!(g[1], Some(e.errors as f64), "errors, {ctx}");
            assert_eq!(g[2], Some(e.tokens as f64), "tokens, {ctx}");
            let cost = (e.priced > 0).then(|| e.cost_nano as f64 / NANO_USD);
            assert_eq!(g[3], cost, "cost, {ctx}");
            let mut lat = e.latencies.clone();
            lat.sort_by(f64::total_cmp);
            for (i, q) in [(4, 0.5), (5, 0.95)] {
                let exact = lat[(q * (lat.len() - 1) as f64).floor() as usize];
                let v = g[i].unwrap();
                assert!(
                    (v - exact).abs() <= exact * ALPHA * 1.001,
                    "p{q}: {v} vs {exact}, {ctx}"
                );
            }
            let avg = lat.iter().sum::<f64>() / lat.len() as f64;
            assert!(
                (g[6].unwrap() - avg).abs() < 1e-6 * avg.max(1.0),
                "avg, {ctx}"
            );
        }
        // No point has spans the oracle does not know of.
        for (key, g) in &got {
            if g[0].is_some_and(|c| c > 0.0) {
                assert!(
                    want.contains_key(key),
                    "seed {seed}: unexpected {key:?} {g:?}"
                );
            }
        }
    }
}

/// Property: whatever order and however often span versions arrive (running then finished,
/// retried, replaced by a later version with other figures), the rollups agree with a
/// recomputation from the latest version of every span, before and after compaction.
pub async fn rollups_agree_with_a_recomputation(store: &dyn Store) {
    for seed in 0..12u64 {
        let p = format!("rollup-prop-{seed}");
        let mut r = Rng(seed * 7919 + 1);
        let mut sent = Vec::new();
        for trace in 1..=(1 + r.below(6) as u128) {
            for id in 1..=(1 + r.below(12)) {
                let mut v = random_version(&mut r, &p, trace, id);
                let mut versions = Vec::new();
                match r.below(4) {
                    0 => versions.push(v),
                    1 => {
                        let mut running = v.clone();
                        running.end_ns = None;
                        running.duration_ns = None;
                        running.received_ns -= 5_000 * MS;
                        versions.extend([running, v]);
                    }
                    2 => {
                        let mut retry = v.clone();
                        retry.received_ns += 1;
                        versions.extend([v, retry]);
                    }
                    _ => {
                        let mut later = random_version(&mut r, &p, trace, id);
                        later.received_ns = v.received_ns + 7;
                        v.received_ns -= 1;
                        versions.extend([v, later]);
                    }
                }
                sent.extend(versions);
            }
        }
        // Random order, random batches: a stale version may arrive after the one replacing it.
        for i in (1..sent.len()).rev() {
            sent.swap(i, r.below(i as u64 + 1) as usize);
        }
        let mut rest = &sent[..];
        while !rest.is_empty() {
            let n = (1 + r.below(8) as usize).min(rest.len());
            write(store, rest[..n].to_vec()).await;
            if r.below(3) == 0 {
                store.compact().await.expect("compact");
            }
            rest = &rest[n..];
        }
        check_against_oracle(store, &p, &sent, seed).await;
        store.compact().await.expect("compact");
        check_against_oracle(store, &p, &sent, seed).await;
    }
}

fn rule(project: &str, id: &str) -> AlertRule {
    AlertRule {
        id: id.into(),
        project_id: project.into(),
        name: format!("rule {id}"),
        description: None,
        enabled: true,
        metric: Metric::ErrorRate,
        filter: AnalyticsFilter::default(),
        condition: ConditionKind::Threshold,
        comparator: Comparator::Gt,
        threshold: 0.02,
        window_s: 300,
        for_s: 300,
        baseline_s: None,
        severity: AlertSeverity::Warning,
        webhooks: vec![],
        from_config: false,
        created_ns: T0,
        updated_ns: T0,
    }
}

fn event(rule: &AlertRule, id: &str, to: AlertState, t: i64) -> AlertEvent {
    AlertEvent {
        id: id.into(),
        project_id: rule.project_id.clone(),
        rule_id: rule.id.clone(),
        rule_name: rule.name.clone(),
        from: AlertState::Ok,
        to,
        value: Some(0.5),
        threshold: rule.threshold,
        severity: rule.severity,
        time_ns: t,
        message: "error_rate 0.5 > 0.02".into(),
    }
}

pub async fn alert_rules_and_events_round_trip(store: &dyn Store) {
    let p = "alerts";
    let (a, mut b) = (rule(p, "a1"), rule(p, "b2"));
    store.put_alert_rule(&a).await.unwrap();
    store.put_alert_rule(&b).await.unwrap();
    store
        .put_alert_rule(&rule("alerts-other", "c3"))
        .await
        .unwrap();
    b.threshold = 0.5;
    store.put_alert_rule(&b).await.unwrap();
    let rules = store.alert_rules(Some(p)).await.unwrap();
    assert_eq!(
        rules,
        vec![a.clone(), b.clone()],
        "replaced, not duplicated"
    );
    assert_eq!(store.alert_rules(None).await.unwrap().len(), 3);

    for (i, (r, to)) in [
        (&a, AlertState::Pending),
        (&a, AlertState::Firing),
        (&b, AlertState::Pending),
        (&a, AlertState::Resolved),
    ]
    .into_iter()
    .enumerate()
    {
        let e = event(r, &format!("e{i}"), to, T0 + i as i64);
        store.record_alert_event(&e).await.unwrap();
    }
    let all = store.alert_events(p, None, None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|e| &*e.id).collect::<Vec<_>>(),
        ["e3", "e2", "e1", "e0"]
    );
    let of_a = store
        .alert_events(p, Some("a1"), Some(T0 + 3), 10)
        .await
        .unwrap();
    assert_eq!(
        of_a.iter().map(|e| &*e.id).collect::<Vec<_>>(),
        ["e1", "e0"]
    );
    assert!(
        store
            .alert_events("alerts-other", None, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let mut latest: Vec<_> = store
        .latest_alert_events()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.project_id == p)
        .map(|e| (e.rule_id, e.to))
        .collect();
    latest.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(
        latest,
        vec![
            ("a1".into(), AlertState::Resolved),
            ("b2".into(), AlertState::Pending)
        ]
    );

    assert!(store.delete_alert_rule(p, "a1").await.unwrap());
    assert!(!store.delete_alert_rule(p, "a1").await.unwrap());
    assert!(
        !store.delete_alert_rule(p, "c3").await.unwrap(),
        "another project's rule"
    );
    assert_eq!(store.alert_rules(Some(p)).await.unwrap(), vec![b]);
}

/// Property: in traces with structure (agents calling sub-agents, tools and models, LLM
/// wrappers around client spans) whose spans arrive children first, in random batches and
/// more than once, the rollups kept incrementally equal a derivation from the finished traces:
/// every span in the agent it ran in, sub-agents under their caller, wrapper usage counted once.
pub async fn rollups_follow_trace_structure(store: &dyn Store) {
    use crate::rollup::{RollupAgg, derive};
    use crate::summary::{Contribution, TraceState};
    for seed in 0..8u64 {
        let p = format!("rollup-tree-{seed}");
        let project: std::sync::Arc<str> = p.as_str().into();
        let mut r = Rng(seed * 104_729 + 3);
        let mut sent = Vec::new();
        for trace in 1..=(1 + r.below(4) as u128) {
            let n = 2 + r.below(15);
            for id in 1..=n {
                let mut s = random_version(&mut r, &p, trace, id);
                // Parents precede children in id order, so every tree is connected.
                s.parent_span_id =
                    (id > 1).then(|| spyglass_model::SpanId::from_u64(1 + r.below(id - 1)));
                if s.kind == SpanKind::Agent {
                    s.agent_name = Some(r.pick(&["planner", "coder", "critic"]).to_string());
                } else if r.below(3) > 0 {
                    s.agent_name = None;
                }
                sent.push(s.clone());
                if r.below(3) == 0 {
                    let mut retry = s;
                    retry.received_ns += 1;
                    sent.push(retry);
                }
            }
            // A wrapper: an LLM span around a client span with the same usage.
            let mut outer = random_version(&mut r, &p, trace, 1000);
            outer.kind = SpanKind::Llm;
            outer.request_model = Some("gpt-4o".into());
            outer.tokens = Tokens {
                input: Some(70),
                output: Some(30),
                total: Some(100),
                ..Tokens::default()
            };
            outer.cost_usd = Some(0.01);
            outer.parent_span_id = Some(spyglass_model::SpanId::from_u64(1));
            let mut inner = outer.clone();
            inner.span_id = spyglass_model::SpanId::from_u64(1001);
            inner.parent_span_id = Some(outer.span_id);
            sent.extend([inner, outer]);
        }
        // Children first (ids descending), as exporters send them, then random batches.
        sent.sort_by_key(|s| std::cmp::Reverse(s.span_id.as_u64()));
        let mut rest = &sent[..];
        while !rest.is_empty() {
            let n = (1 + r.below(6) as usize).min(rest.len());
            write(store, rest[..n].to_vec()).await;
            rest = &rest[n..];
        }
        // The oracle: each finished trace derived at once.
        let mut want: HashMap<(i64, Option<String>, SpanKind), RollupAgg> = HashMap::new();
        let mut traces: HashMap<u128, TraceState> = HashMap::new();
        for s in &sent {
            traces
                .entry(s.trace_id.as_u128())
                .or_default()
                .apply(s.span_id, Contribution::of(s));
        }
        for st in traces.values() {
            for (k, a) in derive(&project, st) {
                want.entry((k.minute_ns, k.agent_name, k.kind))
                    .or_default()
                    .merge(&a);
            }
        }
        for compacted in [false, true] {
            if compacted {
                store.compact().await.expect("compact");
            }
            for kind in [SpanKind::Agent, SpanKind::Llm, SpanKind::Tool] {
                for (metric, pick) in [
                    (
                        Metric::Count,
                        (|a: &RollupAgg| a.count as f64) as fn(&RollupAgg) -> f64,
                    ),
                    (Metric::Tokens, |a: &RollupAgg| a.tokens[5] as f64),
                    (Metric::Errors, |a: &RollupAgg| a.errors as f64),
                ] {
                    let mut q = ts_query(metric, Some(GroupBy::Agent), 60);
                    q.from_ns = T0 - 10 * MINUTE_NS;
                    q.to_ns = T0 + 20 * MINUTE_NS;
                    q.filter.kind = Some(kind);
                    let ts = series(store, &p, &q).await;
                    let mut got: HashMap<(i64, Option<String>), f64> = HashMap::new();
                    for s in ts.series {
                        for pt in s.points.into_iter().filter(|pt| pt.value != Some(0.0)) {
                            got.insert((pt.t_ns, s.group.clone()), pt.value.unwrap());
                        }
                    }
                    let expected: HashMap<(i64, Option<String>), f64> = want
                        .iter()
                        .filter(|((_, _, k), a)| *k == kind && pick(a) != 0.0)
                        .map(|((m, g, _), a)| ((*m, g.clone()), pick(a)))
                        .collect();
                    assert_eq!(
                        got, expected,
                        "seed {seed}, {kind:?}, {metric:?}, compacted {compacted}"
                    );
                }
            }
        }
    }
}
