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
use std::sync::{Arc, PoisonError, RwLock};

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

/// One project's own models and aliases: `[cost.projects.<id>]` in the configuration, or the
/// overrides set through the API (`PUT /api/v1/prices/overrides`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectCost {
    /// Models added, or replacing entries of the same names, for this project.
    pub models: Vec<ModelEntry>,
    /// A name spans report → a model name the tables know.
    pub aliases: BTreeMap<String, String>,
}

impl ProjectCost {
    /// The JSON document stored for overrides set through the API.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("prices serialize")
    }

    /// Reads a document written by [`ProjectCost::to_json`]; `source_name` says where it
    /// came from in the error.
    pub fn from_json(source_name: &str, text: &str) -> Result<ProjectCost, EngineError> {
        serde_json::from_str(text).map_err(|e| EngineError::PriceTable {
            source_name: source_name.to_string(),
            message: e.to_string(),
        })
    }
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
    /// The project's overrides set through the API.
    Override,
    /// The project's section of the configuration (`[cost.projects.<id>]`).
    Project,
    Config,
    Table,
}

impl Layer {
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Override => "override",
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

/// A project's overrides as they were set, and the layer built from them.
#[derive(Debug)]
struct Overrides {
    cost: ProjectCost,
    book: Book,
}

pub struct CostEngine {
    bundled: Book,
    global: Book,
    projects: HashMap<String, Book>,
    /// Overrides set at run time, per project. The engine is shared by ingest and the API, so
    /// this layer alone is mutable: a batch takes the read lock once to price all its spans;
    /// a change builds the new layer outside the lock and swaps it in.
    overrides: RwLock<HashMap<String, Arc<Overrides>>>,
    as_of: String,
}

type OverrideMap = HashMap<String, Arc<Overrides>>;

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
            overrides: RwLock::default(),
            as_of: file.meta.as_of,
        })
    }

    /// Sets (or with `None` removes) a project's overrides, the layer searched before every
    /// other. Invalid overrides are refused with the entry and the reason, and the project
    /// keeps the ones it had.
    pub fn set_project_overrides(
        &self,
        project: &str,
        cost: Option<ProjectCost>,
    ) -> Result<(), EngineError> {
        let built = cost
            .map(|cost| {
                Self::build_overrides(project, &cost).map(|book| Arc::new(Overrides { cost, book }))
            })
            .transpose()?;
        // A poisoned lock still holds a whole map: inserts and removals cannot be torn.
        let mut map = self
            .overrides
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        match built {
            Some(o) => map.insert(project.to_string(), o),
            None => map.remove(project),
        };
        Ok(())
    }

    /// Checks overrides as [`CostEngine::set_project_overrides`] would, without applying them
    /// (so a caller can refuse them before storing them).
    pub fn check_project_overrides(project: &str, cost: &ProjectCost) -> Result<(), EngineError> {
        Self::build_overrides(project, cost).map(drop)
    }

    fn build_overrides(project: &str, cost: &ProjectCost) -> Result<Book, EngineError> {
        Book::build(
            Layer::Override,
            &format!("overrides of project {project}"),
            &cost.models,
            &cost.aliases,
        )
    }

    /// The overrides set for a project, as they were given.
    pub fn project_overrides(&self, project: &str) -> Option<ProjectCost> {
        self.read_overrides().get(project).map(|o| o.cost.clone())
    }

    fn read_overrides(&self) -> std::sync::RwLockReadGuard<'_, OverrideMap> {
        self.overrides
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// When the price table was last checked.
    pub fn as_of(&self) -> &str {
        &self.as_of
    }

    /// The layers a project sees, most specific first; `over` is its entry of the override
    /// map, which the caller holds the read lock of.
    fn layers<'a>(
        &'a self,
        over: Option<&'a Overrides>,
        project: &str,
    ) -> impl Iterator<Item = &'a Book> + Clone {
        over.map(|o| &o.book)
            .into_iter()
            .chain(self.projects.get(project))
            .chain([&self.global, &self.bundled])
    }

    /// The table entry for a reported model name. For each candidate name, most specific
    /// first, a project's entries (its overrides, then its configuration) win over the
    /// configuration's, which win over the bundled table; an alias is followed once.
    pub fn resolve(&self, project: &str, model: &str, provider: Option<&str>) -> Option<Model> {
        self.resolve_in(project, model, provider).map(|(m, _)| m)
    }

    /// Like [`CostEngine::resolve`], with the layer the entry came from.
    pub fn resolve_in(
        &self,
        project: &str,
        model: &str,
        provider: Option<&str>,
    ) -> Option<(Model, Layer)> {
        let map = self.read_overrides();
        self.resolve_with(map.get(project).map(|o| &**o), project, model, provider)
            .map(|(m, l)| (m.clone(), l))
    }

    fn resolve_with<'a>(
        &'a self,
        over: Option<&'a Overrides>,
        project: &str,
        model: &str,
        provider: Option<&str>,
    ) -> Option<(&'a Model, Layer)> {
        let layers = self.layers(over, project);
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
    pub fn entries(&self, project: &str) -> Vec<(Layer, ModelEntry)> {
        let map = self.read_overrides();
        self.layers(map.get(project).map(|o| &**o), project)
            .flat_map(|b| b.entries.iter().map(move |e| (b.layer, e.clone())))
            .collect()
    }

    /// Deployment aliases a project sees, most specific layer first.
    pub fn aliases(&self, project: &str) -> Vec<(Layer, String, String)> {
        let map = self.read_overrides();
        self.layers(map.get(project).map(|o| &**o), project)
            .flat_map(|b| {
                let mut a: Vec<_> = b
                    .aliases
                    .iter()
                    .map(move |(k, v)| (b.layer, k.clone(), v.clone()))
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
        let map = self.read_overrides();
        let found = self.resolve_with(map.get(project).map(|o| &**o), project, model, provider);
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
        // One read lock for the whole batch: ingest never locks per span, and an override
        // change waits at most for the batch being priced.
        let map = self.read_overrides();
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
                    let over = map.get(&*s.project_id).map(|o| &**o);
                    let m = self
                        .resolve_with(over, &s.project_id, model, provider)
                        .map(|(m, _)| m);
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

    fn entry(id: &str, names: &[&str], input: f64) -> ModelEntry {
        ModelEntry {
            id: id.into(),
            provider: None,
            names: names.iter().map(|n| n.to_string()).collect(),
            prices: vec![table::PriceEntry {
                from: "2024-01-01".into(),
                rates: table::Rates {
                    input,
                    output: 4.0 * input,
                    ..Default::default()
                },
                tiers: vec![],
            }],
        }
    }

    /// One million input tokens, so the cost is the input rate.
    fn million_in() -> Tokens {
        Tokens {
            input: Some(1_000_000),
            output: Some(0),
            ..Default::default()
        }
    }

    fn priced_cost(e: &CostEngine, project: &str, model: &str) -> Option<f64> {
        use spyglass_model::{SpanId, TraceId};
        let at = parse_day_ns("2025-06-01").unwrap();
        let mut s = Span::new(TraceId::from_u128(1), SpanId::from_u64(1), "chat", at);
        s.project_id = project.into();
        s.kind = SpanKind::Llm;
        s.request_model = Some(model.into());
        s.tokens = million_in();
        let mut spans = [s];
        e.price_spans(&mut spans);
        spans[0].cost_usd
    }

    fn layer_of(e: &CostEngine, project: &str, model: &str) -> Option<Layer> {
        e.quote(project, model, None, 0, &million_in()).layer
    }

    #[test]
    fn overrides_win_over_the_configuration_and_removal_restores_it() {
        let e = CostEngine::new(&CostConfig {
            projects: BTreeMap::from([(
                "acme".to_string(),
                ProjectCost {
                    models: vec![entry("gpt-4o (contract)", &["gpt-4o"], 2.0)],
                    aliases: BTreeMap::new(),
                },
            )]),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(priced_cost(&e, "acme", "gpt-4o"), Some(2.0));
        assert_eq!(layer_of(&e, "acme", "gpt-4o"), Some(Layer::Project));
        assert_eq!(priced_cost(&e, "acme", "acme-llm"), None);

        let over = ProjectCost {
            models: vec![
                entry("gpt-4o (renegotiated)", &["gpt-4o"], 1.5),
                entry("acme-llm", &[], 0.5),
            ],
            aliases: BTreeMap::from([("Support-Bot".to_string(), "acme-llm".to_string())]),
        };
        e.set_project_overrides("acme", Some(over.clone())).unwrap();
        assert_eq!(priced_cost(&e, "acme", "gpt-4o"), Some(1.5));
        assert_eq!(priced_cost(&e, "acme", "acme-llm"), Some(0.5));
        assert_eq!(priced_cost(&e, "acme", "support-bot"), Some(0.5));
        let q = e.quote("acme", "gpt-4o", None, 0, &million_in());
        assert_eq!(q.layer, Some(Layer::Override));
        assert_eq!(q.model_id.as_deref(), Some("gpt-4o (renegotiated)"));
        assert_eq!(e.project_overrides("acme"), Some(over));
        let entries = e.entries("acme");
        assert_eq!(
            (entries[0].0, entries[0].1.id.as_str()),
            (Layer::Override, "gpt-4o (renegotiated)")
        );
        assert!(
            entries
                .iter()
                .any(|(l, m)| *l == Layer::Project && m.id == "gpt-4o (contract)")
        );
        assert_eq!(
            e.aliases("acme")[0],
            (
                Layer::Override,
                "support-bot".to_string(),
                "acme-llm".to_string()
            )
        );
        // Another project sees none of it.
        assert_eq!(layer_of(&e, "other", "gpt-4o"), Some(Layer::Table));
        assert_eq!(priced_cost(&e, "other", "acme-llm"), None);
        assert_eq!(e.project_overrides("other"), None);

        e.set_project_overrides("acme", None).unwrap();
        assert_eq!(priced_cost(&e, "acme", "gpt-4o"), Some(2.0));
        assert_eq!(layer_of(&e, "acme", "gpt-4o"), Some(Layer::Project));
        assert_eq!(priced_cost(&e, "acme", "acme-llm"), None);
        assert_eq!(e.project_overrides("acme"), None);
        assert!(e.entries("acme").iter().all(|(l, _)| *l != Layer::Override));
    }

    #[test]
    fn invalid_overrides_are_refused_and_the_previous_ones_kept() {
        let e = CostEngine::new(&CostConfig::default()).unwrap();
        let good = ProjectCost {
            models: vec![entry("acme-llm", &[], 0.5)],
            aliases: BTreeMap::new(),
        };
        e.set_project_overrides("p", Some(good.clone())).unwrap();
        let mut bad_date = good.clone();
        bad_date.models[0].prices[0].from = "May 1st".into();
        let mut negative = good.clone();
        negative.models[0].prices[0].rates.input = -1.0;
        let mut no_prices = good.clone();
        no_prices.models[0].prices.clear();
        for (bad, reason) in [
            (bad_date, "YYYY-MM-DD"),
            (negative, "non-negative"),
            (no_prices, "no prices"),
        ] {
            let err = e
                .set_project_overrides("p", Some(bad.clone()))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("overrides of project p") && err.contains(reason),
                "{err}"
            );
            assert!(CostEngine::check_project_overrides("p", &bad).is_err());
        }
        assert!(CostEngine::check_project_overrides("p", &good).is_ok());
        assert_eq!(e.project_overrides("p"), Some(good));
        assert_eq!(priced_cost(&e, "p", "acme-llm"), Some(0.5));
    }
}
