//! A 2-D convolution that learns with a chosen rule.

use burn::config::Config;
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor, TensorPrimitive};

use crate::feedback::constrain;
use crate::{Fans, Feedback, Init, LearningRule, RuleBackend, RuleHub};

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
    /// Rescale `W` to its initial norm before each forward (default off, as in biotorch).
    #[config(default = false)]
    pub constrain_weights: bool,
    /// Clamp the input gradient to `[-1, 1]` (default off, as in biotorch).
    #[config(default = false)]
    pub clamp_input_grad: bool,
}

/// A 2-D convolution whose backward pass follows a [`LearningRule`].
#[derive(Module, Debug)]
pub struct RuleConv2d<B: Backend> {
    /// The forward weight, `[out, in / groups, kh, kw]`.
    pub weight: Param<Tensor<B, 4>>,
    /// The feedback state.
    pub feedback: Feedback<B, 4>,
    /// The initial norm of the weight, kept when weights are constrained to it.
    pub initial_norm: Option<Param<Tensor<B, 1>>>,
    /// Stride, padding, dilation and groups.
    #[module(skip)]
    pub options: ConvOptions<2>,
    /// Whether the input gradient is clamped to `[-1, 1]`.
    #[module(skip)]
    pub clamp_input_grad: bool,
}

impl RuleConv2dConfig {
    /// The shape of the weight, `[out, in / groups, kh, kw]`.
    pub fn weight_shape(&self) -> [usize; 4] {
        let [c_in, c_out] = self.channels;
        let [kh, kw] = self.kernel_size;
        [c_out, c_in / self.groups.max(1), kh, kw]
    }

    /// Creates the layer, drawing its weight and feedback from the backend's generator.
    ///
    /// # Panics
    /// When the rule is DFA, which needs the network's hub: use
    /// [`init_with_hub`](Self::init_with_hub).
    pub fn init<B: Backend>(&self, device: &B::Device) -> RuleConv2d<B> {
        let shape = self.weight_shape();
        let fans = Fans::conv(shape);
        let feedback = Feedback::new(self.rule, shape, fans, self.feedback_init, device);
        self.build(feedback, device)
    }

    /// Creates the layer linked to a network's hub (needed by DFA, and by the alignment
    /// probe for every rule). A DFA projection has shape `[classes, c_in, kh, kw]`.
    pub fn init_with_hub<B: Backend>(&self, hub: RuleHub, device: &B::Device) -> RuleConv2d<B> {
        let shape = self.weight_shape();
        let feedback = if self.rule == LearningRule::Dfa {
            let [kh, kw] = self.kernel_size;
            let projection = [hub.classes(), self.channels[0], kh, kw];
            Feedback::direct(
                projection,
                Fans::conv(projection),
                self.feedback_init,
                hub,
                device,
            )
        } else {
            Feedback::new(
                self.rule,
                shape,
                Fans::conv(shape),
                self.feedback_init,
                device,
            )
            .with_hub(hub)
        };
        self.build(feedback, device)
    }

    fn build<B: Backend>(&self, feedback: Feedback<B, 4>, device: &B::Device) -> RuleConv2d<B> {
        let shape = self.weight_shape();
        let bound = self.weight_init.bound(Fans::conv(shape));
        let weight = Tensor::random(shape, Distribution::Uniform(-bound, bound), device);
        RuleConv2d {
            initial_norm: self.constrain_weights.then(|| initial_norm(&weight)),
            weight: Param::from_tensor(weight),
            feedback,
            options: ConvOptions::new(self.stride, self.padding, self.dilation, self.groups),
            clamp_input_grad: self.clamp_input_grad,
        }
    }
}

/// The norm of a freshly drawn weight, as a parameter that is never trained.
pub(crate) fn initial_norm<B: Backend, const D: usize>(
    weight: &Tensor<B, D>,
) -> Param<Tensor<B, 1>> {
    Param::from_tensor(crate::feedback::norm(weight)).set_require_grad(false)
}

impl<B: RuleBackend> RuleConv2d<B> {
    /// Applies the convolution.
    ///
    /// # Shapes
    /// - input: `[batch, channels_in, height_in, width_in]`
    /// - output: `[batch, channels_out, height_out, width_out]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let weight = self.weight();
        if !B::ad_enabled(&x.device()) {
            return conv2d(x, weight, None, self.options.clone());
        }
        // BP goes through the same backward pass with B = W, which has faster kernels for
        // pointwise convolutions than the general one.
        let rule = self
            .feedback
            .rule_grad(&weight, self.weight.id, self.clamp_input_grad);
        let output = B::rule_conv2d(
            x.into_primitive().tensor(),
            weight.into_primitive().tensor(),
            rule.map(|t| t.into_primitive().tensor()),
            self.options.clone(),
        );
        Tensor::from_primitive(TensorPrimitive::Float(output))
    }
}

impl<B: Backend> RuleConv2d<B> {
    /// The weight the forward pass uses: the stored weight, rescaled to its initial norm
    /// when weights are constrained.
    pub fn weight(&self) -> Tensor<B, 4> {
        constrain(self.weight.val(), self.initial_norm.as_ref())
    }

    /// The rule of this layer.
    pub fn rule(&self) -> LearningRule {
        self.feedback.rule()
    }

    /// Number of feedback values: one per weight for FA and the sign-symmetry rules
    /// (stored or computed on the fly), DFA's projection size, none for BP and Hebbian.
    pub fn feedback_len(&self) -> usize {
        self.feedback.len(self.weight.shape().num_elements())
    }
}
