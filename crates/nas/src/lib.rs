//! Architecture search over the rule-augmented DARTS space.
//!
//! [`search`] runs first-order DARTS as the paper does: the training images are split in
//! two halves; each step takes an Adam step on the architecture weights `α` with a batch
//! of one half, then an SGD step (cosine learning rate, momentum, weight decay, global
//! gradient-norm clipping) on the network weights with a batch of the other. Every setting
//! lives in one [`SearchConfig`], saved with the run; all random draws follow its seed.
//!
//! [`train()`] retrains a genotype with the paper's recipe ([`TrainConfig`]): model
//! selection on a held-out split, the test set measured once at the end.
//!
//! With [`SearchConfig::alignment_every`] set, every that many weight steps each rule
//! layer's alignment with back-propagation is measured on the step's batch
//! ([`bio_rules::alignment`]), written to the run's `alignment.csv` and
//! `alignment_rules.csv`, and drawn in `alignment.svg`.

mod alignment;
pub mod checkpoint;
mod clip;
pub mod cmaes;
mod config;
mod error;
pub mod plot;
pub mod random;
mod report;
mod run_dir;
mod search;
mod strategies;
pub mod train;
mod unrolled;

pub use alignment::{
    AlignmentLog, AlignmentSample, LAYER_CSV_HEADER, RULE_CSV_HEADER, RuleSummary, rule_color,
};
pub use clip::{clip_global_norm, global_norm};
pub use config::{
    ArchOptim, EgNasConfig, RandomConfig, SearchConfig, SpaceKind, Strategy, WeightOptim, cosine_lr,
};
pub use error::{NasError, Result};
pub use report::{EpochReport, SearchObserver, Silent, StepReport, search_curves_svg};
pub use run_dir::RunDir;
pub use search::{
    CHECKPOINT, SearchData, SearchOutcome, WeightOptimizer, darts_supernet, nb201_supernet, resume,
    resume_nb201, resume_with, search, search_nb201, search_with,
};
pub use strategies::{ArchInputs, ArchitectureStrategy, EvolutionGuided, FirstOrder, SecondOrder};
pub use train::{
    DropPathSchedule, LrSchedule, Selection, TrainConfig, TrainData, TrainEpoch, TrainObserver,
    TrainOutcome, TrainSummary, holdout, resume_training, train,
};
