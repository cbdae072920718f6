//! The price table format (crates/engine/data/prices.toml, and the `[cost]` section of the
//! configuration) and its validated, effective-dated form.

use super::date;
use crate::EngineError;
use serde::{Deserialize, Serialize};

/// US dollars per million tokens.
pub type PerMillion = f64;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriceFile {
    #[serde(default)]
    pub meta: Meta,
    #[serde(default)]
    pub models: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// When the whole table was last checked (YYYY-MM-DD).
    #[serde(default)]
    pub as_of: String,
}

/// One model and its prices over time, as written in a price file or the configuration.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// The name Spyglass shows for the model.
    pub id: String,
    /// Breaks ties between entries that list the same name (hosts pricing one model apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Names and deployment aliases that mean this model; `id` when empty.
    #[serde(rename = "match", default)]
    pub names: Vec<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<PriceEntrySchema>))]
    pub prices: Vec<PriceEntry>,
}

// The OpenAPI schema of `PriceEntry`, spelled out: a derived one renders the flattened rates
// as an `allOf` whose rates part, closed to other fields, would refuse `from`.
/// A price in effect from a day on, US dollars per million tokens.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(as = PriceEntry)]
#[allow(dead_code)]
struct PriceEntrySchema {
    /// First day (UTC, YYYY-MM-DD) this price applies.
    from: String,
    /// US dollars per million input tokens (uncached).
    input: f64,
    /// US dollars per million output tokens.
    output: f64,
    /// Per million cached input tokens read; default the input rate.
    cache_read: Option<f64>,
    /// Per million input tokens written to the cache; default the input rate.
    cache_write: Option<f64>,
    /// Per million reasoning tokens; default the output rate.
    reasoning: Option<f64>,
    audio_input: Option<f64>,
    audio_output: Option<f64>,
    /// Long-context tiers.
    tiers: Option<Vec<TierEntry>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    /// First day (UTC, YYYY-MM-DD) this price applies.
    pub from: String,
    #[serde(flatten)]
    pub rates: Rates,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<TierEntry>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rates {
    pub input: PerMillion,
    pub output: PerMillion,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<PerMillion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<PerMillion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<PerMillion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_input: Option<PerMillion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_output: Option<PerMillion>,
}

// Rates are spelled `f64` rather than `PerMillion`: the OpenAPI schema cannot follow an alias.
/// Long-context pricing: a request with more input tokens than the threshold is priced
/// entirely at these rates (US dollars per million tokens); a rate left out keeps the base
/// price.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TierEntry {
    pub above_input_tokens: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
}

/// A validated model: prices sorted by effective time.
#[derive(Debug, Clone)]
pub struct Model {
    pub id: String,
    pub provider: Option<String>,
    /// (effective from, in ns since the epoch; the price).
    pub prices: Vec<(i64, Price)>,
}

/// Rates with every fallback resolved, tiers sorted by threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Price {
    pub base: Resolved,
    pub tiers: Vec<(i64, Resolved)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resolved {
    pub input: PerMillion,
    pub output: PerMillion,
    pub cache_read: PerMillion,
    pub cache_write: PerMillion,
    pub reasoning: PerMillion,
}

impl Price {
    /// The rates for a request with `input_tokens` of input.
    pub fn for_input(&self, input_tokens: i64) -> &Resolved {
        self.tiers
            .iter()
            .rev()
            .find(|(above, _)| input_tokens > *above)
            .map_or(&self.base, |(_, r)| r)
    }
}

impl Model {
    /// The price in effect at `at_ns`; before the first date, the first price.
    pub fn price_at(&self, at_ns: i64) -> &Price {
        let i = self.prices.partition_point(|(from, _)| *from <= at_ns);
        &self.prices[i.saturating_sub(1)].1
    }
}

fn rate(name: &str, field: &str, v: PerMillion) -> Result<PerMillion, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!(
            "{name}: {field} must be a non-negative number, got {v}"
        ))
    }
}

impl ModelEntry {
    pub fn validate(&self) -> Result<Model, String> {
        let name = &self.id;
        if name.trim().is_empty() {
            return Err("a model has an empty id".into());
        }
        if self.prices.is_empty() {
            return Err(format!("{name}: no prices"));
        }
        let mut prices = Vec::with_capacity(self.prices.len());
        for p in &self.prices {
            let from = date::parse_day_ns(&p.from)
                .ok_or_else(|| format!("{name}: `from` {:?} is not a YYYY-MM-DD date", p.from))?;
            let r = &p.rates;
            let input = rate(name, "input", r.input)?;
            let output = rate(name, "output", r.output)?;
            let opt = |f: &str, v: Option<PerMillion>, default: PerMillion| {
                v.map_or(Ok(default), |v| rate(name, f, v))
            };
            for (f, v) in [
                ("audio_input", r.audio_input),
                ("audio_output", r.audio_output),
            ] {
                opt(f, v, 0.0)?;
            }
            let base = Resolved {
                input,
                output,
                cache_read: opt("cache_read", r.cache_read, input)?,
                cache_write: opt("cache_write", r.cache_write, input)?,
                reasoning: opt("reasoning", r.reasoning, output)?,
            };
            let mut tiers = Vec::with_capacity(p.tiers.len());
            for t in &p.tiers {
                if t.above_input_tokens < 0 {
                    return Err(format!("{name}: tier threshold must not be negative"));
                }
                let input = opt("tier input", t.input, base.input)?;
                let output = opt("tier output", t.output, base.output)?;
                tiers.push((
                    t.above_input_tokens,
                    Resolved {
                        input,
                        output,
                        cache_read: opt("tier cache_read", t.cache_read, base.cache_read)?,
                        cache_write: opt("tier cache_write", t.cache_write, base.cache_write)?,
                        reasoning: opt("tier reasoning", t.reasoning, base.reasoning)?,
                    },
                ));
            }
            tiers.sort_by_key(|(above, _)| *above);
            prices.push((from, Price { base, tiers }));
        }
        prices.sort_by_key(|(from, _)| *from);
        if prices.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(format!("{name}: two prices start on the same day"));
        }
        Ok(Model {
            id: self.id.clone(),
            provider: self.provider.clone(),
            prices,
        })
    }

    /// The names this entry answers to.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let own = self.names.is_empty().then_some(self.id.as_str());
        self.names.iter().map(String::as_str).chain(own)
    }
}

impl PriceFile {
    pub fn parse(source_name: &str, text: &str) -> Result<PriceFile, EngineError> {
        toml::from_str(text).map_err(|e| EngineError::PriceTable {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(text: &str) -> ModelEntry {
        let f = PriceFile::parse("test", text).unwrap();
        f.models.into_iter().next().unwrap()
    }

    #[test]
    fn fallbacks_and_tiers() {
        let m = entry(
            r#"[[models]]
id = "m"
prices = [{ from = "2025-01-01", input = 2.0, output = 8.0, cache_read = 0.5, tiers = [
  { above_input_tokens = 1000, input = 4.0 },
] }]"#,
        )
        .validate()
        .unwrap();
        let p = m.price_at(0);
        assert_eq!(
            p.base.cache_write, 2.0,
            "cache writes default to the input rate"
        );
        assert_eq!(
            p.base.reasoning, 8.0,
            "reasoning defaults to the output rate"
        );
        assert_eq!(
            p.for_input(1000).input,
            2.0,
            "the threshold itself is not above it"
        );
        let tier = p.for_input(1001);
        assert_eq!((tier.input, tier.output, tier.cache_read), (4.0, 8.0, 0.5));
    }

    #[test]
    fn price_at_picks_the_latest_effective_entry() {
        let m = entry(
            r#"[[models]]
id = "m"
prices = [{ from = "2025-06-01", input = 1.0, output = 1.0 }, { from = "2025-01-01", input = 3.0, output = 3.0 }]"#,
        )
        .validate()
        .unwrap();
        let day = |d: &str| date::parse_day_ns(d).unwrap();
        assert_eq!(m.price_at(day("2024-01-01")).base.input, 3.0);
        assert_eq!(m.price_at(day("2025-05-31")).base.input, 3.0);
        assert_eq!(m.price_at(day("2025-06-01")).base.input, 1.0);
        assert_eq!(m.price_at(i64::MAX).base.input, 1.0);
    }

    #[test]
    fn invalid_entries_are_refused_with_the_reason() {
        let bad = [
            (
                r#"id = "m"
prices = []"#,
                "no prices",
            ),
            (
                r#"id = "m"
prices = [{ from = "2025-13-01", input = 1.0, output = 1.0 }]"#,
                "not a YYYY-MM-DD",
            ),
            (
                r#"id = "m"
prices = [{ from = "2025-01-01", input = -1.0, output = 1.0 }]"#,
                "non-negative",
            ),
            (
                r#"id = "m"
prices = [{ from = "2025-01-01", input = 1.0, output = 1.0 }, { from = "2025-01-01", input = 2.0, output = 1.0 }]"#,
                "same day",
            ),
        ];
        for (text, reason) in bad {
            let e = entry(&format!("[[models]]\n{text}"))
                .validate()
                .unwrap_err();
            assert!(e.contains(reason), "{e}");
        }
        assert!(PriceFile::parse("t", "[[models]]\nid = 1").is_err());
        assert!(
            PriceFile::parse("t", "[[models]]\nid = \"m\"\nprice = []").is_err(),
            "unknown keys are refused"
        );
    }
}
