//! Tree ensembles for the compiled engine: `ai.onnx.ml` `TreeEnsembleRegressor` and
//! `TreeEnsembleClassifier` (opsets 1–3) and `TreeEnsemble` (opset 5), read from the node's
//! attributes into one flat layout and scored with onnxruntime's semantics.
//!
//! Layout: every tree's nodes in one array of 16-byte [`Flat`] nodes, each internal node's two
//! children adjacent (`child` is the branch taken when the comparison holds, `child + 1` the
//! other), leaves inline with their weights in a side table, modes and flags in a parallel
//! array. A leaf loops to itself under the `x <= NaN` comparison (false: `child + 1`, and its
//! `child` is its own index − 1), so when every node is `BRANCH_LEQ` without missing-value
//! tracking, a walk takes exactly `depth` branch-free steps, and several walks interleave: a
//! block of rows through one tree (the idea of treelite's and lleaves' batch traversal), or one
//! lone row through several trees. Such ensembles are also binned ([`Bins`]): each feature's
//! thresholds sorted, a value replaced by the count of thresholds below it, and the nodes
//! packed into 8 bytes comparing those 16-bit counts, which decides every branch exactly as
//! the f32 comparison does. Other graphs take a per-row walk that honours every mode.
//!
//! Every row sums its trees in tree order, and each leaf's weights in their order in the file,
//! in f32 without contraction: the same bits on every target.

use std::collections::{BTreeMap, HashMap};

use super::pb::{Attribute, Node, dtype};

/// Largest node count accepted (internal nodes and leaves): far above any shipped ensemble.
const MAX_NODES: usize = 1 << 24;
/// Deeper trees than this are refused (a chain this deep is a malformed or hostile file).
const MAX_DEPTH: usize = 4096;
/// Trees at most this deep take the interleaved branch-free walk.
const SYNC_DEPTH: usize = 24;
/// Rows (or, for a lone row, trees) walked side by side.
const BLOCK: usize = 8;
/// Walks interleaved at once (rows of a block, or trees for a lone row). In wasm, eight walks'
/// state does not fit the registers Cranelift allocates and spills.
const CHAINS: usize = if cfg!(target_family = "wasm") { 4 } else { 8 };
/// Rows each tree walks before the next tree: its nodes stay in cache across the chunk.
const CHUNK: usize = 64;

const LEAF: u32 = 1 << 31;
const MISSING_TRUE: u32 = 1 << 28;
const FEATURE_MASK: u32 = (1 << 24) - 1;

/// How a node compares its feature with its threshold (the branch taken when true).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Leq = 0,
    Lt = 1,
    Gte = 2,
    Gt = 3,
    Eq = 4,
    Neq = 5,
}

impl Mode {
    fn from_name(s: &[u8]) -> Option<Mode> {
        Some(match s {
            b"BRANCH_LEQ" => Mode::Leq,
            b"BRANCH_LT" => Mode::Lt,
            b"BRANCH_GTE" => Mode::Gte,
            b"BRANCH_GT" => Mode::Gt,
            b"BRANCH_EQ" => Mode::Eq,
            b"BRANCH_NEQ" => Mode::Neq,
            _ => return None,
        })
    }

    fn from_code(c: u32) -> Option<Mode> {
        [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt, Mode::Eq, Mode::Neq].get(c as usize).copied()
    }

    /// The f32 threshold that gives the same answer for every f32 `x` as comparing `x` (widened)
    /// with the f64 threshold `t`: rounded towards the side that keeps the comparison exact.
    fn threshold(self, t: f64) -> f32 {
        let near = t as f32;
        let down = if f64::from(near) > t { near.next_down() } else { near };
        let up = if f64::from(near) < t { near.next_up() } else { near };
        match self {
            Mode::Leq | Mode::Gt => down,
            Mode::Lt | Mode::Gte => up,
            // Not representable: never equal to any f32; NaN compares unequal to everything.
            Mode::Eq | Mode::Neq => {
                if f64::from(near) == t {
                    near
                } else {
                    f32::NAN
                }
            }
        }
    }

    fn holds(self, x: f32, t: f32) -> bool {
        match self {
            Mode::Leq => x <= t,
            Mode::Lt => x < t,
            Mode::Gte => x >= t,
            Mode::Gt => x > t,
            Mode::Eq => x == t,
            Mode::Neq => x != t,
        }
    }
}

/// How leaf values of one target combine across trees (regressors; classifiers sum).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Average,
    Min,
    Max,
}

/// What is applied to the aggregated scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PostTransform {
    None,
    Logistic,
    Softmax,
}

/// How a classifier's raw class scores become its `probabilities` output, as onnxruntime
/// writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Finish {
    /// One column per target or class, base values added, then the post transform.
    Plain,
    /// Two classes, every weight for one of them: the score `s` (plus the base value) becomes
    /// `[1 − s, s]` when every weight is ≥ 0 (probabilities), else `[σ(−s), σ(s)]` under
    /// `LOGISTIC` or `[−s, s]`.
    BinaryOne { all_positive: bool },
}

/// A flattened node: see the module documentation. What the branch-free walk reads sits
/// here; the mode and flags sit in [`Ensemble::meta`].
#[derive(Debug, Clone, Copy)]
struct Flat {
    /// Threshold; NaN for a leaf.
    value: f32,
    /// Internal: the feature's offset in a column-major block of [`BLOCK`] rows (feature ×
    /// [`BLOCK`]). Leaf: 0.
    at: u32,
    /// Internal: the true child (`child + 1` is the false one). Leaf: its own index − 1.
    child: u32,
    /// Leaf: first weight in [`Ensemble::values`]; in a [`Ensemble::single`] ensemble, the
    /// bits of the leaf's one value.
    leaf: u32,
}

/// A tree ensemble, ready to score `[N, n_features]` f32 batches.
#[derive(Debug, Clone)]
pub struct Ensemble {
    nodes: Vec<Flat>,
    /// Per node. Internal: feature index, `mode << 24`, [`MISSING_TRUE`]. Leaf: [`LEAF`] |
    /// weight count.
    meta: Vec<u32>,
    /// The target and the value of every leaf weight, each leaf's run in file order.
    targets: Vec<u32>,
    values: Vec<f32>,
    /// Root of every tree, in tree order, with the tree's depth.
    roots: Vec<(u32, u32)>,
    n_targets: usize,
    /// Per target, or one for all (`origin`, as onnxruntime calls it), or none.
    base: Vec<f32>,
    aggregate: Aggregate,
    post: PostTransform,
    finish: Finish,
    /// Every node is `BRANCH_LEQ` without missing-value tracking.
    leq_only: bool,
    /// Every leaf holds one weight per target in target order, and leaves are summed (or
    /// averaged): runs add [`Ensemble::values`]`[leaf..leaf + n_targets]` per leaf.
    dense: bool,
    /// Every leaf holds exactly one weight, for target 0, there is one target, and leaves are
    /// summed (or averaged): the weight is stored in the leaf.
    single: bool,
    /// Largest feature index a node reads, plus one.
    n_features_used: usize,
    /// The nodes comparing bins, when every node is `BRANCH_LEQ` and the bins fit.
    bins: Option<Bins>,
}

/// What the branch-free walk reads of a node: the child it steps to.
trait SyncNode: Copy {
    /// A feature value as the node compares it: the f32 itself, or its bin.
    type Value: Copy + Default;
    /// The next node: the true child, or `child + 1` when the comparison fails; `value(at)`
    /// reads the node's feature from the block.
    fn next(self, value: impl Fn(usize) -> Self::Value) -> u32;
}

impl SyncNode for Flat {
    type Value = f32;
    #[inline(always)]
    fn next(self, value: impl Fn(usize) -> f32) -> u32 {
        // `!(v <= t)`, not `v > t`: NaN takes the false branch, as in onnxruntime.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let no = !(value(self.at as usize) <= self.value);
        self.child.wrapping_add(u32::from(no))
    }
}

/// A node of a binned ensemble in one 8-byte word (one load): bits 0–31 the true child,
/// 32–47 the threshold's bin plus one (0 in a leaf: no bin is below it), 48–63 the feature's
/// offset in the block.
#[derive(Debug, Clone, Copy)]
struct Packed(u64);

impl SyncNode for Packed {
    type Value = u16;
    #[inline(always)]
    fn next(self, value: impl Fn(usize) -> u16) -> u32 {
        let (child, bin_end, at) = (self.0 as u32, (self.0 >> 32) as u16, (self.0 >> 48) as usize);
        let no = value(at) >= bin_end;
        child.wrapping_add(u32::from(no))
    }
}

/// The `BRANCH_LEQ` thresholds of an ensemble, per feature, sorted and distinct, and the
/// ensemble's nodes comparing bins. A value's bin is the count of its feature's thresholds
/// below it (all of them for NaN), so `x <= t_k` exactly when `bin(x) <= k`: the walk compares
/// 16-bit integers with the f32 comparisons' outcome, every prediction the same bits, on nodes
/// half the size (one load each instead of three).
#[derive(Debug, Clone)]
struct Bins {
    nodes: Vec<Packed>,
    /// Feature `f`'s thresholds are `thresholds[starts[f]..starts[f + 1]]`.
    starts: Vec<u32>,
    thresholds: Vec<f32>,
}

impl Bins {
    /// The binned form of `nodes`, or `None` when a feature has too many thresholds for 16-bit
    /// bins or the block offsets do not fit in 16 bits.
    fn new(nodes: &[Flat], meta: &[u32], n_features: usize) -> Option<Bins> {
        if n_features * BLOCK > usize::from(u16::MAX) + 1 {
            return None;
        }
        let mut per = vec![Vec::new(); n_features];
        for (n, m) in nodes.iter().zip(meta).filter(|(_, m)| *m & LEAF == 0) {
            per[(m & FEATURE_MASK) as usize].push(n.value);
        }
        let (mut starts, mut thresholds) = (vec![0u32], Vec::new());
        for t in &mut per {
            // -0 and 0 compare equal: one threshold.
            t.sort_unstable_by(f32::total_cmp);
            t.dedup_by(|a, b| a == b);
            if t.len() >= usize::from(u16::MAX) {
                return None;
            }
            thresholds.extend_from_slice(t);
            starts.push(thresholds.len() as u32);
        }
        let nodes = nodes
            .iter()
            .zip(meta)
            .map(|(n, m)| {
                if m & LEAF != 0 {
                    return Packed(u64::from(n.child));
                }
                let t = &per[(m & FEATURE_MASK) as usize];
                let bin_end = t.partition_point(|v| *v < n.value) as u64 + 1;
                Packed(u64::from(n.child) | bin_end << 32 | u64::from(n.at) << 48)
            })
            .collect();
        Some(Bins { nodes, starts, thresholds })
    }

    /// The bins of the first `lanes` of a block's values `xs` of feature `f`: how many of its
    /// thresholds are below each (NaN: all).
    #[inline(always)]
    fn encode(&self, f: usize, xs: &[f32; BLOCK], lanes: usize, out: &mut [u16]) {
        let t = &self.thresholds[self.starts[f] as usize..self.starts[f + 1] as usize];
        // `!(t >= x)`: below `x`, and every threshold for a NaN.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        let below = |t: f32, x: f32| !(t >= x);
        let out = out.iter_mut().zip(xs).take(lanes);
        match t {
            // A one-hot column's one threshold, or a feature no node reads: no search.
            [t] => out.for_each(|(o, x)| *o = u16::from(below(*t, *x))),
            [] => out.for_each(|(o, _)| *o = 0),
            _ => out.for_each(|(o, x)| *o = t.partition_point(|t| below(*t, *x)) as u16),
        }
    }
}

type R<T> = std::result::Result<T, String>;

/// The buffers [`Ensemble::run`] works in, kept by the caller so a run does not allocate.
#[derive(Debug, Default)]
pub struct Scratch {
    /// Which targets a row has a weight for (`MIN`/`MAX` aggregates).
    has: Vec<u8>,
    /// A chunk of rows, column-major per block of [`BLOCK`] rows.
    cols: Vec<f32>,
    /// The same, as bins.
    bins: Vec<u16>,
}

/// A node in the file's own id space, before flattening.
#[derive(Debug, Clone, Copy)]
enum Ref {
    Node(usize),
    Leaf(usize),
}

#[derive(Debug, Clone)]
struct RawNode {
    mode: Mode,
    feature: u32,
    value: f32,
    yes: Ref,
    no: Ref,
    missing_true: bool,
}

/// What the three node formats are read into.
#[derive(Debug, Default)]
struct Raw {
    nodes: Vec<RawNode>,
    leaves: Vec<Vec<(u32, f64)>>,
    roots: Vec<Ref>,
}

fn ints<'a>(node: &'a Node, name: &str) -> &'a [i64] {
    node.attr(name).map(|a| a.ints.as_slice()).unwrap_or_default()
}

/// A float attribute given as floats or as `<name>_as_tensor` (float or double).
fn reals(node: &Node, name: &str) -> R<Vec<f64>> {
    if let Some(a) = node.attr(name).filter(|a| !a.floats.is_empty() || a.t.is_none()) {
        return Ok(a.floats.iter().map(|v| f64::from(*v)).collect());
    }
    let tensor_name = format!("{name}_as_tensor");
    let Some(t) = node.attr(&tensor_name).or_else(|| node.attr(name)).and_then(|a| a.t.as_ref()) else {
        return Ok(Vec::new());
    };
    tensor_reals(t).map_err(|e| format!("`{tensor_name}`: {e}"))
}

fn tensor_reals(t: &super::pb::Tensor) -> R<Vec<f64>> {
    if t.external {
        return Err("external tensor data is not supported".into());
    }
    match t.data_type {
        dtype::FLOAT if !t.raw.is_empty() => {
            if !t.raw.len().is_multiple_of(4) {
                return Err("float data is not a whole number of values".into());
            }
            Ok(t.raw.chunks_exact(4).map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4")))).collect())
        }
        dtype::FLOAT => Ok(t.floats.iter().map(|v| f64::from(*v)).collect()),
        dtype::DOUBLE if !t.raw.is_empty() => {
            if !t.raw.len().is_multiple_of(8) {
                return Err("double data is not a whole number of values".into());
            }
            Ok(t.raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().expect("8"))).collect())
        }
        dtype::DOUBLE => Ok(t.doubles.clone()),
        other => Err(format!("element type {other} is not float or double")),
    }
}

/// Small unsigned integers of a tensor attribute (opset 5's `nodes_modes`: uint8).
fn tensor_codes(a: &Attribute) -> R<Vec<u32>> {
    let Some(t) = &a.t else { return Ok(a.ints.iter().map(|v| *v as u32).collect()) };
    match t.data_type {
        dtype::UINT8 if !t.raw.is_empty() => Ok(t.raw.iter().map(|b| u32::from(*b)).collect()),
        dtype::UINT8 | dtype::INT32 => Ok(t.int32s.iter().map(|v| *v as u32).collect()),
        other => Err(format!("`{}` has element type {other}, not uint8", a.name)),
    }
}

fn string_attr<'a>(node: &'a Node, name: &str, default: &'a str) -> &'a str {
    node.attr(name).map_or(default, |a| std::str::from_utf8(&a.s).unwrap_or("?"))
}

fn index(v: i64, len: usize, what: &str) -> R<usize> {
    usize::try_from(v).ok().filter(|i| *i < len).ok_or_else(|| format!("{what} {v} is out of range (0..{len})"))
}

fn feature(v: i64) -> R<u32> {
    u32::try_from(v).ok().filter(|f| *f <= FEATURE_MASK).ok_or_else(|| format!("feature index {v} is out of range"))
}

/// Every `nodes_*` attribute lists one entry per node; the missing-value tracks may be absent.
fn node_lengths(n: usize, fields: &[(&str, usize)], missing: usize) -> R<()> {
    if let Some((name, len)) = fields.iter().find(|(_, len)| *len != n) {
        return Err(format!("`{name}` has {len} entries for {n} nodes"));
    }
    if missing != 0 && missing != n {
        return Err(format!("`nodes_missing_value_tracks_true` has {missing} entries for {n} nodes"));
    }
    Ok(())
}

/// Reads opset 1–3 `nodes_*` and the leaf weights (`target_*` or `class_*`).
fn read_v3(node: &Node, prefix: &str, n_targets: usize) -> R<Raw> {
    let tree_ids = ints(node, "nodes_treeids");
    let node_ids = ints(node, "nodes_nodeids");
    let n = tree_ids.len();
    if n == 0 {
        return Err("it has no nodes".into());
    }
    if n > MAX_NODES {
        return Err(format!("{n} nodes are more than the {MAX_NODES} accepted"));
    }
    let modes = node.attr("nodes_modes").map(|a| a.strings.as_slice()).unwrap_or_default();
    let features = ints(node, "nodes_featureids");
    let values = reals(node, "nodes_values")?;
    let yes = ints(node, "nodes_truenodeids");
    let no = ints(node, "nodes_falsenodeids");
    let missing = ints(node, "nodes_missing_value_tracks_true");
    node_lengths(
        n,
        &[
            ("nodes_nodeids", node_ids.len()),
            ("nodes_modes", modes.len()),
            ("nodes_featureids", features.len()),
            ("nodes_values", values.len()),
            ("nodes_truenodeids", yes.len()),
            ("nodes_falsenodeids", no.len()),
        ],
        missing.len(),
    )?;
    // What each entry is, and (tree, node id) → its entry.
    let mut raw = Raw::default();
    let mut internal = Vec::new();
    let mut refs = Vec::with_capacity(n);
    let mut by_id: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
    for i in 0..n {
        refs.push(if modes[i].as_slice() == b"LEAF" {
            raw.leaves.push(Vec::new());
            Ref::Leaf(raw.leaves.len() - 1)
        } else {
            internal.push(i);
            Ref::Node(internal.len() - 1)
        });
        if by_id.insert((tree_ids[i], node_ids[i]), i).is_some() {
            return Err(format!("tree {} has node id {} twice", tree_ids[i], node_ids[i]));
        }
    }
    let entry = |tree: i64, id: i64| -> R<usize> {
        by_id.get(&(tree, id)).copied().ok_or_else(|| format!("tree {tree} has no node {id}"))
    };
    let mut has_parent = vec![false; n];
    for &i in &internal {
        let mode = Mode::from_name(&modes[i]).ok_or_else(|| {
            format!(
                "node mode {:?} is not one of BRANCH_LEQ, _LT, _GTE, _GT, _EQ, _NEQ, LEAF",
                String::from_utf8_lossy(&modes[i])
            )
        })?;
        if values[i].is_nan() {
            return Err(format!("tree {} node {} has a NaN threshold", tree_ids[i], node_ids[i]));
        }
        let (t, f) = (entry(tree_ids[i], yes[i])?, entry(tree_ids[i], no[i])?);
        has_parent[t] = true;
        has_parent[f] = true;
        raw.nodes.push(RawNode {
            mode,
            feature: feature(features[i])?,
            value: mode.threshold(values[i]),
            yes: refs[t],
            no: refs[f],
            missing_true: missing.get(i).is_some_and(|m| *m != 0),
        });
    }
    // Roots: nodes nothing points to, one per tree, in tree id order.
    let mut roots: BTreeMap<i64, Ref> = BTreeMap::new();
    for i in 0..n {
        if !has_parent[i] && roots.insert(tree_ids[i], refs[i]).is_some() {
            return Err(format!("tree {} has more than one root", tree_ids[i]));
        }
    }
    let trees: std::collections::BTreeSet<i64> = tree_ids.iter().copied().collect();
    if let Some(t) = trees.iter().find(|t| !roots.contains_key(t)) {
        return Err(format!("tree {t} has no root (its nodes form a cycle)"));
    }
    raw.roots = roots.into_values().collect();
    // Leaf weights.
    let (wt, wn, wi) = (
        ints(node, &format!("{prefix}_treeids")),
        ints(node, &format!("{prefix}_nodeids")),
        ints(node, &format!("{prefix}_ids")),
    );
    let ww = reals(node, &format!("{prefix}_weights"))?;
    let m = wt.len();
    for (name, len) in [("nodeids", wn.len()), ("ids", wi.len()), ("weights", ww.len())] {
        if len != m {
            return Err(format!("`{prefix}_{name}` has {len} entries for {m} weights"));
        }
    }
    for j in 0..m {
        let target = index(wi[j], n_targets, if prefix == "class" { "class id" } else { "target id" })? as u32;
        match by_id.get(&(wt[j], wn[j])).map(|i| refs[*i]) {
            Some(Ref::Leaf(l)) => raw.leaves[l].push((target, ww[j])),
            Some(Ref::Node(_)) => return Err(format!("tree {} node {} has a weight but is not a leaf", wt[j], wn[j])),
            None => return Err(format!("a weight names tree {} node {}, which does not exist", wt[j], wn[j])),
        }
    }
    Ok(raw)
}

/// Reads opset 5 `TreeEnsemble`: interior nodes and leaves in separate arrays.
fn read_v5(node: &Node, n_targets: usize) -> R<Raw> {
    let features = ints(node, "nodes_featureids");
    let n = features.len();
    if n > MAX_NODES {
        return Err(format!("{n} nodes are more than the {MAX_NODES} accepted"));
    }
    let splits = reals(node, "nodes_splits")?;
    let modes = match node.attr("nodes_modes") {
        Some(a) => tensor_codes(a)?,
        None => Vec::new(),
    };
    let (yes, no) = (ints(node, "nodes_truenodeids"), ints(node, "nodes_falsenodeids"));
    let (yes_leaf, no_leaf) = (ints(node, "nodes_trueleafs"), ints(node, "nodes_falseleafs"));
    let missing = ints(node, "nodes_missing_value_tracks_true");
    node_lengths(
        n,
        &[
            ("nodes_splits", splits.len()),
            ("nodes_modes", modes.len()),
            ("nodes_truenodeids", yes.len()),
            ("nodes_falsenodeids", no.len()),
            ("nodes_trueleafs", yes_leaf.len()),
            ("nodes_falseleafs", no_leaf.len()),
        ],
        missing.len(),
    )?;
    let targets = ints(node, "leaf_targetids");
    let weights = reals(node, "leaf_weights")?;
    if targets.len() != weights.len() {
        return Err(format!("`leaf_targetids` has {} entries for {} leaf weights", targets.len(), weights.len()));
    }
    let mut raw = Raw::default();
    for (t, w) in targets.iter().zip(&weights) {
        raw.leaves.push(vec![(index(*t, n_targets, "target id")? as u32, *w)]);
    }
    let to_ref = |id: i64, leaf: i64| -> R<Ref> {
        if leaf != 0 {
            Ok(Ref::Leaf(index(id, raw.leaves.len(), "leaf index")?))
        } else {
            Ok(Ref::Node(index(id, n, "node index")?))
        }
    };
    let mut nodes = Vec::with_capacity(n);
    for i in 0..n {
        let mode = Mode::from_code(modes[i]).ok_or_else(|| {
            format!(
                "node mode {} is not one of BRANCH_LEQ, _LT, _GTE, _GT, _EQ, _NEQ (BRANCH_MEMBER is not supported)",
                modes[i]
            )
        })?;
        if splits[i].is_nan() {
            return Err(format!("node {i} has a NaN threshold"));
        }
        nodes.push(RawNode {
            mode,
            feature: feature(features[i])?,
            value: mode.threshold(splits[i]),
            yes: to_ref(yes[i], yes_leaf[i])?,
            no: to_ref(no[i], no_leaf[i])?,
            missing_true: missing.get(i).is_some_and(|m| *m != 0),
        });
    }
    raw.nodes = nodes;
    let roots = ints(node, "tree_roots");
    if roots.is_empty() {
        return Err("it has no trees (`tree_roots` is empty)".into());
    }
    raw.roots = roots.iter().map(|r| Ok(Ref::Node(index(*r, n, "tree root")?))).collect::<R<_>>()?;
    Ok(raw)
}

impl Ensemble {
    /// Reads a tree node (`TreeEnsembleRegressor`, `TreeEnsembleClassifier`, `TreeEnsemble`).
    /// Errors say what is wrong with the attributes; the caller names the node.
    pub fn from_node(node: &Node) -> R<Ensemble> {
        let op = node.op_type.as_str();
        let (raw, n_targets, base, aggregate, post, classes) = match op {
            "TreeEnsembleRegressor" | "TreeEnsembleClassifier" => {
                let classifier = op == "TreeEnsembleClassifier";
                let classes = if classifier {
                    let ints = ints(node, "classlabels_int64s").len();
                    let strings = node.attr("classlabels_strings").map_or(0, |a| a.strings.len());
                    match (ints, strings) {
                        (0, 0) => return Err("it has no class labels".into()),
                        (k, 0) | (0, k) => Some(k),
                        _ => return Err("it has both integer and string class labels".into()),
                    }
                } else {
                    None
                };
                let n_targets = match classes {
                    Some(k) => k,
                    None => usize::try_from(node.attr("n_targets").map_or(1, |a| a.i))
                        .ok()
                        .filter(|t| (1..=1 << 16).contains(t))
                        .ok_or("`n_targets` is not a positive count")?,
                };
                let raw = read_v3(node, if classifier { "class" } else { "target" }, n_targets)?;
                let aggregate = match string_attr(node, "aggregate_function", "SUM") {
                    "SUM" => Aggregate::Sum,
                    "AVERAGE" if !classifier => Aggregate::Average,
                    "MIN" if !classifier => Aggregate::Min,
                    "MAX" if !classifier => Aggregate::Max,
                    other => return Err(format!("aggregate_function {other} is not supported")),
                };
                let post = match string_attr(node, "post_transform", "NONE") {
                    "NONE" => PostTransform::None,
                    "LOGISTIC" => PostTransform::Logistic,
                    "SOFTMAX" => PostTransform::Softmax,
                    other => return Err(format!("post_transform {other} is not implemented")),
                };
                let base = reals(node, "base_values")?;
                (raw, n_targets, base, aggregate, post, classes)
            }
            "TreeEnsemble" => {
                let n_targets = usize::try_from(node.attr("n_targets").map_or(0, |a| a.i))
                    .ok()
                    .filter(|t| (1..=1 << 16).contains(t))
                    .ok_or("`n_targets` is not a positive count")?;
                let raw = read_v5(node, n_targets)?;
                let aggregate = match node.attr("aggregate_function").map_or(1, |a| a.i) {
                    0 => Aggregate::Average,
                    1 => Aggregate::Sum,
                    2 => Aggregate::Min,
                    3 => Aggregate::Max,
                    other => return Err(format!("aggregate_function {other} is not one of 0–3")),
                };
                let post = match node.attr("post_transform").map_or(0, |a| a.i) {
                    0 => PostTransform::None,
                    1 => PostTransform::Softmax,
                    2 => PostTransform::Logistic,
                    other => return Err(format!("post_transform {other} is not implemented")),
                };
                (raw, n_targets, Vec::new(), aggregate, post, None)
            }
            other => return Err(format!("{other} is not a tree ensemble")),
        };
        if !base.is_empty() && base.len() != 1 && base.len() != n_targets {
            return Err(format!("{} base values for {n_targets} targets", base.len()));
        }
        let mut e = Ensemble {
            nodes: Vec::new(),
            meta: Vec::new(),
            targets: Vec::new(),
            values: Vec::new(),
            roots: Vec::with_capacity(raw.roots.len()),
            n_targets,
            base: base.iter().map(|v| *v as f32).collect(),
            aggregate,
            post,
            finish: Finish::Plain,
            leq_only: raw.nodes.iter().all(|n| n.mode == Mode::Leq && !n.missing_true),
            single: false,
            dense: false,
            n_features_used: raw.nodes.iter().map(|n| n.feature as usize + 1).max().unwrap_or(0),
            bins: None,
        };
        // Leaf weights, in file order per leaf.
        let mut leaf_at = Vec::with_capacity(raw.leaves.len());
        for l in &raw.leaves {
            leaf_at.push((e.values.len() as u32, l.len() as u32));
            e.targets.extend(l.iter().map(|(t, _)| *t));
            e.values.extend(l.iter().map(|(_, w)| *w as f32));
        }
        let mut seen = vec![false; raw.nodes.len()];
        for root in &raw.roots {
            let (r, depth) = e.flatten(&raw, *root, &leaf_at, &mut seen)?;
            e.roots.push((r, depth));
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(format!(
                "interior node {i} is not reachable from any tree's root (the trees contain a cycle or a detached node)"
            ));
        }
        e.single = n_targets == 1
            && matches!(aggregate, Aggregate::Sum | Aggregate::Average)
            && e.leaf_runs().all(|(_, _, c)| c == 1)
            && e.targets.iter().all(|t| *t == 0);
        e.dense = !e.single
            && matches!(aggregate, Aggregate::Sum | Aggregate::Average)
            && e.leaf_runs().all(|(_, s, c)| {
                c == n_targets && e.targets[s..s + c].iter().enumerate().all(|(k, t)| *t as usize == k)
            });
        if e.single {
            // The one weight moves into the leaf: a run reads it without another load.
            let leaves: Vec<(usize, usize)> = e.leaf_runs().map(|(i, s, _)| (i, s)).collect();
            for (i, s) in leaves {
                e.nodes[i].leaf = e.values[s].to_bits();
            }
        }
        if e.leq_only {
            e.bins = Bins::new(&e.nodes, &e.meta, e.n_features_used);
        }
        if classes == Some(2) {
            e.finish = e.binary_finish()?;
        } else if classes.is_some() && e.base.len() == 1 {
            return Err(format!("one base value for {n_targets} classes"));
        }
        Ok(e)
    }

    /// Every leaf as (node index, first weight, weight count), before single weights move inline.
    fn leaf_runs(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        self.meta
            .iter()
            .enumerate()
            .filter(|(_, m)| *m & LEAF != 0)
            .map(|(i, m)| (i, self.nodes[i].leaf as usize, (m & FEATURE_MASK) as usize))
    }

    /// How a two-class classifier writes its two columns (see [`Finish`]).
    fn binary_finish(&self) -> R<Finish> {
        let used: std::collections::BTreeSet<u32> = self.targets.iter().copied().collect();
        if used.len() == 1 {
            if used.first() != Some(&0) || self.base.len() > 1 {
                // onnxruntime then writes the base value and the score in separate columns.
                return Err(
                    "a two-class ensemble with weights only for class 1, or with two base values, is not implemented"
                        .into(),
                );
            }
            return Ok(Finish::BinaryOne { all_positive: self.values.iter().all(|w| *w >= 0.0) });
        }
        // Weights for both classes: exactly onnxruntime's layout only when every leaf has both.
        let both = self.leaf_runs().all(|(_, s, c)| {
            let t = &self.targets[s..s + c];
            t.contains(&0) && t.contains(&1)
        });
        if !both || self.base.len() == 2 {
            return Err("a two-class ensemble with weights for both classes on only some leaves, or with two base values, is not implemented".into());
        }
        Ok(Finish::Plain)
    }

    /// Appends the tree under `root` with children adjacent; returns its root index and depth.
    fn flatten(&mut self, raw: &Raw, root: Ref, leaf_at: &[(u32, u32)], seen: &mut [bool]) -> R<(u32, u32)> {
        const EMPTY: Flat = Flat { value: 0.0, at: 0, child: 0, leaf: 0 };
        let start = self.nodes.len();
        self.nodes.push(EMPTY);
        self.meta.push(0);
        let mut stack = vec![(root, start, 0usize)];
        let mut depth = 0;
        while let Some((r, at, d)) = stack.pop() {
            if d > MAX_DEPTH {
                return Err(format!("a tree is deeper than {MAX_DEPTH} levels"));
            }
            depth = depth.max(d);
            match r {
                Ref::Leaf(l) => {
                    let (s, c) = leaf_at[l];
                    if c > FEATURE_MASK {
                        return Err("a leaf has too many weights".into());
                    }
                    self.nodes[at] = Flat { value: f32::NAN, at: 0, child: (at as u32).wrapping_sub(1), leaf: s };
                    self.meta[at] = LEAF | c;
                }
                Ref::Node(i) => {
                    if std::mem::replace(&mut seen[i], true) {
                        return Err("a node is reached twice (the trees share a subtree or contain a cycle)".into());
                    }
                    let n = &raw.nodes[i];
                    let c = self.nodes.len();
                    if c + 2 > MAX_NODES {
                        return Err(format!("the trees have more than {MAX_NODES} nodes"));
                    }
                    self.nodes.extend([EMPTY, EMPTY]);
                    self.meta.extend([0, 0]);
                    self.meta[at] = n.feature | (n.mode as u32) << 24 | if n.missing_true { MISSING_TRUE } else { 0 };
                    // `feature` < 2^24 (checked by `feature()`), so the offset fits.
                    self.nodes[at] = Flat { value: n.value, at: n.feature * BLOCK as u32, child: c as u32, leaf: 0 };
                    stack.push((n.no, c + 1, d + 1));
                    stack.push((n.yes, c, d + 1));
                }
            }
        }
        Ok((start as u32, depth as u32))
    }

    /// Width of the output rows.
    pub fn output_width(&self) -> usize {
        self.n_targets
    }

    /// Features the trees read: inputs narrower than this are refused at load.
    pub fn features_needed(&self) -> usize {
        self.n_features_used
    }

    /// The leaves `B` walks reach in `depth` branch-free steps (a leaf steps to itself), the
    /// walks interleaved: walk `k` starts at `roots[k]` and reads lane `lane + lanes × k` of the
    /// block `cols` (rows side by side: `lanes` = 1; one row through `B` trees: `lanes` = 0).
    #[inline(always)]
    fn sync<N: SyncNode, const B: usize>(
        &self,
        nodes: &[N],
        cols: &[N::Value],
        lane: usize,
        roots: [u32; B],
        lanes: usize,
        depth: u32,
    ) -> [u32; B] {
        assert!(cols.len() >= self.n_features_used * BLOCK && nodes.len() == self.nodes.len());
        assert!(lanes <= 1 && lane + lanes * (B - 1) < BLOCK);
        let mut cur = roots;
        for _ in 0..depth {
            for (k, c) in cur.iter_mut().enumerate() {
                // SAFETY: `flatten` makes every `child` and `child + 1` an index of the nodes (a
                // leaf's `child + 1` is itself, wrapping at 0), every offset a node holds is at
                // most `(n_features_used − 1) × BLOCK`, and `lane + lanes × k` < `BLOCK`: both loads
                // are in bounds (checked above). Unchecked, the walk measured 8 % faster.
                let n = unsafe { *nodes.get_unchecked(*c as usize) };
                *c = n.next(|at| unsafe { *cols.get_unchecked(at + lane + lanes * k) });
            }
        }
        cur
    }

    /// The leaf a row reaches from `root`, honouring every mode and missing-value tracking.
    #[inline]
    fn walk(&self, row: &[f32], root: u32) -> u32 {
        let mut i = root;
        loop {
            let m = self.meta[i as usize];
            if m & LEAF != 0 {
                return i;
            }
            let n = self.nodes[i as usize];
            let x = row[(m & FEATURE_MASK) as usize];
            let mode = Mode::from_code((m >> 24) & 7).unwrap_or(Mode::Leq);
            let yes = mode.holds(x, n.value) || (m & MISSING_TRUE != 0 && x.is_nan());
            i = n.child + u32::from(!yes);
        }
    }

    /// Scores `rows` rows of `width` features into `out` (`rows × output_width`), with the
    /// buffers of `scratch`.
    pub fn run(&self, x: &[f32], width: usize, rows: usize, out: &mut [f32], scratch: &mut Scratch) {
        assert!(width >= self.n_features_used && x.len() >= rows * width && out.len() >= rows * self.n_targets);
        let track = matches!(self.aggregate, Aggregate::Min | Aggregate::Max);
        let Scratch { has, cols, bins } = scratch;
        has.clear();
        has.resize(if track { rows * self.n_targets } else { 0 }, 0);
        out[..rows * self.n_targets].fill(0.0);
        match &self.bins {
            Some(b) => self
                .run_chunks(&b.nodes, x, width, rows, out, has, bins, |f, xs, lanes, out| b.encode(f, xs, lanes, out)),
            None => self.run_chunks(&self.nodes, x, width, rows, out, has, cols, |_, xs, lanes, out| {
                out[..lanes].copy_from_slice(&xs[..lanes])
            }),
        }
        self.finalize(rows, out);
    }

    /// The trees' sums of `rows` rows into `out`, on `nodes` (the f32 nodes or the binned ones;
    /// `encode` turns a block's values of feature `f` into what `nodes` compare).
    ///
    /// Rows go in chunks of [`CHUNK`]: each tree walks the chunk's full blocks of [`BLOCK`] rows
    /// side by side while its nodes are in cache, then the chunk's last rows walk [`CHAINS`]
    /// trees side by side, one row at a time (a lone row gets the same overlap). Each row adds
    /// its leaves in tree order either way.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn run_chunks<N: SyncNode>(
        &self,
        nodes: &[N],
        x: &[f32],
        width: usize,
        rows: usize,
        out: &mut [f32],
        has: &mut [u8],
        cols: &mut Vec<N::Value>,
        encode: impl Fn(usize, &[f32; BLOCK], usize, &mut [N::Value]),
    ) {
        let nf = self.n_features_used;
        let stride = nf * BLOCK;
        let mut r0 = 0;
        while r0 < rows {
            let n = CHUNK.min(rows - r0);
            let full = n / BLOCK * BLOCK;
            // Block `b` of the chunk: rows `b × BLOCK ..` side by side, or, past the full
            // blocks, one of the last rows in the first lane.
            let blocks = full / BLOCK + n - full;
            let first = |b: usize| if b < full / BLOCK { (b * BLOCK, BLOCK) } else { (full + b - full / BLOCK, 1) };
            if self.leq_only {
                cols.clear();
                cols.resize(stride * blocks, N::Value::default());
                let chunk = &x[r0 * width..(r0 + n) * width];
                for (b, c) in cols.chunks_exact_mut(stride.max(1)).enumerate() {
                    let (row, lanes) = first(b);
                    for (f, c) in c.chunks_exact_mut(BLOCK).enumerate() {
                        let mut xs = [0.0; BLOCK];
                        for (l, x) in xs.iter_mut().enumerate().take(lanes) {
                            *x = chunk[(row + l) * width + f];
                        }
                        encode(f, &xs, lanes, c);
                    }
                }
            }
            for &(root, depth) in &self.roots {
                for g in (0..full).step_by(BLOCK) {
                    let cur: [u32; BLOCK] = if self.branch_free(depth) {
                        let (mut cur, c) = ([root; BLOCK], &cols[g / BLOCK * stride..]);
                        for (h, part) in cur.chunks_exact_mut(CHAINS).enumerate() {
                            part.copy_from_slice(&self.sync::<N, CHAINS>(
                                nodes,
                                c,
                                h * CHAINS,
                                [root; CHAINS],
                                1,
                                depth,
                            ));
                        }
                        cur
                    } else {
                        let at = (r0 + g) * width;
                        std::array::from_fn(|r| self.walk(&x[at + r * width..at + (r + 1) * width], root))
                    };
                    for (r, leaf) in cur.into_iter().enumerate() {
                        self.add_leaf(out, has, r0 + g + r, leaf);
                    }
                }
            }
            for b in full / BLOCK..blocks {
                let r = r0 + first(b).0;
                let row = &x[r * width..(r + 1) * width];
                let c = if self.leq_only { &cols[b * stride..] } else { &[] };
                let mut trees = self.roots.chunks_exact(CHAINS);
                for group in &mut trees {
                    let depth = group.iter().map(|g| g.1).max().unwrap_or(0);
                    let cur: [u32; CHAINS] = if self.branch_free(depth) {
                        self.sync(nodes, c, 0, std::array::from_fn(|k| group[k].0), 0, depth)
                    } else {
                        std::array::from_fn(|k| self.walk(row, group[k].0))
                    };
                    for leaf in cur {
                        self.add_leaf(out, has, r, leaf);
                    }
                }
                for &(root, depth) in trees.remainder() {
                    let leaf = if self.branch_free(depth) {
                        self.sync(nodes, c, 0, [root], 0, depth)[0]
                    } else {
                        self.walk(row, root)
                    };
                    self.add_leaf(out, has, r, leaf);
                }
            }
            r0 += n;
        }
    }

    /// Whether a tree `depth` deep takes the branch-free walk.
    #[inline(always)]
    fn branch_free(&self, depth: u32) -> bool {
        self.leq_only && depth as usize <= SYNC_DEPTH
    }

    /// Adds the weights of `leaf` to row `r` of `out`.
    #[inline(always)]
    fn add_leaf(&self, out: &mut [f32], has: &mut [u8], r: usize, leaf: u32) {
        let t = self.n_targets;
        let n = self.nodes[leaf as usize];
        if self.single {
            // One weight per leaf: its value sits in the leaf itself.
            out[r] += f32::from_bits(n.leaf);
            return;
        }
        let acc = &mut out[r * t..(r + 1) * t];
        let s = n.leaf as usize;
        if self.dense {
            // Every leaf holds one weight per target, in target order (forests).
            acc.iter_mut().zip(&self.values[s..s + t]).for_each(|(a, w)| *a += w);
            return;
        }
        let k = (self.meta[leaf as usize] & FEATURE_MASK) as usize;
        for (&target, &w) in self.targets[s..s + k].iter().zip(&self.values[s..s + k]) {
            let j = target as usize;
            match self.aggregate {
                Aggregate::Sum | Aggregate::Average => acc[j] += w,
                Aggregate::Min => {
                    let h = &mut has[r * t + j];
                    acc[j] = if *h == 0 || w < acc[j] { w } else { acc[j] };
                    *h = 1;
                }
                Aggregate::Max => {
                    let h = &mut has[r * t + j];
                    acc[j] = if *h == 0 || w > acc[j] { w } else { acc[j] };
                    *h = 1;
                }
            }
        }
    }

    /// Base values, averaging, the post transform and the classifier's column layout, in
    /// onnxruntime's order, row by row in place.
    fn finalize(&self, rows: usize, out: &mut [f32]) {
        let t = self.n_targets;
        let n_trees = self.roots.len() as f32;
        for row in out[..rows * t].chunks_exact_mut(t) {
            if self.aggregate == Aggregate::Average {
                row.iter_mut().for_each(|v| *v /= n_trees);
            }
            if let Finish::BinaryOne { all_positive } = self.finish {
                // Every weight is for class 0; onnxruntime adds the one base value to it and
                // writes the pair from that one score.
                let s = row[0] + self.base.first().copied().unwrap_or(0.0);
                let pair = if all_positive {
                    [1.0 - s, s]
                } else if self.post == PostTransform::Logistic {
                    [crate::link::sigmoid(-s), crate::link::sigmoid(s)]
                } else {
                    [-s, s]
                };
                row.copy_from_slice(&pair);
                continue;
            }
            match self.base.as_slice() {
                [] => {}
                [origin] if t == 1 => row[0] += origin,
                // One base value for several targets: onnxruntime ignores it.
                [_] => {}
                b => row.iter_mut().zip(b).for_each(|(v, b)| *v += b),
            }
            match self.post {
                PostTransform::None => {}
                PostTransform::Logistic => row.iter_mut().for_each(|v| *v = crate::link::sigmoid(*v)),
                PostTransform::Softmax => softmax_in_place(row),
            }
        }
    }
}

/// The softmax of `scorelet::link`, in place: same operations in the same order.
fn softmax_in_place(row: &mut [f32]) {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for z in row.iter_mut() {
        *z = libm::expf(*z - m);
        sum += *z;
    }
    row.iter_mut().for_each(|p| *p /= sum);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pb::Tensor;

    fn ints(name: &str, v: &[i64]) -> Attribute {
        Attribute { name: name.into(), ints: v.to_vec(), ..Default::default() }
    }
    fn floats(name: &str, v: &[f32]) -> Attribute {
        Attribute { name: name.into(), floats: v.to_vec(), ..Default::default() }
    }
    fn strings(name: &str, v: &[&str]) -> Attribute {
        Attribute {
            name: name.into(),
            strings: v.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        }
    }
    fn string(name: &str, v: &str) -> Attribute {
        Attribute { name: name.into(), s: v.as_bytes().to_vec(), ..Default::default() }
    }

    /// One regressor tree: node 0 splits feature 0 at `t` with `mode` (true → leaf 1 = 10,
    /// false → node 2, which splits feature 1 `<= 0` into leaves 3 = 20 and 4 = 30).
    fn regressor(mode: &str, t: f32, missing_true: bool) -> Node {
        Node {
            op_type: "TreeEnsembleRegressor".into(),
            domain: "ai.onnx.ml".into(),
            inputs: vec!["x".into()],
            outputs: vec!["y".into()],
            attributes: vec![
                ints("nodes_treeids", &[0; 5]),
                ints("nodes_nodeids", &[0, 1, 2, 3, 4]),
                ints("nodes_featureids", &[0, 0, 1, 0, 0]),
                floats("nodes_values", &[t, 0.0, 0.0, 0.0, 0.0]),
                strings("nodes_modes", &[mode, "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"]),
                ints("nodes_truenodeids", &[1, 0, 3, 0, 0]),
                ints("nodes_falsenodeids", &[2, 0, 4, 0, 0]),
                ints("nodes_missing_value_tracks_true", &[i64::from(missing_true), 0, 0, 0, 0]),
                ints("target_treeids", &[0, 0, 0]),
                ints("target_nodeids", &[1, 3, 4]),
                ints("target_ids", &[0, 0, 0]),
                floats("target_weights", &[10.0, 20.0, 30.0]),
            ],
            ..Default::default()
        }
    }

    /// The ensemble's scores of `rows`; for a binned ensemble, also checks that the f32 nodes
    /// (the layout when the bins do not fit) score the same bits.
    fn score(node: &Node, rows: &[[f32; 2]]) -> Vec<f32> {
        let e = Ensemble::from_node(node).unwrap();
        let x: Vec<f32> = rows.iter().flatten().copied().collect();
        let run = |e: &Ensemble| {
            let mut out = vec![0.0; rows.len() * e.output_width()];
            e.run(&x, 2, rows.len(), &mut out, &mut Scratch::default());
            out
        };
        let out = run(&e);
        assert_eq!(e.bins.is_some(), e.leq_only);
        if e.bins.is_some() {
            let plain = run(&Ensemble { bins: None, ..e.clone() });
            assert_eq!(
                plain.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
        out
    }

    fn set(node: &mut Node, a: Attribute) {
        match node.attributes.iter_mut().find(|x| x.name == a.name) {
            Some(x) => *x = a,
            None => node.attributes.push(a),
        }
    }

    #[test]
    fn every_mode_and_missing_values_branch_as_onnx_defines() {
        let rows = [[1.0, -1.0], [2.0, -1.0], [3.0, 1.0], [f32::NAN, -1.0]];
        // (mode, which rows take the true branch) at threshold 2; NaN takes the false branch
        // unless the node tracks missing values to the true one.
        for (mode, want) in [
            ("BRANCH_LEQ", [10.0, 10.0, 30.0, 20.0]),
            ("BRANCH_LT", [10.0, 20.0, 30.0, 20.0]),
            ("BRANCH_GTE", [20.0, 10.0, 10.0, 20.0]),
            ("BRANCH_GT", [20.0, 20.0, 10.0, 20.0]),
            ("BRANCH_EQ", [20.0, 10.0, 30.0, 20.0]),
            ("BRANCH_NEQ", [10.0, 20.0, 10.0, 10.0]),
        ] {
            assert_eq!(score(&regressor(mode, 2.0, false), &rows), want, "{mode}");
            let tracked = score(&regressor(mode, 2.0, true), &rows);
            assert_eq!(tracked[3], 10.0, "{mode}: a tracked missing value goes to the true branch");
            assert_eq!(tracked[..3], want[..3], "{mode}");
        }
    }

    #[test]
    fn aggregates_and_base_values_follow_onnxruntime() {
        // Two copies of the tree; rows reach 10 and 30.
        let mut n = regressor("BRANCH_LEQ", 2.0, false);
        let double = |n: &mut Node, name: &str| {
            let a = n.attr(name).unwrap().clone();
            let mut b = a.clone();
            b.ints.extend(a.ints.iter().map(|v| if name.ends_with("treeids") { 1 } else { *v }));
            b.floats.extend(a.floats.iter().map(|v| v * 2.0));
            set(n, b);
        };
        for name in [
            "nodes_treeids",
            "nodes_nodeids",
            "nodes_featureids",
            "nodes_values",
            "nodes_truenodeids",
            "nodes_falsenodeids",
            "nodes_missing_value_tracks_true",
            "target_treeids",
            "target_nodeids",
            "target_ids",
            "target_weights",
        ] {
            double(&mut n, name);
        }
        let mut modes = n.attr("nodes_modes").unwrap().clone();
        modes.strings.extend(modes.strings.clone());
        set(&mut n, modes);
        // Tree 1's threshold is 4 (doubled): row [3, 1] gets 30 from tree 0 and 20 from tree 1.
        let rows = [[1.0, -1.0], [3.0, 1.0]];
        assert_eq!(score(&n, &rows), [30.0, 50.0]);
        set(&mut n, floats("base_values", &[0.5]));
        assert_eq!(score(&n, &rows), [30.5, 50.5]);
        for (agg, want) in [("AVERAGE", [15.5, 25.5]), ("MIN", [10.5, 20.5]), ("MAX", [20.5, 30.5])] {
            set(&mut n, string("aggregate_function", agg));
            assert_eq!(score(&n, &rows), want, "{agg}");
        }
        set(&mut n, string("post_transform", "LOGISTIC"));
        let p = score(&n, &rows);
        assert_eq!(p[0], crate::link::sigmoid(20.5));
        set(&mut n, string("post_transform", "PROBIT"));
        assert!(Ensemble::from_node(&n).unwrap_err().contains("PROBIT"));
    }

    #[test]
    fn double_thresholds_round_so_comparisons_stay_exact() {
        // 0.1 as a double lies between two floats; x = 0.1f32 is above it (0.1f32 > 0.1f64).
        let t = 0.1f64;
        let x = 0.1f32;
        assert!(f64::from(x) > t);
        assert!(x > Mode::Leq.threshold(t), "LEQ: 0.1f32 <= 0.1f64 is false");
        assert!(x > Mode::Gt.threshold(t));
        assert!(x >= Mode::Gte.threshold(t));
        assert!(x >= Mode::Lt.threshold(t));
        assert!(Mode::Eq.threshold(t).is_nan() && Mode::Neq.threshold(t).is_nan());
        assert_eq!(Mode::Eq.threshold(0.5), 0.5);
        // Given as a double tensor attribute, it is read the same way.
        let mut n = regressor("BRANCH_LEQ", 0.0, false);
        n.attributes.retain(|a| a.name != "nodes_values");
        let raw: Vec<u8> = [t, 0.0, 0.0, 0.0, 0.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        n.attributes.push(Attribute {
            name: "nodes_values_as_tensor".into(),
            t: Some(Tensor { data_type: dtype::DOUBLE, dims: vec![5], raw, ..Default::default() }),
            ..Default::default()
        });
        assert_eq!(score(&n, &[[x, 1.0], [0.099_999, 1.0]]), [30.0, 10.0]);
    }

    #[test]
    fn malformed_trees_are_errors_at_load() {
        type Edit = Box<dyn Fn(&mut Node)>;
        let cases: Vec<(&str, Edit)> = vec![
            ("has no node 7", Box::new(|n| set(n, ints("nodes_truenodeids", &[7, 0, 3, 0, 0])))),
            ("more than one root", Box::new(|n| set(n, ints("nodes_falsenodeids", &[1, 0, 4, 0, 0])))),
            ("cycle", Box::new(|n| set(n, ints("nodes_falsenodeids", &[2, 0, 0, 0, 0])))),
            ("entries for 5 nodes", Box::new(|n| set(n, ints("nodes_featureids", &[0, 0, 1])))),
            ("NaN threshold", Box::new(|n| set(n, floats("nodes_values", &[f32::NAN, 0.0, 0.0, 0.0, 0.0])))),
            ("twice", Box::new(|n| set(n, ints("nodes_nodeids", &[0, 1, 2, 3, 3])))),
            ("not a leaf", Box::new(|n| set(n, ints("target_nodeids", &[1, 3, 2])))),
            ("does not exist", Box::new(|n| set(n, ints("target_nodeids", &[1, 3, 9])))),
            ("target id", Box::new(|n| set(n, ints("target_ids", &[0, 0, 5])))),
            ("entries for 3 weights", Box::new(|n| set(n, floats("target_weights", &[1.0])))),
            (
                "node mode",
                Box::new(|n| set(n, strings("nodes_modes", &["BRANCH_MEMBER", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"]))),
            ),
            ("feature index", Box::new(|n| set(n, ints("nodes_featureids", &[-1, 0, 1, 0, 0])))),
            ("no nodes", Box::new(|n| n.attributes.clear())),
            ("n_targets", Box::new(|n| set(n, Attribute { name: "n_targets".into(), i: 0, ..Default::default() }))),
            ("base values", Box::new(|n| set(n, floats("base_values", &[1.0, 2.0])))),
        ];
        for (want, edit) in cases {
            let mut n = regressor("BRANCH_LEQ", 2.0, false);
            edit(&mut n);
            let e = Ensemble::from_node(&n).err().unwrap_or_else(|| panic!("{want}: accepted"));
            assert!(e.contains(want), "{want}: {e}");
        }
        // A class id past the class list.
        let mut c = regressor("BRANCH_LEQ", 2.0, false);
        c.op_type = "TreeEnsembleClassifier".into();
        for a in &mut c.attributes {
            a.name = a.name.replace("target_", "class_");
        }
        c.attributes.push(ints("classlabels_int64s", &[0, 1]));
        set(&mut c, ints("class_ids", &[0, 0, 2]));
        assert!(Ensemble::from_node(&c).unwrap_err().contains("class id 2 is out of range"));
        // A chain deeper than any real tree: refused, not walked.
        let depth = MAX_DEPTH as i64 + 10;
        let n = depth as usize * 2 + 1;
        let mut chain = regressor("BRANCH_LEQ", 2.0, false);
        let (mut yes, mut no, mut modes) = (vec![0i64; n], vec![0i64; n], vec!["LEAF"; n]);
        for k in 0..depth as usize {
            (yes[2 * k], no[2 * k], modes[2 * k]) = (2 * k as i64 + 1, 2 * k as i64 + 2, "BRANCH_LEQ");
        }
        set(&mut chain, ints("nodes_treeids", &vec![0; n]));
        set(&mut chain, ints("nodes_nodeids", &(0..n as i64).collect::<Vec<_>>()));
        set(&mut chain, ints("nodes_featureids", &vec![0; n]));
        set(&mut chain, floats("nodes_values", &vec![0.0; n]));
        set(&mut chain, strings("nodes_modes", &modes));
        set(&mut chain, ints("nodes_truenodeids", &yes));
        set(&mut chain, ints("nodes_falsenodeids", &no));
        set(&mut chain, ints("nodes_missing_value_tracks_true", &vec![0; n]));
        set(&mut chain, ints("target_treeids", &[]));
        set(&mut chain, ints("target_nodeids", &[]));
        set(&mut chain, ints("target_ids", &[]));
        set(&mut chain, floats("target_weights", &[]));
        assert!(Ensemble::from_node(&chain).unwrap_err().contains("deeper"));
    }

    /// `trees` copies of [`regressor`]'s `BRANCH_LEQ` tree, tree `k` splitting at `k / 4`, each
    /// leaf holding `targets` weights (target `j` of leaf value `v` in tree `k`: `v + j + k`).
    fn forest(trees: usize, targets: usize) -> Node {
        let mut n = regressor("BRANCH_LEQ", 0.0, false);
        let mut cols: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        let (mut thresholds, mut weights) = (Vec::new(), Vec::new());
        for k in 0..trees as i64 {
            cols.entry("nodes_treeids").or_default().extend([k; 5]);
            cols.entry("nodes_nodeids").or_default().extend(0..5);
            cols.entry("nodes_featureids").or_default().extend([0, 0, 1, 0, 0]);
            cols.entry("nodes_truenodeids").or_default().extend([1, 0, 3, 0, 0]);
            cols.entry("nodes_falsenodeids").or_default().extend([2, 0, 4, 0, 0]);
            cols.entry("nodes_missing_value_tracks_true").or_default().extend([0; 5]);
            thresholds.extend([k as f32 / 4.0, 0.0, 0.0, 0.0, 0.0]);
            for (leaf, v) in [(1, 10.0), (3, 20.0), (4, 30.0)] {
                for j in 0..targets as i64 {
                    cols.entry("target_treeids").or_default().push(k);
                    cols.entry("target_nodeids").or_default().push(leaf);
                    cols.entry("target_ids").or_default().push(j);
                    weights.push(v + (j + k) as f32);
                }
            }
        }
        for (name, v) in cols {
            set(&mut n, ints(name, &v));
        }
        set(&mut n, floats("nodes_values", &thresholds));
        set(&mut n, strings("nodes_modes", &["BRANCH_LEQ", "LEAF", "BRANCH_LEQ", "LEAF", "LEAF"].repeat(trees)));
        set(&mut n, floats("target_weights", &weights));
        set(&mut n, Attribute { name: "n_targets".into(), i: targets as i64, ..Default::default() });
        n
    }

    #[test]
    fn chunks_blocks_and_lone_rows_sum_every_tree() {
        // 150 rows: two chunks and a short one (two blocks and six lone rows); 11 trees: a
        // group of eight side by side and three alone; 5 targets, more than the 2 features.
        let mut rows: Vec<[f32; 2]> = (0..150).map(|i| [(i % 17) as f32 / 5.0, (i % 3) as f32 - 1.0]).collect();
        // Values on a threshold, a signed zero, a NaN, infinities: bins compare as f32 does.
        rows[3] = [-0.0, 0.0];
        rows[70] = [f32::NAN, -0.0];
        rows[140] = [f32::INFINITY, f32::NEG_INFINITY];
        let (trees, targets) = (11, 5);
        let n = forest(trees, targets);
        let all = score(&n, &rows);
        for (i, r) in rows.iter().enumerate() {
            let mut want = vec![0f32; targets];
            for k in 0..trees {
                let v = if r[0] <= k as f32 / 4.0 {
                    10.0
                } else if r[1] <= 0.0 {
                    20.0
                } else {
                    30.0
                };
                want.iter_mut().enumerate().for_each(|(j, w)| *w += v + (j + k) as f32);
            }
            assert_eq!(all[i * targets..(i + 1) * targets], want, "row {i}");
            assert_eq!(score(&n, &[*r]), want, "row {i} alone");
        }
    }

    #[test]
    fn blocks_of_rows_score_as_rows_alone() {
        // 19 rows: two full blocks of eight and a partial one, on both walks.
        let rows: Vec<[f32; 2]> = (0..19).map(|i| [i as f32 / 4.0, (i % 3) as f32 - 1.0]).collect();
        for mode in ["BRANCH_LEQ", "BRANCH_GT"] {
            let n = regressor(mode, 2.0, false);
            let all = score(&n, &rows);
            for (i, r) in rows.iter().enumerate() {
                assert_eq!(score(&n, &[*r]), [all[i]], "{mode} row {i}");
            }
        }
    }
}
