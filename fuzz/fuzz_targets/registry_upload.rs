//! Any bytes as a registry upload: the tar reader (`archive::unpack`, as `POST
//! /v1/models/{name}` runs it) and then the bundle loader on what it accepted. A clear error, or
//! a bundle whose every file matches its manifest; never a panic, never more than the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scorelet::Bundle;
use scorelet_registry::archive::unpack;

const LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    if let Ok((manifest, files)) = unpack(data, LIMIT) {
        assert!(files.values().all(|f| f.len() <= LIMIT), "a file over the limit was accepted");
        if let Ok(bundle) = Bundle::from_files(&manifest, files) {
            assert!(bundle.files().contains_key(&bundle.manifest.model.file), "a bundle without its model");
        }
    }
});
