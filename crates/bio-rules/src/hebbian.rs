//! The Hebbian rule: a local, gradient-free update from normalised inputs and outputs.
//!
//! # The update (Oja's rule on normalised patches)
//!
//! For a convolution with weight `W: [out, in / groups, kh, kw]`, let `P(n, p)` be the input
//! patch that output pixel `p` of sample `n` sees, flattened in the order of `W[o]`
//! (`in / groups`, then `kh`, then `kw`; for a grouped layer only the group of `o`), and
//! `x̂ = P / ‖P‖` the patch scaled to unit length (a zero patch stays zero). The layer's
//! response to the normalised patch is `u[n, o, p] = W[o] · x̂(n, p)` (the forward output
//! divided by `‖P‖`). With `M` the number of (sample, pixel) pairs:
//!
//! `ΔW[o] = (1/M) Σ_{n,p} u[n,o,p] · (x̂(n,p) - u[n,o,p] · W[o])`
//!
//! The first term is Hebb's "fire together, wire together" correlation; the second,
//! Oja's decay, keeps each filter bounded: it pulls `‖W[o]‖` towards 1, and since
//! `|u| ≤ ‖W[o]‖`, every step is bounded by `‖W[o]‖ (1 + ‖W[o]‖²)` in norm. A linear
//! layer is the same with one "patch" per sample (the input row).
//!
//! Patches are taken exactly as the convolution takes them (same stride, padding,
//! dilation and groups): the correlation term is the convolution's own weight-gradient
//! operation applied to `u / ‖P‖`, so the axes of `ΔW` are those of `W` by construction.
//!
//! # Scale and how it is applied
//!
//! The backward pass gives the weight `-ΔW` as its "gradient", so an optimiser step
//! `W ← W - lr · g` with plain SGD applies `W ← W + lr · ΔW`: the learning rate is the
//! Hebbian rate. (Momentum, weight decay and gradient clipping apply to it as to any
//! gradient.) No error reaches the layer below: its input gradient is zero, so layers
//! under a Hebbian layer learn only through other paths.
//!
//! ```
//! use bio_rules::hebbian;
//! use burn::backend::Flex;
//! use burn::tensor::Tensor;
//! let device = Default::default();
//! // One input [3, 4] (norm 5), one output unit with weight [1, 0]: x̂ = [0.6, 0.8], u = 0.6.
//! let x = Tensor::<Flex, 2>::from_floats([[3.0, 4.0]], &device);
//! let w = Tensor::<Flex, 2>::from_floats([[1.0], [0.0]], &device);
//! let dw = hebbian::linear_update(x, w).into_data().to_vec::<f32>().unwrap();
//! // ΔW = u·x̂ - u²·W = [0.36, 0.48] - [0.36, 0]
//! assert!((dw[0] - 0.0).abs() < 1e-6 && (dw[1] - 0.48).abs() < 1e-6);
//! ```

use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, FloatTensor};
use burn::tensor::{Tensor, TensorPrimitive};

use crate::backend::conv_weight_backward;

/// Patches with a squared norm below this are treated as zero.
const MIN_SQUARED_NORM: f64 = 1e-12;

/// The Hebbian update `ΔW` of a convolution weight for the input `x` (see the module
/// documentation).
///
/// # Shapes
/// - x: `[batch, channels_in, height, width]`
/// - weight and the result: `[channels_out, channels_in / groups, kh, kw]`
pub fn conv_update<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    options: ConvOptions<2>,
) -> Tensor<B, 4> {
    let out = conv2d(x.clone(), weight.clone(), None, options.clone());
    update_from_output(x, weight, out, options)
}

/// [`conv_update`] given the layer's output `out = conv(x, W)`, which the forward pass
/// already computed.
fn update_from_output<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    out: Tensor<B, 4>,
    options: ConvOptions<2>,
) -> Tensor<B, 4> {
    let [n, c_out, h, w] = out.dims();
    // ‖P‖² for each output channel's patches: the squared input convolved with ones (one
    // filter per output channel, so that every later step works on tensors of one shape,
    // the CPU backends' fast path).
    let squared = conv2d(
        x.clone().powi_scalar(2),
        weight.ones_like(),
        None,
        options.clone(),
    );
    // u / ‖P‖ = out / ‖P‖², and u² = out · (u / ‖P‖).
    let scaled = out.clone() * squared.clamp_min(MIN_SQUARED_NORM).recip();
    let decay = (out * scaled.clone())
        .sum_dim(0)
        .sum_dim(2)
        .sum_dim(3)
        .reshape([c_out, 1, 1, 1]);
    let hebb = conv_weight_backward::<B>(
        x.into_primitive().tensor(),
        weight.clone().into_primitive().tensor(),
        scaled.into_primitive().tensor(),
        &options,
    );
    let hebb: Tensor<B, 4> = Tensor::from_primitive(TensorPrimitive::Float(hebb));
    (hebb - weight * decay) / (n * h * w) as f64
}

/// The Hebbian update `ΔW` of a linear weight (Burn's layout, `[d_input, d_output]`) for
/// the input `x: [batch, d_input]`.
pub fn linear_update<B: Backend>(x: Tensor<B, 2>, weight: Tensor<B, 2>) -> Tensor<B, 2> {
    let n = x.dims()[0];
    let inv_norm = x
        .clone()
        .powi_scalar(2)
        .sum_dim(1)
        .clamp_min(MIN_SQUARED_NORM)
        .sqrt()
        .recip(); // [batch, 1]
    let response = x.clone().matmul(weight.clone()) * inv_norm.clone(); // u: [batch, d_output]
    let hebb = x.transpose().matmul(response.clone() * inv_norm);
    let decay = response.powi_scalar(2).sum_dim(0); // [1, d_output]
    (hebb - weight * decay) / n as f64
}

fn wrap<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// `-ΔW` of a convolution, as the backward pass reports it, from the layer's input, weight
/// and output.
pub(crate) fn conv_gradient<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    output: FloatTensor<B>,
    options: &ConvOptions<2>,
) -> FloatTensor<B> {
    let update = update_from_output::<B>(wrap(x), wrap(weight), wrap(output), options.clone());
    update.neg().into_primitive().tensor()
}

/// `-ΔW` of a linear layer, as the backward pass reports it.
pub(crate) fn linear_gradient<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
) -> FloatTensor<B> {
    linear_update::<B>(wrap(x), wrap(weight))
        .neg()
        .into_primitive()
        .tensor()
}
