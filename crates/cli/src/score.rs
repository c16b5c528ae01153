//! `scorelet features`, `scorelet predict` and `scorelet check`.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use scorelet::api::RowReader;
use scorelet::model::Engine;
use scorelet::{Bundle, Options, Scorer};

use crate::input::{Format, for_each_chunk};

/// Rows scored per model call.
const CHUNK: usize = 4096;

/// Loads and verifies a bundle (digests), builds its scorer on `engine` and runs the golden
/// self-check, as every runtime does before it scores.
pub fn load(bundle: &Path, engine: Engine) -> Result<Scorer> {
    let b = Bundle::load_dir(bundle).with_context(|| format!("loading bundle {}", bundle.display()))?;
    scorelet::service::load_with(&b, engine).with_context(|| format!("loading model of {}", bundle.display()))
}

/// The engine flag of `features`, `predict` and `check`.
#[derive(Debug, Clone, clap::Args)]
pub struct EngineArg {
    /// The engine that runs the model: auto (compiled when the graph allows, else tract),
    /// compiled or tract.
    #[arg(long, env = "SCORELET_ENGINE", default_value = "auto", value_parser = parse_engine)]
    pub engine: Engine,
}

fn parse_engine(s: &str) -> Result<Engine, String> {
    s.parse().map_err(|e: scorelet::Error| e.to_string())
}

fn progress(path: &Path) -> ProgressBar {
    let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::with_draw_target(Some(len), indicatif::ProgressDrawTarget::stderr_with_hz(4));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} [{bar:30}] {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar
}

/// Where results go: stdout, or a file written to a temporary name and renamed when complete,
/// so a failed run leaves no truncated output behind.
pub struct Sink {
    out: BufWriter<Box<dyn Write>>,
    finish: Option<(PathBuf, PathBuf)>,
}

impl Sink {
    pub fn new(output: Option<&Path>) -> Result<Sink> {
        Ok(match output {
            None => Sink { out: BufWriter::new(Box::new(std::io::stdout().lock())), finish: None },
            Some(p) => {
                let tmp = p
                    .with_file_name(format!(".{}.partial", p.file_name().and_then(|s| s.to_str()).unwrap_or("output")));
                let f = std::fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
                Sink { out: BufWriter::new(Box::new(f)), finish: Some((tmp, p.to_path_buf())) }
            }
        })
    }

    /// Writes bytes as they are (whole lines).
    pub fn write_all(&mut self, bytes: &[u8]) -> Result<()> {
        Ok(self.out.write_all(bytes)?)
    }

    pub fn line(&mut self, v: &serde_json::Value) -> Result<()> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    pub fn commit(mut self) -> Result<()> {
        self.out.flush()?;
        if let Some((tmp, dst)) = self.finish.take() {
            std::fs::rename(&tmp, &dst).with_context(|| format!("cannot write {}", dst.display()))?;
        }
        Ok(())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        if let Some((tmp, _)) = &self.finish {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Input options shared by `features` and `predict`.
#[derive(Debug, clap::Args)]
pub struct InputArgs {
    /// Bundle directory.
    #[arg(long)]
    pub bundle: PathBuf,
    /// Rows to score: CSV with a header, or JSON lines (one record per line).
    #[arg(long)]
    pub input: PathBuf,
    /// Input format (default: from the extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Column names for a CSV without a header row, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub names: Option<Vec<String>>,
    /// Write here instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub engine: EngineArg,
}

/// `scorelet predict`: one prediction JSON object per input row. CSV input is scored on every
/// core ([`crate::batch`]); JSON lines row by row on this thread.
pub fn predict(args: &InputArgs, with_features: bool, quiet: bool) -> Result<()> {
    let scorer = load(&args.bundle, args.engine.engine)?;
    let format = args.format.unwrap_or_else(|| Format::guess(&args.input));
    let bar = if quiet { ProgressBar::hidden() } else { progress(&args.input) };
    let mut sink = Sink::new(args.output.as_deref())?;
    let n = if format == Format::Csv {
        crate::batch::predict_csv(&scorer, &args.input, args.names.as_deref(), with_features, &bar, &mut sink)?
    } else {
        let reader = RowReader::for_pipeline(scorer.pipeline());
        let opts = Options { return_features: with_features };
        let mut text = Vec::new();
        for_each_chunk(&args.input, format, args.names.as_deref(), &reader, CHUNK, &bar, |rows, start| {
            let preds = scorer.predict(rows, opts).map_err(|e| anyhow::anyhow!("{}", e.offset_row(start)))?;
            text.clear();
            for p in preds {
                p.write_json(&mut text);
                text.push(b'\n');
            }
            sink.write_all(&text)
        })?
    };
    sink.commit()?;
    bar.finish_and_clear();
    tracing::info!(rows = n, model = scorer.name(), version = scorer.version(), "scored");
    Ok(())
}

/// `scorelet features`: one feature vector (JSON array) per input row.
pub fn features(args: &InputArgs, names: bool) -> Result<()> {
    let scorer = load(&args.bundle, args.engine.engine)?;
    let reader = RowReader::for_pipeline(scorer.pipeline());
    let format = args.format.unwrap_or_else(|| Format::guess(&args.input));
    let mut sink = Sink::new(args.output.as_deref())?;
    if names {
        sink.line(&serde_json::json!(scorer.pipeline().feature_names()))?;
    }
    for_each_chunk(
        &args.input,
        format,
        args.names.as_deref(),
        &reader,
        CHUNK,
        &ProgressBar::hidden(),
        |rows, start| {
            let width = scorer.pipeline().width();
            let f = scorer.pipeline().transform_batch(rows).map_err(|e| anyhow::anyhow!("{}", e.offset_row(start)))?;
            for v in f.chunks_exact(width) {
                sink.line(&scorelet::value::f32s_json(v))?;
            }
            Ok(())
        },
    )?;
    sink.commit()
}

/// `scorelet check`: verifies a bundle and re-computes its golden vectors.
pub fn check(bundle: &Path, engine: Engine) -> Result<()> {
    let b = Bundle::load_dir(bundle).with_context(|| format!("loading bundle {}", bundle.display()))?;
    let scorer =
        Scorer::from_bundle_with(&b, engine).with_context(|| format!("loading model of {}", bundle.display()))?;
    let report = scorelet::golden::self_check(&scorer, &b)?;
    if report.rows < 1 {
        bail!("no golden rows");
    }
    println!(
        "{}@{} ({} engine): {} golden rows match (features bit-identical; {} outputs bit-identical, max output difference {:e})",
        scorer.name(),
        scorer.version(),
        scorer.engine(),
        report.rows,
        report.exact_outputs,
        report.max_output_diff
    );
    Ok(())
}
