//! Stands in for [`super::tract`] in builds without the `tract` feature (the lean components and
//! the browser package): there is no tract engine, so loading with it is an error that says so.

use super::Outputs;
use crate::error::{Error, Result};

/// No value exists: a build without tract can never hold a tract model.
#[derive(Debug, Clone)]
pub enum Tract {}

/// What a user reads when a model needs the engine this build lacks.
pub const MISSING: &str = "this build of scorelet has no tract engine (built without the `tract` feature): \
     use a full build (the default `scorelet serve`/`build` components, the native CLI) for this model";

impl Tract {
    pub fn load(_onnx: &[u8], _n_features: usize, _output: &str) -> Result<Tract> {
        Err(Error::Model(MISSING.into()))
    }

    pub fn run(&self, _batch: &[f32], _rows: usize) -> Result<Outputs> {
        match *self {}
    }
}
