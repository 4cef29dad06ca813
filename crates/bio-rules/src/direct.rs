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
///
/// Since `e` is the same at every output pixel, the transposed convolution collapses: with
/// `Q = e · P` (`[batch, c_in·kh·kw]`), an input pixel receives `Q[n, c, u, v]` once for
/// every kernel tap `(u, v)` that reaches it from some output pixel. That is one matrix
/// product with a fixed 0/1 mask `M[(u, v), (y, x)]`, `batch·c_in·kh·kw·H·W` multiplies
/// instead of `classes` times as many.
pub(crate) fn conv_input<B: Backend>(
    x: &FloatTensor<B>,
    projection: FloatTensor<B>,
    error: FloatTensor<B>,
    grad: &FloatTensor<B>,
    options: &ConvOptions<2>,
) -> FloatTensor<B> {
    let [batch, _, h_out, w_out] = grad.shape().dims::<4>();
    let [_, c_in, h, w] = x.shape().dims::<4>();
    let projection: Tensor<B, 4> = wrap(projection);
    let [classes, _, kh, kw] = projection.dims();
    let error: Tensor<B, 2> = wrap(error);
    check(error.dims(), batch, classes);
    let q = error
        .matmul(projection.reshape([classes, c_in * kh * kw]))
        .reshape([batch * c_in, kh * kw]);
    let rows = reach(kh, h, h_out, options, 0);
    let cols = reach(kw, w, w_out, options, 1);
    let mut mask = Vec::with_capacity(kh * kw * h * w);
    for u in 0..kh {
        for v in 0..kw {
            for y in 0..h {
                let row = rows[u * h + y];
                mask.extend(cols[v * w..(v + 1) * w].iter().map(|&col| row * col));
            }
        }
    }
    let mask = Tensor::<B, 2>::from_data(
        burn::tensor::TensorData::new(mask, [kh * kw, h * w]),
        &q.device(),
    )
    .cast(q.dtype());
    q.matmul(mask)
        .reshape([batch, c_in, h, w])
        .into_primitive()
        .tensor()
}

/// `reach[u·size + i]` is 1 when kernel tap `u` reads input position `i` from some output
/// position along `axis`, else 0.
fn reach(k: usize, size: usize, out: usize, options: &ConvOptions<2>, axis: usize) -> Vec<f32> {
    let (stride, padding, dilation) = (
        options.stride[axis],
        options.padding[axis],
        options.dilation[axis],
    );
    let mut reach = vec![0.0; k * size];
    for u in 0..k {
        for o in 0..out {
            // Input position o·stride + u·dilation − padding, when inside the image.
            let i = (o * stride + u * dilation).checked_sub(padding);
            if let Some(i) = i.filter(|&i| i < size) {
                reach[u * size + i] = 1.0;
            }
        }
    }
    reach
}
