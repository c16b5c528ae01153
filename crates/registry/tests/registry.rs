//! The registry end to end over real HTTP on loopback: publish, versions, aliases, promotion,
//! pulls, caching headers, and hostile input (path traversal, bad names, wrong digests, extra
//! files, oversized and truncated uploads, missing and wrong tokens) — each refused with the
//! right status and the store unchanged.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use scorelet::Bundle;
use scorelet::features::FeatureSpec;
use scorelet_registry::promote::{Requirement, gate};
use scorelet_registry::{Client, Config, Store};
use scorelet_train::{ModelKind, Progress, Table, TaskKind, TrainJob};

const TOKEN: &str = "write-token-0123456789";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A trained Telco bundle directory (built once per test binary).
fn bundle_dir() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| {
        let t = Table::read(&repo().join("data/telco-churn.csv"), None).unwrap();
        let spec =
            FeatureSpec::from_toml(&std::fs::read_to_string(repo().join("examples/telco.toml")).unwrap()).unwrap();
        let mut j = TrainJob::new("churn", "Churn", spec, ModelKind::Linear(Default::default()));
        j.task = TaskKind::Classification { positive: Some("Yes".into()) };
        let o = j.run(&t, &Progress::hidden()).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("churn");
        o.bundle.write_dir(&dir).unwrap();
        (tmp, dir)
    })
    .1
}

struct Server {
    addr: String,
    root: tempfile::TempDir,
    _rt: tokio::runtime::Runtime,
}

fn server(config: Config) -> Server {
    let root = tempfile::tempdir().unwrap();
    let store = Store::open(root.path()).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    rt.spawn(scorelet_registry::serve(listener, store, config, None, std::future::pending()));
    Server { addr, root, _rt: rt }
}

fn writable() -> Config {
    Config { write_token: Some(TOKEN.into()), ..Config::default() }
}

/// Sends raw bytes and returns (status, body): nothing between the test and the server
/// normalizes paths or fixes lengths.
fn raw(addr: &str, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr.trim_start_matches("http://")).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text.split("\r\n\r\n").nth(1).unwrap_or("").to_string())
}

fn get(addr: &str, path: &str) -> (u16, String) {
    raw(addr, format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
}

fn post(addr: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let mut req = format!("POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
    req.extend_from_slice(body);
    raw(addr, &req)
}

/// `name@version` without its content pin.
fn unpinned(r: &scorelet::registry::ModelRef) -> String {
    let mut r = r.clone();
    r.digest = None;
    r.to_string()
}

fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, bytes) in files {
        // Names go into the header bytes directly: the tar crate itself would refuse the hostile
        // ones (`../escape.txt`), and an attacker's tool would not.
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append(&h, *bytes).unwrap();
    }
    b.into_inner().unwrap()
}

fn bundle_files() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(bundle_dir())
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap())
        })
        .collect();
    v.sort();
    v
}

/// Every file under the store except logs: what must not change when a request is refused.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.ends_with("audit.jsonl") {
                out.push((p.clone(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn publish_alias_promote_and_pull() {
    let s = server(writable());
    let c = Client::new(&s.addr, Some(TOKEN.into()));
    let first = c.push(bundle_dir()).unwrap();
    assert_eq!(unpinned(&first), "churn@1");
    // The reference comes back pinned to the stored manifest's digest.
    let stored = c.manifest("churn", 1).unwrap();
    let digest = scorelet::bundle::sha256_hex(&serde_json::to_vec_pretty(&stored).unwrap());
    assert_eq!(first.digest.as_deref(), Some(digest.as_str()));
    c.fetch(&first).unwrap();
    assert_eq!(unpinned(&c.push(bundle_dir()).unwrap()), "churn@2");
    assert_eq!(c.models().unwrap(), ["churn"]);
    let versions = c.versions("churn").unwrap();
    assert_eq!(versions.len(), 2);
    assert!(versions[0]["metrics"]["roc_auc"].as_f64().unwrap() > 0.83);
    c.promote("churn", "production", 1, &[], None).unwrap();
    assert_eq!(c.resolve_alias("churn", "production").unwrap(), 1);
    // `production` is protected: a plain move is refused and says how to move it.
    let e = c.set_alias("churn", "production", 2).unwrap_err().to_string();
    assert!(e.contains("403") && e.contains("protected") && e.contains("/promote"), "{e}");

    // Promotion: a gate that passes moves the alias, one that fails does not.
    let cand = c.manifest("churn", 2).unwrap().metrics;
    let inc = c.manifest("churn", 1).unwrap().metrics;
    let pass: Vec<Requirement> = vec!["roc_auc>=0.83".parse().unwrap()];
    gate(&cand, &pass, Some(("production", &inc))).unwrap();
    c.promote("churn", "production", 2, &["roc_auc>=0.83".into()], Some("production")).unwrap();
    let fail: Vec<Requirement> = vec!["roc_auc>=0.99".parse().unwrap()];
    let reasons = gate(&cand, &fail, Some(("production", &inc))).unwrap_err();
    assert!(reasons[0].contains("required >= 0.99"), "{reasons:?}");
    assert_eq!(c.resolve_alias("churn", "production").unwrap(), 2);

    // Pull by version and by alias: every byte as pushed, the manifest now carrying its version.
    for r in ["churn@1", "churn@production"] {
        let b = c.fetch(&r.parse().unwrap()).unwrap();
        let original = Bundle::load_dir(bundle_dir()).unwrap();
        assert_eq!(b.files(), original.files(), "{r}");
        assert_eq!(b.manifest.version, Some(if r.ends_with('1') { 1 } else { 2 }));
        let mut m = b.manifest.clone();
        m.version = None;
        assert_eq!(m, original.manifest);
    }
    // History of moves and the audit log.
    let (st, body) = get(&s.addr, "/v1/models/churn/aliases/production/history");
    assert_eq!(st, 200);
    let h: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(h["moves"].as_array().unwrap().len(), 2);
    assert_eq!(h["moves"][1]["from"], 1);
    assert_eq!(h["moves"][1]["to"], 2);
    let audit = std::fs::read_to_string(s.root.path().join("audit.jsonl")).unwrap();
    assert_eq!(audit.lines().count(), 4, "2 publishes + 2 alias moves:\n{audit}");
    c.delete_alias("churn", "production").unwrap();
    assert!(c.resolve_alias("churn", "production").unwrap_err().to_string().contains("404"));
}

#[test]
fn version_files_are_immutable_cacheable_and_ranged() {
    let s = server(writable());
    let c = Client::new(&s.addr, Some(TOKEN.into()));
    c.push(bundle_dir()).unwrap();
    let model = std::fs::read(bundle_dir().join("model.onnx")).unwrap();
    let sha = scorelet::bundle::sha256_hex(&model);
    let head = |req: &str| {
        let mut st = TcpStream::connect(s.addr.trim_start_matches("http://")).unwrap();
        st.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        st.read_to_end(&mut out).unwrap();
        String::from_utf8_lossy(&out).to_lowercase()
    };
    let path = "/v1/models/churn/versions/1/files/model.onnx";
    let r =
        head(&format!("GET {path} HTTP/1.1\r\nHost: x\r\nOrigin: https://example.org\r\nConnection: close\r\n\r\n"));
    assert!(r.starts_with("http/1.1 200"), "{r}");
    assert!(r.contains(&format!("etag: \"{sha}\"")));
    assert!(r.contains("cache-control: public, max-age=31536000, immutable"));
    assert!(r.contains("access-control-allow-origin: *"));
    let r = head(&format!("GET {path} HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"{sha}\"\r\nConnection: close\r\n\r\n"));
    assert!(r.starts_with("http/1.1 304"), "{r}");
    let r = head(&format!("GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=2-5\r\nConnection: close\r\n\r\n"));
    assert!(r.starts_with("http/1.1 206") && r.contains(&format!("content-range: bytes 2-5/{}", model.len())), "{r}");
    assert!(
        head(&format!("GET {path} HTTP/1.1\r\nHost: x\r\nRange: bytes=99999-\r\nConnection: close\r\n\r\n"))
            .starts_with("http/1.1 416")
    );
    let r = head("GET /v1/models/churn/aliases HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(r.contains("cache-control: public, max-age=10"), "{r}");
    // A published version is never overwritten.
    let (st, body) = raw(&s.addr, format!("PUT /v1/models/churn/versions/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(st, 409, "{body}");
    let (st, body) = get(&s.addr, "/v1/openapi.json");
    assert_eq!(st, 200);
    assert!(body.contains("\"openapi\": \"3.1.0\""));
}

#[test]
fn hostile_paths_names_and_tokens() {
    let s = server(writable());
    let c = Client::new(&s.addr, Some(TOKEN.into()));
    c.push(bundle_dir()).unwrap();
    let before = snapshot(s.root.path());
    for path in [
        "/v1/models/../../etc/passwd/versions",
        "/v1/models/%2e%2e/versions",
        "/v1/models/..%2f..%2fetc/versions",
        "/v1/models/%2fetc%2fpasswd/versions",
        "/v1/models/churn%00/versions",
        "/v1/models/Churn/versions",
        "/v1/models/-churn/versions",
        "/v1/models/churn/versions/1/files/..%2fmanifest.json",
        "/v1/models/churn/versions/1/files/%2e%2e",
        "/v1/models/churn/versions/1/files/..%2f..%2f..%2faudit.jsonl",
        "/v1/models/churn/versions/0/manifest.json",
        "/v1/models/churn/versions/-1/manifest.json",
        "/v1/models/churn/versions/..%2f1/manifest.json",
        "/v1/models/churn/versions/1/files/report.html.bak",
        "/v1/models/churn/aliases/..%2f..%2fx",
        "/v1/models/churn/aliases/PRODUCTION",
    ] {
        let (st, body) = get(&s.addr, path);
        assert!((400..=404).contains(&st), "{path}: {st} {body}");
        assert!(!body.contains("root:") && !body.contains("\"action\""), "{path} leaked: {body}");
    }
    let long = format!("/v1/models/{}/versions", "a".repeat(65));
    assert_eq!(get(&s.addr, &long).0, 400);
    let tar = std::fs::read_dir(bundle_dir()).map(|_| scorelet_registry::archive::pack(bundle_dir()).unwrap()).unwrap();
    assert_eq!(post(&s.addr, "/v1/models/churn/versions", None, &tar).0, 401);
    assert_eq!(post(&s.addr, "/v1/models/churn/versions", Some("not-the-token"), &tar).0, 403);
    assert_eq!(post(&s.addr, "/v1/models/other/versions", Some(TOKEN), &tar).0, 400, "name in path ≠ manifest");
    assert_eq!(post(&s.addr, "/v1/models/..%2fchurn/versions", Some(TOKEN), &tar).0, 400);
    let (st, _) = raw(&s.addr, b"PUT /v1/models/churn/aliases/production HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\nConnection: close\r\n\r\n{\"version\":1}");
    assert_eq!(st, 401);
    assert_eq!(snapshot(s.root.path()), before, "refused requests changed the store");
}

#[test]
fn bad_uploads_are_refused_and_leave_no_trace() {
    let s = server(Config { max_upload: 256 << 10, ..writable() });
    let c = Client::new(&s.addr, Some(TOKEN.into()));
    c.push(bundle_dir()).unwrap();
    let before = snapshot(s.root.path());
    let files = bundle_files();
    let f = |skip: &str| {
        files.iter().filter(|(n, _)| n != skip).map(|(n, b)| (n.as_str(), b.as_slice())).collect::<Vec<_>>()
    };
    // A file whose bytes do not match the manifest's digest.
    let mut tampered = f("");
    let mut model = std::fs::read(bundle_dir().join("model.onnx")).unwrap();
    model[40] ^= 0xff;
    tampered.retain(|(n, _)| *n != "model.onnx");
    tampered.push(("model.onnx", &model));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("wrong digest", tar_of(&tampered), "sha256"),
        (
            "file not in the manifest",
            tar_of(&[f(""), vec![("extra.bin", b"x".as_slice())]].concat()),
            "not listed in the manifest",
        ),
        ("missing file", tar_of(&f("golden.json")), "`golden.json` is missing"),
        ("no manifest", tar_of(&f("manifest.json")), "no manifest.json"),
        (
            "path in archive",
            tar_of(&[f(""), vec![("../escape.txt", b"x".as_slice())]].concat()),
            "not a plain bundle file name",
        ),
        ("not a tar", b"this is not a tar archive at all".repeat(20), "not a tar archive"),
        ("empty", Vec::new(), "no manifest.json"),
    ];
    for (what, body, want) in cases {
        let (st, msg) = post(&s.addr, "/v1/models/churn/versions", Some(TOKEN), &body);
        assert_eq!(st, 400, "{what}: {msg}");
        assert!(msg.contains(want), "{what}: {msg}");
    }
    let big = vec![0u8; 300 << 10];
    let (st, _) = post(&s.addr, "/v1/models/churn/versions", Some(TOKEN), &big);
    assert_eq!(st, 413, "oversized upload");
    // A client that dies mid-body.
    let tar = scorelet_registry::archive::pack(bundle_dir()).unwrap();
    let mut st = TcpStream::connect(s.addr.trim_start_matches("http://")).unwrap();
    st.write_all(format!("POST /v1/models/churn/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\n\r\n", tar.len()).as_bytes()).unwrap();
    st.write_all(&tar[..tar.len() / 2]).unwrap();
    drop(st);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(snapshot(s.root.path()), before, "a refused upload changed the store");
    assert_eq!(c.versions("churn").unwrap().len(), 1);
    assert_eq!(unpinned(&c.push(bundle_dir()).unwrap()), "churn@2", "the registry still works");
}

#[test]
fn concurrent_publishes_get_distinct_versions_and_reads_can_be_closed() {
    let s = server(Config { read_token: Some("read-token-0123456789".into()), ..writable() });
    let addr = s.addr.clone();
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || unpinned(&Client::new(&addr, Some(TOKEN.into())).push(bundle_dir()).unwrap()))
        })
        .collect();
    let mut refs: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    refs.sort_by_key(|r| r[6..].parse::<u64>().unwrap());
    assert_eq!(refs, (1..=8).map(|v| format!("churn@{v}")).collect::<Vec<_>>());
    assert_eq!(get(&s.addr, "/v1/models").0, 401, "reads are closed");
    let reader = Client::new(&s.addr, Some("read-token-0123456789".into()));
    assert_eq!(reader.versions("churn").unwrap().len(), 8);
    assert!(
        reader.set_alias("churn", "production", 1).unwrap_err().to_string().contains("403"),
        "a read token cannot write"
    );
    let anonymous = Client::new(&s.addr, None);
    assert!(anonymous.models().unwrap_err().to_string().contains("401"));
}

#[test]
fn a_read_only_registry_refuses_writes() {
    let s = server(Config::default());
    let (st, body) = post(&s.addr, "/v1/models/churn/versions", Some(TOKEN), b"");
    assert_eq!(st, 403, "{body}");
    assert!(body.contains("read-only"));
}

#[test]
fn site_files_are_served_beside_the_api_and_nothing_outside_the_site_leaks() {
    let outside = tempfile::tempdir().unwrap();
    let site = outside.path().join("site");
    std::fs::create_dir_all(site.join("pkg")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>page</h1>").unwrap();
    std::fs::write(site.join("pkg/x_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(outside.path().join("secret.txt"), "secret").unwrap();
    let s = server(Config { site: Some(site), ..writable() });

    assert_eq!(get(&s.addr, "/"), (200, "<h1>page</h1>".into()));
    let (status, _) = get(&s.addr, "/pkg/x_bg.wasm");
    assert_eq!(status, 200);
    let head = raw(&s.addr, b"HEAD /pkg/x_bg.wasm HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(head.0, 200);
    let (status, body) = get(&s.addr, "/v1/health");
    assert_eq!((status, body.contains("ok")), (200, true), "the API still answers");
    for hostile in [
        "/../secret.txt",
        "/pkg/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/pkg/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/..%5csecret.txt",
        "//etc/passwd",
        "/index.html%00.png",
    ] {
        let (status, body) = get(&s.addr, hostile);
        assert!(!body.contains("secret") && !body.contains("root:"), "{hostile} leaked: {body}");
        assert!(status == 404 || status == 400, "{hostile}: {status} {body}");
    }
    let (status, body) = get(&s.addr, "/nope.html");
    assert_eq!(status, 404);
    assert!(body.contains("not_found"), "{body}");
    let (status, _) = post(&s.addr, "/index.html", Some(TOKEN), b"x");
    assert!(status == 405 || status == 404, "writes to the site: {status}");
    assert_eq!(std::fs::read_to_string(outside.path().join("site/index.html")).unwrap(), "<h1>page</h1>");
}

#[test]
fn alias_history_is_paged() {
    let s = server(writable());
    let c = Client::new(&s.addr, Some(TOKEN.into()));
    c.push(bundle_dir()).unwrap();
    c.push(bundle_dir()).unwrap();
    for i in 0..5 {
        c.set_alias("churn", "staging", 1 + i % 2).unwrap();
    }
    let page = |q: &str| {
        let (st, body) = get(&s.addr, &format!("/v1/models/churn/aliases/staging/history{q}"));
        (st, serde_json::from_str::<serde_json::Value>(&body).unwrap_or_default())
    };
    let (st, p) = page("?limit=2");
    assert_eq!(st, 200);
    assert_eq!(p["moves"].as_array().unwrap().len(), 2);
    assert_eq!(p["moves"][0]["from"], serde_json::Value::Null, "oldest first");
    assert_eq!(p["next"], 2);
    let (_, p) = page("?offset=2&limit=2");
    assert_eq!(p["moves"][0]["from"], 2);
    assert_eq!(p["next"], 4);
    let (_, p) = page("?offset=4&limit=2");
    assert_eq!(p["moves"].as_array().unwrap().len(), 1);
    assert_eq!(p["next"], serde_json::Value::Null, "the last page says so");
    let (_, p) = page("");
    assert_eq!(p["moves"].as_array().unwrap().len(), 5, "the default page holds them all");
    let (_, p) = page("?offset=99");
    assert!(p["moves"].as_array().unwrap().is_empty());
    for bad in ["?limit=abc", "?offset=-1", "?limit=99999999999999999999999"] {
        let (st, _) = page(bad);
        assert_eq!(st, 400, "{bad}");
    }
}

/// A tar whose one entry is `h` (already named and sized) followed by `data`.
fn tar_with(mut h: tar::Header, data: &[u8]) -> Vec<u8> {
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

#[test]
fn hostile_tar_entries_are_refused() {
    let s = server(writable());
    let c = Client::new(&s.addr, Some(TOKEN.into()));
    c.push(bundle_dir()).unwrap();
    let before = snapshot(s.root.path());
    let entry = |name: &str, kind: tar::EntryType, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_path(name).unwrap();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(0o644);
        h
    };
    let mut link = entry("model.onnx", tar::EntryType::Symlink, 0);
    link.set_link_name("/etc/passwd").unwrap();
    let mut hard = entry("model.onnx", tar::EntryType::Link, 0);
    hard.set_link_name("manifest.json").unwrap();
    let files = bundle_files();
    let manifest = &files.iter().find(|(n, _)| n == "manifest.json").unwrap().1;
    let duplicate = tar_of(&[("manifest.json", manifest.as_slice()), ("manifest.json", manifest.as_slice())]);
    // A 4 KB name, as a GNU long-name entry before the file.
    let mut long = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(1);
    h.set_mode(0o644);
    long.append_data(&mut h, "a".repeat(4096), &b"x"[..]).unwrap();
    let long = long.into_inner().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("symlink", tar_with(link, b""), "Symlink"),
        ("hard link", tar_with(hard, b""), "Link"),
        ("character device", tar_with(entry("model.onnx", tar::EntryType::Char, 0), b""), "Char"),
        ("fifo", tar_with(entry("model.onnx", tar::EntryType::Fifo, 0), b""), "Fifo"),
        ("duplicate", duplicate, "twice"),
        ("4 KB name", long, "not a plain bundle file name"),
        (
            "2^40 declared bytes",
            tar_with(entry("model.onnx", tar::EntryType::Regular, 1 << 40), b"tiny"),
            "past the upload limit",
        ),
        (
            "declared size past the data",
            tar_with(entry("model.onnx", tar::EntryType::Regular, 10_000), b"tiny"),
            "truncated",
        ),
    ];
    for (what, body, want) in cases {
        let (st, msg) = post(&s.addr, "/v1/models/churn/versions", Some(TOKEN), &body);
        assert_eq!(st, 400, "{what}: {msg}");
        assert!(msg.contains(want), "{what}: {msg}");
    }
    assert_eq!(snapshot(s.root.path()), before, "a hostile upload changed the store");
}

#[test]
fn verify_finds_tampered_versions_and_a_broken_audit_chain() {
    let s = server(writable());
    let c = Client::new(&s.addr, Some(TOKEN.into()));
    c.push(bundle_dir()).unwrap();
    c.push(bundle_dir()).unwrap();
    c.set_alias("churn", "staging", 1).unwrap();
    c.set_alias("churn", "staging", 2).unwrap();
    let root = s.root.path();
    let store = Store::open(root).unwrap();
    let ok = store.verify().unwrap();
    assert!(ok.problems.is_empty(), "{:?}", ok.problems);
    assert_eq!((ok.versions, ok.audit_records), (2, 4));
    let audit = root.join("audit.jsonl");
    let original = std::fs::read_to_string(&audit).unwrap();
    let lines: Vec<&str> = original.lines().collect();
    // A line removed from the middle.
    std::fs::write(&audit, format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3])).unwrap();
    let v = store.verify().unwrap();
    assert!(v.problems.iter().any(|p| p.contains("line 2")), "{:?}", v.problems);
    // A line edited (who did it), chain otherwise intact.
    let edited = original.replacen("\"version\":1}", "\"version\":9}", 1);
    assert_ne!(edited, original);
    std::fs::write(&audit, &edited).unwrap();
    assert!(!store.verify().unwrap().problems.is_empty(), "an edited audit line went unnoticed");
    // The last line cut: the chain holds, but the head the operator kept changes.
    std::fs::write(&audit, format!("{}\n", lines[..3].join("\n"))).unwrap();
    assert_ne!(store.verify().unwrap().audit_head, ok.audit_head);
    std::fs::write(&audit, &original).unwrap();
    // A stored model file changed on disk.
    let model = root.join("models/churn/versions/2/model.onnx");
    let mut bytes = std::fs::read(&model).unwrap();
    bytes[100] ^= 1;
    std::fs::write(&model, bytes).unwrap();
    let v = store.verify().unwrap();
    assert_eq!(v.versions, 1);
    assert!(v.problems.iter().any(|p| p.starts_with("churn@2")), "{:?}", v.problems);
}

#[test]
fn a_second_store_on_the_root_leaves_the_first_ones_staging_alone() {
    let root = tempfile::tempdir().unwrap();
    let first = Store::open(root.path()).unwrap();
    let upload = first.upload_path().unwrap();
    std::fs::write(upload.path(), b"half an upload").unwrap();
    // A dead store's area: no lock file holds it.
    let dead = root.path().join("tmp/1-dead.area");
    std::fs::create_dir(&dead).unwrap();
    std::fs::write(dead.join("upload.tar"), b"x").unwrap();
    let second = Store::open(root.path()).unwrap();
    assert!(upload.path().exists(), "opening a second store removed the first one's upload");
    assert!(!dead.exists(), "the dead store's staging area is still there");
    // Both publish; the versions are distinct and complete.
    let b = Bundle::load_dir(bundle_dir()).unwrap();
    let files = b.files().clone();
    let m = b.manifest_bytes();
    let v1 = first.publish("churn", &m, files.clone(), "a").unwrap();
    let v2 = second.publish("churn", &m, files, "b").unwrap();
    assert_eq!((v1, v2), (1, 2));
    let v = second.verify().unwrap();
    assert!(v.problems.is_empty() && v.versions == 2 && v.audit_records == 2, "{v:?}");
}

/// A request with a bearer token and extra headers; (status, body).
fn send(addr: &str, method: &str, path: &str, token: &str, headers: &str, body: &[u8]) -> (u16, String) {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(addr, &req)
}

#[test]
fn scoped_tokens_a_server_side_gate_and_compare_and_swap_on_promotion() {
    use scorelet_registry::auth::TokensFile;
    let tokens = TokensFile::parse(
        r#"
        closed_reads = true
        [[token]]
        name = "ci"
        secret = "ci-secret-0123456789"
        scopes = ["write"]
        models = ["churn"]
        [[token]]
        name = "release"
        secret = "release-secret-0123456789"
        scopes = ["promote"]
        [[token]]
        name = "dashboard"
        secret = "dashboard-secret-0123456789"
        scopes = ["read"]
        "#,
    )
    .unwrap();
    let s = server(Config {
        tokens: tokens.tokens,
        closed_reads: tokens.closed_reads,
        gate: vec!["roc_auc>=0.5".parse().unwrap()],
        not_worse_than: Some("production".into()),
        ..Config::default()
    });
    let (ci, release, dashboard) = ("ci-secret-0123456789", "release-secret-0123456789", "dashboard-secret-0123456789");
    let tar = scorelet_registry::archive::pack(bundle_dir()).unwrap();
    let publish = |token: &str, model: &str| {
        send(&s.addr, "POST", &format!("/v1/models/{model}/versions"), token, "x-scorelet-actor: mallory\r\n", &tar)
    };
    assert_eq!(publish(ci, "churn").0, 201);
    assert_eq!(publish(ci, "churn").0, 201);
    let (st, msg) = publish(ci, "other");
    assert!(st == 403 && msg.contains("no `write` scope for model"), "{st} {msg}");
    assert_eq!(publish(release, "churn").0, 403, "promote does not include write");
    assert_eq!(publish(dashboard, "churn").0, 403);
    // The audit log names the token, whatever the client claims to be.
    let audit = std::fs::read_to_string(s.root.path().join("audit.jsonl")).unwrap();
    assert!(audit.lines().all(|l| l.contains("\"by\":\"ci (127.0.0.1)\"")), "{audit}");
    assert!(!audit.contains("mallory"));

    // Reads are closed: no token is 401, any valid token reads.
    assert_eq!(get(&s.addr, "/v1/models").0, 401);
    assert_eq!(send(&s.addr, "GET", "/v1/models", dashboard, "", b"").0, 200);

    let promote = |token: &str, body: &str, headers: &str| {
        send(&s.addr, "POST", "/v1/models/churn/aliases/production/promote", token, headers, body.as_bytes())
    };
    assert_eq!(promote(ci, r#"{"version": 1}"#, "").0, 403, "write does not include promote");
    let (st, msg) = promote(release, r#"{"version": 1, "require": ["roc_auc>=0.99"]}"#, "");
    assert!(st == 422 && msg.contains("gate_failed") && msg.contains("required >= 0.99"), "{st} {msg}");
    let (st, msg) = promote(release, r#"{"version": 1, "require": ["roc_auc>>1"]}"#, "");
    assert_eq!(st, 400, "{msg}");
    assert_eq!(promote(release, r#"{"version": 9}"#, "").0, 404);
    assert_eq!(promote(release, r#"{"version": "one"}"#, "").0, 400);
    assert_eq!(send(&s.addr, "GET", "/v1/models/churn/aliases/production", dashboard, "", b"").0, 404, "nothing moved");
    let (st, doc) = promote(release, r#"{"version": 1}"#, "");
    assert_eq!(st, 200, "{doc}");
    // Compare-and-swap: a promotion against a stale ETag is refused.
    let etag = |body: &str| scorelet::bundle::sha256_hex(body.as_bytes());
    let stale = format!("If-Match: \"{}\"\r\n", "0".repeat(64));
    let (st, msg) = promote(release, r#"{"version": 2}"#, &stale);
    assert!(st == 412 && msg.contains("moved since it was read"), "{st} {msg}");
    let fresh = format!("If-Match: \"{}\"\r\n", etag(&doc));
    let (st, doc2) = promote(release, r#"{"version": 2}"#, &fresh);
    assert_eq!(st, 200, "{doc2}");
    let (st, msg) = promote(release, r#"{"version": 1}"#, &fresh);
    assert_eq!(st, 412, "the same ETag twice: the second move is refused: {msg}");
    // The alias document's ETag is what GET says.
    let reply = raw(
        &s.addr,
        format!("GET /v1/models/churn/aliases/production HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {dashboard}\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert_eq!(etag(&reply.1), etag(&doc2));
    // The protected alias cannot be moved or deleted with `write`; `promote` deletes it.
    let (st, msg) = send(&s.addr, "PUT", "/v1/models/churn/aliases/production", ci, "", br#"{"version": 1}"#);
    assert!(st == 403 && msg.contains("protected"), "{st} {msg}");
    assert_eq!(send(&s.addr, "DELETE", "/v1/models/churn/aliases/production", ci, "", b"").0, 403);
    assert_eq!(send(&s.addr, "DELETE", "/v1/models/churn/aliases/production", release, "", b"").0, 204);
    // Unprotected aliases move with `write`.
    assert_eq!(send(&s.addr, "PUT", "/v1/models/churn/aliases/staging", ci, "", br#"{"version": 1}"#).0, 200);
}
