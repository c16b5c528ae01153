//! ONNX models written by other tools run in scorelet's model runtime and agree with
//! onnxruntime: scikit-learn's LogisticRegression and MLPClassifier exported by skl2onnx (zipmap
//! off), and onnxruntime-quantized INT8 versions (dynamic MatMulInteger, static QLinearMatMul,
//! QDQ). Fixtures and onnxruntime's outputs come from `python/external_models.py`.

mod common;

use scorelet::model::Model;
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixtures {
    n_features: usize,
    inputs: Vec<Vec<f32>>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    file: String,
    output: String,
    ops: Vec<String>,
    expected: Vec<Vec<f32>>,
}

#[test]
fn skl2onnx_and_onnxruntime_quantized_models_match_onnxruntime() {
    let dir = common::repo().join("tests/fixtures/external");
    let fx: Fixtures = serde_json::from_slice(&std::fs::read(dir.join("cases.json")).unwrap()).unwrap();
    let batch: Vec<f32> = fx.inputs.iter().flatten().copied().collect();
    let rows = fx.inputs.len();
    assert!(fx.cases.len() >= 9);
    let mut int8 = 0;
    for case in &fx.cases {
        let bytes = std::fs::read(dir.join(&case.file)).unwrap();
        let model = Model::load(&bytes, fx.n_features, &case.output)
            .unwrap_or_else(|e| panic!("{} ({}) does not load: {e}", case.file, case.ops.join(", ")));
        // Dynamically quantized models scale by the batch, so run the batch onnxruntime ran.
        let out = model.run(&batch, rows).unwrap();
        assert_eq!(out.width, 2, "{}", case.file);
        let mut max = 0f32;
        for (i, want) in case.expected.iter().enumerate() {
            for (a, b) in out.row(i).iter().zip(want) {
                max = max.max((a - b).abs());
            }
        }
        assert!(max <= 1e-5, "{}: tract differs from onnxruntime by {max:e}", case.file);
        if case.ops.iter().any(|o| o == "MatMulInteger" || o == "QLinearMatMul") {
            int8 += 1;
        }
    }
    assert!(int8 >= 4, "integer-kernel models exercised: {int8}");
}
