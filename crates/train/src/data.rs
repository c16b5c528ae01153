//! Loading tabular training data: CSV with or without a header, as raw string rows.

use std::path::Path;

use crate::TrainError;

/// A table of raw string cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// sha256 of the file's bytes (lineage).
    pub sha256: String,
}

impl Table {
    /// Reads a CSV file. `names` supplies the header for files without one (e.g. UCI Adult).
    /// Cells are trimmed, so `, ` separated files read like `,` separated ones.
    pub fn read_csv(path: &Path, names: Option<&[String]>) -> Result<Table, TrainError> {
        let bytes =
            std::fs::read(path).map_err(|e| TrainError::Data(format!("cannot read {}: {e}", path.display())))?;
        Self::parse_csv(&bytes, names).map_err(|e| match e {
            TrainError::Data(m) => TrainError::Data(format!("{}: {m}", path.display())),
            e => e,
        })
    }

    /// Parses CSV bytes.
    pub fn parse_csv(bytes: &[u8], names: Option<&[String]>) -> Result<Table, TrainError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(TrainError::Data("the file is empty".into()));
        }
        let mut rdr = csv::ReaderBuilder::new()
            .has_headers(names.is_none())
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(bytes);
        let header: Vec<String> = match names {
            Some(n) => n.to_vec(),
            None => {
                rdr.headers().map_err(|e| TrainError::Data(format!("header: {e}")))?.iter().map(String::from).collect()
            }
        };
        let mut rows = Vec::new();
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| TrainError::Data(format!("row {}: {e}", i + 1)))?;
            if rec.len() != header.len() {
                return Err(TrainError::Data(format!(
                    "row {} has {} fields; the header has {}",
                    i + 1,
                    rec.len(),
                    header.len()
                )));
            }
            rows.push(rec.iter().map(String::from).collect());
        }
        if rows.is_empty() {
            return Err(TrainError::Data("the file has a header but no rows".into()));
        }
        Ok(Table { header, rows, sha256: scorelet::bundle::sha256_hex(bytes) })
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
