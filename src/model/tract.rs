//! The tract engine: an ONNX model loaded once with tract, run on row-major f32 batches. It runs
//! every graph the compiled engine does not take.
//!
//! Loading parses, types, declutters and optimizes the graph for this machine (`into_optimized`)
//! with a symbolic batch dimension, so one plan serves every batch size. `with_ignore_value_info`
//! lets models written by onnxruntime's quantizer (whose value_info pins a batch symbol of its
//! own) load too.

use std::sync::Arc;

use tract_onnx::prelude::*;

use crate::error::{Error, Result};

use super::Outputs;

/// A loaded, optimized model with one f32 `[N, n_features]` input and one selected f32 output.
#[derive(Debug, Clone)]
pub struct Tract {
    plan: Arc<TypedSimplePlan>,
    n_features: usize,
}

fn model_err(e: impl std::fmt::Display) -> Error {
    Error::Model(format!("{e:#}"))
}

impl Tract {
    /// Loads ONNX bytes, keeping only `output` (an ONNX output or tensor name) as the result.
    /// A model that makes tract panic is reported as an error, not propagated (where the target
    /// unwinds: native and WASI builds).
    pub fn load(onnx: &[u8], n_features: usize, output: &str) -> Result<Tract> {
        std::panic::catch_unwind(|| Self::load_inner(onnx, n_features, output))
            .unwrap_or_else(|_| Err(Error::Model("the ONNX model crashed the loader; it is malformed".into())))
    }

    fn load_inner(onnx: &[u8], n_features: usize, output: &str) -> Result<Tract> {
        if n_features == 0 {
            return Err(Error::Model("the model needs at least one input feature".into()));
        }
        let mut model = tract_onnx::onnx()
            .with_ignore_value_info(true)
            .model_for_read(&mut &onnx[..])
            .map_err(|e| Error::Model(format!("cannot parse the ONNX model: {e:#}")))?;
        if model.input_outlets().map_err(model_err)?.len() != 1 {
            return Err(Error::Model("the model must have exactly one input".into()));
        }
        let batch = model.sym("N");
        model
            .set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), tvec!(batch.to_dim(), n_features.to_dim())))
            .map_err(model_err)?;
        model
            .select_outputs_by_name([output])
            .map_err(|_| Error::Model(format!("the model has no output named `{output}`")))?;
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(|e| Error::Model(format!("cannot prepare the model: {e:#}")))?;
        Ok(Tract { plan, n_features })
    }

    /// Runs a row-major `rows × n_features` batch (its size checked by the caller).
    pub fn run(&self, batch: &[f32], rows: usize) -> Result<Outputs> {
        let input = Tensor::from_shape(&[rows, self.n_features], batch).map_err(model_err)?;
        let plan = &self.plan;
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || plan.run(tvec!(input.into_tvalue()))))
            .map_err(|_| Error::Model("the model crashed while running".into()))?
            .map_err(model_err)?;
        let t = out[0].cast_to::<f32>().map_err(model_err)?;
        let shape = t.shape().to_vec();
        let width = match shape.as_slice() {
            [n] if *n == rows => 1,
            [n, w] if *n == rows => *w,
            _ => return Err(Error::Model(format!("output shape {shape:?} does not fit a batch of {rows}"))),
        };
        let data: Vec<f32> = t.to_plain_array_view::<f32>().map_err(model_err)?.iter().copied().collect();
        Ok(Outputs { rows, width, data })
    }
}
