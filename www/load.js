// Loads the scorelet package: the `+simd128` build where the engine has Wasm SIMD (every current
// browser), else the baseline build. Shared by the demo and the benchmark page.

// A module using one v128 instruction (the check wasm-feature-detect uses).
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);

/** Imports and instantiates the package; resolves to `{ pkg, build }`. */
export async function loadPackage(wantSimd = true) {
  const build = wantSimd && WebAssembly.validate(SIMD_PROBE) ? "simd128" : "baseline";
  const pkg = await import(`./pkg/${build}/scorelet_web.js`);
  await pkg.default();
  return { pkg, build };
}
