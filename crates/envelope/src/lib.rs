//! The JSON error body every scorelet endpoint answers with: the scoring function (every
//! platform), the wasmtime host's own errors (timeouts, limits) and the registry.

use serde_json::{Value, json};

/// `{"error": {"code", "message"}}`; the core adds `row` and `column` for bad input.
pub fn error_body(code: &str, message: &str) -> Value {
    json!({ "error": { "code": code, "message": message } })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_envelope_has_code_and_message() {
        let b = super::error_body("timeout", "too slow");
        assert_eq!(b.to_string(), r#"{"error":{"code":"timeout","message":"too slow"}}"#);
    }
}
