//! Loading tabular training data — CSV (with or without a header) or Parquet — as raw string
//! cells, the form the feature pipeline reads (numbers are parsed by the columns that want them,
//! exactly as at serving time). Files are read as a stream and hashed on the way for lineage.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::TrainError;

/// A table of raw string cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
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
        let mut rows = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| match e.kind() {
                csv::ErrorKind::Utf8 { .. } => {
                    TrainError::Data(format!("row {}: not valid UTF-8; convert the file to UTF-8", i + 1))
                }
                csv::ErrorKind::UnequalLengths { len, .. } => {
                    TrainError::Data(format!("row {} has {len} fields; the header has {}", i + 1, header.len()))
                }
                _ => TrainError::Data(format!("row {}: {e}", i + 1)),
            })?;
            rows.push(rec.iter().map(String::from).collect());
        }
        if rows.is_empty() {
            return Err(TrainError::Data("the file has a header but no rows".into()));
        }
        Ok(Table { header, rows, sha256: String::new(), source: String::new() })
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
        let mut rows = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| err(path, e))?;
            let start = rows.len();
            rows.extend((0..batch.num_rows()).map(|_| Vec::with_capacity(header.len())));
            for (c, a) in batch.columns().iter().enumerate() {
                for i in 0..batch.num_rows() {
                    rows[start + i].push(cell(a, i, &header[c]).map_err(|m| err(path, m))?);
                }
            }
        }
        if rows.is_empty() {
            return Err(err(path, "the file has no rows"));
        }
        Ok(Table {
            header,
            rows,
            sha256,
            source: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
        })
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
