//! Alignment diagnostics against hand-computed angles.

mod common;

use common::{B, tensor};

use bio_rules::{AlignmentProbe, Fans, Feedback, Init, LearningRule, RuleHub, RuleLinear};
use burn::module::{Module, Param};
use burn::tensor::Tensor;

#[derive(Module, Debug)]
struct TwoLayers<B: burn::tensor::backend::Backend> {
    hidden: RuleLinear<B>,
    out: RuleLinear<B>,
}

fn linear(
    hub: RuleHub,
    weight: &[f32],
    rule: LearningRule,
    fixed: Option<&[f32]>,
) -> RuleLinear<B> {
    let fixed = fixed.map(|v| tensor(v, [2, 2]));
    let feedback = Feedback::from_fixed(rule, fixed, Fans::linear(2, 2), Init::default())
        .expect("feedback")
        .with_hub(hub);
    RuleLinear {
        weight: Param::from_tensor(tensor(weight, [2, 2])),
        bias: None,
        feedback,
        initial_norm: None,
        clamp_input_grad: false,
    }
}

/// hidden: the PITFALLS FA layer (PyTorch W = [[1, 2], [3, 4]], B = [[0.5, -1], [2, 0]]);
/// out: BP with the identity, and loss = <logits, [1, 0]>, so the hidden layer's output
/// gradient is [1, 0] in both passes. BP sends [1, 2], FA sends [0.5, -1]:
/// cos = -1.5 / (sqrt(1.25) · sqrt(5)) = -0.6, an angle of 126.87°. Between W and B:
/// cos = 4.5 / (sqrt(30) · sqrt(5.25)); ‖B‖ / ‖W‖ = sqrt(5.25 / 30).
#[test]
fn probe_measures_gradient_and_weight_angles() {
    let hub = RuleHub::new(2);
    // Burn stores the transposes: W = [[1, 3], [2, 4]], B = [[0.5, 2], [-1, 0]].
    let model = TwoLayers {
        hidden: linear(
            hub,
            &[1.0, 3.0, 2.0, 4.0],
            LearningRule::Fa,
            Some(&[0.5, 2.0, -1.0, 0.0]),
        ),
        out: linear(hub, &[1.0, 0.0, 0.0, 1.0], LearningRule::Bp, None),
    };
    let step = || {
        let x = tensor(&[1.0, 1.0], [1, 2]).require_grad();
        let logits = hub.tap(model.out.forward(model.hidden.forward(x)));
        (logits * tensor(&[1.0, 0.0], [1, 2])).sum().backward()
    };
    let probe = AlignmentProbe::new(hub);
    let (_, backprop) = probe.backprop_pass(step);
    assert!(!hub.is_backprop() && !hub.is_recording());
    let (_, rules) = probe.rule_pass(backprop, step);
    assert_eq!(rules.len(), 2);
    let layers = AlignmentProbe::compare::<B, _>(&model, &rules);
    let names: Vec<&str> = layers.iter().map(|l| l.layer.as_str()).collect();
    assert_eq!(names, ["hidden", "out"]);

    let hidden = &layers[0];
    assert_eq!(hidden.rule, LearningRule::Fa);
    let angle = hidden.gradient_angle.expect("gradient angle");
    assert!(
        (angle - (-0.6f64).acos().to_degrees()).abs() < 1e-3,
        "{angle}"
    );
    let weight_cos = 4.5 / (30f64.sqrt() * 5.25f64.sqrt());
    let weight_angle = hidden.weight_angle.expect("weight angle");
    assert!((weight_angle - weight_cos.acos().to_degrees()).abs() < 1e-3);
    let ratio = hidden.norm_ratio.expect("ratio");
    assert!((ratio - (5.25f64 / 30.0).sqrt()).abs() < 1e-5);

    let out = &layers[1];
    assert!(
        out.gradient_angle.expect("angle") < 1e-2,
        "BP agrees with itself"
    );
    assert!(out.weight_angle.expect("angle") < 1e-2);
    assert!((out.norm_ratio.expect("ratio") - 1.0).abs() < 1e-6);

    // After the probe the hub is back to the rules and records nothing.
    assert!(!hub.is_backprop() && !hub.is_recording());
}

/// A pass that panics leaves the hub in its normal state.
#[test]
fn a_panicking_pass_leaves_the_hub_as_it_was() {
    let hub = RuleHub::new(2);
    let probe = AlignmentProbe::new(hub);
    let caught = std::panic::catch_unwind(|| {
        probe.backprop_pass(|| {
            assert!(hub.is_backprop() && hub.is_recording());
            panic!("a failing step")
        })
    });
    assert!(caught.is_err());
    assert!(!hub.is_backprop() && !hub.is_recording());
}

#[derive(Module, Debug)]
struct One<B: burn::tensor::backend::Backend> {
    layer: RuleLinear<B>,
}

/// At initialisation, with uniform W and uniform magnitudes drawn independently:
/// uSF's sign(W) is at acos(√3/2) = 30° from W; frSF's and brSF's |M|∘sign(W) at
/// acos(3/4) = 41.4°; FA's independent B0 at 90°; BP at 0°.
#[test]
fn weight_angles_at_initialisation_match_the_theory() {
    let expected = [
        (LearningRule::Bp, 0.0),
        (LearningRule::Fa, 90.0),
        (LearningRule::Usf, 30.0),
        (LearningRule::Brsf, 0.75f64.acos().to_degrees()),
        (LearningRule::Frsf, 0.75f64.acos().to_degrees()),
    ];
    for (rule, angle) in expected {
        let hub = RuleHub::new(10);
        let model = One {
            layer: bio_rules::RuleLinearConfig::new(256, 256)
                .with_rule(rule)
                .init_with_hub::<B>(hub, &Default::default()),
        };
        let x = Tensor::<B, 2>::ones([2, 256], &Default::default());
        let probe = AlignmentProbe::new(hub);
        let step = || hub.tap(model.layer.forward(x.clone())).sum().backward();
        let (_, layers) = probe.measure::<B, _, _>(&model, step);
        let got = layers[0].weight_angle.expect("weight angle");
        assert!((got - angle).abs() < 1.5, "{rule}: {got} vs {angle}");
    }
}
