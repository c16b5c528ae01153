//! What the two tree learners share: feature binning, the histogram tree grower and the fitted
//! trees.
//!
//! Written here rather than taken from a crate: the Rust GBDT/forest crates either pull a large
//! dependency graph (ndarray, rayon, serde formats), are not deterministic across thread counts,
//! or do not expose the trees in a form we can export to ONNX node by node. This grower is a few
//! hundred lines: binned features (at most 255 thresholds per feature, taken from the training
//! values themselves, so a split's threshold routes training rows exactly as the bins did),
//! per-leaf histograms of per-row statistics, the smaller child's histogram built and the
//! larger's obtained by subtraction, best-first growth. Every histogram is summed in row order by
//! one thread, and features are shared between threads in fixed chunks: the same trees, byte for
//! byte, on any machine and any number of cores.

use crate::Rng;

/// Per-feature bin thresholds. Bin `b` of feature `j` holds the values `v` with
/// `uppers[j][b-1] < v <= uppers[j][b]`; the last bin (`uppers[j].len()`) everything above, and
/// NaN (which `x <= t` sends to the false branch too).
#[derive(Debug, Clone)]
pub struct Bins {
    pub uppers: Vec<Vec<f32>>,
}

impl Bins {
    /// Thresholds from the values of rows `rows` (row-major, `d` wide): every distinct value when
    /// there are at most `max_bins` of them, else equal-count cuts between distinct values.
    pub fn fit(x: &[f32], d: usize, rows: &[usize], max_bins: usize) -> Bins {
        let max_bins = max_bins.clamp(2, 256);
        let mut uppers = Vec::with_capacity(d);
        let mut col: Vec<f32> = Vec::with_capacity(rows.len());
        for j in 0..d {
            col.clear();
            col.extend(rows.iter().map(|r| x[r * d + j]).filter(|v| !v.is_nan()));
            col.sort_unstable_by(f32::total_cmp);
            // Distinct values with their counts.
            let mut distinct: Vec<(f32, usize)> = Vec::new();
            for v in &col {
                match distinct.last_mut() {
                    Some((u, c)) if *u == *v => *c += 1,
                    _ => distinct.push((*v, 1)),
                }
            }
            let mut t = Vec::new();
            if distinct.len() <= max_bins {
                t.extend(distinct.iter().take(distinct.len().saturating_sub(1)).map(|(v, _)| *v));
            } else {
                // Cut after a distinct value once the bin holds its share of the rows.
                let per_bin = col.len() as f64 / max_bins as f64;
                let mut in_bin = 0usize;
                for (k, (v, c)) in distinct.iter().enumerate() {
                    in_bin += c;
                    if in_bin as f64 >= per_bin && k + 1 < distinct.len() && t.len() + 1 < max_bins {
                        t.push(*v);
                        in_bin = 0;
                    }
                }
            }
            uppers.push(t);
        }
        Bins { uppers }
    }

    /// Bin of value `v` of feature `j`.
    #[inline]
    pub fn bin(&self, j: usize, v: f32) -> u8 {
        let u = &self.uppers[j];
        if v.is_nan() { u.len() as u8 } else { u.partition_point(|t| *t < v) as u8 }
    }

    /// Bins per feature.
    pub fn n_bins(&self, j: usize) -> usize {
        self.uppers[j].len() + 1
    }

    /// The binned matrix of every row of `x`, column-major (`[j * n + i]`).
    pub fn apply(&self, x: &[f32], d: usize) -> Binned {
        let n = x.len() / d;
        let mut data = vec![0u8; n * d];
        for j in 0..d {
            let col = &mut data[j * n..(j + 1) * n];
            for (i, c) in col.iter_mut().enumerate() {
                *c = self.bin(j, x[i * d + j]);
            }
        }
        let n_bins: Vec<usize> = (0..d).map(|j| self.n_bins(j)).collect();
        let bundles = Bundles::build(&data, n, &n_bins);
        Binned { n, d, data, n_bins, uppers: self.uppers.clone(), bundles }
    }
}

/// Binned features, column-major.
#[derive(Debug, Clone)]
pub struct Binned {
    pub n: usize,
    pub d: usize,
    pub data: Vec<u8>,
    pub n_bins: Vec<usize>,
    /// The thresholds the bins came from ([`Bins::uppers`]).
    pub uppers: Vec<Vec<f32>>,
    /// How the columns are bundled for histogram passes.
    pub bundles: Bundles,
}

impl Binned {
    fn col(&self, j: usize) -> &[u8] {
        &self.data[j * self.n..(j + 1) * self.n]
    }
}

/// A fitted tree: node 0 is the root.
#[derive(Debug, Clone, PartialEq)]
pub struct Tree {
    pub nodes: Vec<TreeNode>,
}

/// A node: a split (`x[feature] <= threshold` goes left) or a leaf with one value per output.
#[derive(Debug, Clone, PartialEq)]
pub enum TreeNode {
    Split { feature: usize, threshold: f32, bin: u8, left: usize, right: usize, gain: f64 },
    Leaf { values: Vec<f32> },
}

impl Tree {
    /// The leaf values a row of raw features reaches.
    pub fn leaf(&self, row: &[f32]) -> &[f32] {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                TreeNode::Split { feature, threshold, left, right, .. } => {
                    i = if row[*feature] <= *threshold { *left } else { *right };
                }
                TreeNode::Leaf { values } => return values,
            }
        }
    }

    /// The leaf values binned row `r` reaches (rows of the matrix the tree was grown on).
    pub fn leaf_binned(&self, b: &Binned, r: usize) -> &[f32] {
        let mut i = 0;
        loop {
            match &self.nodes[i] {
                TreeNode::Split { feature, bin, left, right, .. } => {
                    i = if b.data[feature * b.n + r] <= *bin { *left } else { *right };
                }
                TreeNode::Leaf { values } => return values,
            }
        }
    }

    /// Depth of the deepest leaf (a single leaf is depth 0).
    pub fn depth(&self) -> usize {
        fn go(t: &Tree, i: usize) -> usize {
            match &t.nodes[i] {
                TreeNode::Split { left, right, .. } => 1 + go(t, *left).max(go(t, *right)),
                TreeNode::Leaf { .. } => 0,
            }
        }
        go(self, 0)
    }
}

/// How a learner scores a node from its summed row statistics (the last statistic is always the
/// row count or weight). A split's gain is `score(left) + score(right) − score(parent)`.
pub trait Criterion: Sync {
    /// Statistics per row.
    fn width(&self) -> usize;
    fn score(&self, s: &[f64]) -> f64;
    /// Whether a child with these statistics is allowed.
    fn admissible(&self, s: &[f64]) -> bool;
    fn leaf(&self, s: &[f64]) -> Vec<f32>;
}

/// Limits of one tree.
#[derive(Debug, Clone)]
pub struct Growth {
    pub max_leaves: usize,
    /// 0: unlimited.
    pub max_depth: usize,
    /// Features drawn at every node (random forests); `None`: every feature in `features`.
    pub per_node: Option<usize>,
    pub threads: usize,
}

/// A leaf waiting to be split: its rows are `order[start..end]`.
struct Open {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    stats: Vec<f64>,
    hist: Option<Vec<f64>>,
    best: Option<Best>,
}

#[derive(Debug, Clone)]
struct Best {
    gain: f64,
    feature: usize,
    bin: u8,
    left: Vec<f64>,
}

/// A grown tree and where its rows went: `order[start..end]` are the rows of leaf `node`.
pub struct Grown {
    pub tree: Tree,
    pub order: Vec<u32>,
    pub leaves: Vec<(usize, usize, usize)>,
}

impl Grown {
    /// Adds output `k` of each leaf's values to `f[row * stride + k]` for every row the tree was
    /// grown on (what walking each row down the tree gives, without walking).
    pub fn add_to(&self, f: &mut [f32], stride: usize, k: usize) {
        for &(node, start, end) in &self.leaves {
            let TreeNode::Leaf { values } = &self.tree.nodes[node] else { continue };
            for &r in &self.order[start..end] {
                f[r as usize * stride + k] += values[0];
            }
        }
    }
}

/// Grows one tree on rows `rows` of `b` (split thresholds are the bins' upper bounds) with
/// per-row statistics `rs` (`n × width`, row-major).
pub fn grow<C: Criterion>(
    b: &Binned,
    rs: &[f64],
    rows: &[u32],
    features: &[usize],
    crit: &C,
    g: &Growth,
    rng: &mut Rng,
) -> Grown {
    let s = crit.width();
    let mut done: Vec<(usize, usize, usize)> = Vec::new();
    let mut order = rows.to_vec();
    let mut stats = vec![0.0; s];
    for &r in &order {
        stats.iter_mut().zip(&rs[r as usize * s..(r as usize + 1) * s]).for_each(|(a, v)| *a += v);
    }
    let mut tree = Tree { nodes: vec![TreeNode::Leaf { values: crit.leaf(&stats) }] };
    let offsets = hist_offsets(b, features, s);
    let mut open = vec![Open { node: 0, start: 0, end: order.len(), depth: 0, stats, hist: None, best: None }];
    let mut leaves = 1;
    // Evaluate the root.
    prepare(&mut open[0], b, rs, &order, features, crit, g, rng, &offsets, None);
    loop {
        if leaves >= g.max_leaves {
            break;
        }
        // The open leaf with the largest gain (first on ties: deterministic).
        let mut pick: Option<usize> = None;
        for (k, o) in open.iter().enumerate() {
            if let Some(bst) = &o.best
                && pick.is_none_or(|p| bst.gain > open[p].best.as_ref().map_or(0.0, |x| x.gain))
            {
                pick = Some(k);
            }
        }
        let Some(k) = pick else { break };
        let mut leaf = open.swap_remove(k);
        let best = leaf.best.take().expect("picked");
        // Partition the leaf's rows, stably: left rows first.
        let col = b.col(best.feature);
        let slice = &mut order[leaf.start..leaf.end];
        let mut right: Vec<u32> = Vec::new();
        let mut w = 0;
        for i in 0..slice.len() {
            let r = slice[i];
            if col[r as usize] <= best.bin {
                slice[w] = r;
                w += 1;
            } else {
                right.push(r);
            }
        }
        slice[w..].copy_from_slice(&right);
        let mid = leaf.start + w;
        let right_stats: Vec<f64> = leaf.stats.iter().zip(&best.left).map(|(p, l)| p - l).collect();
        let (li, ri) = (tree.nodes.len(), tree.nodes.len() + 1);
        tree.nodes.push(TreeNode::Leaf { values: crit.leaf(&best.left) });
        tree.nodes.push(TreeNode::Leaf { values: crit.leaf(&right_stats) });
        tree.nodes[leaf.node] = TreeNode::Split {
            feature: best.feature,
            threshold: b.uppers[best.feature][best.bin as usize],
            bin: best.bin,
            left: li,
            right: ri,
            gain: best.gain,
        };
        leaves += 1;
        let d = leaf.depth + 1;
        let mut l = Open { node: li, start: leaf.start, end: mid, depth: d, stats: best.left, hist: None, best: None };
        let mut r = Open { node: ri, start: mid, end: leaf.end, depth: d, stats: right_stats, hist: None, best: None };
        if g.max_depth > 0 && d >= g.max_depth {
            done.push((l.node, l.start, l.end));
            done.push((r.node, r.start, r.end));
            continue;
        }
        // The smaller child's histogram is built, the larger's is the parent's minus it.
        let parent = leaf.hist.take();
        let (small, large) = if l.end - l.start <= r.end - r.start { (&mut l, &mut r) } else { (&mut r, &mut l) };
        prepare(small, b, rs, &order, features, crit, g, rng, &offsets, None);
        let sub = match (&parent, &small.hist) {
            (Some(p), Some(h)) => Some(p.iter().zip(h).map(|(a, b)| a - b).collect::<Vec<f64>>()),
            _ => None,
        };
        prepare(large, b, rs, &order, features, crit, g, rng, &offsets, sub);
        open.push(l);
        open.push(r);
    }
    done.extend(open.iter().map(|o| (o.node, o.start, o.end)));
    Grown { tree, order, leaves: done }
}

/// Where the histogram of the `k`-th of `feats` starts in a leaf's flat histogram (one more
/// entry: the total length).
fn hist_offsets(b: &Binned, feats: &[usize], s: usize) -> Vec<usize> {
    let mut off = Vec::with_capacity(feats.len() + 1);
    let mut at = 0;
    for &j in feats {
        off.push(at);
        at += b.n_bins[j] * s;
    }
    off.push(at);
    off
}

/// Builds (or takes) the leaf's histogram over its candidate features and finds its best split.
#[allow(clippy::too_many_arguments)]
fn prepare<C: Criterion>(
    leaf: &mut Open,
    b: &Binned,
    rs: &[f64],
    order: &[u32],
    features: &[usize],
    crit: &C,
    g: &Growth,
    rng: &mut Rng,
    offsets: &[usize],
    given: Option<Vec<f64>>,
) {
    let s = crit.width();
    let n_rows = leaf.end - leaf.start;
    if n_rows < 2 {
        return;
    }
    // Candidate features: all (with their offsets), or a fresh draw per node.
    let (drawn, drawn_off): (Vec<usize>, Vec<usize>);
    let (feats, offsets): (&[usize], &[usize]) = match g.per_node {
        Some(m) if m < features.len() => {
            let mut f = features.to_vec();
            // Partial Fisher–Yates: the first m are a uniform draw.
            for i in 0..m {
                let j = i + (rng.next_u64() % (f.len() - i) as u64) as usize;
                f.swap(i, j);
            }
            f.truncate(m);
            f.sort_unstable();
            drawn_off = hist_offsets(b, &f, s);
            drawn = f;
            (&drawn, &drawn_off)
        }
        _ => (features, offsets),
    };
    let rows = &order[leaf.start..leaf.end];
    let hist = match given {
        Some(h) => h,
        None => {
            let mut h = vec![0.0; offsets[feats.len()]];
            build(&mut h, b, rs, rows, feats, s, offsets, g.threads, &leaf.stats);
            h
        }
    };
    // Best split over the candidates, features in order (ties keep the first).
    let parent = crit.score(&leaf.stats);
    let mut best: Option<Best> = None;
    let mut left = vec![0.0; s];
    let mut right = vec![0.0; s];
    for (k, &j) in feats.iter().enumerate() {
        let h = &hist[offsets[k]..offsets[k + 1]];
        left.iter_mut().for_each(|v| *v = 0.0);
        for bin in 0..b.n_bins[j].saturating_sub(1) {
            left.iter_mut().zip(&h[bin * s..(bin + 1) * s]).for_each(|(a, v)| *a += v);
            if left[s - 1] <= 0.0 {
                continue;
            }
            right.iter_mut().zip(leaf.stats.iter().zip(&left)).for_each(|(r, (p, l))| *r = p - l);
            if !crit.admissible(&left) || !crit.admissible(&right) {
                continue;
            }
            let gain = crit.score(&left) + crit.score(&right) - parent;
            if gain > 1e-12 && best.as_ref().is_none_or(|b| gain > b.gain) {
                best = Some(Best { gain, feature: j, bin: bin as u8, left: left.clone() });
            }
        }
    }
    leaf.best = best;
    // Only per-leaf-complete histograms can be subtracted (GBDT: every feature every time).
    leaf.hist = if g.per_node.is_none() { Some(hist) } else { None };
}

/// The candidate features of one bundle, each with its histogram slice.
type Members<'a> = Vec<(usize, &'a mut [f64])>;

/// Sums the rows' statistics into `h` per (feature, bin). The rows' statistics are gathered
/// once into a contiguous buffer, then every bundle ([`Bundles`]) is summed in one pass over its
/// column: a bundle of mutually exclusive sparse features (one-hot columns) gives each member's
/// non-default bins directly, and its default bin as the leaf's total (`total`) minus the rest.
/// Bundles are shared between threads in contiguous chunks, each summed by one thread in row
/// order, so the sums do not depend on the thread count.
#[allow(clippy::too_many_arguments)]
fn build(
    h: &mut [f64],
    b: &Binned,
    rs: &[f64],
    rows: &[u32],
    feats: &[usize],
    s: usize,
    off: &[usize],
    threads: usize,
    total: &[f64],
) {
    let mut og = vec![0.0; rows.len() * s];
    if s == 3 {
        // Element by element: a 24-byte `copy_from_slice` per row was a `memmove` call per row.
        for (o, &r) in og.chunks_exact_mut(3).zip(rows) {
            let v = &rs[r as usize * 3..r as usize * 3 + 3];
            (o[0], o[1], o[2]) = (v[0], v[1], v[2]);
        }
    } else {
        for (o, &r) in og.chunks_exact_mut(s).zip(rows) {
            o.copy_from_slice(&rs[r as usize * s..(r as usize + 1) * s]);
        }
    }
    // Each needed bundle with the histogram slices of its candidate members.
    let mut work: Vec<(usize, Members<'_>)> = Vec::new();
    // Group → its place in `work` (usize::MAX: not needed yet).
    let mut at = vec![usize::MAX; b.bundles.groups.len()];
    let mut rest = h;
    for (k, &j) in feats.iter().enumerate() {
        let (mine, tail) = rest.split_at_mut(off[k + 1] - off[k]);
        rest = tail;
        let g = b.bundles.group_of[j];
        if at[g] == usize::MAX {
            at[g] = work.len();
            work.push((g, Vec::new()));
        }
        work[at[g]].1.push((j, mine));
    }
    let one = |g: usize, members: &mut Members<'_>, scratch: &mut Vec<f64>| {
        let group = &b.bundles.groups[g];
        let (col, out): (&[u8], &mut [f64]) = match &group.data {
            None => {
                let (j, out) = &mut members[0];
                (b.col(*j), &mut **out)
            }
            Some(data) => {
                scratch.clear();
                scratch.resize(group.n_bins * s, 0.0);
                (data, scratch.as_mut_slice())
            }
        };
        if s == 3 {
            for (&r, v) in rows.iter().zip(og.chunks_exact(3)) {
                let k = col[r as usize] as usize * 3;
                out[k] += v[0];
                out[k + 1] += v[1];
                out[k + 2] += v[2];
            }
        } else {
            for (&r, v) in rows.iter().zip(og.chunks_exact(s)) {
                let k = col[r as usize] as usize * s;
                out[k..k + s].iter_mut().zip(v).for_each(|(a, v)| *a += v);
            }
        }
        if group.data.is_none() {
            return;
        }
        // Expand the bundle into its members' histograms.
        for (j, out) in members.iter_mut() {
            let (def, start) = (b.bundles.default_bin[*j] as usize, b.bundles.offset[*j] as usize);
            let nb = b.n_bins[*j];
            out.iter_mut().for_each(|v| *v = 0.0);
            for (k, bin) in (start..).zip((0..nb).filter(|x| *x != def)) {
                out[bin * s..(bin + 1) * s].copy_from_slice(&scratch[k * s..(k + 1) * s]);
            }
            for q in 0..s {
                let others: f64 = (0..nb).filter(|x| *x != def).map(|x| out[x * s + q]).sum();
                out[def * s + q] = total[q] - others;
            }
        }
    };
    let threads = threads.max(1).min(work.len().max(1));
    if threads == 1 || rows.len() * work.len() < PARALLEL_WORK {
        let mut scratch = Vec::new();
        for (g, members) in work.iter_mut() {
            one(*g, members, &mut scratch);
        }
        return;
    }
    let per = work.len().div_ceil(threads);
    rayon::scope(|sc| {
        for chunk in work.chunks_mut(per) {
            let one = &one;
            sc.spawn(move |_| {
                let mut scratch = Vec::new();
                for (g, members) in chunk.iter_mut() {
                    one(*g, members, &mut scratch);
                }
            });
        }
    });
}

/// Histogram passes smaller than this (rows × bundles) run on one thread: handing work to the
/// pool costs more.
const PARALLEL_WORK: usize = 30_000;

/// Exclusive feature bundling (LightGBM's EFB, without conflicts): features that are never
/// off their most frequent bin in the same row (the one-hot columns of a categorical, hash
/// buckets) share one binned column, so a histogram pass reads one column for all of them.
#[derive(Debug, Clone, Default)]
pub struct Bundles {
    pub groups: Vec<Group>,
    /// Feature → its group.
    pub group_of: Vec<usize>,
    /// Feature → its most frequent bin (the one a bundle stores as 0).
    pub default_bin: Vec<u8>,
    /// Feature → where its non-default bins start in its group's column.
    pub offset: Vec<u16>,
}

/// A bundle: one feature (`data` is `None`: its own column) or several sharing `data`.
#[derive(Debug, Clone)]
pub struct Group {
    pub features: Vec<usize>,
    pub n_bins: usize,
    pub data: Option<Vec<u8>>,
}

impl Bundles {
    fn build(data: &[u8], n: usize, n_bins: &[usize]) -> Bundles {
        let d = n_bins.len();
        let mut default_bin = vec![0u8; d];
        let mut nonzero: Vec<Vec<u32>> = Vec::with_capacity(d);
        for j in 0..d {
            let col = &data[j * n..(j + 1) * n];
            let mut count = [0usize; 256];
            col.iter().for_each(|v| count[*v as usize] += 1);
            let def = (0..256).max_by_key(|b| (count[*b], usize::MAX - b)).unwrap_or(0) as u8;
            default_bin[j] = def;
            nonzero.push((0..n as u32).filter(|i| col[*i as usize] != def).collect());
        }
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by_key(|j| (usize::MAX - nonzero[*j].len(), *j));
        // Candidate bundles: (features, bins used, rows used).
        let mut open: Vec<(Vec<usize>, usize, Vec<u64>)> = Vec::new();
        let mut singles: Vec<usize> = Vec::new();
        for &j in &order {
            if nonzero[j].len() * 2 > n || n_bins[j] > 128 {
                singles.push(j);
                continue;
            }
            let fits = open.iter().position(|(_, bins, used)| {
                bins + n_bins[j] - 1 <= 255 && nonzero[j].iter().all(|i| used[*i as usize / 64] >> (i % 64) & 1 == 0)
            });
            let k = fits.unwrap_or_else(|| {
                open.push((Vec::new(), 1, vec![0u64; n.div_ceil(64)]));
                open.len() - 1
            });
            let (members, bins, used) = &mut open[k];
            members.push(j);
            *bins += n_bins[j] - 1;
            nonzero[j].iter().for_each(|i| used[*i as usize / 64] |= 1 << (i % 64));
        }
        let mut b = Bundles { groups: Vec::new(), group_of: vec![0; d], default_bin, offset: vec![0; d] };
        for j in singles {
            b.group_of[j] = b.groups.len();
            b.groups.push(Group { features: vec![j], n_bins: n_bins[j], data: None });
        }
        for (mut members, bins, _) in open {
            members.sort_unstable();
            if members.len() == 1 {
                let j = members[0];
                b.group_of[j] = b.groups.len();
                b.groups.push(Group { features: members, n_bins: n_bins[j], data: None });
                continue;
            }
            let mut col = vec![0u8; n];
            let mut at = 1u16;
            for &j in &members {
                b.offset[j] = at;
                let def = b.default_bin[j];
                for &i in &nonzero[j] {
                    let v = data[j * n + i as usize];
                    col[i as usize] = (at + u16::from(if v < def { v } else { v - 1 })) as u8;
                }
                at += (n_bins[j] - 1) as u16;
                b.group_of[j] = b.groups.len();
            }
            b.groups.push(Group { features: members, n_bins: bins, data: Some(col) });
        }
        b
    }
}

/// Worker threads the learners use: the machine's cores, at most 8.
pub fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
}

/// Gain and split count per feature over a set of trees (the report's feature importance).
pub fn importance(trees: &[Tree], d: usize) -> (Vec<f64>, Vec<usize>) {
    let (mut gain, mut count) = (vec![0.0; d], vec![0usize; d]);
    for t in trees {
        for n in &t.nodes {
            if let TreeNode::Split { feature, gain: g, .. } = n {
                gain[*feature] += g;
                count[*feature] += 1;
            }
        }
    }
    (gain, count)
}
