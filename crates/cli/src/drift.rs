//! `scorelet drift`: new rows (a CSV batch, or JSON lines such as logged requests) against the
//! bundle's training profile, per column and for the scores. The statistics live in the core
//! (`scorelet::profile::drift`); this module reads the file, scores it, and prints.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use scorelet::api::RowReader;
use scorelet::profile::drift::{self, ColumnDrift, Score};
use scorelet::profile::{Histogram, PROFILE};
use scorelet::{Bundle, Options};

use crate::input::{Format, for_each_chunk};
use crate::score::{InputArgs, Sink};

/// Rows scored per model call.
const CHUNK: usize = 4096;

/// Flags of `scorelet drift`: the input flags of `predict` (`--output` takes the table or
/// JSON), and what to report.
#[derive(Debug, clap::Args)]
pub struct DriftArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Exit with status 3 when any column's PSI, or the scores', is above this.
    #[arg(long, value_name = "PSI")]
    pub fail_above: Option<f64>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Also write an HTML report with each column's bins, training against new.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

/// What `drift` found: whether the threshold was crossed.
pub enum Outcome {
    Within,
    Above(Vec<String>),
}

/// Runs `scorelet drift`.
pub fn run(drift_args: &DriftArgs, quiet: bool) -> Result<Outcome> {
    let args = &drift_args.input;
    let bundle = Bundle::load_dir(&args.bundle).with_context(|| format!("loading bundle {}", args.bundle.display()))?;
    let profile = bundle.profile().with_context(|| format!("reading {PROFILE} of {}", args.bundle.display()))?;
    let Some(profile) = profile else {
        bail!(
            "bundle {} has no {PROFILE} (it was trained before profiles existed); retrain it with this scorelet to compare drift",
            args.bundle.display()
        );
    };
    let scorer = scorelet::service::load_with(&bundle, args.engine.engine)
        .with_context(|| format!("loading model of {}", args.bundle.display()))?;
    let mut hist = Histogram::new(&profile, scorer.pipeline().fitted(), true)?;
    let reader = RowReader::for_pipeline(scorer.pipeline());
    let format = args.format.unwrap_or_else(|| Format::guess(&args.input));
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new_spinner().with_message("reading rows") };
    let mut scores = Vec::new();
    let rows = for_each_chunk(&args.input, format, args.names.as_deref(), &reader, CHUNK, &bar, |rows, start| {
        let mut cells = Vec::new();
        for row in rows {
            cells.clear();
            cells.extend(row.iter().map(scorelet::Value::as_ref));
            hist.push(&cells);
        }
        let preds = scorer.predict(rows, Options::default()).map_err(|e| anyhow::anyhow!("{}", e.offset_row(start)))?;
        scores.extend(preds.iter().map(Score::of));
        Ok(())
    })?;
    bar.finish_and_clear();
    if rows == 0 {
        bail!("{} holds no rows to compare", args.input.display());
    }
    let mut columns = drift::compare(&profile, &mut hist);
    columns.push(drift::score_drift(&profile, &scores));

    let mut sink = Sink::new(args.output.as_deref())?;
    if drift_args.json {
        let v = serde_json::json!({
            "bundle": {"name": scorer.name(), "version": scorer.version()},
            "training_rows": profile.rows,
            "rows": rows,
            "columns": columns,
        });
        sink.line(&v)?;
    } else {
        sink.write_all(table(&columns, profile.rows, rows as u64).as_bytes())?;
    }
    sink.commit()?;
    if let Some(path) = &drift_args.html {
        std::fs::write(path, html(&columns, scorer.name(), profile.rows, rows as u64))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(match drift_args.fail_above {
        Some(t) => {
            let above: Vec<String> = columns.iter().filter(|c| c.psi > t).map(|c| c.column.clone()).collect();
            if above.is_empty() { Outcome::Within } else { Outcome::Above(above) }
        }
        None => Outcome::Within,
    })
}

/// PSI's usual reading.
fn verdict(psi: f64) -> &'static str {
    if psi > 0.25 {
        "changed"
    } else if psi > 0.1 {
        "shifted"
    } else {
        "stable"
    }
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// The terminal table.
fn table(columns: &[ColumnDrift], train_rows: u64, rows: u64) -> String {
    let mut s = format!("{rows} rows against {train_rows} training rows (scores: against the holdout)\n");
    let w = columns.iter().map(|c| c.column.len()).max().unwrap_or(6).max(6);
    let _ = writeln!(
        s,
        "{:<w$}  {:<11}  {:>7}  {:>6}  {:>13}  {:>15}  {:>15}  {:>7}  verdict",
        "column", "kind", "PSI", "JS", "KS D (p)", "missing", "other", "invalid"
    );
    for c in columns {
        let ks = c.ks.map(|(d, p)| format!("{d:.3} ({p:.2})")).unwrap_or_else(|| "-".into());
        let other = c.other.map(|(t, n)| format!("{} → {}", pct(t), pct(n))).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            s,
            "{:<w$}  {:<11}  {:>7.4}  {:>6.4}  {:>13}  {:>15}  {:>15}  {:>7}  {}",
            c.column,
            c.kind,
            c.psi,
            c.js,
            ks,
            format!("{} → {}", pct(c.missing.0), pct(c.missing.1)),
            other,
            pct(c.invalid),
            verdict(c.psi)
        );
    }
    s
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A self-contained HTML report: the table, then each column's bins as paired bars.
fn html(columns: &[ColumnDrift], model: &str, train_rows: u64, rows: u64) -> String {
    let mut s = format!(
        "<!doctype html><meta charset=utf-8><title>drift: {m}</title>\
         <style>body{{font:14px system-ui;margin:2em}}table{{border-collapse:collapse}}td,th{{padding:2px 8px;text-align:right}}\
         td:first-child,th:first-child{{text-align:left}}.changed{{color:#b00}}.shifted{{color:#b60}}</style>\
         <h1>Drift of {m}</h1><p>{rows} rows against {train_rows} training rows; the scores against the holdout. \
         Bars: <span style=color:#36c>training</span>, <span style=color:#e73>new</span>.</p>\
         <table><tr><th>column<th>kind<th>PSI<th>JS<th>KS D<th>missing<th>verdict",
        m = escape(model)
    );
    for c in columns {
        let v = verdict(c.psi);
        let _ = write!(
            s,
            "<tr class={v}><td><a href=#c-{id}>{n}</a><td>{k}<td>{psi:.4}<td>{js:.4}<td>{ks}<td>{m0} → {m1}<td>{v}",
            id = escape(&c.column),
            n = escape(&c.column),
            k = c.kind,
            psi = c.psi,
            js = c.js,
            ks = c.ks.map(|(d, _)| format!("{d:.3}")).unwrap_or_else(|| "-".into()),
            m0 = pct(c.missing.0),
            m1 = pct(c.missing.1),
        );
    }
    s.push_str("</table>");
    for c in columns {
        let bins: Vec<_> = c.bins.iter().filter(|b| b.1 > 0.0 || b.2 > 0.0).collect();
        let (bw, h) = (28.0, 120.0);
        let width = bins.len() as f64 * bw + 20.0;
        let top = bins.iter().map(|b| b.1.max(b.2)).fold(0.0, f64::max).max(1e-9);
        let _ = write!(
            s,
            "<h2 id=c-{id}>{n} <small>PSI {psi:.4}</small></h2><svg width={width} height={hh}>",
            id = escape(&c.column),
            n = escape(&c.column),
            psi = c.psi,
            hh = h + 4.0
        );
        for (i, (name, t, n)) in bins.iter().enumerate() {
            let x = 10.0 + i as f64 * bw;
            let (ht, hn) = (t / top * h, n / top * h);
            let _ = write!(
                s,
                "<g><title>{name}: training {pt}, new {pn}</title>\
                 <rect x={x} y={yt} width=12 height={ht} fill=#36c />\
                 <rect x={x2} y={yn} width=12 height={hn} fill=#e73 /></g>",
                name = escape(name),
                pt = pct(*t),
                pn = pct(*n),
                yt = h - ht,
                x2 = x + 12.0,
                yn = h - hn,
            );
        }
        s.push_str("</svg>");
    }
    s
}
