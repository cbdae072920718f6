//! The retention job: at start and then every `interval_s`, each project's data older than its
//! window is deleted (`Store::apply_retention`), after an optional hook (the scheduled
//! archive) has kept it.

use crate::{RetentionConfig, RetentionReport, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Runs before a project's expired data is deleted; an error keeps the data until the next
/// pass (nothing is deleted that the archive did not take).
#[async_trait::async_trait]
pub trait BeforeDelete: Send + Sync {
    async fn before_delete(
        &self,
        store: &dyn Store,
        project: &str,
        cutoff_ns: i64,
    ) -> Result<(), String>;

    /// Told what was deleted (for the audit log).
    async fn deleted(
        &self,
        store: &dyn Store,
        project: &str,
        cutoff_ns: i64,
        report: RetentionReport,
    );
}

/// One pass over every project; returns the spans deleted.
pub async fn run_once(
    store: &dyn Store,
    cfg: &RetentionConfig,
    hook: Option<&dyn BeforeDelete>,
    now_ns: i64,
) -> u64 {
    let projects = match store.projects().await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(error = %e, "retention: listing projects failed; will retry");
            return 0;
        }
    };
    let mut spans = 0;
    for project in projects {
        let Some(cutoff) = cfg.cutoff_ns(&project, now_ns) else {
            continue;
        };
        if let Some(hook) = hook
            && let Err(e) = hook.before_delete(store, &project, cutoff).await
        {
            tracing::warn!(project, error = %e, "retention: archiving expired data failed; nothing deleted, will retry");
            continue;
        }
        match store.apply_retention(&project, cutoff).await {
            Ok(r) => {
                spans += r.spans;
                if let Some(hook) = hook
                    && r.traces > 0
                {
                    hook.deleted(store, &project, cutoff, r).await;
                }
                if r.traces > 0 || r.rollup_rows > 0 {
                    tracing::info!(
                        project,
                        days = cfg.days_for(&project),
                        traces = r.traces,
                        spans = r.spans,
                        rollup_rows = r.rollup_rows,
                        "retention deleted data older than the window"
                    );
                }
            }
            Err(e) => tracing::warn!(project, error = %e, "retention pass failed; will retry"),
        }
    }
    spans
}

/// Runs a pass at start and every `interval_s` until `shutdown` turns true.
pub fn spawn(
    store: Arc<dyn Store>,
    cfg: RetentionConfig,
    hook: Option<Arc<dyn BeforeDelete>>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(cfg.interval_s.max(1)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while !*shutdown.borrow() {
            tokio::select! {
                _ = every.tick() => {
                    run_once(&*store, &cfg, hook.as_deref(), spyglass_model::now_ns()).await;
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
