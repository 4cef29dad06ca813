//! `bionas search`: a search over (operation, rule) candidates on CIFAR-10: first- or
//! second-order DARTS, EG-NAS or random search, in the DARTS or NAS-Bench-201 space.
//!
//! The settings are one [`SearchConfig`], built in layers: the preset, then the config
//! file (`--config`, any of its settings), then the flags. New settings of
//! `SearchConfig` are read from config files and shown by `--print-config` without any
//! change here; a flag for one is a field of [`SearchArgs`] and a line of
//! [`SearchArgs::apply`].

use anyhow::{Context, Result, bail};
use bionas::backend::{Autodiff, Selected};
use bionas::bio_rules::LearningRule;
use bionas::datasets::{Cifar10, Split};
use bionas::nas::{self, AlignmentSample, EpochReport, RunDir, SearchConfig, SearchData};
use bionas::nas::{EgNasConfig, RandomConfig, SearchObserver, SpaceKind, StepReport, Strategy};
use clap::{Args, ValueEnum};
use std::path::PathBuf;

use crate::config::{self, Preset};
use crate::data::SAMPLE_DIR;
use crate::output;
use crate::progress::Progress;

/// Examples of `bionas search --help`.
const EXAMPLES: &str = "Examples:
  bionas search                                   # quick preset on the sample
  bionas search --data /data/cifar-10-batches-bin --train-subset 10000 --epochs 10
  bionas search --rules fa,usf,brsf,frsf,dfa,hebbian --alignment-every 5
  bionas search --config search.toml --epochs 1   # flags override the file
  bionas search --preset paper --print-config > search.json
  bionas search --strategy darts2                 # second-order DARTS
  bionas search --strategy eg-nas --partial-channels 2 --warmup-epochs 1
  bionas search --strategy random --samples 8
  bionas search --space nb201 --cells 1           # the NAS-Bench-201 cell
  bionas search --resume runs/search-1733380000   # continue a stopped search

The run folder holds config.json, data.json, genotype.json, cells.svg, cells.dot,
genotypes.jsonl, metrics.csv, metrics.jsonl, curves.svg (losses, accuracy, α entropy),
log.txt and checkpoint.bin (alignment files with --alignment-every; trials/ and
trials.json for random search), all rewritten after every epoch. A search stopped at any
moment, even by kill -9, continues with --resume from its last finished epoch and ends
as an uninterrupted run would. A config file
(JSON or TOML) holds SearchConfig's settings, as --print-config shows them, any of them
left out.";

/// Arguments of `bionas search`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct SearchArgs {
    /// Folder with CIFAR-10 in the binary layout (data_batch_1.bin ... or train.bin).
    #[arg(long, value_name = "DIR", default_value = SAMPLE_DIR)]
    pub data: PathBuf,
    /// Starting settings (quick: C=4, 3 cells, 2 epochs, batch 32, 800 images; paper:
    /// C=16, 8 cells, 50 epochs, batch 64); the config file and the flags override them.
    #[arg(long, value_enum, default_value_t = Preset::Quick)]
    pub preset: Preset,
    /// Settings file (.json or .toml), applied over the preset.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the resolved settings as JSON and exit.
    #[arg(long)]
    pub print_config: bool,
    /// Epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Initial channels C.
    #[arg(long)]
    pub channels: Option<usize>,
    /// Number of cells.
    #[arg(long)]
    pub cells: Option<usize>,
    /// Images per batch.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Use only this many training images (class-balanced).
    #[arg(long)]
    pub train_subset: Option<usize>,
    /// Seed of every random draw.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Comma-separated rules the convolutions choose from: bp, fa, usf, brsf, frsf, dfa,
    /// hebbian.
    #[arg(long, value_delimiter = ',')]
    pub rules: Option<Vec<LearningRule>>,
    /// Rule of the stem, preprocessing, stride-2 skips and classifier.
    #[arg(long)]
    pub skeleton_rule: Option<LearningRule>,
    /// Initial learning rate of the weights.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Learning rate of the architecture weights α.
    #[arg(long)]
    pub arch_lr: Option<f64>,
    /// Measure each layer's alignment with back-propagation every N weight steps (0: off).
    #[arg(long, value_name = "N")]
    pub alignment_every: Option<usize>,
    /// Search strategy.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyKind>,
    /// Search space: the DARTS cell, or NAS-Bench-201's (where --cells counts the cells
    /// per stage).
    #[arg(long, value_enum)]
    pub space: Option<SpaceArg>,
    /// PC-DARTS' partial channels: candidates see 1/K of each edge's channels.
    #[arg(long, value_name = "K")]
    pub partial_channels: Option<usize>,
    /// EG-NAS: epochs that train the weights alone before the CMA-ES generations.
    #[arg(long, value_name = "N")]
    pub warmup_epochs: Option<usize>,
    /// EG-NAS: CMA-ES population per generation.
    #[arg(long, value_name = "N")]
    pub population: Option<usize>,
    /// Random search: genotypes sampled (each trained for --sample-epochs).
    #[arg(long, value_name = "N")]
    pub samples: Option<usize>,
    /// Random search: training epochs per sampled genotype.
    #[arg(long, value_name = "N")]
    pub sample_epochs: Option<usize>,
    /// Output folder (default: runs/search-<time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Continue the stopped search in this folder from its last checkpoint, with the
    /// settings it recorded (only --data may be given again).
    #[arg(
        long,
        value_name = "DIR",
        conflicts_with_all = [
            "preset", "config", "print_config", "epochs", "channels", "cells", "batch_size",
            "train_subset", "seed", "rules", "skeleton_rule", "lr", "arch_lr",
            "alignment_every", "strategy", "space", "partial_channels", "warmup_epochs",
            "population", "samples", "sample_epochs", "out",
        ]
    )]
    pub resume: Option<PathBuf>,
}

/// The strategies, by command-line name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StrategyKind {
    /// First-order DARTS (the paper's).
    Darts,
    /// Second-order DARTS.
    Darts2,
    /// Evolution-guided search (CMA-ES).
    EgNas,
    /// Random search.
    Random,
}

/// The search spaces, by command-line name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SpaceArg {
    /// The DARTS cell.
    Darts,
    /// The NAS-Bench-201 cell.
    Nb201,
}

impl SearchArgs {
    /// The settings: preset, then config file, then flags.
    pub fn config(&self) -> Result<SearchConfig> {
        let preset = match self.preset {
            Preset::Quick => SearchConfig::quick(),
            Preset::Paper => SearchConfig::paper(),
        };
        let mut config = config::layered(preset, self.config.as_deref())?;
        self.apply(&mut config);
        self.apply_strategy(&mut config)?;
        Ok(config)
    }

    /// Writes the strategy flags onto `c`; a flag of another strategy is an error.
    fn apply_strategy(&self, c: &mut SearchConfig) -> Result<()> {
        if let Some(kind) = self.strategy {
            let same = matches!(
                (kind, &c.strategy),
                (StrategyKind::Darts, Strategy::Darts)
                    | (StrategyKind::Darts2, Strategy::DartsSecondOrder)
                    | (StrategyKind::EgNas, Strategy::EgNas(_))
                    | (StrategyKind::Random, Strategy::Random(_))
            );
            if !same {
                c.strategy = match kind {
                    StrategyKind::Darts => Strategy::Darts,
                    StrategyKind::Darts2 => Strategy::DartsSecondOrder,
                    StrategyKind::EgNas => Strategy::EgNas(EgNasConfig::default()),
                    StrategyKind::Random => Strategy::Random(RandomConfig::default()),
                };
            }
        }
        let eg_flags = self.warmup_epochs.is_some() || self.population.is_some();
        let random_flags = self.samples.is_some() || self.sample_epochs.is_some();
        match &mut c.strategy {
            Strategy::EgNas(eg) => {
                set(&mut eg.warmup_epochs, self.warmup_epochs);
                set(&mut eg.population, self.population);
            }
            Strategy::Random(r) => {
                set(&mut r.samples, self.samples);
                set(&mut r.epochs, self.sample_epochs);
            }
            _ => {}
        }
        let name = c.strategy.name();
        if eg_flags && !matches!(c.strategy, Strategy::EgNas(_)) {
            bail!("--warmup-epochs and --population belong to --strategy eg-nas, not {name}");
        }
        if random_flags && !matches!(c.strategy, Strategy::Random(_)) {
            bail!("--samples and --sample-epochs belong to --strategy random, not {name}");
        }
        Ok(())
    }

    /// Writes the flags given onto `c`.
    fn apply(&self, c: &mut SearchConfig) {
        set(&mut c.epochs, self.epochs);
        set(&mut c.channels, self.channels);
        set(&mut c.layers, self.cells);
        set(&mut c.batch_size, self.batch_size);
        if self.train_subset.is_some() {
            c.train_subset = self.train_subset;
        }
        set(&mut c.seed, self.seed);
        set(&mut c.rules, self.rules.clone());
        set(&mut c.skeleton_rule, self.skeleton_rule);
        set(&mut c.weights.lr, self.lr);
        set(&mut c.arch.lr, self.arch_lr);
        set(&mut c.alignment_every, self.alignment_every);
        set(&mut c.partial_channels, self.partial_channels);
        if let Some(space) = self.space {
            c.space = match space {
                SpaceArg::Darts => SpaceKind::Darts,
                SpaceArg::Nb201 => SpaceKind::Nb201,
            };
        }
    }
}

fn set<T>(slot: &mut T, flag: Option<T>) {
    if let Some(value) = flag {
        *slot = value;
    }
}

/// Where a search read its images, recorded in its run folder for `--resume`.
const DATA_FILE: &str = "data.json";

/// Runs `bionas search`.
pub fn run(args: &SearchArgs) -> Result<()> {
    if let Some(dir) = &args.resume {
        return resume(args, dir);
    }
    let config = args.config()?;
    config.validate().context("invalid search settings")?;
    if args.print_config {
        return config::print_json(&config);
    }
    let data = load(&args.data, &config)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| output::default_run_dir("search"));
    let run = RunDir::create(out)?;
    let path = std::fs::canonicalize(&args.data).unwrap_or_else(|_| args.data.clone());
    run.write_json(DATA_FILE, &serde_json::json!({ "path": path }))?;
    let rules: Vec<&str> = config.rules.iter().map(|r| r.name()).collect();
    let budget = match &config.strategy {
        Strategy::Random(r) => format!("{} samples of {} epochs", r.samples, r.epochs),
        _ => format!("{} epochs", config.epochs),
    };
    let cells = match config.space {
        SpaceKind::Darts => format!("{} cells", config.layers),
        SpaceKind::Nb201 => format!("{} cells per stage", config.layers),
    };
    println!(
        "{} search in the {} space on {} + {} images from {} (C={}, {cells}, rules {}, \
         batch {}, {budget})",
        config.strategy.name(),
        config.space.name(),
        data.weights.len(),
        data.arch.len(),
        args.data.display(),
        config.channels,
        rules.join(","),
        config.batch_size,
    );
    println!("writing to {}", run.path().display());
    let device = Default::default();
    let mut progress = SearchProgress(Progress::new());
    let found = match config.space {
        SpaceKind::Darts => nas::search::<B>(&config, &data, &device, Some(&run), &mut progress)?
            .genotype
            .to_string(),
        SpaceKind::Nb201 => {
            nas::search_nb201::<B>(&config, &data, &device, Some(&run), &mut progress)?
                .genotype
                .to_string()
        }
    };
    finish(run.path(), &found);
    Ok(())
}

type B = Autodiff<Selected>;

/// The two halves of the training images of `dir`.
fn load(dir: &std::path::Path, config: &SearchConfig) -> Result<SearchData> {
    let train = Cifar10::load(dir, Split::Train).with_context(|| {
        format!(
            "cannot load the CIFAR-10 training images in {}",
            dir.display()
        )
    })?;
    Ok(SearchData::split(&train, config)?)
}

/// Continues the search in `dir`.
fn resume(args: &SearchArgs, dir: &std::path::Path) -> Result<()> {
    // The folder is only read here; `nas::resume` takes its lock for the run itself.
    let (config, recorded) = {
        let run = RunDir::open(dir)?;
        let config: SearchConfig = run.read_json("config.json")?;
        let recorded: Option<serde_json::Value> = if dir.join(DATA_FILE).exists() {
            Some(run.read_json(DATA_FILE)?)
        } else {
            None
        };
        (config, recorded)
    };
    let data_dir = if args.data.as_path() != std::path::Path::new(SAMPLE_DIR) {
        args.data.clone()
    } else {
        match &recorded {
            None => args.data.clone(),
            Some(value) => value["path"].as_str().map(PathBuf::from).with_context(|| {
                format!(
                    "{} holds no data folder (`path`); give it with --data",
                    dir.join(DATA_FILE).display()
                )
            })?,
        }
    };
    let data = load(&data_dir, &config)?;
    println!(
        "resuming the {} search in {} on {}",
        config.strategy.name(),
        dir.display(),
        data_dir.display()
    );
    let device = Default::default();
    let mut progress = SearchProgress(Progress::new());
    let found = match config.space {
        SpaceKind::Darts => nas::resume::<B>(dir, &data, &device, &mut progress)?
            .genotype
            .to_string(),
        SpaceKind::Nb201 => nas::resume_nb201::<B>(dir, &data, &device, &mut progress)?
            .genotype
            .to_string(),
    };
    finish(dir, &found);
    Ok(())
}

fn finish(dir: &std::path::Path, genotype: &str) {
    println!("\nfinal genotype:\n{genotype}");
    println!("saved {}", dir.join("genotype.json").display());
}

/// A search's progress: a bar per epoch, alignment lines, a summary line per epoch.
struct SearchProgress(Progress);

impl SearchObserver for SearchProgress {
    fn epoch_started(&mut self, epoch: usize, steps: usize) {
        self.0.start(format!("epoch {epoch}"), steps);
    }

    fn step_done(&mut self, step: &StepReport) {
        let message = if step.arch_loss.is_nan() {
            format!("loss {:.3}", step.train_loss)
        } else {
            format!("loss {:.3} α-loss {:.3}", step.train_loss, step.arch_loss)
        };
        self.0.step(&message);
    }

    fn evaluating(&mut self, _epoch: usize) {
        self.0.message("evaluating the validation (α) half");
    }

    fn alignment_done(&mut self, sample: &AlignmentSample) {
        let angle = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}°"));
        let means: Vec<String> = sample
            .by_rule()
            .iter()
            .map(|r| {
                let (g, w) = (angle(r.gradient_angle), angle(r.weight_angle));
                format!("{} {g} (W-B {w})", r.rule)
            })
            .collect();
        let step = sample.step;
        self.0.line(&format!(
            "step {step} alignment with BP: {}",
            means.join(", ")
        ));
    }

    fn epoch_done(&mut self, r: &EpochReport) {
        self.0.finish();
        self.0.line(&format!(
            "epoch {:>3} | lr {:.4} | train loss {:.3} acc {:5.1}% | valid loss {:.3} acc \
             {:5.1}% | {:.0}s, {:.1} img/s | max|α| {:.4}",
            r.epoch,
            r.lr,
            r.train_loss,
            100.0 * r.train_acc,
            r.valid_loss,
            100.0 * r.valid_acc,
            r.seconds,
            r.images_per_second,
            r.alpha_max_abs
        ));
        self.0.line(&format!("          genotype {}", r.genotype));
    }
}
