//! Streaming input rows from CSV or JSON-lines files without loading them whole.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use anyhow::{Context, Result, bail};
use indicatif::ProgressBar;
use scorelet::api::RowReader;
use scorelet::{Row, Value};

/// Input file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    /// Guesses from the extension: `.jsonl`/`.ndjson`/`.json` → JSON lines, else CSV.
    pub fn guess(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("jsonl" | "ndjson" | "json") => Format::Jsonl,
            _ => Format::Csv,
        }
    }
}

/// Counts bytes read, for the progress bar.
pub struct Counting<R> {
    inner: R,
    bar: ProgressBar,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// A file opened for streaming, its bytes counted on `bar`.
pub type Input = BufReader<Counting<File>>;

fn open(path: &Path, bar: &ProgressBar) -> Result<Input> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    Ok(BufReader::with_capacity(1 << 16, Counting { inner: file, bar: bar.clone() }))
}

/// A CSV reader over `path` (`names` is the header of a header-less file, `trim` as the caller
/// reads cells) and where each of its columns goes among `reader`'s inputs.
pub fn open_csv(
    path: &Path,
    names: Option<&[String]>,
    trim: csv::Trim,
    reader: &RowReader,
    bar: &ProgressBar,
) -> Result<(csv::Reader<Input>, Vec<Option<usize>>)> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(names.is_none()).trim(trim).from_reader(open(path, bar)?);
    let header: Vec<String> = match names {
        Some(n) => n.to_vec(),
        None => rdr.headers().context("reading the CSV header")?.iter().map(String::from).collect(),
    };
    let slots = reader.header_slots(&header).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok((rdr, slots))
}

/// Calls `each` with consecutive chunks of at most `chunk` rows, and the index of the chunk's
/// first row. `names` gives the header of a header-less CSV.
pub fn for_each_chunk(
    path: &Path,
    format: Format,
    names: Option<&[String]>,
    reader: &RowReader,
    chunk: usize,
    bar: &ProgressBar,
    mut each: impl FnMut(&[Row], usize) -> Result<()>,
) -> Result<usize> {
    let mut buf: Vec<Row> = Vec::with_capacity(chunk);
    let mut start = 0;
    let mut total = 0;
    let mut flush = |buf: &mut Vec<Row>, start: &mut usize| -> Result<()> {
        if !buf.is_empty() {
            each(buf, *start)?;
            *start += buf.len();
            buf.clear();
        }
        Ok(())
    };
    match format {
        Format::Csv => {
            let (mut rdr, slots) = open_csv(path, names, csv::Trim::All, reader, bar)?;
            for rec in rdr.records() {
                let rec = rec.with_context(|| format!("{}: CSV row {}", path.display(), total + 1))?;
                let row = reader
                    .slotted(&slots, rec.iter(), total, |c, _, _| Ok(Value::Text(c.to_string())))
                    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                buf.push(row);
                total += 1;
                if buf.len() == chunk {
                    flush(&mut buf, &mut start)?;
                }
            }
        }
        Format::Jsonl => {
            for (i, line) in open(path, bar)?.lines().enumerate() {
                let line = line.with_context(|| format!("{}: line {}", path.display(), i + 1))?;
                if line.trim().is_empty() {
                    continue;
                }
                let v: serde_json::Value = serde_json::from_str(&line)
                    .with_context(|| format!("{}: line {} is not valid JSON", path.display(), i + 1))?;
                let row =
                    reader.record(&v, total).map_err(|e| anyhow::anyhow!("{}: line {}: {e}", path.display(), i + 1))?;
                buf.push(row);
                total += 1;
                if buf.len() == chunk {
                    flush(&mut buf, &mut start)?;
                }
            }
        }
    }
    flush(&mut buf, &mut start)?;
    if total == 0 {
        bail!("{} has no rows", path.display());
    }
    Ok(total)
}
