//! What the facet and finding-count queries share across backends.

use crate::{Result, StoreError};
use spyglass_model::query::FindingCounts;
use spyglass_model::{Category, FacetValue, Severity};

/// Values listed per facet, most frequent first.
pub(crate) const MAX_FACET_VALUES: usize = 200;

/// Finding counts from `(facet, value, count)` rows ordered by facet, then count (descending):
/// `total` and `traces` (no value), then `severity` and `category` (stored codes), `detector`
/// and `agent`.
pub(crate) fn finding_counts_of(
    rows: impl IntoIterator<Item = (String, Option<String>, i64)>,
) -> Result<FindingCounts> {
    let mut out = FindingCounts::default();
    let name = |column: &'static str, v: &str, f: fn(u8) -> Option<&'static str>| {
        v.parse::<u8>()
            .ok()
            .and_then(f)
            .map(str::to_string)
            .ok_or_else(|| StoreError::Corrupt {
                column,
                message: v.to_string(),
            })
    };
    for (f, v, count) in rows {
        let v = v.unwrap_or_default();
        match f.as_str() {
            "total" => out.total = count,
            "traces" => out.traces = count,
            "severity" => out.by_severity.push(FacetValue {
                value: name("severity", &v, |c| {
                    Severity::from_code(c).map(Severity::as_str)
                })?,
                count,
            }),
            "category" => out.by_category.push(FacetValue {
                value: name("category", &v, |c| {
                    Category::from_code(c).map(Category::as_str)
                })?,
                count,
            }),
            "detector" if out.by_detector.len() < MAX_FACET_VALUES => {
                out.by_detector.push(FacetValue { value: v, count })
            }
            "agent" if out.by_agent.len() < MAX_FACET_VALUES => {
                out.by_agent.push(FacetValue { value: v, count })
            }
            _ => {}
        }
    }
    Ok(out)
}
