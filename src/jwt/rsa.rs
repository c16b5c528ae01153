//! The RSA public operation for RS256 verification, `s^e mod n`, on 64-bit limbs with
//! Montgomery multiplication.
//!
//! Written here rather than taken from num-bigint (about 17 KB of the gzipped browser package)
//! or the `rsa` crate (larger still): verification needs this one operation and nothing else,
//! and it works on public values only (the signature and the key), so it need not run in
//! constant time.

/// An RSA public key, prepared for repeated verification.
pub(super) struct PublicKey {
    /// The modulus, least significant limb first, without leading zero limbs.
    n: Vec<u64>,
    /// `-n^-1 mod 2^64`.
    n0: u64,
    /// `R^2 mod n` with `R = 2^(64 * limbs)`: what takes a number into Montgomery form.
    rr: Vec<u64>,
    e: u32,
}

impl PublicKey {
    /// The key with modulus `n` (big-endian bytes) and exponent `e`; `None` unless `n` is odd
    /// and above 1.
    pub(super) fn new(n: &[u8], e: u32) -> Option<PublicKey> {
        let n = limbs(n);
        if n.first().is_none_or(|l| l & 1 == 0) || n == [1] {
            return None;
        }
        // Newton's iteration doubles the correct low bits of the inverse: 3 (an odd number is
        // its own inverse mod 8) → 6 → … → 96 ≥ 64.
        let mut inv = n[0];
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(n[0].wrapping_mul(inv)));
        }
        // R^2 mod n by doubling 1 modulo n 2 * 64 * limbs times (once per key, so the simple way).
        let mut rr = vec![0u64; n.len()];
        rr[0] = 1;
        for _ in 0..128 * n.len() {
            let carry = shl1(&mut rr);
            if carry || !less(&rr, &n) {
                sub(&mut rr, &n);
            }
        }
        Some(PublicKey { n0: inv.wrapping_neg(), rr, n, e })
    }

    /// Size of the modulus in bits.
    pub(super) fn bits(&self) -> usize {
        64 * self.n.len() - self.n.last().map_or(64, |l| l.leading_zeros() as usize)
    }

    /// Size of the modulus in bytes: the length of a signature and of the encoded message.
    pub(super) fn len(&self) -> usize {
        self.bits().div_ceil(8)
    }

    /// `s^e mod n` as [`Self::len`] big-endian bytes, for `s` given as big-endian bytes;
    /// `None` when `s ≥ n`.
    pub(super) fn public_op(&self, s: &[u8]) -> Option<Vec<u8>> {
        let mut s = limbs(s);
        if s.len() > self.n.len() {
            return None;
        }
        s.resize(self.n.len(), 0);
        if !less(&s, &self.n) {
            return None;
        }
        let mut t = vec![0u64; self.n.len() + 2];
        let base = self.mul(&s, &self.rr, &mut t);
        let mut acc = base.clone();
        for bit in (0..31 - self.e.leading_zeros()).rev() {
            acc = self.mul(&acc, &acc, &mut t);
            if self.e >> bit & 1 == 1 {
                acc = self.mul(&acc, &base, &mut t);
            }
        }
        let mut one = vec![0u64; self.n.len()];
        one[0] = 1;
        let m = self.mul(&acc, &one, &mut t);
        let bytes: Vec<u8> = m.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
        Some(bytes[bytes.len() - self.len()..].to_vec())
    }

    /// Montgomery product `a * b / R mod n` (coarsely integrated operand scanning), with `t`
    /// as scratch of `limbs + 2`.
    fn mul(&self, a: &[u64], b: &[u64], t: &mut [u64]) -> Vec<u64> {
        let (n, k) = (&self.n, self.n.len());
        t.fill(0);
        for &bi in b {
            let mut c = 0u64;
            for j in 0..k {
                let x = t[j] as u128 + a[j] as u128 * bi as u128 + c as u128;
                (t[j], c) = (x as u64, (x >> 64) as u64);
            }
            let x = t[k] as u128 + c as u128;
            (t[k], t[k + 1]) = (x as u64, (x >> 64) as u64);
            // Add m * n, with m chosen so the low limb becomes zero, and shift down one limb.
            let m = t[0].wrapping_mul(self.n0);
            let mut c = ((t[0] as u128 + m as u128 * n[0] as u128) >> 64) as u64;
            for j in 1..k {
                let x = t[j] as u128 + m as u128 * n[j] as u128 + c as u128;
                (t[j - 1], c) = (x as u64, (x >> 64) as u64);
            }
            let x = t[k] as u128 + c as u128;
            t[k - 1] = x as u64;
            t[k] = t[k + 1] + (x >> 64) as u64;
        }
        let mut r = t[..k].to_vec();
        if t[k] != 0 || !less(&r, n) {
            sub(&mut r, n);
        }
        r
    }
}

/// Big-endian bytes as little-endian limbs, without leading zero limbs.
fn limbs(be: &[u8]) -> Vec<u64> {
    let mut out: Vec<u64> = be.rchunks(8).map(|c| c.iter().fold(0u64, |acc, &b| acc << 8 | b as u64)).collect();
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

/// `a < b` for equally long little-endian numbers.
fn less(a: &[u64], b: &[u64]) -> bool {
    a.iter().rev().cmp(b.iter().rev()).is_lt()
}

/// `a -= b` modulo `2^(64 * limbs)` (the borrow out is the carry the caller already accounted for).
fn sub(a: &mut [u64], b: &[u64]) {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d, b1) = x.overflowing_sub(y);
        let (d, b2) = d.overflowing_sub(borrow as u64);
        (*x, borrow) = (d, b1 || b2);
    }
}

/// `a <<= 1`, returning the bit shifted out.
fn shl1(a: &mut [u64]) -> bool {
    let mut carry = 0;
    for x in a.iter_mut() {
        let next = *x >> 63;
        *x = *x << 1 | carry;
        carry = next;
    }
    carry == 1
}

#[cfg(test)]
mod tests {
    use super::PublicKey;

    fn unhex(h: &str) -> Vec<u8> {
        let h = if h.len() % 2 == 1 { format!("0{h}") } else { h.to_string() };
        (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
    }

    /// Agrees with Python's `pow(s, e, n)` from one limb to 4099 bits, on exponents 3, 17,
    /// 65537 and a 32-bit prime, and at the edges 0, 1 and n - 1.
    #[test]
    fn the_public_operation_matches_an_independent_implementation() {
        let vectors = include_str!("../../tests/fixtures/jwt/rsa-vectors.txt");
        let mut cases = 0;
        for line in vectors.lines().filter(|l| !l.starts_with('#')) {
            let f: Vec<&str> = line.split(' ').collect();
            let (bits, e, n, s, want) = (f[0].parse::<usize>().unwrap(), f[1].parse().unwrap(), f[2], f[3], f[4]);
            let key = PublicKey::new(&unhex(n), e).unwrap();
            assert_eq!(key.bits(), bits);
            let got = key.public_op(&unhex(s)).unwrap();
            assert_eq!(got.len(), bits.div_ceil(8));
            let mut want = unhex(want);
            while want.len() < got.len() {
                want.insert(0, 0);
            }
            assert_eq!(got, want, "{bits}-bit modulus, e = {e}");
            cases += 1;
        }
        assert_eq!(cases, 9);
    }

    #[test]
    fn refuses_signatures_not_below_the_modulus_and_even_moduli() {
        let n = [0xc5, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09];
        let key = PublicKey::new(&n, 65537).unwrap();
        assert!(key.public_op(&n).is_none());
        assert!(key.public_op(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0]).is_none());
        assert!(key.public_op(&[0, 0, 0xc5, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]).is_some());
        assert!(PublicKey::new(&[0xc5, 0x02], 3).is_none());
        assert!(PublicKey::new(&[0, 0, 1], 3).is_none());
        assert!(PublicKey::new(&[], 3).is_none());
    }
}
