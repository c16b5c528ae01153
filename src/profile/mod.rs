//! `profile.json`: what the training data looked like, per input column, and the holdout's
//! score distribution, so new data (a batch, or logged traffic) can be held against it.
//!
//! - numeric columns: decile bin edges with counts, 101 quantiles (for Kolmogorov–Smirnov),
//!   the missing count;
//! - categorical columns: the most frequent categories with counts, the rest as `other`;
//! - boolean columns: true and false counts.
//!
//! Cells are read exactly as the feature pipeline reads them (the column's missing tokens,
//! number parsing, boolean tokens), through the same readers. [`Histogram`] counts new data in
//! a profile's bins; [`drift`] compares the two.

pub mod drift;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::features::fitted::{ColumnTransform, FittedFeatures};
use crate::features::read::{TokenMap, TokenSet, lower_set, missing_set, read_bool, read_category, read_number};
use crate::value::ValueRef;

/// Name of the profile file in a bundle.
pub const PROFILE: &str = "profile.json";
/// Format version of `profile.json`.
pub const PROFILE_FORMAT: u32 = 1;
/// Quantile bins per numeric column (fewer when values repeat).
pub const BINS: usize = 10;
/// Categories kept per categorical column; the rest count as `other`.
pub const MAX_CATEGORIES: usize = 100;
/// Quantiles kept per numeric column: 0 %, 1 %, …, 100 %.
pub const QUANTILES: usize = 101;
/// Name of the score pseudo-column.
pub use crate::metrics::SCORE;

/// A bundle's training profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Always [`PROFILE_FORMAT`].
    pub format: u32,
    /// Rows the column distributions come from (the training split).
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
    /// The holdout's scores (the positive class's probability, the value, or the predicted
    /// class), named [`SCORE`].
    pub scores: ColumnProfile,
}

/// One column's distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub name: String,
    /// Cells that were missing (null, empty, or a missing token).
    pub missing: u64,
    #[serde(flatten)]
    pub dist: Distribution,
}

/// The distribution of one column's present values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Distribution {
    /// Bin `i` holds values `x` with `edges[i − 1] <= x < edges[i]`; `counts` has one more
    /// entry than `edges`.
    Numeric {
        edges: Vec<f32>,
        counts: Vec<u64>,
        quantiles: Vec<f32>,
    },
    /// Counts of `categories`, most frequent first; every other value in `other`.
    Categorical {
        categories: Vec<String>,
        counts: Vec<u64>,
        other: u64,
    },
    Boolean {
        true_count: u64,
        false_count: u64,
    },
}

impl Distribution {
    /// Number of bins besides the missing one.
    pub fn bins(&self) -> usize {
        match self {
            Distribution::Numeric { counts, .. } => counts.len(),
            Distribution::Categorical { counts, .. } => counts.len() + 1,
            Distribution::Boolean { .. } => 2,
        }
    }

    /// The counts per bin, in [`Distribution::bins`] order.
    pub fn counts(&self) -> Vec<u64> {
        match self {
            Distribution::Numeric { counts, .. } => counts.clone(),
            Distribution::Categorical { counts, other, .. } => counts.iter().copied().chain([*other]).collect(),
            Distribution::Boolean { true_count, false_count } => vec![*false_count, *true_count],
        }
    }

    /// The names of the bins, for tables and plots.
    pub fn bin_names(&self) -> Vec<String> {
        match self {
            Distribution::Numeric { edges, counts, .. } => (0..counts.len())
                .map(|i| match (i.checked_sub(1).map(|j| edges[j]), edges.get(i)) {
                    (None, Some(hi)) => format!("<{hi}"),
                    (Some(lo), None) => format!(">={lo}"),
                    (Some(lo), Some(hi)) => format!("[{lo},{hi})"),
                    (None, None) => "all".into(),
                })
                .collect(),
            Distribution::Categorical { categories, .. } => {
                categories.iter().cloned().chain(["(other)".to_string()]).collect()
            }
            Distribution::Boolean { .. } => vec!["false".into(), "true".into()],
        }
    }
}

impl Profile {
    /// Parses and checks `profile.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Profile> {
        let p: Profile = serde_json::from_slice(bytes).map_err(|e| Error::Bundle(format!("{PROFILE}: {e}")))?;
        if p.format != PROFILE_FORMAT {
            return Err(Error::Bundle(format!(
                "{PROFILE} has format {}; this scorelet reads format {PROFILE_FORMAT}",
                p.format
            )));
        }
        for c in p.columns.iter().chain([&p.scores]) {
            let bad = |why: &str| Error::Bundle(format!("{PROFILE}: column `{}`: {why}", c.name));
            match &c.dist {
                Distribution::Numeric { edges, counts, quantiles } => {
                    if counts.len() != edges.len() + 1 {
                        return Err(bad("needs one count more than edges"));
                    }
                    if !(edges.iter().all(|e| e.is_finite()) && edges.windows(2).all(|w| w[0] < w[1])) {
                        return Err(bad("edges must be finite and increasing"));
                    }
                    let ordered = quantiles.iter().all(|q| q.is_finite()) && quantiles.windows(2).all(|w| w[0] <= w[1]);
                    if !quantiles.is_empty() && quantiles.len() != QUANTILES || !ordered {
                        return Err(bad("quantiles must be 101 non-decreasing numbers"));
                    }
                }
                Distribution::Categorical { categories, counts, .. } => {
                    if categories.len() != counts.len() {
                        return Err(bad("needs one count per category"));
                    }
                }
                Distribution::Boolean { .. } => {}
            }
        }
        Ok(p)
    }

    /// The file's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a profile serializes")
    }
}

/// How one column's cells are read, as the pipeline reads them.
#[derive(Debug, Clone)]
enum Reader {
    Numeric,
    Categorical,
    Boolean { truthy: TokenSet, falsy: TokenSet },
}

/// A cell as a profile counts it.
enum Cell<'a> {
    Missing,
    /// Not readable as the column's kind (a text in a numeric column).
    Invalid,
    Number(f32),
    Text(std::borrow::Cow<'a, str>),
    Bool(bool),
}

#[derive(Debug, Clone)]
struct ColumnReader {
    name: String,
    missing: TokenSet,
    reader: Reader,
}

impl ColumnReader {
    fn for_features(fitted: &FittedFeatures) -> Vec<ColumnReader> {
        fitted
            .columns
            .iter()
            .map(|c| ColumnReader {
                name: c.name.clone(),
                missing: missing_set(&c.missing_tokens),
                reader: match &c.transform {
                    ColumnTransform::Numeric { .. } => Reader::Numeric,
                    ColumnTransform::Categorical { .. } => Reader::Categorical,
                    ColumnTransform::Boolean { true_tokens, false_tokens, .. } => {
                        Reader::Boolean { truthy: lower_set(true_tokens), falsy: lower_set(false_tokens) }
                    }
                },
            })
            .collect()
    }

    fn read<'a>(&self, v: ValueRef<'a>) -> Cell<'a> {
        match &self.reader {
            Reader::Numeric => match read_number(v, &self.missing, 0, &self.name) {
                Ok(Some(x)) => Cell::Number(x),
                Ok(None) => Cell::Missing,
                Err(_) => Cell::Invalid,
            },
            Reader::Categorical => read_category(v, &self.missing).map_or(Cell::Missing, Cell::Text),
            Reader::Boolean { truthy, falsy } => match read_bool(v, &self.missing, truthy, falsy, 0, &self.name) {
                Ok(Some(b)) => Cell::Bool(b),
                Ok(None) => Cell::Missing,
                Err(_) => Cell::Invalid,
            },
        }
    }
}

/// The values of one column while a profile is built.
#[derive(Debug, Clone, Default)]
struct Collected {
    missing: u64,
    numbers: Vec<f32>,
    categories: TokenMap<u64>,
    trues: u64,
    falses: u64,
}

/// Builds a [`Profile`] from training rows, one row at a time.
#[derive(Debug, Clone)]
pub struct Profiler {
    readers: Vec<ColumnReader>,
    collected: Vec<Collected>,
    rows: u64,
}

impl Profiler {
    /// A profiler for the columns of `fitted`; rows are pushed in that column order.
    pub fn new(fitted: &FittedFeatures) -> Profiler {
        let readers = ColumnReader::for_features(fitted);
        Profiler { collected: vec![Collected::default(); readers.len()], readers, rows: 0 }
    }

    /// Counts one row (cells in the fitted column order). A cell the column cannot read counts
    /// as missing: training refuses such rows before it gets here.
    pub fn push(&mut self, row: &[ValueRef<'_>]) {
        self.rows += 1;
        for ((r, c), v) in self.readers.iter().zip(&mut self.collected).zip(row) {
            match r.read(*v) {
                Cell::Missing | Cell::Invalid => c.missing += 1,
                Cell::Number(x) => c.numbers.push(x),
                Cell::Text(t) => *c.categories.entry(t.into_owned()).or_default() += 1,
                Cell::Bool(true) => c.trues += 1,
                Cell::Bool(false) => c.falses += 1,
            }
        }
    }

    /// The profile, with `scores` (from [`numeric_profile`] or [`categorical_profile`]).
    pub fn finish(self, scores: ColumnProfile) -> Profile {
        let columns = self
            .readers
            .into_iter()
            .zip(self.collected)
            .map(|(r, c)| {
                let dist = match r.reader {
                    Reader::Numeric => return numeric_profile(&r.name, c.numbers, c.missing),
                    Reader::Categorical => return categorical_profile(&r.name, c.categories, c.missing),
                    Reader::Boolean { .. } => Distribution::Boolean { true_count: c.trues, false_count: c.falses },
                };
                ColumnProfile { name: r.name, missing: c.missing, dist }
            })
            .collect();
        Profile { format: PROFILE_FORMAT, rows: self.rows, columns, scores }
    }
}

/// The bin of `x` among `edges`: how many edges are at or below it.
pub fn numeric_bin(edges: &[f32], x: f32) -> usize {
    edges.partition_point(|e| *e <= x)
}

/// The bin of a score in the holdout's score distribution `dist`: a number among its edges, a
/// label among its classes (others in the `other` bin); anything else is unreadable.
pub fn score_bin(dist: &Distribution, s: &drift::Score) -> usize {
    match (dist, s) {
        (Distribution::Numeric { edges, .. }, drift::Score::Number(x)) if x.is_finite() => numeric_bin(edges, *x),
        (Distribution::Categorical { categories, .. }, drift::Score::Label(l)) => {
            categories.iter().position(|c| c == l).unwrap_or(categories.len())
        }
        _ => dist.bins() + 1,
    }
}

/// The profile of numeric values: decile edges (distinct, so ties merge bins), counts per bin,
/// and 101 quantiles.
pub fn numeric_profile(name: &str, mut values: Vec<f32>, missing: u64) -> ColumnProfile {
    values.retain(|x| x.is_finite());
    values.sort_unstable_by(f32::total_cmp);
    let quantile = |q: f64| values[((q * (values.len() - 1) as f64).round() as usize).min(values.len() - 1)];
    let (edges, quantiles) = if values.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        // Edge i is the value with i/BINS of the values below it.
        let mut edges: Vec<f32> = (1..BINS).map(|i| values[(i * values.len() / BINS).min(values.len() - 1)]).collect();
        edges.dedup();
        // An edge at the minimum would leave the first bin empty by construction.
        edges.retain(|e| *e > values[0]);
        (edges, (0..QUANTILES).map(|i| quantile(i as f64 / (QUANTILES - 1) as f64)).collect())
    };
    let mut counts = vec![0u64; edges.len() + 1];
    for x in &values {
        counts[numeric_bin(&edges, *x)] += 1;
    }
    ColumnProfile { name: name.into(), missing, dist: Distribution::Numeric { edges, counts, quantiles } }
}

/// The profile of category counts: the [`MAX_CATEGORIES`] most frequent (ties by name), the
/// rest as `other`.
pub fn categorical_profile<S: std::hash::BuildHasher>(
    name: &str,
    counts: std::collections::HashMap<String, u64, S>,
    missing: u64,
) -> ColumnProfile {
    let mut all: Vec<(String, u64)> = counts.into_iter().collect();
    all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let other = all.iter().skip(MAX_CATEGORIES).map(|c| c.1).sum();
    all.truncate(MAX_CATEGORIES);
    let (categories, counts) = all.into_iter().unzip();
    ColumnProfile { name: name.into(), missing, dist: Distribution::Categorical { categories, counts, other } }
}

/// How new cells fall into a profile's bins, per column (the fitted column order), read as the
/// pipeline reads them. Each column has its profile's bins, then a missing bin, then an
/// unreadable one.
#[derive(Debug, Clone)]
pub struct Bins {
    readers: Vec<ColumnReader>,
    bins: Vec<ColumnBins>,
    /// Bins per column, missing and unreadable included.
    sizes: Vec<usize>,
    /// The holdout's score distribution, whose bins scores fall in.
    scores: ColumnProfile,
}

/// How a column finds a value's bin.
#[derive(Debug, Clone)]
enum ColumnBins {
    Edges(Vec<f32>),
    Index(TokenMap<usize>, usize),
    Boolean,
}

impl Bins {
    /// The bins of `profile` for the columns of `fitted` (the same bundle's `features.json`). A
    /// column of `fitted` the profile lacks, or has as another kind, is an error.
    pub fn new(profile: &Profile, fitted: &FittedFeatures) -> Result<Bins> {
        let readers = ColumnReader::for_features(fitted);
        let mut sizes = Vec::new();
        let mut bins = Vec::new();
        for r in &readers {
            let c = profile.column(&r.name).ok_or_else(|| {
                Error::Bundle(format!("{PROFILE} has no column `{}` that features.json reads", r.name))
            })?;
            bins.push(match (&r.reader, &c.dist) {
                (Reader::Numeric, Distribution::Numeric { edges, .. }) => ColumnBins::Edges(edges.clone()),
                (Reader::Categorical, Distribution::Categorical { categories, .. }) => ColumnBins::Index(
                    categories.iter().enumerate().map(|(i, c)| (c.clone(), i)).collect(),
                    categories.len(),
                ),
                (Reader::Boolean { .. }, Distribution::Boolean { .. }) => ColumnBins::Boolean,
                _ => {
                    return Err(Error::Bundle(format!(
                        "{PROFILE}: column `{}` is of another kind than in features.json",
                        r.name
                    )));
                }
            });
            sizes.push(c.dist.bins() + 2);
        }
        sizes.push(profile.scores.dist.bins() + 2);
        Ok(Bins { readers, bins, sizes, scores: profile.scores.clone() })
    }

    /// The column names, in the order cells are binned.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.readers.iter().map(|r| r.name.as_str())
    }

    /// Bins per column, missing and unreadable included, then the scores' (one more entry than
    /// there are columns).
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// The bin of cell `v` of column `k`, with the number read when the column is numeric.
    pub fn bin(&self, k: usize, v: ValueRef<'_>) -> (usize, Option<f32>) {
        let (missing, invalid) = (self.sizes[k] - 2, self.sizes[k] - 1);
        match (self.readers[k].read(v), &self.bins[k]) {
            (Cell::Missing, _) => (missing, None),
            (Cell::Number(x), ColumnBins::Edges(e)) => (numeric_bin(e, x), Some(x)),
            (Cell::Text(t), ColumnBins::Index(index, other)) => {
                (index.get(t.as_ref()).copied().unwrap_or(*other), None)
            }
            (Cell::Bool(b), ColumnBins::Boolean) => (usize::from(b), None),
            _ => (invalid, None),
        }
    }

    /// What live metrics measure drift against: `profile`'s training counts in these bins,
    /// columns in the order the bins number them, then the scores (named [`SCORE`]).
    pub fn reference(&self, model: String, profile: &Profile) -> crate::metrics::Reference {
        let columns = self
            .columns()
            .map(|name| profile.column(name).expect("Bins::new found every column"))
            .chain([&profile.scores])
            .map(|c| {
                let mut train = c.dist.counts();
                train.extend([c.missing, 0]);
                let bins = c.dist.bin_names().into_iter().chain(["(missing)".into(), "(unreadable)".into()]).collect();
                crate::metrics::ReferenceColumn {
                    name: if std::ptr::eq(c, &profile.scores) { SCORE.into() } else { c.name.clone() },
                    bins,
                    train,
                }
            })
            .collect();
        crate::metrics::Reference { model, columns }
    }

    /// The bin of a score: a number among the holdout's edges, or a label among its classes.
    pub fn score_bin(&self, s: &drift::Score) -> usize {
        score_bin(&self.scores.dist, s)
    }
}

/// New data counted in a profile's bins, per column, with the numeric values kept for
/// Kolmogorov–Smirnov when asked.
#[derive(Debug, Clone)]
pub struct Histogram {
    bins: Bins,
    /// Per column (fitted order): the counts per bin, then missing, then invalid.
    pub counts: Vec<Vec<u64>>,
    /// Per column: the numeric values seen (only when kept).
    pub values: Vec<Vec<f32>>,
    keep_values: bool,
}

impl Histogram {
    /// An empty histogram in the bins of `profile`, reading cells as `fitted` does (see
    /// [`Bins::new`]); `keep_values` keeps numeric values for Kolmogorov–Smirnov.
    pub fn new(profile: &Profile, fitted: &FittedFeatures, keep_values: bool) -> Result<Histogram> {
        let bins = Bins::new(profile, fitted)?;
        let columns = bins.readers.len();
        let counts = bins.sizes[..columns].iter().map(|n| vec![0; *n]).collect();
        Ok(Histogram { values: vec![Vec::new(); columns], bins, counts, keep_values })
    }

    /// The column names, in the order rows are pushed.
    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.bins.columns()
    }

    /// Counts one row (cells in the fitted column order).
    pub fn push(&mut self, row: &[ValueRef<'_>]) {
        for (k, v) in row.iter().enumerate().take(self.counts.len()) {
            let (bin, x) = self.bins.bin(k, *v);
            if let (true, Some(x)) = (self.keep_values, x) {
                self.values[k].push(x);
            }
            self.counts[k][bin] += 1;
        }
    }
}

impl Profile {
    /// The column named `name` (or the scores, for [`SCORE`]).
    pub fn column(&self, name: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_bins_are_deciles_that_merge_on_ties() {
        let p = numeric_profile("x", (0..1000).map(|i| i as f32).collect(), 3);
        let Distribution::Numeric { edges, counts, quantiles } = &p.dist else { panic!() };
        assert_eq!(edges.len(), 9);
        assert_eq!(counts, &vec![100u64; 10], "{edges:?}");
        assert_eq!((quantiles[0], quantiles[100]), (0.0, 999.0));
        assert_eq!(p.missing, 3);
        // A 0/1 column: one edge, two bins.
        let p = numeric_profile("y", (0..100).map(|i| (i % 4 == 0) as u8 as f32).collect(), 0);
        let Distribution::Numeric { edges, counts, .. } = &p.dist else { panic!() };
        assert_eq!((edges.as_slice(), counts.as_slice()), (&[1.0][..], &[75, 25][..]));
    }

    #[test]
    fn categories_keep_the_most_frequent_and_count_the_rest() {
        let mut m = std::collections::HashMap::new();
        for i in 0..150u64 {
            m.insert(format!("c{i:03}"), 1000 - i);
        }
        let p = categorical_profile("c", m, 0);
        let Distribution::Categorical { categories, counts, other } = &p.dist else { panic!() };
        assert_eq!(categories.len(), MAX_CATEGORIES);
        assert_eq!((categories[0].as_str(), counts[0]), ("c000", 1000));
        assert_eq!(*other, (100..150).map(|i| 1000 - i).sum::<u64>());
    }

    #[test]
    fn malformed_profiles_are_refused() {
        let good = Profile {
            format: PROFILE_FORMAT,
            rows: 4,
            columns: vec![numeric_profile("x", vec![1.0, 2.0, 3.0, 4.0], 0)],
            scores: numeric_profile(SCORE, vec![0.1, 0.9], 0),
        };
        assert_eq!(Profile::from_json(&good.to_json()).unwrap(), good);
        let text = String::from_utf8(good.to_json()).unwrap();
        for (what, bad) in [
            ("format", text.replace("\"format\":1", "\"format\":9")),
            ("counts", text.replacen("\"counts\":[", "\"counts\":[7,", 1)),
            ("edges", text.replacen("\"edges\":[", "\"edges\":[9,", 1)),
            ("not json", text[..text.len() / 2].to_string()),
        ] {
            let e = Profile::from_json(bad.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(PROFILE), "{what}: {e}");
        }
    }
}
