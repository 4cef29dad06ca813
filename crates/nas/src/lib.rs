//! Architecture search over the rule-augmented DARTS and NAS-Bench-201 spaces.
//!
//! [`search`] runs the strategy [`SearchConfig::strategy`] names:
//! - **first-order DARTS** (the paper's): the training images are split in two halves;
//!   each step takes an Adam step on the architecture weights `α` with a batch of one
//!   half, then an SGD step (cosine learning rate, momentum, weight decay, global
//!   gradient-norm clipping) on the network weights with a batch of the other;
//! - **second-order DARTS**: `α` follows the gradient through one virtual step of the
//!   weight optimiser, the Hessian-vector product by finite differences around `w`;
//! - **EG-NAS**: after warm-up epochs, `α` moves toward the best of CMA-ES samples around
//!   `softmax(α)` ([`cmaes`]), scored on validation batches with a diversity term;
//! - **random search** ([`random`]): genotypes sampled, each trained briefly, the best kept.
//!
//! The three supernet strategies implement [`ArchitectureStrategy`] and share one loop,
//! generic over the space ([`search_space::SearchSupernet`]): [`search_nb201`] runs them
//! on the NAS-Bench-201 cell. PC-DARTS' partial channels are a setting of the DARTS
//! supernet ([`SearchConfig::partial_channels`]). Every setting lives in one
//! [`SearchConfig`], saved with the run; all random draws follow its seed.
//!
//! After every epoch a search writes its genotype, cell picture, metrics, curves, log line
//! and one checkpoint file ([`checkpoint`]): model, optimiser states, strategy state and
//! history, atomically. Each epoch draws its random numbers from `(seed, epoch)`, so
//! [`resume`] continues a killed run and ends exactly where an uninterrupted one would.
//!
//! [`train()`] retrains a genotype with the paper's recipe ([`TrainConfig`]): model
//! selection on a held-out split, the test set measured once at the end; it too
//! checkpoints every epoch and [`resume_training`] continues it.
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
pub mod memory;
pub mod plot;
pub mod random;
mod record_guard;
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
pub use run_dir::{LOCK_FILE, RunDir};
pub use search::{
    CHECKPOINT, SearchData, SearchOutcome, WeightOptimizer, darts_supernet, nb201_supernet, resume,
    resume_nb201, resume_with, search, search_nb201, search_with,
};
pub use strategies::{ArchInputs, ArchitectureStrategy, EvolutionGuided, FirstOrder, SecondOrder};
pub use train::{
    DropPathSchedule, LrSchedule, Selection, TrainConfig, TrainData, TrainEpoch, TrainObserver,
    TrainOutcome, TrainSummary, holdout, resume_training, train,
};
