//! The same network, weights and batches on two backends: per-step losses, the largest
//! differences in outputs and gradients, and the speed of each.
//!
//! ```text
//! cargo run --release --example backend_swap -- --from flex --to ndarray
//! cargo run --release --example backend_swap -- --from flex --to ndarray64
//! cargo run --release --features wgpu --example backend_swap -- --from flex --to wgpu
//! ```
//!
//! The network is built on the first backend, its weights and stored feedback copied to
//! the second ([`bionas::swap::copy_module`]); both then take the same SGD steps on the
//! same CIFAR-10 batches. brSF draws come from each backend's own generator, so a
//! genotype with brSF edges differs by design; the default genotype (BIODARTS) has none.

use anyhow::{Context, Result, bail};
use bionas::bio_rules::RuleBackend;
use bionas::datasets::{Cifar10, CifarBatcher, CifarItem, Split};
use bionas::search_space::genotype::known;
use bionas::search_space::{Genotype, Network, NetworkConfig};
use bionas::swap::{copy_module, gradient_values, max_abs_diff, max_gradient_diff, values};
use burn::backend::Autodiff;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{GradientsParams, Optimizer, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Compare two backends on one network.
#[derive(Parser, Debug)]
struct Args {
    /// The backend the network is built on.
    #[arg(long, value_enum, default_value_t = Name::Flex)]
    from: Name,
    /// The backend it is copied to.
    #[arg(long, value_enum, default_value_t = Name::Ndarray)]
    to: Name,
    /// A genotype JSON file (default: the paper's BIODARTS cell).
    #[arg(long)]
    genotype: Option<PathBuf>,
    /// CIFAR-10 folder (official binary layout, or train.bin/test.bin).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/cifar10-mini"))]
    data: PathBuf,
    /// Initial channels C.
    #[arg(long, default_value_t = 8)]
    channels: usize,
    /// Cells.
    #[arg(long, default_value_t = 5)]
    cells: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// SGD steps.
    #[arg(long, default_value_t = 5)]
    steps: usize,
    /// SGD learning rate.
    #[arg(long, default_value_t = 0.025)]
    lr: f64,
    /// Seed of the first backend's generator (the weights and stored feedback).
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// A backend this build can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Name {
    /// Burn's flex CPU backend.
    Flex,
    /// Burn's ndarray CPU backend.
    Ndarray,
    /// Burn's ndarray CPU backend in 64-bit floats: a reference for the 32-bit backends.
    Ndarray64,
    /// wgpu (build with `--features wgpu`).
    Wgpu,
    /// CUDA (build with `--features cuda`).
    Cuda,
}

/// One backend's result for one step.
struct Step {
    logits: Vec<f32>,
    loss: f32,
    grads: std::collections::BTreeMap<burn::module::ParamId, Vec<f32>>,
    seconds: f64,
}

fn step<B: AutodiffBackend + RuleBackend>(
    net: Network<B>,
    optim: &mut impl Optimizer<Network<B>, B>,
    batch: &(TensorData, TensorData),
    lr: f64,
) -> (Network<B>, Step) {
    let device = Default::default();
    let start = Instant::now();
    let images = Tensor::<B, 4>::from_data(batch.0.clone(), &device);
    let targets = Tensor::<B, 1, Int>::from_data(batch.1.clone(), &device);
    let logits = net.forward(images);
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits.clone(), targets);
    let loss_value = values(loss.clone())[0];
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    let seconds = start.elapsed().as_secs_f64();
    let result = Step {
        logits: values(logits),
        loss: loss_value,
        grads: gradient_values(&net, &grads),
        seconds,
    };
    (optim.step(lr, net, grads), result)
}

fn run<A, B>(
    args: &Args,
    config: &NetworkConfig,
    batches: &[(TensorData, TensorData)],
) -> Result<()>
where
    A: AutodiffBackend + RuleBackend,
    B: AutodiffBackend + RuleBackend,
{
    let (device_a, device_b) = (Default::default(), Default::default());
    A::seed(&device_a, args.seed);
    let mut net_a = config.init::<A>(&device_a)?;
    let mut net_b = copy_module(net_a.clone(), config.init::<B>(&device_b)?, &device_b)?;
    let mut opt_a = SgdConfig::new().init::<A, Network<A>>();
    let mut opt_b = SgdConfig::new().init::<B, Network<B>>();
    let (mut time_a, mut time_b) = (0.0, 0.0);
    for (i, batch) in batches.iter().enumerate() {
        let (next_a, a) = step(net_a, &mut opt_a, batch, args.lr);
        let (next_b, b) = step(net_b, &mut opt_b, batch, args.lr);
        (net_a, net_b) = (next_a, next_b);
        let grad = max_gradient_diff(&a.grads, &b.grads).map_or(0.0, |d| d.0);
        println!(
            "step {i}: loss {:.6} vs {:.6} | max |Δlogit| {:.2e} | max relative Δgrad {:.2e} \
             | {:.2}s vs {:.2}s",
            a.loss,
            b.loss,
            max_abs_diff(&a.logits, &b.logits),
            grad,
            a.seconds,
            b.seconds
        );
        if i > 0 {
            (time_a, time_b) = (time_a + a.seconds, time_b + b.seconds);
        }
    }
    if batches.len() < 2 {
        println!("(speed needs two steps or more: the first one warms up)");
        return Ok(());
    }
    let timed = (batches.len() - 1) as f64;
    let rate = |t: f64| args.batch_size as f64 * timed / t.max(1e-9);
    println!(
        "{:?}: {:.1} img/s, {:?}: {:.1} img/s (forward + backward, after the first step)",
        args.from,
        rate(time_a),
        args.to,
        rate(time_b)
    );
    Ok(())
}

/// The batches, as backend-independent data.
fn batches(args: &Args) -> Result<Vec<(TensorData, TensorData)>> {
    let train = Cifar10::load(&args.data, Split::Train)
        .with_context(|| format!("loading {}", args.data.display()))?;
    let items: Vec<&CifarItem> = train.items().iter().collect();
    let batcher = CifarBatcher::eval();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
    Ok(items
        .chunks(args.batch_size)
        .take(args.steps)
        .map(|chunk| {
            let b =
                batcher.batch_with_rng::<burn::backend::Flex>(chunk, &mut rng, &Default::default());
            (b.images.into_data(), b.targets.into_data())
        })
        .collect())
}

macro_rules! with_second {
    ($a:ty, $args:expr, $config:expr, $batches:expr) => {
        match $args.to {
            Name::Flex => run::<$a, Autodiff<burn::backend::Flex>>($args, $config, $batches),
            Name::Ndarray => run::<$a, Autodiff<burn::backend::NdArray>>($args, $config, $batches),
            Name::Ndarray64 => {
                run::<$a, Autodiff<burn::backend::NdArray<f64>>>($args, $config, $batches)
            }
            #[cfg(feature = "wgpu")]
            Name::Wgpu => run::<$a, Autodiff<burn::backend::Wgpu>>($args, $config, $batches),
            #[cfg(feature = "cuda")]
            Name::Cuda => run::<$a, Autodiff<burn::backend::Cuda>>($args, $config, $batches),
            #[allow(unreachable_patterns)]
            other => bail!(
                "{other:?} is not in this build: add --features {}",
                format!("{other:?}").to_lowercase()
            ),
        }
    };
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.steps == 0 || args.batch_size == 0 {
        bail!("--steps and --batch-size must be at least 1");
    }
    let pair = [args.from, args.to];
    if pair.contains(&Name::Ndarray) && pair.contains(&Name::Ndarray64) {
        bail!(
            "ndarray and ndarray64 share one device, whose default float type is set for \
             both: compare ndarray64 with flex (or wgpu, cuda) instead"
        );
    }
    if pair.contains(&Name::Ndarray64) {
        // Burn creates float tensors in the device's default dtype, f32 unless told.
        let device = Default::default();
        burn::tensor::set_default_dtypes::<burn::backend::NdArray<f64>>(
            &device,
            burn::tensor::DType::F64,
            burn::tensor::DType::I64,
        )
        .map_err(|e| anyhow::anyhow!("cannot make ndarray compute in f64: {e:?}"))?;
    }
    let genotype = match &args.genotype {
        Some(path) => Genotype::load(path)?,
        None => known::biodarts(),
    };
    let config = NetworkConfig::new(genotype)
        .with_channels(args.channels)
        .with_layers(args.cells);
    let batches = batches(&args)?;
    println!(
        "{:?} vs {:?}: C={}, {} cells, batch {}, {} steps",
        args.from,
        args.to,
        args.channels,
        args.cells,
        args.batch_size,
        batches.len()
    );
    match args.from {
        Name::Flex => with_second!(Autodiff<burn::backend::Flex>, &args, &config, &batches),
        Name::Ndarray => with_second!(Autodiff<burn::backend::NdArray>, &args, &config, &batches),
        Name::Ndarray64 => {
            with_second!(
                Autodiff<burn::backend::NdArray<f64>>,
                &args,
                &config,
                &batches
            )
        }
        #[cfg(feature = "wgpu")]
        Name::Wgpu => with_second!(Autodiff<burn::backend::Wgpu>, &args, &config, &batches),
        #[cfg(feature = "cuda")]
        Name::Cuda => with_second!(Autodiff<burn::backend::Cuda>, &args, &config, &batches),
        #[allow(unreachable_patterns)]
        other => bail!(
            "{other:?} is not in this build: add --features {}",
            format!("{other:?}").to_lowercase()
        ),
    }
}
