//! Personal data: e-mail addresses, phone numbers, US social security numbers, payment cards,
//! IBANs, public IP addresses, and a project's own named patterns. Patterns find candidates;
//! checksums and validity rules (Luhn, IBAN mod-97, SSN area/group/serial, IIN ranges, public
//! address ranges) keep order numbers, random digits, versions and private hosts out. Each
//! numeric detector runs only when the text has enough digits to hold a match, so prose costs a
//! count of its digits.

use super::finding::{Category, Hit, Severity, excerpt, mask_tail};
use crate::EngineError;
use regex::{Regex, RegexBuilder};
use std::borrow::Cow;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Built-in PII detector ids.
pub(crate) const EMAIL: &str = "pii.email";
pub(crate) const PHONE: &str = "pii.phone_number";
pub(crate) const SSN: &str = "pii.us_ssn";
pub(crate) const CREDIT_CARD: &str = "pii.credit_card";
pub(crate) const IBAN: &str = "pii.iban";
pub(crate) const IP_ADDRESS: &str = "pii.ip_address";
pub(crate) const BUILTIN: &[&str] = &[EMAIL, PHONE, SSN, CREDIT_CARD, IBAN, IP_ADDRESS];

/// A project's own pattern, already validated.
pub(crate) struct CustomPattern {
    pub detector: String,
    pub regex: Regex,
    pub severity: Severity,
}

pub(crate) struct PiiDetector {
    email: Regex,
    phone: Regex,
    ssn: Regex,
    card: Regex,
    iban: Regex,
    ipv4: Regex,
    ipv6: Regex,
    custom: Vec<CustomPattern>,
    /// Built-ins in `BUILTIN` order; false when disabled by config.
    enabled: [bool; 6],
}

fn build(pattern: &str) -> Regex {
    RegexBuilder::new(pattern)
        .build()
        .unwrap_or_else(|e| panic!("PII pattern does not compile: {e}"))
}

impl PiiDetector {
    pub fn new(enabled: [bool; 6], custom: Vec<CustomPattern>) -> Self {
        PiiDetector {
            email: build(
                r"(?i)\b[a-z0-9][a-z0-9._%+-]{0,63}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,24}\b",
            ),
            // International with a plus, or North American with separators. Bare digit runs
            // are ids and timestamps far more often than phone numbers.
            phone: build(
                r"(?:\+[1-9][0-9]{0,2}[ .-]?(?:\(?[0-9]{1,4}\)?[ .-]?){1,4}[0-9]{2,4}|\(?\b[2-9][0-9]{2}\)?[ .-][2-9][0-9]{2}[ .-][0-9]{4})\b",
            ),
            ssn: build(r"\b([0-9]{3})([- ])([0-9]{2})([- ])([0-9]{4})\b"),
            card: build(r"\b[0-9](?:[ -]?[0-9]){11,18}\b"),
            iban: build(r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b"),
            ipv4: build(r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b"),
            ipv6: build(r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}"),
            custom,
            enabled,
        }
    }

    pub fn scan(&self, text: &str, out: &mut Vec<Hit>) {
        let bytes = text.as_bytes();
        let shape = Shape::of(bytes);
        let [email, phone, ssn, card, iban, ip] = self.enabled;
        let (card, ssn, phone) = (
            card && shape.grouped_digits >= 12,
            ssn && shape.grouped_digits >= 9,
            phone && (shape.phone_digits >= 8),
        );
        let iban = iban && shape.iban_start;
        if email && bytes.contains(&b'@') {
            for m in self.email.find_iter(text) {
                out.push(hit(
                    EMAIL,
                    Severity::Low,
                    0.9,
                    m.start(),
                    m.end(),
                    mask_email(m.as_str()),
                ));
            }
        }
        if card {
            for m in self.card.find_iter(text) {
                if valid_card(m.as_str()) {
                    let ev = mask_tail(m.as_str(), 4);
                    out.push(hit(
                        CREDIT_CARD,
                        Severity::High,
                        0.95,
                        m.start(),
                        m.end(),
                        ev,
                    ));
                }
            }
        }
        if ssn {
            for c in self.ssn.captures_iter(text) {
                let (a, g, s) = (&c[1], &c[3], &c[5]);
                if c[2] == c[4] && valid_ssn(a, g, s) && !preceded_by_digit_or_dash(bytes, c.get(0))
                {
                    let m = c.get(0).map_or((0, 0), |m| (m.start(), m.end()));
                    out.push(hit(
                        SSN,
                        Severity::High,
                        0.85,
                        m.0,
                        m.1,
                        mask_tail(&text[m.0..m.1], 4),
                    ));
                }
            }
        }
        if phone {
            for m in self.phone.find_iter(text) {
                let n = m.as_str().bytes().filter(u8::is_ascii_digit).count();
                if (8..=15).contains(&n)
                    && !overlaps(out, m.start(), m.end())
                    && !preceded_by_digit_or_dash(bytes, Some(m))
                    && !looks_like_date(m.as_str())
                {
                    let ev = mask_tail(m.as_str(), 2);
                    out.push(hit(PHONE, Severity::Low, 0.7, m.start(), m.end(), ev));
                }
            }
        }
        if iban {
            for m in self.iban.find_iter(text) {
                // The pattern may run into a following code or word ("… 0130 00 EUR"): drop
                // trailing groups until the checksum holds.
                let mut cand = m.as_str();
                for _ in 0..4 {
                    if valid_iban(cand) {
                        let (s, e) = (m.start(), m.start() + cand.len());
                        out.push(hit(IBAN, Severity::High, 0.95, s, e, mask_tail(cand, 4)));
                        break;
                    }
                    match cand.rfind(' ') {
                        Some(i) => cand = &cand[..i],
                        None => break,
                    }
                }
            }
        }
        if ip {
            if shape.dotted_quad {
                for m in self.ipv4.find_iter(text) {
                    if is_public_ipv4(m.as_str(), bytes, m.start(), m.end()) {
                        let ev = mask_ip(m.as_str());
                        out.push(hit(IP_ADDRESS, Severity::Low, 0.8, m.start(), m.end(), ev));
                    }
                }
            }
            if has_ipv6_shape(text) {
                for m in self.ipv6.find_iter(text) {
                    if is_public_ipv6(m.as_str()) {
                        let ev = mask_ip(m.as_str());
                        out.push(hit(IP_ADDRESS, Severity::Low, 0.8, m.start(), m.end(), ev));
                    }
                }
            }
        }
        for p in &self.custom {
            for m in p.regex.find_iter(text) {
                if m.is_empty() {
                    continue;
                }
                out.push(Hit {
                    category: Category::Pii,
                    detector: Cow::Owned(p.detector.clone()),
                    severity: p.severity,
                    score: 0.8,
                    start: m.start(),
                    end: m.end(),
                    evidence: mask_tail(m.as_str(), 2),
                    vector: None,
                    encoding: None,
                });
            }
        }
    }
}

/// What one pass over the bytes says about where numeric PII could be, so that the patterns
/// run only on texts that have the shape (attribute JSON is full of numbers, almost never of
/// card or phone numbers). Each bound is necessary for its pattern to match.
#[derive(Debug, Default, PartialEq)]
struct Shape {
    /// Most digits in one run where digits are joined by at most one space or dash (cards,
    /// SSNs).
    grouped_digits: usize,
    /// Most digits in one run where digits are joined by up to three of ` -.()+/` (phones).
    phone_digits: usize,
    /// Two uppercase letters then two digits (an IBAN's start).
    iban_start: bool,
    /// Four digit groups joined by single dots (an IPv4 address).
    dotted_quad: bool,
}

impl Shape {
    fn of(b: &[u8]) -> Shape {
        let mut s = Shape::default();
        let (mut grouped, mut phone, mut dots) = (0usize, 0usize, 0usize);
        // Visits digits only (prose has few), judging the gap since the previous digit.
        let mut prev: Option<usize> = None;
        let mut i = 0;
        while let Some(d) = next_digit(b, i) {
            let gap = match prev {
                Some(p) => &b[p + 1..d],
                None => &b[..0],
            };
            let joined = prev.is_some();
            grouped = if joined
                && (gap.is_empty() || (gap.len() == 1 && matches!(gap[0], b' ' | b'-')))
            {
                grouped + 1
            } else {
                1
            };
            phone = if joined
                && gap.len() <= 3
                && gap
                    .iter()
                    .all(|c| matches!(c, b' ' | b'-' | b'.' | b'(' | b')' | b'+' | b'/'))
            {
                phone + 1
            } else {
                1
            };
            dots = match gap {
                _ if !joined => 0,
                [] => dots,
                [b'.'] => dots + 1,
                _ => 0,
            };
            s.grouped_digits = s.grouped_digits.max(grouped);
            s.phone_digits = s.phone_digits.max(phone);
            s.dotted_quad |= dots >= 3;
            s.iban_start |= d >= 3
                && b[d - 1].is_ascii_digit()
                && b[d - 2].is_ascii_uppercase()
                && b[d - 3].is_ascii_uppercase();
            prev = Some(d);
            i = d + 1;
        }
        s
    }
}

/// The position of the first ASCII digit at or after `from`, eight bytes at a time: a word
/// with no byte in `0x30..=0x39` is skipped whole.
fn next_digit(b: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let mut i = from;
    while i + 8 <= b.len() {
        let w = u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        // Digits become bytes below 10; "some byte below 10" may also fire on bytes >= 0x80,
        // which the byte check below sorts out.
        let x = w ^ (0x30 * ONES);
        if (x.wrapping_sub(10 * ONES) & !x & HIGHS) != 0 {
            break;
        }
        i += 8;
    }
    b[i.min(b.len())..]
        .iter()
        .position(u8::is_ascii_digit)
        .map(|p| p + i)
}

/// Compiles a project's pattern into a detector `pii.<name>`.
pub(crate) fn custom_pattern(
    name: &str,
    pattern: &str,
    severity: Severity,
) -> Result<CustomPattern, EngineError> {
    let err = |message: String| EngineError::Pattern {
        name: name.to_string(),
        message,
    };
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(err(
            "names are lowercase letters, digits and underscores".into()
        ));
    }
    let detector = format!("pii.{name}");
    if BUILTIN.contains(&detector.as_str()) {
        return Err(err("the name of a built-in detector".into()));
    }
    let regex = RegexBuilder::new(pattern)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| err(e.to_string()))?;
    if regex.is_match("") {
        return Err(err("the pattern matches the empty string".into()));
    }
    Ok(CustomPattern {
        detector,
        regex,
        severity,
    })
}

fn hit(
    detector: &'static str,
    severity: Severity,
    score: f32,
    start: usize,
    end: usize,
    evidence: String,
) -> Hit {
    Hit {
        category: Category::Pii,
        detector: Cow::Borrowed(detector),
        severity,
        score,
        start,
        end,
        evidence,
        vector: None,
        encoding: None,
    }
}

fn overlaps(hits: &[Hit], start: usize, end: usize) -> bool {
    hits.iter().any(|h| h.start < end && start < h.end)
}

/// A match glued to a longer number ("12-123-45-6789") is part of something else.
fn preceded_by_digit_or_dash(bytes: &[u8], m: Option<regex::Match>) -> bool {
    let Some(m) = m else { return false };
    let before = m.start().checked_sub(1).map(|i| bytes[i]);
    let after = bytes.get(m.end()).copied();
    matches!(before, Some(b'0'..=b'9' | b'-' | b'.' | b'/'))
        || matches!(after, Some(b'-' | b'/'))
        || (after == Some(b'.') && bytes.get(m.end() + 1).is_some_and(u8::is_ascii_digit))
}

fn looks_like_date(s: &str) -> bool {
    // 2024-01-15 style runs are dates, not numbers to call.
    let d: Vec<&str> = s.split(['-', '.', ' ', '/']).collect();
    d.len() == 3 && d[0].len() == 4 && d[1].len() == 2 && d[2].len() == 2
}

/// Luhn, a plausible length for the issuer, and consistent separators.
pub(crate) fn valid_card(s: &str) -> bool {
    let digits: Vec<u8> = s
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|b| b - b'0')
        .collect();
    let n = digits.len();
    if !(13..=19).contains(&n) || digits.iter().all(|&d| d == digits[0]) {
        return false;
    }
    // Separators, when present, are all one kind and split the number into 4-digit groups
    // (Amex: 4-6-5); "1234 56 7890 1234 5" is not how a card is written.
    let seps: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_digit()).collect();
    if !seps.is_empty() {
        if seps.iter().any(|&b| b != seps[0]) {
            return false;
        }
        let groups: Vec<usize> = s.split(seps[0] as char).map(str::len).collect();
        let amex = groups == [4, 6, 5];
        let fours =
            groups[..groups.len() - 1].iter().all(|&g| g == 4) && groups[groups.len() - 1] <= 4;
        if !(amex || fours) {
            return false;
        }
    }
    if !issuer_length_ok(&digits) {
        return false;
    }
    luhn(&digits)
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = d as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn issuer_length_ok(d: &[u8]) -> bool {
    let prefix = |k: usize| d[..k].iter().fold(0u32, |a, &x| a * 10 + x as u32);
    let n = d.len();
    let (p2, p3, p4) = (prefix(2), prefix(3), prefix(4));
    match d[0] {
        4 => matches!(n, 13 | 16 | 19),              // Visa
        5 => (51..=55).contains(&p2) && n == 16,     // Mastercard
        2 => (2221..=2720).contains(&p4) && n == 16, // Mastercard 2-series
        3 => {
            (matches!(p2, 34 | 37) && n == 15)                               // Amex
                || ((3528..=3589).contains(&p4) && (16..=19).contains(&n))   // JCB
                || (((300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39)
                    && (14..=19).contains(&n)) // Diners
        }
        6 => {
            (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || p2 == 62)
                && (16..=19).contains(&n) // Discover, UnionPay
        }
        _ => false,
    }
}

/// Area 001–665 or 667–899, group 01–99, serial 0001–9999; the numbers that were printed in
/// advertisements and handed out as samples are not anyone's.
pub(crate) fn valid_ssn(area: &str, group: &str, serial: &str) -> bool {
    let (Ok(a), Ok(g), Ok(s)) = (
        area.parse::<u32>(),
        group.parse::<u32>(),
        serial.parse::<u32>(),
    ) else {
        return false;
    };
    let advertised = matches!((a, g, s), (78, 5, 1120) | (219, 9, 9999) | (123, 45, 6789));
    a != 0 && a != 666 && a < 900 && g != 0 && s != 0 && !advertised
}

/// IBAN length per country (ISO 13616 registry).
fn iban_length(country: &str) -> Option<usize> {
    Some(match country {
        "NO" => 15,
        "BE" => 16,
        "DK" | "FI" | "FO" | "GL" | "NL" => 18,
        "MK" | "SI" => 19,
        "AT" | "BA" | "EE" | "KZ" | "LT" | "LU" | "XK" => 20,
        "CH" | "CR" | "HR" | "LI" | "LV" => 21,
        "BG" | "BH" | "DE" | "GB" | "GE" | "IE" | "ME" | "RS" => 22,
        "AE" | "GI" | "IL" | "TL" => 23,
        "AD" | "CZ" | "ES" | "MD" | "PK" | "RO" | "SA" | "SE" | "SK" | "TN" | "VG" => 24,
        "PT" | "ST" => 25,
        "IS" | "TR" => 26,
        "FR" | "GR" | "IT" | "MC" | "MR" | "SM" => 27,
        "AL" | "AZ" | "BY" | "CY" | "DO" | "GT" | "HU" | "LB" | "PL" | "SV" => 28,
        "BR" | "EG" | "JO" | "PS" | "QA" | "UA" => 29,
        "KW" | "MU" => 30,
        "MT" | "SC" => 31,
        "LC" => 32,
        _ => return None,
    })
}

/// Country length and the mod-97 check.
pub(crate) fn valid_iban(s: &str) -> bool {
    let compact: Vec<u8> = s.bytes().filter(|b| *b != b' ').collect();
    if compact.len() < 5 {
        return false;
    }
    let Ok(country) = std::str::from_utf8(&compact[..2]) else {
        return false;
    };
    if iban_length(country) != Some(compact.len()) {
        return false;
    }
    let mut rem: u32 = 0;
    for &b in compact[4..].iter().chain(&compact[..4]) {
        let v = match b {
            b'0'..=b'9' => (b - b'0') as u32,
            b'A'..=b'Z' => (b - b'A') as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A globally routable IPv4 address, not part of a longer dotted run (a version number).
fn is_public_ipv4(s: &str, bytes: &[u8], start: usize, end: usize) -> bool {
    let glued = |b: Option<&u8>| matches!(b, Some(b'.' | b'0'..=b'9'));
    if glued(start.checked_sub(1).and_then(|i| bytes.get(i))) || glued(bytes.get(end)) {
        return false;
    }
    if start > 0 && matches!(bytes[start - 1], b'v' | b'V') {
        return false;
    }
    let Ok(ip) = s.parse::<Ipv4Addr>() else {
        return false;
    };
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || ip.octets()[0] == 0
        || ip.octets()[0] >= 240
        || (ip.octets()[0] == 100 && (64..128).contains(&ip.octets()[1])))
}

/// Cheap check before the IPv6 pattern: two places where a hex digit is followed by a colon
/// and then a hex digit or another colon. JSON's `":"` fails it at once.
fn has_ipv6_shape(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut seen = 0;
    // `match_indices` jumps from colon to colon (memchr), instead of testing every byte.
    for (i, _) in text.match_indices(':') {
        let before = i > 0 && bytes[i - 1].is_ascii_hexdigit();
        let after = bytes
            .get(i + 1)
            .is_some_and(|&b| b == b':' || b.is_ascii_hexdigit());
        if before && after {
            seen += 1;
            if seen >= 2 {
                return true;
            }
        }
    }
    false
}

fn is_public_ipv6(s: &str) -> bool {
    let colons = s.bytes().filter(|&b| b == b':').count();
    let groups = s.split(':').filter(|g| !g.is_empty()).count();
    // "a::b" parses, but in text it is a C++ or Rust path.
    if colons < 2 || groups < 3 || (colons < 7 && !s.contains("::")) {
        return false;
    }
    let Ok(ip) = s.parse::<Ipv6Addr>() else {
        return false;
    };
    let seg = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (seg[0] & 0xffc0) == 0xfe80 // link-local
        || (seg[0] & 0xfe00) == 0xfc00 // unique local
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || ip.to_ipv4_mapped().is_some()
        || seg[0] == 0)
}

fn mask_email(s: &str) -> String {
    match s.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => excerpt(s, 0, s.len(), 8),
    }
}

fn mask_ip(s: &str) -> String {
    match s.rfind(['.', ':']) {
        Some(i) => format!("{}***", &s[..=i]),
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detector() -> PiiDetector {
        PiiDetector::new([true; 6], Vec::new())
    }

    fn found(text: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        detector().scan(text, &mut out);
        out.into_iter()
            .map(|h| (h.detector.into_owned(), text[h.start..h.end].to_string()))
            .collect()
    }

    fn kinds(text: &str) -> Vec<String> {
        found(text).into_iter().map(|(d, _)| d).collect()
    }

    #[test]
    fn emails() {
        assert_eq!(
            found("write to jane.doe+x@mail.example.co.uk now"),
            vec![(EMAIL.into(), "jane.doe+x@mail.example.co.uk".into())]
        );
        assert!(kinds("pip install pkg@1.2.3 and @decorator usage").is_empty());
    }

    #[test]
    fn cards_need_luhn_and_an_issuer() {
        assert_eq!(
            kinds("card 4111 1111 1111 1111 exp 12/27"),
            vec![CREDIT_CARD]
        );
        assert_eq!(kinds("amex 3782-822463-10005"), vec![CREDIT_CARD]);
        assert_eq!(kinds("mc 5555555555554444."), vec![CREDIT_CARD]);
        // A 16-digit order number that fails Luhn.
        assert!(kinds("order 4111111111111112 shipped").is_empty());
        // Luhn-valid but no issuer starts with 9.
        assert!(kinds("ref 9999999999999995").is_empty());
        assert!(kinds("odd grouping 4111 11 111111 1111").is_empty());
    }

    #[test]
    fn ssns_follow_the_allocation_rules() {
        assert_eq!(kinds("ssn 536-22-8726 on file"), vec![SSN]);
        for bad in [
            "000-12-3456",
            "666-12-3456",
            "912-12-3456",
            "536-00-1234",
            "536-22-0000",
            "078-05-1120",
            "536-22 8726",
        ] {
            assert!(!kinds(bad).contains(&SSN.to_string()), "{bad}");
        }
        assert!(!kinds("part 1-536-22-8726").contains(&SSN.to_string()));
    }

    #[test]
    fn phones() {
        assert_eq!(kinds("call +1 (415) 555-0132 today"), vec![PHONE]);
        assert_eq!(kinds("call 415-555-0132"), vec![PHONE]);
        assert_eq!(kinds("ring +44 20 7946 0958"), vec![PHONE]);
        assert!(kinds("released 2024-01-15, build 20240115").is_empty());
        assert!(kinds("took 1234567 ms for 42 tokens").is_empty());
    }

    #[test]
    fn ibans_need_the_country_length_and_mod_97() {
        assert_eq!(kinds("pay DE89 3704 0044 0532 0130 00 please"), vec![IBAN]);
        assert_eq!(kinds("GB82WEST12345698765432"), vec![IBAN]);
        assert!(kinds("DE89 3704 0044 0532 0130 01").is_empty());
        assert!(kinds("GB82WEST1234569876543").is_empty());
        assert_eq!(
            found("DE89 3704 0044 0532 0130 00 EUR")[0].1,
            "DE89 3704 0044 0532 0130 00"
        );
    }

    #[test]
    fn public_ip_addresses_only() {
        assert_eq!(
            found("from 8.8.8.8 and 2606:4700:4700::1111"),
            vec![
                (IP_ADDRESS.into(), "8.8.8.8".into()),
                (IP_ADDRESS.into(), "2606:4700:4700::1111".into())
            ]
        );
        assert!(kinds("hosts 10.0.0.5 192.168.1.1 127.0.0.1 ::1 fe80::1 2001:db8::5").is_empty());
        assert!(
            kinds("version 1.2.3.4.5 and v8.8.8.8 at 12:30:45 mac 00:1a:2b:3c:4d:5e").is_empty()
        );
        assert!(kinds("{\"a\":\"b\",\"c\":1}").is_empty());
        assert!(kinds("use std::io::Result; a::b and ab::cd").is_empty());
    }

    #[test]
    fn custom_patterns_and_their_validation() {
        let p = custom_pattern("employee_id", r"\bEMP-[0-9]{6}\b", Severity::Medium).unwrap();
        let d = PiiDetector::new([false; 6], vec![p]);
        let mut out = Vec::new();
        d.scan("badge EMP-123456 and jane@example.com", &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].detector, "pii.employee_id");
        assert_eq!(out[0].evidence, "***-****56");
        assert!(custom_pattern("email", "x", Severity::Low).is_err());
        assert!(custom_pattern("Bad Name", "x", Severity::Low).is_err());
        assert!(custom_pattern("empty", "a*", Severity::Low).is_err());
        assert!(matches!(
            custom_pattern("broken", "(", Severity::Low),
            Err(EngineError::Pattern { .. })
        ));
    }

    #[test]
    fn evidence_is_masked() {
        let mut out = Vec::new();
        detector().scan("jane@example.com 4111-1111-1111-1111", &mut out);
        let ev: Vec<&str> = out.iter().map(|h| h.evidence.as_str()).collect();
        assert_eq!(ev, ["j***@example.com", "****-****-****-1111"]);
    }

    #[test]
    fn shape_gates_only_texts_that_cannot_match() {
        let json = r#"{"gen_ai.usage.input_tokens":4053,"ts":1763740000,"gen_ai.response.id":"chatcmpl-9f2"}"#;
        let sh = Shape::of(json.as_bytes());
        assert!(sh.grouped_digits < 12 && sh.phone_digits < 12, "{sh:?}");
        assert!(!sh.iban_start && !sh.dotted_quad);
        let sh =
            Shape::of(b"card 4111-1111-1111-1111, call (415) 555-0132, DE89 3704, from 8.8.8.8");
        assert_eq!(sh.grouped_digits, 16);
        assert!(sh.phone_digits >= 16 && sh.iban_start && sh.dotted_quad);
        assert!(!Shape::of(b"v1.2.3").dotted_quad);
        assert!(Shape::of(b"1.2.3.4").dotted_quad);
        assert!(Shape::of(b"+44 20 7946 0958").phone_digits >= 10);
    }

    /// Whatever the text, a pattern the shape rules out finds nothing.
    #[test]
    fn shape_never_hides_a_match() {
        let d = PiiDetector::new([true; 6], Vec::new());
        let samples = [
            "4111 1111 1111 1111",
            "078-05-1120",
            "(415) 555-0132",
            "+1 415.555.0132",
            "GB82 WEST 1234 5698 7654 32",
            "10.1.2.3 and 93.184.216.34",
            "+44 (0) 20-7946-0958",
            "DE89370400440532013000",
            "id 12345678901234567890",
            "1-800-555-0199",
        ];
        for t in samples {
            let sh = Shape::of(t.as_bytes());
            if d.card.is_match(t) {
                assert!(sh.grouped_digits >= 12, "{t}");
            }
            if d.ssn.is_match(t) {
                assert!(sh.grouped_digits >= 9, "{t}");
            }
            if d.phone
                .find_iter(t)
                .any(|m| m.as_str().bytes().filter(u8::is_ascii_digit).count() >= 8)
            {
                assert!(sh.phone_digits >= 8, "{t}");
            }
            if d.iban.is_match(t) {
                assert!(sh.iban_start, "{t}");
            }
            if d.ipv4.is_match(t) {
                assert!(sh.dotted_quad, "{t}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn next_digit_finds_what_a_byte_loop_finds(
            b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..64),
            from in 0usize..70,
        ) {
            let naive = b.iter().enumerate().skip(from).find(|(_, c)| c.is_ascii_digit()).map(|(i, _)| i);
            proptest::prop_assert_eq!(next_digit(&b, from), naive);
        }

        /// On generated digit-and-separator soup, the shape never rules out a pattern that
        /// matches.
        #[test]
        fn shape_is_a_necessary_condition(t in "[0-9 \\-.()+/A-Z:]{0,48}") {
            let d = PiiDetector::new([true; 6], Vec::new());
            let sh = Shape::of(t.as_bytes());
            if d.card.is_match(&t) { proptest::prop_assert!(sh.grouped_digits >= 12); }
            if d.ssn.is_match(&t) { proptest::prop_assert!(sh.grouped_digits >= 9); }
            if d.phone.find_iter(&t).any(|m| m.as_str().bytes().filter(u8::is_ascii_digit).count() >= 8) {
                proptest::prop_assert!(sh.phone_digits >= 8);
            }
            if d.iban.is_match(&t) { proptest::prop_assert!(sh.iban_start); }
            if d.ipv4.is_match(&t) { proptest::prop_assert!(sh.dotted_quad); }
        }
    }
}
