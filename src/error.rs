//! The one error type of the core. Every variant says what went wrong in words a user can act on,
//! and, for bad input, which row and column. Adapters map it to HTTP with [`Error::http_status`]
//! and to a JSON body with [`Error::to_json`].

use serde_json::json;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong between raw input and a prediction.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("row {row}: missing column `{column}`")]
    MissingColumn { row: usize, column: String },
    #[error("row {row}: unknown column `{column}`; the model's inputs are: {expected}")]
    UnknownColumn { row: usize, column: String, expected: String },
    #[error("row {row}, column `{column}`: expected {expected}, got {got}")]
    WrongType { row: usize, column: String, expected: &'static str, got: String },
    #[error("row {row}, column `{column}`: value {value} is not a finite number")]
    NonFinite { row: usize, column: String, value: String },
    #[error("row {row}, column `{column}`: value {value} is outside the domain of {transform}")]
    OutOfDomain { row: usize, column: String, value: String, transform: &'static str },
    #[error("row {row}, column `{column}`: unknown category {value:?} (known: {known})")]
    UnknownCategory { row: usize, column: String, value: String, known: String },
    #[error("row {row}, column `{column}`: value is missing and the column does not allow missing values")]
    MissingValue { row: usize, column: String },
    #[error("the batch is empty: send at least one row")]
    EmptyBatch,
    #[error("the batch has {rows} rows; the limit is {max}")]
    BatchTooLarge { rows: usize, max: usize },
    #[error("malformed request: {0}")]
    BadRequest(String),
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

impl Error {
    /// A stable machine-readable code, e.g. `missing_column`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingColumn { .. } => "missing_column",
            Error::UnknownColumn { .. } => "unknown_column",
            Error::WrongType { .. } => "wrong_type",
            Error::NonFinite { .. } => "non_finite",
            Error::OutOfDomain { .. } => "out_of_domain",
            Error::UnknownCategory { .. } => "unknown_category",
            Error::MissingValue { .. } => "missing_value",
            Error::EmptyBatch => "empty_batch",
            Error::BatchTooLarge { .. } => "batch_too_large",
            Error::BadRequest(_) => "bad_request",
            Error::Bundle(_) => "invalid_bundle",
            Error::DigestMismatch { .. } => "digest_mismatch",
            Error::Model(_) => "model_error",
            Error::Spec(_) => "invalid_spec",
            Error::Golden(_) => "golden_mismatch",
        }
    }

    /// The HTTP status an adapter should answer with: 4xx for the caller's input, 5xx for ours.
    pub fn http_status(&self) -> u16 {
        match self {
            Error::BatchTooLarge { .. } => 413,
            Error::Bundle(_) | Error::DigestMismatch { .. } | Error::Golden(_) => 503,
            Error::Model(_) | Error::Spec(_) => 500,
            _ => 400,
        }
    }

    /// The row (0-based, within the request) and column the error is about, if any.
    fn location(&self) -> Option<(usize, &str)> {
        match self {
            Error::MissingColumn { row, column }
            | Error::UnknownColumn { row, column, .. }
            | Error::WrongType { row, column, .. }
            | Error::NonFinite { row, column, .. }
            | Error::OutOfDomain { row, column, .. }
            | Error::UnknownCategory { row, column, .. }
            | Error::MissingValue { row, column } => Some((*row, column)),
            _ => None,
        }
    }

    /// The row (0-based, within the request) the error is about, if any.
    pub fn row(&self) -> Option<usize> {
        self.location().map(|(r, _)| r)
    }

    /// The column the error is about, if any.
    pub fn column(&self) -> Option<&str> {
        self.location().map(|(_, c)| c)
    }

    /// The same error with its row number shifted by `offset` (for errors found in a chunk of a
    /// larger input).
    pub fn offset_row(mut self, offset: usize) -> Self {
        match &mut self {
            Error::MissingColumn { row, .. }
            | Error::UnknownColumn { row, .. }
            | Error::WrongType { row, .. }
            | Error::NonFinite { row, .. }
            | Error::OutOfDomain { row, .. }
            | Error::UnknownCategory { row, .. }
            | Error::MissingValue { row, .. } => *row += offset,
            _ => {}
        }
        self
    }

    /// JSON error body shared by every platform:
    /// `{"error": {"code", "message", "row"?, "column"?}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut e = json!({ "code": self.code(), "message": self.to_string() });
        if let Some(r) = self.row() {
            e["row"] = json!(r);
        }
        if let Some(c) = self.column() {
            e["column"] = json!(c);
        }
        json!({ "error": e })
    }
}
