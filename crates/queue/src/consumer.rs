//! The processor side: partition leases, fair share, and in-order handling of each
//! partition's entries by one consumer at a time.
//!
//! One coordinator loop per consumer heartbeats, renews its leases, gives back partitions
//! beyond its fair share and takes free ones up to it. Each owned partition runs its own task
//! on its own connection (XREADGROUP BLOCK would stall a shared one): first the partition's
//! pending entries of any consumer (XAUTOCLAIM: a dead owner's unacknowledged work, in id
//! order), then new entries. An entry is acknowledged (XACK, then XDEL) only after the
//! handler succeeded; a failing handler is retried forever with backoff, because skipping
//! would lose spans and reordering would break per-trace state.

use crate::codec::decode_spans;
use crate::lease;
use crate::{QueueConfig, QueueError, QueueMetrics};
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamAutoClaimReply, StreamId, StreamReadReply};
use redis::{AsyncConnectionConfig, RedisResult, Value};
use spyglass_model::Span;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What a handler failure carries; only logged.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// What a processor does with the spans of one entry: run the engine, write to the store.
#[async_trait::async_trait]
pub trait Handler: Send + Sync + 'static {
    /// The spans of the entries of one read, in stream order. `key` names them:
    /// `<partition>:<entry id>` for one entry, `<partition>:<first id>..<last id>` for several;
    /// a redelivery of the same entries has the same key (use it as an idempotency token). An
    /// error is logged and the same entries are handled again after a backoff.
    async fn handle(&self, partition: u32, key: &str, spans: Vec<Span>)
    -> Result<(), HandlerError>;

    /// Called when this consumer takes ownership of a partition (drop per-partition caches:
    /// another processor may have changed the partition's traces meanwhile).
    fn acquired(&self, _partition: u32) {}
}

/// A processor's consumer; `run` it once.
pub struct Consumer {
    cfg: Arc<QueueConfig>,
    name: String,
    client: redis::Client,
    metrics: QueueMetrics,
}

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Why a partition task stopped handling entries.
enum Exit {
    /// Asked to (shutdown or rebalancing): release the lease.
    Stopped,
    /// The lease expired or another consumer holds it: leave it alone.
    Lost,
}

struct Ctx {
    cfg: Arc<QueueConfig>,
    name: String,
    client: redis::Client,
    metrics: QueueMetrics,
    handler: Arc<dyn Handler>,
}

/// Aborts the task when dropped: if `run`'s future is dropped (its task aborted), its
/// partition tasks die with it instead of handling entries without lease renewals.
struct Task(Option<JoinHandle<()>>);

impl Task {
    fn is_finished(&self) -> bool {
        self.0.as_ref().is_none_or(|t| t.is_finished())
    }

    async fn join(mut self) {
        if let Some(t) = self.0.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

struct Owned {
    stop: CancellationToken,
    task: Task,
    /// Being given back; it still counts as ours until its task ends, so it is not taken
    /// again while its in-flight entry finishes.
    stopping: bool,
}

impl Consumer {
    /// `name` must be unique among live processors and stable across restarts of one (the
    /// host name, a pod name): a restarted processor then finds its own pending entries.
    pub fn new(cfg: &QueueConfig, name: impl Into<String>) -> Result<Consumer, QueueError> {
        let name = name.into();
        if name.is_empty() {
            return Err(QueueError::Config("consumer name must not be empty".into()));
        }
        Ok(Consumer {
            client: cfg.client()?,
            cfg: Arc::new(cfg.clone()),
            name,
            metrics: QueueMetrics::default(),
        })
    }

    pub fn with_metrics(mut self, metrics: QueueMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn metrics(&self) -> &QueueMetrics {
        &self.metrics
    }

    /// Runs until `shutdown` is cancelled, then finishes the in-flight entry of each
    /// partition, releases the leases and returns. Redis being down is logged and waited out.
    pub async fn run(self, handler: Arc<dyn Handler>, shutdown: CancellationToken) {
        let ctx = Arc::new(Ctx {
            cfg: self.cfg,
            name: self.name,
            client: self.client,
            metrics: self.metrics,
            handler,
        });
        let tick = Duration::from_millis((ctx.cfg.lease_ms / 3).max(100));
        let mut owned: BTreeMap<u32, Owned> = BTreeMap::new();
        let mut conn: Option<MultiplexedConnection> = None;
        let mut backoff = MIN_BACKOFF;
        tracing::info!(consumer = %ctx.name, "queue consumer started");
        loop {
            owned.retain(|_, o| !o.task.is_finished());
            let wait = match coordinate(&ctx, &mut conn, &mut owned, &shutdown).await {
                Ok(()) => {
                    backoff = MIN_BACKOFF;
                    tick
                }
                Err(e) => {
                    tracing::warn!(consumer = %ctx.name, error = %e, "queue coordination failed; retrying");
                    conn = None;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff.min(tick)
                }
            };
            ctx.metrics.partitions_owned.set(owned.len() as i64);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
        for o in owned.values() {
            o.stop.cancel();
        }
        for (_, o) in std::mem::take(&mut owned) {
            o.task.join().await;
        }
        ctx.metrics.partitions_owned.set(0);
        if let Ok(mut c) = connect(&ctx, Duration::from_secs(1)).await {
            let _ = lease::leave(&mut c, &ctx.cfg.processors_key(), &ctx.name).await;
        }
        tracing::info!(consumer = %ctx.name, "queue consumer stopped");
    }
}

async fn connect(ctx: &Ctx, response_timeout: Duration) -> RedisResult<MultiplexedConnection> {
    let c = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(response_timeout));
    ctx.client
        .get_multiplexed_async_connection_with_config(&c)
        .await
}

/// One round of the coordinator: heartbeat, renew, give back extras, take free partitions.
async fn coordinate(
    ctx: &Arc<Ctx>,
    conn: &mut Option<MultiplexedConnection>,
    owned: &mut BTreeMap<u32, Owned>,
    shutdown: &CancellationToken,
) -> RedisResult<()> {
    if conn.is_none() {
        *conn = Some(connect(ctx, Duration::from_secs(2)).await?);
    }
    let c = conn.as_mut().expect("set above");
    let cfg = &ctx.cfg;
    let live = lease::heartbeat(c, &cfg.processors_key(), &ctx.name, cfg.lease_ms).await?;
    let share = cfg.partitions.div_ceil(live) as usize;

    for (p, o) in owned.iter_mut() {
        if o.stopping {
            continue;
        }
        if !lease::extend(c, &cfg.lease_key(*p), &ctx.name, cfg.lease_ms).await? {
            tracing::warn!(consumer = %ctx.name, partition = p, "partition lease lost");
            ctx.metrics.leases_lost.inc();
            o.stopping = true;
            o.stop.cancel();
        }
    }

    let active: Vec<u32> = owned
        .iter()
        .filter(|(_, o)| !o.stopping)
        .map(|(p, _)| *p)
        .collect();
    if active.len() > share {
        for p in &active[share..] {
            tracing::info!(consumer = %ctx.name, partition = p, share, "giving back partition");
            let o = owned.get_mut(p).expect("listed above");
            o.stopping = true;
            o.stop.cancel();
        }
        return Ok(());
    }
    let mut have = active.len();
    // Start from a per-consumer offset so that starting processors try different partitions.
    let n = cfg.partitions;
    let offset = crate::producer::partition_of(&ctx.name, &Default::default(), n);
    for i in 0..n {
        if have >= share || shutdown.is_cancelled() {
            break;
        }
        let p = (offset + i) % n;
        if owned.contains_key(&p) {
            continue;
        }
        if lease::acquire(c, &cfg.lease_key(p), &ctx.name, cfg.lease_ms).await? {
            tracing::info!(consumer = %ctx.name, partition = p, "partition acquired");
            let stop = shutdown.child_token();
            let task = Task(Some(tokio::spawn(run_partition(
                ctx.clone(),
                p,
                stop.clone(),
            ))));
            owned.insert(
                p,
                Owned {
                    stop,
                    task,
                    stopping: false,
                },
            );
            have += 1;
        }
    }
    Ok(())
}

/// Sleeps unless `stop` comes first; false when stopped.
async fn pause(stop: &CancellationToken, d: Duration) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        _ = tokio::time::sleep(d) => true,
    }
}

struct Partition {
    ctx: Arc<Ctx>,
    p: u32,
    stream: String,
    lease_key: String,
    stop: CancellationToken,
    conn: Option<MultiplexedConnection>,
}

async fn run_partition(ctx: Arc<Ctx>, p: u32, stop: CancellationToken) {
    ctx.handler.acquired(p);
    let mut part = Partition {
        stream: ctx.cfg.stream(p),
        lease_key: ctx.cfg.lease_key(p),
        ctx,
        p,
        stop,
        conn: None,
    };
    let exit = part.run().await;
    let (key, me) = (part.lease_key.clone(), part.ctx.name.clone());
    let (stream, group) = (part.stream.clone(), part.ctx.cfg.group.clone());
    if matches!(exit, Exit::Stopped)
        && let Ok(c) = part.conn().await
    {
        let released = lease::release(&mut *c, &key, &me).await;
        tracing::debug!(partition = p, ?released, "partition released");
        // Processor names often change per restart: forget ours in this stream's group, but
        // only with nothing pending under it (DELCONSUMER drops pending entries with it).
        let pending: RedisResult<Vec<Value>> = redis::cmd("XPENDING")
            .arg(&stream)
            .arg(&group)
            .arg("-")
            .arg("+")
            .arg(1)
            .arg(&me)
            .query_async(&mut *c)
            .await;
        if pending.is_ok_and(|p| p.is_empty()) {
            let _: RedisResult<i64> = redis::cmd("XGROUP")
                .arg("DELCONSUMER")
                .arg(&stream)
                .arg(&group)
                .arg(&me)
                .query_async(c)
                .await;
        }
    }
}

impl Partition {
    async fn conn(&mut self) -> RedisResult<&mut MultiplexedConnection> {
        if self.conn.is_none() {
            // A blocked read answers after block_ms; the margin covers a slow network.
            let t = Duration::from_millis(self.ctx.cfg.block_ms) + Duration::from_secs(3);
            self.conn = Some(connect(&self.ctx, t).await?);
        }
        Ok(self.conn.as_mut().expect("set above"))
    }

    async fn run(&mut self) -> Exit {
        let mut backoff = MIN_BACKOFF;
        // Pending entries first (cursor of XAUTOCLAIM), then new ones (None).
        let mut cursor: Option<String> = Some("0-0".into());
        let mut group_ready = false;
        loop {
            if self.stop.is_cancelled() {
                return Exit::Stopped;
            }
            let stop = self.stop.clone();
            let fetched = async {
                if !group_ready {
                    self.ensure_group().await?;
                    group_ready = true;
                }
                match cursor.take() {
                    Some(c) => {
                        let (next, entries) = self.claim(&c).await?;
                        cursor = (next != "0-0").then_some(next);
                        self.ctx.metrics.reclaimed.inc_by(entries.len() as u64);
                        Ok(entries)
                    }
                    None => self.read().await,
                }
            };
            let entries = tokio::select! {
                // Entries a dropped read delivered stay pending under our name; whoever takes
                // the partition next claims them first, so nothing is lost or reordered.
                _ = stop.cancelled() => return Exit::Stopped,
                r = fetched => r,
            };
            let entries = match entries {
                Ok(e) => {
                    backoff = MIN_BACKOFF;
                    e
                }
                Err(e) => {
                    tracing::warn!(partition = self.p, error = %e, "reading the partition failed; retrying");
                    if e.code() == Some("NOGROUP") {
                        group_ready = false;
                    }
                    self.conn = None;
                    if !pause(&self.stop, backoff).await {
                        return Exit::Stopped;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            if !entries.is_empty()
                && let Some(exit) = self.process(entries).await
            {
                return exit;
            }
        }
    }

    async fn ensure_group(&mut self) -> RedisResult<()> {
        let (stream, group) = (self.stream.clone(), self.ctx.cfg.group.clone());
        let c = self.conn().await?;
        // Id 0, not $: entries written before the group existed are read too.
        let r: RedisResult<()> = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg(&stream)
            .arg(&group)
            .arg("0")
            .arg("MKSTREAM")
            .exec_async(c)
            .await;
        match r {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            r => r,
        }
    }

    async fn claim(&mut self, cursor: &str) -> RedisResult<(String, Vec<StreamId>)> {
        let (stream, group, me, count) = (
            self.stream.clone(),
            self.ctx.cfg.group.clone(),
            self.ctx.name.clone(),
            self.ctx.cfg.read_count,
        );
        let c = self.conn().await?;
        let r: StreamAutoClaimReply = redis::cmd("XAUTOCLAIM")
            .arg(&stream)
            .arg(&group)
            .arg(&me)
            .arg(0)
            .arg(cursor)
            .arg("COUNT")
            .arg(count)
            .query_async(c)
            .await?;
        if !r.deleted_ids.is_empty() {
            // Pending entries whose data is gone (deleted by hand): nothing to handle.
            redis::cmd("XACK")
                .arg(&stream)
                .arg(&group)
                .arg(&r.deleted_ids)
                .exec_async(c)
                .await?;
        }
        Ok((r.next_stream_id, r.claimed))
    }

    async fn read(&mut self) -> RedisResult<Vec<StreamId>> {
        let cfg = self.ctx.cfg.clone();
        let (stream, me) = (self.stream.clone(), self.ctx.name.clone());
        let c = self.conn().await?;
        let r: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&cfg.group)
            .arg(&me)
            .arg("COUNT")
            .arg(cfg.read_count)
            .arg("BLOCK")
            .arg(cfg.block_ms)
            .arg("STREAMS")
            .arg(&stream)
            .arg(">")
            .query_async(c)
            .await?;
        Ok(r.map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    }

    /// Handles the entries of one read (or one claim) to the end, as one batch: undecodable
    /// ones are dead-lettered, the rest are handed over together and then acknowledged
    /// together; `Some` when the partition must stop instead. One batch rather than one call
    /// per entry because the store wants large inserts (ClickHouse makes a part per insert).
    /// The batch's key names its first and last entry: a redelivery claims exactly the
    /// entries the failed consumer had read and not acknowledged (it reads again only after
    /// acknowledging), so it makes the same batch under the same key.
    async fn process(&mut self, entries: Vec<StreamId>) -> Option<Exit> {
        let mut good: Vec<(String, Vec<u8>)> = Vec::with_capacity(entries.len());
        let mut spans = Vec::new();
        for entry in entries {
            let data: Option<&[u8]> = match entry.map.get("d") {
                Some(Value::BulkString(b)) => Some(b),
                _ => None,
            };
            let decoded = match data {
                Some(d) => decode_spans(d).map_err(|e| e.to_string()),
                None => Err("entry has no `d` field".to_string()),
            };
            match decoded {
                Ok(s) => {
                    spans.extend(s);
                    good.push((entry.id.clone(), data.unwrap_or_default().to_vec()));
                }
                Err(error) => {
                    let key = format!("{}:{}", self.p, entry.id);
                    tracing::error!(partition = self.p, key, %error, "undecodable entry; moving it to the dead-letter stream");
                    let data = data.unwrap_or_default().to_vec();
                    let id = entry.id.clone();
                    if let Some(exit) = self
                        .retry_redis("dead-letter", |me| {
                            Box::pin(me.dead_letter(id.clone(), error.clone(), data.clone()))
                        })
                        .await
                    {
                        return Some(exit);
                    }
                    self.ctx.metrics.dead_lettered.inc();
                }
            }
        }
        let (Some((first, _)), Some((last, _))) = (good.first(), good.last()) else {
            return None;
        };
        let key = if first == last {
            format!("{}:{first}", self.p)
        } else {
            format!("{}:{first}..{last}", self.p)
        };
        let n = spans.len() as u64;
        let mut spans = Some(spans);
        let mut backoff = MIN_BACKOFF;
        loop {
            // Never hand entries over after the lease is gone: another consumer may have them.
            let (lk, me, lease_ms) = (
                self.lease_key.clone(),
                self.ctx.name.clone(),
                self.ctx.cfg.lease_ms,
            );
            let held = match self.conn().await {
                Ok(c) => lease::extend(c, &lk, &me, lease_ms).await,
                Err(e) => Err(e),
            };
            match held {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!(partition = self.p, "partition lease lost");
                    self.ctx.metrics.leases_lost.inc();
                    return Some(Exit::Lost);
                }
                Err(e) => {
                    tracing::warn!(partition = self.p, error = %e, "lease check failed; retrying");
                    self.conn = None;
                    if !pause(&self.stop, backoff).await {
                        return Some(Exit::Stopped);
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            }
            // Retries decode again rather than keep a copy of every span in flight.
            let batch = match spans.take() {
                Some(s) => s,
                None => good
                    .iter()
                    .flat_map(|(_, d)| decode_spans(d).unwrap_or_default())
                    .collect(),
            };
            match self.ctx.handler.handle(self.p, &key, batch).await {
                Ok(()) => break,
                Err(error) => {
                    self.ctx.metrics.handler_failures.inc();
                    tracing::warn!(partition = self.p, key, %error, retry_in_ms = backoff.as_millis() as u64, "handler failed; retrying the entries");
                    if !pause(&self.stop, backoff).await {
                        return Some(Exit::Stopped);
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        let ids: Vec<String> = good.iter().map(|(id, _)| id.clone()).collect();
        let r = self
            .retry_redis("acknowledge", |me| Box::pin(me.ack(ids.clone())))
            .await;
        if r.is_none() {
            self.ctx.metrics.entries_handled.inc_by(ids.len() as u64);
            self.ctx.metrics.spans_handled.inc_by(n);
        }
        r
    }

    /// Repeats a Redis step until it succeeds or the partition stops; `None` on success.
    async fn retry_redis<F>(&mut self, what: &str, mut step: F) -> Option<Exit>
    where
        F: FnMut(
            &mut Partition,
        ) -> std::pin::Pin<Box<dyn Future<Output = RedisResult<()>> + Send + '_>>,
    {
        let mut backoff = MIN_BACKOFF;
        loop {
            match step(self).await {
                Ok(()) => return None,
                Err(e) => {
                    tracing::warn!(partition = self.p, error = %e, "{what} failed; retrying");
                    self.conn = None;
                    if !pause(&self.stop, backoff).await {
                        return Some(Exit::Stopped);
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// Acknowledged entries are not needed again: deleting them keeps the stream's memory
    /// to what is still unprocessed.
    async fn ack(&mut self, ids: Vec<String>) -> RedisResult<()> {
        let (stream, group) = (self.stream.clone(), self.ctx.cfg.group.clone());
        let c = self.conn().await?;
        redis::pipe()
            .cmd("XACK")
            .arg(&stream)
            .arg(&group)
            .arg(&ids)
            .cmd("XDEL")
            .arg(&stream)
            .arg(&ids)
            .exec_async(c)
            .await
    }

    async fn dead_letter(&mut self, id: String, error: String, data: Vec<u8>) -> RedisResult<()> {
        let (stream, group, dead) = (
            self.stream.clone(),
            self.ctx.cfg.group.clone(),
            self.ctx.cfg.dead_stream(),
        );
        let c = self.conn().await?;
        // One transaction, so an entry is dead-lettered once even if we crash halfway.
        redis::pipe()
            .atomic()
            .cmd("XADD")
            .arg(&dead)
            .arg("*")
            .arg("stream")
            .arg(&stream)
            .arg("id")
            .arg(&id)
            .arg("error")
            .arg(&error)
            .arg("d")
            .arg(data)
            .cmd("XACK")
            .arg(&stream)
            .arg(&group)
            .arg(&id)
            .cmd("XDEL")
            .arg(&stream)
            .arg(&id)
            .exec_async(c)
            .await
    }
}
