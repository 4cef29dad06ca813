//! The two CPU backends (flex and ndarray) compute the same network: outputs, gradients of
//! every parameter, and the losses of a few SGD steps agree within float tolerance. With the
//! `wgpu` feature, the same holds between flex and wgpu (run on Mesa's software Vulkan
//! driver, lavapipe, where no GPU is present).

use std::collections::BTreeMap;

use bionas::bio_rules::{LearningRule, RuleBackend};
use bionas::search_space::genotype::known;
use bionas::search_space::{Network, NetworkConfig};
use bionas::swap::{copy_module, gradient_values, max_abs_diff, max_gradient_diff, values};
use burn::backend::{Autodiff, Flex, NdArray};
use burn::module::{Module, ParamId};
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Distribution, Tensor, TensorData};

type F = Autodiff<Flex>;
type N = Autodiff<NdArray>;

/// BIODARTS with one edge of each cell on DFA and one on the Hebbian rule, so that every
/// kind of backward step runs (brSF is left out: its draws come from each backend's own
/// generator).
fn config() -> NetworkConfig {
    let mut genotype = known::biodarts();
    for cell in [&mut genotype.normal, &mut genotype.reduce] {
        let mut weighted = cell.edges.iter_mut().filter(|e| e.op.is_conv());
        if let Some(edge) = weighted.next() {
            edge.rule = Some(LearningRule::Dfa);
        }
        if let Some(edge) = weighted.next() {
            edge.rule = Some(LearningRule::Hebbian);
        }
    }
    NetworkConfig::new(genotype).with_channels(4).with_layers(3)
}

/// What one pass computes: the logits, the loss and every parameter's gradient.
type Pass = (Vec<f32>, f32, BTreeMap<ParamId, Vec<f32>>);

fn pass<B>(net: &Network<B>, images: &TensorData, weights: &TensorData) -> Pass
where
    B: AutodiffBackend + RuleBackend,
{
    let device = net.devices()[0].clone();
    let x = Tensor::<B, 4>::from_data(images.clone(), &device);
    let w = Tensor::<B, 2>::from_data(weights.clone(), &device);
    let logits = net.forward(x);
    let loss = (logits.clone() * w).sum() + logits.clone().powi_scalar(2).mean();
    let value = values(loss.clone())[0];
    let grads = GradientsParams::from_grads(loss.backward(), net);
    (values(logits), value, gradient_values(net, &grads))
}

/// One SGD step on `loss = mean(logits²)`; returns the loss before the step.
fn sgd_step<B, O>(net: Network<B>, optim: &mut O, images: &TensorData) -> (Network<B>, f32)
where
    B: AutodiffBackend + RuleBackend,
    O: Optimizer<Network<B>, B>,
{
    let x = Tensor::<B, 4>::from_data(images.clone(), &net.devices()[0]);
    let loss = net.forward(x).powi_scalar(2).mean();
    let value = values(loss.clone())[0];
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    (optim.step(0.05, net, grads), value)
}

/// Flex's generator is global to the process: the tests that seed it and draw from it run
/// one at a time.
static GENERATOR: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-4 * (1.0 + a.abs())
}

/// Measured: logits within about 2e-6, gradients within about 2e-5 of their largest value
/// (over several random draws); the tolerances leave a margin of 50 or more.
#[test]
fn flex_and_ndarray_agree() {
    use burn::tensor::backend::Backend;
    let _generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    Flex::seed(&Default::default(), 5);
    let config = config();
    let flex = config.init::<F>(&Default::default()).expect("network");
    let nd = config.init::<N>(&Default::default()).expect("network");
    let nd = copy_module(flex.clone(), nd, &Default::default()).expect("copy");
    let device = Default::default();
    let normal = Distribution::Normal(0.0, 1.0);
    let images = Tensor::<Flex, 4>::random([4, 3, 16, 16], normal, &device).into_data();
    let weights = Tensor::<Flex, 2>::random([4, 10], normal, &device).into_data();

    let (logits_f, loss_f, grads_f) = pass(&flex, &images, &weights);
    let (logits_n, loss_n, grads_n) = pass(&nd, &images, &weights);
    assert!(max_abs_diff(&logits_f, &logits_n) < 1e-4, "logits differ");
    assert!(close(loss_f, loss_n), "{loss_f} vs {loss_n}");
    assert!(grads_f.len() > 20, "{} gradients", grads_f.len());
    let (diff, id) = max_gradient_diff(&grads_f, &grads_n).expect("gradients");
    assert!(diff < 1e-3, "parameter {id:?}: relative difference {diff}");

    // A few SGD steps on each backend keep them together.
    let (mut flex, mut nd) = (flex, nd);
    let mut opt_f = SgdConfig::new().init::<F, Network<F>>();
    let mut opt_n = SgdConfig::new().init::<N, Network<N>>();
    for step in 0..3 {
        let (next_f, lf) = sgd_step(flex, &mut opt_f, &images);
        let (next_n, ln) = sgd_step(nd, &mut opt_n, &images);
        assert!(close(lf, ln), "step {step}: {lf} vs {ln}");
        (flex, nd) = (next_f, next_n);
    }
}

/// Measured on lavapipe (Mesa 22.3) over four draws: logits within 3e-6, gradients within
/// 5e-6 of their largest value; the tolerances are the CPU test's. (This test found Burn
/// 0.21's wrong wgpu input gradient for strided 1×1 convolutions, which the rule layers now
/// compute themselves.)
#[cfg(feature = "wgpu")]
#[test]
fn flex_and_wgpu_agree() {
    use burn::backend::Wgpu;
    use burn::backend::wgpu::WgpuDevice;
    use burn::tensor::backend::Backend;
    type W = Autodiff<Wgpu>;
    let _generator = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    Flex::seed(&Default::default(), 7);
    let device = WgpuDevice::default();
    let config = config();
    let flex = config.init::<F>(&Default::default()).expect("network");
    let gpu = config.init::<W>(&device).expect("network");
    let gpu = copy_module(flex.clone(), gpu, &device).expect("copy");
    let normal = Distribution::Normal(0.0, 1.0);
    let images = Tensor::<Flex, 4>::random([4, 3, 16, 16], normal, &Default::default());
    let weights = Tensor::<Flex, 2>::random([4, 10], normal, &Default::default());
    let (images, weights) = (images.into_data(), weights.into_data());

    let (logits_f, loss_f, grads_f) = pass(&flex, &images, &weights);
    let (logits_w, loss_w, grads_w) = pass(&gpu, &images, &weights);
    assert!(max_abs_diff(&logits_f, &logits_w) < 1e-4, "logits differ");
    assert!(close(loss_f, loss_w), "{loss_f} vs {loss_w}");
    assert_eq!(grads_f.len(), grads_w.len());
    let (diff, id) = max_gradient_diff(&grads_f, &grads_w).expect("gradients");
    assert!(diff < 1e-3, "parameter {id:?}: relative difference {diff}");
}
