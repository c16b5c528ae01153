//! # scorelet
//!
//! One core that turns a raw tabular row into a prediction, on every target: the offline
//! trainer, the Spin component, Lambda, browsers, edge workers and the CLI all call this crate.
//!
//! raw row ([`value`]) ─[`features`]→ f32 vector ─[`model`] (tract)→ outputs ─[`predict`]→
//! prediction. A model ships as a verified [`bundle`] carrying its [`golden`] vectors; requests
//! arrive in the formats of [`api`].
//!
//! See `ARCHITECTURE.md` and `doc/pipeline.md` in the repository for the walk-through.

pub mod api;
pub mod bundle;
pub mod config;
pub mod error;
pub mod experiment;
pub mod features;
pub mod golden;
pub mod jwt;
pub mod link;
/// Live metrics (their own crate, so a host can aggregate them without the core).
pub use scorelet_metrics as metrics;
pub mod model;
pub mod predict;
pub mod prediction;
pub mod profile;
pub mod registry;
pub mod service;
pub mod time;
pub mod value;

pub use bundle::Bundle;
pub use error::{Error, Result};
pub use predict::{Options, Prediction, Scorer};
pub use value::{Row, Value};
