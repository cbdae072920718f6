//! Where a request carries who it is: an API key (`Authorization: Bearer`, `X-API-Key`, the
//! same names as OTLP exporter headers on gRPC and HTTP) or a session cookie.

use http::HeaderMap;

pub const SESSION_COOKIE: &str = "spyglass_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
pub const PROJECT_HEADER: &str = "x-spyglass-project";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials<'a> {
    None,
    Key(&'a str),
    Session(&'a str),
}

pub fn from_headers(headers: &HeaderMap) -> Credentials<'_> {
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let v = v.trim();
        if let Some((scheme, token)) = v.split_once(' ')
            && scheme.eq_ignore_ascii_case("bearer")
        {
            return Credentials::Key(token.trim());
        }
        return Credentials::Key(v);
    }
    if let Some(v) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Credentials::Key(v.trim());
    }
    for cookies in headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for pair in cookies.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=')
                && name == SESSION_COOKIE
            {
                return Credentials::Session(value.trim());
            }
        }
    }
    Credentials::None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn every_place_a_key_or_session_comes_from() {
        assert_eq!(
            from_headers(&headers(&[("authorization", "Bearer sg_k")])),
            Credentials::Key("sg_k")
        );
        assert_eq!(
            from_headers(&headers(&[("authorization", "bearer  sg_k ")])),
            Credentials::Key("sg_k")
        );
        assert_eq!(
            from_headers(&headers(&[("x-api-key", "sg_k")])),
            Credentials::Key("sg_k")
        );
        assert_eq!(
            from_headers(&headers(&[("cookie", "a=b; spyglass_session=tok; c=d")])),
            Credentials::Session("tok")
        );
        assert_eq!(
            from_headers(&headers(&[
                ("cookie", "a=b"),
                ("cookie", "spyglass_session=t2")
            ])),
            Credentials::Session("t2")
        );
        assert_eq!(
            from_headers(&headers(&[("cookie", "x=y")])),
            Credentials::None
        );
        // A key wins over a cookie: scripts that carry both mean the key.
        assert_eq!(
            from_headers(&headers(&[
                ("cookie", "spyglass_session=tok"),
                ("x-api-key", "sg_k")
            ])),
            Credentials::Key("sg_k")
        );
    }
}
