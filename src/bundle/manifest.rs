//! `manifest.json`: what a bundle is, what it expects and how it scores, plus the sha256 and
//! size of every other file in it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format tag every manifest carries.
pub const BUNDLE_FORMAT: &str = "scorelet.bundle/v1";

/// The bundle manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// Model name, `[a-z0-9][a-z0-9._-]{0,63}`.
    pub name: String,
    /// Registry-assigned version; absent until the bundle is published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    pub task: Task,
    pub signature: Signature,
    pub model: ModelInfo,
    /// Holdout metrics (e.g. `roc_auc`, `accuracy`).
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Where the model came from: training data digest, parameters, tool versions.
    #[serde(default)]
    pub lineage: serde_json::Value,
    /// sha256 and size of every file of the bundle except the manifest itself.
    pub files: BTreeMap<String, FileEntry>,
    /// The publisher's Ed25519 signature over this manifest (see [`crate::bundle::seal`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seal: Option<Seal>,
}

/// A publisher's signature: the public key (hex) and the Ed25519 signature (hex) over
/// [`crate::bundle::seal::signed_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    pub key: String,
    pub ed25519: String,
}

/// What the model predicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Task {
    /// `probability` of `positive_class` and a `label`.
    BinaryClassification {
        classes: [String; 2],
        positive_class: String,
        #[serde(default = "half")]
        threshold: f32,
    },
    /// `probabilities` per class and the arg-max `label`.
    MulticlassClassification { classes: Vec<String> },
    /// A numeric `value`.
    Regression { target: String },
}

fn half() -> f32 {
    0.5
}

/// The model's raw input: named, typed columns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    pub inputs: Vec<InputColumn>,
    /// Columns accepted and ignored (ids, the target).
    #[serde(default)]
    pub ignored: Vec<String>,
}

/// One input column of the signature.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputColumn {
    pub name: String,
    /// `number`, `string` or `boolean`.
    #[serde(rename = "type")]
    pub ty: String,
    /// Categories seen in training (for forms and docs; the transform uses features.json).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// The ONNX model inside the bundle and how to read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// File name inside the bundle (normally `model.onnx`).
    pub file: String,
    /// The ONNX input name; the model takes one f32 `[N, n_features]` tensor.
    pub input: String,
    /// The ONNX output to read: `[N, k]` (or `[N]`).
    pub output: String,
    /// How the core turns that output into scores (default: the output is the scores).
    #[serde(default)]
    pub link: crate::link::Link,
    pub n_features: usize,
    /// `int8` or `float32`.
    pub precision: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opset: Option<i64>,
}

/// Digest and size of one bundle file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Lower-case hex sha256.
    pub sha256: String,
    pub size: u64,
}

/// Whether a name is a valid model name: `[a-z0-9][a-z0-9._-]{0,63}`.
pub fn valid_model_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-".contains(c))
}

/// Whether a bundle file name is safe: one path component of `[A-Za-z0-9._-]`, not `.`/`..`.
pub fn valid_file_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && !name.starts_with('.')
        && name.bytes().all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c))
}
