//! Raw input values, before any feature transform.

use crate::error::{Error, InputError, Result};

/// One raw cell as it arrives from CSV or JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null` or an absent optional value.
    Missing,
    /// A JSON number (CSV cells stay [`Value::Text`] and are parsed by the column's kind).
    Number(f64),
    /// A string (every CSV cell).
    Text(String),
    /// A JSON boolean.
    Bool(bool),
}

/// One row, with one value per input column in the model's signature order.
pub type Row = Vec<Value>;

/// A [`Value`] that borrows its text: what the feature pipeline reads, so a cell parsed from a
/// CSV record or a request body needs no `String` of its own.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Missing,
    Number(f64),
    Text(&'a str),
    Bool(bool),
}

impl ValueRef<'_> {
    /// The owned [`Value`].
    pub fn to_value(&self) -> Value {
        match *self {
            ValueRef::Missing => Value::Missing,
            ValueRef::Number(n) => Value::Number(n),
            ValueRef::Text(s) => Value::Text(s.to_string()),
            ValueRef::Bool(b) => Value::Bool(b),
        }
    }

    /// A short description for error messages.
    pub fn describe(&self) -> String {
        match self {
            ValueRef::Missing => "null".into(),
            ValueRef::Number(n) => format!("number {n}"),
            ValueRef::Text(s) => format!("string {:?}", truncate(s, 40)),
            ValueRef::Bool(b) => format!("boolean {b}"),
        }
    }
}

impl Value {
    /// Converts a JSON scalar. Arrays and objects are not cell values.
    pub fn from_json(v: &serde_json::Value, row: usize, column: &str) -> Result<Value> {
        Ok(match v {
            serde_json::Value::Null => Value::Missing,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::Text(s.clone()),
            serde_json::Value::Array(_) => {
                return Err(wrong(row, column, "a scalar value", "an array"));
            }
            serde_json::Value::Object(_) => {
                return Err(wrong(row, column, "a scalar value", "an object"));
            }
        })
    }

    /// Back to JSON (for golden files and echoing rows).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Missing => serde_json::Value::Null,
            Value::Number(n) => {
                serde_json::Number::from_f64(*n).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::Bool(b) => serde_json::Value::Bool(*b),
        }
    }

    /// The borrowed view the feature pipeline reads.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Missing => ValueRef::Missing,
            Value::Number(n) => ValueRef::Number(*n),
            Value::Text(s) => ValueRef::Text(s),
            Value::Bool(b) => ValueRef::Bool(*b),
        }
    }

    /// A short description for error messages.
    pub fn describe(&self) -> String {
        self.as_ref().describe()
    }
}

fn wrong(row: usize, column: &str, expected: &'static str, got: &str) -> Error {
    Error::input(row, column, InputError::WrongType { expected, got: got.to_string() })
}

/// Cuts a string to at most `max` characters for display.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max).collect();
        t.push('…');
        t
    }
}

/// The canonical text of a number used as a category: integers without a fraction (`0`, not `0.0`),
/// others in Rust's shortest round-trip form. JSON `0` and CSV `"0"` then name the same category.
pub fn number_as_category(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 { format!("{}", n as i64) } else { format!("{n}") }
}

/// An f32 as a JSON number in its shortest round-trip form (`0.38986057`, not the f64 expansion
/// `0.3898605704307556`). Parsing the text back as f32 gives the same bits on every platform.
/// Non-finite values become `null`.
pub fn f32_json(x: f32) -> serde_json::Value {
    f32_number(x).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
}

/// [`f32_json`]'s number, or `None` for a non-finite value. Formatted on the stack: the response
/// writer calls it for every score.
pub fn f32_number(x: f32) -> Option<serde_json::Number> {
    use std::fmt::Write;
    // Rust's float Display is the shortest text that round-trips; as f64 that text serializes
    // back to itself. No f32 needs more than 64 bytes of it.
    struct Stack([u8; 64], usize);
    impl Write for Stack {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.1 + s.len();
            self.0.get_mut(self.1..end).ok_or(std::fmt::Error)?.copy_from_slice(s.as_bytes());
            self.1 = end;
            Ok(())
        }
    }
    let mut t = Stack([0; 64], 0);
    write!(t, "{x}").ok()?;
    let v = std::str::from_utf8(&t.0[..t.1]).ok()?.parse::<f64>().ok()?;
    serde_json::Number::from_f64(v)
}

/// A slice of f32 as a JSON array (see [`f32_json`]).
pub fn f32s_json(v: &[f32]) -> serde_json::Value {
    serde_json::Value::Array(v.iter().map(|x| f32_json(*x)).collect())
}
