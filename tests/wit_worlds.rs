//! The worlds in wit/ describe the built components: each component imports only interfaces its
//! world imports, and exports the world's HTTP handler (up to the patch version).

mod common;

use std::path::Path;

use wit_parser::{Resolve, WorldItem};

fn world(resolve: &Resolve, pkg: wit_parser::PackageId, name: &str) -> (Vec<String>, Vec<String>) {
    let id = resolve.select_world(&[pkg], Some(name)).unwrap();
    let w = &resolve.worlds[id];
    let names = |items: &wit_parser::IndexMap<wit_parser::WorldKey, WorldItem>| {
        items
            .iter()
            .filter(|(_, item)| matches!(item, WorldItem::Interface { .. }))
            .map(|(k, _)| resolve.name_world_key(k))
            .collect()
    };
    (names(&w.imports), names(&w.exports))
}

#[test]
fn components_match_their_documented_worlds() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve.push_dir(repo.join("wit")).unwrap();
    for (world_name, wasm) in [("scorer", "scorelet_spin.wasm"), ("scorer-p2", "scorelet_spin_p2.wasm")] {
        let (imports, exports) = world(&resolve, pkg, world_name);
        let Some((c_imports, c_exports)) =
            common::component_interfaces("components_match_their_documented_worlds", wasm)
        else {
            return;
        };
        let outside: Vec<&String> = c_imports.iter().filter(|i| !imports.contains(i)).collect();
        assert!(outside.is_empty(), "{wasm} imports {outside:?}, which world `{world_name}` does not");
        // WASI versions are semver: hosts link `@0.2.0` and `@0.2.6` alike, so compare the export
        // up to `@0.2` (spin-sdk 5.2 exports `incoming-handler@0.2.0` for old Spin releases).
        let minor = |s: &String| s.rsplit_once('.').map(|(a, _)| a.to_string()).unwrap_or_else(|| s.clone());
        assert!(
            exports.iter().all(|e| c_exports.iter().any(|c| minor(c) == minor(e))),
            "{wasm} exports {c_exports:?}, world says {exports:?}"
        );
    }
}
