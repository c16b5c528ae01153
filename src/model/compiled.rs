//! The compiled engine: an ONNX graph of dense layers turned into a flat plan of steps over
//! row-major batches, with weights prepacked at load time. It takes the graphs `crates/train`
//! exports (f32 `MatMul`/`Add`/`Relu` stacks; INT8 `QuantizeLinear` → `MatMulInteger` → `Cast` →
//! `Mul` → `Add`) and the common external dense forms: skl2onnx's `LinearClassifier` /
//! `LinearRegressor` and MLP graphs (`Sub`, `Concat`), onnxruntime's quantizer output (dynamic:
//! `DynamicQuantizeLinear` → `MatMulInteger` with per-batch scale and zero point; static:
//! `QLinearMatMul`; QDQ: `QuantizeLinear`/`DequantizeLinear` pairs, quantized weights
//! dequantized once at load), `Gemm`, `Sigmoid`, `Tanh`, `Softmax`, `Identity`, `Flatten`,
//! `Reshape` of the batch, `Cast` to float. Any other node makes it refuse the graph, naming the
//! node, and the caller falls back to tract.
//!
//! After building, elementwise steps that only consume a dense step's output (bias `Add`,
//! rescale `Mul`, `Relu`, the `Cast` after `MatMulInteger`) are fused into it ([`kernels::Post`]).
//! A run uses buffers kept per thread and sized once per batch size, so scoring does not allocate.
//!
//! The dense kernels ([`kernels`]) have one fixed order of operations on every target (each
//! output summed from the first input to the last, no FMA contraction), so a model scores
//! bit-identically on native, wasmtime and V8. Tree ensembles (`ai.onnx.ml` `TreeEnsemble*`)
//! are one step each ([`trees`]).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use super::kernels::{self, DenseF32, DenseI8, Post};
use super::pb::{self, Node, Tensor, dtype};
use super::trees;
use crate::error::{Error, Result};

/// Largest constant tensor accepted (elements): far above any tabular model, far below memory.
const MAX_ELEMENTS: usize = 1 << 28;

fn unsupported(node: &Node, i: usize, why: impl std::fmt::Display) -> Error {
    Error::Model(format!("the compiled engine cannot run node {}: {why}", node.label(i)))
}

/// A constant, decoded once.
#[derive(Debug, Clone, PartialEq)]
enum Const {
    F32 { dims: Vec<usize>, data: Vec<f32> },
    I8 { dims: Vec<usize>, data: Vec<i8> },
    U8 { dims: Vec<usize>, data: Vec<u8> },
    I64 { dims: Vec<usize>, data: Vec<i64> },
}

impl Const {
    /// An 8-bit constant's dimensions and values, widened to i32 (`None` for other types).
    fn widened(&self) -> Option<(&[usize], Vec<i32>)> {
        match self {
            Const::I8 { dims, data } => Some((dims, data.iter().map(|v| *v as i32).collect())),
            Const::U8 { dims, data } => Some((dims, data.iter().map(|v| *v as i32).collect())),
            _ => None,
        }
    }

    fn dims(&self) -> &[usize] {
        match self {
            Const::F32 { dims, .. } | Const::I8 { dims, .. } | Const::U8 { dims, .. } | Const::I64 { dims, .. } => dims,
        }
    }
}

fn decode_const(t: &Tensor) -> std::result::Result<Const, String> {
    if t.external {
        return Err(format!("tensor `{}` keeps its data in an external file", t.name));
    }
    let mut dims = Vec::with_capacity(t.dims.len());
    let mut n: usize = 1;
    for &d in &t.dims {
        let d = usize::try_from(d).map_err(|_| format!("tensor `{}` has a negative dimension", t.name))?;
        n = n
            .checked_mul(d)
            .filter(|n| *n <= MAX_ELEMENTS)
            .ok_or_else(|| format!("tensor `{}` declares {:?} elements, more than {MAX_ELEMENTS}", t.name, t.dims))?;
        dims.push(d);
    }
    let size = |elem: usize, typed: usize| -> std::result::Result<bool, String> {
        // `raw_data` or the typed field, with exactly the declared number of elements.
        if !t.raw.is_empty() {
            if t.raw.len() != n * elem {
                return Err(format!("tensor `{}` has {} bytes of data for {n} elements", t.name, t.raw.len()));
            }
            Ok(true)
        } else if typed == n {
            Ok(false)
        } else {
            Err(format!("tensor `{}` has {typed} values for {n} elements", t.name))
        }
    };
    Ok(match t.data_type {
        dtype::FLOAT => {
            let data = if size(4, t.floats.len())? {
                t.raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect()
            } else {
                t.floats.clone()
            };
            Const::F32 { dims, data }
        }
        dtype::DOUBLE => {
            let data = if size(8, t.doubles.len())? {
                t.raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")) as f32).collect()
            } else {
                t.doubles.iter().map(|v| *v as f32).collect()
            };
            Const::F32 { dims, data }
        }
        dtype::INT8 => {
            let data = if size(1, t.int32s.len())? {
                t.raw.iter().map(|b| *b as i8).collect()
            } else {
                t.int32s.iter().map(|v| *v as i8).collect()
            };
            Const::I8 { dims, data }
        }
        dtype::UINT8 => {
            let data =
                if size(1, t.int32s.len())? { t.raw.clone() } else { t.int32s.iter().map(|v| *v as u8).collect() };
            Const::U8 { dims, data }
        }
        dtype::INT64 => {
            let data = if size(8, t.int64s.len())? {
                t.raw.chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().expect("8 bytes"))).collect()
            } else {
                t.int64s.clone()
            };
            Const::I64 { dims, data }
        }
        other => {
            return Err(format!(
                "tensor `{}` has element type {other}, which the compiled engine does not take",
                t.name
            ));
        }
    })
}

/// What a runtime value holds per element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    F32,
    U8,
    I32,
}

/// A runtime value: `rows × width` of one kind in slot `slot`, or, if `scalar`, one value for
/// the whole batch (`DynamicQuantizeLinear`'s scale and zero point).
#[derive(Debug, Clone, Copy)]
struct Value {
    slot: usize,
    kind: Kind,
    width: usize,
    scalar: bool,
}

/// What a slot holds: `rows × width` elements of `kind`, or `width` if `scalar`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    kind: Kind,
    width: usize,
    scalar: bool,
}

/// An elementwise operation on two runtime values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
}

impl BinOp {
    fn apply(self, a: f32, b: f32) -> f32 {
        match self {
            BinOp::Add => a + b,
            BinOp::Sub => a - b,
            BinOp::Mul => a * b,
        }
    }
}

/// One step of the plan. Inputs and outputs are slots; widths are fixed at load time.
#[derive(Debug, Clone)]
enum Step {
    /// `y = post(x · W)` in f32.
    MatMul {
        x: usize,
        y: usize,
        d: DenseF32,
    },
    /// `y = Σ (x − zx)(w − zw)` in i32, or `post(f32(…))` once a `Cast` is fused in. `zx` is
    /// the one in `d`, or the u8 scalar in slot `zero` when it is computed per batch.
    MatMulInteger {
        x: usize,
        y: usize,
        d: DenseI8,
        zero: Option<usize>,
    },
    /// `y = x ⊙ c` or `x + c` with `c` broadcast over rows (`c.len() == width`) or a scalar.
    MulConst {
        x: usize,
        y: usize,
        width: usize,
        c: Vec<f32>,
    },
    AddConst {
        x: usize,
        y: usize,
        width: usize,
        c: Vec<f32>,
    },
    /// `y = x op z`: two runtime values of the same shape, or `z` a scalar applied to every
    /// element of `x` (`z_scalar`).
    Binary {
        op: BinOp,
        x: usize,
        z: usize,
        y: usize,
        z_scalar: bool,
    },
    /// `y = [x₁ | x₂ | …]` per row: `(slot, width)` of each part, `width` their sum.
    Concat {
        parts: Vec<(usize, usize)>,
        y: usize,
        width: usize,
    },
    /// `y = f32(x − zero) · scale`, u8 → f32 (`DequantizeLinear`).
    Dequantize {
        x: usize,
        y: usize,
        scale: f32,
        zero: i32,
    },
    /// `y = saturate(round_ties_even(f32(x) · scale) + zero)`, i32 → u8: the output stage of
    /// `QLinearMatMul`, with `scale = a_scale · b_scale / y_scale` as onnxruntime computes it.
    Requantize {
        x: usize,
        y: usize,
        scale: f32,
        zero: i32,
    },
    /// `DynamicQuantizeLinear`: the batch's range (widened to hold 0) gives a scale and a zero
    /// point, written to the scalar slots `scale` and `zero`; then `y = saturate(round(x /
    /// scale) + zero)` as u8. Division and rounding as onnxruntime does them.
    DynQuantize {
        x: usize,
        y: usize,
        scale: usize,
        zero: usize,
    },
    Relu {
        x: usize,
        y: usize,
    },
    Sigmoid {
        x: usize,
        y: usize,
    },
    Tanh {
        x: usize,
        y: usize,
    },
    Softmax {
        x: usize,
        y: usize,
        width: usize,
    },
    /// `q = saturate(round_ties_even(x · (1 / scale)) + zero)` as u8: multiplying by the
    /// reciprocal, as tract does, so the compiled engine reproduces the golden vectors every
    /// existing bundle was made with (ONNX's text says `x / scale`; they differ only on ties).
    Quantize {
        x: usize,
        y: usize,
        inv_scale: f32,
        zero: i32,
    },
    /// i32 or u8 → f32.
    ToF32 {
        x: usize,
        y: usize,
        from: Kind,
    },
    Copy {
        x: usize,
        y: usize,
        kind: Kind,
    },
    /// A tree ensemble over f32 rows of `width` features.
    Trees {
        x: usize,
        y: usize,
        width: usize,
        e: Box<trees::Ensemble>,
    },
}

impl Step {
    /// The slots a step reads (at load time only: it allocates).
    fn reads(&self) -> Vec<usize> {
        match self {
            Step::Binary { x, z, .. } => vec![*x, *z],
            Step::MatMulInteger { x, zero, .. } => [Some(*x), *zero].into_iter().flatten().collect(),
            Step::Concat { parts, .. } => parts.iter().map(|p| p.0).collect(),
            Step::MatMul { x, .. }
            | Step::Dequantize { x, .. }
            | Step::Requantize { x, .. }
            | Step::DynQuantize { x, .. }
            | Step::MulConst { x, .. }
            | Step::AddConst { x, .. }
            | Step::Relu { x, .. }
            | Step::Sigmoid { x, .. }
            | Step::Tanh { x, .. }
            | Step::Softmax { x, .. }
            | Step::Quantize { x, .. }
            | Step::ToF32 { x, .. }
            | Step::Copy { x, .. }
            | Step::Trees { x, .. } => vec![*x],
        }
    }
}

/// A compiled model: the plan and its widths. Slot 0 is the input batch.
#[derive(Debug, Clone)]
pub struct Compiled {
    steps: Vec<Step>,
    /// What every slot holds.
    slots: Vec<Slot>,
    input_width: usize,
    output: Value,
}

/// Storage for one slot: whichever of the three its kind uses.
#[derive(Debug, Default)]
struct Buf {
    f: Vec<f32>,
    u: Vec<u8>,
    i: Vec<i32>,
}

/// The buffers of a run, kept per thread and only ever grown: after the first batch of a size,
/// scoring does not allocate.
#[derive(Debug, Default)]
struct Workspace {
    bufs: Vec<Buf>,
    pairs: Vec<i32>,
    /// A tree ensemble's buffers.
    trees: super::trees::Scratch,
}

thread_local! {
    static WORKSPACE: RefCell<Workspace> = RefCell::default();
}

struct Builder<'a> {
    consts: HashMap<&'a str, Const>,
    values: HashMap<&'a str, Value>,
    /// Every tensor name the selected output depends on.
    needed: HashSet<&'a str>,
    slots: Vec<Slot>,
    steps: Vec<Step>,
}

impl<'a> Builder<'a> {
    fn new_value(&mut self, kind: Kind, width: usize) -> Value {
        self.slot(kind, width, false)
    }

    fn slot(&mut self, kind: Kind, width: usize, scalar: bool) -> Value {
        self.slots.push(Slot { kind, width, scalar });
        Value { slot: self.slots.len() - 1, kind, width, scalar }
    }

    /// A runtime batch of rows named `name` (not a per-batch scalar).
    fn value(&self, node: &Node, i: usize, name: &str) -> Result<Value> {
        let v = self.values.get(name).copied().ok_or_else(|| {
            if self.consts.contains_key(name) {
                unsupported(node, i, format!("input `{name}` is a constant where a batch is expected"))
            } else {
                unsupported(node, i, format!("input `{name}` is not computed before it is used"))
            }
        })?;
        if v.scalar {
            return Err(unsupported(node, i, format!("`{name}` is one value per batch where rows are expected")));
        }
        Ok(v)
    }

    fn konst(&self, node: &Node, i: usize, name: &str) -> Result<&Const> {
        self.consts.get(name).ok_or_else(|| unsupported(node, i, format!("input `{name}` must be a constant")))
    }

    /// A constant that broadcasts over rows of `width`: a scalar, `[width]` or `[1, width]`.
    fn row_const(&self, node: &Node, i: usize, name: &str, width: usize) -> Result<Vec<f32>> {
        let Const::F32 { dims, data } = self.konst(node, i, name)? else {
            return Err(unsupported(node, i, format!("`{name}` is not a float constant")));
        };
        let ok = data.len() == 1
            || (data.len() == width && dims.last() == Some(&width) && dims.iter().rev().skip(1).all(|d| *d == 1));
        if !ok {
            return Err(unsupported(
                node,
                i,
                format!("constant `{name}` of shape {dims:?} does not broadcast over rows of {width}"),
            ));
        }
        Ok(if data.len() == 1 { vec![data[0]; width] } else { data.clone() })
    }

    fn scalar_f32(&self, node: &Node, i: usize, name: &str) -> Result<f32> {
        match self.konst(node, i, name)? {
            Const::F32 { data, .. } if data.len() == 1 => Ok(data[0]),
            _ => Err(unsupported(node, i, format!("`{name}` must be one float (per-tensor quantization)"))),
        }
    }

    /// A uint8 zero point: one value, or 0 when the input is absent.
    fn zero_u8(&self, node: &Node, i: usize, name: Option<&str>) -> Result<i32> {
        match name {
            None => Ok(0),
            Some(z) => match self.konst(node, i, z)? {
                Const::U8 { data, .. } if data.len() == 1 => Ok(data[0] as i32),
                _ => Err(unsupported(node, i, format!("the zero point `{z}` must be one uint8 (per-tensor)"))),
            },
        }
    }

    /// A zero point of either 8-bit type (weights may be int8 or uint8): one value, or 0 when
    /// the input is absent.
    fn zero_8bit(&self, node: &Node, i: usize, name: Option<&str>) -> Result<i32> {
        let Some(z) = name else { return Ok(0) };
        match self.konst(node, i, z)?.widened() {
            Some((_, v)) if v.len() == 1 => Ok(v[0]),
            _ => Err(unsupported(node, i, format!("the zero point `{z}` must be one 8-bit value (per-tensor)"))),
        }
    }

    /// An 8-bit weight matrix `[k, m]`, widened to i32.
    fn matrix_8bit(&self, node: &Node, i: usize, name: &str) -> Result<(usize, usize, Vec<i32>)> {
        let c = self.konst(node, i, name)?;
        match c.widened() {
            Some(([k, m], w)) => Ok((*k, *m, w)),
            _ => Err(unsupported(node, i, format!("weights `{name}` of shape {:?} are not an 8-bit matrix", c.dims()))),
        }
    }

    /// `x op c` with `c` per column (or per scalar): a new value of `x`'s shape.
    fn const_step(&mut self, op: BinOp, x: Value, c: Vec<f32>) -> Value {
        let y = self.slot(Kind::F32, x.width, x.scalar);
        let (xs, ys, width) = (x.slot, y.slot, x.width);
        self.steps.push(match op {
            BinOp::Mul => Step::MulConst { x: xs, y: ys, width, c },
            _ => Step::AddConst { x: xs, y: ys, width, c },
        });
        y
    }

    fn weights(
        &self,
        node: &Node,
        i: usize,
        name: &str,
        inputs: usize,
        transposed: bool,
        alpha: f32,
    ) -> Result<DenseF32> {
        let Const::F32 { dims, data } = self.konst(node, i, name)? else {
            return Err(unsupported(node, i, format!("weights `{name}` are not float")));
        };
        let (k, m) = match (dims.as_slice(), transposed) {
            ([k, m], false) => (*k, *m),
            ([m, k], true) => (*k, *m),
            _ => return Err(unsupported(node, i, format!("weights `{name}` have shape {dims:?}; expected a matrix"))),
        };
        if k != inputs || m == 0 {
            return Err(unsupported(
                node,
                i,
                format!("weights `{name}` of shape {dims:?} do not take {inputs} inputs"),
            ));
        }
        let at = |kk: usize, j: usize| if transposed { data[j * k + kk] } else { data[kk * m + j] };
        Ok(if alpha == 1.0 { DenseF32::new(k, m, at) } else { DenseF32::new(k, m, |kk, j| at(kk, j) * alpha) })
    }

    fn add(&mut self, node: &'a Node, i: usize) -> Result<()> {
        let inp = |k: usize| node.inputs.get(k).map(String::as_str).filter(|s| !s.is_empty());
        let out = node.outputs.first().map(String::as_str).ok_or_else(|| unsupported(node, i, "it has no output"))?;
        let op = node.op_type.as_str();
        let ml = matches!(
            op,
            "LinearClassifier"
                | "LinearRegressor"
                | "TreeEnsembleClassifier"
                | "TreeEnsembleRegressor"
                | "TreeEnsemble"
        );
        if !(node.domain.is_empty() || node.domain == "ai.onnx" || ml && node.domain == "ai.onnx.ml") {
            return Err(unsupported(node, i, format!("domain `{}` is not supported", node.domain)));
        }
        let need = |k: usize| inp(k).ok_or_else(|| unsupported(node, i, format!("input {k} is missing")));
        let y = match op {
            "MatMul" => {
                let x = self.value(node, i, need(0)?)?;
                expect_kind(node, i, x, Kind::F32)?;
                let d = self.weights(node, i, need(1)?, x.width, false, 1.0)?;
                let y = self.new_value(Kind::F32, d.m);
                self.steps.push(Step::MatMul { x: x.slot, y: y.slot, d });
                y
            }
            "Gemm" => {
                let attr_i = |n: &str, d: i64| node.attr(n).map_or(d, |a| a.i);
                let attr_f = |n: &str, d: f32| node.attr(n).map_or(d, |a| a.f);
                if attr_i("transA", 0) != 0 {
                    return Err(unsupported(node, i, "transA = 1"));
                }
                let x = self.value(node, i, need(0)?)?;
                expect_kind(node, i, x, Kind::F32)?;
                let d = self.weights(node, i, need(1)?, x.width, attr_i("transB", 0) != 0, attr_f("alpha", 1.0))?;
                let m = d.m;
                let mut y = self.new_value(Kind::F32, m);
                self.steps.push(Step::MatMul { x: x.slot, y: y.slot, d });
                if let Some(c) = inp(2) {
                    let mut c = self.row_const(node, i, c, m)?;
                    let beta = attr_f("beta", 1.0);
                    if beta != 1.0 {
                        c.iter_mut().for_each(|v| *v *= beta);
                    }
                    let z = self.new_value(Kind::F32, m);
                    self.steps.push(Step::AddConst { x: y.slot, y: z.slot, width: m, c });
                    y = z;
                }
                y
            }
            "Add" | "Mul" | "Sub" => {
                let bin = match op {
                    "Add" => BinOp::Add,
                    "Sub" => BinOp::Sub,
                    _ => BinOp::Mul,
                };
                let (a, b) = (need(0)?, need(1)?);
                match (self.values.get(a).copied(), self.values.get(b).copied()) {
                    (Some(x), Some(z)) => {
                        expect_kind(node, i, x, Kind::F32)?;
                        expect_kind(node, i, z, Kind::F32)?;
                        // Rows with rows of the same width, a scalar with a scalar, or rows with
                        // a per-batch scalar (on either side when the operation commutes).
                        let (x, z, z_scalar) = match (x.scalar, z.scalar) {
                            (false, false) | (true, true) if x.width == z.width => (x, z, false),
                            (false, true) => (x, z, true),
                            (true, false) if bin != BinOp::Sub => (z, x, true),
                            _ => {
                                return Err(unsupported(
                                    node,
                                    i,
                                    format!("cannot broadcast widths {} and {} over rows", x.width, z.width),
                                ));
                            }
                        };
                        let y = self.slot(Kind::F32, x.width, x.scalar);
                        self.steps.push(Step::Binary { op: bin, x: x.slot, z: z.slot, y: y.slot, z_scalar });
                        y
                    }
                    (Some(x), None) => {
                        expect_kind(node, i, x, Kind::F32)?;
                        let mut c = self.row_const(node, i, b, x.width)?;
                        if bin == BinOp::Sub {
                            // x − c is x + (−c) exactly in IEEE arithmetic.
                            c.iter_mut().for_each(|v| *v = -*v);
                        }
                        self.const_step(if bin == BinOp::Sub { BinOp::Add } else { bin }, x, c)
                    }
                    (None, Some(x)) => {
                        expect_kind(node, i, x, Kind::F32)?;
                        let c = self.row_const(node, i, a, x.width)?;
                        if bin == BinOp::Sub {
                            // c − x is (−x) + c exactly.
                            let neg = self.const_step(BinOp::Mul, x, vec![-1.0; x.width]);
                            self.const_step(BinOp::Add, neg, c)
                        } else {
                            // Addition and multiplication commute exactly.
                            self.const_step(bin, x, c)
                        }
                    }
                    (None, None) => return Err(unsupported(node, i, "needs at least one batch input")),
                }
            }
            "Concat" => {
                if node.attr("axis").is_none_or(|a| a.i != 1 && a.i != -1) {
                    return Err(unsupported(node, i, "only concatenation along axis 1 (the columns)"));
                }
                let mut parts = Vec::with_capacity(node.inputs.len());
                for name in &node.inputs {
                    let v = self.value(node, i, name)?;
                    expect_kind(node, i, v, Kind::F32)?;
                    parts.push((v.slot, v.width));
                }
                let width = parts.iter().map(|p| p.1).sum();
                if width == 0 {
                    return Err(unsupported(node, i, "it has no inputs"));
                }
                let y = self.new_value(Kind::F32, width);
                self.steps.push(Step::Concat { parts, y: y.slot, width });
                y
            }
            "LinearClassifier" | "LinearRegressor" => return self.linear(node, i),
            "TreeEnsembleClassifier" | "TreeEnsembleRegressor" | "TreeEnsemble" => return self.trees(node, i),
            "Relu" | "Sigmoid" | "Tanh" | "Identity" | "Flatten" | "Softmax" | "Reshape" => {
                let x = self.value(node, i, need(0)?)?;
                if op != "Identity" && op != "Flatten" && op != "Reshape" {
                    expect_kind(node, i, x, Kind::F32)?;
                }
                match op {
                    "Flatten" if node.attr("axis").is_some_and(|a| a.i != 1) => {
                        return Err(unsupported(node, i, "only axis = 1 keeps the batch"));
                    }
                    "Softmax" if node.attr("axis").is_some_and(|a| a.i != 1 && a.i != -1) => {
                        return Err(unsupported(node, i, "only the last axis"));
                    }
                    "Reshape" => {
                        let Const::I64 { data, .. } = self.konst(node, i, need(1)?)? else {
                            return Err(unsupported(node, i, "the shape is not an int64 constant"));
                        };
                        let w = x.width as i64;
                        let keeps =
                            matches!(data.as_slice(), [-1, m] | [0, m] if *m == w) || data.as_slice() == [-1] && w == 1;
                        if !keeps {
                            return Err(unsupported(node, i, format!("shape {data:?} does not keep [batch, {w}]")));
                        }
                    }
                    _ => {}
                }
                let y = self.new_value(x.kind, x.width);
                self.steps.push(match op {
                    "Relu" => Step::Relu { x: x.slot, y: y.slot },
                    "Sigmoid" => Step::Sigmoid { x: x.slot, y: y.slot },
                    "Tanh" => Step::Tanh { x: x.slot, y: y.slot },
                    "Softmax" => Step::Softmax { x: x.slot, y: y.slot, width: x.width },
                    _ => Step::Copy { x: x.slot, y: y.slot, kind: x.kind },
                });
                y
            }
            "Cast" => {
                let x = self.value(node, i, need(0)?)?;
                let to = node.attr("to").map_or(0, |a| a.i) as i32;
                if to != dtype::FLOAT {
                    return Err(unsupported(node, i, format!("cast to element type {to}")));
                }
                let y = self.new_value(Kind::F32, x.width);
                self.steps.push(match x.kind {
                    Kind::F32 => Step::Copy { x: x.slot, y: y.slot, kind: Kind::F32 },
                    from => Step::ToF32 { x: x.slot, y: y.slot, from },
                });
                y
            }
            "QuantizeLinear" => {
                let x = self.value(node, i, need(0)?)?;
                expect_kind(node, i, x, Kind::F32)?;
                let scale = self.scalar_f32(node, i, need(1)?)?;
                if !(scale.is_finite() && scale > 0.0) {
                    return Err(unsupported(node, i, format!("scale {scale} is not a positive number")));
                }
                let zero = self.zero_u8(node, i, inp(2))?;
                let y = self.new_value(Kind::U8, x.width);
                self.steps.push(Step::Quantize { x: x.slot, y: y.slot, inv_scale: scale.recip(), zero });
                y
            }
            "MatMulInteger" => {
                let x = self.value(node, i, need(0)?)?;
                expect_kind(node, i, x, Kind::U8)?;
                let (k, m, w) = self.matrix_8bit(node, i, need(1)?)?;
                if k != x.width || m == 0 {
                    return Err(unsupported(node, i, format!("weights [{k}, {m}] do not take {} inputs", x.width)));
                }
                // The input's zero point may be computed per batch (`DynamicQuantizeLinear`).
                let dynamic = match inp(2).and_then(|z| self.values.get(z).copied()) {
                    Some(z) if z.scalar && z.kind == Kind::U8 => Some(z.slot),
                    Some(_) => return Err(unsupported(node, i, "the input zero point must be one uint8 per batch")),
                    None => None,
                };
                let zx = if dynamic.is_some() { 0 } else { self.zero_8bit(node, i, inp(2))? };
                let zw = self.zero_8bit(node, i, inp(3))?;
                let d = DenseI8::new(k, m, zx, |kk, j| w[kk * m + j] - zw);
                let y = self.new_value(Kind::I32, m);
                self.steps.push(Step::MatMulInteger { x: x.slot, y: y.slot, d, zero: dynamic });
                y
            }
            "QLinearMatMul" => {
                let x = self.value(node, i, need(0)?)?;
                expect_kind(node, i, x, Kind::U8)?;
                let (a_scale, a_zero) = (self.scalar_f32(node, i, need(1)?)?, self.zero_u8(node, i, inp(2))?);
                let (k, m, w) = self.matrix_8bit(node, i, need(3)?)?;
                if k != x.width || m == 0 {
                    return Err(unsupported(node, i, format!("weights [{k}, {m}] do not take {} inputs", x.width)));
                }
                let b_scale = self.scalar_f32(node, i, need(4)?)?;
                let b_zero = self.zero_8bit(node, i, Some(need(5)?))?;
                let (y_scale, y_zero) = (self.scalar_f32(node, i, need(6)?)?, self.zero_u8(node, i, inp(7))?);
                let scale = a_scale * b_scale / y_scale;
                if !scale.is_finite() {
                    return Err(unsupported(node, i, format!("the output scale {scale} is not finite")));
                }
                let d = DenseI8::new(k, m, a_zero, |kk, j| w[kk * m + j] - b_zero);
                let sums = self.new_value(Kind::I32, m);
                self.steps.push(Step::MatMulInteger { x: x.slot, y: sums.slot, d, zero: None });
                let y = self.new_value(Kind::U8, m);
                self.steps.push(Step::Requantize { x: sums.slot, y: y.slot, scale, zero: y_zero });
                y
            }
            "DequantizeLinear" => {
                if node.attr("axis").is_some_and(|a| a.i != 1 && a.i != -1) || node.attr("block_size").is_some() {
                    return Err(unsupported(node, i, "only per-tensor dequantization"));
                }
                let name = need(0)?;
                let scale = self.scalar_f32(node, i, need(1)?)?;
                if let Some(c) = self.consts.get(name) {
                    // Weights stored quantized (the QDQ format): dequantized once, here.
                    let Some((dims, q)) = c.widened() else {
                        return Err(unsupported(node, i, format!("`{name}` is not an 8-bit constant")));
                    };
                    let dims = dims.to_vec();
                    let zero = self.zero_8bit(node, i, inp(2))?;
                    let data = q.iter().map(|v| (v - zero) as f32 * scale).collect();
                    self.consts.insert(out, Const::F32 { dims, data });
                    return Ok(());
                }
                let x = self.value(node, i, name)?;
                expect_kind(node, i, x, Kind::U8)?;
                let zero = self.zero_u8(node, i, inp(2))?;
                let y = self.new_value(Kind::F32, x.width);
                self.steps.push(Step::Dequantize { x: x.slot, y: y.slot, scale, zero });
                y
            }
            "DynamicQuantizeLinear" => {
                let x = self.value(node, i, need(0)?)?;
                expect_kind(node, i, x, Kind::F32)?;
                let y = self.new_value(Kind::U8, x.width);
                let scale = self.slot(Kind::F32, 1, true);
                let zero = self.slot(Kind::U8, 1, true);
                self.steps.push(Step::DynQuantize { x: x.slot, y: y.slot, scale: scale.slot, zero: zero.slot });
                for (name, v) in node.outputs.iter().zip([y, scale, zero]).skip(1) {
                    if !name.is_empty() {
                        self.values.insert(name, v);
                    }
                }
                y
            }
            _ => return Err(unsupported(node, i, "this operator is not implemented")),
        };
        self.values.insert(out, y);
        Ok(())
    }
}

impl<'a> Builder<'a> {
    /// The f32 input and the served output of an `ai.onnx.ml` model node: a classifier serves
    /// its `probabilities` output (the second); its `label` output is an integer or string
    /// tensor, which this engine does not compute, so a graph that needs it is refused.
    fn ml_ends(&self, node: &'a Node, i: usize, classifier: bool) -> Result<(Value, &'a str)> {
        let input =
            node.inputs.first().filter(|s| !s.is_empty()).ok_or_else(|| unsupported(node, i, "input 0 is missing"))?;
        let x = self.value(node, i, input)?;
        expect_kind(node, i, x, Kind::F32)?;
        let out = node.outputs.get(usize::from(classifier)).filter(|s| !s.is_empty()).ok_or_else(|| {
            unsupported(node, i, if classifier { "it has no `probabilities` output" } else { "it has no output" })
        })?;
        if classifier && node.outputs.first().is_some_and(|l| self.needed.contains(l.as_str())) {
            return Err(unsupported(node, i, "its `label` output is needed; the compiled engine computes only scores"));
        }
        Ok((x, out))
    }

    /// `ai.onnx.ml` `LinearClassifier` / `LinearRegressor` (what skl2onnx writes for linear
    /// models): `X · coefficientsᵀ + intercepts`, then the post transform, with onnxruntime's
    /// semantics. A classifier serves its `probabilities` output (the second); its `label`
    /// output is an integer or string tensor, which this engine does not compute.
    fn linear(&mut self, node: &'a Node, i: usize) -> Result<()> {
        let classifier = node.op_type == "LinearClassifier";
        let (x, out) = self.ml_ends(node, i, classifier)?;
        let floats = |name: &str| node.attr(name).map(|a| a.floats.as_slice()).unwrap_or_default();
        let (coef, intercepts) = (floats("coefficients"), floats("intercepts"));
        let post = node.attr("post_transform").map_or("NONE", |a| std::str::from_utf8(&a.s).unwrap_or("?"));
        let targets = if classifier {
            intercepts.len()
        } else {
            usize::try_from(node.attr("targets").map_or(1, |a| a.i)).unwrap_or(0)
        };
        let k = x.width;
        if targets == 0 || coef.len() != targets.saturating_mul(k) {
            return Err(unsupported(
                node,
                i,
                format!("{} coefficients do not make {targets} targets of {k} inputs", coef.len()),
            ));
        }
        if !intercepts.is_empty() && intercepts.len() != targets {
            return Err(unsupported(node, i, format!("{} intercepts for {targets} targets", intercepts.len())));
        }
        let d = DenseF32::new(k, targets, |kk, j| coef[j * k + kk]);
        let mut y = self.new_value(Kind::F32, targets);
        self.steps.push(Step::MatMul { x: x.slot, y: y.slot, d });
        if !intercepts.is_empty() {
            y = self.const_step(BinOp::Add, y, intercepts.to_vec());
        }
        let binary_labels = node.attr("classlabels_ints").is_some_and(|a| a.ints.len() == 2);
        y = match (classifier, targets, post) {
            (_, _, "NONE") if !classifier || targets > 1 => y,
            (true, 1, "NONE") if binary_labels => {
                // One score for two classes: onnxruntime writes [1 − s, s].
                let neg = self.const_step(BinOp::Mul, y, vec![-1.0]);
                let q = self.const_step(BinOp::Add, neg, vec![1.0]);
                let p = self.new_value(Kind::F32, 2);
                self.steps.push(Step::Concat { parts: vec![(q.slot, 1), (y.slot, 1)], y: p.slot, width: 2 });
                p
            }
            (true, t, "LOGISTIC" | "SOFTMAX") if t > 1 => {
                let z = self.new_value(Kind::F32, t);
                self.steps.push(if post == "LOGISTIC" {
                    Step::Sigmoid { x: y.slot, y: z.slot }
                } else {
                    Step::Softmax { x: y.slot, y: z.slot, width: t }
                });
                z
            }
            _ => {
                return Err(unsupported(
                    node,
                    i,
                    format!("post_transform {post} with {targets} target(s) is not implemented"),
                ));
            }
        };
        self.values.insert(out, y);
        Ok(())
    }
}

impl<'a> Builder<'a> {
    /// `ai.onnx.ml` tree ensembles ([`trees`]). A classifier serves its `probabilities` output
    /// (the second); its `label` output, like the linear classifier's, is not computed.
    fn trees(&mut self, node: &'a Node, i: usize) -> Result<()> {
        let classifier = node.op_type == "TreeEnsembleClassifier";
        let (x, out) = self.ml_ends(node, i, classifier)?;
        if x.scalar {
            return Err(unsupported(node, i, "its input is a per-batch scalar"));
        }
        let e = trees::Ensemble::from_node(node).map_err(|e| unsupported(node, i, e))?;
        if e.features_needed() > x.width {
            return Err(unsupported(
                node,
                i,
                format!("its trees read feature {} of an input {} wide", e.features_needed() - 1, x.width),
            ));
        }
        let y = self.new_value(Kind::F32, e.output_width());
        self.steps.push(Step::Trees { x: x.slot, y: y.slot, width: x.width, e: Box::new(e) });
        self.values.insert(out, y);
        Ok(())
    }
}

fn expect_kind(node: &Node, i: usize, v: Value, kind: Kind) -> Result<()> {
    if v.kind == kind {
        Ok(())
    } else {
        Err(unsupported(node, i, format!("expects {kind:?} input, gets {:?}", v.kind)))
    }
}

impl Compiled {
    /// Compiles `model` for batches of `[N, n_features]` into its output `output`. Errors name
    /// the first node (or tensor) the engine does not take.
    pub fn compile(model: &pb::Model, n_features: usize, output: &str) -> Result<Compiled> {
        let g = &model.graph;
        let inits: HashSet<&str> = g.initializers.iter().map(|t| t.name.as_str()).collect();
        let inputs: Vec<&str> = g.inputs.iter().map(String::as_str).filter(|n| !inits.contains(n)).collect();
        let [input] = inputs.as_slice() else {
            return Err(Error::Model(format!("the model must have exactly one input; it has {}", inputs.len())));
        };
        if !g.outputs.iter().any(|o| o == output) && !g.nodes.iter().any(|n| n.outputs.iter().any(|o| o == output)) {
            return Err(Error::Model(format!("the model has no output named `{output}`")));
        }
        // Only the nodes the output depends on.
        let mut needed: HashSet<&str> = HashSet::from([output]);
        let mut keep = vec![false; g.nodes.len()];
        for (i, n) in g.nodes.iter().enumerate().rev() {
            if n.outputs.iter().any(|o| needed.contains(o.as_str())) {
                keep[i] = true;
                needed.extend(n.inputs.iter().map(String::as_str));
            }
        }
        let mut b =
            Builder { consts: HashMap::new(), values: HashMap::new(), needed, slots: Vec::new(), steps: Vec::new() };
        for t in &g.initializers {
            if b.needed.contains(t.name.as_str()) {
                let c = decode_const(t).map_err(|e| Error::Model(format!("the compiled engine cannot load {e}")))?;
                b.consts.insert(t.name.as_str(), c);
            }
        }
        for (i, n) in g.nodes.iter().enumerate() {
            if keep[i] && n.op_type == "Constant" {
                let t = n
                    .attr("value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| unsupported(n, i, "a Constant without a tensor `value`"))?;
                let c = decode_const(t).map_err(|e| unsupported(n, i, e))?;
                b.consts.insert(n.outputs.first().map(String::as_str).unwrap_or(""), c);
            }
        }
        let x = b.new_value(Kind::F32, n_features);
        b.values.insert(input, x);
        for (i, n) in g.nodes.iter().enumerate() {
            if keep[i] && n.op_type != "Constant" {
                b.add(n, i)?;
            }
        }
        let out = *b
            .values
            .get(output)
            .ok_or_else(|| Error::Model(format!("output `{output}` is a constant, not computed from the input")))?;
        if out.kind != Kind::F32 || out.width == 0 || out.scalar {
            return Err(Error::Model(format!("output `{output}` is not a float batch")));
        }
        // A graph whose output is its input: slot 0 is never written (runs read the batch), so
        // the output gets a slot of its own.
        let out = if out.slot == 0 {
            let y = b.new_value(Kind::F32, out.width);
            b.steps.push(Step::Copy { x: 0, y: y.slot, kind: Kind::F32 });
            y
        } else {
            out
        };
        let (mut steps, mut slots) = (b.steps, b.slots);
        fuse(&mut steps, &mut slots, out.slot);
        Ok(Compiled { steps, slots, input_width: n_features, output: out })
    }

    /// Width of the output rows.
    pub fn output_width(&self) -> usize {
        self.output.width
    }

    /// Runs a row-major `rows × n_features` batch; returns the output rows.
    pub fn run(&self, batch: &[f32], rows: usize) -> Vec<f32> {
        let mut out = Vec::new();
        self.run_into(batch, rows, &mut out);
        out
    }

    /// Runs a batch into `out` (cleared first). Uses this thread's buffers: after the first
    /// batch of a size, it allocates nothing (nor does it into an `out` with the capacity).
    pub fn run_into(&self, batch: &[f32], rows: usize, out: &mut Vec<f32>) {
        debug_assert_eq!(batch.len(), rows * self.input_width);
        WORKSPACE.with(|w| match w.try_borrow_mut() {
            Ok(mut w) => self.run_in(&mut w, batch, rows, out),
            // Only if a kernel ever re-entered scoring on this thread: correct, just not reused.
            Err(_) => self.run_in(&mut Workspace::default(), batch, rows, out),
        });
    }

    fn run_in(&self, w: &mut Workspace, batch: &[f32], rows: usize, out: &mut Vec<f32>) {
        if w.bufs.len() < self.slots.len() {
            w.bufs.resize_with(self.slots.len(), Buf::default);
        }
        for (b, slot) in w.bufs.iter_mut().zip(&self.slots).skip(1) {
            let n = if slot.scalar { slot.width } else { rows * slot.width };
            match slot.kind {
                Kind::F32 => b.f.resize(n, 0.0),
                Kind::U8 => b.u.resize(n, 0),
                Kind::I32 => b.i.resize(n, 0),
            }
        }
        for step in &self.steps {
            run_step(step, w, batch, rows);
        }
        out.clear();
        out.extend_from_slice(&w.bufs[self.output.slot].f[..rows * self.output.width]);
    }
}

/// Folds elementwise steps into the dense step whose output they alone consume: `Cast` to f32
/// after `MatMulInteger`, then any run of constant `Mul`/`Add` and `Relu`. Same operations per
/// element in the same order, so the same bits; the batch is written once instead of per step.
fn fuse(steps: &mut Vec<Step>, slots: &mut [Slot], output: usize) {
    let mut i = 0;
    while i < steps.len() {
        while let Step::MatMul { y, .. } | Step::MatMulInteger { y, .. } = &steps[i] {
            let y = *y;
            if y == output {
                break;
            }
            // Fusable only if one step reads `y`, once.
            let uses: usize = steps.iter().map(|s| s.reads().iter().filter(|r| **r == y).count()).sum();
            if uses != 1 {
                break;
            }
            let j = steps.iter().position(|s| s.reads().contains(&y)).expect("the one reader");
            // `None` is the `Cast` that makes 8-bit sums floats.
            let (post, z) = match &steps[j] {
                Step::MulConst { c, y, .. } => (Some(Post::Mul(pad(c))), *y),
                Step::AddConst { c, y, .. } => (Some(Post::Add(pad(c))), *y),
                Step::Relu { y, .. } => (Some(Post::Relu), *y),
                Step::ToF32 { from: Kind::I32, y, .. } => (None, *y),
                _ => break,
            };
            match (&mut steps[i], post) {
                (Step::MatMul { d, y, .. }, Some(p)) => {
                    d.post.push(p);
                    *y = z;
                }
                (Step::MatMulInteger { d, y, .. }, None) if !d.to_f32 => {
                    d.to_f32 = true;
                    *y = z;
                }
                (Step::MatMulInteger { d, y, .. }, Some(p)) if d.to_f32 => {
                    d.post.push(p);
                    *y = z;
                }
                _ => break,
            }
            // The fused-away intermediate slot keeps no buffer.
            slots[y].width = 0;
            steps.remove(j);
            if j < i {
                i -= 1;
            }
        }
        i += 1;
    }
}

/// A per-output constant padded to the kernels' lane multiple.
fn pad(c: &[f32]) -> Vec<f32> {
    let mut v = c.to_vec();
    v.resize(kernels::padded(c.len()), 0.0);
    v
}

/// Takes slot `y`'s float buffer out of the workspace for writing (put back with [`put_f32`]),
/// so inputs can be borrowed from the workspace at the same time.
fn take_f32(w: &mut Workspace, y: usize) -> Vec<f32> {
    std::mem::take(&mut w.bufs[y].f)
}

fn put_f32(w: &mut Workspace, y: usize, v: Vec<f32>) {
    w.bufs[y].f = v;
}

/// Slot `x` as floats: the input batch for slot 0.
fn f32s<'a>(w: &'a Workspace, batch: &'a [f32], x: usize) -> &'a [f32] {
    if x == 0 { batch } else { &w.bufs[x].f }
}

fn map(w: &mut Workspace, batch: &[f32], x: usize, y: usize, f: impl Fn(f32) -> f32) {
    let mut out = take_f32(w, y);
    for (o, v) in out.iter_mut().zip(f32s(w, batch, x)) {
        *o = f(*v);
    }
    put_f32(w, y, out);
}

fn run_step(step: &Step, w: &mut Workspace, batch: &[f32], rows: usize) {
    match step {
        Step::MatMul { x, y, d } => {
            let mut out = take_f32(w, *y);
            d.run(f32s(w, batch, *x), rows, &mut out);
            put_f32(w, *y, out);
        }
        Step::MatMulInteger { x, y, d, zero } => {
            let zx = zero.map_or(d.zx, |z| w.bufs[z].u[0] as i32);
            let (mut yf, mut yi, mut pairs) =
                (take_f32(w, *y), std::mem::take(&mut w.bufs[*y].i), std::mem::take(&mut w.pairs));
            d.run_with_zero(zx, &w.bufs[*x].u, rows, &mut pairs, &mut yf, &mut yi);
            (w.bufs[*y].f, w.bufs[*y].i, w.pairs) = (yf, yi, pairs);
        }
        Step::MulConst { x, y, width, c } => {
            let mut out = take_f32(w, *y);
            for (o, r) in out.chunks_exact_mut(*width).zip(f32s(w, batch, *x).chunks_exact(*width)) {
                o.iter_mut().zip(r).zip(c).for_each(|((o, a), b)| *o = a * b);
            }
            put_f32(w, *y, out);
        }
        Step::AddConst { x, y, width, c } => {
            let mut out = take_f32(w, *y);
            for (o, r) in out.chunks_exact_mut(*width).zip(f32s(w, batch, *x).chunks_exact(*width)) {
                o.iter_mut().zip(r).zip(c).for_each(|((o, a), b)| *o = a + b);
            }
            put_f32(w, *y, out);
        }
        Step::Binary { op, x, z, y, z_scalar } => {
            let mut out = take_f32(w, *y);
            let (a, b) = (f32s(w, batch, *x), f32s(w, batch, *z));
            if *z_scalar {
                let s = b[0];
                out.iter_mut().zip(a).for_each(|(o, a)| *o = op.apply(*a, s));
            } else {
                out.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (a, b))| *o = op.apply(*a, *b));
            }
            put_f32(w, *y, out);
        }
        Step::Concat { parts, y, width } => {
            let mut out = take_f32(w, *y);
            let mut at = 0;
            for &(p, pw) in parts {
                let src = f32s(w, batch, p);
                for (o, r) in out.chunks_exact_mut(*width).zip(src.chunks_exact(pw)) {
                    o[at..at + pw].copy_from_slice(r);
                }
                at += pw;
            }
            put_f32(w, *y, out);
        }
        Step::Dequantize { x, y, scale, zero } => {
            let mut out = take_f32(w, *y);
            out.iter_mut().zip(&w.bufs[*x].u).for_each(|(o, q)| *o = (*q as i32 - zero) as f32 * scale);
            put_f32(w, *y, out);
        }
        Step::Requantize { x, y, scale, zero } => {
            let mut out = std::mem::take(&mut w.bufs[*y].u);
            out.iter_mut()
                .zip(&w.bufs[*x].i)
                .for_each(|(o, a)| *o = saturate_u8((*a as f32 * scale).round_ties_even(), *zero));
            w.bufs[*y].u = out;
        }
        Step::DynQuantize { x, y, scale, zero } => {
            let mut out = std::mem::take(&mut w.bufs[*y].u);
            let xs = f32s(w, batch, *x);
            let (lo, hi) = xs.iter().fold((0f32, 0f32), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            let s = if hi == lo { 1.0 } else { (hi - lo) / 255.0 };
            let z = saturate_u8((0.0 - lo / s).clamp(0.0, 255.0).round_ties_even(), 0);
            out.iter_mut().zip(xs).for_each(|(o, v)| *o = saturate_u8((v / s).round_ties_even(), z as i32));
            w.bufs[*y].u = out;
            (w.bufs[*scale].f[0], w.bufs[*zero].u[0]) = (s, z);
        }
        Step::Trees { x, y, width, e } => {
            let (mut out, mut scratch) = (take_f32(w, *y), std::mem::take(&mut w.trees));
            e.run(f32s(w, batch, *x), *width, rows, &mut out, &mut scratch);
            put_f32(w, *y, out);
            w.trees = scratch;
        }
        Step::Relu { x, y } => map(w, batch, *x, *y, kernels::scalar::relu),
        Step::Sigmoid { x, y } => map(w, batch, *x, *y, crate::link::sigmoid),
        Step::Tanh { x, y } => map(w, batch, *x, *y, libm::tanhf),
        Step::Softmax { x, y, width } => {
            let mut out = take_f32(w, *y);
            out.clear();
            for r in f32s(w, batch, *x).chunks_exact(*width).take(rows) {
                crate::link::Link::Softmax.apply(r, &mut out);
            }
            put_f32(w, *y, out);
        }
        Step::Quantize { x, y, inv_scale, zero } => {
            let mut out = std::mem::take(&mut w.bufs[*y].u);
            kernels::quantize(f32s(w, batch, *x), *inv_scale, *zero, &mut out);
            w.bufs[*y].u = out;
        }
        Step::ToF32 { x, y, from } => {
            let mut out = take_f32(w, *y);
            match from {
                Kind::I32 => out.iter_mut().zip(&w.bufs[*x].i).for_each(|(o, a)| *o = *a as f32),
                Kind::U8 => out.iter_mut().zip(&w.bufs[*x].u).for_each(|(o, a)| *o = *a as f32),
                Kind::F32 => unreachable!("a cast from f32 compiles to a copy"),
            }
            put_f32(w, *y, out);
        }
        Step::Copy { x, y, kind } => match kind {
            Kind::F32 => {
                let mut out = take_f32(w, *y);
                out.copy_from_slice(f32s(w, batch, *x));
                put_f32(w, *y, out);
            }
            Kind::U8 => {
                let mut out = std::mem::take(&mut w.bufs[*y].u);
                out.copy_from_slice(&w.bufs[*x].u);
                w.bufs[*y].u = out;
            }
            Kind::I32 => {
                let mut out = std::mem::take(&mut w.bufs[*y].i);
                out.copy_from_slice(&w.bufs[*x].i);
                w.bufs[*y].i = out;
            }
        },
    }
}

/// `clamp(r + zero, 0, 255)` for a rounded float `r`; NaN gives 0 (as onnxruntime's
/// max-then-min clamp does).
fn saturate_u8(r: f32, zero: i32) -> u8 {
    if r.is_nan() { 0 } else { (r.clamp(-512.0, 512.0) as i32 + zero).clamp(0, 255) as u8 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_and_inconsistent_tensors_are_refused_before_allocating() {
        let huge =
            Tensor { name: "w".into(), dims: vec![1 << 20, 1 << 20], data_type: dtype::FLOAT, ..Default::default() };
        assert!(decode_const(&huge).unwrap_err().contains("more than"));
        let short = Tensor {
            name: "w".into(),
            dims: vec![2, 2],
            data_type: dtype::FLOAT,
            raw: vec![0; 12],
            ..Default::default()
        };
        assert!(decode_const(&short).unwrap_err().contains("12 bytes of data for 4 elements"));
        let neg = Tensor { name: "w".into(), dims: vec![-1], data_type: dtype::FLOAT, ..Default::default() };
        assert!(decode_const(&neg).unwrap_err().contains("negative"));
        let strings = Tensor { name: "s".into(), dims: vec![1], data_type: 8, ..Default::default() };
        assert!(decode_const(&strings).unwrap_err().contains("element type 8"));
    }
}

#[cfg(test)]
mod op_tests {
    //! The operators external exporters write (skl2onnx, onnxruntime's quantizer), on graphs
    //! built here: what they compute, and what they refuse.
    use super::*;
    use crate::model::pb::{Attribute, Graph, Model};

    fn node(op: &str, inputs: &[&str], outputs: &[&str], attributes: Vec<Attribute>) -> Node {
        Node {
            op_type: op.into(),
            domain: if op.starts_with("Linear") { "ai.onnx.ml".into() } else { String::new() },
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
            attributes,
            ..Default::default()
        }
    }

    fn floats(name: &str, v: &[f32]) -> Attribute {
        Attribute { name: name.into(), floats: v.to_vec(), ..Default::default() }
    }

    fn string(name: &str, v: &str) -> Attribute {
        Attribute { name: name.into(), s: v.as_bytes().to_vec(), ..Default::default() }
    }

    fn int(name: &str, v: i64) -> Attribute {
        Attribute { name: name.into(), i: v, ..Default::default() }
    }

    fn scalar(name: &str, data_type: i32, raw: Vec<u8>) -> Tensor {
        Tensor { name: name.into(), data_type, raw, ..Default::default() }
    }

    fn graph(nodes: Vec<Node>, initializers: Vec<Tensor>) -> Model {
        Model { graph: Graph { nodes, initializers, inputs: vec!["X".into()], ..Default::default() }, opsets: vec![] }
    }

    #[test]
    fn linear_regressor_and_classifiers_score_as_onnxruntime_defines() {
        let coef = [1.0, 2.0, -1.0, 0.5];
        let reg = graph(
            vec![node(
                "LinearRegressor",
                &["X"],
                &["y"],
                vec![floats("coefficients", &coef), floats("intercepts", &[0.25, -1.0]), int("targets", 2)],
            )],
            vec![],
        );
        let c = Compiled::compile(&reg, 2, "y").unwrap();
        assert_eq!(c.run(&[1.0, 1.0, 2.0, -2.0], 2), [3.25, -1.5, -1.75, -4.0]);
        // Softmax over three classes: rows are distributions with the right winner.
        let soft = graph(
            vec![node(
                "LinearClassifier",
                &["X"],
                &["label", "p"],
                vec![
                    floats("coefficients", &[1.0, 0.0, 0.0, 1.0, -1.0, -1.0]),
                    floats("intercepts", &[0.0, 0.0, 0.0]),
                    string("post_transform", "SOFTMAX"),
                ],
            )],
            vec![],
        );
        let out = Compiled::compile(&soft, 2, "p").unwrap().run(&[3.0, 0.0], 1);
        assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-6 && out[0] > out[1] && out[1] > out[2], "{out:?}");
        // One score for two labels: [1 − s, s], as onnxruntime writes it.
        let labels = Attribute { name: "classlabels_ints".into(), ints: vec![0, 1], ..Default::default() };
        let one = |post: &str| {
            graph(
                vec![node(
                    "LinearClassifier",
                    &["X"],
                    &["label", "p"],
                    vec![
                        floats("coefficients", &[0.5]),
                        floats("intercepts", &[0.1]),
                        string("post_transform", post),
                        labels.clone(),
                    ],
                )],
                vec![],
            )
        };
        assert_eq!(Compiled::compile(&one("NONE"), 1, "p").unwrap().run(&[1.0], 1), [1.0 - 0.6, 0.6]);
        // With LOGISTIC, runtimes disagree on what one score means: left to tract.
        let e = Compiled::compile(&one("LOGISTIC"), 1, "p").unwrap_err().to_string();
        assert!(e.contains("post_transform LOGISTIC with 1 target"), "{e}");
        let bad = graph(
            vec![node("LinearRegressor", &["X"], &["y"], vec![floats("coefficients", &coef), int("targets", 3)])],
            vec![],
        );
        let e = Compiled::compile(&bad, 2, "y").unwrap_err().to_string();
        assert!(e.contains("LinearRegressor") && e.contains("4 coefficients do not make 3 targets"), "{e}");
    }

    #[test]
    fn dynamic_quantization_handles_flat_and_hostile_batches() {
        let w = Tensor {
            name: "W".into(),
            dims: vec![2, 1],
            data_type: dtype::INT8,
            raw: vec![3, 0xfe],
            ..Default::default()
        };
        let m = graph(
            vec![
                node("DynamicQuantizeLinear", &["X"], &["q", "s", "z"], vec![]),
                node("MatMulInteger", &["q", "W", "z"], &["acc"], vec![]),
                node("Cast", &["acc"], &["accf"], vec![int("to", 1)]),
                node("Mul", &["accf", "s"], &["y"], vec![]),
            ],
            vec![w],
        );
        let c = Compiled::compile(&m, 2, "y").unwrap();
        // All zeros: scale 1, zero point 0, output 0 (no division by a zero range).
        assert_eq!(c.run(&[0.0; 4], 2), [0.0, 0.0]);
        // [1, −1]: range [−1, 1], scale 2/255, zero point 128; 3·1 − 2·(−1) ≈ 5 after rounding.
        let y = c.run(&[1.0, -1.0], 1)[0];
        assert!((y - 5.0).abs() < 0.05, "{y}");
        // NaN and infinities: some answer, no panic.
        assert_eq!(c.run(&[f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1.0], 2).len(), 2);
    }

    #[test]
    fn quantized_operators_refuse_what_they_cannot_honour() {
        let f = |name: &str, v: f32| scalar(name, dtype::FLOAT, v.to_le_bytes().to_vec());
        let u = |name: &str, v: u8| scalar(name, dtype::UINT8, vec![v]);
        let w =
            Tensor { name: "W".into(), dims: vec![1, 1], data_type: dtype::INT8, raw: vec![1], ..Default::default() };
        let q = |y_scale: f32| {
            graph(
                vec![
                    node("QuantizeLinear", &["X", "sx", "zx"], &["xq"], vec![]),
                    node("QLinearMatMul", &["xq", "sx", "zx", "W", "sw", "zw", "sy", "zy"], &["yq"], vec![]),
                    node("DequantizeLinear", &["yq", "sy", "zy"], &["y"], vec![]),
                ],
                vec![
                    f("sx", 0.1),
                    u("zx", 0),
                    w.clone(),
                    f("sw", 0.5),
                    scalar("zw", dtype::INT8, vec![0]),
                    f("sy", y_scale),
                    u("zy", 10),
                ],
            )
        };
        // x = 2.0 times w = 0.5: xq = 20, acc = 20, 20 · (0.1 · 0.5 / 0.25) = 4, + 10 → 14, back to
        // (14 − 10) · 0.25 = 1.
        assert_eq!(Compiled::compile(&q(0.25), 1, "y").unwrap().run(&[2.0], 1), [1.0]);
        let e = Compiled::compile(&q(0.0), 1, "y").unwrap_err().to_string();
        assert!(e.contains("QLinearMatMul") && e.contains("not finite"), "{e}");
        let concat = graph(vec![node("Concat", &["X", "X"], &["y"], vec![int("axis", 0)])], vec![]);
        let e = Compiled::compile(&concat, 1, "y").unwrap_err().to_string();
        assert!(e.contains("axis 1"), "{e}");
    }
}
