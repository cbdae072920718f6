//! Precision, recall and F1 of the prompt-injection detector on a labeled CSV (`text,label`,
//! 1 = injection), at the configured threshold, with a threshold sweep and the learned model's
//! figures without the rules.
//!
//! `cargo run --release -p spyglass-engine --example eval_injection -- FILE.csv [--threshold T] [--errors]`

#[path = "../tests/security_support/mod.rs"]
#[allow(dead_code)]
mod support;

use spyglass_engine::security::{SecurityConfig, SecurityEngine};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;
use support::{Metrics, read_labeled_csv};

fn main() -> ExitCode {
    let mut path = None;
    let mut config = SecurityConfig::default();
    let mut show_errors = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threshold" => match args.next().and_then(|t| t.parse().ok()) {
                Some(t) => {
                    config.injection_threshold = t;
                    config.block_threshold = config.block_threshold.max(t);
                }
                None => return usage(),
            },
            "--errors" => show_errors = true,
            _ if path.is_none() && !a.starts_with('-') => path = Some(PathBuf::from(a)),
            _ => return usage(),
        }
    }
    let Some(path) = path else { return usage() };
    let rows = match read_labeled_csv(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("eval_injection: {e}");
            return ExitCode::FAILURE;
        }
    };
    let threshold = config.injection_threshold;
    let engine = match SecurityEngine::new(config) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("eval_injection: {e}");
            return ExitCode::FAILURE;
        }
    };
    let start = Instant::now();
    let scores: Vec<(f32, bool)> = rows
        .iter()
        .map(|(t, l)| (engine.injection_score(t), *l))
        .collect();
    let elapsed = start.elapsed();
    let model: Vec<(f32, bool)> = rows
        .iter()
        .map(|(t, l)| (engine.injection_model_score(t).unwrap_or(0.0), *l))
        .collect();
    let positives = rows.iter().filter(|r| r.1).count();
    println!(
        "{}: {} texts, {} injections",
        path.display(),
        rows.len(),
        positives
    );
    let m = Metrics::of(&scores, threshold);
    println!(
        "detector at threshold {threshold:.2}: precision {:.4}  recall {:.4}  F1 {:.4}  (tp {} fp {} fn {} tn {})",
        m.precision(),
        m.recall(),
        m.f1(),
        m.tp,
        m.fp,
        m.fn_,
        m.tn
    );
    println!(
        "  {:.1} µs per text on average",
        elapsed.as_secs_f64() * 1e6 / rows.len().max(1) as f64
    );
    println!("threshold sweep (detector | model alone):");
    for t in [0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] {
        let d = Metrics::of(&scores, t);
        let a = Metrics::of(&model, t);
        println!(
            "  {t:.1}: P {:.4} R {:.4} F1 {:.4} | P {:.4} R {:.4} F1 {:.4}",
            d.precision(),
            d.recall(),
            d.f1(),
            a.precision(),
            a.recall(),
            a.f1()
        );
    }
    if show_errors {
        for ((text, label), (s, _)) in rows.iter().zip(&scores) {
            if (*s >= threshold) != *label {
                println!("{} {s:.3} {text}", if *label { "FN" } else { "FP" });
            }
        }
    }
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: eval_injection FILE.csv [--threshold T] [--errors]");
    ExitCode::from(2)
}
