//! JSON lines in, JSON lines out: the batch format shared by `scorelet features`/`predict`, the
//! WASI command and the JS package, so each target's output can be compared byte for byte.
//!
//! Each input line is one record (`{"column": value, ...}`); each output line is
//! `{"features": [...], "outputs": [...], "prediction": {...}}`.

use serde_json::{Value as Json, json};

use super::RowReader;
use crate::error::{Error, Result};
use crate::predict::Scorer;
use crate::value::f32s_json;

/// Parses JSON lines (blank lines skipped) into records; errors name the line.
pub fn parse_lines(text: &str) -> Result<Vec<Json>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| Error::BadRequest(format!("line {}: not valid JSON: {e}", i + 1)))
        })
        .collect()
}

/// Scores records in batches of the scorer's limit; one output object per record.
pub fn score_records(scorer: &Scorer, records: &[Json]) -> Result<Vec<Json>> {
    let reader = RowReader::for_pipeline(scorer.pipeline());
    let width = scorer.pipeline().width();
    let mut out = Vec::with_capacity(records.len());
    for (c, chunk) in records.chunks(scorer.max_batch().max(1)).enumerate() {
        let base = c * scorer.max_batch().max(1);
        let rows = reader.records(chunk).map_err(|e| e.offset_row(base))?;
        let (features, outputs) = scorer.score(&rows).map_err(|e| e.offset_row(base))?;
        for i in 0..rows.len() {
            let f = &features[i * width..(i + 1) * width];
            let prediction = scorer.interpret(outputs.row(i), None)?;
            out.push(json!({ "features": f32s_json(f), "outputs": f32s_json(outputs.row(i)), "prediction": prediction.to_json() }));
        }
    }
    Ok(out)
}

/// [`parse_lines`] + [`score_records`], rendered back as JSON lines.
pub fn score_lines(scorer: &Scorer, text: &str) -> Result<String> {
    let records = parse_lines(text)?;
    if records.is_empty() {
        return Err(Error::EmptyBatch);
    }
    let mut s = String::new();
    for v in score_records(scorer, &records)? {
        s.push_str(&v.to_string());
        s.push('\n');
    }
    Ok(s)
}
