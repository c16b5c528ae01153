//! The real `bootstrap` binary driven through the Lambda Runtime API (API version 2018-06-01),
//! served here by a small implementation of the documented protocol: `GET
//! /runtime/invocation/next` hands out events, `POST /runtime/invocation/{id}/response|error`
//! takes the answers. Events are API Gateway HTTP API (payload 2.0) and Function URL requests.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use scorelet::api::RowReader;
use scorelet::{Bundle, Options, Scorer};
use scorelet_train::job::{ModelKind, TaskKind, TrainJob};
use scorelet_train::onnx::Precision;
use serde_json::{Value as Json, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[path = "../../../tests/support/mod.rs"]
mod support;

fn target_dir() -> PathBuf {
    support::target_dir()
}

/// A Telco bundle of `model` and the first 100 rows.
fn telco(model: ModelKind) -> (Bundle, Vec<Json>) {
    let table = scorelet_train::data::Table::read_csv(&repo().join("data/telco-churn.csv"), None).unwrap();
    let spec = scorelet::features::FeatureSpec::from_toml(
        &std::fs::read_to_string(repo().join("examples/telco.toml")).unwrap(),
    )
    .unwrap();
    let mut job = TrainJob::new("churn", "Churn", spec, model);
    job.task = TaskKind::Classification { positive: Some("Yes".into()) };
    job.precision = Precision::Int8;
    let bundle = job.run(&table, &scorelet_train::progress::Progress::hidden()).unwrap().bundle;
    let records = table
        .rows()
        .take(100)
        .map(|r| {
            Json::Object(
                table.header.iter().zip(r).filter(|(h, _)| *h != "Churn").map(|(h, c)| (h.clone(), json!(c))).collect(),
            )
        })
        .collect();
    (bundle, records)
}

/// A Runtime API endpoint: hands out `events` in order, reports each answer on the channel as
/// (request id, "response" | "error", body).
struct RuntimeApi {
    addr: String,
    answers: mpsc::Receiver<(String, String, Json)>,
}

fn read_request(stream: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut len = 0;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        if h == "\r\n" || h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((method, path, body))
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(String, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n", body.len());
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

impl RuntimeApi {
    fn start(events: Vec<Json>) -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (tx, answers) = mpsc::channel();
        let queue = Arc::new(Mutex::new(events.into_iter().enumerate().collect::<VecDeque<_>>()));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (queue, tx) = (queue.clone(), tx.clone());
                std::thread::spawn(move || {
                    let Some((method, path, body)) = read_request(&mut stream) else { return };
                    if method == "GET" && path == "/2018-06-01/runtime/invocation/next" {
                        let next = queue.lock().unwrap().pop_front();
                        let Some((i, event)) = next else {
                            // No more events: long-poll forever, as the real API does.
                            std::thread::sleep(Duration::from_secs(3600));
                            return;
                        };
                        let deadline =
                            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
                                + 30_000;
                        let headers = vec![
                            ("lambda-runtime-aws-request-id".into(), format!("req-{i}")),
                            ("lambda-runtime-deadline-ms".into(), deadline.to_string()),
                            (
                                "lambda-runtime-invoked-function-arn".into(),
                                "arn:aws:lambda:us-east-1:123456789012:function:scorelet".into(),
                            ),
                            ("lambda-runtime-trace-id".into(), "Root=1-5759e988-bd862e3fe1be46a994272793".into()),
                            ("content-type".into(), "application/json".into()),
                        ];
                        respond(&mut stream, "200 OK", &headers, event.to_string().as_bytes());
                    } else if let Some(rest) = path.strip_prefix("/2018-06-01/runtime/invocation/") {
                        let (id, kind) = rest.split_once('/').unwrap();
                        respond(&mut stream, "202 Accepted", &[], b"{\"status\":\"OK\"}");
                        let body = serde_json::from_slice(&body).unwrap_or(Json::Null);
                        let _ = tx.send((id.to_string(), kind.to_string(), body));
                    } else {
                        // Includes /runtime/init/error: the test sees it as a missing answer.
                        respond(&mut stream, "404 Not Found", &[], b"{}");
                    }
                });
            }
        });
        RuntimeApi { addr, answers }
    }

    fn answer(&self) -> (String, String, Json) {
        self.answers.recv_timeout(Duration::from_secs(120)).expect("the bootstrap did not answer")
    }
}

/// An API Gateway HTTP API (payload format 2.0) event; `function_url` makes it the Function URL
/// flavour (same payload, a `lambda-url` domain).
fn http_event(method: &str, path: &str, body: Option<&str>, base64: bool, function_url: bool) -> Json {
    let domain = if function_url {
        "abcdefghij.lambda-url.us-east-1.on.aws"
    } else {
        "r3pmxmplak.execute-api.us-east-1.amazonaws.com"
    };
    let (body, encoded) = match body {
        Some(b) if base64 => (json!(base64::engine::general_purpose::STANDARD.encode(b)), true),
        Some(b) => (json!(b), false),
        None => (Json::Null, false),
    };
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": domain, "user-agent": "test"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": domain.split('.').next().unwrap(),
            "domainName": domain,
            "domainPrefix": domain.split('.').next().unwrap(),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "21/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795255200000u64
        },
        "body": body,
        "isBase64Encoded": encoded
    })
}

fn start_bootstrap_with(api: &RuntimeApi, task: &Path, env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .envs(env.iter().copied())
        .env("AWS_LAMBDA_RUNTIME_API", &api.addr)
        .env("AWS_LAMBDA_FUNCTION_NAME", "scorelet")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("LAMBDA_TASK_ROOT", task)
        .stdout(std::fs::File::create(task.join("stdout.log")).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

/// Both components a package can carry: the full one, and the lean one (no tract) that
/// `scripts/package-lambda.sh` picks for a model on the compiled engine, as this one is.
#[test]
fn bootstrap_answers_api_gateway_and_function_url_events_like_native_predict() {
    let test = "bootstrap_answers_api_gateway_and_function_url_events_like_native_predict";
    let (Some(full), Some(lean)) = (support::spin_component(test, false), support::lean_component(test, false)) else {
        return;
    };
    // The dense model on both builds; the tree ensembles on the lean one (what a compiled-engine
    // model is packaged with).
    for (wasm, cache, model) in [
        (&full, "lambda-compiled", ModelKind::Linear(Default::default())),
        (&lean, "lambda-compiled-lean", ModelKind::Linear(Default::default())),
        (&lean, "lambda-compiled-lean", ModelKind::Gbdt(Default::default())),
        (&lean, "lambda-compiled-lean", ModelKind::Forest(Default::default())),
    ] {
        answers_like_native(wasm, cache, model);
    }
}

/// Puts `wasm` and its compilation (kept across runs in the target dir under `cache`) into the
/// task root, the way scripts/package-lambda.sh does.
fn package(task: &Path, wasm: &Path, cache: &str) {
    std::fs::copy(wasm, task.join("scorelet.wasm")).unwrap();
    let compiled = target_dir().join(cache);
    let status = Command::new(env!("CARGO_BIN_EXE_bootstrap"))
        .args(["precompile", wasm.to_str().unwrap(), compiled.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    let dest = task.join("compiled");
    std::fs::create_dir_all(&dest).unwrap();
    for f in std::fs::read_dir(&compiled).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dest.join(f.file_name())).unwrap();
    }
}

fn answers_like_native(wasm: &Path, cache: &str, model: ModelKind) {
    let (bundle, records) = telco(model);
    let task = tempfile::tempdir().unwrap();
    bundle.write_dir(task.path().join("bundle")).unwrap();
    package(task.path(), wasm, cache);
    let scorer = Scorer::from_bundle(&bundle).unwrap();
    let rows = RowReader::for_pipeline(scorer.pipeline()).records(&records).unwrap();
    let want: Vec<Json> = scorer.predict(&rows, Options::default()).unwrap().iter().map(|p| p.to_json()).collect();
    let invocations = json!({"dataframe_records": records}).to_string();
    let one = json!({"dataframe_records": [records[0]]}).to_string();
    let mut missing = records[0].clone();
    missing.as_object_mut().unwrap().remove("tenure");
    let bad = json!({"dataframe_records": [missing]}).to_string();

    let events = vec![
        http_event("POST", "/invocations", Some(&invocations), false, false),
        http_event("POST", "/invocations", Some(&one), true, true),
        http_event("GET", "/v2/health/ready", None, false, true),
        http_event("POST", "/invocations", Some(&bad), false, false),
        json!({"not": "an HTTP event"}),
        http_event("GET", "/v2/models/churn", None, false, false),
    ];
    let api = RuntimeApi::start(events);
    let mut child = start_bootstrap_with(&api, task.path(), &[("SCORELET_REQUEST_LOG", "on")]);
    let answers: Vec<(String, String, Json)> = (0..6).map(|_| api.answer()).collect();
    let _ = child.kill();
    let _ = child.wait();

    let get = |id: &str| answers.iter().find(|(i, _, _)| i == id).unwrap_or_else(|| panic!("no answer for {id}"));
    let body = |a: &(String, String, Json)| -> Json {
        assert_eq!(a.1, "response", "{a:?}");
        serde_json::from_str(a.2["body"].as_str().unwrap()).unwrap()
    };
    // API Gateway HTTP API: every prediction equals the native one, bit for bit.
    let r = get("req-0");
    assert_eq!(r.2["statusCode"], 200, "{r:?}");
    assert_eq!(r.2["headers"]["content-type"], "application/json");
    assert_eq!(body(r)["predictions"].as_array().unwrap(), &want);
    // Function URL with a base64 body.
    let r = get("req-1");
    assert_eq!(r.2["statusCode"], 200, "{r:?}");
    assert_eq!(body(r)["predictions"][0], want[0]);
    let r = get("req-2");
    assert_eq!((r.2["statusCode"].as_u64(), body(r)["ready"].as_bool()), (Some(200), Some(true)));
    // Bad input is a 400 response naming the row and column, not a function error.
    let r = get("req-3");
    assert_eq!(r.2["statusCode"], 400, "{r:?}");
    assert_eq!(body(r)["error"]["column"], "tenure");
    // An event that is not an HTTP request is reported to /error, and the loop goes on.
    let r = get("req-4");
    assert_eq!(r.1, "error", "{r:?}");
    assert!(r.2["errorMessage"].as_str().is_some_and(|m| !m.is_empty()), "{r:?}");
    let r = get("req-5");
    assert_eq!(r.2["statusCode"], 200, "{r:?}");
    assert_eq!(body(r)["name"], "churn");

    // CloudWatch's Embedded Metric Format on stdout: a line per HTTP invocation, and the live
    // drift of every input column once there is traffic.
    let log = std::fs::read_to_string(task.path().join("stdout.log")).unwrap();
    let lines: Vec<Json> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let requests: Vec<&Json> = lines.iter().filter(|l| l.get("Route").is_some()).collect();
    assert_eq!(requests.len(), 5, "one EMF line per HTTP event:\n{log}");
    for l in &requests {
        assert_eq!(l["_aws"]["CloudWatchMetrics"][0]["Namespace"], "scorelet", "{l}");
        assert!(l["Model"].as_str().is_some_and(|m| m.starts_with("churn@")), "{l}");
        assert!(l["Latency"].as_f64().is_some_and(|us| us > 0.0), "{l}");
    }
    let rows: u64 = requests.iter().map(|l| l["Rows"].as_u64().unwrap()).sum();
    assert_eq!(rows as usize, records.len() + 1, "{log}");
    let failed: Vec<&&Json> = requests.iter().filter(|l| l["Errors"] == 1).collect();
    assert_eq!(failed.len(), 1, "{log}");
    assert_eq!(failed[0]["Status"], 400);
    // The request log, under Lambda's request ids.
    let logged: Vec<&Json> = lines.iter().filter(|l| l.get("request_id").is_some()).collect();
    let ids: Vec<&str> = logged.iter().map(|l| l["request_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["req-0", "req-1", "req-2", "req-3", "req-5"], "{log}");
    assert_eq!(logged[3]["code"], "missing_column", "{log}");
    let drift = lines.iter().find(|l| l.get("PSI.tenure").is_some()).unwrap_or_else(|| panic!("no drift line:\n{log}"));
    let named = drift["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array().unwrap();
    assert!(named.iter().any(|m| m["Name"] == "PSI.MonthlyCharges"), "{drift}");
}

/// A registry (or a proxy in front of one) serving `bundle` as `churn@1`, every file consistent
/// with the manifest it sends.
fn serve_bundle(bundle: &Bundle) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let manifest = bundle.manifest_bytes();
    let files = bundle.files().clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let Some((_, path, _)) = read_request(&mut stream) else { continue };
            let prefix = "/v1/models/churn/versions/1/";
            let body = match path.strip_prefix(prefix) {
                Some("manifest.json") => Some(manifest.clone()),
                Some(rest) => rest.strip_prefix("files/").and_then(|f| files.get(f).cloned()),
                None => None,
            };
            match body {
                Some(b) => respond(&mut stream, "200 OK", &[], &b),
                None => respond(&mut stream, "404 Not Found", &[], b"{}"),
            }
        }
    });
    url
}

/// A registry that sends another model as `churn@1`, consistently (manifest, model and golden
/// file agree): served when nothing is pinned or keyed, refused by the bootstrap when the
/// reference is pinned to the genuine manifest or the publisher's key is configured; the
/// genuine registry passes both checks.
#[test]
fn a_consistently_rewritten_bundle_is_refused_when_pinned_or_keyed() {
    let test = "a_consistently_rewritten_bundle_is_refused_when_pinned_or_keyed";
    let Some(lean) = support::lean_component(test, false) else { return };
    let key = scorelet::bundle::seal::SecretKey::from_seed([7; 32]);
    let (mut genuine, _) = telco(ModelKind::Linear(Default::default()));
    genuine.manifest.version = Some(1);
    scorelet::bundle::seal::sign(&mut genuine.manifest, &key);
    let pinned = format!("churn@1#sha256:{}", scorelet::bundle::sha256_hex(&genuine.manifest_bytes()));
    let (mut forged, _) = telco(ModelKind::Gbdt(Default::default()));
    forged.manifest.version = Some(1);
    let (real, evil) = (serve_bundle(&genuine), serve_bundle(&forged));
    let public = key.public().to_hex();

    let ready = |env: &[(&str, &str)]| {
        let task = tempfile::tempdir().unwrap();
        package(task.path(), &lean, "lambda-compiled-lean");
        let api = RuntimeApi::start(vec![
            http_event("GET", "/v2/health/ready", None, false, false),
            http_event("GET", "/v2/models/churn", None, false, false),
        ]);
        let mut child = start_bootstrap_with(&api, task.path(), env);
        let mut answers = [api.answer(), api.answer()];
        let _ = child.kill();
        let _ = child.wait();
        // Answers arrive on one thread per connection: in request order only after sorting.
        answers.sort_by(|a, b| a.0.cmp(&b.0));
        answers.map(|(_, kind, a)| {
            assert_eq!(kind, "response", "{a}");
            (a["statusCode"].as_u64().unwrap(), serde_json::from_str::<Json>(a["body"].as_str().unwrap()).unwrap())
        })
    };
    // Unpinned and unkeyed, the forgery is served: this is the threat.
    let [(status, _), (_, meta)] = ready(&[("SCORELET_MODEL", "churn@1"), ("SCORELET_REGISTRY_URL", &evil)]);
    assert_eq!(status, 200);
    assert_eq!(meta["parameters"]["metrics"], json!(forged.manifest.metrics), "the forged model serves: {meta}");
    assert_ne!(forged.manifest.metrics, genuine.manifest.metrics);
    for (env, want) in [
        (vec![("SCORELET_MODEL", pinned.as_str())], "not the pinned"),
        (vec![("SCORELET_MODEL", "churn@1"), ("SCORELET_REGISTRY_PUBLIC_KEY", public.as_str())], "not signed"),
    ] {
        let [(status, body), _] = ready(&[env.clone(), vec![("SCORELET_REGISTRY_URL", evil.as_str())]].concat());
        assert_eq!(status, 503, "{env:?}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{env:?}: {msg}");
    }
    let both = [("SCORELET_MODEL", pinned.as_str()), ("SCORELET_REGISTRY_PUBLIC_KEY", &public)];
    let [(status, body), _] = ready(&[&both[..], &[("SCORELET_REGISTRY_URL", real.as_str())]].concat());
    assert_eq!(status, 200, "{body}");
}

/// An A/B split in the bootstrap: each customer goes where the core's stable hash sends it (the
/// same as `scorelet serve` and the worker), and the request log says which variant answered.
#[test]
fn the_bootstrap_splits_customers_as_the_core_hashes_them() {
    let test = "the_bootstrap_splits_customers_as_the_core_hashes_them";
    let Some(lean) = support::lean_component(test, false) else { return };
    let (bundle, records) = telco(ModelKind::Linear(Default::default()));
    let task = tempfile::tempdir().unwrap();
    bundle.write_dir(task.path().join("bundle")).unwrap();
    let candidate = task.path().join("candidate");
    bundle.write_dir(&candidate).unwrap();
    package(task.path(), &lean, "lambda-compiled-lean");
    let events: Vec<Json> = records
        .iter()
        .map(|r| http_event("POST", "/invocations", Some(&json!({"dataframe_records": [r]}).to_string()), false, false))
        .collect();
    let api = RuntimeApi::start(events);
    let mut child = start_bootstrap_with(
        &api,
        task.path(),
        &[
            ("SCORELET_CANDIDATE_BUNDLE_DIR", candidate.to_str().unwrap()),
            ("SCORELET_CANDIDATE_SHARE", "30%"),
            ("SCORELET_SPLIT_KEY", "column:customerID"),
            ("SCORELET_REQUEST_LOG", "on"),
        ],
    );
    let answers: Vec<(String, String, Json)> = (0..records.len()).map(|_| api.answer()).collect();
    let _ = child.kill();
    let _ = child.wait();
    let mut candidates = 0;
    for (i, r) in records.iter().enumerate() {
        let id = format!("req-{i}");
        let a = answers.iter().find(|(x, _, _)| *x == id).unwrap_or_else(|| panic!("no answer for {id}"));
        assert_eq!(a.2["statusCode"], 200, "{a:?}");
        let key = r["customerID"].as_str().unwrap();
        let want = if scorelet::experiment::bucket(key) < 3000 { "candidate" } else { "primary" };
        assert_eq!(a.2["headers"]["scorelet-variant"], want, "{key}: {a:?}");
        candidates += usize::from(want == "candidate");
    }
    assert!((15..=45).contains(&candidates), "{candidates} of 100");
    let log = std::fs::read_to_string(task.path().join("stdout.log")).unwrap();
    let logged: Vec<Json> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(l).ok())
        .filter(|l| l.get("request_id").is_some())
        .collect();
    assert_eq!(logged.iter().filter(|l| l["variant"] == "candidate").count(), candidates, "{log}");
    let emf: Vec<Json> =
        log.lines().filter_map(|l| serde_json::from_str::<Json>(l).ok()).filter(|l| l.get("Route").is_some()).collect();
    assert_eq!(emf.iter().filter(|l| l["Variant"] == "candidate").count(), candidates, "{log}");
}
