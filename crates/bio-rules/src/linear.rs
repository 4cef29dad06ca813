//! A linear layer that learns with a chosen rule.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorPrimitive};

use crate::conv::initial_norm;
use crate::feedback::constrain;
use crate::{Fans, Feedback, Init, LearningRule, RuleBackend, RuleHub};

/// Configuration of a [`RuleLinear`].
#[derive(Config, Debug)]
pub struct RuleLinearConfig {
    /// Input features.
    pub d_input: usize,
    /// Output features.
    pub d_output: usize,
    /// Whether to add a bias (default true; the bias always learns by its own gradient).
    #[config(default = true)]
    pub bias: bool,
    /// The learning rule (default back-propagation).
    #[config(default = "LearningRule::Bp")]
    pub rule: LearningRule,
    /// How the weight is drawn (default Xavier-uniform).
    #[config(default = "Init::XavierUniform")]
    pub weight_init: Init,
    /// How feedback magnitudes are drawn (default Xavier-uniform).
    #[config(default = "Init::XavierUniform")]
    pub feedback_init: Init,
    /// Rescale `W` to its initial norm before each forward (default off, as in biotorch).
    #[config(default = false)]
    pub constrain_weights: bool,
    /// Clamp the input gradient to `[-1, 1]` (default off, as in biotorch).
    #[config(default = false)]
    pub clamp_input_grad: bool,
}

/// A linear layer `y = x · W + b` whose backward pass follows a [`LearningRule`].
///
/// The weight is stored as `[d_input, d_output]`, as Burn's `Linear` stores it (the
/// transpose of PyTorch's layout).
#[derive(Module, Debug)]
pub struct RuleLinear<B: Backend> {
    /// The forward weight, `[d_input, d_output]`.
    pub weight: Param<Tensor<B, 2>>,
    /// The bias, `[d_output]`.
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// The feedback state.
    pub feedback: Feedback<B, 2>,
    /// The initial norm of the weight, kept when weights are constrained to it.
    pub initial_norm: Option<Param<Tensor<B, 1>>>,
    /// Whether the input gradient is clamped to `[-1, 1]`.
    #[module(skip)]
    pub clamp_input_grad: bool,
}

impl RuleLinearConfig {
    /// Creates the layer, drawing its weight and feedback from the backend's generator.
    ///
    /// # Panics
    /// When the rule is DFA, which needs the network's hub: use
    /// [`init_with_hub`](Self::init_with_hub).
    pub fn init<B: Backend>(&self, device: &B::Device) -> RuleLinear<B> {
        let shape = [self.d_input, self.d_output];
        let fans = Fans::linear(self.d_input, self.d_output);
        self.build(
            Feedback::new(self.rule, shape, fans, self.feedback_init, device),
            device,
        )
    }

    /// Creates the layer linked to a network's hub (needed by DFA, and by the alignment
    /// probe for every rule). A DFA projection has shape `[classes, d_input]`.
    pub fn init_with_hub<B: Backend>(&self, hub: RuleHub, device: &B::Device) -> RuleLinear<B> {
        let feedback = if self.rule == LearningRule::Dfa {
            let projection = [hub.classes(), self.d_input];
            let fans = Fans::linear(self.d_input, hub.classes());
            Feedback::direct(projection, fans, self.feedback_init, hub, device)
        } else {
            let shape = [self.d_input, self.d_output];
            let fans = Fans::linear(self.d_input, self.d_output);
            Feedback::new(self.rule, shape, fans, self.feedback_init, device).with_hub(hub)
        };
        self.build(feedback, device)
    }

    fn build<B: Backend>(&self, feedback: Feedback<B, 2>, device: &B::Device) -> RuleLinear<B> {
        let shape = [self.d_input, self.d_output];
        let fans = Fans::linear(self.d_input, self.d_output);
        let bound = self.weight_init.bound(fans);
        let weight = Tensor::random(shape, Distribution::Uniform(-bound, bound), device);
        let bias = self.bias.then(|| {
            let b = fans.torch_default_bound();
            Param::from_tensor(Tensor::random(
                [self.d_output],
                Distribution::Uniform(-b, b),
                device,
            ))
        });
        RuleLinear {
            initial_norm: self.constrain_weights.then(|| initial_norm(&weight)),
            weight: Param::from_tensor(weight),
            bias,
            feedback,
            clamp_input_grad: self.clamp_input_grad,
        }
    }
}

impl<B: RuleBackend> RuleLinear<B> {
    /// Applies the layer.
    ///
    /// # Shapes
    /// - input: `[batch, d_input]`
    /// - output: `[batch, d_output]`
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let weight = self.weight();
        let output = if B::ad_enabled(&x.device()) {
            let rule = self
                .feedback
                .rule_grad(&weight, self.weight.id, self.clamp_input_grad);
            let out = B::rule_matmul(
                x.into_primitive().tensor(),
                weight.into_primitive().tensor(),
                rule.map(|t| t.into_primitive().tensor()),
            );
            Tensor::from_primitive(TensorPrimitive::Float(out))
        } else {
            x.matmul(weight)
        };
        match &self.bias {
            Some(bias) => output + bias.val().unsqueeze(),
            None => output,
        }
    }
}

impl<B: Backend> RuleLinear<B> {
    /// The weight the forward pass uses: the stored weight, rescaled to its initial norm
    /// when weights are constrained.
    pub fn weight(&self) -> Tensor<B, 2> {
        constrain(self.weight.val(), self.initial_norm.as_ref())
    }

    /// The rule of this layer.
    pub fn rule(&self) -> LearningRule {
        self.feedback.rule()
    }

    /// Number of feedback values: one per weight for FA and the sign-symmetry rules, DFA's
    /// projection size, none for BP and Hebbian.
    pub fn feedback_len(&self) -> usize {
        self.feedback.len(self.weight.shape().num_elements())
    }
}
