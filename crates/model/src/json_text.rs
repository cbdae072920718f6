//! JSON kept as text. Attributes, events and messages travel from the decoder to the store as
//! already-serialized JSON so the hot path never builds a `serde_json::Value` tree; the API
//! embeds the text as raw JSON when it answers.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use std::fmt;

/// A string that holds one valid JSON value (an object, for attribute maps).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct JsonText(String);

impl JsonText {
    /// The empty JSON object.
    pub fn empty_object() -> Self {
        JsonText("{}".to_string())
    }

    /// The empty JSON array.
    pub fn empty_array() -> Self {
        JsonText("[]".to_string())
    }

    /// Wraps text the caller produced with a JSON writer. Debug builds check it parses.
    pub fn from_trusted(s: String) -> Self {
        debug_assert!(
            serde_json::from_str::<&RawValue>(&s).is_ok(),
            "not valid JSON: {s}"
        );
        JsonText(s)
    }

    /// Wraps text from outside (storage, users), checking that it is JSON.
    pub fn parse(s: String) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<&RawValue>(&s)?;
        Ok(JsonText(s))
    }

    pub fn from_value(v: &serde_json::Value) -> Self {
        JsonText(v.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    pub fn to_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.0).unwrap_or(serde_json::Value::Null)
    }

    /// True for `{}`, `[]`, `null` and the empty string.
    pub fn is_empty_container(&self) -> bool {
        matches!(self.0.trim(), "" | "{}" | "[]" | "null")
    }
}

#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for JsonText {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .description(Some(
                "JSON value (an object for attribute maps), kept verbatim",
            ))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for JsonText {}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = if self.0.is_empty() { "null" } else { &self.0 };
        match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) => raw.serialize(s),
            Err(_) => s.serialize_none(),
        }
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(d)?;
        Ok(JsonText(raw.get().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_as_raw_json() {
        #[derive(Serialize, Deserialize)]
        struct W {
            a: JsonText,
        }
        let w = W {
            a: JsonText::parse(r#"{"k":[1,"x"]}"#.into()).unwrap(),
        };
        let s = serde_json::to_string(&w).unwrap();
        assert_eq!(s, r#"{"a":{"k":[1,"x"]}}"#);
        let back: W = serde_json::from_str(&s).unwrap();
        assert_eq!(back.a.as_str(), r#"{"k":[1,"x"]}"#);
    }

    #[test]
    fn rejects_invalid_text() {
        assert!(JsonText::parse("{nope".into()).is_err());
    }
}
