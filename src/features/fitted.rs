//! Fitted feature parameters (`features.json` in a bundle): everything the transform needs, as
//! plain data. Floats are stored as f32, the type the transform computes in, so a round trip
//! through JSON changes no bit.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::spec::UnknownPolicy;

/// Format version of `features.json`.
pub const FEATURES_FORMAT: u32 = 1;

/// The analyze pass's output: fitted parameters for every input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedFeatures {
    pub format: u32,
    /// Columns accepted in input and ignored (ids, the target).
    #[serde(default)]
    pub ignore: Vec<String>,
    pub columns: Vec<FittedColumn>,
}

/// One input column's fitted parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FittedColumn {
    pub name: String,
    /// Raw tokens (after trimming) that mean "missing".
    pub missing_tokens: Vec<String>,
    pub transform: ColumnTransform,
    /// What the fit saw in the training data (for reports and drift checks; unused by transform).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<ColumnStats>,
}

/// How one column becomes feature slots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ColumnTransform {
    Numeric {
        /// Fill value for a missing raw value; `None` makes a missing value an error.
        impute: Option<f32>,
        #[serde(default)]
        missing_indicator: bool,
        steps: Vec<Step>,
    },
    Categorical {
        impute: Option<String>,
        encoding: FittedEncoding,
        unknown: UnknownPolicy,
    },
    Boolean {
        impute: Option<bool>,
        #[serde(default)]
        missing_indicator: bool,
        true_tokens: Vec<String>,
        false_tokens: Vec<String>,
    },
}

/// A fitted numeric step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    Standardize {
        mean: f32,
        scale: f32,
    },
    MinMax {
        min: f32,
        range: f32,
    },
    Log1p,
    Clip {
        min: Option<f32>,
        max: Option<f32>,
    },
    /// Terminal: one-hot over `edges.len() + 1` buckets; bucket i holds `edges[i-1] <= x < edges[i]`.
    Bucketize {
        edges: Vec<f32>,
    },
}

/// A fitted categorical encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum FittedEncoding {
    OneHot { categories: Vec<String> },
    Hash { buckets: u32 },
    Ordinal { categories: Vec<String> },
}

/// Training-data statistics of one raw column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ColumnStats {
    pub count: u64,
    pub missing: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Most frequent raw values with their counts (categorical and boolean columns).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub top: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<u64>,
}

impl Step {
    /// Applies a non-terminal step; `None` means x is outside the step's domain.
    #[inline]
    pub fn apply(&self, x: f32) -> Option<f32> {
        Some(match self {
            Step::Standardize { mean, scale } => (x - mean) / scale,
            Step::MinMax { min, range } => (x - min) / range,
            // libm, not std: std's log1p calls the platform's libm, which differs between
            // targets; this one is the same code everywhere (bit-identical features).
            Step::Log1p if x > -1.0 => libm::log1pf(x),
            Step::Log1p => return None,
            Step::Clip { min, max } => {
                let mut y = x;
                if let Some(m) = min
                    && y < *m
                {
                    y = *m;
                }
                if let Some(m) = max
                    && y > *m
                {
                    y = *m;
                }
                y
            }
            Step::Bucketize { .. } => x,
        })
    }

    /// Name for error messages.
    pub fn name(&self) -> &'static str {
        match self {
            Step::Standardize { .. } => "standardize",
            Step::MinMax { .. } => "min_max",
            Step::Log1p => "log1p (needs values > -1)",
            Step::Clip { .. } => "clip",
            Step::Bucketize { .. } => "bucketize",
        }
    }
}

impl FittedFeatures {
    /// Parses `features.json`.
    pub fn from_json(bytes: &[u8]) -> crate::Result<Self> {
        let f: FittedFeatures =
            serde_json::from_slice(bytes).map_err(|e| crate::Error::Bundle(format!("features.json: {e}")))?;
        if f.format != FEATURES_FORMAT {
            return Err(crate::Error::Bundle(format!(
                "features.json has format {}, this scorelet reads format {FEATURES_FORMAT}",
                f.format
            )));
        }
        Ok(f)
    }

    /// Serializes to pretty JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("fitted features serialize")
    }
}
