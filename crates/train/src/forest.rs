//! Random forests (`--model random-forest`), Breiman's recipe as scikit-learn's
//! `RandomForestClassifier`/`Regressor` implement it: every tree on a bootstrap sample (drawn
//! counts become row weights), `max_features` candidates drawn at every node, grown until
//! `max_depth` or `min_samples_leaf`; Gini or entropy for classes (leaves hold class
//! probabilities), variance for values. The forest averages its trees' leaves, so its output is
//! already a probability (or value): the bundle's link is the identity. Splits are found on the
//! same binned features as the boosted trees (at most 255 thresholds per feature).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::Rng;
use crate::progress::Progress;
use crate::tree::{self, Bins, Criterion, Growth, Tree};
use crate::{Split, TrainError};

/// Split criterion of classification forests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impurity {
    Gini,
    Entropy,
}

/// Options of the forest (scikit-learn's defaults, except `max_depth`: the seed's 10).
#[derive(Debug, Clone)]
pub struct ForestOptions {
    pub n_trees: usize,
    /// 0: unlimited.
    pub max_depth: usize,
    /// Candidate features per node; `None`: √d for classification, d for regression (sklearn).
    pub max_features: Option<usize>,
    pub min_samples_leaf: usize,
    pub criterion: Impurity,
    pub bootstrap: bool,
    pub max_bins: usize,
    pub seed: u64,
}

impl Default for ForestOptions {
    fn default() -> Self {
        ForestOptions {
            n_trees: 100,
            max_depth: 10,
            max_features: None,
            min_samples_leaf: 1,
            criterion: Impurity::Gini,
            bootstrap: true,
            max_bins: 255,
            seed: 42,
        }
    }
}

/// A fitted forest: each leaf holds one value per output (class probabilities, or the value).
#[derive(Debug, Clone)]
pub struct Forest {
    pub trees: Vec<Tree>,
    pub outputs: usize,
}

/// Class counts `[c₀ … c_{k−1}, n]`: score `Σ cᵢ² / n` (Gini) or `Σ cᵢ ln(cᵢ / n)` (entropy).
struct Classes {
    k: usize,
    impurity: Impurity,
    min_leaf: f64,
}

impl Criterion for Classes {
    fn width(&self) -> usize {
        self.k + 1
    }
    fn score(&self, s: &[f64]) -> f64 {
        let n = s[self.k];
        if n <= 0.0 {
            return 0.0;
        }
        match self.impurity {
            Impurity::Gini => s[..self.k].iter().map(|c| c * c).sum::<f64>() / n,
            Impurity::Entropy => s[..self.k].iter().filter(|c| **c > 0.0).map(|c| c * (c / n).ln()).sum(),
        }
    }
    fn admissible(&self, s: &[f64]) -> bool {
        s[self.k] >= self.min_leaf
    }
    fn leaf(&self, s: &[f64]) -> Vec<f32> {
        let n = s[self.k].max(f64::MIN_POSITIVE);
        s[..self.k].iter().map(|c| (c / n) as f32).collect()
    }
}

/// `[Σy, 0, n]` (three statistics: the width the histogram pass is unrolled for): score
/// `(Σy)² / n` (variance reduction), leaf the mean.
struct Variance {
    min_leaf: f64,
}

impl Criterion for Variance {
    fn width(&self) -> usize {
        3
    }
    fn score(&self, s: &[f64]) -> f64 {
        if s[2] > 0.0 { s[0] * s[0] / s[2] } else { 0.0 }
    }
    fn admissible(&self, s: &[f64]) -> bool {
        s[2] >= self.min_leaf
    }
    fn leaf(&self, s: &[f64]) -> Vec<f32> {
        vec![if s[2] > 0.0 { (s[0] / s[2]) as f32 } else { 0.0 }]
    }
}

/// What the forest predicts.
pub enum Target<'a> {
    Classes { y: &'a [usize], k: usize, weights: &'a [f32] },
    Values(&'a [f32]),
}

/// Trains on the split's train rows of `x` (row-major, `d` wide).
pub fn train(
    x: &[f32],
    d: usize,
    split: &Split,
    target: &Target<'_>,
    o: &ForestOptions,
    progress: &Progress,
) -> Result<Forest, TrainError> {
    if o.n_trees == 0 || o.min_samples_leaf == 0 {
        return Err(TrainError::Options("a forest needs n_trees ≥ 1 and min_samples_leaf ≥ 1".into()));
    }
    let n = split.train.len();
    let train_x: Vec<f32> = split.train.iter().flat_map(|r| x[r * d..(r + 1) * d].iter().copied()).collect();
    let all: Vec<usize> = (0..n).collect();
    let bins = Bins::fit(&train_x, d, &all, o.max_bins);
    let binned = bins.apply(&train_x, d);
    let features: Vec<usize> = (0..d).collect();
    let classification = matches!(target, Target::Classes { .. });
    let m = o.max_features.unwrap_or(if classification { (d as f64).sqrt() as usize } else { d }).clamp(1, d);
    let growth = Growth { max_leaves: usize::MAX, max_depth: o.max_depth, per_node: Some(m), threads: 1 };
    let min_leaf = o.min_samples_leaf as f64;
    // Trees are independent: each worker grows every `threads`-th tree from its own seed, so
    // the forest is the same whatever the core count.
    let threads = tree::threads().min(o.n_trees);
    progress.start("growing trees", o.n_trees as u64);
    let done = AtomicUsize::new(0);
    let grow_one = |t: usize| -> Tree {
        let mut rng = Rng(o.seed ^ (t as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x666f_7265);
        // Bootstrap counts as row weights.
        let mut count = vec![0u32; n];
        if o.bootstrap {
            for _ in 0..n {
                count[(rng.next_u64() % n as u64) as usize] += 1;
            }
        } else {
            count.fill(1);
        }
        let rows: Vec<u32> = (0..n as u32).filter(|i| count[*i as usize] > 0).collect();
        match target {
            Target::Classes { y, k, weights } => {
                let s = k + 1;
                let mut rs = vec![0.0; n * s];
                for (i, r) in split.train.iter().enumerate() {
                    let w = f64::from(count[i]) * f64::from(weights[y[*r]]);
                    rs[i * s + y[*r]] = w;
                    rs[i * s + k] = w;
                }
                let crit = Classes { k: *k, impurity: o.criterion, min_leaf };
                tree::grow(&binned, &rs, &rows, &features, &crit, &growth, &mut rng).tree
            }
            Target::Values(v) => {
                let mut rs = vec![0.0; n * 3];
                for (i, r) in split.train.iter().enumerate() {
                    let w = f64::from(count[i]);
                    rs[i * 3] = w * f64::from(v[*r]);
                    rs[i * 3 + 2] = w;
                }
                tree::grow(&binned, &rs, &rows, &features, &Variance { min_leaf }, &growth, &mut rng).tree
            }
        }
    };
    let mut trees: Vec<Option<Tree>> = vec![None; o.n_trees];
    let interrupted = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let mut slots: Vec<Vec<(usize, &mut Option<Tree>)>> = (0..threads).map(|_| Vec::new()).collect();
        for (t, slot) in trees.iter_mut().enumerate() {
            slots[t % threads].push((t, slot));
        }
        let handles: Vec<_> = slots
            .into_iter()
            .map(|mine| {
                let (grow_one, done, interrupted) = (&grow_one, &done, &interrupted);
                sc.spawn(move || {
                    for (t, slot) in mine {
                        if interrupted.load(Ordering::Relaxed) {
                            return;
                        }
                        *slot = Some(grow_one(t));
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        while !handles.iter().all(|h| h.is_finished()) {
            if progress.check_interrupted().is_err() {
                interrupted.store(true, Ordering::Relaxed);
            }
            let k = done.load(Ordering::Relaxed);
            progress.set(k as u64, &format!("{k} trees"));
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    progress.finish();
    progress.check_interrupted()?;
    let outputs = match target {
        Target::Classes { k, .. } => *k,
        Target::Values(_) => 1,
    };
    let trees: Option<Vec<Tree>> = trees.into_iter().collect();
    let trees = trees.ok_or_else(|| TrainError::Training("a tree was not grown (a worker thread failed)".into()))?;
    Ok(Forest { trees, outputs })
}
