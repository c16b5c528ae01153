//! The statistics drift is measured with, over count vectors in the same bins: PSI and
//! Jensen–Shannon (the core's `profile::drift` adds Kolmogorov–Smirnov on raw values).

/// Smallest proportion a bin counts with in PSI.
pub const FLOOR: f64 = 1e-4;

/// Counts as proportions of their sum (all 0 for no counts).
pub fn proportions(counts: &[u64]) -> Vec<f64> {
    let n: u64 = counts.iter().sum();
    counts.iter().map(|c| if n == 0 { 0.0 } else { *c as f64 / n as f64 }).collect()
}

/// PSI between two count vectors over the same bins.
pub fn psi(expected: &[u64], actual: &[u64]) -> f64 {
    proportions(expected)
        .into_iter()
        .zip(proportions(actual))
        .map(|(e, a)| {
            let (e, a) = (e.max(FLOOR), a.max(FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// Jensen–Shannon divergence (base 2) between two count vectors over the same bins.
pub fn jensen_shannon(expected: &[u64], actual: &[u64]) -> f64 {
    let kl = |p: f64, m: f64| if p > 0.0 { p * (p / m).log2() } else { 0.0 };
    let js: f64 = proportions(expected)
        .into_iter()
        .zip(proportions(actual))
        .map(|(p, q)| {
            let m = (p + q) / 2.0;
            0.5 * kl(p, m) + 0.5 * kl(q, m)
        })
        .sum();
    js.clamp(0.0, 1.0)
}
