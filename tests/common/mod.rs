//! Helpers shared by the integration tests: the repository's data sets, specs and test models.
#![allow(dead_code)]

#[path = "../support/mod.rs"]
pub mod support;

use std::path::PathBuf;

use scorelet::Bundle;
use scorelet::features::FeatureSpec;
use scorelet_train::data::adult_columns;
use scorelet_train::{Dense, ModelKind, Precision, Progress, Rng, Table, TaskKind, TrainJob};
use serde_json::{Value as Json, json};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Dataset {
    pub name: &'static str,
    pub table: Table,
    pub target: &'static str,
    pub positive: &'static str,
    pub spec: FeatureSpec,
}

pub fn telco() -> Dataset {
    Dataset {
        name: "telco",
        table: Table::read_csv(&repo().join("data/telco-churn.csv"), None).unwrap(),
        target: "Churn",
        positive: "Yes",
        spec: FeatureSpec::from_toml(&std::fs::read_to_string(repo().join("examples/telco.toml")).unwrap()).unwrap(),
    }
}

pub fn adult() -> Dataset {
    Dataset {
        name: "adult",
        table: Table::read_csv(&repo().join("data/adult.csv"), Some(&adult_columns())).unwrap(),
        target: "income",
        positive: ">50K",
        spec: FeatureSpec::from_toml(&std::fs::read_to_string(repo().join("examples/adult.toml")).unwrap()).unwrap(),
    }
}

/// A seeded MLP (He-initialised, untrained): enough to exercise every op of the MLP graph.
pub fn random_mlp(inputs: usize, hidden: &[usize], seed: u64) -> Vec<Dense> {
    let mut rng = Rng(seed);
    let mut widths = vec![inputs];
    widths.extend_from_slice(hidden);
    widths.push(1);
    widths
        .windows(2)
        .map(|w| {
            let s = (2.0 / w[0] as f64).sqrt();
            Dense {
                inputs: w[0],
                outputs: w[1],
                w: (0..w[0] * w[1]).map(|_| ((rng.next_f64() * 2.0 - 1.0) * s * 1.7) as f32).collect(),
                b: (0..w[1]).map(|_| ((rng.next_f64() - 0.5) * 0.2) as f32).collect(),
            }
        })
        .collect()
}

pub fn logreg_job(d: &Dataset, precision: Precision) -> TrainJob {
    let mut j =
        TrainJob::new(&format!("{}-logreg", d.name), d.target, d.spec.clone(), ModelKind::Linear(Default::default()));
    j.task = TaskKind::Classification { positive: Some(d.positive.into()) };
    j.precision = precision;
    j.seed = 7;
    j
}

/// The dataset's tree ensembles: `gbdt` (boosted) or `random-forest`, with their defaults.
pub fn tree_job(d: &Dataset, kind: &str) -> TrainJob {
    let mut j = logreg_job(d, Precision::Float32);
    j.name = format!("{}-{kind}", d.name);
    j.model = match kind {
        "gbdt" => ModelKind::Gbdt(Default::default()),
        _ => ModelKind::Forest(Default::default()),
    };
    j
}

/// Runs a job quietly and returns its bundle.
pub fn train(job: &TrainJob, d: &Dataset) -> Bundle {
    job.run(&d.table, &Progress::hidden()).unwrap().bundle
}

/// Width of the feature vector a dataset's spec produces.
pub fn feature_width(d: &Dataset) -> usize {
    train(&logreg_job(d, Precision::Float32), d).manifest.model.n_features
}

/// A job serving fixed random MLP weights (the quantization gate is off: an untrained model's
/// AUC is noise).
pub fn mlp_job(d: &Dataset, precision: Precision, width: usize) -> TrainJob {
    let mut j = logreg_job(d, precision);
    j.name = format!("{}-mlp", d.name);
    j.model = ModelKind::Layers(random_mlp(width, &[32, 16], 11));
    j.max_quantization_loss = 1.0;
    j
}

/// The first `n` rows as JSON records: odd rows send numeric-looking cells as JSON numbers,
/// even rows as strings, so both input paths are exercised.
pub fn records(table: &Table, n: usize) -> Vec<Json> {
    table
        .rows()
        .take(n)
        .enumerate()
        .map(|(i, r)| {
            let m: serde_json::Map<String, Json> = table
                .header
                .iter()
                .zip(r)
                .map(|(h, c)| {
                    let v = match c.parse::<f64>() {
                        Ok(x) if i % 2 == 1 => json!(x),
                        _ => json!(c),
                    };
                    (h.clone(), v)
                })
                .collect();
            Json::Object(m)
        })
        .collect()
}

pub fn jsonl(records: &[Json]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}

/// The interfaces the built scoring component `wasm` (`scorelet_spin.wasm`,
/// `scorelet_spin_p2.wasm`) imports and exports, or `None` after a skip.
pub fn component_interfaces(test: &str, wasm: &str) -> Option<(Vec<String>, Vec<String>)> {
    let target = support::target_dir();
    let path = support::artifact(test, target.join("wasm32-wasip2/release").join(wasm))?;
    let engine = scorelet_host::component::engine(1, 1 << 30).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let component = scorelet_host::load_cached(&engine, &bytes, Some(&target.join("component-cache"))).unwrap();
    Some(scorelet_host::component::interfaces(&engine, &component))
}
