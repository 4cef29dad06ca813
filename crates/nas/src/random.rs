//! Random search: sample genotypes uniformly, train each briefly, keep the best.
//!
//! Genotype `i` is drawn from a generator seeded with `(seed, i)`: for each node of each
//! cell type, two distinct inputs and, on each, a candidate other than `none`. It is built
//! as a final network with the search's channels and cells (no auxiliary head, no
//! drop-path), trained on the weight half for `epochs` epochs with the search's weight
//! optimiser and batch size, and scored on the other half by its best epoch's validation
//! accuracy and loss (the figures of its row in `metrics.csv`); the best accuracy
//! wins (ties: lower validation loss, then the earlier sample). Each sample's run lives in
//! `trials/NNN/` (metrics, curves, best checkpoint); `trials.json` lists the finished
//! ones and is rewritten atomically after each, so a resumed search skips them; the
//! folder's `metrics.csv`, `metrics.jsonl`, `genotypes.jsonl` (one row per sample),
//! `curves.svg`, `genotype.json` and `cells.svg` (the best so far) are rewritten with it.

use bio_rules::RuleBackend;
use burn::tensor::backend::AutodiffBackend;
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use search_space::{
    CandidateSet, CellGenotype, Genotype, GenotypeEdge, NetworkConfig, genotype::STEPS,
};
use serde::{Deserialize, Serialize};

use crate::search::{epoch_seed, log_line};
use crate::train::{LrSchedule, TrainConfig, TrainData, TrainEpoch, TrainObserver, train};
use crate::{
    AlignmentLog, EpochReport, NasError, RandomConfig, Result, RunDir, SearchConfig, SearchData,
    SearchObserver, SearchOutcome, Selection, Strategy, search_curves_svg,
};

/// The file listing the finished samples of a random search.
pub const TRIALS: &str = "trials.json";

/// One finished sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Trial {
    genotype: Genotype,
    report: EpochReport,
}

/// Draws a genotype: per node two distinct inputs, each with a candidate other than
/// `none`.
pub fn sample_genotype(candidates: &CandidateSet, rng: &mut impl Rng) -> Genotype {
    let allowed: Vec<_> = candidates
        .candidates()
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, _)| Some(*i) != candidates.none_index())
        .map(|(_, c)| c)
        .collect();
    let mut cell = || {
        let mut edges = Vec::with_capacity(2 * STEPS);
        for node in 0..STEPS {
            let mut inputs = sample(rng, node + 2, 2).into_vec();
            inputs.sort_unstable();
            for input in inputs {
                let candidate = allowed[rng.random_range(0..allowed.len())];
                edges.push(GenotypeEdge::new(candidate, input));
            }
        }
        CellGenotype {
            edges,
            concat: (2..2 + STEPS).collect(),
        }
    };
    let normal = cell();
    Genotype {
        normal,
        reduce: cell(),
    }
}

/// Reads the finished samples of a random search's run folder.
pub(crate) fn load_progress(run: &RunDir) -> Result<Vec<Trial>> {
    if run.path().join(TRIALS).exists() {
        run.read_json(TRIALS)
    } else {
        Ok(Vec::new())
    }
}

/// Forwards a retraining's steps to a search observer.
struct Forward<'a> {
    observer: &'a mut dyn SearchObserver,
    sample: usize,
}

impl TrainObserver for Forward<'_> {
    fn epoch_started(&mut self, _epoch: usize, steps: usize) {
        self.observer.epoch_started(self.sample, steps);
    }

    fn step_done(&mut self, _epoch: usize, step: usize, loss: f32) {
        let report = crate::StepReport {
            epoch: self.sample,
            step,
            steps: 0,
            train_loss: loss,
            arch_loss: f32::NAN,
        };
        self.observer.step_done(&report);
    }
}

/// Runs random search; `done` holds the samples a resumed run already finished.
pub(crate) fn random_search<B>(
    config: &SearchConfig,
    data: &SearchData,
    device: &B::Device,
    run: Option<&RunDir>,
    observer: &mut dyn SearchObserver,
    done: Option<Vec<Trial>>,
) -> Result<SearchOutcome<B>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
{
    let Strategy::Random(settings) = &config.strategy else {
        return Err(NasError::config("strategy", "not a random search"));
    };
    let candidates = CandidateSet::new(&config.rules)?;
    let resumed = done.is_some();
    let mut trials = done.unwrap_or_default();
    let scratch;
    let run = match run {
        Some(run) => run,
        None => {
            scratch = ScratchDir::new()?;
            &scratch.run
        }
    };
    if !resumed {
        run.write_json("config.json", config)?;
        log_line(
            run,
            &format!("started: random search, seed {}", config.seed),
        )?;
    } else {
        log_line(run, &format!("resumed after {} samples", trials.len()))?;
    }
    for index in trials.len()..settings.samples {
        let mut rng = StdRng::seed_from_u64(epoch_seed(config.seed, index));
        let genotype = sample_genotype(&candidates, &mut rng);
        let trial = run_trial::<B>(
            config, settings, &genotype, index, data, device, run, observer,
        )?;
        observer.epoch_done(&trial.report);
        trials.push(trial);
        run.write_json(TRIALS, &trials)?;
        record(run, &trials)?;
    }
    let best = best_trial(&trials).ok_or_else(|| NasError::config("strategy.samples", "none"))?;
    Ok(SearchOutcome {
        genotype: best.genotype.clone(),
        reports: trials.iter().map(|t| t.report.clone()).collect(),
        supernet: None,
        alignment: AlignmentLog::default(),
    })
}

/// The best trial: highest validation accuracy, then lowest loss, then earliest.
fn best_trial(trials: &[Trial]) -> Option<&Trial> {
    trials.iter().reduce(|best, t| {
        let better = t.report.valid_acc > best.report.valid_acc
            || (t.report.valid_acc == best.report.valid_acc
                && t.report.valid_loss < best.report.valid_loss);
        if better { t } else { best }
    })
}

#[allow(clippy::too_many_arguments)]
fn run_trial<B>(
    config: &SearchConfig,
    settings: &RandomConfig,
    genotype: &Genotype,
    index: usize,
    data: &SearchData,
    device: &B::Device,
    run: &RunDir,
    observer: &mut dyn SearchObserver,
) -> Result<Trial>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
{
    let seed = epoch_seed(config.seed, index);
    B::seed(device, seed);
    let stats = datasets::Normalization::CIFAR10;
    let model = NetworkConfig::new(genotype.clone())
        .with_channels(config.channels)
        .with_layers(config.layers)
        .with_skeleton_rule(config.skeleton_rule)
        .with_mean(stats.mean)
        .with_std(stats.std)
        .init::<B>(device)?;
    let w = &config.weights;
    let train_config = TrainConfig {
        epochs: settings.epochs,
        batch_size: config.batch_size,
        lr: w.lr,
        schedule: LrSchedule::Cosine { lr_min: w.lr_min },
        momentum: w.momentum,
        weight_decay: w.weight_decay,
        grad_clip: w.grad_clip,
        drop_path: 0.0,
        auxiliary_weight: 0.0,
        label_smoothing: 0.0,
        seed,
        ..TrainConfig::cifar()
    };
    let train_indices: Vec<usize> = (0..data.weights.len()).collect();
    let valid_indices: Vec<usize> = (0..data.arch.len()).collect();
    let split = TrainData {
        train: Selection::new(&data.weights, &train_indices),
        valid: Selection::new(&data.arch, &valid_indices),
        test: None,
    };
    let folder = RunDir::create(run.path().join("trials").join(format!("{index:03}")))?;
    let mut forward = Forward {
        observer,
        sample: index,
    };
    let outcome = train::<B, _>(model, &train_config, split, &folder, &mut forward)?;
    let best = outcome.epochs.get(outcome.best_epoch).cloned();
    Ok(Trial {
        genotype: genotype.clone(),
        report: report(index, &outcome.epochs, best, genotype),
    })
}

/// A sample's row: the figures of its best validation epoch (the one selection would
/// keep), the time of all its epochs.
fn report(
    index: usize,
    epochs: &[TrainEpoch],
    best: Option<TrainEpoch>,
    genotype: &Genotype,
) -> EpochReport {
    let best = best.unwrap_or(TrainEpoch {
        epoch: 0,
        lr: 0.0,
        drop_path: 0.0,
        train_loss: f64::NAN,
        train_acc: 0.0,
        valid_loss: f64::NAN,
        valid_acc: 0.0,
        seconds: 0.0,
    });
    let seconds: f64 = epochs.iter().map(|e| e.seconds).sum();
    EpochReport {
        epoch: index,
        lr: best.lr,
        train_loss: best.train_loss,
        train_acc: best.train_acc,
        arch_loss: 0.0,
        valid_loss: best.valid_loss,
        valid_acc: best.valid_acc,
        alpha_max_abs: 0.0,
        alpha_entropy: 0.0,
        seconds,
        images_per_second: 0.0,
        genotype: genotype.to_string(),
    }
}

/// Rewrites the summary files from the finished trials.
fn record(run: &RunDir, trials: &[Trial]) -> Result<()> {
    let mut csv = format!("{}\n", EpochReport::CSV_HEADER);
    for t in trials {
        csv.push_str(&t.report.csv_row());
        csv.push('\n');
    }
    run.write_atomic("metrics.csv", csv.as_bytes())?;
    let (mut genotypes, mut metrics) = (String::new(), String::new());
    for t in trials {
        let line = serde_json::json!({ "epoch": t.report.epoch, "genotype": t.genotype });
        genotypes.push_str(&format!("{line}\n"));
        let report = serde_json::to_string(&t.report).unwrap_or_default();
        metrics.push_str(&format!("{report}\n"));
    }
    run.write_atomic("genotypes.jsonl", genotypes.as_bytes())?;
    run.write_atomic("metrics.jsonl", metrics.as_bytes())?;
    let reports: Vec<EpochReport> = trials.iter().map(|t| t.report.clone()).collect();
    run.write_atomic("curves.svg", search_curves_svg(&reports).as_bytes())?;
    if let (Some(best), Some(last)) = (best_trial(trials), trials.last()) {
        run.write_json("genotype.json", &best.genotype)?;
        run.write_atomic("cells.svg", best.genotype.to_svg().as_bytes())?;
        run.write_atomic("cells.dot", best.genotype.to_dot().as_bytes())?;
        let text = format!(
            "sample {}: valid acc {:.4}, loss {:.4}; best so far sample {} ({:.4}); {}",
            last.report.epoch,
            last.report.valid_acc,
            last.report.valid_loss,
            best.report.epoch,
            best.report.valid_acc,
            last.report.genotype
        );
        log_line(run, &text)?;
    }
    Ok(())
}

/// A temporary folder for the trials of a search run without a run folder.
struct ScratchDir {
    run: RunDir,
    path: std::path::PathBuf,
}

impl ScratchDir {
    fn new() -> Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let name = format!("bionas-random-{}-{nanos}", std::process::id());
        let path = std::env::temp_dir().join(name);
        Ok(Self {
            run: RunDir::create(&path)?,
            path,
        })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
