//! Each rule and option against hand-computed values: a 2×2 convolution per rule, the uSF
//! scale of each initialisation, the input-gradient clamp, constrained weights, DFA on a
//! hand-built two-layer network, and the Hebbian update.

mod common;

use common::{B, Cpu, device, tensor, values};

use bio_rules::{
    Fans, Feedback, Init, LearningRule, RuleConv2d, RuleConv2dConfig, RuleHub, RuleLinear,
    RuleLinearConfig, hebbian,
};
use burn::module::Param;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, Tensor};

fn assert_close(got: &[f32], want: &[f32], tol: f32) {
    assert_eq!(got.len(), want.len(), "lengths differ: {got:?} vs {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol,
            "index {i}: got {g}, want {w} ({got:?})"
        );
    }
}

// ---- One 2×2 convolution, every rule ---------------------------------------------------
//
// x = 0..9 as [1, 1, 3, 3], W = [[1, -2], [0, 3]], stride 1, no padding, upstream ones
// [1, 1, 2, 2]. Every rule: dW[u][v] = Σ x[i+u][j+v] = [[8, 12], [20, 24]]. The input
// gradient is the "full" correlation of ones with B: each input pixel sums the taps of B
// that reach it.

const CONV_W: [f32; 4] = [1.0, -2.0, 0.0, 3.0];
const CONV_DW: [f32; 4] = [8.0, 12.0, 20.0, 24.0];

fn conv_layer(rule: LearningRule, fixed: Option<&[f32]>, init: Init) -> RuleConv2d<B> {
    let fans = Fans::conv([1, 1, 2, 2]);
    let fixed = fixed.map(|v| tensor(v, [1, 1, 2, 2]));
    RuleConv2d {
        weight: Param::from_tensor(tensor(&CONV_W, [1, 1, 2, 2])),
        feedback: Feedback::from_fixed(rule, fixed, fans, init).expect("feedback"),
        initial_norm: None,
        options: ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
        clamp_input_grad: false,
    }
}

fn conv_grads(layer: &RuleConv2d<B>) -> (Vec<f32>, Vec<f32>) {
    let x = tensor(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [1, 1, 3, 3]).require_grad();
    let grads = layer.forward(x.clone()).sum().backward();
    let dx = values(x.grad(&grads).expect("dx"));
    let dw = values(layer.weight.val().grad(&grads).expect("dW"));
    (dx, dw)
}

/// dx of a 2×2 kernel `b` under an all-ones upstream gradient on a 3×3 input.
fn full_correlation_of_ones(b: [f32; 4]) -> [f32; 9] {
    let [a, c, d, e] = b;
    [a, a + c, c, a + d, a + c + d + e, c + e, d, d + e, e]
}

#[test]
fn conv_bp_sends_the_weight() {
    let (dx, dw) = conv_grads(&conv_layer(LearningRule::Bp, None, Init::XavierUniform));
    assert_close(&dx, &[1.0, -1.0, -2.0, 1.0, 2.0, 1.0, 0.0, 3.0, 3.0], 1e-6);
    assert_close(&dw, &CONV_DW, 1e-6);
}

#[test]
fn conv_fa_sends_its_fixed_feedback() {
    let b0 = [0.5, 1.0, -1.0, 2.0];
    let (dx, dw) = conv_grads(&conv_layer(
        LearningRule::Fa,
        Some(&b0),
        Init::XavierUniform,
    ));
    assert_close(&dx, &[0.5, 1.5, 1.0, -0.5, 2.5, 3.0, -1.0, 1.0, 2.0], 1e-6);
    assert_close(&dx, &full_correlation_of_ones(b0), 1e-6);
    assert_close(&dw, &CONV_DW, 1e-6);
}

#[test]
fn with_backprop_sends_the_true_gradient_then_restores_the_rule() {
    let hub = RuleHub::new(1);
    let b0 = [0.5, 1.0, -1.0, 2.0];
    let mut layer = conv_layer(LearningRule::Fa, Some(&b0), Init::XavierUniform);
    layer.feedback = layer.feedback.with_hub(hub);
    let bp = [1.0, -1.0, -2.0, 1.0, 2.0, 1.0, 0.0, 3.0, 3.0];
    let (dx, dw) = hub.with_backprop(|| conv_grads(&layer));
    assert_close(&dx, &bp, 1e-6);
    assert_close(&dw, &CONV_DW, 1e-6);
    assert!(!hub.is_backprop());
    // Only the forward pass inside: the backward pass after it is still exact.
    let x = tensor(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [1, 1, 3, 3]).require_grad();
    let y = hub.with_backprop(|| layer.forward(x.clone()));
    let grads = y.sum().backward();
    assert_close(&values(x.grad(&grads).expect("dx")), &bp, 1e-6);
    let (dx, _) = conv_grads(&layer);
    assert_close(&dx, &full_correlation_of_ones(b0), 1e-6);
    let panicked = std::panic::catch_unwind(|| hub.with_backprop(|| panic!("inside")));
    assert!(panicked.is_err() && !hub.is_backprop());
}

#[test]
fn conv_usf_sends_scaled_signs_with_zero_for_zero_weights() {
    // fan_in = fan_out = 4: s = sqrt(2 / 8) = 0.5; sign(W) = [[1, -1], [0, 1]].
    let (dx, dw) = conv_grads(&conv_layer(LearningRule::Usf, None, Init::XavierUniform));
    assert_close(&dx, &[0.5, 0.0, -0.5, 0.5, 0.5, 0.0, 0.0, 0.5, 0.5], 1e-6);
    assert_close(&dw, &CONV_DW, 1e-6);
}

#[test]
fn conv_frsf_sends_fixed_magnitudes_with_the_signs_of_w() {
    // |B0| = [[0.5, 1], [1, 2]] ∘ sign(W) = [[0.5, -1], [0, 2]].
    let magnitudes = [0.5, 1.0, 1.0, 2.0];
    let layer = conv_layer(LearningRule::Frsf, Some(&magnitudes), Init::XavierUniform);
    let (dx, dw) = conv_grads(&layer);
    assert_close(&dx, &full_correlation_of_ones([0.5, -1.0, 0.0, 2.0]), 1e-6);
    assert_close(&dw, &CONV_DW, 1e-6);
}

#[test]
fn conv_brsf_keeps_the_signs_of_w_within_the_xavier_bound() {
    let layer = conv_layer(LearningRule::Brsf, None, Init::XavierUniform);
    let bound = Fans::conv([1, 1, 2, 2]).xavier_bound() as f32; // sqrt(6 / 8)
    for _ in 0..5 {
        let (dx, dw) = conv_grads(&layer);
        // The corners of dx are single taps of B: B[0][0] > 0, B[0][1] < 0, B[1][0] = 0.
        assert!(dx[0] > 0.0 && dx[0] <= bound, "{dx:?}");
        assert!(dx[2] < 0.0 && dx[2] >= -bound, "{dx:?}");
        assert_eq!(dx[6], 0.0, "sign(0) = 0 gives a zero feedback entry");
        assert!(dx[8] > 0.0 && dx[8] <= bound);
        assert_close(&dw, &CONV_DW, 1e-6);
    }
}

#[test]
fn usf_scale_is_the_standard_deviation_of_the_initialisation() {
    let fans = Fans::linear(2, 2);
    // Xavier: sqrt(2 / 4); biotorch's "kaiming" (PyTorch's default): 1 / sqrt(3 · 2);
    // He: sqrt(2 / 2).
    assert!((Init::XavierUniform.usf_scale(fans) - 0.5f64.sqrt()).abs() < 1e-12);
    assert!((Init::TorchDefault.usf_scale(fans) - 1.0 / 6f64.sqrt()).abs() < 1e-12);
    assert!((Init::KaimingUniform.usf_scale(fans) - 1.0).abs() < 1e-12);
    // The layer uses the scale of its feedback initialisation: conv 2×2, fan_in 4 gives
    // 1 / sqrt(12) under TorchDefault.
    let (dx, _) = conv_grads(&conv_layer(LearningRule::Usf, None, Init::TorchDefault));
    let s = 1.0 / 12f32.sqrt();
    assert_close(&dx, &full_correlation_of_ones([s, -s, 0.0, s]), 1e-6);
}

// ---- Options ---------------------------------------------------------------------------

/// The PITFALLS linear layer (PyTorch W = [[1, 2], [3, 4]], stored transposed by Burn).
fn pitfalls_linear(clamp: bool, initial_norm: Option<f32>) -> RuleLinear<B> {
    let feedback =
        Feedback::from_fixed(LearningRule::Bp, None, Fans::linear(2, 2), Init::default())
            .expect("feedback");
    RuleLinear {
        weight: Param::from_tensor(tensor(&[1.0, 3.0, 2.0, 4.0], [2, 2])),
        bias: None,
        feedback,
        initial_norm: initial_norm
            .map(|n| Param::from_tensor(tensor(&[n], [1])).set_require_grad(false)),
        clamp_input_grad: clamp,
    }
}

fn linear_grads(layer: &RuleLinear<B>, x: [f32; 2], upstream: [f32; 2]) -> [Vec<f32>; 3] {
    let x = tensor(&x, [1, 2]).require_grad();
    let y = layer.forward(x.clone());
    let out = values(y.clone());
    let grads = (y * tensor(&upstream, [1, 2])).sum().backward();
    let dx = values(x.grad(&grads).expect("dx"));
    let dw = values(layer.weight.val().grad(&grads).expect("dW"));
    [out, dx, dw]
}

#[test]
fn clamp_limits_the_input_gradient_but_not_the_weight_gradient() {
    let plain = linear_grads(&pitfalls_linear(false, None), [3.0, 3.0], [1.0, 0.0]);
    assert_close(&plain[1], &[1.0, 2.0], 1e-6);
    let clamped = linear_grads(&pitfalls_linear(true, None), [3.0, 3.0], [1.0, 0.0]);
    assert_close(&clamped[1], &[1.0, 1.0], 1e-6);
    let negative = linear_grads(&pitfalls_linear(true, None), [3.0, 3.0], [-1.0, 0.0]);
    assert_close(&negative[1], &[-1.0, -1.0], 1e-6);
    // dW = x δᵀ = [[3, 0], [3, 0]] in Burn's layout, beyond [-1, 1] and untouched.
    assert_close(&clamped[2], &[3.0, 0.0, 3.0, 0.0], 1e-6);
}

#[test]
fn clamp_on_a_convolution() {
    // BP's dx [1, -1, -2, 1, 2, 1, 0, 3, 3] clamped to [-1, 1]; dW untouched.
    let mut layer = conv_layer(LearningRule::Bp, None, Init::XavierUniform);
    layer.clamp_input_grad = true;
    let (dx, dw) = conv_grads(&layer);
    assert_close(&dx, &[1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 1.0], 1e-6);
    assert_close(&dw, &CONV_DW, 1e-6);
}

#[test]
fn constrained_weights_are_rescaled_to_their_initial_norm() {
    // ‖W‖ = sqrt(30). Doubling the stored weight changes nothing the layer computes.
    let norm = 30f32.sqrt();
    let base = linear_grads(&pitfalls_linear(false, Some(norm)), [1.0, 1.0], [1.0, 0.0]);
    let mut grown = pitfalls_linear(false, Some(norm));
    grown.weight = Param::from_tensor(tensor(&[2.0, 6.0, 4.0, 8.0], [2, 2]));
    let doubled = linear_grads(&grown, [1.0, 1.0], [1.0, 0.0]);
    assert_close(&base[0], &[3.0, 7.0], 1e-5); // y = x · W
    assert_close(&doubled[0], &[3.0, 7.0], 1e-5);
    assert_close(&doubled[1], &[1.0, 2.0], 1e-5); // dx through the rescaled weight
    // The gradient of the rescaled weight reaches the stored weight unchanged.
    assert_close(&doubled[2], &[1.0, 0.0, 1.0, 0.0], 1e-6);
}

#[test]
fn constrain_option_rescales_a_grown_weight() {
    let layer = RuleConv2dConfig::new([2, 3], [3, 3])
        .with_rule(LearningRule::Usf)
        .with_constrain_weights(true)
        .init::<B>(&device());
    let norm0 = values(layer.initial_norm.as_ref().expect("norm").val())[0];
    let stored = values(layer.weight.val());
    let stored_norm = stored.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm0 - stored_norm).abs() < 1e-5);
    let mut layer = layer;
    layer.weight = Param::from_tensor((layer.weight.val() * 3.0).detach());
    let used = values(layer.weight());
    let used_norm = used.iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((used_norm - norm0).abs() < 1e-4, "{used_norm} vs {norm0}");
    assert_eq!(bio_rules::ParamCounts::of(&layer).trained, 2 * 3 * 9);
}

// ---- DFA -------------------------------------------------------------------------------

/// A linear layer without bias with the given weight (Burn's `[d_in, d_out]` layout).
fn linear_with(weight: &[f32], shape: [usize; 2], feedback: Feedback<B, 2>) -> RuleLinear<B> {
    RuleLinear {
        weight: Param::from_tensor(tensor(weight, shape)),
        bias: None,
        feedback,
        initial_norm: None,
        clamp_input_grad: false,
    }
}

fn dfa_feedback(hub: RuleHub, projection: &[f32], shape: [usize; 2]) -> Feedback<B, 2> {
    let fans = Fans::linear(shape[1], shape[0]);
    Feedback::from_fixed(
        LearningRule::Dfa,
        Some(tensor(projection, shape)),
        fans,
        Init::default(),
    )
    .expect("feedback")
    .with_hub(hub)
}

/// x = [1, 2] → A (DFA, 2→3) → h → B (DFA, 3→2) → logits → tap; loss = <logits, [1, -1]>,
/// so e = [1, -1].
///
/// - h = x·W_A = [1, 2, 1]; logits = h·W_B = [2, 3].
/// - B sends e·P_B = [1, 1, 4] to h (instead of W_B's [1, -1, 0]); dW_B = hᵀe.
/// - A's weight learns from that: dW_A = xᵀ[1, 1, 4]; A sends e·P_A = [0.5, 1] to x.
#[test]
fn dfa_sends_the_output_error_through_fixed_projections() {
    let hub = RuleHub::new(2);
    let a = linear_with(
        &[1.0, 0.0, -1.0, 0.0, 1.0, 1.0],
        [2, 3],
        dfa_feedback(hub, &[1.0, 0.0, 0.5, -1.0], [2, 2]),
    );
    let b = linear_with(
        &[1.0, 0.0, 0.0, 1.0, 1.0, 1.0],
        [3, 2],
        dfa_feedback(hub, &[1.0, 2.0, 3.0, 0.0, 1.0, -1.0], [2, 3]),
    );
    let x = tensor(&[1.0, 2.0], [1, 2]).require_grad();
    let logits = hub.tap(b.forward(a.forward(x.clone())));
    assert_close(&values(logits.clone()), &[2.0, 3.0], 1e-6);
    let grads = (logits * tensor(&[1.0, -1.0], [1, 2])).sum().backward();
    assert_close(&values(x.grad(&grads).expect("dx")), &[0.5, 1.0], 1e-6);
    let dw_a = values(a.weight.val().grad(&grads).expect("dW_A"));
    assert_close(&dw_a, &[1.0, 1.0, 4.0, 2.0, 2.0, 8.0], 1e-6);
    let dw_b = values(b.weight.val().grad(&grads).expect("dW_B"));
    assert_close(&dw_b, &[1.0, -1.0, 2.0, -2.0, 1.0, -1.0], 1e-6);
    let e = hub.last_error::<Cpu>().expect("stored error");
    assert_close(&values(e), &[1.0, -1.0], 1e-6);
}

/// On depthwise convolutions (stride 2 with padding; dilation 2; stride 2 without padding,
/// where the last row and column are never read), DFA's input gradient is the transposed
/// convolution (one group) of the output error broadcast over the output pixels, computed
/// here by Burn's autodiff through a plain convolution.
#[test]
fn dfa_conv_projects_the_error_over_every_pixel() {
    // (stride, padding, dilation, input size)
    for (stride, padding, dilation, size) in [(2, 1, 1, 5), (1, 2, 2, 6), (2, 0, 1, 6)] {
        let hub = RuleHub::new(3);
        let layer = RuleConv2dConfig::new([4, 4], [3, 3])
            .with_stride([stride, stride])
            .with_padding([padding, padding])
            .with_dilation([dilation, dilation])
            .with_groups(4)
            .with_rule(LearningRule::Dfa)
            .init_with_hub::<B>(hub, &device());
        let projection = layer.feedback.fixed().expect("projection");
        assert_eq!(projection.dims(), [3, 4, 3, 3]);
        let normal = Distribution::Normal(0.0, 1.0);
        let x = Tensor::<B, 4>::random([2, 4, size, size], normal, &device()).require_grad();
        let y = layer.forward(x.clone());
        let [_, _, h_out, w_out] = y.dims();
        let head = Tensor::<B, 2>::random([4, 3], normal, &device());
        let logits = hub.tap(y.mean_dims(&[2, 3]).reshape([2, 4]).matmul(head));
        let upstream = Tensor::<B, 2>::random([2, 3], normal, &device());
        let grads = (logits * upstream.clone()).sum().backward();
        let dx = values(x.grad(&grads).expect("dx"));

        // Reference: <conv(x, P), e broadcast> differentiated in x.
        let x_ref = x.clone().detach().require_grad();
        let options = ConvOptions::new(
            [stride, stride],
            [padding, padding],
            [dilation, dilation],
            1,
        );
        let z = conv2d(x_ref.clone(), projection.detach(), None, options);
        let spread = upstream.reshape([2, 3, 1, 1]).expand([2, 3, h_out, w_out]);
        let g = (z * spread).sum().backward();
        assert_close(&dx, &values(x_ref.grad(&g).expect("dx ref")), 1e-4);
    }
}

/// Two forward passes before one backward pass: each DFA layer reads the error of its own
/// pass. x = [1, 0] or [0, 1] through a 2→2 DFA layer with P = [[1, 2], [3, 4]] and the
/// identity as weight; losses <logits, u> with u = [1, 0] and [0, 1]: dx = u·P.
#[test]
fn dfa_reads_the_error_of_its_own_forward_pass() {
    let hub = RuleHub::new(2);
    let layer = linear_with(
        &[1.0, 0.0, 0.0, 1.0],
        [2, 2],
        dfa_feedback(hub, &[1.0, 2.0, 3.0, 4.0], [2, 2]),
    );
    let x1 = tensor(&[1.0, 0.0], [1, 2]).require_grad();
    let x2 = tensor(&[0.0, 1.0], [1, 2]).require_grad();
    let first = hub.tap(layer.forward(x1.clone())) * tensor(&[1.0, 0.0], [1, 2]);
    let second = hub.tap(layer.forward(x2.clone())) * tensor(&[0.0, 1.0], [1, 2]);
    let grads = (first.sum() + second.sum()).backward();
    assert_close(&values(x1.grad(&grads).expect("dx1")), &[1.0, 2.0], 1e-6);
    assert_close(&values(x2.grad(&grads).expect("dx2")), &[3.0, 4.0], 1e-6);
}

/// A forward pass that skips the tap finds no error, even though an earlier pass left one.
#[test]
#[should_panic(expected = "no output error for its forward pass")]
fn dfa_never_reads_a_stale_error() {
    let hub = RuleHub::new(2);
    let layer = RuleLinearConfig::new(2, 2)
        .with_rule(LearningRule::Dfa)
        .init_with_hub::<B>(hub, &device());
    let x = tensor(&[1.0, 2.0], [1, 2]).require_grad();
    let _ = hub.tap(layer.forward(x.clone())).sum().backward();
    assert!(hub.last_error::<Cpu>().is_some());
    let _ = layer.forward(x).sum().backward();
}

#[test]
#[should_panic(expected = "RuleHub::tap")]
fn dfa_without_the_tap_says_how_to_wire_it() {
    let hub = RuleHub::new(2);
    let layer = RuleLinearConfig::new(2, 2)
        .with_rule(LearningRule::Dfa)
        .init_with_hub::<B>(hub, &device());
    let x = tensor(&[1.0, 2.0], [1, 2]).require_grad();
    let _ = layer.forward(x).sum().backward();
}

// ---- Hebbian ---------------------------------------------------------------------------

/// One 2×2 patch x = [[3, 0], [0, 4]] (norm 5, x̂ = [0.6, 0, 0, 0.8]) and one filter
/// W = [[1, 0], [0, 0]]: u = 0.6, ΔW = u·x̂ - u²·W = [0, 0, 0, 0.48].
#[test]
fn hebbian_update_of_a_single_patch() {
    let x = tensor(&[3.0, 0.0, 0.0, 4.0], [1, 1, 2, 2]);
    let w = tensor(&[1.0, 0.0, 0.0, 0.0], [1, 1, 2, 2]);
    let options = ConvOptions::new([1, 1], [0, 0], [1, 1], 1);
    let dw = hebbian::conv_update(x.clone(), w.clone(), options.clone());
    assert_close(&values(dw), &[0.0, 0.0, 0.0, 0.48], 1e-6);

    // As a layer: the weight's gradient is -ΔW, the input's is zero.
    let layer = RuleConv2d {
        weight: Param::from_tensor(w),
        feedback: Feedback::from_fixed(
            LearningRule::Hebbian,
            None,
            Fans::conv([1, 1, 2, 2]),
            Init::default(),
        )
        .expect("feedback"),
        initial_norm: None,
        options,
        clamp_input_grad: false,
    };
    let x = x.require_grad();
    let grads = (layer.forward(x.clone()) * 7.0).sum().backward();
    let g = values(layer.weight.val().grad(&grads).expect("dW"));
    assert_close(&g, &[0.0, 0.0, 0.0, -0.48], 1e-6);
    assert_close(&values(x.grad(&grads).expect("dx")), &[0.0; 4], 0.0);
}

/// The update of a layer computed by explicit loops over its patches.
fn explicit_hebbian(
    x: &Tensor<Cpu, 4>,
    w: &Tensor<Cpu, 4>,
    stride: usize,
    padding: usize,
    groups: usize,
) -> Vec<f32> {
    let [n, c_in, h, wd] = x.dims();
    let [c_out, per_group, kh, kw] = w.dims();
    let (xs, ws) = (values(x.clone()), values(w.clone()));
    let ho = (h + 2 * padding - kh) / stride + 1;
    let wo = (wd + 2 * padding - kw) / stride + 1;
    let filter = per_group * kh * kw;
    let mut want = vec![0f64; c_out * filter];
    for o in 0..c_out {
        let group = o / (c_out / groups);
        let w_o = &ws[o * filter..(o + 1) * filter];
        for (s, i, j) in
            (0..n).flat_map(|s| (0..ho).flat_map(move |i| (0..wo).map(move |j| (s, i, j))))
        {
            // The patch, in the order of W[o]: channel, row, column.
            let mut patch = vec![0f64; filter];
            for (c, a, b) in (0..per_group)
                .flat_map(|c| (0..kh).flat_map(move |a| (0..kw).map(move |b| (c, a, b))))
            {
                let r = (i * stride + a) as isize - padding as isize;
                let q = (j * stride + b) as isize - padding as isize;
                if r >= 0 && q >= 0 && (r as usize) < h && (q as usize) < wd {
                    let ch = group * per_group + c;
                    let idx = ((s * c_in + ch) * h + r as usize) * wd + q as usize;
                    patch[(c * kh + a) * kw + b] = xs[idx] as f64;
                }
            }
            let norm = patch.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-6);
            let unit: Vec<f64> = patch.iter().map(|v| v / norm).collect();
            let u: f64 = unit.iter().zip(w_o).map(|(a, b)| a * *b as f64).sum();
            for k in 0..filter {
                want[o * filter + k] += u * (unit[k] - u * w_o[k] as f64);
            }
        }
    }
    let m = (n * ho * wo) as f64;
    want.iter().map(|v| (v / m) as f32).collect()
}

/// The update against patches gathered by explicit loops, on layers whose axes all differ
/// (2 groups, 4 inputs, 6 outputs, a 2×3 kernel, stride 2, padding 1: any mix-up of axes
/// changes the result), and on the pointwise and depthwise layers that take the fast
/// weight-gradient paths.
#[test]
fn hebbian_update_matches_explicit_patches() {
    // (input shape, weight shape, stride, padding, groups)
    let cases = [
        ([2, 4, 5, 6], [6, 2, 2, 3], 2, 1, 2),
        ([2, 3, 4, 5], [5, 3, 1, 1], 1, 0, 1),
        ([2, 4, 5, 5], [4, 1, 3, 3], 1, 1, 4),
        ([2, 4, 5, 5], [4, 1, 3, 3], 2, 1, 4),
    ];
    let device = Default::default();
    for (x_shape, w_shape, stride, padding, groups) in cases {
        let x = Tensor::<Cpu, 4>::random(x_shape, Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<Cpu, 4>::random(w_shape, Distribution::Normal(0.0, 0.5), &device);
        let options = ConvOptions::new([stride; 2], [padding; 2], [1, 1], groups);
        let got = values(hebbian::conv_update(x.clone(), w.clone(), options));
        let want = explicit_hebbian(&x, &w, stride, padding, groups);
        assert_close(&got, &want, 1e-4);
    }
}

/// Oja's decay bounds the filters: repeated updates on one patch turn the filter towards
/// the patch direction with unit norm.
#[test]
fn hebbian_updates_converge_to_the_unit_patch_direction() {
    let x = Tensor::<Cpu, 2>::from_floats([[3.0, 4.0]], &Default::default());
    let mut w = Tensor::<Cpu, 2>::from_floats([[0.2], [-0.1]], &Default::default());
    for _ in 0..200 {
        w = w.clone() + hebbian::linear_update(x.clone(), w) * 0.5;
    }
    assert_close(&values(w), &[0.6, 0.8], 1e-4);
}
