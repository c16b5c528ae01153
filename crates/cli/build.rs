//! Puts the default scoring components (`scorelet_spin.wasm`, WASI 0.3, and
//! `scorelet_spin_p2.wasm`, WASI 0.2, from `scripts/build-wasm.sh`), and their lean variants
//! without tract (`*_lean.wasm`), inside the `scorelet` binary, so an installed or copied binary
//! serves and builds without the source tree or cargo.
//!
//! They are looked up in `$SCORELET_COMPONENTS`, else `$CARGO_TARGET_DIR/wasm32-wasip2/release`,
//! else the target directory this build runs in. A component that is not built is left out with a
//! warning; `scorelet serve` then says how to get it (or takes `--component FILE`).

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=SCORELET_COMPONENTS");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_DIR");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir = std::env::var_os("SCORELET_COMPONENTS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(|t| Path::new(&t).join("wasm32-wasip2/release")))
        .or_else(|| out.ancestors().map(|a| a.join("wasm32-wasip2/release")).find(|d| d.is_dir()))
        .unwrap_or_default();
    let mut code = String::new();
    for (name, file, what) in [
        ("P3", "scorelet_spin.wasm", "WASI 0.3"),
        ("P2", "scorelet_spin_p2.wasm", "WASI 0.2"),
        ("P3_LEAN", "scorelet_spin_lean.wasm", "lean WASI 0.3"),
        ("P2_LEAN", "scorelet_spin_p2_lean.wasm", "lean WASI 0.2"),
    ] {
        let path = dir.join(file);
        println!("cargo:rerun-if-changed={}", path.display());
        let value = if path.is_file() {
            format!("Some(include_bytes!({:?}))", path.display().to_string())
        } else {
            println!(
                "cargo:warning=scorelet is built without the {what} component ({} is missing); run scripts/build-wasm.sh first",
                path.display()
            );
            "None".into()
        };
        code.push_str(&format!(
            "/// The built-in {what} scoring component.\npub const {name}: Option<&[u8]> = {value};\n"
        ));
    }
    std::fs::write(out.join("components.rs"), code).expect("writing components.rs");
}
