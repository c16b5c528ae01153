//! The common `/invocations` bodies deserialized straight into rows, without a JSON tree:
//! `dataframe_records`, `dataframe_split`, and `instances`/`inputs` as records or positional
//! arrays, with optional `params`. Keys are borrowed from the body and matched to column
//! positions the [`RowReader`] resolved once; cells become [`ValueRef`]s that borrow their text
//! from the body, one flat buffer for the batch ([`CellRows`]): no `String` per cell, no `Vec`
//! per row.
//!
//! Architecture invariant: this path only ever *accepts*. Anything it does not take exactly
//! (another shape, a duplicate or unknown key, a missing column, a cell that is not a scalar, a
//! string with escapes (it cannot be borrowed), an empty batch, malformed JSON) makes it give
//! up, and [`super::mlflow::parse_tree`] parses the body again with the JSON tree, which produces
//! the error, so errors are the same text as ever. Successful answers are the same rows the tree
//! path would build (tests compare them).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::RowReader;
use super::rows::Slot;
use crate::prediction::Options;
use crate::value::{Row, ValueRef};

/// A batch of rows as borrowed cells: `width` per row (the model's input columns, in signature
/// order), row after row.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRows<'b> {
    pub width: usize,
    pub cells: Vec<ValueRef<'b>>,
}

impl<'b> CellRows<'b> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.cells.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cells of row `i`.
    pub fn row(&self, i: usize) -> &[ValueRef<'b>] {
        &self.cells[i * self.width..(i + 1) * self.width]
    }

    /// Owned rows, as the tree path builds them.
    pub fn to_rows(&self) -> Vec<Row> {
        (0..self.len()).map(|i| self.row(i).iter().map(|c| c.to_value()).collect()).collect()
    }
}

/// Why the direct path gave up (never shown: the tree path then names the real problem).
#[derive(Debug)]
pub struct GiveUp;

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a shape the direct path takes")
    }
}

impl std::error::Error for GiveUp {}

impl de::Error for GiveUp {
    fn custom<T: fmt::Display>(_: T) -> Self {
        GiveUp
    }
}

/// Rows and options from an `/invocations` body, or `None` for the tree path to handle.
pub fn parse<'b>(body: &'b [u8], reader: &RowReader) -> Option<(CellRows<'b>, Options)> {
    // One UTF-8 check of the whole body (vectorized) instead of one per string as `from_slice`
    // does; a body that is not UTF-8 takes the tree path, which names the error.
    let text = std::str::from_utf8(body).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let out = Body { reader }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    out
}

struct Body<'r> {
    reader: &'r RowReader,
}

impl<'de> DeserializeSeed<'de> for Body<'_> {
    type Value = Option<(CellRows<'de>, Options)>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Body<'_> {
    type Value = Option<(CellRows<'de>, Options)>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an /invocations body")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut rows, mut options) = (None::<Vec<ValueRef<'de>>>, None);
        while let Some(key) = map.next_key_seed(Key)? {
            match key.as_ref() {
                "dataframe_records" | "dataframe_split" | "instances" | "inputs" if rows.is_none() => {
                    rows = Some(match key.as_ref() {
                        "dataframe_split" => map.next_value_seed(Split { reader: self.reader })?,
                        k => {
                            map.next_value_seed(Rows { reader: self.reader, records_only: k == "dataframe_records" })?
                        }
                    });
                }
                "params" if options.is_none() => {
                    let v: serde_json::Value = map.next_value()?;
                    options = Some(super::parse_options(Some(&v)).map_err(de::Error::custom)?);
                }
                _ => return Err(de::Error::custom(GiveUp)),
            }
        }
        let width = self.reader.columns().len();
        Ok(rows
            .filter(|r| !r.is_empty() && width > 0)
            .map(|cells| (CellRows { width, cells }, options.unwrap_or_default())))
    }
}

/// `[{…}, …]` (records) or `[[…], …]` (positional, unless `records_only`), one kind throughout.
struct Rows<'r> {
    reader: &'r RowReader,
    records_only: bool,
}

impl<'de> DeserializeSeed<'de> for Rows<'_> {
    type Value = Vec<ValueRef<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Rows<'_> {
    type Value = Vec<ValueRef<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let width = self.reader.columns().len();
        let mut cells = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(1024) * width);
        let mut records = None;
        let mut memo = Vec::new();
        while let Some(is_record) =
            seq.next_element_seed(AnyRow { reader: self.reader, slots: None, memo: &mut memo, out: &mut cells })?
        {
            // The tree path reads an array of records only if *every* item is an object.
            if *records.get_or_insert(is_record) != is_record || (self.records_only && !is_record) {
                return Err(de::Error::custom(GiveUp));
            }
        }
        Ok(cells)
    }
}

/// One row, appended to `out`: an object keyed by column (`true`), or an array in signature
/// order, or laid out by `slots` (`false`).
struct AnyRow<'r, 's, 'de> {
    reader: &'r RowReader,
    slots: Option<&'s [Option<usize>]>,
    /// For records: the input position of the j-th key of earlier records (clients send every
    /// record in one key order), checked with one comparison before a hash lookup.
    memo: &'s mut Vec<usize>,
    out: &'s mut Vec<ValueRef<'de>>,
}

impl<'de> DeserializeSeed<'de> for AnyRow<'_, '_, 'de> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AnyRow<'_, '_, 'de> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        if self.slots.is_some() {
            return Err(de::Error::custom(GiveUp));
        }
        let n = self.reader.columns().len();
        let base = self.out.len();
        self.out.resize(base + n, ValueRef::Missing);
        let row = &mut self.out[base..];
        // Which columns were given (up to 256; wider rows take the tree path).
        let mut seen = [0u64; 4];
        let mut count = 0;
        let columns = self.reader.columns();
        let (mut j, mut last) = (0, None::<usize>);
        while let Some(key) = map.next_key_seed(Key)? {
            // Later records follow the first's key order; the first guesses signature order, then
            // name order (objects built from maps), before a hash lookup.
            let guesses = [
                self.memo.get(j).copied().unwrap_or(usize::MAX),
                last.map_or(0, |l| l + 1),
                self.reader.next_by_name(last),
            ];
            let slot = guesses
                .into_iter()
                .find(|g| columns.get(*g).is_some_and(|c| *c == key))
                .map_or_else(|| self.reader.slot(&key), Slot::Input);
            if let Slot::Input(i) = slot {
                last = Some(i);
            }
            let m = if let Slot::Input(i) = slot { i } else { usize::MAX };
            if j < self.memo.len() {
                self.memo[j] = m;
            } else {
                self.memo.push(m);
            }
            j += 1;
            match slot {
                Slot::Input(i) if i < 256 && seen[i / 64] & (1 << (i % 64)) == 0 => {
                    seen[i / 64] |= 1 << (i % 64);
                    count += 1;
                    row[i] = map.next_value_seed(Cell)?;
                }
                Slot::Ignored => {
                    map.next_value::<IgnoredAny>()?;
                }
                _ => return Err(de::Error::custom(GiveUp)),
            }
        }
        if count != n {
            return Err(de::Error::custom(GiveUp));
        }
        Ok(true)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let n = self.reader.columns().len();
        let base = self.out.len();
        self.out.resize(base + n, ValueRef::Missing);
        let row = &mut self.out[base..];
        let mut k = 0;
        while let Some(cell) = seq.next_element_seed(Cell)? {
            match self.slots {
                None if k < n => row[k] = cell,
                Some(slots) if k < slots.len() => {
                    if let Some(i) = slots[k] {
                        row[i] = cell;
                    }
                }
                _ => return Err(de::Error::custom(GiveUp)),
            }
            k += 1;
        }
        if k != self.slots.map_or(n, <[_]>::len) {
            return Err(de::Error::custom(GiveUp));
        }
        Ok(false)
    }
}

/// `{"columns": [...], "data": [[...], ...]}` (and any other keys, such as pandas' `index`,
/// ignored), with `columns` first.
struct Split<'r> {
    reader: &'r RowReader,
}

impl<'de> DeserializeSeed<'de> for Split<'_> {
    type Value = Vec<ValueRef<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Split<'_> {
    type Value = Vec<ValueRef<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a dataframe_split object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut slots, mut rows) = (None::<Vec<Option<usize>>>, None);
        while let Some(key) = map.next_key_seed(Key)? {
            match key.as_ref() {
                "columns" if slots.is_none() && rows.is_none() => {
                    let header: Vec<String> = map.next_value()?;
                    slots = Some(self.reader.header_slots(&header).map_err(de::Error::custom)?);
                }
                "data" if rows.is_none() => {
                    let s = slots.as_deref().ok_or_else(|| de::Error::custom(GiveUp))?;
                    rows = Some(map.next_value_seed(SplitData { reader: self.reader, slots: s })?);
                }
                "columns" | "data" => return Err(de::Error::custom(GiveUp)),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        rows.ok_or_else(|| de::Error::custom(GiveUp))
    }
}

struct SplitData<'r, 's> {
    reader: &'r RowReader,
    slots: &'s [Option<usize>],
}

impl<'de> DeserializeSeed<'de> for SplitData<'_, '_> {
    type Value = Vec<ValueRef<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SplitData<'_, '_> {
    type Value = Vec<ValueRef<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("data rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let width = self.reader.columns().len();
        let mut cells = Vec::with_capacity(seq.size_hint().unwrap_or(1).min(1024) * width);
        let mut memo = Vec::new();
        while seq
            .next_element_seed(AnyRow {
                reader: self.reader,
                slots: Some(self.slots),
                memo: &mut memo,
                out: &mut cells,
            })?
            .is_some()
        {}
        Ok(cells)
    }
}

/// A JSON array of scalars (`[1, "a", true, null]`) as cells borrowing their text, or `None` if
/// the text is anything else or a string has escapes (the caller then reads it another way).
pub fn scalars(text: &str) -> Option<Vec<ValueRef<'_>>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let out = Scalars.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(out)
}

/// A JSON array of arrays of scalars (`[[1, "a"], [true]]`), each as [`scalars`] reads one.
pub fn scalar_lists(text: &str) -> Option<Vec<Vec<ValueRef<'_>>>> {
    struct Lists;
    impl<'de> DeserializeSeed<'de> for Lists {
        type Value = Vec<Vec<ValueRef<'de>>>;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_seq(self)
        }
    }
    impl<'de> Visitor<'de> for Lists {
        type Value = Vec<Vec<ValueRef<'de>>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an array of arrays of scalars")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 12));
            while let Some(c) = seq.next_element_seed(Scalars)? {
                out.push(c);
            }
            Ok(out)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let out = Lists.deserialize(&mut de).ok()?;
    de.end().ok()?;
    Some(out)
}

/// A JSON array of scalars as a field of a larger body, cells borrowed (see [`scalars`]).
pub(super) struct ScalarList<'a>(pub Vec<ValueRef<'a>>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for ScalarList<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Scalars.deserialize(d).map(ScalarList)
    }
}

/// One array of scalars (see [`scalars`]).
struct Scalars;

impl<'de> DeserializeSeed<'de> for Scalars {
    type Value = Vec<ValueRef<'de>>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Scalars {
    type Value = Vec<ValueRef<'de>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of scalars")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
        while let Some(c) = seq.next_element_seed(Cell)? {
            out.push(c);
        }
        Ok(out)
    }
}

/// An object key, borrowed from the body unless it has escapes.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// A scalar cell, as [`crate::value::Value::from_json`] reads it, its text borrowed from the body; arrays,
/// objects and strings with escapes give up.
struct Cell;

impl<'de> DeserializeSeed<'de> for Cell {
    type Value = ValueRef<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Cell {
    type Value = ValueRef<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a scalar")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(ValueRef::Missing)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(ValueRef::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(ValueRef::Number(v as f64))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(ValueRef::Number(v as f64))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(ValueRef::Number(v))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(ValueRef::Text(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shapes clients send take the direct path (a fallback on them would be silent and slow).
    #[test]
    fn the_common_shapes_take_the_direct_path_and_others_give_up() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/bundle");
        let scorer = crate::Scorer::from_bundle(&crate::Bundle::load_dir(dir).unwrap()).unwrap();
        let reader = RowReader::for_pipeline(scorer.pipeline());
        let cols = reader.columns().to_vec();
        let vals: Vec<serde_json::Value> = cols.iter().map(|_| serde_json::json!("x")).collect();
        let rec: serde_json::Map<String, serde_json::Value> = cols.iter().cloned().zip(vals.clone()).collect();
        let takes = [
            serde_json::json!({"dataframe_records": [rec.clone(), rec.clone()]}),
            serde_json::json!({"instances": [rec.clone()], "params": {"return_features": true}}),
            serde_json::json!({"inputs": [vals.clone()]}),
            serde_json::json!({"dataframe_split": {"index": [0], "columns": cols, "data": [vals]}}),
        ];
        for b in &takes {
            let text = b.to_string();
            let (rows, _) = parse(text.as_bytes(), &reader).unwrap_or_else(|| panic!("gave up on {b}"));
            assert!(!rows.is_empty() && rows.row(0).iter().all(|v| *v == ValueRef::Text("x")), "{b}");
        }
        let mut dup = rec.clone();
        dup.remove(&reader.columns()[0]);
        let gives_up = [
            serde_json::json!({"dataframe_records": []}),
            serde_json::json!({"dataframe_records": [dup]}),
            serde_json::json!({"dataframe_records": [rec.clone()], "extra": 1}),
            serde_json::json!({"inputs": {"a": [1]}}),
            serde_json::json!([rec]),
        ];
        // A string with an escape cannot be borrowed: the tree path takes it.
        let mut escaped = rec.clone();
        escaped.insert(reader.columns()[0].clone(), serde_json::json!("a\\nb"));
        let gives_up = gives_up.into_iter().chain([serde_json::json!({"dataframe_records": [escaped]})]);
        for b in gives_up {
            assert!(parse(b.to_string().as_bytes(), &reader).is_none(), "{b}");
        }
        assert!(parse(b"{\"dataframe_records\": [", &reader).is_none());
    }
}
