//! Time: RFC 3339 timestamps without a date-time dependency (bundles and the registry record
//! them), and the monotonic clock latency metrics read.

pub use scorelet_metrics::time::{rfc3339, rfc3339_millis};

/// A system time as RFC 3339 UTC (times before 1970 print as the epoch).
pub fn rfc3339_of(t: std::time::SystemTime) -> String {
    rfc3339(t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0))
}

/// The current time as RFC 3339 UTC. Native and WASI only: `SystemTime::now` is unavailable in
/// browsers.
pub fn now_rfc3339() -> String {
    rfc3339_of(std::time::SystemTime::now())
}

/// A monotonic clock in nanoseconds from an arbitrary start: what the service's latency
/// measurements read. Browsers and workers have no `Instant`; there it reads 0 (nothing is
/// measured) unless the adapter gives the service a clock of its own.
pub type Clock = fn() -> u64;

/// The platform's monotonic clock as a [`Clock`].
#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
pub fn monotonic_ns() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_nanos() as u64
}

/// No clock in browsers and workers without one given: 0.
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub fn monotonic_ns() -> u64 {
    0
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
