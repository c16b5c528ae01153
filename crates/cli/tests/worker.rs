//! The ES-module worker (worker/) in workerd, Cloudflare's runtime: with the bundle embedded and
//! with the model fetched from a real registry, it answers `/invocations` and the Open Inference
//! Protocol as `scorelet predict` does, bit for bit, and bad requests and a registry that is
//! down as the Spin component does.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    Registry, assert_scores_like_native, built, free_port, have_built, node_bin, ok, post, predict, repo, request,
    support, telco_records, train,
};
use serde_json::json;

/// A running `workerd serve`.
struct Workerd {
    child: Child,
    url: String,
    /// What it printed, stdout and stderr (the worker's console).
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Workerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the web package, Node and workerd are there (else `test` is skipped).
fn ready(test: &str) -> bool {
    have_built(test, "SCORELET_WEB_PKG", "web-pkg", "worker/scorelet_web.js")
        && support::program(test, "node").is_some()
        && support::js_tool(test, "workerd").is_some()
}

/// `node worker/assemble.mjs` into `out`; its stderr on failure.
fn assemble(out: &Path, bundle: Option<&Path>) -> Result<(), String> {
    let pkg = built("SCORELET_WEB_PKG", "web-pkg", "worker/scorelet_web.js").join("worker");
    let mut cmd = Command::new("node");
    cmd.arg(repo().join("worker/assemble.mjs")).args(["--pkg", pkg.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    if let Some(b) = bundle {
        cmd.args(["--bundle", b.to_str().unwrap()]);
    }
    let o = cmd.output().unwrap();
    if o.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&o.stderr).into_owned()) }
}

/// Starts workerd on the assembled worker in `dir` and waits until it answers liveness.
fn workerd(dir: &Path, env: &[(&str, &str)]) -> Workerd {
    let port = free_port();
    let mut child = Command::new(node_bin("workerd"))
        .args(["serve", dir.join("config.capnp").to_str().unwrap(), "--socket-addr"])
        .arg(format!("http=127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let out: [Box<dyn std::io::Read + Send>; 2] =
        [Box::new(child.stdout.take().unwrap()), Box::new(child.stderr.take().unwrap())];
    for stream in out {
        let log = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                eprintln!("workerd: {line}");
                log.lock().unwrap().push(line);
            }
        });
    }
    let url = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(child.try_wait().unwrap().is_none(), "workerd exited");
        assert!(start.elapsed() < Duration::from_secs(60), "workerd did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Workerd { child, url, log }
}

/// The JSON log lines the worker printed whose `scorelet` field is `kind`.
fn log_lines(w: &Workerd, kind: &str) -> Vec<serde_json::Value> {
    w.log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.get(l.find('{')?..)?).ok())
        .filter(|v| v["scorelet"] == kind)
        .collect()
}

/// POSTs 8 MiB + 1 byte and reads the answer even when the server stops reading the body
/// midway (it answers 413 from the headers and closes).
fn oversized(base: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let len = (8 << 20) + 1;
    let head = format!(
        "POST /invocations HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {len}\r\nconnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let _ = s.write_all(&vec![b' '; len]); // may fail once the server has answered
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    let status = answer.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, answer)
}

fn scratch(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}

#[test]
fn embedded_worker_scores_like_predict_and_rejects_bad_requests_like_the_server() {
    if !ready("embedded_worker_scores_like_predict_and_rejects_bad_requests_like_the_server") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let out = scratch(dir.path(), "worker");
    assemble(&out, Some(&bundle)).unwrap();
    let w = workerd(&out, &[("SCORELET_REQUEST_LOG", "payload"), ("SCORELET_REQUEST_LOG_DENY", "customerID")]);

    let records = telco_records(200);
    let want = predict(&bundle, &records, dir.path());
    assert_scores_like_native(&w.url, &want, &records, "churn", "workerd, embedded");
    let (status, body) = request("GET", &format!("{}/v2/health/ready", w.url), &[], b"");
    assert_eq!((status, &body["ready"]), (200, &json!(true)), "{body}");
    let (status, body) = request("GET", &format!("{}/v2/models/churn", w.url), &[], b"");
    assert_eq!((status, body["name"].as_str()), (200, Some("churn")), "{body}");

    let url = |p: &str| format!("{}{p}", w.url);
    let json = [("content-type", "application/json")];
    let (status, body) = request("POST", &url("/invocations"), &json, b"{\"dataframe_records\": [");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("malformed request"), "{body}");
    let mut missing = records[0].clone();
    missing.as_object_mut().unwrap().remove("tenure");
    let (status, body) = post(&url("/invocations"), &json!({"dataframe_records": [missing]}));
    assert_eq!((status, body["error"]["message"].as_str()), (400, Some("row 0: missing column `tenure`")), "{body}");
    let (status, body) = request("POST", &url("/invocations"), &[("content-type", "text/csv")], b"a,b\n1,2\n");
    assert_eq!(status, 415, "{body}");
    let (status, body) = oversized(&w.url);
    assert_eq!(status, 413, "{body}");
    let (status, body) = request("GET", &url("/nope"), &[], b"");
    assert_eq!(status, 404, "{body}");
    let (status, _) = request("DELETE", &url("/invocations"), &[], b"");
    assert_eq!(status, 405);
    // Still scoring after all that.
    assert_scores_like_native(&w.url, &want[..3], &records[..3], "churn", "workerd, after bad requests");
    // Its metrics, as JSON log lines (a worker has no scrape endpoint): one per request, with
    // the error's code, and the live drift of every column.
    std::thread::sleep(Duration::from_millis(300));
    let requests = log_lines(&w, "request");
    let missing_line = requests.iter().find(|l| l["status"] == 400 && l["code"] == "missing_column");
    assert!(missing_line.is_some(), "no log line for the missing column: {requests:?}");
    let scored: u64 = requests.iter().filter(|l| l["status"] == 200).map(|l| l["rows"].as_u64().unwrap()).sum();
    assert!(scored >= 203, "rows in the request lines: {scored}");
    let drift = log_lines(&w, "drift");
    let columns = drift.first().map(|d| d["columns"].as_array().unwrap().len());
    assert_eq!(columns, Some(20), "19 input columns and the scores: {drift:?}");
    // The request log: a line per request the component answered, rows without the denied column.
    let logged: Vec<serde_json::Value> = w
        .log
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.get(l.find('{')?..)?).ok())
        .filter(|v| v.get("request_id").is_some())
        .collect();
    assert_eq!(logged.len(), requests.len(), "{logged:?}");
    let payload = logged.iter().find_map(|l| l.get("payload")).expect("a payload");
    let record = payload["records"][0].as_object().unwrap();
    assert!(record.contains_key("tenure") && !record.contains_key("customerID"), "{record:?}");
    assert!(logged.iter().all(|l| l["request_id"].as_str().is_some_and(|id| id.len() >= 8)), "{logged:?}");
    drop(w);
    // The tree ensembles score in V8 as natively, bit for bit.
    for (kind, extra) in &common::MODEL_KINDS[1..] {
        let kind_dir = scratch(dir.path(), kind);
        let bundle = common::train_with(&kind_dir, extra);
        let out = scratch(&kind_dir, "worker");
        assemble(&out, Some(&bundle)).unwrap();
        let w = workerd(&out, &[]);
        let want = predict(&bundle, &records, &kind_dir);
        assert_scores_like_native(&w.url, &want, &records, "churn", &format!("workerd, embedded {kind}"));
    }
}

#[test]
fn registry_worker_fetches_by_alias_and_waits_out_a_registry_that_is_down() {
    if !ready("registry_worker_fetches_by_alias_and_waits_out_a_registry_that_is_down") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let out = scratch(dir.path(), "worker");
    assemble(&out, None).unwrap();

    // Down: liveness answers, readiness and scoring say why, nothing crashes.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let w = workerd(&out, &[("SCORELET_MODEL", "churn@production"), ("SCORELET_REGISTRY_URL", &dead)]);
    let (status, _) = request("GET", &format!("{}/v2/health/live", w.url), &[], b"");
    assert_eq!(status, 200);
    let (status, body) = request("GET", &format!("{}/v2/health/ready", w.url), &[], b"");
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&dead), "{body}");
    drop(w);

    let reg = Registry::start(&dir.path().join("store"), "127.0.0.1:0");
    reg.cli(&["push", "--bundle", bundle.to_str().unwrap()]);
    reg.cli(&["promote", "churn", "1", "--to", "production"]);
    let w = workerd(&out, &[("SCORELET_MODEL", "churn@production"), ("SCORELET_REGISTRY_URL", &reg.url)]);
    let records = telco_records(100);
    let want = predict(&bundle, &records, dir.path());
    assert_scores_like_native(&w.url, &want, &records, "churn", "workerd, from the registry");
    let (_, body) = request("GET", &format!("{}/v2/models/churn", w.url), &[], b"");
    assert_eq!(body["versions"], json!(["1"]), "{body}");
    drop(w);

    // Pinned to other content, or keyed to a publisher who did not sign it: refused.
    let key = ok(&["keygen", "--out", dir.path().join("publisher").to_str().unwrap()]).trim().to_string();
    let wrong_pin = format!("churn@production#sha256:{}", "0".repeat(64));
    for (env, want) in [
        (vec![("SCORELET_MODEL", wrong_pin.as_str())], "not the pinned"),
        (vec![("SCORELET_MODEL", "churn@1"), ("SCORELET_REGISTRY_PUBLIC_KEY", key.as_str())], "not signed"),
    ] {
        let w = workerd(&out, &[env, vec![("SCORELET_REGISTRY_URL", reg.url.as_str())]].concat());
        let (status, body) = request("GET", &format!("{}/v2/health/ready", w.url), &[], b"");
        assert_eq!(status, 503, "{body}");
        assert!(body["error"]["message"].as_str().unwrap_or_default().contains(want), "{want}: {body}");
    }
}

#[test]
fn assembling_a_worker_from_a_bad_bundle_fails_with_a_clear_message() {
    if !ready("assembling_a_worker_from_a_bad_bundle_fails_with_a_clear_message") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = scratch(dir.path(), "worker");
    let empty = scratch(dir.path(), "empty");
    let e = assemble(&out, Some(&empty)).unwrap_err();
    assert!(e.contains("is not a bundle: it has no manifest.json"), "{e}");
    std::fs::write(empty.join("manifest.json"), "{not json").unwrap();
    let e = assemble(&out, Some(&empty)).unwrap_err();
    assert!(e.contains("manifest.json"), "{e}");
    std::fs::write(empty.join("manifest.json"), r#"{"files": {"model.onnx": {}}}"#).unwrap();
    let e = assemble(&out, Some(&empty)).unwrap_err();
    assert!(e.contains("lacks model.onnx"), "{e}");
    std::fs::write(empty.join("manifest.json"), r#"{"files": {"../../etc/passwd": {}}}"#).unwrap();
    let e = assemble(&out, Some(&empty)).unwrap_err();
    assert!(e.contains("unsafe file name"), "{e}");
}

/// The worker reads its JWT settings from its bindings: a token signed with a key of the JWKS
/// document opens scoring, an expired one is refused with the reason, and the API key still works.
#[test]
fn worker_accepts_bearer_jwts_from_its_bindings() {
    if !ready("worker_accepts_bearer_jwts_from_its_bindings") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let out = scratch(dir.path(), "worker");
    assemble(&out, Some(&bundle)).unwrap();
    let fixtures = repo().join("tests/fixtures/jwt");
    let read = |name: &str| std::fs::read_to_string(fixtures.join(name)).unwrap().trim().to_string();
    let jwks = read("jwks.json");
    let w = workerd(
        &out,
        &[
            ("SCORELET_JWT_ISSUER", "https://id.example"),
            ("SCORELET_JWT_AUDIENCE", "scorelet"),
            ("SCORELET_JWT_JWKS", &jwks),
            ("SCORELET_API_KEY", "s3cret-key"),
        ],
    );
    let body = json!({"dataframe_records": telco_records(1)}).to_string();
    let score = |auth: &str| {
        let h = [("content-type", "application/json"), ("authorization", auth)];
        request("POST", &format!("{}/invocations", w.url), &h, body.as_bytes())
    };
    let (status, got) = score(&format!("Bearer {}", read("eddsa.jwt")));
    assert_eq!(status, 200, "{got}");
    assert_eq!(score(&format!("Bearer {}", read("rs256.jwt"))).0, 200);
    assert_eq!(score("Bearer s3cret-key").0, 200);
    let (status, got) = score(&format!("Bearer {}", read("rs256-expired.jwt")));
    assert_eq!(status, 401, "{got}");
    assert!(got["error"]["message"].as_str().unwrap().contains("expired"), "{got}");
    assert_eq!(score("Bearer not-a-token").0, 401);
}

/// A panic inside the package (injected, as a bug would cause it) while the model loads and
/// while a request is scored: that request gets a JSON 500, and the same isolate answers the
/// next one with a fresh instance of the module, scoring as before.
#[test]
fn a_panic_inside_the_package_fails_one_request_and_the_worker_serves_the_next() {
    if !ready("a_panic_inside_the_package_fails_one_request_and_the_worker_serves_the_next") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let out = scratch(dir.path(), "worker");
    assemble(&out, Some(&bundle)).unwrap();
    // The worker behind a test entry point that arms the package's fault hook.
    std::fs::write(
        out.join("fault.mjs"),
        r#"import worker from "./worker.mjs";
import { __injectFault } from "./pkg/scorelet_web.js";
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    if (url.pathname === "/__fault") {
      __injectFault(url.searchParams.get("at"));
      return new Response("{}");
    }
    return worker.fetch(request, env);
  },
};
"#,
    )
    .unwrap();
    let config = std::fs::read_to_string(out.join("config.capnp")).unwrap();
    let config = config.replacen(
        "modules = [\n",
        "modules = [\n    (name = \"fault.mjs\", esModule = embed \"fault.mjs\"),\n",
        1,
    );
    std::fs::write(out.join("config.capnp"), config).unwrap();
    let w = workerd(&out, &[]);
    let records = telco_records(20);
    let want = predict(&bundle, &records, dir.path());
    let arm = |at: &str| request("GET", &format!("{}/__fault?at={at}", w.url), &[], b"").0;

    // During the first load: the request fails, the next one loads the model and scores.
    assert_eq!(arm("load"), 200);
    let (status, body) = post(&format!("{}/invocations", w.url), &json!({"dataframe_records": records}));
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "component_failed", "{body}");
    assert_scores_like_native(&w.url, &want, &records, "churn", "workerd, after a panic during load");
    // During scoring, with the model loaded: the same.
    assert_eq!(arm("score"), 200);
    let (status, body) = post(&format!("{}/invocations", w.url), &json!({"dataframe_records": records}));
    assert_eq!(status, 500, "{body}");
    assert_scores_like_native(&w.url, &want, &records, "churn", "workerd, after a panic while scoring");
    let (status, body) = request("GET", &format!("{}/v2/health/ready", w.url), &[], b"");
    assert_eq!((status, &body["ready"]), (200, &json!(true)), "{body}");
}

#[test]
fn a_worker_splits_customers_between_two_versions_as_the_core_hashes_them() {
    if !ready("a_worker_splits_customers_between_two_versions_as_the_core_hashes_them") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let out = scratch(dir.path(), "worker");
    assemble(&out, None).unwrap();
    let reg = Registry::start(&dir.path().join("store"), "127.0.0.1:0");
    reg.cli(&["push", "--bundle", bundle.to_str().unwrap()]);
    reg.cli(&["push", "--bundle", bundle.to_str().unwrap()]);
    let w = workerd(
        &out,
        &[
            ("SCORELET_MODEL", "churn@1"),
            ("SCORELET_CANDIDATE", "churn@2"),
            ("SCORELET_CANDIDATE_SHARE", "0.2"),
            ("SCORELET_SPLIT_KEY", "column:customerID"),
            ("SCORELET_REQUEST_LOG", "on"),
            ("SCORELET_REGISTRY_URL", &reg.url),
        ],
    );
    let records = telco_records(300);
    let mut candidate = 0;
    for r in &records {
        let (status, body) = post(&format!("{}/invocations", w.url), &json!({"dataframe_records": [r]}));
        assert_eq!(status, 200, "{body}");
        let key = r["customerID"].as_str().unwrap();
        let want = if scorelet::experiment::bucket(key) < 2000 { "2" } else { "1" };
        assert_eq!(body["model"]["version"], want, "{key}: the worker routed it unlike the core");
        candidate += usize::from(want == "2");
    }
    assert!((40..=80).contains(&candidate), "{candidate} of 300");
    let lines: Vec<_> = log_lines(&w, "request").into_iter().filter(|l| l["route"] == "invocations").collect();
    assert_eq!(lines.iter().filter(|l| l["variant"] == "candidate").count(), candidate, "{lines:?}");
}
