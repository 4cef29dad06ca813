//! Errors of a search.

use std::path::PathBuf;

/// Result of this crate.
pub type Result<T> = std::result::Result<T, NasError>;

/// What went wrong in a search.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NasError {
    /// A setting is out of range.
    #[error("invalid setting `{setting}`: {reason}")]
    Config {
        /// The setting's name.
        setting: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The data could not be loaded.
    #[error(transparent)]
    Data(#[from] datasets::DataError),
    /// A rule set, genotype or network size was refused by the search space.
    #[error(transparent)]
    Space(#[from] search_space::SpaceError),
    /// The loss stopped being a finite number.
    #[error(
        "the {phase} loss became {value} at epoch {epoch}, step {step}; try a lower learning \
         rate ({}), a smaller grad_clip, or another seed",
        learning_rates(phase)
    )]
    Diverged {
        /// `weight`, `architecture` or `search validation` in a search; `training` or
        /// `validation` in retraining.
        phase: &'static str,
        /// 0-based epoch.
        epoch: usize,
        /// 0-based step within the epoch; for a validation phase, the epoch's last step
        /// (the validation pass follows it).
        step: usize,
        /// The value (NaN or infinite).
        value: f32,
    },
    /// The gradient stopped being finite while the loss still was (non-finite input
    /// images, or weights that already overflowed).
    #[error(
        "the gradient norm became {value} at epoch {epoch}, step {step} while the loss was \
         finite: check the data for NaN or infinite pixels, then try a lower learning rate \
         or a smaller grad_clip"
    )]
    NonFiniteGradient {
        /// 0-based epoch.
        epoch: usize,
        /// 0-based step within the epoch.
        step: usize,
        /// The norm (NaN or infinite).
        value: f64,
    },
    /// A file of the run could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file of the run could not be written.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A checkpoint is damaged or belongs to another run.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A run folder cannot be resumed.
    #[error("cannot resume {path}: {reason}")]
    Resume {
        /// The folder.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Another process holds the run folder's lock: a run is writing to it.
    #[error(
        "{path} is in use by another run ({holder}); wait for that run to end, or choose \
         another output folder"
    )]
    Busy {
        /// The folder.
        path: PathBuf,
        /// Who holds it, as its lock file says (`process <id>`).
        holder: String,
    },
    /// The output folder already holds a run.
    #[error("{path} already holds a run (config.json exists); choose another output folder")]
    OutputExists {
        /// The folder.
        path: PathBuf,
    },
}

/// The settings that hold the learning rates of the run a phase belongs to.
fn learning_rates(phase: &str) -> &'static str {
    match phase {
        "weight" | "architecture" | "search validation" => "weights.lr or arch.lr",
        _ => "lr",
    }
}

impl NasError {
    pub(crate) fn config(setting: &'static str, reason: &str) -> Self {
        Self::Config {
            setting,
            reason: reason.to_string(),
        }
    }
}

/// The text of a panic's payload (`panic!` with a literal or with a formatted message).
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
}
