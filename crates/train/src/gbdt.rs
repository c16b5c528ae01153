//! Histogram gradient boosting (`--model gbdt`), LightGBM's recipe: binned features, best-first
//! (leaf-wise) trees capped by `num_leaves` and `max_depth`, shrinkage, L2 on leaf values,
//! minimum rows and hessian per leaf, row and column subsampling per tree, early stopping on the
//! validation split. Binary log-loss, multiclass softmax (one tree per class per round) and
//! squared error. The ensemble's output is the raw margin; the core's link applies the
//! sigmoid/softmax.

use crate::Rng;
use crate::progress::Progress;
use crate::tree::{self, Binned, Bins, Criterion, Growth, Tree};
use crate::{Split, TrainError};

/// Options of the boosted ensemble (LightGBM's defaults where it has one).
#[derive(Debug, Clone)]
pub struct GbdtOptions {
    pub n_trees: usize,
    pub learning_rate: f64,
    pub num_leaves: usize,
    /// 0: unlimited.
    pub max_depth: usize,
    pub min_child_samples: usize,
    pub min_child_weight: f64,
    pub lambda_l2: f64,
    /// Fraction of training rows each tree sees.
    pub subsample: f64,
    /// Fraction of features each tree may split on.
    pub colsample: f64,
    pub max_bins: usize,
    /// Stop when the validation loss has not improved for this many rounds (0: never).
    pub early_stopping: usize,
    pub seed: u64,
}

impl Default for GbdtOptions {
    fn default() -> Self {
        GbdtOptions {
            n_trees: 100,
            learning_rate: 0.1,
            num_leaves: 31,
            max_depth: 0,
            min_child_samples: 20,
            min_child_weight: 1e-3,
            lambda_l2: 0.0,
            subsample: 1.0,
            colsample: 1.0,
            max_bins: 255,
            early_stopping: 20,
            seed: 42,
        }
    }
}

/// What the targets are.
pub enum Objective<'a> {
    /// Class indices; `k == 2` is binary log-loss. `weights` per class.
    Classes {
        y: &'a [usize],
        k: usize,
        weights: &'a [f32],
    },
    Values(&'a [f32]),
}

/// A fitted boosted ensemble: `trees[round * per_round + class]`, each with one leaf value.
#[derive(Debug, Clone)]
pub struct Boosted {
    pub trees: Vec<Tree>,
    /// Trees per round: 1, or the class count for multiclass.
    pub per_round: usize,
    /// The initial score of each output.
    pub base: Vec<f32>,
    pub best_round: usize,
    pub rounds_run: usize,
    pub best_valid_loss: f64,
}

/// `[g, h, 1]` per row: score `G² / (H + λ)`, leaf `−η·G / (H + λ)`.
struct Newton<'a> {
    o: &'a GbdtOptions,
}

impl Criterion for Newton<'_> {
    fn width(&self) -> usize {
        3
    }
    fn score(&self, s: &[f64]) -> f64 {
        s[0] * s[0] / (s[1] + self.o.lambda_l2)
    }
    fn admissible(&self, s: &[f64]) -> bool {
        s[2] >= self.o.min_child_samples as f64 && s[1] >= self.o.min_child_weight
    }
    fn leaf(&self, s: &[f64]) -> Vec<f32> {
        let denom = s[1] + self.o.lambda_l2;
        let v = if denom > 0.0 { -s[0] / denom * self.o.learning_rate } else { 0.0 };
        vec![v as f32]
    }
}

fn stable_softmax(z: &[f64], out: &mut [f64]) {
    let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for (o, v) in out.iter_mut().zip(z) {
        *o = (v - m).exp();
        sum += *o;
    }
    out.iter_mut().for_each(|o| *o /= sum);
}

/// Trains on the split's train rows of `x` (row-major, `d` wide), early-stopping on its
/// validation rows.
pub fn train(
    x: &[f32],
    d: usize,
    split: &Split,
    obj: &Objective<'_>,
    o: &GbdtOptions,
    progress: &Progress,
) -> Result<Boosted, TrainError> {
    // Boosting runs on a worker of its own pool, so its histogram passes and gradients hand work
    // to the other worker without a wake-up of this thread.
    match rayon::ThreadPoolBuilder::new().num_threads(tree::threads()).build() {
        Ok(pool) => pool.install(|| boost(x, d, split, obj, o, progress)),
        Err(_) => boost(x, d, split, obj, o, progress),
    }
}

fn boost(
    x: &[f32],
    d: usize,
    split: &Split,
    obj: &Objective<'_>,
    o: &GbdtOptions,
    progress: &Progress,
) -> Result<Boosted, TrainError> {
    if o.n_trees == 0 || o.num_leaves < 2 || o.learning_rate.is_nan() || o.learning_rate <= 0.0 {
        return Err(TrainError::Options("gbdt needs n_trees ≥ 1, num_leaves ≥ 2 and a positive learning rate".into()));
    }
    if !(0.0 < o.subsample && o.subsample <= 1.0 && 0.0 < o.colsample && o.colsample <= 1.0) {
        return Err(TrainError::Options("subsample and colsample must be in (0, 1]".into()));
    }
    let train_x: Vec<f32> = split.train.iter().flat_map(|r| x[r * d..(r + 1) * d].iter().copied()).collect();
    let n = split.train.len();
    let all: Vec<usize> = (0..n).collect();
    let bins = Bins::fit(&train_x, d, &all, o.max_bins);
    let binned: Binned = bins.apply(&train_x, d);
    let k = match obj {
        Objective::Classes { k, .. } if *k > 2 => *k,
        _ => 1,
    };
    // Per-row targets and weights, over the train rows, and the initial scores.
    let (label, weight): (Vec<f64>, Vec<f64>) = match obj {
        Objective::Classes { y, weights, .. } => {
            split.train.iter().map(|r| (y[*r] as f64, f64::from(weights[y[*r]]))).unzip()
        }
        Objective::Values(v) => split.train.iter().map(|r| (f64::from(v[*r]), 1.0)).unzip(),
    };
    let wsum: f64 = weight.iter().sum();
    let base: Vec<f64> = match obj {
        Objective::Classes { k: 2, .. } => {
            let p = (label.iter().zip(&weight).map(|(l, w)| l * w).sum::<f64>() / wsum).clamp(1e-15, 1.0 - 1e-15);
            vec![(p / (1.0 - p)).ln()]
        }
        // LightGBM starts multiclass from zero scores.
        Objective::Classes { .. } => vec![0.0; k],
        Objective::Values(_) => vec![label.iter().zip(&weight).map(|(l, w)| l * w).sum::<f64>() / wsum],
    };
    // Margins in f32, as the exported model computes them.
    let base32: Vec<f32> = base.iter().map(|b| *b as f32).collect();
    let mut f_train: Vec<f32> = (0..n).flat_map(|_| base32.iter().copied()).collect();
    let nv = split.valid.len();
    let mut f_valid: Vec<f32> = (0..nv).flat_map(|_| base32.iter().copied()).collect();
    // The validation rows side by side: every round walks them all through its new tree, and
    // scattered through the whole matrix they were a cache miss per row per tree.
    let valid_x: Vec<f32> = split.valid.iter().flat_map(|r| x[r * d..(r + 1) * d].iter().copied()).collect();
    let features: Vec<usize> = (0..d).collect();
    let crit = Newton { o };
    let growth = Growth { max_leaves: o.num_leaves, max_depth: o.max_depth, per_node: None, threads: tree::threads() };
    let mut rng = Rng(o.seed ^ 0x6762_6474);
    let mut rs = vec![0.0f64; n * 3];
    let mut trees: Vec<Tree> = Vec::with_capacity(o.n_trees * k);
    let (mut best_loss, mut best_round, mut since) = (f64::INFINITY, 0usize, 0usize);
    progress.start("boosting trees", o.n_trees as u64);
    let mut rounds_run = 0;
    for round in 0..o.n_trees {
        progress.check_interrupted()?;
        // Rows and features of this round.
        let rows: Vec<u32> = if o.subsample < 1.0 {
            (0..n as u32).filter(|_| rng.next_f64() < o.subsample).collect()
        } else {
            (0..n as u32).collect()
        };
        let feats: Vec<usize> = if o.colsample < 1.0 {
            let m = ((d as f64 * o.colsample).ceil() as usize).clamp(1, d);
            let mut f = features.clone();
            rng.shuffle(&mut f);
            f.truncate(m);
            f.sort_unstable();
            f
        } else {
            features.clone()
        };
        for class in 0..k {
            gradients(obj, k, class, &f_train, &label, &weight, &mut rs, growth.threads);
            let grown = tree::grow(&binned, &rs, &rows, &feats, &crit, &growth, &mut rng);
            if rows.len() == n {
                grown.add_to(&mut f_train, k, class);
            } else {
                for i in 0..n {
                    f_train[i * k + class] += grown.tree.leaf_binned(&binned, i)[0];
                }
            }
            let t = grown.tree;
            for (i, row) in valid_x.chunks_exact(d.max(1)).enumerate() {
                f_valid[i * k + class] += t.leaf(row)[0];
            }
            trees.push(t);
        }
        rounds_run = round + 1;
        progress.set(rounds_run as u64, &format!("round {rounds_run}"));
        if nv == 0 || o.early_stopping == 0 {
            best_round = round + 1;
            continue;
        }
        let loss = valid_loss(obj, split, &f_valid, k);
        if loss < best_loss - 1e-12 {
            (best_loss, best_round, since) = (loss, round + 1, 0);
        } else {
            since += 1;
            if since >= o.early_stopping {
                break;
            }
        }
    }
    progress.finish();
    trees.truncate(best_round * k);
    Ok(Boosted { trees, per_round: k, base: base32, best_round, rounds_run, best_valid_loss: best_loss })
}

/// Every train row's gradient, hessian and count (`rs`, three per row) for `class` at margins
/// `f`, on `threads` threads in contiguous row ranges (each row on its own: the same bits on any
/// thread count).
#[allow(clippy::too_many_arguments)]
fn gradients(
    obj: &Objective<'_>,
    k: usize,
    class: usize,
    f: &[f32],
    label: &[f64],
    weight: &[f64],
    rs: &mut [f64],
    threads: usize,
) {
    let rows = |first: usize, rs: &mut [f64]| {
        let (mut z, mut p) = (vec![0.0f64; k], vec![0.0f64; k]);
        for (j, out) in rs.chunks_exact_mut(3).enumerate() {
            let i = first + j;
            let (g, h) = match obj {
                Objective::Classes { k: 2, .. } => {
                    let pr = 1.0 / (1.0 + (-f64::from(f[i])).exp());
                    (pr - label[i], (pr * (1.0 - pr)).max(1e-16))
                }
                Objective::Classes { .. } => {
                    z.iter_mut().zip(&f[i * k..(i + 1) * k]).for_each(|(z, f)| *z = f64::from(*f));
                    stable_softmax(&z, &mut p);
                    let y = f64::from(label[i] as usize == class);
                    // LightGBM's factor k / (k − 1) on the hessian.
                    (p[class] - y, (k as f64 / (k as f64 - 1.0) * p[class] * (1.0 - p[class])).max(1e-16))
                }
                Objective::Values(_) => (f64::from(f[i]) - label[i], 1.0),
            };
            out.copy_from_slice(&[g * weight[i], h * weight[i], 1.0]);
        }
    };
    let n = label.len();
    // Below this many rows handing work to the pool costs more than it saves.
    if threads < 2 || n < 4096 {
        return rows(0, &mut rs[..n * 3]);
    }
    let per = n.div_ceil(threads);
    rayon::scope(|sc| {
        for (t, chunk) in rs[..n * 3].chunks_mut(per * 3).enumerate() {
            sc.spawn(move |_| rows(t * per, chunk));
        }
    });
}

/// Mean loss of the validation rows at margins `f`.
fn valid_loss(obj: &Objective<'_>, split: &Split, f: &[f32], k: usize) -> f64 {
    let nv = split.valid.len() as f64;
    let mut z = vec![0.0; k];
    let mut p = vec![0.0; k];
    let total: f64 = split
        .valid
        .iter()
        .enumerate()
        .map(|(i, r)| match obj {
            Objective::Classes { y, k: 2, .. } => {
                let pr = (1.0 / (1.0 + (-f64::from(f[i])).exp())).clamp(1e-15, 1.0 - 1e-15);
                if y[*r] == 1 { -pr.ln() } else { -(1.0 - pr).ln() }
            }
            Objective::Classes { y, .. } => {
                z.iter_mut().zip(&f[i * k..(i + 1) * k]).for_each(|(z, f)| *z = f64::from(*f));
                stable_softmax(&z, &mut p);
                -p[y[*r]].max(1e-15).ln()
            }
            Objective::Values(v) => (f64::from(f[i]) - f64::from(v[*r])).powi(2),
        })
        .sum();
    total / nv
}
