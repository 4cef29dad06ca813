//! Helpers shared by the test binaries (each uses a part of them).
#![allow(dead_code)]

use burn::backend::Autodiff;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(not(feature = "test-ndarray"))]
pub type Cpu = burn::backend::Flex;
/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(feature = "test-ndarray")]
pub type Cpu = burn::backend::NdArray;

/// The backend every test trains on.
pub type B = Autodiff<Cpu>;

/// The default device.
pub fn device() -> burn::tensor::Device<B> {
    Default::default()
}

/// A tensor of the given values and shape.
pub fn tensor<const D: usize>(values: &[f32], shape: [usize; D]) -> Tensor<B, D> {
    Tensor::<B, 1>::from_floats(values, &device()).reshape(shape)
}

/// The values of a tensor, in row-major order.
pub fn values<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().expect("float data")
}
