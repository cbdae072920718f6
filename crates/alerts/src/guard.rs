//! The SSRF guard. Alert rules are written through the API, so without it anyone who can save
//! a rule could make the server POST to its own loopback services, the LAN, or the cloud
//! metadata endpoint. Every resolved address is checked (one bad record is enough for a
//! rebinding attacker), and delivery then connects to exactly the checked addresses.

use crate::error::NotifyError;
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Checks that `url` is http(s) and that none of the addresses its host resolves to is
/// loopback, private, link-local, or otherwise internal, unless `allow_private`. Returns the
/// addresses, which a delivery must then connect to (not re-resolve). Also meant for the API,
/// to refuse a rule whose webhook could never be delivered.
pub async fn check_target(url: &str, allow_private: bool) -> Result<Vec<SocketAddr>, NotifyError> {
    let parsed = Url::parse(url).map_err(|e| NotifyError::InvalidUrl(e.to_string()))?;
    check_url(&parsed, allow_private).await
}

pub(crate) async fn check_url(
    url: &Url,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, NotifyError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(NotifyError::Scheme(url.scheme().to_string()));
    }
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| NotifyError::InvalidUrl("the url has no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| NotifyError::InvalidUrl("the url has no port".into()))?;
    let (name, addrs) = match ip_literal(url) {
        Some(ip) => (None, vec![SocketAddr::new(ip, port)]),
        None => {
            let resolve_error = |reason: String| NotifyError::Resolve {
                host: host.to_string(),
                reason,
            };
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
                .await
                .map_err(|e| resolve_error(e.to_string()))?
                .collect();
            if found.is_empty() {
                return Err(resolve_error("no addresses".into()));
            }
            (Some(host), found)
        }
    };
    if !allow_private {
        for addr in &addrs {
            if let Some(kind) = internal_kind(addr.ip()) {
                let target = match name {
                    Some(n) => format!("{n} ({})", addr.ip()),
                    None => addr.ip().to_string(),
                };
                return Err(NotifyError::Refused { target, kind });
            }
        }
    }
    Ok(addrs)
}

/// The host of `url` when it is an IP address rather than a name.
pub(crate) fn ip_literal(url: &Url) -> Option<IpAddr> {
    let host = url.host_str()?;
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Why `ip` is not a public unicast address ("a loopback", …), or `None` when it is.
pub fn internal_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => internal_v6(v6),
    }
}

fn internal_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    let kind = if ip == Ipv4Addr::new(169, 254, 169, 254) {
        "the cloud metadata"
    } else if a == 0 {
        // 0.0.0.0/8: connecting to it reaches this host on Linux.
        "an unspecified"
    } else if ip.is_loopback() {
        "a loopback"
    } else if ip.is_private() {
        "a private"
    } else if ip.is_link_local() {
        "a link-local"
    } else if a == 100 && (b & 0xc0) == 64 {
        "a shared (CGNAT)"
    } else if ip.is_broadcast() {
        "a broadcast"
    } else if ip.is_multicast() {
        "a multicast"
    } else if ip.is_documentation() {
        "a documentation"
    } else if a == 198 && (b & 0xfe) == 18 {
        "a benchmarking"
    } else if (a == 192 && b == 0 && c == 0) || a >= 240 {
        "a reserved"
    } else {
        return None;
    };
    Some(kind)
}

fn internal_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    let kind = if ip.is_unspecified() {
        "an unspecified"
    } else if ip.is_loopback() {
        "a loopback"
    } else if let Some(v4) = embedded_v4(ip) {
        // An IPv4 address in IPv6 clothing reaches the IPv4 host: judge that.
        return internal_v4(v4);
    } else if s[0] & 0xffc0 == 0xfe80 {
        "a link-local"
    } else if s[0] & 0xffc0 == 0xfec0 {
        "a site-local"
    } else if s[0] & 0xfe00 == 0xfc00 {
        "a unique-local"
    } else if s[0] & 0xff00 == 0xff00 {
        "a multicast"
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] & 0xf000 == 0) {
        "a documentation"
    } else if s[0] == 0x0100 && s[1..4] == [0, 0, 0] {
        "a discard-only"
    } else {
        return None;
    };
    Some(kind)
}

/// The IPv4 address inside an IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d),
/// NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:aabb:ccdd::) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo]
        | [0, 0, 0, 0, 0, 0, hi, lo]
        | [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<&'static str> {
        internal_kind(s.parse().unwrap())
    }

    #[test]
    fn internal_addresses_are_classified() {
        for (addr, want) in [
            ("127.0.0.1", "a loopback"),
            ("127.8.9.10", "a loopback"),
            ("10.0.0.1", "a private"),
            ("172.16.0.1", "a private"),
            ("172.31.255.255", "a private"),
            ("192.168.1.1", "a private"),
            ("169.254.169.254", "the cloud metadata"),
            ("169.254.1.1", "a link-local"),
            ("0.0.0.0", "an unspecified"),
            ("0.1.2.3", "an unspecified"),
            ("255.255.255.255", "a broadcast"),
            ("224.0.0.1", "a multicast"),
            ("100.64.0.1", "a shared (CGNAT)"),
            ("100.127.255.255", "a shared (CGNAT)"),
            ("192.0.2.1", "a documentation"),
            ("198.51.100.7", "a documentation"),
            ("203.0.113.9", "a documentation"),
            ("198.18.0.1", "a benchmarking"),
            ("240.0.0.1", "a reserved"),
            ("::", "an unspecified"),
            ("::1", "a loopback"),
            ("fe80::1", "a link-local"),
            ("febf::1", "a link-local"),
            ("fc00::1", "a unique-local"),
            ("fd12:3456::1", "a unique-local"),
            ("ff02::1", "a multicast"),
            ("2001:db8::1", "a documentation"),
            ("::ffff:127.0.0.1", "a loopback"),
            ("::ffff:10.1.2.3", "a private"),
            ("::ffff:169.254.169.254", "the cloud metadata"),
            ("::10.1.2.3", "a private"),
            ("64:ff9b::7f00:1", "a loopback"),
            ("2002:c0a8:0101::1", "a private"),
        ] {
            assert_eq!(kind(addr), Some(want), "{addr}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for addr in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "169.255.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::1",
        ] {
            assert_eq!(kind(addr), None, "{addr}");
        }
    }

    #[tokio::test]
    async fn literal_targets() {
        let err = check_target("http://127.0.0.1:8080/hook", false)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "webhook target 127.0.0.1 is a loopback address; set alerts.allow_private_webhooks to allow it"
        );
        assert!(err.is_refused());
        let err = check_target("http://[::ffff:a9fe:a9fe]/latest/meta-data", false)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("cloud metadata"), "{err}");
        // Alternative IPv4 spellings are normalised by the URL parser before the check.
        assert!(
            check_target("http://0x7f.1/", false)
                .await
                .unwrap_err()
                .is_refused()
        );
        assert!(
            check_target("http://2130706433/", false)
                .await
                .unwrap_err()
                .is_refused()
        );

        let ok = check_target("http://127.0.0.1:8080/hook", true)
            .await
            .unwrap();
        assert_eq!(ok, vec!["127.0.0.1:8080".parse().unwrap()]);
        let ok = check_target("https://8.8.8.8/x", false).await.unwrap();
        assert_eq!(ok, vec!["8.8.8.8:443".parse().unwrap()]);
    }

    #[tokio::test]
    async fn names_are_resolved_before_the_check() {
        let err = check_target("http://localhost:9/hook", false)
            .await
            .unwrap_err();
        assert!(err.is_refused(), "{err}");
        assert!(
            err.to_string().starts_with("webhook target localhost ("),
            "{err}"
        );
    }

    #[tokio::test]
    async fn only_http_is_allowed() {
        for url in [
            "ftp://example.com/x",
            "file:///etc/passwd",
            "gopher://8.8.8.8/",
        ] {
            let err = check_target(url, true).await.unwrap_err();
            assert!(matches!(err, NotifyError::Scheme(_)), "{url}: {err}");
        }
        assert!(matches!(
            check_target("not a url", true).await,
            Err(NotifyError::InvalidUrl(_))
        ));
    }
}
