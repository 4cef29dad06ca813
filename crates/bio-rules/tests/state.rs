//! Stored feedback (FA, frSF, DFA) survives optimiser steps and a save/load round trip,
//! which then gives identical gradients; brSF on a convolution redraws magnitudes but keeps
//! the weight's signs.

mod common;

use common::{B, values};

use bio_rules::{Fans, LearningRule, RuleConv2d, RuleConv2dConfig, RuleHub};
use burn::module::Module;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::record::{FullPrecisionSettings, NamedMpkFileRecorder};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor};

/// The rules that keep a tensor drawn once: FA, frSF and DFA.
const STORED: [LearningRule; 3] = [LearningRule::Fa, LearningRule::Frsf, LearningRule::Dfa];

fn layer(rule: LearningRule) -> RuleConv2d<B> {
    RuleConv2dConfig::new([3, 4], [3, 3])
        .with_padding([1, 1])
        .with_rule(rule)
        .init_with_hub(RuleHub::new(4), &Default::default())
}

/// A loss through the layer, its channels averaged into four "logits" that go through the
/// layer's hub (DFA reads the output error there).
fn loss(conv: &RuleConv2d<B>, x: Tensor<B, 4>) -> Tensor<B, 1> {
    let n = x.dims()[0];
    let logits = conv.forward(x).mean_dims(&[2, 3]).reshape([n, 4]);
    conv.feedback.hub().expect("hub").tap(logits).sum()
}

#[test]
fn optimiser_steps_train_the_weight_but_not_the_feedback() {
    for rule in STORED {
        let mut conv = layer(rule);
        let before_b = values(conv.feedback.fixed().expect("stored"));
        let before_w = values(conv.weight.val());
        let mut optim = SgdConfig::new().init::<B, RuleConv2d<B>>();
        for _ in 0..3 {
            let x =
                Tensor::<B, 4>::random([2, 3, 5, 5], Distribution::Default, &Default::default());
            let grads = GradientsParams::from_grads(loss(&conv, x).backward(), &conv);
            conv = optim.step(0.1, conv, grads);
        }
        assert_eq!(
            values(conv.feedback.fixed().expect("stored")),
            before_b,
            "{rule}"
        );
        assert_ne!(
            values(conv.weight.val()),
            before_w,
            "{rule} weight must learn"
        );
    }
}

#[test]
fn stored_feedback_round_trips_through_a_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let recorder = NamedMpkFileRecorder::<FullPrecisionSettings>::new();
    for rule in STORED {
        let saved = layer(rule);
        let path = dir.path().join(format!("{rule}"));
        saved
            .clone()
            .save_file(path.clone(), &recorder)
            .expect("save");
        let loaded = layer(rule)
            .load_file(path, &recorder, &Default::default())
            .expect("load");
        let stored = |c: &RuleConv2d<B>| values(c.feedback.fixed().expect("stored"));
        assert_eq!(stored(&loaded), stored(&saved));
        assert_eq!(values(loaded.weight.val()), values(saved.weight.val()));
        // The same input and upstream gradient give the same input gradient.
        let x = Tensor::<B, 4>::random([1, 3, 4, 4], Distribution::Default, &Default::default());
        let dx = |c: &RuleConv2d<B>| {
            let x = x.clone().require_grad();
            let g = loss(c, x.clone()).backward();
            values(x.grad(&g).expect("dx"))
        };
        assert_eq!(dx(&loaded), dx(&saved), "{rule}");
    }
}

/// A pointwise convolution with one output channel and `dy = 1`: `dx[:, i] = B[0, i]`,
/// which for brSF is `|M[0, i]| · sign(W[0, i])`.
#[test]
fn conv_brsf_keeps_signs_and_redraws_magnitudes() {
    let device = Default::default();
    let conv = RuleConv2dConfig::new([6, 1], [1, 1])
        .with_rule(LearningRule::Brsf)
        .init::<B>(&device);
    let w = values(conv.weight.val());
    let bound = Fans::conv([1, 6, 1, 1]).xavier_bound() as f32;
    let draw = |seed: u64| {
        B::seed(&device, seed);
        let x = Tensor::<B, 4>::ones([1, 6, 1, 1], &device).require_grad();
        let g = conv.forward(x.clone()).sum().backward();
        values(x.grad(&g).expect("dx"))
    };
    let (first, second) = (draw(1), draw(2));
    assert_ne!(first, second);
    for dx in [&first, &second] {
        for (d, w) in dx.iter().zip(&w) {
            assert_eq!(d.signum(), w.signum());
            assert!(d.abs() <= bound + 1e-6);
        }
    }
}
