//! Recovery from a panic inside the package. The build aborts on panic: the panic becomes a
//! Wasm trap, and the instance's memory is left mid-operation (a `RefCell` still borrowed, a
//! model half loaded), so it must not run again. The panic hook, which runs before the trap,
//! rejects every promise the package has handed out and not settled (a trap inside an async
//! call happens in a microtask, where nothing else would ever settle it), with `code`
//! `component_failed`. The caller then calls the glue's `__wbg_reset_state()` (the build emits
//! it), which makes a fresh instance of the same compiled module (no recompilation, which
//! workers forbid); the worker and the page do. Objects made by the old instance (a `Scorer`)
//! are then refused as stale, and the caller makes them again.
//!
//! wasm-bindgen's own `schedule_reinit()` is not used: its re-instantiation runs at the start
//! of the next call, after that call's arguments were already copied into the old memory, so
//! the new instance reads garbage (an out-of-bounds access, or a request that never ends).

use std::cell::{Cell, RefCell};
use std::future::Future;

use js_sys::{Function, Promise};
use wasm_bindgen::prelude::*;

thread_local! {
    /// The reject functions of the promises in flight.
    static PENDING: RefCell<Vec<(u64, Function)>> = const { RefCell::new(Vec::new()) };
    static NEXT_ID: Cell<u64> = const { Cell::new(0) };
    /// A fault the tests asked for (see [`inject_fault`]).
    static FAULT: Cell<Option<Fault>> = const { Cell::new(None) };
}

/// Where a test-injected panic happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// While the model loads (a worker's bundle is read, a scorer is made).
    Load,
    /// While a request is scored.
    Score,
}

/// Installs the panic hook (once, when the instance starts).
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let message =
            format!("scorelet: internal error: {info}; reset the module (`__wbg_reset_state()`) before the next call");
        web_sys_error(&message);
        let pending = PENDING.with(|p| p.try_borrow_mut().map(|mut p| std::mem::take(&mut *p)).unwrap_or_default());
        let error = js_sys::Error::new(&message);
        let _ = js_sys::Reflect::set(&error, &"code".into(), &"component_failed".into());
        for (_, reject) in pending {
            let _ = reject.call1(&JsValue::NULL, &error);
        }
    }));
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn web_sys_error(message: &str);
}

/// Runs `f` as a promise that a panic inside it rejects instead of leaving unsettled.
pub(crate) fn guarded<F>(f: F) -> Promise
where
    F: Future<Output = Result<JsValue, JsValue>> + 'static,
{
    let id = NEXT_ID.get();
    NEXT_ID.set(id + 1);
    let mut settle = None;
    let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
    let (resolve, reject) = settle.expect("the executor runs at once");
    PENDING.with_borrow_mut(|p| p.push((id, reject.clone())));
    wasm_bindgen_futures::spawn_local(async move {
        let result = f.await;
        PENDING.with_borrow_mut(|p| p.retain(|(i, _)| *i != id));
        let _ = match result {
            Ok(v) => resolve.call1(&JsValue::NULL, &v),
            Err(e) => reject.call1(&JsValue::NULL, &e),
        };
    });
    promise
}

/// Panics here when a test asked for a fault at `at` (once).
pub(crate) fn fault_point(at: Fault) {
    if FAULT.get() == Some(at) {
        FAULT.set(None);
        panic!("injected fault ({at:?})");
    }
}

/// For tests of trap recovery only: the next time the package reaches `stage` (`"load"` or
/// `"score"`) it panics, as a bug would. Anything else clears the fault.
#[doc(hidden)]
#[wasm_bindgen(js_name = __injectFault)]
pub fn inject_fault(stage: &str) {
    FAULT.set(match stage {
        "load" => Some(Fault::Load),
        "score" => Some(Fault::Score),
        _ => None,
    });
}
