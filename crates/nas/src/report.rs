//! What a search reports while it runs.

use serde::{Deserialize, Serialize};

/// Figures of one finished epoch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 0-based epoch.
    pub epoch: usize,
    /// Weight learning rate used in this epoch.
    pub lr: f64,
    /// Mean loss of the weight steps.
    pub train_loss: f64,
    /// Accuracy of the weight-step batches (augmented), in [0, 1].
    pub train_acc: f64,
    /// Mean loss of the architecture steps.
    pub arch_loss: f64,
    /// Loss on the validation half (the α half, as in DARTS), evaluated without
    /// augmentation after the epoch.
    pub valid_loss: f64,
    /// Accuracy on the validation half, in [0, 1].
    pub valid_acc: f64,
    /// Largest |α| over both matrices.
    pub alpha_max_abs: f64,
    /// Mean entropy (nats) of the edge distributions softmax(α).
    pub alpha_entropy: f64,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
    /// Training images per second (weight and architecture steps together).
    pub images_per_second: f64,
    /// The genotype after this epoch, in DARTS' Python form.
    pub genotype: String,
}

/// Figures of one step, for progress displays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// 0-based epoch.
    pub epoch: usize,
    /// 0-based step within the epoch.
    pub step: usize,
    /// Steps in the epoch.
    pub steps: usize,
    /// Loss of this weight step.
    pub train_loss: f32,
    /// Loss of this architecture step.
    pub arch_loss: f32,
}

/// Receives progress from a running search.
pub trait SearchObserver {
    /// An epoch of `steps` steps begins.
    fn epoch_started(&mut self, _epoch: usize, _steps: usize) {}
    /// A step (architecture then weights) finished.
    fn step_done(&mut self, _step: &StepReport) {}
    /// The validation pass of an epoch begins.
    fn evaluating(&mut self, _epoch: usize) {}
    /// An epoch finished.
    fn epoch_done(&mut self, _report: &EpochReport) {}
    /// An alignment probe finished.
    fn alignment_done(&mut self, _sample: &crate::AlignmentSample) {}
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl SearchObserver for Silent {}

impl EpochReport {
    /// The CSV header matching [`EpochReport::csv_row`].
    pub const CSV_HEADER: &'static str = "epoch,lr,train_loss,train_acc,arch_loss,valid_loss,\
        valid_acc,alpha_max_abs,alpha_entropy,seconds,images_per_second";

    /// One CSV row (the genotype is left to the JSON lines).
    pub fn csv_row(&self) -> String {
        format!(
            "{},{:.6},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.5},{:.2},{:.2}",
            self.epoch,
            self.lr,
            self.train_loss,
            self.train_acc,
            self.arch_loss,
            self.valid_loss,
            self.valid_acc,
            self.alpha_max_abs,
            self.alpha_entropy,
            self.seconds,
            self.images_per_second
        )
    }
}

/// A search's curves as one SVG picture: the losses, the accuracies and the mean entropy
/// of `softmax(α)` (with max |α|) against the epoch.
pub fn search_curves_svg(reports: &[EpochReport]) -> String {
    use crate::plot::{Chart, Figure, Series};
    let line = |name: &str, f: fn(&EpochReport) -> f64, color: &str| {
        let points = reports.iter().map(|r| (r.epoch as f64, f(r))).collect();
        Series::new(name, points).with_color(color)
    };
    let loss = Chart::new("Loss", "epoch", "cross-entropy")
        .with_series(line("weight steps", |r| r.train_loss, "#1f77b4"))
        .with_series(line("architecture steps", |r| r.arch_loss, "#ff7f0e"))
        .with_series(line("validation", |r| r.valid_loss, "#d62728"));
    let accuracy = Chart::new("Accuracy", "epoch", "accuracy (%)")
        .with_series(line("train", |r| 100.0 * r.train_acc, "#1f77b4"))
        .with_series(line("validation", |r| 100.0 * r.valid_acc, "#d62728"));
    let alpha = Chart::new("Architecture weights", "epoch", "nats / |α|")
        .with_series(line(
            "entropy of softmax(α)",
            |r| r.alpha_entropy,
            "#2ca02c",
        ))
        .with_series(line("max |α|", |r| r.alpha_max_abs, "#9467bd"));
    Figure::new(3)
        .with_chart(loss)
        .with_chart(accuracy)
        .with_chart(alpha)
        .to_svg()
}
