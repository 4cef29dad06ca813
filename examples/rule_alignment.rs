//! Trains the same small DARTS network once per learning rule on CIFAR-10 and measures,
//! every few steps, how far each layer's error is from back-propagation's.
//!
//! ```text
//! cargo run --release --example rule_alignment
//! cargo run --release --example rule_alignment -- --rules bp,fa,usf --steps 60 --every 5
//! ```
//!
//! Every convolution of the cells learns by the rule (the stem, preprocessing and
//! classifier by BP, as in the paper). Writes, in `--out` (default
//! `runs/alignment-<time>/`): `alignment.csv` (every layer at every probe, layer names
//! prefixed by the run's rule), `alignment_rules.csv` (per-rule means), `alignment.svg`
//! (the angles over training) and `losses.csv`.

use anyhow::{Context, Result};
use bionas::backend::{Autodiff, Selected};
use bionas::bio_rules::{AlignmentProbe, LayerAlignment, LearningRule};
use bionas::datasets::{Augmentation, Cifar10, CifarBatcher, CifarItem, Normalization, Split};
use bionas::nas::{
    AlignmentLog, AlignmentSample, LAYER_CSV_HEADER, RULE_CSV_HEADER, RunDir, WeightOptim,
};
use bionas::search_space::genotype::known;
use bionas::search_space::{Network, NetworkConfig};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::ElementConversion;
use burn::tensor::backend::Backend;
use clap::Parser;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type B = Autodiff<Selected>;

/// Per-rule alignment with back-propagation during training.
#[derive(Parser, Debug)]
struct Args {
    /// CIFAR-10 folder (official binary layout, or train.bin/test.bin).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/cifar10-mini"))]
    data: PathBuf,
    /// Rules to train with, one run each.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bp,fa,usf,brsf,frsf,dfa,hebbian"
    )]
    rules: Vec<LearningRule>,
    /// Training steps per rule.
    #[arg(long, default_value_t = 30)]
    steps: usize,
    /// Probe every this many steps.
    #[arg(long, default_value_t = 5)]
    every: usize,
    /// Initial channels C.
    #[arg(long, default_value_t = 8)]
    channels: usize,
    /// Cells.
    #[arg(long, default_value_t = 5)]
    cells: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// SGD learning rate (momentum 0.9, weight decay 3e-4).
    #[arg(long, default_value_t = 0.025)]
    lr: f64,
    /// Seed of the weights, feedback and batches (the same for every rule).
    #[arg(long, default_value_t = 2)]
    seed: u64,
    /// Output folder.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn main() -> Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.every > 0, "--every must be at least 1");
    let train = Cifar10::load(&args.data, Split::Train)
        .with_context(|| format!("loading {}", args.data.display()))?;
    let out = args.out.clone().unwrap_or_else(|| {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/alignment-{secs}"))
    });
    let run = RunDir::create(&out)?;
    run.write_atomic("alignment.csv", format!("{LAYER_CSV_HEADER}\n").as_bytes())?;
    run.write_atomic("losses.csv", b"rule,step,loss\n")?;
    println!(
        "{} images from {}; writing to {}",
        train.len(),
        args.data.display(),
        out.display()
    );
    let mut log = AlignmentLog::default();
    for &rule in &args.rules {
        let samples = train_one(&args, rule, &train, &run)?;
        for sample in samples {
            for row in sample.csv_rows() {
                run.append_line("alignment.csv", &row)?;
            }
            log.push(sample);
        }
        run.write_atomic("alignment.svg", log.to_svg().as_bytes())?;
    }
    write_rule_means(&run, &log)?;
    println!("wrote {}", out.join("alignment.svg").display());
    Ok(())
}

/// Trains one network with every cell convolution on `rule`; returns its probes, layer
/// names prefixed by the rule.
fn train_one(
    args: &Args,
    rule: LearningRule,
    train: &Cifar10,
    run: &RunDir,
) -> Result<Vec<AlignmentSample>> {
    let device = Default::default();
    B::seed(&device, args.seed);
    let mut net: Network<B> = NetworkConfig::new(known::darts_v2().with_rule(rule))
        .with_channels(args.channels)
        .with_layers(args.cells)
        .init(&device)?;
    let mut optim = WeightOptim::default().sgd::<B, Network<B>>();
    let batcher = CifarBatcher {
        normalization: Normalization::CIFAR10,
        augmentation: Some(Augmentation::STANDARD),
    };
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut samples = Vec::new();
    for step in 0..args.steps {
        if step * args.batch_size % train.len() < args.batch_size {
            order.shuffle(&mut rng);
        }
        let items: Vec<&CifarItem> = (0..args.batch_size)
            .map(|i| &train.items()[order[(step * args.batch_size + i) % order.len()]])
            .collect();
        let batch = batcher.batch_with_rng::<B>(&items, &mut rng, &device);
        let pass = || {
            let logits = net.forward(batch.images.clone());
            let loss = loss_fn.forward(logits, batch.targets.clone());
            let value: f32 = loss.clone().into_scalar().elem();
            (value, loss.backward())
        };
        let ((loss, grads), layers) = if step % args.every == 0 {
            let (out, layers) = AlignmentProbe::new(net.hub).measure::<B, _, _>(&net, pass);
            (out, Some(layers))
        } else {
            (pass(), None)
        };
        anyhow::ensure!(
            loss.is_finite(),
            "{rule}: the loss became {loss} at step {step}"
        );
        run.append_line("losses.csv", &format!("{rule},{step},{loss:.5}"))?;
        if let Some(layers) = layers {
            let sample = prefixed(rule, step, layers);
            print_means(rule, step, loss, &sample);
            samples.push(sample);
        }
        let grads = GradientsParams::from_grads(grads, &net);
        net = optim.step(args.lr, net, grads);
    }
    Ok(samples)
}

/// The layers of the run's own rule (not the BP skeleton of a rule run), named
/// `<rule>/<path>` so that runs do not mix in the picture.
fn prefixed(rule: LearningRule, step: usize, layers: Vec<LayerAlignment>) -> AlignmentSample {
    let layers = layers
        .into_iter()
        .filter(|l| l.rule == rule)
        .map(|l| LayerAlignment {
            layer: format!("{rule}/{}", l.layer),
            ..l
        })
        .collect();
    AlignmentSample {
        epoch: 0,
        step,
        layers,
    }
}

fn print_means(rule: LearningRule, step: usize, loss: f32, sample: &AlignmentSample) {
    let angle = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}°"));
    for summary in sample.by_rule().iter().filter(|s| s.rule == rule) {
        println!(
            "{rule:>8} step {step:>4} loss {loss:.3} | {} layers: gradient angle {}, \
             W-B angle {}, |B|/|W| {}",
            summary.layers,
            angle(summary.gradient_angle),
            angle(summary.weight_angle),
            summary
                .norm_ratio
                .map_or("-".to_string(), |v| format!("{v:.3}"))
        );
    }
}

fn write_rule_means(run: &RunDir, log: &AlignmentLog) -> Result<()> {
    let mut text = format!("{RULE_CSV_HEADER}\n");
    for row in log.samples.iter().flat_map(AlignmentSample::rule_rows) {
        text.push_str(&row);
        text.push('\n');
    }
    Ok(run.write_atomic("alignment_rules.csv", text.as_bytes())?)
}
