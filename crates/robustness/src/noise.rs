//! Seeded random draws on the host, so that every attack repeats under a seed.

use rand::Rng;
use rand::rngs::StdRng;

/// `len` draws from the uniform distribution on `[low, high)` (all `low` when equal).
pub(crate) fn uniform(rng: &mut StdRng, len: usize, low: f32, high: f32) -> Vec<f32> {
    (0..len)
        .map(|_| low + (high - low) * rng.random::<f32>())
        .collect()
}

/// `len` draws from the standard normal distribution (Box–Muller).
pub(crate) fn normal(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| standard_normal(rng)).collect()
}

/// One standard normal draw: `√(−2 ln u) · cos(2π v)` with `u` in `(0, 1]`, `v` in `[0, 1)`.
pub(crate) fn standard_normal(rng: &mut StdRng) -> f32 {
    let u = 1.0 - rng.random::<f64>();
    let v = rng.random::<f64>();
    let z = (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos();
    z as f32
}

/// `+value` or `−value` with equal probability.
pub(crate) fn random_sign(rng: &mut StdRng, value: f32) -> f32 {
    if rng.random_bool(0.5) { value } else { -value }
}
