use crate::common::*;
use robustness::{Attack, Fgsm, Pgd, RobustnessError, Tpgd, accuracy};

/// A random linear model on `[n, 3, 4, 4]` images with 5 classes, and a batch of images
/// partly at the bounds 0 and 1.
fn setup(seed: u64) -> (Vec<f32>, Vec<f32>, Vec<i64>) {
    let mut rng = rng(seed);
    let weights = uniform(&mut rng, 5 * 48, -1.0, 1.0);
    let mut x = uniform(&mut rng, 6 * 48, 0.0, 1.0);
    for v in x.iter_mut().step_by(7) {
        *v = 0.0;
    }
    for v in x.iter_mut().skip(3).step_by(11) {
        *v = 1.0;
    }
    (weights, x, vec![0, 1, 2, 3, 4, 0])
}

/// Mean cross-entropy of the linear model, on the host.
fn mean_ce(weights: &[f32], x: &[f32], y: &[i64]) -> f64 {
    let ce: f64 = x
        .chunks(48)
        .zip(y)
        .map(|(image, &label)| cross_entropy(&linear_host(weights, 5, image), label as usize))
        .sum();
    ce / y.len() as f64
}

#[test]
fn pgd_stays_in_the_ball_and_raises_the_loss() {
    let (weights, x, y) = setup(1);
    let model = linear(&weights, 5);
    let epsilon = 8.0 / 255.0;
    let adversarial = Pgd::new(epsilon)
        .perturb(&model, images(&x, [6, 3, 4, 4]), labels(&y), &mut rng(2))
        .expect("attack");
    let adversarial = values(adversarial);
    assert_bounded(&adversarial, &x, epsilon);
    let (clean, attacked) = (
        mean_ce(&weights, &x, &y),
        mean_ce(&weights, &adversarial, &y),
    );
    assert!(attacked > clean + 0.1, "loss {clean} -> {attacked}");
    // Each image's loss rises, not only the mean.
    for i in 0..6 {
        let (c, a) = (&x[i * 48..(i + 1) * 48], &adversarial[i * 48..(i + 1) * 48]);
        let label = y[i] as usize;
        let before = cross_entropy(&linear_host(&weights, 5, c), label);
        let after = cross_entropy(&linear_host(&weights, 5, a), label);
        assert!(after > before, "image {i}: {before} -> {after}");
    }
}

#[test]
fn pgd_repeats_under_a_seed() {
    let (weights, x, y) = setup(4);
    let model = linear(&weights, 5);
    let attack = |seed| {
        let x = images(&x, [6, 3, 4, 4]);
        values(
            Pgd::new(0.03)
                .perturb(&model, x, labels(&y), &mut rng(seed))
                .expect("attack"),
        )
    };
    assert_eq!(attack(7), attack(7));
    assert_ne!(attack(7), attack(8));
}

#[test]
fn one_full_step_from_the_clean_image_is_fgsm() {
    let (weights, x, y) = setup(5);
    let model = linear(&weights, 5);
    let epsilon = 0.05;
    let pgd = Pgd {
        epsilon,
        step: epsilon,
        steps: 1,
        random_start: false,
    };
    let run = |attack: &dyn Attack<B>| {
        values(
            attack
                .perturb(&model, images(&x, [6, 3, 4, 4]), labels(&y), &mut rng(0))
                .expect("attack"),
        )
    };
    assert_eq!(run(&pgd), run(&Fgsm::new(epsilon)));
}

#[test]
fn pgd_fools_the_brightness_model() {
    let (x, y) = left_right_data(10, 0.04, 6);
    assert_eq!(
        accuracy(&left_right, x.clone(), y.clone()).expect("clean"),
        1.0
    );
    let adversarial = Pgd::new(0.05)
        .perturb(&left_right, x.clone(), y.clone(), &mut rng(1))
        .expect("attack");
    assert_bounded(&values(adversarial.clone()), &values(x.clone()), 0.05);
    assert_eq!(
        accuracy(&left_right, adversarial, y.clone()).expect("adversarial"),
        0.0
    );
    // Too small a ball cannot close the gap of 0.04: 0.01 on each side moves it by 0.02.
    let weak = Pgd::new(0.01)
        .perturb(&left_right, x, y.clone(), &mut rng(1))
        .expect("attack");
    assert_eq!(accuracy(&left_right, weak, y).expect("weak"), 1.0);
}

#[test]
fn pgd_rejects_bad_parameters() {
    let (x, y) = left_right_data(2, 0.04, 0);
    let bad = [
        Pgd {
            steps: 0,
            ..Pgd::new(0.1)
        },
        Pgd::new(-0.1),
        Pgd {
            step: f32::INFINITY,
            ..Pgd::new(0.1)
        },
    ];
    for attack in bad {
        let result = attack.perturb(&left_right, x.clone(), y.clone(), &mut rng(0));
        assert!(
            matches!(result, Err(RobustnessError::InvalidParameter { .. })),
            "{attack:?}"
        );
    }
}

#[test]
fn tpgd_raises_the_divergence_within_bounds() {
    let (weights, x, y) = setup(9);
    let model = linear(&weights, 5);
    let epsilon = 8.0 / 255.0;
    let adversarial = Tpgd::new(epsilon)
        .perturb(&model, images(&x, [6, 3, 4, 4]), labels(&y), &mut rng(3))
        .expect("attack");
    let adversarial = values(adversarial);
    assert_bounded(&adversarial, &x, epsilon);
    // Compared with a random ±ε corner of the ball, TPGD's point diverges more.
    let mut noise_rng = rng(10);
    let corner: Vec<f32> = x
        .iter()
        .map(|&v| {
            (v + if rand::Rng::random_bool(&mut noise_rng, 0.5) {
                epsilon
            } else {
                -epsilon
            })
            .clamp(0.0, 1.0)
        })
        .collect();
    for i in 0..6 {
        let range = i * 48..(i + 1) * 48;
        let clean = linear_host(&weights, 5, &x[range.clone()]);
        let attacked = kl(
            &clean,
            &linear_host(&weights, 5, &adversarial[range.clone()]),
        );
        let random = kl(&clean, &linear_host(&weights, 5, &corner[range]));
        assert!(
            attacked > 1e-3 && attacked > random,
            "image {i}: {attacked} vs {random}"
        );
    }
}

#[test]
fn tpgd_ignores_labels_and_repeats_under_a_seed() {
    let (weights, x, _) = setup(11);
    let model = linear(&weights, 5);
    let run = |y: &[i64], seed| {
        let attack = Tpgd::new(0.03);
        values(
            attack
                .perturb(&model, images(&x, [6, 3, 4, 4]), labels(y), &mut rng(seed))
                .expect("attack"),
        )
    };
    let first = run(&[0, 0, 0, 0, 0, 0], 1);
    assert_eq!(first, run(&[4, 3, 2, 1, 0, 4], 1));
    assert_ne!(first, run(&[0, 0, 0, 0, 0, 0], 2));
}
