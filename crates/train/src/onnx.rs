//! ONNX export of dense models (logistic/linear regression, MLPs) and tree ensembles
//! ([`export_trees`]), written directly as ONNX
//! protobuf with the message types tract-onnx ships, encoded with prost.
//!
//! Two precisions:
//! - `Float32`: MatMul + Add (+ Relu) in f32.
//! - `Int8`: *static* quantization calibrated on training rows. Each layer's input is quantized
//!   to u8 with a constant per-tensor scale and zero point (`QuantizeLinear`), weights are
//!   symmetric int8 with one scale per output column, the product runs as `MatMulInteger`
//!   (exact i32 accumulation, on tract's integer kernels) and is rescaled in f32 by a constant
//!   vector.
//!
//!   Not `DynamicQuantizeLinear`: its scale comes from the min/max of the whole batch, so a
//!   row's score would depend on which other rows share its request.
//!
//! The graph has one input `features: f32[N, n_features]` and one output: `logits` for
//! classifiers (`[N, 1]` binary, `[N, classes]` multiclass), `value: [N, 1]` for regression.
//! Classifier graphs end in logits on purpose: the core applies sigmoid/softmax itself
//! (`scorelet::link`), because tract's activation kernels differ in the last bits between
//! instruction sets while the rest of these graphs, in INT8, is exact.

use prost::Message;
use tract_onnx::pb::{
    self, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TypeProto,
    ValueInfoProto, attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto, type_proto,
};

/// ONNX opset the exporter targets.
pub const OPSET: i64 = 17;
/// `ai.onnx.ml` opset of tree ensembles (`TreeEnsembleRegressor` 3: what onnxruntime, tract and
/// the compiled engine all read).
pub const ML_OPSET: i64 = 3;
/// Name of the model input.
pub const INPUT: &str = "features";

/// A dense layer: `y = x · w + b`, `w` row-major `[inputs, outputs]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    pub inputs: usize,
    pub outputs: usize,
    pub w: Vec<f32>,
    pub b: Vec<f32>,
}

/// What the last layer's output means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// One logit; the core applies a sigmoid.
    Binary,
    /// One logit per class; the core applies a softmax.
    Softmax,
    /// The value itself.
    Regression,
    /// Class probabilities already (random forests): the core applies nothing.
    Probabilities,
}

impl Head {
    /// The graph output name this head produces.
    pub fn output_name(self) -> &'static str {
        match self {
            Head::Binary | Head::Softmax => "logits",
            Head::Regression => "value",
            Head::Probabilities => "probabilities",
        }
    }

    /// The link the core applies to this head's output.
    pub fn link(self) -> scorelet::link::Link {
        match self {
            Head::Binary => scorelet::link::Link::Sigmoid,
            Head::Softmax => scorelet::link::Link::Softmax,
            Head::Regression | Head::Probabilities => scorelet::link::Link::Identity,
        }
    }
}

/// Weight precision of the exported graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Float32,
    Int8,
}

/// The observed input range of every layer, from a float forward pass over calibration rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub ranges: Vec<(f32, f32)>,
}

/// Runs `rows` (row-major, `layers[0].inputs` wide) through the float model and records the
/// range of each layer's input.
pub fn calibrate(layers: &[Dense], x: &[f32]) -> Calibration {
    let mut ranges = Vec::with_capacity(layers.len());
    let mut cur = x.to_vec();
    for (i, l) in layers.iter().enumerate() {
        let n = cur.len() / l.inputs;
        ranges.push(cur.iter().fold((0f32, 0f32), |(a, b), v| (a.min(*v), b.max(*v))));
        let mut next = vec![0f32; n * l.outputs];
        for r in 0..n {
            for o in 0..l.outputs {
                let mut s = l.b[o];
                for k in 0..l.inputs {
                    s += cur[r * l.inputs + k] * l.w[k * l.outputs + o];
                }
                next[r * l.outputs + o] = if i + 1 < layers.len() { s.max(0.0) } else { s };
            }
        }
        cur = next;
    }
    Calibration { ranges }
}

/// u8 asymmetric quantization parameters covering `[lo, hi]` (and 0, as ONNX requires).
pub fn u8_params(lo: f32, hi: f32) -> (f32, u8) {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
    let zp = (-lo / scale).round().clamp(0.0, 255.0) as u8;
    (scale, zp)
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Float32 => "float32",
            Precision::Int8 => "int8",
        }
    }
}

#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    next: usize,
}

fn attr_int(name: &str, i: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Int as i32, i, ..Default::default() }
}

impl Graph {
    fn fresh(&mut self, stem: &str) -> String {
        self.next += 1;
        format!("{stem}_{}", self.next)
    }

    fn node(&mut self, op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<AttributeProto>) {
        // Node names are optional in ONNX and tract derives its own: leaving them out keeps
        // small models small.
        self.nodes.push(NodeProto {
            op_type: op.into(),
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            attribute: attrs,
            ..Default::default()
        });
    }

    /// Adds one op with a fresh output name; returns it.
    fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(&op.to_lowercase());
        self.node(op, inputs, &[&out], attrs);
        out
    }

    fn init(&mut self, stem: &str, dims: &[i64], data_type: DataType, raw_data: Vec<u8>) -> String {
        let name = self.fresh(stem);
        self.inits.push(TensorProto {
            name: name.clone(),
            dims: dims.to_vec(),
            data_type: data_type as i32,
            raw_data,
            ..Default::default()
        });
        name
    }

    fn f32s(&mut self, stem: &str, dims: &[i64], data: &[f32]) -> String {
        self.init(stem, dims, DataType::Float, data.iter().flat_map(|v| v.to_le_bytes()).collect())
    }

    fn u8s(&mut self, stem: &str, dims: &[i64], data: &[u8]) -> String {
        self.init(stem, dims, DataType::Uint8, data.to_vec())
    }

    fn i8s(&mut self, stem: &str, dims: &[i64], data: &[i8]) -> String {
        self.init(stem, dims, DataType::Int8, data.iter().map(|v| *v as u8).collect())
    }

    fn matmul(&mut self, x: &str, layer: &Dense, range: Option<(f32, f32)>) -> String {
        let dims = [layer.inputs as i64, layer.outputs as i64];
        let y = match range {
            None => {
                let w = self.f32s("w", &dims, &layer.w);
                self.op("MatMul", &[x, &w], vec![])
            }
            Some((lo, hi)) => {
                let (wq, wscale) = quantize_symmetric(&layer.w, layer.outputs);
                let w = self.i8s("wq", &dims, &wq);
                let wzp = self.i8s("wzp", &[], &[0]);
                let (xscale, xzero) = u8_params(lo, hi);
                let xs = self.f32s("xs", &[], &[xscale]);
                let xzp = self.u8s("xzp", &[], &[xzero]);
                let xq = self.op("QuantizeLinear", &[x, &xs, &xzp], vec![]);
                let acc = self.op("MatMulInteger", &[&xq, &w, &xzp, &wzp], vec![]);
                let accf = self.op("Cast", &[&acc], vec![attr_int("to", DataType::Float as i64)]);
                let rescale: Vec<f32> = wscale.iter().map(|w| xscale * w).collect();
                let s = self.f32s("scale", &[layer.outputs as i64], &rescale);
                self.op("Mul", &[&accf, &s], vec![])
            }
        };
        let b = self.f32s("b", &[layer.outputs as i64], &layer.b);
        self.op("Add", &[&y, &b], vec![])
    }
}

/// Symmetric int8 quantization of a row-major `[inputs, outputs]` weight matrix with one scale
/// per output column: `w[i][j] ≈ q[i][j] · scale[j]`, `q ∈ [-127, 127]`. Per-column scales cost
/// nothing at run time here (the rescale after `MatMulInteger` multiplies by a `[outputs]`
/// vector instead of a scalar) and keep small columns precise next to large ones.
pub fn quantize_symmetric(w: &[f32], outputs: usize) -> (Vec<i8>, Vec<f32>) {
    let mut max = vec![0f32; outputs];
    for (i, v) in w.iter().enumerate() {
        max[i % outputs] = max[i % outputs].max(v.abs());
    }
    let scale: Vec<f32> = max.iter().map(|m| if *m > 0.0 { m / 127.0 } else { 1.0 }).collect();
    let q = w.iter().enumerate().map(|(i, v)| (v / scale[i % outputs]).round().clamp(-127.0, 127.0) as i8).collect();
    (q, scale)
}

fn value_info(name: &str, elem: DataType, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| tensor_shape_proto::Dimension {
            value: Some(match d {
                Some(v) => tensor_shape_proto::dimension::Value::DimValue(*v),
                None => tensor_shape_proto::dimension::Value::DimParam("N".into()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: elem as i32,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Exports a stack of dense layers (ReLU between them) with `head` as ONNX bytes: float when
/// `calibration` is `None`, INT8 with its ranges otherwise.
pub fn export(layers: &[Dense], head: Head, calibration: Option<&Calibration>) -> Vec<u8> {
    if let Some(c) = calibration {
        assert_eq!(c.ranges.len(), layers.len(), "one calibration range per layer");
    }
    assert!(!layers.is_empty(), "a model has at least one layer");
    for (a, b) in layers.iter().zip(layers.iter().skip(1)) {
        assert_eq!(a.outputs, b.inputs, "layer widths chain");
    }
    for l in layers {
        assert_eq!(l.w.len(), l.inputs * l.outputs);
        assert_eq!(l.b.len(), l.outputs);
    }
    let mut g = Graph::default();
    let mut x = INPUT.to_string();
    for (i, layer) in layers.iter().enumerate() {
        x = g.matmul(&x, layer, calibration.map(|c| c.ranges[i]));
        if i + 1 < layers.len() {
            x = g.op("Relu", &[&x], vec![]);
        }
    }
    let out = head.output_name();
    let width = layers.last().map(|l| l.outputs).unwrap_or(1);
    if head == Head::Binary {
        assert_eq!(width, 1, "a binary head takes one logit");
    }
    g.node("Identity", &[&x], &[out], vec![]);
    let n_features = layers[0].inputs as i64;
    let graph = GraphProto {
        name: "scorelet".into(),
        node: g.nodes,
        initializer: g.inits,
        input: vec![value_info(INPUT, DataType::Float, &[None, Some(n_features)])],
        output: vec![value_info(out, DataType::Float, &[None, Some(width as i64)])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        producer_name: "scorelet".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        ..Default::default()
    };
    model.encode_to_vec()
}

fn attr_ints(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Ints as i32, ints, ..Default::default() }
}

fn attr_floats(name: &str, floats: Vec<f32>) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: AttributeType::Floats as i32, floats, ..Default::default() }
}

fn attr_string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn attr_strings(name: &str, v: Vec<&str>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        r#type: AttributeType::Strings as i32,
        strings: v.into_iter().map(|s| s.as_bytes().to_vec()).collect(),
        ..Default::default()
    }
}

/// Which output a tree's leaves add to.
#[derive(Debug, Clone, Copy)]
pub enum LeafTargets {
    /// Tree `i` adds its one leaf value to output `i % n` (boosting: one tree per class per round).
    Cyclic(usize),
    /// Every leaf holds one value per output (forests).
    Vector,
}

/// A tree ensemble to export: the trees, how their leaves map to outputs, the base value of
/// each output, and whether leaves are averaged (forests) or summed (boosting).
#[derive(Debug, Clone, Copy)]
pub struct Trees<'a> {
    pub trees: &'a [crate::tree::Tree],
    pub targets: LeafTargets,
    pub n_outputs: usize,
    pub base: &'a [f32],
    pub average: bool,
}

/// Exports a tree ensemble as one `ai.onnx.ml` `TreeEnsembleRegressor` (opset 3) from
/// `features: f32[N, n_features]` to the head's output `[N, n_outputs]`: raw margins for
/// boosting (the core applies the link), averaged probabilities or values for forests. Every
/// split is `BRANCH_LEQ` (`x <= threshold` goes to the true branch), node ids are the trees' own.
pub fn export_trees(t: Trees<'_>, head: Head, n_features: usize) -> Vec<u8> {
    use crate::tree::TreeNode;
    let (mut tree_ids, mut node_ids, mut feature_ids, mut values, mut modes, mut yes, mut no) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut w_tree, mut w_node, mut w_target, mut w_value) = (vec![], vec![], vec![], vec![]);
    for (ti, tree) in t.trees.iter().enumerate() {
        for (ni, node) in tree.nodes.iter().enumerate() {
            tree_ids.push(ti as i64);
            node_ids.push(ni as i64);
            match node {
                TreeNode::Split { feature, threshold, left, right, .. } => {
                    feature_ids.push(*feature as i64);
                    values.push(*threshold);
                    modes.push("BRANCH_LEQ");
                    yes.push(*left as i64);
                    no.push(*right as i64);
                }
                TreeNode::Leaf { values: leaf } => {
                    feature_ids.push(0);
                    values.push(0.0);
                    modes.push("LEAF");
                    yes.push(0);
                    no.push(0);
                    let targets: Vec<usize> = match t.targets {
                        LeafTargets::Cyclic(n) => vec![ti % n],
                        LeafTargets::Vector => (0..leaf.len()).collect(),
                    };
                    for (k, target) in targets.into_iter().enumerate() {
                        w_tree.push(ti as i64);
                        w_node.push(ni as i64);
                        w_target.push(target as i64);
                        w_value.push(leaf[k]);
                    }
                }
            }
        }
    }
    let out = head.output_name();
    let n_nodes = tree_ids.len();
    let attrs = vec![
        attr_int("n_targets", t.n_outputs as i64),
        attr_string("aggregate_function", if t.average { "AVERAGE" } else { "SUM" }),
        attr_string("post_transform", "NONE"),
        attr_floats("base_values", t.base.to_vec()),
        attr_ints("nodes_treeids", tree_ids),
        attr_ints("nodes_nodeids", node_ids),
        attr_ints("nodes_featureids", feature_ids),
        attr_floats("nodes_values", values),
        attr_strings("nodes_modes", modes),
        attr_ints("nodes_truenodeids", yes),
        attr_ints("nodes_falsenodeids", no),
        attr_ints("nodes_missing_value_tracks_true", vec![0; n_nodes]),
        attr_ints("target_treeids", w_tree),
        attr_ints("target_nodeids", w_node),
        attr_ints("target_ids", w_target),
        attr_floats("target_weights", w_value),
    ];
    let node = NodeProto {
        op_type: "TreeEnsembleRegressor".into(),
        domain: "ai.onnx.ml".into(),
        input: vec![INPUT.into()],
        output: vec![out.into()],
        attribute: attrs,
        ..Default::default()
    };
    let graph = GraphProto {
        name: "scorelet".into(),
        node: vec![node],
        input: vec![value_info(INPUT, DataType::Float, &[None, Some(n_features as i64)])],
        output: vec![value_info(out, DataType::Float, &[None, Some(t.n_outputs as i64)])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        opset_import: vec![
            OperatorSetIdProto { domain: String::new(), version: OPSET },
            OperatorSetIdProto { domain: "ai.onnx.ml".into(), version: ML_OPSET },
        ],
        producer_name: "scorelet".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        ..Default::default()
    };
    model.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two inputs → two hidden ReLU units → one logit.
    fn layers() -> Vec<Dense> {
        vec![
            Dense { inputs: 2, outputs: 2, w: vec![1.0, -1.0, 0.5, 2.0], b: vec![0.0, 0.25] },
            Dense { inputs: 2, outputs: 1, w: vec![1.5, -0.5], b: vec![0.1] },
        ]
    }

    fn reference(x: [f32; 2]) -> f32 {
        let h0 = (x[0] + x[1] * 0.5).max(0.0);
        let h1 = (-x[0] + x[1] * 2.0 + 0.25).max(0.0);
        h0 * 1.5 + h1 * -0.5 + 0.1
    }

    fn run(onnx: &[u8], x: &[f32]) -> Vec<f32> {
        scorelet::model::Model::load(onnx, 2, "logits").unwrap().run(x, x.len() / 2).unwrap().data
    }

    #[test]
    fn a_float_export_computes_the_dense_stack() {
        let onnx = export(&layers(), Head::Binary, None);
        let m = ModelProto::decode(&onnx[..]).unwrap();
        assert_eq!(m.opset_import[0].version, OPSET);
        let g = m.graph.unwrap();
        assert_eq!((g.input[0].name.as_str(), g.output[0].name.as_str()), (INPUT, "logits"));
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["MatMul", "Add", "Relu", "MatMul", "Add", "Identity"]);
        let x = [0.5, 1.0, -2.0, 0.25, 3.0, 3.0];
        let got = run(&onnx, &x);
        for (i, g) in got.iter().enumerate() {
            let want = reference([x[2 * i], x[2 * i + 1]]);
            assert!((g - want).abs() < 1e-6, "row {i}: {g} vs {want}");
        }
    }

    #[test]
    fn an_int8_export_quantizes_with_the_calibrated_ranges_and_stays_close() {
        let x: Vec<f32> = (0..64).flat_map(|i| [(i as f32 / 16.0) - 2.0, 1.0 - i as f32 / 32.0]).collect();
        let cal = calibrate(&layers(), &x);
        assert_eq!(cal.ranges.len(), 2);
        assert_eq!(cal.ranges[0], (-2.0, 1.9375), "the input range of the first layer");
        let onnx = export(&layers(), Head::Binary, Some(&cal));
        let g = ModelProto::decode(&onnx[..]).unwrap().graph.unwrap();
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert!(ops.contains(&"QuantizeLinear") && ops.contains(&"MatMulInteger"), "{ops:?}");
        assert!(!ops.contains(&"DynamicQuantizeLinear"), "activations are quantized with fixed constants");
        let got = run(&onnx, &x);
        for (i, g) in got.iter().enumerate() {
            let want = reference([x[2 * i], x[2 * i + 1]]);
            assert!((g - want).abs() < 0.05, "row {i}: {g} vs {want}");
        }
        // Batch independence: a row alone scores exactly as in the batch.
        assert_eq!(run(&onnx, &x[10..12])[0].to_bits(), got[5].to_bits());
    }

    #[test]
    fn symmetric_quantization_scales_each_column_to_127() {
        let (q, s) = quantize_symmetric(&[0.9, -0.5, -2.0, 0.2, 0.0, 0.0], 2);
        assert_eq!(s, [2.0 / 127.0, 0.5 / 127.0]);
        assert_eq!(q, [57, -127, -127, 51, 0, 0]);
        let (q, s) = quantize_symmetric(&[0.0, 0.0], 1);
        assert_eq!((q, s), (vec![0, 0], vec![1.0]), "an all-zero column keeps scale 1");
        assert_eq!(u8_params(-1.0, 3.0), (4.0 / 255.0, 64));
        assert_eq!(u8_params(0.5, 2.0).1, 0, "the range always covers 0");
    }
}
