//! Turning JSON into rows aligned with the model's input columns.

use serde_json::Value as Json;

use crate::error::{Error, InputError, Result};
use crate::features::Pipeline;
use crate::features::read::{TokenMap, TokenSet};
use crate::value::{Row, Value, ValueRef, truncate};

/// What a column name in a request is to the model.
pub(super) enum Slot {
    /// The input column at this position.
    Input(usize),
    /// Accepted and dropped.
    Ignored,
    Unknown,
}

/// Reads JSON records, column arrays or positional arrays into rows in signature order.
/// A column that is neither an input nor ignored is an error; so is a missing input column.
#[derive(Debug, Clone)]
pub struct RowReader {
    columns: Vec<String>,
    index: TokenMap<usize>,
    ignored: TokenSet,
    /// `sorted_next[i]`: the input after `i` in name order (`usize::MAX` after the last); the
    /// order JSON objects built from maps arrive in. Index `columns.len()` holds the first.
    sorted_next: Vec<usize>,
}

impl RowReader {
    /// A reader for the given input columns; `ignored` columns are accepted and dropped.
    pub fn new(columns: Vec<String>, ignored: &[String]) -> Self {
        let index = columns.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
        let mut order: Vec<usize> = (0..columns.len()).collect();
        order.sort_by(|a, b| columns[*a].cmp(&columns[*b]));
        let mut sorted_next = vec![usize::MAX; columns.len() + 1];
        let mut prev = columns.len();
        for &i in &order {
            sorted_next[prev] = i;
            prev = i;
        }
        RowReader { columns, index, ignored: ignored.iter().cloned().collect(), sorted_next }
    }

    /// The input that follows `after` in name order (`None` = the first), if any.
    pub(super) fn next_by_name(&self, after: Option<usize>) -> usize {
        self.sorted_next[after.unwrap_or(self.columns.len())]
    }

    /// The reader for a pipeline's input columns (a scorer's: `for_pipeline(scorer.pipeline())`).
    pub fn for_pipeline(p: &Pipeline) -> Self {
        let cols = p.input_columns().map(String::from).collect();
        Self::new(cols, p.ignored_columns())
    }

    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Number of input columns.
    pub(super) fn width(&self) -> usize {
        self.columns.len()
    }

    /// Where a named column goes.
    pub(super) fn slot(&self, name: &str) -> Slot {
        match self.index.get(name) {
            Some(&i) => Slot::Input(i),
            None if self.ignored.contains(name) => Slot::Ignored,
            None => Slot::Unknown,
        }
    }

    fn unknown(&self, row: usize, column: &str) -> Error {
        Error::input(row, truncate(column, 60), InputError::UnknownColumn { expected: self.columns.join(", ") })
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
            return Err(Error::input(0, &self.columns[i], InputError::MissingColumn));
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
        place(slots, cells, row, |i, cell| {
            out[i] = conv(cell, row, &self.columns[i])?;
            Ok(())
        })?;
        Ok(out)
    }

    /// [`RowReader::slotted`] for text cells, borrowed rather than copied: appends one row to
    /// `out`, a cell per input column in signature order (on an error, `out` is to be dropped).
    pub fn slotted_text<'a>(
        &self,
        slots: &[Option<usize>],
        cells: impl IntoIterator<Item = &'a str>,
        row: usize,
        out: &mut Vec<ValueRef<'a>>,
    ) -> Result<()> {
        let base = out.len();
        out.resize(base + self.columns.len(), ValueRef::Missing);
        place(slots, cells, row, |i, cell| {
            out[base + i] = ValueRef::Text(cell);
            Ok(())
        })
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
            .map(|(i, v)| v.ok_or_else(|| Error::input(r, &self.columns[i], InputError::MissingColumn)))
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
            return Err(Error::input(0, &self.columns[i], InputError::MissingColumn));
        }
        let cols: Vec<Vec<&Json>> = by_slot.into_iter().flatten().collect();
        (0..n.unwrap_or(0))
            .map(|r| cols.iter().enumerate().map(|(i, c)| Value::from_json(c[r], r, &self.columns[i])).collect())
            .collect()
    }
}

/// Hands each cell laid out by `slots` to `put(input, cell)` (ignored columns are skipped); a
/// row longer or shorter than its header is an error.
fn place<T>(
    slots: &[Option<usize>],
    cells: impl IntoIterator<Item = T>,
    row: usize,
    mut put: impl FnMut(usize, T) -> Result<()>,
) -> Result<()> {
    let mut n = 0;
    for cell in cells {
        // Extra cells are counted, not dropped: a row longer than its header is an error.
        if let Some(Some(i)) = slots.get(n) {
            put(*i, cell)?;
        }
        n += 1;
    }
    if n != slots.len() {
        return Err(Error::BadRequest(format!("row {row} has {n} values; the header has {}", slots.len())));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::InputError;
    use serde_json::json;

    fn reader() -> RowReader {
        RowReader::new(vec!["a".into(), "b".into()], &["id".into()])
    }

    #[test]
    fn records_come_out_in_signature_order_and_ignored_columns_are_dropped() {
        let rows = reader().records(&[json!({"b": "x", "id": 7, "a": 1.5})]).unwrap();
        assert_eq!(rows, vec![vec![Value::Number(1.5), Value::Text("x".into())]]);
        let e = reader().record(&json!({"a": 1}), 3).unwrap_err();
        assert_eq!(e, Error::input(3, "b", InputError::MissingColumn));
        let e = reader().record(&json!({"a": 1, "b": 2, "colour": 3}), 0).unwrap_err();
        assert!(
            matches!(&e, Error::Input { column, kind: InputError::UnknownColumn { expected }, .. }
            if column == "colour" && expected == "a, b"),
            "{e}"
        );
        assert!(reader().record(&json!([1, 2]), 0).unwrap_err().to_string().contains("row 0 is not a JSON object"));
    }

    #[test]
    fn split_orientation_maps_the_header_once() {
        let r = reader();
        let rows = r.split(&[json!("id"), json!("b"), json!("a")], &[json!([1, "x", 2]), json!([2, "y", 3])]).unwrap();
        assert_eq!(rows[1], vec![Value::Number(3.0), Value::Text("y".into())]);
        let e = r.split(&[json!("a"), json!("a"), json!("b")], &[]).unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
        let e = r.split(&[json!("a"), json!("b")], &[json!([1])]).unwrap_err();
        assert!(e.to_string().contains("row 0 has 1 values; the header has 2"), "{e}");
        assert_eq!(r.split(&[json!("a")], &[]).unwrap_err(), Error::input(0, "b", InputError::MissingColumn));
    }

    #[test]
    fn positional_and_columnar_rows() {
        let r = reader();
        assert_eq!(r.positional(&[json!([true, null])]).unwrap()[0], vec![Value::Bool(true), Value::Missing]);
        assert!(r.positional(&[json!([1, 2, 3])]).is_err(), "too many cells");
        let (a, b) = (vec![json!(1), json!(2)], vec![json!("p"), json!("q")]);
        let rows = r.columnar([("b", b.iter().collect()), ("a", a.iter().collect())]).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0], vec![Value::Number(1.0), Value::Text("p".into())]);
        let short = [json!(1)];
        let e = r.columnar([("a", a.iter().collect()), ("b", short.iter().collect())]).unwrap_err();
        assert!(e.to_string().contains("has 1 values; other columns have 2"), "{e}");
    }
}
