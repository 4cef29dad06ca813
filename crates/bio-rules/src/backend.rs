//! The custom backward pass: a convolution and a matrix product whose input gradient goes
//! through a feedback tensor instead of the forward weight.
//!
//! [`RuleBackend`] is an extension of Burn's [`Backend`]. Its default methods run the plain
//! forward pass, which is all a backend without autodiff needs. The implementation for
//! [`Autodiff`] registers a backward step that computes
//!
//! - the weight gradient exactly as back-propagation does (from the saved input), and
//! - the input gradient with the feedback tensor in place of the weight.
//!
//! No extra forward work is done: the feedback is only read during the backward pass.

use burn::backend::autodiff::{
    Autodiff, NodeId,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use burn::tensor::Shape;
use burn::tensor::backend::{Backend, TensorMetadata};
use burn::tensor::ops::{ConvOptions, FloatTensor};

/// A backend that can run layers whose backward pass uses a feedback tensor.
///
/// Every backend this crate ships implements it (the default methods suffice without
/// autodiff); [`Autodiff`] over any backend implements it with the custom backward pass.
pub trait RuleBackend: Backend {
    /// 2-D convolution without bias whose input gradient flows through `feedback`.
    ///
    /// Forward: `conv2d(x, weight)`. Backward: the weight gradient is back-propagation's;
    /// the input gradient is the transposed convolution of the output gradient with
    /// `feedback` (same shape as `weight`, same stride, padding, dilation and groups).
    ///
    /// # Shapes
    /// - x: `[batch, channels_in, height, width]`
    /// - weight, feedback: `[channels_out, channels_in / groups, kernel_h, kernel_w]`
    fn feedback_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        feedback: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let _ = feedback;
        Self::conv2d(x, weight, None, options)
    }

    /// Matrix product `x · weight` whose input gradient flows through `feedback`:
    /// `dx = dy · feedbackᵀ`, `dweight = xᵀ · dy`.
    ///
    /// # Shapes
    /// - x: `[batch, d_input]`
    /// - weight, feedback: `[d_input, d_output]`
    fn feedback_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        feedback: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let _ = feedback;
        Self::float_matmul(x, weight)
    }
}

#[derive(Debug)]
struct FeedbackConv2dBackward;

impl<B: Backend> Backward<B, 2> for FeedbackConv2dBackward {
    // The input is checkpointed (the weight gradient needs it), the weight too (its shape
    // drives the weight gradient); the feedback is held directly since it has no node.
    type State = (NodeId, NodeId, FloatTensor<B>, ConvOptions<2>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, weight_state, feedback, options) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);
        let weight: FloatTensor<B> = checkpointer.retrieve_node_output(weight_state);

        let pointwise = is_pointwise(&weight.shape(), &options);
        let depthwise = is_depthwise(&weight.shape(), &options);
        if let Some(node) = node_x {
            let dx = if pointwise {
                pointwise_x_backward::<B>(&x.shape(), feedback, grad.clone())
            } else if depthwise && options.stride == [1, 1] {
                depthwise_x_backward::<B>(feedback, grad.clone(), &options)
            } else {
                B::conv2d_x_backward(x.clone(), feedback, grad.clone(), options.clone())
            };
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            let dw = if pointwise {
                pointwise_weight_backward::<B>(x, &weight.shape(), grad)
            } else if depthwise {
                depthwise_weight_backward::<B>(x, &weight.shape(), grad, &options)
            } else {
                B::conv2d_weight_backward(x, weight, grad, options)
            };
            grads.register::<B>(node.id, dw);
        }
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
struct FeedbackMatmulBackward;

impl<B: Backend> Backward<B, 2> for FeedbackMatmulBackward {
    // The input is checkpointed for the weight gradient; the feedback is held directly.
    type State = (NodeId, FloatTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        checkpointer: &mut Checkpointer,
    ) {
        let [node_x, node_weight] = ops.parents;
        let grad = grads.consume::<B>(&ops.node);
        let (x_state, feedback) = ops.state;
        let x: FloatTensor<B> = checkpointer.retrieve_node_output(x_state);

        if let Some(node) = node_x {
            let dx = B::float_matmul(grad.clone(), B::float_transpose(feedback));
            grads.register::<B>(node.id, dx);
        }
        if let Some(node) = node_weight {
            let dw = B::float_matmul(B::float_transpose(x), grad);
            grads.register::<B>(node.id, dw);
        }
    }
}

impl<B: Backend, C: CheckpointStrategy> RuleBackend for Autodiff<B, C> {
    fn feedback_conv2d(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        feedback: FloatTensor<Self>,
        options: ConvOptions<2>,
    ) -> FloatTensor<Self> {
        let prep = FeedbackConv2dBackward
            .prepare::<C>([x.node.clone(), weight.node.clone()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let weight_state = prep.checkpoint(&weight);
                let output = B::conv2d(x.primitive, weight.primitive, None, options.clone());
                prep.finish((x_state, weight_state, feedback.primitive, options), output)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(B::conv2d(x.primitive, weight.primitive, None, options))
            }
        }
    }

    fn feedback_matmul(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        feedback: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prep = FeedbackMatmulBackward
            .prepare::<C>([x.node.clone(), weight.node.clone()])
            .compute_bound()
            .stateful();
        match prep {
            OpsKind::Tracked(mut prep) => {
                let x_state = prep.checkpoint(&x);
                let output = B::float_matmul(x.primitive, weight.primitive);
                prep.finish((x_state, feedback.primitive), output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::float_matmul(x.primitive, weight.primitive)),
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

/// Weight gradient of a depthwise convolution, as one grouped convolution in which the
/// batch plays the part of the input channels and `dy` the part of the kernel (stride and
/// dilation swap roles): `dW[c, u, v] = Σ_{n, i, j} x_pad[n, c, u·d + i·s, v·d + j·s] ·
/// dy[n, c, i, j]`.
fn depthwise_weight_backward<B: Backend>(
    x: FloatTensor<B>,
    weight: &Shape,
    grad: FloatTensor<B>,
    options: &ConvOptions<2>,
) -> FloatTensor<B> {
    let [n, c, h, w] = x.shape().dims::<4>();
    let [_, _, ho, wo] = grad.shape().dims::<4>();
    let [_, _, kh, kw] = weight.dims::<4>();
    let x = B::float_reshape(B::float_swap_dims(x, 0, 1), Shape::new([1, c * n, h, w]));
    let dy = B::float_reshape(B::float_swap_dims(grad, 0, 1), Shape::new([c, n, ho, wo]));
    let opts = ConvOptions::new(options.dilation, options.padding, options.stride, c);
    let full = B::conv2d(x, dy, None, opts); // [1, c, >= kh, >= kw]
    let dw = B::float_slice(
        full,
        &[(0..1).into(), (0..c).into(), (0..kh).into(), (0..kw).into()],
    );
    B::float_reshape(dw, Shape::new([c, 1, kh, kw]))
}
