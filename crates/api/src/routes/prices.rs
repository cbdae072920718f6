//! `/api/v1/prices`: the prices a project's spans are costed with, and how one model name is
//! priced (which entry, from which layer, at what cost), to answer "why is this unpriced?";
//! the project's own overrides, and re-pricing stored spans after a price change.

use crate::access::{Read, Write};
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult, ErrorBody};
use crate::params::{parse_time, rfc3339};
use axum::Json;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use spyglass_engine::cost::{CostEngine, ProjectCost};
use spyglass_model::{Span, Tokens};
use spyglass_store::PriceFn;
use std::sync::Arc;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct PricesView {
    /// When the price table was last checked (YYYY-MM-DD).
    pub as_of: String,
    /// Most specific layer first: the project's overrides, the configuration, the table.
    pub models: Vec<PriceModelView>,
    pub aliases: Vec<AliasView>,
}

#[derive(Serialize, ToSchema)]
pub struct PriceModelView {
    pub id: String,
    pub provider: Option<String>,
    /// Names and aliases this entry answers to.
    pub names: Vec<String>,
    /// `override` (set through the API), `project` (the configuration's section for the
    /// project), `config` or `table`.
    pub layer: String,
    /// Effective-dated prices, US$ per million tokens: `from`, `input`, `output`,
    /// `cache_read`, `cache_write`, `reasoning`, `audio_input`, `audio_output`, `tiers`.
    #[schema(value_type = Vec<Object>)]
    pub prices: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct AliasView {
    pub name: String,
    pub model: String,
    pub layer: String,
}

#[utoipa::path(get, path = "/api/v1/prices", tag = "cost",
    responses((status = 200, body = PricesView)))]
pub async fn list_prices(Read(st): Read) -> Json<PricesView> {
    let cost = &st.engine.cost;
    Json(PricesView {
        as_of: cost.as_of().to_string(),
        models: cost
            .entries(&st.project)
            .into_iter()
            .map(|(layer, e)| PriceModelView {
                id: e.id.clone(),
                provider: e.provider.clone(),
                names: e.names().map(str::to_string).collect(),
                layer: layer.as_str().to_string(),
                prices: serde_json::to_value(&e.prices).unwrap_or_default(),
            })
            .collect(),
        aliases: cost
            .aliases(&st.project)
            .into_iter()
            .map(|(layer, name, model)| AliasView {
                name: name.to_string(),
                model: model.to_string(),
                layer: layer.as_str().to_string(),
            })
            .collect(),
    })
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QuoteParams {
    /// The model name as spans report it.
    model: String,
    /// The provider as spans report it (`openai`, `aws.bedrock`, ...).
    provider: Option<String>,
    /// When the request ran (Unix ns, RFC 3339, or `1h` back from now); default now.
    at: Option<String>,
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    cache_read_tokens: Option<i64>,
    cache_write_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct QuoteView {
    pub model: String,
    /// The names looked up, most specific first.
    pub candidates: Vec<String>,
    /// The price entry used; null when the model is unpriced.
    pub model_id: Option<String>,
    /// Where the entry came from: `override`, `project`, `config` or `table`.
    pub layer: Option<String>,
    pub cost_usd: Option<f64>,
    /// `computed` or `unpriced`.
    pub cost_source: String,
}

#[utoipa::path(get, path = "/api/v1/prices/quote", tag = "cost", params(QuoteParams),
    responses((status = 200, body = QuoteView), (status = 400, body = ErrorBody)))]
pub async fn quote(
    Read(st): Read,
    ApiQuery(p): ApiQuery<QuoteParams>,
) -> ApiResult<Json<QuoteView>> {
    if p.model.trim().is_empty() {
        return Err(ApiError::BadRequest("model must not be empty".into()));
    }
    let at = match p.at.as_deref() {
        Some(v) => parse_time("at", v)?,
        None => spyglass_model::now_ns(),
    };
    let mut tokens = Tokens {
        input: p.input_tokens,
        output: p.output_tokens,
        cache_read: p.cache_read_tokens,
        cache_write: p.cache_write_tokens,
        reasoning: p.reasoning_tokens,
        total: None,
    };
    tokens.complete();
    let q = st
        .engine
        .cost
        .quote(&st.project, &p.model, p.provider.as_deref(), at, &tokens);
    Ok(Json(QuoteView {
        candidates: spyglass_engine::cost::candidates(&p.model),
        model: p.model,
        model_id: q.model_id,
        layer: q.layer.map(|l| l.as_str().to_string()),
        cost_usd: q.cost_usd,
        cost_source: q.source.as_str().to_string(),
    }))
}

/// The project's price overrides (no models and no aliases when none are set).
#[utoipa::path(get, path = "/api/v1/prices/overrides", tag = "cost",
    responses((status = 200, body = ProjectCost)))]
pub async fn get_overrides(Read(st): Read) -> Json<ProjectCost> {
    Json(
        st.engine
            .cost
            .project_overrides(&st.project)
            .unwrap_or_default(),
    )
}

/// Replaces the project's price overrides: models (new ones, or entries replacing the tables'
/// for the names they match) and aliases, searched before the configuration and the bundled
/// table. They apply to spans received from now on and survive restarts; spans already
/// stored keep their cost until `POST /api/v1/prices/recompute`.
#[utoipa::path(put, path = "/api/v1/prices/overrides", tag = "cost", request_body = ProjectCost,
    responses((status = 200, body = ProjectCost), (status = 400, body = ErrorBody)))]
pub async fn put_overrides(
    Write(st): Write,
    ApiJson(cost): ApiJson<ProjectCost>,
) -> ApiResult<Json<ProjectCost>> {
    let bad = |e: spyglass_engine::EngineError| ApiError::BadRequest(e.to_string());
    CostEngine::check_project_overrides(&st.project, &cost).map_err(bad)?;
    // Stored first, then applied: a failed write leaves the prices as they were. One change
    // at a time, so the store and the engine cannot end up holding different ones.
    let _one_at_a_time = st.price_changes.lock().await;
    st.store
        .put_price_overrides(&st.project, Some(&cost.to_json()))
        .await?;
    st.engine
        .cost
        .set_project_overrides(&st.project, Some(cost.clone()))
        .map_err(bad)?;
    tracing::info!(
        project = %st.project,
        models = cost.models.len(),
        aliases = cost.aliases.len(),
        "price overrides set"
    );
    let detail = serde_json::to_value(&cost).unwrap_or_default();
    crate::routes::lifecycle::audit(&st, "prices.overrides.set", st.project.to_string(), detail)
        .await;
    Ok(Json(cost))
}

/// Removes the project's price overrides.
#[utoipa::path(delete, path = "/api/v1/prices/overrides", tag = "cost",
    responses((status = 204)))]
pub async fn delete_overrides(Write(st): Write) -> ApiResult<StatusCode> {
    let _one_at_a_time = st.price_changes.lock().await;
    st.store.put_price_overrides(&st.project, None).await?;
    st.engine
        .cost
        .set_project_overrides(&st.project, None)
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    tracing::info!(project = %st.project, "price overrides removed");
    let target = st.project.to_string();
    crate::routes::lifecycle::audit(
        &st,
        "prices.overrides.delete",
        target,
        serde_json::Value::Null,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Longest range one recomputation may cover.
pub const MAX_RECOMPUTE_NS: i64 = 31 * 24 * 3_600 * 1_000_000_000;

/// A time as a JSON number (Unix ns) or string (Unix ns, RFC 3339, or a duration back).
#[derive(Deserialize)]
#[serde(untagged)]
enum TimeArg {
    Ns(i64),
    Text(String),
}

impl TimeArg {
    fn ns(&self, name: &str) -> ApiResult<i64> {
        match self {
            TimeArg::Ns(v) => Ok(*v),
            TimeArg::Text(v) => parse_time(name, v),
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecomputeRequest {
    /// Re-price spans that started at or after this time: Unix ns, RFC 3339, or a duration
    /// back from now (`24h`).
    #[schema(value_type = String, example = "24h")]
    from: TimeArg,
    /// ... and before this one; default now. At most 31 days after `from`.
    #[schema(value_type = Option<String>)]
    to: Option<TimeArg>,
}

#[derive(Serialize, ToSchema)]
pub struct RecomputeView {
    pub from_ns: i64,
    pub from_time: String,
    pub to_ns: i64,
    pub to_time: String,
    /// LLM and embedding spans that started in the range.
    pub spans_examined: u64,
    /// Spans whose cost or cost source changed (reported costs never do).
    pub spans_changed: u64,
    /// Traces whose cost was updated.
    pub traces_touched: u64,
}

/// Re-prices the project's stored LLM and embedding spans that started in the range with the
/// prices in effect now (after a change of overrides or of the configuration), and updates
/// their traces' costs and the cost analytics. Reported costs are kept. Running it twice
/// changes nothing the second time.
#[utoipa::path(post, path = "/api/v1/prices/recompute", tag = "cost",
    request_body = RecomputeRequest,
    responses((status = 200, body = RecomputeView), (status = 400, body = ErrorBody)))]
pub async fn recompute(
    Write(st): Write,
    ApiJson(req): ApiJson<RecomputeRequest>,
) -> ApiResult<Json<RecomputeView>> {
    let from = req.from.ns("from")?;
    let to = match &req.to {
        Some(t) => t.ns("to")?,
        None => spyglass_model::now_ns(),
    };
    if from >= to {
        return Err(ApiError::BadRequest("from must be before to".into()));
    }
    if to - from > MAX_RECOMPUTE_NS {
        return Err(ApiError::BadRequest(
            "the range is longer than 31 days; recompute it in parts".into(),
        ));
    }
    let engine = st.engine.clone();
    let price: PriceFn = Arc::new(move |spans: &mut [Span]| engine.cost.price_spans(spans));
    // The prices cannot change halfway through.
    let _one_at_a_time = st.price_changes.lock().await;
    let started = std::time::Instant::now();
    let r = st
        .store
        .recompute_costs(&st.project, from, to, price)
        .await?;
    tracing::info!(
        project = %st.project,
        from = %rfc3339(from),
        to = %rfc3339(to),
        spans_examined = r.spans_examined,
        spans_changed = r.spans_changed,
        traces_touched = r.traces_touched,
        ms = started.elapsed().as_millis() as u64,
        "recomputed span costs"
    );
    let detail = serde_json::to_value(r).unwrap_or_default();
    let target = format!("{} .. {}", rfc3339(from), rfc3339(to));
    crate::routes::lifecycle::audit(&st, "prices.recompute", target, detail).await;
    Ok(Json(RecomputeView {
        from_ns: from,
        from_time: rfc3339(from),
        to_ns: to,
        to_time: rfc3339(to),
        spans_examined: r.spans_examined,
        spans_changed: r.spans_changed,
        traces_touched: r.traces_touched,
    }))
}
