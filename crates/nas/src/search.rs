//! The bilevel search loop shared by first- and second-order DARTS and EG-NAS, its run
//! folder, checkpoints and resume.

use std::path::Path;

use bio_rules::{AlignmentProbe, RuleBackend};
use burn::module::AutodiffModule;
use burn::nn::loss::{CrossEntropyLoss, CrossEntropyLossConfig};
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{GradientsParams, Optimizer, Sgd};
use burn::tensor::activation::softmax;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{ElementConversion, Int, Tensor};
use datasets::{
    Augmentation, Cifar10, CifarBatcher, CifarItem, ImageBatch, Normalization, split_in_two,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use search_space::{
    ArchGenotype, Nb201Supernet, Nb201SupernetConfig, SearchSupernet, Supernet, SupernetConfig,
};
use serde::{Deserialize, Serialize};
use std::time::Instant;

use crate::alignment::{AlignmentLog, AlignmentSample, LAYER_CSV_HEADER, RULE_CSV_HEADER};
use crate::checkpoint::{Bundle, record_from_bytes, record_to_bytes};
use crate::clip::clip_global_norm;
use crate::config::cosine_lr;
use crate::report::{EpochReport, SearchObserver, StepReport};
use crate::strategies::{ArchInputs, ArchitectureStrategy, strategy_for};
use crate::{NasError, Result, RunDir, SearchConfig, SpaceKind, Strategy};

/// The file name of a search's checkpoint in its run folder.
pub const CHECKPOINT: &str = "checkpoint.bin";

/// The two halves of the training images: one trains the weights, the other `α`.
#[derive(Clone, Debug)]
pub struct SearchData {
    /// Images for the weight steps.
    pub weights: Cifar10,
    /// Images for the architecture steps, also evaluated after each epoch (DARTS' validation).
    pub arch: Cifar10,
}

impl SearchData {
    /// Takes the configured subset of `train` and splits it by `train_fraction`.
    pub fn split(train: &Cifar10, config: &SearchConfig) -> Result<Self> {
        let subset;
        let data = match config.train_subset {
            Some(n) if n < train.len() => {
                subset = train.subset(n, config.seed);
                &subset
            }
            Some(n) => {
                log::warn!(
                    "train_subset {n} exceeds the {} images available; using all",
                    train.len()
                );
                train
            }
            None => train,
        };
        let (first, second) = split_in_two(data.len(), config.train_fraction, config.seed);
        if first.is_empty() || second.is_empty() {
            let reason = format!(
                "{} images cannot be split in two non-empty halves",
                data.len()
            );
            return Err(NasError::Config {
                setting: "train_subset",
                reason,
            });
        }
        Ok(Self {
            weights: data.select(&first)?,
            arch: data.select(&second)?,
        })
    }
}

/// What a finished search returns.
#[derive(Debug)]
pub struct SearchOutcome<B: Backend, M: SearchSupernet<B> = Supernet<B>> {
    /// The genotype derived after the last epoch (the best one, for random search).
    pub genotype: M::Genotype,
    /// One report per epoch (per sampled genotype, for random search).
    pub reports: Vec<EpochReport>,
    /// The trained supernet (none for random search, which has no supernet).
    pub supernet: Option<M>,
    /// The alignment probes (empty unless `alignment_every` is set).
    pub alignment: AlignmentLog,
}

/// Runs the search `config.strategy` names over the DARTS space. With `run`, the settings,
/// the genotype after each epoch, the metrics, pictures and a checkpoint are written there
/// after every epoch; [`resume`] continues from that checkpoint.
///
/// First-order DARTS (the paper's search): per step, an Adam step on `α` with a batch of
/// the architecture half, then an SGD step on the weights with a batch of the weight half.
/// Both see the rule-modified gradients.
pub fn search<B>(
    config: &SearchConfig,
    data: &SearchData,
    device: &B::Device,
    run: Option<&RunDir>,
    observer: &mut dyn SearchObserver,
) -> Result<SearchOutcome<B>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
{
    config.validate()?;
    if config.space != SpaceKind::Darts {
        return Err(NasError::config(
            "space",
            "this is a DARTS-space search: use search_nb201",
        ));
    }
    if let Strategy::Random(_) = config.strategy {
        return crate::random::random_search::<B>(config, data, device, run, observer, None);
    }
    search_with(config, darts_supernet, data, device, run, observer)
}

/// Runs the search `config.strategy` names (DARTS first or second order, EG-NAS) over the
/// NAS-Bench-201 space; `config.space` must say so.
pub fn search_nb201<B>(
    config: &SearchConfig,
    data: &SearchData,
    device: &B::Device,
    run: Option<&RunDir>,
    observer: &mut dyn SearchObserver,
) -> Result<SearchOutcome<B, Nb201Supernet<B>>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
{
    if config.space != SpaceKind::Nb201 {
        return Err(NasError::config(
            "space",
            "this is an nb201 search: use search",
        ));
    }
    search_with(config, nb201_supernet, data, device, run, observer)
}

/// Builds the NAS-Bench-201 supernet of a search configuration (`channels` for the first
/// stage, `layers` cells per stage).
pub fn nb201_supernet<B: RuleBackend>(
    config: &SearchConfig,
    device: &B::Device,
) -> Result<Nb201Supernet<B>> {
    Ok(Nb201SupernetConfig::new()
        .with_channels(config.channels)
        .with_cells_per_stage(config.layers)
        .with_rules(config.rules.clone())
        .with_skeleton_rule(config.skeleton_rule)
        .init::<B>(device)?)
}

/// Continues the search whose run folder is `dir` from its last checkpoint (written after
/// each epoch): weights, architecture parameters, optimiser states, strategy state and
/// schedule position are restored, and every epoch draws its random numbers from
/// `(seed, epoch)`, so the result equals that of an uninterrupted run. Files appended
/// after the checkpoint are rewritten from it.
pub fn resume<B>(
    dir: impl AsRef<Path>,
    data: &SearchData,
    device: &B::Device,
    observer: &mut dyn SearchObserver,
) -> Result<SearchOutcome<B>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
{
    let run = RunDir::open(dir.as_ref())?;
    let config: SearchConfig = run.read_json("config.json")?;
    config.validate()?;
    if config.space != SpaceKind::Darts {
        return Err(NasError::config("space", "an nb201 run: use resume_nb201"));
    }
    if let Strategy::Random(_) = config.strategy {
        let done = crate::random::load_progress(&run)?;
        return crate::random::random_search::<B>(
            &config,
            data,
            device,
            Some(&run),
            observer,
            Some(done),
        );
    }
    resume_with(&run, &config, darts_supernet, data, device, observer)
}

/// [`resume`] for a NAS-Bench-201 search.
pub fn resume_nb201<B>(
    dir: impl AsRef<Path>,
    data: &SearchData,
    device: &B::Device,
    observer: &mut dyn SearchObserver,
) -> Result<SearchOutcome<B, Nb201Supernet<B>>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
{
    let run = RunDir::open(dir.as_ref())?;
    let config: SearchConfig = run.read_json("config.json")?;
    config.validate()?;
    if config.space != SpaceKind::Nb201 {
        return Err(NasError::config("space", "a DARTS-space run: use resume"));
    }
    resume_with(&run, &config, nb201_supernet, data, device, observer)
}

/// Continues a supernet search of any space from its run folder's checkpoint; `config`
/// is the run's own (its `config.json`), `build` makes its supernet.
pub fn resume_with<B, M>(
    run: &RunDir,
    config: &SearchConfig,
    build: fn(&SearchConfig, &B::Device) -> Result<M>,
    data: &SearchData,
    device: &B::Device,
    observer: &mut dyn SearchObserver,
) -> Result<SearchOutcome<B, M>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
    M: SearchSupernet<B> + AutodiffModule<B> + 'static,
    M::InnerModule: SearchSupernet<B::InnerBackend>,
{
    let Some(checkpoint) = Checkpoint::load(run)? else {
        // Stopped before its first epoch ended: nothing to keep, start over in place.
        refuse_restart_over_results(run, CHECKPOINT, &["genotype.json"])?;
        log_line(run, "no checkpoint yet: starting again from epoch 0")?;
        start_files(run, config)?;
        let state = SearchState::<B, M>::new(config, build, device)?;
        return state.run(History::default(), data, Some(run), observer);
    };
    check_settings(&checkpoint.bundle, &checkpoint.path, config)?;
    let mut state = SearchState::<B, M>::new(config, build, device)?;
    state.restore(&checkpoint)?;
    rewrite_history(run, config, &checkpoint.state)?;
    log_line(
        run,
        &format!("resumed at epoch {}", checkpoint.state.next_epoch),
    )?;
    state.run(checkpoint.state, data, Some(run), observer)
}

/// Builds the DARTS supernet of a search configuration.
pub fn darts_supernet<B: RuleBackend>(
    config: &SearchConfig,
    device: &B::Device,
) -> Result<Supernet<B>> {
    Ok(SupernetConfig::new()
        .with_channels(config.channels)
        .with_layers(config.layers)
        .with_rules(config.rules.clone())
        .with_skeleton_rule(config.skeleton_rule)
        .with_partial_channels(config.partial_channels)
        .init::<B>(device)?)
}

/// Runs a supernet strategy (DARTS first or second order, EG-NAS) over any search space:
/// `build` makes the supernet from the configuration.
pub fn search_with<B, M>(
    config: &SearchConfig,
    build: fn(&SearchConfig, &B::Device) -> Result<M>,
    data: &SearchData,
    device: &B::Device,
    run: Option<&RunDir>,
    observer: &mut dyn SearchObserver,
) -> Result<SearchOutcome<B, M>>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
    M: SearchSupernet<B> + AutodiffModule<B> + 'static,
    M::InnerModule: SearchSupernet<B::InnerBackend>,
{
    config.validate()?;
    if let Strategy::Random(_) = config.strategy {
        return Err(NasError::config(
            "strategy",
            "random search trains final networks, not a supernet: call `search`",
        ));
    }
    if let Some(run) = run {
        start_files(run, config)?;
    }
    let state = SearchState::<B, M>::new(config, build, device)?;
    state.run(History::default(), data, run, observer)
}

/// Writes the settings and the headers of a new run.
fn start_files(run: &RunDir, config: &SearchConfig) -> Result<()> {
    run.write_json("config.json", config)?;
    run.write_atomic(
        "metrics.csv",
        format!("{}\n", EpochReport::CSV_HEADER).as_bytes(),
    )?;
    run.write_atomic("metrics.jsonl", b"")?;
    run.write_atomic("genotypes.jsonl", b"")?;
    if config.alignment_every > 0 {
        run.write_atomic("alignment.csv", format!("{LAYER_CSV_HEADER}\n").as_bytes())?;
        let header = format!("{RULE_CSV_HEADER}\n");
        run.write_atomic("alignment_rules.csv", header.as_bytes())?;
    }
    let strategy = config.strategy.name();
    log_line(
        run,
        &format!("started: strategy {strategy}, seed {}", config.seed),
    )
}

/// The position and history of a search, saved in its checkpoint.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct History {
    /// The first epoch not finished yet.
    pub next_epoch: usize,
    /// Weight steps taken.
    pub global_step: usize,
    /// Reports of the finished epochs.
    pub reports: Vec<EpochReport>,
    /// Genotypes after the finished epochs, as JSON values.
    pub genotypes: Vec<serde_json::Value>,
    /// Alignment probes so far.
    pub alignment: AlignmentLog,
}

/// A loaded checkpoint.
struct Checkpoint {
    state: History,
    bundle: Bundle,
    path: std::path::PathBuf,
}

impl Checkpoint {
    /// The run's checkpoint, or `None` if it has none yet.
    fn load(run: &RunDir) -> Result<Option<Self>> {
        let path = run.path().join(CHECKPOINT);
        if !path.exists() {
            return Ok(None);
        }
        let bundle = Bundle::load(&path)?;
        let state = serde_json::from_slice(bundle.require("state", &path)?).map_err(|e| {
            crate::checkpoint::corrupt(&path, format!("the state section is not valid: {e}"))
        })?;
        Ok(Some(Self {
            state,
            bundle,
            path,
        }))
    }
}

/// Compares the settings saved in a checkpoint's `config` section with `config`, so that
/// a run does not continue under an edited `config.json`.
pub(crate) fn check_settings<T>(bundle: &Bundle, path: &Path, config: &T) -> Result<()>
where
    T: Serialize + serde::de::DeserializeOwned + PartialEq,
{
    let saved: T = serde_json::from_slice(bundle.require("config", path)?).map_err(|e| {
        crate::checkpoint::corrupt(path, format!("the config section is not valid: {e}"))
    })?;
    if &saved == config {
        return Ok(());
    }
    let differing = match (serde_json::to_value(&saved), serde_json::to_value(config)) {
        (Ok(a), Ok(b)) => changed_keys(&a, &b).join(", "),
        _ => String::new(),
    };
    Err(NasError::Resume {
        path: path.to_path_buf(),
        reason: format!(
            "the settings differ from those this checkpoint was written with (changed: \
             {differing}); restore them, or start a new run"
        ),
    })
}

/// The dotted paths (`network.genotype.normal`) at which two JSON values differ, down to
/// the first level that is not an object on both sides.
pub(crate) fn changed_keys(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    use serde_json::Value::Object;
    let mut out = Vec::new();
    let (Object(a), Object(b)) = (a, b) else {
        if a != b {
            out.push(String::new());
        }
        return out;
    };
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let null = serde_json::Value::Null;
    for key in keys {
        let (x, y) = (a.get(key).unwrap_or(&null), b.get(key).unwrap_or(&null));
        for inner in changed_keys(x, y) {
            out.push(if inner.is_empty() {
                key.clone()
            } else {
                format!("{key}.{inner}")
            });
        }
    }
    out
}

/// Refuses to start a run over in `run` when its checkpoint (`checkpoint`) is missing but
/// finished epochs are recorded (`metrics.csv` beyond its header, or any of `results`):
/// starting over would overwrite them.
pub(crate) fn refuse_restart_over_results(
    run: &RunDir,
    checkpoint: &str,
    results: &[&str],
) -> Result<()> {
    let metrics = std::fs::read_to_string(run.path().join("metrics.csv")).unwrap_or_default();
    let mut found: Vec<&str> = results
        .iter()
        .copied()
        .filter(|name| run.path().join(name).symlink_metadata().is_ok())
        .collect();
    if metrics.lines().count() > 1 {
        found.insert(0, "metrics.csv");
    }
    if found.is_empty() {
        return Ok(());
    }
    Err(NasError::Resume {
        path: run.path().to_path_buf(),
        reason: format!(
            "{checkpoint} is missing but the folder holds finished epochs ({}); starting over \
             would overwrite them: restore {checkpoint}, or start a new run in another folder",
            found.join(", ")
        ),
    })
}

/// Rewrites the per-epoch files from the checkpoint's history, dropping lines written
/// after it.
fn rewrite_history(run: &RunDir, config: &SearchConfig, history: &History) -> Result<()> {
    let mut csv = format!("{}\n", EpochReport::CSV_HEADER);
    let mut jsonl = String::new();
    for report in &history.reports {
        csv.push_str(&report.csv_row());
        csv.push('\n');
        jsonl.push_str(&serde_json::to_string(report).unwrap_or_default());
        jsonl.push('\n');
    }
    run.write_atomic("metrics.csv", csv.as_bytes())?;
    run.write_atomic("metrics.jsonl", jsonl.as_bytes())?;
    let mut genotypes = String::new();
    for (epoch, genotype) in history.genotypes.iter().enumerate() {
        let line = serde_json::json!({ "epoch": epoch, "genotype": genotype });
        genotypes.push_str(&line.to_string());
        genotypes.push('\n');
    }
    run.write_atomic("genotypes.jsonl", genotypes.as_bytes())?;
    if config.alignment_every > 0 {
        let mut layers = format!("{LAYER_CSV_HEADER}\n");
        let mut rules = format!("{RULE_CSV_HEADER}\n");
        for sample in &history.alignment.samples {
            for row in sample.csv_rows() {
                layers.push_str(&row);
                layers.push('\n');
            }
            for row in sample.rule_rows() {
                rules.push_str(&row);
                rules.push('\n');
            }
        }
        run.write_atomic("alignment.csv", layers.as_bytes())?;
        run.write_atomic("alignment_rules.csv", rules.as_bytes())?;
    }
    Ok(())
}

/// Appends a time-stamped line to the run's `log.txt`.
pub(crate) fn log_line(run: &RunDir, text: &str) -> Result<()> {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    run.append_line("log.txt", &format!("[{secs}] {text}"))
}

/// The seed of epoch `epoch`'s random draws (shuffling, augmentation, the backend's
/// generator): a function of the run's seed and the epoch alone, so that a resumed run
/// draws what an uninterrupted one would.
pub(crate) fn epoch_seed(seed: u64, epoch: usize) -> u64 {
    let mut z = seed ^ (epoch as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The weight optimiser of a search.
pub type WeightOptimizer<B, M> = OptimizerAdaptor<Sgd<<B as AutodiffBackend>::InnerBackend>, M, B>;

struct SearchState<B, M>
where
    B: AutodiffBackend + RuleBackend,
    M: SearchSupernet<B> + AutodiffModule<B> + 'static,
{
    config: SearchConfig,
    device: B::Device,
    model: M,
    rng: StdRng,
    train_batcher: CifarBatcher,
    eval_batcher: CifarBatcher,
    loss: CrossEntropyLoss<B>,
    arch: Box<dyn ArchitectureStrategy<B, M>>,
    weight_opt: WeightOptimizer<B, M>,
    /// Weight steps taken since the start.
    global_step: usize,
    alignment: AlignmentLog,
}

/// Running sums of an epoch.
#[derive(Default)]
struct Totals {
    train_loss: f64,
    train_correct: usize,
    arch_loss: f64,
    images: usize,
    steps: usize,
}

impl<B, M> SearchState<B, M>
where
    B: AutodiffBackend + RuleBackend,
    B::InnerBackend: RuleBackend,
    M: SearchSupernet<B> + AutodiffModule<B> + 'static,
    M::InnerModule: SearchSupernet<B::InnerBackend>,
{
    fn new(
        config: &SearchConfig,
        build: fn(&SearchConfig, &B::Device) -> Result<M>,
        device: &B::Device,
    ) -> Result<Self> {
        // Building the supernet may already be too much for the memory budget.
        crate::memory::set_task(crate::memory::Task::Search {
            batch_size: config.batch_size,
        });
        B::seed(device, config.seed);
        let model = build(config, device)?;
        let augmentation = config.augment.then_some(Augmentation::STANDARD);
        Ok(Self {
            config: config.clone(),
            device: device.clone(),
            model,
            rng: StdRng::seed_from_u64(config.seed),
            train_batcher: CifarBatcher {
                normalization: Normalization::CIFAR10,
                augmentation,
            },
            eval_batcher: CifarBatcher::eval(),
            loss: CrossEntropyLossConfig::new().init(device),
            arch: strategy_for::<B, M>(config, device),
            weight_opt: config.weights.sgd::<B, M>(),
            global_step: 0,
            alignment: AlignmentLog::default(),
        })
    }

    /// Loads the model, the optimisers and the strategy's state from a checkpoint.
    fn restore(&mut self, checkpoint: &Checkpoint) -> Result<()> {
        let path = &checkpoint.path;
        let b = &checkpoint.bundle;
        let model =
            record_from_bytes::<B, _>(b.require("model", path)?, &self.device, path, "model")?;
        self.model = crate::checkpoint::load_into(self.model.clone(), model, path, "model")?;
        let weights = record_from_bytes::<B, _>(
            b.require("weight_optimizer", path)?,
            &self.device,
            path,
            "weight optimiser",
        )?;
        self.weight_opt = self.config.weights.sgd::<B, M>().load_record(weights);
        self.arch
            .load(b.require("strategy", path)?, &self.device, path)?;
        self.global_step = checkpoint.state.global_step;
        self.alignment = checkpoint.state.alignment.clone();
        Ok(())
    }

    fn save(&self, run: &RunDir, history: &History) -> Result<()> {
        let mut bundle = Bundle::new();
        let state = serde_json::to_vec(history).map_err(|e| NasError::Checkpoint {
            path: run.path().join(CHECKPOINT),
            reason: e.to_string(),
        })?;
        bundle.put("state", state);
        bundle.put(
            "config",
            serde_json::to_vec(&self.config).unwrap_or_default(),
        );
        bundle.put(
            "model",
            record_to_bytes::<B, _>(self.model.clone().into_record())?,
        );
        bundle.put(
            "weight_optimizer",
            record_to_bytes::<B, _>(self.weight_opt.to_record())?,
        );
        bundle.put("strategy", self.arch.save()?);
        bundle.save(run, CHECKPOINT)
    }

    fn run(
        mut self,
        mut history: History,
        data: &SearchData,
        run: Option<&RunDir>,
        observer: &mut dyn SearchObserver,
    ) -> Result<SearchOutcome<B, M>> {
        crate::memory::set_task(crate::memory::Task::Search {
            batch_size: self.config.batch_size,
        });
        let mut written = self.alignment.samples.len();
        for epoch in history.next_epoch..self.config.epochs {
            let (report, derived) = self.epoch(epoch, data, observer)?;
            log::info!(
                "epoch {epoch}: train acc {:.3}, valid acc {:.3}, {:.1}s",
                report.train_acc,
                report.valid_acc,
                report.seconds
            );
            history.next_epoch = epoch + 1;
            history.global_step = self.global_step;
            history.reports.push(report.clone());
            history
                .genotypes
                .push(serde_json::to_value(&derived).unwrap_or_default());
            if let Some(run) = run {
                history.alignment = self.alignment.clone();
                self.save(run, &history)?;
                record_epoch(run, &report, &derived, &history.reports)?;
                record_alignment(run, &self.alignment, &mut written)?;
            }
            observer.epoch_done(&report);
        }
        let genotype = self.model.derive();
        Ok(SearchOutcome {
            genotype,
            reports: history.reports,
            supernet: Some(self.model),
            alignment: self.alignment,
        })
    }

    fn epoch(
        &mut self,
        epoch: usize,
        data: &SearchData,
        observer: &mut dyn SearchObserver,
    ) -> Result<(EpochReport, M::Genotype)> {
        let start = Instant::now();
        let seed = epoch_seed(self.config.seed, epoch);
        self.rng = StdRng::seed_from_u64(seed);
        B::seed(&self.device, seed);
        let c = &self.config;
        let lr = cosine_lr(c.weights.lr, c.weights.lr_min, epoch, c.epochs);
        let bs = c.batch_size;
        let mut weight_order: Vec<usize> = (0..data.weights.len()).collect();
        let mut arch_order: Vec<usize> = (0..data.arch.len()).collect();
        weight_order.shuffle(&mut self.rng);
        arch_order.shuffle(&mut self.rng);
        let steps = weight_order.len().div_ceil(bs);
        observer.epoch_started(epoch, steps);
        let mut totals = Totals::default();
        for (step, chunk) in weight_order.chunks(bs).enumerate() {
            let arch_chunk = cycle(&arch_order, step * bs, chunk.len());
            let arch_batch = self.batch(&pick(&data.arch, &arch_chunk));
            let train_batch = self.batch(&pick(&data.weights, chunk));
            let inputs = ArchInputs {
                epoch,
                step,
                valid: &arch_batch,
                train: &train_batch,
                lr,
                weight_optimizer: &self.weight_opt,
            };
            let model = self.model.clone();
            let (model, arch_loss) = self.arch.update(model, inputs)?;
            self.model = model;
            let (train_loss, correct) = self.weight_step(train_batch, lr, epoch, step, observer)?;
            totals.add(train_loss, correct, arch_loss, chunk.len());
            let report = StepReport {
                epoch,
                step,
                steps,
                train_loss,
                arch_loss,
            };
            observer.step_done(&report);
        }
        let train_seconds = start.elapsed().as_secs_f64();
        observer.evaluating(epoch);
        let (valid_loss, valid_acc) = self.evaluate(&data.arch);
        // The last weight step can spoil the weights without a non-finite training loss;
        // such an epoch must not become the checkpoint.
        finite(
            valid_loss as f32,
            "search validation",
            epoch,
            steps.saturating_sub(1),
        )?;
        let genotype = self.model.derive();
        let report = self.report(
            epoch,
            lr,
            &totals,
            (valid_loss, valid_acc),
            &genotype,
            train_seconds,
            start,
        );
        Ok((report, genotype))
    }

    #[allow(clippy::too_many_arguments)]
    fn report(
        &self,
        epoch: usize,
        lr: f64,
        t: &Totals,
        (valid_loss, valid_acc): (f64, f64),
        genotype: &M::Genotype,
        train_seconds: f64,
        start: Instant,
    ) -> EpochReport {
        let (max_abs, entropy) = alpha_stats(&self.model.alphas());
        let steps = t.steps.max(1) as f64;
        EpochReport {
            epoch,
            lr,
            train_loss: t.train_loss / steps,
            train_acc: t.train_correct as f64 / t.images.max(1) as f64,
            arch_loss: t.arch_loss / steps,
            valid_loss,
            valid_acc,
            alpha_max_abs: max_abs,
            alpha_entropy: entropy,
            seconds: start.elapsed().as_secs_f64(),
            images_per_second: (2 * t.images) as f64 / train_seconds.max(1e-9),
            genotype: genotype.to_string(),
        }
    }

    /// An augmented training batch, drawn with the search's generator.
    fn batch(&mut self, items: &[&CifarItem]) -> ImageBatch<B> {
        self.train_batcher
            .batch_with_rng::<B>(items, &mut self.rng, &self.device)
    }

    /// Forward pass on a batch: the loss, its value (checked finite) and the number of
    /// correct predictions.
    fn loss_of(
        &self,
        batch: ImageBatch<B>,
        phase: &'static str,
        epoch: usize,
        step: usize,
    ) -> Result<(Tensor<B, 1>, f32, usize)> {
        let logits = self.model.logits(batch.images);
        let correct = count_correct(&logits, &batch.targets);
        let loss = self.loss.forward(logits, batch.targets);
        let value = finite(scalar(&loss), phase, epoch, step)?;
        Ok((loss, value, correct))
    }

    fn weight_step(
        &mut self,
        batch: ImageBatch<B>,
        lr: f64,
        epoch: usize,
        step: usize,
        observer: &mut dyn SearchObserver,
    ) -> Result<(f32, usize)> {
        let every = self.config.alignment_every;
        let probe = every > 0 && self.global_step.is_multiple_of(every);
        let (value, correct, grads) = if probe {
            let (out, sample) = self.probed_step(batch, epoch, step)?;
            observer.alignment_done(&sample);
            self.alignment.push(sample);
            out
        } else {
            let (loss, value, correct) = self.loss_of(batch, "weight", epoch, step)?;
            (value, correct, loss.backward())
        };
        self.global_step += 1;
        let mut grads = GradientsParams::from_grads(grads, &self.model);
        for id in self.model.alpha_param_ids() {
            grads.remove::<B::InnerBackend, 2>(id);
        }
        let norm = clip_global_norm(&self.model, &mut grads, self.config.weights.grad_clip);
        if !norm.is_finite() {
            return Err(NasError::NonFiniteGradient {
                epoch,
                step,
                value: norm,
            });
        }
        let model = self.model.clone();
        self.model = self.weight_opt.step(lr, model, grads);
        Ok((value, correct))
    }

    /// The weight step's forward and backward pass with an alignment probe: first a
    /// back-propagation pass on the same batch (its batch-norm updates undone), then the
    /// ordinary pass, recorded.
    #[allow(clippy::type_complexity)]
    fn probed_step(
        &mut self,
        batch: ImageBatch<B>,
        epoch: usize,
        step: usize,
    ) -> Result<((f32, usize, B::Gradients), AlignmentSample)> {
        let probe = AlignmentProbe::new(self.model.rule_hub());
        let (out, layers) = probe.measure::<B, _, _>(&self.model, || {
            let (loss, value, correct) = self.loss_of(batch.clone(), "weight", epoch, step)?;
            Ok::<_, NasError>((value, correct, loss.backward()))
        });
        let out = out?;
        let sample = AlignmentSample {
            epoch,
            step: self.global_step,
            layers,
        };
        Ok((out, sample))
    }

    /// Loss and accuracy on `data` without augmentation, batch norms on running statistics.
    fn evaluate(&self, data: &Cifar10) -> (f64, f64) {
        let model = self.model.valid();
        let loss_fn = CrossEntropyLossConfig::new().init(&self.device);
        let items: Vec<&CifarItem> = data.items().iter().collect();
        let mut rng = StdRng::seed_from_u64(0);
        let (mut loss, mut correct) = (0.0, 0);
        for chunk in items.chunks(self.config.batch_size * 2) {
            let batch =
                self.eval_batcher
                    .batch_with_rng::<B::InnerBackend>(chunk, &mut rng, &self.device);
            let logits = model.logits(batch.images);
            correct += count_correct(&logits, &batch.targets);
            let batch_loss = loss_fn.forward(logits, batch.targets);
            loss += scalar(&batch_loss) as f64 * chunk.len() as f64;
        }
        let n = items.len().max(1) as f64;
        (loss / n, correct as f64 / n)
    }
}

impl Totals {
    fn add(&mut self, train_loss: f32, correct: usize, arch_loss: f32, images: usize) {
        self.train_loss += train_loss as f64;
        self.train_correct += correct;
        self.arch_loss += arch_loss as f64;
        self.images += images;
        self.steps += 1;
    }
}

fn pick<'a>(data: &'a Cifar10, indices: &[usize]) -> Vec<&'a CifarItem> {
    indices.iter().map(|&i| &data.items()[i]).collect()
}

/// `len` indices of `order` starting at `start`, wrapping around.
fn cycle(order: &[usize], start: usize, len: usize) -> Vec<usize> {
    (0..len).map(|i| order[(start + i) % order.len()]).collect()
}

fn scalar<B: Backend>(loss: &Tensor<B, 1>) -> f32 {
    loss.clone().into_scalar().elem::<f32>()
}

fn finite(value: f32, phase: &'static str, epoch: usize, step: usize) -> Result<f32> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(NasError::Diverged {
            phase,
            epoch,
            step,
            value,
        })
    }
}

/// Correct arg-max predictions in a batch.
pub(crate) fn count_correct<B: Backend>(
    logits: &Tensor<B, 2>,
    targets: &Tensor<B, 1, Int>,
) -> usize {
    let [n, _] = logits.dims();
    let predicted = logits.clone().argmax(1).reshape([n]);
    let hits = predicted.equal(targets.clone()).int().sum().into_scalar();
    hits.elem::<i64>() as usize
}

/// Largest `|α|` and the mean entropy (nats) of the rows of `softmax(α)`.
pub(crate) fn alpha_stats<B: Backend>(alphas: &[burn::module::Param<Tensor<B, 2>>]) -> (f64, f64) {
    let mut max_abs: f64 = 0.0;
    let (mut entropy, mut rows) = (0.0, 0usize);
    for alpha in alphas {
        let value = alpha.val();
        let max = value.clone().abs().max().into_scalar().elem::<f32>() as f64;
        max_abs = max_abs.max(max);
        let k = value.dims()[1];
        let p = softmax(value, 1).into_data().convert::<f32>();
        let p = p.to_vec::<f32>().unwrap_or_default();
        for row in p.chunks(k) {
            entropy += row
                .iter()
                .filter(|&&x| x > 0.0)
                .map(|&x| -(x as f64) * (x as f64).ln())
                .sum::<f64>();
            rows += 1;
        }
    }
    (max_abs, entropy / rows.max(1) as f64)
}

/// Appends the probes not written yet to the CSV files and redraws the picture.
fn record_alignment(run: &RunDir, log: &AlignmentLog, written: &mut usize) -> Result<()> {
    if log.samples.len() == *written {
        return Ok(());
    }
    for sample in &log.samples[*written..] {
        for row in sample.csv_rows() {
            run.append_line("alignment.csv", &row)?;
        }
        for row in sample.rule_rows() {
            run.append_line("alignment_rules.csv", &row)?;
        }
    }
    *written = log.samples.len();
    run.write_atomic("alignment.svg", log.to_svg().as_bytes())
}

/// Writes an epoch's genotype, picture, metrics, curves and log line.
fn record_epoch<G: ArchGenotype>(
    run: &RunDir,
    report: &EpochReport,
    genotype: &G,
    reports: &[EpochReport],
) -> Result<()> {
    run.write_json("genotype.json", genotype)?;
    run.write_atomic("cells.svg", genotype.to_svg().as_bytes())?;
    run.write_atomic("cells.dot", genotype.to_dot().as_bytes())?;
    let line = serde_json::json!({ "epoch": report.epoch, "genotype": genotype });
    run.append_line("genotypes.jsonl", &line.to_string())?;
    let metrics = serde_json::to_string(report).unwrap_or_default();
    run.append_line("metrics.jsonl", &metrics)?;
    run.append_line("metrics.csv", &report.csv_row())?;
    run.write_atomic(
        "curves.svg",
        crate::report::search_curves_svg(reports).as_bytes(),
    )?;
    let text = format!(
        "epoch {}: train loss {:.4}, train acc {:.4}, valid loss {:.4}, valid acc {:.4}, \
         max|α| {:.4}, α entropy {:.4}, {:.1}s; {}",
        report.epoch,
        report.train_loss,
        report.train_acc,
        report.valid_loss,
        report.valid_acc,
        report.alpha_max_abs,
        report.alpha_entropy,
        report.seconds,
        report.genotype
    );
    log_line(run, &text)
}
