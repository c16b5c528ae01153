//! Any bytes as an `/invocations` or OIP v2 body for the checked-in fixture bundle: a clear error
//! or predictions, never a panic.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use scorelet::api::{RowReader, mlflow, oip};
use scorelet::{Bundle, Scorer};

static SCORER: LazyLock<(Scorer, RowReader)> = LazyLock::new(|| {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/bundle");
    let scorer = Scorer::from_bundle(&Bundle::load_dir(dir).expect("fixture bundle")).expect("fixture scores");
    let reader = RowReader::for_pipeline(scorer.pipeline());
    (scorer, reader)
});

fuzz_target!(|data: &[u8]| {
    let (scorer, reader) = &*SCORER;
    if let Ok(req) = mlflow::parse(data, reader) {
        let _ = scorer.predict(&req.rows, req.options);
    }
    if let Ok(req) = oip::parse(data, reader) {
        let _ = scorer.predict(&req.rows, req.options);
    }
});
