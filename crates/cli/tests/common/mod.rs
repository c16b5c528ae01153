//! Helpers shared by the CLI's integration tests: run the real `scorelet` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};

use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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

/// A `scorelet registry serve` with a write token.
pub struct Registry {
    child: Child,
    pub url: String,
    pub root: PathBuf,
}

pub const TOKEN: &str = "component-test-token-0123456789";

impl Registry {
    pub fn start(root: &Path, addr: &str) -> Registry {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scorelet"))
            .args(["registry", "serve", "--root", root.to_str().unwrap(), "--addr", addr])
            .env("SCORELET_REGISTRY_TOKEN", TOKEN)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
        let url =
            line.split_whitespace().nth(2).unwrap_or_else(|| panic!("registry did not start: {line}")).to_string();
        Registry { child, url, root: root.to_path_buf() }
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_scorelet"))
            .args(args)
            .env("SCORELET_REGISTRY", &self.url)
            .env("SCORELET_REGISTRY_TOKEN", TOKEN)
            .current_dir(repo())
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Telco rows as JSON records: odd rows with numeric-looking cells as numbers, even rows as
/// strings.
pub fn telco_records(n: usize) -> Vec<Json> {
    let mut r = csv::Reader::from_path(repo().join("data/telco-churn.csv")).unwrap();
    let header: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .take(n)
        .enumerate()
        .map(|(i, rec)| {
            let rec = rec.unwrap();
            Json::Object(
                header
                    .iter()
                    .zip(rec.iter())
                    .filter(|(h, _)| *h != "Churn")
                    .map(|(h, c)| {
                        let v = match c.parse::<f64>() {
                            Ok(x) if i % 2 == 1 => json!(x),
                            _ => json!(c),
                        };
                        (h.clone(), v)
                    })
                    .collect(),
            )
        })
        .collect()
}
