//! Request logs: one JSON line per request, optionally with its rows and predictions.
//!
//! The line is built from the request's [`Observation`], so it says what the metrics counted.
//! Rows and predictions travel in the observation's `payload` (filled by the core's `Service`
//! for one request in [`PayloadLog::sample`], with the [`PayloadLog::deny`] columns left out);
//! whoever writes the line (the host for `scorelet serve` and Lambda, the worker) adds the
//! request id and the time.

use super::Observation;

/// What a deployment logs per request (`SCORELET_REQUEST_LOG`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogMode {
    /// Nothing (the default).
    #[default]
    Off,
    /// A line per request: time, request id, model, variant, route, status, code, rows, latency.
    On,
    /// The same, with the rows and predictions of the sampled requests.
    Payload,
}

impl LogMode {
    /// Reads `off`, `on` or `payload`.
    pub fn parse(s: &str) -> Result<LogMode, String> {
        match s.trim() {
            "" | "off" | "false" | "0" => Ok(LogMode::Off),
            "on" | "true" | "1" => Ok(LogMode::On),
            "payload" => Ok(LogMode::Payload),
            other => Err(format!("request log mode {other:?} is not one of `off`, `on`, `payload`")),
        }
    }
}

/// Which requests' rows and predictions go into the log, and which columns never do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadLog {
    /// One request in this many logs its payload (1: every request).
    pub sample: u64,
    /// Input columns never logged (personal data).
    pub deny: Vec<String>,
}

/// Most rows of one request a payload holds; the line says how many the request had.
pub const MAX_PAYLOAD_ROWS: usize = 100;

impl PayloadLog {
    /// Reads the sampling rate (a whole number ≥ 1; empty: 1) and the comma-separated deny-list.
    pub fn parse(sample: Option<&str>, deny: Option<&str>) -> Result<PayloadLog, String> {
        let sample = match sample.map(str::trim).filter(|s| !s.is_empty()) {
            None => 1,
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| format!("request log sample {s:?} is not a whole number of 1 or more"))?,
        };
        let deny = deny.unwrap_or("").split(',').map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect();
        Ok(PayloadLog { sample, deny })
    }
}

/// The request-log line of `o`, answered as request `request_id` at `timestamp_ms` (ms since
/// the epoch).
pub fn request_line(o: &Observation, request_id: &str, timestamp_ms: u64) -> String {
    let mut line = serde_json::json!({
        "time": crate::time::rfc3339_millis(timestamp_ms),
        "request_id": request_id,
        "model": o.model,
        "variant": o.variant.as_deref().unwrap_or("primary"),
        "candidate": o.candidate,
        "route": o.route,
        "status": o.status,
        "code": o.error,
        "rows": o.rows,
        "latency_ms": o.ns[3] as f64 / 1e6,
    });
    if let (Some(p), Some(map)) = (&o.payload, line.as_object_mut()) {
        map.insert("payload".into(), p.clone());
    }
    line.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_settings_parse_or_say_what_is_wrong() {
        assert_eq!(LogMode::parse("payload"), Ok(LogMode::Payload));
        assert_eq!(LogMode::parse(" on "), Ok(LogMode::On));
        assert!(LogMode::parse("verbose").unwrap_err().contains("`off`, `on`, `payload`"));
        let p = PayloadLog::parse(Some("3"), Some(" customerID, gender ,")).unwrap();
        assert_eq!(p, PayloadLog { sample: 3, deny: vec!["customerID".into(), "gender".into()] });
        assert!(PayloadLog::parse(Some("0"), None).is_err());
        assert!(PayloadLog::parse(Some("half"), None).is_err());
    }

    #[test]
    fn a_line_carries_what_the_metrics_counted() {
        let mut o = Observation::new("invocations");
        o.status = 400;
        o.error = Some("missing_column".into());
        o.ns[3] = 1_500_000;
        o.model = Some("churn@3".into());
        let line: serde_json::Value = serde_json::from_str(&request_line(&o, "abc", 1_796_400_000_123)).unwrap();
        assert_eq!(line["time"], "2026-12-04T16:00:00.123Z");
        assert_eq!((line["request_id"].as_str(), line["status"].as_u64()), (Some("abc"), Some(400)));
        assert_eq!((line["code"].as_str(), line["latency_ms"].as_f64()), (Some("missing_column"), Some(1.5)));
        assert!(line.get("payload").is_none());
    }
}
