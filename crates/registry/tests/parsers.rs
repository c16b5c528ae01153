//! Bounded property tests of the registry's parsers on stable (the coverage-guided targets in
//! `fuzz/` run the same inputs longer under nightly): the tar upload reader, the Range parser,
//! and the core's `Fetch` state machine against a registry that lies. None may panic; each
//! must answer within its contract.

use proptest::prelude::*;
use scorelet::registry::{Fetch, ModelRef};
use scorelet_registry::archive::unpack;
use scorelet_registry::server::parse_range;

fn fixture_manifest() -> Vec<u8> {
    std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/bundle/manifest.json")).unwrap()
}

/// A tar with one entry of `kind`, `name`, declared `size` and `data`, headers unchecked.
fn tar_entry(kind: u8, name: &[u8], size: u64, data: &[u8]) -> Vec<u8> {
    let mut h = tar::Header::new_gnu();
    let n = name.len().min(100);
    h.as_gnu_mut().unwrap().name[..n].copy_from_slice(&name[..n]);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_size(size);
    h.set_mode(0o644);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512 + 1024, 0);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_tar_reader_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = unpack(&bytes[..], 1 << 20);
    }

    #[test]
    fn the_tar_reader_keeps_its_limit_on_any_header(
        kind in any::<u8>(),
        name in proptest::collection::vec(any::<u8>(), 1..120),
        size in any::<u64>(),
        data in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let tar = tar_entry(kind, &name, size, &data);
        if let Ok((_, files)) = unpack(&tar[..], 1024) {
            // Accepted only with a manifest; an accepted entry is a plain name within the limit.
            prop_assert!(files.values().all(|f| f.len() <= 1024));
        }
    }

    #[test]
    fn ranges_are_inside_the_body_or_refused(header in prop_oneof!["\\PC{0,40}", "bytes=[0-9 ,-]{0,14}"], len in 0u64..10_000) {
        if let Some((a, b)) = parse_range(&header, len) {
            prop_assert!(a <= b && b < len, "{header:?} of {len}: {a}-{b}");
        }
    }

    #[test]
    fn well_formed_ranges_parse(a in 0u64..1000, n in 1u64..1000, len in 1u64..2000) {
        let b = a + n - 1;
        let got = parse_range(&format!("bytes={a}-{b}"), len);
        if a < len {
            prop_assert_eq!(got, Some((a, b.min(len - 1))));
        } else {
            prop_assert_eq!(got, None);
        }
        prop_assert_eq!(parse_range(&format!("bytes=-{n}"), len), Some((len.saturating_sub(n), len - 1)));
    }

    /// A registry that answers each GET with arbitrary bytes, or with the real manifest cut or
    /// flipped: the fetch fails with an error or finishes with a bundle that verifies.
    #[test]
    fn a_lying_registry_cannot_make_fetch_panic_or_accept_garbage(
        answers in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 1..8),
        cut in any::<prop::sample::Index>(),
        flip in any::<prop::sample::Index>(),
        alias in any::<bool>(),
        intact in any::<bool>(),
    ) {
        let r: ModelRef = if alias { "churn@production" } else { "churn@1" }.parse().unwrap();
        let manifest = fixture_manifest();
        let mut f = Fetch::new("http://r", &r);
        let mut answers = answers.into_iter();
        let mut first = true;
        while f.next_url().is_some() {
            let body = if first && !alias {
                first = false;
                let mut m = if intact { manifest.clone() } else { manifest[..cut.index(manifest.len() + 1)].to_vec() };
                if !m.is_empty() && !intact {
                    let i = flip.index(m.len());
                    m[i] ^= 0x20;
                }
                m
            } else {
                match answers.next() { Some(b) => b, None => break }
            };
            if f.feed(body).is_err() {
                prop_assert!(f.next_url().is_none(), "a failed fetch asks for more");
                break;
            }
        }
        // Arbitrary bytes never match a file's sha256: nothing is accepted.
        prop_assert!(f.finish().is_err());
    }
}
