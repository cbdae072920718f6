//! Real redis-server processes for the tests, each on its own port and directory.
#![allow(dead_code)]

use spyglass_model::{JsonText, Span, SpanId, SpanKind, TraceId};
use spyglass_queue::{Handler, HandlerError, QueueConfig};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct RedisServer {
    pub port: u16,
    dir: tempfile::TempDir,
    aof: bool,
    child: Option<Child>,
}

/// A fresh redis-server, or `None` (with the reason printed) when none is installed, unless
/// SPYGLASS_REQUIRE_REDIS=1 makes that a failure.
pub fn redis(aof: bool) -> Option<RedisServer> {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var("SPYGLASS_REQUIRE_REDIS").as_deref() == Ok("1") {
            panic!("redis-server is not installed and SPYGLASS_REQUIRE_REDIS=1");
        }
        eprintln!("skipped: redis-server is not installed (apt-get install redis-server)");
        return None;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut s = RedisServer {
        port,
        dir: tempfile::tempdir().unwrap(),
        aof,
        child: None,
    };
    s.start();
    Some(s)
}

impl RedisServer {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none());
        let mut cmd = Command::new("redis-server");
        cmd.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(self.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if self.aof {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        self.child = Some(cmd.spawn().expect("spawn redis-server"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if ping(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// SIGKILL: no shutdown save, only what the AOF already has survives.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn cmd(&self, args: &[&str]) -> redis::Value {
        let client = redis::Client::open(self.url()).unwrap();
        let mut c = client.get_connection().unwrap();
        let mut cmd = redis::cmd(args[0]);
        for a in &args[1..] {
            cmd.arg(*a);
        }
        cmd.query(&mut c).unwrap()
    }

    pub fn int(&self, args: &[&str]) -> i64 {
        match self.cmd(args) {
            redis::Value::Int(i) => i,
            v => panic!("{args:?}: {v:?}"),
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

pub fn config(redis: &RedisServer, partitions: u32) -> QueueConfig {
    QueueConfig {
        url: redis.url(),
        partitions,
        lease_ms: 1000,
        block_ms: 200,
        enqueue_timeout_ms: 1000,
        ..Default::default()
    }
}

/// A realistic LLM span of about 1 KB.
pub fn span(project: &str, trace: u128, i: u64) -> Span {
    let mut s = Span::new(
        TraceId::from_u128(trace),
        SpanId::from_u64(i + 1),
        "chat gpt-4o-mini",
        1_700_000_000_000_000_000 + i as i64,
    );
    s.project_id = Arc::from(project);
    s.kind = SpanKind::Llm;
    s.finish(1_700_000_000_900_000_000 + i as i64);
    s.provider = Some("openai".into());
    s.request_model = Some("gpt-4o-mini".into());
    s.session_id = Some(format!("session-{}", trace % 97));
    s.tokens.input = Some(512);
    s.tokens.output = Some(128);
    s.cost_usd = Some(0.000_153);
    s.input = Some(format!(
        r#"[{{"role":"system","content":"You are a helpful research assistant. Answer briefly and cite sources."}},{{"role":"user","content":"Summarize the quarterly report number {i} and list the three main risks, the revenue trend and any guidance changes."}}]"#
    ));
    s.output = Some("Revenue grew 12% quarter over quarter, driven by subscriptions. Main risks: supplier concentration, currency exposure and a pending regulatory review. Guidance for the year was raised by 2 points, with margins expected to stay flat.".repeat(2));
    s.attributes = JsonText::parse(format!(
        r#"{{"gen_ai.operation.name":"chat","gen_ai.request.temperature":0.2,"http.route":"/v1/chat/completions","request.id":"req-{trace:x}-{i}"}}"#
    ))
    .unwrap();
    s
}

/// Records every handle call; optionally fails the first `fail_first` calls of each key.
#[derive(Default)]
pub struct Collect {
    pub calls: Mutex<Vec<(u32, String, Vec<Span>)>>,
    pub fail_first: usize,
    attempts: Mutex<HashMap<String, usize>>,
    pub acquired: Mutex<Vec<u32>>,
}

impl Collect {
    pub fn failing(n: usize) -> Self {
        Collect {
            fail_first: n,
            ..Default::default()
        }
    }

    pub fn spans(&self) -> usize {
        self.calls.lock().unwrap().iter().map(|c| c.2.len()).sum()
    }

    pub fn keys(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.1.clone())
            .collect()
    }
}

#[async_trait::async_trait]
impl Handler for Collect {
    async fn handle(
        &self,
        partition: u32,
        key: &str,
        spans: Vec<Span>,
    ) -> Result<(), HandlerError> {
        let n = {
            let mut a = self.attempts.lock().unwrap();
            let n = a.entry(key.to_string()).or_default();
            *n += 1;
            *n
        };
        if n <= self.fail_first {
            return Err(format!("attempt {n} of {key} fails").into());
        }
        self.calls
            .lock()
            .unwrap()
            .push((partition, key.to_string(), spans));
        Ok(())
    }

    fn acquired(&self, partition: u32) {
        self.acquired.lock().unwrap().push(partition);
    }
}

/// Polls `f` until it holds or `secs` pass.
pub async fn until(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
