//! Masking of secrets before a log entry is kept: whole values of fields whose names say they
//! hold one, and secret-looking pieces of any other text (bearer tokens, Spyglass API keys,
//! `password=…`-style pairs, passwords in URLs).

use regex::Regex;
use std::borrow::Cow;
use std::sync::LazyLock;

/// What a masked value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Parts of a field name that mark its value as secret (compared case-insensitively).
const SENSITIVE_NAME_PARTS: &[&str] = &[
    "key",
    "token",
    "secret",
    "password",
    "dsn",
    "credential",
    "authorization",
    "cookie",
];

/// Whether a field of this name holds a secret: its name contains key, token, secret,
/// password, dsn, credential, authorization or cookie, in any case.
pub fn is_sensitive_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    SENSITIVE_NAME_PARTS.iter().any(|p| lower.contains(p))
}

/// `scheme://user:password@host`: the password.
static URL_PASSWORD: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s/:@]*:)[^\s/@]+@").expect("valid regex")
});

/// `Bearer <token>` (any case, as in an Authorization header).
static BEARER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(bearer)(\s+)[A-Za-z0-9\-._~+/]+=*").expect("valid regex"));

/// Spyglass API keys: `sg_<scope>_` and 20 or more base62 characters. The scope is kept.
static SG_KEY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(sg_[A-Za-z]+_)[A-Za-z0-9]{20,}").expect("valid regex"));

/// `name=value` or `name: value` where the name marks a secret (see [`is_sensitive_name`]);
/// the name may be quoted (`"password": "…"`, as Debug output of maps has it), the value may be
/// double- or single-quoted, else it runs to the next space, `&`, `,` or `;`.
static SECRET_PAIR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?i)([A-Za-z0-9_.\-]*(?:key|token|secret|password|passwd|pwd|dsn|credential|authorization|cookie)[A-Za-z0-9_.\-]*["']?\s*[=:]\s*)("(?:[^"\\]|\\.)*"|'[^']*'|[^\s&,;"']+)"#,
    )
    .expect("valid regex")
});

/// `text` with every secret-looking piece masked; borrowed when there is nothing to mask.
pub fn redact_text(text: &str) -> Cow<'_, str> {
    let mut out = Cow::Borrowed(text);
    for (re, with) in [
        (&*URL_PASSWORD, "${1}[redacted]@"),
        (&*BEARER, "${1}${2}[redacted]"),
        (&*SG_KEY, "${1}[redacted]"),
        (&*SECRET_PAIR, "${1}[redacted]"),
    ] {
        if let Cow::Owned(s) = re.replace_all(&out, with) {
            out = Cow::Owned(s);
        }
    }
    out
}

/// The value of field `name` as it may be kept: [`REDACTED`] when the name marks a secret,
/// else the value with secret-looking pieces masked.
pub fn redact_field<'a>(name: &str, value: &'a str) -> Cow<'a, str> {
    if is_sensitive_name(name) {
        Cow::Borrowed(REDACTED)
    } else {
        redact_text(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SG: &str = "sg_ingest_ABCDEFGHIJKLMNOPQRSTUV123";

    #[test]
    fn field_names_that_mark_secrets() {
        for name in [
            "api_key",
            "X-API-KEY",
            "token",
            "refresh_token",
            "client_secret",
            "db.password",
            "PASSWORD",
            "dsn",
            "sentry_DSN",
            "credentials",
            "authorization",
            "http.request.header.Authorization",
            "cookie",
            "set_cookie",
            "Keys",
        ] {
            assert!(is_sensitive_name(name), "{name}");
            assert_eq!(redact_field(name, "anything at all"), REDACTED, "{name}");
        }
        for name in [
            "message", "error", "rule", "name", "addr", "project", "spans",
        ] {
            assert!(!is_sensitive_name(name), "{name}");
            assert_eq!(redact_field(name, "plain value"), "plain value", "{name}");
        }
    }

    #[test]
    fn other_fields_still_have_secret_text_masked() {
        let text = format!("rejected Bearer {SG}");
        assert_eq!(redact_field("error", &text), "rejected Bearer [redacted]");
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(
            redact_text("authorization header was Bearer eyJhbGciOi.eyJzdWIi.c2ln-_= ok"),
            "authorization header was Bearer [redacted] ok"
        );
        assert_eq!(redact_text("bearer abc123"), "bearer [redacted]");
        assert_eq!(redact_text("BEARER\tabc/def+ghi=="), "BEARER\t[redacted]");
        // Whatever follows the word is taken for a token; the word alone is kept.
        assert_eq!(redact_text("a bearer bond"), "a bearer [redacted]");
        assert_eq!(redact_text("bearer"), "bearer");
    }

    #[test]
    fn spyglass_api_keys() {
        assert_eq!(
            redact_text(&format!("key {SG} used")),
            "key sg_ingest_[redacted] used"
        );
        assert_eq!(
            redact_text("x(sg_admin_0123456789abcdefghijKLMN)"),
            "x(sg_admin_[redacted])"
        );
        // Too short to be a key.
        assert_eq!(redact_text("sg_ingest_short123"), "sg_ingest_short123");
        let text = format!("Authorization: Bearer {SG}");
        let masked = redact_text(&text);
        assert!(!masked.contains("ABCDEFGHIJKLMNOPQRSTUV123"), "{masked}");
        let masked = redact_text(SG);
        assert!(!masked.contains("ABCDEFGHIJKLMNOPQRSTUV123"), "{masked}");
    }

    #[test]
    fn secret_pairs() {
        assert_eq!(
            redact_text("login password=hunter2 user=bob"),
            "login password=[redacted] user=bob"
        );
        assert_eq!(
            redact_text("GET /x?token=abc123&page=2"),
            "GET /x?token=[redacted]&page=2"
        );
        assert_eq!(
            redact_text("db_password: 's3cr3t value' next"),
            "db_password: [redacted] next"
        );
        assert_eq!(
            redact_text(r#"{"api_key": "k-123", "n": 1}"#),
            r#"{"api_key": [redacted], "n": 1}"#
        );
        assert_eq!(
            redact_text(r#"headers {"x-api-key": "abc", "accept": "*/*"}"#),
            r#"headers {"x-api-key": [redacted], "accept": "*/*"}"#
        );
        assert_eq!(
            redact_text("PASSWORD = hunter2; TOKEN:xyz, Secret=\"a \\\" b\""),
            "PASSWORD = [redacted]; TOKEN:[redacted], Secret=[redacted]"
        );
    }

    #[test]
    fn url_passwords() {
        assert_eq!(
            redact_text("connecting to postgres://app:hunter2@db:5432/x"),
            "connecting to postgres://app:[redacted]@db:5432/x"
        );
        assert_eq!(
            redact_text("https://example.com:8443/path"),
            "https://example.com:8443/path"
        );
    }

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "opened DuckDB store at /data/spyglass.duckdb (schema 7): 12 spans";
        assert!(matches!(redact_text(text), Cow::Borrowed(t) if t == text));
    }
}

/// A writer that masks secrets in what passes through it: the stderr log gets the same
/// masking as the server log's entries (bearer tokens, Spyglass keys, `password=`-style pairs).
/// Each formatted log line arrives in one `write` call, so a secret is never split.
pub struct RedactingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match std::str::from_utf8(buf) {
            Ok(text) => self.0.write_all(redact_text(text).as_bytes())?,
            Err(_) => self.0.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod writer_tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_written_line_is_masked() {
        let mut w = RedactingWriter(Vec::new());
        writeln!(
            w,
            "rule created name=\"x Bearer abc.def.ghi sg_admin_ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\""
        )
        .unwrap();
        let out = String::from_utf8(w.0).unwrap();
        assert!(
            !out.contains("abc.def.ghi") && !out.contains("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"),
            "{out}"
        );
        assert!(
            out.starts_with("rule created") && out.ends_with('\n'),
            "{out}"
        );
    }
}
