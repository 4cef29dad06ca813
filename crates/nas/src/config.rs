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
        if self.layers < 3 {
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
        self.weights.validate()?;
        self.arch.validate()
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
        check_rate("weights.weight_decay", self.weight_decay, true)?;
        check_rate("weights.grad_clip", self.grad_clip, false)
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
