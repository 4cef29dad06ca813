//! A linear layer that learns with a chosen rule.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorPrimitive};

use crate::{Fans, Feedback, Init, LearningRule, RuleBackend};

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
}

/// A linear layer `y = x · W + b` whose input gradient follows a [`LearningRule`].
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
}

impl RuleLinearConfig {
    /// Creates the layer, drawing its weight and feedback from the backend's generator.
    pub fn init<B: Backend>(&self, device: &B::Device) -> RuleLinear<B> {
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
            weight: Param::from_tensor(weight),
            bias,
            feedback: Feedback::new(self.rule, shape, fans, self.feedback_init, device),
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
        let weight = self.weight.val();
        let training = B::ad_enabled(&x.device());
        let output = if self.feedback.rule() == LearningRule::Bp || !training {
            x.matmul(weight)
        } else {
            let feedback = self.feedback.tensor(&weight);
            let out = B::feedback_matmul(
                x.into_primitive().tensor(),
                weight.into_primitive().tensor(),
                feedback.into_primitive().tensor(),
            );
            Tensor::from_primitive(TensorPrimitive::Float(out))
        };
        match &self.bias {
            Some(bias) => output + bias.val().unsqueeze(),
            None => output,
        }
    }

    /// The rule of this layer.
    pub fn rule(&self) -> LearningRule {
        self.feedback.rule()
    }
}

impl<B: Backend> RuleLinear<B> {
    /// Number of weights whose error travels through a feedback tensor other than `W`
    /// (all of them unless the rule is BP).
    pub fn feedback_len(&self) -> usize {
        match self.feedback.rule() {
            LearningRule::Bp => 0,
            _ => self.weight.shape().num_elements(),
        }
    }
}
