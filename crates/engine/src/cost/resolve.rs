//! Model names as instrumentations report them, reduced step by step to the names a price
//! table lists: `OpenAI/gpt-4o-2024-08-06`, `us.anthropic.claude-3-5-sonnet-20241022-v2:0`,
//! `claude-3-5-sonnet-v2@20241022` and `models/gemini-2.0-flash-001` all find their model.

/// Lookup keys for a reported model name, most specific first. The full name comes first so
/// that a table can price a snapshot apart from its family.
pub fn candidates(raw: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(6);
    let mut push = |s: &str| {
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    };
    let lower = raw.trim().to_ascii_lowercase();
    push(&lower);

    // `openai/gpt-4o`, `models/gemini-2.5-pro`, `accounts/fireworks/models/x`.
    let mut name = lower.rsplit('/').next().unwrap_or(&lower);
    push(name);

    // Vertex AI snapshots: `claude-3-5-sonnet-v2@20241022`.
    if let Some((base, _)) = name.split_once('@') {
        name = base;
        push(name);
    }

    // Bedrock: an optional cross-region prefix, the vendor, a version suffix.
    let unprefixed = strip_bedrock_prefix(name);
    if unprefixed.len() != name.len() {
        name = unprefixed;
        push(name);
    }
    if let Some(base) = strip_bedrock_version(name) {
        name = base;
        push(name);
    }

    // Dated snapshots and release suffixes, one at a time.
    while let Some(base) = strip_snapshot_suffix(name) {
        name = base;
        push(name);
    }

    // OpenRouter and friends write versions with dots: `claude-3.5-sonnet`.
    let dashed = dots_between_digits_to_dashes(name);
    if dashed != name {
        push(&dashed);
        let mut d = dashed.as_str();
        while let Some(base) = strip_snapshot_suffix(d) {
            d = base;
            push(d);
        }
    }
    out
}

const BEDROCK_REGIONS: &[&str] = &["us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au."];
const BEDROCK_VENDORS: &[&str] = &[
    "anthropic.",
    "meta.",
    "amazon.",
    "mistral.",
    "cohere.",
    "ai21.",
    "deepseek.",
    "writer.",
    "openai.",
    "qwen.",
];

fn strip_bedrock_prefix(name: &str) -> &str {
    let mut n = name;
    if let Some(r) = BEDROCK_REGIONS.iter().find_map(|p| n.strip_prefix(p))
        && BEDROCK_VENDORS.iter().any(|v| r.starts_with(v))
    {
        n = r;
    }
    BEDROCK_VENDORS
        .iter()
        .find_map(|v| n.strip_prefix(v))
        .unwrap_or(n)
}

/// `-v1:0`, `-v2:0`, `-v1`, `:0`.
fn strip_bedrock_version(name: &str) -> Option<&str> {
    let (base, tail) = match name.rsplit_once(':') {
        Some((b, t)) if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) => (b, true),
        _ => (name, false),
    };
    if let Some((b, v)) = base.rsplit_once("-v")
        && !v.is_empty()
        && v.bytes().all(|c| c.is_ascii_digit())
    {
        return Some(b);
    }
    tail.then_some(base)
}

fn all_digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|c| c.is_ascii_digit())
}

/// One trailing snapshot marker: `-2024-08-06`, `-08-2024` (Cohere), `-05-20` (Gemini
/// previews), `-20240620`, `-0613`, `-001`, `-latest`, `-preview`, `-exp`.
fn strip_snapshot_suffix(name: &str) -> Option<&str> {
    let mut parts = name.rsplitn(4, '-');
    let last = parts.next()?;
    let mid = parts.next();
    let first = parts.next();
    let rest_len = |n: usize| {
        // Length of the name without its last `n` segments and their dashes.
        let tail: usize = [Some(last), mid, first][..n]
            .iter()
            .flatten()
            .map(|s| s.len() + 1)
            .sum();
        name.len().checked_sub(tail).filter(|&l| l > 0)
    };
    let two = |s: Option<&str>| s.is_some_and(|s| all_digits(s, 2));
    let four = |s: Option<&str>| s.is_some_and(|s| all_digits(s, 4));
    let cut = if four(first) && two(mid) && two(Some(last)) {
        rest_len(3)
    } else if two(mid) && (four(Some(last)) || two(Some(last))) {
        rest_len(2)
    } else if matches!(last, "latest" | "preview" | "exp")
        || all_digits(last, 8)
        || all_digits(last, 4)
        || all_digits(last, 3)
    {
        rest_len(1)
    } else {
        None
    };
    cut.map(|l| &name[..l])
}

fn dots_between_digits_to_dashes(name: &str) -> String {
    let b = name.as_bytes();
    name.char_indices()
        .map(|(i, c)| {
            let between_digits = c == '.'
                && i > 0
                && b[i - 1].is_ascii_digit()
                && b.get(i + 1).is_some_and(|n| n.is_ascii_digit());
            if between_digits { '-' } else { c }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reduces_to(raw: &str, want: &str) {
        let c = candidates(raw);
        assert!(c.iter().any(|s| s == want), "{raw} → {c:?} lacks {want}");
    }

    #[test]
    fn reported_names_reduce_to_table_names() {
        for (raw, want) in [
            ("gpt-4o-2024-08-06", "gpt-4o"),
            ("OpenAI/GPT-4o-mini", "gpt-4o-mini"),
            ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
            ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet"),
            ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet-v2"),
            (
                "us.anthropic.claude-3-5-sonnet-20241022-v2:0",
                "claude-3-5-sonnet",
            ),
            ("anthropic.claude-3-haiku-20240307-v1:0", "claude-3-haiku"),
            ("meta.llama3-3-70b-instruct-v1:0", "llama3-3-70b-instruct"),
            ("amazon.titan-embed-text-v2:0", "titan-embed-text"),
            ("models/gemini-2.0-flash-001", "gemini-2.0-flash"),
            ("gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"),
            ("command-r-plus-08-2024", "command-r-plus"),
            (
                "meta-llama/Llama-3.3-70B-Instruct-Turbo",
                "llama-3.3-70b-instruct-turbo",
            ),
            ("anthropic/claude-3.5-sonnet", "claude-3-5-sonnet"),
            ("grok-4-0709", "grok-4"),
            ("o3-2025-04-16", "o3"),
        ] {
            reduces_to(raw, want);
        }
    }

    #[test]
    fn the_full_name_comes_first_and_families_are_not_merged() {
        assert_eq!(candidates("gpt-4o-2024-05-13")[0], "gpt-4o-2024-05-13");
        for (raw, never) in [
            ("gpt-4o-mini", "gpt-4o"),
            ("gpt-4.1-nano", "gpt-4.1"),
            ("claude-sonnet-4-5", "claude-sonnet-4"),
            ("text-embedding-3-small", "text-embedding"),
            ("o3-mini", "o3"),
        ] {
            let c = candidates(raw);
            assert!(!c.iter().any(|s| s == never), "{raw} → {c:?}");
        }
    }
}
