//! The transform: raw row → f32 feature vector. This is the code the trainer and every runtime
//! share; it computes in f32 with a fixed order of operations and `libm` for transcendental math,
//! so its output is bit-identical on every target.

use std::collections::HashSet;

use super::fitted::{ColumnTransform, FittedEncoding, FittedFeatures, Step};
use super::read::{TokenMap, TokenSet, fnv1a, lower_set, read_bool, read_category, read_number};
use super::spec::UnknownPolicy;
use crate::error::{Error, InputError, Result};
use crate::value::{Row, Value, ValueRef, truncate};

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
            let missing: TokenSet = c.missing_tokens.iter().map(|t| t.trim().to_string()).collect();
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
