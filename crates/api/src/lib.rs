//! The Spyglass API: REST under `/api/v1`, the live WebSocket, the OpenAPI spec at
//! `/api/openapi.json`, and `/healthz`, `/readyz`, `/metrics`. Conventions: design.md §3.

pub mod access;
pub mod error;
mod headers;
mod metrics;
mod outline;
pub mod params;
pub mod routes;
mod unrouted;
pub use headers::cors;
pub use unrouted::trace_layer;
pub mod views;

use axum::Json;
use axum::Router;
pub use metrics::ApiMetrics;
use prometheus_client::registry::Registry;
use spyglass_store::{Batch, Store};
use std::sync::Arc;
use tokio::sync::broadcast;
use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// Committed batches (spans and their findings), from the ingest pipeline.
    pub live: broadcast::Sender<Arc<Batch>>,
    /// Projects, keys, users and sessions: who may ask what (crate::access).
    pub auth: Arc<spyglass_auth::Directory>,
    /// The server's own log, for the admins' live view.
    pub server_log: spyglass_serverlog::ServerLog,
    pub registry: Arc<Registry>,
    /// The engine the pipeline runs (its price tables answer `/api/v1/prices`).
    pub engine: Arc<spyglass_engine::Engine>,
    /// Registered in `registry` by whoever builds the state.
    pub metrics: Arc<ApiMetrics>,
    /// The alert evaluator (rule states for the alerts routes).
    pub alerts: Arc<spyglass_alerts::Evaluator>,
    /// Whether webhook targets may be internal addresses (checked when a rule is saved).
    pub allow_private_webhooks: bool,
    /// How long data is kept (shown by `/api/v1/retention`).
    pub retention: Arc<spyglass_store::RetentionConfig>,
    /// Held while price overrides change or costs are recomputed, so the stored overrides
    /// and the engine's agree and a recomputation sees one set of prices.
    pub price_changes: Arc<tokio::sync::Mutex<()>>,
    /// Export, import and the scheduled archive's settings.
    pub archive: Arc<routes::archive::ArchiveState>,
    /// One permit per live WebSocket subscriber (`max_live_subscribers`).
    pub live_slots: Arc<tokio::sync::Semaphore>,
    /// What else `/readyz` checks besides the store (the queue, in the scale-out roles).
    pub ready_checks: Vec<ReadyCheck>,
}

/// A dependency `/readyz` checks: `Err` says what is not ready.
pub type ReadyCheck =
    Arc<dyn Fn() -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Spyglass API",
        description = "Traces, sessions, live spans and security findings of AI agents. Times are Unix nanoseconds (`*_ns`) \
                       with RFC 3339 companions (`*_time`); ids are lowercase hex; lists page with `next_cursor`; \
                       errors are `{\"error\": {\"code\", \"message\"}}`.",
        license(name = "Apache-2.0")
    ),
    tags(
        (name = "traces", description = "Traces and spans"),
        (name = "sessions", description = "Conversations: traces grouped by session id"),
        (name = "live", description = "Spans as they are committed"),
        (name = "cost", description = "Price tables, how a model is priced, the project's overrides, and re-pricing stored spans"),
        (name = "security", description = "Findings (prompt injection, personal data, secrets, loops) and the guard"),
        (name = "analytics", description = "Throughput, errors, latency, tokens and cost over time; rankings; usage per user and session"),
        (name = "alerts", description = "Alert rules, their states and events"),
        (name = "topology", description = "Which agents invoke which agents, tools and models; the agent and tool inventory"),
        (name = "lifecycle", description = "Export and import of archives"),
        (name = "auth", description = "Sign-in, projects, API keys and users"),
        (name = "ops", description = "Health, metrics and the server log")
    )
)]
struct ApiDoc;

/// The API router and its OpenAPI description.
pub fn router_and_spec(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let (router, spec) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(routes::traces::list_traces))
        .routes(routes!(
            routes::traces::get_trace,
            routes::lifecycle::delete_trace
        ))
        .routes(routes!(routes::traces::get_trace_outline))
        .routes(routes!(routes::traces::get_span))
        .routes(routes!(routes::traces::export_trace))
        .routes(routes!(routes::sessions::list_sessions))
        .routes(routes!(
            routes::sessions::get_session,
            routes::lifecycle::delete_session
        ))
        .routes(routes!(routes::lifecycle::delete_user))
        .routes(routes!(routes::sessions::facets))
        .routes(routes!(routes::live::live))
        .routes(routes!(routes::findings::list_findings))
        .routes(routes!(routes::findings::finding_counts))
        .routes(routes!(routes::guard::check))
        .routes(routes!(routes::topology::topology))
        .routes(routes!(routes::topology::list_agents))
        .routes(routes!(routes::topology::get_agent))
        .routes(routes!(routes::topology::list_tools))
        .routes(routes!(routes::topology::attack_paths))
        .routes(routes!(routes::topology::list_guardrails))
        .routes(routes!(routes::analytics::timeseries))
        .routes(routes!(routes::analytics::top))
        .routes(routes!(routes::analytics::usage))
        .routes(routes!(
            routes::alerts::list_rules,
            routes::alerts::create_rule
        ))
        .routes(routes!(
            routes::alerts::get_rule,
            routes::alerts::replace_rule,
            routes::alerts::delete_rule
        ))
        .routes(routes!(routes::alerts::list_events))
        .routes(routes!(routes::alerts::list_templates))
        .routes(routes!(routes::prices::list_prices))
        .routes(routes!(routes::prices::quote))
        .routes(routes!(
            routes::prices::get_overrides,
            routes::prices::put_overrides,
            routes::prices::delete_overrides
        ))
        .routes(routes!(routes::prices::recompute))
        .routes(routes!(routes::ops::retention))
        .routes(routes!(routes::ops::redaction))
        .routes(routes!(routes::lifecycle::audit_log))
        .routes(routes!(routes::archive::export))
        .routes(routes!(routes::archive::import))
        .routes(routes!(routes::auth::login))
        .routes(routes!(routes::auth::logout))
        .routes(routes!(routes::auth::me))
        .routes(routes!(
            routes::auth::list_projects,
            routes::auth::create_project
        ))
        .routes(routes!(routes::auth::delete_project))
        .routes(routes!(routes::auth::list_keys, routes::auth::create_key))
        .routes(routes!(routes::auth::revoke_key))
        .routes(routes!(routes::auth::list_users, routes::auth::create_user))
        .routes(routes!(
            routes::auth::update_user,
            routes::auth::delete_user
        ))
        .routes(routes!(routes::auth::change_password))
        .routes(routes!(routes::logs::logs))
        .routes(routes!(routes::ops::healthz))
        .routes(routes!(routes::ops::readyz))
        .routes(routes!(routes::ops::metrics))
        .with_state(state)
        .split_for_parts();
    (router, spec)
}

/// Only `/healthz`, `/readyz` and `/metrics`: what the ingest and processor roles serve.
pub fn ops_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", axum::routing::get(routes::ops::healthz))
        .route("/readyz", axum::routing::get(routes::ops::readyz))
        .route("/metrics", axum::routing::get(routes::ops::metrics))
        .with_state(state)
}

/// The API router with `/api/openapi.json` added.
pub fn router(state: AppState) -> Router {
    let (router, mut spec) = router_and_spec(state);
    spec.paths.paths.insert(
        "/api/openapi.json".into(),
        utoipa::openapi::path::PathItem::new(
            utoipa::openapi::HttpMethod::Get,
            utoipa::openapi::path::OperationBuilder::new()
                .tag("ops")
                .summary(Some("This OpenAPI document"))
                .response("200", utoipa::openapi::Response::new("OpenAPI 3.1 JSON")),
        ),
    );
    let spec = Arc::new(spec);
    router
        .route(
            "/api/openapi.json",
            axum::routing::get(move || async move { Json(spec.as_ref().clone()) }),
        )
        .route("/", axum::routing::get(routes::home::index))
        .fallback(routes::home::spa)
        .layer(axum::middleware::from_fn(unrouted::json_method_errors))
        .layer(axum::middleware::from_fn(access::take_project_param))
        .layer(axum::middleware::from_fn(headers::security_headers))
        // A large trace is megabytes of JSON; compressing at the fastest level shrinks it
        // about fivefold for a fraction of the time the transfer would take off this machine.
        // zstd where the client takes it (browsers do): several times less CPU than gzip for
        // the same size, which a small machine shared with the browser feels as latency
        // (bench/README.md "Trace view"). Trace exports and archive streams are compressed
        // already.
        .layer(
            tower_http::compression::CompressionLayer::new()
                .quality(tower_http::CompressionLevel::Fastest)
                .compress_when(
                    DefaultPredicate::new()
                        .and(NotForContentType::const_new("application/gzip"))
                        .and(NotForContentType::const_new("application/x-tar")),
                ),
        )
}
