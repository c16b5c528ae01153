//! Golden vectors travel with the model: raw holdout rows with the feature vectors and model
//! outputs the trainer computed. Every runtime re-computes them at load; a runtime only turns
//! ready once they match. Features must match bit for bit; so must model outputs when the golden
//! file was made by the compiled engine and the compiled engine checks it (it computes the same
//! bits on every target). Otherwise outputs match within [`OUTPUT_TOLERANCE`], because the
//! optimized kernels tract picks differ between CPUs and instruction sets (AVX2/FMA vs wasm SIMD)
//! in the order they add.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::api::RowReader;
use crate::bundle::{Bundle, GOLDEN};
use crate::error::{Error, Result};
use crate::predict::Scorer;

/// Largest absolute difference accepted between a golden output and a re-computed one.
pub const OUTPUT_TOLERANCE: f32 = 1e-5;

/// `golden.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Golden {
    /// Raw rows, as JSON objects keyed by column name.
    pub rows: Vec<Map<String, Json>>,
    /// The feature vector of each row.
    pub features: Vec<Vec<f32>>,
    /// The model outputs of each row (probabilities per class, or the value).
    pub outputs: Vec<Vec<f32>>,
    /// The engine the outputs were computed with (`compiled` or `tract`; absent in bundles made
    /// before there were two). Compiled-engine outputs are the same bits on every target, so a
    /// check on the compiled engine of a compiled-engine golden file allows no difference at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// What a golden check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoldenReport {
    pub rows: usize,
    /// Rows whose outputs were bit-identical to the golden ones.
    pub exact_outputs: usize,
    pub max_output_diff: f32,
}

impl Golden {
    pub fn from_json(bytes: &[u8]) -> Result<Golden> {
        let g: Golden = serde_json::from_slice(bytes).map_err(|e| Error::Bundle(format!("golden.json: {e}")))?;
        if g.rows.len() != g.features.len() || g.rows.len() != g.outputs.len() {
            return Err(Error::Bundle("golden.json: rows, features and outputs differ in length".into()));
        }
        Ok(g)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("golden serializes")
    }

    /// The golden vectors a bundle carries, if it has any.
    pub fn from_bundle(bundle: &Bundle) -> Result<Option<Golden>> {
        bundle.file(GOLDEN).map(Golden::from_json).transpose()
    }

    /// The golden rows' feature vectors, repeated to `rows` rows, row-major: a realistic ready
    /// matrix for the benchmarks (native and in the WASI command's `--bench-model`).
    pub fn repeated_features(&self, rows: usize) -> Vec<f32> {
        self.features.iter().cycle().take(rows).flatten().copied().collect()
    }

    /// Re-computes every golden row with `scorer` and compares.
    pub fn check(&self, scorer: &Scorer) -> Result<GoldenReport> {
        if self.rows.is_empty() {
            return Err(Error::Golden("golden.json has no rows".into()));
        }
        let reader = RowReader::for_pipeline(scorer.pipeline());
        let records: Vec<Json> = self.rows.iter().cloned().map(Json::Object).collect();
        let rows = reader.records(&records).map_err(|e| Error::Golden(format!("golden rows do not parse: {e}")))?;
        let mut report = GoldenReport { rows: rows.len(), exact_outputs: 0, max_output_diff: 0.0 };
        let tolerance = if self.engine.as_deref() == Some("compiled") && scorer.engine() == "compiled" {
            0.0
        } else {
            OUTPUT_TOLERANCE
        };
        for (start, chunk) in rows.chunks(scorer.max_batch()).enumerate() {
            let start = start * scorer.max_batch();
            let (features, outputs) =
                scorer.score(chunk).map_err(|e| Error::Golden(format!("golden rows do not score: {e}")))?;
            let width = scorer.pipeline().width();
            for i in 0..chunk.len() {
                let r = start + i;
                let got = &features[i * width..(i + 1) * width];
                let want = &self.features[r];
                if got.len() != want.len() || got.iter().zip(want).any(|(a, b)| a.to_bits() != b.to_bits()) {
                    return Err(Error::Golden(format!("row {r}: feature vector differs from the trainer's")));
                }
                let got = outputs.row(i);
                let want = &self.outputs[r];
                if got.len() != want.len() {
                    return Err(Error::Golden(format!(
                        "row {r}: model returned {} outputs, golden has {}",
                        got.len(),
                        want.len()
                    )));
                }
                let mut exact = true;
                for (a, b) in got.iter().zip(want) {
                    let d = (a - b).abs();
                    if d.is_nan() || d > tolerance {
                        return Err(Error::Golden(format!("row {r}: model output {a} differs from golden {b}")));
                    }
                    exact &= a.to_bits() == b.to_bits();
                    report.max_output_diff = report.max_output_diff.max(d);
                }
                report.exact_outputs += exact as usize;
            }
        }
        Ok(report)
    }
}

/// The self-check every runtime runs at load: `bundle`'s golden vectors re-computed by `scorer`
/// (built from that bundle). A bundle without `golden.json` fails it.
pub fn self_check(scorer: &Scorer, bundle: &Bundle) -> Result<GoldenReport> {
    let g = Golden::from_bundle(bundle)?.ok_or_else(|| Error::Golden("the bundle has no golden.json".into()))?;
    g.check(scorer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A golden file the compiled engine made is held to the last bit; one without an engine
    /// (older bundles) keeps the tolerance.
    #[test]
    fn compiled_engine_golden_files_allow_no_difference() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundle");
        let bundle = Bundle::load_dir(dir).unwrap();
        let scorer = Scorer::from_bundle(&bundle).unwrap();
        assert_eq!(scorer.engine(), "compiled");
        let mut g = Golden::from_bundle(&bundle).unwrap().unwrap();
        let exact = g.check(&scorer).unwrap();
        assert_eq!(exact.exact_outputs, exact.rows);
        g.outputs[0][0] = f32::from_bits(g.outputs[0][0].to_bits() + 1);
        g.engine = None;
        assert!(g.check(&scorer).is_ok(), "an old golden file tolerates one ulp");
        g.engine = Some("compiled".into());
        let e = g.check(&scorer).unwrap_err();
        assert!(e.to_string().contains("row 0: model output"), "{e}");
        g.engine = Some("tract".into());
        assert!(g.check(&scorer).is_ok(), "tract-made outputs keep the tolerance");
    }
}
