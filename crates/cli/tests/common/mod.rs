//! Helpers shared by the CLI's integration tests: run the real `scorelet` binary.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};

use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};

#[path = "../../../../tests/support/mod.rs"]
pub mod support;

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

/// Runs `scorelet ARGS`, which must fail as a user error (exit status 2), without a panic;
/// returns its stderr.
pub fn fails(args: &[&str]) -> String {
    let out = scorelet(args);
    assert!(!out.status.success(), "scorelet {args:?} should fail");
    assert_eq!(
        out.status.code(),
        Some(2),
        "scorelet {args:?}: a user error exits 2: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// The kinds of model the trainer makes, with the `train` flags that make them: tests that
/// serve a model run over every one.
pub const MODEL_KINDS: [(&str, &[&str]); 3] =
    [("logreg", &[]), ("gbdt", &["--model", "gbdt"]), ("random-forest", &["--model", "random-forest"])];

/// Trains the Telco logistic regression into `dir/churn`.
pub fn train(dir: &Path) -> PathBuf {
    train_with(dir, &[])
}

/// Trains a Telco model into `dir/churn` with extra `train` flags (e.g. `--model mlp`).
pub fn train_with(dir: &Path, extra: &[&str]) -> PathBuf {
    train_on(dir, "data/telco-churn.csv", extra)
}

/// Trains a model on `data` (Telco's columns) into `dir/churn`, with extra `train` flags.
pub fn train_on(dir: &Path, data: &str, extra: &[&str]) -> PathBuf {
    let b = dir.join("churn");
    let mut args = vec![
        "train",
        "--data",
        data,
        "--target",
        "Churn",
        "--positive",
        "Yes",
        "--spec",
        "examples/telco.toml",
        "--name",
        "churn",
        "--output",
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
        Registry::start_with(root, addr, &[])
    }

    /// A registry with extra `registry serve` flags (e.g. `--site DIR`).
    pub fn start_with(root: &Path, addr: &str, extra: &[&str]) -> Registry {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scorelet"))
            .args(["registry", "serve", "--root", root.to_str().unwrap(), "--addr", addr])
            .args(extra)
            .env("SCORELET_REGISTRY_TOKEN", TOKEN)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Recovery of a crashed writer's intent may log first; the address line follows.
        let mut reader = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && !line.contains("registry on ") {
            line.clear();
        }
        let url =
            line.split_whitespace().nth(2).unwrap_or_else(|| panic!("registry did not start: {line}")).to_string();
        // Keep reading its log: a closed pipe would fail the requests that log (refusals do).
        std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
        Registry { child, url, root: root.to_path_buf() }
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_scorelet"))
            .args(args)
            .env("SCORELET_REGISTRY_URL", &self.url)
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

/// A build output of scripts/build-wasm.sh: `$VAR` when set, else `SUBDIR` of the target
/// directory; asserts that `file` is in it.
pub fn built(var: &str, subdir: &str, file: &str) -> PathBuf {
    let dir = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| support::target_dir().join(subdir));
    assert!(dir.join(file).is_file(), "{} is missing: run scripts/build-wasm.sh", dir.join(file).display());
    dir
}

/// Whether [`built`] would find `file`; if not, `test` is skipped (it fails under
/// `SCORELET_TEST_ALL`, which `scripts/test.sh` sets).
pub fn have_built(test: &str, var: &str, subdir: &str, file: &str) -> bool {
    let dir = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| support::target_dir().join(subdir));
    support::artifact(test, dir.join(file)).is_some()
}

/// `scorelet predict` on JSON records: one prediction per record.
pub fn predict(bundle: &Path, rows: &[Json], scratch: &Path) -> Vec<Json> {
    let input = scratch.join("predict-input.jsonl");
    std::fs::write(&input, rows.iter().map(|r| format!("{r}\n")).collect::<String>()).unwrap();
    ok(&["predict", "--bundle", bundle.to_str().unwrap(), "--input", input.to_str().unwrap()])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A program from js/node_modules/.bin (scripts/setup.sh installs them).
pub fn node_bin(name: &str) -> PathBuf {
    let p = repo().join("js/node_modules/.bin").join(name);
    assert!(p.exists(), "{} is missing: run scripts/setup.sh", p.display());
    p
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

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// One HTTP request; the status and the JSON body (every answer, errors included, is JSON).
pub fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, Json) {
    let mut r = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let mut resp = agent().run(r.body(body.to_vec()).unwrap()).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().with_config().limit(64 << 20).read_to_string().unwrap();
    let json =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {url} → {status}, not JSON ({e}): {text}"));
    (status, json)
}

/// OIP v2 request: one BYTES tensor per column (every cell as a string).
pub fn oip_request(records: &[Json]) -> Json {
    let names: Vec<&String> = records[0].as_object().unwrap().keys().collect();
    let inputs: Vec<Json> = names
        .iter()
        .map(|n| {
            let data: Vec<Json> = records
                .iter()
                .map(|r| match &r[n.as_str()] {
                    Json::String(s) => json!(s),
                    // As the CSV had it: `0`, not `0.0`.
                    Json::Number(x) => match x.as_f64() {
                        Some(f) if f.fract() == 0.0 => json!((f as i64).to_string()),
                        _ => json!(x.to_string()),
                    },
                    v => json!(v.to_string()),
                })
                .collect();
            json!({"name": n, "datatype": "BYTES", "shape": [records.len()], "data": data})
        })
        .collect();
    json!({"id": "t1", "inputs": inputs})
}

/// POSTs JSON to `url`.
pub fn post(url: &str, body: &Json) -> (u16, Json) {
    request("POST", url, &[("content-type", "application/json")], body.to_string().as_bytes())
}

/// Asserts the scoring function at `base` answers `/invocations` and `/v2/models/{model}/infer`
/// for `records` as `scorelet predict` did (`want`), bit for bit.
pub fn assert_scores_like_native(base: &str, want: &[Json], records: &[Json], model: &str, what: &str) {
    let (status, body) = post(&format!("{base}/invocations"), &json!({"dataframe_records": records}));
    assert_eq!(status, 200, "{what}: {body}");
    let got = body["predictions"].as_array().unwrap();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g, w, "{what}: /invocations row {i} differs from scorelet predict");
    }

    let (status, body) = post(&format!("{base}/v2/models/{model}/infer"), &oip_request(records));
    assert_eq!(status, 200, "{what}: {body}");
    assert_eq!(body["id"], "t1");
    let probs = body["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "probability").unwrap();
    let probs = probs["data"].as_array().unwrap();
    assert_eq!(probs.len(), want.len());
    for (i, (p, w)) in probs.iter().zip(want).enumerate() {
        assert_eq!(p, &w["probability"], "{what}: /infer row {i} differs from scorelet predict");
    }
}

/// A running `scorelet serve`.
pub struct Server {
    child: Child,
    pub url: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    /// `scorelet serve ARGS` (the binary cargo built), on a free port, with the test compile cache.
    pub fn start(args: &[&str]) -> Server {
        let cache = support::target_dir().join("component-cache");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scorelet"));
        cmd.arg("serve").args(["--cache", cache.to_str().unwrap()]).args(args).current_dir(repo());
        Server::spawn(cmd)
    }

    /// Runs `cmd` (a `scorelet serve` with its arguments) on a free port and waits until it
    /// listens; panics with its log if it does not.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child =
            cmd.args(["--addr", "127.0.0.1:0"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(String::new()));
        let mut url = None;
        for line in lines.by_ref() {
            let line = line.unwrap();
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(rest) = line.strip_prefix("scoring on ") {
                url = Some(rest.split_whitespace().next().unwrap().to_string());
                break;
            }
        }
        let Some(url) = url else {
            let _ = child.wait();
            panic!("{cmd:?} did not start:\n{}", log.lock().unwrap());
        };
        let l = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                l.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Server { child, url, log }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn get(&self, path: &str) -> (u16, Json) {
        request("GET", &format!("{}{path}", self.url), &[], b"")
    }

    pub fn post(&self, path: &str, body: &Json) -> (u16, Json) {
        post(&format!("{}{path}", self.url), body)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
