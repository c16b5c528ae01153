//! Any bytes as an ONNX file: the protobuf decoder and the compiled engine's plan builder must
//! return an error or a plan, never panic, hang or allocate without bound; a plan that builds
//! must run a batch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scorelet::model::{Engine, Model};

fuzz_target!(|data: &[u8]| {
    let Some((&width, onnx)) = data.split_first() else { return };
    let width = usize::from(width % 64) + 1;
    if let Ok(m) = scorelet::model::pb::decode(onnx) {
        for output in m.graph.outputs.iter().take(2) {
            if let Ok(model) = Model::load_with(onnx, width, output, Engine::Compiled) {
                let batch = vec![0.5f32; width * 3];
                let out = model.run(&batch, 3).expect("a compiled plan runs");
                assert_eq!(out.data.len(), 3 * out.width);
            }
        }
    }
});
