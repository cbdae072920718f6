//! The server's own recent log, for operators to watch live: a `tracing` layer
//! ([`ServerLog::layer`]) records events, with secrets masked before anything is kept, into a
//! ring of the last entries, and broadcasts each new entry to subscribers.
//!
//! Logging never waits for a subscriber: the broadcast is bounded, and a subscriber that falls
//! behind loses the oldest entries it has not read (its receiver reports how many).

pub mod redact;

pub use redact::{REDACTED, RedactingWriter, is_sensitive_name, redact_field, redact_text};

use serde::Serialize;
use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Entries kept for a new subscriber.
pub const DEFAULT_CAPACITY: usize = 100;
/// Entries a subscriber may fall behind before it starts losing them.
pub const DEFAULT_BROADCAST_CAPACITY: usize = 1024;
/// What is recorded unless configured otherwise: info and above, and only warnings from the
/// chatty HTTP libraries (the same default as the server's stderr log).
pub const DEFAULT_FILTER: &str = "info,tower_http=warn,h2=warn,hyper=warn";
/// Longest message or field value kept, in characters (longer ones are cut, after masking).
const MAX_VALUE_CHARS: usize = 4096;

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    /// When it was logged, in Unix nanoseconds.
    pub time_ns: i64,
    /// The same time in RFC 3339.
    pub time: String,
    /// error, warn, info, debug or trace.
    pub level: String,
    /// Where it was logged (a module path).
    pub target: String,
    /// The message, secrets masked.
    pub message: String,
    /// The event's fields, secrets masked.
    pub fields: BTreeMap<String, String>,
}

impl LogEntry {
    /// The entry's level ([`Level::TRACE`] if its level is not one of the five names).
    pub fn severity(&self) -> Level {
        parse_level(&self.level).unwrap_or(Level::TRACE)
    }

    /// Whether the entry is at `min` or more severe (`WARN` admits warn and error).
    pub fn at_least(&self, min: Level) -> bool {
        // tracing orders levels by verbosity: ERROR < WARN < INFO < DEBUG < TRACE.
        self.severity() <= min
    }
}

/// `error`, `warn` (or `warning`), `info`, `debug` or `trace`, in any case.
pub fn parse_level(s: &str) -> Option<Level> {
    match s.to_ascii_lowercase().as_str() {
        "error" => Some(Level::ERROR),
        "warn" | "warning" => Some(Level::WARN),
        "info" => Some(Level::INFO),
        "debug" => Some(Level::DEBUG),
        "trace" => Some(Level::TRACE),
        _ => None,
    }
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

/// The recent log: cheap to clone (all clones share one ring and one broadcast).
#[derive(Clone)]
pub struct ServerLog {
    inner: Arc<Inner>,
}

struct Inner {
    /// The last `capacity` entries. Entries are pushed and broadcast under this lock, and
    /// subscribers subscribe under it, so a snapshot and its receiver neither miss nor repeat
    /// an entry.
    ring: Mutex<VecDeque<Arc<LogEntry>>>,
    capacity: usize,
    tx: broadcast::Sender<Arc<LogEntry>>,
    filter: Targets,
}

impl Default for ServerLog {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ServerLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerLog")
            .field("capacity", &self.inner.capacity)
            .field("entries", &self.ring().len())
            .field("subscribers", &self.inner.tx.receiver_count())
            .field("filter", &self.inner.filter)
            .finish()
    }
}

impl ServerLog {
    /// The last [`DEFAULT_CAPACITY`] entries at [`DEFAULT_FILTER`].
    pub fn new() -> Self {
        let filter = DEFAULT_FILTER.parse().expect("the default filter parses");
        Self::with_options(DEFAULT_CAPACITY, DEFAULT_BROADCAST_CAPACITY, filter)
    }

    /// Keeps the last `capacity` entries; a subscriber may fall `broadcast_capacity` entries
    /// behind before it loses any; the layer records what `filter` enables (a `Targets`
    /// parses from directives such as `"warn"` or `"info,h2=warn"`).
    pub fn with_options(capacity: usize, broadcast_capacity: usize, filter: Targets) -> Self {
        let (tx, _) = broadcast::channel(broadcast_capacity.max(1));
        ServerLog {
            inner: Arc::new(Inner {
                ring: Mutex::new(VecDeque::with_capacity(capacity)),
                capacity,
                tx,
                filter,
            }),
        }
    }

    /// The `tracing` layer that records into this log, with its own filter (independent of
    /// any other layer's).
    pub fn layer<S>(&self) -> Filtered<ServerLogLayer, Targets, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        ServerLogLayer { log: self.clone() }.with_filter(self.inner.filter.clone())
    }

    fn ring(&self) -> MutexGuard<'_, VecDeque<Arc<LogEntry>>> {
        // A panic elsewhere while the lock was held leaves a ring that is still consistent.
        self.inner.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps `entry` and sends it to the subscribers. Never waits for a subscriber. The entry
    /// is kept as given: callers outside the layer mask secrets themselves.
    pub fn push(&self, entry: LogEntry) {
        let entry = Arc::new(entry);
        let mut ring = self.ring();
        if self.inner.capacity > 0 {
            if ring.len() == self.inner.capacity {
                ring.pop_front();
            }
            ring.push_back(entry.clone());
        }
        // An error only means nobody is subscribed.
        let _ = self.inner.tx.send(entry);
    }

    /// The entries kept now, oldest first, and a receiver of every entry after them.
    pub fn subscribe(&self) -> (Vec<Arc<LogEntry>>, broadcast::Receiver<Arc<LogEntry>>) {
        let ring = self.ring();
        let rx = self.inner.tx.subscribe();
        (ring.iter().cloned().collect(), rx)
    }
}

/// Records events into a [`ServerLog`]; made by [`ServerLog::layer`].
pub struct ServerLogLayer {
    log: ServerLog,
}

thread_local! {
    /// Set while this thread records an event, so an event logged by the recording itself
    /// is dropped instead of taking the ring's lock a second time.
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

struct RecordingGuard;

impl RecordingGuard {
    fn enter() -> Option<RecordingGuard> {
        RECORDING
            .try_with(|r| (!r.replace(true)).then_some(RecordingGuard))
            .ok()
            .flatten()
    }
}

impl Drop for RecordingGuard {
    fn drop(&mut self) {
        let _ = RECORDING.try_with(|r| r.set(false));
    }
}

impl<S: Subscriber> Layer<S> for ServerLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(_guard) = RecordingGuard::enter() else {
            return;
        };
        self.log.push(entry_of(event, SystemTime::now()));
    }
}

/// The entry for `event`, secrets masked.
fn entry_of(event: &Event<'_>, now: SystemTime) -> LogEntry {
    let meta = event.metadata();
    let mut v = FieldVisitor::default();
    event.record(&mut v);
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    LogEntry {
        time_ns: i64::try_from(since_epoch.as_nanos()).unwrap_or(i64::MAX),
        time: humantime::format_rfc3339_nanos(UNIX_EPOCH + since_epoch).to_string(),
        level: level_name(meta.level()).to_owned(),
        // Events from the `log` crate carry their real target in a field.
        target: v.log_target.unwrap_or_else(|| meta.target().to_owned()),
        message: v.message.unwrap_or_default(),
        fields: v.fields,
    }
}

/// Collects an event's message and fields, masking secrets as each value arrives.
#[derive(Default)]
struct FieldVisitor {
    message: Option<String>,
    log_target: Option<String>,
    fields: BTreeMap<String, String>,
}

impl FieldVisitor {
    fn put(&mut self, name: &str, value: &str) {
        match name {
            "message" => self.message = Some(bounded(redact_text(value).into_owned())),
            "log.target" => self.log_target = Some(value.to_owned()),
            // The rest of what the `log` bridge adds (module path, file, line).
            n if n.starts_with("log.") => {}
            n => {
                self.fields
                    .insert(n.to_owned(), bounded(redact_field(n, value).into_owned()));
            }
        }
    }
}

impl Visit for FieldVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field.name(), value);
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field.name(), &value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field.name(), &format!("{value:?}"));
    }
}

/// `s` cut to [`MAX_VALUE_CHARS`] characters.
fn bounded(mut s: String) -> String {
    if let Some((i, _)) = s.char_indices().nth(MAX_VALUE_CHARS) {
        s.truncate(i);
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    use tracing_subscriber::layer::SubscriberExt;

    fn entry(i: usize) -> LogEntry {
        LogEntry {
            time_ns: i as i64,
            time: String::new(),
            level: "info".into(),
            target: "test".into(),
            message: i.to_string(),
            fields: BTreeMap::new(),
        }
    }

    fn numbers(entries: &[Arc<LogEntry>]) -> Vec<usize> {
        entries.iter().map(|e| e.message.parse().unwrap()).collect()
    }

    /// Runs `f` with a subscriber made of only `log`'s layer.
    fn logging_into(log: &ServerLog, f: impl FnOnce()) {
        let subscriber = tracing_subscriber::registry().with(log.layer());
        tracing::subscriber::with_default(subscriber, f);
    }

    #[test]
    fn the_ring_keeps_the_last_entries() {
        let log = ServerLog::new();
        for i in 0..150 {
            log.push(entry(i));
        }
        let kept = log.subscribe().0;
        assert_eq!(kept.len(), DEFAULT_CAPACITY);
        assert_eq!(numbers(&kept), (50..150).collect::<Vec<_>>());
        let (snapshot, _rx) = log.subscribe();
        assert_eq!(snapshot, kept);
    }

    #[test]
    fn a_subscriber_gets_the_backlog_then_every_new_entry_in_order() {
        let log = ServerLog::new();
        log.push(entry(0));
        log.push(entry(1));
        let (backlog, mut rx) = log.subscribe();
        assert_eq!(numbers(&backlog), [0, 1]);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        log.push(entry(2));
        log.push(entry(3));
        assert_eq!(rx.try_recv().unwrap().message, "2");
        assert_eq!(rx.try_recv().unwrap().message, "3");
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    }

    #[test]
    fn subscribing_while_entries_pour_in_neither_loses_nor_repeats_one() {
        const N: usize = 20_000;
        for _ in 0..20 {
            let log = ServerLog::with_options(100, N, Targets::new());
            let writer = {
                let log = log.clone();
                std::thread::spawn(move || {
                    for i in 0..N {
                        log.push(entry(i));
                    }
                })
            };
            // Subscribe somewhere in the middle of the stream.
            while log.subscribe().0.len() < 50 {
                std::thread::yield_now();
            }
            let (backlog, mut rx) = log.subscribe();
            writer.join().unwrap();
            let mut seen = numbers(&backlog);
            while let Ok(e) = rx.try_recv() {
                seen.push(e.message.parse().unwrap());
            }
            let first = seen[0];
            assert_eq!(seen, (first..N).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_lagging_subscriber_is_told_how_much_it_missed_and_continues() {
        let log = ServerLog::with_options(100, 4, Targets::new());
        let (_, mut rx) = log.subscribe();
        for i in 0..10 {
            log.push(entry(i)); // never blocks, though nobody reads
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(matches!(rx.recv().await, Err(RecvError::Lagged(6))));
            for i in 6..10 {
                assert_eq!(rx.recv().await.unwrap().message, i.to_string());
            }
            log.push(entry(10));
            assert_eq!(rx.recv().await.unwrap().message, "10");
        });
        // The ring itself is unaffected by the slow reader.
        assert_eq!(log.subscribe().0.len(), 11);
    }

    #[test]
    fn pushing_without_subscribers_is_fine() {
        let log = ServerLog::with_options(2, 1, Targets::new());
        for i in 0..5 {
            log.push(entry(i));
        }
        assert_eq!(numbers(&log.subscribe().0), [3, 4]);
        assert_eq!(log.inner.tx.receiver_count(), 0);
    }

    #[test]
    fn the_layer_records_events_at_info_and_above_with_secrets_masked() {
        let log = ServerLog::new();
        logging_into(&log, || {
            tracing::info!(
                rule = "r1",
                api_token = "t0ps3cret",
                count = 3,
                "login with Bearer eyJhbGciOi.payload.sig for sg_ingest_ABCDEFGHIJKLMNOPQRSTUV123"
            );
            tracing::debug!("not kept at the default level");
            tracing::trace!("nor this");
            tracing::warn!(error = %"password=hunter2 rejected", "a warning");
            tracing::error!(target: "spyglass::custom", "an error");
            tracing::info!(target: "h2::codec", "chatty library info, dropped");
            tracing::warn!(target: "h2::codec", "library warnings are kept");
        });
        let kept = log.subscribe().0;
        let levels: Vec<&str> = kept.iter().map(|e| e.level.as_str()).collect();
        assert_eq!(levels, ["info", "warn", "error", "warn"]);

        let e = &kept[0];
        assert_eq!(
            e.message,
            "login with Bearer [redacted] for sg_ingest_[redacted]"
        );
        assert_eq!(e.fields["api_token"], REDACTED);
        assert_eq!(e.fields["rule"], "r1");
        assert_eq!(e.fields["count"], "3");
        assert!(!e.fields.contains_key("message"));
        assert_eq!(e.target, module_path!());
        let t = humantime::parse_rfc3339(&e.time).unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64,
            e.time_ns
        );

        assert_eq!(kept[1].fields["error"], "password=[redacted] rejected");
        assert_eq!(kept[2].target, "spyglass::custom");
        assert_eq!(kept[3].target, "h2::codec");

        let json = serde_json::to_string(&kept.iter().map(|e| &**e).collect::<Vec<_>>()).unwrap();
        for secret in ["t0ps3cret", "hunter2", "payload.sig", "QRSTUV123"] {
            assert!(!json.contains(secret), "{secret} in {json}");
        }
    }

    #[test]
    fn the_layer_has_its_own_configurable_level() {
        let log = ServerLog::with_options(10, 10, "warn".parse().unwrap());
        let verbose = ServerLog::with_options(10, 10, "trace".parse().unwrap());
        let subscriber = tracing_subscriber::registry()
            .with(log.layer())
            .with(verbose.layer());
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("info");
            tracing::warn!("warn");
            tracing::trace!("trace");
        });
        let messages = |l: &ServerLog| -> Vec<String> {
            l.subscribe().0.iter().map(|e| e.message.clone()).collect()
        };
        assert_eq!(messages(&log), ["warn"]);
        assert_eq!(messages(&verbose), ["info", "warn", "trace"]);
    }

    /// A `Write` into a shared buffer, for the fmt layer below.
    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The binary's composition: a fmt layer (text or JSON) under an `EnvFilter` of its own,
    /// and the server log's layer under its own filter. Neither filter affects the other.
    #[test]
    fn beside_a_fmt_layer_each_keeps_its_own_filter() {
        use tracing_subscriber::EnvFilter;
        for (json, env) in [
            (false, "error"),
            (true, "error"),
            (false, "trace"),
            (true, "trace"),
        ] {
            let log = ServerLog::new();
            let out = Buffer::default();
            let fmt = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer({
                    let out = out.clone();
                    move || out.clone()
                });
            let fmt = if json {
                fmt.json().with_filter(EnvFilter::new(env)).boxed()
            } else {
                fmt.with_filter(EnvFilter::new(env)).boxed()
            };
            let subscriber = tracing_subscriber::registry().with(fmt).with(log.layer());
            tracing::subscriber::with_default(subscriber, || {
                tracing::debug!("a debug line");
                tracing::info!(password = "hunter2", "an info line");
                tracing::error!("an error line");
            });
            let printed = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
            assert!(printed.contains("an error line"), "{printed}");
            assert_eq!(
                printed.contains("a debug line"),
                env == "trace",
                "{printed}"
            );
            assert_eq!(printed.contains("\"message\":"), json, "{printed}");
            let kept: Vec<String> = log
                .subscribe()
                .0
                .iter()
                .map(|e| e.message.clone())
                .collect();
            assert_eq!(kept, ["an info line", "an error line"], "fmt filter {env}");
            assert_eq!(log.subscribe().0[0].fields["password"], REDACTED);
        }
    }

    #[test]
    fn long_values_are_cut_after_masking() {
        let log = ServerLog::new();
        let long = format!("{}token=abcdef", "x".repeat(MAX_VALUE_CHARS - 8));
        logging_into(
            &log,
            || tracing::info!(detail = %long, "{}", "y".repeat(10_000)),
        );
        let e = &log.subscribe().0[0];
        assert_eq!(e.message.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(
            e.fields["detail"].ends_with("token=[r…"),
            "{}",
            e.fields["detail"]
        );
        assert!(!e.fields["detail"].contains("abc"));
    }

    #[test]
    fn levels_parse_and_filter() {
        assert_eq!(parse_level("WARN"), Some(Level::WARN));
        assert_eq!(parse_level("warning"), Some(Level::WARN));
        assert_eq!(parse_level("loud"), None);
        let mut e = entry(0);
        e.level = "warn".into();
        assert!(e.at_least(Level::WARN));
        assert!(e.at_least(Level::INFO));
        assert!(!e.at_least(Level::ERROR));
        e.level = "error".into();
        assert!(e.at_least(Level::WARN));
        e.level = "info".into();
        assert!(!e.at_least(Level::WARN));
    }

    #[test]
    fn entries_serialize_with_the_documented_fields() {
        let mut e = entry(7);
        e.fields.insert("k".into(), "v".into());
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"time_ns": 7, "time": "", "level": "info", "target": "test",
                "message": "7", "fields": {"k": "v"}})
        );
    }
}
