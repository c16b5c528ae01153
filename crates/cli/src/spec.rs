//! `scorelet spec infer`.

use std::path::Path;

use anyhow::{Context, Result};
use scorelet::features::infer_spec;

/// Reads a CSV (streaming, at most `limit` rows) and prints a proposed TOML spec.
pub fn infer(
    data: &Path,
    target: Option<&str>,
    names: Option<&[String]>,
    limit: usize,
    out: Option<&Path>,
) -> Result<()> {
    let file = std::fs::File::open(data).with_context(|| format!("cannot open {}", data.display()))?;
    let mut rdr = csv::ReaderBuilder::new().has_headers(names.is_none()).trim(csv::Trim::All).from_reader(file);
    let header: Vec<String> = match names {
        Some(n) => n.to_vec(),
        None => rdr.headers().context("reading the CSV header")?.iter().map(String::from).collect(),
    };
    let mut rows = Vec::new();
    for (i, rec) in rdr.records().take(limit).enumerate() {
        let rec = rec.with_context(|| format!("{}: row {}", data.display(), i + 1))?;
        rows.push(rec.iter().map(String::from).collect::<Vec<_>>());
    }
    anyhow::ensure!(!rows.is_empty(), "{} has no data rows", data.display());
    let (spec, report) = infer_spec(&header, &rows, target);
    let mut text = format!("# Proposed by `scorelet spec infer` from {} rows of {}.\n", rows.len(), data.display());
    for r in &report {
        text.push_str(&format!("# {:<20} {} ({} distinct, {} missing)\n", r.name, r.decision, r.distinct, r.missing));
    }
    text.push('\n');
    text.push_str(&spec.to_toml());
    match out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("cannot write {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}
