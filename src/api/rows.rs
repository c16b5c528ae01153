//! Turning JSON into rows aligned with the model's input columns.

use std::collections::{HashMap, HashSet};

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::features::Pipeline;
use crate::value::{Row, Value, truncate};

/// Reads JSON records, column arrays or positional arrays into rows in signature order.
/// A column that is neither an input nor ignored is an error; so is a missing input column.
#[derive(Debug, Clone)]
pub struct RowReader {
    columns: Vec<String>,
    index: HashMap<String, usize>,
    ignored: HashSet<String>,
}

impl RowReader {
    /// A reader for the given input columns; `ignored` columns are accepted and dropped.
    pub fn new(columns: Vec<String>, ignored: &[String]) -> Self {
        let index = columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
        RowReader { columns, index, ignored: ignored.iter().cloned().collect() }
    }

    /// The reader for a pipeline's input columns (a scorer's: `for_pipeline(scorer.pipeline())`).
    pub fn for_pipeline(p: &Pipeline) -> Self {
        let cols = p.input_columns().map(String::from).collect();
        Self::new(cols, p.ignored_columns())
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    fn unknown(&self, row: usize, column: &str) -> Error {
        Error::UnknownColumn { row, column: truncate(column, 60), expected: self.columns.join(", ") }
    }

    /// Maps a header to column slots (`None` for ignored columns); checks every input is present.
    pub fn header_slots(&self, header: &[String]) -> Result<Vec<Option<usize>>> {
        let mut seen = vec![false; self.columns.len()];
        let mut slots = Vec::with_capacity(header.len());
        for h in header {
            match self.index.get(h) {
                Some(&i) if seen[i] => {
                    return Err(Error::BadRequest(format!("column `{}` is given twice", truncate(h, 60))));
                }
                Some(&i) => {
                    seen[i] = true;
                    slots.push(Some(i));
                }
                None if self.ignored.contains(h) => slots.push(None),
                None => return Err(self.unknown(0, h)),
            }
        }
        if let Some(i) = seen.iter().position(|s| !s) {
            return Err(Error::MissingColumn { row: 0, column: self.columns[i].clone() });
        }
        Ok(slots)
    }

    /// One row from values laid out by `slots` (see [`RowReader::header_slots`]).
    pub fn slotted<T>(
        &self,
        slots: &[Option<usize>],
        cells: impl IntoIterator<Item = T>,
        row: usize,
        mut conv: impl FnMut(T, usize, &str) -> Result<Value>,
    ) -> Result<Row> {
        let mut out = vec![Value::Missing; self.columns.len()];
        let mut n = 0;
        for (slot, cell) in slots.iter().zip(cells) {
            n += 1;
            if let Some(i) = slot {
                out[*i] = conv(cell, row, &self.columns[*i])?;
            }
        }
        if n != slots.len() {
            return Err(Error::BadRequest(format!("row {row} has {n} values; the header has {}", slots.len())));
        }
        Ok(out)
    }

    /// Rows from JSON objects keyed by column name.
    pub fn records(&self, records: &[Json]) -> Result<Vec<Row>> {
        records.iter().enumerate().map(|(r, rec)| self.record(rec, r)).collect()
    }

    /// One row from a JSON object keyed by column name.
    pub fn record(&self, rec: &Json, r: usize) -> Result<Row> {
        let obj = rec.as_object().ok_or_else(|| Error::BadRequest(format!("row {r} is not a JSON object")))?;
        let mut row = vec![None; self.columns.len()];
        for (k, v) in obj {
            match self.index.get(k) {
                Some(&i) => row[i] = Some(Value::from_json(v, r, k)?),
                None if self.ignored.contains(k) => {}
                None => return Err(self.unknown(r, k)),
            }
        }
        row.into_iter()
            .enumerate()
            .map(|(i, v)| v.ok_or_else(|| Error::MissingColumn { row: r, column: self.columns[i].clone() }))
            .collect()
    }

    /// Rows from `{"columns": [...], "data": [[...], ...]}` (pandas split orientation).
    pub fn split(&self, columns: &[Json], data: &[Json]) -> Result<Vec<Row>> {
        let header: Vec<String> = columns
            .iter()
            .map(|c| c.as_str().map(String::from).ok_or_else(|| Error::BadRequest("`columns` must be strings".into())))
            .collect::<Result<_>>()?;
        let slots = self.header_slots(&header)?;
        data.iter()
            .enumerate()
            .map(|(r, row)| {
                let cells = row.as_array().ok_or_else(|| Error::BadRequest(format!("data row {r} is not an array")))?;
                self.slotted(&slots, cells, r, Value::from_json)
            })
            .collect()
    }

    /// Rows from positional arrays in signature order.
    pub fn positional(&self, data: &[Json]) -> Result<Vec<Row>> {
        let slots: Vec<Option<usize>> = (0..self.columns.len()).map(Some).collect();
        data.iter()
            .enumerate()
            .map(|(r, row)| {
                let cells = row.as_array().ok_or_else(|| Error::BadRequest(format!("row {r} is not an array")))?;
                self.slotted(&slots, cells, r, Value::from_json)
            })
            .collect()
    }

    /// Rows from named columns of equal length (`{"col": [v0, v1, ...], ...}`).
    pub fn columnar<'a>(&self, cols: impl IntoIterator<Item = (&'a str, Vec<&'a Json>)>) -> Result<Vec<Row>> {
        let mut by_slot: Vec<Option<Vec<&Json>>> = vec![None; self.columns.len()];
        let mut n: Option<usize> = None;
        for (name, values) in cols {
            let slot = match self.index.get(name) {
                Some(&i) => i,
                None if self.ignored.contains(name) => continue,
                None => return Err(self.unknown(0, name)),
            };
            if by_slot[slot].is_some() {
                return Err(Error::BadRequest(format!("column `{name}` is given twice")));
            }
            match n {
                Some(k) if k != values.len() => {
                    return Err(Error::BadRequest(format!(
                        "column `{name}` has {} values; other columns have {k}",
                        values.len()
                    )));
                }
                _ => n = Some(values.len()),
            }
            by_slot[slot] = Some(values);
        }
        if let Some(i) = by_slot.iter().position(|c| c.is_none()) {
            return Err(Error::MissingColumn { row: 0, column: self.columns[i].clone() });
        }
        let cols: Vec<Vec<&Json>> = by_slot.into_iter().flatten().collect();
        (0..n.unwrap_or(0))
            .map(|r| cols.iter().enumerate().map(|(i, c)| Value::from_json(c[r], r, &self.columns[i])).collect())
            .collect()
    }
}
