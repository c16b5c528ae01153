//! `scorelet train` (logistic regression for binary targets; the full trainer grows here).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use scorelet::features::{FeatureSpec, infer_spec};
use scorelet_train::logreg::LogRegOptions;
use scorelet_train::{BinaryJob, Estimator, Precision, Table};

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Training data (CSV).
    #[arg(long)]
    pub data: PathBuf,
    /// The column to predict.
    #[arg(long)]
    pub target: String,
    /// The positive class of a binary target.
    #[arg(long)]
    pub positive: String,
    /// Feature spec (TOML); inferred from the data when absent.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Model name.
    #[arg(long, default_value = "model")]
    pub name: String,
    /// Output bundle directory (must not exist).
    #[arg(long)]
    pub out: PathBuf,
    /// Column names for a CSV without a header row, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub names: Option<Vec<String>>,
    /// Weight precision of the exported model.
    #[arg(long, value_enum, default_value = "int8")]
    pub precision: PrecisionArg,
    /// L2 penalty (sklearn's 1/C).
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum PrecisionArg {
    Int8,
    Float32,
}

pub fn run(a: &TrainArgs) -> Result<()> {
    let table = Table::read_csv(&a.data, a.names.as_deref())?;
    let spec = match &a.spec {
        Some(p) => load_spec(p)?,
        None => infer_spec(&table.header, &table.rows, Some(&a.target)).0,
    };
    let job = BinaryJob {
        name: a.name.clone(),
        target: a.target.clone(),
        positive: a.positive.clone(),
        spec,
        estimator: Estimator::LogReg(LogRegOptions { l2: a.l2, ..Default::default() }),
        precision: match a.precision {
            PrecisionArg::Int8 => Precision::Int8,
            PrecisionArg::Float32 => Precision::Float32,
        },
        seed: a.seed,
        golden_rows: 64,
    };
    let (bundle, report) = job.run(&table)?;
    bundle.write_dir(&a.out)?;
    eprintln!(
        "wrote {} ({} train / {} holdout rows)",
        a.out.display(),
        report.split.train.len(),
        report.split.holdout.len()
    );
    for (k, v) in &report.metrics {
        eprintln!("  {k:<10} {v:.4}");
    }
    Ok(())
}

pub fn load_spec(p: &Path) -> Result<FeatureSpec> {
    let text = std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
    FeatureSpec::from_toml(&text).with_context(|| format!("in {}", p.display()))
}
