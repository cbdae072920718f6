//! Masking what detectors found: `[REDACTED:openai_api_key]` in place of the key. Spans carry
//! JSON (attributes always; input and output often), and a masked span must still parse, so
//! on JSON text a mask is applied only inside string literals, never splits an escape
//! sequence, and a number that is personal data is replaced whole by a quoted marker. The
//! marker's characters need no escaping, so a string literal stays a valid string literal.

use super::finding::{Category, Finding};
use super::json::{is_json, string_literals};

/// Which categories of findings to mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Masking {
    pub secrets: bool,
    pub pii: bool,
}

impl Masking {
    pub fn masks(self, f: &Finding) -> bool {
        match f.category {
            Category::Secret => self.secrets,
            Category::Pii => self.pii,
            Category::PromptInjection | Category::Loop => false,
        }
    }
}

/// One replacement: `old` bytes of the input became `new` bytes of the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edit {
    pub old: (usize, usize),
    pub new: (usize, usize),
}

/// Where an offset of the input is in the output. An offset inside a replaced range moves to
/// the marker's start (or, for an end offset, the marker's end).
pub(crate) fn map_offset(edits: &[Edit], at: usize, is_end: bool) -> usize {
    let mut shift: isize = 0;
    for e in edits {
        if at <= e.old.0 {
            break;
        }
        if at < e.old.1 {
            return if is_end { e.new.1 } else { e.new.0 };
        }
        shift = e.new.1 as isize - e.old.1 as isize;
    }
    (at as isize + shift) as usize
}

/// `text` with the findings `masking` selects replaced by `[REDACTED:<label>]`. Findings'
/// offsets are byte offsets in `text`.
pub fn redact(text: &str, findings: &[Finding], masking: Masking) -> String {
    let ranges: Vec<(usize, usize, &str)> = findings
        .iter()
        .filter(|f| masking.masks(f))
        .map(|f| (f.start, f.end, f.label()))
        .collect();
    apply(text, ranges).map_or_else(|| text.to_string(), |(s, _)| s)
}

/// Replaces `(start, end, label)` ranges; `None` when nothing changes. JSON text is handled
/// as described in the module comment.
pub(crate) fn apply(
    text: &str,
    mut ranges: Vec<(usize, usize, &str)>,
) -> Option<(String, Vec<Edit>)> {
    ranges.retain(|r| r.0 < r.1 && r.1 <= text.len());
    if ranges.is_empty() {
        return None;
    }
    ranges.sort_by_key(|r| (r.0, std::cmp::Reverse(r.1)));
    let mut merged: Vec<(usize, usize, &str)> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match merged.last_mut() {
            Some(last) if r.0 < last.1 => last.1 = last.1.max(r.1),
            _ => merged.push(r),
        }
    }
    let pieces = if is_json(text) {
        json_pieces(text, &merged)
    } else {
        merged
            .into_iter()
            .map(|(s, e, l)| {
                (
                    align_char(text, s, false),
                    align_char(text, e, true),
                    l,
                    false,
                )
            })
            .collect()
    };
    if pieces.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 32 * pieces.len());
    let mut edits = Vec::with_capacity(pieces.len());
    let mut at = 0;
    for (s, e, label, quoted) in pieces {
        if s < at {
            continue;
        }
        out.push_str(&text[at..s]);
        let new_start = out.len();
        if quoted {
            out.push('"');
        }
        out.push_str("[REDACTED:");
        out.push_str(label);
        out.push(']');
        if quoted {
            out.push('"');
        }
        edits.push(Edit {
            old: (s, e),
            new: (new_start, out.len()),
        });
        at = e;
    }
    out.push_str(&text[at..]);
    Some((out, edits))
}

fn align_char(text: &str, mut i: usize, forward: bool) -> usize {
    while !text.is_char_boundary(i) {
        if forward {
            i += 1;
        } else {
            i -= 1;
        }
    }
    i
}

/// The parts of each range that may be replaced in JSON text: inside string literals (widened
/// to whole escape sequences and characters), or whole number tokens (replaced by a quoted
/// marker). Structure (quotes, colons, brackets) is never touched.
fn json_pieces<'a>(
    text: &str,
    ranges: &[(usize, usize, &'a str)],
) -> Vec<(usize, usize, &'a str, bool)> {
    let literals = string_literals(text);
    let b = text.as_bytes();
    let mut out: Vec<(usize, usize, &'a str, bool)> = Vec::new();
    for &(s, e, label) in ranges {
        // Inside string literals.
        let first = literals.partition_point(|l| l.1 <= s);
        for &(ls, le) in literals[first..].iter().take_while(|l| l.0 < e) {
            let (ps, pe) = (s.max(ls), e.min(le));
            if ps < pe {
                let (ps, pe) = widen_to_units(b, ls, le, ps, pe);
                out.push((ps, pe, label, false));
            }
        }
        // Number tokens the range touches outside literals (a card number sent as a number).
        let mut i = s;
        while i < e {
            let in_literal = literals.iter().any(|l| l.0 <= i && i < l.1);
            if !in_literal && is_number_byte(b[i]) {
                let mut ns = i;
                while ns > 0 && is_number_byte(b[ns - 1]) {
                    ns -= 1;
                }
                let mut ne = i;
                while ne < b.len() && is_number_byte(b[ne]) {
                    ne += 1;
                }
                out.push((ns, ne, label, true));
                i = ne;
            } else {
                i += 1;
            }
        }
    }
    out.sort_by_key(|p| (p.0, std::cmp::Reverse(p.1)));
    let mut merged: Vec<(usize, usize, &'a str, bool)> = Vec::with_capacity(out.len());
    for p in out {
        match merged.last_mut() {
            Some(last) if p.0 < last.1 => last.1 = last.1.max(p.1),
            _ => merged.push(p),
        }
    }
    merged
}

fn is_number_byte(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')
}

/// Widens `ps..pe` inside the literal content `ls..le` so it covers whole escape sequences
/// (a surrogate pair as one) and whole UTF-8 characters.
fn widen_to_units(b: &[u8], ls: usize, le: usize, ps: usize, pe: usize) -> (usize, usize) {
    let (mut start, mut end) = (ps, pe);
    let mut i = ls;
    while i < le && i < pe {
        let len = unit_len(b, i, le);
        if i <= ps && ps < i + len {
            start = i;
        }
        if i < pe && pe < i + len {
            end = i + len;
        }
        i += len;
    }
    (start, end.min(le))
}

fn unit_len(b: &[u8], i: usize, le: usize) -> usize {
    match b[i] {
        b'\\' if b.get(i + 1) == Some(&b'u') => {
            let hi = std::str::from_utf8(&b[(i + 2).min(le)..(i + 6).min(le)])
                .ok()
                .and_then(|h| u16::from_str_radix(h, 16).ok());
            let pair = hi.is_some_and(|h| (0xD800..0xDC00).contains(&h))
                && b.get(i + 6) == Some(&b'\\')
                && b.get(i + 7) == Some(&b'u');
            if pair { 12 } else { 6 }
        }
        b'\\' => 2,
        x if x < 0x80 => 1,
        x if x >= 0xF0 => 4,
        x if x >= 0xE0 => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(text: &str, ranges: &[(usize, usize, &str)]) -> String {
        apply(text, ranges.to_vec()).map_or_else(|| text.to_string(), |(s, _)| s)
    }

    #[test]
    fn plain_text() {
        let t = "key sk-abc123 end";
        assert_eq!(
            mask(t, &[(4, 13, "openai_api_key")]),
            "key [REDACTED:openai_api_key] end"
        );
        assert_eq!(mask(t, &[]), t);
    }

    #[test]
    fn overlapping_ranges_merge() {
        assert_eq!(
            mask("abcdefgh", &[(1, 4, "a"), (3, 6, "b")]),
            "a[REDACTED:a]gh"
        );
    }

    #[test]
    fn json_stays_valid_when_a_range_crosses_structure() {
        let t = r#"{"password": "hunter22", "n": 1}"#;
        // A range from inside the key to inside the value (what a loose pattern could give).
        let s = t.find("word").unwrap();
        let e = t.find("ter").unwrap();
        let out = mask(t, &[(s, e, "generic")]);
        assert!(
            serde_json::from_str::<serde_json::Value>(&out).is_ok(),
            "{out}"
        );
        assert!(!out.contains("hun"));
    }

    #[test]
    fn escapes_are_never_split() {
        let t = r#"["-----BEGIN KEY-----\nMIIE\u00e9\ud83d\ude00x\n-----END KEY-----"]"#;
        for s in 2..t.len() - 2 {
            for e in s + 1..t.len() - 2 {
                let out = mask(t, &[(s, e, "private_key")]);
                assert!(
                    serde_json::from_str::<serde_json::Value>(&out).is_ok(),
                    "{s}..{e}: {out}"
                );
            }
        }
    }

    #[test]
    fn numbers_become_quoted_markers() {
        let t = r#"{"card": 4111111111111111, "x": 2}"#;
        let s = t.find("4111").unwrap();
        let out = mask(t, &[(s + 2, s + 16, "credit_card")]);
        assert_eq!(out, r#"{"card": "[REDACTED:credit_card]", "x": 2}"#);
    }

    #[test]
    fn offsets_map_through_edits() {
        let t = "aa SECRET bb SECRET cc";
        let (out, edits) = apply(t, vec![(3, 9, "s"), (13, 19, "s")]).unwrap();
        assert_eq!(out, "aa [REDACTED:s] bb [REDACTED:s] cc");
        assert_eq!(map_offset(&edits, 0, false), 0);
        assert_eq!(
            (map_offset(&edits, 3, false), map_offset(&edits, 9, true)),
            (3, 15)
        );
        let bb = map_offset(&edits, 10, false);
        assert_eq!(&out[bb..bb + 2], "bb");
        let (s2, e2) = (map_offset(&edits, 13, false), map_offset(&edits, 19, true));
        assert_eq!(&out[s2..e2], "[REDACTED:s]");
        assert_eq!(&out[map_offset(&edits, 20, false)..], "cc");
    }
}
