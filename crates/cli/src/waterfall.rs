//! The terminal waterfall of `spyglass traces show`: the span tree beside bars scaled to time,
//! with kind, model, tokens, cost and errors. Pure text rendering, so it is testable.

use owo_colors::OwoColorize;
use serde::Deserialize;
use spyglass_model::{SpanKind, Status, TraceSummary, TreeRow};

#[derive(Deserialize)]
pub struct TraceTree {
    pub trace: TraceSummary,
    pub spans: Vec<TreeRow>,
}

pub fn fmt_duration(ns: i64) -> String {
    let ns = ns.max(0) as f64;
    if ns < 1e3 {
        format!("{ns:.0}ns")
    } else if ns < 1e6 {
        format!("{:.0}µs", ns / 1e3)
    } else if ns < 1e9 {
        format!("{:.1}ms", ns / 1e6)
    } else if ns < 60e9 {
        format!("{:.2}s", ns / 1e9)
    } else {
        let s = (ns / 1e9) as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

pub fn fmt_count(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

pub fn fmt_cost(c: f64) -> String {
    if c >= 1.0 {
        format!("${c:.2}")
    } else {
        format!("${c:.4}")
    }
}

fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return format!("{s:width$}");
    }
    let cut: String = s.chars().take(width.saturating_sub(1)).collect();
    format!("{cut}…")
}

struct Paint(bool);

impl Paint {
    fn kind(&self, k: SpanKind, s: &str) -> String {
        if !self.0 {
            return s.to_string();
        }
        match k {
            SpanKind::Llm => s.magenta().to_string(),
            SpanKind::Tool => s.yellow().to_string(),
            SpanKind::Agent => s.cyan().to_string(),
            SpanKind::Chain => s.blue().to_string(),
            SpanKind::Retriever | SpanKind::Embedding | SpanKind::Reranker => s.green().to_string(),
            _ => s.to_string(),
        }
    }
    fn error(&self, s: &str) -> String {
        if self.0 {
            s.red().bold().to_string()
        } else {
            s.to_string()
        }
    }
    fn dim(&self, s: &str) -> String {
        if self.0 {
            s.dimmed().to_string()
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        if self.0 {
            s.bold().to_string()
        } else {
            s.to_string()
        }
    }
}

/// Renders the trace for a terminal `width` columns wide.
pub fn render(t: &TraceTree, width: usize, color: bool) -> String {
    let p = Paint(color);
    let s = &t.trace;
    let mut out = String::new();
    let status = if s.error_count > 0 {
        p.error(&format!("✗ {} error(s)", s.error_count))
    } else if s.running_count > 0 {
        format!("… {} running", s.running_count)
    } else {
        "✓ ok".to_string()
    };
    let mut head = format!(
        "{}  {}  {}  {}  {} spans",
        p.bold(&format!("trace {}", s.trace_id)),
        s.name,
        status,
        s.duration_ns
            .map(fmt_duration)
            .unwrap_or_else(|| "running".into()),
        s.span_count
    );
    if let (Some(i), Some(o)) = (s.tokens.input, s.tokens.output) {
        head.push_str(&format!(
            "  tokens {} in / {} out",
            fmt_count(i),
            fmt_count(o)
        ));
    }
    if let Some(c) = s.cost_usd {
        head.push_str(&format!("  {}", fmt_cost(c)));
    }
    out.push_str(&head);
    out.push('\n');
    let mut meta = vec![format!("service {}", s.service_name)];
    if let Some(x) = &s.session_id {
        meta.push(format!("session {x}"));
    }
    if let Some(x) = &s.user_id {
        meta.push(format!("user {x}"));
    }
    out.push_str(&p.dim(&meta.join(" · ")));
    out.push_str("\n\n");

    let name_w = 44.min(width / 3).max(16);
    let kind_w = 9;
    let dur_w = 9;
    let detail_w = 34;
    let bar_w = width
        .saturating_sub(name_w + kind_w + dur_w + detail_w + 4)
        .max(10);
    let t0 = s.start_ns;
    let now_end = t
        .spans
        .iter()
        .filter_map(|r| r.span.end_ns)
        .max()
        .unwrap_or(t0);
    let total = (s.end_ns.unwrap_or(now_end).max(now_end) - t0).max(1) as f64;

    for row in &t.spans {
        let sp = &row.span;
        let indent = "  ".repeat(row.depth.min(12) as usize);
        let marker = if row.depth > 12 {
            format!("[{}]", row.depth)
        } else {
            String::new()
        };
        let name = truncate(&format!("{indent}{marker}{}", sp.name), name_w);
        let kind = format!("{:kind_w$}", sp.kind.as_str());
        let dur = format!(
            "{:>8}",
            sp.duration_ns
                .map(fmt_duration)
                .unwrap_or_else(|| "running".into())
        );
        let off = (((sp.start_ns - t0) as f64 / total) * bar_w as f64) as usize;
        let off = off.min(bar_w - 1);
        let len = match sp.duration_ns {
            Some(d) => (((d as f64 / total) * bar_w as f64).round() as usize).max(1),
            None => bar_w - off,
        };
        let len = len.min(bar_w - off);
        let fill = if sp.end_ns.is_none() { "▒" } else { "█" };
        let bar_body = fill.repeat(len);
        let bar_body = if sp.status == Status::Error {
            p.error(&bar_body)
        } else {
            p.kind(sp.kind, &bar_body)
        };
        let bar = format!(
            "{}{}{}",
            " ".repeat(off),
            bar_body,
            " ".repeat(bar_w - off - len)
        );
        let mut detail = Vec::new();
        if let Some(m) = &sp.model {
            detail.push(m.clone());
        } else if let Some(tn) = &sp.tool_name {
            detail.push(tn.clone());
        }
        if let (Some(i), Some(o)) = (sp.tokens.input, sp.tokens.output) {
            detail.push(format!("{}→{}", fmt_count(i), fmt_count(o)));
        }
        if let Some(c) = sp.cost_usd {
            detail.push(fmt_cost(c));
        }
        let mut detail = truncate(&detail.join(" "), detail_w);
        if sp.status == Status::Error {
            let msg = sp.status_message.as_deref().unwrap_or("error");
            detail = p.error(&truncate(&format!("✗ {msg}"), detail_w));
        }
        out.push_str(&format!(
            "{name} {} {dur} │{bar}│ {detail}\n",
            p.kind(sp.kind, &kind)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> TraceTree {
        let json = serde_json::json!({
            "trace": {
                "trace_id": "5b8efff798038103d269b633813fc60c", "root_span_id": "0000000000000001", "name": "invoke_agent planner",
                "service_name": "svc", "start_ns": 1000000000, "end_ns": 2000000000, "duration_ns": 1000000000,
                "span_count": 3, "error_count": 1, "running_count": 0, "status": "error",
                "tokens": {"input": 1840, "output": 96, "cache_read": null, "cache_write": null, "reasoning": null, "total": 1936},
                "cost_usd": 0.0042, "session_id": "s1", "user_id": "u1", "environment": null,
                "agents": [], "services": [], "models": [], "tools": [], "kinds": [],
                "input_preview": null, "output_preview": null, "last_received_ns": 0
            },
            "spans": [
                {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "0000000000000001", "parent_span_id": null,
                 "name": "invoke_agent planner", "service_name": "svc", "kind": "agent", "start_ns": 1000000000, "end_ns": 2000000000,
                 "duration_ns": 1000000000, "status": "unset", "status_message": null, "agent_name": "planner", "tool_name": null,
                 "provider": null, "model": null, "tokens": {"input": null, "output": null, "cache_read": null, "cache_write": null, "reasoning": null, "total": null},
                 "cost_usd": null, "cost_source": null, "depth": 0, "child_count": 2},
                {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "0000000000000002", "parent_span_id": "0000000000000001",
                 "name": "chat gpt-4o", "service_name": "svc", "kind": "llm", "start_ns": 1000000000, "end_ns": 1500000000,
                 "duration_ns": 500000000, "status": "ok", "status_message": null, "agent_name": null, "tool_name": null,
                 "provider": "openai", "model": "gpt-4o", "tokens": {"input": 1840, "output": 96, "cache_read": null, "cache_write": null, "reasoning": null, "total": 1936},
                 "cost_usd": 0.0042, "cost_source": "reported", "depth": 1, "child_count": 0},
                {"trace_id": "5b8efff798038103d269b633813fc60c", "span_id": "0000000000000003", "parent_span_id": "0000000000000001",
                 "name": "execute_tool run_sql", "service_name": "svc", "kind": "tool", "start_ns": 1500000000, "end_ns": 2000000000,
                 "duration_ns": 500000000, "status": "error", "status_message": "permission denied", "agent_name": null, "tool_name": "run_sql",
                 "provider": null, "model": null, "tokens": {"input": null, "output": null, "cache_read": null, "cache_write": null, "reasoning": null, "total": null},
                 "cost_usd": null, "cost_source": null, "depth": 1, "child_count": 0}
            ]
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn renders_tree_bars_and_errors() {
        let out = render(&tree(), 140, false);
        let lines: Vec<&str> = out.lines().collect();
        assert!(
            lines[0].contains("✗ 1 error(s)")
                && lines[0].contains("1,840 in / 96 out")
                && lines[0].contains("$0.0042"),
            "{out}"
        );
        assert!(lines[1].contains("session s1"));
        let llm = lines.iter().find(|l| l.contains("chat gpt-4o")).unwrap();
        assert!(llm.starts_with("  chat gpt-4o"), "indented child: {llm}");
        assert!(llm.contains("1,840→96"));
        let tool = lines.iter().find(|l| l.contains("run_sql")).unwrap();
        assert!(tool.contains("✗ permission denied"));
        // The tool bar starts halfway: more leading spaces inside the bar than the llm's.
        let bar = |l: &str| l.split('│').nth(1).unwrap().to_string();
        assert!(bar(tool).starts_with(' ') && !bar(llm).starts_with(' '));
        let width = bar(llm).chars().count();
        assert_eq!(bar(tool).chars().count(), width, "bars share one scale");
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_duration(850_000), "850µs");
        assert_eq!(fmt_duration(1_150_000_000), "1.15s");
        assert_eq!(fmt_duration(123_000_000_000), "2m03s");
        assert_eq!(fmt_count(1234567), "1,234,567");
        assert_eq!(fmt_cost(0.00421), "$0.0042");
    }
}
