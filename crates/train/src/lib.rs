//! # scorelet-train
//!
//! The offline half of scorelet: load data, fit the core's feature pipeline (the same code every
//! runtime transforms with), train, evaluate, export ONNX and write a verified bundle.

pub mod data;
pub mod logreg;
pub mod metrics;
pub mod onnx;
mod time;

use std::collections::BTreeMap;

use scorelet::bundle::{BUNDLE_FORMAT, FEATURES, GOLDEN, InputColumn, Manifest, ModelInfo, Signature, Task};
use scorelet::features::{ColumnTransform, FeatureSpec, FittedEncoding, FittedFeatures, Fitter, Kind, Pipeline};
use scorelet::golden::Golden;
use scorelet::{Bundle, Row, Scorer, Value};
use serde_json::json;

pub use data::Table;
pub use onnx::{Dense, Head, Precision};

/// Errors of the training pipeline.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("data: {0}")]
    Data(String),
    #[error(transparent)]
    Core(#[from] scorelet::Error),
    #[error("training: {0}")]
    Training(String),
}

/// What to fit the model with.
#[derive(Debug, Clone)]
pub enum Estimator {
    LogReg(logreg::LogRegOptions),
    /// Fixed layers (weights given, nothing trained); for tests and imported weights.
    Layers(Vec<Dense>),
}

/// A binary classification job from a table to a bundle.
#[derive(Debug, Clone)]
pub struct BinaryJob {
    pub name: String,
    pub target: String,
    pub positive: String,
    pub spec: FeatureSpec,
    pub estimator: Estimator,
    pub precision: Precision,
    pub seed: u64,
    /// Holdout rows kept as golden vectors.
    pub golden_rows: usize,
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
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// Deterministic stratified 70/10/20 split of rows by label.
pub fn stratified_split(labels: &[bool], seed: u64) -> Split {
    let mut rng = Rng(seed);
    let mut split = Split { train: vec![], valid: vec![], holdout: vec![] };
    for class in [false, true] {
        let mut idx: Vec<usize> = (0..labels.len()).filter(|i| labels[*i] == class).collect();
        rng.shuffle(&mut idx);
        let n = idx.len();
        let (a, b) = (n * 7 / 10, n * 8 / 10);
        split.train.extend_from_slice(&idx[..a]);
        split.valid.extend_from_slice(&idx[a..b]);
        split.holdout.extend_from_slice(&idx[b..]);
    }
    for s in [&mut split.train, &mut split.valid, &mut split.holdout] {
        s.sort_unstable();
    }
    split
}

/// Rows of raw values in the spec's column order.
pub fn rows_for(table: &Table, spec: &FeatureSpec, which: &[usize]) -> Result<Vec<Row>, TrainError> {
    let cols: Vec<usize> = spec.columns.iter().map(|c| table.column(&c.name)).collect::<Result<_, _>>()?;
    Ok(which.iter().map(|&r| cols.iter().map(|&c| Value::Text(table.rows[r][c].clone())).collect()).collect())
}

/// Fits the feature pipeline on `rows`.
pub fn fit_features(spec: &FeatureSpec, rows: &[Row]) -> Result<FittedFeatures, TrainError> {
    let mut f = Fitter::new(spec)?;
    for (i, r) in rows.iter().enumerate() {
        f.push(r, i)?;
    }
    Ok(f.finish()?)
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

/// What a job produced besides the bundle.
#[derive(Debug, Clone)]
pub struct JobReport {
    pub metrics: BTreeMap<String, f64>,
    pub split: Split,
}

impl BinaryJob {
    /// Runs the job: split, fit features, train, export, evaluate, golden vectors, bundle.
    pub fn run(&self, table: &Table) -> Result<(Bundle, JobReport), TrainError> {
        let t = table.column(&self.target)?;
        let mut classes: Vec<String> = table.rows.iter().map(|r| r[t].clone()).collect();
        classes.sort();
        classes.dedup();
        if classes.len() != 2 || !classes.contains(&self.positive) {
            return Err(TrainError::Data(format!(
                "target `{}` must have exactly two classes including {:?}; found {:?}",
                self.target,
                self.positive,
                classes.iter().take(5).collect::<Vec<_>>()
            )));
        }
        let labels: Vec<bool> = table.rows.iter().map(|r| r[t] == self.positive).collect();
        let split = stratified_split(&labels, self.seed);
        let mut spec = self.spec.clone();
        if !spec.ignore.contains(&self.target) && !spec.columns.iter().any(|c| c.name == self.target) {
            spec.ignore.push(self.target.clone());
        }
        let train_rows = rows_for(table, &spec, &split.train)?;
        let fitted = fit_features(&spec, &train_rows)?;
        let pipeline = Pipeline::new(fitted.clone())?;
        let d = pipeline.width();
        let layers = match &self.estimator {
            Estimator::LogReg(opt) => {
                let x = pipeline.transform_batch(&train_rows)?;
                let y: Vec<bool> = split.train.iter().map(|i| labels[*i]).collect();
                vec![logreg::LogReg::fit(&x, d, &y, *opt).to_dense()]
            }
            Estimator::Layers(l) => {
                if l.first().map(|l| l.inputs) != Some(d) {
                    return Err(TrainError::Training(format!(
                        "the layers take {:?} inputs; the features are {d} wide",
                        l.first().map(|l| l.inputs)
                    )));
                }
                l.clone()
            }
        };
        let calibration = match self.precision {
            Precision::Float32 => None,
            Precision::Int8 => {
                // Calibrate activation ranges on (at most 20 000) training rows.
                let n = train_rows.len().min(20_000);
                Some(onnx::calibrate(&layers, &pipeline.transform_batch(&train_rows[..n])?))
            }
        };
        let model = onnx::export(&layers, Head::Binary, calibration.as_ref());
        let negative = classes.iter().find(|c| **c != self.positive).cloned().expect("two classes");
        let manifest = Manifest {
            format: BUNDLE_FORMAT.into(),
            name: self.name.clone(),
            version: None,
            created: time::now_rfc3339(),
            task: Task::BinaryClassification {
                classes: [negative, self.positive.clone()],
                positive_class: self.positive.clone(),
                threshold: 0.5,
            },
            signature: signature(&fitted, &spec, &self.target),
            model: ModelInfo {
                file: "model.onnx".into(),
                input: onnx::INPUT.into(),
                output: Head::Binary.output_name().into(),
                link: Head::Binary.link(),
                n_features: d,
                precision: self.precision.as_str().into(),
                opset: Some(onnx::OPSET),
            },
            metrics: BTreeMap::new(),
            lineage: json!({
                "training_data": { "sha256": table.sha256, "rows": table.rows.len() },
                "target": self.target,
                "split": { "seed": self.seed, "train": split.train.len(), "valid": split.valid.len(), "holdout": split.holdout.len() },
                "trainer": format!("scorelet-train {}", env!("CARGO_PKG_VERSION")),
            }),
            files: BTreeMap::new(),
        };
        let mut files = BTreeMap::from([(FEATURES.to_string(), fitted.to_json()), ("model.onnx".to_string(), model)]);
        // Score the holdout with the core itself: the metrics and golden vectors are what every
        // runtime will compute.
        let draft = Bundle::assemble(manifest.clone(), files.clone())?;
        let scorer = Scorer::from_bundle(&draft)?;
        let holdout_rows = rows_for(table, &spec, &split.holdout)?;
        let mut scores = Vec::with_capacity(holdout_rows.len());
        let mut outputs_all = Vec::new();
        let mut features_all = Vec::new();
        for chunk in holdout_rows.chunks(4096) {
            let (f, o) = scorer.score(chunk)?;
            for i in 0..chunk.len() {
                scores.push(o.row(i)[1] as f64);
                outputs_all.push(o.row(i).to_vec());
                features_all.push(f[i * d..(i + 1) * d].to_vec());
            }
        }
        let hl: Vec<bool> = split.holdout.iter().map(|i| labels[*i]).collect();
        let metrics = metrics::binary_metrics(&scores, &hl, 0.5);
        let g = self.golden_rows.min(holdout_rows.len());
        let golden = Golden {
            rows: split.holdout[..g]
                .iter()
                .map(|&r| table.header.iter().cloned().zip(table.rows[r].iter().map(|c| json!(c))).collect())
                .collect(),
            features: features_all[..g].to_vec(),
            outputs: outputs_all[..g].to_vec(),
        };
        files.insert(GOLDEN.to_string(), golden.to_json());
        let mut manifest = manifest;
        manifest.metrics = metrics.clone();
        let bundle = Bundle::assemble(manifest, files)?;
        Ok((bundle, JobReport { metrics, split }))
    }
}
