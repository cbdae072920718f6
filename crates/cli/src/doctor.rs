//! `spyglass doctor`: sends one probe span through a running server and times each stage:
//! API ready, live subscription, OTLP acknowledgement (which the server gives only after the
//! span is committed), queryable through the API, and delivered on the live stream.

use crate::Server;
use crate::client::Client;
use futures::StreamExt;
use prost::Message as _;
use spyglass_synth::build::{Rng, TraceBuilder, kv_str, request};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    server: Server,
    /// OTLP/HTTP base URL of the same server.
    #[arg(
        long,
        env = "SPYGLASS_OTLP_URL",
        default_value = "http://127.0.0.1:4318"
    )]
    otlp: String,
    /// How long to wait for each stage.
    #[arg(long, default_value = "10")]
    timeout_secs: u64,
}

struct Report {
    ok: bool,
}

impl Report {
    fn stage(&mut self, name: &str, result: Result<Duration, String>) {
        match result {
            Ok(d) => println!("  ✓ {name:<18} {:>9.2} ms", d.as_secs_f64() * 1e3),
            Err(e) => {
                self.ok = false;
                println!("  ✗ {name:<18} {e}");
            }
        }
    }
}

pub async fn doctor(a: DoctorArgs) -> anyhow::Result<()> {
    let client = Client::connect(&a.server).await?;
    let timeout = Duration::from_secs(a.timeout_secs);
    println!(
        "spyglass doctor → API {} · OTLP/HTTP {}",
        client.base(),
        a.otlp
    );
    let mut r = Report { ok: true };

    let t = Instant::now();
    let ready = client
        .http()
        .get(format!("{}/readyz", client.base()))
        .send()
        .await;
    r.stage(
        "api ready",
        match ready {
            Ok(resp) if resp.status().is_success() => Ok(t.elapsed()),
            Ok(resp) => Err(format!("/readyz answered {}", resp.status())),
            Err(e) => Err(format!("cannot reach {}: {e}", client.base())),
        },
    );
    if !r.ok {
        anyhow::bail!("the API is not reachable; start it with `spyglass serve`");
    }

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64;
    let mut rng = Rng::new(seed);
    let mut b = TraceBuilder::new(&mut rng, spyglass_now());
    b.span(
        None,
        "spyglass doctor probe",
        0,
        1,
        vec![
            kv_str("gen_ai.operation.name", "invoke_agent"),
            kv_str("gen_ai.agent.name", "spyglass-doctor"),
        ],
    );
    let trace_hex: String = b.trace_id.iter().map(|x| format!("{x:02x}")).collect();
    let body =
        request("spyglass-doctor", "diagnostics", "spyglass.doctor", b.spans).encode_to_vec();

    let t = Instant::now();
    let req = client.ws_request("/api/v1/live", &[("trace_id".into(), trace_hex.clone())])?;
    let mut ws = match tokio::time::timeout(timeout, tokio_tungstenite::connect_async(req)).await {
        Ok(Ok((mut ws, _))) => {
            let _ = tokio::time::timeout(timeout, ws.next()).await; // the "subscribed" message
            r.stage("live subscribed", Ok(t.elapsed()));
            Some(ws)
        }
        Ok(Err(e)) => {
            r.stage("live subscribed", Err(e.to_string()));
            None
        }
        Err(_) => {
            r.stage("live subscribed", Err("timed out".into()));
            None
        }
    };

    let sent = Instant::now();
    let resp = client
        .http()
        .post(format!("{}/v1/traces", a.otlp.trim_end_matches('/')))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .send()
        .await;
    r.stage(
        "received + stored",
        match resp {
            Ok(resp) if resp.status().is_success() => Ok(sent.elapsed()),
            Ok(resp) => Err(format!("OTLP/HTTP answered {}", resp.status())),
            Err(e) => Err(format!("cannot reach {}: {e}", a.otlp)),
        },
    );

    let path = format!("/api/v1/traces/{trace_hex}");
    let queryable = async {
        loop {
            if client.get(&path, &[]).await.is_ok() {
                return sent.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    };
    r.stage(
        "queryable",
        tokio::time::timeout(timeout, queryable)
            .await
            .map_err(|_| format!("not found within {timeout:?}")),
    );

    if let Some(ws) = ws.as_mut() {
        let live = async {
            while let Some(Ok(msg)) = ws.next().await {
                if let Message::Text(t) = msg
                    && t.contains(&trace_hex)
                {
                    return Ok(sent.elapsed());
                }
            }
            Err("stream closed".to_string())
        };
        r.stage(
            "live delivered",
            tokio::time::timeout(timeout, live)
                .await
                .unwrap_or_else(|_| Err("timed out".into())),
        );
    }
    if r.ok {
        println!("all stages ok (probe trace {trace_hex})");
        Ok(())
    } else {
        anyhow::bail!("some stages failed")
    }
}

fn spyglass_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}
