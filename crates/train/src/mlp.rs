//! Multi-layer perceptron: ReLU hidden layers, Adam, mini-batches, L2, early stopping on the
//! validation split (best weights restored), deterministic for a seed. Matrix products go through
//! `matrixmultiply`'s sgemm (pure Rust, SIMD) — a full ndarray/BLAS stack would cost more build
//! time than this file.
//!
//! The output layer has one unit for binary classification (sigmoid, log loss), K for multiclass
//! (softmax, cross-entropy) or one for regression (identity, squared error); the exported graph
//! ends in those pre-activation outputs.

use crate::Rng;
use crate::onnx::{Dense, Head};
use crate::progress::Progress;

/// MLP hyper-parameters (defaults follow scikit-learn's MLPClassifier where they exist).
#[derive(Debug, Clone)]
pub struct MlpOptions {
    pub hidden: Vec<usize>,
    pub learning_rate: f32,
    /// L2 penalty (sklearn's `alpha`).
    pub alpha: f32,
    pub batch_size: usize,
    pub max_epochs: usize,
    /// Stop after this many epochs without a validation improvement of at least `tol`.
    pub patience: usize,
    pub tol: f32,
    pub seed: u64,
}

impl Default for MlpOptions {
    fn default() -> Self {
        MlpOptions {
            hidden: vec![64, 32],
            learning_rate: 1e-3,
            alpha: 1e-4,
            batch_size: 200,
            max_epochs: 200,
            patience: 10,
            tol: 1e-4,
            seed: 42,
        }
    }
}

/// Training targets: class indices (with per-class weights) or values.
pub enum Targets<'a> {
    Classes { y: &'a [usize], k: usize, weights: &'a [f32] },
    Values(&'a [f32]),
}

impl Targets<'_> {
    fn outputs(&self) -> usize {
        match self {
            Targets::Classes { k: 2, .. } => 1,
            Targets::Classes { k, .. } => *k,
            Targets::Values(_) => 1,
        }
    }
    fn head(&self) -> Head {
        match self {
            Targets::Classes { k: 2, .. } => Head::Binary,
            Targets::Classes { .. } => Head::Softmax,
            Targets::Values(_) => Head::Regression,
        }
    }
}

/// What training did.
#[derive(Debug, Clone)]
pub struct MlpReport {
    pub epochs: usize,
    pub best_epoch: usize,
    pub best_valid_loss: f32,
}

/// `c (m×n) = a (m×k) · b (k×n)`, all row-major; `bt`/`at` read the transposed operand.
#[allow(clippy::too_many_arguments)]
fn gemm(m: usize, k: usize, n: usize, a: &[f32], at: bool, b: &[f32], bt: bool, c: &mut [f32], beta: f32) {
    let (rsa, csa) = if at { (1, m as isize) } else { (k as isize, 1) };
    let (rsb, csb) = if bt { (1, k as isize) } else { (n as isize, 1) };
    // SAFETY: the slices hold m·k, k·n and m·n elements for the strides given.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

struct Net {
    layers: Vec<Dense>,
}

impl Net {
    fn init(widths: &[usize], rng: &mut Rng) -> Net {
        let layers = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                // Glorot uniform, as scikit-learn (factor 6 for ReLU layers, 2 for the output).
                let factor = if i + 2 == widths.len() { 2.0 } else { 6.0 };
                let bound = (factor / (w[0] + w[1]) as f64).sqrt();
                let mut u = || ((rng.next_f64() * 2.0 - 1.0) * bound) as f32;
                Dense {
                    inputs: w[0],
                    outputs: w[1],
                    w: (0..w[0] * w[1]).map(|_| u()).collect(),
                    b: (0..w[1]).map(|_| u()).collect(),
                }
            })
            .collect();
        Net { layers }
    }

    /// Forward pass; returns every layer's activations (input first, pre-activation last).
    fn forward(&self, x: &[f32], n: usize) -> Vec<Vec<f32>> {
        let mut acts = vec![x.to_vec()];
        for (i, l) in self.layers.iter().enumerate() {
            let mut z = Vec::with_capacity(n * l.outputs);
            for _ in 0..n {
                z.extend_from_slice(&l.b);
            }
            gemm(n, l.inputs, l.outputs, acts.last().unwrap(), false, &l.w, false, &mut z, 1.0);
            if i + 1 < self.layers.len() {
                z.iter_mut().for_each(|v| *v = v.max(0.0));
            }
            acts.push(z);
        }
        acts
    }
}

/// Per-row loss and output gradient (d loss / d pre-activation) for a batch.
fn loss_and_delta(out: &[f32], rows: &[usize], targets: &Targets, delta: &mut [f32]) -> f32 {
    let w = out.len() / rows.len();
    let mut loss = 0.0f64;
    for (i, &r) in rows.iter().enumerate() {
        let o = &out[i * w..(i + 1) * w];
        let d = &mut delta[i * w..(i + 1) * w];
        match targets {
            Targets::Classes { y, k: 2, weights } => {
                let p = scorelet::link::sigmoid(o[0]).clamp(1e-7, 1.0 - 1e-7);
                let t = (y[r] == 1) as u8 as f32;
                let cw = weights[y[r]];
                loss += (cw * -(t * p.ln() + (1.0 - t) * (1.0 - p).ln())) as f64;
                d[0] = cw * (p - t);
            }
            Targets::Classes { y, weights, .. } => {
                let m = o.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let s: f32 = o.iter().map(|v| (v - m).exp()).sum();
                let cw = weights[y[r]];
                for (j, v) in o.iter().enumerate() {
                    let p = (v - m).exp() / s;
                    d[j] = cw * (p - (j == y[r]) as u8 as f32);
                    if j == y[r] {
                        loss -= (cw * p.max(1e-7).ln()) as f64;
                    }
                }
            }
            Targets::Values(v) => {
                let e = o[0] - v[r];
                loss += (0.5 * e * e) as f64;
                d[0] = e;
            }
        }
    }
    (loss / rows.len() as f64) as f32
}

fn gather(x: &[f32], d: usize, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        out.extend_from_slice(&x[r * d..(r + 1) * d]);
    }
    out
}

fn mean_loss(net: &Net, x: &[f32], d: usize, rows: &[usize], targets: &Targets) -> f32 {
    let mut total = 0.0f64;
    for chunk in rows.chunks(4096) {
        let xb = gather(x, d, chunk);
        let acts = net.forward(&xb, chunk.len());
        let out = acts.last().unwrap();
        let mut delta = vec![0.0; out.len()];
        total += loss_and_delta(out, chunk, targets, &mut delta) as f64 * chunk.len() as f64;
    }
    (total / rows.len().max(1) as f64) as f32
}

/// Trains on rows `train` of `x` (row-major, `d` wide), early-stopping on `valid`.
pub fn train(
    x: &[f32],
    d: usize,
    train: &[usize],
    valid: &[usize],
    targets: &Targets,
    opt: &MlpOptions,
    progress: &Progress,
) -> Result<(Vec<Dense>, Head, MlpReport), crate::TrainError> {
    let mut rng = Rng(opt.seed);
    let mut widths = vec![d];
    widths.extend_from_slice(&opt.hidden);
    widths.push(targets.outputs());
    let mut net = Net::init(&widths, &mut rng);
    let mut m: Vec<(Vec<f32>, Vec<f32>)> =
        net.layers.iter().map(|l| (vec![0.0; l.w.len()], vec![0.0; l.b.len()])).collect();
    let mut v = m.clone();
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let mut step = 0i32;
    let mut order: Vec<usize> = train.to_vec();
    let (mut best, mut best_epoch, mut since) = (f32::INFINITY, 0, 0);
    let mut best_layers = net.layers.clone();
    let mut epochs = 0;
    progress.start("training MLP", opt.max_epochs as u64);
    for epoch in 0..opt.max_epochs {
        progress.check_interrupted()?;
        epochs = epoch + 1;
        rng.shuffle(&mut order);
        for batch in order.chunks(opt.batch_size.max(1)) {
            let n = batch.len();
            let xb = gather(x, d, batch);
            let acts = net.forward(&xb, n);
            let mut delta = vec![0.0; acts.last().unwrap().len()];
            loss_and_delta(acts.last().unwrap(), batch, targets, &mut delta);
            step += 1;
            let lr = opt.learning_rate * (1.0 - b2.powi(step)).sqrt() / (1.0 - b1.powi(step));
            for li in (0..net.layers.len()).rev() {
                let l = &net.layers[li];
                let a = &acts[li];
                // Gradients: dW = aᵀ·δ / n + α W, db = Σδ / n.
                let mut gw = vec![0.0; l.w.len()];
                gemm(l.inputs, n, l.outputs, a, true, &delta, false, &mut gw, 0.0);
                let mut gb = vec![0.0; l.outputs];
                for r in 0..n {
                    for (o, g) in gb.iter_mut().enumerate() {
                        *g += delta[r * l.outputs + o];
                    }
                }
                let inv = 1.0 / n as f32;
                for (g, w) in gw.iter_mut().zip(&l.w) {
                    *g = *g * inv + opt.alpha * w;
                }
                gb.iter_mut().for_each(|g| *g *= inv);
                // δ for the layer below (before its ReLU): δ · Wᵀ, masked where it was off.
                let prev = if li > 0 {
                    let mut p = vec![0.0; n * l.inputs];
                    gemm(n, l.outputs, l.inputs, &delta, false, &l.w, true, &mut p, 0.0);
                    for (pv, av) in p.iter_mut().zip(a) {
                        if *av <= 0.0 {
                            *pv = 0.0;
                        }
                    }
                    Some(p)
                } else {
                    None
                };
                let l = &mut net.layers[li];
                let (mw, mb) = &mut m[li];
                let (vw, vb) = &mut v[li];
                for (((w, g), mm), vv) in l.w.iter_mut().zip(&gw).zip(mw.iter_mut()).zip(vw.iter_mut()) {
                    *mm = b1 * *mm + (1.0 - b1) * g;
                    *vv = b2 * *vv + (1.0 - b2) * g * g;
                    *w -= lr * *mm / (vv.sqrt() + eps);
                }
                for (((w, g), mm), vv) in l.b.iter_mut().zip(&gb).zip(mb.iter_mut()).zip(vb.iter_mut()) {
                    *mm = b1 * *mm + (1.0 - b1) * g;
                    *vv = b2 * *vv + (1.0 - b2) * g * g;
                    *w -= lr * *mm / (vv.sqrt() + eps);
                }
                if let Some(p) = prev {
                    delta = p;
                }
            }
        }
        let vl = mean_loss(&net, x, d, if valid.is_empty() { train } else { valid }, targets);
        if !vl.is_finite() {
            return Err(crate::TrainError::Training(
                "the MLP diverged (loss is not finite); lower the learning rate".into(),
            ));
        }
        if vl < best - opt.tol {
            best = vl;
            best_epoch = epoch + 1;
            best_layers = net.layers.clone();
            since = 0;
        } else {
            since += 1;
        }
        progress.set(epochs as u64, &format!("epoch {epochs} valid loss {vl:.4} (best {best:.4} @ {best_epoch})"));
        if since >= opt.patience {
            break;
        }
    }
    progress.finish();
    Ok((best_layers, targets.head(), MlpReport { epochs, best_epoch, best_valid_loss: best }))
}
