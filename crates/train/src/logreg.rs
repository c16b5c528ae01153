//! Binary logistic regression with L2, fitted by Newton's method (iteratively reweighted least
//! squares) with a Cholesky solve: a few exact second-order steps on the d×d Hessian, which for
//! tabular widths (tens to hundreds of features) converges in < 15 iterations. Written here
//! rather than taken from a crate because linfa/smartcore pull BLAS or ndarray stacks that cost
//! more build time than these 80 lines.

use crate::onnx::Dense;

/// Fitting options.
#[derive(Debug, Clone, Copy)]
pub struct LogRegOptions {
    /// L2 penalty on weights (not on the intercept), as sklearn's `1 / C`.
    pub l2: f64,
    pub max_iter: usize,
    /// Stop when the largest Newton step is below this.
    pub tol: f64,
    /// Weight of the positive class relative to the negative (class weights).
    pub positive_weight: f64,
}

impl Default for LogRegOptions {
    fn default() -> Self {
        LogRegOptions { l2: 1.0, max_iter: 50, tol: 1e-8, positive_weight: 1.0 }
    }
}

/// A fitted binary logistic regression.
#[derive(Debug, Clone, PartialEq)]
pub struct LogReg {
    pub weights: Vec<f64>,
    pub intercept: f64,
    pub iterations: usize,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl LogReg {
    /// Fits on row-major `x` (`n × d`) and 0/1 labels `y`.
    pub fn fit(x: &[f32], d: usize, y: &[bool], opt: LogRegOptions) -> LogReg {
        let n = y.len();
        assert_eq!(x.len(), n * d);
        let p = d + 1; // intercept last
        let mut beta = vec![0.0f64; p];
        let mut iterations = 0;
        for it in 0..opt.max_iter {
            iterations = it + 1;
            let mut grad = vec![0.0f64; p];
            let mut hess = vec![0.0f64; p * p];
            let mut row = vec![0.0f64; p];
            for i in 0..n {
                for j in 0..d {
                    row[j] = x[i * d + j] as f64;
                }
                row[d] = 1.0;
                let z: f64 = row.iter().zip(&beta).map(|(a, b)| a * b).sum();
                let mu = sigmoid(z);
                let w = if y[i] { opt.positive_weight } else { 1.0 };
                let r = w * (mu - y[i] as u8 as f64);
                let s = w * (mu * (1.0 - mu)).max(1e-12);
                for a in 0..p {
                    grad[a] += r * row[a];
                    let sa = s * row[a];
                    for b in 0..=a {
                        hess[a * p + b] += sa * row[b];
                    }
                }
            }
            for a in 0..d {
                grad[a] += opt.l2 * beta[a];
                hess[a * p + a] += opt.l2;
            }
            hess[d * p + d] += 1e-9;
            let step = cholesky_solve(&mut hess, &grad, p);
            let mut max = 0.0f64;
            for (b, s) in beta.iter_mut().zip(&step) {
                *b -= s;
                max = max.max(s.abs());
            }
            if max < opt.tol {
                break;
            }
        }
        LogReg { intercept: beta[d], weights: beta[..d].to_vec(), iterations }
    }

    /// Probability of the positive class.
    pub fn predict_proba(&self, row: &[f32]) -> f64 {
        sigmoid(self.intercept + row.iter().zip(&self.weights).map(|(a, b)| *a as f64 * b).sum::<f64>())
    }

    /// The model as one dense layer for ONNX export.
    pub fn to_dense(&self) -> Dense {
        Dense {
            inputs: self.weights.len(),
            outputs: 1,
            w: self.weights.iter().map(|w| *w as f32).collect(),
            b: vec![self.intercept as f32],
        }
    }
}

/// Solves `A x = b` for symmetric positive-definite `A` whose lower triangle is filled.
fn cholesky_solve(a: &mut [f64], b: &[f64], p: usize) -> Vec<f64> {
    for j in 0..p {
        let mut s = a[j * p + j];
        for k in 0..j {
            s -= a[j * p + k] * a[j * p + k];
        }
        let djj = s.max(1e-12).sqrt();
        a[j * p + j] = djj;
        for i in j + 1..p {
            let mut s = a[i * p + j];
            for k in 0..j {
                s -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = s / djj;
        }
    }
    let mut y = b.to_vec();
    for i in 0..p {
        for k in 0..i {
            y[i] -= a[i * p + k] * y[k];
        }
        y[i] /= a[i * p + i];
    }
    for i in (0..p).rev() {
        for k in i + 1..p {
            y[i] -= a[k * p + i] * y[k];
        }
        y[i] /= a[i * p + i];
    }
    y
}
