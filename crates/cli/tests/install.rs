//! An installed `scorelet` is self-contained: `cargo install --path crates/cli --root TMP`, then
//! the installed binary, run from a directory with no checkout, with cargo off the PATH and no
//! target directory in sight, serves a bundle and builds a component with the bundle embedded,
//! which then serves too.
//!
//! The install builds in `install/` under the tests' target directory. `cargo install` resolves
//! features for the CLI alone, so its first run compiles the dependency tree again (10 minutes on
//! 2 cores); later runs find it built. It runs under `scripts/test.sh` (CI); a plain `cargo test`
//! copies the binary it built instead and says so.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, assert_scores_like_native, predict, support, telco_records, train};

/// `scorelet ARGS` from the installed copy, in `cwd`, with a minimal environment.
fn installed(bin: &Path, home: &Path, cwd: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env_clear().env("PATH", "/usr/bin:/bin").env("HOME", home).current_dir(cwd);
    c
}

/// Installs the CLI into `root` with `cargo install` (under `scripts/test.sh`), or copies the
/// built binary there (see the module doc). Returns the installed binary.
fn install(test: &str, root: &Path) -> PathBuf {
    let bin = root.join("bin/scorelet");
    let workspace = support::workspace();
    if !support::must_run_all() {
        support::skip(
            &format!("{test} (cargo install part)"),
            "`cargo install` compiles the CLI's dependencies again, so the built binary is copied instead",
            "set SCORELET_TEST_ALL=1",
        );
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_scorelet"), &bin).unwrap();
        return bin;
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["install", "--locked", "--offline", "--path"])
        .arg(workspace.join("crates/cli"))
        .arg("--root")
        .arg(root)
        // Its own directory under the target: the install's feature resolution differs from the
        // workspace's, and sharing the directory made the next workspace build relink crates.
        .env("CARGO_TARGET_DIR", support::target_dir().join("install"))
        // The components it embeds are the ones the tests use.
        .env("SCORELET_COMPONENTS", support::target_dir().join("wasm32-wasip2/release"))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo install failed:\n{log}");
    assert!(bin.is_file(), "cargo install did not write {}:\n{log}", bin.display());
    bin
}

#[test]
fn an_installed_binary_serves_and_builds_without_the_source_tree_or_cargo() {
    let test = "an_installed_binary_serves_and_builds_without_the_source_tree_or_cargo";
    if support::spin_component(test, false).is_none() || support::spin_component(test, true).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = train(dir.path());
    let records = telco_records(50);
    let want = predict(&bundle, &records, dir.path());

    let root = tempfile::tempdir().unwrap();
    let bin = install(test, root.path());
    let (home, elsewhere) = (root.path().join("home"), root.path().join("work"));
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&elsewhere).unwrap();
    let no_cargo =
        Command::new("sh").args(["-c", "command -v cargo"]).env_clear().env("PATH", "/usr/bin:/bin").output();
    assert!(!no_cargo.unwrap().status.success(), "cargo is reachable on the test's PATH");

    let mut serve = installed(&bin, &home, &elsewhere);
    serve.args(["serve", "--bundle", bundle.to_str().unwrap()]);
    let server = Server::spawn(serve);
    assert!(server.log().contains("built-in WASI 0.3"), "{}", server.log());
    assert_scores_like_native(&server.url, &want, &records, "churn", "installed serve --bundle");
    drop(server);

    for (p2, name) in [(false, "m.wasm"), (true, "m-p2.wasm")] {
        let mut build = installed(&bin, &home, &elsewhere);
        build.args(["build", "--bundle", bundle.to_str().unwrap(), "--output", name]);
        if p2 {
            build.arg("--wasi-p2");
        }
        let out = build.output().unwrap();
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "build: {log}");
        let wasm = elsewhere.join(name);
        // The model runs on the compiled engine, so it gets the lean component (no tract).
        let size = std::fs::metadata(&wasm).unwrap().len();
        assert!(log.contains("lean") && size <= 3_000_000, "{name}: {size} bytes; {log}");
        let mut serve = installed(&bin, &home, &elsewhere);
        serve.args(["serve", "--component", wasm.to_str().unwrap()]);
        let server = Server::spawn(serve);
        assert_scores_like_native(&server.url, &want, &records, "churn", &format!("installed build {name}"));
    }
    // Embedding twice, or into something that is not a scoring component, says why.
    let mut again = installed(&bin, &home, &elsewhere);
    let out = again
        .args(["build", "--bundle", bundle.to_str().unwrap(), "--component", "m.wasm", "--output", "twice.wasm"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already has an embedded bundle"));
    std::fs::write(elsewhere.join("junk.wasm"), b"\0asm\x01\0\0\0").unwrap();
    let out = installed(&bin, &home, &elsewhere)
        .args(["build", "--bundle", bundle.to_str().unwrap(), "--component", "junk.wasm", "--output", "x.wasm"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no embed slot"), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!elsewhere.join("x.wasm").exists() && !elsewhere.join("twice.wasm").exists(), "nothing written on failure");
}
