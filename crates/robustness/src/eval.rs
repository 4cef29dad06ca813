//! Clean, robust and transfer accuracy.

use crate::attack::Attack;
use crate::batch::{self, Batch};
use crate::classifier::Classifier;
use crate::error::{self, Result, RobustnessError};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use rand::rngs::StdRng;

/// Correct predictions on clean and on adversarial images, counted separately.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RobustAccuracy {
    /// Images evaluated.
    pub total: usize,
    /// Clean images classified correctly.
    pub clean_correct: usize,
    /// Adversarial images classified correctly.
    pub adversarial_correct: usize,
}

impl RobustAccuracy {
    /// Clean accuracy in `[0, 1]` (0 when nothing was evaluated).
    pub fn clean(&self) -> f64 {
        ratio(self.clean_correct, self.total)
    }

    /// Adversarial (robust) accuracy in `[0, 1]` (0 when nothing was evaluated).
    pub fn adversarial(&self) -> f64 {
        ratio(self.adversarial_correct, self.total)
    }
}

/// `part / total`, 0 for an empty total.
fn ratio(part: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        part as f64 / total as f64
    }
}

/// Adversarial examples crafted on a source model, scored on it and on a target model.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransferAccuracy {
    /// The source model's clean and (white-box) adversarial counts.
    pub source: RobustAccuracy,
    /// The target model's clean and (transferred) adversarial counts.
    pub target: RobustAccuracy,
}

/// Correct predictions of `model` on a batch whose labels are on the host.
fn correct<B: AutodiffBackend>(
    model: &dyn Classifier<B>,
    images: Tensor<B, 4>,
    labels: &[i64],
) -> Result<usize> {
    let logits = batch::logits(model, images.detach(), labels)?;
    let classes = logits.dims()[1];
    let predictions = batch::argmax_rows(&batch::host(logits), classes);
    Ok(predictions
        .iter()
        .zip(labels)
        .filter(|&(&p, &l)| p as i64 == l)
        .count())
}

/// The fraction of `images` that `model` classifies as `labels`, in one forward pass.
///
/// # Shapes
/// - `images`: `[n, channels, height, width]`, values in `[0, 1]`
/// - `labels`: `[n]`
///
/// # Errors
/// An empty batch, a label count that differs from `n`, labels outside the model's
/// classes, values outside `[0, 1]`, logits of the wrong shape.
pub fn accuracy<B: AutodiffBackend>(
    model: &dyn Classifier<B>,
    images: Tensor<B, 4>,
    labels: Tensor<B, 1, Int>,
) -> Result<f64> {
    let batch = Batch::check(&images, &labels)?;
    Ok(ratio(correct(model, images, &batch.labels)?, batch.len()))
}

/// Clean and adversarial accuracy of `model` under `attack`, over every image exactly once,
/// in batches of `batch_size` (the last one shorter when it does not divide `n`).
///
/// The clean and adversarial predictions are counted separately, each with its own
/// forward pass on the batch; the attack never sees the counts.
///
/// # Errors
/// `batch_size` of 0, and those of [`accuracy`] and [`Attack::perturb`].
pub fn robust_accuracy<B, A>(
    model: &dyn Classifier<B>,
    attack: &A,
    images: Tensor<B, 4>,
    labels: Tensor<B, 1, Int>,
    batch_size: usize,
    rng: &mut StdRng,
) -> Result<RobustAccuracy>
where
    B: AutodiffBackend,
    A: Attack<B> + ?Sized,
{
    let counts = evaluate(model, &[model], attack, images, labels, batch_size, rng)?;
    Ok(counts[0])
}

/// Transfer attack: adversarial examples crafted with `attack` on `source`, scored on
/// `source` (white box) and on `target` (black box), over every image exactly once in
/// batches of `batch_size`.
///
/// # Errors
/// As [`robust_accuracy`].
pub fn transfer_accuracy<B, A>(
    source: &dyn Classifier<B>,
    target: &dyn Classifier<B>,
    attack: &A,
    images: Tensor<B, 4>,
    labels: Tensor<B, 1, Int>,
    batch_size: usize,
    rng: &mut StdRng,
) -> Result<TransferAccuracy>
where
    B: AutodiffBackend,
    A: Attack<B> + ?Sized,
{
    let counts = evaluate(
        source,
        &[source, target],
        attack,
        images,
        labels,
        batch_size,
        rng,
    )?;
    Ok(TransferAccuracy {
        source: counts[0],
        target: counts[1],
    })
}

/// Attacks `crafter` batch by batch and scores every model in `judges` on the clean and
/// the adversarial images.
fn evaluate<B, A>(
    crafter: &dyn Classifier<B>,
    judges: &[&dyn Classifier<B>],
    attack: &A,
    images: Tensor<B, 4>,
    labels: Tensor<B, 1, Int>,
    batch_size: usize,
    rng: &mut StdRng,
) -> Result<Vec<RobustAccuracy>>
where
    B: AutodiffBackend,
    A: Attack<B> + ?Sized,
{
    error::positive("robust_accuracy", "batch_size", batch_size)?;
    let n = images.dims()[0];
    if n == 0 {
        return Err(RobustnessError::EmptyInput);
    }
    let label_count = labels.dims()[0];
    if label_count != n {
        return Err(RobustnessError::LabelCount {
            images: n,
            labels: label_count,
        });
    }
    let mut counts = vec![RobustAccuracy::default(); judges.len()];
    for start in (0..n).step_by(batch_size) {
        let len = batch_size.min(n - start);
        let x = images.clone().narrow(0, start, len);
        let y = labels.clone().narrow(0, start, len);
        let host_labels = Batch::check(&x, &y)?.labels;
        let adversarial = attack.perturb(crafter, x.clone(), y, rng)?;
        for (judge, count) in judges.iter().zip(&mut counts) {
            count.total += len;
            count.clean_correct += correct(*judge, x.clone(), &host_labels)?;
            count.adversarial_correct += correct(*judge, adversarial.clone(), &host_labels)?;
        }
        log::debug!(
            "{}: images {start}..{} attacked",
            attack.name(),
            start + len
        );
    }
    Ok(counts)
}
