//! Shared by the injection quality test and the `eval_injection` example: a labeled CSV reader
//! and detection metrics.

use std::path::Path;

/// Rows of a `text,label` CSV (RFC 4180 quoting; label 1 = injection).
pub fn read_labeled_csv(path: &Path) -> Result<Vec<(String, bool)>, String> {
    let data = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let records = parse_csv(&data);
    let mut rows = Vec::with_capacity(records.len());
    let mut it = records.into_iter();
    let header = it.next().ok_or("empty file")?;
    let text_col = header
        .iter()
        .position(|h| h == "text")
        .ok_or("no `text` column")?;
    let label_col = header
        .iter()
        .position(|h| h == "label")
        .ok_or("no `label` column")?;
    for (i, r) in it.enumerate() {
        let (Some(text), Some(label)) = (r.get(text_col), r.get(label_col)) else {
            return Err(format!("row {}: missing columns", i + 2));
        };
        let label = match label.trim() {
            "1" => true,
            "0" => false,
            other => return Err(format!("row {}: label {other:?}", i + 2)),
        };
        rows.push((text.clone(), label));
    }
    Ok(rows)
}

fn parse_csv(data: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = data.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// Confusion counts of a detector at one threshold.
#[derive(Debug, Default, Clone, Copy)]
pub struct Metrics {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
}

impl Metrics {
    pub fn of(scores: &[(f32, bool)], threshold: f32) -> Metrics {
        let mut m = Metrics::default();
        for &(s, label) in scores {
            match (s >= threshold, label) {
                (true, true) => m.tp += 1,
                (true, false) => m.fp += 1,
                (false, true) => m.fn_ += 1,
                (false, false) => m.tn += 1,
            }
        }
        m
    }
    pub fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }
    pub fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

#[test]
fn csv_quoting_and_metrics() {
    let rows = parse_csv("text,label\n\"a, \"\"quoted\"\"\nline\",1\nplain,0\n");
    assert_eq!(rows[1], ["a, \"quoted\"\nline", "1"]);
    assert_eq!(rows[2], ["plain", "0"]);
    let m = Metrics::of(&[(0.9, true), (0.8, false), (0.1, true), (0.2, false)], 0.5);
    assert_eq!((m.tp, m.fp, m.fn_, m.tn), (1, 1, 1, 1));
    assert_eq!((m.precision(), m.recall(), m.f1()), (0.5, 0.5, 0.5));
}
