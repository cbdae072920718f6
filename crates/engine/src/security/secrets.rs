//! Credentials: provider keys with a recognizable shape (OpenAI, Anthropic, AWS, GCP, Azure,
//! GitHub, GitLab, Slack, Stripe), JWTs, private-key blocks, database URLs with a password,
//! and high-entropy values assigned to a secret-sounding keyword. As in gitleaks, each rule has
//! keywords; one case-insensitive Aho-Corasick pass finds which rules can match, only those
//! rules' regexes run, and generic matches must also look random (Shannon entropy) and not be
//! a placeholder. Keywords are the shortest strings every match must contain ("secret" for
//! `aws_secret_access_key`, "://" for database URLs): a small automaton stays in cache, and a
//! broad keyword only costs a regex run, never a missed secret.

use super::finding::{Category, Hit, Severity, mask_secret};
use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use base64::Engine as _;
use regex::{Regex, RegexBuilder};
use std::borrow::Cow;

struct Rule {
    detector: &'static str,
    keywords: &'static [&'static str],
    regex: Regex,
    /// Capture groups that may hold the secret, first present wins (alternations put it in
    /// different groups); `[0]` is the whole match.
    groups: &'static [usize],
    severity: Severity,
    score: f32,
    check: Check,
}

/// Extra validation after the pattern matched.
#[derive(Clone, Copy, PartialEq)]
enum Check {
    None,
    /// Not a documentation example (`AKIAIOSFODNN7EXAMPLE`).
    NotExample,
    /// The header segment decodes to JSON naming an algorithm or type.
    JwtHeader,
    /// The password is not a placeholder.
    RealPassword,
    /// Keyword + value: random-looking and not a placeholder or identifier.
    Generic,
}

/// Detector ids, public so configuration can name them.
pub(crate) const DETECTORS: &[&str] = &[
    "secret.openai_api_key",
    "secret.anthropic_api_key",
    "secret.aws_access_key_id",
    "secret.aws_secret_access_key",
    "secret.gcp_api_key",
    "secret.gcp_service_account_key",
    "secret.azure_storage_key",
    "secret.azure_key",
    "secret.github_token",
    "secret.gitlab_token",
    "secret.slack_token",
    "secret.slack_webhook",
    "secret.stripe_key",
    "secret.jwt",
    "secret.private_key",
    "secret.database_url",
    "secret.generic",
];

const GENERIC: &str = "secret.generic";

fn rules() -> Vec<Rule> {
    let rule = |detector, keywords, pattern: &str, groups, severity, score, check| Rule {
        detector,
        keywords,
        regex: RegexBuilder::new(pattern)
            .size_limit(1 << 22)
            .build()
            .unwrap_or_else(|e| panic!("secret rule {detector} does not compile: {e}")),
        groups,
        severity,
        score,
        check,
    };
    use Check::*;
    use Severity::*;
    vec![
        rule(
            "secret.anthropic_api_key",
            &["sk-"],
            r"\bsk-ant-[a-z]{3,8}[0-9]{2}-[A-Za-z0-9_-]{60,}",
            &[0],
            Critical,
            0.99,
            None,
        ),
        rule(
            "secret.openai_api_key",
            &["sk-"],
            r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}|[A-Za-z0-9]{48})\b",
            &[0],
            Critical,
            0.98,
            None,
        ),
        rule(
            "secret.aws_access_key_id",
            &["akia", "asia", "abia", "acca", "a3t"],
            r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16}\b",
            &[0],
            High,
            0.9,
            NotExample,
        ),
        rule(
            "secret.aws_secret_access_key",
            &["secret"],
            r#"(?i)(?:aws)?[_ -]?secret[_ -]?access[_ -]?key(?:[_ -]?id)?["']?\s*(?::|=|=>)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)|(?i)aws[_ -]?secret["']?\s*(?::|=|=>)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)"#,
            &[1, 2],
            Critical,
            0.95,
            NotExample,
        ),
        rule(
            "secret.gcp_api_key",
            &["aiza"],
            r"\bAIza[0-9A-Za-z_-]{35}\b",
            &[0],
            High,
            0.95,
            None,
        ),
        rule(
            "secret.azure_storage_key",
            &["accountkey=", "sharedaccesskey="],
            r"(?i)(?:AccountKey|SharedAccessKey)=([A-Za-z0-9+/]{40,100}={0,2})",
            &[1],
            Critical,
            0.97,
            None,
        ),
        rule(
            "secret.azure_key",
            &["azure"],
            r#"(?i)azure[a-z0-9_ .-]{0,30}(?:key|secret|password|token)["']?\s*(?::|=|=>)\s*["']?([A-Za-z0-9+/=_~.-]{32,100})"#,
            &[1],
            Critical,
            0.8,
            Generic,
        ),
        rule(
            "secret.github_token",
            &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
            r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{60,255})\b",
            &[0],
            Critical,
            0.99,
            None,
        ),
        rule(
            "secret.gitlab_token",
            &["glpat-"],
            r"\bglpat-[A-Za-z0-9_.-]{20,}",
            &[0],
            Critical,
            0.99,
            None,
        ),
        rule(
            "secret.slack_token",
            &["xox"],
            r"\bxox[abpr]-[0-9A-Za-z-]{10,}",
            &[0],
            Critical,
            0.97,
            None,
        ),
        rule(
            "secret.slack_webhook",
            &["hooks.slack.com"],
            r"https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
            &[0],
            High,
            0.97,
            None,
        ),
        rule(
            "secret.stripe_key",
            &["k_live_"],
            r"\b[sr]k_live_[0-9A-Za-z]{20,}\b",
            &[0],
            Critical,
            0.99,
            None,
        ),
        rule(
            "secret.jwt",
            &["eyj"],
            r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}",
            &[0],
            Medium,
            0.9,
            JwtHeader,
        ),
        rule(
            "secret.private_key",
            &["-----begin"],
            // The whole block, or a block cut off before its END line (a capped payload).
            r"(?s)-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----.*?-----END[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----|-----BEGIN[ A-Z0-9_-]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s]|\\[nr])+",
            &[0],
            Critical,
            0.99,
            None,
        ),
        rule(
            "secret.database_url",
            &["://"],
            r#"(?i)\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|oracle|cockroachdb|clickhouse)://[^\s:/@"'<>]{1,128}:([^\s@/"'<>]{1,256})@[^\s/"'<>]+"#,
            &[1],
            Critical,
            0.95,
            RealPassword,
        ),
        rule(
            GENERIC,
            &[
                "api_key",
                "api-key",
                "apikey",
                "secret",
                "token",
                "pass",
                "pwd",
                "private_key",
                "private-key",
                "privatekey",
                "bearer",
            ],
            r#"(?i)(?:\b|[_.-])(api[_-]?key|apikey|access[_-]?token|auth[_-]?token|secret[_-]?key|client[_-]?secret|secret|token|password|passwd|pwd|private[_-]?key)["']?\s*(?::|=|=>|:=)\s*["']?([A-Za-z0-9_\-+/=.~!@#$%^&*]{8,200})|(?i)\b(bearer)\s+([A-Za-z0-9_\-.=+/~]{20,})"#,
            &[2, 4],
            High,
            0.7,
            Generic,
        ),
    ]
}

/// Whether what follows a keyword of the generic rule can complete its pattern: the suffixes
/// the pattern allows (`secret_key`, `password`), an optional quote, white space, then `:` or
/// `=`; after `bearer`, white space. A necessary condition of the generic pattern (non-ASCII
/// bytes count as possible white space).
fn assignment_follows(lower: &[u8], keyword: &str, end: usize) -> bool {
    let space = |c: u8| c.is_ascii_whitespace() || c >= 0x80;
    let mut i = end;
    if keyword == "bearer" {
        return lower.get(i).is_some_and(|&c| space(c));
    }
    if let Some(suffix) = ["_key", "-key", "key", "word", "wd"]
        .iter()
        .find(|s| lower[i..].starts_with(s.as_bytes()))
    {
        i += suffix.len();
    }
    if matches!(lower.get(i), Some(b'"' | b'\'')) {
        i += 1;
    }
    while lower.get(i).is_some_and(|&c| space(c)) {
        i += 1;
    }
    matches!(lower.get(i), Some(b':' | b'='))
}

pub(crate) struct SecretDetector {
    rules: Vec<Rule>,
    keywords: AhoCorasick,
    /// The keywords, lowercase, by pattern id.
    patterns: Vec<String>,
    keyword_rules: Vec<Vec<usize>>,
    /// The generic rule's index, when enabled.
    generic: Option<usize>,
}

impl SecretDetector {
    /// `enabled(detector)` decides which rules exist at all.
    pub fn new(enabled: impl Fn(&str) -> bool) -> Self {
        let rules: Vec<Rule> = rules()
            .into_iter()
            .filter(|r| enabled(r.detector))
            .collect();
        let mut patterns: Vec<&str> = Vec::new();
        let mut keyword_rules: Vec<Vec<usize>> = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            for k in r.keywords {
                match patterns.iter().position(|p| p == k) {
                    Some(at) => keyword_rules[at].push(i),
                    None => {
                        patterns.push(k);
                        keyword_rules.push(vec![i]);
                    }
                }
            }
        }
        // A non-overlapping search is several times faster than an overlapping one; a keyword
        // that holds another ("access_token" holds "token") makes that one's rules possible too.
        for (i, p) in patterns.iter().enumerate() {
            for (j, q) in patterns.iter().enumerate() {
                if i != j && p.contains(q) {
                    let extra = keyword_rules[j].clone();
                    keyword_rules[i].extend(extra);
                }
            }
        }
        let patterns: Vec<String> = patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
        let keywords = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&patterns)
            .unwrap_or_else(|e| panic!("secret keywords do not compile: {e}"));
        SecretDetector {
            generic: rules.iter().position(|r| r.detector == GENERIC),
            rules,
            keywords,
            patterns,
            keyword_rules,
        }
    }

    pub fn scan(&self, text: &str, out: &mut Vec<Hit>) {
        // Which rules a keyword makes possible; most texts have none.
        let mut candidates: u64 = 0;
        // Searching a lowercased copy lets the automaton use its SIMD prefilter, which a
        // case-insensitive automaton cannot: several times faster on text with few keywords.
        let lower = text.as_bytes().to_ascii_lowercase();
        for m in self.keywords.find_iter(&lower) {
            let id = m.pattern().as_usize();
            // The generic rule needs an assignment after its keyword; attribute names such
            // as `gen_ai.usage.input_tokens` hold a keyword and are everywhere.
            let generic_possible = assignment_follows(&lower, &self.patterns[id], m.end());
            for &r in &self.keyword_rules[id] {
                if Some(r) != self.generic || generic_possible {
                    candidates |= 1 << r;
                }
            }
        }
        if candidates == 0 {
            return;
        }
        let first = out.len();
        for (i, rule) in self.rules.iter().enumerate() {
            if candidates & (1 << i) == 0 {
                continue;
            }
            for c in rule.regex.captures_iter(text) {
                let Some(m) = rule.groups.iter().find_map(|&g| c.get(g)) else {
                    continue;
                };
                let secret = m.as_str();
                let keyword = if rule.detector == GENERIC {
                    c.get(1).or_else(|| c.get(3)).map_or("", |k| k.as_str())
                } else {
                    ""
                };
                let Some(score) = self.checked(rule, secret, keyword) else {
                    continue;
                };
                // A value already claimed by a specific rule is not reported again as generic.
                if out[first..]
                    .iter()
                    .any(|h| h.start < m.end() && m.start() < h.end)
                {
                    continue;
                }
                let detector =
                    if rule.detector == "secret.private_key" && text.contains("service_account") {
                        "secret.gcp_service_account_key"
                    } else {
                        rule.detector
                    };
                out.push(Hit {
                    category: Category::Secret,
                    detector: Cow::Borrowed(detector),
                    severity: rule.severity,
                    score,
                    start: m.start(),
                    end: m.end(),
                    evidence: mask_secret(secret),
                    vector: None,
                    encoding: None,
                });
            }
        }
    }

    fn checked(&self, rule: &Rule, secret: &str, keyword: &str) -> Option<f32> {
        match rule.check {
            Check::None => Some(rule.score),
            Check::NotExample => (!secret.ends_with("EXAMPLE") && !secret.contains("EXAMPLEKEY"))
                .then_some(rule.score),
            Check::JwtHeader => {
                let header = secret.split('.').next()?;
                let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let decoded = engine.decode(header.trim_end_matches('=')).ok()?;
                let json = std::str::from_utf8(&decoded).ok()?;
                (json.contains("\"alg\"") || json.contains("\"typ\"")).then_some(rule.score)
            }
            Check::RealPassword => (!is_placeholder(secret)).then_some(rule.score),
            Check::Generic => generic_score(keyword, secret, rule.score),
        }
    }
}

/// Values that stand for a secret rather than being one.
fn is_placeholder(v: &str) -> bool {
    let l = v.to_ascii_lowercase();
    let starts = ['$', '<', '{', '%', '*', '['];
    l.starts_with(starts)
        || l.chars()
            .all(|c| c == 'x' || c == '*' || c == '.' || c == '-' || c == '_')
        || [
            "password",
            "passwd",
            "pass",
            "pwd",
            "secret",
            "changeme",
            "example",
            "placeholder",
            "redacted",
            "your_",
            "your-",
            "xxxx",
            "****",
            "dummy",
            "sample",
            "null",
            "none",
            "undefined",
            "true",
            "false",
            "process.env",
            "os.environ",
            "env.",
            "getenv",
        ]
        .iter()
        .any(|p| l == *p || (p.len() >= 4 && l.contains(p)))
}

fn is_uuid(v: &str) -> bool {
    let b = v.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, &c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Shannon entropy in bits per character.
pub(crate) fn entropy(s: &str) -> f32 {
    let mut counts = [0u32; 256];
    for &b in s.as_bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f32;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f32 / n;
            -p * p.log2()
        })
        .sum()
}

/// Keyword + value matches count when the value looks like a credential: random enough for a
/// token, or for a password at least not a word, a placeholder or an identifier.
fn generic_score(keyword: &str, value: &str, base: f32) -> Option<f32> {
    let value = value.trim_end_matches(['.', ',', ';']);
    if is_placeholder(value) || is_uuid(value) {
        return None;
    }
    let kw = keyword.to_ascii_lowercase();
    let classes = [
        value.bytes().any(|b| b.is_ascii_lowercase()),
        value.bytes().any(|b| b.is_ascii_uppercase()),
        value.bytes().any(|b| b.is_ascii_digit()),
        value.bytes().any(|b| !b.is_ascii_alphanumeric()),
    ]
    .iter()
    .filter(|&&x| x)
    .count();
    let h = entropy(value);
    if matches!(kw.as_str(), "password" | "passwd" | "pwd") {
        // People pick passwords; ask only that it is not a plain word.
        return (value.len() >= 8 && classes >= 2 && h >= 2.5).then_some(base - 0.1);
    }
    // Tokens are generated: long and random. Dotted or snake-case names are identifiers.
    let identifier = value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'.' || b == b'-');
    (value.len() >= 16 && classes >= 2 && h >= 3.5 && !identifier).then_some(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        SecretDetector::new(|_| true).scan(text, &mut out);
        out.into_iter()
            .map(|h| (h.detector.into_owned(), text[h.start..h.end].to_string()))
            .collect()
    }

    fn one(text: &str) -> (String, String) {
        let f = found(text);
        assert_eq!(f.len(), 1, "{text}: {f:?}");
        f.into_iter().next().unwrap()
    }

    // Test keys are assembled at run time so this file does not itself look like it leaks
    // credentials to scanners.
    fn key(prefix: &str, body: &str, n: usize) -> String {
        format!("{prefix}{}", &body.repeat(n / body.len() + 1)[..n])
    }

    #[test]
    fn provider_keys() {
        let openai = key("sk-proj-", "Ab3xK9mQ2pL7vN4r", 60);
        assert_eq!(
            one(&format!("OPENAI_API_KEY={openai}")),
            ("secret.openai_api_key".into(), openai.clone())
        );
        let legacy = key("sk-", "aB3dE5gH7jK9mN1p", 48);
        assert_eq!(one(&format!("key: {legacy} ok")).0, "secret.openai_api_key");
        let anthropic = key("sk-ant-api03-", "Zx9Yw8Vu7Ts6Rq5P", 93);
        assert_eq!(
            one(&format!("x-api-key {anthropic}")).0,
            "secret.anthropic_api_key"
        );
        assert_eq!(
            one("id AKIAQWERTYUIOPASDFGH used").0,
            "secret.aws_access_key_id"
        );
        assert_eq!(
            one(&format!("gcp {}", key("AIza", "Sy4bC6dE8fG0hJ2k", 35))).0,
            "secret.gcp_api_key"
        );
        assert_eq!(
            one(&format!("t={}", key("ghp_", "a1B2c3D4e5F6g7H8", 36))).0,
            "secret.github_token"
        );
        assert_eq!(
            one(&format!(
                "{} x",
                key("github_pat_", "11ABCDEFG0abcdef_", 82)
            ))
            .0,
            "secret.github_token"
        );
        assert_eq!(
            one(&key("glpat-", "xY7zW3vU9tS1rQ5p", 20)).0,
            "secret.gitlab_token"
        );
        assert_eq!(
            one(&key("xoxb-", "1234567890-AbCd", 40)).0,
            "secret.slack_token"
        );
        assert_eq!(
            one("post https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX").0,
            "secret.slack_webhook"
        );
        assert_eq!(
            one(&key("sk_live_", "4eC39HqLyjWDarjtT1zdp7dc", 24)).0,
            "secret.stripe_key"
        );
    }

    #[test]
    fn keyword_bound_cloud_secrets() {
        let aws = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ9sT3uV8w";
        assert_eq!(
            one(&format!("aws_secret_access_key = {aws}\n")),
            ("secret.aws_secret_access_key".into(), aws.into())
        );
        let acct = key("", "Q2hhbmdlTWVQbGVhc2VJbUFLZXk+/", 86);
        let conn = format!(
            "DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={acct}==;EndpointSuffix=core.windows.net"
        );
        let (d, v) = one(&conn);
        assert_eq!(d, "secret.azure_storage_key");
        assert!(v.starts_with("Q2hh") && v.ends_with("=="));
        assert_eq!(
            one("AZURE_OPENAI_KEY=3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e").0,
            "secret.azure_key"
        );
        // The AWS documentation's example key is not a leak.
        assert!(found("AKIAIOSFODNN7EXAMPLE").is_empty());
        // A keyword inside a longer name still counts; the provider rule wins the overlap.
        assert_eq!(
            one("MY_SERVICE_API_KEY=9fK2xQ7LmZ4pW8vR1tY6").0,
            "secret.generic"
        );
    }

    #[test]
    fn structured_secrets() {
        let jwt = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(
            one(&format!("Authorization: {jwt}")),
            ("secret.jwt".into(), jwt.into())
        );
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----";
        assert_eq!(one(&format!("key:\n{pem}\n")).1, pem);
        let json = r#"{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"}"#;
        assert_eq!(one(json).0, "secret.gcp_service_account_key");
        let cut = "-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ…[truncated 900 bytes]";
        assert_eq!(one(cut).0, "secret.private_key");
        assert_eq!(
            one("DATABASE_URL=postgres://app:S3cr3t-Pa55@db.internal:5432/prod"),
            ("secret.database_url".into(), "S3cr3t-Pa55".into())
        );
    }

    #[test]
    fn generic_keyword_values_need_entropy() {
        assert_eq!(one("api_key=9fK2xQ7LmZ4pW8vR1tY6").0, "secret.generic");
        assert_eq!(
            one(r#"{"client_secret": "Zq8-Lk2_Pm9xVb4nRt7w"}"#).1,
            "Zq8-Lk2_Pm9xVb4nRt7w"
        );
        assert_eq!(one("password: Tr0ub4dor&3").1, "Tr0ub4dor&3");
        assert_eq!(
            one("Authorization: Bearer 7hG5kL9pQ2wE4rT6yU8iO0aS3dF").0,
            "secret.generic"
        );
    }

    #[test]
    fn look_alikes_are_not_secrets() {
        for benign in [
            "password: ********",
            "password=${DB_PASSWORD}",
            "api_key: your_api_key_here",
            "token: 550e8400-e29b-41d4-a716-446655440000",
            "the request used 1532 tokens; max_tokens=4096",
            "token: completion_tokens_details",
            "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed the secret sauce",
            "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
            "postgres://app:password@localhost/db and mysql://root@localhost",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            "sk-ant is the prefix of Anthropic keys; sk-... is OpenAI's",
            "eyJhbGciOi is how JWT headers start",
            "secret: true",
            "password: hunter2",
        ] {
            assert!(found(benign).is_empty(), "{benign}: {:?}", found(benign));
        }
    }

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(entropy("aaaa"), 0.0);
        assert!((entropy("abcd") - 2.0).abs() < 1e-6);
    }

    #[test]
    fn evidence_never_holds_the_secret() {
        let token = key("ghp_", "a1B2c3D4e5F6g7H8", 36);
        let mut out = Vec::new();
        SecretDetector::new(|_| true).scan(&token, &mut out);
        assert!(!out[0].evidence.contains(&token[6..]));
    }

    #[test]
    fn disabled_rules_do_not_run() {
        let mut out = Vec::new();
        SecretDetector::new(|d| d != "secret.github_token")
            .scan(&key("ghp_", "a1B2c3D4e5F6g7H8", 36), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn generic_keywords_need_an_assignment_after_them() {
        let yes = |t: &str, kw: &str| {
            let l = t.to_ascii_lowercase();
            let end = l.find(kw).unwrap() + kw.len();
            assignment_follows(l.as_bytes(), kw, end)
        };
        assert!(!yes(r#"{"gen_ai.usage.input_tokens":4053}"#, "token"));
        assert!(yes(r#"{"access_token": "abc"}"#, "token"));
        assert!(yes("PASSWORD=hunter22", "pass"));
        assert!(yes("client_secret_key := x", "secret"));
        assert!(yes("Authorization: Bearer abc", "bearer"));
        assert!(!yes("the bearer of bad news", "bearer") || yes("bearer x", "bearer"));
        assert!(!yes("tokenizer settings", "token"));
        // Whatever a generic keyword is followed by, a generic match implies the condition.
        let d = SecretDetector::new(|_| true);
        for t in [
            "api_key=9fK2xQ7LmZ4pW8vR1tY6",
            "token : '9fK2xQ7LmZ4pW8vR1tY6'",
            "passwd=>9fK2xQ7LmZ4pW8vR1tY6",
            "Authorization: Bearer 9fK2xQ7LmZ4pW8vR1tY6aQ3",
            "my_secret\u{a0}= 9fK2xQ7LmZ4pW8vR1tY6",
        ] {
            let mut out = Vec::new();
            d.scan(t, &mut out);
            assert!(out.iter().any(|h| h.detector == GENERIC), "{t}");
        }
    }
}
