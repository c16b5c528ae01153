//! The declarative feature spec a user writes (TOML): per input column, its kind, how missing
//! values are filled, numeric transforms and categorical encodings. `fit` turns a spec plus
//! training rows into [`crate::features::FittedFeatures`].
//!
//! ```toml
//! ignore = ["customerID"]
//!
//! [[column]]
//! name = "tenure"
//! kind = "numeric"
//! missing = { strategy = "median" }
//! transforms = [{ op = "clip", min = 0 }, { op = "log1p" }, { op = "standardize" }]
//!
//! [[column]]
//! name = "Contract"
//! kind = "categorical"
//! encoding = { type = "one_hot", max_categories = 20, min_frequency = 5 }
//! unknown = "bucket"
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Raw tokens that mean "missing" unless a spec says otherwise (compared after trimming
/// whitespace, so a blank or whitespace-only cell is always missing).
pub const DEFAULT_MISSING_TOKENS: &[&str] = &["", "?", "NA", "N/A", "NaN", "nan", "null"];

/// A whole feature spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureSpec {
    /// Raw tokens meaning "missing" for every column (default: [`DEFAULT_MISSING_TOKENS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_tokens: Option<Vec<String>>,
    /// Columns that may appear in the input but are not model inputs (ids, the target).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// The model's input columns, in order.
    #[serde(rename = "column", default)]
    pub columns: Vec<ColumnSpec>,
}

/// What kind of values a column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Numeric,
    Categorical,
    Boolean,
}

/// One input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    pub kind: Kind,
    /// How to fill a missing value (default: median for numeric, most frequent otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<MissingPolicy>,
    /// Overrides the spec-wide missing tokens for this column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_tokens: Option<Vec<String>>,
    /// Adds a 0/1 feature that says whether the raw value was missing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing_indicator: bool,
    /// Numeric transforms, applied in order (numeric columns only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<Transform>,
    /// Categorical encoding (default: one-hot).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<Encoding>,
    /// What an unseen category does (default: bucket).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown: Option<UnknownPolicy>,
    /// Raw tokens meaning true (boolean columns; default 1/true/yes/y/t, any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub true_tokens: Option<Vec<String>>,
    /// Raw tokens meaning false (boolean columns; default 0/false/no/n/f, any case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub false_tokens: Option<Vec<String>>,
}

/// How a missing value is filled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "snake_case", deny_unknown_fields)]
pub enum MissingPolicy {
    Mean,
    Median,
    MostFrequent,
    Constant {
        value: ConstantValue,
    },
    /// A missing value is an error.
    Error,
}

/// The fill value of [`MissingPolicy::Constant`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConstantValue {
    Number(f64),
    Bool(bool),
    Text(String),
}

/// A numeric transform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Transform {
    /// `(x - mean) / std`, fitted.
    Standardize,
    /// `(x - min) / (max - min)`, fitted.
    MinMax,
    /// `ln(1 + x)`; values ≤ -1 are an error.
    Log1p,
    /// Limits values to `[min, max]`.
    Clip {
        #[serde(default)]
        min: Option<f64>,
        #[serde(default)]
        max: Option<f64>,
    },
    /// One-hot over buckets, from explicit `edges` or `quantiles` fitted buckets. Must be last.
    Bucketize {
        #[serde(default)]
        edges: Option<Vec<f64>>,
        #[serde(default)]
        quantiles: Option<usize>,
    },
}

/// A categorical encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Encoding {
    /// One slot per kept category, plus an unknown slot when `unknown = "bucket"`.
    OneHot {
        #[serde(default)]
        max_categories: Option<usize>,
        #[serde(default)]
        min_frequency: Option<u64>,
    },
    /// `buckets` slots; a category sets slot `fnv1a(category) % buckets`.
    Hash { buckets: u32 },
    /// One slot holding the category's index (explicit order, or sorted).
    Ordinal {
        #[serde(default)]
        categories: Option<Vec<String>>,
    },
}

/// What to do with a category never seen in training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UnknownPolicy {
    #[default]
    Bucket,
    Error,
}

impl FeatureSpec {
    /// Parses and checks a TOML spec.
    pub fn from_toml(text: &str) -> Result<Self> {
        let spec: FeatureSpec = toml::from_str(text).map_err(|e| Error::Spec(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Renders the spec as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks what serde cannot: unique names, options that fit the column kind.
    pub fn validate(&self) -> Result<()> {
        if self.columns.is_empty() {
            return Err(Error::Spec("the spec has no [[column]] entries".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for c in &self.columns {
            let bad = |m: &str| Err(Error::Spec(format!("column `{}`: {m}", c.name)));
            if c.name.is_empty() {
                return Err(Error::Spec("a column has an empty name".into()));
            }
            if !seen.insert(c.name.as_str()) {
                return bad("listed twice");
            }
            if self.ignore.contains(&c.name) {
                return bad("is both an input and in `ignore`");
            }
            if c.kind != Kind::Numeric && !c.transforms.is_empty() {
                return bad("transforms apply to numeric columns only");
            }
            if c.kind != Kind::Categorical && (c.encoding.is_some() || c.unknown.is_some()) {
                return bad("`encoding` and `unknown` apply to categorical columns only");
            }
            if c.kind != Kind::Boolean && (c.true_tokens.is_some() || c.false_tokens.is_some()) {
                return bad("`true_tokens`/`false_tokens` apply to boolean columns only");
            }
            if c.kind != Kind::Numeric && matches!(c.missing, Some(MissingPolicy::Mean | MissingPolicy::Median)) {
                return bad("mean/median imputation needs a numeric column");
            }
            for (i, t) in c.transforms.iter().enumerate() {
                match t {
                    Transform::Bucketize { edges, quantiles } => {
                        if i + 1 != c.transforms.len() {
                            return bad("bucketize must be the last transform");
                        }
                        match (edges, quantiles) {
                            (Some(e), None) if !e.is_empty() && e.windows(2).all(|w| w[0] < w[1]) => {}
                            (None, Some(q)) if (2..=1000).contains(q) => {}
                            _ => return bad("bucketize needs strictly increasing `edges` or `quantiles` in 2..=1000"),
                        }
                    }
                    Transform::Clip { min: Some(a), max: Some(b) } if a > b => return bad("clip min > max"),
                    _ => {}
                }
            }
            if let Some(Encoding::Hash { buckets }) = c.encoding
                && !(1..=1 << 20).contains(&buckets)
            {
                return bad("hash buckets must be in 1..=1048576");
            }
        }
        Ok(())
    }
}
