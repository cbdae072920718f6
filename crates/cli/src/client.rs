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
    /// Sent with every request and WebSocket handshake: the key or session, the project.
    headers: reqwest::header::HeaderMap,
}

fn header(v: &str) -> anyhow::Result<reqwest::header::HeaderValue> {
    let mut v = reqwest::header::HeaderValue::from_str(v)
        .map_err(|_| anyhow!("a credential or project name holds characters a header cannot"))?;
    v.set_sensitive(true);
    Ok(v)
}

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        Self::with_headers(base, reqwest::header::HeaderMap::new())
    }

    fn with_headers(base: &str, headers: reqwest::header::HeaderMap) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .default_headers(headers.clone())
            .build()?;
        Ok(Client {
            http,
            base: base.trim_end_matches('/').to_string(),
            headers,
        })
    }

    /// A client with the server's credentials: its API key, or a session signed in with
    /// `SPYGLASS_USERNAME` and `SPYGLASS_PASSWORD`.
    pub async fn connect(server: &crate::Server) -> anyhow::Result<Self> {
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(p) = &server.project {
            headers.insert("x-spyglass-project", header(p)?);
        }
        if let Some(key) = &server.api_key {
            headers.insert(
                reqwest::header::AUTHORIZATION,
                header(&format!("Bearer {key}"))?,
            );
        } else if let Some(user) = &server.username {
            let password = std::env::var("SPYGLASS_PASSWORD")
                .map_err(|_| anyhow!("set SPYGLASS_PASSWORD to sign in as {user}"))?;
            let plain = Client::new(&server.url)?;
            let resp = plain
                .http
                .post(format!("{}/api/v1/auth/login", plain.base))
                .json(&serde_json::json!({"username": user, "password": password}))
                .send()
                .await
                .with_context(|| unreachable(&plain.base))?;
            let status = resp.status();
            let cookie = resp
                .headers()
                .get(reqwest::header::SET_COOKIE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(';').next())
                .map(str::to_string);
            let body: Value = resp.json().await.unwrap_or_default();
            let (Some(cookie), Some(csrf)) = (cookie, body["csrf_token"].as_str()) else {
                let msg = body["error"]["message"]
                    .as_str()
                    .unwrap_or("sign-in failed");
                return Err(anyhow!("signing in as {user}: {status}: {msg}"));
            };
            headers.insert(reqwest::header::COOKIE, header(&cookie)?);
            headers.insert("x-csrf-token", header(csrf)?);
        }
        Self::with_headers(&server.url, headers)
    }

    /// A WebSocket handshake request for a path, with the client's credentials.
    pub fn ws_request(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> anyhow::Result<tokio_tungstenite::tungstenite::handshake::client::Request> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = self.ws_url(path, query).into_client_request()?;
        for (k, v) in &self.headers {
            req.headers_mut().insert(k, v.clone());
        }
        Ok(req)
    }

    /// POST a JSON body; the answer's JSON (the API's error message on failure).
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        self.send_json(reqwest::Method::POST, path, Some(body))
            .await
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
        let req = self.http.request(method, &url).query(query);
        self.answer(&url, req).await
    }

    async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let mut req = self.http.request(method, &url);
        if let Some(b) = body {
            req = req.json(b);
        }
        self.answer(&url, req).await
    }

    async fn answer(&self, url: &str, req: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = req.send().await.with_context(|| unreachable(&self.base))?;
        let status = resp.status();
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
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
