//! `scorelet train`: data file → verified bundle with an INT8 model, golden vectors and a report.
//! Every option can also come from a TOML file (`--config`); flags given on the command line win.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use scorelet::features::{FeatureSpec, infer_spec};
use scorelet_train::forest::{ForestOptions, Impurity};
use scorelet_train::gbdt::GbdtOptions;
use scorelet_train::logreg::LogRegOptions;
use scorelet_train::mlp::MlpOptions;
use scorelet_train::{ClassWeight, ModelKind, Precision, Progress, Table, TaskKind, TrainJob};
use serde::Deserialize;

/// Options of `scorelet train` (all also valid as keys of a `--config` TOML file).
#[derive(Debug, Default, Clone, clap::Args, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrainArgs {
    /// TOML file with any of these options (flags override it).
    #[arg(long)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Training data: CSV (header row, or see --names) or Parquet.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The column to predict.
    #[arg(long)]
    pub target: Option<String>,
    /// The positive class of a binary target (default: the second class in sorted order).
    #[arg(long)]
    pub positive: Option<String>,
    /// Task: auto (classification unless the target is numeric with many values),
    /// classification or regression.
    #[arg(long, value_enum)]
    pub task: Option<TaskArg>,
    /// Feature spec (TOML); inferred from the data when absent.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Model: `logreg` (linear: logistic, multinomial, or ridge regression), `mlp`, `gbdt`
    /// (histogram gradient-boosted trees) or `random-forest`.
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Model name in the bundle (`[a-z0-9][a-z0-9._-]{0,63}`).
    #[arg(long)]
    pub name: Option<String>,
    /// Output bundle directory (must not exist).
    #[arg(long = "output", short = 'o', visible_alias = "out")]
    #[serde(alias = "output")]
    pub out: Option<PathBuf>,
    /// Column names for a CSV without a header row, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub names: Option<Vec<String>>,
    /// Weight precision of the served model.
    #[arg(long, value_enum)]
    pub precision: Option<PrecisionArg>,
    /// Largest accepted INT8 loss against the float model, in ROC-AUC and in accuracy
    /// (R² for regression).
    #[arg(long)]
    pub max_quantization_loss: Option<f64>,
    /// Do not keep the float model beside the INT8 one.
    #[arg(long)]
    #[serde(default)]
    pub no_float: bool,
    /// Class weights in the loss.
    #[arg(long, value_enum)]
    pub class_weight: Option<ClassWeightArg>,
    /// L2 penalty of the linear models (scikit-learn's 1/C).
    #[arg(long)]
    pub l2: Option<f64>,
    /// MLP hidden layer sizes, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub hidden: Option<Vec<usize>>,
    /// MLP maximum epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Learning rate: Adam's for the MLP, the shrinkage of gbdt (default 0.1).
    #[arg(long)]
    pub learning_rate: Option<f32>,
    /// MLP mini-batch size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// MLP L2 penalty (scikit-learn's alpha).
    #[arg(long)]
    pub alpha: Option<f32>,
    /// MLP early-stopping patience, in epochs.
    #[arg(long)]
    pub patience: Option<usize>,
    /// Seed of the split and of the MLP, gbdt and forest.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Trees: boosting rounds of gbdt (default 100), trees of the forest (default 100).
    #[arg(long)]
    pub n_trees: Option<usize>,
    /// Maximum tree depth, 0 for unlimited (gbdt default 0, forest default 10).
    #[arg(long)]
    pub max_depth: Option<usize>,
    /// gbdt: leaves per tree (default 31).
    #[arg(long)]
    pub num_leaves: Option<usize>,
    /// gbdt: fewest training rows in a leaf (default 20).
    #[arg(long)]
    pub min_child_samples: Option<usize>,
    /// gbdt: smallest hessian sum in a leaf (default 0.001).
    #[arg(long)]
    pub min_child_weight: Option<f64>,
    /// gbdt: L2 penalty on leaf values (default 0).
    #[arg(long)]
    pub lambda_l2: Option<f64>,
    /// gbdt: fraction of rows per tree (default 1).
    #[arg(long)]
    pub subsample: Option<f64>,
    /// gbdt: fraction of features per tree (default 1).
    #[arg(long)]
    pub colsample: Option<f64>,
    /// gbdt: stop after this many rounds without a better validation loss, 0 for never (default 20).
    #[arg(long)]
    pub early_stopping: Option<usize>,
    /// Trees: thresholds per feature, at most 255 (default 255).
    #[arg(long)]
    pub max_bins: Option<usize>,
    /// Forest: candidate features per split (default √features for classes, all for values).
    #[arg(long)]
    pub max_features: Option<usize>,
    /// Forest: fewest training rows in a leaf (default 1).
    #[arg(long)]
    pub min_samples_leaf: Option<usize>,
    /// Forest: split criterion for classes.
    #[arg(long, value_enum)]
    pub criterion: Option<CriterionArg>,
    /// Forest: grow every tree on all rows instead of a bootstrap sample.
    #[arg(long)]
    #[serde(default)]
    pub no_bootstrap: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CriterionArg {
    Gini,
    Entropy,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskArg {
    Auto,
    Classification,
    Regression,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelArg {
    #[value(alias = "linear")]
    #[serde(alias = "linear")]
    Logreg,
    Mlp,
    Gbdt,
    #[value(name = "random-forest", alias = "rf")]
    #[serde(rename = "random-forest", alias = "rf")]
    RandomForest,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrecisionArg {
    Int8,
    Float32,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeightArg {
    None,
    Balanced,
}

macro_rules! merge {
    ($cli:ident, $cfg:ident; $($f:ident),*) => { $( if $cli.$f.is_none() { $cli.$f = $cfg.$f.clone(); } )* };
}

/// Flags over the config file; relative paths in the file are relative to the file.
fn resolve(mut a: TrainArgs) -> Result<TrainArgs> {
    let Some(path) = a.config.clone() else { return Ok(a) };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut c: TrainArgs = toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for p in [&mut c.data, &mut c.spec, &mut c.out].into_iter().flatten() {
        if p.is_relative() {
            *p = base.join(&*p);
        }
    }
    merge!(a, c; data, target, positive, task, spec, model, name, out, names, precision, max_quantization_loss,
        class_weight, l2, hidden, epochs, learning_rate, batch_size, alpha, patience, seed, n_trees, max_depth,
        num_leaves, min_child_samples, min_child_weight, lambda_l2, subsample, colsample, early_stopping, max_bins,
        max_features, min_samples_leaf, criterion);
    a.no_float |= c.no_float;
    a.no_bootstrap |= c.no_bootstrap;
    Ok(a)
}

pub fn run(args: &TrainArgs, quiet: bool) -> Result<()> {
    let a = resolve(args.clone())?;
    let data = a.data.as_ref().context("--data is required (or `data = …` in --config)")?;
    let target = a.target.as_deref().context("--target is required")?;
    let out = a.out.as_ref().context("--output is required")?;
    if out.exists() {
        bail!("{} already exists; bundles are never overwritten (choose another --output)", out.display());
    }
    let name = a.name.clone().unwrap_or_else(|| "model".into());
    if !scorelet::bundle::valid_model_name(&name) {
        bail!("model name {name:?} must match [a-z0-9][a-z0-9._-]{{0,63}}");
    }
    let table = Table::read(data, a.names.as_deref())?;
    let spec = match &a.spec {
        Some(p) => load_spec(p)?,
        None => {
            let (spec, _) = infer_spec(&table.header, table.rows(), Some(target));
            eprintln!("no --spec: using an inferred one (see `scorelet spec infer`)");
            spec
        }
    };
    let model = match a.model.unwrap_or(ModelArg::Logreg) {
        ModelArg::Logreg => ModelKind::Linear(LogRegOptions { l2: a.l2.unwrap_or(1.0), ..Default::default() }),
        ModelArg::Mlp => {
            let d = MlpOptions::default();
            ModelKind::Mlp(MlpOptions {
                hidden: a.hidden.clone().unwrap_or(d.hidden),
                max_epochs: a.epochs.unwrap_or(d.max_epochs),
                learning_rate: a.learning_rate.unwrap_or(d.learning_rate),
                batch_size: a.batch_size.unwrap_or(d.batch_size),
                alpha: a.alpha.unwrap_or(d.alpha),
                patience: a.patience.unwrap_or(d.patience),
                ..d
            })
        }
        ModelArg::Gbdt => {
            let d = GbdtOptions::default();
            ModelKind::Gbdt(GbdtOptions {
                n_trees: a.n_trees.unwrap_or(d.n_trees),
                learning_rate: a.learning_rate.map_or(d.learning_rate, f64::from),
                num_leaves: a.num_leaves.unwrap_or(d.num_leaves),
                max_depth: a.max_depth.unwrap_or(d.max_depth),
                min_child_samples: a.min_child_samples.unwrap_or(d.min_child_samples),
                min_child_weight: a.min_child_weight.unwrap_or(d.min_child_weight),
                lambda_l2: a.lambda_l2.unwrap_or(d.lambda_l2),
                subsample: a.subsample.unwrap_or(d.subsample),
                colsample: a.colsample.unwrap_or(d.colsample),
                max_bins: a.max_bins.unwrap_or(d.max_bins),
                early_stopping: a.early_stopping.unwrap_or(d.early_stopping),
                ..d
            })
        }
        ModelArg::RandomForest => {
            let d = ForestOptions::default();
            ModelKind::Forest(ForestOptions {
                n_trees: a.n_trees.unwrap_or(d.n_trees),
                max_depth: a.max_depth.unwrap_or(d.max_depth),
                max_features: a.max_features.or(d.max_features),
                min_samples_leaf: a.min_samples_leaf.unwrap_or(d.min_samples_leaf),
                criterion: match a.criterion {
                    Some(CriterionArg::Entropy) => Impurity::Entropy,
                    Some(CriterionArg::Gini) | None => Impurity::Gini,
                },
                bootstrap: !a.no_bootstrap,
                max_bins: a.max_bins.unwrap_or(d.max_bins),
                ..d
            })
        }
    };
    let mut job = TrainJob::new(&name, target, spec, model);
    job.task = match a.task.unwrap_or(if a.positive.is_some() { TaskArg::Classification } else { TaskArg::Auto }) {
        TaskArg::Auto => TaskKind::Auto,
        TaskArg::Classification => TaskKind::Classification { positive: a.positive.clone() },
        TaskArg::Regression => TaskKind::Regression,
    };
    if matches!(job.model, ModelKind::Gbdt(_) | ModelKind::Forest(_)) && matches!(a.precision, Some(PrecisionArg::Int8))
    {
        eprintln!(
            "note: trees have no weights to quantize; the model keeps float32 thresholds and leaves (scoring compares 16-bit bins of the features, which decides every branch the same way)"
        );
    }
    job.precision = match a.precision.unwrap_or(PrecisionArg::Int8) {
        PrecisionArg::Int8 => Precision::Int8,
        PrecisionArg::Float32 => Precision::Float32,
    };
    job.class_weight = match a.class_weight.unwrap_or(ClassWeightArg::None) {
        ClassWeightArg::None => ClassWeight::None,
        ClassWeightArg::Balanced => ClassWeight::Balanced,
    };
    job.max_quantization_loss = a.max_quantization_loss.unwrap_or(job.max_quantization_loss);
    job.keep_float = !a.no_float;
    job.seed = a.seed.unwrap_or(job.seed);

    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // A second Ctrl-C while stopping ends the process at once.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    let progress = if quiet { Progress::hidden() } else { Progress::stderr(stop) };
    let outcome = job.run(&table, &progress)?;
    outcome.bundle.write_dir(out)?;
    let m = &outcome.bundle.manifest;
    eprintln!(
        "wrote {} ({} train / {} validation / {} holdout rows, trained in {:.2} s)",
        out.display(),
        outcome.split.train.len(),
        outcome.split.valid.len(),
        outcome.split.holdout.len(),
        outcome.train_seconds
    );
    let keys = ["roc_auc", "pr_auc", "accuracy", "f1", "log_loss", "brier", "f1_macro", "rmse", "mae", "r2"];
    for k in keys {
        if let Some(v) = m.metrics.get(k) {
            match outcome.int8.as_ref() {
                Some(_) => eprintln!("  {k:<9} {v:.4}  (float {:.4})", outcome.float.metrics[k]),
                None => eprintln!("  {k:<9} {v:.4}"),
            }
        }
    }
    if let Some(q) = &outcome.int8 {
        eprintln!(
            "  model     {} bytes INT8, {} bytes float ({:.1}× smaller)",
            q.model_bytes,
            outcome.float.model_bytes,
            outcome.float.model_bytes as f64 / q.model_bytes as f64
        );
    }
    eprintln!("  report    {}", out.join("report.html").display());
    Ok(())
}

pub fn load_spec(p: &Path) -> Result<FeatureSpec> {
    let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    FeatureSpec::from_toml(&text).with_context(|| format!("in {}", p.display()))
}
