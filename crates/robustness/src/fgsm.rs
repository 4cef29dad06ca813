//! Fast gradient sign method (Goodfellow et al. 2015).

use crate::attack::Attack;
use crate::batch::Batch;
use crate::classifier::Classifier;
use crate::error::{self, Result};
use crate::gradient::{Ascent, Objective, ascend};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use rand::rngs::StdRng;

/// One step of size ε along the sign of the input gradient of the cross-entropy:
/// `x' = clamp(x + ε · sign(∇ₓ CE(f(x), y)), 0, 1)`. Deterministic: `rng` is not used.
///
/// Where the gradient is exactly zero, `sign` is zero and the pixel stays as it is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fgsm {
    /// L∞ radius ε in pixel units (`8.0 / 255.0` is common on CIFAR); finite, `>= 0`.
    pub epsilon: f32,
}

impl Fgsm {
    /// FGSM with radius `epsilon`.
    pub fn new(epsilon: f32) -> Self {
        Self { epsilon }
    }
}

impl<B: AutodiffBackend> Attack<B> for Fgsm {
    fn name(&self) -> &str {
        "FGSM"
    }

    fn epsilon(&self) -> Option<f32> {
        Some(self.epsilon)
    }

    fn with_epsilon(&self, epsilon: f32) -> Self {
        Self { epsilon }
    }

    fn perturb(
        &self,
        model: &dyn Classifier<B>,
        images: Tensor<B, 4>,
        labels: Tensor<B, 1, Int>,
        _rng: &mut StdRng,
    ) -> Result<Tensor<B, 4>> {
        error::non_negative("FGSM", "epsilon", self.epsilon)?;
        let batch = Batch::check(&images, &labels)?;
        let objective = Objective::cross_entropy(&batch, &images.device());
        let clean = images.detach().inner();
        let ascent = Ascent {
            attack: "FGSM",
            epsilon: self.epsilon,
            step: self.epsilon,
            steps: 1,
        };
        ascend(model, clean.clone(), clean, &batch, &objective, &ascent)
    }
}
