//! Which attribute keys a mapping understands, and which convention they are evidence of. A key
//! that nothing here knows is listed in the span's `unmapped_keys` (the coverage view). The
//! lists are the "Understood keys" sections of docs/conventions/*.md.

use super::openllmetry;
use spyglass_model::Convention;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClass {
    /// Understood; `Some` names the convention the key is evidence of. Generic OpenTelemetry
    /// keys that several conventions read (`session.id`, `error.type`) carry `None`.
    Known(Option<Convention>),
    /// A name that `owner` reads but that is too generic to identify it (`operation.name`): it
    /// belongs to `owner` on spans with other evidence of `owner`; elsewhere it is evidence of
    /// `otherwise`, or unmapped when that is `None`.
    Companion {
        owner: Convention,
        otherwise: Option<Convention>,
    },
    /// Not understood, so listed in `unmapped_keys`. `Some` when the key sits in a namespace
    /// only one convention uses (`tracectrl.*`): the span still speaks that convention, and new
    /// producer names show up in the coverage view.
    Unmapped(Option<Convention>),
}

use Convention::*;
use KeyClass::{Companion, Known, Unmapped};

const GENERIC: KeyClass = Known(None);
const GEN_AI: KeyClass = Known(Some(GenAi));
const OPENLLMETRY: KeyClass = Known(Some(OpenLlmetry));
const OPENINFERENCE: KeyClass = Known(Some(OpenInference));
const VERCEL: KeyClass = Known(Some(VercelAi));
const LANGFUSE: KeyClass = Known(Some(Langfuse));
const TRACECTRL: KeyClass = Known(Some(TraceCtrl));
const GOCLAW: KeyClass = Known(Some(GoClaw));
const SEED: KeyClass = Known(Some(Seed));

/// Exact keys.
const EXACT: &[(&str, KeyClass)] = &[
    // Generic OpenTelemetry keys that several conventions (and the status rule) read.
    ("session.id", GENERIC),
    ("user.id", GENERIC),
    ("enduser.id", GENERIC),
    ("error.type", GENERIC),
    ("error.message", GENERIC),
    ("server.address", GENERIC),
    ("server.port", GENERIC),
    ("exception.type", GENERIC),
    ("exception.message", GENERIC),
    ("exception.stacktrace", GENERIC),
    // OpenTelemetry GenAI, current names (gen_ai.md).
    ("gen_ai.operation.name", GEN_AI),
    ("gen_ai.provider.name", GEN_AI),
    ("gen_ai.request.model", GEN_AI),
    ("gen_ai.response.model", GEN_AI),
    ("gen_ai.usage.input_tokens", GEN_AI),
    ("gen_ai.usage.output_tokens", GEN_AI),
    ("gen_ai.usage.cache_read.input_tokens", GEN_AI),
    ("gen_ai.usage.cache_creation.input_tokens", GEN_AI),
    ("gen_ai.usage.reasoning.output_tokens", GEN_AI),
    ("gen_ai.usage.cost", GEN_AI),
    ("gen_ai.conversation.id", GEN_AI),
    ("gen_ai.agent.name", GEN_AI),
    ("gen_ai.agent.id", GEN_AI),
    ("gen_ai.agent.description", GEN_AI),
    ("gen_ai.agent.version", GEN_AI),
    ("gen_ai.workflow.name", GEN_AI),
    ("gen_ai.data_source.id", GEN_AI),
    ("gen_ai.embeddings.dimension.count", GEN_AI),
    ("gen_ai.output.type", GEN_AI),
    ("gen_ai.prompt.name", GEN_AI),
    ("gen_ai.input.messages", GEN_AI),
    ("gen_ai.output.messages", GEN_AI),
    ("gen_ai.system_instructions", GEN_AI),
    ("gen_ai.request.choice.count", GEN_AI),
    ("gen_ai.request.encoding_formats", GEN_AI),
    ("gen_ai.request.frequency_penalty", GEN_AI),
    ("gen_ai.request.max_tokens", GEN_AI),
    ("gen_ai.request.presence_penalty", GEN_AI),
    ("gen_ai.request.seed", GEN_AI),
    ("gen_ai.request.stop_sequences", GEN_AI),
    ("gen_ai.request.stream", GEN_AI),
    ("gen_ai.request.temperature", GEN_AI),
    ("gen_ai.request.top_k", GEN_AI),
    ("gen_ai.request.top_p", GEN_AI),
    ("gen_ai.response.finish_reasons", GEN_AI),
    ("gen_ai.response.id", GEN_AI),
    ("gen_ai.response.time_to_first_chunk", GEN_AI),
    ("gen_ai.retrieval.documents", GEN_AI),
    ("gen_ai.retrieval.query.text", GEN_AI),
    ("gen_ai.token.type", GEN_AI),
    ("gen_ai.tool.name", GEN_AI),
    ("gen_ai.tool.call.id", GEN_AI),
    ("gen_ai.tool.call.arguments", GEN_AI),
    ("gen_ai.tool.call.result", GEN_AI),
    ("gen_ai.tool.definitions", GEN_AI),
    ("gen_ai.tool.description", GEN_AI),
    ("gen_ai.tool.type", GEN_AI),
    ("gen_ai.evaluation.name", GEN_AI),
    ("gen_ai.evaluation.score.value", GEN_AI),
    ("gen_ai.evaluation.score.label", GEN_AI),
    ("gen_ai.evaluation.explanation", GEN_AI),
    ("gen_ai.memory.store.id", GEN_AI),
    ("gen_ai.memory.record.id", GEN_AI),
    ("gen_ai.memory.record.count", GEN_AI),
    ("gen_ai.memory.query.text", GEN_AI),
    ("gen_ai.memory.records", GEN_AI),
    ("openai.request.service_tier", GEN_AI),
    ("openai.response.service_tier", GEN_AI),
    ("openai.response.system_fingerprint", GEN_AI),
    // GenAI deprecated names.
    ("gen_ai.system", GEN_AI),
    ("gen_ai.usage.prompt_tokens", GEN_AI),
    ("gen_ai.usage.completion_tokens", GEN_AI),
    ("gen_ai.prompt", GEN_AI),
    ("gen_ai.completion", GEN_AI),
    ("gen_ai.openai.request.response_format", GEN_AI),
    ("gen_ai.openai.request.seed", GEN_AI),
    ("gen_ai.openai.request.service_tier", GEN_AI),
    ("gen_ai.openai.response.service_tier", GEN_AI),
    ("gen_ai.openai.response.system_fingerprint", GEN_AI),
    // GenAI spellings of Semantic Kernel and AutoGen.
    ("gen_ai.response.prompt_tokens", GEN_AI),
    ("gen_ai.response.completion_tokens", GEN_AI),
    ("gen_ai.response.finish_reason", GEN_AI),
    ("gen_ai.request.max_token", GEN_AI),
    ("autogen.tool.arguments", GEN_AI),
    // OpenLLMetry (openllmetry.md), including the `gen_ai.*` names the OTel registry lacks.
    ("traceloop.span.kind", OPENLLMETRY),
    ("traceloop.entity.name", OPENLLMETRY),
    ("traceloop.entity.input", OPENLLMETRY),
    ("traceloop.entity.output", OPENLLMETRY),
    ("traceloop.workflow.name", OPENLLMETRY),
    ("traceloop.entity.path", OPENLLMETRY),
    ("traceloop.entity.version", OPENLLMETRY),
    ("traceloop.correlation.id", OPENLLMETRY),
    ("traceloop.prompt.managed", OPENLLMETRY),
    ("traceloop.prompt.key", OPENLLMETRY),
    ("traceloop.prompt.version", OPENLLMETRY),
    ("traceloop.prompt.version_name", OPENLLMETRY),
    ("traceloop.prompt.version_hash", OPENLLMETRY),
    ("traceloop.prompt.template", OPENLLMETRY),
    ("traceloop.prompt.template_variables", OPENLLMETRY),
    ("llm.request.type", OPENLLMETRY),
    ("llm.usage.total_tokens", OPENLLMETRY),
    ("llm.usage.token_type", OPENLLMETRY),
    ("llm.usage.reasoning_tokens", OPENLLMETRY),
    ("llm.user", OPENLLMETRY),
    ("llm.headers", OPENLLMETRY),
    ("llm.top_k", OPENLLMETRY),
    ("llm.is_streaming", OPENLLMETRY),
    ("llm.frequency_penalty", OPENLLMETRY),
    ("llm.presence_penalty", OPENLLMETRY),
    ("llm.chat.stop_sequences", OPENLLMETRY),
    ("llm.request.repetition_penalty", OPENLLMETRY),
    ("llm.response.finish_reason", OPENLLMETRY),
    ("llm.response.stop_reason", OPENLLMETRY),
    ("llm.watsonx.decoding_method", OPENLLMETRY),
    ("llm.watsonx.random_seed", OPENLLMETRY),
    ("llm.watsonx.max_new_tokens", OPENLLMETRY),
    ("llm.watsonx.min_new_tokens", OPENLLMETRY),
    ("llm.watsonx.repetition_penalty", OPENLLMETRY),
    ("gen_ai.usage.cache_read_input_tokens", OPENLLMETRY),
    ("gen_ai.usage.cache_creation_input_tokens", OPENLLMETRY),
    ("gen_ai.usage.reasoning_tokens", OPENLLMETRY),
    ("gen_ai.user", OPENLLMETRY),
    ("gen_ai.headers", OPENLLMETRY),
    ("gen_ai.is_streaming", OPENLLMETRY),
    ("gen_ai.openai.api_base", OPENLLMETRY),
    ("gen_ai.openai.api_version", OPENLLMETRY),
    ("gen_ai.openai.api_type", OPENLLMETRY),
    ("gen_ai.openai.system_fingerprint", OPENLLMETRY),
    ("gen_ai.request.structured_output_schema", OPENLLMETRY),
    ("gen_ai.request.reasoning_effort", OPENLLMETRY),
    ("gen_ai.request.reasoning_summary", OPENLLMETRY),
    ("gen_ai.response.reasoning_effort", OPENLLMETRY),
    ("gen_ai.prompt.prompt_filter_results", OPENLLMETRY),
    ("gen_ai.prompt.prompt_error", OPENLLMETRY),
    ("gen_ai.completion.role", OPENLLMETRY),
    ("gen_ai.completion.content", OPENLLMETRY),
    // OpenLLMetry's total, and TraceCtrl's plugin reports the same name (tracectrl.md).
    (
        "gen_ai.usage.total_tokens",
        Companion {
            owner: TraceCtrl,
            otherwise: Some(OpenLlmetry),
        },
    ),
    // OpenInference (openinference.md).
    ("openinference.span.kind", OPENINFERENCE),
    ("input.value", OPENINFERENCE),
    ("input.mime_type", OPENINFERENCE),
    ("output.value", OPENINFERENCE),
    ("output.mime_type", OPENINFERENCE),
    ("llm.model_name", OPENINFERENCE),
    ("llm.request.model_name", OPENINFERENCE),
    ("llm.response.model_name", OPENINFERENCE),
    ("llm.provider", OPENINFERENCE),
    ("llm.system", OPENINFERENCE),
    ("llm.invocation_parameters", OPENINFERENCE),
    ("llm.function_call", OPENINFERENCE),
    ("llm.finish_reason", OPENINFERENCE),
    ("llm.token_count.prompt", OPENINFERENCE),
    ("llm.token_count.completion", OPENINFERENCE),
    ("llm.token_count.total", OPENINFERENCE),
    ("llm.prompts", OPENINFERENCE),
    ("llm.choices", OPENINFERENCE),
    ("embedding.model_name", OPENINFERENCE),
    ("embedding.invocation_parameters", OPENINFERENCE),
    ("embedding.text", OPENINFERENCE),
    ("embedding.vector", OPENINFERENCE),
    ("reranker.model_name", OPENINFERENCE),
    ("reranker.query", OPENINFERENCE),
    ("reranker.top_k", OPENINFERENCE),
    // Also one of the seed's names; OpenInference reads it either way.
    ("tool.name", OPENINFERENCE),
    ("tool.description", OPENINFERENCE),
    ("tool.parameters", OPENINFERENCE),
    ("tool.id", OPENINFERENCE),
    ("tool.json_schema", OPENINFERENCE),
    ("tool_call.id", OPENINFERENCE),
    ("tool_call.function.name", OPENINFERENCE),
    ("tool_call.function.arguments", OPENINFERENCE),
    ("tool_call.reasoning_signature", OPENINFERENCE),
    ("metadata", OPENINFERENCE),
    ("tag.tags", OPENINFERENCE),
    ("agent.name", OPENINFERENCE),
    ("graph.node.id", OPENINFERENCE),
    ("graph.node.name", OPENINFERENCE),
    ("graph.node.parent_id", OPENINFERENCE),
    ("prompt.vendor", OPENINFERENCE),
    ("prompt.id", OPENINFERENCE),
    ("prompt.url", OPENINFERENCE),
    ("annotations", OPENINFERENCE),
    ("evaluations", OPENINFERENCE),
    ("trace.annotations", OPENINFERENCE),
    ("trace.evaluations", OPENINFERENCE),
    ("session.annotations", OPENINFERENCE),
    ("session.evaluations", OPENINFERENCE),
    // Vercel AI SDK (vercel_ai.md). The `ai.*` namespace is Vercel's; these two are not.
    (
        "operation.name",
        Companion {
            owner: VercelAi,
            otherwise: None,
        },
    ),
    (
        "resource.name",
        Companion {
            owner: VercelAi,
            otherwise: None,
        },
    ),
    ("ai.operationId", VERCEL),
    ("ai.telemetry.functionId", VERCEL),
    ("ai.model.id", VERCEL),
    ("ai.model.provider", VERCEL),
    ("ai.prompt", VERCEL),
    ("ai.prompt.format", VERCEL),
    ("ai.prompt.messages", VERCEL),
    ("ai.prompt.tools", VERCEL),
    ("ai.prompt.toolChoice", VERCEL),
    ("ai.schema", VERCEL),
    ("ai.schema.name", VERCEL),
    ("ai.schema.description", VERCEL),
    ("ai.response.text", VERCEL),
    ("ai.response.reasoning", VERCEL),
    ("ai.response.toolCalls", VERCEL),
    ("ai.response.object", VERCEL),
    ("ai.response.finishReason", VERCEL),
    ("ai.response.id", VERCEL),
    ("ai.response.model", VERCEL),
    ("ai.response.timestamp", VERCEL),
    ("ai.response.providerMetadata", VERCEL),
    ("ai.response.msToFirstChunk", VERCEL),
    ("ai.response.msToFinish", VERCEL),
    ("ai.response.avgOutputTokensPerSecond", VERCEL),
    ("ai.response.avgCompletionTokensPerSecond", VERCEL),
    ("ai.result.text", VERCEL),
    ("ai.result.toolCalls", VERCEL),
    ("ai.result.object", VERCEL),
    ("ai.finishReason", VERCEL),
    ("ai.stream.msToFirstChunk", VERCEL),
    ("ai.usage.promptTokens", VERCEL),
    ("ai.usage.completionTokens", VERCEL),
    ("ai.usage.inputTokens", VERCEL),
    ("ai.usage.outputTokens", VERCEL),
    ("ai.usage.totalTokens", VERCEL),
    ("ai.usage.reasoningTokens", VERCEL),
    ("ai.usage.cachedInputTokens", VERCEL),
    ("ai.usage.tokens", VERCEL),
    ("ai.toolCall.name", VERCEL),
    ("ai.toolCall.id", VERCEL),
    ("ai.toolCall.args", VERCEL),
    ("ai.toolCall.result", VERCEL),
    ("ai.toolCall.input", VERCEL),
    ("ai.toolCall.output", VERCEL),
    ("ai.value", VERCEL),
    ("ai.values", VERCEL),
    ("ai.embedding", VERCEL),
    ("ai.embeddings", VERCEL),
    // Langfuse (langfuse.md).
    ("langfuse.observation.type", LANGFUSE),
    ("langfuse.observation.input", LANGFUSE),
    ("langfuse.observation.output", LANGFUSE),
    ("langfuse.observation.level", LANGFUSE),
    ("langfuse.observation.status_message", LANGFUSE),
    ("langfuse.observation.model.name", LANGFUSE),
    ("langfuse.observation.model.parameters", LANGFUSE),
    ("langfuse.observation.usage_details", LANGFUSE),
    ("langfuse.observation.cost_details", LANGFUSE),
    ("langfuse.observation.completion_start_time", LANGFUSE),
    ("langfuse.observation.prompt.name", LANGFUSE),
    ("langfuse.observation.prompt.version", LANGFUSE),
    ("langfuse.observation.metadata", LANGFUSE),
    ("langfuse.trace.name", LANGFUSE),
    ("langfuse.trace.tags", LANGFUSE),
    ("langfuse.trace.public", LANGFUSE),
    ("langfuse.trace.metadata", LANGFUSE),
    ("langfuse.trace.input", LANGFUSE),
    ("langfuse.trace.output", LANGFUSE),
    ("langfuse.user.id", LANGFUSE),
    ("langfuse.session.id", LANGFUSE),
    ("langfuse.tags", LANGFUSE),
    ("langfuse.public", LANGFUSE),
    ("langfuse.metadata", LANGFUSE),
    ("langfuse.environment", LANGFUSE),
    ("langfuse.release", LANGFUSE),
    ("langfuse.version", LANGFUSE),
    ("langfuse.prompt.name", LANGFUSE),
    ("langfuse.prompt.version", LANGFUSE),
    ("langfuse.internal.as_root", LANGFUSE),
    ("langfuse.internal.is_app_root", LANGFUSE),
    ("langfuse.experiment.id", LANGFUSE),
    ("langfuse.experiment.name", LANGFUSE),
    ("langfuse.experiment.metadata", LANGFUSE),
    ("langfuse.experiment.description", LANGFUSE),
    ("langfuse.experiment.dataset.id", LANGFUSE),
    ("langfuse.experiment.item.id", LANGFUSE),
    ("langfuse.experiment.item.version", LANGFUSE),
    ("langfuse.experiment.item.metadata", LANGFUSE),
    ("langfuse.experiment.item.root_observation_id", LANGFUSE),
    ("langfuse.experiment.item.expected_output", LANGFUSE),
    // TraceCtrl (tracectrl.md): Python SDK enrichment.
    ("tracectrl.agent.id", TRACECTRL),
    ("tracectrl.agent.name", TRACECTRL),
    ("tracectrl.agent.role", TRACECTRL),
    ("tracectrl.agent.framework", TRACECTRL),
    ("tracectrl.agent.system_prompt", TRACECTRL),
    ("tracectrl.agent.system_prompt_hash", TRACECTRL),
    ("tracectrl.system_prompt_hash", TRACECTRL),
    ("tracectrl.session_id", TRACECTRL),
    ("tracectrl.caller.agent_id", TRACECTRL),
    ("tracectrl.input.source", TRACECTRL),
    ("tracectrl.tool.category", TRACECTRL),
    ("tracectrl.tool.target", TRACECTRL),
    ("tracectrl.tool.direction", TRACECTRL),
    ("tracectrl.memory.operation", TRACECTRL),
    ("tracectrl.memory.store_id", TRACECTRL),
    ("tracectrl.memory.write_provenance", TRACECTRL),
    ("tracectrl.span_sequence", TRACECTRL),
    ("tracectrl.ingress", TRACECTRL),
    ("tracectrl.trigger_type", TRACECTRL),
    // TraceCtrl guardrails.
    ("tracectrl.guardrail.name", TRACECTRL),
    ("tracectrl.guardrail.decision", TRACECTRL),
    ("tracectrl.guardrail.reason", TRACECTRL),
    ("tracectrl.guardrail.evidence", TRACECTRL),
    ("tracectrl.guardrail.judge_model", TRACECTRL),
    ("tracectrl.guardrail.severity", TRACECTRL),
    ("tracectrl.guardrail.timing", TRACECTRL),
    ("tracectrl.guardrail.evaluated_at", TRACECTRL),
    ("tracectrl.guardrail.provider", TRACECTRL),
    ("tracectrl.guardrail.response_json", TRACECTRL),
    ("tracectrl.guardrail.mode", TRACECTRL),
    ("tracectrl.guardrail.description", TRACECTRL),
    ("tracectrl.guardrail.judge_prompt", TRACECTRL),
    ("tracectrl.guardrail.registered_at", TRACECTRL),
    ("tracectrl.guardrail.health", TRACECTRL),
    ("tracectrl.guardrail.health_reason", TRACECTRL),
    // TraceCtrl OpenClaw plugin.
    ("tracectrl.session.key", TRACECTRL),
    ("tracectrl.channel", TRACECTRL),
    ("tracectrl.message.direction", TRACECTRL),
    ("tracectrl.message.from", TRACECTRL),
    ("tracectrl.message.text", TRACECTRL),
    ("tracectrl.message.outcome", TRACECTRL),
    ("tracectrl.message.id", TRACECTRL),
    ("tracectrl.agent.model", TRACECTRL),
    ("tracectrl.agent.success", TRACECTRL),
    ("tracectrl.agent.duration_ms", TRACECTRL),
    ("tracectrl.tokens.cache_read", TRACECTRL),
    ("tracectrl.tokens.cache_write", TRACECTRL),
    ("tracectrl.tool.name", TRACECTRL),
    ("tracectrl.tool.call_id", TRACECTRL),
    ("tracectrl.tool.is_synthetic", TRACECTRL),
    ("tracectrl.tool.input_preview", TRACECTRL),
    ("tracectrl.tool.result_parts", TRACECTRL),
    ("tracectrl.tool.result_chars", TRACECTRL),
    ("tracectrl.security.flagged", TRACECTRL),
    ("tracectrl.security.finding_count", TRACECTRL),
    ("tracectrl.security.max_severity", TRACECTRL),
    ("tracectrl.security.findings", TRACECTRL),
    ("tracectrl.model", TRACECTRL),
    ("tracectrl.provider", TRACECTRL),
    ("tracectrl.cost_usd", TRACECTRL),
    ("tracectrl.context.limit", TRACECTRL),
    ("tracectrl.context.used", TRACECTRL),
    ("tracectrl.duration_ms", TRACECTRL),
    ("tracectrl.session.action", TRACECTRL),
    ("tracectrl.command.source", TRACECTRL),
    ("tracectrl.session.state", TRACECTRL),
    ("tracectrl.session.age_ms", TRACECTRL),
    ("tracectrl.error", TRACECTRL),
    (
        "gen_ai.usage.cache_read_tokens",
        Companion {
            owner: TraceCtrl,
            otherwise: None,
        },
    ),
    (
        "gen_ai.usage.cache_write_tokens",
        Companion {
            owner: TraceCtrl,
            otherwise: None,
        },
    ),
    // GoClaw (goclaw.md).
    ("goclaw.span_type", GOCLAW),
    ("goclaw.agent_id", GOCLAW),
    ("goclaw.tool.name", GOCLAW),
    ("goclaw.tool.call_id", GOCLAW),
    ("goclaw.input_preview", GOCLAW),
    ("goclaw.output_preview", GOCLAW),
    ("goclaw.duration_ms", GOCLAW),
    ("goclaw.trace_id", GOCLAW),
    ("goclaw.span_id", GOCLAW),
    ("goclaw.llm.cost_usd", GOCLAW),
    // The seed's own names (seed.md); `tool.name` is listed under OpenInference.
    ("llm.model", SEED),
    ("llm.tokens.in", SEED),
    ("llm.tokens.out", SEED),
    ("llm.cost", SEED),
    ("tool.input", SEED),
    ("tool.output", SEED),
    ("memory.key", SEED),
    ("memory.action", SEED),
];

/// Namespaces, longest match first within a namespace.
const PREFIXES: &[(&str, KeyClass)] = &[
    // OpenInference's flattened lists come first: they are most of an LLM span's keys.
    ("llm.input_messages.", OPENINFERENCE),
    ("llm.output_messages.", OPENINFERENCE),
    ("llm.tools.", OPENINFERENCE),
    ("llm.prompts.", OPENINFERENCE),
    ("llm.choices.", OPENINFERENCE),
    ("llm.token_count.prompt_details.", OPENINFERENCE),
    ("llm.token_count.completion_details.", OPENINFERENCE),
    ("llm.cost.", OPENINFERENCE),
    ("llm.prompt_template.", OPENINFERENCE),
    ("retrieval.documents.", OPENINFERENCE),
    ("reranker.input_documents.", OPENINFERENCE),
    ("reranker.output_documents.", OPENINFERENCE),
    ("embedding.embeddings.", OPENINFERENCE),
    ("metadata.", OPENINFERENCE),
    ("annotations.", OPENINFERENCE),
    ("evaluations.", OPENINFERENCE),
    ("trace.annotations.", OPENINFERENCE),
    ("trace.evaluations.", OPENINFERENCE),
    ("session.annotations.", OPENINFERENCE),
    ("session.evaluations.", OPENINFERENCE),
    ("input.audio.", OPENINFERENCE),
    ("output.audio.", OPENINFERENCE),
    ("traceloop.association.properties.", OPENLLMETRY),
    ("ai.settings.", VERCEL),
    ("ai.telemetry.metadata.", VERCEL),
    ("ai.request.headers.", VERCEL),
    ("ai.usage.inputTokenDetails.", VERCEL),
    ("ai.usage.outputTokenDetails.", VERCEL),
    ("langfuse.observation.metadata.", LANGFUSE),
    ("langfuse.trace.metadata.", LANGFUSE),
    ("langfuse.metadata.", LANGFUSE),
    ("spyglass.", GENERIC),
    // Namespaces that belong to one convention: unknown names in them are still its evidence.
    ("traceloop.", Unmapped(Some(OpenLlmetry))),
    ("ai.", Unmapped(Some(VercelAi))),
    ("langfuse.", Unmapped(Some(Langfuse))),
    ("tracectrl.", Unmapped(Some(TraceCtrl))),
    ("goclaw.", Unmapped(Some(GoClaw))),
    // docs/conventions/agentstack.md: no producer of `agentstack.*` is known, so nothing maps
    // such a key, but its presence is what labels a span `agentstack`.
    ("agentstack.", Unmapped(Some(AgentStack))),
];

/// FNV-1a: the table's keys are fixed, so no input can flood one bucket, and hashing the short
/// keys is cheaper than SipHash on this every-attribute path.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

static EXACT_MAP: LazyLock<HashMap<&'static str, KeyClass, BuildHasherDefault<Fnv>>> =
    LazyLock::new(|| EXACT.iter().copied().collect());

/// `<N>.<rest>` with `N` a non-negative decimal integer: `rest`.
pub(crate) fn after_index(s: &str) -> Option<&str> {
    let (n, rest) = s.split_once('.')?;
    (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(rest)
}

/// OpenLLMetry's indexed keys. Unknown fields of an indexed key are unmapped (listed one by one).
fn indexed(key: &str) -> Option<KeyClass> {
    let (prefix, known): (&str, fn(&str) -> bool) = if key.starts_with(openllmetry::PROMPT) {
        (openllmetry::PROMPT, openllmetry::prompt_field)
    } else if key.starts_with(openllmetry::COMPLETION) {
        (openllmetry::COMPLETION, openllmetry::completion_field)
    } else if key.starts_with(openllmetry::FUNCTIONS) {
        (openllmetry::FUNCTIONS, openllmetry::function_field)
    } else {
        return None;
    };
    let field = after_index(&key[prefix.len()..])?;
    Some(if known(field) {
        OPENLLMETRY
    } else {
        Unmapped(None)
    })
}

/// Classifies an attribute key.
pub fn classify(key: &str) -> KeyClass {
    if let Some(c) = EXACT_MAP.get(key) {
        return *c;
    }
    if let Some(c) = indexed(key) {
        return c;
    }
    PREFIXES
        .iter()
        .find(|(p, _)| key.starts_with(p))
        .map_or(Unmapped(None), |(_, c)| *c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies() {
        assert_eq!(classify("gen_ai.request.model"), GEN_AI);
        assert_eq!(classify("gen_ai.prompt.0.content"), OPENLLMETRY);
        assert_eq!(
            classify("gen_ai.completion.12.tool_calls.3.arguments"),
            OPENLLMETRY
        );
        assert_eq!(classify("llm.input_messages.3.message.role"), OPENINFERENCE);
        assert_eq!(classify("llm.model"), SEED);
        assert_eq!(classify("session.id"), GENERIC);
        assert_eq!(classify("http.method"), Unmapped(None));
        assert_eq!(classify("app.tenant_tier"), Unmapped(None));
    }

    #[test]
    fn openinference_llm_names_are_not_openllmetry() {
        assert_eq!(classify("llm.request.model_name"), OPENINFERENCE);
        assert_eq!(classify("llm.response.model_name"), OPENINFERENCE);
        assert_eq!(classify("llm.request.type"), OPENLLMETRY);
        assert_eq!(classify("llm.request.functions.0.parameters"), OPENLLMETRY);
        assert_eq!(
            classify("llm.token_count.prompt_details.cache_input"),
            OPENINFERENCE
        );
    }

    #[test]
    fn unknown_names_in_an_owned_namespace_are_evidence_but_unmapped() {
        assert_eq!(classify("tracectrl.brand_new"), Unmapped(Some(TraceCtrl)));
        assert_eq!(classify("agentstack.run_id"), Unmapped(Some(AgentStack)));
        assert_eq!(classify("ai.someFutureKey"), Unmapped(Some(VercelAi)));
        assert_eq!(classify("gen_ai.latency.e2e"), Unmapped(None));
        assert_eq!(classify("gen_ai.prompt.0.foo"), Unmapped(None));
        assert_eq!(classify("gen_ai.prompt.x.role"), Unmapped(None));
    }

    #[test]
    fn every_exact_key_is_listed_once() {
        let mut seen = std::collections::HashSet::new();
        for (k, _) in EXACT {
            assert!(seen.insert(k), "{k} listed twice");
        }
    }

    #[test]
    fn prefixes_are_ordered_longest_first_within_a_namespace() {
        for (i, (a, _)) in PREFIXES.iter().enumerate() {
            for (b, _) in &PREFIXES[i + 1..] {
                assert!(
                    !(b.starts_with(a) && b.len() > a.len()),
                    "{b} is shadowed by {a}"
                );
            }
        }
    }
}
