//! Running WASI 0.2 *command* components (`wasi:cli/run`) with in-memory stdio and read-only
//! preopened directories.

use std::path::Path;

use anyhow::{Context, Result};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::bindings::sync::Command;
use wasmtime_wasi::p2::pipe::{MemoryInputPipe, MemoryOutputPipe};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};

struct Ctx {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

/// What a command printed and how it exited.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A compiled command component, ready to run many times.
pub struct CommandRunner {
    engine: Engine,
    component: Component,
    linker: Linker<Ctx>,
}

/// Largest stdout/stderr captured from a guest.
const MAX_OUTPUT: usize = 256 << 20;

impl CommandRunner {
    /// Loads a component, compiling it or reusing a cached compilation under `cache_dir`.
    pub fn load(wasm: &Path, cache_dir: Option<&Path>) -> Result<Self> {
        let engine = Engine::new(&Config::new())?;
        let bytes = std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))?;
        let component = crate::cache::load_cached(&engine, &bytes, cache_dir)?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        Ok(CommandRunner { engine, component, linker })
    }

    /// Runs the command once: `args` (without argv\[0\]), `stdin` bytes, and directories
    /// `(host, guest)` preopened read-only.
    pub fn run(&self, args: &[&str], stdin: Vec<u8>, dirs: &[(&Path, &str)]) -> Result<CommandOutput> {
        let stdout = MemoryOutputPipe::new(MAX_OUTPUT);
        let stderr = MemoryOutputPipe::new(MAX_OUTPUT);
        let mut b = WasiCtx::builder();
        b.stdin(MemoryInputPipe::new(stdin)).stdout(stdout.clone()).stderr(stderr.clone());
        b.arg("scorelet-wasi");
        for a in args {
            b.arg(a);
        }
        for (host, guest) in dirs {
            b.preopened_dir(host, guest, FsPerms::ReadOnly)?;
        }
        let mut store = Store::new(&self.engine, Ctx { wasi: b.build(), table: ResourceTable::new() });
        let cmd = Command::instantiate(&mut store, &self.component, &self.linker)?;
        let result = cmd.wasi_cli_run().call_run(&mut store);
        drop(store);
        let success = match result {
            Ok(r) => r.is_ok(),
            // `std::process::exit` in the guest surfaces as an I32Exit trap.
            Err(e) => match e.downcast_ref::<wasmtime_wasi::I32Exit>() {
                Some(code) => code.0 == 0,
                None => return Err(e.into()),
            },
        };
        Ok(CommandOutput { success, stdout: stdout.contents().to_vec(), stderr: stderr.contents().to_vec() })
    }
}
