//! A read-only index over one span's attributes, for the convention mappings.

use crate::anyvalue;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::span::Event;
use std::collections::HashMap;

/// Attribute keys come from the network: a seeded hasher keeps collisions unforgeable, and
/// foldhash is several times cheaper than the default SipHash on short keys.
type KeyIndex<'a> = HashMap<&'a str, &'a AnyValue, foldhash::fast::RandomState>;
use std::borrow::Cow;

/// The identity fields a resource carries. canonical-span.md takes session, user and agent from
/// the span first and then from the resource; reading the resource once per request instead of
/// once per span keeps the fallback off the per-span path.
#[derive(Debug, Clone, Default)]
pub struct ResourceIdentity {
    pub session_id: Option<String>,
    pub user_id: Option<String>,
    pub agent_name: Option<String>,
    pub agent_id: Option<String>,
}

impl ResourceIdentity {
    pub fn read(attrs: &[KeyValue]) -> Self {
        let text = |keys: &[&str]| {
            keys.iter().find_map(|k| {
                attrs
                    .iter()
                    .rev()
                    .find(|kv| kv.key == *k)
                    .and_then(|kv| kv.value.as_ref())
                    .and_then(anyvalue::as_text)
                    .filter(|s| !s.trim().is_empty())
            })
        };
        ResourceIdentity {
            session_id: text(&[
                "session.id",
                "gen_ai.conversation.id",
                "langfuse.session.id",
            ]),
            user_id: text(&["user.id", "enduser.id", "langfuse.user.id"]),
            agent_name: text(&["gen_ai.agent.name", "agent.name"]),
            agent_id: text(&["gen_ai.agent.id"]),
        }
    }
}

pub struct SpanView<'a> {
    pub name: &'a str,
    pub attrs: &'a [KeyValue],
    pub resource: &'a ResourceIdentity,
    pub events: &'a [Event],
    /// No parent span (Langfuse trace-level input/output apply to root spans only).
    pub root: bool,
    index: KeyIndex<'a>,
}

impl<'a> SpanView<'a> {
    pub fn new(
        name: &'a str,
        attrs: &'a [KeyValue],
        resource: &'a ResourceIdentity,
        events: &'a [Event],
        root: bool,
    ) -> Self {
        let mut index = KeyIndex::with_capacity_and_hasher(attrs.len(), Default::default());
        for kv in attrs {
            if let Some(v) = &kv.value {
                // Last one wins on duplicate keys, as in every OTel SDK.
                index.insert(kv.key.as_str(), v);
            }
        }
        SpanView {
            name,
            attrs,
            resource,
            events,
            root,
            index,
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a AnyValue> {
        self.index.get(key).copied()
    }

    pub fn has(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// The first of `keys` present.
    pub fn first_key(&self, keys: &[&'static str]) -> Option<&'static str> {
        keys.iter().copied().find(|k| self.has(k))
    }

    /// Non-empty string (or stringified scalar) value of the first key present.
    pub fn text(&self, keys: &[&'static str]) -> Option<String> {
        keys.iter().find_map(|k| {
            self.get(k)
                .and_then(anyvalue::as_text)
                .filter(|s| !s.trim().is_empty())
        })
    }

    /// A payload attribute as text without copying it when it is a string (message JSON is the
    /// largest value on a span); structured values are written as JSON.
    pub fn payload(&self, key: &str) -> Option<Cow<'a, str>> {
        let v = self.get(key)?;
        let text = match anyvalue::as_str(v) {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(anyvalue::as_text(v)?),
        };
        (!text.trim().is_empty()).then_some(text)
    }

    pub fn str(&self, key: &str) -> Option<&'a str> {
        self.get(key).and_then(anyvalue::as_str)
    }

    /// A token count: the first key holding a non-negative integer. Negative values are what
    /// some SDKs write for "unknown" (Semantic Kernel .NET writes -1), so they count as absent.
    pub fn count(&self, keys: &[&'static str]) -> Option<i64> {
        keys.iter()
            .find_map(|k| self.get(k).and_then(anyvalue::as_i64).filter(|n| *n >= 0))
    }

    pub fn float(&self, keys: &[&'static str]) -> Option<f64> {
        keys.iter()
            .find_map(|k| self.get(k).and_then(anyvalue::as_f64))
    }

    /// Attributes whose key starts with `prefix`.
    pub fn with_prefix<'s>(
        &'s self,
        prefix: &'s str,
    ) -> impl Iterator<Item = (&'a str, &'a AnyValue)> + 's {
        self.attrs.iter().filter_map(move |kv| {
            (kv.key.starts_with(prefix)).then_some(())?;
            kv.value.as_ref().map(|v| (kv.key.as_str(), v))
        })
    }

    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.attrs.iter().any(|kv| kv.key.starts_with(prefix))
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Builds spans for the mapping unit tests.

    use super::*;
    use opentelemetry_proto::tonic::common::v1::any_value::Value;

    pub fn s(v: &str) -> AnyValue {
        AnyValue {
            value: Some(Value::StringValue(v.to_string())),
        }
    }

    pub fn i(v: i64) -> AnyValue {
        AnyValue {
            value: Some(Value::IntValue(v)),
        }
    }

    pub fn attrs(pairs: &[(&str, AnyValue)]) -> Vec<KeyValue> {
        pairs
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.to_string(),
                value: Some(v.clone()),
                key_strindex: 0,
            })
            .collect()
    }

    pub fn event(name: &str, pairs: &[(&str, AnyValue)]) -> Event {
        Event {
            name: name.to_string(),
            attributes: attrs(pairs),
            ..Default::default()
        }
    }

    pub static NO_RESOURCE: ResourceIdentity = ResourceIdentity {
        session_id: None,
        user_id: None,
        agent_name: None,
        agent_id: None,
    };
}
