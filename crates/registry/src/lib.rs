//! # scorelet-registry
//!
//! The model registry: versions are immutable directories of verified bundles, aliases are small
//! mutable documents with a history. [`server`] is the HTTP API (axum) over the [`store`];
//! [`client`] is the native client; [`promote`] is the metric gate for alias moves. The read
//! protocol itself lives in the core (`scorelet::registry`) so Wasm runtimes share it.

pub mod archive;
pub mod auth;
pub mod client;
pub mod fsio;
pub mod promote;
pub mod server;
pub mod store;
pub mod tls;

pub use client::Client;
pub use server::{Config, router, serve};
pub use store::Store;
