//! The `scorelet` command-line tool.

mod ab;
mod batch;
mod build;
mod drift;
mod embed;
mod input;
mod registry;
mod score;
mod secrets;
mod serve;
mod spec;
mod tls;
mod train;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Ship tabular models as WebAssembly functions: one feature pipeline and model runtime,
/// native and in Wasm.
#[derive(Debug, Parser)]
#[command(
    name = "scorelet",
    version,
    about,
    after_help = "Exit status: 0 on success, 2 when the input, a file, a flag or the registry's answer is at fault \
                  (fix it and rerun), 1 for an internal failure.\nEnvironment variables: doc/configuration.md."
)]
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
    #[command(
        after_help = "Example:\n  scorelet spec infer data/telco-churn.csv --target Churn --output features.toml"
    )]
    Spec {
        #[command(subcommand)]
        command: SpecCommand,
    },
    /// Print feature vectors (JSON arrays, one line per row).
    #[command(after_help = "Example:\n  scorelet features --bundle churn/ --input rows.csv --with-names")]
    Features {
        #[command(flatten)]
        input: score::InputArgs,
        /// Print the feature names as the first line.
        #[arg(long)]
        with_names: bool,
    },
    /// Batch-score rows (streams; one prediction JSON object per line).
    #[command(after_help = "Example:\n  scorelet predict --bundle churn/ --input rows.csv --output predictions.jsonl")]
    Predict {
        #[command(flatten)]
        input: score::InputArgs,
        /// Include each row's feature vector.
        #[arg(long)]
        with_features: bool,
    },
    /// Verify a bundle and re-compute its golden vectors.
    #[command(after_help = "Example:\n  scorelet check --bundle churn/")]
    Check {
        /// The bundle directory.
        #[arg(long)]
        bundle: PathBuf,
        #[command(flatten)]
        engine: score::EngineArg,
    },
    /// Compare new rows (a batch, or logged requests as JSON lines) with the bundle's training
    /// profile: PSI, Jensen–Shannon and Kolmogorov–Smirnov per column and for the scores.
    #[command(
        after_help = "Example:\n  scorelet drift --bundle churn/ --input last-week.csv --fail-above 0.25 --html drift.html\n\
                      Exit status 3: a PSI is above --fail-above (the table is still printed)."
    )]
    Drift(Box<drift::DriftArgs>),
    /// Decide an A/B test: join the request log's predictions with later outcomes and compare
    /// the variants (positive rate, ROC-AUC, accuracy, log loss, with intervals and a z-test).
    #[command(
        after_help = "Example:\n  scorelet ab --log requests.jsonl --outcomes churned.csv --key customerID --outcome Churn --positive Yes"
    )]
    Ab(Box<ab::AbArgs>),
    /// Train a model on a CSV or Parquet file into a bundle.
    #[command(
        after_help = "Example:\n  scorelet train --data data/telco-churn.csv --target Churn --positive Yes --spec examples/telco.toml \\\n      --model mlp --name churn --output churn/"
    )]
    Train(Box<train::TrainArgs>),
    /// Serve a model over HTTP in the scoring component (the local equivalent of `spin up`).
    #[command(
        after_help = "Example:\n  scorelet serve --bundle churn/ --addr 127.0.0.1:8080\n  scorelet serve --model churn@production --registry http://127.0.0.1:8700"
    )]
    Serve(Box<serve::ServeArgs>),
    /// Build a scoring component with a bundle embedded (no network at cold start).
    Build(build::BuildArgs),
    /// Run the model registry.
    #[command(
        after_help = "Example:\n  scorelet registry serve --root registry/ --addr 127.0.0.1:8700 --token-file write.token"
    )]
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Publish a bundle to the registry as its next version (prints NAME@VERSION).
    #[command(after_help = "Example:\n  scorelet push --bundle churn/ --registry http://127.0.0.1:8700   # → churn@1")]
    Push {
        /// The bundle directory to publish (verified first).
        #[arg(long)]
        bundle: PathBuf,
        /// Sign the manifest with this Ed25519 secret key file (`scorelet keygen`); runtimes
        /// configured with the public key refuse bundles not signed with it.
        #[arg(long, value_name = "KEY_FILE")]
        sign: Option<PathBuf>,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// Make an Ed25519 key pair for signing pushed bundles: PREFIX.key and PREFIX.pub.
    #[command(after_help = "Example:\n  scorelet keygen --out publisher   # → publisher.key, publisher.pub")]
    Keygen {
        /// Path prefix of the two files (never overwritten).
        #[arg(long)]
        out: PathBuf,
    },
    /// Fetch NAME@VERSION or NAME@ALIAS from the registry, verifying every file.
    #[command(after_help = "Example:\n  scorelet pull churn@production --output churn/")]
    Pull {
        reference: String,
        /// Where to write the bundle (must not exist).
        #[arg(long = "output", short = 'o', visible_alias = "out")]
        out: PathBuf,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// Manage aliases (production, staging, …).
    #[command(after_help = "Example:\n  scorelet alias set churn staging 2")]
    Alias {
        #[command(subcommand)]
        command: registry::AliasCommand,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// List the registry's models.
    #[command(after_help = "Example:\n  scorelet models --registry http://127.0.0.1:8700")]
    Models {
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// List a model's versions with their metrics and aliases.
    #[command(after_help = "Example:\n  scorelet versions churn")]
    Versions {
        /// The model name.
        name: String,
        #[command(flatten)]
        registry: registry::RegistryArgs,
    },
    /// Move an alias to a version if it passes a metric gate.
    #[command(
        after_help = "Example:\n  scorelet promote churn 2 --to production --require 'roc_auc>=0.83' --not-worse-than production"
    )]
    Promote {
        /// The model name.
        name: String,
        /// The version to promote.
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
    #[command(after_help = "Example:\n  scorelet registry serve --root registry/ --token-file write.token")]
    Serve(Box<registry::ServeArgs>),
    /// Check a registry's storage: every version's digests, and the audit log's hash chain.
    #[command(after_help = "Example:\n  scorelet registry verify --root registry/")]
    Verify(registry::VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum SpecCommand {
    /// Propose a feature spec (TOML) from a CSV.
    #[command(
        after_help = "Example:\n  scorelet spec infer data/telco-churn.csv --target Churn --output features.toml"
    )]
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
        Command::Check { bundle, engine } => score::check(bundle, engine.engine),
        Command::Drift(a) => match drift::run(a, cli.quiet) {
            Ok(drift::Outcome::Within) => Ok(()),
            Ok(drift::Outcome::Above(columns)) => {
                eprintln!(
                    "drift: PSI above {} in {}; retrain, or look at the data",
                    a.fail_above.unwrap_or_default(),
                    columns.join(", ")
                );
                return ExitCode::from(3);
            }
            Err(e) => Err(e),
        },
        Command::Ab(a) => ab::run(a).map(|r| {
            if a.json {
                println!("{r}");
            } else {
                print!("{}", ab::render(&r));
            }
        }),
        Command::Train(a) => train::run(a, cli.quiet),
        Command::Serve(a) => serve::serve(a),
        Command::Build(a) => build::build(a),
        Command::Registry { command: RegistryCommand::Serve(a) } => registry::serve(a),
        Command::Registry { command: RegistryCommand::Verify(a) } => registry::verify(a),
        Command::Push { bundle, sign, registry: r } => registry::push(bundle, sign.as_deref(), r),
        Command::Keygen { out } => registry::keygen(out),
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
            ExitCode::from(exit_code(&e))
        }
    }
}

/// 2 when the user can fix the cause (input data, a file, a flag, a bundle, the registry's
/// answer), 1 for an internal failure, as uv and ripgrep do (clap's own usage errors are 2).
fn exit_code(e: &anyhow::Error) -> u8 {
    let internal = e.chain().any(|c| {
        if let Some(e) = c.downcast_ref::<scorelet::Error>() {
            return matches!(e, scorelet::Error::Model(_));
        }
        if let Some(e) = c.downcast_ref::<scorelet_train::TrainError>() {
            return matches!(e, scorelet_train::TrainError::Training(_));
        }
        if let Some(e) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            return !matches!(
                e.kind(),
                NotFound | PermissionDenied | AlreadyExists | InvalidInput | InvalidData | AddrInUse
            );
        }
        false
    });
    if internal { 1 } else { 2 }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn commands(c: &clap::Command) -> Vec<&clap::Command> {
        let mut all = vec![c];
        for s in c.get_subcommands() {
            all.extend(commands(s));
        }
        all
    }

    #[test]
    fn every_environment_variable_is_in_the_one_table() {
        let cli = Cli::command();
        for c in commands(&cli) {
            for a in c.get_arguments() {
                if let Some(env) = a.get_env() {
                    let env = env.to_str().unwrap();
                    assert!(
                        scorelet::config::setting(env).is_some(),
                        "`{}` reads {env}, which is not in SETTINGS",
                        c.get_name()
                    );
                }
            }
        }
    }

    #[test]
    fn every_command_says_what_it_does_with_an_example() {
        let cli = Cli::command();
        for c in commands(&cli).into_iter().skip(1) {
            if c.get_name() == "help" {
                continue;
            }
            assert!(c.get_about().is_some(), "`{}` has no description", c.get_name());
            if c.get_subcommands().next().is_none() {
                let after = c.get_after_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(after.contains("Example:\n  scorelet "), "`{}` --help has no example", c.get_name());
            }
        }
    }

    #[test]
    fn user_errors_exit_2_and_internal_ones_1() {
        let user = anyhow::Error::from(scorelet::Error::input(0, "a", scorelet::error::InputError::MissingColumn));
        assert_eq!(exit_code(&user), 2);
        let missing = anyhow::Error::from(std::io::Error::from(std::io::ErrorKind::NotFound)).context("reading x");
        assert_eq!(exit_code(&missing), 2);
        let model = anyhow::Error::from(scorelet::Error::Model("crashed".into()));
        assert_eq!(exit_code(&model), 1);
        let disk = anyhow::Error::from(std::io::Error::other("disk on fire"));
        assert_eq!(exit_code(&disk), 1);
    }
}
