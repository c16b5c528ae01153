//! The `scorelet` command-line tool.

mod input;
mod registry;
mod score;
mod serve;
mod spec;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ship tabular models as WebAssembly functions: one feature pipeline and model runtime,
/// native and in Wasm.
#[derive(Debug, Parser)]
#[command(name = "scorelet", version, about)]
struct Cli {
    /// Hide progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Feature specs.
    Spec {
        #[command(subcommand)]
        command: SpecCommand,
    },
    /// Print feature vectors (JSON arrays, one line per row).
    Features {
        #[command(flatten)]
        input: score::InputArgs,
        /// Print the feature names as the first line.
        #[arg(long)]
        with_names: bool,
    },
    /// Batch-score rows (streams; one prediction JSON object per line).
    Predict {
        #[command(flatten)]
        input: score::InputArgs,
        /// Include each row's feature vector.
        #[arg(long)]
        with_features: bool,
    },
    /// Verify a bundle and re-compute its golden vectors.
    Check {
        #[arg(long)]
        bundle: PathBuf,
    },
    /// Train a model on a CSV or Parquet file into a bundle.
    Train(Box<train::TrainArgs>),
    /// Serve a model over HTTP in the scoring component (the local equivalent of `spin up`).
    Serve(Box<serve::ServeArgs>),
    /// Build a scoring component with a bundle embedded (no network at cold start).
    Build(serve::BuildArgs),
    /// Run the model registry.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Publish a bundle to the registry as its next version (prints NAME@VERSION).
    Push {
        bundle: PathBuf,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// Fetch NAME@VERSION or NAME@ALIAS from the registry, verifying every file.
    Pull {
        reference: String,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// Manage aliases (production, staging, …).
    Alias {
        #[command(subcommand)]
        command: registry::AliasCommand,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// List the registry's models.
    Models {
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// List a model's versions with their metrics and aliases.
    Versions {
        name: String,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// Move an alias to a version if it passes a metric gate.
    Promote {
        name: String,
        version: u64,
        /// The alias to move.
        #[arg(long)]
        to: String,
        /// A requirement on the version's holdout metrics, e.g. 'roc_auc>=0.83' (repeatable).
        #[arg(long)]
        require: Vec<String>,
        /// The version must not be worse than the one this alias points at (on the required
        /// metrics, or roc_auc).
        #[arg(long)]
        not_worse_than: Option<String>,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
}

#[derive(Debug, Subcommand)]
enum RegistryCommand {
    /// Serve a registry over a directory.
    Serve(registry::ServeArgs),
}

#[derive(Debug, Subcommand)]
enum SpecCommand {
    /// Propose a feature spec (TOML) from a CSV.
    Infer {
        data: PathBuf,
        /// The label column (kept out of the inputs).
        #[arg(long)]
        target: Option<String>,
        /// Column names for a CSV without a header row, comma-separated.
        #[arg(long, value_delimiter = ',')]
        names: Option<Vec<String>>,
        /// Rows to look at.
        #[arg(long, default_value_t = 100_000)]
        limit: usize,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SCORELET_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let result = match &cli.command {
        Command::Spec { command: SpecCommand::Infer { data, target, names, limit, output } } => {
            spec::infer(data, target.as_deref(), names.as_deref(), *limit, output.as_deref())
        }
        Command::Features { input, with_names } => score::features(input, *with_names),
        Command::Predict { input, with_features } => score::predict(input, *with_features, cli.quiet),
        Command::Check { bundle } => score::check(bundle),
        Command::Train(a) => train::run(a, cli.quiet),
        Command::Serve(a) => serve::serve(a),
        Command::Build(a) => serve::build(a),
        Command::Registry { command: RegistryCommand::Serve(a) } => registry::serve(a),
        Command::Push { bundle, registry: r } => registry::push(bundle, r),
        Command::Pull { reference, out, registry: r } => registry::pull(reference, out, r),
        Command::Alias { command, registry: r } => registry::alias(command, r),
        Command::Models { registry: r } => registry::models(r),
        Command::Versions { name, registry: r } => registry::versions(name, r),
        Command::Promote { name, version, to, require, not_worse_than, registry: r } => {
            registry::promote(name, *version, to, require, not_worse_than.as_deref(), r)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // `scorelet predict … | head` closing the pipe early is not an error.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
