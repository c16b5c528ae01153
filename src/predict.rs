//! Rows → predictions: the scorer ties a verified bundle's feature pipeline and model together.
//! Every adapter (CLI, Spin, Lambda, browser, worker) scores through [`Scorer::predict`]; the
//! golden self-check is [`crate::golden::self_check`], a function over a scorer and its bundle.

use crate::bundle::{Bundle, FEATURES, Manifest, Task};
use crate::error::{Error, Result};
use crate::features::{FittedFeatures, Pipeline};
use crate::model::{Engine, Model, Outputs};
pub use crate::prediction::{Options, Prediction};
use crate::value::{Row, ValueRef};

/// Default cap on rows per request.
pub const DEFAULT_MAX_BATCH: usize = 10_000;

/// A loaded model ready to score: manifest, compiled feature pipeline and optimized ONNX plan.
#[derive(Debug, Clone)]
pub struct Scorer {
    manifest: Manifest,
    pipeline: Pipeline,
    model: Model,
    max_batch: usize,
    /// The bundle's training profile, when it has one (what live drift is measured against).
    profile: Option<std::sync::Arc<crate::profile::Profile>>,
}

thread_local! {
    /// Armed by [`time_next_batch`]: the clock the next batch this thread scores is timed on.
    static STAGE_CLOCK: std::cell::Cell<Option<crate::time::Clock>> = const { std::cell::Cell::new(None) };
    /// When that batch's features and then its model were done, on that clock.
    static STAGE_MARKS: std::cell::Cell<Option<(u64, u64)>> = const { std::cell::Cell::new(None) };
}

/// Times the next batch this thread scores on `clock` (two clock reads: when its features and
/// its model are done; [`take_stage_marks`] gives them). Metrics arm it for the requests they
/// sample, so the others pay for no clock at all.
pub fn time_next_batch(clock: crate::time::Clock) {
    STAGE_CLOCK.set(Some(clock));
    STAGE_MARKS.set(None);
}

/// When the batch armed by [`time_next_batch`] finished its features and its model; `None`
/// when none was armed or it failed before its model ran. Disarms.
pub fn take_stage_marks() -> Option<(u64, u64)> {
    STAGE_CLOCK.set(None);
    STAGE_MARKS.take()
}

/// Notes a timed batch's marks: features done at `t1`, the model now.
fn stage_marks(clock: Option<crate::time::Clock>, t1: Option<u64>) {
    if let (Some(c), Some(t1)) = (clock, t1) {
        STAGE_MARKS.set(Some((t1, c())));
    }
}

impl Scorer {
    /// Builds a scorer from a verified bundle; checks that manifest, features and model agree.
    pub fn from_bundle(bundle: &Bundle) -> Result<Scorer> {
        Self::from_bundle_with(bundle, Engine::Auto)
    }

    /// [`Scorer::from_bundle`] with the model on the given engine.
    pub fn from_bundle_with(bundle: &Bundle, engine: Engine) -> Result<Scorer> {
        let manifest = bundle.manifest.clone();
        let fitted =
            FittedFeatures::from_json(bundle.file(FEATURES).ok_or_else(|| Error::Bundle("no features.json".into()))?)?;
        let pipeline = Pipeline::new(fitted)?;
        let sig: Vec<&str> = manifest.signature.inputs.iter().map(|c| c.name.as_str()).collect();
        let cols: Vec<&str> = pipeline.input_columns().collect();
        if sig != cols {
            return Err(Error::Bundle(format!(
                "manifest signature {sig:?} does not match features.json columns {cols:?}"
            )));
        }
        if manifest.model.n_features != pipeline.width() {
            return Err(Error::Bundle(format!(
                "manifest says the model takes {} features; features.json produces {}",
                manifest.model.n_features,
                pipeline.width()
            )));
        }
        if let Task::BinaryClassification { classes, positive_class, .. } = &manifest.task
            && !classes.contains(positive_class)
        {
            return Err(Error::Bundle(format!("positive class {positive_class:?} is not one of {classes:?}")));
        }
        let onnx = bundle.file(&manifest.model.file).ok_or_else(|| Error::Bundle("no model file".into()))?;
        let model = Model::load_with(onnx, pipeline.width(), &manifest.model.output, engine)?;
        let profile = bundle.profile()?.map(std::sync::Arc::new);
        Ok(Scorer { manifest, pipeline, model, max_batch: DEFAULT_MAX_BATCH, profile })
    }

    /// The bundle's training profile, if it has one.
    pub fn profile(&self) -> Option<&crate::profile::Profile> {
        self.profile.as_deref()
    }

    /// Sets the largest batch [`Scorer::predict`] accepts.
    pub fn with_max_batch(mut self, max: usize) -> Self {
        self.max_batch = max;
        self
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }

    pub fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Which engine runs the model: `"compiled"` or `"tract"`.
    pub fn engine(&self) -> &'static str {
        self.model.engine()
    }

    /// The model's name.
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    /// The model's version as shown in responses: the registry version, or `unpublished`.
    pub fn version(&self) -> String {
        self.manifest.version.map(|v| v.to_string()).unwrap_or_else(|| "unpublished".into())
    }

    /// Transforms rows, runs the model and applies the manifest's link:
    /// `(features rows × width, scores)` — scores are class probabilities or values.
    pub fn score(&self, rows: &[Row]) -> Result<(Vec<f32>, Outputs)> {
        self.score_with(rows.len(), |i, out| self.pipeline.transform_into(&rows[i], i, out))
    }

    /// Features for `n` rows (`fill(i, out)` writes row `i`'s), then the scores.
    fn score_with(&self, n: usize, fill: impl Fn(usize, &mut [f32]) -> Result<()>) -> Result<(Vec<f32>, Outputs)> {
        self.check_batch(n)?;
        let width = self.pipeline.width();
        let clock = STAGE_CLOCK.take();
        let mut features = vec![0.0; n * width];
        for (i, out) in features.chunks_exact_mut(width).enumerate() {
            fill(i, out)?;
        }
        let t1 = clock.map(|c| c());
        let scores = self.score_features(&features, n)?;
        stage_marks(clock, t1);
        Ok((features, scores))
    }

    /// Runs the model on a ready row-major feature matrix (`rows × pipeline().width()`, what the
    /// pipeline computes) and applies the manifest's link: the scores, as in [`Scorer::score`].
    pub fn score_features(&self, features: &[f32], rows: usize) -> Result<Outputs> {
        self.check_batch(rows)?;
        let raw = self.model.run(features, rows)?;
        let link = self.manifest.model.link;
        if link == crate::link::Link::Identity {
            return Ok(raw);
        }
        let width = link.score_width(raw.width)?;
        let mut data = Vec::with_capacity(rows * width);
        for i in 0..rows {
            link.apply(raw.row(i), &mut data);
        }
        Ok(Outputs { rows, width, data })
    }

    /// Scores rows into predictions.
    pub fn predict(&self, rows: &[Row], opts: Options) -> Result<Vec<Prediction>> {
        let (features, outputs) = self.score(rows)?;
        self.predictions(&features, &outputs, opts)
    }

    /// [`Scorer::predict`] over borrowed cells, `columns` per row in input-column order, row
    /// after row (what the direct request path reads): no cell needs a `String` of its own.
    pub fn predict_cells(&self, cells: &[ValueRef<'_>], columns: usize, opts: Options) -> Result<Vec<Prediction>> {
        let (features, outputs) = self.score_cells(cells, columns)?;
        self.predictions(&features, &outputs, opts)
    }

    /// [`Scorer::score`] over borrowed cells laid out as [`Scorer::predict_cells`] takes them.
    pub fn score_cells(&self, cells: &[ValueRef<'_>], columns: usize) -> Result<(Vec<f32>, Outputs)> {
        if columns == 0 || !cells.len().is_multiple_of(columns) {
            return Err(Error::BadRequest(format!("{} cells are not rows of {columns} columns", cells.len())));
        }
        self.score_with(cells.len() / columns, |i, out| {
            self.pipeline.transform_cells_into(cells[i * columns..(i + 1) * columns].iter().copied(), i, out)
        })
    }

    /// Scores a columnar batch ([`crate::features::Pipeline::transform_columns`]): the features
    /// and scores, as [`Scorer::score`] gives them for the same rows.
    pub fn score_columns(&self, columns: &[crate::features::ColumnCells<'_>]) -> Result<(Vec<f32>, Outputs)> {
        let rows = columns.first().map_or(0, |c| c.len());
        self.check_batch(rows)?;
        let clock = STAGE_CLOCK.take();
        let features = self.pipeline.transform_columns(columns)?;
        let t1 = clock.map(|c| c());
        let scores = self.score_features(&features, rows)?;
        stage_marks(clock, t1);
        Ok((features, scores))
    }

    /// Predictions for a columnar batch (see [`Scorer::score_columns`]).
    pub fn predict_columns(
        &self,
        columns: &[crate::features::ColumnCells<'_>],
        opts: Options,
    ) -> Result<Vec<Prediction>> {
        let (features, outputs) = self.score_columns(columns)?;
        self.predictions(&features, &outputs, opts)
    }

    /// A batch of `rows` is neither empty nor over the limit (checked before any feature work).
    fn check_batch(&self, rows: usize) -> Result<()> {
        if rows == 0 {
            return Err(Error::EmptyBatch);
        }
        if rows > self.max_batch {
            return Err(Error::BatchTooLarge { rows, max: self.max_batch });
        }
        Ok(())
    }

    fn predictions(&self, features: &[f32], outputs: &Outputs, opts: Options) -> Result<Vec<Prediction>> {
        let width = self.pipeline.width();
        (0..outputs.rows)
            .map(|i| {
                let f = opts.return_features.then(|| features[i * width..(i + 1) * width].to_vec());
                self.interpret(outputs.row(i), f)
            })
            .collect()
    }

    /// Maps one row of model outputs to a prediction.
    pub fn interpret(&self, out: &[f32], features: Option<Vec<f32>>) -> Result<Prediction> {
        Ok(match &self.manifest.task {
            Task::BinaryClassification { classes, positive_class, threshold } => {
                let pos = usize::from(&classes[1] == positive_class);
                let probability = match out.len() {
                    1 => out[0],
                    2 => out[pos],
                    w => return Err(Error::Model(format!("binary model returned {w} values per row"))),
                };
                let label = if probability >= *threshold { positive_class.clone() } else { classes[1 - pos].clone() };
                Prediction::Binary { probability, label, features }
            }
            Task::MulticlassClassification { classes } => {
                if out.len() != classes.len() {
                    return Err(Error::Model(format!(
                        "model returned {} values for {} classes",
                        out.len(),
                        classes.len()
                    )));
                }
                let best = crate::prediction::arg_max(out);
                let probabilities = classes.iter().cloned().zip(out.iter().copied()).collect();
                Prediction::Multiclass { probabilities, label: classes[best].clone(), features }
            }
            Task::Regression { .. } => {
                if out.len() != 1 {
                    return Err(Error::Model(format!("regression model returned {} values per row", out.len())));
                }
                Prediction::Regression { value: out[0], features }
            }
        })
    }
}
