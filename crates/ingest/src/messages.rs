//! Chat messages from every shape instrumentors use, into one normalized array
//! (`docs/canonical-span.md`, "input / output").
//!
//! JSON payloads are read into borrowed [`RawValue`]s rather than `serde_json::Value` trees:
//! only the strings that end up in a message are copied, and structured tool arguments and
//! results keep the key order the model or tool produced (a `Value` map would sort them).

use crate::anyvalue;
use crate::view::SpanView;
use opentelemetry_proto::tonic::common::v1::AnyValue;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Message {
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolCall {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    /// JSON text; absent when the source recorded no arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

impl Message {
    pub fn new(role: impl Into<String>) -> Self {
        Message {
            role: role.into(),
            ..Default::default()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.content.is_none() && self.tool_calls.is_empty() && self.tool_call_id.is_none()
    }
}

/// Appends one text part. An empty part is no text: canonical-span.md omits `content` when a
/// message has none, and a tool-call-only step reports `""`.
pub(crate) fn push_text(content: &mut Option<String>, text: &str) {
    if text.is_empty() {
        return;
    }
    match content {
        Some(c) => {
            c.push('\n');
            c.push_str(text);
        }
        None => *content = Some(text.to_string()),
    }
}

// --- Raw JSON helpers -------------------------------------------------------------------------

type Raw<'a> = &'a RawValue;

fn first_byte(r: &RawValue) -> u8 {
    r.get().as_bytes().first().copied().unwrap_or(b'n')
}

/// A JSON string's content; `None` for any other JSON type.
fn raw_str(r: &RawValue) -> Option<Cow<'_, str>> {
    if first_byte(r) != b'"' {
        return None;
    }
    match serde_json::from_str::<&str>(r.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        // Escapes cannot be borrowed.
        Err(_) => serde_json::from_str::<String>(r.get()).ok().map(Cow::Owned),
    }
}

/// A JSON value as text: a string's content, nothing for `null`, anything else as compact JSON.
fn raw_text(r: &RawValue) -> Option<String> {
    match first_byte(r) {
        b'"' => raw_str(r).map(Cow::into_owned),
        b'n' => None,
        _ => Some(compact(r.get())),
    }
}

/// The first present, non-empty value among `candidates`, as text.
fn first_text(candidates: &[Option<Raw>]) -> Option<String> {
    candidates
        .iter()
        .flatten()
        .find_map(|r| raw_text(r))
        .filter(|s| !s.is_empty())
}

/// JSON that may arrive either as JSON or as a string holding JSON (event bodies do both).
fn json_inside(r: &RawValue) -> Cow<'_, str> {
    raw_str(r).unwrap_or(Cow::Borrowed(r.get()))
}

/// JSON text without insignificant whitespace, otherwise unchanged: key order and escapes stay
/// as the producer wrote them.
pub(crate) fn compact(json: &str) -> String {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped, mut start) = (false, false, 0);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            // Whitespace bytes are ASCII, so `i` is a char boundary.
            out.push_str(&json[start..i]);
            start = i + 1;
        }
    }
    out.push_str(&json[start..]);
    out
}

/// A message object in any of the supported shapes. Field names of every shape are listed side
/// by side (rather than as serde aliases) because a producer may send more than one of them.
#[derive(Deserialize)]
struct RawMessage<'a> {
    #[serde(borrow)]
    role: Option<Raw<'a>>,
    #[serde(borrow)]
    content: Option<Raw<'a>>,
    #[serde(borrow)]
    parts: Option<Raw<'a>>,
    #[serde(borrow)]
    tool_calls: Option<Raw<'a>>,
    #[serde(borrow, rename = "toolCalls")]
    tool_calls_camel: Option<Raw<'a>>,
    #[serde(borrow)]
    tool_call_id: Option<Raw<'a>>,
    #[serde(borrow, rename = "toolCallId")]
    tool_call_id_camel: Option<Raw<'a>>,
    #[serde(borrow)]
    name: Option<Raw<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Raw<'a>>,
    #[serde(borrow, rename = "finishReason")]
    finish_reason_camel: Option<Raw<'a>>,
    // Deprecated GenAI event bodies only.
    #[serde(borrow)]
    id: Option<Raw<'a>>,
    #[serde(borrow)]
    index: Option<Raw<'a>>,
    #[serde(borrow)]
    message: Option<Raw<'a>>,
}

/// A content part, a tool-call entry, a function object or a Vercel tool output.
#[derive(Deserialize)]
struct RawItem<'a> {
    #[serde(borrow, rename = "type")]
    ty: Option<Raw<'a>>,
    #[serde(borrow)]
    text: Option<Raw<'a>>,
    #[serde(borrow)]
    content: Option<Raw<'a>>,
    #[serde(borrow)]
    id: Option<Raw<'a>>,
    #[serde(borrow, rename = "toolCallId")]
    tool_call_id: Option<Raw<'a>>,
    #[serde(borrow)]
    call_id: Option<Raw<'a>>,
    #[serde(borrow)]
    tool_use_id: Option<Raw<'a>>,
    #[serde(borrow)]
    name: Option<Raw<'a>>,
    #[serde(borrow, rename = "toolName")]
    tool_name: Option<Raw<'a>>,
    #[serde(borrow)]
    function: Option<Raw<'a>>,
    #[serde(borrow)]
    arguments: Option<Raw<'a>>,
    #[serde(borrow)]
    args: Option<Raw<'a>>,
    #[serde(borrow)]
    input: Option<Raw<'a>>,
    #[serde(borrow)]
    response: Option<Raw<'a>>,
    #[serde(borrow)]
    result: Option<Raw<'a>>,
    #[serde(borrow)]
    output: Option<Raw<'a>>,
    #[serde(borrow)]
    value: Option<Raw<'a>>,
}

enum PartKind {
    Text,
    ToolCall,
    ToolResult,
    Other,
}

/// Part types of OpenTelemetry GenAI (`text`, `tool_call`, `tool_call_response`), OpenAI
/// (`text`, `input_text`, `output_text`, `function_call`, `function_call_output`), Anthropic
/// (`text`, `tool_use`, `tool_result`) and the Vercel AI SDK (`text`, `tool-call`, `tool-result`).
/// Everything else (images, files, reasoning, ...) is not text and is left out.
fn part_kind(ty: Option<&str>) -> PartKind {
    match ty {
        None | Some("text" | "input_text" | "output_text") => PartKind::Text,
        Some("tool_call" | "tool-call" | "tool_use" | "function_call") => PartKind::ToolCall,
        Some("tool_call_response" | "tool-result" | "tool_result" | "function_call_output") => {
            PartKind::ToolResult
        }
        Some(_) => PartKind::Other,
    }
}

/// A tool result found among a message's parts; each becomes its own canonical message.
struct ToolResult {
    id: Option<String>,
    text: Option<String>,
    name: Option<String>,
}

fn tool_call(item: &RawItem) -> ToolCall {
    // OpenAI nests name and arguments in `function`.
    let function = item
        .function
        .and_then(|f| serde_json::from_str::<RawItem>(f.get()).ok());
    let src = function.as_ref().unwrap_or(item);
    ToolCall {
        id: first_text(&[item.id, item.tool_call_id, item.call_id]),
        name: first_text(&[src.name, src.tool_name]).unwrap_or_default(),
        arguments: [src.arguments, src.args, src.input]
            .into_iter()
            .flatten()
            .next()
            .and_then(raw_text),
    }
}

fn read_tool_calls(raw: Raw, out: &mut Vec<ToolCall>) {
    let json = json_inside(raw);
    let Ok(items) = serde_json::from_str::<Vec<Raw>>(&json) else {
        return;
    };
    for it in items {
        if let Ok(item) = serde_json::from_str::<RawItem>(it.get()) {
            out.push(tool_call(&item));
        }
    }
}

/// The text of a tool result: `response` (GenAI) or `result` (GenAI registry examples, Vercel
/// v4) as text; Vercel v5's typed `output`; Anthropic's `content` (a string or text blocks).
fn tool_result_text(item: &RawItem) -> Option<String> {
    if let Some(r) = item.response.or(item.result) {
        return raw_text(r);
    }
    if let Some(o) = item.output {
        return vercel_output_text(o);
    }
    item.content.and_then(content_text)
}

/// Vercel AI SDK v5 tool output: `{type: "text"|"error-text", value: string}`,
/// `{type: "json"|"error-json", value}` or `{type: "content", value: [parts]}`.
fn vercel_output_text(o: Raw) -> Option<String> {
    if first_byte(o) != b'{' {
        return raw_text(o);
    }
    let Ok(item) = serde_json::from_str::<RawItem>(o.get()) else {
        return raw_text(o);
    };
    let ty = item.ty.and_then(raw_str);
    match (ty.as_deref(), item.value) {
        (Some("text" | "error-text"), Some(v)) => raw_text(v),
        (Some("json" | "error-json"), Some(v)) => Some(compact(v.get())),
        (Some("content"), Some(v)) => content_text(v),
        _ => raw_text(o),
    }
}

/// The text parts of a content value (string, part list or single part).
fn content_text(c: Raw) -> Option<String> {
    let mut m = Message::default();
    let mut ignored = Vec::new();
    read_content(c, &mut m, &mut ignored);
    m.content
}

fn read_content(c: Raw, msg: &mut Message, results: &mut Vec<ToolResult>) {
    match first_byte(c) {
        b'"' => {
            if let Some(s) = raw_str(c) {
                push_text(&mut msg.content, &s);
            }
        }
        b'[' => {
            if let Ok(parts) = serde_json::from_str::<Vec<Raw>>(c.get()) {
                for p in parts {
                    read_part(p, msg, results);
                }
            }
        }
        b'{' => read_part(c, msg, results),
        _ => {}
    }
}

fn read_part(p: Raw, msg: &mut Message, results: &mut Vec<ToolResult>) {
    if first_byte(p) == b'"' {
        if let Some(s) = raw_str(p) {
            push_text(&mut msg.content, &s);
        }
        return;
    }
    let Ok(item) = serde_json::from_str::<RawItem>(p.get()) else {
        return;
    };
    let ty = item.ty.and_then(raw_str);
    match part_kind(ty.as_deref()) {
        PartKind::Text => {
            if let Some(t) = item.content.or(item.text).and_then(raw_str) {
                push_text(&mut msg.content, &t);
            }
        }
        PartKind::ToolCall => msg.tool_calls.push(tool_call(&item)),
        PartKind::ToolResult => results.push(ToolResult {
            id: first_text(&[item.id, item.tool_call_id, item.tool_use_id, item.call_id]),
            text: tool_result_text(&item),
            name: first_text(&[item.tool_name, item.name]),
        }),
        PartKind::Other => {}
    }
}

/// One source message, split into one canonical message per tool result: the first keeps the
/// text parts and tool calls, each further result becomes a message of the same role.
fn read_message(m: &RawMessage, default_role: &str, out: &mut Vec<Message>) {
    let role = m
        .role
        .and_then(raw_str)
        .map(Cow::into_owned)
        .unwrap_or_else(|| default_role.to_string());
    let mut msg = Message::new(role);
    let mut results = Vec::new();
    for c in [m.content, m.parts].into_iter().flatten() {
        read_content(c, &mut msg, &mut results);
    }
    for calls in [m.tool_calls, m.tool_calls_camel].into_iter().flatten() {
        read_tool_calls(calls, &mut msg.tool_calls);
    }
    msg.tool_call_id = first_text(&[m.tool_call_id, m.tool_call_id_camel]);
    msg.name = first_text(&[m.name]);
    msg.finish_reason = first_text(&[m.finish_reason, m.finish_reason_camel]);

    let message_name = msg.name.clone();
    let mut results = results.into_iter();
    if let Some(r) = results.next() {
        if let Some(t) = r.text {
            push_text(&mut msg.content, &t);
        }
        msg.tool_call_id = msg.tool_call_id.take().or(r.id);
        msg.name = msg.name.take().or(r.name);
    }
    let role = msg.role.clone();
    out.push(msg);
    for r in results {
        out.push(Message {
            role: role.clone(),
            content: r.text.filter(|t| !t.is_empty()),
            tool_call_id: r.id,
            name: message_name.clone().or(r.name),
            ..Default::default()
        });
    }
}

/// `finish_reasons` is `Some` for output messages; input messages carry no finish reason
/// (canonical-span.md), even when a history message in the source has one.
fn parse_array_with(
    text: &str,
    default_role: &str,
    finish_reasons: Option<&[String]>,
) -> Option<Vec<Message>> {
    let t = text.trim_start();
    if !t.starts_with('[') {
        return None;
    }
    let items: Vec<Raw> = serde_json::from_str(t).ok()?;
    let mut out = Vec::with_capacity(items.len());
    for (i, it) in items.iter().enumerate() {
        if first_byte(it) != b'{' {
            continue;
        }
        let Ok(m) = serde_json::from_str::<RawMessage>(it.get()) else {
            continue;
        };
        let start = out.len();
        read_message(&m, default_role, &mut out);
        match finish_reasons {
            None => out[start..].iter_mut().for_each(|m| m.finish_reason = None),
            Some(reasons) => {
                if let Some(first) = out.get_mut(start)
                    && first.finish_reason.is_none()
                {
                    first.finish_reason = reasons.get(i).filter(|f| !f.is_empty()).cloned();
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// A JSON array of messages in any supported shape. `None` when the text is not a JSON array or
/// holds no message object: the value is then a plain value, not messages.
pub fn parse_array(text: &str) -> Option<Vec<Message>> {
    parse_array_with(text, "user", None)
}

/// Output messages: one without its own finish reason takes the element at the same position of
/// `finish_reasons` (`gen_ai.response.finish_reasons`).
pub fn parse_output_array(text: &str, finish_reasons: &[String]) -> Option<Vec<Message>> {
    parse_array_with(text, "assistant", Some(finish_reasons))
}

/// System instructions (`gen_ai.system_instructions`): a part list or a plain string. `None`
/// when there is no text.
pub fn system_message(text: &str) -> Option<Message> {
    let mut m = Message::new("system");
    let t = text.trim_start();
    match (t.starts_with('[') || t.starts_with('{'))
        .then(|| serde_json::from_str::<Raw>(t).ok())
        .flatten()
    {
        Some(raw) => m.content = content_text(raw),
        None => push_text(&mut m.content, text),
    }
    m.content.is_some().then_some(m)
}

/// The text of a JSON content-part array (OpenLLMetry writes multimodal content as
/// `json.dumps(list)`); `None` when `text` is not such an array. An array without text parts
/// gives `Some("")`. Only arrays whose every element is a typed part qualify: a tool result
/// that happens to be a JSON array is content, not parts.
pub fn parts_text(text: &str) -> Option<String> {
    let t = text.trim_start();
    if !t.starts_with('[') {
        return None;
    }
    let items = serde_json::from_str::<Vec<Raw>>(t).ok()?;
    let typed = |it: &Raw| {
        first_byte(it) == b'{'
            && serde_json::from_str::<RawItem>(it.get())
                .is_ok_and(|p| p.ty.is_some_and(|ty| first_byte(ty) == b'"'))
    };
    if items.is_empty() || !items.iter().all(typed) {
        return None;
    }
    let mut m = Message::default();
    let mut ignored = Vec::new();
    for it in items {
        read_part(it, &mut m, &mut ignored);
    }
    Some(m.content.unwrap_or_default())
}

/// A JSON array of tool calls in any supported shape (Vercel `ai.response.toolCalls`).
pub fn parse_tool_calls(text: &str) -> Vec<ToolCall> {
    let mut out = Vec::new();
    if let Ok(raw) = serde_json::from_str::<Raw>(text) {
        read_tool_calls(raw, &mut out);
    }
    out
}

/// Which deprecated GenAI message event a body comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventBody {
    /// `gen_ai.{system,user,assistant}.message`, with the event's default role.
    Message(&'static str),
    /// `gen_ai.tool.message`: the tool call id is the body's `id`.
    Tool,
    /// `gen_ai.choice`: `{index, finish_reason, message: {...}, tool_calls}`.
    Choice,
}

/// A deprecated GenAI message event body (JSON object text) as messages, with the body's
/// `index` (choices are ordered by it).
pub fn event_messages(json: &str, kind: EventBody) -> Option<(Option<i64>, Vec<Message>)> {
    let body: RawMessage = serde_json::from_str(json.trim_start()).ok()?;
    let mut out = Vec::new();
    match kind {
        EventBody::Message(role) => {
            read_message(&body, role, &mut out);
            out.iter_mut().for_each(|m| m.finish_reason = None);
        }
        EventBody::Tool => {
            read_message(&body, "tool", &mut out);
            out.iter_mut().for_each(|m| m.finish_reason = None);
            if let Some(first) = out.first_mut() {
                first.tool_call_id = first.tool_call_id.take().or_else(|| first_text(&[body.id]));
            }
        }
        EventBody::Choice => {
            let inner = body.message.map(json_inside);
            let message = inner
                .as_deref()
                .and_then(|t| serde_json::from_str::<RawMessage>(t).ok());
            read_message(message.as_ref().unwrap_or(&body), "assistant", &mut out);
            if let Some(first) = out.first_mut() {
                if first.tool_calls.is_empty()
                    && message.is_some()
                    && let Some(calls) = body.tool_calls
                {
                    read_tool_calls(calls, &mut first.tool_calls);
                }
                first.finish_reason = first
                    .finish_reason
                    .take()
                    .or_else(|| first_text(&[body.finish_reason]));
            }
        }
    }
    let index = body.index.and_then(|r| r.get().parse::<i64>().ok());
    Some((index, out))
}

// --- Flattened (indexed) attributes ------------------------------------------------------------

/// Fields of one indexed group, e.g. `message.role` for `llm.input_messages.3.message.role`.
pub(crate) type Fields<'a> = HashMap<&'a str, &'a AnyValue>;

/// Groups flattened `prefix.<i>.<rest>` attributes by `i`, in numeric order.
pub(crate) fn group_indexed<'a>(view: &SpanView<'a>, prefix: &str) -> BTreeMap<usize, Fields<'a>> {
    let mut groups: BTreeMap<usize, Fields<'a>> = BTreeMap::new();
    for (key, value) in view.with_prefix(prefix) {
        let rest = &key[prefix.len()..];
        let Some((idx, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(i) = idx.parse::<usize>() else {
            continue;
        };
        groups.entry(i).or_default().insert(field, value);
    }
    groups
}

pub(crate) fn field_text(fields: &Fields, key: &str) -> Option<String> {
    fields
        .get(key)
        .and_then(|v| anyvalue::as_text(v))
        .filter(|s| !s.is_empty())
}

/// Indexed tool calls inside one group (`<prefix><k>.<id|name|args field>`), ordered by `k`.
pub(crate) fn indexed_tool_calls(
    fields: &Fields,
    prefix: &str,
    [id, name, args]: [&str; 3],
    out: &mut Vec<ToolCall>,
) {
    let mut calls: BTreeMap<usize, ToolCall> = BTreeMap::new();
    for (k, v) in fields {
        let Some(rest) = k.strip_prefix(prefix) else {
            continue;
        };
        let Some((idx, field)) = rest.split_once('.') else {
            continue;
        };
        let Ok(i) = idx.parse::<usize>() else {
            continue;
        };
        if field != id && field != name && field != args {
            continue;
        }
        let call = calls.entry(i).or_default();
        let text = anyvalue::as_text(v).filter(|s| !s.is_empty());
        if field == id {
            call.id = text;
        } else if field == name {
            call.name = text.unwrap_or_default();
        } else {
            call.arguments = text;
        }
    }
    out.extend(calls.into_values());
}

/// Serializes messages, keeping the result under `cap` bytes by cutting the longest contents
/// first (the JSON stays valid); only if that cannot work is the text itself cut.
pub fn to_json_capped(mut msgs: Vec<Message>, cap: usize) -> String {
    let text = serde_json::to_string(&msgs).expect("messages serialize");
    if text.len() <= cap {
        return text;
    }
    let overhead = text.len()
        - msgs
            .iter()
            .map(|m| m.content.as_ref().map_or(0, |c| c.len()))
            .sum::<usize>();
    let budget = cap.saturating_sub(overhead + 64 * msgs.len());
    let per_msg = (budget / msgs.len().max(1)).max(256);
    for m in msgs.iter_mut() {
        if let Some(c) = m.content.take() {
            m.content = Some(anyvalue::truncate_string(c, per_msg));
        }
    }
    let text = serde_json::to_string(&msgs).expect("messages serialize");
    if text.len() <= cap {
        text
    } else {
        anyvalue::truncate_string(text, cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn json(m: &[Message]) -> String {
        serde_json::to_string(m).unwrap()
    }

    #[test]
    fn otel_parts_format() {
        let m = parse_array(
            r#"[{"role":"user","parts":[{"type":"text","content":"Weather in Paris?"}]},
                {"role":"assistant","parts":[{"type":"tool_call","id":"call_1","name":"get_weather","arguments":{"city":"Paris"}}],"finish_reason":"tool_call"},
                {"role":"tool","parts":[{"type":"tool_call_response","id":"call_1","response":"rainy, 57°F"}]}]"#,
        )
        .unwrap();
        assert_eq!(m[0].content.as_deref(), Some("Weather in Paris?"));
        assert_eq!(
            m[1].tool_calls[0].arguments.as_deref(),
            Some(r#"{"city":"Paris"}"#)
        );
        assert_eq!(m[2].tool_call_id.as_deref(), Some("call_1"));
        assert_eq!(m[2].content.as_deref(), Some("rainy, 57°F"));
    }

    #[test]
    fn openai_vercel_and_anthropic_shapes() {
        let m = parse_array(
            r#"[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},
                {"role":"user","content":[{"type":"text","text":"a"},{"type":"image","image":"x"},{"type":"text","text":"b"}]},
                {"role":"assistant","content":[{"type":"tool-call","toolCallId":"t1","toolName":"search","args":{"q":"x"}}]},
                {"role":"tool","content":[{"type":"tool-result","toolCallId":"t1","toolName":"search","result":{"hits":2}}]},
                {"role":"assistant","content":[{"type":"tool_use","id":"tu","name":"calc","input":{"x":2}}]},
                {"role":"user","content":[{"type":"tool_result","tool_use_id":"tu","content":[{"type":"text","text":"4"}]}]}]"#,
        )
        .unwrap();
        assert_eq!(m[0].tool_calls[0].name, "f");
        assert_eq!(m[0].tool_calls[0].arguments.as_deref(), Some(r#"{"a":1}"#));
        assert_eq!(m[1].content.as_deref(), Some("a\nb"));
        assert_eq!(m[2].tool_calls[0].id.as_deref(), Some("t1"));
        assert_eq!(
            json(&m[3..4]),
            r#"[{"role":"tool","content":"{\"hits\":2}","tool_call_id":"t1","name":"search"}]"#
        );
        assert_eq!(m[4].tool_calls[0].arguments.as_deref(), Some(r#"{"x":2}"#));
        assert_eq!(
            json(&m[5..6]),
            r#"[{"role":"user","content":"4","tool_call_id":"tu"}]"#
        );
    }

    #[test]
    fn one_message_per_tool_result() {
        let m = parse_array(
            r#"[{"role":"tool","content":[
                {"type":"tool-result","toolCallId":"a","toolName":"weather","output":{"type":"json","value":{"temp":14,"city":"Paris"}}},
                {"type":"tool-result","toolCallId":"b","toolName":"news","output":{"type":"text","value":"quiet day"}},
                {"type":"tool-result","toolCallId":"c","toolName":"docs","output":{"type":"content","value":[{"type":"text","text":"p1"},{"type":"media","data":"..."}]}}]}]"#,
        )
        .unwrap();
        assert_eq!(
            json(&m),
            concat!(
                r#"[{"role":"tool","content":"{\"temp\":14,\"city\":\"Paris\"}","tool_call_id":"a","name":"weather"},"#,
                r#"{"role":"tool","content":"quiet day","tool_call_id":"b","name":"news"},"#,
                r#"{"role":"tool","content":"p1","tool_call_id":"c","name":"docs"}]"#
            )
        );
    }

    #[test]
    fn text_goes_to_the_first_of_split_messages() {
        let m = parse_array(
            r#"[{"role":"user","parts":[{"type":"text","content":"results:"},
                {"type":"tool_call_response","id":"1","response":"one"},
                {"type":"tool_call_response","id":"2","result":{"n":2}}]}]"#,
        )
        .unwrap();
        assert_eq!(
            json(&m),
            r#"[{"role":"user","content":"results:\none","tool_call_id":"1"},{"role":"user","content":"{\"n\":2}","tool_call_id":"2"}]"#
        );
    }

    #[test]
    fn arguments_keep_source_key_order_and_are_compacted() {
        let m = parse_array(r#"[{"role":"assistant","parts":[{"type":"tool_call","name":"f","arguments":{"z": 1, "a": "x y", "m": [1, 2]}}]}]"#)
            .unwrap();
        assert_eq!(
            m[0].tool_calls[0].arguments.as_deref(),
            Some(r#"{"z":1,"a":"x y","m":[1,2]}"#)
        );
        assert_eq!(
            compact("{ \"a\\\" b\" : [ 1 ,\n 2 ] }"),
            r#"{"a\" b":[1,2]}"#
        );
    }

    #[test]
    fn absent_arguments_and_empty_text_are_omitted() {
        let m = parse_array(r#"[{"role":"assistant","content":"","tool_calls":[{"id":"c","function":{"name":"ping"}}]}]"#).unwrap();
        assert_eq!(
            json(&m),
            r#"[{"role":"assistant","tool_calls":[{"id":"c","name":"ping"}]}]"#
        );
    }

    #[test]
    fn output_finish_reason_falls_back_by_position() {
        let reasons = vec!["stop".to_string(), "length".to_string()];
        let m = parse_output_array(
            r#"[{"role":"assistant","parts":[{"type":"text","content":"a"}]},{"parts":[{"type":"text","content":"b"}],"finish_reason":"tool_call"}]"#,
            &reasons,
        )
        .unwrap();
        assert_eq!(m[0].finish_reason.as_deref(), Some("stop"));
        assert_eq!(m[1].finish_reason.as_deref(), Some("tool_call"));
        assert_eq!(m[1].role, "assistant");
    }

    #[test]
    fn input_messages_carry_no_finish_reason() {
        let m = parse_array(
            r#"[{"role":"assistant","content":"earlier turn","finish_reason":"stop"}]"#,
        )
        .unwrap();
        assert_eq!(
            json(&m),
            r#"[{"role":"assistant","content":"earlier turn"}]"#
        );
    }

    #[test]
    fn not_messages() {
        assert!(parse_array("hello").is_none());
        assert!(parse_array("[1,2]").is_none());
        assert!(parse_array(r#"{"role":"user","content":"x"}"#).is_none());
        assert!(parse_array(r#"[{'role': 'user'}]"#).is_none());
    }

    #[test]
    fn system_instructions() {
        assert_eq!(
            system_message(r#"[{"type":"text","content":"a"},{"type":"text","content":"b"}]"#)
                .unwrap()
                .content
                .as_deref(),
            Some("a\nb")
        );
        assert_eq!(
            system_message("be brief").unwrap().content.as_deref(),
            Some("be brief")
        );
        assert!(system_message(r#"[{"type":"blob","content":"..."}]"#).is_none());
    }

    #[test]
    fn event_bodies() {
        let (_, m) =
            event_messages(r#"{"content":"weather?"}"#, EventBody::Message("user")).unwrap();
        assert_eq!(json(&m), r#"[{"role":"user","content":"weather?"}]"#);
        let (_, m) =
            event_messages(r#"{"content":"rainy","id":"call_1"}"#, EventBody::Tool).unwrap();
        assert_eq!(
            json(&m),
            r#"[{"role":"tool","content":"rainy","tool_call_id":"call_1"}]"#
        );
        let (index, m) = event_messages(
            r#"{"index":1,"finish_reason":"tool_calls","message":{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]}}"#,
            EventBody::Choice,
        )
        .unwrap();
        assert_eq!(index, Some(1));
        assert_eq!(
            json(&m),
            r#"[{"role":"assistant","tool_calls":[{"id":"c","name":"f","arguments":"{}"}],"finish_reason":"tool_calls"}]"#
        );
        // A message that arrives as a string holding JSON.
        let (_, m) = event_messages(
            r#"{"message":"{\"content\":\"hi\"}","finish_reason":"stop"}"#,
            EventBody::Choice,
        )
        .unwrap();
        assert_eq!(
            json(&m),
            r#"[{"role":"assistant","content":"hi","finish_reason":"stop"}]"#
        );
    }

    #[test]
    fn capping_keeps_json_valid() {
        let msgs = vec![
            Message {
                role: "user".into(),
                content: Some("x".repeat(10_000)),
                ..Default::default()
            },
            Message {
                role: "assistant".into(),
                content: Some("short".into()),
                ..Default::default()
            },
        ];
        let s = to_json_capped(msgs, 2000);
        assert!(s.len() <= 2000, "{}", s.len());
        let v: Value = serde_json::from_str(&s).unwrap();
        assert!(v[0]["content"].as_str().unwrap().contains("…[truncated"));
        assert_eq!(v[1]["content"], "short");
    }
}
