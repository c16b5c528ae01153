//! spin.toml and spin-wasi-p2.toml: valid against Spin's manifest schema, consistent with the
//! components they point at, and those components need nothing from a Spin host beyond WASI,
//! WASI HTTP and Spin's variables.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value as Json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn manifest(file: &str) -> Json {
    let text = std::fs::read_to_string(repo().join(file)).unwrap();
    toml::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo().join("tests/fixtures/spin/spin-manifest-v2.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
}

#[test]
fn manifests_validate_against_spins_schema() {
    let schema = schema();
    for file in ["spin.toml", "spin-wasi-p2.toml"] {
        let m = manifest(file);
        let errors: Vec<String> = schema.iter_errors(&m).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
    }
    // The schema can fail: a manifest with a misspelt field does not pass.
    let mut bad = manifest("spin.toml");
    bad["component"]["scorelet"]["allowed_outbound_host"] = serde_json::json!(["*"]);
    assert!(!schema.is_valid(&bad));
}

#[test]
fn manifests_declare_every_variable_the_component_reads() {
    for (file, crate_dir, wasm) in [
        ("spin.toml", "crates/spin", "scorelet_spin.wasm"),
        ("spin-wasi-p2.toml", "crates/spin-p2", "scorelet_spin_p2.wasm"),
    ] {
        let m = manifest(file);
        let c = &m["component"]["scorelet"];
        // Every runtime setting of the one configuration table.
        let vars = scorelet::config::SETTINGS.iter().filter_map(|s| s.variable);
        for var in vars {
            assert!(m["variables"].get(var).is_some(), "{file}: application variable `{var}` missing");
            assert_eq!(c["variables"][var], format!("{{{{ {var} }}}}"), "{file}: component variable `{var}`");
        }
        assert_eq!(c["allowed_outbound_hosts"], serde_json::json!(["{{ registry_url }}"]));
        assert!(c["source"].as_str().unwrap().ends_with(wasm), "{file}");
        let package = std::fs::read_to_string(repo().join(crate_dir).join("Cargo.toml")).unwrap();
        let name = package.lines().find_map(|l| l.strip_prefix("name = ")).unwrap().trim_matches('"');
        assert!(c["build"]["command"].as_str().unwrap().ends_with(&format!("-p {name}")), "{file}");
        assert_eq!(name.replace('-', "_") + ".wasm", wasm);
    }
}

/// What a Spin host provides that the components may import.
fn spin_provides(import: &str) -> bool {
    import.starts_with("wasi:")
        || import == "spin:variables/variables@3.0.0"
        || import == "fermyon:spin/variables@2.0.0"
}

#[test]
fn components_import_only_what_spin_provides() {
    for (wasm, export) in [
        ("scorelet_spin.wasm", "wasi:http/handler@0.3.0"),
        ("scorelet_spin_p2.wasm", "wasi:http/incoming-handler@0.2."),
    ] {
        let Some((imports, exports)) = common::component_interfaces("components_import_only_what_spin_provides", wasm)
        else {
            return;
        };
        let foreign: Vec<&String> = imports.iter().filter(|i| !spin_provides(i)).collect();
        assert!(foreign.is_empty(), "{wasm} imports what Spin does not provide: {foreign:?}");
        assert!(exports.iter().any(|e| e.starts_with(export)), "{wasm} exports {exports:?}");
    }
}
