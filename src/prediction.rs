//! What one scored row is, and the per-request options: plain data with its JSON form, shared by
//! the scorer and the request formats (a leaf module: it depends on nothing but [`crate::value`]).

use serde_json::{Map, Value as Json, json};

use crate::value::{f32_json, f32s_json};

/// Per-request options (MLflow `params`, OIP `parameters`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Options {
    /// Also return each row's feature vector.
    pub return_features: bool,
}

/// One row's prediction.
#[derive(Debug, Clone, PartialEq)]
pub enum Prediction {
    Binary { probability: f32, label: String, features: Option<Vec<f32>> },
    Multiclass { probabilities: Vec<(String, f32)>, label: String, features: Option<Vec<f32>> },
    Regression { value: f32, features: Option<Vec<f32>> },
}

impl Prediction {
    /// The same JSON object on every platform: `{"probability", "label"}`,
    /// `{"probabilities": {class: p}, "label"}` or `{"value"}`, plus `"features"` when asked.
    pub fn to_json(&self) -> Json {
        let mut m = Map::new();
        let features = match self {
            Prediction::Binary { probability, label, features } => {
                m.insert("probability".into(), f32_json(*probability));
                m.insert("label".into(), json!(label));
                features
            }
            Prediction::Multiclass { probabilities, label, features } => {
                let p: Map<String, Json> = probabilities.iter().map(|(c, p)| (c.clone(), f32_json(*p))).collect();
                m.insert("probabilities".into(), Json::Object(p));
                m.insert("label".into(), json!(label));
                features
            }
            Prediction::Regression { value, features } => {
                m.insert("value".into(), f32_json(*value));
                features
            }
        };
        if let Some(f) = features {
            m.insert("features".into(), f32s_json(f));
        }
        Json::Object(m)
    }
}
