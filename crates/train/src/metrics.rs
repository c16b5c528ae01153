//! Holdout metrics for binary classifiers.

use std::collections::BTreeMap;

/// ROC-AUC by the rank-sum (Mann–Whitney U) formula, ties averaged.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[idx[k]] = r;
        }
        i = j + 1;
    }
    let pos = labels.iter().filter(|l| **l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    let sum: f64 = ranks.iter().zip(labels).filter(|(_, l)| **l).map(|(r, _)| r).sum();
    (sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// ROC-AUC, accuracy, log loss and Brier score at `threshold`.
pub fn binary_metrics(scores: &[f64], labels: &[bool], threshold: f64) -> BTreeMap<String, f64> {
    let n = scores.len().max(1) as f64;
    let eps = 1e-15;
    let acc = scores.iter().zip(labels).filter(|(s, l)| (**s >= threshold) == **l).count() as f64 / n;
    let ll = scores
        .iter()
        .zip(labels)
        .map(|(s, l)| {
            let p = s.clamp(eps, 1.0 - eps);
            if *l { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum::<f64>()
        / n;
    let brier = scores.iter().zip(labels).map(|(s, l)| (s - *l as u8 as f64).powi(2)).sum::<f64>() / n;
    BTreeMap::from([
        ("roc_auc".to_string(), roc_auc(scores, labels)),
        ("accuracy".to_string(), acc),
        ("log_loss".to_string(), ll),
        ("brier".to_string(), brier),
    ])
}
