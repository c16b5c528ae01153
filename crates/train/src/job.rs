//! A training job from a table to a verified bundle: split, fit features, train, export ONNX
//! (float and INT8), evaluate both on the holdout, gate the quantization loss, write golden
//! vectors and the report.

use std::collections::BTreeMap;
use std::time::Instant;

use scorelet::bundle::{BUNDLE_FORMAT, FEATURES, GOLDEN, Manifest, ModelInfo, Task};
use scorelet::features::{FeatureSpec, FittedFeatures, Pipeline};
use scorelet::golden::Golden;
use scorelet::profile::{PROFILE, Profile, Profiler, SCORE, categorical_profile, numeric_profile};
use scorelet::value::{ValueRef, f32_json};
use scorelet::{Bundle, Row, Scorer, Value};
use serde_json::json;

use crate::forest::{self, ForestOptions};
use crate::gbdt::{self, GbdtOptions};
use crate::metrics::{self, Metrics};
pub use crate::metrics::{Evaluation, Labels};
use crate::mlp::{self, MlpOptions, Targets};
use crate::onnx::{self, Dense, Head, Precision};
use crate::progress::Progress;
use crate::tree::Tree;
use crate::{Split, Table, TrainError, logreg, report};

/// Decision threshold of binary classifiers (stored in the manifest's task).
const THRESHOLD: f32 = 0.5;
/// Training rows the INT8 calibration looks at, at most.
const CALIBRATION_ROWS: usize = 20_000;

/// Files the trainer adds to a bundle besides the core's.
pub const FLOAT_MODEL: &str = "model.float.onnx";
pub const REPORT: &str = "report.html";

/// Which model to fit.
#[derive(Debug, Clone)]
pub enum ModelKind {
    /// Logistic regression (classification) or ridge linear regression (regression); `l2` is
    /// scikit-learn's `1 / C` (or Ridge's `alpha`).
    Linear(logreg::LogRegOptions),
    Mlp(MlpOptions),
    /// Fixed layers (weights given, nothing trained): tests and imported weights.
    Layers(Vec<Dense>),
    /// Histogram gradient-boosted trees.
    Gbdt(GbdtOptions),
    /// A random forest.
    Forest(ForestOptions),
}

/// A fitted model, before export.
enum FittedModel {
    Dense(Vec<Dense>),
    Trees { trees: Vec<Tree>, targets: onnx::LeafTargets, n_outputs: usize, base: Vec<f32>, average: bool },
}

impl ModelKind {
    pub fn name(&self) -> &'static str {
        match self {
            ModelKind::Linear(_) => "linear",
            ModelKind::Mlp(_) => "mlp",
            ModelKind::Layers(_) => "layers",
            ModelKind::Gbdt(_) => "gbdt",
            ModelKind::Forest(_) => "random-forest",
        }
    }
}

/// What the target is.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskKind {
    /// Classification if the target looks categorical, else regression.
    Auto,
    /// Classification; `positive` names the positive class of a binary target.
    Classification {
        positive: Option<String>,
    },
    Regression,
}

/// How to weight classes in the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClassWeight {
    #[default]
    None,
    /// `n / (k · n_class)`, as scikit-learn's `class_weight="balanced"`.
    Balanced,
}

/// A training job.
#[derive(Debug, Clone)]
pub struct TrainJob {
    pub name: String,
    pub target: String,
    pub task: TaskKind,
    pub spec: FeatureSpec,
    pub model: ModelKind,
    pub precision: Precision,
    pub class_weight: ClassWeight,
    pub seed: u64,
    /// Holdout rows kept as golden vectors (at least 50 when the holdout has them).
    pub golden_rows: usize,
    /// Largest accepted drop from float to INT8 in ROC-AUC and in accuracy (for regression: R²).
    pub max_quantization_loss: f64,
    /// Keep the float model in the bundle beside the INT8 one.
    pub keep_float: bool,
}

impl TrainJob {
    /// A job with the defaults: INT8, gate 0.005, 64 golden rows, seed 42.
    pub fn new(name: &str, target: &str, spec: FeatureSpec, model: ModelKind) -> TrainJob {
        TrainJob {
            name: name.into(),
            target: target.into(),
            task: TaskKind::Auto,
            spec,
            model,
            precision: Precision::Int8,
            class_weight: ClassWeight::None,
            seed: 42,
            golden_rows: 64,
            max_quantization_loss: 0.005,
            keep_float: true,
        }
    }
}

/// What a job produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    pub bundle: Bundle,
    pub split: Split,
    pub float: Evaluation,
    /// Present for INT8 jobs.
    pub int8: Option<Evaluation>,
    pub train_seconds: f64,
}

impl TrainOutcome {
    /// The metrics of the model the bundle serves.
    pub fn served(&self) -> &Evaluation {
        self.int8.as_ref().unwrap_or(&self.float)
    }
}

fn data_err(m: impl Into<String>) -> TrainError {
    TrainError::Data(m.into())
}

/// Reads the target column into labels; rows with a missing target are reported as an error.
pub fn resolve_labels(table: &Table, target: &str, task: &TaskKind) -> Result<Labels, TrainError> {
    let t = table.column(target)?;
    let missing = scorelet::features::spec::DEFAULT_MISSING_TOKENS;
    let target_cells = || (0..table.n_rows()).map(|r| table.cell(r, t));
    for (i, cell) in target_cells().enumerate() {
        if missing.contains(&cell.trim()) {
            return Err(data_err(format!(
                "row {}: the target `{target}` is missing ({cell:?}); drop such rows first",
                i + 1
            )));
        }
    }
    let numeric: Option<Vec<f32>> =
        target_cells().map(|c| c.trim().parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v as f32)).collect();
    let mut distinct: Vec<&str> = target_cells().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let regression = match task {
        TaskKind::Regression => true,
        TaskKind::Classification { .. } => false,
        TaskKind::Auto => numeric.is_some() && distinct.len() > 20,
    };
    if regression {
        let values = numeric.ok_or_else(|| {
            let bad = target_cells()
                .position(|c| c.trim().parse::<f64>().map(|v| !v.is_finite()).unwrap_or(true))
                .unwrap_or(0);
            data_err(format!(
                "row {}: the regression target `{target}` is {:?}, not a number",
                bad + 1,
                table.cell(bad, t)
            ))
        })?;
        if values.iter().all(|v| *v == values[0]) {
            return Err(data_err(format!(
                "the target `{target}` is constant ({}); there is nothing to learn",
                values[0]
            )));
        }
        return Ok(Labels::Values(values));
    }
    let positive = match task {
        TaskKind::Classification { positive } => positive.clone(),
        _ => None,
    };
    if distinct.len() < 2 {
        return Err(data_err(format!(
            "the target `{target}` has a single class ({:?}); a classifier needs at least two",
            distinct.first().copied().unwrap_or("")
        )));
    }
    if distinct.len() > 100 {
        return Err(data_err(format!(
            "the target `{target}` has {} classes; use --task regression for a numeric target",
            distinct.len()
        )));
    }
    let mut classes: Vec<String> = distinct.iter().map(|s| s.to_string()).collect();
    if let Some(p) = positive {
        if classes.len() != 2 {
            return Err(data_err(format!(
                "--positive applies to binary targets; `{target}` has {} classes",
                classes.len()
            )));
        }
        let i = classes.iter().position(|c| *c == p).ok_or_else(|| {
            data_err(format!("the positive class {p:?} does not occur in `{target}`; its classes are {classes:?}"))
        })?;
        classes.swap(i, 1); // the positive class is class 1
    }
    let index: BTreeMap<&str, usize> = classes.iter().enumerate().map(|(i, c)| (c.as_str(), i)).collect();
    let y = target_cells().map(|c| index[c]).collect();
    Ok(Labels::Classes { classes, y })
}

/// The table's column index of each spec column.
fn spec_columns(table: &Table, spec: &FeatureSpec) -> Result<Vec<usize>, TrainError> {
    spec.columns.iter().map(|c| table.column(&c.name)).collect()
}

/// Row `r` of raw values in the spec's column order, into `out` (reused: the passes over the
/// data build one row at a time, so memory stays at the table's own size).
fn fill_row(table: &Table, cols: &[usize], r: usize, out: &mut Row) {
    out.clear();
    out.extend(cols.iter().map(|&c| Value::Text(table.cell(r, c).to_string())));
}

/// Rows of raw values in the spec's column order; errors cite the file's row numbers.
pub fn rows_for(table: &Table, spec: &FeatureSpec, which: &[usize]) -> Result<Vec<Row>, TrainError> {
    let cols = spec_columns(table, spec)?;
    Ok(which
        .iter()
        .map(|&r| {
            let mut row = Vec::with_capacity(cols.len());
            fill_row(table, &cols, r, &mut row);
            row
        })
        .collect())
}

/// The training profile: the input columns over the training rows `which`, and the holdout's
/// `scores` (the positive class's probability, the value, or the predicted class).
fn training_profile(
    table: &Table,
    fitted: &FittedFeatures,
    which: &[usize],
    labels: &Labels,
    scores: &[Vec<f32>],
) -> Result<Profile, TrainError> {
    let cols: Vec<usize> = fitted.columns.iter().map(|c| table.column(&c.name)).collect::<Result<_, _>>()?;
    let mut profiler = Profiler::new(fitted);
    let mut row = Vec::with_capacity(cols.len());
    for &r in which {
        row.clear();
        row.extend(cols.iter().map(|&c| ValueRef::Text(table.cell(r, c))));
        profiler.push(&row);
    }
    let scores = match labels {
        Labels::Classes { classes, .. } if classes.len() > 2 => {
            let mut counts: std::collections::HashMap<String, u64> = classes.iter().map(|c| (c.clone(), 0)).collect();
            for s in scores {
                *counts.entry(classes[scorelet::prediction::arg_max(s)].clone()).or_default() += 1;
            }
            categorical_profile(SCORE, counts, 0)
        }
        _ => numeric_profile(SCORE, scores.iter().filter_map(|s| s.last().copied()).collect(), 0),
    };
    Ok(profiler.finish(scores))
}

/// Fits the feature pipeline on rows `which` of the table, one row at a time.
pub fn fit_features_on(table: &Table, spec: &FeatureSpec, which: &[usize]) -> Result<FittedFeatures, TrainError> {
    let cols = spec_columns(table, spec)?;
    let mut f = scorelet::features::Fitter::new(spec)?;
    let mut row = Vec::with_capacity(cols.len());
    for &r in which {
        fill_row(table, &cols, r, &mut row);
        // Errors name the data row (1-based, after the header).
        f.push(&row, r + 1)?;
    }
    Ok(f.finish()?)
}

/// The feature vectors of rows `which`, row-major f32: the only copy of the data training keeps
/// besides the table.
fn transform(p: &Pipeline, table: &Table, spec: &FeatureSpec, which: &[usize]) -> Result<Vec<f32>, TrainError> {
    let cols = spec_columns(table, spec)?;
    let mut out = vec![0.0; which.len() * p.width()];
    let mut row = Vec::with_capacity(cols.len());
    for (&r, chunk) in which.iter().zip(out.chunks_exact_mut(p.width())) {
        fill_row(table, &cols, r, &mut row);
        p.transform_into(&row, r + 1, chunk)?;
    }
    Ok(out)
}

/// Scores rows `which` through the whole serving path (raw cells → features → model → link),
/// 4096 rows at a time.
fn evaluate(
    scorer: &Scorer,
    table: &Table,
    spec: &FeatureSpec,
    labels: &Labels,
    which: &[usize],
    threshold: f32,
    bytes: usize,
) -> Result<Evaluation, TrainError> {
    let mut scores = Vec::with_capacity(which.len());
    for chunk in which.chunks(4096) {
        let rows = rows_for(table, spec, chunk)?;
        let (_, o) = scorer.score(&rows)?;
        scores.extend((0..chunk.len()).map(|i| o.row(i).to_vec()));
    }
    let metrics = match labels {
        Labels::Classes { classes, y } if classes.len() == 2 => {
            let s: Vec<f64> = scores.iter().map(|s| s[1] as f64).collect();
            let l: Vec<bool> = which.iter().map(|r| y[*r] == 1).collect();
            metrics::binary(&s, &l, threshold as f64)
        }
        Labels::Classes { classes, y } => {
            let p: Vec<Vec<f64>> = scores.iter().map(|s| s.iter().map(|v| *v as f64).collect()).collect();
            let t: Vec<usize> = which.iter().map(|r| y[*r]).collect();
            metrics::multiclass(&p, &t, classes)
        }
        Labels::Values(v) => {
            let p: Vec<f64> = scores.iter().map(|s| s[0] as f64).collect();
            let t: Vec<f64> = which.iter().map(|r| v[*r] as f64).collect();
            metrics::regression(&p, &t)
        }
    };
    Ok(Evaluation { metrics, scores, model_bytes: bytes })
}

/// Checks the INT8 model against the float one; Err with the numbers when it lost too much.
pub fn quantization_gate(float: &Metrics, int8: &Metrics, bound: f64) -> Result<(), TrainError> {
    let keys: &[(&str, &str)] =
        if float.contains_key("r2") { &[("r2", "R²")] } else { &[("roc_auc", "ROC-AUC"), ("accuracy", "accuracy")] };
    for (k, label) in keys {
        let (f, q) = (float[*k], int8[*k]);
        if f - q > bound + 1e-12 {
            return Err(TrainError::QuantizationGate(format!(
                "the INT8 model loses {:.4} {label} against the float model ({f:.4} → {q:.4}); the limit is {bound}. \
                 Keep the float model with `--precision float32`, or accept the loss with `--max-quantization-loss {:.3}`",
                f - q,
                (f - q + 0.0005).max(bound)
            )));
        }
    }
    Ok(())
}

impl TrainJob {
    /// Runs the job.
    pub fn run(&self, table: &Table, progress: &Progress) -> Result<TrainOutcome, TrainError> {
        let started = Instant::now();
        let labels = resolve_labels(table, &self.target, &self.task)?;
        let mut spec = self.spec.clone();
        if spec.columns.iter().any(|c| c.name == self.target) {
            return Err(data_err(format!("the target `{}` is also listed as an input in the spec", self.target)));
        }
        // Every column of the training data that is not an input is accepted and ignored at
        // scoring time (ids, the target, unused columns), so rows from the same source score as-is.
        for h in &table.header {
            if !spec.ignore.contains(h) && !spec.columns.iter().any(|c| &c.name == h) {
                spec.ignore.push(h.clone());
            }
        }
        let split = match &labels {
            Labels::Classes { y, .. } => stratified_split_k(y, self.seed),
            Labels::Values(_) => stratified_split_k(&vec![0; table.n_rows()], self.seed),
        };
        if split.train.is_empty() || split.holdout.is_empty() {
            return Err(data_err(format!(
                "{} rows are too few to split into train, validation and holdout",
                table.n_rows()
            )));
        }
        progress.check_interrupted()?;
        let fitted = fit_features_on(table, &spec, &split.train)?;
        let pipeline = Pipeline::new(fitted.clone())?;
        let d = pipeline.width();
        let all: Vec<usize> = (0..table.n_rows()).collect();
        let x = transform(&pipeline, table, &spec, &all)?;
        let model_started = Instant::now();
        let (fitted_model, head, fit_info) = self.fit_model(&x, d, &labels, &split, progress)?;
        let model_seconds = model_started.elapsed().as_secs_f64();
        let train_seconds = started.elapsed().as_secs_f64();
        progress.check_interrupted()?;

        let importance = match &fitted_model {
            FittedModel::Trees { trees, .. } => Some(crate::tree::importance(trees, d)),
            FittedModel::Dense(_) => None,
        };
        let float_model = match &fitted_model {
            FittedModel::Dense(layers) => onnx::export(layers, head, None),
            FittedModel::Trees { trees, targets, n_outputs, base, average } => onnx::export_trees(
                onnx::Trees { trees, targets: *targets, n_outputs: *n_outputs, base, average: *average },
                head,
                d,
            ),
        };
        // Trees have no weights to quantize: a tree model is served as exported.
        let int8_model = match (&fitted_model, self.precision) {
            (FittedModel::Trees { .. }, _) | (_, Precision::Float32) => None,
            (FittedModel::Dense(layers), Precision::Int8) => {
                let layers = layers.as_slice();
                let rows: Vec<usize> = split.train.iter().copied().take(CALIBRATION_ROWS).collect();
                let xs: Vec<f32> = rows.iter().flat_map(|r| x[r * d..(r + 1) * d].iter().copied()).collect();
                Some(onnx::export(layers, head, Some(&onnx::calibrate(layers, &xs))))
            }
        };
        let precision = if int8_model.is_some() { Precision::Int8 } else { Precision::Float32 };
        let task = match &labels {
            Labels::Classes { classes, .. } if classes.len() == 2 => Task::BinaryClassification {
                classes: [classes[0].clone(), classes[1].clone()],
                positive_class: classes[1].clone(),
                threshold: THRESHOLD,
            },
            Labels::Classes { classes, .. } => Task::MulticlassClassification { classes: classes.clone() },
            Labels::Values(_) => Task::Regression { target: self.target.clone() },
        };
        let manifest = |precision: Precision| Manifest {
            format: BUNDLE_FORMAT.into(),
            name: self.name.clone(),
            version: None,
            created: scorelet::time::now_rfc3339(),
            task: task.clone(),
            signature: crate::signature(&fitted, &spec, &self.target),
            model: ModelInfo {
                file: "model.onnx".into(),
                input: onnx::INPUT.into(),
                output: head.output_name().into(),
                link: head.link(),
                n_features: d,
                precision: precision.as_str().into(),
                opset: Some(onnx::OPSET),
            },
            metrics: BTreeMap::new(),
            lineage: serde_json::Value::Null,
            files: BTreeMap::new(),
            seal: None,
        };
        let base_files = BTreeMap::from([(FEATURES.to_string(), fitted.to_json())]);
        let scorer_for = |model: &[u8], precision: Precision| -> Result<Scorer, TrainError> {
            let mut files = base_files.clone();
            files.insert("model.onnx".into(), model.to_vec());
            Ok(Scorer::from_bundle(&Bundle::assemble(manifest(precision), files)?)?)
        };
        let float_scorer = scorer_for(&float_model, Precision::Float32)?;
        let float = evaluate(&float_scorer, table, &spec, &labels, &split.holdout, THRESHOLD, float_model.len())?;
        let mut served_engine = float_scorer.engine();
        let int8 = match &int8_model {
            Some(m) => {
                let s = scorer_for(m, Precision::Int8)?;
                served_engine = s.engine();
                let e = evaluate(&s, table, &spec, &labels, &split.holdout, THRESHOLD, m.len())?;
                quantization_gate(&float.metrics, &e.metrics, self.max_quantization_loss)?;
                Some(e)
            }
            None => None,
        };
        let served_eval = int8.as_ref().unwrap_or(&float);
        let served_model = int8_model.clone().unwrap_or_else(|| float_model.clone());

        // Golden vectors: the first holdout rows with the features the pipeline computed for them
        // and the scores the served model gave them in its evaluation (scores do not depend on
        // the batch, so these are what any runtime computes for the rows one by one).
        let g = self.golden_rows.min(split.holdout.len());
        let golden = Golden {
            rows: split.holdout[..g]
                .iter()
                .map(|&r| table.header.iter().cloned().zip(table.row(r).map(|c| json!(c))).collect())
                .collect(),
            features: split.holdout[..g].iter().map(|r| x[r * d..(r + 1) * d].to_vec()).collect(),
            outputs: served_eval.scores[..g].to_vec(),
            engine: Some(served_engine.into()),
        };

        let mut m = manifest(precision);
        m.metrics = served_eval.metrics.clone();
        m.lineage = json!({
            "training_data": { "sha256": table.sha256, "rows": table.n_rows(), "source": table.source },
            "target": self.target,
            "model": self.model.name(),
            "parameters": self.parameters(),
            "fit": fit_info,
            "importance": importance.as_ref().map(|(gain, count)| {
                let names = pipeline.feature_names();
                (0..d).filter(|j| count[*j] > 0).map(|j| json!({
                    "feature": names[j], "gain": gain[j], "splits": count[j],
                })).collect::<Vec<_>>()
            }),
            "split": { "seed": self.seed, "train": split.train.len(), "valid": split.valid.len(), "holdout": split.holdout.len() },
            "quantization": int8.as_ref().map(|q| json!({
                "float_metrics": float.metrics,
                "int8_metrics": q.metrics,
                "float_bytes": float.model_bytes,
                "int8_bytes": q.model_bytes,
                "max_loss": self.max_quantization_loss,
                "calibration_rows": split.train.len().min(CALIBRATION_ROWS),
                "scheme": "per-tensor u8 activations (calibrated), per-column symmetric int8 weights, MatMulInteger",
            })),
            "train_seconds": train_seconds,
            "model_seconds": model_seconds,
            "trainer": format!("scorelet-train {}", env!("CARGO_PKG_VERSION")),
        });
        let mut files = base_files;
        files.insert(
            PROFILE.into(),
            training_profile(table, &fitted, &split.train, &labels, &served_eval.scores)?.to_json(),
        );
        files.insert("model.onnx".into(), served_model);
        files.insert(GOLDEN.into(), golden.to_json());
        if int8_model.is_some() && self.keep_float {
            files.insert(FLOAT_MODEL.into(), float_model);
        }
        let html = report::render(&report::ReportInput {
            manifest: &m,
            fitted: &fitted,
            feature_names: pipeline.feature_names(),
            labels: &labels,
            holdout: &split.holdout,
            float: &float,
            int8: int8.as_ref(),
            train_seconds,
            importance: importance.as_ref().map(|(g, c)| (g.as_slice(), c.as_slice())),
        });
        files.insert(REPORT.into(), html.into_bytes());
        let bundle = Bundle::assemble(m, files)?;
        Ok(TrainOutcome { bundle, split, float, int8, train_seconds })
    }

    fn parameters(&self) -> serde_json::Value {
        match &self.model {
            ModelKind::Linear(o) => {
                json!({ "l2": o.l2, "max_iter": o.max_iter, "class_weight": format!("{:?}", self.class_weight) })
            }
            ModelKind::Mlp(o) => json!({
                "hidden": o.hidden, "learning_rate": f32_json(o.learning_rate), "alpha": f32_json(o.alpha), "batch_size": o.batch_size,
                "max_epochs": o.max_epochs, "patience": o.patience, "seed": self.seed, "class_weight": format!("{:?}", self.class_weight),
            }),
            ModelKind::Layers(l) => json!({ "layers": l.iter().map(|l| [l.inputs, l.outputs]).collect::<Vec<_>>() }),
            ModelKind::Gbdt(o) => json!({
                "n_trees": o.n_trees, "learning_rate": o.learning_rate, "num_leaves": o.num_leaves, "max_depth": o.max_depth,
                "min_child_samples": o.min_child_samples, "min_child_weight": o.min_child_weight, "lambda_l2": o.lambda_l2,
                "subsample": o.subsample, "colsample": o.colsample, "max_bins": o.max_bins, "early_stopping": o.early_stopping,
                "seed": self.seed, "class_weight": format!("{:?}", self.class_weight),
            }),
            ModelKind::Forest(o) => json!({
                "n_trees": o.n_trees, "max_depth": o.max_depth, "max_features": o.max_features, "min_samples_leaf": o.min_samples_leaf,
                "criterion": format!("{:?}", o.criterion).to_lowercase(), "bootstrap": o.bootstrap, "max_bins": o.max_bins,
                "seed": self.seed, "class_weight": format!("{:?}", self.class_weight),
            }),
        }
    }

    fn fit_model(
        &self,
        x: &[f32],
        d: usize,
        labels: &Labels,
        split: &Split,
        progress: &Progress,
    ) -> Result<(FittedModel, Head, serde_json::Value), TrainError> {
        let rows = |which: &[usize]| -> Vec<f32> {
            which.iter().flat_map(|r| x[r * d..(r + 1) * d].iter().copied()).collect()
        };
        match (&self.model, labels) {
            (ModelKind::Layers(l), _) => {
                if l.first().map(|l| l.inputs) != Some(d) {
                    return Err(TrainError::Training(format!(
                        "the layers take {:?} inputs; the features are {d} wide",
                        l.first().map(|l| l.inputs)
                    )));
                }
                let head = match labels {
                    Labels::Classes { classes, .. } if classes.len() == 2 => Head::Binary,
                    Labels::Classes { .. } => Head::Softmax,
                    Labels::Values(_) => Head::Regression,
                };
                Ok((FittedModel::Dense(l.clone()), head, json!({})))
            }
            (ModelKind::Linear(o), Labels::Classes { classes, y }) => {
                let xt = rows(&split.train);
                let yt: Vec<usize> = split.train.iter().map(|r| y[*r]).collect();
                let w = self.class_weights(&yt, classes.len());
                if classes.len() == 2 {
                    Ok((
                        FittedModel::Dense(vec![logreg::fit_binary(&xt, d, &yt, &w, o, progress)?]),
                        Head::Binary,
                        json!({"solver": "newton"}),
                    ))
                } else {
                    let l = logreg::fit_multinomial(&xt, d, &yt, classes.len(), &w, o, progress)?;
                    Ok((FittedModel::Dense(vec![l]), Head::Softmax, json!({"solver": "lbfgs"})))
                }
            }
            (ModelKind::Linear(o), Labels::Values(v)) => {
                let xt = rows(&split.train);
                let yt: Vec<f32> = split.train.iter().map(|r| v[*r]).collect();
                Ok((
                    FittedModel::Dense(vec![crate::linreg::fit(&xt, d, &yt, o.l2)]),
                    Head::Regression,
                    json!({"solver": "normal equations"}),
                ))
            }
            (ModelKind::Mlp(o), labels) => {
                let weights;
                let t = match labels {
                    Labels::Classes { classes, y } => {
                        let yt: Vec<usize> = split.train.iter().map(|r| y[*r]).collect();
                        weights = self.class_weights(&yt, classes.len());
                        Targets::Classes { y, k: classes.len(), weights: &weights }
                    }
                    Labels::Values(v) => Targets::Values(v),
                };
                let opt = MlpOptions { seed: self.seed, ..o.clone() };
                let (layers, head, r) = mlp::train(x, d, &split.train, &split.valid, &t, &opt, progress)?;
                let info = json!({"epochs": r.epochs, "best_epoch": r.best_epoch, "best_valid_loss": f32_json(r.best_valid_loss)});
                Ok((FittedModel::Dense(layers), head, info))
            }
            (ModelKind::Gbdt(o), labels) => {
                let weights;
                let (obj, head) = match labels {
                    Labels::Classes { classes, y } => {
                        let yt: Vec<usize> = split.train.iter().map(|r| y[*r]).collect();
                        weights = self.class_weights(&yt, classes.len());
                        let k = classes.len();
                        (
                            gbdt::Objective::Classes { y, k, weights: &weights },
                            if k == 2 { Head::Binary } else { Head::Softmax },
                        )
                    }
                    Labels::Values(v) => (gbdt::Objective::Values(v), Head::Regression),
                };
                let opt = GbdtOptions { seed: self.seed, ..o.clone() };
                let b = gbdt::train(x, d, split, &obj, &opt, progress)?;
                let info = json!({
                    "trees": b.trees.len(), "rounds": b.best_round, "rounds_run": b.rounds_run,
                    "best_valid_loss": b.best_valid_loss.is_finite().then_some(b.best_valid_loss),
                    "max_depth": b.trees.iter().map(Tree::depth).max(),
                });
                let n_outputs = b.per_round;
                Ok((
                    FittedModel::Trees {
                        trees: b.trees,
                        targets: onnx::LeafTargets::Cyclic(n_outputs),
                        n_outputs,
                        base: b.base,
                        average: false,
                    },
                    head,
                    info,
                ))
            }
            (ModelKind::Forest(o), labels) => {
                let weights;
                let (target, head) = match labels {
                    Labels::Classes { classes, y } => {
                        let yt: Vec<usize> = split.train.iter().map(|r| y[*r]).collect();
                        weights = self.class_weights(&yt, classes.len());
                        (forest::Target::Classes { y, k: classes.len(), weights: &weights }, Head::Probabilities)
                    }
                    Labels::Values(v) => (forest::Target::Values(v), Head::Regression),
                };
                let opt = ForestOptions { seed: self.seed, ..o.clone() };
                let f = forest::train(x, d, split, &target, &opt, progress)?;
                let info = json!({
                    "trees": f.trees.len(),
                    "nodes": f.trees.iter().map(|t| t.nodes.len()).sum::<usize>(),
                    "max_depth": f.trees.iter().map(Tree::depth).max(),
                });
                let n_outputs = f.outputs;
                Ok((
                    FittedModel::Trees {
                        trees: f.trees,
                        targets: onnx::LeafTargets::Vector,
                        n_outputs,
                        base: vec![],
                        average: true,
                    },
                    head,
                    info,
                ))
            }
        }
    }

    fn class_weights(&self, y: &[usize], k: usize) -> Vec<f32> {
        match self.class_weight {
            ClassWeight::None => vec![1.0; k],
            ClassWeight::Balanced => {
                let mut n = vec![0usize; k];
                y.iter().for_each(|c| n[*c] += 1);
                n.iter().map(|c| if *c == 0 { 0.0 } else { y.len() as f32 / (k as f32 * *c as f32) }).collect()
            }
        }
    }
}

/// Deterministic stratified 70/10/20 split by class index.
pub fn stratified_split_k(y: &[usize], seed: u64) -> Split {
    let k = y.iter().copied().max().map(|m| m + 1).unwrap_or(0);
    let mut rng = crate::Rng(seed);
    let mut split = Split { train: vec![], valid: vec![], holdout: vec![] };
    for class in 0..k {
        let mut idx: Vec<usize> = (0..y.len()).filter(|i| y[*i] == class).collect();
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
