//! `bionas eval`: rebuilds a trained run's network from its folder, loads a checkpoint and
//! measures validation and test accuracy and loss.

use anyhow::{Context, Result, bail};
use bionas::backend::Selected;
use bionas::bio_rules::RuleBackend;
use bionas::datasets::ImageDataset;
use bionas::nas::Selection;
use bionas::nas::train::{evaluate, load_checkpoint};
use bionas::search_space::Network;
use clap::{Args, ValueEnum};
use serde::Serialize;
use std::path::{Path, PathBuf};

use crate::data::AnyDataset;
use crate::output::write_json;
use crate::progress::Progress;
use crate::setup::TrainRecord;
use crate::train::split;

/// Examples of `bionas eval --help`.
const EXAMPLES: &str = "Examples:
  bionas eval runs/train
  bionas eval runs/train --checkpoint last --batch-size 256
  bionas eval runs/train --data /data/cifar-10-batches-bin   # the data moved
  bionas eval runs/train --test-only

Writes eval-best.json (or eval-last.json) into the run folder.";

/// Arguments of `bionas eval`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct EvalArgs {
    /// A run folder written by `bionas train`.
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Which checkpoint: the best validation epoch or the last epoch.
    #[arg(long, value_enum, default_value_t = Checkpoint::Best)]
    pub checkpoint: Checkpoint,
    /// The data folder, when it is no longer where the run read it.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Images per evaluation batch (default: the run's training batch size).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Skip the validation split (which needs the training images).
    #[arg(long)]
    pub test_only: bool,
}

/// The checkpoints a run folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Checkpoint {
    /// `best.mpk`: the epoch with the best validation accuracy.
    Best,
    /// `last.mpk`: the last epoch.
    Last,
}

impl Checkpoint {
    /// Its name: `best` or `last`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Best => "best",
            Self::Last => "last",
        }
    }
}

/// Loss and accuracy of one split.
#[derive(Clone, Copy, Debug, Serialize)]
struct Score {
    /// Images measured.
    images: usize,
    /// Mean cross-entropy.
    loss: f64,
    /// Accuracy in [0, 1].
    accuracy: f64,
}

/// What `eval-<checkpoint>.json` holds.
#[derive(Debug, Serialize)]
struct EvalReport {
    /// `best` or `last`.
    checkpoint: &'static str,
    /// The validation split, unless skipped.
    valid: Option<Score>,
    /// The test set.
    test: Score,
}

/// The record of the run folder `dir`, with the data folder replaced by `data` if given.
pub fn record_with_data(dir: &Path, data: Option<&PathBuf>) -> Result<TrainRecord> {
    let mut record = TrainRecord::load(dir)?;
    if let Some(path) = data {
        record.setup.data.path = Some(path.clone());
    }
    Ok(record)
}

/// Rebuilds the run's network on backend `R` and loads its `checkpoint`.
pub fn load_model<R: RuleBackend>(
    dir: &Path,
    record: &TrainRecord,
    checkpoint: Checkpoint,
) -> Result<Network<R>> {
    let device = Default::default();
    let model = record
        .network
        .init::<R>(&device)
        .context("cannot rebuild the run's network")?;
    let path = dir.join(format!("{}.mpk", checkpoint.name()));
    if !path.is_file() {
        bail!("{} holds no checkpoint {}", dir.display(), path.display());
    }
    Ok(load_checkpoint(&path, model, &device)?)
}

/// Runs `bionas eval`.
pub fn run(args: &EvalArgs) -> Result<()> {
    if args.batch_size == Some(0) {
        bail!("--batch-size must be at least 1");
    }
    let record = record_with_data(&args.run, args.data.as_ref())?;
    let model = load_model::<Selected>(&args.run, &record, args.checkpoint)?;
    let batch = args
        .batch_size
        .unwrap_or(record.setup.train.batch_size)
        .max(1);
    let data = &record.setup.data;
    let mut progress = Progress::new();
    let valid = if args.test_only {
        None
    } else {
        Some(valid_score(&record, &model, batch, &mut progress)?)
    };
    let test_set = data.load_test()?;
    let all: Vec<usize> = (0..test_set.len()).collect();
    let test = score(&model, (&test_set, &all), batch, "test", &mut progress)?;
    let report = EvalReport {
        checkpoint: args.checkpoint.name(),
        valid,
        test,
    };
    print_score("valid", report.valid.as_ref());
    print_score("test", Some(&report.test));
    let name = format!("eval-{}.json", report.checkpoint);
    write_json(&args.run.join(name), &report)?;
    Ok(())
}

/// The score on the run's validation split, rebuilt from its settings and seed.
fn valid_score(
    record: &TrainRecord,
    model: &Network<Selected>,
    batch: usize,
    progress: &mut Progress,
) -> Result<Score> {
    let (train, valid) = record.setup.data.load_train()?;
    let (_, valid_idx) = split(&record.setup, &train, valid.as_ref())?;
    let set = valid.as_ref().unwrap_or(&train);
    score(model, (set, &valid_idx), batch, "valid", progress)
}

/// Loss and accuracy of `model` on `indices` of `set`, batch by batch with progress.
fn score(
    model: &Network<Selected>,
    (set, indices): (&AnyDataset, &[usize]),
    batch: usize,
    label: &str,
    progress: &mut Progress,
) -> Result<Score> {
    let device = Default::default();
    let chunks: Vec<&[usize]> = indices.chunks(batch).collect();
    progress.start(label, chunks.len());
    let (mut loss, mut correct, mut seen) = (0.0, 0.0, 0);
    for chunk in chunks {
        let (l, acc) = evaluate(model, Selection::new(set, chunk), batch, &device)?;
        loss += l * chunk.len() as f64;
        correct += acc * chunk.len() as f64;
        seen += chunk.len();
        progress.step(&format!("acc {:.1}%", 100.0 * correct / seen as f64));
    }
    progress.finish();
    let n = indices.len().max(1) as f64;
    Ok(Score {
        images: indices.len(),
        loss: loss / n,
        accuracy: correct / n,
    })
}

/// Prints one split's line.
fn print_score(name: &str, score: Option<&Score>) {
    if let Some(s) = score {
        println!(
            "{name:>5}: accuracy {:.2}%, loss {:.4} ({} images)",
            100.0 * s.accuracy,
            s.loss,
            s.images
        );
    }
}
