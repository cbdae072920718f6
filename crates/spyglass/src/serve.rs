//! `spyglass serve`: wires the stages (store, pipeline, receivers, API) and runs them until
//! SIGINT/SIGTERM, then drains: listeners stop, in-flight requests finish and are committed,
//! the store checkpoints. A scale-out role (`--role`) runs its part of them, with the queue
//! between ingest and processing (crate::scaleout).

use crate::config::{Config, Role};
use crate::scaleout::{Process, QueueHandoff};
use anyhow::Context;
use prometheus_client::registry::Registry;
use spyglass_api::AppState;
use spyglass_api::routes::archive::ArchiveState;
use spyglass_engine::cost::ProjectCost;
use spyglass_engine::{Engine, EngineConfig};
use spyglass_ingest::Normalizer;
use spyglass_model::DEFAULT_PROJECT;
use spyglass_receiver::Pipeline;
use spyglass_store::Store;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, watch};

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen for {what} on {addr}"))
}

pub async fn serve(
    mut cfg: Config,
    demo: bool,
    server_log: spyglass_serverlog::ServerLog,
) -> anyhow::Result<()> {
    crate::scaleout::check_role(&cfg)?;
    let role = cfg.role;
    let receives = matches!(role, Role::All | Role::Ingest);
    let serves_api = matches!(role, Role::All | Role::Api);
    let opened = crate::scaleout::open_store(&cfg).await?;
    let mut registry = Registry::default();
    if let crate::scaleout::Opened::DuckDb(s) = &opened {
        s.metrics().register(&mut registry);
    }
    // Committed batches for live subscribers and the forwarder. A subscriber that falls this
    // many batches behind skips ahead (and is told): the bound is on what one stalled reader
    // can pin in memory.
    let (live, _) = broadcast::channel(cfg.live_backlog_batches.max(1));
    let dyn_store: Arc<dyn Store> = opened.store();
    let queue_metrics = spyglass_queue::QueueMetrics::default();
    if role != Role::All {
        queue_metrics.register(&mut registry);
    }
    let engine = Arc::new(
        Engine::new(&EngineConfig {
            cost: cfg.cost.clone(),
            security: cfg.security.clone(),
            loops: cfg.loops.clone(),
            guard: cfg.guard.clone(),
            tools: cfg.tools.clone(),
        })
        .context("configuring the engine")?,
    );
    load_price_overrides(&engine, dyn_store.as_ref()).await?;
    tracing::info!(
        prices_as_of = engine.cost.as_of(),
        secret_masking = cfg.security.secret_masking,
        pii_masking = cfg.security.pii_masking,
        "engine ready"
    );
    let mut pipeline = Pipeline::new(
        Normalizer::new(cfg.limits),
        engine.clone(),
        dyn_store.clone(),
        cfg.max_in_flight_bytes,
        live.clone(),
    );
    let mut ready_checks: Vec<spyglass_api::ReadyCheck> = Vec::new();
    if role == Role::Ingest {
        let producer = Arc::new(
            spyglass_queue::Producer::connect(&cfg.queue)
                .context("connecting to the queue")?
                .with_metrics(queue_metrics.clone()),
        );
        ready_checks.push(queue_ready(producer.clone()));
        pipeline = pipeline.with_handoff(Arc::new(QueueHandoff(producer)));
    }
    let pipeline = Arc::new(pipeline);
    pipeline.metrics().register(&mut registry);
    // Subscribed before any receiver starts, so every accepted span is forwarded. Its own stop
    // signal comes after the receivers have drained, so their last batches are sent too.
    let (forward_stop, forward_stop_rx) = watch::channel(false);
    let forwarder = spyglass_forward::spawn(&cfg.forward, &live, &mut registry, forward_stop_rx)
        .context("configuring [forward]")?;

    let tls = cfg.tls.load()?;
    let receivers = if receives {
        Some((
            bind(cfg.otlp_grpc_addr, "OTLP/gRPC").await?,
            bind(cfg.otlp_http_addr, "OTLP/HTTP").await?,
        ))
    } else {
        None
    };
    let api = bind(cfg.http_addr, "the API").await?;

    if serves_api {
        crate::config_audit::record(dyn_store.as_ref(), DEFAULT_PROJECT, &cfg)
            .await
            .context("recording the configuration in the audit log")?;
    }
    cfg.auth.secure_cookie.get_or_insert(tls.is_some());
    let auth = if serves_api {
        spyglass_auth::Directory::open(dyn_store.clone(), cfg.auth.clone(), &cfg.data_dir).await
    } else {
        spyglass_auth::Directory::open_follower(dyn_store.clone(), cfg.auth.clone()).await
    }
    .context("loading projects, keys and users")?;
    if auth.secured() {
        tracing::info!("authentication on: OTLP needs an ingest key, the API a key or a sign-in");
    } else {
        tracing::info!(
            project = DEFAULT_PROJECT,
            "single-project local mode: no API keys or users exist, every request is accepted"
        );
        for (addr, what) in [
            (cfg.otlp_grpc_addr, "OTLP/gRPC"),
            (cfg.otlp_http_addr, "OTLP/HTTP"),
            (cfg.http_addr, "API"),
        ] {
            if !addr.ip().is_loopback() {
                tracing::warn!(%addr, "{what} listens on a non-loopback address WITHOUT authentication: anyone who can reach it can read and write traces. Set [auth] enabled = true");
            }
        }
    }

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = {
        let stop_rx = stop_rx.clone();
        move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        }
    };
    let max = cfg.max_request_bytes;
    let consumer_stop = tokio_util::sync::CancellationToken::new();
    let mut background = Vec::new();
    let mut receiver_tasks = Vec::new();
    if let Some((grpc, otlp_http)) = receivers {
        receiver_tasks.push((
            "OTLP/gRPC",
            tokio::spawn({
                let server = spyglass_receiver::serve_grpc(
                    grpc,
                    pipeline.clone(),
                    max,
                    auth.clone(),
                    tls.clone(),
                    stopped(),
                );
                async move { server.await.map_err(|e| e.to_string()) }
            }),
        ));
        receiver_tasks.push((
            "OTLP/HTTP",
            tokio::spawn({
                let server = spyglass_receiver::serve_http(
                    otlp_http,
                    pipeline.clone(),
                    max,
                    auth.clone(),
                    tls.clone(),
                    stopped(),
                );
                async move { server.await.map_err(|e| e.to_string()) }
            }),
        ));
    }
    // The roles share keys, accounts and sessions through the store: each takes in what the
    // others changed.
    if role != Role::All {
        background.push(tokio::spawn(refresh_auth(auth.clone(), stop_rx.clone())));
    }
    // The processor: queue → engine → store, publishing what it committed.
    if role == Role::Processor {
        let name = format!(
            "{}-{}",
            std::env::var("HOSTNAME").unwrap_or_else(|_| "processor".into()),
            std::process::id()
        );
        let consumer = spyglass_queue::Consumer::new(&cfg.queue, name)
            .context("configuring the queue consumer")?
            .with_metrics(queue_metrics.clone());
        let handler = Arc::new(Process {
            engine: engine.clone(),
            store: dyn_store.clone(),
            committed: live.clone(),
            live: spyglass_queue::LivePublisher::new(&cfg.queue)
                .context("configuring the live stream")?
                .with_metrics(queue_metrics.clone()),
        });
        background.push(tokio::spawn(consumer.run(handler, consumer_stop.clone())));
        background.push(tokio::spawn(reload_price_overrides(
            engine.clone(),
            dyn_store.clone(),
            stop_rx.clone(),
        )));
    }
    // The api role's live view: what the processors committed, from the live stream.
    if role == Role::Api {
        let (cfg_q, tx, stop, m) = (
            cfg.queue.clone(),
            live.clone(),
            consumer_stop.clone(),
            queue_metrics.clone(),
        );
        background.push(tokio::spawn(async move {
            if let Err(e) = spyglass_queue::LiveReader::run_with_metrics(&cfg_q, tx, stop, m).await
            {
                tracing::error!(error = %e, "the live stream reader stopped");
            }
        }));
    }
    let api_metrics = Arc::new(spyglass_api::ApiMetrics::default());
    api_metrics.register(&mut registry);
    let staging_root = cfg.data_dir.join("tmp");
    let archive_to = match cfg.archive.destination.as_str() {
        "" => None,
        d => Some((
            spyglass_archive::Destination::parse(d).context("the [archive] destination")?,
            cfg.archive.format,
        )),
    };
    // Retention and alert evaluation run where the API does (one place per deployment).
    if serves_api {
        spyglass_store::retention::spawn(
            dyn_store.clone(),
            cfg.retention.clone(),
            Some(Arc::new(spyglass_archive::RetentionHook {
                archive: archive_to,
                staging_root: staging_root.clone(),
            })),
            stop_rx.clone(),
        );
    }
    let mut alerts_cfg = cfg.alerts.clone();
    if !serves_api {
        alerts_cfg.enabled = false;
    }
    let alerts = crate::alerting::start(
        &alerts_cfg,
        dyn_store.clone(),
        &mut registry,
        stop_rx.clone(),
    )
    .await?;
    let state = AppState {
        store: dyn_store,
        live,
        auth,
        server_log,
        registry: Arc::new(registry),
        engine: engine.clone(),
        metrics: api_metrics,
        alerts,
        allow_private_webhooks: cfg.alerts.allow_private_webhooks,
        retention: Arc::new(cfg.retention.clone()),
        price_changes: Arc::default(),
        live_slots: Arc::new(tokio::sync::Semaphore::new(cfg.max_live_subscribers)),
        ready_checks,
        archive: Arc::new(ArchiveState {
            config: cfg.archive.clone(),
            staging_root,
            sink: Arc::new(crate::importer::Importer {
                pipeline: pipeline.clone(),
                engine: engine.clone(),
            }),
        }),
    };
    let mut app = if serves_api {
        spyglass_api::router(state)
    } else {
        spyglass_api::ops_router(state)
    }
    .layer(spyglass_api::trace_layer());
    if let Some(cors) = spyglass_api::cors(&cfg.cors_allowed_origins).map_err(anyhow::Error::msg)? {
        app = app.layer(cors);
    }
    let api_task = tokio::spawn({
        let stopped = stopped();
        let tls = tls.clone();
        async move { spyglass_receiver::serve_router(api, app, tls, stopped).await }
    });
    tracing::info!(
        role = ?role,
        otlp_grpc = %if receives { cfg.otlp_grpc_addr.to_string() } else { "-".into() },
        otlp_http = %if receives { cfg.otlp_http_addr.to_string() } else { "-".into() },
        api = %format!("{}://{}", if tls.is_some() { "https" } else { "http" }, cfg.http_addr),
        tls = tls.is_some(),
        store = ?cfg.store.backend,
        "Spyglass is running"
    );

    if demo {
        let n = load_demo(&pipeline, DEFAULT_PROJECT)
            .await
            .context("loading demo traces")?;
        tracing::info!(
            spans = n,
            "demo traces loaded; open http://{}/ or run `spyglass traces list`",
            cfg.http_addr
        );
    }

    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests");
    let _ = stop_tx.send(true);
    for (what, task) in receiver_tasks {
        if let Ok(Err(e)) = task.await {
            tracing::warn!(error = %e, "{what} server ended with an error");
        }
    }
    if let Ok(Err(e)) = api_task.await {
        tracing::warn!(error = %e, "API server ended with an error");
    }
    // The processor finishes the entry it is handling (and acknowledges it), then stops.
    consumer_stop.cancel();
    for t in background {
        let _ = t.await;
    }
    let _ = forward_stop.send(true);
    forwarder.join().await;
    drop(pipeline);
    opened.close().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Applies the price overrides set through the API before any span is priced. One that cannot
/// be read any more (a newer binary's, or damaged) stops the start rather than pricing that
/// project's spans wrongly.
async fn load_price_overrides(engine: &Engine, store: &dyn Store) -> anyhow::Result<()> {
    let stored = store
        .price_overrides()
        .await
        .context("reading the stored price overrides")?;
    for (project, json) in stored {
        let source = format!("stored overrides of project {project}");
        ProjectCost::from_json(&source, &json)
            .and_then(|cost| engine.cost.set_project_overrides(&project, Some(cost)))
            .with_context(|| {
                format!(
                    "the price overrides of project {project:?} (set through PUT /api/v1/prices/overrides) \
                     cannot be used; fix or delete its row in the price_overrides table to start"
                )
            })?;
        tracing::info!(project, "price overrides loaded");
    }
    Ok(())
}

/// Sends the demo traces through the pipeline, exactly as OTLP requests would arrive.
async fn load_demo(pipeline: &Pipeline, project: &str) -> anyhow::Result<u64> {
    use prost::Message;
    let now = spyglass_model::now_ns();
    let mut spans = 0;
    for req in spyglass_synth::demo::requests(now, now as u64) {
        let admission = pipeline.admit(req.encoded_len())?;
        spans += pipeline
            .export(admission, req.into(), project)
            .await?
            .accepted;
    }
    Ok(spans)
}

/// `/readyz` of the ingest role: Redis answers.
fn queue_ready(producer: Arc<spyglass_queue::Producer>) -> spyglass_api::ReadyCheck {
    Arc::new(move || {
        let p = producer.clone();
        Box::pin(async move {
            p.ping()
                .await
                .map_err(|e| format!("queue unavailable: {e}"))
        })
    })
}

/// Keys and accounts changed by another process are seen by this one within this long.
const AUTH_REFRESH: std::time::Duration = std::time::Duration::from_secs(5);

async fn refresh_auth(auth: Arc<spyglass_auth::Directory>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(AUTH_REFRESH) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = auth.refresh().await {
            tracing::warn!(error = %e, "reading keys and accounts failed; will retry");
        }
    }
}

/// Price overrides set through an api role reach a processor's engine within this long.
const PRICE_RELOAD: std::time::Duration = std::time::Duration::from_secs(30);

/// Keeps a processor's price overrides in step with the store (the api roles change them).
async fn reload_price_overrides(
    engine: Arc<Engine>,
    store: Arc<dyn Store>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PRICE_RELOAD) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match store.price_overrides().await {
            Ok(stored) => {
                for (project, json) in stored {
                    let source = format!("stored overrides of project {project}");
                    match ProjectCost::from_json(&source, &json) {
                        Ok(cost) => {
                            if let Err(e) = engine.cost.set_project_overrides(&project, Some(cost))
                            {
                                tracing::warn!(project, error = %e, "stored price overrides not applied");
                            }
                        }
                        Err(e) => {
                            tracing::warn!(project, error = %e, "stored price overrides unreadable")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading price overrides failed; will retry"),
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spyglass_engine::cost::Layer;
    use spyglass_store::duckdb::{DuckDbConfig, DuckDbStore};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unusable_stored_overrides_stop_the_start_naming_the_project() {
        let dir = std::env::temp_dir().join(format!(
            "spyglass-serve-overrides-{}-{}",
            std::process::id(),
            spyglass_model::now_ns()
        ));
        let cfg = DuckDbConfig {
            memory_limit: "256MB".into(),
            threads: 1,
            ..Default::default()
        };
        let store = DuckDbStore::open(&dir, &cfg).unwrap();
        let engine = Engine::new(&EngineConfig::default()).unwrap();
        let good =
            r#"{"models":[{"id":"m","prices":[{"from":"2025-01-01","input":1.0,"output":2.0}]}]}"#;
        store.put_price_overrides("good", Some(good)).await.unwrap();
        load_price_overrides(&engine, &store).await.unwrap();
        let quote = engine.cost.quote("good", "m", None, 0, &Default::default());
        assert_eq!(quote.layer, Some(Layer::Override));

        for (json, reason) in [
            ("{not json", "stored overrides of project acme"),
            (r#"{"models":[{"id":"m","prices":[]}]}"#, "no prices"),
        ] {
            store.put_price_overrides("acme", Some(json)).await.unwrap();
            let e = load_price_overrides(&engine, &store).await.unwrap_err();
            let e = format!("{e:#}");
            assert!(e.contains("project \"acme\"") && e.contains(reason), "{e}");
        }
        store.close();
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
