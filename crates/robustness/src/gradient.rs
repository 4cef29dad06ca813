//! The sign-gradient ascent shared by FGSM, PGD and TPGD.

use crate::batch::{self, Batch};
use crate::classifier::Classifier;
use crate::error::{Result, RobustnessError};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Int, Tensor};

/// What a gradient attack maximises, summed over the batch (so each image's gradient does
/// not depend on the batch size).
pub(crate) enum Objective<B: AutodiffBackend> {
    /// `Σ_i −log softmax(f(x'_i))[y_i]`; holds the labels as a `[n, 1]` index tensor.
    CrossEntropy(Tensor<B, 2, Int>),
    /// `Σ_i Σ_k p_ik (log p_ik − log q_ik)` with `q = softmax(f(x'))` and `p` fixed.
    Kl {
        /// `p`, `[n, classes]`, detached.
        probs: Tensor<B, 2>,
        /// `log p`, `[n, classes]`, detached.
        log_probs: Tensor<B, 2>,
    },
}

impl<B: AutodiffBackend> Objective<B> {
    /// Cross-entropy against the batch's labels.
    pub fn cross_entropy(batch: &Batch, device: &B::Device) -> Self {
        Self::CrossEntropy(batch.label_indices(device))
    }

    /// KL divergence from the model's own prediction on `clean`.
    pub fn kl_from(model: &dyn Classifier<B>, clean: Tensor<B, 4>, batch: &Batch) -> Result<Self> {
        let logits = batch::logits(model, clean, &batch.labels)?.detach();
        Ok(Self::Kl {
            probs: softmax(logits.clone(), 1),
            log_probs: log_softmax(logits, 1),
        })
    }

    /// The objective's value at `logits`, a one-element tensor.
    fn value(&self, logits: Tensor<B, 2>) -> Tensor<B, 1> {
        let log_q = log_softmax(logits, 1);
        match self {
            Self::CrossEntropy(labels) => log_q.gather(1, labels.clone()).sum().neg(),
            Self::Kl { probs, log_probs } => (probs.clone() * (log_probs.clone() - log_q)).sum(),
        }
    }
}

/// Settings of one sign-gradient ascent.
pub(crate) struct Ascent {
    /// The attack's name, for errors.
    pub attack: &'static str,
    /// L∞ radius.
    pub epsilon: f32,
    /// Step size.
    pub step: f32,
    /// Number of steps.
    pub steps: usize,
}

/// Runs `x ← Π(x + step · sign(∇ₓ objective))` from `start`, where `Π` projects onto the
/// ε-ball around `clean` and onto `[0, 1]`. Only the input is differentiated.
pub(crate) fn ascend<B: AutodiffBackend>(
    model: &dyn Classifier<B>,
    clean: Tensor<B::InnerBackend, 4>,
    start: Tensor<B::InnerBackend, 4>,
    batch: &Batch,
    objective: &Objective<B>,
    ascent: &Ascent,
) -> Result<Tensor<B, 4>> {
    let mut adversarial = project(start, &clean, ascent.epsilon);
    for _ in 0..ascent.steps {
        let x = Tensor::<B, 4>::from_inner(adversarial.clone()).require_grad();
        let cut = RobustnessError::NoInputGradient {
            attack: ascent.attack,
        };
        let logits = batch::logits(model, x.clone(), &batch.labels)?;
        let grads = objective.value(logits).backward();
        let gradient = x.grad(&grads).ok_or(cut)?;
        let moved = adversarial + gradient.sign().mul_scalar(ascent.step);
        adversarial = project(moved, &clean, ascent.epsilon);
    }
    Ok(Tensor::from_inner(adversarial))
}

/// Clamps `x` into `[clean − ε, clean + ε] ∩ [0, 1]`, element by element.
pub(crate) fn project<B: Backend>(
    x: Tensor<B, 4>,
    clean: &Tensor<B, 4>,
    epsilon: f32,
) -> Tensor<B, 4> {
    x.max_pair(clean.clone().sub_scalar(epsilon))
        .min_pair(clean.clone().add_scalar(epsilon))
        .clamp(0.0, 1.0)
}
