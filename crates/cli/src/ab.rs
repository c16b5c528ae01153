//! `scorelet ab`: an experiment's request log joined with the outcomes that came later.
//!
//! The log is what `serve`, Lambda and the worker write with `request_log = payload`: each line
//! a request, its rows' predictions, who answered each row (`variants`, or the line's
//! `variant`), the rows' split keys (`keys`) and, in shadow mode, the candidate's predictions.
//! Per variant it reports rows, the outcome's positive rate, ROC-AUC, accuracy and log loss;
//! then the candidate minus the primary, each with a bootstrap interval, and a two-proportion
//! z-test on the positive rate with the sample size a chosen effect needs.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde_json::{Value as Json, json};

/// Flags of `scorelet ab`.
#[derive(Debug, clap::Args)]
pub struct AbArgs {
    /// The request log (JSON lines written with `--request-log payload`).
    #[arg(long)]
    pub log: PathBuf,
    /// CSV of outcomes: the key column and the outcome column.
    #[arg(long)]
    pub outcomes: PathBuf,
    /// The column both files are joined on (the split key, e.g. customerID).
    #[arg(long)]
    pub key: String,
    /// The outcome column (default: the outcomes file's one column besides the key).
    #[arg(long)]
    pub outcome: Option<String>,
    /// The outcome value that counts as positive (default: 1, true or yes in any case).
    #[arg(long)]
    pub positive: Option<String>,
    /// The smallest change in the positive rate worth detecting (absolute, e.g. 0.02), for
    /// the sample size.
    #[arg(long, default_value_t = 0.02)]
    pub effect: f64,
    /// Significance level of the test and the intervals.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Power the sample size is computed for.
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
    /// Bootstrap resamples for the intervals.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=1_000_000))]
    pub bootstrap: u64,
    /// Seed of the bootstrap (the same seed gives the same intervals).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print one JSON object instead of the tables.
    #[arg(long)]
    pub json: bool,
}

/// Predictions of one variant, by key: (probability of the positive class, outcome).
type Joined = Vec<(f64, bool)>;

/// The variants the report compares.
const VARIANTS: [&str; 2] = ["primary", "candidate"];

/// Runs `scorelet ab`; returns the report as JSON (printed as tables unless `--json`).
pub fn run(a: &AbArgs) -> Result<Json> {
    if !(a.effect > 0.0 && a.effect < 1.0) {
        bail!("--effect must be between 0 and 1 (an absolute change in the positive rate, such as 0.02)");
    }
    if !(a.alpha > 0.0 && a.alpha < 0.5 && a.power > 0.5 && a.power < 1.0) {
        bail!("--alpha must be in (0, 0.5) and --power in (0.5, 1)");
    }
    let outcomes = read_outcomes(a)?;
    let (predictions, read) = read_log(a)?;
    let mut joined: [Joined; 2] = [Vec::new(), Vec::new()];
    let mut unmatched = 0u64;
    for ((v, key), p) in &predictions {
        match outcomes.get(key) {
            Some(y) => joined[*v].push((*p, *y)),
            None => unmatched += 1,
        }
    }
    // Keys in a fixed order, so the bootstrap sees the same samples on every run.
    for j in &mut joined {
        j.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    }
    if joined.iter().any(Vec::is_empty) {
        let counts: Vec<String> = VARIANTS.iter().zip(&joined).map(|(v, j)| format!("{v}: {}", j.len())).collect();
        bail!(
            "{}: after joining with {} on `{}`, a variant has no rows ({}); {} logged predictions had no outcome. \
             Log with `--request-log payload` while a candidate is configured, and give outcomes for those keys",
            a.log.display(),
            a.outcomes.display(),
            a.key,
            counts.join(", "),
            unmatched
        );
    }
    let per: Vec<Json> = VARIANTS.iter().zip(&joined).map(|(v, j)| summary(v, j)).collect();
    let diff = differences(&joined, a);
    let report = json!({
        "log": {"lines": read.lines, "scored_lines": read.scored, "rows": read.rows, "unkeyed_rows": read.unkeyed, "unmatched": unmatched},
        "variants": per,
        "difference": diff,
    });
    Ok(report)
}

/// (variant index, key) → probability of the positive class.
type Logged = HashMap<(usize, String), f64>;

/// What reading the log found.
struct LogRead {
    lines: u64,
    scored: u64,
    rows: u64,
    unkeyed: u64,
}

/// Every logged prediction: (variant index, key) → probability of the positive class (the last
/// logged one, when a key was scored twice).
fn read_log(a: &AbArgs) -> Result<(Logged, LogRead)> {
    let f = std::fs::File::open(&a.log).with_context(|| format!("cannot open the request log {}", a.log.display()))?;
    let mut out = HashMap::new();
    let mut read = LogRead { lines: 0, scored: 0, rows: 0, unkeyed: 0 };
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let n = i + 1;
        let line = line.with_context(|| format!("{}:{n}: cannot read the line", a.log.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        read.lines += 1;
        let v: Json = serde_json::from_str(&line).with_context(|| {
            format!(
                "{}:{n}: not JSON ({}); a request log has one JSON object per line",
                a.log.display(),
                excerpt(&line)
            )
        })?;
        let Some(payload) = v.get("payload").filter(|p| p.is_object()) else { continue };
        let at = |what: &str| format!("{}:{n}: {what}", a.log.display());
        let preds = payload["predictions"].as_array().with_context(|| at("the payload has no `predictions` array"))?;
        read.scored += 1;
        let records = payload["records"].as_array();
        let keys = payload["keys"].as_array();
        let variants = payload["variants"].as_array();
        let line_variant = v["variant"].as_str().unwrap_or("primary");
        let shadow = payload["shadow"]["predictions"].as_array().filter(|_| line_variant == "shadow");
        for (r, p) in preds.iter().enumerate() {
            read.rows += 1;
            let key = keys
                .and_then(|k| k.get(r))
                .and_then(cell_text)
                .or_else(|| records.and_then(|rs| rs.get(r)).and_then(|rec| rec.get(&a.key)).and_then(cell_text));
            let Some(key) = key else {
                read.unkeyed += 1;
                continue;
            };
            let variant = variants.and_then(|vs| vs.get(r)).and_then(Json::as_str).unwrap_or(line_variant);
            let variant = match variant {
                "candidate" => 1,
                "primary" | "shadow" => 0,
                other => bail!(at(&format!("unknown variant {other:?} (primary, candidate, shadow)"))),
            };
            let prob = probability(p)
                .with_context(|| at(&format!("row {r}: no probability in {}", excerpt(&p.to_string()))))?;
            if let Some(s) = shadow.and_then(|s| s.get(r)).and_then(probability) {
                out.insert((1, key.clone()), s);
            }
            out.insert((variant, key), prob);
        }
    }
    if read.scored == 0 {
        bail!(
            "{}: no line has a payload (rows and predictions); serve with `--request-log payload` to log them",
            a.log.display()
        );
    }
    if out.is_empty() {
        bail!(
            "{}: no logged row has the key `{}`: split on it (`--split-key column:{}`) or log that column (it may be denied)",
            a.log.display(),
            a.key,
            a.key
        );
    }
    Ok((out, read))
}

/// The first characters of a line, for an error message.
fn excerpt(s: &str) -> String {
    let cut: String = s.chars().take(60).collect();
    if cut.len() < s.len() { format!("{cut:?}…") } else { format!("{cut:?}") }
}

/// A JSON cell as a key: strings as they are, numbers in their shortest form.
fn cell_text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The probability of the positive class in a logged prediction (binary classifiers).
fn probability(p: &Json) -> Option<f64> {
    p.get("probability").and_then(Json::as_f64)
}

/// Key → outcome, from the outcomes CSV.
fn read_outcomes(a: &AbArgs) -> Result<HashMap<String, bool>> {
    let path = a.outcomes.display();
    let mut r = csv::ReaderBuilder::new()
        .flexible(false)
        .from_path(&a.outcomes)
        .with_context(|| format!("cannot open the outcomes file {path}"))?;
    let header: Vec<String> = r
        .headers()
        .with_context(|| format!("{path}:1: cannot read the header"))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let Some(k) = header.iter().position(|h| *h == a.key) else {
        bail!("{path}:1: no column `{}` to join on (the columns are: {})", a.key, header.join(", "));
    };
    let y = match &a.outcome {
        Some(o) => header
            .iter()
            .position(|h| h == o)
            .with_context(|| format!("{path}:1: no outcome column `{o}` (the columns are: {})", header.join(", ")))?,
        None if header.len() == 2 => 1 - k,
        None => bail!("{path}:1: {} columns; name the outcome column with --outcome", header.len()),
    };
    let mut out = HashMap::new();
    for (i, rec) in r.records().enumerate() {
        let n = i + 2;
        let rec = rec.with_context(|| format!("{path}:{n}: not a CSV record with {} fields", header.len()))?;
        let (key, value) = (rec[k].trim(), rec[y].trim());
        let positive = match &a.positive {
            Some(p) => value == p,
            None => match value.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" => true,
                "0" | "false" | "no" => false,
                _ => bail!(
                    "{path}:{n}: outcome {value:?} is not 1/0, true/false or yes/no; name the positive value with --positive"
                ),
            },
        };
        if key.is_empty() {
            bail!("{path}:{n}: the key `{}` is empty", a.key);
        }
        if out.insert(key.to_string(), positive).is_some() {
            bail!("{path}:{n}: key {key:?} appears twice; give one outcome per key");
        }
    }
    if out.is_empty() {
        bail!("{path}: no outcomes");
    }
    Ok(out)
}

/// Rows, positive rate, mean prediction, ROC-AUC, accuracy and log loss of one variant.
fn summary(name: &str, j: &Joined) -> Json {
    let m = metrics(j);
    json!({
        "variant": name, "rows": j.len(), "positive_rate": m[0], "roc_auc": m[1], "accuracy": m[2], "log_loss": m[3],
        "mean_prediction": j.iter().map(|r| r.0).sum::<f64>() / j.len() as f64,
    })
}

/// Names of [`metrics`]' entries.
const METRICS: [&str; 4] = ["positive_rate", "roc_auc", "accuracy", "log_loss"];

/// Positive rate, ROC-AUC (NaN with one class), accuracy at 0.5 and log loss.
fn metrics(j: &[(f64, bool)]) -> [f64; 4] {
    let n = j.len() as f64;
    let pos = j.iter().filter(|r| r.1).count() as f64;
    let acc = j.iter().filter(|r| (r.0 >= 0.5) == r.1).count() as f64 / n;
    let eps = 1e-15;
    let ll = -j.iter().map(|&(p, y)| if y { p.max(eps).ln() } else { (1.0 - p).max(eps).ln() }).sum::<f64>() / n;
    [pos / n, auc(j), acc, ll]
}

/// ROC-AUC by the rank sum, ties sharing their mean rank.
fn auc(j: &[(f64, bool)]) -> f64 {
    let mut idx: Vec<usize> = (0..j.len()).collect();
    idx.sort_by(|a, b| j[*a].0.total_cmp(&j[*b].0));
    let (mut rank_sum, mut i) = (0.0, 0);
    while i < idx.len() {
        let mut e = i;
        while e + 1 < idx.len() && j[idx[e + 1]].0 == j[idx[i]].0 {
            e += 1;
        }
        let mean_rank = (i + e) as f64 / 2.0 + 1.0;
        rank_sum += mean_rank * idx[i..=e].iter().filter(|k| j[**k].1).count() as f64;
        i = e + 1;
    }
    let pos = j.iter().filter(|r| r.1).count() as f64;
    let neg = j.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Candidate minus primary for every metric with its percentile bootstrap interval (each
/// variant resampled on its own), the z-test on the positive rate and the sample size.
fn differences(j: &[Joined; 2], a: &AbArgs) -> Json {
    let point: Vec<f64> = {
        let (p, c) = (metrics(&j[0]), metrics(&j[1]));
        (0..4).map(|i| c[i] - p[i]).collect()
    };
    let mut rng = a.seed ^ 0x5eed_ab00;
    let mut draws: Vec<Vec<f64>> = (0..4).map(|_| Vec::with_capacity(a.bootstrap as usize)).collect();
    let mut sample = Vec::new();
    for _ in 0..a.bootstrap {
        let mut m = [[0.0; 4]; 2];
        for (v, rows) in j.iter().enumerate() {
            sample.clear();
            for _ in 0..rows.len() {
                rng = rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
                sample.push(rows[(scorelet::experiment::mix(rng) % rows.len() as u64) as usize]);
            }
            m[v] = metrics(&sample);
        }
        for (i, d) in draws.iter_mut().enumerate() {
            d.push(m[1][i] - m[0][i]);
        }
    }
    let mut out = serde_json::Map::new();
    for (i, name) in METRICS.iter().enumerate() {
        let mut d: Vec<f64> = draws[i].iter().copied().filter(|x| x.is_finite()).collect();
        d.sort_by(f64::total_cmp);
        let q = |p: f64| d.get(((d.len() as f64 - 1.0) * p).round() as usize).copied();
        out.insert(
            name.to_string(),
            json!({"difference": finite(point[i]), "low": q(a.alpha / 2.0), "high": q(1.0 - a.alpha / 2.0)}),
        );
    }
    // Two-proportion z-test on the positive rate (pooled), and the rows per variant a change of
    // `effect` needs at this alpha and power (Fleiss' formula, without continuity correction).
    let (n0, n1) = (j[0].len() as f64, j[1].len() as f64);
    let (p0, p1) = (metrics(&j[0])[0], metrics(&j[1])[0]);
    let pooled = (p0 * n0 + p1 * n1) / (n0 + n1);
    let se = (pooled * (1.0 - pooled) * (1.0 / n0 + 1.0 / n1)).sqrt();
    let z = if se > 0.0 { (p1 - p0) / se } else { 0.0 };
    let p_value = 2.0 * (1.0 - normal_cdf(z.abs()));
    let (za, zb) = (normal_quantile(1.0 - a.alpha / 2.0), normal_quantile(a.power));
    let target = (p0 + a.effect).min(1.0 - 1e-9);
    let bar = (p0 + target) / 2.0;
    let needed = ((za * (2.0 * bar * (1.0 - bar)).sqrt() + zb * (p0 * (1.0 - p0) + target * (1.0 - target)).sqrt())
        .powi(2)
        / (a.effect * a.effect))
        .ceil();
    out.insert(
        "z_test".into(),
        json!({
            "z": z, "p_value": p_value, "significant": p_value < a.alpha, "alpha": a.alpha,
            "rows_per_variant_needed": needed as u64, "effect": a.effect, "power": a.power,
            "rows_still_needed": (needed - n0.min(n1)).max(0.0) as u64,
        }),
    );
    Json::Object(out)
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// The standard normal distribution function (from `erfc`, exact to f64 rounding).
fn normal_cdf(x: f64) -> f64 {
    0.5 * libm::erfc(-x / std::f64::consts::SQRT_2)
}

/// The standard normal quantile: Acklam's rational approximation, refined by one Halley step
/// on [`normal_cdf`] (relative error below 1e-12).
#[allow(clippy::excessive_precision)] // Acklam's published coefficients, as published.
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383577518672690e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] =
        [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    let e = normal_cdf(x) - p;
    let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
    x - u / (1.0 + x * u / 2.0)
}

/// The report as tables.
pub fn render(r: &Json) -> String {
    let mut out = String::new();
    let f = |v: &Json| v.as_f64().map_or("-".to_string(), |x| format!("{x:.4}"));
    let _ = writeln!(
        out,
        "{:<10} {:>8} {:>13} {:>8} {:>9} {:>9}",
        "variant", "rows", "positive_rate", "roc_auc", "accuracy", "log_loss"
    );
    for v in r["variants"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<10} {:>8} {:>13} {:>8} {:>9} {:>9}",
            v["variant"].as_str().unwrap_or(""),
            v["rows"].as_u64().unwrap_or(0),
            f(&v["positive_rate"]),
            f(&v["roc_auc"]),
            f(&v["accuracy"]),
            f(&v["log_loss"])
        );
    }
    let d = &r["difference"];
    let _ = writeln!(
        out,
        "\ncandidate − primary (bootstrap interval at {}):",
        1.0 - d["z_test"]["alpha"].as_f64().unwrap_or(0.05)
    );
    for m in METRICS {
        let _ = writeln!(out, "  {m:<14} {:>9}  [{}, {}]", f(&d[m]["difference"]), f(&d[m]["low"]), f(&d[m]["high"]));
    }
    let z = &d["z_test"];
    let _ = writeln!(
        out,
        "\npositive rate: z = {}, p = {} ({}); detecting a change of {} needs {} rows per variant ({} more)",
        f(&z["z"]),
        f(&z["p_value"]),
        if z["significant"].as_bool() == Some(true) { "significant" } else { "not significant" },
        z["effect"],
        z["rows_per_variant_needed"],
        z["rows_still_needed"]
    );
    let log = &r["log"];
    let _ = writeln!(
        out,
        "log: {} lines, {} with rows, {} rows ({} without the key, {} without an outcome)",
        log["lines"], log["scored_lines"], log["rows"], log["unkeyed_rows"], log["unmatched"]
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_distribution_is_right() {
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-9);
        assert!((normal_quantile(0.8) - 0.841_621_233_572_914_3).abs() < 1e-9);
        assert!((normal_quantile(0.001) + 3.090_232_306_167_813_5).abs() < 1e-9);
        assert!((normal_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-12);
    }

    #[test]
    fn auc_counts_ties_as_half() {
        assert_eq!(auc(&[(0.1, false), (0.9, true)]), 1.0);
        assert_eq!(auc(&[(0.5, false), (0.5, true)]), 0.5);
        assert_eq!(auc(&[(0.9, false), (0.1, true), (0.5, true)]), 0.0);
        assert!(auc(&[(0.3, true)]).is_nan());
    }
}
