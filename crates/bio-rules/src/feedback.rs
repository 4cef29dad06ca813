//! The feedback tensor `B` of each rule: how it is drawn and when it changes.

use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

use crate::{Fans, Init, LearningRule};

/// The feedback state of one layer.
///
/// | rule | feedback `B` | stored |
/// |---|---|---|
/// | BP | `W` | nothing |
/// | FA | `B0` | `B0`, drawn once |
/// | uSF | `s · sign(W)` | nothing |
/// | brSF | `|M| ∘ sign(W)`, `M` drawn every forward | nothing |
/// | frSF | `|B0| ∘ sign(W)` | `|B0|`, drawn once |
///
/// Stored tensors are parameters that never require a gradient: they are saved and loaded
/// with the model, and no optimiser ever changes them.
#[derive(Module, Debug)]
pub struct Feedback<B: Backend, const D: usize> {
    /// FA's `B0`, or frSF's magnitudes `|B0|`; `None` for the other rules.
    fixed: Option<Param<Tensor<B, D>>>,
    /// The rule.
    #[module(skip)]
    rule: LearningRule,
    /// Fans of the weight, for the uSF scale and the brSF draws.
    #[module(skip)]
    fans: Fans,
    /// How feedback magnitudes are drawn.
    #[module(skip)]
    init: Init,
}

impl<B: Backend, const D: usize> Feedback<B, D> {
    /// Creates the feedback state of a weight of the given shape, drawing fixed tensors now.
    pub fn new(
        rule: LearningRule,
        shape: [usize; D],
        fans: Fans,
        init: Init,
        device: &B::Device,
    ) -> Self {
        let bound = init.bound(fans);
        let fixed = match rule {
            LearningRule::Fa => Some(uniform(shape, bound, device)),
            LearningRule::Frsf => Some(uniform(shape, bound, device).abs()),
            _ => None,
        };
        let fixed = fixed.map(|t| Param::from_tensor(t).set_require_grad(false));
        Self {
            fixed,
            rule,
            fans,
            init,
        }
    }

    /// Creates FA or frSF feedback from a given stored tensor (FA's `B0`, frSF's `|B0|`),
    /// or the stateless feedback of BP, uSF and brSF when `fixed` is `None`.
    ///
    /// Returns `None` when the rule needs a stored tensor and none is given, or gets one it
    /// does not use.
    pub fn from_fixed(
        rule: LearningRule,
        fixed: Option<Tensor<B, D>>,
        fans: Fans,
        init: Init,
    ) -> Option<Self> {
        if rule.has_fixed_state() != fixed.is_some() {
            return None;
        }
        let fixed = fixed.map(|t| Param::from_tensor(t.detach()).set_require_grad(false));
        Some(Self {
            fixed,
            rule,
            fans,
            init,
        })
    }

    /// The feedback tensor to use with the current forward weight `weight`, detached from
    /// the graph. brSF draws fresh magnitudes on every call.
    pub fn tensor(&self, weight: &Tensor<B, D>) -> Tensor<B, D> {
        let weight = weight.clone().detach();
        match self.rule {
            LearningRule::Bp => weight,
            LearningRule::Fa => self.stored().detach(),
            LearningRule::Frsf => self.stored().detach() * weight.sign(),
            LearningRule::Usf => weight.sign() * self.fans.usf_scale(),
            LearningRule::Brsf => {
                let shape: [usize; D] = weight.dims();
                let magnitude = uniform(shape, self.init.bound(self.fans), &weight.device());
                magnitude.abs() * weight.sign()
            }
        }
    }

    /// The rule this feedback follows.
    pub fn rule(&self) -> LearningRule {
        self.rule
    }

    /// The stored tensor (FA's `B0` or frSF's `|B0|`), if the rule keeps one.
    pub fn fixed(&self) -> Option<Tensor<B, D>> {
        self.fixed.as_ref().map(Param::val)
    }

    /// Number of stored feedback values (not trained, reported apart from parameters).
    pub fn num_stored(&self) -> usize {
        self.fixed.as_ref().map_or(0, |p| p.shape().num_elements())
    }

    fn stored(&self) -> Tensor<B, D> {
        // `new` creates the tensor for every rule that reads it and the field is private,
        // so a missing tensor here is a bug in this crate, never bad input.
        self.fixed
            .as_ref()
            .map(Param::val)
            .expect("FA and frSF feedback always hold their fixed tensor")
    }
}

fn uniform<B: Backend, const D: usize>(
    shape: [usize; D],
    bound: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Uniform(-bound, bound), device)
}
