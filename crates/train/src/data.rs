//! Loading tabular training data — CSV (with or without a header) or Parquet — as raw string
//! cells, the form the feature pipeline reads (numbers are parsed by the columns that want them,
//! exactly as at serving time). Files are read as a stream and hashed on the way for lineage.
//!
//! A [`Table`] keeps its cells compactly: all cell text back to back in one buffer plus one `u32`
//! end offset per cell, about the size of the CSV itself, instead of a `String` per cell (which
//! costs 24 bytes and an allocation each; a 1 M-row Telco file would need ~2 GB that way).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::TrainError;

/// A table of raw string cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    /// Every cell's text, row by row, back to back.
    text: String,
    /// Where each cell ends in `text`: `rows × header.len()` offsets.
    ends: Vec<u32>,
    /// sha256 of the file's bytes (lineage).
    pub sha256: String,
    /// The file name it came from.
    pub source: String,
}

/// Hashes what passes through.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn err(path: &Path, m: impl std::fmt::Display) -> TrainError {
    TrainError::Data(format!("{}: {m}", path.display()))
}

impl Table {
    /// An empty table with these columns.
    pub fn new(header: Vec<String>) -> Table {
        Table { header, text: String::new(), ends: Vec::new(), sha256: String::new(), source: String::new() }
    }

    /// A table from rows of cells (tests, small inputs); every row must have a cell per column.
    pub fn from_rows(header: Vec<String>, rows: &[Vec<String>]) -> Result<Table, TrainError> {
        let mut t = Table::new(header);
        for r in rows {
            t.push_row(r.iter().map(String::as_str))?;
        }
        Ok(t)
    }

    /// Appends one row; it must have exactly one cell per column.
    pub fn push_row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) -> Result<(), TrainError> {
        let before = self.ends.len();
        for c in cells {
            self.text.push_str(c);
            let end = u32::try_from(self.text.len()).map_err(|_| {
                TrainError::Data("the data's text is over 4 GiB; train on a sample, or split the file".into())
            })?;
            self.ends.push(end);
        }
        let n = self.ends.len() - before;
        if n != self.header.len() {
            self.ends.truncate(before);
            return Err(TrainError::Data(format!("a row has {n} cells; the header has {}", self.header.len())));
        }
        Ok(())
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.ends.len().checked_div(self.header.len()).unwrap_or(0)
    }

    /// The cell at row `r`, column `c`.
    pub fn cell(&self, r: usize, c: usize) -> &str {
        let i = r * self.header.len() + c;
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.text[start..self.ends[i] as usize]
    }

    /// The cells of row `r`.
    pub fn row(&self, r: usize) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.header.len()).map(move |c| self.cell(r, c))
    }

    /// Every row's cells.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = impl ExactSizeIterator<Item = &str> + '_> + '_ {
        (0..self.n_rows()).map(|r| self.row(r))
    }

    /// Reads CSV or Parquet (by extension: `.parquet`/`.pq`). `names` supplies the header of a
    /// CSV without one (e.g. UCI Adult).
    pub fn read(path: &Path, names: Option<&[String]>) -> Result<Table, TrainError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("parquet" | "pq") => Self::read_parquet(path),
            _ => Self::read_csv(path, names),
        }
    }

    /// Reads a CSV file as a stream. Cells are trimmed, so `, ` separated files read like `,`.
    pub fn read_csv(path: &Path, names: Option<&[String]>) -> Result<Table, TrainError> {
        let file = File::open(path).map_err(|e| err(path, format!("cannot open: {e}")))?;
        let mut src = Hashing { inner: BufReader::new(file), hasher: Sha256::new() };
        let mut t = Self::parse_reader(&mut src, names).map_err(|e| match e {
            TrainError::Data(m) => err(path, m),
            e => e,
        })?;
        // Hash whatever the CSV reader did not need to read (nothing, normally).
        std::io::copy(&mut src, &mut std::io::sink()).map_err(|e| err(path, e))?;
        t.sha256 = hex(&src.hasher.finalize());
        t.source = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(t)
    }

    /// Parses CSV bytes.
    pub fn parse_csv(bytes: &[u8], names: Option<&[String]>) -> Result<Table, TrainError> {
        let mut t = Self::parse_reader(&mut &bytes[..], names)?;
        t.sha256 = hex(&Sha256::digest(bytes));
        Ok(t)
    }

    fn parse_reader(r: &mut dyn Read, names: Option<&[String]>) -> Result<Table, TrainError> {
        let mut rdr =
            csv::ReaderBuilder::new().has_headers(names.is_none()).trim(csv::Trim::All).flexible(false).from_reader(r);
        let header: Vec<String> = match names {
            Some(n) => n.to_vec(),
            None => {
                rdr.headers().map_err(|e| TrainError::Data(format!("header: {e}")))?.iter().map(String::from).collect()
            }
        };
        if header.is_empty() || header.iter().all(|h| h.is_empty()) {
            return Err(TrainError::Data("the file is empty".into()));
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = header.iter().find(|h| !seen.insert(h.as_str())) {
            return Err(TrainError::Data(format!("column `{dup}` appears twice in the header")));
        }
        let mut table = Table::new(header);
        let mut rec = csv::StringRecord::new();
        for i in 0.. {
            // One record buffer for the whole file: no allocation per row.
            let more = rdr.read_record(&mut rec).map_err(|e| match e.kind() {
                csv::ErrorKind::Utf8 { .. } => {
                    TrainError::Data(format!("row {}: not valid UTF-8; convert the file to UTF-8", i + 1))
                }
                csv::ErrorKind::UnequalLengths { len, .. } => {
                    TrainError::Data(format!("row {} has {len} fields; the header has {}", i + 1, table.header.len()))
                }
                _ => TrainError::Data(format!("row {}: {e}", i + 1)),
            })?;
            if !more {
                break;
            }
            table.push_row(rec.iter()).map_err(|e| TrainError::Data(format!("row {}: {e}", i + 1)))?;
        }
        if table.n_rows() == 0 {
            return Err(TrainError::Data("the file has a header but no rows".into()));
        }
        Ok(table)
    }

    /// Reads a Parquet file batch by batch. Integer, float, boolean, string and dictionary-of-
    /// string columns are supported; nulls become empty (missing) cells.
    pub fn read_parquet(path: &Path) -> Result<Table, TrainError> {
        use arrow_array::cast::AsArray;
        use arrow_array::types::*;
        use arrow_array::{Array, ArrayRef};
        use arrow_schema::DataType;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

        let bytes = std::fs::read(path).map_err(|e| err(path, format!("cannot read: {e}")))?;
        let sha256 = hex(&Sha256::digest(&bytes));
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
            .map_err(|e| err(path, format!("not a readable Parquet file: {e}")))?;
        let header: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
        let reader = builder.with_batch_size(8192).build().map_err(|e| err(path, e))?;
        fn cell(a: &ArrayRef, i: usize, col: &str) -> Result<String, String> {
            if a.is_null(i) {
                return Ok(String::new());
            }
            Ok(match a.data_type() {
                DataType::Boolean => a.as_boolean().value(i).to_string(),
                DataType::Int8 => a.as_primitive::<Int8Type>().value(i).to_string(),
                DataType::Int16 => a.as_primitive::<Int16Type>().value(i).to_string(),
                DataType::Int32 => a.as_primitive::<Int32Type>().value(i).to_string(),
                DataType::Int64 => a.as_primitive::<Int64Type>().value(i).to_string(),
                DataType::UInt8 => a.as_primitive::<UInt8Type>().value(i).to_string(),
                DataType::UInt16 => a.as_primitive::<UInt16Type>().value(i).to_string(),
                DataType::UInt32 => a.as_primitive::<UInt32Type>().value(i).to_string(),
                DataType::UInt64 => a.as_primitive::<UInt64Type>().value(i).to_string(),
                DataType::Float32 => a.as_primitive::<Float32Type>().value(i).to_string(),
                DataType::Float64 => a.as_primitive::<Float64Type>().value(i).to_string(),
                DataType::Utf8 => a.as_string::<i32>().value(i).to_string(),
                DataType::LargeUtf8 => a.as_string::<i64>().value(i).to_string(),
                DataType::Utf8View => a.as_string_view().value(i).to_string(),
                DataType::Dictionary(k, v) if **k == DataType::Int32 && **v == DataType::Utf8 => {
                    let d = a.as_dictionary::<Int32Type>();
                    let key = d.keys().value(i) as usize;
                    d.values().as_string::<i32>().value(key).to_string()
                }
                t => {
                    return Err(format!(
                        "column `{col}` has Parquet/Arrow type {t}, which scorelet does not read; cast it to a number or string"
                    ));
                }
            })
        }
        let mut table = Table::new(header);
        let mut row: Vec<String> = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| err(path, e))?;
            for i in 0..batch.num_rows() {
                row.clear();
                for (c, a) in batch.columns().iter().enumerate() {
                    row.push(cell(a, i, &table.header[c]).map_err(|m| err(path, m))?);
                }
                table.push_row(row.iter().map(String::as_str)).map_err(|e| err(path, e))?;
            }
        }
        if table.n_rows() == 0 {
            return Err(err(path, "the file has no rows"));
        }
        table.sha256 = sha256;
        table.source = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(table)
    }

    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Result<usize, TrainError> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| TrainError::Data(format!("no column `{name}`; the columns are: {}", self.header.join(", "))))
    }
}

/// Column names of the UCI Adult data set, which ships without a header.
pub fn adult_columns() -> Vec<String> {
    [
        "age",
        "workclass",
        "fnlwgt",
        "education",
        "education-num",
        "marital-status",
        "occupation",
        "relationship",
        "race",
        "sex",
        "capital-gain",
        "capital-loss",
        "hours-per-week",
        "native-country",
        "income",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}
