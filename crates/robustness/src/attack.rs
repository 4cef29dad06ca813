//! The interface shared by all attacks, and an enum to mix them in one list.

use crate::classifier::Classifier;
use crate::error::Result;
use crate::{Fgsm, OnePixel, Pgd, Square, Tpgd};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use rand::rngs::StdRng;

/// An untargeted adversarial attack on pixel-space images.
pub trait Attack<B: AutodiffBackend> {
    /// Short name for tables and legends, such as `"PGD"`.
    fn name(&self) -> &str;

    /// The L∞ radius, or `None` for an attack that ignores it (OnePixel).
    fn epsilon(&self) -> Option<f32>;

    /// The same attack with radius `epsilon` (unchanged for an attack that ignores it).
    fn with_epsilon(&self, epsilon: f32) -> Self
    where
        Self: Sized;

    /// Adversarial versions of `images`, in `[0, 1]` and, for attacks with a radius, within
    /// it of the originals in L∞. Random draws come from `rng` only, so a seed repeats the
    /// result. The model is not changed.
    ///
    /// # Shapes
    /// - `images`: `[n, channels, height, width]`, values in `[0, 1]`
    /// - `labels`: `[n]`, the true classes
    /// - output: like `images`
    ///
    /// # Errors
    /// Bad parameters, an empty batch, a label count that differs from `n`, labels outside
    /// the model's classes, values outside `[0, 1]`, logits of the wrong shape, and, for
    /// gradient attacks, a model whose logits do not depend differentiably on its input.
    fn perturb(
        &self,
        model: &dyn Classifier<B>,
        images: Tensor<B, 4>,
        labels: Tensor<B, 1, Int>,
        rng: &mut StdRng,
    ) -> Result<Tensor<B, 4>>;
}

/// Any of this crate's attacks, so that different kinds fit in one list (for a sweep).
#[derive(Clone, Debug, PartialEq)]
pub enum AnyAttack {
    /// Fast gradient sign method.
    Fgsm(Fgsm),
    /// Projected gradient descent.
    Pgd(Pgd),
    /// TRADES-style KL projected gradient descent.
    Tpgd(Tpgd),
    /// Square attack (black box).
    Square(Square),
    /// One-pixel attack (black box).
    OnePixel(OnePixel),
}

impl AnyAttack {
    /// The wrapped attack as a trait object.
    fn inner<B: AutodiffBackend>(&self) -> &dyn Attack<B> {
        match self {
            Self::Fgsm(a) => a,
            Self::Pgd(a) => a,
            Self::Tpgd(a) => a,
            Self::Square(a) => a,
            Self::OnePixel(a) => a,
        }
    }
}

impl<B: AutodiffBackend> Attack<B> for AnyAttack {
    fn name(&self) -> &str {
        Attack::<B>::name(self.inner::<B>())
    }

    fn epsilon(&self) -> Option<f32> {
        Attack::<B>::epsilon(self.inner::<B>())
    }

    fn with_epsilon(&self, epsilon: f32) -> Self {
        match self {
            Self::Fgsm(a) => Self::Fgsm(Attack::<B>::with_epsilon(a, epsilon)),
            Self::Pgd(a) => Self::Pgd(Attack::<B>::with_epsilon(a, epsilon)),
            Self::Tpgd(a) => Self::Tpgd(Attack::<B>::with_epsilon(a, epsilon)),
            Self::Square(a) => Self::Square(Attack::<B>::with_epsilon(a, epsilon)),
            Self::OnePixel(a) => Self::OnePixel(Attack::<B>::with_epsilon(a, epsilon)),
        }
    }

    fn perturb(
        &self,
        model: &dyn Classifier<B>,
        images: Tensor<B, 4>,
        labels: Tensor<B, 1, Int>,
        rng: &mut StdRng,
    ) -> Result<Tensor<B, 4>> {
        self.inner::<B>().perturb(model, images, labels, rng)
    }
}

macro_rules! any_attack_from {
    ($($kind:ident),*) => {$(
        impl From<$kind> for AnyAttack {
            fn from(attack: $kind) -> Self {
                Self::$kind(attack)
            }
        }
    )*};
}

any_attack_from!(Fgsm, Pgd, Tpgd, Square, OnePixel);
