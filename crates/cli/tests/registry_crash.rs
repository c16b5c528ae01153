//! Crash safety of the registry: the real `scorelet registry serve` is killed with SIGKILL in the
//! middle of uploads, again and again; afterwards every published version verifies and no
//! partial version is visible.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TOKEN: &str = "crash-test-token-0123456789";

fn start(root: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scorelet"))
        .args(["registry", "serve", "--root", root.to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .env("SCORELET_REGISTRY_TOKEN", TOKEN)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Recovery from the previous kill may log first; the address line follows.
    let mut reader = BufReader::new(child.stderr.as_mut().unwrap());
    let mut line = String::new();
    while reader.read_line(&mut line).unwrap() > 0 && !line.contains("registry on ") {
        line.clear();
    }
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, addr)
}

/// Uploads `tar` slowly; true if the registry answered 201.
fn slow_upload(addr: &str, tar: &[u8], chunks: usize) -> bool {
    let Ok(mut s) = TcpStream::connect(addr) else { return false };
    let head = format!(
        "POST /v1/models/churn/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        tar.len()
    );
    if s.write_all(head.as_bytes()).is_err() {
        return false;
    }
    for c in tar.chunks(tar.len().div_ceil(chunks)) {
        if s.write_all(c).is_err() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 201")
}

#[test]
fn sigkill_during_uploads_never_leaves_a_partial_version() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = common::train(tmp.path());
    let tar = scorelet_registry::archive::pack(&bundle).unwrap();
    let root = tmp.path().join("store");
    let (mut completed, mut interrupted) = (0, 0);
    for i in 0..60u64 {
        let (mut child, addr) = start(&root);
        let t = tar.clone();
        let uploads: Vec<_> = (0..3)
            .map(|_| {
                let (a, t) = (addr.clone(), t.clone());
                std::thread::spawn(move || slow_upload(&a, &t, 48))
            })
            .collect();
        // Kill at a different moment each round: before, during and after the bodies arrive.
        std::thread::sleep(Duration::from_millis((i * 7) % 90));
        child.kill().unwrap();
        child.wait().unwrap();
        for u in uploads {
            if u.join().unwrap() { completed += 1 } else { interrupted += 1 }
        }
    }
    assert!(completed > 0 && interrupted > 0, "completed {completed}, interrupted {interrupted}");
    // What is on disk: every version directory is a complete, verified bundle.
    let versions = root.join("models/churn/versions");
    let mut on_disk = 0;
    for e in std::fs::read_dir(&versions).unwrap() {
        let p = e.unwrap().path();
        let b =
            scorelet::Bundle::load_dir(&p).unwrap_or_else(|e| panic!("{} is not a complete version: {e}", p.display()));
        assert_eq!(b.manifest.version.map(|v| v.to_string()), p.file_name().map(|n| n.to_string_lossy().into_owned()));
        on_disk += 1;
    }
    assert!(on_disk >= completed, "every acknowledged upload survived: {on_disk} on disk, {completed} acknowledged");
    // And through the API after a restart: every version pulls and verifies.
    let (mut child, addr) = start(&root);
    let client = scorelet_registry::Client::new(&format!("http://{addr}"), None);
    let listed = client.versions("churn").unwrap();
    assert_eq!(listed.len(), on_disk);
    for v in &listed {
        let r = format!("churn@{}", v["version"]).parse().unwrap();
        client.fetch(&r).unwrap();
    }
    // The killed servers' staging areas were cleared at start: what is left is the running
    // server's own area, empty, and lock files.
    let areas: Vec<_> = std::fs::read_dir(root.join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_none_or(|e| e != "lock"))
        .collect();
    assert_eq!(areas.len(), 1, "staging areas of killed servers remain: {areas:?}");
    assert_eq!(std::fs::read_dir(&areas[0]).unwrap().count(), 0, "the running server's staging area is not empty");
    child.kill().unwrap();
    child.wait().unwrap();
    // `registry verify` agrees: every version's digests hold and the audit chain is unbroken.
    let out = Command::new(env!("CARGO_BIN_EXE_scorelet"))
        .args(["registry", "verify", "--root", root.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with(&format!("{on_disk} versions verified")), "{text}");
    eprintln!("60 SIGKILLs: {completed} uploads acknowledged, {interrupted} cut off, {on_disk} versions, all verified");
}
