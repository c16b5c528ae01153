//! Helpers shared by the CLI's integration tests: run the real `scorelet` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn scorelet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scorelet")).args(args).current_dir(repo()).output().unwrap()
}

pub fn ok(args: &[&str]) -> String {
    let out = scorelet(args);
    assert!(out.status.success(), "scorelet {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

pub fn fails(args: &[&str]) -> String {
    let out = scorelet(args);
    assert!(!out.status.success(), "scorelet {args:?} should fail");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Trains the Telco logistic regression into `dir/churn`.
pub fn train(dir: &Path) -> PathBuf {
    train_with(dir, &[])
}

/// Trains a Telco model into `dir/churn` with extra `train` flags (e.g. `--model mlp`).
pub fn train_with(dir: &Path, extra: &[&str]) -> PathBuf {
    let b = dir.join("churn");
    let mut args = vec![
        "train",
        "--data",
        "data/telco-churn.csv",
        "--target",
        "Churn",
        "--positive",
        "Yes",
        "--spec",
        "examples/telco.toml",
        "--name",
        "churn",
        "--out",
        b.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    ok(&args);
    b
}
