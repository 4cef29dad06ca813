//! The feedback tensor `B` of each rule: how it is drawn and when it changes.

use burn::module::{Module, Param, ParamId};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, ElementConversion, Tensor};

use crate::backend::{InputGrad, Probe, RuleGrad, WeightGrad};
use crate::{Fans, Init, LearningRule, RuleHub};

/// The feedback state of one layer.
///
/// | rule | feedback | stored |
/// |---|---|---|
/// | BP | `W` | nothing |
/// | FA | `B0` | `B0`, drawn once |
/// | uSF | `s · sign(W)` | nothing |
/// | brSF | `|M| ∘ sign(W)`, `M` drawn every forward | nothing |
/// | frSF | `|B0| ∘ sign(W)` | `|B0|`, drawn once |
/// | DFA | projection `P` of the output error | `P: [classes, fan-in shape]`, drawn once |
/// | Hebbian | none (no error crosses the layer) | nothing |
///
/// Stored tensors are parameters that never require a gradient: they are saved and loaded
/// with the model, and no optimiser ever changes them.
#[derive(Module, Debug)]
pub struct Feedback<B: Backend, const D: usize> {
    /// FA's `B0`, frSF's magnitudes `|B0|` or DFA's projection; `None` for the other rules.
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
    /// The network's hub: DFA's output error and the alignment probe.
    #[module(skip)]
    hub: Option<RuleHub>,
}

impl<B: Backend, const D: usize> Feedback<B, D> {
    /// Creates the feedback state of a weight of the given shape, drawing fixed tensors now.
    ///
    /// # Panics
    /// For [`LearningRule::Dfa`], whose projection has another shape: use
    /// [`Feedback::direct`].
    pub fn new(
        rule: LearningRule,
        shape: [usize; D],
        fans: Fans,
        init: Init,
        device: &B::Device,
    ) -> Self {
        assert!(
            rule != LearningRule::Dfa,
            "a DFA layer needs its network's hub: build it with init_with_hub (or \
             Feedback::direct)"
        );
        let bound = init.bound(fans);
        let fixed = match rule {
            LearningRule::Fa => Some(uniform(shape, bound, device)),
            LearningRule::Frsf => Some(uniform(shape, bound, device).abs()),
            _ => None,
        };
        Self {
            fixed: fixed.map(fixed_param),
            rule,
            fans,
            init,
            hub: None,
        }
    }

    /// DFA feedback: a projection of shape `shape` (`[classes, ...]`), drawn once with
    /// `init` and the fans PyTorch gives a tensor of that shape, reading the output error
    /// from `hub`.
    pub fn direct(
        shape: [usize; D],
        fans: Fans,
        init: Init,
        hub: RuleHub,
        device: &B::Device,
    ) -> Self {
        Self {
            fixed: Some(fixed_param(uniform(shape, init.bound(fans), device))),
            rule: LearningRule::Dfa,
            fans,
            init,
            hub: Some(hub),
        }
    }

    /// Creates FA, frSF or DFA feedback from a given stored tensor (FA's `B0`, frSF's
    /// `|B0|`, DFA's projection), or the stateless feedback of the other rules when `fixed`
    /// is `None`. DFA feedback also needs [`with_hub`](Self::with_hub).
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
        Some(Self {
            fixed: fixed.map(|t| fixed_param(t.detach())),
            rule,
            fans,
            init,
            hub: None,
        })
    }

    /// The same feedback, linked to a network's hub (DFA's output error, the alignment
    /// probe).
    pub fn with_hub(mut self, hub: RuleHub) -> Self {
        self.hub = Some(hub);
        self
    }

    /// The hub this feedback is linked to, if any.
    pub fn hub(&self) -> Option<RuleHub> {
        self.hub
    }

    /// The feedback tensor to use with the current forward weight `weight`, detached from
    /// the graph, for the rules whose feedback has the weight's shape (`None` for DFA and
    /// Hebbian). brSF draws fresh magnitudes on every call.
    pub fn tensor(&self, weight: &Tensor<B, D>) -> Option<Tensor<B, D>> {
        let weight = weight.clone().detach();
        let feedback = match self.rule {
            LearningRule::Bp => weight,
            LearningRule::Fa => self.stored().detach(),
            LearningRule::Frsf => self.stored().detach() * weight.sign(),
            LearningRule::Usf => weight.sign() * self.init.usf_scale(self.fans),
            LearningRule::Brsf => {
                let shape: [usize; D] = weight.dims();
                let magnitude = uniform(shape, self.init.bound(self.fans), &weight.device());
                magnitude.abs() * weight.sign()
            }
            LearningRule::Dfa | LearningRule::Hebbian => return None,
        };
        Some(feedback)
    }

    /// The backward rule for one training forward pass with the weight `weight` (whose
    /// parameter id is `key`): what the input and the weight receive. Records the angle
    /// between `W` and `B` while the hub's probe records; sends back-propagation's
    /// gradient while the probe is in back-propagation mode.
    pub fn rule_grad(
        &self,
        weight: &Tensor<B, D>,
        key: ParamId,
        clamp_input: bool,
    ) -> RuleGrad<Tensor<B, D>> {
        let (recording, backprop) = self.hub.map_or((false, false), RuleHub::probe_state);
        let probe = self.hub.filter(|_| recording).map(|hub| Probe {
            hub,
            key,
            rule: self.rule,
        });
        if backprop {
            let mut grad = RuleGrad::feedback(weight.clone().detach());
            grad.probe = probe;
            return grad;
        }
        let (input, weight_grad) = match self.rule {
            LearningRule::Dfa => (self.direct_input(), WeightGrad::Gradient),
            LearningRule::Hebbian => (InputGrad::Zero, WeightGrad::Hebbian),
            _ => {
                let feedback = self
                    .tensor(weight)
                    .unwrap_or_else(|| weight.clone().detach());
                if let Some(probe) = probe {
                    record_weight_alignment(probe, weight, &feedback);
                }
                (InputGrad::Feedback(feedback), WeightGrad::Gradient)
            }
        };
        RuleGrad {
            input,
            weight: weight_grad,
            clamp_input,
            probe,
        }
    }

    fn direct_input(&self) -> InputGrad<Tensor<B, D>> {
        // `direct` always sets the hub; `from_fixed` needs `with_hub`, as documented.
        let hub = self.hub.expect(
            "a DFA layer needs its network's hub: build it with init_with_hub, or give \
             Feedback::from_fixed's result one with with_hub",
        );
        InputGrad::Direct {
            projection: self.stored().detach(),
            hub,
            pass: hub.upcoming_pass(),
        }
    }

    /// The rule this feedback follows.
    pub fn rule(&self) -> LearningRule {
        self.rule
    }

    /// The stored tensor (FA's `B0`, frSF's `|B0|`, DFA's projection), if the rule keeps
    /// one.
    pub fn fixed(&self) -> Option<Tensor<B, D>> {
        self.fixed.as_ref().map(Param::val)
    }

    /// Number of stored feedback values (not trained, reported apart from parameters).
    pub fn num_stored(&self) -> usize {
        self.fixed.as_ref().map_or(0, |p| p.shape().num_elements())
    }

    /// Number of feedback values of a weight with `weight_len` values: one per weight for
    /// the weight-shaped rules other than BP (stored or computed on the fly), the
    /// projection's size for DFA, none for BP and Hebbian.
    pub fn len(&self, weight_len: usize) -> usize {
        match self.rule {
            LearningRule::Bp | LearningRule::Hebbian => 0,
            LearningRule::Dfa => self.num_stored(),
            _ => weight_len,
        }
    }

    /// Whether the layer has no feedback values at all (BP and Hebbian).
    pub fn is_empty(&self) -> bool {
        self.len(1) == 0
    }

    fn stored(&self) -> Tensor<B, D> {
        // `new` and `direct` create the tensor for every rule that reads it and the field is
        // private, so a missing tensor here is a bug in this crate, never bad input.
        self.fixed
            .as_ref()
            .map(Param::val)
            .expect("FA, frSF and DFA feedback always hold their fixed tensor")
    }
}

/// The weight a forward pass uses: `weight` itself, or, when the layer keeps its initial
/// norm, `weight` rescaled to that norm with the gradient of the rescaled weight passed to
/// `weight` unchanged (biotorch's `constrain_weights`).
pub(crate) fn constrain<B: Backend, const D: usize>(
    weight: Tensor<B, D>,
    initial_norm: Option<&Param<Tensor<B, 1>>>,
) -> Tensor<B, D> {
    let Some(initial_norm) = initial_norm else {
        return weight;
    };
    let frozen = weight.clone().detach();
    let norm = frozen
        .clone()
        .powi_scalar(2)
        .sum()
        .sqrt()
        .clamp_min(f32::MIN_POSITIVE);
    let scale = (initial_norm.val().detach() / norm).unsqueeze::<D>();
    let rescaled = frozen.clone() * scale;
    weight + (rescaled - frozen)
}

/// The Frobenius norm of a weight, as a one-element tensor.
pub(crate) fn norm<B: Backend, const D: usize>(weight: &Tensor<B, D>) -> Tensor<B, 1> {
    weight.clone().detach().powi_scalar(2).sum().sqrt()
}

fn record_weight_alignment<B: Backend, const D: usize>(
    probe: Probe,
    weight: &Tensor<B, D>,
    feedback: &Tensor<B, D>,
) {
    let w = weight.clone().detach();
    let dot = (w.clone() * feedback.clone())
        .sum()
        .into_scalar()
        .elem::<f64>();
    let w_norm = norm(&w).into_scalar().elem::<f64>();
    let b_norm = norm(feedback).into_scalar().elem::<f64>();
    probe.hub.record(probe.key, probe.rule, |r, _| {
        r.weight_angle = angle_degrees(dot, w_norm, b_norm);
        r.norm_ratio = (w_norm > 0.0).then(|| b_norm / w_norm);
    });
}

/// The angle in degrees between two vectors from their dot product and norms; `None` when
/// either is zero.
pub(crate) fn angle_degrees(dot: f64, norm_a: f64, norm_b: f64) -> Option<f64> {
    let denominator = norm_a * norm_b;
    (denominator > 0.0 && denominator.is_finite())
        .then(|| (dot / denominator).clamp(-1.0, 1.0).acos().to_degrees())
}

fn fixed_param<B: Backend, const D: usize>(tensor: Tensor<B, D>) -> Param<Tensor<B, D>> {
    Param::from_tensor(tensor).set_require_grad(false)
}

fn uniform<B: Backend, const D: usize>(
    shape: [usize; D],
    bound: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Uniform(-bound, bound), device)
}
