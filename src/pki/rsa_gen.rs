//! RSA key generation that is about twice as fast as aws-lc's
//! `RSA_generate_key_ex` per key, and spreads the prime search of one key
//! over every core.
//!
//! Why not just `aws_lc_rs::rsa::KeyPair::generate`: profiled on the 2-core
//! benchmark machine (`perf record` on `kpki genkey`, RSA-2048), aws-lc spends
//! 25% of key generation in trial division (`bn_mod_u16_consttime`, every
//! random candidate divided by up to 1024 small primes one at a time) and 65%
//! in Miller-Rabin exponentiations, one for each candidate that survives trial
//! division. This module finds the same kind of primes with less work:
//!
//! * a random start, then a window of `4 x bits` odd numbers after it is
//!   sieved at once by every prime below 2^16 (one residue per small prime per
//!   window instead of one division per small prime per candidate). A larger
//!   sieve bound leaves fewer composites for Miller-Rabin: ~36 exponentiations
//!   per 1024-bit prime instead of ~44. Candidates `= 1 (mod e)` are sieved out
//!   too (`gcd(p-1, e) = 1` is then guaranteed);
//! * the survivors, in order, go to aws-lc's own `BN_primality_test` (the test
//!   its key generation uses, with the same number of rounds);
//! * the primes of all keys wanted come from one pool filled by one worker
//!   per core, so one key takes about half the time on two cores and a set of
//!   keys keeps every core busy to the last key.
//!
//! What is kept from FIPS 186-4 B.3.3: both primes are at least
//! `2^(bits/2-1) * sqrt(2)` (so `n` has exactly `bits` bits), `|p - q| >
//! 2^(bits/2-100)`, `gcd(p-1, e) = gcd(q-1, e) = 1`, `e = 65537`. What differs:
//! candidates are consecutive odd numbers after a random start (incremental
//! search, as OpenSSL's `BN_generate_prime_ex` and GnuPG do) rather than a new
//! random number each time; the bias this gives towards primes after long gaps
//! costs a negligible amount of entropy (Brandt and Damgård, CRYPTO '92). `d`
//! is `e^-1 mod (p-1)(q-1)`, as Go's `crypto/rsa` (and so cfssl) computes it;
//! aws-lc and OpenSSL accept it (`RSA_check_key`, `openssl rsa -check`).
//!
//! Side channels: arithmetic on the primes is constant-time (multiplications,
//! exact division by `e`, reduction by small constants without a divide
//! instruction, `BN_mod_exp_mont_consttime` for `q^-1 mod p`); which sieve
//! slots are marked depends on the secret start, as in every sieving prime
//! generator. Every key is checked by aws-lc (`RSA_new_private_key` runs
//! `RSA_check_key`) and parsed back by the caller before it is used.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_lc_sys as sys;
use zeroize::Zeroizing;

/// The public exponent (F4). Several reductions below rely on it being this
/// constant so the compiler turns `% E` into multiplications.
const E: u64 = 65537;

/// Small primes up to this bound sieve each window.
const SIEVE_BOUND: u32 = 1 << 16;

/// Top 64 bits of `2^63 * sqrt(2)`, rounded down: a prime whose top limb is
/// above this is above `2^(bits-1) * sqrt(2)`.
const SQRT2_TOP: u64 = 0xB504_F333_F9DE_6484;

/// Windows searched before giving up; with a working random number generator
/// a window holds no prime with probability below 1e-5.
const MAX_WINDOWS: usize = 64;

/// A secret big number as little-endian 64-bit limbs, wiped on drop.
type Limbs = Zeroizing<Vec<u64>>;

/// Generates `count` RSA keys of `bits` bits; returns each as PKCS#1 DER
/// (`RSAPrivateKey`). `bits` must be a multiple of 128 (2048, 3072, 4096, 8192).
pub fn generate(bits: u32, count: usize) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    generate_on(bits, count, cores)
}

/// [`generate`] with at most `threads` threads searching for primes (the
/// benchmark compares one thread with aws-lc's generator).
pub fn generate_on(bits: u32, count: usize, threads: usize) -> Result<Vec<Zeroizing<Vec<u8>>>, String> {
    if bits < 1024 || !bits.is_multiple_of(128) {
        return Err(format!("unsupported RSA size {bits}"));
    }
    if count == 0 {
        return Ok(Vec::new());
    }
    let half = bits as usize / 2;
    let workers = threads.clamp(1, 2 * count);
    let pool = Mutex::new(Pool { spare: None, keys: Vec::with_capacity(count), error: None });
    let stop = AtomicBool::new(false);
    let work = || worker(half, count, &pool, &stop);
    std::thread::scope(|s| {
        for _ in 1..workers {
            s.spawn(work);
        }
        work();
    });
    let pool = pool.into_inner().map_err(|_| "a key generation thread failed".to_string())?;
    if let Some(e) = pool.error {
        return Err(e);
    }
    if pool.keys.len() != count {
        return Err("a key generation thread failed".into());
    }
    Ok(pool.keys)
}

struct Pool {
    /// A prime waiting for a partner.
    spare: Option<Limbs>,
    keys: Vec<Zeroizing<Vec<u8>>>,
    error: Option<String>,
}

fn worker(half: usize, count: usize, pool: &Mutex<Pool>, stop: &AtomicBool) {
    let fail = |e: String| {
        if let Ok(mut p) = pool.lock() {
            p.error.get_or_insert(e);
        }
        stop.store(true, Ordering::Relaxed);
    };
    let ctx = match BnCtx::new() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    loop {
        let prime = match find_prime(half, &ctx, stop) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => return fail(e),
        };
        let partner = {
            let Ok(mut p) = pool.lock() else { return };
            if p.keys.len() >= count {
                return;
            }
            match p.spare.take() {
                Some(other) => other,
                None => {
                    p.spare = Some(prime);
                    continue;
                }
            }
        };
        match assemble(prime, partner, &ctx) {
            Ok(Some(der)) => {
                let Ok(mut p) = pool.lock() else { return };
                if p.keys.len() < count {
                    p.keys.push(der);
                }
                if p.keys.len() >= count {
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
            }
            // The two primes are too close (probability ~2^-99): drop both.
            Ok(None) => {}
            Err(e) => return fail(e),
        }
    }
}

// ---- the sieve ------------------------------------------------------------

/// An odd modulus below 2^17 with its Barrett constant `floor(2^64 / m)`.
#[derive(Clone, Copy)]
struct Modulus {
    m: u64,
    inv: u64,
}

impl Modulus {
    const fn new(m: u64) -> Self {
        Modulus { m, inv: u64::MAX / m }
    }

    /// `x mod m` for `x < 2^50` without a divide instruction (constant time).
    #[inline(always)]
    fn reduce(self, x: u64) -> u64 {
        let q = ((x as u128 * self.inv as u128) >> 64) as u64;
        let r = x - q * self.m; // < 2m: the estimate is at most one short
        r - (self.m & 0u64.wrapping_sub((r >= self.m) as u64))
    }

    /// `n mod m` for a big number `n` (little-endian limbs).
    fn residue(self, n: &[u64]) -> u64 {
        let mut r = 0u64;
        for &limb in n.iter().rev() {
            r = self.reduce((r << 32) | (limb >> 32));
            r = self.reduce((r << 32) | (limb & 0xFFFF_FFFF));
        }
        r
    }

    /// The offset `i` in `0..m` at which `start + 2i = target (mod m)`, given
    /// `start mod m`.
    #[inline(always)]
    fn offset(self, start_mod: u64, target: u64) -> u64 {
        let t = self.reduce(target + self.m - start_mod); // 2i = t (mod m)
        (t + (t & 1) * self.m) / 2 // m is odd: halve t or t + m, whichever is even
    }
}

fn small_primes() -> &'static [Modulus] {
    static PRIMES: OnceLock<Vec<Modulus>> = OnceLock::new();
    PRIMES.get_or_init(|| {
        let n = SIEVE_BOUND as usize;
        let mut composite = vec![false; n];
        let mut out = Vec::with_capacity(6600);
        for i in 3..n {
            if !composite[i] {
                if i % 2 == 1 {
                    out.push(Modulus::new(i as u64));
                }
                (i * i..n).step_by(i).for_each(|j| composite[j] = true);
            }
        }
        out
    })
}

/// Marks the offsets `i < width` where `start + 2i` has a prime factor below
/// [`SIEVE_BOUND`] or is `1 (mod e)`.
fn sieve(start: &[u64], width: usize) -> Vec<bool> {
    let mut marked = vec![false; width];
    for &sp in small_primes() {
        let mut i = sp.offset(sp.residue(start), 0) as usize;
        while i < width {
            marked[i] = true;
            i += sp.m as usize;
        }
    }
    let e = Modulus::new(E);
    let mut i = e.offset(e.residue(start), 1) as usize;
    while i < width {
        marked[i] = true;
        i += E as usize;
    }
    marked
}

/// A random odd number of `bits` bits whose top limb is above
/// [`SQRT2_TOP`] and below `u64::MAX`, so that adding less than 2^64 keeps it
/// within `bits` bits and above `2^(bits-1) * sqrt(2)`.
fn random_start(bits: usize) -> Result<Limbs, String> {
    let mut bytes = Zeroizing::new(vec![0u8; bits / 8]);
    loop {
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| "the random number generator failed".to_string())?;
        let mut n = from_be_bytes(&bytes);
        n[0] |= 1;
        let top = n[n.len() - 1];
        // Rejected values are discarded, so leaking this comparison is harmless.
        if top > SQRT2_TOP && top != u64::MAX {
            return Ok(n);
        }
    }
}

/// Searches windows after random starts until a probable prime is found;
/// `None` when `stop` was raised meanwhile.
fn find_prime(bits: usize, ctx: &BnCtx, stop: &AtomicBool) -> Result<Option<Limbs>, String> {
    let width = 4 * bits;
    for _ in 0..MAX_WINDOWS {
        let start = random_start(bits)?;
        let marked = sieve(&start, width);
        for (i, _) in marked.iter().enumerate().filter(|(_, &m)| !m) {
            if stop.load(Ordering::Relaxed) {
                return Ok(None);
            }
            let mut candidate = start.clone();
            add_small(&mut candidate, 2 * i as u64);
            if ctx.is_probable_prime(&candidate)? {
                return Ok(Some(candidate));
            }
        }
    }
    Err(format!("no prime found in {MAX_WINDOWS} windows (is the random number generator broken?)"))
}

// ---- putting a key together -----------------------------------------------

/// Makes the PKCS#1 key of two primes; `None` if they are too close.
fn assemble(a: Limbs, b: Limbs, ctx: &BnCtx) -> Result<Option<Zeroizing<Vec<u8>>>, String> {
    let half = a.len() * 64;
    // Order them p > q (which of two fresh primes is larger is no secret), so
    // that q < p for q^-1 mod p.
    let (p, q) = if cmp(&a, &b).is_gt() { (a, b) } else { (b, a) };
    let diff = sub(&p, &q);
    if bit_len(&diff) <= half - 100 {
        return Ok(None);
    }
    let n = mul(&p, &q);
    if bit_len(&n) != 2 * half {
        return Err("internal error: the modulus has the wrong size".into());
    }
    let mut pm1 = p.clone();
    pm1[0] &= !1; // p is odd
    let mut qm1 = q.clone();
    qm1[0] &= !1;
    let phi = mul(&pm1, &qm1);
    let d = inverse_of_e(&phi);
    let dp = inverse_of_e(&pm1);
    let dq = inverse_of_e(&qm1);
    let mut pm2 = pm1.clone();
    sub_one(&mut pm2);

    let bn = |x: &[u64]| Bn::from_limbs(x);
    let (n, e, d, p, q, dp, dq, pm2) = (bn(&n)?, Bn::word(E)?, bn(&d)?, bn(&p)?, bn(&q)?, bn(&dp)?, bn(&dq)?, bn(&pm2)?);
    // q^-1 mod p = q^(p-2) mod p (Fermat; p is prime and q < p).
    let qinv = ctx.mod_exp_consttime(&q, &pm2, &p)?;
    // SAFETY: every pointer is a live BIGNUM owned by this function;
    // RSA_new_private_key copies them and runs RSA_check_key.
    let rsa = unsafe { sys::RSA_new_private_key(n.0, e.0, d.0, p.0, q.0, dp.0, dq.0, qinv.0) };
    if rsa.is_null() {
        return Err("aws-lc rejected the generated RSA key (RSA_check_key)".into());
    }
    let mut out: *mut u8 = std::ptr::null_mut();
    let mut len = 0usize;
    // SAFETY: rsa is a valid RSA; on success out points to len bytes that we
    // copy, wipe and free; rsa is freed exactly once.
    unsafe {
        let ok = sys::RSA_private_key_to_bytes(&mut out, &mut len, rsa);
        sys::RSA_free(rsa);
        if ok != 1 || out.is_null() {
            return Err("aws-lc could not encode the generated RSA key".into());
        }
        let der = Zeroizing::new(std::slice::from_raw_parts(out, len).to_vec());
        sys::OPENSSL_cleanse(out.cast(), len);
        sys::OPENSSL_free(out.cast());
        Ok(Some(der))
    }
}

/// `e^-1 mod m` for an even `m` prime to `e`: `(1 + k*m) / e` with
/// `k = -m^-1 mod e`, which is exact and below `m`. Constant time: `m mod e`
/// by multiplications, `k` by a fixed exponentiation, the division by
/// multiplying with `e^-1 mod 2^64` limb by limb.
fn inverse_of_e(m: &[u64]) -> Limbs {
    let e = Modulus::new(E);
    let neg = e.reduce(E - e.residue(m)); // -m mod e, never 0 here
    // k = neg^(e-2) mod e; e - 2 = 0xFFFF, so 16 squarings and multiplications.
    let mut k = 1u64;
    for _ in 0..16 {
        k = e.reduce(k * k);
        k = e.reduce(k * neg);
    }
    // t = k*m + 1, one limb longer than m.
    let mut t = Zeroizing::new(vec![0u64; m.len() + 1]);
    let mut carry = 1u128;
    for (i, &limb) in m.iter().enumerate() {
        let x = limb as u128 * k as u128 + carry;
        t[i] = x as u64;
        carry = x >> 64;
    }
    t[m.len()] = carry as u64;
    // Exact division by e (Jebelean): each quotient limb is the remainder
    // limb times e^-1 mod 2^64.
    let mut inv = E; // Newton: each step doubles the correct low bits (5 -> 80)
    for _ in 0..5 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(E.wrapping_mul(inv)));
    }
    let mut q = Zeroizing::new(vec![0u64; m.len() + 1]);
    let mut borrow = 0u64;
    for i in 0..t.len() {
        let (x, b) = t[i].overflowing_sub(borrow);
        q[i] = x.wrapping_mul(inv);
        borrow = ((q[i] as u128 * E as u128) >> 64) as u64 + b as u64;
    }
    q.truncate(m.len()); // the result is below m
    q
}

// ---- limb arithmetic (constant time in the values) --------------------------

fn from_be_bytes(bytes: &[u8]) -> Limbs {
    let mut out = Zeroizing::new(vec![0u64; bytes.len().div_ceil(8)]);
    for (i, chunk) in bytes.rchunks(8).enumerate() {
        let mut buf = [0u8; 8];
        buf[8 - chunk.len()..].copy_from_slice(chunk);
        out[i] = u64::from_be_bytes(buf);
        zeroize::Zeroize::zeroize(&mut buf);
    }
    out
}

fn to_be_bytes(n: &[u64]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(n.len() * 8));
    for limb in n.iter().rev() {
        out.extend_from_slice(&limb.to_be_bytes());
    }
    out
}

/// `n += x` for `x` small enough not to carry out of `n` (see [`random_start`]).
fn add_small(n: &mut [u64], x: u64) {
    let mut carry = x;
    for limb in n.iter_mut() {
        let (s, c) = limb.overflowing_add(carry);
        *limb = s;
        carry = c as u64;
    }
}

/// `n -= 1` for an odd `n` minus one (an even, non-zero `n`).
fn sub_one(n: &mut [u64]) {
    let mut borrow = 1u64;
    for limb in n.iter_mut() {
        let (s, b) = limb.overflowing_sub(borrow);
        *limb = s;
        borrow = b as u64;
    }
}

/// `a - b` for `a >= b` of the same length.
fn sub(a: &[u64], b: &[u64]) -> Limbs {
    let mut out = Zeroizing::new(vec![0u64; a.len()]);
    let mut borrow = 0u64;
    for i in 0..a.len() {
        let (s1, b1) = a[i].overflowing_sub(b[i]);
        let (s2, b2) = s1.overflowing_sub(borrow);
        out[i] = s2;
        borrow = (b1 | b2) as u64;
    }
    out
}

fn mul(a: &[u64], b: &[u64]) -> Limbs {
    let mut out = Zeroizing::new(vec![0u64; a.len() + b.len()]);
    for (i, &x) in a.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &y) in b.iter().enumerate() {
            let t = x as u128 * y as u128 + out[i + j] as u128 + carry;
            out[i + j] = t as u64;
            carry = t >> 64;
        }
        out[i + b.len()] = carry as u64;
    }
    out
}

fn cmp(a: &[u64], b: &[u64]) -> std::cmp::Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

fn bit_len(n: &[u64]) -> usize {
    n.iter().rposition(|&l| l != 0).map_or(0, |i| i * 64 + 64 - n[i].leading_zeros() as usize)
}

// ---- aws-lc big numbers -----------------------------------------------------

/// An owned aws-lc BIGNUM, cleared and freed on drop.
struct Bn(*mut sys::BIGNUM);

impl Bn {
    fn from_limbs(n: &[u64]) -> Result<Bn, String> {
        let bytes = to_be_bytes(n);
        // SAFETY: bytes is a live buffer of bytes.len() bytes; a null `ret`
        // asks for a new BIGNUM, which Bn then owns.
        let p = unsafe { sys::BN_bin2bn(bytes.as_ptr(), bytes.len(), std::ptr::null_mut()) };
        if p.is_null() { Err("out of memory".into()) } else { Ok(Bn(p)) }
    }

    fn word(w: u64) -> Result<Bn, String> {
        // SAFETY: BN_new returns an owned BIGNUM or null.
        let p = unsafe { sys::BN_new() };
        if p.is_null() || unsafe { sys::BN_set_word(p, w) } != 1 {
            drop(Bn(p));
            return Err("out of memory".into());
        }
        Ok(Bn(p))
    }
}

impl Drop for Bn {
    fn drop(&mut self) {
        // SAFETY: self.0 is null or a BIGNUM this value owns.
        unsafe { sys::BN_clear_free(self.0) }
    }
}

/// A per-thread aws-lc BN_CTX (scratch space for big-number operations).
struct BnCtx(*mut sys::BN_CTX);

impl BnCtx {
    fn new() -> Result<BnCtx, String> {
        // SAFETY: BN_CTX_new returns an owned context or null.
        let p = unsafe { sys::BN_CTX_new() };
        if p.is_null() { Err("out of memory".into()) } else { Ok(BnCtx(p)) }
    }

    /// aws-lc's primality test as its RSA key generation runs it (the
    /// number of Miller-Rabin rounds for the size, no trial division: the
    /// sieve did that).
    fn is_probable_prime(&self, n: &[u64]) -> Result<bool, String> {
        let bn = Bn::from_limbs(n)?;
        let mut out = 0;
        // SAFETY: bn and the context are live; a null callback is allowed.
        let ok = unsafe {
            sys::BN_primality_test(&mut out, bn.0, sys::BN_prime_checks_for_generation, self.0, 0, std::ptr::null_mut())
        };
        if ok != 1 {
            return Err("the primality test failed".into());
        }
        Ok(out == 1)
    }

    /// `a^x mod m` in constant time, for an odd `m` and `a < m`.
    fn mod_exp_consttime(&self, a: &Bn, x: &Bn, m: &Bn) -> Result<Bn, String> {
        let r = Bn::word(0)?;
        // SAFETY: all BIGNUMs and the context are live; the Montgomery context
        // is freed before returning.
        unsafe {
            let mont = sys::BN_MONT_CTX_new_consttime(m.0, self.0);
            if mont.is_null() {
                return Err("out of memory".into());
            }
            let ok = sys::BN_mod_exp_mont_consttime(r.0, a.0, x.0, m.0, self.0, mont);
            sys::BN_MONT_CTX_free(mont);
            if ok != 1 {
                return Err("modular exponentiation failed".into());
            }
        }
        Ok(r)
    }
}

impl Drop for BnCtx {
    fn drop(&mut self) {
        // SAFETY: self.0 is a BN_CTX this value owns.
        unsafe { sys::BN_CTX_free(self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limbs_of(x: u128, len: usize) -> Vec<u64> {
        let mut v = vec![x as u64, (x >> 64) as u64];
        v.resize(len, 0);
        v
    }

    #[test]
    fn barrett_reduction_matches_the_remainder_operator() {
        for m in [3u64, 5, 7, 65521, E] {
            let md = Modulus::new(m);
            for x in [0u64, 1, m - 1, m, m + 1, 12345678901, (1 << 49) - 1, 0xB504_F333_F9DE] {
                assert_eq!(md.reduce(x), x % m, "{x} mod {m}");
            }
        }
        let n = [0xDEAD_BEEF_0123_4567u64, 0x8000_0000_0000_0001, 0xFFFF_FFFF_0000_0001];
        let big = |m: u64| -> u64 { n.iter().rev().fold(0u128, |r, &l| ((r << 64) | l as u128) % m as u128) as u64 };
        for m in [3u64, 65521, E] {
            assert_eq!(Modulus::new(m).residue(&n), big(m));
        }
    }

    #[test]
    fn the_sieve_marks_exactly_the_multiples_of_small_primes_and_one_mod_e() {
        let start = random_start(512).unwrap();
        let width = 512;
        let marked = sieve(&start, width);
        let primes = small_primes();
        assert_eq!(primes.len(), 6541, "odd primes below 2^16");
        for (i, &m) in marked.iter().enumerate() {
            let mut c = start.clone();
            add_small(&mut c, 2 * i as u64);
            let bad = primes.iter().any(|sp| big_mod(&c, sp.m) == 0) || big_mod(&c, E) == 1;
            assert_eq!(m, bad, "offset {i}");
        }
        assert!(marked.iter().filter(|&&m| !m).count() > width / 20, "the sieve leaves about 10% of candidates");
    }

    fn big_mod(n: &[u64], m: u64) -> u64 {
        n.iter().rev().fold(0u128, |r, &l| ((r << 64) | l as u128) % m as u128) as u64
    }

    #[test]
    fn inverse_of_e_is_an_inverse_and_below_the_modulus() {
        for seed in 1..200u128 {
            let m = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835) & ((1 << 121) - 1) & !1) | (1 << 120);
            if m % E as u128 == 0 {
                continue;
            }
            let d = inverse_of_e(&limbs_of(m, 2));
            let d = d[0] as u128 | (d[1] as u128) << 64;
            assert!(d < m);
            // d*e mod m == 1, computed without overflow as (d mod m)*(e) via u128 halves.
            let de = mul(&limbs_of(d, 2), &[E]);
            let r = de.iter().rev().fold(0u128, |r, &l| {
                // (r * 2^64 + l) mod m, with r < m < 2^121: split to avoid overflow
                let mut x = r;
                for _ in 0..64 {
                    x = (x << 1) % m;
                }
                (x + l as u128 % m) % m
            });
            assert_eq!(r, 1, "m = {m:#x}");
        }
    }

    #[test]
    fn limb_helpers() {
        let a = from_be_bytes(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09]);
        assert_eq!(&a[..], &[0x0203_0405_0607_0809, 0x01]);
        assert_eq!(&to_be_bytes(&a)[7..], &[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09]);
        assert_eq!(bit_len(&[0, 1]), 65);
        assert_eq!(bit_len(&[0, 0]), 0);
        let mut n = vec![0, 1];
        sub_one(&mut n);
        assert_eq!(n, [u64::MAX, 0]);
        assert_eq!(&sub(&[0, 1], &[1, 0])[..], &[u64::MAX, 0]);
        assert_eq!(&mul(&[u64::MAX], &[u64::MAX])[..], &[1, u64::MAX - 1]);
    }

    #[test]
    fn generated_keys_pass_aws_lc_checks_and_have_the_exact_size() {
        let keys = generate(2048, 3).unwrap();
        assert_eq!(keys.len(), 3);
        for der in &keys {
            let pair = aws_lc_rs::rsa::KeyPair::from_der(der).unwrap();
            assert_eq!(pair.public_modulus_len() * 8, 2048);
            let msg = b"kpki";
            let mut sig = vec![0; pair.public_modulus_len()];
            pair.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &aws_lc_rs::rand::SystemRandom::new(), msg, &mut sig).unwrap();
            let public = aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
                aws_lc_rs::signature::KeyPair::public_key(&pair).as_ref(),
            );
            public.verify(msg, &sig).unwrap();
        }
        assert_ne!(keys[0][..], keys[1][..]);
        assert!(generate(1000, 1).is_err());
    }

    #[test]
    fn the_prime_pool_gives_exactly_the_keys_asked_for_with_any_number_of_workers() {
        assert!(generate(2048, 0).unwrap().is_empty());
        for (count, threads) in [(1, 1), (1, 4), (3, 2), (4, 8)] {
            let keys = generate_on(2048, count, threads).unwrap();
            assert_eq!(keys.len(), count, "{count} keys on {threads} threads");
            let moduli: std::collections::BTreeSet<Vec<u8>> = keys
                .iter()
                .map(|der| aws_lc_rs::signature::KeyPair::public_key(&aws_lc_rs::rsa::KeyPair::from_der(der).unwrap()).as_ref().to_vec())
                .collect();
            assert_eq!(moduli.len(), count, "no prime is used twice");
        }
    }
}
