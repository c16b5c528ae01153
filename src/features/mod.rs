//! The feature pipeline: a declarative [`spec`], the [`fit`] (analyze) pass that produces
//! [`fitted`] parameters, and the [`transform`] every target runs; both read raw cells through
//! [`read`]. [`infer`] proposes a spec.

pub mod fit;
pub mod fitted;
pub mod infer;
pub mod read;
pub mod spec;
pub mod transform;

pub use fit::Fitter;
pub use fitted::{ColumnTransform, FittedColumn, FittedEncoding, FittedFeatures, Step};
pub use infer::{ColumnReport, infer_spec};
pub use read::fnv1a;
pub use spec::{ColumnSpec, Encoding, FeatureSpec, Kind, MissingPolicy, Transform, UnknownPolicy};
pub use transform::{ColumnCells, Pipeline};
