//! Seeded index splits.

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// Splits the indices `0..n` into two disjoint parts that together cover them, after a shuffle
/// seeded with `seed` (DARTS splits the training set 50/50 into weight and architecture data).
///
/// The first part holds `round(n * fraction)` indices. `fraction` is clamped to `[0, 1]`; NaN
/// counts as 0.5. Both parts are in shuffled order; the same `(n, fraction, seed)` always gives
/// the same parts.
pub fn split_in_two(n: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let fraction = if fraction.is_nan() {
        0.5
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let mut indices: Vec<usize> = (0..n).collect();
    indices.shuffle(&mut StdRng::seed_from_u64(seed));
    let first = ((n as f64) * fraction).round() as usize;
    let second = indices.split_off(first.min(n));
    (indices, second)
}
