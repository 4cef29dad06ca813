use crate::common::*;
use burn::tensor::Tensor;
use robustness::{Attack, OnePixel, RobustnessError, Square, accuracy};

/// Square with a small budget suited to 4×4 images.
fn small_square(epsilon: f32) -> Square {
    Square {
        epsilon,
        queries: 60,
        p_init: 0.3,
    }
}

#[test]
fn square_fools_the_brightness_model_with_forward_passes_only() {
    let (x, y) = left_right_data(6, 0.04, 1);
    let model = Counting::new(left_right);
    let attack = small_square(0.05);
    let adversarial = attack
        .perturb(&model, x.clone(), y.clone(), &mut rng(2))
        .expect("attack");
    assert!(
        model.calls.get() <= attack.queries,
        "{} calls",
        model.calls.get()
    );
    assert!(model.images.get() <= 6 * attack.queries);
    assert_bounded(&values(adversarial.clone()), &values(x), 0.05);
    assert_eq!(
        accuracy(&left_right, adversarial, y).expect("adversarial"),
        0.0
    );
}

#[test]
fn square_needs_no_gradient_and_repeats_under_a_seed() {
    let (x, y) = left_right_data(4, 0.04, 3);
    let run = |model: &dyn robustness::Classifier<B>, seed| {
        values(
            small_square(0.05)
                .perturb(model, x.clone(), y.clone(), &mut rng(seed))
                .expect("attack"),
        )
    };
    let differentiable = run(&left_right, 5);
    assert_eq!(run(&opaque(left_right), 5), differentiable);
    assert_ne!(run(&left_right, 6), differentiable);
}

#[test]
fn square_stops_when_every_image_is_fooled() {
    // Labels flipped on a wide gap: the ±ε stripes cannot make any image right, so the
    // starting query is the only one.
    let (x, y) = left_right_data(4, 0.3, 4);
    let flipped = labels(&[1, 0, 1, 0]);
    assert_eq!(values(y.float()), [0.0, 1.0, 0.0, 1.0]);
    let model = Counting::new(left_right);
    let adversarial = small_square(0.05)
        .perturb(&model, x.clone(), flipped, &mut rng(0))
        .expect("attack");
    assert_eq!(model.calls.get(), 1);
    assert_bounded(&values(adversarial), &values(x), 0.05);
}

#[test]
fn square_schedule_halves_p_as_in_the_paper() {
    let attack = Square {
        epsilon: 0.1,
        queries: 10_000,
        p_init: 0.8,
    };
    let cases = [
        (0, 0.8),
        (10, 0.8),
        (11, 0.4),
        (50, 0.4),
        (51, 0.2),
        (500, 0.1),
        (501, 0.05),
        (2000, 0.025),
        (4000, 0.0125),
        (8001, 0.8 / 512.0),
        (10_000, 0.8 / 512.0),
        (10_001, 0.8),
    ];
    for (iteration, p) in cases {
        assert!((attack.fraction(iteration) - p).abs() < 1e-7, "{iteration}");
    }
    // A budget of 1000 rescales iteration 2 to 20 of 10000.
    let short = Square {
        queries: 1000,
        ..attack
    };
    assert!((short.fraction(1) - 0.8).abs() < 1e-7 && (short.fraction(2) - 0.4).abs() < 1e-7);
}

#[test]
fn square_rejects_bad_parameters() {
    let (x, y) = left_right_data(2, 0.04, 0);
    let bad = [
        Square {
            queries: 0,
            ..Square::new(0.1)
        },
        Square {
            p_init: 0.0,
            ..Square::new(0.1)
        },
        Square {
            p_init: 1.5,
            ..Square::new(0.1)
        },
        Square::new(-0.1),
    ];
    for attack in bad {
        let result = attack.perturb(&left_right, x.clone(), y.clone(), &mut rng(0));
        assert!(
            matches!(result, Err(RobustnessError::InvalidParameter { .. })),
            "{attack:?}"
        );
    }
}

/// Two classes on `[n, 1, 4, 4]` images: class 1 once the pixel at row 2, column 3 exceeds
/// 0.25, `logits = (0.5, 2 · x[2, 3])`.
fn hotspot(x: Tensor<B, 4>) -> Tensor<B, 2> {
    let n = x.dims()[0];
    let spot = x
        .narrow(2, 2, 1)
        .narrow(3, 3, 1)
        .reshape([n, 1])
        .mul_scalar(2.0);
    Tensor::cat(
        vec![Tensor::ones([n, 1], &device()).mul_scalar(0.5), spot],
        1,
    )
}

/// Positions `(row, column)` of image `i` where any channel differs.
fn changed_positions(a: &[f32], b: &[f32], dims: [usize; 4], i: usize) -> Vec<(usize, usize)> {
    let [_, c, h, w] = dims;
    let base = i * c * h * w;
    let mut positions = Vec::new();
    for row in 0..h {
        for col in 0..w {
            let differs = (0..c).any(|ch| {
                let at = base + ch * h * w + row * w + col;
                a[at] != b[at]
            });
            if differs {
                positions.push((row, col));
            }
        }
    }
    positions
}

#[test]
fn one_pixel_finds_the_hot_spot() {
    let x = vec![0.2; 3 * 16];
    let y = [0, 0, 0];
    let model = Counting::new(hotspot);
    let attack = OnePixel {
        pixels: 1,
        population: 20,
        iterations: 30,
        weight: 0.5,
    };
    let adversarial = attack
        .perturb(&model, images(&x, [3, 1, 4, 4]), labels(&y), &mut rng(1))
        .expect("attack");
    assert!(model.calls.get() <= 1 + 3 * (1 + attack.iterations));
    let adversarial = values(adversarial);
    assert_eq!(
        predictions(&hotspot, images(&adversarial, [3, 1, 4, 4])),
        [1, 1, 1]
    );
    for i in 0..3 {
        assert_eq!(
            changed_positions(&adversarial, &x, [3, 1, 4, 4], i),
            [(2, 3)]
        );
    }
}

#[test]
fn one_pixel_changes_at_most_its_pixels() {
    let mut rng = rng(7);
    let weights = uniform(&mut rng, 5 * 48, -1.0, 1.0);
    let x = uniform(&mut rng, 4 * 48, 0.0, 1.0);
    let dims = [4, 3, 4, 4];
    let model = linear(&weights, 5);
    let y = predictions(&model, images(&x, dims));
    let y: Vec<i64> = y.iter().map(|&p| p as i64).collect();
    for pixels in [1, 2, 3] {
        let attack = OnePixel {
            pixels,
            population: 8,
            iterations: 4,
            weight: 0.5,
        };
        let adversarial = attack
            .perturb(
                &opaque(linear(&weights, 5)),
                images(&x, dims),
                labels(&y),
                &mut rng,
            )
            .expect("attack");
        let adversarial = values(adversarial);
        assert!(adversarial.iter().all(|v| (0.0..=1.0).contains(v)));
        for i in 0..4 {
            let changed = changed_positions(&adversarial, &x, dims, i);
            assert!(
                !changed.is_empty() && changed.len() <= pixels,
                "{changed:?}"
            );
        }
    }
}

#[test]
fn one_pixel_leaves_misclassified_images_alone() {
    let x = vec![0.2; 2 * 16];
    let model = Counting::new(hotspot);
    let attack = OnePixel {
        population: 8,
        iterations: 3,
        ..OnePixel::new(1)
    };
    let adversarial = attack
        .perturb(
            &model,
            images(&x, [2, 1, 4, 4]),
            labels(&[1, 1]),
            &mut rng(0),
        )
        .expect("attack");
    assert_eq!(values(adversarial), x);
    assert_eq!(model.calls.get(), 1);
    assert_eq!(Attack::<B>::epsilon(&attack), None);
    assert_eq!(Attack::<B>::with_epsilon(&attack, 0.3), attack);
}

#[test]
fn one_pixel_rejects_bad_parameters() {
    let (x, y) = left_right_data(2, 0.04, 0);
    let bad = [
        OnePixel {
            population: 3,
            ..OnePixel::new(1)
        },
        OnePixel::new(0),
        OnePixel {
            iterations: 0,
            ..OnePixel::new(1)
        },
        OnePixel {
            weight: -1.0,
            ..OnePixel::new(1)
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
