//! `bionas search`: first-order DARTS over (operation, rule) candidates on CIFAR-10.
//!
//! The settings are one [`SearchConfig`], built in layers: the preset, then the config
//! file (`--config`, any of its settings), then the flags. New settings of
//! `SearchConfig` are read from config files and shown by `--print-config` without any
//! change here; a flag for one is a field of [`SearchArgs`] and a line of
//! [`SearchArgs::apply`].

use anyhow::{Context, Result};
use bionas::backend::{Autodiff, Selected};
use bionas::bio_rules::LearningRule;
use bionas::datasets::{Cifar10, Split};
use bionas::nas::{self, AlignmentSample, EpochReport, RunDir, SearchConfig, SearchData};
use bionas::nas::{SearchObserver, StepReport};
use clap::Args;
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

The run folder holds config.json, genotype.json, cells.svg, genotypes.jsonl,
metrics.csv and metrics.jsonl (and alignment files with --alignment-every). A config file
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
    /// Output folder (default: runs/search-<time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
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
        Ok(config)
    }

    /// Writes the flags given onto `c`.
    fn apply(&self, c: &mut SearchConfig) {
        fn set<T>(slot: &mut T, flag: Option<T>) {
            if let Some(value) = flag {
                *slot = value;
            }
        }
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
    }
}

/// Runs `bionas search`.
pub fn run(args: &SearchArgs) -> Result<()> {
    let config = args.config()?;
    config.validate().context("invalid search settings")?;
    if args.print_config {
        return config::print_json(&config);
    }
    let train = Cifar10::load(&args.data, Split::Train).with_context(|| {
        let dir = args.data.display();
        format!("cannot load the CIFAR-10 training images in {dir}")
    })?;
    let data = SearchData::split(&train, &config)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| output::default_run_dir("search"));
    let run = RunDir::create(out)?;
    let rules: Vec<&str> = config.rules.iter().map(|r| r.name()).collect();
    println!(
        "searching on {} + {} images from {} (C={}, {} cells, rules {}, batch {}, {} epochs)",
        data.weights.len(),
        data.arch.len(),
        args.data.display(),
        config.channels,
        config.layers,
        rules.join(","),
        config.batch_size,
        config.epochs
    );
    println!("writing to {}", run.path().display());
    let device = Default::default();
    let mut progress = SearchProgress(Progress::new());
    let outcome =
        nas::search::<Autodiff<Selected>>(&config, &data, &device, Some(&run), &mut progress)?;
    println!("\nfinal genotype:\n{}", outcome.genotype);
    println!("saved {}", run.path().join("genotype.json").display());
    Ok(())
}

/// A search's progress: a bar per epoch, alignment lines, a summary line per epoch.
struct SearchProgress(Progress);

impl SearchObserver for SearchProgress {
    fn epoch_started(&mut self, epoch: usize, steps: usize) {
        self.0.start(format!("epoch {epoch}"), steps);
    }

    fn step_done(&mut self, step: &StepReport) {
        let message = format!("loss {:.3} α-loss {:.3}", step.train_loss, step.arch_loss);
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
