//! The compiled engine: an ONNX graph of dense layers turned into a flat plan of steps over
//! row-major batches, with weights prepacked at load time. It takes the graphs `crates/train`
//! exports (f32 `MatMul`/`Add`/`Relu` stacks; INT8 `QuantizeLinear` → `MatMulInteger` → `Cast` →
//! `Mul` → `Add`) and the common external dense forms (`Gemm`, `Sigmoid`, `Tanh`, `Softmax`,
//! `Identity`, `Flatten`, `Reshape` of the batch, `Cast` to float); any other node makes it refuse
//! the graph, naming the node, and the caller falls back to tract.
//!
//! After building, elementwise steps that only consume a dense step's output (bias `Add`,
//! rescale `Mul`, `Relu`, the `Cast` after `MatMulInteger`) are fused into it ([`kernels::Post`]).
//! A run uses buffers kept per thread and sized once per batch size, so scoring does not allocate.
//!
//! The dense kernels ([`kernels`]) have one fixed order of operations on every target (each
//! output summed from the first input to the last, no FMA contraction), so a model scores
//! bit-identically on native, wasmtime and V8. Tree ensembles will be further step kinds here.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use super::kernels::{self, DenseF32, DenseI8, Post};
use super::pb::{self, Node, Tensor, dtype};
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

/// A runtime value: `rows × width` of one kind, in slot `slot`.
#[derive(Debug, Clone, Copy)]
struct Value {
    slot: usize,
    kind: Kind,
    width: usize,
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
    /// `y = Σ (x − zx)(w − zw)` in i32, or `post(f32(…))` once a `Cast` is fused in.
    MatMulInteger {
        x: usize,
        y: usize,
        d: DenseI8,
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
    /// `y = x + z`, both runtime values of the same width.
    Add {
        x: usize,
        z: usize,
        y: usize,
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
}

impl Step {
    /// The slots a step reads.
    fn reads(&self) -> [Option<usize>; 2] {
        match self {
            Step::Add { x, z, .. } => [Some(*x), Some(*z)],
            Step::MatMul { x, .. }
            | Step::MatMulInteger { x, .. }
            | Step::MulConst { x, .. }
            | Step::AddConst { x, .. }
            | Step::Relu { x, .. }
            | Step::Sigmoid { x, .. }
            | Step::Tanh { x, .. }
            | Step::Softmax { x, .. }
            | Step::Quantize { x, .. }
            | Step::ToF32 { x, .. }
            | Step::Copy { x, .. } => [Some(*x), None],
        }
    }
}

/// A compiled model: the plan and its widths. Slot 0 is the input batch.
#[derive(Debug, Clone)]
pub struct Compiled {
    steps: Vec<Step>,
    /// Kind and row width of every slot.
    slots: Vec<(Kind, usize)>,
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
}

thread_local! {
    static WORKSPACE: RefCell<Workspace> = RefCell::default();
}

struct Builder<'a> {
    consts: HashMap<&'a str, Const>,
    values: HashMap<&'a str, Value>,
    slots: Vec<(Kind, usize)>,
    steps: Vec<Step>,
}

impl<'a> Builder<'a> {
    fn new_value(&mut self, kind: Kind, width: usize) -> Value {
        self.slots.push((kind, width));
        Value { slot: self.slots.len() - 1, kind, width }
    }

    fn value(&self, node: &Node, i: usize, name: &str) -> Result<Value> {
        self.values.get(name).copied().ok_or_else(|| {
            if self.consts.contains_key(name) {
                unsupported(node, i, format!("input `{name}` is a constant where a batch is expected"))
            } else {
                unsupported(node, i, format!("input `{name}` is not computed before it is used"))
            }
        })
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
        if !(node.domain.is_empty() || node.domain == "ai.onnx") {
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
            "Add" | "Mul" => {
                let (a, b) = (need(0)?, need(1)?);
                let (x, c) = match (self.values.get(a).copied(), self.values.get(b).copied()) {
                    (Some(x), Some(z)) if op == "Add" => {
                        expect_kind(node, i, x, Kind::F32)?;
                        expect_kind(node, i, z, Kind::F32)?;
                        if x.width != z.width {
                            return Err(unsupported(node, i, format!("widths {} and {} differ", x.width, z.width)));
                        }
                        let y = self.new_value(Kind::F32, x.width);
                        self.steps.push(Step::Add { x: x.slot, z: z.slot, y: y.slot });
                        self.values.insert(out, y);
                        return Ok(());
                    }
                    (Some(x), None) => (x, b),
                    (None, Some(x)) => (x, a),
                    _ => return Err(unsupported(node, i, "needs one batch input and one constant")),
                };
                expect_kind(node, i, x, Kind::F32)?;
                let c = self.row_const(node, i, c, x.width)?;
                let y = self.new_value(Kind::F32, x.width);
                self.steps.push(if op == "Add" {
                    Step::AddConst { x: x.slot, y: y.slot, width: x.width, c }
                } else {
                    Step::MulConst { x: x.slot, y: y.slot, width: x.width, c }
                });
                y
            }
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
                let zero = match inp(2) {
                    None => 0,
                    Some(z) => match self.konst(node, i, z)? {
                        Const::U8 { data, .. } if data.len() == 1 => data[0] as i32,
                        _ => return Err(unsupported(node, i, "the zero point must be one uint8")),
                    },
                };
                let y = self.new_value(Kind::U8, x.width);
                self.steps.push(Step::Quantize { x: x.slot, y: y.slot, inv_scale: scale.recip(), zero });
                y
            }
            "MatMulInteger" => {
                let x = self.value(node, i, need(0)?)?;
                expect_kind(node, i, x, Kind::U8)?;
                let (k, m, w) = match self.konst(node, i, need(1)?)? {
                    Const::I8 { dims, data } if dims.len() == 2 => {
                        (dims[0], dims[1], data.iter().map(|v| *v as i32).collect::<Vec<_>>())
                    }
                    Const::U8 { dims, data } if dims.len() == 2 => {
                        (dims[0], dims[1], data.iter().map(|v| *v as i32).collect())
                    }
                    c => {
                        return Err(unsupported(
                            node,
                            i,
                            format!("weights of shape {:?} are not an 8-bit matrix", c.dims()),
                        ));
                    }
                };
                if k != x.width || m == 0 {
                    return Err(unsupported(node, i, format!("weights [{k}, {m}] do not take {} inputs", x.width)));
                }
                let zero = |k: usize| -> Result<i32> {
                    match inp(k) {
                        None => Ok(0),
                        Some(z) => match self.konst(node, i, z)? {
                            Const::U8 { data, .. } if data.len() == 1 => Ok(data[0] as i32),
                            Const::I8 { data, .. } if data.len() == 1 => Ok(data[0] as i32),
                            _ => Err(unsupported(node, i, "zero points must be scalars (per-tensor)")),
                        },
                    }
                };
                let (zx, zw) = (zero(2)?, zero(3)?);
                let d = DenseI8::new(k, m, zx, |kk, j| w[kk * m + j] - zw);
                let y = self.new_value(Kind::I32, m);
                self.steps.push(Step::MatMulInteger { x: x.slot, y: y.slot, d });
                y
            }
            _ => return Err(unsupported(node, i, "this operator is not implemented")),
        };
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
        let mut b = Builder { consts: HashMap::new(), values: HashMap::new(), slots: Vec::new(), steps: Vec::new() };
        for t in &g.initializers {
            if needed.contains(t.name.as_str()) {
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
        if out.kind != Kind::F32 || out.width == 0 {
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
        for (b, (kind, width)) in w.bufs.iter_mut().zip(&self.slots).skip(1) {
            let n = rows * width;
            match kind {
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
fn fuse(steps: &mut Vec<Step>, slots: &mut [(Kind, usize)], output: usize) {
    let mut i = 0;
    while i < steps.len() {
        while let Step::MatMul { y, .. } | Step::MatMulInteger { y, .. } = &steps[i] {
            let y = *y;
            if y == output {
                break;
            }
            // Fusable only if one step reads `y`, once.
            let uses: usize = steps.iter().map(|s| s.reads().iter().filter(|r| **r == Some(y)).count()).sum();
            if uses != 1 {
                break;
            }
            let j = steps.iter().position(|s| s.reads().contains(&Some(y))).expect("the one reader");
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
            slots[y].1 = 0;
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
        Step::MatMulInteger { x, y, d } => {
            let (mut yf, mut yi, mut pairs) =
                (take_f32(w, *y), std::mem::take(&mut w.bufs[*y].i), std::mem::take(&mut w.pairs));
            d.run(&w.bufs[*x].u, rows, &mut pairs, &mut yf, &mut yi);
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
        Step::Add { x, z, y } => {
            let mut out = take_f32(w, *y);
            let (a, b) = (f32s(w, batch, *x), f32s(w, batch, *z));
            out.iter_mut().zip(a.iter().zip(b)).for_each(|(o, (a, b))| *o = a + b);
            put_f32(w, *y, out);
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
