//! The core's `Fetch` state machine against a registry that lies: each GET is answered with
//! fuzzer bytes, or first with the real manifest cut and flipped. It fails with an error or
//! finishes with a bundle that verifies; arbitrary bytes never match a file's sha256, so it must
//! never finish. Never a panic, never a request after a failure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scorelet::registry::{Fetch, ModelRef};

const MANIFEST: &[u8] = include_bytes!("../../tests/fixtures/bundle/manifest.json");

fuzz_target!(|input: (bool, bool, u16, u16, Vec<Vec<u8>>)| {
    let (alias, intact, cut, flip, answers) = input;
    let r: ModelRef = if alias { "churn@production" } else { "churn@1" }.parse().unwrap();
    let mut f = Fetch::new("http://r", &r);
    let mut answers = answers.into_iter();
    let mut first = true;
    while f.next_url().is_some() {
        let body = if first && !alias {
            first = false;
            let mut m =
                if intact { MANIFEST.to_vec() } else { MANIFEST[..cut as usize % (MANIFEST.len() + 1)].to_vec() };
            if !m.is_empty() && !intact {
                let i = flip as usize % m.len();
                m[i] ^= 0x20;
            }
            m
        } else {
            match answers.next() {
                Some(b) => b,
                None => break,
            }
        };
        if f.feed(body).is_err() {
            assert!(f.next_url().is_none(), "a failed fetch asks for more");
            break;
        }
    }
    assert!(f.finish().is_err(), "a fetch finished on bytes that cannot match");
});
