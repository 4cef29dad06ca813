//! Training, search and inference throughput and peak memory, one fresh process per case.
//!
//! ```text
//! cargo run --release --example benchmark                 # training and inference, flex
//! cargo run --release --example benchmark -- --cases search --batch 16 --search-steps 1
//! cargo run --release --example benchmark -- --cases train-bp,train-fa --rounds 3
//! cargo run --release --example benchmark -- --json runs/bench.jsonl \
//!     --compare runs/pytorch.jsonl                             # side by side with PyTorch
//! ```
//!
//! Cases (`--cases`, default all but `search`, whose supernet needs more than 24 GiB at
//! batch 64):
//! - `train-<rule>`: a training step of the DARTS_V2 network (C=16, 8 cells, batch 64 by
//!   default) with every convolution on `<rule>`: forward, cross-entropy, backward, global
//!   gradient-norm clip at 5, SGD with momentum 0.9 and weight decay 3e-4;
//! - `search`: one step of the first-order search (an Adam step on `α`, then an SGD step on
//!   the weights) on the supernet of `--rules`, through [`bionas::nas::search`] itself, on
//!   images of the CIFAR-10 sample; its images per second count both batches;
//! - `infer`: a forward pass of the DARTS_V2 network in evaluation mode, without autodiff.
//!
//! Each case runs in a child process of its own: one warm-up step, then the timed steps.
//! Children keep the memory they free mapped (`MIMALLOC_PURGE_DELAY=-1`, unless set).
//! The peak memory is the process's peak resident set (`VmHWM`); the step peak subtracts
//! the resident set measured just before the warm-up step, after the model and inputs were
//! built. `scripts/pytorch_benchmark.py` measures the same cases the same way in PyTorch
//! and writes the same JSON lines, which `--compare` reads.

use anyhow::{Context, Result, bail};
use bionas::backend::{Autodiff, Selected};
use bionas::bio_rules::LearningRule;
use bionas::datasets::{Cifar10, Split};
use bionas::nas::{
    SearchConfig, SearchData, SearchObserver, StepReport, WeightOptim, clip_global_norm,
};
use bionas::search_space::genotype::known;
use bionas::search_space::{Network, NetworkConfig};
use burn::module::AutodiffModule;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Int, Tensor, TensorData};
use clap::Parser;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type B = Autodiff<Selected>;

/// Throughput and peak memory of training, search and inference.
#[derive(Parser, Debug)]
struct Args {
    /// Cases to run: train-<rule> (bp, fa, usf, brsf, frsf, dfa, hebbian), search, infer.
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_CASES)]
    cases: Vec<String>,
    /// Initial channels C.
    #[arg(long, default_value_t = 16, value_parser = at_least_one)]
    channels: usize,
    /// Number of cells.
    #[arg(long, default_value_t = 8, value_parser = at_least_one)]
    cells: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 64, value_parser = at_least_one)]
    batch: usize,
    /// Timed training steps per case, after one warm-up step.
    #[arg(long, default_value_t = 5, value_parser = at_least_one)]
    steps: usize,
    /// Timed search steps, after one warm-up step.
    #[arg(long, default_value_t = 2, value_parser = at_least_one)]
    search_steps: usize,
    /// Timed inference passes, after one warm-up pass.
    #[arg(long, default_value_t = 10, value_parser = at_least_one)]
    infer_steps: usize,
    /// Rules of the supernet's candidates.
    #[arg(long, value_delimiter = ',', default_value = "fa,usf,brsf,frsf")]
    rules: Vec<LearningRule>,
    /// Worker threads of the CPU backend (RAYON_NUM_THREADS in each child process; the
    /// PyTorch script's default is also 2).
    #[arg(long, default_value_t = 2, value_parser = at_least_one)]
    threads: usize,
    /// Runs of the whole case list; each case reports its fastest run.
    #[arg(long, default_value_t = 1, value_parser = at_least_one)]
    rounds: usize,
    /// Seed of the weights and the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// CIFAR-10 images for the search case (binary layout).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/cifar10-mini"))]
    data: PathBuf,
    /// Also write the JSON lines to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// JSON lines of another run (e.g. the PyTorch script's) to print side by side.
    #[arg(long)]
    compare: Option<PathBuf>,
    /// Runs a single case in this process (used by the parent for each child).
    #[arg(long, hide = true)]
    one_case: Option<String>,
}

/// Parses a count that must be at least 1.
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Every case but `search`, whose supernet needs more than 24 GiB at batch 64.
const DEFAULT_CASES: &str =
    "train-bp,train-fa,train-usf,train-brsf,train-frsf,train-dfa,train-hebbian,infer";

/// What is measured.
#[derive(Clone, Copy, Debug)]
enum Case {
    Train(LearningRule),
    Search,
    Infer,
}

impl Case {
    fn parse(name: &str) -> Result<Self> {
        match name {
            "search" => Ok(Self::Search),
            "infer" => Ok(Self::Infer),
            _ => match name.strip_prefix("train-") {
                Some(rule) => Ok(Self::Train(rule.parse().map_err(anyhow::Error::msg)?)),
                None => bail!("unknown case '{name}': use train-<rule>, search or infer"),
            },
        }
    }
}

/// Resident set and its peak, in MiB, from `/proc/self/status` (Linux only).
fn memory_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Times of the warm-up step and the timed steps, and the memory around them.
struct Timing {
    seconds: Vec<f64>,
    baseline_mib: Option<f64>,
    peak_mib: Option<f64>,
}

impl Timing {
    fn start() -> Self {
        Self {
            seconds: Vec::new(),
            baseline_mib: memory_mib("VmRSS:"),
            peak_mib: None,
        }
    }

    fn finish(&mut self) {
        self.peak_mib = memory_mib("VmHWM:");
    }

    /// Runs `step` `1 + steps` times, timing each.
    fn run(steps: usize, mut step: impl FnMut() -> Result<()>) -> Result<Self> {
        let mut timing = Self::start();
        for _ in 0..=steps {
            let start = Instant::now();
            step()?;
            timing.seconds.push(start.elapsed().as_secs_f64());
        }
        timing.finish();
        Ok(timing)
    }
}

fn sync(device: &burn::tensor::Device<B>) -> Result<()> {
    B::sync(device).map_err(|e| anyhow::anyhow!("backend failed: {e:?}"))
}

/// Seeded random images and labels, one batch per step.
fn random_batches(
    args: &Args,
    count: usize,
    device: &burn::tensor::Device<B>,
) -> Vec<(Tensor<B, 4>, Tensor<B, 1, Int>)> {
    let mut rng = StdRng::seed_from_u64(args.seed);
    (0..count)
        .map(|_| {
            let shape = [args.batch, 3, 32, 32];
            let images = Tensor::random(shape, Distribution::Normal(0.0, 1.0), device);
            let labels: Vec<i64> = (0..args.batch).map(|_| rng.random_range(0..10)).collect();
            let labels = Tensor::from_data(TensorData::new(labels, [args.batch]), device);
            (images, labels)
        })
        .collect()
}

fn train(args: &Args, rule: LearningRule) -> Result<Timing> {
    let device = Default::default();
    B::seed(&device, args.seed);
    let mut net = NetworkConfig::new(known::darts_v2().with_rule(rule))
        .with_channels(args.channels)
        .with_layers(args.cells)
        .init::<B>(&device)?;
    let loss = CrossEntropyLossConfig::new().init(&device);
    let mut optim = WeightOptim::default().sgd::<B, Network<B>>();
    let mut batches = random_batches(args, args.steps + 1, &device).into_iter();
    Timing::run(args.steps, || {
        let (images, labels) = batches.next().context("out of batches")?;
        let value = loss.forward(net.forward(images), labels);
        let mut grads = GradientsParams::from_grads(value.backward(), &net);
        clip_global_norm(&net, &mut grads, 5.0);
        net = optim.step(0.025, net.clone(), grads);
        sync(&device)
    })
}

fn infer(args: &Args) -> Result<Timing> {
    let device = Default::default();
    B::seed(&device, args.seed);
    let net = NetworkConfig::new(known::darts_v2())
        .with_channels(args.channels)
        .with_layers(args.cells)
        .init::<B>(&device)?
        .valid();
    let mut batches = random_batches(args, args.infer_steps + 1, &device).into_iter();
    Timing::run(args.infer_steps, || {
        let (images, _) = batches.next().context("out of batches")?;
        let logits = net.forward(images.inner());
        let _ = logits.into_data();
        Ok(())
    })
}

/// Times the search's steps from its progress reports.
struct StepClock {
    last: Option<Instant>,
    timing: Option<Timing>,
}

impl SearchObserver for StepClock {
    fn epoch_started(&mut self, _epoch: usize, _steps: usize) {
        self.timing = Some(Timing::start());
        self.last = Some(Instant::now());
    }

    fn step_done(&mut self, _step: &StepReport) {
        if let (Some(timing), Some(last)) = (&mut self.timing, self.last) {
            timing.seconds.push(last.elapsed().as_secs_f64());
        }
        self.last = Some(Instant::now());
    }

    fn evaluating(&mut self, _epoch: usize) {
        if let Some(timing) = &mut self.timing {
            timing.finish();
        }
    }
}

fn search(args: &Args) -> Result<Timing> {
    let images = 2 * (args.search_steps + 1) * args.batch;
    let config = SearchConfig {
        epochs: 1,
        batch_size: args.batch,
        channels: args.channels,
        layers: args.cells,
        rules: args.rules.clone(),
        train_subset: Some(images),
        seed: args.seed,
        ..SearchConfig::paper()
    };
    let train = Cifar10::load(&args.data, Split::Train)
        .with_context(|| format!("cannot load the search images from {}", args.data.display()))?;
    if train.len() < images {
        bail!(
            "{} holds {} training images; {} search steps of batch {} need {images}",
            args.data.display(),
            train.len(),
            args.search_steps + 1,
            args.batch
        );
    }
    let data = SearchData::split(&train, &config)?;
    let mut clock = StepClock {
        last: None,
        timing: None,
    };
    bionas::nas::search::<B>(&config, &data, &Default::default(), None, &mut clock)?;
    clock.timing.context("the search took no step")
}

/// Runs one case in this process and returns its JSON line.
fn one_case(args: &Args, name: &str) -> Result<Value> {
    let case = Case::parse(name)?;
    let (timing, kind, rule, images) = match case {
        Case::Train(rule) => (train(args, rule)?, "train", rule.name().to_string(), 1),
        Case::Infer => (infer(args)?, "infer", "bp".to_string(), 1),
        Case::Search => {
            let rules: Vec<&str> = args.rules.iter().map(|r| r.name()).collect();
            (search(args)?, "search", rules.join("+"), 2)
        }
    };
    let timed = &timing.seconds[1..];
    let per_step = timed.iter().sum::<f64>() / timed.len().max(1) as f64;
    let device = Default::default();
    Ok(json!({
        "framework": "bionas",
        "version": format!("burn 0.21.0, {}", <Selected as Backend>::name(&device)),
        "case": kind,
        "rule": rule,
        "channels": args.channels,
        "cells": args.cells,
        "batch": args.batch,
        "threads": args.threads,
        "steps": timed.len(),
        "seconds_per_step": per_step,
        "images_per_second": (images * args.batch) as f64 / per_step,
        "peak_rss_mib": timing.peak_mib,
        "step_peak_mib": timing.peak_mib.zip(timing.baseline_mib).map(|(p, b)| p - b),
    }))
}

/// Runs `name` in a child process and parses its JSON line.
fn child(args: &Args, name: &str) -> Result<Value> {
    let exe = std::env::current_exe().context("cannot find this program")?;
    let mut command = Command::new(exe);
    command
        .args(std::env::args().skip(1))
        .args(["--one-case", name]);
    command.env("RAYON_NUM_THREADS", args.threads.to_string());
    // Keep freed pages mapped for reuse: returning them to the system and faulting them
    // back in cost a fifth of a training step (measured with perf).
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        command.env("MIMALLOC_PURGE_DELAY", "-1");
    }
    let output = command.output().context("cannot start a child process")?;
    if !output.status.success() {
        bail!(
            "case {name} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().context("the child printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("bad JSON from case {name}: {line}"))
}

/// `train:fa C16x8 b64`, `search:fa+usf+brsf+frsf C16x8 b16`: the key that pairs two
/// runs' lines (same case, rule, channels, cells and batch).
fn key(line: &Value) -> String {
    let text = |field: &str| line[field].as_str().unwrap_or("?").to_string();
    let count = |field: &str| {
        line[field]
            .as_u64()
            .map_or("?".to_string(), |v| v.to_string())
    };
    format!(
        "{}:{} C{}x{} b{}",
        text("case"),
        text("rule"),
        count("channels"),
        count("cells"),
        count("batch")
    )
}

fn number(line: &Value, field: &str) -> String {
    line[field]
        .as_f64()
        .map_or_else(|| "-".to_string(), |v| format!("{v:.1}"))
}

fn print_table(lines: &[Value], other: &BTreeMap<String, Value>) {
    let bp = lines
        .iter()
        .find(|l| l["case"] == "train" && l["rule"] == "bp")
        .and_then(|l| l["seconds_per_step"].as_f64());
    println!(
        "{:40} {:>9} {:>9} {:>10} {:>10} {:>8} {:>9} {:>8}",
        "case", "s/step", "img/s", "peak MiB", "step MiB", "vs BP", "other s", "speedup"
    );
    for line in lines {
        let seconds = line["seconds_per_step"].as_f64().unwrap_or(f64::NAN);
        let overhead = match (line["case"].as_str(), bp) {
            (Some("train"), Some(bp)) => format!("{:.3}x", seconds / bp),
            _ => "-".to_string(),
        };
        let theirs = other
            .get(&key(line))
            .and_then(|o| o["seconds_per_step"].as_f64());
        let (their_rate, speedup) = match theirs {
            Some(t) => (format!("{t:.3}"), format!("{:.2}x", t / seconds)),
            None => ("-".to_string(), "-".to_string()),
        };
        println!(
            "{:40} {:>9.3} {:>9} {:>10} {:>10} {:>8} {:>9} {:>8}",
            key(line),
            seconds,
            number(line, "images_per_second"),
            number(line, "peak_rss_mib"),
            number(line, "step_peak_mib"),
            overhead,
            their_rate,
            speedup
        );
    }
}

/// Reads JSON lines keyed by case and rule.
fn read_lines(path: &PathBuf) -> Result<BTreeMap<String, Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = BTreeMap::new();
    for (number, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let value: Value = serde_json::from_str(line)
            .with_context(|| format!("{} line {}: not JSON", path.display(), number + 1))?;
        if !value.is_object() || !value["seconds_per_step"].is_number() {
            bail!(
                "{} line {}: not a benchmark result (an object with seconds_per_step)",
                path.display(),
                number + 1
            );
        }
        lines.insert(key(&value), value);
    }
    Ok(lines)
}

/// Keeps, per case, the run with the shortest step.
fn fastest(runs: Vec<Value>) -> Vec<Value> {
    let mut best: Vec<Value> = Vec::new();
    for run in runs {
        let seconds = run["seconds_per_step"].as_f64().unwrap_or(f64::INFINITY);
        match best.iter_mut().find(|b| key(b) == key(&run)) {
            Some(b) if b["seconds_per_step"].as_f64().unwrap_or(f64::INFINITY) > seconds => {
                *b = run
            }
            Some(_) => {}
            None => best.push(run),
        }
    }
    best
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(name) = &args.one_case {
        println!("{}", one_case(&args, name)?);
        return Ok(());
    }
    for name in &args.cases {
        Case::parse(name)?;
    }
    let other = match &args.compare {
        Some(path) => read_lines(path)?,
        None => BTreeMap::new(),
    };
    let total = args.rounds * args.cases.len();
    let mut runs = Vec::with_capacity(total);
    for round in 0..args.rounds {
        for name in &args.cases {
            eprintln!("[{}/{total}] {name} (round {})", runs.len() + 1, round + 1);
            let line = child(&args, name)?;
            eprintln!("    {line}");
            runs.push(line);
        }
    }
    let lines = fastest(runs);
    if let Some(path) = &args.json {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    print_table(&lines, &other);
    Ok(())
}
