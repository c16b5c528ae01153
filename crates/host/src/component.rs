//! Running an HTTP component — `wasi:http/handler@0.3.0` (spin-sdk 7) or
//! `wasi:http/incoming-handler@0.2.x` (spin-sdk ≤ 5) — one request at a time per instance.
//!
//! - The component is compiled once and cached by digest ([`crate::load_cached`]); instances come
//!   from an `InstancePre` on the pooling allocator.
//! - WASI 0.3 instances are reused for up to [`Settings::max_reuse`] requests, one request at a
//!   time each, so state the guest keeps (the loaded model) stays warm, as on Spin. WASI 0.2
//!   instances serve one request, as Spin and `wasmtime serve` do.
//! - The host provides Spin's variables interfaces (`spin:variables@3.0.0`,
//!   `fermyon:spin/variables@2.0.0`) from [`Settings::variables`], WASI, and outbound HTTP
//!   (https can trust a private CA: [`Settings::ca_roots`]).
//! - Each request runs under a deadline (epoch interruption) and a memory limit; a guest that
//!   traps is dropped and the next request gets a fresh instance.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use wasmtime::component::{Component, ComponentType, Lift, Linker, Lower, ResourceTable};
use wasmtime::error::Context as _;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, StoreLimits};
use wasmtime::{Result, format_err as anyhow};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::outbound::Hooks;

/// How instances are configured and reused.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Values for the guest's variables (`model`, `registry_url`, …).
    pub variables: BTreeMap<String, String>,
    /// Most instances alive at once (and so most requests in flight).
    pub max_instances: usize,
    /// Requests one WASI 0.3 instance serves before it is replaced.
    pub max_reuse: u32,
    /// Deadline for one request inside the guest, model loading included: counted in executed
    /// code (epoch interruption) and on the wall clock, so a guest waiting on a registry that
    /// never answers is stopped too.
    pub request_timeout: Duration,
    /// How long a request waits for a free instance before it gets 503 with `Retry-After`.
    pub permit_wait: Duration,
    /// Largest linear memory of one instance.
    pub max_memory: usize,
    /// Whether the guest's stderr goes to ours.
    pub inherit_stderr: bool,
    /// Where the guest's stdout goes (every instance's): nowhere (`None`, the default: the
    /// host writes the request log itself), or a pipe the embedder reads.
    pub stdout: Option<wasmtime_wasi::p2::pipe::MemoryOutputPipe>,
    /// Host directories preopened read-only at guest paths, like Spin's `files`.
    pub dirs: Vec<(std::path::PathBuf, String)>,
    /// CA certificates the guest's outgoing https trusts beside the built-in web roots (a
    /// registry or JWKS host behind a private CA).
    pub ca_roots: Vec<tokio_rustls::rustls::pki_types::CertificateDer<'static>>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            variables: BTreeMap::new(),
            max_instances: 8,
            max_reuse: 1000,
            request_timeout: Duration::from_secs(60),
            permit_wait: Duration::from_secs(10),
            max_memory: 1 << 30,
            inherit_stderr: true,
            stdout: None,
            dirs: Vec::new(),
            ca_roots: Vec::new(),
        }
    }
}

pub(crate) struct Ctx {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    variables: Arc<BTreeMap<String, String>>,
    limits: StoreLimits,
    hooks: Hooks,
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl WasiHttpView for Ctx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView { ctx: &mut self.http, table: &mut self.table, hooks: &mut self.hooks }
    }
}

/// The `error` variant of Spin's variables interfaces.
#[derive(ComponentType, Lift, Lower, Debug)]
#[component(variant)]
enum VariableError {
    #[component(name = "invalid-name")]
    InvalidName(String),
    #[component(name = "undefined")]
    Undefined(String),
    #[component(name = "provider")]
    #[allow(dead_code)]
    Provider(String),
    #[component(name = "other")]
    #[allow(dead_code)]
    Other(String),
}

fn lookup(vars: &BTreeMap<String, String>, name: &str) -> Result<String, VariableError> {
    if name.is_empty() || !name.bytes().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_') {
        return Err(VariableError::InvalidName(name.to_string()));
    }
    vars.get(name).cloned().ok_or_else(|| VariableError::Undefined(name.to_string()))
}

enum Pre {
    P3(wasmtime_wasi_http::p3::bindings::ServicePre<Ctx>),
    P2(wasmtime_wasi_http::p2::bindings::ProxyPre<Ctx>),
}

/// A WASI 0.3 instance kept between requests.
struct Warm {
    store: Store<Ctx>,
    service: wasmtime_wasi_http::p3::bindings::Service,
    uses: u32,
}

/// A loaded HTTP component, ready to answer requests.
pub struct HttpComponent {
    engine: Engine,
    pre: Pre,
    settings: Settings,
    variables: Arc<BTreeMap<String, String>>,
    hooks: Hooks,
    idle: Mutex<Vec<Warm>>,
    permits: tokio::sync::Semaphore,
    stop_ticker: Arc<std::sync::atomic::AtomicBool>,
}

/// How often the epoch advances; request deadlines are counted in these ticks.
const TICK: Duration = Duration::from_millis(50);

/// The engine every HTTP component runs on (and is cached for).
pub fn engine(max_instances: usize, max_memory: usize) -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model_async(true).epoch_interruption(true);
    let mut pool = PoolingAllocationConfig::default();
    let slots = max_instances as u32 + 2;
    // Every pool sized by the instances we run: wasmtime's defaults (1 000 fiber stacks, each
    // with a guard page set up by its own mprotect) made creating the engine cost 2.3 ms of a
    // 15 ms cold start; sized here it is 0.2–0.4 ms.
    pool.total_component_instances(slots)
        .total_core_instances(16 * slots)
        .total_stacks(4 * slots)
        .total_memories(4 * slots)
        .total_tables(4 * slots)
        .max_memory_size(max_memory);
    let mut pooled = config.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    // The pooling allocator reserves address space up front; fall back to on-demand allocation
    // where the system refuses it.
    Engine::new(&pooled).or_else(|_| Engine::new(&config))
}

impl HttpComponent {
    /// Loads the component in `wasm` (compiling it, or reusing a compilation cached in
    /// `cache_dir`) and links it against WASI, WASI HTTP and the variables in `settings`.
    pub fn load(wasm: &[u8], cache_dir: Option<&Path>, settings: Settings) -> Result<HttpComponent> {
        let engine = engine(settings.max_instances, settings.max_memory)?;
        let component = crate::load_cached(&engine, wasm, cache_dir).map_err(wasmtime::Error::from_anyhow)?;
        Self::new(engine, component, settings)
    }

    /// Links a component compiled for `engine` (see [`engine`]).
    pub fn new(engine: Engine, component: Component, settings: Settings) -> Result<HttpComponent> {
        let hooks = Hooks::trusting(&settings.ca_roots).map_err(|e| anyhow!("{e}"))?;
        let pre = if exports(&engine, &component, "wasi:http/handler@0.3") {
            let mut linker = Linker::<Ctx>::new(&engine);
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            wasmtime_wasi::p3::add_to_linker(&mut linker)?;
            wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
            linker.instance("spin:variables/variables@3.0.0")?.func_wrap_concurrent(
                "get",
                |accessor, (name,): (String,)| {
                    Box::pin(async move {
                        let vars = accessor.with(|mut s| s.data_mut().variables.clone());
                        Ok((lookup(&vars, &name),))
                    })
                },
            )?;
            Pre::P3(wasmtime_wasi_http::p3::bindings::ServicePre::new(
                linker.instantiate_pre(&component).context("linking the component")?,
            )?)
        } else if exports(&engine, &component, "wasi:http/incoming-handler@0.2") {
            let mut linker = Linker::<Ctx>::new(&engine);
            wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
            wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
            linker
                .instance("fermyon:spin/variables@2.0.0")?
                .func_wrap("get", |s: wasmtime::StoreContextMut<Ctx>, (name,): (String,)| {
                    Ok((lookup(&s.data().variables, &name),))
                })?;
            Pre::P2(wasmtime_wasi_http::p2::bindings::ProxyPre::new(
                linker.instantiate_pre(&component).context("linking the component")?,
            )?)
        } else {
            return Err(anyhow!(
                "the component exports neither wasi:http/handler@0.3 nor wasi:http/incoming-handler@0.2; is it an HTTP component?"
            ));
        };
        let stop_ticker = Arc::new(std::sync::atomic::AtomicBool::new(false));
        {
            let (engine, stop) = (engine.clone(), stop_ticker.clone());
            std::thread::Builder::new().name("scorelet-epoch".into()).spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    std::thread::sleep(TICK);
                    engine.increment_epoch();
                }
            })?;
        }
        Ok(HttpComponent {
            engine,
            pre,
            variables: Arc::new(settings.variables.clone()),
            hooks,
            permits: tokio::sync::Semaphore::new(settings.max_instances.max(1)),
            idle: Mutex::new(Vec::new()),
            settings,
            stop_ticker,
        })
    }

    /// The HTTP interface the component exports.
    pub fn interface(&self) -> &'static str {
        match self.pre {
            Pre::P3(_) => "wasi:http/handler@0.3.0",
            Pre::P2(_) => "wasi:http/incoming-handler@0.2",
        }
    }

    fn new_store(&self) -> Result<Store<Ctx>> {
        let mut wasi = WasiCtx::builder();
        if self.settings.inherit_stderr {
            wasi.inherit_stderr();
        }
        if let Some(out) = &self.settings.stdout {
            wasi.stdout(out.clone());
        }
        for (host, guest) in &self.settings.dirs {
            wasi.preopened_dir(host, guest, wasmtime_wasi::FsPerms::ReadOnly)
                .with_context(|| format!("opening {}", host.display()))?;
        }
        let limits = wasmtime::StoreLimitsBuilder::new().memory_size(self.settings.max_memory).build();
        let mut store = Store::new(
            &self.engine,
            Ctx {
                table: ResourceTable::new(),
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                variables: self.variables.clone(),
                limits,
                hooks: self.hooks.clone(),
            },
        );
        store.limiter(|c| &mut c.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(self.deadline_ticks());
        Ok(store)
    }

    fn deadline_ticks(&self) -> u64 {
        (self.settings.request_timeout.as_millis() / TICK.as_millis()).max(1) as u64
    }

    /// Answers one request. An `Err` means the guest failed (trapped, timed out, or returned an
    /// `error-code`), not that the request was bad: bad requests get 4xx responses.
    ///
    /// Fails with [`Unavailable`] when no instance frees up within `permit_wait`, or when the
    /// request does not finish within `request_timeout` of wall-clock time (the instance is then
    /// dropped, never reused).
    pub async fn handle(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>> {
        let Ok(permit) = tokio::time::timeout(self.settings.permit_wait, self.permits.acquire()).await else {
            return Err(Unavailable(format!(
                "every instance is busy ({} in flight); try again shortly",
                self.settings.max_instances
            ))
            .into());
        };
        let _permit = permit?;
        let timeout = self.settings.request_timeout;
        match tokio::time::timeout(timeout, self.run(req)).await {
            Ok(result) => result,
            Err(_) => Err(Unavailable(format!(
                "the request did not complete within {} s (a registry that does not answer?)",
                timeout.as_secs()
            ))
            .into()),
        }
    }

    async fn run(&self, req: http::Request<Bytes>) -> Result<http::Response<Bytes>> {
        let req = req.map(Full::new);
        match &self.pre {
            Pre::P3(pre) => {
                let warm = self.idle.lock().expect("idle pool").pop();
                let mut warm = match warm {
                    Some(w) => w,
                    None => {
                        let mut store = self.new_store()?;
                        let service = pre.instantiate_async(&mut store).await.context("instantiating the component")?;
                        Warm { store, service, uses: 0 }
                    }
                };
                // A reused store's deadline counts from this request.
                warm.store.set_epoch_deadline(self.deadline_ticks());
                let result = handle_p3(&mut warm, req).await;
                warm.uses += 1;
                if result.is_ok() && warm.uses < self.settings.max_reuse {
                    self.idle.lock().expect("idle pool").push(warm);
                }
                result
            }
            Pre::P2(pre) => handle_p2(pre, self.new_store()?, req).await,
        }
    }

    /// A fresh instance outside the request path, with its store (for pre-initialization).
    pub(crate) async fn instantiate(&self) -> Result<(Store<Ctx>, wasmtime::component::Instance)> {
        let mut store = self.new_store()?;
        let instance = match &self.pre {
            Pre::P3(pre) => pre.instance_pre().instantiate_async(&mut store).await,
            Pre::P2(pre) => pre.instance_pre().instantiate_async(&mut store).await,
        }
        .context("instantiating the component")?;
        Ok((store, instance))
    }

    /// Drops idle instances (the next request instantiates afresh).
    pub fn clear_idle(&self) {
        self.idle.lock().expect("idle pool").clear();
    }
}

impl Drop for HttpComponent {
    fn drop(&mut self) {
        self.stop_ticker.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The component could not take or finish a request in time: answered 503 with `Retry-After`.
#[derive(Debug)]
pub struct Unavailable(pub String);

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unavailable {}

/// The interfaces a compiled component imports and exports, by name.
pub fn interfaces(engine: &Engine, component: &Component) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    (ty.imports(engine).map(|(n, _)| n.to_string()).collect(), ty.exports(engine).map(|(n, _)| n.to_string()).collect())
}

fn exports(engine: &Engine, component: &Component, prefix: &str) -> bool {
    component.component_type().exports(engine).any(|(name, _)| name.starts_with(prefix))
}

async fn handle_p3(warm: &mut Warm, req: http::Request<Full<Bytes>>) -> Result<http::Response<Bytes>> {
    use wasmtime_wasi_http::p3::Request;
    let (req, io) = Request::from_http(wasmtime_wasi_http::default_hooks(), req);
    let service = &warm.service;
    warm.store
        .run_concurrent(async |accessor| {
            let response = async {
                let resp = match service.handle(accessor, req).await? {
                    Ok(r) => r,
                    Err(code) => return Err(anyhow!("the component answered with error code {code:?}")),
                };
                let resp = accessor.with(|a| resp.into_http(a, async { Ok(()) }))?;
                let (parts, body) = resp.into_parts();
                let body = body.collect().await.map_err(|e| anyhow!("reading the component's response: {e:?}"))?;
                Ok(http::Response::from_parts(parts, body.to_bytes()))
            };
            let (r, ()) =
                tokio::try_join!(response, async { io.await.map_err(|e| anyhow!("sending the request body: {e:?}")) })?;
            Ok(r)
        })
        .await?
}

async fn handle_p2(
    pre: &wasmtime_wasi_http::p2::bindings::ProxyPre<Ctx>,
    mut store: Store<Ctx>,
    req: http::Request<Full<Bytes>>,
) -> Result<http::Response<Bytes>> {
    use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let req = store.data_mut().http().new_incoming_request(Scheme::Http, req)?;
    let out = store.data_mut().http().new_response_outparam(tx)?;
    let pre = pre.clone();
    let task = tokio::task::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy.wasi_http_incoming_handler().call_handle(&mut store, req, out).await
    });
    let resp = match rx.await {
        Ok(Ok(resp)) => resp,
        Ok(Err(code)) => return Err(anyhow!("the component answered with error code {code:?}")),
        Err(_) => {
            let e = match task.await {
                Ok(Ok(())) => anyhow!("the component did not set a response"),
                Ok(Err(e)) => e,
                Err(e) => e.into(),
            };
            return Err(e.context("the component did not answer"));
        }
    };
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| anyhow!("reading the component's response: {e:?}"))?;
    Ok(http::Response::from_parts(parts, body.to_bytes()))
}
