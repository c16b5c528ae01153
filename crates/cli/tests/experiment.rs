//! A/B tests, shadows and rollback end to end: `scorelet serve` (the real component under
//! wasmtime) with a candidate from a real registry, its request log read back by `scorelet ab`,
//! and `scorelet alias rollback` against the registry's history.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{Registry, Server, fails, ok, request, support, telco_records, train, train_with};
use serde_json::{Value as Json, json};

/// A deterministic stream of uniform numbers in [0, 1) for simulated outcomes.
struct Draws(u64);

impl Draws {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        (scorelet::experiment::mix(self.0) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 10 000 Telco rows with distinct customer ids (the 7 043 rows, then again with a suffix).
fn customers(n: usize) -> Vec<Json> {
    let base = telco_records(7043);
    (0..n)
        .map(|i| {
            let mut r = base[i % base.len()].clone();
            if i >= base.len() {
                let id = format!("{}-{}", r["customerID"].as_str().unwrap(), i / base.len());
                r["customerID"] = json!(id);
            }
            r
        })
        .collect()
}

/// The request log's lines.
fn log_lines(path: &Path) -> Vec<Json> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Waits until the log file holds `n` lines (its writer thread drains a queue).
fn wait_for_lines(path: &Path, n: usize) -> Vec<Json> {
    let start = std::time::Instant::now();
    loop {
        let lines = if path.exists() { log_lines(path) } else { Vec::new() };
        if lines.len() >= n || start.elapsed() > std::time::Duration::from_secs(30) {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_fifth_of_the_customers_reach_the_candidate_always_the_same_ones_and_ab_reads_the_log() {
    let test = "a_fifth_of_the_customers_reach_the_candidate_always_the_same_ones_and_ab_reads_the_log";
    if support::spin_component(test, false).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let reg = Registry::start(&dir.path().join("registry"), "127.0.0.1:0");
    // The same model published twice: the candidate differs only in its version, as two
    // identical models must.
    reg.cli(&["push", "--bundle", bundle.to_str().unwrap()]);
    reg.cli(&["push", "--bundle", bundle.to_str().unwrap()]);
    let log = dir.path().join("requests.jsonl");
    let s = Server::start(&[
        "--model",
        "churn@1",
        "--candidate",
        "churn@2",
        "--registry",
        &reg.url,
        "--candidate-share",
        "20%",
        "--split-key",
        "column:customerID",
        "--request-log",
        "payload",
        "--request-log-file",
        log.to_str().unwrap(),
    ]);
    assert!(s.log().contains("candidate: churn@2"), "{}", s.log());
    let (status, ready) = s.get("/v2/health/ready");
    assert_eq!((status, &ready["candidate"]["ready"]), (200, &json!(true)), "{ready}");

    let rows = customers(10_000);
    let mut version_of: HashMap<String, String> = HashMap::new();
    let versions: Vec<String> = std::thread::scope(|sc| {
        let chunks: Vec<_> = rows
            .chunks(2500)
            .map(|chunk| {
                let url = s.url.clone();
                sc.spawn(move || {
                    chunk
                        .iter()
                        .map(|r| {
                            let (status, body) =
                                common::post(&format!("{url}/invocations"), &json!({"dataframe_records": [r]}));
                            assert_eq!(status, 200, "{body}");
                            body["model"]["version"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        chunks.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let candidate = versions.iter().filter(|v| *v == "2").count();
    let share = candidate as f64 / rows.len() as f64;
    assert!((share - 0.2).abs() <= 0.015, "the candidate answered {candidate} of 10 000 requests");
    for (r, v) in rows.iter().zip(&versions) {
        let key = r["customerID"].as_str().unwrap();
        // The stable hash the core routes by, computed natively here.
        let want = if scorelet::experiment::bucket(key) < 2000 { "2" } else { "1" };
        assert_eq!(v, want, "{key}");
        version_of.insert(key.to_string(), v.clone());
    }

    // A batch of many customers is split row by row, each row as it went alone.
    let batch: Vec<Json> = rows[..60].to_vec();
    let (status, body) = s.post("/invocations", &json!({"dataframe_records": batch}));
    assert_eq!(status, 200, "{body}");
    let models = body["models"].as_array().unwrap_or_else(|| panic!("a mixed batch names each row's model: {body}"));
    for (r, m) in batch.iter().zip(models) {
        assert_eq!(m.as_str().unwrap(), format!("churn@{}", version_of[r["customerID"].as_str().unwrap()]));
    }
    // The same on the Open Inference Protocol.
    let (status, body) = s.post("/v2/models/churn/infer", &common::oip_request(&batch));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["parameters"]["models"].as_array().unwrap(), models);

    // Metrics count the variants.
    let (_, stats) = s.get("/v2/models/churn/stats");
    assert_eq!(stats["candidate"], "churn@2", "{stats}");
    let candidate_rows = stats["variants"]["rows"]["candidate"].as_u64().unwrap();
    assert!(candidate_rows >= candidate as u64, "{stats}");

    // The request log: every line names its variant, and the payload who answered each row.
    let lines = wait_for_lines(&log, 10_005);
    let scored: Vec<&Json> = lines.iter().filter(|l| l["route"] == "invocations").collect();
    assert_eq!(scored.len(), 10_001);
    let by_log = scored.iter().filter(|l| l["variant"] == "candidate").count();
    assert_eq!(by_log, candidate);
    assert!(scored.iter().any(|l| l["variant"] == "mixed"));

    // `scorelet ab` on simulated outcomes. Identical models, outcomes drawn from the logged
    // probability alike in both variants: no difference.
    let logged: Vec<(String, String, f64)> = scored
        .iter()
        .filter(|l| l["payload"]["rows"] == 1)
        .map(|l| {
            let p = &l["payload"];
            (
                p["keys"][0].as_str().unwrap().to_string(),
                p["variants"][0].as_str().unwrap().to_string(),
                p["predictions"][0]["probability"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(logged.len(), 10_000);
    // In key order: the log's order depends on which client thread was first.
    let mut logged = logged;
    logged.sort_by(|a, b| a.0.cmp(&b.0));
    let write_outcomes = |name: &str, lift: Option<f64>| {
        let mut d = Draws(7);
        let path = dir.path().join(name);
        let mut text = String::from("customerID,Churn\n");
        for (key, variant, p) in &logged {
            let rate = match lift {
                // A known lift: outcomes independent of the model, 26.5 % churn on the primary,
                // six points less on the candidate.
                Some(l) => 0.265 + if variant == "candidate" { l } else { 0.0 },
                None => *p,
            };
            text.push_str(&format!("{key},{}\n", if d.next() < rate { "Yes" } else { "No" }));
        }
        std::fs::write(&path, text).unwrap();
        path
    };
    let same = write_outcomes("same.csv", None);
    let ab_args = |outcomes: &Path, json: bool| -> String {
        let (log, outcomes) = (log.to_str().unwrap(), outcomes.to_str().unwrap());
        let args = ["ab", "--log", log, "--outcomes", outcomes, "--key", "customerID", "--positive", "Yes", "--json"];
        ok(&args[..args.len() - usize::from(!json)])
    };
    let ab = |outcomes: &Path| -> Json { serde_json::from_str(&ab_args(outcomes, true)).unwrap() };
    let r = ab(&same);
    assert_eq!(r["variants"][1]["rows"], candidate as u64, "{r}");
    for m in ["positive_rate", "roc_auc", "accuracy", "log_loss"] {
        let d = &r["difference"][m];
        let (lo, hi) = (d["low"].as_f64().unwrap(), d["high"].as_f64().unwrap());
        assert!(lo <= 0.0 && 0.0 <= hi, "identical models differ in {m}: {d}");
    }
    assert_eq!(r["difference"]["z_test"]["significant"], false, "{r}");
    assert!(r["variants"][0]["roc_auc"].as_f64().unwrap() > 0.75, "{r}");

    let lifted = write_outcomes("lifted.csv", Some(-0.06));
    let r = ab(&lifted);
    let d = &r["difference"]["positive_rate"];
    let (lo, hi) = (d["low"].as_f64().unwrap(), d["high"].as_f64().unwrap());
    assert!((lo..=hi).contains(&-0.06) && hi < 0.0, "the -6 point lift is not recovered: {d}");
    assert_eq!(r["difference"]["z_test"]["significant"], true, "{r}");
    // The table says the same.
    let table = ab_args(&lifted, false);
    assert!(table.contains("candidate") && table.contains("significant"), "{table}");

    // Bad input names the line.
    let broken = dir.path().join("broken.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let mut kept: Vec<&str> = text.lines().take(2).collect();
    kept.push("{\"time\": truncated");
    std::fs::write(&broken, kept.join("\n")).unwrap();
    let err =
        fails(&["ab", "--log", broken.to_str().unwrap(), "--outcomes", same.to_str().unwrap(), "--key", "customerID"]);
    assert!(err.contains("broken.jsonl:3: not JSON"), "{err}");
    let keyless = dir.path().join("keyless.csv");
    std::fs::write(&keyless, "id,Churn\n1,Yes\n").unwrap();
    let err =
        fails(&["ab", "--log", log.to_str().unwrap(), "--outcomes", keyless.to_str().unwrap(), "--key", "customerID"]);
    assert!(err.contains("keyless.csv:1: no column `customerID`"), "{err}");
    let odd = dir.path().join("odd.csv");
    std::fs::write(&odd, "customerID,Churn\na,Yes\nb,maybe\n").unwrap();
    let err =
        fails(&["ab", "--log", log.to_str().unwrap(), "--outcomes", odd.to_str().unwrap(), "--key", "customerID"]);
    assert!(err.contains("odd.csv:3: outcome \"maybe\""), "{err}");
}

#[test]
fn a_shadow_answers_bit_for_bit_like_the_primary_alone_and_the_log_gets_both() {
    let test = "a_shadow_answers_bit_for_bit_like_the_primary_alone_and_the_log_gets_both";
    if support::spin_component(test, false).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let primary = train(&dir.path().join("a"));
    let shadow = train_with(&dir.path().join("b"), &["--model", "gbdt"]);
    let alone = Server::start(&["--bundle", primary.to_str().unwrap()]);
    let log = dir.path().join("shadow.jsonl");
    let both = Server::start(&[
        "--bundle",
        primary.to_str().unwrap(),
        "--candidate-bundle",
        shadow.to_str().unwrap(),
        "--experiment-mode",
        "shadow",
        "--split-key",
        "column:customerID",
        "--request-log",
        "payload",
        "--request-log-file",
        log.to_str().unwrap(),
    ]);
    let rows = telco_records(300);
    let mut bodies = Vec::new();
    for (i, chunk) in rows.chunks(7).enumerate() {
        let (path, body) = if i % 2 == 0 {
            ("/invocations", json!({"dataframe_records": chunk}).to_string())
        } else {
            ("/v2/models/churn/infer", common::oip_request(chunk).to_string())
        };
        let send = |url: &str| {
            let mut resp = common::agent()
                .post(format!("{url}{path}"))
                .header("content-type", "application/json")
                .send(body.as_bytes())
                .unwrap();
            (resp.status().as_u16(), resp.body_mut().read_to_vec().unwrap())
        };
        let (a, b) = (send(&alone.url), send(&both.url));
        assert_eq!(a.0, 200);
        assert_eq!(a, b, "request {i}: the shadow deployment's answer differs from the primary's alone");
        bodies.push(chunk.len());
    }
    let lines = wait_for_lines(&log, bodies.len());
    let scored: Vec<&Json> = lines.iter().filter(|l| l["rows"].as_u64() > Some(0)).collect();
    assert_eq!(scored.len(), bodies.len());
    let mut differ = 0;
    for (l, n) in scored.iter().zip(&bodies) {
        assert_eq!(l["variant"], "shadow", "{l}");
        assert!(l["candidate"].as_str().unwrap().starts_with("churn@"), "{l}");
        let p = &l["payload"];
        let (mine, theirs) = (p["predictions"].as_array().unwrap(), p["shadow"]["predictions"].as_array().unwrap());
        assert_eq!((mine.len(), theirs.len()), (*n, *n));
        assert_eq!(p["keys"].as_array().unwrap().len(), *n);
        differ += mine.iter().zip(theirs).filter(|(a, b)| a["probability"] != b["probability"]).count();
    }
    assert!(differ > 250, "the shadow's predictions are logged beside the primary's ({differ} of 300 differ)");
    let (_, stats) = both.get("/v2/models/churn/stats");
    assert_eq!(stats["variants"]["rows"]["shadow"], 300, "{stats}");
    assert_eq!(stats["variants"]["rows"]["primary"], 300, "{stats}");
}

#[test]
fn experiments_that_cannot_work_are_refused_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let b = bundle.to_str().unwrap();
    let err = fails(&["serve", "--bundle", b, "--candidate-bundle", b, "--candidate-share", "1.5"]);
    assert!(err.contains("from 0 to 1"), "{err}");
    let err = fails(&["serve", "--bundle", b, "--candidate-bundle", b]);
    assert!(err.contains("candidate_share"), "{err}");
    let err = fails(&["serve", "--bundle", b, "--candidate-share", "0.2"]);
    assert!(err.contains("needs a candidate"), "{err}");
    let err =
        fails(&["serve", "--bundle", b, "--candidate-bundle", b, "--candidate-share", "0.2", "--split-key", "cookie"]);
    assert!(err.contains("column:NAME"), "{err}");
    let err = fails(&[
        "serve",
        "--bundle",
        b,
        "--candidate-bundle",
        dir.path().to_str().unwrap(),
        "--candidate-share",
        "0.2",
    ]);
    assert!(err.contains("cannot use the candidate"), "{err}");
}

#[test]
fn rollback_moves_an_alias_back_and_a_second_rollback_undoes_it() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let reg = Registry::start(&dir.path().join("registry"), "127.0.0.1:0");
    for _ in 0..3 {
        reg.cli(&["push", "--bundle", bundle.to_str().unwrap()]);
    }
    let rollback = |alias: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_scorelet"))
            .args(["alias", "rollback", "churn", alias])
            .env("SCORELET_REGISTRY_URL", &reg.url)
            .env("SCORELET_REGISTRY_TOKEN", common::TOKEN)
            .output()
            .unwrap()
    };
    let history = |alias: &str| -> Vec<(Json, Json)> {
        let url = format!("{}/v1/models/churn/aliases/{alias}/history", reg.url);
        let (_, h) = request("GET", &url, &[], b"");
        h["moves"].as_array().unwrap().iter().map(|m| (m["from"].clone(), m["to"].clone())).collect()
    };
    // An alias moved directly.
    reg.cli(&["alias", "set", "churn", "staging", "1"]);
    let out = rollback("staging");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no earlier version"), "{err}");
    reg.cli(&["alias", "set", "churn", "staging", "3"]);
    let out = reg.cli(&["alias", "rollback", "churn", "staging"]);
    assert!(out.contains("churn@staging → 1 (rolled back from 3)"), "{out}");
    let (_, alias) = request("GET", &format!("{}/v1/models/churn/aliases/staging", reg.url), &[], b"");
    assert_eq!(alias["version"], 1, "{alias}");
    let out = reg.cli(&["alias", "rollback", "churn", "staging"]);
    assert!(out.contains("→ 3"), "{out}");
    assert_eq!(
        history("staging"),
        [(Json::Null, json!(1)), (json!(1), json!(3)), (json!(3), json!(1)), (json!(1), json!(3))]
    );
    // A protected alias refuses a direct move with its reason, and rolls back through the gate.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scorelet"))
        .args(["alias", "set", "churn", "production", "1"])
        .env("SCORELET_REGISTRY_URL", &reg.url)
        .env("SCORELET_REGISTRY_TOKEN", common::TOKEN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("protected alias"), "{err}");
    reg.cli(&["promote", "churn", "2", "--to", "production"]);
    reg.cli(&["promote", "churn", "3", "--to", "production"]);
    let out = reg.cli(&["alias", "rollback", "churn", "production"]);
    assert!(out.contains("churn@production → 2 (rolled back from 3)"), "{out}");
    assert_eq!(history("production").last().unwrap(), &(json!(3), json!(2)));
    // Nothing to roll back.
    let out = rollback("canary");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("canary"), "{}", String::from_utf8_lossy(&out.stderr));
}
