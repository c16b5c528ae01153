//! `scorelet build`: a scoring component with a bundle embedded (no network, no files at cold
//! start). No compiler runs: the verified bundle is packed and written into a copy of the
//! built-in component's memory image ([`crate::embed`]).

use std::path::PathBuf;

use anyhow::{Context, Result};
use scorelet::Bundle;

use crate::embed::embed_bundle;
use crate::serve::component_bytes;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  scorelet build --bundle churn/ --output churn.wasm && scorelet serve --component churn.wasm"
)]
pub struct BuildArgs {
    /// The bundle directory to embed (verified first).
    #[arg(long)]
    pub bundle: PathBuf,
    /// Where to write the component.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Build the WASI 0.2 component (spin-sdk 5.2, for Spin ≤ 4.0) instead of WASI 0.3.
    #[arg(long)]
    pub wasi_p2: bool,
    /// Embed into this scoring component instead of the built-in one.
    #[arg(long)]
    pub component: Option<PathBuf>,
    /// Leave the component as embedded: every new instance then verifies and self-checks the
    /// model at its first request. By default the model is loaded once, here, and the loaded
    /// instance is snapshotted into the component (pre-initialization), so instances start ready.
    #[arg(long)]
    pub no_preinit: bool,
    /// Use the full built-in component (with tract) even when the model runs on the compiled
    /// engine; by default such a model gets the lean component, a fraction of the size.
    #[arg(long)]
    pub full: bool,
}

pub fn build(a: &BuildArgs) -> Result<()> {
    let bundle =
        Bundle::load_dir(&a.bundle).with_context(|| format!("cannot embed the bundle in {}", a.bundle.display()))?;
    // What every instance (or the pre-initialization below) would find, said here first; the
    // automatic engine it loads on is the one the component picks.
    let scorer = scorelet::service::load(&bundle)
        .with_context(|| format!("cannot embed the bundle in {}", a.bundle.display()))?;
    let lean = !a.full && scorer.engine() == "compiled";
    let (base, from) = component_bytes(a.component.as_deref(), a.wasi_p2, lean)?;
    let wasm =
        embed_bundle(&base, &bundle.to_packed()).with_context(|| format!("cannot embed into the {from} component"))?;
    let (wasm, how) = if a.no_preinit { (wasm, "") } else { preinit(wasm, &from)? };
    if let Some(parent) = a.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    }
    // Written beside the target and renamed: a failed build leaves no half-written component.
    let tmp = a.output.with_extension("wasm.tmp");
    std::fs::write(&tmp, &wasm).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &a.output).with_context(|| format!("cannot write {}", a.output.display()))?;
    eprintln!(
        "{}: {}@{} embedded in the {from} component{how}, {} bytes",
        a.output.display(),
        bundle.manifest.name,
        bundle.manifest.version.map_or("unpublished".into(), |v| v.to_string()),
        wasm.len()
    );
    Ok(())
}

/// `base` with `bundle` embedded and pre-initialized, kept in `cache` (by the digests of both)
/// so the next start with the same component and bundle reads it instead of making it again:
/// what `scorelet serve --bundle` serves for a model on the compiled engine.
pub fn preinitialized_cached(cache: &std::path::Path, base: &[u8], bundle: &Bundle) -> Result<Vec<u8>> {
    let packed = bundle.to_packed();
    let key = scorelet::bundle::sha256_hex(
        format!("{}{}", scorelet::bundle::sha256_hex(base), scorelet::bundle::sha256_hex(&packed)).as_bytes(),
    );
    let path = cache.join("preinit").join(format!("{key}.wasm"));
    if let Ok(done) = std::fs::read(&path) {
        return Ok(done);
    }
    let wasm = embed_bundle(base, &packed).context("cannot embed the bundle")?;
    let (done, _) = preinit(wasm, "built-in")?;
    // Written beside and renamed: a start that dies midway leaves no half-written file.
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(path.parent().expect("in the cache"))?;
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, &done)?;
        std::fs::rename(&tmp, &path)
    };
    if let Err(e) = write() {
        tracing::warn!("cannot cache the pre-initialized component in {}: {e}", path.display());
    }
    Ok(done)
}

/// The embedded component pre-initialized (see [`scorelet_host::preinit`]), and how it was
/// built for the closing line; a component without the initializer export is kept as it is.
fn preinit(wasm: Vec<u8>, from: &str) -> Result<(Vec<u8>, &'static str)> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    match runtime
        .block_on(scorelet_host::preinit::preinitialize(&wasm))
        .map_err(|e| anyhow::anyhow!("{e:?}"))
        .with_context(|| format!("cannot pre-initialize the {from} component (--no-preinit skips this step)"))?
    {
        Some(done) => Ok((done, ", pre-initialized (the model is loaded in its memory snapshot)")),
        None => Ok((wasm, ", not pre-initialized (the component has no `wizer-initialize` export)")),
    }
}
