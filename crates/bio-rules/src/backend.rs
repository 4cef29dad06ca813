//! The custom backward pass: a convolution and a matrix product whose input gradient goes
//! through a feedback tensor instead of the forward weight.
//!
//! [`RuleBackend`] is an extension of Burn's [`Backend`]. Its default methods run the plain
//! forward pass, which is all a backend without autodiff needs. The implementation for
//! [`Autodiff`] registers a backward step that computes
//!
//! - the weight gradient exactly as back-propagation does (from the saved input), or the
//!   Hebbian update, and
//! - the input gradient with the feedback tensor in place of the weight, DFA's projected
//!   output error, or nothing.
//!
//! No extra forward work is done: the feedback is only read during the backward pass.

use burn::backend::autodiff::{
    Autodiff, NodeId,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::module::ParamId;
use burn::tensor::Shape;
use burn::tensor::backend::{Backend, TensorMetadata};
use burn::tensor::ops::{ConvOptions, FloatTensor};

use crate::{LearningRule, RuleHub, direct, hebbian};

/// What the backward pass of a rule layer sends to the layer's input.
#[derive(Clone, Debug)]
pub enum InputGrad<T> {
    /// The output gradient through a tensor of the weight's shape: `δx = δ · Bᵀ` (linear)
    /// or the transposed convolution of `δ` with `B` (BP: `B = W`).
    Feedback(T),
    /// DFA: the network's output error `e` through a fixed projection `P`, in place of the
    /// output gradient: `δx = e · P` (linear, `P: [classes, d_input]`), or `e` broadcast over
    /// the output pixels and convolved back with `P: [classes, c_in, kh, kw]` (one group).
    Direct {
        /// The projection `P`.
        projection: T,
        /// Where the output error is read.
        hub: RuleHub,
        /// The number of the forward pass (through the hub's tap) whose error to read.
        pass: u64,
    },
    /// Nothing: the input gets a zero gradient (a Hebbian layer).
    Zero,
}

/// What the backward pass gives the layer's weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightGrad {
    /// Back-propagation's weight gradient, from the gradient that reached the output.
    Gradient,
    /// Minus the Hebbian update `ΔW` (see [`hebbian`](crate::hebbian)), so that an
    /// optimiser step `W ← W - lr · g` applies `W + lr · ΔW`.
    Hebbian,
}

/// The backward rule of one layer: what its input and its weight receive.
#[derive(Clone, Debug)]
pub struct RuleGrad<T> {
    /// What the input receives.
    pub input: InputGrad<T>,
    /// What the weight receives.
    pub weight: WeightGrad,
    /// Clamp the input gradient to `[-1, 1]` (biotorch's `gradient_clip` option).
    pub clamp_input: bool,
    /// Where to record the input gradient while an alignment probe records.
    pub probe: Option<Probe>,
}

/// Identifies a layer to the alignment probe of its hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// The hub whose probe records.
    pub hub: RuleHub,
    /// The id of the layer's weight.
    pub key: ParamId,
    /// The layer's rule.
    pub rule: LearningRule,
}

impl<T> RuleGrad<T> {
    /// Back-propagation's gradients with `feedback` in place of the weight for the input.
    pub fn feedback(feedback: T) -> Self {
        Self {
            input: InputGrad::Feedback(feedback),
            weight: WeightGrad::Gradient,
            clamp_input: false,
            probe: None,
        }
    }

    /// The same rule over other tensors (for example the inner backend's).
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> RuleGrad<U> {
        let input = match self.input {
            InputGrad::Feedback(t) => InputGrad::Feedback(f(t)),
            InputGrad::Direct {
                projection,
                hub,
                pass,
            } => InputGrad::Direct {
                projection: f(projection),
                hub,
                pass,
            },
            InputGrad::Zero => InputGrad::Zero,
        };
        RuleGrad {
            input,
            weight: self.weight,
            clamp_input: self.clamp_input,
            probe: self.probe,
        }
    }
}

/// A backend that can run layers whose backward pass follows a learning rule.
///
/// Every backend this crate ships implements it (the default methods, plain forward
/// passes, suffice without autodiff); [`Autodiff`] over any backend implements it with
/// custom backward steps.
pub trait RuleBackend: Backend {
    /// 2-D convolution without bias whose backward pass follows `rule`.
    ///
    /// Forward: `conv2d(x, weight)`, whatever the rule.
    ///
    /// # Shapes
    /// - x: `[batch, channels_in, height, width]`
    /// - weight: `[channels_out, channels_in / groups, kernel_h, kernel_w]`
    fn rule_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        rule: RuleGrad<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let _ = rule;
        Self::conv2d(x, weight, None, options)
    }

    /// Matrix product `x · weight` whose backward pass follows `rule`.
    ///
    /// # Shapes
    /// - x: `[batch, d_input]`
    /// - weight: `[d_input, d_output]`
    fn rule_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        rule: RuleGrad<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        let _ = rule;
        Self::float_matmul(x, weight)
    }

    /// The identity, whose backward step stores the gradient in `hub` for DFA layers.
    fn error_tap(logits: FloatTensor<Self>, hub: RuleHub) -> FloatTensor<Self> {
        let _ = hub;
        logits
    }

    /// 2-D convolution without bias whose input gradient flows through `feedback`.
    ///
    /// Forward: `conv2d(x, weight)`. Backward: the weight gradient is back-propagation's;
    /// the input gradient is the transposed convolution of the output gradient with
    /// `feedback` (same shape as `weight`, same stride, padding, dilation and groups).
    fn feedback_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        feedback: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        Self::rule_conv2d(x, weight, RuleGrad::feedback(feedback), options)
    }

    /// Matrix product `x · weight` whose input gradient flows through `feedback`:
    /// `dx = dy · feedbackᵀ`, `dweight = xᵀ · dy`.
    fn feedback_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        feedback: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::rule_matmul(x, weight, RuleGrad::feedback(feedback))
    }
}

#[derive(Debug)]
struct RuleConv2dBackward;

impl<B: Backend> Backward<B, 2> for RuleConv2dBackward {
    // The input is checkpointed (the weight gradient needs it), the weight too (its shape
    // drives the weight gradient); feedback tensors are held directly (they have no node),
    // and so is the output of a Hebbian layer (its update needs it: keeping it is faster
    // than computing it again, at one activation of memory per layer).
    type State = (
        NodeId,
        NodeId,
        RuleGrad<FloatTensor<B>>,
        ConvOptions<2>,
        Option<FloatTensor<B>>,
    );

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, rule, options, output) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);

        if let Some(node) = node_x {
            let dx = match rule.input.clone() {
                InputGrad::Feedback(b) => conv_x_backward::<B>(&x, b, grad.clone(), &options),
                InputGrad::Direct {
                    projection,
                    hub,
                    pass,
                } => direct::conv_input::<B>(&x, projection, hub.error::<B>(pass), &grad, &options),
                InputGrad::Zero => zeros_like::<B>(&x),
            };
            grads.register::<B>(node.id, finish_input::<B>(dx, &rule));
        }
        if let Some(node) = node_weight {
            let dw = match rule.weight {
                WeightGrad::Gradient => conv_weight_backward::<B>(x, weight, grad, &options),
                WeightGrad::Hebbian => {
                    let output = output.expect("a Hebbian layer keeps its output");
                    hebbian::conv_gradient::<B>(x, weight, output, &options)
                }
            };
            grads.register::<B>(node.id, dw);
        }
    }
}

/// Clamps the input gradient if asked, and records it for a probe that is recording.
fn finish_input<B: Backend>(dx: FloatTensor<B>, rule: &RuleGrad<FloatTensor<B>>) -> FloatTensor<B> {
    let dx = if rule.clamp_input {
        B::float_clamp(dx, (-1.0f32).into(), 1.0f32.into())
    } else {
        dx
    };
    if let Some(probe) = rule.probe {
        probe
            .hub
            .record(probe.key, probe.rule, |record, reference| {
                let truth = reference
                    .and_then(|r| r.input_grad.as_ref())
                    .and_then(|t| t.downcast_ref::<FloatTensor<B>>());
                match truth {
                    // The rule pass keeps three numbers, not the tensor.
                    Some(truth) => {
                        let stats = gradient_stats::<B>(dx.clone(), truth.clone());
                        record.grad_stats = Some(Box::new(stats));
                    }
                    None => record.input_grad = Some(Box::new(dx.clone())),
                }
            });
    }
    dx
}

/// `[⟨a, b⟩, ‖a‖², ‖b‖²]` as one-element tensors (no device synchronisation).
fn gradient_stats<B: Backend>(a: FloatTensor<B>, b: FloatTensor<B>) -> [FloatTensor<B>; 3] {
    if a.shape() != b.shape() {
        let nan = B::float_mul_scalar(B::float_sum(a.clone()), f32::NAN.into());
        return [nan.clone(), nan.clone(), nan];
    }
    let dot = B::float_sum(B::float_mul(a.clone(), b.clone()));
    let aa = B::float_sum(B::float_mul(a.clone(), a));
    let bb = B::float_sum(B::float_mul(b.clone(), b));
    [dot, aa, bb]
}

fn zeros_like<B: Backend>(x: &FloatTensor<B>) -> FloatTensor<B> {
    B::float_zeros(x.shape(), &B::float_device(x), x.dtype().into())
}

/// The input gradient through a weight-shaped feedback tensor, with the fast paths.
fn conv_x_backward<B: Backend>(
    x: &FloatTensor<B>,
    feedback: FloatTensor<B>,
    grad: FloatTensor<B>,
    options: &ConvOptions<2>,
) -> FloatTensor<B> {
    let shape = feedback.shape();
    if is_pointwise(&shape, options) {
        pointwise_x_backward::<B>(&x.shape(), feedback, grad)
    } else if is_strided_pointwise(&shape, options) {
        strided_pointwise_x_backward::<B>(&x.shape(), feedback, grad, options.stride)
    } else if is_depthwise(&shape, options) && options.stride == [1, 1] && covers(&shape, options) {
        depthwise_x_backward::<B>(feedback, grad, options)
    } else {
        B::conv2d_x_backward(x.clone(), feedback, grad, options.clone())
    }
}

/// Back-propagation's weight gradient, with the fast paths.
pub(crate) fn conv_weight_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    grad: FloatTensor<B>,
    options: &ConvOptions<2>,
) -> FloatTensor<B> {
    let shape = weight.shape();
    if is_pointwise(&shape, options) {
        pointwise_weight_backward::<B>(x, &shape, grad)
    } else if is_depthwise(&shape, options) {
        depthwise_weight_backward::<B>(x, &shape, grad, options)
    } else {
        B::conv2d_weight_backward(x, weight, grad, options.clone())
    }
}

/// A 1×1 convolution with stride 1, no padding and one group is a matrix product over the
/// pixels, whose gradients are two more matrix products (much faster than the general
/// convolution backward on CPU backends).
fn is_pointwise(weight: &Shape, options: &ConvOptions<2>) -> bool {
    weight[2..] == [1, 1]
        && options.stride == [1, 1]
        && options.padding == [0, 0]
        && options.groups == 1
}

/// A 1×1 convolution with a stride above 1, no padding and one group: it reads one pixel
/// in `stride[0] · stride[1]`.
fn is_strided_pointwise(weight: &Shape, options: &ConvOptions<2>) -> bool {
    weight[2..] == [1, 1]
        && options.stride != [1, 1]
        && options.padding == [0, 0]
        && options.groups == 1
}

/// The input gradient of a strided 1×1 convolution: `Bᵀ · dy` at the pixels it reads,
/// zero elsewhere (zeros interleaved by concatenation, then cropped to the input size).
/// Besides being faster than the general convolution backward on CPU backends, this
/// avoids Burn 0.21's wgpu kernel for this case, whose result is wrong.
fn strided_pointwise_x_backward<B: Backend>(
    x: &Shape,
    feedback: FloatTensor<B>,
    grad: FloatTensor<B>,
    [sh, sw]: [usize; 2],
) -> FloatTensor<B> {
    let [n, c_in, h, w] = x.dims::<4>();
    let [_, _, ho, wo] = grad.shape().dims::<4>();
    let read = Shape::new([n, c_in, ho, wo]);
    let dx = pointwise_x_backward::<B>(&read, feedback, grad);
    let dx = B::float_reshape(dx, Shape::new([n, c_in, ho, 1, wo, 1]));
    let device = B::float_device(&dx);
    let dtype = dx.dtype().into();
    let dx = if sh > 1 {
        let zeros = B::float_zeros(Shape::new([n, c_in, ho, sh - 1, wo, 1]), &device, dtype);
        B::float_cat(vec![dx, zeros], 3)
    } else {
        dx
    };
    let dx = if sw > 1 {
        let zeros = B::float_zeros(Shape::new([n, c_in, ho, sh, wo, sw - 1]), &device, dtype);
        B::float_cat(vec![dx, zeros], 5)
    } else {
        dx
    };
    let dx = B::float_reshape(dx, Shape::new([n, c_in, ho * sh, wo * sw]));
    B::float_slice(
        dx,
        &[
            (0..n).into(),
            (0..c_in).into(),
            (0..h).into(),
            (0..w).into(),
        ],
    )
}

/// `dx[n, i, p] = Σ_o B[o, i] · dy[n, o, p]`, as `Bᵀ · dy` per sample.
fn pointwise_x_backward<B: Backend>(
    x: &Shape,
    feedback: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let [n, c_in, h, w] = x.dims::<4>();
    let c_out = grad.shape()[1];
    let b_t = B::float_swap_dims(
        B::float_reshape(feedback, Shape::new([1, c_out, c_in])),
        1,
        2,
    );
    let dy = B::float_reshape(grad, Shape::new([n, c_out, h * w]));
    let dx = B::float_matmul(b_t, dy); // [n, c_in, pixels]
    B::float_reshape(dx, Shape::new([n, c_in, h, w]))
}

/// `dW[o, i] = Σ_{n, p} dy[n, o, p] · x[n, i, p]`, as `Σ_n dy · xᵀ`.
fn pointwise_weight_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: &Shape,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let shape = x.shape();
    let [n, c_in, h, w] = shape.dims::<4>();
    let pixels = h * w;
    let c_out = weight[0];
    let dy = B::float_reshape(grad, Shape::new([n, c_out, pixels]));
    let x_t = B::float_swap_dims(B::float_reshape(x, Shape::new([n, c_in, pixels])), 1, 2);
    let per_sample = B::float_matmul(dy, x_t); // [n, c_out, c_in]
    let dw = B::float_sum_dim(per_sample, 0); // [1, c_out, c_in]
    B::float_reshape(dw, Shape::new([c_out, c_in, 1, 1]))
}

#[derive(Debug)]
struct RuleMatmulBackward;

impl<B: Backend> Backward<B, 2> for RuleMatmulBackward {
    // The input and the weight are checkpointed; feedback tensors are held directly.
    type State = (NodeId, NodeId, RuleGrad<FloatTensor<B>>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, rule) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);

        if let Some(node) = node_x {
            let dx = match rule.input.clone() {
                InputGrad::Feedback(b) => B::float_matmul(grad.clone(), B::float_transpose(b)),
                InputGrad::Direct {
                    projection,
                    hub,
                    pass,
                } => direct::linear_input::<B>(projection, hub.error::<B>(pass), &grad),
                InputGrad::Zero => zeros_like::<B>(&x),
            };
            grads.register::<B>(node.id, finish_input::<B>(dx, &rule));
        }
        if let Some(node) = node_weight {
            let dw = match rule.weight {
                WeightGrad::Gradient => B::float_matmul(B::float_transpose(x), grad),
                WeightGrad::Hebbian => hebbian::linear_gradient::<B>(x, weight),
            };
            grads.register::<B>(node.id, dw);
        }
    }
}

#[derive(Debug)]
struct ErrorTapBackward;

impl<B: Backend> Backward<B, 1> for ErrorTapBackward {
    // The hub and the number of the forward pass.
    type State = (RuleHub, u64);

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [parent] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (hub, pass) = ops.state;
        hub.store_error::<B>(pass, grad.clone());
        if let Some(node) = parent {
            grads.register::<B>(node.id, grad);
        }
    }
}

impl<B: Backend, C: CheckpointStrategy> RuleBackend for Autodiff<B, C> {
    fn rule_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        rule: RuleGrad<FloatTensor<Self>>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let prep = RuleConv2dBackward
            .prepare::<C>([x.node.clone(), weight.node.clone()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let output = B::conv2d(x.primitive, weight.primitive, None, options.clone());
                let rule = rule.map(|t| t.primitive);
                let kept = matches!(rule.weight, WeightGrad::Hebbian).then(|| output.clone());
                prep.finish((x_state, weight_state, rule, options, kept), output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::conv2d(x.primitive, weight.primitive, None, options))
            }
        }
    }

    fn rule_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        rule: RuleGrad<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        let prep = RuleMatmulBackward
            .prepare::<C>([x.node.clone(), weight.node.clone()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let output = B::float_matmul(x.primitive, weight.primitive);
                prep.finish((x_state, weight_state, rule.map(|t| t.primitive)), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::float_matmul(x.primitive, weight.primitive)),
        }
    }

    fn error_tap(logits: FloatTensor<Self>, hub: RuleHub) -> FloatTensor<Self> {
        let pass = hub.begin_pass();
        let prep = ErrorTapBackward
            .prepare::<C>([logits.node.clone()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(prep) => prep.finish((hub, pass), logits.primitive),
            OpsKind::UnTracked(prep) => prep.finish(logits.primitive),
        }
    }
}

#[cfg(feature = "flex")]
impl<E, I> RuleBackend for burn::backend::Flex<E, I> where Self: Backend {}

#[cfg(feature = "ndarray")]
impl RuleBackend for burn::backend::NdArray<f32> {}

#[cfg(feature = "ndarray")]
impl RuleBackend for burn::backend::NdArray<f64> {}

#[cfg(feature = "wgpu")]
impl RuleBackend for burn::backend::Wgpu {}

#[cfg(feature = "cuda")]
impl RuleBackend for burn::backend::Cuda {}

/// A depthwise convolution: one group per channel, one filter per group.
fn is_depthwise(weight: &Shape, options: &ConvOptions<2>) -> bool {
    weight[1] == 1 && options.groups == weight[0] && options.groups > 1
}

/// Whether the padding is at most the dilated kernel's reach on each axis, so that the
/// input gradient can be written as a forward convolution (wider padding needs a crop).
fn covers(weight: &Shape, options: &ConvOptions<2>) -> bool {
    (0..2).all(|i| options.padding[i] <= options.dilation[i] * (weight[2 + i] - 1))
}

/// Input gradient of a stride-1 depthwise convolution: the depthwise convolution of `dy`
/// with the kernel rotated by 180°, padded by `dilation · (k - 1) - padding`.
fn depthwise_x_backward<B: Backend>(
    feedback: FloatTensor<B>,
    grad: FloatTensor<B>,
    options: &ConvOptions<2>,
) -> FloatTensor<B> {
    let [_, _, kh, kw] = feedback.shape().dims::<4>();
    let k = [kh, kw];
    let padding: [usize; 2] = core::array::from_fn(|i| {
        (options.dilation[i] * (k[i] - 1)).saturating_sub(options.padding[i])
    });
    let rotated = B::float_flip(feedback, &[2, 3]);
    let opts = ConvOptions::new([1, 1], padding, options.dilation, options.groups);
    B::conv2d(grad, rotated, None, opts)
}

/// Weight gradient of a depthwise convolution, as one depthwise convolution over the
/// `batch · channels` planes in which `dy` plays the part of the kernel (stride and
/// dilation swap roles), then a sum over the batch:
/// `dW[c, u, v] = Σ_n Σ_{i, j} x_pad[n, c, u·d + i·s, v·d + j·s] · dy[n, c, i, j]`.
/// Both tensors keep their memory layout (`[n, c, ·, ·]` is `[1, n·c, ·, ·]`), so nothing
/// is transposed or copied.
fn depthwise_weight_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: &Shape,
    grad: FloatTensor<B>,
    options: &ConvOptions<2>,
) -> FloatTensor<B> {
    let [n, c, h, w] = x.shape().dims::<4>();
    let [_, _, ho, wo] = grad.shape().dims::<4>();
    let [_, _, kh, kw] = weight.dims::<4>();
    let planes = n * c;
    let x = B::float_reshape(x, Shape::new([1, planes, h, w]));
    let dy = B::float_reshape(grad, Shape::new([planes, 1, ho, wo]));
    let opts = ConvOptions::new(options.dilation, options.padding, options.stride, planes);
    let full = B::conv2d(x, dy, None, opts); // [1, n·c, >= kh, >= kw]
    let per_sample = B::float_slice(
        full,
        &[
            (0..1).into(),
            (0..planes).into(),
            (0..kh).into(),
            (0..kw).into(),
        ],
    );
    let per_sample = B::float_reshape(per_sample, Shape::new([n, c, kh, kw]));
    B::float_reshape(B::float_sum_dim(per_sample, 0), Shape::new([c, 1, kh, kw]))
}
