//! Projected gradient descent (Madry et al. 2018).

use crate::attack::Attack;
use crate::batch::{self, Batch};
use crate::classifier::Classifier;
use crate::error::{self, Result};
use crate::gradient::{Ascent, Objective, ascend};
use crate::noise;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use rand::rngs::StdRng;

/// The paper's PGD step size, `2/255`.
pub const PAPER_STEP: f32 = 2.0 / 255.0;
/// The paper's number of PGD steps.
pub const PAPER_STEPS: usize = 10;

/// Iterated FGSM with projection: from `x⁰` (uniform in the ε-ball around `x`, clamped to
/// `[0, 1]`, or `x` itself), `xᵗ⁺¹ = Π(xᵗ + α · sign(∇ₓ CE(f(xᵗ), y)))` where `Π` clamps to
/// `[x − ε, x + ε] ∩ [0, 1]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pgd {
    /// L∞ radius ε in pixel units; finite, `>= 0`.
    pub epsilon: f32,
    /// Step size α in pixel units; finite, `>= 0`. Default [`PAPER_STEP`].
    pub step: f32,
    /// Number of steps; at least 1. Default [`PAPER_STEPS`].
    pub steps: usize,
    /// Whether to start from a uniform random point of the ε-ball. Default `true`.
    pub random_start: bool,
}

impl Pgd {
    /// PGD with radius `epsilon` and the paper's settings: step 2/255, 10 steps, random
    /// start.
    pub fn new(epsilon: f32) -> Self {
        Self {
            epsilon,
            step: PAPER_STEP,
            steps: PAPER_STEPS,
            random_start: true,
        }
    }

    /// Checks every parameter.
    fn validate(&self) -> Result<()> {
        error::non_negative("PGD", "epsilon", self.epsilon)?;
        error::non_negative("PGD", "step", self.step)?;
        error::positive("PGD", "steps", self.steps)
    }
}

impl<B: AutodiffBackend> Attack<B> for Pgd {
    fn name(&self) -> &str {
        "PGD"
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
        let objective = Objective::cross_entropy(&batch, &device);
        let clean = images.detach().inner();
        let start = if self.random_start {
            let eps = self.epsilon;
            let offsets = noise::uniform(rng, batch.len() * batch.image_len(), -eps, eps);
            clean.clone() + batch::device_tensor(offsets, batch.dims, &device)
        } else {
            clean.clone()
        };
        let ascent = Ascent {
            attack: "PGD",
            epsilon: self.epsilon,
            step: self.step,
            steps: self.steps,
        };
        ascend(model, clean, start, &batch, &objective, &ascent)
    }
}
