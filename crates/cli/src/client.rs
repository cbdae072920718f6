//! A thin JSON client for the Spyglass API with errors a person can act on.

use anyhow::{Context, anyhow};
use serde_json::Value;

/// The error of a request that never reached the server.
pub(crate) fn unreachable(base: &str) -> String {
    format!("cannot reach Spyglass at {base} (is `spyglass serve` running? set --url)")
}

pub struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET a path with query pairs; the API's `{"error": …}` becomes the error message.
    pub async fn get(&self, path: &str, query: &[(String, String)]) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, query).await
    }

    /// DELETE a path; the answer's JSON (the API's error message on failure).
    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::DELETE, path, &[]).await
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .http
            .request(method, &url)
            .query(query)
            .send()
            .await
            .with_context(|| unreachable(&self.base))?;
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .with_context(|| format!("{url}: response is not JSON"))?;
        if !status.is_success() {
            let msg = body["error"]["message"]
                .as_str()
                .unwrap_or("request failed");
            return Err(anyhow!("{status}: {msg}"));
        }
        Ok(body)
    }

    /// The WebSocket URL of a path (http → ws).
    pub fn ws_url(&self, path: &str, query: &[(String, String)]) -> String {
        let base = self
            .base
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        let q: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        if q.is_empty() {
            format!("{base}{path}")
        } else {
            format!("{base}{path}?{}", q.join("&"))
        }
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}

fn urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn ws_urls() {
        let c = super::Client::new("http://127.0.0.1:6060/").unwrap();
        assert_eq!(
            c.ws_url("/api/v1/live", &[("service".into(), "a b".into())]),
            "ws://127.0.0.1:6060/api/v1/live?service=a%20b"
        );
    }
}
