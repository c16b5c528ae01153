//! Any bytes as a bundle's `profile.json`: refused with an error, or a profile that counts rows
//! in its bins and yields finite drift statistics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scorelet::features::FittedFeatures;
use scorelet::profile::{Histogram, Profile, drift};
use scorelet::value::ValueRef;

static FEATURES: &[u8] = include_bytes!("../../tests/fixtures/bundle/features.json");

fuzz_target!(|data: &[u8]| {
    let Ok(profile) = Profile::from_json(data) else { return };
    let fitted = FittedFeatures::from_json(FEATURES).expect("the fixture's features");
    let Ok(mut hist) = Histogram::new(&profile, &fitted, true) else { return };
    let n = hist.columns().count();
    for cell in [ValueRef::Number(1.5), ValueRef::Text("Yes"), ValueRef::Missing, ValueRef::Bool(true)] {
        hist.push(&vec![cell; n]);
    }
    for c in drift::compare(&profile, &mut hist) {
        assert!(c.psi.is_finite() && c.js.is_finite(), "{c:?}");
    }
    let d = drift::score_drift(&profile, &[drift::Score::Number(0.5), drift::Score::Label("x".into())]);
    assert!(d.psi.is_finite());
});
