//! Retraining a genotype from scratch: the paper's recipe, model selection on a held-out
//! validation split, the test set evaluated once at the end.
//!
//! Each epoch: shuffle the training indices with the run's generator, and for every batch
//! take one SGD step (momentum, weight decay, global gradient-norm clip) on
//! `CE(logits) + w_aux · CE(aux_logits)` with drop-path on every non-identity operation.
//! Then evaluate on the validation split with running batch-norm statistics; the model
//! with the best validation accuracy so far is written to `best.mpk`, the latest to
//! `last.mpk` (both atomically), a row goes to `metrics.csv` and the curves are redrawn
//! in `curves.svg`. A non-finite loss stops the run with [`NasError::Diverged`], a
//! non-finite gradient norm with [`NasError::NonFiniteGradient`] (before the step could
//! spoil the weights); the checkpoints already written stay valid.
//!
//! After every epoch `checkpoint.bin` holds the model, the optimiser's state, the best
//! model so far and the history, in one atomically written file; every epoch draws its
//! random numbers (shuffling, augmentation, drop-path) from `(seed, epoch)`. So
//! [`resume_training`] continues a killed run from its last finished epoch and ends
//! exactly where an uninterrupted run would.

use bio_rules::RuleBackend;
use burn::module::{AutodiffModule, Module};
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::activation::log_softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor};
use datasets::{ImageDataset, Mode, stratified_split};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use search_space::Network;
use serde::{Deserialize, Serialize};
use std::time::Instant;

use crate::checkpoint::{Bundle, corrupt, record_from_bytes, record_to_bytes};
use crate::clip::clip_global_norm;
use crate::config::{WeightOptim, cosine_lr};
use crate::plot::{Chart, Figure, Series};
use crate::search::count_correct;
use crate::search::epoch_seed;
use crate::{NasError, Result, RunDir};

/// How the learning rate moves from epoch to epoch.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LrSchedule {
    /// Cosine annealing from `lr` to `lr_min` over the epochs (CIFAR recipe, `lr_min` 0).
    Cosine {
        /// Final learning rate.
        lr_min: f64,
    },
    /// `lr · gamma^epoch` (ImageNet recipe: 0.97).
    Exponential {
        /// Factor per epoch.
        gamma: f64,
    },
}

/// How the drop-path probability moves from epoch to epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DropPathSchedule {
    /// `p · epoch / epochs`: from 0 up to `p` (the DARTS training script).
    Linear,
    /// `p` at every epoch (the paper's released code).
    Constant,
}

/// Every setting of a retraining. [`TrainConfig::cifar`] is the paper's CIFAR recipe,
/// [`TrainConfig::imagenet`] its ImageNet one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Epochs (CIFAR 600, ImageNet 250).
    pub epochs: usize,
    /// Images per training batch (CIFAR 96, ImageNet 128).
    pub batch_size: usize,
    /// Initial learning rate (CIFAR 0.025, ImageNet 0.1).
    pub lr: f64,
    /// The learning-rate schedule.
    pub schedule: LrSchedule,
    /// SGD momentum (0.9).
    pub momentum: f64,
    /// L2 weight decay (CIFAR 3e-4, ImageNet 3e-5).
    pub weight_decay: f64,
    /// Largest global gradient norm (5).
    pub grad_clip: f64,
    /// Drop-path probability (CIFAR 0.2, ImageNet 0).
    pub drop_path: f64,
    /// How the drop-path probability is scheduled.
    pub drop_path_schedule: DropPathSchedule,
    /// Weight of the auxiliary head's loss, when the network has one (0.4).
    pub auxiliary_weight: f64,
    /// Label smoothing `ε` of the cross-entropy (CIFAR 0, ImageNet 0.1).
    pub label_smoothing: f64,
    /// Seed of shuffling and augmentation (the run's generator) and of the backend's
    /// generator (drop-path masks, brSF's feedback), set when training starts. Weights are
    /// drawn when the network is built: seed the backend before that for a repeatable run.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::cifar()
    }
}

impl TrainConfig {
    /// The paper's CIFAR recipe: 600 epochs, batch 96, lr 0.025 cosine to 0, momentum 0.9,
    /// weight decay 3e-4, clip 5, drop-path 0.2 ramped linearly, auxiliary weight 0.4.
    pub fn cifar() -> Self {
        Self {
            epochs: 600,
            batch_size: 96,
            lr: 0.025,
            schedule: LrSchedule::Cosine { lr_min: 0.0 },
            momentum: 0.9,
            weight_decay: 3e-4,
            grad_clip: 5.0,
            drop_path: 0.2,
            drop_path_schedule: DropPathSchedule::Linear,
            auxiliary_weight: 0.4,
            label_smoothing: 0.0,
            seed: 0,
        }
    }

    /// The paper's ImageNet recipe: 250 epochs, batch 128, lr 0.1 times 0.97 per epoch,
    /// weight decay 3e-5, label smoothing 0.1, no drop-path.
    pub fn imagenet() -> Self {
        Self {
            epochs: 250,
            batch_size: 128,
            lr: 0.1,
            schedule: LrSchedule::Exponential { gamma: 0.97 },
            weight_decay: 3e-5,
            drop_path: 0.0,
            label_smoothing: 0.1,
            ..Self::cifar()
        }
    }

    /// Checks every setting, naming the first one out of range.
    pub fn validate(&self) -> Result<()> {
        let positive = |name: &'static str, v: usize| {
            (v == 0)
                .then(|| NasError::config(name, "must be at least 1"))
                .map_or(Ok(()), Err)
        };
        positive("epochs", self.epochs)?;
        positive("batch_size", self.batch_size)?;
        // The optimiser names its settings `weights.*`; here they are top-level fields.
        self.optimiser().validate().map_err(|e| match e {
            NasError::Config { setting, reason } => NasError::Config {
                setting: setting.strip_prefix("weights.").unwrap_or(setting),
                reason,
            },
            other => other,
        })?;
        let within = |name: &'static str, v: f64, high: f64| {
            if (0.0..high).contains(&v) {
                Ok(())
            } else {
                Err(NasError::config(name, &format!("must lie in [0, {high})")))
            }
        };
        within("drop_path", self.drop_path, 1.0)?;
        within("label_smoothing", self.label_smoothing, 1.0)?;
        within("auxiliary_weight", self.auxiliary_weight, f64::INFINITY)?;
        match self.schedule {
            LrSchedule::Cosine { lr_min } => within("schedule.lr_min", lr_min, f64::INFINITY),
            LrSchedule::Exponential { gamma } if gamma > 0.0 && gamma <= 1.0 => Ok(()),
            LrSchedule::Exponential { .. } => {
                Err(NasError::config("schedule.gamma", "must lie in (0, 1]"))
            }
        }
    }

    /// The learning rate of epoch `epoch` (0-based).
    pub fn lr_at(&self, epoch: usize) -> f64 {
        match self.schedule {
            LrSchedule::Cosine { lr_min } => cosine_lr(self.lr, lr_min, epoch, self.epochs),
            LrSchedule::Exponential { gamma } => self.lr * gamma.powi(epoch as i32),
        }
    }

    /// The drop-path probability of epoch `epoch` (0-based).
    pub fn drop_path_at(&self, epoch: usize) -> f64 {
        match self.drop_path_schedule {
            DropPathSchedule::Constant => self.drop_path,
            DropPathSchedule::Linear => self.drop_path * epoch as f64 / self.epochs as f64,
        }
    }

    fn optimiser(&self) -> WeightOptim {
        WeightOptim {
            lr: self.lr,
            lr_min: 0.0,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            grad_clip: self.grad_clip,
        }
    }
}

/// Some images of a data set, by index (borrowed).
#[derive(Debug)]
pub struct Selection<'a, D> {
    /// The data set.
    pub data: &'a D,
    /// The images used.
    pub indices: &'a [usize],
}

impl<'a, D: ImageDataset> Selection<'a, D> {
    /// The images `indices` of `data`.
    pub fn new(data: &'a D, indices: &'a [usize]) -> Self {
        Self { data, indices }
    }
}

impl<D> Clone for Selection<'_, D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for Selection<'_, D> {}

/// The splits of a retraining: the model is trained on `train`, selected on `valid`, and
/// measured once on `test` at the end.
#[derive(Clone, Copy, Debug)]
pub struct TrainData<'a, D> {
    /// Training images.
    pub train: Selection<'a, D>,
    /// Held-out images for model selection.
    pub valid: Selection<'a, D>,
    /// The test images, evaluated once with the selected model.
    pub test: Option<Selection<'a, D>>,
}

/// Figures of one finished epoch of retraining.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainEpoch {
    /// 0-based epoch.
    pub epoch: usize,
    /// Learning rate of the epoch.
    pub lr: f64,
    /// Drop-path probability of the epoch.
    pub drop_path: f64,
    /// Mean training loss (auxiliary term included).
    pub train_loss: f64,
    /// Accuracy on the (augmented) training batches, in [0, 1].
    pub train_acc: f64,
    /// Validation loss (plain cross-entropy).
    pub valid_loss: f64,
    /// Validation accuracy, in [0, 1].
    pub valid_acc: f64,
    /// Wall-clock seconds of the epoch, evaluation included.
    pub seconds: f64,
}

/// The header of `metrics.csv`.
pub const TRAIN_CSV_HEADER: &str =
    "epoch,lr,drop_path,train_loss,train_acc,valid_loss,valid_acc,seconds";

impl TrainEpoch {
    /// The row of `metrics.csv`.
    pub fn csv_row(&self) -> String {
        format!(
            "{},{:.6},{:.4},{:.6},{:.6},{:.6},{:.6},{:.2}",
            self.epoch,
            self.lr,
            self.drop_path,
            self.train_loss,
            self.train_acc,
            self.valid_loss,
            self.valid_acc,
            self.seconds
        )
    }
}

/// Receives progress from a running retraining.
pub trait TrainObserver {
    /// An epoch of `steps` steps begins.
    fn epoch_started(&mut self, _epoch: usize, _steps: usize) {}
    /// A step finished with this loss.
    fn step_done(&mut self, _epoch: usize, _step: usize, _loss: f32) {}
    /// An epoch finished.
    fn epoch_done(&mut self, _report: &TrainEpoch) {}
}

impl TrainObserver for crate::Silent {}

/// What a retraining returns.
#[derive(Debug)]
pub struct TrainOutcome<B: Backend> {
    /// The model of the best validation epoch.
    pub best: Network<B>,
    /// Its epoch.
    pub best_epoch: usize,
    /// Its validation accuracy.
    pub best_valid_acc: f64,
    /// Its test accuracy and loss, when a test split was given.
    pub test: Option<(f64, f64)>,
    /// Every epoch's figures.
    pub epochs: Vec<TrainEpoch>,
}

/// The summary written to `result.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainSummary {
    /// Epoch of the selected model.
    pub best_epoch: usize,
    /// Its validation accuracy.
    pub best_valid_acc: f64,
    /// Its test accuracy, if measured.
    pub test_acc: Option<f64>,
    /// Its test loss, if measured.
    pub test_loss: Option<f64>,
    /// Validation accuracy of the last epoch.
    pub last_valid_acc: f64,
    /// Wall-clock seconds of the whole run.
    pub seconds: f64,
}

/// Trains `model` on `data.train` with `config`, writing `config.json` (by the caller),
/// `metrics.csv`, `best.mpk`, `last.mpk` and `result.json` to `run`.
pub fn train<B, D>(
    model: Network<B>,
    config: &TrainConfig,
    data: TrainData<'_, D>,
    run: &RunDir,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<B>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
    D: ImageDataset,
{
    config.validate()?;
    for (name, split) in [("train", &data.train), ("valid", &data.valid)] {
        if split.indices.is_empty() {
            return Err(NasError::config(name_of(name), "the split holds no images"));
        }
    }
    run.write_atomic("metrics.csv", format!("{TRAIN_CSV_HEADER}\n").as_bytes())?;
    run.write_atomic("metrics.jsonl", b"")?;
    crate::search::log_line(
        run,
        &format!("started: {} epochs, seed {}", config.epochs, config.seed),
    )?;
    let optimiser = config.optimiser().sgd::<B, Network<B>>();
    let progress = Progress {
        next_epoch: 0,
        epochs: Vec::new(),
        best: None,
    };
    run_epochs(
        model, optimiser, progress, None, config, data, run, observer,
    )
}

/// Continues the retraining whose folder is `run` from its `checkpoint.bin`. `model` must
/// be built as the first run's was (same network settings); `config` and `data` must be
/// the first run's. `metrics.csv` and `curves.svg` are rewritten from the checkpoint.
pub fn resume_training<B, D>(
    model: Network<B>,
    config: &TrainConfig,
    data: TrainData<'_, D>,
    run: &RunDir,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<B>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
    D: ImageDataset,
{
    config.validate()?;
    let device = model.devices().into_iter().next().unwrap_or_default();
    let path = run.path().join(TRAIN_CHECKPOINT);
    if !path.exists() {
        // Stopped before its first epoch ended: start over in place.
        crate::search::refuse_restart_over_results(
            run,
            TRAIN_CHECKPOINT,
            &["best.mpk", "last.mpk", "result.json"],
        )?;
        crate::search::log_line(run, "no checkpoint yet: starting again from epoch 0")?;
        return train(model, config, data, run, observer);
    }
    let bundle = Bundle::load(&path)?;
    crate::search::check_settings(&bundle, &path, config)?;
    if let Some(saved) = bundle.get(RUN_CONFIG) {
        check_run_config(run, &path, saved)?;
    }
    let progress: Progress = serde_json::from_slice(bundle.require("state", &path)?)
        .map_err(|e| corrupt(&path, format!("the state section is not valid: {e}")))?;
    let record =
        record_from_bytes::<B, _>(bundle.require("model", &path)?, &device, &path, "model")?;
    let model = crate::checkpoint::load_into(model, record, &path, "model")?;
    let record = record_from_bytes::<B, _>(
        bundle.require("optimizer", &path)?,
        &device,
        &path,
        "optimiser",
    )?;
    let optimiser = config
        .optimiser()
        .sgd::<B, Network<B>>()
        .load_record(record);
    let best = match bundle.get("best") {
        Some(bytes) => {
            let record = record_from_bytes::<B::InnerBackend, _>(bytes, &device, &path, "best")?;
            Some(crate::checkpoint::load_into(
                model.valid(),
                record,
                &path,
                "best model",
            )?)
        }
        None => None,
    };
    let mut csv = format!("{TRAIN_CSV_HEADER}\n");
    let mut jsonl = String::new();
    for e in &progress.epochs {
        csv.push_str(&e.csv_row());
        csv.push('\n');
        jsonl.push_str(&serde_json::to_string(e).unwrap_or_default());
        jsonl.push('\n');
    }
    run.write_atomic("metrics.csv", csv.as_bytes())?;
    run.write_atomic("metrics.jsonl", jsonl.as_bytes())?;
    let next = progress.next_epoch;
    crate::search::log_line(run, &format!("resumed at epoch {next}"))?;
    run.write_atomic("curves.svg", curves_svg(&progress.epochs).as_bytes())?;
    run_epochs(
        model, optimiser, progress, best, config, data, run, observer,
    )
}

/// The checkpoint file of a retraining.
pub const TRAIN_CHECKPOINT: &str = "checkpoint.bin";

/// Where a retraining stands, saved in its checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Progress {
    next_epoch: usize,
    epochs: Vec<TrainEpoch>,
    /// Epoch and validation accuracy of the best model so far.
    best: Option<(usize, f64)>,
}

type Optim<B> = crate::WeightOptimizer<B, Network<B>>;

#[allow(clippy::too_many_arguments)]
fn run_epochs<B, D>(
    mut model: Network<B>,
    mut optimiser: Optim<B>,
    mut progress: Progress,
    best_model: Option<Network<B::InnerBackend>>,
    config: &TrainConfig,
    data: TrainData<'_, D>,
    run: &RunDir,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome<B>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
    D: ImageDataset,
{
    crate::memory::set_task(crate::memory::Task::Train {
        batch_size: config.batch_size,
    });
    let start = Instant::now();
    let device = model.devices().into_iter().next().unwrap_or_default();
    let mut best = progress
        .best
        .zip(best_model)
        .map(|((epoch, acc), m)| (epoch, acc, m));
    for epoch in progress.next_epoch..config.epochs {
        let seed = epoch_seed(config.seed, epoch);
        B::seed(&device, seed);
        let mut rng = StdRng::seed_from_u64(seed);
        let epoch_start = Instant::now();
        let (lr, drop_prob) = (config.lr_at(epoch), config.drop_path_at(epoch));
        let mut order = data.train.indices.to_vec();
        order.shuffle(&mut rng);
        let steps = order.len().div_ceil(config.batch_size);
        observer.epoch_started(epoch, steps);
        let mut totals = (0.0f64, 0usize, 0usize);
        for (step, chunk) in order.chunks(config.batch_size).enumerate() {
            let batch = data
                .train
                .data
                .batch::<B>(chunk, Mode::Train, &mut rng, &device)?;
            let out = model.forward_train(batch.images, drop_prob);
            totals.1 += count_correct(&out.logits, &batch.targets);
            let mut loss = cross_entropy(out.logits, batch.targets.clone(), config.label_smoothing);
            if let Some(aux) = out.auxiliary {
                let aux = cross_entropy(aux, batch.targets, config.label_smoothing);
                loss = loss + aux * config.auxiliary_weight;
            }
            let value = loss.clone().into_scalar().elem::<f32>();
            if !value.is_finite() {
                return Err(NasError::Diverged {
                    phase: "training",
                    epoch,
                    step,
                    value,
                });
            }
            let mut grads = GradientsParams::from_grads(loss.backward(), &model);
            let norm = clip_global_norm(&model, &mut grads, config.grad_clip);
            if !norm.is_finite() {
                return Err(NasError::NonFiniteGradient {
                    epoch,
                    step,
                    value: norm,
                });
            }
            model = optimiser.step(lr, model, grads);
            totals.0 += value as f64 * chunk.len() as f64;
            totals.2 += chunk.len();
            observer.step_done(epoch, step, value);
        }
        let inner = model.valid();
        let (valid_loss, valid_acc) = evaluate(&inner, data.valid, config.batch_size, &device)?;
        if !valid_loss.is_finite() {
            // Spoiled by the epoch's last step: neither checkpoint may take these weights.
            return Err(NasError::Diverged {
                phase: "validation",
                epoch,
                step: steps.saturating_sub(1),
                value: valid_loss as f32,
            });
        }
        let report = TrainEpoch {
            epoch,
            lr,
            drop_path: drop_prob,
            train_loss: totals.0 / totals.2.max(1) as f64,
            train_acc: totals.1 as f64 / totals.2.max(1) as f64,
            valid_loss,
            valid_acc,
            seconds: epoch_start.elapsed().as_secs_f64(),
        };
        progress.epochs.push(report.clone());
        progress.next_epoch = epoch + 1;
        let improved = best.as_ref().is_none_or(|(_, acc, _)| valid_acc > *acc);
        if improved {
            best = Some((epoch, valid_acc, inner.clone()));
        }
        progress.best = best.as_ref().map(|(e, a, _)| (*e, *a));
        save_state(
            run,
            config,
            &model,
            &optimiser,
            &progress,
            best.as_ref().map(|b| &b.2),
        )?;
        run.append_line("metrics.csv", &report.csv_row())?;
        let json = serde_json::to_string(&report).unwrap_or_default();
        run.append_line("metrics.jsonl", &json)?;
        crate::search::log_line(run, &epoch_line(&report, improved))?;
        run.write_atomic("curves.svg", curves_svg(&progress.epochs).as_bytes())?;
        save_checkpoint(run, "last.mpk", &inner)?;
        if improved {
            save_checkpoint(run, "best.mpk", &inner)?;
        }
        observer.epoch_done(&report);
    }
    finish(
        run,
        best,
        progress.epochs,
        data.test,
        config.batch_size,
        &device,
        start,
    )
}

/// The log line of a finished epoch.
fn epoch_line(r: &TrainEpoch, improved: bool) -> String {
    format!(
        "epoch {}: lr {:.5}, drop-path {:.3}, train loss {:.4}, train acc {:.4}, valid loss \
         {:.4}, valid acc {:.4}, {:.1}s{}",
        r.epoch,
        r.lr,
        r.drop_path,
        r.train_loss,
        r.train_acc,
        r.valid_loss,
        r.valid_acc,
        r.seconds,
        if improved { ", best so far" } else { "" }
    )
}

/// Writes `checkpoint.bin`: the model, the optimiser, the history and the best model.
fn save_state<B: AutodiffBackend + RuleBackend>(
    run: &RunDir,
    config: &TrainConfig,
    model: &Network<B>,
    optimiser: &Optim<B>,
    progress: &Progress,
    best: Option<&Network<B::InnerBackend>>,
) -> Result<()> {
    let mut bundle = Bundle::new();
    let state = serde_json::to_vec(progress).map_err(|e| NasError::Checkpoint {
        path: run.path().join(TRAIN_CHECKPOINT),
        reason: e.to_string(),
    })?;
    bundle.put("state", state);
    bundle.put("config", serde_json::to_vec(config).unwrap_or_default());
    if let Ok(text) = std::fs::read(run.path().join(RUN_CONFIG_FILE)) {
        bundle.put(RUN_CONFIG, text);
    }
    bundle.put(
        "model",
        record_to_bytes::<B, _>(model.clone().into_record())?,
    );
    bundle.put("optimizer", record_to_bytes::<B, _>(optimiser.to_record())?);
    if let Some(best) = best {
        let record = best.clone().into_record();
        bundle.put("best", record_to_bytes::<B::InnerBackend, _>(record)?);
    }
    bundle.save(run, TRAIN_CHECKPOINT)
}

/// The checkpoint section holding the run folder's `config.json` as it was.
const RUN_CONFIG: &str = "run_config";
/// The file a caller may write into the run folder to describe the whole run (the command
/// line writes the network and data settings there); it becomes part of each checkpoint.
const RUN_CONFIG_FILE: &str = "config.json";

/// Compares the run folder's `config.json` with the copy in the checkpoint: a resumed run
/// must rebuild the same network, and an edit could change it without changing a shape.
fn check_run_config(run: &RunDir, path: &std::path::Path, saved: &[u8]) -> Result<()> {
    let file = run.path().join(RUN_CONFIG_FILE);
    let resume_error = |reason: String| NasError::Resume {
        path: run.path().to_path_buf(),
        reason,
    };
    let text = std::fs::read(&file).map_err(|e| {
        resume_error(format!(
            "{RUN_CONFIG_FILE} cannot be read ({e}); the checkpoint has it"
        ))
    })?;
    let now: serde_json::Value = serde_json::from_slice(&text)
        .map_err(|e| resume_error(format!("{RUN_CONFIG_FILE} is not valid JSON: {e}")))?;
    let then: serde_json::Value = serde_json::from_slice(saved)
        .map_err(|e| corrupt(path, format!("the run_config section is not valid: {e}")))?;
    let changed = crate::search::changed_keys(&then, &now);
    if changed.is_empty() {
        return Ok(());
    }
    Err(resume_error(format!(
        "{RUN_CONFIG_FILE} differs from the settings this checkpoint was written with \
         (changed: {}); restore them, or start a new run",
        changed.join(", ")
    )))
}

fn name_of(split: &'static str) -> &'static str {
    match split {
        "train" => "train split",
        _ => "valid split",
    }
}

/// Evaluates the selected model on the test split once and writes `result.json`.
fn finish<B, D>(
    run: &RunDir,
    best: Option<(usize, f64, Network<B::InnerBackend>)>,
    epochs: Vec<TrainEpoch>,
    test: Option<Selection<'_, D>>,
    batch_size: usize,
    device: &B::Device,
    start: Instant,
) -> Result<TrainOutcome<B>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
    D: ImageDataset,
{
    let (best_epoch, best_valid_acc, model) =
        best.ok_or_else(|| NasError::config("epochs", "must be at least 1"))?;
    let test = match test {
        Some(split) if !split.indices.is_empty() => {
            let (loss, acc) = evaluate(&model, split, batch_size, device)?;
            Some((acc, loss))
        }
        _ => None,
    };
    let summary = TrainSummary {
        best_epoch,
        best_valid_acc,
        test_acc: test.map(|t| t.0),
        test_loss: test.map(|t| t.1),
        last_valid_acc: epochs.last().map_or(0.0, |e| e.valid_acc),
        seconds: start.elapsed().as_secs_f64(),
    };
    run.write_json("result.json", &summary)?;
    let best = Network::<B>::from_inner(model);
    Ok(TrainOutcome {
        best,
        best_epoch,
        best_valid_acc,
        test,
        epochs,
    })
}

/// Cross-entropy with label smoothing `ε`: `-(1 - ε) · log p_y - ε · mean_k log p_k`
/// (PyTorch's `label_smoothing`), averaged over the batch.
///
/// # Shapes
/// - logits: `[batch, classes]`
/// - targets: `[batch]`
/// - output: `[1]`
pub fn cross_entropy<B: Backend>(
    logits: Tensor<B, 2>,
    targets: Tensor<B, 1, Int>,
    smoothing: f64,
) -> Tensor<B, 1> {
    let [n, _] = logits.dims();
    let log_p = log_softmax(logits, 1);
    let picked = log_p
        .clone()
        .gather(1, targets.reshape([n, 1]))
        .reshape([n]);
    let mut loss = picked.mean().neg();
    if smoothing > 0.0 {
        let uniform = log_p.mean_dim(1).mean().neg();
        loss = loss * (1.0 - smoothing) + uniform * smoothing;
    }
    loss
}

/// Loss and accuracy of `model` on `split`, without augmentation, running batch-norm
/// statistics, in batches of `batch_size`.
pub fn evaluate<B, D>(
    model: &Network<B>,
    split: Selection<'_, D>,
    batch_size: usize,
    device: &B::Device,
) -> Result<(f64, f64)>
where
    B: RuleBackend,
    D: ImageDataset,
{
    let mut rng = StdRng::seed_from_u64(0);
    let (mut loss, mut correct) = (0.0, 0);
    for chunk in split.indices.chunks(batch_size.max(1)) {
        let batch = split.data.batch::<B>(chunk, Mode::Eval, &mut rng, device)?;
        let logits = model.forward_eval(batch.images);
        correct += count_correct(&logits, &batch.targets);
        let value = cross_entropy(logits, batch.targets, 0.0)
            .into_scalar()
            .elem::<f32>();
        loss += value as f64 * chunk.len() as f64;
    }
    let n = split.indices.len().max(1) as f64;
    Ok((loss / n, correct as f64 / n))
}

/// The `kind` section of a network's weights file, which a search checkpoint lacks.
const WEIGHTS_KIND: &[u8] = b"network weights";

/// Writes a model's record (full precision) to `name` in `run`, atomically, framed as a
/// checkpoint [`Bundle`] (so with a checksum) with a `kind` and a `model` section.
pub fn save_checkpoint<B: Backend, M: Module<B>>(
    run: &RunDir,
    name: &str,
    model: &M,
) -> Result<()> {
    let mut bundle = Bundle::new();
    bundle.put("kind", WEIGHTS_KIND.to_vec());
    bundle.put(
        "model",
        record_to_bytes::<B, _>(model.clone().into_record())?,
    );
    bundle.save(run, name)
}

/// Loads a file written by [`save_checkpoint`] into `model` (built with the same
/// configuration). A missing, damaged (checksum) or foreign file, or another kind of
/// checkpoint, is a [`NasError::Checkpoint`] that names it.
pub fn load_checkpoint<B: Backend, M: Module<B>>(
    path: &std::path::Path,
    model: M,
    device: &B::Device,
) -> Result<M> {
    let bytes = std::fs::read(path).map_err(|e| corrupt(path, format!("cannot read it: {e}")))?;
    let bundle = Bundle::from_bytes(&bytes, path)?;
    if bundle.get("kind") != Some(WEIGHTS_KIND) {
        let reason = "not a trained network's weights (a search's or a retraining's \
                      checkpoint.bin?); give best.mpk or last.mpk";
        return Err(corrupt(path, reason.into()));
    }
    let record =
        record_from_bytes::<B, M::Record>(bundle.require("model", path)?, device, path, "model")?;
    crate::checkpoint::load_into(model, record, path, "model")
}

/// Training curves as one SVG picture: loss and accuracy (training and validation) against
/// the epoch.
pub fn curves_svg(epochs: &[TrainEpoch]) -> String {
    let line = |name: &str, f: fn(&TrainEpoch) -> f64, color: &str| {
        let points = epochs.iter().map(|e| (e.epoch as f64, f(e))).collect();
        Series::new(name, points).with_color(color)
    };
    let loss = Chart::new("Loss", "epoch", "cross-entropy")
        .with_series(line("train", |e| e.train_loss, "#1f77b4"))
        .with_series(line("valid", |e| e.valid_loss, "#d62728"));
    let accuracy = Chart::new("Accuracy", "epoch", "accuracy (%)")
        .with_series(line("train", |e| 100.0 * e.train_acc, "#1f77b4"))
        .with_series(line("valid", |e| 100.0 * e.valid_acc, "#d62728"));
    Figure::new(2)
        .with_chart(loss)
        .with_chart(accuracy)
        .to_svg()
}

/// Indices for training and model selection: optionally a class-balanced subset of `limit`
/// images of `data` first, then `valid_fraction` of them (class by class) held out for
/// validation. Seeded; both parts sorted.
pub fn holdout<D: ImageDataset>(
    data: &D,
    limit: Option<usize>,
    valid_fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(valid_fraction > 0.0 && valid_fraction < 1.0) {
        return Err(NasError::config(
            "valid_fraction",
            "must lie strictly between 0 and 1",
        ));
    }
    let pool = balanced_subset(data, limit, seed);
    let view = datasets::Subset::new(data, pool.clone())?;
    let (valid, train) = stratified_split(&view, valid_fraction, seed.wrapping_add(1));
    let back = |part: Vec<usize>| part.into_iter().map(|i| pool[i]).collect::<Vec<_>>();
    let (train, valid) = (back(train), back(valid));
    if train.is_empty() || valid.is_empty() {
        let reason = format!(
            "{} images leave an empty train or validation part (the split is made class by \
             class): use more images (train_subset) or another valid_fraction",
            pool.len()
        );
        return Err(NasError::Config {
            setting: "train_subset / valid_fraction",
            reason,
        });
    }
    Ok((train, valid))
}

/// A class-balanced, seeded choice of about `limit` images of `data` (all of them without a
/// limit or with one at least their number), sorted.
pub fn balanced_subset<D: ImageDataset>(data: &D, limit: Option<usize>, seed: u64) -> Vec<usize> {
    match limit {
        Some(n) if n < data.len() => stratified_split(data, n as f64 / data.len() as f64, seed).0,
        _ => (0..data.len()).collect(),
    }
}
