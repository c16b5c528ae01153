//! The one error type of the core. Every variant says what went wrong in words a user can act on.
//! Bad input is one variant, [`Error::Input`], with the row, the column and an [`InputError`]
//! saying what is wrong with it; a model that cannot be had is told apart by where it failed
//! (fetching, the registry's answer, the configuration, the bundle itself). Adapters map it to
//! HTTP with [`Error::http_status`] and to a JSON body with [`Error::to_json`]; [`error_body`] is
//! the one place that envelope is built.

use serde_json::{Value as Json, json};

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between raw input and a prediction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// A row of the request (0-based) has a problem in one column.
    #[error("row {row}{}", input_message(column, kind))]
    Input { row: usize, column: String, kind: InputError },
    #[error("the batch is empty: send at least one row")]
    EmptyBatch,
    #[error("the batch has {rows} rows; the limit is {max}")]
    BatchTooLarge { rows: usize, max: usize },
    #[error("malformed request: {0}")]
    BadRequest(String),
    /// A GET for the model failed: the registry is down, refused, or answered non-2xx.
    #[error("cannot fetch {url}: {message}")]
    Fetch { url: String, message: String },
    /// The registry answered, but not with what was asked for (bad alias document, another
    /// model or version).
    #[error("the registry's answer is wrong: {0}")]
    Registry(String),
    /// The runtime is not told where its model is, or a setting is invalid.
    #[error("configuration: {0}")]
    Config(String),
    #[error("invalid bundle: {0}")]
    Bundle(String),
    #[error("bundle file `{file}` does not match the manifest: {detail}")]
    DigestMismatch { file: String, detail: String },
    #[error("model: {0}")]
    Model(String),
    #[error("feature spec: {0}")]
    Spec(String),
    #[error("golden check failed: {0}")]
    Golden(String),
}

/// What is wrong with one cell (or column) of the input.
#[derive(Debug, Clone, PartialEq)]
pub enum InputError {
    /// The model needs this column and the row does not have it.
    MissingColumn,
    /// The row has a column the model does not take (and does not ignore).
    UnknownColumn {
        expected: String,
    },
    WrongType {
        expected: &'static str,
        got: String,
    },
    NonFinite {
        value: String,
    },
    OutOfDomain {
        value: String,
        transform: &'static str,
    },
    UnknownCategory {
        value: String,
        known: String,
    },
    /// The value is missing and the column's policy is `error`.
    MissingValue,
}

fn input_message(column: &str, kind: &InputError) -> String {
    match kind {
        InputError::MissingColumn => format!(": missing column `{column}`"),
        InputError::UnknownColumn { expected } => {
            format!(": unknown column `{column}`; the model's inputs are: {expected}")
        }
        InputError::WrongType { expected, got } => format!(", column `{column}`: expected {expected}, got {got}"),
        InputError::NonFinite { value } => format!(", column `{column}`: value {value} is not a finite number"),
        InputError::OutOfDomain { value, transform } => {
            format!(", column `{column}`: value {value} is outside the domain of {transform}")
        }
        InputError::UnknownCategory { value, known } => {
            format!(", column `{column}`: unknown category {value:?} (known: {known})")
        }
        InputError::MissingValue => {
            format!(", column `{column}`: value is missing and the column does not allow missing values")
        }
    }
}

impl InputError {
    /// A stable machine-readable code, e.g. `missing_column`.
    pub fn code(&self) -> &'static str {
        match self {
            InputError::MissingColumn => "missing_column",
            InputError::UnknownColumn { .. } => "unknown_column",
            InputError::WrongType { .. } => "wrong_type",
            InputError::NonFinite { .. } => "non_finite",
            InputError::OutOfDomain { .. } => "out_of_domain",
            InputError::UnknownCategory { .. } => "unknown_category",
            InputError::MissingValue => "missing_value",
        }
    }
}

/// The JSON error body every scorelet endpoint answers with (scoring function, registry, hosts):
/// `{"error": {"code", "message"}}`, defined once in `scorelet-envelope`. [`Error::to_json`] adds
/// `row` and `column` for bad input.
pub use scorelet_envelope::error_body;

impl Error {
    /// An input error at `row`, `column`.
    pub fn input(row: usize, column: impl Into<String>, kind: InputError) -> Error {
        Error::Input { row, column: column.into(), kind }
    }

    /// A stable machine-readable code, e.g. `missing_column`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Input { kind, .. } => kind.code(),
            Error::EmptyBatch => "empty_batch",
            Error::BatchTooLarge { .. } => "batch_too_large",
            Error::BadRequest(_) => "bad_request",
            Error::Fetch { .. } => "fetch_failed",
            Error::Registry(_) => "registry_error",
            Error::Config(_) => "not_configured",
            Error::Bundle(_) => "invalid_bundle",
            Error::DigestMismatch { .. } => "digest_mismatch",
            Error::Model(_) => "model_error",
            Error::Spec(_) => "invalid_spec",
            Error::Golden(_) => "golden_mismatch",
        }
    }

    /// The HTTP status an adapter should answer with: 4xx for the caller's input, 5xx for ours
    /// (503 while the model cannot be had: the function is not ready).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::BatchTooLarge { .. } => 413,
            Error::Fetch { .. }
            | Error::Registry(_)
            | Error::Config(_)
            | Error::Bundle(_)
            | Error::DigestMismatch { .. }
            | Error::Golden(_) => 503,
            Error::Model(_) | Error::Spec(_) => 500,
            Error::Input { .. } | Error::EmptyBatch | Error::BadRequest(_) => 400,
        }
    }

    /// Whether the caller's input is at fault (a 4xx).
    pub fn is_input(&self) -> bool {
        self.http_status() < 500
    }

    /// The row (0-based, within the request) the error is about, if any.
    pub fn row(&self) -> Option<usize> {
        match self {
            Error::Input { row, .. } => Some(*row),
            _ => None,
        }
    }

    /// The column the error is about, if any.
    pub fn column(&self) -> Option<&str> {
        match self {
            Error::Input { column, .. } => Some(column),
            _ => None,
        }
    }

    /// The same error with its row number shifted by `offset` (for errors found in a chunk of a
    /// larger input).
    pub fn offset_row(mut self, offset: usize) -> Self {
        if let Error::Input { row, .. } = &mut self {
            *row += offset;
        }
        self
    }

    /// The JSON error body shared by every platform:
    /// `{"error": {"code", "message", "row"?, "column"?}}`.
    pub fn to_json(&self) -> Json {
        let mut body = error_body(self.code(), &self.to_string());
        if let Error::Input { row, column, .. } = self {
            body["error"]["row"] = json!(row);
            body["error"]["column"] = json!(column);
        }
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_name_row_and_column_in_text_and_json() {
        let e = Error::input(2, "tenure", InputError::WrongType { expected: "a number", got: "string \"x\"".into() });
        assert_eq!(e.to_string(), "row 2, column `tenure`: expected a number, got string \"x\"");
        assert_eq!(e.http_status(), 400);
        assert_eq!(
            e.to_json(),
            json!({"error": {"code": "wrong_type", "message": e.to_string(), "row": 2, "column": "tenure"}})
        );
        assert_eq!(Error::input(0, "a", InputError::MissingColumn).to_string(), "row 0: missing column `a`");
        assert_eq!(e.clone().offset_row(10).row(), Some(12));
    }

    #[test]
    fn an_unreachable_registry_is_not_an_invalid_bundle() {
        let e = Error::Fetch { url: "http://127.0.0.1:9/v1/x".into(), message: "connection refused".into() };
        assert_eq!(e.code(), "fetch_failed");
        assert_eq!(e.http_status(), 503);
        assert!(!e.to_string().contains("invalid bundle"), "{e}");
        assert_eq!(e.to_json()["error"].get("row"), None);
        assert!(!e.is_input());
        assert_eq!(Error::Config("no model".into()).code(), "not_configured");
    }
}
