//! KL-divergence PGD, as in TRADES (Zhang et al. 2019).

use crate::attack::Attack;
use crate::batch::{self, Batch};
use crate::classifier::Classifier;
use crate::error::{self, Result};
use crate::gradient::{Ascent, Objective, ascend};
use crate::noise;
use crate::pgd::{PAPER_STEP, PAPER_STEPS};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use rand::rngs::StdRng;

/// Standard deviation of TPGD's Gaussian start, in pixel units.
pub const TPGD_START_STD: f32 = 0.001;

/// PGD on the divergence from the model's own clean prediction, with no labels:
/// `x⁰ = Π(x + σ·N(0, 1))`, `xᵗ⁺¹ = Π(xᵗ + α · sign(∇ₓ KL(p ‖ q(xᵗ))))` where
/// `p = softmax(f(x))` is fixed, `q(x') = softmax(f(x'))` and `Π` clamps to
/// `[x − ε, x + ε] ∩ [0, 1]`.
///
/// The labels passed to [`Attack::perturb`] are only checked, not used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tpgd {
    /// L∞ radius ε in pixel units; finite, `>= 0`.
    pub epsilon: f32,
    /// Step size α in pixel units; finite, `>= 0`. Default [`PAPER_STEP`].
    pub step: f32,
    /// Number of steps; at least 1. Default [`PAPER_STEPS`].
    pub steps: usize,
    /// Standard deviation σ of the Gaussian start, in pixel units; finite, `>= 0`.
    /// Default [`TPGD_START_STD`].
    pub start_std: f32,
}

impl Tpgd {
    /// TPGD with radius `epsilon`, step 2/255, 10 steps and a start 0.001·N(0, 1) away.
    pub fn new(epsilon: f32) -> Self {
        Self {
            epsilon,
            step: PAPER_STEP,
            steps: PAPER_STEPS,
            start_std: TPGD_START_STD,
        }
    }

    /// Checks every parameter.
    fn validate(&self) -> Result<()> {
        error::non_negative("TPGD", "epsilon", self.epsilon)?;
        error::non_negative("TPGD", "step", self.step)?;
        error::non_negative("TPGD", "start_std", self.start_std)?;
        error::positive("TPGD", "steps", self.steps)
    }
}

impl<B: AutodiffBackend> Attack<B> for Tpgd {
    fn name(&self) -> &str {
        "TPGD"
    }

    fn epsilon(&self) -> Option<f32> {
        Some(self.epsilon)
    }

    fn with_epsilon(&self, epsilon: f32) -> Self {
        Self { epsilon, ..*self }
    }

    fn perturb(
        &self,
        model: &dyn Classifier<B>,
        images: Tensor<B, 4>,
        labels: Tensor<B, 1, Int>,
        rng: &mut StdRng,
    ) -> Result<Tensor<B, 4>> {
        self.validate()?;
        let batch = Batch::check(&images, &labels)?;
        let device = images.device();
        let images = images.detach();
        let objective = Objective::kl_from(model, images.clone(), &batch)?;
        let clean = images.inner();
        let noise = noise::normal(rng, batch.len() * batch.image_len());
        let noise = batch::device_tensor(noise, batch.dims, &device).mul_scalar(self.start_std);
        let ascent = Ascent {
            attack: "TPGD",
            epsilon: self.epsilon,
            step: self.step,
            steps: self.steps,
        };
        ascend(
            model,
            clean.clone(),
            clean + noise,
            &batch,
            &objective,
            &ascent,
        )
    }
}
