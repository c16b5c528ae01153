//! What one scored row is, and the per-request options: plain data with its JSON form, shared by
//! the scorer and the request formats (a leaf module: it depends on nothing but [`crate::value`]).

use serde_json::{Map, Value as Json, json};

use crate::value::{f32_json, f32_number, f32s_json};

/// Per-request options (MLflow `params`, OIP `parameters`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Options {
    /// Also return each row's feature vector.
    pub return_features: bool,
}

/// The index of the first largest value: the class a multiclass prediction labels (the
/// trainer's metrics and profile pick it the same way).
pub fn arg_max<T: PartialOrd>(xs: &[T]) -> usize {
    (0..xs.len()).fold(0, |best, i| if xs[i] > xs[best] { i } else { best })
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

    /// Appends [`Prediction::to_json`]'s text to `out` without building the JSON tree: the same
    /// bytes (keys in the same sorted order, numbers through [`f32_json`]'s rule).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        let features = match self {
            Prediction::Binary { features, .. }
            | Prediction::Multiclass { features, .. }
            | Prediction::Regression { features, .. } => features,
        };
        out.push(b'{');
        if let Some(f) = features {
            out.extend_from_slice(b"\"features\":[");
            for (i, x) in f.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_f32(*x, out);
            }
            out.extend_from_slice(b"],");
        }
        match self {
            Prediction::Binary { probability, label, .. } => {
                out.extend_from_slice(b"\"label\":");
                write_str(label, out);
                out.extend_from_slice(b",\"probability\":");
                write_f32(*probability, out);
            }
            Prediction::Multiclass { probabilities, label, .. } => {
                out.extend_from_slice(b"\"label\":");
                write_str(label, out);
                out.extend_from_slice(b",\"probabilities\":{");
                // A JSON object keeps one value per key, sorted, as `to_json`'s map does.
                let mut sorted: Vec<&(String, f32)> = probabilities.iter().collect();
                sorted.sort_by(|a, b| a.0.cmp(&b.0));
                let mut first = true;
                for (i, (c, p)) in sorted.iter().enumerate() {
                    // A repeated key keeps its last value, as a map insert does.
                    if sorted.get(i + 1).is_some_and(|n| n.0 == *c) {
                        continue;
                    }
                    if !std::mem::take(&mut first) {
                        out.push(b',');
                    }
                    write_str(c, out);
                    out.push(b':');
                    write_f32(*p, out);
                }
                out.push(b'}');
            }
            Prediction::Regression { value, .. } => {
                out.extend_from_slice(b"\"value\":");
                write_f32(*value, out);
            }
        }
        out.push(b'}');
    }
}

/// A JSON string with serde_json's escaping.
pub fn write_str(s: &str, out: &mut Vec<u8>) {
    serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
}

/// An f32 as [`f32_json`] writes it (shortest round-trip text, as f64; NaN and ±inf as `null`).
pub fn write_f32(x: f32, out: &mut Vec<u8>) {
    match f32_number(x) {
        Some(n) => serde_json::to_writer(&mut *out, &n),
        None => serde_json::to_writer(&mut *out, &()),
    }
    .expect("writing to a Vec cannot fail");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_json_is_the_trees_text_byte_for_byte() {
        let odd = [0.1f32, 1.0, -0.0, 1e20, 3.4028235e38, 1e-45, f32::NAN, f32::INFINITY, 0.5357096, 7.0e-8];
        let mut preds = vec![];
        for &x in &odd {
            preds.push(Prediction::Binary { probability: x, label: "Yes \"q\" é\n".into(), features: None });
            preds.push(Prediction::Regression { value: x, features: Some(odd.to_vec()) });
        }
        preds.push(Prediction::Multiclass {
            probabilities: vec![("b".into(), 0.25), ("a".into(), 0.5), ("c\u{1}".into(), 0.25), ("a".into(), 0.75)],
            label: "a".into(),
            features: Some(vec![]),
        });
        for p in &preds {
            let mut out = Vec::new();
            p.write_json(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), p.to_json().to_string(), "{p:?}");
        }
    }
}
