//! `spyglass serve`: wires the stages (store, pipeline, receivers, API) and runs them until
//! SIGINT/SIGTERM, then drains: listeners stop, in-flight requests finish and are committed,
//! the store checkpoints.

use crate::config::Config;
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
use spyglass_store::duckdb::DuckDbStore;
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
    let store = Arc::new(
        DuckDbStore::open(&cfg.data_dir, &cfg.store.duckdb)
            .with_context(|| format!("opening the store in {}", cfg.data_dir.display()))?,
    );
    let mut registry = Registry::default();
    store.metrics().register(&mut registry);
    // Committed batches for live subscribers and the forwarder. A subscriber that falls this
    // many batches behind skips ahead (and is told): the bound is on what one stalled reader
    // can pin in memory.
    let (live, _) = broadcast::channel(cfg.live_backlog_batches.max(1));
    let dyn_store: Arc<dyn Store> = store.clone();
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
    load_price_overrides(&engine, store.as_ref()).await?;
    tracing::info!(
        prices_as_of = engine.cost.as_of(),
        secret_masking = cfg.security.secret_masking,
        pii_masking = cfg.security.pii_masking,
        "engine ready"
    );
    let pipeline = Arc::new(Pipeline::new(
        Normalizer::new(cfg.limits),
        engine.clone(),
        dyn_store.clone(),
        cfg.max_in_flight_bytes,
        live.clone(),
    ));
    pipeline.metrics().register(&mut registry);
    // Subscribed before any receiver starts, so every accepted span is forwarded. Its own stop
    // signal comes after the receivers have drained, so their last batches are sent too.
    let (forward_stop, forward_stop_rx) = watch::channel(false);
    let forwarder = spyglass_forward::spawn(&cfg.forward, &live, &mut registry, forward_stop_rx)
        .context("configuring [forward]")?;

    let tls = cfg.tls.load()?;
    let grpc = bind(cfg.otlp_grpc_addr, "OTLP/gRPC").await?;
    let otlp_http = bind(cfg.otlp_http_addr, "OTLP/HTTP").await?;
    let api = bind(cfg.http_addr, "the API").await?;

    crate::config_audit::record(store.as_ref(), DEFAULT_PROJECT, &cfg)
        .await
        .context("recording the configuration in the audit log")?;
    cfg.auth.secure_cookie.get_or_insert(tls.is_some());
    let auth = spyglass_auth::Directory::open(dyn_store.clone(), cfg.auth.clone(), &cfg.data_dir)
        .await
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
    let grpc_task = tokio::spawn(spyglass_receiver::serve_grpc(
        grpc,
        pipeline.clone(),
        max,
        auth.clone(),
        tls.clone(),
        stopped(),
    ));
    let http_task = tokio::spawn(spyglass_receiver::serve_http(
        otlp_http,
        pipeline.clone(),
        max,
        auth.clone(),
        tls.clone(),
        stopped(),
    ));
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
    spyglass_store::retention::spawn(
        dyn_store.clone(),
        cfg.retention.clone(),
        Some(Arc::new(spyglass_archive::RetentionHook {
            archive: archive_to,
            staging_root: staging_root.clone(),
        })),
        stop_rx.clone(),
    );
    let alerts = crate::alerting::start(
        &cfg.alerts,
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
        archive: Arc::new(ArchiveState {
            config: cfg.archive.clone(),
            staging_root,
            sink: Arc::new(crate::importer::Importer {
                pipeline: pipeline.clone(),
                engine: engine.clone(),
            }),
        }),
    };
    let mut app = spyglass_api::router(state).layer(spyglass_api::trace_layer());
    if let Some(cors) = spyglass_api::cors(&cfg.cors_allowed_origins).map_err(anyhow::Error::msg)? {
        app = app.layer(cors);
    }
    let api_task = tokio::spawn({
        let stopped = stopped();
        let tls = tls.clone();
        async move { spyglass_receiver::serve_router(api, app, tls, stopped).await }
    });
    tracing::info!(
        otlp_grpc = %cfg.otlp_grpc_addr,
        otlp_http = %cfg.otlp_http_addr,
        api = %format!("{}://{}", if tls.is_some() { "https" } else { "http" }, cfg.http_addr),
        tls = tls.is_some(),
        data_dir = %cfg.data_dir.display(),
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
    let (g, h, a) = tokio::join!(grpc_task, http_task, api_task);
    if let Ok(Err(e)) = g {
        tracing::warn!(error = %e, "OTLP/gRPC server ended with an error");
    }
    if let Ok(Err(e)) = h {
        tracing::warn!(error = %e, "OTLP/HTTP server ended with an error");
    }
    if let Ok(Err(e)) = a {
        tracing::warn!(error = %e, "API server ended with an error");
    }
    let _ = forward_stop.send(true);
    forwarder.join().await;
    drop(pipeline);
    tokio::task::spawn_blocking(move || store.close()).await?;
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
    use spyglass_store::duckdb::DuckDbConfig;

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
