//! Ridge linear regression by the normal equations (intercept unpenalized, via centering).

use crate::linalg::cholesky_solve;
use crate::onnx::Dense;

/// Fits `y ≈ x·w + b` on row-major `x` (`n × d`) with L2 penalty `l2`.
pub fn fit(x: &[f32], d: usize, y: &[f32], l2: f64) -> Dense {
    let n = y.len();
    let mut mean = vec![0.0f64; d];
    for r in 0..n {
        for j in 0..d {
            mean[j] += x[r * d + j] as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
    let ym = y.iter().map(|v| *v as f64).sum::<f64>() / n.max(1) as f64;
    let mut a = vec![0.0f64; d * d];
    let mut b = vec![0.0f64; d];
    let mut row = vec![0.0f64; d];
    for r in 0..n {
        for j in 0..d {
            row[j] = x[r * d + j] as f64 - mean[j];
        }
        let t = y[r] as f64 - ym;
        for i in 0..d {
            b[i] += row[i] * t;
            for j in 0..=i {
                a[i * d + j] += row[i] * row[j];
            }
        }
    }
    for i in 0..d {
        a[i * d + i] += l2.max(1e-9);
    }
    let w = cholesky_solve(&mut a, &b, d);
    let bias = ym - w.iter().zip(&mean).map(|(w, m)| w * m).sum::<f64>();
    Dense { inputs: d, outputs: 1, w: w.iter().map(|v| *v as f32).collect(), b: vec![bias as f32] }
}
