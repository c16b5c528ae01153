//! The scoring component end to end: the real wasm32-wasip2 components (WASI 0.3 and 0.2)
//! under `scorelet serve` (embedded wasmtime), over real TCP, compared with `scorelet predict`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{
    Registry, Server, assert_scores_like_native, fails, free_port, oip_request, ok, predict, request, support,
    telco_records, train, train_with,
};
use serde_json::{Value as Json, json};

/// The built components (which the `scorelet` binary also carries), or `None` after a skip.
fn components(test: &str) -> Option<[PathBuf; 2]> {
    Some([support::spin_component(test, false)?, support::spin_component(test, true)?])
}

#[test]
fn served_predictions_equal_predict_bit_for_bit_on_both_wasi_versions() {
    let Some(built) = components("served_predictions_equal_predict_bit_for_bit_on_both_wasi_versions") else { return };
    let dir = tempfile::tempdir().unwrap();
    let records = telco_records(400);
    // Every kind of model the trainer makes: dense (INT8) and both tree ensembles.
    for (kind, extra) in common::MODEL_KINDS {
        let kind_dir = dir.path().join(kind);
        let bundle = train_with(&kind_dir, extra);
        let want = predict(&bundle, &records, &kind_dir);
        for p2 in [false, true] {
            let c = &built[p2 as usize];
            let server = Server::start(&["--bundle", bundle.to_str().unwrap(), "--component", c.to_str().unwrap()]);
            let what = format!("{kind}, WASI 0.{} component", if p2 { 2 } else { 3 });
            let (status, ready) = server.get("/v2/health/ready");
            assert_eq!(status, 200, "{what}: {ready}\n{}", server.log());
            assert_scores_like_native(&server.url, &want, &records, "churn", &what);
            let (status, meta) = server.get("/v2/models/churn");
            assert_eq!(status, 200);
            assert_eq!(meta["name"], "churn");
            assert_eq!(meta["parameters"]["engine"], "compiled", "{what}: our exports run on the compiled engine");
            assert!(meta["parameters"]["metrics"]["roc_auc"].as_f64().unwrap() > 0.8, "{meta}");
        }
    }
    let bundle = dir.path().join("logreg/churn");
    let want = predict(&bundle, &records, dir.path());
    // The engine variable reaches the component: forced onto tract, the INT8 model scores the
    // same bits; an unknown engine is refused before anything starts.
    let c = built[0].to_str().unwrap();
    let server = Server::start(&["--bundle", bundle.to_str().unwrap(), "--component", c, "--engine", "tract"]);
    assert_eq!(server.get("/v2/models/churn").1["parameters"]["engine"], "tract");
    assert_scores_like_native(&server.url, &want, &records, "churn", "tract engine");
    drop(server);
    let out = common::scorelet(&["serve", "--bundle", bundle.to_str().unwrap(), "--engine", "fast"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auto, compiled, tract"));
}

#[test]
fn embedded_bundle_component_needs_no_source_at_all() {
    let Some(defaults) = components("embedded_bundle_component_needs_no_source_at_all") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let records = telco_records(200);
    let want = predict(&bundle, &records, dir.path());
    // Both WASI versions, pre-initialized (the default) and not.
    let built: Vec<PathBuf> = [(false, false), (true, false), (false, true), (true, true)]
        .into_iter()
        .map(|(p2, raw)| {
            let out = dir.path().join(format!("churn-p2-{p2}-raw-{raw}.wasm"));
            let mut args = vec!["build", "--bundle", bundle.to_str().unwrap(), "-o", out.to_str().unwrap()];
            if p2 {
                args.push("--wasi-p2");
            }
            if raw {
                args.push("--no-preinit");
            }
            let said = common::scorelet(&args);
            assert!(said.status.success(), "{}", String::from_utf8_lossy(&said.stderr));
            let said = String::from_utf8_lossy(&said.stderr);
            assert_eq!(said.contains(", pre-initialized"), !raw, "{said}");
            out
        })
        .collect();
    // With the bundle gone, the components can only be scoring with their own copies.
    std::fs::remove_dir_all(&bundle).unwrap();
    for out in &built {
        let server = Server::start(&["--component", out.to_str().unwrap()]);
        let (status, ready) = server.get("/v2/health/ready");
        assert_eq!(status, 200, "{ready}\n{}", server.log());
        assert_scores_like_native(&server.url, &want, &records, "churn", "embedded");
    }
    // The built-in component itself is unchanged: it has no model and says how to give it one.
    let server = Server::start(&["--component", defaults[0].to_str().unwrap()]);
    let (status, body) = server.get("/v2/health/ready");
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("no embedded bundle"), "{body}");
}

#[test]
fn fetches_by_version_and_alias_and_refuses_tampered_files() {
    let Some(_) = components("fetches_by_version_and_alias_and_refuses_tampered_files") else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let v1 = train(&dir.path().join("a"));
    // Version 2 is a different model (an MLP), so its scores differ from version 1's.
    let v2 = train_with(&dir.path().join("b"), &["--model", "mlp"]);
    let reg = Registry::start(&dir.path().join("store"), "127.0.0.1:0");
    reg.cli(&["push", "--bundle", v1.to_str().unwrap()]);
    reg.cli(&["push", "--bundle", v2.to_str().unwrap()]);
    reg.cli(&["promote", "churn", "2", "--to", "production"]);
    let records = telco_records(50);

    for (reference, version) in [("churn@1", "1"), ("churn@production", "2")] {
        let server = Server::start(&["--model", reference, "--registry", &reg.url]);
        let (status, meta) = server.get("/v2/models/churn");
        assert_eq!(status, 200, "{meta}\n{}", server.log());
        assert_eq!(meta["versions"], json!([version]), "{reference}");
        let (status, body) = server.post("/invocations", &json!({"dataframe_records": records}));
        assert_eq!(status, 200);
        assert_eq!(body["model"]["version"], version);
        let pulled = dir.path().join(format!("pulled-{version}"));
        reg.cli(&["pull", reference, "--out", pulled.to_str().unwrap()]);
        let want = predict(&pulled, &records, dir.path());
        assert_eq!(body["predictions"].as_array().unwrap(), &want, "{reference}");
    }

    // Flip one byte of version 1's model on the registry's disk: the component refuses it.
    let stored = reg.root.join("models/churn/versions/1/model.onnx");
    let mut bytes = std::fs::read(&stored).unwrap_or_else(|e| panic!("{}: {e}", stored.display()));
    let last = bytes.len() - 1;
    bytes[last] ^= 0x55;
    std::fs::write(&stored, bytes).unwrap();
    let server = Server::start(&["--model", "churn@1", "--registry", &reg.url]);
    let (status, body) = server.get("/v2/health/ready");
    assert_eq!(status, 503, "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("model.onnx") && msg.contains("sha256"), "{msg}");
    let (status, body) = server.post("/invocations", &json!({"dataframe_records": records}));
    assert_eq!(status, 503, "{body}");
    assert!(server.log().contains("NOT READY"), "{}", server.log());
}

/// A registry (or a proxy in front of it) that serves a different, internally consistent bundle
/// under the same name and version: every digest in its manifest matches its files. Without a
/// pin or a key that is undetectable; with either, `pull` and the component refuse it.
#[test]
fn a_consistently_rewritten_bundle_is_refused_when_pinned_or_keyed() {
    let Some(_) = components("a_consistently_rewritten_bundle_is_refused_when_pinned_or_keyed") else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("a")).unwrap();
    std::fs::create_dir_all(dir.path().join("b")).unwrap();
    let genuine = train(&dir.path().join("a"));
    let forged = train_with(&dir.path().join("b"), &["--model", "mlp"]);
    let prefix = dir.path().join("publisher");
    let public = ok(&["keygen", "--out", prefix.to_str().unwrap()]).trim().to_string();
    let secret = prefix.with_extension("key");
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600, "the secret key is private");
    let real = Registry::start(&dir.path().join("real"), "127.0.0.1:0");
    let pinned = real.cli(&["push", "--bundle", genuine.to_str().unwrap(), "--sign", secret.to_str().unwrap()]);
    let pinned = pinned.trim();
    assert!(pinned.starts_with("churn@1#sha256:"), "push prints the pinned reference: {pinned}");
    // The forger has the bundle format but not the key: its churn@1 is unsigned, or signed
    // with a key of its own.
    let evil = Registry::start(&dir.path().join("evil"), "127.0.0.1:0");
    let other = dir.path().join("forger");
    ok(&["keygen", "--out", other.to_str().unwrap()]);
    evil.cli(&["push", "--bundle", forged.to_str().unwrap(), "--sign", other.with_extension("key").to_str().unwrap()]);

    // Unpinned and unkeyed, the forgery is served: this is the threat.
    let server = Server::start(&["--model", "churn@1", "--registry", &evil.url]);
    assert_eq!(server.get("/v2/health/ready").0, 200, "{}", server.log());
    drop(server);
    let refusals: [(&[&str], &str); 2] = [
        (&["--model", pinned], "not the pinned"),
        (&["--model", "churn@1", "--registry-public-key", &public], "signed with key"),
    ];
    for (args, want) in refusals {
        let server = Server::start(&[args, &["--registry", &evil.url]].concat());
        let (status, body) = server.get("/v2/health/ready");
        assert_eq!(status, 503, "{args:?}: {body}");
        let msg = body["error"]["message"].as_str().unwrap_or_default();
        assert!(msg.contains(want), "{args:?}: {msg}");
        let out = dir.path().join("pulled");
        let mut pull = vec!["pull", args[1], "--out", out.to_str().unwrap(), "--registry", &evil.url];
        if args.len() > 2 {
            pull.extend(["--public-key", &public]);
        }
        let err = fails(&pull);
        assert!(err.contains(want), "pull {args:?}: {err}");
        assert!(!out.exists(), "a refused pull wrote files");
    }
    // The genuine registry passes both checks at once.
    let server = Server::start(&["--model", pinned, "--registry-public-key", &public, "--registry", &real.url]);
    let (status, meta) = server.get("/v2/models/churn");
    assert_eq!(status, 200, "{meta}\n{}", server.log());
    let out = dir.path().join("genuine");
    real.cli(&["pull", pinned, "--public-key", &public, "--out", out.to_str().unwrap()]);
}

#[test]
fn a_registry_that_is_down_is_retried_with_backoff_until_it_is_up() {
    let Some(_) = components("a_registry_that_is_down_is_retried_with_backoff_until_it_is_up") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let server = Server::start(&["--model", "churn@1", "--registry", &url]);
    let (status, body) = server.get("/v2/health/ready");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "model_not_loaded");
    assert!(body["error"]["message"].as_str().unwrap().contains(&url), "{body}");
    let (status, live) = server.get("/v2/health/live");
    assert_eq!((status, &live), (200, &json!({"live": true})));

    let reg = Registry::start(&dir.path().join("store"), &format!("127.0.0.1:{port}"));
    reg.cli(&["push", "--bundle", bundle.to_str().unwrap()]);
    let start = Instant::now();
    loop {
        let (status, body) = server.get("/v2/health/ready");
        if status == 200 {
            assert_eq!(body["version"], "1");
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never became ready: {body}\n{}", server.log());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn bad_requests_get_json_errors_and_the_instance_keeps_serving() {
    let Some(_) = components("bad_requests_get_json_errors_and_the_instance_keeps_serving") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let server = Server::start(&["--bundle", bundle.to_str().unwrap(), "--header-timeout", "1", "--body-timeout", "2"]);
    let good = telco_records(3);
    let mut missing = good[0].clone();
    missing.as_object_mut().unwrap().remove("tenure");
    let mut wrong_type = good[0].clone();
    wrong_type["tenure"] = json!({"a": 1});
    let mut not_a_number = good[0].clone();
    not_a_number["MonthlyCharges"] = json!("twelve");
    let not_finite = good[1].to_string().replacen("\"MonthlyCharges\":", "\"MonthlyCharges\":1e999,\"x\":", 1);
    let url = |p: &str| format!("{}{p}", server.url);
    let json_ct = [("content-type", "application/json")];
    let cases: Vec<(&str, u16, (u16, Json))> = vec![
        ("malformed JSON", 400, request("POST", &url("/invocations"), &json_ct, b"{\"dataframe_records\": [")),
        ("empty body", 400, request("POST", &url("/invocations"), &json_ct, b"")),
        ("not an object", 400, request("POST", &url("/invocations"), &json_ct, b"[1,2]")),
        ("missing column", 400, server.post("/invocations", &json!({"dataframe_records": [missing]}))),
        ("wrong type", 400, server.post("/invocations", &json!({"dataframe_records": [good[1], wrong_type]}))),
        ("not a number", 400, server.post("/invocations", &json!({"dataframe_records": [not_a_number]}))),
        (
            "1e999",
            400,
            request(
                "POST",
                &url("/invocations"),
                &json_ct,
                format!("{{\"dataframe_records\":[{not_finite}]}}").as_bytes(),
            ),
        ),
        ("empty batch", 400, server.post("/invocations", &json!({"dataframe_records": []}))),
        ("batch too large", 413, server.post("/invocations", &json!({"instances": vec![good[0].clone(); 10_001]}))),
        ("wrong content type", 415, request("POST", &url("/invocations"), &[("content-type", "text/plain")], b"{}")),
        ("10 MB body", 413, request("POST", &url("/invocations"), &json_ct, &vec![b' '; 10 << 20])),
        ("bad OIP", 400, server.post("/v2/models/churn/infer", &json!({"inputs": [{"name": "tenure"}]}))),
        ("other model", 404, server.post("/v2/models/other/infer", &oip_request(&good))),
        ("unknown route", 404, server.get("/v1/predict")),
        ("wrong method", 405, server.get("/invocations")),
    ];
    for (what, want, (status, body)) in &cases {
        assert_eq!(status, want, "{what}: {body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: {body}");
    }
    let (_, _, (_, body)) = &cases[3];
    assert_eq!((body["error"]["row"].as_u64(), body["error"]["column"].as_str()), (Some(0), Some("tenure")), "{body}");
    let (_, _, (_, body)) = &cases[4];
    assert_eq!((body["error"]["row"].as_u64(), body["error"]["column"].as_str()), (Some(1), Some("tenure")), "{body}");

    // Slow loris: half a request line, then nothing. The server hangs up after the header
    // timeout instead of holding the connection.
    let addr = server.url.trim_start_matches("http://").to_string();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Le").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let start = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(start.elapsed() < Duration::from_secs(5), "the slow client was held {:?}", start.elapsed());
    // A body that never finishes: 408 after the body timeout.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(
        b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{",
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 512];
    let n = slow.read(&mut buf).unwrap();
    let head = String::from_utf8_lossy(&buf[..n]);
    assert!(head.starts_with("HTTP/1.1 408"), "{head}");

    // After all of that, the same server still scores.
    let (status, body) = server.post("/invocations", &json!({"dataframe_records": good}));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["predictions"].as_array().unwrap().len(), 3);
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn api_key_guards_scoring_but_not_health() {
    let Some(_) = components("api_key_guards_scoring_but_not_health") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let key = dir.path().join("api.key");
    std::fs::write(&key, "s3cret-key\n").unwrap();
    let server = Server::start(&["--bundle", bundle.to_str().unwrap(), "--api-key-file", key.to_str().unwrap()]);
    assert!(server.log().contains("the bundle embedded and pre-initialized"), "{}", server.log());
    let body = json!({"dataframe_records": telco_records(1)}).to_string();
    let url = format!("{}/invocations", server.url);
    let ct = ("content-type", "application/json");
    assert_eq!(request("POST", &url, &[ct], body.as_bytes()).0, 401);
    assert_eq!(request("POST", &url, &[ct, ("authorization", "Bearer wrong-key!")], body.as_bytes()).0, 401);
    assert_eq!(request("POST", &url, &[ct, ("authorization", "Bearer s3cret-key")], body.as_bytes()).0, 200);
    assert_eq!(request("POST", &url, &[ct, ("x-api-key", "s3cret-key")], body.as_bytes()).0, 200);
    assert_eq!(server.get("/v2/models/churn").0, 401);
    assert_eq!(server.get("/v2/health/ready").0, 200);
}

/// A pre-initialized component carries the model loaded by `scorelet build`, but what belongs
/// to the deployment (the API key, a forced engine) is still read when it starts; and a bundle
/// that does not load is refused at build time rather than snapshotted.
#[test]
fn pre_initialized_components_still_read_their_deployment_variables() {
    let Some(_) = components("pre_initialized_components_still_read_their_deployment_variables") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let wasm = dir.path().join("churn.wasm");
    ok(&["build", "--bundle", bundle.to_str().unwrap(), "-o", wasm.to_str().unwrap()]);
    let c = wasm.to_str().unwrap();
    let records = telco_records(50);
    let want = predict(&bundle, &records, dir.path());

    let key = dir.path().join("api.key");
    std::fs::write(&key, "s3cret-key").unwrap();
    let server = Server::start(&["--component", c, "--api-key-file", key.to_str().unwrap()]);
    let body = json!({"dataframe_records": records}).to_string();
    let url = format!("{}/invocations", server.url);
    let ct = ("content-type", "application/json");
    assert_eq!(request("POST", &url, &[ct], body.as_bytes()).0, 401, "{}", server.log());
    let (status, got) = request("POST", &url, &[ct, ("x-api-key", "s3cret-key")], body.as_bytes());
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["predictions"].as_array().unwrap(), &want, "the snapshot scores as `scorelet predict` does");
    drop(server);

    // The lean component has no tract: forcing it must say so, not serve the snapshot's engine.
    let server = Server::start(&["--component", c, "--engine", "tract"]);
    let (status, ready) = server.get("/v2/health/ready");
    assert_eq!(status, 503, "{ready}");
    assert!(ready["error"]["message"].as_str().unwrap().contains("no tract engine"), "{ready}");
    drop(server);
    let server = Server::start(&["--component", c, "--engine", "compiled"]);
    assert_eq!(server.get("/v2/models/churn").1["parameters"]["engine"], "compiled");
    drop(server);

    // Golden outputs that the model does not reproduce (digests updated, so only the self-check
    // can tell): no component is written, and the reason is given.
    let golden_path = bundle.join("golden.json");
    let mut golden: Json = serde_json::from_slice(&std::fs::read(&golden_path).unwrap()).unwrap();
    golden["outputs"][0][0] = json!(0.123);
    let bytes = serde_json::to_vec(&golden).unwrap();
    std::fs::write(&golden_path, &bytes).unwrap();
    let manifest_path = bundle.join("manifest.json");
    let mut manifest: Json = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    manifest["files"]["golden.json"] = json!({"sha256": scorelet::bundle::sha256_hex(&bytes), "size": bytes.len()});
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
    let bad = dir.path().join("bad.wasm");
    let err = common::fails(&["build", "--bundle", bundle.to_str().unwrap(), "-o", bad.to_str().unwrap()]);
    assert!(err.contains("row 0: model output"), "{err}");
    assert!(!bad.exists(), "nothing is written for a bundle that does not load");
}

/// A `.cwasm` planted in the compile cache under another component's name: the cache runs it
/// only when this user wrote it (owned by us, writable by no one else); otherwise it compiles
/// the real component.
#[test]
fn a_planted_compilation_in_the_cache_does_not_run() {
    use std::os::unix::fs::MetadataExt;
    let Some([p3, p2]) = components("a_planted_compilation_in_the_cache_does_not_run") else { return };
    let engine = scorelet_host::component::engine(1, 1 << 30).unwrap();
    let (real, other) = (std::fs::read(&p2).unwrap(), std::fs::read(&p3).unwrap());
    let exports = |c: &scorelet_host::Component| scorelet_host::component::interfaces(&engine, c).1;
    let real_exports = exports(&scorelet_host::Component::new(&engine, &real).unwrap());
    let other_code = scorelet_host::Component::new(&engine, &other).unwrap().serialize().unwrap();
    assert_ne!(real_exports, exports(&scorelet_host::Component::new(&engine, &other).unwrap()));
    let dir = tempfile::tempdir().unwrap();
    let planted = scorelet_host::CacheKey::new(&engine, &real).path(dir.path());
    let plant = |mode: u32| {
        let _ = std::fs::remove_file(&planted);
        std::fs::write(&planted, &other_code).unwrap();
        std::fs::set_permissions(&planted, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // Writable by others: refused, the real component is compiled.
    plant(0o666);
    let got = scorelet_host::load_cached(&engine, &real, Some(dir.path())).unwrap();
    assert_eq!(exports(&got), real_exports, "a world-writable planted compilation ran");
    // Owned by someone else (the test can only hand a file away when it runs as root).
    if std::fs::metadata(dir.path()).unwrap().uid() == 0 {
        plant(0o600);
        std::os::unix::fs::chown(&planted, Some(65534), Some(65534)).unwrap();
        let got = scorelet_host::load_cached(&engine, &real, Some(dir.path())).unwrap();
        assert_eq!(exports(&got), real_exports, "a compilation owned by another user ran");
    }
    // Our own file in our own directory is what the cache trusts (and what it writes: 0600).
    plant(0o600);
    let got = scorelet_host::load_cached(&engine, &real, Some(dir.path())).unwrap();
    assert_eq!(exports(&got), exports(&scorelet_host::Component::new(&engine, &other).unwrap()));
    let fresh = tempfile::tempdir().unwrap();
    scorelet_host::load_cached(&engine, &real, Some(&fresh.path().join("c"))).unwrap();
    let written = scorelet_host::CacheKey::new(&engine, &real).path(&fresh.path().join("c"));
    assert_eq!(std::fs::metadata(&written).unwrap().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(fresh.path().join("c")).unwrap().mode() & 0o777, 0o700);
}

/// A registry that accepts connections and never answers: liveness still answers at once (the
/// host answers it, not the busy instance), and the request that waits on the load gets 503
/// with `Retry-After` at the deadline instead of holding its instance forever.
#[test]
fn a_registry_that_never_answers_cannot_hold_the_host() {
    let Some(_) = components("a_registry_that_never_answers_cannot_hold_the_host") else { return };
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(4).flatten().collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(conns);
    });
    let server = Server::start(&["--model", "churn@1", "--registry", &url, "--timeout", "2", "--instances", "1"]);
    let ready = std::thread::spawn({
        let url = server.url.clone();
        move || request("GET", &format!("{url}/v2/health/ready"), &[], b"")
    });
    std::thread::sleep(Duration::from_millis(300));
    let t = Instant::now();
    let (status, body) = server.get("/v2/health/live");
    assert_eq!(status, 200, "{body}");
    assert!(t.elapsed() < Duration::from_secs(1), "liveness waited {:?} on the busy instance", t.elapsed());
    let (status, body) = ready.join().unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body["error"]["message"].as_str().unwrap_or_default().contains("did not complete within 2 s"), "{body}");
    drop(server);
    drop(held);
}

/// Bearer JWTs open the scoring routes of the real component beside the API key: keys from a
/// JWKS file and from the issuer's JWKS URL (read by the component over its outbound HTTP);
/// expired, wrongly addressed and re-signed tokens are refused with the reason, and settings
/// that could only half work stop `serve` before it listens.
#[test]
fn bearer_jwts_open_the_scoring_routes_beside_the_api_key() {
    let Some(_) = components("bearer_jwts_open_the_scoring_routes_beside_the_api_key") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/jwt");
    let token = |name: &str| std::fs::read_to_string(fixtures.join(name)).unwrap().trim().to_string();
    let jwks = fixtures.join("jwks.json");
    let key = dir.path().join("api.key");
    std::fs::write(&key, "s3cret-key").unwrap();
    let body = json!({"dataframe_records": telco_records(2)}).to_string();
    let b = bundle.to_str().unwrap();
    let claims = ["--jwt-issuer", "https://id.example", "--jwt-audience", "scorelet"];
    let score = |server: &Server, headers: &[(&str, &str)]| {
        let url = format!("{}/invocations", server.url);
        let mut h = vec![("content-type", "application/json")];
        h.extend_from_slice(headers);
        request("POST", &url, &h, body.as_bytes())
    };
    let bearer = |t: &str| format!("Bearer {t}");

    let mut args = vec!["--bundle", b, "--api-key-file", key.to_str().unwrap(), "--jwt-jwks", jwks.to_str().unwrap()];
    args.extend(claims);
    let server = Server::start(&args);
    for t in ["rs256.jwt", "eddsa.jwt"] {
        let (status, got) = score(&server, &[("authorization", &bearer(&token(t)))]);
        assert_eq!(status, 200, "{t}: {got}\n{}", server.log());
        assert_eq!(got["predictions"].as_array().unwrap().len(), 2);
    }
    assert_eq!(score(&server, &[("x-api-key", "s3cret-key")]).0, 200, "the API key still opens them");
    assert_eq!(score(&server, &[("authorization", "Bearer s3cret-key")]).0, 200);
    for (t, why) in [("rs256-expired.jwt", "expired"), ("eddsa-wrong-audience.jwt", "audience")] {
        let (status, got) = score(&server, &[("authorization", &bearer(&token(t)))]);
        assert_eq!(status, 401, "{t}: {got}");
        assert!(got["error"]["message"].as_str().unwrap().contains(why), "{t}: {got}");
    }
    // The RSA token with its payload swapped for one that names another subject.
    let rs = token("rs256.jwt");
    let parts: Vec<&str> = rs.split('.').collect();
    let forged = format!("{}.{}.{}", parts[0], token("eddsa.jwt").split('.').nth(1).unwrap(), parts[2]);
    assert_eq!(score(&server, &[("authorization", &bearer(&forged))]).0, 401);
    assert_eq!(score(&server, &[]).0, 401);
    assert_eq!(server.get("/v2/health/live").0, 200, "health needs no credentials");
    drop(server);

    // Keys from the issuer's URL: a local JWKS endpoint the component reads at its first request.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/.well-known/jwks.json", listener.local_addr().unwrap());
    let doc = std::fs::read(&jwks).unwrap();
    let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                doc.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&doc);
        }
    });
    let mut args = vec!["--bundle", b, "--jwt-jwks-url", &url];
    args.extend(claims);
    let server = Server::start(&args);
    assert_eq!(score(&server, &[]).0, 401);
    let (status, got) = score(&server, &[("authorization", &bearer(&token("eddsa.jwt")))]);
    assert_eq!(status, 200, "{got}\n{}", server.log());
    assert!(served.load(std::sync::atomic::Ordering::SeqCst) >= 1, "the component read the JWKS URL");
    drop(server);

    // Half a configuration is refused with what to add.
    let err = fails(&["serve", "--bundle", b, "--jwt-jwks", jwks.to_str().unwrap()]);
    assert!(err.contains("--jwt-issuer"), "{err}");
    let err = fails(&["serve", "--bundle", b, "--jwt-issuer", "https://id.example", "--jwt-audience", "scorelet"]);
    assert!(err.contains("need a key"), "{err}");
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"keys":[{"kty":"oct","k":"c2hvcnQ"}]}"#).unwrap();
    let mut args = vec!["serve", "--bundle", b, "--jwt-jwks", bad.to_str().unwrap()];
    args.extend(claims);
    let err = fails(&args);
    assert!(err.contains("JWKS document is not usable"), "{err}");
}

/// Run by Spin itself (no host asking for observations), the component prints its request log
/// to stdout, where Spin collects a component's logs; under a host that asks, it leaves the
/// line to the host, so no request is logged twice.
#[test]
fn on_its_own_the_component_writes_its_request_log_to_stdout() {
    let Some(built) = components("on_its_own_the_component_writes_its_request_log_to_stdout") else { return };
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let records = telco_records(2);
    for wasm in &built {
        let stdout = scorelet_host::MemoryOutputPipe::new(1 << 20);
        let mut settings =
            scorelet_host::Settings { max_instances: 1, stdout: Some(stdout.clone()), ..Default::default() };
        settings.dirs.push((bundle.canonicalize().unwrap(), "/bundle".into()));
        for (k, v) in [("bundle_dir", "/bundle"), ("request_log", "payload"), ("request_log_deny", "gender")] {
            settings.variables.insert(k.into(), v.into());
        }
        let engine = scorelet_host::component::engine(1, settings.max_memory).unwrap();
        let cache = support::target_dir().join("component-cache");
        let compiled = scorelet_host::load_cached(&engine, &std::fs::read(wasm).unwrap(), Some(&cache)).unwrap();
        let component = scorelet_host::HttpComponent::new(engine, compiled, settings).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let send = |body: &str, observe: bool| {
            let mut r = http::Request::post("http://localhost/invocations").header("content-type", "application/json");
            if observe {
                r = r.header(scorelet::metrics::OBSERVE_HEADER, "1");
            }
            let resp = rt.block_on(component.handle(r.body(bytes::Bytes::from(body.to_string())).unwrap())).unwrap();
            resp.status().as_u16()
        };
        assert_eq!(send(&json!({"dataframe_records": records}).to_string(), false), 200);
        assert_eq!(send("{\"dataframe_records\": [{\"tenure\": 1}]}", false), 400);
        // A host that asks for the observation writes the line itself.
        assert_eq!(send(&json!({"dataframe_records": records}).to_string(), true), 200);
        let text = String::from_utf8(stdout.contents().to_vec()).unwrap();
        let lines: Vec<Json> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2, "{wasm:?}: {text}");
        assert_eq!((lines[0]["status"].as_u64(), lines[1]["status"].as_u64()), (Some(200), Some(400)));
        assert!(lines[0]["model"].as_str().unwrap().starts_with("churn@"), "{text}");
        assert_eq!(lines[0]["request_id"].as_str().unwrap().len(), 16, "{text}");
        assert_ne!(lines[0]["request_id"], lines[1]["request_id"]);
        let rec = &lines[0]["payload"]["records"][0];
        assert!(rec.get("tenure").is_some() && rec.get("gender").is_none(), "{text}");
        assert_eq!(lines[0]["payload"]["predictions"].as_array().unwrap().len(), 2);
        assert_eq!(lines[1]["code"], "missing_column");
    }
}
