use crate::common::*;
use burn::tensor::{Int, Tensor};
use rand::rngs::StdRng;
use robustness::{
    Attack, Classifier, Fgsm, RobustAccuracy, RobustnessError, accuracy, robust_accuracy,
    transfer_accuracy,
};
use std::cell::RefCell;

/// An attack that records the batches it is given and inverts the images (`1 − x`), which
/// swaps the halves' brightness order and so fools [`left_right`] on every image.
#[derive(Default)]
struct Inverting {
    /// The labels of every batch, in order.
    batches: RefCell<Vec<Vec<i64>>>,
}

impl Attack<B> for Inverting {
    fn name(&self) -> &str {
        "invert"
    }

    fn epsilon(&self) -> Option<f32> {
        None
    }

    fn with_epsilon(&self, _epsilon: f32) -> Self {
        Self::default()
    }

    fn perturb(
        &self,
        _model: &dyn Classifier<B>,
        images: Tensor<B, 4>,
        labels: Tensor<B, 1, Int>,
        _rng: &mut StdRng,
    ) -> robustness::Result<Tensor<B, 4>> {
        self.batches
            .borrow_mut()
            .push(labels.into_data().iter::<i64>().collect());
        Ok(images.neg().add_scalar(1.0))
    }
}

/// Distinct labels 0..n for `n` images, so that each batch's labels tell which images it
/// held; the model is `left_right` extended with dummy classes that are never predicted.
fn numbered(n: usize) -> (Tensor<B, 4>, Tensor<B, 1, Int>, Vec<i64>) {
    let (x, y) = left_right_data(n, 0.04, 21);
    let truth: Vec<i64> = y.into_data().iter::<i64>().collect();
    (x, labels(&(0..n as i64).collect::<Vec<_>>()), truth)
}

#[test]
fn robust_accuracy_counts_every_image_once() {
    let (x, y) = left_right_data(7, 0.04, 20);
    let attack = Inverting::default();
    let counts = robust_accuracy(&left_right, &attack, x.clone(), y.clone(), 3, &mut rng(0))
        .expect("evaluation");
    let expected = RobustAccuracy {
        total: 7,
        clean_correct: 7,
        adversarial_correct: 0,
    };
    assert_eq!(counts, expected);
    let batches = attack.batches.borrow();
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(
        batches.concat(),
        values(y.float())
            .iter()
            .map(|&v| v as i64)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        counts.clean(),
        accuracy(&left_right, x, labels(&batches.concat())).expect("clean")
    );
    assert_eq!(counts.adversarial(), 0.0);
}

#[test]
fn every_image_reaches_the_attack_in_order() {
    let (x, ids, _) = numbered(10);
    let attack = Inverting::default();
    // Ten classes: left_right's two and eight the model never predicts.
    let model = |x: Tensor<B, 4>| {
        let n = x.dims()[0];
        Tensor::cat(
            vec![
                left_right(x),
                Tensor::zeros([n, 8], &device()).sub_scalar(100.0),
            ],
            1,
        )
    };
    for batch_size in [1, 3, 4, 10, 25] {
        attack.batches.borrow_mut().clear();
        robust_accuracy(
            &model,
            &attack,
            x.clone(),
            ids.clone(),
            batch_size,
            &mut rng(0),
        )
        .expect("evaluation");
        let seen = attack.batches.borrow().concat();
        assert_eq!(
            seen,
            (0..10).collect::<Vec<i64>>(),
            "batch size {batch_size}"
        );
    }
}

#[test]
fn clean_accuracy_is_not_touched_by_the_attack() {
    // Half the labels wrong: clean accuracy 1/2 whatever the attack does.
    let (x, _, truth) = numbered(8);
    let wrong: Vec<i64> = truth
        .iter()
        .enumerate()
        .map(|(i, &l)| if i < 4 { 1 - l } else { l })
        .collect();
    let y = labels(&wrong);
    let clean = accuracy(&left_right, x.clone(), y.clone()).expect("clean");
    assert_eq!(clean, 0.5);
    for batch_size in [3, 8] {
        let counts = robust_accuracy(
            &left_right,
            &Inverting::default(),
            x.clone(),
            y.clone(),
            batch_size,
            &mut rng(0),
        )
        .expect("evaluation");
        assert_eq!((counts.clean(), counts.total), (clean, 8));
        // Inverting flips every prediction: the four wrong labels become right.
        assert_eq!(counts.adversarial_correct, 4);
    }
}

#[test]
fn transfer_scores_source_and_target_separately() {
    let (x, y) = left_right_data(9, 0.04, 22);
    // The target only looks at the top two rows, where FGSM moves left and right alike.
    let top_only = |x: Tensor<B, 4>| left_right(x.narrow(2, 0, 2).repeat_dim(2, 2));
    let result = transfer_accuracy(
        &left_right,
        &top_only,
        &Fgsm::new(0.05),
        x.clone(),
        y.clone(),
        4,
        &mut rng(0),
    )
    .expect("transfer");
    assert_eq!(result.source.total, 9);
    assert_eq!(result.source.clean_correct, 9);
    assert_eq!(result.source.adversarial_correct, 0);
    assert_eq!(result.target.clean_correct, 9);
    assert_eq!(result.target.adversarial_correct, 0);
    // A target blind to the image keeps its (constant) predictions.
    let blind = |x: Tensor<B, 4>| {
        let n = x.dims()[0];
        Tensor::cat(
            vec![
                x.clone()
                    .sum_dim(1)
                    .reshape([n, 16])
                    .narrow(1, 0, 1)
                    .mul_scalar(0.0)
                    .add_scalar(1.0),
                Tensor::zeros([n, 1], &device()),
            ],
            1,
        )
    };
    let blind_result =
        transfer_accuracy(&left_right, &blind, &Fgsm::new(0.05), x, y, 4, &mut rng(0))
            .expect("transfer");
    assert_eq!(blind_result.target.clean_correct, 5);
    assert_eq!(blind_result.target.adversarial_correct, 5);
    assert_eq!(blind_result.source, result.source);
}

#[test]
fn bad_evaluations_are_errors() {
    let (x, y) = left_right_data(4, 0.04, 0);
    let attack = Fgsm::new(0.1);
    let zero = robust_accuracy(&left_right, &attack, x.clone(), y.clone(), 0, &mut rng(0));
    assert!(matches!(
        zero,
        Err(RobustnessError::InvalidParameter {
            parameter: "batch_size",
            ..
        })
    ));
    let short = robust_accuracy(
        &left_right,
        &attack,
        x.clone(),
        labels(&[0, 1]),
        2,
        &mut rng(0),
    );
    assert!(matches!(
        short,
        Err(RobustnessError::LabelCount {
            images: 4,
            labels: 2
        })
    ));
    let empty = accuracy(&left_right, images(&[], [0, 1, 4, 4]), labels(&[]));
    assert!(matches!(empty, Err(RobustnessError::EmptyInput)));
    let one_class = |x: Tensor<B, 4>| left_right(x).narrow(1, 0, 1);
    let shape = accuracy(&one_class, x, y);
    assert!(matches!(
        shape,
        Err(RobustnessError::LogitsShape {
            images: 4,
            logits: [4, 1]
        })
    ));
}
