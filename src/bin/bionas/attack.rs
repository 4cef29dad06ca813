//! `bionas attack`: robust accuracy of a trained run's model on its test images, for each
//! attack and radius ε, written as CSV and SVG into the run folder.
//!
//! Images are attacked in pixel space (the network normalises its input itself). Gradient
//! attacks (FGSM, PGD, TPGD) see the model's own learning rules by default, what an
//! attacker of the released code sees; `--true-gradient` gives them back-propagation's
//! gradients of the same weights instead, so that gradient masking shows.

use anyhow::{Result, ensure};
use bionas::backend::{Autodiff, Selected};
use bionas::datasets::{ImageDataset, Mode};
use bionas::robustness::{
    AnyAttack, Attack, Classifier, Fgsm, OnePixel, Pgd, RobustAccuracy, Square, SweepRow, Tpgd,
    robust_accuracy, sweep_chart, sweep_csv,
};
use bionas::search_space::Network;
use burn::module::Module;
use burn::tensor::Tensor;
use clap::{Args, ValueEnum};
use rand::SeedableRng;
use rand::rngs::StdRng;
use std::path::PathBuf;

use crate::data::AnyDataset;
use crate::eval::{Checkpoint, load_model, record_with_data};
use crate::output::write_file;
use crate::progress::Progress;

/// The backend of the attacks: they differentiate the model's input.
type B = Autodiff<Selected>;

/// Radii are given in 1/255 pixel units.
const PIXEL_LEVELS: f32 = 255.0;

/// Examples of `bionas attack --help`.
const EXAMPLES: &str = "Examples:
  bionas attack runs/train --attack fgsm,pgd --eps 0,2,4,8
  bionas attack runs/train --attack pgd --eps 2,4,8 --true-gradient
  bionas attack runs/train --attack square --eps 4,8 --queries 100 --images 50
  bionas attack runs/train --attack onepixel --population 20 --generations 10

Writes attack-<attacks>[-true].csv (model, attack, epsilon in pixel units, clean and
adversarial accuracy, images) and the matching .svg (accuracy against ε) into the run
folder.";

/// Arguments of `bionas attack`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct AttackArgs {
    /// A run folder written by `bionas train`.
    #[arg(value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// The attacks, comma-separated.
    #[arg(long = "attack", value_enum, value_delimiter = ',', required = true)]
    pub attacks: Vec<AttackKind>,
    /// Radii ε in 1/255 pixel units, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0,2,4,8")]
    pub eps: Vec<f32>,
    /// Gradient attacks follow back-propagation's gradients instead of the model's rules.
    #[arg(long)]
    pub true_gradient: bool,
    /// Images attacked: the first ones of the test set.
    #[arg(long, default_value_t = 100)]
    pub images: usize,
    /// Which checkpoint.
    #[arg(long, value_enum, default_value_t = Checkpoint::Best)]
    pub checkpoint: Checkpoint,
    /// The data folder, when it is no longer where the run read it.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// Images per attacked batch.
    #[arg(long, default_value_t = 50)]
    pub batch_size: usize,
    /// Steps of PGD and TPGD (default: the paper's 10).
    #[arg(long)]
    pub steps: Option<usize>,
    /// Query budget per image of the Square attack (default 5000).
    #[arg(long)]
    pub queries: Option<usize>,
    /// Pixels changed by the one-pixel attack.
    #[arg(long, default_value_t = 1)]
    pub pixels: usize,
    /// Population of the one-pixel attack (default 400).
    #[arg(long)]
    pub population: Option<usize>,
    /// Generations of the one-pixel attack (default 100).
    #[arg(long)]
    pub generations: Option<usize>,
    /// Seed of the attacks' random draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// The attacks on offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AttackKind {
    /// Fast gradient sign method (one step).
    Fgsm,
    /// Projected gradient descent.
    Pgd,
    /// TRADES-style KL projected gradient descent.
    Tpgd,
    /// Square attack (black box, random squares).
    Square,
    /// One-pixel attack (black box, differential evolution; ignores ε).
    Onepixel,
}

impl AttackKind {
    /// Whether it follows the model's gradients.
    fn uses_gradients(self) -> bool {
        matches!(self, Self::Fgsm | Self::Pgd | Self::Tpgd)
    }

    /// Its name on the command line.
    fn name(self) -> &'static str {
        match self {
            Self::Fgsm => "fgsm",
            Self::Pgd => "pgd",
            Self::Tpgd => "tpgd",
            Self::Square => "square",
            Self::Onepixel => "onepixel",
        }
    }
}

impl AttackArgs {
    /// The attack `kind` with these settings (radius 0: set per ε).
    fn attack(&self, kind: AttackKind) -> AnyAttack {
        match kind {
            AttackKind::Fgsm => Fgsm::new(0.0).into(),
            AttackKind::Pgd => {
                let pgd = Pgd::new(0.0);
                let steps = self.steps.unwrap_or(pgd.steps);
                Pgd { steps, ..pgd }.into()
            }
            AttackKind::Tpgd => {
                let tpgd = Tpgd::new(0.0);
                let steps = self.steps.unwrap_or(tpgd.steps);
                Tpgd { steps, ..tpgd }.into()
            }
            AttackKind::Square => {
                let square = Square::new(0.0);
                let queries = self.queries.unwrap_or(square.queries);
                Square { queries, ..square }.into()
            }
            AttackKind::Onepixel => {
                let one = OnePixel::new(self.pixels);
                let population = self.population.unwrap_or(one.population);
                let iterations = self.generations.unwrap_or(one.iterations);
                OnePixel {
                    population,
                    iterations,
                    ..one
                }
                .into()
            }
        }
    }

    /// Checks the numbers before anything is loaded.
    fn check(&self) -> Result<()> {
        ensure!(self.images > 0, "--images must be at least 1");
        ensure!(self.batch_size > 0, "--batch-size must be at least 1");
        ensure!(
            self.eps.iter().all(|e| e.is_finite() && *e >= 0.0),
            "--eps takes radii that are finite and not negative"
        );
        ensure!(!self.eps.is_empty(), "--eps needs at least one radius");
        Ok(())
    }

    /// The stem of the output files: `attack-fgsm-pgd`, with `-true` for true gradients.
    fn file_stem(&self) -> String {
        let names: Vec<&str> = self.attacks.iter().map(|a| a.name()).collect();
        let suffix = if self.true_gradient { "-true" } else { "" };
        format!("attack-{}{suffix}", names.join("-"))
    }
}

/// The images an attack sweep runs on.
struct Targets<'a> {
    /// The test set.
    set: &'a AnyDataset,
    /// The images attacked.
    indices: Vec<usize>,
    /// Images per batch.
    batch_size: usize,
}

/// Runs `bionas attack`.
pub fn run(args: &AttackArgs) -> Result<()> {
    args.check()?;
    let record = record_with_data(&args.run, args.data.as_ref())?;
    let model: Network<B> = load_model::<B>(&args.run, &record, args.checkpoint)?;
    // No parameter tracks gradients: the attacks differentiate the input only, and the
    // black-box attacks' forward passes then build no graph that waits for a backward pass.
    let model = model.no_grad();
    let test = record.setup.data.load_test()?;
    let targets = Targets {
        set: &test,
        indices: (0..args.images.min(test.len())).collect(),
        batch_size: args.batch_size,
    };
    println!(
        "attacking {} test images of {} ({} checkpoint)",
        targets.indices.len(),
        args.run.display(),
        args.checkpoint.name()
    );
    let rows = attack_all(args, &model, &targets)?;
    let stem = args.file_stem();
    let csv = sweep_csv(&rows);
    write_file(&args.run.join(format!("{stem}.csv")), csv.as_bytes())?;
    let title = format!("{}: accuracy against ε", args.run.display());
    let svg = sweep_chart(&rows, &title).to_svg();
    write_file(&args.run.join(format!("{stem}.svg")), svg.as_bytes())?;
    println!("wrote {stem}.csv and {stem}.svg in {}", args.run.display());
    Ok(())
}

/// Every requested attack at every radius.
fn attack_all(args: &AttackArgs, model: &Network<B>, targets: &Targets) -> Result<Vec<SweepRow>> {
    let rule_view = |x: Tensor<B, 4>| model.forward_eval(x);
    let true_view = |x: Tensor<B, 4>| model.hub.with_backprop(|| model.forward_eval(x));
    let mut progress = Progress::new();
    let mut rows = Vec::new();
    for &kind in &args.attacks {
        let (view, name): (&dyn Classifier<B>, &str) = match kind {
            k if !k.uses_gradients() => (&rule_view, "black box"),
            _ if args.true_gradient => (&true_view, "true gradients"),
            _ => (&rule_view, "rule gradients"),
        };
        let attack = args.attack(kind);
        let mut rng = StdRng::seed_from_u64(args.seed);
        let mut once: Option<RobustAccuracy> = None;
        for &eps in &args.eps {
            let attack = Attack::<B>::with_epsilon(&attack, eps / PIXEL_LEVELS);
            let ignores_eps = Attack::<B>::epsilon(&attack).is_none();
            let accuracy = match once {
                Some(accuracy) if ignores_eps => accuracy,
                _ => {
                    let label = if ignores_eps {
                        kind.name().to_string()
                    } else {
                        format!("{} ε={eps}", kind.name())
                    };
                    progress.start(label, targets.indices.len().div_ceil(targets.batch_size));
                    measure(view, &attack, targets, &mut rng, &mut progress)?
                }
            };
            if ignores_eps {
                once = Some(accuracy);
            }
            let row = SweepRow {
                model: name.to_string(),
                attack: Attack::<B>::name(&attack).to_string(),
                epsilon: eps / PIXEL_LEVELS,
                accuracy,
            };
            progress.line(&format!(
                "{:>8} ε={eps:>4}/255 ({name}): clean {:5.1}%, adversarial {:5.1}%",
                row.attack,
                100.0 * row.clean_accuracy(),
                100.0 * row.adversarial_accuracy()
            ));
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Clean and adversarial counts of `attack` on the targets, batch by batch.
fn measure(
    model: &dyn Classifier<B>,
    attack: &AnyAttack,
    targets: &Targets,
    rng: &mut StdRng,
    progress: &mut Progress,
) -> Result<RobustAccuracy> {
    let device = Default::default();
    let mut unused = StdRng::seed_from_u64(0); // evaluation batches draw nothing
    let mut total = RobustAccuracy::default();
    for chunk in targets.indices.chunks(targets.batch_size) {
        let batch = targets
            .set
            .batch::<B>(chunk, Mode::Eval, &mut unused, &device)?;
        let n = chunk.len();
        let counts = robust_accuracy(model, attack, batch.images, batch.targets, n, rng)?;
        total.total += counts.total;
        total.clean_correct += counts.clean_correct;
        total.adversarial_correct += counts.adversarial_correct;
        let adversarial = 100.0 * total.adversarial();
        progress.step(&format!("adversarial acc {adversarial:.1}%"));
    }
    progress.finish();
    Ok(total)
}
