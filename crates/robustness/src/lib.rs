//! Adversarial attacks in pixel space `[0, 1]` and robust-accuracy evaluation, for any Burn
//! autodiff backend.
//!
//! A model is a [`Classifier`]: pixel-space images in, logits out, normalisation inside.
//! Every attack is untargeted, returns images in `[0, 1]` and, except OnePixel, within the
//! L∞ ball `‖x' − x‖∞ ≤ ε` of the originals; all randomness comes from a seeded
//! [`rand::rngs::StdRng`], so a seed repeats a result. White-box attacks differentiate with
//! respect to the input only (a fresh leaf `x.detach().require_grad()`, then
//! `loss.backward()` and `x.grad(&grads)`); the model is never changed. They follow the
//! model's own backward pass, so a bio-inspired rule's pseudo-gradient is what they see.
//!
//! Give the attacks a model whose parameters do not track gradients (Burn's
//! `Module::no_grad`): on an autodiff backend, forward passes with tracked parameters and no
//! backward pass (the black-box attacks' queries, the accuracy counts) keep their graphs
//! alive, and memory grows with every query.
//!
//! Symbols: `x` clean images, `y` labels, `f` the logits, `ε` the L∞ radius, `α` the step,
//! `CE(z, y) = −log softmax(z)[y]`, `Π(x')` the element-wise clamp of `x'` to
//! `[x − ε, x + ε] ∩ [0, 1]`. Losses are summed over the batch, so an image's attack does
//! not depend on the batch it is in (up to the random draws).
//!
//! - [`Fgsm`] (Goodfellow et al., 2015, <https://arxiv.org/abs/1412.6572>):
//!   `x' = clamp(x + ε · sign(∇ₓ CE(f(x), y)), 0, 1)`.
//! - [`Pgd`] (Madry et al., 2018, <https://arxiv.org/abs/1706.06083>): `x⁰ = Π(x + U(−ε, ε))`,
//!   `xᵗ⁺¹ = Π(xᵗ + α · sign(∇ CE(f(xᵗ), y)))`; the paper uses α = 2/255 and 10 steps.
//! - [`Tpgd`] (the KL attack of TRADES, Zhang et al., 2019, <https://arxiv.org/abs/1901.08573>):
//!   with `p = softmax(f(x))` fixed, `x⁰ = Π(x + 0.001 · N(0, 1))`,
//!   `xᵗ⁺¹ = Π(xᵗ + α · sign(∇ KL(p ‖ softmax(f(xᵗ)))))`, where
//!   `KL(p ‖ q) = Σ_k p_k (log p_k − log q_k)`. Labels are not used.
//! - [`Square`] (Andriushchenko et al., 2020, <https://arxiv.org/abs/1912.00049>): random
//!   search on the margin `f_y(x') − max_{k≠y} f_k(x')` with forward passes only; vertical
//!   ±ε stripes to start, then squares of `p(i) · h · w` pixels set to `x ± ε` per channel,
//!   kept when the margin drops, `p` shrinking on the paper's schedule, within a query
//!   budget.
//! - [`OnePixel`] (Su et al., 2019, <https://arxiv.org/abs/1710.08864>): differential
//!   evolution (DE/rand/1, `F = 0.5`, no crossover) over `(x, y, value per channel)` for a few
//!   pixels, minimising the true class's probability, forward passes only; ignores ε.
//!
//! Evaluation: [`accuracy`], [`robust_accuracy`] (every image exactly once, clean and
//! adversarial predictions counted separately), [`transfer_accuracy`] (crafted on one model,
//! scored on another) and [`sweep`] over ε, written with [`write_sweep_csv`] and drawn with
//! [`write_sweep_svg`].
//!
//! ```
//! # fn demo<B: burn::tensor::backend::AutodiffBackend>(
//! #     model: &dyn robustness::Classifier<B>,
//! #     images: burn::tensor::Tensor<B, 4>,
//! #     labels: burn::tensor::Tensor<B, 1, burn::tensor::Int>,
//! # ) -> robustness::Result<()> {
//! use rand::SeedableRng;
//! use robustness::{Pgd, robust_accuracy};
//!
//! let mut rng = rand::rngs::StdRng::seed_from_u64(0);
//! let pgd = Pgd::new(8.0 / 255.0);
//! let counts = robust_accuracy(model, &pgd, images, labels, 100, &mut rng)?;
//! assert!(counts.adversarial() <= 1.0);
//! # Ok(())
//! # }
//! ```

mod attack;
mod batch;
mod classifier;
mod error;
mod eval;
mod fgsm;
mod gradient;
mod noise;
mod one_pixel;
mod pgd;
mod square;
mod sweep;
mod tpgd;

pub use attack::{AnyAttack, Attack};
pub use classifier::Classifier;
pub use error::{Result, RobustnessError};
pub use eval::{RobustAccuracy, TransferAccuracy, accuracy, robust_accuracy, transfer_accuracy};
pub use fgsm::Fgsm;
pub use one_pixel::{ONE_PIXEL_ITERATIONS, ONE_PIXEL_POPULATION, ONE_PIXEL_WEIGHT, OnePixel};
pub use pgd::{PAPER_STEP, PAPER_STEPS, Pgd};
pub use square::{SQUARE_P_INIT, SQUARE_QUERIES, Square};
pub use sweep::{
    SWEEP_CSV_HEADER, Sweep, SweepRow, sweep, sweep_chart, sweep_csv, write_sweep_csv,
    write_sweep_svg,
};
pub use tpgd::{TPGD_START_STD, Tpgd};
