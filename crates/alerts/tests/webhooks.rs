//! Webhook delivery over real HTTP, against a local receiver that can be told to fail.

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use spyglass_alerts::{
    AlertRepo, Evaluator, MetricSource, Notifier, NotifierConfig, NotifyError, Transition,
    check_target, verify,
};
use spyglass_model::alert::{
    AlertEvent, AlertRule, AlertSeverity, AlertState, Comparator, ConditionKind, Webhook,
    WebhookFormat,
};
use spyglass_model::analytics::{AnalyticsFilter, Metric};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SECRET: &str = "s3cret-key";
const MIN: i64 = 60_000_000_000;

struct Received {
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

/// How the receiver answers: `status` for the first `fail_first` requests, then 200.
#[derive(Clone, Copy)]
struct Plan {
    fail_first: usize,
    status: u16,
    retry_after: Option<&'static str>,
}

impl Plan {
    fn ok() -> Plan {
        Plan::failing(0, 500)
    }
    fn failing(fail_first: usize, status: u16) -> Plan {
        Plan {
            fail_first,
            status,
            retry_after: None,
        }
    }
}

#[derive(Clone)]
struct Receiver {
    plan: Plan,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }
    fn events(&self) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .map(|r| header(&r.headers, "x-spyglass-event"))
            .collect()
    }
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

async fn handle(
    State(rx): State<Receiver>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let n = {
        let mut received = rx.received.lock().unwrap();
        received.push(Received {
            path: uri.path().to_string(),
            headers,
            body,
        });
        received.len()
    };
    if uri.path() == "/redirect" {
        let mut r = StatusCode::FOUND.into_response();
        r.headers_mut()
            .insert("location", HeaderValue::from_static("/hook"));
        return r;
    }
    if n <= rx.plan.fail_first {
        let mut r = StatusCode::from_u16(rx.plan.status)
            .unwrap()
            .into_response();
        if let Some(ra) = rx.plan.retry_after {
            r.headers_mut()
                .insert("retry-after", HeaderValue::from_static(ra));
        }
        return r;
    }
    StatusCode::OK.into_response()
}

/// A receiver on 127.0.0.1; returns its base URL.
async fn receiver(plan: Plan) -> (String, Receiver) {
    let rx = Receiver {
        plan,
        received: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/{*path}", axum::routing::post(handle))
        .with_state(rx.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), rx)
}

fn config(allow_private: bool) -> NotifierConfig {
    NotifierConfig {
        allow_private,
        max_attempts: 3,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
        timeout: Duration::from_secs(2),
        ..NotifierConfig::default()
    }
}

fn webhook(url: String, format: WebhookFormat, secret: Option<&str>) -> Webhook {
    Webhook {
        url,
        format,
        secret: secret.map(str::to_string),
        secret_set: false,
    }
}

fn rule(webhooks: Vec<Webhook>) -> AlertRule {
    AlertRule {
        id: "0123abcd".into(),
        project_id: "default".into(),
        name: "Slow agents".into(),
        description: None,
        enabled: true,
        metric: Metric::LatencyP95,
        filter: AnalyticsFilter::default(),
        condition: ConditionKind::Threshold,
        comparator: Comparator::Gt,
        threshold: 500.0,
        window_s: 60,
        for_s: 120,
        baseline_s: None,
        severity: AlertSeverity::Critical,
        webhooks,
        from_config: false,
        created_ns: 0,
        updated_ns: 0,
    }
}

fn firing(rule: &AlertRule, id: &str) -> AlertEvent {
    Transition {
        from: AlertState::Pending,
        to: AlertState::Firing,
        value: Some(812.0),
    }
    .event(id.into(), rule, 1_700_000_000_000_000_000)
}

/// Waits until `n` deliveries have finished one way or the other.
async fn settle(notifier: &Notifier, n: u64) {
    let start = Instant::now();
    while notifier.delivered() + notifier.failed() < n {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "deliveries did not finish: {} delivered, {} failed",
            notifier.delivered(),
            notifier.failed()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn firing_event_is_delivered_signed() {
    let (base, rx) = receiver(Plan::ok()).await;
    let (notifier, _worker) = Notifier::start(config(true));
    let hook = webhook(format!("{base}/hook"), WebhookFormat::Json, Some(SECRET));
    let r = rule(vec![hook.clone()]);
    notifier.enqueue(hook, firing(&r, "e1"), &r);
    settle(&notifier, 1).await;
    assert_eq!((notifier.delivered(), notifier.failed()), (1, 0));

    let received = rx.received.lock().unwrap();
    assert_eq!(received.len(), 1);
    let req = &received[0];
    assert_eq!(req.path, "/hook");
    assert_eq!(header(&req.headers, "content-type"), "application/json");
    assert!(header(&req.headers, "user-agent").starts_with("spyglass-alerts/"));
    assert_eq!(header(&req.headers, "x-spyglass-event"), "firing");
    assert_eq!(header(&req.headers, "x-spyglass-delivery"), "e1");
    let ts: i64 = header(&req.headers, "x-spyglass-timestamp")
        .parse()
        .unwrap();
    assert!((ts - spyglass_model::now_ns() / 1_000_000_000).abs() < 60);
    let sig = header(&req.headers, "x-spyglass-signature");
    assert!(verify(SECRET, ts, &req.body, &sig));
    assert!(!verify("wrong", ts, &req.body, &sig));

    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(body["version"], 1);
    assert_eq!(body["event"]["id"], "e1");
    assert_eq!(body["event"]["rule_id"], "0123abcd");
    assert_eq!(body["event"]["from"], "pending");
    assert_eq!(body["event"]["to"], "firing");
    assert_eq!(body["event"]["value"], 812.0);
    assert_eq!(body["event"]["threshold"], 500.0);
    assert_eq!(body["event"]["severity"], "critical");
    assert_eq!(
        body["event"]["message"],
        "latency_p95 812.0 ms > 500 (window 1m, for 2m)"
    );
    assert_eq!(body["rule"]["name"], "Slow agents");
    assert_eq!(body["rule"]["webhooks"][0]["secret_set"], true);
    assert!(!String::from_utf8_lossy(&req.body).contains(SECRET));
}

#[tokio::test]
async fn server_errors_are_retried() {
    let (base, rx) = receiver(Plan::failing(1, 500)).await;
    let (notifier, _worker) = Notifier::start(config(true));
    let hook = webhook(format!("{base}/hook"), WebhookFormat::Json, Some(SECRET));
    let r = rule(vec![]);
    let started = Instant::now();
    notifier.enqueue(hook, firing(&r, "e1"), &r);
    settle(&notifier, 1).await;
    assert_eq!((notifier.delivered(), notifier.failed()), (1, 0));
    assert_eq!(rx.count(), 2);
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "backed off first"
    );
    // Each attempt is signed afresh.
    let received = rx.received.lock().unwrap();
    let last = &received[1];
    let ts: i64 = header(&last.headers, "x-spyglass-timestamp")
        .parse()
        .unwrap();
    assert!(verify(
        SECRET,
        ts,
        &last.body,
        &header(&last.headers, "x-spyglass-signature")
    ));
}

#[tokio::test]
async fn too_many_requests_honours_retry_after() {
    let plan = Plan {
        fail_first: 1,
        status: 429,
        retry_after: Some("0"),
    };
    let (base, rx) = receiver(plan).await;
    let (notifier, _worker) = Notifier::start(NotifierConfig {
        // Without the header the wait would outlast the test's patience.
        initial_backoff: Duration::from_secs(30),
        max_backoff: Duration::from_secs(30),
        ..config(true)
    });
    let r = rule(vec![]);
    notifier.enqueue(
        webhook(format!("{base}/hook"), WebhookFormat::Json, None),
        firing(&r, "e1"),
        &r,
    );
    settle(&notifier, 1).await;
    assert_eq!((notifier.delivered(), rx.count()), (1, 2));
}

#[tokio::test]
async fn retries_give_up_after_max_attempts() {
    let (base, rx) = receiver(Plan::failing(usize::MAX, 503)).await;
    let (notifier, _worker) = Notifier::start(config(true));
    let r = rule(vec![]);
    notifier.enqueue(
        webhook(format!("{base}/hook"), WebhookFormat::Json, None),
        firing(&r, "e1"),
        &r,
    );
    settle(&notifier, 1).await;
    assert_eq!((notifier.delivered(), notifier.failed()), (0, 1));
    assert_eq!(rx.count(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let (base, rx) = receiver(Plan::failing(usize::MAX, 400)).await;
    let (notifier, _worker) = Notifier::start(config(true));
    let r = rule(vec![]);
    notifier.enqueue(
        webhook(format!("{base}/hook"), WebhookFormat::Json, None),
        firing(&r, "e1"),
        &r,
    );
    settle(&notifier, 1).await;
    assert_eq!((notifier.delivered(), notifier.failed()), (0, 1));
    assert_eq!(rx.count(), 1);
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let (base, rx) = receiver(Plan::ok()).await;
    let (notifier, _worker) = Notifier::start(config(true));
    let r = rule(vec![]);
    notifier.enqueue(
        webhook(format!("{base}/redirect"), WebhookFormat::Json, None),
        firing(&r, "e1"),
        &r,
    );
    settle(&notifier, 1).await;
    assert_eq!((notifier.delivered(), notifier.failed()), (0, 1));
    let received = rx.received.lock().unwrap();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/redirect");
}

#[tokio::test]
async fn private_targets_are_refused() {
    let (base, rx) = receiver(Plan::ok()).await;
    let (notifier, _worker) = Notifier::start(config(false));
    let r = rule(vec![]);
    for url in [
        "http://10.0.0.1/hook".to_string(),
        format!("{base}/hook"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        format!("{}/hook", base.replace("127.0.0.1", "localhost")),
    ] {
        notifier.enqueue(
            webhook(url, WebhookFormat::Json, Some(SECRET)),
            firing(&r, "e1"),
            &r,
        );
    }
    settle(&notifier, 4).await;
    assert_eq!((notifier.delivered(), notifier.failed()), (0, 4));
    assert_eq!(rx.count(), 0, "nothing reached the receiver");

    let err = check_target(&format!("{base}/hook"), false)
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Refused { .. }));
    assert_eq!(
        err.to_string(),
        "webhook target 127.0.0.1 is a loopback address; set alerts.allow_private_webhooks to allow it"
    );
    let err = check_target("http://10.0.0.1/hook", false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("10.0.0.1 is a private address"),
        "{err}"
    );
}

#[tokio::test]
async fn slack_format_has_text() {
    let (base, rx) = receiver(Plan::ok()).await;
    let (notifier, _worker) = Notifier::start(config(true));
    let r = rule(vec![]);
    notifier.enqueue(
        webhook(format!("{base}/slack"), WebhookFormat::Slack, None),
        firing(&r, "e1"),
        &r,
    );
    settle(&notifier, 1).await;
    let received = rx.received.lock().unwrap();
    let body: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("FIRING [CRITICAL] Slow agents"), "{text}");
    assert_eq!(body["blocks"][0]["type"], "section");
    assert!(received[0].headers.get("x-spyglass-signature").is_none());
}

#[tokio::test]
async fn deliveries_to_one_url_keep_their_order() {
    let (base, rx) = receiver(Plan::failing(1, 500)).await;
    let (notifier, _worker) = Notifier::start(config(true));
    let r = rule(vec![]);
    let hook = webhook(format!("{base}/hook"), WebhookFormat::Json, None);
    let mut resolved = firing(&r, "e2");
    resolved.to = AlertState::Resolved;
    notifier.enqueue(hook.clone(), firing(&r, "e1"), &r);
    notifier.enqueue(hook, resolved, &r);
    settle(&notifier, 2).await;
    // The firing one failed once and was retried before the resolved one went out.
    assert_eq!(rx.events(), ["firing", "firing", "resolved"]);
}

#[tokio::test]
async fn a_full_queue_drops_and_counts() {
    // The worker is never run, so nothing leaves the queue.
    let (notifier, _worker) = Notifier::new(NotifierConfig {
        queue: 2,
        ..config(true)
    });
    let r = rule(vec![]);
    for i in 0..5 {
        notifier.enqueue(
            webhook("http://10.0.0.1/h".into(), WebhookFormat::Json, None),
            firing(&r, &format!("e{i}")),
            &r,
        );
    }
    assert_eq!((notifier.queued(), notifier.dropped()), (2, 3));
}

/// Latency set by the test; `None` is an idle project.
struct Latency(Mutex<Option<f64>>);

#[async_trait]
impl MetricSource for Latency {
    async fn measure(
        &self,
        _project: &str,
        _metric: Metric,
        _filter: &AnalyticsFilter,
        _from_ns: i64,
        _to_ns: i64,
    ) -> Result<Option<f64>, String> {
        Ok(*self.0.lock().unwrap())
    }
}

struct Repo {
    rules: Vec<AlertRule>,
    events: Mutex<Vec<AlertEvent>>,
}

#[async_trait]
impl AlertRepo for Repo {
    async fn rules(&self) -> Result<Vec<AlertRule>, String> {
        Ok(self.rules.clone())
    }
    async fn record(&self, event: &AlertEvent) -> Result<(), String> {
        self.events.lock().unwrap().push(event.clone());
        Ok(())
    }
}

#[tokio::test]
async fn evaluator_end_to_end() {
    let (base, rx) = receiver(Plan::ok()).await;
    let (notifier, _worker) = Notifier::start(config(true));
    let latency = Arc::new(Latency(Mutex::new(Some(900.0))));
    let repo = Arc::new(Repo {
        rules: vec![rule(vec![webhook(
            format!("{base}/hook"),
            WebhookFormat::Json,
            Some(SECRET),
        )])],
        events: Mutex::default(),
    });
    let evaluator = Evaluator::new(latency.clone(), repo.clone(), notifier.clone());
    let t0 = 1_700_000_000_000_000_000;

    let to = |events: Vec<AlertEvent>| events.into_iter().map(|e| e.to).collect::<Vec<_>>();
    assert_eq!(to(evaluator.tick(t0).await), [AlertState::Pending]);
    assert_eq!(to(evaluator.tick(t0 + MIN).await), []);
    assert_eq!(to(evaluator.tick(t0 + 2 * MIN).await), [AlertState::Firing]);
    assert_eq!(to(evaluator.tick(t0 + 3 * MIN).await), []);
    *latency.0.lock().unwrap() = Some(120.0);
    assert_eq!(
        to(evaluator.tick(t0 + 4 * MIN).await),
        [AlertState::Resolved]
    );
    assert_eq!(to(evaluator.tick(t0 + 5 * MIN).await), [AlertState::Ok]);

    settle(&notifier, 2).await;
    assert_eq!(rx.events(), ["firing", "resolved"]);
    assert_eq!(repo.events.lock().unwrap().len(), 4);
    let status = evaluator.status("0123abcd").unwrap();
    assert_eq!(
        (status.state, status.since_ns),
        (AlertState::Ok, Some(t0 + 5 * MIN))
    );

    let received = rx.received.lock().unwrap();
    let resolved: serde_json::Value = serde_json::from_slice(&received[1].body).unwrap();
    assert_eq!(resolved["event"]["from"], "firing");
    assert_eq!(resolved["event"]["value"], 120.0);
    let recorded = repo.events.lock().unwrap();
    assert_eq!(resolved["event"]["id"], recorded[2].id.as_str());
}
