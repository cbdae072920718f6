//! Cost: every LLM and embedding span priced from its tokens, its model and the price in
//! effect when it ran. A cost the provider or SDK reported is kept (`reported`); a model no
//! table knows is `unpriced` (null cost), never $0.

mod compute;
mod date;
mod resolve;
pub mod table;

pub use compute::cost_usd;
pub use date::parse_day_ns;
pub use resolve::candidates;
pub use table::{Model, ModelEntry, PriceFile};

use crate::EngineError;
use serde::{Deserialize, Serialize};
use spyglass_model::{CostSource, Span, SpanKind, Tokens};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// The bundled price table; its header says where the prices come from and when.
pub const BUNDLED_PRICES: &str = include_str!("../../data/prices.toml");

/// The `[cost]` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostConfig {
    /// A price table (same format as the bundled one) used instead of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_table: Option<PathBuf>,
    /// Models added to the table, or replacing its entries, for every project.
    pub models: Vec<ModelEntry>,
    /// Deployment aliases: a name your spans report → a model name the tables know.
    pub aliases: BTreeMap<String, String>,
    /// Per project: models and aliases that win over the ones above.
    pub projects: BTreeMap<String, ProjectCost>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectCost {
    pub models: Vec<ModelEntry>,
    pub aliases: BTreeMap<String, String>,
}

/// One layer of prices: the bundled table, the configuration, or one project's overrides.
#[derive(Debug)]
struct Book {
    layer: Layer,
    entries: Vec<ModelEntry>,
    models: Vec<Model>,
    by_name: HashMap<String, Vec<usize>>,
    aliases: HashMap<String, String>,
}

impl Book {
    fn build(
        layer: Layer,
        source_name: &str,
        entries: &[ModelEntry],
        aliases: &BTreeMap<String, String>,
    ) -> Result<Book, EngineError> {
        let err = |message: String| EngineError::PriceTable {
            source_name: source_name.to_string(),
            message,
        };
        let mut book = Book {
            layer,
            entries: entries.to_vec(),
            models: Vec::with_capacity(entries.len()),
            by_name: HashMap::new(),
            aliases: HashMap::new(),
        };
        for e in entries {
            let model = e.validate().map_err(err)?;
            let i = book.models.len();
            for n in e.names() {
                let key = n.trim().to_ascii_lowercase();
                if key.is_empty() {
                    return Err(err(format!("{}: an empty name in `match`", e.id)));
                }
                book.by_name.entry(key).or_default().push(i);
            }
            book.models.push(model);
        }
        for (from, to) in aliases {
            book.aliases
                .insert(from.trim().to_ascii_lowercase(), to.clone());
        }
        Ok(book)
    }

    fn find(&self, key: &str, provider: Option<&str>) -> Option<&Model> {
        let hits = self.by_name.get(key)?;
        let family = provider.map(provider_family);
        hits.iter()
            .map(|&i| &self.models[i])
            .find(|m| family.is_some() && m.provider.as_deref().map(provider_family) == family)
            .or_else(|| hits.first().map(|&i| &self.models[i]))
    }
}

/// Where a price comes from, most specific first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Layer {
    Project,
    Config,
    Table,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Project => "project",
            Layer::Config => "config",
            Layer::Table => "table",
        }
    }
}

/// The cost of a request with `tokens` at `at_ns` under the entry `m` (if one was found).
fn priced(m: Option<&Model>, at_ns: i64, tokens: &Tokens) -> (Option<f64>, CostSource) {
    let cost = m.and_then(|m| cost_usd(m.price_at(at_ns), tokens));
    let source = if cost.is_some() {
        CostSource::Computed
    } else {
        CostSource::Unpriced
    };
    (cost, source)
}

/// Provider names as conventions report them (`aws.bedrock`, `gcp.vertex_ai`,
/// `azure.ai.openai`, `mistral_ai`) reduced to the names the price table uses.
fn provider_family(p: &str) -> &'static str {
    let p = p.to_ascii_lowercase();
    const FAMILIES: &[(&str, &str)] = &[
        ("bedrock", "aws.bedrock"),
        ("anthropic", "anthropic"),
        ("openai", "openai"),
        ("gemini", "google"),
        ("vertex", "google"),
        ("google", "google"),
        ("mistral", "mistral"),
        ("x_ai", "xai"),
        ("xai", "xai"),
        ("together", "together"),
        ("groq", "groq"),
        ("deepseek", "deepseek"),
        ("cohere", "cohere"),
    ];
    FAMILIES
        .iter()
        .find(|(needle, _)| p.contains(needle))
        .map_or("other", |(_, f)| f)
}

/// What the engine concluded for one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Quote {
    /// The table entry used and the layer it came from; `None` when no entry matched.
    pub model_id: Option<String>,
    pub layer: Option<Layer>,
    pub cost_usd: Option<f64>,
    pub source: CostSource,
}

pub struct CostEngine {
    bundled: Book,
    global: Book,
    projects: HashMap<String, Book>,
    as_of: String,
}

impl CostEngine {
    pub fn new(cfg: &CostConfig) -> Result<CostEngine, EngineError> {
        let (name, text) = match &cfg.price_table {
            Some(path) => (
                path.display().to_string(),
                std::fs::read_to_string(path).map_err(|e| EngineError::PriceTable {
                    source_name: path.display().to_string(),
                    message: e.to_string(),
                })?,
            ),
            None => (
                "bundled prices.toml".to_string(),
                BUNDLED_PRICES.to_string(),
            ),
        };
        let file = PriceFile::parse(&name, &text)?;
        let bundled = Book::build(Layer::Table, &name, &file.models, &BTreeMap::new())?;
        let global = Book::build(Layer::Config, "[cost]", &cfg.models, &cfg.aliases)?;
        let projects = cfg
            .projects
            .iter()
            .map(|(p, c)| {
                let name = format!("[cost.projects.{p}]");
                Book::build(Layer::Project, &name, &c.models, &c.aliases).map(|b| (p.clone(), b))
            })
            .collect::<Result<_, _>>()?;
        Ok(CostEngine {
            bundled,
            global,
            projects,
            as_of: file.meta.as_of,
        })
    }

    /// When the price table was last checked.
    pub fn as_of(&self) -> &str {
        &self.as_of
    }

    fn layers<'a>(&'a self, project: &str) -> impl Iterator<Item = &'a Book> + Clone {
        self.projects
            .get(project)
            .into_iter()
            .chain([&self.global, &self.bundled])
    }

    /// The table entry for a reported model name. For each candidate name, most specific
    /// first, a project's entries win over the configuration's, which win over the bundled
    /// table; an alias is followed once.
    pub fn resolve(&self, project: &str, model: &str, provider: Option<&str>) -> Option<&Model> {
        self.resolve_in(project, model, provider).map(|(m, _)| m)
    }

    /// Like [`CostEngine::resolve`], with the layer the entry came from.
    pub fn resolve_in(
        &self,
        project: &str,
        model: &str,
        provider: Option<&str>,
    ) -> Option<(&Model, Layer)> {
        let layers = self.layers(project);
        let find = |key: &str| {
            layers
                .clone()
                .find_map(|b| b.find(key, provider).map(|m| (m, b.layer)))
        };
        for key in candidates(model) {
            for book in layers.clone() {
                if let Some(target) = book.aliases.get(&key) {
                    return candidates(target).iter().find_map(|k| find(k));
                }
                if let Some(m) = book.find(&key, provider) {
                    return Some((m, book.layer));
                }
            }
        }
        None
    }

    /// Every model entry a project sees, with its layer: its own, the configuration's, the
    /// table's (entries a more specific layer overrides are listed too).
    pub fn entries(&self, project: &str) -> Vec<(Layer, &ModelEntry)> {
        self.layers(project)
            .flat_map(|b| b.entries.iter().map(move |e| (b.layer, e)))
            .collect()
    }

    /// Deployment aliases a project sees, most specific layer first.
    pub fn aliases(&self, project: &str) -> Vec<(Layer, &str, &str)> {
        self.layers(project)
            .flat_map(|b| {
                let mut a: Vec<_> = b
                    .aliases
                    .iter()
                    .map(move |(k, v)| (b.layer, k.as_str(), v.as_str()))
                    .collect();
                a.sort();
                a
            })
            .collect()
    }

    /// Prices one request as it would be priced on a span.
    pub fn quote(
        &self,
        project: &str,
        model: &str,
        provider: Option<&str>,
        at_ns: i64,
        tokens: &Tokens,
    ) -> Quote {
        let found = self.resolve_in(project, model, provider);
        let (cost_usd, source) = priced(found.map(|(m, _)| m), at_ns, tokens);
        Quote {
            model_id: found.map(|(m, _)| m.id.clone()),
            layer: found.map(|(_, l)| l),
            cost_usd,
            source,
        }
    }

    /// Sets `cost_usd` and `cost_source` on every LLM and embedding span that has a model
    /// and no reported cost. Other spans keep what normalization gave them: an agent span
    /// that sums its children's tokens must not be priced a second time.
    pub fn price_spans(&self, spans: &mut [Span]) {
        // A batch usually holds a handful of models: resolve each once.
        type Key = (Arc<str>, String, Option<String>);
        let mut memo: Vec<(Key, Option<&Model>)> = Vec::new();
        for s in spans.iter_mut() {
            if !matches!(s.kind, SpanKind::Llm | SpanKind::Embedding)
                || s.cost_source == Some(CostSource::Reported)
            {
                continue;
            }
            let Some(model) = s.model() else { continue };
            let provider = s.provider.as_deref();
            let found = memo.iter().find(|((p, m, pr), _)| {
                **p == *s.project_id && m == model && pr.as_deref() == provider
            });
            let m = match found {
                Some((_, m)) => *m,
                None => {
                    let m = self.resolve(&s.project_id, model, provider);
                    memo.push((
                        (
                            s.project_id.clone(),
                            model.to_string(),
                            provider.map(str::to_string),
                        ),
                        m,
                    ));
                    m
                }
            };
            let (cost, source) = priced(m, s.start_ns, &s.tokens);
            s.cost_usd = cost;
            s.cost_source = Some(source);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_table_is_valid() {
        let e = CostEngine::new(&CostConfig::default()).expect("bundled table parses");
        assert!(e.bundled.models.len() > 50);
        assert!(parse_day_ns(e.as_of()).is_some());
    }

    #[test]
    fn provider_families() {
        assert_eq!(provider_family("aws.bedrock"), "aws.bedrock");
        assert_eq!(provider_family("gcp.vertex_ai"), "google");
        assert_eq!(provider_family("azure.ai.openai"), "openai");
        assert_eq!(provider_family("mistral_ai"), "mistral");
        assert_eq!(provider_family("someone"), "other");
    }

    #[test]
    fn provider_breaks_ties_and_the_first_entry_wins_without_one() {
        let e = CostEngine::new(&CostConfig::default()).unwrap();
        let groq = e.resolve(
            "p",
            "meta-llama/llama-4-scout-17b-16e-instruct",
            Some("groq"),
        );
        assert_eq!(groq.unwrap().id, "llama-4-scout (groq)");
        let any = e.resolve("p", "meta-llama/Llama-4-Scout-17B-16E-Instruct", None);
        assert_eq!(any.unwrap().id, "llama-4-scout (together)");
    }
}
