//! What some integration tests need beyond `cargo test`: the wasm builds, Node.js, Chromium and
//! workerd (`scripts/build-wasm.sh` and `scripts/setup.sh` make them). A plain `cargo test` on a
//! bare checkout skips those tests and says so on the terminal; `scripts/test.sh` sets
//! `SCORELET_TEST_ALL=1`, and then anything missing fails the test instead. Included by the test
//! crates of several packages (`#[path]`), so it depends on nothing but std.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// Set by `scripts/test.sh` (CI): a missing artifact or tool is a failure, not a skip.
pub const TEST_ALL: &str = "SCORELET_TEST_ALL";

/// Whether every test must run (CI).
pub fn must_run_all() -> bool {
    std::env::var_os(TEST_ALL).is_some_and(|v| !v.is_empty() && v != "0")
}

/// Skips the calling test (or fails it, under [`TEST_ALL`]), naming what is missing and the
/// command that provides it. Written straight to the terminal: the harness captures `eprintln!`
/// of passing tests, and a skip must be seen.
pub fn skip(test: &str, missing: &str, fix: &str) {
    if must_run_all() {
        panic!("{test}: {missing} ({TEST_ALL} is set, so nothing may be skipped); {fix}");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {missing}; {fix} (or run scripts/test.sh)");
}

/// The target directory cargo builds into (`CARGO_TARGET_DIR`, else the workspace's `target/`).
pub fn target_dir() -> PathBuf {
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    workspace().join("target")
}

/// The workspace root: the nearest ancestor of this package with a `Cargo.lock`.
pub fn workspace() -> PathBuf {
    let mut dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("Cargo.lock").is_file() {
        if !dir.pop() {
            return PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        }
    }
    dir
}

/// `path` if it exists; otherwise the test is skipped (see [`skip`]) and `None` is returned.
pub fn artifact(test: &str, path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    skip(test, &format!("{} is not built", path.display()), "run scripts/build-wasm.sh");
    None
}

/// The scoring component (`scorelet_spin.wasm`, or the WASI 0.2 `scorelet_spin_p2.wasm`).
pub fn spin_component(test: &str, p2: bool) -> Option<PathBuf> {
    let name = if p2 { "scorelet_spin_p2.wasm" } else { "scorelet_spin.wasm" };
    artifact(test, target_dir().join("wasm32-wasip2/release").join(name))
}

/// The lean scoring component, without tract (`scorelet_spin_lean.wasm`, or `…_p2_lean.wasm`).
pub fn lean_component(test: &str, p2: bool) -> Option<PathBuf> {
    let name = if p2 { "scorelet_spin_p2_lean.wasm" } else { "scorelet_spin_lean.wasm" };
    artifact(test, target_dir().join("wasm32-wasip2/release").join(name))
}

/// A built directory or file named by an environment variable that `scripts/env.sh` exports,
/// else `default` under the target directory.
pub fn built(test: &str, var: &str, default: &str) -> Option<PathBuf> {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| target_dir().join(default));
    artifact(test, p)
}

/// A program on the PATH (`node`, `chromium`), or `None` after a skip.
pub fn program(test: &str, name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        skip(test, &format!("`{name}` is not installed"), "run scripts/setup.sh");
    }
    found
}

/// A tool of the pinned JS tooling (`js/node_modules/.bin/NAME`: workerd), or `None` after a skip.
pub fn js_tool(test: &str, name: &str) -> Option<PathBuf> {
    let p = workspace().join("js/node_modules/.bin").join(name);
    if !Path::new(&p).exists() {
        skip(test, &format!("{} is not installed", p.display()), "run scripts/setup.sh");
        return None;
    }
    Some(p)
}
