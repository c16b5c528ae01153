//! Stands in for [`super::tract`] in builds without the `tract` feature (the lean components and
//! the browser package): there is no tract engine, so loading with it is an error that says so.

use super::{Outputs, TRACT_MISSING};
use crate::error::{Error, Result};

/// No value exists: a build without tract can never hold a tract model.
#[derive(Debug, Clone)]
pub enum Tract {}

impl Tract {
    pub fn load(_onnx: &[u8], _n_features: usize, _output: &str) -> Result<Tract> {
        Err(Error::Model(TRACT_MISSING.into()))
    }

    pub fn run(&self, _batch: &[f32], _rows: usize) -> Result<Outputs> {
        match *self {}
    }
}
