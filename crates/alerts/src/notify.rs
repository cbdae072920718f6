//! The webhook queue. Evaluation must never wait on a receiver, so transitions are queued
//! (bounded: a dead receiver must not grow memory) and a worker delivers them with retries.
//! Deliveries to different URLs run concurrently; to one URL they run in order, so a
//! receiver never sees "resolved" before the "firing" it resolves.

use crate::body;
use crate::error::NotifyError;
use crate::guard;
use crate::signature::sign;
use reqwest::{StatusCode, Url};
use spyglass_model::alert::{AlertEvent, AlertRule, Webhook};
use spyglass_model::error_chain;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

pub const USER_AGENT: &str = concat!("spyglass-alerts/", env!("CARGO_PKG_VERSION"));

/// Delivery settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NotifierConfig {
    /// Deliver to loopback, private and other internal addresses (see
    /// [`crate::check_target`]). Off by default: rules are written through the API.
    pub allow_private: bool,
    /// Attempts per delivery, the first included.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; doubles per attempt.
    pub initial_backoff: Duration,
    /// The longest wait between attempts, also the cap on a receiver's `Retry-After`.
    pub max_backoff: Duration,
    /// Per attempt, connecting included.
    pub timeout: Duration,
    /// Deliveries waiting at most; more are dropped (and counted).
    pub queue: usize,
    /// Deliveries in flight at most (to different URLs).
    pub concurrency: usize,
}

impl Default for NotifierConfig {
    fn default() -> Self {
        NotifierConfig {
            allow_private: false,
            max_attempts: 5,
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            queue: 1000,
            concurrency: 8,
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

struct Job {
    webhook: Webhook,
    event: AlertEvent,
    rule: AlertRule,
}

/// The sending side of the queue; cheap to clone. The worker stops once every clone is
/// dropped and the queued deliveries are done.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Job>,
    counters: Arc<Counters>,
}

/// The delivering side; run it on the runtime with [`NotifierWorker::run`].
pub struct NotifierWorker {
    rx: mpsc::Receiver<Job>,
    cfg: Arc<NotifierConfig>,
    counters: Arc<Counters>,
}

impl Notifier {
    pub fn new(cfg: NotifierConfig) -> (Notifier, NotifierWorker) {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let counters = Arc::new(Counters::default());
        let notifier = Notifier {
            tx,
            counters: counters.clone(),
        };
        let worker = NotifierWorker {
            rx,
            cfg: Arc::new(cfg),
            counters,
        };
        (notifier, worker)
    }

    /// [`Notifier::new`] with the worker spawned on the current runtime.
    pub fn start(cfg: NotifierConfig) -> (Notifier, tokio::task::JoinHandle<()>) {
        let (notifier, worker) = Notifier::new(cfg);
        (notifier, tokio::spawn(worker.run()))
    }

    /// Queues a delivery without waiting: when the queue is full (or the worker gone) the
    /// delivery is dropped and counted, since blocking would stall rule evaluation.
    pub fn enqueue(&self, webhook: Webhook, event: AlertEvent, rule: &AlertRule) {
        let job = Job {
            webhook,
            event,
            rule: rule.clone(),
        };
        if let Err(e) = self.tx.try_send(job) {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            let (reason, job) = match e {
                mpsc::error::TrySendError::Full(job) => ("queue full", job),
                mpsc::error::TrySendError::Closed(job) => ("notifier stopped", job),
            };
            tracing::warn!(
                rule = %job.rule.id, event = %job.event.id, target = %target_of(&job.webhook.url),
                "alert webhook dropped: {reason}"
            );
        }
    }

    /// Deliveries that reached their receiver (a 2xx answer).
    pub fn delivered(&self) -> u64 {
        self.counters.delivered.load(Ordering::Relaxed)
    }

    /// Deliveries given up on: refused targets, permanent errors, retries exhausted.
    pub fn failed(&self) -> u64 {
        self.counters.failed.load(Ordering::Relaxed)
    }

    /// Deliveries never attempted because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Relaxed)
    }

    /// Deliveries waiting for the worker to pick them up.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}

impl NotifierWorker {
    /// Delivers until every [`Notifier`] is dropped and nothing is left in flight.
    pub async fn run(mut self) {
        let limit = self.cfg.concurrency.max(1);
        // Per URL with a delivery in flight: the deliveries queued behind it.
        let mut waiting: HashMap<String, VecDeque<Job>> = HashMap::new();
        let mut backlog = 0usize;
        let mut running: JoinSet<()> = JoinSet::new();
        let mut urls: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut open = true;
        loop {
            tokio::select! {
                job = self.rx.recv(), if open && running.len() < limit => {
                    let Some(job) = job else {
                        open = false;
                        continue;
                    };
                    match waiting.get_mut(&job.webhook.url) {
                        Some(_) if backlog >= self.cfg.queue => {
                            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(
                                rule = %job.rule.id, event = %job.event.id,
                                target = %target_of(&job.webhook.url),
                                "alert webhook dropped: queue full"
                            );
                        }
                        Some(queue) => {
                            queue.push_back(job);
                            backlog += 1;
                        }
                        None => {
                            waiting.insert(job.webhook.url.clone(), VecDeque::new());
                            self.spawn(&mut running, &mut urls, job);
                        }
                    }
                }
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    let id = match done {
                        Ok((id, ())) => id,
                        Err(e) => {
                            tracing::error!("alert webhook delivery task failed: {e}");
                            e.id()
                        }
                    };
                    let Some(url) = urls.remove(&id) else { continue };
                    match waiting.get_mut(&url).and_then(VecDeque::pop_front) {
                        Some(next) => {
                            backlog -= 1;
                            self.spawn(&mut running, &mut urls, next);
                        }
                        None => {
                            waiting.remove(&url);
                        }
                    }
                }
                else => break,
            }
        }
    }

    fn spawn(
        &self,
        running: &mut JoinSet<()>,
        urls: &mut HashMap<tokio::task::Id, String>,
        job: Job,
    ) {
        let url = job.webhook.url.clone();
        let cfg = self.cfg.clone();
        let counters = self.counters.clone();
        let handle = running.spawn(async move {
            let target = target_of(&job.webhook.url);
            match deliver(&job, &cfg).await {
                Ok(attempts) => {
                    counters.delivered.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        rule = %job.rule.id, event = %job.event.id, to = %job.event.to,
                        %target, attempts, "alert webhook delivered"
                    );
                }
                Err(e) => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        rule = %job.rule.id, event = %job.event.id, to = %job.event.to,
                        %target, "alert webhook failed: {e}"
                    );
                }
            }
        });
        urls.insert(handle.id(), url);
    }
}

/// How one attempt ended, when it did not succeed.
enum Failure {
    /// Not worth repeating: the receiver refused the request as such.
    Permanent(NotifyError),
    /// Worth another attempt, after the receiver's `Retry-After` when it gave one.
    Retry(NotifyError, Option<Duration>),
}

/// Delivers one job, retrying transient failures; returns the attempts it took.
async fn deliver(job: &Job, cfg: &NotifierConfig) -> Result<u32, NotifyError> {
    let url = Url::parse(&job.webhook.url).map_err(|e| NotifyError::InvalidUrl(e.to_string()))?;
    let addrs = guard::check_url(&url, cfg.allow_private).await?;
    let client = pinned_client(&url, &addrs, cfg)?;
    let body = body::render(job.webhook.format, &job.event, &job.rule)?;
    let max_attempts = cfg.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        let (error, retry_after) = match attempt_once(&client, &url, job, &body).await {
            Ok(()) => return Ok(attempt),
            Err(Failure::Permanent(e)) => return Err(e),
            Err(Failure::Retry(e, retry_after)) => (e, retry_after),
        };
        if attempt >= max_attempts {
            return Err(NotifyError::GaveUp {
                attempts: attempt,
                last: Box::new(error),
            });
        }
        let wait = backoff(cfg, attempt, retry_after);
        tracing::debug!(
            event = %job.event.id, target = %target_of(&job.webhook.url), attempt,
            wait_ms = wait.as_millis() as u64, "alert webhook attempt failed, retrying: {error}"
        );
        tokio::time::sleep(wait).await;
        attempt += 1;
    }
}

/// A client that connects only to the addresses the guard checked: resolving again at
/// connect time would let a DNS answer change between the check and the request. Redirects
/// are off so a public URL cannot bounce the request inward; proxies are off because a proxy
/// resolves the name itself.
fn pinned_client(
    url: &Url,
    addrs: &[SocketAddr],
    cfg: &NotifierConfig,
) -> Result<reqwest::Client, NotifyError> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(cfg.timeout)
        .connect_timeout(cfg.timeout)
        .user_agent(USER_AGENT);
    if guard::ip_literal(url).is_none()
        && let Some(host) = url.host_str()
    {
        builder = builder.resolve_to_addrs(host, addrs);
    }
    builder
        .build()
        .map_err(|e| NotifyError::Client(error_chain(&e.without_url())))
}

async fn attempt_once(
    client: &reqwest::Client,
    url: &Url,
    job: &Job,
    body: &[u8],
) -> Result<(), Failure> {
    let mut request = client
        .post(url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Spyglass-Event", job.event.to.as_str())
        // Retries repeat the event id, so receivers can drop duplicates.
        .header("X-Spyglass-Delivery", &job.event.id);
    if let Some(secret) = &job.webhook.secret {
        let timestamp = spyglass_model::now_ns() / 1_000_000_000;
        request = request
            .header("X-Spyglass-Timestamp", timestamp.to_string())
            .header("X-Spyglass-Signature", sign(secret, timestamp, body));
    }
    let response = match request.body(body.to_vec()).send().await {
        Ok(r) => r,
        Err(e) => {
            let permanent = e.is_builder();
            let error = NotifyError::Transport(error_chain(&e.without_url()));
            return Err(if permanent {
                Failure::Permanent(error)
            } else {
                // Connect errors, timeouts, resets: the receiver may be back shortly.
                Failure::Retry(error, None)
            });
        }
    };
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Err(Failure::Retry(
            NotifyError::Status(status.as_u16()),
            retry_after(&response),
        ))
    } else if status.is_redirection() {
        Err(Failure::Permanent(NotifyError::Redirect(status.as_u16())))
    } else {
        Err(Failure::Permanent(NotifyError::Status(status.as_u16())))
    }
}

/// `Retry-After` in seconds (the HTTP-date form is rare from webhook receivers and falls
/// back to the exponential backoff).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?;
    let secs: u64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs))
}

/// The wait before attempt `attempt + 1`: initial × 2^(attempt-1), capped, plus up to 10%
/// jitter so receivers coming back are not hit by every sender at once.
fn backoff(cfg: &NotifierConfig, attempt: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(wait) = retry_after {
        return wait.min(cfg.max_backoff);
    }
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    let base = cfg
        .initial_backoff
        .saturating_mul(factor)
        .min(cfg.max_backoff);
    let jitter_ms = (base.as_millis() / 10) as u64;
    base + Duration::from_millis(rand::random_range(0..=jitter_ms))
}

/// The URL without path and query, for logs: a webhook URL's path is often its secret.
fn target_of(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(h), Some(p)) => format!("{}://{h}:{p}", u.scheme()),
            (Some(h), None) => format!("{}://{h}", u.scheme()),
            _ => u.scheme().to_string(),
        },
        Err(_) => "<invalid url>".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let cfg = NotifierConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(700),
            ..NotifierConfig::default()
        };
        let within = |d: Duration, lo: u64| {
            let ms = d.as_millis() as u64;
            ms >= lo && ms <= lo + lo / 10
        };
        assert!(within(backoff(&cfg, 1, None), 100));
        assert!(within(backoff(&cfg, 2, None), 200));
        assert!(within(backoff(&cfg, 3, None), 400));
        assert!(within(backoff(&cfg, 4, None), 700));
        assert!(within(backoff(&cfg, 60, None), 700));
        assert_eq!(
            backoff(&cfg, 1, Some(Duration::from_secs(1))),
            Duration::from_millis(700)
        );
        assert_eq!(backoff(&cfg, 1, Some(Duration::ZERO)), Duration::ZERO);
    }

    #[test]
    fn targets_hide_paths() {
        assert_eq!(
            target_of("https://hooks.slack.com/services/T0/B0/XXXX"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            target_of("http://10.0.0.1:8080/h?token=x"),
            "http://10.0.0.1:8080"
        );
    }
}
