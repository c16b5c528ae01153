//! Any `Range` header against any body length: a range inside the body, or refused.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scorelet_registry::server::parse_range;

fuzz_target!(|input: (u64, &str)| {
    let (len, header) = input;
    let len = len % (1 << 40);
    if let Some((a, b)) = parse_range(header, len) {
        assert!(a <= b && b < len, "{header:?} of {len}: {a}-{b}");
    }
});
