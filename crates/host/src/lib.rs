//! # scorelet-host
//!
//! Embeds wasmtime to run scorelet's WebAssembly components natively:
//!
//! - [`component`]: the HTTP scoring component (WASI 0.3 or 0.2), with instance reuse, Spin's
//!   variables, deadlines and memory limits — what `scorelet serve` and the Lambda bootstrap run;
//! - [`server`]: an HTTP/1.1 server in front of it, with body limits and read timeouts;
//! - [`observe`]: metrics across every instance, from the observations the answers carry;
//! - `outbound`: the guests' outgoing HTTP, which can trust a private CA;
//! - [`command`]: WASI command components (the `scorelet-wasi` batch scorer);
//! - [`cache`]: the compile cache both of them load through;
//! - [`preinit`]: pre-initialization (wizer): a component written with its model already loaded.
//!
//! Components are compiled once with Cranelift and cached on disk by the sha256 of their bytes
//! (and wasmtime's own compatibility hash), so later starts deserialize machine code instead of
//! compiling.

pub mod cache;
pub mod command;
pub mod component;
pub mod observe;
mod outbound;
pub mod preinit;
pub mod requestlog;
pub mod server;

pub use cache::{CacheKey, is_cached, load_cached, load_keyed};
pub use command::{CommandOutput, CommandRunner};
pub use component::{HttpComponent, Settings};
pub use observe::Observer;
pub use outbound::read_ca_certificates;
pub use wasmtime::Engine;
pub use wasmtime::component::Component;
/// A pipe to collect the guests' stdout in ([`Settings::stdout`]).
pub use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
