//! One rule's state machine. Pure: the caller measures and passes the time, so every
//! transition can be tested without a clock or a store.

use spyglass_model::alert::{AlertEvent, AlertRule, AlertState, ConditionKind, RuleStatus};
use spyglass_model::analytics::Metric;

const NS_PER_S: i64 = 1_000_000_000;

/// What the evaluator measured for one rule at one evaluation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Observation {
    /// The metric over the window; `None` when the window holds no matching spans.
    pub value: Option<f64>,
    /// For `baseline_ratio`: the metric's per-window average over the baseline period.
    pub baseline: Option<f64>,
}

/// Where a rule stands between evaluations.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleState {
    pub state: AlertState,
    /// When the rule entered `state` (`None` until its first transition).
    pub since_ns: Option<i64>,
    /// When the current breach began; the `for` duration counts from here.
    pub pending_since_ns: Option<i64>,
    /// The compared value of the last evaluation (the ratio for `baseline_ratio`).
    pub last_value: Option<f64>,
    pub last_evaluated_ns: Option<i64>,
}

impl Default for RuleState {
    fn default() -> Self {
        RuleState {
            state: AlertState::Ok,
            since_ns: None,
            pending_since_ns: None,
            last_value: None,
            last_evaluated_ns: None,
        }
    }
}

/// A state change produced by [`RuleState::step`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    pub from: AlertState,
    pub to: AlertState,
    /// The compared value (see [`compared_value`]).
    pub value: Option<f64>,
}

impl Transition {
    /// Webhooks hear about firing and resolving only: pending and ok changes are frequent
    /// and carry no action for a person, so they are stored as events but not sent.
    pub fn notifies(&self) -> bool {
        matches!(self.to, AlertState::Firing | AlertState::Resolved)
    }

    /// The stored form of the transition.
    pub fn event(&self, id: String, rule: &AlertRule, now_ns: i64) -> AlertEvent {
        AlertEvent {
            id,
            project_id: rule.project_id.clone(),
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            from: self.from,
            to: self.to,
            value: self.value,
            threshold: rule.threshold,
            severity: rule.severity,
            time_ns: now_ns,
            message: message(rule, self.value),
        }
    }
}

impl RuleState {
    /// The state a stored event left the rule in, for seeding the evaluator at startup so a
    /// restart neither re-fires a firing rule nor forgets to resolve it.
    pub fn from_event(event: &AlertEvent) -> RuleState {
        RuleState {
            state: event.to,
            since_ns: Some(event.time_ns),
            pending_since_ns: matches!(event.to, AlertState::Pending | AlertState::Firing)
                .then_some(event.time_ns),
            last_value: event.value,
            last_evaluated_ns: Some(event.time_ns),
        }
    }

    /// The API's view of the rule with this state.
    pub fn status(&self, rule: AlertRule) -> RuleStatus {
        RuleStatus {
            rule,
            state: self.state,
            since_ns: self.since_ns,
            last_value: self.last_value,
            last_evaluated_ns: self.last_evaluated_ns,
        }
    }

    /// Evaluates the rule once at `now_ns`; returns the transition when the state changed.
    pub fn step(&mut self, rule: &AlertRule, obs: Observation, now_ns: i64) -> Option<Transition> {
        let is_breached = breached(rule, &obs);
        let value = compared_value(rule, &obs);
        self.last_value = value;
        self.last_evaluated_ns = Some(now_ns);

        let from = self.state;
        let to = match (from, is_breached) {
            (AlertState::Ok | AlertState::Resolved, true) => {
                self.pending_since_ns = Some(now_ns);
                if rule.for_s <= 0 {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                }
            }
            (AlertState::Pending, true) => {
                // A state restored without its breach start counts from when it became pending.
                let began = self.pending_since_ns.or(self.since_ns).unwrap_or(now_ns);
                if now_ns.saturating_sub(began) >= rule.for_s.saturating_mul(NS_PER_S) {
                    AlertState::Firing
                } else {
                    AlertState::Pending
                }
            }
            (AlertState::Firing, true) => AlertState::Firing,
            (AlertState::Pending | AlertState::Resolved, false) => AlertState::Ok,
            (AlertState::Firing, false) => AlertState::Resolved,
            (AlertState::Ok, false) => AlertState::Ok,
        };
        if !is_breached {
            self.pending_since_ns = None;
        }
        if to == from {
            return None;
        }
        self.state = to;
        self.since_ns = Some(now_ns);
        Some(Transition { from, to, value })
    }
}

/// Whether the rule's condition holds for the observation. Missing data never breaches a
/// threshold: an idle project is not slow, and silence is what `no_data` rules are for.
pub fn breached(rule: &AlertRule, obs: &Observation) -> bool {
    match rule.condition {
        ConditionKind::Threshold => obs
            .value
            .is_some_and(|v| rule.comparator.holds(v, rule.threshold)),
        ConditionKind::BaselineRatio => {
            compared_value(rule, obs).is_some_and(|r| rule.comparator.holds(r, rule.threshold))
        }
        // A source that reads an empty window's count as 0 rather than "no data" would
        // otherwise keep a no-data rule silent forever.
        ConditionKind::NoData => match obs.value {
            None => true,
            Some(v) => rule.metric == Metric::Count && v == 0.0,
        },
    }
}

/// The number the rule compares with its threshold: the metric, or for `baseline_ratio` the
/// metric divided by its baseline (`None` without a positive baseline, since a ratio to
/// nothing says nothing).
pub fn compared_value(rule: &AlertRule, obs: &Observation) -> Option<f64> {
    match rule.condition {
        ConditionKind::BaselineRatio => match (obs.value, obs.baseline) {
            (Some(v), Some(b)) if b > 0.0 => Some(v / b),
            _ => None,
        },
        ConditionKind::Threshold | ConditionKind::NoData => obs.value,
    }
}

/// One line for people, e.g. "latency_p95 812.0 ms > 500 (window 10m, for 10m)".
pub fn message(rule: &AlertRule, value: Option<f64>) -> String {
    let metric = rule.metric.as_str();
    let cmp = rule.comparator.symbol();
    let window = duration(rule.window_s);
    match rule.condition {
        ConditionKind::Threshold => {
            let for_ = duration(rule.for_s);
            match value {
                Some(v) => format!(
                    "{metric} {}{} {cmp} {} (window {window}, for {for_})",
                    number(v),
                    unit(rule.metric),
                    rule.threshold
                ),
                None => format!(
                    "{metric} has no data (threshold {cmp} {}, window {window}, for {for_})",
                    rule.threshold
                ),
            }
        }
        ConditionKind::BaselineRatio => {
            let baseline = duration(rule.baseline_s.unwrap_or(0));
            match value {
                Some(r) => format!(
                    "{metric} {r:.1}× its baseline {cmp} {}× (window {window}, baseline {baseline})",
                    rule.threshold
                ),
                None => format!(
                    "{metric} has no baseline to compare with (window {window}, baseline {baseline})"
                ),
            }
        }
        ConditionKind::NoData => match value {
            Some(v) if v != 0.0 || rule.metric != Metric::Count => format!(
                "data again: {metric} {}{} in the last {window}",
                number(v),
                unit(rule.metric)
            ),
            _ => format!("no data for {window}"),
        },
    }
}

/// " ms", " usd", …; nothing for ratios, whose threshold reads fine bare.
fn unit(metric: Metric) -> String {
    match metric.unit() {
        "ratio" => String::new(),
        u => format!(" {u}"),
    }
}

/// Four significant digits at most, one decimal at least: 812.0, 0.03125, 1.5.
fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let magnitude = if v == 0.0 {
        0
    } else {
        v.abs().log10().floor() as i32
    };
    let decimals = (3 - magnitude).clamp(1, 8) as usize;
    let s = format!("{v:.decimals$}");
    let trimmed = s.trim_end_matches('0');
    if trimmed.ends_with('.') {
        format!("{trimmed}0")
    } else {
        trimmed.to_string()
    }
}

/// Seconds as "10m", "7d", "1h30m".
pub fn duration(s: i64) -> String {
    if s <= 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = s;
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_model::alert::{AlertSeverity, Comparator};
    use spyglass_model::analytics::AnalyticsFilter;

    const MIN: i64 = 60 * NS_PER_S;

    fn rule(condition: ConditionKind, metric: Metric, threshold: f64, for_s: i64) -> AlertRule {
        AlertRule {
            id: "r1".into(),
            project_id: "default".into(),
            name: "test".into(),
            description: None,
            enabled: true,
            metric,
            filter: AnalyticsFilter::default(),
            condition,
            comparator: Comparator::Gt,
            threshold,
            window_s: 600,
            for_s,
            baseline_s: (condition == ConditionKind::BaselineRatio).then_some(7 * 86_400),
            severity: AlertSeverity::Warning,
            webhooks: vec![],
            from_config: false,
            created_ns: 0,
            updated_ns: 0,
        }
    }

    fn latency(for_s: i64) -> AlertRule {
        rule(ConditionKind::Threshold, Metric::LatencyP95, 500.0, for_s)
    }

    fn v(value: f64) -> Observation {
        Observation {
            value: Some(value),
            baseline: None,
        }
    }

    fn none() -> Observation {
        Observation::default()
    }

    fn to(t: Option<Transition>) -> Option<AlertState> {
        t.map(|t| t.to)
    }

    #[test]
    fn full_cycle_ok_pending_firing_resolved_ok() {
        let r = latency(600);
        let mut s = RuleState::default();
        assert_eq!(to(s.step(&r, v(100.0), 0)), None);
        assert_eq!(s.state, AlertState::Ok);

        let t = s.step(&r, v(812.0), MIN).unwrap();
        assert_eq!(
            (t.from, t.to, t.value),
            (AlertState::Ok, AlertState::Pending, Some(812.0))
        );
        assert!(!t.notifies());
        assert_eq!(s.pending_since_ns, Some(MIN));

        // Still short of the 10 minutes.
        assert_eq!(to(s.step(&r, v(900.0), 10 * MIN)), None);
        assert_eq!(s.state, AlertState::Pending);

        let t = s.step(&r, v(900.0), 11 * MIN).unwrap();
        assert_eq!((t.from, t.to), (AlertState::Pending, AlertState::Firing));
        assert!(t.notifies());
        assert_eq!(s.since_ns, Some(11 * MIN));

        // Firing while breached is quiet.
        assert_eq!(to(s.step(&r, v(950.0), 12 * MIN)), None);
        assert_eq!(s.last_value, Some(950.0));
        assert_eq!(s.last_evaluated_ns, Some(12 * MIN));

        let t = s.step(&r, v(200.0), 13 * MIN).unwrap();
        assert_eq!((t.from, t.to), (AlertState::Firing, AlertState::Resolved));
        assert!(t.notifies());
        assert_eq!(s.pending_since_ns, None);

        let t = s.step(&r, v(200.0), 14 * MIN).unwrap();
        assert_eq!((t.from, t.to), (AlertState::Resolved, AlertState::Ok));
        assert!(!t.notifies());
        assert_eq!(s.since_ns, Some(14 * MIN));
    }

    #[test]
    fn a_blip_shorter_than_for_never_fires() {
        let r = latency(600);
        let mut s = RuleState::default();
        assert_eq!(to(s.step(&r, v(900.0), 0)), Some(AlertState::Pending));
        assert_eq!(to(s.step(&r, v(900.0), 5 * MIN)), None);
        assert_eq!(to(s.step(&r, v(100.0), 6 * MIN)), Some(AlertState::Ok));
        // A new breach starts the `for` clock afresh.
        assert_eq!(to(s.step(&r, v(900.0), 7 * MIN)), Some(AlertState::Pending));
        assert_eq!(to(s.step(&r, v(900.0), 16 * MIN)), None);
        assert_eq!(to(s.step(&r, v(900.0), 17 * MIN)), Some(AlertState::Firing));
    }

    #[test]
    fn for_zero_fires_at_once_and_refires_from_resolved() {
        let r = latency(0);
        let mut s = RuleState::default();
        let t = s.step(&r, v(501.0), 0).unwrap();
        assert_eq!((t.from, t.to), (AlertState::Ok, AlertState::Firing));
        assert_eq!(to(s.step(&r, v(400.0), MIN)), Some(AlertState::Resolved));
        let t = s.step(&r, v(600.0), 2 * MIN).unwrap();
        assert_eq!((t.from, t.to), (AlertState::Resolved, AlertState::Firing));
    }

    #[test]
    fn resolved_and_breached_again_goes_pending() {
        let r = latency(120);
        let mut s = RuleState {
            state: AlertState::Resolved,
            ..RuleState::default()
        };
        assert_eq!(to(s.step(&r, v(900.0), 0)), Some(AlertState::Pending));
        assert_eq!(to(s.step(&r, v(900.0), 2 * MIN)), Some(AlertState::Firing));
    }

    #[test]
    fn no_data_does_not_breach_a_threshold() {
        let r = latency(0);
        let mut s = RuleState::default();
        assert_eq!(to(s.step(&r, none(), 0)), None);
        assert_eq!(s.last_evaluated_ns, Some(0));
        // ...and clears a firing one.
        s.step(&r, v(900.0), MIN);
        assert_eq!(to(s.step(&r, none(), 2 * MIN)), Some(AlertState::Resolved));
    }

    #[test]
    fn threshold_comparators() {
        let mut r = rule(ConditionKind::Threshold, Metric::ErrorRate, 0.02, 0);
        assert!(breached(&r, &v(0.03)) && !breached(&r, &v(0.02)));
        r.comparator = Comparator::Gte;
        assert!(breached(&r, &v(0.02)));
        r.comparator = Comparator::Lt;
        assert!(breached(&r, &v(0.01)) && !breached(&r, &none()));
    }

    #[test]
    fn no_data_rule() {
        let r = rule(ConditionKind::NoData, Metric::Count, 0.0, 0);
        let mut s = RuleState::default();
        assert_eq!(to(s.step(&r, v(12.0), 0)), None);
        let t = s.step(&r, none(), MIN).unwrap();
        assert_eq!((t.to, t.value), (AlertState::Firing, None));
        assert_eq!(message(&r, None), "no data for 10m");
        assert_eq!(to(s.step(&r, v(3.0), 2 * MIN)), Some(AlertState::Resolved));
        assert_eq!(
            message(&r, Some(3.0)),
            "data again: count 3.0 spans in the last 10m"
        );
        // A source that reports an empty window's count as 0 still means no spans.
        assert!(breached(&r, &v(0.0)));
        let errors = rule(ConditionKind::NoData, Metric::Errors, 0.0, 0);
        assert!(!breached(&errors, &v(0.0)) && breached(&errors, &none()));
    }

    #[test]
    fn no_data_rule_honours_for() {
        let r = rule(ConditionKind::NoData, Metric::Count, 0.0, 300);
        let mut s = RuleState::default();
        assert_eq!(to(s.step(&r, none(), 0)), Some(AlertState::Pending));
        assert_eq!(to(s.step(&r, none(), 4 * MIN)), None);
        assert_eq!(to(s.step(&r, none(), 5 * MIN)), Some(AlertState::Firing));
    }

    #[test]
    fn baseline_ratio() {
        let r = rule(ConditionKind::BaselineRatio, Metric::Cost, 3.0, 0);
        let obs = |value: Option<f64>, baseline: Option<f64>| Observation { value, baseline };
        assert!(breached(&r, &obs(Some(4.2), Some(1.0))));
        assert!(!breached(&r, &obs(Some(3.0), Some(1.0))));
        assert!(!breached(&r, &obs(Some(2.0), Some(1.0))));
        // Nothing to compare with: a zero or missing baseline, or no current value.
        assert!(!breached(&r, &obs(Some(100.0), Some(0.0))));
        assert!(!breached(&r, &obs(Some(100.0), None)));
        assert!(!breached(&r, &obs(None, Some(1.0))));
        assert_eq!(compared_value(&r, &obs(Some(100.0), Some(0.0))), None);

        let mut s = RuleState::default();
        let t = s.step(&r, obs(Some(8.4), Some(2.0)), 0).unwrap();
        assert_eq!((t.to, t.value), (AlertState::Firing, Some(4.2)));
        assert_eq!(
            message(&r, t.value),
            "cost 4.2× its baseline > 3× (window 10m, baseline 7d)"
        );
        assert_eq!(
            to(s.step(&r, obs(Some(5.0), Some(0.0)), MIN)),
            Some(AlertState::Resolved)
        );
    }

    #[test]
    fn restored_pending_state_counts_from_its_start() {
        let r = latency(600);
        let event = Transition {
            from: AlertState::Ok,
            to: AlertState::Pending,
            value: Some(900.0),
        }
        .event("e".into(), &r, MIN);
        let mut s = RuleState::from_event(&event);
        assert_eq!(s.state, AlertState::Pending);
        assert_eq!(to(s.step(&r, v(900.0), 10 * MIN)), None);
        assert_eq!(to(s.step(&r, v(900.0), 11 * MIN)), Some(AlertState::Firing));
    }

    #[test]
    fn events_carry_the_rule_and_message() {
        let r = latency(600);
        let t = Transition {
            from: AlertState::Pending,
            to: AlertState::Firing,
            value: Some(812.0),
        };
        let e = t.event("abc".into(), &r, 42);
        assert_eq!(e.rule_id, "r1");
        assert_eq!(e.time_ns, 42);
        assert_eq!(e.threshold, 500.0);
        assert_eq!(
            e.message,
            "latency_p95 812.0 ms > 500 (window 10m, for 10m)"
        );
        let status = RuleState::from_event(&e).status(r.clone());
        assert_eq!(
            (status.state, status.since_ns),
            (AlertState::Firing, Some(42))
        );
    }

    #[test]
    fn messages() {
        let r = rule(ConditionKind::Threshold, Metric::ErrorRate, 0.02, 300);
        assert_eq!(
            message(&r, Some(0.031254)),
            "error_rate 0.03125 > 0.02 (window 10m, for 5m)"
        );
        assert_eq!(
            message(&r, None),
            "error_rate has no data (threshold > 0.02, window 10m, for 5m)"
        );
        assert_eq!(number(1.5), "1.5");
        assert_eq!(number(0.0), "0.0");
        assert_eq!(number(12345.678), "12345.7");
        assert_eq!(duration(90), "1m30s");
        assert_eq!(duration(3600), "1h");
        assert_eq!(duration(0), "0s");
    }
}
