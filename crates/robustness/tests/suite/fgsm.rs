use crate::common::*;
use robustness::{Attack, Fgsm, RobustnessError};

/// Three classes, four features, hand-set so that the gradient's signs are known.
const W: [f32; 12] = [
    1.0, -1.0, -2.0, 2.0, // class 0
    0.0, 1.0, 1.0, -1.0, // class 1
    -1.0, 0.0, 1.0, -1.0, // class 2
];

/// For `logits = W x`, `∂CE/∂x_j = Σ_k W_kj (softmax(W x)_k − [k = y])`.
fn ce_gradient(x: &[f32], label: usize) -> Vec<f64> {
    let p = softmax(&linear_host(&W, 3, x));
    (0..4)
        .map(|j| {
            (0..3)
                .map(|k| f64::from(W[k * 4 + j]) * (p[k] - f64::from(u8::from(k == label))))
                .sum()
        })
        .collect()
}

/// `clamp(x + ε sign(g), 0, 1)`, computed on the host.
fn expected(x: &[f32], label: usize, epsilon: f32) -> Vec<f32> {
    x.iter()
        .zip(ce_gradient(x, label))
        .map(|(&v, g)| (v + epsilon * g.signum() as f32).clamp(0.0, 1.0))
        .collect()
}

#[test]
fn matches_the_hand_computed_step() {
    // Label 0: g = (−(1−p0) − p2, (1−p0) + p1, 3(1−p0), −3(1−p0)), signs (−, +, +, −).
    // x_2 = 0.98 goes up to 1 and x_3 = 0.01 down to 0: both clamped.
    let x = [0.2, 0.5, 0.98, 0.01, 0.6, 0.4, 0.3, 0.7];
    let model = linear(&W, 3);
    let adversarial = Fgsm::new(0.05)
        .perturb(
            &model,
            images(&x, [2, 1, 2, 2]),
            labels(&[0, 2]),
            &mut rng(0),
        )
        .expect("attack");
    let adversarial = values(adversarial);
    let first = [0.15, 0.55, 1.0, 0.0];
    assert!(
        max_abs_diff(&adversarial[..4], &first) < 1e-6,
        "{adversarial:?}"
    );
    let second = expected(&x[4..], 2, 0.05);
    assert!(
        max_abs_diff(&adversarial[4..], &second) < 1e-6,
        "{adversarial:?}"
    );
    assert_eq!(expected(&x[..4], 0, 0.05), first);
}

#[test]
fn moves_every_unclamped_pixel_by_exactly_epsilon() {
    let mut rng = rng(3);
    let weights = uniform(&mut rng, 5 * 48, -1.0, 1.0);
    let x = uniform(&mut rng, 4 * 48, 0.1, 0.9);
    let model = linear(&weights, 5);
    let epsilon = 0.03;
    let adversarial = Fgsm::new(epsilon)
        .perturb(
            &model,
            images(&x, [4, 3, 4, 4]),
            labels(&[0, 1, 2, 4]),
            &mut rng,
        )
        .expect("attack");
    for (a, c) in values(adversarial).iter().zip(&x) {
        assert!(((a - c).abs() - epsilon).abs() < 1e-6, "{a} vs {c}");
    }
}

#[test]
fn clamps_at_zero_and_one() {
    let model = linear(&W, 3);
    for fill in [0.0, 1.0] {
        let x = [fill; 4];
        let adversarial = Fgsm::new(0.1)
            .perturb(&model, images(&x, [1, 1, 2, 2]), labels(&[0]), &mut rng(0))
            .expect("attack");
        let adversarial = values(adversarial);
        assert_bounded(&adversarial, &x, 0.1);
        assert!(max_abs_diff(&adversarial, &expected(&x, 0, 0.1)) < 1e-6);
        // Two pixels are pushed outward and stay at the bound, two move inward by ε.
        let unchanged = adversarial.iter().filter(|&&v| v == fill).count();
        assert_eq!(unchanged, 2, "{adversarial:?}");
    }
}

#[test]
fn zero_epsilon_changes_nothing() {
    let x = [0.2, 0.5, 0.98, 0.01];
    let adversarial = Fgsm::new(0.0)
        .perturb(
            &linear(&W, 3),
            images(&x, [1, 1, 2, 2]),
            labels(&[1]),
            &mut rng(0),
        )
        .expect("attack");
    assert_eq!(values(adversarial), x);
}

#[test]
fn bad_inputs_are_errors() {
    let model = linear(&W, 3);
    let x = images(&[0.5; 4], [1, 1, 2, 2]);
    let run = |attack: Fgsm, x, y| attack.perturb(&model, x, y, &mut rng(0));
    let negative = run(Fgsm::new(-0.1), x.clone(), labels(&[0]));
    assert!(matches!(
        negative,
        Err(RobustnessError::InvalidParameter {
            parameter: "epsilon",
            ..
        })
    ));
    let nan = run(Fgsm::new(f32::NAN), x.clone(), labels(&[0]));
    assert!(matches!(nan, Err(RobustnessError::InvalidParameter { .. })));
    let count = run(Fgsm::new(0.1), x.clone(), labels(&[0, 1]));
    assert!(matches!(
        count,
        Err(RobustnessError::LabelCount {
            images: 1,
            labels: 2
        })
    ));
    let empty = run(Fgsm::new(0.1), images(&[], [0, 1, 2, 2]), labels(&[]));
    assert!(matches!(empty, Err(RobustnessError::EmptyInput)));
    let class = run(Fgsm::new(0.1), x.clone(), labels(&[3]));
    assert!(matches!(
        class,
        Err(RobustnessError::LabelOutOfRange {
            label: 3,
            classes: 3
        })
    ));
    let normalised = run(
        Fgsm::new(0.1),
        images(&[-1.2, 0.0, 0.5, 1.0], [1, 1, 2, 2]),
        labels(&[0]),
    );
    assert!(matches!(
        normalised,
        Err(RobustnessError::PixelRange { .. })
    ));
}

#[test]
fn a_model_without_input_gradient_is_an_error() {
    let model = opaque(linear(&W, 3));
    let result = Fgsm::new(0.1).perturb(
        &model,
        images(&[0.5; 4], [1, 1, 2, 2]),
        labels(&[0]),
        &mut rng(0),
    );
    assert!(matches!(
        result,
        Err(RobustnessError::NoInputGradient { attack: "FGSM" })
    ));
}
