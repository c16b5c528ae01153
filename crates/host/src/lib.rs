//! # scorelet-host
//!
//! Embeds wasmtime to run scorelet's WebAssembly components natively. Components are compiled
//! once with Cranelift and cached on disk by the sha256 of their bytes (and wasmtime's own
//! compatibility hash), so later starts deserialize machine code instead of compiling.

pub mod command;

pub use command::{CommandOutput, CommandRunner};
