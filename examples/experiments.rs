//! Single rule against mixed rules, on one reduced protocol, with seeds: trains each arm
//! (a genotype with its rules) and tabulates mean ± standard deviation; then attacks the
//! best models and draws accuracy against ε.
//!
//! ```text
//! cargo run --release --example experiments                    # the reduced protocol
//! cargo run --release --example experiments -- --seeds 0 --epochs 2 --arms bp,biodarts
//! ```
//!
//! Arms: `bp`, `fa`, `usf`, `brsf`, `frsf`, `dfa`, `hebbian` (the BIODARTS cell with every
//! convolution on that rule), `biodarts` (the paper's mixed cell, uSF and frSF) and
//! `searched` (the genotype of `--searched`). The skeleton (stem, preprocessing, stride-2
//! skips, classifier) learns by BP in every arm, as in the paper's code.

use anyhow::{Context, Result, bail};
use bionas::backend::{Autodiff, Selected};
use bionas::bio_rules::LearningRule;
use bionas::datasets::{Cifar10, ImageDataset, Mode, Normalization, Split};
use bionas::nas::plot::{Chart, Figure, Series};
use bionas::nas::train::load_checkpoint;
use bionas::nas::{self, RunDir, Selection, Silent, TrainConfig, TrainData};
use bionas::robustness::{
    AnyAttack, Classifier, Fgsm, OnePixel, Pgd, Square, Sweep, SweepRow, Tpgd, sweep, sweep_chart,
    sweep_csv, transfer_accuracy,
};
use bionas::search_space::genotype::known;
use bionas::search_space::{Genotype, Network, NetworkConfig};
use burn::module::Module;
use burn::tensor::{Int, Tensor};
use clap::Parser;
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::PathBuf;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

type B = Autodiff<Selected>;

/// Single-rule baselines against mixed-rule genotypes, then adversarial robustness.
#[derive(Parser, Debug)]
#[command(
    after_help = "Examples:\n  experiments\n  experiments --seeds 0,1,2 --epochs 20 \
    --data cifar-10-batches-bin --train-subset 5000"
)]
struct Args {
    /// CIFAR-10 folder (binary layout).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/cifar10-mini"))]
    data: PathBuf,
    /// The arms, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "bp,fa,usf,brsf,frsf,biodarts,searched"
    )]
    arms: Vec<String>,
    /// The searched genotype of the `searched` arm.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"),
          "/genotypes/searched_cifar10_3k.json"))]
    searched: PathBuf,
    /// Seeds, comma-separated; every arm runs once per seed.
    #[arg(long, value_delimiter = ',', default_value = "0,1")]
    seeds: Vec<u64>,
    /// Epochs.
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    /// Initial channels C.
    #[arg(long, default_value_t = 8)]
    channels: usize,
    /// Number of cells.
    #[arg(long, default_value_t = 5)]
    cells: usize,
    /// Images per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Use only this many training images (class-balanced); all if absent.
    #[arg(long)]
    train_subset: Option<usize>,
    /// Use only this many test images (the first ones); all if absent.
    #[arg(long)]
    test_subset: Option<usize>,
    /// Share of the training images held out for model selection.
    #[arg(long, default_value_t = 0.1)]
    valid_fraction: f64,
    /// Arms whose first-seed model is attacked (the first is also the transfer source).
    #[arg(long, value_delimiter = ',', default_value = "bp,usf,frsf,biodarts")]
    attack_arms: Vec<String>,
    /// Radii ε of the attacks, in 1/255 pixel units, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,1,2,4,8")]
    epsilons: Vec<f32>,
    /// Images attacked (the first test images).
    #[arg(long, default_value_t = 100)]
    attack_images: usize,
    /// Query budget of the Square attack.
    #[arg(long, default_value_t = 100)]
    square_queries: usize,
    /// Population and generations of the one-pixel attack.
    #[arg(long, value_delimiter = ',', default_value = "20,10")]
    one_pixel: Vec<usize>,
    /// Skip training: attack the models already trained in --out (same arms and sizes).
    #[arg(long)]
    attack_only: bool,
    /// Output folder (default: runs/experiments-<time>).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// One trained arm and seed.
struct Row {
    arm: String,
    seed: u64,
    best_epoch: usize,
    valid_acc: f64,
    test_acc: f64,
    seconds: f64,
}

fn genotype_of(arm: &str, searched: &PathBuf) -> Result<Genotype> {
    Ok(match arm {
        "biodarts" => known::biodarts(),
        "searched" => Genotype::load(searched)?,
        rule => {
            let rule: LearningRule = rule
                .parse()
                .map_err(|e| anyhow::anyhow!("unknown arm `{rule}`: {e}"))?;
            known::biodarts().with_rule(rule)
        }
    })
}

fn network_config(args: &Args, genotype: Genotype) -> NetworkConfig {
    let norm = Normalization::CIFAR10;
    NetworkConfig::new(genotype)
        .with_channels(args.channels)
        .with_layers(args.cells)
        .with_mean(norm.mean)
        .with_std(norm.std)
}

fn main() -> Result<()> {
    let args = Args::parse();
    let out = args.out.clone().unwrap_or_else(|| {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        PathBuf::from(format!("runs/experiments-{secs}"))
    });
    for arm in &args.arms {
        genotype_of(arm, &args.searched)?;
    }
    if let Some(arm) = args.attack_arms.iter().find(|a| !args.arms.contains(a)) {
        bail!("--attack-arms names `{arm}`, which --arms does not train");
    }
    if args.one_pixel.len() != 2 || args.seeds.is_empty() {
        bail!("--one-pixel takes population,generations and --seeds at least one seed");
    }
    if args.attack_only {
        let root = RunDir::create(&out)?;
        let test_set = Cifar10::load(&args.data, Split::Test)?;
        attack(&args, &root, &test_set)?;
        println!("results in {}", root.path().display());
        return Ok(());
    }
    let root = RunDir::create(&out)?;
    root.write_json("args.json", &format!("{args:?}"))?;
    let train_set = Cifar10::load(&args.data, Split::Train)?;
    let test_set = Cifar10::load(&args.data, Split::Test)?;
    let test_idx: Vec<usize> = (0..args
        .test_subset
        .unwrap_or(test_set.len())
        .min(test_set.len()))
        .collect();
    let mut rows = Vec::new();
    root.append_line("runs.csv", "arm,seed,best_epoch,valid_acc,test_acc,seconds")?;
    for &seed in &args.seeds {
        let (train_idx, valid_idx) =
            nas::holdout(&train_set, args.train_subset, args.valid_fraction, seed)?;
        for arm in &args.arms {
            let row = train_arm(
                &args,
                &root,
                arm,
                seed,
                &train_set,
                &test_set,
                [&train_idx, &valid_idx, &test_idx],
            )?;
            root.append_line(
                "runs.csv",
                &format!(
                    "{},{},{},{:.4},{:.4},{:.1}",
                    row.arm, row.seed, row.best_epoch, row.valid_acc, row.test_acc, row.seconds
                ),
            )?;
            rows.push(row);
        }
    }
    let table = summary_table(&args.arms, &rows);
    println!("\n{table}");
    root.write_atomic("table.md", table.as_bytes())?;
    root.write_atomic("accuracy.svg", accuracy_chart(&args.arms, &rows).as_bytes())?;
    if !args.attack_arms.is_empty() {
        attack(&args, &root, &test_set)?;
    }
    println!("results in {}", root.path().display());
    Ok(())
}

fn train_arm(
    args: &Args,
    root: &RunDir,
    arm: &str,
    seed: u64,
    train_set: &Cifar10,
    test_set: &Cifar10,
    [train_idx, valid_idx, test_idx]: [&Vec<usize>; 3],
) -> Result<Row> {
    let started = Instant::now();
    let genotype = genotype_of(arm, &args.searched)?;
    let network = network_config(args, genotype);
    <B as burn::tensor::backend::Backend>::seed(&Default::default(), seed);
    let model: Network<B> = network.init(&Default::default())?;
    let run = RunDir::create(root.path().join(format!("{arm}-seed{seed}")))?;
    run.write_json("network.json", &network)?;
    let config = TrainConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        auxiliary_weight: 0.0,
        seed,
        ..TrainConfig::cifar()
    };
    run.write_json("config.json", &config)?;
    let data = TrainData {
        train: Selection::new(train_set, train_idx),
        valid: Selection::new(train_set, valid_idx),
        test: Some(Selection::new(test_set, test_idx)),
    };
    let outcome = nas::train(model, &config, data, &run, &mut Silent)
        .with_context(|| format!("arm {arm}, seed {seed}"))?;
    let test_acc = outcome.test.map_or(f64::NAN, |t| t.0);
    println!(
        "{arm:>9} seed {seed}: best epoch {}, valid {:.1}%, test {:.1}% ({:.0}s)",
        outcome.best_epoch,
        100.0 * outcome.best_valid_acc,
        100.0 * test_acc,
        started.elapsed().as_secs_f64()
    );
    Ok(Row {
        arm: arm.to_string(),
        seed,
        best_epoch: outcome.best_epoch,
        valid_acc: outcome.best_valid_acc,
        test_acc,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Mean and sample standard deviation.
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

fn summary_table(arms: &[String], rows: &[Row]) -> String {
    let mut text = String::from(
        "| arm | runs | test accuracy (%) | best valid accuracy (%) | seconds per run |\n\
         |---|---|---|---|---|\n",
    );
    for arm in arms {
        let of: Vec<&Row> = rows.iter().filter(|r| &r.arm == arm).collect();
        let pick = |f: fn(&Row) -> f64| of.iter().map(|r| f(r)).collect::<Vec<_>>();
        let (test, test_sd) = mean_std(&pick(|r| 100.0 * r.test_acc));
        let (valid, valid_sd) = mean_std(&pick(|r| 100.0 * r.valid_acc));
        let (secs, _) = mean_std(&pick(|r| r.seconds));
        // A spread needs two runs.
        let spread = |sd: f64| {
            if of.len() > 1 {
                format!(" ± {sd:.1}")
            } else {
                String::new()
            }
        };
        text.push_str(&format!(
            "| {arm} | {} | {test:.1}{} | {valid:.1}{} | {secs:.0} |\n",
            of.len(),
            spread(test_sd),
            spread(valid_sd)
        ));
    }
    text
}

/// Test accuracy of every run, one line per arm over the seeds.
fn accuracy_chart(arms: &[String], rows: &[Row]) -> String {
    let mut chart = Chart::new("Test accuracy per seed", "seed", "test accuracy (%)");
    for arm in arms {
        let points = rows
            .iter()
            .filter(|r| &r.arm == arm)
            .map(|r| (r.seed as f64, 100.0 * r.test_acc))
            .collect();
        chart = chart.with_series(Series::new(arm.clone(), points));
    }
    chart.to_svg()
}

/// Loads the first seed's best model of `arm`.
fn load_best(args: &Args, root: &RunDir, arm: &str) -> Result<Network<B>> {
    let seed = args.seeds.first().copied().unwrap_or(0);
    let path = root
        .path()
        .join(format!("{arm}-seed{seed}"))
        .join("best.mpk");
    if !path.exists() {
        bail!(
            "{} is missing: add `{arm}` to --arms to attack it",
            path.display()
        );
    }
    let model = network_config(args, genotype_of(arm, &args.searched)?).init(&Default::default())?;
    // No parameter tracks gradients: attacks differentiate the input only, and a forward
    // pass of the black-box attacks then builds no graph that would wait for a backward
    // pass that never comes.
    Ok(load_checkpoint(&path, model, &Default::default())?.no_grad())
}

fn attack(args: &Args, root: &RunDir, test_set: &Cifar10) -> Result<()> {
    let n = args.attack_images.min(test_set.len());
    let indices: Vec<usize> = (0..n).collect();
    let mut unused = StdRng::seed_from_u64(0); // evaluation batches draw nothing
    let batch = test_set.batch::<B>(&indices, Mode::Eval, &mut unused, &Default::default())?;
    let (images, labels): (Tensor<B, 4>, Tensor<B, 1, Int>) = (batch.images, batch.targets);
    let epsilons: Vec<f32> = args.epsilons.iter().map(|e| e / 255.0).collect();
    let white = Sweep {
        attacks: vec![
            AnyAttack::Fgsm(Fgsm::new(0.0)),
            AnyAttack::Pgd(Pgd::new(0.0)),
            AnyAttack::Tpgd(Tpgd::new(0.0)),
        ],
        epsilons: epsilons.clone(),
        batch_size: args.batch_size,
    };
    let (population, generations) = match args.one_pixel.as_slice() {
        [p, g] => (*p, *g),
        _ => bail!("--one-pixel takes population,generations"),
    };
    let black = Sweep {
        attacks: vec![
            AnyAttack::Square(Square {
                queries: args.square_queries,
                ..Square::new(0.0)
            }),
            AnyAttack::OnePixel(OnePixel {
                population,
                iterations: generations,
                ..OnePixel::new(1)
            }),
        ],
        epsilons: epsilons.clone(),
        batch_size: args.batch_size,
    };
    let mut rows: Vec<SweepRow> = Vec::new();
    let source_arm = &args.attack_arms[0];
    let source = load_best(args, root, source_arm)?;
    let source_view = |x: Tensor<B, 4>| source.forward_eval(x);
    for arm in &args.attack_arms {
        let started = Instant::now();
        let model = load_best(args, root, arm)?;
        let rule_view = |x: Tensor<B, 4>| model.forward_eval(x);
        let true_view = |x: Tensor<B, 4>| model.hub.with_backprop(|| model.forward_eval(x));
        let x = images.clone();
        let y = labels.clone();
        // Every sweep starts from the same generator state, so the two gradient views
        // get the same random starts.
        let fresh = || StdRng::seed_from_u64(0);
        let name = |view: &str| format!("{arm}, {view}");
        let (xs, ys) = (x.clone(), y.clone());
        rows.extend(sweep(
            &name("rule gradients"),
            &rule_view,
            &white,
            xs,
            ys,
            &mut fresh(),
        )?);
        let (xs, ys) = (x.clone(), y.clone());
        rows.extend(sweep(
            &name("true gradients"),
            &true_view,
            &white,
            xs,
            ys,
            &mut fresh(),
        )?);
        let (xs, ys) = (x.clone(), y.clone());
        rows.extend(sweep(
            &name("black box"),
            &rule_view,
            &black,
            xs,
            ys,
            &mut fresh(),
        )?);
        if arm != source_arm {
            for &epsilon in &epsilons {
                let pgd = Pgd::new(epsilon);
                let t = transfer_accuracy(
                    &source_view as &dyn Classifier<B>,
                    &rule_view,
                    &pgd,
                    x.clone(),
                    y.clone(),
                    args.batch_size,
                    &mut StdRng::seed_from_u64(0),
                )?;
                rows.push(SweepRow {
                    model: format!("{arm}, transfer from {source_arm}"),
                    attack: "PGD".into(),
                    epsilon,
                    accuracy: t.target,
                });
            }
        }
        println!("attacked {arm} in {:.0}s", started.elapsed().as_secs_f64());
    }
    root.write_atomic("robustness.csv", sweep_csv(&rows).as_bytes())?;
    let mut figure = Figure::new(2);
    for attack in ["FGSM", "PGD", "TPGD", "Square", "OnePixel"] {
        let of: Vec<SweepRow> = rows
            .iter()
            .filter(|r| r.attack == attack)
            .cloned()
            .collect();
        figure = figure.with_chart(sweep_chart(&of, &format!("{attack}: accuracy against ε")));
    }
    root.write_atomic("robustness.svg", figure.to_svg().as_bytes())?;
    Ok(())
}
