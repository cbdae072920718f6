//! Quality regression: the injection detector, at its default threshold, on the validation
//! split it was tuned on (never trained on). Fails when a change to folding, rules, features
//! or weights costs precision or recall.

mod security_support;

use security_support::{Metrics, read_labeled_csv};
use spyglass_engine::security::{SecurityConfig, SecurityEngine};
use std::path::Path;

#[test]
fn injection_detector_keeps_f1_and_precision_on_validation() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/prompt_injection_validation.csv");
    let rows = read_labeled_csv(&path).unwrap();
    assert_eq!(rows.len(), 2101);
    let config = SecurityConfig::default();
    let threshold = config.injection_threshold;
    let engine = SecurityEngine::new(config).unwrap();
    let scores: Vec<(f32, bool)> = rows
        .iter()
        .map(|(text, label)| (engine.injection_score(text), *label))
        .collect();
    let m = Metrics::of(&scores, threshold);
    println!(
        "precision {:.4} recall {:.4} F1 {:.4} ({m:?})",
        m.precision(),
        m.recall(),
        m.f1()
    );
    assert!(
        m.precision() >= 0.95,
        "precision {:.4} < 0.95",
        m.precision()
    );
    assert!(m.f1() >= 0.90, "F1 {:.4} < 0.90", m.f1());
}
