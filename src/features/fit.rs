//! The analyze pass: spec + training rows → [`FittedFeatures`]. Values are read with the same
//! readers the transform uses, and each numeric step is fitted on the output of the steps before
//! it, computed by the transform's own [`Step::apply`]: one implementation, no skew.

use std::collections::{BTreeMap, HashMap};

use super::fitted::{
    ColumnStats, ColumnTransform, FEATURES_FORMAT, FittedColumn, FittedEncoding, FittedFeatures, Step,
};
use super::read::{TokenSet, lower_set, missing_set, read_bool, read_category, read_number};
use super::spec::{
    ColumnSpec, ConstantValue, DEFAULT_MISSING_TOKENS, Encoding, FeatureSpec, Kind, MissingPolicy, Transform,
};
use crate::error::{Error, Result};
use crate::value::{Value, number_as_category};

/// Default tokens of a boolean column.
pub const DEFAULT_TRUE_TOKENS: &[&str] = &["1", "true", "yes", "y", "t"];
/// Default tokens of a boolean column.
pub const DEFAULT_FALSE_TOKENS: &[&str] = &["0", "false", "no", "n", "f"];

/// Accumulates training rows, then fits. Rows are pushed one at a time so callers can stream.
pub struct Fitter {
    spec: FeatureSpec,
    cols: Vec<Acc>,
    rows: u64,
}

struct Acc {
    missing_tokens: Vec<String>,
    missing_set: TokenSet,
    truthy: TokenSet,
    falsy: TokenSet,
    missing: u64,
    numbers: Vec<f32>,
    counts: HashMap<String, u64>,
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

impl Fitter {
    /// Starts a fit for a validated spec.
    pub fn new(spec: &FeatureSpec) -> Result<Self> {
        spec.validate()?;
        let global = spec.missing_tokens.clone().unwrap_or_else(|| strings(DEFAULT_MISSING_TOKENS));
        let cols = spec
            .columns
            .iter()
            .map(|c| {
                let missing_tokens = c.missing_tokens.clone().unwrap_or_else(|| global.clone());
                Acc {
                    missing_set: missing_set(&missing_tokens),
                    missing_tokens,
                    truthy: lower_set(&c.true_tokens.clone().unwrap_or_else(|| strings(DEFAULT_TRUE_TOKENS))),
                    falsy: lower_set(&c.false_tokens.clone().unwrap_or_else(|| strings(DEFAULT_FALSE_TOKENS))),
                    missing: 0,
                    numbers: Vec::new(),
                    counts: HashMap::new(),
                }
            })
            .collect();
        Ok(Fitter { spec: spec.clone(), cols, rows: 0 })
    }

    /// The input columns, in the order rows must list their values.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.spec.columns.iter().map(|c| c.name.as_str())
    }

    /// Adds one training row (values in spec column order).
    pub fn push(&mut self, row: &[Value], row_index: usize) -> Result<()> {
        if row.len() != self.cols.len() {
            return Err(Error::BadRequest(format!(
                "row {row_index} has {} values, expected {}",
                row.len(),
                self.cols.len()
            )));
        }
        for ((spec, acc), v) in self.spec.columns.iter().zip(&mut self.cols).zip(row) {
            match spec.kind {
                Kind::Numeric => match read_number(v.as_ref(), &acc.missing_set, row_index, &spec.name)? {
                    Some(x) => acc.numbers.push(x),
                    None => acc.missing += 1,
                },
                Kind::Categorical => match read_category(v.as_ref(), &acc.missing_set) {
                    Some(c) => match acc.counts.get_mut(c.as_ref()) {
                        Some(n) => *n += 1,
                        None => {
                            acc.counts.insert(c.into_owned(), 1);
                        }
                    },
                    None => acc.missing += 1,
                },
                Kind::Boolean => {
                    match read_bool(v.as_ref(), &acc.missing_set, &acc.truthy, &acc.falsy, row_index, &spec.name)? {
                        Some(b) => *acc.counts.entry(b.to_string()).or_default() += 1,
                        None => acc.missing += 1,
                    }
                }
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Fits every column.
    pub fn finish(self) -> Result<FittedFeatures> {
        if self.rows == 0 {
            return Err(Error::Spec("no training rows to fit features on".into()));
        }
        let columns = self
            .spec
            .columns
            .iter()
            .zip(self.cols)
            .map(|(spec, acc)| fit_column(spec, acc))
            .collect::<Result<Vec<_>>>()?;
        Ok(FittedFeatures { format: FEATURES_FORMAT, ignore: self.spec.ignore.clone(), columns })
    }
}

fn spec_err(c: &ColumnSpec, m: impl std::fmt::Display) -> Error {
    Error::Spec(format!("column `{}`: {m}", c.name))
}

fn fit_column(spec: &ColumnSpec, acc: Acc) -> Result<FittedColumn> {
    let Acc { missing_tokens, missing, mut numbers, counts, .. } = acc;
    let (transform, stats) = match spec.kind {
        Kind::Numeric => {
            let stats = numeric_stats(&numbers, missing);
            if numbers.is_empty() {
                if let Some(MissingPolicy::Constant { .. }) = spec.missing {
                } else {
                    return Err(spec_err(
                        spec,
                        "has no values in the training data (every value is missing); drop it from the spec or use missing = { strategy = \"constant\", value = … }",
                    ));
                }
            }
            let impute = match spec.missing.as_ref().unwrap_or(&MissingPolicy::Median) {
                MissingPolicy::Mean => Some(mean(&numbers) as f32),
                MissingPolicy::Median => Some(median(&mut numbers.clone())),
                MissingPolicy::MostFrequent => Some(mode_f32(&numbers)),
                MissingPolicy::Constant { value: ConstantValue::Number(n) } => Some(*n as f32),
                MissingPolicy::Constant { value: ConstantValue::Bool(b) } => Some(if *b { 1.0 } else { 0.0 }),
                MissingPolicy::Constant { value: ConstantValue::Text(t) } => {
                    return Err(spec_err(spec, format!("constant {t:?} is not a number")));
                }
                MissingPolicy::Error => None,
            };
            if let Some(v) = impute {
                numbers.extend(std::iter::repeat_n(v, missing as usize));
            }
            let mut steps = Vec::new();
            for t in &spec.transforms {
                let step = fit_step(spec, t, &numbers)?;
                if !matches!(step, Step::Bucketize { .. }) {
                    for x in numbers.iter_mut() {
                        *x = step.apply(*x).ok_or_else(|| {
                            spec_err(
                                spec,
                                format!(
                                    "training value {x} is outside the domain of {}; add a clip step before it",
                                    step.name()
                                ),
                            )
                        })?;
                    }
                }
                steps.push(step);
            }
            (ColumnTransform::Numeric { impute, missing_indicator: spec.missing_indicator, steps }, stats)
        }
        Kind::Categorical => {
            let stats = category_stats(&counts, missing);
            let most = most_frequent(&counts);
            let impute = match spec.missing.as_ref().unwrap_or(&MissingPolicy::MostFrequent) {
                MissingPolicy::MostFrequent => Some(
                    most.clone()
                        .ok_or_else(|| spec_err(spec, "has no values in the training data (every value is missing)"))?,
                ),
                MissingPolicy::Constant { value: ConstantValue::Text(t) } => Some(t.clone()),
                MissingPolicy::Constant { value: ConstantValue::Number(n) } => Some(number_as_category(*n)),
                MissingPolicy::Constant { value: ConstantValue::Bool(b) } => Some(b.to_string()),
                MissingPolicy::Error => None,
                MissingPolicy::Mean | MissingPolicy::Median => unreachable!("validated"),
            };
            let mut counts = counts;
            if let Some(i) = &impute
                && missing > 0
            {
                *counts.entry(i.clone()).or_default() += missing;
            }
            let unknown = spec.unknown.unwrap_or_default();
            let encoding =
                match spec.encoding.clone().unwrap_or(Encoding::OneHot { max_categories: None, min_frequency: None }) {
                    Encoding::OneHot { max_categories, min_frequency } => {
                        let mut by_freq: Vec<(&String, &u64)> = counts.iter().collect();
                        by_freq.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                        let mut categories: Vec<String> = by_freq
                            .into_iter()
                            .filter(|(_, n)| **n >= min_frequency.unwrap_or(1))
                            .take(max_categories.unwrap_or(usize::MAX))
                            .map(|(c, _)| c.clone())
                            .collect();
                        categories.sort();
                        FittedEncoding::OneHot { categories }
                    }
                    Encoding::Hash { buckets } => FittedEncoding::Hash { buckets },
                    Encoding::Ordinal { categories } => FittedEncoding::Ordinal {
                        categories: categories.unwrap_or_else(|| {
                            let mut c: Vec<String> = counts.keys().cloned().collect();
                            c.sort();
                            c
                        }),
                    },
                };
            (ColumnTransform::Categorical { impute, encoding, unknown }, stats)
        }
        Kind::Boolean => {
            let stats = category_stats(&counts, missing);
            let t = counts.get("true").copied().unwrap_or(0);
            let f = counts.get("false").copied().unwrap_or(0);
            let impute = match spec.missing.as_ref().unwrap_or(&MissingPolicy::MostFrequent) {
                MissingPolicy::MostFrequent if t + f == 0 => {
                    return Err(spec_err(spec, "has no values in the training data (every value is missing)"));
                }
                MissingPolicy::MostFrequent => Some(t > f),
                MissingPolicy::Constant { value: ConstantValue::Bool(b) } => Some(*b),
                MissingPolicy::Constant { value: ConstantValue::Number(n) } => Some(*n != 0.0),
                MissingPolicy::Constant { value: ConstantValue::Text(s) } => {
                    return Err(spec_err(spec, format!("constant {s:?} is not a boolean")));
                }
                MissingPolicy::Error => None,
                MissingPolicy::Mean | MissingPolicy::Median => unreachable!("validated"),
            };
            (
                ColumnTransform::Boolean {
                    impute,
                    missing_indicator: spec.missing_indicator,
                    true_tokens: spec.true_tokens.clone().unwrap_or_else(|| strings(DEFAULT_TRUE_TOKENS)),
                    false_tokens: spec.false_tokens.clone().unwrap_or_else(|| strings(DEFAULT_FALSE_TOKENS)),
                },
                stats,
            )
        }
    };
    Ok(FittedColumn { name: spec.name.clone(), missing_tokens, transform, stats: Some(stats) })
}

fn fit_step(spec: &ColumnSpec, t: &Transform, x: &[f32]) -> Result<Step> {
    Ok(match t {
        Transform::Standardize => {
            let m = mean(x);
            let var = x.iter().map(|v| (*v as f64 - m).powi(2)).sum::<f64>() / x.len().max(1) as f64;
            let sd = var.sqrt();
            Step::Standardize { mean: m as f32, scale: if sd > 1e-12 { sd as f32 } else { 1.0 } }
        }
        Transform::MinMax => {
            let (lo, hi) = min_max(x);
            let range = hi - lo;
            Step::MinMax { min: lo, range: if range > 0.0 { range } else { 1.0 } }
        }
        Transform::Log1p => Step::Log1p,
        Transform::Clip { min, max } => Step::Clip { min: min.map(|v| v as f32), max: max.map(|v| v as f32) },
        Transform::Bucketize { edges: Some(e), .. } => Step::Bucketize { edges: e.iter().map(|v| *v as f32).collect() },
        Transform::Bucketize { quantiles: Some(q), .. } => {
            let mut s = x.to_vec();
            s.sort_by(f32::total_cmp);
            let mut edges: Vec<f32> = (1..*q).map(|i| s[(i * s.len() / q).min(s.len() - 1)]).collect();
            edges.dedup();
            if edges.is_empty() {
                return Err(spec_err(spec, "quantile bucketize found a single value; use explicit edges"));
            }
            Step::Bucketize { edges }
        }
        Transform::Bucketize { .. } => return Err(spec_err(spec, "bucketize needs edges or quantiles")),
    })
}

fn mean(x: &[f32]) -> f64 {
    x.iter().map(|v| *v as f64).sum::<f64>() / x.len().max(1) as f64
}

fn median(x: &mut [f32]) -> f32 {
    x.sort_by(f32::total_cmp);
    let n = x.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        x[n / 2]
    } else {
        ((x[n / 2 - 1] as f64 + x[n / 2] as f64) / 2.0) as f32
    }
}

fn mode_f32(x: &[f32]) -> f32 {
    let mut counts: BTreeMap<u32, u64> = BTreeMap::new();
    for v in x {
        *counts.entry(v.to_bits()).or_default() += 1;
    }
    let best = counts.values().copied().max().unwrap_or(0);
    counts.iter().filter(|(_, n)| **n == best).map(|(b, _)| f32::from_bits(*b)).min_by(f32::total_cmp).unwrap_or(0.0)
}

fn min_max(x: &[f32]) -> (f32, f32) {
    x.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)))
}

fn most_frequent(counts: &HashMap<String, u64>) -> Option<String> {
    counts.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(c, _)| c.clone())
}

fn numeric_stats(x: &[f32], missing: u64) -> ColumnStats {
    if x.is_empty() {
        return ColumnStats { count: 0, missing, ..Default::default() };
    }
    let m = mean(x);
    let sd = (x.iter().map(|v| (*v as f64 - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
    let (lo, hi) = min_max(x);
    ColumnStats {
        count: x.len() as u64,
        missing,
        mean: Some(m),
        std: Some(sd),
        min: Some(lo as f64),
        max: Some(hi as f64),
        ..Default::default()
    }
}

fn category_stats(counts: &HashMap<String, u64>, missing: u64) -> ColumnStats {
    let mut v: Vec<(&String, &u64)> = counts.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    ColumnStats {
        count: counts.values().sum(),
        missing,
        distinct: Some(counts.len() as u64),
        top: v.into_iter().take(20).map(|(k, n)| (k.clone(), *n)).collect(),
        ..Default::default()
    }
}
