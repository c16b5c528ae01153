//! Reading raw cells: the readers the fit pass and the transform share, so a value means the
//! same thing at training and at serving time (missing tokens, number parsing, boolean tokens,
//! category text, the feature-hashing function).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::{Error, InputError, Result};
use crate::value::{ValueRef, number_as_category};

/// FNV-1a (64 bit) for the per-cell lookups (missing tokens, category indexes, boolean tokens):
/// several times cheaper than std's SipHash on short keys. Flooding is not a concern: the tables
/// come from the bundle, a request only looks keys up.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A set of tokens looked up per cell.
pub type TokenSet = HashSet<String, BuildHasherDefault<Fnv>>;
/// A map from category text, looked up per cell.
pub type TokenMap<V> = HashMap<String, V, BuildHasherDefault<Fnv>>;

/// A parsed raw value of a numeric column: a number, or missing.
pub(crate) fn read_number(v: ValueRef<'_>, missing: &TokenSet, row: usize, column: &str) -> Result<Option<f32>> {
    let x = match v {
        ValueRef::Missing => return Ok(None),
        ValueRef::Number(n) => n,
        ValueRef::Text(s) => {
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
        ValueRef::Bool(_) => {
            return Err(Error::input(row, column, InputError::WrongType { expected: "a number", got: v.describe() }));
        }
    };
    let y = x as f32;
    if !y.is_finite() {
        return Err(Error::input(row, column, InputError::NonFinite { value: format!("{x}") }));
    }
    Ok(Some(y))
}

/// A parsed raw value of a categorical column: its category text (borrowed from the cell when it
/// is text), or missing.
pub(crate) fn read_category<'a>(v: ValueRef<'a>, missing: &TokenSet) -> Option<Cow<'a, str>> {
    match v {
        ValueRef::Missing => None,
        ValueRef::Number(n) => Some(Cow::Owned(number_as_category(n))),
        ValueRef::Bool(b) => Some(Cow::Borrowed(if b { "true" } else { "false" })),
        ValueRef::Text(s) => {
            let t = s.trim();
            if missing.contains(t) { None } else { Some(Cow::Borrowed(t)) }
        }
    }
}

/// A parsed raw value of a boolean column.
pub(crate) fn read_bool(
    v: ValueRef<'_>,
    missing: &TokenSet,
    truthy: &TokenSet,
    falsy: &TokenSet,
    row: usize,
    column: &str,
) -> Result<Option<bool>> {
    let wrong = || Error::input(row, column, InputError::WrongType { expected: "a boolean", got: v.describe() });
    match v {
        ValueRef::Missing => Ok(None),
        ValueRef::Bool(b) => Ok(Some(b)),
        ValueRef::Number(1.0) => Ok(Some(true)),
        ValueRef::Number(0.0) => Ok(Some(false)),
        ValueRef::Number(_) => Err(wrong()),
        ValueRef::Text(s) => {
            let t = s.trim();
            if missing.contains(t) {
                return Ok(None);
            }
            // Short ASCII tokens are lowercased on the stack; anything else the Unicode way.
            let mut buf = [0u8; 32];
            let l: Cow<'_, str> = match buf.get_mut(..t.len()) {
                Some(b) if t.is_ascii() => {
                    b.copy_from_slice(t.as_bytes());
                    b.make_ascii_lowercase();
                    Cow::Borrowed(std::str::from_utf8(b).expect("ASCII"))
                }
                _ => Cow::Owned(t.to_lowercase()),
            };
            let l = l.as_ref();
            if truthy.contains(l) {
                Ok(Some(true))
            } else if falsy.contains(l) {
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

/// A column's missing tokens as looked up per cell: trimmed, case kept.
pub(crate) fn missing_set(tokens: &[String]) -> TokenSet {
    tokens.iter().map(|t| t.trim().to_string()).collect()
}

pub(crate) fn lower_set(tokens: &[String]) -> TokenSet {
    tokens.iter().map(|t| t.trim().to_lowercase()).collect()
}
