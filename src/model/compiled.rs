//! The compiled engine: an ONNX graph of dense layers turned into a flat plan of steps over
//! row-major batches, with weights prepacked at load time. It takes the graphs `crates/train`
//! exports (f32 `MatMul`/`Add`/`Relu` stacks; INT8 `QuantizeLinear` → `MatMulInteger` → `Cast` →
//! `Mul` → `Add`) and the common external dense forms (`Gemm`, `Sigmoid`, `Tanh`, `Softmax`,
//! `Identity`, `Flatten`, `Reshape` of the batch, `Cast` to float); any other node makes it refuse
//! the graph, naming the node, and the caller falls back to tract.
//!
//! Every kernel is scalar Rust with one fixed order of operations (dot products summed from the
//! first input to the last, no FMA contraction), so a model scores bit-identically on every
//! target. Tree ensembles will be further step kinds here.

use std::collections::{HashMap, HashSet};

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
    /// `y = x · W`, `W` prepacked as `[out][in]` so each dot product reads contiguously.
    MatMul {
        x: usize,
        y: usize,
        inputs: usize,
        outputs: usize,
        wt: Vec<f32>,
    },
    /// `y = Σ (x − zx)(w − zw)` in i32, `W` prepacked as `[out][in]` in i32 with `zw` subtracted.
    MatMulInteger {
        x: usize,
        y: usize,
        inputs: usize,
        outputs: usize,
        zx: i32,
        wt: Vec<i32>,
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
    },
}

/// A compiled model: the plan and its widths.
#[derive(Debug, Clone)]
pub struct Compiled {
    steps: Vec<Step>,
    slots: Vec<Kind>,
    input_width: usize,
    output: Value,
}

/// Slot storage for one run.
#[derive(Debug, Clone, Default)]
enum Buf {
    #[default]
    Empty,
    F32(Vec<f32>),
    U8(Vec<u8>),
    I32(Vec<i32>),
}

struct Builder<'a> {
    consts: HashMap<&'a str, Const>,
    values: HashMap<&'a str, Value>,
    slots: Vec<Kind>,
    steps: Vec<Step>,
}

impl<'a> Builder<'a> {
    fn new_value(&mut self, kind: Kind, width: usize) -> Value {
        self.slots.push(kind);
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

    fn weights(&self, node: &Node, i: usize, name: &str, inputs: usize, transposed: bool) -> Result<(usize, Vec<f32>)> {
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
        // Prepack as [out][in].
        let mut wt = vec![0f32; k * m];
        for kk in 0..k {
            for j in 0..m {
                wt[j * k + kk] = if transposed { data[j * k + kk] } else { data[kk * m + j] };
            }
        }
        Ok((m, wt))
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
                let (m, wt) = self.weights(node, i, need(1)?, x.width, false)?;
                let y = self.new_value(Kind::F32, m);
                self.steps.push(Step::MatMul { x: x.slot, y: y.slot, inputs: x.width, outputs: m, wt });
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
                let (m, mut wt) = self.weights(node, i, need(1)?, x.width, attr_i("transB", 0) != 0)?;
                let alpha = attr_f("alpha", 1.0);
                if alpha != 1.0 {
                    wt.iter_mut().for_each(|w| *w *= alpha);
                }
                let mut y = self.new_value(Kind::F32, m);
                self.steps.push(Step::MatMul { x: x.slot, y: y.slot, inputs: x.width, outputs: m, wt });
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
                    _ => Step::Copy { x: x.slot, y: y.slot },
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
                    Kind::F32 => Step::Copy { x: x.slot, y: y.slot },
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
                let mut wt = vec![0i32; k * m];
                for kk in 0..k {
                    for j in 0..m {
                        wt[j * k + kk] = w[kk * m + j] - zw;
                    }
                }
                let y = self.new_value(Kind::I32, m);
                self.steps.push(Step::MatMulInteger { x: x.slot, y: y.slot, inputs: k, outputs: m, zx, wt });
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
        Ok(Compiled { steps: b.steps, slots: b.slots, input_width: n_features, output: out })
    }

    /// Width of the output rows.
    pub fn output_width(&self) -> usize {
        self.output.width
    }

    /// Runs a row-major `rows × n_features` batch; returns the output rows.
    pub fn run(&self, batch: &[f32], rows: usize) -> Vec<f32> {
        debug_assert_eq!(batch.len(), rows * self.input_width);
        let mut bufs: Vec<Buf> = vec![Buf::Empty; self.slots.len()];
        bufs[0] = Buf::F32(batch.to_vec());
        for step in &self.steps {
            run_step(step, &mut bufs, rows);
        }
        match std::mem::take(&mut bufs[self.output.slot]) {
            Buf::F32(v) => v,
            _ => unreachable!("the output is checked to be f32 at compile time"),
        }
    }
}

fn f32s(bufs: &[Buf], s: usize) -> &[f32] {
    match &bufs[s] {
        Buf::F32(v) => v,
        _ => unreachable!("slot kinds are checked at compile time"),
    }
}

fn map(bufs: &mut [Buf], x: usize, y: usize, f: impl Fn(f32) -> f32) {
    let out: Vec<f32> = f32s(bufs, x).iter().map(|v| f(*v)).collect();
    bufs[y] = Buf::F32(out);
}

fn run_step(step: &Step, bufs: &mut [Buf], rows: usize) {
    match step {
        Step::MatMul { x, y, inputs, outputs, wt } => {
            let xs = f32s(bufs, *x);
            let mut out = vec![0f32; rows * outputs];
            for (r, o) in xs.chunks_exact(*inputs).zip(out.chunks_exact_mut(*outputs)) {
                for (j, w) in wt.chunks_exact(*inputs).enumerate() {
                    let mut acc = 0f32;
                    for (a, b) in r.iter().zip(w) {
                        acc += a * b;
                    }
                    o[j] = acc;
                }
            }
            bufs[*y] = Buf::F32(out);
        }
        Step::MatMulInteger { x, y, inputs, outputs, zx, wt } => {
            let Buf::U8(xs) = &bufs[*x] else { unreachable!("checked at compile time") };
            let mut out = vec![0i32; rows * outputs];
            let mut xi = vec![0i32; *inputs];
            for (r, o) in xs.chunks_exact(*inputs).zip(out.chunks_exact_mut(*outputs)) {
                for (d, s) in xi.iter_mut().zip(r) {
                    *d = *s as i32 - zx;
                }
                for (j, w) in wt.chunks_exact(*inputs).enumerate() {
                    o[j] = xi.iter().zip(w).map(|(a, b)| a * b).sum();
                }
            }
            bufs[*y] = Buf::I32(out);
        }
        Step::MulConst { x, y, width, c } => {
            let out = f32s(bufs, *x).chunks_exact(*width).flat_map(|r| r.iter().zip(c).map(|(a, b)| a * b)).collect();
            bufs[*y] = Buf::F32(out);
        }
        Step::AddConst { x, y, width, c } => {
            let out = f32s(bufs, *x).chunks_exact(*width).flat_map(|r| r.iter().zip(c).map(|(a, b)| a + b)).collect();
            bufs[*y] = Buf::F32(out);
        }
        Step::Add { x, z, y } => {
            let out = f32s(bufs, *x).iter().zip(f32s(bufs, *z)).map(|(a, b)| a + b).collect();
            bufs[*y] = Buf::F32(out);
        }
        Step::Relu { x, y } => map(bufs, *x, *y, |v| v.max(0.0)),
        Step::Sigmoid { x, y } => map(bufs, *x, *y, crate::link::sigmoid),
        Step::Tanh { x, y } => map(bufs, *x, *y, libm::tanhf),
        Step::Softmax { x, y, width } => {
            let mut out = Vec::with_capacity(rows * width);
            for r in f32s(bufs, *x).chunks_exact(*width) {
                crate::link::Link::Softmax.apply(r, &mut out);
            }
            bufs[*y] = Buf::F32(out);
        }
        Step::Quantize { x, y, inv_scale, zero } => {
            let out = f32s(bufs, *x)
                .iter()
                .map(|v| ((v * inv_scale).round_ties_even() as i32).saturating_add(*zero).clamp(0, 255) as u8)
                .collect();
            bufs[*y] = Buf::U8(out);
        }
        Step::ToF32 { x, y, from } => {
            let out = match (&bufs[*x], from) {
                (Buf::I32(v), Kind::I32) => v.iter().map(|a| *a as f32).collect(),
                (Buf::U8(v), Kind::U8) => v.iter().map(|a| *a as f32).collect(),
                _ => unreachable!("checked at compile time"),
            };
            bufs[*y] = Buf::F32(out);
        }
        Step::Copy { x, y } => bufs[*y] = bufs[*x].clone(),
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
