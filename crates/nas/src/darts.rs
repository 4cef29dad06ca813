//! First-order DARTS over the rule-augmented supernet.

use bio_rules::{AlignmentProbe, RuleBackend};
use burn::module::AutodiffModule;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{Adam, AdamConfig, GradientsParams, Optimizer, Sgd, decay::WeightDecayConfig};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor};
use datasets::{
    Augmentation, Cifar10, CifarBatcher, CifarItem, ImageBatch, Normalization, split_in_two,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use search_space::{Genotype, Supernet, SupernetConfig};
use std::time::Instant;

use crate::alignment::{AlignmentLog, AlignmentSample, LAYER_CSV_HEADER, RULE_CSV_HEADER};
use crate::clip::clip_global_norm;
use crate::config::cosine_lr;
use crate::report::{EpochReport, SearchObserver, StepReport};
use crate::{NasError, Result, RunDir, SearchConfig};

/// The two halves of the training images: one trains the weights, the other `α`.
#[derive(Clone, Debug)]
pub struct SearchData {
    /// Images for the weight steps.
    pub weights: Cifar10,
    /// Images for the architecture steps, also evaluated after each epoch (DARTS' validation).
    pub arch: Cifar10,
}

impl SearchData {
    /// Takes the configured subset of `train` and splits it by `train_fraction`.
    pub fn split(train: &Cifar10, config: &SearchConfig) -> Result<Self> {
        let subset;
        let data = match config.train_subset {
            Some(n) if n < train.len() => {
                subset = train.subset(n, config.seed);
                &subset
            }
            Some(n) => {
                log::warn!(
                    "train_subset {n} exceeds the {} images available; using all",
                    train.len()
                );
                train
            }
            None => train,
        };
        let (first, second) = split_in_two(data.len(), config.train_fraction, config.seed);
        if first.is_empty() || second.is_empty() {
            let reason = format!(
                "{} images cannot be split in two non-empty halves",
                data.len()
            );
            return Err(NasError::Config {
                setting: "train_subset",
                reason,
            });
        }
        Ok(Self {
            weights: data.select(&first)?,
            arch: data.select(&second)?,
        })
    }
}

/// What a finished search returns.
#[derive(Debug)]
pub struct SearchOutcome<B: Backend> {
    /// The genotype derived after the last epoch.
    pub genotype: Genotype,
    /// One report per epoch.
    pub reports: Vec<EpochReport>,
    /// The trained supernet.
    pub supernet: Supernet<B>,
    /// The alignment probes (empty unless `alignment_every` is set).
    pub alignment: AlignmentLog,
}

/// Runs first-order DARTS: per step, an Adam step on `α` with a batch of the architecture
/// half, then an SGD step on the weights with a batch of the weight half. Both see the
/// rule-modified gradients. With `run`, the settings, the genotype after each epoch and
/// the metrics are written there.
pub fn search<B>(
    config: &SearchConfig,
    data: &SearchData,
    device: &B::Device,
    run: Option<&RunDir>,
    observer: &mut dyn SearchObserver,
) -> Result<SearchOutcome<B>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
{
    config.validate()?;
    if let Some(run) = run {
        run.write_json("config.json", config)?;
        run.write_atomic(
            "metrics.csv",
            format!("{}\n", EpochReport::CSV_HEADER).as_bytes(),
        )?;
        if config.alignment_every > 0 {
            run.write_atomic("alignment.csv", format!("{LAYER_CSV_HEADER}\n").as_bytes())?;
            let header = format!("{RULE_CSV_HEADER}\n");
            run.write_atomic("alignment_rules.csv", header.as_bytes())?;
        }
    }
    B::seed(device, config.seed);
    let mut state = SearchState::<B>::new(config, device)?;
    let mut reports = Vec::with_capacity(config.epochs);
    let mut genotype = None;
    let mut written = 0;
    for epoch in 0..config.epochs {
        let (report, derived) = state.epoch(epoch, data, observer)?;
        log::info!(
            "epoch {epoch}: train acc {:.3}, valid acc {:.3}, {:.1}s",
            report.train_acc,
            report.valid_acc,
            report.seconds
        );
        if let Some(run) = run {
            record_epoch(run, &report, &derived)?;
            record_alignment(run, &state.alignment, &mut written)?;
        }
        observer.epoch_done(&report);
        reports.push(report);
        genotype = Some(derived);
    }
    let genotype = genotype.unwrap_or_else(|| state.model.genotype());
    Ok(SearchOutcome {
        genotype,
        reports,
        supernet: state.model,
        alignment: state.alignment,
    })
}

/// Appends the probes not written yet to the CSV files and redraws the picture.
fn record_alignment(run: &RunDir, log: &AlignmentLog, written: &mut usize) -> Result<()> {
    if log.samples.len() == *written {
        return Ok(());
    }
    for sample in &log.samples[*written..] {
        for row in sample.csv_rows() {
            run.append_line("alignment.csv", &row)?;
        }
        for row in sample.rule_rows() {
            run.append_line("alignment_rules.csv", &row)?;
        }
    }
    *written = log.samples.len();
    run.write_atomic("alignment.svg", log.to_svg().as_bytes())
}

fn record_epoch(run: &RunDir, report: &EpochReport, genotype: &Genotype) -> Result<()> {
    run.write_json("genotype.json", genotype)?;
    run.write_atomic("cells.svg", genotype.to_svg().as_bytes())?;
    let line = serde_json::json!({ "epoch": report.epoch, "genotype": genotype });
    run.append_line("genotypes.jsonl", &line.to_string())?;
    let metrics = serde_json::to_string(report).unwrap_or_default();
    run.append_line("metrics.jsonl", &metrics)?;
    run.append_line("metrics.csv", &report.csv_row())
}

struct SearchState<B: AutodiffBackend + RuleBackend> {
    config: SearchConfig,
    device: B::Device,
    model: Supernet<B>,
    rng: StdRng,
    train_batcher: CifarBatcher,
    eval_batcher: CifarBatcher,
    loss: CrossEntropyLoss<B>,
    arch_opt: OptimizerAdaptor<Adam, Supernet<B>, B>,
    weight_opt: OptimizerAdaptor<Sgd<B::InnerBackend>, Supernet<B>, B>,
    /// Weight steps taken since the start.
    global_step: usize,
    alignment: AlignmentLog,
}

/// Running sums of an epoch.
#[derive(Default)]
struct Totals {
    train_loss: f64,
    train_correct: usize,
    arch_loss: f64,
    images: usize,
    steps: usize,
}

impl<B> SearchState<B>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
{
    fn new(config: &SearchConfig, device: &B::Device) -> Result<Self> {
        let model = SupernetConfig::new()
            .with_channels(config.channels)
            .with_layers(config.layers)
            .with_rules(config.rules.clone())
            .with_skeleton_rule(config.skeleton_rule)
            .init::<B>(device)?;
        let a = &config.arch;
        let arch_opt = AdamConfig::new()
            .with_beta_1(a.beta1 as f32)
            .with_beta_2(a.beta2 as f32)
            .with_epsilon(1e-8)
            .with_weight_decay(Some(WeightDecayConfig::new(a.weight_decay as f32)))
            .init::<B, Supernet<B>>();
        let weight_opt = config.weights.sgd::<B, Supernet<B>>();
        let augmentation = config.augment.then_some(Augmentation::STANDARD);
        Ok(Self {
            config: config.clone(),
            device: device.clone(),
            model,
            rng: StdRng::seed_from_u64(config.seed),
            train_batcher: CifarBatcher {
                normalization: Normalization::CIFAR10,
                augmentation,
            },
            eval_batcher: CifarBatcher::eval(),
            loss: CrossEntropyLossConfig::new().init(device),
            arch_opt,
            weight_opt,
            global_step: 0,
            alignment: AlignmentLog::default(),
        })
    }

    fn epoch(
        &mut self,
        epoch: usize,
        data: &SearchData,
        observer: &mut dyn SearchObserver,
    ) -> Result<(EpochReport, Genotype)> {
        let start = Instant::now();
        let c = &self.config;
        let lr = cosine_lr(c.weights.lr, c.weights.lr_min, epoch, c.epochs);
        let bs = c.batch_size;
        let mut weight_order: Vec<usize> = (0..data.weights.len()).collect();
        let mut arch_order: Vec<usize> = (0..data.arch.len()).collect();
        weight_order.shuffle(&mut self.rng);
        arch_order.shuffle(&mut self.rng);
        let steps = weight_order.len().div_ceil(bs);
        observer.epoch_started(epoch, steps);
        let mut totals = Totals::default();
        for (step, chunk) in weight_order.chunks(bs).enumerate() {
            let arch_chunk = cycle(&arch_order, step * bs, chunk.len());
            let arch_loss = self.arch_step(&pick(&data.arch, &arch_chunk), epoch, step)?;
            let (train_loss, correct) =
                self.weight_step(&pick(&data.weights, chunk), lr, epoch, step, observer)?;
            totals.add(train_loss, correct, arch_loss, chunk.len());
            let report = StepReport {
                epoch,
                step,
                steps,
                train_loss,
                arch_loss,
            };
            observer.step_done(&report);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        observer.evaluating(epoch);
        let (valid_loss, valid_acc) = self.evaluate(&data.arch);
        let genotype = self.model.genotype();
        let report = self.report(
            epoch,
            lr,
            &totals,
            (valid_loss, valid_acc),
            &genotype,
            train_seconds,
            start,
        );
        Ok((report, genotype))
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        epoch: usize,
        lr: f64,
        t: &Totals,
        (valid_loss, valid_acc): (f64, f64),
        genotype: &Genotype,
        train_seconds: f64,
        start: Instant,
    ) -> EpochReport {
        let [normal, reduce] = self.model.alpha_weights();
        let (max_abs, entropy) = alpha_stats(&self.model, &normal, &reduce);
        let steps = t.steps.max(1) as f64;
        EpochReport {
            epoch,
            lr,
            train_loss: t.train_loss / steps,
            train_acc: t.train_correct as f64 / t.images.max(1) as f64,
            arch_loss: t.arch_loss / steps,
            valid_loss,
            valid_acc,
            alpha_max_abs: max_abs,
            alpha_entropy: entropy,
            seconds: start.elapsed().as_secs_f64(),
            images_per_second: (2 * t.images) as f64 / train_seconds.max(1e-9),
            genotype: genotype.to_string(),
        }
    }

    /// An augmented training batch, drawn with the search's generator.
    fn batch(&mut self, items: &[&CifarItem]) -> ImageBatch<B> {
        self.train_batcher
            .batch_with_rng::<B>(items, &mut self.rng, &self.device)
    }

    /// Forward pass on a batch: the loss, its value (checked finite) and the number of
    /// correct predictions.
    fn loss_of(
        &self,
        batch: ImageBatch<B>,
        phase: &'static str,
        epoch: usize,
        step: usize,
    ) -> Result<(Tensor<B, 1>, f32, usize)> {
        let logits = self.model.forward(batch.images);
        let correct = count_correct(&logits, &batch.targets);
        let loss = self.loss.forward(logits, batch.targets);
        let value = finite(scalar(&loss), phase, epoch, step)?;
        Ok((loss, value, correct))
    }

    fn arch_step(&mut self, items: &[&CifarItem], epoch: usize, step: usize) -> Result<f32> {
        let batch = self.batch(items);
        let (loss, value, _) = self.loss_of(batch, "architecture", epoch, step)?;
        let mut grads = loss.backward();
        let ids = self.model.alpha_ids();
        let grads = GradientsParams::from_params(&mut grads, &self.model, &ids);
        let model = self.model.clone();
        self.model = self.arch_opt.step(self.config.arch.lr, model, grads);
        Ok(value)
    }

    fn weight_step(
        &mut self,
        items: &[&CifarItem],
        lr: f64,
        epoch: usize,
        step: usize,
        observer: &mut dyn SearchObserver,
    ) -> Result<(f32, usize)> {
        let batch = self.batch(items);
        let every = self.config.alignment_every;
        let probe = every > 0 && self.global_step.is_multiple_of(every);
        let (value, correct, grads) = if probe {
            let (out, sample) = self.probed_step(batch, epoch, step)?;
            observer.alignment_done(&sample);
            self.alignment.push(sample);
            out
        } else {
            let (loss, value, correct) = self.loss_of(batch, "weight", epoch, step)?;
            (value, correct, loss.backward())
        };
        self.global_step += 1;
        let mut grads = GradientsParams::from_grads(grads, &self.model);
        for id in self.model.alpha_ids() {
            grads.remove::<B::InnerBackend, 2>(id);
        }
        clip_global_norm(&self.model, &mut grads, self.config.weights.grad_clip);
        let model = self.model.clone();
        self.model = self.weight_opt.step(lr, model, grads);
        Ok((value, correct))
    }

    /// The weight step's forward and backward pass with an alignment probe: first a
    /// back-propagation pass on the same batch (its batch-norm updates undone), then the
    /// ordinary pass, recorded.
    #[allow(clippy::type_complexity)]
    fn probed_step(
        &mut self,
        batch: ImageBatch<B>,
        epoch: usize,
        step: usize,
    ) -> Result<((f32, usize, B::Gradients), AlignmentSample)> {
        let probe = AlignmentProbe::new(self.model.hub);
        let (out, layers) = probe.measure::<B, _, _>(&self.model, || {
            let (loss, value, correct) = self.loss_of(batch.clone(), "weight", epoch, step)?;
            Ok::<_, NasError>((value, correct, loss.backward()))
        });
        let out = out?;
        let sample = AlignmentSample {
            epoch,
            step: self.global_step,
            layers,
        };
        Ok((out, sample))
    }

    /// Loss and accuracy on `data` without augmentation, batch norms on running statistics.
    fn evaluate(&self, data: &Cifar10) -> (f64, f64) {
        let model = self.model.valid();
        let loss_fn = CrossEntropyLossConfig::new().init(&self.device);
        let items: Vec<&CifarItem> = data.items().iter().collect();
        let mut rng = StdRng::seed_from_u64(0);
        let (mut loss, mut correct) = (0.0, 0);
        for chunk in items.chunks(self.config.batch_size * 2) {
            let batch =
                self.eval_batcher
                    .batch_with_rng::<B::InnerBackend>(chunk, &mut rng, &self.device);
            let logits = model.forward(batch.images);
            correct += count_correct(&logits, &batch.targets);
            let batch_loss = loss_fn.forward(logits, batch.targets);
            loss += scalar(&batch_loss) as f64 * chunk.len() as f64;
        }
        let n = items.len().max(1) as f64;
        (loss / n, correct as f64 / n)
    }
}

impl Totals {
    fn add(&mut self, train_loss: f32, correct: usize, arch_loss: f32, images: usize) {
        self.train_loss += train_loss as f64;
        self.train_correct += correct;
        self.arch_loss += arch_loss as f64;
        self.images += images;
        self.steps += 1;
    }
}

fn pick<'a>(data: &'a Cifar10, indices: &[usize]) -> Vec<&'a CifarItem> {
    indices.iter().map(|&i| &data.items()[i]).collect()
}

/// `len` indices of `order` starting at `start`, wrapping around.
fn cycle(order: &[usize], start: usize, len: usize) -> Vec<usize> {
    (0..len).map(|i| order[(start + i) % order.len()]).collect()
}

fn scalar<B: Backend>(loss: &Tensor<B, 1>) -> f32 {
    loss.clone().into_scalar().elem::<f32>()
}

fn finite(value: f32, phase: &'static str, epoch: usize, step: usize) -> Result<f32> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(NasError::Diverged {
            phase,
            epoch,
            step,
            value,
        })
    }
}

/// Correct arg-max predictions in a batch.
pub(crate) fn count_correct<B: Backend>(
    logits: &Tensor<B, 2>,
    targets: &Tensor<B, 1, Int>,
) -> usize {
    let [n, _] = logits.dims();
    let predicted = logits.clone().argmax(1).reshape([n]);
    let hits = predicted.equal(targets.clone()).int().sum().into_scalar();
    hits.elem::<i64>() as usize
}

fn alpha_stats<B: Backend>(
    model: &Supernet<B>,
    normal: &[Vec<f32>],
    reduce: &[Vec<f32>],
) -> (f64, f64) {
    let max_abs = [model.alpha_normal.val(), model.alpha_reduce.val()]
        .into_iter()
        .map(|a| a.abs().max().into_scalar().elem::<f32>() as f64)
        .fold(0.0, f64::max);
    let rows: Vec<&Vec<f32>> = normal.iter().chain(reduce).collect();
    let entropy: f64 = rows
        .iter()
        .map(|row| {
            row.iter()
                .filter(|&&p| p > 0.0)
                .map(|&p| -(p as f64) * (p as f64).ln())
                .sum::<f64>()
        })
        .sum();
    (max_abs, entropy / rows.len().max(1) as f64)
}
