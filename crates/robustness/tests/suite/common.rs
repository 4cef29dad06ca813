//! Models and data shared by the tests.
#![allow(dead_code)]

use burn::backend::Autodiff;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use robustness::Classifier;
use std::cell::Cell;

/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(not(feature = "test-ndarray"))]
pub type Cpu = burn::backend::Flex;
/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(feature = "test-ndarray")]
pub type Cpu = burn::backend::NdArray;

/// The backend every test attacks on.
pub type B = Autodiff<Cpu>;

/// The default device.
pub fn device() -> burn::tensor::Device<B> {
    Default::default()
}

/// A seeded generator.
pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Images of the given values and shape.
pub fn images(values: &[f32], dims: [usize; 4]) -> Tensor<B, 4> {
    Tensor::from_data(TensorData::new(values.to_vec(), dims), &device())
}

/// A label tensor.
pub fn labels(values: &[i64]) -> Tensor<B, 1, Int> {
    Tensor::from_data(TensorData::new(values.to_vec(), [values.len()]), &device())
}

/// The values of a tensor, in row-major order.
pub fn values<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().iter::<f32>().collect()
}

/// `len` uniform values in `[low, high)`.
pub fn uniform(rng: &mut StdRng, len: usize, low: f32, high: f32) -> Vec<f32> {
    (0..len).map(|_| rng.random_range(low..high)).collect()
}

/// `logits = W · flatten(x)` with `W` of shape `[classes, features]`, row-major.
pub fn linear(weights: &[f32], classes: usize) -> impl Fn(Tensor<B, 4>) -> Tensor<B, 2> {
    let features = weights.len() / classes;
    let w = Tensor::<B, 1>::from_floats(weights, &device()).reshape([classes, features]);
    move |x: Tensor<B, 4>| {
        let n = x.dims()[0];
        x.reshape([n, features]).matmul(w.clone().transpose())
    }
}

/// The linear model's logits of one flattened image, in f64 on the host.
pub fn linear_host(weights: &[f32], classes: usize, x: &[f32]) -> Vec<f64> {
    weights
        .chunks(weights.len() / classes)
        .map(|row| {
            row.iter()
                .zip(x)
                .map(|(&w, &v)| f64::from(w) * f64::from(v))
                .sum()
        })
        .collect()
}

/// `softmax(z)`.
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = z.iter().map(|v| (v - top).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|v| v / total).collect()
}

/// `CE(z, y) = −log softmax(z)[y]`.
pub fn cross_entropy(z: &[f64], label: usize) -> f64 {
    -softmax(z)[label].ln()
}

/// `KL(softmax(p) ‖ softmax(q))`.
pub fn kl(p_logits: &[f64], q_logits: &[f64]) -> f64 {
    let (p, q) = (softmax(p_logits), softmax(q_logits));
    p.iter().zip(&q).map(|(a, b)| a * (a.ln() - b.ln())).sum()
}

/// Two classes from `[n, 1, 4, 4]` images: class 0 when the left half (columns 0–1) is
/// brighter on average than the right half, `logits = 10 · (±(mean_left − mean_right))`.
pub fn left_right(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let n = x.dims()[0];
    let left = x.clone().narrow(3, 0, 2).reshape([n, 8]).mean_dim(1);
    let right = x.narrow(3, 2, 2).reshape([n, 8]).mean_dim(1);
    let d = (left - right).mul_scalar(10.0); // [n, 1]
    Tensor::cat(vec![d.clone(), d.neg()], 1)
}

/// `n` images for [`left_right`]: a random grey level in `[0.3, 0.7]` per image, the
/// labelled side `gap` brighter than the other. Labels alternate 0, 1, 0, ...
pub fn left_right_data(n: usize, gap: f32, seed: u64) -> (Tensor<B, 4>, Tensor<B, 1, Int>) {
    let mut rng = rng(seed);
    let mut values = Vec::new();
    let mut classes = Vec::new();
    for i in 0..n {
        let label = (i % 2) as i64;
        let base: f32 = rng.random_range(0.3..0.7);
        for _ in 0..4 {
            for col in 0..4 {
                let brighter = (col < 2) == (label == 0);
                let shift = if brighter { gap / 2.0 } else { -gap / 2.0 };
                values.push(base + shift);
            }
        }
        classes.push(label);
    }
    (images(&values, [n, 1, 4, 4]), labels(&classes))
}

/// Wraps a model, counting calls and images, and failing if any input carries a gradient.
pub struct Counting<F> {
    /// The wrapped model.
    pub inner: F,
    /// Forward passes so far.
    pub calls: Cell<usize>,
    /// Images seen so far.
    pub images: Cell<usize>,
}

impl<F> Counting<F> {
    /// A fresh counter around `inner`.
    pub fn new(inner: F) -> Self {
        Self {
            inner,
            calls: Cell::new(0),
            images: Cell::new(0),
        }
    }
}

impl<F: Fn(Tensor<B, 4>) -> Tensor<B, 2>> Classifier<B> for Counting<F> {
    fn logits(&self, images: Tensor<B, 4>) -> Tensor<B, 2> {
        assert!(
            !images.is_require_grad(),
            "a black-box attack asked for a gradient"
        );
        self.calls.set(self.calls.get() + 1);
        self.images.set(self.images.get() + images.dims()[0]);
        (self.inner)(images)
    }
}

/// The model evaluated on a host copy of its input: no gradient reaches the input.
pub fn opaque<F>(inner: F) -> impl Fn(Tensor<B, 4>) -> Tensor<B, 2>
where
    F: Fn(Tensor<B, 4>) -> Tensor<B, 2>,
{
    move |x: Tensor<B, 4>| {
        let copy = Tensor::<B, 4>::from_data(x.into_data(), &device());
        inner(copy).detach()
    }
}

/// Largest `|a − b|`.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Asserts every value lies in `[0, 1]` and within `epsilon` (plus rounding) of `clean`.
pub fn assert_bounded(adversarial: &[f32], clean: &[f32], epsilon: f32) {
    assert_eq!(adversarial.len(), clean.len());
    for (i, (&a, &c)) in adversarial.iter().zip(clean).enumerate() {
        assert!((0.0..=1.0).contains(&a), "value {a} at {i} outside [0, 1]");
        assert!(
            (a - c).abs() <= epsilon + 1e-6,
            "|{a} - {c}| > {epsilon} at {i}"
        );
    }
}

/// Per-image predictions of a model on host.
pub fn predictions(model: &dyn Classifier<B>, x: Tensor<B, 4>) -> Vec<usize> {
    let logits = model.logits(x);
    let classes = logits.dims()[1];
    values(logits)
        .chunks(classes)
        .map(|row| {
            (0..classes)
                .max_by(|&a, &b| row[a].total_cmp(&row[b]))
                .expect("classes")
        })
        .collect()
}
