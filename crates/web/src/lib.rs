//! # scorelet-web
//!
//! The core for JavaScript engines (browsers, Node, edge workers), through wasm-bindgen. A thin
//! adapter: every method forwards to [`scorelet`], and every error becomes a JS `Error` with the
//! same message the server would send.
//!
//! - [`scorer`]: the `Scorer` class, for pages and apps.
//! - `worker` (cargo feature `worker`): `handleRequest`, the HTTP scoring function for a
//!   worker's `fetch` handler; the worker package has it, the page's package does not.
//!
//! ```js
//! const scorer = await Scorer.fromRegistry("https://models.example.com", "churn@production");
//! scorer.predict({ gender: "Female", tenure: 12, … });   // { probability: 0.27, label: "No" }
//! scorer.predictBatch(rows); scorer.features(row); scorer.metadata();
//! ```

mod fetch;
mod js;
pub mod scorer;
mod trap;
#[cfg(feature = "worker")]
pub mod worker;

pub use scorer::Scorer;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** One raw input cell, as in the model's signature. */
export type Cell = string | number | boolean | null;
/** One input row: column name → cell. */
export type Row = Record<string, Cell>;
/** A prediction; `features` is present when asked for. */
export type Prediction =
  | { probability: number; label: string; features?: number[] }
  | { probabilities: Record<string, number>; label: string; features?: number[] }
  | { value: number; features?: number[] };
"#;
