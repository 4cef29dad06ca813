//! A 2-D convolution that learns with a chosen rule.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor, TensorPrimitive};

use crate::{Fans, Feedback, Init, LearningRule, RuleBackend};

/// Configuration of a [`RuleConv2d`]. No bias: every convolution of the search space has
/// none, and a rule layer must work without one.
#[derive(Config, Debug)]
pub struct RuleConv2dConfig {
    /// Input and output channels.
    pub channels: [usize; 2],
    /// Kernel height and width.
    pub kernel_size: [usize; 2],
    /// Stride (default 1).
    #[config(default = "[1, 1]")]
    pub stride: [usize; 2],
    /// Zero padding on each side (default 0).
    #[config(default = "[0, 0]")]
    pub padding: [usize; 2],
    /// Dilation (default 1).
    #[config(default = "[1, 1]")]
    pub dilation: [usize; 2],
    /// Groups (default 1; equal to the channels for a depthwise convolution).
    #[config(default = 1)]
    pub groups: usize,
    /// The learning rule (default back-propagation).
    #[config(default = "LearningRule::Bp")]
    pub rule: LearningRule,
    /// How the forward weight is drawn (default Xavier-uniform).
    #[config(default = "Init::XavierUniform")]
    pub weight_init: Init,
    /// How feedback magnitudes are drawn (default Xavier-uniform).
    #[config(default = "Init::XavierUniform")]
    pub feedback_init: Init,
}

/// A 2-D convolution whose input gradient follows a [`LearningRule`].
#[derive(Module, Debug)]
pub struct RuleConv2d<B: Backend> {
    /// The forward weight, `[out, in / groups, kh, kw]`.
    pub weight: Param<Tensor<B, 4>>,
    /// The feedback state.
    pub feedback: Feedback<B, 4>,
    /// Stride, padding, dilation and groups.
    #[module(skip)]
    pub options: ConvOptions<2>,
}

impl RuleConv2dConfig {
    /// The shape of the weight, `[out, in / groups, kh, kw]`.
    pub fn weight_shape(&self) -> [usize; 4] {
        let [c_in, c_out] = self.channels;
        let [kh, kw] = self.kernel_size;
        [c_out, c_in / self.groups.max(1), kh, kw]
    }

    /// Creates the layer, drawing its weight and feedback from the backend's generator.
    pub fn init<B: Backend>(&self, device: &B::Device) -> RuleConv2d<B> {
        let shape = self.weight_shape();
        let fans = Fans::conv(shape);
        let bound = self.weight_init.bound(fans);
        let weight = Tensor::random(shape, Distribution::Uniform(-bound, bound), device);
        RuleConv2d {
            weight: Param::from_tensor(weight),
            feedback: Feedback::new(self.rule, shape, fans, self.feedback_init, device),
            options: ConvOptions::new(self.stride, self.padding, self.dilation, self.groups),
        }
    }
}

impl<B: RuleBackend> RuleConv2d<B> {
    /// Applies the convolution.
    ///
    /// # Shapes
    /// - input: `[batch, channels_in, height_in, width_in]`
    /// - output: `[batch, channels_out, height_out, width_out]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let weight = self.weight.val();
        if !B::ad_enabled(&x.device()) {
            return conv2d(x, weight, None, self.options.clone());
        }
        // BP goes through the same backward pass with B = W, which has faster kernels for
        // pointwise convolutions than the general one.
        let feedback = self.feedback.tensor(&weight);
        let output = B::feedback_conv2d(
            x.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            feedback.into_primitive().tensor(),
            self.options.clone(),
        );
        Tensor::from_primitive(TensorPrimitive::Float(output))
    }

    /// The rule of this layer.
    pub fn rule(&self) -> LearningRule {
        self.feedback.rule()
    }
}

impl<B: Backend> RuleConv2d<B> {
    /// Number of weights whose error travels through a feedback tensor other than `W`
    /// (all of them unless the rule is BP). Each such weight has one feedback value,
    /// stored (FA, frSF) or computed on the fly (uSF, brSF).
    pub fn feedback_len(&self) -> usize {
        match self.feedback.rule() {
            LearningRule::Bp => 0,
            _ => self.weight.shape().num_elements(),
        }
    }
}
