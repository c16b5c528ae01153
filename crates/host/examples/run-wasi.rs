//! `run-wasi COMPONENT.wasm BUNDLE_DIR [ARGS…] < rows.jsonl`: runs the scorelet WASI command
//! component under the embedded wasmtime with the bundle preopened read-only at `/bundle`.

use std::io::{Read, Write};
use std::path::Path;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() >= 2, "usage: run-wasi COMPONENT.wasm BUNDLE_DIR [ARGS…] < rows.jsonl");
    let cache = std::env::temp_dir().join("scorelet-cwasm");
    let runner = scorelet_host::CommandRunner::load(Path::new(&args[0]), Some(&cache))?;
    let mut stdin = Vec::new();
    std::io::stdin().read_to_end(&mut stdin)?;
    let mut guest_args = vec!["/bundle"];
    guest_args.extend(args[2..].iter().map(String::as_str));
    let out = runner.run(&guest_args, stdin, &[(Path::new(&args[1]), "/bundle")])?;
    std::io::stdout().write_all(&out.stdout)?;
    std::io::stderr().write_all(&out.stderr)?;
    anyhow::ensure!(out.success, "the component failed");
    Ok(())
}
