//! `spec infer`: proposes a [`FeatureSpec`] from sample rows, so a user can start without
//! writing one. Detection rules (all on trimmed cells, missing tokens excluded):
//! - every value parses as a number → numeric (0/1 only → boolean); heavy right skew with
//!   non-negative values → `log1p` before `standardize`;
//! - two distinct values that are yes/no-like → boolean;
//! - almost every value distinct (≥ 90 % of ≥ 20 rows) → an identifier, put in `ignore`;
//! - up to 100 distinct values → one-hot (rare ones, seen fewer than 5 times, share the unknown
//!   bucket); more → feature hashing with 64 buckets.

use std::collections::{HashMap, HashSet};

use super::fit::{DEFAULT_FALSE_TOKENS, DEFAULT_TRUE_TOKENS};
use super::spec::{
    ColumnSpec, DEFAULT_MISSING_TOKENS, Encoding, FeatureSpec, Kind, MissingPolicy, Transform, UnknownPolicy,
};

/// What inference saw in one column, for the user to check.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnReport {
    pub name: String,
    pub decision: String,
    pub distinct: usize,
    pub missing: u64,
}

#[derive(Default)]
struct Seen {
    missing: u64,
    numeric: u64,
    values: HashMap<String, u64>,
    nums: Vec<f64>,
    overflow: bool,
}

const MAX_TRACKED: usize = 10_000;

/// Proposes a spec from a header and rows of string cells (anything that iterates over them:
/// `&[Vec<String>]`, a training table's rows). `target` (the label column) goes to `ignore`.
pub fn infer_spec<I, R>(header: &[String], rows: I, target: Option<&str>) -> (FeatureSpec, Vec<ColumnReport>)
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<str>,
{
    let missing: HashSet<&str> = DEFAULT_MISSING_TOKENS.iter().copied().collect();
    let mut seen: Vec<Seen> = header.iter().map(|_| Seen::default()).collect();
    let mut n = 0u64;
    for row in rows {
        n += 1;
        for (s, cell) in seen.iter_mut().zip(row) {
            let t = cell.as_ref().trim();
            if missing.contains(t) {
                s.missing += 1;
                continue;
            }
            if let Ok(x) = t.parse::<f64>()
                && x.is_finite()
            {
                s.numeric += 1;
                s.nums.push(x);
            }
            if s.values.len() < MAX_TRACKED || s.values.contains_key(t) {
                *s.values.entry(t.to_string()).or_default() += 1;
            } else {
                s.overflow = true;
            }
        }
    }
    let truthy: HashSet<&str> = DEFAULT_TRUE_TOKENS.iter().chain(DEFAULT_FALSE_TOKENS).copied().collect();
    let mut spec = FeatureSpec { missing_tokens: None, ignore: Vec::new(), columns: Vec::new() };
    let mut report = Vec::new();
    for (name, s) in header.iter().zip(seen) {
        let present = n - s.missing;
        let distinct = s.values.len();
        let col = |kind| ColumnSpec {
            name: name.clone(),
            kind,
            missing: None,
            missing_tokens: None,
            missing_indicator: false,
            transforms: Vec::new(),
            encoding: None,
            unknown: None,
            true_tokens: None,
            false_tokens: None,
        };
        let decision;
        if Some(name.as_str()) == target {
            spec.ignore.push(name.clone());
            decision = "target: ignored as an input".to_string();
        } else if present == 0 {
            spec.ignore.push(name.clone());
            decision = "every value is missing: ignored".to_string();
        } else if s.numeric == present {
            let only01 = s.values.keys().all(|v| v.parse::<f64>().map(|x| x == 0.0 || x == 1.0).unwrap_or(false));
            if only01 && distinct <= 2 {
                spec.columns.push(col(Kind::Boolean));
                decision = "boolean (0/1)".into();
            } else {
                let mut c = col(Kind::Numeric);
                c.missing = Some(MissingPolicy::Median);
                c.missing_indicator = s.missing > 0;
                let skewed = skewness(&s.nums) > 2.0 && s.nums.iter().all(|x| *x >= 0.0);
                if skewed {
                    c.transforms.push(Transform::Clip { min: Some(0.0), max: None });
                    c.transforms.push(Transform::Log1p);
                }
                c.transforms.push(Transform::Standardize);
                decision = if skewed {
                    "numeric, right-skewed: clip ≥ 0, log1p, standardize"
                } else {
                    "numeric: standardize"
                }
                .into();
                spec.columns.push(c);
            }
        } else if distinct == 2 && s.values.keys().all(|v| truthy.contains(v.to_lowercase().as_str())) {
            spec.columns.push(col(Kind::Boolean));
            decision = "boolean (yes/no)".into();
        } else if present >= 20 && (s.overflow || distinct as f64 >= 0.9 * present as f64) {
            spec.ignore.push(name.clone());
            decision = "identifier (nearly every value distinct): ignored".into();
        } else if distinct <= 100 && !s.overflow {
            let mut c = col(Kind::Categorical);
            c.encoding = Some(Encoding::OneHot { max_categories: None, min_frequency: Some(5) });
            c.unknown = Some(UnknownPolicy::Bucket);
            decision = format!("categorical, {distinct} values: one-hot");
            spec.columns.push(c);
        } else {
            let mut c = col(Kind::Categorical);
            c.encoding = Some(Encoding::Hash { buckets: 64 });
            decision = format!("categorical, {distinct}+ values: hashed into 64 buckets");
            spec.columns.push(c);
        }
        report.push(ColumnReport { name: name.clone(), decision, distinct, missing: s.missing });
    }
    (spec, report)
}

fn skewness(x: &[f64]) -> f64 {
    let n = x.len() as f64;
    if n < 3.0 {
        return 0.0;
    }
    let m = x.iter().sum::<f64>() / n;
    let m2 = x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / n;
    let m3 = x.iter().map(|v| (v - m).powi(3)).sum::<f64>() / n;
    if m2 <= 0.0 { 0.0 } else { m3 / m2.powf(1.5) }
}
