//! The engine as the ingest pipeline runs it: one call per normalized batch, before storage.

use crate::EngineError;
use crate::cost::{CostConfig, CostEngine};
use serde::{Deserialize, Serialize};
use spyglass_model::Span;

/// Engine configuration: the `[engine]` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    pub cost: CostConfig,
}

pub struct Engine {
    pub cost: CostEngine,
}

impl Engine {
    pub fn new(cfg: &EngineConfig) -> Result<Engine, EngineError> {
        Ok(Engine {
            cost: CostEngine::new(&cfg.cost)?,
        })
    }

    /// Everything the engine adds to a batch, in place.
    pub fn process(&self, spans: &mut [Span]) {
        self.cost.price_spans(spans);
    }
}
