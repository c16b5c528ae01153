//! The compiled engine against tract, on the graphs scorelet exports: the same rows give the same
//! scores (INT8 models bit for bit or within 1e-6, f32 within 1e-5: the engines add in different
//! orders), the engine choice is visible, and a graph with a node the compiled engine does not
//! implement falls back to tract, or, forced, fails naming the node.

mod common;

use common::*;
use proptest::prelude::*;
use scorelet::Scorer;
use scorelet::model::{Engine, Model};
use scorelet_train::onnx::{Head, calibrate, export};
use scorelet_train::{Precision, rows_for};

/// Feature rows of the first `n` rows of a dataset, through a trained bundle's pipeline.
fn features(d: &Dataset, scorer: &Scorer, n: usize) -> Vec<f32> {
    let which: Vec<usize> = (0..n).collect();
    let rows = rows_for(&d.table, &d.spec, &which).unwrap();
    scorer.pipeline().transform_batch(&rows).unwrap()
}

fn both(onnx: &[u8], width: usize, output: &str) -> (Model, Model) {
    let c = Model::load_with(onnx, width, output, Engine::Compiled).unwrap();
    let t = Model::load_with(onnx, width, output, Engine::Tract).unwrap();
    assert_eq!((c.engine(), t.engine()), ("compiled", "tract"));
    (c, t)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn our_exports_score_alike_on_both_engines_and_auto_picks_compiled() {
    for d in [telco(), adult()] {
        let width = feature_width(&d);
        for (label, job) in [
            ("logreg-int8", logreg_job(&d, Precision::Int8)),
            ("mlp-int8", mlp_job(&d, Precision::Int8, width)),
            ("logreg-f32", logreg_job(&d, Precision::Float32)),
            ("mlp-f32", mlp_job(&d, Precision::Float32, width)),
        ] {
            let bundle = train(&job, &d);
            let scorer = Scorer::from_bundle(&bundle).unwrap();
            assert_eq!(scorer.engine(), "compiled", "{}/{label}: Auto takes our exports", d.name);
            let m = &bundle.manifest.model;
            let onnx = bundle.file(&m.file).unwrap();
            let (c, t) = both(onnx, width, &m.output);
            let x = features(&d, &scorer, 1200);
            let (a, b) = (c.run(&x, 1200).unwrap(), t.run(&x, 1200).unwrap());
            assert_eq!((a.rows, a.width), (b.rows, b.width));
            let diff = max_diff(&a.data, &b.data);
            let bound = if label.ends_with("int8") { 1e-6 } else { 1e-5 };
            println!("{}/{label:<12} compiled vs tract: max difference {diff:.1e}", d.name);
            assert!(diff <= bound, "{}/{label}: compiled differs from tract by {diff:e}", d.name);
            // The golden self-check passes on the compiled engine.
            let report = scorelet::golden::self_check(&scorer, &bundle).unwrap();
            assert_eq!(report.rows, 64);
            // A row alone scores as it does in the batch.
            assert_eq!(c.run(&x[..width], 1).unwrap().data, a.data[..a.width].to_vec(), "{}/{label}", d.name);
        }
    }
}

#[test]
fn an_unsupported_node_falls_back_to_tract_and_forcing_compiled_names_it() {
    let dir = repo().join("tests/fixtures/external");
    let width: usize = {
        let cases: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
        cases["n_features"].as_u64().unwrap() as usize
    };
    // skl2onnx's logistic regression as MatMul … Sub(1, p) … Concat, with the `Sub` (op_type
    // field, 3 bytes) turned into a `Max`, which tract runs and the compiled engine does not.
    let bytes = std::fs::read(dir.join("lr-matmul.onnx")).unwrap();
    assert_eq!(Model::load(&bytes, width, "probabilities").unwrap().engine(), "compiled");
    let at = bytes.windows(5).position(|w| w == b"\x22\x03Sub").expect("the Sub node");
    let mut patched = bytes.clone();
    patched[at + 2..at + 5].copy_from_slice(b"Max");
    let auto = Model::load(&patched, width, "probabilities").unwrap();
    assert_eq!(auto.engine(), "tract");
    let e = Model::load_with(&patched, width, "probabilities", Engine::Compiled).unwrap_err().to_string();
    assert!(e.contains("Max") && e.contains("compiled engine cannot run node"), "{e}");
    // A LinearClassifier's label output is integers: not something the compiled engine serves.
    let lr = std::fs::read(dir.join("lr.onnx")).unwrap();
    let e = Model::load_with(&lr, width, "label", Engine::Compiled).unwrap_err().to_string();
    assert!(e.contains("LinearClassifier") && e.contains("label"), "{e}");
    assert!("fast".parse::<Engine>().unwrap_err().to_string().contains("auto, compiled, tract"));
}

#[test]
fn malformed_graphs_are_errors_on_the_compiled_engine() {
    let layers = random_mlp(6, &[4], 3);
    let onnx = export(&layers, Head::Binary, None);
    for cut in [1, 7, onnx.len() / 3, onnx.len() - 1] {
        assert!(Model::load_with(&onnx[..cut], 6, "logits", Engine::Compiled).is_err(), "cut at {cut}");
    }
    // Wrong input width: the weights do not fit.
    let e = Model::load_with(&onnx, 5, "logits", Engine::Compiled).unwrap_err().to_string();
    assert!(e.contains("do not take 5 inputs"), "{e}");
    let e = Model::load_with(&onnx, 6, "nope", Engine::Compiled).unwrap_err().to_string();
    assert!(e.contains("no output named `nope`"), "{e}");
    // A small file whose first weight (`w_1`) is redeclared as a 2^40-element float tensor with
    // no data (protobuf merges the second graph field into the first): refused, not allocated.
    let mut huge = onnx.clone();
    huge.extend_from_slice(&[0x3a, 0x10, 0x2a, 0x0e, 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x20, 0x10, 0x01]);
    huge.extend_from_slice(&[0x42, 0x03, b'w', b'_', b'1']);
    let e = Model::load_with(&huge, 6, "logits", Engine::Compiled).unwrap_err().to_string();
    assert!(e.contains("more than"), "{e}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Random dense stacks (widths, weights, calibration ranges that saturate some inputs), in
    /// f32 and INT8: the compiled engine agrees with tract.
    #[test]
    fn random_dense_graphs_agree_with_tract(
        inputs in 1usize..24,
        hidden in prop::collection::vec(1usize..20, 0..3),
        seed in 0u64..1000,
        squeeze in 0.2f32..1.5,
    ) {
        let layers = random_mlp(inputs, &hidden, seed);
        let mut rng = scorelet_train::Rng(seed ^ 0x5eed);
        let rows = 37;
        let x: Vec<f32> = (0..rows * inputs).map(|_| (rng.next_f64() * 6.0 - 3.0) as f32).collect();
        let mut cal = calibrate(&layers, &x);
        // Narrower ranges than the data: some activations saturate at 0 or 255.
        for r in &mut cal.ranges {
            *r = (r.0 * squeeze, r.1 * squeeze);
        }
        for calibration in [None, Some(&cal)] {
            let onnx = export(&layers, Head::Binary, calibration);
            let (c, t) = both(&onnx, inputs, "logits");
            let (a, b) = (c.run(&x, rows).unwrap(), t.run(&x, rows).unwrap());
            let scale = b.data.iter().fold(1f32, |m, v| m.max(v.abs()));
            let diff = max_diff(&a.data, &b.data);
            prop_assert!(diff <= 1e-5 * scale, "{} layers, int8 {}: differs by {diff:e}", layers.len(), calibration.is_some());
        }
    }
}

/// Every input the fuzzer once crashed on (`fuzz/`, `scripts/fuzz.sh`), run through the same
/// steps as its `onnx_decode` target: decode, compile on the compiled engine, run a batch.
#[test]
fn inputs_the_fuzzer_found_are_errors_or_run() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz/onnx_decode");
    let mut n = 0;
    for f in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(f.unwrap().path()).unwrap();
        let Some((&width, onnx)) = data.split_first() else { continue };
        let width = usize::from(width % 64) + 1;
        if let Ok(m) = scorelet::model::pb::decode(onnx) {
            for output in m.graph.outputs.iter().take(2) {
                if let Ok(model) = Model::load_with(onnx, width, output, Engine::Compiled) {
                    let out = model.run(&vec![0.5f32; width * 3], 3).expect("a compiled plan runs");
                    assert_eq!(out.data.len(), 3 * out.width);
                }
            }
        }
        n += 1;
    }
    assert!(n > 0, "no fuzz regression inputs in {}", dir.display());
}
