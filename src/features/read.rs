//! Reading raw cells: the readers the fit pass and the transform share, so a value means the
//! same thing at training and at serving time (missing tokens, number parsing, boolean tokens,
//! category text, the feature-hashing function).

use std::collections::HashSet;

use crate::error::{Error, InputError, Result};
use crate::value::{Value, number_as_category};

/// A parsed raw value of a numeric column: a number, or missing.
pub(crate) fn read_number(v: &Value, missing: &HashSet<String>, row: usize, column: &str) -> Result<Option<f32>> {
    let x = match v {
        Value::Missing => return Ok(None),
        Value::Number(n) => *n,
        Value::Text(s) => {
            let t = s.trim();
            if missing.contains(t) {
                return Ok(None);
            }
            // Text goes through f64 exactly like a JSON number does, so "29.85" in a CSV and
            // 29.85 in JSON give the same f32.
            t.parse::<f64>().map_err(|_| {
                Error::input(row, column, InputError::WrongType { expected: "a number", got: v.describe() })
            })?
        }
        Value::Bool(_) => {
            return Err(Error::input(row, column, InputError::WrongType { expected: "a number", got: v.describe() }));
        }
    };
    let y = x as f32;
    if !y.is_finite() {
        return Err(Error::input(row, column, InputError::NonFinite { value: format!("{x}") }));
    }
    Ok(Some(y))
}

/// A parsed raw value of a categorical column: its category text, or missing.
pub(crate) fn read_category(v: &Value, missing: &HashSet<String>) -> Option<String> {
    match v {
        Value::Missing => None,
        Value::Number(n) => Some(number_as_category(*n)),
        Value::Bool(b) => Some(b.to_string()),
        Value::Text(s) => {
            let t = s.trim();
            if missing.contains(t) { None } else { Some(t.to_string()) }
        }
    }
}

/// A parsed raw value of a boolean column.
pub(crate) fn read_bool(
    v: &Value,
    missing: &HashSet<String>,
    truthy: &HashSet<String>,
    falsy: &HashSet<String>,
    row: usize,
    column: &str,
) -> Result<Option<bool>> {
    let wrong = || Error::input(row, column, InputError::WrongType { expected: "a boolean", got: v.describe() });
    match v {
        Value::Missing => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) if *n == 1.0 => Ok(Some(true)),
        Value::Number(n) if *n == 0.0 => Ok(Some(false)),
        Value::Number(_) => Err(wrong()),
        Value::Text(s) => {
            let t = s.trim();
            if missing.contains(t) {
                return Ok(None);
            }
            let l = t.to_lowercase();
            if truthy.contains(&l) {
                Ok(Some(true))
            } else if falsy.contains(&l) {
                Ok(Some(false))
            } else {
                Err(wrong())
            }
        }
    }
}

/// FNV-1a (32 bit) of a category's UTF-8 bytes: tiny, portable and stable across versions,
/// which is all feature hashing needs (std's hasher is randomized and may change).
pub fn fnv1a(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

pub(crate) fn lower_set(tokens: &[String]) -> HashSet<String> {
    tokens.iter().map(|t| t.trim().to_lowercase()).collect()
}
