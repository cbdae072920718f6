//! The engine as the ingest pipeline runs it: one call per normalized batch, before storage.

use crate::EngineError;
use crate::cost::{CostConfig, CostEngine};
use crate::guard::GuardPolicy;
use crate::loops::{LoopConfig, LoopDetector};
use crate::security::{SecurityConfig, SecurityEngine};
use crate::tools::{ToolClassifier, ToolsConfig};
use serde::{Deserialize, Serialize};
use spyglass_model::{Span, SpanFinding};

/// Engine configuration: the `[cost]`, `[security]`, `[loops]`, `[guard]` and `[tools]`
/// sections.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    pub cost: CostConfig,
    pub security: SecurityConfig,
    pub loops: LoopConfig,
    pub guard: GuardPolicy,
    pub tools: ToolsConfig,
}

pub struct Engine {
    pub cost: CostEngine,
    pub security: SecurityEngine,
    pub loops: LoopDetector,
    pub guard: GuardPolicy,
    /// Tool categories for the inventory and attack paths (applied when they are read, so a
    /// configuration change re-labels history).
    pub tools: ToolClassifier,
}

impl Engine {
    pub fn new(cfg: &EngineConfig) -> Result<Engine, EngineError> {
        cfg.guard.validate()?;
        Ok(Engine {
            cost: CostEngine::new(&cfg.cost)?,
            security: SecurityEngine::new(cfg.security.clone())?,
            loops: LoopDetector::new(cfg.loops.clone())?,
            guard: cfg.guard.clone(),
            tools: ToolClassifier::new(&cfg.tools),
        })
    }

    /// Everything the engine adds to a batch: prices, then secrets and personal data masked in
    /// place (nothing after this sees them), then loop and runaway checks over the traces so
    /// far. Returns the findings, each on its span.
    pub fn process(&self, spans: &mut [Span]) -> Vec<SpanFinding> {
        self.cost.price_spans(spans);
        self.scan(spans)
    }

    /// Masking, security and loop findings of spans, without pricing them (spans imported
    /// from a trace export keep the cost they were exported with).
    pub fn scan(&self, spans: &mut [Span]) -> Vec<SpanFinding> {
        let mut out = Vec::new();
        for span in spans.iter_mut() {
            for f in self.security.scan_span(span) {
                out.push(SpanFinding::on(span, f));
            }
        }
        for (i, f) in self.loops.observe(spans) {
            out.push(SpanFinding::on(&spans[i], f));
        }
        out
    }
}
