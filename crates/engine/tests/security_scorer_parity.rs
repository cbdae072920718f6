//! The injection model's features are computed in Rust at run time and in Python at training
//! time; they must agree exactly or the shipped weights mean something else in production.
//! `train/train_injection.py` exports texts with the folded form and the score it computed;
//! this test recomputes both.

use spyglass_engine::security::{SecurityConfig, SecurityEngine};

#[test]
fn rust_folding_and_scores_match_the_training_script() {
    let fixture: serde_json::Value =
        serde_json::from_str(include_str!("data/injection_parity.json")).unwrap();
    let engine = SecurityEngine::new(SecurityConfig::default()).unwrap();
    let cases = fixture["cases"].as_array().unwrap();
    assert!(
        cases.len() >= 20,
        "the fixture should exercise every folding step"
    );
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let folded = case["folded"].as_str().unwrap();
        let want = case["score"].as_f64().unwrap();
        assert_eq!(
            engine.injection_folding(text).unwrap(),
            folded,
            "folding of {text:?}"
        );
        let got = engine.injection_model_score(text).unwrap() as f64;
        assert!(
            (got - want).abs() < 1e-4,
            "score of {text:?}: rust {got}, python {want}"
        );
    }
}
