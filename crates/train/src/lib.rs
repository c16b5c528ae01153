//! # scorelet-train
//!
//! The offline half of scorelet: load data, fit the core's feature pipeline (the same code every
//! runtime transforms with), train, evaluate, export ONNX and write a verified bundle.

pub mod data;
pub mod forest;
pub mod gbdt;
pub mod job;
pub mod linalg;
pub mod linreg;
pub mod logreg;
pub mod metrics;
pub mod mlp;
pub mod onnx;
pub mod progress;
pub mod report;
mod svg;
pub mod tree;

use scorelet::bundle::{InputColumn, Signature};
use scorelet::features::{ColumnTransform, FeatureSpec, FittedEncoding, FittedFeatures, Kind};

pub use data::Table;
pub use job::{ClassWeight, ModelKind, TaskKind, TrainJob, TrainOutcome, fit_features_on, rows_for};
pub use onnx::{Dense, Head, Precision};
pub use progress::Progress;

/// Errors of the training pipeline.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("data: {0}")]
    Data(String),
    #[error(transparent)]
    Core(#[from] scorelet::Error),
    #[error("training: {0}")]
    Training(String),
    /// Options out of their range (a user error, not a failure of the learner).
    #[error("options: {0}")]
    Options(String),
    #[error("quantization gate: {0}")]
    QuantizationGate(String),
    #[error("interrupted; nothing was written")]
    Interrupted,
}

/// The split of row indices.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub train: Vec<usize>,
    pub valid: Vec<usize>,
    pub holdout: Vec<usize>,
}

/// splitmix64: a tiny, well-known PRNG; deterministic across platforms.
pub struct Rng(pub u64);
impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Fisher–Yates shuffle.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// The signature a fitted pipeline implies.
pub fn signature(fitted: &FittedFeatures, spec: &FeatureSpec, target: &str) -> Signature {
    let inputs = fitted
        .columns
        .iter()
        .zip(&spec.columns)
        .map(|(c, s)| InputColumn {
            name: c.name.clone(),
            ty: match s.kind {
                Kind::Numeric => "number",
                Kind::Categorical => "string",
                Kind::Boolean => "boolean",
            }
            .into(),
            categories: match &c.transform {
                ColumnTransform::Categorical {
                    encoding: FittedEncoding::OneHot { categories } | FittedEncoding::Ordinal { categories },
                    ..
                } => categories.clone(),
                _ => vec![],
            },
        })
        .collect();
    let mut ignored = spec.ignore.clone();
    if !ignored.iter().any(|c| c == target) {
        ignored.push(target.to_string());
    }
    Signature { inputs, ignored }
}
