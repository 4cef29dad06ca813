//! Repeatability under a seed. The backend's generator is global, so these tests run in a
//! binary of their own and one at a time.

mod common;

use common::{B, values};

use std::sync::Mutex;

use bio_rules::{LearningRule, RuleConv2dConfig, RuleHub, RuleLinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

static GENERATOR: Mutex<()> = Mutex::new(());

/// brSF redraws its magnitudes at every forward pass (every batch), from the seeded
/// generator: the same seed gives the same draws, consecutive batches different ones.
#[test]
fn brsf_is_repeatable_under_a_seed_and_differs_across_batches() {
    let _lock = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    B::seed(&device, 7);
    let layer = RuleLinearConfig::new(32, 16)
        .with_rule(LearningRule::Brsf)
        .with_bias(false)
        .init::<B>(&device);
    let x = Tensor::<B, 2>::random([4, 32], Distribution::Normal(0.0, 1.0), &device);
    let run = |seed: u64| -> Vec<Vec<f32>> {
        B::seed(&device, seed);
        (0..3)
            .map(|_| {
                let x = x.clone().require_grad();
                let grads = layer.forward(x.clone()).sum().backward();
                values(x.grad(&grads).expect("dx"))
            })
            .collect()
    };
    let first = run(11);
    assert_eq!(first, run(11), "the same seed must give the same draws");
    assert_ne!(first[0], first[1], "each batch draws new magnitudes");
    assert_ne!(first[1], first[2]);
    assert_ne!(first, run(12));
}

/// A whole layer (weights, fixed feedback) is repeatable under a seed, for every rule.
#[test]
fn layers_are_repeatable_under_a_seed() {
    let _lock = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    for rule in LearningRule::ALL {
        let build = || {
            B::seed(&device, 3);
            RuleConv2dConfig::new([3, 4], [3, 3])
                .with_rule(rule)
                .init_with_hub::<B>(RuleHub::new(5), &device)
        };
        let (a, b) = (build(), build());
        assert_eq!(values(a.weight.val()), values(b.weight.val()), "{rule}");
        assert_eq!(
            a.feedback.fixed().map(values),
            b.feedback.fixed().map(values),
            "{rule}"
        );
    }
}
