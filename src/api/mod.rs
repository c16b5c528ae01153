//! Request and response formats users already know: MLflow's `/invocations` ([`mlflow`]) and the
//! Open Inference Protocol v2 ([`oip`]). Both parse into rows for [`crate::predict::Scorer`].

pub mod direct;
pub mod lines;
pub mod mlflow;
pub mod oip;
mod rows;

pub use rows::RowReader;

use serde_json::Value as Json;

use crate::error::{Error, Result};
use crate::prediction::Options;

/// Default limit on request bodies, for adapters.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// Parses a JSON body with a message that says where it broke.
pub fn parse_json(body: &[u8]) -> Result<Json> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::BadRequest("the body is empty; send a JSON object".into()));
    }
    serde_json::from_slice(body).map_err(|e| Error::BadRequest(format!("the body is not valid JSON: {e}")))
}

/// Reads `params` / `parameters`: `return_features` (bool). Unknown keys are ignored, as MLflow
/// and KServe servers do.
pub fn parse_options(v: Option<&Json>) -> Result<Options> {
    let mut o = Options::default();
    match v {
        None | Some(Json::Null) => {}
        Some(Json::Object(m)) => {
            if let Some(f) = m.get("return_features") {
                o.return_features =
                    f.as_bool().ok_or_else(|| Error::BadRequest("`return_features` must be true or false".into()))?;
            }
        }
        Some(_) => return Err(Error::BadRequest("`params` must be an object".into())),
    }
    Ok(o)
}
