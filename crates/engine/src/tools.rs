//! What a tool can do, from its name (and description when there is one), for the inventory,
//! attack paths and blast radius. Words of the name are matched against families in order of
//! consequence (moving money first, reading last), so `delete_file` is a write even though it
//! names a file and `send_email` is messaging even though it sends. Configuration overrides
//! win (`[tools.categories]`).

use serde::{Deserialize, Serialize};
use spyglass_model::topology::ToolCategory;
use std::collections::BTreeMap;

/// The `[tools]` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsConfig {
    /// Tool name → category, winning over the classifier.
    pub categories: BTreeMap<String, ToolCategory>,
}

/// Word families, most consequential first.
const FAMILIES: &[(ToolCategory, &[&str])] = &[
    (ToolCategory::McpServer, &["mcp"]),
    (
        ToolCategory::Payments,
        &[
            "pay", "payment", "payments", "charge", "refund", "invoice", "transfer", "stripe",
            "billing", "purchase", "wallet", "checkout", "payout",
        ],
    ),
    (
        ToolCategory::Messaging,
        &[
            "email",
            "mail",
            "gmail",
            "slack",
            "sms",
            "notify",
            "notification",
            "tweet",
            "discord",
            "telegram",
            "whatsapp",
            "message",
            "reply",
            "post",
            "send",
        ],
    ),
    (
        ToolCategory::CodeExecution,
        &[
            "exec",
            "execute",
            "python",
            "shell",
            "bash",
            "terminal",
            "command",
            "cmd",
            "eval",
            "interpreter",
            "sandbox",
            "subprocess",
            "script",
            "repl",
            "code",
            "run",
        ],
    ),
    (
        ToolCategory::Write,
        &[
            "write", "create", "update", "delete", "remove", "insert", "upsert", "save", "put",
            "edit", "modify", "set", "commit", "push", "deploy", "upload", "move", "rename",
            "drop", "patch", "append", "cancel", "schedule",
        ],
    ),
    (
        ToolCategory::NetworkFetch,
        &[
            "fetch", "http", "https", "url", "browse", "browser", "scrape", "crawl", "web",
            "search", "download", "curl", "wget", "google", "bing", "tavily", "serp", "page",
            "website", "internet",
        ],
    ),
    (
        ToolCategory::DataStore,
        &[
            "sql",
            "query",
            "db",
            "database",
            "vector",
            "retrieve",
            "retriever",
            "rag",
            "redis",
            "mongo",
            "postgres",
            "mysql",
            "sqlite",
            "index",
            "memory",
            "kb",
            "knowledge",
            "documents",
            "docs",
        ],
    ),
    (
        ToolCategory::ReadOnly,
        &[
            "get",
            "read",
            "list",
            "lookup",
            "find",
            "describe",
            "view",
            "show",
            "weather",
            "calc",
            "calculator",
            "calculate",
            "time",
            "date",
            "convert",
            "math",
            "check",
            "status",
            "info",
        ],
    ),
];

/// The words of a tool name: split on anything not alphanumeric and on lower→upper case
/// changes, lowercased (`searchWeb` → search, web; `mcp__github__create_issue` → mcp, github,
/// create, issue).
fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if !ch.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if ch.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = ch.is_lowercase() || ch.is_ascii_digit();
        cur.extend(ch.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[derive(Debug, Clone, Default)]
pub struct ToolClassifier {
    overrides: BTreeMap<String, ToolCategory>,
}

impl ToolClassifier {
    pub fn new(cfg: &ToolsConfig) -> Self {
        ToolClassifier {
            overrides: cfg.categories.clone(),
        }
    }

    /// The category of a tool by its name, and its description when the name says nothing.
    pub fn classify(&self, name: &str, description: Option<&str>) -> ToolCategory {
        if let Some(c) = self.overrides.get(name) {
            return *c;
        }
        let from = |text: &str| {
            let w = words(text);
            FAMILIES
                .iter()
                .find(|(_, family)| w.iter().any(|x| family.contains(&x.as_str())))
                .map(|(c, _)| *c)
        };
        from(name)
            .or_else(|| description.and_then(from))
            .unwrap_or(ToolCategory::Unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_common_agent_tools() {
        let c = ToolClassifier::default();
        for (name, want) in [
            ("send_email", ToolCategory::Messaging),
            ("slack_post_message", ToolCategory::Messaging),
            ("python_repl", ToolCategory::CodeExecution),
            ("execute_code", ToolCategory::CodeExecution),
            ("run_shell_command", ToolCategory::CodeExecution),
            ("delete_file", ToolCategory::Write),
            ("createIssue", ToolCategory::Write),
            ("web_search", ToolCategory::NetworkFetch),
            ("fetchUrl", ToolCategory::NetworkFetch),
            ("tavily_search_results_json", ToolCategory::NetworkFetch),
            ("sql_db_query", ToolCategory::DataStore),
            ("vector_store_retriever", ToolCategory::DataStore),
            ("get_weather", ToolCategory::ReadOnly),
            ("calculator", ToolCategory::ReadOnly),
            ("stripe_create_refund", ToolCategory::Payments),
            ("mcp__github__create_issue", ToolCategory::McpServer),
            ("frobnicate", ToolCategory::Unknown),
        ] {
            assert_eq!(c.classify(name, None), want, "{name}");
        }
    }

    #[test]
    fn descriptions_help_and_overrides_win() {
        let mut cfg = ToolsConfig::default();
        cfg.categories
            .insert("get_weather".into(), ToolCategory::NetworkFetch);
        let c = ToolClassifier::new(&cfg);
        assert_eq!(c.classify("get_weather", None), ToolCategory::NetworkFetch);
        assert_eq!(
            c.classify("zork", Some("Sends an e-mail to the customer")),
            ToolCategory::Messaging
        );
    }
}
