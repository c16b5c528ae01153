//! The model runtime behind one seam: [`Model`] loads an ONNX file with one of two engines and
//! runs row-major f32 batches.
//!
//! - [`compiled`]: ours. The graph is read with a small protobuf decoder ([`pb`]) into a flat
//!   plan of dense steps with prepacked weights and fused epilogues; fixed-order SIMD and scalar
//!   kernels ([`kernels`]), so every target computes the same bits; tree ensembles as flattened
//!   trees ([`trees`]).
//! - [`tract`]: the general interpreter, for every graph the compiled engine does not take. Behind
//!   the `tract` cargo feature (on by default); without it, a graph that needs tract is an error.
//!
//! [`Engine::Auto`] picks per model from the graph itself (the ONNX file stays the contract):
//! compiled when every node the output needs is one it implements, tract otherwise. A caller can
//! force either; forcing the compiled engine on a graph it does not take is an error naming the
//! node. [`Model::engine`] says which one serves.

pub mod compiled;
pub mod kernels;
pub mod pb;
#[cfg(not(feature = "tract"))]
#[path = "no_tract.rs"]
pub mod tract;
#[cfg(feature = "tract")]
pub mod tract;
pub mod trees;

use crate::error::{Error, Result};

/// What a user reads when a model needs tract and this build lacks it.
pub const TRACT_MISSING: &str = "this build of scorelet has no tract engine (built without the `tract` feature): \
     use a full build (the default `scorelet serve`/`build` components, the native CLI) for this model";

/// Which engine runs a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    /// Compiled when the graph allows, else tract.
    #[default]
    Auto,
    Compiled,
    Tract,
}

impl std::str::FromStr for Engine {
    type Err = Error;
    fn from_str(s: &str) -> Result<Engine> {
        match s {
            "" | "auto" => Ok(Engine::Auto),
            "compiled" => Ok(Engine::Compiled),
            "tract" => Ok(Engine::Tract),
            other => Err(Error::Config(format!("engine {other:?} is not one of auto, compiled, tract"))),
        }
    }
}

impl Engine {
    /// Whether a model running on `engine` (as [`Model::engine`] names it) is what this choice asks for.
    pub fn serves(self, engine: &str) -> bool {
        match self {
            Engine::Auto => true,
            Engine::Compiled => engine == "compiled",
            Engine::Tract => engine == "tract",
        }
    }
}

/// A batch of model outputs: `rows × width`, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Outputs {
    pub rows: usize,
    pub width: usize,
    pub data: Vec<f32>,
}

impl Outputs {
    /// The outputs of one row.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.width..(i + 1) * self.width]
    }
}

#[derive(Debug, Clone)]
enum Inner {
    Compiled(std::sync::Arc<compiled::Compiled>),
    Tract(tract::Tract),
}

/// A loaded model with one f32 `[N, n_features]` input and one selected f32 output.
#[derive(Debug, Clone)]
pub struct Model {
    inner: Inner,
    n_features: usize,
}

impl Model {
    /// Loads ONNX bytes with [`Engine::Auto`], keeping only `output` (an output or tensor name).
    pub fn load(onnx: &[u8], n_features: usize, output: &str) -> Result<Model> {
        Self::load_with(onnx, n_features, output, Engine::Auto)
    }

    /// Loads ONNX bytes with the given engine choice.
    pub fn load_with(onnx: &[u8], n_features: usize, output: &str, engine: Engine) -> Result<Model> {
        if n_features == 0 {
            return Err(Error::Model("the model needs at least one input feature".into()));
        }
        let compiled = || -> Result<compiled::Compiled> {
            let m = pb::decode(onnx).map_err(|e| Error::Model(format!("cannot parse the ONNX model: {e}")))?;
            compiled::Compiled::compile(&m, n_features, output)
        };
        let inner = match engine {
            Engine::Compiled => Inner::Compiled(compiled()?.into()),
            Engine::Tract => Inner::Tract(tract::Tract::load(onnx, n_features, output)?),
            Engine::Auto => match compiled() {
                Ok(c) => Inner::Compiled(c.into()),
                Err(e) if !cfg!(feature = "tract") => {
                    return Err(Error::Model(format!("{e}; {TRACT_MISSING}")));
                }
                Err(_) => Inner::Tract(tract::Tract::load(onnx, n_features, output)?),
            },
        };
        Ok(Model { inner, n_features })
    }

    /// `"compiled"` or `"tract"`: which engine serves this model.
    pub fn engine(&self) -> &'static str {
        match self.inner {
            Inner::Compiled(_) => "compiled",
            Inner::Tract(_) => "tract",
        }
    }

    /// Width of the input rows.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Runs a batch into `out`, reusing its buffer: with the compiled engine, scoring the same
    /// batch size again allocates nothing.
    pub fn run_into(&self, batch: &[f32], rows: usize, out: &mut Outputs) -> Result<()> {
        self.check(batch, rows)?;
        match &self.inner {
            Inner::Compiled(c) => {
                c.run_into(batch, rows, &mut out.data);
                (out.rows, out.width) = (rows, c.output_width());
            }
            Inner::Tract(t) => *out = t.run(batch, rows)?,
        }
        Ok(())
    }

    fn check(&self, batch: &[f32], rows: usize) -> Result<()> {
        if rows == 0 || batch.len() != rows * self.n_features {
            return Err(Error::Model(format!(
                "batch of {} values is not {rows} rows of {} features",
                batch.len(),
                self.n_features
            )));
        }
        Ok(())
    }

    /// Runs a row-major `rows × n_features` batch.
    pub fn run(&self, batch: &[f32], rows: usize) -> Result<Outputs> {
        self.check(batch, rows)?;
        match &self.inner {
            Inner::Compiled(c) => Ok(Outputs { rows, width: c.output_width(), data: c.run(batch, rows) }),
            Inner::Tract(t) => t.run(batch, rows),
        }
    }
}
