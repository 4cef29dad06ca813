//! Input and weight gradients of every rule, against hand-computed values, Burn's own
//! autodiff and the plain-tensor reference.

mod common;

use common::{B, Cpu, device, tensor, values};

use bio_rules::{
    Fans, Feedback, Init, LearningRule, RuleBackend, RuleConv2dConfig, RuleHub, RuleLinear,
    RuleLinearConfig, reference,
};
use burn::module::Param;
use burn::tensor::backend::Backend;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor, TensorPrimitive};

type Inner = Cpu;

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * (1.0 + w.abs()),
            "at {i}: got {g}, want {w}"
        );
    }
}

fn random<const D: usize>(shape: [usize; D]) -> Tensor<B, D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), &device())
}

/// A linear layer with the PITFALLS weights. PyTorch's W = [[1,2],[3,4]] (out × in) is
/// stored by Burn transposed: [[1,3],[2,4]] (in × out).
fn linear(rule: LearningRule, fixed: Option<&[f32]>) -> RuleLinear<B> {
    let fans = Fans::linear(2, 2);
    let fixed = fixed.map(|v| tensor(v, [2, 2]));
    let feedback = Feedback::from_fixed(rule, fixed, fans, Init::XavierUniform).expect("state");
    RuleLinear {
        weight: Param::from_tensor(tensor(&[1.0, 3.0, 2.0, 4.0], [2, 2])),
        bias: None,
        feedback,
        initial_norm: None,
        clamp_input_grad: false,
    }
}

/// Returns (dx, dW) of loss = <y, [1, 0]> for x = [1, 1].
fn linear_grads(layer: &RuleLinear<B>) -> (Vec<f32>, Vec<f32>) {
    let x = tensor(&[1.0, 1.0], [1, 2]).require_grad();
    let upstream = tensor(&[1.0, 0.0], [1, 2]);
    let grads = (layer.forward(x.clone()) * upstream).sum().backward();
    let dx = values(x.grad(&grads).expect("dx"));
    let dw = values(layer.weight.val().grad(&grads).expect("dW"));
    (dx, dw)
}

// PyTorch's dW = δ xᵀ = [[1,1],[0,0]]; Burn's layout is its transpose.
const LINEAR_DW: [f32; 4] = [1.0, 0.0, 1.0, 0.0];

#[test]
fn linear_bp_sends_w_transpose() {
    let (dx, dw) = linear_grads(&linear(LearningRule::Bp, None));
    assert_close(&dx, &[1.0, 2.0], 1e-6);
    assert_close(&dw, &LINEAR_DW, 1e-6);
}

#[test]
fn linear_fa_sends_the_fixed_matrix() {
    // PyTorch's B = [[0.5,-1],[2,0]], transposed for Burn's layout.
    let layer = linear(LearningRule::Fa, Some(&[0.5, 2.0, -1.0, 0.0]));
    let (dx, dw) = linear_grads(&layer);
    assert_close(&dx, &[0.5, -1.0], 1e-6);
    assert_close(&dw, &LINEAR_DW, 1e-6);
}

#[test]
fn linear_usf_sends_scaled_signs() {
    let (dx, dw) = linear_grads(&linear(LearningRule::Usf, None));
    let s = (2.0f32 / 4.0).sqrt();
    assert_close(&dx, &[s, s], 1e-6);
    assert_close(&dw, &LINEAR_DW, 1e-6);
}

#[test]
fn linear_frsf_signs_follow_the_weight() {
    // |B0| = |B| = [[0.5,1],[2,0]] (PyTorch layout), transposed for Burn.
    let mut layer = linear(LearningRule::Frsf, Some(&[0.5, 2.0, 1.0, 0.0]));
    let (dx, dw) = linear_grads(&layer);
    assert_close(&dx, &[0.5, 1.0], 1e-6);
    assert_close(&dw, &LINEAR_DW, 1e-6);
    // W[0][0] turns negative: the sign of that feedback entry follows.
    layer.weight = Param::from_tensor(tensor(&[-1.0, 3.0, 2.0, 4.0], [2, 2]));
    let (dx, _) = linear_grads(&layer);
    assert_close(&dx, &[-0.5, 1.0], 1e-6);
}

#[test]
fn linear_brsf_redraws_magnitudes_but_keeps_signs() {
    let layer = RuleLinearConfig::new(32, 16)
        .with_rule(LearningRule::Brsf)
        .with_bias(false)
        .init::<B>(&device());
    let x = random([4, 32]).require_grad();
    let upstream = random([4, 16]);
    let grads = |seed: u64| {
        B::seed(&device(), seed);
        let g = (layer.forward(x.clone()) * upstream.clone())
            .sum()
            .backward();
        values(x.grad(&g).expect("dx"))
    };
    let first = grads(1);
    let second = grads(2);
    assert_ne!(
        first, second,
        "brSF must redraw its magnitudes every forward"
    );
    // Repeatability under a seed is tested in `seeded.rs`, alone: the generator is global
    // and the other tests here draw from it concurrently.
    // One row of dx is δ·Bᵀ; with a single output gradient the signs are those of W.
    let layer_one = RuleLinearConfig::new(3, 1)
        .with_rule(LearningRule::Brsf)
        .with_bias(false)
        .init::<B>(&device());
    let w = values(layer_one.weight.val());
    for seed in 0..3 {
        B::seed(&device(), seed);
        let x = random([1, 3]).require_grad();
        let g = layer_one.forward(x.clone()).sum().backward();
        let dx = values(x.grad(&g).expect("dx"));
        for (d, w) in dx.iter().zip(&w) {
            assert_eq!(d.signum(), w.signum(), "brSF feedback keeps the sign of W");
            assert!(d.abs() <= Fans::linear(3, 1).xavier_bound() as f32 + 1e-6);
        }
    }
}

#[test]
fn the_first_layer_learns_without_an_input_gradient() {
    for rule in LearningRule::ALL {
        let layer = RuleConv2dConfig::new([3, 4], [3, 3])
            .with_rule(rule)
            .init_with_hub::<B>(RuleHub::new(10), &device());
        let x = random([2, 3, 5, 5]); // no gradient required
        let grads = layer.forward(x).sum().backward();
        assert!(
            layer.weight.val().grad(&grads).is_some(),
            "{rule} weight got no gradient"
        );
    }
}

#[test]
fn stored_feedback_never_gets_a_gradient() {
    for rule in [LearningRule::Fa, LearningRule::Frsf, LearningRule::Dfa] {
        let hub = RuleHub::new(4);
        let layer = RuleConv2dConfig::new([3, 4], [3, 3])
            .with_rule(rule)
            .init_with_hub::<B>(hub, &device());
        let x = random([2, 3, 5, 5]).require_grad();
        let logits = hub.tap(layer.forward(x).mean_dims(&[2, 3]).reshape([2, 4]));
        let grads = logits.sum().backward();
        let stored = layer.feedback.fixed().expect("stored feedback");
        assert!(
            stored.grad(&grads).is_none(),
            "{rule} feedback must not be trained"
        );
    }
}

// ---- Convolutions ----------------------------------------------------------------------

fn arange<const D: usize>(n: usize, shape: [usize; D]) -> Tensor<B, D> {
    let v: Vec<f32> = (0..n).map(|i| i as f32).collect();
    tensor(&v, shape)
}

fn custom_conv(
    x: Tensor<B, 4>,
    w: Tensor<B, 4>,
    b: Tensor<B, 4>,
    o: ConvOptions<2>,
) -> Tensor<B, 4> {
    let out = <B as RuleBackend>::feedback_conv2d(
        x.into_primitive().tensor(),
        w.into_primitive().tensor(),
        b.into_primitive().tensor(),
        o,
    );
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// The PITFALLS depthwise stride-2 case, with the feedback equal to the weight.
#[test]
fn depthwise_stride_two_matches_hand_values() {
    let x = arange(64, [1, 4, 4, 4]).require_grad();
    let w = arange(36, [4, 1, 3, 3]).require_grad();
    let options = ConvOptions::new([2, 2], [1, 1], [1, 1], 4);
    let y = custom_conv(x.clone(), w.clone(), w.clone().detach(), options);
    assert_close(
        &values(y.clone().slice([0..1, 0..1])),
        &[73.0, 154.0, 279.0, 438.0],
        1e-5,
    );
    let grads = y.sum().backward();
    let dx = values(x.grad(&grads).expect("dx"));
    let dx00 = [
        4., 8., 4., 5., 8., 16., 8., 10., 4., 8., 4., 5., 7., 14., 7., 8.,
    ];
    assert_close(&dx[..16], &dx00, 1e-5);
    assert_close(&dx[48..52], &[31.0, 62.0, 31.0, 32.0], 1e-5);
    let dw = values(w.grad(&grads).expect("dW"));
    assert_close(
        &dw[..9],
        &[5., 10., 12., 10., 20., 24., 18., 36., 40.],
        1e-5,
    );
    assert_close(
        &dw[27..],
        &[53., 106., 108., 106., 212., 216., 114., 228., 232.],
        1e-5,
    );
}

/// A dilated convolution whose output is 1×1: every output is 4 and only the centre tap
/// of the kernel sees the input.
#[test]
fn dilated_conv_with_a_one_by_one_output() {
    let x = Tensor::<B, 4>::ones([1, 4, 3, 3], &device()).require_grad();
    let w = Tensor::<B, 4>::ones([8, 4, 3, 3], &device()).require_grad();
    let options = ConvOptions::new([1, 1], [2, 2], [3, 3], 1);
    let y = custom_conv(x.clone(), w.clone(), w.clone().detach(), options);
    assert_eq!(y.dims(), [1, 8, 1, 1]);
    assert_close(&values(y.clone()), &[4.0; 8], 1e-6);
    let grads = y.sum().backward();
    let dw = values(w.grad(&grads).expect("dW"));
    for (i, g) in dw.iter().enumerate() {
        let want = if i % 9 == 4 { 1.0 } else { 0.0 };
        assert!((g - want).abs() < 1e-6, "tap {i}: {g}");
    }
}

struct Geometry {
    channels: [usize; 2],
    kernel: usize,
    options: ConvOptions<2>,
}

fn geometries() -> Vec<Geometry> {
    let g = |channels, kernel, stride, padding, dilation, groups| Geometry {
        channels,
        kernel,
        options: ConvOptions::new([stride; 2], [padding; 2], [dilation; 2], groups),
    };
    vec![
        g([3, 5], 3, 1, 1, 1, 1), // plain, stride 1
        g([4, 6], 3, 2, 1, 1, 1), // stride 2
        g([6, 6], 3, 2, 1, 1, 6), // depthwise, stride 2
        g([4, 4], 5, 1, 4, 2, 4), // dilated depthwise 5×5
        g([4, 4], 3, 1, 3, 1, 4), // depthwise, padding wider than the kernel reaches
        g([4, 8], 1, 1, 0, 1, 1), // pointwise
        g([4, 6], 1, 2, 0, 1, 1), // strided pointwise (factorized reduce)
    ]
}

fn conv_grads(
    x: &Tensor<B, 4>,
    w: &Tensor<B, 4>,
    y: Tensor<B, 4>,
    up: &Tensor<B, 4>,
) -> (Vec<f32>, Vec<f32>) {
    let grads = (y * up.clone()).sum().backward();
    (
        values(x.grad(&grads).expect("dx")),
        values(w.grad(&grads).expect("dW")),
    )
}

#[test]
fn custom_backward_matches_reference_and_autodiff() {
    for geo in geometries() {
        let [c_in, c_out] = geo.channels;
        let wshape = [c_out, c_in / geo.options.groups, geo.kernel, geo.kernel];
        let x = random([2, c_in, 7, 7]).require_grad();
        let w = random(wshape).require_grad();
        let fb = random(wshape);
        let o = geo.options.clone();
        let y = custom_conv(x.clone(), w.clone(), fb.clone(), o.clone());
        let up = random::<4>(y.dims());
        let (dx, dw) = conv_grads(&x, &w, y, &up);
        // Against the plain-tensor reference, same feedback.
        let y_ref = reference::feedback_conv2d(x.clone(), w.clone(), fb.clone(), o.clone());
        let (dx_ref, dw_ref) = conv_grads(&x, &w, y_ref, &up);
        assert_close(&dx, &dx_ref, 1e-4);
        assert_close(&dw, &dw_ref, 1e-4);
        // The weight gradient is back-propagation's, and with B = W so is dx.
        let y_bp = conv2d(x.clone(), w.clone(), None, o.clone());
        let (dx_bp, dw_bp) = conv_grads(&x, &w, y_bp, &up);
        assert_close(&dw, &dw_bp, 1e-4);
        let y_same = custom_conv(x.clone(), w.clone(), w.clone().detach(), o);
        let (dx_same, _) = conv_grads(&x, &w, y_same, &up);
        assert_close(&dx_same, &dx_bp, 1e-4);
        assert!(dx != dx_bp, "a different feedback must change dx");
    }
}

/// dx of the feedback convolution is the transposed convolution of δ with B, checked by a
/// central finite difference of <conv(x, B), δ> in x (which is linear in x, so exact up to
/// rounding).
#[test]
fn input_gradient_is_the_finite_difference_through_feedback() {
    let geo = &geometries()[2];
    let wshape = [6, 1, 3, 3];
    let x = random([1, 6, 5, 5]).require_grad();
    let w = random(wshape).require_grad();
    let fb = random(wshape);
    let y = custom_conv(x.clone(), w.clone(), fb.clone(), geo.options.clone());
    let up = random::<4>(y.dims());
    let (dx, _) = conv_grads(&x, &w, y, &up);
    let xv = values(x.clone());
    let inner = |v: &[f32]| -> f64 {
        let xt = Tensor::<Inner, 1>::from_floats(v, &Default::default()).reshape([1, 6, 5, 5]);
        let fbt = fb.clone().inner();
        let y = conv2d(xt, fbt, None, geo.options.clone());
        let prod = values(y * up.clone().inner());
        prod.iter().map(|&p| p as f64).sum()
    };
    let eps = 1e-2f32;
    for i in (0..xv.len()).step_by(7) {
        let mut plus = xv.clone();
        plus[i] += eps;
        let mut minus = xv.clone();
        minus[i] -= eps;
        let fd = (inner(&plus) - inner(&minus)) / (2.0 * eps as f64);
        assert!(
            (fd as f32 - dx[i]).abs() < 1e-2,
            "at {i}: fd {fd}, dx {}",
            dx[i]
        );
    }
}

/// Each rule's layer uses the feedback the rule defines: dx equals the transposed
/// convolution of δ with the expected B, built here by hand from W.
#[test]
fn conv_layers_use_the_rule_feedback() {
    for rule in [
        LearningRule::Bp,
        LearningRule::Fa,
        LearningRule::Usf,
        LearningRule::Frsf,
    ] {
        for geo in geometries() {
            let [c_in, c_out] = geo.channels;
            let layer = RuleConv2dConfig::new(geo.channels, [geo.kernel; 2])
                .with_stride(geo.options.stride)
                .with_padding(geo.options.padding)
                .with_dilation(geo.options.dilation)
                .with_groups(geo.options.groups)
                .with_rule(rule)
                .init::<B>(&device());
            let w = layer.weight.val();
            let fans = Fans::conv(w.dims());
            let expected_b = match rule {
                LearningRule::Bp => w.clone().detach(),
                LearningRule::Fa => layer.feedback.fixed().expect("B0"),
                LearningRule::Usf => w.clone().detach().sign() * fans.usf_scale(),
                _ => layer.feedback.fixed().expect("|B0|") * w.clone().detach().sign(),
            };
            let x = random([2, c_in, 6, 6]).require_grad();
            let y = layer.forward(x.clone());
            let up = random::<4>(y.dims());
            let (dx, dw) = conv_grads(&x, &w, y, &up);
            let y_ref = reference::feedback_conv2d(x.clone(), w.clone(), expected_b, geo.options);
            let (dx_ref, dw_ref) = conv_grads(&x, &w, y_ref, &up);
            assert_close(&dx, &dx_ref, 1e-4);
            assert_close(&dw, &dw_ref, 1e-4);
            assert_eq!(c_out, layer.weight.dims()[0]);
        }
    }
}

#[test]
fn sign_of_zero_is_zero() {
    let w = tensor(&[0.0, -2.0, 3.0], [3]);
    assert_eq!(values(w.sign()), vec![0.0, -1.0, 1.0]);
}
