//! The final network: ImageNet layout, auxiliary head, drop-path, evaluation mode and
//! input normalisation.

use bio_rules::ParamCounts;
use burn::backend::Autodiff;
use burn::module::{AutodiffModule, Module};
use burn::tensor::{Distribution, Tensor, TensorData};
use search_space::genotype::known;
use search_space::layers::drop_path;
use search_space::{
    Candidate, GenotypeEdge, Network, NetworkConfig, NormMode, Operation, SpaceError, StemKind,
};

/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(not(feature = "test-ndarray"))]
type Cpu = burn::backend::Flex;
/// The CPU backend the tests run on: flex, or ndarray with the `test-ndarray` feature.
#[cfg(feature = "test-ndarray")]
type Cpu = burn::backend::NdArray;
type B = Autodiff<Cpu>;

fn values<Bk: burn::tensor::backend::Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("float data")
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn small() -> NetworkConfig {
    NetworkConfig::new(known::darts_v2())
        .with_channels(4)
        .with_layers(3)
}

fn images(n: usize, size: usize) -> Tensor<B, 4> {
    Tensor::random(
        [n, 3, size, size],
        Distribution::Uniform(0.0, 1.0),
        &Default::default(),
    )
}

#[test]
fn imagenet_darts_v2_has_the_published_parameter_count() {
    let net = NetworkConfig::new(known::darts_v2())
        .with_channels(48)
        .with_layers(14)
        .with_classes(1000)
        .with_stem(StemKind::ImageNet)
        .init::<Cpu>(&Default::default())
        .expect("valid");
    assert_eq!(ParamCounts::of(&net).trained, 4_718_752);
}

#[test]
fn imagenet_stem_shrinks_the_image_eightfold_before_the_cells() {
    let net = small()
        .with_stem(StemKind::ImageNet)
        .with_classes(7)
        .init::<B>(&Default::default())
        .expect("valid");
    let logits = net.forward(images(2, 32));
    assert_eq!(logits.dims(), [2, 7]);
}

#[test]
fn auxiliary_head_gives_logits_in_training_only() {
    let net = NetworkConfig::new(known::biodarts())
        .with_channels(4)
        .with_layers(6)
        .with_auxiliary(true)
        .init::<B>(&Default::default())
        .expect("valid");
    // 16×16 images leave a 4×4 map at the head: the adaptive pooling takes over.
    let small = net
        .forward_train(images(2, 16), 0.0)
        .auxiliary
        .expect("auxiliary logits");
    assert_eq!(small.dims(), [2, 10]);
    let out = net.forward_train(images(2, 32), 0.0);
    let aux = out.auxiliary.expect("auxiliary logits");
    assert_eq!(aux.dims(), [2, 10]);
    assert_eq!(out.logits.dims(), [2, 10]);
    // The head's weights learn from its logits.
    let grads = aux.sum().backward();
    let head = net.auxiliary.as_ref().expect("head");
    assert!(head.conv1.weight.val().grad(&grads).is_some());
    let without = NetworkConfig::new(known::biodarts())
        .with_channels(4)
        .with_layers(6)
        .init::<Cpu>(&Default::default())
        .expect("valid");
    let with = ParamCounts::of(&net).trained - ParamCounts::of(&without).trained;
    // conv 1×1 (c·128) + BN (256) + conv 2×2 (128·768·4) + BN (1536) + linear (7690);
    // the head reads cell 4 (after the second reduction): 4 nodes × 16 channels.
    let c = 4 * 16;
    assert_eq!(with, c * 128 + 256 + 128 * 768 * 4 + 1536 + 768 * 10 + 10);
}

#[test]
fn imagenet_auxiliary_head_has_no_second_batch_norm() {
    let net = small()
        .with_stem(StemKind::ImageNet)
        .with_layers(6)
        .with_auxiliary(true)
        .init::<B>(&Default::default())
        .expect("valid");
    let head = net.auxiliary.as_ref().expect("head");
    assert!(head.bn2.is_none() && head.pool_stride == 2);
    let aux = net
        .forward_train(images(2, 64), 0.0)
        .auxiliary
        .expect("aux logits");
    assert_eq!(aux.dims(), [2, 10]);
}

#[test]
fn evaluation_is_deterministic_uses_running_statistics_and_passes_gradients() {
    let net = small().init::<B>(&Default::default()).expect("valid");
    let x = images(3, 16).require_grad();
    let before = values(net.forward_eval(x.clone()));
    let again = net.forward_eval(x.clone());
    assert_eq!(before, values(again.clone()));
    // Same as the inference backend, whose batch norms use the running statistics.
    let inner = net.valid().forward(x.clone().inner());
    assert!(max_diff(&before, &values(inner)) < 1e-5);
    let grads = again.sum().backward();
    assert!(x.grad(&grads).is_some());
    // A training pass moves the running statistics; evaluation did not.
    net.forward_train(x.clone().detach(), 0.0);
    let after = values(net.forward_eval(x));
    assert!(max_diff(&before, &after) > 1e-6);
}

#[test]
fn drop_path_drops_whole_samples_and_scales_the_rest() {
    <B as burn::tensor::backend::Backend>::seed(&Default::default(), 3);
    let x = Tensor::<B, 4>::ones([1000, 2, 3, 3], &Default::default());
    let y = values(drop_path(x.clone(), 0.2));
    let mut zeros = 0;
    for sample in y.chunks(18) {
        let first = sample[0];
        assert!(first == 0.0 || (first - 1.25).abs() < 1e-6, "{first}");
        assert!(
            sample.iter().all(|v| *v == first),
            "a sample was partly dropped"
        );
        zeros += usize::from(first == 0.0);
    }
    assert!((150..250).contains(&zeros), "{zeros} of 1000 dropped");
    assert_eq!(values(drop_path(x.clone(), 0.0)), values(x));
}

#[test]
fn drop_path_acts_in_training_only_and_spares_the_identity() {
    <B as burn::tensor::backend::Backend>::seed(&Default::default(), 5);
    let net: Network<B> = small().init(&Default::default()).expect("valid");
    let x = images(4, 16);
    let eval = values(net.forward_eval(x.clone()));
    assert_eq!(eval, values(net.forward_eval(x.clone())));
    let plain = values(net.forward_train(x.clone(), 0.0).logits);
    let dropped = values(net.forward_train(x.clone(), 0.5).logits);
    assert!(max_diff(&plain, &dropped) > 1e-4);
    // A normal cell of identities only against drop rates.
    let mut genotype = known::darts_v2();
    for edge in &mut genotype.normal.edges {
        *edge = GenotypeEdge::new(Candidate::plain(Operation::SkipConnect), edge.input.min(1));
    }
    let skips: Network<B> = NetworkConfig::new(genotype)
        .with_channels(4)
        .with_layers(3)
        .init(&Default::default())
        .expect("valid");
    let mode = NormMode::Running;
    let s = images(2, 8).repeat_dim(1, 4);
    let cell = &skips.cells[0];
    let kept = values(cell.forward_with(s.clone(), s.clone(), mode, 0.0));
    let high = values(cell.forward_with(s.clone(), s.clone(), mode, 0.9));
    assert_eq!(kept, high);
    let sep = &net.cells[0];
    let kept = values(sep.forward_with(s.clone(), s.clone(), mode, 0.0));
    let high = values(sep.forward_with(s.clone(), s, mode, 0.9));
    assert!(max_diff(&kept, &high) > 1e-4);
}

#[test]
fn normalising_inside_equals_normalising_outside() {
    let mean = [0.4914, 0.4822, 0.4465];
    let std = [0.2470, 0.2435, 0.2616];
    let device = Default::default();
    let outside: Network<B> = small().init(&device).expect("valid");
    let inside: Network<B> = small()
        .with_mean(mean)
        .with_std(std)
        .init(&device)
        .expect("valid")
        .load_record(outside.clone().into_record());
    let x = images(2, 16);
    let [n, _, h, w] = x.dims();
    let m = Tensor::<B, 1>::from_data(TensorData::from(mean), &device).reshape([1, 3, 1, 1]);
    let s = Tensor::<B, 1>::from_data(TensorData::from(std), &device).reshape([1, 3, 1, 1]);
    let normalised = (x.clone() - m.expand([n, 3, h, w])) / s.expand([n, 3, h, w]);
    let a = values(outside.forward_eval(normalised));
    let b = values(inside.forward_eval(x));
    assert!(max_diff(&a, &b) < 1e-4, "{a:?} vs {b:?}");
}

#[test]
fn bad_sizes_are_refused_with_a_message() {
    let device = Default::default();
    for (config, expected) in [
        (
            small().with_channels(0),
            "channels, layers and classes must be at least 1",
        ),
        (
            small().with_layers(0),
            "channels, layers and classes must be at least 1",
        ),
        (
            small().with_channels(1_000_000_000),
            "channels (1000000000) must be at most 65536",
        ),
        (
            small().with_layers(1 << 30),
            "layers (1073741824) must be at most 4096",
        ),
        (
            small().with_std([1.0, 0.0, 1.0]),
            "std must be positive and finite",
        ),
        (
            small().with_layers(2).with_auxiliary(true),
            "the auxiliary head needs at least 3 cells",
        ),
    ] {
        match config.init::<Cpu>(&device) {
            Err(err @ SpaceError::Size(_)) => assert_eq!(
                err.to_string(),
                format!("invalid network configuration: {expected}")
            ),
            other => panic!("expected a size error, got {other:?}"),
        }
    }
}
