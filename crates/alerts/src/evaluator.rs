//! The evaluation loop: every tick, measure each enabled rule, step its state, store the
//! transitions and queue their webhooks. Storage and measurement are traits so the server
//! can back them with the store while tests use memory and a hand-moved clock.

use crate::notify::Notifier;
use crate::state::{Observation, RuleState};
use async_trait::async_trait;
use spyglass_model::alert::{AlertEvent, AlertRule, ConditionKind};
use spyglass_model::analytics::{AnalyticsFilter, Metric};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::watch;

const NS_PER_S: i64 = 1_000_000_000;

/// Answers "what was this metric over this range".
#[async_trait]
pub trait MetricSource: Send + Sync {
    /// The metric over `[from_ns, to_ns)` for the project's spans matching `filter`; `None`
    /// when no span matches. That includes counts and sums, which must not read as 0 here:
    /// `no_data` rules are told "no spans" apart from "spans, none erroneous" by it.
    async fn measure(
        &self,
        project: &str,
        metric: Metric,
        filter: &AnalyticsFilter,
        from_ns: i64,
        to_ns: i64,
    ) -> Result<Option<f64>, String>;
}

/// Where rules come from and events go.
#[async_trait]
pub trait AlertRepo: Send + Sync {
    /// Every rule of every project, disabled ones included.
    async fn rules(&self) -> Result<Vec<AlertRule>, String>;
    async fn record(&self, event: &AlertEvent) -> Result<(), String>;
}

pub struct Evaluator {
    source: Arc<dyn MetricSource>,
    repo: Arc<dyn AlertRepo>,
    notifier: Notifier,
    /// By rule id. A plain mutex: it is held for map operations only, never across an await.
    states: Mutex<HashMap<String, RuleState>>,
    /// Keeps two ticks (the loop and, say, an API-triggered one) from stepping a rule twice.
    ticking: tokio::sync::Mutex<()>,
}

impl Evaluator {
    pub fn new(
        source: Arc<dyn MetricSource>,
        repo: Arc<dyn AlertRepo>,
        notifier: Notifier,
    ) -> Self {
        Evaluator {
            source,
            repo,
            notifier,
            states: Mutex::new(HashMap::new()),
            ticking: tokio::sync::Mutex::new(()),
        }
    }

    pub fn notifier(&self) -> &Notifier {
        &self.notifier
    }

    /// Seeds a rule's state, e.g. from its last stored event ([`RuleState::from_event`]) at
    /// startup, so a restart neither re-fires nor forgets a firing rule.
    pub fn restore(&self, rule_id: impl Into<String>, state: RuleState) {
        self.lock().insert(rule_id.into(), state);
    }

    /// The rule's state; `None` when it has not been evaluated (read it as ok).
    pub fn status(&self, rule_id: &str) -> Option<RuleState> {
        self.lock().get(rule_id).cloned()
    }

    pub fn statuses(&self) -> Vec<(String, RuleState)> {
        let mut all: Vec<_> = self
            .lock()
            .iter()
            .map(|(id, s)| (id.clone(), s.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, RuleState>> {
        // The map holds plain values; a panic elsewhere cannot leave it half-updated.
        self.states.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Evaluates every enabled rule at `now_ns`; returns the transitions as recorded events.
    pub async fn tick(&self, now_ns: i64) -> Vec<AlertEvent> {
        let _one_at_a_time = self.ticking.lock().await;
        let rules = match self.repo.rules().await {
            Ok(rules) => rules,
            Err(e) => {
                tracing::warn!("alert rules could not be loaded: {e}");
                return Vec::new();
            }
        };
        self.lock()
            .retain(|id, _| rules.iter().any(|r| &r.id == id));

        let mut events = Vec::new();
        // A disabled rule keeps its state frozen: re-enabled, it resolves what it fired.
        for rule in rules.iter().filter(|r| r.enabled) {
            let obs = match self.observe(rule, now_ns).await {
                Ok(obs) => obs,
                Err(e) => {
                    tracing::warn!(rule = %rule.id, project = %rule.project_id, "alert rule not evaluated: {e}");
                    continue;
                }
            };
            let transition = self
                .lock()
                .entry(rule.id.clone())
                .or_default()
                .step(rule, obs, now_ns);
            let Some(transition) = transition else {
                continue;
            };
            let event = transition.event(event_id(), rule, now_ns);
            tracing::info!(
                rule = %rule.id, project = %rule.project_id, from = %event.from, to = %event.to,
                "alert {}: {}", event.to, event.message
            );
            if let Err(e) = self.repo.record(&event).await {
                // The webhook still goes out: a person hearing of it matters more than the log.
                tracing::warn!(rule = %rule.id, event = %event.id, "alert event not recorded: {e}");
            }
            if transition.notifies() {
                for webhook in &rule.webhooks {
                    self.notifier.enqueue(webhook.clone(), event.clone(), rule);
                }
            }
            events.push(event);
        }
        events
    }

    async fn observe(&self, rule: &AlertRule, now_ns: i64) -> Result<Observation, String> {
        let window_ns = rule.window_s.saturating_mul(NS_PER_S);
        let window_start = now_ns - window_ns;
        let measure = |from, to| {
            self.source
                .measure(&rule.project_id, rule.metric, &rule.filter, from, to)
        };
        let value = measure(window_start, now_ns).await?;
        let baseline = match (rule.condition, rule.baseline_s) {
            (ConditionKind::BaselineRatio, Some(baseline_s)) if baseline_s > 0 => {
                let from = window_start - baseline_s.saturating_mul(NS_PER_S);
                let total = measure(from, window_start).await?;
                // A sum over the baseline period scales down to one window; an average, rate
                // or percentile over it already describes a typical window.
                if rule.metric.is_additive() {
                    total.map(|t| t * rule.window_s as f64 / baseline_s as f64)
                } else {
                    total
                }
            }
            _ => None,
        };
        Ok(Observation { value, baseline })
    }

    /// Ticks every `every` on the wall clock until `shutdown` turns true (or its sender is
    /// dropped). A tick in progress finishes first, so no transition is half-handled.
    pub fn spawn(
        self: Arc<Self>,
        every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !*shutdown.borrow() {
                tokio::select! {
                    _ = interval.tick() => {
                        self.tick(spyglass_model::now_ns()).await;
                    }
                    changed = shutdown.changed() => {
                        if changed.is_err() {
                            break;
                        }
                    }
                }
            }
        })
    }
}

/// 16 lowercase hex digits.
fn event_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::NotifierConfig;
    use spyglass_model::alert::{AlertSeverity, AlertState, Comparator};

    const MIN: i64 = 60 * NS_PER_S;

    /// Answers from a function of the range, and remembers what it was asked.
    struct Source {
        answer: Box<dyn Fn(i64, i64) -> Result<Option<f64>, String> + Send + Sync>,
        calls: Mutex<Vec<(String, i64, i64)>>,
    }

    #[async_trait]
    impl MetricSource for Source {
        async fn measure(
            &self,
            project: &str,
            _metric: Metric,
            _filter: &AnalyticsFilter,
            from_ns: i64,
            to_ns: i64,
        ) -> Result<Option<f64>, String> {
            self.calls
                .lock()
                .unwrap()
                .push((project.to_string(), from_ns, to_ns));
            (self.answer)(from_ns, to_ns)
        }
    }

    #[derive(Default)]
    struct Repo {
        rules: Mutex<Vec<AlertRule>>,
        events: Mutex<Vec<AlertEvent>>,
    }

    #[async_trait]
    impl AlertRepo for Repo {
        async fn rules(&self) -> Result<Vec<AlertRule>, String> {
            Ok(self.rules.lock().unwrap().clone())
        }
        async fn record(&self, event: &AlertEvent) -> Result<(), String> {
            self.events.lock().unwrap().push(event.clone());
            Ok(())
        }
    }

    fn rule(id: &str, condition: ConditionKind, metric: Metric) -> AlertRule {
        AlertRule {
            id: id.into(),
            project_id: "p".into(),
            name: id.into(),
            description: None,
            enabled: true,
            metric,
            filter: AnalyticsFilter::default(),
            condition,
            comparator: Comparator::Gt,
            threshold: 3.0,
            window_s: 300,
            for_s: 0,
            baseline_s: (condition == ConditionKind::BaselineRatio).then_some(3000),
            severity: AlertSeverity::Warning,
            webhooks: vec![],
            from_config: false,
            created_ns: 0,
            updated_ns: 0,
        }
    }

    fn setup(
        rules: Vec<AlertRule>,
        answer: impl Fn(i64, i64) -> Result<Option<f64>, String> + Send + Sync + 'static,
    ) -> (Evaluator, Arc<Source>, Arc<Repo>) {
        let source = Arc::new(Source {
            answer: Box::new(answer),
            calls: Mutex::new(vec![]),
        });
        let repo = Arc::new(Repo::default());
        *repo.rules.lock().unwrap() = rules;
        let (notifier, _worker) = Notifier::new(NotifierConfig::default());
        let evaluator = Evaluator::new(source.clone(), repo.clone(), notifier);
        (evaluator, source, repo)
    }

    #[tokio::test]
    async fn disabled_rules_are_never_measured() {
        let mut off = rule("off", ConditionKind::Threshold, Metric::Count);
        off.enabled = false;
        let on = rule("on", ConditionKind::Threshold, Metric::Count);
        let (ev, source, repo) = setup(vec![off, on], |_, _| Ok(Some(10.0)));
        let events = ev.tick(100 * MIN).await;
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].rule_id, "on");
        assert_eq!(source.calls.lock().unwrap().len(), 1);
        assert!(ev.status("off").is_none());
        assert_eq!(repo.events.lock().unwrap().len(), 1);
        let id = &events[0].id;
        assert!(
            id.len() == 16
                && id
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[tokio::test]
    async fn measures_the_window_before_now() {
        let (ev, source, _) = setup(
            vec![rule("r", ConditionKind::Threshold, Metric::Count)],
            |_, _| Ok(Some(1.0)),
        );
        ev.tick(100 * MIN).await;
        assert_eq!(
            source.calls.lock().unwrap()[0],
            ("p".to_string(), 95 * MIN, 100 * MIN)
        );
        let s = ev.status("r").unwrap();
        assert_eq!(
            (s.state, s.last_value, s.last_evaluated_ns),
            (AlertState::Ok, Some(1.0), Some(100 * MIN))
        );
    }

    #[tokio::test]
    async fn baseline_is_scaled_to_one_window() {
        // Window [95m, 100m); baseline [45m, 95m) is ten windows long.
        let (ev, source, _) = setup(
            vec![rule("cost", ConditionKind::BaselineRatio, Metric::Cost)],
            |from, _| Ok(Some(if from == 95 * MIN { 4.0 } else { 10.0 })),
        );
        let events = ev.tick(100 * MIN).await;
        assert_eq!(source.calls.lock().unwrap()[1].1, 45 * MIN);
        assert_eq!(source.calls.lock().unwrap()[1].2, 95 * MIN);
        // 4.0 / (10.0 * 300 / 3000) = 4×, above 3×.
        assert_eq!(events[0].to, AlertState::Firing);
        assert_eq!(events[0].value, Some(4.0));
    }

    #[tokio::test]
    async fn non_additive_baselines_are_not_scaled() {
        let (ev, _, _) = setup(
            vec![rule(
                "p95",
                ConditionKind::BaselineRatio,
                Metric::LatencyP95,
            )],
            |from, _| Ok(Some(if from == 95 * MIN { 400.0 } else { 200.0 })),
        );
        ev.tick(100 * MIN).await;
        assert_eq!(ev.status("p95").unwrap().last_value, Some(2.0));
    }

    #[tokio::test]
    async fn measure_errors_leave_the_state_alone() {
        let (ev, _, repo) = setup(
            vec![rule("r", ConditionKind::Threshold, Metric::Count)],
            |_, _| Err("store busy".into()),
        );
        let before = RuleState {
            state: AlertState::Firing,
            since_ns: Some(MIN),
            ..RuleState::default()
        };
        ev.restore("r", before.clone());
        assert!(ev.tick(100 * MIN).await.is_empty());
        assert_eq!(ev.status("r"), Some(before));
        assert!(repo.events.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn states_of_deleted_rules_are_dropped() {
        let (ev, _, repo) = setup(
            vec![rule("r", ConditionKind::Threshold, Metric::Count)],
            |_, _| Ok(Some(10.0)),
        );
        ev.restore("gone", RuleState::default());
        ev.tick(MIN).await;
        assert_eq!(
            ev.statuses()
                .into_iter()
                .map(|(id, _)| id)
                .collect::<Vec<_>>(),
            vec!["r"]
        );
        repo.rules.lock().unwrap().clear();
        ev.tick(2 * MIN).await;
        assert!(ev.statuses().is_empty());
    }

    #[tokio::test]
    async fn restored_firing_rule_does_not_fire_again() {
        let (ev, _, _) = setup(
            vec![rule("r", ConditionKind::Threshold, Metric::Count)],
            |_, _| Ok(Some(10.0)),
        );
        ev.restore(
            "r",
            RuleState {
                state: AlertState::Firing,
                ..RuleState::default()
            },
        );
        assert!(ev.tick(MIN).await.is_empty());
    }

    #[tokio::test]
    async fn spawn_ticks_until_shutdown() {
        let (ev, source, _) = setup(
            vec![rule("r", ConditionKind::Threshold, Metric::Count)],
            |_, _| Ok(Some(1.0)),
        );
        let (tx, rx) = watch::channel(false);
        let handle = Arc::new(ev).spawn(Duration::from_millis(10), rx);
        tokio::time::sleep(Duration::from_millis(55)).await;
        tx.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(2), handle)
            .await
            .expect("the loop stops on shutdown")
            .unwrap();
        let ticks = source.calls.lock().unwrap().len();
        // The first tick is immediate; timing on a busy machine is loose.
        assert!((2..=7).contains(&ticks), "{ticks} ticks");
        let last = source.calls.lock().unwrap().last().unwrap().2;
        assert!((last - spyglass_model::now_ns()).abs() < 60 * NS_PER_S);
    }
}
