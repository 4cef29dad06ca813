//! Retrains a genotype from scratch with the paper's recipe (or a reduced one), selecting
//! the model on a held-out validation split and measuring the test set once at the end.
//!
//! ```text
//! cargo run --release --example train_genotype                      # BIODARTS, quick
//! cargo run --release --example train_genotype -- --genotype genotypes/searched_cifar10_3k.json
//! cargo run --release --example train_genotype -- --rule fa         # single-rule baseline
//! cargo run --release --features cuda --example train_genotype -- --preset paper \
//!     --data cifar-10-batches-bin                                   # the paper's CIFAR run
//! ```

use anyhow::{Context, Result, bail};
use bionas::backend::{Autodiff, Selected};
use bionas::bio_rules::{LearningRule, ParamCounts};
use bionas::datasets::{
    Cifar10, Cifar100, Cutout, FolderTransform, ImageDataset, ImageFolder, ImageNet16,
    ImageNet16Split, LabelKind, Normalization, Split,
};
use bionas::nas::train::balanced_subset;
use bionas::nas::{
    self, DropPathSchedule, RunDir, Selection, TrainConfig, TrainData, TrainEpoch, TrainObserver,
};
use bionas::search_space::genotype::known;
use bionas::search_space::{FeedbackLen, Genotype, Network, NetworkConfig, StemKind};
use burn::tensor::backend::Backend;
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// mimalloc under the process's memory budget: a batch too large for the machine ends
/// with a message naming the setting instead of a silent kill.
#[global_allocator]
static ALLOCATOR: bionas::nas::memory::Budgeted<mimalloc::MiMalloc> =
    bionas::nas::memory::Budgeted::new(mimalloc::MiMalloc);

/// Retrain a genotype (JSON file or a known name) on CIFAR-10/100, ImageNet16-120 or an
/// ImageNet-style image folder.
#[derive(Parser, Debug)]
#[command(
    after_help = "Examples:\n  train_genotype\n  train_genotype --genotype \
    genotypes/searched_cifar10_3k.json\n  train_genotype --rule fa --skeleton-rule fa\n  \
    train_genotype --dataset cifar100 --data cifar-100-binary --preset paper"
)]
struct Args {
    /// A genotype JSON file, or a known cell: biodarts, darts_v2.
    #[arg(long, default_value = "biodarts")]
    genotype: String,
    /// Put every convolution of the cells on this rule (a single-rule baseline).
    #[arg(long)]
    rule: Option<LearningRule>,
    /// Rule of the stem, cell preprocessing, stride-2 skips, classifier and auxiliary head
    /// (the skeleton); BP as in the paper's code, or e.g. the --rule for a pure network.
    #[arg(long, default_value = "bp")]
    skeleton_rule: LearningRule,
    /// The data set.
    #[arg(long, value_enum, default_value_t = DatasetKind::Cifar10)]
    dataset: DatasetKind,
    /// Its folder (default: the CIFAR-10 sample in datasets/).
    #[arg(long)]
    data: Option<PathBuf>,
    /// CIFAR-100 only: the 20 coarse labels instead of the 100 fine ones.
    #[arg(long)]
    coarse: bool,
    /// Starting settings; the flags below override them.
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
    /// Initial learning rate.
    #[arg(long)]
    lr: Option<f64>,
    /// Drop-path probability.
    #[arg(long)]
    drop_path: Option<f64>,
    /// Drop-path schedule: linear (ramp from 0, the DARTS script) or constant (the
    /// paper's released code).
    #[arg(long, value_enum)]
    drop_path_schedule: Option<Schedule>,
    /// Auxiliary head on or off (weight 0.4).
    #[arg(long)]
    auxiliary: Option<bool>,
    /// Cutout length in pixels (0: off).
    #[arg(long)]
    cutout: Option<usize>,
    /// Use only this many training images (class-balanced), before the validation split.
    #[arg(long)]
    train_subset: Option<usize>,
    /// Share of the training images held out for model selection (data sets without a
    /// validation split of their own).
    #[arg(long, default_value_t = 0.1)]
    valid_fraction: f64,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Image folder only: side of the training crops and of the evaluation centre crop
    /// (default 224; evaluation resizes the shorter side to 8/7 of it first).
    #[arg(long)]
    crop: Option<usize>,
    /// Output folder (default: runs/train-<time>).
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
enum DatasetKind {
    /// CIFAR-10, binary layout.
    Cifar10,
    /// CIFAR-100, binary layout.
    Cifar100,
    /// ImageNet16-120 pickles (train_data_batch_1..10, val_data).
    Imagenet16,
    /// An ImageNet-style folder: train/ and val/, one sub-folder per class.
    Folder,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Preset {
    /// C=8, 5 cells, batch 32, 10 epochs, no auxiliary head, no cutout: minutes on CPU.
    Quick,
    /// The paper: CIFAR C=36, 20 cells, batch 96, 600 epochs, auxiliary head, cutout 16;
    /// on an image folder the ImageNet recipe (C=48, 14 cells, 250 epochs).
    Paper,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Schedule {
    Linear,
    Constant,
}

/// Everything the run used, saved as `config.json`.
#[derive(Serialize)]
struct RunConfig<'a> {
    genotype: &'a Genotype,
    dataset: DatasetKind,
    data: &'a Path,
    network: &'a NetworkConfig,
    train: &'a TrainConfig,
    cutout: usize,
    train_images: usize,
    valid_images: usize,
    test_images: usize,
}

impl Args {
    fn genotype(&self) -> Result<Genotype> {
        let genotype = match self.genotype.as_str() {
            "biodarts" => known::biodarts(),
            "darts_v2" => known::darts_v2(),
            path => Genotype::load(path)?,
        };
        Ok(match self.rule {
            Some(rule) => genotype.with_rule(rule),
            None => genotype,
        })
    }

    fn paper(&self) -> bool {
        matches!(self.preset, Preset::Paper)
    }

    fn train_config(&self) -> TrainConfig {
        let imagenet = self.paper() && self.dataset == DatasetKind::Folder;
        let mut c = if imagenet {
            TrainConfig::imagenet()
        } else {
            TrainConfig::cifar()
        };
        if !self.paper() {
            c.epochs = 10;
            c.batch_size = 32;
        }
        c.epochs = self.epochs.unwrap_or(c.epochs);
        c.batch_size = self.batch_size.unwrap_or(c.batch_size);
        c.lr = self.lr.unwrap_or(c.lr);
        c.drop_path = self.drop_path.unwrap_or(c.drop_path);
        c.drop_path_schedule = match self.drop_path_schedule {
            Some(Schedule::Linear) => DropPathSchedule::Linear,
            Some(Schedule::Constant) => DropPathSchedule::Constant,
            None => c.drop_path_schedule,
        };
        c.seed = self.seed;
        c
    }

    fn network_config(&self, genotype: Genotype, classes: usize) -> NetworkConfig {
        let imagenet = self.dataset == DatasetKind::Folder;
        let (channels, cells) = match (self.paper(), imagenet) {
            (true, true) => (48, 14),
            (true, false) => (36, 20),
            (false, _) => (8, 5),
        };
        let norm = match self.dataset {
            DatasetKind::Cifar10 => Normalization::CIFAR10,
            DatasetKind::Cifar100 => Normalization::CIFAR100,
            DatasetKind::Imagenet16 => Normalization::IMAGENET16,
            DatasetKind::Folder => Normalization::IMAGENET,
        };
        NetworkConfig::new(genotype)
            .with_channels(self.channels.unwrap_or(channels))
            .with_layers(self.cells.unwrap_or(cells))
            .with_classes(classes)
            .with_stem(if imagenet {
                StemKind::ImageNet
            } else {
                StemKind::Cifar
            })
            .with_skeleton_rule(self.skeleton_rule)
            .with_auxiliary(self.auxiliary.unwrap_or(self.paper()))
            .with_mean(norm.mean)
            .with_std(norm.std)
    }

    /// Cutout applies to the CIFAR data sets only.
    fn cutout(&self) -> usize {
        let cifar = matches!(self.dataset, DatasetKind::Cifar10 | DatasetKind::Cifar100);
        match self.cutout {
            Some(length) if cifar => length,
            _ if cifar && self.paper() => 16,
            _ => 0,
        }
    }

    /// Checks what can be checked before any data is read.
    fn check(&self) -> Result<()> {
        let cifar = matches!(self.dataset, DatasetKind::Cifar10 | DatasetKind::Cifar100);
        if self.cutout.is_some_and(|c| c > 0) && !cifar {
            bail!("--cutout applies to cifar10 and cifar100 only");
        }
        let folder = self.dataset == DatasetKind::Folder;
        if self
            .crop
            .is_some_and(|side| !folder || !(8..=4096).contains(&side))
        {
            bail!("--crop takes a side from 8 to 4096, with --dataset folder");
        }
        self.genotype()?;
        self.train_config()
            .validate()
            .context("invalid training settings")?;
        Ok(())
    }

    fn cutout_option(&self) -> Option<Cutout> {
        let length = self.cutout();
        (length > 0).then_some(Cutout { length })
    }

    fn data_dir(&self) -> Result<PathBuf> {
        match (&self.data, self.dataset) {
            (Some(dir), _) => Ok(dir.clone()),
            (None, DatasetKind::Cifar10) => Ok(PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/datasets/cifar10-mini"
            ))),
            (None, kind) => {
                let name = kind.to_possible_value().map(|v| v.get_name().to_string());
                bail!(
                    "--data is required for --dataset {}",
                    name.unwrap_or_default()
                )
            }
        }
    }

    fn out_dir(&self) -> PathBuf {
        self.out.clone().unwrap_or_else(|| {
            let secs = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            PathBuf::from(format!("runs/train-{secs}"))
        })
    }
}

/// A bar per epoch with rate and ETA on a terminal, plain lines otherwise, and one summary
/// line per epoch.
struct Progress {
    bar: ProgressBar,
    terminal: bool,
    started: Instant,
}

impl TrainObserver for Progress {
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

    fn step_done(&mut self, epoch: usize, step: usize, loss: f32) {
        self.bar.set_message(format!("loss {loss:.3}"));
        self.bar.inc(1);
        let steps = self.bar.length().unwrap_or(1) as usize;
        let done = step + 1;
        if !self.terminal && (done.is_multiple_of(steps.div_ceil(10).max(1)) || done == steps) {
            let rate = done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
            let eta = (steps - done) as f64 / rate.max(1e-9);
            println!(
                "epoch {epoch} step {done}/{steps} | loss {loss:.3} | {rate:.2} steps/s, eta {eta:.0}s"
            );
        }
    }

    fn epoch_done(&mut self, r: &TrainEpoch) {
        self.bar.finish_and_clear();
        println!(
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
        );
    }
}

fn main() -> Result<()> {
    bionas::nas::memory::enable();
    let args = Args::parse();
    args.check()?;
    let dir = args.data_dir()?;
    let cutout = args.cutout_option();
    match args.dataset {
        DatasetKind::Cifar10 => {
            let train = Cifar10::load(&dir, Split::Train)?.with_cutout(cutout);
            let test = Cifar10::load(&dir, Split::Test)?;
            run(&args, &dir, &train, None, &test)
        }
        DatasetKind::Cifar100 => {
            let kind = if args.coarse {
                LabelKind::Coarse
            } else {
                LabelKind::Fine
            };
            let train = Cifar100::load(&dir, Split::Train, kind)?.with_cutout(cutout);
            let test = Cifar100::load(&dir, Split::Test, kind)?;
            run(&args, &dir, &train, None, &test)
        }
        DatasetKind::Imagenet16 => {
            let train = ImageNet16::load(&dir, ImageNet16Split::Train)?;
            let valid = ImageNet16::load(&dir, ImageNet16Split::Valid)?;
            let test = ImageNet16::load(&dir, ImageNet16Split::Test)?;
            run(&args, &dir, &train, Some(&valid), &test)
        }
        DatasetKind::Folder => {
            let transform = match args.crop {
                Some(side) => FolderTransform::sized(side, side * 8 / 7, side),
                None => FolderTransform::IMAGENET,
            };
            let train = ImageFolder::open(dir.join("train"))?.with_transform(transform);
            let test = ImageFolder::open(dir.join("val"))?.with_transform(transform);
            train.check_headers()?;
            test.check_headers()?;
            if train.class_names() != test.class_names() {
                bail!(
                    "{} and {} hold different class folders: the labels would not match",
                    train.root().display(),
                    test.root().display()
                );
            }
            run(&args, &dir, &train, None, &test)
        }
    }
}

/// Splits, builds, trains and reports. Without a `valid` set, `--valid-fraction` of the
/// training images are held out (class-balanced, seeded).
fn run<D: ImageDataset>(
    args: &Args,
    dir: &Path,
    train: &D,
    valid: Option<&D>,
    test: &D,
) -> Result<()> {
    let genotype = args.genotype()?;
    let config = args.train_config();
    let (train_idx, valid_idx) = match valid {
        Some(v) => (
            balanced_subset(train, args.train_subset, args.seed),
            (0..v.len()).collect(),
        ),
        None => nas::holdout(train, args.train_subset, args.valid_fraction, args.seed)?,
    };
    let test_idx: Vec<usize> = (0..test.len()).collect();
    let network = args.network_config(genotype.clone(), train.num_classes());
    let device = Default::default();
    // Weights, feedback and drop-path masks follow --seed too.
    <Autodiff<Selected> as Backend>::seed(&device, args.seed);
    let model: Network<Autodiff<Selected>> = network.init(&device)?;
    let counts = ParamCounts::of(&model);
    let run_dir = RunDir::create(args.out_dir())?;
    run_dir.write_json(
        "config.json",
        &RunConfig {
            genotype: &genotype,
            dataset: args.dataset,
            data: dir,
            network: &network,
            train: &config,
            cutout: args.cutout(),
            train_images: train_idx.len(),
            valid_images: valid_idx.len(),
            test_images: test_idx.len(),
        },
    )?;
    genotype.save(run_dir.path().join("genotype.json"))?;
    run_dir.write_atomic("cells.svg", genotype.to_svg().as_bytes())?;
    run_dir.write_atomic("cells.dot", genotype.to_dot().as_bytes())?;
    println!("genotype {genotype}");
    println!(
        "C={}, {} cells, {} trained parameters, {} feedback values apart; skeleton on {}",
        network.channels,
        network.layers,
        counts.trained,
        model.feedback_len(),
        network.skeleton_rule.name()
    );
    println!(
        "{} train / {} valid / {} test images from {}; writing to {}",
        train_idx.len(),
        valid_idx.len(),
        test_idx.len(),
        dir.display(),
        run_dir.path().display()
    );
    let data = TrainData {
        train: Selection::new(train, &train_idx),
        valid: Selection::new(valid.unwrap_or(train), &valid_idx),
        test: Some(Selection::new(test, &test_idx)),
    };
    let mut progress = Progress {
        bar: ProgressBar::hidden(),
        terminal: std::io::stderr().is_terminal(),
        started: Instant::now(),
    };
    let outcome = nas::train(model, &config, data, &run_dir, &mut progress)?;
    println!(
        "best epoch {} (valid acc {:.2}%); test acc {}",
        outcome.best_epoch,
        100.0 * outcome.best_valid_acc,
        outcome
            .test
            .map_or("-".into(), |(acc, _)| format!("{:.2}%", 100.0 * acc))
    );
    println!("curves: {}", run_dir.path().join("curves.svg").display());
    Ok(())
}
