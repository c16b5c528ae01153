//! Helpers shared by the integration tests: the repository's data sets, specs and test models.
#![allow(dead_code)]

use std::path::PathBuf;

use scorelet::features::FeatureSpec;
use scorelet_train::data::adult_columns;
use scorelet_train::logreg::LogRegOptions;
use scorelet_train::{BinaryJob, Dense, Estimator, Precision, Rng, Table};
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

pub fn logreg_job(d: &Dataset, precision: Precision) -> BinaryJob {
    BinaryJob {
        name: format!("{}-logreg", d.name),
        target: d.target.into(),
        positive: d.positive.into(),
        spec: d.spec.clone(),
        estimator: Estimator::LogReg(LogRegOptions::default()),
        precision,
        seed: 7,
        golden_rows: 64,
    }
}

/// Width of the feature vector a dataset's spec produces.
pub fn feature_width(d: &Dataset) -> usize {
    let (bundle, _) = logreg_job(d, Precision::Float32).run(&d.table).unwrap();
    bundle.manifest.model.n_features
}

pub fn mlp_job(d: &Dataset, precision: Precision, width: usize) -> BinaryJob {
    BinaryJob {
        name: format!("{}-mlp", d.name),
        estimator: Estimator::Layers(random_mlp(width, &[32, 16], 11)),
        ..logreg_job(d, precision)
    }
}

/// The first `n` rows as JSON records: odd rows send numeric-looking cells as JSON numbers,
/// even rows as strings, so both input paths are exercised.
pub fn records(table: &Table, n: usize) -> Vec<Json> {
    table
        .rows
        .iter()
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
