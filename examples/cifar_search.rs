//! Searches a mixed-rule DARTS cell on CIFAR-10 and writes the genotype it finds.
//!
//! ```text
//! cargo run --release --example cifar_search                     # quick, on datasets/
//! cargo run --release --example cifar_search -- --data ../cifar-10-batches-bin \
//!     --preset paper --train-subset 10000 --epochs 10
//! ```

use anyhow::{Context, Result};
use bionas::backend::{Autodiff, Selected};
use bionas::bio_rules::LearningRule;
use bionas::datasets::{Cifar10, Split};
use bionas::nas::{self, EpochReport, RunDir, SearchConfig, SearchData, SearchObserver};
use bionas::nas::{AlignmentSample, StepReport};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// mimalloc under the process's memory budget: a batch too large for the machine ends
/// with a message naming the setting instead of a silent kill.
#[global_allocator]
static ALLOCATOR: nas::memory::Budgeted<mimalloc::MiMalloc> =
    nas::memory::Budgeted::new(mimalloc::MiMalloc);

/// Rule-augmented DARTS search on CIFAR-10.
#[derive(Parser, Debug)]
#[command(after_help = "Examples:\n  cifar_search\n  cifar_search --data \
    /data/cifar-10-batches-bin --preset paper --train-subset 10000 --epochs 10")]
struct Args {
    /// Folder with CIFAR-10 in the binary layout (data_batch_1.bin ... or train.bin).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/cifar10-mini"))]
    data: PathBuf,
    /// Starting settings; flags below override them.
    #[arg(long, value_enum, default_value_t = Preset::Quick)]
    preset: Preset,
    /// Epochs.
    #[arg(long)]
    epochs: Option<usize>,
    /// Initial channels C.
    #[arg(long)]
    channels: Option<usize>,
    /// Number of cells.
    #[arg(long)]
    cells: Option<usize>,
    /// Images per batch.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Use only this many training images (class-balanced).
    #[arg(long)]
    train_subset: Option<usize>,
    /// Seed of every random draw.
    #[arg(long)]
    seed: Option<u64>,
    /// Comma-separated rules the convolutions choose from: bp, fa, usf, brsf, frsf, dfa,
    /// hebbian.
    #[arg(long, value_delimiter = ',')]
    rules: Option<Vec<LearningRule>>,
    /// Measure each layer's alignment with back-propagation every N weight steps (0: off);
    /// writes alignment.csv, alignment_rules.csv and alignment.svg.
    #[arg(long)]
    alignment_every: Option<usize>,
    /// Output folder (default: runs/search-<time>).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Preset {
    /// C=4, 3 cells, 2 epochs, batch 32, 800 images: minutes on two cores.
    Quick,
    /// The paper: C=16, 8 cells, 50 epochs, batch 64.
    Paper,
}

impl Args {
    fn config(&self) -> SearchConfig {
        let mut c = match self.preset {
            Preset::Quick => SearchConfig::quick(),
            Preset::Paper => SearchConfig::paper(),
        };
        c.epochs = self.epochs.unwrap_or(c.epochs);
        c.channels = self.channels.unwrap_or(c.channels);
        c.layers = self.cells.unwrap_or(c.layers);
        c.batch_size = self.batch_size.unwrap_or(c.batch_size);
        c.train_subset = self.train_subset.or(c.train_subset);
        c.seed = self.seed.unwrap_or(c.seed);
        c.rules = self.rules.clone().unwrap_or(c.rules);
        c.alignment_every = self.alignment_every.unwrap_or(c.alignment_every);
        c
    }

    fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            PathBuf::from(format!("runs/search-{secs}"))
        })
    }
}

/// A progress bar per epoch with rate and ETA on a terminal (plain lines every tenth of
/// an epoch otherwise), and one summary line per epoch.
struct Progress {
    bar: ProgressBar,
    batch_size: usize,
    terminal: bool,
    started: Instant,
}

impl SearchObserver for Progress {
    fn epoch_started(&mut self, epoch: usize, steps: usize) {
        self.started = Instant::now();
        self.bar = ProgressBar::with_draw_target(Some(steps as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "epoch {prefix} [{bar:30}] {pos}/{len} steps, {per_sec}, eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        self.bar.set_style(style.progress_chars("=> "));
        self.bar.set_prefix(epoch.to_string());
    }

    fn step_done(&mut self, step: &StepReport) {
        let images = 2 * self.batch_size;
        self.bar.set_message(format!(
            "loss {:.3} / α-loss {:.3} (~{images} img/step)",
            step.train_loss, step.arch_loss
        ));
        self.bar.inc(1);
        let done = step.step + 1;
        let every = step.steps.div_ceil(10).max(1);
        if !self.terminal && (done.is_multiple_of(every) || done == step.steps) {
            let elapsed = self.started.elapsed().as_secs_f64();
            let rate = done as f64 / elapsed.max(1e-9);
            let eta = (step.steps - done) as f64 / rate.max(1e-9);
            println!(
                "epoch {} step {done}/{} | loss {:.3} α-loss {:.3} | {:.2} steps/s, eta {:.0}s",
                step.epoch, step.steps, step.train_loss, step.arch_loss, rate, eta
            );
        }
    }

    fn alignment_done(&mut self, sample: &AlignmentSample) {
        let angle = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}°"));
        let means: Vec<String> = sample
            .by_rule()
            .iter()
            .map(|r| {
                format!(
                    "{} {} (W-B {})",
                    r.rule,
                    angle(r.gradient_angle),
                    angle(r.weight_angle)
                )
            })
            .collect();
        let line = format!(
            "step {} alignment with BP: {}",
            sample.step,
            means.join(", ")
        );
        if self.terminal {
            self.bar.println(line);
        } else {
            println!("{line}");
        }
    }

    fn evaluating(&mut self, _epoch: usize) {
        self.bar.set_message("evaluating the validation (α) half");
    }

    fn epoch_done(&mut self, r: &EpochReport) {
        self.bar.finish_and_clear();
        println!(
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
        );
        println!("          genotype {}", r.genotype);
    }
}

fn main() -> Result<()> {
    nas::memory::enable();
    let args = Args::parse();
    let config = args.config();
    config.validate().context("invalid settings")?;
    let train = Cifar10::load(&args.data, Split::Train).with_context(|| {
        format!(
            "cannot load CIFAR-10 training images from {}",
            args.data.display()
        )
    })?;
    let data = SearchData::split(&train, &config)?;
    let run = RunDir::create(args.out_dir())?;
    println!(
        "searching on {} + {} images from {} (C={}, {} cells, rules {:?}, batch {}, {} epochs)",
        data.weights.len(),
        data.arch.len(),
        args.data.display(),
        config.channels,
        config.layers,
        config.rules.iter().map(|r| r.name()).collect::<Vec<_>>(),
        config.batch_size,
        config.epochs
    );
    println!("writing to {}", run.path().display());
    let device = Default::default();
    let mut progress = Progress {
        bar: ProgressBar::hidden(),
        batch_size: config.batch_size,
        terminal: std::io::stderr().is_terminal(),
        started: Instant::now(),
    };
    let outcome =
        nas::search::<Autodiff<Selected>>(&config, &data, &device, Some(&run), &mut progress)?;
    println!("\nfinal genotype:\n{}", outcome.genotype);
    println!("saved {}", run.path().join("genotype.json").display());
    Ok(())
}
