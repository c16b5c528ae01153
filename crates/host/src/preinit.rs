//! Pre-initialization: runs a scoring component's `wizer-initialize` export once (it loads,
//! verifies and self-checks the embedded model) and writes the component anew with the
//! instance's memory as its initial state (wasmtime's wizer). Every later instance then starts
//! with the model loaded: instantiation maps the snapshot instead of re-running the load.
//!
//! The snapshot is taken under the same WASI and Spin imports a request gets, but the guest's
//! initializer calls none of them (host state cannot be snapshotted; see
//! `scorelet_guest::preinitialize`).

use wasmtime::Result;
use wasmtime::component::{Component, Instance, Lift, WasmList};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, OptLevel, Store, format_err};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use crate::component::{Ctx, HttpComponent, Settings};

/// The export the scoring components provide for [`preinitialize`].
pub const INIT_EXPORT: &str = "wizer-initialize";

/// `wasm` with [`INIT_EXPORT`] run and its effect snapshotted into the component's data, or
/// `None` when the component has no such export (one built before there was one). A guest
/// whose initializer fails traps, and the error says why.
pub async fn preinitialize(wasm: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut wizer = Wizer::new();
    // The component lifts the core function, so it must stay (calling it again reloads the model).
    wizer.keep_init_func(true);
    let (cx, instrumented) =
        wizer.instrument_component(wasm).context("preparing the component for pre-initialization")?;
    // This compilation runs once, to execute a loader: unoptimized machine code is compiled
    // several times faster, and what the snapshot holds does not depend on it.
    let mut config = Config::new();
    config.wasm_component_model_async(true).epoch_interruption(true).cranelift_opt_level(OptLevel::None);
    let engine = Engine::new(&config)?;
    let component = Component::new(&engine, &instrumented).context("compiling the component")?;
    if !component.component_type().exports(&engine).any(|(n, _)| n == INIT_EXPORT) {
        return Ok(None);
    }
    let host = HttpComponent::new(engine, component, Settings { max_instances: 1, ..Settings::default() })?;
    let (mut store, instance) = host.instantiate().await?;
    let init = instance
        .get_typed_func::<(), ()>(&mut store, INIT_EXPORT)
        .with_context(|| format!("the component's `{INIT_EXPORT}` export is not a `func()`"))?;
    init.call_async(&mut store, ()).await.context("the component's initializer failed")?;
    Ok(Some(wizer.snapshot_component(&cx, &mut State { store: &mut store, instance }).await?))
}

/// What wizer reads the instance's state through (its `wasmtime` feature has the same, but
/// that feature turns on half of wasmtime's optional features for the whole build).
struct State<'a> {
    store: &'a mut Store<Ctx>,
    instance: Instance,
}

impl State<'_> {
    async fn call<R: Lift + Send + Sync + 'static, O>(
        &mut self,
        interface: &str,
        func: &str,
        take: impl FnOnce(&mut Store<Ctx>, R) -> O,
    ) -> O {
        let found = (|| {
            let (_, i) = self.instance.get_export(&mut *self.store, None, interface)?;
            let (_, f) = self.instance.get_export(&mut *self.store, Some(&i), func)?;
            self.instance.get_typed_func::<(), (R,)>(&mut *self.store, f).ok()
        })()
        .ok_or_else(|| format_err!("{interface}#{func}"));
        // Wizer put these accessors into the component itself, so they exist; a failure here is
        // a bug in wizer, which this interface gives no way to report but a panic.
        let f = found.expect("wizer's state accessor");
        let r = f.call_async(&mut *self.store, ()).await.expect("wizer's state accessor runs").0;
        take(self.store, r)
    }
}

impl ComponentInstanceState for State<'_> {
    async fn call_func_ret_list_u8(&mut self, interface: &str, func: &str, contents: impl FnOnce(&[u8]) + Send) {
        self.call(interface, func, |store, list: WasmList<u8>| contents(list.as_le_slice(&*store))).await
    }
    async fn call_func_ret_s32(&mut self, interface: &str, func: &str) -> i32 {
        self.call(interface, func, |_, r| r).await
    }
    async fn call_func_ret_s64(&mut self, interface: &str, func: &str) -> i64 {
        self.call(interface, func, |_, r| r).await
    }
    async fn call_func_ret_f32(&mut self, interface: &str, func: &str) -> u32 {
        self.call(interface, func, |_, r: f32| r.to_bits()).await
    }
    async fn call_func_ret_f64(&mut self, interface: &str, func: &str) -> u64 {
        self.call(interface, func, |_, r: f64| r.to_bits()).await
    }
}
