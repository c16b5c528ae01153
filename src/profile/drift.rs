//! Drift statistics: new data's [`Histogram`] against the training [`Profile`].
//!
//! - **PSI** (population stability index), Σ (a − e) ln(a / e) over the bins with the missing
//!   and unreadable cells as bins of their own, proportions floored at [`FLOOR`] so an empty bin
//!   stays finite. The usual reading: below 0.1 stable, 0.1–0.25 a shift, above 0.25 a change.
//! - **Jensen–Shannon** divergence on the same bins, base 2 (0 = same, 1 = disjoint).
//! - **Kolmogorov–Smirnov** for numeric columns: the largest gap between the new values'
//!   empirical CDF and the training CDF, which the profile keeps as 101 quantiles (so D is
//!   exact to about 0.01), with the asymptotic p-value.

use super::{ColumnProfile, Distribution, Histogram, Profile};

pub use scorelet_metrics::stats::{FLOOR, jensen_shannon, proportions, psi};

/// One column's drift.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ColumnDrift {
    pub column: String,
    /// `numeric`, `categorical` or `boolean`.
    pub kind: &'static str,
    pub psi: f64,
    pub js: f64,
    /// Kolmogorov–Smirnov D and its p-value (numeric columns with values kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ks: Option<(f64, f64)>,
    /// Missing share in training and in the new data.
    pub missing: (f64, f64),
    /// Share outside the profile's categories (categorical columns): training's tail, and the
    /// new data's tail plus categories never seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other: Option<(f64, f64)>,
    /// Share of new cells the column could not read (text in a numeric column, …).
    pub invalid: f64,
    /// The bins' names and proportions (training, new), for reports.
    #[serde(skip)]
    pub bins: Vec<(String, f64, f64)>,
}

/// The training CDF at `x` from 101 quantiles; `strict` gives P(X < x) instead of P(X <= x).
fn training_cdf(q: &[f32], x: f32, strict: bool) -> f64 {
    let last = (q.len() - 1) as f64;
    let i = if strict { q.partition_point(|v| *v < x) } else { q.partition_point(|v| *v <= x) };
    if i == 0 {
        return 0.0;
    }
    if i == q.len() {
        return 1.0;
    }
    // q[i − 1] <(=) x < q[i]: interpolate inside the percentile step.
    let (lo, hi) = (q[i - 1], q[i]);
    let frac = if hi > lo { f64::from((x - lo) / (hi - lo)) } else { 0.0 };
    ((i - 1) as f64 + frac) / last
}

/// Kolmogorov–Smirnov D between `values` and the training `quantiles` (from `n_train` rows),
/// and the asymptotic p-value. `values` is sorted in place.
pub fn kolmogorov_smirnov(quantiles: &[f32], n_train: u64, values: &mut [f32]) -> (f64, f64) {
    if quantiles.is_empty() || values.is_empty() {
        return (0.0, 1.0);
    }
    values.sort_unstable_by(f32::total_cmp);
    let m = values.len() as f64;
    let mut d: f64 = 0.0;
    let mut i = 0;
    while i < values.len() {
        let x = values[i];
        let mut j = i;
        while j < values.len() && values[j] == x {
            j += 1;
        }
        // Just below x and at x, for both CDFs.
        d = d.max((i as f64 / m - training_cdf(quantiles, x, true)).abs());
        d = d.max((j as f64 / m - training_cdf(quantiles, x, false)).abs());
        i = j;
    }
    let n = n_train.max(1) as f64;
    let en = (n * m / (n + m)).sqrt();
    let lambda = (en + 0.12 + 0.11 / en) * d;
    let p: f64 = (1..=100)
        .map(|k| {
            let k = f64::from(k);
            let sign = if k as u32 % 2 == 1 { 1.0 } else { -1.0 };
            sign * 2.0 * (-2.0 * k * k * lambda * lambda).exp()
        })
        .sum();
    (d, if lambda < 0.2 { 1.0 } else { p.clamp(0.0, 1.0) })
}

/// Drift of one column: the training profile `c` against the new counts (bins, missing,
/// invalid) and, for numeric columns, the new values.
pub fn column_drift(c: &ColumnProfile, counts: &[u64], values: Option<&mut [f32]>, n_train: u64) -> ColumnDrift {
    let mut train = c.dist.counts();
    train.extend([c.missing, 0]);
    let n_new: u64 = counts.iter().sum();
    let share = |x: u64, n: u64| if n == 0 { 0.0 } else { x as f64 / n as f64 };
    let n_train_cells: u64 = train.iter().sum();
    let bins = c.dist.bin_names().into_iter().chain(["(missing)".to_string(), "(unreadable)".to_string()]);
    let (pt, pn) = (proportions(&train), proportions(counts));
    let (kind, ks, other) = match &c.dist {
        Distribution::Numeric { quantiles, .. } => {
            ("numeric", values.map(|v| kolmogorov_smirnov(quantiles, n_train, v)), None)
        }
        Distribution::Categorical { other, .. } => {
            let k = counts.len() - 3;
            ("categorical", None, Some((share(*other, n_train_cells), share(counts[k], n_new))))
        }
        Distribution::Boolean { .. } => ("boolean", None, None),
    };
    ColumnDrift {
        column: c.name.clone(),
        kind,
        psi: psi(&train, counts),
        js: jensen_shannon(&train, counts),
        ks,
        missing: (share(c.missing, n_train_cells), share(counts[counts.len() - 2], n_new)),
        other,
        invalid: share(counts[counts.len() - 1], n_new),
        bins: bins.zip(pt.into_iter().zip(pn)).map(|(b, (t, n))| (b, t, n)).collect(),
    }
}

/// Drift of every column of `hist` against `profile`, in the histogram's column order.
pub fn compare(profile: &Profile, hist: &mut Histogram) -> Vec<ColumnDrift> {
    let keep = hist.keep_values;
    hist.bins
        .readers
        .iter()
        .zip(&hist.counts)
        .zip(&mut hist.values)
        .filter_map(|((r, counts), values)| {
            let c = profile.column(&r.name)?;
            Some(column_drift(c, counts, keep.then_some(values.as_mut_slice()), profile.rows))
        })
        .collect()
}

/// A score as the profile's score distribution counts it.
#[derive(Debug, Clone, PartialEq)]
pub enum Score {
    /// A probability or a value.
    Number(f32),
    /// A predicted class.
    Label(String),
}

impl Score {
    /// The score of a prediction: the positive class's probability, the value, or the class.
    pub fn of(p: &crate::prediction::Prediction) -> Score {
        use crate::prediction::Prediction;
        match p {
            Prediction::Binary { probability, .. } => Score::Number(*probability),
            Prediction::Regression { value, .. } => Score::Number(*value),
            Prediction::Multiclass { label, .. } => Score::Label(label.clone()),
        }
    }
}

/// Drift of the scores against the holdout's.
pub fn score_drift(profile: &Profile, scores: &[Score]) -> ColumnDrift {
    let c = &profile.scores;
    let mut counts = vec![0u64; c.dist.bins() + 2];
    let mut values = Vec::new();
    for s in scores {
        if let Score::Number(x) = s
            && x.is_finite()
        {
            values.push(*x);
        }
        counts[super::score_bin(&c.dist, s)] += 1;
    }
    let n_holdout = c.dist.counts().iter().sum::<u64>() + c.missing;
    column_drift(c, &counts, Some(&mut values), n_holdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn psi_and_js_are_zero_for_the_same_distribution_and_grow_with_a_shift() {
        let e = [100, 200, 300, 400];
        assert!(psi(&e, &[10, 20, 30, 40]).abs() < 1e-12);
        assert!(jensen_shannon(&e, &[10, 20, 30, 40]).abs() < 1e-12);
        // A textbook value: 0.1/0.9 against 0.5/0.5.
        let want = (0.5 - 0.1) * (0.5f64 / 0.1).ln() + (0.5 - 0.9) * (0.5f64 / 0.9).ln();
        assert!((psi(&[1, 9], &[5, 5]) - want).abs() < 1e-12);
        assert!((jensen_shannon(&[1, 0], &[0, 1]) - 1.0).abs() < 1e-12, "disjoint: 1 bit");
        // An empty bin stays finite.
        assert!(psi(&[1, 0], &[1, 1]).is_finite());
    }

    #[test]
    fn kolmogorov_smirnov_tells_a_shift_from_a_resample() {
        let train: Vec<f32> = (0..10_000).map(|i| (i as f32 * 0.618_034).fract()).collect();
        let p = super::super::numeric_profile("x", train, 0);
        let Distribution::Numeric { quantiles, .. } = &p.dist else { panic!() };
        let mut same: Vec<f32> = (0..2_000).map(|i| (i as f32 * 0.414_213_5).fract()).collect();
        let (d, pv) = kolmogorov_smirnov(quantiles, 10_000, &mut same);
        assert!(d < 0.03 && pv > 0.05, "d {d} p {pv}");
        let mut shifted: Vec<f32> = same.iter().map(|x| x + 0.2).collect();
        let (d, pv) = kolmogorov_smirnov(quantiles, 10_000, &mut shifted);
        assert!((d - 0.2).abs() < 0.02 && pv < 1e-6, "d {d} p {pv}");
    }
}
