//! Security detectors over canonical spans: prompt injection (direct and indirect), personal
//! data, secrets, and redaction of what they find. Every detector is a pure function of text;
//! [`SecurityEngine`] applies them to the fields of a span (input, output, status message,
//! attribute values), masks secrets (and, when configured, personal data) in place, and
//! returns the findings. `docs/security.md` describes detectors, severities and settings.
//!
//! Cost is kept off the common path: secrets run only the rules whose keywords appear, numeric
//! PII only when a text has enough digits, injection rules only after their anchor words. A
//! text costs a few buffers (a lowercased copy for the keyword pass, the folded copy and
//! scratch of the injection scorer, the list of messages of a chat); findings, masked copies
//! and decoded payloads are allocated only when there are some.

mod config;
mod finding;
mod injection;
mod json;
mod normalize;
mod pii;
mod redact;
mod secrets;

pub use config::{CustomPiiPattern, DEFAULT_INJECTION_THRESHOLD, ProjectMasking, SecurityConfig};
pub use finding::{Category, Encoding, Field, Finding, Severity, Vector};
pub use redact::{Masking, redact};

use crate::EngineError;
use finding::Hit;
use injection::InjectionDetector;
use json::Author;
use pii::PiiDetector;
use secrets::SecretDetector;
use serde::{Deserialize, Serialize};
use spyglass_model::json_text::JsonText;
use spyglass_model::span::{Span, SpanKind};
use std::borrow::Cow;

/// What a text given to [`SecurityEngine::check_text`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// A prompt on its way to a model: checked for direct injection, secrets and PII.
    Input,
    /// Content an agent read (a tool result, a document, a web page, an e-mail) on its way
    /// into a prompt: checked for indirect injection, secrets and PII.
    ToolOutput,
    /// A model's answer on its way out: checked for secrets and PII it may leak.
    Output,
}

/// What a guard should do with a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Allow,
    /// Let it through, but something was found.
    Flag,
    Block,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub action: Action,
    /// The injection score (0 when the direction is not checked for injection).
    pub injection_score: f32,
    pub findings: Vec<Finding>,
    /// The text with secrets (and PII, when configured) masked; absent when nothing was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
}

/// How injection applies to a text of a span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    /// Not scanned for injection (model output, tool arguments).
    Skip,
    /// A conversation: message authors decide (user: direct, tool results: indirect, the
    /// model's own turns and system prompts skipped); plain text is the user's.
    Conversation,
    /// Everything in it came from one place, e.g. a tool's output is all indirect.
    All(Vector),
}

/// Attribute values shorter than this (bytes, with quotes) are not scanned for injection.
const MIN_ATTRIBUTE_CONTENT: usize = 24;

/// The built-in detector families, for `disabled_detectors`.
const FAMILIES: &[&str] = &["prompt_injection", "injection", "pii", "secret", "secrets"];

pub struct SecurityEngine {
    config: SecurityConfig,
    injection: Option<InjectionDetector>,
    secrets: SecretDetector,
    pii: PiiDetector,
    masking: Masking,
}

impl SecurityEngine {
    pub fn new(config: SecurityConfig) -> Result<Self, EngineError> {
        let bad = |message: String| EngineError::SecurityConfig { message };
        if !(config.injection_threshold > 0.0 && config.injection_threshold <= 1.0) {
            return Err(bad("injection_threshold must be in (0, 1]".into()));
        }
        if !(config.block_threshold >= config.injection_threshold && config.block_threshold <= 1.0)
        {
            return Err(bad(
                "block_threshold must be between injection_threshold and 1".into(),
            ));
        }
        if config.max_scan_bytes == 0 {
            return Err(bad("max_scan_bytes must be positive".into()));
        }
        let mut custom = Vec::with_capacity(config.custom_pii_patterns.len());
        for p in &config.custom_pii_patterns {
            if custom
                .iter()
                .any(|c: &pii::CustomPattern| c.detector == format!("pii.{}", p.name))
            {
                return Err(bad(format!(
                    "custom PII pattern {:?} is defined twice",
                    p.name
                )));
            }
            custom.push(pii::custom_pattern(&p.name, &p.regex, p.severity)?);
        }
        for d in &config.disabled_detectors {
            let known = FAMILIES.contains(&d.as_str())
                || pii::BUILTIN.contains(&d.as_str())
                || secrets::DETECTORS.contains(&d.as_str())
                || injection::rules::TACTIC_DETECTORS.contains(&d.as_str())
                || d == injection::CLASSIFIER
                || custom.iter().any(|c| &c.detector == d);
            if !known {
                return Err(bad(format!("unknown detector {d:?} in disabled_detectors")));
            }
        }
        let off = |id: &str| {
            let family = match id.split('.').next() {
                Some("pii") => "pii",
                Some("secret") => "secret",
                _ => "prompt_injection",
            };
            config.disabled_detectors.iter().any(|d| {
                d == id
                    || d == family
                    || (d == "secrets" && family == "secret")
                    || (d == "injection" && family == "prompt_injection")
            })
        };
        let pii_enabled = std::array::from_fn(|i| !off(pii::BUILTIN[i]));
        custom.retain(|c| !off(&c.detector));
        let injection = if off("prompt_injection") {
            None
        } else {
            Some(InjectionDetector::new()?)
        };
        let secrets = SecretDetector::new(|d| !off(d));
        let masking = Masking {
            secrets: config.secret_masking,
            pii: config.pii_masking,
        };
        Ok(SecurityEngine {
            injection,
            secrets,
            pii: PiiDetector::new(pii_enabled, custom),
            masking,
            config,
        })
    }

    pub fn config(&self) -> &SecurityConfig {
        &self.config
    }

    /// Scans a span's input, output, status message and attribute values, masks secrets (and
    /// PII when configured) in place, and returns the findings. Offsets in the findings point
    /// into the span's texts as they are after masking.
    /// Masking follows the span's project (`[security.projects.<id>]`), else the defaults.
    pub fn scan_span(&self, span: &mut Span) -> Vec<Finding> {
        let masking = self.masking_for(&span.project_id);
        let mut out = Vec::new();
        let (input_plan, output_plan) = plans(span.kind);
        if let Some(text) = span.input.as_mut() {
            self.scan_owned(text, Field::Input, input_plan, masking, &mut out);
        }
        if let Some(text) = span.output.as_mut() {
            self.scan_owned(text, Field::Output, output_plan, masking, &mut out);
        }
        if let Some(text) = span.status_message.as_mut() {
            self.scan_owned(text, Field::StatusMessage, Plan::Skip, masking, &mut out);
        }
        self.scan_attributes(&mut span.attributes, span.kind, masking, &mut out);
        out
    }

    /// What a project's stored spans have masked.
    pub fn masking_for(&self, project: &str) -> Masking {
        match self.config.projects.get(project) {
            None => self.masking,
            Some(p) => Masking {
                secrets: p.secret_masking.unwrap_or(self.masking.secrets),
                pii: p.pii_masking.unwrap_or(self.masking.pii),
            },
        }
    }

    /// Scans one text for a guard: injection as `direction` says, secrets and PII always.
    pub fn check_text(&self, text: &str, direction: Direction) -> Verdict {
        let plan = match direction {
            Direction::Input => Plan::All(Vector::Direct),
            Direction::ToolOutput => Plan::All(Vector::Indirect),
            Direction::Output => Plan::Skip,
        };
        let mut hits = Vec::new();
        let injection_score = self.detect(text, plan, &mut hits);
        let findings: Vec<Finding> = hits
            .into_iter()
            .map(|h| h.into_finding(Field::Text, None, 0))
            .collect();
        let action = if injection_score >= self.config.block_threshold
            || findings
                .iter()
                .any(|f| f.severity >= self.config.block_severity)
        {
            Action::Block
        } else if findings.is_empty() {
            Action::Allow
        } else {
            Action::Flag
        };
        let masked: Vec<(usize, usize, &str)> = findings
            .iter()
            .filter(|f| self.masking.masks(f))
            .map(|f| (f.start, f.end, f.label()))
            .collect();
        let redacted = redact::apply(text, masked).map(|(s, _)| s);
        Verdict {
            action,
            injection_score,
            findings,
            redacted,
        }
    }

    /// The combined injection score of a text read as user input (what the evaluation
    /// command measures); 0 when injection detection is disabled.
    pub fn injection_score(&self, text: &str) -> f32 {
        self.injection.as_ref().map_or(0.0, |d| {
            d.assess(text, false, Vector::Direct, self.config.injection_threshold)
                .score
        })
    }

    /// The learned model's score alone (no rules, no chunking), for evaluation and for checking
    /// the shipped weights against the training script; `None` when injection is disabled.
    pub fn injection_model_score(&self, text: &str) -> Option<f32> {
        self.injection.as_ref().map(|d| d.model_score(text))
    }

    /// Text as the injection rules and model see it: disguises undone, lowercase, single
    /// spaces; `None` when injection is disabled.
    pub fn injection_folding(&self, text: &str) -> Option<String> {
        self.injection.as_ref().map(|d| d.fold(text))
    }

    /// Runs the detectors over `text`, appending hits (offsets in `text`); returns the highest
    /// injection score.
    fn detect(&self, text: &str, plan: Plan, hits: &mut Vec<Hit>) -> f32 {
        let first = hits.len();
        let score = self.detect_unscrubbed(text, plan, hits);
        scrub_evidence(text, &mut hits[first..]);
        score
    }

    fn detect_unscrubbed(&self, text: &str, plan: Plan, hits: &mut Vec<Hit>) -> f32 {
        let text = capped(text, self.config.max_scan_bytes);
        let first = hits.len();
        let view = without_escape_letters(text);
        self.secrets.scan(&view, hits);
        let secrets_end = hits.len();
        self.pii.scan(&view, hits);
        // Personal data inside a secret (the user@host of a database URL) is the secret's.
        if secrets_end > first {
            let (secret_hits, rest) = hits[first..].split_at(secrets_end - first);
            let keep: Vec<bool> = rest
                .iter()
                .map(|p| {
                    !secret_hits
                        .iter()
                        .any(|s| s.start < p.end && p.start < s.end)
                })
                .collect();
            let mut i = 0;
            hits.retain(|_| {
                i += 1;
                i <= secrets_end || keep[i - secrets_end - 1]
            });
        }
        let Some(detector) = &self.injection else {
            return 0.0;
        };
        let threshold = self.config.injection_threshold;
        let mut score = 0f32;
        let mut assess = |slice_start: usize,
                          slice_end: usize,
                          json: bool,
                          vector: Vector,
                          hits: &mut Vec<Hit>| {
            let a = detector.assess(&text[slice_start..slice_end], json, vector, threshold);
            score = score.max(a.score);
            for mut h in a.hits {
                if self.injection_finding_on(&h.detector) {
                    h.start += slice_start;
                    h.end += slice_start;
                    hits.push(h);
                }
            }
        };
        match plan {
            Plan::Skip => {}
            Plan::All(vector) => match json::messages(text) {
                Some(messages) => {
                    for m in messages {
                        if m.author != Author::Assistant
                            && (m.author != Author::System || self.config.scan_system_prompts)
                        {
                            assess(m.start, m.end, true, vector, hits);
                        }
                    }
                }
                None => assess(0, text.len(), false, vector, hits),
            },
            Plan::Conversation => match json::messages(text) {
                Some(messages) => {
                    for m in messages {
                        let vector = match m.author {
                            Author::Assistant => continue,
                            Author::System if !self.config.scan_system_prompts => continue,
                            Author::Tool => Vector::Indirect,
                            Author::User | Author::System | Author::Other => Vector::Direct,
                        };
                        assess(m.start, m.end, true, vector, hits);
                    }
                }
                None => assess(0, text.len(), false, Vector::Direct, hits),
            },
        }
        score
    }

    fn injection_finding_on(&self, detector: &str) -> bool {
        !self.config.disabled_detectors.iter().any(|d| d == detector)
    }

    /// Scans a span text, masks it in place, and appends its findings.
    fn scan_owned(
        &self,
        text: &mut String,
        field: Field,
        plan: Plan,
        masking: Masking,
        out: &mut Vec<Finding>,
    ) {
        let mut hits = Vec::new();
        self.detect(text, plan, &mut hits);
        if hits.is_empty() {
            return;
        }
        let mut findings: Vec<Finding> = hits
            .into_iter()
            .map(|h| h.into_finding(field, None, 0))
            .collect();
        if let Some(masked) = mask(text, &mut findings, masking) {
            *text = masked;
        }
        out.extend(findings);
    }

    /// Attributes: secrets and PII over the whole JSON object at once (one pass, and a
    /// keyword in a key counts, as in `"api_key": "…"`), injection in values whose key says
    /// they carry content; each finding names the attribute it is in.
    fn scan_attributes(
        &self,
        attrs: &mut JsonText,
        kind: SpanKind,
        masking: Masking,
        out: &mut Vec<Finding>,
    ) {
        let text = attrs.as_str();
        if text.len() <= 2 {
            return;
        }
        let mut hits = Vec::new();
        self.detect(text, Plan::Skip, &mut hits);
        let content_keys =
            self.injection.is_some() && json::has_string_value(text, MIN_ATTRIBUTE_CONTENT);
        if hits.is_empty() && !content_keys {
            return;
        }
        let Some(entries) = json::object_entries(text) else {
            return;
        };
        if self.injection.is_some() {
            for e in &entries {
                let raw = &text[e.start..e.end];
                // Cheap checks first: most attribute values are short or not strings.
                if raw.len() < MIN_ATTRIBUTE_CONTENT || !raw.starts_with('"') {
                    continue;
                }
                let Some(vector) = attribute_vector(&e.key, kind) else {
                    continue;
                };
                let mut inner = Vec::new();
                self.detect_injection_only(&raw[1..raw.len() - 1], vector, &mut inner);
                for mut h in inner {
                    h.start += e.start + 1;
                    h.end += e.start + 1;
                    hits.push(h);
                }
            }
            scrub_evidence(text, &mut hits);
        }
        if hits.is_empty() {
            return;
        }
        let mut findings: Vec<Finding> = hits
            .into_iter()
            .map(|h| {
                let key = entries
                    .iter()
                    .find(|e| e.end > h.start)
                    .map(|e| e.key.as_ref());
                h.into_finding(Field::Attribute, key, 0)
            })
            .collect();
        if let Some(masked) = mask(text, &mut findings, masking) {
            match JsonText::parse(masked) {
                Ok(j) => *attrs = j,
                // Masking keeps JSON valid (tested); should it ever not, the findings still
                // report the secret and the attributes keep their original text.
                Err(_) => debug_assert!(false, "masking broke attribute JSON"),
            }
        }
        out.extend(findings);
    }

    fn detect_injection_only(&self, raw: &str, vector: Vector, hits: &mut Vec<Hit>) {
        if let Some(d) = &self.injection {
            let raw = capped(raw, self.config.max_scan_bytes);
            for h in d
                .assess(raw, true, vector, self.config.injection_threshold)
                .hits
            {
                if self.injection_finding_on(&h.detector) {
                    hits.push(h);
                }
            }
        }
    }
}

/// Masks `text` as `masking` says, moving the findings' offsets onto the masked text; `None`
/// when nothing is masked.
fn mask(text: &str, findings: &mut [Finding], masking: Masking) -> Option<String> {
    let ranges: Vec<(usize, usize, &str)> = findings
        .iter()
        .filter(|f| masking.masks(f))
        .map(|f| (f.start, f.end, f.label()))
        .collect();
    let (masked, edits) = redact::apply(text, ranges)?;
    for f in findings.iter_mut() {
        f.start = redact::map_offset(&edits, f.start, false);
        f.end = redact::map_offset(&edits, f.end, true);
    }
    Some(masked)
}

/// Injection evidence is an excerpt of the text, which may hold a secret the secret detector
/// found ("ignore your rules and use sk-proj-…"): findings are stored and served, so the
/// excerpt is rebuilt with those secrets masked.
fn scrub_evidence(text: &str, hits: &mut [Hit]) {
    let secrets: Vec<(usize, usize, String)> = hits
        .iter()
        .filter(|h| h.category == Category::Secret)
        .map(|h| {
            (
                h.start,
                h.end,
                h.detector.trim_start_matches("secret.").to_string(),
            )
        })
        .collect();
    if secrets.is_empty() {
        return;
    }
    for h in hits
        .iter_mut()
        .filter(|h| h.category == Category::PromptInjection && h.encoding.is_none())
    {
        let inside: Vec<(usize, usize, &str)> = secrets
            .iter()
            .filter(|(s, e, _)| *s < h.end && h.start < *e)
            .map(|(s, e, l)| {
                (
                    s.max(&h.start) - h.start,
                    e.min(&h.end) - h.start,
                    l.as_str(),
                )
            })
            .collect();
        if inside.is_empty() || h.end > text.len() {
            continue;
        }
        let slice = &text[h.start..h.end];
        let masked = redact::apply(slice, inside).map_or_else(|| slice.to_string(), |(m, _)| m);
        h.evidence = finding::excerpt(&masked, 0, masked.len(), 160);
    }
}

/// Where injection can come from, by span kind: (input, output).
fn plans(kind: SpanKind) -> (Plan, Plan) {
    match kind {
        // Tool arguments are written by the model; the tool's result is outside content.
        SpanKind::Tool => (Plan::Skip, Plan::All(Vector::Indirect)),
        // The query is the user's; the documents are outside content.
        SpanKind::Retriever | SpanKind::Reranker => {
            (Plan::All(Vector::Direct), Plan::All(Vector::Indirect))
        }
        SpanKind::Embedding => (Plan::Skip, Plan::Skip),
        // Conversations in, model output out.
        SpanKind::Llm
        | SpanKind::Agent
        | SpanKind::Chain
        | SpanKind::Guardrail
        | SpanKind::Event
        | SpanKind::Other => (Plan::Conversation, Plan::Skip),
    }
}

/// Whether an attribute carries content worth an injection scan, and from where. Keys that
/// hold the developer's own prompts (system prompts, templates) are not scanned.
fn attribute_vector(key: &str, kind: SpanKind) -> Option<Vector> {
    let k = key.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| k.contains(w));
    if has(&[
        "system",
        "template",
        "instruction",
        "argument",
        "name",
        ".id",
        "model",
        "url",
    ]) {
        return None;
    }
    let outside = has(&[
        "document",
        "output",
        "result",
        "response",
        "retriev",
        "observation",
        "page",
        "email",
        "web",
    ]);
    let content = has(&[
        "input", "prompt", "query", "message", "content", "question", "text",
    ]);
    let outside_kind = matches!(
        kind,
        SpanKind::Tool | SpanKind::Retriever | SpanKind::Reranker
    );
    if outside || (content && outside_kind) {
        Some(Vector::Indirect)
    } else if content {
        Some(Vector::Direct)
    } else {
        None
    }
}

/// `text` with JSON escapes that end in a letter (`\n`, `\t`, `\r`, `\b`, `\f`) blanked to two
/// spaces, for the secret and PII patterns: in `"key:\nsk-proj-…"` the `n` of the escape would
/// glue onto the key and hide its word boundary. Same length, so offsets hold; no copy when
/// there is no such escape.
fn without_escape_letters(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    if !b.contains(&b'\\') {
        return Cow::Borrowed(text);
    }
    let escape_at =
        |i: usize| b[i] == b'\\' && matches!(b.get(i + 1), Some(b'n' | b't' | b'r' | b'b' | b'f'));
    let Some(first) =
        (0..b.len()).find(|&i| b[i] == b'\\' && (escape_at(i) || b.get(i + 1) == Some(&b'\\')))
    else {
        return Cow::Borrowed(text);
    };
    let mut out = b.to_vec();
    let mut i = first;
    while i < out.len() {
        if out[i] == b'\\' {
            if escape_at(i) {
                out[i] = b' ';
                out[i + 1] = b' ';
            }
            // An escaped backslash is one unit: `\\n` is a backslash and an n.
            i += 2;
        } else {
            i += 1;
        }
    }
    // Only ASCII bytes were replaced by ASCII bytes.
    Cow::Owned(String::from_utf8(out).unwrap_or_else(|_| text.to_string()))
}

/// The first `max` bytes of `text`, cut on a character boundary.
fn capped(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
