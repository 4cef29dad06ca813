//! Every setting of a search, in one serializable value saved with the run.

use bio_rules::LearningRule;
use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{Sgd, SgdConfig};
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

use crate::NasError;

/// Settings of a first-order DARTS search. The defaults are the paper's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SearchConfig {
    /// Epochs (paper: 50).
    pub epochs: usize,
    /// Images per batch, for both the weight and the architecture step (paper: 64).
    pub batch_size: usize,
    /// Initial channels `C` (paper: 16).
    pub channels: usize,
    /// Cells (paper: 8).
    pub layers: usize,
    /// Rules the convolution candidates choose from (paper: FA, uSF, brSF, frSF).
    pub rules: Vec<LearningRule>,
    /// Rule of the stem, preprocessing, stride-2 skips and classifier (default BP).
    pub skeleton_rule: LearningRule,
    /// Use only this many training images (a class-balanced seeded subset); all if `None`.
    pub train_subset: Option<usize>,
    /// Share of the training images that train the weights; the rest train `α`
    /// (paper: 0.5).
    pub train_fraction: f64,
    /// Seed of every random draw: weights, feedback, split, shuffling, augmentation.
    pub seed: u64,
    /// Weight optimiser: SGD with momentum, cosine learning rate.
    pub weights: WeightOptim,
    /// Architecture optimiser: Adam.
    pub arch: ArchOptim,
    /// Random crop (4-pixel padding) and horizontal flip on training batches (paper: on).
    pub augment: bool,
    /// Measure each rule layer's alignment with back-propagation every this many weight
    /// steps, on that step's batch (one extra forward and backward pass); 0 turns it off
    /// (the default).
    pub alignment_every: usize,
    /// The search strategy (default: first-order DARTS, the paper's).
    pub strategy: Strategy,
    /// PC-DARTS' partial channels: each edge's candidates see `1/k` of its channels
    /// (1: all of them; `channels` must be a multiple of `k`; DARTS space only).
    pub partial_channels: usize,
    /// The search space (default: the DARTS cell). In the NAS-Bench-201 space `channels`
    /// is the first stage's width and `layers` the cells per stage.
    pub space: SpaceKind,
}

/// Which cell a search looks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpaceKind {
    /// The DARTS cell: 4 nodes, 14 edges, a normal and a reduction cell.
    #[default]
    Darts,
    /// The NAS-Bench-201 cell: 4 nodes, 6 edges, one cell type.
    Nb201,
}

/// Which search runs. In a config file: `strategy = { kind = "eg_nas", population = 8 }`
/// (TOML) or `"strategy": {"kind": "darts_second_order"}` (JSON).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "StrategyFile", into = "StrategyFile")]
pub enum Strategy {
    /// First-order DARTS: `α` follows `∇α L_val(w, α)` (Adam).
    #[default]
    Darts,
    /// Second-order DARTS: `α` follows the gradient through one virtual weight step,
    /// with a finite-difference Hessian-vector product.
    DartsSecondOrder,
    /// Evolution-guided (EG-NAS): after warm-up, `α` moves toward the best of CMA-ES
    /// samples around `softmax(α)`, scored on validation batches.
    EgNas(EgNasConfig),
    /// Random search: sample genotypes, train each briefly, keep the best.
    Random(RandomConfig),
}

/// How a strategy is written in a file: the same choices, with the settings-free kinds
/// as empty tables so that a stray setting (`{ kind = "darts", population = 3 }`) is an
/// error, not silently dropped.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum StrategyFile {
    Darts {},
    DartsSecondOrder {},
    EgNas(EgNasConfig),
    Random(RandomConfig),
}

impl From<StrategyFile> for Strategy {
    fn from(file: StrategyFile) -> Self {
        match file {
            StrategyFile::Darts {} => Self::Darts,
            StrategyFile::DartsSecondOrder {} => Self::DartsSecondOrder,
            StrategyFile::EgNas(c) => Self::EgNas(c),
            StrategyFile::Random(c) => Self::Random(c),
        }
    }
}

impl From<Strategy> for StrategyFile {
    fn from(strategy: Strategy) -> Self {
        match strategy {
            Strategy::Darts => Self::Darts {},
            Strategy::DartsSecondOrder => Self::DartsSecondOrder {},
            Strategy::EgNas(c) => Self::EgNas(c),
            Strategy::Random(c) => Self::Random(c),
        }
    }
}

impl SpaceKind {
    /// The space's name in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Darts => "darts",
            Self::Nb201 => "nb201",
        }
    }
}

impl Strategy {
    /// A short name for logs and file names.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Darts => "darts",
            Self::DartsSecondOrder => "darts_second_order",
            Self::EgNas(_) => "eg_nas",
            Self::Random(_) => "random",
        }
    }
}

/// Settings of the evolution-guided search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EgNasConfig {
    /// Epochs that train the weights alone, `α` fixed (default 1).
    pub warmup_epochs: usize,
    /// CMA-ES population `λ` per generation (default 8).
    pub population: usize,
    /// Initial CMA-ES step size, in mixing-weight units (default 0.05).
    pub sigma: f64,
    /// How far `α` moves toward the best sample: `α += step · (x* − softmax(α))`
    /// (default 1).
    pub step: f64,
    /// Weight of the diversity term: fitness = validation loss − diversity · mean cosine
    /// distance to the rest of the population (default 0.1).
    pub diversity: f64,
    /// One CMA-ES generation every this many weight steps (default 1).
    pub every: usize,
}

impl Default for EgNasConfig {
    fn default() -> Self {
        Self {
            warmup_epochs: 1,
            population: 8,
            sigma: 0.05,
            step: 1.0,
            diversity: 0.1,
            every: 1,
        }
    }
}

/// Settings of random search. Each sampled genotype is built as a final network with the
/// search's `channels` and `layers`, trained on the weight half with the search's weight
/// optimiser and batch size, and scored on the other half.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomConfig {
    /// Genotypes sampled (default 8).
    pub samples: usize,
    /// Training epochs per genotype (default 1).
    pub epochs: usize,
}

impl Default for RandomConfig {
    fn default() -> Self {
        Self {
            samples: 8,
            epochs: 1,
        }
    }
}

/// SGD settings for the network weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WeightOptim {
    /// Initial learning rate (paper: 0.025).
    pub lr: f64,
    /// Final learning rate of the cosine schedule (paper: 0.001).
    pub lr_min: f64,
    /// Momentum (paper: 0.9).
    pub momentum: f64,
    /// L2 weight decay (paper: 3e-4).
    pub weight_decay: f64,
    /// Largest global gradient norm (paper: 5).
    pub grad_clip: f64,
}

/// Adam settings for the architecture weights `α`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchOptim {
    /// Learning rate (paper: 3e-4).
    pub lr: f64,
    /// First moment decay (paper: 0.5).
    pub beta1: f64,
    /// Second moment decay (paper: 0.999).
    pub beta2: f64,
    /// L2 weight decay (paper: 1e-3).
    pub weight_decay: f64,
}

impl Default for WeightOptim {
    fn default() -> Self {
        Self {
            lr: 0.025,
            lr_min: 0.001,
            momentum: 0.9,
            weight_decay: 3e-4,
            grad_clip: 5.0,
        }
    }
}

impl WeightOptim {
    /// SGD with this momentum (no dampening, no Nesterov, as PyTorch's DARTS code has it)
    /// and weight decay; the learning rate is given at each step, the clip is applied
    /// apart.
    pub fn sgd<B, M>(&self) -> OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>
    where
        B: AutodiffBackend,
        M: AutodiffModule<B>,
    {
        let momentum = MomentumConfig {
            momentum: self.momentum,
            dampening: 0.0,
            nesterov: false,
        };
        SgdConfig::new()
            .with_momentum(Some(momentum))
            .with_weight_decay(Some(WeightDecayConfig::new(self.weight_decay as f32)))
            .init()
    }
}

impl Default for ArchOptim {
    fn default() -> Self {
        Self {
            lr: 3e-4,
            beta1: 0.5,
            beta2: 0.999,
            weight_decay: 1e-3,
        }
    }
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self::paper()
    }
}

impl SearchConfig {
    /// The paper's search settings.
    pub fn paper() -> Self {
        Self {
            epochs: 50,
            batch_size: 64,
            channels: 16,
            layers: 8,
            rules: LearningRule::PAPER.to_vec(),
            skeleton_rule: LearningRule::Bp,
            train_subset: None,
            train_fraction: 0.5,
            seed: 2,
            weights: WeightOptim::default(),
            arch: ArchOptim::default(),
            augment: true,
            alignment_every: 0,
            strategy: Strategy::Darts,
            partial_channels: 1,
            space: SpaceKind::Darts,
        }
    }

    /// A small search that finishes in minutes on two CPU cores: 4 channels, 3 cells
    /// (one normal, two reduction), 2 epochs, batch 32, 800 training images.
    pub fn quick() -> Self {
        Self {
            epochs: 2,
            batch_size: 32,
            channels: 4,
            layers: 3,
            train_subset: Some(800),
            ..Self::paper()
        }
    }

    /// Checks that every size and rate makes sense.
    pub fn validate(&self) -> Result<(), NasError> {
        let positive = [
            ("epochs", self.epochs),
            ("batch_size", self.batch_size),
            ("channels", self.channels),
            ("layers", self.layers),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(NasError::config(name, "must be at least 1"));
            }
        }
        if self.layers < 3 && self.space == SpaceKind::Darts {
            return Err(NasError::config(
                "layers",
                "must be at least 3 (two reduction cells)",
            ));
        }
        if let Err(e) = search_space::CandidateSet::new(&self.rules) {
            return Err(NasError::Config {
                setting: "rules",
                reason: e.to_string(),
            });
        }
        if !(self.train_fraction > 0.0 && self.train_fraction < 1.0) {
            return Err(NasError::config(
                "train_fraction",
                "must lie strictly between 0 and 1",
            ));
        }
        if self.train_subset == Some(0) || self.train_subset == Some(1) {
            return Err(NasError::config(
                "train_subset",
                "must be at least 2 images",
            ));
        }
        if self.partial_channels == 0 || !self.channels.is_multiple_of(self.partial_channels) {
            return Err(NasError::config(
                "partial_channels",
                "must be at least 1 and divide channels",
            ));
        }
        if self.space == SpaceKind::Nb201 {
            if self.partial_channels != 1 {
                return Err(NasError::config(
                    "partial_channels",
                    "partial channels are implemented for the DARTS space only",
                ));
            }
            if let Strategy::Random(_) = self.strategy {
                return Err(NasError::config(
                    "strategy",
                    "random search samples DARTS genotypes; use the darts space",
                ));
            }
        }
        self.weights.validate()?;
        self.arch.validate()?;
        self.strategy.validate()?;
        self.check_strategy_fit()
    }
}

fn check_rate(name: &'static str, value: f64, allow_zero: bool) -> Result<(), NasError> {
    let ok = value.is_finite() && (value > 0.0 || (allow_zero && value == 0.0));
    if ok {
        Ok(())
    } else {
        let what = if allow_zero {
            "must be finite and not negative"
        } else {
            "must be positive"
        };
        Err(NasError::config(name, what))
    }
}

impl WeightOptim {
    pub(crate) fn validate(&self) -> Result<(), NasError> {
        check_rate("weights.lr", self.lr, false)?;
        check_rate("weights.lr_min", self.lr_min, true)?;
        check_rate("weights.momentum", self.momentum, true)?;
        if self.momentum >= 1.0 {
            // The velocity would then grow without bound.
            return Err(NasError::config("weights.momentum", "must be below 1"));
        }
        check_rate("weights.weight_decay", self.weight_decay, true)?;
        check_rate("weights.grad_clip", self.grad_clip, false)
    }
}

impl SearchConfig {
    /// Refuses settings the chosen strategy would silently ignore.
    fn check_strategy_fit(&self) -> Result<(), NasError> {
        match &self.strategy {
            Strategy::Random(_) if self.partial_channels != 1 => Err(NasError::config(
                "partial_channels",
                "random search trains final networks, which have no partial channels",
            )),
            Strategy::Random(_) if self.alignment_every != 0 => Err(NasError::config(
                "alignment_every",
                "alignment probes run in supernet searches, not in random search",
            )),
            Strategy::EgNas(eg) if eg.warmup_epochs >= self.epochs => Err(NasError::config(
                "strategy.warmup_epochs",
                "must be below epochs, or no CMA-ES generation ever runs",
            )),
            _ => Ok(()),
        }
    }
}

impl Strategy {
    fn validate(&self) -> Result<(), NasError> {
        match self {
            Self::Darts | Self::DartsSecondOrder => Ok(()),
            Self::EgNas(c) => {
                if c.population < 2 {
                    return Err(NasError::config(
                        "strategy.population",
                        "must be at least 2",
                    ));
                }
                if c.every == 0 {
                    return Err(NasError::config("strategy.every", "must be at least 1"));
                }
                check_rate("strategy.sigma", c.sigma, false)?;
                check_rate("strategy.step", c.step, false)?;
                check_rate("strategy.diversity", c.diversity, true)
            }
            Self::Random(c) => {
                if c.samples == 0 {
                    return Err(NasError::config("strategy.samples", "must be at least 1"));
                }
                if c.epochs == 0 {
                    return Err(NasError::config("strategy.epochs", "must be at least 1"));
                }
                Ok(())
            }
        }
    }
}

impl ArchOptim {
    fn validate(&self) -> Result<(), NasError> {
        check_rate("arch.lr", self.lr, false)?;
        check_rate("arch.weight_decay", self.weight_decay, true)?;
        for (name, beta) in [("arch.beta1", self.beta1), ("arch.beta2", self.beta2)] {
            if !(0.0..1.0).contains(&beta) {
                return Err(NasError::config(name, "must lie in [0, 1)"));
            }
        }
        Ok(())
    }
}

/// The learning rate of epoch `epoch` (0-based) under cosine annealing from `lr` to
/// `lr_min` over `epochs` epochs, as PyTorch's `CosineAnnealingLR` stepped once per epoch:
/// `lr_min + (lr - lr_min) · (1 + cos(π · epoch / epochs)) / 2`.
pub fn cosine_lr(lr: f64, lr_min: f64, epoch: usize, epochs: usize) -> f64 {
    let t = epoch as f64 / epochs.max(1) as f64;
    lr_min + (lr - lr_min) * (1.0 + (std::f64::consts::PI * t).cos()) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_schedule_ends() {
        assert!((cosine_lr(0.025, 0.001, 0, 50) - 0.025).abs() < 1e-12);
        assert!((cosine_lr(0.025, 0.001, 25, 50) - 0.013).abs() < 1e-12);
        assert!((cosine_lr(0.025, 0.001, 50, 50) - 0.001).abs() < 1e-12);
    }

    #[test]
    fn config_round_trips_and_rejects_nonsense() {
        let config = SearchConfig::quick();
        let json = serde_json::to_string(&config).expect("serialize");
        let back: SearchConfig = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, config);
        assert!(
            SearchConfig {
                batch_size: 0,
                ..config.clone()
            }
            .validate()
            .is_err()
        );
        let mut bad = config.clone();
        bad.weights.lr = f64::NAN;
        assert!(bad.validate().is_err());
        assert!(
            SearchConfig {
                rules: vec![],
                ..config.clone()
            }
            .validate()
            .is_err()
        );
        assert!(serde_json::from_str::<SearchConfig>("{\"epochs\": -1}").is_err());
        assert!(serde_json::from_str::<SearchConfig>("{\"epoch\": 3}").is_err());
        config.validate().expect("quick preset is valid");
    }
}
