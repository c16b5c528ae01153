//! Embeds a bundle when `SCORELET_BUNDLE` names a bundle directory: its manifest and every file
//! the manifest lists become `include_bytes!` statics, so the component needs no network at cold
//! start. The digests are checked when the component loads the bundle (and by `scorelet build`
//! before it builds), not here.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=SCORELET_BUNDLE");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let mut code = String::from("/// Files of the embedded bundle, manifest first; empty when none is embedded.\n");
    code.push_str("pub static FILES: &[(&str, &[u8])] = &[\n");
    match std::env::var_os("SCORELET_BUNDLE").filter(|v| !v.is_empty()) {
        None => {}
        Some(dir) => {
            let dir = std::fs::canonicalize(Path::new(&dir))
                .unwrap_or_else(|e| panic!("SCORELET_BUNDLE={}: {e}", Path::new(&dir).display()));
            let manifest = dir.join("manifest.json");
            println!("cargo:rerun-if-changed={}", manifest.display());
            let text = std::fs::read(&manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
            let json: serde_json::Value =
                serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", manifest.display()));
            let files = json["files"].as_object().unwrap_or_else(|| panic!("{}: no `files`", manifest.display()));
            code.push_str(&format!("    (\"manifest.json\", include_bytes!({:?})),\n", manifest.display().to_string()));
            for name in files.keys() {
                assert!(
                    !name.contains(['/', '\\']) && !name.starts_with('.'),
                    "bundle file name {name:?} is not a plain file name"
                );
                let path = dir.join(name);
                println!("cargo:rerun-if-changed={}", path.display());
                code.push_str(&format!("    ({name:?}, include_bytes!({:?})),\n", path.display().to_string()));
            }
        }
    }
    code.push_str("];\n");
    std::fs::write(out.join("embedded.rs"), code).expect("writing embedded.rs");
}
