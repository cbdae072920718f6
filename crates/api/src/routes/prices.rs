//! `/api/v1/prices`: the prices a project's spans are costed with, and how one model name is
//! priced (which entry, from which layer, at what cost), to answer "why is this unpriced?".

use crate::AppState;
use crate::error::{ApiError, ApiQuery, ApiResult, ErrorBody};
use crate::params::parse_time;
use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use spyglass_model::Tokens;
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
    /// `project`, `config` or `table`.
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
pub async fn list_prices(State(st): State<AppState>) -> Json<PricesView> {
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
    pub layer: Option<String>,
    pub cost_usd: Option<f64>,
    /// `computed` or `unpriced`.
    pub cost_source: String,
}

#[utoipa::path(get, path = "/api/v1/prices/quote", tag = "cost", params(QuoteParams),
    responses((status = 200, body = QuoteView), (status = 400, body = ErrorBody)))]
pub async fn quote(
    State(st): State<AppState>,
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
