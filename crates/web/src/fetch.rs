//! GET over the engine's global `fetch()` (browsers, Node ≥ 18, workers).

use js_sys::{Function, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::js::js_message;

/// Largest file accepted from a registry.
const MAX_FETCH: usize = scorelet_guest::MAX_FETCH;

/// GET `url` (with `Authorization: Bearer {token}`): the body of a 2xx answer, else an error
/// message.
pub async fn get(url: &str, token: Option<&str>) -> Result<Vec<u8>, String> {
    let global = js_sys::global();
    let fetch: Function = Reflect::get(&global, &"fetch".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or("this JavaScript engine has no fetch()")?;
    let init = Object::new();
    if let Some(t) = token {
        let headers = Object::new();
        Reflect::set(&headers, &"authorization".into(), &format!("Bearer {t}").into()).map_err(|e| js_message(&e))?;
        Reflect::set(&init, &"headers".into(), &headers).map_err(|e| js_message(&e))?;
    }
    let promise: Promise = fetch.call2(&global, &url.into(), &init).map_err(|e| js_message(&e))?.unchecked_into();
    let resp = JsFuture::from(promise).await.map_err(|e| js_message(&e))?;
    let status = Reflect::get(&resp, &"status".into()).ok().and_then(|s| s.as_f64()).unwrap_or(0.0);
    let buffer: Function = Reflect::get(&resp, &"arrayBuffer".into()).map_err(|e| js_message(&e))?.unchecked_into();
    let buffer: Promise = buffer.call0(&resp).map_err(|e| js_message(&e))?.unchecked_into();
    let bytes = Uint8Array::new(&JsFuture::from(buffer).await.map_err(|e| js_message(&e))?);
    if bytes.length() as usize > MAX_FETCH {
        return Err(format!("the file is over the limit of {MAX_FETCH} bytes"));
    }
    let bytes = bytes.to_vec();
    if !(200.0..300.0).contains(&status) {
        return Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&bytes[..bytes.len().min(300)])));
    }
    Ok(bytes)
}
