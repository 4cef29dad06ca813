//! Direct feedback alignment: the input gradient from the network's output error.

use burn::tensor::backend::{Backend, TensorMetadata};
use burn::tensor::ops::{ConvOptions, FloatTensor};
use burn::tensor::{Tensor, TensorPrimitive};

fn wrap<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// Checks that the stored error belongs to this batch and this projection.
///
/// # Panics
/// When the batch sizes or class counts differ: the error was stored by another network's
/// backward pass, a wiring bug in the model's code.
fn check(error: [usize; 2], batch: usize, classes: usize) {
    assert!(
        error == [batch, classes],
        "a DFA layer read an output error of shape {error:?}, expected [{batch}, {classes}]: \
         the logits of this forward pass did not go through the layer's RuleHub::tap"
    );
}

/// `δx = e · P` with `e: [batch, classes]` and `P: [classes, d_input]`.
pub(crate) fn linear_input<B: Backend>(
    projection: FloatTensor<B>,
    error: FloatTensor<B>,
    grad: &FloatTensor<B>,
) -> FloatTensor<B> {
    let projection: Tensor<B, 2> = wrap(projection);
    let error: Tensor<B, 2> = wrap(error);
    let batch = grad.shape()[0];
    check(error.dims(), batch, projection.dims()[0]);
    error.matmul(projection).into_primitive().tensor()
}

/// `e` broadcast over the output pixels, then the transposed convolution with
/// `P: [classes, c_in, kh, kw]` under the layer's stride, padding and dilation, in one
/// group whatever the layer's groups (so depthwise layers work too).
pub(crate) fn conv_input<B: Backend>(
    x: &FloatTensor<B>,
    projection: FloatTensor<B>,
    error: FloatTensor<B>,
    grad: &FloatTensor<B>,
    options: &ConvOptions<2>,
) -> FloatTensor<B> {
    let [batch, _, h_out, w_out] = grad.shape().dims::<4>();
    let classes = projection.shape()[0];
    let error: Tensor<B, 2> = wrap(error);
    check(error.dims(), batch, classes);
    let spread = error
        .reshape([batch, classes, 1, 1])
        .expand([batch, classes, h_out, w_out]);
    let options = ConvOptions::new(options.stride, options.padding, options.dilation, 1);
    B::conv2d_x_backward(
        x.clone(),
        projection,
        spread.into_primitive().tensor(),
        options,
    )
}
