//! Small dense linear algebra for the solvers: a Cholesky solve and L-BFGS. Hand-written because
//! the systems are tiny (a few hundred unknowns) and a LAPACK binding would dominate build time.

/// Solves `A x = b` for symmetric positive-definite `A` (row-major `p × p`, lower triangle read).
/// `A` is overwritten by its Cholesky factor.
pub fn cholesky_solve(a: &mut [f64], b: &[f64], p: usize) -> Vec<f64> {
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

/// Minimizes `f` (returning value and gradient) from `x` with L-BFGS (memory 10) and a
/// backtracking Armijo line search. Returns the iterations used.
pub fn lbfgs(x: &mut [f64], max_iter: usize, tol: f64, mut f: impl FnMut(&[f64], &mut [f64]) -> f64) -> usize {
    let n = x.len();
    let mem = 10;
    let mut g = vec![0.0; n];
    let mut fx = f(x, &mut g);
    let (mut s_hist, mut y_hist, mut rho): (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<f64>) = (vec![], vec![], vec![]);
    let mut iters = 0;
    for it in 0..max_iter {
        iters = it + 1;
        let gnorm = g.iter().map(|v| v * v).sum::<f64>().sqrt();
        if gnorm < tol {
            break;
        }
        // Two-loop recursion: d = -H g.
        let mut q = g.clone();
        let mut alpha = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            alpha[i] = rho[i] * dot(&s_hist[i], &q);
            axpy(-alpha[i], &y_hist[i], &mut q);
        }
        if let (Some(s), Some(y)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, y) / dot(y, y);
            q.iter_mut().for_each(|v| *v *= gamma);
        }
        for i in 0..s_hist.len() {
            let beta = rho[i] * dot(&y_hist[i], &q);
            axpy(alpha[i] - beta, &s_hist[i], &mut q);
        }
        let d: Vec<f64> = q.iter().map(|v| -v).collect();
        let slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction: restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            rho.clear();
            continue;
        }
        let mut t = if s_hist.is_empty() { 1.0 / gnorm.max(1.0) } else { 1.0 };
        let mut xn = vec![0.0; n];
        let mut gn = vec![0.0; n];
        let mut fnew;
        loop {
            for i in 0..n {
                xn[i] = x[i] + t * d[i];
            }
            fnew = f(&xn, &mut gn);
            if fnew <= fx + 1e-4 * t * slope || t < 1e-12 {
                break;
            }
            t *= 0.5;
        }
        let s: Vec<f64> = xn.iter().zip(x.iter()).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = gn.iter().zip(&g).map(|(a, b)| a - b).collect();
        let sy = dot(&s, &y);
        x.copy_from_slice(&xn);
        g.copy_from_slice(&gn);
        let improvement = fx - fnew;
        fx = fnew;
        if sy > 1e-12 {
            if s_hist.len() == mem {
                s_hist.remove(0);
                y_hist.remove(0);
                rho.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
            rho.push(1.0 / sy);
        }
        if improvement.abs() < tol * fx.abs().max(1.0) * 1e-3 {
            break;
        }
    }
    iters
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn axpy(a: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_a_symmetric_positive_definite_system() {
        // A = [[4, 2, 0.4], [2, 5, 1], [0.4, 1, 3]], x = [1, -2, 0.5].
        let a = [4.0, 2.0, 0.4, 2.0, 5.0, 1.0, 0.4, 1.0, 3.0];
        let x = [1.0, -2.0, 0.5];
        let b: Vec<f64> = (0..3).map(|i| (0..3).map(|k| a[i * 3 + k] * x[k]).sum()).collect();
        let got = cholesky_solve(&mut a.clone(), &b, 3);
        for (g, w) in got.iter().zip(x) {
            assert!((g - w).abs() < 1e-12, "{got:?}");
        }
    }

    #[test]
    fn lbfgs_finds_the_minimum_of_the_rosenbrock_function() {
        let mut x = [-1.2, 1.0];
        let iters = lbfgs(&mut x, 500, 1e-10, |x, g| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
        });
        assert!((x[0] - 1.0).abs() < 1e-4 && (x[1] - 1.0).abs() < 1e-4, "{x:?} after {iters} iterations");
        assert!(iters < 500, "converged before the limit");
    }
}
