//! Times the training passes of the search supernet and of a final network on the CPU.
//!
//! ```text
//! cargo run --release --example supernet_speed
//! cargo run --release --example supernet_speed -- --channels 8 --cells 5 --batch-size 64
//! ```
//!
//! Prints, for each setting, the seconds of a forward pass, of a forward and backward pass,
//! and the images per second of training (forward and backward), averaged over `--repeat`
//! passes after one warm-up pass.

use anyhow::{Context, Result};
use bionas::backend::{Autodiff, Selected};
use bionas::bio_rules::LearningRule;
use bionas::search_space::genotype::known;
use bionas::search_space::{NetworkConfig, SupernetConfig};
use burn::tensor::{Distribution, Tensor};
use clap::Parser;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type B = Autodiff<Selected>;

/// Supernet and network timing.
#[derive(Parser, Debug)]
struct Args {
    /// Initial channels C.
    #[arg(long, default_value_t = 4)]
    channels: usize,
    /// Number of cells.
    #[arg(long, default_value_t = 3)]
    cells: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Timed passes.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Rules of the supernet's candidates.
    #[arg(long, value_delimiter = ',', default_value = "fa,usf,brsf,frsf")]
    rules: Vec<LearningRule>,
    /// Rules to time the final network with, every convolution on the rule.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bp,fa,usf,brsf,frsf,dfa,hebbian"
    )]
    network_rules: Vec<LearningRule>,
}

/// Mean seconds of (forward, forward + backward) over `repeat` passes after a warm-up.
fn time_passes(repeat: usize, mut pass: impl FnMut(bool)) -> (f64, f64) {
    pass(true);
    let (mut forward, mut total) = (0.0, 0.0);
    for _ in 0..repeat {
        let start = Instant::now();
        pass(false);
        forward += start.elapsed().as_secs_f64();
        let start = Instant::now();
        pass(true);
        total += start.elapsed().as_secs_f64();
    }
    (forward / repeat as f64, total / repeat as f64)
}

fn report(name: &str, batch: usize, (forward, total): (f64, f64)) {
    println!(
        "{name:44} forward {forward:6.2}s  forward+backward {total:6.2}s  {:6.1} img/s",
        batch as f64 / total
    );
}

fn main() -> Result<()> {
    let args = Args::parse();
    let device = Default::default();
    let images =
        || Tensor::<B, 4>::random([args.batch_size, 3, 32, 32], Distribution::Default, &device);
    let supernet = SupernetConfig::new()
        .with_channels(args.channels)
        .with_layers(args.cells)
        .with_rules(args.rules.clone())
        .init::<B>(&device)
        .context("supernet")?;
    let times = time_passes(args.repeat, |backward| {
        let loss = supernet.forward(images()).sum();
        if backward {
            let _ = loss.backward();
        }
    });
    let rules: Vec<&str> = args.rules.iter().map(|r| r.name()).collect();
    let name = format!(
        "supernet C={} cells={} ({})",
        args.channels,
        args.cells,
        rules.join(",")
    );
    report(&name, args.batch_size, times);
    for &rule in &args.network_rules {
        let net = NetworkConfig::new(known::darts_v2().with_rule(rule))
            .with_channels(16)
            .with_layers(8)
            .init::<B>(&device)
            .context("network")?;
        let times = time_passes(args.repeat, |backward| {
            let loss = net.forward(images()).sum();
            if backward {
                let _ = loss.backward();
            }
        });
        report(
            &format!("DARTS_V2 C=16 cells=8, convs on {rule}"),
            args.batch_size,
            times,
        );
    }
    Ok(())
}
