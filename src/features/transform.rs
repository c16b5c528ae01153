//! The transform: raw row → f32 feature vector. This is the code the trainer and every runtime
//! share; it computes in f32 with a fixed order of operations and `libm` for transcendental math,
//! so its output is bit-identical on every target.

use std::collections::HashSet;

use super::fitted::{ColumnTransform, FittedEncoding, FittedFeatures, Step};
use super::read::{TokenMap, TokenSet, fnv1a, lower_set, missing_set, read_bool, read_category, read_number};
use super::spec::UnknownPolicy;
use crate::error::{Error, InputError, Result};
use crate::value::{Row, Value, ValueRef, truncate};

/// One input column of a columnar batch ([`Pipeline::transform_columns`]).
#[derive(Debug, Clone, Copy)]
pub enum ColumnCells<'a> {
    /// One cell per row.
    Cells(&'a [ValueRef<'a>]),
    /// One number per row (a typed array).
    Numbers(&'a [f64]),
    /// Dictionary-encoded, as Arrow dictionary arrays and pandas categoricals store a column:
    /// row `r` holds `values[codes[r]]`. Each distinct value is transformed once, at its first
    /// row, and its slots copied to every row that holds it.
    Dictionary { codes: &'a [u32], values: &'a [ValueRef<'a>] },
}

impl<'a> ColumnCells<'a> {
    /// Number of rows.
    pub fn len(&self) -> usize {
        match self {
            ColumnCells::Cells(c) => c.len(),
            ColumnCells::Numbers(n) => n.len(),
            ColumnCells::Dictionary { codes, .. } => codes.len(),
        }
    }

    /// Whether the column has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `r`'s cell of the column named `name`; a code outside the dictionary is an error.
    fn cell(&self, r: usize, name: &str) -> Result<ValueRef<'a>> {
        match *self {
            ColumnCells::Cells(c) => Ok(c[r]),
            ColumnCells::Numbers(n) => Ok(ValueRef::Number(n[r])),
            ColumnCells::Dictionary { codes, values } => values.get(codes[r] as usize).copied().ok_or_else(|| {
                Error::BadRequest(format!(
                    "column `{name}`, row {r}: code {} is outside its dictionary of {} values",
                    codes[r],
                    values.len()
                ))
            }),
        }
    }
}

/// A compiled, ready-to-run feature pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    fitted: FittedFeatures,
    columns: Vec<CompiledColumn>,
    width: usize,
    names: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct CompiledColumn {
    pub(crate) name: String,
    missing: TokenSet,
    kind: Compiled,
    width: usize,
}

#[derive(Debug, Clone)]
enum Compiled {
    Numeric { impute: Option<f32>, indicator: bool, steps: Vec<Step>, edges: Option<Vec<f32>> },
    OneHot { impute: Option<String>, index: TokenMap<usize>, n: usize, unknown: UnknownPolicy },
    Hash { impute: Option<String>, buckets: u32 },
    Ordinal { impute: Option<String>, index: TokenMap<usize>, unknown: UnknownPolicy },
    Boolean { impute: Option<bool>, indicator: bool, truthy: TokenSet, falsy: TokenSet },
}

impl Pipeline {
    /// Compiles fitted parameters into lookup tables.
    pub fn new(fitted: FittedFeatures) -> Result<Self> {
        let mut columns = Vec::with_capacity(fitted.columns.len());
        let mut names = Vec::new();
        let mut seen = HashSet::new();
        for c in &fitted.columns {
            if !seen.insert(c.name.as_str()) {
                return Err(Error::Bundle(format!("features.json lists column `{}` twice", c.name)));
            }
            let missing = missing_set(&c.missing_tokens);
            let n0 = names.len();
            let kind = match &c.transform {
                ColumnTransform::Numeric { impute, missing_indicator, steps } => {
                    let mut steps = steps.clone();
                    let edges = match steps.last() {
                        Some(Step::Bucketize { edges }) => {
                            let e = edges.clone();
                            steps.pop();
                            Some(e)
                        }
                        _ => None,
                    };
                    if steps.iter().any(|s| matches!(s, Step::Bucketize { .. })) {
                        return Err(Error::Bundle(format!("column `{}`: bucketize must be last", c.name)));
                    }
                    match &edges {
                        Some(e) => {
                            for i in 0..=e.len() {
                                names.push(match i {
                                    0 => format!("{}[<{}]", c.name, e[0]),
                                    i if i == e.len() => format!("{}[>={}]", c.name, e[i - 1]),
                                    i => format!("{}[{},{})", c.name, e[i - 1], e[i]),
                                });
                            }
                        }
                        None => names.push(c.name.clone()),
                    }
                    if *missing_indicator {
                        names.push(format!("{}__missing", c.name));
                    }
                    Compiled::Numeric { impute: *impute, indicator: *missing_indicator, steps, edges }
                }
                ColumnTransform::Categorical { impute, encoding, unknown } => match encoding {
                    FittedEncoding::OneHot { categories } => {
                        for cat in categories {
                            names.push(format!("{}={}", c.name, cat));
                        }
                        if *unknown == UnknownPolicy::Bucket {
                            names.push(format!("{}=__unknown__", c.name));
                        }
                        Compiled::OneHot {
                            impute: impute.clone(),
                            index: index_of(categories, &c.name)?,
                            n: categories.len(),
                            unknown: *unknown,
                        }
                    }
                    FittedEncoding::Hash { buckets } => {
                        if *buckets == 0 {
                            return Err(Error::Bundle(format!("column `{}`: zero hash buckets", c.name)));
                        }
                        for i in 0..*buckets {
                            names.push(format!("{}#{}", c.name, i));
                        }
                        Compiled::Hash { impute: impute.clone(), buckets: *buckets }
                    }
                    FittedEncoding::Ordinal { categories } => {
                        names.push(c.name.clone());
                        Compiled::Ordinal {
                            impute: impute.clone(),
                            index: index_of(categories, &c.name)?,
                            unknown: *unknown,
                        }
                    }
                },
                ColumnTransform::Boolean { impute, missing_indicator, true_tokens, false_tokens } => {
                    names.push(c.name.clone());
                    if *missing_indicator {
                        names.push(format!("{}__missing", c.name));
                    }
                    Compiled::Boolean {
                        impute: *impute,
                        indicator: *missing_indicator,
                        truthy: lower_set(true_tokens),
                        falsy: lower_set(false_tokens),
                    }
                }
            };
            columns.push(CompiledColumn { name: c.name.clone(), missing, kind, width: names.len() - n0 });
        }
        let width = names.len();
        if width == 0 {
            return Err(Error::Bundle("features.json produces no features".into()));
        }
        Ok(Pipeline { fitted, columns, width, names })
    }

    /// Number of f32 slots per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// A name for every output slot, e.g. `tenure`, `Contract=One year`, `tenure__missing`.
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    /// Input column names, in row order.
    pub fn input_columns(&self) -> impl Iterator<Item = &str> {
        self.columns.iter().map(|c| c.name.as_str())
    }

    /// Columns accepted in input and ignored.
    pub fn ignored_columns(&self) -> &[String] {
        &self.fitted.ignore
    }

    /// The fitted parameters this pipeline was built from.
    pub fn fitted(&self) -> &FittedFeatures {
        &self.fitted
    }

    /// Transforms one row (values in input-column order) into `out`, which must hold
    /// [`Pipeline::width`] slots. `row_index` only labels errors.
    pub fn transform_into(&self, row: &[Value], row_index: usize, out: &mut [f32]) -> Result<()> {
        self.transform_cells_into(row.iter().map(Value::as_ref), row_index, out)
    }

    /// [`Pipeline::transform_into`] over borrowed cells (in input-column order), so a caller
    /// that parses text need not own a `String` per cell.
    pub fn transform_cells_into<'a>(
        &self,
        row: impl ExactSizeIterator<Item = ValueRef<'a>>,
        row_index: usize,
        out: &mut [f32],
    ) -> Result<()> {
        if row.len() != self.columns.len() {
            return Err(Error::BadRequest(format!(
                "row {row_index} has {} values, the model has {} input columns",
                row.len(),
                self.columns.len()
            )));
        }
        assert_eq!(out.len(), self.width, "output buffer width");
        let mut at = 0;
        for (col, v) in self.columns.iter().zip(row) {
            let slots = &mut out[at..at + col.width];
            col.transform(v, row_index, slots)?;
            at += col.width;
        }
        Ok(())
    }

    /// Transforms a columnar batch (one entry per input column, in input-column order, all of
    /// the same length) into one row-major `rows × width` buffer: the same vectors as
    /// [`Pipeline::transform_cells_into`] row by row, and the same error, the first in row order.
    pub fn transform_columns(&self, columns: &[ColumnCells<'_>]) -> Result<Vec<f32>> {
        if columns.len() != self.columns.len() {
            return Err(Error::BadRequest(format!(
                "{} columns given, the model has {} input columns",
                columns.len(),
                self.columns.len()
            )));
        }
        let rows = columns.first().map_or(0, ColumnCells::len);
        if let Some((c, col)) = columns.iter().enumerate().find(|(_, c)| c.len() != rows) {
            return Err(Error::BadRequest(format!(
                "column `{}` has {} values; column `{}` has {rows}",
                self.columns[c].name,
                col.len(),
                self.columns[0].name
            )));
        }
        let width = self.width;
        let mut out = vec![0.0; rows * width];
        let mut at = 0;
        let (mut table, mut ready) = (Vec::new(), Vec::new());
        for (col, cells) in self.columns.iter().zip(columns) {
            let w = col.width;
            let rows_out = out.chunks_exact_mut(width).map(|row| &mut row[at..at + w]).enumerate();
            let done = match *cells {
                ColumnCells::Dictionary { codes, values } => {
                    // Slots per distinct value, filled at the value's first row: a value no row
                    // holds is never read, so it cannot fail the batch.
                    table.clear();
                    table.resize(values.len() * w, 0.0);
                    ready.clear();
                    ready.resize(values.len(), false);
                    rows_out.zip(codes).try_for_each(|((r, slots), &code)| {
                        let k = code as usize;
                        let v = *values.get(k).ok_or(())?;
                        let cached = &mut table[k * w..(k + 1) * w];
                        if !ready[k] {
                            col.transform(v, r, cached).map_err(|_| ())?;
                            ready[k] = true;
                        }
                        // One-slot columns (numbers, booleans, ordinals) are most of them.
                        if let ([one], [cached]) = (&mut *slots, &*cached) {
                            *one = *cached;
                        } else {
                            slots.copy_from_slice(cached);
                        }
                        Ok(())
                    })
                }
                ColumnCells::Numbers(n) => rows_out
                    .zip(n)
                    .try_for_each(|((r, slots), &x)| col.transform(ValueRef::Number(x), r, slots).map_err(|_| ())),
                ColumnCells::Cells(c) => {
                    rows_out.zip(c).try_for_each(|((r, slots), &v)| col.transform(v, r, slots).map_err(|_| ()))
                }
            };
            if done.is_err() {
                return Err(self.first_error(columns, rows));
            }
            at += w;
        }
        Ok(out)
    }

    /// The error [`Pipeline::transform_columns`] reports: the first in row order, as a row-major
    /// transform meets it. Only called once some cell failed.
    fn first_error(&self, columns: &[ColumnCells<'_>], rows: usize) -> Error {
        let mut slots = vec![0.0; self.width];
        for r in 0..rows {
            let mut at = 0;
            for (col, cells) in self.columns.iter().zip(columns) {
                if let Err(e) =
                    cells.cell(r, &col.name).and_then(|v| col.transform(v, r, &mut slots[at..at + col.width]))
                {
                    return e;
                }
                at += col.width;
            }
        }
        Error::BadRequest("a cell failed and then did not".into())
    }

    /// Transforms one row into a new vector.
    pub fn transform(&self, row: &[Value], row_index: usize) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.width];
        self.transform_into(row, row_index, &mut out)?;
        Ok(out)
    }

    /// Transforms a batch into one row-major `rows × width` buffer.
    pub fn transform_batch(&self, rows: &[Row]) -> Result<Vec<f32>> {
        let mut out = vec![0.0; rows.len() * self.width];
        for (i, (row, chunk)) in rows.iter().zip(out.chunks_exact_mut(self.width)).enumerate() {
            self.transform_into(row, i, chunk)?;
        }
        Ok(out)
    }
}

fn index_of(categories: &[String], column: &str) -> Result<TokenMap<usize>> {
    let index: TokenMap<usize> = categories.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect();
    if index.len() != categories.len() {
        return Err(Error::Bundle(format!("column `{column}`: duplicate categories")));
    }
    Ok(index)
}

fn known_list(index: &TokenMap<usize>) -> String {
    let mut v: Vec<(&usize, &String)> = index.iter().map(|(k, i)| (i, k)).collect();
    v.sort();
    let shown: Vec<String> = v.iter().take(10).map(|(_, k)| format!("{k:?}")).collect();
    let more = if v.len() > 10 { format!(", … {} more", v.len() - 10) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

impl CompiledColumn {
    fn transform(&self, v: ValueRef<'_>, row: usize, out: &mut [f32]) -> Result<()> {
        out.fill(0.0);
        let missing_err = || Error::input(row, &self.name, InputError::MissingValue);
        match &self.kind {
            Compiled::Numeric { impute, indicator, steps, edges } => {
                let raw = read_number(v, &self.missing, row, &self.name)?;
                let mut x = match raw.or(*impute) {
                    Some(x) => x,
                    None => return Err(missing_err()),
                };
                for s in steps {
                    x = s.apply(x).ok_or_else(|| {
                        Error::input(
                            row,
                            &self.name,
                            InputError::OutOfDomain { value: format!("{x}"), transform: s.name() },
                        )
                    })?;
                }
                match edges {
                    Some(e) => out[e.partition_point(|edge| *edge <= x)] = 1.0,
                    None => out[0] = x,
                }
                if *indicator {
                    out[out.len() - 1] = if raw.is_none() { 1.0 } else { 0.0 };
                }
            }
            Compiled::OneHot { impute, index, n, unknown } => {
                let cat = read_category(v, &self.missing)
                    .or_else(|| impute.as_deref().map(std::borrow::Cow::Borrowed))
                    .ok_or_else(missing_err)?;
                match index.get(cat.as_ref()) {
                    Some(i) => out[*i] = 1.0,
                    None if *unknown == UnknownPolicy::Bucket => out[*n] = 1.0,
                    None => return Err(self.unknown(row, &cat, known_list(index))),
                }
            }
            Compiled::Hash { impute, buckets } => {
                let cat = read_category(v, &self.missing)
                    .or_else(|| impute.as_deref().map(std::borrow::Cow::Borrowed))
                    .ok_or_else(missing_err)?;
                out[(fnv1a(&cat) % buckets) as usize] = 1.0;
            }
            Compiled::Ordinal { impute, index, unknown } => {
                let cat = read_category(v, &self.missing)
                    .or_else(|| impute.as_deref().map(std::borrow::Cow::Borrowed))
                    .ok_or_else(missing_err)?;
                out[0] = match index.get(cat.as_ref()) {
                    Some(i) => *i as f32,
                    None if *unknown == UnknownPolicy::Bucket => index.len() as f32,
                    None => return Err(self.unknown(row, &cat, known_list(index))),
                };
            }
            Compiled::Boolean { impute, indicator, truthy, falsy } => {
                let raw = read_bool(v, &self.missing, truthy, falsy, row, &self.name)?;
                let b = raw.or(*impute).ok_or_else(missing_err)?;
                out[0] = if b { 1.0 } else { 0.0 };
                if *indicator {
                    out[1] = if raw.is_none() { 1.0 } else { 0.0 };
                }
            }
        }
        Ok(())
    }

    fn unknown(&self, row: usize, cat: &str, known: String) -> Error {
        Error::input(row, &self.name, InputError::UnknownCategory { value: truncate(cat, 60), known })
    }
}
