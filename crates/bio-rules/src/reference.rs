//! Reference versions of the rule layers, written in plain tensor operations.
//!
//! They are slower (three convolutions instead of one) but rely only on Burn's own
//! autodiff, so tests can compare the custom backward pass against them:
//!
//! `y = conv(x.detach(), W) + conv(x, B) - conv(x, B).detach()`
//!
//! The value is `conv(x, W)`; the weight gradient comes from the first term only, the input
//! gradient from the second only, through `B`.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

/// Convolution whose input gradient flows through `feedback`, in plain tensor operations.
///
/// # Shapes
/// - x: `[batch, channels_in, height, width]`
/// - weight, feedback: `[channels_out, channels_in / groups, kh, kw]`
pub fn feedback_conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    feedback: Tensor<B, 4>,
    options: ConvOptions<2>,
) -> Tensor<B, 4> {
    let feedback = feedback.detach();
    let main = conv2d(x.clone().detach(), weight, None, options.clone());
    let through_feedback = conv2d(x, feedback, None, options);
    main + through_feedback.clone() - through_feedback.detach()
}

/// Matrix product whose input gradient flows through `feedback`, in plain tensor operations.
///
/// # Shapes
/// - x: `[batch, d_input]`
/// - weight, feedback: `[d_input, d_output]`
pub fn feedback_matmul<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    feedback: Tensor<B, 2>,
) -> Tensor<B, 2> {
    let main = x.clone().detach().matmul(weight);
    let through_feedback = x.matmul(feedback.detach());
    main + through_feedback.clone() - through_feedback.detach()
}
