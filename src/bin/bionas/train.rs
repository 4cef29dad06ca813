//! `bionas train`: retrains a genotype from scratch, selects the model on a held-out
//! validation split, measures the test set once at the end, and writes a run folder that
//! `eval` and `attack` read back.

use anyhow::Result;
use bionas::backend::{Autodiff, Selected};
use bionas::bio_rules::{LearningRule, ParamCounts};
use bionas::datasets::ImageDataset;
use bionas::nas::train::balanced_subset;
use bionas::nas::{self, DropPathSchedule, RunDir, Selection, TrainData, TrainEpoch};
use bionas::nas::{TrainObserver, TrainOutcome};
use bionas::search_space::{FeedbackLen, Network};
use burn::tensor::backend::Backend;
use clap::{Args, ValueEnum};
use std::path::PathBuf;

use crate::config::{self, ConfigFile, Preset};
use crate::data::{AnyDataset, DataSettings, DatasetKind, Loaded};
use crate::output;
use crate::progress::Progress;
use crate::setup::{ImageCounts, TrainRecord, TrainSetup};

/// The backend that trains.
type B = Autodiff<Selected>;

/// Examples of `bionas train --help`.
const EXAMPLES: &str = "Examples:
  bionas train                                    # BIODARTS, quick preset, the sample
  bionas train --genotype runs/search/genotype.json --out runs/train
  bionas train --rule fa --skeleton-rule fa       # a single-rule network
  bionas train --config train.toml --epochs 20    # flags override the file
  bionas train --dataset cifar100 --data cifar-100-binary --preset paper
  bionas train --print-config > train.json       # the resolved settings
  bionas train --resume runs/train                # continue a stopped run

The run folder holds config.json (what eval and attack rebuild the network from),
genotype.json, cells.svg, cells.dot, metrics.csv, curves.svg, best.mpk, last.mpk and
result.json, and checkpoint.bin after every epoch (model, optimiser, history): a run
stopped at any moment, even by kill -9, continues with --resume from its last finished
epoch and ends as an uninterrupted run would. A config file (JSON or TOML) holds the settings --print-config shows, any of
them left out.";

/// Arguments of `bionas train`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct TrainArgs {
    /// Starting settings; the config file and then the flags override them.
    #[arg(long, value_enum, default_value_t = Preset::Quick)]
    pub preset: Preset,
    /// Settings file (.json or .toml), applied over the preset.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the resolved settings as JSON and exit.
    #[arg(long)]
    pub print_config: bool,
    /// The genotype: biodarts, darts_v2, a JSON file or a DARTS-form file.
    #[arg(long)]
    pub genotype: Option<String>,
    /// Put every convolution of the cells on this rule (a single-rule baseline).
    #[arg(long)]
    pub rule: Option<LearningRule>,
    /// Rule of the stem, preprocessing, stride-2 skips, classifier and auxiliary head.
    #[arg(long)]
    pub skeleton_rule: Option<LearningRule>,
    /// The data set.
    #[arg(long, value_enum)]
    pub dataset: Option<DatasetKind>,
    /// Its folder (default: the CIFAR-10 sample in datasets/).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// CIFAR-100 only: the 20 coarse labels instead of the 100 fine ones.
    #[arg(long)]
    pub coarse: bool,
    /// Image folder only: side of the training and evaluation crops (default 224).
    #[arg(long)]
    pub crop: Option<usize>,
    /// Use only this many training images (class-balanced), before the validation split.
    #[arg(long)]
    pub train_subset: Option<usize>,
    /// Share of the training images held out for model selection.
    #[arg(long)]
    pub valid_fraction: Option<f64>,
    /// Cutout length in pixels, CIFAR only (0: off).
    #[arg(long)]
    pub cutout: Option<usize>,
    /// Initial channels C.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Number of cells.
    #[arg(long)]
    pub cells: Option<usize>,
    /// Auxiliary head on or off.
    #[arg(long)]
    pub auxiliary: Option<bool>,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Images per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Initial learning rate.
    #[arg(long)]
    pub lr: Option<f64>,
    /// SGD momentum.
    #[arg(long)]
    pub momentum: Option<f64>,
    /// L2 weight decay.
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Largest global gradient norm.
    #[arg(long)]
    pub grad_clip: Option<f64>,
    /// Drop-path probability.
    #[arg(long)]
    pub drop_path: Option<f64>,
    /// Drop-path schedule: linear (ramp from 0, the DARTS script) or constant (the paper's
    /// released code).
    #[arg(long, value_enum)]
    pub drop_path_schedule: Option<Schedule>,
    /// Weight of the auxiliary head's loss.
    #[arg(long)]
    pub auxiliary_weight: Option<f64>,
    /// Label smoothing of the cross-entropy.
    #[arg(long)]
    pub label_smoothing: Option<f64>,
    /// Seed of the weights, the split, shuffling, augmentation and drop-path.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder (default: runs/train-<time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the stopped run in this folder from its last checkpoint, with the
    /// settings it recorded (only --data may be given again, if the data moved).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = [
            "preset", "config", "print_config", "genotype", "rule", "skeleton_rule",
            "dataset", "coarse", "crop", "train_subset", "valid_fraction", "cutout",
            "channels", "cells", "auxiliary", "epochs", "batch_size", "lr", "momentum",
            "weight_decay", "grad_clip", "drop_path", "drop_path_schedule",
            "auxiliary_weight", "label_smoothing", "seed", "out",
        ]
    )]
    pub resume: Option<PathBuf>,
}

/// Drop-path schedules, as flags.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Schedule {
    /// From 0 up to the probability over the epochs.
    Linear,
    /// The probability at every epoch.
    Constant,
}

impl TrainArgs {
    /// The settings: the preset (for the data set chosen by the flags or the file), then
    /// the config file, then the flags.
    pub fn setup(&self) -> Result<TrainSetup> {
        let file = match &self.config {
            Some(path) => Some(ConfigFile::read::<TrainSetup>(path)?),
            None => None,
        };
        let from_file = file
            .as_ref()
            .and_then(|f| f.get("/data/dataset"))
            .and_then(|v| serde_json::from_value::<DatasetKind>(v.clone()).ok());
        let dataset = self.dataset.or(from_file).unwrap_or_default();
        let preset = TrainSetup::preset(self.preset, dataset);
        let mut setup = match &file {
            Some(file) => file.over(&preset)?,
            None => preset,
        };
        self.apply(&mut setup);
        Ok(setup)
    }

    /// Writes the flags given onto `setup`.
    fn apply(&self, s: &mut TrainSetup) {
        set(&mut s.genotype, self.genotype.clone());
        if self.rule.is_some() {
            s.rule = self.rule;
        }
        set(&mut s.network.skeleton_rule, self.skeleton_rule);
        set(&mut s.network.channels, self.channels);
        set(&mut s.network.cells, self.cells);
        set(&mut s.network.auxiliary, self.auxiliary);
        self.apply_data(&mut s.data);
        let t = &mut s.train;
        set(&mut t.epochs, self.epochs);
        set(&mut t.batch_size, self.batch_size);
        set(&mut t.lr, self.lr);
        set(&mut t.momentum, self.momentum);
        set(&mut t.weight_decay, self.weight_decay);
        set(&mut t.grad_clip, self.grad_clip);
        set(&mut t.drop_path, self.drop_path);
        set(&mut t.auxiliary_weight, self.auxiliary_weight);
        set(&mut t.label_smoothing, self.label_smoothing);
        set(&mut t.seed, self.seed);
        set(
            &mut t.drop_path_schedule,
            self.drop_path_schedule.map(|s| match s {
                Schedule::Linear => DropPathSchedule::Linear,
                Schedule::Constant => DropPathSchedule::Constant,
            }),
        );
    }

    /// Writes the data flags given onto `data`.
    fn apply_data(&self, data: &mut DataSettings) {
        set(&mut data.dataset, self.dataset);
        if self.data.is_some() {
            data.path = self.data.clone();
        }
        data.coarse |= self.coarse;
        if self.crop.is_some() {
            data.crop = self.crop;
        }
        if self.train_subset.is_some() {
            data.train_subset = self.train_subset;
        }
        set(&mut data.valid_fraction, self.valid_fraction);
        set(&mut data.cutout, self.cutout);
    }
}

/// Replaces `slot` with the flag's value when the flag was given.
fn set<T>(slot: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *slot = value;
    }
}

/// Runs `bionas train`.
pub fn run(args: &TrainArgs) -> Result<()> {
    if let Some(dir) = &args.resume {
        return resume(dir, args.data.as_ref());
    }
    let mut setup = args.setup()?;
    setup.check()?;
    if args.print_config {
        return config::print_json(&setup);
    }
    let dir = setup.data.dir()?;
    setup.data.path = Some(std::fs::canonicalize(&dir).unwrap_or(dir));
    let loaded = setup.data.load()?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| output::default_run_dir("train"));
    train(&setup, &loaded, RunDir::create(out)?)
}

/// The training and validation indices: the data set's own validation split when it has
/// one, else a class-balanced held-out share of the training images.
pub fn split(
    setup: &TrainSetup,
    train: &AnyDataset,
    valid: Option<&AnyDataset>,
) -> Result<(Vec<usize>, Vec<usize>)> {
    let data = &setup.data;
    let seed = setup.train.seed;
    Ok(match valid {
        Some(valid) => (
            balanced_subset(train, data.train_subset, seed),
            (0..valid.len()).collect(),
        ),
        None => nas::holdout(train, data.train_subset, data.valid_fraction, seed)?,
    })
}

/// Continues the run in `dir` from its checkpoint, with the settings it recorded.
fn resume(dir: &std::path::Path, data: Option<&PathBuf>) -> Result<()> {
    let mut record = TrainRecord::load(dir)?;
    if let Some(data) = data {
        record.setup.data.path = Some(data.clone());
    }
    let setup = &record.setup;
    let loaded = setup.data.load()?;
    let (train_idx, valid_idx) = split(setup, &loaded.train, loaded.valid.as_ref())?;
    let test_idx: Vec<usize> = (0..loaded.test.len()).collect();
    let device = Default::default();
    <B as Backend>::seed(&device, setup.train.seed);
    set_task(setup);
    let model: Network<B> = record.network.init(&device)?;
    let run = RunDir::open(dir)?;
    println!("resuming {}", dir.display());
    let data = TrainData {
        train: Selection::new(&loaded.train, &train_idx),
        valid: Selection::new(loaded.valid.as_ref().unwrap_or(&loaded.train), &valid_idx),
        test: Some(Selection::new(&loaded.test, &test_idx)),
    };
    let mut progress = TrainProgress(Progress::new());
    let outcome = nas::resume_training(model, &setup.train, data, &run, &mut progress)?;
    report(&outcome, &run);
    Ok(())
}

/// Builds the network, records the run and trains it.
fn train(setup: &TrainSetup, loaded: &Loaded, run: RunDir) -> Result<()> {
    let (train_idx, valid_idx) = split(setup, &loaded.train, loaded.valid.as_ref())?;
    let test_idx: Vec<usize> = (0..loaded.test.len()).collect();
    let genotype = setup.genotype()?;
    let network = setup.network_config(genotype.clone(), loaded.train.num_classes());
    let device = Default::default();
    <B as Backend>::seed(&device, setup.train.seed);
    set_task(setup);
    let model: Network<B> = network.init(&device)?;
    let images = ImageCounts {
        train: train_idx.len(),
        valid: valid_idx.len(),
        test: test_idx.len(),
    };
    let record = TrainRecord {
        setup: setup.clone(),
        network,
        images,
    };
    write_record(&run, &record)?;
    describe(&record, &model, &run);
    let data = TrainData {
        train: Selection::new(&loaded.train, &train_idx),
        valid: Selection::new(loaded.valid.as_ref().unwrap_or(&loaded.train), &valid_idx),
        test: Some(Selection::new(&loaded.test, &test_idx)),
    };
    let mut progress = TrainProgress(Progress::new());
    let outcome = nas::train(model, &setup.train, data, &run, &mut progress)?;
    report(&outcome, &run);
    Ok(())
}

/// Tells the memory budget what runs: building a large network may already exceed it.
fn set_task(setup: &TrainSetup) {
    nas::memory::set_task(nas::memory::Task::Train {
        batch_size: setup.train.batch_size,
    });
}

/// Writes `config.json`, `genotype.json`, `cells.svg` and `cells.dot`.
fn write_record(run: &RunDir, record: &TrainRecord) -> Result<()> {
    let genotype = &record.network.genotype;
    run.write_json(TrainRecord::FILE, record)?;
    genotype.save(run.path().join("genotype.json"))?;
    run.write_atomic("cells.svg", genotype.to_svg().as_bytes())?;
    run.write_atomic("cells.dot", genotype.to_dot().as_bytes())?;
    Ok(())
}

/// Prints what is about to be trained, on what.
fn describe(record: &TrainRecord, model: &Network<B>, run: &RunDir) {
    let network = &record.network;
    let images = record.images;
    println!("genotype {}", network.genotype);
    println!(
        "C={}, {} cells, {} trained parameters, {} feedback values apart; skeleton on {}",
        network.channels,
        network.layers,
        ParamCounts::of(model).trained,
        model.feedback_len(),
        network.skeleton_rule.name()
    );
    let data = record.setup.data.path.as_deref().unwrap_or(".".as_ref());
    println!(
        "{} train / {} valid / {} test images from {}; writing to {}",
        images.train,
        images.valid,
        images.test,
        data.display(),
        run.path().display()
    );
}

/// Prints the outcome.
fn report(outcome: &TrainOutcome<B>, run: &RunDir) {
    let test = outcome.test.map_or("-".into(), |(acc, loss)| {
        format!("{:.2}% (loss {loss:.3})", 100.0 * acc)
    });
    println!(
        "best epoch {} (valid acc {:.2}%); test acc {test}",
        outcome.best_epoch,
        100.0 * outcome.best_valid_acc
    );
    println!("run folder: {}", run.path().display());
}

/// A retraining's progress: a bar per epoch and a summary line per epoch.
struct TrainProgress(Progress);

impl TrainObserver for TrainProgress {
    fn epoch_started(&mut self, epoch: usize, steps: usize) {
        self.0.start(format!("epoch {epoch}"), steps);
    }

    fn step_done(&mut self, _epoch: usize, _step: usize, loss: f32) {
        self.0.step(&format!("loss {loss:.3}"));
    }

    fn epoch_done(&mut self, r: &TrainEpoch) {
        self.0.finish();
        self.0.line(&format!(
            "epoch {:>3} | lr {:.4} | drop-path {:.3} | train loss {:.3} acc {:5.1}% | valid \
             loss {:.3} acc {:5.1}% | {:.0}s",
            r.epoch,
            r.lr,
            r.drop_path,
            r.train_loss,
            100.0 * r.train_acc,
            r.valid_loss,
            100.0 * r.valid_acc,
            r.seconds
        ));
    }
}
