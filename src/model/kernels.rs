//! The dense kernels of the compiled engine: `y = post(x · W)` for f32 and 8-bit weights, with a
//! scalar path and explicit SIMD paths (x86-64 AVX2, with AVX-512 VNNI for the 8-bit dot products
//! where the CPU has it; wasm `simd128`).
//!
//! Architecture invariant: every path computes the same bits. Each output is one accumulator
//! that starts at 0 and adds `x[k] · w[k][j]` for k = 0, 1, … in order, one rounding for the
//! product and one for the sum (no FMA). SIMD runs eight outputs side by side ([`LANES`]), never
//! splits one output's sum, so the order cannot depend on the vector width. The fused
//! elementwise operations ([`Post`]) are single IEEE operations per element. The 8-bit kernels
//! sum in i32, which is exact in any order.
//!
//! Written by hand rather than with a BLAS crate: those reorder sums by target and block size
//! (so bits differ between native and wasm), and do not build for wasm32 with SIMD.

/// Outputs computed side by side; weights and [`Post`] constants are padded to a multiple.
pub const LANES: usize = 8;

/// Rows of a batch the SIMD kernels process at once (independent accumulators hide latency).
#[cfg(target_arch = "x86_64")]
const ROW_TILE: usize = 4;

/// An elementwise operation on each output after its dot product, fused into the dense step.
/// Constants are per output, padded to a multiple of [`LANES`].
#[derive(Debug, Clone, PartialEq)]
pub enum Post {
    Mul(Vec<f32>),
    Add(Vec<f32>),
    /// `v > 0 ? v : 0` (so NaN and −0 become +0 on every target).
    Relu,
}

/// `ceil(n / LANES) * LANES`.
pub fn padded(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// A float dense layer: `k` inputs, `m` outputs, weights `[k][mp]` (`mp` = [`padded`] `m`).
#[derive(Debug, Clone)]
pub struct DenseF32 {
    pub k: usize,
    pub m: usize,
    w: Vec<f32>,
    pub post: Vec<Post>,
}

impl DenseF32 {
    /// From weights `w[kk][j]` given by `at(kk, j)`.
    pub fn new(k: usize, m: usize, at: impl Fn(usize, usize) -> f32) -> DenseF32 {
        let mp = padded(m);
        let mut w = vec![0f32; k * mp];
        for kk in 0..k {
            for j in 0..m {
                w[kk * mp + j] = at(kk, j);
            }
        }
        DenseF32 { k, m, w, post: Vec::new() }
    }

    /// `y[rows × m] = post(x[rows × k] · W)`.
    pub fn run(&self, x: &[f32], rows: usize, y: &mut [f32]) {
        debug_assert!(x.len() >= rows * self.k && y.len() >= rows * self.m);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (and AVX-512F for that path), checked here.
            unsafe {
                if std::is_x86_feature_detected!("avx512f") {
                    return x86::dense_f32_512(self, x, rows, y);
                }
                return x86::dense_f32(self, x, rows, y);
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return wasm::dense_f32(self, x, rows, y);
        #[allow(unreachable_code)]
        scalar::dense_f32(self, x, rows, y)
    }
}

/// An 8-bit dense layer (`MatMulInteger`): u8 inputs minus `zx` times 8-bit weights minus their
/// zero point, summed in i32; then, if `to_f32`, converted and [`Post`] applied. Weights are i16
/// in input pairs, `[k2][mp][2]` (`k2` = ⌈k/2⌉), the layout of `pmaddwd` / `i32x4.dot_i16x8_s`.
#[derive(Debug, Clone)]
pub struct DenseI8 {
    pub k: usize,
    pub m: usize,
    pub zx: i32,
    w: Vec<i16>,
    pub to_f32: bool,
    pub post: Vec<Post>,
}

impl DenseI8 {
    /// From zero-point-corrected weights `at(kk, j)` (in −255..=255).
    pub fn new(k: usize, m: usize, zx: i32, at: impl Fn(usize, usize) -> i32) -> DenseI8 {
        let (k2, mp) = (k.div_ceil(2), padded(m));
        let mut w = vec![0i16; k2 * mp * 2];
        for kk in 0..k {
            for j in 0..m {
                w[((kk / 2) * mp + j) * 2 + kk % 2] = at(kk, j) as i16;
            }
        }
        DenseI8 { k, m, zx, w, to_f32: false, post: Vec::new() }
    }

    /// Inputs of one row as i16 pairs packed in i32, `(x[2p] − zx) | (x[2p+1] − zx) << 16`.
    fn pairs(&self, x: &[u8], rows: usize, zx: i32, out: &mut Vec<i32>) {
        let k2 = self.k.div_ceil(2);
        out.resize(rows * k2, 0);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked here.
            return unsafe { x86::pairs(x, self.k, zx, rows, out) };
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return wasm::pairs(x, self.k, zx, rows, out);
        #[allow(unreachable_code)]
        for (r, o) in x[..rows * self.k].chunks_exact(self.k).zip(out.chunks_exact_mut(k2)) {
            scalar::pairs_into(r, zx, o);
        }
    }

    /// `y = post(f32(Σ (x − zx)(w − zw)))` into `yf` (if `to_f32`) or the sums into `yi`.
    /// `pairs` is scratch, reused between calls.
    pub fn run(&self, x: &[u8], rows: usize, pairs: &mut Vec<i32>, yf: &mut [f32], yi: &mut [i32]) {
        self.run_with_zero(self.zx, x, rows, pairs, yf, yi)
    }

    /// [`DenseI8::run`] with the inputs' zero point `zx` given at run time (`DynamicQuantizeLinear`
    /// computes it per batch) instead of the one fixed at load.
    pub fn run_with_zero(&self, zx: i32, x: &[u8], rows: usize, pairs: &mut Vec<i32>, yf: &mut [f32], yi: &mut [i32]) {
        self.pairs(x, rows, zx, pairs);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (and VNNI when that path is taken), checked here.
            unsafe {
                if std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512vl") {
                    return x86::dense_i8_vnni(self, pairs, rows, yf, yi);
                }
                return x86::dense_i8(self, pairs, rows, yf, yi);
            }
        }
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        return wasm::dense_i8(self, pairs, rows, yf, yi);
        #[allow(unreachable_code)]
        scalar::dense_i8(self, pairs, rows, yf, yi)
    }
}

/// `QuantizeLinear` to u8: `clamp(round_ties_even(x · inv_scale) + zero, 0, 255)`, with the
/// rounded value first held in −512..=512 (NaN counts as −512) so every path saturates alike.
pub fn quantize(x: &[f32], inv_scale: f32, zero: i32, y: &mut [u8]) {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked here.
        return unsafe { x86::quantize(x, inv_scale, zero, y) };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return wasm::quantize(x, inv_scale, zero, y);
    #[allow(unreachable_code)]
    scalar::quantize(x, inv_scale, zero, y)
}

/// The reference semantics, and the path for targets without the SIMD paths.
pub mod scalar {
    use super::{DenseF32, DenseI8, LANES, Post, padded};

    /// `(x[2p] − zx) | (x[2p+1] − zx) << 16` for each pair of `x` (an odd last input pairs with 0).
    pub fn pairs_into(x: &[u8], zx: i32, out: &mut [i32]) {
        for (o, p) in out.iter_mut().zip(x.chunks(2)) {
            let lo = (p[0] as i32 - zx) as i16 as u16 as u32;
            let hi = p.get(1).map_or(0, |v| (*v as i32 - zx) as i16 as u16 as u32);
            *o = (lo | hi << 16) as i32;
        }
    }

    pub fn relu(v: f32) -> f32 {
        if v > 0.0 { v } else { 0.0 }
    }

    pub fn quantize_one(v: f32, inv_scale: f32, zero: i32) -> u8 {
        let t = (v * inv_scale).round_ties_even();
        let t = if t >= -512.0 { t.min(512.0) } else { -512.0 };
        (t as i32 + zero).clamp(0, 255) as u8
    }

    pub fn quantize(x: &[f32], inv_scale: f32, zero: i32, y: &mut [u8]) {
        for (q, v) in y.iter_mut().zip(x) {
            *q = quantize_one(*v, inv_scale, zero);
        }
    }

    fn post(post: &[Post], b: usize, acc: &mut [f32; LANES]) {
        for p in post {
            match p {
                Post::Mul(c) => acc.iter_mut().zip(&c[b..b + LANES]).for_each(|(a, c)| *a *= c),
                Post::Add(c) => acc.iter_mut().zip(&c[b..b + LANES]).for_each(|(a, c)| *a += c),
                Post::Relu => acc.iter_mut().for_each(|a| *a = relu(*a)),
            }
        }
    }

    pub fn dense_f32(d: &DenseF32, x: &[f32], rows: usize, y: &mut [f32]) {
        let mp = padded(d.m);
        for r in 0..rows {
            let xr = &x[r * d.k..(r + 1) * d.k];
            for b in (0..mp).step_by(LANES) {
                let mut acc = [0f32; LANES];
                for (kk, xv) in xr.iter().enumerate() {
                    let w = &d.w[kk * mp + b..kk * mp + b + LANES];
                    for (a, wv) in acc.iter_mut().zip(w) {
                        *a += xv * wv;
                    }
                }
                post(&d.post, b, &mut acc);
                let n = LANES.min(d.m - b);
                y[r * d.m + b..r * d.m + b + n].copy_from_slice(&acc[..n]);
            }
        }
    }

    pub fn dense_i8(d: &DenseI8, pairs: &[i32], rows: usize, yf: &mut [f32], yi: &mut [i32]) {
        let (k2, mp) = (d.k.div_ceil(2), padded(d.m));
        for r in 0..rows {
            let pr = &pairs[r * k2..(r + 1) * k2];
            for b in (0..mp).step_by(LANES) {
                let mut acc = [0i32; LANES];
                for (p, xv) in pr.iter().enumerate() {
                    let (lo, hi) = (*xv as i16 as i32, (*xv >> 16) as i16 as i32);
                    for (l, a) in acc.iter_mut().enumerate() {
                        let w = &d.w[((p * mp) + b + l) * 2..];
                        *a += lo * w[0] as i32 + hi * w[1] as i32;
                    }
                }
                let n = LANES.min(d.m - b);
                if d.to_f32 {
                    let mut f = acc.map(|a| a as f32);
                    post(&d.post, b, &mut f);
                    yf[r * d.m + b..r * d.m + b + n].copy_from_slice(&f[..n]);
                } else {
                    yi[r * d.m + b..r * d.m + b + n].copy_from_slice(&acc[..n]);
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{DenseF32, DenseI8, LANES, Post, ROW_TILE, padded};

    // Always inlined into the kernels (which enable the features), so the intrinsics inline too.
    #[inline(always)]
    unsafe fn post(post: &[Post], b: usize, mut v: __m256) -> __m256 {
        for p in post {
            v = match p {
                // SAFETY: `c` has `padded(m)` elements and `b + LANES <= padded(m)`.
                Post::Mul(c) => unsafe { _mm256_mul_ps(v, _mm256_loadu_ps(c[b..b + LANES].as_ptr())) },
                Post::Add(c) => unsafe { _mm256_add_ps(v, _mm256_loadu_ps(c[b..b + LANES].as_ptr())) },
                // `maxps` returns its second operand when either is NaN or both are zero.
                Post::Relu => unsafe { _mm256_max_ps(v, _mm256_setzero_ps()) },
            };
        }
        v
    }

    // Always inlined into the kernels (which enable the features), so the intrinsics inline too.
    #[inline(always)]
    unsafe fn store_f32(v: __m256, y: &mut [f32], at: usize, n: usize) {
        if n == LANES {
            let y = &mut y[at..at + LANES];
            // SAFETY: `y` holds LANES floats (bounds-checked above).
            return unsafe { _mm256_storeu_ps(y.as_mut_ptr(), v) };
        }
        let mut t = [0f32; LANES];
        // SAFETY: `t` holds LANES floats.
        unsafe { _mm256_storeu_ps(t.as_mut_ptr(), v) };
        y[at..at + n].copy_from_slice(&t[..n]);
    }

    // Always inlined into the kernels (which enable the features), so the intrinsics inline too.
    #[inline(always)]
    unsafe fn store_i32(v: __m256i, y: &mut [i32], at: usize, n: usize) {
        if n == LANES {
            let y = &mut y[at..at + LANES];
            // SAFETY: `y` holds LANES i32s (bounds-checked above).
            return unsafe { _mm256_storeu_si256(y.as_mut_ptr().cast(), v) };
        }
        let mut t = [0i32; LANES];
        // SAFETY: `t` holds LANES i32s.
        unsafe { _mm256_storeu_si256(t.as_mut_ptr().cast(), v) };
        y[at..at + n].copy_from_slice(&t[..n]);
    }

    /// R rows × two blocks of outputs at a time (2R independent accumulators).
    #[target_feature(enable = "avx2")]
    unsafe fn tile_f32<const R: usize>(d: &DenseF32, x: &[f32], r0: usize, y: &mut [f32], b0: usize) {
        let mp = padded(d.m);
        let mut b = b0;
        while b < mp {
            let two = b + LANES < mp;
            let mut acc = [[_mm256_setzero_ps(); 2]; R];
            // Bounds checked once here, so the loop below is only loads, products and sums.
            let (wp, xp) = (d.w[..d.k * mp].as_ptr(), x[r0 * d.k..(r0 + R) * d.k].as_ptr());
            for kk in 0..d.k {
                // SAFETY: kk < k and b + 2·LANES ≤ mp when `two` (else b + LANES ≤ mp): both loads
                // lie in the `k · mp` weights checked above.
                let w = unsafe { wp.add(kk * mp + b) };
                let w0 = unsafe { _mm256_loadu_ps(w) };
                let w1 = if two { unsafe { _mm256_loadu_ps(w.add(LANES)) } } else { w0 };
                for (r, a) in acc.iter_mut().enumerate() {
                    // SAFETY: r < R and kk < k: inside the R rows checked above.
                    let xv = _mm256_set1_ps(unsafe { *xp.add(r * d.k + kk) });
                    a[0] = _mm256_add_ps(a[0], _mm256_mul_ps(xv, w0));
                    if two {
                        a[1] = _mm256_add_ps(a[1], _mm256_mul_ps(xv, w1));
                    }
                }
            }
            for (r, a) in acc.iter().enumerate() {
                let row = (r0 + r) * d.m;
                for (h, v) in a.iter().enumerate().take(if two { 2 } else { 1 }) {
                    let bb = b + h * LANES;
                    // SAFETY: AVX2 is enabled for this function.
                    unsafe { store_f32(post(&d.post, bb, *v), y, row + bb, LANES.min(d.m - bb)) };
                }
            }
            b += 2 * LANES;
        }
    }

    /// Outputs per AVX-512 pass: four blocks, two 16-lane vectors.
    const QUAD: usize = 4 * LANES;

    // Always inlined into the kernels (which enable the features), so the intrinsics inline too.
    #[inline(always)]
    unsafe fn post512(post: &[Post], b: usize, mut v: __m512) -> __m512 {
        for p in post {
            v = match p {
                // SAFETY: `c` has `padded(m)` elements and `b + 16 <= padded(m)`.
                Post::Mul(c) => unsafe { _mm512_mul_ps(v, _mm512_loadu_ps(c[b..b + 2 * LANES].as_ptr())) },
                Post::Add(c) => unsafe { _mm512_add_ps(v, _mm512_loadu_ps(c[b..b + 2 * LANES].as_ptr())) },
                // As `maxps`: the second operand for NaN and for ±0.
                Post::Relu => unsafe { _mm512_max_ps(v, _mm512_setzero_ps()) },
            };
        }
        v
    }

    /// R rows × 32 outputs from block `b` on: the same per-output sums as [`tile_f32`], sixteen
    /// lanes per instruction.
    #[target_feature(enable = "avx512f,avx2")]
    unsafe fn tile_f32_512<const R: usize>(d: &DenseF32, x: &[f32], r0: usize, y: &mut [f32], b: usize) {
        let mp = padded(d.m);
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        assert!(b + QUAD <= mp);
        let (wp, xp) = (d.w[..d.k * mp].as_ptr(), x[r0 * d.k..(r0 + R) * d.k].as_ptr());
        for kk in 0..d.k {
            // SAFETY: kk < k and b + QUAD ≤ mp (asserted): inside the `k · mp` weights.
            let (w0, w1) = unsafe {
                let w = wp.add(kk * mp + b);
                (_mm512_loadu_ps(w), _mm512_loadu_ps(w.add(2 * LANES)))
            };
            for (r, a) in acc.iter_mut().enumerate() {
                // SAFETY: r < R and kk < k: inside the R rows checked above.
                let xv = _mm512_set1_ps(unsafe { *xp.add(r * d.k + kk) });
                a[0] = _mm512_add_ps(a[0], _mm512_mul_ps(xv, w0));
                a[1] = _mm512_add_ps(a[1], _mm512_mul_ps(xv, w1));
            }
        }
        for (r, a) in acc.iter().enumerate() {
            let row = (r0 + r) * d.m;
            for (h, v) in a.iter().enumerate() {
                let bb = b + h * 2 * LANES;
                // SAFETY: AVX-512F is enabled for this function.
                let v = unsafe { post512(&d.post, bb, *v) };
                let n = (2 * LANES).min(d.m.saturating_sub(bb));
                if n == 2 * LANES {
                    let y = &mut y[row + bb..row + bb + n];
                    // SAFETY: `y` holds 16 floats (bounds-checked above).
                    unsafe { _mm512_storeu_ps(y.as_mut_ptr(), v) };
                } else {
                    let mut t = [0f32; 2 * LANES];
                    // SAFETY: `t` holds 16 floats.
                    unsafe { _mm512_storeu_ps(t.as_mut_ptr(), v) };
                    y[row + bb..row + bb + n].copy_from_slice(&t[..n]);
                }
            }
        }
    }

    /// [`dense_f32`] with the AVX-512 tiles for every full group of 32 outputs.
    #[target_feature(enable = "avx512f,avx2")]
    pub unsafe fn dense_f32_512(d: &DenseF32, x: &[f32], rows: usize, y: &mut [f32]) {
        let quads = padded(d.m) / QUAD * QUAD;
        let mut r = 0;
        while r < rows {
            let tile = if r + ROW_TILE <= rows { ROW_TILE } else { 1 };
            let mut b = 0;
            while b < quads {
                // SAFETY: the features are enabled for this function.
                unsafe {
                    if tile == ROW_TILE {
                        tile_f32_512::<ROW_TILE>(d, x, r, y, b)
                    } else {
                        tile_f32_512::<1>(d, x, r, y, b)
                    }
                };
                b += QUAD;
            }
            if quads < padded(d.m) {
                unsafe {
                    if tile == ROW_TILE {
                        tile_f32::<ROW_TILE>(d, x, r, y, quads)
                    } else {
                        tile_f32::<1>(d, x, r, y, quads)
                    }
                };
            }
            r += tile;
        }
    }

    /// `DenseI8::pairs` sixteen inputs at a time.
    #[target_feature(enable = "avx2")]
    pub unsafe fn pairs(x: &[u8], k: usize, zx: i32, rows: usize, out: &mut [i32]) {
        let k2 = k.div_ceil(2);
        let z = _mm256_set1_epi16(zx as i16);
        for (r, xr) in x[..rows * k].chunks_exact(k).enumerate() {
            let o = &mut out[r * k2..(r + 1) * k2];
            let mut i = 0;
            while i + 16 <= k {
                // SAFETY: 16 bytes of `xr` from `i` and 8 i32s of `o` from `i / 2` are in bounds.
                unsafe {
                    let v = _mm256_cvtepu8_epi16(_mm_loadu_si128(xr[i..i + 16].as_ptr().cast()));
                    _mm256_storeu_si256(o[i / 2..i / 2 + 8].as_mut_ptr().cast(), _mm256_sub_epi16(v, z));
                }
                i += 16;
            }
            super::scalar::pairs_into(&xr[i..], zx, &mut o[i / 2..]);
        }
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn dense_f32(d: &DenseF32, x: &[f32], rows: usize, y: &mut [f32]) {
        let mut r = 0;
        while r + ROW_TILE <= rows {
            // SAFETY: AVX2 is enabled for this function.
            unsafe { tile_f32::<ROW_TILE>(d, x, r, y, 0) };
            r += ROW_TILE;
        }
        while r < rows {
            unsafe { tile_f32::<1>(d, x, r, y, 0) };
            r += 1;
        }
    }

    // Always inlined into the kernels (which enable the features), so the intrinsics inline too.
    #[inline(always)]
    unsafe fn finish_i8(d: &DenseI8, acc: __m256i, row: usize, b: usize, yf: &mut [f32], yi: &mut [i32]) {
        let n = LANES.min(d.m - b);
        // SAFETY (all three): AVX2 is enabled in every caller.
        if d.to_f32 {
            let v = unsafe { post(&d.post, b, _mm256_cvtepi32_ps(acc)) };
            unsafe { store_f32(v, yf, row + b, n) };
        } else {
            unsafe { store_i32(acc, yi, row + b, n) };
        }
    }

    macro_rules! dense_i8 {
        ($name:ident, $tile:ident, $features:literal, |$a:ident, $x:ident, $w:ident| $dot:expr) => {
            #[target_feature(enable = $features)]
            unsafe fn $tile<const R: usize>(d: &DenseI8, pairs: &[i32], r0: usize, yf: &mut [f32], yi: &mut [i32]) {
                let (k2, mp) = (d.k.div_ceil(2), padded(d.m));
                let mut b = 0;
                while b < mp {
                    let two = b + LANES < mp;
                    let mut acc = [[_mm256_setzero_si256(); 2]; R];
                    // Bounds checked once here, so the loop below is only loads and dot products.
                    let (wp, xp) = (d.w[..k2 * mp * 2].as_ptr(), pairs[r0 * k2..(r0 + R) * k2].as_ptr());
                    for p in 0..k2 {
                        // SAFETY: p < k2 and b + 2·LANES ≤ mp when `two` (else b + LANES ≤ mp), so
                        // both loads lie in the `k2 · mp · 2` weights checked above.
                        let w = unsafe { wp.add((p * mp + b) * 2) };
                        let w0 = unsafe { _mm256_loadu_si256(w.cast()) };
                        let w1 = if two { unsafe { _mm256_loadu_si256(w.add(2 * LANES).cast()) } } else { w0 };
                        for (r, a) in acc.iter_mut().enumerate() {
                            // SAFETY: r < R and p < k2: inside the R rows of pairs checked above.
                            let xv = _mm256_set1_epi32(unsafe { *xp.add(r * k2 + p) });
                            a[0] = {
                                let ($a, $x, $w) = (a[0], xv, w0);
                                $dot
                            };
                            if two {
                                a[1] = {
                                    let ($a, $x, $w) = (a[1], xv, w1);
                                    $dot
                                };
                            }
                        }
                    }
                    for (r, a) in acc.iter().enumerate() {
                        let row = (r0 + r) * d.m;
                        unsafe { finish_i8(d, a[0], row, b, yf, yi) };
                        if two {
                            unsafe { finish_i8(d, a[1], row, b + LANES, yf, yi) };
                        }
                    }
                    b += 2 * LANES;
                }
            }

            #[target_feature(enable = $features)]
            pub unsafe fn $name(d: &DenseI8, pairs: &[i32], rows: usize, yf: &mut [f32], yi: &mut [i32]) {
                let mut r = 0;
                while r + ROW_TILE <= rows {
                    // SAFETY: the features are enabled for this function.
                    unsafe { $tile::<ROW_TILE>(d, pairs, r, yf, yi) };
                    r += ROW_TILE;
                }
                while r < rows {
                    unsafe { $tile::<1>(d, pairs, r, yf, yi) };
                    r += 1;
                }
            }
        };
    }

    dense_i8!(dense_i8, tile_i8, "avx2", |a, x, w| _mm256_add_epi32(a, _mm256_madd_epi16(x, w)));
    dense_i8!(dense_i8_vnni, tile_i8_vnni, "avx2,avx512vnni,avx512vl", |a, x, w| _mm256_dpwssd_epi32(a, x, w));

    #[target_feature(enable = "avx2")]
    pub unsafe fn quantize(x: &[f32], inv_scale: f32, zero: i32, y: &mut [u8]) {
        let n = x.len().min(y.len());
        let (s, lo, hi, z) =
            (_mm256_set1_ps(inv_scale), _mm256_set1_ps(-512.0), _mm256_set1_ps(512.0), _mm256_set1_epi32(zero));
        let mut i = 0;
        while i + LANES <= n {
            // SAFETY: `x[i..i + LANES]` is in bounds.
            let v = unsafe { _mm256_loadu_ps(x[i..].as_ptr()) };
            let t = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(v, s));
            // `maxps` gives its second operand for NaN: NaN becomes −512, as in the scalar path.
            let t = _mm256_min_ps(_mm256_max_ps(t, lo), hi);
            let q = _mm256_add_epi32(_mm256_cvtps_epi32(t), z);
            let q = _mm256_min_epi32(_mm256_max_epi32(q, _mm256_setzero_si256()), _mm256_set1_epi32(255));
            let mut t = [0i32; LANES];
            unsafe { _mm256_storeu_si256(t.as_mut_ptr().cast(), q) };
            for (o, v) in y[i..i + LANES].iter_mut().zip(t) {
                *o = v as u8;
            }
            i += LANES;
        }
        super::scalar::quantize(&x[i..n], inv_scale, zero, &mut y[i..n]);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use std::arch::wasm32::*;

    use super::{DenseF32, DenseI8, LANES, Post, padded};

    /// Eight outputs as two vectors.
    type V8 = [v128; 2];

    #[inline(always)]
    fn post(post: &[Post], b: usize, mut v: V8) -> V8 {
        for p in post {
            for (h, x) in v.iter_mut().enumerate() {
                let at = b + 4 * h;
                *x = match p {
                    // SAFETY: `c` has `padded(m)` elements and `at + 4 <= padded(m)`.
                    Post::Mul(c) => f32x4_mul(*x, unsafe { v128_load(c[at..at + 4].as_ptr().cast()) }),
                    Post::Add(c) => f32x4_add(*x, unsafe { v128_load(c[at..at + 4].as_ptr().cast()) }),
                    // `pmax(0, v)` is `0 < v ? v : 0`: NaN and −0 become +0, as in the scalar path.
                    Post::Relu => f32x4_pmax(f32x4_splat(0.0), *x),
                };
            }
        }
        v
    }

    fn store<T: Copy + Default>(v: V8, y: &mut [T], at: usize, n: usize) {
        const { assert!(size_of::<T>() == 4, "f32 or i32") };
        if n == LANES && at + LANES <= y.len() {
            // SAFETY: `y[at..at + LANES]` is in bounds and holds LANES elements of 4 bytes.
            unsafe {
                v128_store(y.as_mut_ptr().add(at).cast(), v[0]);
                v128_store(y.as_mut_ptr().add(at + 4).cast(), v[1]);
            }
            return;
        }
        let mut t = [T::default(); LANES];
        // SAFETY: `t` holds LANES elements of 4 bytes (f32 or i32).
        unsafe {
            v128_store(t.as_mut_ptr().cast(), v[0]);
            v128_store(t.as_mut_ptr().add(4).cast(), v[1]);
        }
        y[at..at + n].copy_from_slice(&t[..n]);
    }

    /// Four rows at a time, so each weight vector loaded serves four rows and eight sums
    /// advance side by side (each output still sums its inputs in order, unfused: the same bits);
    /// the last rows one at a time (a one-row tile measured 50 % slower under Cranelift).
    pub fn dense_f32(d: &DenseF32, x: &[f32], rows: usize, y: &mut [f32]) {
        let mut r = 0;
        while r + 4 <= rows {
            tile_f32::<4>(d, x, r, y);
            r += 4;
        }
        let mp = padded(d.m);
        for r in r..rows {
            let xr = &x[r * d.k..(r + 1) * d.k];
            for b in (0..mp).step_by(LANES) {
                let mut acc: V8 = [f32x4_splat(0.0); 2];
                for (kk, xv) in xr.iter().enumerate() {
                    let w = &d.w[kk * mp + b..kk * mp + b + LANES];
                    let xv = f32x4_splat(*xv);
                    // SAFETY: `w` has LANES floats.
                    unsafe {
                        acc[0] = f32x4_add(acc[0], f32x4_mul(xv, v128_load(w.as_ptr().cast())));
                        acc[1] = f32x4_add(acc[1], f32x4_mul(xv, v128_load(w.as_ptr().add(4).cast())));
                    }
                }
                store(post(&d.post, b, acc), y, r * d.m + b, LANES.min(d.m - b));
            }
        }
    }

    #[inline(always)]
    fn tile_f32<const R: usize>(d: &DenseF32, x: &[f32], r0: usize, y: &mut [f32]) {
        let mp = padded(d.m);
        let xr: [&[f32]; R] = std::array::from_fn(|i| &x[(r0 + i) * d.k..(r0 + i + 1) * d.k]);
        for b in (0..mp).step_by(LANES) {
            let mut acc: [V8; R] = [[f32x4_splat(0.0); 2]; R];
            for kk in 0..d.k {
                let w = &d.w[kk * mp + b..kk * mp + b + LANES];
                // SAFETY: `w` has LANES floats.
                let (w0, w1) = unsafe { (v128_load(w.as_ptr().cast()), v128_load(w.as_ptr().add(4).cast())) };
                for (a, xr) in acc.iter_mut().zip(&xr) {
                    let xv = f32x4_splat(xr[kk]);
                    a[0] = f32x4_add(a[0], f32x4_mul(xv, w0));
                    a[1] = f32x4_add(a[1], f32x4_mul(xv, w1));
                }
            }
            for (i, a) in acc.into_iter().enumerate() {
                store(post(&d.post, b, a), y, (r0 + i) * d.m + b, LANES.min(d.m - b));
            }
        }
    }

    /// Four rows at a time, so each weight vector loaded serves four rows (integer sums are
    /// exact, so the tiling cannot change a bit); the last rows one at a time.
    pub fn dense_i8(d: &DenseI8, pairs: &[i32], rows: usize, yf: &mut [f32], yi: &mut [i32]) {
        let mut r = 0;
        while r + 4 <= rows {
            tile_i8::<4>(d, pairs, r, yf, yi);
            r += 4;
        }
        for r in r..rows {
            tile_i8::<1>(d, pairs, r, yf, yi);
        }
    }

    #[inline(always)]
    fn tile_i8<const R: usize>(d: &DenseI8, pairs: &[i32], r0: usize, yf: &mut [f32], yi: &mut [i32]) {
        let (k2, mp) = (d.k.div_ceil(2), padded(d.m));
        let p: [&[i32]; R] = std::array::from_fn(|i| &pairs[(r0 + i) * k2..(r0 + i + 1) * k2]);
        for b in (0..mp).step_by(LANES) {
            let z = i32x4_splat(0);
            let mut acc: [V8; R] = [[z; 2]; R];
            // Per input pair, the 2·LANES weights of outputs b..b + LANES.
            for (j, w) in d.w.chunks_exact(2 * mp).map(|w| &w[2 * b..2 * b + 2 * LANES]).enumerate().take(k2) {
                // SAFETY: `w` has 2·LANES i16s.
                let (w0, w1) = unsafe { (v128_load(w.as_ptr().cast()), v128_load(w.as_ptr().add(8).cast())) };
                for (a, p) in acc.iter_mut().zip(&p) {
                    let x = i32x4_splat(p[j]);
                    a[0] = i32x4_add(a[0], i32x4_dot_i16x8(x, w0));
                    a[1] = i32x4_add(a[1], i32x4_dot_i16x8(x, w1));
                }
            }
            let n = LANES.min(d.m - b);
            for (i, a) in acc.into_iter().enumerate() {
                let r = r0 + i;
                if d.to_f32 {
                    let f = [f32x4_convert_i32x4(a[0]), f32x4_convert_i32x4(a[1])];
                    store(post(&d.post, b, f), yf, r * d.m + b, n);
                } else {
                    store(a, yi, r * d.m + b, n);
                }
            }
        }
    }

    /// `(x − zx)` of each row's inputs as i16, which laid out in pairs is the scalar
    /// `pairs_into` (an odd last input pairs with 0), eight inputs per step.
    pub fn pairs(x: &[u8], k: usize, zx: i32, rows: usize, out: &mut [i32]) {
        let k2 = k.div_ceil(2);
        let z = i16x8_splat(zx as i16);
        for (xr, o) in x[..rows * k].chunks_exact(k).zip(out.chunks_exact_mut(k2)) {
            let mut j = 0;
            while j + 8 <= k {
                // SAFETY: `xr[j..j + 8]` and `o[j / 2..j / 2 + 4]` (16 bytes) are in bounds.
                unsafe {
                    let v = u16x8_extend_low_u8x16(v128_load64_zero(xr.as_ptr().add(j).cast()));
                    v128_store(o.as_mut_ptr().add(j / 2).cast(), i16x8_sub(v, z));
                }
                j += 8;
            }
            super::scalar::pairs_into(&xr[j..], zx, &mut o[j / 2..]);
        }
    }

    /// The 0..=255 codes of four values (see [`super::quantize`]).
    #[inline(always)]
    fn quantize4(v: v128, s: v128, zero: i32) -> v128 {
        let t = f32x4_nearest(f32x4_mul(v, s));
        // pmax(lo, t) is `lo < t ? t : lo`: NaN becomes −512, as in the scalar path.
        let t = f32x4_pmin(f32x4_pmax(f32x4_splat(-512.0), t), f32x4_splat(512.0));
        let q = i32x4_add(i32x4_trunc_sat_f32x4(t), i32x4_splat(zero));
        i32x4_min(i32x4_max(q, i32x4_splat(0)), i32x4_splat(255))
    }

    pub fn quantize(x: &[f32], inv_scale: f32, zero: i32, y: &mut [u8]) {
        let n = x.len().min(y.len());
        let s = f32x4_splat(inv_scale);
        let mut i = 0;
        // Sixteen at a time, narrowed to bytes (exact: every code is already in 0..=255).
        while i + 16 <= n {
            // SAFETY: `x[i..i + 16]` and `y[i..i + 16]` are in bounds.
            unsafe {
                let q = |j: usize| quantize4(v128_load(x.as_ptr().add(i + j).cast()), s, zero);
                let lo = i16x8_narrow_i32x4(q(0), q(4));
                let hi = i16x8_narrow_i32x4(q(8), q(12));
                v128_store(y.as_mut_ptr().add(i).cast(), u8x16_narrow_i16x8(lo, hi));
            }
            i += 16;
        }
        while i + 4 <= n {
            // SAFETY: `x[i..i + 4]` is in bounds.
            let q = quantize4(unsafe { v128_load(x[i..].as_ptr().cast()) }, s, zero);
            let mut t = [0i32; 4];
            // SAFETY: `t` holds 4 i32s.
            unsafe { v128_store(t.as_mut_ptr().cast(), q) };
            for (o, v) in y[i..i + 4].iter_mut().zip(t) {
                *o = v as u8;
            }
            i += 4;
        }
        super::scalar::quantize(&x[i..n], inv_scale, zero, &mut y[i..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
    }

    /// The dispatched kernels give the scalar reference's bits for every shape edge: widths that
    /// are and are not multiples of the lanes and the row tile, odd input counts, fused posts.
    #[test]
    fn simd_paths_match_the_scalar_reference_bit_for_bit() {
        let mut seed = 7;
        let shapes = [(1, 1, 1), (3, 7, 5), (45, 32, 100), (16, 1, 9), (17, 9, 4), (8, 16, 3), (33, 24, 13)];
        let wide = [(53, 64, 9), (20, 40, 7), (5, 70, 6)];
        for (k, m, rows) in shapes.into_iter().chain(wide) {
            let w: Vec<f32> = (0..k * m).map(|_| lcg(&mut seed)).collect();
            let x: Vec<f32> = (0..rows * k).map(|_| lcg(&mut seed)).collect();
            let mut d = DenseF32::new(k, m, |kk, j| w[kk * m + j]);
            let c: Vec<f32> = (0..padded(m)).map(|_| lcg(&mut seed)).collect();
            d.post = vec![Post::Mul(c.clone()), Post::Add(c), Post::Relu];
            let (mut y, mut want) = (vec![0f32; rows * m], vec![0f32; rows * m]);
            d.run(&x, rows, &mut y);
            scalar::dense_f32(&d, &x, rows, &mut want);
            let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&want));
            #[cfg(target_arch = "x86_64")]
            if std::is_x86_feature_detected!("avx2") {
                // The AVX2 path on its own, whether or not dispatch prefers AVX-512 here.
                // SAFETY: AVX2 is present (checked above).
                unsafe { x86::dense_f32(&d, &x, rows, &mut y) };
                assert_eq!(bits(&y), bits(&want));
            }
            // The order is the plain loop's: Σ_k from 0, then the posts.
            for r in 0..rows {
                for j in 0..m {
                    let mut acc = 0f32;
                    for kk in 0..k {
                        acc += x[r * k + kk] * w[kk * m + j];
                    }
                    let (cm, ca) = match (&d.post[0], &d.post[1]) {
                        (Post::Mul(a), Post::Add(b)) => (a[j], b[j]),
                        _ => unreachable!(),
                    };
                    assert_eq!(want[r * m + j].to_bits(), scalar::relu(acc * cm + ca).to_bits());
                }
            }

            let wi: Vec<i32> = (0..k * m).map(|i| (i as i32 * 37 % 511) - 255).collect();
            let xu: Vec<u8> = (0..rows * k).map(|i| (i * 53 % 256) as u8).collect();
            for to_f32 in [false, true] {
                let mut d = DenseI8::new(k, m, 131, |kk, j| wi[kk * m + j]);
                d.to_f32 = to_f32;
                d.post = vec![Post::Mul(vec![0.01; padded(m)]), Post::Relu];
                let (mut yf, mut yi, mut pairs) = (vec![0f32; rows * m], vec![0i32; rows * m], Vec::new());
                d.run(&xu, rows, &mut pairs, &mut yf, &mut yi);
                let k2 = k.div_ceil(2);
                let mut want_pairs = vec![0i32; rows * k2];
                for (r, o) in xu.chunks_exact(k).zip(want_pairs.chunks_exact_mut(k2)) {
                    scalar::pairs_into(r, 131, o);
                }
                assert_eq!(pairs, want_pairs, "input pairs");
                let (mut wf, mut wi2) = (vec![0f32; rows * m], vec![0i32; rows * m]);
                scalar::dense_i8(&d, &pairs, rows, &mut wf, &mut wi2);
                assert_eq!(yi, wi2);
                // Each x86 path on its own, whichever one dispatch picks on this CPU.
                #[cfg(target_arch = "x86_64")]
                if std::is_x86_feature_detected!("avx2") {
                    let (mut af, mut ai) = (vec![0f32; rows * m], vec![0i32; rows * m]);
                    // SAFETY: AVX2 is present (checked above).
                    unsafe { x86::dense_i8(&d, &pairs, rows, &mut af, &mut ai) };
                    assert_eq!((&af, &ai), (&wf, &wi2));
                    if std::is_x86_feature_detected!("avx512vnni") && std::is_x86_feature_detected!("avx512vl") {
                        // SAFETY: VNNI is present (checked above).
                        unsafe { x86::dense_i8_vnni(&d, &pairs, rows, &mut af, &mut ai) };
                        assert_eq!((&af, &ai), (&wf, &wi2));
                    }
                }
                assert_eq!(
                    yf.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    wf.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                );
                if !to_f32 {
                    for r in 0..rows {
                        for j in 0..m {
                            let s: i32 = (0..k).map(|kk| (xu[r * k + kk] as i32 - 131) * wi[kk * m + j]).sum();
                            assert_eq!(yi[r * m + j], s);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn quantize_saturates_and_rounds_ties_to_even_on_every_path() {
        let x = [0.5, 1.5, 2.5, -0.5, -1.5, 1e9, -1e9, f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 3.49, 100.0, 0.0];
        let mut y = [0u8; 13];
        quantize(&x, 1.0, 10, &mut y);
        assert_eq!(y, [10, 12, 12, 10, 8, 255, 0, 0, 255, 0, 13, 110, 10]);
        let mut want = [0u8; 13];
        scalar::quantize(&x, 1.0, 10, &mut want);
        assert_eq!(y, want);
    }
}
