//! `report.html`: one self-contained page (inline SVG, no scripts, no external assets) with the
//! holdout metrics of the float and INT8 models, ROC and precision-recall curves, calibration,
//! the confusion matrix, score histograms by class, float-vs-INT8 scores and per-feature
//! statistics from the fit.

use std::fmt::Write;

use scorelet::bundle::Manifest;
use scorelet::features::{ColumnTransform, FittedFeatures};

use crate::metrics::{self, Evaluation, Labels};
use crate::svg::{Chart, PALETTE, histogram};

/// Everything the report shows.
pub struct ReportInput<'a> {
    pub manifest: &'a Manifest,
    pub fitted: &'a FittedFeatures,
    pub feature_names: &'a [String],
    pub labels: &'a Labels,
    pub holdout: &'a [usize],
    pub float: &'a Evaluation,
    pub int8: Option<&'a Evaluation>,
    pub train_seconds: f64,
    /// Tree models: total split gain and split count per feature.
    pub importance: Option<(&'a [f64], &'a [usize])>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn fmt(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 { format!("{v:.0}") } else { format!("{v:.4}") }
}

/// Renders the report.
pub fn render(r: &ReportInput) -> String {
    let m = r.manifest;
    let served = r.int8.unwrap_or(r.float);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{name} — scorelet training report</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:1320px;margin:24px auto;padding:0 16px;color:#111}}\
         h1{{margin-bottom:4px}} .sub{{color:#555;margin-top:0}} .grid{{display:flex;flex-wrap:wrap;gap:12px}}\
         table{{border-collapse:collapse;margin:8px 0}} td,th{{border:1px solid #ddd;padding:3px 8px;text-align:right;font-variant-numeric:tabular-nums}}\
         th{{background:#f4f4f5}} td:first-child,th:first-child{{text-align:left}} .worse{{color:#b91c1c}}\
         </style></head><body><h1>{name}</h1><p class=\"sub\">{task} · {model} · {precision} · created {created} · trained in {secs:.2} s</p>",
        name = esc(&m.name),
        task = esc(&serde_json::to_value(&m.task)
            .ok()
            .and_then(|t| t["kind"].as_str().map(String::from))
            .unwrap_or_default()),
        model = esc(m.lineage["model"].as_str().unwrap_or("")),
        precision = m.model.precision,
        created = m.created,
        secs = r.train_seconds,
    );
    let _ = write!(
        h,
        "<p>Data: {} rows (sha256 <code>{}</code>), split {} train / {} validation / {} holdout. {} features from {} input columns.</p>",
        m.lineage["training_data"]["rows"],
        esc(m.lineage["training_data"]["sha256"].as_str().unwrap_or("")),
        m.lineage["split"]["train"],
        m.lineage["split"]["valid"],
        m.lineage["split"]["holdout"],
        r.feature_names.len(),
        m.signature.inputs.len()
    );
    // Metrics table.
    h.push_str("<h2>Holdout metrics</h2><table><tr><th>metric</th><th>float32</th>");
    if r.int8.is_some() {
        h.push_str("<th>INT8 (served)</th><th>Δ</th>");
    }
    h.push_str("</tr>");
    for (k, v) in &r.float.metrics {
        let _ = write!(h, "<tr><td>{}</td><td>{}</td>", esc(k), fmt(*v));
        if let Some(q) = r.int8 {
            let qv = q.metrics.get(k).copied().unwrap_or(f64::NAN);
            let _ = write!(h, "<td>{}</td><td>{:+.4}</td>", fmt(qv), qv - v);
        }
        h.push_str("</tr>");
    }
    let _ = write!(h, "<tr><td>model size (bytes)</td><td>{}</td>", r.float.model_bytes);
    if let Some(q) = r.int8 {
        let _ = write!(
            h,
            "<td>{}</td><td>{:.1}× smaller</td>",
            q.model_bytes,
            r.float.model_bytes as f64 / q.model_bytes.max(1) as f64
        );
    }
    h.push_str("</tr></table><div class=\"grid\">");
    match r.labels {
        Labels::Classes { classes, y } if classes.len() == 2 => binary_charts(&mut h, r, classes, y, served),
        Labels::Classes { classes, y } => {
            confusion(&mut h, classes, &r.holdout.iter().map(|i| y[*i]).collect::<Vec<_>>(), served)
        }
        Labels::Values(v) => {
            let pts: Vec<(f64, f64)> =
                r.holdout.iter().zip(&served.scores).take(3000).map(|(i, s)| (v[*i] as f64, s[0] as f64)).collect();
            let lo = pts.iter().map(|p| p.0.min(p.1)).fold(f64::INFINITY, f64::min);
            let hi = pts.iter().map(|p| p.0.max(p.1)).fold(f64::NEG_INFINITY, f64::max);
            let c = Chart::new("Predicted vs actual", "actual", "predicted", (lo, hi), (lo, hi))
                .points(pts, PALETTE[0], "")
                .dashed(vec![(lo, lo), (hi, hi)], "#999", "");
            h.push_str(&c.to_svg());
        }
    }
    if let Some(q) = r.int8 {
        let col = if r.float.scores.first().map(|s| s.len()) == Some(2) { 1 } else { 0 };
        let pts: Vec<(f64, f64)> =
            r.float.scores.iter().zip(&q.scores).take(3000).map(|(f, i)| (f[col] as f64, i[col] as f64)).collect();
        let lo = pts.iter().map(|p| p.0.min(p.1)).fold(f64::INFINITY, f64::min);
        let hi = pts.iter().map(|p| p.0.max(p.1)).fold(f64::NEG_INFINITY, f64::max);
        let c = Chart::new("Float vs INT8 score", "float32", "INT8", (lo, hi), (lo, hi))
            .points(pts, PALETTE[3], "")
            .dashed(vec![(lo, lo), (hi, hi)], "#999", "");
        h.push_str(&c.to_svg());
    }
    h.push_str("</div>");
    if let Some((gain, count)) = r.importance {
        importance_table(&mut h, r.feature_names, gain, count);
    }
    features_table(&mut h, r.fitted);
    h.push_str("<p class=\"sub\">Written by scorelet-train. The bundle's manifest.json holds these metrics and the sha256 of every file.</p></body></html>");
    h
}

fn binary_charts(h: &mut String, r: &ReportInput, classes: &[String], y: &[usize], served: &Evaluation) {
    let labels: Vec<bool> = r.holdout.iter().map(|i| y[*i] == 1).collect();
    let scores = |e: &Evaluation| e.scores.iter().map(|s| s[1] as f64).collect::<Vec<_>>();
    let (fs, ss) = (scores(r.float), scores(served));
    let mut roc = Chart::new("ROC curve", "false positive rate", "true positive rate", (0.0, 1.0), (0.0, 1.0)).dashed(
        vec![(0.0, 0.0), (1.0, 1.0)],
        "#bbb",
        "",
    );
    let mut pr = Chart::new("Precision-recall", "recall", "precision", (0.0, 1.0), (0.0, 1.0));
    let mut cal = Chart::new("Calibration", "mean predicted probability", "observed frequency", (0.0, 1.0), (0.0, 1.0))
        .dashed(vec![(0.0, 0.0), (1.0, 1.0)], "#bbb", "");
    let mut series = vec![("float32", &fs, PALETTE[0])];
    if r.int8.is_some() {
        series.push(("INT8", &ss, PALETTE[1]));
    }
    for (name, s, color) in series {
        roc =
            roc.line(metrics::roc_curve(s, &labels), color, &format!("{name} AUC {:.4}", metrics::roc_auc(s, &labels)));
        pr = pr.line(
            metrics::pr_curve(s, &labels),
            color,
            &format!("{name} AP {:.4}", metrics::average_precision(s, &labels)),
        );
        cal = cal.line(metrics::calibration(s, &labels, 10).into_iter().map(|(a, b, _)| (a, b)).collect(), color, name);
    }
    h.push_str(&roc.to_svg());
    h.push_str(&pr.to_svg());
    h.push_str(&cal.to_svg());
    let neg: Vec<f64> = ss.iter().zip(&labels).filter(|(_, l)| !**l).map(|(s, _)| *s).collect();
    let pos: Vec<f64> = ss.iter().zip(&labels).filter(|(_, l)| **l).map(|(s, _)| *s).collect();
    let (hn, hp) = (histogram(&neg, (0.0, 1.0), 25), histogram(&pos, (0.0, 1.0), 25));
    let top = hn.iter().chain(&hp).map(|p| p.1).fold(1.0, f64::max);
    let hist = Chart::new("Score by class (served model)", "P(positive)", "rows", (0.0, 1.0), (0.0, top))
        .line(hn, PALETTE[0], &classes[0])
        .line(hp, PALETTE[1], &classes[1]);
    h.push_str(&hist.to_svg());
    let y_true: Vec<usize> = labels.iter().map(|l| *l as usize).collect();
    confusion(h, classes, &y_true, served);
}

fn confusion(h: &mut String, classes: &[String], y: &[usize], e: &Evaluation) {
    let k = classes.len();
    let mut m = vec![vec![0usize; k]; k];
    for (t, s) in y.iter().zip(&e.scores) {
        let pred =
            if k == 2 { usize::from(s[1] >= 0.5) } else { (0..k).fold(0, |b, c| if s[c] > s[b] { c } else { b }) };
        m[*t][pred] += 1;
    }
    let max = m.iter().flatten().copied().max().unwrap_or(1).max(1) as f64;
    h.push_str("<div><h3>Confusion matrix (served model)</h3><table><tr><th>actual \\ predicted</th>");
    for c in classes {
        let _ = write!(h, "<th>{}</th>", esc(c));
    }
    h.push_str("</tr>");
    for (i, row) in m.iter().enumerate() {
        let _ = write!(h, "<tr><th>{}</th>", esc(&classes[i]));
        for n in row {
            let a = 0.1 + 0.6 * (*n as f64 / max);
            let _ = write!(h, "<td style=\"background:rgba(37,99,235,{a:.2})\">{n}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table></div>");
}

/// Features by total split gain (the 30 largest), with their split counts and a bar.
fn importance_table(h: &mut String, names: &[String], gain: &[f64], count: &[usize]) {
    let total: f64 = gain.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    let mut order: Vec<usize> = (0..gain.len()).filter(|j| count[*j] > 0).collect();
    order.sort_by(|a, b| gain[*b].total_cmp(&gain[*a]).then(a.cmp(b)));
    h.push_str("<h2>Feature importance (trees)</h2><table><tr><th>feature</th><th>gain share</th><th>splits</th><th></th></tr>");
    for &j in order.iter().take(30) {
        let share = gain[j] / total;
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{:.1} %</td><td>{}</td><td style=\"text-align:left\"><svg width=\"200\" height=\"10\"><rect width=\"{:.1}\" height=\"10\" fill=\"{}\"/></svg></td></tr>",
            esc(names.get(j).map_or("?", String::as_str)),
            share * 100.0,
            count[j],
            share * 200.0,
            PALETTE[0]
        );
    }
    let _ =
        write!(h, "</table><p class=\"sub\">{} of {} features are used by some split.</p>", order.len(), gain.len());
}

fn describe_step(s: &scorelet::features::Step) -> String {
    use scorelet::features::Step;
    let g = |v: f32| format!("{v:.4}").trim_end_matches('0').trim_end_matches('.').to_string();
    match s {
        Step::Standardize { mean, scale } => format!("standardize (μ {}, σ {})", g(*mean), g(*scale)),
        Step::MinMax { min, range } => format!("min-max ({} … {})", g(*min), g(min + range)),
        Step::Log1p => "log1p".into(),
        Step::Clip { min, max } => {
            format!("clip [{}, {}]", min.map(g).unwrap_or("−∞".into()), max.map(g).unwrap_or("∞".into()))
        }
        Step::Bucketize { edges } => format!("{} buckets", edges.len() + 1),
    }
}

fn features_table(h: &mut String, fitted: &FittedFeatures) {
    h.push_str("<h2>Features (fitted on the training split)</h2><table><tr><th>column</th><th>kind</th><th>count</th><th>missing</th><th>mean</th><th>std</th><th>min</th><th>max</th><th>fill</th><th>encoding / steps</th></tr>");
    for c in &fitted.columns {
        let s = c.stats.clone().unwrap_or_default();
        let opt = |v: Option<f64>| v.map(fmt).unwrap_or_default();
        let (kind, fill, how) = match &c.transform {
            ColumnTransform::Numeric { impute, steps, .. } => (
                "numeric",
                impute.map(|v| v.to_string()).unwrap_or_else(|| "error".into()),
                steps.iter().map(describe_step).collect::<Vec<_>>().join(" → "),
            ),
            ColumnTransform::Categorical { impute, encoding, .. } => {
                let e = match encoding {
                    scorelet::features::FittedEncoding::OneHot { categories } => {
                        format!("one-hot, {} categories", categories.len())
                    }
                    scorelet::features::FittedEncoding::Hash { buckets } => format!("hash, {buckets} buckets"),
                    scorelet::features::FittedEncoding::Ordinal { categories } => {
                        format!("ordinal, {} levels", categories.len())
                    }
                };
                ("categorical", impute.clone().unwrap_or_else(|| "error".into()), e)
            }
            ColumnTransform::Boolean { impute, .. } => {
                ("boolean", impute.map(|b| b.to_string()).unwrap_or_else(|| "error".into()), String::new())
            }
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{kind}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\">{}</td></tr>",
            esc(&c.name),
            s.count,
            s.missing,
            opt(s.mean),
            opt(s.std),
            opt(s.min),
            opt(s.max),
            esc(&fill),
            esc(&how)
        );
    }
    h.push_str("</table>");
}
