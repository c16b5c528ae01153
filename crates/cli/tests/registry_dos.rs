//! The real `scorelet registry serve` under hostile clients: unauthenticated uploads are refused
//! from their headers without the server taking in their bodies, and a client that stops
//! halfway through a request line is cut off at the header deadline.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Registry(Child, String);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(root: &Path, extra: &[&str]) -> Registry {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scorelet"))
        .args(["registry", "serve", "--root", root.to_str().unwrap(), "--addr", "127.0.0.1:0"])
        .args(extra)
        .env("SCORELET_REGISTRY_TOKEN", "dos-test-token-0123456789")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.as_mut().unwrap()).read_line(&mut line).unwrap();
    let addr = line.split("http://").nth(1).and_then(|r| r.split_whitespace().next()).unwrap().to_string();
    Registry(child, addr)
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kb << 10
}

/// Starts a 60 MiB upload without a token and pushes the body for as long as the server takes
/// it; returns the status line the server answered with.
fn unauthenticated_upload(addr: &str) -> String {
    const SIZE: usize = 60 << 20;
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let reader = s.try_clone().unwrap();
    let answer = std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(reader).read_line(&mut line);
        line
    });
    let head = format!(
        "POST /v1/models/churn/versions HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-tar\r\nContent-Length: {SIZE}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..SIZE / chunk.len() {
        if s.write_all(&chunk).is_err() {
            break;
        }
    }
    answer.join().unwrap()
}

#[test]
fn unauthenticated_uploads_are_refused_without_being_read() {
    let tmp = tempfile::tempdir().unwrap();
    let r = start(tmp.path(), &[]);
    // Warm up the server's threads and allocator before the baseline.
    assert!(unauthenticated_upload(&r.1).starts_with("HTTP/1.1 401"));
    let before = rss(r.0.id());
    let clients: Vec<_> = (0..100)
        .map(|_| {
            let addr = r.1.clone();
            std::thread::spawn(move || unauthenticated_upload(&addr))
        })
        .collect();
    let mut peak = before;
    let answers: Vec<String> = clients
        .into_iter()
        .map(|c| {
            peak = peak.max(rss(r.0.id()));
            c.join().unwrap()
        })
        .collect();
    peak = peak.max(rss(r.0.id()));
    for a in &answers {
        assert!(a.starts_with("HTTP/1.1 401"), "an unauthenticated upload got {a:?}");
    }
    let grown = peak.saturating_sub(before);
    assert!(grown < 50 << 20, "100 unauthenticated 60 MiB uploads grew the registry by {} MiB", grown >> 20);
    // Nothing reached the staging area.
    let staged: Vec<_> =
        walk(&tmp.path().join("tmp")).into_iter().filter(|p| p.extension().is_some_and(|e| e == "tar")).collect();
    assert!(staged.is_empty(), "{staged:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn a_half_sent_request_line_is_cut_off_at_the_header_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let r = start(tmp.path(), &["--header-timeout", "1"]);
    let mut s = TcpStream::connect(&r.1).unwrap();
    s.write_all(b"GET /v1/mod").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let read = s.read_to_end(&mut buf);
    assert!(
        read.is_ok() || t.elapsed() < Duration::from_secs(20),
        "the connection was still open after {:?}",
        t.elapsed()
    );
    assert!(
        buf.is_empty() || String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 408"),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
    // The server still answers others.
    let mut s = TcpStream::connect(&r.1).unwrap();
    s.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
}

#[test]
fn a_stalled_upload_is_answered_408_at_the_request_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let r = start(tmp.path(), &["--request-timeout", "1"]);
    let mut s = TcpStream::connect(&r.1).unwrap();
    s.write_all(b"POST /v1/models/churn/versions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer dos-test-token-0123456789\r\nContent-Length: 100000\r\n\r\nabc").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut out = String::new();
    let _ = BufReader::new(s).read_line(&mut out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out:?}");
    assert!(
        walk(&tmp.path().join("tmp")).iter().all(|p| p.extension().is_none_or(|e| e != "tar")),
        "the stalled upload's file was left behind"
    );
}
