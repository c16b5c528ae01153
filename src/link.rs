//! Link functions applied by the core to a model's raw outputs.
//!
//! scorelet's own exports end in logits and leave the link to this module, because tract's
//! sigmoid/softmax kernels are approximations coded per instruction set (AVX2/FMA, AVX-512,
//! wasm SIMD) and differ in the last bits between targets. Here the link is plain f32 arithmetic
//! plus `libm::expf`, the same code everywhere, so probabilities are bit-identical on every target.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What turns model outputs into scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// The outputs are the scores (probabilities, or values); e.g. models from skl2onnx.
    #[default]
    Identity,
    /// One logit per row → `[1 - p, p]` with `p = 1 / (1 + e^-z)`.
    Sigmoid,
    /// One logit per class → softmax probabilities.
    Softmax,
}

/// The logistic function in f32, deterministic across targets.
#[inline]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-z))
}

impl Link {
    /// Width of the scores for model outputs of `width` per row.
    pub fn score_width(self, width: usize) -> Result<usize> {
        match (self, width) {
            (Link::Sigmoid, 1) => Ok(2),
            (Link::Sigmoid, w) => {
                Err(Error::Model(format!("a sigmoid link needs one logit per row, the model gives {w}")))
            }
            (_, w) => Ok(w),
        }
    }

    /// Applies the link to one row of model outputs, appending the scores to `out`.
    pub fn apply(self, raw: &[f32], out: &mut Vec<f32>) {
        match self {
            Link::Identity => out.extend_from_slice(raw),
            Link::Sigmoid => {
                let p = sigmoid(raw[0]);
                out.push(1.0 - p);
                out.push(p);
            }
            Link::Softmax => {
                let m = raw.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let start = out.len();
                let mut sum = 0.0f32;
                for z in raw {
                    let e = libm::expf(z - m);
                    sum += e;
                    out.push(e);
                }
                for p in &mut out[start..] {
                    *p /= sum;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_gives_two_scores_that_sum_to_one() {
        let mut out = vec![];
        Link::Sigmoid.apply(&[0.0], &mut out);
        assert_eq!(out, [0.5, 0.5]);
        out.clear();
        Link::Sigmoid.apply(&[2.0], &mut out);
        assert!((out[1] - 0.880_797).abs() < 1e-6 && out[0] + out[1] == 1.0, "{out:?}");
        // Saturates instead of overflowing.
        out.clear();
        Link::Sigmoid.apply(&[-1000.0], &mut out);
        assert_eq!(out, [1.0, 0.0]);
        assert_eq!(Link::Sigmoid.score_width(1).unwrap(), 2);
        assert!(Link::Sigmoid.score_width(3).unwrap_err().to_string().contains("one logit"));
    }

    #[test]
    fn softmax_is_shift_invariant_and_appends() {
        let mut out = vec![9.0];
        Link::Softmax.apply(&[1.0, 2.0, 3.0], &mut out);
        let mut shifted = vec![];
        Link::Softmax.apply(&[1001.0, 1002.0, 1003.0], &mut shifted);
        assert_eq!(out[0], 9.0, "what was there stays");
        assert_eq!(&out[1..], &shifted[..], "max subtracted first: no overflow, same bits");
        assert!((out[1..].iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(out[1] < out[2] && out[2] < out[3]);
        assert_eq!(Link::Softmax.score_width(3).unwrap(), 3);
    }

    #[test]
    fn identity_passes_through_and_links_serialize_in_snake_case() {
        let mut out = vec![];
        Link::Identity.apply(&[0.25, -3.0], &mut out);
        assert_eq!(out, [0.25, -3.0]);
        assert_eq!(serde_json::to_string(&Link::Softmax).unwrap(), "\"softmax\"");
        assert_eq!(serde_json::from_str::<Link>("\"sigmoid\"").unwrap(), Link::Sigmoid);
        assert!(serde_json::from_str::<Link>("\"tanh\"").is_err());
    }
}
