//! A/B tests, canaries and shadow deployments inside the function: a deployment names a second
//! model (the candidate), the share of traffic it gets and what a request is split on.
//!
//! Routing is a pure function of the split key: [`bucket`] hashes the key to one of
//! [`BUCKETS`] buckets (64-bit FNV-1a, then the splitmix64 finalizer: integer arithmetic only,
//! so every platform — native, wasip2, V8 — puts a key in the same bucket), and buckets below
//! the share go to the candidate. Raising the share only adds buckets, so a key that reached
//! the candidate at 5 % stays there at 20 % and 50 %: a gradual rollout never moves a customer
//! back and forth. A request without a key (no header, no such column) is split at random.
//!
//! In [`Mode::Shadow`] every row is scored by both models, the primary answers and the
//! candidate's predictions only reach the metrics and the request log.

use crate::config::var;

/// How many buckets a share is counted in (a share has a resolution of 0.01 %).
pub const BUCKETS: u32 = 10_000;

/// What the candidate does with its traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The candidate answers its share of the rows (an A/B test, a canary, a rollout step).
    Split,
    /// Both score every row; the primary answers.
    Shadow,
}

/// What a request is split on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitKey {
    /// An input column's value, row by row (`column:customerID`).
    Column(String),
    /// A request header's value (`header:x-user-id`), for the whole request.
    Header(String),
    /// Nothing: every request is split at random.
    Random,
}

/// Which model answered a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Primary,
    Candidate,
}

impl Variant {
    /// The name metrics and logs use: `primary` or `candidate`.
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Primary => "primary",
            Variant::Candidate => "candidate",
        }
    }
}

/// A deployment's experiment: the candidate's share, the split key and the mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Experiment {
    /// Buckets (of [`BUCKETS`]) that go to the candidate.
    pub share: u32,
    pub key: SplitKey,
    pub mode: Mode,
}

/// The bucket of a split key, in `0..BUCKETS`; the same on every platform.
pub fn bucket(key: &str) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (mix(h) % u64::from(BUCKETS)) as u32
}

/// The splitmix64 finalizer: FNV-1a's low bits alone are not uniform enough for short keys.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SplitKey {
    /// Reads `column:NAME`, `header:NAME` (the name in lowercase) or `random` (also empty).
    pub fn parse(s: &str) -> Result<SplitKey, String> {
        match s.trim() {
            "" | "random" => Ok(SplitKey::Random),
            k => match k.split_once(':') {
                Some(("column", c)) if !c.trim().is_empty() => Ok(SplitKey::Column(c.trim().to_string())),
                Some(("header", h)) if !h.trim().is_empty() => Ok(SplitKey::Header(h.trim().to_ascii_lowercase())),
                _ => Err(format!(
                    "`{}` is {k:?}; it takes `column:NAME` (an input column, row by row), `header:NAME` or `random`",
                    var::SPLIT_KEY
                )),
            },
        }
    }
}

impl Experiment {
    /// Reads the settings: the share (`0.2` or `20%`, 0 to 1), the split key (`column:NAME`,
    /// `header:NAME` or `random`; default random) and the mode (`split`, the default, or
    /// `shadow`). Errors say which setting and what it takes.
    pub fn parse(share: Option<&str>, key: Option<&str>, mode: Option<&str>) -> Result<Experiment, String> {
        let mode = match mode.map(str::trim).unwrap_or("") {
            "" | "split" | "ab" | "canary" => Mode::Split,
            "shadow" => Mode::Shadow,
            other => {
                return Err(format!(
                    "`{}` is {other:?}; it takes `split` (the candidate answers its share) or `shadow`",
                    var::EXPERIMENT_MODE
                ));
            }
        };
        let share = match share.map(str::trim).filter(|s| !s.is_empty()) {
            None if mode == Mode::Shadow => BUCKETS,
            None => {
                return Err(format!(
                    "a candidate model needs `{}`: the share of traffic it answers, such as 0.2 or 20%",
                    var::CANDIDATE_SHARE
                ));
            }
            Some(s) => {
                let (text, scale) = match s.strip_suffix('%') {
                    Some(p) => (p.trim(), 100.0),
                    None => (s, 1.0),
                };
                let f = text.parse::<f64>().ok().map(|f| f / scale).filter(|f| (0.0..=1.0).contains(f)).ok_or_else(
                    || {
                        format!(
                            "`{}` is {s:?}; it takes a share from 0 to 1 (0.2) or a percentage (20%)",
                            var::CANDIDATE_SHARE
                        )
                    },
                )?;
                (f * f64::from(BUCKETS)).round() as u32
            }
        };
        let key = SplitKey::parse(key.unwrap_or(""))?;
        Ok(Experiment { share, key, mode })
    }

    /// The variant a key goes to.
    pub fn variant(&self, key: &str) -> Variant {
        self.of_bucket(bucket(key))
    }

    /// The variant of a bucket.
    pub fn of_bucket(&self, b: u32) -> Variant {
        if b < self.share { Variant::Candidate } else { Variant::Primary }
    }

    /// The candidate's share, from 0 to 1.
    pub fn share(&self) -> f64 {
        f64::from(self.share) / f64::from(BUCKETS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_or_say_what_they_take() {
        let e = Experiment::parse(Some("20%"), Some("column:customerID"), None).unwrap();
        assert_eq!(e, Experiment { share: 2000, key: SplitKey::Column("customerID".into()), mode: Mode::Split });
        let e = Experiment::parse(Some("0.05"), Some("header:X-User"), Some("split")).unwrap();
        assert_eq!((e.share, e.key), (500, SplitKey::Header("x-user".into())));
        assert_eq!(Experiment::parse(None, None, Some("shadow")).unwrap().share, BUCKETS);
        assert!(Experiment::parse(None, None, None).unwrap_err().contains("candidate_share"));
        assert!(Experiment::parse(Some("120%"), None, None).unwrap_err().contains("from 0 to 1"));
        assert!(Experiment::parse(Some("half"), None, None).is_err());
        assert!(Experiment::parse(Some("0.2"), Some("cookie:x"), None).unwrap_err().contains("column:NAME"));
        assert!(Experiment::parse(Some("0.2"), None, Some("mirror")).unwrap_err().contains("shadow"));
    }

    #[test]
    fn buckets_are_pinned_uniform_and_monotone_in_the_share() {
        // Pinned (computed independently of this code): every platform, and every deployment
        // already running an experiment, must keep putting these keys in these buckets.
        let pinned: Vec<u32> = ["", "7590-VHVEG", "5575-GNVDE", "3668-QPYBK"].iter().map(|k| bucket(k)).collect();
        assert_eq!(pinned, [6203, 4907, 4037, 8631]);
        let e = Experiment::parse(Some("0.2"), None, None).unwrap();
        let n = 100_000;
        let hits = (0..n).filter(|i| e.variant(&format!("{i:04}-KEY")) == Variant::Candidate).count();
        let share = hits as f64 / n as f64;
        assert!((share - 0.2).abs() < 0.005, "{share}");
        let wider = Experiment::parse(Some("0.5"), None, None).unwrap();
        for i in 0..10_000 {
            let k = format!("c{i}");
            if e.variant(&k) == Variant::Candidate {
                assert_eq!(wider.variant(&k), Variant::Candidate, "{k} left the candidate when the share grew");
            }
        }
    }
}
