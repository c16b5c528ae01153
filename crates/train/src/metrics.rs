//! Holdout metrics. Binary: ROC-AUC, PR-AUC (average precision), log loss, Brier score,
//! accuracy, F1, precision and recall at the threshold, confusion matrix. Multiclass: accuracy,
//! log loss, macro F1, one-vs-rest ROC-AUC, per-class precision/recall and the confusion matrix.
//! Regression: RMSE, MAE, R².

use std::collections::BTreeMap;

/// Metric name → value, as stored in the manifest.
pub type Metrics = BTreeMap<String, f64>;

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
        for k in &idx[i..=j] {
            ranks[*k] = r;
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

/// Points of a curve, for the report.
pub type Curve = Vec<(f64, f64)>;

/// Distinct thresholds in descending score order, with cumulative (tp, fp) counts.
fn sweep(scores: &[f64], labels: &[bool]) -> Vec<(f64, f64, f64)> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*b].total_cmp(&scores[*a]));
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut out = Vec::new();
    for (n, &i) in idx.iter().enumerate() {
        if labels[i] {
            tp += 1.0
        } else {
            fp += 1.0
        }
        if n + 1 == idx.len() || scores[idx[n + 1]] != scores[i] {
            out.push((scores[i], tp, fp));
        }
    }
    out
}

/// ROC curve: (false positive rate, true positive rate).
pub fn roc_curve(scores: &[f64], labels: &[bool]) -> Curve {
    let pos = labels.iter().filter(|l| **l).count().max(1) as f64;
    let neg = (labels.len() as f64 - pos).max(1.0);
    let mut c = vec![(0.0, 0.0)];
    c.extend(sweep(scores, labels).into_iter().map(|(_, tp, fp)| (fp / neg, tp / pos)));
    c
}

/// Precision-recall curve: (recall, precision).
pub fn pr_curve(scores: &[f64], labels: &[bool]) -> Curve {
    let pos = labels.iter().filter(|l| **l).count().max(1) as f64;
    sweep(scores, labels).into_iter().map(|(_, tp, fp)| (tp / pos, tp / (tp + fp))).collect()
}

/// Average precision: Σ (Rₙ − Rₙ₋₁) Pₙ over thresholds (scikit-learn's definition).
pub fn average_precision(scores: &[f64], labels: &[bool]) -> f64 {
    let mut prev = 0.0;
    pr_curve(scores, labels)
        .into_iter()
        .map(|(r, p)| {
            let a = (r - prev) * p;
            prev = r;
            a
        })
        .sum()
}

/// Calibration: per score decile bin, (mean score, observed positive rate, count).
pub fn calibration(scores: &[f64], labels: &[bool], bins: usize) -> Vec<(f64, f64, usize)> {
    let mut acc = vec![(0.0, 0.0, 0usize); bins];
    for (s, l) in scores.iter().zip(labels) {
        let b = ((s * bins as f64) as usize).min(bins - 1);
        acc[b].0 += s;
        acc[b].1 += *l as u8 as f64;
        acc[b].2 += 1;
    }
    acc.into_iter().filter(|a| a.2 > 0).map(|(s, p, n)| (s / n as f64, p / n as f64, n)).collect()
}

/// Binary metrics of P(positive) `scores` at `threshold`.
pub fn binary(scores: &[f64], labels: &[bool], threshold: f64) -> Metrics {
    let n = scores.len().max(1) as f64;
    let eps = 1e-15;
    let (mut tp, mut fp, mut tn, mut fneg) = (0.0, 0.0, 0.0, 0.0);
    for (s, l) in scores.iter().zip(labels) {
        match (*s >= threshold, *l) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, false) => tn += 1.0,
            (false, true) => fneg += 1.0,
        }
    }
    let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
    let recall = if tp + fneg > 0.0 { tp / (tp + fneg) } else { 0.0 };
    let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
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
        ("roc_auc".into(), roc_auc(scores, labels)),
        ("pr_auc".into(), average_precision(scores, labels)),
        ("log_loss".into(), ll),
        ("brier".into(), brier),
        ("accuracy".into(), (tp + tn) / n),
        ("f1".into(), f1),
        ("precision".into(), precision),
        ("recall".into(), recall),
        ("threshold".into(), threshold),
        ("tp".into(), tp),
        ("fp".into(), fp),
        ("tn".into(), tn),
        ("fn".into(), fneg),
    ])
}

/// Multiclass metrics of per-class probabilities (`probs[i]` has one value per class).
pub fn multiclass(probs: &[Vec<f64>], y: &[usize], classes: &[String]) -> Metrics {
    let k = classes.len();
    let n = y.len().max(1) as f64;
    let mut confusion = vec![vec![0usize; k]; k];
    let mut ll = 0.0;
    for (p, &t) in probs.iter().zip(y) {
        let pred = scorelet::prediction::arg_max(&p[..k]);
        confusion[t][pred] += 1;
        ll -= p[t].clamp(1e-15, 1.0).ln();
    }
    let mut m = Metrics::new();
    let correct: usize = (0..k).map(|c| confusion[c][c]).sum();
    m.insert("accuracy".into(), correct as f64 / n);
    m.insert("log_loss".into(), ll / n);
    let (mut f1_sum, mut auc_sum) = (0.0, 0.0);
    for c in 0..k {
        let tp = confusion[c][c] as f64;
        let col: f64 = (0..k).map(|r| confusion[r][c] as f64).sum();
        let row: f64 = confusion[c].iter().sum::<usize>() as f64;
        let prec = if col > 0.0 { tp / col } else { 0.0 };
        let rec = if row > 0.0 { tp / row } else { 0.0 };
        let f1 = if prec + rec > 0.0 { 2.0 * prec * rec / (prec + rec) } else { 0.0 };
        f1_sum += f1;
        let scores: Vec<f64> = probs.iter().map(|p| p[c]).collect();
        let labels: Vec<bool> = y.iter().map(|t| *t == c).collect();
        let auc = roc_auc(&scores, &labels);
        auc_sum += if auc.is_nan() { 0.5 } else { auc };
        m.insert(format!("precision[{}]", classes[c]), prec);
        m.insert(format!("recall[{}]", classes[c]), rec);
        for (p, cnt) in confusion[c].iter().enumerate() {
            m.insert(format!("confusion[{}][{}]", classes[c], classes[p]), *cnt as f64);
        }
    }
    m.insert("f1_macro".into(), f1_sum / k as f64);
    m.insert("roc_auc".into(), auc_sum / k as f64);
    m
}

/// Regression metrics.
pub fn regression(pred: &[f64], y: &[f64]) -> Metrics {
    let n = y.len().max(1) as f64;
    let mean = y.iter().sum::<f64>() / n;
    let sse: f64 = pred.iter().zip(y).map(|(p, t)| (p - t).powi(2)).sum();
    let sst: f64 = y.iter().map(|t| (t - mean).powi(2)).sum();
    BTreeMap::from([
        ("rmse".into(), (sse / n).sqrt()),
        ("mae".into(), pred.iter().zip(y).map(|(p, t)| (p - t).abs()).sum::<f64>() / n),
        ("r2".into(), if sst > 0.0 { 1.0 - sse / sst } else { 0.0 }),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        // scikit-learn: roc_auc_score([0,0,1,1],[.1,.4,.35,.8]) = 0.75,
        // average_precision_score(...) = 0.8333…
        let s = [0.1, 0.4, 0.35, 0.8];
        let l = [false, false, true, true];
        assert!((roc_auc(&s, &l) - 0.75).abs() < 1e-12);
        assert!((average_precision(&s, &l) - 0.833_333_333_333).abs() < 1e-9);
        let m = binary(&s, &l, 0.5);
        assert_eq!((m["tp"], m["fp"], m["tn"], m["fn"]), (1.0, 0.0, 2.0, 1.0));
        assert!((m["f1"] - 2.0 / 3.0).abs() < 1e-12);
        let r = regression(&[1.0, 2.0, 3.0], &[1.0, 2.0, 4.0]);
        assert!((r["rmse"] - (1.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert!((r["r2"] - (1.0 - 1.0 / (14.0 / 3.0))).abs() < 1e-12);
    }
}

/// One model's holdout results.
#[derive(Debug, Clone)]
pub struct Evaluation {
    pub metrics: Metrics,
    /// Scores per holdout row (class probabilities, or the value).
    pub scores: Vec<Vec<f32>>,
    pub model_bytes: usize,
}

/// The resolved target.
#[derive(Debug, Clone)]
pub enum Labels {
    Classes { classes: Vec<String>, y: Vec<usize> },
    Values(Vec<f32>),
}
