//! The promotion gate: `--require 'roc_auc>=0.83'` against a version's manifest metrics, and
//! `--not-worse-than production` against the version an alias points at.

use std::collections::BTreeMap;

/// One requirement: `metric OP value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Requirement {
    pub metric: String,
    pub op: &'static str,
    pub value: f64,
}

const OPS: [&str; 5] = [">=", "<=", "==", ">", "<"];

/// Metrics where lower is better (the rest: higher is better).
pub fn lower_is_better(metric: &str) -> bool {
    matches!(metric, "log_loss" | "brier" | "rmse" | "mae" | "fp" | "fn")
}

impl std::str::FromStr for Requirement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        for op in OPS {
            if let Some((m, v)) = s.split_once(op) {
                let value: f64 = v.trim().parse().map_err(|_| format!("{s:?}: {:?} is not a number", v.trim()))?;
                let metric = m.trim().to_string();
                if metric.is_empty() || metric.contains(['<', '>', '=', '!']) {
                    return Err(format!("{s:?}: {metric:?} is not a metric name"));
                }
                return Ok(Requirement { metric, op, value });
            }
        }
        Err(format!("{s:?} is not METRIC OP VALUE with OP one of >= <= == > <"))
    }
}

impl Requirement {
    /// Ok, or the reason it fails.
    pub fn check(&self, metrics: &BTreeMap<String, f64>) -> Result<(), String> {
        let v = *metrics.get(&self.metric).ok_or_else(|| {
            format!(
                "the model has no metric `{}` (it has: {})",
                self.metric,
                metrics.keys().cloned().collect::<Vec<_>>().join(", ")
            )
        })?;
        let ok = match self.op {
            ">=" => v >= self.value,
            "<=" => v <= self.value,
            ">" => v > self.value,
            "<" => v < self.value,
            _ => v == self.value,
        };
        if ok { Ok(()) } else { Err(format!("{} is {v:.4}, required {} {}", self.metric, self.op, self.value)) }
    }
}

/// Checks a candidate against the requirements and, if given, against the incumbent's metrics
/// (each required metric, or `roc_auc` when none is named, must not be worse).
pub fn gate(
    candidate: &BTreeMap<String, f64>,
    requirements: &[Requirement],
    incumbent: Option<(&str, &BTreeMap<String, f64>)>,
) -> Result<(), Vec<String>> {
    let mut reasons: Vec<String> = requirements.iter().filter_map(|r| r.check(candidate).err()).collect();
    if let Some((label, inc)) = incumbent {
        let mut names: Vec<&str> = requirements.iter().map(|r| r.metric.as_str()).collect();
        if names.is_empty() {
            names.push("roc_auc");
        }
        names.dedup();
        for m in names {
            match (candidate.get(m), inc.get(m)) {
                (Some(c), Some(i)) => {
                    let worse = if lower_is_better(m) { c > i } else { c < i };
                    if worse {
                        reasons.push(format!("{m} is {c:.4}, worse than {label}'s {i:.4}"));
                    }
                }
                (None, _) => reasons.push(format!("the model has no metric `{m}`")),
                (_, None) => reasons.push(format!("{label} has no metric `{m}` to compare with")),
            }
        }
    }
    if reasons.is_empty() { Ok(()) } else { Err(reasons) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirements_parse_and_gate() {
        let r: Requirement = "roc_auc>=0.83".parse().unwrap();
        assert_eq!((r.metric.as_str(), r.op, r.value), ("roc_auc", ">=", 0.83));
        assert!("roc_auc=>1".parse::<Requirement>().is_err());
        assert!(">=1".parse::<Requirement>().is_err());
        let m = BTreeMap::from([("roc_auc".to_string(), 0.85), ("log_loss".to_string(), 0.40)]);
        let inc = BTreeMap::from([("roc_auc".to_string(), 0.84), ("log_loss".to_string(), 0.39)]);
        assert!(gate(&m, std::slice::from_ref(&r), Some(("production", &inc))).is_ok());
        let e = gate(&m, &["log_loss<=0.5".parse().unwrap()], Some(("production", &inc))).unwrap_err();
        assert_eq!(e, vec!["log_loss is 0.4000, worse than production's 0.3900".to_string()]);
        let e = gate(&m, &["roc_auc>=0.9".parse().unwrap(), "f1>0".parse().unwrap()], None).unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e[1].contains("no metric `f1`"));
    }
}
